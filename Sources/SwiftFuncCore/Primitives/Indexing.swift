/// Indexing primitives: gather (torch.gather / take_along_dim), indexSelect (torch.index_select)
/// and scatterAdd (torch.scatter_add, out of place). Index tensors are int32 or int64; negative
/// indices count from the end; every index is checked before it is used.
///
/// A 0-d tensor is treated as having one dim of size 1, as torch does, so that dim 0 and -1 work.
enum Indexing {
    static let table: [PrimitiveRules] = [
        PrimitiveRules(.gather, name: "gather", type: gatherType, eval: gatherEval,
                       jvp: gatherJVP, vjp: gatherVJP, batch: gatherBatch),
        PrimitiveRules(.indexSelect, name: "index_select", type: indexSelectType, eval: indexSelectEval,
                       jvp: indexSelectJVP, vjp: indexSelectVJP, batch: indexSelectBatch),
        PrimitiveRules(.scatterAdd, name: "scatter_add", type: scatterAddType, eval: scatterAddEval,
                       jvp: scatterAddJVP, vjp: scatterAddVJP, batch: scatterAddBatch),
    ]

    /// The dim from the params, checked against the rank (a 0-d tensor has dim 0).
    private static func dim(_ params: Params, rank: Int, op: String) throws -> Int {
        guard case let .dim(d) = params else { throw SwiftFuncError.internal(op, "expects a dim") }
        guard d >= 0 && d < Swift.max(rank, 1) else {
            throw SwiftFuncError.invalidArgument(op, "dim \(d) is out of range for a tensor of rank \(rank)")
        }
        return d
    }

    private static func checkIndexDType(_ index: TensorType, op: String) throws {
        guard index.dtype.isInteger else {
            throw SwiftFuncError.dtype(op, "index must be int32 or int64, not \(index.dtype)")
        }
    }

    /// Shape and strides with a 0-d tensor seen as one dim of size 1.
    private static func atLeast1D(_ t: Tensor) -> (shape: [Int], strides: [Int]) {
        t.rank == 0 ? ([1], [0]) : (t.shape, t.strides)
    }

    /// `raw` counted from the end when negative, checked against `size`.
    @inline(__always)
    private static func normalize(_ raw: Int, size: Int, dim: Int, op: String) throws -> Int {
        let i = raw < 0 ? raw &+ size : raw
        guard i >= 0 && i < size else {
            throw SwiftFuncError.invalidArgument(op, "index \(raw) is out of bounds for dim \(dim) with size \(size)")
        }
        return i
    }

    // MARK: gather

    static func gatherType(_ args: [TensorType], _ params: Params) throws -> TensorType {
        guard args.count == 2 else { throw SwiftFuncError.internal("gather", "expects x and index") }
        let x = args[0], index = args[1]
        let d = try dim(params, rank: x.rank, op: "gather")
        try checkIndexDType(index, op: "gather")
        guard index.rank == x.rank else {
            throw SwiftFuncError.shape("gather", "index \(formatShape(index.shape)) must have the rank of x \(formatShape(x.shape))")
        }
        for k in 0..<x.rank where k != d && index.shape[k] > x.shape[k] {
            throw SwiftFuncError.shape("gather", "index \(formatShape(index.shape)) is larger than x \(formatShape(x.shape)) in dim \(k)")
        }
        return TensorType(shape: index.shape, dtype: x.dtype)
    }

    static func gatherEval(_ args: [Tensor], _ params: Params, _ type: TensorType) throws -> Tensor {
        let x = args[0], index = args[1]
        let d = try dim(params, rank: x.rank, op: "gather")
        let result = try Tensor(uninitialized: type, op: "gather")
        guard result.count > 0 else { return result }
        let (xShape, xStrides) = atLeast1D(x)
        let (indexShape, indexStrides) = atLeast1D(index)
        // Walk the index's shape; x's stride along `dim` is applied through the index value instead.
        var walked = xStrides
        walked[d] = 0
        let loop = StridedLoop(shape: indexShape, strides: [indexStrides, walked, ShapeChecks.contiguousStrides(indexShape)])
        let walk = Walk(loop: loop, size: xShape[d], dimStride: xStrides[d], dim: d, op: "gather")
        switch index.dtype {
        case .int32: try x.dtype.dispatch(GatherKernel(walk: walk, x: x, index: index.elements(as: Int32.self), result: result))
        default: try x.dtype.dispatch(GatherKernel(walk: walk, x: x, index: index.elements(as: Int64.self), result: result))
        }
        return result
    }

