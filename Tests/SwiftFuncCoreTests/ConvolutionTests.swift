import XCTest
import CKernels
@testable import SwiftFuncCore

/// conv2d written as the textbook seven loops over row-major values (no bias).
func naiveConv2d(_ x: [Double], _ xs: [Int], _ w: [Double], _ ws: [Int],
                 stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int), groups: Int) -> (values: [Double], shape: [Int]) {
    let (n, c, h, wd) = (xs[0], xs[1], xs[2], xs[3])
    let (o, cg, kh, kw) = (ws[0], ws[1], ws[2], ws[3])
    let oh = (h + 2 * padding.0 - dilation.0 * (kh - 1) - 1) / stride.0 + 1
    let ow = (wd + 2 * padding.1 - dilation.1 * (kw - 1) - 1) / stride.1 + 1
    let og = o / groups
    var out = [Double](repeating: 0, count: n * o * oh * ow)
    for b in 0..<n {
        for oc in 0..<o {
            let g = oc / og
            for y in 0..<oh {
                for xpos in 0..<ow {
                    var s = 0.0
                    for ic in 0..<cg {
                        for i in 0..<kh {
                            for j in 0..<kw {
                                let hy = y * stride.0 - padding.0 + i * dilation.0
                                let wx = xpos * stride.1 - padding.1 + j * dilation.1
                                guard hy >= 0 && hy < h && wx >= 0 && wx < wd else { continue }
                                let channel = g * cg + ic
                                s += x[((b * c + channel) * h + hy) * wd + wx] * w[((oc * cg + ic) * kh + i) * kw + j]
                            }
                        }
                    }
                    out[((b * o + oc) * oh + y) * ow + xpos] = s
                }
            }
        }
    }
    return (out, [n, o, oh, ow])
}

final class ConvolutionTests: XCTestCase {
    struct Case {
        var x: [Int], w: [Int]
        var stride = (1, 1), padding = (0, 0), dilation = (1, 1), groups = 1
    }

    let cases: [Case] = [
        Case(x: [2, 3, 7, 6], w: [4, 3, 3, 3]),
        Case(x: [1, 3, 8, 9], w: [2, 3, 3, 2], stride: (2, 2), padding: (1, 1)),
        Case(x: [2, 2, 9, 8], w: [3, 2, 3, 3], padding: (2, 2), dilation: (2, 2)),
        Case(x: [1, 4, 9, 7], w: [6, 2, 2, 3], stride: (2, 1), padding: (0, 1), dilation: (1, 2), groups: 2),
        // Depthwise: groups = C, with a channel multiplier of 1 and of 2.
        Case(x: [2, 4, 6, 6], w: [4, 1, 3, 3], padding: (1, 1), groups: 4),
        Case(x: [1, 3, 5, 7], w: [6, 1, 3, 2], stride: (1, 2), padding: (1, 0), groups: 3),
        // 1x1 kernels: the direct (no im2col) path when the input is contiguous.
        Case(x: [2, 4, 3, 5], w: [5, 4, 1, 1]),
        Case(x: [2, 4, 3, 5], w: [6, 2, 1, 1], groups: 2),
        Case(x: [1, 2, 5, 5], w: [3, 2, 1, 1], stride: (2, 2), padding: (1, 0)),
        // Kernel as large as the padded input: a 1x1 output.
        Case(x: [1, 2, 3, 3], w: [2, 2, 5, 5], padding: (1, 1)),
    ]

    func testMatchesNaiveSevenLoops() throws {
        var rng = TestRandom(seed: 11)
        for item in cases {
            for dtype in [DType.float32, .float64] {
                for layout in Layout.allCases {
                    try checkAgainstNaive(item, dtype, layout, rng: &rng, "\(item) \(layout) \(dtype)")
                }
            }
        }
    }

