import XCTest
@testable import SwiftFuncCore

/// Random indices in [-size, size) (negative ones count from the end).
private func randomIndices(_ count: Int, size: Int, rng: inout TestRandom) -> [Double] {
    (0..<count).map { _ in (rng.uniform(Double(-size), Double(size))).rounded(.down) }
}

private func wrap(_ i: Double, _ size: Int) -> Int { i < 0 ? Int(i) + size : Int(i) }

final class IndexingTests: XCTestCase {
    func testGatherMatchesReference() throws {
        var rng = TestRandom(seed: 20)
        let xShape = [3, 4, 5]
        for dtype in [DType.float32, .float64, .int32, .int64, .bool] {
            let values = randomValues(xShape, dtype: dtype, rng: &rng)
            for dim in [0, 1, 2, -1, -3] {
                let d = (dim + 3) % 3
                for indexShape in [[3, 4, 5], [2, 3, 7], [1, 4, 2], [3, 0, 5]] {
                    var shape = indexShape
                    for k in 0..<3 where k != d { shape[k] = Swift.min(indexShape[k], xShape[k]) }
                    let count = shape.reduce(1, *)
                    let idx = randomIndices(count, size: xShape[d], rng: &rng)
                    let expected = (0..<count).map { flat -> Double in
                        var i = unravel(flat, shape)
                        i[d] = wrap(idx[flat], xShape[d])
                        return values[ravel(i, xShape)]
                    }
                    for (layout, indexDType) in zip(Layout.allCases, [DType.int64, .int32, .int64, .int32]) {
                        let x = try makeTensor(values, shape: xShape, dtype: dtype, layout: layout)
                        let index = try makeTensor(idx, shape: shape, dtype: indexDType, layout: Layout.allCases.reversed()[Layout.allCases.firstIndex(of: layout)!])
                        try assertValues(try Ops.gather(x, dim: dim, index: index), expected, shape: shape, dtype: dtype,
                                         "dim \(dim) index \(shape) \(layout)")
                    }
                }
            }
        }
        // 0-d: dim 0 or -1, index 0 or -1.
        let s = try makeTensor([9], shape: [])
        try assertValues(try Ops.gather(s, dim: -1, index: try makeTensor([-1], shape: [], dtype: .int64)), [9], shape: [], dtype: .float64)
    }

    func testIndexSelectMatchesReference() throws {
        var rng = TestRandom(seed: 21)
        let xShape = [4, 3, 5]
        for dtype in [DType.float32, .int64, .bool] {
            let values = randomValues(xShape, dtype: dtype, rng: &rng)
            for dim in [0, 1, -1] {
                let d = (dim + 3) % 3
                for n in [0, 1, 6] {
                    let idx = randomIndices(n, size: xShape[d], rng: &rng)
                    var outShape = xShape
                    outShape[d] = n
                    let expected = (0..<outShape.reduce(1, *)).map { flat -> Double in
                        var i = unravel(flat, outShape)
                        i[d] = wrap(idx[i[d]], xShape[d])
                        return values[ravel(i, xShape)]
                    }
                    for layout in Layout.allCases {
                        for indexDType in [DType.int32, .int64] {
                            let x = try makeTensor(values, shape: xShape, dtype: dtype, layout: layout)
                            let index = try makeTensor(idx, shape: [n], dtype: indexDType, layout: layout)
                            try assertValues(try Ops.indexSelect(x, dim: dim, index: index), expected, shape: outShape, dtype: dtype,
                                             "dim \(dim) n \(n) \(layout)")
                        }
                    }
                }
            }
        }
        // A 0-d index keeps the dim with size 1; a 0-d x takes one index of 0 or -1.
        let x = try makeTensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        try assertValues(try Ops.indexSelect(x, dim: 1, index: try makeTensor([-1], shape: [], dtype: .int32)), [3, 6], shape: [2, 1], dtype: .float64)
        try assertValues(try Ops.indexSelect(try makeTensor([8], shape: []), dim: 0, index: try makeTensor([0], shape: [1], dtype: .int64)),
                         [8], shape: [], dtype: .float64)
    }

