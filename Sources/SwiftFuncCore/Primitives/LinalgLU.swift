/// LU with partial pivoting (torch.linalg.lu_factor / lu_solve) on LAPACK's getrf and getrs.
///
/// lu_factor is two primitives, `luFactor` (the packed L and U, float) and `luPivots` (torch's
/// 1-based int32 pivots), one getrf each (primitives have one output; the pivots cannot share a
/// float result exactly). lu_factor has no derivative: differentiating it is SF_ERR_UNSUPPORTED
/// naming the op. `luSolve` is differentiable in B (dX = lu_solve(dB), B̄ = the adjoint solve) and
/// in LU (L and U read as the kernel reads them, the pivots held fixed).
extension Linalg {
    static func luFactorType(_ args: [TensorType], _ params: Params) throws -> TensorType {
        let (m, n, batch) = try matrices(args[0], op: "linalg_lu_factor")
        return TensorType(shape: batch + [m, n], dtype: args[0].dtype)
    }

    static func luPivotsType(_ args: [TensorType], _ params: Params) throws -> TensorType {
        let (m, n, batch) = try matrices(args[0], op: "linalg_lu_factor")
        return TensorType(shape: batch + [Swift.min(m, n)], dtype: .int32)
    }

    /// LU [..., n, n], pivots int32 [..., n] with LU's batch, B [..., n, k] (batch broadcast with LU's).
    static func luSolveType(_ args: [TensorType], _ params: Params) throws -> TensorType {
        let op = "linalg_lu_solve"
        guard args.count == 3 else { throw SwiftFuncError.invalidArgument(op, "expects 3 arguments, got \(args.count)") }
        let (lu, pivots) = (args[0], args[1])
        let (n, batch) = try squareMatrices(lu, op: op)
        guard pivots.dtype == .int32, pivots.shape == batch + [n] else {
            throw SwiftFuncError.invalidArgument(op, "pivots must be int32 of shape \(formatShape(batch + [n])) (LU's batch and n), got \(pivots.dtype) \(formatShape(pivots.shape))")
        }
        return try solveType([lu, args[2]], .none, op: op)
    }

    static func luFactorEval(_ args: [Tensor], _ params: Params, _ type: TensorType) throws -> Tensor {
        try dispatch(args[0].dtype, "linalg_lu_factor") { (t: any LAPACKScalar.Type) in try luKernel(t, args[0], type) }
    }

    /// getrf per matrix; the result is LU (float type) or the pivots (int32 type). A singular
    /// matrix is not an error (U has a zero on its diagonal), as torch's lu_factor.
    static func luKernel<T: LAPACKScalar>(_: T.Type, _ a: Tensor, _ type: TensorType) throws -> Tensor {
        let op = "linalg_lu_factor"
        let result = try Tensor(uninitialized: type, op: op)
        let m = a.shape[a.rank - 2], n = a.shape[a.rank - 1], k = Swift.min(m, n)
        let batch = Array(a.shape.dropLast(2))
        let pivotsOnly = type.dtype == .int32
        guard result.count > 0 else { return result }
        let offsets = LAPACK.matrixOffsets(a, batch: batch)
        let infos = LAPACK.forEachMatrix(offsets.count, n: Swift.max(m, n)) { range, infos in
            var matrix = [T](repeating: 0, count: m * n), pivots = [Int32](repeating: 0, count: Swift.max(1, k))
            for index in range {
                LAPACK.load(a, at: offsets[index], into: &matrix)
                infos[index] = Swift.min(0, T.getrf(m: m, n: n, a: &matrix, ipiv: &pivots))
                if pivotsOnly {
                    let out = result.elements(as: Int32.self) + index * k
                    for i in 0..<k { out[i] = pivots[i] }
                } else {
                    LAPACK.store(matrix, into: result, matrix: index, rows: m, cols: n)
                }
            }
        }
        _ = try LAPACK.firstFailure(infos, op: op)
        return result
    }

    static func luSolveAdjoint(_ params: Params) -> Bool {
        if case .luSolve(adjoint: true) = params { return true }
        return false
    }

    static func luSolveEval(_ args: [Tensor], _ params: Params, _ type: TensorType) throws -> Tensor {
        try dispatch(type.dtype, "linalg_lu_solve") { (t: any LAPACKScalar.Type) in
            try luSolveKernel(t, args[0], args[1], args[2], type, adjoint: luSolveAdjoint(params))
        }
    }

