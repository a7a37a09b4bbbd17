"""The tensor ops (einsum, diagonals and triangles, cumsum/cumprod, sort/argsort/topk, norms, roll,
repeat, tile, from_numpy): values against numpy (and torch when it is installed), their rules through
float64 central differences at orders 1 and 2 (jacrev, jacfwd, hessian) and vmap against a loop, and
their errors."""
import math

import numpy as np
import pytest

import swiftfunc as sf
from swiftfunc._ops import norms
from swiftfunc.func import grad, hessian, jacfwd, jacrev, vmap
from conftest import optional_module

torch = optional_module("torch")


def v(t):
    return t.numpy() if isinstance(t, sf.Tensor) else np.asarray(t)


def t64(a):
    return sf.tensor(np.asarray(a, dtype=np.float64))


def rnd(rng, *shape):
    return rng.standard_normal(shape)


# -------------------------------------------------------------------------------------------------
# Rule checks: derivatives against central differences at orders 1 and 2, vmap against a loop
# -------------------------------------------------------------------------------------------------

def fd_jacobian(f, xs, k, eps=1e-6):
    """d f / d xs[k] (f: tensors -> tensor) by central differences, shape out.shape + xs[k].shape."""
    base = [np.array(x, dtype=np.float64) for x in xs]
    out = v(f(*[t64(x) for x in base]))
    jac = np.zeros(out.shape + base[k].shape)
    for idx in np.ndindex(*base[k].shape):
        plus = [x.copy() for x in base]
        minus = [x.copy() for x in base]
        plus[k][idx] += eps
        minus[k][idx] -= eps
        jac[(Ellipsis,) + idx] = (v(f(*[t64(x) for x in plus])) - v(f(*[t64(x) for x in minus]))) / (2 * eps)
    return jac


def check_rules(f, *xs, rng=None, vmap_loop=True, atol=1e-6):
    """f's Jacobians by jacrev and jacfwd against central differences, its Hessian (of a weighted sum
    of its outputs) against central differences of its gradient, and vmap(f) against a loop."""
    rng = rng or np.random.default_rng(7)
    tensors = [t64(x) for x in xs]
    out = v(f(*tensors))
    argnums = tuple(range(len(xs)))
    rev = jacrev(f, argnums=argnums)(*tensors)
    fwd = jacfwd(f, argnums=argnums)(*tensors)
    for k in argnums:
        expected = fd_jacobian(f, xs, k)
        np.testing.assert_allclose(v(rev[k]), expected, rtol=1e-6, atol=atol)
        np.testing.assert_allclose(v(fwd[k]), expected, rtol=1e-6, atol=atol)

    # Order 2: the Hessian of <w, f(x)> against central differences of its gradient.
    w = t64(rng.standard_normal(out.shape))

    def scalar(x0, *rest):
        return (f(x0, *rest) * w).sum()

    hess = v(hessian(scalar)(*tensors))
    g = grad(scalar)
    expected = fd_jacobian(lambda x0, *rest: g(x0, *rest), xs, 0, eps=1e-5)
    np.testing.assert_allclose(hess, expected, rtol=1e-5, atol=1e-5)

    if vmap_loop:
        batch = [np.stack([x + 0.1 * i * rng.standard_normal(np.shape(x)) for i in range(3)]) for x in xs]
        looped = np.stack([v(f(*[t64(b[i]) for b in batch])) for i in range(3)])
        np.testing.assert_allclose(v(vmap(f)(*[t64(b) for b in batch])), looped, rtol=1e-12, atol=1e-12)
        # The batch in the last dim, and the output batched at dim -1.
        moved = [np.moveaxis(b, 0, -1) for b in batch]
        mapped = vmap(f, in_dims=-1, out_dims=-1)(*[t64(b) for b in moved])
        np.testing.assert_allclose(v(mapped), np.moveaxis(looped, 0, -1), rtol=1e-12, atol=1e-12)
        if len(xs) > 1:  # only the first input mapped
            looped_first = np.stack([v(f(t64(batch[0][i]), *[t64(x) for x in xs[1:]])) for i in range(3)])
            first = vmap(f, in_dims=(0,) + (None,) * (len(xs) - 1))(t64(batch[0]), *[t64(x) for x in xs[1:]])
            np.testing.assert_allclose(v(first), looped_first, rtol=1e-12, atol=1e-12)


