/// Pooling primitive: `max_pool2d_indices`, the position (h * W + w, within its plane) of each
/// window's maximum, torch.nn.functional.max_pool2d's `return_indices`. The pooled values are
/// then a `gather` of the input at those positions (`Ops.maxPool2d`), so max pooling is
/// differentiated and batched through gather's rules (its VJP is a scatter_add of the cotangent
/// to the maxima: torch's max_pool2d backward) and this primitive itself carries no derivative.
///
/// The last two dims are the spatial ones; every leading dim is a plane (any number of them, so
/// vmap adds its batch as one more). Windows follow torch: kernel, stride, padding (taps in it
/// are skipped, never the maximum), dilation and ceil_mode.
enum Pooling {
    static let table: [PrimitiveRules] = [
        PrimitiveRules(.maxPool2dIndices, name: "max_pool2d", type: maxPool2dIndicesType, eval: maxPool2dIndicesEval,
                       jvp: Differentiation.noTangent, vjp: Differentiation.noCotangents, batch: maxPool2dIndicesBatch),
    ]

    /// A window geometry, (H, W) pairs.
    struct Window: Equatable, Sendable {
        var kernel: [Int], stride: [Int], padding: [Int], dilation: [Int], ceilMode: Bool

        var params: Params { .pool(kernel: kernel, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode) }

        init(kernel: [Int], stride: [Int], padding: [Int], dilation: [Int], ceilMode: Bool) {
            (self.kernel, self.stride, self.padding, self.dilation, self.ceilMode) = (kernel, stride, padding, dilation, ceilMode)
        }

        init(_ params: Params, op: String) throws {
            guard case let .pool(kernel, stride, padding, dilation, ceilMode) = params else {
                throw SwiftFuncError.internal(op, "expects pool params")
            }
            self.init(kernel: kernel, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode)
        }

        /// Checks the window against torch's rules (positive sizes, padding at most half the
        /// kernel) for `axes` of them.
        func validate(op: String, axes: Int = 2) throws {
            for (name, values) in [("kernel_size", kernel), ("stride", stride), ("dilation", dilation)] {
                // The bound keeps the size arithmetic far from overflow.
                guard values.count == axes, values.allSatisfy({ $0 > 0 && $0 <= Int(Int32.max) }) else {
                    throw SwiftFuncError.invalidArgument(op, "\(name) must be \(axes) positive values below 2^31, got \(values)")
                }
            }
            guard padding.count == axes, padding.allSatisfy({ $0 >= 0 && $0 <= Int(Int32.max) }) else {
                throw SwiftFuncError.invalidArgument(op, "padding must be \(axes) non-negative values, got \(padding)")
            }
            for axis in 0..<axes where padding[axis] > kernel[axis] / 2 {
                throw SwiftFuncError.invalidArgument(op, "pad should be at most half of effective kernel size, but got pad=\(padding[axis]) and kernel_size=\(kernel[axis])")
            }
        }

        /// torch's pooling output size along `axis` for an input of `size`: windows start every
        /// stride from -padding; ceil_mode adds a last partial window if it starts inside the
        /// input or the left padding. Throws if no window fits.
        func outputSize(_ size: Int, axis: Int, op: String) throws -> Int {
            let (k, s, p, d) = (kernel[axis], stride[axis], padding[axis], dilation[axis])
            let span = size + 2 * p - d * (k - 1) - 1
            guard span >= 0 else {
                throw SwiftFuncError.shape(op, "input size \(size) is too small for kernel_size \(k) with padding \(p) and dilation \(d)")
            }
            var out = (ceilMode ? span + s - 1 : span) / s + 1
            if ceilMode && (out - 1) * s >= size + p { out -= 1 }
            return out
        }
    }

    // MARK: max_pool2d_indices

    static func maxPool2dIndicesType(_ args: [TensorType], _ params: Params) throws -> TensorType {
        let op = "max_pool2d"
        guard args.count == 1 else { throw SwiftFuncError.internal(op, "expects 1 argument, got \(args.count)") }
        let x = args[0]
        let window = try Window(params, op: op)
        try window.validate(op: op)
        guard x.rank >= 2 else { throw SwiftFuncError.shape(op, "input needs 2 spatial dims, got shape \(formatShape(x.shape))") }
        guard x.dtype.isFloatingPoint else { throw SwiftFuncError.dtype(op, "expected a float tensor, got \(x.dtype)") }
        let h = x.shape[x.rank - 2], w = x.shape[x.rank - 1]
        var shape = x.shape
        shape[x.rank - 2] = try window.outputSize(h, axis: 0, op: op)
        shape[x.rank - 1] = try window.outputSize(w, axis: 1, op: op)
        return TensorType(shape: shape, dtype: .int64)
    }

    static func maxPool2dIndicesEval(_ args: [Tensor], _ params: Params, _ type: TensorType) throws -> Tensor {
        let op = "max_pool2d"
        let window = try Window(params, op: op)
        let result = try Tensor(uninitialized: type, op: op)
        guard result.count > 0 else { return result }
        let x = try args[0].contiguous(op: op)
        switch x.dtype {
        case .float32: maxPoolIndices(Float.self, x, window, result)
        case .float64: maxPoolIndices(Double.self, x, window, result)
        default: throw SwiftFuncError.dtype(op, "expected a float tensor, got \(x.dtype)")
        }
        return result
    }

