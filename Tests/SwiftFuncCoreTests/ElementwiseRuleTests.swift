import XCTest
@testable import SwiftFuncCore
#if canImport(Glibc)
import Glibc
#endif

/// Transform rules (JVP, VJP, batching) of the elementwise primitives and the activation composites.
final class ElementwiseRuleTests: XCTestCase {
    // MARK: Inputs

    private func values(_ shape: [Int], in range: (Double, Double) = (-2, 2), seed: UInt64) throws -> Tensor {
        var rng = TestRandom(seed: seed)
        return try Ops.tensor(randomValues(shape, in: range, rng: &rng), shape: shape, dtype: .float64)
    }

    /// Values with 0.3 <= |x| <= 2 (away from the kinks of abs, relu and sign).
    private func awayFromZero(_ shape: [Int], seed: UInt64) throws -> Tensor {
        var rng = TestRandom(seed: seed)
        let data = randomValues(shape, in: (0.3, 2), rng: &rng).map { rng.next() < 0.5 ? -$0 : $0 }
        return try Ops.tensor(data, shape: shape, dtype: .float64)
    }

    /// Values whose fractional part is in [0.1, 0.4]: away from the jumps of floor, ceil and round.
    private func awayFromIntegers(_ shape: [Int], seed: UInt64) throws -> Tensor {
        var rng = TestRandom(seed: seed)
        let data = (0..<shape.reduce(1, *)).map { _ in (rng.uniform(-3, 3)).rounded(.down) + rng.uniform(0.1, 0.4) }
        return try Ops.tensor(data, shape: shape, dtype: .float64)
    }

    private func unary(_ name: String, _ input: Tensor, batchRange: (Double, Double) = (-2, 2),
                       _ op: @escaping (Value) throws -> Value) -> RuleCheck {
        var check = RuleCheck(name: name, body: { try op($0[0]) }, inputs: [input])
        check.batchRange = batchRange
        return check
    }

    private func binary(_ name: String, _ a: Tensor, _ b: Tensor, batchRange: (Double, Double) = (-2, 2),
                        _ op: @escaping (Value, Value) throws -> Value) -> RuleCheck {
        var check = RuleCheck(name: name, body: { try op($0[0], $0[1]) }, inputs: [a, b])
        check.batchRange = batchRange
        return check
    }

    private func checkAll(_ checks: [RuleCheck], file: StaticString = #filePath, line: UInt = #line) throws {
        for check in checks {
            try checkDerivatives(check, file: file, line: line)
            try checkBatching(check, file: file, line: line)
        }
    }

    // MARK: RuleCheck for every primitive

    func testSmoothUnaryRules() throws {
        let positive = (0.5, 2.0)
        try checkAll([
            unary("neg", try values([2, 3], seed: 1), Ops.neg),
            unary("exp", try values([2, 3], seed: 2), Ops.exp),
            unary("exp rank 0", try values([], seed: 3), Ops.exp),
            unary("exp zero-size", try values([0, 3], seed: 3), Ops.exp),
            unary("log", try values([2, 3], in: positive, seed: 4), batchRange: positive, Ops.log),
            unary("log1p", try values([2, 3], in: (-0.5, 2), seed: 5), batchRange: (-0.5, 2), Ops.log1p),
            unary("expm1", try values([2, 3], seed: 6), Ops.expm1),
            unary("sin", try values([2, 3], seed: 7), Ops.sin),
            unary("cos", try values([2, 3], seed: 8), Ops.cos),
            unary("tan", try values([2, 3], in: (-1, 1), seed: 9), batchRange: (-1, 1), Ops.tan),
            unary("tanh", try values([2, 3], seed: 10), Ops.tanh),
            unary("sigmoid", try values([2, 3], seed: 11), Ops.sigmoid),
            unary("sqrt", try values([2, 3], in: positive, seed: 12), batchRange: positive, Ops.sqrt),
            unary("rsqrt", try values([2, 3], in: positive, seed: 13), batchRange: positive, Ops.rsqrt),
            unary("erf", try values([2, 3], seed: 14), Ops.erf),
            unary("abs", try awayFromZero([2, 3], seed: 15), Ops.abs),
            unary("relu", try awayFromZero([2, 3], seed: 16), Ops.relu),
        ])
    }

