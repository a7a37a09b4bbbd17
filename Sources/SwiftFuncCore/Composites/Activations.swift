// Activation composites: written only with `Ops` calls, so every transform sees their primitives.

extension Ops {
    /// x * sigmoid(x) (torch.nn.functional.silu). Float inputs only, as torch.
    public static func silu(_ x: Value) throws -> Value {
        try requireFloat(x, "silu")
        return try mul(x, sigmoid(x))
    }

    /// GELU (torch.nn.functional.gelu). Exact: 0.5 x (1 + erf(x / sqrt 2)); with
    /// `tanhApproximation` (torch's approximate='tanh'): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
    /// Float inputs only, as torch.
    public static func gelu(_ x: Value, tanhApproximation: Bool = false) throws -> Value {
        try requireFloat(x, "gelu")
        let inner: Value
        if tanhApproximation {
            // sqrt(2/pi) * (x + 0.044715 x^3), with x^3 as two products (as torch's kernel).
            let cube = try mul(mul(x, x), x)
            let sum = try add(x, mul(scalar(0.044715), cube))
            inner = try tanh(mul(scalar((2.0 / Double.pi).squareRoot()), sum))
        } else {
            inner = try erf(mul(x, scalar(0.5.squareRoot())))
        }
        return try mul(mul(x, scalar(0.5)), add(inner, scalar(1)))
    }
}

extension Ops {
    /// Softplus (torch.nn.functional.softplus): log(1 + e^(beta x)) / beta, and x itself where
    /// beta x > threshold. The exponent is clamped at the threshold so that the discarded side
    /// stays finite (its derivative would otherwise be inf/inf = NaN).
    public static func softplus(_ x: Value, beta: Double = 1, threshold: Double = 20) throws -> Value {
        try requireFloat(x, "softplus")
        guard beta != 0, beta.isFinite else {
            throw SwiftFuncError.invalidArgument("softplus", "beta must be finite and nonzero, got \(beta)")
        }
        let scaled = try mul(x, scalar(beta))
        let smooth = try div(log1p(exp(minimum(scaled, scalar(threshold)))), scalar(beta))
        return try `where`(gt(scaled, scalar(threshold)), x, smooth)
    }

    /// ELU (torch.nn.functional.elu): x where x > 0, else alpha (e^x - 1).
    public static func elu(_ x: Value, alpha: Double = 1) throws -> Value {
        try requireFloat(x, "elu")
        let negative = try mul(expm1(minimum(x, scalar(0))), scalar(alpha))
        return try `where`(gt(x, scalar(0)), x, negative)
    }

    /// Leaky ReLU (torch.nn.functional.leaky_relu): x where x > 0, else negative_slope x (whose
    /// slope is also the derivative at 0, as torch).
    public static func leakyRelu(_ x: Value, negativeSlope: Double = 0.01) throws -> Value {
        try requireFloat(x, "leaky_relu")
        return try `where`(gt(x, scalar(0)), x, mul(x, scalar(negativeSlope)))
    }

    /// log(sigmoid(x)) computed stably as min(x, 0) - log(1 + e^-|x|)
    /// (torch.nn.functional.logsigmoid).
    public static func logsigmoid(_ x: Value) throws -> Value {
        try requireFloat(x, "logsigmoid")
        return try sub(minimum(x, scalar(0)), log1p(exp(neg(abs(x)))))
    }
}
