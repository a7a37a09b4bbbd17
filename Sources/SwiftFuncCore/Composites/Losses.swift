// Loss composites (torch.nn.functional): nll_loss, l1_loss, smooth_l1_loss, huber_loss,
// binary_cross_entropy (with logits), kl_div. Written only with `Ops` calls, so every transform
// sees their primitives. Branches are `where`s whose untaken side is kept finite, so that its
// derivative (multiplied by a zero cotangent) cannot turn into NaN.

extension Ops {
    /// Negative log-likelihood of log-probabilities `input` [N, C, d...] (or [C]) at class indices
    /// `target` [N, d...] (or 0-d), as torch.nn.functional.nll_loss: optional class weights [C];
    /// targets equal to `ignoreIndex` contribute nothing; the mean divides by the summed weights
    /// of the counted targets (NaN when none is counted, as torch).
    public static func nllLoss(_ input: Value, target: Value, weight: Value? = nil, ignoreIndex: Int = -100,
                               reduction: Reduction = .mean) throws -> Value {
        let op = "nll_loss"
        try requireFloat(input, op)
        guard input.rank >= 1 else { throw SwiftFuncError.shape(op, "input must have a class dim, got a 0-d tensor") }
        let classDim = input.rank == 1 ? 0 : 1
        var expected = input.shape
        expected.remove(at: classDim)
        guard target.dtype.isInteger else {
            throw SwiftFuncError.dtype(op, "target must hold class indices (int32 or int64), got \(target.dtype)")
        }
        guard target.shape == expected else {
            throw SwiftFuncError.shape(op, "target shape \(formatShape(target.shape)) does not match input shape \(formatShape(input.shape)) (expected \(formatShape(expected)))")
        }
        let classes = input.shape[classDim]
        if let weight, weight.shape != [classes] {
            throw SwiftFuncError.shape(op, "weight must have shape [\(classes)], got \(formatShape(weight.shape))")
        }
        if let (index, value) = try firstIndex(in: target, outside: 0..<classes, except: ignoreIndex) {
            throw SwiftFuncError.invalidArgument(op, "target \(value) at position \(index) is out of bounds for \(classes) classes")
        }
        let ignored = try eq(target, full(shape: [], value: Double(ignoreIndex), dtype: target.dtype))
        let safeTarget = try `where`(ignored, zeros(shape: [], dtype: target.dtype), target)
        let picked = try squeeze(gather(input, dim: classDim, index: unsqueeze(safeTarget, dim: classDim)), dims: [classDim])
        var weights = try cast(logicalNot(ignored), to: input.dtype)
        if let weight {
            let perTarget = try reshape(indexSelect(weight, dim: 0, index: reshape(safeTarget, shape: [target.count])), shape: target.shape)
            weights = try mul(weights, perTarget)
        }
        let losses = try neg(mul(picked, weights))
        switch reduction {
        case .none: return losses
        case .sum: return try sum(losses)
        case .mean: return try div(sum(losses), sum(weights))
        }
    }

    /// Logical not of a bool tensor.
    static func logicalNot(_ mask: Value) throws -> Value {
        try eq(mask, full(shape: [], value: 0, dtype: .bool))
    }

    /// Mean absolute error (torch.nn.functional.l1_loss); input and target broadcast.
    public static func l1Loss(_ input: Value, target: Value, reduction: Reduction = .mean) throws -> Value {
        let difference = try sub(input, target)
        try requireFloat(difference, "l1_loss")
        return try reduce(abs(difference), reduction)
    }

    /// Smooth L1 (torch.nn.functional.smooth_l1_loss): 0.5 d^2 / beta where |d| < beta, else
    /// |d| - 0.5 beta; beta 0 is the L1 loss.
    public static func smoothL1Loss(_ input: Value, target: Value, reduction: Reduction = .mean, beta: Double = 1) throws -> Value {
        guard beta >= 0 else { throw SwiftFuncError.invalidArgument("smooth_l1_loss", "beta must be non-negative, got \(beta)") }
        let distance = try abs(sub(input, target))
        try requireFloat(distance, "smooth_l1_loss")
        guard beta > 0 else { return try reduce(distance, reduction) }
        let quadratic = try div(mul(mul(distance, distance), scalar(0.5)), scalar(beta))
        let linear = try sub(distance, scalar(0.5 * beta))
        return try reduce(`where`(lt(distance, scalar(beta)), quadratic, linear), reduction)
    }

