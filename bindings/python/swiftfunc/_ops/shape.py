"""Shapes and movement: reshape/view, flatten, permute/transpose/movedim, expand/broadcast, squeeze and
unsqueeze, flip, slicing along a dim (narrow, select, split, chunk, unbind), and joining (cat, stack,
hstack, vstack). Most results are views of their input.
"""
import builtins
import numbers
import operator

import numpy as np

from .. import _capi
from .._capi import int64s, lib
from .._tensor import new
from .conversion import dims_of, shape_of, tensor_of

__all__ = ["reshape", "view", "view_as", "reshape_as", "flatten", "unflatten", "permute", "transpose", "swapaxes",
           "swapdims", "t", "movedim", "moveaxis", "expand", "expand_as", "broadcast_to", "broadcast_tensors",
           "squeeze", "unsqueeze", "flip", "narrow", "select", "split", "chunk", "unbind", "cat", "concat",
           "concatenate", "stack", "hstack", "vstack"]


def reshape(input, *shape):
    """input with a new shape (one entry may be -1); a view when the data allows, else a copy."""
    shape = shape_of(shape, "shape")
    x = tensor_of(input)
    return new(lib.sf_reshape, x._h, int64s(shape), len(shape))


view = reshape


def view_as(input, other):
    return reshape(input, other.shape)


reshape_as = view_as


def dim_of(dim, ndim, name):
    """`dim` counted from 0 in a tensor of `ndim` dims (a 0-d tensor takes -1 and 0, as in torch);
    IndexError outside [-ndim, ndim), as torch's "Dimension out of range"."""
    dim = operator.index(dim)
    rank = builtins.max(ndim, 1)
    if not -rank <= dim < rank:
        raise IndexError(f"{name}: dim {dim} is out of range for a tensor of {ndim} dims "
                         f"(expected to be in range of [{-rank}, {rank - 1}])")
    return dim % rank


def flatten(input, start_dim=0, end_dim=-1):
    x = tensor_of(input)
    shape = x.shape
    start = dim_of(start_dim, len(shape), "flatten")
    end = dim_of(end_dim, len(shape), "flatten")
    if not shape:
        return reshape(x, (1,))
    if start > end:
        raise ValueError("flatten: start_dim cannot come after end_dim")
    size = 1
    for s in shape[start:end + 1]:
        size *= s
    return reshape(x, shape[:start] + (size,) + shape[end + 1:])


def unflatten(input, dim, sizes):
    x = tensor_of(input)
    shape = x.shape
    if not shape:
        raise IndexError("unflatten: a 0-d tensor has no dim to unflatten")
    d = dim_of(dim, len(shape), "unflatten")
    return reshape(x, shape[:d] + tuple(sizes) + shape[d + 1:])


def permute(input, *dims):
    dims = shape_of(dims, "dims")
    x = tensor_of(input)
    return new(lib.sf_permute, x._h, int64s(dims), len(dims))


def transpose(input, dim0, dim1):
    x = tensor_of(input)
    return new(lib.sf_transpose, x._h, int(dim0), int(dim1))


swapaxes = swapdims = transpose


def t(input):
    """The transpose of a tensor of at most 2 dims (torch.t)."""
    x = tensor_of(input)
    if x.ndim > 2:
        raise ValueError(f"t() expects a tensor with <= 2 dimensions, but input is {x.ndim}-D")
    return x if x.ndim < 2 else transpose(x, 0, 1)


def movedim(input, source, destination):
    x = tensor_of(input)
    n = x.ndim
    source = [dim_of(s, n, "movedim") for s in dims_of(source)]
    destination = [dim_of(d, n, "movedim") for d in dims_of(destination)]
    if n == 0:
        return x
    if len(source) != len(destination):
        raise ValueError("movedim: source and destination must have the same number of dims")
    order = [d for d in range(n) if d not in source]
    for d, s in sorted(zip(destination, source)):
        order.insert(d, s)
    return permute(x, order)


moveaxis = movedim


def expand(input, *sizes):
    """input broadcast to `sizes` (-1 keeps a dim); a view."""
    sizes = shape_of(sizes)
    x = tensor_of(input)
    return new(lib.sf_expand, x._h, int64s(sizes), len(sizes))


def broadcast_to(input, shape):
    return expand(input, shape)


def expand_as(input, other):
    return expand(input, other.shape)