    func testSingleValuesExpandToPairsAndMixedDTypesPromote() throws {
        var rng = TestRandom(seed: 12)
        let xv = randomValues([1, 2, 6, 6], dtype: .float32, rng: &rng), wv = randomValues([3, 2, 3, 3], rng: &rng)
        let x = try makeTensor(xv, shape: [1, 2, 6, 6], dtype: .float32)
        let w = try makeTensor(wv, shape: [3, 2, 3, 3], dtype: .float64)
        let expected = naiveConv2d(xv, [1, 2, 6, 6], wv, [3, 2, 3, 3], stride: (2, 2), padding: (1, 1), dilation: (1, 1), groups: 1)
        try assertValues(Ops.conv2d(x, w, stride: [2], padding: [1]), expected.values, shape: expected.shape, dtype: .float64)
    }

    func testZeroSizes() throws {
        let cases: [([Int], [Int], [Int])] = [
            ([0, 2, 5, 5], [3, 2, 3, 3], [0, 3, 3, 3]),   // no images
            ([1, 2, 5, 5], [0, 2, 3, 3], [1, 0, 3, 3]),   // no output channels
            ([1, 0, 5, 5], [3, 0, 3, 3], [1, 3, 3, 3]),   // no input channels: zeros
            ([1, 2, 0, 5], [3, 2, 1, 3], [1, 3, 0, 3]),   // empty height
            ([1, 2, 2, 2], [3, 2, 3, 3], [1, 3, 0, 0]),   // kernel one larger than the input: size 0
        ]
        for (xs, ws, shape) in cases {
            let x = try makeTensor([Double](repeating: 1, count: xs.reduce(1, *)), shape: xs)
            let w = try makeTensor([Double](repeating: 1, count: ws.reduce(1, *)), shape: ws)
            try assertValues(Ops.conv2d(x, w), [Double](repeating: 0, count: shape.reduce(1, *)), shape: shape, dtype: .float64, "\(xs) \(ws)")
        }
    }

    func testErrors() throws {
        let x = try makeTensor([Double](repeating: 1, count: 2 * 4 * 5 * 5), shape: [2, 4, 5, 5])
        let w = try makeTensor([Double](repeating: 1, count: 3 * 4 * 3 * 3), shape: [3, 4, 3, 3])
        assertThrows(.invalidArgument, "stride must be >= 1") { try Ops.conv2d(x, w, stride: [1, 0]) }
        assertThrows(.invalidArgument, "dilation must be >= 1") { try Ops.conv2d(x, w, dilation: [0]) }
        assertThrows(.invalidArgument, "padding must be >= 0") { try Ops.conv2d(x, w, padding: [-1, 0]) }
        assertThrows(.invalidArgument, "groups must be >= 1") { try Ops.conv2d(x, w, groups: 0) }
        assertThrows(.invalidArgument, "stride must have 1 or 2 values") { try Ops.conv2d(x, w, stride: [1, 1, 1]) }
        assertThrows(.shape, "do not match for groups = 2") { try Ops.conv2d(x, w, groups: 2) }
        let w2 = try makeTensor([Double](repeating: 1, count: 3 * 3 * 3 * 3), shape: [3, 3, 3, 3])
        assertThrows(.shape, "do not match for groups = 1") { try Ops.conv2d(x, w2) }
        let big = try makeTensor([Double](repeating: 1, count: 3 * 4 * 9 * 9), shape: [3, 4, 9, 9])
        assertThrows(.shape, "negative output size") { try Ops.conv2d(x, big) }
        assertThrows(.shape, "weight must be [O, C/groups, KH, KW]") {
            try Ops.conv2d(x, makeTensor([1, 2, 3], shape: [3]))
        }
        assertThrows(.shape, "input must be [N, C, H, W]") { try Ops.conv2d(makeTensor([1, 2], shape: [2]), w) }
        assertThrows(.shape, "padding or dilation is too large") { try Ops.conv2d(x, w, padding: [Int.max / 2, 0]) }
        let ints = try makeTensor([Double](repeating: 1, count: 2 * 4 * 5 * 5), shape: [2, 4, 5, 5], dtype: .int32)
        assertThrows(.dtype, "got int32 and float64") { try Ops.conv2d(ints, w) }
        assertThrows(.shape, "bias must have shape [3]") { try Ops.conv2d(x, w, bias: makeTensor([1, 2], shape: [2])) }
    }

