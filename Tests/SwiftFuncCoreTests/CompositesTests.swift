import XCTest
@testable import SwiftFuncCore

/// The composites of Statistics.swift and NeuralNetwork.swift (mean, var, std, logsumexp, softmax,
/// log_softmax, layer_norm, cross_entropy, mse_loss, linear): values against naive references,
/// error messages, and their derivatives and batching through the primitives' rules.
final class CompositesTests: XCTestCase {
    // MARK: naive references

        /// The values of each group of a reduction over `dims`, in row-major order of the kept dims,
    /// and the flat positions of each value's group.
    private func groups(_ values: [Double], shape: [Int], dims: [Int]) -> (groups: [[Double]], groupOf: [Int]) {
        let kept = (0..<shape.count).filter { !dims.contains($0) }
        var result = [[Double]](repeating: [], count: kept.reduce(1) { $0 * shape[$1] })
        var groupOf: [Int] = []
        for flat in values.indices {
            let index = unravel(flat, shape)
            let group = kept.reduce(0) { $0 * shape[$1] + index[$1] }
            result[group].append(values[flat])
            groupOf.append(group)
        }
        return (result, groupOf)
    }

    private func naiveMean(_ g: [Double]) -> Double { g.reduce(0, +) / Double(g.count) }

    private func naiveVar(_ g: [Double], correction: Int) -> Double {
        let m = naiveMean(g)
        return g.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(g.count - correction)
    }

    private func naiveLogSumExp(_ g: [Double]) -> Double {
        let m = g.max()!
        guard m.isFinite else { return m == -.infinity ? -.infinity : .infinity }
        return m + libmLog(g.reduce(0) { $0 + libmExp($1 - m) })
    }

    // MARK: mean, var, std

    func testMeanVarStdValues() throws {
        let shape = [2, 3, 4]
        var rng = TestRandom(seed: 1)
        let values = randomValues(shape, rng: &rng)
        for layout in Layout.allCases {
            let x = try makeTensor(values, shape: shape, layout: layout)
            for dims in [[1], [0, 2], [-1], [0, 1, 2]] {
                let normalized = dims.map { $0 < 0 ? $0 + 3 : $0 }.sorted()
                let g = groups(values, shape: shape, dims: normalized).groups
                var keptShape = shape
                for d in normalized { keptShape[d] = 1 }
                let outShape = shape.indices.filter { !normalized.contains($0) }.map { shape[$0] }
                try assertValues(try Ops.mean(x, dims: dims), g.map(naiveMean), shape: outShape, dtype: .float64, "mean \(dims)")
                try assertValues(try Ops.mean(x, dims: dims, keepdim: true), g.map(naiveMean), shape: keptShape, dtype: .float64)
                try assertValues(try Ops.var(x, dims: dims), g.map { naiveVar($0, correction: 1) }, shape: outShape, dtype: .float64, "var \(dims)")
                try assertValues(try Ops.var(x, dims: dims, correction: 0, keepdim: true), g.map { naiveVar($0, correction: 0) },
                                 shape: keptShape, dtype: .float64)
                try assertValues(try Ops.std(x, dims: dims), g.map { naiveVar($0, correction: 1).squareRoot() }, shape: outShape, dtype: .float64)
            }
            try assertValues(try Ops.mean(x), [naiveMean(values)], shape: [], dtype: .float64)
            try assertValues(try Ops.std(x, correction: 0), [naiveVar(values, correction: 0).squareRoot()], shape: [], dtype: .float64)
        }
        let single = try Ops.tensor([3, 5], shape: [2], dtype: .float32)
        try assertValues(try Ops.mean(single), [4], shape: [], dtype: .float32)
        try assertValues(try Ops.var(single), [2], shape: [], dtype: .float32)
        // One element with the unbiased correction: 0/0 (torch gives nan); an empty mean: nan.
        try assertValues(try Ops.var(try Ops.tensor([7], shape: [1])), [.nan], shape: [], dtype: .float64)
        try assertValues(try Ops.mean(try Ops.tensor([], shape: [0])), [.nan], shape: [], dtype: .float64)
        try assertValues(try Ops.mean(try Ops.tensor([2.5], shape: [])), [2.5], shape: [], dtype: .float64)
    }

