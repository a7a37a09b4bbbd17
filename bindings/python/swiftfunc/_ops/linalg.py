"""Contractions (matmul and its torch spellings mm, bmm, mv, dot, inner; outer products) and the
LAPACK-backed linear algebra of torch.linalg (solve, cholesky, det, eigh, ...; public as
`swiftfunc.linalg`, with torch's top-level spellings det, logdet, slogdet, inverse, cholesky_solve)."""
import collections
import ctypes

from .._capi import lib
from .._tensor import new, wrap
from .conversion import tensor_of
from .pointwise import mul
from .shape import unsqueeze

__all__ = ["matmul", "mm", "bmm", "mv", "dot", "inner", "outer", "ger", "det", "logdet", "slogdet", "inverse",
           "cholesky_solve"]


def matmul(input, other):
    """torch.matmul: dot, matrix-vector, matrix-matrix and batched products (float dtypes)."""
    a, b = tensor_of(input), tensor_of(other)
    return new(lib.sf_matmul, a._h, b._h)


def mm(input, mat2):
    if tensor_of(input).ndim != 2 or tensor_of(mat2).ndim != 2:
        raise ValueError("mm expects two 2-D tensors")
    return matmul(input, mat2)


def bmm(input, mat2):
    if tensor_of(input).ndim != 3 or tensor_of(mat2).ndim != 3:
        raise ValueError("bmm expects two 3-D tensors")
    return matmul(input, mat2)


def mv(input, vec):
    return matmul(input, vec)


def dot(input, other):
    if tensor_of(input).ndim != 1 or tensor_of(other).ndim != 1:
        raise ValueError("dot expects two 1-D tensors")
    return matmul(input, other)


inner = dot


def outer(input, vec2):
    return mul(unsqueeze(input, 1), unsqueeze(vec2, 0))


ger = outer


# torch.linalg's named results.
SlogdetResult = collections.namedtuple("SlogdetResult", ["sign", "logabsdet"])
EighResult = collections.namedtuple("EighResult", ["eigenvalues", "eigenvectors"])
SVDResult = collections.namedtuple("SVDResult", ["U", "S", "Vh"])
QRResult = collections.namedtuple("QRResult", ["Q", "R"])
LstsqResult = collections.namedtuple("LstsqResult", ["solution", "residuals", "rank", "singular_values"])
LUFactorResult = collections.namedtuple("LUFactorResult", ["LU", "pivots"])


def _pair(cfn, *args):
    """Calls `cfn(*args, &first, &second)` and wraps both new tensors."""
    first, second = ctypes.c_void_p(), ctypes.c_void_p()
    cfn(*args, ctypes.byref(first), ctypes.byref(second))
    return wrap(first.value), wrap(second.value)


def _upper(UPLO):  # noqa: N803 - torch's name
    if UPLO not in ("L", "U"):
        raise ValueError(f"UPLO must be 'L' or 'U', got {UPLO!r}")
    return UPLO == "U"


def solve(A, B, *, left=True):  # noqa: N803 - torch's names
    """torch.linalg.solve: X with A X = B (X A = B when left=False); B may be a (batch of) vector(s)."""
    a, b = tensor_of(A), tensor_of(B)
    return new(lib.sf_linalg_solve, a._h, b._h, bool(left))


def solve_triangular(A, B, *, upper, left=True, unitriangular=False):  # noqa: N803
    """torch.linalg.solve_triangular: only the `upper` (or lower) triangle of A is read."""
    a, b = tensor_of(A), tensor_of(B)
    return new(lib.sf_linalg_solve_triangular, a._h, b._h, bool(upper), bool(left), bool(unitriangular))


def cholesky(A, *, upper=False):  # noqa: N803
    """torch.linalg.cholesky: L with A = L L^T from A's lower triangle (L^T when upper)."""
    a = tensor_of(A)
    return new(lib.sf_linalg_cholesky, a._h, bool(upper))


def cholesky_solve(B, L, upper=False):  # noqa: N803
    """torch.cholesky_solve: X with A X = B given A's Cholesky factor L (U when upper)."""
    b, factor = tensor_of(B), tensor_of(L)
    return new(lib.sf_linalg_cholesky_solve, b._h, factor._h, bool(upper))


def inv(A):  # noqa: N803
    """torch.linalg.inv (a singular matrix raises InvalidArgumentError)."""
    a = tensor_of(A)
    return new(lib.sf_linalg_inv, a._h)


inverse = inv


def det(A):  # noqa: N803
    """torch.linalg.det (0 for a singular matrix)."""
    a = tensor_of(A)
    return new(lib.sf_linalg_det, a._h)


def slogdet(A):  # noqa: N803
    """torch.linalg.slogdet: (sign, logabsdet)."""
    a = tensor_of(A)
    return SlogdetResult(*_pair(lib.sf_linalg_slogdet, a._h))


