"""Every transformed Python function runs exactly once per call, also on its first call with a new output
structure (the library learns the number of outputs when the function returns): side effects happen
once, and a random draw gives the same numbers as a second, warm call after re-seeding."""
import numpy as np
import pytest

import swiftfunc as sf
from swiftfunc.func import custom_vjp, grad, jacrev, vjp, vmap


def _counted(n_extra):
    """A function with a side-effect counter and a random draw, returning 1 + n_extra outputs (a structure
    no earlier call has seen when n_extra is new)."""
    calls = []

    def f(x):
        calls.append(1)
        noise = sf.rand(3, dtype=sf.float64)
        value = (sf.sin(x) * noise).sum()
        extras = tuple(x * float(k + 2) for k in range(n_extra))
        return (value, extras) if n_extra else value

    return f, calls


def _run(transform, n_extra, x):
    f, calls = _counted(n_extra)
    sf.manual_seed(7)
    first = transform(f, x)
    assert len(calls) == 1, f"the function ran {len(calls)} times on its first call"
    sf.manual_seed(7)
    second = transform(f, x)
    assert len(calls) == 2, "the function ran more than once on its second call"
    return first, second


def _flat(tree):
    leaves, _ = sf._pytree.tree_flatten(tree)
    return [np.asarray(leaf.tolist()) for leaf in leaves]


TRANSFORMS = {
    "grad": lambda f, x: grad(lambda x: _first(f(x)))(x),
    "grad_has_aux": lambda f, x: grad(lambda x: _as_pair(f(x)), has_aux=True)(x),
    "vmap": lambda f, x: vmap(f, randomness="same")(sf.stack([x, x * 2])),
    "jacrev": lambda f, x: jacrev(f)(x),
    "vjp": lambda f, x: _vjp_of(f, x),
}


def _first(out):
    return out[0] if isinstance(out, tuple) else out


def _as_pair(out):
    return out if isinstance(out, tuple) else (out, ())


def _vjp_of(f, x):
    out, pullback = vjp(f, x)
    seeds = sf._pytree.tree_flatten(out)
    cotangents = seeds[1].unflatten([sf.ones_like(leaf) for leaf in seeds[0]])
    return out, pullback(cotangents)


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
@pytest.mark.parametrize("n_extra", [0, 2, 3])
def test_transformed_function_runs_once_per_call(name, n_extra):
    x = sf.tensor([0.1, 0.2, 0.3], dtype=sf.float64)
    first, second = _run(TRANSFORMS[name], n_extra, x)
    for a, b in zip(_flat(first), _flat(second)):
        np.testing.assert_array_equal(a, b)  # the same draw: the cold call did not draw twice


def test_vmap_gives_the_per_element_reference():
    f, calls = _counted(2)
    xs = sf.tensor(np.random.default_rng(0).normal(size=(4, 3)))
    sf.manual_seed(3)
    value, extras = vmap(f, randomness="same")(xs)
    assert len(calls) == 1
    sf.manual_seed(3)
    noise = np.asarray(sf.rand(3, dtype=sf.float64).tolist())
    np.testing.assert_allclose(np.asarray(value.tolist()), (np.sin(np.asarray(xs.tolist())) * noise).sum(axis=1))
    np.testing.assert_allclose(np.asarray(extras[1].tolist()), np.asarray(xs.tolist()) * 3.0)


def test_custom_vjp_forward_runs_once_per_call():
    fwd_calls = []

    @custom_vjp
    def f(x):
        return x * 2

    def f_fwd(x):
        fwd_calls.append(1)
        noise = sf.rand(3, dtype=sf.float64)
        return (x * noise, x.sum() * noise.sum(), {"k": x * 3}), (noise,)

    def f_bwd(res, g):
        (noise,) = res
        g_mul, g_sum, g_dict = g
        return (g_mul * noise + g_sum * noise.sum() + g_dict["k"] * 3,)

    f.defvjp(f_fwd, f_bwd)
    x = sf.tensor([0.5, -1.0, 2.0], dtype=sf.float64)
    results = []
    for _ in range(2):
        fwd_calls.clear()
        sf.manual_seed(11)
        g = grad(lambda x: sum(leaf.sum() for leaf in sf._pytree.tree_flatten(f(x))[0]))(x)
        assert len(fwd_calls) == 1
        results.append(np.asarray(g.tolist()))
    np.testing.assert_array_equal(results[0], results[1])
    sf.manual_seed(11)
    noise = np.asarray(sf.rand(3, dtype=sf.float64).tolist())
    np.testing.assert_allclose(results[0], noise + noise.sum() + 3.0)
