import XCTest
@testable import SwiftFuncCore

/// JVP, VJP and batching rules of gather, index_select and scatter_add. Index inputs are constant
/// inputs of the checks; direct vmap tests give every example its own index.
final class IndexingRuleTests: XCTestCase {
    func testGather() throws {
        let x = try randomTensor([3, 4], seed: 1)
        // Duplicates and negative indices; the index is smaller than x outside the dim.
        let rows = try indexTensor([0, 2, -1, 1, 0, 0], shape: [2, 3])
        try checkRules("gather dim 0", [x, rows], constant: [1]) { try Ops.gather($0[0], dim: 0, index: $0[1]) }
        let columns = try indexTensor([3, 3, 0, 1, 2, -4, 0, 0, 1], shape: [3, 3], dtype: .int32)
        try checkRules("gather dim 1 int32", [x, columns], constant: [1]) { try Ops.gather($0[0], dim: -1, index: $0[1]) }
        try checkRules("gather rank 0", [try randomTensor([], seed: 2), try indexTensor([0], shape: [])], constant: [1]) {
            try Ops.gather($0[0], dim: 0, index: $0[1])
        }
        try checkRules("gather 3-D", [try randomTensor([2, 3, 2], seed: 3), try indexTensor([1, 0, 1, 1, 0, 0, 2, 2], shape: [2, 2, 2])],
                       constant: [1]) { try Ops.gather($0[0], dim: 1, index: $0[1]) }
    }

    /// Duplicate indices accumulate in the gather VJP.
    func testGatherGradientAccumulates() throws {
        let x = try Ops.tensor([1, 2, 3], shape: [3])
        let index = try indexTensor([2, 0, 2, -1], shape: [4])
        let gradient = try pullback({ try Ops.gather($0[0], dim: 0, index: $0[1]) }, [x, index], wrt: [0],
                                    cotangent: try Ops.tensor([1, 10, 100, 1000], shape: [4]))[0]
        try assertValues(gradient, [10, 0, 1101], shape: [3], dtype: .float64)
    }

    func testIndexSelect() throws {
        let x = try randomTensor([3, 4], seed: 4)
        let index = try indexTensor([2, 0, 2, -1, 1], shape: [5])
        try checkRules("index_select dim 0", [x, index], constant: [1]) { try Ops.indexSelect($0[0], dim: 0, index: $0[1]) }
        try checkRules("index_select dim 1", [x, try indexTensor([3, 1], shape: [2], dtype: .int32)], constant: [1]) {
            try Ops.indexSelect($0[0], dim: 1, index: $0[1])
        }
        try checkRules("index_select 0-d index", [x, try indexTensor([1], shape: [])], constant: [1]) {
            try Ops.indexSelect($0[0], dim: 1, index: $0[1])
        }
        try checkRules("index_select rank 0", [try randomTensor([], seed: 5), try indexTensor([-1], shape: [1])], constant: [1]) {
            try Ops.indexSelect($0[0], dim: 0, index: $0[1])
        }
        try checkRules("index_select empty index", [x, try indexTensor([], shape: [0])], constant: [1]) {
            try Ops.indexSelect($0[0], dim: 0, index: $0[1])
        }
    }

    func testIndexSelectGradientAccumulates() throws {
        let x = try Ops.tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        let index = try indexTensor([2, 2, 0], shape: [3])
        let gradient = try pullback({ try Ops.indexSelect($0[0], dim: 1, index: $0[1]) }, [x, index], wrt: [0],
                                    cotangent: try Ops.tensor([1, 2, 3, 4, 5, 6], shape: [2, 3]))[0]
        try assertValues(gradient, [3, 0, 3, 6, 0, 9], shape: [2, 3], dtype: .float64)
    }

