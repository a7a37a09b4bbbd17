import CBLAS
#if canImport(Glibc)
import Glibc
#endif

/// Linear algebra primitives on OpenBLAS's LAPACK (torch.linalg's solve, solve_triangular,
/// cholesky, det/slogdet and eigh). Every primitive takes matrices in its last two dims and any
/// leading batch dims (broadcast between the two operands of a solve); the kernels copy each
/// matrix into a column-major scratch buffer, call LAPACK through `LAPACKScalar` and copy the
/// result out, so any layout is accepted.
///
/// Symmetric inputs (cholesky, eigh) are read from their lower triangle only, as LAPACK and torch
/// do; the derivative rules are exact for that function of the whole matrix, A ↦ f(S(A)) with
/// S(A) = tril(A) + tril(A, -1)ᵀ, so they agree with finite differences along any direction.
enum Linalg {
    static let table: [PrimitiveRules] = [
        PrimitiveRules(.linalgSolve, name: "linalg_solve", type: solveType, eval: solveEval,
                       jvp: solveJVP, vjp: solveVJP, batch: pairBatch(.linalgSolve)),
        PrimitiveRules(.solveTriangular, name: "linalg_solve_triangular", type: solveType, eval: triangularEval,
                       jvp: triangularJVP, vjp: triangularVJP, batch: pairBatch(.solveTriangular)),
        PrimitiveRules(.cholesky, name: "linalg_cholesky", type: squareType("linalg_cholesky"), eval: choleskyEval,
                       jvp: choleskyJVP, vjp: choleskyVJP, batch: matrixBatch(.cholesky)),
        PrimitiveRules(.det, name: "linalg_det", type: determinantType("linalg_det"), eval: determinantEval(.value),
                       jvp: detJVP, vjp: detVJP, batch: matrixBatch(.det)),
        // [..., 2]: the sign (no derivative) and log|det| of each matrix, from one LU.
        PrimitiveRules(.slogdet, name: "linalg_slogdet", type: slogdetType, eval: determinantEval(.signAndLogAbs),
                       jvp: slogdetJVP, vjp: slogdetVJP, batch: matrixBatch(.slogdet)),
        PrimitiveRules(.eigvalsh, name: "linalg_eigvalsh", type: eigenvalueType, eval: eigvalshEval,
                       jvp: eigvalshJVP, vjp: eigvalshVJP, batch: matrixBatch(.eigvalsh)),
        PrimitiveRules(.eigenvectorsh, name: "linalg_eigh", type: squareType("linalg_eigh"), eval: eigenvectorshEval,
                       jvp: eigenvectorshJVP, vjp: eigenvectorshVJP, batch: matrixBatch(.eigenvectorsh)),
        PrimitiveRules(.svdvals, name: "linalg_svdvals", type: svdvalsType, eval: svdvalsEval,
                       jvp: svdvalsJVP, vjp: svdvalsVJP, batch: matrixBatch(.svdvals)),
        // [..., m·ku + k + kv·n]: U, S and Vᵀ of each matrix flattened side by side, from one gesdd.
        PrimitiveRules(.svd, name: "linalg_svd", type: svdType, eval: svdEval,
                       jvp: svdJVP, vjp: svdVJP, batch: matrixBatch(.svd)),
        // [..., m·kq + kr·n]: Q and R of each matrix flattened side by side, from one geqrf + orgqr.
        PrimitiveRules(.qr, name: "linalg_qr", type: qrType, eval: qrEval,
                       jvp: qrJVP, vjp: qrVJP, batch: matrixBatch(.qr)),
        PrimitiveRules(.luFactor, name: "linalg_lu_factor", type: luFactorType, eval: luFactorEval,
                       jvp: luFactorJVP, vjp: luFactorVJP, batch: matrixBatch(.luFactor)),
        // lu_factor's int32 pivots: no tangent, no cotangent.
        PrimitiveRules(.luPivots, name: "linalg_lu_factor_pivots", type: luPivotsType, eval: luFactorEval,
                       jvp: Differentiation.noTangent, vjp: Differentiation.noCotangents, batch: matrixBatch(.luPivots)),
        PrimitiveRules(.luSolve, name: "linalg_lu_solve", type: luSolveType, eval: luSolveEval,
                       jvp: luSolveJVP, vjp: luSolveVJP, batch: luSolveBatch),
    ]

    // MARK: Type rules

    /// The shape of the matrices (last two dims) and of the batch of a square float operand.
    static func squareMatrices(_ a: TensorType, op: String) throws -> (n: Int, batch: [Int]) {
        guard a.dtype.isFloatingPoint else {
            throw SwiftFuncError.dtype(op, "expected a float32 or float64 matrix, got \(a.dtype)")
        }
        guard a.rank >= 2, a.shape[a.rank - 1] == a.shape[a.rank - 2] else {
            throw SwiftFuncError.shape(op, "expected square matrices in the last two dims, got shape \(formatShape(a.shape))")
        }
        let n = a.shape[a.rank - 1]
        try LAPACK.checkSize(n, op: op, shape: a.shape)
        return (n, Array(a.shape.dropLast(2)))
    }

    /// cholesky and the eigenvectors: the input's type.
    static func squareType(_ op: String) -> TypeRule {
        { args, _ in
            _ = try squareMatrices(args[0], op: op)
            return args[0]
        }
    }

    /// det, slogdet: one value per matrix.
    static func determinantType(_ op: String) -> TypeRule {
        { args, _ in TensorType(shape: try squareMatrices(args[0], op: op).batch, dtype: args[0].dtype) }
    }

    /// slogdet: the sign and log|det| of each matrix side by side, [..., 2].
    static func slogdetType(_ args: [TensorType], _ params: Params) throws -> TensorType {
        TensorType(shape: try squareMatrices(args[0], op: "linalg_slogdet").batch + [2], dtype: args[0].dtype)
    }

    /// eigvalsh: n values per matrix.
    static func eigenvalueType(_ args: [TensorType], _ params: Params) throws -> TensorType {
        let (n, batch) = try squareMatrices(args[0], op: "linalg_eigh")
        return TensorType(shape: batch + [n], dtype: args[0].dtype)
    }

    /// solve and solve_triangular: A [..., n, n] and B [..., n, k] of one float dtype, the batch
    /// dims broadcast; X has B's matrices and the broadcast batch.
    static func solveType(_ args: [TensorType], _ params: Params) throws -> TensorType {
        try solveType(args, params, op: opName(params, "linalg_solve"))
    }

    static func solveType(_ args: [TensorType], _ params: Params, op: String) throws -> TensorType {
        guard args.count == 2 else { throw SwiftFuncError.invalidArgument(op, "expects 2 arguments, got \(args.count)") }
        let (a, b) = (args[0], args[1])
        let (n, batchA) = try squareMatrices(a, op: op)
        guard b.rank >= 2, b.shape[b.rank - 2] == n else {
            throw SwiftFuncError.shape(op, "A of shape \(formatShape(a.shape)) and B of shape \(formatShape(b.shape)) are not compatible (B needs \(n) rows)")
        }
        guard a.dtype == b.dtype else {
            throw SwiftFuncError.dtype(op, "A and B must have one dtype, got \(a.dtype) and \(b.dtype)")
        }
        let k = b.shape[b.rank - 1]
        try LAPACK.checkSize(k, op: op, shape: b.shape)
        let batch: [Int]
        do {
            batch = try ShapeChecks.broadcast(batchA, Array(b.shape.dropLast(2)), op: op)
        } catch {
            throw SwiftFuncError.shape(op, "batch dims of shapes \(formatShape(a.shape)) and \(formatShape(b.shape)) cannot be broadcast together")
        }
        let shape = batch + [n, k]
        try ShapeChecks.validate(shape, itemSize: a.dtype.itemSize, op: op)
        return TensorType(shape: shape, dtype: a.dtype)
    }

    /// The op's name in messages: solve_triangular's params distinguish it.
    static func opName(_ params: Params, _ fallback: String) -> String {
        if case .triangular = params { return "linalg_solve_triangular" }
        return fallback
    }

    // MARK: Kernels

