"""Property tests (Hypothesis): the Python package against numpy over generated shapes, dtypes,
broadcasts and memory layouts, the transforms against float64 finite differences and Python loops,
and errors that are always Python exceptions of the documented types.

Inputs are numpy arrays in generated layouts (contiguous, axes permuted, sliced with positive or
negative steps, broadcast with zero strides, misaligned), handed to swiftfunc zero-copy through
DLPack (`swiftfunc.from_numpy`); the reference is numpy on the same values. Transforms are checked on
generated compositions of ops, each with its numpy counterpart, so the finite differences never go
through swiftfunc.

Example counts (docs/testing.md, "Property tests"): the default profile "ci" runs a bounded,
derandomized number of examples per test (reproducible in CI); SWIFTFUNC_HYPOTHESIS_PROFILE=long runs
random examples (1000 per test unless SWIFTFUNC_HYPOTHESIS_EXAMPLES=N says otherwise), and
SWIFTFUNC_HYPOTHESIS_EXAMPLES=N alone sets N for the ci profile.
"""
import contextlib
import math
import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.extra import numpy as hnp

import swiftfunc as sf
from swiftfunc.func import grad, hessian, jacfwd, jacrev, jvp, vjp, vmap

# -------------------------------------------------------------------------------------------------
# Profiles: bounded and reproducible by default, long on request
# -------------------------------------------------------------------------------------------------

_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True, database=None,
                          suppress_health_check=_HEALTH, print_blob=True)
# Long runs keep the failures they find in build/ (ignored by git) and replay them first next time.
settings.register_profile("long", max_examples=1000, deadline=None, suppress_health_check=_HEALTH,
                          print_blob=True, database=DirectoryBasedExampleDatabase(
                              os.path.join(os.path.dirname(__file__), "..", "..", "build", "hypothesis")))
_PROFILE = os.environ.get("SWIFTFUNC_HYPOTHESIS_PROFILE", "ci")
_EXAMPLES = os.environ.get("SWIFTFUNC_HYPOTHESIS_EXAMPLES")
_BASE = settings.get_profile(_PROFILE)
if _EXAMPLES:
    _BASE = settings(_BASE, max_examples=int(_EXAMPLES))


def examples(scale=1.0):
    """This profile's settings with `scale` times its example count (costly tests run fewer)."""
    return settings(_BASE, max_examples=max(1, int(_BASE.max_examples * scale)))


# -------------------------------------------------------------------------------------------------
# dtypes, values and layouts
# -------------------------------------------------------------------------------------------------

FLOATS = (np.float32, np.float64)
INTS = (np.int32, np.int64)
ALL = FLOATS + INTS + (np.bool_,)
SF = {np.float32: sf.float32, np.float64: sf.float64, np.int32: sf.int32, np.int64: sf.int64,
      np.bool_: sf.bool}
ORDER = (np.bool_, np.int32, np.int64, np.float32, np.float64)  # torch's promotion order for these


def promote(a, b):
    """The dtype torch gives a binary op of dtypes a and b (no weak scalars here)."""
    return ORDER[max(ORDER.index(a), ORDER.index(b))]


def elements(dtype, lo=-8.0, hi=8.0):
    """Finite values of `dtype` in [lo, hi] (integers in [-50, 50])."""
    if dtype is np.bool_:
        return st.booleans()
    if dtype in INTS:
        return st.integers(-50, 50)
    if dtype is np.float32:  # the nearest float32 bounds (still inside every domain used here)
        return st.floats(float(np.float32(lo)), float(np.float32(hi)), width=32)
    return st.floats(lo, hi)


def shapes(min_dims=0, max_dims=4, min_side=0, max_side=4):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


LAYOUTS = ("contiguous", "strided", "misaligned")


@st.composite
def views(draw, dtype, shape, elems=None):
    """A numpy array of `shape` and `dtype` in a generated layout: its axes stored in a drawn order,
    sliced with drawn steps (negative ones too), some size-1 axes broadcast (stride 0), or a
    contiguous copy at an address misaligned for the dtype."""
    elems = elements(dtype) if elems is None else elems
    shape = tuple(shape)
    layout = draw(st.sampled_from(LAYOUTS))
    if layout == "contiguous" or not shape:
        array = draw(hnp.arrays(dtype, shape, elements=elems))
    elif layout == "misaligned":
        array = draw(hnp.arrays(dtype, shape, elements=elems))
        itemsize = np.dtype(dtype).itemsize
        raw = np.zeros(array.nbytes + itemsize, dtype=np.uint8)
        moved = np.frombuffer(raw.data, dtype=dtype, count=array.size, offset=1 if itemsize > 1 else 0)
        moved = moved.reshape(shape)
        moved[...] = array
        array = moved
    else:
        nd = len(shape)
        order = draw(st.permutations(range(nd)))
        steps = [draw(st.sampled_from((1, 2, -1, -2, 3))) for _ in shape]
        broadcast = [n != 1 and draw(st.integers(0, 4)) == 0 for n in shape]
        base = [1 if b else n * abs(s) for n, s, b in zip(shape, steps, broadcast)]
        stored = draw(hnp.arrays(dtype, tuple(base[p] for p in order), elements=elems))
        array = stored.transpose(np.argsort(order))
        array = array[tuple(slice(None) if b else slice(None, None, s) for s, b in zip(steps, broadcast))]
        array = np.broadcast_to(array, shape)
    note(f"layout {layout}: shape {array.shape}, strides {array.strides}")
    return array


@st.composite
def arrays(draw, dtypes=ALL, shape=None, elems=None, **shape_kwargs):
    dtype = draw(st.sampled_from(dtypes))
    if shape is None:
        shape = draw(shapes(**shape_kwargs))
    return draw(views(dtype, shape, elems))


def imported(array):
    """`array` as a swiftfunc tensor, zero-copy through DLPack."""
    return sf.from_numpy(array)


def values(t):
    """A swiftfunc tensor's values as a numpy array (zero-copy through DLPack)."""
    return np.from_dlpack(t)


def tolerance(dtype):
    """(rtol, atol) for an elementwise result of `dtype` against numpy's float64 reference:
    a few ulp of the dtype (the library's and numpy's math functions may differ by that)."""
    if dtype == np.float32:
        return 1e-5, 1e-6
    if dtype == np.float64:
        return 1e-12, 1e-13
    return 0, 0


def assert_matches(t, expected, dtype=None, rtol=None, atol=None):
    """t (a swiftfunc tensor) has expected's shape, the dtype `dtype` and its values."""
    expected = np.asarray(expected)
    dtype = expected.dtype.type if dtype is None else dtype
    assert t.dtype is SF[dtype], f"dtype {t.dtype}, expected {SF[dtype]}"
    actual = values(t)
    assert actual.shape == expected.shape, f"shape {actual.shape}, expected {expected.shape}"
    r, a = tolerance(dtype)
    with np.errstate(over="ignore"):  # a float64 reference past float32's range becomes inf, as the result
        expected = expected.astype(dtype)
    np.testing.assert_allclose(actual, expected, rtol=r if rtol is None else rtol, atol=a if atol is None else atol)


@contextlib.contextmanager
def quiet():
    """numpy's reference computations warn on 0/0, overflow, no degrees of freedom, ...: the values
    are what we compare."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


# -------------------------------------------------------------------------------------------------
# DLPack: zero-copy import of every layout
# -------------------------------------------------------------------------------------------------


@examples()
@given(arrays())
def test_dlpack_import_is_zero_copy_and_exact(a):
    t = imported(a)
    assert t.shape == a.shape and t.dtype is SF[a.dtype.type]
    back = values(t)
    np.testing.assert_array_equal(back, a)
    np.testing.assert_array_equal(t._copy_values(), a)
    if a.size and a.ctypes.data % a.itemsize == 0:
        # swiftfunc views the producer's memory: the round trip shows the same first element and strides
        assert back.ctypes.data == a.ctypes.data
        for n, s, r in zip(a.shape, a.strides, back.strides):
            assert n == 1 or s == r


# -------------------------------------------------------------------------------------------------
# Elementwise ops
# -------------------------------------------------------------------------------------------------

# name: (numpy reference, input dtypes the op takes, domain of the float values)
UNARY = {
    "exp": (np.exp, ALL, (-8, 8)),
    "log": (np.log, ALL, (0.01, 8)),
    "log1p": (np.log1p, ALL, (-0.99, 8)),
    "expm1": (np.expm1, ALL, (-8, 8)),
    "sin": (np.sin, ALL, (-8, 8)),
    "cos": (np.cos, ALL, (-8, 8)),
    "tanh": (np.tanh, ALL, (-8, 8)),
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), ALL, (-8, 8)),
    "sqrt": (np.sqrt, ALL, (0, 8)),
    "rsqrt": (lambda x: 1 / np.sqrt(x), ALL, (0.01, 8)),
    "abs": (np.abs, FLOATS + INTS, (-8, 8)),
    "neg": (np.negative, FLOATS + INTS, (-8, 8)),
    "sign": (lambda x: x if x.dtype == np.bool_ else np.sign(x), ALL, (-8, 8)),
    "relu": (lambda x: np.maximum(x, 0).astype(x.dtype), FLOATS + INTS, (-8, 8)),
    "floor": (np.floor, FLOATS + INTS, (-8, 8)),
    "ceil": (np.ceil, FLOATS + INTS, (-8, 8)),
    "round": (np.round, FLOATS + INTS, (-8, 8)),
    "square": (lambda x: x & x if x.dtype == np.bool_ else np.square(x), ALL, (-8, 8)),  # bool: x * x, logical
}


def unary_result_dtype(name, dtype):
    """torch's result dtype: float functions give float32 for integer and bool inputs."""
    if name in ("abs", "neg", "sign", "relu", "floor", "ceil", "round", "square"):
        return dtype
    return dtype if dtype in FLOATS else np.float32


