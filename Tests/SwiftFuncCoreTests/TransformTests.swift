import XCTest
@testable import SwiftFuncCore

/// The transforms' semantics and compositions, against closed forms and loops.
final class TransformTests: XCTestCase {
    private func function(_ name: String, inputs: Int, outputs: Int = 1, _ body: @escaping ([Value]) throws -> [Value]) -> Function {
        Function(name: name, inputCount: inputs, outputCount: outputs, body: body)
    }

    private func vector(_ values: [Double]) throws -> Tensor { try Ops.tensor(values, shape: [values.count]) }

    /// f(x) = x * d/dy[x + y] at y = 0 must have derivative 1: the inner derivative is 1 whatever x
    /// is; confusing the two perturbations would give 2.
    func testPerturbationConfusion() throws {
        let inner = function("x+y", inputs: 2) { try [Ops.add($0[0], $0[1])] }
        let innerGrad = try Transforms.grad(inner, argnums: [1], hasAux: false)
        let f = function("f", inputs: 1) { x in
            let dy = try innerGrad([x[0], try Ops.scalar(0)])[0]
            return [try Ops.mul(x[0], dy)]
        }
        let df = try Transforms.grad(f, argnums: [0], hasAux: false)
        try assertValues(df([try Ops.tensor([3], shape: [])])[0], [1], shape: [], dtype: .float64)
        // The same through forward mode nested in reverse mode.
        let g = function("g", inputs: 1) { x in
            let (_, tangents) = try Transforms.jvp(inner, [x[0], try Ops.tensor([0], shape: [])], [nil, try Ops.tensor([1], shape: [])])
            return [try Ops.mul(x[0], tangents[0])]
        }
        try assertValues(Transforms.grad(g, argnums: [0], hasAux: false)([try Ops.tensor([3], shape: [])])[0], [1], shape: [], dtype: .float64)
    }

    func testEscapedTracerIsAnError() throws {
        var escaped: Value?
        let f = function("f", inputs: 1) { x in
            escaped = x[0]
            return [try Ops.sum(Ops.sin(x[0]))]
        }
        _ = try Transforms.grad(f, argnums: [0], hasAux: false)([try vector([1, 2])])
        let leaked = try XCTUnwrap(escaped)
        assertThrows(.transform, "escaped") { try Ops.sin(leaked) }
        assertThrows(.transform, "escaped") { try Ops.readableTensor(leaked, op: "tensor_copy_to") }
    }

    func testReadingValuesUnderTransforms() throws {
        // Under grad the primal is readable, so data-dependent branches work.
        let branchy = function("branchy", inputs: 1) { x in
            let value = try Ops.doubles(x[0])[0]
            return [value > 0 ? try Ops.mul(x[0], x[0]) : try Ops.neg(x[0])]
        }
        let grad = try Transforms.grad(branchy, argnums: [0], hasAux: false)
        try assertValues(grad([try Ops.tensor([3], shape: [])])[0], [6], shape: [], dtype: .float64)
        try assertValues(grad([try Ops.tensor([-3], shape: [])])[0], [-1], shape: [], dtype: .float64)
        // Under vmap it is an error.
        let mapped = try Transforms.vmap(branchy, inDims: [0], outDims: [0])
        assertThrows(.transform, "inside vmap") { try mapped([try self.vector([1, -1])]) }
    }

    func testGradSemantics() throws {
        let f = function("f", inputs: 2, outputs: 2) { x in
            [try Ops.sum(Ops.mul(x[0], Ops.exp(x[1]))), try Ops.add(x[0], x[1])]
        }
        let a = try vector([1, 2]), b = try vector([0.5, -1])
        // argnums order and aux untouched.
        let grads = try Transforms.grad(f, argnums: [1, 0], hasAux: true)([a, b])
        try assertValues(grads[0], [1 * Foundationless.exp(0.5), 2 * Foundationless.exp(-1)], shape: [2], dtype: .float64)
        try assertValues(grads[1], [Foundationless.exp(0.5), Foundationless.exp(-1)], shape: [2], dtype: .float64)
        try assertValues(grads[2], [1.5, 1], shape: [2], dtype: .float64)
        // A non-scalar output is an error naming its shape.
        let nonScalar = function("v", inputs: 1) { [try Ops.sin($0[0])] }
        assertThrows(.shape, "[2]") { try Transforms.grad(nonScalar, argnums: [0], hasAux: false)([a]) }
        // Integer inputs cannot be differentiated.
        let ints = try Ops.tensor([1, 2], shape: [2], dtype: .int64)
        assertThrows(.dtype, "int64") { try Transforms.grad(nonScalar, argnums: [0], hasAux: false)([ints]) }
        assertThrows(.invalidArgument, "out of range") { try Transforms.grad(f, argnums: [2], hasAux: true) }
        assertThrows(.invalidArgument, "more than once") { try Transforms.grad(f, argnums: [0, 0], hasAux: true) }
    }