def logdet(A):  # noqa: N803
    """torch.logdet: nan where det < 0, -inf where det == 0."""
    a = tensor_of(A)
    return new(lib.sf_linalg_logdet, a._h)


def eigh(A, UPLO="L"):  # noqa: N803
    """torch.linalg.eigh: (eigenvalues ascending, eigenvectors as columns) of the symmetric matrix in
    A's lower (UPLO='L') or upper triangle. Eigenvector derivatives need distinct eigenvalues."""
    a = tensor_of(A)
    return EighResult(*_pair(lib.sf_linalg_eigh, a._h, _upper(UPLO)))


def eigvalsh(A, UPLO="L"):  # noqa: N803
    """torch.linalg.eigvalsh."""
    a = tensor_of(A)
    return new(lib.sf_linalg_eigvalsh, a._h, _upper(UPLO))


def svd(A, full_matrices=True, *, driver=None):  # noqa: N803
    """torch.linalg.svd: (U, S descending, Vh) with A = U diag(S) Vh, from one gesdd per matrix. U and Vh's
    derivatives need distinct (and, for non-square A, nonzero) singular values, and square A when
    full_matrices (UnsupportedError otherwise); S's are always finite. `driver` is CUDA-only in torch."""
    if driver is not None:
        raise ValueError("linalg.svd: driver is only for CUDA inputs (torch); use None")
    a = tensor_of(A)
    u, s, vh = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p()
    lib.sf_linalg_svd(a._h, bool(full_matrices), ctypes.byref(u), ctypes.byref(s), ctypes.byref(vh))
    return SVDResult(wrap(u.value), wrap(s.value), wrap(vh.value))


def svdvals(A, *, driver=None):  # noqa: N803
    """torch.linalg.svdvals: the singular values, descending (no vectors computed)."""
    if driver is not None:
        raise ValueError("linalg.svdvals: driver is only for CUDA inputs (torch); use None")
    a = tensor_of(A)
    return new(lib.sf_linalg_svdvals, a._h)


def pinv(A, *, atol=None, rtol=None, hermitian=False):  # noqa: N803
    """torch.linalg.pinv through the SVD: singular values above max(atol, rtol * largest) are inverted, the
    others dropped; rtol None is torch's default (max(m, n) * eps when atol is None or 0, else 0).
    `hermitian` is accepted; the SVD is used either way. Tolerances are floats (not tensors)."""
    a = tensor_of(A)
    return new(lib.sf_linalg_pinv, a._h, 0.0 if atol is None else float(atol), float("nan") if rtol is None else float(rtol))


def qr(A, mode="reduced"):  # noqa: N803
    """torch.linalg.qr: (Q, R) for mode 'reduced', 'complete' or 'r' (Q empty). Derivatives need m >= n
    and reduced factors (complete when square); R's diagonal keeps LAPACK's signs."""
    if mode not in ("reduced", "complete", "r"):
        raise ValueError(f"linalg.qr: mode must be 'reduced', 'complete' or 'r', got {mode!r}")
    a = tensor_of(A)
    return QRResult(*_pair(lib.sf_linalg_qr, a._h, mode.encode()))


def lstsq(A, B, rcond=None, *, driver=None):  # noqa: N803
    """torch.linalg.lstsq for full-rank A through QR (differentiable): solution and rank are filled;
    residuals and singular_values are empty, as with torch's CPU default driver 'gelsy' (the only one)."""
    if driver not in (None, "gelsy"):
        raise ValueError(f"linalg.lstsq: only driver 'gelsy' (the default) is supported, got {driver!r}")
    a, b = tensor_of(A), tensor_of(B)
    solution, rank = _pair(lib.sf_linalg_lstsq, a._h, b._h, float("nan") if rcond is None else float(rcond))
    empty = solution.reshape(-1)[:0]  # torch's empty residuals / singular_values for 'gelsy'
    return LstsqResult(solution, empty, rank, empty)


def lu_factor(A, *, pivot=True):  # noqa: N803
    """torch.linalg.lu_factor: (LU, pivots int32 1-based). Not differentiable (UnsupportedError)."""
    if not pivot:
        raise ValueError("linalg.lu_factor: pivot=False is CUDA-only in torch")
    a = tensor_of(A)
    return LUFactorResult(*_pair(lib.sf_linalg_lu_factor, a._h))


def lu_solve(LU, pivots, B, *, left=True, adjoint=False):  # noqa: N803
    """torch.linalg.lu_solve: X with A X = B (A^T X = B when adjoint, X A = B when left=False) from
    lu_factor's factors. Differentiable in B and in LU (the pivots held fixed)."""
    lu, p, b = tensor_of(LU), tensor_of(pivots), tensor_of(B)
    return new(lib.sf_linalg_lu_solve, lu._h, p._h, b._h, bool(left), bool(adjoint))
