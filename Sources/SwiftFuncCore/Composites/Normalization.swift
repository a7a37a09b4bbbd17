// Normalization composites (torch.nn.functional): batch_norm, group_norm, normalize,
// cosine_similarity. Written only with `Ops` calls, so every transform sees their primitives.

/// batch_norm's result: the normalized input and, when it was given running statistics and
/// trained, their updated values (nil otherwise).
public struct BatchNormResult {
    public var output: Value
    public var runningMean: Value?
    public var runningVar: Value?
}

extension Ops {
    /// Batch normalization (torch.nn.functional.batch_norm) of x [N, C, ...] per channel C.
    /// Training: with the batch's mean and biased variance; the running statistics (when given)
    /// are returned updated as (1 - momentum) r + momentum s, with the unbiased variance and no
    /// derivative (torch updates them in place, outside autograd). Evaluation: with the running
    /// statistics, which are then required. weight and bias are [C].
    ///
    /// Under vmap, updating running statistics that are the same for every element with a batched
    /// input is an error (torch.func raises for such an in-place update; see
    /// replace_all_batch_norm_modules_).
    public static func batchNorm(_ x: Value, runningMean: Value?, runningVar: Value?, weight: Value? = nil, bias: Value? = nil,
                                 training: Bool, momentum: Double = 0.1, eps: Double = 1e-5) throws -> BatchNormResult {
        let op = "batch_norm"
        try requireFloat(x, op)
        guard x.rank >= 2 else { throw SwiftFuncError.shape(op, "input must be [N, C, ...], got shape \(formatShape(x.shape))") }
        let channels = x.shape[1]
        for (name, value) in [("running_mean", runningMean), ("running_var", runningVar), ("weight", weight), ("bias", bias)] {
            if let value, value.shape != [channels] {
                throw SwiftFuncError.shape(op, "\(name) must have shape [\(channels)], got \(formatShape(value.shape))")
            }
        }
        guard (runningMean == nil) == (runningVar == nil) else {
            throw SwiftFuncError.invalidArgument(op, "running_mean and running_var must both be given or both be absent")
        }
        // Per-channel statistics broadcast as [C, 1, ...] against x.
        let perChannel = [channels] + [Int](repeating: 1, count: x.rank - 2)
        let dims = [0] + Array(2..<x.rank)
        var result = BatchNormResult(output: x, runningMean: nil, runningVar: nil)
        let centered: Value, variance: Value
        if training {
            let count = x.count / Swift.max(channels, 1)
            guard count > 1 else {
                throw SwiftFuncError.invalidArgument(op, "expected more than 1 value per channel when training, got input shape \(formatShape(x.shape))")
            }
            let mean = try mean(x, dims: dims, keepdim: true)
            centered = try sub(x, mean)
            variance = try Ops.mean(mul(centered, centered), dims: dims, keepdim: true)
            if let runningMean, let runningVar {
                try checkRunningStatisticUpdate(x, runningMean, op: op)
                try checkRunningStatisticUpdate(x, runningVar, op: op)
                let batchMean = try reshape(detach(mean), shape: [channels])
                let unbiased = try mul(reshape(detach(variance), shape: [channels]), scalar(Double(count) / Double(count - 1)))
                let keep = try scalar(1 - momentum), take = try scalar(momentum)
                result.runningMean = try peelDerivatives(add(mul(runningMean, keep), mul(batchMean, take)), op: op)
                result.runningVar = try peelDerivatives(add(mul(runningVar, keep), mul(unbiased, take)), op: op)
            }
        } else {
            guard let runningMean, let runningVar else {
                throw SwiftFuncError.invalidArgument(op, "running_mean and running_var must be given when not training")
            }
            centered = try sub(x, reshape(runningMean, shape: perChannel))
            variance = try reshape(runningVar, shape: perChannel)
        }
        var output = try mul(centered, rsqrt(add(variance, scalar(eps))))
        if let weight { output = try mul(output, reshape(weight, shape: perChannel)) }
        if let bias { output = try add(output, reshape(bias, shape: perChannel)) }
        result.output = output
        return result
    }

    /// Refuses an update of `statistic` that depends on a vmap dim it does not have: x batched by
    /// a vmap under which the statistic is the same for every element.
    private static func checkRunningStatisticUpdate(_ x: Value, _ statistic: Value, op: String) throws {
        let statisticOwners = batchOwners(statistic)
        for owner in batchOwners(x) where !statisticOwners.contains(where: { $0 === owner }) {
            throw SwiftFuncError.transform(op, "cannot update the running statistics in place under vmap: they are the same for every element but the batch statistics vary along the mapped dim (as torch.func, which raises for this in-place update); use swiftfunc.func.replace_all_batch_norm_modules_, track_running_stats=False, eval mode, or batched running statistics")
        }
    }

    /// The vmap interpreters whose batched values `value` is built on.
    private static func batchOwners(_ value: Value) -> [TracingInterpreter] {
        var owners = [TracingInterpreter](), current: Value? = value
        while let tracer = current as? Tracer {
            if tracer is BatchTracer { owners.append(tracer.owner) }
            current = tracer.underlyingValue
        }
        return owners
    }

