/// Helpers for JVP and VJP rules. They call `emit`, so rules built from them stay transformable.
public enum Differentiation {
    /// The JVP rule of an op through which no tangent flows (comparisons, detach, constants,
    /// random draws, integer results): a symbolic zero.
    public static let noTangent: JVPRule = { _, _, _, _ in nil }

    /// The VJP rule of such an op: no cotangent for any argument.
    public static let noCotangents: VJPRule = { _, primals, _, _, _ in [Value?](repeating: nil, count: primals.count) }

    /// The JVP rule of a primitive that is bilinear in its two arguments (matmul, conv2d):
    /// d f(a, b) = f(da, b) + f(a, db), each term only for a tangent that exists.
    public static func bilinearJVP(_ primitive: Primitive) -> JVPRule {
        { primals, tangents, _, params in
            let (a, b) = (primals[0], primals[1])
            var result: Value?
            if let ta = tangents[0] { result = try emit(primitive, [cast(ta, to: a.dtype), b], params) }
            if let tb = tangents[1] {
                let term = try emit(primitive, [a, cast(tb, to: b.dtype)], params)
                result = try result.map { try emit(.add, [$0, term]) } ?? term
            }
            return result
        }
    }

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
