import XCTest
@testable import SwiftFuncCore

/// The scan and sorting primitives against naive references in every layout and dtype, and the
/// rules of the tensor ops (scans, sorting, einsum, diagonals, triangles, norms, roll, repeat)
/// through RuleChecks: derivatives at orders 1 and 2 against finite differences, vmap against a loop.
final class TensorOpsTests: XCTestCase {
    /// linear_scan along each dim of a 3-D tensor, every layout and dtype, against a loop.
    func testLinearScanKernel() throws {
        var rng = TestRandom(seed: 11)
        let shape = [3, 4, 5]
        for dtype in [DType.float64, .float32, .int64, .int32] {
            for layout in Layout.allCases {
                let a = randomValues(shape, dtype: dtype, in: (-2, 2), rng: &rng)
                let b = randomValues(shape, dtype: dtype, in: (-3, 3), rng: &rng)
                let ta = try makeTensor(a, shape: shape, dtype: dtype, layout: layout)
                let tb = try makeTensor(b, shape: shape, dtype: dtype, layout: layout)
                for dim in 0..<3 {
                    var expected = [Double](repeating: 0, count: a.count)
                    for flat in 0..<a.count {
                        let index = unravel(flat, shape)
                        var previous = 0.0
                        if index[dim] > 0 {
                            var before = index
                            before[dim] -= 1
                            previous = expected[ravel(before, shape)]
                        }
                        expected[flat] = a[flat] * previous + b[flat]
                    }
                    let result = try Ops.linearScan(ta, tb, dim: dim)
                    let tolerance = dtype == .float32 ? 1e-4 : 1e-12
                    try assertValues(result, expected, shape: shape, dtype: dtype, tolerance: dtype.isFloatingPoint ? tolerance : nil)
                }
            }
        }
    }

    /// argsort of every line of a tensor with ties and NaN against a stable sort in Swift.
    func testArgsortKernel() throws {
        let shape = [3, 6]
        let values: [Double] = [3, 1, 3, .nan, -2, 1, 0, 0, 0, 0, 0, 0, 5, -1, 4, .nan, .nan, -1]
        for layout in Layout.allCases {
            let x = try makeTensor(values, shape: shape, dtype: .float64, layout: layout)
            for descending in [false, true] {
                var expected: [Double] = []
                for row in 0..<3 {
                    let line = Array(values[(row * 6)..<(row * 6 + 6)])
                    let key: (Double) -> Double = { $0.isNaN ? .infinity : $0 }
                    let order = line.indices.sorted { p, q in
                        let (a, b) = (key(line[p]), key(line[q]))
                        if line[p].isNaN != line[q].isNaN { return descending ? line[p].isNaN : line[q].isNaN }
                        if a == b { return p < q }
                        return descending ? a > b : a < b
                    }
                    expected += order.map(Double.init)
                }
                try assertValues(try Ops.argsort(x, dim: 1, descending: descending), expected, shape: shape, dtype: .int64)
            }
        }
        // topk's heap selection (k < n / 4) gives the prefix of the full stable sort.
        var rng = TestRandom(seed: 14)
        let many = randomValues([4, 50], in: (-3, 3), rng: &rng).map { ($0 * 2).rounded() }
        for layout in Layout.allCases {
            let x = try makeTensor(many, shape: [4, 50], dtype: .float64, layout: layout)
            for largest in [false, true] {
                let full = try Ops.doubles(try Ops.argsort(x, dim: 1, descending: largest))
                let prefix = (0..<4).flatMap { row in full[(row * 50)..<(row * 50 + 5)] }
                try assertValues(try Ops.topk(x, k: 5, dim: 1, largest: largest).indices, Array(prefix), shape: [4, 5], dtype: .int64)
            }
        }
        let ints = try makeTensor([2, 7, -1, 2], shape: [4], dtype: .int32)
        try assertValues(try Ops.argsort(ints, dim: 0), [2, 0, 3, 1], shape: [4], dtype: .int64)
        try assertValues(try Ops.argsort(try Ops.zeros(shape: [2, 0]), dim: 1), [], shape: [2, 0], dtype: .int64)
    }

    /// Large scans and sorts split their lines over threads: the same bits on 1 and 3 threads.
    func testThreadedLinesGiveTheSameBits() throws {
        let saved = Parallel.threadCount
        defer { Parallel.threadCount = saved }
        let x = try randomTensor([400, 700], seed: 13)
        let transposed = try Ops.transpose(x, 0, 1)
        func results() throws -> [[Double]] {
            try [Ops.cumsum(x, dim: 1), Ops.cumprod(transposed, dim: 1), Ops.argsort(x, dim: 1), Ops.argsort(transposed, dim: 0)]
                .map { try Ops.doubles($0) }
        }
        Parallel.threadCount = 1
        let serial = try results()
        Parallel.threadCount = 3
        XCTAssertEqual(try results(), serial)
        try assertValues(try Ops.cumsum(x, dim: 1), try Ops.doubles(try Ops.linearScan(try Ops.ones(shape: [], dtype: .float64), x, dim: 1)),
                         shape: [400, 700], dtype: .float64)
    }

