import XCTest
@testable import SwiftFuncCore

/// JVP, VJP and batching rules of sum, prod, amax, amin, argmax and argmin.
final class ReductionsRuleTests: XCTestCase {
    /// (dims, keepdim) cases on a [2, 3, 4] input.
    private let cases: [([Int]?, Bool)] = [(nil, false), ([1], false), ([0, 2], true), ([-1], false), ([2, 0], false), (nil, true)]

    private func reduce(_ primitive: Primitive, _ x: Value, _ dims: [Int]?, _ keepdim: Bool) throws -> Value {
        switch primitive {
        case .sum: return try Ops.sum(x, dims: dims, keepdim: keepdim)
        case .prod: return try Ops.prod(x, dims: dims, keepdim: keepdim)
        case .amax: return try Ops.amax(x, dims: dims, keepdim: keepdim)
        case .amin: return try Ops.amin(x, dims: dims, keepdim: keepdim)
        case .argmax: return try Ops.argmax(x, dims: dims, keepdim: keepdim)
        default: return try Ops.argmin(x, dims: dims, keepdim: keepdim)
        }
    }

    private func checkAll(_ primitive: Primitive, range: (Double, Double)) throws {
        for (k, (dims, keepdim)) in cases.enumerated() {
            let x = try randomTensor([2, 3, 4], seed: UInt64(10 + k), in: range)
            try checkRules("\(primitive.name) dims \(dims.map { "\($0)" } ?? "all") keepdim \(keepdim)", [x]) { [self] in
                try reduce(primitive, $0[0], dims, keepdim)
            }
        }
        // Rank 0 (reduces nothing) and 1-D.
        try checkRules("\(primitive.name) rank 0", [try randomTensor([], seed: 3, in: range)]) { [self] in try reduce(primitive, $0[0], nil, false) }
        try checkRules("\(primitive.name) 1-D", [try randomTensor([5], seed: 4, in: range)]) { [self] in try reduce(primitive, $0[0], [0], true) }
    }

    func testSum() throws { try checkAll(.sum, range: (-2, 2)) }

    func testProd() throws { try checkAll(.prod, range: (0.5, 1.5)) }

    func testProdWithNegativeValues() throws {
        try checkRules("prod negative", [try randomTensor([3, 5], seed: 21)]) { try Ops.prod($0[0], dims: [1]) }
    }

    /// The gradient of prod at zeros is the product of the other elements, not prod / x.
    func testProdGradientAtZeros() throws {
        let x = try Ops.tensor([0, 2, 3, 0, 0, 4, 1, 2, 3], shape: [3, 3])
        let body: ([Value]) throws -> Value = { try Ops.prod($0[0], dims: [1]) }
        let gradient = try pullback(body, [x], wrt: [0], cotangent: try Ops.tensor([1, 1, 1], shape: [3]))[0]
        try assertValues(gradient, [6, 0, 0, 0, 0, 0, 6, 3, 2], shape: [3, 3], dtype: .float64)
        let tangent = try pushforward(body, [x], [try Ops.tensor([1, 1, 1, 1, 1, 1, 1, 1, 1], shape: [3, 3])])
        try assertValues(tangent, [6, 0, 11], shape: [3], dtype: .float64)
        // Second order at the zeros too (finite differences of a polynomial are exact enough).
        try checkRules("prod at zeros", [x]) { try Ops.prod($0[0], dims: [1]) }
        try checkRules("prod of everything at zeros", [x]) { try Ops.prod($0[0]) }
        try assertJacobians("prod jacobian at zeros", [x], wrt: 0) { try Ops.prod($0[0], dims: [0]) }
    }

    func testProdOfEmptyAndSingleGroups() throws {
        // A size-1 group: the derivative is 1; an empty input: an empty gradient.
        let single = try Ops.tensor([2, -3], shape: [2, 1])
        let gradient = try pullback({ try Ops.prod($0[0], dims: [1]) }, [single], wrt: [0], cotangent: try Ops.tensor([5, 7], shape: [2]))[0]
        try assertValues(gradient, [5, 7], shape: [2, 1], dtype: .float64)
        let empty = try Ops.tensor([], shape: [2, 0])
        let emptyGradient = try pullback({ try Ops.prod($0[0], dims: [1]) }, [empty], wrt: [0], cotangent: try Ops.tensor([5, 7], shape: [2]))[0]
        try assertValues(emptyGradient, [], shape: [2, 0], dtype: .float64)
    }

    func testAmaxAmin() throws {
        try checkAll(.amax, range: (-2, 2))
        try checkAll(.amin, range: (-2, 2))
    }

