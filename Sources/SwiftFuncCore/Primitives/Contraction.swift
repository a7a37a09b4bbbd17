import CBLAS
import CKernels

/// Contraction primitives: `matmul` (torch.matmul semantics) on OpenBLAS GEMM.
enum Contraction {
    static let table: [PrimitiveRules] = [
        PrimitiveRules(.matmul, name: "matmul", type: matmulType, eval: matmulEval,
                       jvp: Differentiation.bilinearJVP(.matmul), vjp: matmulVJP, batch: matmulBatch),
    ]

    // MARK: Rules

    static func matmulType(_ args: [TensorType], _ params: Params) throws -> TensorType {
        guard args.count == 2 else { throw SwiftFuncError.invalidArgument("matmul", "expects 2 arguments, got \(args.count)") }
        return try matmulType(args[0], args[1])
    }

    static func matmulEval(_ args: [Tensor], _ params: Params, _ type: TensorType) throws -> Tensor {
        switch type.dtype {
        case .float32: return try matmulKernel(Float.self, args[0], args[1], type)
        case .float64: return try matmulKernel(Double.self, args[0], args[1], type)
        default: throw SwiftFuncError.dtype("matmul", "expected float operands, got \(type.dtype)")
        }
    }

    static func matmulVJP(_ cotangent: Value, _ primals: [Value], _ output: Value, _ params: Params, _ needed: [Bool]) throws -> [Value?] {
        try matmulVJP(cotangent, primals[0], primals[1], needed: needed)
    }

    static func matmulBatch(_ args: [Value], _ dims: [Int?], _ batch: BatchContext, _ params: Params) throws -> (Value, Int?) {
        try matmulBatch(args[0], dims[0], args[1], dims[1])
    }

    // MARK: Transform rules

    /// The type of one example of `value`, batched along `batchDim` (nil: not batched).
    static func exampleType(_ value: Value, _ batchDim: Int?) -> TensorType {
        var type = value.type
        if let batchDim { type.shape.remove(at: batchDim) }
        return type
    }

    /// `value` with its last two dims swapped (a view).
    static func transposeLast(_ value: Value) throws -> Value {
        try Batching.moveDim(value, from: value.rank - 1, to: value.rank - 2)
    }

    static func reshape(_ value: Value, _ shape: [Int]) throws -> Value {
        value.shape == shape ? value : try emit(.reshape, [value], .shape(shape))
    }

    /// Whether `value`'s data, where it can be seen (a tensor, the tensor under tracers, or the
    /// example a jit trace runs on), is laid out with its last two dims transposed (column-major
    /// matrices), as `x.mT` of a row-major x is. Abstract values answer false.
    static func isColumnMajor(_ value: Value) -> Bool {
        var current: Value? = value
        while let tracer = current as? Tracer {
            current = (tracer as? SymbolicTracer)?.example ?? tracer.underlyingValue
        }
        guard let tensor = current as? Tensor, tensor.rank >= 2 else { return false }
        let rows = tensor.shape[tensor.rank - 2], columns = tensor.shape[tensor.rank - 1]
        return rows > 1 && columns > 1 && tensor.strides[tensor.rank - 2] == 1 && tensor.strides[tensor.rank - 1] >= rows
    }

    /// x @ y, computed as (y^T @ x^T)^T when `transposed`: the same products, with the result laid
    /// out column-major (a transposed view of a row-major GEMM output).
    static func product(_ x: Value, _ y: Value, columnMajor transposed: Bool) throws -> Value {
        guard transposed else { return try emit(.matmul, [x, y]) }
        return try transposeLast(emit(.matmul, [transposeLast(y), transposeLast(x)]))
    }