    static func solveEval(_ args: [Tensor], _ params: Params, _ type: TensorType) throws -> Tensor {
        try dispatch(type.dtype, "linalg_solve") { (t: any LAPACKScalar.Type) in try solveKernel(t, args[0], args[1], type) }
    }

    static func triangularEval(_ args: [Tensor], _ params: Params, _ type: TensorType) throws -> Tensor {
        guard case let .triangular(upper, unit) = params else {
            throw SwiftFuncError.internal("linalg_solve_triangular", "expected triangular params")
        }
        return try dispatch(type.dtype, "linalg_solve_triangular") { (t: any LAPACKScalar.Type) in
            try triangularKernel(t, args[0], args[1], type, upper: upper, unit: unit)
        }
    }

    static func choleskyEval(_ args: [Tensor], _ params: Params, _ type: TensorType) throws -> Tensor {
        try dispatch(type.dtype, "linalg_cholesky") { (t: any LAPACKScalar.Type) in try choleskyKernel(t, args[0], type) }
    }

    /// The kernel of det, slogdet's logabsdet or its sign: one LU factorization per matrix.
    static func determinantEval(_ part: DeterminantPart) -> EvalRule {
        { args, _, type in
            try dispatch(type.dtype, "linalg_det") { (t: any LAPACKScalar.Type) in try determinantKernel(t, args[0], type, part) }
        }
    }

    static func eigvalshEval(_ args: [Tensor], _ params: Params, _ type: TensorType) throws -> Tensor {
        try dispatch(type.dtype, "linalg_eigh") { (t: any LAPACKScalar.Type) in try eighKernel(t, args[0], type, vectors: false) }
    }

    static func eigenvectorshEval(_ args: [Tensor], _ params: Params, _ type: TensorType) throws -> Tensor {
        try dispatch(type.dtype, "linalg_eigh") { (t: any LAPACKScalar.Type) in try eighKernel(t, args[0], type, vectors: true) }
    }

    static func dispatch(_ dtype: DType, _ op: String, _ body: (any LAPACKScalar.Type) throws -> Tensor) throws -> Tensor {
        switch dtype {
        case .float32: return try body(Float.self)
        case .float64: return try body(Double.self)
        default: throw SwiftFuncError.dtype(op, "expected float32 or float64, got \(dtype)")
        }
    }

    /// X = A⁻¹ B by LU with partial pivoting (getrf, then getrs); an exactly singular matrix is an
    /// error, as in torch. Not gesv, which is the same two steps: OpenBLAS's gesv goes multithreaded
    /// even on small matrices, and called from several threads at once (a batch split below) or on a
    /// busy machine it ran 10-20x slower than getrf + getrs (measured, 2 cores, OpenBLAS 0.3.21).
    static func solveKernel<T: LAPACKScalar>(_: T.Type, _ a: Tensor, _ b: Tensor, _ type: TensorType) throws -> Tensor {
        let op = "linalg_solve"
        let result = try Tensor(uninitialized: type, op: op)
        let n = type.shape[type.rank - 2], k = type.shape[type.rank - 1]
        let batch = Array(type.shape.dropLast(2))
        guard result.count > 0 else { return result }
        let offsetsA = LAPACK.matrixOffsets(a, batch: batch), offsetsB = LAPACK.matrixOffsets(b, batch: batch)
        let infos = LAPACK.forEachMatrix(offsetsA.count, n: n) { range, infos in
            var matrix = [T](repeating: 0, count: n * n), rhs = [T](repeating: 0, count: n * k)
            var pivots = [Int32](repeating: 0, count: n)
            for index in range {
                LAPACK.load(a, at: offsetsA[index], into: &matrix)
                LAPACK.load(b, at: offsetsB[index], into: &rhs)
                let info = T.getrf(n: n, a: &matrix, ipiv: &pivots)
                infos[index] = info
                guard info == 0 else { continue }
                T.getrs(n: n, nrhs: k, a: matrix, ipiv: pivots, b: &rhs)
                LAPACK.store(rhs, into: result, matrix: index, rows: n, cols: k)
            }
        }
        if let (index, info) = try LAPACK.firstFailure(infos, op: op) {
            throw SwiftFuncError.invalidArgument(op, "the matrix\(LAPACK.element(index, of: batch)) is singular: U[\(info - 1), \(info - 1)] of its LU factorization is zero")
        }
        return result
    }

    /// X = T⁻¹ B for the triangle T of A (BLAS trsm: no factorization). A zero on the diagonal
    /// gives inf/nan, as torch.linalg.solve_triangular does, not an error.
    static func triangularKernel<T: LAPACKScalar>(_: T.Type, _ a: Tensor, _ b: Tensor, _ type: TensorType,
                                                  upper: Bool, unit: Bool) throws -> Tensor {
        let result = try Tensor(uninitialized: type, op: "linalg_solve_triangular")
        let n = type.shape[type.rank - 2], k = type.shape[type.rank - 1]
        let batch = Array(type.shape.dropLast(2))
        guard result.count > 0 else { return result }
        let offsetsA = LAPACK.matrixOffsets(a, batch: batch), offsetsB = LAPACK.matrixOffsets(b, batch: batch)
        _ = LAPACK.forEachMatrix(offsetsA.count, n: n) { range, _ in
            var matrix = [T](repeating: 0, count: n * n), rhs = [T](repeating: 0, count: n * k)
            for index in range {
                LAPACK.load(a, at: offsetsA[index], into: &matrix)
                LAPACK.load(b, at: offsetsB[index], into: &rhs)
                T.trsm(upper: upper, unit: unit, n: n, nrhs: k, a: matrix, b: &rhs)
                LAPACK.store(rhs, into: result, matrix: index, rows: n, cols: k)
            }
        }
        return result
    }

    /// L with A = L Lᵀ from A's lower triangle (potrf); a matrix that is not positive-definite is an
    /// error naming the batch element and the leading minor, as torch's.
    static func choleskyKernel<T: LAPACKScalar>(_: T.Type, _ a: Tensor, _ type: TensorType) throws -> Tensor {
        let op = "linalg_cholesky"
        let result = try Tensor(uninitialized: type, op: op)
        let n = type.shape[type.rank - 1]
        let batch = Array(type.shape.dropLast(2))
        guard result.count > 0 else { return result }
        let offsets = LAPACK.matrixOffsets(a, batch: batch)
        let infos = LAPACK.forEachMatrix(offsets.count, n: n) { range, infos in
            var matrix = [T](repeating: 0, count: n * n)
            for index in range {
                LAPACK.load(a, at: offsets[index], into: &matrix)
                infos[index] = T.potrf(n: n, a: &matrix)
                // potrf leaves the strict upper triangle as it was: the result has zeros there.
                for column in 1..<Swift.max(n, 1) {
                    for row in 0..<column { matrix[row + column * n] = 0 }
                }
                LAPACK.store(matrix, into: result, matrix: index, rows: n, cols: n)
            }
        }
        if let (index, info) = try LAPACK.firstFailure(infos, op: op) {
            throw SwiftFuncError.invalidArgument(op, "the input\(LAPACK.element(index, of: batch)) is not positive-definite (the leading minor of order \(info) is not positive-definite)")
        }
        return result
    }

    /// What a determinant primitive returns: det(A), or its sign and log|det(A)| side by side.
    enum DeterminantPart: Sendable {
        case value, signAndLogAbs
    }

