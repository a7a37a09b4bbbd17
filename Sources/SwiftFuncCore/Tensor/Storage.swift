#if canImport(Glibc)
import Glibc
#endif

/// A block of memory that tensors view. It is either allocated by swiftfunc (64-byte aligned and
/// freed on deinit) or borrowed from a foreign producer such as a DLPack exporter, in which case
/// `release` runs exactly once, when the last tensor viewing it dies.
public final class Storage: @unchecked Sendable {
    /// Start of the memory; nil only when the storage holds no bytes.
    public let base: UnsafeMutableRawPointer?
    /// Size of the memory in bytes.
    public let byteCount: Int
    /// True for memory that swiftfunc did not allocate (imported); swiftfunc never writes into it.
    public let isForeign: Bool
    /// True when the producer marked the memory read-only.
    public let isReadOnly: Bool
    private let release: (() -> Void)?

    /// Allocates `byteCount` bytes for `op`, zeroed when `zeroed` is set.
    /// Throws `outOfMemory` instead of trapping when the allocation fails.
    public init(byteCount: Int, zeroed: Bool = false, op: String) throws {
        self.byteCount = byteCount
        self.isForeign = false
        self.isReadOnly = false
        self.release = nil
        if byteCount == 0 {
            self.base = nil
            return
        }
        guard let memory = BlockCache.shared.allocate(byteCount: byteCount) else {
            throw SwiftFuncError.outOfMemory(op, "cannot allocate \(byteCount) bytes")
        }
        if zeroed { memset(memory, 0, byteCount) }
        self.base = memory
    }

    /// Wraps foreign memory; `release` runs exactly once when the storage dies.
    public init(foreign base: UnsafeMutableRawPointer?, byteCount: Int, isReadOnly: Bool, release: @escaping () -> Void) {
        self.base = base
        self.byteCount = byteCount
        self.isForeign = true
        self.isReadOnly = isReadOnly
        self.release = release
    }

    deinit {
        if let release {
            release()
        } else if let base {
            BlockCache.shared.free(base, byteCount: byteCount)
        }
    }
}

/// Keeps a bounded number of recently freed large blocks for reuse. Large blocks come from mmap
/// and go back to the kernel when freed, so a loop that allocates the same big tensors every step
/// (per-sample gradients, Jacobians) would otherwise pay a page fault per 4 KiB on every call.
/// Small blocks go straight to malloc, which already recycles them well.
final class BlockCache: @unchecked Sendable {
    static let shared = BlockCache()

    /// Blocks below this size are not cached.
    private let minimumBlock = 1 << 20
    /// Cached bytes are kept below this bound; the oldest blocks are released first.
    private let capacity = 256 << 20
    private var blocks: [(pointer: UnsafeMutableRawPointer, byteCount: Int)] = []
    private var cachedBytes = 0
    private let mutex: UnsafeMutablePointer<pthread_mutex_t> = {
        let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        return mutex
    }()

    /// A 64-byte aligned block of `byteCount` bytes, or nil when memory is exhausted.
    func allocate(byteCount: Int) -> UnsafeMutableRawPointer? {
        if byteCount >= minimumBlock {
            pthread_mutex_lock(mutex)
            // Most recent first: the likeliest to be hot in cache.
            if let index = blocks.lastIndex(where: { $0.byteCount == byteCount }) {
                let block = blocks.remove(at: index)
                cachedBytes -= block.byteCount
                pthread_mutex_unlock(mutex)
                return block.pointer
            }
            pthread_mutex_unlock(mutex)
        }
        var memory: UnsafeMutableRawPointer?
        guard posix_memalign(&memory, 64, byteCount) == 0 else { return nil }
        return memory
    }

    /// Returns a block obtained from `allocate` with the same `byteCount`.
    func free(_ pointer: UnsafeMutableRawPointer, byteCount: Int) {
        guard byteCount >= minimumBlock, byteCount <= capacity else {
            Glibc.free(pointer)
            return
        }
        pthread_mutex_lock(mutex)
        blocks.append((pointer, byteCount))
        cachedBytes += byteCount
        var evicted: [UnsafeMutableRawPointer] = []
        while cachedBytes > capacity {
            let oldest = blocks.removeFirst()
            cachedBytes -= oldest.byteCount
            evicted.append(oldest.pointer)
        }
        pthread_mutex_unlock(mutex)
        for block in evicted { Glibc.free(block) }
    }
}
