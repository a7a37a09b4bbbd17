/// The scan primitive: linear_scan, the first-order linear recurrence y_i = a_i * y_(i-1) + b_i
/// along one dim (y_(-1) = 0). cumsum is the scan with a = 1 and cumprod the scan with a = x and
/// b = (x_0, 0, 0, ...), so both get exact derivatives, zeros in x included (a formula through
/// division by x would not), and their JVP, VJP and batching come from this one entry.
enum Scan {
    static let table: [PrimitiveRules] = [
        PrimitiveRules(.linearScan, name: "linear_scan", type: linearScanType, eval: linearScanEval,
                       jvp: linearScanJVP, vjp: linearScanVJP, batch: linearScanBatch),
    ]

    private static func dimParam(_ params: Params) throws -> Int {
        guard case let .dim(d) = params else { throw SwiftFuncError.internal("linear_scan", "expects a dim") }
        return d
    }

    static func linearScanType(_ args: [TensorType], _ params: Params) throws -> TensorType {
        guard args.count == 2 else { throw SwiftFuncError.internal("linear_scan", "expects a and b") }
        let a = args[0], b = args[1]
        let d = try dimParam(params)
        guard a.shape == b.shape, a.dtype == b.dtype else {
            throw SwiftFuncError.internal("linear_scan", "a \(formatShape(a.shape)) \(a.dtype) and b \(formatShape(b.shape)) \(b.dtype) must agree")
        }
        guard d >= 0 && d < b.rank else {
            throw SwiftFuncError.invalidArgument("linear_scan", "dim \(d) is out of range for a tensor of rank \(b.rank)")
        }
        return TensorType(shape: b.shape, dtype: b.dtype)
    }

    static func linearScanEval(_ args: [Tensor], _ params: Params, _ type: TensorType) throws -> Tensor {
        let d = try dimParam(params)
        let result = try Tensor(uninitialized: type, op: "linear_scan")
        guard result.count > 0 else { return result }
        try type.dtype.dispatch(ScanKernel(a: args[0], b: args[1], result: result, dim: d))
        return result
    }

    /// Runs the recurrence down every line along `dim`.
    private struct ScanKernel: DTypeVisitor {
        let a: Tensor, b: Tensor, result: Tensor, dim: Int
        func visit<T: Element>(_: T.Type) {
            let n = result.shape[dim]
            let pa = a.elements(as: T.self), pb = b.elements(as: T.self), po = result.elements(as: T.self)
            let sa = a.strides[dim], sb = b.strides[dim], so = result.strides[dim]
            let zero = T(fromDouble: 0)
            StridedLoop.forEachLine(shape: result.shape, along: dim, strides: [a.strides, b.strides, result.strides],
                                    grain: Parallel.memoryGrain) {
                { start in
                    var oa = start[0], ob = start[1], oo = start[2]
                    var y = zero
                    for _ in 0..<n {
                        y = T.add(T.multiply(pa[oa], y), pb[ob]).normalized
                        po[oo] = y
                        oa &+= sa
                        ob &+= sb
                        oo &+= so
                    }
                }
            }
        }
    }

    /// y shifted one step along `dim`: (0, y_0, ..., y_(n-2)), the y_(i-1) of the recurrence.
    static func previous(_ y: Value, dim: Int) throws -> Value {
        let n = y.shape[dim]
        var before = [Int](repeating: 0, count: y.rank), after = before
        before[dim] = 1
        after[dim] = -1
        return n == 0 ? y : try emit(.pad, [y], .pad(before: before, after: after, value: 0))
    }

    /// a shifted one step back along `dim`: (a_1, ..., a_(n-1), 0), the a_(i+1) of the transpose.
    private static func next(_ a: Value, dim: Int) throws -> Value {
        var before = [Int](repeating: 0, count: a.rank), after = before
        before[dim] = -1
        after[dim] = 1
        return a.shape[dim] == 0 ? a : try emit(.pad, [a], .pad(before: before, after: after, value: 0))
    }

    // JVP: dy_i = a_i dy_(i-1) + (da_i y_(i-1) + db_i): the same recurrence on the tangents.
    static func linearScanJVP(_ primals: [Value], _ tangents: [Value?], _ output: Value, _ params: Params) throws -> Value? {
        let d = try dimParam(params)
        let dtype = output.dtype
        guard dtype.isFloatingPoint else { return nil }
        var rhs = try tangents[1].map { try Differentiation.cast($0, to: dtype) }
        if let ta = tangents[0] {
            let term = try emit(.mul, [Differentiation.cast(ta, to: dtype), previous(output, dim: d)])
            rhs = try rhs.map { try emit(.add, [$0, term]) } ?? term
        }
        guard let rhs else { return nil }
        return try emit(.linearScan, [primals[0], rhs], params)
    }