    /// bias adds one value per output channel; a [C, H, W] input is a batch of one.
    func testBiasAndUnbatchedInput() throws {
        var rng = TestRandom(seed: 91)
        let x = try makeTensor(randomValues([2, 4, 5, 5], rng: &rng), shape: [2, 4, 5, 5])
        let w = try makeTensor(randomValues([3, 4, 3, 3], rng: &rng), shape: [3, 4, 3, 3])
        let bias = [0.5, -1.0, 2.0]
        let plain = try Ops.doubles(Ops.conv2d(x, w, padding: [1, 1]))
        let biased = try Ops.conv2d(x, w, bias: makeTensor(bias, shape: [3]), padding: [1, 1])
        let perChannel = 5 * 5
        let expected = plain.enumerated().map { i, v in v + bias[(i / perChannel) % 3] }
        try assertValues(biased, expected, shape: [2, 3, 5, 5], dtype: .float64)
        let single = try makeTensor(randomValues([4, 5, 5], rng: &rng), shape: [4, 5, 5])
        let unbatched = try Ops.conv2d(single, w, bias: makeTensor(bias, shape: [3]))
        let batched = try Ops.conv2d(Ops.reshape(single, shape: [1, 4, 5, 5]), w, bias: makeTensor(bias, shape: [3]))
        try assertValues(unbatched, Ops.doubles(batched), shape: [3, 3, 3], dtype: .float64)
    }
}

/// Runs `body` with the conv kernels' chunk budget (chunks of exactly chunkBytes / image bytes
/// images unless minimumColumns is given too), thread grain and thread count set.
func withKernelSettings<R>(chunkBytes: Int? = nil, minimumColumns: Int? = nil, maxChunkBytes: Int? = nil,
                           threadGrain: Int? = nil, threads: Int? = nil, _ body: () throws -> R) rethrows -> R {
    let saved = (Convolution.chunkBytes, Convolution.minimumColumns, Convolution.maxChunkBytes,
                 Convolution.threadGrain, Parallel.threadCount)
    defer {
        (Convolution.chunkBytes, Convolution.minimumColumns, Convolution.maxChunkBytes,
         Convolution.threadGrain, Parallel.threadCount) = saved
    }
    if let chunkBytes { (Convolution.chunkBytes, Convolution.minimumColumns) = (chunkBytes, 0) }
    if let minimumColumns { Convolution.minimumColumns = minimumColumns }
    if let maxChunkBytes { Convolution.maxChunkBytes = maxChunkBytes }
    if let threadGrain { Convolution.threadGrain = threadGrain }
    if let threads { Parallel.threadCount = threads }
    return try body()
}

/// The GEMM kernel's paths: chunks of images (staged products, a last chunk of one image written in
/// place), both packing layouts, padding written by the packing, threads.
extension ConvolutionTests {
    /// Bytes the kernel packs per image of `item` in `dtype`.
    func packedBytes(_ item: Case, _ dtype: DType) -> Int {
        let oh = (item.x[2] + 2 * item.padding.0 - item.dilation.0 * (item.w[2] - 1) - 1) / item.stride.0 + 1
        let ow = (item.x[3] + 2 * item.padding.1 - item.dilation.1 * (item.w[3] - 1) - 1) / item.stride.1 + 1
        return item.w[1] * item.w[2] * item.w[3] * oh * ow * dtype.itemSize
    }

    var kernelCases: [Case] {
        [
            // Packed by columns (kernel rows shorter than output rows), groups, odd strides and padding.
            Case(x: [5, 4, 7, 6], w: [6, 2, 3, 2], stride: (2, 1), padding: (1, 2), dilation: (1, 2), groups: 2),
            // Packed by rows (kernel rows longer than output rows), as the per-sample weight gradient.
            Case(x: [7, 3, 9, 8], w: [4, 3, 5, 6]),
            Case(x: [5, 2, 6, 5], w: [4, 1, 3, 4], stride: (2, 3), padding: (2, 3), dilation: (2, 1), groups: 2),
            // Many groups of one channel with a large kernel and a 3x3 output.
            Case(x: [4, 6, 9, 8], w: [12, 1, 7, 6], groups: 6),
            // Padding beyond the kernel's reach: whole rows and columns of taps are padding.
            Case(x: [3, 2, 5, 4], w: [3, 2, 2, 2], stride: (2, 2), padding: (3, 3)),
            // 1x1: packed when several images make a chunk, read in place when one does.
            Case(x: [5, 4, 3, 5], w: [6, 2, 1, 1], groups: 2),
            // A batch of one.
            Case(x: [1, 3, 6, 7], w: [2, 3, 3, 3], stride: (1, 2), padding: (1, 1)),
        ]
    }

