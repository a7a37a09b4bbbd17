import XCTest
@testable import SwiftFuncCore

/// `MemoryPool`: size classes, alignment, reuse, zero-fill of reused blocks, the counters'
/// arithmetic, the cache's budget and the limit. Each test uses a pool of its own, so tensors other
/// tests make (in `MemoryPool.shared`) do not move its counters.
final class MemoryTests: XCTestCase {
    private let mib = 1 << 20

    func testSizeClasses() {
        // Small blocks are their request; large ones round up to 8 classes per doubling, and to
        // multiples of 2 MiB from 4 MiB on.
        let expected: [(Int, Int)] = [
            (1, 1), (64, 64), (mib - 1, mib - 1),
            (mib, mib), (mib + 1, mib + mib / 8), (2 * mib - 1, 2 * mib), (2 * mib + 1, 2 * mib + mib / 4),
            (4 * mib, 4 * mib), (4 * mib + 1, 6 * mib), (8 * mib + 4, 10 * mib), (16 * mib + 1, 18 * mib),
            (32 * mib + 1, 36 * mib), (301_989_888, 288 * mib), (256 * mib + 1, 288 * mib),
        ]
        for (request, size) in expected {
            XCTAssertEqual(MemoryPool.blockSize(for: request), size, "request \(request)")
        }
        XCTAssertNil(MemoryPool.blockSize(for: Int.max))
        XCTAssertNil(MemoryPool.blockSize(for: Int.max - mib))

        // Properties over a sweep: a class holds its request, wastes at most 2 MiB (12.5% from
        // 16 MiB on), is its own class, and is a multiple of 2 MiB from 4 MiB on.
        var request = mib
        while request < 1 << 40 {
            for probe in [request - 1, request, request + 1, request + request / 3, request + 4095] {
                guard let size = MemoryPool.blockSize(for: probe) else { return XCTFail("no class for \(probe)") }
                XCTAssertGreaterThanOrEqual(size, probe)
                XCTAssertEqual(MemoryPool.blockSize(for: size), size, "class of \(probe) is not its own class")
                if probe >= mib { XCTAssertLessThanOrEqual(size - probe, Swift.max(2 * mib, probe / 8), "\(probe)") }
                if size >= MemoryPool.hugeBlock { XCTAssertEqual(size % MemoryPool.hugePage, 0, "\(probe)") }
            }
            request = request * 3 / 2
        }
    }

    func testAlignment() throws {
        let pool = MemoryPool()
        for (bytes, alignment) in [(1, 64), (100, 64), (mib - 1, 64), (mib, 4096), (3 * mib, 4096),
                                   (4 * mib, 2 * mib), (9 * mib + 7, 2 * mib)] {
            let block = try pool.allocate(byteCount: bytes, zeroed: false, op: "test")
            XCTAssertEqual(Int(bitPattern: block.pointer) % alignment, 0, "\(bytes) bytes")
            block.pointer.storeBytes(of: 1, toByteOffset: bytes - 1, as: UInt8.self)  // the whole request is writable
            pool.free(block)
        }
        XCTAssertEqual(pool.stats().bytesInUse, 0)
    }