    func testPiecewiseConstantUnaryRules() throws {
        // Their derivative is zero away from the jumps: checkDerivatives compares zeros with finite differences.
        try checkAll([
            unary("sign", try awayFromZero([2, 3], seed: 21), Ops.sign),
            unary("floor", try awayFromIntegers([2, 3], seed: 22), Ops.floor),
            unary("ceil", try awayFromIntegers([2, 3], seed: 23), Ops.ceil),
            unary("round", try awayFromIntegers([2, 3], seed: 24), Ops.round),
        ])
        for (name, op) in [("sign", Ops.sign), ("floor", Ops.floor), ("ceil", Ops.ceil), ("round", Ops.round)] as [(String, (Value) throws -> Value)] {
            try assertZeroDerivatives(name, [try awayFromIntegers([2, 3], seed: 25)]) { try op($0[0]) }
        }
    }

    func testBinaryArithmeticRules() throws {
        let positive = (0.5, 2.0)
        try checkAll([
            binary("add", try values([2, 3], seed: 31), try values([3], seed: 32), Ops.add),
            binary("add zero-size", try values([0, 3], seed: 31), try values([3], seed: 32), Ops.add),
            binary("sub", try values([2, 1], seed: 33), try values([3], seed: 34), Ops.sub),
            binary("mul", try values([2, 3], seed: 35), try values([], seed: 36), Ops.mul),
            binary("mul same shape", try values([2, 3], seed: 37), try values([2, 3], seed: 38), Ops.mul),
            binary("div", try values([3], seed: 39), try awayFromZero([2, 3], seed: 40), Ops.div),
            binary("pow", try values([2, 3], in: positive, seed: 41), try values([2, 1], seed: 42), batchRange: positive, Ops.pow),
            binary("maximum", try values([2, 3], seed: 43), try values([3], seed: 44), Ops.maximum),
            binary("minimum", try values([2, 3], seed: 45), try values([3], seed: 46), Ops.minimum),
            binary("atan2", try awayFromZero([2, 3], seed: 47), try awayFromZero([3], seed: 48), Ops.atan2),
        ])
    }

    func testComparisonRules() throws {
        let ops: [(String, (Value, Value) throws -> Value)] = [
            ("lt", Ops.lt), ("le", Ops.le), ("gt", Ops.gt), ("ge", Ops.ge), ("eq", Ops.eq), ("ne", Ops.ne),
        ]
        for (name, op) in ops {
            let a = try values([2, 3], seed: 51), b = try values([3], seed: 52)
            try checkAll([binary(name, a, b, op)])
            // Ties present, so eq/ne really vary.
            let tied = try Ops.tensor([0.5, -1, 2], shape: [3], dtype: .float64)
            try checkBatching(binary("\(name) with ties", try makeTensor([0.5, 1, 2, -1, -1, 0], shape: [2, 3]), tied, op))
            try assertZeroDerivatives(name, [a, b]) { try op($0[0], $0[1]) }
            // A float function of the comparison: the comparison contributes no derivative.
            try assertZeroDerivatives("\(name) cast", [a, b]) { try emit(.cast, [try op($0[0], $0[1])], .dtype(.float64)) }
        }
    }

    func testSelectRules() throws {
        let cond = try Ops.tensor([1, 0, 1, 0, 0, 1], shape: [2, 3], dtype: .bool)
        var check = RuleCheck(name: "where", body: { try Ops.where($0[0], $0[1], $0[2]) },
                              inputs: [cond, try values([3], seed: 61), try values([2, 1], seed: 62)])
        try checkDerivatives(check)
        try checkBatching(check)
        // Broadcast condition, and a cond batched alone (the loop keeps it as given).
        check = RuleCheck(name: "where broadcast cond", body: { try Ops.where($0[0], $0[1], $0[2]) },
                          inputs: [try Ops.tensor([1, 0, 0], shape: [3], dtype: .bool), try values([2, 3], seed: 63), try values([], seed: 64)])
        try checkDerivatives(check)
        try checkBatching(check)
    }

    func testActivationCompositeRules() throws {
        try checkAll([
            unary("silu", try values([2, 3], seed: 71), Ops.silu),
            unary("gelu", try values([2, 3], seed: 72)) { try Ops.gelu($0) },
            unary("gelu tanh", try values([2, 3], seed: 73)) { try Ops.gelu($0, tanhApproximation: true) },
        ])
    }

    // MARK: Direct cases

