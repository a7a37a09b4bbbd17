/// A value that depends on linearize's input tangents: unknown while the function runs, computed
/// when the linear map is applied.
final class SymbolicTracer: Tracer, @unchecked Sendable {
    /// Index of the value in the recorder's environment.
    let slot: Int

    init(owner: LinearizeInterpreter, type: TensorType, slot: Int) {
        self.slot = slot
        super.init(owner: owner, type: type)
    }
}

/// Partial evaluation for linearize (JAX's linearize = jvp + partial eval). It sits below a JVP
/// interpreter while the function runs once: ops on known values (the primal computation and
/// everything that does not depend on the tangents) run now through the interpreter below; ops on
/// symbolic values (the tangent computation) are recorded. The recording is the linear map; it is
/// replayed with `emit`, under whatever interpreter is current then, so the map is itself
/// transformable (vmap of a linearized function batches the replay).
final class LinearizeInterpreter: TracingInterpreter, @unchecked Sendable {
    /// One recorded step: arguments are known values or slots, results fill new slots.
    private enum Argument {
        case known(Value)
        case slot(Int)
    }

    private enum Step {
        case primitive(Primitive, [Argument], Params, output: Int)
        case custom(CustomFunction, [Argument], outputs: [Int])
    }

    private var steps: [Step] = []
    private(set) var slotCount = 0

    /// A new symbolic input (a tangent of linearize's primals).
    func makeInput(type: TensorType) -> SymbolicTracer {
        defer { slotCount += 1 }
        return SymbolicTracer(owner: self, type: type, slot: slotCount)
    }

    private func arguments(_ args: [Value], _ op: @autoclosure () -> String) throws -> (arguments: [Argument], symbolic: Bool) {
        let split = try self.split(args, op: op(), SymbolicTracer.self) { ($0, $0.slot) }
        let arguments = zip(split.values, split.info).map { value, slot in slot.map(Argument.slot) ?? .known(value) }
        return (arguments, split.hasTracer)
    }

    override func process(_ primitive: Primitive, _ args: [Value], _ params: Params) throws -> Value {
        let (arguments, symbolic) = try self.arguments(args, primitive.name)
        guard symbolic else { return try Interpreter.with(below) { try emit(primitive, args, params) } }
        // The type rule gives the result's type without computing it.
        let type = try Primitive.rules[primitive.rawValue].type(args.map(\.type), params)
        let output = makeInput(type: type)
        steps.append(.primitive(primitive, arguments, params, output: output.slot))
        return output
    }

    override func processCustom(_ custom: CustomFunction, _ args: [Value]) throws -> CustomFunction.Results {
        let (arguments, symbolic) = try self.arguments(args, "call")
        guard symbolic else { return try Interpreter.with(below) { try custom.applyAll(args) } }
        // A custom function applied to tangents (e.g. an ops-based JVP rule) is replayed as a unit;
        // its result types come from evaluating it once on zeros of the arguments' types.
        let probe = try args.map { try Differentiation.zeros(like: $0) }
        let probed = try Interpreter.with(below) { try custom.applyAll(probe) }
        let outputs = probed.values.map { makeInput(type: $0.type) }
        steps.append(.custom(custom, arguments, outputs: outputs.map(\.slot)))
        return CustomFunction.Results(values: outputs, outputCount: probed.outputCount)
    }

    /// Replays the recording: `inputs` fill the first slots (the tangent inputs); returns the
    /// values of `wanted` slots (nil entries: outputs known to be zero, filled by the caller).
    func replay(inputs: [Value], wanted: [Int]) throws -> [Value] {
        var values = [Value?](repeating: nil, count: slotCount)
        for (slot, value) in inputs.enumerated() { values[slot] = value }
        func resolve(_ argument: Argument) throws -> Value {
            switch argument {
            case .known(let value): return value
            case .slot(let slot):
                guard let value = values[slot] else { throw SwiftFuncError.internal("linearize", "slot \(slot) used before it was computed") }
                return value
            }
        }
        for step in steps {
            switch step {
            case let .primitive(primitive, arguments, params, output):
                values[output] = try emit(primitive, arguments.map(resolve), params)
            case let .custom(custom, arguments, outputs):
                for (slot, value) in zip(outputs, try custom.applyAll(arguments.map(resolve)).values) { values[slot] = value }
            }
        }
        return try wanted.map { slot in
            guard let value = values[slot] else { throw SwiftFuncError.internal("linearize", "output slot \(slot) was not computed") }
            return value
        }
    }
}
