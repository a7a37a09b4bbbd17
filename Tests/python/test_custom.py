"""Custom differentiable functions from Python: swiftfunc.autograd.Function (torch's style) and
swiftfunc.func.custom_vjp / custom_jvp (JAX's style), over sf_custom_function_new.

A numpy-backed softplus (forward and rules in numpy, on zero-copy views) is checked against finite
differences of the numpy kernel under grad, vjp, jvp, vmap (with and without a batching rule),
vmap(grad) and, with rules written in swiftfunc ops, hessian; differentiating a numpy rule again is a
clear TransformError; exceptions raised in callbacks reach the caller as the same object; many
calls leak nothing."""
import gc
import sys

import numpy as np
import pytest

import swiftfunc as sf
from swiftfunc import autograd
from swiftfunc.autograd.function import once_differentiable
from swiftfunc.func import (custom_jvp, custom_vjp, grad, hessian, jacfwd, jacrev, jvp, vjp, vmap,
                            vmap_fallback_count)

X = np.array([-1.5, -0.2, 0.3, 2.0])
B = np.array([[-1.0, 0.5, 2.0], [-0.25, 1.5, 3.0]])
H = 1e-6
FD_TOL = 1e-7


def np_softplus(a):
    return np.logaddexp(0.0, a)


def np_sigmoid(a):
    return 1 / (1 + np.exp(-a))


def fd(fn, a):
    """Elementwise central finite differences of an elementwise numpy function."""
    return (fn(a + H) - fn(a - H)) / (2 * H)


def close(t, expected, tol=FD_TOL):
    np.testing.assert_allclose(np.asarray(t), expected, rtol=0, atol=tol)


calls = {"forward": 0, "backward": 0, "jvp": 0, "vmap": 0}


class NumpySoftplus(autograd.Function):
    """Host kernels: forward, backward and jvp all in numpy."""

    @staticmethod
    def forward(x):
        calls["forward"] += 1
        return np_softplus(x.numpy())

    @staticmethod
    def setup_context(ctx, inputs, output):
        (x,) = inputs
        ctx.save_for_backward(x)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        calls["backward"] += 1
        (x,) = ctx.saved_tensors
        return g.numpy() * np_sigmoid(x.numpy())

    @staticmethod
    @once_differentiable
    def jvp(ctx, t):
        calls["jvp"] += 1
        (x,) = ctx.saved_tensors
        return t.numpy() * np_sigmoid(x.numpy())


class BatchedNumpySoftplus(NumpySoftplus):
    """The same with a batching rule (elementwise: the whole batch at once, dims unchanged)."""

    @staticmethod
    @once_differentiable
    def vmap(info, in_dims, x):
        calls["vmap"] += 1
        assert info.batch_size == x.shape[in_dims[0]]
        return np_softplus(x.numpy()), in_dims[0]


class OpsSoftplus(autograd.Function):
    """A numpy forward with rules written in swiftfunc ops: differentiable again."""

    rules_use_ops = True

    @staticmethod
    def forward(x):
        return np_softplus(x.numpy())

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * sf.sigmoid(x)

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved_tensors
        return t * sf.sigmoid(x)


def loss(fn):
    return lambda x: fn(x).sum()


@pytest.fixture(autouse=True)
def _reset_calls():
    for k in calls:
        calls[k] = 0


# ------------------------------------------------------------------------------------------------
# torch style
# ------------------------------------------------------------------------------------------------


def test_apply_forward_and_zero_copy_input():
    x = sf.tensor(X)
    y = NumpySoftplus.apply(x)
    assert isinstance(y, sf.Tensor) and y.dtype == sf.float64 and y.shape == (4,)
    close(y, np_softplus(X), 1e-15)
    seen = {}

    class Probe(autograd.Function):
        @staticmethod
        def forward(x):
            seen["address"] = x.numpy().ctypes.data
            return x.numpy() * 2

    array = X.copy()
    shared = sf.from_dlpack(array)
    close(Probe.apply(shared), 2 * X, 0)
    assert seen["address"] == array.ctypes.data  # the forward read the caller's memory, no copy


