"""Jacobians and Hessians (the torch.func tutorial "Jacobians, Hessians, hvp, vhp, and more"):
jacrev vs jacfwd vs finite differences for sin(A x), Hessians by hessian / jacrev(jacrev) /
jacfwd(jacfwd), Hessian-vector products, batched Jacobians with vmap — and torch.func when installed."""
import numpy as np

from _common import check, max_diff, seconds, sf, to_torch, torch_func, values

from swiftfunc.func import grad, hessian, jacfwd, jacrev, jvp, vmap


def finite_differences(fn, x, eps=1e-6):
    x = np.asarray(x, dtype=np.float64)
    f0 = np.asarray(fn(x))
    jac = np.zeros(f0.shape + x.shape)
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[i] = eps
        jac[(Ellipsis,) + i] = (np.asarray(fn(x + step)) - np.asarray(fn(x - step))) / (2 * eps)
    return jac


def main():
    sf.manual_seed(1)
    n = 64
    a = sf.randn(n, n, dtype=sf.float64) / n ** 0.5
    x = sf.randn(n, dtype=sf.float64)

    def f(x):
        return sf.sin(a @ x)

    reverse, t_rev = seconds(jacrev(f), x)
    forward, t_fwd = seconds(jacfwd(f), x)
    print(f"Jacobian of sin(A x), n = {n}: jacrev {1e3 * t_rev:.2f} ms, jacfwd {1e3 * t_fwd:.2f} ms")
    reference = np.cos(values(a) @ values(x))[:, None] * values(a)  # closed form: diag(cos(Ax)) A
    check("jacrev vs closed form", max_diff(reverse, reference), 1e-12)
    check("jacfwd vs jacrev", max_diff(forward, reverse), 1e-12)
    numeric = finite_differences(lambda z: np.sin(values(a) @ z), values(x))
    check("jacrev vs finite differences", max_diff(reverse, numeric), 1e-7)
    wide = jacrev(lambda x: (a[:4] @ x).sum(0, keepdim=True))(x)  # 1 x n: reverse mode's favourite shape
    check("jacrev of a 1-row function", max_diff(wide, values(a)[:4].sum(0, keepdims=True)), 1e-12)

    m = 32
    b = sf.randn(m, m, dtype=sf.float64) / m ** 0.5
    y = sf.randn(m, dtype=sf.float64)

    def g(y):
        return sf.tanh(b @ y).sum()

    h, t_h = seconds(hessian(g), y)
    t = np.tanh(values(b) @ values(y))
    closed = values(b).T @ np.diag(-2 * t * (1 - t ** 2)) @ values(b)
    print(f"Hessian of sum(tanh(B y)), n = {m}: {1e3 * t_h:.2f} ms")
    check("hessian vs closed form", max_diff(h, closed), 1e-12)
    check("jacrev(jacrev) vs hessian", max_diff(jacrev(jacrev(g))(y), h), 1e-12)
    check("jacfwd(jacfwd) vs hessian", max_diff(jacfwd(jacfwd(g))(y), h), 1e-12)
    check("hessian vs finite differences of grad",
          max_diff(h, finite_differences(lambda z: values(grad(g)(sf.tensor(z))), values(y))), 1e-6)
    v = sf.randn(m, dtype=sf.float64)
    _, hvp = jvp(grad(g), (y,), (v,))  # forward-over-reverse Hessian-vector product
    check("hvp vs hessian @ v", max_diff(hvp, values(h) @ values(v)), 1e-12)

    batch = sf.randn(128, 16, dtype=sf.float64)
    c = sf.randn(16, 16, dtype=sf.float64)
    batched = vmap(jacrev(lambda z: sf.sin(c @ z)))(batch)
    print(f"batched Jacobians: vmap(jacrev) over {batch.shape[0]} inputs -> {batched.shape}")
    check("vmap(jacrev) vs a loop", max(max_diff(batched[i], jacfwd(lambda z: sf.sin(c @ z))(batch[i]))
                                        for i in range(0, 128, 17)), 1e-12)

    torch = torch_func()
    if torch is not None:
        ta, tb = to_torch(torch, a), to_torch(torch, b)
        check("jacrev vs torch.func", max_diff(reverse, torch.func.jacrev(lambda x: torch.sin(ta @ x))(
            to_torch(torch, x)).numpy()), 1e-12)
        check("hessian vs torch.func", max_diff(h, torch.func.hessian(lambda y: torch.tanh(tb @ y).sum())(
            to_torch(torch, y)).numpy()), 1e-12)


if __name__ == "__main__":
    main()
