/// A staged computation (JAX's jaxpr): typed input variables, equations in order, outputs. Tracing
/// (`StagingInterpreter`) produces it; linearize's linear map and jit replay it; passes rewrite it.
/// Variables are numbered: inputs take 0..<inputTypes.count, each equation's outputs the next ones.
public struct Graph: Sendable {
    /// An argument or output: a variable, or a value known when the graph was made (a constant).
    public enum Atom: @unchecked Sendable {
        case variable(Int)
        case constant(Value)
    }

    /// What an equation applies.
    public enum Operation: @unchecked Sendable {
        case primitive(Primitive, Params)
        /// A custom function applied as one unit (its outputs, then its residuals).
        case custom(CustomFunction, outputCount: Int)
        /// Elementwise equations run as one loop (Fusion.swift); its outputs are the members'
        /// results used outside the group.
        case fused(FusedKernel)
    }

    /// One step: `outputs` are fresh variables of types `types`.
    public struct Equation: @unchecked Sendable {
        public var operation: Operation
        public var arguments: [Atom]
        public var outputs: [Int]
        public var types: [TensorType]
    }

    /// How a replay reserves generator counters so that it draws exactly what an eager call would:
    /// before each random equation, `gap` blocks that the traced call reserved above the recorder
    /// (e.g. the public op's one-sample reservation before vmap's batched draw), then the draw's
    /// own; after the last equation, `tail` more. Reservations made below the recorder recur by
    /// themselves, since a replay goes through `emit`.
    public struct DrawPlan: Sendable {
        public var gaps: [Int: UInt64] = [:]  // equation output variable -> blocks to skip first
        public var tail: UInt64 = 0
    }

    public var inputTypes: [TensorType]
    public var equations: [Equation] = []
    /// Set for a graph whose draws replay as eager draws (jit); nil: recorded params as they are.
    public var drawPlan: DrawPlan?
    public var outputs: [Atom] = []
    /// What the optimizer did (set by `optimized()`; the listing's last line).
    public var summary: String?
    /// How many variables exist (inputs and equation outputs).
    public private(set) var variableCount: Int

    public init(inputTypes: [TensorType]) {
        self.inputTypes = inputTypes
        self.variableCount = inputTypes.count
    }

    /// The type of every variable: the inputs', then each equation's outputs' (passes read them).
    var variableTypes: [TensorType?] {
        var types = [TensorType?](repeating: nil, count: variableCount)
        for (index, type) in inputTypes.enumerated() { types[index] = type }
        for equation in equations { for (variable, type) in zip(equation.outputs, equation.types) { types[variable] = type } }
        return types
    }

    /// An atom's type: a variable's from `types` (see `variableTypes`), a constant's own.
    static func type(of atom: Atom, in types: [TensorType?]) -> TensorType? {
        switch atom {
        case .variable(let variable): return types[variable]
        case .constant(let value): return value.type
        }
    }

    /// A new variable number.
    mutating func newVariable() -> Int {
        defer { variableCount += 1 }
        return variableCount
    }

    /// Replays the graph with `inputs` through `emit`, under whatever interpreter is current: on
    /// concrete tensors it computes; under outer transforms their rules apply to every equation.
    /// Random equations draw fresh numbers from the generator, as the eager call would.
    public func evaluate(_ inputs: [Value]) throws -> [Value] {
        guard inputs.count == inputTypes.count else {
            throw SwiftFuncError.internal("jit", "the graph takes \(inputTypes.count) inputs, given \(inputs.count)")
        }
        var values = [Value?](repeating: nil, count: variableCount)
        for (index, value) in inputs.enumerated() { values[index] = value }
        func resolve(_ atom: Atom) throws -> Value {
            switch atom {
            case .constant(let value): return value
            case .variable(let variable):
                guard let value = values[variable] else { throw SwiftFuncError.internal("jit", "v\(variable) used before it was computed") }
                return value
            }
        }
        for equation in equations {
            let arguments = try equation.arguments.map(resolve)
            switch equation.operation {
            case let .primitive(primitive, params):
                values[equation.outputs[0]] = try emit(primitive, arguments, replayedParams(params, of: equation))
            case let .custom(custom, _):
                for (variable, value) in zip(equation.outputs, try replayedResults(of: custom, arguments, in: equation)) {
                    values[variable] = value
                }
            case let .fused(kernel):
                for (variable, value) in zip(equation.outputs, try kernel.evaluateMembers(arguments)) { values[variable] = value }
            }
        }
        if let tail = drawPlan?.tail, tail > 0 { _ = Random.generator.reserve(tail) }
        return try outputs.map(resolve)
    }