    func checkAgainstNaive(_ item: Case, _ dtype: DType, _ layout: Layout, rng: inout TestRandom, _ message: String) throws {
        let xv = randomValues(item.x, dtype: dtype, rng: &rng), wv = randomValues(item.w, dtype: dtype, rng: &rng)
        let x = try makeTensor(xv, shape: item.x, dtype: dtype, layout: layout)
        let w = try makeTensor(wv, shape: item.w, dtype: dtype, layout: layout)
        let expected = naiveConv2d(xv, item.x, wv, item.w, stride: item.stride, padding: item.padding,
                                   dilation: item.dilation, groups: item.groups)
        let y = try Ops.conv2d(x, w, stride: [item.stride.0, item.stride.1], padding: [item.padding.0, item.padding.1],
                               dilation: [item.dilation.0, item.dilation.1], groups: item.groups)
        try assertValues(y, expected.values, shape: expected.shape, dtype: dtype,
                         tolerance: dtype == .float32 ? 1e-4 : 1e-12, message)
    }

    /// Chunks of 1, 2 and 3 images (so that chunks do not divide batches of 5 and 7), every layout
    /// of both operands, float32 and float64.
    func testChunkedKernelMatchesNaive() throws {
        var rng = TestRandom(seed: 13)
        for item in kernelCases {
            for dtype in [DType.float32, .float64] {
                for images in [1, 2, 3] {
                    try withKernelSettings(chunkBytes: images * packedBytes(item, dtype)) {
                        for layout in Layout.allCases {
                            try checkAgainstNaive(item, dtype, layout, rng: &rng, "\(item) \(dtype) \(layout) chunks of \(images)")
                        }
                    }
                }
            }
        }
    }

    /// Packing and unstaging split across threads (a grain of one element, four threads) give the
    /// same bits as one thread, on every run.
    func testThreadedKernelIsBitwiseIdentical() throws {
        var rng = TestRandom(seed: 14)
        for item in kernelCases + [Case(x: [6, 8, 12, 11], w: [10, 4, 3, 3], padding: (1, 1), groups: 2)] {
            for dtype in [DType.float32, .float64] {
                let x = try makeTensor(randomValues(item.x, dtype: dtype, rng: &rng), shape: item.x, dtype: dtype, layout: .strided)
                let w = try makeTensor(randomValues(item.w, dtype: dtype, rng: &rng), shape: item.w, dtype: dtype)
                let run = {
                    try Ops.doubles(Ops.conv2d(x, w, stride: [item.stride.0, item.stride.1], padding: [item.padding.0, item.padding.1],
                                               dilation: [item.dilation.0, item.dilation.1], groups: item.groups))
                }
                let chunk = 2 * packedBytes(item, dtype)
                let serial = try withKernelSettings(chunkBytes: chunk, threads: 1) { try run() }
                for _ in 0..<3 {
                    let threaded = try withKernelSettings(chunkBytes: chunk, threadGrain: 1, threads: 4) { try run() }
                    XCTAssertEqual(threaded, serial, "\(item) \(dtype)")
                }
                try withKernelSettings(threadGrain: 1, threads: 3) {
                    try checkAgainstNaive(item, dtype, .transposed, rng: &rng, "\(item) \(dtype) threaded")
                }
            }
        }
    }

    /// Images with few output positions are taken together for a GEMM of at least
    /// minimumColumns columns, within maxChunkBytes: chunks of 3 and of 2 (the byte cap) for 7 images.
    func testMinimumColumnsTakeMoreImages() throws {
        var rng = TestRandom(seed: 16)
        let item = Case(x: [7, 8, 7, 7], w: [3, 8, 5, 5])  // 3x3 outputs, 200 taps
        for dtype in [DType.float32, .float64] {
            let perImage = packedBytes(item, dtype)
            for cap in [3 * perImage, 2 * perImage] {
                try withKernelSettings(chunkBytes: 1, minimumColumns: 25, maxChunkBytes: cap) {
                    XCTAssertEqual(Convolution.imagesPerChunk(columns: 200, plane: 9, itemSize: dtype.itemSize, batch: 7), cap / perImage)
                    try checkAgainstNaive(item, dtype, .strided, rng: &rng, "\(dtype) cap \(cap)")
                }
            }
        }
    }