    /// The kernel: planes split over threads; in each window the first maximum wins, and a NaN
    /// is always taken (torch's `val > max || isnan(val)`, so the last NaN), so NaN propagates as
    /// in torch.
    static func maxPoolIndices<T: BinaryFloatingPoint>(_: T.Type, _ x: Tensor, _ window: Window, _ result: Tensor) {
        let rank = x.rank
        let (h, w) = (x.shape[rank - 2], x.shape[rank - 1])
        let (oh, ow) = (result.shape[rank - 2], result.shape[rank - 1])
        let planes = result.count / (oh * ow)
        let (kh, kw) = (window.kernel[0], window.kernel[1])
        let (sh, sw) = (window.stride[0], window.stride[1])
        let (ph, pw) = (window.padding[0], window.padding[1])
        let (dh, dw) = (window.dilation[0], window.dilation[1])
        let src = x.elements(as: T.self), dst = result.elements(as: Int64.self)
        Parallel.run(planes, grain: Swift.max(1, Parallel.memoryGrain / Swift.max(1, h * w))) { range in
            for plane in range {
                let input = src + plane * h * w, output = dst + plane * oh * ow
                for i in 0..<oh {
                    // The first tap inside the input (taps in the padding are skipped).
                    var h0 = i * sh - ph
                    while h0 < 0 { h0 += dh }
                    let h1 = Swift.min(i * sh - ph + (kh - 1) * dh + 1, h)
                    for j in 0..<ow {
                        var w0 = j * sw - pw
                        while w0 < 0 { w0 += dw }
                        let w1 = Swift.min(j * sw - pw + (kw - 1) * dw + 1, w)
                        var best = -T.infinity
                        var index = h0 * w + w0
                        var sawNaN = false
                        var r = h0
                        while r < h1 {
                            var c = w0
                            let row = input + r * w
                            while c < w1 {
                                // A select, not a branch (on real data the comparison is a coin
                                // flip); NaN, never greater, is only noted here.
                                let v = row[c]
                                let take = v > best
                                best = take ? v : best
                                index = take ? r &* w &+ c : index
                                sawNaN = sawNaN || v.isNaN
                                c &+= dw
                            }
                            r &+= dh
                        }
                        if sawNaN {
                            // torch takes every NaN (`val > max || isnan(val)`): the last one wins.
                            r = h0
                            while r < h1 {
                                var c = w0
                                while c < w1 {
                                    if input[r * w + c].isNaN { index = r * w + c }
                                    c += dw
                                }
                                r += dh
                            }
                        }
                        output[i * ow + j] = Int64(index)
                    }
                }
            }
        }
    }

    /// vmap: a batch dim among the planes stays where it is; one in the spatial dims moves to
    /// the front (it is then a plane).
    static func maxPool2dIndicesBatch(_ args: [Value], _ dims: [Int?], _ batch: BatchContext, _ params: Params) throws -> (Value, Int?) {
        guard let dim = dims[0] else { return (try emit(.maxPool2dIndices, args, params), nil) }
        let x = args[0]
        guard x.rank >= 3 else { throw SwiftFuncError.shape("max_pool2d", "input needs 2 spatial dims, got an example of rank \(x.rank - 1)") }
        let planar = dim < x.rank - 2 ? dim : 0
        return (try emit(.maxPool2dIndices, [Batching.moveDim(x, from: dim, to: planar)], params), planar)
    }
}

extension Ops {
    /// 2-D max pooling as torch.nn.functional.max_pool2d with return_indices: x [N, C, H, W] or
    /// [C, H, W] (float); kernel, stride, padding and dilation are (H, W) pairs. Returns the
    /// maxima and their int64 positions h * W + w within each plane.
    public static func maxPool2d(_ x: Value, kernel: [Int], stride: [Int], padding: [Int] = [0, 0],
                                 dilation: [Int] = [1, 1], ceilMode: Bool = false) throws -> (values: Value, indices: Value) {
        let op = "max_pool2d"
        guard x.rank == 3 || x.rank == 4 else {
            throw SwiftFuncError.shape(op, "input must be [N, C, H, W] or [C, H, W], got shape \(formatShape(x.shape))")
        }
        try requireFloat(x, op)
        let window = Pooling.Window(kernel: kernel, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode)
        try window.validate(op: op)
        let indices = try emit(.maxPool2dIndices, [x], window.params)
        return (try gatherPlanes(x, indices), indices)
    }

    /// Elements of x at the per-plane positions `indices` (h * W + w): a gather over the
    /// flattened spatial dims.
    static func gatherPlanes(_ x: Value, _ indices: Value) throws -> Value {
        let lead = Array(x.shape.dropLast(2))
        let flat = try reshape(x, shape: lead + [x.shape[x.rank - 2] * x.shape[x.rank - 1]])
        let picks = try reshape(indices, shape: lead + [indices.shape[indices.rank - 2] * indices.shape[indices.rank - 1]])
        return try reshape(gather(flat, dim: x.rank - 2, index: picks), shape: indices.shape)
    }

    /// 1-D max pooling (torch.nn.functional.max_pool1d): x [N, C, L] or [C, L], as a 2-D pooling
    /// with a window of height 1; positions are within each row.
    public static func maxPool1d(_ x: Value, kernel: Int, stride: Int, padding: Int = 0, dilation: Int = 1,
                                 ceilMode: Bool = false) throws -> (values: Value, indices: Value) {
        guard x.rank == 2 || x.rank == 3 else {
            throw SwiftFuncError.shape("max_pool1d", "input must be [N, C, L] or [C, L], got shape \(formatShape(x.shape))")
        }
        let (values, indices) = try maxPool2d(unsqueeze(x, dim: x.rank - 1), kernel: [1, kernel], stride: [1, stride],
                                              padding: [0, padding], dilation: [1, dilation], ceilMode: ceilMode)
        return (try squeeze(values, dims: [x.rank - 1]), try squeeze(indices, dims: [x.rank - 1]))
    }
}