    func testScatterAdd() throws {
        let x = try randomTensor([3, 4], seed: 6)
        let index = try indexTensor([0, 2, 2, 1, 0, 0], shape: [2, 3])
        // src larger than the index: its extra entries are unused (zero gradient).
        let src = try randomTensor([2, 4], seed: 7)
        try checkRules("scatter_add dim 0", [x, index, src], constant: [1]) { try Ops.scatterAdd($0[0], dim: 0, index: $0[1], src: $0[2]) }
        let columns = try indexTensor([3, 3, 0, -1, 1, 2], shape: [3, 2])
        try checkRules("scatter_add dim 1", [x, columns, try randomTensor([3, 2], seed: 8)], constant: [1]) {
            try Ops.scatterAdd($0[0], dim: 1, index: $0[1], src: $0[2])
        }
        try checkRules("scatter_add rank 0", [try randomTensor([], seed: 9), try indexTensor([0], shape: []), try randomTensor([], seed: 10)],
                       constant: [1]) { try Ops.scatterAdd($0[0], dim: 0, index: $0[1], src: $0[2]) }
    }

    func testScatterAddGradients() throws {
        let x = try Ops.tensor([0, 0, 0], shape: [3])
        let index = try indexTensor([2, 2], shape: [2])
        let src = try Ops.tensor([1, 1, 1], shape: [3])
        let cotangents = try pullback({ try Ops.scatterAdd($0[0], dim: 0, index: $0[1], src: $0[2]) }, [x, index, src], wrt: [0, 2],
                                      cotangent: try Ops.tensor([1, 2, 3], shape: [3]))
        try assertValues(cotangents[0], [1, 2, 3], shape: [3], dtype: .float64)
        try assertValues(cotangents[1], [3, 3, 0], shape: [3], dtype: .float64)
        // Only one of x and src carries a tangent.
        let body: ([Value]) throws -> Value = { try Ops.scatterAdd($0[0], dim: 0, index: $0[1], src: $0[2]) }
        try assertValues(try pushforward(body, [x, index, src], [try Ops.tensor([1, 2, 3], shape: [3]), nil, nil]), [1, 2, 3], shape: [3], dtype: .float64)
        try assertValues(try pushforward(body, [x, index, src], [nil, nil, try Ops.tensor([1, 2, 3], shape: [3])]), [0, 0, 3], shape: [3], dtype: .float64)
    }

    // MARK: vmap with a different index per example

    private func indices(_ rows: [[Int]], shape: [Int]) throws -> [Tensor] { try rows.map { try indexTensor($0, shape: shape) } }

    func testGatherBatchedIndex() throws {
        let xs = try (0..<3).map { try randomTensor([3, 4], seed: 20 + UInt64($0)) }
        let index = try indices([[0, 1, 2, 2, 2, 1], [1, 1, 0, 0, -1, 2], [2, 0, 1, 1, 0, 0]], shape: [2, 3])
        let examples = zip(xs, index).map { [$0, $1] }
        let body: ([Value]) throws -> Value = { try Ops.gather($0[0], dim: 0, index: $0[1]) }
        for inDims in [[0, 0], [1, 1], [nil, 0], [2, -1], [0, nil]] as [[Int?]] {
            try assertVmapMatchesLoop("gather", examples, inDims: inDims, body)
        }
        // 0-d examples.
        let scalars = try (0..<3).map { [try randomTensor([], seed: 30 + UInt64($0)), try indexTensor([$0 % 2 == 0 ? 0 : -1], shape: [])] }
        for inDims in [[0, 0], [nil, 0], [0, nil]] as [[Int?]] {
            try assertVmapMatchesLoop("gather 0-d", scalars, inDims: inDims, body)
        }
    }

