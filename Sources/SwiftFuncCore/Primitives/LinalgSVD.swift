/// The singular value decomposition (torch.linalg.svd / svdvals) on LAPACK's gesdd, and the
/// composites built on it (pinv, matrix_norm's 'nuc', 2 and -2).
///
/// Two primitives, as eigh's: `svdvals` (gesdd without vectors; [..., k], k = min(m, n),
/// descending) and `svd`, whose one output packs U, S and Vᵀ of each matrix flattened side by side
/// ([..., m·ku + k + kv·n]) so that one factorization gives all three and their signs agree;
/// Ops.svd slices it into views. The derivative of svdvals is U ᵀ dA V, finite always; those of U
/// and Vᵀ (JAX's and torch's) divide by s_j² − s_i² and, for non-square matrices, by s_i: finite
/// only for distinct nonzero singular values (inf/nan otherwise), and with full_matrices they exist
/// only for square matrices (SF_ERR_UNSUPPORTED otherwise, as torch).
extension Linalg {
    // MARK: Type rules

    /// The m, n and batch of a float operand with at least two dims (any matrices).
    static func matrices(_ a: TensorType, op: String) throws -> (m: Int, n: Int, batch: [Int]) {
        guard a.dtype.isFloatingPoint else {
            throw SwiftFuncError.dtype(op, "expected a float32 or float64 matrix, got \(a.dtype)")
        }
        guard a.rank >= 2 else {
            throw SwiftFuncError.shape(op, "expected matrices in the last two dims, got shape \(formatShape(a.shape))")
        }
        let m = a.shape[a.rank - 2], n = a.shape[a.rank - 1]
        try LAPACK.checkSize(Swift.max(m, n), op: op, shape: a.shape)
        return (m, n, Array(a.shape.dropLast(2)))
    }

    static func svdvalsType(_ args: [TensorType], _ params: Params) throws -> TensorType {
        let (m, n, batch) = try matrices(args[0], op: "linalg_svdvals")
        return TensorType(shape: batch + [Swift.min(m, n)], dtype: args[0].dtype)
    }

    static func svdJob(_ params: Params) -> SVDJob {
        if case .svd(full: true) = params { return .full }
        return .reduced
    }

    /// The packed length m·ku + k + kv·n, in checked arithmetic.
    static func svdPackedLength(m: Int, n: Int, job: SVDJob, op: String) throws -> Int {
        let (ku, kv) = job.vectorCounts(m: m, n: n)
        let (u, o1) = m.multipliedReportingOverflow(by: ku), (v, o2) = kv.multipliedReportingOverflow(by: n)
        let (uv, o3) = u.addingReportingOverflow(v), (total, o4) = uv.addingReportingOverflow(Swift.min(m, n))
        guard !(o1 || o2 || o3 || o4) else { throw SwiftFuncError.shape(op, "the factors of \(m)x\(n) matrices are too large") }
        return total
    }

    static func svdType(_ args: [TensorType], _ params: Params) throws -> TensorType {
        let op = "linalg_svd"
        let (m, n, batch) = try matrices(args[0], op: op)
        let shape = batch + [try svdPackedLength(m: m, n: n, job: svdJob(params), op: op)]
        try ShapeChecks.validate(shape, itemSize: args[0].dtype.itemSize, op: op)
        return TensorType(shape: shape, dtype: args[0].dtype)
    }

    // MARK: Kernels

    static func svdvalsEval(_ args: [Tensor], _ params: Params, _ type: TensorType) throws -> Tensor {
        try dispatch(type.dtype, "linalg_svdvals") { (t: any LAPACKScalar.Type) in try svdKernel(t, args[0], type, .valuesOnly) }
    }

    static func svdEval(_ args: [Tensor], _ params: Params, _ type: TensorType) throws -> Tensor {
        try dispatch(type.dtype, "linalg_svd") { (t: any LAPACKScalar.Type) in try svdKernel(t, args[0], type, svdJob(params)) }
    }

