"""Reductions over dims (sum, mean, amax, argmax, var, std, logsumexp, all, any, ...), softmax and
log_softmax along a dim, and the comparisons that reduce to one bool (equal, allclose).

`dim` is an int, a tuple of ints, or None for all dims; keepdim keeps the reduced dims with size 1.
"""
import collections

import numpy as np

from .._capi import int64s, lib
from .._tensor import Tensor, as_dtype, bool_, new
from .conversion import cast, dims_of, tensor_of
from .pointwise import eq, logical_not, maximum, minimum, ne

__all__ = ["sum", "prod", "mean", "amax", "amin", "argmax", "argmin", "max", "min", "var", "std", "logsumexp", "all",
           "any", "softmax", "log_softmax", "equal", "allclose"]


def _input(input, dtype):
    """input as a Tensor of `dtype` (torch's dtype argument of reductions: the input is cast first)."""
    x = tensor_of(input)
    return x if dtype is None else cast(x, as_dtype(dtype))


def _reduction(name):
    cfn = getattr(lib, "sf_" + name)

    def op(input, dim=None, keepdim=False, *, dtype=None):
        dims = dims_of(dim)
        x = _input(input, dtype)
        return new(cfn, x._h, int64s(dims), len(dims), bool(keepdim))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"torch.{name} over `dim` (an int, a tuple, or None for all dims), keeping them with keepdim."
    return op


sum = _reduction("sum")
prod = _reduction("prod")
mean = _reduction("mean")
amax = _reduction("amax")
amin = _reduction("amin")
logsumexp = _reduction("logsumexp")
_argmax = _reduction("argmax")
_argmin = _reduction("argmin")


def argmax(input, dim=None, keepdim=False):
    """The flat index of the largest value, or the indices along `dim` (torch.argmax)."""
    return _argmax(input, dim, keepdim)


def argmin(input, dim=None, keepdim=False):
    return _argmin(input, dim, keepdim)


values_indices = collections.namedtuple("values_indices", ["values", "indices"])


def _extreme(values, indices, elementwise, input, dim, keepdim):
    if dim is None:
        return values(input)
    if isinstance(dim, Tensor):
        return elementwise(input, dim)
    return values_indices(values(input, dim, keepdim), indices(input, dim, keepdim))


def max(input, dim=None, keepdim=False):
    """torch.max: the largest value; with an int dim, (values, indices); with a tensor, elementwise maximum."""
    return _extreme(amax, _argmax, maximum, input, dim, keepdim)


def min(input, dim=None, keepdim=False):
    """torch.min: the smallest value; with an int dim, (values, indices); with a tensor, elementwise minimum."""
    return _extreme(amin, _argmin, minimum, input, dim, keepdim)


def _correction(unbiased, correction):
    if correction is not None:
        return int(correction)
    if unbiased is None:
        return 1
    return 1 if unbiased else 0


def _spread(cfn, input, dim, unbiased, keepdim, correction):
    if isinstance(dim, bool):  # torch's var(input, unbiased)
        dim, unbiased = None, dim
    dims = dims_of(dim)
    x = tensor_of(input)
    return new(cfn, x._h, int64s(dims), len(dims), _correction(unbiased, correction), bool(keepdim))


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Variance over dim with `correction` (1, unbiased, by default; unbiased=False is correction 0)."""
    return _spread(lib.sf_var, input, dim, unbiased, keepdim, correction)


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Standard deviation: sqrt(var)."""
    return _spread(lib.sf_std, input, dim, unbiased, keepdim, correction)


def all(input, dim=None, keepdim=False):
    """Whether every element over `dim` is nonzero (True over no elements, as torch)."""
    # Counting the zeros also serves reductions over no elements, with the result's shape (amin has
    # no identity there).
    return eq(sum(logical_not(input), dim, keepdim), 0)


def any(input, dim=None, keepdim=False):
    """Whether some element over `dim` is nonzero (False over no elements, as torch)."""
    return ne(sum(cast(tensor_of(input), bool_), dim, keepdim), 0)


def softmax(input, dim, dtype=None):
    x = _input(input, dtype)
    return new(lib.sf_softmax, x._h, int(dim))


def log_softmax(input, dim, dtype=None):
    x = _input(input, dtype)
    return new(lib.sf_log_softmax, x._h, int(dim))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return bool(np.allclose(tensor_of(input)._copy_values(), tensor_of(other)._copy_values(), rtol=rtol, atol=atol,
                            equal_nan=equal_nan))


def equal(input, other):
    a, b = tensor_of(input), tensor_of(other)
    return a.shape == b.shape and bool(all(eq(a, b)))
