/// Walks several operands of one shape together, one innermost row at a time, which is how every
/// elementwise and copy kernel handles arbitrary strides (broadcast, transposed, negative) without
/// per-element index arithmetic. Dims that are contiguous for every operand are merged first.
public struct StridedLoop {
    /// Merged sizes, outermost first (at least one dim).
    public let shape: [Int]
    /// Per operand, the merged strides in elements.
    public let strides: [[Int]]

    /// Prepares a walk over `shape` for operands with `strides` (each of `shape`'s rank).
    public init(shape: [Int], strides: [[Int]]) {
        var mergedShape: [Int] = []
        var mergedStrides = [[Int]](repeating: [], count: strides.count)
        for d in 0..<shape.count where shape[d] != 1 {
            if let last = mergedShape.indices.last,
               strides.indices.allSatisfy({ strides[$0][d] &* shape[d] == mergedStrides[$0][last] }) {
                mergedShape[last] = mergedShape[last] &* shape[d]
                for k in strides.indices { mergedStrides[k][last] = strides[k][d] }
            } else {
                mergedShape.append(shape[d])
                for k in strides.indices { mergedStrides[k].append(strides[k][d]) }
            }
        }
        if mergedShape.isEmpty {
            mergedShape = [shape.contains(0) ? 0 : 1]
            for k in strides.indices { mergedStrides[k] = [0] }
        }
        self.shape = mergedShape
        self.strides = mergedStrides
    }

    /// Length of each innermost row.
    public var rowLength: Int { shape[shape.count - 1] }

    /// Inner stride of operand `k`.
    public func innerStride(_ k: Int) -> Int { strides[k][shape.count - 1] }

    /// Number of elements walked.
    public var count: Int { shape.reduce(1, &*) }

    /// Calls `body` once per row with each operand's element offset at the row's start.
    /// Rows come in row-major order, so output operand offsets can simply be counted by the caller.
    public func forEachRow(_ body: (UnsafeBufferPointer<Int>) throws -> Void) rethrows {
        try forEachRun(in: 0..<count) { offsets, _, _ in try body(offsets) }
    }

    /// Calls `body(offsets, count, position)` for the runs of consecutive elements of one row that
    /// cover the row-major positions `positions`, in order: `offsets` are each operand's element
    /// offsets at the run's first element, `position` its row-major position (where a contiguous
    /// output's run starts). A row cut by the range's ends gives a partial run.
    public func forEachRun(in positions: Range<Int>,
                           _ body: (UnsafeBufferPointer<Int>, _ count: Int, _ position: Int) throws -> Void) rethrows {
        if positions.isEmpty || shape.contains(0) { return }
        let last = shape.count - 1, n = shape[last]
        let firstRow = positions.lowerBound / n
        var start = positions.lowerBound - firstRow * n  // the column within the first row
        var rows = Odometer(shape: Array(shape[..<last]), strides: strides.map { Array($0[..<last]) }, start: firstRow)
        let inner = strides.map { $0[last] }
        var offsets = rows.offsets
        var position = positions.lowerBound
        while true {
            for k in offsets.indices { offsets[k] = rows.offsets[k] &+ start &* inner[k] }
            let take = Swift.min(n &- start, positions.upperBound &- position)
            try offsets.withUnsafeBufferPointer { try body($0, take, position) }
            position &+= take
            if position == positions.upperBound { return }
            start = 0
            rows.advance()
        }
    }

    /// Walks every line of `shape` along `dim` (scans and sorts work line by line) on `Parallel`'s
    /// threads, at least `grain` elements a chunk: each chunk calls `makeWorker` once (for its own
    /// scratch space) and the worker once per line, with each operand's element offset at the line's
    /// first element (the operands' own strides along `dim` walk the line). Each line is done by one
    /// thread, so the results do not depend on the thread count.
    public static func forEachLine(shape: [Int], along dim: Int, strides: [[Int]], grain: Int,
                                   _ makeWorker: () -> (UnsafeBufferPointer<Int>) -> Void) {
        var outer = shape
        let length = outer[dim]
        outer[dim] = 1
        let loop = StridedLoop(shape: outer, strides: strides)
        Parallel.run(loop.count, grain: Swift.max(1, grain / Swift.max(length, 1))) { lines in
            let work = makeWorker()
            var line = [Int](repeating: 0, count: strides.count)
            loop.forEachRun(in: lines) { offsets, count, _ in
                for j in 0..<count {
                    for k in line.indices { line[k] = offsets[k] &+ j &* loop.innerStride(k) }
                    line.withUnsafeBufferPointer(work)
                }
            }
        }
    }

    /// `forEachRun` over every element, split into position ranges of at least `grain` elements
    /// that run on `Parallel`'s threads. Each element is visited once, by one thread, so a kernel
    /// that writes each output from its own inputs gives the same result on any thread count.
    public func forEachRunInParallel(grain: Int, _ body: (UnsafeBufferPointer<Int>, _ count: Int, _ position: Int) -> Void) {
        Parallel.run(count, grain: grain) { positions in forEachRun(in: positions, body) }
    }
}

