#if canImport(Glibc)
import Glibc
#endif

/// Processes primitives. Exactly one interpreter is current on each thread; a transform installs
/// its own with the previous one as parent, and runs its rules with the parent current, so that
/// rules (written with `emit`) are transformed by whatever lies below.
public class Interpreter: @unchecked Sendable {
    /// The interpreter below this one (nil for evaluation).
    public let parent: Interpreter?

    init(parent: Interpreter?) {
        self.parent = parent
    }

    /// Applies `primitive` to `args`.
    public func process(_ primitive: Primitive, _ args: [Value], _ params: Params) throws -> Value {
        throw SwiftFuncError.internal(primitive.name, "interpreter does not implement process")
    }

    /// Applies a custom function as one unit; returns its outputs followed by its residuals
    /// (see CustomFunction.swift, where each interpreter implements it).
    public func processCustom(_ custom: CustomFunction, _ args: [Value]) throws -> CustomFunction.Results {
        throw SwiftFuncError.internal("call", "interpreter does not implement processCustom")
    }

    /// The current interpreter of this thread.
    public static var current: Interpreter {
        guard let raw = pthread_getspecific(currentKey) else { return EvalInterpreter.shared }
        return Unmanaged<Interpreter>.fromOpaque(raw).takeUnretainedValue()
    }

    /// Runs `body` with `interpreter` current, restoring the previous one afterwards.
    public static func with<R>(_ interpreter: Interpreter, _ body: () throws -> R) rethrows -> R {
        let previous = pthread_getspecific(currentKey)
        // The thread-local slot borrows the interpreter: `interpreter` outlives `body`.
        pthread_setspecific(currentKey, Unmanaged.passUnretained(interpreter).toOpaque())
        defer { pthread_setspecific(currentKey, previous) }
        return try withExtendedLifetime(interpreter) { try body() }
    }

    #if SWIFTFUNC_TESTING
    /// Test-only (`-DSWIFTFUNC_TESTING`): how many interpreters are installed on this thread, from
    /// the current one down (0 when the evaluation interpreter is current by default). Every C call
    /// must leave 0 behind, whether it succeeded or failed.
    public static var installedDepth: Int {
        guard let raw = pthread_getspecific(currentKey) else { return 0 }
        var depth = 0
        var interpreter: Interpreter? = Unmanaged<Interpreter>.fromOpaque(raw).takeUnretainedValue()
        while let installed = interpreter {
            depth += 1
            interpreter = installed.parent
        }
        return depth
    }
    #endif

    private static let currentKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()
}

/// Runs kernels on concrete tensors: the interpreter at the bottom of every stack.
public final class EvalInterpreter: Interpreter, @unchecked Sendable {
    /// The one evaluation interpreter (it has no state).
    public static let shared = EvalInterpreter(parent: nil)

    public override func process(_ primitive: Primitive, _ args: [Value], _ params: Params) throws -> Value {
        let rules = Primitive.rules[primitive.rawValue]
        var tensors: [Tensor] = []
        tensors.reserveCapacity(args.count)
        var types: [TensorType] = []
        types.reserveCapacity(args.count)
        for arg in args {
            guard let tensor = arg as? Tensor else {
                throw SwiftFuncError.transform(rules.name, "a traced value was used outside of the transform that made it (an escaped tracer)")
            }
            tensors.append(tensor)
            types.append(tensor.type)
        }
        let type = try rules.type(types, params)
        return try rules.eval(tensors, params, type)
    }

    public override func processCustom(_ custom: CustomFunction, _ args: [Value]) throws -> CustomFunction.Results {
        try processCustomEval(custom, args)
    }
}

/// Applies `primitive` through the current interpreter: the single entry point of every op.
@inline(__always)
public func emit(_ primitive: Primitive, _ args: [Value], _ params: Params = .none) throws -> Value {
    try Interpreter.current.process(primitive, args, params)
}