    /// A custom function's results at a replay of `equation`, which must be what its traced call
    /// returned in count, shape and dtype: the equations after it were recorded for those types (and
    /// `Executable` runs their kernels with them, no type rule in the way), while a host kernel may
    /// return anything. A result that differs is refused rather than read with the traced type.
    func replayedResults(of custom: CustomFunction, _ arguments: [Value], in equation: Equation) throws -> [Value] {
        let values = try custom.applyAll(arguments).values
        let name = "custom function '\(custom.name)'"
        guard values.count == equation.types.count else {
            throw SwiftFuncError.shape("call", "\(name) returned \(values.count) results at a replay, \(equation.types.count) when traced")
        }
        for (index, (value, traced)) in zip(values, equation.types).enumerated() {
            guard value.shape == traced.shape else {
                throw SwiftFuncError.shape("call", "\(name): result \(index) has shape \(formatShape(value.shape)), expected \(formatShape(traced.shape)) (its shape when traced)")
            }
            guard value.dtype == traced.dtype else {
                throw SwiftFuncError.shape("call", "\(name): result \(index) has dtype \(value.dtype), expected \(traced.dtype) (its dtype when traced)")
            }
        }
        return values
    }

    /// The params an equation runs with in a replay: a random draw under a draw plan first skips
    /// the blocks the traced call reserved before it, then takes fresh counters, as an eager call would.
    func replayedParams(_ params: Params, of equation: Equation) -> Params {
        guard let plan = drawPlan, case .random = params else { return params }
        _ = Random.generator.reserve(plan.gaps[equation.outputs[0]] ?? 0)
        return Random.redrawn(params)
    }

    /// A readable listing, one equation a line (as `jax.make_jaxpr` prints):
    /// `{ lambda ; v0:f32[3] . let v1:f32[3] = sin v0 ; in (v1) }` spread over lines.
    public var listing: String {
        func name(_ atom: Atom) -> String {
            switch atom {
            case .variable(let variable): return "v\(variable)"
            case .constant(let value): return "const:\(value.type)"
            }
        }
        var lines = ["{ lambda " + inputTypes.enumerated().map { "v\($0.offset):\($0.element)" }.joined(separator: " ") + " ."]
        for equation in equations {
            let results = zip(equation.outputs, equation.types).map { "v\($0):\($1)" }.joined(separator: " ")
            let arguments = equation.arguments.map(name).joined(separator: " ")
            switch equation.operation {
            case let .primitive(primitive, params):
                let shownParams = params == .none ? "" : "[\(params)]"
                lines.append("  \(results) = \(primitive.name)\(shownParams) \(arguments)")
            case let .custom(custom, outputCount):
                lines.append("  \(results) = custom[\(custom.name), outputs: \(outputCount)] \(arguments)")
            case let .fused(kernel):
                lines.append("  \(results) = fused[\(kernel.memberCount) equations] \(arguments) {")
                lines += kernel.listingLines(name: name).map { "      " + $0 }
                lines.append("    }")
            }
        }
        lines.append("  in (" + outputs.map(name).joined(separator: ", ") + ") }")
        if let summary { lines.append("# " + summary) }
        return lines.joined(separator: "\n")
    }
}
