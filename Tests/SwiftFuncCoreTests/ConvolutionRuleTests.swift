import XCTest
@testable import SwiftFuncCore

final class ConvolutionRuleTests: XCTestCase {
    struct Case {
        var x: [Int], w: [Int]
        var stride = [1, 1], padding = [0, 0], dilation = [1, 1], groups = 1
    }

    let cases: [Case] = [
        Case(x: [2, 3, 5, 6], w: [4, 3, 3, 2]),
        // Uneven: (H + 2p - d(k-1) - 1) mod s = 1 in both dims, so the last row/column is unused.
        Case(x: [1, 2, 8, 7], w: [3, 2, 3, 3], stride: [2, 3], padding: [1, 0]),
        Case(x: [2, 2, 6, 7], w: [2, 2, 3, 2], stride: [1, 2], padding: [2, 1], dilation: [2, 3]),
        Case(x: [1, 4, 7, 8], w: [6, 2, 2, 3], stride: [2, 1], padding: [0, 1], dilation: [1, 2], groups: 2),
        // Depthwise with a channel multiplier of 2.
        Case(x: [2, 3, 5, 5], w: [6, 1, 3, 3], padding: [1, 1], groups: 3),
        // Padding larger than dilation * (k - 1): the input cotangent's padding becomes a crop.
        Case(x: [1, 2, 4, 4], w: [2, 2, 2, 2], stride: [2, 1], padding: [2, 3]),
        // Stride larger than the kernel: rows and columns between windows are never read.
        Case(x: [1, 1, 7, 8], w: [1, 1, 2, 2], stride: [3, 3]),
    ]

    func body(_ item: Case) -> ([Value]) throws -> Value {
        { try Ops.conv2d($0[0], $0[1], stride: item.stride, padding: item.padding, dilation: item.dilation, groups: item.groups) }
    }

    func naive(_ x: [Double], _ w: [Double], _ item: Case) -> (values: [Double], shape: [Int]) {
        naiveConv2d(x, item.x, w, item.w, stride: (item.stride[0], item.stride[1]), padding: (item.padding[0], item.padding[1]),
                    dilation: (item.dilation[0], item.dilation[1]), groups: item.groups)
    }

    func check(_ item: Case, rng: inout TestRandom) throws -> RuleCheck {
        RuleCheck(name: "conv2d \(item)", body: body(item),
                  inputs: [try randomTensor(item.x, rng: &rng), try randomTensor(item.w, rng: &rng)])
    }

    func testConv2dDerivatives() throws {
        var rng = TestRandom(seed: 21)
        for item in cases { try checkDerivatives(check(item, rng: &rng)) }
    }

    func testConv2dBatching() throws {
        // Nested vmap moves batch dims with permute/reshape inside the rule.
        var rng = TestRandom(seed: 22)
        for item in cases { try checkBatching(check(item, rng: &rng)) }
    }

    /// Both cotangents against the definition <ct, conv(e_i, w)> and <ct, conv(x, e_j)> computed
    /// by the naive seven loops, and the input cotangent is exactly zero where no window reads.
    func testConv2dVJPAgainstNaiveDefinition() throws {
        var rng = TestRandom(seed: 23)
        for item in cases {
            let xv = randomValues(item.x, rng: &rng), wv = randomValues(item.w, rng: &rng)
            let x = try Ops.tensor(xv, shape: item.x), w = try Ops.tensor(wv, shape: item.w)
            let f = makeFunction("conv2d", inputs: 2) { [try self.body(item)($0)] }
            let (outputs, pullback) = try Transforms.vjp(f, [x, w])
            let ctv = randomValues(outputs[0].shape, rng: &rng)
            let grads = try pullback([Ops.tensor(ctv, shape: outputs[0].shape)])
            func directional(count: Int, _ product: ([Double]) -> [Double]) -> [Double] {
                (0..<count).map { i in
                    var unit = [Double](repeating: 0, count: count)
                    unit[i] = 1
                    return zip(product(unit), ctv).reduce(0) { $0 + $1.0 * $1.1 }
                }
            }
            let expectedX = directional(count: xv.count) { self.naive($0, wv, item).values }
            try assertValues(grads[0], expectedX, shape: item.x, dtype: .float64, "input cotangent \(item)")
            try assertValues(grads[1], directional(count: wv.count) { self.naive(xv, $0, item).values },
                             shape: item.w, dtype: .float64, "weight cotangent \(item)")
            // Elements no window touches have an exactly zero cotangent.
            for (i, value) in try Ops.doubles(grads[0]).enumerated() where expectedX[i] == 0 {
                XCTAssertEqual(value, 0, "unread input element \(i) of \(item)")
            }
        }
        // The last case reads rows 0, 1, 3, 4 and columns 0, 1, 3, 4, 6, 7 only: 56 - 24 unread
        // elements, so the zero check above did check something.
        XCTAssertEqual(unreadCount(cases[cases.count - 1]), 32)
    }