# -------------------------------------------------------------------------------------------------
# einsum
# -------------------------------------------------------------------------------------------------

EINSUM_CASES = [
    ("ij,jk->ik", [(3, 4), (4, 2)]),
    ("ij,jk", [(3, 4), (4, 2)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("ii->i", [(3, 3)]),
    ("ii", [(3, 3)]),
    ("bii->b", [(2, 3, 3)]),
    ("iij->j", [(3, 3, 2)]),
    ("i,i->", [(4,), (4,)]),
    ("i,j->ij", [(3,), (2,)]),
    ("ij->ji", [(3, 4)]),
    ("ij->", [(3, 4)]),
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]),
    ("...j,j", [(2, 3), (3,)]),
    ("ijk,jil->kl", [(2, 3, 4), (3, 2, 5)]),
    ("ab,bc,cd->ad", [(2, 3), (3, 4), (4, 2)]),
    ("a,a,a->a", [(3,), (3,), (3,)]),
    ("ij,ij->ij", [(2, 3), (1, 3)]),
    ("Ab,bA->", [(2, 3), (3, 2)]),
    ("i...->...", [(3, 2, 2)]),
    (",ij->ij", [(), (2, 3)]),
]


@pytest.mark.parametrize("equation,shapes", EINSUM_CASES)
def test_einsum_matches_numpy_and_rules(equation, shapes, rng):
    xs = [rnd(rng, *s) for s in shapes]
    got = sf.einsum(equation, *[t64(x) for x in xs])
    np.testing.assert_allclose(v(got), np.einsum(equation, *xs), rtol=1e-12, atol=1e-12)
    assert v(sf.einsum(equation, [t64(x) for x in xs])).shape == got.shape  # the list form
    check_rules(lambda *ts: sf.einsum(equation, *ts), *xs)


def test_einsum_contracts_through_matmul_in_float32_and_integers():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((4, 5)).astype(np.float32), rng.standard_normal((5, 3)).astype(np.float32)
    got = sf.einsum("ij,jk->ik", sf.tensor(a), sf.tensor(b))
    assert got.dtype is sf.float32
    np.testing.assert_allclose(v(got), a @ b, rtol=1e-5)
    ia, ib = rng.integers(-5, 5, (3, 4)), rng.integers(-5, 5, (4, 2))
    got = sf.einsum("ij,jk->ik", sf.tensor(ia), sf.tensor(ib))
    assert got.dtype is sf.int64
    np.testing.assert_array_equal(v(got), ia @ ib)


@pytest.mark.parametrize("equation,shapes,error,fragment", [
    ("ij,jk->ik", [(3, 4)], sf.InvalidArgumentError, "operand subscripts but 1 operands"),
    ("i#,jk", [(3, 4), (4, 2)], sf.InvalidArgumentError, "invalid subscript '#'"),
    ("ij,jk->iz", [(3, 4), (4, 2)], sf.InvalidArgumentError, "'z' does not appear"),
    ("ij,jk->ii", [(3, 4), (4, 2)], sf.InvalidArgumentError, "appears more than once"),
    ("ij,jk->ik", [(3, 4), (5, 2)], sf.ShapeError, "subscript 'j' has size 5"),
    ("ijk,jk", [(3, 4), (4, 2)], sf.ShapeError, "operand 0 has 2 dims"),
    ("ii->i", [(3, 4)], sf.ShapeError, "repeated in operand 0"),
    ("i.j", [(3, 4)], sf.InvalidArgumentError, "invalid ellipsis"),
    ("ij->i->j", [(3, 4)], sf.InvalidArgumentError, "more than one '->'"),
])
def test_einsum_errors(equation, shapes, error, fragment):
    with pytest.raises(error, match="sf_einsum") as info:
        sf.einsum(equation, *[sf.zeros(*s, dtype=sf.float64) for s in shapes])
    assert fragment in str(info.value)
    with pytest.raises(TypeError, match="equation must be a str"):
        sf.einsum(3)


