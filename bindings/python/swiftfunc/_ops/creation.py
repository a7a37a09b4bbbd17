"""Creation from shapes and ranges (zeros, ones, full, arange, eye, linspace and their *_like forms), and
the rest of torch's "Tensors" section (is_tensor, is_floating_point, numel).

Each accepts torch's `device` argument: the CPU ('cpu', 'cpu:0', None) is the only device; any other
raises DeviceError naming it. `requires_grad` is accepted and ignored (derivatives come from the
transforms, see swiftfunc.func).
"""
import builtins
import numbers

import numpy as np

from .. import _device
from .._capi import int64s, lib
from .._tensor import Tensor, as_dtype, bool_, default_float, int64, new
from .conversion import shape_of

__all__ = ["zeros", "ones", "empty", "full", "zeros_like", "ones_like", "empty_like", "full_like", "arange", "eye",
           "linspace", "is_tensor", "is_floating_point", "numel"]


def creation_dtype(dtype, device, default=default_float):
    """The dtype of a new tensor (`default` when dtype is None), after checking that `device` is the CPU."""
    _device.check(device)
    return default if dtype is None else as_dtype(dtype)


def zeros(*size, dtype=None, device=None, requires_grad=False):
    shape = shape_of(size)
    return new(lib.sf_zeros, int64s(shape), len(shape), creation_dtype(dtype, device).code)


def ones(*size, dtype=None, device=None, requires_grad=False):
    shape = shape_of(size)
    return new(lib.sf_ones, int64s(shape), len(shape), creation_dtype(dtype, device).code)


empty = zeros


def _fill_dtype(value):
    if isinstance(value, (bool, np.bool_)):
        return bool_
    if isinstance(value, (numbers.Integral, np.integer)):
        return int64
    return default_float


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False):
    shape = shape_of((size,))
    d = creation_dtype(dtype, device, _fill_dtype(fill_value))
    return new(lib.sf_full, int64s(shape), len(shape), float(fill_value), d.code)


def zeros_like(input, *, dtype=None, device=None, requires_grad=False):
    return zeros(input.shape, dtype=dtype or input.dtype, device=device)


def ones_like(input, *, dtype=None, device=None, requires_grad=False):
    return ones(input.shape, dtype=dtype or input.dtype, device=device)


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False):
    return full(input.shape, fill_value, dtype=dtype or input.dtype, device=device)


empty_like = zeros_like


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False):
    """Values from start (default 0) up to end, exclusive, by step (torch.arange); int64 for integer bounds."""
    if end is None:
        start, end = 0, start
    integral = builtins.all(isinstance(v, (numbers.Integral, np.integer)) for v in (start, end, step))
    d = creation_dtype(dtype, device, int64 if integral else default_float)
    return new(lib.sf_arange, float(start), float(end), float(step), d.code)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False):
    return new(lib.sf_eye, int(n), int(n if m is None else m), creation_dtype(dtype, device).code)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False):
    return new(lib.sf_linspace, float(start), float(end), int(steps), creation_dtype(dtype, device).code)


# -------------------------------------------------------------------------------------------------
# torch's other "Tensors" functions
# -------------------------------------------------------------------------------------------------


def is_tensor(obj):
    return isinstance(obj, Tensor)


def is_floating_point(input):
    return input.dtype.is_floating_point


def numel(input):
    return input.numel()
