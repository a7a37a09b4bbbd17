import XCTest
@testable import SwiftFuncCore

/// max_pool2d (the max_pool2d_indices primitive and a gather) and the average-pooling composites:
/// values against naive loops, every rule through RuleChecks.
final class PoolingRuleTests: XCTestCase {
    struct Case {
        var x: [Int], kernel: [Int], stride: [Int], padding = [0, 0], dilation = [1, 1], ceilMode = false
    }

    let cases: [Case] = [
        Case(x: [2, 3, 4, 6], kernel: [2, 2], stride: [2, 2]),
        Case(x: [1, 2, 7, 5], kernel: [3, 2], stride: [2, 1], padding: [1, 1]),
        Case(x: [2, 7, 7], kernel: [3, 3], stride: [2, 2], padding: [1, 0], dilation: [2, 1], ceilMode: true),
        Case(x: [1, 1, 5, 8], kernel: [2, 3], stride: [3, 2], padding: [1, 1], dilation: [1, 2], ceilMode: true),
    ]

    /// torch's output size.
    func outputSize(_ n: Int, _ k: Int, _ s: Int, _ p: Int, _ d: Int, _ ceilMode: Bool) -> Int {
        let span = n + 2 * p - d * (k - 1) - 1
        var out = (ceilMode ? span + s - 1 : span) / s + 1
        if ceilMode && (out - 1) * s >= n + p { out -= 1 }
        return out
    }

    func testMaxPoolAgainstNaiveLoops() throws {
        var rng = TestRandom(seed: 31)
        for item in cases {
            let values = randomValues(item.x, rng: &rng)
            let x = try Ops.tensor(values, shape: item.x)
            let (pooled, indices) = try Ops.maxPool2d(x, kernel: item.kernel, stride: item.stride, padding: item.padding,
                                                      dilation: item.dilation, ceilMode: item.ceilMode)
            let (h, w) = (item.x[item.x.count - 2], item.x[item.x.count - 1])
            let oh = outputSize(h, item.kernel[0], item.stride[0], item.padding[0], item.dilation[0], item.ceilMode)
            let ow = outputSize(w, item.kernel[1], item.stride[1], item.padding[1], item.dilation[1], item.ceilMode)
            let planes = values.count / (h * w)
            var expected = [Double](), expectedIndices = [Double]()
            for plane in 0..<planes {
                for i in 0..<oh {
                    for j in 0..<ow {
                        var best = -Double.infinity, at = -1
                        for a in 0..<item.kernel[0] {
                            for b in 0..<item.kernel[1] {
                                let r = i * item.stride[0] - item.padding[0] + a * item.dilation[0]
                                let c = j * item.stride[1] - item.padding[1] + b * item.dilation[1]
                                guard r >= 0, r < h, c >= 0, c < w else { continue }
                                let value = values[plane * h * w + r * w + c]
                                if at < 0 || value > best { (best, at) = (value, r * w + c) }
                            }
                        }
                        expected.append(best)
                        expectedIndices.append(Double(at))
                    }
                }
            }
            XCTAssertEqual(pooled.shape, Array(item.x.dropLast(2)) + [oh, ow])
            XCTAssertEqual(try Ops.doubles(pooled), expected, "\(item)")
            XCTAssertEqual(indices.dtype, .int64)
            XCTAssertEqual(try Ops.doubles(indices), expectedIndices, "\(item)")
        }
    }

    func maxPoolCheck(_ item: Case, rng: inout TestRandom) throws -> RuleCheck {
        RuleCheck(name: "max_pool2d \(item)", body: {
            try Ops.maxPool2d($0[0], kernel: item.kernel, stride: item.stride, padding: item.padding,
                              dilation: item.dilation, ceilMode: item.ceilMode).values
        }, inputs: [try randomTensor(item.x, rng: &rng)])
    }

    func avgPoolCheck(_ item: Case, countIncludePad: Bool, rng: inout TestRandom) throws -> RuleCheck {
        let padding = item.padding.enumerated().map { Swift.min($0.element, item.kernel[$0.offset] / 2) }
        return RuleCheck(name: "avg_pool2d \(item)", body: {
            try Ops.avgPool2d($0[0], kernel: item.kernel, stride: item.stride, padding: padding, ceilMode: item.ceilMode,
                              countIncludePad: countIncludePad)
        }, inputs: [try randomTensor(item.x, rng: &rng)])
    }

    func testMaxPoolRules() throws {
        var rng = TestRandom(seed: 32)
        for item in cases {
            try checkDerivatives(maxPoolCheck(item, rng: &rng))
            try checkBatching(maxPoolCheck(item, rng: &rng))
        }
    }

    func testAveragePoolRules() throws {
        var rng = TestRandom(seed: 33)
        for item in cases {
            for countIncludePad in [true, false] {
                try checkDerivatives(avgPoolCheck(item, countIncludePad: countIncludePad, rng: &rng))
                try checkBatching(avgPoolCheck(item, countIncludePad: countIncludePad, rng: &rng))
            }
        }
        let adaptive = RuleCheck(name: "adaptive_avg_pool2d", body: { try Ops.adaptiveAvgPool2d($0[0], outputSize: [3, 2]) },
                                 inputs: [try randomTensor([2, 2, 5, 7], rng: &rng)])
        try checkDerivatives(adaptive)
        try checkBatching(adaptive)
    }
}
