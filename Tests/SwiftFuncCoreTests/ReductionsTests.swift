import XCTest
@testable import SwiftFuncCore

private enum ReductionKind: CaseIterable { case sum, prod, amax, amin, argmax, argmin }

/// The naive reference: the values of each output in row-major order of the reduced dims, and the
/// reduction of each group by plain loops.
private func reference(_ kind: ReductionKind, _ values: [Double], shape: [Int], dims: Set<Int>, dtype: DType) -> [Double] {
    let kept = (0..<shape.count).filter { !dims.contains($0) }
    let outShape = kept.map { shape[$0] }
    var groups = [[Double]](repeating: [], count: outShape.reduce(1, *))
    for flat in 0..<values.count {
        let index = unravel(flat, shape)
        groups[ravel(kept.map { index[$0] }, outShape)].append(values[flat])
    }
    return groups.map { group in
        switch kind {
        case .sum:
            if dtype.isFloatingPoint { return group.reduce(0, +) }
            return Double(group.reduce(Int64(0)) { $0 &+ Int64($1) })
        case .prod:
            if dtype.isFloatingPoint { return group.reduce(1, *) }
            return Double(group.reduce(Int64(1)) { $0 &* Int64($1) })
        case .amax, .amin, .argmax, .argmin:
            var best = 0
            for i in group.indices {
                if group[best].isNaN { break }
                if group[i].isNaN { best = i; break }
                if kind == .amax || kind == .argmax ? group[i] > group[best] : group[i] < group[best] { best = i }
            }
            return kind == .amax || kind == .amin ? group[best] : Double(best)
        }
    }
}

private func apply(_ kind: ReductionKind, _ x: Value, dims: [Int]?, keepdim: Bool) throws -> Value {
    switch kind {
    case .sum: return try Ops.sum(x, dims: dims, keepdim: keepdim)
    case .prod: return try Ops.prod(x, dims: dims, keepdim: keepdim)
    case .amax: return try Ops.amax(x, dims: dims, keepdim: keepdim)
    case .amin: return try Ops.amin(x, dims: dims, keepdim: keepdim)
    case .argmax: return try Ops.argmax(x, dims: dims, keepdim: keepdim)
    case .argmin: return try Ops.argmin(x, dims: dims, keepdim: keepdim)
    }
}

final class ReductionsTests: XCTestCase {
    /// Dim lists to try for a rank, written with positive, negative and unsorted entries.
    private func dimChoices(rank: Int) -> [[Int]?] {
        if rank == 0 { return [nil, [], [0], [-1]] }
        var choices: [[Int]?] = [nil, [], Array(0..<rank).reversed()]
        for d in 0..<rank { choices.append([d]); choices.append([d - rank]) }
        if rank >= 2 {
            choices.append([rank - 1, 0])
            choices.append([-1, -2])
        }
        if rank >= 3 { choices.append([0, 2]) }
        return choices
    }

    func testAllReductionsMatchReference() throws {
        var rng = TestRandom(seed: 1)
        let shapes: [[Int]] = [[], [1], [5], [3, 4], [2, 0, 3], [2, 3, 4], [3, 1, 5, 2], [0]]
        for kind in ReductionKind.allCases {
            for dtype in DType.allCases {
                for shape in shapes {
                    let range: (Double, Double) = kind == .prod ? (dtype.isFloatingPoint ? (0.5, 1.5) : (-2, 3)) : (-3, 3)
                    let values = randomValues(shape, dtype: dtype, in: range, rng: &rng)
                    for dims in dimChoices(rank: shape.count) {
                        let normalized = Set((dims ?? []).isEmpty ? Array(0..<shape.count) : dims!.map { ($0 + Swift.max(shape.count, 1)) % Swift.max(shape.count, 1) }.filter { $0 < shape.count })
                        let emptyReduction = normalized.contains { shape[$0] == 0 }
                        for keepdim in [false, true] {
                            var firstLayout: [Double]?
                            for layout in Layout.allCases {
                                let x = try makeTensor(values, shape: shape, dtype: dtype, layout: layout)
                                let what = "\(kind) \(dtype) \(shape) dims \(String(describing: dims)) keepdim \(keepdim) \(layout)"
                                if emptyReduction && [.amax, .amin, .argmax, .argmin].contains(kind) {
                                    assertThrows(.shape, "of size 0") { try apply(kind, x, dims: dims, keepdim: keepdim) }
                                    continue
                                }
                                let result = try apply(kind, x, dims: dims, keepdim: keepdim)
                                let expectedShape = shape.indices.compactMap { normalized.contains($0) ? (keepdim ? 1 : nil) : shape[$0] }
                                let expectedDType: DType
                                switch kind {
                                case .sum, .prod: expectedDType = dtype.isFloatingPoint ? dtype : .int64
                                case .amax, .amin: expectedDType = dtype
                                case .argmax, .argmin: expectedDType = .int64
                                }
                                let expected = reference(kind, values, shape: shape, dims: normalized, dtype: dtype)
                                try assertValues(result, expected, shape: expectedShape, dtype: expectedDType, what)
                                // Every layout must give bit-identical results (same summation order).
                                let actual = try Ops.doubles(result)
                                if let firstLayout { XCTAssertEqual(actual, firstLayout, what) } else { firstLayout = actual }
                            }
                        }
                    }
                }
            }
        }
    }

