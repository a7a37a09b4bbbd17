// Exports of the neural-network functions: pooling (the max_pool2d_indices primitive and
// composites), conv1d, normalization, embedding, losses, activations and attention.
import SwiftFuncCore

/// Out pointers for a second result: cleared first, so a failed call leaves NULL there too.
private func clear(_ outs: UnsafeMutablePointer<TensorHandle?>?...) {
    for out in outs { out?.pointee = nil }
}

@_cdecl("sf_max_pool2d")
public func sf_max_pool2d(_ x: TensorHandle?, _ kernel: UnsafePointer<Int64>?, _ stride: UnsafePointer<Int64>?,
                          _ padding: UnsafePointer<Int64>?, _ dilation: UnsafePointer<Int64>?, _ ceilMode: Bool,
                          _ out: UnsafeMutablePointer<TensorHandle?>?, _ outIndices: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    let op = "max_pool2d"
    clear(outIndices)
    return Boundary.run(op, out) {
        let (values, indices) = try Ops.maxPool2d(
            Boundary.value(x, op, "x"), kernel: Boundary.ints(kernel, 2, op, "kernel_size"), stride: Boundary.ints(stride, 2, op, "stride"),
            padding: Boundary.ints(padding, 2, op, "padding"), dilation: Boundary.ints(dilation, 2, op, "dilation"), ceilMode: ceilMode)
        if let outIndices { outIndices.pointee = Boundary.handle(indices) }
        return values
    }
}

@_cdecl("sf_max_pool1d")
public func sf_max_pool1d(_ x: TensorHandle?, _ kernel: Int64, _ stride: Int64, _ padding: Int64, _ dilation: Int64, _ ceilMode: Bool,
                          _ out: UnsafeMutablePointer<TensorHandle?>?, _ outIndices: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    let op = "max_pool1d"
    clear(outIndices)
    return Boundary.run(op, out) {
        let (values, indices) = try Ops.maxPool1d(Boundary.value(x, op, "x"), kernel: Int(kernel), stride: Int(stride),
                                                  padding: Int(padding), dilation: Int(dilation), ceilMode: ceilMode)
        if let outIndices { outIndices.pointee = Boundary.handle(indices) }
        return values
    }
}

@_cdecl("sf_avg_pool2d")
public func sf_avg_pool2d(_ x: TensorHandle?, _ kernel: UnsafePointer<Int64>?, _ stride: UnsafePointer<Int64>?,
                          _ padding: UnsafePointer<Int64>?, _ ceilMode: Bool, _ countIncludePad: Bool, _ divisorOverride: Int64,
                          _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    let op = "avg_pool2d"
    return Boundary.run(op, out) {
        try Ops.avgPool2d(Boundary.value(x, op, "x"), kernel: Boundary.ints(kernel, 2, op, "kernel_size"),
                          stride: Boundary.ints(stride, 2, op, "stride"), padding: Boundary.ints(padding, 2, op, "padding"),
                          ceilMode: ceilMode, countIncludePad: countIncludePad,
                          divisorOverride: divisorOverride == 0 ? nil : Int(divisorOverride))
    }
}

@_cdecl("sf_avg_pool1d")
public func sf_avg_pool1d(_ x: TensorHandle?, _ kernel: Int64, _ stride: Int64, _ padding: Int64, _ ceilMode: Bool,
                          _ countIncludePad: Bool, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("avg_pool1d", out) {
        try Ops.avgPool1d(Boundary.value(x, "avg_pool1d", "x"), kernel: Int(kernel), stride: Int(stride), padding: Int(padding),
                          ceilMode: ceilMode, countIncludePad: countIncludePad)
    }
}

@_cdecl("sf_adaptive_avg_pool2d")
public func sf_adaptive_avg_pool2d(_ x: TensorHandle?, _ outputSize: UnsafePointer<Int64>?,
                                   _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    let op = "adaptive_avg_pool2d"
    return Boundary.run(op, out) {
        try Ops.adaptiveAvgPool2d(Boundary.value(x, op, "x"), outputSize: Boundary.ints(outputSize, 2, op, "output_size"))
    }
}

@_cdecl("sf_conv1d")
public func sf_conv1d(_ x: TensorHandle?, _ weight: TensorHandle?, _ bias: TensorHandle?, _ stride: Int64, _ padding: Int64,
                      _ dilation: Int64, _ groups: Int64, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("conv1d", out) {
        try Ops.conv1d(Boundary.value(x, "conv1d", "x"), Boundary.value(weight, "conv1d", "weight"), bias: Boundary.optionalValue(bias),
                       stride: Int(stride), padding: Int(padding), dilation: Int(dilation), groups: Int(groups))
    }
}