def broadcast_tensors(*tensors):
    shape = np.broadcast_shapes(*[tensor_of(x).shape for x in tensors])
    return tuple(expand(x, shape) for x in tensors)


def squeeze(input, dim=None):
    """input without size-1 dims: all of them, or those among `dim` (an int or tuple)."""
    x = tensor_of(input)
    dims = dims_of(dim)
    if dim is not None and not dims:
        return x
    if dims and x.ndim == 0:
        if builtins.any(d not in (0, -1) for d in dims):
            raise IndexError(f"squeeze: dim {dims} is out of range for a 0-d tensor")
        return x
    return new(lib.sf_squeeze, x._h, int64s(dims), len(dims))


def unsqueeze(input, dim):
    x = tensor_of(input)
    return new(lib.sf_unsqueeze, x._h, int(dim))


def flip(input, dims):
    dims = dims_of(dims)
    x = tensor_of(input)
    return new(lib.sf_flip, x._h, int64s(dims), len(dims))


def slice_along(x, dim, start, stop, step=1):
    return new(lib.sf_slice, x._h, dim, start, stop, step)


def narrow(input, dim, start, length):
    x = tensor_of(input)
    dim = dim_of(dim, x.ndim, "narrow")
    if not x.ndim:
        raise IndexError("narrow: a 0-d tensor cannot be narrowed")
    size = x.shape[dim]
    start = int(start)
    if start < 0:
        start += size
    if start < 0 or start + length > size or length < 0:
        raise IndexError(f"narrow: start {start} + length {length} exceeds dim {dim} of size {size}")
    return slice_along(x, dim, start, start + int(length))


def select(input, dim, index):
    """input[..., index, ...] along `dim` (the dim is removed)."""
    x = tensor_of(input)
    ndim = x.ndim
    if not -ndim <= dim < ndim:
        raise IndexError(f"dim {dim} is out of range for a tensor of {ndim} dims")
    dim %= ndim
    size = x.shape[dim]
    i = int(index)
    if not -size <= i < size:
        raise IndexError(f"index {i} is out of range for dim {dim} of size {size}")
    if i < 0:
        i += size
    return squeeze(slice_along(x, dim, i, i + 1), dim)


def split(tensor, split_size_or_sections, dim=0):
    x = tensor_of(tensor)
    dim = dim_of(dim, x.ndim, "split")
    if not x.ndim:
        raise IndexError("split: a 0-d tensor cannot be split")
    size = x.shape[dim]
    if isinstance(split_size_or_sections, (numbers.Integral, np.integer)):
        step = int(split_size_or_sections)
        if step <= 0:
            raise ValueError("split_size must be positive")
        sections = [builtins.min(step, size - s) for s in range(0, size, step)] or [0]
    else:
        sections = [int(s) for s in split_size_or_sections]
        if builtins.sum(sections) != size:
            raise ValueError(f"split sections {sections} do not add up to size {size} of dim {dim}")
    pieces, start = [], 0
    for length in sections:
        pieces.append(slice_along(x, dim, start, start + length))
        start += length
    return tuple(pieces)


def chunk(input, chunks, dim=0):
    x = tensor_of(input)
    if int(chunks) <= 0:
        raise ValueError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    dim = dim_of(dim, x.ndim, "chunk")
    size = x.shape[dim] if x.ndim else 0
    return split(x, builtins.max(1, -(-size // int(chunks))), dim)


def unbind(input, dim=0):
    x = tensor_of(input)
    dim = dim_of(dim, x.ndim, "unbind")
    if not x.ndim:
        raise IndexError("unbind: a 0-d tensor has no dim to unbind")
    return tuple(select(x, dim, i) for i in range(x.shape[dim]))


def cat(tensors, dim=0):
    """Concatenation along `dim` (dtypes promote)."""
    tensors = [tensor_of(x) for x in tensors]
    return new(lib.sf_cat, _capi.handles(tensors), len(tensors), int(dim))


concat = concatenate = cat


def stack(tensors, dim=0):
    """Stacking of equally shaped tensors along a new dim."""
    tensors = [tensor_of(x) for x in tensors]
    return new(lib.sf_stack, _capi.handles(tensors), len(tensors), int(dim))


def hstack(tensors):
    tensors = [tensor_of(x) for x in tensors]
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors):
    return cat([x if x.ndim > 1 else unsqueeze(x, 0) for x in map(tensor_of, tensors)], 0)

