#if canImport(Glibc)
import Glibc
#endif

/// jit (JAX's jit, torch.compile): the first call with an input signature traces the function into a
/// graph with abstract inputs (`StagingInterpreter`), optimizes it, and caches it; later calls with
/// that signature replay the graph without running the function (no host callback is called, but
/// those of custom functions the graph records). Replays go through `emit`, so a jitted function
/// is an ordinary function under every transform, and jit of a transformed function stages the
/// transform's rules once.
public final class JitCache: @unchecked Sendable {
    /// How many signatures are kept (the least recently used one is dropped past this).
    public static let capacity = 64

    private let function: Function
    private var mutex = pthread_mutex_t()
    private var entries: [(signature: [TensorType], graph: Graph)] = []
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

    /// The optimized graph of the function for the types of `inputs`, traced if not cached.
    public func graph(for inputs: [Value]) throws -> Graph {
        let signature = inputs.map(\.type)
        pthread_mutex_lock(&mutex)
        if let index = entries.firstIndex(where: { $0.signature == signature }) {
            let entry = entries.remove(at: index)
            entries.append(entry)
            pthread_mutex_unlock(&mutex)
            return entry.graph
        }
        traces += 1
        pthread_mutex_unlock(&mutex)
        // Traced without the lock: the function may call this jitted function itself (another
        // signature) or run on other threads; two threads tracing one signature at once both trace.
        let (graph, cacheable) = try trace(signature)
        guard cacheable else { return graph }
        pthread_mutex_lock(&mutex)
        if !entries.contains(where: { $0.signature == signature }) {
            entries.append((signature, graph))
            if entries.count > Self.capacity { entries.removeFirst() }
        }
        pthread_mutex_unlock(&mutex)
        return graph
    }

    /// Runs the function once on abstract values of `signature`; returns the optimized graph and
    /// whether it may be cached (not when it captured a traced value of an enclosing transform,
    /// which is only valid during that transform's current call).
    private func trace(_ signature: [TensorType]) throws -> (Graph, cacheable: Bool) {
        let stager = StagingInterpreter(below: Interpreter.current, inputTypes: signature, recordsRandomDraws: true)
        // The draws the trace records reserve counters; the replays reserve their own, so the
        // generator is put back as if the trace had not drawn (the first call then draws what
        // the eager call would).
        let generatorState = Random.generator.snapshot()
        defer { Random.generator.restore(generatorState) }
        let outputs: [Value]
        do {
            outputs = try Interpreter.with(stager) { try function(stager.inputs) }
        } catch {
            stager.finish()
            throw error
        }
        let graph = stager.finish(outputs: outputs)
        return (graph.optimized(), !stager.capturesTracers)
    }
}

extension Transforms {
    /// `f` staged: see `JitCache`. The result has f's arity; `Function.jitCache` reports its traces.
    public static func jit(_ f: Function) -> Function {
        let cache = JitCache(f)
        return Function(name: "jit(\(f.name))", inputCount: f.inputCount, outputCount: f.outputCount, jitCache: cache) { inputs in
            try cache.graph(for: inputs).evaluate(inputs)
        }
    }
}
