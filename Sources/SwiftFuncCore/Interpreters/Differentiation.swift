/// Helpers for JVP and VJP rules. They call `emit`, so rules built from them stay transformable.
public enum Differentiation {
    /// `cotangent` summed down to `shape`: undoes numpy broadcasting in the VJP of broadcasting ops.
    public static func unbroadcast(_ cotangent: Value, to shape: [Int]) throws -> Value {
        if cotangent.shape == shape { return cotangent }
        let lead = cotangent.rank - shape.count
        var dims: [Int] = Array(0..<lead)
        for (i, size) in shape.enumerated() where size == 1 && cotangent.shape[lead + i] != 1 {
            dims.append(lead + i)
        }
        var result = cotangent
        if !dims.isEmpty {
            result = try emit(.sum, [result], .reduction(dims: dims, keepdim: true))
        }
        return try emit(.reshape, [result], .shape(shape))
    }

    /// A tensor of zeros with the type of `value` (not weak).
    public static func zeros(like value: Value) throws -> Value {
        try emit(.full, [], .fill(shape: value.shape, value: 0, dtype: value.dtype))
    }

    /// A tensor of `value`s with the given type.
    public static func full(_ value: Double, shape: [Int], dtype: DType) throws -> Value {
        try emit(.full, [], .fill(shape: shape, value: value, dtype: dtype))
    }

    /// `value` converted to `dtype` when it is not already of it.
    public static func cast(_ value: Value, to dtype: DType) throws -> Value {
        value.dtype == dtype ? value : try emit(.cast, [value], .dtype(dtype))
    }
}
