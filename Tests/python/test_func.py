"""swiftfunc.func as seen from Python: torch.func's signatures, defaults and semantics (argnums, has_aux,
pytrees in and out, in_dims/out_dims, chunk_size, randomness), compositions, perturbation confusion,
escaped tracers, reading values under transforms, and comparisons with torch.func when it is installed."""
import collections
import threading

import numpy as np
import pytest

import swiftfunc as sf
from swiftfunc._pytree import tree_flatten
from swiftfunc.func import grad, grad_and_value, hessian, jacfwd, jacrev, jvp, linearize, vjp, vmap
from conftest import optional_module

torch = optional_module("torch")


def v(t):
    return t._copy_values()


def close(t, expected, rtol=1e-6, atol=1e-8):
    np.testing.assert_allclose(v(t), np.asarray(expected), rtol=rtol, atol=atol)


def rnd(*shape, seed=0):
    return sf.tensor(np.random.default_rng(seed).normal(size=shape), dtype=sf.float64)


def finite_difference_jacobian(fn, x, eps=1e-6):
    """d fn / d x by central differences (numpy in, numpy out)."""
    x = np.asarray(x, dtype=np.float64)
    f0 = np.asarray(fn(x))
    jac = np.zeros(f0.shape + x.shape)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = eps
        jac[(Ellipsis,) + index] = (np.asarray(fn(x + step)) - np.asarray(fn(x - step))) / (2 * eps)
    return jac


# ------------------------------------------------------------------------------------------------
# grad and grad_and_value
# ------------------------------------------------------------------------------------------------


def test_grad_closed_form():
    x = rnd(5)
    close(grad(lambda x: sf.sin(x).sum())(x), np.cos(v(x)))
    close(grad(lambda x: (x ** 3).sum())(x), 3 * v(x) ** 2)
    g, value = grad_and_value(lambda x: (x * x).sum())(x)
    close(g, 2 * v(x))
    close(value, (v(x) ** 2).sum())


def test_grad_argnums():
    x, y = rnd(3, seed=1), rnd(3, seed=2)

    def f(x, y):
        return (x * x * y).sum()

    close(grad(f)(x, y), 2 * v(x) * v(y))
    close(grad(f, argnums=1)(x, y), v(x) ** 2)
    close(grad(f, argnums=-1)(x, y), v(x) ** 2)
    gx, gy = grad(f, argnums=(0, 1))(x, y)
    close(gx, 2 * v(x) * v(y))
    close(gy, v(x) ** 2)
    (only,) = grad(f, argnums=(1,))(x, y)
    close(only, v(x) ** 2)
    for bad in (2, -3):
        with pytest.raises(RuntimeError, match="positional inputs"):
            grad(f, argnums=bad)(x, y)
    with pytest.raises(RuntimeError, match="unique"):
        grad(f, argnums=(0, 0))(x, y)
    with pytest.raises(RuntimeError, match="argnums"):
        grad(f, argnums=[0])
    with pytest.raises(RuntimeError, match="argnums"):
        grad(f, argnums=())


def test_grad_pytrees():
    Point = collections.namedtuple("Point", ["a", "b"])
    params = {"w": rnd(3), "layers": [rnd(2, seed=1), (rnd(1, seed=2),)], "none": None}

    def f(p):
        return (p["w"] ** 2).sum() + (p["layers"][0] * 3).sum() + (p["layers"][1][0] ** 3).sum()

    g = grad(f)(params)
    assert set(g) == {"w", "layers", "none"} and g["none"] is None
    assert isinstance(g["layers"], list) and isinstance(g["layers"][1], tuple)
    close(g["w"], 2 * v(params["w"]))
    close(g["layers"][0], np.full(2, 3.0))
    close(g["layers"][1][0], 3 * v(params["layers"][1][0]) ** 2)
    point = Point(rnd(2), rnd(2, seed=3))
    gp = grad(lambda p: (p.a * p.b).sum())(point)
    assert isinstance(gp, Point)
    close(gp.a, v(point.b))
    gd = grad(lambda d: d["k"].sum())(collections.OrderedDict(k=rnd(2)))
    assert isinstance(gd, collections.OrderedDict)


