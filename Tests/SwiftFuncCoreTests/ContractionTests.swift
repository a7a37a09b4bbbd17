import XCTest
@testable import SwiftFuncCore
import CKernels

/// torch.matmul written out with plain loops: 1-D operands promoted and the added dims removed,
/// batch dims broadcast by index arithmetic.
func naiveMatmul(_ a: [Double], _ aShape: [Int], _ b: [Double], _ bShape: [Int]) -> (values: [Double], shape: [Int]) {
    let a2 = aShape.count == 1 ? [1] + aShape : aShape
    let b2 = bShape.count == 1 ? bShape + [1] : bShape
    let m = a2[a2.count - 2], k = a2[a2.count - 1], n = b2[b2.count - 1]
    let batchA = Array(a2.dropLast(2)), batchB = Array(b2.dropLast(2))
    let rank = max(batchA.count, batchB.count)
    let padA = [Int](repeating: 1, count: rank - batchA.count) + batchA
    let padB = [Int](repeating: 1, count: rank - batchB.count) + batchB
    let batch = zip(padA, padB).map { max($0, $1) }
    let batchCount = batch.reduce(1, *)
    var out: [Double] = []
    for flat in 0..<batchCount {
        var index = [Int](repeating: 0, count: rank)
        var rest = flat
        for d in stride(from: rank - 1, through: 0, by: -1) { index[d] = rest % batch[d]; rest /= batch[d] }
        var ia = 0, ib = 0
        for d in 0..<rank {
            ia = ia * padA[d] + (padA[d] == 1 ? 0 : index[d])
            ib = ib * padB[d] + (padB[d] == 1 ? 0 : index[d])
        }
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k { s += a[(ia * m + i) * k + p] * b[(ib * k + p) * n + j] }
                out.append(s)
            }
        }
    }
    var shape = batch
    if aShape.count >= 2 { shape.append(m) }
    if bShape.count >= 2 { shape.append(n) }
    return (out, shape)
}

final class ContractionTests: XCTestCase {
    let shapePairs: [([Int], [Int])] = [
        ([4], [4]), ([3, 4], [4, 5]), ([4], [4, 5]), ([3, 4], [4]), ([1, 4], [4, 1]),
        ([2, 3, 4], [4, 5]), ([2, 3, 4], [1, 4, 5]), ([3, 4], [2, 4, 5]), ([2, 1, 3, 4], [5, 4, 2]),
        ([4], [2, 4, 3]), ([2, 3, 4], [4]), ([1, 3, 4], [2, 4, 5]), ([2, 2, 3, 4], [2, 1, 4, 3]),
        // k = 1: batched outer products take the direct loop instead of BLAS.
        ([3, 4, 1], [3, 1, 5]), ([2, 1], [3, 1, 4]), ([3, 1], [1, 2]),
    ]

    func check(_ aShape: [Int], _ bShape: [Int], _ dtypeA: DType, _ dtypeB: DType,
               _ layoutA: Layout, _ layoutB: Layout, rng: inout TestRandom) throws {
        let av = randomValues(aShape, dtype: dtypeA, rng: &rng), bv = randomValues(bShape, dtype: dtypeB, rng: &rng)
        let a = try makeTensor(av, shape: aShape, dtype: dtypeA, layout: layoutA)
        let b = try makeTensor(bv, shape: bShape, dtype: dtypeB, layout: layoutB)
        let expected = naiveMatmul(av, aShape, bv, bShape)
        let dtype = DType.promoteStrong(dtypeA, dtypeB)
        try assertValues(Ops.matmul(a, b), expected.values, shape: expected.shape, dtype: dtype,
                         tolerance: dtype == .float32 ? 1e-4 : 1e-12,
                         "\(aShape) \(layoutA) \(dtypeA) @ \(bShape) \(layoutB) \(dtypeB)")
    }

    func testMatchesNaiveForEveryShapeLayoutAndDType() throws {
        var rng = TestRandom(seed: 1)
        for (aShape, bShape) in shapePairs {
            for layoutA in Layout.allCases {
                for layoutB in Layout.allCases {
                    for dtype in [DType.float32, .float64] {
                        try check(aShape, bShape, dtype, dtype, layoutA, layoutB, rng: &rng)
                    }
                }
            }
        }
    }