def test_grad_and_vjp_match_finite_differences():
    x = sf.tensor(X)
    close(grad(loss(NumpySoftplus.apply))(x), fd(np_softplus, X))
    assert calls["backward"] == 1
    cot = np.array([1.0, -2.0, 0.5, 3.0])
    out, pullback = vjp(NumpySoftplus.apply, x)
    close(out, np_softplus(X), 1e-15)
    (xbar,) = pullback(sf.tensor(cot))
    close(xbar, cot * fd(np_softplus, X))
    close(jacrev(NumpySoftplus.apply)(x), np.diag(fd(np_softplus, X)))


def test_jvp_uses_the_rule():
    x, t = sf.tensor(X), sf.tensor([1.0, -2.0, 0.5, 3.0])
    out, tangent = jvp(NumpySoftplus.apply, (x,), (t,))
    close(out, np_softplus(X), 1e-15)
    close(tangent, t.numpy() * fd(np_softplus, X))
    assert calls["jvp"] == 1
    close(jacfwd(NumpySoftplus.apply)(x), np.diag(fd(np_softplus, X)))


def test_jvp_without_a_rule_is_a_clear_error():
    class NoJVP(autograd.Function):
        @staticmethod
        def forward(x):
            return np_softplus(x.numpy())

        @staticmethod
        def backward(ctx, g):
            return g

    x = sf.tensor(X)
    with pytest.raises(sf.UnsupportedError, match="custom function 'NoJVP' has no JVP rule"):
        jvp(NoJVP.apply, (x,), (x,))
    with pytest.raises(sf.UnsupportedError, match="'NoJVP' has no JVP rule"):
        jacfwd(NoJVP.apply)(x)


@pytest.mark.parametrize("cls, looped", [(BatchedNumpySoftplus, False), (NumpySoftplus, True)])
def test_vmap_with_and_without_a_batching_rule(cls, looped):
    before = vmap_fallback_count()
    y = vmap(cls.apply)(sf.tensor(B))
    close(y, np_softplus(B), 1e-15)
    assert vmap_fallback_count() - before == (1 if looped else 0)
    assert calls["vmap"] == (0 if looped else 1)
    assert calls["forward"] == (2 if looped else 0)  # the loop: one forward per element
    # a batch dim other than 0, in and out
    y = vmap(cls.apply, in_dims=1, out_dims=1)(sf.tensor(B))
    close(y, np_softplus(B), 1e-15)


@pytest.mark.parametrize("cls", [BatchedNumpySoftplus, NumpySoftplus, OpsSoftplus])
def test_vmap_of_grad_gives_per_example_gradients(cls):
    grads = vmap(grad(loss(cls.apply)))(sf.tensor(B))
    close(grads, fd(np_softplus, B))
    # and grad of vmap
    close(grad(lambda x: vmap(cls.apply)(x).sum())(sf.tensor(B)), fd(np_softplus, B))


def test_hessian_with_ops_rules():
    x = sf.tensor(X)
    close(hessian(loss(OpsSoftplus.apply))(x), np.diag(fd(np_sigmoid, X)))
    close(grad(lambda x: grad(loss(OpsSoftplus.apply))(x)[2])(x), np.eye(4)[2] * fd(np_sigmoid, X))


def test_differentiating_a_numpy_rule_again_is_a_clear_error():
    x = sf.tensor(X)
    message = "custom function 'NumpySoftplus': its VJP is a host kernel and cannot be differentiated again"
    with pytest.raises(sf.TransformError, match=message):
        hessian(loss(NumpySoftplus.apply))(x)
    with pytest.raises(sf.TransformError, match="host kernel"):
        grad(lambda x: grad(loss(NumpySoftplus.apply))(x).sum())(x)