    /// How many input elements of `item` no window reads.
    private func unreadCount(_ item: Case) -> Int {
        let w = [Double](repeating: 1, count: item.w.reduce(1, *))
        let count = item.x.reduce(1, *)
        return (0..<count).filter { i in
            var unit = [Double](repeating: 0, count: count)
            unit[i] = 1
            return naive(unit, w, item).values.allSatisfy { $0 == 0 }
        }.count
    }

    /// One conv2d per vmap, no broadcast of the unbatched operand: the batch folds into N, into
    /// the output channels, or into the groups.
    func testConv2dBatchingFoldsTheBatch() throws {
        var rng = TestRandom(seed: 24)
        let item = Case(x: [2, 4, 6, 5], w: [6, 2, 3, 2], stride: [2, 1], padding: [1, 0], groups: 2)
        let f = makeFunction("conv2d", inputs: 2) { [try self.body(item)($0)] }
        let b = 3
        for (inDims, expectedX, expectedW, expectedGroups) in [
            ([0, nil] as [Int?], [6, 4, 6, 5], [6, 2, 3, 2], 2),
            ([1, nil], [6, 4, 6, 5], [6, 2, 3, 2], 2),
            ([nil, 0], [2, 4, 6, 5], [18, 2, 3, 2], 2),
            ([0, 0], [2, 12, 6, 5], [18, 2, 3, 2], 6),
        ] {
            var xShape = item.x, wShape = item.w
            if let d = inDims[0] { xShape.insert(b, at: d) }
            if let d = inDims[1] { wShape.insert(b, at: d) }
            let x = try randomTensor(xShape, rng: &rng), w = try randomTensor(wShape, rng: &rng)
            let recorder = RecordingInterpreter()
            let result = try recorder.run { try Transforms.vmap(f, inDims: inDims, outDims: [0])([x, w])[0] }
            XCTAssertEqual(recorder.count(.conv2d), 1, "\(inDims)")
            XCTAssertEqual(recorder.count(.expand), 0, "\(inDims)")
            let call = recorder.calls.first { $0.primitive == .conv2d }
            XCTAssertEqual(call?.shapes, [expectedX, expectedW], "\(inDims)")
            if case let .conv(_, _, _, groups)? = call?.params { XCTAssertEqual(groups, expectedGroups, "\(inDims)") }
            // Values against the naive conv per example.
            let xs = try Ops.doubles(Batching.moveDim(x, from: inDims[0] ?? 0, to: 0))
            let ws = try Ops.doubles(Batching.moveDim(w, from: inDims[1] ?? 0, to: 0))
            var reference: [Double] = [], shape: [Int] = []
            let xCount = item.x.reduce(1, *), wCount = item.w.reduce(1, *)
            for i in 0..<b {
                let xi = inDims[0] == nil ? xs : Array(xs[(i * xCount)..<((i + 1) * xCount)])
                let wi = inDims[1] == nil ? ws : Array(ws[(i * wCount)..<((i + 1) * wCount)])
                let example = naive(xi, wi, item)
                reference += example.values
                shape = example.shape
            }
            try assertValues(result, reference, shape: [b] + shape, dtype: .float64, "\(inDims)")
        }
    }

    /// The batching rule with an empty batch on both operands (groups * 0 would be invalid).
    func testConv2dBatchingEmptyBatch() throws {
        let x = try Ops.tensor([], shape: [0, 2, 3, 4, 4]), w = try Ops.tensor([], shape: [0, 5, 3, 3, 3])
        let params = Convolution.ConvParams(stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1)
        let (result, dim) = try Convolution.convBatch(.forward, x, 0, w, 0, batchSize: 0, params)
        XCTAssertEqual(result.shape, [0, 2, 5, 4, 4])
        XCTAssertEqual(dim, 0)
        let (onlyW, wDim) = try Convolution.convBatch(.forward, try Ops.tensor([], shape: [0, 3, 4, 4]), nil, w, 0, batchSize: 0, params)
        XCTAssertEqual(onlyW.shape, [0, 0, 5, 4, 4])
        XCTAssertEqual(wDim, 1)
    }