    /// A product with a small result and a long contraction is summed from pieces of the
    /// contraction computed on separate threads: the values match the naive sums, with either
    /// layout of the right operand, and the bits do not depend on the thread count.
    func testLongContractionsSplitIntoPieces() throws {
        var rng = TestRandom(seed: 9)
        let (m, n, k) = (16, 16, 1 << 16)
        XCTAssertEqual(Contraction.contractionParts(m: m, n: n, k: k), 2)
        XCTAssertEqual(Contraction.contractionParts(m: 1, n: 1, k: 1 << 24), 8)
        XCTAssertNil(Contraction.contractionParts(m: m, n: n, k: k - 1))
        XCTAssertNil(Contraction.contractionParts(m: 512, n: 512, k: k))
        for layoutB in [Layout.contiguous, .transposed] {
            try check([m, k], [k, n], .float64, .float64, .contiguous, layoutB, rng: &rng)
        }
        let a = try makeTensor(randomValues([m, k], dtype: .float32, rng: &rng), shape: [m, k], dtype: .float32)
        let b = try makeTensor(randomValues([k, n], dtype: .float32, rng: &rng), shape: [k, n], dtype: .float32,
                               layout: .transposed)
        try assertSameBitsOnOneToThreeThreads(a, b, "\(m) x \(k) x \(n)")
    }

    /// a @ b on 1, 2 and 3 threads: the same bits.
    func assertSameBitsOnOneToThreeThreads(_ a: Tensor, _ b: Tensor, _ what: String) throws {
        let saved = Parallel.threadCount
        defer { try? Parallel.setNumThreads(saved, op: "test") }
        var results: [[Double]] = []
        for threads in [1, 2, 3] {
            try Parallel.setNumThreads(threads, op: "test")
            results.append(try Ops.doubles(Ops.matmul(a, b)))
        }
        XCTAssertEqual(results[0], results[1], what)
        XCTAssertEqual(results[0], results[2], what)
    }

    /// Products from 2^21 multiply-adds run as blocks of rows or columns of the result over the
    /// pool's threads: the block count follows the sizes (never the thread count), blocks along the
    /// longer side with either operand transposed match the naive sums, and the bits are the same
    /// on 1, 2 and 3 threads.
    func testLargeProductsSplitIntoBlocks() throws {
        XCTAssertEqual(Contraction.gemmBlocks(m: 127, n: 128, k: 128), 1)
        XCTAssertEqual(Contraction.gemmBlocks(m: 128, n: 128, k: 128), 2)
        XCTAssertEqual(Contraction.gemmBlocks(m: 64, n: 1024, k: 784), 2)
        XCTAssertEqual(Contraction.gemmBlocks(m: 512, n: 512, k: 512), 4)
        XCTAssertEqual(Contraction.gemmBlocks(m: 40, n: 40, k: 1 << 16), 2)  // two tiles: two blocks, not four
        XCTAssertEqual(Contraction.gemmBlocks(m: 20, n: 30, k: 1 << 20), 1)  // too few rows and columns
        var rng = TestRandom(seed: 21)
        // (m, k, n): two blocks of rows; two of columns, not multiples of the tile; four of rows.
        for (m, k, n) in [(300, 100, 70), (33, 200, 1001), (523, 1000, 129)] {
            let blocks = Contraction.gemmBlocks(m: m, n: n, k: k)
            XCTAssertEqual(blocks, m * n * k >= 1 << 26 ? 4 : 2)
            for layoutA in [Layout.contiguous, .transposed] {
                for layoutB in blocks == 4 ? [Layout.transposed] : [Layout.contiguous, .transposed] {
                    try check([m, k], [k, n], .float64, .float64, layoutA, layoutB, rng: &rng)
                    try check([m, k], [k, n], .float32, .float32, layoutA, layoutB, rng: &rng)
                }
            }
            let a = try makeTensor(randomValues([m, k], dtype: .float32, rng: &rng), shape: [m, k], dtype: .float32)
            let b = try makeTensor(randomValues([k, n], dtype: .float32, rng: &rng), shape: [k, n], dtype: .float32)
            try assertSameBitsOnOneToThreeThreads(a, b, "\(m) x \(k) x \(n)")
        }
    }

