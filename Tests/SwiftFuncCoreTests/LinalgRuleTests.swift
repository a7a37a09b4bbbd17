import XCTest
@testable import SwiftFuncCore

/// The linear algebra primitives' transform rules through RuleChecks: JVP and VJP against float64
/// central differences at orders 1 and 2, vmap against a loop. Inputs are mapped into each op's
/// domain inside the checked function (A + 5I for solves, M Mᵀ + 3I for cholesky, M + Mᵀ for
/// eigh), so that the random points RuleChecks draws stay valid.
final class LinalgRuleTests: XCTestCase {
    func shifted(_ a: Value, _ shift: Double = 5) throws -> Value {
        try Ops.add(a, Ops.mul(Ops.eye(a.shape.last!, a.shape.last!, dtype: .float64), Ops.scalar(shift)))
    }

    func positiveDefinite(_ m: Value) throws -> Value {
        try shifted(Ops.matmul(m, Ops.transpose(m, -1, -2)), 3)
    }

    func symmetric(_ m: Value) throws -> Value { try Ops.add(m, Ops.transpose(m, -1, -2)) }

    func checks(rng: inout TestRandom) throws -> [RuleCheck] {
        func input(_ shape: [Int]) throws -> Tensor { try randomTensor(shape, rng: &rng) }
        var checks: [RuleCheck] = []
        for (a, b) in [([3, 3], [3, 2]), ([2, 3, 3], [3, 2]), ([3, 3], [2, 3, 2]), ([2, 1, 3, 3], [2, 3, 1]), ([3, 3], [3])] {
            checks.append(RuleCheck(name: "solve \(a) \(b)", body: { try Ops.linalgSolve(self.shifted($0[0]), $0[1]) },
                                    inputs: [try input(a), try input(b)]))
        }
        checks.append(RuleCheck(name: "solve left=false", body: { try Ops.linalgSolve(self.shifted($0[0]), $0[1], left: false) },
                                inputs: [try input([2, 3, 3]), try input([4, 3])]))
        for upper in [false, true] {
            for unit in [false, true] {
                checks.append(RuleCheck(name: "solve_triangular upper \(upper) unit \(unit)",
                                        body: { try Ops.solveTriangular(self.shifted($0[0]), $0[1], upper: upper, unitriangular: unit) },
                                        inputs: [try input([2, 3, 3]), try input([3, 2])]))
            }
            checks.append(RuleCheck(name: "solve_triangular left=false upper \(upper)",
                                    body: { try Ops.solveTriangular(self.shifted($0[0]), $0[1], upper: upper, left: false) },
                                    inputs: [try input([3, 3]), try input([2, 4, 3])]))
            checks.append(RuleCheck(name: "cholesky upper \(upper)", body: { try Ops.cholesky(self.positiveDefinite($0[0]), upper: upper) },
                                    inputs: [try input([2, 3, 3])]))
            checks.append(RuleCheck(name: "cholesky_solve upper \(upper)",
                                    body: { try Ops.choleskySolve($0[1], Ops.cholesky(self.positiveDefinite($0[0]), upper: upper), upper: upper) },
                                    inputs: [try input([3, 3]), try input([2, 3, 2])]))
            checks.append(RuleCheck(name: "eigvalsh upper \(upper)", body: { try Ops.eigvalsh(self.symmetric($0[0]), upper: upper) },
                                    inputs: [try input([2, 4, 4])]))
            checks.append(RuleCheck(name: "eigh vectors upper \(upper)", body: { try Ops.eigh(self.symmetric($0[0]), upper: upper).eigenvectors },
                                    inputs: [try input([2, 4, 4])], tolerance: 1e-5))
        }
        // The lower triangle alone, not symmetrized first: the rules follow the kernel's reading.
        checks.append(RuleCheck(name: "cholesky of the lower triangle", body: { try Ops.cholesky(self.shifted($0[0], 8)) },
                                inputs: [try input([3, 3])]))
        checks.append(RuleCheck(name: "eigh of the lower triangle", body: { try Ops.eigh($0[0]).eigenvalues }, inputs: [try input([4, 4])]))
        checks.append(RuleCheck(name: "inv", body: { try Ops.inv(self.shifted($0[0])) }, inputs: [try input([2, 3, 3])]))
        checks.append(RuleCheck(name: "det", body: { try Ops.det($0[0]) }, inputs: [try input([2, 3, 3])]))
        checks.append(RuleCheck(name: "slogdet", body: { try Ops.slogdet($0[0]).logAbsDet }, inputs: [try input([2, 3, 3])]))
        checks.append(RuleCheck(name: "slogdet sign times logabsdet", body: {
            let (sign, logAbs) = try Ops.slogdet($0[0])
            return try Ops.mul(sign, logAbs)
        }, inputs: [try input([3, 3])]))
        checks.append(RuleCheck(name: "logdet", body: { try Ops.logdet(self.positiveDefinite($0[0])) }, inputs: [try input([2, 3, 3])]))
        for shape in [[2, 3, 3], [4, 2], [2, 4]] {
            checks.append(RuleCheck(name: "svdvals \(shape)", body: { try Ops.svdvals($0[0]) }, inputs: [try input(shape)]))
            // u₁ v₁ᵀ and U Vh do not depend on the signs LAPACK picks.
            checks.append(RuleCheck(name: "svd vectors \(shape)", body: {
                let (u, _, vh) = try Ops.svd($0[0], fullMatrices: false)
                let first = try Ops.matmul(Ops.slice(u, dim: -1, start: 0, stop: 1), Ops.slice(vh, dim: -2, start: 0, stop: 1))
                return try Ops.add(first, Ops.matmul(u, vh))
            }, inputs: [try input(shape)], tolerance: 1e-5))
            checks.append(RuleCheck(name: "pinv \(shape)", body: { try Ops.pinv($0[0]) }, inputs: [try input(shape)], tolerance: 1e-5))
        }
        checks.append(RuleCheck(name: "matrix_norm nuc", body: { try Ops.matrixNorm($0[0], ord: .nuclear) }, inputs: [try input([2, 3, 4])]))
        for shape in [[3, 3], [2, 4, 2]] {
            checks.append(RuleCheck(name: "qr Q \(shape)", body: { try Ops.qr($0[0]).q }, inputs: [try input(shape)], tolerance: 1e-5))
            checks.append(RuleCheck(name: "qr R \(shape)", body: { try Ops.qr($0[0]).r }, inputs: [try input(shape)], tolerance: 1e-5))
        }
        checks.append(RuleCheck(name: "lstsq tall", body: { try Ops.lstsq($0[0], $0[1]).solution },
                                inputs: [try input([2, 4, 2]), try input([4, 3])], tolerance: 1e-5))
        checks.append(RuleCheck(name: "lstsq wide", body: { try Ops.lstsq($0[0], $0[1]).solution },
                                inputs: [try input([2, 4]), try input([2, 2])], tolerance: 1e-5))
        for adjoint in [false, true] {
            // Any matrix with a large diagonal is a valid LU; pivots 3, 3, 3 swap each row with the last.
            checks.append(RuleCheck(name: "lu_solve adjoint \(adjoint)", body: {
                let pivots = try Ops.cast(Ops.full(shape: [3], value: 3, dtype: .float64), to: .int32)
                return try Ops.luSolve(self.shifted($0[0]), pivots, $0[1], adjoint: adjoint)
            }, inputs: [try input([3, 3]), try input([2, 3, 2])]))
        }
        return checks
    }

