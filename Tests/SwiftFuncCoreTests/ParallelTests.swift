import XCTest
@testable import SwiftFuncCore

/// `Parallel.forEach` covers every index exactly once, in chunks of at least the grain, on any
/// thread count, also when nested (the inner call runs serially) and when called from two threads.
final class ParallelTests: XCTestCase {
    /// Runs forEach over `count` and returns how often each index was visited and the chunks seen.
    private func visits(_ count: Int, grain: Int) -> (counts: [Int], chunks: [Range<Int>]) {
        let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: Swift.max(count, 1))
        counts.initialize(repeating: 0)
        defer { counts.deallocate() }
        var chunks: [Range<Int>] = []
        var lock = pthread_mutex_t()
        pthread_mutex_init(&lock, nil)
        Parallel.forEach(count, grain: grain) { range in
            for i in range { counts[i] += 1 }
            pthread_mutex_lock(&lock)
            chunks.append(range)
            pthread_mutex_unlock(&lock)
        }
        return (Array(counts.prefix(count)), chunks.sorted { $0.lowerBound < $1.lowerBound })
    }

    func testEveryIndexOnceForEveryThreadCount() {
        let saved = Parallel.threadCount
        defer { Parallel.threadCount = saved }
        for threads in [1, 2, 3, 4, 8] {
            Parallel.threadCount = threads
            for (count, grain) in [(0, 1), (1, 1), (5, 1), (7, 100), (100, 1), (1000, 64), (1001, 10), (19, 10), (20, 10), (9, 2)] {
                let (counts, chunks) = visits(count, grain: grain)
                XCTAssertEqual(counts, Array(repeating: 1, count: count), "threads \(threads) count \(count) grain \(grain)")
                XCTAssertLessThanOrEqual(chunks.count, threads * Parallel.chunksPerThread)
                XCTAssertEqual(chunks.count > 1, threads > 1 && count >= 2 * grain)
                for chunk in chunks where chunks.count > 1 { XCTAssertGreaterThanOrEqual(chunk.count, grain) }
                XCTAssertLessThanOrEqual((chunks.map(\.count).max() ?? 0) - (chunks.map(\.count).min() ?? 0), 1)
                XCTAssertEqual(chunks.map(\.count).reduce(0, +), count)
            }
        }
    }

    func testNestedCallsRunSeriallyAndCoverEverything() {
        let total = 64 * 64
        let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: total)
        counts.initialize(repeating: 0)
        defer { counts.deallocate() }
        Parallel.forEach(64, grain: 1) { rows in
            for row in rows {
                Parallel.forEach(64, grain: 1) { columns in
                    for column in columns { counts[row * 64 + column] += 1 }
                }
            }
        }
        XCTAssertEqual(Array(counts), Array(repeating: 1, count: total))
    }

    func testTwoCallingThreadsShareThePool() {
        final class Box: @unchecked Sendable { var ok = [false, false] }
        let box = Box()
        var threads = [pthread_t](repeating: pthread_t(), count: 2)
        let contexts = (0..<2).map { index in
            Unmanaged.passRetained(Context { [self] in
                let (counts, _) = self.visits(10_000, grain: 100)
                box.ok[index] = counts == Array(repeating: 1, count: 10_000)
            }).toOpaque()
        }
        for index in 0..<2 {
            XCTAssertEqual(pthread_create(&threads[index], nil, { raw in
                let context = Unmanaged<Context>.fromOpaque(raw!).takeRetainedValue()
                context.body()
                return nil
            }, contexts[index]), 0)
        }
        for thread in threads { pthread_join(thread, nil) }
        XCTAssertEqual(box.ok, [true, true])
    }

    private final class Context {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    /// Inside `withSingleThreadedBLAS` a call that would run on the configured count runs on one
    /// OpenBLAS thread, on this thread only and until the scope ends (nested scopes included).
    func testSingleThreadedBLASScope() throws {
        let saved = Parallel.threadCount
        defer { try? Parallel.setNumThreads(saved, op: "test") }
        try Parallel.setNumThreads(2, op: "test")
        let configured = { Parallel.withBLASThreads { BLASThreads.openBLASCount } }
        XCTAssertEqual(configured(), 2)
        Parallel.withSingleThreadedBLAS {
            XCTAssertEqual(configured(), 1)
            Parallel.withSingleThreadedBLAS { XCTAssertEqual(configured(), 1) }
            XCTAssertEqual(configured(), 1)  // the inner scope restored, not cleared, the flag
            // Another thread is not in the scope: its call runs on the configured count.
            final class Box: @unchecked Sendable { var count = 0 }
            let box = Box()
            var thread = pthread_t()
            let context = Unmanaged.passRetained(Context { box.count = configured() }).toOpaque()
            pthread_create(&thread, nil, { raw in
                let context = Unmanaged<Context>.fromOpaque(raw!).takeRetainedValue()
                context.body()
                return nil
            }, context)
            pthread_join(thread, nil)
            XCTAssertEqual(box.count, 2)
        }
        XCTAssertEqual(configured(), 2)
        // Between calls OpenBLAS is left at the configured count, also after a one-thread call.
        BLASThreads.shared.run(single: true) { XCTAssertEqual(BLASThreads.openBLASCount, 1) }
        XCTAssertEqual(BLASThreads.openBLASCount, 2)
    }
}
