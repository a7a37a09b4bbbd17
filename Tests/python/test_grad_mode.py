"""torch.no_grad / enable_grad / set_grad_enabled / inference_mode: context managers and decorators that
change no computation (swiftfunc has no tape) but track the mode as torch does (compared with torch when
it imports)."""
import numpy as np
import pytest

import swiftfunc as sf
from conftest import optional_module
from swiftfunc.func import grad

torch = optional_module("torch")


def modules():
    """swiftfunc, and torch when it imports: every test runs the same code against both."""
    return [sf] + ([torch] if torch is not None else [])


@pytest.mark.parametrize("lib", modules(), ids=lambda m: m.__name__)
def test_context_managers_track_the_mode(lib):
    assert lib.is_grad_enabled()
    with lib.no_grad():
        assert not lib.is_grad_enabled()
        with lib.enable_grad():
            assert lib.is_grad_enabled()
        assert not lib.is_grad_enabled()
    assert lib.is_grad_enabled()
    with lib.set_grad_enabled(False):
        assert not lib.is_grad_enabled()
    assert lib.is_grad_enabled()
    lib.set_grad_enabled(False)  # a plain call sets the mode
    assert not lib.is_grad_enabled()
    lib.set_grad_enabled(True)
    assert lib.is_grad_enabled()
    with lib.inference_mode():
        assert not lib.is_grad_enabled() and lib.is_inference_mode_enabled()
    with lib.inference_mode(False):
        assert lib.is_grad_enabled() and not lib.is_inference_mode_enabled()
    assert lib.is_grad_enabled() and not lib.is_inference_mode_enabled()


@pytest.mark.parametrize("lib", modules(), ids=lambda m: m.__name__)
def test_decorators_with_and_without_parentheses(lib):
    seen = []

    @lib.no_grad()
    def a(x):
        seen.append(lib.is_grad_enabled())
        return x * 2

    @lib.no_grad
    def b():
        seen.append(lib.is_grad_enabled())

    @lib.enable_grad()
    def c():
        seen.append(lib.is_grad_enabled())

    @lib.set_grad_enabled(False)
    def d():
        seen.append(lib.is_grad_enabled())

    @lib.inference_mode()
    def e():
        seen.append(lib.is_grad_enabled())

    @lib.inference_mode
    def f():
        seen.append(lib.is_inference_mode_enabled())

    assert lib.is_grad_enabled()  # decorating with set_grad_enabled(False) leaves the mode as it was
    assert a(3) == 6
    b()
    with lib.no_grad():
        c()
    d()
    e()
    f()
    assert seen == [False, False, True, False, False, True]
    assert a.__name__ == "a" and lib.is_grad_enabled()


@pytest.mark.parametrize("lib", modules(), ids=lambda m: m.__name__)
def test_decorated_generator_holds_the_mode_only_while_it_runs(lib):
    @lib.no_grad()
    def gen():
        received = yield lib.is_grad_enabled()
        yield (received, lib.is_grad_enabled())
        return "done"

    g = gen()
    assert next(g) is False and lib.is_grad_enabled()
    assert g.send(5) == (5, False)
    with pytest.raises(StopIteration) as stop:
        next(g)
    assert stop.value.value == "done"


def test_exceptions_restore_the_mode():
    with pytest.raises(KeyError):
        with sf.no_grad():
            raise KeyError("x")
    assert sf.is_grad_enabled()

    @sf.no_grad()
    def fails():
        raise ValueError("y")

    with pytest.raises(ValueError):
        fails()
    assert sf.is_grad_enabled()


def test_no_grad_changes_no_computation_and_transforms_still_differentiate():
    """Code ported from torch runs unchanged: the typical evaluation and manual-update blocks."""
    x = sf.tensor([0.5, 1.0, -2.0], dtype=sf.float64)
    with sf.no_grad():
        g = grad(lambda t: (t ** 3).sum())(x)  # transforms differentiate whatever the mode
        w = sf.nn.Parameter(sf.ones(3, dtype=sf.float64))
        w.sub_(0.1 * g)  # torch's manual SGD step under no_grad
    np.testing.assert_allclose(g._copy_values(), 3 * x._copy_values() ** 2)
    np.testing.assert_allclose(w._copy_values(), 1 - 0.3 * x._copy_values() ** 2)
    assert sf.autograd.no_grad is sf.no_grad and sf.autograd.grad_mode.enable_grad is sf.enable_grad


def test_tape_autograd_raises_and_says_how_to_port():
    x = sf.ones(2)
    for call in (lambda: (x * x).sum().backward(), lambda: sf.autograd.grad((x * x).sum(), [x]),
                 lambda: sf.autograd.backward([(x * x).sum()])):
        with pytest.raises(sf.UnsupportedError, match=r"no tape.*swiftfunc\.func\.grad.*assign_grads.*porting"):
            call()
    with pytest.raises(NotImplementedError):  # UnsupportedError is a NotImplementedError
        x.backward()