def test_grad_has_aux_kwargs_and_non_tensor_args():
    x = rnd(4)

    def f(x, scale, *, shift):
        y = x * scale + shift
        return (y ** 2).sum(), {"y": y, "note": "kept", "count": 3}

    g, aux = grad(f, has_aux=True)(x, 2.0, shift=sf.ones(4, dtype=sf.float64))
    close(g, 2 * (v(x) * 2 + 1) * 2)
    assert aux["note"] == "kept" and aux["count"] == 3
    close(aux["y"], v(x) * 2 + 1)
    g, (value, aux) = grad_and_value(f, has_aux=True)(x, 2.0, shift=sf.ones(4, dtype=sf.float64))
    close(value, ((v(x) * 2 + 1) ** 2).sum())
    g, aux = grad(lambda x: (x.sum(), None), has_aux=True)(x)
    assert aux is None
    with pytest.raises(RuntimeError, match=r"\(output, aux\)"):
        grad(lambda x: x.sum(), has_aux=True)(x)
    with pytest.raises(ValueError, match="must be Tensor"):
        grad(lambda x, s: x.sum() * s, argnums=1)(x, 2.0)  # non-tensor args are not differentiable


def test_grad_errors_and_zeros():
    x = rnd(3)
    with pytest.raises(RuntimeError, match="scalar"):
        grad(lambda x: x * 2)(x)
    with pytest.raises(RuntimeError, match="Tensor"):
        grad(lambda x: 1.0)(x)
    with pytest.raises(sf.DTypeError):
        grad(lambda x: x.sum().to(sf.float32))(sf.tensor([1, 2]))
    gx, gy = grad(lambda x, y: x.sum(), argnums=(0, 1))(x, rnd(2))
    close(gy, np.zeros(2))  # inputs the output does not depend on get zeros


# ------------------------------------------------------------------------------------------------
# vjp, jvp, linearize
# ------------------------------------------------------------------------------------------------


def test_vjp():
    x, y = rnd(3), rnd(3, seed=1)
    out, vjp_fn = vjp(lambda x, y: (sf.sin(x) * y, {"s": x.sum()}), x, y)
    close(out[0], np.sin(v(x)) * v(y))
    ct = (sf.ones(3, dtype=sf.float64), {"s": sf.tensor(2.0, dtype=sf.float64)})
    gx, gy = vjp_fn(ct)
    close(gx, np.cos(v(x)) * v(y) + 2)
    close(gy, np.sin(v(x)))
    with pytest.raises(RuntimeError, match="pytree structure"):
        vjp_fn(sf.ones(3))
    out, vjp_fn, aux = vjp(lambda x: (x * 2, [x.sum(), "tag"]), x, has_aux=True)
    assert aux[1] == "tag"
    close(aux[0], v(x).sum())
    (g,) = vjp_fn(sf.ones(3, dtype=sf.float64))
    close(g, np.full(3, 2.0))  # aux does not contribute
    # an integer primal gets a zero cotangent
    out, vjp_fn = vjp(lambda x, i: x * i.to(sf.float64), x, sf.tensor([1, 2, 3]))
    gx, gi = vjp_fn(sf.ones(3, dtype=sf.float64))
    close(gx, [1, 2, 3])
    assert gi.shape == (3,) and gi.tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="must be Tensor"):
        vjp(lambda x, s: x * s, x, 2.0)