@st.composite
def unary_cases(draw):
    name = draw(st.sampled_from(sorted(UNARY)))
    ref, dtypes, (lo, hi) = UNARY[name]
    dtype = draw(st.sampled_from(ALL))
    elems = elements(dtype, lo, hi)
    if dtype in INTS and lo > -8:
        elems = st.integers(max(1, math.ceil(lo)), 50)
    a = draw(views(dtype, draw(shapes()), elems))
    return name, a


@examples(2)
@given(unary_cases())
def test_unary_ops_match_numpy(case):
    name, a = case
    ref, dtypes, _ = UNARY[name]
    op = getattr(sf, name)
    if a.dtype.type not in dtypes:
        with pytest.raises(sf.DTypeError, match=f"sf_{name}"):
            op(imported(a))
        return
    out_dtype = unary_result_dtype(name, a.dtype.type)
    with quiet():
        expected = ref(a.astype(np.float64)) if out_dtype in FLOATS else ref(a)
    rtol, atol = tolerance(out_dtype)
    if name in ("exp", "expm1") and out_dtype == np.float32:
        rtol = 2e-5
    assert_matches(op(imported(a)), expected, out_dtype, rtol=rtol, atol=atol)


def _np_div(x, y):
    return np.true_divide(x, y)


# name: (numpy reference on promoted operands, which operand dtypes it refuses)
BINARY = {
    "add": (np.add, ()),
    "sub": (np.subtract, ("bool-bool",)),
    "mul": (np.multiply, ()),
    "div": (_np_div, ()),
    "maximum": (np.maximum, ()),
    "minimum": (np.minimum, ()),
    "atan2": (np.arctan2, ()),
    "lt": (np.less, ()), "le": (np.less_equal, ()), "gt": (np.greater, ()),
    "ge": (np.greater_equal, ()), "eq": (np.equal, ()), "ne": (np.not_equal, ()),
}


@st.composite
def binary_cases(draw):
    name = draw(st.sampled_from(sorted(BINARY)))
    da, db = draw(st.sampled_from(ALL)), draw(st.sampled_from(ALL))
    (sa, sb), _ = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=4))
    a = draw(views(da, sa))
    b = draw(views(db, sb))
    return name, a, b


@examples(2)
@given(binary_cases())
def test_binary_ops_broadcast_and_promote_like_torch(case):
    name, a, b = case
    ref, refused = BINARY[name]
    op = getattr(sf, name)
    if "bool-bool" in refused and a.dtype == np.bool_ and b.dtype == np.bool_:
        with pytest.raises(sf.DTypeError, match=f"sf_{name}"):
            op(imported(a), imported(b))
        return
    dtype = promote(a.dtype.type, b.dtype.type)
    if name in ("div", "atan2") and dtype not in FLOATS:
        dtype = np.float32  # true division of integers gives the default float dtype
    x, y = a.astype(dtype), b.astype(dtype)
    with quiet():
        if dtype in FLOATS:
            expected = ref(x.astype(np.float64), y.astype(np.float64))
        elif dtype is np.bool_ and name in ("add", "mul"):
            expected = (np.logical_or if name == "add" else np.logical_and)(x, y)
        else:
            expected = ref(x, y)  # integers wrap, as numpy's do
    out_dtype = np.bool_ if name in ("lt", "le", "gt", "ge", "eq", "ne") else dtype
    assert_matches(op(imported(a), imported(b)), expected, out_dtype)


def extremes(dtype):
    """Any value of `dtype`: NaN, infinities, signed zeros, subnormals, the integer limits."""
    if dtype in INTS:
        info = np.iinfo(dtype)
        return st.integers(int(info.min), int(info.max))
    if dtype is np.bool_:
        return st.booleans()
    return st.floats(width=32 if dtype is np.float32 else 64)


SPECIAL_BINARY = ("add", "sub", "mul", "div", "maximum", "minimum", "lt", "le", "eq", "ne")


@examples(2)
@given(st.data())
def test_special_values_nan_infinity_and_integer_wraparound(data):
    """NaN propagates through arithmetic and max/min (as torch and numpy), compares false, and
    integers wrap; amax/argmax treat NaN as the largest value."""
    dtype = data.draw(st.sampled_from(FLOATS + INTS))
    (sa, sb), _ = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4))
    a = data.draw(views(dtype, sa, extremes(dtype)))
    b = data.draw(views(dtype, sb, extremes(dtype)))
    name = data.draw(st.sampled_from(SPECIAL_BINARY))
    ref, _ = BINARY[name]
    out = np.bool_ if name in ("lt", "le", "eq", "ne") else (np.float32 if name == "div" and dtype in INTS else dtype)
    with quiet():
        if out in FLOATS:
            expected = ref(a.astype(out).astype(np.float64), b.astype(out).astype(np.float64))
        else:
            expected = ref(a, b)
    # float results: correctly rounded from float64, so exact up to the final rounding
    assert_matches(getattr(sf, name)(imported(a), imported(b)), expected, out, rtol=1e-6 if out is np.float32 else
                   1e-15, atol=0)
    for reduction in ("amax", "amin", "argmax", "argmin", "sum"):
        if a.size == 0 and reduction != "sum":
            continue
        result = getattr(sf, reduction)(imported(a))
        with quiet():
            if reduction == "sum":
                expected = np.sum(a.astype(np.float64 if dtype in FLOATS else np.int64))
                if dtype in FLOATS:
                    eps = np.finfo(dtype).eps
                    finite = np.abs(a[np.isfinite(a)].astype(np.float64))
                    scale = float(finite.sum()) if finite.size else 0.0
                    if not np.isfinite(expected) or scale * a.size * eps > 1e300:
                        continue  # overflow in the partial sums depends on their order
                    np.testing.assert_allclose(values(result), expected.astype(dtype), rtol=0,
                                               atol=4 * a.size * eps * scale + 1e-300)
                    continue
            else:
                expected = getattr(np, reduction)(a)
        assert_matches(result, expected, np.int64 if reduction.startswith("arg") or reduction == "sum" else dtype)


@examples()
@given(st.data())
def test_where_and_clamp_broadcast(data):
    (sc, sa, sb), _ = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=4))
    cond = data.draw(views(np.bool_, sc))
    a = data.draw(views(data.draw(st.sampled_from(ALL)), sa))
    b = data.draw(views(data.draw(st.sampled_from(ALL)), sb))
    dtype = promote(a.dtype.type, b.dtype.type)
    assert_matches(sf.where(imported(cond), imported(a), imported(b)),
                   np.where(cond, a.astype(dtype), b.astype(dtype)), dtype)
    if dtype is not np.bool_:
        lo, hi = a.astype(dtype), b.astype(dtype)
        assert_matches(sf.clamp(imported(a), min=imported(b)), np.maximum(lo, hi), dtype)


@examples()
@given(st.data())
def test_integer_floor_divide_and_remainder_follow_python(data):
    (sa, sb), _ = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4))
    dtype = data.draw(st.sampled_from(INTS))
    a = data.draw(views(dtype, sa))
    b = data.draw(views(dtype, sb, st.integers(-9, 9).filter(lambda v: v != 0)))
    assert_matches(sf.floor_divide(imported(a), imported(b)), np.floor_divide(a, b), dtype)
    assert_matches(sf.remainder(imported(a), imported(b)), np.remainder(a, b), dtype)


# -------------------------------------------------------------------------------------------------
# Reductions, scans, softmax
# -------------------------------------------------------------------------------------------------


@st.composite
def reduction_dims(draw, ndim):
    """None (all dims) or a tuple of distinct dims, each spelled positive or negative."""
    if ndim == 0 or draw(st.integers(0, 4)) == 0:
        return None
    chosen = draw(st.lists(st.integers(0, ndim - 1), unique=True, min_size=1, max_size=ndim))
    return tuple(d - ndim if draw(st.booleans()) else d for d in chosen)


def _np_dims(dims, ndim):
    return tuple(range(ndim)) if dims is None else tuple(d % ndim for d in dims)


REDUCTIONS = ("sum", "prod", "mean", "amax", "amin", "var", "std", "logsumexp")


