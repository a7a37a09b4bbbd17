// Linear algebra exports (torch.linalg on LAPACK): sf_linalg_solve, sf_linalg_solve_triangular,
// sf_linalg_cholesky, sf_linalg_cholesky_solve, sf_linalg_inv, sf_linalg_det, sf_linalg_slogdet,
// sf_linalg_logdet, sf_linalg_eigh, sf_linalg_eigvalsh, sf_linalg_svd, sf_linalg_svdvals, sf_linalg_pinv,
// sf_linalg_qr, sf_linalg_lstsq, sf_linalg_lu_factor, sf_linalg_lu_solve.
import SwiftFuncCore

@_cdecl("sf_linalg_solve")
public func sf_linalg_solve(_ a: TensorHandle?, _ b: TensorHandle?, _ left: Bool, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("linalg_solve", out) {
        try Ops.linalgSolve(Boundary.value(a, "linalg_solve", "a"), Boundary.value(b, "linalg_solve", "b"), left: left)
    }
}

@_cdecl("sf_linalg_solve_triangular")
public func sf_linalg_solve_triangular(_ a: TensorHandle?, _ b: TensorHandle?, _ upper: Bool, _ left: Bool, _ unitriangular: Bool,
                                       _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("linalg_solve_triangular", out) {
        try Ops.solveTriangular(Boundary.value(a, "linalg_solve_triangular", "a"), Boundary.value(b, "linalg_solve_triangular", "b"),
                                upper: upper, left: left, unitriangular: unitriangular)
    }
}

@_cdecl("sf_linalg_cholesky")
public func sf_linalg_cholesky(_ a: TensorHandle?, _ upper: Bool, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("linalg_cholesky", out) { try Ops.cholesky(Boundary.value(a, "linalg_cholesky", "a"), upper: upper) }
}

@_cdecl("sf_linalg_cholesky_solve")
public func sf_linalg_cholesky_solve(_ b: TensorHandle?, _ factor: TensorHandle?, _ upper: Bool,
                                     _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("linalg_cholesky_solve", out) {
        try Ops.choleskySolve(Boundary.value(b, "linalg_cholesky_solve", "b"), Boundary.value(factor, "linalg_cholesky_solve", "factor"),
                              upper: upper)
    }
}

@_cdecl("sf_linalg_inv")
public func sf_linalg_inv(_ a: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("linalg_inv", out) { try Ops.inv(Boundary.value(a, "linalg_inv", "a")) }
}

@_cdecl("sf_linalg_det")
public func sf_linalg_det(_ a: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("linalg_det", out) { try Ops.det(Boundary.value(a, "linalg_det", "a")) }
}

@_cdecl("sf_linalg_slogdet")
public func sf_linalg_slogdet(_ a: TensorHandle?, _ sign: UnsafeMutablePointer<TensorHandle?>?,
                              _ logAbsDet: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("linalg_slogdet", sign, logAbsDet, names: ("out_sign", "out_logabsdet")) {
        try Ops.slogdet(Boundary.value(a, "linalg_slogdet", "a"))
    }
}

@_cdecl("sf_linalg_logdet")
public func sf_linalg_logdet(_ a: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("linalg_logdet", out) { try Ops.logdet(Boundary.value(a, "linalg_logdet", "a")) }
}

@_cdecl("sf_linalg_eigh")
public func sf_linalg_eigh(_ a: TensorHandle?, _ upper: Bool, _ values: UnsafeMutablePointer<TensorHandle?>?,
                           _ vectors: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("linalg_eigh", values, vectors, names: ("out_eigenvalues", "out_eigenvectors")) {
        try Ops.eigh(Boundary.value(a, "linalg_eigh", "a"), upper: upper)
    }
}

@_cdecl("sf_linalg_eigvalsh")
public func sf_linalg_eigvalsh(_ a: TensorHandle?, _ upper: Bool, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("linalg_eigvalsh", out) { try Ops.eigvalsh(Boundary.value(a, "linalg_eigvalsh", "a"), upper: upper) }
}

@_cdecl("sf_linalg_svd")
public func sf_linalg_svd(_ a: TensorHandle?, _ fullMatrices: Bool, _ u: UnsafeMutablePointer<TensorHandle?>?,
                          _ s: UnsafeMutablePointer<TensorHandle?>?, _ vh: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("linalg_svd", [u, s, vh], names: ["out_U", "out_S", "out_Vh"]) {
        try Ops.svd(Boundary.value(a, "linalg_svd", "a"), fullMatrices: fullMatrices)
    }
}

@_cdecl("sf_linalg_svdvals")
public func sf_linalg_svdvals(_ a: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("linalg_svdvals", out) { try Ops.svdvals(Boundary.value(a, "linalg_svdvals", "a")) }
}

/// rtol NaN stands for torch's rtol=None.
@_cdecl("sf_linalg_pinv")
public func sf_linalg_pinv(_ a: TensorHandle?, _ atol: Double, _ rtol: Double, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("linalg_pinv", out) {
        try Ops.pinv(Boundary.value(a, "linalg_pinv", "a"), atol: atol, rtol: rtol.isNaN ? nil : rtol)
    }
}

@_cdecl("sf_linalg_qr")
public func sf_linalg_qr(_ a: TensorHandle?, _ mode: UnsafePointer<CChar>?, _ q: UnsafeMutablePointer<TensorHandle?>?,
                         _ r: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("linalg_qr", q, r, names: ("out_Q", "out_R")) {
        let text = mode == nil ? "reduced" : try Boundary.string(mode, "linalg_qr", "mode")
        return try Ops.qr(Boundary.value(a, "linalg_qr", "a"), mode: text)
    }
}

/// rcond NaN stands for torch's rcond=None.
@_cdecl("sf_linalg_lstsq")
public func sf_linalg_lstsq(_ a: TensorHandle?, _ b: TensorHandle?, _ rcond: Double, _ solution: UnsafeMutablePointer<TensorHandle?>?,
                            _ rank: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("linalg_lstsq", solution, rank, names: ("out_solution", "out_rank")) {
        try Ops.lstsq(Boundary.value(a, "linalg_lstsq", "a"), Boundary.value(b, "linalg_lstsq", "b"), rcond: rcond.isNaN ? nil : rcond)
    }
}

@_cdecl("sf_linalg_lu_factor")
public func sf_linalg_lu_factor(_ a: TensorHandle?, _ lu: UnsafeMutablePointer<TensorHandle?>?,
                                _ pivots: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("linalg_lu_factor", lu, pivots, names: ("out_LU", "out_pivots")) {
        try Ops.luFactor(Boundary.value(a, "linalg_lu_factor", "a"))
    }
}

@_cdecl("sf_linalg_lu_solve")
public func sf_linalg_lu_solve(_ lu: TensorHandle?, _ pivots: TensorHandle?, _ b: TensorHandle?, _ left: Bool, _ adjoint: Bool,
                               _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("linalg_lu_solve", out) {
        try Ops.luSolve(Boundary.value(lu, "linalg_lu_solve", "LU"), Boundary.value(pivots, "linalg_lu_solve", "pivots"),
                        Boundary.value(b, "linalg_lu_solve", "b"), left: left, adjoint: adjoint)
    }
}
