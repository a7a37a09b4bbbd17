/// Vector and matrix norms (torch.linalg.vector_norm / matrix_norm, torch.norm), built from
/// reductions and elementwise ops.
extension Ops {
    /// `root(s)` where s > 0 and 0 where s == 0, written so that the derivative at 0 is 0, not
    /// NaN: the root only ever sees s where s != 0 (1 elsewhere), so its infinite slope at 0 never
    /// multiplies a zero cotangent (torch's subgradient of the 2-norm at x = 0 is 0).
    private static func rootVanishingAtZero(_ s: Value, _ root: (Value) throws -> Value) throws -> Value {
        let zero = try eq(s, scalar(0))
        let safe = try `where`(zero, ones(shape: [], dtype: s.dtype), s)
        return try `where`(zero, zeros(shape: [], dtype: s.dtype), root(safe))
    }

    /// The `ord` vector norm of x over `dims` (nil: all), as torch.linalg.vector_norm: ord 2 is
    /// sqrt(sum |x|^2), inf the largest |x|, -inf the smallest, 0 the count of nonzeros, and any
    /// other p (sum |x|^p)^(1/p). Float inputs only. The gradient at x = 0 is 0 (torch's choice).
    public static func vectorNorm(_ x: Value, ord: Double = 2, dims: [Int]? = nil, keepdim: Bool = false, op: String = "vector_norm") throws -> Value {
        guard x.dtype.isFloatingPoint else {
            throw SwiftFuncError.dtype(op, "expected a float tensor, got \(x.dtype)")
        }
        guard !ord.isNaN else { throw SwiftFuncError.invalidArgument(op, "ord must not be NaN") }
        let reduced = try ShapeChecks.normalize(dims: dims, rank: x.rank, op: op)
        // Like a max, these have no value on an empty set (torch refuses them too).
        if ord < 0 || ord == .infinity, let d = reduced.first(where: { x.shape[$0] == 0 }) {
            throw SwiftFuncError.shape(op, "ord \(ord) of an empty dim (dim \(d) of \(formatShape(x.shape))) is undefined")
        }
        if ord == .infinity || ord == -.infinity {
            let magnitude = try abs(x)
            return ord > 0 ? try amax(magnitude, dims: reduced, keepdim: keepdim) : try amin(magnitude, dims: reduced, keepdim: keepdim)
        }
        if ord == 0 {
            return try cast(sum(ne(x, scalar(0)), dims: reduced, keepdim: keepdim), to: x.dtype)
        }
        if ord == 1 {
            return try sum(abs(x), dims: reduced, keepdim: keepdim)
        }
        if ord == 2 {
            return try rootVanishingAtZero(sum(mul(x, x), dims: reduced, keepdim: keepdim)) { try sqrt($0) }
        }
        let powered = try sum(pow(abs(x), scalar(ord)), dims: reduced, keepdim: keepdim)
        // For p < 0 a zero entry makes the sum inf and the norm 0, with no singular root.
        guard ord > 0 else { return try pow(powered, scalar(1 / ord)) }
        return try rootVanishingAtZero(powered) { try pow($0, scalar(1 / ord)) }
    }

    /// The orders matrix_norm accepts, by their torch spelling.
    public enum MatrixNormOrder: String, Sendable {
        case frobenius = "fro", nuclear = "nuc"
        case one = "1", minusOne = "-1", two = "2", minusTwo = "-2", infinity = "inf", minusInfinity = "-inf"
    }

    /// The `ord` norm of the matrices over dims (dim0, dim1), as torch.linalg.matrix_norm: "fro"
    /// (Frobenius), 1 / -1 (largest / smallest column sum of |x|), inf / -inf (largest /
    /// smallest row sum), "nuc" (sum of the singular values), 2 / -2 (largest / smallest one).
    public static func matrixNorm(_ x: Value, ord: MatrixNormOrder = .frobenius, dims: (Int, Int) = (-2, -1), keepdim: Bool = false) throws -> Value {
        let op = "matrix_norm"
        guard x.dtype.isFloatingPoint else { throw SwiftFuncError.dtype(op, "expected a float tensor, got \(x.dtype)") }
        guard x.rank >= 2 else { throw SwiftFuncError.shape(op, "expected a tensor of at least 2 dims, got \(formatShape(x.shape))") }
        let d0 = try ShapeChecks.normalize(dim: dims.0, rank: x.rank, op: op)
        let d1 = try ShapeChecks.normalize(dim: dims.1, rank: x.rank, op: op)
        guard d0 != d1 else { throw SwiftFuncError.invalidArgument(op, "dims must be two different dims, got (\(dims.0), \(dims.1))") }
        let summedDim: Int, extremeDim: Int
        switch ord {
        case .frobenius:
            return try vectorNorm(x, ord: 2, dims: [d0, d1], keepdim: keepdim, op: op)
        case .nuclear, .two, .minusTwo:
            return try spectralNorm(x, ord: ord, dims: (d0, d1), keepdim: keepdim)
        case .one, .minusOne: (summedDim, extremeDim) = (d0, d1)
        case .infinity, .minusInfinity: (summedDim, extremeDim) = (d1, d0)
        }
        if x.shape[extremeDim] == 0 {
            throw SwiftFuncError.shape(op, "ord '\(ord.rawValue)' of matrices \(formatShape(x.shape)) with an empty dim is undefined")
        }
        let sums = try sum(abs(x), dims: [summedDim], keepdim: true)
        let largest = ord == .one || ord == .infinity
        let extreme = largest ? try amax(sums, dims: [extremeDim], keepdim: true) : try amin(sums, dims: [extremeDim], keepdim: true)
        return keepdim ? extreme : try squeeze(extreme, dims: [d0, d1])
    }

    /// 'nuc', 2 and -2 from the singular values of the matrices over (d0, d1) (moved last).
    private static func spectralNorm(_ x: Value, ord: MatrixNormOrder, dims: (Int, Int), keepdim: Bool) throws -> Value {
        let op = "matrix_norm"
        if ord != .nuclear, x.shape[dims.0] == 0 || x.shape[dims.1] == 0 {
            throw SwiftFuncError.shape(op, "ord '\(ord.rawValue)' of matrices \(formatShape(x.shape)) with an empty dim is undefined")
        }
        let others = (0..<x.rank).filter { $0 != dims.0 && $0 != dims.1 }
        let values = try svdvals(permute(x, dims: others + [dims.0, dims.1]))
        let last = values.rank - 1
        let reduced: Value
        switch ord {
        case .nuclear: reduced = try sum(values, dims: [last])
        case .two: reduced = try amax(values, dims: [last])
        default: reduced = try amin(values, dims: [last])
        }
        guard keepdim else { return reduced }
        let (low, high) = (Swift.min(dims.0, dims.1), Swift.max(dims.0, dims.1))
        return try unsqueeze(unsqueeze(reduced, dim: low), dim: high)
    }
}
