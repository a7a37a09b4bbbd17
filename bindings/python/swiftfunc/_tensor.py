"""`swiftfunc.Tensor` (an owning wrapper of one sf_tensor reference) and the dtypes.

This module holds what a tensor *is*: its handle, metadata, reading its values, DLPack export and
repr. The ops (arithmetic, reductions, indexing, ...) live in the `_ops` package, whose `methods`
module attaches them to Tensor as methods and operators, so that each op is written once; the
constructor `Tensor(data)` is attached there too. This module imports none of the ops.
"""
import ctypes

import numpy as np

from . import _capi, _device, _dlpack
from ._capi import lib
from ._errors import Error

__all__ = ["dtype", "Tensor", "float32", "float64", "int32", "int64", "bool_"]


class dtype:
    """A swiftfunc element type (swiftfunc.float32, float64, int32, int64, bool)."""

    __slots__ = ("name", "code", "itemsize", "is_floating_point", "numpy")

    def __init__(self, name, code, itemsize, is_floating_point, numpy_dtype):
        self.name = name
        self.code = code
        self.itemsize = itemsize
        self.is_floating_point = is_floating_point
        self.numpy = np.dtype(numpy_dtype)

    @property
    def is_signed(self):
        return self.name != "bool"

    def __repr__(self):
        return f"swiftfunc.{self.name}"

    def __reduce__(self):
        return (_dtype_by_name, (self.name,))


float32 = dtype("float32", _capi.FLOAT32, 4, True, np.float32)
float64 = dtype("float64", _capi.FLOAT64, 8, True, np.float64)
int32 = dtype("int32", _capi.INT32, 4, False, np.int32)
int64 = dtype("int64", _capi.INT64, 8, False, np.int64)
bool_ = dtype("bool", _capi.BOOL, 1, False, np.bool_)

_BY_CODE = (float32, float64, int32, int64, bool_)
_BY_NAME = {d.name: d for d in _BY_CODE}
_BY_NAME.update({"float": float32, "double": float64, "int": int32, "long": int64, "bool_": bool_})
_BY_NUMPY = {d.numpy: d for d in _BY_CODE}

#: The dtype of Python floats and float lists (torch's default dtype).
default_float = float32


def _dtype_by_name(name):
    return _BY_NAME[name]


def as_dtype(value):
    """A swiftfunc dtype from a dtype, a numpy dtype or type, a Python type, a name or a torch dtype."""
    if isinstance(value, dtype):
        return value
    if value is float:
        return default_float
    if value is int:
        return int64
    if value is bool:
        return bool_
    if isinstance(value, str):
        name = value.rsplit(".", 1)[-1]  # "torch.float32", "swiftfunc.int64", "float32"
        if name in _BY_NAME:
            return _BY_NAME[name]
    else:
        text = str(value)
        if text.startswith(("torch.", "jax.", "dtype(")):
            return as_dtype(text.replace("dtype(", "").strip("')\""))
        try:
            found = _BY_NUMPY.get(np.dtype(value))
        except TypeError:
            found = None
        if found is not None:
            return found
    raise TypeError(f"swiftfunc has no dtype {value!r} (float32, float64, int32, int64 and bool are supported)")


def dtype_of_numpy(numpy_dtype):
    """The swiftfunc dtype of a numpy dtype, or TypeError naming it."""
    found = _BY_NUMPY.get(np.dtype(numpy_dtype))
    if found is None:
        raise TypeError(f"swiftfunc has no dtype for numpy {np.dtype(numpy_dtype)} "
                        f"(float32, float64, int32, int64 and bool are supported)")
    return found


def wrap(handle):
    """A Tensor owning `handle` (a new reference the caller hands over)."""
    t = object.__new__(Tensor)
    t._h = handle
    t._shape = None
    t._dtype = None
    return t


def borrow(handle):
    """A Tensor holding its own new reference to a borrowed `handle`."""
    lib.sf_tensor_retain(handle)
    return wrap(handle)


def new(cfn, *args):
    """Calls `cfn(*args, &out)` and wraps the new tensor.

    Pass the handles of tensors held in variables: `new(cfn, make()._h)` would release a temporary
    tensor, and with it the handle, before the call."""
    out = ctypes.c_void_p()
    cfn(*args, ctypes.byref(out))
    return wrap(out.value)


