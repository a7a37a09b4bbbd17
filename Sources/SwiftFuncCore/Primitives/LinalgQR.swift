/// The QR decomposition (torch.linalg.qr) on LAPACK's geqrf + orgqr, and lstsq built on it.
///
/// One primitive, `qr`, whose output packs each matrix's Q and R flattened side by side
/// ([..., m·kq + kr·n]; kq = kr = k = min(m, n) reduced, m complete); Ops.qr slices it into two
/// views, so both come from one factorization. Its JVP and VJP are JAX's rule for m ≥ n with
/// reduced factors (complete ones equal them when m == n); other shapes are SF_ERR_UNSUPPORTED
/// when differentiated. R's diagonal has LAPACK's signs (not made positive), as torch.
extension Linalg {
    static func qrCounts(m: Int, n: Int, complete: Bool) -> (kq: Int, kr: Int) {
        complete ? (m, m) : (Swift.min(m, n), Swift.min(m, n))
    }

    static func qrComplete(_ params: Params) -> Bool {
        if case .qr(complete: true) = params { return true }
        return false
    }

    static func qrType(_ args: [TensorType], _ params: Params) throws -> TensorType {
        let op = "linalg_qr"
        let (m, n, batch) = try matrices(args[0], op: op)
        let (kq, kr) = qrCounts(m: m, n: n, complete: qrComplete(params))
        let (q, o1) = m.multipliedReportingOverflow(by: kq), (r, o2) = kr.multipliedReportingOverflow(by: n)
        let (total, o3) = q.addingReportingOverflow(r)
        guard !(o1 || o2 || o3) else { throw SwiftFuncError.shape(op, "the factors of \(m)x\(n) matrices are too large") }
        let shape = batch + [total]
        try ShapeChecks.validate(shape, itemSize: args[0].dtype.itemSize, op: op)
        return TensorType(shape: shape, dtype: args[0].dtype)
    }

    static func qrEval(_ args: [Tensor], _ params: Params, _ type: TensorType) throws -> Tensor {
        try dispatch(type.dtype, "linalg_qr") { (t: any LAPACKScalar.Type) in
            try qrKernel(t, args[0], type, complete: qrComplete(params))
        }
    }

    /// Per matrix: geqrf, R from its upper triangle (zero below), then orgqr for Q's kq columns (the
    /// scratch matrix has max(n, kq) columns so that a complete Q fits).
    static func qrKernel<T: LAPACKScalar>(_: T.Type, _ a: Tensor, _ type: TensorType, complete: Bool) throws -> Tensor {
        let op = "linalg_qr"
        let result = try Tensor(uninitialized: type, op: op)
        let m = a.shape[a.rank - 2], n = a.shape[a.rank - 1], k = Swift.min(m, n)
        let (kq, _) = qrCounts(m: m, n: n, complete: complete)
        let batch = Array(a.shape.dropLast(2))
        guard result.count > 0 else { return result }
        let width = type.shape[type.rank - 1]
        let out = result.elements(as: T.self)
        let offsets = LAPACK.matrixOffsets(a, batch: batch)
        let sizedWork = try T.qrWorkspace(m: m, n: n, columns: k > 0 ? kq : 0, op: op)
        let columns = Swift.max(n, kq)
        let infos = LAPACK.forEachMatrix(offsets.count, n: Swift.max(m, n)) { range, infos in
            var matrix = [T](repeating: 0, count: m * n), scratch = [T](repeating: 0, count: m * columns)
            var tau = [T](repeating: 0, count: Swift.max(1, k)), work = sizedWork
            for index in range {
                let base = out + index * width
                for i in 0..<width { base[i] = 0 }
                LAPACK.load(a, at: offsets[index], into: &matrix)
                guard k > 0 else {
                    for i in 0..<kq { base[i * kq + i] = 1 }  // complete Q of an empty matrix: I
                    continue
                }
                var info = T.geqrf(m: m, n: n, a: &matrix, tau: &tau, work: &work)
                let rBase = base + m * kq
                for i in 0..<k {  // rows k..<kr of a complete R stay zero
                    for j in i..<n { rBase[i * n + j] = matrix[i + j * m] }
                }
                for i in 0..<(m * n) { scratch[i] = matrix[i] }
                for i in (m * n)..<(m * columns) { scratch[i] = 0 }
                if info == 0 { info = T.orgqr(m: m, columns: kq, k: k, a: &scratch, tau: tau, work: &work) }
                infos[index] = info
                for i in 0..<m {
                    for j in 0..<kq { base[i * kq + j] = scratch[i + j * m] }
                }
            }
        }
        _ = try LAPACK.firstFailure(infos, op: op)  // geqrf/orgqr fail only on bad arguments
        return result
    }