    /// JVP and VJP of a non-differentiable op are zeros of the right shapes (and nothing throws).
    private func assertZeroDerivatives(_ name: String, _ inputs: [Tensor], _ body: @escaping ([Value]) throws -> Value,
                                       file: StaticString = #filePath, line: UInt = #line) throws {
        let f = Function(name: name, inputCount: inputs.count, outputCount: 1) { [try body($0)] }
        let tangents: [Value?] = try inputs.map { try Ops.full(shape: $0.shape, value: 1, dtype: .float64) }
        let (outputs, outputTangents) = try Transforms.jvp(f, inputs, tangents)
        XCTAssertEqual(outputTangents[0].shape, outputs[0].shape, name, file: file, line: line)
        XCTAssertTrue(try Ops.doubles(outputTangents[0]).allSatisfy { $0 == 0 }, "\(name): JVP is not zero", file: file, line: line)
        let (vjpOutputs, pullback) = try Transforms.vjp(f, inputs)
        let cotangent = try Ops.full(shape: vjpOutputs[0].shape, value: 1, dtype: .float64)
        for (i, gradient) in try pullback([cotangent]).enumerated() {
            XCTAssertEqual(gradient.shape, inputs[i].shape, name, file: file, line: line)
            XCTAssertTrue(try Ops.doubles(gradient).allSatisfy { $0 == 0 }, "\(name): VJP \(i) is not zero", file: file, line: line)
        }
    }

    private func gradients(_ inputs: [Value], wrt: [Int]? = nil, _ body: @escaping ([Value]) throws -> Value) throws -> [Value] {
        let f = Function(name: "f", inputCount: inputs.count, outputCount: 1) { [try body($0)] }
        let (outputs, pullback) = try Transforms.vjp(f, inputs, wrt: wrt)
        return try pullback([try Ops.full(shape: outputs[0].shape, value: 1, dtype: outputs[0].dtype)])
    }

    func testPowAtZeroBase() throws {
        // torch: d/da is 0 where b == 0; d/db is 0 where a == 0 and b >= 0.
        let a = try Ops.tensor([0, 0, 2, 0.5, 0], shape: [5]), b = try Ops.tensor([2, 0, 3, 0, 0.5], shape: [5])
        let g = try gradients([a, b]) { try Ops.pow($0[0], $0[1]) }
        try assertValues(g[0], [0, 0, 12, 0, .infinity], shape: [5], dtype: .float64)
        try assertValues(g[1], [0, 0, 8 * Glibc.log(2.0), Glibc.log(0.5), 0], shape: [5], dtype: .float64)
        // The JVP agrees.
        let f = Function(name: "pow", inputCount: 2, outputCount: 1) { [try Ops.pow($0[0], $0[1])] }
        let ones = try Ops.full(shape: [5], value: 1, dtype: .float64)
        let jb = try Transforms.jvp(f, [a, b], [nil, ones]).tangents[0]
        try assertValues(jb, [0, 0, 8 * Glibc.log(2.0), Glibc.log(0.5), 0], shape: [5], dtype: .float64)
        let ja = try Transforms.jvp(f, [a, b], [ones, nil]).tangents[0]
        try assertValues(ja, [0, 0, 12, 0, .infinity], shape: [5], dtype: .float64)
    }

    func testPowWithIntegerOperands() throws {
        // x ** k with an integer exponent, and k ** x with an integer base (log taken in float64).
        let x = try Ops.tensor([0.5, 1.5, -2], shape: [3])
        let k = try Ops.tensor([3], shape: [], dtype: .int64)
        let g = try gradients([x, k], wrt: [0]) { try Ops.pow($0[0], $0[1]) }
        try assertValues(g[0], [0.75, 6.75, 12], shape: [3], dtype: .float64)
        let base = try Ops.tensor([3], shape: [], dtype: .int32)
        let h = try gradients([base, x], wrt: [1]) { try Ops.pow($0[0], $0[1]) }
        try assertValues(h[0], [0.5, 1.5, -2].map { Glibc.pow(3, $0) * Glibc.log(3.0) }, shape: [3], dtype: .float64)
        // A weak scalar exponent keeps float32.
        let x32 = try Ops.tensor([0.5, 1.5, -2], shape: [3], dtype: .float32)
        let s = try gradients([x32]) { try Ops.pow($0[0], Ops.scalar(2)) }
        try assertValues(s[0], [1, 3, -4], shape: [3], dtype: .float32)
    }

