"""swiftfunc.func.jit and swiftfunc.compile: jitted workloads match eager results, the function runs once
per signature, retraces on new shapes and non-Tensor arguments, concretization errors, randomness,
graph listings, transforms of jitted functions and jit of transforms, threads."""
import gc
import threading

import numpy as np
import pytest

import swiftfunc as sf
import swiftfunc.nn.functional as F
from swiftfunc.func import functional_call, grad, hessian, jacfwd, jacrev, jit, jvp, make_graph, vjp, vmap


def v(t):
    return np.asarray(t.tolist())


def rnd(*shape, seed=0):
    return sf.tensor(np.random.default_rng(seed).normal(size=shape))


def close(a, b, tol=1e-12):
    if isinstance(a, (tuple, list)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            close(x, y, tol)
        return
    np.testing.assert_allclose(v(a), v(b), rtol=tol, atol=tol)


def f(w, x):
    return sf.tanh(x @ w).sum() + (sf.sin(w) ** 2).mean()


W, X = rnd(4, 3), rnd(5, 4, seed=1)

WORKLOADS = {  # name: (function, arguments)
    "plain": (f, (W, X)),
    "grad": (grad(f), (W, X)),
    "jacrev": (jacrev(lambda w: sf.tanh(X @ w)), (W,)),
    "jacfwd": (jacfwd(lambda w: sf.tanh(X @ w)), (W,)),
    "hessian": (hessian(lambda w: sf.tanh(X @ w).sum()), (W,)),
    "vmap_grad": (vmap(grad(f), in_dims=(None, 0)), (W, X.unsqueeze(1))),
}


def mlp_loss(params, x, y):
    w1, b1, w2, b2 = params
    h = F.gelu(F.layer_norm(F.relu(x @ w1 + b1), (w1.shape[1],)))
    return F.cross_entropy(h @ w2 + b2, y)


MLP = (rnd(6, 8, seed=2), rnd(8, seed=3), rnd(8, 3, seed=4), rnd(3, seed=5))
MLP_X, MLP_Y = rnd(10, 6, seed=6), sf.tensor(np.arange(10) % 3)
BIG = rnd(300, 1000, seed=7)  # larger than a thread's share: fused loops split across threads

WORKLOADS.update({  # elementwise-heavy workloads: fused groups with broadcasts, selects and reductions
    "mlp_grad": (grad(mlp_loss), (MLP, MLP_X, MLP_Y)),
    "mlp_per_sample": (vmap(grad(mlp_loss), in_dims=(None, 0, 0)), (MLP, MLP_X.unsqueeze(1), MLP_Y.unsqueeze(1))),
    "mlp_hessian_vector": (lambda p, t: jvp(grad(lambda w: mlp_loss((w,) + p[1:], MLP_X, MLP_Y)), (p[0],), (t,))[1],
                           (MLP, rnd(6, 8, seed=8))),
    "softplus_chain_big": (grad(lambda x: (sf.log1p(sf.exp(-sf.abs(x))) + sf.relu(x) * x.sigmoid()).sum()), (BIG,)),
    "transposed_input": (lambda a: sf.tanh(a.t() * 2.0 + 1.0) - a.t() ** 2, (rnd(7, 5, seed=9),)),
    "int_and_bool_inputs": (lambda x, k, m: sf.where(m, x * k, x - k) / (k + 1), (rnd(4, 6), sf.tensor(np.arange(24).reshape(4, 6) % 5), sf.tensor(np.arange(6) % 2 == 0))),
})


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_jitted_workloads_match_eager(name):
    fn, args = WORKLOADS[name]
    eager = fn(*args)
    jitted = jit(fn)
    # Bitwise: fused loops apply the eager kernels' per-element functions in the same order, and
    # simplification only drops exact identities (x * 1, x + 0 up to the sign of a zero).
    close(jitted(*args), eager, tol=0)  # the tracing call
    close(jitted(*args), eager, tol=0)  # a replay
    assert jitted.trace_count() == 1


def test_transforms_of_a_jitted_function():
    j = jit(f)
    close(grad(j)(W, X), grad(f)(W, X))
    close(vmap(j, in_dims=(None, 0))(W, X.unsqueeze(1)), vmap(f, in_dims=(None, 0))(W, X.unsqueeze(1)))
    close(hessian(lambda w: j(w, X))(W), hessian(lambda w: f(w, X))(W), 1e-10)
    out, pullback = vjp(j, W, X)
    out_eager, pullback_eager = vjp(f, W, X)
    close(out, out_eager)
    for a, b in zip(pullback(sf.ones_like(out)), pullback_eager(sf.ones_like(out_eager))):
        close(a, b)
    _, tangent = jvp(j, (W, X), (sf.ones_like(W), sf.zeros_like(X)))
    _, tangent_eager = jvp(f, (W, X), (sf.ones_like(W), sf.zeros_like(X)))
    close(tangent, tangent_eager)


def test_jit_inside_a_transformed_function():
    inner = jit(lambda a: sf.exp(a) * a)
    close(grad(lambda w: inner(w).sum())(W), grad(lambda w: (sf.exp(w) * w).sum())(W))
    close(vmap(grad(lambda w: inner(w).sum()))(X), vmap(grad(lambda w: (sf.exp(w) * w).sum()))(X))


def test_the_function_runs_once_per_signature_and_retraces_on_new_ones():
    calls = []

    def g(x, scale=1.0):
        calls.append(1)
        return sf.sin(x) * scale

    j = jit(g)
    x3 = rnd(3)
    close(j(x3), sf.sin(x3))
    assert (len(calls), j.trace_count()) == (1, 1)
    for _ in range(3):
        close(j(x3 * 2), sf.sin(x3 * 2))
    assert (len(calls), j.trace_count()) == (1, 1)
    close(j(rnd(4)), sf.sin(rnd(4)))  # new shape: a retrace
    assert (len(calls), j.trace_count()) == (2, 2)
    j(x3.float())  # new dtype
    assert j.trace_count() == 3
    close(j(x3, scale=3.0), sf.sin(x3) * 3.0)  # a non-Tensor argument is part of the key
    close(j(x3, scale=4.0), sf.sin(x3) * 4.0)
    assert len(calls) == 5
    j(x3, scale=4.0)
    assert len(calls) == 5


def test_static_argnums_are_part_of_the_key():
    calls = []

    def power(x, n):
        calls.append(n)
        out = x
        for _ in range(n - 1):  # Python control flow on a static argument
            out = out * x
        return out

    j = jit(power, static_argnums=1)
    x = rnd(3)
    close(j(x, 3), x * x * x)
    close(j(x, 2), x * x)
    close(j(x * 2, 3), (x * 2) ** 3, 1e-12)
    assert calls == [3, 2]


def test_reading_a_traced_value_is_a_concretization_error():
    def g(x):
        if x.sum().item() > 0:  # data-dependent control flow cannot be staged
            return x
        return -x

    with pytest.raises(sf.TransformError, match="depends on the inputs"):
        jit(g)(rnd(3))
    with pytest.raises(sf.TransformError, match="depends on the inputs"):
        jit(lambda x: x * float(x.sum()))(rnd(3))
    c = rnd(3, seed=5)  # a captured concrete value can be read
    close(jit(lambda x: x * c.sum().item())(rnd(3)), rnd(3) * c.sum().item())


def test_random_draws_match_eager_draws():
    j = jit(lambda x: x + sf.rand(3, dtype=sf.float64))
    x = rnd(3)
    sf.manual_seed(7)
    first, second = v(j(x)), v(j(x))
    sf.manual_seed(7)
    eager_first = v(x + sf.rand(3, dtype=sf.float64))
    eager_second = v(x + sf.rand(3, dtype=sf.float64))
    np.testing.assert_array_equal(first, eager_first)
    np.testing.assert_array_equal(second, eager_second)
    assert not np.array_equal(first, second)


def test_graph_listing_has_no_dead_code_and_merges_repeats():
    def g(x):
        unused = sf.exp(x)  # noqa: F841 - dead code
        return (sf.sin(x) * sf.sin(x)).sum()

    listing = str(make_graph(g)(rnd(3)))
    assert "exp" not in listing
    assert listing.count("sin") == 1
    assert "mul" in listing and "sum" in listing
    assert listing.startswith("{ lambda v0:float64[3]")


def test_threads_share_a_jitted_function():
    j = jit(f)
    expected = v(f(W, X))
    results, errors = [None] * 8, []

    def run(i):
        try:
            results[i] = v(j(W, X))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for r in results:
        np.testing.assert_array_equal(r, expected)


def test_compile_a_module_follows_parameter_updates():
    model = sf.nn.Sequential(sf.nn.Linear(4, 8), sf.nn.Tanh(), sf.nn.Linear(8, 2))
    compiled = sf.compile(model)
    x = rnd(5, 4)
    close(compiled(x), model(x), 1e-6)
    params = dict(model.named_parameters())
    updated = {k: p * 0.5 for k, p in params.items()}
    with model._swapped(updated):
        close(compiled(x), functional_call(model, updated, (x,)), 1e-6)

    @sf.compile
    def loss(w, x):
        return F.mse_loss(x @ w, sf.zeros(5, 3))

    close(loss(W.float(), x), F.mse_loss(x @ W.float(), sf.zeros(5, 3)), 1e-6)


def test_a_new_shape_may_change_the_number_of_outputs():
    # The short call path asks C for as many outputs as the last trace gave; a retrace that gives
    # another number is answered from the graph it just cached.
    j = jit(lambda x: tuple(x[i] * 2.0 for i in range(x.shape[0])))
    for n in (2, 3, 2, 4, 3):
        x = rnd(n)
        got = j(x)
        assert isinstance(got, tuple) and len(got) == n
        for i in range(n):
            close(got[i], x[i] * 2.0)
    assert j.trace_count() == 3


def test_one_output_alone_and_its_changes():
    # One Tensor alone is returned without rebuilding a structure; a lone non-Tensor output and a
    # retrace that turns the one Tensor into a tuple still come back as the function returns them.
    alone = jit(lambda x: x.sum() * 3.0)
    x = rnd(5)
    for _ in range(3):
        close(alone(x), x.sum() * 3.0)
    constant = jit(lambda x: 2.5)
    assert constant(x) == 2.5 and constant(x) == 2.5
    shifting = jit(lambda x: x * 2.0 if x.shape[0] == 2 else (x + 1.0, x.shape[0]))
    for n in (2, 2, 3, 2, 3):
        y = rnd(n)
        got = shifting(y)
        if n == 2:
            close(got, y * 2.0)
        else:
            assert isinstance(got, tuple) and got[1] == n
            close(got[0], y + 1.0)


def _bytes_in_use():
    return sf.memory_stats()["bytes_in_use"]


def test_a_jitted_function_keeps_no_output_values():
    # The output structure kept per signature holds no tensors: once the caller drops a result,
    # its memory is free again (the first call's traced outputs used to stay alive).
    x = sf.tensor(np.ones(1 << 20, np.float32))
    f = jit(lambda x: (x * 2).sin() + 1)
    g = jit(grad(lambda x: (x * 2).sin().sum()))
    before = _bytes_in_use()
    for fn in (f, g, f, g):
        y = fn(x)
        assert y.shape == (1 << 20,)
        del y
        # What stays is the graphs' scalar constants (bytes), not a 4 MiB output.
        assert _bytes_in_use() - before < 1024


def test_dropping_a_jitted_function_frees_its_graph():
    # The graph captures `big` as a constant; the traced Python callback must not keep the jitted
    # function alive through C (a cycle Python's collector cannot see).
    gc.collect()
    before = _bytes_in_use()
    big = sf.tensor(np.ones((512, 1024), np.float32))
    x = sf.tensor(np.ones(1024, np.float32))
    f = jit(lambda x: (big @ x).sin())
    np.testing.assert_allclose(f(x).numpy(), np.sin(np.full(512, 1024.0, np.float32)), rtol=1e-6)
    del big
    gc.collect()
    assert _bytes_in_use() >= before + 512 * 1024 * 4  # the graph holds it
    del f, x
    gc.collect()
    assert _bytes_in_use() == before