def test_einsum_sublist_form(rng):
    a, b = rnd(rng, 2, 3, 4), rnd(rng, 4, 5)
    got = sf.einsum(t64(a), [Ellipsis, 0, 1], t64(b), [1, 2], [Ellipsis, 0, 2])
    np.testing.assert_allclose(v(got), np.einsum("...ij,jk->...ik", a, b), rtol=1e-12)
    np.testing.assert_allclose(v(sf.einsum(t64(a), [0, 1, 2])), np.einsum("ijk", a), rtol=1e-12)
    with pytest.raises(ValueError, match="sublist"):
        sf.einsum(t64(a), [0, 1, 99])


def test_ops_under_jit_and_nested_transforms(rng):
    x = rnd(rng, 4, 3)

    def f(t):
        return (sf.cumprod(t, 0) + sf.sort(t, dim=0).values).sum(0) + sf.einsum("ij,ij->j", t, t) + \
            sf.diagonal(sf.tril(t)).sum() + sf.norm(t, dim=0)

    jitted = sf.func.jit(f)
    np.testing.assert_allclose(v(jitted(t64(x))), v(f(t64(x))), rtol=1e-12)
    np.testing.assert_allclose(v(jitted(t64(x + 1))), v(f(t64(x + 1))), rtol=1e-12)
    check_rules(jitted, x)
    # vmap of jacrev against a loop of jacrev.
    batch = rnd(rng, 3, 4, 3)
    mapped = vmap(jacrev(f))(t64(batch))
    np.testing.assert_allclose(v(mapped), np.stack([v(jacrev(f)(t64(b))) for b in batch]), rtol=1e-12)


# -------------------------------------------------------------------------------------------------
# Diagonals and triangles
# -------------------------------------------------------------------------------------------------

def numpy_diag_embed(x, offset=0, dim1=-2, dim2=-1):
    n = x.shape[-1] + abs(offset)
    out = np.zeros(x.shape[:-1] + (n, n))
    for i in range(x.shape[-1]):
        r, c = (i, i + offset) if offset >= 0 else (i - offset, i)
        out[..., r, c] = x[..., i]
    rank = x.ndim + 1
    d1, d2 = dim1 % rank, dim2 % rank
    rest = [d for d in range(rank) if d not in (d1, d2)]
    order = [0] * rank
    for k, d in enumerate(rest):
        order[d] = k
    order[d1], order[d2] = rank - 2, rank - 1
    return np.transpose(out, order)


DIAGONAL_CASES = [
    ("diagonal", lambda x: sf.diagonal(x), lambda x: np.diagonal(x).copy(), (3, 4)),
    ("diagonal offset", lambda x: sf.diagonal(x, 1), lambda x: np.diagonal(x, 1).copy(), (3, 4)),
    ("diagonal negative offset", lambda x: sf.diagonal(x, -2), lambda x: np.diagonal(x, -2).copy(), (4, 3)),
    ("diagonal dims", lambda x: x.diagonal(offset=1, dim1=2, dim2=0),
     lambda x: np.diagonal(x, 1, 2, 0).copy(), (3, 2, 4)),
    ("diag of a matrix", lambda x: sf.diag(x, -1), lambda x: np.diag(x, -1).copy(), (4, 4)),
    ("diag of a vector", lambda x: sf.diag(x, 2), lambda x: np.diag(x, 2), (3,)),
    ("diag_embed", lambda x: sf.diag_embed(x), numpy_diag_embed, (2, 3)),
    ("diag_embed offset dims", lambda x: x.diag_embed(offset=-1, dim1=0, dim2=2),
     lambda x: numpy_diag_embed(x, -1, 0, 2), (2, 3)),
    ("trace", lambda x: sf.trace(x), lambda x: np.trace(x), (3, 4)),
    ("tril", lambda x: sf.tril(x), np.tril, (3, 4)),
    ("tril batched offset", lambda x: x.tril(-1), lambda x: np.tril(x, -1), (2, 3, 4)),
    ("triu", lambda x: sf.triu(x, 1), lambda x: np.triu(x, 1), (4, 3)),
]


@pytest.mark.parametrize("name,op,reference,shape", DIAGONAL_CASES, ids=[c[0] for c in DIAGONAL_CASES])
def test_diagonals_and_triangles(name, op, reference, shape, rng):
    x = rnd(rng, *shape)
    np.testing.assert_allclose(v(op(t64(x))), reference(x), rtol=1e-15)
    check_rules(op, x)