    /// Zero-size batches and outputs under chunking.
    func testChunkedKernelZeroSizes() throws {
        try withKernelSettings(chunkBytes: 1, threadGrain: 1, threads: 2) { try testZeroSizes() }
    }
}

/// conv_transpose2d by its definition as conv2d's adjoint: element k of the result is
/// <x, conv2d(e_k, w)>, with e_k the k-th unit tensor of the result's shape (the naive loops);
/// an output padding of at least the stride gives conv2d(e_k, w) more rows or columns than x,
/// which x does not meet.
func naiveConvTranspose2d(_ x: [Double], _ xs: [Int], _ w: [Double], _ ws: [Int], stride: (Int, Int), padding: (Int, Int),
                          dilation: (Int, Int), groups: Int, outputPadding: (Int, Int)) -> (values: [Double], shape: [Int]) {
    let height = (xs[2] - 1) * stride.0 - 2 * padding.0 + dilation.0 * (ws[2] - 1) + outputPadding.0 + 1
    let width = (xs[3] - 1) * stride.1 - 2 * padding.1 + dilation.1 * (ws[3] - 1) + outputPadding.1 + 1
    let shape = [xs[0], ws[1] * groups, height, width], count = shape.reduce(1, *)
    let values = (0..<count).map { k -> Double in
        var unit = [Double](repeating: 0, count: count)
        unit[k] = 1
        let y = naiveConv2d(unit, shape, w, ws, stride: stride, padding: padding, dilation: dilation, groups: groups)
        let (rows, columns) = (y.shape[2], y.shape[3])
        var total = 0.0
        for plane in 0..<(xs[0] * xs[1]) {
            for h in 0..<xs[2] {
                for v in 0..<xs[3] {
                    total += x[(plane * xs[2] + h) * xs[3] + v] * y.values[(plane * rows + h) * columns + v]
                }
            }
        }
        return total
    }
    return (values, shape)
}

extension ConvolutionTests {
    struct TransposeCase {
        var x: [Int], w: [Int]
        var stride = (1, 1), padding = (0, 0), dilation = (1, 1), groups = 1, outputPadding = (0, 0)

        var params: Params {
            .convTranspose(stride: [stride.0, stride.1], padding: [padding.0, padding.1], dilation: [dilation.0, dilation.1],
                           groups: groups, outputPadding: [outputPadding.0, outputPadding.1])
        }
    }

    static let transposeCases: [TransposeCase] = [
        TransposeCase(x: [2, 4, 5, 6], w: [4, 3, 3, 3]),
        // Strides, output padding and padding beyond the kernel's reach (taps outside are skipped).
        TransposeCase(x: [3, 2, 4, 3], w: [2, 3, 3, 2], stride: (2, 3), padding: (1, 2), outputPadding: (1, 2)),
        TransposeCase(x: [2, 4, 3, 4], w: [4, 2, 2, 3], stride: (3, 2), padding: (2, 0), dilation: (2, 3), groups: 2, outputPadding: (2, 1)),
        // Depthwise, a kernel larger than the input, a batch of one.
        TransposeCase(x: [1, 3, 4, 4], w: [3, 2, 3, 3], padding: (1, 1), groups: 3),
        TransposeCase(x: [2, 2, 2, 3], w: [2, 2, 5, 4], stride: (2, 1)),
        TransposeCase(x: [1, 2, 3, 3], w: [2, 1, 1, 1], stride: (2, 2), padding: (1, 0), outputPadding: (1, 1)),
        // Output padding not below the stride but below the dilation (torch allows either): rows
        // and columns past the last tap's reach, zeros.
        TransposeCase(x: [2, 2, 3, 4], w: [2, 2, 2, 3], stride: (1, 2), padding: (1, 0), dilation: (3, 4), outputPadding: (2, 3)),
        TransposeCase(x: [1, 4, 2, 3], w: [4, 1, 3, 2], stride: (2, 1), dilation: (1, 2), groups: 2, outputPadding: (1, 1)),
    ]