    func testTiesAndKinks() throws {
        let a = try Ops.tensor([1, 2, 3], shape: [3]), b = try Ops.tensor([1, 1, 4], shape: [3])
        let gmax = try gradients([a, b]) { try Ops.maximum($0[0], $0[1]) }
        try assertValues(gmax[0], [0.5, 1, 0], shape: [3], dtype: .float64)
        try assertValues(gmax[1], [0.5, 0, 1], shape: [3], dtype: .float64)
        let gmin = try gradients([a, b]) { try Ops.minimum($0[0], $0[1]) }
        try assertValues(gmin[0], [0.5, 0, 1], shape: [3], dtype: .float64)
        try assertValues(gmin[1], [0.5, 1, 0], shape: [3], dtype: .float64)
        // Broadcast tie: a scalar b ties with one element of a.
        let gb = try gradients([a, try Ops.tensor([2], shape: [])]) { try Ops.maximum($0[0], $0[1]) }
        try assertValues(gb[1], [1.5], shape: [], dtype: .float64)
        // relu'(0) = 0, abs'(0) = 0, as torch.
        let x = try Ops.tensor([-1, 0, 2], shape: [3])
        try assertValues(try gradients([x]) { try Ops.relu($0[0]) }[0], [0, 0, 1], shape: [3], dtype: .float64)
        try assertValues(try gradients([x]) { try Ops.abs($0[0]) }[0], [-1, 0, 1], shape: [3], dtype: .float64)
        // relu does not leak an infinite tangent where x <= 0.
        let f = Function(name: "relu", inputCount: 1, outputCount: 1) { [try Ops.relu($0[0])] }
        let t = try Ops.tensor([.infinity, .infinity, 1], shape: [3])
        try assertValues(try Transforms.jvp(f, [x], [t]).tangents[0], [0, 0, 1], shape: [3], dtype: .float64)
    }

    func testMixedPrecision() throws {
        // float32 [3] * float64 [2, 3]: the tangent is float64 [2, 3]; cotangents come back in each input's dtype and shape.
        let a = try Ops.tensor([1, 2, 3], shape: [3], dtype: .float32)
        let b = try Ops.tensor([1, -1, 2, 0.5, 3, -2], shape: [2, 3], dtype: .float64)
        let f = Function(name: "mul", inputCount: 2, outputCount: 1) { [try Ops.mul($0[0], $0[1])] }
        let ta = try Ops.tensor([1, 0, -1], shape: [3], dtype: .float32)
        let (_, tangents) = try Transforms.jvp(f, [a, b], [ta, nil])
        try assertValues(tangents[0], [1, 0, -2, 0.5, 0, 2], shape: [2, 3], dtype: .float64)
        let g = try gradients([a, b]) { try Ops.mul($0[0], $0[1]) }
        try assertValues(g[0], [1.5, 2, 0], shape: [3], dtype: .float32)
        try assertValues(g[1], [1, 2, 3, 1, 2, 3], shape: [2, 3], dtype: .float64)
        // Integer operands get no cotangent; a float32 unary keeps float32 tangents.
        let k = try Ops.tensor([2, 3, 4], shape: [3], dtype: .int32)
        let gk = try gradients([a, k], wrt: [0]) { try Ops.div($0[0], $0[1]) }
        try assertValues(gk[0], [0.5, 1.0 / 3, 0.25], shape: [3], dtype: .float32)
        let e = Function(name: "exp", inputCount: 1, outputCount: 1) { [try Ops.exp($0[0])] }
        let te = try Transforms.jvp(e, [a], [try Ops.tensor([1, 1, 1], shape: [3], dtype: .float64)]).tangents[0]
        try assertValues(te, [1, 2, 3].map { Glibc.exp($0) }, shape: [3], dtype: .float32)
        // An integer input to a float unary op is a constant: its output has no tangent.
        let gi = try gradients([x32(), k], wrt: [0]) { try Ops.mul($0[0], Ops.sqrt($0[1])) }
        try assertValues(gi[0], [2, 3, 4].map { Double(Float(Glibc.sqrt($0))) }, shape: [3], dtype: .float32)
    }

    private func x32() throws -> Tensor { try Ops.tensor([1, 1, 1], shape: [3], dtype: .float32) }

    func testBatchedWithUnbatchedBroadcast() throws {
        // A batched per-example scalar against an unbatched [2, 3]: the result is [B, 2, 3], and the
        // unbatched operand is not copied along the batch.
        let s = try Ops.tensor([1, 2, 3, 4], shape: [4])
        let m = try values([2, 3], seed: 81)
        let f = Function(name: "mul", inputCount: 2, outputCount: 1) { [try Ops.mul($0[0], $0[1])] }
        let result = try Transforms.vmap(f, inDims: [0, nil], outDims: [0])([s, m])[0]
        let mv = try Ops.doubles(m)
        try assertValues(result, [1, 2, 3, 4].flatMap { k in mv.map { k * $0 } }, shape: [4, 2, 3], dtype: .float64)
        // Output batch dim elsewhere, input batch dim last.
        let columns = try Ops.tensor([1, 2, 3, 4, 5, 6], shape: [3, 2])  // per example [3], batch of 2 along dim 1
        let g = Function(name: "add", inputCount: 2, outputCount: 1) { [try Ops.add($0[0], $0[1])] }
        let added = try Transforms.vmap(g, inDims: [1, nil], outDims: [1])([columns, try Ops.tensor([10, 20], shape: [2, 1])])[0]
        // example b: [x0b, x1b, x2b] + [[10], [20]] -> [2, 3]; stacked at dim 1: [2, B, 3].
        try assertValues(added, [11, 13, 15, 12, 14, 16, 21, 23, 25, 22, 24, 26], shape: [2, 2, 3], dtype: .float64)
    }

