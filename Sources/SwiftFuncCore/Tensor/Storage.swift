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
        var memory: UnsafeMutableRawPointer?
        guard posix_memalign(&memory, 64, byteCount) == 0, let memory else {
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
        } else {
            free(base)
        }
    }
}