    /// The cotangents of a @ b, with torch.matmul's 1-D promotion undone and broadcast batch dims
    /// summed away: ct @ b^T for a, a^T @ ct for b (each only when `needed`). Like torch's
    /// mm backward, a cotangent is laid out as its primal is: the weight of `x @ w.mT` (a linear
    /// layer) gets a row-major gradient, so reshapes of it (`flatten`) are views, not copies.
    static func matmulVJP(_ cotangent: Value, _ a: Value, _ b: Value, needed: [Bool] = [true, true]) throws -> [Value?] {
        let k = a.shape[a.rank - 1]
        // Work on the promoted 2-D forms, where the cotangent has the added dims back.
        let a2 = a.rank == 1 ? try reshape(a, [1, k]) : a
        let b2 = b.rank == 1 ? try reshape(b, [k, 1]) : b
        let m = a2.shape[a2.rank - 2], n = b2.shape[b2.rank - 1]
        let batch = Array(cotangent.shape.dropLast((a.rank >= 2 ? 1 : 0) + (b.rank >= 2 ? 1 : 0)))
        let ct = try reshape(cotangent, batch + [m, n])
        let batchCount = batch.reduce(1, *)

        let gradA: Value?
        if !needed[0] {
            gradA = nil
        } else if a2.rank == 2 && b2.rank > 2 {
            // a is shared by the whole batch: sum over the batch inside one GEMM by laying the
            // batch along the contracted dim, [m, batch*n] @ [batch*n, k].
            let ctRows = try reshape(Batching.moveDim(ct, from: ct.rank - 2, to: 0), [m, batchCount * n])
            let bRows = try reshape(Batching.moveDim(b2, from: b2.rank - 2, to: 0), [k, batchCount * n])
            gradA = try product(ctRows, transposeLast(bRows), columnMajor: isColumnMajor(a))
        } else {
            gradA = try Differentiation.unbroadcast(product(ct, transposeLast(b2), columnMajor: isColumnMajor(a)), to: a2.shape)
        }

        let gradB: Value?
        if !needed[1] {
            gradB = nil
        } else if b2.rank == 2 && a2.rank > 2 {
            // b is shared: the batch folds into the rows, [k, batch*m] @ [batch*m, n].
            let aRows = try reshape(a2, [batchCount * m, k])
            let ctRows = try reshape(ct, [batchCount * m, n])
            gradB = try product(transposeLast(aRows), ctRows, columnMajor: isColumnMajor(b))
        } else {
            gradB = try Differentiation.unbroadcast(product(transposeLast(a2), ct, columnMajor: isColumnMajor(b)), to: b2.shape)
        }
        return [try gradA.map { try reshape($0, a.shape) }, try gradB.map { try reshape($0, b.shape) }]
    }

    /// vmap of matmul, one matmul on the whole batch. An unbatched operand is never broadcast: a
    /// batched left operand puts the batch among its rows (one folded GEMM when the right operand
    /// is 1-D or 2-D), a batched right operand puts it among its columns, and only when both are
    /// batched does it become a batch dim of a batched GEMM.
    static func matmulBatch(_ a: Value, _ dimA: Int?, _ b: Value, _ dimB: Int?) throws -> (Value, Int?) {
        // The per-example types first: vmap does not type-check them, and the folds below rely on
        // them (e.g. a 0-d example must be refused, not read as a vector of the batch).
        _ = try matmulType(exampleType(a, dimA), exampleType(b, dimB))
        switch (dimA, dimB) {
        case let (da?, nil):
            if b.rank <= 2 {
                // a @ b acts on each row of a (any dim but the last): the batch dim just passes
                // through, unless it is a's last (contracted) dim.
                guard da == a.rank - 1 else { return (try emit(.matmul, [a, b]), da) }
                return (try emit(.matmul, [Batching.moveDim(a, from: da, to: 0), b]), 0)
            }
            let front = try Batching.moveDim(a, from: da, to: 0)
            if a.rank == 2 {
                // Per-example vector [K] times b [..., K, N]: the batch is M, [..., B, N].
                return (try emit(.matmul, [front, b]), b.rank - 2)
            }
            // b has batch dims of its own: pad a's so that B sits in front of all of them.
            let missing = (b.rank - 2) - (a.rank - 3)
            guard missing > 0 else { return (try emit(.matmul, [front, b]), 0) }
            var shape = front.shape
            shape.insert(contentsOf: [Int](repeating: 1, count: missing), at: 1)
            return (try emit(.matmul, [reshape(front, shape), b]), 0)

        case let (nil, db?):
            if b.rank == 2 {
                // Per-example vector: the batch becomes the columns, a @ [K, B].
                let columns = try Batching.moveDim(b, from: db, to: 1)
                let output = try emit(.matmul, [a, columns])
                return (output, a.rank == 1 ? 0 : output.rank - 1)
            }
            if a.shape[a.rank - 1] == 1 {
                // Outer products (K = 1; jacrev's basis against a batched input): no GEMM to
                // save, so broadcast a over the batch and keep B in front of a row-major result,
                // where the fold below would leave it between M and N.
                var front = try Batching.moveDim(b, from: db, to: 0)
                let missing = (a.rank - 2) - (b.rank - 3)
                if missing > 0 {
                    var shape = front.shape
                    shape.insert(contentsOf: [Int](repeating: 1, count: missing), at: 1)
                    front = try reshape(front, shape)
                }
                return (try emit(.matmul, [a, front]), 0)
            }
            // Fold the batch into N: [..., K, B, N] seen as [..., K, B*N] (a view when b is laid
            // out that way, else one copy), then split the columns again.
            let beside = try Batching.moveDim(b, from: db, to: b.rank - 2)
            var shape = beside.shape
            let batchSize = shape.remove(at: b.rank - 2)
            shape[shape.count - 1] *= batchSize
            let output = try emit(.matmul, [a, reshape(beside, shape)])
            var split = output.shape
            split[split.count - 1] = batchSize
            split.append(beside.shape[beside.rank - 1])
            return (try reshape(output, split), output.rank - 1)

        case let (da?, db?):
            // Batched GEMM: both batch dims in front, 1-D examples promoted, per-example batch
            // dims aligned from the right behind B.
            var left = try Batching.moveDim(a, from: da, to: 0)
            var right = try Batching.moveDim(b, from: db, to: 0)
            let vectorLeft = left.rank == 2, vectorRight = right.rank == 2
            if vectorLeft { left = try reshape(left, [left.shape[0], 1, left.shape[1]]) }
            if vectorRight { right = try reshape(right, right.shape + [1]) }
            let extraLeft = left.rank - 3, extraRight = right.rank - 3
            if extraLeft < extraRight {
                var shape = left.shape
                shape.insert(contentsOf: [Int](repeating: 1, count: extraRight - extraLeft), at: 1)
                left = try reshape(left, shape)
            } else if extraRight < extraLeft {
                var shape = right.shape
                shape.insert(contentsOf: [Int](repeating: 1, count: extraLeft - extraRight), at: 1)
                right = try reshape(right, shape)
            }
            let output = try emit(.matmul, [left, right])
            var shape = output.shape
            if vectorRight { shape.removeLast() }
            if vectorLeft { shape.remove(at: shape.count - (vectorRight ? 1 : 2)) }
            return (try reshape(output, shape), 0)

        case (nil, nil):
            return (try emit(.matmul, [a, b]), nil)
        }
    }