    // VJP: the adjoint runs the recurrence backwards, c_i = g_i + a_(i+1) c_(i+1); then
    // db = c and da = c * y_(i-1).
    static func linearScanVJP(_ cotangent: Value, _ primals: [Value], _ output: Value, _ params: Params, _ needed: [Bool]) throws -> [Value?] {
        let d = try dimParam(params)
        let a = primals[0]
        guard a.dtype.isFloatingPoint else { return [nil, nil] }
        let g = try Differentiation.cast(cotangent, to: a.dtype)
        let reversed = try emit(.linearScan, [emit(.flip, [next(a, dim: d)], .dims([d])), emit(.flip, [g], .dims([d]))], params)
        let c = try emit(.flip, [reversed], .dims([d]))
        let da = needed[0] ? try emit(.mul, [c, previous(output, dim: d)]) : nil
        return [da, needed[1] ? c : nil]
    }

    // Batching: both operands batch-first (an unbatched one as an expanded view), the dim shifts.
    static func linearScanBatch(_ args: [Value], _ dims: [Int?], _ batch: BatchContext, _ params: Params) throws -> (Value, Int?) {
        let d = try dimParam(params)
        let a = try Batching.materialize(args[0], batchDim: dims[0], size: batch.size)
        let b = try Batching.materialize(args[1], batchDim: dims[1], size: batch.size)
        return (try emit(.linearScan, [a, b], .dim(d + 1)), 0)
    }
}

// MARK: - Public ops

extension Ops {
    /// y_i = a_i * y_(i-1) + b_i along `dim` (y_(-1) = 0), a and b broadcast to one shape and
    /// promoted to one dtype: the scan behind cumsum and cumprod.
    public static func linearScan(_ a: Value, _ b: Value, dim: Int, op: String = "linear_scan") throws -> Value {
        let dtype = DType.promote(a.type, b.type)
        let shape = try ShapeChecks.broadcast(a.shape, b.shape, op: op)
        func aligned(_ v: Value) throws -> Value {
            let v = try Differentiation.cast(v, to: dtype)
            return v.shape == shape ? v : try expand(v, shape: shape)
        }
        var x = try aligned(a), y = try aligned(b)
        // A 0-d operand scans as one element, as torch's cumsum of a 0-d tensor.
        if shape.isEmpty {
            _ = try ShapeChecks.normalize(dim: dim, rank: 1, op: op)
            x = try reshape(x, shape: [1])
            y = try reshape(y, shape: [1])
            return try reshape(emit(.linearScan, [x, y], .dim(0)), shape: [])
        }
        let d = try ShapeChecks.normalize(dim: dim, rank: shape.count, op: op)
        return try emit(.linearScan, [x, y], .dim(d))
    }

    /// The integer-promoting dtype of torch's cumsum/cumprod: bool and int32 become int64.
    private static func scanDType(_ x: Value) -> DType { x.dtype.isFloatingPoint ? x.dtype : .int64 }

    /// Cumulative sums along `dim` (torch.cumsum); bool and integer inputs give int64.
    public static func cumsum(_ x: Value, dim: Int) throws -> Value {
        let x = try Differentiation.cast(x, to: scanDType(x))
        return try linearScan(full(shape: [], value: 1, dtype: x.dtype), x, dim: dim, op: "cumsum")
    }

    /// Cumulative products along `dim` (torch.cumprod); bool and integer inputs give int64. The
    /// gradient is exact where x has zeros.
    public static func cumprod(_ x: Value, dim: Int) throws -> Value {
        let x = try Differentiation.cast(x, to: scanDType(x))
        guard x.rank > 0 else { return try linearScan(x, x, dim: dim, op: "cumprod") }
        let d = try ShapeChecks.normalize(dim: dim, rank: x.rank, op: "cumprod")
        let n = x.shape[d]
        guard n > 0 else { return x }
        // b = (x_0, 0, ..., 0): the recurrence starts from x_0 and multiplies on.
        var after = [Int](repeating: 0, count: x.rank)
        after[d] = n - 1
        let first = try emit(.slice, [x], .slice(dim: d, start: 0, count: 1, step: 1))
        let start = try emit(.pad, [first], .pad(before: [Int](repeating: 0, count: x.rank), after: after, value: 0))
        return try linearScan(x, start, dim: d, op: "cumprod")
    }
}
