/// A graph prepared for replay on concrete tensors with no interpreter in the way (jit's fast
/// path when no transform is active): each equation's kernel and result type were fixed when the
/// graph was traced, so a replay calls kernels directly — no type rules, no dispatch — and fused
/// groups run as one loop. Buffer planning: every intermediate is released right after its last
/// use, so its block returns to the memory pool (Memory.swift) and the next equation of that size
/// class reuses it; a replay in steady state takes all its memory from the pool, none from the OS.
final class Executable: @unchecked Sendable {
    /// The optimized graph this runs (also replayed through `emit` under transforms).
    let graph: Graph

    private enum Step {
        case kernel(EvalRule, Params, TensorType)
        case fused(FusedKernel)
        case custom(CustomFunction)
    }

    private let steps: [Step]
    /// Per equation: variables whose last use it is (released after it runs).
    private let releases: [[Int]]
    /// Whether every constant is concrete (a graph that captured a tracer is never cached, but
    /// `Graph` allows it; such a graph replays through `emit`).
    let isConcrete: Bool

    init(_ graph: Graph) {
        self.graph = graph
        steps = graph.equations.map { equation in
            switch equation.operation {
            case let .primitive(primitive, params): return .kernel(Primitive.rules[primitive.rawValue].eval, params, equation.types[0])
            case let .fused(kernel): return .fused(kernel)
            case let .custom(custom, _): return .custom(custom)
            }
        }
        var lastUse = [Int](repeating: -1, count: graph.variableCount)
        for (index, equation) in graph.equations.enumerated() {
            for case .variable(let variable) in equation.arguments { lastUse[variable] = index }
        }
        for case .variable(let variable) in graph.outputs { lastUse[variable] = Int.max }
        var releases = [[Int]](repeating: [], count: graph.equations.count)
        for (variable, index) in lastUse.enumerated() where index >= 0 && index < graph.equations.count {
            releases[index].append(variable)
        }
        self.releases = releases
        func isConcrete(_ atom: Graph.Atom) -> Bool {
            if case .constant(let value) = atom { return value is Tensor }
            return true
        }
        self.isConcrete = graph.equations.allSatisfy { $0.arguments.allSatisfy(isConcrete) } && graph.outputs.allSatisfy(isConcrete)
    }

    /// Replays the graph on `inputs`: on the prepared fast path when no transform is active (the
    /// evaluation interpreter is current) and every input is concrete; otherwise through `emit`,
    /// so that the active transforms' rules apply to every equation.
    func callAsFunction(_ inputs: [Value]) throws -> [Value] {
        guard isConcrete, Interpreter.current === EvalInterpreter.shared else { return try graph.evaluate(inputs) }
        var tensors: [Tensor] = []
        tensors.reserveCapacity(inputs.count)
        for input in inputs {
            guard let tensor = input as? Tensor else { return try graph.evaluate(inputs) }
            tensors.append(tensor)
        }
        return try run(tensors)
    }

    /// Runs the graph on `inputs` (of the traced signature) with the evaluation interpreter current.
    func run(_ inputs: [Tensor]) throws -> [Value] {
        var values = [Tensor?](repeating: nil, count: graph.variableCount)
        for (index, input) in inputs.enumerated() { values[index] = input }
        @inline(__always) func resolve(_ atom: Graph.Atom) throws -> Tensor {
            switch atom {
            case .constant(let value):
                guard let tensor = value as? Tensor else { throw SwiftFuncError.internal("jit", "a traced constant in a concrete replay") }
                return tensor
            case .variable(let variable):
                guard let value = values[variable] else { throw SwiftFuncError.internal("jit", "v\(variable) used before it was computed") }
                return value
            }
        }
        for (index, equation) in graph.equations.enumerated() {
            var arguments: [Tensor] = []
            arguments.reserveCapacity(equation.arguments.count)
            for atom in equation.arguments { arguments.append(try resolve(atom)) }
            switch steps[index] {
            case let .kernel(eval, params, type):
                values[equation.outputs[0]] = try eval(arguments, graph.replayedParams(params, of: equation), type)
            case let .fused(kernel):
                for (variable, value) in zip(equation.outputs, try kernel.run(arguments)) { values[variable] = value }
            case let .custom(custom):
                for (variable, value) in zip(equation.outputs, try graph.replayedResults(of: custom, arguments, in: equation)) {
                    guard let tensor = value as? Tensor else {
                        throw SwiftFuncError.internal("jit", "custom function \(custom.name) returned a traced value")
                    }
                    values[variable] = tensor
                }
            }
            for variable in releases[index] { values[variable] = nil }
        }
        if let tail = graph.drawPlan?.tail, tail > 0 { _ = Random.generator.reserve(tail) }
        return try graph.outputs.map(resolve)
    }
}
