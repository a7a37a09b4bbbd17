#if canImport(Glibc)
import Glibc
#endif

/// jit (JAX's jit, torch.compile): the first call with an input signature traces the function into a
/// graph with abstract inputs (`StagingInterpreter`), optimizes it, and caches it; later calls with
/// that signature replay the graph without running the function (no host callback is called, but
/// those of custom functions the graph records). With no transform active a replay runs the
/// prepared `Executable` (kernels called directly, elementwise runs fused); under transforms it
/// goes through `emit`, so a jitted function is an ordinary function under every transform, and
/// jit of a transformed function stages the transform's rules once.
public final class JitCache: @unchecked Sendable {
    /// How many signatures are kept (the least recently used one is dropped past this).
    public static let capacity = 64

    private let function: Function
    private var mutex = pthread_mutex_t()
    private var entries: [(signature: [TensorType], executable: Executable)] = []
    private var traces: UInt64 = 0

    init(_ function: Function) {
        self.function = function
        pthread_mutex_init(&mutex, nil)
    }

    /// How many traces were made (one per new signature, plus retraces after eviction).
    public var traceCount: UInt64 {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return traces
    }

    /// Calls the function: replays the cached graph of the inputs' signature, or, on a new
    /// signature, traces the function on these inputs (its results are this call's) and caches
    /// the optimized graph. Replays run the prepared `Executable` (see its `callAsFunction`).
    public func call(_ inputs: [Value]) throws -> [Value] {
        guard let executable = cached(inputs) else { return try trace(inputs).outputs }
        return try executable(inputs)
    }

    /// The optimized graph for the types of `inputs` (traced on them if not cached).
    public func graph(for inputs: [Value]) throws -> Graph {
        if let executable = cached(inputs) { return executable.graph }
        return try trace(inputs).graph
    }

    private func cached(_ inputs: [Value]) -> Executable? {
        let signature = inputs.map(\.type)
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        guard let index = entries.firstIndex(where: { $0.signature == signature }) else { return nil }
        let entry = entries.remove(at: index)
        entries.append(entry)
        return entry.executable
    }

    /// Runs the function once on `inputs` under a recorder: every op on them is computed (the
    /// results are this call's) and recorded. The optimized graph is cached unless it captured a
    /// traced value of an enclosing transform, which is only valid during that transform's call.
    /// Traced without the lock: the function may call this jitted function itself (another
    /// signature) or run on other threads; two threads tracing one signature at once both trace.
    private func trace(_ inputs: [Value]) throws -> (outputs: [Value], graph: Graph) {
        pthread_mutex_lock(&mutex)
        traces += 1
        pthread_mutex_unlock(&mutex)
        let signature = inputs.map(\.type)
        let stager = StagingInterpreter(below: Interpreter.current, inputTypes: signature, recordsRandomDraws: true,
                                        examples: inputs)
        let outputs = try stager.run(function)
        guard let results = stager.exampleValues(of: outputs) else {
            throw SwiftFuncError.internal("jit", "the trace has no example values")
        }
        let graph = stager.finish(outputs: outputs).optimized()
        if !stager.capturesTracers {
            pthread_mutex_lock(&mutex)
            if !entries.contains(where: { $0.signature == signature }) {
                entries.append((signature, Executable(graph)))
                if entries.count > Self.capacity { entries.removeFirst() }
            }
            pthread_mutex_unlock(&mutex)
        }
        return (results, graph)
    }
}

extension Transforms {
    /// `f` staged: see `JitCache`. The result has f's arity; `Function.jitCache` reports its traces.
    public static func jit(_ f: Function) -> Function {
        let cache = JitCache(f)
        return Function(name: "jit(\(f.name))", inputCount: f.inputCount, outputCount: f.outputCount, jitCache: cache) { inputs in
            try cache.call(inputs)
        }
    }
}