    /// Each matrix's determinant from getrf: the product of U's diagonal, negated per row swap. A
    /// singular matrix (info > 0) is not an error: det 0, sign 0, logabsdet -inf, as torch.
    static func determinantKernel<T: LAPACKScalar>(_: T.Type, _ a: Tensor, _ type: TensorType,
                                                   _ part: DeterminantPart) throws -> Tensor {
        let op = "linalg_det"
        let result = try Tensor(uninitialized: type, op: op)
        let n = a.shape[a.rank - 1]
        guard result.count > 0 else { return result }
        let offsets = LAPACK.matrixOffsets(a, batch: Array(a.shape.dropLast(2)))
        let out = result.elements(as: T.self)
        let infos = LAPACK.forEachMatrix(offsets.count, n: n) { range, infos in
            var matrix = [T](repeating: 0, count: n * n)
            var pivots = [Int32](repeating: 0, count: n)
            for index in range {
                LAPACK.load(a, at: offsets[index], into: &matrix)
                let info = T.getrf(n: n, a: &matrix, ipiv: &pivots)
                // Singular (info > 0) is a value, not a failure; only argument errors are reported.
                infos[index] = Swift.min(info, 0)
                // In T's precision, as torch: a float32 product underflows or overflows where it would.
                var value: T = 1, logAbs: T = 0, sign: T = 1
                for i in 0..<n {
                    let u = matrix[i + i * n]
                    value *= u
                    logAbs += T(Glibc.log(Double(Swift.abs(u))))
                    if u < 0 { sign = -sign }
                    if pivots[i] != Int32(i + 1) { sign = -sign; value = -value }
                }
                if info > 0 { (value, sign, logAbs) = (0, 0, -T.infinity) }
                switch part {
                case .value: out[index] = value
                case .signAndLogAbs: (out[2 * index], out[2 * index + 1]) = (sign, logAbs)
                }
            }
        }
        _ = try LAPACK.firstFailure(infos, op: op)
        return result
    }

    /// Eigenvalues (ascending, [..., n]) or eigenvectors (columns, [..., n, n]) of the symmetric
    /// matrices given by A's lower triangle (syevd, divide and conquer).
    static func eighKernel<T: LAPACKScalar>(_: T.Type, _ a: Tensor, _ type: TensorType, vectors: Bool) throws -> Tensor {
        let op = "linalg_eigh"
        let result = try Tensor(uninitialized: type, op: op)
        let n = a.shape[a.rank - 1]
        let batch = Array(a.shape.dropLast(2))
        guard result.count > 0 else { return result }
        let offsets = LAPACK.matrixOffsets(a, batch: batch)
        let sizedWorkspace = try T.syevdWorkspace(n: n, vectors: vectors, op: op)
        let out = result.elements(as: T.self)
        let infos = LAPACK.forEachMatrix(offsets.count, n: n) { range, infos in
            var matrix = [T](repeating: 0, count: n * n), values = [T](repeating: 0, count: n)
            var workspace = sizedWorkspace  // each thread's own copy (written on first use)
            for index in range {
                LAPACK.load(a, at: offsets[index], into: &matrix)
                infos[index] = T.syevd(vectors: vectors, n: n, a: &matrix, w: &values, workspace: &workspace)
                if vectors {
                    LAPACK.store(matrix, into: result, matrix: index, rows: n, cols: n)
                } else {
                    for i in 0..<n { out[index * n + i] = values[i] }
                }
            }
        }
        if let (index, info) = try LAPACK.firstFailure(infos, op: op) {
            throw SwiftFuncError.invalidArgument(op, "the eigenvalue algorithm failed to converge on the input\(LAPACK.element(index, of: batch)) (LAPACK info \(info))")
        }
        return result
    }

    // MARK: Batching rules

    /// Rule for one-operand primitives on the last two dims (any leading dims are a batch): the
    /// batch dim goes in front. The example's type is checked first: a batch of vectors must fail as
    /// one vector would, not pass as a matrix.
    static func matrixBatch(_ primitive: Primitive) -> BatchRule {
        { args, dims, _, params in
            guard let dim = dims[0] else { return (try emit(primitive, args, params), nil) }
            _ = try Primitive.rules[primitive.rawValue].type([Contraction.exampleType(args[0], dim)], params)
            let front = try Batching.moveDim(args[0], from: dim, to: 0)
            return (try emit(primitive, [front], params), 0)
        }
    }

    /// Rule for the solves: a batched operand gets its batch dim in front, followed by size-1 dims
    /// so that the per-example batch dims still broadcast from the right; an unbatched operand
    /// broadcasts as it is (never copied per example).
    static func pairBatch(_ primitive: Primitive) -> BatchRule {
        { args, dims, _, params in
            // Per-example types first: the alignment below relies on ranks >= 2.
            _ = try solveType(zip(args, dims).map { Contraction.exampleType($0, $1) }, params)
            var exampleBatchRank = 0
            for (arg, dim) in zip(args, dims) { exampleBatchRank = Swift.max(exampleBatchRank, arg.rank - (dim == nil ? 2 : 3)) }
            let aligned = try zip(args, dims).map { arg, dim -> Value in
                guard let dim else { return arg }
                let front = try Batching.moveDim(arg, from: dim, to: 0)
                let missing = exampleBatchRank - (arg.rank - 3)
                guard missing > 0 else { return front }
                var shape = front.shape
                shape.insert(contentsOf: [Int](repeating: 1, count: missing), at: 1)
                return try emit(.reshape, [front], .shape(shape))
            }
            return (try emit(primitive, aligned, params), 0)
        }
    }

    // MARK: Derivative rules (written with emit: themselves differentiable and batchable)

    /// dX = A⁻¹ (dB − dA X).
    static func solveJVP(_ primals: [Value], _ tangents: [Value?], _ output: Value, _ params: Params) throws -> Value? {
        guard let rhs = try solveTangentRHS(primals, tangents, output, params) else { return nil }
        return try emit(.linalgSolve, [primals[0], rhs])
    }

    /// B̄ = A⁻ᵀ X̄, Ā = −B̄ Xᵀ (each summed over the batch dims its operand was broadcast along).
    static func solveVJP(_ cotangent: Value, _ primals: [Value], _ output: Value, _ params: Params, _ needed: [Bool]) throws -> [Value?] {
        let gradB = try emit(.linalgSolve, [transposeLast(primals[0]), cotangent])
        return try solveCotangents(gradB, primals, output, needed, mask: { $0 })
    }

    /// dX = T⁻¹ (dB − T(dA) X) with T(dA) the triangle the kernel reads (strict when unit).
    static func triangularJVP(_ primals: [Value], _ tangents: [Value?], _ output: Value, _ params: Params) throws -> Value? {
        guard case let .triangular(upper, unit) = params else { return nil }
        let masked = try tangents[0].map { try triangle($0, lower: !upper, strict: unit) }
        guard let rhs = try solveTangentRHS(primals, [masked, tangents[1]], output, params) else { return nil }
        return try emit(.solveTriangular, [primals[0], rhs], params)
    }

    /// B̄ = T⁻ᵀ X̄ (Tᵀ has the other triangle), Ā = −T(B̄ Xᵀ).
    static func triangularVJP(_ cotangent: Value, _ primals: [Value], _ output: Value, _ params: Params, _ needed: [Bool]) throws -> [Value?] {
        guard case let .triangular(upper, unit) = params else { return [nil, nil] }
        let gradB = try emit(.solveTriangular, [transposeLast(primals[0]), cotangent], .triangular(upper: !upper, unit: unit))
        return try solveCotangents(gradB, primals, output, needed, mask: { try triangle($0, lower: !upper, strict: unit) })
    }

    /// dB − dA X for the solves (nil when neither operand has a tangent), in the output's dtype.
    static func solveTangentRHS(_ primals: [Value], _ tangents: [Value?], _ output: Value, _ params: Params) throws -> Value? {
        var rhs: Value?
        if let tb = tangents[1] { rhs = try Differentiation.cast(tb, to: output.dtype) }
        if let ta = tangents[0] {
            let term = try emit(.matmul, [Differentiation.cast(ta, to: output.dtype), output])
            rhs = try rhs.map { try emit(.sub, [$0, term]) } ?? emit(.neg, [term])
        }
        // dB alone may lack the broadcast batch dims of X: the solve broadcasts it with A.
        return rhs
    }

    /// The operands' cotangents from B̄ (the full batch): B̄ and −mask(B̄ Xᵀ), unbroadcast.
    static func solveCotangents(_ gradB: Value, _ primals: [Value], _ output: Value, _ needed: [Bool],
                                mask: (Value) throws -> Value) throws -> [Value?] {
        let gradA = needed[0] ? try Differentiation.unbroadcast(mask(emit(.neg, [emit(.matmul, [gradB, transposeLast(output)])])),
                                                                to: primals[0].shape) : nil
        let gradBUnbroadcast = needed[1] ? try Differentiation.unbroadcast(gradB, to: primals[1].shape) : nil
        return [gradA, gradBUnbroadcast]
    }