    /// The AVX2/FMA kernel for a @ b^T with both operands along the contraction (Sources/CKernels),
    /// called directly: sizes around its tiles (4 rows by 3), its vectors (8) and its contraction
    /// blocks (512), rows longer than the contraction (lda > k), non-finite values, every range of
    /// rows giving the same bits as the whole, against float64 sums; and through matmul.
    func testDotProductKernelMatchesNaiveSums() throws {
        var rng = TestRandom(seed: 21)
        guard swiftfunc_kernels_available() != 0 else {
            // Without AVX2/FMA the kernel declines and matmul keeps OpenBLAS (covered above).
            var c = [Float](repeating: 7, count: 1)
            XCTAssertFalse(Contraction.dotProductsByRows(Float.self, m: 1, n: 1, k: 1, a: [1], lda: 1, b: [1], ldb: 1, c: &c))
            XCTAssertEqual(c, [7])
            return
        }
        for (m, n, k) in [(1, 1, 1), (4, 3, 8), (5, 4, 7), (7, 50, 513), (9, 2, 1031), (13, 7, 1024), (3, 5, 4099)] {
            let lda = k + 3, ldb = k + 5
            let a = randomValues([m, lda], rng: &rng).map { Float($0) }, b = randomValues([n, ldb], rng: &rng).map { Float($0) }
            var c = [Float](repeating: .nan, count: m * n)
            XCTAssertTrue(Contraction.dotProductsByRows(Float.self, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: &c))
            for i in 0..<m {
                for j in 0..<n {
                    var sum = 0.0, magnitude = 0.0
                    for p in 0..<k {
                        let term = Double(a[i * lda + p]) * Double(b[j * ldb + p])
                        sum += term
                        magnitude += abs(term)
                    }
                    XCTAssertEqual(Double(c[i * n + j]), sum, accuracy: 1e-6 * magnitude + 1e-30, "[\(m), \(k)] x [\(k), \(n)] at \(i), \(j)")
                }
            }
            // Rows in ranges (as threads take them): the same bits.
            for split in [1, 2, 3] where split < m {
                var pieces = [Float](repeating: .nan, count: m * n)
                for range in [0..<split, split..<m] {
                    a.withUnsafeBufferPointer { pa in
                        pieces.withUnsafeMutableBufferPointer { pc in
                            _ = swiftfunc_sgemm_nt_rows(range.count, n, k, pa.baseAddress! + range.lowerBound * lda, lda, b, ldb,
                                                        pc.baseAddress! + range.lowerBound * n, n)
                        }
                    }
                }
                XCTAssertEqual(pieces.map(\.bitPattern), c.map(\.bitPattern), "rows split at \(split)")
            }
        }
        // inf and NaN reach exactly the outputs whose sums they are in.
        let k = 600
        var a = [Float](repeating: 1, count: 5 * k), b = [Float](repeating: 1, count: 4 * k)
        a[2 * k + 599] = .infinity  // row 2, in the last block's masked end
        b[3 * k + 17] = .nan        // column 3
        var c = [Float](repeating: 0, count: 20)
        XCTAssertTrue(Contraction.dotProductsByRows(Float.self, m: 5, n: 4, k: k, a: a, lda: k, b: b, ldb: k, c: &c))
        for i in 0..<5 {
            for j in 0..<4 {
                let value = c[i * 4 + j]
                if j == 3 { XCTAssertTrue(value.isNaN, "\(i), \(j)") }
                else if i == 2 { XCTAssertEqual(value, .infinity, "\(i), \(j)") }
                else { XCTAssertEqual(value, Float(k), "\(i), \(j)") }
            }
        }
        // Through matmul: a long contraction with a small result and b transposed, odd sizes. The
        // tolerance scales with the sum of the terms' magnitudes (float32 sums of 65K terms).
        for (aShape, n) in [([19, 65539], 17), ([2, 10, 65537], 13)] {
            let k = aShape.last!, rows = aShape.dropLast().reduce(1, *)
            let av = randomValues(aShape, dtype: .float32, rng: &rng), bv = randomValues([k, n], dtype: .float32, rng: &rng)
            XCTAssertNotNil(Contraction.contractionParts(m: rows, n: n, k: k))
            let product = try Ops.doubles(Ops.matmul(makeTensor(av, shape: aShape, dtype: .float32),
                                                     makeTensor(bv, shape: [k, n], dtype: .float32, layout: .transposed)))
            for i in 0..<rows {
                for j in 0..<n {
                    var sum = 0.0, magnitude = 0.0
                    for p in 0..<k {
                        sum += av[i * k + p] * bv[p * n + j]
                        magnitude += abs(av[i * k + p] * bv[p * n + j])
                    }
                    XCTAssertEqual(product[i * n + j], sum, accuracy: 1e-6 * magnitude, "\(aShape) @ [\(k), \(n)] at \(i), \(j)")
                }
            }
        }
    }

