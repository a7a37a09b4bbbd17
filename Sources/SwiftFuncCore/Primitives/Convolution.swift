/// Convolution primitives: `conv2d` (NCHW cross-correlation, torch.nn.functional.conv2d without
/// bias) by im2col + GEMM.
enum Convolution {
    static let table: [PrimitiveRules] = [
        PrimitiveRules(.conv2d, name: "conv2d", type: conv2dType, eval: conv2dEval,
                       jvp: Differentiation.bilinearJVP(.conv2d), vjp: conv2dVJP, batch: conv2dBatch),
    ]

    // MARK: Rules

    static func conv2dType(_ args: [TensorType], _ params: Params) throws -> TensorType {
        guard args.count == 2 else { throw SwiftFuncError.invalidArgument("conv2d", "expects 2 arguments, got \(args.count)") }
        return try conv2dGeometry(args[0], args[1], params).type
    }

    static func conv2dEval(_ args: [Tensor], _ params: Params, _ type: TensorType) throws -> Tensor {
        let geometry = try conv2dGeometry(args[0].type, args[1].type, params)
        switch type.dtype {
        case .float32: return try conv2dKernel(Float.self, args[0], args[1], geometry)
        case .float64: return try conv2dKernel(Double.self, args[0], args[1], geometry)
        default: throw SwiftFuncError.dtype("conv2d", "expected float operands, got \(type.dtype)")
        }
    }

    static func conv2dVJP(_ cotangent: Value, _ primals: [Value], _ output: Value, _ params: Params, _ needed: [Bool]) throws -> [Value?] {
        let conv = try ConvParams(params)
        return [needed[0] ? try inputCotangent(cotangent, inputShape: primals[0].shape, weight: primals[1], conv) : nil,
                needed[1] ? try weightCotangent(cotangent, input: primals[0], weightShape: primals[1].shape, conv) : nil]
    }

    static func conv2dBatch(_ args: [Value], _ dims: [Int?], _ batch: BatchContext, _ params: Params) throws -> (Value, Int?) {
        try conv2dBatch(args[0], dims[0], args[1], dims[1], batchSize: batch.size, ConvParams(params))
    }

    // MARK: Transform rules

    /// conv2d's params unpacked.
    struct ConvParams {
        var stride: [Int], padding: [Int], dilation: [Int], groups: Int

        init(_ params: Params) throws {
            guard case let .conv(stride, padding, dilation, groups) = params else {
                throw SwiftFuncError.internal("conv2d", "expects conv params")
            }
            (self.stride, self.padding, self.dilation, self.groups) = (stride, padding, dilation, groups)
        }

        init(stride: [Int], padding: [Int], dilation: [Int], groups: Int) {
            (self.stride, self.padding, self.dilation, self.groups) = (stride, padding, dilation, groups)
        }

        var params: Params { .conv(stride: stride, padding: padding, dilation: dilation, groups: groups) }
    }

    static func reshape(_ value: Value, _ shape: [Int]) throws -> Value {
        value.shape == shape ? value : try emit(.reshape, [value], .shape(shape))
    }

    static func permute(_ value: Value, _ order: [Int]) throws -> Value {
        order == Array(order.indices) ? value : try emit(.permute, [value], .permutation(order))
    }

    /// Zero padding (negative values crop) of the two spatial dims of an NCHW tensor.
    static func padSpatial(_ value: Value, before: [Int], after: [Int]) throws -> Value {
        if before.allSatisfy({ $0 == 0 }) && after.allSatisfy({ $0 == 0 }) { return value }
        return try emit(.pad, [value], .pad(before: [0, 0] + before, after: [0, 0] + after, value: 0))
    }

