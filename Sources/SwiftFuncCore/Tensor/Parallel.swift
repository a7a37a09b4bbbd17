import CBLAS
import CKernels
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The library's own thread pool (pthreads; no Foundation, no Dispatch): `Parallel.forEach` splits
/// an index range into chunks that the calling thread and the pool's workers take in turn. It is
/// the one place kernels go parallel, so the thread count is set in one place
/// (`Parallel.threadCount`) and nested calls (a parallel kernel inside a parallel kernel) run
/// serially on the thread that makes them instead of waiting on the pool they occupy.
public enum Parallel {
    /// How many threads kernels use (the caller included): the online CPUs unless set.
    public static var threadCount: Int {
        get { Pool.shared.threadCount }
        set { Pool.shared.setThreadCount(newValue) }
    }

    /// The smallest chunk, in elements, that a kernel hands to a thread (below twice this an op
    /// runs on the calling thread), for kernels that do little per element: copies, casts,
    /// arithmetic, comparisons, sqrt, reductions. Waking a sleeping worker takes 10-20 µs on the
    /// 2-vCPU machine of docs/benchmarks.md ("Threads and reductions"), where two threads start to
    /// win on an add of about 256K float32 (50 µs on one thread): the split starts there.
    public static var memoryGrain: Int { 1 << 17 }

    /// The same for the libm functions (exp, tanh, pow, ...), 5-20 ns per element: two threads win
    /// on a tanh from about 1K elements, on cheaper exp-like functions from a few K.
    public static var mathGrain: Int { 1 << 11 }

    /// The smallest GEMM, in multiply-adds, that is split into blocks over the pool's threads
    /// (`GEMMScalar.gemm`). Waking a thread costs 10-20 µs here, and when another process holds
    /// the other core a split GEMM waits for a thread that is not running: vmap(jacrev)'s
    /// [16,16]x[16,2048] products took 10x longer threaded than on one thread on the loaded 2-vCPU
    /// machine. From 2^21 (about 50-70 µs on one core, where the pool's `memoryGrain` also starts
    /// to split) threads pay for themselves.
    public static var blasThreadingMultiplyAdds: Int { 1 << 21 }

    /// Runs `body`, a LAPACK or other BLAS call, on the library's BLAS thread count (on one thread
    /// inside `withSingleThreadedBLAS`).
    @inline(__always)
    public static func withBLASThreads<R>(_ body: () throws -> R) rethrows -> R {
        try BLASThreads.shared.run(single: false, body)
    }

    /// Runs `body(item, scratch)` for each item in 0..<count, items being independent pieces of
    /// GEMM-based work (a chunk of images and a group of a convolution, one product of a batched
    /// matmul) that write disjoint parts of a result. Several items are shared out between the
    /// pool's threads as they come free, each thread with a scratch of its own from `scratch` and
    /// its GEMMs on one OpenBLAS thread: an item's packing, GEMM and copy all run on one thread, as oneDNN's and torch's CPU
    /// convolutions do (handing each item's GEMM to OpenBLAS's threads and its packing to the
    /// pool's made four hand-offs per item, half of a convolution's time). A single item runs on
    /// the calling thread, its GEMM threaded by OpenBLAS. Whether a GEMM runs on one thread
    /// depends only on the item count, never on the thread count, so results are the same on any
    /// number of threads.
    public static func forEachWorkItem<Scratch>(_ count: Int, scratch makeScratch: () throws -> Scratch,
                                                _ body: (Int, Scratch) -> Void) rethrows {
        guard count > 1 else {
            if count == 1 { body(0, try makeScratch()) }
            return
        }
        let lanes = Swift.min(count, threadCount)
        let scratches = try (0..<lanes).map { _ in try makeScratch() }
        // One chunk per lane, each with its own scratch; a lane takes the next item not yet taken
        // until none is left, so a thread that starts late or runs slowly (its core shared with
        // another process) takes fewer items instead of holding the others up at the end.
        let next = ItemCounter()
        run(lanes, grain: 1) { laneRange in
            withSingleThreadedBLAS {
                for lane in laneRange {
                    var item = next.take()
                    while item < count {
                        body(item, scratches[lane])
                        item = next.take()
                    }
                }
            }
        }
    }