    /// Both dtypes must be float dtypes; the message names them (integer matmul is not supported).
    static func checkFloatOperands(_ a: DType, _ b: DType, op: String) throws {
        guard a.isFloatingPoint && b.isFloatingPoint else {
            throw SwiftFuncError.dtype(op, "expected float32 or float64 operands, got \(a) and \(b)")
        }
    }

    /// torch.matmul's result type. The primitive takes operands of one float dtype (Ops.matmul
    /// casts mixed floats to the common one).
    static func matmulType(_ a: TensorType, _ b: TensorType) throws -> TensorType {
        let op = "matmul"
        guard a.rank >= 1 && b.rank >= 1 else {
            throw SwiftFuncError.shape(op, "both arguments need at least 1 dim, got shapes \(formatShape(a.shape)) and \(formatShape(b.shape))")
        }
        try checkFloatOperands(a.dtype, b.dtype, op: op)
        guard a.dtype == b.dtype else {
            throw SwiftFuncError.dtype(op, "operands must have one dtype, got \(a.dtype) and \(b.dtype)")
        }
        let k = a.shape[a.rank - 1]
        let kB = b.rank == 1 ? b.shape[0] : b.shape[b.rank - 2]
        guard k == kB else {
            throw SwiftFuncError.shape(op, "shapes \(formatShape(a.shape)) and \(formatShape(b.shape)) are not compatible")
        }
        let batchA = Array(a.shape.dropLast(Swift.min(2, a.rank)))
        let batchB = Array(b.shape.dropLast(Swift.min(2, b.rank)))
        let batch: [Int]
        do {
            batch = try ShapeChecks.broadcast(batchA, batchB, op: op)
        } catch {
            throw SwiftFuncError.shape(op, "batch dims of shapes \(formatShape(a.shape)) and \(formatShape(b.shape)) cannot be broadcast together")
        }
        var shape = batch
        if a.rank >= 2 { shape.append(a.shape[a.rank - 2]) }
        if b.rank >= 2 { shape.append(b.shape[b.rank - 1]) }
        try ShapeChecks.validate(shape, itemSize: a.dtype.itemSize, op: op)
        return TensorType(shape: shape, dtype: a.dtype)
    }

    // MARK: Kernel

    /// One operand seen as a batch of matrices, and how BLAS reads each matrix.
    struct MatrixOperand {
        /// The tensor whose elements are read (the input, or a contiguous copy of an irregular one).
        var tensor: Tensor
        var batchShape: [Int]
        var batchStrides: [Int]
        var rows: Int
        var cols: Int
        /// BLAS form: false = row-major with leading dimension `ld`, true = the transpose of a
        /// row-major [cols, rows] matrix with leading dimension `ld` (strides [1, ld]).
        var transposed = false
        var ld = 1

