import CKernels
/// Convolution primitives: `conv2d` (NCHW cross-correlation, torch.nn.functional.conv2d without
/// bias) by im2col + GEMM, and `conv_transpose2d` (its transpose, torch.nn.functional.conv_transpose2d
/// without bias: conv2d's input cotangent) by GEMM + col2im.
enum Convolution {
    static let table: [PrimitiveRules] = [
        convolution(.forward, vjp: conv2dVJP),
        convolution(.transposed, vjp: convTranspose2dVJP),
    ]

    // MARK: Rules

    /// What conv2d and conv_transpose2d differ in, for the rules they share.
    struct Kind: Sendable {
        let primitive: Primitive
        let name: String
        /// Checks the operands and params: the geometry of the conv2d involved (for
        /// conv_transpose2d, the conv it transposes) and the result type.
        let geometry: @Sendable (_ x: TensorType, _ w: TensorType, _ params: Params) throws -> Geometry
        let float32: @Sendable (_ x: Tensor, _ w: Tensor, _ geometry: Geometry) throws -> Tensor
        let float64: @Sendable (_ x: Tensor, _ w: Tensor, _ geometry: Geometry) throws -> Tensor
        /// The primitive's params.
        let params: @Sendable (ConvParams) -> Params
        /// Weights [B, W0, W1, KH, KW] as one weight whose output channels are each group's
        /// channels of every example, ordered (group, b, channel), and the output channels per
        /// group of one example.
        let foldBatchIntoOutputs: @Sendable (_ weights: Value, _ batchSize: Int, _ groups: Int) throws -> (Value, Int)

        /// conv2d: weight [O, C/g, KH, KW], its output channels first.
        static let forward = Kind(
            primitive: .conv2d, name: "conv2d", geometry: conv2dGeometry,
            float32: { try conv2dKernel(Float.self, $0, $1, $2) }, float64: { try conv2dKernel(Double.self, $0, $1, $2) },
            params: { $0.params },
            foldBatchIntoOutputs: { weights, batchSize, g in
                let s = weights.shape, perGroup = s[1] / g
                let grouped = try reshape(weights, [batchSize, g, perGroup, s[2], s[3], s[4]])
                return (try reshape(permute(grouped, [1, 0, 2, 3, 4, 5]), [g * batchSize * perGroup, s[2], s[3], s[4]]), perGroup)
            })

        /// conv_transpose2d: weight [C_in, C_out/g, KH, KW], its output channels second.
        static let transposed = Kind(
            primitive: .convTranspose2d, name: "conv_transpose2d", geometry: convTranspose2dGeometry,
            float32: { try convTranspose2dKernel(Float.self, $0, $1, $2) },
            float64: { try convTranspose2dKernel(Double.self, $0, $1, $2) },
            params: { $0.transposeParams },
            foldBatchIntoOutputs: { weights, batchSize, _ in
                let s = weights.shape
                return (try reshape(permute(weights, [1, 0, 2, 3, 4]), [s[1], batchSize * s[2], s[3], s[4]]), s[2])
            })
    }

    /// A convolution's entry. Type: `kind.geometry`; kernel: `kind.float32`/`float64`; JVP:
    /// bilinear; VJP: `vjp`; batching: `convBatch`.
    static func convolution(_ kind: Kind, vjp: @escaping VJPRule) -> PrimitiveRules {
        PrimitiveRules(
            kind.primitive, name: kind.name,
            type: { args, params in
                guard args.count == 2 else { throw SwiftFuncError.invalidArgument(kind.name, "expects 2 arguments, got \(args.count)") }
                return try kind.geometry(args[0], args[1], params).type
            },
            eval: { args, params, type in
                let geometry = try kind.geometry(args[0].type, args[1].type, params)
                switch type.dtype {
                case .float32: return try kind.float32(args[0], args[1], geometry)
                case .float64: return try kind.float64(args[0], args[1], geometry)
                default: throw SwiftFuncError.dtype(kind.name, "expected float operands, got \(type.dtype)")
                }
            },
            jvp: Differentiation.bilinearJVP(kind.primitive), vjp: vjp,
            batch: { args, dims, batch, params in
                try convBatch(kind, args[0], dims[0], args[1], dims[1], batchSize: batch.size, ConvParams(params))
            })
    }

    static func conv2dVJP(_ cotangent: Value, _ primals: [Value], _ output: Value, _ params: Params, _ needed: [Bool]) throws -> [Value?] {
        let conv = try ConvParams(params)
        return [needed[0] ? try inputCotangent(cotangent, inputShape: primals[0].shape, weight: primals[1], conv) : nil,
                needed[1] ? try weightCotangent(cotangent, input: primals[0], weightShape: primals[1].shape, conv) : nil]
    }

    /// conv_transpose2d(x, w) is linear in each operand, with <g, conv_transpose2d(x, w)> =
    /// <conv2d(g, w), x>: the cotangent of x is that conv2d, cropped to x's size (it has
    /// floor(output padding / stride) more rows, windows over the untouched rows an output padding
    /// of at least the stride adds), the cotangent of w conv2d's weight cotangent with x as the
    /// output cotangent and g as the input.
    static func convTranspose2dVJP(_ cotangent: Value, _ primals: [Value], _ output: Value, _ params: Params, _ needed: [Bool]) throws -> [Value?] {
        let conv = try ConvParams(params)
        let x = primals[0]
        return [needed[0] ? try cropSpatial(emit(.conv2d, [cotangent, primals[1]], conv.params), start: [0, 0],
                                            size: [x.shape[2], x.shape[3]]) : nil,
                needed[1] ? try weightCotangent(x, input: cotangent, weightShape: primals[1].shape, conv) : nil]
    }

    // MARK: Transform rules

    /// conv2d's and conv_transpose2d's params unpacked (conv2d's output padding is 0).
    struct ConvParams {
        var stride: [Int], padding: [Int], dilation: [Int], groups: Int
        var outputPadding = [0, 0]

