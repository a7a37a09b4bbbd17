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