    /// The AVX2/FMA kernel for short contractions (Sources/CKernels), called directly: sizes around
    /// its tiles (4 rows by 24 columns), both layouts of A, row strides past the row length,
    /// against float64 sums; each element summed in one order whatever its tile, so a product split
    /// into column ranges gives the same bits; and only inside single-threaded BLAS contexts.
    func testShortContractionKernelMatchesNaiveSums() throws {
        var rng = TestRandom(seed: 22)
        var one: [Float] = [5]
        XCTAssertFalse(Contraction.productWithShortContraction(Float.self, transA: false, m: 1, n: 1, k: 1, a: [1], lda: 1,
                                                               b: [1], ldb: 1, c: &one, ldc: 1), "outside withSingleThreadedBLAS")
        guard swiftfunc_kernels_available() != 0 else { return }
        try Parallel.withSingleThreadedBLAS {
            var zero: [Double] = [0]
            XCTAssertFalse(Contraction.productWithShortContraction(Double.self, transA: false, m: 1, n: 1, k: 1, a: [1], lda: 1,
                                                                   b: [1], ldb: 1, c: &zero, ldc: 1))
            XCTAssertFalse(Contraction.productWithShortContraction(Float.self, transA: false, m: 1, n: 1, k: 65, a: [Float](repeating: 1, count: 65),
                                                                   lda: 65, b: [Float](repeating: 1, count: 65), ldb: 1, c: &one, ldc: 1))
            for (m, n, k) in [(1, 1, 1), (4, 24, 32), (5, 25, 7), (7, 47, 64), (288, 100, 32), (3, 8, 2)] {
                for transA in [false, true] {
                    let lda = (transA ? m : k) + 2, ldb = n + 3, ldc = n + 1
                    let a = randomValues([(transA ? k : m) * lda], rng: &rng).map { Float($0) }
                    let b = randomValues([k * ldb], rng: &rng).map { Float($0) }
                    var c = [Float](repeating: .nan, count: m * ldc)
                    XCTAssertTrue(Contraction.productWithShortContraction(Float.self, transA: transA, m: m, n: n, k: k, a: a, lda: lda,
                                                                          b: b, ldb: ldb, c: &c, ldc: ldc))
                    for i in 0..<m {
                        for j in 0..<n {
                            var sum = 0.0, magnitude = 0.0
                            for p in 0..<k {
                                let term = Double(transA ? a[p * lda + i] : a[i * lda + p]) * Double(b[p * ldb + j])
                                sum += term
                                magnitude += abs(term)
                            }
                            XCTAssertEqual(Double(c[i * ldc + j]), sum, accuracy: 1e-6 * magnitude + 1e-30,
                                           "[\(m), \(k)] x [\(k), \(n)] transA \(transA) at \(i), \(j)")
                        }
                        // Columns past n are not written.
                        if ldc > n { XCTAssertTrue(c[i * ldc + n].isNaN) }
                    }
                    // Columns in two ranges (a chunk's columns split differently): the same bits.
                    let split = n / 2 + 1
                    guard split < n else { continue }
                    var pieces = [Float](repeating: .nan, count: m * ldc)
                    for range in [0..<split, split..<n] {
                        b.withUnsafeBufferPointer { pb in
                            pieces.withUnsafeMutableBufferPointer { pc in
                                _ = Contraction.productWithShortContraction(Float.self, transA: transA, m: m, n: range.count, k: k, a: a, lda: lda,
                                                                            b: pb.baseAddress! + range.lowerBound, ldb: ldb,
                                                                            c: pc.baseAddress! + range.lowerBound, ldc: ldc)
                            }
                        }
                    }
                    XCTAssertEqual(pieces.map(\.bitPattern), c.map(\.bitPattern), "columns split at \(split)")
                }
            }
        }
    }

