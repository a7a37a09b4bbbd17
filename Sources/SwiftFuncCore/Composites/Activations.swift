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
            let sum = try add(x, mul(weakConstant(0.044715), cube))
            inner = try tanh(mul(weakConstant((2.0 / Double.pi).squareRoot()), sum))
        } else {
            inner = try erf(mul(x, weakConstant(0.5.squareRoot())))
        }
        return try mul(mul(x, weakConstant(0.5)), add(inner, weakConstant(1)))
    }

    /// torch's activation kernels exist for float dtypes only; integer and bool inputs are refused.
    private static func requireFloat(_ x: Value, _ name: String) throws {
        guard x.dtype.isFloatingPoint else {
            throw SwiftFuncError.dtype(name, "expected a float tensor, got \(x.dtype) (as torch)")
        }
    }

    /// A weakly typed float64 0-d constant: it takes the other operand's float dtype, so constants do
    /// not promote float32 math to float64. (Replaceable by the public Ops.scalar.)
    private static func weakConstant(_ value: Double) throws -> Value {
        let tensor = try Tensor(uninitialized: TensorType(shape: [], dtype: .float64, isWeak: true), op: "scalar")
        tensor.elements(as: Double.self).pointee = value
        return tensor
    }
}
