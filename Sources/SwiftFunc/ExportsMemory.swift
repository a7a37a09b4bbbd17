// Memory exports: the pool's counters and the host's controls over it (MemoryPool in the core).
import CSwiftFuncHeader
import SwiftFuncCore
#if canImport(Glibc)
import Glibc
#endif

/// `struct sf_memory_stats` of the header.
typealias MemoryStatsStruct = CSwiftFuncHeader.sf_memory_stats

@_cdecl("sf_memory_stats")
public func sf_memory_stats(_ out: UnsafeMutableRawPointer?) -> Int32 {
    let op = "memory_stats"
    return Boundary.run(op) {
        guard let out else { throw SwiftFuncError.invalidArgument(op, "out is NULL") }
        // The fields up to `limit` are the first version's; a struct grows only by appending.
        let callerSize = out.loadUnaligned(as: Int.self)
        let field = MemoryLayout<UInt64>.size
        let minimum = MemoryLayout<Int>.size + 4 * field
        guard callerSize >= minimum else {
            throw SwiftFuncError.invalidArgument(op, "out->struct_size is \(UInt(bitPattern: callerSize)); it must be at least "
                + "\(minimum) (set it to sizeof(struct sf_memory_stats), as SF_MEMORY_STATS_INIT does)")
        }
        let stats = MemoryPool.shared.stats()
        var full = MemoryStatsStruct()
        full.bytes_in_use = UInt64(clamping: stats.bytesInUse)
        full.bytes_cached = UInt64(clamping: stats.bytesCached)
        full.peak_bytes_in_use = UInt64(clamping: stats.peakBytesInUse)
        full.limit = UInt64(clamping: stats.limit)
        full.high_water_bytes_in_use = UInt64(clamping: stats.highWaterBytesInUse)
        full.cache_hits = UInt64(clamping: stats.cacheHits)
        full.os_allocations = UInt64(clamping: stats.osAllocations)
        full.os_releases = UInt64(clamping: stats.osReleases)
        full.failed_allocations = UInt64(clamping: stats.failedAllocations)
        // Whole fields that fit in the caller's struct, which may be older (smaller) or newer.
        let filled = Swift.min(callerSize, MemoryLayout<MemoryStatsStruct>.size) / field * field
        full.struct_size = filled
        withUnsafeBytes(of: &full) { bytes in
            if let base = bytes.baseAddress { out.copyMemory(from: base, byteCount: filled) }
        }
    }
}

@_cdecl("sf_set_memory_limit")
public func sf_set_memory_limit(_ bytes: UInt64) -> Int32 {
    // A limit past what an Int counts is no limit in practice.
    MemoryPool.shared.setLimit(Int(clamping: bytes))
    return Status.ok.rawValue
}

@_cdecl("sf_memory_reset_peak")
public func sf_memory_reset_peak() -> Int32 {
    MemoryPool.shared.resetPeak()
    return Status.ok.rawValue
}

@_cdecl("sf_memory_release_cached")
public func sf_memory_release_cached() -> Int32 {
    MemoryPool.shared.releaseCached()
    return Status.ok.rawValue
}