        /// `tensor` as matrices; a 1-D left operand is one row, a 1-D right operand one column.
        /// Returns nil when its strides are not a BLAS form.
        init?(_ tensor: Tensor, isLeft: Bool) {
            self.tensor = tensor
            let shape = tensor.shape, strides = tensor.strides, r = tensor.rank
            let rowStride: Int, colStride: Int
            if r == 1 {
                if isLeft {
                    (rows, cols, rowStride, colStride) = (1, shape[0], 0, strides[0])
                } else {
                    (rows, cols, rowStride, colStride) = (shape[0], 1, strides[0], 0)
                }
                batchShape = []
                batchStrides = []
            } else {
                (rows, cols, rowStride, colStride) = (shape[r - 2], shape[r - 1], strides[r - 2], strides[r - 1])
                batchShape = Array(shape[0..<(r - 2)])
                batchStrides = Array(strides[0..<(r - 2)])
            }
            guard let form = MatrixOperand.blasForm(rows: rows, cols: cols, rowStride: rowStride, colStride: colStride) else {
                return nil
            }
            (transposed, ld) = form
        }

        /// The BLAS description of a [rows, cols] matrix with these strides, if there is one whose
        /// leading dimension fits blasint. Strides of size-1 dims do not matter.
        static func blasForm(rows: Int, cols: Int, rowStride: Int, colStride: Int) -> (transposed: Bool, ld: Int)? {
            var form: (Bool, Int)?
            if cols <= 1 || colStride == 1 {
                if rows <= 1 {
                    form = (false, Swift.max(1, cols))
                } else if rowStride >= Swift.max(1, cols) {
                    form = (false, rowStride)
                }
            }
            if form == nil, rows <= 1 || rowStride == 1 {
                if cols <= 1 {
                    form = (true, Swift.max(1, rows))
                } else if colStride >= Swift.max(1, rows) {
                    form = (true, colStride)
                }
            }
            guard let form, form.1 <= Int(Int32.max) else { return nil }
            return form
        }

        /// The operand as a BLAS matrix: itself when its strides allow, else a contiguous copy.
        static func make(_ tensor: Tensor, isLeft: Bool) throws -> MatrixOperand {
            if let operand = MatrixOperand(tensor, isLeft: isLeft) { return operand }
            let copy = try tensor.contiguous(op: "matmul")
            guard let operand = MatrixOperand(copy, isLeft: isLeft) else {
                throw SwiftFuncError.unsupported("matmul", "a \(formatShape(tensor.shape)) operand is too large for the BLAS backend (32-bit sizes)")
            }
            return operand
        }
    }

    /// A product of matrices one of which is constant along the contraction (a stride-0 expand, as
    /// the cotangent of a sum or mean is: grad of `(A @ B).sum()` multiplies by a matrix of ones) is
    /// a rank-1 product, O(mk + kn + mn) instead of a GEMM's O(mkn): `a[i, k] = u[i]` gives
    /// `u[i] * Σ_k b[k, j]`, and `b[k, j] = v[j]` gives `(Σ_k a[i, k]) * v[j]`. Rank-2 operands of
    /// the result's dtype only; returns false (nothing written) otherwise.
    private static func productWithBroadcastOperand<T: GEMMScalar>(_: T.Type, _ a: Tensor, _ b: Tensor,
                                                                   into result: Tensor) -> Bool {
        guard a.rank == 2, b.rank == 2, a.dtype == T.dtype, b.dtype == T.dtype else { return false }
        let m = a.shape[0], k = a.shape[1], n = b.shape[1]
        guard k > 1, a.strides[1] == 0 || b.strides[0] == 0 else { return false }
        let pa = a.elements(as: T.self), pb = b.elements(as: T.self), pc = result.elements(as: T.self)
        let (a0, a1, b0, b1) = (a.strides[0], a.strides[1], b.strides[0], b.strides[1])
        if a1 == 0 {
            var sums = [T](repeating: 0, count: n)
            for row in 0..<k {
                for j in 0..<n { sums[j] += pb[row &* b0 &+ j &* b1] }
            }
            for i in 0..<m {
                let u = pa[i &* a0]
                for j in 0..<n { pc[i &* n &+ j] = u * sums[j] }
            }
        } else {
            for i in 0..<m {
                var sum: T = 0
                for column in 0..<k { sum += pa[i &* a0 &+ column &* a1] }
                for j in 0..<n { pc[i &* n &+ j] = sum * pb[j &* b1] }
            }
        }
        return true
    }