    /// Q [..., m, kq] and R [..., kr, n] as views of qr's packed output.
    static func qrParts(_ packed: Value, m: Int, n: Int, complete: Bool) throws -> (q: Value, r: Value) {
        let (kq, kr) = qrCounts(m: m, n: n, complete: complete)
        let batch = Array(packed.shape.dropLast()), last = packed.rank - 1
        let q = try Ops.reshape(Ops.slice(packed, dim: last, start: 0, stop: m * kq), shape: batch + [m, kq])
        let r = try Ops.reshape(Ops.slice(packed, dim: last, start: m * kq, stop: m * kq + kr * n), shape: batch + [kr, n])
        return (q, r)
    }

    /// Derivatives exist here for m ≥ n with reduced factors (complete equals reduced when m == n).
    static func qrFactorsForRules(_ a: Value, _ output: Value, _ params: Params) throws -> (q: Value, r: Value) {
        let m = a.shape[a.rank - 2], n = a.shape[a.rank - 1]
        let complete = qrComplete(params)
        guard m >= n, !complete || m == n else {
            throw SwiftFuncError.unsupported("linalg_qr", "derivatives need m >= n and mode='reduced' (got \(m)x\(n)\(complete ? ", mode='complete'" : ""))")
        }
        return try qrParts(output, m: m, n: n, complete: complete)
    }

    /// JAX's rule: with X = dA R⁻¹, C = Qᵀ X and Ω = tril(C, -1) − tril(C, -1)ᵀ,
    /// dQ = Q (Ω − C) + X and dR = (C − Ω) R.
    static func qrJVP(_ primals: [Value], _ tangents: [Value?], _ output: Value, _ params: Params) throws -> Value? {
        guard let tangent = tangents[0] else { return nil }
        let (q, r) = try qrFactorsForRules(primals[0], output, params)
        let da = try Differentiation.cast(tangent, to: q.dtype)
        // X R = dA is Rᵀ Xᵀ = dAᵀ, a lower-triangular solve.
        let x = try transposeLast(emit(.solveTriangular, [transposeLast(r), transposeLast(da)], .triangular(upper: false, unit: false)))
        let c = try emit(.matmul, [transposeLast(q), x])
        let lower = try triangle(c, lower: true, strict: true)
        let omega = try emit(.sub, [lower, transposeLast(lower)])
        let dq = try emit(.add, [emit(.matmul, [q, emit(.sub, [omega, c])]), x])
        let dr = try emit(.matmul, [emit(.sub, [c, omega]), r])
        let batch = Array(dq.shape.dropLast(2))
        return try Ops.cat([Ops.reshape(dq, shape: batch + [dq.shape[dq.rank - 2] * dq.shape[dq.rank - 1]]),
                            Ops.reshape(dr, shape: batch + [dr.shape[dr.rank - 2] * dr.shape[dr.rank - 1]])], dim: batch.count)
    }

    /// The JVP's adjoint: M = R̄ Rᵀ − Qᵀ Q̄, N = M − tril(M − Mᵀ, -1), Ā = (Q̄ + Q N) R⁻ᵀ.
    static func qrVJP(_ cotangent: Value, _ primals: [Value], _ output: Value, _ params: Params, _ needed: [Bool]) throws -> [Value?] {
        let (q, r) = try qrFactorsForRules(primals[0], output, params)
        let a = primals[0], m = a.shape[a.rank - 2], n = a.shape[a.rank - 1]
        let (qBar, rBar) = try qrParts(cotangent, m: m, n: n, complete: qrComplete(params))
        let mm = try emit(.sub, [emit(.matmul, [rBar, transposeLast(r)]), emit(.matmul, [transposeLast(q), qBar])])
        let nn = try emit(.sub, [mm, triangle(emit(.sub, [mm, transposeLast(mm)]), lower: true, strict: true)])
        let b = try emit(.add, [qBar, emit(.matmul, [q, nn])])
        // Y = B R⁻ᵀ is R Yᵀ = Bᵀ, an upper-triangular solve.
        return [try transposeLast(emit(.solveTriangular, [r, transposeLast(b)], .triangular(upper: true, unit: false)))]
    }
}

