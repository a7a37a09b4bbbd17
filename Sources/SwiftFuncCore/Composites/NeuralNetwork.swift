/// torch.nn.functional composites: linear, layer_norm, cross_entropy, mse_loss, dropout.
/// How a loss reduces its per-element values (raw values are `sf_reduction`'s).
public enum Reduction: Int32, Sendable {
    case none = 0
    case mean = 1
    case sum = 2
}

extension Ops {
    /// x @ weight^T + bias (torch.nn.functional.linear); weight is [out, in] (or [in]).
    public static func linear(_ x: Value, weight: Value, bias: Value? = nil) throws -> Value {
        guard weight.rank == 1 || weight.rank == 2 else {
            throw SwiftFuncError.shape("linear", "weight must be 1-D or 2-D, got shape \(formatShape(weight.shape))")
        }
        let product = try matmul(x, weight.rank == 2 ? transpose(weight, 0, 1) : weight)
        guard let bias else { return product }
        return try add(product, bias)
    }

    /// Layer normalization over the trailing dims `normalizedShape`, with optional elementwise
    /// weight and bias of that shape (torch.nn.functional.layer_norm).
    public static func layerNorm(_ x: Value, normalizedShape: [Int], weight: Value? = nil, bias: Value? = nil,
                                 eps: Double = 1e-5) throws -> Value {
        try requireFloat(x, "layer_norm")
        let k = normalizedShape.count
        guard k >= 1, k <= x.rank, Array(x.shape.suffix(k)) == normalizedShape else {
            throw SwiftFuncError.shape("layer_norm", "normalized_shape \(formatShape(normalizedShape)) does not match the last dims of input shape \(formatShape(x.shape))")
        }
        for (name, parameter) in [("weight", weight), ("bias", bias)] {
            if let parameter, parameter.shape != normalizedShape {
                throw SwiftFuncError.shape("layer_norm", "\(name) has shape \(formatShape(parameter.shape)) but normalized_shape is \(formatShape(normalizedShape))")
            }
        }
        let dims = Array((x.rank - k)..<x.rank)
        let centered = try sub(x, mean(x, dims: dims, keepdim: true))
        let variance = try mean(mul(centered, centered), dims: dims, keepdim: true)
        var result = try mul(centered, rsqrt(add(variance, scalar(eps))))
        if let weight { result = try mul(result, weight) }
        if let bias { result = try add(result, bias) }
        return result
    }

    /// Cross-entropy of `logits` [N, C] (or [C]) against class indices `target` [N] (or 0-d).
    public static func crossEntropy(_ logits: Value, target: Value, reduction: Reduction = .mean) throws -> Value {
        guard logits.rank == 1 || logits.rank == 2 else {
            throw SwiftFuncError.shape("cross_entropy", "logits must be [C] or [N, C], got shape \(formatShape(logits.shape))")
        }
        guard target.dtype.isInteger else {
            throw SwiftFuncError.dtype("cross_entropy", "target must hold class indices (int32 or int64), got \(target.dtype)")
        }
        guard target.shape == Array(logits.shape.dropLast()) else {
            throw SwiftFuncError.shape("cross_entropy", "target shape \(formatShape(target.shape)) does not match logits shape \(formatShape(logits.shape))")
        }
        let classDim = logits.rank - 1
        let classes = logits.shape[classDim]
        guard classes > 0 else { throw SwiftFuncError.shape("cross_entropy", "logits have no classes") }
        // gather would read a negative index from the end; a class index must lie in [0, C).
        if let (index, value) = try Ops.firstIndex(in: target, outside: 0..<classes) {
            throw SwiftFuncError.invalidArgument("cross_entropy", "target \(value) at position \(index) is not a class index in [0, \(classes))")
        }
        let logProbabilities = try logSoftmax(logits, dim: classDim)
        let picked = try gather(logProbabilities, dim: classDim, index: unsqueeze(target, dim: classDim))
        let losses = try neg(squeeze(picked, dims: [classDim]))
        return try reduce(losses, reduction)
    }

    /// Mean squared error (torch.nn.functional.mse_loss); input and target broadcast.
    public static func mseLoss(_ input: Value, target: Value, reduction: Reduction = .mean) throws -> Value {
        let difference = try sub(input, target)
        // Integer input and target have no mean or gradient (torch refuses them too).
        try requireFloat(difference, "mse_loss")
        return try reduce(mul(difference, difference), reduction)
    }

    /// The losses reduced as `reduction` says.
    static func reduce(_ losses: Value, _ reduction: Reduction) throws -> Value {
        switch reduction {
        case .none: return losses
        case .mean: return try mean(losses)
        case .sum: return try sum(losses)
        }
    }

    /// 1 with probability p, else 0, elementwise (torch.bernoulli); p is a float tensor.
    public static func bernoulli(_ p: Value) throws -> Value {
        guard p.dtype.isFloatingPoint else {
            throw SwiftFuncError.dtype("bernoulli", "p must be a float tensor, got \(p.dtype)")
        }
        return try cast(lt(rand(shape: p.shape, dtype: p.dtype), p), to: p.dtype)
    }

    /// Dropout (torch.nn.functional.dropout): zeroes elements with probability p and scales the
    /// rest by 1/(1-p) when training; x itself otherwise.
    public static func dropout(_ x: Value, p: Double, training: Bool = true) throws -> Value {
        guard p >= 0 && p <= 1 else {
            throw SwiftFuncError.invalidArgument("dropout", "p must be between 0 and 1, got \(p)")
        }
        try requireFloat(x, "dropout")
        guard training, p > 0 else { return x }
        // p == 1 drops everything; multiplying by 0 keeps the result connected to x for transforms.
        guard p < 1 else { return try mul(x, scalar(0)) }
        let keep = try bernoulli(full(shape: x.shape, value: 1 - p, dtype: x.dtype))
        return try mul(mul(x, keep), scalar(1 / (1 - p)))
    }

    /// `steps` evenly spaced values from start to end inclusive (torch.linspace): the first half
    /// counts up from start and the second half down from end, so both ends are exact.
    public static func linspace(_ start: Double, _ end: Double, steps: Int, dtype: DType = .float32) throws -> Value {
        guard steps >= 0 else { throw SwiftFuncError.invalidArgument("linspace", "steps must be >= 0, got \(steps)") }
        guard start.isFinite, end.isFinite else { throw SwiftFuncError.invalidArgument("linspace", "start and end must be finite") }
        // The float64 index vector is the largest intermediate.
        try ShapeChecks.validate([steps], itemSize: 8, op: "linspace")
        guard steps > 1 else { return try full(shape: [steps], value: start, dtype: dtype) }
        let step = (end - start) / Double(steps - 1)
        let index = try arange(0, Double(steps), 1, dtype: .float64)
        let fromStart = try add(mul(index, scalar(step)), scalar(start))
        let fromEnd = try sub(scalar(end), mul(sub(scalar(Double(steps - 1)), index), scalar(step)))
        let firstHalf = try lt(index, scalar(Double(steps / 2)))
        return try cast(`where`(firstHalf, fromStart, fromEnd), to: dtype)
    }
}