    /// c = a @ b for matrices when one of them is diagonal (`Tensor.isDiagonalMatrix`, jacrev's and jacfwd's
    /// basis and its products) and the other finite: the other's rows (or columns) scaled by the
    /// diagonal, one multiplication per element instead of a GEMM that adds zeros (the same values
    /// but possibly the sign of a zero). A product of two diagonal matrices is diagonal. False
    /// (nothing written) otherwise.
    static func productWithDiagonal<T: GEMMScalar>(_: T.Type, _ a: Tensor, _ b: Tensor, into result: Tensor) -> Bool {
        guard a.rank == 2, b.rank == 2, a.dtype == T.dtype, b.dtype == T.dtype else { return false }
        let leftDiagonal = a.isDiagonalMatrix, rightDiagonal = b.isDiagonalMatrix
        guard leftDiagonal || rightDiagonal else { return false }
        guard (leftDiagonal ? b : a).allFinite() else { return false }
        let (m, n) = (result.shape[0], result.shape[1])
        let pa = a.elements(as: T.self), pb = b.elements(as: T.self), pc = result.elements(as: T.self)
        let (a0, a1, b0, b1) = (a.strides[0], a.strides[1], b.strides[0], b.strides[1])
        Parallel.run(m, grain: Swift.max(1, Parallel.memoryGrain / Swift.max(1, n))) { rows in
            for i in rows {
                let row = pc + i &* n
                if leftDiagonal {
                    let scale = pa[i &* (a0 &+ a1)]
                    for j in 0..<n { row[j] = scale * pb[i &* b0 &+ j &* b1] }
                } else {
                    for j in 0..<n { row[j] = pa[i &* a0 &+ j &* a1] * pb[j &* (b0 &+ b1)] }
                }
            }
        }
        if leftDiagonal && rightDiagonal { result.markDiagonal() }
        return true
    }

    static func matmulKernel<T: GEMMScalar>(_: T.Type, _ a: Tensor, _ b: Tensor, _ type: TensorType) throws -> Tensor {
        let op = "matmul"
        let result = try Tensor(uninitialized: type, op: op)
        guard result.count > 0 else { return result }
        if productWithBroadcastOperand(T.self, a, b, into: result) { return result }
        if productWithDiagonal(T.self, a, b, into: result) { return result }
        let left = try MatrixOperand.make(a, isLeft: true)
        let right = try MatrixOperand.make(b, isLeft: false)
        let m = left.rows, k = left.cols, n = right.cols
        if k == 0 {
            // An empty sum: zeros, without calling BLAS with empty leading dims.
            return try Tensor(uninitialized: type, zeroed: true, op: op)
        }
        guard m <= Int(Int32.max), n <= Int(Int32.max), k <= Int(Int32.max) else {
            throw SwiftFuncError.unsupported(op, "dims of shapes \(formatShape(a.shape)) and \(formatShape(b.shape)) exceed the BLAS backend's 32-bit sizes")
        }
        let batchShape = try ShapeChecks.broadcast(left.batchShape, right.batchShape, op: op)
        let batchCount = batchShape.reduce(1, &*)
        let pa = left.tensor.elements(as: T.self), pb = right.tensor.elements(as: T.self)
        let pc = result.elements(as: T.self)
        let matrixSize = m &* n

        // Right operand shared by the whole batch, left batch laid out as one long row-major
        // matrix: one GEMM with the batch folded into M (the big-GEMM path BLAS is fastest on).
        let folded = batchCount &* m  // at most the result's element count: no overflow
        if right.batchShape.allSatisfy({ $0 == 1 }), !left.transposed, folded <= Int(Int32.max),
           let stride = foldedRowStride(left) {
            if let parts = contractionParts(m: folded, n: n, k: k) {
                if !(right.transposed && dotProductsByRows(T.self, m: folded, n: n, k: k, a: pa, lda: stride,
                                                           b: pb, ldb: right.ld, c: pc)) {
                    try gemmSplittingK(T.self, parts: parts, m: folded, n: n, k: k, a: pa, lda: stride,
                                       b: pb, ldb: right.ld, transB: right.transposed, c: pc)
                }
            } else {
                T.gemm(transA: false, transB: right.transposed, m: folded, n: n, k: k,
                       a: pa, lda: stride, b: pb, ldb: right.ld, c: pc, ldc: n)
            }
            return result
        }

        // Otherwise one GEMM per batch index, reading broadcast operands through stride-0 dims
        // (never materialized).
        let stridesA = ShapeChecks.broadcastStrides(shape: left.batchShape, strides: left.batchStrides, to: batchShape)
        let stridesB = ShapeChecks.broadcastStrides(shape: right.batchShape, strides: right.batchStrides, to: batchShape)
        // With k == 1 each product is an outer product (per-sample weight gradients are batches of
        // them): a direct loop beats a BLAS call, which costs more to set up than to compute here.
        let columnStrideA = left.transposed ? 1 : left.ld, rowStrideB = right.transposed ? right.ld : 1
        func multiply(_ batch: Int, _: Void) {
            // The operands' offsets for this batch index (row-major over batchShape).
            var rest = batch, offsetA = 0, offsetB = 0
            for d in stride(from: batchShape.count - 1, through: 0, by: -1) {
                let i = rest % batchShape[d]
                rest /= batchShape[d]
                offsetA &+= i &* stridesA[d]
                offsetB &+= i &* stridesB[d]
            }
            if k == 1 {
                outerProduct(a: pa + offsetA, strideA: columnStrideA, b: pb + offsetB, strideB: rowStrideB,
                             c: pc + batch &* matrixSize, m: m, n: n)
            } else {
                T.gemm(transA: left.transposed, transB: right.transposed, m: m, n: n, k: k,
                       a: pa + offsetA, lda: left.ld, b: pb + offsetB, ldb: right.ld,
                       c: pc + batch &* matrixSize, ldc: n)
            }
        }
        // Batches worth threads (written elements for outer products, multiply-adds for GEMMs) are
        // shared out between threads, each product on one thread; smaller ones run here, and large
        // products (from 2^24 multiply-adds) one after another on OpenBLAS's threads, which balance
        // them better than whole products over threads (3 products on 2 threads: 2 against 1).
        let work = Double(batchCount) * Double(matrixSize) * Double(k)
        let largeProducts = Double(matrixSize) * Double(k) >= Double(1 << 24)
        if !largeProducts, work >= Double(k == 1 ? 2 * Parallel.memoryGrain : Parallel.blasThreadingMultiplyAdds) {
            Parallel.forEachWorkItem(batchCount, scratch: {}, multiply)
        } else {
            for batch in 0..<batchCount { multiply(batch, ()) }
        }
        return result
    }