def test_jvp_and_linearize():
    x, t = rnd(4), rnd(4, seed=5)
    out, tangent = jvp(lambda x: sf.sin(x) * x, (x,), (t,))
    close(out, np.sin(v(x)) * v(x))
    close(tangent, (np.cos(v(x)) * v(x) + np.sin(v(x))) * v(t))
    (a, b), (ta, tb) = jvp(lambda d: (d["p"] * 2, d["p"].sum()), ({"p": x},), ({"p": t},))
    close(ta, 2 * v(t))
    close(tb, v(t).sum())
    out, tangent, aux = jvp(lambda x: (x * 3, {"a": x}), (x,), (t,), has_aux=True)
    close(tangent, 3 * v(t))
    close(aux["a"], v(x))
    with pytest.raises(RuntimeError, match="primals to be a tuple"):
        jvp(sf.sin, x, (t,))
    with pytest.raises(RuntimeError, match="same python structure"):
        jvp(lambda a, b: a + b, (x, x), (t,))
    with pytest.raises(RuntimeError, match="strict"):
        jvp(sf.sin, (x,), (t,), strict=True)
    with pytest.raises(sf.ShapeError, match="tangent"):
        jvp(sf.sin, (x,), (sf.ones(3, dtype=sf.float64),))
    out, jvp_fn = linearize(lambda x: sf.exp(x) * x, x)
    close(out, np.exp(v(x)) * v(x))
    for seed in range(3):
        t = rnd(4, seed=10 + seed)
        close(jvp_fn(t), jvp(lambda x: sf.exp(x) * x, (x,), (t,))[1])
    with pytest.raises(RuntimeError, match="shape"):
        jvp_fn(sf.ones(5, dtype=sf.float64))


# ------------------------------------------------------------------------------------------------
# jacrev, jacfwd, hessian
# ------------------------------------------------------------------------------------------------


def test_jacobians_match_finite_differences():
    a = rnd(3, 4)

    def f(x):
        return sf.tanh(a @ x) * x[:3]

    def f_numpy(x):
        return np.tanh(v(a) @ x) * x[:3]

    x = rnd(4, seed=1)
    expected = finite_difference_jacobian(f_numpy, v(x))
    close(jacrev(f)(x), expected, rtol=1e-6, atol=1e-8)
    close(jacfwd(f)(x), expected, rtol=1e-6, atol=1e-8)
    for chunk in (1, 2, 5):
        close(jacrev(f, chunk_size=chunk)(x), expected, rtol=1e-6, atol=1e-8)
    with pytest.raises(ValueError, match="chunk_size"):
        jacrev(f, chunk_size=0)
    with pytest.raises(RuntimeError, match="randomness"):
        jacfwd(f, randomness="sometimes")


@pytest.mark.parametrize("jac", [jacrev, jacfwd], ids=["jacrev", "jacfwd"])
def test_jacobian_structures(jac):
    x, y = rnd(2), rnd(3, seed=1)

    def f(x, y):
        return {"sum": (x * 2).sum() + y.sum(), "outer": sf.outer(x, y)}

    j = jac(f)(x, y)
    assert set(j) == {"sum", "outer"}
    assert j["sum"].shape == (2,) and j["outer"].shape == (2, 3, 2)
    j = jac(f, argnums=(0, 1))(x, y)
    assert isinstance(j["outer"], tuple) and j["outer"][1].shape == (2, 3, 3)
    close(j["sum"][1], np.ones(3))
    jd = jac(lambda p: p["a"] * p["b"])({"a": x, "b": x * 3})
    assert set(jd) == {"a", "b"}
    close(jd["a"], np.diag(3 * v(x)))
    j, aux = jac(lambda x: (sf.sin(x), {"cos": sf.cos(x), "label": "x"}), has_aux=True)(x)
    close(j, np.diag(np.cos(v(x))))
    assert aux["label"] == "x"
    close(aux["cos"], np.cos(v(x)))
    j, aux = jac(lambda x: (sf.sin(x), 3), has_aux=True)(x)  # aux without tensors
    assert aux == 3

    def several(x, y):  # several output tensors besides the aux: composed from vjp/jvp and vmap
        return {"a": sf.sin(x) * y.sum(), "b": (x.sum() * y, x[0])}, {"twice": x * 2, "n": 1}

    for argnums in (0, (0, 1)):
        j, aux = jac(several, argnums=argnums, has_aux=True)(x, y)
        reference = jac(lambda x, y: several(x, y)[0], argnums=argnums)(x, y)
        leaves, spec = tree_flatten(j)
        expected, expected_spec = tree_flatten(reference)
        assert spec == expected_spec
        for got, want in zip(leaves, expected):
            close(got, v(want), rtol=1e-12)
        assert aux["n"] == 1
        close(aux["twice"], 2 * v(x))


