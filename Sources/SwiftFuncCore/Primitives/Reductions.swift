/// Reduction primitives (sum, prod, amax, amin, argmax, argmin) over any set of dims, and the
/// element support that reductions, cat, pad and scatter_add share.
///
/// Every kernel visits the reduced elements of one output in the row-major order of the reduced
/// dims, whatever the input's strides, so that results are bit-identical for every layout.
/// Float sums accumulate in Double: sequentially within blocks of 128 elements, and the block sums
/// pairwise (a binary cascade). float32 is rounded once at the end, so its sums are as exact as
/// float32 can hold; float64 gets the O(log n) error growth of pairwise summation.
enum Reductions {
    static let table: [PrimitiveRules] = [
        PrimitiveRules(.sum, name: "sum", type: reductionType("sum", hasIdentity: true, dtype: sumDType),
                       eval: reductionEval("sum", SumKernel()),
                       jvp: weightedJVP(nil), vjp: weightedVJP(nil), batch: Batching.reducing(.sum)),
        PrimitiveRules(.prod, name: "prod", type: reductionType("prod", hasIdentity: true, dtype: sumDType),
                       eval: reductionEval("prod", ProductKernel()),
                       jvp: weightedJVP(byProductOfOthers), vjp: weightedVJP(byProductOfOthers), batch: Batching.reducing(.prod)),
        PrimitiveRules(.amax, name: "amax", type: reductionType("amax", hasIdentity: false, dtype: { $0 }),
                       eval: reductionEval("amax", ExtremeKernel(maximum: true)),
                       jvp: weightedJVP(byTiedExtremes), vjp: weightedVJP(byTiedExtremes), batch: Batching.reducing(.amax)),
        PrimitiveRules(.amin, name: "amin", type: reductionType("amin", hasIdentity: false, dtype: { $0 }),
                       eval: reductionEval("amin", ExtremeKernel(maximum: false)),
                       jvp: weightedJVP(byTiedExtremes), vjp: weightedVJP(byTiedExtremes), batch: Batching.reducing(.amin)),
        // Integer results: no tangent, no cotangent.
        PrimitiveRules(.argmax, name: "argmax", type: reductionType("argmax", hasIdentity: false, dtype: { _ in .int64 }),
                       eval: reductionEval("argmax", ArgExtremeKernel(maximum: true)),
                       jvp: Differentiation.noTangent, vjp: Differentiation.noCotangents, batch: Batching.reducing(.argmax)),
        PrimitiveRules(.argmin, name: "argmin", type: reductionType("argmin", hasIdentity: false, dtype: { _ in .int64 }),
                       eval: reductionEval("argmin", ArgExtremeKernel(maximum: false)),
                       jvp: Differentiation.noTangent, vjp: Differentiation.noCotangents, batch: Batching.reducing(.argmin)),
    ]

    /// sum and prod: float dtypes are kept, bool and integers give int64.
    static func sumDType(_ dtype: DType) -> DType { dtype.isFloatingPoint ? dtype : .int64 }

    /// The type rule of a reduction: checks the reduced dims and computes the result's shape;
    /// `dtype` gives the result dtype from the input's. An op without identity (`hasIdentity`
    /// false) refuses to reduce a dim of size 0: there is nothing to return.
    static func reductionType(_ name: String, hasIdentity: Bool, dtype: @escaping @Sendable (DType) -> DType) -> TypeRule {
        { args, params in
            guard args.count == 1, case let .reduction(dims, keepdim) = params else {
                throw SwiftFuncError.internal(name, "expects one tensor and reduction parameters")
            }
            let x = args[0]
            try checkSortedDims(dims, rank: x.rank, op: name)
            var shape: [Int] = []
            var next = 0
            for d in 0..<x.rank {
                if next < dims.count && dims[next] == d {
                    next += 1
                    if keepdim { shape.append(1) }
                } else {
                    shape.append(x.shape[d])
                }
            }
            if !hasIdentity {
                for d in dims where x.shape[d] == 0 {
                    throw SwiftFuncError.shape(name, "cannot reduce dim \(d) of size 0 (shape \(formatShape(x.shape))): the op has no identity")
                }
            }
            return TensorType(shape: shape, dtype: dtype(x.dtype))
        }
    }

    /// Dims that rules receive must be strictly increasing and within the rank.
    static func checkSortedDims(_ dims: [Int], rank: Int, op: String) throws {
        var previous = -1
        for d in dims {
            guard d > previous && d < rank else {
                throw SwiftFuncError.internal(op, "dims \(dims) are not sorted, unique and within rank \(rank)")
            }
            previous = d
        }
    }

    /// The kernel of a reduction: `kernel` reduces each output's elements, walked by a
    /// `ReductionPlan` in the row-major order of the reduced dims.
    static func reductionEval<K: ReductionKernel>(_ name: String, _ kernel: K) -> EvalRule {
        { args, params, type in
            guard case let .reduction(dims, _) = params else { throw SwiftFuncError.internal(name, "expects reduction parameters") }
            let x = args[0]
            let result = try Tensor(uninitialized: type, op: name)
            let plan = ReductionPlan(shape: x.shape, strides: x.strides, reduced: dims)
            try x.dtype.dispatch(ReductionVisitor(kernel: kernel, x: x, result: result, plan: plan))
            return result
        }
    }
}

/// One reduction's element loop: picks the row reducer for the input's element type.
protocol ReductionKernel: Sendable {
    func reduce<T: Element>(_ source: UnsafePointer<T>, _ result: Tensor, _ plan: ReductionPlan)
}

