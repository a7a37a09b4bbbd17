"""Python callables as sf_functions, and calls of sf_functions that may run Python callbacks.

One ctypes trampoline serves every host function: `user_data` is a key into `_registry`, which
maps it to a flat Python callable (list of Tensors -> list of Tensors); the library calls
`_free` with the key when the last reference to the function dies. Python functions are made with
sf_function_new_at_return: the trampoline appends the callable's results to the library's list,
so the number of outputs is learned when the function returns and it runs once per call.

Exceptions: a Python exception raised inside a callback cannot cross the C frames below it. The
trampoline catches it, pushes it on a per-thread stack, sets sf_set_error(repr(exception)) and
returns nonzero, so the library unwinds with SF_ERR_CALLBACK. `invoke` (used for every C call that
may run callbacks) remembers the stack depth before the call; when the call fails it pops what
its own callbacks stashed and re-raises the original exception object, traceback included. With
nested transforms each level re-raises the same object into the callback above it, which stashes
it again, so it reaches the outermost caller unchanged.
"""
import ctypes
import itertools
import threading

from . import _capi
from ._capi import lib
from ._tensor import Tensor, borrow, wrap

_registry = {}
_keys = itertools.count(1)
_local = threading.local()


def _pending():
    try:
        return _local.pending
    except AttributeError:
        _local.pending = []
        return _local.pending


def _trampoline(user_data, inputs, n_inputs, outputs):
    try:
        body = _registry[user_data]
        append(outputs, body([borrow(inputs[i]) for i in range(n_inputs)]), "a transformed function")
        return 0
    except BaseException as exc:  # noqa: B036 - every exception, KeyboardInterrupt too, must reach the caller
        return stash(exc)


def append(tensor_list, results, what):
    """Appends Tensors to an sf_tensor_list (the list takes its own references)."""
    for r in results:
        if not isinstance(r, Tensor):
            raise TypeError(f"swiftfunc: {what} must return Tensors, got {type(r).__name__}")
    for r in results:
        lib.sf_tensor_list_append(tensor_list, r._h)


def run_callback(get_body, inputs, n_inputs, outputs, n_outputs):
    """The body of an sf_callback: runs get_body()(list of input Tensors) and stores the results in
    `outputs` (new references); on an exception stashes it, sets sf_set_error and returns 1."""
    try:
        body = get_body()
        args = [borrow(inputs[i]) for i in range(n_inputs)]
        results = body(args)
        if len(results) != n_outputs:
            raise RuntimeError(f"swiftfunc: a callback returned {len(results)} tensors where {n_outputs} were expected")
        for r in results:
            if not isinstance(r, Tensor):
                raise TypeError(f"swiftfunc: a transformed function must return Tensors, got {type(r).__name__}")
        for i, r in enumerate(results):
            lib.sf_tensor_retain(r._h)
            outputs[i] = r._h
        return 0
    except BaseException as exc:  # noqa: B036 - every exception, KeyboardInterrupt too, must reach the caller
        return stash(exc)


def stash(exc):
    """Records a callback's exception for `invoke` to re-raise, sets sf_set_error; returns 1."""
    _pending().append(exc)
    try:
        lib.sf_set_error(repr(exc).encode("utf-8", "replace")[:4000])
    except BaseException:  # noqa: B036 - never let anything escape a ctypes callback
        pass
    return 1


def _free(user_data):
    try:
        _registry.pop(user_data, None)
    except BaseException:  # noqa: B036 - may run at interpreter shutdown
        pass


def _out_dims_trampoline(user_data, n_outputs, out_dims):
    try:
        dims = _registry[user_data](n_outputs)
        if len(dims) != n_outputs:
            raise RuntimeError(f"swiftfunc: out_dims has {len(dims)} entries for {n_outputs} outputs")
        for i, d in enumerate(dims):
            out_dims[i] = d
        return 0
    except BaseException as exc:  # noqa: B036 - every exception must reach the caller
        return stash(exc)


_TRAMPOLINE = _capi.LIST_CALLBACK(_trampoline)
_OUT_DIMS = _capi.OUT_DIMS_CALLBACK(_out_dims_trampoline)
_FREE = _capi.FREE_USER_DATA(_free)
# Functions may be released at interpreter shutdown: keep both thunks alive for good.
ctypes.pythonapi.Py_IncRef(ctypes.py_object(_TRAMPOLINE))
ctypes.pythonapi.Py_IncRef(ctypes.py_object(_FREE))
ctypes.pythonapi.Py_IncRef(ctypes.py_object(_OUT_DIMS))