        init(_ params: Params) throws {
            switch params {
            case let .conv(stride, padding, dilation, groups):
                (self.stride, self.padding, self.dilation, self.groups) = (stride, padding, dilation, groups)
            case let .convTranspose(stride, padding, dilation, groups, outputPadding):
                (self.stride, self.padding, self.dilation, self.groups) = (stride, padding, dilation, groups)
                self.outputPadding = outputPadding
            default:
                throw SwiftFuncError.internal("conv2d", "expects conv params")
            }
        }

        init(stride: [Int], padding: [Int], dilation: [Int], groups: Int, outputPadding: [Int] = [0, 0]) {
            (self.stride, self.padding, self.dilation, self.groups) = (stride, padding, dilation, groups)
            self.outputPadding = outputPadding
        }

        /// conv2d's params.
        var params: Params { .conv(stride: stride, padding: padding, dilation: dilation, groups: groups) }

        /// conv_transpose2d's params.
        var transposeParams: Params {
            .convTranspose(stride: stride, padding: padding, dilation: dilation, groups: groups, outputPadding: outputPadding)
        }
    }

    static func reshape(_ value: Value, _ shape: [Int]) throws -> Value {
        value.shape == shape ? value : try emit(.reshape, [value], .shape(shape))
    }

    static func permute(_ value: Value, _ order: [Int]) throws -> Value {
        order == Array(order.indices) ? value : try emit(.permute, [value], .permutation(order))
    }

    /// Rows start[0]..<start[0] + size[0] and columns start[1]..<start[1] + size[1] of an NCHW
    /// tensor (a view).
    static func cropSpatial(_ value: Value, start: [Int], size: [Int]) throws -> Value {
        var result = value
        for axis in 0..<2 where start[axis] != 0 || result.shape[2 + axis] != size[axis] {
            result = try emit(.slice, [result], .slice(dim: 2 + axis, start: start[axis], count: size[axis], step: 1))
        }
        return result
    }

    /// The input cotangent: conv_transpose2d of the cotangent with the same weight and params,
    /// with the input rows past the last window, (size + 2 padding - dilation (kernel - 1) - 1)
    /// mod stride of them, as output padding (they get zero).
    static func inputCotangent(_ cotangent: Value, inputShape: [Int], weight: Value, _ p: ConvParams) throws -> Value {
        if cotangent.count == 0 || weight.count == 0 || inputShape.contains(0) {
            return try Differentiation.full(0, shape: inputShape, dtype: cotangent.dtype)
        }
        var transposed = p
        for axis in 0..<2 {
            let reach = p.dilation[axis] * (weight.shape[2 + axis] - 1)
            transposed.outputPadding[axis] = (inputShape[2 + axis] + 2 * p.padding[axis] - reach - 1) % p.stride[axis]
        }
        return try emit(.convTranspose2d, [cotangent, weight], transposed.transposeParams)
    }