@examples(2)
@given(st.data())
def test_reductions_over_dims_match_numpy(data):
    name = data.draw(st.sampled_from(REDUCTIONS))
    a = data.draw(arrays(elems=None))
    dims = data.draw(reduction_dims(a.ndim))
    keepdim = data.draw(st.booleans())
    op = getattr(sf, name)
    dtype = a.dtype.type
    axes = _np_dims(dims, a.ndim)
    reduced = int(np.prod([a.shape[d] for d in axes])) if a.ndim else 1
    if name in ("mean", "var", "std") and dtype not in FLOATS:
        with pytest.raises(sf.DTypeError, match=f"sf_{name}"):
            op(imported(a), dims, keepdim=keepdim)
        return
    if name == "logsumexp" and dtype is np.bool_:
        with pytest.raises(sf.DTypeError):
            op(imported(a), dims, keepdim=keepdim)
        return
    if name in ("amax", "amin") and reduced == 0 and a.size == 0:
        with pytest.raises(sf.ShapeError, match=f"sf_{name}"):
            op(imported(a), dims, keepdim=keepdim)
        return
    x = a.astype(np.float64) if dtype in FLOATS or name == "logsumexp" else a.astype(np.int64)
    with quiet():
        if name == "sum":
            expected, out = np.sum(x, axis=axes, keepdims=keepdim), (dtype if dtype in FLOATS else np.int64)
        elif name == "prod":
            expected, out = np.prod(x, axis=axes, keepdims=keepdim), (dtype if dtype in FLOATS else np.int64)
        elif name == "mean":
            expected, out = np.mean(x, axis=axes, keepdims=keepdim), dtype
        elif name in ("amax", "amin"):
            expected = (np.amax if name == "amax" else np.amin)(a, axis=axes, keepdims=keepdim)
            out = dtype
        elif name in ("var", "std"):
            expected = (np.var if name == "var" else np.std)(x, axis=axes, keepdims=keepdim, ddof=1)
            out = dtype
        else:
            m = np.max(x, axis=axes, keepdims=True) if reduced else 0.0
            m = np.where(np.isfinite(m), m, 0.0)
            lse = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m
            expected = lse if keepdim else np.squeeze(lse, axis=axes)
            out = dtype if dtype in FLOATS else np.float32
    # Summation error grows with the number of terms and their magnitude.
    rtol, atol = tolerance(out)
    if out in FLOATS:
        eps = np.finfo(out).eps
        scale = float(np.max(np.abs(x))) if x.size else 0.0
        if name == "prod":
            rtol = max(rtol, 4 * reduced * eps)
        else:
            atol = max(atol, 4 * max(reduced, 1) * eps * max(scale, 1.0) ** (2 if name == "var" else 1))
            rtol = max(rtol, 4 * max(reduced, 1) * eps)
    if name == "std":
        atol = max(atol, math.sqrt(atol))
    assert_matches(op(imported(a), dims, keepdim=keepdim), expected, out, rtol=rtol, atol=atol)


@examples()
@given(st.data())
def test_argmax_argmin_pick_the_first_extreme(data):
    a = data.draw(arrays(dtypes=FLOATS + INTS, min_dims=1, min_side=1))
    dim = data.draw(st.integers(-a.ndim, a.ndim - 1))
    keepdim = data.draw(st.booleans())
    for name in ("argmax", "argmin"):
        expected = getattr(np, name)(a, axis=dim, keepdims=keepdim)
        assert_matches(getattr(sf, name)(imported(a), dim, keepdim), expected, np.int64)
        assert_matches(getattr(sf, name)(imported(a)), getattr(np, name)(a), np.int64)


@examples()
@given(st.data())
def test_all_and_any_over_dims(data):
    a = data.draw(arrays(dtypes=(np.bool_,) + INTS))
    dims = data.draw(reduction_dims(a.ndim))
    keepdim = data.draw(st.booleans())
    axes = _np_dims(dims, a.ndim)
    assert_matches(sf.all(imported(a), dims, keepdim), np.all(a, axis=axes, keepdims=keepdim), np.bool_)
    assert_matches(sf.any(imported(a), dims, keepdim), np.any(a, axis=axes, keepdims=keepdim), np.bool_)


@pytest.mark.parametrize("shape, dim, keepdim", [((0,), None, True), ((0, 3), 0, False), ((3, 0), 0, True),
                                                ((2, 0, 3), (0, 1), False), ((0,), 0, False)])
def test_all_and_any_over_no_elements_keep_their_shape(shape, dim, keepdim):
    """Regression (found by the property above): all/any of an empty input returned a 0-d tensor
    whatever dim and keepdim said."""
    a = np.zeros(shape, dtype=np.bool_)
    axes = _np_dims(dim if dim is None or isinstance(dim, tuple) else (dim,), a.ndim)
    assert_matches(sf.all(imported(a), dim, keepdim), np.all(a, axis=axes, keepdims=keepdim), np.bool_)
    assert_matches(sf.any(imported(a), dim, keepdim), np.any(a, axis=axes, keepdims=keepdim), np.bool_)


def _np_softmax(x, axis):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


@examples()
@given(st.data())
def test_softmax_log_softmax_and_scans_along_a_dim(data):
    a = data.draw(arrays(dtypes=FLOATS, min_dims=1, min_side=1))
    dim = data.draw(st.integers(-a.ndim, a.ndim - 1))
    x = a.astype(np.float64)
    dtype = a.dtype.type
    n = a.shape[dim]
    rtol, atol = tolerance(dtype)
    eps = np.finfo(dtype).eps
    assert_matches(sf.softmax(imported(a), dim), _np_softmax(x, dim), dtype, rtol=8 * n * eps, atol=8 * n * eps)
    with quiet():
        expected = np.log(_np_softmax(x, dim))
    assert_matches(sf.log_softmax(imported(a), dim), expected, dtype, rtol=8 * n * eps, atol=64 * n * eps)
    assert_matches(sf.cumsum(imported(a), dim), np.cumsum(x, axis=dim), dtype, rtol=rtol, atol=16 * n * eps * 8)
    assert_matches(sf.cumprod(imported(a), dim), np.cumprod(x, axis=dim), dtype, rtol=4 * n * eps,
                   atol=atol)


@examples()
@given(st.data())
def test_sort_argsort_and_topk(data):
    a = data.draw(arrays(dtypes=FLOATS + INTS, min_dims=1, min_side=1))
    dim = data.draw(st.integers(-a.ndim, a.ndim - 1))
    descending = data.draw(st.booleans())
    key = -a.astype(np.float64) if descending else a
    order = np.argsort(key, axis=dim, kind="stable")
    values_, indices = sf.sort(imported(a), dim, descending=descending, stable=True)
    assert_matches(indices, order, np.int64)
    assert_matches(values_, np.take_along_axis(a, order, axis=dim), a.dtype.type)
    assert_matches(sf.argsort(imported(a), dim, descending=descending, stable=True), order, np.int64)
    k = data.draw(st.integers(0, a.shape[dim]))
    top_values, top_indices = sf.topk(imported(a), k, dim)
    expected = np.take_along_axis(a, np.argsort(-a.astype(np.float64), axis=dim, kind="stable"), axis=dim)
    assert_matches(top_values, np.take(expected, range(k), axis=dim), a.dtype.type)
    # the indices may break ties differently; they must point at the values
    assert_matches(sf.gather(imported(a), dim, top_indices), values(top_values), a.dtype.type)


# -------------------------------------------------------------------------------------------------
# matmul
# -------------------------------------------------------------------------------------------------


@st.composite
def matmul_shapes(draw):
    n, k, m = draw(st.integers(0, 5)), draw(st.integers(0, 5)), draw(st.integers(0, 5))
    (ba, bb), _ = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3))
    kind = draw(st.sampled_from(("mm", "batched", "vec-mat", "mat-vec", "dot")))
    if kind == "dot":
        return (k,), (k,)
    if kind == "vec-mat":
        return (k,), tuple(bb) + (k, m)
    if kind == "mat-vec":
        return tuple(ba) + (n, k), (k,)
    if kind == "mm":
        return (n, k), (k, m)
    return tuple(ba) + (n, k), tuple(bb) + (k, m)


@examples(2)
@given(st.data())
def test_matmul_matches_numpy(data):
    sa, sb = data.draw(matmul_shapes())
    a = data.draw(views(data.draw(st.sampled_from(FLOATS)), sa, elements(np.float32, -4, 4)))
    b = data.draw(views(data.draw(st.sampled_from(FLOATS)), sb, elements(np.float32, -4, 4)))
    dtype = promote(a.dtype.type, b.dtype.type)
    expected = np.matmul(a.astype(np.float64), b.astype(np.float64))
    k = sa[-1]
    eps = np.finfo(dtype).eps
    # |error| <= k eps sum|a_i b_i|, each |a_i b_i| <= 16
    assert_matches(sf.matmul(imported(a), imported(b)), expected, dtype, rtol=0, atol=2 * (k + 1) * eps * 16)


# -------------------------------------------------------------------------------------------------
# Movement and indexing
# -------------------------------------------------------------------------------------------------


@st.composite
def reshape_targets(draw, shape):
    """A shape with the same element count (the sizes of `shape` regrouped), maybe with one -1."""
    size = int(np.prod(shape)) if shape else 1
    factors = []
    n = size
    for p in (2, 3, 5, 7):
        while n % p == 0 and n > 1:
            factors.append(p)
            n //= p
    if n > 1:
        factors.append(n)
    factors = draw(st.permutations(factors))
    dims = draw(st.integers(1, 4))
    target = [1] * dims
    for f in factors:
        target[draw(st.integers(0, dims - 1))] *= f
    if size == 0:
        target[draw(st.integers(0, dims - 1))] = 0
    if size and draw(st.booleans()):
        target[draw(st.integers(0, dims - 1))] = -1
    return tuple(target)


