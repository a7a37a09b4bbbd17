"""Minimal pure-ctypes DLPack bridge between numpy and libswiftfunc, for the Python tests.

Library path: $SWIFTFUNC_LIBRARY. See /work/shared/research/abi.md section 2 for the protocol and
the pitfalls this module avoids (capsule destructor typed c_void_p, private PyCapsule prototypes,
module-level capsule names, the destructor thunk kept alive on purpose).
"""
import ctypes
import os

import numpy as np

# ------------------------------------------------------------------------------------------------
# DLPack structs (layouts of abi.md section 1.3)
# ------------------------------------------------------------------------------------------------


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", DLDevice),
        ("ndim", ctypes.c_int32),
        ("dtype", DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


class DLPackVersion(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32)]


class DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", ctypes.c_void_p)]


class DLManagedTensorVersioned(ctypes.Structure):
    _fields_ = [
        ("version", DLPackVersion),
        ("manager_ctx", ctypes.c_void_p),
        ("deleter", ctypes.c_void_p),
        ("flags", ctypes.c_uint64),
        ("dl_tensor", DLTensor),
    ]


assert ctypes.sizeof(DLTensor) == 48
assert ctypes.sizeof(DLManagedTensor) == 64
assert ctypes.sizeof(DLManagedTensorVersioned) == 80

FLAG_READ_ONLY = 1
DELETER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)

# ------------------------------------------------------------------------------------------------
# PyCapsule API through private prototypes (never set argtypes on ctypes.pythonapi's shared ones)
# ------------------------------------------------------------------------------------------------


def _proto(name, restype, *argtypes):
    return ctypes.PYFUNCTYPE(restype, *argtypes)((name, ctypes.pythonapi))


PyCapsule_Destructor = ctypes.CFUNCTYPE(None, ctypes.c_void_p)  # raw PyObject*, NOT py_object
PyCapsule_New = _proto("PyCapsule_New", ctypes.py_object, ctypes.c_void_p, ctypes.c_char_p, PyCapsule_Destructor)
PyCapsule_GetPointer = _proto("PyCapsule_GetPointer", ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p)
PyCapsule_SetName = _proto("PyCapsule_SetName", ctypes.c_int, ctypes.py_object, ctypes.c_char_p)
PyCapsule_IsValid = _proto("PyCapsule_IsValid", ctypes.c_int, ctypes.py_object, ctypes.c_char_p)
_IsValid_raw = _proto("PyCapsule_IsValid", ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p)
_GetPointer_raw = _proto("PyCapsule_GetPointer", ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p)

# Capsule names are kept by pointer by CPython: module-level constants that live for the process.
NAME = b"dltensor"
VNAME = b"dltensor_versioned"
USED_NAME = b"used_dltensor"
USED_VNAME = b"used_dltensor_versioned"


def _capsule_destructor(capsule):
    """Frees a capsule nobody consumed (GIL held, refcount already 0: touch it only raw)."""
    for name, cls in ((NAME, DLManagedTensor), (VNAME, DLManagedTensorVersioned)):
        if _IsValid_raw(capsule, name):
            pointer = _GetPointer_raw(capsule, name)
            deleter = cls.from_address(pointer).deleter
            if deleter:
                DELETER(deleter)(pointer)
            return


_CAPSULE_DESTRUCTOR = PyCapsule_Destructor(_capsule_destructor)
# Capsules may die during interpreter shutdown: keep the thunk alive for good.
ctypes.pythonapi.Py_IncRef(ctypes.py_object(_CAPSULE_DESTRUCTOR))

# ------------------------------------------------------------------------------------------------
# The library
# ------------------------------------------------------------------------------------------------

SF_OK = 0
SF_DTYPES = {0: np.float32, 1: np.float64, 2: np.int32, 3: np.int64, 4: np.bool_}


