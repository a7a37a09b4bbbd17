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

    /// Where a replay finds a value: a slot of its value array, or a captured tensor.
    private enum Source {
        case slot(Int)
        case constant(Tensor)
        /// A constant that is not a tensor (only in graphs that are not `isConcrete`).
        case traced
        /// A variable no equation defines (never in a traced or imported graph; a replay throws).
        case undefined
    }

    /// Per equation: where its arguments come from, the slots its outputs go to, and the slots
    /// whose last use it is (released after it runs, so their blocks return to the pool).
    private let argumentSources: [[Source]]
    private let outputSlots: [[Int]]
    private let releases: [[Int]]
    private let resultSources: [Source]
    /// How many slots a replay's value array has. Variables keep the traced numbering (the
    /// optimized chain's outputs are v298, ...); slots are dense and reused once a value's last
    /// use has passed, so a replay allocates, fills and destroys a few entries, not one per
    /// traced variable.
    private let slotCount: Int
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

        var slotOf = [Int](repeating: -1, count: graph.variableCount)
        var freeSlots: [Int] = [], slotCount = 0
        func takeSlot(for variable: Int) -> Int {
            let slot: Int
            if let free = freeSlots.popLast() { slot = free } else { slot = slotCount; slotCount += 1 }
            slotOf[variable] = slot
            return slot
        }
        func source(_ atom: Graph.Atom) -> Source {
            switch atom {
            case .variable(let variable):
                return variable >= 0 && variable < slotOf.count && slotOf[variable] >= 0 ? .slot(slotOf[variable]) : .undefined
            case .constant(let value): return (value as? Tensor).map(Source.constant) ?? .traced
            }
        }
        for variable in graph.inputTypes.indices { _ = takeSlot(for: variable) }
        var argumentSources: [[Source]] = [], outputSlots: [[Int]] = [], releases: [[Int]] = []
        for (index, equation) in graph.equations.enumerated() {
            argumentSources.append(equation.arguments.map(source))
            // Arguments are read before the outputs are stored, so an output may take the slot of
            // an argument read here for the last time.
            var released: [Int] = []
            for case .variable(let variable) in equation.arguments where lastUse[variable] == index && slotOf[variable] >= 0 && !released.contains(slotOf[variable]) {
                released.append(slotOf[variable])
            }
            freeSlots.append(contentsOf: released)
            let outputs = equation.outputs.map(takeSlot)
            releases.append(released.filter { !outputs.contains($0) })
            outputSlots.append(outputs)
        }
        self.argumentSources = argumentSources
        self.outputSlots = outputSlots
        self.releases = releases
        self.resultSources = graph.outputs.map(source)
        self.slotCount = slotCount
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
        var values = [Tensor?](repeating: nil, count: slotCount)
        for (index, input) in inputs.enumerated() { values[index] = input }
        @inline(__always) func resolve(_ source: Source) throws -> Tensor {
            switch source {
            case .constant(let tensor): return tensor
            case .slot(let slot):
                guard let value = values[slot] else { throw SwiftFuncError.internal("jit", "a value used before it was computed") }
                return value
            case .traced: throw SwiftFuncError.internal("jit", "a traced constant in a concrete replay")
            case .undefined: throw SwiftFuncError.internal("jit", "a value no equation defines")
            }
        }
        for (index, equation) in graph.equations.enumerated() {
            var arguments: [Tensor] = []
            arguments.reserveCapacity(equation.arguments.count)
            for source in argumentSources[index] { arguments.append(try resolve(source)) }
            for slot in releases[index] { values[slot] = nil }
            let slots = outputSlots[index]
            switch steps[index] {
            case let .kernel(eval, params, type):
                values[slots[0]] = try eval(arguments, graph.replayedParams(params, of: equation), type)
            case let .fused(kernel):
                for (slot, value) in zip(slots, try kernel.run(arguments)) { values[slot] = value }
            case let .custom(custom):
                for (slot, value) in zip(slots, try graph.replayedResults(of: custom, arguments, in: equation)) {
                    guard let tensor = value as? Tensor else {
                        throw SwiftFuncError.internal("jit", "custom function \(custom.name) returned a traced value")
                    }
                    values[slot] = tensor
                }
            }
        }
        if let tail = graph.drawPlan?.tail, tail > 0 { _ = Random.generator.reserve(tail) }
        return try resultSources.map(resolve)
    }
}