/// A row-major walk over a shape for several operands at once: the multi-index and each operand's
/// element offset, started at any row-major position and advanced one step at a time (dims of
/// size 0 are never walked). The one odometer of the strided loops and the reductions.
public struct Odometer {
    public let shape: [Int]
    /// Per operand, the strides in elements.
    public let strides: [[Int]]
    /// The current multi-index.
    public private(set) var index: [Int]
    /// Per operand, the element offset of the current multi-index.
    public private(set) var offsets: [Int]

    /// At row-major position `start` (in `0..<shape.product`).
    public init(shape: [Int], strides: [[Int]], start: Int = 0) {
        self.shape = shape
        self.strides = strides
        index = [Int](repeating: 0, count: shape.count)
        offsets = [Int](repeating: 0, count: strides.count)
        var rest = start
        for d in stride(from: shape.count - 1, through: 0, by: -1) where shape[d] > 0 {
            index[d] = rest % shape[d]
            rest /= shape[d]
            for k in strides.indices { offsets[k] &+= index[d] &* strides[k][d] }
        }
    }

    /// One operand's offset (the common case of a single operand).
    @inline(__always)
    public var offset: Int { offsets[0] }

    /// The next row-major position (past the last one, back to the first).
    @inline(__always)
    public mutating func advance() {
        var d = shape.count - 1
        while d >= 0 {
            index[d] &+= 1
            for k in offsets.indices { offsets[k] &+= strides[k][d] }
            if index[d] < shape[d] { return }
            for k in offsets.indices { offsets[k] &-= strides[k][d] &* shape[d] }
            index[d] = 0
            d -= 1
        }
    }
}

extension Tensor {
    /// A contiguous tensor with the same values: `self` when already contiguous, else a copy.
    public func contiguous(op: String) throws -> Tensor {
        if isContiguous { return self }
        let result = try Tensor(uninitialized: TensorType(shape: shape, dtype: dtype), op: op)
        try copyElements(into: result)
        return result
    }

    /// Rows shorter than this are copied a run of rows at a time (`copyElements`).
    static var shortRow: Int { 64 }

    /// Copies this tensor's values into `destination` (a tensor of the same shape that the caller
    /// just made, any strides), converted to its dtype as casts convert: the one conversion and copy
    /// loop of the engine (cast, mixed-dtype operands, cat, pad, contiguous copies).
    public func copyElements(into destination: Tensor) throws {
        struct Outer: DTypeVisitor {
            let source: Tensor, destination: Tensor
            func visit<D: Element>(_: D.Type) throws {
                try source.dtype.dispatch(Inner<D>(source: source, destination: destination))
            }
        }
        struct Inner<D: Element>: DTypeVisitor {
            let source: Tensor, destination: Tensor
            func visit<S: Element>(_: S.Type) {
                let src = source.elements(as: S.self), dst = destination.elements(as: D.self)
                let loop = StridedLoop(shape: source.shape, strides: [source.strides, destination.strides])
                let s = loop.innerStride(0), t = loop.innerStride(1)
                if S.self == D.self {
                    // Same type: a plain copy (the pointer is retyped to the type it already has).
                    let same = UnsafeMutableRawPointer(dst).assumingMemoryBound(to: S.self)
                    let length = loop.rowLength
                    if loop.shape.count >= 2, length < Tensor.shortRow {
                        // Short rows (a permuted view's copy, such as [C, N, 9] into [N, C, 9]): one
                        // call per run of rows, each row a loop, instead of one call and a memmove
                        // per row (6 ns per 9-element row made the NTK tutorial's flatten of the
                        // conv weight Jacobians a 5.7 GB/s copy).
                        let rows = StridedLoop(shape: Array(loop.shape.dropLast()), strides: loop.strides.map { Array($0.dropLast()) })
                        let rowStep = (rows.innerStride(0), rows.innerStride(1))
                        rows.forEachRunInParallel(grain: Swift.max(1, Parallel.memoryGrain / length)) { offsets, n, _ in
                            var from = src + offsets[0], to = same + offsets[1]
                            for _ in 0..<n {
                                for i in 0..<length { to[i &* t] = from[i &* s] }
                                from += rowStep.0
                                to += rowStep.1
                            }
                        }
                        return
                    }
                    loop.forEachRunInParallel(grain: Parallel.memoryGrain) { offsets, n, _ in
                        let from = src + offsets[0], to = same + offsets[1]
                        if s == 1 && t == 1 {
                            to.update(from: from, count: n)
                        } else {
                            for i in 0..<n { to[i &* t] = from[i &* s] }
                        }
                    }
                } else {
                    loop.forEachRunInParallel(grain: Parallel.memoryGrain) { offsets, n, _ in
                        let from = src + offsets[0], to = dst + offsets[1]
                        if s == 1 && t == 1 {
                            for i in 0..<n { to[i] = D(convertingElement: from[i]) }
                        } else {
                            for i in 0..<n { to[i &* t] = D(convertingElement: from[i &* s]) }
                        }
                    }
                }
            }
        }
        guard count > 0 else { return }
        try destination.dtype.dispatch(Outer(source: self, destination: destination))
    }
}
