"""Tensor ops under torch's names: creation, elementwise, reductions, movement, indexing, contraction.

Each op is written once, as a function taking the tensor first (torch.sin(x)); `_attach_methods`
at the bottom makes the same functions Tensor methods (x.sin()) and operators (x + 1), as torch does.
Python scalars mix with tensors as in torch: a float takes the tensor's float dtype (float32 with an
integer tensor), an int keeps an integer tensor's dtype (through sf_scalar, the weakly typed scalar,
or a 0-d tensor of the tensor's dtype).
"""
import builtins
import collections
import math
import numbers

import numpy as np

from . import _capi, _dlpack
from ._capi import int64s, lib
from ._tensor import (Tensor, as_dtype, bool_, default_float, dtype_of_numpy, float32, float64, from_numpy_copy,
                      int32, int64, new, wrap)

_INT64_MAX = 2 ** 63 - 1

# -------------------------------------------------------------------------------------------------
# Conversions
# -------------------------------------------------------------------------------------------------


def _is_scalar(value):
    return isinstance(value, (numbers.Number, np.bool_)) and not isinstance(value, Tensor)


# Python scalars become 0-d tensors; tensors are immutable, so the common ones are made once and reused
# (a scalar operand then costs a dict lookup instead of a second library call).
_constants = {}


def _constant(key, make):
    t = _constants.get(key)
    if t is None:
        if len(_constants) >= 1024:
            _constants.clear()
        t = _constants[key] = make()
    return t


def _scalar(value):
    """A weakly typed 0-d tensor (sf_scalar): it takes the other operand's float dtype."""
    value = float(value)
    # copysign tells -0.0 from 0.0, which compare (and hash) equal
    return _constant(("weak", value, math.copysign(1.0, value)), lambda: new(lib.sf_scalar, value))


def _full0(value, d):
    value = float(value)
    return _constant((d.code, value, math.copysign(1.0, value)), lambda: new(lib.sf_full, None, 0, value, d.code))


def _operand(value, like):
    """`value` as a Tensor to combine with the Tensor `like`, or None when it is not convertible."""
    if isinstance(value, Tensor):
        return value
    if type(value) is float:  # the common case first: ABC isinstance checks below cost more than the op
        return _scalar(value)
    if isinstance(value, (bool, np.bool_)):
        return _full0(value, bool_)
    if isinstance(value, (numbers.Integral, np.integer)):
        d = like.dtype
        if d.is_floating_point:
            return _scalar(value)
        return _full0(value, int64 if d is bool_ else d)
    if isinstance(value, (numbers.Real, np.floating)):
        return _scalar(value)
    if isinstance(value, (np.ndarray, list, tuple)) or hasattr(value, "__dlpack__"):
        return asarray(value)
    return None


def _pair(a, b):
    """Two operands as Tensors (at least one of them must be a Tensor or array-like)."""
    if isinstance(a, Tensor):
        other = _operand(b, a)
        if other is None:
            raise TypeError(f"expected a Tensor or a number, got {type(b).__name__}")
        return a, other
    if isinstance(b, Tensor):
        first = _operand(a, b)
        if first is None:
            raise TypeError(f"expected a Tensor or a number, got {type(a).__name__}")
        return first, b
    a = asarray(a)
    return _pair(a, b)


def _t(value):
    """`value` as a Tensor (Tensors pass through; anything else via asarray)."""
    return value if isinstance(value, Tensor) else asarray(value)


def _dims(dim):
    """A reduction's dims as a tuple: None (all) -> ()."""
    if dim is None:
        return ()
    if isinstance(dim, (numbers.Integral, np.integer)):
        return (int(dim),)
    return tuple(int(d) for d in dim)


def _shape_args(args, name="size"):
    """torch's varargs shapes: f(2, 3), f((2, 3)), f([2, 3]), f(())."""
    if len(args) == 1 and not isinstance(args[0], (numbers.Integral, np.integer)):
        args = args[0]
    try:
        return tuple(int(s) for s in args)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of ints, got {args!r}") from None


# -------------------------------------------------------------------------------------------------
# Creation
# -------------------------------------------------------------------------------------------------