@examples(2)
@given(st.data())
def test_movement_ops_match_numpy(data):
    a = data.draw(arrays(min_dims=1))
    t = imported(a)
    nd = a.ndim
    dtype = a.dtype.type
    target = data.draw(reshape_targets(a.shape))
    assert_matches(sf.reshape(t, target), a.reshape(target), dtype)
    perm = data.draw(st.permutations(range(nd)))
    assert_matches(sf.permute(t, perm), a.transpose(perm), dtype)
    d0, d1 = data.draw(st.integers(-nd, nd - 1)), data.draw(st.integers(-nd, nd - 1))
    assert_matches(sf.transpose(t, d0, d1), np.swapaxes(a, d0, d1), dtype)
    flips = data.draw(st.lists(st.integers(0, nd - 1), unique=True))
    assert_matches(sf.flip(t, flips), np.flip(a, tuple(flips)) if flips else a, dtype)
    where = data.draw(st.integers(-nd - 1, nd))
    assert_matches(sf.unsqueeze(t, where), np.expand_dims(a, where), dtype)
    assert_matches(sf.squeeze(t), np.squeeze(a), dtype)
    grown = data.draw(hnp.broadcastable_shapes(a.shape, max_dims=5, max_side=4).map(
        lambda s: np.broadcast_shapes(s, a.shape)))
    assert_matches(sf.expand(t, grown), np.broadcast_to(a, grown), dtype)
    dim = data.draw(st.integers(-nd, nd - 1))
    assert_matches(sf.flatten(t), a.reshape(-1), dtype)
    shift = data.draw(st.integers(-6, 6))
    assert_matches(sf.roll(t, shift, dim), np.roll(a, shift, axis=dim), dtype)


@examples()
@given(st.data())
def test_cat_and_stack_promote_and_join(data):
    a = data.draw(arrays(min_dims=1))
    dim = data.draw(st.integers(-a.ndim, a.ndim - 1))
    count = data.draw(st.integers(1, 3))
    parts = [a]
    for _ in range(count - 1):
        shape = list(a.shape)
        shape[dim] = data.draw(st.integers(0, 3))
        parts.append(data.draw(views(data.draw(st.sampled_from(ALL)), tuple(shape))))
    dtype = parts[0].dtype.type
    for p in parts[1:]:
        dtype = promote(dtype, p.dtype.type)
    assert_matches(sf.cat([imported(p) for p in parts], dim),
                   np.concatenate([p.astype(dtype) for p in parts], axis=dim), dtype)
    same = [a] + [data.draw(views(a.dtype.type, a.shape)) for _ in range(count - 1)]
    sdim = data.draw(st.integers(-a.ndim - 1, a.ndim))
    assert_matches(sf.stack([imported(p) for p in same], sdim), np.stack(same, axis=sdim), a.dtype.type)


@examples(2)
@given(st.data())
def test_basic_indexing_matches_numpy(data):
    a = data.draw(arrays(min_dims=1))
    index = data.draw(hnp.basic_indices(a.shape, allow_newaxis=True, allow_ellipsis=True))
    items = index if isinstance(index, tuple) else (index,)
    t = imported(a)
    if any(isinstance(i, slice) and i.step is not None and i.step <= 0 for i in items):
        with pytest.raises(ValueError, match="step"):
            t[index]
        return
    assert_matches(t[index], a[index], a.dtype.type)


@examples()
@given(st.data())
def test_gather_and_index_select_and_integer_indexing(data):
    a = data.draw(arrays(min_dims=1, min_side=1))
    dim = data.draw(st.integers(-a.ndim, a.ndim - 1))
    n = a.shape[dim]
    index_dtype = data.draw(st.sampled_from(INTS))
    picks = data.draw(views(index_dtype, (data.draw(st.integers(0, 6)),), st.integers(-n, n - 1)))
    t = imported(a)
    assert_matches(sf.index_select(t, dim, imported(np.where(picks < 0, picks + n, picks))),
                   np.take(a, np.where(picks < 0, picks + n, picks), axis=dim), a.dtype.type)
    shape = list(a.shape)
    shape[dim] = data.draw(st.integers(0, 4))
    index = data.draw(views(np.int64, tuple(shape), st.integers(0, n - 1)))
    assert_matches(sf.gather(t, dim, imported(index)), np.take_along_axis(a, index, axis=dim), a.dtype.type)
    # an out-of-range index is an error naming the op, never a read outside the tensor
    bad = index.copy()
    if bad.size:
        bad.flat[data.draw(st.integers(0, bad.size - 1))] = data.draw(st.sampled_from((n, n + 7, -n - 1, 2 ** 40)))
        with pytest.raises(sf.Error, match="sf_gather"):
            sf.gather(t, dim, imported(bad))


@examples()
@given(st.data())
def test_triangles_diagonals_and_einsum(data):
    a = data.draw(arrays(dtypes=FLOATS + INTS, min_dims=2, max_dims=3))
    offset = data.draw(st.integers(-4, 4))
    t = imported(a)
    assert_matches(sf.tril(t, offset), np.tril(a, offset), a.dtype.type)
    assert_matches(sf.triu(t, offset), np.triu(a, offset), a.dtype.type)
    assert_matches(sf.diagonal(t, offset, -2, -1), np.diagonal(a, offset, -2, -1), a.dtype.type)
    if a.dtype.type in FLOATS:
        b = data.draw(views(a.dtype.type, a.shape[-1:] + (3,)))
        expected = np.einsum("...ij,jk->...ik", a.astype(np.float64), b.astype(np.float64))
        k = a.shape[-1]
        eps = np.finfo(a.dtype).eps
        assert_matches(sf.einsum("...ij,jk->...ik", t, imported(b)), expected, a.dtype.type, rtol=0,
                       atol=2 * (k + 1) * eps * 64)


# -------------------------------------------------------------------------------------------------
# Transforms against float64 finite differences and Python loops
# -------------------------------------------------------------------------------------------------
#
# A generated function is a list of steps applied to a state s (starting at x, shape [m, n]) with a
# second input y of the same shape. Each step has a swiftfunc and a numpy spelling; every step is
# smooth with derivatives bounded on the inputs' range [-2, 2] (so finite differences are accurate,
# see `fd_tolerance`), and keeps the state's shape.


def _steps():
    def softmax_np(s, d):
        return _np_softmax(s, d)

    def lse_np(s, d):
        m = np.max(s, axis=d, keepdims=True)
        return np.log(np.sum(np.exp(s - m), axis=d, keepdims=True)) + m

    return {
        "sin": (lambda s, y, p: sf.sin(s), lambda s, y, p: np.sin(s)),
        "tanh": (lambda s, y, p: sf.tanh(s), lambda s, y, p: np.tanh(s)),
        "sigmoid": (lambda s, y, p: sf.sigmoid(s), lambda s, y, p: 1 / (1 + np.exp(-s))),
        "exp_tanh": (lambda s, y, p: sf.exp(sf.tanh(s)), lambda s, y, p: np.exp(np.tanh(s))),
        "mul_y": (lambda s, y, p: s * y, lambda s, y, p: s * y),
        "add_sin_y": (lambda s, y, p: s + sf.sin(y), lambda s, y, p: s + np.sin(y)),
        "div_y": (lambda s, y, p: s / (1.5 + y * y), lambda s, y, p: s / (1.5 + y * y)),
        "square_scaled": (lambda s, y, p: 0.25 * s * s, lambda s, y, p: 0.25 * s * s),
        "softmax": (lambda s, y, p: sf.softmax(s, p), lambda s, y, p: softmax_np(s, p)),
        "center_lse": (lambda s, y, p: s - sf.logsumexp(s, p, True), lambda s, y, p: s - lse_np(s, p)),
        "mean_keep": (lambda s, y, p: s - sf.mean(s, p, True), lambda s, y, p: s - np.mean(s, axis=p, keepdims=True)),
        "cumsum_scaled": (lambda s, y, p: 0.5 * sf.cumsum(s, p), lambda s, y, p: 0.5 * np.cumsum(s, axis=p)),
        "flip": (lambda s, y, p: sf.flip(s, (p,)), lambda s, y, p: np.flip(s, axis=p)),
        "matmul_w": (lambda s, y, p: sf.matmul(sf.tanh(s), sf.tensor(_W(s.shape[-1]))),
                     lambda s, y, p: np.tanh(s) @ _W(s.shape[-1])),
        "transpose_back": (lambda s, y, p: sf.transpose(sf.transpose(s, 0, 1) * 0.75, 0, 1),
                           lambda s, y, p: (s.T * 0.75).T),
        "max_y": (lambda s, y, p: sf.maximum(s, y + 3.0), lambda s, y, p: np.maximum(s, y + 3.0)),
    }


def _W(n):
    """A fixed [n, n] matrix (the same on both sides)."""
    return np.cos(np.arange(n * n, dtype=np.float64).reshape(n, n) * 0.7) / max(n, 1)


STEPS = _steps()


@st.composite
def programs(draw):
    names = draw(st.lists(st.sampled_from(sorted(STEPS)), min_size=1, max_size=4))
    return [(name, draw(st.integers(0, 1))) for name in names]


def run_sf(program, x, y):
    s = x
    for name, p in program:
        s = STEPS[name][0](s, y, p)
    return s


def run_np(program, x, y):
    s = x
    for name, p in program:
        s = STEPS[name][1](s, y, p)
    return s


@st.composite
def transform_inputs(draw, batch=None):
    """(x, y) float64 arrays of one shape [m, n] (or [batch, m, n]) in generated layouts, in [-2, 2]."""
    m, n = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    shape = (m, n) if batch is None else (batch, m, n)
    elems = st.floats(-2, 2)
    return draw(views(np.float64, shape, elems)), draw(views(np.float64, shape, elems))


# Central differences in float64: with step h the error is h^2/6 |f'''| (truncation) plus about
# eps |f| / h (rounding), smallest near h = eps^(1/3) ~ 6e-6 where both are ~eps^(2/3) ~ 4e-11 times
# the scale of f and its third derivative. The generated functions keep those scales below ~1e2, so
# 1e-7 (1 + |J|) leaves a margin of ~20x above the largest error the formula allows.
FD_STEP = np.finfo(np.float64).eps ** (1 / 3)
# Second differences (4 points): error h^2/12 |f''''| + eps |f| / h^2, smallest near
# h = eps^(1/4) ~ 1.2e-4, both ~eps^(1/2) ~ 1.5e-8 times the scale: tolerance 1e-5 (1 + |H|).
FD2_STEP = np.finfo(np.float64).eps ** (1 / 4)


