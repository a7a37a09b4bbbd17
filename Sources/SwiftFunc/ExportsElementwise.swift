// Elementwise exports: unary ops, activations, broadcasting binary ops, comparisons and where.
import SwiftFuncCore

// MARK: Unary

@_cdecl("sf_neg")
public func sf_neg(_ x: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("neg", out) { try Ops.neg(Boundary.value(x, "neg", "x")) }
}

@_cdecl("sf_exp")
public func sf_exp(_ x: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("exp", out) { try Ops.exp(Boundary.value(x, "exp", "x")) }
}

@_cdecl("sf_log")
public func sf_log(_ x: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("log", out) { try Ops.log(Boundary.value(x, "log", "x")) }
}

@_cdecl("sf_log1p")
public func sf_log1p(_ x: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("log1p", out) { try Ops.log1p(Boundary.value(x, "log1p", "x")) }
}

@_cdecl("sf_expm1")
public func sf_expm1(_ x: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("expm1", out) { try Ops.expm1(Boundary.value(x, "expm1", "x")) }
}

@_cdecl("sf_sin")
public func sf_sin(_ x: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("sin", out) { try Ops.sin(Boundary.value(x, "sin", "x")) }
}

@_cdecl("sf_cos")
public func sf_cos(_ x: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("cos", out) { try Ops.cos(Boundary.value(x, "cos", "x")) }
}

@_cdecl("sf_tan")
public func sf_tan(_ x: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("tan", out) { try Ops.tan(Boundary.value(x, "tan", "x")) }
}

@_cdecl("sf_tanh")
public func sf_tanh(_ x: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("tanh", out) { try Ops.tanh(Boundary.value(x, "tanh", "x")) }
}

@_cdecl("sf_sigmoid")
public func sf_sigmoid(_ x: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("sigmoid", out) { try Ops.sigmoid(Boundary.value(x, "sigmoid", "x")) }
}

@_cdecl("sf_sqrt")
public func sf_sqrt(_ x: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("sqrt", out) { try Ops.sqrt(Boundary.value(x, "sqrt", "x")) }
}

@_cdecl("sf_rsqrt")
public func sf_rsqrt(_ x: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("rsqrt", out) { try Ops.rsqrt(Boundary.value(x, "rsqrt", "x")) }
}

@_cdecl("sf_abs")
public func sf_abs(_ x: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("abs", out) { try Ops.abs(Boundary.value(x, "abs", "x")) }
}

@_cdecl("sf_sign")
public func sf_sign(_ x: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("sign", out) { try Ops.sign(Boundary.value(x, "sign", "x")) }
}

@_cdecl("sf_relu")
public func sf_relu(_ x: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("relu", out) { try Ops.relu(Boundary.value(x, "relu", "x")) }
}

@_cdecl("sf_floor")
public func sf_floor(_ x: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("floor", out) { try Ops.floor(Boundary.value(x, "floor", "x")) }
}

@_cdecl("sf_ceil")
public func sf_ceil(_ x: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("ceil", out) { try Ops.ceil(Boundary.value(x, "ceil", "x")) }
}

@_cdecl("sf_round")
public func sf_round(_ x: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("round", out) { try Ops.round(Boundary.value(x, "round", "x")) }
}

@_cdecl("sf_silu")
public func sf_silu(_ x: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("silu", out) { try Ops.silu(Boundary.value(x, "silu", "x")) }
}

@_cdecl("sf_gelu")
public func sf_gelu(_ x: TensorHandle?, _ tanhApproximation: Bool, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("gelu", out) { try Ops.gelu(Boundary.value(x, "gelu", "x"), tanhApproximation: tanhApproximation) }
}

// MARK: Binary

@_cdecl("sf_add")
public func sf_add(_ a: TensorHandle?, _ b: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("add", out) { try Ops.add(Boundary.value(a, "add", "a"), Boundary.value(b, "add", "b")) }
}

@_cdecl("sf_sub")
public func sf_sub(_ a: TensorHandle?, _ b: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("sub", out) { try Ops.sub(Boundary.value(a, "sub", "a"), Boundary.value(b, "sub", "b")) }
}

@_cdecl("sf_mul")
public func sf_mul(_ a: TensorHandle?, _ b: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("mul", out) { try Ops.mul(Boundary.value(a, "mul", "a"), Boundary.value(b, "mul", "b")) }
}

@_cdecl("sf_div")
public func sf_div(_ a: TensorHandle?, _ b: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("div", out) { try Ops.div(Boundary.value(a, "div", "a"), Boundary.value(b, "div", "b")) }
}

@_cdecl("sf_pow")
public func sf_pow(_ a: TensorHandle?, _ b: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("pow", out) { try Ops.pow(Boundary.value(a, "pow", "a"), Boundary.value(b, "pow", "b")) }
}

@_cdecl("sf_maximum")
public func sf_maximum(_ a: TensorHandle?, _ b: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("maximum", out) { try Ops.maximum(Boundary.value(a, "maximum", "a"), Boundary.value(b, "maximum", "b")) }
}

@_cdecl("sf_minimum")
public func sf_minimum(_ a: TensorHandle?, _ b: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("minimum", out) { try Ops.minimum(Boundary.value(a, "minimum", "a"), Boundary.value(b, "minimum", "b")) }
}

@_cdecl("sf_atan2")
public func sf_atan2(_ a: TensorHandle?, _ b: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("atan2", out) { try Ops.atan2(Boundary.value(a, "atan2", "a"), Boundary.value(b, "atan2", "b")) }
}

@_cdecl("sf_lt")
public func sf_lt(_ a: TensorHandle?, _ b: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("lt", out) { try Ops.lt(Boundary.value(a, "lt", "a"), Boundary.value(b, "lt", "b")) }
}

@_cdecl("sf_le")
public func sf_le(_ a: TensorHandle?, _ b: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("le", out) { try Ops.le(Boundary.value(a, "le", "a"), Boundary.value(b, "le", "b")) }
}

@_cdecl("sf_gt")
public func sf_gt(_ a: TensorHandle?, _ b: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("gt", out) { try Ops.gt(Boundary.value(a, "gt", "a"), Boundary.value(b, "gt", "b")) }
}

@_cdecl("sf_ge")
public func sf_ge(_ a: TensorHandle?, _ b: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("ge", out) { try Ops.ge(Boundary.value(a, "ge", "a"), Boundary.value(b, "ge", "b")) }
}

@_cdecl("sf_eq")
public func sf_eq(_ a: TensorHandle?, _ b: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("eq", out) { try Ops.eq(Boundary.value(a, "eq", "a"), Boundary.value(b, "eq", "b")) }
}

@_cdecl("sf_ne")
public func sf_ne(_ a: TensorHandle?, _ b: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("ne", out) { try Ops.ne(Boundary.value(a, "ne", "a"), Boundary.value(b, "ne", "b")) }
}

@_cdecl("sf_where")
public func sf_where(_ cond: TensorHandle?, _ a: TensorHandle?, _ b: TensorHandle?,
                     _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("where", out) {
        try Ops.where(Boundary.value(cond, "where", "cond"), Boundary.value(a, "where", "a"), Boundary.value(b, "where", "b"))
    }
}
