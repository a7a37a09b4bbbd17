"""swiftfunc.linalg: torch.linalg on LAPACK (OpenBLAS). Every function is differentiable and batchable
(grad, jacrev, hessian, vmap, jit). Matrices are the last two dims, leading dims a batch; float32 and
float64. A non-positive-definite input to cholesky or a singular one to solve/inv raises
`swiftfunc.InvalidArgumentError` naming the batch element; det/slogdet of a singular matrix give 0 / -inf.
svd/svdvals use LAPACK's gesdd; pinv and matrix_norm's 'nuc', 2 and -2 are built on them. qr uses geqrf +
orgqr, lstsq (full-rank A) is built on qr, lu_factor/lu_solve use getrf/getrs (lu_factor has no derivative). The norms
(vector_norm, matrix_norm, norm) are those of `_ops/norms.py`."""
from ._ops.linalg import (EighResult, LstsqResult, LUFactorResult, QRResult, SlogdetResult, SVDResult, cholesky, det,
                          eigh, eigvalsh, inv, lstsq, lu_factor, lu_solve, matmul, pinv, qr, slogdet, solve,
                          solve_triangular, svd, svdvals)
from ._ops.norms import linalg_norm as norm
from ._ops.norms import matrix_norm, vector_norm

__all__ = ["EighResult", "LUFactorResult", "LstsqResult", "QRResult", "SVDResult", "SlogdetResult", "cholesky", "det",
           "eigh", "eigvalsh", "inv", "lstsq", "lu_factor", "lu_solve", "matmul", "matrix_norm", "norm", "pinv", "qr",
           "slogdet", "solve", "solve_triangular", "svd", "svdvals", "vector_norm"]