    /// The loop of an indexing kernel and what it needs to check and apply an index.
    private struct Walk {
        let loop: StridedLoop, size: Int, dimStride: Int, dim: Int, op: String
    }

    private struct GatherKernel<I: IndexTensorElement>: DTypeVisitor {
        let walk: Walk, x: Tensor, index: UnsafeMutablePointer<I>, result: Tensor
        func visit<T: Element>(_: T.Type) throws {
            let src = x.elements(as: T.self), dst = result.elements(as: T.self)
            let loop = walk.loop, n = loop.rowLength
            let si = loop.innerStride(0), sx = loop.innerStride(1), so = loop.innerStride(2)
            try loop.forEachRow { offsets in
                let ip = index + offsets[0], xp = src + offsets[1], op = dst + offsets[2]
                for j in 0..<n {
                    let i = try Indexing.normalize(ip[j &* si].indexValue, size: walk.size, dim: walk.dim, op: walk.op)
                    op[j &* so] = xp[j &* sx &+ i &* walk.dimStride]
                }
            }
        }
    }

    // MARK: index_select

    static func indexSelectType(_ args: [TensorType], _ params: Params) throws -> TensorType {
        guard args.count == 2 else { throw SwiftFuncError.internal("index_select", "expects x and index") }
        let x = args[0], index = args[1]
        let d = try dim(params, rank: x.rank, op: "index_select")
        try checkIndexDType(index, op: "index_select")
        guard index.rank <= 1 else {
            throw SwiftFuncError.shape("index_select", "index must be 1-D, not \(formatShape(index.shape))")
        }
        if x.rank == 0 {
            guard index.count == 1 else {
                throw SwiftFuncError.shape("index_select", "index of a 0-d tensor must have one element, not \(index.count)")
            }
            return TensorType(shape: [], dtype: x.dtype)
        }
        var shape = x.shape
        shape[d] = index.count
        return TensorType(shape: shape, dtype: x.dtype)
    }

    static func indexSelectEval(_ args: [Tensor], _ params: Params, _ type: TensorType) throws -> Tensor {
        let x = args[0], index = args[1]
        let d = try dim(params, rank: x.rank, op: "index_select")
        let (xShape, xStrides) = atLeast1D(x)
        // Check every index first and turn it into an element offset along `dim`.
        let indexStride = index.rank == 0 ? 0 : index.strides[0]
        var offsets = [Int](repeating: 0, count: index.count)
        for k in 0..<index.count {
            let raw: Int
            switch index.dtype {
            case .int32: raw = index.elements(as: Int32.self)[k &* indexStride].indexValue
            default: raw = index.elements(as: Int64.self)[k &* indexStride].indexValue
            }
            offsets[k] = try normalize(raw, size: xShape[d], dim: d, op: "index_select") &* xStrides[d]
        }
        let result = try Tensor(uninitialized: type, op: "index_select")
        guard result.count > 0 else { return result }
        var outShape = xShape
        outShape[d] = index.count
        var walked = xStrides
        walked[d] = 0
        // The third operand counts the position along `dim`, i.e. which entry of `offsets` applies.
        var position = [Int](repeating: 0, count: outShape.count)
        position[d] = 1
        let loop = StridedLoop(shape: outShape, strides: [walked, ShapeChecks.contiguousStrides(outShape), position])
        try offsets.withUnsafeBufferPointer { offsets in
            try x.dtype.dispatch(SelectKernel(loop: loop, x: x, offsets: offsets, result: result))
        }
        return result
    }

    private struct SelectKernel: DTypeVisitor {
        let loop: StridedLoop, x: Tensor, offsets: UnsafeBufferPointer<Int>, result: Tensor
        func visit<T: Element>(_: T.Type) {
            let src = x.elements(as: T.self), dst = result.elements(as: T.self)
            let n = loop.rowLength, sx = loop.innerStride(0), so = loop.innerStride(1), sp = loop.innerStride(2)
            guard let table = offsets.baseAddress else { return }
            loop.forEachRow { at in
                let xp = src + at[0], op = dst + at[1], pp = table + at[2]
                for j in 0..<n { op[j &* so] = xp[j &* sx &+ pp[j &* sp]] }
            }
        }
    }

    // MARK: scatter_add