    func testVmapErrors() throws {
        let f = function("add", inputs: 2) { [try Ops.add($0[0], $0[1])] }
        let mapped = try Transforms.vmap(f, inDims: [0, 0], outDims: [0])
        assertThrows(.shape, "input 0 has size 2 and input 1 has size 3") {
            try mapped([try self.vector([1, 2]), try self.vector([1, 2, 3])])
        }
        assertThrows(.invalidArgument, "in_dims[0] = 2 is out of range") {
            try Transforms.vmap(f, inDims: [2, nil], outDims: [0])([try self.vector([1, 2]), try self.vector([1])])
        }
        assertThrows(.invalidArgument, "out_dims[0] = 3 is out of range") {
            try Transforms.vmap(f, inDims: [0, nil], outDims: [3])([try self.vector([1, 2]), try self.vector([1])])
        }
        // Op errors under vmap name the shapes the mapped function sees, not the batched ones.
        let product = function("matmul", inputs: 2) { [try Ops.matmul($0[0], $0[1])] }
        let a = try Ops.tensor([Double](repeating: 1, count: 2 * 3 * 4), shape: [2, 3, 4])
        let b = try Ops.tensor([Double](repeating: 1, count: 30), shape: [5, 6])
        assertThrows(.shape, "shapes [3, 4] and [5, 6] are not compatible") {
            try Transforms.vmap(product, inDims: [0, nil], outDims: [0])([a, b])
        }
        assertThrows(.invalidArgument, "at least one input") {
            try Transforms.vmap(f, inDims: [nil, nil], outDims: [0])([try self.vector([1, 2]), try self.vector([1])])
        }
    }

    /// vmap(grad(f)) equals a loop of grad(f); grad(vmap) and vmap(vmap(grad)) agree with it.
    func testPerSampleGradients() throws {
        var rng = TestRandom(seed: 5)
        let w = try Ops.tensor(randomValues([3, 4], rng: &rng), shape: [3, 4])
        let xs = try Ops.tensor(randomValues([5, 4], rng: &rng), shape: [5, 4])
        let loss = function("loss", inputs: 2) { args in
            [try Ops.sum(Ops.tanh(Ops.matmul(args[0], args[1])))]
        }
        let grad = try Transforms.grad(loss, argnums: [0], hasAux: false)
        let perSample = try Transforms.vmap(grad, inDims: [nil, 0], outDims: [0])
        let batched = try perSample([w, xs])[0]
        var expected: [Double] = []
        for i in 0..<5 {
            expected += try Ops.doubles(grad([w, try Batching.select(xs, dim: 0, index: i)])[0])
        }
        try assertValues(batched, expected, shape: [5, 3, 4], dtype: .float64)
        // Chunked gives the same.
        let chunked = try Transforms.vmap(grad, inDims: [nil, 0], outDims: [0], chunkSize: 2)
        try assertValues(chunked([w, xs])[0], expected, shape: [5, 3, 4], dtype: .float64)
        // grad of a vmapped sum equals the sum of per-sample gradients.
        let mappedLoss = try Transforms.vmap(loss, inDims: [nil, 0], outDims: [0])
        let total = function("total", inputs: 2) { [try Ops.sum(mappedLoss($0)[0])] }
        let summed = try Transforms.grad(total, argnums: [0], hasAux: false)([w, xs])[0]
        try assertValues(summed, Ops.doubles(Ops.sum(batched, dims: [0])), shape: [3, 4], dtype: .float64, tolerance: 1e-12)
        // vmap(vmap(grad)) over a [2, 5, 4] stack.
        let pair = try Ops.stack([xs, xs], dim: 0)
        let twice = try Transforms.vmap(perSample, inDims: [nil, 0], outDims: [0])
        try assertValues(twice([w, pair])[0], expected + expected, shape: [2, 5, 3, 4], dtype: .float64)
    }