    func testMixedFloatDTypesComputeInFloat64() throws {
        var rng = TestRandom(seed: 2)
        for (aShape, bShape) in [([3, 4], [4, 5]), ([2, 3, 4], [4]), ([4], [4])] {
            try check(aShape, bShape, .float32, .float64, .transposed, .contiguous, rng: &rng)
            try check(aShape, bShape, .float64, .float32, .contiguous, .strided, rng: &rng)
        }
    }

    func testLargerMatricesUseTransposedAndStridedViewsCorrectly() throws {
        var rng = TestRandom(seed: 3)
        for layoutA in Layout.allCases {
            for layoutB in Layout.allCases {
                try check([3, 33, 17], [17, 29], .float64, .float64, layoutA, layoutB, rng: &rng)
                try check([40, 31], [2, 31, 9], .float32, .float32, layoutA, layoutB, rng: &rng)
            }
        }
    }

    func testBroadcastOperandsWithZeroStrides() throws {
        var rng = TestRandom(seed: 4)
        // a: [3, 4] expanded to [5, 3, 4] (batch stride 0, read without copying); b: one row of 6
        // expanded to [4, 6] (row stride 0, irregular for BLAS, so copied).
        let av = randomValues([3, 4], rng: &rng)
        let aBase = try makeTensor(av, shape: [3, 4])
        let a = aBase.view(type: TensorType(shape: [5, 3, 4], dtype: .float64), strides: [0, 4, 1], offset: 0)
        let rowValues = randomValues([6], rng: &rng)
        let rowBase = try makeTensor(rowValues, shape: [6])
        let b = rowBase.view(type: TensorType(shape: [4, 6], dtype: .float64), strides: [0, 1], offset: 0)
        let bv = (0..<4).flatMap { _ in rowValues }
        let aFull = (0..<5).flatMap { _ in av }
        let expected = naiveMatmul(aFull, [5, 3, 4], bv, [4, 6])
        try assertValues(Ops.matmul(a, b), expected.values, shape: [5, 3, 6], dtype: .float64)
        // Column-broadcast operand (col stride 0) on the right of a batched left.
        let colBase = try makeTensor(Array(rowValues.prefix(4)), shape: [4])
        let c = colBase.view(type: TensorType(shape: [4, 3], dtype: .float64), strides: [1, 0], offset: 0)
        let cv = (0..<4).flatMap { i in [Double](repeating: rowValues[i], count: 3) }
        let expected2 = naiveMatmul(aFull, [5, 3, 4], cv, [4, 3])
        try assertValues(Ops.matmul(a, c), expected2.values, shape: [5, 3, 3], dtype: .float64)
    }

    func testPermutedBatchIsNotFolded() throws {
        var rng = TestRandom(seed: 5)
        // Storage [3, 2, 4] seen as [2, 3, 4] with batch dims swapped: rows are not one even run.
        let storageValues = randomValues([3, 2, 4], rng: &rng)
        let base = try makeTensor(storageValues, shape: [3, 2, 4])
        let a = base.view(type: TensorType(shape: [2, 3, 4], dtype: .float64), strides: [4, 8, 1], offset: 0)
        var av: [Double] = []
        for i in 0..<2 { for j in 0..<3 { for p in 0..<4 { av.append(storageValues[(j * 2 + i) * 4 + p]) } } }
        let bv = randomValues([4, 5], rng: &rng)
        let expected = naiveMatmul(av, [2, 3, 4], bv, [4, 5])
        try assertValues(Ops.matmul(a, makeTensor(bv, shape: [4, 5])), expected.values, shape: [2, 3, 5], dtype: .float64)
    }

