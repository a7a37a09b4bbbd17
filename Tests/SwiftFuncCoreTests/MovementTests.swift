import XCTest
@testable import SwiftFuncCore

/// The row-major values of a tensor of `shape` whose element at each index is `value(index)`.
private func build(_ shape: [Int], _ value: ([Int]) -> Double) -> [Double] {
    (0..<shape.reduce(1, *)).map { value(unravel($0, shape)) }
}

/// Whether the result is a view of the input's storage.
private func sharesStorage(_ a: Value, _ b: Value) -> Bool {
    guard let a = a as? Tensor, let b = b as? Tensor else { return false }
    return a.storage === b.storage
}

/// Python's x[start:stop:step] of 0..<n for step > 0, by its definition.
private func pythonSlice(_ n: Int, _ start: Int, _ stop: Int, _ step: Int) -> [Int] {
    var lo = start < 0 ? start + n : start
    var hi = stop < 0 ? stop + n : stop
    lo = Swift.min(Swift.max(lo, 0), n)
    hi = Swift.min(Swift.max(hi, 0), n)
    return Array(Swift.stride(from: lo, to: hi, by: step))
}

final class MovementTests: XCTestCase {
    private let dtypes: [DType] = [.float32, .float64, .int32, .int64, .bool]

    func testReshapeKeepsRowMajorOrderForEveryLayout() throws {
        var rng = TestRandom(seed: 10)
        let cases: [([Int], [Int], [Int])] = [ // input, requested, expected shape
            ([3, 4], [12], [12]), ([3, 4], [2, -1], [2, 6]), ([3, 4], [4, 3], [4, 3]), ([3, 4], [3, 2, 2], [3, 2, 2]),
            ([2, 3, 4], [6, 4], [6, 4]), ([2, 3, 4], [-1], [24]), ([2, 3, 4], [1, 2, 1, 12, 1], [1, 2, 1, 12, 1]),
            ([], [1, 1], [1, 1]), ([1, 1], [], []), ([5], [5, 1], [5, 1]), ([2, 0, 3], [0, 5], [0, 5]), ([0], [3, 0], [3, 0]),
        ]
        for dtype in dtypes {
            for (shape, requested, expectedShape) in cases {
                let values = randomValues(shape, dtype: dtype, rng: &rng)
                for layout in Layout.allCases {
                    let x = try makeTensor(values, shape: shape, dtype: dtype, layout: layout)
                    let y = try Ops.reshape(x, shape: requested)
                    try assertValues(y, values, shape: expectedShape, dtype: dtype, "\(shape) -> \(requested) \(layout)")
                    if layout == .contiguous { XCTAssertTrue(sharesStorage(x, y), "contiguous reshape is a view") }
                }
            }
        }
    }

    func testReshapeViewsWhenStridesAllowAndCopiesOtherwise() throws {
        let values = (0..<12).map(Double.init)
        // Splitting the strided or reversed last dim is a view.
        for layout in [Layout.strided, .reversed] {
            let x = try makeTensor(values, shape: [3, 4], layout: layout)
            let y = try Ops.reshape(x, shape: [3, 2, 2])
            XCTAssertTrue(sharesStorage(x, y), "\(layout)")
            try assertValues(y, values, shape: [3, 2, 2], dtype: .float64)
        }
        // Rows two apart with elements two apart merge into one dim of stride 2: still a view.
        let strided = try makeTensor(values, shape: [3, 4], layout: .strided)
        let flat = try Ops.reshape(strided, shape: [12])
        XCTAssertTrue(sharesStorage(strided, flat))
        XCTAssertEqual((flat as! Tensor).strides, [2])
        try assertValues(flat, values, shape: [12], dtype: .float64)
        // Merging dims of a transposed or reversed layout is not: a correct copy.
        for layout in [Layout.transposed, .reversed] {
            let x = try makeTensor(values, shape: [3, 4], layout: layout)
            let y = try Ops.reshape(x, shape: [12])
            XCTAssertFalse(sharesStorage(x, y), "\(layout)")
            XCTAssertTrue((y as! Tensor).isContiguous)
            try assertValues(y, values, shape: [12], dtype: .float64)
        }
        // A transposed matrix viewed with extra size-1 dims stays a view.
        let t = try Ops.transpose(try makeTensor(values, shape: [3, 4]), 0, 1)
        let u = try Ops.reshape(t, shape: [1, 4, 1, 3])
        XCTAssertTrue(sharesStorage(t, u))
        try assertValues(u, build([4, 3]) { Double($0[1] * 4 + $0[0]) }, shape: [1, 4, 1, 3], dtype: .float64)
    }

