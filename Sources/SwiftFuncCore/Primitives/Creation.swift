/// Creation and conversion primitives: `cast` (dtype conversion), `full` (a constant fill),
/// `arange` (an arithmetic progression) and `eye` (a zero fill with ones on one diagonal: torch.eye,
/// and the identity bases of jacrev and jacfwd), with the public ops built on them.
enum Creation {
    static let table: [PrimitiveRules] = [
        PrimitiveRules(.cast, name: "cast", type: castType, eval: castEval,
                       jvp: castJVP, vjp: castVJP, batch: Batching.vectorized(.cast)),
        // full and arange depend on no input: a symbolic zero tangent, no cotangents.
        PrimitiveRules(.full, name: "full", type: fullType, eval: fullEval,
                       jvp: Differentiation.noTangent, vjp: Differentiation.noCotangents, batch: constantBatch(.full)),
        PrimitiveRules(.arange, name: "arange", type: arangeType, eval: arangeEval,
                       jvp: Differentiation.noTangent, vjp: Differentiation.noCotangents, batch: constantBatch(.arange)),
        PrimitiveRules(.eye, name: "eye", type: eyeType, eval: eyeEval,
                       jvp: Differentiation.noTangent, vjp: Differentiation.noCotangents, batch: constantBatch(.eye)),
    ]

    /// The batching rule of a primitive without arguments whose result is the same for every
    /// element: it runs once, unbatched.
    static func constantBatch(_ primitive: Primitive) -> BatchRule {
        { args, _, _, params in (try emit(primitive, args, params), nil) }
    }

    // MARK: cast

    static func castType(_ args: [TensorType], _ params: Params) throws -> TensorType {
        guard args.count == 1 else { throw SwiftFuncError.invalidArgument("cast", "expects 1 argument, got \(args.count)") }
        guard case .dtype(let dtype) = params else { throw SwiftFuncError.internal("cast", "expects dtype params") }
        // A converted value is an ordinary (strong) tensor, even when it came from sf_scalar.
        return TensorType(shape: args[0].shape, dtype: dtype)
    }

    static func castEval(_ args: [Tensor], _ params: Params, _ type: TensorType) throws -> Tensor {
        let x = args[0]
        if x.type == type { return x }
        // Same element type, only the weak flag changes: a view, no copy.
        if x.dtype == type.dtype { return x.view(type: type, strides: x.strides, offset: x.offset) }
        let result = try Tensor(uninitialized: type, op: "cast")
        try x.copyElements(into: result)
        return result
    }

    /// A conversion is linear: the tangent converts too (a non-float target has none).
    static func castJVP(_ primals: [Value], _ tangents: [Value?], _ output: Value, _ params: Params) throws -> Value? {
        guard case .dtype(let dtype) = params, dtype.isFloatingPoint, let tangent = tangents[0] else { return nil }
        return try emit(.cast, [tangent], params)
    }

    /// Back to the input's dtype; integer and bool inputs are not differentiable.
    static func castVJP(_ cotangent: Value, _ primals: [Value], _ output: Value, _ params: Params, _ needed: [Bool]) throws -> [Value?] {
        guard primals[0].dtype.isFloatingPoint else { return [nil] }
        return [try emit(.cast, [cotangent], .dtype(primals[0].dtype))]
    }

    // MARK: full

    static func fullType(_ args: [TensorType], _ params: Params) throws -> TensorType {
        guard args.isEmpty else { throw SwiftFuncError.invalidArgument("full", "expects no tensor arguments, got \(args.count)") }
        guard case .fill(let shape, _, let dtype) = params else { throw SwiftFuncError.internal("full", "expects fill params") }
        try ShapeChecks.validate(shape, itemSize: dtype.itemSize, op: "full")
        return TensorType(shape: shape, dtype: dtype)
    }

    static func fullEval(_ args: [Tensor], _ params: Params, _ type: TensorType) throws -> Tensor {
        guard case .fill(_, let value, _) = params else { throw SwiftFuncError.internal("full", "expects fill params") }
        return try filled(type, value, op: "full")
    }