    func testScanRules() throws {
        let a = try randomTensor([3, 4], seed: 1), b = try randomTensor([3, 4], seed: 2)
        try checkRules("linear_scan", [a, b]) { try Ops.linearScan($0[0], $0[1], dim: 1) }
        try checkRules("linear_scan dim 0", [a, b]) { try Ops.linearScan($0[0], $0[1], dim: 0) }
        try checkRules("cumsum", [a]) { try Ops.cumsum($0[0], dim: -1) }
        try checkRules("cumprod", [a]) { try Ops.cumprod($0[0], dim: 0) }
        let zeros = try Ops.tensor([2, 0, 3, -1, 0, 0.5], shape: [6])
        try checkRules("cumprod through zeros", [zeros]) { try Ops.cumprod($0[0], dim: 0) }
        try checkRules("cumsum rank 0", [try randomTensor([], seed: 3)]) { try Ops.cumsum($0[0], dim: 0) }
    }

    func testSortingRules() throws {
        let x = try randomTensor([3, 5], seed: 4)
        try checkRules("sort values", [x]) { try Ops.sort($0[0], dim: 1).values }
        try checkRules("sort descending dim 0", [x]) { try Ops.sort($0[0], dim: 0, descending: true).values }
        try checkRules("topk", [x]) { try Ops.topk($0[0], k: 2, dim: -1).values }
        try checkRules("topk smallest", [x]) { try Ops.topk($0[0], k: 1, dim: 0, largest: false).values }
    }

    func testEinsumRules() throws {
        let a = try randomTensor([2, 3, 4], seed: 5), b = try randomTensor([2, 4, 3], seed: 6)
        try checkRules("einsum batched matmul", [a, b]) { try Ops.einsum("bij,bjk->bik", $0) }
        try checkRules("einsum trace of a product", [a, b]) { try Ops.einsum("bij,bji->b", $0) }
        try checkRules("einsum outer with ellipsis", [a, try randomTensor([3], seed: 7)]) { try Ops.einsum("...k,j", $0) }
        let square = try randomTensor([3, 3, 2], seed: 8)
        try checkRules("einsum diagonal", [square]) { try Ops.einsum("iij->ji", $0) }
        try assertValues(try Ops.einsum("ii", [try Ops.tensor([1, 2, 3, 4], shape: [2, 2])]), [5], shape: [], dtype: .float64)
        assertThrows(.invalidArgument, "sf_einsum: invalid subscript '1'") { try Ops.einsum("i1", [a]) }
        assertThrows(.shape, "sf_einsum: subscript 'j' has size 3") { try Ops.einsum("bij,bjk", [a, a]) }
    }

    func testDiagonalAndTriangleRules() throws {
        let x = try randomTensor([3, 4], seed: 9)
        try checkRules("diagonal", [x]) { try Ops.diagonal($0[0], offset: 1) }
        try checkRules("diagonal negative", [x]) { try Ops.diagonal($0[0], offset: -1, dim1: 1, dim2: 0) }
        try checkRules("diag_embed", [x]) { try Ops.diagEmbed($0[0], offset: 1, dim1: 0, dim2: 2) }
        try checkRules("trace", [x]) { try Ops.trace($0[0]) }
        try checkRules("tril", [x]) { try Ops.tril($0[0], diagonal: -1) }
        try checkRules("triu", [x]) { try Ops.triu($0[0], diagonal: 1) }
        try assertValues(try Ops.diagEmbed(try Ops.tensor([1, 2], shape: [2]), offset: -1),
                         [0, 0, 0, 1, 0, 0, 0, 2, 0], shape: [3, 3], dtype: .float64)
    }

    func testNormRules() throws {
        let x = try randomTensor([3, 4], seed: 10)
        try checkRules("vector_norm 2", [x]) { try Ops.vectorNorm($0[0]) }
        try checkRules("vector_norm 3 dim", [x]) { try Ops.vectorNorm($0[0], ord: 3, dims: [1]) }
        try checkRules("vector_norm inf", [x]) { try Ops.vectorNorm($0[0], ord: .infinity, dims: [0], keepdim: true) }
        try checkRules("matrix_norm fro", [x]) { try Ops.matrixNorm($0[0]) }
        try checkRules("matrix_norm 1", [x]) { try Ops.matrixNorm($0[0], ord: .one) }
        // The gradient at 0 is 0 (torch's subgradient), at orders 1 and 2.
        let zero = try Ops.zeros(shape: [3], dtype: .float64)
        let norm = Function(name: "norm", inputCount: 1, outputCount: 1) { [try Ops.vectorNorm($0[0])] }
        let gradient = try Transforms.grad(norm, argnums: [0], hasAux: false)
        try assertValues(try gradient([zero])[0], [0, 0, 0], shape: [3], dtype: .float64)
        try checkRules("matrix_norm nuc", [x]) { try Ops.matrixNorm($0[0], ord: .nuclear) }
    }

    func testRepetitionRules() throws {
        let x = try randomTensor([2, 3], seed: 12)
        try checkRules("roll", [x]) { try Ops.roll($0[0], shifts: [1, -2], dims: [0, 1]) }
        try checkRules("roll flat", [x]) { try Ops.roll($0[0], shifts: [4]) }
        try checkRules("repeat", [x]) { try Ops.repeat($0[0], [2, 1, 3]) }
        try checkRules("tile", [x]) { try Ops.tile($0[0], [2]) }
        try assertValues(try Ops.repeat(try Ops.tensor([1, 2], shape: [2]), [2, 2]), [1, 2, 1, 2, 1, 2, 1, 2],
                         shape: [2, 4], dtype: .float64)
    }
}
