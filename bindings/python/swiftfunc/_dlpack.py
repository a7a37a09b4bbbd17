"""The Python DLPack protocol over libswiftfunc's sf_to_dlpack/sf_from_dlpack, in pure ctypes.

Export: `export(handle, versioned)` wraps a DLManagedTensor[Versioned] made by swiftfunc in a PyCapsule
named "dltensor"/"dltensor_versioned" whose destructor calls the deleter only while the capsule is
unconsumed. Import: `import_object(obj)` asks a producer for a capsule (versioned first), hands the
pointer to swiftfunc and renames the capsule "used_..." so that its destructor leaves the tensor to
swiftfunc, which calls the producer's deleter when its last view dies.

Pitfalls this module avoids (see the project's research notes, abi.md section 2.5): the capsule
destructor is typed c_void_p, never py_object (ctypes would INCREF/DECREF a dying object and free it
twice); PyCapsule functions are private prototypes, never argtypes set on ctypes.pythonapi's shared
objects; capsule names are module-level bytes that live for the whole process; the destructor
thunk is leaked on purpose so that capsules dying at interpreter shutdown still find it.
"""
import ctypes

from . import _capi
from ._capi import DLPACK_DELETER, DLManagedTensor, DLManagedTensorVersioned, lib
from ._errors import DeviceError


def _proto(name, restype, *argtypes):
    return ctypes.PYFUNCTYPE(restype, *argtypes)((name, ctypes.pythonapi))


_CapsuleDestructor = ctypes.CFUNCTYPE(None, ctypes.c_void_p)  # raw PyObject *, NOT py_object
_PyCapsule_New = _proto("PyCapsule_New", ctypes.py_object, ctypes.c_void_p, ctypes.c_char_p, _CapsuleDestructor)
_PyCapsule_GetPointer = _proto("PyCapsule_GetPointer", ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p)
_PyCapsule_SetName = _proto("PyCapsule_SetName", ctypes.c_int, ctypes.py_object, ctypes.c_char_p)
_PyCapsule_IsValid = _proto("PyCapsule_IsValid", ctypes.c_int, ctypes.py_object, ctypes.c_char_p)
_PyCapsule_GetName = _proto("PyCapsule_GetName", ctypes.c_char_p, ctypes.py_object)
_IsValid_raw = _proto("PyCapsule_IsValid", ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p)
_GetPointer_raw = _proto("PyCapsule_GetPointer", ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p)

# CPython keeps capsule names by pointer: module-level constants that live for the process.
NAME = b"dltensor"
VNAME = b"dltensor_versioned"
USED_NAME = b"used_dltensor"
USED_VNAME = b"used_dltensor_versioned"

def _capsule_destructor(capsule):
    """Frees a capsule nobody consumed (the GIL is held and the refcount is already 0: raw pointers only)."""
    for name, cls in ((NAME, DLManagedTensor), (VNAME, DLManagedTensorVersioned)):
        if _IsValid_raw(capsule, name):
            pointer = _GetPointer_raw(capsule, name)
            deleter = cls.from_address(pointer).deleter
            if deleter:
                DLPACK_DELETER(deleter)(pointer)
            return


_CAPSULE_DESTRUCTOR = _CapsuleDestructor(_capsule_destructor)
ctypes.pythonapi.Py_IncRef(ctypes.py_object(_CAPSULE_DESTRUCTOR))  # must outlive every capsule


def is_capsule(obj):
    return type(obj).__name__ == "PyCapsule"


def capsule_name(capsule):
    return _PyCapsule_GetName(capsule)


def capsule_pointer(capsule, name):
    return _PyCapsule_GetPointer(capsule, name)


def is_valid(capsule, name):
    return bool(_PyCapsule_IsValid(capsule, name))


def delete_managed(pointer, versioned):
    """Calls the deleter of a DLManagedTensor[Versioned] at `pointer` (if it has one)."""
    cls = DLManagedTensorVersioned if versioned else DLManagedTensor
    deleter = cls.from_address(pointer).deleter
    if deleter:
        DLPACK_DELETER(deleter)(pointer)


# -------------------------------------------------------------------------------------------------
# Export
# -------------------------------------------------------------------------------------------------


def export(handle, versioned, mark_copied=False):
    """A new DLPack capsule viewing the sf_tensor `handle` (which the capsule keeps alive)."""
    out = ctypes.c_void_p()
    if versioned:
        lib.sf_to_dlpack_versioned(handle, ctypes.byref(out))
        if mark_copied:
            managed = DLManagedTensorVersioned.from_address(out.value)
            managed.flags |= _capi.FLAG_IS_COPIED
        name = VNAME
    else:
        lib.sf_to_dlpack(handle, ctypes.byref(out))
        name = NAME
    try:
        return _PyCapsule_New(out.value, name, _CAPSULE_DESTRUCTOR)
    except BaseException:
        delete_managed(out.value, versioned)
        raise


def check_export_request(stream, dl_device, copy):
    """Validates __dlpack__'s keyword arguments for a CPU producer (BufferError as the protocol says)."""
    if stream is not None and stream != -1:
        raise BufferError("swiftfunc tensors live on the CPU, which takes no stream (stream must be None)")
    if dl_device is not None and tuple(dl_device) != (_capi.DL_CPU, 0):
        raise BufferError(f"swiftfunc tensors live on the CPU (1, 0); cannot export to device {tuple(dl_device)}")


# -------------------------------------------------------------------------------------------------
# Import
# -------------------------------------------------------------------------------------------------


def _capsule_from(obj):
    """A capsule from a DLPack producer (or a bare capsule): versioned when the producer can."""
    if is_capsule(obj):
        return obj
    producer = getattr(obj, "__dlpack__", None)
    if producer is None:
        raise TypeError(f"{type(obj).__name__} is not a DLPack producer (it has no __dlpack__)")
    device = getattr(obj, "__dlpack_device__", None)
    if device is not None:
        device_type, _ = device()
        if int(device_type) not in (_capi.DL_CPU, 3, 11, 13):  # CPU, CUDA host, ROCm host, CUDA managed
            raise DeviceError(f"swiftfunc imports CPU tensors only; this one is on DLPack device {int(device_type)}")
    try:
        return producer(max_version=(1, 0))
    except TypeError:
        return producer()  # an older producer without max_version


def import_capsule(capsule):
    """A new sf_tensor handle viewing the capsule's memory; the capsule is consumed on success.

    On failure the capsule stays unconsumed, so its own destructor frees it.
    """
    name = capsule_name(capsule)
    out = ctypes.c_void_p()
    if name == VNAME:
        pointer = _PyCapsule_GetPointer(capsule, VNAME)
        lib.sf_from_dlpack_versioned(pointer, ctypes.byref(out))
        _PyCapsule_SetName(capsule, USED_VNAME)
    elif name == NAME:
        pointer = _PyCapsule_GetPointer(capsule, NAME)
        lib.sf_from_dlpack(pointer, ctypes.byref(out))
        _PyCapsule_SetName(capsule, USED_NAME)
    elif name in (USED_NAME, USED_VNAME):
        raise BufferError("this DLPack capsule was already consumed (a capsule can be imported once)")
    else:
        raise BufferError(f"not a DLPack capsule (name {name!r})")
    return out.value


def import_object(obj):
    """A new sf_tensor handle viewing the memory of a DLPack producer or capsule, zero-copy."""
    return import_capsule(_capsule_from(obj))