    func testReuseAndCounters() throws {
        let pool = MemoryPool()
        let small = try pool.allocate(byteCount: 1000, zeroed: false, op: "test")
        XCTAssertEqual(small.size, 1000)
        let first = try pool.allocate(byteCount: 8 * mib + 4, zeroed: false, op: "test")
        XCTAssertEqual(first.size, 10 * mib)
        var stats = pool.stats()
        XCTAssertEqual(stats.bytesInUse, 10 * mib + 1000)
        XCTAssertEqual(stats.peakBytesInUse, 10 * mib + 1000)
        XCTAssertEqual(stats.highWaterBytesInUse, 10 * mib + 1000)
        XCTAssertEqual(stats.osAllocations, 1)
        XCTAssertEqual(stats.bytesCached, 0)

        memset(first.pointer, 0xFF, 8 * mib + 4)
        pool.free(first)
        stats = pool.stats()
        XCTAssertEqual(stats.bytesInUse, 1000)
        XCTAssertEqual(stats.bytesCached, 10 * mib)

        // Any request of the class gets the same block back; zeroed means cleared when reused.
        let second = try pool.allocate(byteCount: 9 * mib, zeroed: true, op: "test")
        XCTAssertEqual(second.pointer, first.pointer)
        XCTAssertEqual(second.size, 10 * mib)
        let bytes = UnsafeRawBufferPointer(start: second.pointer, count: 9 * mib)
        XCTAssertTrue(bytes.allSatisfy { $0 == 0 })
        stats = pool.stats()
        XCTAssertEqual(stats.cacheHits, 1)
        XCTAssertEqual(stats.osAllocations, 1)
        XCTAssertEqual(stats.bytesCached, 0)
        XCTAssertEqual(stats.bytesInUse, 10 * mib + 1000)

        // Another class misses; the most recently freed block of a class is taken first.
        let other = try pool.allocate(byteCount: 12 * mib, zeroed: true, op: "test")
        XCTAssertNotEqual(other.pointer, first.pointer)
        XCTAssertTrue(UnsafeRawBufferPointer(start: other.pointer, count: 12 * mib).allSatisfy { $0 == 0 })  // fresh
        XCTAssertEqual(pool.stats().osAllocations, 2)
        XCTAssertEqual(pool.stats().peakBytesInUse, 22 * mib + 1000)

        pool.free(second)
        pool.free(other)
        pool.free(small)
        stats = pool.stats()
        XCTAssertEqual(stats.bytesInUse, 0)
        XCTAssertEqual(stats.bytesCached, 22 * mib)  // within the budget: twice the high-water mark
        XCTAssertEqual(stats.osReleases, 0)

        pool.resetPeak()
        XCTAssertEqual(pool.stats().peakBytesInUse, 0)
        XCTAssertEqual(pool.stats().highWaterBytesInUse, 22 * mib + 1000)
        pool.releaseCached()
        stats = pool.stats()
        XCTAssertEqual(stats.bytesCached, 0)
        XCTAssertEqual(stats.osReleases, 2)
        XCTAssertEqual(stats.highWaterBytesInUse, 0)
    }

    /// In use plus cached stay within twice the high-water mark of the bytes in use, checked when
    /// large blocks are allocated and freed; the least recently freed blocks go first.
    func testBudgetEvictsTheOldest() throws {
        let pool = MemoryPool()
        let a = try pool.allocate(byteCount: 8 * mib, zeroed: false, op: "test")
        pool.free(a)
        let b = try pool.allocate(byteCount: 6 * mib, zeroed: false, op: "test")  // miss: 14 MiB mapped
        pool.free(b)
        var stats = pool.stats()
        XCTAssertEqual(stats.highWaterBytesInUse, 8 * mib)
        XCTAssertEqual(stats.bytesCached, 14 * mib)  // within 2 x 8 MiB
        XCTAssertEqual(stats.osReleases, 0)
        let c = try pool.allocate(byteCount: 4 * mib, zeroed: false, op: "test")  // 4 + 14 > 16: a's block goes
        stats = pool.stats()
        XCTAssertEqual(stats.bytesCached, 6 * mib)
        XCTAssertEqual(stats.osReleases, 1)
        let again = try pool.allocate(byteCount: 6 * mib, zeroed: false, op: "test")
        XCTAssertEqual(again.pointer, b.pointer)
        let fresh = try pool.allocate(byteCount: 8 * mib, zeroed: false, op: "test")  // a's class: gone, a miss
        stats = pool.stats()
        XCTAssertEqual(stats.cacheHits, 1)
        XCTAssertEqual(stats.osAllocations, 4)
        XCTAssertEqual(stats.highWaterBytesInUse, 18 * mib)
        pool.free(again)
        pool.free(fresh)
        pool.free(c)
        XCTAssertEqual(pool.stats().bytesCached, 18 * mib)
    }