    /// jacrev == jacfwd == closed form; hessian symmetric, == jacrev(jacrev), and jvp(grad) == a
    /// finite-difference Hessian-vector product.
    func testJacobiansAndHessians() throws {
        var rng = TestRandom(seed: 9)
        let n = 4
        let aValues = randomValues([n, n], rng: &rng), xValues = randomValues([n], rng: &rng)
        let a = try Ops.tensor(aValues, shape: [n, n]), x = try Ops.tensor(xValues, shape: [n])
        let g = function("sin(Ax)", inputs: 2) { [try Ops.sin(Ops.matmul($0[0], $0[1]))] }
        var closed: [Double] = []
        for i in 0..<n {
            let s = (0..<n).reduce(0.0) { $0 + aValues[i * n + $1] * xValues[$1] }
            for j in 0..<n { closed.append(Foundationless.cos(s) * aValues[i * n + j]) }
        }
        try assertValues(Transforms.jacrev(g, argnums: [1], hasAux: false)([a, x])[0], closed, shape: [n, n], dtype: .float64)
        try assertValues(Transforms.jacrev(g, argnums: [1], hasAux: false, chunkSize: 3)([a, x])[0], closed, shape: [n, n], dtype: .float64)
        try assertValues(Transforms.jacfwd(g, argnums: [1], hasAux: false)([a, x])[0], closed, shape: [n, n], dtype: .float64)

        let e = function("sum tanh(Ax)", inputs: 2) { [try Ops.sum(Ops.tanh(Ops.matmul($0[0], $0[1])))] }
        let hessian = try Ops.doubles(Transforms.hessian(e, argnums: [1])([a, x])[0])
        let twice = try Ops.doubles(Transforms.jacrev(Transforms.jacrev(e, argnums: [1], hasAux: false), argnums: [1], hasAux: false)([a, x])[0])
        for i in 0..<n {
            for j in 0..<n {
                XCTAssertEqual(hessian[i * n + j], hessian[j * n + i], accuracy: 1e-12)
                XCTAssertEqual(hessian[i * n + j], twice[i * n + j], accuracy: 1e-12)
            }
        }
        // jvp of grad along v against (grad(x + eps v) - grad(x - eps v)) / 2 eps.
        let v = try Ops.tensor(randomValues([n], rng: &rng), shape: [n])
        let grad = try Transforms.grad(e, argnums: [1], hasAux: false)
        let hvp = try Ops.doubles(Transforms.jvp(grad, [a, x], [nil, v]).tangents[0])
        let eps = 1e-6
        let plus = try Ops.doubles(grad([a, Ops.add(x, Ops.mul(v, Ops.scalar(eps)))])[0])
        let minus = try Ops.doubles(grad([a, Ops.sub(x, Ops.mul(v, Ops.scalar(eps)))])[0])
        for i in 0..<n { XCTAssertEqual(hvp[i], (plus[i] - minus[i]) / (2 * eps), accuracy: 1e-7) }
        // vmap(jacrev) over a batch of points.
        let xs = try Ops.stack([x, Ops.neg(x)], dim: 0)
        let batched = try Transforms.vmap(Transforms.jacrev(g, argnums: [1], hasAux: false), inDims: [nil, 0], outDims: [0])([a, xs])[0]
        let second = try Transforms.jacrev(g, argnums: [1], hasAux: false)([a, Ops.neg(x)])[0]
        try assertValues(batched, closed + Ops.doubles(second), shape: [2, n, n], dtype: .float64)
    }