def test_hessian():
    a = rnd(3, 3)

    def quadratic(x):
        return x @ (a @ x)

    x = rnd(3, seed=2)
    h = hessian(quadratic)(x)
    close(h, v(a) + v(a).T, rtol=1e-12)
    close(jacrev(jacrev(quadratic))(x), v(a) + v(a).T, rtol=1e-12)
    close(jacfwd(jacfwd(quadratic))(x), v(a) + v(a).T, rtol=1e-12)
    close(hessian(lambda x: (x ** 3).sum())(x), np.diag(6 * v(x)), rtol=1e-12)
    y = rnd(2, seed=3)
    hh = hessian(lambda x, y: (x.sum() ** 2) * (y ** 2).sum(), argnums=(0, 1))(x, y)
    assert len(hh) == 2 and len(hh[0]) == 2
    assert hh[0][1].shape == (3, 2) and hh[1][0].shape == (2, 3)
    close(hh[0][1], 2 * v(x).sum() * 2 * np.outer(np.ones(3), v(y)), rtol=1e-12)
    hd = hessian(lambda p: (p["u"] * p["w"]).sum())({"u": x, "w": x * 2})
    close(hd["u"]["w"], np.eye(3))
    close(hd["u"]["u"], np.zeros((3, 3)))
    # several outputs: hessian falls back to jacfwd(jacrev(f))
    two = hessian(lambda x: ((x ** 2).sum(), (x ** 3).sum()))(x)
    close(two[0], 2 * np.eye(3))
    close(two[1], np.diag(6 * v(x)), rtol=1e-12)


# ------------------------------------------------------------------------------------------------
# vmap
# ------------------------------------------------------------------------------------------------


def test_vmap_in_dims_out_dims():
    x, y = rnd(4, 3), rnd(3)
    close(vmap(lambda r: r.sum())(x), v(x).sum(1))
    close(vmap(lambda a, b: a * b, in_dims=(0, None))(x, y), v(x) * v(y))
    close(vmap(lambda c: c.sum(), in_dims=1)(x), v(x).sum(0))
    close(vmap(lambda c: c.sum(), in_dims=-1)(x), v(x).sum(0))
    close(vmap(lambda r: r * 2, out_dims=1)(x), (v(x) * 2).T)
    a, b = vmap(lambda r: (r, r.sum()), out_dims=(1, 0))(x)
    close(a, v(x).T)
    close(b, v(x).sum(1))
    d = vmap(lambda p: {"w": p["w"] * p["s"], "s": p["s"]}, in_dims=({"w": 0, "s": None},))(
        {"w": x, "s": sf.tensor(2.0, dtype=sf.float64)})
    close(d["w"], 2 * v(x))
    close(d["s"], np.full(4, 2.0))  # an output that does not depend on the batch is broadcast (out_dim 0)
    out = vmap(lambda r, s: (r * s, s), in_dims=(0, None), out_dims=(0, None))(x, y)
    close(out[1], v(y))
    label = vmap(lambda r: (r.sum(), "label"), out_dims=(0, None))(x)
    assert label[1] == "label"
    with pytest.raises(ValueError, match="out_dims= to None"):
        vmap(lambda r: (r.sum(), "label"))(x)
    nested = vmap(vmap(lambda a, b: a * b, in_dims=(None, 0)), in_dims=(0, None))(sf.arange(3.0), sf.arange(4.0))
    close(nested, np.outer(np.arange(3.0), np.arange(4.0)))
    close(sf.vmap(lambda r: r.sum())(x), v(x).sum(1))  # torch.vmap alias


def test_vmap_kwargs_and_non_tensor_args():
    x = rnd(4, 3)
    close(vmap(lambda r, scale, *, offset: r * scale + offset, in_dims=(0, None))(x, 3.0, offset=sf.ones(3)),
          v(x) * 3 + 1)  # kwargs are never mapped
    with pytest.raises(ValueError, match="non-Tensor"):
        vmap(lambda r, scale: r * scale)(x, 3.0)