def test_several_outputs_and_non_tensor_arguments():
    class ScaledPair(autograd.Function):
        """(scale * x * y, x + y) with a non-Tensor scale: two inputs, two outputs."""

        @staticmethod
        def forward(x, scale, y):
            a, b = x.numpy(), y.numpy()
            return scale * a * b, a + b

        @staticmethod
        def setup_context(ctx, inputs, output):
            x, scale, y = inputs
            ctx.scale = scale
            ctx.save_for_backward(x, y)

        @staticmethod
        @once_differentiable
        def backward(ctx, g_prod, g_sum):
            x, y = (t.numpy() for t in ctx.saved_tensors)
            g_prod, g_sum = g_prod.numpy(), g_sum.numpy()
            assert ctx.needs_input_grad == (True, False, True)
            return ctx.scale * g_prod * y + g_sum, None, ctx.scale * g_prod * x + g_sum

    x, y = sf.tensor([1.0, 2.0]), sf.tensor([3.0, -1.0])
    prod, total = ScaledPair.apply(x, 2.0, y)
    close(prod, [6.0, -4.0], 0)
    close(total, [4.0, 1.0], 0)
    gx, gy = grad(lambda x, y: sum(t.sum() for t in ScaledPair.apply(x, 3.0, y)), argnums=(0, 1))(x, y)
    close(gx, 3.0 * y.numpy() + 1, 1e-15)
    close(gy, 3.0 * x.numpy() + 1, 1e-15)
    # a cotangent for one output only: the other arrives as zeros
    close(grad(lambda x: ScaledPair.apply(x, 1.0, y)[1].sum())(x), [1.0, 1.0], 0)


def test_rule_results_are_checked():
    class WrongShape(NumpySoftplus):
        @staticmethod
        def backward(ctx, g):
            return np.zeros(3)

    class WrongCount(NumpySoftplus):
        @staticmethod
        def backward(ctx, g):
            return g, g

    x = sf.tensor(X)
    with pytest.raises(sf.ShapeError, match="'WrongShape'.*shape \\[3\\]"):
        grad(loss(WrongShape.apply))(x)
    with pytest.raises(RuntimeError, match="backward returned 2 values, expected 1"):
        grad(loss(WrongCount.apply))(x)