    /// Per matrix: gesdd (divide and conquer), then U (m x ku), S (k) and Vᵀ (kv x n) row-major
    /// into the packed result (S alone for `.valuesOnly`). A matrix with a non-finite entry gets
    /// nan everywhere without calling LAPACK (torch returns nan too; gesdd is not defined there).
    static func svdKernel<T: LAPACKScalar>(_: T.Type, _ a: Tensor, _ type: TensorType, _ job: SVDJob) throws -> Tensor {
        let op = job == .valuesOnly ? "linalg_svdvals" : "linalg_svd"
        let result = try Tensor(uninitialized: type, op: op)
        let m = a.shape[a.rank - 2], n = a.shape[a.rank - 1], k = Swift.min(m, n)
        let (ku, kv) = job.vectorCounts(m: m, n: n)
        let batch = Array(a.shape.dropLast(2))
        guard result.count > 0 else { return result }
        let width = type.shape[type.rank - 1]
        let out = result.elements(as: T.self)
        let offsets = LAPACK.matrixOffsets(a, batch: batch)
        // An empty matrix has no singular values; full U or Vᵀ is then the identity.
        guard k > 0 else {
            for index in 0..<offsets.count {
                let base = out + index * width
                for i in 0..<width { base[i] = 0 }
                for i in 0..<ku { base[i * ku + i] = 1 }
                for i in 0..<kv { base[m * ku + i * n + i] = 1 }
            }
            return result
        }
        let sizedWorkspace = try T.gesddWorkspace(job, m: m, n: n, op: op)
        let infos = LAPACK.forEachMatrix(offsets.count, n: Swift.max(m, n)) { range, infos in
            var matrix = [T](repeating: 0, count: m * n), s = [T](repeating: 0, count: k)
            var u = [T](repeating: 0, count: Swift.max(1, m * ku)), vt = [T](repeating: 0, count: Swift.max(1, kv * n))
            var workspace = sizedWorkspace
            for index in range {
                LAPACK.load(a, at: offsets[index], into: &matrix)
                let base = out + index * width
                guard matrix.allSatisfy({ $0.isFinite }) else {
                    for i in 0..<width { base[i] = .nan }
                    continue
                }
                infos[index] = T.gesdd(job, m: m, n: n, a: &matrix, s: &s, u: &u, vt: &vt, workspace: &workspace)
                if job == .valuesOnly {
                    for i in 0..<k { base[i] = s[i] }
                    continue
                }
                for i in 0..<m {
                    for j in 0..<ku { base[i * ku + j] = u[i + j * m] }
                }
                for i in 0..<k { base[m * ku + i] = s[i] }
                let vBase = base + m * ku + k
                for i in 0..<kv {
                    for j in 0..<n { vBase[i * n + j] = vt[i + j * kv] }
                }
            }
        }
        if let (index, info) = try LAPACK.firstFailure(infos, op: op) {
            throw SwiftFuncError.invalidArgument(op, "the SVD algorithm failed to converge on the input\(LAPACK.element(index, of: batch)) (LAPACK info \(info))")
        }
        return result
    }

    // MARK: Unpacking

    /// U [..., m, ku], S [..., k] and Vᵀ [..., kv, n] as views of svd's packed output.
    static func svdParts(_ packed: Value, m: Int, n: Int, job: SVDJob) throws -> (u: Value, s: Value, vh: Value) {
        let (ku, kv) = job.vectorCounts(m: m, n: n), k = Swift.min(m, n)
        let batch = Array(packed.shape.dropLast()), last = packed.rank - 1
        let u = try Ops.reshape(Ops.slice(packed, dim: last, start: 0, stop: m * ku), shape: batch + [m, ku])
        let s = try Ops.slice(packed, dim: last, start: m * ku, stop: m * ku + k)
        let vh = try Ops.reshape(Ops.slice(packed, dim: last, start: m * ku + k, stop: m * ku + k + kv * n), shape: batch + [kv, n])
        return (u, s, vh)
    }

    /// The packed layout of (U, S, Vᵀ) (a tangent or cotangent of svd's output).
    static func svdPack(_ u: Value, _ s: Value, _ vh: Value) throws -> Value {
        let batch = Array(s.shape.dropLast())
        let uCount = u.shape[u.rank - 2] * u.shape[u.rank - 1], vCount = vh.shape[vh.rank - 2] * vh.shape[vh.rank - 1]
        return try Ops.cat([Ops.reshape(u, shape: batch + [uCount]), s, Ops.reshape(vh, shape: batch + [vCount])], dim: s.rank - 1)
    }

    /// U, S, V (not Vᵀ) of the reduced SVD of `a`, for the derivative rules.
    static func reducedFactors(_ a: Value) throws -> (u: Value, s: Value, v: Value) {
        let m = a.shape[a.rank - 2], n = a.shape[a.rank - 1]
        let parts = try svdParts(emit(.svd, [a], .svd(full: false)), m: m, n: n, job: .reduced)
        return (parts.u, parts.s, try transposeLast(parts.vh))
    }

    /// S as a row [..., 1, k] and a column [..., k, 1], to scale a k x k matrix's columns or rows.
    static func rowAndColumn(_ s: Value) throws -> (row: Value, column: Value) {
        let batch = Array(s.shape.dropLast()), k = s.shape[s.rank - 1]
        return (try Ops.reshape(s, shape: batch + [1, k]), try Ops.reshape(s, shape: batch + [k, 1]))
    }

