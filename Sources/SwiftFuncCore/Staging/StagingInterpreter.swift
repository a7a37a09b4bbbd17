/// A value the staging interpreter does not know while the function runs: a variable of the graph
/// it records (a tangent under linearize, an input of a jitted function, or what depends on them).
/// When the trace runs on example inputs (jit's first call), it also carries the example's value.
final class SymbolicTracer: Tracer, @unchecked Sendable {
    /// The graph variable that holds the value when the graph is replayed.
    let variable: Int
    /// The value for the example inputs the trace runs on (nil for an abstract trace).
    let example: Value?

    init(owner: StagingInterpreter, type: TensorType, variable: Int, example: Value? = nil) {
        self.variable = variable
        self.example = example
        super.init(owner: owner, type: type)
    }

    override var unreadableReason: String {
        "the value depends on the inputs of the function being traced (jit or linearize): it is not known until the graph runs (JAX's concretization error); compute it outside, or pass it as a non-traced (static) argument"
    }
}

/// The one recording interpreter (JAX's partial evaluation into a jaxpr): while the function runs
/// once, ops that touch symbolic values are recorded into a `Graph` and ops on known values run now
/// through the interpreter below, their results becoming the graph's constants (constant folding
/// for free).
/// - linearize: it sits below a JVP interpreter; the tangents are symbolic (abstract: result types
///   from the type rules), so the tangent computation is recorded and the primal one runs now.
/// - jit: every input is symbolic and carries the first call's value (`examples`): each recorded
///   op is also computed on the examples below, so the first call's results come from the trace
///   itself (f runs once; a custom function's forward sees the real inputs), and random draws are
///   recorded even without symbolic arguments, so that every replay draws afresh.
/// Replaying (`Graph.evaluate`) goes through `emit`, so a staged function stays transformable.
final class StagingInterpreter: TracingInterpreter, @unchecked Sendable {
    private(set) var graph: Graph
    private let recordsRandomDraws: Bool
    private let examples: [Value]?
    /// With `recordsRandomDraws`: how the replays must reserve counters (see `Graph.DrawPlan`), and
    /// the counters this thread had reserved at the last draw (its `Random.Generator.threadTally`:
    /// other threads drawing during the trace must not enter the plan).
    private var drawPlan = Graph.DrawPlan()
    private var drawCursor: UInt64
    /// Whether a recorded constant is a traced value of an enclosing transform (then the graph is
    /// valid only inside that transform's current call and must not be cached).
    private(set) var capturesTracers = false

    /// A recorder for a graph of `inputTypes` (its symbolic inputs: `inputs`), abstract or on
    /// `examples` (one value per input).
    init(below: Interpreter, inputTypes: [TensorType], recordsRandomDraws: Bool, examples: [Value]? = nil) {
        graph = Graph(inputTypes: inputTypes)
        self.recordsRandomDraws = recordsRandomDraws
        self.examples = examples
        drawCursor = Random.Generator.threadTally.pointee.total
        super.init(below: below)
    }

    /// The symbolic values standing for the graph's inputs (made afresh on each access: the
    /// interpreter must not hold its own tracers, which hold it).
    var inputs: [SymbolicTracer] {
        graph.inputTypes.enumerated().map {
            SymbolicTracer(owner: self, type: $0.element, variable: $0.offset, example: examples?[$0.offset])
        }
    }

    /// An argument as a graph atom: this interpreter's symbolic value, or a known constant.
    private func atom(_ value: Value) -> Graph.Atom {
        if let symbolic = value as? SymbolicTracer, symbolic.owner === self { return .variable(symbolic.variable) }
        if !(value is Tensor) { capturesTracers = true }
        return .constant(value)
    }

    /// The arguments as atoms, whether any is symbolic, and their example values (nil when a
    /// symbolic one has none: an abstract trace).
    private func arguments(_ args: [Value], _ op: @autoclosure () -> String) throws -> (atoms: [Graph.Atom], symbolic: Bool, examples: [Value]?) {
        let split = try self.split(args, op: op(), SymbolicTracer.self) { ($0, $0.example) }
        var examples: [Value]? = []
        for (value, info) in zip(split.values, split.info) {
            guard let info else { examples?.append(value); continue }
            guard let example = info else { examples = nil; break }
            examples?.append(example)
        }
        return (args.map(atom), split.hasTracer, examples)
    }