def test_diagonals_keep_dtype_and_special_values():
    m = sf.tensor([[1, 2], [3, 4]], dtype=sf.int32)
    assert sf.diagonal(m).dtype is sf.int32 and sf.tril(m).dtype is sf.int32
    assert sf.trace(m).dtype is sf.int64 and sf.trace(m).item() == 5
    # inf and NaN outside the triangle become 0 (a mask multiply would keep NaN).
    x = sf.tensor([[1.0, math.inf], [math.nan, 2.0]])
    np.testing.assert_array_equal(v(sf.tril(x)), [[1, 0], [math.nan, 2]])
    np.testing.assert_array_equal(v(sf.triu(x)), [[1, math.inf], [0, 2]])
    np.testing.assert_array_equal(v(sf.diag(sf.tensor([math.inf, 1.0]))), [[math.inf, 0], [0, 1]])
    assert sf.diagonal(sf.zeros(3, 4), 10).shape == (0,)
    assert sf.diag_embed(sf.zeros(0)).shape == (0, 0)


@pytest.mark.parametrize("call,error,fragment", [
    (lambda: sf.diag(sf.zeros(2, 2, 2)), sf.ShapeError, "sf_diag: expected a 1-D or 2-D tensor"),
    (lambda: sf.diagonal(sf.zeros(3)), sf.ShapeError, "sf_diagonal: expected a tensor of at least 2 dims"),
    (lambda: sf.diagonal(sf.zeros(3, 3), 0, 1, -1), sf.InvalidArgumentError, "cannot be the same dim"),
    (lambda: sf.diagonal(sf.zeros(3, 3), 0, 0, 5), sf.InvalidArgumentError, "dim 5 is out of range"),
    (lambda: sf.diag_embed(sf.zeros(3), 0, 0, 2), sf.InvalidArgumentError, "sf_diag_embed: dim 2 is out of range"),
    (lambda: sf.trace(sf.zeros(3)), sf.ShapeError, "sf_trace: expected a 2-D tensor"),
    (lambda: sf.triu(sf.zeros(3)), sf.ShapeError, "sf_triu: expected a tensor of at least 2 dims"),
])
def test_diagonal_errors(call, error, fragment):
    with pytest.raises(error) as info:
        call()
    assert fragment in str(info.value)


# -------------------------------------------------------------------------------------------------
# Scans
# -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,dim,shape", [("cumsum", 0, (4,)), ("cumsum", -1, (3, 4)), ("cumsum", 0, (3, 2, 2)),
                                            ("cumprod", 1, (2, 4)), ("cumprod", 0, (5,)), ("cumprod", 0, ())])
def test_scans(name, dim, shape, rng):
    x = rnd(rng, *shape)
    op = getattr(sf, name)
    reference = getattr(np, name)
    expected = reference(x, axis=dim) if shape else x
    np.testing.assert_allclose(v(op(t64(x), dim)), expected, rtol=1e-12)
    np.testing.assert_allclose(v(getattr(t64(x), name)(dim=dim)), expected, rtol=1e-12)
    check_rules(lambda t: op(t, dim), x)


def test_cumprod_is_exact_through_zeros():
    x = np.array([2.0, 0.0, 3.0, -1.5, 0.0, 2.0])
    check_rules(lambda t: sf.cumprod(t, 0), x)
    # d/dx sum(cumprod(x)) by hand at (2, 0, 3): (1 + x1 + x1 x2, x0 + x0 x2, x0 x1) = (1, 8, 0).
    g = grad(lambda t: sf.cumprod(t, 0).sum())(t64([2.0, 0.0, 3.0]))
    np.testing.assert_array_equal(v(g), [1, 8, 0])


def test_scan_dtypes():
    ints = sf.tensor([1, 2, 3], dtype=sf.int32)
    assert sf.cumsum(ints, 0).dtype is sf.int64 and sf.cumsum(ints, 0).tolist() == [1, 3, 6]
    assert sf.cumprod(sf.tensor([True, True, False]), 0).tolist() == [1, 1, 0]
    assert sf.cumsum(ints, 0, dtype=sf.float64).dtype is sf.float64
    f32 = sf.cumsum(sf.tensor([1.0, 2.0]), 0)
    assert f32.dtype is sf.float32
    with pytest.raises(sf.InvalidArgumentError, match="sf_cumsum: dim 2 is out of range"):
        sf.cumsum(sf.zeros(2, 2), 2)


