#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The allocator behind every `Storage` swiftfunc owns (C: `sf_memory_stats`, `sf_set_memory_limit`,
/// `sf_memory_reset_peak`, `sf_memory_release_cached`).
///
/// - Small blocks (below `largeBlock`, 1 MiB) come from malloc, 64-byte aligned; malloc recycles them
///   well. Their only shared state is an atomic byte count: no lock.
/// - Large blocks are rounded up to a size class (`blockSize(for:)`: 8 classes per doubling, at most
///   2 MiB or 12.5% over the request) and mapped directly with mmap; from `hugeBlock` (4 MiB) on, classes
///   are multiples of 2 MiB, blocks are 2 MiB aligned and advised `MADV_HUGEPAGE`, so that a fresh
///   block costs a fault per 2 MiB instead of per 4 KiB. A freed large block goes to a cache (under
///   a mutex) from which a request of the same class is served without touching the OS: transform
///   workloads allocate the same large tensors on every call. The pages of a class beyond the request
///   are never touched, so the rounding costs address space, not memory.
/// - The cache's budget follows what the process uses: `bytesInUse + bytesCached` stays within twice
///   the high-water mark of `bytesInUse` (the most bytes live tensors have held since the start or
///   the last `releaseCached`), checked whenever a large block is allocated or freed. A loop whose
///   calls need the same blocks is then served from the cache (the blocks a call uses over its
///   course can add up to more than its peak in use: 7% more in the MNIST CNN's per-sample
///   gradients), while a process that never needed much memory keeps little. Over budget, the least
///   recently freed blocks go back to the OS first.
/// - An optional limit bounds `bytesInUse + bytesCached`: an allocation that would pass it returns
///   cached blocks to the OS first, and fails with `SF_ERR_OUT_OF_MEMORY` (nothing allocated, no
///   count changed but `failedAllocations`) when the bytes in use alone would pass it.
/// - Fresh mappings are zero, so `zeroed` costs a memset only for reused and small blocks.
///
/// Byte counts are those of the blocks: a small block's request, a large block's class size.
public final class MemoryPool: @unchecked Sendable {
    /// The pool of every tensor swiftfunc allocates.
    public static let shared = MemoryPool()

    /// Blocks from this size on are mapped, size-classed and cached.
    public static let largeBlock = 1 << 20
    /// Blocks from this size on are 2 MiB aligned, multiples of 2 MiB and advised for huge pages.
    public static let hugeBlock = 4 << 20
    /// The huge-page size (the alignment of blocks from `hugeBlock` on).
    public static let hugePage = 2 << 20
    /// Alignment of small blocks.
    public static let smallAlignment = 64

    /// A block handed out by `allocate`: its address and its size (the request for a small block,
    /// the class size for a large one), which `free` needs back.
    public struct Block: @unchecked Sendable {
        public let pointer: UnsafeMutableRawPointer
        public let size: Int
    }

    /// A snapshot of the pool's counters (the fields of the C `struct sf_memory_stats`).
    public struct Stats: Equatable, Sendable {
        /// Bytes of the blocks that live storage holds.
        public var bytesInUse: Int
        /// Bytes of freed large blocks kept for reuse.
        public var bytesCached: Int
        /// The most `bytesInUse` since the start or the last `resetPeak`.
        public var peakBytesInUse: Int
        /// The limit on `bytesInUse + bytesCached`; 0: none.
        public var limit: Int
        /// The most `bytesInUse` since the start or the last `releaseCached` (`resetPeak` leaves it):
        /// `bytesInUse + bytesCached` stay within twice this (and within the limit).
        public var highWaterBytesInUse: Int
        /// Large allocations served from the cache.
        public var cacheHits: Int
        /// Large blocks mapped from the OS.
        public var osAllocations: Int
        /// Large blocks returned to the OS.
        public var osReleases: Int
        /// Allocations refused: past the limit, or refused by the OS.
        public var failedAllocations: Int
    }

    // Counters read and written without the lock.
    private let inUse = Atomic<Int>(0)
    private let peak = Atomic<Int>(0)
    private let highWater = Atomic<Int>(0)
    private let limitBytes = Atomic<Int>(0)
    private let cachedBytes = Atomic<Int>(0)  // written under the lock only; read anywhere
    private let hits = Atomic<Int>(0)
    private let maps = Atomic<Int>(0)
    private let unmaps = Atomic<Int>(0)
    private let failures = Atomic<Int>(0)