def _python_dtype(array):
    """The dtype torch gives Python data that numpy read as `array`."""
    kind = array.dtype.kind
    if kind == "b":
        return bool_
    if kind in "iu":
        return int64
    if kind == "f":
        return default_float
    raise TypeError(f"cannot make a tensor from data of numpy dtype {array.dtype}")


def tensor(data, *, dtype=None, device=None, requires_grad=False):
    """A new tensor holding a copy of `data` (Python numbers, nested lists, numpy arrays or tensors)."""
    if isinstance(data, Tensor):
        result = clone(data)
        return result.to(dtype) if dtype is not None else result
    if isinstance(data, np.ndarray) or isinstance(data, np.generic):
        array = np.asarray(data)
        d = as_dtype(dtype) if dtype is not None else dtype_of_numpy(array.dtype)
    elif hasattr(data, "__dlpack__"):
        return clone(from_dlpack(data)).to(dtype) if dtype is not None else clone(from_dlpack(data))
    else:
        if isinstance(data, (list, tuple)) and builtins.any(isinstance(x, Tensor) for x in _walk(data)):
            data = _lists_of_values(data)
        array = np.asarray(data)
        d = as_dtype(dtype) if dtype is not None else _python_dtype(array)
    return from_numpy_copy(array.astype(d.numpy, copy=False))


def _walk(data):
    for x in data:
        if isinstance(x, (list, tuple)):
            yield from _walk(x)
        else:
            yield x


def _lists_of_values(data):
    if isinstance(data, Tensor):
        return data.tolist()
    if isinstance(data, (list, tuple)):
        return [_lists_of_values(x) for x in data]
    return data


def from_dlpack(ext_tensor, *, device=None, copy=None):
    """A tensor viewing the memory of any DLPack producer (numpy, torch, jax, ...) or capsule, zero-copy.

    Non-contiguous, negatively strided and read-only inputs are viewed as they are; swiftfunc never writes
    into them. copy=True makes an independent copy.
    """
    if isinstance(ext_tensor, Tensor):
        return clone(ext_tensor) if copy else ext_tensor
    if device not in (None, "cpu"):
        raise BufferError(f"swiftfunc only has the CPU device, not {device!r}")
    result = wrap(_dlpack.import_object(ext_tensor))
    return clone(result) if copy else result


def asarray(obj, *, dtype=None, copy=None, device=None):
    """`obj` as a Tensor, sharing memory when possible (tensors, DLPack producers, numpy arrays, buffers),
    else a new tensor from Python data (array API / torch.asarray)."""
    d = as_dtype(dtype) if dtype is not None else None
    if isinstance(obj, Tensor):
        result = clone(obj) if copy else obj
    elif _dlpack.is_capsule(obj) or hasattr(obj, "__dlpack__"):
        if isinstance(obj, np.ndarray) and (obj.dtype not in (np.float32, np.float64, np.int32, np.int64, np.bool_)
                                            or not obj.dtype.isnative):
            if copy is False:
                raise BufferError(f"numpy {obj.dtype} cannot be shared without a copy")
            return tensor(obj, dtype=d or dtype_of_numpy(obj.dtype.newbyteorder("=")))
        result = from_dlpack(obj, copy=copy)
    elif isinstance(obj, memoryview) or hasattr(obj, "__array_interface__"):
        result = from_dlpack(np.asarray(obj), copy=copy)
    else:
        if copy is False:
            raise ValueError("copy=False: Python data cannot be shared without a copy")
        return tensor(obj, dtype=d)
    if d is not None and d is not result.dtype:
        if copy is False:
            raise ValueError(f"copy=False: converting {result.dtype} to {d} needs a copy")
        result = result.to(d)
    return result


as_tensor = asarray


def _creation_dtype(dtype, default=None):
    return as_dtype(dtype) if dtype is not None else (default or default_float)


def zeros(*size, dtype=None, device=None, requires_grad=False):
    shape = _shape_args(size)
    return new(lib.sf_zeros, int64s(shape), len(shape), _creation_dtype(dtype).code)


def ones(*size, dtype=None, device=None, requires_grad=False):
    shape = _shape_args(size)
    return new(lib.sf_ones, int64s(shape), len(shape), _creation_dtype(dtype).code)


empty = zeros


