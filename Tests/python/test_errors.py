"""Errors and the binding machinery: the declaration table mirrors the header, the ABI check, statuses as
exception classes, and Python exceptions raised inside transformed functions reaching the caller as the
original object with its traceback, through any depth of nesting."""
import os
import re
import subprocess
import sys
import traceback

import numpy as np
import pytest

import swiftfunc as sf
from swiftfunc import _capi, _errors, _function
from swiftfunc.func import grad, hessian, jacfwd, jacrev, jvp, linearize, vjp, vmap

HEADER = os.path.join(os.path.dirname(__file__), "..", "..", "include", "swiftfunc.h")


# ------------------------------------------------------------------------------------------------
# The declaration table
# ------------------------------------------------------------------------------------------------


def header_functions():
    text = re.sub(r"/\*.*?\*/", "", open(HEADER).read(), flags=re.S)
    found = {}
    for match in re.finditer(r"^([A-Za-z_][\w \*]*?)\b(sf_\w+)\s*\(([^;]*?)\);", text, flags=re.M | re.S):
        restype, name, args = match.group(1).strip(), match.group(2), " ".join(match.group(3).split())
        params = [] if args == "void" else [a.strip() for a in args.split(",")]
        found[name] = (restype, params)
    return found


def test_table_mirrors_the_header():
    declared = {name: (restype, argtypes) for name, restype, argtypes in _capi._DECLARATIONS}
    header = header_functions()
    assert sorted(declared) == sorted(header)
    assert len(declared) == len(_capi._DECLARATIONS)  # each function once
    for name, (c_restype, params) in header.items():
        restype, argtypes = declared[name]
        assert len(argtypes) == len(params), name
        if c_restype == "sf_status":
            assert restype is _capi.status, name
        elif c_restype == "void":
            assert restype is None, name
        for param, argtype in zip(params, argtypes):
            if param.startswith("sf_tensor *") and "*const" not in param and "**" not in param:
                assert argtype is _capi.tensor, (name, param)
            if param.startswith(("int64_t ", "size_t ", "double ", "bool ")) and "*" not in param:
                assert argtype in (_capi.c_int64, _capi.c_size_t, _capi.c_double, _capi.c_bool), (name, param)
    assert _capi.ABI_VERSION == int(re.search(r"#define SF_ABI_VERSION (\d+)", open(HEADER).read()).group(1))
    assert _capi.NOT_MAPPED == -(2 ** 63)


def test_enum_values_match_the_header():
    text = open(HEADER).read()
    for name, value in [("SF_ERR_CALLBACK", _capi.ERR_CALLBACK), ("SF_ERR_INTERNAL", _capi.ERR_INTERNAL),
                        ("SF_FLOAT64", _capi.FLOAT64), ("SF_BOOL", _capi.BOOL), ("SF_REDUCTION_SUM", _capi.REDUCTION_SUM),
                        ("SF_RANDOMNESS_SAME", _capi.RANDOMNESS_SAME)]:
        assert re.search(rf"\b{name} = {value}\b", text), name
    for cls in (sf.InvalidArgumentError, sf.ShapeError, sf.DTypeError, sf.DeviceError, sf.OutOfMemoryError,
                sf.TransformError, sf.CallbackError, sf.UnsupportedError, sf.InternalError):
        assert issubclass(cls, sf.Error)
    assert [c.status for c in (sf.InvalidArgumentError, sf.ShapeError, sf.DTypeError, sf.DeviceError,
                               sf.OutOfMemoryError, sf.TransformError, sf.CallbackError, sf.UnsupportedError,
                               sf.InternalError)] == list(range(1, 10))
    assert issubclass(sf.InvalidArgumentError, ValueError) and issubclass(sf.DTypeError, TypeError)
    assert issubclass(sf.OutOfMemoryError, MemoryError) and issubclass(sf.TransformError, RuntimeError)
    assert issubclass(sf.UnsupportedError, NotImplementedError)


