"""swiftfunc.func.export, deserialize and load: every jit workload round-trips (eager vs imported,
float64, 1e-12) with its output pytree, imported functions transform again, captured weights are
stored, refusals (random draws, custom functions, other signatures), malformed bytes."""
import numpy as np
import pytest

import swiftfunc as sf
from swiftfunc.func import deserialize, export, grad, jit, load, vmap

from test_jit import MLP, MLP_Y, WORKLOADS, close, mlp_loss, rnd


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_workloads_round_trip(name):
    fn, args = WORKLOADS[name]
    exported = export(fn)(*args)
    imported = deserialize(exported.serialize())
    close(imported(*args), fn(*args))
    assert "lambda" in str(exported.graph)


def test_output_pytrees_are_restored():
    def fn(a, b):
        return {"sum": (a + b).sum(), "parts": [a * 2, (b, b - 1)]}
    a, b = rnd(3), rnd(3, seed=1)
    out = deserialize(export(fn)(a, b).serialize())(a, b)
    assert set(out) == {"sum", "parts"} and isinstance(out["parts"], list) and isinstance(out["parts"][1], tuple)
    close(out["parts"][1][1], b - 1)
    close(out["sum"], (a + b).sum())


def test_captured_weights_and_transforms_of_the_imported_function(tmp_path):
    x = rnd(4, 6, seed=11)
    per_sample = vmap(grad(lambda x1: mlp_loss(MLP, x1.unsqueeze(0), MLP_Y[:1])))  # MLP is captured
    path = tmp_path / "per_sample.sfx"
    export(per_sample)(x).save(path)
    imported = load(path)
    close(imported(x), per_sample(x))
    other = rnd(4, 6, seed=12)
    close(imported(other), per_sample(other))
    # grad, vmap and jit of an imported function
    f = lambda w, x: sf.tanh(x @ w).sum()
    w, xs = rnd(6, 3, seed=13), rnd(5, 6, seed=14)
    g = deserialize(export(f)(w, xs[0]).serialize())
    close(grad(g)(w, xs[0]), grad(f)(w, xs[0]))
    close(vmap(g, in_dims=(None, 0))(w, xs), vmap(f, in_dims=(None, 0))(w, xs))
    close(jit(g)(w, xs[1]), f(w, xs[1]))


def test_refusals():
    x = rnd(3)
    with pytest.raises(sf.UnsupportedError, match="random"):
        export(lambda x: x * sf.rand(3, dtype=sf.float64))(x)
    g = deserialize(export(lambda x: x.sin())(x).serialize())
    with pytest.raises(sf.ShapeError, match=r"input 0 is float64\[4\], expected float64\[3\]"):
        g(rnd(4))
    with pytest.raises(TypeError, match="takes 1 Tensors"):
        g(x, x)


def test_malformed_bytes_are_rejected():
    data = export(lambda x: x.sin() * 2)(rnd(3)).serialize()
    for bad in (b"", b"SFEXPORT", data[:-1], b"X" + data[1:], data[:20] + bytes([data[20] ^ 1]) + data[21:]):
        with pytest.raises(sf.InvalidArgumentError):
            deserialize(bad)


def test_linear_algebra_and_tensor_ops_round_trip():
    # Primitives added after the format was written (LAPACK ops, scans, sorting, pooling) round-trip too.
    a = rnd(4, 4, seed=3)
    spd = a @ a.t() + 4 * sf.eye(4, dtype=sf.float64)

    def fn(m, x):
        lower = sf.linalg.cholesky(m)
        y = sf.linalg.solve_triangular(lower, x, upper=False)
        return sf.logdet(m) + sf.cumsum(y, 0).sum() + sf.sort(x.flatten())[0][-1]

    x = rnd(4, 2, seed=4)
    imported = deserialize(export(grad(fn))(spd, x).serialize())
    close(imported(spd, x), grad(fn)(spd, x))
    def factors(m):
        q, r = sf.linalg.qr(m)
        return sf.linalg.svdvals(m).sum() + (q * r).sum() + sf.linalg.lu_solve(*factored, m).sum()

    factored = sf.linalg.lu_factor(spd)  # captured: lu_factor itself has no derivative

    imported = deserialize(export(grad(factors))(spd).serialize())
    close(imported(spd), grad(factors)(spd), tol=1e-10)
    pooled = deserialize(export(lambda t: sf.nn.functional.max_pool2d(t, 2).sum())(rnd(1, 2, 4, 4)).serialize())
    t = rnd(1, 2, 4, 4, seed=5)
    close(pooled(t), sf.nn.functional.max_pool2d(t, 2).sum())
