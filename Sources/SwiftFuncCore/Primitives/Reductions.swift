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

/// sum: floats in Double (pairwise blocks; a column walk for sums over a strided batch dim),
/// bool and integers in int64.
private struct SumKernel: ReductionKernel {
    func reduce<T: Element>(_ source: UnsafePointer<T>, _ result: Tensor, _ plan: ReductionPlan) {
        if T.isFloatingPointElement {
            if plan.suitsColumnSum {
                plan.columnSum(source: source, into: result.elements(as: T.self))
            } else {
                var reducer = FloatSum<T>()
                plan.run(&reducer, source: source, into: result.elements(as: T.self))
            }
        } else {
            var reducer = IntegerSum<T>()
            plan.run(&reducer, source: source, into: result.elements(as: Int64.self))
        }
    }
}

/// prod: floats in Double, bool and integers in int64.
private struct ProductKernel: ReductionKernel {
    func reduce<T: Element>(_ source: UnsafePointer<T>, _ result: Tensor, _ plan: ReductionPlan) {
        if T.isFloatingPointElement {
            var reducer = FloatProduct<T>()
            plan.run(&reducer, source: source, into: result.elements(as: T.self))
        } else {
            var reducer = IntegerProduct<T>()
            plan.run(&reducer, source: source, into: result.elements(as: Int64.self))
        }
    }
}

/// amax (`maximum`) and amin: the extreme value, in the input's dtype.
private struct ExtremeKernel: ReductionKernel {
    let maximum: Bool
    func reduce<T: Element>(_ source: UnsafePointer<T>, _ result: Tensor, _ plan: ReductionPlan) {
        var reducer = Extreme<T>(maximum: maximum)
        plan.run(&reducer, source: source, into: result.elements(as: T.self))
    }
}

/// argmax (`maximum`) and argmin: the int64 position of the first extreme value.
private struct ArgExtremeKernel: ReductionKernel {
    let maximum: Bool
    func reduce<T: Element>(_ source: UnsafePointer<T>, _ result: Tensor, _ plan: ReductionPlan) {
        var reducer = ArgExtreme<T>(maximum: maximum)
        plan.run(&reducer, source: source, into: result.elements(as: Int64.self))
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
}

/// The input split into kept (outer) and reduced (inner) dims, each merged where the strides allow
/// without changing the row-major visiting order.
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