    /// The cached blocks, least recently freed first; guarded by `mutex`.
    private var cache: [Block] = []
    private let mutex: UnsafeMutablePointer<pthread_mutex_t> = {
        let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        return mutex
    }()

    /// A pool of its own (tests); the library uses `shared`.
    public init() {}

    deinit {
        for block in cache { Self.unmap(block) }
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    // MARK: size classes

    /// The size of the block that serves a request of `byteCount` (> 0) bytes: the request itself
    /// below `largeBlock`; above, the request rounded up to a multiple of an eighth of the power of
    /// two below it (128 KiB steps from 1 MiB, 256 KiB from 2 MiB, ..., 32 MiB from 256 MiB), and of
    /// 2 MiB from `hugeBlock` on. Nil when the rounded size does not fit in an Int.
    public static func blockSize(for byteCount: Int) -> Int? {
        guard byteCount >= largeBlock else { return byteCount }
        let log2 = Int.bitWidth - 1 - byteCount.leadingZeroBitCount
        let step = byteCount > hugeBlock ? Swift.max(1 << (log2 - 3), hugePage) : 1 << (log2 - 3)
        let (padded, overflow) = byteCount.addingReportingOverflow(step - 1)
        guard !overflow else { return nil }
        return padded / step * step
    }

    // MARK: allocation

    /// A block of at least `byteCount` (> 0) bytes, zero-filled when `zeroed` is set, aligned to 64
    /// bytes (a large block: to its page, 2 MiB from `hugeBlock` on). Throws `outOfMemory` naming
    /// `op` when the limit or the OS refuses, having allocated nothing.
    public func allocate(byteCount: Int, zeroed: Bool, op: String) throws -> Block {
        #if SWIFTFUNC_TESTING
        if Self.FailureInjection.failsNext() {
            failures.wrappingAdd(1, ordering: .relaxed)
            throw SwiftFuncError.outOfMemory(op, "cannot allocate \(byteCount) bytes (injected failure)")
        }
        #endif
        guard let size = Self.blockSize(for: byteCount) else {
            failures.wrappingAdd(1, ordering: .relaxed)
            throw SwiftFuncError.outOfMemory(op, "cannot allocate \(byteCount) bytes")
        }
        if size < Self.largeBlock {
            try reserve(size, byteCount: byteCount, op: op)
            var memory: UnsafeMutableRawPointer?
            guard posix_memalign(&memory, Self.smallAlignment, size) == 0, let memory else {
                inUse.wrappingSubtract(size, ordering: .relaxed)
                failures.wrappingAdd(1, ordering: .relaxed)
                throw SwiftFuncError.outOfMemory(op, "cannot allocate \(byteCount) bytes")
            }
            if zeroed { memset(memory, 0, byteCount) }
            return Block(pointer: memory, size: size)
        }
        if let block = takeCached(size) {
            if zeroed { memset(block.pointer, 0, byteCount) }
            return block
        }
        try reserve(size, byteCount: byteCount, op: op)
        var memory = Self.map(size)
        if memory == nil {
            // The OS refused: give it the cache back and try once more.
            releaseCached(resettingBudget: false)
            memory = Self.map(size)
        }
        guard let memory else {
            inUse.wrappingSubtract(size, ordering: .relaxed)
            failures.wrappingAdd(1, ordering: .relaxed)
            throw SwiftFuncError.outOfMemory(op, "cannot allocate \(byteCount) bytes")
        }
        maps.wrappingAdd(1, ordering: .relaxed)
        return Block(pointer: memory, size: size)  // fresh pages are zero
    }

    /// Returns a block from `allocate` of this pool.
    public func free(_ block: Block) {
        guard block.size >= Self.largeBlock else {
            Glibc.free(block.pointer)
            inUse.wrappingSubtract(block.size, ordering: .relaxed)
            return
        }
        pthread_mutex_lock(mutex)
        inUse.wrappingSubtract(block.size, ordering: .relaxed)
        cache.append(block)
        cachedBytes.wrappingAdd(block.size, ordering: .relaxed)
        let evicted = evictLocked(keepingAtMost: room())
        pthread_mutex_unlock(mutex)
        unmapAll(evicted)
    }

    /// A cached block of class `size`, the most recently freed (the likeliest to be in the CPU's
    /// caches), now counted in use; nil on a miss.
    private func takeCached(_ size: Int) -> Block? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        guard let index = cache.lastIndex(where: { $0.size == size }) else { return nil }
        let block = cache.remove(at: index)
        cachedBytes.wrappingSubtract(size, ordering: .relaxed)
        notePeak(inUse.wrappingAdd(size, ordering: .relaxed).newValue)
        hits.wrappingAdd(1, ordering: .relaxed)
        return block
    }

