/// What a kernel knows about the square float matrix it has just written: every entry off the
/// diagonal is a zero (+0 or -0). jacrev's and jacfwd's identity basis (`eye`) starts it, a product
/// by a finite factor keeps it (the tanh factor of a pullback), and a matmul with such a matrix
/// scales the other operand's rows or columns instead of running a GEMM: the Jacobian of
/// tanh(W x + b) from 32 to 2048 spent 3.5 of its 5 ms packing and multiplying the 2048 x 2048
/// diagonal cotangent. The values are always materialized (a tensor's elements are what every
/// kernel reads); the flag (`Storage.holdsDiagonalMatrix`) only lets a consumer skip work. Set by
/// the kernel that made the storage, before any other code sees it, and never changed (tensors
/// are immutable).
extension Tensor {
    /// Whether this tensor is a diagonal matrix: a square 2-D view of the whole of a storage flagged
    /// diagonal, as the kernel wrote it or transposed (the same matrix).
    var isDiagonalMatrix: Bool {
        guard storage.holdsDiagonalMatrix, rank == 2, offset == 0, shape[0] == shape[1] else { return false }
        let n = shape[0]
        return storage.byteCount == n &* n &* dtype.itemSize && (strides == [n, 1] || strides == [1, n] || n <= 1)
    }

    /// Flags this freshly written contiguous square float matrix as diagonal.
    func markDiagonal() {
        guard rank == 2, shape[0] == shape[1], isContiguous, offset == 0, dtype.isFloatingPoint else { return }
        storage.holdsDiagonalMatrix = true
    }

    /// Whether every element is finite (a NaN or an infinity times a zero is not a zero).
    func allFinite() -> Bool {
        struct Check: DTypeVisitor {
            let tensor: Tensor
            func visit<T: Element>(_: T.Type) -> Bool {
                var finite = true
                let p = tensor.elements(as: T.self)
                let loop = StridedLoop(shape: tensor.shape, strides: [tensor.strides])
                let s = loop.innerStride(0)
                loop.forEachRow { offsets in
                    let row = p + offsets[0]
                    for j in 0..<loop.rowLength where !row[j &* s].doubleValue.isFinite { finite = false }
                }
                return finite
            }
        }
        guard dtype.isFloatingPoint else { return true }
        return (try? dtype.dispatch(Check(tensor: self))) ?? false
    }
}