    /// dL = L Φ(L⁻¹ S(dA) L⁻ᵀ), Φ = the lower triangle with the diagonal halved.
    static func choleskyJVP(_ primals: [Value], _ tangents: [Value?], _ output: Value, _ params: Params) throws -> Value? {
        guard let tangent = tangents[0] else { return nil }
        let l = output
        let lower = Params.triangular(upper: false, unit: false)
        let ds = try symmetrizeLower(Differentiation.cast(tangent, to: l.dtype))
        let left = try emit(.solveTriangular, [l, ds], lower)                    // L⁻¹ dS
        let both = try emit(.solveTriangular, [l, transposeLast(left)], lower)   // L⁻¹ dS L⁻ᵀ (dS symmetric)
        return try emit(.matmul, [l, phi(both)])
    }

    /// Ā = Sᵀ(G), G = L⁻ᵀ Φ(Lᵀ L̄) L⁻¹: the adjoint of the JVP (Φ is its own adjoint).
    static func choleskyVJP(_ cotangent: Value, _ primals: [Value], _ output: Value, _ params: Params, _ needed: [Bool]) throws -> [Value?] {
        let lt = try transposeLast(output)
        let upper = Params.triangular(upper: true, unit: false)
        let p = try phi(emit(.matmul, [lt, cotangent]))
        let w = try emit(.solveTriangular, [lt, p], upper)                        // L⁻ᵀ P
        let g = try transposeLast(emit(.solveTriangular, [lt, transposeLast(w)], upper))  // W L⁻¹
        return [try symmetrizeLowerAdjoint(g)]
    }

    /// d det = det · tr(A⁻¹ dA).
    static func detJVP(_ primals: [Value], _ tangents: [Value?], _ output: Value, _ params: Params) throws -> Value? {
        guard let tangent = tangents[0] else { return nil }
        return try emit(.mul, [output, logAbsDetChange(primals[0], tangent)])
    }

    /// Ā = det̄ · det · A⁻ᵀ (needs an invertible A: the solve fails on a singular one).
    static func detVJP(_ cotangent: Value, _ primals: [Value], _ output: Value, _ params: Params, _ needed: [Bool]) throws -> [Value?] {
        [try logAbsDetCotangent(emit(.mul, [cotangent, output]), primals[0])]
    }

    /// (0, d log|det A|) per matrix: the sign has no tangent.
    static func slogdetJVP(_ primals: [Value], _ tangents: [Value?], _ output: Value, _ params: Params) throws -> Value? {
        guard let tangent = tangents[0] else { return nil }
        let change = try logAbsDetChange(primals[0], tangent)
        let column = try emit(.reshape, [change], .shape(change.shape + [1]))
        return try emit(.cat, [Differentiation.zeros(like: column), column], .dim(change.rank))
    }

    /// Ā from the cotangent of log|det| (the sign's is ignored).
    static func slogdetVJP(_ cotangent: Value, _ primals: [Value], _ output: Value, _ params: Params, _ needed: [Bool]) throws -> [Value?] {
        [try logAbsDetCotangent(Batching.select(cotangent, dim: cotangent.rank - 1, index: 1), primals[0])]
    }

    /// d log|det A| = tr(A⁻¹ dA).
    static func logAbsDetChange(_ a: Value, _ tangent: Value) throws -> Value {
        try trace(emit(.linalgSolve, [a, Differentiation.cast(tangent, to: a.dtype)]))
    }

    /// Ā = ḡ A⁻ᵀ (ḡ per matrix), A⁻ᵀ as the solve Aᵀ X = I.
    static func logAbsDetCotangent(_ cotangent: Value, _ a: Value) throws -> Value {
        let n = a.shape[a.rank - 1]
        let inverseT = try emit(.linalgSolve, [transposeLast(a), identity(n, dtype: a.dtype)])
        return try emit(.mul, [inverseT, emit(.reshape, [cotangent], .shape(cotangent.shape + [1, 1]))])
    }

    /// dλᵢ = vᵢᵀ S(dA) vᵢ.
    static func eigvalshJVP(_ primals: [Value], _ tangents: [Value?], _ output: Value, _ params: Params) throws -> Value? {
        guard let tangent = tangents[0] else { return nil }
        let v = try emit(.eigenvectorsh, [primals[0]])
        let ds = try symmetrizeLower(Differentiation.cast(tangent, to: v.dtype))
        return try emit(.sum, [emit(.mul, [v, emit(.matmul, [ds, v])])], .reduction(dims: [v.rank - 2], keepdim: false))
    }

    /// Ā = Sᵀ(V diag(λ̄) Vᵀ).
    static func eigvalshVJP(_ cotangent: Value, _ primals: [Value], _ output: Value, _ params: Params, _ needed: [Bool]) throws -> [Value?] {
        let v = try emit(.eigenvectorsh, [primals[0]])
        let scaled = try emit(.mul, [v, emit(.reshape, [cotangent], .shape(Array(cotangent.shape.dropLast()) + [1, cotangent.shape.last!]))])
        return [try symmetrizeLowerAdjoint(emit(.matmul, [scaled, transposeLast(v)]))]
    }

    /// dV = V (F ∘ (Vᵀ S(dA) V)), F_ij = 1/(λⱼ − λᵢ) off the diagonal and 0 on it: finite only
    /// while the eigenvalues are distinct (as torch and JAX; repeated eigenvalues give inf/nan).
    static func eigenvectorshJVP(_ primals: [Value], _ tangents: [Value?], _ output: Value, _ params: Params) throws -> Value? {
        guard let tangent = tangents[0] else { return nil }
        let v = output
        let ds = try symmetrizeLower(Differentiation.cast(tangent, to: v.dtype))
        let rotated = try emit(.matmul, [transposeLast(v), emit(.matmul, [ds, v])])
        return try emit(.matmul, [v, emit(.mul, [gaps(primals[0]), rotated])])
    }

    /// Ā = Sᵀ(V (F ∘ (Vᵀ V̄)) Vᵀ).
    static func eigenvectorshVJP(_ cotangent: Value, _ primals: [Value], _ output: Value, _ params: Params, _ needed: [Bool]) throws -> [Value?] {
        let v = output
        let inner = try emit(.mul, [gaps(primals[0]), emit(.matmul, [transposeLast(v), cotangent])])
        return [try symmetrizeLowerAdjoint(emit(.matmul, [emit(.matmul, [v, inner]), transposeLast(v)]))]
    }

    // MARK: Rule helpers

    static func transposeLast(_ value: Value) throws -> Value { try Contraction.transposeLast(value) }

    /// F_ij = 1/(λⱼ − λᵢ) for i ≠ j, 0 on the diagonal. The diagonal's zero gaps are replaced by
    /// ones before dividing, so that no inf (and no nan in a derivative of F) appears there.
    static func gaps(_ a: Value) throws -> Value {
        let values = try emit(.eigvalsh, [a])
        let n = values.shape[values.rank - 1]
        let batch = Array(values.shape.dropLast())
        let columns = try emit(.reshape, [values], .shape(batch + [1, n]))
        let rows = try emit(.reshape, [values], .shape(batch + [n, 1]))
        let eye = try identity(n, dtype: a.dtype)
        let safe = try emit(.add, [emit(.sub, [columns, rows]), eye])
        let offDiagonal = try emit(.sub, [Differentiation.full(1, shape: [n, n], dtype: a.dtype), eye])
        return try emit(.div, [offDiagonal, safe])
    }

    static func identity(_ n: Int, dtype: DType) throws -> Value {
        try emit(.eye, [], .eye(rows: n, columns: n, offset: 0, dtype: dtype))
    }

    /// The sum of the diagonal of each matrix.
    static func trace(_ x: Value) throws -> Value {
        let n = x.shape[x.rank - 1]
        return try emit(.sum, [emit(.mul, [x, identity(n, dtype: x.dtype)])], .reduction(dims: [x.rank - 2, x.rank - 1], keepdim: false))
    }