    /// Appends an equation with fresh output variables; returns its symbolic outputs, carrying
    /// `examples` when the trace has them.
    private func record(_ operation: Graph.Operation, _ arguments: [Graph.Atom], _ types: [TensorType],
                        examples: [Value]?) -> [SymbolicTracer] {
        let outputs = types.map { _ in graph.newVariable() }
        graph.equations.append(Graph.Equation(operation: operation, arguments: arguments, outputs: outputs, types: types))
        return outputs.indices.map { SymbolicTracer(owner: self, type: types[$0], variable: outputs[$0], example: examples?[$0]) }
    }

    override func process(_ primitive: Primitive, _ args: [Value], _ params: Params) throws -> Value {
        let (atoms, symbolic, examples) = try arguments(args, primitive.name)
        let isDraw: Bool
        if case .random = params { isDraw = recordsRandomDraws } else { isDraw = false }
        guard symbolic || isDraw else { return try Interpreter.with(below) { try emit(primitive, args, params) } }
        if isDraw {
            // Reserved above this recorder since the last draw, before the draw's own counters (this
            // thread's latest reservation): a replay skips as many first.
            drawPlan.gaps[graph.variableCount] = Random.Generator.threadTally.pointee.beforeLatest &- drawCursor
        }
        defer { if isDraw { drawCursor = Random.Generator.threadTally.pointee.total } }
        if let examples {  // computed on the examples below: the first call's value (and its type)
            let value = try Interpreter.with(below) { try emit(primitive, examples, params) }
            return record(.primitive(primitive, params), atoms, [value.type], examples: [value])[0]
        }
        // An abstract trace: the type rule gives the result's type without computing it.
        let type = try Primitive.rules[primitive.rawValue].type(args.map(\.type), params)
        return record(.primitive(primitive, params), atoms, [type], examples: nil)[0]
    }

    override func processCustom(_ custom: CustomFunction, _ args: [Value]) throws -> CustomFunction.Results {
        let (atoms, symbolic, examples) = try arguments(args, "call")
        guard symbolic else { return try Interpreter.with(below) { try custom.applyAll(args) } }
        // A custom function applied to symbolic values is recorded as a unit (replays call its
        // callbacks). Its result types come from running it on the examples (the real call), or,
        // in an abstract trace, once on zeros of the arguments' types.
        let probe = try examples ?? args.map { try Differentiation.zeros(like: $0) }
        let probed = try Interpreter.with(below) { try custom.applyAll(probe) }
        let outputs = record(.custom(custom, outputCount: probed.outputCount), atoms, probed.values.map(\.type),
                             examples: examples == nil ? nil : probed.values)
        return CustomFunction.Results(values: outputs, outputCount: probed.outputCount)
    }

    /// Runs `function` on the symbolic inputs with this recorder current; when it throws, the
    /// recording is ended before the error propagates.
    func run(_ function: Function) throws -> [Value] {
        do {
            return try Interpreter.with(self) { try function(inputs) }
        } catch {
            finish()
            throw error
        }
    }

    /// Ends the recording with the function's outputs and returns the graph.
    func finish(outputs: [Value]) -> Graph {
        graph.outputs = outputs.map(atom)
        if recordsRandomDraws {
            drawPlan.tail = Random.Generator.threadTally.pointee.total &- drawCursor
            graph.drawPlan = drawPlan
        }
        finish()
        return graph
    }

    /// The outputs' values for the example inputs (nil for an abstract trace).
    func exampleValues(of outputs: [Value]) -> [Value]? {
        var values: [Value] = []
        for output in outputs {
            if let symbolic = output as? SymbolicTracer, symbolic.owner === self {
                guard let example = symbolic.example else { return nil }
                values.append(example)
            } else {
                values.append(output)
            }
        }
        return values
    }
}