def test_vmap_errors():
    x = rnd(4, 3)
    with pytest.raises(ValueError, match="same size"):
        vmap(lambda a, b: a + b)(x, rnd(5, 3))
    with pytest.raises(ValueError, match="at least one"):
        vmap(lambda a: a, in_dims=(None,))(x)
    with pytest.raises(ValueError, match="in_dim"):
        vmap(lambda a: a, in_dims=2)(x)
    with pytest.raises(ValueError, match="in_dims"):
        vmap(lambda a, b: a, in_dims=(0,))(x, x)
    with pytest.raises(ValueError, match="in_dims"):
        vmap(lambda a: a, in_dims=[0])
    with pytest.raises(RuntimeError, match="randomness"):
        vmap(lambda a: a, randomness="sometimes")
    with pytest.raises(ValueError, match="chunk_size"):
        vmap(lambda a: a, chunk_size=0)
    with pytest.raises(sf.InvalidArgumentError, match="out_dims"):
        vmap(lambda a: a * 2, out_dims=None)(x)  # a batched output cannot be unmapped
    with pytest.raises(sf.TransformError):
        vmap(lambda a: a.sum().item())(x)  # no reading values under vmap


def test_vmap_chunk_size_and_randomness():
    x = rnd(7, 3)
    for chunk in (1, 2, 3, 7, 100):
        close(vmap(lambda r: sf.sin(r) * r.sum(), chunk_size=chunk)(x), np.sin(v(x)) * v(x).sum(1, keepdims=True))
    with pytest.raises(sf.Error, match="random"):
        vmap(lambda r: r + sf.rand(3, dtype=sf.float64))(x)
    different = v(vmap(lambda r: r * 0 + sf.rand(3, dtype=sf.float64), randomness="different")(x))
    assert len({tuple(row) for row in different}) == 7
    same = v(vmap(lambda r: r * 0 + sf.rand(3, dtype=sf.float64), randomness="same")(x))
    assert len({tuple(row) for row in same}) == 1
    sf.manual_seed(5)
    first = v(vmap(lambda r: sf.nn.functional.dropout(r, 0.5), randomness="different")(x))
    sf.manual_seed(5)
    np.testing.assert_array_equal(v(vmap(lambda r: sf.nn.functional.dropout(r, 0.5), randomness="different")(x)),
                                  first)


def test_output_structure_is_learned_once():
    calls = []

    def f(r):
        calls.append(1)
        return r * 2, r.sum(), {"m": r.mean()}

    x = rnd(4, 3)
    vmapped = vmap(f)
    first = vmapped(x)
    assert len(calls) == 1  # the output structure is learned from the one run
    calls.clear()
    second = vmapped(x)
    assert len(calls) == 1
    close(second[2]["m"], v(first[2]["m"]))
    for _ in range(3):  # closures made afresh each time run once too
        calls.clear()
        vmap(lambda r: (calls.append(1), r * 2, r.sum())[1:])(x)
        assert len(calls) == 1
    # a structure that changes from call to call is right every time, in one run
    for n in (1, 3, 2):
        calls.clear()
        out = vmap(lambda r: (calls.append(1), tuple(r * k for k in range(n)))[1])(x)
        assert len(out) == n and len(calls) == 1


# ------------------------------------------------------------------------------------------------
# Compositions
# ------------------------------------------------------------------------------------------------


def test_per_sample_gradients_match_a_loop():
    w = rnd(3, 5)
    xs, ys = rnd(8, 5, seed=1), rnd(8, 3, seed=2)

    def loss(w, x, y):
        return ((sf.tanh(w @ x) - y) ** 2).mean()

    per_sample = vmap(grad(loss), in_dims=(None, 0, 0))(w, xs, ys)
    for i in range(8):
        close(per_sample[i], v(grad(loss)(w, xs[i], ys[i])), rtol=1e-10)