    static func scatterAddType(_ args: [TensorType], _ params: Params) throws -> TensorType {
        guard args.count == 3 else { throw SwiftFuncError.internal("scatter_add", "expects x, index and src") }
        let x = args[0], index = args[1], src = args[2]
        let d = try dim(params, rank: x.rank, op: "scatter_add")
        try checkIndexDType(index, op: "scatter_add")
        guard src.dtype == x.dtype else {
            throw SwiftFuncError.dtype("scatter_add", "src has dtype \(src.dtype) but x has \(x.dtype)")
        }
        guard index.rank == x.rank && src.rank == x.rank else {
            throw SwiftFuncError.shape("scatter_add", "x \(formatShape(x.shape)), index \(formatShape(index.shape)) and src \(formatShape(src.shape)) must have the same rank")
        }
        for k in 0..<x.rank {
            guard index.shape[k] <= src.shape[k] && (k == d || index.shape[k] <= x.shape[k]) else {
                throw SwiftFuncError.shape("scatter_add", "index \(formatShape(index.shape)) is larger than src \(formatShape(src.shape)) or, outside dim \(d), than x \(formatShape(x.shape)) in dim \(k)")
            }
        }
        return TensorType(shape: x.shape, dtype: x.dtype)
    }

    static func scatterAddEval(_ args: [Tensor], _ params: Params, _ type: TensorType) throws -> Tensor {
        let x = args[0], index = args[1], src = args[2]
        let d = try dim(params, rank: x.rank, op: "scatter_add")
        let result = try Tensor(uninitialized: type, op: "scatter_add")
        if result.count > 0 { try x.copyElements(into: result) }
        guard index.count > 0 else { return result }
        let (xShape, _) = atLeast1D(x)
        let (indexShape, indexStrides) = atLeast1D(index)
        let srcStrides = atLeast1D(src).strides
        let resultStrides = x.rank == 0 ? [0] : result.strides
        var walked = resultStrides
        walked[d] = 0
        // Rows come in row-major order of the index, so duplicates accumulate in that order.
        let loop = StridedLoop(shape: indexShape, strides: [indexStrides, srcStrides, walked])
        let walk = Walk(loop: loop, size: xShape[d], dimStride: resultStrides[d], dim: d, op: "scatter_add")
        switch index.dtype {
        case .int32: try x.dtype.dispatch(ScatterKernel(walk: walk, index: index.elements(as: Int32.self), src: src, result: result))
        default: try x.dtype.dispatch(ScatterKernel(walk: walk, index: index.elements(as: Int64.self), src: src, result: result))
        }
        return result
    }

    private struct ScatterKernel<I: IndexTensorElement>: DTypeVisitor {
        let walk: Walk, index: UnsafeMutablePointer<I>, src: Tensor, result: Tensor
        func visit<T: Element>(_: T.Type) throws {
            let from = src.elements(as: T.self), dst = result.elements(as: T.self)
            let loop = walk.loop, n = loop.rowLength
            let si = loop.innerStride(0), ss = loop.innerStride(1), so = loop.innerStride(2)
            try loop.forEachRow { offsets in
                let ip = index + offsets[0], sp = from + offsets[1], op = dst + offsets[2]
                for j in 0..<n {
                    let i = try Indexing.normalize(ip[j &* si].indexValue, size: walk.size, dim: walk.dim, op: walk.op)
                    let target = j &* so &+ i &* walk.dimStride
                    op[target] = T.add(op[target], sp[j &* ss])
                }
            }
        }
    }
}

// MARK: - Transform rules

extension Indexing {
    private static func dimParam(_ params: Params, _ op: String) throws -> Int {
        guard case let .dim(d) = params else { throw SwiftFuncError.internal(op, "expects a dim") }
        return d
    }

    // gather: linear in x; its transpose scatters the cotangent into zeros.

    static func gatherJVP(_ primals: [Value], _ tangents: [Value?], _ output: Value, _ params: Params) throws -> Value? {
        guard let tangent = tangents[0] else { return nil }
        return try Differentiation.cast(try emit(.gather, [tangent, primals[1]], params), to: output.dtype)
    }

    static func gatherVJP(_ cotangent: Value, _ primals: [Value], _ output: Value, _ params: Params, _ needed: [Bool]) throws -> [Value?] {
        let x = primals[0]
        guard x.dtype.isFloatingPoint else { return [nil, nil] }
        let zeros = try Differentiation.zeros(like: x)
        return [try emit(.scatterAdd, [zeros, primals[1], Differentiation.cast(cotangent, to: x.dtype)], params), nil]
    }

