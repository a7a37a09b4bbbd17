import XCTest
#if canImport(Glibc)
import Glibc
#endif
@testable import SwiftFuncCore

/// The linear algebra kernels against independent references: products by the naive matmul
/// (A X = B, L Lᵀ = A, A V = V diag(λ)), determinants by cofactor expansion, both dtypes, batched
/// and broadcast, every layout; and the errors for singular, non-positive-definite and ill-shaped input.
final class LinalgTests: XCTestCase {
    /// Row-major n x n matrices with `shift` added on the diagonal (well conditioned for shift ~ n).
    func matrices(_ batch: [Int], _ n: Int, shift: Double = 4, rng: inout TestRandom) -> [Double] {
        var values = randomValues(batch + [n, n], rng: &rng)
        for m in 0..<batch.reduce(1, *) { for i in 0..<n { values[m * n * n + i * n + i] += shift } }
        return values
    }

    /// M Mᵀ + I for random M: symmetric positive-definite.
    func spd(_ batch: [Int], _ n: Int, rng: inout TestRandom) -> [Double] {
        let m = randomValues(batch + [n, n], rng: &rng)
        var mt = m
        for b in 0..<batch.reduce(1, *) { for i in 0..<n { for j in 0..<n { mt[b * n * n + i * n + j] = m[b * n * n + j * n + i] } } }
        var product = naiveMatmul(m, batch + [n, n], mt, batch + [n, n]).values
        for b in 0..<batch.reduce(1, *) { for i in 0..<n { product[b * n * n + i * n + i] += 1 } }
        return product
    }

    func transposed(_ values: [Double], _ shape: [Int]) -> [Double] {
        let r = shape[shape.count - 2], c = shape[shape.count - 1]
        var out = values
        for b in 0..<(values.count / max(1, r * c)) { for i in 0..<r { for j in 0..<c { out[b * r * c + j * r + i] = values[b * r * c + i * c + j] } } }
        return out
    }

    func testSolveSatisfiesTheSystemForEveryLayoutDtypeAndBroadcastBatch() throws {
        var rng = TestRandom(seed: 1)
        for dtype in [DType.float64, .float32] {
            for (aShape, bShape) in [([4, 4], [4, 3]), ([2, 1, 3, 3], [4, 3, 2]), ([2, 3, 3], [3, 1])] {
                let av = matrices(Array(aShape.dropLast(2)), aShape.last!, rng: &rng).map { dtype == .float32 ? Double(Float($0)) : $0 }
                let bv = randomValues(bShape, dtype: dtype, rng: &rng)
                for layout in Layout.allCases {
                    let a = try makeTensor(av, shape: aShape, dtype: dtype, layout: layout)
                    let b = try makeTensor(bv, shape: bShape, dtype: dtype, layout: layout)
                    let x = try Ops.linalgSolve(a, b)
                    let product = naiveMatmul(av, aShape, try Ops.doubles(x), x.shape)
                    let expected = try Ops.doubles(Ops.expand(b, shape: product.shape))
                    try assertValues(Ops.tensor(product.values, shape: product.shape), expected, shape: product.shape, dtype: .float64,
                                     tolerance: dtype == .float32 ? 1e-4 : 1e-11, "A X = B for \(aShape) \(bShape) \(layout) \(dtype)")
                    XCTAssertEqual(x.dtype, dtype)
                }
            }
        }
    }

    func testSolveVectorsAndRightHandedSystems() throws {
        var rng = TestRandom(seed: 2)
        let av = matrices([2], 3, rng: &rng), a = try Ops.tensor(av, shape: [2, 3, 3])
        // A batch of vectors: B has A's shape without its last dim.
        let bv = randomValues([2, 3], rng: &rng)
        let x = try Ops.linalgSolve(a, Ops.tensor(bv, shape: [2, 3]))
        XCTAssertEqual(x.shape, [2, 3])
        let xv = try Ops.doubles(x)
        for m in 0..<2 {
            let product = naiveMatmul(Array(av[(m * 9)..<(m * 9 + 9)]), [3, 3], Array(xv[(m * 3)..<(m * 3 + 3)]), [3])
            try assertValues(Ops.tensor(product.values, shape: [3]), Array(bv[(m * 3)..<(m * 3 + 3)]), shape: [3], dtype: .float64, tolerance: 1e-11)
        }
        // X A = B.
        let cv = randomValues([2, 5, 3], rng: &rng)
        let y = try Ops.linalgSolve(a, Ops.tensor(cv, shape: [2, 5, 3]), left: false)
        let product = naiveMatmul(try Ops.doubles(y), [2, 5, 3], av, [2, 3, 3])
        try assertValues(Ops.tensor(product.values, shape: product.shape), cv, shape: [2, 5, 3], dtype: .float64, tolerance: 1e-11)
    }

