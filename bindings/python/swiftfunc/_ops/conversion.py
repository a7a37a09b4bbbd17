"""Values becoming tensors, and tensors becoming other dtypes: the lowest layer of the ops.

`tensor`, `asarray` and `from_dlpack` turn Python data, numpy arrays and DLPack producers into Tensors;
the operand helpers (`tensor_of`, `operand`, `operand_pair`) apply torch's rules for Python scalars
mixed with tensors: a float takes the tensor's float dtype (float32 with an integer tensor), an int keeps
an integer tensor's dtype (through sf_scalar, the weakly typed scalar, or a 0-d tensor of the tensor's
dtype). `to` is Tensor.to with torch's argument forms (`parse_to`, shared with Module.to), `clone` and
`detach` the copies.
"""
import builtins
import math
import numbers

import numpy as np

from .. import _device, _dlpack
from .._capi import lib
from .._tensor import Tensor, as_dtype, bool_, default_float, dtype_of_numpy, from_numpy_copy, int64, new, wrap

__all__ = ["tensor", "asarray", "as_tensor", "from_numpy", "from_dlpack", "clone", "detach"]

# -------------------------------------------------------------------------------------------------
# Operands: Python scalars and array-likes next to tensors
# -------------------------------------------------------------------------------------------------

# Python scalars become 0-d tensors; tensors are immutable, so the common ones are made once and reused
# (a scalar operand then costs a dict lookup instead of a second library call).
_constants = {}


def _cached(key, make):
    t = _constants.get(key)
    if t is None:
        if len(_constants) >= 1024:
            _constants.clear()
        t = _constants[key] = make()
    return t


def weak_scalar(value):
    """A weakly typed 0-d tensor (sf_scalar): it takes the other operand's float dtype."""
    value = float(value)
    # copysign tells -0.0 from 0.0, which compare (and hash) equal
    return _cached(("weak", value, math.copysign(1.0, value)), lambda: new(lib.sf_scalar, value))


def scalar(value, d):
    """A 0-d tensor of dtype `d` holding `value`."""
    value = float(value)
    return _cached((d.code, value, math.copysign(1.0, value)), lambda: new(lib.sf_full, None, 0, value, d.code))


def operand(value, like):
    """`value` as a Tensor to combine with the Tensor `like`, or None when it is not convertible."""
    if isinstance(value, Tensor):
        return value
    if type(value) is float:  # the common case first: ABC isinstance checks below cost more than the op
        return weak_scalar(value)
    if isinstance(value, (bool, np.bool_)):
        return scalar(value, bool_)
    if isinstance(value, (numbers.Integral, np.integer)):
        d = like.dtype
        if d.is_floating_point:
            return weak_scalar(value)
        return scalar(value, int64 if d is bool_ else d)
    if isinstance(value, (numbers.Real, np.floating)):
        return weak_scalar(value)
    if isinstance(value, (np.ndarray, list, tuple)) or hasattr(value, "__dlpack__"):
        return asarray(value)
    return None


def operand_pair(a, b):
    """Two operands as Tensors (at least one of them must be a Tensor or array-like)."""
    if isinstance(a, Tensor):
        other = operand(b, a)
        if other is None:
            raise TypeError(f"expected a Tensor or a number, got {type(b).__name__}")
        return a, other
    if isinstance(b, Tensor):
        first = operand(a, b)
        if first is None:
            raise TypeError(f"expected a Tensor or a number, got {type(a).__name__}")
        return first, b
    return operand_pair(asarray(a), b)


def tensor_of(value):
    """`value` as a Tensor (Tensors pass through; anything else via asarray)."""
    return value if isinstance(value, Tensor) else asarray(value)


def dims_of(dim):
    """A reduction's dims as a tuple: None (all) -> ()."""
    if dim is None:
        return ()
    if isinstance(dim, (numbers.Integral, np.integer)):
        return (int(dim),)
    return tuple(int(d) for d in dim)


def shape_of(args, name="size"):
    """torch's varargs shapes: f(2, 3), f((2, 3)), f([2, 3]), f(())."""
    if len(args) == 1 and not isinstance(args[0], (numbers.Integral, np.integer)):
        args = args[0]
    try:
        return tuple(int(s) for s in args)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of ints, got {args!r}") from None