    /// The copy a flatten of a permuted view makes, rows shorter than `Tensor.shortRow` (the conv
    /// weight Jacobians' [C, N, 3, 3] stored as [N, C, 3, 3]): small and past the threads' grain,
    /// rows of 2 to 9 elements, against index arithmetic.
    func testFlattenOfAPermutedViewCopiesShortRows() throws {
        for (c, n, k) in [(3, 4, 9), (32, 6_000, 9), (5, 70_000, 2), (7, 9_000, 4)] {
            for dtype in [DType.float32, .float64] {
                let values = (0..<(c * n * k)).map { Double($0 % 1021) - 510 }
                let stored = try Ops.tensor(values, shape: [c, n, k], dtype: dtype)
                let permuted = try Ops.permute(stored, dims: [1, 0, 2])
                let flat = try Ops.reshape(permuted, shape: [n, c * k])
                XCTAssertTrue((flat as! Tensor).isContiguous)
                let expected = build([n, c * k]) { index in values[(index[1] / k * n + index[0]) * k + index[1] % k] }
                try assertValues(flat, expected, shape: [n, c * k], dtype: dtype, "\(c) x \(n) x \(k) \(dtype)")
            }
        }
    }

    func testReshapeErrors() throws {
        let x = try makeTensor((0..<6).map(Double.init), shape: [2, 3])
        assertThrows(.shape, "sf_reshape: shape [2, 5] is invalid for input of size 6") { try Ops.reshape(x, shape: [2, 5]) }
        assertThrows(.shape, "shape [4, -1] is invalid for input of size 6") { try Ops.reshape(x, shape: [4, -1]) }
        assertThrows(.shape, "only one dim can be -1") { try Ops.reshape(x, shape: [-1, -1]) }
        assertThrows(.shape, "negative size -2") { try Ops.reshape(x, shape: [-2, -3]) }
        assertThrows(.shape, "rank 17 exceeds the maximum of 16") { try Ops.reshape(x, shape: [Int](repeating: 1, count: 17)) }
        assertThrows(.shape, "more elements than int64") { try Ops.reshape(x, shape: [1 << 40, 1 << 40, -1]) }
        let e = try makeTensor([], shape: [0, 3])
        assertThrows(.shape, "cannot infer the -1") { try Ops.reshape(e, shape: [0, -1]) }
        assertThrows(.shape, "more elements than int64") { try emit(.reshape, [e], .shape([1 << 40, 1 << 40, 0, 1 << 40])) }
    }

    func testPermuteAndTranspose() throws {
        var rng = TestRandom(seed: 11)
        let shape = [2, 3, 4]
        for dtype in [DType.float32, .int64] {
            let values = randomValues(shape, dtype: dtype, rng: &rng)
            for layout in Layout.allCases {
                let x = try makeTensor(values, shape: shape, dtype: dtype, layout: layout)
                for perm in [[0, 1, 2], [2, 0, 1], [1, 2, 0], [2, 1, 0], [-1, 0, -2]] {
                    let p = perm.map { ($0 + 3) % 3 }
                    let outShape = p.map { shape[$0] }
                    let y = try Ops.permute(x, dims: perm)
                    XCTAssertTrue(sharesStorage(x, y))
                    let expected = build(outShape) { out in
                        var src = [0, 0, 0]
                        for i in 0..<3 { src[p[i]] = out[i] }
                        return values[ravel(src, shape)]
                    }
                    try assertValues(y, expected, shape: outShape, dtype: dtype, "\(perm) \(layout)")
                }
                let t = try Ops.transpose(x, -1, 0)
                XCTAssertTrue(sharesStorage(x, t))
                try assertValues(t, build([4, 3, 2]) { values[ravel([$0[2], $0[1], $0[0]], shape)] }, shape: [4, 3, 2], dtype: dtype)
            }
        }
        let s = try makeTensor([7], shape: [])
        try assertValues(try Ops.transpose(s, 0, -1), [7], shape: [], dtype: .float64)
        try assertValues(try Ops.permute(s, dims: []), [7], shape: [], dtype: .float64)
        let x = try makeTensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        assertThrows(.invalidArgument, "sf_permute: dim -2 appears more than once") { try Ops.permute(x, dims: [0, -2]) }
        assertThrows(.invalidArgument, "has 3 entries for a tensor of rank 2") { try Ops.permute(x, dims: [0, 1, 2]) }
        assertThrows(.invalidArgument, "sf_permute: dim 2 is out of range") { try Ops.permute(x, dims: [2, 0]) }
        assertThrows(.invalidArgument, "sf_transpose: dim -3 is out of range") { try Ops.transpose(x, -3, 0) }
        assertThrows(.invalidArgument, "is not a permutation") { try emit(.permute, [x], .permutation([1, 1])) }
    }