    /// The next item of a `forEachWorkItem` job, shared by its lanes.
    private final class ItemCounter: Sendable {
        private let taken = Atomic<Int>(0)
        func take() -> Int { taken.wrappingAdd(1, ordering: .relaxed).oldValue }
    }

    /// Runs `body` with every BLAS and LAPACK call this thread makes inside it on one OpenBLAS
    /// thread: for work already split over the pool's threads (a batch of small matrices). Two
    /// threads calling threaded OpenBLAS at once contend for its one job queue, each spinning in
    /// sched_yield until the other's call is done: the gradient of logdet of 64 32x32 matrices,
    /// split over two threads, took 60-100 ms on one call in a hundred instead of 2 ms.
    public static func withSingleThreadedBLAS<R>(_ body: () throws -> R) rethrows -> R {
        let previous = BLASThreads.isSingleOnThisThread
        BLASThreads.isSingleOnThisThread = true
        defer { BLASThreads.isSingleOnThisThread = previous }
        return try body()
    }

    /// Whether `forEach(count, grain:)` splits the work: more than one chunk and more than one
    /// thread. (A nested call, or one made while another thread's job holds the pool, still runs
    /// serially; this only answers what the sizes and the thread count decide.)
    @inline(__always)
    public static func splits(_ count: Int, grain: Int) -> Bool {
        count / Swift.max(1, grain) > 1 && threadCount > 1
    }

    /// `forEach` for kernels: the same chunks, but a work too small to split runs `body(0..<count)`
    /// directly, so small ops make no closure context and take no lock (their latency is the
    /// kernel's alone). `body` does not escape: the pool drops the job before `forEach` returns.
    @inline(__always)
    public static func run(_ count: Int, grain: Int, _ body: (Range<Int>) -> Void) {
        guard splits(count, grain: grain) else {
            if count > 0 { body(0..<count) }
            return
        }
        withoutActuallyEscaping(body) { forEach(count, grain: grain, $0) }
    }

    /// How long a thread that has run its part of a job keeps watching for the next one (a worker)
    /// or for the other threads' parts to finish (the caller) before it sleeps on a condition
    /// variable. Waking a sleeping thread takes 10-20 µs on the 2-vCPU machine of
    /// docs/benchmarks.md, as long as a GEMM block of 2^20 multiply-adds takes to compute: an
    /// ensemble's products split into blocks over the pool lost 8-12% to those wake-ups. A short
    /// watch keeps threads awake across the back-to-back jobs of one transform call (OpenBLAS's
    /// own threads watch 2^28 cycles, about 0.1 s, with sched_yield), and costs an idle process
    /// nothing once it has passed.
    static var watchNanoseconds: Int { 200_000 }

    /// Chunks per thread: a job is cut finer than one chunk per thread, so that a worker that
    /// wakes late (its core busy with another process, or with OpenBLAS's spinning threads) only
    /// delays the chunks it takes; the calling thread takes the rest.
    static var chunksPerThread: Int { 4 }

    /// Calls `body(range)` for disjoint chunks covering `0..<count`, of equal sizes (within one)
    /// and each of at least `grain` indices, on up to `threadCount` threads; returns when all have
    /// run. Small counts (one chunk) run on the calling thread with no synchronization at all. The
    /// chunking depends only on `count`, `grain` and the thread count, so results that each
    /// chunk writes to its own indices are the same from run to run.
    /// `body` is escaping because the workers hold the job while they look for chunks (they never
    /// call it once all chunks are taken, and the pool drops it before this returns).
    public static func forEach(_ count: Int, grain: Int, _ body: @escaping (Range<Int>) -> Void) {
        let grain = Swift.max(1, grain)
        let threads = Pool.shared.threadCount
        let chunks = threads > 1 ? Swift.min(threads &* chunksPerThread, count / grain) : 1
        guard chunks > 1, !Pool.isWorkerOrBusy else {
            if count > 0 { body(0..<count) }
            return
        }
        // Chunk c starts at c * size + min(c, extra): the first `extra` chunks get one more.
        let size = count / chunks, extra = count % chunks
        Pool.shared.run(chunks: chunks) { chunk in
            let start = chunk &* size &+ Swift.min(chunk, extra)
            body(start..<(start &+ size &+ (chunk < extra ? 1 : 0)))
        }
    }
}

