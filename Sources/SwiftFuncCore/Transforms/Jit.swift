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
    /// Signalled when a trace ends (waiting callers of its signature look again).
    private var traceEnded = pthread_cond_t()
    private var entries: [(signature: [TensorType], executable: Executable)] = []
    /// Signatures being traced now; guarded by `mutex`.
    private var tracing: [[TensorType]] = []
    private var traces: UInt64 = 0

    init(_ function: Function) {
        self.function = function
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&traceEnded, nil)
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
        let signature = inputs.map(\.type)
        switch lookUp(signature) {
        case .cached(let executable): return try executable(inputs)
        case .trace(let claimed): return try trace(inputs, signature, claimed: claimed).outputs
        }
    }

    /// The optimized graph for the types of `inputs` (traced on them if not cached).
    public func graph(for inputs: [Value]) throws -> Graph {
        let signature = inputs.map(\.type)
        switch lookUp(signature) {
        case .cached(let executable): return executable.graph
        case .trace(let claimed): return try trace(inputs, signature, claimed: claimed).graph
        }
    }

    private enum Lookup {
        case cached(Executable)
        /// Trace the signature; `claimed`: this caller marked it as being traced (and unmarks it).
        case trace(claimed: Bool)
    }

    /// The cached executable of `signature`, or the caller's turn to trace it. A caller that finds
    /// no graph marks the signature as being traced, under the same lock, so that threads calling a
    /// fresh jitted function at once wait for that one trace and take its graph (its callbacks run
    /// once). A thread that is itself tracing never waits: the trace it waited for might be waiting
    /// for its own (jitted functions calling each other on two threads), so it traces too.
    private func lookUp(_ signature: [TensorType]) -> Lookup {
        let mayWait = !Self.isTracing
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while true {
            if let index = entries.firstIndex(where: { $0.signature == signature }) {
                let entry = entries.remove(at: index)
                entries.append(entry)
                return .cached(entry.executable)
            }
            // No graph (yet, or the trace failed or was not cacheable).
            guard tracing.contains(signature) else {
                tracing.append(signature)
                return .trace(claimed: true)
            }
            guard mayWait else { return .trace(claimed: false) }
            pthread_cond_wait(&traceEnded, &mutex)
        }
    }

    /// Whether this thread is inside a trace (a staging interpreter on its stack).
    private static var isTracing: Bool {
        var interpreter: Interpreter? = Interpreter.current
        while let current = interpreter {
            if current is StagingInterpreter { return true }
            interpreter = current.parent
        }
        return false
    }

    /// Runs the function once on `inputs` under a recorder: every op on them is computed (the
    /// results are this call's) and recorded. The optimized graph is cached unless it captured a
    /// traced value of an enclosing transform, which is only valid during that transform's call.
    /// Traced without the lock: the function may call this jitted function itself or run on other
    /// threads. Other threads calling with the same signature meanwhile wait (`lookUp`).
    private func trace(_ inputs: [Value], _ signature: [TensorType], claimed: Bool) throws -> (outputs: [Value], graph: Graph) {
        pthread_mutex_lock(&mutex)
        traces += 1
        pthread_mutex_unlock(&mutex)
        defer {
            if claimed {
                pthread_mutex_lock(&mutex)
                if let index = tracing.firstIndex(of: signature) { tracing.remove(at: index) }
                pthread_cond_broadcast(&traceEnded)
                pthread_mutex_unlock(&mutex)
            }
        }
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