    func testMeanVarStdErrors() throws {
        let integers = try indexTensor([1, 2, 3], shape: [3])
        assertThrows(.dtype, "sf_mean: expected a float tensor, got int64") { try Ops.mean(integers) }
        assertThrows(.dtype, "sf_var: expected a float tensor") { try Ops.var(integers) }
        assertThrows(.dtype, "sf_var: expected a float tensor") { try Ops.std(integers) }
        let x = try randomTensor([2, 3], seed: 2)
        assertThrows(.invalidArgument, "sf_mean: dim 2 is out of range") { try Ops.mean(x, dims: [2]) }
        assertThrows(.invalidArgument, "appears more than once") { try Ops.var(x, dims: [1, -1]) }
    }

    func testMeanVarStdRules() throws {
        let x = try randomTensor([3, 4], seed: 3)
        try checkRules("mean", [x]) { try Ops.mean($0[0], dims: [1]) }
        try checkRules("mean all", [x]) { try Ops.mean($0[0]) }
        try checkRules("var", [x]) { try Ops.var($0[0], dims: [0], keepdim: true) }
        try checkRules("std", [x]) { try Ops.std($0[0], dims: [1]) }
        try checkRules("std all, biased", [x]) { try Ops.std($0[0], correction: 0) }
    }

    // MARK: logsumexp, softmax, log_softmax

    func testLogSumExpValues() throws {
        var rng = TestRandom(seed: 4)
        let values = randomValues([3, 4], rng: &rng)
        for layout in Layout.allCases {
            let x = try makeTensor(values, shape: [3, 4], layout: layout)
            try assertValues(try Ops.logsumexp(x, dims: [1]), groups(values, shape: [3, 4], dims: [1]).groups.map(naiveLogSumExp),
                             shape: [3], dtype: .float64)
            try assertValues(try Ops.logsumexp(x, dims: [0], keepdim: true), groups(values, shape: [3, 4], dims: [0]).groups.map(naiveLogSumExp),
                             shape: [1, 4], dtype: .float64)
            try assertValues(try Ops.logsumexp(x), [naiveLogSumExp(values)], shape: [], dtype: .float64)
        }
        // Large values do not overflow; -inf rows give -inf (not nan); +inf gives +inf.
        let large = try Ops.tensor([1000, 1000, -1000, 1000, -.infinity, -.infinity, 2, .infinity], shape: [4, 2])
        try assertValues(try Ops.logsumexp(large, dims: [1]), [1000 + libmLog(2), 1000, -.infinity, .infinity], shape: [4], dtype: .float64)
        let float32 = try Ops.tensor([100, 100], shape: [2], dtype: .float32)
        try assertValues(try Ops.logsumexp(float32, dims: [0]), [100 + libmLog(2)], shape: [], dtype: .float32)
        try assertValues(try Ops.logsumexp(try Ops.tensor([-3], shape: [])), [-3], shape: [], dtype: .float64)
        // An empty reduction is log 0 = -inf (amax alone would refuse it); integers give float32.
        let empty = try Ops.tensor([], shape: [2, 0])
        try assertValues(try Ops.logsumexp(empty, dims: [1]), [-.infinity, -.infinity], shape: [2], dtype: .float64)
        try assertValues(try Ops.logsumexp(empty, dims: [0], keepdim: true), [], shape: [1, 0], dtype: .float64)
        try assertValues(try Ops.logsumexp(try indexTensor([1, 2], shape: [2])), [2 + libmLog(1 + libmExp(-1))], shape: [], dtype: .float32)
        // Kept dims of size 1 stay when keepdim is false.
        try assertValues(try Ops.logsumexp(try Ops.tensor([0, 0], shape: [1, 2]), dims: [1]), [libmLog(2)], shape: [1], dtype: .float64)
    }