    /// Counts `size` more bytes in use, or throws when that would pass the limit. Cached blocks go
    /// back to the OS as far as the new bytes need their room under the limit, and for a large
    /// block under the budget (twice the high-water mark).
    private func reserve(_ size: Int, byteCount: Int, op: String) throws {
        let now = inUse.wrappingAdd(size, ordering: .relaxed).newValue
        let limit = limitBytes.load(ordering: .relaxed)
        if limit > 0, now > limit {
            inUse.wrappingSubtract(size, ordering: .relaxed)
            failures.wrappingAdd(1, ordering: .relaxed)
            throw SwiftFuncError.outOfMemory(op, "allocating \(byteCount) bytes would take the bytes in use to \(now), "
                + "past the memory limit of \(limit) bytes (sf_set_memory_limit)")
        }
        notePeak(now)
        if limit > 0 || size >= Self.largeBlock, cachedBytes.load(ordering: .relaxed) > room() { trim() }
    }

    /// Raises the peak and the high-water mark to `bytes` when they are below it.
    private func notePeak(_ bytes: Int) {
        var seen = peak.load(ordering: .relaxed)
        while bytes > seen {
            let (exchanged, original) = peak.compareExchange(expected: seen, desired: bytes, ordering: .relaxed)
            if exchanged { break }
            seen = original
        }
        seen = highWater.load(ordering: .relaxed)
        while bytes > seen {
            let (exchanged, original) = highWater.compareExchange(expected: seen, desired: bytes, ordering: .relaxed)
            if exchanged { break }
            seen = original
        }
    }

    // MARK: the cache's budget

    /// How many bytes the cache may hold now: what twice the high-water mark of the bytes in use
    /// leaves beside them, and with a limit no more than the limit leaves.
    private func room() -> Int {
        let highWater = highWater.load(ordering: .relaxed), inUse = inUse.load(ordering: .relaxed)
        let budget = highWater > Int.max / 2 ? Int.max : 2 * highWater
        let limit = limitBytes.load(ordering: .relaxed)
        return Swift.max(0, Swift.min(budget, limit > 0 ? limit : Int.max) - inUse)
    }

    /// Removes the least recently freed blocks until at most `room` bytes stay cached; returns them
    /// for `unmapAll` once the lock is released. Called with the lock held.
    private func evictLocked(keepingAtMost room: Int) -> [Block] {
        var bytes = cachedBytes.load(ordering: .relaxed)
        guard bytes > room else { return [] }
        var count = 0
        while bytes > room, count < cache.count {
            bytes -= cache[count].size
            count += 1
        }
        let evicted = Array(cache[..<count])
        cache.removeFirst(count)
        cachedBytes.store(bytes, ordering: .relaxed)
        return evicted
    }

    /// Returns cached blocks to the OS until the cache fits its room.
    private func trim() {
        pthread_mutex_lock(mutex)
        let evicted = evictLocked(keepingAtMost: room())
        pthread_mutex_unlock(mutex)
        unmapAll(evicted)
    }

    // MARK: the host's controls

    /// Sets the limit on the bytes in use plus cached (0: none) and returns cached blocks to the OS
    /// as far as the limit needs. Bytes already in use past it stay; allocations fail until they go.
    public func setLimit(_ bytes: Int) {
        limitBytes.store(Swift.max(0, bytes), ordering: .relaxed)
        trim()
    }