def fd_tolerance(reference, order=1):
    return (1e-7 if order == 1 else 1e-5) * (1 + np.abs(reference))


def fd_jacobian(fn, x):
    """d fn(x) / d x by central differences: shape fn(x).shape + x.shape."""
    x = np.array(x, dtype=np.float64)
    out = np.asarray(fn(x))
    jac = np.zeros(out.shape + x.shape)
    for idx in np.ndindex(*x.shape):
        h = FD_STEP * max(1.0, abs(x[idx]))
        plus, minus = x.copy(), x.copy()
        plus[idx] += h
        minus[idx] -= h
        jac[(Ellipsis,) + idx] = (fn(plus) - fn(minus)) / (2 * h)
    return jac


def fd_hessian(fn, x):
    """d2 fn(x) / dx dx (fn scalar) by 4-point central second differences."""
    x = np.array(x, dtype=np.float64)
    hess = np.zeros(x.shape + x.shape)
    h = FD2_STEP
    for i in np.ndindex(*x.shape):
        for j in np.ndindex(*x.shape):
            def at(si, sj):
                z = x.copy()
                z[i] += si * h
                z[j] += sj * h
                return fn(z)
            hess[i + j] = (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1)) / (4 * h * h)
    return hess


def assert_fd(actual, reference, order=1):
    actual = values(actual) if isinstance(actual, sf.Tensor) else np.asarray(actual)
    assert actual.shape == reference.shape
    err = np.abs(actual - reference)
    tol = fd_tolerance(reference, order)
    assert np.all(err <= tol), f"max error {err.max()} (tolerance {tol.min()}..{tol.max()})"


@examples(1.0)
@given(programs(), transform_inputs(), st.data())
def test_grad_jacrev_jacfwd_jvp_vjp_against_finite_differences(program, xy, data):
    x, y = xy
    note(f"program {program}")
    weights = np.cos(np.arange(x.size, dtype=np.float64)).reshape(x.shape) + 0.5
    X, Y = imported(x), imported(y)

    def scalar_sf(x_, y_):
        return sf.sum(run_sf(program, x_, y_) * sf.tensor(weights))

    def scalar_np(x_):
        return np.sum(run_np(program, x_, y) * weights)

    g = grad(scalar_sf)(X, Y)
    assert_fd(g, fd_jacobian(scalar_np, x))
    gy = grad(scalar_sf, argnums=1)(X, Y)
    assert_fd(gy, fd_jacobian(lambda y_: np.sum(run_np(program, x, y_) * weights), y))

    J = fd_jacobian(lambda x_: run_np(program, x_, y), x)
    chunk = data.draw(st.sampled_from((None, 1, 2, 5)))
    assert_fd(jacrev(lambda x_: run_sf(program, x_, Y), chunk_size=chunk)(X), J)
    assert_fd(jacfwd(lambda x_: run_sf(program, x_, Y))(X), J)

    v = data.draw(views(np.float64, x.shape, st.floats(-1, 1)))
    out, tangent = jvp(lambda x_: run_sf(program, x_, Y), (X,), (imported(v),))
    assert_matches(out, run_np(program, x, y), np.float64, rtol=1e-12, atol=1e-12)
    axes = tuple(range(x.ndim))
    assert_fd(tangent, np.tensordot(J, v, axes=(tuple(range(J.ndim - x.ndim, J.ndim)), axes)))
    u = data.draw(views(np.float64, out.shape, st.floats(-1, 1)))
    _, pullback = vjp(lambda x_: run_sf(program, x_, Y), X)
    (cot,) = pullback(imported(u))
    assert_fd(cot, np.tensordot(u, J, axes=(axes, axes)))


@examples(0.5)
@given(programs(), transform_inputs())
def test_hessian_against_second_differences(program, xy):
    x, y = xy
    note(f"program {program}")
    weights = np.sin(np.arange(x.size, dtype=np.float64) + 1).reshape(x.shape)
    H = hessian(lambda x_: sf.sum(run_sf(program, x_, imported(y)) * sf.tensor(weights)))(imported(x))
    assert_fd(H, fd_hessian(lambda x_: np.sum(run_np(program, x_, y) * weights), x), order=2)


@examples(1.0)
@given(programs(), st.integers(1, 4), st.data())
def test_vmap_and_vmap_of_grad_match_a_python_loop(program, batch, data):
    x, y = data.draw(transform_inputs(batch=batch))
    in_x = data.draw(st.sampled_from((0, 1, 2, -1)))
    y_mapped = data.draw(st.booleans())
    in_y = data.draw(st.sampled_from((0, -3))) if y_mapped else None
    out_dim = data.draw(st.sampled_from((0, 1, -1)))
    note(f"program {program}, in_dims ({in_x}, {in_y}), out_dims {out_dim}")
    xb = np.moveaxis(x, 0, in_x)  # the batch sits at in_x of the array handed in
    yb = y if y_mapped else y[0]
    X, Y = imported(xb), imported(yb)

    def f(x_, y_):
        return run_sf(program, x_, y_)

    def loss(x_, y_):
        return sf.sum(sf.sin(run_sf(program, x_, y_)))

    def element(i):
        return imported(np.copy(x[i])), imported(np.copy(y[i] if y_mapped else y[0]))

    mapped = vmap(f, in_dims=(in_x, in_y), out_dims=out_dim)(X, Y)
    loop = np.stack([values(f(*element(i))) for i in range(batch)], axis=out_dim)
    assert_matches(mapped, loop, np.float64, rtol=1e-12, atol=1e-14)
    per_sample = vmap(grad(loss), in_dims=(in_x, in_y))(X, Y)
    loop = np.stack([values(grad(loss)(*element(i))) for i in range(batch)])
    assert_matches(per_sample, loop, np.float64, rtol=1e-12, atol=1e-14)


# -------------------------------------------------------------------------------------------------
# Every op's rules: jacrev, jacfwd, hessian and vmap of single ops
# -------------------------------------------------------------------------------------------------
#
# Each entry is (swiftfunc spelling, numpy spelling, least rank) of x -> op(x) with d a dim of x.
# Inputs are distinct multiples of 1/8 (`grid_inputs`), so the kinks of sort, max, abs, relu, where
# (all at ties or at offsets of 1/16) lie at least 1/16 away: far outside the finite differences'
# steps, inside which every op is smooth.


def _take_pattern(shape, d):
    n = shape[d]
    return (np.indices(shape).sum(axis=0) * 7 + 3) % n


