/// Diagonals and triangles built from movement ops: diagonal, diag_embed, diag, trace, tril, triu.
/// They are linear, and their derivatives and batching rules are those of the ops they use.
extension Ops {
    /// The `offset` diagonal of the matrices over dims `dim1` and `dim2` (torch.diagonal): those
    /// dims are removed and the diagonal becomes the last dim. The two dims are moved last and
    /// flattened, and the diagonal is the slice with step columns + 1 (a view when they already
    /// are the last two contiguous dims).
    public static func diagonal(_ x: Value, offset: Int = 0, dim1: Int = 0, dim2: Int = 1, op: String = "diagonal") throws -> Value {
        guard x.rank >= 2 else {
            throw SwiftFuncError.shape(op, "expected a tensor of at least 2 dims, got \(formatShape(x.shape))")
        }
        let d1 = try ShapeChecks.normalize(dim: dim1, rank: x.rank, op: op)
        let d2 = try ShapeChecks.normalize(dim: dim2, rank: x.rank, op: op)
        guard d1 != d2 else {
            throw SwiftFuncError.invalidArgument(op, "dim1 and dim2 cannot be the same dim (\(dim1), \(dim2))")
        }
        let rest = (0..<x.rank).filter { $0 != d1 && $0 != d2 }
        let moved = try permute(x, dims: rest + [d1, d2])
        let rows = x.shape[d1], columns = x.shape[d2]
        // Length of the diagonal; an offset past the matrix gives an empty one (no overflow).
        let length: Int
        if offset >= 0 {
            length = offset >= columns ? 0 : Swift.min(rows, columns - offset)
        } else {
            length = offset <= -rows ? 0 : Swift.min(rows + offset, columns)
        }
        let batch = rest.map { x.shape[$0] }
        let flat = try reshape(moved, shape: batch + [rows * columns])
        guard length > 0 else {
            return try emit(.slice, [flat], .slice(dim: batch.count, start: 0, count: 0, step: 1))
        }
        // Element (i, i + offset) sits at i * (columns + 1) + offset (offset >= 0), element
        // (i - offset, i) at i * (columns + 1) - offset * columns.
        let start = offset >= 0 ? offset : -offset * columns
        return try emit(.slice, [flat], .slice(dim: batch.count, start: start, count: length, step: columns + 1))
    }

    /// Matrices whose `offset` diagonal over the new dims `dim1` and `dim2` holds x's last dim,
    /// zeros elsewhere (torch.diag_embed); the dims count in the result's rank (x's + 1). Built by
    /// movement alone (no multiplication by an identity, which would turn inf into NaN): x's rows
    /// padded with n zeros, flattened and cut at n * n elements lay x on the diagonal.
    public static func diagEmbed(_ x: Value, offset: Int = 0, dim1: Int = -2, dim2: Int = -1, op: String = "diag_embed") throws -> Value {
        guard x.rank >= 1 else { throw SwiftFuncError.shape(op, "expected a tensor of at least 1 dim, got a 0-d tensor") }
        let rank = x.rank + 1
        let d1 = try ShapeChecks.normalize(dim: dim1, rank: rank, op: op)
        let d2 = try ShapeChecks.normalize(dim: dim2, rank: rank, op: op)
        guard d1 != d2 else {
            throw SwiftFuncError.invalidArgument(op, "dim1 and dim2 cannot be the same dim (\(dim1), \(dim2))")
        }
        let n = x.shape[x.rank - 1]
        let batch = Array(x.shape.dropLast())
        let (size, overflow) = n.addingReportingOverflow(offset.magnitude > Int.max ? Int.max : Swift.abs(offset))
        guard !overflow else { throw SwiftFuncError.shape(op, "offset \(offset) makes matrices too large") }
        _ = try ShapeChecks.validate(batch + [size, size], itemSize: x.dtype.itemSize, op: op)
        let column = try reshape(x, shape: batch + [n, 1])
        let padded = try pad(column, pad: [0, n])
        let flat = try reshape(padded, shape: batch + [n * (n + 1)])
        let cut = try emit(.slice, [flat], .slice(dim: batch.count, start: 0, count: n * n, step: 1))
        var square = try reshape(cut, shape: batch + [n, n])
        if offset > 0 {
            square = try pad(square, pad: [offset, 0, 0, offset])
        } else if offset < 0 {
            square = try pad(square, pad: [0, -offset, -offset, 0])
        }
        // Result dim d1 is the rows (square's dim batch.count), d2 the columns; the batch dims fill
        // the other places in order.
        var order: [Int] = []
        var nextBatch = 0
        for d in 0..<rank {
            if d == d1 {
                order.append(batch.count)
            } else if d == d2 {
                order.append(batch.count + 1)
            } else {
                order.append(nextBatch)
                nextBatch += 1
            }
        }
        return try permute(square, dims: order)
    }

    /// torch.diag: a 1-D x becomes the matrix with x on its `diagonal`; a 2-D x gives that
    /// diagonal as a 1-D tensor.
    public static func diag(_ x: Value, diagonal offset: Int = 0) throws -> Value {
        switch x.rank {
        case 1: return try diagEmbed(x, offset: offset, op: "diag")
        case 2: return try diagonal(x, offset: offset, op: "diag")
        default: throw SwiftFuncError.shape("diag", "expected a 1-D or 2-D tensor, got \(formatShape(x.shape))")
        }
    }

    /// The sum of the main diagonal of a 2-D tensor (torch.trace; integers give int64).
    public static func trace(_ x: Value) throws -> Value {
        guard x.rank == 2 else { throw SwiftFuncError.shape("trace", "expected a 2-D tensor, got \(formatShape(x.shape))") }
        return try sum(diagonal(x, op: "trace"))
    }

    /// x where `keep(column - row)` holds over the last two dims, 0 elsewhere (through where, so
    /// inf and NaN outside the triangle become 0 as in torch).
    private static func triangle(_ x: Value, diagonal k: Int, op: String, lower: Bool) throws -> Value {
        guard x.rank >= 2 else {
            throw SwiftFuncError.shape(op, "expected a tensor of at least 2 dims, got \(formatShape(x.shape))")
        }
        let rows = x.shape[x.rank - 2], columns = x.shape[x.rank - 1]
        // Clamped so that any int64 offset is exact as a double and column - row cannot reach it.
        let bound = Double(Swift.max(-rows - 1, Swift.min(k, columns + 1)))
        let r = try reshape(arange(0, Double(rows), dtype: .int64), shape: [rows, 1])
        let c = try reshape(arange(0, Double(columns), dtype: .int64), shape: [1, columns])
        let offsets = try sub(c, r)
        let limit = try full(shape: [], value: bound, dtype: .int64)
        let mask = lower ? try le(offsets, limit) : try ge(offsets, limit)
        return try `where`(mask, x, full(shape: [], value: 0, dtype: x.dtype))
    }

    /// The lower triangle of the matrices in the last two dims (torch.tril): elements with
    /// column - row <= diagonal, zeros above.
    public static func tril(_ x: Value, diagonal: Int = 0) throws -> Value {
        try triangle(x, diagonal: diagonal, op: "tril", lower: true)
    }

    /// The upper triangle (torch.triu): elements with column - row >= diagonal, zeros below.
    public static func triu(_ x: Value, diagonal: Int = 0) throws -> Value {
        try triangle(x, diagonal: diagonal, op: "triu", lower: false)
    }
}