    /// F_ij = 1/(s_j² − s_i²) off the diagonal, 0 on it (the diagonal's zero gaps become ones before
    /// dividing, so no inf appears there): inf where singular values repeat.
    static func squaredGaps(_ s: Value) throws -> Value {
        let (row, column) = try rowAndColumn(s)
        let k = s.shape[s.rank - 1]
        let eye = try identity(k, dtype: s.dtype)
        let safe = try emit(.add, [emit(.sub, [emit(.mul, [row, row]), emit(.mul, [column, column])]), eye])
        let offDiagonal = try emit(.sub, [Differentiation.full(1, shape: [k, k], dtype: s.dtype), eye])
        return try emit(.div, [offDiagonal, safe])
    }

    // MARK: Derivative rules

    /// dS = diag(Uᵀ dA V).
    static func svdvalsJVP(_ primals: [Value], _ tangents: [Value?], _ output: Value, _ params: Params) throws -> Value? {
        guard let tangent = tangents[0] else { return nil }
        let (u, _, v) = try reducedFactors(primals[0])
        let dav = try emit(.matmul, [Differentiation.cast(tangent, to: u.dtype), v])
        return try emit(.sum, [emit(.mul, [u, dav])], .reduction(dims: [u.rank - 2], keepdim: false))
    }

    /// Ā = U diag(S̄) Vᵀ.
    static func svdvalsVJP(_ cotangent: Value, _ primals: [Value], _ output: Value, _ params: Params, _ needed: [Bool]) throws -> [Value?] {
        let (u, _, v) = try reducedFactors(primals[0])
        return [try emit(.matmul, [emit(.mul, [u, rowAndColumn(cotangent).row]), transposeLast(v)])]
    }

    /// Derivatives of full U or Vᵀ of a non-square matrix are not defined by the reduced rule.
    static func checkDifferentiable(_ a: Value, _ params: Params) throws {
        let m = a.shape[a.rank - 2], n = a.shape[a.rank - 1]
        if svdJob(params) == .full && m != n {
            throw SwiftFuncError.unsupported("linalg_svd", "derivatives of U and Vh with full_matrices=True need square matrices (use full_matrices=False)")
        }
    }

    /// JAX's rule, with dP = Uᵀ dA V: dS = diag(dP), dU = U (F ∘ (dP S + S dPᵀ)) + (I − UUᵀ) dA V S⁻¹
    /// (m > k), dV = V (F ∘ (S dP + dPᵀ S)) + (I − VVᵀ) dAᵀ U S⁻¹ (n > k).
    static func svdJVP(_ primals: [Value], _ tangents: [Value?], _ output: Value, _ params: Params) throws -> Value? {
        guard let tangent = tangents[0] else { return nil }
        try checkDifferentiable(primals[0], params)
        let a = primals[0], m = a.shape[a.rank - 2], n = a.shape[a.rank - 1], k = Swift.min(m, n)
        let parts = try svdParts(output, m: m, n: n, job: svdJob(params))
        let (u, s, v) = (parts.u, parts.s, try transposeLast(parts.vh))
        let da = try Differentiation.cast(tangent, to: u.dtype)
        let (row, column) = try rowAndColumn(s)
        let dav = try emit(.matmul, [da, v])
        let dp = try emit(.matmul, [transposeLast(u), dav])
        let ds = try Ops.diagonal(dp, dim1: -2, dim2: -1)
        let f = try squaredGaps(s)
        let dpS = try emit(.mul, [dp, row]), sDp = try emit(.mul, [column, dp])
        var du = try emit(.matmul, [u, emit(.mul, [f, emit(.add, [dpS, transposeLast(dpS)])])])
        var dv = try emit(.matmul, [v, emit(.mul, [f, emit(.add, [sDp, transposeLast(sDp)])])])
        if m > k {
            let rest = try emit(.sub, [dav, emit(.matmul, [u, emit(.matmul, [transposeLast(u), dav])])])
            du = try emit(.add, [du, emit(.div, [rest, row])])
        }
        if n > k {
            let dau = try emit(.matmul, [transposeLast(da), u])
            let rest = try emit(.sub, [dau, emit(.matmul, [v, emit(.matmul, [transposeLast(v), dau])])])
            dv = try emit(.add, [dv, emit(.div, [rest, row])])
        }
        return try svdPack(du, ds, transposeLast(dv))
    }