    func testIndexSelectBatchedIndex() throws {
        let xs = try (0..<3).map { try randomTensor([3, 4], seed: 40 + UInt64($0)) }
        let perDim = [try indices([[0, 2, 2], [1, -1, 2], [2, 0, 0]], shape: [3]), try indices([[0, 3, 3], [1, -1, 2], [2, 0, 0]], shape: [3])]
        for dim in [0, 1] {
            let examples = zip(xs, perDim[dim]).map { [$0, $1] }
            let body: ([Value]) throws -> Value = { try Ops.indexSelect($0[0], dim: dim, index: $0[1]) }
            for inDims in [[0, 0], [1, 1], [nil, 0], [-1, 0], [0, nil], [1, nil]] as [[Int?]] {
                try assertVmapMatchesLoop("index_select dim \(dim)", examples, inDims: inDims, body)
            }
        }
        // 0-d index per example, and 0-d examples.
        let single = try (0..<3).map { [xs[$0], try indexTensor([$0], shape: [])] }
        for inDims in [[0, 0], [nil, 0], [1, nil]] as [[Int?]] {
            try assertVmapMatchesLoop("index_select 0-d index", single, inDims: inDims) { try Ops.indexSelect($0[0], dim: 1, index: $0[1]) }
        }
        let scalars = try (0..<3).map { [try randomTensor([], seed: 50 + UInt64($0)), try indexTensor([$0 % 2 == 0 ? 0 : -1], shape: [1])] }
        for inDims in [[0, 0], [nil, 0], [0, nil]] as [[Int?]] {
            try assertVmapMatchesLoop("index_select 0-d", scalars, inDims: inDims) { try Ops.indexSelect($0[0], dim: 0, index: $0[1]) }
        }
    }

    func testScatterAddBatchedIndex() throws {
        let xs = try (0..<3).map { try randomTensor([3, 2], seed: 60 + UInt64($0)) }
        let srcs = try (0..<3).map { try randomTensor([2, 2], seed: 70 + UInt64($0)) }
        let index = try indices([[0, 0, 2, 2], [1, 2, 1, 2], [2, 0, 0, 1]], shape: [2, 2])
        let examples = (0..<3).map { [xs[$0], index[$0], srcs[$0]] }
        let body: ([Value]) throws -> Value = { try Ops.scatterAdd($0[0], dim: 0, index: $0[1], src: $0[2]) }
        for inDims in [[0, 0, 0], [nil, 0, nil], [nil, 1, 0], [1, 0, nil], [nil, nil, 1], [0, nil, nil], [-1, 1, -1]] as [[Int?]] {
            try assertVmapMatchesLoop("scatter_add", examples, inDims: inDims, body)
        }
        let scalars = try (0..<3).map { [try randomTensor([], seed: 80 + UInt64($0)), try indexTensor([0], shape: []), try randomTensor([], seed: 90 + UInt64($0))] }
        for inDims in [[0, 0, 0], [nil, 0, nil], [nil, nil, 0]] as [[Int?]] {
            try assertVmapMatchesLoop("scatter_add 0-d", scalars, inDims: inDims, body)
        }
    }

    /// jacrev runs the VJPs under vmap: scatter_add into unbatched zeros with a batched cotangent.
    func testJacobians() throws {
        let x = try randomTensor([3, 4], seed: 100)
        let index = try indexTensor([0, 2, 2, 1, 1, 0], shape: [2, 3])
        try assertJacobians("gather", [x, index], wrt: 0) { try Ops.gather($0[0], dim: 0, index: $0[1]) }
        try assertJacobians("index_select", [x, try indexTensor([1, 1, 3], shape: [3])], wrt: 0) { try Ops.indexSelect($0[0], dim: 1, index: $0[1]) }
        let src = try randomTensor([2, 3], seed: 101)
        try assertJacobians("scatter_add x", [x, index, src], wrt: 0) { try Ops.scatterAdd($0[0], dim: 0, index: $0[1], src: $0[2]) }
        try assertJacobians("scatter_add src", [x, index, src], wrt: 2) { try Ops.scatterAdd($0[0], dim: 0, index: $0[1], src: $0[2]) }
    }

    /// Out-of-range indices under vmap are still errors (no trap), naming the op that checked them.
    func testBatchedOutOfRangeIndex() throws {
        let examples = [[try randomTensor([3], seed: 110), try indexTensor([0], shape: [1])],
                            [try randomTensor([3], seed: 111), try indexTensor([3], shape: [1])]]
        let function = Function(name: "f", inputCount: 2, outputCount: 1) { [try Ops.indexSelect($0[0], dim: 0, index: $0[1])] }
        let args = try [stack(examples.map { $0[0] }), stack(examples.map { $0[1] })]
        assertThrows(.invalidArgument, "out of bounds") { try Transforms.vmap(function, inDims: [0, 0], outDims: [0])(args) }
    }
}