ZOO = {
    "sum_keep": (lambda x, d: sf.sum(x, d, keepdim=True), lambda x, d: np.sum(x, axis=d, keepdims=True), 1),
    "mean_all": (lambda x, d: sf.mean(x), lambda x, d: np.mean(x), 0),
    "prod": (lambda x, d: sf.prod(x, d), lambda x, d: np.prod(x, axis=d), 1),
    "amax": (lambda x, d: sf.amax(x, d), lambda x, d: np.amax(x, axis=d), 1),
    "amin_all": (lambda x, d: sf.amin(x), lambda x, d: np.amin(x), 0),
    "var": (lambda x, d: sf.var(x, d, correction=0), lambda x, d: np.var(x, axis=d), 1),
    # one more value, 3, outside the inputs' range: at least two distinct values, so std > 0 (smooth)
    "std_all": (lambda x, d: sf.std(sf.cat([sf.reshape(x, (-1,)), sf.full((1,), 3.0, dtype=sf.float64)])),
                lambda x, d: np.std(np.append(x.reshape(-1), 3.0), ddof=1), 0),
    "logsumexp": (lambda x, d: sf.logsumexp(x, d), lambda x, d: np.log(np.sum(np.exp(x), axis=d)), 1),
    "softmax": (lambda x, d: sf.softmax(x, d), lambda x, d: _np_softmax(x, d), 1),
    "log_softmax": (lambda x, d: sf.log_softmax(x, d), lambda x, d: np.log(_np_softmax(x, d)), 1),
    "cumsum": (lambda x, d: sf.cumsum(x, d), lambda x, d: np.cumsum(x, axis=d), 1),
    "cumprod": (lambda x, d: sf.cumprod(x, d), lambda x, d: np.cumprod(x, axis=d), 1),
    "sort": (lambda x, d: sf.sort(x, d)[0], lambda x, d: np.sort(x, axis=d), 1),
    "sort_descending": (lambda x, d: sf.sort(x, d, descending=True)[0], lambda x, d: -np.sort(-x, axis=d), 1),
    "topk": (lambda x, d: sf.topk(x, min(2, x.shape[d]), d)[0],
             lambda x, d: np.take(-np.sort(-x, axis=d), range(min(2, x.shape[d])), axis=d), 1),
    "flip": (lambda x, d: sf.flip(x, (d,)), lambda x, d: np.flip(x, axis=d), 1),
    "roll": (lambda x, d: sf.roll(x, 1, d), lambda x, d: np.roll(x, 1, axis=d), 1),
    "transpose": (lambda x, d: sf.transpose(x, 0, d), lambda x, d: np.swapaxes(x, 0, d), 1),
    "gather": (lambda x, d: sf.gather(x, d, sf.tensor(_take_pattern(x.shape, d))),
               lambda x, d: np.take_along_axis(x, _take_pattern(x.shape, d), axis=d), 1),
    "index_select": (lambda x, d: sf.index_select(x, d, sf.tensor([x.shape[d] - 1, 0, 0])),
                     lambda x, d: np.take(x, [x.shape[d] - 1, 0, 0], axis=d), 1),
    "strided_slice": (lambda x, d: x[(slice(None),) * d + (slice(1, None, 2),)],
                      lambda x, d: x[(slice(None),) * d + (slice(1, None, 2),)], 1),
    "where": (lambda x, d: sf.where(x > 0.0625, x * x, sf.sin(x)), lambda x, d: np.where(x > 0.0625, x * x, np.sin(x)),
              0),
    # x_i - x_j / 2 is a multiple of 1/16, so it is never the 1/32 of a tie
    "maximum_flip": (lambda x, d: sf.maximum(x, sf.flip(x, (d,)) * 0.5 + 0.03125),
                     lambda x, d: np.maximum(x, np.flip(x, axis=d) * 0.5 + 0.03125), 1),
    "abs": (lambda x, d: sf.abs(x - 0.0625), lambda x, d: np.abs(x - 0.0625), 0),
    "relu": (lambda x, d: sf.relu(x - 0.0625), lambda x, d: np.maximum(x - 0.0625, 0), 0),
    "pow": (lambda x, d: sf.pow(x * x + 1, 1.5), lambda x, d: (x * x + 1) ** 1.5, 0),
    "atan2": (lambda x, d: sf.atan2(x, 2.5 + sf.flip(x, (d,))), lambda x, d: np.arctan2(x, 2.5 + np.flip(x, axis=d)),
              1),
    "gelu": (lambda x, d: sf.gelu(x), lambda x, d: 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2))), 0),
    "silu": (lambda x, d: sf.silu(x), lambda x, d: x / (1 + np.exp(-x)), 0),
    "matmul": (lambda x, d: sf.matmul(x, sf.tensor(_W(x.shape[-1]))), lambda x, d: x @ _W(x.shape[-1]), 1),
    "tril": (lambda x, d: sf.tril(x, -1 + d), lambda x, d: np.tril(x, -1 + d), 2),
    "diagonal": (lambda x, d: sf.diagonal(x, 0, 0, -1), lambda x, d: np.diagonal(x, 0, 0, -1), 2),
    "expand": (lambda x, d: sf.expand(sf.unsqueeze(x, d), x.shape[:d] + (2,) + x.shape[d:]),
               lambda x, d: np.broadcast_to(np.expand_dims(x, d), x.shape[:d] + (2,) + x.shape[d:]), 1),
    "reshape": (lambda x, d: sf.reshape(x, (-1,)), lambda x, d: x.reshape(-1), 0),
    "cat": (lambda x, d: sf.cat([x, sf.sin(x)], d), lambda x, d: np.concatenate([x, np.sin(x)], axis=d), 1),
    "stack": (lambda x, d: sf.stack([x, x * x], d), lambda x, d: np.stack([x, x * x], axis=d), 0),
    # shifted by 1/16 so that no slice is all zeros, where the norm has its kink
    "norm": (lambda x, d: sf.linalg.vector_norm(x - 0.0625, 2, d),
             lambda x, d: np.sqrt(np.sum((x - 0.0625) ** 2, axis=d)), 1),
}


@st.composite
def grid_inputs(draw, min_dims, batch=None):
    """A float64 array of distinct multiples of 1/8 in [-2, 2] (at most 27 elements), in a layout."""
    shape = draw(shapes(min_dims=min_dims, max_dims=3, min_side=1, max_side=3))
    if batch is not None:
        shape = (batch,) + shape
    n = int(np.prod(shape))
    assume(n <= 33)
    picks = draw(st.lists(st.integers(-16, 16), min_size=n, max_size=n, unique=True))
    base = np.array(picks, dtype=np.float64).reshape(shape) / 8
    return draw(views(np.float64, shape, st.sampled_from(sorted(set(picks))).map(lambda k: k / 8))
                .map(lambda a: _relayout(base, a)))


def _relayout(values_, layout_source):
    """values_ copied into the memory layout of layout_source when it owns distinct elements."""
    if layout_source.flags.writeable and all(s != 0 for s in layout_source.strides):
        layout_source[...] = values_
        return layout_source
    return values_


@examples()
@given(st.sampled_from(sorted(ZOO)), st.data())
def test_each_op_rules_against_finite_differences(name, data):
    f_sf, f_np, min_dims = ZOO[name]
    x = data.draw(grid_inputs(min_dims))
    d = data.draw(st.integers(0, max(x.ndim - 1, 0)))
    note(f"op {name}, dim {d}, x {x.tolist()}")
    X = imported(x)
    assert_matches(f_sf(X, d), f_np(x, d), np.float64, rtol=1e-12, atol=1e-12)
    J = fd_jacobian(lambda x_: f_np(x_, d), x)
    assert_fd(jacrev(lambda x_: f_sf(x_, d))(X), J)
    assert_fd(jacfwd(lambda x_: f_sf(x_, d))(X), J)
    out_shape = J.shape[:J.ndim - x.ndim]
    w = np.cos(np.arange(int(np.prod(out_shape)), dtype=np.float64)).reshape(out_shape) + 0.25
    H = hessian(lambda x_: sf.sum(f_sf(x_, d) * sf.tensor(w)))(X)
    assert_fd(H, fd_hessian(lambda x_: np.sum(f_np(x_, d) * w), x), order=2)


@examples()
@given(st.sampled_from(sorted(ZOO)), st.integers(1, 3), st.data())
def test_each_op_under_vmap_matches_a_loop(name, batch, data):
    f_sf, f_np, min_dims = ZOO[name]
    x = data.draw(grid_inputs(min_dims, batch=batch))
    d = data.draw(st.integers(0, max(x.ndim - 2, 0)))
    in_dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    out_dim = data.draw(st.integers(0, max(np.ndim(f_np(x[0], d)), 0)))
    chunk = data.draw(st.sampled_from((None, 1, 2)))
    note(f"op {name}, dim {d}, in_dims {in_dim}, out_dims {out_dim}, chunk_size {chunk}")
    xb = np.moveaxis(x, 0, in_dim)
    mapped = vmap(lambda x_: f_sf(x_, d), in_dims=in_dim, out_dims=out_dim, chunk_size=chunk)(imported(xb))
    loop = np.stack([values(f_sf(imported(np.copy(x[i])), d)) for i in range(batch)], axis=out_dim)
    assert_matches(mapped, loop, np.float64, rtol=1e-13, atol=1e-15)
    per_sample = vmap(grad(lambda x_: sf.sum(sf.sin(f_sf(x_, d)))), in_dims=in_dim)(imported(xb))
    loop = np.stack([values(grad(lambda x_: sf.sum(sf.sin(f_sf(x_, d))))(imported(np.copy(x[i]))))
                     for i in range(batch)])
    assert_matches(per_sample, loop, np.float64, rtol=1e-13, atol=1e-15)


# Binary ops under vmap: each operand batched (at any dim) or not. Entry: (op, per-example shapes of
# x and y from (m, n, k), the dtype of y: float64, or int64 indices below `bound`).
PAIRS = {
    "matmul": (sf.matmul, lambda m, n, k: ((m, k), (k, n)), None),
    "matvec": (sf.matmul, lambda m, n, k: ((m, k), (k,)), None),
    "add_broadcast": (lambda x, y: x + y, lambda m, n, k: ((m, n), (n,)), None),
    "maximum": (sf.maximum, lambda m, n, k: ((m, n), (m, 1)), None),
    "where": (lambda x, y: sf.where(x > y, x, y * 2), lambda m, n, k: ((m, n), (m, n)), None),
    "cat": (lambda x, y: sf.cat([x, y], 1), lambda m, n, k: ((m, n), (m, k)), None),
    "stack": (lambda x, y: sf.stack([x, y], -1), lambda m, n, k: ((m, n), (m, n)), None),
    "einsum": (lambda x, y: sf.einsum("ij,kj->ik", x, y), lambda m, n, k: ((m, n), (k, n)), None),
    "gather": (lambda x, y: sf.gather(x, 1, y), lambda m, n, k: ((m, n), (m, k)), "n"),
    "index_select": (lambda x, y: sf.index_select(x, 0, y), lambda m, n, k: ((m, n), (k,)), "m"),
    "getitem_tensor": (lambda x, y: x[y], lambda m, n, k: ((m, n), (k,)), "m"),
    "scatter_add": (lambda x, y: sf.scatter_add(x, 1, y, sf.sin(x[:, :y.shape[1]])),
                    lambda m, n, k: ((m, n), (m, min(k, n))), "n"),
}


