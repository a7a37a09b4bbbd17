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
/// whose arguments are all unbatched goes straight to the parent, except an op without arguments
/// (a constant, a random draw), whose batching rule alone can tell whether its result varies.
final class BatchInterpreter: TracingInterpreter, @unchecked Sendable {
    /// What batching rules are told: the size of the mapped dim and the randomness mode.
    let context: BatchContext
    /// Size of the mapped dim.
    var batchSize: Int { context.size }
    /// What random ops do under this vmap.
    var randomness: Randomness { context.randomness }

    init(parent: Interpreter, batchSize: Int, randomness: Randomness) {
        context = BatchContext(size: batchSize, randomness: randomness)
        super.init(below: parent)
    }

    override func process(_ primitive: Primitive, _ args: [Value], _ params: Params) throws -> Value {
        let split = try self.split(args, op: primitive.name, BatchTracer.self) { ($0.value, $0.batchDim) }
        let (values, dims) = (split.values, split.info)
        let parent = below
        guard split.hasTracer || args.isEmpty else { return try Interpreter.with(parent) { try emit(primitive, values, params) } }
        let rules = Primitive.rules[primitive.rawValue]
        if split.hasTracer {
            // Check the op on one example's types first: errors then name the shapes the mapped
            // function sees, and batching rules may rely on valid per-example arguments.
            _ = try rules.type(args.map(\.type), params)
        }
        return try Interpreter.with(parent) {
            let (output, outputDim): (Value, Int?)
            if let rule = rules.batch {
                (output, outputDim) = try rule(values, dims, context, params)
            } else {
                // No rule (only a primitive missing from the table): the counted loop.
                guard let looped = try applyPerElement(values, dims, { [try emit(primitive, $0, params)] }).first else {
                    throw SwiftFuncError.internal(primitive.name, "the loop over the batch gave no result")
                }
                (output, outputDim) = (looped, 0)
            }
            guard let outputDim else { return output }
            return BatchTracer(owner: self, value: output, batchDim: outputDim)
        }
    }

    override func processCustom(_ custom: CustomFunction, _ args: [Value]) throws -> CustomFunction.Results {
        try processCustomBatch(custom, args)
    }

    /// vmap without a batching rule: slices element i of every batched value (unbatched values are
    /// passed whole), applies `body` to the slices, and stacks each of its results along a new dim
    /// 0. Runs under whatever interpreter is current (the parent, from a rule's context). With an
    /// empty batch, `body` runs once on zeros of one element's shapes, for the result types, and
    /// each result is an empty batch of them. Counted (`BatchingStatistics`), so tests can assert
    /// that built-in primitives never get here.
    func applyPerElement(_ values: [Value], _ dims: [Int?], _ body: ([Value]) throws -> [Value]) throws -> [Value] {
        BatchingStatistics.recordFallback()
        guard batchSize > 0 else {
            let example = try zip(values, dims).map { value, dim -> Value in
                guard let dim else { return value }
                var shape = value.shape
                shape.remove(at: dim)
                return try Differentiation.full(0, shape: shape, dtype: value.dtype)
            }
            return try body(example).map { try Differentiation.full(0, shape: [0] + $0.shape, dtype: $0.dtype) }
        }
        var columns: [[Value]] = []
        for index in 0..<batchSize {
            let slices = try zip(values, dims).map { value, dim -> Value in
                guard let dim else { return value }
                return try Batching.select(value, dim: dim, index: index)
            }
            let results = try body(slices)
            if index == 0 { columns = [[Value]](repeating: [], count: results.count) }
            guard results.count == columns.count else {
                throw SwiftFuncError.internal("vmap", "element \(index) gave \(results.count) results, element 0 gave \(columns.count)")
            }
            for (k, result) in results.enumerated() { columns[k].append(try Batching.unsqueeze(result, dim: 0)) }
        }
        return try columns.map { try emit(.cat, $0, .dim(0)) }
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