def load_library(path=None):
    path = path or os.environ.get("SWIFTFUNC_LIBRARY")
    if not path:
        raise RuntimeError("set SWIFTFUNC_LIBRARY to the path of libswiftfunc.so")
    lib = ctypes.CDLL(path)
    handle, out = ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)
    lib.sf_last_error.restype = ctypes.c_char_p
    lib.sf_last_error.argtypes = []
    for name, args in {
        "sf_from_dlpack": [ctypes.c_void_p, out],
        "sf_from_dlpack_versioned": [ctypes.c_void_p, out],
        "sf_to_dlpack": [handle, out],
        "sf_to_dlpack_versioned": [handle, out],
        "sf_tensor_ndim": [handle, ctypes.POINTER(ctypes.c_size_t)],
        "sf_tensor_shape": [handle, ctypes.POINTER(ctypes.c_int64), ctypes.c_size_t],
        "sf_tensor_dtype": [handle, ctypes.POINTER(ctypes.c_int)],
        "sf_tensor_copy_to": [handle, ctypes.c_void_p, ctypes.c_size_t],
        "sf_tensor_from_data": [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int64), ctypes.c_size_t, out],
    }.items():
        f = getattr(lib, name)
        f.argtypes = args
        f.restype = ctypes.c_int
    lib.sf_tensor_release.argtypes = [handle]
    lib.sf_tensor_release.restype = None
    return lib


class SwiftFuncError(RuntimeError):
    def __init__(self, status, message):
        super().__init__(f"status {status}: {message}")
        self.status = status


def check(lib, status):
    if status != SF_OK:
        raise SwiftFuncError(status, lib.sf_last_error().decode())


# ------------------------------------------------------------------------------------------------
# numpy -> swiftfunc
# ------------------------------------------------------------------------------------------------


def import_array(lib, array, versioned=True):
    """A new sf_tensor handle (int) viewing `array`'s memory; the caller releases it."""
    if versioned:
        capsule, name, used, fn = array.__dlpack__(max_version=(1, 0)), VNAME, USED_VNAME, lib.sf_from_dlpack_versioned
    else:
        capsule, name, used, fn = array.__dlpack__(), NAME, USED_NAME, lib.sf_from_dlpack
    pointer = PyCapsule_GetPointer(capsule, name)
    out = ctypes.c_void_p()
    check(lib, fn(pointer, ctypes.byref(out)))
    # swiftfunc owns it now (it calls numpy's deleter when its last view dies): numpy's capsule
    # destructor must not free it too. Renamed only on success: on failure the capsule still owns it.
    PyCapsule_SetName(capsule, used)
    return out.value


def tensor_info(lib, tensor):
    """(shape, numpy dtype) of a tensor handle."""
    ndim = ctypes.c_size_t()
    check(lib, lib.sf_tensor_ndim(tensor, ctypes.byref(ndim)))
    shape = (ctypes.c_int64 * max(ndim.value, 1))()
    check(lib, lib.sf_tensor_shape(tensor, shape, ndim.value))
    dtype = ctypes.c_int()
    check(lib, lib.sf_tensor_dtype(tensor, ctypes.byref(dtype)))
    return tuple(shape[: ndim.value]), np.dtype(SF_DTYPES[dtype.value])


def copy_values(lib, tensor):
    """A new numpy array with the tensor's values (via sf_tensor_copy_to: no sharing)."""
    shape, dtype = tensor_info(lib, tensor)
    result = np.empty(shape, dtype=dtype)
    check(lib, lib.sf_tensor_copy_to(tensor, result.ctypes.data if result.size else None, result.nbytes))
    return result


def tensor_from_numpy_copy(lib, array):
    """A swiftfunc-owned tensor holding a copy of `array` (sf_tensor_from_data)."""
    array = np.ascontiguousarray(array)
    codes = {np.dtype(v): k for k, v in SF_DTYPES.items()}
    shape = (ctypes.c_int64 * max(array.ndim, 1))(*array.shape)
    out = ctypes.c_void_p()
    check(lib, lib.sf_tensor_from_data(array.ctypes.data if array.size else None, codes[array.dtype], shape,
                                       array.ndim, ctypes.byref(out)))
    return out.value