/// Runs a reduction kernel specialized for the input's element type.
private struct ReductionVisitor<K: ReductionKernel>: DTypeVisitor {
    let kernel: K, x: Tensor, result: Tensor, plan: ReductionPlan

    func visit<T: Element>(_: T.Type) {
        kernel.reduce(UnsafePointer(x.elements(as: T.self)), result, plan)
    }
}

/// sum: floats in Double (pairwise blocks), bool and integers in int64. Small groups go across
/// the kept dims (`runLanes`); float sums over one strided batch dim walk columns (`columnSum`).
private struct SumKernel: ReductionKernel {
    func reduce<T: Element>(_ source: UnsafePointer<T>, _ result: Tensor, _ plan: ReductionPlan) {
        if T.isFloatingPointElement {
            let out = result.elements(as: T.self)
            if plan.suitsLanes {
                plan.runLanes(FloatSumLanes<T>(), source: source, into: out)
            } else if plan.suitsColumnSum {
                plan.columnSum(source: source, into: out)
            } else if plan.suitsFourRowSums {
                plan.fourRowSums(source: source, into: out)
            } else {
                plan.run(FloatSum<T>(), source: source, into: out)
            }
        } else {
            let out = result.elements(as: Int64.self)
            if plan.suitsLanes {
                plan.runLanes(IntegerSumLanes<T>(), source: source, into: out)
            } else {
                plan.run(IntegerSum<T>(), source: source, into: out)
            }
        }
    }
}

/// prod: floats in Double, bool and integers in int64.
private struct ProductKernel: ReductionKernel {
    func reduce<T: Element>(_ source: UnsafePointer<T>, _ result: Tensor, _ plan: ReductionPlan) {
        if T.isFloatingPointElement {
            let out = result.elements(as: T.self)
            if plan.suitsLanes {
                plan.runLanes(FloatProductLanes<T>(), source: source, into: out)
            } else {
                plan.run(FloatProduct<T>(), source: source, into: out)
            }
        } else {
            let out = result.elements(as: Int64.self)
            if plan.suitsLanes {
                plan.runLanes(IntegerProductLanes<T>(), source: source, into: out)
            } else {
                plan.run(IntegerProduct<T>(), source: source, into: out)
            }
        }
    }
}

/// amax (`maximum`) and amin: the extreme value, in the input's dtype.
private struct ExtremeKernel: ReductionKernel {
    let maximum: Bool
    func reduce<T: Element>(_ source: UnsafePointer<T>, _ result: Tensor, _ plan: ReductionPlan) {
        let out = result.elements(as: T.self)
        if plan.suitsLanes {
            if maximum {
                plan.runLanes(ExtremeLanes<T, Larger>(), source: source, into: out)
            } else {
                plan.runLanes(ExtremeLanes<T, Smaller>(), source: source, into: out)
            }
        } else {
            plan.run(Extreme<T>(maximum: maximum), source: source, into: out)
        }
    }
}

/// argmax (`maximum`) and argmin: the int64 position of the first extreme value.
private struct ArgExtremeKernel: ReductionKernel {
    let maximum: Bool
    func reduce<T: Element>(_ source: UnsafePointer<T>, _ result: Tensor, _ plan: ReductionPlan) {
        plan.run(ArgExtreme<T>(maximum: maximum), source: source, into: result.elements(as: Int64.self))
    }
}

// MARK: - Transform rules

extension Reductions {
    /// What the JVP and VJP of a reduction weigh each reduced element by, from x, the output and the
    /// params' dims and keepdim (nil weights: 1, as for sum).
    typealias Weights = @Sendable (_ x: Value, _ output: Value, _ dims: [Int], _ keepdim: Bool) throws -> Value

    /// prod: each element weighs the product of the other elements of its group.
    static let byProductOfOthers: Weights = { x, _, dims, _ in try productOfOthers(x, dims: dims) }

    /// amax/amin: the tangent is shared evenly among the tied extremes.
    static let byTiedExtremes: Weights = { x, output, dims, keepdim in try extremeWeights(x, output, dims: dims, keepdim: keepdim) }

    /// Forward mode of a reduction that is linear in its input up to `weights`: the weighted tangent
    /// reduced like the input.
    static func weightedJVP(_ weights: Weights?) -> JVPRule {
        { primals, tangents, output, params in
            guard let tangent = tangents[0], case let .reduction(dims, keepdim) = params else { return nil }
            let weighted = try weights.map { try emit(.mul, [tangent, try $0(primals[0], output, dims, keepdim)]) } ?? tangent
            return try Differentiation.cast(try emit(.sum, [weighted], params), to: output.dtype)
        }
    }

    /// Reverse mode: the cotangent broadcast back over the reduced dims, times the same weights as
    /// the JVP.
    static func weightedVJP(_ weights: Weights?) -> VJPRule {
        { cotangent, primals, output, params, _ in
            guard case let .reduction(dims, keepdim) = params else { return [nil] }
            let x = primals[0]
            guard x.dtype.isFloatingPoint else { return [nil] }
            let spread = try broadcastBack(cotangent, to: x.shape, dims: dims, keepdim: keepdim)
            let result = try weights.map { try emit(.mul, [spread, try $0(x, output, dims, keepdim)]) } ?? spread
            return [try Differentiation.cast(result, to: x.dtype)]
        }
    }

    /// `shape` with the reduced dims set to 1 (the keepdim shape).
    static func keptShape(_ shape: [Int], dims: [Int]) -> [Int] {
        var kept = shape
        for d in dims { kept[d] = 1 }
        return kept
    }

