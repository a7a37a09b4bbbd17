import XCTest
@testable import SwiftFuncCore

final class RandomTests: XCTestCase {
    func testPhiloxKnownAnswers() {
        // Random123's kat_vectors for philox4x32_10.
        let zero = Random.philox((0, 0, 0, 0), key: (0, 0))
        XCTAssertEqual([zero.0, zero.1, zero.2, zero.3], [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8])
        let pi = Random.philox((0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344), key: (0xa409_3822, 0x299f_31d0))
        XCTAssertEqual([pi.0, pi.1, pi.2, pi.3], [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1])
        let ones = Random.philox((.max, .max, .max, .max), key: (.max, .max))
        XCTAssertEqual([ones.0, ones.1, ones.2, ones.3], [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd])
    }

    func testUnitConversionsNeverReachOne() {
        XCTAssertLessThan(Random.unitFloat(.max), 1)
        XCTAssertEqual(Random.unitFloat(0), 0)
        XCTAssertLessThan(Random.unitDouble(.max, .max), 1)
        XCTAssertEqual(Random.unitDouble(0, 0), 0)
        // Box–Muller at the extremes of its inputs stays finite.
        let (a, b) = Random.boxMuller(0x1p-24, 0.999)
        XCTAssertTrue(a.isFinite && b.isFinite)
    }

    func values(_ v: Value) throws -> [Double] { try Ops.doubles(v) }

    func testSameSeedSameValuesDifferentSeedsDiffer() throws {
        for dtype in [DType.float32, .float64] {
            for draw in [Ops.rand, Ops.randn] {
                Ops.manualSeed(42)
                let a = try values(draw([3, 5], dtype)), b = try values(draw([3, 5], dtype))
                Ops.manualSeed(42)
                let c = try values(draw([3, 5], dtype))
                Ops.manualSeed(43)
                let d = try values(draw([3, 5], dtype))
                XCTAssertEqual(a, c)
                XCTAssertNotEqual(a, b, "the counter advances between draws")
                XCTAssertNotEqual(a, d)
                XCTAssertEqual(Set(a).count, a.count, "values are distinct")
            }
        }
    }

    func testDrawsAreConsecutiveBlocksOfOneStream() throws {
        // float32 uses 4 elements per counter: 8 at once equal 4 then 4.
        Ops.manualSeed(7)
        let whole = try values(Ops.rand(shape: [8]))
        Ops.manualSeed(7)
        let first = try values(Ops.rand(shape: [4])), second = try values(Ops.rand(shape: [2, 2]))
        XCTAssertEqual(whole, first + second)
        // A partial block still consumes it: 3 then 4 skips element 3.
        Ops.manualSeed(7)
        let three = try values(Ops.rand(shape: [3])), next = try values(Ops.rand(shape: [4]))
        XCTAssertEqual(three, Array(whole.prefix(3)))
        XCTAssertEqual(next, Array(whole.suffix(4)))
    }

    func testKernelIsAPureFunctionOfItsParams() throws {
        let params = Params.random(shape: [5], dtype: .float64, key: 99, counter: 1234)
        let a = try values(emit(.normal, [], params)), b = try values(emit(.normal, [], params))
        XCTAssertEqual(a, b)
        let other = try values(emit(.normal, [], .random(shape: [5], dtype: .float64, key: 99, counter: 1235)))
        XCTAssertNotEqual(a, other)
        // Element 2 of a float64 draw is block 1's first element.
        let shifted = try values(emit(.normal, [], .random(shape: [3], dtype: .float64, key: 99, counter: 1235)))
        XCTAssertEqual(Array(a[2...]), shifted)
    }

    func testUniformStatistics() throws {
        Ops.manualSeed(2024)
        let n = 100_000
        for dtype in [DType.float32, .float64] {
            let v = try values(Ops.rand(shape: [n], dtype: dtype))
            XCTAssertEqual(v.count, n)
            XCTAssertTrue(v.allSatisfy { $0 >= 0 && $0 < 1 }, "in [0, 1)")
            let mean = v.reduce(0, +) / Double(n)
            let variance = v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n - 1)
            // Standard errors: mean sqrt(1/12/n); variance sqrt((1/80 - 1/144)/n).
            XCTAssertEqual(mean, 0.5, accuracy: 5 * (1.0 / 12 / Double(n)).squareRoot(), "\(dtype)")
            XCTAssertEqual(variance, 1.0 / 12, accuracy: 5 * ((1.0 / 80 - 1.0 / 144) / Double(n)).squareRoot(), "\(dtype)")
        }
    }

    func testNormalStatistics() throws {
        Ops.manualSeed(2025)
        let n = 100_000
        for dtype in [DType.float32, .float64] {
            let v = try values(Ops.randn(shape: [n], dtype: dtype))
            XCTAssertTrue(v.allSatisfy { $0.isFinite })
            let mean = v.reduce(0, +) / Double(n)
            let variance = v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n - 1)
            let fourth = v.reduce(0) { $0 + $1 * $1 * $1 * $1 } / Double(n)
            XCTAssertEqual(mean, 0, accuracy: 5 / Double(n).squareRoot(), "\(dtype)")
            XCTAssertEqual(variance, 1, accuracy: 5 * (2 / Double(n)).squareRoot(), "\(dtype)")
            // Kurtosis 3 (SE sqrt(96/n)): a uniform or mis-scaled transform would fail this.
            XCTAssertEqual(fourth, 3, accuracy: 5 * (96 / Double(n)).squareRoot(), "\(dtype)")
        }
    }

    func testShapesDTypesAndErrors() throws {
        try assertValues(Ops.rand(shape: [0, 3]), [], shape: [0, 3], dtype: .float32)
        XCTAssertEqual(try Ops.randn(shape: [], dtype: .float64).shape, [])
        XCTAssertEqual(try Ops.rand(shape: [2, 3]).dtype, .float32)
        // A failed call does not advance the generator.
        Ops.manualSeed(5)
        let expected = try values(Ops.rand(shape: [4]))
        Ops.manualSeed(5)
        for dtype in [DType.int32, .int64, .bool] {
            assertThrows(.dtype, "dtype must be float32 or float64, got \(dtype)") { try Ops.rand(shape: [4], dtype: dtype) }
            assertThrows(.dtype, "sf_randn: dtype must be float32 or float64") { try Ops.randn(shape: [4], dtype: dtype) }
        }
        assertThrows(.shape, "negative size") { try Ops.rand(shape: [-1]) }
        assertThrows(.shape, "more elements than int64 can count") { try Ops.randn(shape: [1 << 40, 1 << 40]) }
        XCTAssertEqual(try values(Ops.rand(shape: [4])), expected)
        assertThrows(.dtype, "sf_rand: dtype") { try emit(.uniform, [], .random(shape: [2], dtype: .int32, key: 0, counter: 0)) }
    }
}