    /// The input cotangent (a transposed convolution) as a stride-1 conv2d: the cotangent with
    /// stride - 1 zeros between its elements, padded by dilation * (kernel - 1) - padding (negative
    /// crops) plus, at the end, the rows the forward pass never reached (which get zero), against
    /// the flipped kernel with its in/out channels swapped within each group.
    static func inputCotangent(_ cotangent: Value, inputShape: [Int], weight: Value, _ p: ConvParams) throws -> Value {
        let (n, o) = (cotangent.shape[0], cotangent.shape[1])
        let outSize = [cotangent.shape[2], cotangent.shape[3]]
        let kernel = [weight.shape[2], weight.shape[3]]
        if cotangent.count == 0 || weight.count == 0 || inputShape.contains(0) {
            return try Differentiation.full(0, shape: inputShape, dtype: cotangent.dtype)
        }
        var spread = cotangent
        if p.stride != [1, 1] {
            // [N, O, OH, 1, OW, 1] padded to [N, O, OH, s0, OW, s1]: each element followed by
            // stride - 1 zeros (stride - 1 too many at the end, cropped below).
            spread = try reshape(spread, [n, o, outSize[0], 1, outSize[1], 1])
            spread = try emit(.pad, [spread], .pad(before: [0, 0, 0, 0, 0, 0],
                                                  after: [0, 0, 0, p.stride[0] - 1, 0, p.stride[1] - 1], value: 0))
            spread = try reshape(spread, [n, o, outSize[0] * p.stride[0], outSize[1] * p.stride[1]])
        }
        var before = [0, 0], after = [0, 0]
        for axis in 0..<2 {
            let size = inputShape[2 + axis], reach = p.dilation[axis] * (kernel[axis] - 1)
            // Input rows past the last window: (size + 2 padding - reach - 1) mod stride of them.
            let unused = (size + 2 * p.padding[axis] - reach - 1) % p.stride[axis]
            before[axis] = reach - p.padding[axis]
            after[axis] = reach - p.padding[axis] + unused - (p.stride[axis] - 1)
        }
        spread = try padSpatial(spread, before: before, after: after)
        // [O, C/g, KH, KW] -> [g, O/g, C/g, KH, KW] -> [g, C/g, O/g, KH, KW] -> [C, O/g, KH, KW], flipped.
        let g = p.groups, cg = weight.shape[1]
        let grouped = try reshape(weight, [g, o / g, cg, kernel[0], kernel[1]])
        let swapped = try reshape(permute(grouped, [0, 2, 1, 3, 4]), [g * cg, o / g, kernel[0], kernel[1]])
        let flipped = try emit(.flip, [swapped], .dims([2, 3]))
        let params = ConvParams(stride: [1, 1], padding: [0, 0], dilation: p.dilation, groups: g)
        return try emit(.conv2d, [spread, flipped], params.params)
    }

    /// The weight cotangent as a conv2d of the input (batch and channels exchanged, the groups
    /// moved into the channels) with the cotangent as the kernel, stride and dilation exchanged,
    /// cropped to the kernel size.
    static func weightCotangent(_ cotangent: Value, input: Value, weightShape: [Int], _ p: ConvParams) throws -> Value {
        let n = input.shape[0]
        let (o, cg) = (weightShape[0], weightShape[1])
        let outSize = [cotangent.shape[2], cotangent.shape[3]]
        let g = p.groups
        if cotangent.count == 0 || input.count == 0 || weightShape.contains(0) {
            return try Differentiation.full(0, shape: weightShape, dtype: cotangent.dtype)
        }
        // x [N, g, C/g, H, W] -> [C/g, g, N, H, W] -> [C/g, g*N, H, W]: images are input channels.
        let grouped = try reshape(input, [n, g, cg, input.shape[2], input.shape[3]])
        let images = try reshape(permute(grouped, [2, 1, 0, 3, 4]), [cg, g * n, input.shape[2], input.shape[3]])
        // ct [N, g, O/g, OH, OW] -> [g, O/g, N, OH, OW] -> [O, N, OH, OW]: the kernel.
        let ctGrouped = try reshape(cotangent, [n, g, o / g, outSize[0], outSize[1]])
        let kernel = try reshape(permute(ctGrouped, [1, 2, 0, 3, 4]), [o, n, outSize[0], outSize[1]])
        let params = ConvParams(stride: p.dilation, padding: p.padding, dilation: p.stride, groups: g)
        var result = try emit(.conv2d, [images, kernel], params.params)  // [C/g, O, KH', KW'], KH' >= KH
        result = try padSpatial(result, before: [0, 0], after: [weightShape[2] - result.shape[2], weightShape[3] - result.shape[3]])
        return try permute(result, [1, 0, 2, 3])
    }

