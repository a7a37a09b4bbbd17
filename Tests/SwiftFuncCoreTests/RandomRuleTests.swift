import XCTest
@testable import SwiftFuncCore

final class RandomRuleTests: XCTestCase {
    private let draws: [(String, ([Int], DType) throws -> Value)] = [
        ("rand", { try Ops.rand(shape: $0, dtype: $1) }),
        ("randn", { try Ops.randn(shape: $0, dtype: $1) }),
    ]

    /// Zero tangent, no cotangents, and a batching rule that runs the op unbatched (under a vmap
    /// whose randomness is 'same').
    func testRandomRulesDirectly() throws {
        for primitive in [Primitive.uniform, .normal] {
            let rules = Primitive.rules[primitive.rawValue]
            let params = Params.random(shape: [5], dtype: .float64, key: 7, counter: 3)
            let output = try emit(primitive, [], params)
            XCTAssertNil(try XCTUnwrap(rules.jvp)([], [], output, params))
            XCTAssertEqual(try XCTUnwrap(rules.vjp)(output, [], output, params, []).count, 0)
            let (value, dim) = try XCTUnwrap(rules.batch)([], [], BatchContext(size: 3, randomness: .same), params)
            XCTAssertNil(dim)
            XCTAssertEqual(try Ops.doubles(value), try Ops.doubles(output), "a draw is a pure function of its params")
        }
    }

    /// vmap over a function that draws: 'different' gives each row its own sample and the next
    /// draw after the vmap overlaps none of them; 'same' gives equal rows; 'error' refuses.
    func testRandomnessModesThroughVmap() throws {
        for (name, draw) in draws {
            for dtype in [DType.float32, .float64] {
                let f = makeFunction(name, inputs: 1) { _ in [try draw([6], dtype)] }
                let batch = try Ops.tensor([Double](repeating: 0, count: 4), shape: [4])
                Ops.manualSeed(123)
                let different = try Transforms.vmap(f, inDims: [0], outDims: [0], randomness: .different)([batch])[0]
                XCTAssertEqual(different.shape, [4, 6])
                XCTAssertEqual(different.dtype, dtype)
                let rows = try Ops.doubles(different)
                let next = try Ops.doubles(draw([6], dtype))
                for i in 0..<4 {
                    let row = Array(rows[(i * 6)..<((i + 1) * 6)])
                    for j in (i + 1)..<4 { XCTAssertNotEqual(row, Array(rows[(j * 6)..<((j + 1) * 6)]), "\(name) \(dtype): rows \(i) and \(j)") }
                }
                // Counters of the next draw do not overlap the batch's: none of its values repeats.
                XCTAssertTrue(Set(next).isDisjoint(with: Set(rows)), "\(name) \(dtype): the next draw reuses counters of the vmap")
                XCTAssertEqual(Set(rows).count, 24, "\(name) \(dtype): values repeat inside the batch")
                if name == "rand" { XCTAssertTrue(rows.allSatisfy { $0 >= 0 && $0 < 1 }) }

                let same = try Ops.doubles(Transforms.vmap(f, inDims: [0], outDims: [0], randomness: .same)([batch])[0])
                for i in 1..<4 { XCTAssertEqual(Array(same[(i * 6)..<((i + 1) * 6)]), Array(same[0..<6]), "\(name) \(dtype): 'same' row \(i)") }

                assertThrows(.transform, "sf_\(name): random operations under vmap need randomness 'different' or 'same'") {
                    try Transforms.vmap(f, inDims: [0], outDims: [0])([batch])
                }
            }
        }
    }

    /// Random draws inside jvp and grad are constants: no tangent, no gradient.
    func testRandomDrawsAreConstantsUnderDifferentiation() throws {
        let f = makeFunction("x * rand", inputs: 1) { x in [try Ops.mul(x[0], Ops.rand(shape: [3], dtype: .float64))] }
        let x = try Ops.tensor([1, 2, 3], shape: [3]), ones = try Ops.tensor([1, 1, 1], shape: [3])
        Ops.manualSeed(5)
        let (outputs, tangents) = try Transforms.jvp(f, [x], [ones])
        // d(x * r) = r: the tangent is the draw itself, which the output divided by x recovers.
        let r = zip(try Ops.doubles(outputs[0]), [1.0, 2, 3]).map { $0 / $1 }
        try assertValues(tangents[0], r, shape: [3], dtype: .float64)
    }

    // MARK: bernoulli, dropout