def test_higher_order_compositions():
    x = rnd(4)

    def f(x):
        return (sf.sin(x) * x).sum()

    hess = v(hessian(f)(x))
    close(grad(lambda x: grad(f)(x)[1])(x), hess[1], rtol=1e-10)
    tangent = rnd(4, seed=3)
    _, hvp = jvp(grad(f), (x,), (tangent,))
    close(hvp, hess @ v(tangent), rtol=1e-10)
    _, vjp_fn = vjp(grad(f), x)
    close(vjp_fn(tangent)[0], hess.T @ v(tangent), rtol=1e-10)
    batch = rnd(5, 4, seed=4)
    batched = vmap(jacrev(lambda x: sf.sin(x) * x.sum()))(batch)
    for i in range(5):
        close(batched[i], v(jacrev(lambda x: sf.sin(x) * x.sum())(batch[i])), rtol=1e-10)
    close(grad(lambda x: vmap(lambda r: (r ** 2).sum())(x).sum())(batch), 2 * v(batch), rtol=1e-12)
    close(jacfwd(jacrev(f))(x), hess, rtol=1e-10)


def test_perturbation_confusion():
    """d/dx [x * d/dy (x * y)] = d/dx [x * x] = 2x: the inner derivative treats the captured x as a constant
    at its own level, while the outer level still differentiates through it."""
    x = sf.tensor(3.0, dtype=sf.float64)

    def outer(x):
        inner = grad(lambda y: x * y)(x)
        return x * inner

    assert grad(outer)(x).item() == pytest.approx(6.0)
    # Siskind & Pearlmutter: D(λx. x · D(λy. x + y)(1))(1) = 1 (confusion gives 2)
    one = sf.tensor(1.0, dtype=sf.float64)
    assert grad(lambda x: x * grad(lambda y: x + y)(one))(one).item() == pytest.approx(1.0)
    # the same with forward mode inside reverse mode
    assert grad(lambda x: x * jvp(lambda y: x * y, (x,), (one,))[1])(x).item() == pytest.approx(6.0)


def test_escaped_tracer_is_an_error():
    leaked = []

    def f(x):
        leaked.append(x * 2)
        return x.sum()

    grad(f)(rnd(3))
    with pytest.raises(sf.TransformError):
        sf.sin(leaked[0])


def test_reading_values_under_grad_allows_control_flow():
    def f(x):
        if x.sum().item() > 0:  # data-dependent control flow reads the primal
            return (x * 2).sum()
        return (x * 3).sum()

    close(grad(f)(sf.ones(3, dtype=sf.float64)), np.full(3, 2.0))
    close(grad(f)(-sf.ones(3, dtype=sf.float64)), np.full(3, 3.0))
    seen = []
    grad(lambda x: seen.append(repr(x)) or x.sum())(sf.ones(2))
    assert seen and "1." in seen[0]
    vmap(lambda r: seen.append(repr(r)) or r)(sf.ones(2, 3))
    assert "traced" in seen[-1] and "(3,)" in seen[-1]


def test_transforms_from_several_threads():
    errors = []

    def work(seed):
        try:
            x = rnd(6, seed=seed)
            for _ in range(20):
                close(grad(lambda x: (x ** 2).sum())(x), 2 * v(x))
                with pytest.raises(KeyError):
                    grad(lambda x: {}["missing"])(x)
        except BaseException as error:  # noqa: B036
            errors.append(error)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


# ------------------------------------------------------------------------------------------------
# Against torch.func (skipped when torch is not installed)
# ------------------------------------------------------------------------------------------------


def _pair(seed, *shape):
    array = np.random.default_rng(seed).normal(size=shape)
    return sf.tensor(array, dtype=sf.float64), torch.tensor(array, dtype=torch.float64)