    /// Returns every cached block to the OS (torch's `empty_cache`). With `resettingBudget`, the
    /// high-water mark that sets the cache's budget restarts from the bytes now in use.
    public func releaseCached(resettingBudget: Bool = true) {
        pthread_mutex_lock(mutex)
        let evicted = evictLocked(keepingAtMost: 0)
        if resettingBudget { highWater.store(inUse.load(ordering: .relaxed), ordering: .relaxed) }
        pthread_mutex_unlock(mutex)
        unmapAll(evicted)
    }

    /// Restarts `peakBytesInUse` from the bytes now in use.
    public func resetPeak() {
        peak.store(inUse.load(ordering: .relaxed), ordering: .relaxed)
    }

    /// The counters, read together under the lock (small allocations may move `bytesInUse` meanwhile).
    public func stats() -> Stats {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return Stats(bytesInUse: inUse.load(ordering: .relaxed), bytesCached: cachedBytes.load(ordering: .relaxed),
                     peakBytesInUse: peak.load(ordering: .relaxed), limit: limitBytes.load(ordering: .relaxed),
                     highWaterBytesInUse: highWater.load(ordering: .relaxed), cacheHits: hits.load(ordering: .relaxed),
                     osAllocations: maps.load(ordering: .relaxed), osReleases: unmaps.load(ordering: .relaxed),
                     failedAllocations: failures.load(ordering: .relaxed))
    }

    // MARK: the OS

    /// A fresh mapping of `size` bytes (a class size), 2 MiB aligned and advised for huge pages
    /// from `hugeBlock` on; nil when the OS refuses.
    private static func map(_ size: Int) -> UnsafeMutableRawPointer? {
        let huge = size >= hugeBlock
        let (span, overflow) = size.addingReportingOverflow(huge ? hugePage : 0)
        guard !overflow else { return nil }
        guard let mapped = mmap(nil, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              mapped != UnsafeMutableRawPointer(bitPattern: -1) else { return nil }
        guard huge else { return mapped }
        // Keep the 2 MiB-aligned `size` bytes inside the span; give back the rest.
        let address = UInt(bitPattern: mapped)
        let head = Int((UInt(hugePage) &- address % UInt(hugePage)) % UInt(hugePage))
        let block = mapped + head
        if head > 0 { munmap(mapped, head) }
        if span - head - size > 0 { munmap(block + size, span - head - size) }
        madvise(block, size, MADV_HUGEPAGE)
        return block
    }

    private static func unmap(_ block: Block) {
        munmap(block.pointer, block.size)
    }

    private func unmapAll(_ blocks: [Block]) {
        guard !blocks.isEmpty else { return }
        for block in blocks { Self.unmap(block) }
        unmaps.wrappingAdd(blocks.count, ordering: .relaxed)
    }
}

#if SWIFTFUNC_TESTING
extension MemoryPool {
    /// Test-only allocation-failure injection (compiled in only with `-DSWIFTFUNC_TESTING`, as
    /// `make asan-lib` does; C: `swiftfunc_testing_fail_allocation`, `swiftfunc_testing_allocation_count`).
    /// Every call of `allocate` on any pool counts, before the limit, the size classes and the cache
    /// are consulted, so a test sees the same sequence whether a block would come from the OS, malloc
    /// or the cache.
    public enum FailureInjection {
        /// Allocations until the one that fails: n > 0 makes the nth allocation from now fail; 0 or
        /// less: none fails.
        private static let countdown = Atomic<Int>(0)
        /// Allocations made (attempted) since the library was loaded.
        private static let made = Atomic<Int>(0)

        /// Makes the `n`th allocation from now fail with `SF_ERR_OUT_OF_MEMORY` (and only that one);
        /// `n <= 0` disarms.
        public static func failAllocation(_ n: Int) {
            countdown.store(Swift.max(n, 0), ordering: .relaxed)
        }

        /// The number of allocations attempted so far (failed ones included).
        public static var allocationCount: Int { made.load(ordering: .relaxed) }

        /// Counts one allocation; true when it is the one chosen to fail. With several threads
        /// allocating at once exactly one of them gets the countdown to 0; the others run on.
        static func failsNext() -> Bool {
            made.wrappingAdd(1, ordering: .relaxed)
            guard countdown.load(ordering: .relaxed) > 0 else { return false }
            return countdown.wrappingSubtract(1, ordering: .relaxed).newValue == 0
        }
    }
}
#endif