    /// A reduction's result (or cotangent) repeated along the reduced dims, back to `shape`.
    static func broadcastBack(_ value: Value, to shape: [Int], dims: [Int], keepdim: Bool) throws -> Value {
        let kept = keptShape(shape, dims: dims)
        let lifted = value.shape == kept ? value : try emit(.reshape, [value], .shape(kept))
        return lifted.shape == shape ? lifted : try emit(.expand, [lifted], .shape(shape))
    }

    /// For amax/amin: 1/count where x equals the extreme of its group (count = the number of ties),
    /// 0 elsewhere. Computed from primal values only, so it carries no tangent.
    static func extremeWeights(_ x: Value, _ output: Value, dims: [Int], keepdim: Bool) throws -> Value {
        let kept = keptShape(x.shape, dims: dims)
        let extreme = keepdim || output.shape == kept ? output : try emit(.reshape, [output], .shape(kept))
        let mask = try emit(.cast, [try emit(.eq, [x, extreme])], .dtype(x.dtype))
        let count = try emit(.sum, [mask], .reduction(dims: dims, keepdim: true))
        return try emit(.div, [mask, count])
    }

    /// For each element of x, the product of the other elements of its reduction group: the
    /// derivative of prod. Built from exclusive prefix and suffix products (a log-step scan of
    /// pads and products), never by dividing by x, so it is exact where x has zeros and its own
    /// derivatives are too.
    static func productOfOthers(_ x: Value, dims: [Int]) throws -> Value {
        let rank = x.rank
        var isReduced = [Bool](repeating: false, count: rank)
        for d in dims { isReduced[d] = true }
        let kept = (0..<rank).filter { !isReduced[$0] }
        // Kept dims first, reduced dims last and merged into one dim of the group size.
        let order = kept + dims
        let identity = order == Array(0..<rank)
        let moved = identity ? x : try emit(.permute, [x], .permutation(order))
        let groupSize = dims.reduce(1) { $0 * x.shape[$1] }
        let rowsShape = kept.map { x.shape[$0] } + [groupSize]
        let rows = try emit(.reshape, [moved], .shape(rowsShape))
        let last = rowsShape.count - 1
        let prefix = try exclusiveProducts(rows, dim: last)
        let reversed = try emit(.flip, [rows], .dims([last]))
        let suffix = try emit(.flip, [try exclusiveProducts(reversed, dim: last)], .dims([last]))
        let others = try emit(.reshape, [try emit(.mul, [prefix, suffix])], .shape(order.map { x.shape[$0] }))
        guard !identity else { return others }
        var inverse = [Int](repeating: 0, count: rank)
        for (i, d) in order.enumerated() { inverse[d] = i }
        return try emit(.permute, [others], .permutation(inverse))
    }

    /// result[i] = product of rows[j] for j < i along `dim` (1 at i = 0): the input shifted by one
    /// with a leading 1, then an inclusive scan in log2(n) steps of "multiply by the value k back".
    static func exclusiveProducts(_ rows: Value, dim: Int) throws -> Value {
        let n = rows.shape[dim]
        guard n > 0 else { return rows }
        var before = [Int](repeating: 0, count: rows.rank), after = before
        before[dim] = 1
        after[dim] = -1
        var scan = try emit(.pad, [rows], .pad(before: before, after: after, value: 1))
        var k = 1
        while k < n {
            before[dim] = k
            after[dim] = -k
            scan = try emit(.mul, [scan, try emit(.pad, [scan], .pad(before: before, after: after, value: 1))])
            k *= 2
        }
        return scan
    }
}

// MARK: - Public ops

extension Ops {
    /// Sum over `dims` (all dims when nil or empty), as torch.sum; bool and integer inputs give int64.
    public static func sum(_ x: Value, dims: [Int]? = nil, keepdim: Bool = false) throws -> Value {
        try reduce(.sum, "sum", x, dims, keepdim)
    }

    /// Product over `dims` (all dims when nil or empty), as torch.prod; bool and integer inputs give int64.
    public static func prod(_ x: Value, dims: [Int]? = nil, keepdim: Bool = false) throws -> Value {
        try reduce(.prod, "prod", x, dims, keepdim)
    }

    /// Largest value over `dims` (torch.amax); NaN wins. An empty reduction is an error.
    public static func amax(_ x: Value, dims: [Int]? = nil, keepdim: Bool = false) throws -> Value {
        try reduce(.amax, "amax", x, dims, keepdim)
    }

    /// Smallest value over `dims` (torch.amin); NaN wins. An empty reduction is an error.
    public static func amin(_ x: Value, dims: [Int]? = nil, keepdim: Bool = false) throws -> Value {
        try reduce(.amin, "amin", x, dims, keepdim)
    }

    /// The int64 row-major index, within the reduced dims, of the first largest value (NaN counts
    /// as largest), as torch.argmax generalized to several dims.
    public static func argmax(_ x: Value, dims: [Int]? = nil, keepdim: Bool = false) throws -> Value {
        try reduce(.argmax, "argmax", x, dims, keepdim)
    }

    /// The int64 row-major index, within the reduced dims, of the first smallest value (NaN counts
    /// as smallest), as torch.argmin generalized to several dims.
    public static func argmin(_ x: Value, dims: [Int]? = nil, keepdim: Bool = false) throws -> Value {
        try reduce(.argmin, "argmin", x, dims, keepdim)
    }

    private static func reduce(_ primitive: Primitive, _ name: String, _ x: Value, _ dims: [Int]?, _ keepdim: Bool) throws -> Value {
        let normalized = try ShapeChecks.normalize(dims: dims, rank: x.rank, op: name)
        return try emit(primitive, [x], .reduction(dims: normalized, keepdim: keepdim))
    }
}

