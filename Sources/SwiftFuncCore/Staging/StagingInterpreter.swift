/// A value the staging interpreter does not know while the function runs: a variable of the graph
/// it records (a tangent under linearize, an input of a jitted function, or what depends on them).
final class SymbolicTracer: Tracer, @unchecked Sendable {
    /// The graph variable that holds the value when the graph is replayed.
    let variable: Int

    init(owner: StagingInterpreter, type: TensorType, variable: Int) {
        self.variable = variable
        super.init(owner: owner, type: type)
    }

    override var unreadableReason: String {
        "the value depends on the inputs of the function being traced (jit or linearize): it is not known until the graph runs (JAX's concretization error); compute it outside, or pass it as a non-traced (static) argument"
    }
}

/// The one recording interpreter (JAX's partial evaluation into a jaxpr): while the function runs
/// once, ops that touch symbolic values are recorded into a `Graph` (their result types from the
/// type rules) and ops on known values run now through the interpreter below, their results
/// becoming the graph's constants (constant folding for free).
/// - linearize: it sits below a JVP interpreter; the tangents are symbolic, so the tangent
///   computation is recorded and the primal one runs now. The recording is the linear map.
/// - jit: every input is symbolic, and random draws are recorded even without symbolic
///   arguments (`recordsRandomDraws`), so that every replay draws fresh numbers.
/// Replaying (`Graph.evaluate`) goes through `emit`, so a staged function stays transformable.
final class StagingInterpreter: TracingInterpreter, @unchecked Sendable {
    private(set) var graph: Graph
    private let recordsRandomDraws: Bool
    /// Whether a recorded constant is a traced value of an enclosing transform (then the graph is
    /// valid only inside that transform's current call and must not be cached).
    private(set) var capturesTracers = false

    /// A recorder for a graph of `inputTypes` (its symbolic inputs: `inputs`).
    init(below: Interpreter, inputTypes: [TensorType], recordsRandomDraws: Bool) {
        graph = Graph(inputTypes: inputTypes)
        self.recordsRandomDraws = recordsRandomDraws
        super.init(below: below)
    }

    /// The symbolic values standing for the graph's inputs (made afresh on each access: the
    /// interpreter must not hold its own tracers, which hold it).
    var inputs: [SymbolicTracer] {
        graph.inputTypes.enumerated().map { SymbolicTracer(owner: self, type: $0.element, variable: $0.offset) }
    }

    /// An argument as a graph atom: this interpreter's symbolic value, or a known constant.
    private func atom(_ value: Value) -> Graph.Atom {
        if let symbolic = value as? SymbolicTracer, symbolic.owner === self { return .variable(symbolic.variable) }
        if !(value is Tensor) { capturesTracers = true }
        return .constant(value)
    }

    private func arguments(_ args: [Value], _ op: @autoclosure () -> String) throws -> (atoms: [Graph.Atom], symbolic: Bool) {
        let split = try self.split(args, op: op(), SymbolicTracer.self) { ($0, $0.variable) }
        return (args.map(atom), split.hasTracer)
    }

    /// Appends an equation with fresh output variables of `types`; returns its symbolic outputs.
    private func record(_ operation: Graph.Operation, _ arguments: [Graph.Atom], _ types: [TensorType]) -> [SymbolicTracer] {
        let outputs = types.map { _ in graph.newVariable() }
        graph.equations.append(Graph.Equation(operation: operation, arguments: arguments, outputs: outputs, types: types))
        return zip(outputs, types).map { SymbolicTracer(owner: self, type: $1, variable: $0) }
    }

    override func process(_ primitive: Primitive, _ args: [Value], _ params: Params) throws -> Value {
        let (atoms, symbolic) = try arguments(args, primitive.name)
        let isDraw: Bool
        if case .random = params { isDraw = recordsRandomDraws } else { isDraw = false }
        guard symbolic || isDraw else { return try Interpreter.with(below) { try emit(primitive, args, params) } }
        // The type rule gives the result's type without computing it.
        let type = try Primitive.rules[primitive.rawValue].type(args.map(\.type), params)
        return record(.primitive(primitive, params), atoms, [type])[0]
    }

    override func processCustom(_ custom: CustomFunction, _ args: [Value]) throws -> CustomFunction.Results {
        let (atoms, symbolic) = try arguments(args, "call")
        guard symbolic else { return try Interpreter.with(below) { try custom.applyAll(args) } }
        // A custom function applied to symbolic values is recorded as a unit (replays call its
        // callbacks); its result types come from evaluating it once on zeros of the arguments' types.
        let probe = try args.map { try Differentiation.zeros(like: $0) }
        let probed = try Interpreter.with(below) { try custom.applyAll(probe) }
        let outputs = record(.custom(custom, outputCount: probed.outputCount), atoms, probed.values.map(\.type))
        return CustomFunction.Results(values: outputs, outputCount: probed.outputCount)
    }

    /// Ends the recording with the function's outputs and returns the graph.
    func finish(outputs: [Value]) -> Graph {
        graph.outputs = outputs.map(atom)
        finish()
        return graph
    }
}
