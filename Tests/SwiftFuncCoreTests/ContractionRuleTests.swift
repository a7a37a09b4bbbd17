import XCTest
@testable import SwiftFuncCore

final class ContractionRuleTests: XCTestCase {
    /// Per-example shape pairs: every combination of 1-D, 2-D and 3-D operands, plus broadcast batches.
    let shapePairs: [([Int], [Int])] = [
        ([4], [4]), ([4], [4, 3]), ([4], [2, 4, 3]),
        ([3, 4], [4]), ([3, 4], [4, 5]), ([3, 4], [2, 4, 5]),
        ([2, 3, 4], [4]), ([2, 3, 4], [4, 5]), ([2, 3, 4], [2, 4, 5]),
        ([1, 3, 4], [2, 4, 5]), ([2, 1, 3, 4], [3, 4, 2]), ([2, 3, 4], [1, 4, 5]),
    ]

    func check(_ a: [Int], _ b: [Int], rng: inout TestRandom) throws -> RuleCheck {
        RuleCheck(name: "matmul \(a) @ \(b)", body: { try Ops.matmul($0[0], $0[1]) },
                  inputs: [try randomTensor(a, rng: &rng), try randomTensor(b, rng: &rng)])
    }

    func testMatmulDerivativesForEveryRankCombination() throws {
        var rng = TestRandom(seed: 1)
        for (a, b) in shapePairs { try checkDerivatives(check(a, b, rng: &rng)) }
    }

    func testMatmulBatchingForEveryRankCombination() throws {
        // Nested vmap moves batch dims with permute/reshape inside the rule.
        var rng = TestRandom(seed: 2)
        // checkBatching maps each operand alone (the other unmapped), both, and at dims 0, 1, -1.
        for (a, b) in shapePairs { try checkBatching(check(a, b, rng: &rng)) }
    }

    /// d(a @ b) = da @ b + a @ db, against the product rule computed by the naive matmul, with a
    /// float32 operand (its tangent cast through matmul's promotion) and a symbolic-zero tangent.
    func testMatmulJVPMixedPrecisionAndZeroTangents() throws {
        var rng = TestRandom(seed: 3)
        let av = randomValues([3, 4], dtype: .float32, rng: &rng), bv = randomValues([4, 2], rng: &rng)
        let tav = randomValues([3, 4], dtype: .float32, rng: &rng), tbv = randomValues([4, 2], rng: &rng)
        let a = try Ops.tensor(av, shape: [3, 4], dtype: .float32), b = try Ops.tensor(bv, shape: [4, 2])
        let ta = try Ops.tensor(tav, shape: [3, 4], dtype: .float32), tb = try Ops.tensor(tbv, shape: [4, 2])
        let f = makeFunction("matmul", inputs: 2) { [try Ops.matmul($0[0], $0[1])] }
        let both = try Transforms.jvp(f, [a, b], [ta, tb]).tangents[0]
        let expected = zip(naiveMatmul(tav, [3, 4], bv, [4, 2]).values, naiveMatmul(av, [3, 4], tbv, [4, 2]).values).map { $0 + $1 }
        try assertValues(both, expected, shape: [3, 2], dtype: .float64, tolerance: 1e-12)
        let onlyB = try Transforms.jvp(f, [a, b], [nil, tb]).tangents[0]
        try assertValues(onlyB, naiveMatmul(av, [3, 4], tbv, [4, 2]).values, shape: [3, 2], dtype: .float64)
        let none = try Transforms.jvp(f, [a, b], [nil, nil]).tangents[0]
        try assertValues(none, [Double](repeating: 0, count: 6), shape: [3, 2], dtype: .float64)
    }