def test_old_style_forward_with_ctx_is_rejected():
    class OldStyle(autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x

    with pytest.raises(TypeError, match="setup_context"):
        OldStyle.apply(sf.tensor(X))


# ------------------------------------------------------------------------------------------------
# JAX style
# ------------------------------------------------------------------------------------------------


@custom_vjp
def vjp_softplus(x):
    """softplus with a numpy fwd/bwd."""


def _vjp_fwd(x):
    a = x.numpy()
    return np_softplus(a), (np_sigmoid(a), "static")


@once_differentiable
def _vjp_bwd(res, g):
    slope, tag = res
    assert isinstance(slope, np.ndarray) and tag == "static"  # numpy residuals come back as numpy
    return (g.numpy() * slope,)


vjp_softplus.defvjp(_vjp_fwd, _vjp_bwd)


@custom_vjp(rules_use_ops=True)
def ops_vjp_softplus(x):
    """softplus whose bwd uses ops and reads x from the residuals (passed as the input itself)."""


ops_vjp_softplus.defvjp(lambda x: (np_softplus(x.numpy()), x), lambda x, g: (g * sf.sigmoid(x),))


def test_custom_vjp():
    x = sf.tensor(X)
    assert vjp_softplus.__name__ == "vjp_softplus"
    close(vjp_softplus(x), np_softplus(X), 1e-15)
    close(grad(loss(vjp_softplus))(x), fd(np_softplus, X))
    close(vmap(grad(loss(vjp_softplus)))(sf.tensor(B)), fd(np_softplus, B))
    close(vmap(vjp_softplus)(sf.tensor(B)), np_softplus(B), 1e-15)
    with pytest.raises(sf.TransformError, match="'vjp_softplus': its VJP is a host kernel"):
        jacrev(jacrev(loss(vjp_softplus)))(x)
    # no JVP rule (as in JAX): forward mode, and so hessian (jacfwd of jacrev), is a clear error
    with pytest.raises(sf.UnsupportedError, match="'vjp_softplus' has no JVP rule"):
        jvp(vjp_softplus, (x,), (x,))
    with pytest.raises(sf.UnsupportedError, match="'ops_vjp_softplus' has no JVP rule"):
        hessian(loss(ops_vjp_softplus))(x)
    # an ops-based bwd is differentiated again: second derivatives by reverse-over-reverse
    close(jacrev(jacrev(loss(ops_vjp_softplus)))(x), np.diag(fd(np_sigmoid, X)))
    close(vmap(grad(loss(ops_vjp_softplus)))(sf.tensor(B)), fd(np_softplus, B))


def test_custom_vjp_requires_defvjp():
    @custom_vjp
    def f(x):
        return x

    with pytest.raises(AttributeError, match="No VJP defined"):
        f(sf.tensor(X))


@custom_jvp
def jvp_softplus(x):
    return np_softplus(x.numpy())


@jvp_softplus.defjvp
@once_differentiable
def _jvp_softplus_rule(primals, tangents):
    (x,), (t,) = primals, tangents
    return None, t.numpy() * np_sigmoid(x.numpy())


@custom_jvp(rules_use_ops=True)
def ops_jvp_softplus(x):
    return np_softplus(x.numpy())


@ops_jvp_softplus.defjvp
def _ops_jvp_softplus_rule(primals, tangents):
    (x,), (t,) = primals, tangents
    return None, t * sf.sigmoid(x)


@ops_jvp_softplus.defvmap
def _ops_jvp_softplus_batch(batch_size, in_dims, x):
    calls["vmap"] += 1
    return np_softplus(x.numpy()), in_dims[0]


def test_custom_jvp():
    x, t = sf.tensor(X), sf.tensor([1.0, -2.0, 0.5, 3.0])
    _, tangent = jvp(jvp_softplus, (x,), (t,))
    close(tangent, t.numpy() * fd(np_softplus, X))
    close(jacfwd(jvp_softplus)(x), np.diag(fd(np_softplus, X)))
    with pytest.raises(sf.UnsupportedError, match="'jvp_softplus' has no VJP rule"):
        grad(loss(jvp_softplus))(x)
    # ops rule: reverse mode by transposing it, and second derivatives
    _, tangent = jvp(ops_jvp_softplus, (x,), (t,))
    close(tangent, t.numpy() * fd(np_softplus, X))
    close(grad(loss(ops_jvp_softplus))(x), fd(np_softplus, X))
    close(hessian(loss(ops_jvp_softplus))(x), np.diag(fd(np_sigmoid, X)))
    before = vmap_fallback_count()
    close(vmap(ops_jvp_softplus)(sf.tensor(B)), np_softplus(B), 1e-15)
    assert calls["vmap"] == 1 and vmap_fallback_count() == before


# ------------------------------------------------------------------------------------------------
# Exceptions and leaks
# ------------------------------------------------------------------------------------------------


class Boom(Exception):
    pass


def _raising(where):
    """A softplus whose `where` callback raises a new Boom each time; the last one is in raised[-1]."""
    raised = []

    def boom():
        raised.append(Boom(f"{where} exploded"))
        return raised[-1]

    class Raising(BatchedNumpySoftplus):
        @staticmethod
        def forward(x):
            if where == "forward":
                raise boom()
            return np_softplus(x.numpy())

        @staticmethod
        def backward(ctx, g):
            if where == "backward":
                raise boom()
            return g

        @staticmethod
        def jvp(ctx, t):
            if where == "jvp":
                raise boom()
            return t

        @staticmethod
        def vmap(info, in_dims, x):
            if where == "vmap":
                raise boom()
            return np_softplus(x.numpy()), in_dims[0]

    return Raising, raised


@pytest.mark.parametrize("where, run", [
    ("forward", lambda f, x: f(x)),
    ("forward", lambda f, x: grad(loss(f))(x)),
    ("backward", lambda f, x: grad(loss(f))(x)),
    ("backward", lambda f, x: vmap(grad(loss(f)))(x.reshape(2, 2))),
    ("jvp", lambda f, x: jvp(f, (x,), (x,))),
    ("vmap", lambda f, x: vmap(f)(x.reshape(2, 2))),
])
def test_exceptions_propagate_as_the_original_object(where, run):
    cls, raised = _raising(where)
    with pytest.raises(Boom, match=f"{where} exploded") as caught:
        run(cls.apply, sf.tensor(X))
    assert caught.value is raised[-1]
    # everything works again afterwards
    close(grad(loss(BatchedNumpySoftplus.apply))(sf.tensor(X)), fd(np_softplus, X))


def test_exception_in_custom_vjp_bwd():
    error = Boom("bwd exploded")

    @custom_vjp
    def f(x):
        pass

    def bwd(res, g):
        raise error

    f.defvjp(lambda x: (x.numpy() * 2, ()), bwd)
    with pytest.raises(Boom) as caught:
        grad(loss(f))(sf.tensor(X))
    assert caught.value is error


def _mallinfo_in_use():
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in
                    ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                     "keepcost")]

    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
    except AttributeError:
        return None
    mallinfo2.restype = MallInfo2
    info = mallinfo2()
    return info.uordblks + info.hblkhd


