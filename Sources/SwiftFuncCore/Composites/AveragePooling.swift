// Average pooling composites: avg_pool1d/2d and adaptive_avg_pool2d, built from reshape + mean,
// conv2d and matmul, so every transform sees their primitives' rules.

extension Ops {
    /// 2-D average pooling as torch.nn.functional.avg_pool2d: x [N, C, H, W] or [C, H, W]
    /// (float); kernel, stride and padding are (H, W) pairs. The divisor of a window is its size
    /// clipped to the padded input (count_include_pad) or to the input, or `divisorOverride`.
    public static func avgPool2d(_ x: Value, kernel: [Int], stride: [Int], padding: [Int] = [0, 0], ceilMode: Bool = false,
                                 countIncludePad: Bool = true, divisorOverride: Int? = nil) throws -> Value {
        let op = "avg_pool2d"
        guard x.rank == 3 || x.rank == 4 else {
            throw SwiftFuncError.shape(op, "input must be [N, C, H, W] or [C, H, W], got shape \(formatShape(x.shape))")
        }
        try requireFloat(x, op)
        if let divisorOverride, divisorOverride == 0 {
            throw SwiftFuncError.invalidArgument(op, "divisor must be not zero")
        }
        let window = Pooling.Window(kernel: kernel, stride: stride, padding: padding, dilation: [1, 1], ceilMode: ceilMode)
        try window.validate(op: op)
        let (h, w) = (x.shape[x.rank - 2], x.shape[x.rank - 1])
        let out = [try window.outputSize(h, axis: 0, op: op), try window.outputSize(w, axis: 1, op: op)]
        let lead = Array(x.shape.dropLast(2))
        // Tiles that cover the input exactly: a mean (or sum) over reshaped dims, which the
        // reduction kernel runs across the kept dims.
        if padding == [0, 0], stride == kernel, out[0] * kernel[0] == h, out[1] * kernel[1] == w {
            let tiles = try reshape(x, shape: lead + [out[0], kernel[0], out[1], kernel[1]])
            let dims = [lead.count + 1, lead.count + 3]
            guard let divisorOverride else { return try mean(tiles, dims: dims) }
            return try div(sum(tiles, dims: dims), scalar(Double(divisorOverride)))
        }
        // Otherwise window sums are a convolution of each plane with ones, on the input padded
        // (or cropped) so that the last window ends at its edge; then each is divided by its count.
        let planes = lead.reduce(1, *)
        var spatial = [Int]()
        for axis in [1, 0] {
            let size = axis == 0 ? h : w
            spatial += [padding[axis], (out[axis] - 1) * stride[axis] + kernel[axis] - size - padding[axis]]
        }
        let padded = try pad(reshape(x, shape: [planes, 1, h, w]), pad: spatial)
        let ones = try full(shape: [1, 1, kernel[0], kernel[1]], value: 1, dtype: x.dtype)
        let sums = try conv2d(padded, ones, stride: stride)
        var reciprocals = [Double]()
        reciprocals.reserveCapacity(out[0] * out[1])
        for i in 0..<out[0] {
            let (h0, h1) = windowExtent(i, size: h, window, axis: 0, countIncludePad: countIncludePad)
            for j in 0..<out[1] {
                let (w0, w1) = windowExtent(j, size: w, window, axis: 1, countIncludePad: countIncludePad)
                let count = divisorOverride ?? (h1 - h0) * (w1 - w0)
                reciprocals.append(1 / Double(count))
            }
        }
        let scale = try tensor(reciprocals, shape: out, dtype: x.dtype)
        return try reshape(mul(sums, scale), shape: lead + out)
    }

    /// torch's counted extent of window `i` along `axis`: clipped to the padded input, then (unless
    /// count_include_pad) to the input.
    private static func windowExtent(_ i: Int, size: Int, _ window: Pooling.Window, axis: Int,
                                     countIncludePad: Bool) -> (Int, Int) {
        let p = window.padding[axis]
        var start = i * window.stride[axis] - p
        var end = Swift.min(start + window.kernel[axis], size + p)
        if !countIncludePad {
            start = Swift.max(start, 0)
            end = Swift.min(end, size)
        }
        return (start, end)
    }

    /// 1-D average pooling (torch.nn.functional.avg_pool1d): x [N, C, L] or [C, L].
    public static func avgPool1d(_ x: Value, kernel: Int, stride: Int, padding: Int = 0, ceilMode: Bool = false,
                                 countIncludePad: Bool = true) throws -> Value {
        guard x.rank == 2 || x.rank == 3 else {
            throw SwiftFuncError.shape("avg_pool1d", "input must be [N, C, L] or [C, L], got shape \(formatShape(x.shape))")
        }
        let pooled = try avgPool2d(unsqueeze(x, dim: x.rank - 1), kernel: [1, kernel], stride: [1, stride], padding: [0, padding],
                                   ceilMode: ceilMode, countIncludePad: countIncludePad)
        return try squeeze(pooled, dims: [x.rank - 1])
    }

    /// Adaptive average pooling (torch.nn.functional.adaptive_avg_pool2d): output (OH, OW); window i
    /// along an axis of size n covers floor(i n / OH) ..< ceil((i + 1) n / OH). Computed as
    /// P_h @ x @ P_w^T with the averaging matrices (exact tiles use avg_pool2d's mean).
    public static func adaptiveAvgPool2d(_ x: Value, outputSize: [Int]) throws -> Value {
        let op = "adaptive_avg_pool2d"
        guard x.rank == 3 || x.rank == 4 else {
            throw SwiftFuncError.shape(op, "input must be [N, C, H, W] or [C, H, W], got shape \(formatShape(x.shape))")
        }
        try requireFloat(x, op)
        guard outputSize.count == 2, outputSize.allSatisfy({ $0 >= 0 }) else {
            throw SwiftFuncError.invalidArgument(op, "output_size must be 2 non-negative values, got \(outputSize)")
        }
        let size = [x.shape[x.rank - 2], x.shape[x.rank - 1]]
        guard size.allSatisfy({ $0 > 0 }) || outputSize.contains(0) else {
            throw SwiftFuncError.shape(op, "input has an empty spatial dim, shape \(formatShape(x.shape))")
        }
        if outputSize.allSatisfy({ $0 > 0 }), size[0] % outputSize[0] == 0, size[1] % outputSize[1] == 0 {
            let kernel = [size[0] / outputSize[0], size[1] / outputSize[1]]
            return try avgPool2d(x, kernel: kernel, stride: kernel)
        }
        // output_size is a host number: the matrix is a pool tensor, so a size past int64 is SF_ERR_SHAPE
        // and one past the memory limit SF_ERR_OUT_OF_MEMORY (a Swift array of it would abort), and
        // every index below stays under m * n, which the shape check bounds.
        func averaging(_ n: Int, _ m: Int) throws -> Value {  // [m, n]
            let matrix = try Tensor(uninitialized: TensorType(shape: [m, n], dtype: .float64), zeroed: true, op: op)
            if matrix.count > 0 {  // without elements m may still be huge (n is 0): no loop over it
                let entries = matrix.elements(as: Double.self)
                for i in 0..<m {
                    let start = i * n / m, end = ((i + 1) * n + m - 1) / m
                    for k in start..<end { entries[i * n + k] = 1 / Double(end - start) }
                }
            }
            return try cast(matrix, to: x.dtype)
        }
        let rows = try averaging(size[0], outputSize[0]), columns = try averaging(size[1], outputSize[1])
        return try matmul(matmul(rows, x), transpose(columns, 0, 1))
    }
}