    func testDerivativesAgainstFiniteDifferences() throws {
        var rng = TestRandom(seed: 11)
        for check in try checks(rng: &rng) { try checkDerivatives(check) }
    }

    func testBatchingAgainstALoop() throws {
        var rng = TestRandom(seed: 12)
        for check in try checks(rng: &rng) {
            // Random batch elements must stay in each op's domain: the checked bodies map them there.
            try checkBatching(check)
        }
    }

    /// The Hessian of log det A is −(A⁻¹)ₗᵢ (A⁻¹)ⱼₖ at entry (i, j, k, l) (d² = −tr(A⁻¹ dA A⁻¹ dA)).
    func testHessianOfLogDetAgainstTheClosedForm() throws {
        var rng = TestRandom(seed: 13)
        let n = 3
        let a = try shifted(randomTensor([n, n], rng: &rng))
        let f = makeFunction("logdet", inputs: 1) { [try Ops.logdet($0[0])] }
        let hessian = try Transforms.hessian(f, argnums: [0])([a])[0]
        let inverse = try Ops.doubles(Ops.inv(a))
        var expected: [Double] = []
        for i in 0..<n { for j in 0..<n { for k in 0..<n { for l in 0..<n { expected.append(-inverse[l * n + i] * inverse[j * n + k]) } } } }
        try assertValues(hessian, expected, shape: [n, n, n, n], dtype: .float64, tolerance: 1e-10)
    }

