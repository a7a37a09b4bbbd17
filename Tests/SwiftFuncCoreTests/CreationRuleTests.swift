import XCTest
@testable import SwiftFuncCore

final class CreationRuleTests: XCTestCase {
    // MARK: cast

    func testCastDerivatives() throws {
        var rng = TestRandom(seed: 31)
        // The primitive itself, float64 -> float64 (finite differences need float64 end to end).
        let same = RuleCheck(name: "cast f64", body: { try emit(.cast, [$0[0]], .dtype(.float64)) },
                             inputs: [try randomTensor([2, 3], rng: &rng)])
        try checkDerivatives(same)
    }

    func testCastBatching() throws {
        var rng = TestRandom(seed: 33)
        try checkBatching(RuleCheck(name: "cast f64", body: { try emit(.cast, [$0[0]], .dtype(.float64)) },
                                    inputs: [try randomTensor([2, 3], rng: &rng)]))
        // Real conversions, including to integers and bool.
        for dtype in [DType.float32, .int64, .int32, .bool] {
            try checkBatching(RuleCheck(name: "cast \(dtype)", body: { try Ops.cast($0[0], to: dtype) },
                                        inputs: [try randomTensor([3, 2], in: (-3, 3), rng: &rng)]))
        }
    }

    /// Between float dtypes the tangent converts forward and the cotangent converts back, with
    /// the dtypes of the output and of the input.
    func testCastBetweenFloatDTypes() throws {
        var rng = TestRandom(seed: 32)
        let xv = randomValues([4], rng: &rng), tv = randomValues([4], rng: &rng)
        let x = try Ops.tensor(xv, shape: [4]), t = try Ops.tensor(tv, shape: [4])
        let toFloat = makeFunction("to float32", inputs: 1) { [try Ops.cast($0[0], to: .float32)] }
        let tangent = try Transforms.jvp(toFloat, [x], [t]).tangents[0]
        try assertValues(tangent, tv.map { Double(Float($0)) }, shape: [4], dtype: .float32, tolerance: 0)
        let (_, pullback) = try Transforms.vjp(toFloat, [x])
        let ctv = randomValues([4], dtype: .float32, rng: &rng)
        let cotangent = try pullback([Ops.tensor(ctv, shape: [4], dtype: .float32)])[0]
        try assertValues(cotangent, ctv, shape: [4], dtype: .float64, tolerance: 0)
        // float32 -> float64 and back: the JVP is exact, the gradient has float32's dtype.
        let x32 = try Ops.tensor(xv.map { Double(Float($0)) }, shape: [4], dtype: .float32)
        let toDouble = makeFunction("to float64", inputs: 1) { [try Ops.cast($0[0], to: .float64)] }
        let t64 = try Transforms.jvp(toDouble, [x32], [Ops.tensor(tv.map { Double(Float($0)) }, shape: [4], dtype: .float32)]).tangents[0]
        try assertValues(t64, tv.map { Double(Float($0)) }, shape: [4], dtype: .float64, tolerance: 0)
        let g32 = try Transforms.vjp(toDouble, [x32]).pullback([Ops.tensor(ctv, shape: [4])])[0]
        try assertValues(g32, ctv.map { Double(Float($0)) }, shape: [4], dtype: .float32, tolerance: 0)
    }

    /// A cast to an integer dtype has no tangent and stops the gradient; an integer input gets no
    /// cotangent (the rules called directly, and through the transforms).
    func testCastToAndFromIntegersIsNotDifferentiable() throws {
        let rules = Primitive.rules[Primitive.cast.rawValue]
        let x = try Ops.tensor([1.5, -2.5], shape: [2]), t = try Ops.tensor([1, 1], shape: [2])
        let toInt = try Ops.cast(x, to: .int64)
        XCTAssertNil(try rules.jvp?([x], [t], toInt, .dtype(.int64)) as Any?)
        XCTAssertNil(try rules.jvp?([x], [nil], try Ops.cast(x, to: .float32), .dtype(.float32)) as Any?)
        let ints = try Ops.tensor([3, 4], shape: [2], dtype: .int64)
        let vjp = try XCTUnwrap(rules.vjp)
        let fromInt = try vjp(try Ops.tensor([1, 1], shape: [2]), [ints], try Ops.cast(ints, to: .float64), .dtype(.float64), [true])
        XCTAssertEqual(fromInt.count, 1)
        XCTAssertNil(fromInt[0])

        let roundTrip = makeFunction("through int", inputs: 1) { [try Ops.cast(Ops.cast($0[0], to: .int64), to: .float64)] }
        let tangent = try Transforms.jvp(roundTrip, [x], [t]).tangents[0]
        try assertValues(tangent, [0, 0], shape: [2], dtype: .float64)
        let cotangent = try Transforms.vjp(roundTrip, [x]).pullback([t])[0]
        try assertValues(cotangent, [0, 0], shape: [2], dtype: .float64)
        let toIntFunction = makeFunction("to int", inputs: 1) { [try Ops.cast($0[0], to: .int32)] }
        try assertValues(Transforms.jvp(toIntFunction, [x], [t]).tangents[0], [0, 0], shape: [2], dtype: .int32)
    }

    // MARK: full, arange