@examples(2)
@given(st.sampled_from(sorted(PAIRS)), st.data())
def test_binary_ops_under_vmap_with_any_operand_batched(name, data):
    op, shapes_of, bound = PAIRS[name]
    m, n, k = (data.draw(st.integers(1, 3)) for _ in range(3))
    batch = data.draw(st.integers(1, 3))
    sx, sy = shapes_of(m, n, k)
    dims = [data.draw(st.sampled_from((None, 0, 1, -1))) for _ in range(2)]
    if dims == [None, None]:
        dims[data.draw(st.integers(0, 1))] = 0
    x = data.draw(views(np.float64, (batch,) + sx, st.floats(-2, 2)))
    limit = {"m": m, "n": n}.get(bound)
    y = data.draw(views(np.float64, (batch,) + sy, st.floats(-2, 2)) if limit is None else
                  views(np.int64, (batch,) + sy, st.integers(0, limit - 1)))
    note(f"{name}: x {sx}, y {sy}, batch {batch}, in_dims {dims}")

    def handed(a, d):  # the batch at dim d of the array handed in, or one unbatched example
        return a[0] if d is None else np.moveaxis(a, 0, d)

    mapped = vmap(op, in_dims=tuple(dims))(imported(handed(x, dims[0])), imported(handed(y, dims[1])))

    def example(a, d, i):
        return imported(np.copy(a[0] if d is None else a[i]))

    loop = np.stack([values(op(example(x, dims[0], i), example(y, dims[1], i))) for i in range(batch)])
    assert_matches(mapped, loop, np.float64, rtol=1e-13, atol=1e-15)
    if limit is None:  # and the gradient of both operands, per example
        def loss(a, b):
            return sf.sum(sf.sin(op(a, b)))
        per_sample = vmap(grad(loss, argnums=(0, 1)), in_dims=tuple(dims))(imported(handed(x, dims[0])),
                                                                           imported(handed(y, dims[1])))
        for j in range(2):
            loop = np.stack([values(grad(loss, argnums=(0, 1))(example(x, dims[0], i), example(y, dims[1], i))[j])
                             for i in range(batch)])
            assert_matches(per_sample[j], loop, np.float64, rtol=1e-13, atol=1e-15)


# -------------------------------------------------------------------------------------------------
# jit: staged (and fused) programs give the eager results bit for bit, whatever the inputs' layout
# -------------------------------------------------------------------------------------------------

# Elementwise steps over mixed dtypes and broadcast shapes (fusion groups them), and a reduction
# (which ends a fused group). Each takes the values at two drawn positions of the values so far.
JIT_STEPS = {
    "add": lambda x, y: x + y, "mul": lambda x, y: x * y, "maximum": sf.maximum, "minimum": sf.minimum,
    "div": lambda x, y: x / y, "lt": sf.lt, "where": lambda x, y: sf.where(x > y, x, y),
    "exp": lambda x, y: sf.exp(x), "sin": lambda x, y: sf.sin(x), "tanh": lambda x, y: sf.tanh(y),
    "abs": lambda x, y: sf.abs(x), "sqrt_abs": lambda x, y: sf.sqrt(sf.abs(x)),
    "to_float64": lambda x, y: x.to(sf.float64), "sum_keep": lambda x, y: sf.sum(x, -1, keepdim=True)
    if x.ndim else x + 0,
}


@st.composite
def jit_programs(draw):
    steps = draw(st.lists(st.tuples(st.sampled_from(sorted(JIT_STEPS)), st.integers(0, 10), st.integers(0, 10)),
                          min_size=1, max_size=8))
    outputs = draw(st.integers(1, 2))
    return steps, outputs


def run_jit_program(program, *inputs):
    steps, outputs = program
    vals = list(inputs)
    for name, i, j in steps:
        vals.append(JIT_STEPS[name](vals[i % len(vals)], vals[j % len(vals)]))
    return tuple(vals[-outputs:])


def _same_bits(actual, expected):
    a, e = values(actual), values(expected)
    assert a.dtype == e.dtype and a.shape == e.shape
    np.testing.assert_array_equal(a, e)  # NaN equals NaN here; the values must be identical


@examples(2)
@given(jit_programs(), st.data())
def test_jit_replays_eager_results_bitwise_for_any_layout(program, data):
    (sa, sb, sc), _ = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=4))
    dtypes = [data.draw(st.sampled_from(ALL)) for _ in range(3)]
    note(f"program {program}, dtypes {dtypes}")

    def draw_inputs():
        return [imported(data.draw(views(d, s))) for d, s in zip(dtypes, (sa, sb, sc))]

    def body(a, b, c):
        return run_jit_program(program, a, b, c)

    staged = sf.func.jit(body)
    for attempt in range(3):  # the trace, then replays with inputs in other layouts (same types)
        inputs = draw_inputs()
        try:
            expected = body(*inputs)
        except sf.Error as error:
            with pytest.raises(type(error)):
                staged(*inputs)
            return
        actual = staged(*inputs)
        assert len(actual) == len(expected)
        for got, want in zip(actual, expected):
            _same_bits(got, want)


# -------------------------------------------------------------------------------------------------
# Errors: exceptions of the documented types, never a crash
# -------------------------------------------------------------------------------------------------


@examples()
@given(st.data())
def test_bad_dims_are_invalid_argument_errors(data):
    a = data.draw(arrays(dtypes=FLOATS))
    nd = a.ndim
    # a 0-d tensor takes dims 0 and -1, as in torch
    rank = max(nd, 1)
    bad = data.draw(st.one_of(st.integers(rank, rank + 5), st.integers(-rank - 6, -rank - 1),
                              st.integers(2 ** 40, 2 ** 62), st.integers(-2 ** 63, -2 ** 62)))
    t = imported(a)
    for call in (lambda: sf.sum(t, bad), lambda: sf.softmax(t, bad), lambda: sf.cumsum(t, bad),
                 lambda: sf.transpose(t, 0, bad), lambda: sf.flip(t, (bad,)),
                 lambda: sf.argmax(t, bad), lambda: sf.amax(t, (bad,), True)):
        with pytest.raises(sf.InvalidArgumentError, match=r"sf_\w+: dim"):
            call()
    if nd:
        d = data.draw(st.integers(0, nd - 1))
        with pytest.raises(sf.InvalidArgumentError, match="more than once"):
            sf.sum(t, (d, d - nd))


def huge_ints():
    """Python ints just past (or far past) the C integer types: ctypes alone would wrap them modulo 2^64."""
    return st.one_of(st.integers(2 ** 31 - 2, 2 ** 31 + 2), st.integers(2 ** 63 - 2, 2 ** 64 + 8),
                     st.integers(-2 ** 64 - 8, -2 ** 63 + 2), st.integers(2 ** 64, 2 ** 200),
                     st.integers(-2 ** 200, -2 ** 64))


@examples(2)
@given(st.data())
def test_integers_past_int64_are_refused_never_wrapped(data):
    """Regression (found here): Python ints beyond int64_t crossed ctypes modulo 2^64, so sum(t, 2**64)
    summed dim 0 and zeros((2**64 + 2,)) made two elements."""
    a = data.draw(arrays(dtypes=FLOATS, min_dims=1, max_dims=2, min_side=1))
    t = imported(a)
    big = data.draw(huge_ints())
    fits = -2 ** 63 <= big < 2 ** 63
    calls = {
        "sum": lambda: sf.sum(t, big), "softmax": lambda: sf.softmax(t, big),
        "transpose": lambda: sf.transpose(t, 0, big), "reshape": lambda: sf.reshape(t, (big,)),
        "zeros": lambda: sf.zeros((big, 2)), "expand": lambda: sf.expand(t, (big,) + a.shape),
        "topk": lambda: sf.topk(t, big), "roll": lambda: sf.roll(t, big, 0), "flip": lambda: sf.flip(t, (big,)),
        "narrow": lambda: sf.narrow(t, 0, 0, big), "select": lambda: t[big],
        "cumsum": lambda: sf.cumsum(t, big), "unsqueeze": lambda: sf.unsqueeze(t, big),
        "full": lambda: sf.full((3, big), 1.0), "eye": lambda: sf.eye(big),
        "diagonal": lambda: sf.diagonal(t, big) if a.ndim == 2 else sf.tril(t, big),
    }
    name = data.draw(st.sampled_from(sorted(calls)))
    note(f"{name} with {big}")
    limit = sf.memory_stats()["limit"]
    sf.set_memory_limit(1 << 28)  # sizes that fit (2^31 + 1) must not fill gigabytes here
    try:
        result = calls[name]()
    except (sf.InvalidArgumentError, sf.ShapeError, sf.OutOfMemoryError, IndexError) as error:
        note(str(error))
        return
    finally:
        sf.set_memory_limit(limit)
    # only meaningful results get here: an int that fits and an op that makes sense of it
    assert fits or name in ("diagonal", "roll"), f"{name}({big}) returned {result!r} instead of refusing"
    if name == "diagonal":
        offset = max(-10, min(10, big))  # the same result past the sizes; numpy's own offsets are C longs
        expected = np.diagonal(a, offset) if a.ndim == 2 else np.tril(a, offset)
        assert_matches(result, expected, a.dtype.type)
    elif name == "roll":
        assert_matches(result, np.roll(a, big % a.shape[0], axis=0), a.dtype.type)


@examples()
@given(st.data())
def test_slices_with_any_python_ints_match_numpy(data):
    a = data.draw(arrays(min_dims=1, max_dims=1))
    bound = st.one_of(st.none(), st.integers(-8, 8), huge_ints())
    index = slice(data.draw(bound), data.draw(bound), data.draw(st.one_of(st.none(), st.integers(1, 4),
                                                                         st.integers(2 ** 62, 2 ** 80))))
    assert_matches(imported(a)[index], a[index], a.dtype.type)


DOCUMENTED = (sf.Error, ValueError, TypeError, IndexError, NotImplementedError)