    func testLongRowsAndColumnsMatchReference() throws {
        // Long enough to run through several summation blocks, reduced along rows and columns;
        // rows and columns take different kernels, which must agree bit for bit.
        var rng = TestRandom(seed: 2)
        for shape in [[3, 1000], [1000, 3], [260, 2, 130], [11, 300], [9, 2, 260]] {
            for dtype in [DType.float32, .float64] {
                let values = randomValues(shape, dtype: dtype, rng: &rng)
                for dims in [[1], [0], [0, 1], [-1, 0]] {
                    let normalized = Set(dims.map { ($0 + shape.count) % shape.count })
                    let outShape = shape.indices.filter { !normalized.contains($0) }.map { shape[$0] }
                    let expectedSum = reference(.sum, values, shape: shape, dims: normalized, dtype: dtype)
                    let expectedArgmax = reference(.argmax, values, shape: shape, dims: normalized, dtype: dtype)
                    var firstLayout: [Double]?
                    for layout in Layout.allCases {
                        let x = try makeTensor(values, shape: shape, dtype: dtype, layout: layout)
                        let what = "\(shape) \(dtype) \(layout) \(dims)"
                        let sum = try Ops.sum(x, dims: dims)
                        try assertValues(sum, expectedSum,
                                         shape: outShape, dtype: dtype, tolerance: dtype == .float32 ? 1e-6 : 1e-12, what)
                        let actual = try Ops.doubles(sum)
                        if let firstLayout { XCTAssertEqual(actual, firstLayout, what) } else { firstLayout = actual }
                        try assertValues(try Ops.argmax(x, dims: dims), expectedArgmax, shape: outShape, dtype: .int64, what)
                    }
                }
            }
        }
    }

    func testColumnSumsTakeTheirOwnKernel() {
        // The bit-identity checks above compare it with the row kernel only if both really run.
        XCTAssertTrue(ReductionPlan(shape: [1000, 3], strides: [3, 1], reduced: [0]).suitsColumnSum)
        XCTAssertTrue(ReductionPlan(shape: [260, 2, 130], strides: [260, 130, 1], reduced: [0]).suitsColumnSum)
        XCTAssertFalse(ReductionPlan(shape: [1000, 3], strides: [1, 1000], reduced: [0]).suitsColumnSum)
        XCTAssertFalse(ReductionPlan(shape: [3, 1000], strides: [1000, 1], reduced: [1]).suitsColumnSum)
        // Four groups at a time: rows of [11, 300] (two quads and a partial one; blocks of 128, 128,
        // 44), contiguous or strided, and [9, 2, 260]'s (on up to 9 threads).
        XCTAssertTrue(ReductionPlan(shape: [11, 300], strides: [300, 1], reduced: [1]).suitsFourRowSums)
        XCTAssertTrue(ReductionPlan(shape: [11, 300], strides: [600, 2], reduced: [1]).suitsFourRowSums)
        XCTAssertTrue(ReductionPlan(shape: [9, 2, 260], strides: [520, 260, 1], reduced: [2]).suitsFourRowSums)
        XCTAssertFalse(ReductionPlan(shape: [3, 1000], strides: [1000, 1], reduced: [1]).suitsFourRowSums)
    }

    func testFloat32SumIsAccurate() throws {
        // 2^20 copies of 0.1f: a float32 running sum drifts by about 1%; the exact sum rounded to
        // float32 is what the Double accumulation gives.
        let n = 1 << 20
        let x = try Ops.tensor([Double](repeating: Double(Float(0.1)), count: n), shape: [n], dtype: .float32)
        let exact = Float(Double(Float(0.1)) * Double(n))
        XCTAssertEqual(try Ops.doubles(try Ops.sum(x)), [Double(exact)])
        // float64: pairwise blocks keep the error near one rounding (a running sum is off by ~1e-11).
        let y = try Ops.tensor([Double](repeating: 0.1, count: n), shape: [n], dtype: .float64)
        let total = try Ops.doubles(try Ops.sum(y))[0]
        XCTAssertLessThan(Swift.abs(total - 0.1 * Double(n)) / (0.1 * Double(n)), 1e-14)
    }

