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

    /// Copies this tensor's values in row-major order into the contiguous tensor `destination`,
    /// which must have the same shape and dtype.
    public func copyElements(into destination: Tensor) throws {
        struct Copy: DTypeVisitor {
            let source: Tensor, destination: Tensor
            func visit<T: Element>(_: T.Type) {
                let src = source.elements(as: T.self), dst = destination.elements(as: T.self)
                let loop = StridedLoop(shape: source.shape, strides: [source.strides])
                let n = loop.rowLength, step = loop.innerStride(0)
                var out = 0
                loop.forEachRow { offsets in
                    let row = src + offsets[0]
                    if step == 1 {
                        (dst + out).update(from: row, count: n)
                    } else {
                        for i in 0..<n { dst[out &+ i] = row[i &* step] }
                    }
                    out &+= n
                }
            }
        }
        try dtype.dispatch(Copy(source: self, destination: destination))
    }
}