    /// jacfwd and jacrev of conv2d with respect to the weight agree (vmap of the JVP and of the
    /// VJP), and a per-sample gradient of a conv layer with bias matches the loop.
    func testConv2dJacobiansAndPerSampleGradients() throws {
        var rng = TestRandom(seed: 25)
        let item = Case(x: [1, 2, 5, 5], w: [4, 1, 2, 3], stride: [2, 1], padding: [1, 1], dilation: [1, 2], groups: 2)
        let x = try randomTensor(item.x, rng: &rng), w = try randomTensor(item.w, rng: &rng)
        let f = makeFunction("conv2d", inputs: 2) { [try self.body(item)($0)] }
        let forward = try Transforms.jacfwd(f, argnums: [0, 1], hasAux: false)([x, w])
        let reverse = try Transforms.jacrev(f, argnums: [0, 1], hasAux: false)([x, w])
        for i in 0..<2 {
            try assertValues(reverse[i], Ops.doubles(forward[i]), shape: forward[i].shape, dtype: .float64, "jacobian \(i)")
        }
        // Per-sample gradients of sum(conv2d(x_i, w, bias)^2) with respect to w and bias.
        let bias = try randomTensor([4], rng: &rng)
        let loss = makeFunction("loss", inputs: 3) { args in
            let y = try Ops.conv2d(args[0], args[1], bias: args[2], padding: [1, 1], groups: 2)
            return [try Ops.sum(Ops.mul(y, y))]
        }
        let grad = try Transforms.grad(loss, argnums: [1, 2], hasAux: false)
        let xs = try randomTensor([3, 2, 5, 5], rng: &rng)  // 3 samples of [C, H, W]
        let perSample = try Transforms.vmap(grad, inDims: [0, nil, nil], outDims: [0, 0])([xs, w, bias])
        for s in 0..<3 {
            let sample = try Batching.select(xs, dim: 0, index: s)
            let single = try grad([sample, w, bias])
            for k in 0..<2 {
                let rows = try Ops.doubles(Batching.select(perSample[k], dim: 0, index: s))
                try assertValues(single[k], rows, shape: single[k].shape, dtype: .float64, "sample \(s) gradient \(k)")
            }
        }
    }
}

extension ConvolutionRuleTests {
    /// Under vmap the examples' shapes get conv2d's errors (the primitive, emitted directly, so
    /// that only the batching rule checks).
    func testConv2dBatchingChecksExampleShapes() throws {
        let params = Params.conv(stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1)
        let f = makeFunction("conv2d", inputs: 2) { [try emit(.conv2d, $0, params)] }
        let x = try Ops.tensor([Double](repeating: 1, count: 2 * 3 * 16), shape: [2, 3, 4, 4])  // examples [3, 4, 4]
        let w = try Ops.tensor([Double](repeating: 1, count: 2 * 3 * 4), shape: [2, 3, 2, 2])
        assertThrows(.shape, "sf_conv2d: input must be [N, C, H, W], got shape [3, 4, 4]") {
            try Transforms.vmap(f, inDims: [0, nil], outDims: [0])([x, w])
        }
        let x4 = try Ops.tensor([Double](repeating: 1, count: 2 * 2 * 16), shape: [2, 1, 2, 4, 4])
        assertThrows(.shape, "do not match for groups = 1") {
            try Transforms.vmap(f, inDims: [0, nil], outDims: [0])([x4, w])
        }
    }
}

/// conv_transpose2d's own rules (it is conv2d's input cotangent, so conv2d's second derivatives
/// and batched input cotangents go through them too).
extension ConvolutionRuleTests {
    func transposeCheck(_ item: ConvolutionTests.TransposeCase, rng: inout TestRandom) throws -> RuleCheck {
        RuleCheck(name: "conv_transpose2d \(item)", body: { try emit(.convTranspose2d, $0, item.params) },
                  inputs: [try randomTensor(item.x, rng: &rng), try randomTensor(item.w, rng: &rng)])
    }

    func testConvTranspose2dDerivativesAndBatching() throws {
        var rng = TestRandom(seed: 26)
        for item in ConvolutionTests.transposeCases {
            let check = try transposeCheck(item, rng: &rng)
            try checkDerivatives(check)
            try checkBatching(check)
        }
    }

    /// The input cotangent is one conv_transpose2d: no padded or zero-spread copy of the cotangent,
    /// no flipped weight.
    func testInputCotangentIsOneTransposedConv() throws {
        var rng = TestRandom(seed: 27)
        for item in cases {
            let x = try randomTensor(item.x, rng: &rng), w = try randomTensor(item.w, rng: &rng)
            let f = makeFunction("conv2d", inputs: 2) { [try self.body(item)($0)] }
            let (outputs, pullback) = try Transforms.vjp(f, [x, w])
            let recorder = RecordingInterpreter()
            let ones = try Ops.ones(shape: outputs[0].shape, dtype: .float64)
            _ = try recorder.run { try pullback([ones]) }
            XCTAssertEqual(recorder.count(.convTranspose2d), 1, "\(item)")
            XCTAssertEqual(recorder.count(.pad) + recorder.count(.flip), 0, "\(item)")
        }
    }
}