    /// The weight cotangent as a conv2d of the input (batch and channels exchanged, the groups
    /// moved into the channels) with the cotangent as the kernel, stride and dilation exchanged,
    /// cropped to the kernel size (a view).
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
        let result = try emit(.conv2d, [images, kernel], params.params)  // [C/g, O, KH', KW'], KH' >= KH
        return try permute(cropSpatial(result, start: [0, 0], size: [weightShape[2], weightShape[3]]), [1, 0, 2, 3])
    }

    /// vmap of conv2d or conv_transpose2d with one op of the same primitive: a batched input
    /// folds into N, a batched weight into the output channels, and both batched into the groups
    /// (B * groups).
    static func convBatch(_ kind: Kind, _ x: Value, _ dimX: Int?, _ w: Value, _ dimW: Int?,
                          batchSize: Int, _ p: ConvParams) throws -> (Value, Int?) {
        let (primitive, params) = (kind.primitive, kind.params(p))
        // vmap does not type-check the examples; the reshapes below rely on 4-D examples.
        let exampleOutput = try kind.geometry(Contraction.exampleType(x, dimX), Contraction.exampleType(w, dimW), params).type
        switch (dimX, dimW) {
        case let (dx?, nil):
            // N and B adjacent (in either order) merge into one batch of images.
            let dim = dx <= 1 ? dx : 0
            let images = try Batching.moveDim(x, from: dx, to: dim)
            let s = images.shape
            let output = try emit(primitive, [reshape(images, [s[0] * s[1], s[2], s[3], s[4]]), w], params)
            let t = output.shape
            return (try reshape(output, [s[0], s[1], t[1], t[2], t[3]]), dim)

        case let (nil, dw?):
            let weights = try Batching.moveDim(w, from: dw, to: 0)  // [B, W0, W1, KH, KW]
            let g = p.groups
            // Output channels ordered (group, b, channel in group): each group's stay together.
            let (folded, perGroup) = try kind.foldBatchIntoOutputs(weights, batchSize, g)
            let output = try emit(primitive, [x, folded], params)  // [N, g*B*perGroup, H', W']
            let t = output.shape
            let split = try reshape(output, [t[0], g, batchSize, perGroup, t[2], t[3]])
            return (try reshape(permute(split, [0, 2, 1, 3, 4, 5]), [t[0], batchSize, g * perGroup, t[2], t[3]]), 1)

        case let (dx?, dw?):
            let images = try Batching.moveDim(x, from: dx, to: 1)  // [N, B, C, H, W]
            let weights = try Batching.moveDim(w, from: dw, to: 0)  // [B, W0, W1, KH, KW]
            let (n, c) = (images.shape[0], images.shape[2])
            if batchSize == 0 {
                // groups would be 0: an empty result of the per-example output type.
                return (try Differentiation.full(0, shape: [0] + exampleOutput.shape, dtype: exampleOutput.dtype), 0)
            }
            // Channels (b, c) against weights (b, w0): group b * groups + i sees only its own.
            let stacked = try reshape(images, [n, batchSize * c, images.shape[3], images.shape[4]])
            let kernels = try reshape(weights, [batchSize * weights.shape[1]] + Array(weights.shape.suffix(3)))
            var folded = p
            folded.groups = p.groups * batchSize
            let output = try emit(primitive, [stacked, kernels], kind.params(folded))
            let t = output.shape
            return (try reshape(output, [n, batchSize, t[1] / batchSize, t[2], t[3]]), 1)

        case (nil, nil):
            return (try emit(primitive, [x, w], params), nil)
        }
    }

    /// Everything the kernel needs, derived and checked from the operand types and params.
    struct Geometry {
        var type: TensorType
        var batch = 0, channels = 0, height = 0, width = 0
        var outChannels = 0, kernelHeight = 0, kernelWidth = 0
        var outHeight = 0, outWidth = 0
        var stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int)
        var groups: Int

        /// Input channels and output channels of each group.
        var groupChannels: Int { channels / groups }
        var groupOut: Int { outChannels / groups }
        /// Taps of one output element (its receptive field), and output positions per channel.
        var taps: Int { groupChannels &* kernelHeight &* kernelWidth }  // <= weight.count: no overflow
        var outPlane: Int { outHeight &* outWidth }                    // <= the output's count

        /// Throws unless the kernels' GEMM dims fit the BLAS backend's 32-bit sizes.
        func checkBLASSizes(op: String) throws {
            guard taps <= Int(Int32.max), outPlane <= Int(Int32.max), groupOut <= Int(Int32.max) else {
                throw SwiftFuncError.unsupported(op, "the im2col matrix [\(taps), \(outPlane)] exceeds the BLAS backend's 32-bit sizes")
            }
        }

        /// The params' (H, W) pairs (checked to be pairs) and group count; sizes to be filled in.
        init(type: TensorType, stride: [Int], padding: [Int], dilation: [Int], groups: Int) {
            self.type = type
            (self.stride, self.padding, self.dilation) = ((stride[0], stride[1]), (padding[0], padding[1]), (dilation[0], dilation[1]))
            self.groups = groups
        }
    }

    /// Validates conv2d's operands and params and computes its geometry and result type.
    static func conv2dGeometry(_ x: TensorType, _ w: TensorType, _ params: Params) throws -> Geometry {
        let op = "conv2d"
        guard case .conv(let stride, let padding, let dilation, let groups) = params else {
            throw SwiftFuncError.internal(op, "expects conv params")
        }
        try checkConvParams(stride: stride, padding: padding, dilation: dilation, groups: groups)
        try checkOperands(x, "[N, C, H, W]", w, "[O, C/groups, KH, KW]", op: op)
        var g = Geometry(type: x, stride: stride, padding: padding, dilation: dilation, groups: groups)
        (g.batch, g.channels, g.height, g.width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        (g.outChannels, g.kernelHeight, g.kernelWidth) = (w.shape[0], w.shape[2], w.shape[3])
        guard g.channels % groups == 0, g.outChannels % groups == 0, w.shape[1] == g.channels / groups else {
            throw SwiftFuncError.shape(op, "input \(formatShape(x.shape)) and weight \(formatShape(w.shape)) do not match for groups = \(groups) "
                + "(C and O must be multiples of groups and weight.size(1) must be C / groups)")
        }
        g.outHeight = try outputSize(g.height, kernel: g.kernelHeight, stride: stride[0], padding: padding[0], dilation: dilation[0], x, w)
        g.outWidth = try outputSize(g.width, kernel: g.kernelWidth, stride: stride[1], padding: padding[1], dilation: dilation[1], x, w)
        let shape = [g.batch, g.outChannels, g.outHeight, g.outWidth]
        try ShapeChecks.validate(shape, itemSize: x.dtype.itemSize, op: op)
        g.type = TensorType(shape: shape, dtype: x.dtype)
        return g
    }

    /// conv_transpose2d's geometry, described as the conv2d it transposes: its input x [N, C_in,
    /// H, W] is that conv's output (outChannels, outHeight, outWidth) and its result [N, C_out, H',
    /// W'] that conv's input (channels, height, width), H' = (H - 1) stride - 2 padding + dilation
    /// (KH - 1) + output padding + 1.
    static func convTranspose2dGeometry(_ x: TensorType, _ w: TensorType, _ params: Params) throws -> Geometry {
        let op = "conv_transpose2d"
        guard case let .convTranspose(stride, padding, dilation, groups, outputPadding) = params else {
            throw SwiftFuncError.internal(op, "expects conv_transpose params")
        }
        try checkConvParams(stride: stride, padding: padding, dilation: dilation, groups: groups, op: op)
        try checkOutputPadding(outputPadding, stride: stride, dilation: dilation)
        try checkOperands(x, "[N, C_in, H, W]", w, "[C_in, C_out/groups, KH, KW]", op: op)
        var g = Geometry(type: x, stride: stride, padding: padding, dilation: dilation, groups: groups)
        (g.batch, g.outChannels, g.outHeight, g.outWidth) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        (g.kernelHeight, g.kernelWidth) = (w.shape[2], w.shape[3])
        let (channels, overflow) = w.shape[1].multipliedReportingOverflow(by: groups)
        guard w.shape[0] == g.outChannels, g.outChannels % groups == 0, !overflow else {
            throw SwiftFuncError.shape(op, "input \(formatShape(x.shape)) and weight \(formatShape(w.shape)) do not match for groups = \(groups) "
                + "(weight.size(0) must be C_in, a multiple of groups)")
        }
        g.channels = channels
        g.height = try transposedSize(g.outHeight, kernel: g.kernelHeight, stride: stride[0], padding: padding[0],
                                      dilation: dilation[0], outputPadding: outputPadding[0])
        g.width = try transposedSize(g.outWidth, kernel: g.kernelWidth, stride: stride[1], padding: padding[1],
                                     dilation: dilation[1], outputPadding: outputPadding[1])
        let shape = [g.batch, g.channels, g.height, g.width]
        try ShapeChecks.validate(shape, itemSize: x.dtype.itemSize, op: op)
        g.type = TensorType(shape: shape, dtype: x.dtype)
        return g
    }

    /// torch's rule for conv_transpose2d's output padding: an (H, W) pair, each entry >= 0 and
    /// smaller than either the stride or the dilation of its dim. The rows it adds past the last
    /// tap's reach (possible when it is not below the stride) get no tap: zeros (plus any bias).
    static func checkOutputPadding(_ outputPadding: [Int], stride: [Int], dilation: [Int]) throws {
        let op = "conv_transpose2d"
        guard outputPadding.count == 2 else {
            throw SwiftFuncError.invalidArgument(op, "output_padding must be an (H, W) pair, got \(outputPadding.count) values")
        }
        guard outputPadding.allSatisfy({ $0 >= 0 }) else {
            throw SwiftFuncError.invalidArgument(op, "output_padding must be >= 0, got \(formatShape(outputPadding))")
        }
        guard (0..<2).allSatisfy({ outputPadding[$0] < stride[$0] || outputPadding[$0] < dilation[$0] }) else {
            throw SwiftFuncError.invalidArgument(op, "output padding must be smaller than either stride or dilation, got "
                + "output_padding \(formatShape(outputPadding)), stride \(formatShape(stride)) and dilation \(formatShape(dilation))")
        }
    }

    /// (size - 1) stride - 2 padding + dilation (kernel - 1) + outputPadding + 1, with overflow
    /// checks; a negative size is a shape error.
    static func transposedSize(_ size: Int, kernel: Int, stride: Int, padding: Int, dilation: Int, outputPadding: Int) throws -> Int {
        let op = "conv_transpose2d"
        let (spread, o1) = (size - 1).multipliedReportingOverflow(by: stride)
        let (twice, o2) = padding.multipliedReportingOverflow(by: 2)
        let (reach, o3) = dilation.multipliedReportingOverflow(by: kernel - 1)
        let (cropped, o4) = spread.subtractingReportingOverflow(twice)
        let (extended, o5) = cropped.addingReportingOverflow(reach)
        let (result, o6) = extended.addingReportingOverflow(outputPadding + 1)  // outputPadding < max(stride, dilation)
        guard !o1, !o2, !o3, !o4, !o5, !o6 else { throw SwiftFuncError.shape(op, "stride, padding or dilation is too large") }
        guard result >= 0 else {
            throw SwiftFuncError.shape(op, "input size \(size) with kernel \(kernel), stride \(stride), padding \(padding) and dilation \(dilation) "
                + "gives a negative output size")
        }
        return result
    }

    /// Checks that both operands are 4-D (`input` and `weight` say what they must be) and float,
    /// of one dtype.
    static func checkOperands(_ x: TensorType, _ input: String, _ w: TensorType, _ weight: String, op: String) throws {
        guard x.rank == 4 else { throw SwiftFuncError.shape(op, "input must be \(input), got shape \(formatShape(x.shape))") }
        guard w.rank == 4 else { throw SwiftFuncError.shape(op, "weight must be \(weight), got shape \(formatShape(w.shape))") }
        try Contraction.checkFloatOperands(x.dtype, w.dtype, op: op)
        guard x.dtype == w.dtype else {
            throw SwiftFuncError.dtype(op, "operands must have one dtype, got \(x.dtype) and \(w.dtype)")
        }
    }

    /// Checks the (H, W) pairs and the group count.
    static func checkConvParams(stride: [Int], padding: [Int], dilation: [Int], groups: Int, op: String = "conv2d") throws {
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

    // MARK: Kernel

    /// Bytes of packed receptive fields one chunk of images may take (besides the product staged
    /// for the chunk): a chunk is multiplied in one GEMM, so images with small output planes
    /// (the per-sample weight gradient's 3x3 ones) still make one large product, while the packed
    /// matrix stays near the size of the L2 cache and a batch makes many chunks to share out
    /// between threads (`Parallel.forEachWorkItem`).
    nonisolated(unsafe) static var chunkBytes = 1 << 20
    /// Columns a chunk's GEMM gets at least, by taking more images, as long as its packed matrix
    /// stays within `maxChunkBytes`: a GEMM of a few columns (one image with a 3x3 output, as in
    /// a batch's weight gradient) runs at a fraction of BLAS speed.
    nonisolated(unsafe) static var minimumColumns = 128
    nonisolated(unsafe) static var maxChunkBytes = 16 << 20
    /// Elements each thread packs or copies at least: smaller convs stay on the calling thread.
    nonisolated(unsafe) static var threadGrain = 1 << 14

    /// The input as the kernel reads it: element [n, c, h, w] at base + n*sN + c*sC + h*sH + w*sW.
    struct Images<T> {
        var base: UnsafeMutablePointer<T>
        var sN: Int, sC: Int, sH: Int, sW: Int

        init(_ x: Tensor) {
            base = x.elements(as: T.self)
            (sN, sC, sH, sW) = (x.strides[0], x.strides[1], x.strides[2], x.strides[3])
        }
    }

    /// conv2d by GEMM. For each chunk of images and each group, the chunk's receptive fields are
    /// packed into one matrix (zeros for taps in the padding: padding costs no copy of the input),
    /// which one GEMM multiplies by the group's filters [O/g, C/g*KH*KW]; the product
    /// [O/g, chunk*OH*OW] is then copied into the images' output planes (a chunk of one image is
    /// written in place). The (chunk, group) items are shared out between threads by
    /// `Parallel.forEachWorkItem`. Every element is computed by one GEMM whatever the thread count, so
    /// results are the same from run to run.
    static func conv2dKernel<T: GEMMScalar>(_: T.Type, _ x: Tensor, _ weight: Tensor, _ g: Geometry) throws -> Tensor {
        let op = "conv2d"
        let result = try Tensor(uninitialized: g.type, op: op)
        guard result.count > 0 else { return result }
        let (groupChannels, groupOut, kc, p) = (g.groupChannels, g.groupOut, g.taps, g.outPlane)
        if kc == 0 {
            return try Tensor(uninitialized: g.type, zeroed: true, op: op)
        }
        try g.checkBLASSizes(op: op)
        let filters = try filterMatrix(weight, columns: kc, op: op)
        let pw = filters.tensor.elements(as: T.self), filterStride = filters.tensor.strides[0]
        let images = Images<T>(x)
        let out = result.elements(as: T.self)

        let chunk = imagesPerChunk(columns: kc, plane: p, itemSize: T.dtype.itemSize, batch: g.batch)

        // A 1x1 kernel with unit stride and no padding reads a one-image chunk straight from the
        // input when each group's channels form a BLAS matrix [C/g, H*W].
        if chunk == 1, g.kernelHeight == 1, g.kernelWidth == 1, g.stride == (1, 1), g.padding == (0, 0),
           runStride([g.height, g.width], [images.sH, images.sW]) == 1,
           groupChannels == 1 || (images.sC >= p && images.sC <= Int(Int32.max)) {
            let ldb = groupChannels == 1 ? p : images.sC
            for n in 0..<g.batch {
                for group in 0..<g.groups {
                    T.gemm(transA: filters.transposed, transB: false, m: groupOut, n: p, k: kc,
                           a: pw + group &* groupOut &* filterStride, lda: filters.ld,
                           b: images.base + (n &* images.sN &+ group &* groupChannels &* images.sC), ldb: ldb,
                           c: out + (n &* g.outChannels &+ group &* groupOut) &* p, ldc: p)
                }
            }
            return result
        }

        // Packed as [(n, oh, ow), (c, i, j)] when kernel rows are longer than output rows (the
        // contiguous runs copied are then the kernel's), else as [(c, i, j), (n, oh, ow)].
        let byRows = g.kernelWidth > g.outWidth
        try forEachChunkAndGroup(T.self, g, chunk: chunk, stagedRows: groupOut, op: op) { first, count, group, pb, staged in
            let columns = count &* p
            let source = images.base + (first &* images.sN &+ group &* groupChannels &* images.sC)
            if byRows {
                packRows(source, images, count: count, channels: groupChannels, g, into: pb)
            } else {
                packColumns(source, images, count: count, channels: groupChannels, g, into: pb)
            }
            let target = out + (first &* g.outChannels &+ group &* groupOut) &* p
            let product = count > 1 ? staged : nil  // nil: in place
            let weights = pw + group &* groupOut &* filterStride
            if byRows || !Contraction.productWithShortContraction(T.self, transA: filters.transposed, m: groupOut, n: columns, k: kc,
                                                                  a: weights, lda: filters.ld, b: pb, ldb: columns,
                                                                  c: product ?? target, ldc: product == nil ? p : columns) {
                T.gemm(transA: filters.transposed, transB: byRows, m: groupOut, n: columns, k: kc,
                       a: weights, lda: filters.ld, b: pb, ldb: byRows ? kc : columns,
                       c: product ?? target, ldc: product == nil ? p : columns)
            }
            if let product {
                copyPlanes(rows: groupOut, count: count, plane: p, from: product, sourceRow: columns, sourceImage: p,
                           to: target, targetRow: p, targetImage: g.outChannels &* p)
            }
        }
        return result
    }


    /// Runs `body(first, count, group, packed, staged)` for each (chunk of `chunk` images, group)
    /// of a GEMM-based conv kernel, the items shared out by `Parallel.forEachWorkItem`: images
    /// first..<first+count, `packed` a scratch of chunk * taps * outPlane elements (the chunk's
    /// receptive fields or its columns before col2im), `staged` one of stagedRows * chunk *
    /// outPlane (a product or a source laid out for the whole chunk; nil for one-image chunks).
    static func forEachChunkAndGroup<T: GEMMScalar>(
        _: T.Type, _ g: Geometry, chunk: Int, stagedRows: Int, op: String,
        _ body: (_ first: Int, _ count: Int, _ group: Int, _ packed: UnsafeMutablePointer<T>,
                 _ staged: UnsafeMutablePointer<T>?) -> Void
    ) throws {
        let chunks = (g.batch + chunk - 1) / chunk
        try Parallel.forEachWorkItem(chunks &* g.groups, scratch: {
            try (scratch(T.self, count: chunk &* g.taps &* g.outPlane, op: op),
                 chunk > 1 ? try scratch(T.self, count: stagedRows &* chunk &* g.outPlane, op: op) : nil)
        }) { item, scratch in
            let first = (item / g.groups) &* chunk
            body(first, Swift.min(chunk, g.batch - first), item % g.groups, scratch.0.elements(as: T.self),
                 scratch.1?.elements(as: T.self))
        }
    }

    /// A work item's scratch of `count` elements (sizes checked by the geometry), never smaller
    /// than `MemoryPool.largeBlock`, so that it comes from the pool's cache of large blocks: a
    /// convolution takes its scratch anew on every call, and a smaller one from malloc went back
    /// to the OS each time (glibc trims its heaps' tops), its pages faulted in and cleared again
    /// on the next call (500-2300 page faults per call of the NTK tutorial). The pages past
    /// `count` are never touched.
    static func scratch<T: Element>(_: T.Type, count: Int, op: String) throws -> Tensor {
        let minimum = MemoryPool.largeBlock / MemoryLayout<T>.stride
        return try Tensor(uninitialized: TensorType(shape: [Swift.max(count, minimum)], dtype: T.dtype), op: op)
    }

    /// Images per chunk when each takes a [columns, plane] matrix: as many as fit chunkBytes, or
    /// more for minimumColumns within maxChunkBytes (at least one), with chunk * plane within
    /// blasint.
    static func imagesPerChunk(columns: Int, plane: Int, itemSize: Int, batch: Int) -> Int {
        let (perImage, overflow) = columns.multipliedReportingOverflow(by: plane &* itemSize)
        guard !overflow else { return 1 }
        let wide = Swift.min((minimumColumns + plane - 1) / plane, maxChunkBytes / perImage)
        return Swift.max(1, Swift.min(batch, Swift.max(chunkBytes / perImage, wide), Int(Int32.max) / plane))
    }

    /// conv_transpose2d by GEMM + col2im, with `g` the geometry of the conv2d it transposes (x is
    /// that conv's output, the result its input). For each chunk of images and each group, one
    /// GEMM multiplies the group's transposed filters [C/g*KH*KW, O/g] by the chunk's planes
    /// [O/g, chunk*OH*OW] (staged when the chunk has several images, read in place otherwise), and
    /// col2im adds each column into the output positions its taps come from. No zeros are inserted
    /// for strides and nothing is padded: taps outside the output are skipped. The (chunk, group)
    /// items are shared out by `Parallel.forEachWorkItem`; each output plane is summed by one thread in a
    /// fixed order.
    static func convTranspose2dKernel<T: GEMMScalar>(_: T.Type, _ x: Tensor, _ weight: Tensor, _ g: Geometry) throws -> Tensor {
        let op = "conv_transpose2d"
        let result = try Tensor(uninitialized: g.type, op: op)
        guard result.count > 0 else { return result }
        // The transposed conv's input channels are the conv's output channels.
        let (groupChannels, groupIn, kc, p) = (g.groupChannels, g.groupOut, g.taps, g.outPlane)
        if kc == 0 || p == 0 || groupIn == 0 {  // empty sums
            return try Tensor(uninitialized: g.type, zeroed: true, op: op)
        }
        try g.checkBLASSizes(op: op)
        let filters = try filterMatrix(weight, columns: kc, op: op)
        let pw = filters.tensor.elements(as: T.self), filterStride = filters.tensor.strides[0]
        let source = try x.contiguous(op: op)
        let px = source.elements(as: T.self), out = result.elements(as: T.self)
        let chunk = imagesPerChunk(columns: kc, plane: p, itemSize: T.dtype.itemSize, batch: g.batch)
        let plane = g.height &* g.width
        try forEachChunkAndGroup(T.self, g, chunk: chunk, stagedRows: groupIn, op: op) { first, count, group, pc, staged in
            let columns = count &* p
            var planes = UnsafePointer(px + (first &* g.outChannels &+ group &* groupIn) &* p)
            if count > 1, let staged {
                copyPlanes(rows: groupIn, count: count, plane: p, from: planes, sourceRow: p, sourceImage: g.outChannels &* p,
                           to: staged, targetRow: columns, targetImage: p)
                planes = UnsafePointer(staged)
            }
            let weights = pw + group &* groupIn &* filterStride
            if !Contraction.productWithShortContraction(T.self, transA: !filters.transposed, m: kc, n: columns, k: groupIn,
                                                        a: weights, lda: filters.ld, b: planes, ldb: columns, c: pc, ldc: columns) {
                T.gemm(transA: !filters.transposed, transB: false, m: kc, n: columns, k: groupIn,
                       a: weights, lda: filters.ld, b: planes, ldb: columns, c: pc, ldc: columns)
            }
            col2im(pc, count: count, channels: groupChannels, g,
                   into: out + (first &* g.channels &+ group &* groupChannels) &* plane, imageStride: g.channels &* plane)
        }
        return result
    }

    /// The transpose of `packColumns`: output plane (n, c) (at target + n * imageStride + c * H*W,
    /// row-major) is the sum of the columns' entries [(c, i, j), (n, oh, ow)] over the taps that
    /// land inside it. Planes are split across threads; each is summed in a fixed order.
    static func col2im<T: GEMMScalar>(_ columns: UnsafeMutablePointer<T>, count: Int, channels: Int, _ g: Geometry,
                                      into target: UnsafeMutablePointer<T>, imageStride: Int) {
        let kernelSize = g.kernelHeight &* g.kernelWidth, p = g.outHeight &* g.outWidth
        let rowLength = count &* p, plane = g.height &* g.width
        // Float32 at stride 1: the AVX2 kernel sums each output's taps in a register, in the order
        // of the loop below (the same bits); false when the CPU or the kernel size rules it out.
        let unitStride = T.self == Float.self && g.stride == (1, 1) && swiftfunc_kernels_available() != 0
        Parallel.forEach(count &* channels, grain: threadGrain / (kernelSize &* p &+ plane) + 1) { planes in
            for index in planes {
                let n = index / channels, c = index % channels
                let output = target + (n &* imageStride &+ c &* plane)
                if unitStride, swiftfunc_col2im_unit_stride(
                    UnsafeRawPointer(columns + (c &* kernelSize &* rowLength &+ n &* p)).assumingMemoryBound(to: Float.self),
                    rowLength, g.kernelHeight, g.kernelWidth, g.outHeight, g.outWidth, g.padding.0, g.padding.1,
                    g.dilation.0, g.dilation.1, UnsafeMutableRawPointer(output).assumingMemoryBound(to: Float.self),
                    g.height, g.width) != 0 {
                    continue
                }
                fillZeros(output, count: plane)
                for i in 0..<g.kernelHeight {
                    for j in 0..<g.kernelWidth {
                        let taps = Taps(first: j &* g.dilation.1 &- g.padding.1, step: g.stride.1, count: g.outWidth, limit: g.width)
                        var row = columns + (((c &* g.kernelHeight &+ i) &* g.kernelWidth &+ j) &* rowLength &+ n &* p)
                        for oh in 0..<g.outHeight {
                            defer { row += g.outWidth }
                            let h = oh &* g.stride.0 &- g.padding.0 &+ i &* g.dilation.0
                            guard h >= 0 && h < g.height else { continue }
                            let line = output + (h &* g.width &+ taps.first)
                            if taps.step == 1 {
                                for ow in taps.inside { line[ow] += row[ow] }
                            } else {
                                for ow in taps.inside { line[ow &* taps.step] += row[ow] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The weight [O, C/g, KH, KW] as a BLAS matrix [O, C/g*KH*KW] (row i at row i * strides[0]):
    /// the weight itself when its strides allow, else a contiguous copy.
    static func filterMatrix(_ weight: Tensor, columns: Int, op: String) throws -> (tensor: Tensor, transposed: Bool, ld: Int) {
        if let run = runStride(weight.shape.dropFirst(), weight.strides.dropFirst()),
           let form = Contraction.MatrixOperand.blasForm(rows: weight.shape[0], cols: columns,
                                                         rowStride: weight.strides[0], colStride: run) {
            return (weight, form.transposed, form.ld)
        }
        return (try weight.contiguous(op: op), false, columns)
    }

    /// The step between consecutive elements of `shape`'s dims read in row-major order when they
    /// form one evenly strided run (dims of size 1 do not count; 1 if no other is left), else nil.
    static func runStride(_ shape: ArraySlice<Int>, _ strides: ArraySlice<Int>) -> Int? {
        var step = 1, next: Int?
        for d in shape.indices.reversed() where shape[d] != 1 {
            if let expected = next {
                guard strides[d] == expected else { return nil }
            } else {
                step = strides[d]
            }
            next = strides[d] &* shape[d]
        }
        return step
    }

    /// Packs [(c, i, j), (n, oh, ow)] for `count` images of `channels` channels from `source`:
    /// row (c, i, j) holds x[n, c, oh*stride - pad + i*dilation, ow*stride - pad + j*dilation]
    /// (0 outside the input). Rows are split across threads.
    static func packColumns<T: Element>(_ source: UnsafeMutablePointer<T>, _ x: Images<T>, count: Int, channels: Int,
                                        _ g: Geometry, into packed: UnsafeMutablePointer<T>) {
        let kernelSize = g.kernelHeight &* g.kernelWidth, plane = g.outHeight &* g.outWidth
        let rowLength = count &* plane
        Parallel.forEach(channels &* kernelSize, grain: threadGrain / rowLength + 1) { rows in
            for row in rows {
                let c = row / kernelSize, i = (row % kernelSize) / g.kernelWidth, j = row % g.kernelWidth
                let taps = Taps(first: j &* g.dilation.1 &- g.padding.1, step: g.stride.1, count: g.outWidth, limit: g.width)
                var target = packed + row &* rowLength
                for n in 0..<count {
                    let channel = source + (n &* x.sN &+ c &* x.sC)
                    for oh in 0..<g.outHeight {
                        gatherRun(channel, row: oh &* g.stride.0 &- g.padding.0 &+ i &* g.dilation.0, x, g, taps, into: target)
                        target += g.outWidth
                    }
                }
            }
        }
    }

    /// Packs [(n, oh, ow), (c, i, j)]: the transpose of `packColumns`' matrix, whose contiguous
    /// runs are kernel rows. Output rows (n, oh) are split across threads.
    static func packRows<T: Element>(_ source: UnsafeMutablePointer<T>, _ x: Images<T>, count: Int, channels: Int,
                                     _ g: Geometry, into packed: UnsafeMutablePointer<T>) {
        let kc = channels &* g.kernelHeight &* g.kernelWidth
        let lineLength = g.outWidth &* kc
        Parallel.forEach(count &* g.outHeight, grain: threadGrain / lineLength + 1) { lines in
            for line in lines {
                let n = line / g.outHeight, oh = line % g.outHeight
                let image = source + n &* x.sN
                var target = packed + line &* lineLength
                for ow in 0..<g.outWidth {
                    let taps = Taps(first: ow &* g.stride.1 &- g.padding.1, step: g.dilation.1, count: g.kernelWidth, limit: g.width)
                    for c in 0..<channels {
                        let channel = image + c &* x.sC
                        for i in 0..<g.kernelHeight {
                            gatherRun(channel, row: oh &* g.stride.0 &- g.padding.0 &+ i &* g.dilation.0, x, g, taps, into: target)
                            target += g.kernelWidth
                        }
                    }
                }
            }
        }
    }

    /// The taps k in 0..<count of a run whose positions first + k*step lie in 0..<limit: one range
    /// `inside` (empty at `count` when none does).
    struct Taps {
        var first: Int, step: Int, count: Int, inside: Range<Int>

        init(first: Int, step: Int, count: Int, limit: Int) {
            var low = first >= 0 ? 0 : (step &- 1 &- first) / step
            let high = first >= limit ? 0 : (limit &- 1 &- first) / step &+ 1
            low = Swift.min(low, count)
            (self.first, self.step, self.count) = (first, step, count)
            inside = low..<Swift.max(low, Swift.min(high, count))
        }
    }

    /// target[k] = x[channel, row, taps.first + k*taps.step] for k in taps.inside, 0 for the other
    /// k in 0..<taps.count and for a row outside the input: the in-bounds taps are one run, copied
    /// without per-element checks.
    @inline(__always)
    static func gatherRun<T: Element>(_ channel: UnsafeMutablePointer<T>, row: Int, _ x: Images<T>, _ g: Geometry, _ taps: Taps,
                                      into target: UnsafeMutablePointer<T>) {
        guard row >= 0 && row < g.height else {
            fillZeros(target, count: taps.count)
            return
        }
        let (low, high) = (taps.inside.lowerBound, taps.inside.upperBound)
        if low > 0 { fillZeros(target, count: low) }
        let start = channel + (row &* x.sH &+ (taps.first &+ low &* taps.step) &* x.sW)
        let readStride = taps.step &* x.sW
        if readStride == 1 {
            copyRun(from: start, to: target + low, count: high &- low)
        } else {
            for k in 0..<(high &- low) { target[low &+ k] = start[k &* readStride] }
        }
        if high < taps.count { fillZeros(target + high, count: taps.count &- high) }
    }

    /// Copies `count` elements inline: the runs packed are a few dozen elements long, shorter than
    /// what a call to memmove pays for.
    @inline(__always)
    static func copyRun<T>(from source: UnsafePointer<T>, to target: UnsafeMutablePointer<T>, count: Int) {
        let bytes = count &* MemoryLayout<T>.stride
        let from = UnsafeRawPointer(source), to = UnsafeMutableRawPointer(target)
        var offset = 0
        while offset &+ 32 <= bytes {
            to.storeBytes(of: from.loadUnaligned(fromByteOffset: offset, as: SIMD8<UInt32>.self), toByteOffset: offset, as: SIMD8<UInt32>.self)
            offset &+= 32
        }
        while offset < bytes {  // element sizes are multiples of 4 bytes
            to.storeBytes(of: from.loadUnaligned(fromByteOffset: offset, as: UInt32.self), toByteOffset: offset, as: UInt32.self)
            offset &+= 4
        }
    }

    /// Writes `count` zeros inline (all-zero bits are 0 for float32 and float64).
    @inline(__always)
    static func fillZeros<T>(_ target: UnsafeMutablePointer<T>, count: Int) {
        let bytes = count &* MemoryLayout<T>.stride
        let to = UnsafeMutableRawPointer(target)
        var offset = 0
        while offset &+ 32 <= bytes {
            to.storeBytes(of: SIMD8<UInt32>(), toByteOffset: offset, as: SIMD8<UInt32>.self)
            offset &+= 32
        }
        while offset < bytes {
            to.storeBytes(of: UInt32(0), toByteOffset: offset, as: UInt32.self)
            offset &+= 4
        }
    }

    /// Copies rows x count planes of `plane` elements, plane (r, n) from source + r * sourceRow +
    /// n * sourceImage to target + r * targetRow + n * targetImage, split across threads: a chunk's
    /// product into its images' output planes, or a chunk's input planes side by side.
    static func copyPlanes<T>(rows: Int, count: Int, plane: Int, from source: UnsafePointer<T>, sourceRow: Int, sourceImage: Int,
                              to target: UnsafeMutablePointer<T>, targetRow: Int, targetImage: Int) {
        Parallel.forEach(rows &* count, grain: threadGrain / plane + 1) { runs in
            for run in runs {
                let r = run / count, n = run % count
                copyRun(from: source + (r &* sourceRow &+ n &* sourceImage),
                        to: target + (r &* targetRow &+ n &* targetImage), count: plane)
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
        let pair = { (values: [Int], name: String) in try Convolution.pair(values, name, op: op) }
        let stride = try pair(stride, "stride"), padding = try pair(padding, "padding"), dilation = try pair(dilation, "dilation")
        try Convolution.checkConvParams(stride: stride, padding: padding, dilation: dilation, groups: groups)
        return try Convolution.applyWithBias(.conv2d, x, weight, bias: bias, channels: "C",
                                             .conv(stride: stride, padding: padding, dilation: dilation, groups: groups), op: op)
    }

    /// Transposed 2-D convolution as torch.nn.functional.conv_transpose2d (conv2d's adjoint in x,
    /// sometimes called a deconvolution): x [N, C_in, H, W] (or [C_in, H, W]), weight [C_in,
    /// C_out/groups, KH, KW], bias [C_out]; the result is [N, C_out, H', W'] with
    /// H' = (H - 1) stride - 2 padding + dilation (KH - 1) + output_padding + 1 (likewise W').
    /// stride, padding, output_padding and dilation are (H, W) pairs or one value for both;
    /// output_padding, the rows and columns added at the bottom and right, must be smaller than
    /// either the stride or the dilation of its dim (torch's rule). Float dtypes; float32 with
    /// float64 computes in float64.
    public static func convTranspose2d(_ x: Value, _ weight: Value, bias: Value? = nil, stride: [Int] = [1, 1],
                                       padding: [Int] = [0, 0], outputPadding: [Int] = [0, 0], groups: Int = 1,
                                       dilation: [Int] = [1, 1]) throws -> Value {
        let op = "conv_transpose2d"
        let pair = { (values: [Int], name: String) in try Convolution.pair(values, name, op: op) }
        let stride = try pair(stride, "stride"), padding = try pair(padding, "padding"), dilation = try pair(dilation, "dilation")
        let outputPadding = try pair(outputPadding, "output_padding")
        try Convolution.checkConvParams(stride: stride, padding: padding, dilation: dilation, groups: groups, op: op)
        try Convolution.checkOutputPadding(outputPadding, stride: stride, dilation: dilation)
        return try Convolution.applyWithBias(.convTranspose2d, x, weight, bias: bias, channels: "C_in",
                                             .convTranspose(stride: stride, padding: padding, dilation: dilation, groups: groups,
                                                            outputPadding: outputPadding), op: op)
    }
}

extension Convolution {
    /// An (H, W) pair from one value (for both) or two, for the public ops' arguments.
    static func pair(_ values: [Int], _ name: String, op: String) throws -> [Int] {
        switch values.count {
        case 1: return [values[0], values[0]]
        case 2: return values
        default: throw SwiftFuncError.invalidArgument(op, "\(name) must have 1 or 2 values, got \(values.count)")
        }
    }

    /// The public conv ops' common part, after their params are checked: an unbatched
    /// [`channels`, H, W] input is a batch of one (as in torch), the operands are promoted to one
    /// float dtype, and the bias is added to the primitive's output.
    static func applyWithBias(_ primitive: Primitive, _ x: Value, _ weight: Value, bias: Value?, channels: String,
                              _ params: Params, op: String) throws -> Value {
        if x.rank == 3 {
            let batched = try applyWithBias(primitive, Ops.unsqueeze(x, dim: 0), weight, bias: bias, channels: channels, params, op: op)
            return try Ops.squeeze(batched, dims: [0])
        }
        guard x.rank == 4 else {
            throw SwiftFuncError.shape(op, "input must be [N, \(channels), H, W] or [\(channels), H, W], got shape \(formatShape(x.shape))")
        }
        try Contraction.checkFloatOperands(x.dtype, weight.dtype, op: op)
        let common = DType.promoteStrong(x.dtype, weight.dtype)
        let output = try emit(primitive, [Ops.cast(x, to: common), Ops.cast(weight, to: common)], params)
        return try addChannelBias(output, bias, op: op)
    }

    /// A convolution's output [N, O, H, W] plus bias [O] (none: the output itself) along its
    /// channels.
    static func addChannelBias(_ output: Value, _ bias: Value?, op: String) throws -> Value {
        guard let bias else { return output }
        guard bias.rank == 1, bias.shape[0] == output.shape[1] else {
            throw SwiftFuncError.shape(op, "bias must have shape [\(output.shape[1])], got \(formatShape(bias.shape))")
        }
        return try Ops.add(output, Ops.reshape(bias, shape: [output.shape[1], 1, 1]))
    }
}