    /// How many pieces of the contracted dim a product with a small result and a long contraction
    /// is split into (nil: not split): from 2^15 contracted elements per piece, at most 8 pieces,
    /// for results of at most 2^16 elements and at least 2^24 multiply-adds. OpenBLAS threads a
    /// GEMM over the result's rows and columns and synchronizes its threads on every block of the
    /// contraction: the NTK tutorial's [200 x 216320] x [216320 x 50] ran at 85-90 GFLOP/s on two
    /// threads, and in 2 to 8 pieces, one per thread at a time, at 100-113. The count depends
    /// only on the sizes, so the bits do not depend on the thread count.
    static func contractionParts(m: Int, n: Int, k: Int) -> Int? {
        guard k >= 1 << 16, m &* n <= 1 << 16, Double(m) * Double(n) * Double(k) >= Double(1 << 24) else { return nil }
        return Swift.min(8, k >> 15)
    }

    /// c = a @ b (a row-major [m, k]; b [k, n], or its transpose [n, k] stored row-major) as the
    /// sum, in order, of `parts` products over consecutive pieces of k, each computed on one thread
    /// (`Parallel.forEachWorkItem`) into a scratch matrix.
    static func gemmSplittingK<T: GEMMScalar>(_: T.Type, parts: Int, m: Int, n: Int, k: Int, a: UnsafePointer<T>, lda: Int,
                                              b: UnsafePointer<T>, ldb: Int, transB: Bool, c: UnsafeMutablePointer<T>) throws {
        let partials = try Tensor(uninitialized: TensorType(shape: [parts, m, n], dtype: T.dtype), op: "matmul")
        let pp = partials.elements(as: T.self), size = m &* n
        Parallel.forEachWorkItem(parts, scratch: {}) { part, _ in
            let k0 = k &* part / parts, k1 = k &* (part &+ 1) / parts
            T.gemm(transA: false, transB: transB, m: m, n: n, k: k1 &- k0, a: a + k0, lda: lda,
                   b: b + (transB ? k0 : k0 &* ldb), ldb: ldb, c: pp + part &* size, ldc: n)
        }
        for i in 0..<size { c[i] = pp[i] }
        for part in 1..<parts {
            let piece = pp + part &* size
            for i in 0..<size { c[i] += piece[i] }
        }
    }