# ------------------------------------------------------------------------------------------------
# swiftfunc -> numpy
# ------------------------------------------------------------------------------------------------


class Exported:
    """A DLPack producer over an sf_tensor, for np.from_dlpack (which calls __dlpack__ with
    max_version=(1, 0)). It exports once; `legacy=True` answers with a legacy capsule even when a
    versioned one is asked for (allowed by the protocol: consumers must check the name)."""

    def __init__(self, lib, tensor, legacy=False):
        self._lib, self._tensor, self._legacy = lib, tensor, legacy
        self.used = False

    def __dlpack_device__(self):
        return (1, 0)

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        if self.used:
            raise BufferError("this producer was already exported")
        if stream is not None:
            raise BufferError("CPU tensors take no stream")
        if dl_device is not None and tuple(dl_device) != (1, 0):
            raise BufferError("only the CPU is supported")
        if copy:
            raise BufferError("copy=True is not supported")
        out = ctypes.c_void_p()
        if max_version is not None and max_version[0] >= 1 and not self._legacy:
            check(self._lib, self._lib.sf_to_dlpack_versioned(self._tensor, ctypes.byref(out)))
            name = VNAME
        else:
            check(self._lib, self._lib.sf_to_dlpack(self._tensor, ctypes.byref(out)))
            name = NAME
        self.used = True
        try:
            return PyCapsule_New(out.value, name, _CAPSULE_DESTRUCTOR)
        except BaseException:
            cls = DLManagedTensorVersioned if name == VNAME else DLManagedTensor
            DELETER(cls.from_address(out.value).deleter)(out.value)
            raise


def to_numpy(lib, tensor, legacy=False):
    """A numpy array sharing the tensor's memory (the tensor handle stays the caller's)."""
    return np.from_dlpack(Exported(lib, tensor, legacy=legacy))


def call_op(lib, name, *arrays, **options):
    """numpy arrays -> zero-copy tensors -> sf_<name>(inputs..., options..., &out) -> numpy array
    sharing the result's memory. Options are passed positionally after the tensors, in the order
    given, as ctypes values (e.g. call_op(lib, "sum", x, dims, n_dims, keepdim)); plain ints are
    passed as int64. Example: call_op(lib, "add", a, b) is a + b computed by swiftfunc."""
    handles = []
    try:
        for array in arrays:
            handles.append(import_array(lib, np.asarray(array)))
        extra = [ctypes.c_int64(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in options.values()]
        out = ctypes.c_void_p()
        function = getattr(lib, "sf_" + name)
        function.restype = ctypes.c_int
        check(lib, function(*[ctypes.c_void_p(h) for h in handles], *extra, ctypes.byref(out)))
        try:
            return to_numpy(lib, out.value)
        finally:
            lib.sf_tensor_release(out.value)
    finally:
        for h in handles:
            lib.sf_tensor_release(h)


def managed_fields(lib, tensor, versioned=True):
    """Exports `tensor` and returns (flags or None, data pointer, shape, strides), then frees the
    export again through its deleter."""
    out = ctypes.c_void_p()
    if versioned:
        check(lib, lib.sf_to_dlpack_versioned(tensor, ctypes.byref(out)))
        m = DLManagedTensorVersioned.from_address(out.value)
        flags = m.flags
    else:
        check(lib, lib.sf_to_dlpack(tensor, ctypes.byref(out)))
        m = DLManagedTensor.from_address(out.value)
        flags = None
    t = m.dl_tensor
    data = (t.data or 0) + t.byte_offset
    shape = tuple(t.shape[i] for i in range(t.ndim))
    strides = tuple(t.strides[i] for i in range(t.ndim))
    DELETER(m.deleter)(out.value)
    return flags, data, shape, strides