    func testBernoulliUnderVmapUsesEachExamplesProbabilities() throws {
        let f = makeFunction("bernoulli", inputs: 1) { [try Ops.bernoulli($0[0])] }
        // Row 0 has p = 0, row 1 p = 1, row 2 p = 0.5: zeros, ones, and a mix.
        let p = try Ops.tensor([Double](repeating: 0, count: 50) + [Double](repeating: 1, count: 50) + [Double](repeating: 0.5, count: 50), shape: [3, 50])
        for randomness in [Randomness.different, .same] {
            let samples = try Ops.doubles(Transforms.vmap(f, inDims: [0], outDims: [0], randomness: randomness)([p])[0])
            XCTAssertTrue(samples[0..<50].allSatisfy { $0 == 0 })
            XCTAssertTrue(samples[50..<100].allSatisfy { $0 == 1 })
            let mixed = samples[100..<150]
            XCTAssertTrue(mixed.allSatisfy { $0 == 0 || $0 == 1 })
            XCTAssertTrue(mixed.contains(0) && mixed.contains(1))
        }
        assertThrows(.transform, "randomness") { try Transforms.vmap(f, inDims: [0], outDims: [0])([p]) }
        // Not differentiable in p: a zero gradient.
        let total = makeFunction("sum bernoulli", inputs: 1) { [try Ops.sum(Ops.bernoulli($0[0]))] }
        let gradient = try Transforms.grad(total, argnums: [0], hasAux: false)([Batching.select(p, dim: 0, index: 2)])[0]
        try assertValues(gradient, [Double](repeating: 0, count: 50), shape: [50], dtype: .float64)
    }

    func testDropoutUnderVmap() throws {
        let p = 0.25
        let f = makeFunction("dropout", inputs: 1) { [try Ops.dropout($0[0], p: p)] }
        let x = try Ops.tensor([Double](repeating: 1, count: 4 * 40), shape: [4, 40])
        let different = try Ops.doubles(Transforms.vmap(f, inDims: [0], outDims: [0], randomness: .different)([x])[0])
        XCTAssertTrue(different.allSatisfy { $0 == 0 || $0 == 1 / (1 - p) })
        let rows = (0..<4).map { Array(different[($0 * 40)..<(($0 + 1) * 40)]) }
        for i in 0..<4 { for j in (i + 1)..<4 { XCTAssertNotEqual(rows[i], rows[j], "rows \(i) and \(j) share a mask") } }
        let dropped = different.filter { $0 == 0 }.count
        XCTAssertTrue(dropped > 10 && dropped < 80, "\(dropped) of 160 dropped with p = \(p)")
        let same = try Ops.doubles(Transforms.vmap(f, inDims: [0], outDims: [0], randomness: .same)([x])[0])
        for i in 1..<4 { XCTAssertEqual(Array(same[(i * 40)..<((i + 1) * 40)]), Array(same[0..<40])) }
        assertThrows(.transform, "randomness") { try Transforms.vmap(f, inDims: [0], outDims: [0])([x]) }
        // Not training, or p = 0: no randomness at all, so the default mode works.
        let eval = makeFunction("dropout eval", inputs: 1) { [try Ops.dropout($0[0], p: p, training: false)] }
        try assertValues(Transforms.vmap(eval, inDims: [0], outDims: [0])([x])[0], Ops.doubles(x), shape: [4, 40], dtype: .float64)
    }

    /// The gradient of sum(dropout(x)) is the mask scaled by 1/(1-p), the mask being where the
    /// output is nonzero; with p = 1 it is zero.
    func testDropoutGradientIsTheScaledMask() throws {
        var rng = TestRandom(seed: 41)
        for p in [0.3, 0.5, 1.0] {
            let xv = randomValues([50], in: (0.5, 2), rng: &rng)  // nonzero, so the mask shows in the output
            let x = try Ops.tensor(xv, shape: [50])
            let f = makeFunction("dropout", inputs: 1) { [try Ops.dropout($0[0], p: p)] }
            let (outputs, pullback) = try Transforms.vjp(f, [x])
            let output = try Ops.doubles(outputs[0])
            let gradient = try pullback([Ops.tensor([Double](repeating: 1, count: 50), shape: [50])])[0]
            let expected = output.map { $0 == 0 ? 0 : 1 / (1 - p) }
            try assertValues(gradient, expected, shape: [50], dtype: .float64, "p = \(p)")
            if p < 1 {
                for (o, (xi, e)) in zip(output, zip(xv, expected)) { XCTAssertEqual(o, xi * e, accuracy: 1e-12) }
            }
        }
        // Per-example gradients with dropout: vmap of grad, each row with its own mask.
        let loss = makeFunction("loss", inputs: 1) { [try Ops.sum(Ops.dropout($0[0], p: 0.5))] }
        let xs = try Ops.tensor([Double](repeating: 1, count: 3 * 30), shape: [3, 30])
        let grads = try Ops.doubles(Transforms.vmap(Transforms.grad(loss, argnums: [0], hasAux: false), inDims: [0], outDims: [0],
                                                    randomness: .different)([xs])[0])
        XCTAssertTrue(grads.allSatisfy { $0 == 0 || $0 == 2 })
        XCTAssertNotEqual(Array(grads[0..<30]), Array(grads[30..<60]))
    }
}