    /// The adjoint of the JVP: with G = F ∘ (Uᵀ Ū), H = F ∘ (Vᵀ V̄),
    /// Ā = U (diag(S̄) + (G + Gᵀ) S + S (H + Hᵀ)) Vᵀ + (I − UUᵀ) Ū S⁻¹ Vᵀ (m > k) + U S⁻¹ V̄ᵀ (I − VVᵀ) (n > k).
    static func svdVJP(_ cotangent: Value, _ primals: [Value], _ output: Value, _ params: Params, _ needed: [Bool]) throws -> [Value?] {
        try checkDifferentiable(primals[0], params)
        let a = primals[0], m = a.shape[a.rank - 2], n = a.shape[a.rank - 1], k = Swift.min(m, n)
        let job = svdJob(params)
        let parts = try svdParts(output, m: m, n: n, job: job)
        let bars = try svdParts(cotangent, m: m, n: n, job: job)
        let (u, s, v) = (parts.u, parts.s, try transposeLast(parts.vh))
        let (uBar, sBar, vBar) = (bars.u, bars.s, try transposeLast(bars.vh))
        let (row, column) = try rowAndColumn(s)
        let f = try squaredGaps(s)
        let g = try emit(.mul, [f, emit(.matmul, [transposeLast(u), uBar])])
        let h = try emit(.mul, [f, emit(.matmul, [transposeLast(v), vBar])])
        var inner = try Ops.diagEmbed(sBar)
        inner = try emit(.add, [inner, emit(.mul, [emit(.add, [g, transposeLast(g)]), row])])
        inner = try emit(.add, [inner, emit(.mul, [column, emit(.add, [h, transposeLast(h)])])])
        var grad = try emit(.matmul, [emit(.matmul, [u, inner]), transposeLast(v)])
        if m > k {
            let rest = try emit(.sub, [uBar, emit(.matmul, [u, emit(.matmul, [transposeLast(u), uBar])])])
            grad = try emit(.add, [grad, emit(.matmul, [emit(.div, [rest, row]), transposeLast(v)])])
        }
        if n > k {
            let rest = try emit(.sub, [vBar, emit(.matmul, [v, emit(.matmul, [transposeLast(v), vBar])])])
            grad = try emit(.add, [grad, emit(.matmul, [u, transposeLast(emit(.div, [rest, row]))])])
        }
        return [grad]
    }
}

extension Ops {
    /// torch.linalg.svd: U, S (descending) and Vh with A = U diag(S) Vh, from one gesdd per matrix
    /// (the three are views of one packed result). full_matrices gives U m x m and Vh n x n, else
    /// k = min(m, n) columns / rows. Derivatives: see `Linalg`'s svd section.
    public static func svd(_ a: Value, fullMatrices: Bool = true) throws -> (u: Value, s: Value, vh: Value) {
        let (m, n, _) = try Linalg.matrices(a.type, op: "linalg_svd")
        let job: SVDJob = fullMatrices ? .full : .reduced
        return try Linalg.svdParts(emit(.svd, [a], .svd(full: fullMatrices)), m: m, n: n, job: job)
    }

    /// torch.linalg.svdvals: the singular values (descending) alone; gesdd without vectors. The
    /// derivative is always finite.
    public static func svdvals(_ a: Value) throws -> Value {
        try emit(.svdvals, [a])
    }

    /// torch.linalg.pinv: V diag(1/s) Uᵀ over the singular values s > max(atol, rtol · s_max), the
    /// others dropped. rtol nil means torch's default: max(m, n) · eps when atol is nil or 0, else 0.
    /// `hermitian` is accepted for torch's signature; the SVD is used either way.
    public static func pinv(_ a: Value, atol: Double? = nil, rtol: Double? = nil) throws -> Value {
        let op = "linalg_pinv"
        let (m, n, _) = try Linalg.matrices(a.type, op: op)
        for (name, value) in [("atol", atol), ("rtol", rtol)] {
            if let value, !(value >= 0) { throw SwiftFuncError.invalidArgument(op, "\(name) must be non-negative, got \(value)") }
        }
        let eps = a.dtype == .float32 ? Double(Float.ulpOfOne) : Double.ulpOfOne
        let relative = rtol ?? ((atol ?? 0) > 0 ? 0 : Double(Swift.max(m, n)) * eps)
        let (u, s, vh) = try svd(a, fullMatrices: false)
        let k = Swift.min(m, n)
        guard k > 0 else { return try Ops.zeros(shape: Array(a.shape.dropLast(2)) + [n, m], dtype: a.dtype) }
        let largest = try Ops.slice(s, dim: s.rank - 1, start: 0, stop: 1)
        let cutoff = try Ops.maximum(Ops.mul(largest, Ops.scalar(relative)), Ops.scalar(atol ?? 0))
        let kept = try Ops.gt(s, cutoff)
        // 1/s only where kept (1 elsewhere, then zeroed): no inf, and no nan in a derivative.
        let safe = try Ops.where(kept, s, Ops.ones(shape: [], dtype: a.dtype))
        let inverse = try Ops.where(kept, Ops.div(Ops.ones(shape: [], dtype: a.dtype), safe), Ops.zeros(shape: [], dtype: a.dtype))
        let scaled = try Ops.mul(Linalg.transposeLast(vh), Ops.unsqueeze(inverse, dim: inverse.rank - 1))
        return try Ops.matmul(scaled, Linalg.transposeLast(u))
    }
}
