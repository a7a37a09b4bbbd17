/// Reductions built from primitives: mean, var, std, logsumexp, softmax, log_softmax.
extension Ops {
    /// Number of elements a reduction over `dims` (nil: all) of `x` combines (validated shapes
    /// keep every such product within Int).
    private static func reducedCount(_ x: Value, dims: [Int]?, op: String) throws -> Int {
        try ShapeChecks.normalize(dims: dims, rank: x.rank, op: op).reduce(1) { $0 &* x.shape[$1] }
    }

    /// Mean over `dims` (torch.mean); integer and bool inputs are an error, as in torch.
    public static func mean(_ x: Value, dims: [Int]? = nil, keepdim: Bool = false) throws -> Value {
        try requireFloat(x, "mean")
        let count = try reducedCount(x, dims: dims, op: "mean")
        // 1/0 = inf makes the mean of an empty reduction NaN, as torch's.
        return try mul(sum(x, dims: dims, keepdim: keepdim), scalar(1 / Double(count)))
    }

    /// Variance over `dims` with `correction` (1: unbiased, torch's default).
    public static func `var`(_ x: Value, dims: [Int]? = nil, correction: Int = 1, keepdim: Bool = false) throws -> Value {
        try requireFloat(x, "var")
        let count = try reducedCount(x, dims: dims, op: "var")
        let centered = try sub(x, mean(x, dims: dims, keepdim: true))
        let squares = try sum(mul(centered, centered), dims: dims, keepdim: keepdim)
        // A non-positive denominator gives inf or NaN, as in torch. In Double: any int64 correction
        // from a host is valid input and must not overflow.
        return try div(squares, scalar(Swift.max(0, Double(count) - Double(correction))))
    }

    /// Standard deviation: the square root of `var`.
    public static func std(_ x: Value, dims: [Int]? = nil, correction: Int = 1, keepdim: Bool = false) throws -> Value {
        try sqrt(`var`(x, dims: dims, correction: correction, keepdim: keepdim))
    }

    /// log(sum(exp(x))) over `dims`, shifted by the (detached) maximum so nothing overflows.
    public static func logsumexp(_ x: Value, dims: [Int]? = nil, keepdim: Bool = false) throws -> Value {
        let normalized = try ShapeChecks.normalize(dims: dims, rank: x.rank, op: "logsumexp")
        let maximum = try shiftingMaximum(x, dims: normalized)
        // An all -inf (or +inf) slice would give inf - inf = NaN; shift by 0 there instead (torch does the same).
        let infinite = try eq(abs(maximum), scalar(.infinity))
        let shift = try `where`(infinite, zeros(shape: maximum.shape, dtype: maximum.dtype), maximum)
        let result = try add(log(sum(exp(sub(x, shift)), dims: normalized, keepdim: true)), shift)
        return keepdim ? result : try squeeze(result, dims: normalized.isEmpty ? [] : normalized)
    }

    /// The detached maximum over `dims` (kept as size 1) that logsumexp and softmax subtract so
    /// that exp cannot overflow; 0 for an empty reduction, which amax refuses (logsumexp of
    /// nothing is then log 0 = -inf, as in torch).
    private static func shiftingMaximum(_ x: Value, dims: [Int]) throws -> Value {
        guard dims.allSatisfy({ x.shape[$0] > 0 }) else {
            var shape = x.shape
            for d in dims { shape[d] = 1 }
            return try zeros(shape: shape, dtype: x.dtype)
        }
        return try detach(amax(x, dims: dims, keepdim: true))
    }

    /// softmax along `dim`.
    public static func softmax(_ x: Value, dim: Int) throws -> Value {
        let d = try ShapeChecks.normalize(dim: dim, rank: Swift.max(x.rank, 1), op: "softmax")
        let dims = x.rank == 0 ? [] : [d]
        let shifted = try sub(x, shiftingMaximum(x, dims: dims))
        let exponentials = try exp(shifted)
        return try div(exponentials, sum(exponentials, dims: dims, keepdim: true))
    }

    /// log(softmax(x)) along `dim`, computed as x - logsumexp(x).
    public static func logSoftmax(_ x: Value, dim: Int) throws -> Value {
        let d = try ShapeChecks.normalize(dim: dim, rank: Swift.max(x.rank, 1), op: "log_softmax")
        return try sub(x, logsumexp(x, dims: x.rank == 0 ? [] : [d], keepdim: true))
    }
}