    /// Writes one result per combination of kept dims, in row-major order, into `out`.
    func run<R: RowReducer>(_ reducer: inout R, source: UnsafePointer<R.Input>, into out: UnsafeMutablePointer<R.Output>) {
        if outerShape[0] == 0 { return }
        let outerCount = outerShape.reduce(1, &*)
        let innerEmpty = innerShape[0] == 0
        let innerLast = innerShape.count - 1, outerLast = outerShape.count - 1
        let rowLength = innerShape[innerLast], rowStride = innerStrides[innerLast]
        var outerIndex = [Int](repeating: 0, count: outerShape.count)
        var innerIndex = [Int](repeating: 0, count: innerShape.count)
        var outerOffset = 0
        for k in 0..<outerCount {
            reducer.reset()
            if !innerEmpty {
                var offset = outerOffset
                while true {
                    reducer.consume(source + offset, count: rowLength, stride: rowStride)
                    // Odometer over the reduced dims other than the row dim.
                    var d = innerLast - 1
                    while d >= 0 {
                        innerIndex[d] &+= 1
                        offset &+= innerStrides[d]
                        if innerIndex[d] < innerShape[d] { break }
                        offset &-= innerStrides[d] &* innerShape[d]
                        innerIndex[d] = 0
                        d -= 1
                    }
                    if d < 0 { break }
                }
            }
            out[k] = reducer.result()
            var d = outerLast
            while d >= 0 {
                outerIndex[d] &+= 1
                outerOffset &+= outerStrides[d]
                if outerIndex[d] < outerShape[d] { break }
                outerOffset &-= outerStrides[d] &* outerShape[d]
                outerIndex[d] = 0
                d -= 1
            }
        }
    }
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
    /// outputs side by side, so the results are bit-identical to the other path.
    func columnSum<T: Element>(source: UnsafePointer<T>, into out: UnsafeMutablePointer<T>) {
        let tile = 256, blockSize = FloatSum<T>.blockSize
        let count = innerShape[0], step = innerStrides[0]
        let columns = outerShape[outerShape.count - 1]
        let outerDims = outerShape.count - 1
        let groups = outerShape.dropLast().reduce(1, &*)
        // Block sums and the cascade's partial sums, one row of `tile` per level.
        var block = [Double](repeating: 0, count: tile)
        var partials = [Double](repeating: 0, count: 64 &* tile)
        var levels: [Int] = []
        levels.reserveCapacity(64)
        var index = [Int](repeating: 0, count: Swift.max(outerDims, 1))
        var base = 0, written = 0
        block.withUnsafeMutableBufferPointer { block in
            partials.withUnsafeMutableBufferPointer { partials in
                guard let acc = block.baseAddress, let stack = partials.baseAddress else { return }
                for _ in 0..<groups {
                    var start = 0
                    while start < columns {
                        let width = Swift.min(tile, columns &- start)
                        levels.removeAll(keepingCapacity: true)
                        for j in 0..<width { acc[j] = 0 }
                        var blockCount = 0
                        var row = source + (base &+ start)
                        for _ in 0..<count {
                            for j in 0..<width { acc[j] += row[j].doubleValue }
                            row += step
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
                        let target = out + (written &+ start)
                        for j in 0..<width { target[j] = T(fromDouble: acc[j]) }
                        start &+= width
                    }
                    written &+= columns
                    var d = outerDims - 1
                    while d >= 0 {
                        index[d] &+= 1
                        base &+= outerStrides[d]
                        if index[d] < outerShape[d] { break }
                        base &-= outerStrides[d] &* outerShape[d]
                        index[d] = 0
                        d -= 1
                    }
                }
            }
        }
    }
}

// MARK: - Row reducers

/// Sum of float32/float64 in Double: sequential blocks of `blockSize` elements, then a pairwise
/// cascade over the block sums. Block boundaries depend only on the element count, not on rows.
struct FloatSum<T: Element>: RowReducer {
    static var blockSize: Int { 128 }
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
            if blockCount == Self.blockSize { pushBlock() }
        }
    }

    private mutating func pushBlock() {
        var value = block, level = 0
        while let last = levels.last, last == level {
            value = partials.removeLast() + value
            levels.removeLast()
            level &+= 1
        }
        partials.append(value)
        levels.append(level)
        block = 0
        blockCount = 0
    }

    mutating func result() -> T {
        var total = block
        for k in stride(from: partials.count - 1, through: 0, by: -1) { total = partials[k] + total }
        return T(fromDouble: total)
    }
}

/// Sum of bool/int32/int64 in int64, wrapping on overflow as torch does.
struct IntegerSum<T: Element>: RowReducer {
    private var total: Int64 = 0
    mutating func reset() { total = 0 }
    mutating func consume(_ row: UnsafePointer<T>, count: Int, stride: Int) {
        var sum = total
        for j in 0..<count { sum &+= row[j &* stride].exactInt64 }
        total = sum
    }
    mutating func result() -> Int64 { total }
}

/// Product of float32/float64 in Double, in order.
struct FloatProduct<T: Element>: RowReducer {
    private var total = 1.0
    mutating func reset() { total = 1 }
    mutating func consume(_ row: UnsafePointer<T>, count: Int, stride: Int) {
        var product = total
        for j in 0..<count { product *= row[j &* stride].doubleValue }
        total = product
    }
    mutating func result() -> T { T(fromDouble: total) }
}

/// Product of bool/int32/int64 in int64, wrapping on overflow.
struct IntegerProduct<T: Element>: RowReducer {
    private var total: Int64 = 1
    mutating func reset() { total = 1 }
    mutating func consume(_ row: UnsafePointer<T>, count: Int, stride: Int) {
        var product = total
        for j in 0..<count { product &*= row[j &* stride].exactInt64 }
        total = product
    }
    mutating func result() -> Int64 { total }
}

/// amax/amin: the extreme value; the first NaN ends the search. Never reset onto an empty reduction
/// (the type rule refuses those).
struct Extreme<T: Element>: RowReducer {
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

    mutating func result() -> T { best ?? T(fromDouble: 0) }
}

/// argmax/argmin: the position, counted over everything consumed, of the first extreme value;
/// the first NaN is the extreme.
struct ArgExtreme<T: Element>: RowReducer {
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

    mutating func result() -> Int64 { Int64(bestIndex) }
}

// MARK: - Element support shared by reductions, movement and indexing

