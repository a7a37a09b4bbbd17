/// A value under forward-mode differentiation: a primal and its (never symbolic-zero) tangent.
final class JVPTracer: Tracer, @unchecked Sendable {
    let primal: Value
    let tangent: Value
    /// Set on a custom function's residual: its tangent is unknown (residuals are saved data), so
    /// any use under this interpreter is an error with this message instead of a silent zero.
    let undifferentiable: String?

    init(owner: JVPInterpreter, primal: Value, tangent: Value, undifferentiable: String? = nil) {
        self.primal = primal
        self.tangent = tangent
        self.undifferentiable = undifferentiable
        super.init(owner: owner, type: primal.type)
    }

    override var readableValue: Value? { primal }
}

/// Forward mode: each op computes its primal output with the parent current, then its tangent with
/// the primitive's JVP rule (also with the parent current, so the rule itself is transformed).
/// Values without a tangent here are symbolic zeros and cost nothing.
final class JVPInterpreter: TracingInterpreter, @unchecked Sendable {
    override func process(_ primitive: Primitive, _ args: [Value], _ params: Params) throws -> Value {
        let split = try self.split(args, op: primitive.name, JVPTracer.self) { tracer in
            if let message = tracer.undifferentiable { throw SwiftFuncError.transform(primitive.name, message) }
            return (tracer.primal, tracer.tangent)
        }
        let primals = split.values
        return try Interpreter.with(below) {
            let output = try emit(primitive, primals, params)
            // Integer and bool results (comparisons, argmax, casts to int) have no tangent.
            guard split.hasTracer, output.dtype.isFloatingPoint else { return output }
            let rules = Primitive.rules[primitive.rawValue]
            guard let rule = rules.jvp else {
                throw SwiftFuncError.unsupported(rules.name, "has no forward-mode (JVP) rule")
            }
            guard let tangent = try rule(primals, split.info, output, params) else { return output }
            return JVPTracer(owner: self, primal: output, tangent: tangent)
        }
    }

    override func processCustom(_ custom: CustomFunction, _ args: [Value]) throws -> CustomFunction.Results {
        try processCustomJVP(custom, args)
    }

    /// `primal` with `tangent` attached (nil tangent: the primal itself, a symbolic zero).
    func wrap(_ primal: Value, tangent: Value?) -> Value {
        guard let tangent else { return primal }
        return JVPTracer(owner: self, primal: primal, tangent: tangent)
    }

    /// The primal and tangent of a function output (a value this interpreter does not own has a zero tangent).
    func unwrap(_ value: Value) throws -> (primal: Value, tangent: Value?) {
        if let tracer = value as? JVPTracer, tracer.owner === self {
            if let message = tracer.undifferentiable { throw SwiftFuncError.transform("jvp", message) }
            return (tracer.primal, tracer.tangent)
        }
        return (value, nil)
    }
}