def test_no_leaks_over_many_calls():
    from swiftfunc import _function

    array = B.copy()
    baseline_refs = sys.getrefcount(array)
    failing, raised = _raising("backward")

    def rounds(n):
        for i in range(n):
            x = sf.from_dlpack(array)  # the forward and rules see the caller's memory
            NumpySoftplus.apply(x)
            vmap(grad(loss(NumpySoftplus.apply)))(x)
            vmap(BatchedNumpySoftplus.apply)(x)
            jvp(NumpySoftplus.apply, (x,), (x,))
            grad(loss(vjp_softplus))(x)
            grad(loss(ops_jvp_softplus))(x)
            try:
                grad(loss(failing.apply))(x)
            except Boom:
                raised.clear()  # an exception kept alive keeps its traceback's frames (and their functions)

    rounds(20)  # warm up caches
    gc.collect()
    registry, objects, memory = len(_function._registry), len(gc.get_objects()), _mallinfo_in_use()
    rounds(200)
    gc.collect()
    assert len(_function._registry) == registry  # every custom function and rule was freed
    assert len(gc.get_objects()) - objects < 50
    if memory is not None:
        assert _mallinfo_in_use() - memory < 256 * 1024  # each leaked round would hold kilobytes
    assert sys.getrefcount(array) == baseline_refs


# ------------------------------------------------------------------------------------------------
# The defaults of the libraries users come from (torch: a backward made of ops is differentiable
# again; JAX: custom rules are differentiated, and fwd may call the function itself)
# ------------------------------------------------------------------------------------------------


class Cube(autograd.Function):
    """x**3 with rules written in swiftfunc ops and no rules_use_ops attribute: differentiable again."""

    @staticmethod
    def forward(x):
        return x * x * x

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x * x

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved_tensors
        return t * 3 * x * x


def fd_jacobian(fn, a, h=1e-5):
    """Central differences in float64 of a numpy function R^n -> R^m at a, as [m, n]."""
    a = np.asarray(a, dtype=np.float64)
    columns = []
    for k in range(a.size):
        e = np.zeros_like(a)
        e.flat[k] = h
        columns.append((np.asarray(fn(a + e)) - np.asarray(fn(a - e))).ravel() / (2 * h))
    return np.stack(columns, axis=-1)


def test_autograd_function_ops_rules_are_differentiable_by_default():
    x = sf.tensor(X)
    f = lambda x: Cube.apply(x).sum()  # noqa: E731
    close(grad(f)(x), fd_jacobian(lambda a: (a ** 3).sum(), X)[0], 1e-6)
    # order 2, by jacrev(jacrev) and by hessian (jacfwd of jacrev: the JVP rule is differentiated too)
    expected = fd_jacobian(lambda a: 3 * a ** 2, X)
    close(jacrev(jacrev(f))(x), expected, 1e-5)
    close(hessian(f)(x), expected, 1e-5)
    close(jacfwd(jacfwd(f))(x), expected, 1e-5)