# -------------------------------------------------------------------------------------------------
# Sorting
# -------------------------------------------------------------------------------------------------

def test_sort_argsort_topk_values(rng):
    x = rnd(rng, 4, 6)
    values, indices = sf.sort(t64(x), dim=1)
    np.testing.assert_array_equal(v(values), np.sort(x, axis=1))
    np.testing.assert_array_equal(v(indices), np.argsort(x, axis=1, kind="stable"))
    assert indices.dtype is sf.int64
    values, indices = t64(x).sort(dim=0, descending=True)
    np.testing.assert_array_equal(v(values), -np.sort(-x, axis=0))
    np.testing.assert_array_equal(v(sf.argsort(t64(x), dim=0)), np.argsort(x, axis=0, kind="stable"))
    top = sf.topk(t64(x), 3)
    np.testing.assert_array_equal(v(top.values), -np.sort(-x, axis=1)[:, :3])
    np.testing.assert_array_equal(v(top.indices), np.argsort(-x, axis=1, kind="stable")[:, :3])
    low = t64(x).topk(2, dim=0, largest=False)
    np.testing.assert_array_equal(v(low[0]), np.sort(x, axis=0)[:2])
    assert sf.topk(t64(x), 0).values.shape == (4, 0)


def test_topk_of_few_among_many_is_the_stable_sort_prefix(rng):
    # k < n / 4 takes the heap selection; ties (rounded values) keep the lower index first.
    x = np.round(rng.standard_normal((5, 40)), 1)
    x[2, [3, 17]] = math.nan
    for k in (1, 3, 9):
        for largest in (True, False):
            top = sf.topk(t64(x), k, dim=1, largest=largest)
            key = np.where(np.isnan(x), np.inf, x)
            order = np.argsort(-key if largest else key, axis=1, kind="stable")
            if largest:  # NaN first, in index order
                order = np.stack([np.concatenate([np.flatnonzero(np.isnan(r)), o[~np.isnan(r[o])]]) for r, o in zip(x, order)])
            np.testing.assert_array_equal(v(top.indices), order[:, :k])
            np.testing.assert_array_equal(v(top.values), np.take_along_axis(x, order[:, :k], 1))
    low = sf.topk(t64(x.T), 2, dim=0, largest=False)
    np.testing.assert_array_equal(v(low.indices), np.argsort(np.where(np.isnan(x.T), np.inf, x.T), axis=0,
                                                              kind="stable")[:2])


def test_sort_is_stable_with_nan_largest():
    x = sf.tensor([3.0, math.nan, -1.0, 3.0, 2.0, -1.0])
    assert sf.argsort(x).tolist() == [2, 5, 4, 0, 3, 1]
    assert sf.argsort(x, descending=True).tolist() == [1, 0, 3, 4, 2, 5]
    ints = sf.tensor([[5, 1, 5, 0]], dtype=sf.int32)
    values, indices = sf.sort(ints)
    assert values.dtype is sf.int32 and values.tolist() == [[0, 1, 5, 5]] and indices.tolist() == [[3, 1, 0, 2]]
    assert sf.sort(sf.tensor(2.5)).values.item() == 2.5 and sf.argsort(sf.tensor(2.5)).item() == 0


@pytest.mark.parametrize("op", [
    lambda t: sf.sort(t, dim=-1)[0],
    lambda t: sf.sort(t, dim=0, descending=True).values,
    lambda t: sf.topk(t, 2, dim=1).values,
    lambda t: sf.topk(t, 1, dim=0, largest=False).values,
])
def test_sorted_values_are_differentiable(op, rng):
    check_rules(op, rnd(rng, 3, 4))


def test_indices_under_vmap_match_a_loop(rng):
    x = rnd(rng, 5, 3, 4)
    mapped = vmap(lambda t: sf.topk(t, 2, dim=0).indices)(t64(x))
    looped = np.stack([v(sf.topk(t64(x[i]), 2, dim=0).indices) for i in range(5)])
    np.testing.assert_array_equal(v(mapped), looped)
    mapped = vmap(lambda t: sf.argsort(t, descending=True), in_dims=2)(t64(x))
    np.testing.assert_array_equal(v(mapped), np.stack([np.argsort(-x[:, :, i], axis=-1, kind="stable")
                                                       for i in range(4)]))


