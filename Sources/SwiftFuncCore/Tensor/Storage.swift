#if canImport(Glibc)
import Glibc
#endif

/// A block of memory that tensors view. It is either allocated by swiftfunc (a block of
/// `MemoryPool.shared`, at least 64-byte aligned, given back to the pool on deinit) or borrowed from
/// a foreign producer such as a DLPack exporter, in which case `release` runs exactly once, when the
/// last tensor viewing it dies.
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
    /// The pool's block size (0 for foreign or empty storage).
    private let blockSize: Int
    /// Set by the kernel that wrote a diagonal square matrix here (`Tensor.isDiagonalMatrix`),
    /// before the storage is shared.
    var holdsDiagonalMatrix = false

    /// Allocates `byteCount` bytes for `op`, zeroed when `zeroed` is set (only for kernels that
    /// accumulate into their result, or results that are zero). Throws `outOfMemory` instead of
    /// trapping when the pool refuses (past the memory limit, or the OS has no memory).
    public init(byteCount: Int, zeroed: Bool = false, op: String) throws {
        self.byteCount = byteCount
        self.isForeign = false
        self.isReadOnly = false
        self.release = nil
        if byteCount == 0 {
            self.base = nil
            self.blockSize = 0
            return
        }
        let block = try MemoryPool.shared.allocate(byteCount: byteCount, zeroed: zeroed, op: op)
        self.base = block.pointer
        self.blockSize = block.size
    }

    /// Wraps foreign memory; `release` runs exactly once when the storage dies.
    public init(foreign base: UnsafeMutableRawPointer?, byteCount: Int, isReadOnly: Bool, release: @escaping () -> Void) {
        self.base = base
        self.byteCount = byteCount
        self.isForeign = true
        self.isReadOnly = isReadOnly
        self.release = release
        self.blockSize = 0
    }

    deinit {
        if let release {
            release()
        } else if let base {
            MemoryPool.shared.free(MemoryPool.Block(pointer: base, size: blockSize))
        }
    }
}