    func testSolveTriangularReadsOnlyItsTriangle() throws {
        var rng = TestRandom(seed: 3)
        let n = 4
        let av = matrices([], n, rng: &rng), bv = randomValues([n, 2], rng: &rng)
        for upper in [false, true] {
            for unit in [false, true] {
                // The triangle the solve must use, written out.
                var t = av
                for i in 0..<n { for j in 0..<n where upper ? j < i : j > i { t[i * n + j] = 0 } }
                if unit { for i in 0..<n { t[i * n + i] = 1 } }
                let x = try Ops.solveTriangular(Ops.tensor(av, shape: [n, n]), Ops.tensor(bv, shape: [n, 2]), upper: upper, unitriangular: unit)
                let product = naiveMatmul(t, [n, n], try Ops.doubles(x), [n, 2])
                try assertValues(Ops.tensor(product.values, shape: [n, 2]), bv, shape: [n, 2], dtype: .float64, tolerance: 1e-11,
                                 "upper \(upper) unit \(unit)")
                // X T = C.
                let cv = randomValues([3, n], rng: &rng)
                let y = try Ops.solveTriangular(Ops.tensor(av, shape: [n, n]), Ops.tensor(cv, shape: [3, n]), upper: upper, left: false,
                                                unitriangular: unit)
                let right = naiveMatmul(try Ops.doubles(y), [3, n], t, [n, n])
                try assertValues(Ops.tensor(right.values, shape: [3, n]), cv, shape: [3, n], dtype: .float64, tolerance: 1e-11)
            }
        }
    }

    func testCholeskyFactorsFromTheLowerTriangle() throws {
        var rng = TestRandom(seed: 4)
        for dtype in [DType.float64, .float32] {
            let batch = [2, 3], n = 4
            let av = spd(batch, n, rng: &rng).map { dtype == .float32 ? Double(Float($0)) : $0 }
            // Garbage above the diagonal: only the lower triangle may be read.
            var garbled = av
            for b in 0..<6 { for i in 0..<n { for j in (i + 1)..<n { garbled[b * 16 + i * n + j] = 100 } } }
            for layout in [Layout.contiguous, .transposed] {
                let l = try Ops.cholesky(makeTensor(garbled, shape: batch + [n, n], dtype: dtype, layout: layout))
                let lv = try Ops.doubles(l)
                for b in 0..<6 { for i in 0..<n { for j in (i + 1)..<n { XCTAssertEqual(lv[b * 16 + i * n + j], 0) } } }
                for b in 0..<6 { for i in 0..<n { XCTAssertGreaterThan(lv[b * 16 + i * n + i], 0) } }
                let product = naiveMatmul(lv, batch + [n, n], transposed(lv, batch + [n, n]), batch + [n, n])
                try assertValues(Ops.tensor(product.values, shape: product.shape), av, shape: batch + [n, n], dtype: .float64,
                                 tolerance: dtype == .float32 ? 1e-5 : 1e-12, "L Lᵀ = A \(dtype) \(layout)")
                let u = try Ops.cholesky(makeTensor(garbled, shape: batch + [n, n], dtype: dtype, layout: layout), upper: true)
                try assertValues(u, transposed(lv, batch + [n, n]), shape: batch + [n, n], dtype: dtype)
            }
        }
    }

    func testCholeskySolveAndInverse() throws {
        var rng = TestRandom(seed: 5)
        let n = 3
        let av = spd([2], n, rng: &rng), a = try Ops.tensor(av, shape: [2, n, n])
        let bv = randomValues([2, n, 2], rng: &rng), b = try Ops.tensor(bv, shape: [2, n, 2])
        for upper in [false, true] {
            let x = try Ops.choleskySolve(b, Ops.cholesky(a, upper: upper), upper: upper)
            let product = naiveMatmul(av, [2, n, n], try Ops.doubles(x), [2, n, 2])
            try assertValues(Ops.tensor(product.values, shape: product.shape), bv, shape: [2, n, 2], dtype: .float64, tolerance: 1e-11)
        }
        let inverse = try Ops.inv(a)
        let product = naiveMatmul(av, [2, n, n], try Ops.doubles(inverse), [2, n, n])
        let identity = (0..<2 * n * n).map { ($0 % (n * n)) % (n + 1) == 0 ? 1.0 : 0.0 }
        try assertValues(Ops.tensor(product.values, shape: product.shape), identity, shape: [2, n, n], dtype: .float64, tolerance: 1e-12)
    }