    func testWeakScalarsUnderVmap() throws {
        // A weak scalar stays unbatched and weak: float32 stays float32.
        let x = try Ops.tensor([1, 2, 3, 4, 5, 6], shape: [2, 3], dtype: .float32)
        let f = Function(name: "f", inputCount: 1, outputCount: 1) { [try Ops.mul(Ops.add($0[0], Ops.scalar(1)), Ops.scalar(0.5))] }
        try assertValues(try Transforms.vmap(f, inDims: [1], outDims: [0])([x])[0], [1, 2.5, 1.5, 3, 2, 3.5], shape: [3, 2], dtype: .float32)
        // A batched weak value (where of two scalars under a batched condition) against a float32
        // operand of higher rank: it must still lose the promotion, as it does per example.
        let c = try Ops.tensor([1, 0], shape: [2], dtype: .bool)
        let g = Function(name: "g", inputCount: 2, outputCount: 1) { args in
            [try Ops.mul(Ops.where(args[0], Ops.scalar(1), Ops.scalar(-1)), args[1])]
        }
        let perExample = try g([try Ops.tensor([1], shape: [], dtype: .bool), try Ops.tensor([1, 2, 3], shape: [3], dtype: .float32)])[0]
        XCTAssertEqual(perExample.dtype, .float32)
        for inDims in [[0, 0], [0, 1], [0, nil]] as [[Int?]] {
            let xs = inDims[1] == nil ? try Ops.tensor([1, 2, 3], shape: [3], dtype: .float32)
                : inDims[1] == 0 ? x : try Batching.moveDim(x, from: 0, to: 1)
            let result = try Transforms.vmap(g, inDims: inDims, outDims: [0])([c, xs])[0]
            let expected: [Double] = inDims[1] == nil ? [1, 2, 3, -1, -2, -3] : [1, 2, 3, -4, -5, -6]
            try assertValues(result, expected, shape: [2, 3], dtype: .float32, "in_dims \(inDims)")
        }
    }

    func testJacrevMatchesJacfwd() throws {
        // The reverse rules under vmap (jacrev) against the forward rules under vmap (jacfwd), with broadcasting.
        let f = Function(name: "f", inputCount: 2, outputCount: 1) { args in
            let (x, y) = (args[0], args[1])
            let mixed = try Ops.atan2(Ops.mul(x, y), Ops.add(Ops.pow(x, Ops.scalar(2)), Ops.scalar(1)))
            return [try Ops.add(Ops.maximum(mixed, Ops.tanh(y)), Ops.div(Ops.sigmoid(x), Ops.exp(y)))]
        }
        let x = try values([2, 3], seed: 91), y = try values([3], seed: 92)
        let reverse = try Transforms.jacrev(f, argnums: [0, 1], hasAux: false)([x, y])
        let forward = try Transforms.jacfwd(f, argnums: [0, 1], hasAux: false)([x, y])
        for (r, q) in zip(reverse, forward) {
            try assertValues(r, try Ops.doubles(q), shape: q.shape, dtype: .float64, tolerance: 1e-12)
        }
        XCTAssertEqual(reverse[0].shape, [2, 3, 2, 3])
        XCTAssertEqual(reverse[1].shape, [2, 3, 3])
    }

    func testSecondDerivatives() throws {
        // d²/dx² sin = -sin, d²/dx² of x^3 = 6x, through grad of grad.
        let x = try Ops.tensor([0.3, -1.2, 2], shape: [3])
        let first = Function(name: "d", inputCount: 1, outputCount: 1) { args in
            try self.gradients(args) { try Ops.add(Ops.sin($0[0]), Ops.pow($0[0], Ops.scalar(3))) }
        }
        let (_, pullback) = try Transforms.vjp(first, [x])
        let second = try pullback([try Ops.full(shape: [3], value: 1, dtype: .float64)])[0]
        try assertValues(second, [0.3, -1.2, 2].map { -Glibc.sin($0) + 6 * $0 }, shape: [3], dtype: .float64, tolerance: 1e-12)
    }
}
