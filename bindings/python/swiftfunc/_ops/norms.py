"""Norms: torch.norm, and torch.linalg's vector_norm, matrix_norm and norm (sf_vector_norm,
sf_matrix_norm). The linalg names are public in `swiftfunc.linalg`; `norm` is also
swiftfunc.norm and Tensor.norm. The gradient of a 2-norm (or p-norm) at 0 is 0, as in torch.
"""
import math
import numbers

from .._capi import int64s, lib
from .._tensor import as_dtype, new
from .conversion import cast, dims_of, tensor_of

__all__ = ["norm"]

_MATRIX_ORDS = {"fro": "fro", "nuc": "nuc", 1: "1", -1: "-1", 2: "2", -2: "-2", math.inf: "inf", -math.inf: "-inf"}


def _input(input, dtype):
    x = tensor_of(input)
    return x if dtype is None else cast(x, as_dtype(dtype))


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    """torch.linalg.vector_norm: (sum |x|^ord)^(1/ord) over `dim` (None: all elements); ord inf/-inf is
    the largest/smallest |x|, 0 the number of nonzeros."""
    if isinstance(ord, str) or not isinstance(ord, numbers.Real):
        raise TypeError(f"linalg.vector_norm: ord must be a number, got {ord!r}")
    t = _input(x, dtype)
    dims = dims_of(dim)
    return new(lib.sf_vector_norm, t._h, float(ord), int64s(dims), len(dims), bool(keepdim))


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    """torch.linalg.matrix_norm over the two dims `dim`: 'fro', 1, -1, inf, -inf, and through the singular
    values 'nuc' (their sum), 2 (the largest) and -2 (the smallest)."""
    key = ord if isinstance(ord, str) else float(ord) if isinstance(ord, numbers.Real) else ord
    if isinstance(key, float) and key.is_integer():
        key = int(key)
    if key not in _MATRIX_ORDS:
        raise ValueError(f"linalg.matrix_norm: ord must be one of 'fro', 'nuc', 1, -1, 2, -2, inf, -inf; got {ord!r}")
    dims = tuple(dim)
    if len(dims) != 2:
        raise ValueError(f"linalg.matrix_norm: dim must be a 2-tuple of ints, got {dim!r}")
    t = _input(A, dtype)
    return new(lib.sf_matrix_norm, t._h, _MATRIX_ORDS[key].encode(), int(dims[0]), int(dims[1]), bool(keepdim))


def linalg_norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):
    """torch.linalg.norm: with ord None, the 2-norm of the flattened input (or over `dim`); otherwise a
    vector norm for a 1-D input or one dim and a matrix norm for a 2-D input or two dims."""
    t = _input(A, dtype)
    if dim is not None and not isinstance(dim, (numbers.Integral,)):
        dim = tuple(dim)
    if ord is None:
        return vector_norm(t, 2, dim, keepdim)
    if dim is None:
        if t.ndim == 2:
            return matrix_norm(t, ord, (-2, -1), keepdim)
        if t.ndim == 1:
            return vector_norm(t, ord, None, keepdim)
        raise ValueError(f"linalg.norm: with ord={ord!r} and no dim, the input must be 1-D or 2-D, got {t.ndim}-D")
    if isinstance(dim, tuple) and len(dim) == 2:
        return matrix_norm(t, ord, dim, keepdim)
    return vector_norm(t, ord, dim, keepdim)


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    """torch.norm: p 'fro' (the default) is the 2-norm over `dim` (all elements when None); p 'nuc' a
    matrix norm; a number p the vector p-norm over `dim`."""
    t = _input(input, dtype)
    if isinstance(p, str):
        if p == "fro" and (dim is None or isinstance(dim, numbers.Integral) or len(tuple(dim)) <= 2):
            return vector_norm(t, 2, dim, keepdim)
        dims = tuple(range(t.ndim)) if dim is None else tuple(dim)
        return matrix_norm(t, p, dims, keepdim)
    return vector_norm(t, 2.0 if p is None else p, dim, keepdim)
