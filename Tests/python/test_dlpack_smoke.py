"""DLPack between numpy and libswiftfunc through pure ctypes: zero-copy both ways, ownership
(numpy's deleter runs exactly when swiftfunc lets go), the legacy and versioned capsules, error
cases that leave the capsule to its producer, and no growth over many round trips."""
import ctypes
import gc
import sys

import numpy as np
import pytest

import sfdl

DTYPES = [np.float32, np.float64, np.int32, np.int64, np.bool_]
LAYOUTS = {
    "contiguous": lambda a: a,
    "transposed": lambda a: a.T,
    "negative": lambda a: a[::-1, ::-2],
    "sliced": lambda a: a[1:, 1::2],
    "scalar": lambda a: a[1, 2, ...],
}


def make(dtype, layout):
    base = np.arange(24).reshape(4, 6) * 3 - 20
    base = (base % 3 == 0) if dtype is np.bool_ else base.astype(dtype)
    return LAYOUTS[layout](base)


def element_strides(array):
    return tuple(s // array.itemsize for s in array.strides)


def settle():
    gc.collect()


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("versioned", [True, False], ids=["versioned", "legacy"])
def test_round_trip_shares_memory(lib, dtype, layout, versioned):
    array = make(dtype, layout)
    baseline = sys.getrefcount(array)

    tensor = sfdl.import_array(lib, array, versioned=versioned)
    # numpy's manager context holds the exported array while swiftfunc views it
    assert sys.getrefcount(array) > baseline
    shape, got_dtype = sfdl.tensor_info(lib, tensor)
    assert shape == array.shape
    assert got_dtype == array.dtype
    np.testing.assert_array_equal(sfdl.copy_values(lib, tensor), array)

    # the export views the very same memory, with the same element strides
    flags, data, exported_shape, strides = sfdl.managed_fields(lib, tensor)
    assert data == array.ctypes.data
    assert exported_shape == array.shape
    assert strides == element_strides(array)
    assert flags == sfdl.FLAG_READ_ONLY  # imported memory is lent, never swiftfunc's to hand out writable

    out = sfdl.to_numpy(lib, tensor)
    assert out.ctypes.data == array.ctypes.data
    assert out.shape == array.shape and out.strides == array.strides and out.dtype == array.dtype
    assert not out.flags.writeable
    np.testing.assert_array_equal(out, array)

    # the numpy result keeps the memory alive after the handle is gone
    lib.sf_tensor_release(tensor)
    settle()
    assert sys.getrefcount(array) > baseline
    np.testing.assert_array_equal(out, array)
    del out
    settle()
    assert sys.getrefcount(array) == baseline  # numpy's deleter ran, exactly when the last view died


@pytest.mark.parametrize("dtype", DTYPES)
def test_owned_tensor_exports_writable(lib, dtype):
    source = make(dtype, "transposed")
    tensor = sfdl.tensor_from_numpy_copy(lib, source)
    flags, data, shape, strides = sfdl.managed_fields(lib, tensor)
    assert flags == 0
    assert strides == element_strides(np.ascontiguousarray(source))
    out = sfdl.to_numpy(lib, tensor)
    assert out.ctypes.data == data
    assert out.flags.writeable
    lib.sf_tensor_release(tensor)
    np.testing.assert_array_equal(out, source)


def test_legacy_export_is_read_only(lib):
    array = make(np.float64, "negative")
    tensor = sfdl.tensor_from_numpy_copy(lib, array)
    out = sfdl.to_numpy(lib, tensor, legacy=True)
    flags, data, _, _ = sfdl.managed_fields(lib, tensor, versioned=False)
    assert flags is None and out.ctypes.data == data
    assert not out.flags.writeable  # numpy marks every legacy import read-only
    lib.sf_tensor_release(tensor)
    np.testing.assert_array_equal(out, array)


def test_read_only_numpy_input(lib):
    array = make(np.float32, "contiguous")
    array.flags.writeable = False
    baseline = sys.getrefcount(array)
    tensor = sfdl.import_array(lib, array)
    out = sfdl.to_numpy(lib, tensor)
    lib.sf_tensor_release(tensor)
    assert out.ctypes.data == array.ctypes.data and not out.flags.writeable
    del out
    settle()
    assert sys.getrefcount(array) == baseline


def test_zero_size(lib):
    for versioned in (True, False):
        array = np.zeros((0, 3), dtype=np.float32)
        baseline = sys.getrefcount(array)
        tensor = sfdl.import_array(lib, array, versioned=versioned)
        assert sfdl.tensor_info(lib, tensor) == ((0, 3), np.dtype(np.float32))
        out = sfdl.to_numpy(lib, tensor)
        assert out.shape == (0, 3) and out.dtype == np.float32
        lib.sf_tensor_release(tensor)
        del out
        settle()
        assert sys.getrefcount(array) == baseline


def test_unaligned_input_is_copied(lib):
    raw = bytearray(6 * 8 + 1)
    array = np.frombuffer(raw, dtype=np.float64, offset=1)
    array[:] = np.arange(6) * 1.5  # frombuffer on a bytearray is writable
    assert not array.flags.aligned
    baseline = sys.getrefcount(array)
    tensor = sfdl.import_array(lib, array)
    # copied during the import: numpy's memory was given back at once
    settle()
    assert sys.getrefcount(array) == baseline
    np.testing.assert_array_equal(sfdl.copy_values(lib, tensor), array)
    flags, data, _, _ = sfdl.managed_fields(lib, tensor)
    assert data != array.ctypes.data and flags == 0
    lib.sf_tensor_release(tensor)


@pytest.mark.parametrize("dtype", [np.float16, np.uint8, np.complex64, np.int16])
@pytest.mark.parametrize("versioned", [True, False], ids=["versioned", "legacy"])
def test_unsupported_dtype_leaves_capsule_to_numpy(lib, dtype, versioned):
    array = np.ones((2, 3), dtype=dtype)
    baseline = sys.getrefcount(array)
    capsule = array.__dlpack__(max_version=(1, 0)) if versioned else array.__dlpack__()
    name = sfdl.VNAME if versioned else sfdl.NAME
    function = lib.sf_from_dlpack_versioned if versioned else lib.sf_from_dlpack
    out = ctypes.c_void_p(1)
    status = function(sfdl.PyCapsule_GetPointer(capsule, name), ctypes.byref(out))
    assert status == 3  # SF_ERR_DTYPE
    assert out.value is None
    assert b"sf_from_dlpack" in lib.sf_last_error()
    # ownership stayed with the capsule: still unconsumed, and its destructor frees it
    assert sfdl.PyCapsule_IsValid(capsule, name)
    assert sys.getrefcount(array) > baseline
    del capsule
    settle()
    assert sys.getrefcount(array) == baseline


def test_unconsumed_export_is_freed(lib):
    """A capsule made by our producer and never consumed: its destructor calls swiftfunc's deleter."""
    tensor = sfdl.tensor_from_numpy_copy(lib, np.arange(5.0))
    producer = sfdl.Exported(lib, tensor)
    capsule = producer.__dlpack__(max_version=(1, 0))
    assert sfdl.PyCapsule_IsValid(capsule, sfdl.VNAME)
    with pytest.raises(BufferError):
        producer.__dlpack__(max_version=(1, 0))
    del capsule
    lib.sf_tensor_release(tensor)


def _mallinfo_in_use():
    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in
                    ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                     "keepcost")]

    libc = ctypes.CDLL(None)
    try:
        mallinfo2 = libc.mallinfo2
    except AttributeError:
        return None
    mallinfo2.restype = MallInfo2
    info = mallinfo2()
    return info.uordblks + info.hblkhd