    func testExpand() throws {
        var rng = TestRandom(seed: 12)
        for layout in Layout.allCases {
            let values = randomValues([3, 1], rng: &rng)
            let x = try makeTensor(values, shape: [3, 1], layout: layout)
            for requested in [[2, 3, 4], [2, -1, 4], [3, 1], [-1, -1], [3, 0], [0, 3, 5]] {
                let y = try Ops.expand(x, shape: requested)
                let lead = requested.count - 2
                let outShape = requested.enumerated().map { $0.element == -1 ? [3, 1][$0.offset - lead] : $0.element }
                XCTAssertTrue(sharesStorage(x, y))
                try assertValues(y, build(outShape) { values[$0[lead]] }, shape: outShape, dtype: .float64, "\(requested) \(layout)")
            }
        }
        let y = try Ops.expand(try makeTensor([5], shape: []), shape: [2, 2])
        XCTAssertEqual((y as! Tensor).strides, [0, 0])
        try assertValues(y, [5, 5, 5, 5], shape: [2, 2], dtype: .float64)
        let x = try makeTensor([1, 2, 3], shape: [3])
        assertThrows(.shape, "sf_expand: the size 3 of dim 0 cannot be expanded to 4") { try Ops.expand(x, shape: [2, 4]) }
        assertThrows(.shape, "-1 is not allowed for the new leading dim 0") { try Ops.expand(x, shape: [-1, 3]) }
        assertThrows(.shape, "negative size -2") { try Ops.expand(x, shape: [-2, 3]) }
        assertThrows(.shape, "to fewer dims") { try Ops.expand(x, shape: []) }
        assertThrows(.shape, "rank 17 exceeds") { try Ops.expand(x, shape: [Int](repeating: 3, count: 17)) }
        assertThrows(.shape, "more elements than int64") { try Ops.expand(x, shape: [1 << 40, 1 << 40, 3]) }
    }

    func testSqueezeAndUnsqueeze() throws {
        var rng = TestRandom(seed: 13)
        let shape = [1, 3, 1, 2]
        let values = randomValues(shape, rng: &rng)
        for layout in Layout.allCases {
            let x = try makeTensor(values, shape: shape, layout: layout)
            try assertValues(try Ops.squeeze(x), values, shape: [3, 2], dtype: .float64)
            try assertValues(try Ops.squeeze(x, dims: [2]), values, shape: [1, 3, 2], dtype: .float64)
            try assertValues(try Ops.squeeze(x, dims: [-4, 1]), values, shape: [3, 1, 2], dtype: .float64)
            XCTAssertTrue(sharesStorage(x, try Ops.squeeze(x)))
            for (dim, expected) in [(0, [1, 1, 3, 1, 2]), (4, [1, 3, 1, 2, 1]), (-1, [1, 3, 1, 2, 1]), (-5, [1, 1, 3, 1, 2]), (2, [1, 3, 1, 1, 2])] {
                let y = try Ops.unsqueeze(x, dim: dim)
                XCTAssertTrue(sharesStorage(x, y))
                try assertValues(y, values, shape: expected, dtype: .float64, "unsqueeze \(dim)")
            }
        }
        let s = try makeTensor([4], shape: [])
        try assertValues(try Ops.unsqueeze(s, dim: -1), [4], shape: [1], dtype: .float64)
        try assertValues(try Ops.squeeze(try Ops.reshape(s, shape: [1, 1])), [4], shape: [], dtype: .float64)
        try assertValues(try Ops.squeeze(s, dims: [0]), [4], shape: [], dtype: .float64)
        try assertValues(try Ops.squeeze(try makeTensor([], shape: [0, 1])), [], shape: [0], dtype: .float64)
        let x = try makeTensor(values, shape: shape)
        assertThrows(.invalidArgument, "sf_unsqueeze: dim 5 is out of range for a tensor of rank 5") { try Ops.unsqueeze(x, dim: 5) }
        assertThrows(.invalidArgument, "sf_squeeze: dim 4 is out of range") { try Ops.squeeze(x, dims: [4]) }
        let r16 = try Ops.reshape(s, shape: [Int](repeating: 1, count: 16))
        assertThrows(.shape, "rank 17 exceeds the maximum of 16") { try Ops.unsqueeze(r16, dim: 0) }
    }