@_cdecl("sf_batch_norm")
public func sf_batch_norm(_ x: TensorHandle?, _ runningMean: TensorHandle?, _ runningVar: TensorHandle?, _ weight: TensorHandle?,
                          _ bias: TensorHandle?, _ training: Bool, _ momentum: Double, _ eps: Double,
                          _ out: UnsafeMutablePointer<TensorHandle?>?, _ outRunningMean: UnsafeMutablePointer<TensorHandle?>?,
                          _ outRunningVar: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    let op = "batch_norm"
    clear(outRunningMean, outRunningVar)
    return Boundary.run(op, out) {
        let result = try Ops.batchNorm(Boundary.value(x, op, "x"), runningMean: Boundary.optionalValue(runningMean),
                                       runningVar: Boundary.optionalValue(runningVar), weight: Boundary.optionalValue(weight),
                                       bias: Boundary.optionalValue(bias), training: training, momentum: momentum, eps: eps)
        if let outRunningMean, let updated = result.runningMean { outRunningMean.pointee = Boundary.handle(updated) }
        if let outRunningVar, let updated = result.runningVar { outRunningVar.pointee = Boundary.handle(updated) }
        return result.output
    }
}

@_cdecl("sf_group_norm")
public func sf_group_norm(_ x: TensorHandle?, _ numGroups: Int64, _ weight: TensorHandle?, _ bias: TensorHandle?, _ eps: Double,
                          _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("group_norm", out) {
        try Ops.groupNorm(Boundary.value(x, "group_norm", "x"), numGroups: Int(numGroups), weight: Boundary.optionalValue(weight),
                          bias: Boundary.optionalValue(bias), eps: eps)
    }
}

@_cdecl("sf_embedding")
public func sf_embedding(_ indices: TensorHandle?, _ weight: TensorHandle?, _ paddingIndex: UnsafePointer<Int64>?,
                         _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("embedding", out) {
        try Ops.embedding(Boundary.value(indices, "embedding", "indices"), weight: Boundary.value(weight, "embedding", "weight"),
                          paddingIndex: paddingIndex.map { Int($0.pointee) })
    }
}

@_cdecl("sf_nll_loss")
public func sf_nll_loss(_ input: TensorHandle?, _ target: TensorHandle?, _ weight: TensorHandle?, _ ignoreIndex: Int64,
                        _ reduction: Int32, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    let op = "nll_loss"
    return Boundary.run(op, out) {
        try Ops.nllLoss(Boundary.value(input, op, "input"), target: Boundary.value(target, op, "target"),
                        weight: Boundary.optionalValue(weight), ignoreIndex: Int(ignoreIndex), reduction: Boundary.reduction(reduction, op))
    }
}

/// The exports of the losses of (input, target, reduction).
private func loss(_ op: String, _ input: TensorHandle?, _ target: TensorHandle?, _ reduction: Int32,
                  _ out: UnsafeMutablePointer<TensorHandle?>?, _ body: (Value, Value, Reduction) throws -> Value) -> Int32 {
    Boundary.run(op, out) {
        try body(Boundary.value(input, op, "input"), Boundary.value(target, op, "target"), Boundary.reduction(reduction, op))
    }
}

@_cdecl("sf_l1_loss")
public func sf_l1_loss(_ input: TensorHandle?, _ target: TensorHandle?, _ reduction: Int32, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    loss("l1_loss", input, target, reduction, out) { try Ops.l1Loss($0, target: $1, reduction: $2) }
}

@_cdecl("sf_smooth_l1_loss")
public func sf_smooth_l1_loss(_ input: TensorHandle?, _ target: TensorHandle?, _ reduction: Int32, _ beta: Double,
                              _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    loss("smooth_l1_loss", input, target, reduction, out) { try Ops.smoothL1Loss($0, target: $1, reduction: $2, beta: beta) }
}

@_cdecl("sf_huber_loss")
public func sf_huber_loss(_ input: TensorHandle?, _ target: TensorHandle?, _ reduction: Int32, _ delta: Double,
                          _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    loss("huber_loss", input, target, reduction, out) { try Ops.huberLoss($0, target: $1, reduction: $2, delta: delta) }
}