    /// The lower (or upper) triangle of x's matrices, with or without the diagonal (Ops.tril/triu).
    static func triangle(_ x: Value, lower: Bool, strict: Bool) throws -> Value {
        lower ? try Ops.tril(x, diagonal: strict ? -1 : 0) : try Ops.triu(x, diagonal: strict ? 1 : 0)
    }

    /// S(x) = tril(x) + tril(x, -1)ᵀ: the symmetric matrix the kernels see in x's lower triangle.
    static func symmetrizeLower(_ x: Value) throws -> Value {
        try emit(.add, [triangle(x, lower: true, strict: false), transposeLast(triangle(x, lower: true, strict: true))])
    }

    /// The adjoint of S: Sᵀ(g) = tril(g) + tril(gᵀ, -1).
    static func symmetrizeLowerAdjoint(_ g: Value) throws -> Value {
        try emit(.add, [triangle(g, lower: true, strict: false), triangle(transposeLast(g), lower: true, strict: true)])
    }

    /// Φ(x): the lower triangle of x with its diagonal halved.
    static func phi(_ x: Value) throws -> Value {
        let n = x.shape[x.rank - 1]
        let halfDiagonal = try emit(.mul, [x, emit(.mul, [identity(n, dtype: x.dtype), Differentiation.full(0.5, shape: [], dtype: x.dtype)])])
        return try emit(.sub, [triangle(x, lower: true, strict: false), halfDiagonal])
    }
}

// MARK: LAPACK at one place

/// Sizes, layout and errors of the LAPACK calls: every size is checked against LAPACK's 32-bit
/// integer by the type rules (SF_ERR_SHAPE beyond it), matrices are copied to and from
/// column-major scratch here, and `info` becomes a status here or in the kernel that knows what a
/// positive value means.
enum LAPACK {
    /// SF_ERR_SHAPE when a matrix dim does not fit LAPACK's integer (lda and workspace sizes are
    /// products of it and are checked where they are formed).
    static func checkSize(_ n: Int, op: String, shape: [Int]) throws {
        guard n <= Int(Int32.max) else {
            throw SwiftFuncError.shape(op, "the matrices of shape \(formatShape(shape)) exceed LAPACK's 32-bit sizes")
        }
    }

    /// A negative info names a bad argument: the kernels never pass one, so it is an internal error.
    static func checkArguments(_ info: Int32, op: String) throws {
        guard info >= 0 else { throw SwiftFuncError.internal(op, "LAPACK rejected argument \(-info)") }
    }

    /// Runs `body` over the `count` matrices of a batch, which records each matrix's `info` in the
    /// buffer it is given, and returns the infos. Only batches of small matrices (fewer than 10000
    /// elements, at least ~32K multiply-adds per piece) are split over the library's threads, each
    /// making its LAPACK calls on one OpenBLAS thread: a large matrix is worth OpenBLAS's own
    /// threads, and splitting those batches too would run both pools at once. Each matrix is
    /// computed by one thread in a fixed order: results do not depend on the thread count.
    static func forEachMatrix(_ count: Int, n: Int, _ body: (Range<Int>, UnsafeMutableBufferPointer<Int32>) -> Void) -> [Int32] {
        var infos = [Int32](repeating: 0, count: count)
        infos.withUnsafeMutableBufferPointer { buffer in
            guard n * n < 10_000 else { return body(0..<count, buffer) }
            Parallel.run(count, grain: Swift.max(1, (1 << 15) / Swift.max(1, n * n * n))) { range in
                Parallel.withSingleThreadedBLAS { body(range, buffer) }
            }
        }
        return infos
    }

    /// The first matrix whose info is positive, with that info (the kernel says what it means);
    /// a negative info is an internal error.
    static func firstFailure(_ infos: [Int32], op: String) throws -> (index: Int, info: Int32)? {
        guard let index = infos.firstIndex(where: { $0 != 0 }) else { return nil }
        try checkArguments(infos[index], op: op)
        return (index, infos[index])
    }

    /// " (batch element [i, j])" for a matrix of a batch, "" for a single matrix.
    static func element(_ index: Int, of batch: [Int]) -> String {
        guard !batch.isEmpty else { return "" }
        var rest = index, position = [Int](repeating: 0, count: batch.count)
        for d in stride(from: batch.count - 1, through: 0, by: -1) {
            position[d] = rest % batch[d]
            rest /= batch[d]
        }
        return " (batch element \(formatShape(position)))"
    }

    /// The element offset of each matrix of `tensor` (its batch dims broadcast to `batch`), in
    /// row-major batch order; `trailing: 1` for a batch of vectors (lu_solve's pivots).
    static func matrixOffsets(_ tensor: Tensor, batch: [Int], trailing: Int = 2) -> [Int] {
        let own = Array(tensor.shape.dropLast(trailing)), ownStrides = Array(tensor.strides.dropLast(trailing))
        let strides = ShapeChecks.broadcastStrides(shape: own, strides: ownStrides, to: batch)
        let count = batch.reduce(1, *)
        var offsets = [Int](repeating: 0, count: count)
        var index = [Int](repeating: 0, count: batch.count), offset = 0
        for i in 0..<count {
            offsets[i] = offset
            var d = batch.count - 1
            while d >= 0 {
                index[d] += 1
                offset += strides[d]
                if index[d] < batch[d] { break }
                offset -= strides[d] * batch[d]
                index[d] = 0
                d -= 1
            }
        }
        return offsets
    }

    /// Copies the matrix at `offset` of `tensor` (any strides) into column-major `buffer`.
    static func load<T>(_ tensor: Tensor, at offset: Int, into buffer: inout [T]) {
        let rows = tensor.shape[tensor.rank - 2], cols = tensor.shape[tensor.rank - 1]
        let rowStride = tensor.strides[tensor.rank - 2], colStride = tensor.strides[tensor.rank - 1]
        let base = tensor.elements(as: T.self) + offset
        buffer.withUnsafeMutableBufferPointer { out in
            for j in 0..<cols {
                let column = base + j * colStride
                for i in 0..<rows { out[i + j * rows] = column[i * rowStride] }
            }
        }
    }

    /// Writes column-major `buffer` as matrix `index` of the contiguous `result`.
    static func store<T>(_ buffer: [T], into result: Tensor, matrix index: Int, rows: Int, cols: Int) {
        let out = result.elements(as: T.self) + index * rows * cols
        buffer.withUnsafeBufferPointer { source in
            for i in 0..<rows {
                for j in 0..<cols { out[i * cols + j] = source[i + j * rows] }
            }
        }
    }
}

/// The float types LAPACK factorizes (column-major, sizes already checked to fit Int32).
protocol LAPACKScalar: GEMMScalar {
    /// Solves A X = B in place (B becomes X) from getrf's LU factors of A and pivots (it fails only
    /// on bad arguments, which the kernels never pass).
    static func getrs(n: Int, nrhs: Int, a: [Self], ipiv: [Int32], b: inout [Self])
    /// LU factorization with partial pivoting in place; returns info.
    static func getrf(n: Int, a: inout [Self], ipiv: inout [Int32]) -> Int32
    /// Cholesky factor L of the lower triangle in place; returns info.
    static func potrf(n: Int, a: inout [Self]) -> Int32
    /// B ← T⁻¹ B for the upper or lower triangle T of A (BLAS trsm).
    static func trsm(upper: Bool, unit: Bool, n: Int, nrhs: Int, a: [Self], b: inout [Self])
    /// The workspace syevd asks for (a workspace query), allocated.
    static func syevdWorkspace(n: Int, vectors: Bool, op: String) throws -> SyevdWorkspace<Self>
    /// Eigenvalues into w (and eigenvectors into a) of the lower triangle of A; returns info.
    static func syevd(vectors: Bool, n: Int, a: inout [Self], w: inout [Self], workspace: inout SyevdWorkspace<Self>) -> Int32
    /// gesdd's work array for m x n matrices (a workspace query), allocated, with its iwork.
    static func gesddWorkspace(_ job: SVDJob, m: Int, n: Int, op: String) throws -> SyevdWorkspace<Self>
    /// Singular values into s (descending) and, per `job`, U (m x ku) and Vᵀ (kv x n) of the m x n
    /// matrix a (destroyed); returns info.
    static func gesdd(_ job: SVDJob, m: Int, n: Int, a: inout [Self], s: inout [Self], u: inout [Self], vt: inout [Self],
                      workspace: inout SyevdWorkspace<Self>) -> Int32
    /// The work array geqrf and then orgqr (making `columns` columns of Q) need for m x n matrices.
    static func qrWorkspace(m: Int, n: Int, columns: Int, op: String) throws -> [Self]
    /// Householder QR of the m x n matrix a in place (R above the diagonal, reflectors below, tau).
    static func geqrf(m: Int, n: Int, a: inout [Self], tau: inout [Self], work: inout [Self]) -> Int32
    /// The first `columns` columns of Q from geqrf's reflectors in a (m x columns, lda m) and tau.
    static func orgqr(m: Int, columns: Int, k: Int, a: inout [Self], tau: [Self], work: inout [Self]) -> Int32
    /// Solves A X = B (or Aᵀ X = B) in place from getrf's factors; returns info.
    static func getrs(transpose: Bool, n: Int, nrhs: Int, a: [Self], ipiv: [Int32], b: inout [Self]) -> Int32
    /// LU factorization of an m x n matrix in place (ipiv holds min(m, n) pivots); returns info.
    static func getrf(m: Int, n: Int, a: inout [Self], ipiv: inout [Int32]) -> Int32
}