    func testSliceFollowsPythonRules() throws {
        var rng = TestRandom(seed: 14)
        let shape = [4, 7]
        let values = randomValues(shape, rng: &rng)
        let bounds = [Int.min, -100, -7, -3, -1, 0, 1, 2, 5, 7, 9, Int.max]
        for layout in Layout.allCases {
            let x = try makeTensor(values, shape: shape, layout: layout)
            for start in bounds {
                for stop in bounds {
                    for step in [1, 2, 3, 10, Int.max] {
                        let kept = pythonSlice(7, start, stop, step)
                        let y = try Ops.slice(x, dim: -1, start: start, stop: stop, step: step)
                        XCTAssertTrue(sharesStorage(x, y))
                        try assertValues(y, build([4, kept.count]) { values[$0[0] * 7 + kept[$0[1]]] }, shape: [4, kept.count],
                                         dtype: .float64, "\(start):\(stop):\(step) \(layout)")
                    }
                }
            }
            let rows = try Ops.slice(x, dim: 0, start: 1, stop: -1, step: 1)
            try assertValues(rows, Array(values[7..<21]), shape: [2, 7], dtype: .float64)
            // A slice of a slice.
            let inner = try Ops.slice(try Ops.slice(x, dim: 1, start: 1, stop: 7, step: 2), dim: 1, start: -2, stop: 100, step: 1)
            try assertValues(inner, build([4, 2]) { values[$0[0] * 7 + [3, 5][$0[1]]] }, shape: [4, 2], dtype: .float64)
        }
        try assertValues(try Ops.slice(try makeTensor([1, 2, 3], shape: [3]), dim: 0, start: 1, stop: 2), [2], shape: [1], dtype: .float64)
        let x = try makeTensor(values, shape: shape)
        assertThrows(.invalidArgument, "sf_slice: step 0 must be positive") { try Ops.slice(x, dim: 0, step: 0) }
        assertThrows(.invalidArgument, "step -1 must be positive") { try Ops.slice(x, dim: 0, step: -1) }
        assertThrows(.invalidArgument, "dim 2 is out of range") { try Ops.slice(x, dim: 2) }
        assertThrows(.invalidArgument, "dim 0 is out of range for a tensor of rank 0") { try Ops.slice(try makeTensor([1], shape: []), dim: 0) }
        assertThrows(.shape, "do not fit dim 1 of size 7") { try emit(.slice, [x], .slice(dim: 1, start: 5, count: 2, step: 2)) }
    }

    func testFlip() throws {
        var rng = TestRandom(seed: 15)
        let shape = [2, 3, 4]
        for dtype in [DType.float64, .int32, .bool] {
            let values = randomValues(shape, dtype: dtype, rng: &rng)
            for layout in Layout.allCases {
                let x = try makeTensor(values, shape: shape, dtype: dtype, layout: layout)
                for dims in [[0], [-1], [0, 2], [2, 1, 0], []] {
                    let flipped = Set(dims.map { ($0 + 3) % 3 })
                    let y = try Ops.flip(x, dims: dims)
                    XCTAssertTrue(sharesStorage(x, y))
                    let expected = build(shape) { i in
                        values[ravel((0..<3).map { flipped.contains($0) ? shape[$0] - 1 - i[$0] : i[$0] }, shape)]
                    }
                    try assertValues(y, expected, shape: shape, dtype: dtype, "\(dims) \(layout)")
                    // Flipping back gives the original values.
                    try assertValues(try Ops.flip(y, dims: dims), values, shape: shape, dtype: dtype)
                }
            }
        }
        try assertValues(try Ops.flip(try makeTensor([], shape: [2, 0]), dims: [0, 1]), [], shape: [2, 0], dtype: .float64)
        try assertValues(try Ops.flip(try makeTensor([3], shape: []), dims: [0]), [3], shape: [], dtype: .float64)
        let x = try makeTensor([1, 2], shape: [2])
        assertThrows(.invalidArgument, "sf_flip: dim -1 appears more than once") { try Ops.flip(x, dims: [0, -1]) }
        assertThrows(.invalidArgument, "sf_flip: dim 1 is out of range") { try Ops.flip(x, dims: [1]) }
    }