    /// vmap of conv2d with one conv2d: a batched input folds into N, a batched weight into the
    /// output channels, and both batched into the groups (B * groups).
    static func conv2dBatch(_ x: Value, _ dimX: Int?, _ w: Value, _ dimW: Int?, batchSize: Int, _ p: ConvParams) throws -> (Value, Int?) {
        // vmap does not type-check the examples; the reshapes below rely on 4-D examples.
        let exampleOutput = try conv2dGeometry(Contraction.exampleType(x, dimX), Contraction.exampleType(w, dimW), p.params).type
        switch (dimX, dimW) {
        case let (dx?, nil):
            // N and B adjacent (in either order) merge into one batch of images.
            let dim = dx <= 1 ? dx : 0
            let images = try Batching.moveDim(x, from: dx, to: dim)
            let s = images.shape
            let output = try emit(.conv2d, [reshape(images, [s[0] * s[1], s[2], s[3], s[4]]), w], p.params)
            let t = output.shape
            return (try reshape(output, [s[0], s[1], t[1], t[2], t[3]]), dim)

        case let (nil, dw?):
            let weights = try Batching.moveDim(w, from: dw, to: 0)  // [B, O, C/g, KH, KW]
            let (o, cg, kh, kw) = (weights.shape[1], weights.shape[2], weights.shape[3], weights.shape[4])
            let g = p.groups
            // Output channels ordered (group, b, o') so that each group's channels stay together.
            let grouped = try reshape(weights, [batchSize, g, o / g, cg, kh, kw])
            let folded = try reshape(permute(grouped, [1, 0, 2, 3, 4, 5]), [g * batchSize * (o / g), cg, kh, kw])
            let output = try emit(.conv2d, [x, folded], p.params)  // [N, g*B*O/g, OH, OW]
            let t = output.shape
            let split = try reshape(output, [t[0], g, batchSize, o / g, t[2], t[3]])
            return (try reshape(permute(split, [0, 2, 1, 3, 4, 5]), [t[0], batchSize, o, t[2], t[3]]), 1)

        case let (dx?, dw?):
            let images = try Batching.moveDim(x, from: dx, to: 1)  // [N, B, C, H, W]
            let weights = try Batching.moveDim(w, from: dw, to: 0)  // [B, O, C/g, KH, KW]
            let (n, c) = (images.shape[0], images.shape[2])
            let o = weights.shape[1]
            if batchSize == 0 {
                // groups would be 0: an empty result of the per-example output type.
                return (try Differentiation.full(0, shape: [0] + exampleOutput.shape, dtype: exampleOutput.dtype), 0)
            }
            // Channels (b, c) against output channels (b, o): group b * groups + i sees only its own.
            let stacked = try reshape(images, [n, batchSize * c, images.shape[3], images.shape[4]])
            let kernels = try reshape(weights, [batchSize * o] + Array(weights.shape.suffix(3)))
            var params = p
            params.groups = p.groups * batchSize
            let output = try emit(.conv2d, [stacked, kernels], params.params)
            let t = output.shape
            return (try reshape(output, [n, batchSize, o, t[2], t[3]]), 1)

        case (nil, nil):
            return (try emit(.conv2d, [x, w], p.params), nil)
        }
    }

    /// Everything the kernel needs, derived and checked from the operand types and params.
    struct Geometry {
        var type: TensorType
        var batch = 0, channels = 0, height = 0, width = 0
        var outChannels = 0, kernelHeight = 0, kernelWidth = 0
        var outHeight = 0, outWidth = 0
        var stride = (1, 1), padding = (0, 0), dilation = (1, 1)
        var groups = 1
    }