def test_sorting_errors():
    with pytest.raises(sf.InvalidArgumentError, match=r"sf_topk: k \(5\) is out of range"):
        sf.topk(sf.zeros(4), 5)
    with pytest.raises(sf.InvalidArgumentError, match="sf_topk"):
        sf.topk(sf.zeros(4), -1)
    with pytest.raises(sf.InvalidArgumentError, match="sf_sort: dim 1 is out of range"):
        sf.sort(sf.zeros(4), dim=1)
    with pytest.raises(sf.InvalidArgumentError, match="sf_argsort"):
        sf.argsort(sf.zeros(4), dim=-2)


# -------------------------------------------------------------------------------------------------
# Norms
# -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("ord", [2, 1, math.inf, -math.inf, 0, 3, 0.5, -1])
@pytest.mark.parametrize("dim", [None, 1, (0, 2)])
def test_vector_norm_matches_numpy(ord, dim, rng):
    x = rnd(rng, 3, 4, 2)
    axes = tuple(range(3)) if dim is None else (dim,) if isinstance(dim, int) else dim
    flat = np.moveaxis(x, axes, tuple(range(-len(axes), 0))).reshape(
        [x.shape[d] for d in range(3) if d not in axes] + [-1])
    expected = np.linalg.norm(flat, ord=ord, axis=-1)
    got = norms.vector_norm(t64(x), ord, dim)
    np.testing.assert_allclose(v(got), expected, rtol=1e-12)
    kept = norms.vector_norm(t64(x), ord, dim, keepdim=True)
    assert kept.shape == tuple(1 if d in axes else x.shape[d] for d in range(3))


@pytest.mark.parametrize("ord", ["fro", 1, -1, math.inf, -math.inf])
def test_matrix_norm_matches_numpy(ord, rng):
    x = rnd(rng, 2, 3, 4)
    expected = np.stack([np.linalg.norm(m, ord=ord) for m in x])
    np.testing.assert_allclose(v(norms.matrix_norm(t64(x), ord)), expected, rtol=1e-12)
    swapped = np.stack([np.linalg.norm(m.T, ord=ord) for m in x])
    np.testing.assert_allclose(v(norms.matrix_norm(t64(x), ord, dim=(-1, -2))), swapped, rtol=1e-12)


def test_torch_norm_and_linalg_norm_forms(rng):
    x = rnd(rng, 3, 4)
    np.testing.assert_allclose(sf.norm(t64(x)).item(), np.linalg.norm(x), rtol=1e-12)
    np.testing.assert_allclose(t64(x).norm().item(), np.linalg.norm(x), rtol=1e-12)
    np.testing.assert_allclose(v(sf.norm(t64(x), dim=1)), np.linalg.norm(x, axis=1), rtol=1e-12)
    np.testing.assert_allclose(v(sf.norm(t64(x), p=1, dim=0)), np.abs(x).sum(0), rtol=1e-12)
    np.testing.assert_allclose(sf.norm(t64(x), p=3).item(), (np.abs(x) ** 3).sum() ** (1 / 3), rtol=1e-12)
    np.testing.assert_allclose(norms.linalg_norm(t64(x)).item(), np.linalg.norm(x), rtol=1e-12)
    np.testing.assert_allclose(norms.linalg_norm(t64(x), 1).item(), np.linalg.norm(x, 1), rtol=1e-12)
    np.testing.assert_allclose(norms.linalg_norm(t64(x[0]), math.inf).item(), np.abs(x[0]).max(), rtol=1e-12)
    np.testing.assert_allclose(v(sf.norm(t64(x), dtype=sf.float32)), np.linalg.norm(x), rtol=1e-6)