    /// A new contiguous tensor of `type` with every element `value` (converted like a cast).
    static func filled(_ type: TensorType, _ value: Double, op: String) throws -> Tensor {
        // Zero is all-zero bytes for every dtype: let the allocator clear the memory.
        if value == 0 && value.sign == .plus { return try Tensor(uninitialized: type, zeroed: true, op: op) }
        let result = try Tensor(uninitialized: type, op: op)
        struct Fill: DTypeVisitor {
            let tensor: Tensor, value: Double
            func visit<T: Element>(_: T.Type) {
                tensor.elements(as: T.self).update(repeating: T(fromDouble: value), count: tensor.count)
            }
        }
        try type.dtype.dispatch(Fill(tensor: result, value: value))
        return result
    }

    // MARK: arange

    static func arangeType(_ args: [TensorType], _ params: Params) throws -> TensorType {
        guard args.isEmpty else { throw SwiftFuncError.invalidArgument("arange", "expects no tensor arguments, got \(args.count)") }
        guard case .arange(let start, let step, let count, let dtype) = params else {
            throw SwiftFuncError.internal("arange", "expects arange params")
        }
        guard dtype != .bool else { throw SwiftFuncError.dtype("arange", "bool is not supported") }
        guard start.isFinite && step.isFinite else {
            throw SwiftFuncError.invalidArgument("arange", "start \(start) and step \(step) must be finite")
        }
        try ShapeChecks.validate([count], itemSize: dtype.itemSize, op: "arange")
        return TensorType(shape: [count], dtype: dtype)
    }

    static func arangeEval(_ args: [Tensor], _ params: Params, _ type: TensorType) throws -> Tensor {
        guard case .arange(let start, let step, let count, _) = params else {
            throw SwiftFuncError.internal("arange", "expects arange params")
        }
        let result = try Tensor(uninitialized: type, op: "arange")
        if type.dtype == .int64, let first = Int64(exactly: start), let delta = Int64(exactly: step) {
            // Integral bounds: exact int64 arithmetic (Double would round past 2^53). Values
            // past int64 saturate, as the double path's conversion does.
            let p = result.elements(as: Int64.self)
            for i in 0..<count {
                let (offset, o1) = Int64(truncatingIfNeeded: i).multipliedReportingOverflow(by: delta)
                let (value, o2) = first.addingReportingOverflow(offset)
                p[i] = o1 || o2 ? (delta > 0 ? .max : .min) : value
            }
            return result
        }
        struct Fill: DTypeVisitor {
            let tensor: Tensor, start: Double, step: Double
            func visit<T: Element>(_: T.Type) {
                // As torch: computed in double, then converted.
                let p = tensor.elements(as: T.self)
                for i in 0..<tensor.count { p[i] = T(fromDouble: start + Double(i) * step) }
            }
        }
        try type.dtype.dispatch(Fill(tensor: result, start: start, step: step))
        return result
    }

    // MARK: eye

    static func eyeType(_ args: [TensorType], _ params: Params) throws -> TensorType {
        guard args.isEmpty else { throw SwiftFuncError.invalidArgument("eye", "expects no tensor arguments, got \(args.count)") }
        guard case .eye(let rows, let columns, _, let dtype) = params else { throw SwiftFuncError.internal("eye", "expects eye params") }
        guard rows >= 0, columns >= 0 else {
            throw SwiftFuncError.invalidArgument("eye", "sizes must be >= 0, got \(rows) and \(columns)")
        }
        try ShapeChecks.validate([rows, columns], itemSize: dtype.itemSize, op: "eye")
        return TensorType(shape: [rows, columns], dtype: dtype)
    }

    /// Zeros from the allocator, then the ones written where they go: no index tensors.
    static func eyeEval(_ args: [Tensor], _ params: Params, _ type: TensorType) throws -> Tensor {
        guard case .eye(let rows, let columns, let offset, _) = params else { throw SwiftFuncError.internal("eye", "expects eye params") }
        let result = try Tensor(uninitialized: type, zeroed: true, op: "eye")
        // The rows i < rows with 0 <= i + offset < columns; any offset, without overflow.
        let first = offset >= 0 ? 0 : Int(Swift.min(UInt(rows), offset.magnitude))
        let (limit, overflow) = columns.subtractingReportingOverflow(offset)
        let end = overflow ? rows : Swift.min(rows, limit)
        guard first < end else { return result }
        struct Ones: DTypeVisitor {
            let tensor: Tensor, rows: Range<Int>, offset: Int, columns: Int
            func visit<T: Element>(_: T.Type) {
                let p = tensor.elements(as: T.self), one = T(fromDouble: 1)
                for i in rows { p[i &* columns &+ i &+ offset] = one }
            }
        }
        try type.dtype.dispatch(Ones(tensor: result, rows: first..<end, offset: offset, columns: columns))
        if offset == 0 && rows == columns { result.markDiagonal() }  // jacrev's and jacfwd's basis
        return result
    }
}