// MARK: - The walk over kept and reduced dims

/// Consumes the reduced elements of one output, row by row, in row-major order of the reduced dims.
protocol RowReducer {
    associatedtype Input: Element
    associatedtype Output
    /// Starts a new output.
    mutating func reset()
    /// Takes `count` elements at `row[0], row[stride], ...` (count >= 1).
    mutating func consume(_ row: UnsafePointer<Input>, count: Int, stride: Int)
    /// The output for everything consumed since `reset`.
    mutating func result() -> Output
    /// When consecutive pieces of one output's elements, each consumed by its own reducer, can be
    /// joined with `append` into exactly (bit for bit) what one reducer consuming them all gives:
    /// every piece but the last must hold the same power of two times this many elements. nil when
    /// pieces cannot be joined exactly (float products, whose rounding depends on the order).
    static var pieceAlignment: Int? { get }
    /// Joins the state of a reducer that consumed the elements right after this one's (only
    /// called on pieces `pieceAlignment` allows).
    mutating func append(_ later: Self)
}

/// The input split into kept (outer) and reduced (inner) dims, each merged where the strides allow
/// without changing the row-major visiting order.
///
/// Threads: outputs are split across `Parallel`'s threads, and each output is computed whole by one
/// thread in the same order as on one thread, so results do not depend on the thread count. With
/// fewer outputs than threads, a large group is cut into aligned pieces that `RowReducer.append`
/// joins exactly.
struct ReductionPlan {
    let outerShape: [Int], outerStrides: [Int]
    let innerShape: [Int], innerStrides: [Int]

    init(shape: [Int], strides: [Int], reduced: [Int]) {
        var isReduced = [Bool](repeating: false, count: shape.count)
        for d in reduced { isReduced[d] = true }
        let kept = shape.indices.filter { !isReduced[$0] }
        (outerShape, outerStrides) = ReductionPlan.merge(kept.map { shape[$0] }, kept.map { strides[$0] })
        (innerShape, innerStrides) = ReductionPlan.merge(reduced.map { shape[$0] }, reduced.map { strides[$0] })
    }

    /// Drops size-1 dims and merges neighbours whose strides make them one dim; never empty
    /// (`[1]` for nothing, `[0]` when a size is 0).
    static func merge(_ shape: [Int], _ strides: [Int]) -> ([Int], [Int]) {
        if shape.contains(0) { return ([0], [0]) }
        var sizes: [Int] = [], steps: [Int] = []
        for d in shape.indices where shape[d] != 1 {
            if let last = sizes.indices.last, steps[last] == strides[d] &* shape[d] {
                sizes[last] &*= shape[d]
                steps[last] = strides[d]
            } else {
                sizes.append(shape[d])
                steps.append(strides[d])
            }
        }
        return sizes.isEmpty ? ([1], [0]) : (sizes, steps)
    }

    /// Number of outputs.
    var outerCount: Int { outerShape.reduce(1, &*) }

    /// Number of elements reduced into each output.
    var innerCount: Int { innerShape.reduce(1, &*) }

    /// The kept dims but the innermost (rows of outputs), for the walks that go along the innermost.
    private var rowShape: [Int] { Array(outerShape.dropLast()) }
    private var rowStrides: [Int] { Array(outerStrides.dropLast()) }

    /// Writes one result per combination of kept dims, in row-major order, into `out`.
    func run<R: RowReducer>(_ prototype: R, source: UnsafePointer<R.Input>, into out: UnsafeMutablePointer<R.Output>) {
        let outputs = outerCount, group = innerCount
        if outputs == 0 { return }
        if outputs < Parallel.threadCount, let alignment = R.pieceAlignment, Parallel.splits(group, grain: Parallel.memoryGrain) {
            var outer = Odometer(shape: outerShape, strides: [outerStrides])
            for k in 0..<outputs {
                out[k] = reduceInPieces(prototype, alignment: alignment, source: source + outer.offset)
                outer.advance()
            }
            return
        }
        Parallel.run(outputs, grain: Swift.max(1, Parallel.memoryGrain / Swift.max(1, group))) { outputs in
            var reducer = prototype
            var outer = Odometer(shape: outerShape, strides: [outerStrides], start: outputs.lowerBound)
            var innerIndex = [Int](repeating: 0, count: innerShape.count)
            for k in outputs {
                reducer.reset()
                consumeGroup(&reducer, source: source + outer.offset, index: &innerIndex)
                out[k] = reducer.result()
                outer.advance()
            }
        }
    }

    /// Feeds the group of elements starting at `source` to `reducer`, row by row; `index` is
    /// scratch space of the inner rank (all zeros before and after).
    private func consumeGroup<R: RowReducer>(_ reducer: inout R, source: UnsafePointer<R.Input>, index: inout [Int]) {
        if innerShape[0] == 0 { return }
        let last = innerShape.count - 1
        let rowLength = innerShape[last], rowStride = innerStrides[last]
        var offset = 0
        while true {
            reducer.consume(source + offset, count: rowLength, stride: rowStride)
            // Odometer over the reduced dims other than the row dim.
            var d = last - 1
            while d >= 0 {
                index[d] &+= 1
                offset &+= innerStrides[d]
                if index[d] < innerShape[d] { break }
                offset &-= innerStrides[d] &* innerShape[d]
                index[d] = 0
                d -= 1
            }
            if d < 0 { return }
        }
    }