@pytest.mark.parametrize("op", [
    lambda t: norms.vector_norm(t),
    lambda t: norms.vector_norm(t, 3, dim=1),
    lambda t: norms.vector_norm(t, 1.5, dim=0, keepdim=True),
    lambda t: norms.vector_norm(t, math.inf, dim=1),
    lambda t: norms.matrix_norm(t),
    lambda t: norms.matrix_norm(t, 1),
    lambda t: norms.matrix_norm(t, -math.inf),
    lambda t: sf.norm(t, dim=0),
])
def test_norm_rules(op, rng):
    check_rules(op, rnd(rng, 3, 4))


def test_norm_gradient_at_zero_is_zero_as_in_torch():
    zero = sf.zeros(4, dtype=sf.float64)
    for f in (lambda t: norms.vector_norm(t), lambda t: norms.vector_norm(t, 3), lambda t: sf.norm(t),
              lambda t: norms.matrix_norm(t.reshape(2, 2))):
        np.testing.assert_array_equal(v(grad(f)(zero)), np.zeros(4))
    # A zero row among nonzero ones: its rows' gradient is 0, the others x / |x|.
    x = np.array([[0.0, 0.0], [3.0, -4.0]])
    g = grad(lambda t: norms.vector_norm(t, dim=1).sum())(t64(x))
    np.testing.assert_allclose(v(g), [[0, 0], [0.6, -0.8]], rtol=1e-15)
    assert norms.vector_norm(zero).item() == 0


def test_norm_errors():
    with pytest.raises(sf.ShapeError, match="sf_matrix_norm: ord '2' of matrices"):
        norms.matrix_norm(sf.zeros(0, 2), 2)
    with pytest.raises(ValueError, match="matrix_norm: ord must be one of"):
        norms.matrix_norm(sf.zeros(2, 2), 3)
    with pytest.raises(sf.DTypeError, match="sf_vector_norm: expected a float tensor"):
        norms.vector_norm(sf.tensor([1, 2]))
    with pytest.raises(sf.InvalidArgumentError, match="sf_matrix_norm: dims must be two different dims"):
        norms.matrix_norm(sf.zeros(2, 2), dim=(0, 0))
    with pytest.raises(sf.ShapeError, match="sf_matrix_norm: expected a tensor of at least 2 dims"):
        norms.matrix_norm(sf.zeros(2))
    with pytest.raises(sf.ShapeError, match="sf_vector_norm: ord inf of an empty dim"):
        norms.vector_norm(sf.zeros(0), math.inf)
    with pytest.raises(sf.ShapeError, match="sf_vector_norm: ord -1.0 of an empty dim"):
        norms.vector_norm(sf.zeros(2, 0), -1, dim=1)
    assert norms.vector_norm(sf.zeros(0), 0.5).item() == 0 and norms.vector_norm(sf.zeros(0)).item() == 0


# -------------------------------------------------------------------------------------------------
# roll, repeat, tile
# -------------------------------------------------------------------------------------------------

MOVE_CASES = [
    ("roll flat", lambda t: sf.roll(t, 5), lambda x: np.roll(x, 5), (3, 4)),
    ("roll dims", lambda t: t.roll((1, -3), (0, 1)), lambda x: np.roll(x, (1, -3), (0, 1)), (3, 4)),
    ("roll one dim", lambda t: sf.roll(t, -7, 1), lambda x: np.roll(x, -7, 1), (2, 3)),
    ("repeat", lambda t: t.repeat(2, 1, 3), lambda x: np.tile(x, (2, 1, 3)), (2, 3)),
    ("repeat tuple", lambda t: t.repeat((1, 2)), lambda x: np.tile(x, (1, 2)), (3, 2)),
    ("tile", lambda t: sf.tile(t, (2,)), lambda x: np.tile(x, 2), (2, 3)),
    ("tile method", lambda t: t.tile(2, 1, 2), lambda x: np.tile(x, (2, 1, 2)), (3, 2)),
]


@pytest.mark.parametrize("name,op,reference,shape", MOVE_CASES, ids=[c[0] for c in MOVE_CASES])
def test_roll_repeat_tile(name, op, reference, shape, rng):
    x = rnd(rng, *shape)
    np.testing.assert_array_equal(v(op(t64(x))), reference(x))
    check_rules(op, x)