extension Ops {
    /// A weakly typed 0-d float64 tensor holding `value` (torch's Python scalar): in a binary op it
    /// takes the other operand's float dtype (float32 for integer or bool operands).
    public static func scalar(_ value: Double) throws -> Value {
        // Built directly rather than through `full`: a constant has no inputs, so no transform
        // needs to see it, and the weak flag is not something `full`'s params carry.
        let result = try Tensor(uninitialized: TensorType(shape: [], dtype: .float64, isWeak: true), op: "scalar")
        result.elements(as: Double.self).pointee = value
        return result
    }

    /// A tensor of `shape` with every element `value` converted to `dtype` (torch.full).
    public static func full(shape: [Int], value: Double, dtype: DType = .float32) throws -> Value {
        try ShapeChecks.validate(shape, itemSize: dtype.itemSize, op: "full")
        return try emit(.full, [], .fill(shape: shape, value: value, dtype: dtype))
    }

    /// A tensor of `shape` filled with 0 (torch.zeros).
    public static func zeros(shape: [Int], dtype: DType = .float32) throws -> Value {
        try ShapeChecks.validate(shape, itemSize: dtype.itemSize, op: "zeros")
        return try emit(.full, [], .fill(shape: shape, value: 0, dtype: dtype))
    }

    /// A tensor of `shape` filled with 1 (torch.ones).
    public static func ones(shape: [Int], dtype: DType = .float32) throws -> Value {
        try ShapeChecks.validate(shape, itemSize: dtype.itemSize, op: "ones")
        return try emit(.full, [], .fill(shape: shape, value: 1, dtype: dtype))
    }

    /// An n x m matrix of zeros with ones at (i, i + offset) (torch.eye for offset 0; numpy's eye
    /// with k = offset). n, m >= 0; any offset.
    public static func eye(_ n: Int, _ m: Int, offset: Int = 0, dtype: DType = .float32) throws -> Value {
        guard n >= 0, m >= 0 else { throw SwiftFuncError.invalidArgument("eye", "sizes must be >= 0, got \(n) and \(m)") }
        try ShapeChecks.validate([n, m], itemSize: dtype.itemSize, op: "eye")
        return try emit(.eye, [], .eye(rows: n, columns: m, offset: offset, dtype: dtype))
    }

    /// The values start, start + step, ... short of `end` (torch.arange). The count is torch's
    /// ceil((end - start) / step); a zero or non-finite step, non-finite bounds, a step whose sign
    /// does not lead from start to end, or a count past int64 are invalid arguments.
    public static func arange(_ start: Double = 0, _ end: Double, _ step: Double = 1, dtype: DType = .float32) throws -> Value {
        let op = "arange"
        guard dtype != .bool else { throw SwiftFuncError.dtype(op, "bool is not supported") }
        guard start.isFinite && end.isFinite else {
            throw SwiftFuncError.invalidArgument(op, "unsupported range \(start) -> \(end): bounds must be finite")
        }
        guard step.isFinite && step != 0 else {
            throw SwiftFuncError.invalidArgument(op, "step must be finite and nonzero, got \(step)")
        }
        let size = ((end - start) / step).rounded(.up)
        guard size >= 0 else {
            throw SwiftFuncError.invalidArgument(op, "step \(step) does not lead from \(start) to \(end)")
        }
        // 2^63 is the first double past int64; the range check comes before the conversion.
        guard size.isFinite && size < 9223372036854775808.0 else {
            throw SwiftFuncError.invalidArgument(op, "range \(start) -> \(end) with step \(step) has too many elements")
        }
        let count = Int(size)
        try ShapeChecks.validate([count], itemSize: dtype.itemSize, op: op)
        return try emit(.arange, [], .arange(start: start, step: step, count: count, dtype: dtype))
    }

    /// `x` converted to `dtype` (torch's x.to(dtype)): floats truncate toward zero (NaN gives 0,
    /// out-of-range values saturate), int64 to int32 wraps as in torch, anything to bool is x != 0.
    /// The same dtype returns `x` itself.
    public static func cast(_ x: Value, to dtype: DType) throws -> Value {
        if x.dtype == dtype && !x.type.isWeak { return x }
        return try emit(.cast, [x], .dtype(dtype))
    }
}