def _fill_dtype(value):
    if isinstance(value, (bool, np.bool_)):
        return bool_
    if isinstance(value, (numbers.Integral, np.integer)):
        return int64
    return default_float


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False):
    shape = _shape_args((size,))
    d = as_dtype(dtype) if dtype is not None else _fill_dtype(fill_value)
    return new(lib.sf_full, int64s(shape), len(shape), float(fill_value), d.code)


def zeros_like(input, *, dtype=None, device=None, requires_grad=False):
    return zeros(input.shape, dtype=dtype or input.dtype)


def ones_like(input, *, dtype=None, device=None, requires_grad=False):
    return ones(input.shape, dtype=dtype or input.dtype)


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False):
    return full(input.shape, fill_value, dtype=dtype or input.dtype)


empty_like = zeros_like


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False):
    """Values from start (default 0) up to end, exclusive, by step (torch.arange); int64 for integer bounds."""
    if end is None:
        start, end = 0, start
    values = (start, end, step)
    if dtype is None:
        dtype = int64 if builtins.all(isinstance(v, (numbers.Integral, np.integer)) for v in values) else default_float
    return new(lib.sf_arange, float(start), float(end), float(step), as_dtype(dtype).code)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False):
    return new(lib.sf_eye, int(n), int(n if m is None else m), _creation_dtype(dtype).code)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False):
    return new(lib.sf_linspace, float(start), float(end), int(steps), _creation_dtype(dtype).code)


def manual_seed(seed):
    """Reseeds the process-wide generator (Philox) and resets its counter."""
    lib.sf_manual_seed(int(seed) & (2 ** 64 - 1))


seed = manual_seed


def rand(*size, dtype=None, device=None, requires_grad=False, generator=None):
    shape = _shape_args(size)
    return new(lib.sf_rand, int64s(shape), len(shape), _creation_dtype(dtype).code)


def randn(*size, dtype=None, device=None, requires_grad=False, generator=None):
    shape = _shape_args(size)
    return new(lib.sf_randn, int64s(shape), len(shape), _creation_dtype(dtype).code)


def rand_like(input, *, dtype=None):
    return rand(input.shape, dtype=dtype or input.dtype)


def randn_like(input, *, dtype=None):
    return randn(input.shape, dtype=dtype or input.dtype)


def randint(low=0, high=None, size=None, *, dtype=None, device=None, requires_grad=False, generator=None):
    """Integers uniform in [low, high) of `size` (torch.randint(high, size) or randint(low, high, size))."""
    if size is None:
        low, high, size = 0, low, high
    u = rand(_shape_args((size,)), dtype=float64)
    return floor(u * float(high - low) + float(low)).to(dtype or int64)


def bernoulli(input, p=None, *, generator=None):
    """1 with probability input (or p) elementwise, else 0 (torch.bernoulli)."""
    probabilities = input if p is None else full_like(input, p)
    return new(lib.sf_bernoulli, probabilities._h)


# -------------------------------------------------------------------------------------------------
# Elementwise
# -------------------------------------------------------------------------------------------------


def _unary(name):
    cfn = getattr(lib, "sf_" + name)

    def op(input):
        return new(cfn, _t(input)._h)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"torch.{name}: elementwise {name} (sf_{name})."
    return op


neg = _unary("neg")
exp = _unary("exp")
log = _unary("log")
log1p = _unary("log1p")
expm1 = _unary("expm1")
sin = _unary("sin")
cos = _unary("cos")
tan = _unary("tan")
tanh = _unary("tanh")
sigmoid = _unary("sigmoid")
sqrt = _unary("sqrt")
rsqrt = _unary("rsqrt")
abs = _unary("abs")
sign = _unary("sign")
relu = _unary("relu")
floor = _unary("floor")
ceil = _unary("ceil")
round = _unary("round")
silu = _unary("silu")
negative = neg
absolute = abs


