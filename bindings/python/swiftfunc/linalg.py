"""swiftfunc.linalg: torch.linalg on LAPACK (OpenBLAS). Every function is differentiable and batchable
(grad, jacrev, hessian, vmap, jit). Matrices are the last two dims, leading dims a batch; float32 and
float64. A non-positive-definite input to cholesky or a singular one to solve/inv raises
`swiftfunc.InvalidArgumentError` naming the batch element; det/slogdet of a singular matrix give 0 / -inf."""
from ._ops.linalg import (EighResult, SlogdetResult, cholesky, det, eigh, eigvalsh, inv, matmul, slogdet, solve,
                          solve_triangular)

__all__ = ["EighResult", "SlogdetResult", "cholesky", "det", "eigh", "eigvalsh", "inv", "matmul", "slogdet", "solve",
           "solve_triangular"]