    /// Huber loss (torch.nn.functional.huber_loss): 0.5 d^2 where |d| < delta, else
    /// delta (|d| - 0.5 delta).
    public static func huberLoss(_ input: Value, target: Value, reduction: Reduction = .mean, delta: Double = 1) throws -> Value {
        guard delta > 0 else { throw SwiftFuncError.invalidArgument("huber_loss", "delta must be positive, got \(delta)") }
        let distance = try abs(sub(input, target))
        try requireFloat(distance, "huber_loss")
        let quadratic = try mul(mul(distance, distance), scalar(0.5))
        let linear = try mul(sub(distance, scalar(0.5 * delta)), scalar(delta))
        return try reduce(`where`(lt(distance, scalar(delta)), quadratic, linear), reduction)
    }

    /// Binary cross-entropy of probabilities `input` against `target` (same shape), as
    /// torch.nn.functional.binary_cross_entropy: -w (t log x + (1 - t) log(1 - x)) with each log
    /// clamped at -100 (torch's clamp, so 0 and 1 give finite losses). Inputs outside [0, 1] are
    /// not checked (torch checks them; that needs their values, which vmap and jit do not have).
    public static func binaryCrossEntropy(_ input: Value, target: Value, weight: Value? = nil,
                                          reduction: Reduction = .mean) throws -> Value {
        let op = "binary_cross_entropy"
        try requireFloat(input, op)
        guard target.shape == input.shape else {
            throw SwiftFuncError.shape(op, "target shape \(formatShape(target.shape)) must be the input shape \(formatShape(input.shape))")
        }
        let floor = try scalar(-100)
        let logX = try maximum(log(input), floor)
        let logNotX = try maximum(log(sub(scalar(1), input)), floor)
        var losses = try neg(add(mul(target, logX), mul(sub(scalar(1), target), logNotX)))
        if let weight { losses = try mul(losses, weight) }
        return try reduce(losses, reduction)
    }

    /// Binary cross-entropy of logits (torch.nn.functional.binary_cross_entropy_with_logits), in
    /// torch's stable form (1 - t) x + (1 + (p - 1) t) (log(1 + e^-|x|) + max(-x, 0)), with
    /// `posWeight` p (broadcast along the last dim) and an optional elementwise `weight`.
    public static func binaryCrossEntropyWithLogits(_ input: Value, target: Value, weight: Value? = nil,
                                                    posWeight: Value? = nil, reduction: Reduction = .mean) throws -> Value {
        let op = "binary_cross_entropy_with_logits"
        try requireFloat(input, op)
        guard target.shape == input.shape else {
            throw SwiftFuncError.shape(op, "target shape \(formatShape(target.shape)) must be the input shape \(formatShape(input.shape))")
        }
        let softplusNegative = try add(log1p(exp(neg(abs(input)))), relu(neg(input)))
        var losses: Value
        if let posWeight {
            let logWeight = try add(mul(sub(posWeight, scalar(1)), target), scalar(1))
            losses = try add(mul(sub(scalar(1), target), input), mul(logWeight, softplusNegative))
        } else {
            losses = try add(mul(sub(scalar(1), target), input), softplusNegative)
        }
        if let weight { losses = try mul(losses, weight) }
        return try reduce(losses, reduction)
    }

    /// Kullback-Leibler divergence (torch.nn.functional.kl_div) of log-probabilities `input` from
    /// `target` (probabilities, or log-probabilities with `logTarget`): t (log t - x), 0 where
    /// t = 0. torch's 'batchmean' is the sum divided by input.size(0) (the bindings do that).
    public static func klDiv(_ input: Value, target: Value, reduction: Reduction = .mean, logTarget: Bool = false) throws -> Value {
        let op = "kl_div"
        try requireFloat(input, op)
        let losses: Value
        if logTarget {
            losses = try mul(exp(target), sub(target, input))
        } else {
            try requireFloat(target, op)
            let positive = try gt(target, scalar(0))
            // log of 1 where t <= 0: that side is discarded, and must stay finite for the derivative.
            let safeLog = try log(`where`(positive, target, scalar(1)))
            losses = try `where`(positive, mul(target, sub(safeLog, input)), mul(target, scalar(0)))
        }
        return try reduce(losses, reduction)
    }
}