    /// `value` without the differentiation tracers around it (the primal one level down, and so
    /// on): running statistics carry no derivative and must not hold a grad or jvp tracer, which
    /// would be escaped once the transform returns. A value of a staged trace (jit) has no data to
    /// keep: updating running statistics there is refused rather than left to fail later as an
    /// escaped tracer.
    private static func peelDerivatives(_ value: Value, op: String) throws -> Value {
        var current = value
        while let tracer = current as? Tracer, !(tracer is BatchTracer), let primal = tracer.readableValue {
            current = primal
        }
        var inner: Value? = current
        while let tracer = inner as? Tracer {
            guard tracer is BatchTracer || tracer.readableValue != nil else {
                throw SwiftFuncError.transform(op, "cannot update the running statistics inside jit (the new values would be traced, not data); use eval mode or track_running_stats=False in a jitted function")
            }
            inner = tracer.underlyingValue
        }
        return current
    }

    /// Group normalization (torch.nn.functional.group_norm) of x [N, C, ...] over groups of
    /// C / numGroups channels and the spatial dims, with optional per-channel weight and bias [C].
    public static func groupNorm(_ x: Value, numGroups: Int, weight: Value? = nil, bias: Value? = nil, eps: Double = 1e-5) throws -> Value {
        let op = "group_norm"
        try requireFloat(x, op)
        guard x.rank >= 2 else { throw SwiftFuncError.shape(op, "input must be [N, C, ...], got shape \(formatShape(x.shape))") }
        let channels = x.shape[1]
        // numGroups <= max(channels, 1): with zero channels every count divides, and a huge group count
        // would overflow the grouped shape's size.
        guard numGroups > 0, channels % numGroups == 0, numGroups <= Swift.max(channels, 1) else {
            throw SwiftFuncError.invalidArgument(op, "expected the number of channels \(channels) to be divisible by num_groups \(numGroups)")
        }
        for (name, value) in [("weight", weight), ("bias", bias)] {
            if let value, value.shape != [channels] {
                throw SwiftFuncError.shape(op, "\(name) must have shape [\(channels)], got \(formatShape(value.shape))")
            }
        }
        let grouped = try reshape(x, shape: [x.shape[0], numGroups, x.count / Swift.max(1, x.shape[0] * numGroups)])
        let centered = try sub(grouped, mean(grouped, dims: [2], keepdim: true))
        let variance = try mean(mul(centered, centered), dims: [2], keepdim: true)
        var output = try reshape(mul(centered, rsqrt(add(variance, scalar(eps)))), shape: x.shape)
        let perChannel = [channels] + [Int](repeating: 1, count: x.rank - 2)
        if let weight { output = try mul(output, reshape(weight, shape: perChannel)) }
        if let bias { output = try add(output, reshape(bias, shape: perChannel)) }
        return output
    }

    /// The p-norm of x along `dim` (kept), with derivative 0 where the norm is 0 (torch's
    /// subgradient): sqrt and pow are evaluated at 1 there, on the discarded side of a `where`.
    static func safeNorm(_ x: Value, p: Double, dim: Int) throws -> Value {
        if p == .infinity { return try amax(abs(x), dims: [dim], keepdim: true) }
        if p == 1 { return try sum(abs(x), dims: [dim], keepdim: true) }
        let powered = p == 2 ? try mul(x, x) : try pow(abs(x), scalar(p))
        let total = try sum(powered, dims: [dim], keepdim: true)
        let positive = try gt(total, scalar(0))
        let safe = try `where`(positive, total, scalar(1))
        let root = p == 2 ? try sqrt(safe) : try pow(safe, scalar(1 / p))
        return try `where`(positive, root, mul(total, scalar(0)))
    }

    /// x / max(||x||_p, eps) along `dim` (torch.nn.functional.normalize); p > 0 or infinity.
    public static func normalize(_ x: Value, p: Double = 2, dim: Int = 1, eps: Double = 1e-12) throws -> Value {
        let op = "normalize"
        try requireFloat(x, op)
        guard p > 0 else { throw SwiftFuncError.invalidArgument(op, "p must be positive, got \(p)") }
        let d = try ShapeChecks.normalize(dim: dim, rank: Swift.max(x.rank, 1), op: op)
        let lifted = x.rank == 0 ? try reshape(x, shape: [1]) : x
        let result = try div(lifted, maximum(safeNorm(lifted, p: p, dim: d), scalar(eps)))
        return x.rank == 0 ? try reshape(result, shape: []) : result
    }

    /// Cosine similarity along `dim` (torch.nn.functional.cosine_similarity): the sum of
    /// x1 / max(||x1||, eps) * x2 / max(||x2||, eps), x1 and x2 broadcast.
    public static func cosineSimilarity(_ x1: Value, _ x2: Value, dim: Int = 1, eps: Double = 1e-8) throws -> Value {
        let op = "cosine_similarity"
        try requireFloat(x1, op)
        try requireFloat(x2, op)
        let shape = try ShapeChecks.broadcast(x1.shape, x2.shape, op: op)
        let a = try expand(x1, shape: shape), b = try expand(x2, shape: shape)
        let d = try ShapeChecks.normalize(dim: dim, rank: shape.count, op: op)
        let unitA = try div(a, maximum(safeNorm(a, p: 2, dim: d), scalar(eps)))
        let unitB = try div(b, maximum(safeNorm(b, p: 2, dim: d), scalar(eps)))
        return try sum(mul(unitA, unitB), dims: [d])
    }
}