    /// c = a @ b^T for float32 a [m, k] and b [n, k], both row-major (rows along the contraction),
    /// by the AVX2/FMA kernel `swiftfunc_sgemm_nt_rows` (Sources/CKernels): a long contraction
    /// with a small result, which OpenBLAS runs at 47-54 GFLOP/s per core here (it packs both
    /// operands, streamed from memory once, and cannot overlap that with its arithmetic), the
    /// kernel at 56-66 reading the rows in place. One contiguous range of rows per thread: each
    /// range streams all of b, so more ranges than threads would only read it again. An element's
    /// sum does not depend on the range it falls in, so the bits do not depend on the thread
    /// count. False (nothing written) for float64 or on a CPU without AVX2 and FMA.
    static func dotProductsByRows<T: GEMMScalar>(_: T.Type, m: Int, n: Int, k: Int, a: UnsafePointer<T>, lda: Int,
                                                 b: UnsafePointer<T>, ldb: Int, c: UnsafeMutablePointer<T>) -> Bool {
        guard T.self == Float.self, swiftfunc_kernels_available() != 0 else { return false }
        let (pa, pb) = (UnsafeRawPointer(a).assumingMemoryBound(to: Float.self), UnsafeRawPointer(b).assumingMemoryBound(to: Float.self))
        let pc = UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self)
        let tiles = (m + 3) / 4, ranges = Swift.min(Parallel.threadCount, tiles)
        Parallel.forEachWorkItem(ranges, scratch: {}) { range, _ in
            let first = tiles * range / ranges * 4, end = Swift.min(m, tiles * (range + 1) / ranges * 4)
            _ = swiftfunc_sgemm_nt_rows(end - first, n, k, pa + first * lda, lda, pb, ldb, pc + first * n, n)
        }
        return true
    }

    /// c = op(a) @ b (op: transpose with `transA`; b row-major [k, n]; c row-major with ldc) by the
    /// AVX2/FMA kernel `swiftfunc_sgemm_small_k`, for a float32 product with a short contraction
    /// (k <= `shortContraction`) made on one OpenBLAS thread anyway (inside
    /// `Parallel.withSingleThreadedBLAS`, as convolution work items are; a product on OpenBLAS's
    /// threads keeps them). OpenBLAS zeroes C in a pass of its own and then runs its kernel at
    /// 47-55 GFLOP/s per core on conv_transpose2d's [288 x 32] x [32 x 784]; the kernel writes
    /// each tile of C once at 78-80. Whether it runs depends on the sizes and the calling context,
    /// never on the thread count. False (nothing written) otherwise: the caller calls BLAS.
    static func productWithShortContraction<T: GEMMScalar>(_: T.Type, transA: Bool, m: Int, n: Int, k: Int,
                                                           a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int,
                                                           c: UnsafeMutablePointer<T>, ldc: Int) -> Bool {
        guard T.self == Float.self, k <= shortContraction, BLASThreads.isSingleOnThisThread else { return false }
        let pa = UnsafeRawPointer(a).assumingMemoryBound(to: Float.self), pb = UnsafeRawPointer(b).assumingMemoryBound(to: Float.self)
        let pc = UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self)
        return swiftfunc_sgemm_small_k(m, n, k, pa, transA ? 1 : lda, transA ? lda : 1, pb, ldb, pc, ldc) != 0
    }

    /// The longest contraction `productWithShortContraction` takes: beyond a few dozen, OpenBLAS's
    /// blocking for the cache wins.
    static var shortContraction: Int { 64 }

    /// c[i, j] = a[i] * b[j] for an m x n row-major c.
    @inline(__always)
    static func outerProduct<T: GEMMScalar>(a: UnsafePointer<T>, strideA: Int, b: UnsafePointer<T>, strideB: Int,
                                            c: UnsafeMutablePointer<T>, m: Int, n: Int) {
        for i in 0..<m {
            let ai = a[i &* strideA]
            let row = c + i &* n
            if strideB == 1 {
                for j in 0..<n { row[j] = ai * b[j] }
            } else {
                for j in 0..<n { row[j] = ai * b[j &* strideB] }
            }
        }
    }

    /// The row stride of a row-major operand whose batch dims and rows form one evenly strided
    /// run of rows (e.g. a contiguous [B, M, K] tensor is one [B*M, K] matrix), or nil.
    static func foldedRowStride(_ operand: MatrixOperand) -> Int? {
        let rowStride = operand.ld
        var expected = rowStride &* operand.rows
        for d in stride(from: operand.batchShape.count - 1, through: 0, by: -1) where operand.batchShape[d] != 1 {
            guard operand.batchStrides[d] == expected else { return nil }
            expected = expected &* operand.batchShape[d]
        }
        return rowStride
    }
}

/// The float types OpenBLAS multiplies: a row-major C = A·B (alpha 1, beta 0) with each operand
/// optionally transposed. Callers guarantee that every size fits blasint and that leading dims are
/// valid (ld >= max(1, row length)), so BLAS never reports a parameter error.
protocol GEMMScalar: FloatingPointElement {
    /// OpenBLAS's GEMM for this type.
    static var blasGEMM: BLASGEMM<Self> { get }
}

/// The signature cblas_sgemm and cblas_dgemm share, for element type T.
typealias BLASGEMM<T> = (CBLAS_ORDER, CBLAS_TRANSPOSE, CBLAS_TRANSPOSE, blasint, blasint, blasint, T, UnsafePointer<T>?,
                         blasint, UnsafePointer<T>?, blasint, T, UnsafeMutablePointer<T>?, blasint) -> Void

extension Float: GEMMScalar { static var blasGEMM: BLASGEMM<Float> { cblas_sgemm } }
extension Double: GEMMScalar { static var blasGEMM: BLASGEMM<Double> { cblas_dgemm } }