    /// The Hessian of ½|A⁻¹ b|² with respect to b is A⁻ᵀ A⁻¹ (a Gauss–Newton matrix through a solve).
    func testHessianThroughASolve() throws {
        var rng = TestRandom(seed: 14)
        let n = 4
        let a = try shifted(randomTensor([n, n], rng: &rng)), b = try randomTensor([n], rng: &rng)
        let f = makeFunction("half squared norm", inputs: 2) { args in
            let x = try Ops.linalgSolve(args[0], args[1])
            return [try Ops.mul(Ops.sum(Ops.mul(x, x)), Ops.scalar(0.5))]
        }
        let hessian = try Transforms.hessian(f, argnums: [1])([a, b])[0]
        let inverse = try Ops.doubles(Ops.inv(a))
        var expected: [Double] = []
        for i in 0..<n { for j in 0..<n { expected.append((0..<n).reduce(0) { $0 + inverse[$1 * n + i] * inverse[$1 * n + j] }) } }
        try assertValues(hessian, expected, shape: [n, n], dtype: .float64, tolerance: 1e-10)
    }

    /// jit traces and replays the linear algebra ops (and their gradients) like any other.
    func testJitOfAGradientThroughCholesky() throws {
        var rng = TestRandom(seed: 15)
        let m = try randomTensor([3, 3], rng: &rng)
        let f = makeFunction("|cholesky|²", inputs: 1) { args in
            let l = try Ops.cholesky(self.positiveDefinite(args[0]))
            return [try Ops.sum(Ops.mul(l, l))]
        }
        let eager = try Transforms.grad(f, argnums: [0], hasAux: false)([m])[0]
        let jitted = Transforms.jit(try Transforms.grad(f, argnums: [0], hasAux: false))
        try assertValues(jitted([m])[0], try Ops.doubles(eager), shape: [3, 3], dtype: .float64)
        try assertValues(jitted([m])[0], try Ops.doubles(eager), shape: [3, 3], dtype: .float64)
    }

    /// Repeated eigenvalues (the documented degenerate case, as torch and JAX): the eigenvalues'
    /// derivatives stay finite (here V diag(λ̄) Vᵀ folded onto the lower triangle), the eigenvectors'
    /// are not (1/(λⱼ − λᵢ) with λⱼ = λᵢ).
    func testRepeatedEigenvalues() throws {
        let a = try Ops.tensor([2, 0, 0, 0, 2, 0, 0, 0, 5], shape: [3, 3])
        let values = makeFunction("eigvalsh", inputs: 1) { [try Ops.sum(Ops.eigvalsh($0[0]))] }
        // d Σλ / dA = d tr(S(A)) / dA = I (the trace reads only the diagonal).
        try assertValues(Transforms.grad(values, argnums: [0], hasAux: false)([a])[0], [1, 0, 0, 0, 1, 0, 0, 0, 1],
                         shape: [3, 3], dtype: .float64, tolerance: 1e-12)
        let vectors = makeFunction("eigenvectors", inputs: 1) { [try Ops.eigh($0[0]).eigenvectors] }
        let tangent = try Ops.tensor([0, 1, 0, 1, 0, 0, 0, 0, 0], shape: [3, 3])
        let dv = try Ops.doubles(Transforms.jvp(vectors, [a], [tangent]).tangents[0])
        XCTAssertTrue(dv.contains { !$0.isFinite }, "eigenvector tangent at a repeated eigenvalue: \(dv)")
    }
}
