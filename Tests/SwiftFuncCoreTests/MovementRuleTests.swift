import XCTest
@testable import SwiftFuncCore

/// JVP, VJP and batching rules of reshape, permute, expand, slice, flip, pad, cat and detach.
final class MovementRuleTests: XCTestCase {
    func testReshape() throws {
        let x = try randomTensor([2, 3, 4], seed: 1)
        try checkRules("reshape [6, 4]", [x]) { try Ops.reshape($0[0], shape: [6, 4]) }
        try checkRules("reshape [4, -1, 2]", [x]) { try Ops.reshape($0[0], shape: [4, -1, 2]) }
        try checkRules("reshape flat", [x]) { try Ops.reshape($0[0], shape: [-1]) }
        try checkRules("reshape of a transposed view", [x]) { try Ops.reshape(Ops.transpose($0[0], 0, 2), shape: [12, 2]) }
        try checkRules("reshape rank 0 to [1, 1]", [try randomTensor([], seed: 2)]) { try Ops.reshape($0[0], shape: [1, 1]) }
        try checkRules("reshape [1] to rank 0", [try randomTensor([1], seed: 3)]) { try Ops.reshape($0[0], shape: []) }
        try checkRules("squeeze/unsqueeze", [try randomTensor([3, 1, 2], seed: 4)]) { try Ops.unsqueeze(Ops.squeeze($0[0]), dim: -1) }
    }

    func testPermute() throws {
        let x = try randomTensor([2, 3, 4], seed: 5)
        try checkRules("permute [2, 0, 1]", [x]) { try Ops.permute($0[0], dims: [2, 0, 1]) }
        try checkRules("permute [1, 2, 0]", [x]) { try Ops.permute($0[0], dims: [1, 2, 0]) }
        try checkRules("transpose", [try randomTensor([3, 5], seed: 6)]) { try Ops.transpose($0[0], 0, 1) }
        try checkRules("permute rank 0", [try randomTensor([], seed: 7)]) { try Ops.permute($0[0], dims: []) }
    }

    func testExpand() throws {
        try checkRules("expand size-1 dims", [try randomTensor([3, 1, 2], seed: 8)]) { try Ops.expand($0[0], shape: [3, 4, 2]) }
        try checkRules("expand new leading dims", [try randomTensor([1, 2], seed: 9)]) { try Ops.expand($0[0], shape: [2, 3, 4, 2]) }
        try checkRules("expand rank 0", [try randomTensor([], seed: 10)]) { try Ops.expand($0[0], shape: [2, 3]) }
        try checkRules("expand to the same shape", [try randomTensor([2, 3], seed: 11)]) { try Ops.expand($0[0], shape: [-1, 3]) }
    }

    func testSlice() throws {
        let x = try randomTensor([4, 7], seed: 12)
        try checkRules("slice step 1", [x]) { try Ops.slice($0[0], dim: 1, start: 2, stop: 5) }
        try checkRules("slice step 2", [x]) { try Ops.slice($0[0], dim: 1, start: 1, step: 2) }
        try checkRules("slice step 3 ending early", [x]) { try Ops.slice($0[0], dim: 1, start: 0, stop: 5, step: 3) }
        try checkRules("slice step 3 to the end", [x]) { try Ops.slice($0[0], dim: 1, start: 0, step: 3) }
        try checkRules("slice dim 0 negative start", [x]) { try Ops.slice($0[0], dim: 0, start: -3, stop: -1) }
        try checkRules("slice one element with a huge step", [x]) { try Ops.slice($0[0], dim: 1, start: 4, step: .max) }
        try checkRules("slice nothing", [x]) { try Ops.slice($0[0], dim: 1, start: 3, stop: 3) }
    }

    /// The slice VJP puts the cotangent back among zeros, at the sliced positions only.
    func testSliceGradientPlacesTheCotangent() throws {
        let x = try Ops.tensor([Double](repeating: 1, count: 8), shape: [8])
        let gradient = try pullback({ try Ops.slice($0[0], dim: 0, start: 1, stop: 7, step: 3) }, [x], wrt: [0],
                                    cotangent: try Ops.tensor([5, 6], shape: [2]))[0]
        try assertValues(gradient, [0, 5, 0, 0, 6, 0, 0, 0], shape: [8], dtype: .float64)
    }

    func testFlip() throws {
        let x = try randomTensor([2, 3, 4], seed: 13)
        try checkRules("flip [0, 2]", [x]) { try Ops.flip($0[0], dims: [0, 2]) }
        try checkRules("flip [-2]", [x]) { try Ops.flip($0[0], dims: [-2]) }
        try checkRules("flip nothing", [x]) { try Ops.flip($0[0], dims: []) }
    }

    func testPad() throws {
        let x = try randomTensor([3, 4], seed: 14)
        try checkRules("pad", [x]) { try Ops.pad($0[0], pad: [1, 2, 0, 1]) }
        try checkRules("pad with a value", [x]) { try Ops.pad($0[0], pad: [2, 0], value: 3.5) }
        try checkRules("pad crop", [x]) { try Ops.pad($0[0], pad: [-1, -2, -1, 0]) }
        try checkRules("pad crop and pad", [x]) { try Ops.pad($0[0], pad: [-1, 2, 1, -2]) }
        try checkRules("pad crop everything", [x]) { try Ops.pad($0[0], pad: [-4, 0]) }
    }

    /// The pad VJP crops the padding and gives zeros where the pad cropped x.
    func testPadGradient() throws {
        let x = try Ops.tensor([1, 1, 1, 1], shape: [4])
        let gradient = try pullback({ try Ops.pad($0[0], pad: [-1, 2], value: 9) }, [x], wrt: [0],
                                    cotangent: try Ops.tensor([1, 2, 3, 4, 5], shape: [5]))[0]
        try assertValues(gradient, [0, 1, 2, 3], shape: [4], dtype: .float64)
    }