    // index_select: linear in x; its transpose is an index_add, i.e. a scatter_add whose index is
    // the 1-D index repeated across the other dims (an expanded view).

    static func indexSelectJVP(_ primals: [Value], _ tangents: [Value?], _ output: Value, _ params: Params) throws -> Value? {
        guard let tangent = tangents[0] else { return nil }
        return try Differentiation.cast(try emit(.indexSelect, [tangent, primals[1]], params), to: output.dtype)
    }

    static func indexSelectVJP(_ cotangent: Value, _ primals: [Value], _ output: Value, _ params: Params, _ needed: [Bool]) throws -> [Value?] {
        let x = primals[0], index = primals[1]
        guard x.dtype.isFloatingPoint else { return [nil, nil] }
        let d = try dimParam(params, "index_select")
        // The index laid along dim d of a tensor of x's rank (0-d x: a 0-d index of its one entry).
        var lifted = [Int](repeating: 1, count: x.rank)
        if x.rank > 0 { lifted[d] = index.count }
        let along = try emit(.reshape, [index], .shape(lifted))
        let spread = along.shape == cotangent.shape ? along : try emit(.expand, [along], .shape(cotangent.shape))
        let zeros = try Differentiation.zeros(like: x)
        return [try emit(.scatterAdd, [zeros, spread, Differentiation.cast(cotangent, to: x.dtype)], params), nil]
    }

    // scatter_add: linear in (x, src): x's tangent passes through and src's is scattered; the
    // cotangent goes to x as it is and to src gathered at the index (zeros where src reaches past
    // the index).

    static func scatterAddJVP(_ primals: [Value], _ tangents: [Value?], _ output: Value, _ params: Params) throws -> Value? {
        let xTangent = tangents[0], srcTangent = tangents[2]
        guard let srcTangent else {
            guard let xTangent else { return nil }
            return try Differentiation.cast(xTangent, to: output.dtype)
        }
        let base = try xTangent.map { try Differentiation.cast($0, to: output.dtype) } ?? Differentiation.zeros(like: primals[0])
        return try emit(.scatterAdd, [base, primals[1], Differentiation.cast(srcTangent, to: output.dtype)], params)
    }

    static func scatterAddVJP(_ cotangent: Value, _ primals: [Value], _ output: Value, _ params: Params, _ needed: [Bool]) throws -> [Value?] {
        let x = primals[0], index = primals[1], src = primals[2]
        guard x.dtype.isFloatingPoint else { return [nil, nil, nil] }
        let ct = try Differentiation.cast(cotangent, to: x.dtype)
        var picked = try emit(.gather, [ct, index], params)
        if picked.shape != src.shape {
            let after = zip(src.shape, picked.shape).map { $0 - $1 }
            picked = try emit(.pad, [picked], .pad(before: [Int](repeating: 0, count: src.rank), after: after, value: 0))
        }
        return [ct, nil, picked]
    }

    // Batching. gather and scatter_add cannot broadcast, so every operand goes batch-first
    // (unbatched ones as expanded views, which copy nothing) and the dim shifts by one. A 0-d
    // example (which these ops treat as one dim of size 1) gets that dim for real.

    /// The operands batch-first; with `lift`, each also gets a trailing size-1 dim.
    private static func batchFirst(_ args: [Value], _ dims: [Int?], _ size: Int, lift: Bool) throws -> [Value] {
        try zip(args, dims).map { arg, dim in
            let front = try Batching.materialize(arg, batchDim: dim, size: size)
            return lift ? try emit(.reshape, [front], .shape(front.shape + [1])) : front
        }
    }

    private static func exampleRank(_ arg: Value, _ dim: Int?) -> Int { arg.rank - (dim == nil ? 0 : 1) }

    static func gatherBatch(_ args: [Value], _ dims: [Int?], _ batch: BatchContext, _ params: Params) throws -> (Value, Int?) {
        let size = batch.size
        let d = try dimParam(params, "gather")
        let lift = exampleRank(args[0], dims[0]) == 0
        let operands = try batchFirst(args, dims, size, lift: lift)
        let result = try emit(.gather, operands, .dim(d + 1))
        return (lift ? try emit(.reshape, [result], .shape([size])) : result, 0)
    }