    func testNaNPropagatesAndCountsAsExtreme() throws {
        let nan = Double.nan
        let values = [1, nan, 3, nan, 2, 5, -1, 0, 4]
        for dtype in [DType.float32, .float64] {
            for layout in Layout.allCases {
                let x = try makeTensor(values, shape: [3, 3], dtype: dtype, layout: layout)
                try assertValues(try Ops.amax(x, dims: [1]), [nan, nan, 4], shape: [3], dtype: dtype)
                try assertValues(try Ops.amin(x, dims: [1]), [nan, nan, -1], shape: [3], dtype: dtype)
                try assertValues(try Ops.argmax(x, dims: [1]), [1, 0, 2], shape: [3], dtype: .int64)
                try assertValues(try Ops.argmin(x, dims: [0]), [1, 0, 0], shape: [3], dtype: .int64)
                try assertValues(try Ops.argmax(x), [1], shape: [], dtype: .int64)
                try assertValues(try Ops.sum(x, dims: [0]), [nan, nan, 12], shape: [3], dtype: dtype)
            }
        }
    }

    func testArgmaxOverSeveralDimsIsRowMajorWithinReducedDims() throws {
        // x[i, j, k] with the maximum of each j at (i, k) = (1, 2): index 1 * 3 + 2 = 5.
        var values = [Double](repeating: 0, count: 2 * 2 * 3)
        values[ravel([1, 0, 2], [2, 2, 3])] = 7
        values[ravel([1, 1, 2], [2, 2, 3])] = 7
        values[ravel([0, 1, 0], [2, 2, 3])] = 7 // first in row-major order for j = 1
        let x = try makeTensor(values, shape: [2, 2, 3])
        try assertValues(try Ops.argmax(x, dims: [2, 0], keepdim: true), [5, 0], shape: [1, 2, 1], dtype: .int64)
        try assertValues(try Ops.amax(x, dims: [0, 2], keepdim: false), [7, 7], shape: [2], dtype: .float64)
    }

    func testIntegerSumsWrapAndPromote() throws {
        let big = Double(Int32.max)
        let x = try makeTensor([big, big, 1], shape: [3], dtype: .int32)
        try assertValues(try Ops.sum(x), [2 * big + 1], shape: [], dtype: .int64)
        let b = try makeTensor([1, 0, 1, 1], shape: [4], dtype: .bool)
        try assertValues(try Ops.sum(b), [3], shape: [], dtype: .int64)
        try assertValues(try Ops.prod(b), [0], shape: [], dtype: .int64)
        try assertValues(try Ops.amax(b), [1], shape: [], dtype: .bool)
        // int64 products wrap as in torch (2^62 * 4 = 2^64 = 0 mod 2^64).
        let w = try Ops.tensor([Double(1 << 62), 4], shape: [2], dtype: .int64)
        try assertValues(try Ops.prod(w), [0], shape: [], dtype: .int64)
    }

    func testEmptyReductionsGiveIdentities() throws {
        let x = try makeTensor([], shape: [2, 0])
        try assertValues(try Ops.sum(x, dims: [1]), [0, 0], shape: [2], dtype: .float64)
        try assertValues(try Ops.prod(x, dims: [1], keepdim: true), [1, 1], shape: [2, 1], dtype: .float64)
        try assertValues(try Ops.amax(x, dims: [0]), [], shape: [0], dtype: .float64)
        assertThrows(.shape, "dim 1 of size 0") { try Ops.amax(x, dims: [1]) }
        assertThrows(.shape, "of size 0") { try Ops.argmin(x) }
    }

    func testErrors() throws {
        let x = try makeTensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        assertThrows(.invalidArgument, "sf_sum: dim 2 is out of range for a tensor of rank 2") { try Ops.sum(x, dims: [2]) }
        assertThrows(.invalidArgument, "dim -3 is out of range") { try Ops.amax(x, dims: [-3]) }
        assertThrows(.invalidArgument, "sf_prod: dim -2 appears more than once") { try Ops.prod(x, dims: [0, -2]) }
        let s = try makeTensor([3], shape: [])
        assertThrows(.invalidArgument, "sf_argmax: dim 1 is out of range") { try Ops.argmax(s, dims: [1]) }
        try assertValues(try Ops.argmax(s, dims: [-1]), [0], shape: [], dtype: .int64)
        try assertValues(try Ops.sum(s, dims: [0], keepdim: true), [3], shape: [], dtype: .float64)
        // The rules check their params too, for callers that emit directly.
        assertThrows(.internal, "not sorted") { try emit(.sum, [x], .reduction(dims: [1, 0], keepdim: false)) }
    }
}