    /// The rules of the argument-less primitives, called directly: zero tangent, no cotangents,
    /// and an unbatched result equal to the op's.
    func testConstantRulesDirectly() throws {
        let cases: [(Primitive, Params, [Double])] = [
            (.full, .fill(shape: [2, 2], value: 1.5, dtype: .float64), [1.5, 1.5, 1.5, 1.5]),
            (.arange, .arange(start: 1, step: 0.5, count: 3, dtype: .float64), [1, 1.5, 2]),
        ]
        for (primitive, params, expected) in cases {
            let rules = Primitive.rules[primitive.rawValue]
            let output = try emit(primitive, [], params)
            XCTAssertNil(try XCTUnwrap(rules.jvp)([], [], output, params), "\(primitive)")
            XCTAssertEqual(try XCTUnwrap(rules.vjp)(output, [], output, params, []).count, 0, "\(primitive)")
            let (value, dim) = try XCTUnwrap(rules.batch)([], [], BatchContext(size: 4, randomness: .error), params)
            XCTAssertNil(dim, "\(primitive)")
            try assertValues(value, expected, shape: output.shape, dtype: .float64)
        }
    }

    /// Constants made inside transformed functions: no tangent or gradient flows into them, and
    /// under vmap they stay unbatched while the function's result is batched.
    func testConstantsInsideTransforms() throws {
        let f = makeFunction("x * arange + full", inputs: 1) { x in
            let ramp = try Ops.arange(0, 3, 1, dtype: .float64)
            return [try Ops.add(Ops.mul(x[0], ramp), Ops.full(shape: [3], value: 2, dtype: .float64))]
        }
        let x = try Ops.tensor([1, 2, 3], shape: [3])
        try assertValues(Transforms.jvp(f, [x], [Ops.tensor([1, 1, 1], shape: [3])]).tangents[0], [0, 1, 2], shape: [3], dtype: .float64)
        try assertValues(Transforms.vjp(f, [x]).pullback([Ops.tensor([1, 1, 1], shape: [3])])[0], [0, 1, 2], shape: [3], dtype: .float64)
        let xs = try Ops.tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        try assertValues(Transforms.vmap(f, inDims: [0], outDims: [0])([xs])[0], [2, 4, 8, 2, 7, 14], shape: [2, 3], dtype: .float64)
    }

    // MARK: eye, linspace

    func testEyeMatchesReference() throws {
        for (n, m) in [(3, 3), (2, 4), (4, 2), (1, 1), (0, 3), (3, 0), (0, 0)] {
            for dtype in [DType.float32, .float64, .int64, .int32, .bool] {
                let expected = (0..<(n * m)).map { $0 / m == $0 % m ? 1.0 : 0.0 }
                try assertValues(Ops.eye(n, m, dtype: dtype), expected, shape: [n, m], dtype: dtype, tolerance: 0, "eye(\(n), \(m)) \(dtype)")
            }
        }
        assertThrows(.invalidArgument, "sizes must be >= 0") { try Ops.eye(-1, 2) }
        assertThrows(.invalidArgument, "sizes must be >= 0") { try Ops.eye(2, -3) }
    }

    func testLinspaceMatchesReferenceWithExactEndpoints() throws {
        let cases: [(Double, Double, Int)] = [
            (0, 1, 5), (-1, 1, 7), (0.1, 0.7, 10), (3, -2, 6), (1e-3, 1e3, 11), (-0.3, 0.3, 2),
            (0.1, 0.3, 3), (2, 2, 4), (1.0 / 3, 2.0 / 3, 100), (-7.1, 9.3, 33),
        ]
        for (start, end, steps) in cases {
            let step = (end - start) / Double(steps - 1)
            // torch's formula: the first half counts up from start, the second half down from end.
            let expected = (0..<steps).map { i in i < steps / 2 ? start + Double(i) * step : end - Double(steps - 1 - i) * step }
            let values = try Ops.linspace(start, end, steps: steps, dtype: .float64)
            try assertValues(values, expected, shape: [steps], dtype: .float64, tolerance: 0, "linspace(\(start), \(end), \(steps))")
            let doubles = try Ops.doubles(values)
            XCTAssertEqual(doubles.first, start, "first of linspace(\(start), \(end), \(steps))")
            XCTAssertEqual(doubles.last, end, "last of linspace(\(start), \(end), \(steps))")
            // Evenly spaced up to rounding.
            for i in 0..<steps { XCTAssertEqual(doubles[i], start + Double(i) * step, accuracy: 1e-12 * Swift.max(1, Swift.abs(end) + Swift.abs(start))) }
            let single = try Ops.doubles(Ops.linspace(start, end, steps: steps, dtype: .float32))
            XCTAssertEqual(single.first, Double(Float(start)))
            XCTAssertEqual(single.last, Double(Float(end)))
            XCTAssertEqual(single, expected.map { Double(Float($0)) })
        }
        try assertValues(Ops.linspace(2, 5, steps: 1), [2], shape: [1], dtype: .float32)
        try assertValues(Ops.linspace(2, 5, steps: 0), [], shape: [0], dtype: .float32)
        // Integer dtypes truncate like a cast (torch: [0, 2, 5, 7, 10]).
        try assertValues(Ops.linspace(0, 10, steps: 5, dtype: .int64), [0, 2, 5, 7, 10], shape: [5], dtype: .int64, tolerance: 0)
        assertThrows(.invalidArgument, "steps must be >= 0") { try Ops.linspace(0, 1, steps: -1) }
        assertThrows(.invalidArgument, "finite") { try Ops.linspace(0, .infinity, steps: 3) }
        assertThrows(.invalidArgument, "finite") { try Ops.linspace(.nan, 1, steps: 3) }
    }
}