    func testZeroSizeDims() throws {
        var rng = TestRandom(seed: 6)
        let cases: [([Int], [Int], [Int])] = [
            ([0, 4], [4, 5], [0, 5]), ([3, 0], [0, 5], [3, 5]), ([3, 4], [4, 0], [3, 0]),
            ([0, 3, 4], [4, 5], [0, 3, 5]), ([0], [0], []), ([2, 3, 0], [0], [2, 3]), ([0], [2, 0, 3], [2, 3]),
            ([2, 1, 3, 4], [0, 4, 2], [2, 0, 3, 2]),
        ]
        for (aShape, bShape, shape) in cases {
            for dtype in [DType.float32, .float64] {
                for layout in Layout.allCases {
                    let a = try makeTensor(randomValues(aShape, dtype: dtype, rng: &rng), shape: aShape, dtype: dtype, layout: layout)
                    let b = try makeTensor(randomValues(bShape, dtype: dtype, rng: &rng), shape: bShape, dtype: dtype, layout: layout)
                    let count = shape.reduce(1, *)
                    try assertValues(Ops.matmul(a, b), [Double](repeating: 0, count: count), shape: shape, dtype: dtype,
                                     "\(aShape) @ \(bShape) \(layout)")
                }
            }
        }
    }

    /// An identity (`eye`) and its products by finite vectors are known diagonal: a matmul with one
    /// scales the other operand instead of a GEMM, with the values of the GEMM (compared with a
    /// product of the same values built without the structure); a non-finite operand or factor
    /// (0 * inf is NaN) takes the GEMM; off-diagonal views and offsets are not diagonal.
    func testDiagonalOperandsScaleInsteadOfMultiplying() throws {
        var rng = TestRandom(seed: 31)
        for dtype in [DType.float32, .float64] {
            let n = 37, k = 5
            let identity = try XCTUnwrap(Ops.eye(n, n, offset: 0, dtype: dtype) as? Tensor)
            XCTAssertTrue(identity.isDiagonalMatrix)
            XCTAssertFalse(try XCTUnwrap(Ops.eye(n, n, offset: 1, dtype: dtype) as? Tensor).isDiagonalMatrix)
            XCTAssertFalse(try XCTUnwrap(Ops.slice(identity, dim: 0, start: 1, step: 1) as? Tensor).isDiagonalMatrix)
            let factor = try makeTensor(randomValues([n], dtype: dtype, rng: &rng), shape: [n], dtype: dtype)
            let column = try makeTensor(randomValues([n, 1], dtype: dtype, rng: &rng), shape: [n, 1], dtype: dtype)
            let scaled = try XCTUnwrap(Ops.mul(Ops.mul(identity, factor), column) as? Tensor)
            XCTAssertTrue(scaled.isDiagonalMatrix)
            // The same values with no structure: a copy through a tensor built from them.
            let plain = try Ops.tensor(try Ops.doubles(scaled), shape: [n, n], dtype: dtype)
            XCTAssertFalse(try XCTUnwrap(plain as? Tensor).isDiagonalMatrix)
            for layout in [Layout.contiguous, .transposed] {
                let other = try makeTensor(randomValues([n, k], dtype: dtype, rng: &rng), shape: [n, k], dtype: dtype, layout: layout)
                let otherT = try makeTensor(randomValues([k, n], dtype: dtype, rng: &rng), shape: [k, n], dtype: dtype, layout: layout)
                for (structured, reference) in [(scaled, plain), (try XCTUnwrap(Ops.transpose(scaled, 0, 1) as? Tensor), try Ops.transpose(plain, 0, 1))] {
                    let tolerance = dtype == .float32 ? 1e-6 : 1e-15
                    try assertValues(Ops.matmul(structured, other), try Ops.doubles(Ops.matmul(reference, other)),
                                     shape: [n, k], dtype: dtype, tolerance: tolerance, "diagonal @ \(layout)")
                    try assertValues(Ops.matmul(otherT, structured), try Ops.doubles(Ops.matmul(otherT, reference)),
                                     shape: [k, n], dtype: dtype, tolerance: tolerance, "\(layout) @ diagonal")
                }
            }
            // Two diagonal factors: a diagonal product.
            XCTAssertTrue(try XCTUnwrap(Ops.matmul(scaled, identity) as? Tensor).isDiagonalMatrix)
            // Non-finite values: NaN where a zero meets an infinity, as the GEMM gives.
            var values = randomValues([n], dtype: dtype, rng: &rng)
            values[3] = .infinity
            let infinite = try makeTensor(values, shape: [n], dtype: dtype)
            XCTAssertFalse(try XCTUnwrap(Ops.mul(identity, infinite) as? Tensor).isDiagonalMatrix)
            var entries = randomValues([n, k], dtype: dtype, rng: &rng)
            entries[2 * k] = .infinity
            let product = try Ops.doubles(Ops.matmul(identity, try makeTensor(entries, shape: [n, k], dtype: dtype)))
            XCTAssertTrue(product[k].isNaN, "row 1 meets the infinity in row 2 with a zero")
            XCTAssertEqual(product[2 * k], .infinity)
        }
    }