extension Ops {
    /// torch.linalg.qr: Q with orthonormal columns and upper-triangular R, A = Q R; mode "reduced"
    /// (k = min(m, n)), "complete" (Q m x m, R m x n) or "r" (R alone; Q is an empty tensor, as
    /// torch). Differentiable for m ≥ n and reduced factors (complete when m == n).
    public static func qr(_ a: Value, mode: String = "reduced") throws -> (q: Value, r: Value) {
        let op = "linalg_qr"
        guard ["reduced", "complete", "r"].contains(mode) else {
            throw SwiftFuncError.invalidArgument(op, "mode must be 'reduced', 'complete' or 'r', got '\(mode)'")
        }
        let (m, n, _) = try Linalg.matrices(a.type, op: op)
        let complete = mode == "complete"
        let (q, r) = try Linalg.qrParts(emit(.qr, [a], .qr(complete: complete)), m: m, n: n, complete: complete)
        guard mode == "r" else { return (q, r) }
        return (try zeros(shape: [0], dtype: a.dtype), r)
    }

    /// torch.linalg.lstsq for full-rank A (driver 'gelsy' fills solution and rank; residuals and
    /// singular_values are empty, as torch's CPU default): the least-squares solution of a tall A
    /// (m ≥ n) as R⁻¹ Qᵀ B, the minimum-norm one of a wide A as Q R⁻ᵀ B from qr(Aᵀ), so derivatives
    /// come from qr's and the triangular solves'. rank counts singular values above rcond · the
    /// largest (rcond nil: eps · max(m, n)). A rank-deficient A gives inf/nan, unlike gelsy. B is
    /// [..., m, k], or a vector as in solve (batch dims broadcast).
    public static func lstsq(_ a: Value, _ b: Value, rcond: Double? = nil) throws -> (solution: Value, rank: Value) {
        let op = "linalg_lstsq"
        try Contraction.checkFloatOperands(a.dtype, b.dtype, op: op)
        let common = DType.promoteStrong(a.dtype, b.dtype)
        let a = try cast(a, to: common), b = try cast(b, to: common)
        let (m, n, _) = try Linalg.matrices(a.type, op: op)
        if let rcond, !(rcond >= 0) { throw SwiftFuncError.invalidArgument(op, "rcond must be non-negative, got \(rcond)") }
        // torch's rule (as solve's): a vector is 1-D or A's shape without its last dim.
        let isVector = b.rank == 1 || (b.rank == a.rank - 1 && b.shape == Array(a.shape.dropLast()))
        let rhs = isVector ? try unsqueeze(b, dim: b.rank) : b
        guard rhs.rank >= 2, rhs.shape[rhs.rank - 2] == m else {
            throw SwiftFuncError.shape(op, "A of shape \(formatShape(a.shape)) and B of shape \(formatShape(b.shape)) are not compatible (B needs \(m) rows)")
        }
        let x: Value
        if m >= n {
            let (q, r) = try qr(a)
            x = try solveTriangular(r, matmul(Linalg.transposeLast(q), rhs), upper: true)
        } else {
            let (q, r) = try qr(Linalg.transposeLast(a))
            x = try matmul(q, solveTriangular(Linalg.transposeLast(r), rhs, upper: false))
        }
        let eps = a.dtype == .float32 ? Double(Float.ulpOfOne) : Double.ulpOfOne
        let values = try detach(svdvals(a))
        let rank: Value
        if Swift.min(m, n) == 0 {
            rank = try zeros(shape: Array(a.shape.dropLast(2)), dtype: .int64)
        } else {
            let largest = try slice(values, dim: values.rank - 1, start: 0, stop: 1)
            let kept = try gt(values, mul(largest, scalar(rcond ?? eps * Double(Swift.max(m, n)))))
            rank = try sum(cast(kept, to: .int64), dims: [values.rank - 1])
        }
        return (isVector ? try squeeze(x, dims: [-1]) : x, rank)
    }
}