    /// getrs per matrix (A X = B, or Aᵀ X = B when adjoint). Pivots outside 1...n (they come from
    /// the host) are SF_ERR_INVALID_ARGUMENT before LAPACK sees them.
    static func luSolveKernel<T: LAPACKScalar>(_: T.Type, _ lu: Tensor, _ pivots: Tensor, _ b: Tensor, _ type: TensorType,
                                               adjoint: Bool) throws -> Tensor {
        let op = "linalg_lu_solve"
        let result = try Tensor(uninitialized: type, op: op)
        let n = type.shape[type.rank - 2], k = type.shape[type.rank - 1]
        let batch = Array(type.shape.dropLast(2))
        guard result.count > 0 else { return result }
        let offsetsLU = LAPACK.matrixOffsets(lu, batch: batch), offsetsB = LAPACK.matrixOffsets(b, batch: batch)
        let offsetsPivots = LAPACK.matrixOffsets(pivots, batch: batch, trailing: 1)
        let base = pivots.elements(as: Int32.self), pivotStride = pivots.strides[pivots.rank - 1]
        for offset in Set(offsetsPivots) {
            for i in 0..<n where !(1...Int32(clamping: n)).contains(base[offset + i * pivotStride]) {
                throw SwiftFuncError.invalidArgument(op, "pivot \(i) is \(base[offset + i * pivotStride]), outside 1...\(n)")
            }
        }
        let infos = LAPACK.forEachMatrix(offsetsLU.count, n: n) { range, infos in
            var matrix = [T](repeating: 0, count: n * n), rhs = [T](repeating: 0, count: n * k)
            var ipiv = [Int32](repeating: 0, count: n)
            for index in range {
                LAPACK.load(lu, at: offsetsLU[index], into: &matrix)
                LAPACK.load(b, at: offsetsB[index], into: &rhs)
                for i in 0..<n { ipiv[i] = base[offsetsPivots[index] + i * pivotStride] }
                infos[index] = T.getrs(transpose: adjoint, n: n, nrhs: k, a: matrix, ipiv: ipiv, b: &rhs)
                LAPACK.store(rhs, into: result, matrix: index, rows: n, cols: k)
            }
        }
        _ = try LAPACK.firstFailure(infos, op: op)
        return result
    }

    static func luFactorJVP(_ primals: [Value], _ tangents: [Value?], _ output: Value, _ params: Params) throws -> Value? {
        guard tangents[0] != nil else { return nil }
        throw SwiftFuncError.unsupported("linalg_lu_factor", "derivatives of lu_factor are not implemented (differentiate solve, det or inv instead)")
    }

    static func luFactorVJP(_ cotangent: Value, _ primals: [Value], _ output: Value, _ params: Params, _ needed: [Bool]) throws -> [Value?] {
        throw SwiftFuncError.unsupported("linalg_lu_factor", "derivatives of lu_factor are not implemented (differentiate solve, det or inv instead)")
    }

    /// L (unit lower, from below LU's diagonal) and U (on and above it) as full matrices.
    static func luTriangles(_ lu: Value) throws -> (l: Value, u: Value) {
        let n = lu.shape[lu.rank - 1]
        return (try emit(.add, [triangle(lu, lower: true, strict: true), identity(n, dtype: lu.dtype)]),
                try triangle(lu, lower: false, strict: false))
    }

    /// X with A X = Y (or Aᵀ X = Y) from the same factors.
    static func luSolveWith(_ primals: [Value], _ y: Value, adjoint: Bool) throws -> Value {
        try emit(.luSolve, [primals[0], primals[1], y], .luSolve(adjoint: adjoint))
    }

    /// With A = P L U, M = dL U + L dU (dL below dLU's diagonal, dU on and above it):
    /// dX = lu_solve(dB) − U⁻¹ L⁻¹ M X, or for the adjoint solve − A⁻ᵀ Mᵀ Pᵀ X with Pᵀ X = L U A⁻¹ X
    /// (the permutation applied through the factors, not the pivots).
    static func luSolveJVP(_ primals: [Value], _ tangents: [Value?], _ output: Value, _ params: Params) throws -> Value? {
        let adjoint = luSolveAdjoint(params)
        var result = try tangents[2].map { try luSolveWith(primals, Differentiation.cast($0, to: output.dtype), adjoint: adjoint) }
        guard let tlu = tangents[0] else { return result }
        let lu = primals[0], x = output
        let dlu = try Differentiation.cast(tlu, to: x.dtype)
        let (l, u) = try luTriangles(lu)
        let (dl, du) = (try triangle(dlu, lower: true, strict: true), try triangle(dlu, lower: false, strict: false))
        let term: Value
        if adjoint {
            let w = try emit(.matmul, [l, emit(.matmul, [u, luSolveWith(primals, x, adjoint: false)])])
            let mtw = try emit(.add, [emit(.matmul, [transposeLast(u), emit(.matmul, [transposeLast(dl), w])]),
                                      emit(.matmul, [transposeLast(du), emit(.matmul, [transposeLast(l), w])])])
            term = try luSolveWith(primals, mtw, adjoint: true)
        } else {
            let lowerPart = try emit(.solveTriangular, [lu, emit(.matmul, [dl, emit(.matmul, [u, x])])], .triangular(upper: false, unit: true))
            term = try emit(.solveTriangular, [lu, emit(.add, [lowerPart, emit(.matmul, [du, x])])], .triangular(upper: true, unit: false))
        }
        result = try result.map { try emit(.sub, [$0, term]) } ?? emit(.neg, [term])
        return result
    }

