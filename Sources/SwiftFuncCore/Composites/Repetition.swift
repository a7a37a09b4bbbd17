/// roll, repeat and tile, built from slices, concatenation, expand and reshape.
extension Ops {
    /// x rolled by `shifts[i]` along `dims[i]` (torch.roll): elements leaving one end come back at
    /// the other. Without dims, x is flattened, rolled by the single shift, and reshaped back.
    public static func roll(_ x: Value, shifts: [Int], dims: [Int] = []) throws -> Value {
        if dims.isEmpty {
            guard shifts.count == 1 else {
                throw SwiftFuncError.invalidArgument("roll", "without dims, shifts must have one entry, got \(shifts.count)")
            }
            let flat = try reshape(x, shape: [x.count])
            return try reshape(roll(flat, shifts: shifts, dims: [0]), shape: x.shape)
        }
        guard shifts.count == dims.count else {
            throw SwiftFuncError.invalidArgument("roll", "shifts (\(shifts.count) entries) and dims (\(dims.count) entries) must have the same length")
        }
        var result = x
        for (shift, dim) in zip(shifts, dims) {
            let d = try ShapeChecks.normalize(dim: dim, rank: Swift.max(x.rank, 1), op: "roll")
            guard x.rank > 0 else { continue }
            let n = x.shape[d]
            guard n > 0 else { continue }
            let s = ((shift % n) + n) % n
            guard s != 0 else { continue }
            let tail = try emit(.slice, [result], .slice(dim: d, start: n - s, count: s, step: 1))
            let head = try emit(.slice, [result], .slice(dim: d, start: 0, count: n - s, step: 1))
            result = try emit(.cat, [tail, head], .dim(d))
        }
        return result
    }

    /// x repeated `repeats[i]` times along dim i (torch.Tensor.repeat); repeats may have more
    /// entries than x has dims (x gets leading size-1 dims), never fewer.
    public static func `repeat`(_ x: Value, _ repeats: [Int], op: String = "repeat") throws -> Value {
        guard repeats.count >= x.rank else {
            throw SwiftFuncError.invalidArgument(op, "the number of repeats (\(repeats.count)) cannot be smaller than the number of dims (\(x.rank))")
        }
        guard repeats.count <= ShapeChecks.maxRank else {
            throw SwiftFuncError.shape(op, "\(repeats.count) repeats exceed the maximum rank of \(ShapeChecks.maxRank)")
        }
        if let bad = repeats.first(where: { $0 < 0 }) {
            throw SwiftFuncError.invalidArgument(op, "repeats must be non-negative, got \(bad)")
        }
        let shape = [Int](repeating: 1, count: repeats.count - x.rank) + x.shape
        let target = try zip(repeats, shape).map { r, size -> Int in
            let (product, overflow) = r.multipliedReportingOverflow(by: size)
            guard !overflow else { throw SwiftFuncError.shape(op, "repeating \(formatShape(x.shape)) by \(repeats) overflows") }
            return product
        }
        _ = try ShapeChecks.validate(target, itemSize: x.dtype.itemSize, op: op)
        var result = try reshape(x, shape: shape)
        // One dim at a time: a new dim of size r in front of dim i, expanded (a view), merged into
        // dim i by reshape (the copy); the rank grows by one at most, so any rank works.
        for (i, r) in repeats.enumerated() where r != 1 {
            var lifted = result.shape
            lifted.insert(1, at: i)
            var grown = lifted
            grown[i] = r
            let expanded = try expand(reshape(result, shape: lifted), shape: grown)
            var merged = result.shape
            merged[i] = r * result.shape[i]
            result = try reshape(expanded, shape: merged)
        }
        return result
    }

    /// x repeated `dims[i]` times along dim i (torch.tile): as repeat, except that fewer entries
    /// than x's dims are allowed (ones are prepended to them).
    public static func tile(_ x: Value, _ dims: [Int]) throws -> Value {
        let full = [Int](repeating: 1, count: Swift.max(0, x.rank - dims.count)) + dims
        return try `repeat`(x, full, op: "tile")
    }
}