    func testCat() throws {
        let a = try randomTensor([2, 3], seed: 15), b = try randomTensor([2, 1], seed: 16), c = try randomTensor([2, 4], seed: 17)
        try checkRules("cat dim 1", [a, b, c]) { try Ops.cat($0, dim: 1) }
        try checkRules("cat dim 0", [a, try randomTensor([4, 3], seed: 18)]) { try Ops.cat($0, dim: 0) }
        try checkRules("cat one tensor", [a]) { try Ops.cat($0, dim: -1) }
        try checkRules("stack", [a, try randomTensor([2, 3], seed: 19)]) { try Ops.stack($0, dim: 1) }
        // A 1-D empty member takes no part, whatever its shape (torch's legacy rule), also under vmap.
        let empty = try Ops.tensor([], shape: [0])
        try checkRules("cat with a 1-D empty tensor", [a, empty, c]) { try Ops.cat($0, dim: 1) }
        try checkRules("cat of 1-D empty tensors", [empty, empty]) { try Ops.cat($0, dim: 0) }
        // An integer member: promoted in the forward pass, no tangent and no cotangent.
        let integers = try indexTensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        try checkRules("cat with an int64 member", [a, integers, try randomTensor([1, 3], seed: 20)], constant: [1]) { try Ops.cat($0, dim: 0) }
    }

    /// float32 and float64 members: the tangent is float64, each cotangent has its member's dtype.
    func testCatMixedFloatTypes() throws {
        let a = try Ops.tensor([1, 2], shape: [2], dtype: .float32), b = try Ops.tensor([3], shape: [1], dtype: .float64)
        let body: ([Value]) throws -> Value = { try Ops.cat($0, dim: 0) }
        let tangent = try pushforward(body, [a, b], [try Ops.tensor([0.5, 0.25], shape: [2], dtype: .float32), nil])
        try assertValues(tangent, [0.5, 0.25, 0], shape: [3], dtype: .float64)
        let cotangents = try pullback(body, [a, b], wrt: [0, 1], cotangent: try Ops.tensor([1, 2, 3], shape: [3]))
        try assertValues(cotangents[0], [1, 2], shape: [2], dtype: .float32)
        try assertValues(cotangents[1], [3], shape: [1], dtype: .float64)
        // Under vmap with only one member batched, the unbatched one is repeated and the dtype promoted.
        try assertVmapMatchesLoop("cat float32 unbatched", [[a, b], [a, try Ops.tensor([4], shape: [1])]], inDims: [nil, 0], body)
    }

    func testDetach() throws {
        let x = try randomTensor([2, 3], seed: 20)
        // x + detach(x) has derivative 1, not 2.
        let body: ([Value]) throws -> Value = { try Ops.add($0[0], Ops.detach($0[0])) }
        let gradient = try pullback(body, [x], wrt: [0], cotangent: try Ops.tensor([1, 1, 1, 1, 1, 1], shape: [2, 3]))[0]
        try assertValues(gradient, [1, 1, 1, 1, 1, 1], shape: [2, 3], dtype: .float64)
        let tangent = try pushforward({ try Ops.detach($0[0]) }, [x], [x])
        try assertValues(tangent, [0, 0, 0, 0, 0, 0], shape: [2, 3], dtype: .float64)
        let rules = Primitive.rules[Primitive.stopGradient.rawValue]
        XCTAssertNil(try rules.jvp?([x], [x], x, .none))
        XCTAssertNil(try rules.vjp?(x, [x], x, .none, [true])[0] ?? nil)
        try checkBatching(RuleCheck(name: "detach", body: { try Ops.detach($0[0]) }, inputs: [x]))
    }

    /// Under vmap the per-example dims shift past the batch dim wherever it is.
    func testBatchDimInTheMiddle() throws {
        let examples = try (0..<3).map { [try randomTensor([2, 5], seed: 30 + UInt64($0))] }
        try assertVmapMatchesLoop("slice", examples, inDims: [1]) { try Ops.slice($0[0], dim: 1, start: 1, step: 2) }
        try assertVmapMatchesLoop("flip", examples, inDims: [1]) { try Ops.flip($0[0], dims: [0, 1]) }
        try assertVmapMatchesLoop("pad", examples, inDims: [2]) { try Ops.pad($0[0], pad: [1, -1, 2, 0], value: 7) }
        try assertVmapMatchesLoop("permute", examples, inDims: [1]) { try Ops.permute($0[0], dims: [1, 0]) }
        try assertVmapMatchesLoop("expand", examples, inDims: [1]) { try Ops.expand(Ops.unsqueeze($0[0], dim: 1), shape: [4, 2, 3, 5]) }
        try assertVmapMatchesLoop("reshape", examples, inDims: [2]) { try Ops.reshape($0[0], shape: [5, 2]) }
    }

    func testJacobians() throws {
        let x = try randomTensor([3, 4], seed: 40)
        try assertJacobians("slice", [x], wrt: 0) { try Ops.slice($0[0], dim: 1, start: 1, step: 2) }
        try assertJacobians("pad", [x], wrt: 0) { try Ops.pad($0[0], pad: [1, -1, 0, 1]) }
        try assertJacobians("expand", [try randomTensor([3, 1], seed: 41)], wrt: 0) { try Ops.expand($0[0], shape: [2, 3, 2]) }
        try assertJacobians("cat", [x, try randomTensor([3, 2], seed: 42)], wrt: 1) { try Ops.cat($0, dim: 1) }
        try assertJacobians("flip of permute", [x], wrt: 0) { try Ops.flip(Ops.permute($0[0], dims: [1, 0]), dims: [0]) }
    }
}