    func testPad() throws {
        var rng = TestRandom(seed: 16)
        let shape = [3, 4]
        for dtype in dtypes {
            let values = randomValues(shape, dtype: dtype, rng: &rng)
            for layout in Layout.allCases {
                let x = try makeTensor(values, shape: shape, dtype: dtype, layout: layout)
                for pad in [[1, 2], [0, 0, 2, 1], [-1, 2, 1, -2], [-4, 1], [2, -3, -3, 0], [0, 0], []] {
                    var before = [0, 0], after = [0, 0]
                    for i in 0..<pad.count / 2 { before[1 - i] = pad[2 * i]; after[1 - i] = pad[2 * i + 1] }
                    let outShape = (0..<2).map { shape[$0] + before[$0] + after[$0] }
                    let fill = dtype == .bool ? 1.0 : 7.0
                    let expected = build(outShape) { i in
                        let src = (0..<2).map { i[$0] - before[$0] }
                        let inside = (0..<2).allSatisfy { src[$0] >= 0 && src[$0] < shape[$0] }
                        return inside ? values[ravel(src, shape)] : fill
                    }
                    let y = try Ops.pad(x, pad: pad, value: fill)
                    try assertValues(y, expected, shape: outShape, dtype: dtype, "\(pad) \(dtype) \(layout)")
                }
            }
        }
        // Padding a 0-d tensor with nothing, and an empty tensor with something.
        try assertValues(try Ops.pad(try makeTensor([2], shape: []), pad: []), [2], shape: [], dtype: .float64)
        try assertValues(try Ops.pad(try makeTensor([], shape: [0, 2]), pad: [0, 0, 1, 1], value: 3), [3, 3, 3, 3], shape: [2, 2], dtype: .float64)
        let x = try makeTensor((0..<12).map(Double.init), shape: [3, 4])
        assertThrows(.shape, "sf_pad: padding (-3, -2) gives dim 1 of size 4 a negative") { try Ops.pad(x, pad: [-3, -2]) }
        assertThrows(.invalidArgument, "must be even") { try Ops.pad(x, pad: [1]) }
        assertThrows(.invalidArgument, "more than twice the rank 2") { try Ops.pad(x, pad: [1, 1, 1, 1, 1, 1]) }
        assertThrows(.shape, "overflowing") { try Ops.pad(x, pad: [Int.max, 1]) }
        assertThrows(.shape, "padding (-5, 7) crops more than the size 4 of dim 1") { try Ops.pad(x, pad: [-5, 7]) }
        assertThrows(.shape, "crops more than") { try Ops.pad(x, pad: [Int.max, Int.min]) }
        // Cropping part of a dim and padding the other side.
        try assertValues(try Ops.pad(x, pad: [-3, 2], value: -1), build([3, 3]) { $0[1] == 0 ? Double($0[0] * 4 + 3) : -1 }, shape: [3, 3], dtype: .float64)
        assertThrows(.shape, "more elements than int64") { try Ops.pad(x, pad: [1 << 40, 0, 1 << 40, 0]) }
    }