    /// Tied extremes share the gradient evenly (torch's amax/amin).
    func testAmaxTiesShareTheGradient() throws {
        let x = try Ops.tensor([1, 3, 3, 2, 2, 2], shape: [2, 3])
        let maxGradient = try pullback({ try Ops.amax($0[0], dims: [1]) }, [x], wrt: [0], cotangent: try Ops.tensor([1, 6], shape: [2]))[0]
        try assertValues(maxGradient, [0, 0.5, 0.5, 2, 2, 2], shape: [2, 3], dtype: .float64)
        let minGradient = try pullback({ try Ops.amin($0[0], dims: [1], keepdim: true) }, [x], wrt: [0], cotangent: try Ops.tensor([4, 3], shape: [2, 1]))[0]
        try assertValues(minGradient, [4, 0, 0, 1, 1, 1], shape: [2, 3], dtype: .float64)
        let tangent = try pushforward({ try Ops.amax($0[0], dims: [1]) }, [x], [try Ops.tensor([1, 2, 4, 3, 3, 6], shape: [2, 3])])
        try assertValues(tangent, [3, 4], shape: [2], dtype: .float64)
        // Over every dim: the two 3s are the maximum of all six.
        let all = try pullback({ try Ops.amax($0[0]) }, [x], wrt: [0], cotangent: try Ops.tensor([1], shape: []))[0]
        try assertValues(all, [0, 0.5, 0.5, 0, 0, 0], shape: [2, 3], dtype: .float64)
    }

    /// argmax/argmin have integer results: zero tangents and zero cotangents, and they batch.
    func testArgReductions() throws {
        for primitive in [Primitive.argmax, .argmin] {
            let x = try randomTensor([2, 3, 4], seed: 30)
            let body: ([Value]) throws -> Value = { [self] in try reduce(primitive, $0[0], [1], false) }
            let tangent = try pushforward(body, [x], [try randomTensor([2, 3, 4], seed: 31)])
            try assertValues(tangent, [Double](repeating: 0, count: 8), shape: [2, 4], dtype: .int64)
            let gradient = try pullback({ [self] in try Ops.mul(Ops.cast(reduce(primitive, $0[0], [1], false), to: .float64), Ops.scalar(1)) },
                                        [x], wrt: [0], cotangent: try randomTensor([2, 4], seed: 32))[0]
            try assertValues(gradient, [Double](repeating: 0, count: 24), shape: [2, 3, 4], dtype: .float64)
            // The rules themselves: no tangent, no cotangent.
            let rules = Primitive.rules[primitive.rawValue]
            let output = try body([x])
            XCTAssertNil(try rules.jvp?([x], [x], output, .reduction(dims: [1], keepdim: false)))
            XCTAssertEqual(try rules.vjp?(output, [x], output, .reduction(dims: [1], keepdim: false), [true]).count, 1)
            XCTAssertNil(try rules.vjp?(output, [x], output, .reduction(dims: [1], keepdim: false), [true])[0] ?? nil)
            for (k, (dims, keepdim)) in cases.enumerated() {
                let check = RuleCheck(name: "\(primitive.name) \(String(describing: dims)) \(keepdim)", body: { [self] in try reduce(primitive, $0[0], dims, keepdim) },
                                      inputs: [try randomTensor([2, 3, 4], seed: UInt64(40 + k))])
                try checkBatching(check)
            }
        }
    }

    /// A float32 input keeps float32 tangents and gradients, whatever the incoming tangent's dtype.
    func testFloat32() throws {
        let x = try Ops.tensor([1, 2, 3, 4, 5, 6], shape: [2, 3], dtype: .float32)
        let tangent = try pushforward({ try Ops.sum($0[0], dims: [0]) }, [x], [try Ops.tensor([1, 1, 1, 1, 1, 1], shape: [2, 3], dtype: .float64)])
        try assertValues(tangent, [2, 2, 2], shape: [3], dtype: .float32)
        let gradient = try pullback({ try Ops.prod($0[0], dims: [1]) }, [x], wrt: [0], cotangent: try Ops.tensor([1, 1], shape: [2], dtype: .float32))[0]
        try assertValues(gradient, [6, 3, 2, 30, 24, 20], shape: [2, 3], dtype: .float32)
        let maximum = try pullback({ try Ops.amax($0[0], dims: [1]) }, [x], wrt: [0], cotangent: try Ops.tensor([1, 1], shape: [2], dtype: .float32))[0]
        try assertValues(maximum, [0, 0, 1, 0, 0, 1], shape: [2, 3], dtype: .float32)
    }

    /// Jacobians exercise the VJP rules under vmap (a batched cotangent, unbatched primals).
    func testJacobians() throws {
        let x = try randomTensor([3, 4], seed: 50, in: (0.5, 1.5))
        try assertJacobians("sum", [x], wrt: 0) { try Ops.sum($0[0], dims: [1]) }
        try assertJacobians("prod", [x], wrt: 0) { try Ops.prod($0[0], dims: [0], keepdim: true) }
        try assertJacobians("amax", [x], wrt: 0) { try Ops.amax($0[0], dims: [1]) }
        try assertJacobians("amin", [x], wrt: 0) { try Ops.amin($0[0]) }
    }

    /// Hessian of prod: off-diagonal entries are the product of the remaining elements.
    func testProdHessian() throws {
        let x = try Ops.tensor([2, 0, 3], shape: [3])
        let function = Function(name: "prod", inputCount: 1, outputCount: 1) { [try Ops.prod($0[0])] }
        let hessian = try Transforms.hessian(function, argnums: [0])([x])[0]
        try assertValues(hessian, [0, 3, 0, 3, 0, 2, 0, 2, 0], shape: [3, 3], dtype: .float64)
    }
}
