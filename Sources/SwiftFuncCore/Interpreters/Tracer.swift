/// A value owned by one active transform interpreter. The owner's identity (not a level number)
/// decides who unwraps it: to any other interpreter it is a constant, which is what prevents
/// perturbation confusion. A tracer whose owner has finished is an escaped tracer: using it is an
/// error, never a crash.
public class Tracer: Value, @unchecked Sendable {
    /// The interpreter that made this value.
    public let owner: TracingInterpreter

    init(owner: TracingInterpreter, type: TensorType) {
        self.owner = owner
        super.init(type: type)
    }

    /// The value one level down that holds this tracer's data when it is read (the primal for
    /// differentiation; nil when reading is not meaningful, as for a batched value).
    var readableValue: Value? { nil }

    /// Why the data cannot be read when `readableValue` is nil (for the error message).
    var unreadableReason: String { "cannot read the values of a batched tensor inside vmap" }

    /// The value one level down that holds this tracer's data whatever the transform (the primal,
    /// or the batched value): for validating integer arguments, which no transform changes.
    var underlyingValue: Value? { readableValue }
}

extension Value {
    /// Whether this is a tracer whose transform has returned (an escaped tracer): no interpreter
    /// will ever unwrap it again, so it must not reach an op or leave a function as an output.
    public var isEscapedTracer: Bool {
        guard let tracer = self as? Tracer else { return false }
        return !tracer.owner.isActive
    }
}

/// An interpreter that makes tracers: it is active while its transform runs the function.
public class TracingInterpreter: Interpreter, @unchecked Sendable {
    /// False once the transform has returned; its tracers are then escaped.
    public private(set) var isActive = true

    /// The interpreter this one runs its rules under (`parent`, which a transform always has).
    let below: Interpreter

    init(below: Interpreter) {
        self.below = below
        super.init(parent: below)
    }

    /// Marks the transform as finished.
    func finish() { isActive = false }

    /// Throws if `value` is a tracer of a finished transform; `op` names the operation in the message.
    @inline(__always)
    func checkNotEscaped(_ value: Value, op: @autoclosure () -> String) throws {
        if value.isEscapedTracer {
            throw SwiftFuncError.transform(op(), "a traced value was used after the transform that made it returned (an escaped tracer)")
        }
    }
}

/// An op's arguments as one interpreter sees them (`TracingInterpreter.split`).
struct SplitArguments<Info> {
    /// Per argument, the value one level down: what this interpreter's tracer carries (a primal,
    /// a batched value), or the argument itself when it is not one of its tracers.
    var values: [Value]
    /// Per argument, what this interpreter tracks about it (a tangent, a tape slot, a batch dim);
    /// nil when it is not one of its tracers.
    var info: [Info?]
    /// Whether any argument is one of this interpreter's tracers.
    var hasTracer: Bool
}

extension TracingInterpreter {
    /// Splits `args` into this interpreter's tracers, of class `T` and owned by this interpreter,
    /// and the rest. `unwrap` turns each of its tracers into (value one level down, info) and may
    /// throw to refuse it; every other argument is checked not to be an escaped tracer (`op`
    /// names the operation in that message) and passes through as it is, with nil info.
    @inline(__always)
    func split<T: Tracer, Info>(_ args: [Value], op: @autoclosure () -> String, _: T.Type,
                                _ unwrap: (T) throws -> (value: Value, info: Info)) throws -> SplitArguments<Info> {
        var split = SplitArguments<Info>(values: [], info: [], hasTracer: false)
        split.values.reserveCapacity(args.count)
        split.info.reserveCapacity(args.count)
        for arg in args {
            if let tracer = arg as? T, tracer.owner === self {
                let (value, info) = try unwrap(tracer)
                split.values.append(value)
                split.info.append(info)
                split.hasTracer = true
            } else {
                try checkNotEscaped(arg, op: op())
                split.values.append(arg)
                split.info.append(nil)
            }
        }
        return split
    }
}

extension Ops {
    /// The concrete tensor behind `value` for reading: tracers of differentiation read their primal
    /// (so data-dependent control flow works under grad and jvp); batched values cannot be read.
    public static func readableTensor(_ value: Value, op: String) throws -> Tensor {
        var current = value
        while true {
            if let tensor = current as? Tensor { return tensor }
            guard let tracer = current as? Tracer else { break }
            guard tracer.owner.isActive else {
                throw SwiftFuncError.transform(op, "a traced value was used after the transform that made it returned (an escaped tracer)")
            }
            guard let next = tracer.readableValue else {
                throw SwiftFuncError.transform(op, tracer.unreadableReason)
            }
            current = next
        }
        throw SwiftFuncError.internal(op, "unknown kind of value")
    }
}
