"""swiftfunc.linalg: torch.linalg on LAPACK (OpenBLAS). Every function is differentiable and batchable
(grad, jacrev, hessian, vmap, jit). Matrices are the last two dims, leading dims a batch; float32 and
float64. A non-positive-definite input to cholesky or a singular one to solve/inv raises
`swiftfunc.InvalidArgumentError` naming the batch element; det/slogdet of a singular matrix give 0 / -inf.
The norms (vector_norm, matrix_norm, norm) are those of `_ops/norms.py`; matrix_norm's 'nuc', 2 and -2
need singular values, which are not built yet."""
from ._ops.linalg import (EighResult, SlogdetResult, cholesky, det, eigh, eigvalsh, inv, matmul, slogdet, solve,
                          solve_triangular)
from ._ops.norms import linalg_norm as norm
from ._ops.norms import matrix_norm, vector_norm

__all__ = ["EighResult", "SlogdetResult", "cholesky", "det", "eigh", "eigvalsh", "inv", "matmul", "matrix_norm", "norm",
           "slogdet", "solve", "solve_triangular", "vector_norm"]