/// What gesdd computes: the singular values only, or with the reduced (k = min(m, n) columns of U,
/// rows of Vᵀ) or full (m and n) singular vectors.
enum SVDJob: Sendable {
    case valuesOnly, reduced, full

    var code: String { self == .valuesOnly ? "N" : self == .reduced ? "S" : "A" }

    /// U's columns and Vᵀ's rows for m x n matrices (0 when not computed).
    func vectorCounts(m: Int, n: Int) -> (ku: Int, kv: Int) {
        switch self {
        case .valuesOnly: return (0, 0)
        case .reduced: return (Swift.min(m, n), Swift.min(m, n))
        case .full: return (m, n)
        }
    }

    /// gesdd's leading dimensions: at least 1 even where nothing is written.
    func leadingDims(m: Int, n: Int) -> (ldu: Int32, ldvt: Int32) {
        let (_, kv) = vectorCounts(m: m, n: n)
        return (Int32(self == .valuesOnly ? 1 : Swift.max(1, m)), Int32(Swift.max(1, kv)))
    }
}

/// syevd's work arrays, sized once per kernel call by a workspace query.
struct SyevdWorkspace<T> {
    var work: [T]
    var iwork: [Int32]
}

extension LAPACKScalar {
    /// The sizes from a workspace query, checked to fit LAPACK's integer.
    static func workspaceSizes(_ work: Double, _ iwork: Int32, n: Int, op: String) throws -> (Int, Int) {
        guard work.isFinite, work < Double(Int32.max) else {
            throw SwiftFuncError.shape(op, "the workspace for \(n)x\(n) matrices exceeds LAPACK's 32-bit sizes")
        }
        return (Swift.max(1, Int(work.rounded(.up))), Swift.max(1, Int(iwork)))
    }
}

extension Float: LAPACKScalar {
    static func qrWorkspace(m: Int, n: Int, columns: Int, op: String) throws -> [Float] {
        var m32 = Int32(m), n32 = Int32(n), c32 = Int32(columns), k32 = Int32(Swift.min(m, n))
        var lda = Int32(Swift.max(1, m)), query: Int32 = -1, info: Int32 = 0
        var first: Float = 0, second: Float = 0, a: Float = 0, tau: Float = 0
        sgeqrf_(&m32, &n32, &a, &lda, &tau, &first, &query, &info)
        try LAPACK.checkArguments(info, op: op)
        if columns > 0 {
            sorgqr_(&m32, &c32, &k32, &a, &lda, &tau, &second, &query, &info)
            try LAPACK.checkArguments(info, op: op)
        }
        let (lwork, _) = try workspaceSizes(Double(Swift.max(first, second)), 1, n: Swift.max(m, n), op: op)
        return [Float](repeating: 0, count: lwork)
    }

    static func geqrf(m: Int, n: Int, a: inout [Float], tau: inout [Float], work: inout [Float]) -> Int32 {
        var m32 = Int32(m), n32 = Int32(n), lda = Int32(Swift.max(1, m)), lwork = Int32(work.count), info: Int32 = 0
        Parallel.withBLASThreads { sgeqrf_(&m32, &n32, &a, &lda, &tau, &work, &lwork, &info) }
        return info
    }

    static func orgqr(m: Int, columns: Int, k: Int, a: inout [Float], tau: [Float], work: inout [Float]) -> Int32 {
        var m32 = Int32(m), c32 = Int32(columns), k32 = Int32(k), lda = Int32(Swift.max(1, m))
        var lwork = Int32(work.count), info: Int32 = 0
        Parallel.withBLASThreads { sorgqr_(&m32, &c32, &k32, &a, &lda, tau, &work, &lwork, &info) }
        return info
    }

    static func getrs(transpose: Bool, n: Int, nrhs: Int, a: [Float], ipiv: [Int32], b: inout [Float]) -> Int32 {
        var n32 = Int32(n), k32 = Int32(nrhs), lda = Int32(Swift.max(1, n)), ldb = lda, info: Int32 = 0
        Parallel.withBLASThreads { sgetrs_(transpose ? "T" : "N", &n32, &k32, a, &lda, ipiv, &b, &ldb, &info, 1) }
        return info
    }

    static func getrf(m: Int, n: Int, a: inout [Float], ipiv: inout [Int32]) -> Int32 {
        var m32 = Int32(m), n32 = Int32(n), lda = Int32(Swift.max(1, m)), info: Int32 = 0
        Parallel.withBLASThreads { sgetrf_(&m32, &n32, &a, &lda, &ipiv, &info) }
        return info
    }

    static func gesddWorkspace(_ job: SVDJob, m: Int, n: Int, op: String) throws -> SyevdWorkspace<Float> {
        var m32 = Int32(m), n32 = Int32(n), lda = Int32(Swift.max(1, m)), query: Int32 = -1, info: Int32 = 0
        var (ldu, ldvt) = job.leadingDims(m: m, n: n)
        var work: Float = 0, a: Float = 0, s: Float = 0, u: Float = 0, vt: Float = 0, iwork: Int32 = 0
        sgesdd_(job.code, &m32, &n32, &a, &lda, &s, &u, &ldu, &vt, &ldvt, &work, &query, &iwork, &info, 1)
        try LAPACK.checkArguments(info, op: op)
        // iwork is 8 min(m, n) (no query for it); the sizes were checked to fit Int32.
        let (lwork, liwork) = try workspaceSizes(Double(work), Int32(clamping: 8 * Swift.min(m, n)), n: Swift.max(m, n), op: op)
        return SyevdWorkspace(work: [Float](repeating: 0, count: lwork), iwork: [Int32](repeating: 0, count: liwork))
    }

    static func gesdd(_ job: SVDJob, m: Int, n: Int, a: inout [Float], s: inout [Float], u: inout [Float], vt: inout [Float],
                      workspace: inout SyevdWorkspace<Float>) -> Int32 {
        var m32 = Int32(m), n32 = Int32(n), lda = Int32(Swift.max(1, m)), info: Int32 = 0
        var (ldu, ldvt) = job.leadingDims(m: m, n: n)
        var lwork = Int32(workspace.work.count)
        Parallel.withBLASThreads { sgesdd_(job.code, &m32, &n32, &a, &lda, &s, &u, &ldu, &vt, &ldvt, &workspace.work, &lwork, &workspace.iwork, &info, 1) }
        return info
    }

    static func getrs(n: Int, nrhs: Int, a: [Float], ipiv: [Int32], b: inout [Float]) {
        var n32 = Int32(n), k32 = Int32(nrhs), lda = Int32(Swift.max(1, n)), ldb = lda, info: Int32 = 0
        Parallel.withBLASThreads { sgetrs_("N", &n32, &k32, a, &lda, ipiv, &b, &ldb, &info, 1) }
    }

