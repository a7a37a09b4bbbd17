#if canImport(Glibc)
import Glibc
#endif

/// How random ops behave under vmap (torch.func's `randomness`).
public enum Randomness: Int32, Sendable {
    /// Random ops under vmap are an error (the default, as in torch.func).
    case error = 0
    /// Each batch element gets its own sample.
    case different = 1
    /// One sample is shared by the whole batch.
    case same = 2
}

/// A value under vmap: the underlying value carries the batch along `batchDim`; the tracer reports
/// the per-example type (without that dim), which is what the function being mapped sees.
final class BatchTracer: Tracer, @unchecked Sendable {
    let value: Value
    let batchDim: Int

    init(owner: BatchInterpreter, value: Value, batchDim: Int) {
        self.value = value
        self.batchDim = batchDim
        var type = value.type
        type.shape.remove(at: batchDim)
        super.init(owner: owner, type: type)
    }

    override var underlyingValue: Value? { value }
}

/// vmap: each op runs once on the whole batch through its primitive's batching rule, with the
/// parent current. Values this interpreter does not own are unbatched and stay unbatched; an op
/// whose arguments are all unbatched goes straight to the parent.
final class BatchInterpreter: TracingInterpreter, @unchecked Sendable {
    /// Size of the mapped dim.
    let batchSize: Int
    /// What random ops do under this vmap.
    let randomness: Randomness

    init(parent: Interpreter, batchSize: Int, randomness: Randomness) {
        self.batchSize = batchSize
        self.randomness = randomness
        super.init(below: parent)
    }

    override func process(_ primitive: Primitive, _ args: [Value], _ params: Params) throws -> Value {
        var values: [Value] = []
        values.reserveCapacity(args.count)
        var dims: [Int?] = []
        dims.reserveCapacity(args.count)
        var batched = false
        for arg in args {
            if let tracer = arg as? BatchTracer, tracer.owner === self {
                values.append(tracer.value)
                dims.append(tracer.batchDim)
                batched = true
            } else {
                try checkNotEscaped(arg, primitive)
                values.append(arg)
                dims.append(nil)
            }
        }
        let parent = below
        if case .random = params {
            return try processRandom(primitive, params, parent: parent)
        }
        guard batched else { return try Interpreter.with(parent) { try emit(primitive, values, params) } }
        let rules = Primitive.rules[primitive.rawValue]
        // Check the op on one example's types first: errors then name the shapes the mapped
        // function sees, and batching rules may rely on valid per-example arguments.
        _ = try rules.type(args.map(\.type), params)
        return try Interpreter.with(parent) {
            let (output, outputDim): (Value, Int?)
            if let rule = rules.batch {
                (output, outputDim) = try rule(values, dims, batchSize, params)
            } else {
                (output, outputDim) = try loopFallback(primitive, values, dims, params)
            }
            guard let outputDim else { return output }
            return BatchTracer(owner: self, value: output, batchDim: outputDim)
        }
    }

    override func processCustom(_ custom: CustomFunction, _ args: [Value]) throws -> CustomFunction.Results {
        try processCustomBatch(custom, args)
    }

    /// Random ops have no batched arguments, so `randomness` alone decides what they do.
    private func processRandom(_ primitive: Primitive, _ params: Params, parent: Interpreter) throws -> Value {
        guard case let .random(shape, dtype, _, _) = params else { throw SwiftFuncError.internal(primitive.name, "bad params") }
        switch randomness {
        case .error:
            throw SwiftFuncError.transform(primitive.name, "random operations under vmap need randomness 'different' or 'same' (it is 'error')")
        case .same:
            return try Interpreter.with(parent) { try emit(primitive, [], params) }
        case .different:
            // The op reserved counters for one sample; the whole batch needs its own, larger block.
            let batchedShape = [batchSize] + shape
            let count = try ShapeChecks.validate(batchedShape, itemSize: dtype.itemSize, op: primitive.name)
            let (key, counter) = Random.generator.reserve(Random.blocks(count: count, dtype: dtype))
            let batchedParams = Params.random(shape: batchedShape, dtype: dtype, key: key, counter: counter)
            let value = try Interpreter.with(parent) { try emit(primitive, [], batchedParams) }
            return BatchTracer(owner: self, value: value, batchDim: 0)
        }
    }

    /// For primitives without a batching rule (host custom functions): slice each element, apply,
    /// stack. Counted, so tests can assert that built-in primitives never get here.
    private func loopFallback(_ primitive: Primitive, _ values: [Value], _ dims: [Int?], _ params: Params) throws -> (Value, Int?) {
        BatchingStatistics.recordFallback()
        guard batchSize > 0 else {
            // No element to slice: apply the primitive to zeros of one element's shape for the
            // result type, and return an empty batch of it.
            let example = try zip(values, dims).map { value, dim -> Value in
                guard let dim else { return value }
                var shape = value.shape
                shape.remove(at: dim)
                return try emit(.full, [], .fill(shape: shape, value: 0, dtype: value.dtype))
            }
            let result = try emit(primitive, example, params)
            return (try emit(.full, [], .fill(shape: [0] + result.shape, value: 0, dtype: result.dtype)), 0)
        }
        var results: [Value] = []
        for index in 0..<batchSize {
            let slices = try zip(values, dims).map { value, dim -> Value in
                guard let dim else { return value }
                return try Batching.select(value, dim: dim, index: index)
            }
            results.append(try Batching.unsqueeze(try emit(primitive, slices, params), dim: 0))
        }
        return (try emit(.cat, results, .dim(0)), 0)
    }

    /// A function output as a value of the parent with its batch dim at `outDim` (an unbatched
    /// output is broadcast along the new dim, as torch.func does).
    func unwrap(_ value: Value, outDim: Int) throws -> Value {
        if let tracer = value as? BatchTracer, tracer.owner === self {
            return try Batching.moveDim(tracer.value, from: tracer.batchDim, to: outDim)
        }
        let expanded = try Batching.materialize(value, batchDim: nil, size: batchSize)
        return try Batching.moveDim(expanded, from: 0, to: outDim)
    }
}

/// Process-wide counters about batching, readable through the C ABI.
public enum BatchingStatistics {
    private static let lock: UnsafeMutablePointer<pthread_mutex_t> = {
        let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(lock, nil)
        return lock
    }()
    nonisolated(unsafe) private static var fallbacks: UInt64 = 0

    /// How many times a primitive was batched by the slice-apply-stack loop instead of a rule.
    public static var fallbackCount: UInt64 {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return fallbacks
    }

    static func recordFallback() {
        pthread_mutex_lock(lock)
        fallbacks &+= 1
        pthread_mutex_unlock(lock)
    }
}