    func testCatPromotesAndHandlesEmptyMembers() throws {
        var rng = TestRandom(seed: 17)
        let parts: [([Int], DType)] = [([2, 3, 4], .int32), ([2, 1, 4], .float32), ([2, 0, 4], .bool), ([2, 2, 4], .int64)]
        let partValues = parts.map { randomValues($0.0, dtype: $0.1, rng: &rng) }
        for layout in Layout.allCases {
            let tensors = try zip(parts, partValues).map { try makeTensor($1, shape: $0.0, dtype: $0.1, layout: layout) }
            let y = try Ops.cat(tensors, dim: -2)
            let expected = build([2, 6, 4]) { i in
                var j = i[1]
                for (k, part) in parts.enumerated() {
                    if j < part.0[1] { return partValues[k][ravel([i[0], j, i[2]], part.0)] }
                    j -= part.0[1]
                }
                return .nan
            }
            try assertValues(y, expected, shape: [2, 6, 4], dtype: .float32, "\(layout)")
            // dim 0 and the last dim.
            let a = tensors[0], b = try makeTensor(randomValues([1, 3, 4], dtype: .int32, rng: &rng), shape: [1, 3, 4], dtype: .int32, layout: layout)
            let bValues = try Ops.doubles(b)
            try assertValues(try Ops.cat([a, b], dim: 0), partValues[0] + bValues, shape: [3, 3, 4], dtype: .int32)
            let c = try Ops.cat([a, a], dim: 2)
            try assertValues(c, build([2, 3, 8]) { partValues[0][ravel([$0[0], $0[1], $0[2] % 4], [2, 3, 4])] }, shape: [2, 3, 8], dtype: .int32)
        }
        // torch's legacy rule: a 1-D empty tensor joins any shape, and still promotes.
        let legacy = try makeTensor([], shape: [0], dtype: .float64)
        let m = try makeTensor([1, 2, 3, 4], shape: [2, 2], dtype: .int64)
        try assertValues(try Ops.cat([legacy, m, legacy], dim: 1), [1, 2, 3, 4], shape: [2, 2], dtype: .float64)
        try assertValues(try Ops.cat([legacy, legacy], dim: 0), [], shape: [0], dtype: .float64)
        try assertValues(try Ops.cat([m], dim: -1), [1, 2, 3, 4], shape: [2, 2], dtype: .int64)
        let bools = try Ops.cat([try makeTensor([1, 0], shape: [2], dtype: .bool), try makeTensor([3], shape: [1], dtype: .int32)], dim: 0)
        try assertValues(bools, [1, 0, 3], shape: [3], dtype: .int32)
        XCTAssertFalse(sharesStorage(m, try Ops.cat([m], dim: 0)))

        assertThrows(.shape, "sf_cat: shapes [2, 2] (tensor 0) and [2, 3] (tensor 1) must match except in dim 0") {
            try Ops.cat([m, try makeTensor([1, 2, 3, 4, 5, 6], shape: [2, 3])], dim: 0)
        }
        assertThrows(.shape, "must match except in dim 1") { try Ops.cat([m, try makeTensor([1, 2], shape: [2])], dim: 1) }
        assertThrows(.shape, "zero-dimensional tensor (at position 1) cannot be concatenated") { try Ops.cat([m, try makeTensor([1], shape: [])], dim: 0) }
        assertThrows(.invalidArgument, "sf_cat: needs at least one tensor") { try Ops.cat([], dim: 0) }
        assertThrows(.invalidArgument, "sf_cat: dim 2 is out of range") { try Ops.cat([m, m], dim: 2) }
    }

    func testStack() throws {
        var rng = TestRandom(seed: 18)
        let a = randomValues([2, 3], rng: &rng), b = randomValues([2, 3], rng: &rng)
        for layout in Layout.allCases {
            let ta = try makeTensor(a, shape: [2, 3], layout: layout), tb = try makeTensor(b, shape: [2, 3], layout: layout)
            let both = [a, b]
            try assertValues(try Ops.stack([ta, tb], dim: 0), a + b, shape: [2, 2, 3], dtype: .float64)
            try assertValues(try Ops.stack([ta, tb], dim: 1), build([2, 2, 3]) { both[$0[1]][$0[0] * 3 + $0[2]] }, shape: [2, 2, 3], dtype: .float64)
            try assertValues(try Ops.stack([ta, tb], dim: -1), build([2, 3, 2]) { both[$0[2]][$0[0] * 3 + $0[1]] }, shape: [2, 3, 2], dtype: .float64)
        }
        let s = try makeTensor([1], shape: []), t = try makeTensor([2], shape: [], dtype: .int32)
        try assertValues(try Ops.stack([s, t], dim: 0), [1, 2], shape: [2], dtype: .float64)
        let e = try makeTensor([], shape: [0])
        try assertValues(try Ops.stack([e, e, e], dim: 0), [], shape: [3, 0], dtype: .float64)
        assertThrows(.shape, "sf_stack: expects equally shaped tensors, but got [] at entry 0 and [0] at entry 1") { try Ops.stack([s, e], dim: 0) }
        assertThrows(.invalidArgument, "sf_stack: dim 2 is out of range for a tensor of rank 2") { try Ops.stack([e], dim: 2) }
        assertThrows(.invalidArgument, "needs at least one tensor") { try Ops.stack([], dim: 0) }
    }

    func testDetachIsAViewWithTheSameValues() throws {
        for layout in Layout.allCases {
            let values = [1.0, -2, 3, 4, 5, 6]
            let x = try makeTensor(values, shape: [2, 3], dtype: .float32, layout: layout)
            let y = try Ops.detach(x)
            XCTAssertTrue(sharesStorage(x, y))
            XCTAssertFalse(x === y)
            try assertValues(y, values, shape: [2, 3], dtype: .float32)
        }
    }
}