@_cdecl("sf_binary_cross_entropy")
public func sf_binary_cross_entropy(_ input: TensorHandle?, _ target: TensorHandle?, _ weight: TensorHandle?, _ reduction: Int32,
                                    _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    loss("binary_cross_entropy", input, target, reduction, out) {
        try Ops.binaryCrossEntropy($0, target: $1, weight: Boundary.optionalValue(weight), reduction: $2)
    }
}

@_cdecl("sf_binary_cross_entropy_with_logits")
public func sf_binary_cross_entropy_with_logits(_ input: TensorHandle?, _ target: TensorHandle?, _ weight: TensorHandle?,
                                                _ posWeight: TensorHandle?, _ reduction: Int32,
                                                _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    loss("binary_cross_entropy_with_logits", input, target, reduction, out) {
        try Ops.binaryCrossEntropyWithLogits($0, target: $1, weight: Boundary.optionalValue(weight),
                                             posWeight: Boundary.optionalValue(posWeight), reduction: $2)
    }
}

@_cdecl("sf_kl_div")
public func sf_kl_div(_ input: TensorHandle?, _ target: TensorHandle?, _ reduction: Int32, _ logTarget: Bool,
                      _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    loss("kl_div", input, target, reduction, out) { try Ops.klDiv($0, target: $1, reduction: $2, logTarget: logTarget) }
}

@_cdecl("sf_softplus")
public func sf_softplus(_ x: TensorHandle?, _ beta: Double, _ threshold: Double, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("softplus", out) { try Ops.softplus(Boundary.value(x, "softplus", "x"), beta: beta, threshold: threshold) }
}

@_cdecl("sf_elu")
public func sf_elu(_ x: TensorHandle?, _ alpha: Double, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("elu", out) { try Ops.elu(Boundary.value(x, "elu", "x"), alpha: alpha) }
}

@_cdecl("sf_leaky_relu")
public func sf_leaky_relu(_ x: TensorHandle?, _ negativeSlope: Double, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("leaky_relu", out) { try Ops.leakyRelu(Boundary.value(x, "leaky_relu", "x"), negativeSlope: negativeSlope) }
}

@_cdecl("sf_logsigmoid")
public func sf_logsigmoid(_ x: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("logsigmoid", out) { try Ops.logsigmoid(Boundary.value(x, "logsigmoid", "x")) }
}

@_cdecl("sf_normalize")
public func sf_normalize(_ x: TensorHandle?, _ p: Double, _ dim: Int64, _ eps: Double, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("normalize", out) { try Ops.normalize(Boundary.value(x, "normalize", "x"), p: p, dim: Int(dim), eps: eps) }
}

@_cdecl("sf_cosine_similarity")
public func sf_cosine_similarity(_ x1: TensorHandle?, _ x2: TensorHandle?, _ dim: Int64, _ eps: Double,
                                 _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    let op = "cosine_similarity"
    return Boundary.run(op, out) {
        try Ops.cosineSimilarity(Boundary.value(x1, op, "x1"), Boundary.value(x2, op, "x2"), dim: Int(dim), eps: eps)
    }
}

@_cdecl("sf_scaled_dot_product_attention")
public func sf_scaled_dot_product_attention(_ query: TensorHandle?, _ key: TensorHandle?, _ value: TensorHandle?,
                                            _ attnMask: TensorHandle?, _ dropoutP: Double, _ isCausal: Bool,
                                            _ scale: UnsafePointer<Double>?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    let op = "scaled_dot_product_attention"
    return Boundary.run(op, out) {
        let mask: AttentionMask
        switch (Boundary.optionalValue(attnMask), isCausal) {
        case (nil, false): mask = .none
        case (nil, true): mask = .causal
        case let (m?, false): mask = .mask(m)
        case (.some, true): throw SwiftFuncError.invalidArgument(op, "attn_mask and is_causal cannot both be set")
        }
        guard dropoutP >= 0 && dropoutP <= 1 else {
            throw SwiftFuncError.invalidArgument(op, "dropout_p must be between 0 and 1, got \(dropoutP)")
        }
        return try Ops.scaledDotProductAttention(Boundary.value(query, op, "query"), Boundary.value(key, op, "key"),
                                                 Boundary.value(value, op, "value"), mask: mask, dropoutP: dropoutP,
                                                 scale: scale.map { $0.pointee })
    }
}