    func testSoftmaxValues() throws {
        var rng = TestRandom(seed: 5)
        let values = randomValues([3, 5], in: (-10, 10), rng: &rng)
        for layout in Layout.allCases {
            let x = try makeTensor(values, shape: [3, 5], layout: layout)
            for dim in [0, 1, -1] {
                let d = dim < 0 ? dim + 2 : dim
                let (g, groupOf) = groups(values, shape: [3, 5], dims: [d])
                let lse = g.map(naiveLogSumExp)
                let expected = values.indices.map { libmExp(values[$0] - lse[groupOf[$0]]) }
                let softmax = try Ops.softmax(x, dim: dim)
                try assertValues(softmax, expected, shape: [3, 5], dtype: .float64, "softmax dim \(dim)")
                try assertValues(try Ops.logSoftmax(x, dim: dim), values.indices.map { values[$0] - lse[groupOf[$0]] },
                                 shape: [3, 5], dtype: .float64, "log_softmax dim \(dim)")
                // Each group sums to 1.
                try assertValues(try Ops.sum(softmax, dims: [d]), [Double](repeating: 1, count: 15 / [3, 5][d]),
                                 shape: [[3, 5][1 - d]], dtype: .float64)
            }
        }
        // Large logits: no overflow, exact probabilities.
        let large = try Ops.tensor([1000, 1000, 999], shape: [3], dtype: .float32)
        let e = libmExp(-1.0)
        try assertValues(try Ops.softmax(large, dim: 0), [1 / (2 + e), 1 / (2 + e), e / (2 + e)], shape: [3], dtype: .float32)
        try assertValues(try Ops.logSoftmax(large, dim: 0), [-libmLog(2 + e), -libmLog(2 + e), -1 - libmLog(2 + e)],
                         shape: [3], dtype: .float32)
        try assertValues(try Ops.softmax(try Ops.tensor([4], shape: []), dim: 0), [1], shape: [], dtype: .float64)
        try assertValues(try Ops.softmax(try Ops.tensor([], shape: [2, 0]), dim: 1), [], shape: [2, 0], dtype: .float64)
        try assertValues(try Ops.logSoftmax(try Ops.tensor([], shape: [0, 3]), dim: 1), [], shape: [0, 3], dtype: .float64)
        try assertValues(try Ops.logSoftmax(try Ops.tensor([4], shape: []), dim: -1), [0], shape: [], dtype: .float64)
    }

    func testSoftmaxErrors() throws {
        let x = try randomTensor([2, 3], seed: 6)
        assertThrows(.invalidArgument, "sf_softmax: dim 2 is out of range") { try Ops.softmax(x, dim: 2) }
        assertThrows(.invalidArgument, "sf_log_softmax: dim -3 is out of range") { try Ops.logSoftmax(x, dim: -3) }
        assertThrows(.invalidArgument, "sf_logsumexp: dim 5 is out of range") { try Ops.logsumexp(x, dims: [5]) }
    }

    func testLogSumExpSoftmaxRules() throws {
        let x = try randomTensor([3, 4], seed: 7)
        try checkRules("logsumexp", [x]) { try Ops.logsumexp($0[0], dims: [1]) }
        try checkRules("logsumexp all keepdim", [x]) { try Ops.logsumexp($0[0], keepdim: true) }
        try checkRules("softmax", [x]) { try Ops.softmax($0[0], dim: 1) }
        try checkRules("softmax dim 0", [x]) { try Ops.softmax($0[0], dim: 0) }
        try checkRules("log_softmax", [x]) { try Ops.logSoftmax($0[0], dim: -1) }
    }

    // MARK: layer_norm