    /// B̄ = the other solve of X̄; LU̅ = −(tril(G Uᵀ, -1) + triu(Lᵀ G)) with G = L⁻ᵀ U⁻ᵀ X̄ Xᵀ, or for the
    /// adjoint solve G = (L U A⁻¹ X)(A⁻¹ X̄)ᵀ (the JVP's adjoint).
    static func luSolveVJP(_ cotangent: Value, _ primals: [Value], _ output: Value, _ params: Params, _ needed: [Bool]) throws -> [Value?] {
        let adjoint = luSolveAdjoint(params)
        let gradB = try luSolveWith(primals, cotangent, adjoint: !adjoint)
        var grads: [Value?] = [nil, nil, needed[2] ? try Differentiation.unbroadcast(gradB, to: primals[2].shape) : nil]
        guard needed[0] else { return grads }
        let lu = primals[0], x = output
        let (l, u) = try luTriangles(lu)
        let g: Value
        if adjoint {
            let w = try emit(.matmul, [l, emit(.matmul, [u, luSolveWith(primals, x, adjoint: false)])])
            g = try emit(.matmul, [w, transposeLast(gradB)])
        } else {
            let luT = try transposeLast(lu)
            let upperPart = try emit(.solveTriangular, [luT, cotangent], .triangular(upper: false, unit: false))   // U⁻ᵀ X̄
            let both = try emit(.solveTriangular, [luT, upperPart], .triangular(upper: true, unit: true))           // L⁻ᵀ U⁻ᵀ X̄
            g = try emit(.matmul, [both, transposeLast(x)])
        }
        let gradLU = try emit(.neg, [emit(.add, [triangle(emit(.matmul, [g, transposeLast(u)]), lower: true, strict: true),
                                                 triangle(emit(.matmul, [transposeLast(l), g]), lower: false, strict: false)])])
        grads[0] = try Differentiation.unbroadcast(gradLU, to: lu.shape)
        return grads
    }

    /// Every operand gets the batch dim in front (LU and pivots materialized together, as they
    /// must share their batch), then size-1 dims so the per-example batches broadcast from the right.
    static func luSolveBatch(_ args: [Value], _ dims: [Int?], _ batch: BatchContext, _ params: Params) throws -> (Value, Int?) {
        _ = try luSolveType(zip(args, dims).map { Contraction.exampleType($0, $1) }, params)
        let trailing = [2, 1, 2]
        var exampleBatchRank = 0
        for (i, arg) in args.enumerated() { exampleBatchRank = Swift.max(exampleBatchRank, arg.rank - (dims[i] == nil ? 0 : 1) - trailing[i]) }
        let aligned = try args.indices.map { i -> Value in
            let front = try Batching.materialize(args[i], batchDim: dims[i], size: batch.size)
            let missing = exampleBatchRank - (front.rank - 1 - trailing[i])
            guard missing > 0 else { return front }
            var shape = front.shape
            shape.insert(contentsOf: [Int](repeating: 1, count: missing), at: 1)
            return try emit(.reshape, [front], .shape(shape))
        }
        return (try emit(.luSolve, aligned, params), 0)
    }
}

extension Ops {
    /// torch.linalg.lu_factor: (LU, pivots) of A = P L U, L unit lower (below LU's diagonal), U
    /// upper, pivots int32 1-based (row i was swapped with pivots[i]). Two getrf (one per output).
    /// Not differentiable (SF_ERR_UNSUPPORTED naming the op).
    public static func luFactor(_ a: Value) throws -> (lu: Value, pivots: Value) {
        (try emit(.luFactor, [a]), try emit(.luPivots, [a]))
    }

    /// torch.linalg.lu_solve(LU, pivots, B, left, adjoint): X with A X = B (Aᵀ X = B when adjoint;
    /// X A = B when !left) for A = P L U from lu_factor. Differentiable in B and in LU.
    public static func luSolve(_ lu: Value, _ pivots: Value, _ b: Value, left: Bool = true, adjoint: Bool = false) throws -> Value {
        let op = "linalg_lu_solve"
        try Contraction.checkFloatOperands(lu.dtype, b.dtype, op: op)
        let b = try cast(b, to: lu.dtype)
        if left { return try emit(.luSolve, [lu, pivots, b], .luSolve(adjoint: adjoint)) }
        // X A = B is Aᵀ Xᵀ = Bᵀ (adjoint toggled).
        guard b.rank >= 2 else { return try emit(.luSolve, [lu, pivots, b], .luSolve(adjoint: !adjoint)) }
        return try Linalg.transposeLast(emit(.luSolve, [lu, pivots, Linalg.transposeLast(b)], .luSolve(adjoint: !adjoint)))
    }
}