extension Parallel {
    /// Initializes the lazy globals that work running on the pool's threads reads, on the thread
    /// about to start workers and before it does. The Swift runtime's lazy-global lock (swift_once
    /// on Linux) caches each thread's id, and in the child of a fork the forking thread keeps its
    /// parent's: two threads of a forked child initializing the same global at once deadlock (the
    /// forking thread then spins forever on a lock the kernel says is not its own). Initialized
    /// here, a worker only ever reads these globals.
    static func initializeSharedState() {
        _ = BLASThreads.shared
        _ = BLASThreads.isSingleOnThisThread
        _ = MemoryPool.shared
    }

    /// The most threads `setNumThreads` takes: a count past it is a mistake, not a wish for a
    /// thousand threads.
    public static var maximumThreads: Int { 1024 }

    /// The library's thread count (sf_set_num_threads, torch.set_num_threads): the pool's and
    /// OpenBLAS's together. Both default to the online CPUs (torch's default); one call sets both,
    /// so the two never add up to more threads than the host asked for — the pool's kernels and
    /// OpenBLAS's GEMMs run one after the other on the calling thread, each with up to `n` threads.
    /// Work already running keeps the count it started with.
    public static func setNumThreads(_ n: Int, op: String) throws {
        guard n >= 1 && n <= maximumThreads else {
            throw SwiftFuncError.invalidArgument(op, "the thread count must be between 1 and \(maximumThreads), got \(n)")
        }
        threadCount = n
        BLASThreads.shared.configure(n)
    }
}

/// OpenBLAS's thread count, which is process-wide and read when a call starts, shared between
/// calls that want one thread (small GEMMs) and calls that want the configured count. OpenBLAS's
/// products round differently on different thread counts, so a call must never run on a count its
/// size did not choose: calls wanting the count OpenBLAS is set to run together, and a call wanting
/// the other waits until those have returned (a mutex and a condition variable; no wait when one
/// thread calls at a time). The configured count is OpenBLAS's own (OPENBLAS_NUM_THREADS or the
/// CPUs) until `Parallel.setNumThreads`; when no call of ours runs, OpenBLAS is set to it, so the
/// host's own BLAS calls never see the one-thread setting of our small products.
final class BLASThreads: @unchecked Sendable {
    static let shared = BLASThreads()

    private var mutex = pthread_mutex_t()
    private var drained = pthread_cond_t()
    /// The count OpenBLAS is set to, and the count calls that are not small want.
    private var current: Int, configured: Int
    /// Calls running on `current`.
    private var running = 0

    private init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&drained, nil)
        configured = Swift.max(1, Int(openblas_get_num_threads()))
        current = configured
    }

    /// In the child of a fork (one thread, no call of ours running): the lock and the count of
    /// running calls start afresh (another thread of the parent may have held them), and OpenBLAS
    /// is where the configured count leaves it.
    fileprivate func resetAfterFork() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&drained, nil)
        running = 0
        current = Swift.max(1, Int(openblas_get_num_threads()))
    }

    /// Sets the count for calls that are not small (sf_set_num_threads); OpenBLAS takes it at once
    /// when no call is running, else when the running ones have returned.
    func configure(_ threads: Int) {
        pthread_mutex_lock(&mutex)
        configured = threads
        if running == 0, current != threads {
            openblas_set_num_threads(Int32(threads))
            current = threads
        }
        pthread_mutex_unlock(&mutex)
    }

    /// The count OpenBLAS is set to now (what a call made now runs on).
    static var openBLASCount: Int { Int(openblas_get_num_threads()) }

    /// Whether this thread's BLAS calls run on one thread whatever their size
    /// (`Parallel.withSingleThreadedBLAS`).
    static var isSingleOnThisThread: Bool {
        get { pthread_getspecific(singleKey) != nil }
        set { pthread_setspecific(singleKey, newValue ? UnsafeRawPointer(bitPattern: 1) : nil) }
    }

    private static let singleKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// Runs `body` with OpenBLAS set to one thread (`single`, or inside `withSingleThreadedBLAS`) or
    /// to the configured count.
    func run<R>(single: Bool, _ body: () throws -> R) rethrows -> R {
        let single = single || Self.isSingleOnThisThread
        pthread_mutex_lock(&mutex)
        var wanted = single ? 1 : configured
        if wanted != current {
            while running > 0 {
                pthread_cond_wait(&drained, &mutex)
                wanted = single ? 1 : configured
            }
            if wanted != current {
                openblas_set_num_threads(Int32(wanted))
                current = wanted
            }
        }
        running += 1
        pthread_mutex_unlock(&mutex)
        defer {
            pthread_mutex_lock(&mutex)
            running -= 1
            if running == 0 {
                // Leave OpenBLAS as the host set it: a host's own GEMMs between ours must not run
                // on the one thread a small product of ours asked for.
                if current != configured {
                    openblas_set_num_threads(Int32(configured))
                    current = configured
                }
                pthread_cond_broadcast(&drained)
            }
            pthread_mutex_unlock(&mutex)
        }
        return try body()
    }
}

