"""torch's grad-mode switches: no_grad, enable_grad, set_grad_enabled, inference_mode, is_grad_enabled,
is_inference_mode_enabled; and stand-ins for tape autograd (autograd.backward, autograd.grad,
Tensor.backward) that raise UnsupportedError saying how to write them with swiftfunc.func.

swiftfunc has no tape: derivatives come from the transforms in swiftfunc.func, which differentiate what
they are given whatever the mode. So these change no computation; they exist so that code written for
torch (`with torch.no_grad():` around evaluation or parameter updates, `@torch.no_grad()` on a function)
runs unchanged. The mode is still tracked per thread, as torch tracks it, so that `is_grad_enabled()`
answers what torch would.
"""
import functools
import inspect
import threading

from .._errors import UnsupportedError

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "inference_mode",
           "is_inference_mode_enabled", "backward", "grad", "NO_TAPE"]

#: What tape autograd becomes in swiftfunc (the message of its stand-ins below).
NO_TAPE = ("swiftfunc has no tape: compute gradients with swiftfunc.func.grad (over "
           "swiftfunc.func.functional_call for a module's parameters) and give them to an optimizer with "
           "swiftfunc.optim.assign_grads(model, grads); docs/porting.md shows each rewrite")


def backward(*args, **kwargs):
    """torch.autograd.backward / Tensor.backward: raises UnsupportedError explaining the rewrite."""
    raise UnsupportedError(f"backward(): {NO_TAPE}")


def grad(*args, **kwargs):
    """torch.autograd.grad: raises UnsupportedError explaining the rewrite (swiftfunc.func.grad)."""
    raise UnsupportedError(f"torch.autograd.grad: {NO_TAPE}")

_state = threading.local()


def is_grad_enabled():
    """Whether grad mode is on in this thread (True unless inside no_grad / set_grad_enabled(False))."""
    return getattr(_state, "grad", True)


def is_inference_mode_enabled():
    """Whether this thread is inside inference_mode()."""
    return getattr(_state, "inference", False)


class _Mode:
    """A context manager that is also a decorator (of functions and generator functions), as torch's
    _DecoratorContextManager: each decorated call enters a fresh clone() of the mode."""

    def clone(self):
        return type(self)()

    def __exit__(self, *exc):
        _state.grad = self.prev
        return False

    def __call__(self, func):
        if inspect.isclass(func):
            raise RuntimeError(f"{type(self).__name__} cannot decorate a class; decorate its methods")
        if inspect.isgeneratorfunction(func):
            @functools.wraps(func)
            def generator(*args, **kwargs):
                # the mode holds while the generator runs, not while its caller runs between yields
                gen = func(*args, **kwargs)
                try:
                    with self.clone():
                        response = gen.send(None)
                    while True:
                        try:
                            request = yield response
                        except GeneratorExit:
                            with self.clone():
                                gen.close()
                            raise
                        except BaseException as exc:  # noqa: B036 - forwarded into the generator
                            with self.clone():
                                response = gen.throw(exc)
                        else:
                            with self.clone():
                                response = gen.send(request)
                except StopIteration as stop:
                    return stop.value

            return generator

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with self.clone():
                return func(*args, **kwargs)

        return wrapper


class _NoParamMode(_Mode):
    """A mode usable as `@mode`, `@mode()` and `with mode():`, as torch's no_grad and enable_grad are."""

    def __new__(cls, orig_func=None):
        if orig_func is None:
            return super().__new__(cls)
        return cls()(orig_func)

    def __enter__(self):
        self.prev = is_grad_enabled()
        _state.grad = self.enabled


class no_grad(_NoParamMode):
    """Grad mode off in this block or function (changes no computation in swiftfunc; see the module)."""

    enabled = False


class enable_grad(_NoParamMode):
    """Grad mode on in this block or function (changes no computation in swiftfunc; see the module)."""

    enabled = True


class set_grad_enabled(_Mode):
    """Sets grad mode to `mode` at once (as a function call) and, used as a context manager or decorator,
    restores the mode from before on exit (torch's semantics)."""

    def __init__(self, mode):
        self.prev = is_grad_enabled()
        self.mode = bool(mode)
        _state.grad = self.mode

    def __call__(self, func):
        _state.grad = self.prev  # as a decorator it applies to calls, not from now on
        return super().__call__(func)

    def __enter__(self):
        _state.grad = self.mode

    def clone(self):
        return set_grad_enabled(self.mode)


class inference_mode(_Mode):
    """torch.inference_mode(mode=True): grad mode off and inference mode on in this block or function
    (changes no computation in swiftfunc; see the module). Usable as @inference_mode too."""

    def __new__(cls, mode=True):
        if callable(mode) and not isinstance(mode, bool):
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode=True):
        self.mode = mode if isinstance(mode, bool) else True

    def clone(self):
        return inference_mode(self.mode)

    def __enter__(self):
        self.prev, self.prev_inference = is_grad_enabled(), is_inference_mode_enabled()
        if self.mode:
            _state.grad, _state.inference = False, True

    def __exit__(self, *exc):
        _state.grad, _state.inference = self.prev, self.prev_inference
        return False
