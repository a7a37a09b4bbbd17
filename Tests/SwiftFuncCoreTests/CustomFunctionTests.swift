import XCTest
@testable import SwiftFuncCore
#if canImport(Glibc)
import Glibc
#endif

/// Custom differentiable functions: a softplus whose rules are written with ops (transformable)
/// and one whose rules are host kernels reading values, under every transform and their
/// compositions, against closed forms and central differences.
final class CustomFunctionTests: XCTestCase {
    private static func softplus(_ x: Double) -> Double { x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)) }
    private static func sigmoid(_ x: Double) -> Double { 1 / (1 + exp(-x)) }

    /// Counts rule invocations so tests can tell which path ran.
    final class Calls {
        var forward = 0, vjp = 0, jvp = 0, batch = 0
    }

    private func fn(_ name: String, _ inputs: Int, _ outputs: Int, _ body: @escaping ([Value]) throws -> [Value]) -> Function {
        Function(name: name, inputCount: inputs, outputCount: outputs, body: body)
    }

    /// softplus with ops-based rules. With `useResidual`, the forward saves sigmoid(x) and the VJP
    /// uses it (fine at first order; an error when differentiated again).
    private func opsSoftplus(calls: Calls = Calls(), jvp: Bool = true, batch: Bool = true, useResidual: Bool = false) throws -> CustomFunction {
        let residuals = useResidual ? 1 : 0
        let forward = fn("forward", 1, 1 + residuals) { x in
            calls.forward += 1
            let y = try Ops.log1p(Ops.exp(x[0]))
            return useResidual ? [y, try Ops.sigmoid(x[0])] : [y]
        }
        // vjp(x, y, [s], g)
        let vjp = fn("vjp", 2 + residuals + 1, 1) { args in
            calls.vjp += 1
            let slope = useResidual ? args[2] : try Ops.sigmoid(args[0])
            return [try Ops.mul(args.last!, slope)]
        }
        // jvp(x, y, t)
        let jvpRule = fn("jvp", 3, 1) { args in
            calls.jvp += 1
            return [try Ops.mul(args[2], Ops.sigmoid(args[0]))]
        }
        let batchRule: CustomFunction.FixedBatchRule = { values, dims, _ in
            calls.batch += 1
            let y = try Ops.log1p(Ops.exp(values[0]))
            return useResidual ? ([y, try Ops.sigmoid(values[0])], [dims[0], dims[0]]) : ([y], [dims[0]])
        }
        return try CustomFunction(name: "softplus", inputCount: 1, outputCount: 1, residualCount: residuals, forward: forward,
                                  vjp: vjp, jvp: jvp ? jvpRule : nil, batch: batch ? batchRule : nil, rulesAreHostKernels: false)
    }

    /// Applies `f` to every element of a tensor on the host (reading its values).
    private static func hostMap(_ value: Value, _ f: (Double) -> Double) throws -> Value {
        try Ops.tensor(try Ops.doubles(value).map(f), shape: value.shape, dtype: value.dtype)
    }

    private static func hostZip(_ a: Value, _ b: Value, _ f: (Double, Double) -> Double) throws -> Value {
        let x = try Ops.doubles(a), y = try Ops.doubles(b)
        return try Ops.tensor(zip(x, y).map(f), shape: a.shape, dtype: a.dtype)
    }

    /// softplus whose forward and rules are host kernels: they read values and compute in Swift
    /// doubles. The forward saves sigmoid(x) as a residual for the VJP.
    private func hostSoftplus(calls: Calls = Calls(), batch: Bool = true) throws -> CustomFunction {
        let forward = fn("forward", 1, 2) { x in
            calls.forward += 1
            return [try Self.hostMap(x[0], Self.softplus), try Self.hostMap(x[0], Self.sigmoid)]
        }
        let vjp = fn("vjp", 4, 1) { args in  // (x, y, s, g)
            calls.vjp += 1
            return [try Self.hostZip(args[3], args[2], *)]
        }
        let jvp = fn("jvp", 3, 1) { args in  // (x, y, t)
            calls.jvp += 1
            return [try Self.hostZip(args[2], args[0]) { t, x in t * Self.sigmoid(x) }]
        }
        let batchRule: CustomFunction.FixedBatchRule = { values, dims, _ in
            calls.batch += 1
            return ([try Self.hostMap(values[0], Self.softplus), try Self.hostMap(values[0], Self.sigmoid)], [dims[0], dims[0]])
        }
        return try CustomFunction(name: "softplus", inputCount: 1, outputCount: 1, residualCount: 1, forward: forward,
                                  vjp: vjp, jvp: jvp, batch: batch ? batchRule : nil, rulesAreHostKernels: true)
    }

    /// sum(custom(x) * w) with fixed weights, so the gradient is w * sigmoid(x).
    private func loss(_ custom: CustomFunction, weights: [Double]) -> Function {
        fn("loss", 1, 1) { x in
            let w = try Ops.tensor(weights, shape: x[0].shape)
            return [try Ops.sum(Ops.mul(custom([x[0]])[0], w))]
        }
    }

    private let xs: [Double] = [-1.5, -0.2, 0.3, 2.0]
    private let ws: [Double] = [0.5, -1.0, 2.0, 1.5]

    /// Central differences of a scalar function of a vector.
    private func numericGradient(_ f: ([Double]) -> Double, at x: [Double], h: Double = 1e-5) -> [Double] {
        x.indices.map { i in
            var plus = x, minus = x
            plus[i] += h
            minus[i] -= h
            return (f(plus) - f(minus)) / (2 * h)
        }
    }

    private func lossValue(_ x: [Double]) -> Double { zip(x, ws).map { Self.softplus($0) * $1 }.reduce(0, +) }

    func testEvaluationRunsTheForwardAndDropsResiduals() throws {
        for custom in [try opsSoftplus(useResidual: true), try hostSoftplus()] {
            let outputs = try custom([try Ops.tensor(xs, shape: [4])])
            XCTAssertEqual(outputs.count, 1)
            try assertValues(outputs[0], xs.map(Self.softplus), shape: [4], dtype: .float64, tolerance: 1e-12)
            let f = custom.function()
            XCTAssertEqual(f.inputCount, 1)
            XCTAssertEqual(f.outputCount, 1)
            try assertValues(f([try Ops.tensor(xs, shape: [4])])[0], xs.map(Self.softplus), shape: [4], dtype: .float64)
        }
    }

    func testGradUsesTheVJPRuleAndMatchesFiniteDifferences() throws {
        let numeric = numericGradient(lossValue, at: xs)
        for host in [false, true] {
            let calls = Calls()
            let custom = host ? try hostSoftplus(calls: calls) : try opsSoftplus(calls: calls, useResidual: true)
            let grad = try Transforms.grad(loss(custom, weights: ws), argnums: [0], hasAux: false)
            let g = try grad([try Ops.tensor(xs, shape: [4])])[0]
            try assertValues(g, numeric, shape: [4], dtype: .float64, tolerance: 1e-8)
            try assertValues(g, zip(xs, ws).map { Self.sigmoid($0) * $1 }, shape: [4], dtype: .float64)
            XCTAssertEqual(calls.forward, 1, "the forward runs once, as a unit")
            XCTAssertEqual(calls.vjp, 1)
        }
    }

    func testVJPWithSeveralOutputsAndUnusedOutputs() throws {
        // f(x, y) = (x * y, x + y) with one residual; the loss uses only the first output.
        let forward = fn("forward", 2, 3) { a in [try Ops.mul(a[0], a[1]), try Ops.add(a[0], a[1]), a[1]] }
        let vjp = fn("vjp", 2 + 2 + 1 + 2, 2) { a in
            // (x, y, p, s, r=y, gp, gs): dx = gp*y + gs, dy = gp*x + gs
            [try Ops.add(Ops.mul(a[5], a[4]), a[6]), try Ops.add(Ops.mul(a[5], a[0]), a[6])]
        }
        let custom = try CustomFunction(name: "pair", inputCount: 2, outputCount: 2, residualCount: 1, forward: forward,
                                        vjp: vjp, jvp: nil, batch: nil, rulesAreHostKernels: false)
        let f = fn("f", 2, 1) { a in [try Ops.sum(custom(a)[0])] }
        let x = try Ops.tensor([1, 2], shape: [2]), y = try Ops.tensor([3, -4], shape: [2])
        let grads = try Transforms.grad(f, argnums: [0, 1], hasAux: false)([x, y])
        try assertValues(grads[0], [3, -4], shape: [2], dtype: .float64)
        try assertValues(grads[1], [1, 2], shape: [2], dtype: .float64)
        // Only y tracked: the rule's cotangent for x is dropped.
        let gy = try Transforms.grad(f, argnums: [1], hasAux: false)([x, y])
        try assertValues(gy[0], [1, 2], shape: [2], dtype: .float64)
    }

    func testJVPUsesTheJVPRuleAndMatchesFiniteDifferences() throws {
        let tangent: [Double] = [1, -2, 0.5, 3]
        let h = 1e-6
        let numeric = xs.indices.map { i in
            (Self.softplus(xs[i] + h * tangent[i]) - Self.softplus(xs[i] - h * tangent[i])) / (2 * h)
        }
        for host in [false, true] {
            let calls = Calls()
            let custom = host ? try hostSoftplus(calls: calls) : try opsSoftplus(calls: calls)
            let (outputs, tangents) = try Transforms.jvp(custom.function(), [try Ops.tensor(xs, shape: [4])],
                                                         [try Ops.tensor(tangent, shape: [4])])
            try assertValues(outputs[0], xs.map(Self.softplus), shape: [4], dtype: .float64)
            try assertValues(tangents[0], numeric, shape: [4], dtype: .float64, tolerance: 1e-8)
            XCTAssertEqual(calls.jvp, 1)
        }
    }

    func testJVPWithoutRuleNamesTheFunction() throws {
        let custom = try opsSoftplus(jvp: false)
        assertThrows(.unsupported, "custom function 'softplus' has no JVP rule") {
            try Transforms.jvp(custom.function(), [try Ops.tensor(self.xs, shape: [4])], [try Ops.tensor(self.xs, shape: [4])])
        }
        // Without a tangent the rule is not needed.
        let (outputs, _) = try Transforms.jvp(custom.function(), [try Ops.tensor(xs, shape: [4])], [nil])
        try assertValues(outputs[0], xs.map(Self.softplus), shape: [4], dtype: .float64)
        // A VJP is optional too.
        let noVJP = try CustomFunction(name: "plain", inputCount: 1, outputCount: 1, residualCount: 0,
                                       forward: fn("f", 1, 1) { $0 }, vjp: nil, jvp: nil, batch: nil, rulesAreHostKernels: false)
        assertThrows(.unsupported, "custom function 'plain' has no VJP rule") {
            try Transforms.grad(self.fn("l", 1, 1) { [try Ops.sum(noVJP($0)[0])] }, argnums: [0], hasAux: false)([try Ops.tensor([1], shape: [1])])
        }
    }

    func testVmapUsesTheBatchRuleOrCountsTheLoop() throws {
        let batch: [Double] = [-1, 0.5, 2, -0.25, 1.5, 3]  // 2 x 3, mapped over dim 1 too
        let expected = batch.map(Self.softplus)
        for host in [false, true] {
            for withRule in [true, false] {
                let calls = Calls()
                let custom = host ? try hostSoftplus(calls: calls, batch: withRule) : try opsSoftplus(calls: calls, batch: withRule)
                let before = BatchingStatistics.fallbackCount
                let mapped = try Transforms.vmap(custom.function(), inDims: [0], outDims: [0])
                try assertValues(mapped([try Ops.tensor(batch, shape: [2, 3])])[0], expected, shape: [2, 3], dtype: .float64)
                let viaDim1 = try Transforms.vmap(custom.function(), inDims: [1], outDims: [1])
                try assertValues(viaDim1([try Ops.tensor(batch, shape: [2, 3])])[0], expected, shape: [2, 3], dtype: .float64)
                let fallbacks = BatchingStatistics.fallbackCount - before
                XCTAssertEqual(fallbacks, withRule ? 0 : 2, "host \(host) rule \(withRule)")
                XCTAssertEqual(calls.batch, withRule ? 2 : 0)
                XCTAssertEqual(calls.forward, withRule ? 0 : 2 + 3, "loop: one forward per element")
            }
        }
    }

    func testVmapOfEmptyBatchAndNestedVmap() throws {
        let custom = try hostSoftplus(batch: false)
        let mapped = try Transforms.vmap(custom.function(), inDims: [0], outDims: [0])
        let empty = try mapped([try Ops.tensor([], shape: [0, 3])])[0]
        XCTAssertEqual(empty.shape, [0, 3])
        // vmap(vmap(f)) with a host batch rule: the inner level sees traced values and loops; the
        // outer level gets concrete values and uses the rule.
        let ruled = try hostSoftplus()
        let twice = try Transforms.vmap(Transforms.vmap(ruled.function(), inDims: [0], outDims: [0]), inDims: [0], outDims: [0])
        let values: [Double] = [-1, 0.5, 2, -0.25, 1.5, 3]
        try assertValues(twice([try Ops.tensor(values, shape: [2, 3])])[0], values.map(Self.softplus), shape: [2, 3], dtype: .float64)
    }

    func testVmapOfGradGivesPerExampleGradients() throws {
        let batch: [Double] = [-1, 0.5, 2, -0.25, 1.5, 3]
        for host in [false, true] {
            let custom = host ? try hostSoftplus() : try opsSoftplus()
            let grad = try Transforms.grad(fn("l", 1, 1) { x in [try Ops.sum(custom(x)[0])] }, argnums: [0], hasAux: false)
            let before = BatchingStatistics.fallbackCount
            let perExample = try Transforms.vmap(grad, inDims: [0], outDims: [0])([try Ops.tensor(batch, shape: [2, 3])])[0]
            try assertValues(perExample, batch.map(Self.sigmoid), shape: [2, 3], dtype: .float64)
            // A host-kernel VJP is looped over (it reads values); an ops-based one is batched by its ops.
            XCTAssertEqual(BatchingStatistics.fallbackCount - before, host ? 1 : 0)
        }
    }

    func testGradOfVmapWithHostBatchRuleStaysCorrect() throws {
        // The host batch rule would read grad's tracers and lose their derivative: the loop runs instead.
        let calls = Calls()
        let custom = try hostSoftplus(calls: calls)
        let mapped = try Transforms.vmap(custom.function(), inDims: [0], outDims: [0])
        let f = fn("l", 1, 1) { x in [try Ops.sum(mapped(x)[0])] }
        let g = try Transforms.grad(f, argnums: [0], hasAux: false)([try Ops.tensor(xs, shape: [2, 2])])[0]
        try assertValues(g, xs.map(Self.sigmoid), shape: [2, 2], dtype: .float64)
        XCTAssertEqual(calls.batch, 0)
    }

    func testHessianWithOpsRules() throws {
        let custom = try opsSoftplus()
        let hessian = try Transforms.hessian(loss(custom, weights: ws), argnums: [0])([try Ops.tensor(xs, shape: [4])])[0]
        // Central differences of the analytic-free gradient: FD of the (FD-checked) VJP.
        var expected = [Double](repeating: 0, count: 16)
        let h = 1e-5
        for i in 0..<4 {
            let d = (Self.sigmoid(xs[i] + h) - Self.sigmoid(xs[i] - h)) / (2 * h)
            expected[i * 4 + i] = ws[i] * d
        }
        try assertValues(hessian, expected, shape: [4, 4], dtype: .float64, tolerance: 1e-8)
        // Grad of grad and jacfwd of jacrev agree.
        let gradOfGrad = try Transforms.grad(fn("g", 1, 1) { x in
            [try Ops.sum(Transforms.grad(self.loss(custom, weights: self.ws), argnums: [0], hasAux: false)(x)[0])]
        }, argnums: [0], hasAux: false)([try Ops.tensor(xs, shape: [4])])[0]
        try assertValues(gradOfGrad, (0..<4).map { expected[$0 * 5] }, shape: [4], dtype: .float64, tolerance: 1e-8)
        // jvp of grad (forward over reverse).
        let (_, tangent) = try Transforms.jvp(Transforms.grad(loss(custom, weights: ws), argnums: [0], hasAux: false),
                                              [try Ops.tensor(xs, shape: [4])], [try Ops.tensor([1, 1, 1, 1], shape: [4])])
        try assertValues(tangent[0], (0..<4).map { expected[$0 * 5] }, shape: [4], dtype: .float64, tolerance: 1e-8)
    }

    func testDifferentiatingAHostKernelRuleAgainIsAClearError() throws {
        let custom = try hostSoftplus()
        let x = try Ops.tensor(xs, shape: [4])
        assertThrows(.transform, "custom function 'softplus': its VJP is a host kernel and cannot be differentiated again") {
            try Transforms.hessian(self.loss(custom, weights: self.ws), argnums: [0])([x])
        }
        assertThrows(.transform, "custom function 'softplus': its VJP is a host kernel and cannot be differentiated again") {
            try Transforms.grad(self.fn("g", 1, 1) { x in
                [try Ops.sum(Transforms.grad(self.loss(custom, weights: self.ws), argnums: [0], hasAux: false)(x)[0])]
            }, argnums: [0], hasAux: false)([x])
        }
        assertThrows(.transform, "custom function 'softplus': its JVP is a host kernel and cannot be differentiated again") {
            let inner = self.fn("inner", 1, 1) { x in
                try Transforms.jvp(custom.function(), x, [try Ops.tensor([1, 1, 1, 1], shape: [4])]).tangents
            }
            return try Transforms.jvp(inner, [x], [try Ops.tensor([1, 0, 0, 0], shape: [4])])
        }
    }

    func testDifferentiatingThroughAResidualIsAnError() throws {
        let custom = try opsSoftplus(useResidual: true)
        let x = try Ops.tensor(xs, shape: [4])
        // First order is fine; second order would need d(residual)/dx, which is unknown.
        assertThrows(.transform, "derivative of a residual") {
            try Transforms.hessian(self.loss(custom, weights: self.ws), argnums: [0])([x])
        }
        assertThrows(.transform, "derivative of a residual") {
            try Transforms.grad(self.fn("g", 1, 1) { x in
                [try Ops.sum(Transforms.grad(self.loss(custom, weights: self.ws), argnums: [0], hasAux: false)(x)[0])]
            }, argnums: [0], hasAux: false)([x])
        }
    }

    func testErrorsPropagate() throws {
        struct Marker: Error {}
        let failing = fn("forward", 1, 1) { _ in throw SwiftFuncError(.callback, "call", "boom in forward") }
        let custom = try CustomFunction(name: "bad", inputCount: 1, outputCount: 1, residualCount: 0, forward: failing,
                                        vjp: fn("vjp", 3, 1) { _ in throw SwiftFuncError(.callback, "call", "boom in vjp") },
                                        jvp: nil, batch: nil, rulesAreHostKernels: true)
        let x = try Ops.tensor(xs, shape: [4])
        assertThrows(.callback, "boom in forward") { try custom([x]) }
        assertThrows(.callback, "boom in forward") { try Transforms.vmap(custom.function(), inDims: [0], outDims: [0])([x]) }
        assertThrows(.callback, "boom in forward") { try Transforms.grad(self.loss(custom, weights: self.ws), argnums: [0], hasAux: false)([x]) }
        let okForward = try CustomFunction(name: "bad", inputCount: 1, outputCount: 1, residualCount: 0, forward: fn("f", 1, 1) { $0 },
                                           vjp: fn("vjp", 3, 1) { _ in throw SwiftFuncError(.callback, "call", "boom in vjp") },
                                           jvp: nil, batch: nil, rulesAreHostKernels: true)
        assertThrows(.callback, "boom in vjp") { try Transforms.grad(self.loss(okForward, weights: self.ws), argnums: [0], hasAux: false)([x]) }
        // Rules returning the wrong shape are named.
        let wrongShape = try CustomFunction(name: "shapely", inputCount: 1, outputCount: 1, residualCount: 0, forward: fn("f", 1, 1) { $0 },
                                            vjp: fn("vjp", 3, 1) { _ in [try Ops.tensor([1], shape: [1])] },
                                            jvp: fn("jvp", 3, 1) { _ in [try Ops.tensor([1], shape: [1])] }, batch: nil, rulesAreHostKernels: false)
        assertThrows(.shape, "custom function 'shapely': VJP input cotangent 0 has shape [1]") {
            try Transforms.grad(self.loss(wrongShape, weights: self.ws), argnums: [0], hasAux: false)([x])
        }
        assertThrows(.shape, "custom function 'shapely': JVP output tangent 0 has shape [1]") {
            try Transforms.jvp(wrongShape.function(), [x], [x])
        }
        // Bad arities at creation.
        assertThrows(.invalidArgument, "its VJP must take 3 values") {
            try CustomFunction(name: "arity", inputCount: 1, outputCount: 1, residualCount: 0, forward: self.fn("f", 1, 1) { $0 },
                               vjp: self.fn("vjp", 2, 1) { $0 }, jvp: nil, batch: nil, rulesAreHostKernels: false)
        }
        assertThrows(.invalidArgument, "forward must take 1 inputs and return 2 values") {
            try CustomFunction(name: "arity", inputCount: 1, outputCount: 1, residualCount: 1, forward: self.fn("f", 1, 1) { $0 },
                               vjp: nil, jvp: nil, batch: nil, rulesAreHostKernels: false)
        }
        // A batch rule with a wrong batch size.
        let badBatch = try CustomFunction(name: "bb", inputCount: 1, outputCount: 1, residualCount: 0, forward: fn("f", 1, 1) { $0 },
                                          vjp: nil, jvp: nil, batch: { v, d, _ in ([try Ops.tensor([1], shape: [1])], [0]) }, rulesAreHostKernels: false)
        assertThrows(.shape, "custom function 'bb': its batching rule returned value 0 of shape [1] with batch dim 0, but the batch size is 4") {
            try Transforms.vmap(badBatch.function(), inDims: [0], outDims: [0])([x])
        }
    }

    func testNothingIsRetainedAfterUse() throws {
        weak var weakCustom: CustomFunction?
        weak var weakFunction: Function?
        weak var weakRule: Function?
        do {
            var rule: Function? = fn("vjp", 4, 1) { args in [try Self.hostZip(args[3], args[2], *)] }
            weakRule = rule
            var custom: CustomFunction? = try CustomFunction(
                name: "softplus", inputCount: 1, outputCount: 1, residualCount: 1,
                forward: fn("forward", 1, 2) { x in [try Self.hostMap(x[0], Self.softplus), try Self.hostMap(x[0], Self.sigmoid)] },
                vjp: rule, jvp: nil, batch: nil, rulesAreHostKernels: true)
            rule = nil
            weakCustom = custom
            var function: Function? = custom!.function()
            weakFunction = function
            custom = nil
            let g = try Transforms.grad(loss(weakCustom!, weights: ws), argnums: [0], hasAux: false)
            _ = try g([try Ops.tensor(xs, shape: [4])])
            _ = try Transforms.vmap(Transforms.grad(fn("l", 1, 1) { [try Ops.sum(function!($0)[0])] }, argnums: [0], hasAux: false),
                                    inDims: [0], outDims: [0])([try Ops.tensor(xs, shape: [2, 2])])
            XCTAssertNotNil(weakCustom, "the function keeps its custom function alive")
            function = nil
        }
        XCTAssertNil(weakFunction)
        XCTAssertNil(weakCustom)
        XCTAssertNil(weakRule)
    }
}