    /// The VJP's cotangents against closed forms (ct @ b^T, a^T @ ct summed over the batch), for
    /// the folded paths (a shared 2-D operand) and a broadcast batch, with the dtypes of the inputs.
    func testMatmulVJPAgainstClosedForms() throws {
        var rng = TestRandom(seed: 4)
        for (aShape, bShape, dtypeA) in [([2, 3, 4], [4, 5], DType.float64), ([3, 4], [2, 4, 5], .float32),
                                         ([2, 1, 3, 4], [3, 4, 5], .float64), ([4], [2, 4, 5], .float64), ([2, 3, 4], [4], .float32)] {
            let av = randomValues(aShape, dtype: dtypeA, rng: &rng), bv = randomValues(bShape, rng: &rng)
            let a = try Ops.tensor(av, shape: aShape, dtype: dtypeA), b = try Ops.tensor(bv, shape: bShape)
            let f = makeFunction("matmul", inputs: 2) { [try Ops.matmul($0[0], $0[1])] }
            let (outputs, pullback) = try Transforms.vjp(f, [a, b])
            let outShape = outputs[0].shape
            let ctv = randomValues(outShape, rng: &rng)
            let grads = try pullback([Ops.tensor(ctv, shape: outShape)])
            // Reference: d/da_i sum(ct * (a @ b)) by the naive matmul on unit vectors is too slow;
            // use the definition directly: <ct, e_i @ b> and <ct, a @ e_j>.
            func directional(_ values: [Double], _ shape: [Int], isA: Bool) -> [Double] {
                (0..<values.count).map { i in
                    var unit = [Double](repeating: 0, count: values.count)
                    unit[i] = 1
                    let product = isA ? naiveMatmul(unit, shape, bv, bShape) : naiveMatmul(av, aShape, unit, shape)
                    return zip(product.values, ctv).reduce(0) { $0 + $1.0 * $1.1 }
                }
            }
            try assertValues(grads[0], directional(av, aShape, isA: true), shape: aShape, dtype: dtypeA,
                             tolerance: dtypeA == .float32 ? 1e-5 : 1e-12, "grad a \(aShape) @ \(bShape)")
            try assertValues(grads[1], directional(bv, bShape, isA: false), shape: bShape, dtype: .float64,
                             tolerance: 1e-12, "grad b \(aShape) @ \(bShape)")
        }
    }

    /// The batching rule emits one matmul and never expands the unbatched operand: a batched
    /// left operand folds into the rows of one 2-D GEMM, a batched right one into the columns.
    func testMatmulBatchingEmitsOneMatmulWithoutBroadcasting() throws {
        var rng = TestRandom(seed: 5)
        let f = makeFunction("matmul", inputs: 2) { [try Ops.matmul($0[0], $0[1])] }
        // (per-example a, per-example b, which is batched, expected matmul operand shapes)
        let cases: [([Int], [Int], [Int?], [[Int]])] = [
            ([4], [4, 3], [0, nil], [[5, 4], [4, 3]]),           // v @ W: [B, K] @ W
            ([2, 4], [4, 3], [0, nil], [[5, 2, 4], [4, 3]]),     // folded into M by the kernel
            ([4, 3], [3], [nil, 0], [[4, 3], [3, 5]]),           // M @ v: M @ [K, B]
            ([3], [3], [nil, 0], [[3], [3, 5]]),                 // dot: a @ [K, B]
            ([2, 3], [3, 4], [nil, 0], [[2, 3], [3, 20]]),       // x @ W_b: batch folded into N
            ([4], [3, 4, 2], [0, nil], [[5, 4], [3, 4, 2]]),     // v @ batch of matrices: B is M
            ([2, 3], [3, 4], [0, 0], [[5, 2, 3], [5, 3, 4]]),    // batched GEMM
        ]
        for (aShape, bShape, inDims, expected) in cases {
            let a = try randomTensor(inDims[0] == nil ? aShape : [5] + aShape, rng: &rng)
            let b = try randomTensor(inDims[1] == nil ? bShape : [5] + bShape, rng: &rng)
            let recorder = RecordingInterpreter()
            let result = try recorder.run { try Transforms.vmap(f, inDims: inDims, outDims: [0])([a, b])[0] }
            XCTAssertEqual(recorder.count(.matmul), 1, "\(aShape) @ \(bShape) \(inDims)")
            XCTAssertEqual(recorder.count(.expand), 0, "\(aShape) @ \(bShape) \(inDims): the unbatched operand was broadcast")
            XCTAssertEqual(recorder.calls.first { $0.primitive == .matmul }?.shapes, expected, "\(aShape) @ \(bShape) \(inDims)")
            // Values: against the naive matmul per example.
            let av = try Ops.doubles(a), bv = try Ops.doubles(b)
            var reference: [Double] = []
            var exampleShape: [Int] = []
            for i in 0..<5 {
                let ai = inDims[0] == nil ? av : Array(av[(i * av.count / 5)..<((i + 1) * av.count / 5)])
                let bi = inDims[1] == nil ? bv : Array(bv[(i * bv.count / 5)..<((i + 1) * bv.count / 5)])
                let example = naiveMatmul(ai, aShape, bi, bShape)
                reference += example.values
                exampleShape = example.shape
            }
            try assertValues(result, reference, shape: [5] + exampleShape, dtype: .float64,
                             "\(aShape) @ \(bShape) \(inDims)")
        }
    }