    /// One output whose group starts at `source`, cut into pieces of `alignment` times a power of
    /// two elements (at least the grain) that the pool's threads reduce, joined in order.
    private func reduceInPieces<R: RowReducer>(_ prototype: R, alignment: Int, source: UnsafePointer<R.Input>) -> R.Output {
        let group = innerCount
        var piece = alignment
        while piece < Parallel.memoryGrain { piece &*= 2 }
        let pieces = (group + piece - 1) / piece
        let walk = StridedLoop(shape: innerShape, strides: [innerStrides])
        let step = walk.innerStride(0)
        var states = [R](repeating: prototype, count: pieces)
        states.withUnsafeMutableBufferPointer { states in
            Parallel.run(pieces, grain: 1) { range in
                for p in range {
                    var reducer = prototype
                    reducer.reset()
                    walk.forEachRun(in: p &* piece ..< Swift.min(group, (p &+ 1) &* piece)) { offsets, count, _ in
                        reducer.consume(source + offsets[0], count: count, stride: step)
                    }
                    states[p] = reducer
                }
            }
        }
        var total = states[0]
        for p in 1..<pieces { total.append(states[p]) }
        return total.result()
    }
}

// MARK: - Small groups across the kept dims

/// A reduction done across outputs: one accumulator per output of a tile, all updated with the
/// first element of their groups, then the second, ... Each output gets exactly the operations
/// of its row reducer, in the same order, so the results are the same bits; the loop over a tile
/// has no dependency between iterations, so it vectorizes where the row loop cannot.
protocol LaneReducer {
    associatedtype Input: Element
    associatedtype Accumulator
    associatedtype Output
    /// The accumulator after the group's first element.
    func start(_ x: Input) -> Accumulator
    /// The accumulator after one more element.
    func combine(_ accumulator: Accumulator, _ x: Input) -> Accumulator
    func finish(_ accumulator: Accumulator) -> Output
}

extension ReductionPlan {
    /// Groups of up to this many elements go across the kept dims. Below FloatSum's block size, so
    /// float sums there are one block (no cascade): a plain sequential sum in each lane.
    static var laneGroupLimit: Int { 64 }

    /// Whether `runLanes` fits: small non-empty groups and at least two outputs along the innermost
    /// kept dim (pooling windows, per-row sums of short rows, any strides).
    var suitsLanes: Bool {
        outerShape[0] != 0 && innerShape[0] != 0 && innerCount <= Self.laneGroupLimit && outerShape[outerShape.count - 1] >= 2
    }

    /// The offsets of a group's elements, in row-major order of the reduced dims.
    private var groupOffsets: [Int] {
        var member = Odometer(shape: innerShape, strides: [innerStrides])
        return (0..<innerCount).map { _ in
            defer { member.advance() }
            return member.offset
        }
    }

    /// The reduction for `suitsLanes` plans: tiles of outputs along the innermost kept dim, each
    /// element of the group added to every lane of the tile in turn. Tiles are split across threads.
    func runLanes<L: LaneReducer>(_ lanes: L, source: UnsafePointer<L.Input>, into out: UnsafeMutablePointer<L.Output>) {
        let tile = 64
        let width = outerShape[outerShape.count - 1], step = outerStrides[outerStrides.count - 1]
        let rows = rowShape.reduce(1, &*), tiles = (width + tile - 1) / tile
        let members = groupOffsets, group = members.count
        let grain = Swift.max(1, Parallel.memoryGrain / (Swift.min(tile, width) * group))
        Parallel.run(rows &* tiles, grain: grain) { units in
            withUnsafeTemporaryAllocation(of: L.Accumulator.self, capacity: tile) { lane in
                var row = Odometer(shape: rowShape, strides: [rowStrides], start: units.lowerBound / tiles)
                var tileIndex = units.lowerBound % tiles
                for unit in units {
                    let first = tileIndex &* tile, count = Swift.min(tile, width &- first)
                    let base = source + (row.offset &+ first &* step)
                    let target = out + ((unit / tiles) &* width &+ first)
                    // Constant steps, so that the loops over lanes load with a fixed stride
                    // (vectorized, also for the stride 2 of pooling windows).
                    switch step {
                    case 1: Self.reduceTile(lanes, lane, members, base, count, step: 1, into: target)
                    case 2: Self.reduceTile(lanes, lane, members, base, count, step: 2, into: target)
                    default: Self.reduceTile(lanes, lane, members, base, count, step: step, into: target)
                    }
                    tileIndex &+= 1
                    if tileIndex == tiles {
                        tileIndex = 0
                        row.advance()
                    }
                }
            }
        }
    }
}

extension ReductionPlan {
    /// One tile of `runLanes`: `count` outputs `step` apart from `base`, each reducing the elements
    /// at `members` from its own position. The groups' last elements go straight to the outputs.
    @inline(__always)
    fileprivate static func reduceTile<L: LaneReducer>(_ lanes: L, _ lane: UnsafeMutableBufferPointer<L.Accumulator>, _ members: [Int],
                                                       _ base: UnsafePointer<L.Input>, _ count: Int, step: Int,
                                                       into target: UnsafeMutablePointer<L.Output>) {
        let group = members.count
        let p = base + members[0]
        guard group > 1 else {
            for j in 0..<count { target[j] = lanes.finish(lanes.start(p[j &* step])) }
            return
        }
        for j in 0..<count { lane[j] = lanes.start(p[j &* step]) }
        for m in 1..<(group &- 1) {
            let p = base + members[m]
            for j in 0..<count { lane[j] = lanes.combine(lane[j], p[j &* step]) }
        }
        let last = base + members[group &- 1]
        for j in 0..<count { target[j] = lanes.finish(lanes.combine(lane[j], last[j &* step])) }
    }
}