    static func scatterAddBatch(_ args: [Value], _ dims: [Int?], _ batch: BatchContext, _ params: Params) throws -> (Value, Int?) {
        let size = batch.size
        let d = try dimParam(params, "scatter_add")
        let lift = exampleRank(args[0], dims[0]) == 0
        let operands = try batchFirst(args, dims, size, lift: lift)
        let result = try emit(.scatterAdd, operands, .dim(d + 1))
        return (lift ? try emit(.reshape, [result], .shape([size])) : result, 0)
    }

    static func indexSelectBatch(_ args: [Value], _ dims: [Int?], _ batch: BatchContext, _ params: Params) throws -> (Value, Int?) {
        let size = batch.size
        let d = try dimParam(params, "index_select")
        var x = args[0], index = args[1]
        let xDim = dims[0], indexDim = dims[1]
        if let xDim { x = try Batching.moveDim(x, from: xDim, to: 0) }
        if let indexDim { index = try Batching.moveDim(index, from: indexDim, to: 0) }
        // A 0-d example x is one dim of size 1 to index_select: make it real, drop it at the end.
        let lift = exampleRank(args[0], xDim) == 0
        if lift { x = try emit(.reshape, [x], .shape(x.shape + [1])) }
        let unlift: (Value) throws -> Value = { result in
            lift ? try emit(.reshape, [result], .shape([size])) : result
        }
        switch (xDim, indexDim) {
        case (.some, nil):
            // Every example selects the same entries: one index_select past the batch dim.
            return (try unlift(try emit(.indexSelect, [x, index], .dim(d + 1))), 0)
        case (nil, .some):
            // One index_select with all the examples' indices, then the batch split off in front
            // of the selected entries, at dim d.
            let perExample = index.shape.dropFirst().reduce(1, *)
            let flat = try emit(.reshape, [index], .shape([size * perExample]))
            let selected = try emit(.indexSelect, [x, flat], .dim(d))
            var split = x.shape
            split.replaceSubrange(d...d, with: [size, perExample])
            let result = try emit(.reshape, [selected], .shape(split))
            return lift ? (try emit(.reshape, [result], .shape([size])), 0) : (result, d)
        default:
            // Each example its own index: a gather whose index is example b's index laid along
            // dim d + 1 and repeated over the other dims.
            let perExample = index.shape.dropFirst().reduce(1, *)
            var lifted = [Int](repeating: 1, count: x.rank)
            lifted[0] = size
            lifted[d + 1] = perExample
            var target = x.shape
            target[d + 1] = perExample
            let along = try emit(.reshape, [index], .shape(lifted))
            let spread = along.shape == target ? along : try emit(.expand, [along], .shape(target))
            return (try unlift(try emit(.gather, [x, spread], .dim(d + 1))), 0)
        }
    }
}

/// The element types of index tensors.
protocol IndexTensorElement {
    /// The index as an Int.
    var indexValue: Int { get }
}

extension Int32: IndexTensorElement {
    var indexValue: Int { Int(self) }
}

extension Int64: IndexTensorElement {
    var indexValue: Int { Int(self) }
}

// MARK: - Public ops

extension Ops {
    /// out[i][j] = x[index[i][j]][j] for dim 0 and so on (torch.gather / take_along_dim): index has
    /// x's rank and is no larger than x outside `dim`.
    public static func gather(_ x: Value, dim: Int, index: Value) throws -> Value {
        let d = try ShapeChecks.normalize(dim: dim, rank: Swift.max(x.rank, 1), op: "gather")
        return try emit(.gather, [x, index], .dim(d))
    }

    /// The entries of x at the 1-D `index` along `dim` (torch.index_select).
    public static func indexSelect(_ x: Value, dim: Int, index: Value) throws -> Value {
        let d = try ShapeChecks.normalize(dim: dim, rank: Swift.max(x.rank, 1), op: "index_select")
        return try emit(.indexSelect, [x, index], .dim(d))
    }

    /// A copy of x with `src` added at `index` along `dim` (torch.scatter_add, out of place);
    /// duplicate indices accumulate.
    public static func scatterAdd(_ x: Value, dim: Int, index: Value, src: Value) throws -> Value {
        let d = try ShapeChecks.normalize(dim: dim, rank: Swift.max(x.rank, 1), op: "scatter_add")
        return try emit(.scatterAdd, [x, index, src], .dim(d))
    }
}
