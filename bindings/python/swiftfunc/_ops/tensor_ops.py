"""Tensor ops under torch's names: einsum, diagonals and triangles (diag, diagonal, diag_embed, trace,
tril, triu), scans (cumsum, cumprod), sorting (sort, argsort, topk), roll, repeat and tile. Each is one
sf_* call; its derivatives and batching come from the library's ops.
"""
import collections
import ctypes
import numbers

import numpy as np

from .. import _capi
from .._capi import int64s, lib
from .._tensor import as_dtype, new, wrap
from .conversion import cast, dims_of, shape_of, tensor_of

__all__ = ["einsum", "diag", "diagonal", "diag_embed", "trace", "tril", "triu", "cumsum", "cumprod", "sort",
           "argsort", "topk", "roll", "repeat", "tile"]

#: torch.return_types.sort / topk: (values, indices), also by name.
sort_result = collections.namedtuple("sort", ["values", "indices"])
topk_result = collections.namedtuple("topk", ["values", "indices"])


_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _sublist_equation(args):
    """The equation and operands of torch's sublist form einsum(op1, [0, 1], op2, [1, 2], [0, 2])."""
    def term(sublist):
        letters = []
        for s in sublist:
            if s is Ellipsis:
                letters.append("...")
            elif isinstance(s, (numbers.Integral, np.integer)) and 0 <= s < len(_LETTERS):
                letters.append(_LETTERS[int(s)])
            else:
                raise ValueError(f"einsum(): subscripts in a sublist must be Ellipsis or ints in [0, 52), got {s!r}")
        return "".join(letters)

    operands, terms = list(args[0::2]), [term(s) for s in args[1::2]]
    output = None
    if len(args) % 2 == 1:
        output = term(args[-1])
        operands = operands[:-1]
    equation = ",".join(terms) + ("" if output is None else "->" + output)
    return equation, operands


def einsum(equation, *operands):
    """torch.einsum(equation, *operands) (also einsum(equation, [operands]) and the sublist form
    einsum(op1, [0, 1], op2, [1, 2], [0, 2])): repeated subscripts take diagonals, '...' broadcasts, and
    without '->' the output is the subscripts that appear once, in alphabetical order. Float
    contractions run as batched matrix products."""
    if not isinstance(equation, str):
        if not operands:
            raise TypeError(f"einsum(): the equation must be a str, got {type(equation).__name__}")
        equation, operands = _sublist_equation((equation,) + operands)
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = operands[0]
    tensors = [tensor_of(x) for x in operands]
    return new(lib.sf_einsum, equation.encode(), _capi.handles(tensors), len(tensors))


def diagonal(input, offset=0, dim1=0, dim2=1):
    """torch.diagonal: the `offset` diagonal of the matrices over dim1, dim2, as a new last dim."""
    x = tensor_of(input)
    return new(lib.sf_diagonal, x._h, int(offset), int(dim1), int(dim2))


def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    """torch.diag_embed: matrices over the new dims dim1, dim2 with input's last dim on a diagonal."""
    x = tensor_of(input)
    return new(lib.sf_diag_embed, x._h, int(offset), int(dim1), int(dim2))


def diag(input, diagonal=0):
    """torch.diag: the matrix with a 1-D input on its `diagonal`, or the `diagonal` of a 2-D input."""
    x = tensor_of(input)
    return new(lib.sf_diag, x._h, int(diagonal))


def trace(input):
    """torch.trace: the sum of the main diagonal of a 2-D tensor."""
    x = tensor_of(input)
    return new(lib.sf_trace, x._h)


def tril(input, diagonal=0):
    """torch.tril: the lower triangle of the last two dims (column - row <= diagonal), zeros above."""
    x = tensor_of(input)
    return new(lib.sf_tril, x._h, int(diagonal))


def triu(input, diagonal=0):
    """torch.triu: the upper triangle of the last two dims (column - row >= diagonal), zeros below."""
    x = tensor_of(input)
    return new(lib.sf_triu, x._h, int(diagonal))


def _scan(cfn, input, dim, dtype):
    x = tensor_of(input)
    if dtype is not None:
        x = cast(x, as_dtype(dtype))
    return new(cfn, x._h, int(dim))


def cumsum(input, dim, *, dtype=None):
    """torch.cumsum: running sums along `dim` (bool and integer inputs give int64 unless dtype is given)."""
    return _scan(lib.sf_cumsum, input, dim, dtype)


def cumprod(input, dim, *, dtype=None):
    """torch.cumprod: running products along `dim`; the gradient is exact where input has zeros."""
    return _scan(lib.sf_cumprod, input, dim, dtype)


def _pair(cfn, *args):
    first, second = ctypes.c_void_p(), ctypes.c_void_p()
    cfn(*args, ctypes.byref(first), ctypes.byref(second))
    return wrap(first.value), wrap(second.value)


def sort(input, dim=-1, descending=False, stable=False):
    """torch.sort: (values, indices) along `dim`. The sort is always stable (equal values keep their
    order); NaN sorts as the largest value. The values are differentiable."""
    x = tensor_of(input)
    return sort_result(*_pair(lib.sf_sort, x._h, int(dim), bool(descending)))


def argsort(input, dim=-1, descending=False, stable=False):
    """torch.argsort: the int64 indices that sort input along `dim` (always stable)."""
    x = tensor_of(input)
    return new(lib.sf_argsort, x._h, int(dim), bool(descending))


def topk(input, k, dim=-1, largest=True, sorted=True):
    """torch.topk: the k largest (or smallest) values along `dim` and their int64 indices. The values
    come sorted whatever `sorted` says (torch allows any order when it is False)."""
    x = tensor_of(input)
    return topk_result(*_pair(lib.sf_topk, x._h, int(k), int(dim), bool(largest)))


def roll(input, shifts, dims=None):
    """torch.roll: input shifted along dims, elements wrapping around (flattened when dims is None)."""
    x = tensor_of(input)
    shifts = dims_of(shifts)
    dims = dims_of(dims)
    return new(lib.sf_roll, x._h, int64s(shifts), len(shifts), int64s(dims), len(dims))


def repeat(input, *repeats):
    """torch.Tensor.repeat: input repeated along each dim (repeats may add leading dims)."""
    x = tensor_of(input)
    sizes = shape_of(repeats, "repeats")
    return new(lib.sf_repeat, x._h, int64s(sizes), len(sizes))


def tile(input, dims):
    """torch.tile: as repeat, with fewer entries than input's dims allowed (ones are prepended)."""
    x = tensor_of(input)
    sizes = (int(dims),) if isinstance(dims, (numbers.Integral, np.integer)) else tuple(int(d) for d in dims)
    return new(lib.sf_tile, x._h, int64s(sizes), len(sizes))


def _tile_method(self, *dims):
    return tile(self, shape_of(dims, "dims"))
