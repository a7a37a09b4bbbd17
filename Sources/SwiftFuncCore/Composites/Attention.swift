// scaled_dot_product_attention, embedding and conv1d (torch.nn.functional), written only with
// `Ops` calls, so every transform sees their primitives.

/// How scaled_dot_product_attention masks its scores.
public enum AttentionMask {
    /// No mask.
    case none
    /// A bool mask (true: take part) or a float mask added to the scores, broadcast to [..., L, S].
    case mask(Value)
    /// The lower-triangular mask: query i attends keys 0...i (torch's is_causal).
    case causal
}

extension Ops {
    /// Attention as torch.nn.functional.scaled_dot_product_attention: softmax(q k^T scale + mask)
    /// v, for q [..., L, E], k [..., S, E], v [..., S, Ev] (leading dims broadcast); scale defaults
    /// to 1 / sqrt(E); dropout with probability `dropoutP` is applied to the attention weights. A
    /// query row whose keys are all masked gives NaN, as torch's math path.
    public static func scaledDotProductAttention(_ query: Value, _ key: Value, _ value: Value, mask: AttentionMask = .none,
                                                 dropoutP: Double = 0, scale: Double? = nil) throws -> Value {
        let op = "scaled_dot_product_attention"
        for (name, t) in [("query", query), ("key", key), ("value", value)] {
            try requireFloat(t, op)
            guard t.rank >= 2 else { throw SwiftFuncError.shape(op, "\(name) must have at least 2 dims, got shape \(formatShape(t.shape))") }
        }
        let e = query.shape[query.rank - 1]
        guard key.shape[key.rank - 1] == e else {
            throw SwiftFuncError.shape(op, "query \(formatShape(query.shape)) and key \(formatShape(key.shape)) must have the same last dim")
        }
        guard key.shape[key.rank - 2] == value.shape[value.rank - 2] else {
            throw SwiftFuncError.shape(op, "key \(formatShape(key.shape)) and value \(formatShape(value.shape)) must have the same number of keys")
        }
        let factor = scale ?? 1 / Double(e).squareRoot()
        var scores = try mul(matmul(query, transpose(key, key.rank - 2, key.rank - 1)), scalar(factor))
        let (l, s) = (query.shape[query.rank - 2], key.shape[key.rank - 2])
        switch mask {
        case .none:
            break
        case .causal:
            let rows = try reshape(arange(0, Double(l), 1, dtype: .int64), shape: [l, 1])
            let columns = try arange(0, Double(s), 1, dtype: .int64)
            scores = try `where`(le(columns, rows), scores, scalar(-.infinity))
        case let .mask(m):
            if m.dtype == .bool {
                scores = try `where`(m, scores, scalar(-.infinity))
            } else {
                try requireFloat(m, op)
                scores = try add(scores, m)
            }
        }
        var weights = try softmax(scores, dim: scores.rank - 1)
        if dropoutP > 0 { weights = try dropout(weights, p: dropoutP) }
        return try matmul(weights, value)
    }

    /// Rows of `weight` [V, D] at the integer `indices` (torch.nn.functional.embedding): result
    /// indices.shape + [D]. Rows looked up at `paddingIndex` (negative counts from V) get no
    /// gradient, as torch.
    public static func embedding(_ indices: Value, weight: Value, paddingIndex: Int? = nil) throws -> Value {
        let op = "embedding"
        guard weight.rank == 2 else { throw SwiftFuncError.shape(op, "weight must be 2-D [num_embeddings, embedding_dim], got shape \(formatShape(weight.shape))") }
        guard indices.dtype.isInteger else {
            throw SwiftFuncError.dtype(op, "indices must be int32 or int64, got \(indices.dtype)")
        }
        let rows = weight.shape[0]
        if let (index, value) = try firstIndex(in: indices, outside: 0..<rows) {
            throw SwiftFuncError.invalidArgument(op, "index \(value) at position \(index) is out of range for \(rows) embeddings")
        }
        let looked = try reshape(indexSelect(weight, dim: 0, index: reshape(indices, shape: [indices.count])),
                                 shape: indices.shape + [weight.shape[1]])
        guard var padding = paddingIndex else { return looked }
        if padding < 0 { padding += rows }
        guard padding >= 0 && padding < rows else {
            throw SwiftFuncError.invalidArgument(op, "padding_idx \(paddingIndex!) must be within num_embeddings \(rows)")
        }
        let isPadding = try unsqueeze(eq(indices, full(shape: [], value: Double(padding), dtype: indices.dtype)), dim: indices.rank)
        return try `where`(isPadding, detach(looked), looked)
    }

    /// 1-D convolution (torch.nn.functional.conv1d): x [N, C, L] or [C, L], weight [O, C/groups, K],
    /// bias [O]; a conv2d over rows of height 1.
    public static func conv1d(_ x: Value, _ weight: Value, bias: Value? = nil, stride: Int = 1, padding: Int = 0,
                              dilation: Int = 1, groups: Int = 1) throws -> Value {
        let op = "conv1d"
        guard x.rank == 2 || x.rank == 3 else {
            throw SwiftFuncError.shape(op, "input must be [N, C, L] or [C, L], got shape \(formatShape(x.shape))")
        }
        guard weight.rank == 3 else { throw SwiftFuncError.shape(op, "weight must be [O, C/groups, K], got shape \(formatShape(weight.shape))") }
        let output = try conv2d(unsqueeze(x, dim: x.rank - 1), unsqueeze(weight, dim: 2), bias: bias, stride: [1, stride],
                                padding: [0, padding], dilation: [1, dilation], groups: groups)
        return try squeeze(output, dims: [x.rank - 1])
    }
}