    /// Every layout, float32 and float64, chunks of 1, 2 and 3 images (batches of 2 and 3), and
    /// col2im and staging split across threads with the same bits as one thread.
    func testTransposedKernelMatchesNaive() throws {
        var rng = TestRandom(seed: 15)
        for item in Self.transposeCases {
            let perImage = item.w[1] * item.w[2] * item.w[3] * item.x[2] * item.x[3]
            for dtype in [DType.float32, .float64] {
                let xv = randomValues(item.x, dtype: dtype, rng: &rng), wv = randomValues(item.w, dtype: dtype, rng: &rng)
                let expected = naiveConvTranspose2d(xv, item.x, wv, item.w, stride: item.stride, padding: item.padding,
                                                    dilation: item.dilation, groups: item.groups, outputPadding: item.outputPadding)
                for images in [1, 2, 3] {
                    try withKernelSettings(chunkBytes: images * perImage * dtype.itemSize) {
                        for layout in Layout.allCases {
                            let x = try makeTensor(xv, shape: item.x, dtype: dtype, layout: layout)
                            let w = try makeTensor(wv, shape: item.w, dtype: dtype, layout: layout)
                            let y = try emit(.convTranspose2d, [x, w], item.params)
                            try assertValues(y, expected.values, shape: expected.shape, dtype: dtype,
                                             tolerance: dtype == .float32 ? 1e-4 : 1e-12, "\(item) \(dtype) \(layout) chunks of \(images)")
                            let serial = try withKernelSettings(threads: 1) { try Ops.doubles(emit(.convTranspose2d, [x, w], item.params)) }
                            let threaded = try withKernelSettings(threadGrain: 1, threads: 4) {
                                try Ops.doubles(emit(.convTranspose2d, [x, w], item.params))
                            }
                            XCTAssertEqual(threaded, serial, "\(item) \(dtype) \(layout) threaded")
                        }
                    }
                }
            }
        }
    }

    /// The AVX2 col2im for stride 1 (Sources/CKernels), called directly: the same bits as zero-filling
    /// the plane and adding tap after tap in Float (the Swift loop's order), for kernels from 1x1 to
    /// 8x8 and past the 64 taps it takes, padding beyond the kernel's reach, dilation, widths around
    /// its 8 lanes, lines no tap covers wholly, negative zeros and non-finite entries.
    func testUnitStrideCol2imKernelMatchesTapByTapSums() throws {
        guard swiftfunc_kernels_available() != 0 else { throw XCTSkip("no AVX2 and FMA on this CPU") }
        var rng = TestRandom(seed: 41)
        // (kernel h, w, out h, w, pad h, w, dilation h, w)
        let cases = [(3, 3, 28, 28, 0, 0, 1, 1), (3, 3, 5, 7, 1, 1, 1, 1), (1, 1, 4, 9, 0, 0, 1, 1),
                     (2, 5, 3, 17, 1, 3, 2, 1), (5, 2, 6, 8, 4, 0, 1, 3), (8, 8, 9, 23, 3, 7, 1, 1),
                     (3, 3, 2, 2, 2, 2, 1, 1), (4, 3, 3, 16, 0, 6, 2, 2), (9, 8, 2, 2, 0, 0, 1, 1)]
        for (kh, kw, oh, ow, ph, pw, dh, dw) in cases {
            // The transposed conv's output (the conv's input) as conv2d's geometry gives it back.
            let height = oh - 1 - 2 * ph + dh * (kh - 1) + 1, width = ow - 1 - 2 * pw + dw * (kw - 1) + 1
            guard height > 0, width > 0 else { continue }
            let tapStride = oh * ow + 5  // rows of the columns matrix longer than one plane
            var columns = (0..<(kh * kw * tapStride)).map { _ in Float(rng.uniform(-2, 2)) }
            columns[3] = -0.0
            if columns.count > 40 { columns[40] = .infinity }
            var expected = [Float](repeating: 0, count: height * width)
            for i in 0..<kh {
                for j in 0..<kw {
                    for y in 0..<oh {
                        for x in 0..<ow {
                            let h = y - ph + i * dh, w = x - pw + j * dw
                            if h >= 0 && h < height && w >= 0 && w < width {
                                expected[h * width + w] += columns[(i * kw + j) * tapStride + y * ow + x]
                            }
                        }
                    }
                }
            }
            var plane = [Float](repeating: .nan, count: height * width)
            let ran = swiftfunc_col2im_unit_stride(columns, tapStride, kh, kw, oh, ow, ph, pw, dh, dw, &plane, height, width)
            if kh * kw > 64 {
                XCTAssertEqual(ran, 0, "\(kh)x\(kw)")
                continue
            }
            XCTAssertEqual(ran, 1)
            XCTAssertEqual(plane.map(\.bitPattern), expected.map(\.bitPattern), "\(kh)x\(kw) out \(oh)x\(ow) pad \(ph),\(pw) dil \(dh),\(dw)")
        }
    }