# -------------------------------------------------------------------------------------------------
# Tensors from Python data, numpy and DLPack
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
    _device.check(device)
    if isinstance(data, Tensor):
        d = data.dtype if dtype is None else as_dtype(dtype)
        return clone(data) if d is data.dtype else cast(data, d)
    if isinstance(data, np.ndarray) or isinstance(data, np.generic):
        array = np.asarray(data)
        d = as_dtype(dtype) if dtype is not None else dtype_of_numpy(array.dtype)
    elif hasattr(data, "__dlpack__"):
        return tensor(from_dlpack(data), dtype=dtype)
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
    into them. copy=True makes an independent copy. A device other than the CPU raises DeviceError (a
    BufferError, as the array API asks).
    """
    _device.check(device)
    if isinstance(ext_tensor, Tensor):
        return clone(ext_tensor) if copy else ext_tensor
    result = wrap(_dlpack.import_object(ext_tensor))
    return clone(result) if copy else result


def asarray(obj, *, dtype=None, copy=None, device=None):
    """`obj` as a Tensor, sharing memory when possible (tensors, DLPack producers, numpy arrays, buffers),
    else a new tensor from Python data (array API / torch.asarray)."""
    _device.check(device)
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
        result = cast(result, d)
    return result


def as_tensor(data, dtype=None, device=None):
    """torch.as_tensor: `data` as a Tensor, sharing memory when it can (tensors, numpy arrays, DLPack
    producers) and converted to `dtype` when one is given."""
    return asarray(data, dtype=dtype, device=device)


def from_numpy(ndarray):
    """torch.from_numpy: a tensor sharing the memory of a numpy array (float32/64, int32/64, bool).
    swiftfunc never writes into it; as with torch, writing into the array later changes the tensor."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"from_numpy(): expected np.ndarray (got {type(ndarray).__name__})")
    if ndarray.dtype not in (np.float32, np.float64, np.int32, np.int64, np.bool_) or not ndarray.dtype.isnative:
        raise TypeError(f"from_numpy(): can't convert np.ndarray of type {ndarray.dtype}; the supported types are: "
                        "float64, float32, int64, int32 and bool")
    return asarray(ndarray, copy=False)


# -------------------------------------------------------------------------------------------------
# Copies, dtypes and devices
# -------------------------------------------------------------------------------------------------


def clone(input):
    """A new tensor with input's values (fresh storage; differentiable like the identity)."""
    x = tensor_of(input)
    return new(lib.sf_mul, x._h, scalar(1, x.dtype)._h)


def detach(input):
    """input cut off from differentiation (a view)."""
    x = tensor_of(input)
    return new(lib.sf_detach, x._h)


def cast(x, d):
    """x as dtype `d` (x itself when it has it)."""
    return x if d is x.dtype else new(lib.sf_cast, x._h, d.code)


def _names_device(value):
    """Whether a positional argument of to() names a device rather than a dtype: a device, a torch.device,
    an int (torch's accelerator index) or a string that is no dtype name."""
    if isinstance(value, str):
        try:
            as_dtype(value)
        except TypeError:
            return True
        return False
    if isinstance(value, bool):
        return False
    return isinstance(value, (_device.device, numbers.Integral)) or isinstance(getattr(value, "type", None), str)


def parse_to(*args, device=None, dtype=None, non_blocking=False, copy=False, memory_format=None):
    """torch's forms of Tensor.to / Module.to: (dtype), (device), (device, dtype), (tensor), then the
    positional non_blocking and copy, or keywords. Returns (dtype or None, copy); a device other than the
    CPU raises DeviceError naming it."""
    args = list(args)
    if args:
        first = args.pop(0)
        if isinstance(first, Tensor):
            device, dtype = first.device, first.dtype
        elif first is None or _names_device(first):
            device = first
            if args and not isinstance(args[0], bool):
                dtype = args.pop(0)
        else:
            dtype = first
    if args:
        args.pop(0)  # non_blocking: copies are synchronous on the CPU
    if args:
        copy = args.pop(0)
    if args:
        raise TypeError("to() takes at most 4 positional arguments: (device or dtype or tensor, dtype, "
                        "non_blocking, copy)")
    _device.check(device)
    return (None if dtype is None else as_dtype(dtype)), bool(copy)


def to(input, *args, **kwargs):
    """Tensor.to: input with another dtype (to(dtype), to(device, dtype), to(other_tensor), dtype=...) on
    the CPU, the only device (others raise DeviceError); input itself when nothing changes, unless copy=True."""
    dtype, copy = parse_to(*args, **kwargs)
    if dtype is None or dtype is input.dtype:
        return clone(input) if copy else input
    return cast(input, dtype)