    func testLayerNormValues() throws {
        let shape = [2, 3, 4]
        var rng = TestRandom(seed: 8)
        let values = randomValues(shape, rng: &rng)
        let weightValues = randomValues([3, 4], rng: &rng), biasValues = randomValues([3, 4], rng: &rng)
        let eps = 1e-5
        // The loop: each [3, 4] block normalized by its biased variance.
        var expected = [Double](repeating: 0, count: 24), affine = expected
        for n in 0..<2 {
            let block = Array(values[(n * 12)..<(n * 12 + 12)])
            let mean = naiveMean(block)
            let variance = block.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / 12
            for k in 0..<12 {
                expected[n * 12 + k] = (block[k] - mean) / (variance + eps).squareRoot()
                affine[n * 12 + k] = expected[n * 12 + k] * weightValues[k] + biasValues[k]
            }
        }
        for layout in Layout.allCases {
            let x = try makeTensor(values, shape: shape, layout: layout)
            try assertValues(try Ops.layerNorm(x, normalizedShape: [3, 4]), expected, shape: shape, dtype: .float64)
            let weight = try makeTensor(weightValues, shape: [3, 4], layout: layout), bias = try makeTensor(biasValues, shape: [3, 4], layout: layout)
            try assertValues(try Ops.layerNorm(x, normalizedShape: [3, 4], weight: weight, bias: bias, eps: eps), affine, shape: shape, dtype: .float64)
        }
        // Over the last dim only, float32.
        let rows = try Ops.tensor([1, 2, 3, 10, 10, 10], shape: [2, 3], dtype: .float32)
        let s = (2.0 / 3 + 1e-5).squareRoot()
        try assertValues(try Ops.layerNorm(rows, normalizedShape: [3]), [-1 / s, 0, 1 / s, 0, 0, 0], shape: [2, 3], dtype: .float32)
    }

    func testLayerNormErrors() throws {
        let x = try randomTensor([2, 3], seed: 9)
        assertThrows(.shape, "sf_layer_norm: normalized_shape [2] does not match the last dims of input shape [2, 3]") {
            try Ops.layerNorm(x, normalizedShape: [2])
        }
        assertThrows(.dtype, "sf_layer_norm: expected a float tensor, got int64") {
            try Ops.layerNorm(try indexTensor([1, 2], shape: [2]), normalizedShape: [2])
        }
        assertThrows(.shape, "normalized_shape []") { try Ops.layerNorm(x, normalizedShape: []) }
        assertThrows(.shape, "does not match") { try Ops.layerNorm(x, normalizedShape: [1, 2, 3]) }
        assertThrows(.shape, "sf_layer_norm: weight has shape [2] but normalized_shape is [3]") {
            try Ops.layerNorm(x, normalizedShape: [3], weight: try Ops.tensor([1, 1], shape: [2]))
        }
        assertThrows(.shape, "sf_layer_norm: bias has shape [1, 3]") {
            try Ops.layerNorm(x, normalizedShape: [3], bias: try Ops.tensor([1, 1, 1], shape: [1, 3]))
        }
    }

    func testLayerNormRules() throws {
        let x = try randomTensor([2, 5], seed: 10)
        try checkRules("layer_norm", [x], tolerance: 1e-5) { try Ops.layerNorm($0[0], normalizedShape: [5]) }
        let weight = try randomTensor([5], seed: 11), bias = try randomTensor([5], seed: 12)
        try checkRules("layer_norm affine", [x, weight, bias], tolerance: 1e-5) {
            try Ops.layerNorm($0[0], normalizedShape: [5], weight: $0[1], bias: $0[2])
        }
    }

    // MARK: cross_entropy