    func testTransposedZeroSizesAndErrors() throws {
        let zeroParams = Params.convTranspose(stride: [2, 1], padding: [1, 0], dilation: [1, 1], groups: 1, outputPadding: [1, 0])
        for (xs, ws, shape) in [([0, 2, 3, 3], [2, 3, 3, 3], [0, 3, 6, 5]),  // no images
                                ([1, 0, 3, 3], [0, 3, 3, 3], [1, 3, 6, 5]),  // no input channels: zeros
                                ([1, 2, 3, 3], [2, 0, 3, 3], [1, 0, 6, 5])] {  // no output channels
            let x = try Ops.tensor([Double](repeating: 1, count: xs.reduce(1, *)), shape: xs)
            let w = try Ops.tensor([Double](repeating: 1, count: ws.reduce(1, *)), shape: ws)
            try assertValues(emit(.convTranspose2d, [x, w], zeroParams), [Double](repeating: 0, count: shape.reduce(1, *)),
                             shape: shape, dtype: .float64, "\(xs) \(ws)")
        }
        let x = try Ops.tensor([Double](repeating: 1, count: 2 * 4 * 9), shape: [2, 4, 3, 3])
        let w = try Ops.tensor([Double](repeating: 1, count: 4 * 2 * 9), shape: [4, 2, 3, 3])
        func params(stride: Int = 1, padding: Int = 0, groups: Int = 1, outputPadding: Int = 0) -> Params {
            .convTranspose(stride: [stride, stride], padding: [padding, padding], dilation: [1, 1], groups: groups,
                           outputPadding: [outputPadding, outputPadding])
        }
        assertThrows(.invalidArgument, "output padding must be smaller than either stride or dilation") {
            try emit(.convTranspose2d, [x, w], params(stride: 2, outputPadding: 2))
        }
        assertThrows(.invalidArgument, "output padding must be smaller than either stride or dilation") {
            try emit(.convTranspose2d, [x, w], params(outputPadding: 1))
        }
        assertThrows(.invalidArgument, "output_padding must be >= 0") {
            try emit(.convTranspose2d, [x, w], params(stride: 2, outputPadding: -1))
        }
        assertThrows(.invalidArgument, "stride must be >= 1") { try emit(.convTranspose2d, [x, w], params(stride: 0)) }
        assertThrows(.shape, "do not match for groups = 3") { try emit(.convTranspose2d, [x, w], params(groups: 3)) }
        assertThrows(.shape, "negative output size") { try emit(.convTranspose2d, [x, w], params(padding: 4)) }
        assertThrows(.shape, "weight must be [C_in, C_out/groups, KH, KW]") {
            try emit(.convTranspose2d, [x, Ops.tensor([1, 2], shape: [2])], params())
        }
        assertThrows(.shape, "stride, padding or dilation is too large") {
            try emit(.convTranspose2d, [x, w], params(stride: Int.max / 2))
        }
        assertThrows(.dtype, "got float64 and float32") {
            try emit(.convTranspose2d, [x, Ops.cast(w, to: .float32)], params())
        }
    }
}