/// Worker threads waiting on a condition variable for a job: a chunk count and a body. The caller
/// takes chunks too; one job runs at a time (a second caller on another thread runs serially).
private final class Pool: @unchecked Sendable {
    static let shared = Pool()

    private var mutex = pthread_mutex_t()
    private var wake = pthread_cond_t()
    private var done = pthread_cond_t()
    private var workers = 0
    /// The thread count. Every kernel reads it (`Parallel.splits`) without taking the lock while
    /// sf_set_num_threads may write it from another thread, so it is atomic: a relaxed load costs
    /// what a plain one does, and a kernel starting during a change uses the old or the new count.
    private let count: Atomic<Int>
    var threadCount: Int { count.load(ordering: .relaxed) }
    // The current job, guarded by `mutex`.
    private var job: ((Int) -> Void)?
    private var generation = 0
    private var nextChunk = 0
    private var chunkCount = 0
    private var running = 0
    private var busy = false
    /// `generation`, stored after each new job is set: what a watching worker reads without the
    /// mutex.
    private let published = Atomic<Int>(0)
    /// The current job's chunks not yet finished: what the watching caller reads without the mutex.
    private let outstanding = Atomic<Int>(0)

    private init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&wake, nil)
        pthread_cond_init(&done, nil)
        count = Atomic(Swift.max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        // A forked child has only the thread that forked: the workers counted here do not exist
        // there. Without this the child's pool would count them, start none and run every job
        // on one thread (or wait forever on a lock a worker held at the fork).
        pthread_atfork(nil, nil, { Pool.shared.resetAfterFork() })
    }

    /// In the child of a fork: no workers, no job, fresh locks. Workers start again with the next
    /// job that splits, up to the thread count the parent had set.
    private func resetAfterFork() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&wake, nil)
        pthread_cond_init(&done, nil)
        workers = 0
        job = nil
        nextChunk = 0
        chunkCount = 0
        running = 0
        busy = false
        outstanding.store(0, ordering: .relaxed)
        BLASThreads.shared.resetAfterFork()
    }

    /// Thread-local marker: this thread is one of the pool's workers.
    private static let workerKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// True on a worker thread, or while another thread's job holds the pool: run serially then.
    static var isWorkerOrBusy: Bool {
        if pthread_getspecific(workerKey) != nil { return true }
        let pool = shared
        pthread_mutex_lock(&pool.mutex)
        defer { pthread_mutex_unlock(&pool.mutex) }
        return pool.busy
    }

    func setThreadCount(_ count: Int) {
        // Under the mutex too, so that `ensureWorkers` (which holds it) sees one count throughout.
        pthread_mutex_lock(&mutex)
        self.count.store(Swift.max(1, count), ordering: .relaxed)
        pthread_mutex_unlock(&mutex)
    }

    /// Starts workers until `threadCount - 1` exist (they are never stopped: a smaller count just
    /// leaves some idle). Called with `mutex` held.
    private func ensureWorkers() {
        if workers < threadCount - 1 { Parallel.initializeSharedState() }
        while workers < threadCount - 1 {
            var thread = pthread_t()
            let context = Unmanaged.passUnretained(self).toOpaque()
            guard pthread_create(&thread, nil, { context in
                let pool = Unmanaged<Pool>.fromOpaque(context!).takeUnretainedValue()
                pthread_setspecific(Pool.workerKey, UnsafeRawPointer(bitPattern: 1))
                pool.workLoop()
            }, context) == 0 else { return }  // no thread: the caller does the work itself
            pthread_detach(thread)
            workers += 1
        }
    }

    /// Runs `body(chunk)` for every chunk in 0..<chunks on the caller and the workers.
    func run(chunks: Int, _ body: @escaping (Int) -> Void) {
        pthread_mutex_lock(&mutex)
        if busy {  // another thread's job: do this one alone
            pthread_mutex_unlock(&mutex)
            for chunk in 0..<chunks { body(chunk) }
            return
        }
        busy = true
        ensureWorkers()
        job = body
        nextChunk = 0
        chunkCount = chunks
        running = 0
        outstanding.store(chunks, ordering: .relaxed)
        generation &+= 1
        published.store(generation, ordering: .releasing)
        pthread_cond_broadcast(&wake)
        takeChunks(body)
        if nextChunk < chunkCount || running > 0 {
            // The workers' last chunks are still running: watch for them before sleeping.
            pthread_mutex_unlock(&mutex)
            Pool.watch { self.outstanding.load(ordering: .acquiring) == 0 }
            pthread_mutex_lock(&mutex)
            while nextChunk < chunkCount || running > 0 { pthread_cond_wait(&done, &mutex) }
        }
        job = nil
        busy = false
        pthread_mutex_unlock(&mutex)
    }

    /// Takes and runs chunks until none is left. Called and returns with `mutex` held.
    private func takeChunks(_ body: (Int) -> Void) {
        while nextChunk < chunkCount {
            let chunk = nextChunk
            nextChunk += 1
            running += 1
            pthread_mutex_unlock(&mutex)
            body(chunk)
            outstanding.subtract(1, ordering: .releasing)
            pthread_mutex_lock(&mutex)
            running -= 1
        }
        if running == 0 { pthread_cond_broadcast(&done) }
    }

    private func workLoop() -> Never {
        pthread_mutex_lock(&mutex)
        // A worker started by a job's `ensureWorkers` joins that job (it has not seen it yet).
        var seen = generation &- 1
        while true {
            if generation == seen || job == nil {
                // Watch for the next job before sleeping (`Parallel.watchNanoseconds`).
                let last = generation
                pthread_mutex_unlock(&mutex)
                Pool.watch { self.published.load(ordering: .acquiring) != last }
                pthread_mutex_lock(&mutex)
                while generation == seen || job == nil { pthread_cond_wait(&wake, &mutex) }
            }
            seen = generation
            joinJob()
        }
    }

    /// Spins until `ready()` or `Parallel.watchNanoseconds` have passed, with the CPU's spin-wait
    /// hint between reads. The caller then checks its condition under the mutex as usual: watching
    /// only saves a sleep, it never decides anything.
    private static func watch(_ ready: () -> Bool) {
        var start = timespec()
        clock_gettime(CLOCK_MONOTONIC, &start)
        while true {
            for _ in 0..<64 {
                if ready() { return }
                swiftfunc_spin_pause()
            }
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            if (now.tv_sec - start.tv_sec) * 1_000_000_000 + (now.tv_nsec - start.tv_nsec) >= Parallel.watchNanoseconds {
                return
            }
        }
    }

    /// Takes chunks of the current job. Its own reference to the job ends with this function,
    /// with `mutex` held: the caller of `run` sees no worker holding the body once it has the
    /// mutex back (which `Parallel.run`'s non-escaping bodies rely on), whatever the optimizer
    /// does with a binding's lifetime in a loop.
    private func joinJob() {
        guard let body = job else { return }
        takeChunks(body)
    }
}