    func testScatterAddAccumulatesDuplicates() throws {
        var rng = TestRandom(seed: 22)
        let xShape = [4, 5]
        for dtype in [DType.float32, .float64, .int32, .int64, .bool] {
            let values = randomValues(xShape, dtype: dtype, rng: &rng)
            for dim in [0, 1, -1, -2] {
                let d = (dim + 2) % 2
                for indexShape in [[4, 5], [6, 3], [2, 5], [0, 2]] {
                    var shape = indexShape
                    for k in 0..<2 where k != d { shape[k] = Swift.min(indexShape[k], xShape[k]) }
                    let srcShape = [shape[0] + 1, shape[1] + 2] // src may be larger than index
                    let count = shape.reduce(1, *)
                    let idx = randomIndices(count, size: xShape[d], rng: &rng)
                    let src = randomValues(srcShape, dtype: dtype, rng: &rng)
                    var expected = values
                    for flat in 0..<count {
                        var i = unravel(flat, shape)
                        let s = src[ravel(i, srcShape)]
                        i[d] = wrap(idx[flat], xShape[d])
                        let t = ravel(i, xShape)
                        switch dtype {
                        case .bool: expected[t] = expected[t] != 0 || s != 0 ? 1 : 0
                        case .float32: expected[t] = Double(Float(expected[t]) + Float(s))
                        default: expected[t] += s
                        }
                    }
                    for (layout, indexDType) in zip(Layout.allCases, [DType.int32, .int64, .int32, .int64]) {
                        let x = try makeTensor(values, shape: xShape, dtype: dtype, layout: layout)
                        let index = try makeTensor(idx, shape: shape, dtype: indexDType, layout: layout)
                        let source = try makeTensor(src, shape: srcShape, dtype: dtype, layout: Layout.allCases.reversed()[Layout.allCases.firstIndex(of: layout)!])
                        let y = try Ops.scatterAdd(x, dim: dim, index: index, src: source)
                        try assertValues(y, expected, shape: xShape, dtype: dtype, "dim \(dim) index \(shape) \(layout)")
                        XCTAssertFalse((y as! Tensor).storage === x.storage)
                        // The input is untouched.
                        try assertValues(x, values, shape: xShape, dtype: dtype)
                    }
                }
            }
        }
        let hits = try Ops.scatterAdd(try makeTensor([0, 0, 0], shape: [3]), dim: 0,
                                      index: try makeTensor([2, -1, 0, 2], shape: [4], dtype: .int64),
                                      src: try makeTensor([1, 10, 100, 1000], shape: [4]))
        try assertValues(hits, [100, 0, 1011], shape: [3], dtype: .float64)
        let s = try Ops.scatterAdd(try makeTensor([1], shape: []), dim: 0, index: try makeTensor([0], shape: [], dtype: .int32),
                                   src: try makeTensor([2], shape: []))
        try assertValues(s, [3], shape: [], dtype: .float64)
    }

    func testErrors() throws {
        let x = try makeTensor((0..<12).map(Double.init), shape: [3, 4])
        let good = try makeTensor([0, 1], shape: [1, 2], dtype: .int64)
        let bad = try makeTensor([0, 4], shape: [1, 2], dtype: .int32)
        assertThrows(.invalidArgument, "sf_gather: index 4 is out of bounds for dim 1 with size 4") { try Ops.gather(x, dim: 1, index: bad) }
        assertThrows(.invalidArgument, "index -5 is out of bounds for dim 1 with size 4") {
            try Ops.gather(x, dim: -1, index: try makeTensor([-5], shape: [1, 1], dtype: .int64))
        }
        assertThrows(.dtype, "sf_gather: index must be int32 or int64, not float64") { try Ops.gather(x, dim: 0, index: x) }
        assertThrows(.shape, "must have the rank of x") { try Ops.gather(x, dim: 0, index: try makeTensor([0], shape: [1], dtype: .int64)) }
        assertThrows(.shape, "is larger than x [3, 4] in dim 1") { try Ops.gather(x, dim: 0, index: try makeTensor([0, 0, 0, 0, 0], shape: [1, 5], dtype: .int64)) }
        assertThrows(.invalidArgument, "sf_gather: dim 2 is out of range") { try Ops.gather(x, dim: 2, index: good) }

        assertThrows(.invalidArgument, "sf_index_select: index 3 is out of bounds for dim 0 with size 3") {
            try Ops.indexSelect(x, dim: 0, index: try makeTensor([0, 3], shape: [2], dtype: .int64))
        }
        assertThrows(.shape, "index must be 1-D") { try Ops.indexSelect(x, dim: 0, index: good) }
        assertThrows(.dtype, "not bool") { try Ops.indexSelect(x, dim: 0, index: try makeTensor([1], shape: [1], dtype: .bool)) }
        assertThrows(.invalidArgument, "index 0 is out of bounds for dim 1 with size 0") {
            try Ops.indexSelect(try makeTensor([], shape: [2, 0]), dim: 1, index: try makeTensor([0], shape: [1], dtype: .int32))
        }

        let src = try makeTensor([1, 2], shape: [1, 2])
        assertThrows(.invalidArgument, "sf_scatter_add: index 4 is out of bounds for dim 1 with size 4") { try Ops.scatterAdd(x, dim: 1, index: bad, src: src) }
        assertThrows(.dtype, "src has dtype float32 but x has float64") {
            try Ops.scatterAdd(x, dim: 0, index: good, src: try makeTensor([1, 2], shape: [1, 2], dtype: .float32))
        }
        assertThrows(.shape, "must have the same rank") { try Ops.scatterAdd(x, dim: 0, index: good, src: try makeTensor([1, 2], shape: [2])) }
        assertThrows(.shape, "is larger than src") { try Ops.scatterAdd(x, dim: 0, index: good, src: try makeTensor([1], shape: [1, 1])) }
        assertThrows(.invalidArgument, "sf_scatter_add: dim -3 is out of range") { try Ops.scatterAdd(x, dim: -3, index: good, src: src) }
    }
}