/// The per-sample weight gradient (vmap of grad with the images and cotangents batched): one conv2d
/// with the batch folded into the groups, whose kernel multiplies each group over all its images
/// at once, chunked or not, against the naive weight cotangent of each sample.
extension ConvolutionRuleTests {
    /// d/dw of sum(conv2d(x, w) * ct) for one sample: x [C, H, W], ct [O, OH, OW].
    func naiveWeightGradient(_ x: [Double], _ ct: [Double], _ item: Case) -> [Double] {
        let (h, wd) = (item.x[2], item.x[3])
        let (o, cg, kh, kw) = (item.w[0], item.w[1], item.w[2], item.w[3])
        let outShape = naive([Double](repeating: 0, count: item.x.reduce(1, *)), [Double](repeating: 0, count: item.w.reduce(1, *)), item).shape
        let (oh, ow) = (outShape[2], outShape[3])
        var grad = [Double](repeating: 0, count: o * cg * kh * kw)
        for oc in 0..<o {
            let group = oc / (o / item.groups)
            for ic in 0..<cg {
                for i in 0..<kh {
                    for j in 0..<kw {
                        var sum = 0.0
                        for y in 0..<oh {
                            for xpos in 0..<ow {
                                let hy = y * item.stride[0] - item.padding[0] + i * item.dilation[0]
                                let wx = xpos * item.stride[1] - item.padding[1] + j * item.dilation[1]
                                guard hy >= 0 && hy < h && wx >= 0 && wx < wd else { continue }
                                sum += ct[(oc * oh + y) * ow + xpos] * x[((group * cg + ic) * h + hy) * wd + wx]
                            }
                        }
                        grad[((oc * cg + ic) * kh + i) * kw + j] = sum
                    }
                }
            }
        }
        return grad
    }

    func testPerSampleWeightGradientsMatchNaive() throws {
        var rng = TestRandom(seed: 28)
        let b = 5
        for item in [Case(x: [1, 3, 9, 8], w: [4, 3, 3, 3]),
                     Case(x: [1, 4, 7, 8], w: [6, 2, 2, 3], stride: [2, 1], padding: [1, 2], dilation: [1, 2], groups: 2)] {
            let outShape = naive([Double](repeating: 0, count: item.x.reduce(1, *)), [Double](repeating: 0, count: item.w.reduce(1, *)), item).shape
            let sampleCount = item.x.reduce(1, *), ctCount = outShape.reduce(1, *)
            let loss = makeFunction("loss", inputs: 3) { args in
                [try Ops.sum(Ops.mul(self.body(item)([args[1], args[0]]), args[2]))]
            }
            let grad = try Transforms.grad(loss, argnums: [0], hasAux: false)
            let perSample = try Transforms.vmap(grad, inDims: [nil, 0, 0], outDims: [0])
            for dtype in [DType.float32, .float64] {
                let xv = randomValues([b] + item.x, dtype: dtype, rng: &rng), wv = randomValues(item.w, dtype: dtype, rng: &rng)
                let ctv = randomValues([b] + outShape, dtype: dtype, rng: &rng)
                let inputs = [try Ops.tensor(wv, shape: item.w, dtype: dtype), try Ops.tensor(xv, shape: [b] + item.x, dtype: dtype),
                              try Ops.tensor(ctv, shape: [b] + outShape, dtype: dtype)]
                var expected: [Double] = []
                for s in 0..<b {
                    expected += naiveWeightGradient(Array(xv[(s * sampleCount)..<((s + 1) * sampleCount)]),
                                                    Array(ctv[(s * ctCount)..<((s + 1) * ctCount)]), item)
                }
                // The folded conv's images are the input channels of a group (C/g of them): chunks of
                // one image, of two (not dividing 3), and all of them.
                let cg = item.w[1], taps = item.w[2] * item.w[3] * outShape[2] * outShape[3] * dtype.itemSize
                for images in [1, 2, cg] {
                    let recorder = RecordingInterpreter()
                    let result = try withKernelSettings(chunkBytes: images * taps) {
                        try recorder.run { try perSample(inputs)[0] }
                    }
                    let folded = recorder.calls.filter { $0.primitive == .conv2d }.compactMap { call -> Int? in
                        if case let .conv(_, _, _, groups) = call.params { return groups } else { return nil }
                    }
                    XCTAssertTrue(folded.contains(b * item.groups), "\(folded)")
                    try assertValues(result, expected, shape: [b] + item.w, dtype: dtype,
                                     tolerance: dtype == .float32 ? 1e-4 : 1e-12, "\(item) \(dtype) chunks of \(images)")
                }
            }
        }
    }
}