@pytest.mark.skipif(torch is None, reason="torch is not installed")
def test_against_torch_func():
    import torch.func as tf

    (a, ta), (x, tx), (b, tb) = _pair(0, 3, 4), _pair(1, 4), _pair(2, 5, 4)

    def ours(x, a):
        return (sf.tanh(a @ x) ** 2).sum() + sf.log_softmax(a @ x, 0)[1]

    def theirs(x, a):
        return (torch.tanh(a @ x) ** 2).sum() + torch.log_softmax(a @ x, 0)[1]

    for mine, reference in [(grad(ours, argnums=(0, 1))(x, a), tf.grad(theirs, argnums=(0, 1))(tx, ta)),
                            (hessian(ours)(x, a), tf.hessian(theirs)(tx, ta)),
                            (jacrev(jacrev(ours))(x, a), tf.jacrev(tf.jacrev(theirs))(tx, ta)),
                            (jacfwd(lambda x: sf.sin(a @ x))(x), tf.jacfwd(lambda x: torch.sin(ta @ x))(tx)),
                            (vmap(grad(ours), in_dims=(0, None))(b, a), tf.vmap(tf.grad(theirs), in_dims=(0, None))(tb, ta)),
                            (vmap(jacrev(lambda x: sf.sigmoid(a @ x)))(b), tf.vmap(tf.jacrev(lambda x: torch.sigmoid(ta @ x)))(tb))]:
        mine = mine if isinstance(mine, tuple) else (mine,)
        reference = reference if isinstance(reference, tuple) else (reference,)
        for m, r in zip(mine, reference):
            np.testing.assert_allclose(v(m), r.numpy(), rtol=1e-10, atol=1e-12)


def test_transforms_do_not_leak():
    import gc

    from swiftfunc import _function

    x = rnd(4)
    f = jacrev(lambda x: {"s": sf.sin(x)})
    g = vmap(grad(lambda r: (r * r).sum()))

    def rounds(n):
        for _ in range(n):
            f(x)
            g(sf.ones(3, 4))
            out, vjp_fn = vjp(sf.sin, x)
            vjp_fn(x)
            linearize(sf.exp, x)[1](x)

    rounds(20)
    gc.collect()
    objects, callbacks = len(gc.get_objects()), len(_function._registry)
    rounds(200)
    gc.collect()
    assert len(_function._registry) == callbacks  # every sf_function made for a call was freed
    assert len(gc.get_objects()) - objects < 50


# ------------------------------------------------------------------------------------------------
# Layout of weight gradients (torch's mm backward follows the primal's layout)
# ------------------------------------------------------------------------------------------------

def test_linear_weight_gradients_are_row_major():
    """linear multiplies by weight.mT, a column-major view; its gradient is laid out as the weight is (row-major), so
    flattening per-sample gradients or Jacobians is a view, as in torch. Values against closed forms."""
    rng = np.random.default_rng(3)
    w_np, x_np = rng.normal(size=(4, 6)), rng.normal(size=(5, 6))
    w, x = sf.tensor(w_np), sf.tensor(x_np)

    g = grad(lambda w, x: sf.nn.functional.linear(x, w).sum())(w, x)
    assert np.from_dlpack(g).strides == (6 * 8, 8)
    close(g, np.tile(x_np.sum(0), (4, 1)))

    per_sample = vmap(grad(lambda w, x: sf.nn.functional.linear(x, w).sum()), (None, 0))(w, x)
    assert np.from_dlpack(per_sample).strides == (24 * 8, 6 * 8, 8)
    close(per_sample, np.broadcast_to(x_np[:, None, :], (5, 4, 6)))

    def net(w, x):
        return sf.nn.functional.linear(x.unsqueeze(0), w).squeeze(0)

    jac = vmap(jacrev(net), (None, 0))(w, x)  # [5 samples, 4 outputs, 4, 6]: d out_i / d w_jk = [i == j] x_k
    assert np.from_dlpack(jac).strides == (96 * 8, 24 * 8, 6 * 8, 8)
    expected = np.einsum("ij,nk->nijk", np.eye(4), x_np)
    close(jac, expected)
    close(jac.flatten(2), expected.reshape(5, 4, 24))

    from swiftfunc.func import jit  # a jit trace decides from the first call's example layouts
    staged = jit(vmap(jacrev(net), (None, 0)))
    for _ in range(2):  # the tracing call and a replay
        jac = staged(w, x)
        assert np.from_dlpack(jac).strides == (96 * 8, 24 * 8, 6 * 8, 8)
        close(jac, expected)