/// FloatSum's operations: 0 + x0 + x1 + ... in Double, rounded once.
struct FloatSumLanes<T: Element>: LaneReducer {
    @inline(__always) func start(_ x: T) -> Double { 0.0 + x.doubleValue }
    @inline(__always) func combine(_ accumulator: Double, _ x: T) -> Double { accumulator + x.doubleValue }
    @inline(__always) func finish(_ accumulator: Double) -> T { T(fromDouble: accumulator) }
}

/// IntegerSum's: wrapping int64.
struct IntegerSumLanes<T: Element>: LaneReducer {
    @inline(__always) func start(_ x: T) -> Int64 { x.exactInt64 }
    @inline(__always) func combine(_ accumulator: Int64, _ x: T) -> Int64 { accumulator &+ x.exactInt64 }
    @inline(__always) func finish(_ accumulator: Int64) -> Int64 { accumulator }
}

/// FloatProduct's: 1 * x0 * x1 * ... in Double, rounded once.
struct FloatProductLanes<T: Element>: LaneReducer {
    @inline(__always) func start(_ x: T) -> Double { 1.0 * x.doubleValue }
    @inline(__always) func combine(_ accumulator: Double, _ x: T) -> Double { accumulator * x.doubleValue }
    @inline(__always) func finish(_ accumulator: Double) -> T { T(fromDouble: accumulator) }
}

/// IntegerProduct's: wrapping int64.
struct IntegerProductLanes<T: Element>: LaneReducer {
    @inline(__always) func start(_ x: T) -> Int64 { x.exactInt64 }
    @inline(__always) func combine(_ accumulator: Int64, _ x: T) -> Int64 { accumulator &* x.exactInt64 }
    @inline(__always) func finish(_ accumulator: Int64) -> Int64 { accumulator }
}

/// Which extreme a lane keeps (a type, so the comparison is fixed when the loop is specialized).
protocol ExtremeOrder {
    /// Whether `x` replaces `best`: x is strictly better, or x is NaN (and best is not).
    static func replaces<T: Element>(_ x: T, _ best: T) -> Bool
}
// Written with comparisons only (a NaN fails them all; integers never are NaN), so the tile loop
// compiles to compares and selects instead of branches on the data.
enum Larger: ExtremeOrder {
    @inline(__always) static func replaces<T: Element>(_ x: T, _ best: T) -> Bool { best == best && !(x <= best) }
}
enum Smaller: ExtremeOrder {
    @inline(__always) static func replaces<T: Element>(_ x: T, _ best: T) -> Bool { best == best && !(x >= best) }
}

/// Extreme's: the first element, replaced by a strictly better one, and by the first NaN for good.
struct ExtremeLanes<T: Element, Order: ExtremeOrder>: LaneReducer {
    @inline(__always) func start(_ x: T) -> T { x }
    @inline(__always) func combine(_ accumulator: T, _ x: T) -> T { Order.replaces(x, accumulator) ? x : accumulator }
    @inline(__always) func finish(_ accumulator: T) -> T { accumulator }
}

// MARK: - Float sums over a strided dim

extension ReductionPlan {
    /// Whether a float sum should walk the input row by row and add into many outputs at once:
    /// one reduced dim that is strided while the innermost kept dim is contiguous (a sum over a
    /// batch dim). Walking column by column would touch one element per cache line.
    var suitsColumnSum: Bool {
        innerShape.count == 1 && innerShape[0] > 1 && innerStrides[0] != 1 && outerStrides[outerStrides.count - 1] == 1 && outerShape[0] != 0
    }

    /// The float sum for `suitsColumnSum` plans. Each output sees exactly the additions `FloatSum`
    /// makes (sequential blocks of `FloatSum.blockSize`, then the same cascade), done for a tile of
    /// outputs side by side, so the results are bit-identical to the other path. Tiles are split
    /// across threads.
    func columnSum<T: Element>(source: UnsafePointer<T>, into out: UnsafeMutablePointer<T>) {
        let tile = 256, blockSize = FloatSum<T>.blockSize
        let count = innerShape[0], step = innerStrides[0]
        let columns = outerShape[outerShape.count - 1]
        let rows = rowShape.reduce(1, &*), tiles = (columns + tile - 1) / tile
        let grain = Swift.max(1, Parallel.memoryGrain / (Swift.min(tile, columns) &* count))
        Parallel.run(rows &* tiles, grain: grain) { units in
            // Block sums and the cascade's partial sums, one row of `tile` per level.
            var block = [Double](repeating: 0, count: tile)
            var partials = [Double](repeating: 0, count: 64 &* tile)
            var levels: [Int] = []
            levels.reserveCapacity(64)
            var row = Odometer(shape: rowShape, strides: [rowStrides], start: units.lowerBound / tiles)
            var tileIndex = units.lowerBound % tiles
            block.withUnsafeMutableBufferPointer { block in
                partials.withUnsafeMutableBufferPointer { partials in
                    guard let acc = block.baseAddress, let stack = partials.baseAddress else { return }
                    for unit in units {
                        let start = tileIndex &* tile, width = Swift.min(tile, columns &- start)
                        levels.removeAll(keepingCapacity: true)
                        for j in 0..<width { acc[j] = 0 }
                        var blockCount = 0
                        var element = source + (row.offset &+ start)
                        for _ in 0..<count {
                            for j in 0..<width { acc[j] += element[j].doubleValue }
                            element += step
                            blockCount &+= 1
                            if blockCount == blockSize {
                                // Push the block sums, merging equal levels exactly as FloatSum does.
                                var level = 0
                                while let last = levels.last, last == level {
                                    let below = stack + (levels.count &- 1) &* tile
                                    for j in 0..<width { acc[j] = below[j] + acc[j] }
                                    levels.removeLast()
                                    level &+= 1
                                }
                                let slot = stack + levels.count &* tile
                                for j in 0..<width { slot[j] = acc[j]; acc[j] = 0 }
                                levels.append(level)
                                blockCount = 0
                            }
                        }
                        for k in stride(from: levels.count - 1, through: 0, by: -1) {
                            let partial = stack + k &* tile
                            for j in 0..<width { acc[j] = partial[j] + acc[j] }
                        }
                        let target = out + ((unit / tiles) &* columns &+ start)
                        for j in 0..<width { target[j] = T(fromDouble: acc[j]) }
                        tileIndex &+= 1
                        if tileIndex == tiles {
                            tileIndex = 0
                            row.advance()
                        }
                    }
                }
            }
        }
    }
}