def register(body):
    """A user_data key for `body`, released by the library through _FREE."""
    key = next(_keys)
    _registry[key] = body
    return key


class TensorList:
    """An owned sf_tensor_list, as a context manager: `with TensorList() as out: ...; out.tensors()`."""

    __slots__ = ("_h",)

    def __init__(self):
        handle = ctypes.c_void_p()
        lib.sf_tensor_list_new(ctypes.byref(handle))
        self._h = handle.value

    def tensors(self):
        """The list's tensors (new references)."""
        size = ctypes.c_size_t()
        lib.sf_tensor_list_size(self._h, ctypes.byref(size))
        result = []
        for i in range(size.value):
            handle = ctypes.c_void_p()
            lib.sf_tensor_list_get(self._h, i, ctypes.byref(handle))
            result.append(wrap(handle.value))
        return result

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        lib.sf_tensor_list_free(self._h)
        self._h = None


def invoke(cfn, *args):
    """Calls a C function that may run callbacks; raises the original exception of a failed callback."""
    stack = _pending()
    depth = len(stack)
    status = cfn(*args)
    if status == _capi.OK:
        del stack[depth:]
        return
    stashed = stack[-1] if len(stack) > depth else None
    del stack[depth:]
    if stashed is not None and status == _capi.ERR_CALLBACK:
        raise stashed
    error = _capi.error(status)
    if stashed is not None:
        raise error from stashed
    raise error


class Function:
    """An owned reference to an sf_function."""

    __slots__ = ("_h", "n_inputs", "n_outputs", "__weakref__")

    def __init__(self, handle, n_inputs, n_outputs):
        self._h = handle
        self.n_inputs = n_inputs
        self.n_outputs = n_outputs

    @classmethod
    def from_python(cls, body, n_inputs):
        """A host function running `body(list of n_inputs Tensors) -> list of Tensors`; the number of
        outputs is whatever body returns (known when it returns)."""
        out = ctypes.c_void_p()
        lib.sf_function_new_at_return(_TRAMPOLINE, register(body), _FREE, n_inputs, ctypes.byref(out))  # frees the key on failure
        return cls(out.value, n_inputs, _capi.OUTPUTS_AT_RETURN)

    @classmethod
    def made_by(cls, cfn, *args):
        """The function made by `cfn(*args, &out)` (a transform), with its arity."""
        out = ctypes.c_void_p()
        cfn(*args, ctypes.byref(out))
        n_in, n_out = ctypes.c_size_t(), ctypes.c_size_t()
        function = cls(out.value, 0, 0)
        lib.sf_function_arity(out.value, ctypes.byref(n_in), ctypes.byref(n_out))
        function.n_inputs, function.n_outputs = n_in.value, n_out.value
        return function

    @classmethod
    def vmapped(cls, f, in_dims, out_dims, chunk_size, randomness):
        """sf_vmap_at_return of f: `out_dims(n_outputs)` gives the out dims once f has returned."""
        return cls.made_by(lib.sf_vmap_at_return, f._h, _capi.int64s(in_dims), len(in_dims), _OUT_DIMS,
                           register(out_dims), _FREE, chunk_size, randomness)

    def __call__(self, inputs):
        """Calls the function on a list of Tensors; returns a list of Tensors."""
        n_out = self.n_outputs
        handles = _capi.handles(inputs)
        if n_out == _capi.OUTPUTS_AT_RETURN:
            with TensorList() as outputs:
                invoke(lib.sf_call_list, self._h, handles, len(inputs), outputs._h)
                return outputs.tensors()
        outputs = (ctypes.c_void_p * n_out)()
        invoke(lib.sf_call, self._h, handles, len(inputs), outputs, n_out)
        return [wrap(h) for h in outputs]

    def __del__(self, _release=lib.sf_function_release):
        handle = getattr(self, "_h", None)
        if handle:
            self._h = None
            _release(handle)


def evaluate_and_make(cfn, f, inputs):
    """sf_vjp_list or sf_linearize_list of the Function f at inputs: runs f once and returns (its
    output Tensors, the handle of the function the transform made, a new reference)."""
    made = ctypes.c_void_p()
    with TensorList() as outputs:
        invoke(cfn, f._h, _capi.handles(inputs), len(inputs), outputs._h, ctypes.byref(made))
        return outputs.tensors(), made.value


def vmap_fallback_count():
    """How many times vmap ran a primitive by looping instead of a batching rule (sf_vmap_fallback_count)."""
    count = ctypes.c_uint64()
    lib.sf_vmap_fallback_count(ctypes.byref(count))
    return count.value
