"""Indexing: gather, index_select, scatter_add, and `tensor[index]` (`getitem`: ints, slices with
positive steps, None, Ellipsis, integer and 1-D bool index tensors).
"""
import builtins
import numbers

import numpy as np

from .._capi import lib
from .._tensor import Tensor, bool_, int32, int64, new
from .conversion import tensor, tensor_of
from .shape import reshape, select, slice_along, unsqueeze

__all__ = ["gather", "index_select", "scatter_add"]

_INT64_MAX = 2 ** 63 - 1


def _clip64(value):
    return builtins.max(-_INT64_MAX - 1, builtins.min(value, _INT64_MAX))


def gather(input, dim, index):
    x, index = tensor_of(input), tensor_of(index)
    return new(lib.sf_gather, x._h, int(dim), index._h)


def index_select(input, dim, index):
    x, index = tensor_of(input), tensor_of(index)
    return new(lib.sf_index_select, x._h, int(dim), index._h)


def scatter_add(input, dim, index, src):
    x, index, src = tensor_of(input), tensor_of(index), tensor_of(src)
    return new(lib.sf_scatter_add, x._h, int(dim), index._h, src._h)


def getitem(self, index):
    """Tensor.__getitem__: self[index], a view where the index allows (ints, slices, None, ...)."""
    if not isinstance(index, tuple):
        index = (index,)
    consumed = builtins.sum(1 for item in index if item is not None and item is not Ellipsis)
    if builtins.sum(1 for item in index if item is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if consumed > self.ndim:
        raise IndexError(f"too many indices for tensor of dimension {self.ndim}")
    x, dim = self, 0
    for item in index:
        if item is None:
            x = unsqueeze(x, dim)
            dim += 1
        elif item is Ellipsis:
            dim += self.ndim - consumed
        elif isinstance(item, slice):
            step = 1 if item.step is None else _clip64(int(item.step))
            if step <= 0:
                raise ValueError("step must be greater than zero")
            # bounds past int64 select what the nearest int64 bound does (the library clips to the size)
            start = 0 if item.start is None else _clip64(int(item.start))
            stop = _INT64_MAX if item.stop is None else _clip64(int(item.stop))
            if (start, stop, step) != (0, _INT64_MAX, 1):
                x = slice_along(x, dim, start, stop, step)
            dim += 1
        elif isinstance(item, (numbers.Integral, np.integer)) and not isinstance(item, (bool, np.bool_)):
            x = select(x, dim, item)
        elif isinstance(item, Tensor) and item.ndim == 0 and not item.dtype.is_floating_point \
                and item.dtype is not bool_:
            x = select(x, dim, item.item())
        elif isinstance(item, (Tensor, list, np.ndarray)):
            positions = tensor_of(item)
            if positions.dtype is bool_:
                if positions.ndim != 1:
                    raise IndexError("only 1-D boolean masks are supported")
                positions = tensor(np.flatnonzero(positions._copy_values()), dtype=int64)
            if positions.dtype not in (int32, int64):
                raise IndexError(f"tensors used as indices must be integer or bool, not {positions.dtype}")
            flat = reshape(positions, -1)
            picked = index_select(x, dim, flat)
            if positions.ndim != 1:
                shape = picked.shape
                picked = reshape(picked, shape[:dim] + positions.shape + shape[dim + 1:])
            x = picked
            dim += positions.ndim
        else:
            raise IndexError(f"unsupported index {item!r}: use ints, slices, None, ..., or integer/bool tensors")
    return x