def gelu(input, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
    return new(lib.sf_gelu, _t(input)._h, approximate == "tanh")


def _binary(name):
    cfn = getattr(lib, "sf_" + name)

    def op(input, other):
        a, b = _pair(input, other)
        return new(cfn, a._h, b._h)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"torch.{name}: elementwise, broadcasting and promoting (sf_{name})."
    return op


_add = _binary("add")
_sub = _binary("sub")
mul = _binary("mul")
_div = _binary("div")
pow = _binary("pow")
maximum = _binary("maximum")
minimum = _binary("minimum")
atan2 = _binary("atan2")
lt = _binary("lt")
le = _binary("le")
gt = _binary("gt")
ge = _binary("ge")
eq = _binary("eq")
ne = _binary("ne")
multiply = mul
arctan2 = atan2
less, less_equal, greater, greater_equal, not_equal = lt, le, gt, ge, ne


def add(input, other, *, alpha=1):
    """input + alpha * other."""
    return _add(input, other if alpha == 1 else mul(other, alpha))


def sub(input, other, *, alpha=1):
    """input - alpha * other."""
    return _sub(input, other if alpha == 1 else mul(other, alpha))


subtract = sub


def div(input, other, *, rounding_mode=None):
    """True division (rounding_mode None), or rounded toward zero ('trunc') or down ('floor')."""
    result = _div(input, other)
    if rounding_mode is None:
        return result
    a, b = _pair(input, other)
    if rounding_mode == "floor":
        result = floor(result)
    elif rounding_mode == "trunc":
        result = where(result < 0, ceil(result), floor(result))
    else:
        raise ValueError(f"rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")
    if not a.dtype.is_floating_point and not b.dtype.is_floating_point:
        result = result.to(_promote_int(a.dtype, b.dtype))
    return result


divide = true_divide = div


def _promote_int(a, b):
    order = [bool_, int32, int64]
    return order[builtins.max(order.index(a), order.index(b))]


def floor_divide(input, other):
    return div(input, other, rounding_mode="floor")


def remainder(input, other):
    """input - floor(input / other) * other (Python's %)."""
    a, b = _pair(input, other)
    return _sub(a, mul(floor_divide(a, b), b))


def square(input):
    return mul(input, input)


def reciprocal(input):
    return _div(1.0, _t(input))


def clamp(input, min=None, max=None):
    """input limited to [min, max] (either bound may be None; bounds may be tensors)."""
    result = _t(input)
    if min is not None:
        result = maximum(result, min)
    if max is not None:
        result = minimum(result, max)
    return result


clip = clamp


def where(condition, input=None, other=None):
    """Elementwise condition ? input : other, broadcasting (scalars allowed for input/other)."""
    if input is None and other is None:
        raise NotImplementedError("where(condition) (the indices of nonzero entries) is not supported")
    condition = _t(condition)
    if condition.dtype is not bool_:
        condition = condition.to(bool_)
    a, b = _pair(input, other)
    return new(lib.sf_where, condition._h, a._h, b._h)


def logical_not(input):
    return eq(_t(input).to(bool_), False)


def logical_and(input, other):
    a, b = _pair(input, other)
    return mul(a.to(bool_), b.to(bool_))


def logical_or(input, other):
    a, b = _pair(input, other)
    return _add(a.to(bool_), b.to(bool_))


def logical_xor(input, other):
    a, b = _pair(input, other)
    return ne(a.to(bool_), b.to(bool_))


def isnan(input):
    x = _t(input)
    return ne(x, x)


def isinf(input):
    x = _t(input)
    if not x.dtype.is_floating_point:
        return zeros(x.shape, dtype=bool_)
    return eq(abs(x), float("inf"))


def isfinite(input):
    x = _t(input)
    if not x.dtype.is_floating_point:
        return ones(x.shape, dtype=bool_)
    return lt(abs(x), float("inf"))


def log2(input):
    return _div(log(input), float(np.log(2.0)))


def log10(input):
    return _div(log(input), float(np.log(10.0)))


# -------------------------------------------------------------------------------------------------
# Reductions
# -------------------------------------------------------------------------------------------------


def _reduction(name):
    cfn = getattr(lib, "sf_" + name)

    def op(input, dim=None, keepdim=False, *, dtype=None):
        x = _t(input)
        if dtype is not None:
            x = x.to(dtype)
        dims = _dims(dim)
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


def max(input, dim=None, keepdim=False):
    """torch.max: the largest value; with an int dim, (values, indices); with a tensor, elementwise maximum."""
    if dim is None:
        return amax(input)
    if isinstance(dim, Tensor):
        return maximum(input, dim)
    return values_indices(amax(input, dim, keepdim), _argmax(input, dim, keepdim))


def min(input, dim=None, keepdim=False):
    """torch.min: the smallest value; with an int dim, (values, indices); with a tensor, elementwise minimum."""
    if dim is None:
        return amin(input)
    if isinstance(dim, Tensor):
        return minimum(input, dim)
    return values_indices(amin(input, dim, keepdim), _argmin(input, dim, keepdim))


def _correction(unbiased, correction):
    if correction is not None:
        return int(correction)
    if unbiased is None:
        return 1
    return 1 if unbiased else 0


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Variance over dim with `correction` (1, unbiased, by default; unbiased=False is correction 0)."""
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    dims = _dims(dim)
    return new(lib.sf_var, _t(input)._h, int64s(dims), len(dims), _correction(unbiased, correction), bool(keepdim))


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Standard deviation: sqrt(var)."""
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    dims = _dims(dim)
    return new(lib.sf_std, _t(input)._h, int64s(dims), len(dims), _correction(unbiased, correction), bool(keepdim))


def all(input, dim=None, keepdim=False):
    return amin(_t(input).to(bool_), dim, keepdim) if _t(input).numel() else ones((), dtype=bool_)


def any(input, dim=None, keepdim=False):
    return amax(_t(input).to(bool_), dim, keepdim) if _t(input).numel() else zeros((), dtype=bool_)


def softmax(input, dim, dtype=None):
    x = _t(input) if dtype is None else _t(input).to(dtype)
    return new(lib.sf_softmax, x._h, int(dim))


def log_softmax(input, dim, dtype=None):
    x = _t(input) if dtype is None else _t(input).to(dtype)
    return new(lib.sf_log_softmax, x._h, int(dim))


# -------------------------------------------------------------------------------------------------
# Movement
# -------------------------------------------------------------------------------------------------


def reshape(input, *shape):
    """input with a new shape (one entry may be -1); a view when the data allows, else a copy."""
    shape = _shape_args(shape, "shape")
    return new(lib.sf_reshape, _t(input)._h, int64s(shape), len(shape))


view = reshape


def view_as(input, other):
    return reshape(input, other.shape)


reshape_as = view_as


def flatten(input, start_dim=0, end_dim=-1):
    x = _t(input)
    shape = x.shape
    if not shape:
        return reshape(x, (1,))
    start = start_dim % len(shape)
    end = end_dim % len(shape)
    if start > end:
        raise ValueError("flatten: start_dim cannot come after end_dim")
    size = 1
    for s in shape[start:end + 1]:
        size *= s
    return reshape(x, shape[:start] + (size,) + shape[end + 1:])


def unflatten(input, dim, sizes):
    x = _t(input)
    shape = x.shape
    d = dim % len(shape)
    return reshape(x, shape[:d] + tuple(sizes) + shape[d + 1:])


def permute(input, *dims):
    dims = _shape_args(dims, "dims")
    return new(lib.sf_permute, _t(input)._h, int64s(dims), len(dims))


def transpose(input, dim0, dim1):
    return new(lib.sf_transpose, _t(input)._h, int(dim0), int(dim1))


swapaxes = swapdims = transpose


def t(input):
    """The transpose of a tensor of at most 2 dims (torch.t)."""
    x = _t(input)
    if x.ndim > 2:
        raise ValueError(f"t() expects a tensor with <= 2 dimensions, but input is {x.ndim}-D")
    return x if x.ndim < 2 else transpose(x, 0, 1)


def movedim(input, source, destination):
    x = _t(input)
    n = x.ndim
    source = [s % n for s in _dims(source)]
    destination = [d % n for d in _dims(destination)]
    if len(source) != len(destination):
        raise ValueError("movedim: source and destination must have the same number of dims")
    order = [d for d in range(n) if d not in source]
    for d, s in sorted(zip(destination, source)):
        order.insert(d, s)
    return permute(x, order)


moveaxis = movedim


def expand(input, *sizes):
    """input broadcast to `sizes` (-1 keeps a dim); a view."""
    sizes = _shape_args(sizes)
    return new(lib.sf_expand, _t(input)._h, int64s(sizes), len(sizes))


def broadcast_to(input, shape):
    return expand(input, shape)


def expand_as(input, other):
    return expand(input, other.shape)


def broadcast_tensors(*tensors):
    shape = np.broadcast_shapes(*[_t(x).shape for x in tensors])
    return tuple(expand(x, shape) for x in tensors)


def squeeze(input, dim=None):
    """input without size-1 dims: all of them, or those among `dim` (an int or tuple)."""
    x = _t(input)
    dims = _dims(dim)
    if dim is not None and not dims:
        return x
    if dims and x.ndim == 0:
        if builtins.any(d not in (0, -1) for d in dims):
            raise IndexError(f"squeeze: dim {dims} is out of range for a 0-d tensor")
        return x
    return new(lib.sf_squeeze, x._h, int64s(dims), len(dims))


def unsqueeze(input, dim):
    return new(lib.sf_unsqueeze, _t(input)._h, int(dim))


def flip(input, dims):
    dims = _dims(dims)
    return new(lib.sf_flip, _t(input)._h, int64s(dims), len(dims))


def _slice(x, dim, start, stop, step=1):
    return new(lib.sf_slice, x._h, dim, start, stop, step)


def narrow(input, dim, start, length):
    x = _t(input)
    size = x.shape[dim]
    start = int(start)
    if start < 0:
        start += size
    if start < 0 or start + length > size or length < 0:
        raise IndexError(f"narrow: start {start} + length {length} exceeds dim {dim} of size {size}")
    return _slice(x, dim, start, start + int(length))


def select(input, dim, index):
    """input[..., index, ...] along `dim` (the dim is removed)."""
    x = _t(input)
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
    return squeeze(_slice(x, dim, i, i + 1), dim)


def split(tensor, split_size_or_sections, dim=0):
    x = _t(tensor)
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
        pieces.append(_slice(x, dim, start, start + length))
        start += length
    return tuple(pieces)


def chunk(input, chunks, dim=0):
    size = _t(input).shape[dim]
    return split(input, builtins.max(1, -(-size // int(chunks))), dim)


def unbind(input, dim=0):
    x = _t(input)
    return tuple(select(x, dim, i) for i in range(x.shape[dim]))


def cat(tensors, dim=0):
    """Concatenation along `dim` (dtypes promote)."""
    tensors = [_t(x) for x in tensors]
    return new(lib.sf_cat, _capi.handles(tensors), len(tensors), int(dim))


concat = concatenate = cat


def stack(tensors, dim=0):
    """Stacking of equally shaped tensors along a new dim."""
    tensors = [_t(x) for x in tensors]
    return new(lib.sf_stack, _capi.handles(tensors), len(tensors), int(dim))


def hstack(tensors):
    tensors = [_t(x) for x in tensors]
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors):
    return cat([x if x.ndim > 1 else unsqueeze(x, 0) for x in map(_t, tensors)], 0)


def detach(input):
    """input cut off from differentiation (a view)."""
    return new(lib.sf_detach, _t(input)._h)


def clone(input):
    """A new tensor with input's values (fresh storage; differentiable like the identity)."""
    x = _t(input)
    return mul(x, _full0(1, x.dtype))


def _to(input, *args, dtype=None, **kwargs):
    """x.to(dtype) (devices other than 'cpu' are refused); a cast to the same dtype returns x."""
    target = dtype
    for a in args:
        if isinstance(a, Tensor):
            target = a.dtype
        elif a not in ("cpu", None) and not (isinstance(a, str) and a.startswith("cpu")):
            target = a
    if target is None:
        return input
    d = as_dtype(target)
    if d is input.dtype:
        return input
    return new(lib.sf_cast, input._h, d.code)


# -------------------------------------------------------------------------------------------------
# Contraction, indexing
# -------------------------------------------------------------------------------------------------


def matmul(input, other):
    """torch.matmul: dot, matrix-vector, matrix-matrix and batched products (float dtypes)."""
    return new(lib.sf_matmul, _t(input)._h, _t(other)._h)


def mm(input, mat2):
    if _t(input).ndim != 2 or _t(mat2).ndim != 2:
        raise ValueError("mm expects two 2-D tensors")
    return matmul(input, mat2)


def bmm(input, mat2):
    if _t(input).ndim != 3 or _t(mat2).ndim != 3:
        raise ValueError("bmm expects two 3-D tensors")
    return matmul(input, mat2)


def mv(input, vec):
    return matmul(input, vec)


def dot(input, other):
    if _t(input).ndim != 1 or _t(other).ndim != 1:
        raise ValueError("dot expects two 1-D tensors")
    return matmul(input, other)


inner = dot


def outer(input, vec2):
    return mul(unsqueeze(input, 1), unsqueeze(vec2, 0))


ger = outer


def gather(input, dim, index):
    return new(lib.sf_gather, _t(input)._h, int(dim), _t(index)._h)


def index_select(input, dim, index):
    return new(lib.sf_index_select, _t(input)._h, int(dim), _t(index)._h)


def scatter_add(input, dim, index, src):
    return new(lib.sf_scatter_add, _t(input)._h, int(dim), _t(index)._h, _t(src)._h)


# -------------------------------------------------------------------------------------------------
# Misc
# -------------------------------------------------------------------------------------------------


def is_tensor(obj):
    return isinstance(obj, Tensor)


def is_floating_point(input):
    return input.dtype.is_floating_point


def numel(input):
    return input.numel()


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return bool(np.allclose(_t(input)._copy_values(), _t(other)._copy_values(), rtol=rtol, atol=atol,
                            equal_nan=equal_nan))


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    a, b = _pair(input, other)
    close = le(abs(_sub(a, b)), _add(atol, mul(rtol, abs(b))))
    if equal_nan:
        close = logical_or(close, logical_and(isnan(a), isnan(b)))
    return close


def equal(input, other):
    a, b = _t(input), _t(other)
    return a.shape == b.shape and bool(all(eq(a, b)))


# -------------------------------------------------------------------------------------------------
# Indexing with [] (ints, slices with positive steps, None, Ellipsis, integer/bool index tensors)
# -------------------------------------------------------------------------------------------------


def _getitem(self, index):
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
            step = 1 if item.step is None else int(item.step)
            if step <= 0:
                raise ValueError("step must be greater than zero")
            start = 0 if item.start is None else int(item.start)
            stop = _INT64_MAX if item.stop is None else int(item.stop)
            if (start, stop, step) != (0, _INT64_MAX, 1):
                x = _slice(x, dim, start, stop, step)
            dim += 1
        elif isinstance(item, (numbers.Integral, np.integer)) and not isinstance(item, (bool, np.bool_)):
            x = select(x, dim, item)
        elif isinstance(item, Tensor) and item.ndim == 0 and not item.dtype.is_floating_point \
                and item.dtype is not bool_:
            x = select(x, dim, item.item())
        elif isinstance(item, (Tensor, list, np.ndarray)):
            positions = _t(item)
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


# -------------------------------------------------------------------------------------------------
# Methods and operators on Tensor
# -------------------------------------------------------------------------------------------------


def _operator(cfn, reverse=False):
    def method(self, other):
        o = _operand(other, self)
        if o is None:
            return NotImplemented
        return new(cfn, o._h, self._h) if reverse else new(cfn, self._h, o._h)

    return method


def _reflected(fn):
    def method(self, other):
        o = _operand(other, self)
        if o is None:
            return NotImplemented
        return fn(o, self)

    return method


def _forward(fn):
    def method(self, other):
        o = _operand(other, self)
        if o is None:
            return NotImplemented
        return fn(self, o)

    return method


def _bool_only(fn, name):
    def method(self, other):
        o = _operand(other, self)
        if o is None:
            return NotImplemented
        if self.dtype is not bool_ or o.dtype is not bool_:
            raise TypeError(f"'{name}' is only supported between bool tensors in swiftfunc")
        return fn(self, o)

    return method


def _invert(self):
    if self.dtype is not bool_:
        raise TypeError("'~' is only supported on bool tensors in swiftfunc")
    return logical_not(self)


def _shape_method(fn):
    def method(self, *shape):
        return fn(self, *shape)

    method.__name__ = fn.__name__
    method.__doc__ = fn.__doc__
    return method


def _attach_methods():
    T = Tensor
    for name in ("neg", "exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh", "sigmoid", "sqrt", "rsqrt",
                 "abs", "sign", "relu", "floor", "ceil", "round", "negative", "absolute", "square", "reciprocal",
                 "clamp", "clip", "log2", "log10", "isnan", "isinf", "isfinite", "logical_not", "logical_and",
                 "logical_or", "logical_xor", "add", "sub", "subtract", "mul", "multiply", "div", "divide",
                 "true_divide", "floor_divide", "remainder", "pow", "maximum", "minimum", "atan2", "arctan2", "lt",
                 "le", "gt", "ge", "eq", "ne", "less", "less_equal", "greater", "greater_equal", "not_equal",
                 "sum", "prod", "mean", "amax", "amin", "argmax", "argmin", "max", "min", "var", "std", "logsumexp",
                 "all", "any", "softmax", "log_softmax", "view_as", "reshape_as", "flatten", "unflatten",
                 "transpose", "swapaxes", "swapdims", "t", "movedim", "moveaxis", "broadcast_to", "expand_as",
                 "squeeze", "unsqueeze", "flip", "narrow", "select", "split", "chunk", "unbind", "detach", "clone",
                 "matmul", "mm", "bmm", "mv", "dot", "inner", "outer", "gather", "index_select", "scatter_add",
                 "allclose", "isclose", "equal", "bernoulli"):
        setattr(T, name, globals()[name])
    for name in ("reshape", "view", "permute", "expand"):
        setattr(T, name, _shape_method(globals()[name]))
    T.to = _to
    T.where = lambda self, condition, other: where(condition, self, other)
    T.type = lambda self, dtype=None: self.dtype if dtype is None else _to(self, dtype)
    T.float = lambda self: _to(self, float32)
    T.double = lambda self: _to(self, float64)
    T.int = lambda self: _to(self, int32)
    T.long = lambda self: _to(self, int64)
    T.bool = lambda self: _to(self, bool_)
    T.cpu = lambda self: self
    T.contiguous = lambda self: self
    T.new_zeros = lambda self, *size, dtype=None: zeros(*size, dtype=dtype or self.dtype)
    T.new_ones = lambda self, *size, dtype=None: ones(*size, dtype=dtype or self.dtype)
    T.new_full = lambda self, size, fill_value, dtype=None: full(size, fill_value, dtype=dtype or self.dtype)
    T.new_tensor = lambda self, data, dtype=None: tensor(data, dtype=dtype or self.dtype)
    T.T = property(lambda self: permute(self, tuple(range(self.ndim - 1, -1, -1))),
                   doc="The dims reversed (the transpose of a matrix).")
    T.mT = property(lambda self: transpose(self, -2, -1), doc="The last two dims swapped.")
    T.__getitem__ = _getitem
    T.__add__, T.__radd__ = _operator(lib.sf_add), _operator(lib.sf_add, True)
    T.__sub__, T.__rsub__ = _operator(lib.sf_sub), _operator(lib.sf_sub, True)
    T.__mul__, T.__rmul__ = _operator(lib.sf_mul), _operator(lib.sf_mul, True)
    T.__truediv__, T.__rtruediv__ = _operator(lib.sf_div), _operator(lib.sf_div, True)
    T.__pow__, T.__rpow__ = _operator(lib.sf_pow), _operator(lib.sf_pow, True)
    T.__matmul__, T.__rmatmul__ = _operator(lib.sf_matmul), _operator(lib.sf_matmul, True)
    T.__floordiv__, T.__rfloordiv__ = _forward(floor_divide), _reflected(floor_divide)
    T.__mod__, T.__rmod__ = _forward(remainder), _reflected(remainder)
    T.__lt__, T.__le__ = _operator(lib.sf_lt), _operator(lib.sf_le)
    T.__gt__, T.__ge__ = _operator(lib.sf_gt), _operator(lib.sf_ge)
    T.__eq__, T.__ne__ = _operator(lib.sf_eq), _operator(lib.sf_ne)
    T.__and__ = T.__rand__ = _bool_only(logical_and, "&")
    T.__or__ = T.__ror__ = _bool_only(logical_or, "|")
    T.__xor__ = T.__rxor__ = _bool_only(logical_xor, "^")
    T.__invert__ = _invert
    T.__neg__ = neg
    T.__pos__ = lambda self: self
    T.__abs__ = abs
    T.__hash__ = object.__hash__


_attach_methods()
