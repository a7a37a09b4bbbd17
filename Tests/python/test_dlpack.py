"""DLPack through the swiftfunc package: zero-copy both ways with numpy (and torch/jax when installed),
ownership (the producer's deleter runs exactly when swiftfunc lets go), legacy and versioned capsules,
non-contiguous/read-only/unaligned/zero-size inputs, failures that leave the capsule to its producer,
and no growth over many round trips."""
import ctypes
import gc
import sys

import numpy as np
import pytest

import swiftfunc as sf
from swiftfunc import _capi, _dlpack
from conftest import optional_module

DTYPES = [np.float32, np.float64, np.int32, np.int64, np.bool_]
LAYOUTS = {
    "contiguous": lambda a: a,
    "transposed": lambda a: a.T,
    "negative": lambda a: a[::-1, ::-2],
    "sliced": lambda a: a[1:, 1::2],
    "scalar": lambda a: a[1, 2, ...],
    "broadcast": lambda a: np.broadcast_to(a[:1], (3, 6)),
}


def make(dtype, layout):
    base = np.arange(24).reshape(4, 6) * 3 - 20
    base = (base % 3 == 0) if dtype is np.bool_ else base.astype(dtype)
    return LAYOUTS[layout](base)


def element_strides(array):
    return tuple(s // array.itemsize for s in array.strides)


class Legacy:
    """A producer that only speaks the legacy protocol (as old libraries do)."""

    def __init__(self, inner):
        self.inner = inner

    def __dlpack__(self, stream=None):
        return self.inner.__dlpack__()

    def __dlpack_device__(self):
        return (1, 0)


def exported_fields(t, versioned=True):
    """(flags or None, data pointer, shape, strides) of an export of t; the export is freed again."""
    capsule = t.__dlpack__(max_version=(1, 0) if versioned else None)
    name = _dlpack.VNAME if versioned else _dlpack.NAME
    assert _dlpack.capsule_name(capsule) == name
    pointer = _dlpack.capsule_pointer(capsule, name)
    managed = (_capi.DLManagedTensorVersioned if versioned else _capi.DLManagedTensor).from_address(pointer)
    dl = managed.dl_tensor
    fields = (managed.flags if versioned else None, (dl.data or 0) + dl.byte_offset,
              tuple(dl.shape[i] for i in range(dl.ndim)), tuple(dl.strides[i] for i in range(dl.ndim)))
    del capsule  # unconsumed: its destructor calls swiftfunc's deleter
    return fields


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("versioned", [True, False], ids=["versioned", "legacy"])
def test_numpy_round_trip_shares_memory(dtype, layout, versioned):
    array = make(dtype, layout)
    if not versioned and not array.flags.writeable:
        pytest.skip("numpy refuses legacy exports of read-only arrays")
    baseline = sys.getrefcount(array)
    t = sf.from_dlpack(array if versioned else Legacy(array))
    assert sys.getrefcount(array) > baseline  # numpy's manager context holds the array while swiftfunc views it
    assert t.shape == array.shape and t.dtype.numpy == array.dtype
    np.testing.assert_array_equal(t._copy_values(), array)

    flags, data, shape, strides = exported_fields(t)
    assert data == array.ctypes.data and shape == array.shape and strides == element_strides(array)
    assert flags == _capi.FLAG_READ_ONLY  # imported memory is lent: never handed out writable

    out = t.numpy()
    assert out.ctypes.data == array.ctypes.data
    assert out.shape == array.shape and out.strides == array.strides and out.dtype == array.dtype
    assert not out.flags.writeable
    del t
    gc.collect()
    np.testing.assert_array_equal(out, array)  # the numpy view keeps the memory alive
    assert sys.getrefcount(array) > baseline
    del out
    gc.collect()
    assert sys.getrefcount(array) == baseline  # numpy's deleter ran when the last view died


@pytest.mark.parametrize("dtype", DTYPES)
def test_owned_tensor_exports_writable_zero_copy(dtype):
    source = make(dtype, "transposed")
    t = sf.tensor(source)
    flags, data, shape, strides = exported_fields(t)
    assert flags == 0 and strides == element_strides(np.ascontiguousarray(source))
    out = np.from_dlpack(t)
    assert out.ctypes.data == data and out.flags.writeable
    also = t.numpy()
    assert also.ctypes.data == data
    del t
    np.testing.assert_array_equal(out, source)


def test_legacy_capsule_when_no_max_version():
    t = sf.arange(6.0)
    capsule = t.__dlpack__()
    assert _dlpack.capsule_name(capsule) == b"dltensor"
    out = np.from_dlpack(Legacy(t))
    assert not out.flags.writeable  # numpy marks every legacy import read-only
    np.testing.assert_array_equal(out, np.arange(6.0))


def test_dlpack_arguments():
    t = sf.arange(4.0)
    assert t.__dlpack_device__() == (1, 0)
    assert _dlpack.capsule_name(t.__dlpack__(max_version=(1, 1))) == b"dltensor_versioned"
    assert _dlpack.capsule_name(t.__dlpack__(max_version=(0, 8))) == b"dltensor"
    assert _dlpack.capsule_name(t.__dlpack__(dl_device=(1, 0))) == b"dltensor"
    with pytest.raises(BufferError):
        t.__dlpack__(stream=1)
    with pytest.raises(BufferError):
        t.__dlpack__(dl_device=(2, 0))
    # copy=True hands out a fresh copy flagged IS_COPIED; copy=False shares
    copied = np.from_dlpack(t, copy=True)
    shared = np.from_dlpack(t, copy=False)
    assert copied.ctypes.data != shared.ctypes.data
    assert shared.ctypes.data == exported_fields(t)[1]
    capsule = t.__dlpack__(max_version=(1, 0), copy=True)
    pointer = _dlpack.capsule_pointer(capsule, _dlpack.VNAME)
    assert _capi.DLManagedTensorVersioned.from_address(pointer).flags & _capi.FLAG_IS_COPIED


def test_read_only_numpy_input():
    array = make(np.float32, "contiguous")
    array.flags.writeable = False
    baseline = sys.getrefcount(array)
    t = sf.from_dlpack(array)
    out = t.numpy()
    assert out.ctypes.data == array.ctypes.data and not out.flags.writeable
    assert sf.asarray(array).numpy().ctypes.data == array.ctypes.data
    del t, out
    gc.collect()
    assert sys.getrefcount(array) == baseline


def test_zero_size():
    for producer in (lambda a: a, Legacy):
        array = np.zeros((0, 3), dtype=np.float32)
        baseline = sys.getrefcount(array)
        t = sf.from_dlpack(producer(array))
        assert t.shape == (0, 3) and t.dtype is sf.float32
        out = t.numpy()
        assert out.shape == (0, 3)
        del t, out
        gc.collect()
        assert sys.getrefcount(array) == baseline


def test_unaligned_input_is_copied():
    raw = bytearray(6 * 8 + 1)
    array = np.frombuffer(raw, dtype=np.float64, offset=1)
    array[:] = np.arange(6) * 1.5
    assert not array.flags.aligned
    baseline = sys.getrefcount(array)
    t = sf.from_dlpack(array)
    gc.collect()
    assert sys.getrefcount(array) == baseline  # copied during the import: numpy's memory given back at once
    np.testing.assert_array_equal(t.numpy(), array)
    flags, data, _, _ = exported_fields(t)
    assert data != array.ctypes.data and flags == 0


@pytest.mark.parametrize("dtype", [np.float16, np.uint8, np.complex64, np.int16])
@pytest.mark.parametrize("versioned", [True, False], ids=["versioned", "legacy"])
def test_unsupported_dtype_leaves_capsule_to_producer(dtype, versioned):
    array = np.ones((2, 3), dtype=dtype)
    baseline = sys.getrefcount(array)
    capsule = array.__dlpack__(max_version=(1, 0)) if versioned else array.__dlpack__()
    name = _dlpack.VNAME if versioned else _dlpack.NAME
    with pytest.raises(sf.DTypeError, match="sf_from_dlpack"):
        sf.from_dlpack(capsule)
    assert _dlpack.is_valid(capsule, name)  # still unconsumed: its destructor frees it
    assert sys.getrefcount(array) > baseline
    del capsule
    gc.collect()
    assert sys.getrefcount(array) == baseline
    with pytest.raises(TypeError):  # asarray converts only the supported dtypes
        sf.from_dlpack(array)


def test_consumed_capsule_cannot_be_imported_twice():
    capsule = np.arange(3.0).__dlpack__(max_version=(1, 0))
    t = sf.from_dlpack(capsule)
    with pytest.raises(BufferError, match="already consumed"):
        sf.from_dlpack(capsule)
    np.testing.assert_array_equal(t.numpy(), np.arange(3.0))


def test_not_a_producer():
    with pytest.raises(TypeError, match="DLPack"):
        sf.from_dlpack(object())


def test_asarray_and_from_dlpack_copy():
    array = np.arange(6.0).reshape(2, 3)
    assert sf.asarray(array).numpy().ctypes.data == array.ctypes.data
    assert sf.as_tensor(array).numpy().ctypes.data == array.ctypes.data
    copied = sf.asarray(array, copy=True)
    assert copied.numpy().ctypes.data != array.ctypes.data
    assert sf.from_dlpack(array, copy=True).numpy().ctypes.data != array.ctypes.data
    np.testing.assert_array_equal(copied.numpy(), array)
    converted = sf.asarray(array, dtype=sf.float32)
    assert converted.dtype is sf.float32
    with pytest.raises(ValueError):
        sf.asarray(array, dtype=sf.float32, copy=False)
    with pytest.raises(TypeError, match="float16"):
        sf.asarray(np.ones(3, dtype=np.float16))  # no silent conversion of unsupported dtypes...
    assert sf.asarray(np.ones(3, dtype=np.float16), dtype=sf.float32).dtype is sf.float32  # ...unless asked
    assert sf.asarray(np.ones(3, dtype=">f8")).tolist() == [1.0, 1.0, 1.0]  # byte-swapped: converted copy
    mv = memoryview(np.arange(4, dtype=np.int32))
    assert sf.asarray(mv).tolist() == [0, 1, 2, 3]
    assert sf.asarray([1.0, 2.0]).dtype is sf.float32


def test_ops_on_imported_views_read_strides():
    a = np.arange(24, dtype=np.float64).reshape(4, 6)
    view = a[::-1, ::2]
    t = sf.from_dlpack(view)
    np.testing.assert_array_equal((t * 2 + 1).numpy(), view * 2 + 1)
    np.testing.assert_allclose(t.sum(0).numpy(), view.sum(0))
    result = (sf.from_dlpack(a.T) @ sf.from_dlpack(a)).numpy()
    np.testing.assert_allclose(result, a.T @ a)
    assert result.flags.writeable  # a swiftfunc-owned result is handed over writable


def test_unconsumed_export_is_freed():
    """A capsule nobody consumes releases what it holds when it dies: the tensor views a numpy array, so each
    live export keeps the array referenced, and the array's refcount tells whether the exports let go."""
    array = np.arange(5.0)
    baseline = sys.getrefcount(array)
    t = sf.from_dlpack(array)
    assert sys.getrefcount(array) > baseline  # swiftfunc's view holds the array
    for versioned in (True, False):
        for _ in range(100):
            capsule = t.__dlpack__(max_version=(1, 0) if versioned else None)
            assert _dlpack.capsule_name(capsule) == (b"dltensor_versioned" if versioned else b"dltensor")
            del capsule
    kept = t.__dlpack__(max_version=(1, 0))
    del t
    gc.collect()
    assert sys.getrefcount(array) > baseline  # an unconsumed capsule keeps the memory alive...
    del kept
    gc.collect()
    assert sys.getrefcount(array) == baseline  # ...and frees it when it dies; so did the 200 above


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


def test_no_growth_over_many_round_trips():
    arrays = [make(np.float32, "contiguous"), make(np.float64, "negative"), make(np.int64, "transposed")]
    baselines = [sys.getrefcount(a) for a in arrays]

    def round_trips(n):
        for i in range(n):
            array = arrays[i % len(arrays)]
            t = sf.from_dlpack(array if i % 2 else Legacy(array) if array.flags.writeable else array)
            out = np.from_dlpack(t) if i % 4 != 1 else np.from_dlpack(Legacy(t))
            assert out.ctypes.data == array.ctypes.data
            del t, out
            owned = sf.tensor(array)
            back = sf.from_dlpack(owned.numpy())  # swiftfunc -> numpy -> swiftfunc, still the same memory
            assert back.numpy().ctypes.data == owned.numpy().ctypes.data
            del owned, back

    round_trips(100)  # warm up caches (ctypes, numpy, allocator)
    gc.collect()
    objects, memory = len(gc.get_objects()), _mallinfo_in_use()
    round_trips(1000)
    gc.collect()
    assert len(gc.get_objects()) - objects < 50
    if memory is not None:
        assert _mallinfo_in_use() - memory < 64 * 1024  # each leaked round trip would hold hundreds of bytes
    assert [sys.getrefcount(a) for a in arrays] == baselines


# ------------------------------------------------------------------------------------------------
# torch and jax (skipped when they are not installed)
# ------------------------------------------------------------------------------------------------

torch = optional_module("torch")
jax = optional_module("jax")


@pytest.mark.skipif(torch is None, reason="torch is not installed")
def test_torch_both_ways_zero_copy():
    x = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    t = sf.from_dlpack(x)
    assert t.numpy().ctypes.data == x.data_ptr()
    strided = x.t()[::2]  # non-contiguous
    s = sf.from_dlpack(strided)
    assert s.numpy().ctypes.data == strided.data_ptr()
    np.testing.assert_array_equal(s.numpy(), strided.numpy())
    y = sf.sin(t) * 2
    back = torch.from_dlpack(y)
    assert back.data_ptr() == y.numpy().ctypes.data
    torch.testing.assert_close(back, torch.sin(x) * 2)
    assert sf.asarray(x).numpy().ctypes.data == x.data_ptr()
    del t, s, y
    gc.collect()
    torch.testing.assert_close(back, torch.sin(x) * 2)  # torch keeps swiftfunc's storage alive


@pytest.mark.skipif(torch is None, reason="torch is not installed")
def test_torch_round_trips_do_not_leak():
    x = torch.randn(8, 8)

    def trips(n):
        for _ in range(n):
            t = sf.from_dlpack(x)
            back = torch.from_dlpack(t)
            assert back.data_ptr() == x.data_ptr()

    trips(50)
    gc.collect()
    objects = len(gc.get_objects())
    trips(500)
    gc.collect()
    assert len(gc.get_objects()) - objects < 50


@pytest.mark.skipif(jax is None, reason="jax is not installed")
def test_jax_both_ways_zero_copy():
    import jax.numpy as jnp

    x = jnp.arange(12.0, dtype=jnp.float32).reshape(3, 4)
    t = sf.from_dlpack(x)
    pointer = x.unsafe_buffer_pointer()
    assert t.numpy().ctypes.data == pointer
    assert not t.numpy().flags.writeable
    y = t * 3
    back = jnp.from_dlpack(y)
    np.testing.assert_allclose(np.asarray(back), np.asarray(x) * 3)
    # jax may copy on import when the data is not aligned the way XLA wants; swiftfunc aligns to 64 bytes
    assert back.unsafe_buffer_pointer() == y.numpy().ctypes.data
