"""swiftfunc.linalg against numpy.linalg on the same inputs (float32 and float64, batched and broadcast),
derivatives against float64 central differences (orders 1 and 2), vmap against a loop, the errors, and
torch.linalg (values and gradients) when torch is installed."""
import numpy as np
import pytest

import swiftfunc as sf
from swiftfunc.func import grad, hessian, jacfwd, jacrev, vmap

from conftest import optional_module

torch = optional_module("torch")
RNG = np.random.default_rng(0)


def well_conditioned(*shape):
    n = shape[-1]
    return RNG.standard_normal(shape) + n * np.eye(n)


def spd(*shape):
    m = RNG.standard_normal(shape)
    return m @ np.swapaxes(m, -1, -2) + np.eye(shape[-1])


def t64(array):
    return sf.tensor(np.asarray(array), dtype=sf.float64)


def close(actual, expected, tol=1e-10):
    np.testing.assert_allclose(np.asarray(actual.numpy() if isinstance(actual, sf.Tensor) else actual),
                               np.asarray(expected), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype,tol", [(sf.float64, 1e-10), (sf.float32, 1e-4)])
@pytest.mark.parametrize("a_shape,b_shape", [((4, 4), (4, 2)), ((3, 4, 4), (4, 1)), ((2, 1, 3, 3), (4, 3, 2)),
                                             ((3, 3), (3,)), ((2, 3, 3), (2, 3))])
def test_solve_against_numpy(dtype, tol, a_shape, b_shape):
    a, b = well_conditioned(*a_shape), RNG.standard_normal(b_shape)
    np_dtype = np.float64 if dtype == sf.float64 else np.float32
    a, b = a.astype(np_dtype), b.astype(np_dtype)
    x = sf.linalg.solve(sf.tensor(a), sf.tensor(b))
    assert x.dtype == dtype
    # torch's rule: b is a (batch of) vector(s) when 1-D or of A's shape without its last dim; numpy >= 2
    # only knows the 1-D case, so the batched-vector reference is built by hand.
    is_vector = b.ndim == 1 or b.shape == a.shape[:-1]
    expected = np.linalg.solve(a, b[..., None])[..., 0] if is_vector else np.linalg.solve(a, b)
    close(x, expected, tol)
    # X A = B.
    c = RNG.standard_normal(a_shape[:-2] + (2, a_shape[-1])).astype(np_dtype)
    close(sf.linalg.solve(sf.tensor(a), sf.tensor(c), left=False), c @ np.linalg.inv(a), tol)


@pytest.mark.parametrize("upper", [False, True])
@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("unitriangular", [False, True])
def test_solve_triangular(upper, left, unitriangular):
    a = well_conditioned(2, 4, 4)
    t = np.triu(a) if upper else np.tril(a)
    if unitriangular:
        idx = np.arange(4)
        t[..., idx, idx] = 1
    b = RNG.standard_normal((2, 4, 3) if left else (2, 3, 4))
    x = sf.linalg.solve_triangular(t64(a), t64(b), upper=upper, left=left, unitriangular=unitriangular)
    expected = np.linalg.solve(t, b) if left else b @ np.linalg.inv(t)
    close(x, expected)


@pytest.mark.parametrize("dtype,tol", [(sf.float64, 1e-10), (sf.float32, 1e-4)])
def test_cholesky_inv_det_slogdet_eigh_against_numpy(dtype, tol):
    np_dtype = np.float64 if dtype == sf.float64 else np.float32
    a = spd(2, 3, 5, 5).astype(np_dtype)
    ta = sf.tensor(a)
    close(sf.linalg.cholesky(ta), np.linalg.cholesky(a), tol)
    close(sf.linalg.cholesky(ta, upper=True), np.swapaxes(np.linalg.cholesky(a), -1, -2), tol)
    close(sf.linalg.inv(ta), np.linalg.inv(a), tol * 10)
    g = RNG.standard_normal((2, 3, 5, 5)).astype(np_dtype)
    close(sf.linalg.det(sf.tensor(g)), np.linalg.det(g), tol * 10)
    sign, logabsdet = sf.linalg.slogdet(sf.tensor(g))
    ref_sign, ref_log = np.linalg.slogdet(g)
    close(sign, ref_sign, 0)
    close(logabsdet, ref_log, tol)
    assert sf.slogdet(sf.tensor(g)).logabsdet.shape == (2, 3)
    close(sf.logdet(ta), np.linalg.slogdet(a)[1], tol)
    values, vectors = sf.linalg.eigh(ta)
    ref_values = np.linalg.eigvalsh(a)
    close(values, ref_values, tol * 10)
    v = vectors.numpy()
    close(a @ v, v * values.numpy()[..., None, :], tol * 100)
    close(sf.linalg.eigvalsh(ta, UPLO="U"), ref_values, tol * 10)
    b = RNG.standard_normal((2, 3, 5, 2)).astype(np_dtype)
    close(sf.cholesky_solve(sf.tensor(b), sf.linalg.cholesky(ta)), np.linalg.solve(a, b), tol * 10)
    close(sf.tensor(a).inverse(), np.linalg.inv(a), tol * 10)


def test_reads_one_triangle():
    a = spd(4, 4)
    garbled = np.tril(a) + np.triu(np.full((4, 4), 50.0), 1)
    close(sf.linalg.cholesky(t64(garbled)), np.linalg.cholesky(a))
    close(sf.linalg.eigvalsh(t64(garbled)), np.linalg.eigvalsh(a))
    close(sf.linalg.eigvalsh(t64(garbled.T), UPLO="U"), np.linalg.eigvalsh(a))
    with pytest.raises(ValueError, match="UPLO"):
        sf.linalg.eigh(t64(a), UPLO="X")


def test_singular_and_not_positive_definite():
    with pytest.raises(sf.InvalidArgumentError, match=r"sf_linalg_cholesky: the input \(batch element \[1\]\) is not "
                                                      r"positive-definite \(the leading minor of order 2"):
        sf.linalg.cholesky(t64([[[4, 0], [0, 1]], [[1, 2], [2, 1]]]))
    with pytest.raises(sf.InvalidArgumentError, match="singular"):
        sf.linalg.solve(t64([[1, 2], [2, 4]]), t64([1, 1]))
    with pytest.raises(sf.InvalidArgumentError, match="singular"):
        sf.linalg.inv(t64([[1, 2], [2, 4]]))
    assert sf.linalg.det(t64([[1, 2], [2, 4]])).item() == 0
    assert sf.linalg.slogdet(t64([[1, 2], [2, 4]])).logabsdet.item() == -np.inf
    assert np.isnan(sf.logdet(t64([[0, 1], [1, 0]])).item())
    with pytest.raises(sf.ShapeError, match="square"):
        sf.linalg.det(t64(np.ones((2, 3))))
    with pytest.raises(sf.DTypeError):
        sf.linalg.inv(sf.tensor([[1, 0], [0, 1]]))


def central_difference(f, x, h=1e-6):
    """The gradient of scalar f at x (numpy float64) by central differences."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def test_grad_and_hessian_of_logdet():
    a = well_conditioned(3, 3)
    close(grad(lambda m: sf.logdet(m))(t64(a)), np.linalg.inv(a).T)
    inv = np.linalg.inv(a)
    expected = -np.einsum("li,jk->ijkl", inv, inv)
    close(hessian(lambda m: sf.logdet(m))(t64(a)), expected)
    # Order 2 against differences of the (analytic, numpy) gradient.
    hess_fd = np.stack([central_difference(lambda m: np.linalg.inv(m).T[i], a) for i in np.ndindex(3, 3)])
    close(hessian(lambda m: sf.logdet(m))(t64(a)).numpy().reshape(9, 3, 3), hess_fd, 1e-6)


@pytest.mark.parametrize("name,f,make", [
    ("solve", lambda a, b: sf.linalg.solve(a, b), lambda: (well_conditioned(3, 3), RNG.standard_normal((3, 2)))),
    ("solve_triangular", lambda a, b: sf.linalg.solve_triangular(a, b, upper=True),
     lambda: (well_conditioned(3, 3), RNG.standard_normal((3, 2)))),
    ("cholesky_solve", lambda m, b: sf.cholesky_solve(b, sf.linalg.cholesky(m @ m.mT + sf.eye(3, dtype=sf.float64))),
     lambda: (RNG.standard_normal((3, 3)), RNG.standard_normal((3, 2)))),
    ("det", lambda a, b: sf.linalg.det(a) * b.sum(), lambda: (RNG.standard_normal((3, 3)), RNG.standard_normal(2))),
    ("eigh", lambda m, b: sf.linalg.eigh(m + m.mT).eigenvectors @ b,
     lambda: (RNG.standard_normal((3, 3)), RNG.standard_normal(3))),
])
def test_derivatives_against_central_differences(name, f, make):
    a, b = make()

    def scalar(x, y):
        return (f(x, y) * sf.sin(f(x, y))).sum()

    def numeric(x, y):
        return float(scalar(t64(x), t64(y)).item())

    ga, gb = grad(scalar, argnums=(0, 1))(t64(a), t64(b))
    close(ga, central_difference(lambda x: numeric(x, b), a), 1e-6)
    close(gb, central_difference(lambda y: numeric(a, y), b), 1e-6)
    # Order 2: the Hessian in a against differences of the gradient.
    h = jacfwd(jacrev(scalar))(t64(a), t64(b)).numpy()
    ref = np.stack([central_difference(lambda x: grad(scalar)(t64(x), t64(b)).numpy()[i], a)
                    for i in np.ndindex(a.shape)]).reshape(a.shape + a.shape)
    close(h, ref, 1e-5)


def test_vmap_against_a_loop():
    a, b = well_conditioned(5, 3, 3), RNG.standard_normal((5, 3, 2))
    ops = [lambda m, r: sf.linalg.solve(m, r), lambda m, r: sf.linalg.inv(m) @ r,
           lambda m, r: sf.linalg.det(m) * r, lambda m, r: sf.linalg.eigh(m + m.mT).eigenvalues.sum() * r,
           lambda m, r: sf.linalg.cholesky(m @ m.mT) @ r]
    for op in ops:
        batched = vmap(op)(t64(a), t64(b))
        loop = np.stack([op(t64(a[i]), t64(b[i])).numpy() for i in range(5)])
        close(batched, loop, 1e-12)
        # One operand unbatched.
        batched = vmap(op, in_dims=(None, 0))(t64(a[0]), t64(b))
        close(batched, np.stack([op(t64(a[0]), t64(b[i])).numpy() for i in range(5)]), 1e-12)


def test_jit():
    a = spd(4, 4)
    f = sf.func.jit(lambda m: sf.linalg.slogdet(m).logabsdet + sf.linalg.eigvalsh(m).sum())
    close(f(t64(a)), np.linalg.slogdet(a)[1] + np.trace(a))


@pytest.mark.skipif(torch is None, reason="torch is not installed")
def test_against_torch():
    a, b = well_conditioned(2, 4, 4), RNG.standard_normal((2, 4, 3))
    s = spd(2, 4, 4)
    ta, tb, ts = (torch.tensor(x, requires_grad=True) for x in (a, b, s))

    def both(lib, linalg, m, r, p):
        x = linalg.solve(m, r)
        l = linalg.cholesky(p)
        values, vectors = linalg.eigh(p)
        sign, logabs = linalg.slogdet(m)
        return ((x ** 2).sum() + l.sum() + values.sum() + (vectors ** 2).sum() + (sign * logabs).sum()
                + lib.cholesky_solve(r, l).sum() + linalg.inv(m).sum() + linalg.det(m).sum()
                + linalg.solve_triangular(m, r, upper=False).sum())

    ours = both(sf, sf.linalg, t64(a), t64(b), t64(s))
    theirs = both(torch, torch.linalg, ta, tb, ts)
    close(ours, theirs.detach().numpy())
    theirs.backward()
    ga, gb = grad(lambda m, r: both(sf, sf.linalg, m, r, t64(s)), argnums=(0, 1))(t64(a), t64(b))
    close(ga, ta.grad.numpy(), 1e-9)
    close(gb, tb.grad.numpy(), 1e-9)
    # Gradients in the symmetric input agree with torch's along symmetric directions (torch returns a
    # symmetric gradient; swiftfunc's is the gradient of reading the lower triangle).
    gs = grad(lambda p: both(sf, sf.linalg, t64(a), t64(b), p))(t64(s)).numpy()
    direction = RNG.standard_normal((2, 4, 4))
    direction = direction + np.swapaxes(direction, -1, -2)
    close((gs * direction).sum(), (ts.grad.numpy() * direction).sum(), 1e-9)


def test_linalg_namespace_gathers_the_norms():
    x = RNG.standard_normal((3, 4))
    close(sf.linalg.vector_norm(t64(x), 3, dim=1), np.linalg.norm(x, ord=3, axis=1))
    close(sf.linalg.matrix_norm(t64(x), "fro"), np.linalg.norm(x, "fro"))
    close(sf.linalg.norm(t64(x), 1), np.linalg.norm(x, 1))
    for ord in ("nuc", 2, -2):
        close(sf.linalg.matrix_norm(t64(x), ord), np.linalg.norm(x, ord))


# --- svd, svdvals, pinv, matrix_norm through singular values ---

@pytest.mark.parametrize("dtype,tol", [(sf.float64, 1e-10), (sf.float32, 1e-4)])
@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5), (2, 3, 4, 2), (1, 6)])
@pytest.mark.parametrize("full", [False, True])
def test_svd_against_numpy(dtype, tol, shape, full):
    np_dtype = np.float64 if dtype == sf.float64 else np.float32
    a = RNG.standard_normal(shape).astype(np_dtype)
    u, s, vh = sf.linalg.svd(sf.tensor(a), full_matrices=full)
    ref_u, ref_s, ref_vh = np.linalg.svd(a, full_matrices=full)
    assert (u.shape, s.shape, vh.shape) == (ref_u.shape, ref_s.shape, ref_vh.shape)
    assert u.dtype == dtype
    close(s, ref_s, tol)
    k = min(shape[-2:])
    close(u.numpy()[..., :k] * s.numpy()[..., None, :] @ vh.numpy()[..., :k, :], a, tol * 10)
    eye_u, eye_v = np.eye(u.shape[-1]), np.eye(vh.shape[-2])
    close(np.swapaxes(u.numpy(), -1, -2) @ u.numpy(), np.broadcast_to(eye_u, u.shape[:-2] + eye_u.shape), tol * 10)
    close(vh.numpy() @ np.swapaxes(vh.numpy(), -1, -2), np.broadcast_to(eye_v, vh.shape[:-2] + eye_v.shape), tol * 10)
    close(sf.linalg.svdvals(sf.tensor(a)), ref_s, tol)


def test_svd_edge_cases():
    u, s, vh = sf.linalg.svd(t64(np.zeros((0, 3))))
    assert (u.shape, s.shape, vh.shape) == ((0, 0), (0,), (3, 3))
    close(vh, np.eye(3))
    assert np.isnan(sf.linalg.svdvals(t64([[1.0, np.nan], [0, 1]])).numpy()).all()
    with pytest.raises(sf.ShapeError):
        sf.linalg.svd(t64([1.0, 2.0]))
    with pytest.raises(sf.DTypeError):
        sf.linalg.svdvals(sf.tensor([[1, 2], [3, 4]]))
    with pytest.raises(sf.UnsupportedError, match="full_matrices"):
        grad(lambda m: sf.linalg.svd(m).U.sum())(t64(RNG.standard_normal((3, 2))))


def gauge_invariant_svd(m):
    """A scalar of U, S and Vh that the sign choices do not change (U diag(S) Vh and products)."""
    u, s, vh = sf.linalg.svd(m, full_matrices=False)
    return ((u * s.unsqueeze(-2)) @ vh * sf.sin(m)).sum() + (u @ vh).sum() + ((u[..., :, :1] @ vh[..., :1, :]) ** 2 * m).sum()


def check_orders_1_and_2(f, a):
    """grad of scalar f at a against central differences, its Hessian (forward over reverse) against
    differences of the gradient, and forward mode against reverse."""
    close(grad(f)(t64(a)), central_difference(lambda x: float(f(t64(x)).item()), a), 1e-6)
    h = jacfwd(jacrev(f))(t64(a)).numpy()
    ref = np.stack([central_difference(lambda x: grad(f)(t64(x)).numpy()[i], a) for i in np.ndindex(a.shape)])
    close(h, ref.reshape(a.shape + a.shape), 1e-5)
    close(jacfwd(f)(t64(a)), grad(f)(t64(a)), 1e-10)


@pytest.mark.parametrize("shape", [(3, 3), (4, 2), (2, 4)])
@pytest.mark.parametrize("f", [gauge_invariant_svd, lambda m: (sf.linalg.svdvals(m) ** 3).sum(),
                               lambda m: (sf.linalg.pinv(m) * sf.cos(m).mT).sum(),
                               lambda m: sf.linalg.matrix_norm(m, "nuc") + sf.linalg.matrix_norm(m, 2) * sf.linalg.matrix_norm(m, -2)])
def test_svd_derivatives_against_central_differences(shape, f):
    check_orders_1_and_2(f, RNG.standard_normal(shape))


def test_svd_closed_forms():
    # diag(3, 2) rotated: singular values 3, 2; the gradient of the nuclear norm is U Vh.
    c, s = np.cos(0.3), np.sin(0.3)
    r = np.array([[c, -s], [s, c]])
    a = r @ np.diag([3.0, 2.0])
    close(sf.linalg.svdvals(t64(a)), [3, 2])
    close(grad(lambda m: sf.linalg.matrix_norm(m, "nuc"))(t64(a)), r)
    close(sf.linalg.pinv(t64(a)), np.linalg.inv(a))
    # Rank 1: pinv drops the zero singular value (torch's default rtol), as numpy.
    b = np.outer([1.0, 2.0, 3.0], [1.0, -1.0])
    close(sf.linalg.pinv(t64(b)), np.linalg.pinv(b))
    close(sf.linalg.pinv(t64(b), atol=1e3), np.zeros((2, 3)))
    with pytest.raises(sf.InvalidArgumentError, match="rtol"):
        sf.linalg.pinv(t64(b), rtol=-1)


@pytest.mark.parametrize("dtype,tol", [(sf.float64, 1e-10), (sf.float32, 1e-4)])
def test_pinv_and_spectral_norms_against_numpy(dtype, tol):
    np_dtype = np.float64 if dtype == sf.float64 else np.float32
    a = RNG.standard_normal((2, 3, 5, 3)).astype(np_dtype)
    close(sf.linalg.pinv(sf.tensor(a)), np.linalg.pinv(a), tol * 10)
    for ord in ("nuc", 2, -2):
        close(sf.linalg.matrix_norm(sf.tensor(a), ord), np.linalg.norm(a, ord, axis=(-2, -1)), tol)
        kept = sf.linalg.matrix_norm(sf.tensor(a), ord, dim=(0, 2), keepdim=True)
        assert kept.shape == (1, 3, 1, 3)
        close(kept.numpy()[0, :, 0, :], np.linalg.norm(a, ord, axis=(0, 2)), tol)


def test_svd_vmap_against_a_loop():
    a = RNG.standard_normal((4, 3, 2))
    ops = [lambda m: sf.linalg.svdvals(m), lambda m: sf.linalg.pinv(m),
           lambda m: gauge_invariant_svd(m), lambda m: grad(gauge_invariant_svd)(m),
           lambda m: sf.linalg.svd(m, full_matrices=False).U]
    for op in ops:
        close(vmap(op)(t64(a)), np.stack([op(t64(a[i])).numpy() for i in range(4)]), 1e-12)


@pytest.mark.skipif(torch is None, reason="torch is not installed")
def test_svd_against_torch():
    a = RNG.standard_normal((2, 4, 3))

    def f(lib, m):
        u, s, vh = lib.linalg.svd(m, full_matrices=False)
        return ((u * s.unsqueeze(-2)) @ vh).sum() + (u @ vh).sum() + lib.linalg.svdvals(m).sum() + lib.linalg.pinv(m).sum()

    ta = torch.tensor(a, requires_grad=True)
    theirs = f(torch, ta)
    close(f(sf, t64(a)), theirs.detach().numpy())
    theirs.backward()
    close(grad(lambda m: f(sf, m))(t64(a)), ta.grad.numpy(), 1e-9)


# --- qr, lstsq ---

@pytest.mark.parametrize("dtype,tol", [(sf.float64, 1e-10), (sf.float32, 1e-4)])
@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5), (2, 3, 4, 2)])
@pytest.mark.parametrize("mode", ["reduced", "complete", "r"])
def test_qr_against_numpy(dtype, tol, shape, mode):
    np_dtype = np.float64 if dtype == sf.float64 else np.float32
    a = RNG.standard_normal(shape).astype(np_dtype)
    q, r = sf.linalg.qr(sf.tensor(a), mode=mode)
    ref_r = np.linalg.qr(a, mode=mode)[1] if mode != "r" else np.linalg.qr(a, mode="r")
    assert r.shape == ref_r.shape and r.dtype == dtype
    # Signs of R's rows may differ from numpy's (both are LAPACK's; compare |R| and Q R = A).
    close(np.abs(r.numpy()), np.abs(ref_r), tol * 10)
    close(r.numpy(), np.triu(r.numpy()), 0)
    if mode == "r":
        assert q.shape == (0,)
        return
    assert q.shape == np.linalg.qr(a, mode=mode)[0].shape
    close(q.numpy() @ r.numpy(), a, tol * 10)
    eye = np.eye(q.shape[-1])
    close(np.swapaxes(q.numpy(), -1, -2) @ q.numpy(), np.broadcast_to(eye, q.shape[:-2] + eye.shape), tol * 10)


@pytest.mark.parametrize("shape", [(3, 3), (4, 2)])
@pytest.mark.parametrize("f", [lambda m: (sf.linalg.qr(m).Q * sf.sin(m)).sum() + (sf.linalg.qr(m).R ** 2 * m[:2, :2].sum()).sum(),
                               lambda m: (sf.linalg.lstsq(m, sf.cos(m)[:, :1] + 1).solution ** 2).sum(),
                               lambda m: (sf.linalg.lstsq(m.mT, sf.ones(m.shape[1], dtype=sf.float64)).solution * m[0, 0]).sum()])
def test_qr_lstsq_derivatives_against_central_differences(shape, f):
    check_orders_1_and_2(f, RNG.standard_normal(shape))


def test_qr_unsupported_derivatives():
    with pytest.raises(sf.UnsupportedError, match="sf_linalg_qr: derivatives need m >= n"):
        grad(lambda m: sf.linalg.qr(m).R.sum())(t64(RNG.standard_normal((2, 3))))
    with pytest.raises(sf.UnsupportedError, match="mode='complete'"):
        grad(lambda m: sf.linalg.qr(m, mode="complete").Q.sum())(t64(RNG.standard_normal((3, 2))))
    with pytest.raises(ValueError, match="mode"):
        sf.linalg.qr(t64(np.eye(2)), mode="full")


@pytest.mark.parametrize("dtype,tol", [(sf.float64, 1e-10), (sf.float32, 1e-4)])
def test_lstsq_against_numpy(dtype, tol):
    np_dtype = np.float64 if dtype == sf.float64 else np.float32
    a, b = RNG.standard_normal((2, 6, 3)).astype(np_dtype), RNG.standard_normal((2, 6, 2)).astype(np_dtype)
    result = sf.linalg.lstsq(sf.tensor(a), sf.tensor(b))
    close(result.solution, np.stack([np.linalg.lstsq(a[i], b[i], rcond=None)[0] for i in range(2)]), tol * 10)
    assert result.rank.dtype == sf.int64 and result.rank.shape == (2,) and (result.rank.numpy() == 3).all()
    assert result.residuals.shape == (0,) and result.singular_values.shape == (0,)
    # Wide: the minimum-norm solution; a vector right-hand side.
    w, v = RNG.standard_normal((3, 5)).astype(np_dtype), RNG.standard_normal(3).astype(np_dtype)
    close(sf.linalg.lstsq(sf.tensor(w), sf.tensor(v)).solution, np.linalg.lstsq(w, v, rcond=None)[0], tol * 10)
    # Rank from the singular values.
    low = np.outer([1.0, 2, 3, 4], [1.0, 0, 1])
    assert sf.linalg.lstsq(t64(low), t64(np.ones((4, 1)))).rank.item() == 1
    with pytest.raises(sf.ShapeError, match="rows"):
        sf.linalg.lstsq(t64(np.ones((4, 2))), t64(np.ones((3, 1))))
    # A batch of A with one matrix B (not a batch of vectors: B's shape is not A's without its last dim).
    bb = RNG.standard_normal((6, 2)).astype(np_dtype)
    close(sf.linalg.lstsq(sf.tensor(a), sf.tensor(bb)).solution,
          np.stack([np.linalg.lstsq(a[i], bb, rcond=None)[0] for i in range(2)]), tol * 10)
    with pytest.raises(ValueError, match="driver"):
        sf.linalg.lstsq(t64(np.ones((4, 2))), t64(np.ones((4, 1))), driver="gelsd")


def test_qr_lstsq_vmap_against_a_loop():
    a, b = RNG.standard_normal((4, 5, 3)), RNG.standard_normal((4, 5, 2))
    ops = [lambda m, r: sf.linalg.qr(m).Q @ sf.linalg.qr(m).R, lambda m, r: sf.linalg.lstsq(m, r).solution,
           lambda m, r: grad(lambda x: (sf.linalg.qr(x).R ** 2).sum())(m) + r.sum()]
    for op in ops:
        close(vmap(op)(t64(a), t64(b)), np.stack([op(t64(a[i]), t64(b[i])).numpy() for i in range(4)]), 1e-12)
        close(vmap(op, in_dims=(None, 0))(t64(a[0]), t64(b)), np.stack([op(t64(a[0]), t64(b[i])).numpy() for i in range(4)]), 1e-12)


# --- lu_factor, lu_solve ---

def test_lu_factor_and_solve():
    a = well_conditioned(2, 4, 4)
    lu, piv = sf.linalg.lu_factor(t64(a))
    assert piv.dtype == sf.int32 and piv.shape == (2, 4) and lu.shape == (2, 4, 4)
    for i in range(2):  # P L U = A with torch's 1-based sequential row swaps.
        l = np.tril(lu.numpy()[i], -1) + np.eye(4)
        u = np.triu(lu.numpy()[i])
        perm = np.arange(4)
        for j, p in enumerate(piv.numpy()[i]):
            perm[[j, p - 1]] = perm[[p - 1, j]]
        close((l @ u)[np.argsort(perm)], a[i])
    b = RNG.standard_normal((2, 4, 3))
    close(sf.linalg.lu_solve(lu, piv, t64(b)), np.linalg.solve(a, b))
    close(sf.linalg.lu_solve(lu, piv, t64(b), adjoint=True), np.linalg.solve(np.swapaxes(a, -1, -2), b))
    c = RNG.standard_normal((2, 3, 4))
    close(sf.linalg.lu_solve(lu, piv, t64(c), left=False), c @ np.linalg.inv(a))
    # Rectangular factorization; float32.
    lu32, piv32 = sf.linalg.lu_factor(sf.tensor(RNG.standard_normal((3, 5)).astype(np.float32)))
    assert lu32.shape == (3, 5) and piv32.shape == (3,) and lu32.dtype == sf.float32


def test_lu_derivatives_and_errors():
    a, b = well_conditioned(3, 3), RNG.standard_normal((3, 2))
    lu, piv = sf.linalg.lu_factor(t64(a))
    f = lambda r: (sf.linalg.lu_solve(lu, piv, r) ** 3).sum()  # noqa: E731
    close(grad(f)(t64(b)), central_difference(lambda x: float(f(t64(x)).item()), b), 1e-6)
    close(jacfwd(f)(t64(b)), grad(f)(t64(b)), 1e-10)
    g = lambda r: (sf.linalg.lu_solve(lu, piv, r, adjoint=True, left=False) ** 2).sum()  # noqa: E731
    close(grad(g)(t64(b.T)), central_difference(lambda x: float(g(t64(x)).item()), b.T), 1e-6)
    close(vmap(lambda r: sf.linalg.lu_solve(lu, piv, r))(t64(np.stack([b, 2 * b]))),
          np.stack([np.linalg.solve(a, b), np.linalg.solve(a, 2 * b)]))
    close(vmap(lambda m, r: sf.linalg.lu_solve(*sf.linalg.lu_factor(m), r))(t64(np.stack([a, a.T])), t64(np.stack([b, b]))),
          np.stack([np.linalg.solve(a, b), np.linalg.solve(a.T, b)]))
    with pytest.raises(sf.UnsupportedError, match="sf_linalg_lu_factor: derivatives of lu_factor"):
        grad(lambda m: sf.linalg.lu_factor(m).LU.sum())(t64(a))
    with pytest.raises(sf.InvalidArgumentError, match="outside 1...3"):
        sf.linalg.lu_solve(lu, sf.tensor(np.array([1, 7, 3], dtype=np.int32)), t64(b))
    with pytest.raises(sf.InvalidArgumentError, match="pivots must be int32"):
        sf.linalg.lu_solve(lu, sf.tensor(np.array([1, 2, 3], dtype=np.int64)), t64(b))


@pytest.mark.parametrize("left,adjoint", [(True, False), (True, True), (False, False), (False, True)])
def test_lu_solve_derivatives_in_lu_and_b(left, adjoint):
    a = well_conditioned(3, 3)
    lu, piv = sf.linalg.lu_factor(t64(a))
    lu0, b = lu.numpy(), RNG.standard_normal((3, 2) if left else (2, 3))

    def f(m, r):
        x = sf.linalg.lu_solve(m, piv, r, left=left, adjoint=adjoint)
        return (x * sf.sin(x)).sum()

    numeric = lambda m, r: float(f(t64(m), t64(r)).item())  # noqa: E731
    gl, gb = grad(f, argnums=(0, 1))(t64(lu0), t64(b))
    close(gl, central_difference(lambda m: numeric(m, b), lu0), 1e-6)
    close(gb, central_difference(lambda r: numeric(lu0, r), b), 1e-6)
    h = jacfwd(jacrev(f))(t64(lu0), t64(b)).numpy()
    ref = np.stack([central_difference(lambda m: grad(f)(t64(m), t64(b)).numpy()[i], lu0) for i in np.ndindex(3, 3)])
    close(h, ref.reshape(3, 3, 3, 3), 1e-5)


@pytest.mark.skipif(torch is None, reason="torch is not installed")
def test_qr_lstsq_lu_against_torch():
    a, b = RNG.standard_normal((2, 5, 3)), RNG.standard_normal((2, 5, 2))

    def f(lib, m, r):
        q, rr = lib.linalg.qr(m)
        x = lib.linalg.lstsq(m, r).solution
        return (q.sum(-2) ** 2).sum() + (rr ** 2).sum() + (x ** 2).sum()

    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    theirs = f(torch, ta, tb)
    close(f(sf, t64(a), t64(b)), theirs.detach().numpy())
    theirs.backward()
    ga, gb = grad(lambda m, r: f(sf, m, r), argnums=(0, 1))(t64(a), t64(b))
    close(ga, ta.grad.numpy(), 1e-9)
    close(gb, tb.grad.numpy(), 1e-9)
    s = well_conditioned(3, 3)
    lu, piv = sf.linalg.lu_factor(t64(s))
    tlu, tpiv = torch.linalg.lu_factor(torch.tensor(s))
    close(lu, tlu.numpy())
    assert (piv.numpy() == tpiv.numpy()).all()
