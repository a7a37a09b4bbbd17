/// Helpers for batching rules: moving the batch dim, materializing it on unbatched values, and the
/// rule templates shared by whole families (vectorized, broadcasting, reducing). They call `emit`,
/// so they run under whatever interpreter the rule runs under.
public enum Batching {
    /// `value` with dim `from` moved to position `to` (the other dims keep their order).
    public static func moveDim(_ value: Value, from: Int, to: Int) throws -> Value {
        if from == to { return value }
        var order = Array(0..<value.rank)
        order.remove(at: from)
        order.insert(from, at: to)
        return try emit(.permute, [value], .permutation(order))
    }

    /// `value` with its batch dim at 0; an unbatched value is broadcast to `size` along a new dim 0.
    public static func materialize(_ value: Value, batchDim: Int?, size: Int) throws -> Value {
        if let batchDim { return try moveDim(value, from: batchDim, to: 0) }
        let lifted = try unsqueeze(value, dim: 0)
        return try emit(.expand, [lifted], .shape([size] + value.shape))
    }

    /// `value` with a new size-1 dim at `dim`.
    public static func unsqueeze(_ value: Value, dim: Int) throws -> Value {
        var shape = value.shape
        shape.insert(1, at: dim)
        return try emit(.reshape, [value], .shape(shape))
    }

    /// Element `index` of `value` along `dim`, with that dim removed.
    public static func select(_ value: Value, dim: Int, index: Int) throws -> Value {
        let sliced = try emit(.slice, [value], .slice(dim: dim, start: index, count: 1, step: 1))
        var shape = value.shape
        shape.remove(at: dim)
        return try emit(.reshape, [sliced], .shape(shape))
    }

    /// Rule for primitives that act on each element independently of the dims (unary elementwise,
    /// cast, stop_gradient): the batch dim passes through.
    public static func vectorized(_ primitive: Primitive) -> BatchRule {
        { args, dims, _, params in (try emit(primitive, args, params), dims[0]) }
    }

    /// Rule for broadcasting n-ary primitives: batched operands get their batch dim in front and
    /// size-1 dims so that the per-example shapes still broadcast from the right; unbatched
    /// operands broadcast as they are. The result is batched along dim 0. The operands from
    /// `promotedFrom` on decide the computation dtype (select passes 1: its condition does not).
    public static func broadcasting(_ primitive: Primitive, promotedFrom: Int = 0) -> BatchRule {
        { args, dims, _, params in
            var exampleRank = 0
            for (arg, dim) in zip(args, dims) { exampleRank = Swift.max(exampleRank, arg.rank - (dim == nil ? 0 : 1)) }
            let aligned = try zip(args, dims).map { arg, dim -> Value in
                guard let dim else { return arg }
                let missing = exampleRank - (arg.rank - 1)
                var arg = arg
                if arg.type.isWeak && (dim != 0 || missing > 0) {
                    // permute/reshape make strong values, and a strong float64 would win the
                    // promotion a weak one loses: convert it first to the dtype it would promote to.
                    arg = try Differentiation.cast(arg, to: weakOperandDType(args, dims, promotedFrom: promotedFrom))
                }
                let front = try moveDim(arg, from: dim, to: 0)
                guard missing > 0 else { return front }
                var shape = front.shape
                shape.insert(contentsOf: [Int](repeating: 1, count: missing), at: 1)
                return try emit(.reshape, [front], .shape(shape))
            }
            return (try emit(primitive, aligned, params), 0)
        }
    }

    /// The dtype the per-example operands from `promotedFrom` on promote to: what a weak operand
    /// becomes in the computation.
    private static func weakOperandDType(_ args: [Value], _ dims: [Int?], promotedFrom: Int) -> DType {
        let operands = zip(args, dims).dropFirst(promotedFrom).map { arg, dim -> TensorType in
            var type = arg.type
            if let dim { type.shape.remove(at: dim) }
            return type
        }
        guard let first = operands.first else { return .float64 }
        return operands.dropFirst().reduce(first) { promoted, next in
            TensorType(shape: [], dtype: DType.promote(promoted, next), isWeak: promoted.isWeak && next.isWeak)
        }.dtype
    }

    /// Rule for reductions over `Params.reduction`: the batch dim moves to the front and the
    /// reduced dims shift by one.
    public static func reducing(_ primitive: Primitive) -> BatchRule {
        { args, dims, _, params in
            guard case let .reduction(reduced, keepdim) = params, let dim = dims[0] else {
                throw SwiftFuncError.internal(primitive.name, "reduction batching rule got unexpected arguments")
            }
            let front = try moveDim(args[0], from: dim, to: 0)
            return (try emit(primitive, [front], .reduction(dims: reduced.map { $0 + 1 }, keepdim: keepdim)), 0)
        }
    }
}