    /// Symbolic zeros in reverse mode: the gradient with respect to one operand of a matmul does one
    /// GEMM in the backward pass, not two (the other operand's cotangent is never computed).
    func testReverseModeSkipsUnneededCotangents() throws {
        var rng = TestRandom(seed: 3)
        let x = try randomTensor([4, 5], rng: &rng), w = try randomTensor([5, 3], rng: &rng)
        let f = makeFunction("sum(x @ w)", inputs: 2) { [try Ops.sum(Ops.matmul($0[0], $0[1]))] }
        for (argnum, expectedShape) in [(0, [4, 5]), (1, [5, 3])] {
            let recorder = RecordingInterpreter()
            let gradient = try recorder.run { try Transforms.grad(f, argnums: [argnum], hasAux: false)([x, w])[0] }
            XCTAssertEqual(gradient.shape, expectedShape)
            XCTAssertEqual(recorder.count(.matmul), 2, "one forward and one backward matmul for argnum \(argnum)")
        }
    }

    /// linearize runs the function once: its linear map replays only the tangent ops (no sin, no
    /// cos), agrees with jvp, works for several calls, and can itself be vmapped.
    func testLinearizeReplaysOnlyTheTangentOps() throws {
        var rng = TestRandom(seed: 12)
        let x = try randomTensor([5], rng: &rng), w = try randomTensor([3, 5], rng: &rng)
        let f = makeFunction("f", inputs: 2, outputs: 2) { args in
            let y = try Ops.sin(Ops.matmul(args[1], args[0]))
            return [try Ops.sum(Ops.mul(y, y)), y]
        }
        let (outputs, linear) = try Transforms.linearize(f, [x, w])
        let direct = try f([x, w])
        for (a, b) in zip(outputs, direct) { try assertValues(a, Ops.doubles(b), shape: b.shape, dtype: .float64) }
        for seed in [1, 2] as [UInt64] {
            var r = TestRandom(seed: seed)
            let tx = try randomTensor([5], rng: &r), tw = try randomTensor([3, 5], rng: &r)
            let recorder = RecordingInterpreter()
            let tangents = try recorder.run { try linear([tx, tw]) }
            XCTAssertEqual(recorder.count(.sin) + recorder.count(.cos), 0, "the map must not recompute the forward pass")
            let expected = try Transforms.jvp(f, [x, w], [tx, tw]).tangents
            for (a, b) in zip(tangents, expected) { try assertValues(a, Ops.doubles(b), shape: b.shape, dtype: .float64) }
        }
        // vmap over the linear map: a batch of tangents for x, none for w.
        var r = TestRandom(seed: 3)
        let batch = try randomTensor([4, 5], rng: &r), zeroW = try Ops.zeros(shape: [3, 5], dtype: .float64)
        let mapped = try Transforms.vmap(linear, inDims: [0, nil], outDims: [0, 0])([batch, zeroW])
        for i in 0..<4 {
            let one = try linear([Batching.select(batch, dim: 0, index: i), zeroW])
            try assertValues(Batching.select(mapped[1], dim: 0, index: i), Ops.doubles(one[1]), shape: [3], dtype: .float64)
        }
        assertThrows(.shape, "tangent 0 has shape [4]") { try linear([try randomTensor([4], rng: &r), zeroW]) }
    }

    func testRandomnessUnderVmap() throws {
        let draw = function("draw", inputs: 1) { x in [try Ops.add(x[0], Ops.rand(shape: [3], dtype: .float64))] }
        let zeros = try Ops.tensor([Double](repeating: 0, count: 6), shape: [2, 3])
        assertThrows(.transform, "randomness") { try Transforms.vmap(draw, inDims: [0], outDims: [0])([zeros]) }
        let different = try Ops.doubles(Transforms.vmap(draw, inDims: [0], outDims: [0], randomness: .different)([zeros])[0])
        XCTAssertNotEqual(Array(different[0..<3]), Array(different[3..<6]))
        let same = try Ops.doubles(Transforms.vmap(draw, inDims: [0], outDims: [0], randomness: .same)([zeros])[0])
        XCTAssertEqual(Array(same[0..<3]), Array(same[3..<6]))
    }
}

/// libm without Foundation, for closed forms in tests.
enum Foundationless {
    static func exp(_ x: Double) -> Double { Glibc.exp(x) }
    static func cos(_ x: Double) -> Double { Glibc.cos(x) }
}

#if canImport(Glibc)
import Glibc
#endif