    /// Validates conv2d's operands and params and computes its geometry and result type.
    static func conv2dGeometry(_ x: TensorType, _ w: TensorType, _ params: Params) throws -> Geometry {
        let op = "conv2d"
        guard case .conv(let stride, let padding, let dilation, let groups) = params else {
            throw SwiftFuncError.internal(op, "expects conv params")
        }
        try checkConvParams(stride: stride, padding: padding, dilation: dilation, groups: groups)
        guard x.rank == 4 else { throw SwiftFuncError.shape(op, "input must be [N, C, H, W], got shape \(formatShape(x.shape))") }
        guard w.rank == 4 else { throw SwiftFuncError.shape(op, "weight must be [O, C/groups, KH, KW], got shape \(formatShape(w.shape))") }
        try Contraction.checkFloatOperands(x.dtype, w.dtype, op: op)
        guard x.dtype == w.dtype else {
            throw SwiftFuncError.dtype(op, "operands must have one dtype, got \(x.dtype) and \(w.dtype)")
        }
        var g = Geometry(type: x)
        (g.batch, g.channels, g.height, g.width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        (g.outChannels, g.kernelHeight, g.kernelWidth) = (w.shape[0], w.shape[2], w.shape[3])
        guard g.channels % groups == 0, g.outChannels % groups == 0, w.shape[1] == g.channels / groups else {
            throw SwiftFuncError.shape(op, "input \(formatShape(x.shape)) and weight \(formatShape(w.shape)) do not match for groups = \(groups) "
                + "(C and O must be multiples of groups and weight.size(1) must be C / groups)")
        }
        g.stride = (stride[0], stride[1])
        g.padding = (padding[0], padding[1])
        g.dilation = (dilation[0], dilation[1])
        g.groups = groups
        g.outHeight = try outputSize(g.height, kernel: g.kernelHeight, stride: stride[0], padding: padding[0], dilation: dilation[0], x, w)
        g.outWidth = try outputSize(g.width, kernel: g.kernelWidth, stride: stride[1], padding: padding[1], dilation: dilation[1], x, w)
        let shape = [g.batch, g.outChannels, g.outHeight, g.outWidth]
        try ShapeChecks.validate(shape, itemSize: x.dtype.itemSize, op: op)
        g.type = TensorType(shape: shape, dtype: x.dtype)
        return g
    }

    /// Checks the (H, W) pairs and the group count.
    static func checkConvParams(stride: [Int], padding: [Int], dilation: [Int], groups: Int) throws {
        let op = "conv2d"
        guard stride.count == 2, padding.count == 2, dilation.count == 2 else {
            throw SwiftFuncError.invalidArgument(op, "stride, padding and dilation must be (H, W) pairs")
        }
        guard stride.allSatisfy({ $0 >= 1 }) else { throw SwiftFuncError.invalidArgument(op, "stride must be >= 1, got \(formatShape(stride))") }
        guard dilation.allSatisfy({ $0 >= 1 }) else { throw SwiftFuncError.invalidArgument(op, "dilation must be >= 1, got \(formatShape(dilation))") }
        guard padding.allSatisfy({ $0 >= 0 }) else { throw SwiftFuncError.invalidArgument(op, "padding must be >= 0, got \(formatShape(padding))") }
        guard groups >= 1 else { throw SwiftFuncError.invalidArgument(op, "groups must be >= 1, got \(groups)") }
    }

    /// floor((size + 2 padding - dilation (kernel - 1) - 1) / stride) + 1, with overflow checks;
    /// a negative size (kernel larger than the padded input) is a shape error.
    static func outputSize(_ size: Int, kernel: Int, stride: Int, padding: Int, dilation: Int,
                           _ x: TensorType, _ w: TensorType) throws -> Int {
        let op = "conv2d"
        let (twice, o1) = padding.multipliedReportingOverflow(by: 2)
        let (padded, o2) = size.addingReportingOverflow(twice)
        let (span, o3) = dilation.multipliedReportingOverflow(by: kernel - 1)
        guard !o1, !o2, !o3 else { throw SwiftFuncError.shape(op, "padding or dilation is too large") }
        let (reach, o4) = padded.subtractingReportingOverflow(span)
        let (numerator, o5) = reach.subtractingReportingOverflow(1)
        guard !o4, !o5 else { throw SwiftFuncError.shape(op, "padding or dilation is too large") }
        // floor(numerator / stride) + 1 is 0 for -stride <= numerator < 0 and negative below.
        guard numerator >= -stride else {
            throw SwiftFuncError.shape(op, "kernel \(formatShape(Array(w.shape.suffix(2)))) with dilation \(dilation) is larger than "
                + "the padded input \(formatShape(Array(x.shape.suffix(2)))) (padding \(padding)): negative output size")
        }
        let result = numerator < 0 ? 0 : numerator / stride + 1
        return result
    }

    static func conv2dKernel<T: GEMMScalar>(_: T.Type, _ x: Tensor, _ weight: Tensor, _ g: Geometry) throws -> Tensor {
        let op = "conv2d"
        let result = try Tensor(uninitialized: g.type, op: op)
        guard result.count > 0 else { return result }
        let groupChannels = g.channels / g.groups, groupOut = g.outChannels / g.groups
        // GEMM per (image, group): out[Og, P] = W[Og, Kc] · cols[Kc, P].
        let kc = groupChannels &* g.kernelHeight &* g.kernelWidth  // <= weight.count: no overflow
        let p = g.outHeight &* g.outWidth                           // <= result.count
        if kc == 0 {
            return try Tensor(uninitialized: g.type, zeroed: true, op: op)
        }
        guard kc <= Int(Int32.max), p <= Int(Int32.max), groupOut <= Int(Int32.max) else {
            throw SwiftFuncError.unsupported(op, "the im2col matrix [\(kc), \(p)] exceeds the BLAS backend's 32-bit sizes")
        }
        let w = try weight.contiguous(op: op)
        let pw = w.elements(as: T.self), out = result.elements(as: T.self)
        let px = x.elements(as: T.self)
        let (sN, sC, sH, sW) = (x.strides[0], x.strides[1], x.strides[2], x.strides[3])

        // A 1x1 kernel with unit stride and no padding reads the input plane directly: cols is x.
        let direct = g.kernelHeight == 1 && g.kernelWidth == 1 && g.stride == (1, 1) && g.padding == (0, 0)
            && sW == 1 && sH == g.width && (groupChannels == 1 || sC == p)
        let columns = direct ? nil : try Tensor(uninitialized: TensorType(shape: [kc, p], dtype: T.dtype), op: op)
        let cols = columns?.elements(as: T.self)

        for n in 0..<g.batch {
            for group in 0..<g.groups {
                let firstChannel = group &* groupChannels
                let input = px + (n &* sN &+ firstChannel &* sC)
                let matrix: UnsafePointer<T>
                if let cols {
                    im2col(input, channelStride: sC, rowStride: sH, colStride: sW, channels: groupChannels, g, into: cols)
                    matrix = UnsafePointer(cols)
                } else {
                    matrix = UnsafePointer(input)
                }
                T.gemm(transA: false, transB: false, m: groupOut, n: p, k: kc,
                       a: pw + group &* groupOut &* kc, lda: kc, b: matrix, ldb: p,
                       c: out + (n &* g.outChannels &+ group &* groupOut) &* p, ldc: p)
            }
        }
        return result
    }

    /// Fills cols[(c, i, j), (oh, ow)] = x[c, oh*stride - pad + i*dilation, ow*stride - pad + j*dilation]
    /// (0 outside the input) for one image and group, reading x through its strides.
    static func im2col<T: Element>(_ x: UnsafeMutablePointer<T>, channelStride: Int, rowStride: Int, colStride: Int,
                                   channels: Int, _ g: Geometry, into cols: UnsafeMutablePointer<T>) {
        let zero = T(fromDouble: 0)
        var row = cols
        for c in 0..<channels {
            let plane = x + c &* channelStride
            for i in 0..<g.kernelHeight {
                for j in 0..<g.kernelWidth {
                    let dw = j &* g.dilation.1 &- g.padding.1
                    for oh in 0..<g.outHeight {
                        let h = oh &* g.stride.0 &- g.padding.0 &+ i &* g.dilation.0
                        let target = row + oh &* g.outWidth
                        guard h >= 0 && h < g.height else {
                            target.update(repeating: zero, count: g.outWidth)
                            continue
                        }
                        let line = plane + h &* rowStride
                        for ow in 0..<g.outWidth {
                            let w = ow &* g.stride.1 &+ dw
                            target[ow] = w >= 0 && w < g.width ? line[w &* colStride] : zero
                        }
                    }
                    row += g.outHeight &* g.outWidth
                }
            }
        }
    }
}

extension Ops {
    /// 2-D convolution (cross-correlation) as torch.nn.functional.conv2d: x [N, C, H, W], weight
    /// [O, C/groups, KH, KW]; stride, padding and dilation are (H, W) pairs or one value for both.
    /// Float dtypes; float32 with float64 computes in float64. x may also be [C, H, W]; bias is [O].
    public static func conv2d(_ x: Value, _ weight: Value, bias: Value? = nil, stride: [Int] = [1, 1],
                              padding: [Int] = [0, 0], dilation: [Int] = [1, 1], groups: Int = 1) throws -> Value {
        let op = "conv2d"
        func pair(_ values: [Int], _ name: String) throws -> [Int] {
            switch values.count {
            case 1: return [values[0], values[0]]
            case 2: return values
            default: throw SwiftFuncError.invalidArgument(op, "\(name) must have 1 or 2 values, got \(values.count)")
            }
        }
        let stride = try pair(stride, "stride"), padding = try pair(padding, "padding"), dilation = try pair(dilation, "dilation")
        try Convolution.checkConvParams(stride: stride, padding: padding, dilation: dilation, groups: groups)
        // An unbatched [C, H, W] input is a batch of one, as in torch.
        if x.rank == 3 {
            let batched = try conv2d(unsqueeze(x, dim: 0), weight, bias: bias, stride: stride, padding: padding,
                                     dilation: dilation, groups: groups)
            return try squeeze(batched, dims: [0])
        }
        guard x.rank == 4 else {
            throw SwiftFuncError.shape(op, "input must be [N, C, H, W] or [C, H, W], got shape \(formatShape(x.shape))")
        }
        try Contraction.checkFloatOperands(x.dtype, weight.dtype, op: op)
        let common = DType.promoteStrong(x.dtype, weight.dtype)
        let output = try emit(.conv2d, [cast(x, to: common), cast(weight, to: common)],
                              .conv(stride: stride, padding: padding, dilation: dilation, groups: groups))
        guard let bias else { return output }
        guard bias.rank == 1, bias.shape[0] == output.shape[1] else {
            throw SwiftFuncError.shape(op, "bias must have shape [\(output.shape[1])], got \(formatShape(bias.shape))")
        }
        return try add(output, reshape(bias, shape: [output.shape[1], 1, 1]))
    }
}