    func testDTypeErrorsNameTheDTypes() throws {
        let f = try makeTensor([1, 2, 3, 4], shape: [2, 2], dtype: .float32)
        for dtype in [DType.int32, .int64, .bool] {
            let x = try makeTensor([1, 0, 1, 1], shape: [2, 2], dtype: dtype)
            assertThrows(.dtype, "got \(dtype) and float32") { try Ops.matmul(x, f) }
            assertThrows(.dtype, "got float32 and \(dtype)") { try Ops.matmul(f, x) }
        }
        // The primitive itself insists on one dtype.
        let d = try makeTensor([1, 2, 3, 4], shape: [2, 2], dtype: .float64)
        assertThrows(.dtype, "float32 and float64") { try emit(.matmul, [f, d]) }
    }

    func testShapeErrors() throws {
        let a = try makeTensor([Double](repeating: 1, count: 12), shape: [3, 4])
        let b = try makeTensor([Double](repeating: 1, count: 30), shape: [5, 6])
        assertThrows(.shape, "sf_matmul: shapes [3, 4] and [5, 6] are not compatible") { try Ops.matmul(a, b) }
        let v = try makeTensor([1, 2, 3, 4, 5], shape: [5])
        assertThrows(.shape, "shapes [5] and [3, 4] are not compatible") { try Ops.matmul(v, a) }
        assertThrows(.shape, "shapes [3, 4] and [5] are not compatible") { try Ops.matmul(a, v) }
        let x = try makeTensor([Double](repeating: 1, count: 24), shape: [2, 3, 4])
        let y = try makeTensor([Double](repeating: 1, count: 60), shape: [3, 4, 5])
        assertThrows(.shape, "batch dims of shapes [2, 3, 4] and [3, 4, 5] cannot be broadcast") { try Ops.matmul(x, y) }
        let s = try makeTensor([2], shape: [])
        assertThrows(.shape, "at least 1 dim") { try Ops.matmul(s, v) }
    }

    func testBLASForms() {
        // Row-major, transposed view, vectors and irregular strides.
        XCTAssert(Contraction.MatrixOperand.blasForm(rows: 3, cols: 4, rowStride: 4, colStride: 1)! == (false, 4))
        XCTAssert(Contraction.MatrixOperand.blasForm(rows: 3, cols: 4, rowStride: 9, colStride: 1)! == (false, 9))
        XCTAssert(Contraction.MatrixOperand.blasForm(rows: 3, cols: 4, rowStride: 1, colStride: 3)! == (true, 3))
        XCTAssert(Contraction.MatrixOperand.blasForm(rows: 1, cols: 4, rowStride: 0, colStride: 2)! == (true, 2))
        XCTAssert(Contraction.MatrixOperand.blasForm(rows: 4, cols: 1, rowStride: 2, colStride: 0)! == (false, 2))
        XCTAssertNil(Contraction.MatrixOperand.blasForm(rows: 3, cols: 4, rowStride: 8, colStride: 2))
        XCTAssertNil(Contraction.MatrixOperand.blasForm(rows: 3, cols: 4, rowStride: 4, colStride: -1))
        XCTAssertNil(Contraction.MatrixOperand.blasForm(rows: 3, cols: 4, rowStride: 2, colStride: 1))
        XCTAssertNil(Contraction.MatrixOperand.blasForm(rows: 3, cols: 4, rowStride: 1 << 31, colStride: 1))
    }
}