def test_once_differentiable_marks_a_numpy_rule():
    class NumpyCube(autograd.Function):
        @staticmethod
        def forward(x):
            return x.numpy() ** 3

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])

        @staticmethod
        @once_differentiable
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g.numpy() * 3 * x.numpy() ** 2

    x = sf.tensor(X)
    f = lambda x: NumpyCube.apply(x).sum()  # noqa: E731
    close(grad(f)(x), 3 * X ** 2, 1e-12)
    close(vmap(grad(f))(sf.tensor(B)), 3 * B ** 2, 1e-12)  # host kernels loop under vmap
    with pytest.raises(sf.TransformError, match="'NumpyCube': its VJP is a host kernel and cannot be differentiated"):
        jacrev(jacrev(f))(x)


def test_an_unmarked_rule_reading_data_says_what_to_do():
    class Unmarked(autograd.Function):
        @staticmethod
        def forward(x):
            return x.numpy() * 2

        @staticmethod
        def backward(ctx, g):
            return g.numpy() * 2  # reads data but is not marked once_differentiable

    x = sf.tensor(X)
    close(grad(lambda x: Unmarked.apply(x).sum())(x), np.full(4, 2.0), 0)  # concrete cotangent: fine
    with pytest.raises(sf.TransformError, match="'Unmarked': its backward read the data of a traced value.*once_differentiable"):
        jacrev(Unmarked.apply)(x)  # vmap of the pullback over one-hot cotangents: traced cotangents


def test_custom_vjp_fwd_may_call_the_function_itself():
    @custom_vjp
    def f(x):
        return sf.sin(x) * x

    def f_fwd(x):
        return f(x), x  # JAX's documented idiom: the call evaluates f's own body

    def f_bwd(x, g):
        return (g * (sf.cos(x) * x + sf.sin(x)),)

    f.defvjp(f_fwd, f_bwd)
    x = sf.tensor(X)
    close(f(x), np.sin(X) * X, 1e-15)
    close(grad(lambda x: f(x).sum())(x), fd_jacobian(lambda a: (np.sin(a) * a).sum(), X)[0], 1e-6)
    # bwd is made of ops: differentiated again by default (order 2 against finite differences; forward
    # mode, and so hessian = jacfwd(jacrev), needs a JVP rule, which custom_vjp has not, as in JAX)
    expected = fd_jacobian(lambda a: np.cos(a) * a + np.sin(a), X)
    close(jacrev(jacrev(lambda x: f(x).sum()))(x), expected, 1e-5)
    close(grad(lambda x: grad(lambda x: f(x).sum())(x)[1])(x), expected[1], 1e-5)
    close(vmap(grad(lambda x: f(x).sum()))(sf.tensor(B)), np.cos(B) * B + np.sin(B), 1e-12)


def test_custom_jvp_rules_are_transposed_by_default():
    @custom_jvp
    def f(x):
        return sf.exp(x) * 2

    @f.defjvp
    def f_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return f(x), f(x) * t  # f inside its own rule evaluates f's body

    x = sf.tensor(X)
    close(grad(lambda x: f(x).sum())(x), 2 * np.exp(X), 1e-12)
    close(hessian(lambda x: f(x).sum())(x), np.diag(2 * np.exp(X)), 1e-12)
    close(jacfwd(f)(x), fd_jacobian(lambda a: 2 * np.exp(a), X), 1e-5)

    @custom_jvp
    def g(x):
        return np.exp(x.numpy())

    @g.defjvp
    @once_differentiable
    def g_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return None, np.exp(x.numpy()) * t.numpy()

    close(jvp(g, (x,), (sf.ones_like(x),))[1], np.exp(X), 1e-12)
    with pytest.raises(sf.UnsupportedError):
        grad(lambda x: g(x).sum())(x)
