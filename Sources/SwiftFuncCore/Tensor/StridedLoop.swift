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

    /// Calls `body` once per row with each operand's element offset at the row's start.
    /// Rows come in row-major order, so output operand offsets can simply be counted by the caller.
    public func forEachRow(_ body: (UnsafeBufferPointer<Int>) throws -> Void) rethrows {
        if shape.contains(0) { return }
        let operands = strides.count
        let outer = shape.count - 1
        var offsets = [Int](repeating: 0, count: operands)
        var index = [Int](repeating: 0, count: Swift.max(outer, 1))
        try offsets.withUnsafeMutableBufferPointer { offsets in
            while true {
                try body(UnsafeBufferPointer(offsets))
                // Advance the outer index like an odometer, updating offsets incrementally.
                var d = outer - 1
                while d >= 0 {
                    index[d] &+= 1
                    for k in 0..<operands { offsets[k] &+= strides[k][d] }
                    if index[d] < shape[d] { break }
                    for k in 0..<operands { offsets[k] &-= strides[k][d] &* shape[d] }
                    index[d] = 0
                    d -= 1
                }
                if d < 0 { return }
            }
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
                let n = loop.rowLength, s = loop.innerStride(0), t = loop.innerStride(1)
                if S.self == D.self {
                    // Same type: a plain copy (the pointer is retyped to the type it already has).
                    let same = UnsafeMutableRawPointer(dst).assumingMemoryBound(to: S.self)
                    loop.forEachRow { offsets in
                        let from = src + offsets[0], to = same + offsets[1]
                        if s == 1 && t == 1 {
                            to.update(from: from, count: n)
                        } else {
                            for i in 0..<n { to[i &* t] = from[i &* s] }
                        }
                    }
                } else {
                    loop.forEachRow { offsets in
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
