"""Gaussian-process regression: the hyperparameters of an RBF kernel (length scale, signal and noise
variance) fit by gradient descent on the negative log marginal likelihood

    ½ yᵀ K⁻¹ y + ½ log det K + ½ n log 2π,    K = s² exp(-|xᵢ - xⱼ|² / 2ℓ²) + σ² I,

with K⁻¹ y from swiftfunc.linalg.cholesky and cholesky_solve and log det K from swiftfunc.logdet, the
gradient from swiftfunc.func.grad. Checked against central differences and, when torch is installed,
against torch.autograd on the same steps."""
import math

import numpy as np
from _common import check, sf, torch_func

from swiftfunc.func import grad

N, STEPS, LEARNING_RATE = 40, 300, 0.05


def negative_log_likelihood(lib, linalg, theta, x, y):
    """The GP objective written once for swiftfunc and torch (`lib` is the module)."""
    length, signal, noise = lib.exp(theta[0]), lib.exp(theta[1]), lib.exp(theta[2])
    distance = (x[:, None] - x[None, :]) ** 2
    k = signal * lib.exp(-distance / (2 * length * length)) + noise * lib.eye(x.shape[0], dtype=x.dtype)
    factor = linalg.cholesky(k)
    alpha = lib.cholesky_solve(y[:, None], factor)
    return 0.5 * (y[:, None] * alpha).sum() + 0.5 * lib.logdet(k) + 0.5 * x.shape[0] * math.log(2 * math.pi)


def adam(gradient_of, theta, steps):
    """Adam on numpy parameters; returns the parameters and the objective's trace."""
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    for step in range(1, steps + 1):
        g = gradient_of(theta)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        theta = theta - LEARNING_RATE * (m / (1 - 0.9 ** step)) / (np.sqrt(v / (1 - 0.999 ** step)) + 1e-8)
    return theta


def main():
    rng = np.random.default_rng(0)
    xs = np.sort(rng.uniform(-3, 3, N))
    ys = np.sin(2 * xs) + 0.1 * rng.standard_normal(N)
    x, y = sf.tensor(xs, dtype=sf.float64), sf.tensor(ys, dtype=sf.float64)

    def objective(theta):
        return negative_log_likelihood(sf, sf.linalg, theta, x, y)

    gradient = grad(objective)
    start = np.array([0.0, 0.0, -1.0])  # log ℓ, log s², log σ²
    print(f"GP marginal likelihood on {N} points of sin(2x) + noise (float64)")

    # The gradient against central differences at the start.
    def value(theta):
        return objective(sf.tensor(theta, dtype=sf.float64)).item()

    g0 = gradient(sf.tensor(start, dtype=sf.float64)).numpy()
    h = 1e-6
    numeric = np.array([(value(start + h * e) - value(start - h * e)) / (2 * h) for e in np.eye(3)])
    check("gradient vs central differences", float(np.max(np.abs(g0 - numeric))), 1e-5)

    theta = adam(lambda t: gradient(sf.tensor(t, dtype=sf.float64)).numpy(), start, STEPS)
    final_g = gradient(sf.tensor(theta, dtype=sf.float64)).numpy()
    length, signal, noise = np.exp(theta)
    print(f"  negative log likelihood: {value(start):.4f} at the start, {value(theta):.4f} after {STEPS} Adam steps")
    print(f"  fitted length scale {length:.3f}, signal variance {signal:.3f}, noise variance {noise:.4f} "
          f"(the data's noise variance is 0.01)")
    check("objective decrease short of 5", max(0.0, value(theta) - value(start) + 5), 0)
    check("gradient at the fit", float(np.max(np.abs(final_g))), 1e-3)

    torch = torch_func()
    if torch is not None:
        tx, ty = torch.tensor(xs), torch.tensor(ys)

        def torch_gradient(t):
            tt = torch.tensor(t, requires_grad=True)
            negative_log_likelihood(torch, torch.linalg, tt, tx, ty).backward()
            return tt.grad.numpy()

        check("gradient vs torch at the start", float(np.max(np.abs(torch_gradient(start) - g0))), 1e-9)
        torch_theta = adam(torch_gradient, start, STEPS)
        check("fitted hyperparameters vs torch", float(np.max(np.abs(torch_theta - theta))), 1e-6)


if __name__ == "__main__":
    main()