extension ReductionPlan {
    /// Whether a float sum should reduce four groups at once (`fourRowSums`): each group one run
    /// of evenly spaced elements (one reduced dim once merged), at least four groups and at least
    /// one per thread (fewer, long groups are better cut into pieces by `run`).
    var suitsFourRowSums: Bool {
        innerShape.count == 1 && innerShape[0] > 0 && outerCount >= Swift.max(4, Parallel.threadCount)
    }

    /// The float sum for `suitsFourRowSums` plans (a bias gradient: per channel, the sum over an
    /// image's positions). FloatSum adds a block's elements one after another in Double, so one
    /// group's sum is a chain of dependent additions, 4 cycles each; here four groups' chains run
    /// side by side in the lanes of one vector, each lane doing exactly FloatSum's additions in
    /// FloatSum's order, so the results are the same bits as the row kernel's (and the other
    /// paths'), 3-4 times faster. Quads of groups are split across threads.
    func fourRowSums<T: Element>(source: UnsafePointer<T>, into out: UnsafeMutablePointer<T>) {
        let outputs = outerCount, count = innerShape[0], step = innerStrides[0]
        let blockSize = FloatSum<T>.blockSize
        let quads = (outputs + 3) / 4
        Parallel.run(quads, grain: Swift.max(1, Parallel.memoryGrain / (4 &* count))) { range in
            var sums = [FloatSum<T>](repeating: FloatSum<T>(), count: 4)
            var outer = Odometer(shape: outerShape, strides: [outerStrides], start: range.lowerBound &* 4)
            for quad in range {
                let first = quad &* 4, groups = Swift.min(4, outputs &- first)
                // A quad past the last group repeats that group's rows in its spare lanes.
                var rows = (source, source, source, source)
                rows.0 = source + outer.offset
                if groups > 1 { outer.advance() }
                rows.1 = source + outer.offset
                if groups > 2 { outer.advance() }
                rows.2 = source + outer.offset
                if groups > 3 { outer.advance() }
                rows.3 = source + outer.offset
                outer.advance()
                for g in 0..<groups { sums[g].reset() }
                var start = 0
                while start < count {
                    let take = Swift.min(blockSize, count &- start)
                    var block = SIMD4<Double>(repeating: 0)
                    let offset = start &* step
                    let (p0, p1, p2, p3) = (rows.0 + offset, rows.1 + offset, rows.2 + offset, rows.3 + offset)
                    if step == 1 {
                        for j in 0..<take {
                            block += SIMD4(p0[j].doubleValue, p1[j].doubleValue, p2[j].doubleValue, p3[j].doubleValue)
                        }
                    } else {
                        for j in 0..<take {
                            let o = j &* step
                            block += SIMD4(p0[o].doubleValue, p1[o].doubleValue, p2[o].doubleValue, p3[o].doubleValue)
                        }
                    }
                    for g in 0..<groups { sums[g].consumeBlockSum(block[g], count: take) }
                    start &+= take
                }
                for g in 0..<groups { out[first &+ g] = sums[g].result() }
            }
        }
    }
}

// MARK: - Row reducers

/// Sum of float32/float64 in Double: sequential blocks of `blockSize` elements, then a pairwise
/// cascade over the block sums. Block boundaries depend only on the element count, not on rows.
struct FloatSum<T: Element>: RowReducer {
    static var blockSize: Int { 128 }
    /// Pieces of a block count that is a power of two end on one level of the cascade, where the
    /// next piece's partial sums continue it as one pass would.
    static var pieceAlignment: Int? { blockSize }
    private var block = 0.0, blockCount = 0
    /// Pending partial sums and their levels (a level-k entry sums 2^k blocks).
    private var partials: [Double] = [], levels: [Int] = []

    init() {
        partials.reserveCapacity(64)
        levels.reserveCapacity(64)
    }

    mutating func reset() {
        block = 0
        blockCount = 0
        partials.removeAll(keepingCapacity: true)
        levels.removeAll(keepingCapacity: true)
    }

    mutating func consume(_ row: UnsafePointer<T>, count: Int, stride: Int) {
        var i = 0
        while i < count {
            let take = Swift.min(count &- i, Self.blockSize &- blockCount)
            var sum = block
            if stride == 1 {
                let p = row + i
                for j in 0..<take { sum += p[j].doubleValue }
            } else {
                let p = row + i &* stride
                for j in 0..<take { sum += p[j &* stride].doubleValue }
            }
            block = sum
            blockCount &+= take
            i &+= take
            if blockCount == Self.blockSize {
                push(block, level: 0)
                block = 0
                blockCount = 0
            }
        }
    }