    func testLimit() throws {
        let pool = MemoryPool()
        pool.setLimit(20 * mib)
        let a = try pool.allocate(byteCount: 12 * mib, zeroed: false, op: "test")
        let before = pool.stats()
        XCTAssertThrowsError(try pool.allocate(byteCount: 10 * mib, zeroed: false, op: "conv2d")) { error in
            guard let error = error as? SwiftFuncError else { return XCTFail("\(error)") }
            XCTAssertEqual(error.status, .outOfMemory)
            XCTAssertTrue(error.message.hasPrefix("sf_conv2d: allocating 10485760 bytes"), error.message)
            XCTAssertTrue(error.message.contains("memory limit of 20971520 bytes"), error.message)
        }
        XCTAssertThrowsError(try pool.allocate(byteCount: 8 * mib + 1, zeroed: false, op: "test"))  // 10 MiB class
        var after = pool.stats()
        XCTAssertEqual(after.failedAllocations, before.failedAllocations + 2)
        after.failedAllocations = before.failedAllocations
        XCTAssertEqual(after, before)

        // Exactly up to the limit is allowed; small blocks count too.
        let b = try pool.allocate(byteCount: 8 * mib, zeroed: false, op: "test")
        XCTAssertThrowsError(try pool.allocate(byteCount: 1, zeroed: false, op: "test"))
        pool.free(b)
        XCTAssertEqual(pool.stats().bytesCached, 8 * mib)

        // A request that fits once the cache is gone gets the room: the cached block goes to the OS.
        let small = try pool.allocate(byteCount: 1000, zeroed: false, op: "test")
        after = pool.stats()
        XCTAssertEqual(after.bytesCached, 0)
        XCTAssertEqual(after.osReleases, 1)
        XCTAssertLessThanOrEqual(after.bytesInUse + after.bytesCached, 20 * mib)
        pool.free(small)
        pool.free(a)
        XCTAssertEqual(pool.stats().bytesCached, 12 * mib)

        // Lowering the limit trims the cache at once; 0 removes the limit.
        pool.setLimit(4 * mib)
        XCTAssertEqual(pool.stats().bytesCached, 0)
        pool.setLimit(0)
        let big = try pool.allocate(byteCount: 64 * mib, zeroed: false, op: "test")
        pool.free(big)
        XCTAssertEqual(pool.stats().limit, 0)
    }

    /// Blocks made and freed on several threads: the counters balance and no block is handed out twice.
    func testThreads() {
        let pool = MemoryPool()
        let saved = Parallel.threadCount
        Parallel.threadCount = 4
        defer { Parallel.threadCount = saved }
        final class Failures: @unchecked Sendable { var count = 0; var mutex = pthread_mutex_t() }
        let failures = Failures()
        pthread_mutex_init(&failures.mutex, nil)
        Parallel.forEach(64, grain: 1) { range in
            for i in range {
                let sizes = [64, 5000, 2 * self.mib + 7, 6 * self.mib]
                var blocks: [MemoryPool.Block] = []
                for (k, size) in sizes.enumerated() {
                    guard let block = try? pool.allocate(byteCount: size, zeroed: false, op: "test") else { continue }
                    memset(block.pointer, Int32(i &+ k) & 0xFF, size)
                    blocks.append(block)
                }
                for (k, block) in blocks.enumerated() {
                    let expected = UInt8(truncatingIfNeeded: i &+ k)
                    let size = sizes[k]
                    // Every 4 KiB and the last byte (a debug build reads bytes slowly).
                    let bytes = UnsafeRawBufferPointer(start: block.pointer, count: size)
                    if !(stride(from: 0, to: size, by: 4096).allSatisfy { bytes[$0] == expected } && bytes[size - 1] == expected) {
                        pthread_mutex_lock(&failures.mutex)
                        failures.count += 1
                        pthread_mutex_unlock(&failures.mutex)
                    }
                    pool.free(block)
                }
            }
        }
        XCTAssertEqual(failures.count, 0)
        let stats = pool.stats()
        XCTAssertEqual(stats.bytesInUse, 0)
        XCTAssertLessThanOrEqual(stats.bytesCached, 2 * stats.highWaterBytesInUse)
        XCTAssertEqual(stats.failedAllocations, 0)
    }

    /// Tensors come from the shared pool and give their blocks back; zeros from a reused block are zeros.
    func testTensorsUseTheSharedPool() throws {
        let shape = [3 * mib / 4]  // 3 MiB of float32
        let hitsBefore = MemoryPool.shared.stats().cacheHits
        let inUseBefore = MemoryPool.shared.stats().bytesInUse
        do {
            let ones = try XCTUnwrap(try Ops.ones(shape: shape) as? Tensor)
            XCTAssertEqual(MemoryPool.shared.stats().bytesInUse, inUseBefore + 3 * mib)
            XCTAssertTrue(UnsafeBufferPointer(start: ones.elements(as: Float.self), count: ones.count).allSatisfy { $0 == 1 })
        }
        XCTAssertEqual(MemoryPool.shared.stats().bytesInUse, inUseBefore)
        let zeros = try XCTUnwrap(try Ops.zeros(shape: shape) as? Tensor)
        XCTAssertGreaterThan(MemoryPool.shared.stats().cacheHits, hitsBefore)
        XCTAssertTrue(UnsafeBufferPointer(start: zeros.elements(as: Float.self), count: zeros.count).allSatisfy { $0 == 0 })
    }
}