    func testCrossEntropyValues() throws {
        let logits = try Ops.tensor([1, 2, 3, 0, 0, 0, -1, 5, 2], shape: [3, 3])
        let target = try indexTensor([2, 0, 1], shape: [3])
        // By hand: -log softmax(row)[target].
        let losses = [
            -(3 - libmLog(libmExp(1) + libmExp(2) + libmExp(3))),
            libmLog(3),
            -(5 - libmLog(libmExp(-1) + libmExp(5) + libmExp(2))),
        ]
        try assertValues(try Ops.crossEntropy(logits, target: target, reduction: .none), losses, shape: [3], dtype: .float64)
        try assertValues(try Ops.crossEntropy(logits, target: target), [losses.reduce(0, +) / 3], shape: [], dtype: .float64)
        try assertValues(try Ops.crossEntropy(logits, target: target, reduction: .sum), [losses.reduce(0, +)], shape: [], dtype: .float64)
        // [C] logits with a 0-d target; int32 targets; float32 logits.
        let row = try Ops.tensor([0, 0, 0, 0], shape: [4], dtype: .float32)
        try assertValues(try Ops.crossEntropy(row, target: try indexTensor([3], shape: [], dtype: .int32)), [libmLog(4)], shape: [], dtype: .float32)
        // Large logits stay finite.
        let large = try Ops.tensor([1000, 0], shape: [1, 2])
        try assertValues(try Ops.crossEntropy(large, target: try indexTensor([1], shape: [1]), reduction: .none), [1000], shape: [1], dtype: .float64)
    }

    func testCrossEntropyErrors() throws {
        let logits = try randomTensor([2, 3], seed: 13)
        assertThrows(.shape, "sf_cross_entropy: logits must be [C] or [N, C], got shape [2, 3, 1]") {
            try Ops.crossEntropy(try randomTensor([2, 3, 1], seed: 14), target: try indexTensor([0, 0], shape: [2]))
        }
        assertThrows(.dtype, "sf_cross_entropy: target must hold class indices (int32 or int64), got float64") {
            try Ops.crossEntropy(logits, target: try Ops.tensor([0, 1], shape: [2]))
        }
        assertThrows(.shape, "sf_cross_entropy: target shape [3] does not match logits shape [2, 3]") {
            try Ops.crossEntropy(logits, target: try indexTensor([0, 1, 2], shape: [3]))
        }
        assertThrows(.shape, "sf_cross_entropy: logits have no classes") {
            try Ops.crossEntropy(try Ops.tensor([], shape: [2, 0]), target: try indexTensor([0, 0], shape: [2]))
        }
        assertThrows(.invalidArgument, "sf_cross_entropy: target 3 at position 1 is not a class index in [0, 3)") {
            try Ops.crossEntropy(logits, target: try indexTensor([0, 3], shape: [2]))
        }
        // A negative target is not counted from the end (as gather's indices are): it is refused.
        assertThrows(.invalidArgument, "target -1 at position 0") {
            try Ops.crossEntropy(logits, target: try indexTensor([-1, 0], shape: [2]))
        }
    }

    func testCrossEntropyRules() throws {
        let logits = try randomTensor([4, 3], seed: 15)
        let target = try indexTensor([2, 0, 1, 1], shape: [4])
        for reduction in [Reduction.none, .mean, .sum] {
            try checkRules("cross_entropy \(reduction)", [logits, target], constant: [1]) {
                try Ops.crossEntropy($0[0], target: $0[1], reduction: reduction)
            }
        }
        // A different target per example under vmap (per-sample losses).
        let examples = try (0..<3).map { b in [try randomTensor([4, 3], seed: 16 + UInt64(b)), try indexTensor([b, 2 - b, 1, b], shape: [4])] }
        try assertVmapMatchesLoop("cross_entropy", examples, inDims: [0, 0]) { try Ops.crossEntropy($0[0], target: $0[1]) }
        try assertVmapMatchesLoop("cross_entropy targets only", examples, inDims: [nil, 0]) { try Ops.crossEntropy($0[0], target: $0[1]) }
    }

    // MARK: mse_loss