    /// Takes the sum of a block of `count` elements added as `consume` adds them (from 0.0, in
    /// order): a whole block, or the group's last, shorter one. Only at a block boundary.
    mutating func consumeBlockSum(_ sum: Double, count: Int) {
        if count == Self.blockSize {
            push(sum, level: 0)
        } else {
            block = sum
            blockCount = count
        }
    }

    /// Adds a partial sum of 2^level blocks, merging it with the pending ones of its level.
    private mutating func push(_ sum: Double, level: Int) {
        var value = sum, level = level
        while let last = levels.last, last == level {
            value = partials.removeLast() + value
            levels.removeLast()
            level &+= 1
        }
        partials.append(value)
        levels.append(level)
    }

    mutating func append(_ later: FloatSum) {
        // This piece ended on a block boundary: the later piece's partial sums enter the cascade
        // where its blocks would have, and its open block becomes this one's.
        for k in later.partials.indices { push(later.partials[k], level: later.levels[k]) }
        block = later.block
        blockCount = later.blockCount
    }

    mutating func result() -> T {
        var total = block
        for k in stride(from: partials.count - 1, through: 0, by: -1) { total = partials[k] + total }
        return T(fromDouble: total)
    }
}

/// Sum of bool/int32/int64 in int64, wrapping on overflow as torch does.
struct IntegerSum<T: Element>: RowReducer {
    static var pieceAlignment: Int? { 1 }
    private var total: Int64 = 0
    mutating func reset() { total = 0 }
    mutating func consume(_ row: UnsafePointer<T>, count: Int, stride: Int) {
        var sum = total
        for j in 0..<count { sum &+= row[j &* stride].exactInt64 }
        total = sum
    }
    mutating func append(_ later: IntegerSum) { total &+= later.total }
    mutating func result() -> Int64 { total }
}

/// Product of float32/float64 in Double, in order.
struct FloatProduct<T: Element>: RowReducer {
    /// Rounding makes the product depend on the grouping: never cut into pieces.
    static var pieceAlignment: Int? { nil }
    private var total = 1.0
    mutating func reset() { total = 1 }
    mutating func consume(_ row: UnsafePointer<T>, count: Int, stride: Int) {
        var product = total
        for j in 0..<count { product *= row[j &* stride].doubleValue }
        total = product
    }
    mutating func append(_ later: FloatProduct) { total *= later.total }
    mutating func result() -> T { T(fromDouble: total) }
}

/// Product of bool/int32/int64 in int64, wrapping on overflow.
struct IntegerProduct<T: Element>: RowReducer {
    static var pieceAlignment: Int? { 1 }
    private var total: Int64 = 1
    mutating func reset() { total = 1 }
    mutating func consume(_ row: UnsafePointer<T>, count: Int, stride: Int) {
        var product = total
        for j in 0..<count { product &*= row[j &* stride].exactInt64 }
        total = product
    }
    mutating func append(_ later: IntegerProduct) { total &*= later.total }
    mutating func result() -> Int64 { total }
}

/// amax/amin: the extreme value; the first NaN ends the search. Never reset onto an empty reduction
/// (the type rule refuses those).
struct Extreme<T: Element>: RowReducer {
    static var pieceAlignment: Int? { 1 }
    let maximum: Bool
    private var best: T?
    private var done = false

    init(maximum: Bool) { self.maximum = maximum }

    mutating func reset() {
        best = nil
        done = false
    }

    mutating func consume(_ row: UnsafePointer<T>, count: Int, stride: Int) {
        if done { return }
        var current = best ?? row[0]
        for j in 0..<count {
            let v = row[j &* stride]
            if v.isNaNElement {
                current = v
                done = true
                break
            }
            if maximum ? v > current : v < current { current = v }
        }
        best = current
    }

    /// The earlier piece wins ties and keeps its NaN; a NaN of the later one wins over numbers.
    mutating func append(_ later: Extreme) {
        guard !done, let other = later.best else { return }
        if let current = best, !later.done, !(maximum ? other > current : other < current) { return }
        best = other
        done = later.done
    }

    mutating func result() -> T { best ?? T(fromDouble: 0) }
}

/// argmax/argmin: the position, counted over everything consumed, of the first extreme value;
/// the first NaN is the extreme.
struct ArgExtreme<T: Element>: RowReducer {
    static var pieceAlignment: Int? { 1 }
    let maximum: Bool
    private var best: T?
    private var bestIndex = 0, position = 0
    private var done = false

    init(maximum: Bool) { self.maximum = maximum }

    mutating func reset() {
        best = nil
        bestIndex = 0
        position = 0
        done = false
    }

    mutating func consume(_ row: UnsafePointer<T>, count: Int, stride: Int) {
        if done { return }
        var current = best ?? row[0], index = bestIndex
        for j in 0..<count {
            let v = row[j &* stride]
            if v.isNaNElement {
                index = position &+ j
                current = v
                done = true
                break
            }
            if maximum ? v > current : v < current {
                current = v
                index = position &+ j
            }
        }
        best = current
        bestIndex = index
        position &+= count
    }

    /// As Extreme's, with the later piece's positions counted after this one's.
    mutating func append(_ later: ArgExtreme) {
        defer { position &+= later.position }
        guard !done, let other = later.best else { return }
        if let current = best, !later.done, !(maximum ? other > current : other < current) { return }
        best = other
        bestIndex = position &+ later.bestIndex
        done = later.done
    }

    mutating func result() -> Int64 { Int64(bestIndex) }
}

// MARK: - Element support shared by reductions, movement and indexing