    static func getrf(n: Int, a: inout [Float], ipiv: inout [Int32]) -> Int32 {
        var n32 = Int32(n), lda = Int32(Swift.max(1, n)), info: Int32 = 0
        var m32 = n32
        Parallel.withBLASThreads { sgetrf_(&m32, &n32, &a, &lda, &ipiv, &info) }
        return info
    }

    static func potrf(n: Int, a: inout [Float]) -> Int32 {
        var n32 = Int32(n), lda = Int32(Swift.max(1, n)), info: Int32 = 0
        Parallel.withBLASThreads { spotrf_("L", &n32, &a, &lda, &info, 1) }
        return info
    }

    static func trsm(upper: Bool, unit: Bool, n: Int, nrhs: Int, a: [Float], b: inout [Float]) {
        let lda = Int32(Swift.max(1, n))
        Parallel.withBLASThreads {
            cblas_strsm(CblasColMajor, CblasLeft, upper ? CblasUpper : CblasLower, CblasNoTrans, unit ? CblasUnit : CblasNonUnit,
                        Int32(n), Int32(nrhs), 1, a, lda, &b, lda)
        }
    }

    static func syevdWorkspace(n: Int, vectors: Bool, op: String) throws -> SyevdWorkspace<Float> {
        var n32 = Int32(n), lda = Int32(Swift.max(1, n)), query: Int32 = -1, info: Int32 = 0
        var work: Float = 0, iwork: Int32 = 0, a: Float = 0, w: Float = 0
        var iquery: Int32 = -1
        ssyevd_(vectors ? "V" : "N", "L", &n32, &a, &lda, &w, &work, &query, &iwork, &iquery, &info, 1, 1)
        try LAPACK.checkArguments(info, op: op)
        let (lwork, liwork) = try workspaceSizes(Double(work), iwork, n: n, op: op)
        return SyevdWorkspace(work: [Float](repeating: 0, count: lwork), iwork: [Int32](repeating: 0, count: liwork))
    }

    static func syevd(vectors: Bool, n: Int, a: inout [Float], w: inout [Float], workspace: inout SyevdWorkspace<Float>) -> Int32 {
        var n32 = Int32(n), lda = Int32(Swift.max(1, n)), info: Int32 = 0
        var lwork = Int32(workspace.work.count), liwork = Int32(workspace.iwork.count)
        Parallel.withBLASThreads { ssyevd_(vectors ? "V" : "N", "L", &n32, &a, &lda, &w, &workspace.work, &lwork, &workspace.iwork, &liwork, &info, 1, 1) }
        return info
    }
}

extension Double: LAPACKScalar {
    static func qrWorkspace(m: Int, n: Int, columns: Int, op: String) throws -> [Double] {
        var m32 = Int32(m), n32 = Int32(n), c32 = Int32(columns), k32 = Int32(Swift.min(m, n))
        var lda = Int32(Swift.max(1, m)), query: Int32 = -1, info: Int32 = 0
        var first: Double = 0, second: Double = 0, a: Double = 0, tau: Double = 0
        dgeqrf_(&m32, &n32, &a, &lda, &tau, &first, &query, &info)
        try LAPACK.checkArguments(info, op: op)
        if columns > 0 {
            dorgqr_(&m32, &c32, &k32, &a, &lda, &tau, &second, &query, &info)
            try LAPACK.checkArguments(info, op: op)
        }
        let (lwork, _) = try workspaceSizes(Double(Swift.max(first, second)), 1, n: Swift.max(m, n), op: op)
        return [Double](repeating: 0, count: lwork)
    }

    static func geqrf(m: Int, n: Int, a: inout [Double], tau: inout [Double], work: inout [Double]) -> Int32 {
        var m32 = Int32(m), n32 = Int32(n), lda = Int32(Swift.max(1, m)), lwork = Int32(work.count), info: Int32 = 0
        Parallel.withBLASThreads { dgeqrf_(&m32, &n32, &a, &lda, &tau, &work, &lwork, &info) }
        return info
    }

    static func orgqr(m: Int, columns: Int, k: Int, a: inout [Double], tau: [Double], work: inout [Double]) -> Int32 {
        var m32 = Int32(m), c32 = Int32(columns), k32 = Int32(k), lda = Int32(Swift.max(1, m))
        var lwork = Int32(work.count), info: Int32 = 0
        Parallel.withBLASThreads { dorgqr_(&m32, &c32, &k32, &a, &lda, tau, &work, &lwork, &info) }
        return info
    }

    static func getrs(transpose: Bool, n: Int, nrhs: Int, a: [Double], ipiv: [Int32], b: inout [Double]) -> Int32 {
        var n32 = Int32(n), k32 = Int32(nrhs), lda = Int32(Swift.max(1, n)), ldb = lda, info: Int32 = 0
        Parallel.withBLASThreads { dgetrs_(transpose ? "T" : "N", &n32, &k32, a, &lda, ipiv, &b, &ldb, &info, 1) }
        return info
    }

    static func getrf(m: Int, n: Int, a: inout [Double], ipiv: inout [Int32]) -> Int32 {
        var m32 = Int32(m), n32 = Int32(n), lda = Int32(Swift.max(1, m)), info: Int32 = 0
        Parallel.withBLASThreads { dgetrf_(&m32, &n32, &a, &lda, &ipiv, &info) }
        return info
    }

    static func gesddWorkspace(_ job: SVDJob, m: Int, n: Int, op: String) throws -> SyevdWorkspace<Double> {
        var m32 = Int32(m), n32 = Int32(n), lda = Int32(Swift.max(1, m)), query: Int32 = -1, info: Int32 = 0
        var (ldu, ldvt) = job.leadingDims(m: m, n: n)
        var work: Double = 0, a: Double = 0, s: Double = 0, u: Double = 0, vt: Double = 0, iwork: Int32 = 0
        dgesdd_(job.code, &m32, &n32, &a, &lda, &s, &u, &ldu, &vt, &ldvt, &work, &query, &iwork, &info, 1)
        try LAPACK.checkArguments(info, op: op)
        // iwork is 8 min(m, n) (no query for it); the sizes were checked to fit Int32.
        let (lwork, liwork) = try workspaceSizes(Double(work), Int32(clamping: 8 * Swift.min(m, n)), n: Swift.max(m, n), op: op)
        return SyevdWorkspace(work: [Double](repeating: 0, count: lwork), iwork: [Int32](repeating: 0, count: liwork))
    }

    static func gesdd(_ job: SVDJob, m: Int, n: Int, a: inout [Double], s: inout [Double], u: inout [Double], vt: inout [Double],
                      workspace: inout SyevdWorkspace<Double>) -> Int32 {
        var m32 = Int32(m), n32 = Int32(n), lda = Int32(Swift.max(1, m)), info: Int32 = 0
        var (ldu, ldvt) = job.leadingDims(m: m, n: n)
        var lwork = Int32(workspace.work.count)
        Parallel.withBLASThreads { dgesdd_(job.code, &m32, &n32, &a, &lda, &s, &u, &ldu, &vt, &ldvt, &workspace.work, &lwork, &workspace.iwork, &info, 1) }
        return info
    }

    static func getrs(n: Int, nrhs: Int, a: [Double], ipiv: [Int32], b: inout [Double]) {
        var n32 = Int32(n), k32 = Int32(nrhs), lda = Int32(Swift.max(1, n)), ldb = lda, info: Int32 = 0
        Parallel.withBLASThreads { dgetrs_("N", &n32, &k32, a, &lda, ipiv, &b, &ldb, &info, 1) }
    }

    static func getrf(n: Int, a: inout [Double], ipiv: inout [Int32]) -> Int32 {
        var n32 = Int32(n), lda = Int32(Swift.max(1, n)), info: Int32 = 0
        var m32 = n32
        Parallel.withBLASThreads { dgetrf_(&m32, &n32, &a, &lda, &ipiv, &info) }
        return info
    }

    static func potrf(n: Int, a: inout [Double]) -> Int32 {
        var n32 = Int32(n), lda = Int32(Swift.max(1, n)), info: Int32 = 0
        Parallel.withBLASThreads { dpotrf_("L", &n32, &a, &lda, &info, 1) }
        return info
    }