    /// Rules composed: jacrev (vmap of the backward pass), jacfwd (vmap of the JVP) and the
    /// Hessian of a quadratic form, against closed forms.
    func testMatmulJacobiansAndHessian() throws {
        var rng = TestRandom(seed: 6)
        let n = 3, m = 4
        let av = randomValues([m, n], rng: &rng), xv = randomValues([n], rng: &rng)
        let a = try Ops.tensor(av, shape: [m, n]), x = try Ops.tensor(xv, shape: [n])
        // f(a, x) = a @ x: d/dx = a, d/da[i, j, k] = delta_ij x_k.
        let f = makeFunction("a@x", inputs: 2) { [try Ops.matmul($0[0], $0[1])] }
        var dA = [Double](repeating: 0, count: m * m * n)
        for i in 0..<m { for k in 0..<n { dA[(i * m + i) * n + k] = xv[k] } }
        for transform in [try Transforms.jacrev(f, argnums: [0, 1], hasAux: false), try Transforms.jacfwd(f, argnums: [0, 1], hasAux: false)] {
            let jacobians = try transform([a, x])
            try assertValues(jacobians[0], dA, shape: [m, m, n], dtype: .float64)
            try assertValues(jacobians[1], av, shape: [m, n], dtype: .float64)
        }
        // q(x) = x^T (a^T a) x as sum((a @ x) * (a @ x)): Hessian 2 a^T a.
        let q = makeFunction("quadratic", inputs: 1) { input in
            let y = try Ops.matmul(a, input[0])
            return [try Ops.sum(Ops.mul(y, y))]
        }
        let hessian = try Transforms.hessian(q, argnums: [0])([x])[0]
        var expected = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { for r in 0..<m { expected[i * n + j] += 2 * av[r * n + i] * av[r * n + j] } } }
        try assertValues(hessian, expected, shape: [n, n], dtype: .float64)
    }
}

extension ContractionRuleTests {
    /// Under vmap the examples' shapes get matmul's errors, not a silently different product.
    func testMatmulBatchingChecksExampleShapes() throws {
        let f = makeFunction("matmul", inputs: 2) { [try Ops.matmul($0[0], $0[1])] }
        let batchOfScalars = try Ops.tensor([1, 2, 3], shape: [3]), w = try Ops.tensor([1, 2, 3, 4, 5, 6], shape: [3, 2])
        assertThrows(.shape, "sf_matmul: both arguments need at least 1 dim") {
            try Transforms.vmap(f, inDims: [0, nil], outDims: [0])([batchOfScalars, w])
        }
        let a = try Ops.tensor([Double](repeating: 1, count: 8), shape: [2, 4])
        assertThrows(.shape, "sf_matmul: shapes [4] and [3, 2] are not compatible") {
            try Transforms.vmap(f, inDims: [0, nil], outDims: [0])([a, w])
        }
    }
}