extension GEMMScalar {
    /// One OpenBLAS call on one of its threads.
    @inline(__always)
    static func singleThreadedGEMM(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                                   a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int,
                                   c: UnsafeMutablePointer<Self>, ldc: Int) {
        blasGEMM(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                 blasint(truncatingIfNeeded: m), blasint(truncatingIfNeeded: n), blasint(truncatingIfNeeded: k),
                 1, a, blasint(truncatingIfNeeded: lda), b, blasint(truncatingIfNeeded: ldb),
                 0, c, blasint(truncatingIfNeeded: Swift.max(1, ldc)))
    }
}

extension GEMMScalar {
    /// c = op(a) @ op(b): small products in one OpenBLAS call, larger ones in `Contraction.gemmBlocks`
    /// blocks of rows or columns of c shared out over the pool's threads, each block one OpenBLAS
    /// call on one thread. OpenBLAS's own threads never run, so the library's threads are the only
    /// ones it keeps busy: a threaded OpenBLAS call leaves its idle thread polling with sched_yield
    /// for 2^28 cycles, which on two cores took 8% of the NTK tutorial's time from the pool's
    /// threads; and the blocks depend only on the sizes, so the bits do not depend on the thread
    /// count. Inside work items already spread over the pool (`Parallel.withSingleThreadedBLAS`) a
    /// product is one call.
    static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                     a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int,
                     c: UnsafeMutablePointer<Self>, ldc: Int) {
        let blocks = BLASThreads.isSingleOnThisThread ? 1 : Contraction.gemmBlocks(m: m, n: n, k: k)
        // OpenBLAS's thread count is process-wide: `BLASThreads` holds it at one until every block
        // has returned, so the blocks on the pool's threads call OpenBLAS directly.
        BLASThreads.shared.run(single: true) {
            guard blocks > 1 else {
                return singleThreadedGEMM(transA: transA, transB: transB, m: m, n: n, k: k,
                                          a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc)
            }
            // Split the longer side of c; block i covers [start(i), start(i + 1)) of it, each start
            // a multiple of the tile so that blocks differ only in where they begin.
            let alongRows = m >= n, side = alongRows ? m : n
            func start(_ block: Int) -> Int {
                block == blocks ? side : side * block / blocks / Contraction.blockTile * Contraction.blockTile
            }
            Parallel.forEachWorkItem(blocks, scratch: {}) { block, _ in
                let first = start(block), count = start(block + 1) - first
                if alongRows {
                    singleThreadedGEMM(transA: transA, transB: transB, m: count, n: n, k: k,
                                       a: a + (transA ? first : first * lda), lda: lda, b: b, ldb: ldb,
                                       c: c + first * ldc, ldc: ldc)
                } else {
                    singleThreadedGEMM(transA: transA, transB: transB, m: m, n: count, k: k,
                                       a: a, lda: lda, b: b + (transB ? first * ldb : first), ldb: ldb,
                                       c: c + first, ldc: ldc)
                }
            }
        }
    }
}

extension Contraction {
    /// The rows (or columns) a GEMM block starts on a multiple of: the width of OpenBLAS's float32
    /// and float64 kernels' tiles on x86-64, so that a block boundary falls between tiles.
    static var blockTile: Int { 16 }

    /// How many blocks `GEMMScalar.gemm` splits an m x n x k product into (1: one OpenBLAS call):
    /// from `Parallel.blasThreadingMultiplyAdds` on, 2, and 4 from 2^26 multiply-adds (about 1 ms
    /// on one core), each at least one tile of the longer side. An even count, so that two threads
    /// share the blocks evenly: the 8-MLP ensemble's [64 x 784] x [784 x 1024] took 0.68-0.69 ms
    /// in 2 blocks, 0.69-0.71 in 4 (each block packs the other operand again) and 0.88-0.89 in 3.
    /// Four blocks for long products, so that a thread slowed by another process holds up less of
    /// them. Sizes only, never the thread count.
    static func gemmBlocks(m: Int, n: Int, k: Int) -> Int {
        let work = Double(m) * Double(n) * Double(k)
        guard work >= Double(Parallel.blasThreadingMultiplyAdds) else { return 1 }
        let wanted = work >= Double(1 << 26) ? 4 : 2, tiles = Swift.max(m, n) / blockTile
        return wanted <= tiles ? wanted : (tiles >= 2 ? 2 : 1)
    }
}

extension Ops {
    /// The matrix product of `a` and `b` as torch.matmul: 1-D·1-D is a dot product, 1-D operands
    /// get a dim prepended (left) or appended (right) that is removed afterwards, and leading batch
    /// dims broadcast. Float dtypes only; float32 with float64 computes in float64.
    public static func matmul(_ a: Value, _ b: Value) throws -> Value {
        try Contraction.checkFloatOperands(a.dtype, b.dtype, op: "matmul")
        let common = DType.promoteStrong(a.dtype, b.dtype)
        return try emit(.matmul, [cast(a, to: common), cast(b, to: common)])
    }
}