    /// Cofactor expansion along the first row.
    func cofactorDet(_ m: [Double], _ n: Int) -> Double {
        if n == 1 { return m[0] }
        var total = 0.0
        for j in 0..<n {
            var minor: [Double] = []
            for i in 1..<n { for k in 0..<n where k != j { minor.append(m[i * n + k]) } }
            total += (j % 2 == 0 ? 1 : -1) * m[j] * cofactorDet(minor, n - 1)
        }
        return total
    }

    func testDeterminantsAgainstCofactorExpansion() throws {
        var rng = TestRandom(seed: 6)
        for dtype in [DType.float64, .float32] {
            for n in [1, 2, 3, 5] {
                let values = randomValues([3, n, n], dtype: dtype, rng: &rng)
                let expected = (0..<3).map { cofactorDet(Array(values[($0 * n * n)..<(($0 + 1) * n * n)]), n) }
                let a = try makeTensor(values, shape: [3, n, n], dtype: dtype, layout: .transposed)
                let tolerance = dtype == .float32 ? 1e-4 : 1e-11
                try assertValues(Ops.det(a), expected, shape: [3], dtype: dtype, tolerance: tolerance, "det n=\(n)")
                let (sign, logAbs) = try Ops.slogdet(a)
                try assertValues(sign, expected.map { $0 < 0 ? -1 : 1 }, shape: [3], dtype: dtype)
                try assertValues(logAbs, expected.map { referenceLog(Swift.abs($0)) }, shape: [3], dtype: dtype, tolerance: tolerance)
                try assertValues(Ops.logdet(a), expected.map { $0 < 0 ? .nan : referenceLog($0) }, shape: [3], dtype: dtype, tolerance: tolerance)
            }
        }
        // Singular: det 0, sign 0, logabsdet -inf (torch), not an error.
        let singular = try Ops.tensor([1, 2, 2, 4], shape: [2, 2])
        try assertValues(Ops.det(singular), [0], shape: [], dtype: .float64)
        try assertValues(Ops.slogdet(singular).sign, [0], shape: [], dtype: .float64)
        try assertValues(Ops.slogdet(singular).logAbsDet, [-.infinity], shape: [], dtype: .float64)
        // A row swap flips the sign.
        try assertValues(Ops.det(Ops.tensor([0, 1, 1, 0], shape: [2, 2])), [-1], shape: [], dtype: .float64)
        // An empty matrix has determinant 1, as in torch.
        try assertValues(Ops.det(Ops.zeros(shape: [2, 0, 0], dtype: .float64)), [1, 1], shape: [2], dtype: .float64)
    }

    func testEighDecomposesTheLowerTriangle() throws {
        var rng = TestRandom(seed: 7)
        for dtype in [DType.float64, .float32] {
            let n = 5, batch = [2]
            let sym = spd(batch, n, rng: &rng).map { dtype == .float32 ? Double(Float($0)) : $0 }
            for upper in [false, true] {
                // Only the named triangle may be read: garbage in the other.
                var garbled = sym
                for b in 0..<2 { for i in 0..<n { for j in 0..<n where upper ? j < i : j > i { garbled[b * 25 + i * n + j] = -7 } } }
                let a = try Ops.tensor(garbled, shape: batch + [n, n], dtype: dtype)
                let (values, vectors) = try Ops.eigh(a, upper: upper)
                XCTAssertEqual(values.shape, [2, n])
                let lv = try Ops.doubles(values), vv = try Ops.doubles(vectors)
                for b in 0..<2 { for i in 1..<n { XCTAssertLessThanOrEqual(lv[b * n + i - 1], lv[b * n + i]) } }
                // A V = V diag(λ) and Vᵀ V = I.
                let av = naiveMatmul(sym, [2, n, n], vv, [2, n, n]).values
                let scaled = vv.enumerated().map { $1 * lv[($0 / (n * n)) * n + $0 % n] }
                let tolerance = dtype == .float32 ? 1e-4 : 1e-11
                try assertValues(Ops.tensor(av, shape: [2, n, n]), scaled, shape: [2, n, n], dtype: .float64, tolerance: tolerance)
                let gram = naiveMatmul(transposed(vv, [2, n, n]), [2, n, n], vv, [2, n, n]).values
                let identity = (0..<50).map { ($0 % 25) % (n + 1) == 0 ? 1.0 : 0.0 }
                try assertValues(Ops.tensor(gram, shape: [2, n, n]), identity, shape: [2, n, n], dtype: .float64, tolerance: tolerance)
                try assertValues(Ops.eigvalsh(a, upper: upper), lv, shape: [2, n], dtype: dtype)
            }
        }
        // 2 x 2 closed form: [[a, b], [b, c]] has (a + c)/2 ± sqrt(((a - c)/2)² + b²).
        let (a, b, c) = (2.0, 1.5, -1.0)
        let r = ((a - c) / 2 * (a - c) / 2 + b * b).squareRoot()
        try assertValues(Ops.eigvalsh(Ops.tensor([a, b, b, c], shape: [2, 2])), [(a + c) / 2 - r, (a + c) / 2 + r], shape: [2], dtype: .float64)
    }

