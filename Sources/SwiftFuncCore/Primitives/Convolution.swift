/// Convolution primitives: `conv2d` (NCHW cross-correlation, torch.nn.functional.conv2d without
/// bias) by im2col + GEMM.
enum Convolution {
    static func rules(for primitive: Primitive) -> PrimitiveRules {
        switch primitive {
        case .conv2d: return conv2d
        default:
            let name = "\(primitive)"
            return PrimitiveRules(
                name: name,
                type: { _, _ in throw SwiftFuncError.internal(name, "not a convolution primitive") },
                eval: { _, _, _ in throw SwiftFuncError.internal(name, "not a convolution primitive") })
        }
    }

    static let conv2d = PrimitiveRules(
        name: "conv2d",
        type: { args, params in
            guard args.count == 2 else { throw SwiftFuncError.invalidArgument("conv2d", "expects 2 arguments, got \(args.count)") }
            return try conv2dGeometry(args[0], args[1], params).type
        },
        eval: { args, params, type in
            let geometry = try conv2dGeometry(args[0].type, args[1].type, params)
            switch type.dtype {
            case .float32: return try conv2dKernel(Float.self, args[0], args[1], geometry)
            case .float64: return try conv2dKernel(Double.self, args[0], args[1], geometry)
            default: throw SwiftFuncError.dtype("conv2d", "expected float operands, got \(type.dtype)")
            }
        })

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