def test_status_values_match_the_header():
    """Every sf_status enumerator of the header, by name and value: in _capi (OK, ERR_...), re-exported from
    _errors, where they are defined once, and as the status of exactly one exception class."""
    body = re.search(r"typedef enum sf_status \{(.*?)\} sf_status;", open(HEADER).read(), flags=re.S).group(1)
    header = {name: int(value) for name, value in re.findall(r"\bSF_(\w+) = (\d+)", re.sub(r"/\*.*?\*/", "", body))}
    assert header["OK"] == 0 and len(header) == 10
    assert {name: getattr(_capi, name) for name in header} == header
    assert {name: getattr(_errors, name) for name in header} == header
    classes = [c for c in vars(sf).values() if isinstance(c, type) and issubclass(c, sf.Error) and c is not sf.Error]
    assert sorted(cls.status for cls in classes) == sorted(v for name, v in header.items() if name != "OK")
    for name, value in header.items():
        if name != "OK":
            error = _errors.error_for_status(value, "message")
            assert error.status == value and type(error).__doc__.startswith(f"SF_{name}:"), name


def test_abi_mismatch_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(_capi, "ABI_VERSION", 999)
    with pytest.raises(ImportError, match="ABI version 1.*ABI version 999"):
        _capi._Library(_capi.lib.path)