def test_no_growth_over_many_round_trips(lib):
    arrays = [make(np.float32, "contiguous"), make(np.float64, "negative"), make(np.int64, "transposed")]
    baselines = [sys.getrefcount(a) for a in arrays]

    def round_trips(n):
        for i in range(n):
            array = arrays[i % len(arrays)]
            tensor = sfdl.import_array(lib, array, versioned=i % 2 == 0)
            out = sfdl.to_numpy(lib, tensor, legacy=i % 4 == 1)
            assert out.ctypes.data == array.ctypes.data
            lib.sf_tensor_release(tensor)
            del out
            owned = sfdl.tensor_from_numpy_copy(lib, array)
            copy = sfdl.to_numpy(lib, owned)
            lib.sf_tensor_release(owned)
            del copy

    round_trips(100)  # warm up caches (ctypes, numpy, allocator)
    settle()
    objects, memory = len(gc.get_objects()), _mallinfo_in_use()
    round_trips(1000)
    settle()
    assert len(gc.get_objects()) - objects < 50
    if memory is not None:
        # every leaked round trip would hold several hundred bytes (structs, shape arrays, objects)
        assert _mallinfo_in_use() - memory < 64 * 1024
    assert [sys.getrefcount(a) for a in arrays] == baselines


def test_op_in_between(lib):
    """numpy -> swiftfunc op -> numpy, zero-copy at both ends (runs once the ops are merged)."""
    if not hasattr(lib, "sf_add"):
        pytest.skip("sf_add is not in this build")
    a = make(np.float32, "transposed")
    b = make(np.float32, "negative")[:, 0]
    try:
        result = sfdl.call_op(lib, "add", a, b)
    except sfdl.SwiftFuncError as error:
        if error.status == 8:  # SF_ERR_UNSUPPORTED: not implemented yet in this build
            pytest.skip(str(error))
        raise
    np.testing.assert_array_equal(result, a + b)
    assert result.flags.writeable  # a swiftfunc-owned result is handed over writable
