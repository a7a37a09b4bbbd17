// Exports of composite ops (built from primitives in SwiftFuncCore/Composites and the creation
// and random families): statistics, nn.functional, eye, linspace, bernoulli, dropout.
import SwiftFuncCore

@_cdecl("sf_mean")
public func sf_mean(_ x: TensorHandle?, _ dims: UnsafePointer<Int64>?, _ nDims: Int, _ keepdim: Bool,
                    _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.reduction("mean", x, dims, nDims, keepdim, out) { try Ops.mean($0, dims: $1, keepdim: $2) }
}

@_cdecl("sf_var")
public func sf_var(_ x: TensorHandle?, _ dims: UnsafePointer<Int64>?, _ nDims: Int, _ correction: Int64, _ keepdim: Bool,
                   _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("var", out) {
        try Ops.var(Boundary.value(x, "var", "x"), dims: Boundary.ints(dims, nDims, "var", "dims"),
                    correction: Int(correction), keepdim: keepdim)
    }
}

@_cdecl("sf_std")
public func sf_std(_ x: TensorHandle?, _ dims: UnsafePointer<Int64>?, _ nDims: Int, _ correction: Int64, _ keepdim: Bool,
                   _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("std", out) {
        try Ops.std(Boundary.value(x, "std", "x"), dims: Boundary.ints(dims, nDims, "std", "dims"),
                    correction: Int(correction), keepdim: keepdim)
    }
}

@_cdecl("sf_logsumexp")
public func sf_logsumexp(_ x: TensorHandle?, _ dims: UnsafePointer<Int64>?, _ nDims: Int, _ keepdim: Bool,
                         _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.reduction("logsumexp", x, dims, nDims, keepdim, out) { try Ops.logsumexp($0, dims: $1, keepdim: $2) }
}

@_cdecl("sf_softmax")
public func sf_softmax(_ x: TensorHandle?, _ dim: Int64, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("softmax", out) { try Ops.softmax(Boundary.value(x, "softmax", "x"), dim: Int(dim)) }
}

@_cdecl("sf_log_softmax")
public func sf_log_softmax(_ x: TensorHandle?, _ dim: Int64, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("log_softmax", out) { try Ops.logSoftmax(Boundary.value(x, "log_softmax", "x"), dim: Int(dim)) }
}

@_cdecl("sf_linear")
public func sf_linear(_ x: TensorHandle?, _ weight: TensorHandle?, _ bias: TensorHandle?,
                      _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("linear", out) {
        try Ops.linear(Boundary.value(x, "linear", "x"), weight: Boundary.value(weight, "linear", "weight"),
                       bias: Boundary.optionalValue(bias))
    }
}

@_cdecl("sf_layer_norm")
public func sf_layer_norm(_ x: TensorHandle?, _ normalizedShape: UnsafePointer<Int64>?, _ n: Int, _ weight: TensorHandle?,
                          _ bias: TensorHandle?, _ eps: Double, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("layer_norm", out) {
        try Ops.layerNorm(Boundary.value(x, "layer_norm", "x"), normalizedShape: Boundary.shape(normalizedShape, n, "layer_norm"),
                          weight: Boundary.optionalValue(weight), bias: Boundary.optionalValue(bias), eps: eps)
    }
}

@_cdecl("sf_cross_entropy")
public func sf_cross_entropy(_ logits: TensorHandle?, _ target: TensorHandle?, _ reduction: Int32,
                             _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("cross_entropy", out) {
        try Ops.crossEntropy(Boundary.value(logits, "cross_entropy", "logits"), target: Boundary.value(target, "cross_entropy", "target"),
                             reduction: Boundary.reduction(reduction, "cross_entropy"))
    }
}

@_cdecl("sf_mse_loss")
public func sf_mse_loss(_ input: TensorHandle?, _ target: TensorHandle?, _ reduction: Int32,
                        _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("mse_loss", out) {
        try Ops.mseLoss(Boundary.value(input, "mse_loss", "input"), target: Boundary.value(target, "mse_loss", "target"),
                        reduction: Boundary.reduction(reduction, "mse_loss"))
    }
}

@_cdecl("sf_bernoulli")
public func sf_bernoulli(_ p: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("bernoulli", out) { try Ops.bernoulli(Boundary.value(p, "bernoulli", "p")) }
}

@_cdecl("sf_dropout")
public func sf_dropout(_ x: TensorHandle?, _ p: Double, _ training: Bool, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("dropout", out) { try Ops.dropout(Boundary.value(x, "dropout", "x"), p: p, training: training) }
}

@_cdecl("sf_eye")
public func sf_eye(_ n: Int64, _ m: Int64, _ dtype: Int32, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("eye", out) { try Ops.eye(Int(n), Int(m), dtype: Boundary.dtype(dtype, "eye")) }
}

@_cdecl("sf_linspace")
public func sf_linspace(_ start: Double, _ end: Double, _ steps: Int64, _ dtype: Int32,
                        _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("linspace", out) { try Ops.linspace(start, end, steps: Int(steps), dtype: Boundary.dtype(dtype, "linspace")) }
}