    static func trsm(upper: Bool, unit: Bool, n: Int, nrhs: Int, a: [Double], b: inout [Double]) {
        let lda = Int32(Swift.max(1, n))
        Parallel.withBLASThreads {
            cblas_dtrsm(CblasColMajor, CblasLeft, upper ? CblasUpper : CblasLower, CblasNoTrans, unit ? CblasUnit : CblasNonUnit,
                        Int32(n), Int32(nrhs), 1, a, lda, &b, lda)
        }
    }

    static func syevdWorkspace(n: Int, vectors: Bool, op: String) throws -> SyevdWorkspace<Double> {
        var n32 = Int32(n), lda = Int32(Swift.max(1, n)), query: Int32 = -1, info: Int32 = 0
        var work: Double = 0, iwork: Int32 = 0, a: Double = 0, w: Double = 0
        var iquery: Int32 = -1
        dsyevd_(vectors ? "V" : "N", "L", &n32, &a, &lda, &w, &work, &query, &iwork, &iquery, &info, 1, 1)
        try LAPACK.checkArguments(info, op: op)
        let (lwork, liwork) = try workspaceSizes(work, iwork, n: n, op: op)
        return SyevdWorkspace(work: [Double](repeating: 0, count: lwork), iwork: [Int32](repeating: 0, count: liwork))
    }

    static func syevd(vectors: Bool, n: Int, a: inout [Double], w: inout [Double], workspace: inout SyevdWorkspace<Double>) -> Int32 {
        var n32 = Int32(n), lda = Int32(Swift.max(1, n)), info: Int32 = 0
        var lwork = Int32(workspace.work.count), liwork = Int32(workspace.iwork.count)
        Parallel.withBLASThreads { dsyevd_(vectors ? "V" : "N", "L", &n32, &a, &lda, &w, &workspace.work, &lwork, &workspace.iwork, &liwork, &info, 1, 1) }
        return info
    }
}

extension Ops {
    /// torch.linalg.solve: X with A X = B (left) or X A = B (`left: false`). B is a vector (or a
    /// batch of vectors) when it is 1-D or has A's shape without its last dim, as in torch; batch
    /// dims broadcast; float32 with float64 computes in float64. A singular matrix is
    /// SF_ERR_INVALID_ARGUMENT naming the batch element.
    public static func linalgSolve(_ a: Value, _ b: Value, left: Bool = true) throws -> Value {
        let op = "linalg_solve"
        try Contraction.checkFloatOperands(a.dtype, b.dtype, op: op)
        let common = DType.promoteStrong(a.dtype, b.dtype)
        let a = try cast(a, to: common), b = try cast(b, to: common)
        _ = try Linalg.squareMatrices(a.type, op: op)
        let isVector = b.rank == 1 || (a.rank >= 2 && b.rank == a.rank - 1 && b.shape == Array(a.shape.dropLast()))
        let matrix = left ? a : try Linalg.transposeLast(a)
        if isVector {
            return try squeeze(emit(.linalgSolve, [matrix, unsqueeze(b, dim: b.rank)]), dims: [-1])
        }
        guard left else {
            guard b.rank >= 2 else { return try emit(.linalgSolve, [matrix, b]) }  // the type rule's message
            return try Linalg.transposeLast(emit(.linalgSolve, [matrix, Linalg.transposeLast(b)]))
        }
        return try emit(.linalgSolve, [matrix, b])
    }

    /// torch.linalg.solve_triangular: X with T X = B (left) or X T = B, T the `upper` or lower
    /// triangle of A (the other is not read), with ones on the diagonal when `unitriangular`. B is
    /// a matrix (batch dims broadcast). A zero on the diagonal gives inf/nan, not an error.
    public static func solveTriangular(_ a: Value, _ b: Value, upper: Bool, left: Bool = true,
                                       unitriangular: Bool = false) throws -> Value {
        try Contraction.checkFloatOperands(a.dtype, b.dtype, op: "linalg_solve_triangular")
        let common = DType.promoteStrong(a.dtype, b.dtype)
        let a = try cast(a, to: common), b = try cast(b, to: common)
        if left || a.rank < 2 || b.rank < 2 {
            return try emit(.solveTriangular, [a, b], .triangular(upper: upper, unit: unitriangular))
        }
        // X T = B is Tᵀ Xᵀ = Bᵀ, and Tᵀ is the other triangle of Aᵀ.
        let transposed = try emit(.solveTriangular, [Linalg.transposeLast(a), Linalg.transposeLast(b)],
                                  .triangular(upper: !upper, unit: unitriangular))
        return try Linalg.transposeLast(transposed)
    }

    /// torch.linalg.cholesky: L (lower) with A = L Lᵀ from A's lower triangle, or U = Lᵀ when
    /// `upper`. A matrix that is not positive-definite is SF_ERR_INVALID_ARGUMENT naming the batch
    /// element and the leading minor.
    public static func cholesky(_ a: Value, upper: Bool = false) throws -> Value {
        let l = try emit(.cholesky, [a])
        return upper ? try Linalg.transposeLast(l) : l
    }

    /// torch.cholesky_solve(B, L, upper): X with A X = B where A = L Lᵀ (or Uᵀ U when `upper`), by
    /// two triangular solves.
    public static func choleskySolve(_ b: Value, _ factor: Value, upper: Bool = false) throws -> Value {
        _ = try Linalg.squareMatrices(factor.type, op: "cholesky_solve")
        if upper {
            let y = try solveTriangular(Linalg.transposeLast(factor), b, upper: false)
            return try solveTriangular(factor, y, upper: true)
        }
        let y = try solveTriangular(factor, b, upper: false)
        return try solveTriangular(Linalg.transposeLast(factor), y, upper: true)
    }

    /// torch.linalg.inv: A⁻¹ as the solve A X = I (singular: SF_ERR_INVALID_ARGUMENT).
    public static func inv(_ a: Value) throws -> Value {
        let (n, _) = try Linalg.squareMatrices(a.type, op: "linalg_inv")
        return try emit(.linalgSolve, [a, Linalg.identity(n, dtype: a.dtype)])
    }

    /// torch.linalg.det: 0 for a singular matrix. Its derivatives need an invertible matrix.
    public static func det(_ a: Value) throws -> Value { try emit(.det, [a]) }

    /// torch.linalg.slogdet: the sign (-1, 0 or 1; no derivative) and log|det A| (-inf when singular),
    /// views of one [..., 2] result (one LU per matrix).
    public static func slogdet(_ a: Value) throws -> (sign: Value, logAbsDet: Value) {
        let both = try emit(.slogdet, [a])
        return (try Batching.select(both, dim: both.rank - 1, index: 0), try Batching.select(both, dim: both.rank - 1, index: 1))
    }

    /// torch.logdet: log det A; nan where det A < 0, -inf where it is 0.
    public static func logdet(_ a: Value) throws -> Value {
        let (sign, logAbsDet) = try slogdet(a)
        let nan = try Differentiation.full(.nan, shape: [], dtype: a.dtype)
        return try `where`(lt(sign, Differentiation.full(0, shape: [], dtype: a.dtype)), nan, logAbsDet)
    }

    /// torch.linalg.eigh: eigenvalues in ascending order and eigenvectors (columns) of the
    /// symmetric matrix given by A's lower triangle (the upper one when `upper`). The eigenvectors'
    /// derivatives are finite while the eigenvalues are distinct (inf/nan otherwise, as torch).
    public static func eigh(_ a: Value, upper: Bool = false) throws -> (eigenvalues: Value, eigenvectors: Value) {
        _ = try Linalg.squareMatrices(a.type, op: "linalg_eigh")
        let lower = upper ? try Linalg.transposeLast(a) : a
        return (try emit(.eigvalsh, [lower]), try emit(.eigenvectorsh, [lower]))
    }

    /// torch.linalg.eigvalsh: the eigenvalues of `eigh` alone (their derivatives are always finite).
    public static func eigvalsh(_ a: Value, upper: Bool = false) throws -> Value {
        _ = try Linalg.squareMatrices(a.type, op: "linalg_eigvalsh")
        return try emit(.eigvalsh, [upper ? try Linalg.transposeLast(a) : a])
    }
}
