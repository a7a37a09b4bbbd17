/// The sorting primitive: argsort, the int64 indices that sort x along a dim (stably: equal
/// values keep their order; NaN sorts as the largest value, as in torch). sort and topk gather x
/// at these indices, so their values are differentiable through gather.
enum Sorting {
    static let table: [PrimitiveRules] = [
        // argsort: an integer result, so no tangent and no cotangent.
        PrimitiveRules(.argsort, name: "argsort", type: argsortType, eval: argsortEval,
                       jvp: Differentiation.noTangent, vjp: Differentiation.noCotangents, batch: argsortBatch),
    ]

    private static func sortParams(_ params: Params) throws -> (dim: Int, descending: Bool) {
        guard case let .sort(dim, descending) = params else { throw SwiftFuncError.internal("argsort", "expects sort params") }
        return (dim, descending)
    }

    static func argsortType(_ args: [TensorType], _ params: Params) throws -> TensorType {
        guard args.count == 1 else { throw SwiftFuncError.internal("argsort", "expects one tensor") }
        let x = args[0]
        let d = try sortParams(params).dim
        guard d >= 0 && d < x.rank else {
            throw SwiftFuncError.invalidArgument("argsort", "dim \(d) is out of range for a tensor of rank \(x.rank)")
        }
        return TensorType(shape: x.shape, dtype: .int64)
    }

    static func argsortEval(_ args: [Tensor], _ params: Params, _ type: TensorType) throws -> Tensor {
        let (d, descending) = try sortParams(params)
        let result = try Tensor(uninitialized: type, op: "argsort")
        guard result.count > 0 else { return result }
        try args[0].dtype.dispatch(ArgsortKernel(x: args[0], result: result, dim: d, descending: descending))
        return result
    }

    /// Copies each line along `dim` into a buffer, sorts the positions by value (ties by
    /// position, which makes the sort stable whatever algorithm the standard library uses) and
    /// writes them out.
    private struct ArgsortKernel: DTypeVisitor {
        let x: Tensor, result: Tensor, dim: Int, descending: Bool
        func visit<T: Element>(_: T.Type) {
            let n = result.shape[dim]
            let px = x.elements(as: T.self), po = result.elements(as: Int64.self)
            let sx = x.strides[dim], so = result.strides[dim]
            let descending = self.descending
            // A sort costs more than a copy per element: the finer math grain.
            StridedLoop.forEachLine(shape: result.shape, along: dim, strides: [x.strides, result.strides],
                                    grain: Parallel.mathGrain) {
                var values = [T](repeating: T(fromDouble: 0), count: n)
                var order = [Int](repeating: 0, count: n)
                return { start in
                    for i in 0..<n {
                        values[i] = px[start[0] &+ i &* sx].normalized
                        order[i] = i
                    }
                    values.withUnsafeBufferPointer { v in
                        order.sort { p, q in
                            let a = v[p], b = v[q]
                            let aNaN = a.isNaNElement, bNaN = b.isNaNElement
                            if aNaN || bNaN {
                                // NaN is the largest: last ascending, first descending.
                                if aNaN && bNaN { return p < q }
                                return descending ? aNaN : bNaN
                            }
                            if a == b { return p < q }
                            return descending ? a > b : a < b
                        }
                    }
                    for i in 0..<n { po[start[1] &+ i &* so] = Int64(order[i]) }
                }
            }
        }
    }

    static func argsortBatch(_ args: [Value], _ dims: [Int?], _ batch: BatchContext, _ params: Params) throws -> (Value, Int?) {
        let (d, descending) = try sortParams(params)
        let front = try Batching.materialize(args[0], batchDim: dims[0], size: batch.size)
        return (try emit(.argsort, [front], .sort(dim: d + 1, descending: descending)), 0)
    }
}

// MARK: - Public ops

extension Ops {
    /// The int64 indices that sort x along `dim` (torch.argsort with stable=True: ties keep their
    /// order; NaN counts as the largest value).
    public static func argsort(_ x: Value, dim: Int = -1, descending: Bool = false) throws -> Value {
        if x.rank == 0 {
            _ = try ShapeChecks.normalize(dim: dim, rank: 1, op: "argsort")
            return try reshape(argsort(reshape(x, shape: [1]), dim: 0, descending: descending), shape: [])
        }
        let d = try ShapeChecks.normalize(dim: dim, rank: x.rank, op: "argsort")
        return try emit(.argsort, [x], .sort(dim: d, descending: descending))
    }

    /// x sorted along `dim` and the int64 indices of the sorted values in x (torch.sort, stable).
    /// The values are x gathered at the indices, so they are differentiable.
    public static func sort(_ x: Value, dim: Int = -1, descending: Bool = false) throws -> (values: Value, indices: Value) {
        let d = try ShapeChecks.normalize(dim: dim, rank: Swift.max(x.rank, 1), op: "sort")
        let indices = try argsort(x, dim: d, descending: descending)
        return (try gather(x, dim: d, index: indices), indices)
    }

    /// The k largest (or smallest) values along `dim`, in sorted order, with their int64 indices
    /// (torch.topk); 0 <= k <= the dim's size. Ties keep the lower index first.
    public static func topk(_ x: Value, k: Int, dim: Int = -1, largest: Bool = true) throws -> (values: Value, indices: Value) {
        let d = try ShapeChecks.normalize(dim: dim, rank: Swift.max(x.rank, 1), op: "topk")
        let size = x.rank == 0 ? 1 : x.shape[d]
        guard k >= 0 && k <= size else {
            throw SwiftFuncError.invalidArgument("topk", "k (\(k)) is out of range for dim \(dim) of size \(size)")
        }
        var indices = try argsort(x, dim: d, descending: largest)
        if x.rank > 0 && k < size { indices = try slice(indices, dim: d, start: 0, stop: k) }
        return (try gather(x, dim: d, index: indices), indices)
    }
}