    func testMSELoss() throws {
        let input = try Ops.tensor([1, 2, 3, 4], shape: [2, 2])
        let target = try Ops.tensor([0, 4], shape: [2])
        let squares = [1.0, 4, 9, 0]
        try assertValues(try Ops.mseLoss(input, target: target, reduction: .none), squares, shape: [2, 2], dtype: .float64)
        try assertValues(try Ops.mseLoss(input, target: target), [3.5], shape: [], dtype: .float64)
        try assertValues(try Ops.mseLoss(input, target: target, reduction: .sum), [14], shape: [], dtype: .float64)
        let integers = try indexTensor([1, 2], shape: [2])
        assertThrows(.dtype, "sf_mse_loss: expected a float tensor, got int64") { try Ops.mseLoss(integers, target: integers) }
        // An integer target promotes with a float input.
        try assertValues(try Ops.mseLoss(try Ops.tensor([1.5, 2], shape: [2]), target: integers), [0.125], shape: [], dtype: .float64)
        assertThrows(.shape, "cannot be broadcast") { try Ops.mseLoss(input, target: try Ops.tensor([1, 2, 3], shape: [3])) }
        try checkRules("mse_loss", [try randomTensor([3, 2], seed: 20), try randomTensor([2], seed: 21)]) { try Ops.mseLoss($0[0], target: $0[1]) }
        try checkRules("mse_loss none", [try randomTensor([3, 2], seed: 22), try randomTensor([3, 2], seed: 23)]) {
            try Ops.mseLoss($0[0], target: $0[1], reduction: .none)
        }
    }

    // MARK: linear

    func testLinear() throws {
        var rng = TestRandom(seed: 24)
        let xValues = randomValues([2, 3], rng: &rng), wValues = randomValues([4, 3], rng: &rng), bValues = randomValues([4], rng: &rng)
        var expected = [Double](repeating: 0, count: 8)
        for n in 0..<2 {
            for o in 0..<4 {
                expected[n * 4 + o] = (0..<3).reduce(bValues[o]) { $0 + xValues[n * 3 + $1] * wValues[o * 3 + $1] }
            }
        }
        for layout in Layout.allCases {
            let x = try makeTensor(xValues, shape: [2, 3], layout: layout), w = try makeTensor(wValues, shape: [4, 3], layout: layout)
            let b = try Ops.tensor(bValues, shape: [4])
            try assertValues(try Ops.linear(x, weight: w, bias: b), expected, shape: [2, 4], dtype: .float64)
            try assertValues(try Ops.linear(x, weight: w), zip(expected, (0..<8).map { bValues[$0 % 4] }).map { $0 - $1 }, shape: [2, 4], dtype: .float64)
        }
        // A 1-D weight gives one output per row.
        let x = try Ops.tensor(xValues, shape: [2, 3]), v = try Ops.tensor([1, 0, -1], shape: [3])
        try assertValues(try Ops.linear(x, weight: v), [xValues[0] - xValues[2], xValues[3] - xValues[5]], shape: [2], dtype: .float64)
        assertThrows(.shape, "sf_linear: weight must be 1-D or 2-D, got shape [1, 4, 3]") {
            try Ops.linear(x, weight: try randomTensor([1, 4, 3], seed: 25))
        }
        assertThrows(.shape, "sf_matmul") { try Ops.linear(x, weight: try randomTensor([4, 2], seed: 26)) }

        try checkRules("linear", [try randomTensor([2, 3], seed: 27), try randomTensor([4, 3], seed: 28), try randomTensor([4], seed: 29)]) {
            try Ops.linear($0[0], weight: $0[1], bias: $0[2])
        }
        try checkRules("linear no bias", [try randomTensor([5, 3], seed: 30), try randomTensor([2, 3], seed: 31)]) {
            try Ops.linear($0[0], weight: $0[1])
        }
    }
}

// Glibc's log and exp, under names that do not clash with Ops'.
#if canImport(Glibc)
import Glibc
private func libmLog(_ x: Double) -> Double { Glibc.log(x) }
private func libmExp(_ x: Double) -> Double { Glibc.exp(x) }
#endif