class Tensor:
    """An immutable, reference-counted CPU tensor, shaped like torch.Tensor.

    Create tensors with `swiftfunc.tensor`, `swiftfunc.zeros`, ... or `swiftfunc.from_dlpack`;
    `Tensor(data)` is torch.Tensor(data), a float32 copy (attached by `_ops.methods`).
    Inside a transformed function the same class carries traced values: they have the per-example
    shape and dtype; reading their values works under grad/jvp and fails under vmap.
    """

    # _grad and _requires_grad are set only when used (read through getattr with a default): most
    # tensors never have them, and wrap() stays three stores.
    __slots__ = ("_h", "_shape", "_dtype", "_grad", "_requires_grad", "__weakref__")

    # numpy defers to Tensor's operators (ndarray @ tensor calls Tensor.__rmatmul__) instead of converting it.
    __array_ufunc__ = None

    @classmethod
    def _adopt(cls, other):
        """An instance of this (sub)class sharing `other`'s value."""
        t = object.__new__(cls)
        lib.sf_tensor_retain(other._h)
        t._h = other._h
        t._shape = other._shape
        t._dtype = other._dtype
        return t

    def __del__(self, _release=lib.sf_tensor_release):
        try:
            handle = self._h
        except AttributeError:
            return
        if handle:
            self._h = None
            _release(handle)

    # ---------------------------------------------------------------------------------------------
    # Metadata
    # ---------------------------------------------------------------------------------------------

    @property
    def shape(self):
        """The shape as a tuple of ints (per-example inside vmap)."""
        shape = self._shape
        if shape is None:
            ndim = ctypes.c_size_t()
            lib.sf_tensor_ndim(self._h, ctypes.byref(ndim))
            n = ndim.value
            if n:
                buffer = (ctypes.c_int64 * n)()
                lib.sf_tensor_shape(self._h, buffer, n)
                shape = tuple(buffer)
            else:
                shape = ()
            self._shape = shape
        return shape

    @property
    def dtype(self):
        d = self._dtype
        if d is None:
            code = ctypes.c_int()
            lib.sf_tensor_dtype(self._h, ctypes.byref(code))
            d = self._dtype = _BY_CODE[code.value]
        return d

    @property
    def ndim(self):
        return len(self.shape)

    def dim(self):
        return len(self.shape)

    def size(self, dim=None):
        """The shape, or the size of one dim (torch.Tensor.size)."""
        shape = self.shape
        if dim is None:
            return shape
        return shape[dim]

    def numel(self):
        n = 1
        for s in self.shape:
            n *= s
        return n

    nelement = numel

    @property
    def device(self):
        """device(type='cpu'), the only device (it also compares equal to 'cpu')."""
        return _device.cpu

    @property
    def itemsize(self):
        return self.dtype.itemsize

    def element_size(self):
        return self.dtype.itemsize

    @property
    def nbytes(self):
        return self.numel() * self.dtype.itemsize

    def is_floating_point(self):
        return self.dtype.is_floating_point

    @property
    def requires_grad(self):
        """A flag (set by requires_grad_, or True for Parameters): swiftfunc has no tape, derivatives come
        from swiftfunc.func; optimizers and ported code read it, nothing else does."""
        return getattr(self, "_requires_grad", False)

    @requires_grad.setter
    def requires_grad(self, value):
        self._requires_grad = bool(value)

    @property
    def is_leaf(self):
        return True

    @property
    def grad(self):
        """The gradient an optimizer reads (None until set): assign it from swiftfunc.func.grad's result,
        e.g. with swiftfunc.optim.assign_grads(module, grads)."""
        return getattr(self, "_grad", None)

    @grad.setter
    def grad(self, value):
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got {type(value).__name__}")
            if value.shape != self.shape:
                raise RuntimeError(f"assigned grad has data of a different size: {value.shape} (the tensor's "
                                   f"is {self.shape})")
            if value.dtype is not self.dtype:
                raise RuntimeError(f"assigned grad has data of a different type: {value.dtype} (the tensor's "
                                   f"is {self.dtype})")
        self._grad = value

    @grad.deleter
    def grad(self):
        self._grad = None

    def _rebind(self, value):
        """Gives this Python object `value`'s value (the in-place methods' and Module.to's mechanism):
        the handle is replaced, never the storage behind it, so other tensors (views, earlier results)
        keep the old value."""
        lib.sf_tensor_retain(value._h)
        old = self._h
        self._h = value._h
        self._shape = value._shape
        self._dtype = value._dtype
        if old:
            lib.sf_tensor_release(old)
        return self

    # ---------------------------------------------------------------------------------------------
    # Values
    # ---------------------------------------------------------------------------------------------

    def _copy_values(self):
        """A new numpy array with the values (sf_tensor_copy_to; also reads primals under grad/jvp)."""
        array = np.empty(self.shape, dtype=self.dtype.numpy)
        lib.sf_tensor_copy_to(self._h, array.ctypes.data if array.size else None, array.nbytes)
        return array

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.numel() != 1:
            raise ValueError(f"a Tensor with {self.numel()} elements cannot be converted to a Python scalar")
        return self._copy_values().reshape(()).item()

    def tolist(self):
        """The values as (nested) Python lists, or a number for a 0-d tensor."""
        return self._copy_values().tolist()

    def numpy(self, *, force=False):
        """A numpy array sharing this tensor's memory (zero-copy through DLPack)."""
        return np.from_dlpack(self)

    def __array__(self, dtype=None, copy=None):
        try:
            array = np.from_dlpack(self) if not copy else self._copy_values()
        except Error:
            array = self._copy_values()  # traced values have no memory to share
        if dtype is not None and np.dtype(dtype) != array.dtype:
            array = array.astype(dtype)
        return array

    def __bool__(self):
        if self.numel() != 1:
            raise ValueError(f"Boolean value of Tensor with {self.numel()} elements is ambiguous")
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype.is_floating_point or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __complex__(self):
        return complex(self.item())

    def __len__(self):
        shape = self.shape
        if not shape:
            raise TypeError("len() of a 0-d tensor")
        return shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    __hash__ = object.__hash__

    def __setitem__(self, key, value):
        raise TypeError("swiftfunc tensors are immutable; build a new tensor (e.g. with swiftfunc.where or cat)")

    def __reduce__(self):
        return (_from_numpy_copy, (self._copy_values(),))

    # ---------------------------------------------------------------------------------------------
    # DLPack
    # ---------------------------------------------------------------------------------------------

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        """A DLPack capsule viewing this tensor: versioned ("dltensor_versioned") when max_version >= (1, 0),
        legacy otherwise. copy=True exports a fresh copy (flagged IS_COPIED); copy=False/None share."""
        _dlpack.check_export_request(stream, dl_device, copy)
        versioned = max_version is not None and tuple(max_version)[0] >= 1
        source = self
        if copy:
            source = _from_numpy_copy(self._copy_values())
        return _dlpack.export(source._h, versioned, mark_copied=bool(copy) and versioned)

    def __dlpack_device__(self):
        return (_capi.DL_CPU, 0)

    # ---------------------------------------------------------------------------------------------
    # repr
    # ---------------------------------------------------------------------------------------------

    def __repr__(self):
        try:
            values = self._copy_values()
        except Error:
            return f"tensor(<traced>, shape={self.shape}, dtype={self.dtype})"
        suffix = "" if self.dtype in (default_float, int64, bool_) else f", dtype={self.dtype}"
        if values.size == 0 and values.ndim != 1:
            return f"tensor([], size={values.shape}{suffix})"
        body = np.array2string(values, separator=", ", prefix="tensor(", precision=4,
                               floatmode="maxprec_equal" if self.dtype.is_floating_point else "maxprec")
        return f"tensor({body}{suffix})"

    __str__ = __repr__

    def __format__(self, spec):
        if self.numel() == 1 and not self.shape:
            return format(self.item(), spec)
        return format(repr(self), spec)


def _from_numpy_copy(array):
    """A swiftfunc-owned tensor holding a copy of a numpy array of a supported dtype."""
    d = dtype_of_numpy(array.dtype)
    array = np.asarray(array, dtype=d.numpy, order="C")  # (ascontiguousarray would make 0-d arrays 1-d)
    return new(lib.sf_tensor_from_data, array.ctypes.data if array.size else None, d.code,
               _capi.int64s(array.shape), array.ndim)


from_numpy_copy = _from_numpy_copy