def test_library_selection():
    assert os.path.isfile(sf.library_path())
    assert sf.library_version() == "0.1.0"
    env = dict(os.environ, SWIFTFUNC_LIBRARY="/nonexistent/libswiftfunc.so")
    result = subprocess.run([sys.executable, "-c", "import swiftfunc"], env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "libswiftfunc.so not found" in result.stderr and "SWIFTFUNC_LIBRARY" in result.stderr
    env = dict(os.environ, SWIFTFUNC_LIBRARY=sys.executable)  # a file that is no library
    result = subprocess.run([sys.executable, "-c", "import swiftfunc"], env=env, capture_output=True, text=True)
    assert result.returncode != 0 and "cannot load" in result.stderr


# ------------------------------------------------------------------------------------------------
# Exceptions inside transformed functions
# ------------------------------------------------------------------------------------------------


class Boom(Exception):
    pass


def raiser(error):
    def f(*args):
        raise error

    return f


TRANSFORMS = {
    "grad": lambda f, x: grad(f)(x),
    "vjp": lambda f, x: vjp(f, x),
    "jvp": lambda f, x: jvp(f, (x,), (x,)),
    "linearize": lambda f, x: linearize(f, x),
    "jacrev": lambda f, x: jacrev(f)(x),
    "jacfwd": lambda f, x: jacfwd(f)(x),
    "hessian": lambda f, x: hessian(f)(x),
    "vmap": lambda f, x: vmap(f)(x),
    "vmap-chunked": lambda f, x: vmap(f, chunk_size=1)(x),
}


@pytest.mark.parametrize("name", TRANSFORMS)
def test_exception_is_the_original_object(name):
    error = Boom("inside")
    with pytest.raises(Boom) as info:
        TRANSFORMS[name](raiser(error), sf.ones(2, 3))
    assert info.value is error
    frames = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert frames[-1] == "f"  # the raising frame is still in the traceback
    assert _function._pending() == []


def test_nested_exception_through_every_level():
    error = Boom("deep")

    def innermost(x):
        if x.ndim == 2:  # reached at the innermost level only: [2, 3, 4, 5] minus two vmapped dims
            raise error
        return x.sum()

    def level(fn):
        return lambda x: fn(x).sum()

    composed = vmap(level(jacrev(level(vmap(grad(lambda x: innermost(x).sum()))))))
    with pytest.raises(Boom) as info:
        composed(sf.ones(2, 3, 4, 5))
    assert info.value is error
    assert "innermost" in [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert _function._pending() == []


def test_library_errors_inside_callbacks_propagate_as_they_are():
    with pytest.raises(sf.ShapeError, match="sf_add") as info:
        grad(lambda x: (x + sf.ones(7)).sum())(sf.ones(3))
    assert "sf_add" in str(info.value)
    with pytest.raises(ZeroDivisionError):
        vmap(lambda x: x * (1 / 0))(sf.ones(2, 2))
    with pytest.raises(KeyboardInterrupt):  # BaseExceptions too
        grad(raiser(KeyboardInterrupt()))(sf.ones(2))


def test_exception_handled_inside_the_transformed_function():
    def f(x):
        try:
            grad(raiser(Boom("handled")))(x)
        except Boom:
            pass
        return (x * 2).sum()

    np.testing.assert_allclose(grad(f)(sf.ones(3))._copy_values(), np.full(3, 2.0))
    assert _function._pending() == []


def test_exception_in_linearize():
    # linearize runs the function (once) when it is called, so that is where its exception surfaces.
    with pytest.raises(Boom, match="first run"):
        linearize(raiser(Boom("first run")), sf.ones(3))


def test_linearize_jvp_fn_does_not_rerun_the_function():
    calls = []

    def f(x):
        calls.append(1)
        return sf.sin(x)

    _, jvp_fn = linearize(f, sf.ones(3))
    runs = len(calls)
    jvp_fn(sf.ones(3))
    jvp_fn(sf.ones(3))
    assert len(calls) == runs


def test_callback_message_reaches_sf_last_error():
    with pytest.raises(Boom):
        grad(raiser(Boom("xyz")))(sf.ones(2))
    assert "Boom('xyz')" in _capi.last_error()


def test_wrong_outputs_are_reported():
    with pytest.raises(RuntimeError, match="only tensors"):
        vjp(lambda x: (x, "not a tensor"), sf.ones(2))
    with pytest.raises(RuntimeError, match="non-empty"):
        vjp(lambda x: (), sf.ones(2))


def test_custom_function_desc_layout():
    """The ctypes sf_custom_function_desc matches the library: a custom function made through it runs its
    forward and its VJP (the Python package has no custom-function API yet; this checks the table)."""
    import ctypes

    from swiftfunc._function import Function
    from swiftfunc._tensor import borrow, wrap

    assert ctypes.sizeof(_capi.CustomFunctionDesc) == 4 + 4 + 8 * 12  # version 2: forward_list, batch_list

    def forward(user_data, inputs, n_in, outputs, n_out):  # x -> 3 x
        result = borrow(inputs[0]) * 3.0
        _capi.lib.sf_tensor_retain(result._h)
        outputs[0] = result._h
        return 0

    def backward(user_data, inputs, n_in, outputs, n_out):  # (x, y, dy) -> 3 dy
        result = borrow(inputs[2]) * 3.0
        _capi.lib.sf_tensor_retain(result._h)
        outputs[0] = result._h
        return 0

    freed = []
    forward_thunk, backward_thunk = _capi.CALLBACK(forward), _capi.CALLBACK(backward)
    free_thunk = _capi.FREE_USER_DATA(lambda user_data: freed.append(user_data))
    desc = _capi.CustomFunctionDesc(version=_capi.CUSTOM_FUNCTION_DESC_VERSION, name=b"triple", n_inputs=1,
                                    n_outputs=1, forward=forward_thunk, vjp=backward_thunk, user_data=42,
                                    free_user_data=free_thunk)
    handle = ctypes.c_void_p()
    _capi.lib.sf_custom_function_new(ctypes.byref(desc), ctypes.byref(handle))
    f = Function(handle.value, 1, 1)
    x = sf.tensor([1.0, 2.0])
    assert f([x])[0].tolist() == [3.0, 6.0]
    g = Function.made_by(_capi.lib.sf_grad, f._h, None, 0, False)
    with pytest.raises(sf.ShapeError):  # grad needs a scalar output: the error names the shape
        g([x])
    out = (ctypes.c_void_p * 1)()
    pullback = ctypes.c_void_p()
    inputs = _capi.handles([x])
    _function.invoke(_capi.lib.sf_vjp, f._h, inputs, 1, out, 1, ctypes.byref(pullback))
    assert wrap(out[0]).tolist() == [3.0, 6.0]
    (cotangent,) = Function(pullback.value, 1, 1)([sf.tensor([1.0, 10.0])])
    assert cotangent.tolist() == [3.0, 30.0]
    del f, g
    import gc

    gc.collect()
    assert freed == [42]