@examples(2)
@given(st.data())
def test_random_arguments_give_a_result_or_a_documented_exception(data):
    """Ops called with arbitrary small ints for dims, sizes, offsets and counts, and operands of any
    shape and dtype: each returns a tensor or raises one of the documented exception types, whose
    message names the C function when it comes from the library. Never a crash."""
    a = data.draw(arrays(max_dims=3, max_side=3))
    b = data.draw(arrays(max_dims=3, max_side=3))
    i = st.integers(-5, 5)
    ta, tb = imported(a), imported(b)
    calls = {
        "narrow": lambda: sf.narrow(ta, data.draw(i), data.draw(i), data.draw(i)),
        "topk": lambda: sf.topk(ta, data.draw(i), data.draw(i), data.draw(st.booleans())),
        "diagonal": lambda: sf.diagonal(ta, data.draw(i), data.draw(i), data.draw(i)),
        "diag_embed": lambda: sf.diag_embed(ta, data.draw(i), data.draw(i), data.draw(i)),
        "roll": lambda: sf.roll(ta, data.draw(st.lists(i, max_size=3)), data.draw(st.lists(i, max_size=3))),
        "tril": lambda: sf.tril(ta, data.draw(i)),
        "cat": lambda: sf.cat([ta, tb], data.draw(i)),
        "stack": lambda: sf.stack([ta, tb], data.draw(i)),
        "gather": lambda: sf.gather(ta, data.draw(i), tb),
        "index_select": lambda: sf.index_select(ta, data.draw(i), tb),
        "scatter_add": lambda: sf.scatter_add(ta, data.draw(i), tb, ta),
        "einsum": lambda: sf.einsum(data.draw(st.text(alphabet="ij.->, k", max_size=10)), ta, tb),
        "expand": lambda: sf.expand(ta, data.draw(st.lists(i, max_size=4))),
        "permute": lambda: sf.permute(ta, data.draw(st.lists(i, max_size=4))),
        "squeeze": lambda: sf.squeeze(ta, data.draw(i)),
        "reshape": lambda: sf.reshape(ta, data.draw(st.lists(i, max_size=4))),
        "repeat": lambda: ta.repeat(*data.draw(st.lists(st.integers(-2, 3), min_size=1, max_size=4))),
        "tile": lambda: sf.tile(ta, data.draw(st.lists(st.integers(-2, 3), max_size=4))),
        "full": lambda: sf.full(data.draw(st.lists(i, max_size=3)), 1.0),
        "eye": lambda: sf.eye(data.draw(i), data.draw(i)),
        "arange": lambda: sf.arange(data.draw(i), data.draw(i), data.draw(i)),
        "linspace": lambda: sf.linspace(data.draw(i), data.draw(i), data.draw(i)),
        "matmul": lambda: sf.matmul(ta, tb),
        "where": lambda: sf.where(ta, ta, tb),
        "cumsum": lambda: sf.cumsum(ta, data.draw(i)),
        "sort": lambda: sf.sort(ta, data.draw(i))[0],
        "var": lambda: sf.var(ta, data.draw(i), correction=data.draw(i)),
        "softmax": lambda: sf.softmax(ta, data.draw(i)),
        "getitem": lambda: ta[data.draw(st.tuples(st.one_of(i, st.none(), st.slices(4)),
                                                  st.one_of(i, st.just(Ellipsis), st.slices(4))))],
        "split": lambda: sf.split(ta, data.draw(st.integers(-1, 3)), data.draw(i))[0],
        "unflatten": lambda: sf.unflatten(ta, data.draw(i), data.draw(st.lists(i, min_size=1, max_size=3))),
        "chunk": lambda: sf.chunk(ta, data.draw(i), data.draw(i))[0],
        "movedim": lambda: sf.movedim(ta, data.draw(i), data.draw(i)),
        "flatten": lambda: sf.flatten(ta, data.draw(i), data.draw(i)),
        "unbind": lambda: sf.unbind(ta, data.draw(i)),
    }
    name = data.draw(st.sampled_from(sorted(calls)))
    try:
        result = calls[name]()
    except DOCUMENTED as error:
        if isinstance(error, sf.Error):
            assert "sf_" in str(error), f"{name}: {error}"
        note(f"{name}: {type(error).__name__}: {error}")
        return
    for piece in result if isinstance(result, tuple) else (result,):  # unbind gives a tuple
        assert isinstance(piece, sf.Tensor)
        values(piece) if piece.numel() else None  # its memory is readable


@examples()
@given(st.data())
def test_python_side_dims_are_checked_like_the_library(data):
    """Regression (found here): flatten, unflatten and movedim reduced dims modulo the rank, so an
    out-of-range dim silently picked another one (unflatten(ones(3), 5, (3,)) succeeded), and 0-d
    inputs raised ZeroDivisionError; narrow/split/chunk/unbind said "tuple index out of range"."""
    a = data.draw(arrays(min_dims=1, max_dims=3, min_side=1))
    t = imported(a)
    nd = a.ndim
    d = data.draw(st.integers(-nd - 3, nd + 2))
    valid = -nd <= d < nd
    dn = d % nd
    cases = {
        "flatten": (lambda: sf.flatten(t, d), lambda: a.reshape(a.shape[:dn] + (-1,)) if a.size else
                    a.reshape(a.shape[:dn] + (int(np.prod(a.shape[dn:])),))),
        "unflatten": (lambda: sf.unflatten(t, d, (1, a.shape[dn])),
                      lambda: a.reshape(a.shape[:dn] + (1, a.shape[dn]) + a.shape[dn + 1:])),
        "movedim": (lambda: sf.movedim(t, d, 0), lambda: np.moveaxis(a, dn, 0)),
        "narrow": (lambda: sf.narrow(t, d, 0, 1), lambda: np.take(a, [0], axis=dn)),
        "split": (lambda: sf.split(t, 1, d)[0], lambda: np.take(a, [0], axis=dn)),
        "chunk": (lambda: sf.chunk(t, 1, d)[0], lambda: a),
        "unbind": (lambda: sf.unbind(t, d)[0], lambda: np.take(a, 0, axis=dn)),
    }
    name = data.draw(st.sampled_from(sorted(cases)))
    op, reference = cases[name]
    if not valid:
        with pytest.raises(IndexError, match=f"{name}: dim {d} is out of range"):
            op()
        return
    assert_matches(op(), reference(), a.dtype.type)
    zero_d = sf.tensor(1.0)
    if name in ("unflatten", "narrow", "split", "chunk", "unbind"):
        with pytest.raises(IndexError, match="0-d"):
            {"unflatten": lambda: sf.unflatten(zero_d, 0, (1,)), "narrow": lambda: sf.narrow(zero_d, 0, 0, 1),
             "split": lambda: sf.split(zero_d, 1), "chunk": lambda: sf.chunk(zero_d, 1),
             "unbind": lambda: sf.unbind(zero_d)}[name]()


@examples()
@given(st.data())
def test_mismatched_shapes_are_shape_errors_exactly_when_numpy_refuses(data):
    sa, sb = data.draw(shapes(max_side=3)), data.draw(shapes(max_side=3))
    a, b = data.draw(views(np.float32, sa)), data.draw(views(np.float64, sb))
    try:
        expected = np.broadcast_shapes(sa, sb)
    except ValueError:
        expected = None
    name = data.draw(st.sampled_from(("add", "mul", "maximum", "lt", "atan2")))
    if expected is None:
        with pytest.raises(sf.ShapeError, match=f"sf_{name}.*cannot be broadcast"):
            getattr(sf, name)(imported(a), imported(b))
    else:
        assert getattr(sf, name)(imported(a), imported(b)).shape == expected
    target = data.draw(shapes(max_side=5))
    size = int(np.prod(a.shape))
    if int(np.prod(target)) != size:
        with pytest.raises(sf.ShapeError, match="sf_reshape"):
            sf.reshape(imported(a), target)


@examples()
@given(st.data())
def test_matmul_errors_are_exactly_numpys_refusals_plus_non_float_dtypes(data):
    sa, sb = data.draw(shapes(min_dims=1, max_dims=3, max_side=3)), data.draw(shapes(min_dims=1, max_dims=3,
                                                                                    max_side=3))
    da, db = data.draw(st.sampled_from(ALL)), data.draw(st.sampled_from(ALL))
    a, b = data.draw(views(da, sa)), data.draw(views(db, sb))
    try:
        expected = np.matmul(a.astype(np.float64), b.astype(np.float64))
    except ValueError:
        expected = None
    if da not in FLOATS or db not in FLOATS:
        with pytest.raises((sf.DTypeError, sf.ShapeError), match="sf_matmul"):
            sf.matmul(imported(a), imported(b))
    elif expected is None:
        with pytest.raises(sf.ShapeError, match="sf_matmul"):
            sf.matmul(imported(a), imported(b))
    else:
        assert sf.matmul(imported(a), imported(b)).shape == expected.shape


@examples()
@given(st.data())
def test_transform_misuse_raises_documented_errors(data):
    a = data.draw(arrays(dtypes=ALL, min_dims=1, min_side=2, max_side=3))
    t = imported(a)
    if a.dtype.type in FLOATS:
        # grad needs a 0-d output
        with pytest.raises(sf.ShapeError, match="sf_grad"):
            grad(lambda x: x * 2)(t)
    else:
        with pytest.raises(sf.DTypeError):
            grad(lambda x: sf.sum(x * 1.5))(t)
    # vmap: in_dim out of range, mapped sizes that differ
    with pytest.raises(ValueError, match="in_dim"):
        vmap(lambda x: x, in_dims=a.ndim)(t)
    other = imported(np.zeros((a.shape[0] + 1,), dtype=np.float32))
    with pytest.raises(ValueError, match="same size"):
        vmap(lambda x, y: x)(t, other)
    # a failing callback surfaces as its own exception, and the next call works
    class Boom(Exception):
        pass

    def failing(x):
        raise Boom("inside the transform")

    with pytest.raises(Boom):
        vmap(failing)(t)
    assert vmap(lambda x: x)(t).shape == a.shape