    func testErrorsNameTheOpAndTheBatchElement() throws {
        let notPD = try Ops.tensor([4, 0, 0, 1, 1, 2, 2, 1], shape: [2, 2, 2])
        assertThrows(.invalidArgument, "linalg_cholesky: the input (batch element [1]) is not positive-definite (the leading minor of order 2") {
            try Ops.cholesky(notPD)
        }
        let singular = try Ops.tensor([1, 0, 0, 1, 1, 2, 2, 4], shape: [2, 2, 2])
        assertThrows(.invalidArgument, "linalg_solve: the matrix (batch element [1]) is singular") {
            try Ops.linalgSolve(singular, Ops.ones(shape: [2, 2, 1], dtype: .float64))
        }
        assertThrows(.invalidArgument, "is singular") { try Ops.inv(Ops.tensor([1, 2, 2, 4], shape: [2, 2])) }
        assertThrows(.shape, "expected square matrices") { try Ops.det(Ops.ones(shape: [2, 3], dtype: .float64)) }
        assertThrows(.shape, "linalg_cholesky: expected square matrices") { try Ops.cholesky(Ops.ones(shape: [3], dtype: .float64)) }
        assertThrows(.shape, "linalg_slogdet: expected square matrices") { try Ops.slogdet(Ops.ones(shape: [2, 3], dtype: .float64)) }
        assertThrows(.shape, "expected square matrices") { try Ops.eigh(Ops.ones(shape: [3], dtype: .float64), upper: true) }
        assertThrows(.shape, "expected square matrices") { try Ops.linalgSolve(Ops.ones(shape: [3], dtype: .float64), Ops.ones(shape: [3], dtype: .float64), left: false) }
        assertThrows(.shape, "B needs 3 rows") { try Ops.linalgSolve(Ops.eye(3, 3, dtype: .float64), Ops.ones(shape: [2, 2], dtype: .float64)) }
        assertThrows(.shape, "cannot be broadcast") {
            try Ops.linalgSolve(Ops.ones(shape: [2, 3, 3], dtype: .float64), Ops.ones(shape: [4, 3, 1], dtype: .float64))
        }
        assertThrows(.dtype, "float") { try Ops.det(Ops.ones(shape: [2, 2], dtype: .int64)) }
        assertThrows(.dtype, "float") { try Ops.linalgSolve(Ops.ones(shape: [2, 2], dtype: .int32), Ops.ones(shape: [2], dtype: .float64)) }
        // Under vmap the example's type is checked: three vectors of 3 are not a 3 x 3 matrix.
        let vectors = makeFunction("det", inputs: 1) { [try Ops.det($0[0])] }
        assertThrows(.shape, "linalg_det: expected square matrices in the last two dims, got shape [3]") {
            try Transforms.vmap(vectors, inDims: [0], outDims: [0])([Ops.ones(shape: [3, 3], dtype: .float64)])
        }
        let eigenvalues = makeFunction("eigvalsh", inputs: 1) { [try emit(.eigvalsh, [$0[0]])] }
        assertThrows(.shape, "linalg_eigh: expected square matrices") {
            try Transforms.vmap(eigenvalues, inDims: [1], outDims: [0])([Ops.ones(shape: [4, 4], dtype: .float64)])
        }
        // Sizes beyond LAPACK's 32-bit integer: a shape error from the type rule, before any allocation.
        let huge = TensorType(shape: [1 << 32, 1 << 32], dtype: .float32)
        XCTAssertThrowsError(try Linalg.squareType("linalg_cholesky")([huge], .none)) { error in
            XCTAssertEqual((error as? SwiftFuncError)?.status, .shape)
            XCTAssertTrue((error as? SwiftFuncError)?.message.contains("LAPACK's 32-bit sizes") ?? false)
        }
    }
}

/// The natural logarithm for references.
func referenceLog(_ x: Double) -> Double { Glibc.log(x) }