def test_roll_repeat_tile_errors():
    with pytest.raises(sf.InvalidArgumentError, match="sf_roll: shifts"):
        sf.roll(sf.zeros(2, 2), (1, 2), 0)
    with pytest.raises(sf.InvalidArgumentError, match=r"sf_repeat: the number of repeats \(1\)"):
        sf.zeros(2, 2).repeat(2)
    with pytest.raises(sf.InvalidArgumentError, match="sf_tile: repeats must be non-negative"):
        sf.tile(sf.zeros(2), (-1,))
    assert sf.zeros(2, 3).repeat(0, 2).shape == (0, 6)


# -------------------------------------------------------------------------------------------------
# as_tensor, empty (from_numpy: test_inplace_init.py)
# -------------------------------------------------------------------------------------------------

def test_as_tensor_and_empty():
    a = np.arange(6.0).reshape(2, 3)
    t = sf.from_numpy(a)
    assert sf.as_tensor([1.0, 2.0], dtype=sf.float64).dtype is sf.float64
    assert sf.as_tensor(a, sf.float32).dtype is sf.float32  # dtype positional, as in torch
    assert sf.as_tensor(t) is t
    assert sf.empty(2, 3).shape == (2, 3) and sf.empty_like(t).shape == (2, 3)
    assert sf.empty_like(t).dtype is sf.float64


# -------------------------------------------------------------------------------------------------
# Against torch, when installed
# -------------------------------------------------------------------------------------------------

TORCH_CASES = [
    ("einsum", lambda m, x: m.einsum("bij,bjk->bik", x, x.transpose(1, 2)), (2, 3, 3)),
    ("einsum trace", lambda m, x: m.einsum("bii->b", x), (2, 3, 3)),
    ("einsum ellipsis", lambda m, x: m.einsum("...ij->...j", x), (2, 3, 3)),
    ("diag", lambda m, x: m.diag(x[0, 0], 1), (2, 3, 3)),
    ("diagonal", lambda m, x: m.diagonal(x, -1, 1, 2), (2, 3, 3)),
    ("diag_embed", lambda m, x: m.diag_embed(x, 1, 0, 2), (2, 3, 3)),
    ("trace", lambda m, x: m.trace(x[1]), (2, 3, 3)),
    ("tril", lambda m, x: m.tril(x, 1), (2, 3, 3)),
    ("triu", lambda m, x: m.triu(x, -1), (2, 3, 3)),
    ("cumsum", lambda m, x: m.cumsum(x, 1), (2, 3, 3)),
    ("cumprod", lambda m, x: m.cumprod(x, -1), (2, 3, 3)),
    ("sort", lambda m, x: m.sort(x, 1, descending=True)[0], (2, 3, 3)),
    ("topk", lambda m, x: m.topk(x, 2, 1)[0], (2, 3, 3)),
    ("norm", lambda m, x: m.norm(x, dim=(1, 2)), (2, 3, 3)),
    ("norm p", lambda m, x: m.norm(x, p=3, dim=1), (2, 3, 3)),
    ("roll", lambda m, x: m.roll(x, (1, 2), (0, 2)), (2, 3, 3)),
    ("tile", lambda m, x: m.tile(x, (2, 1)), (2, 3, 3)),
    ("repeat", lambda m, x: x.repeat(1, 2, 1, 2), (2, 3, 3)),
]


@pytest.mark.skipif(torch is None, reason="torch is not installed")
@pytest.mark.parametrize("name,op,shape", TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
def test_against_torch(name, op, shape, rng):
    x = rnd(rng, *shape)
    expected = op(torch, torch.tensor(x))
    np.testing.assert_allclose(v(op(sf, t64(x))), expected.numpy(), rtol=1e-12, atol=1e-14)
    # Gradients of a weighted sum, against torch's autograd.
    w = rnd(rng, *expected.shape)
    xt = torch.tensor(x, requires_grad=True)
    (op(torch, xt) * torch.tensor(w)).sum().backward()
    ours = grad(lambda t: (op(sf, t) * t64(w)).sum())(t64(x))
    np.testing.assert_allclose(v(ours), xt.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.skipif(torch is None, reason="torch is not installed")
def test_norm_gradient_at_zero_against_torch():
    xt = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    torch.linalg.vector_norm(xt).backward()
    np.testing.assert_array_equal(v(grad(lambda t: norms.vector_norm(t))(sf.zeros(3, dtype=sf.float64))),
                                  xt.grad.numpy())
