/// The sorting primitive: argsort, the int64 indices that sort x along a dim (stably: equal
/// values keep their order; NaN sorts as the largest value, as in torch), or only the first
/// `count` of them (topk). sort and topk gather x
/// at these indices, so their values are differentiable through gather.
enum Sorting {
    static let table: [PrimitiveRules] = [
        // argsort: an integer result, so no tangent and no cotangent.
        PrimitiveRules(.argsort, name: "argsort", type: argsortType, eval: argsortEval,
                       jvp: Differentiation.noTangent, vjp: Differentiation.noCotangents, batch: argsortBatch),
    ]

    private static func sortParams(_ params: Params) throws -> (dim: Int, descending: Bool, count: Int) {
        guard case let .sort(dim, descending, count) = params else { throw SwiftFuncError.internal("argsort", "expects sort params") }
        return (dim, descending, count)
    }

    static func argsortType(_ args: [TensorType], _ params: Params) throws -> TensorType {
        guard args.count == 1 else { throw SwiftFuncError.internal("argsort", "expects one tensor") }
        let x = args[0]
        let (d, _, count) = try sortParams(params)
        guard d >= 0 && d < x.rank else {
            throw SwiftFuncError.invalidArgument("argsort", "dim \(d) is out of range for a tensor of rank \(x.rank)")
        }
        guard count >= 0 && count <= x.shape[d] else {
            throw SwiftFuncError.invalidArgument("argsort", "count \(count) is out of range for dim \(d) of size \(x.shape[d])")
        }
        var shape = x.shape
        shape[d] = count
        return TensorType(shape: shape, dtype: .int64)
    }

    static func argsortEval(_ args: [Tensor], _ params: Params, _ type: TensorType) throws -> Tensor {
        let (d, descending, _) = try sortParams(params)
        let result = try Tensor(uninitialized: type, op: "argsort")
        guard result.count > 0 else { return result }
        try args[0].dtype.dispatch(ArgsortKernel(x: args[0], result: result, dim: d, descending: descending))
        return result
    }

    /// Orders the positions of each line along `dim` by value, ties by position (a strict total
    /// order, so the result is the stable sort whatever algorithm runs), and writes the first
    /// `count` of them: all by sorting, or, when few are wanted (topk), by keeping the best ones in
    /// a heap (n log k) and sorting those.
    private struct ArgsortKernel: DTypeVisitor {
        let x: Tensor, result: Tensor, dim: Int, descending: Bool
        func visit<T: Element>(_: T.Type) {
            let n = x.shape[dim], k = result.shape[dim]
            let px = x.elements(as: T.self), po = result.elements(as: Int64.self)
            let sx = x.strides[dim], so = result.strides[dim]
            let descending = self.descending
            // A sort costs more than a copy per element: the finer math grain.
            StridedLoop.forEachLine(shape: x.shape, along: dim, strides: [x.strides, result.strides],
                                    grain: Parallel.mathGrain) {
                var values = [T](repeating: T(fromDouble: 0), count: n)
                var order: [Int] = []
                order.reserveCapacity(n)
                return { start in
                    for i in 0..<n { values[i] = px[start[0] &+ i &* sx].normalized }
                    values.withUnsafeBufferPointer { v in
                        let before = { (p: Int, q: Int) -> Bool in
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
                        order.removeAll(keepingCapacity: true)
                        if k < n / 4 {
                            for i in 0..<n where order.count < k || before(i, order[0]) {
                                Sorting.keep(i, in: &order, count: k, before: before)
                            }
                        } else {
                            order.append(contentsOf: 0..<n)
                        }
                        order.sort(by: before)
                    }
                    for i in 0..<k { po[start[1] &+ i &* so] = Int64(order[i]) }
                }
            }
        }
    }

    /// Adds `i` to `heap`, a max-heap under `before` (the root is the last of the kept positions)
    /// of at most `count` entries; when it is full, `i` replaces the root. The caller only passes
    /// an `i` that belongs among the first `count`.
    private static func keep(_ i: Int, in heap: inout [Int], count: Int, before: (Int, Int) -> Bool) {
        var at: Int
        if heap.count < count {
            heap.append(i)
            at = heap.count - 1
            while at > 0 {
                let parent = (at - 1) / 2
                guard before(heap[parent], heap[at]) else { break }
                heap.swapAt(parent, at)
                at = parent
            }
            return
        }
        heap[0] = i
        at = 0
        while true {
            let left = 2 * at + 1, right = left + 1
            guard left < heap.count else { return }
            let later = right < heap.count && before(heap[left], heap[right]) ? right : left
            guard before(heap[at], heap[later]) else { return }
            heap.swapAt(at, later)
            at = later
        }
    }

    static func argsortBatch(_ args: [Value], _ dims: [Int?], _ batch: BatchContext, _ params: Params) throws -> (Value, Int?) {
        let (d, descending, count) = try sortParams(params)
        let front = try Batching.materialize(args[0], batchDim: dims[0], size: batch.size)
        return (try emit(.argsort, [front], .sort(dim: d + 1, descending: descending, count: count)), 0)
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
        return try emit(.argsort, [x], .sort(dim: d, descending: descending, count: x.shape[d]))
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
        // Only the first k positions are ordered (a heap selection when k is small).
        let indices = x.rank == 0 ? try argsort(x, dim: d, descending: largest)
                                  : try emit(.argsort, [x], .sort(dim: d, descending: largest, count: k))
        return (try gather(x, dim: d, index: indices), indices)
    }
}
