"""MAML on sine regression (functorch's maml_regression example): the meta-gradient differentiates
through an inner gradient step (grad of a function that calls grad) and is mapped over a batch of tasks
with vmap. Checked against central differences of the meta-loss and a loop over tasks (and torch.func
when installed), then used for a few meta-training steps that must lower the held-out meta-loss."""
import math

import numpy as np

from _common import check, max_diff, seconds, sf, to_torch, torch_func, values

import swiftfunc.nn.functional as F
from swiftfunc.func import grad, grad_and_value, vmap

H, K, TASKS, INNER_LR, OUTER_LR = 40, 10, 8, 0.1, 0.01


def init_params(dtype):
    sf.manual_seed(0)
    model = sf.nn.Sequential(sf.nn.Linear(1, H), sf.nn.ReLU(), sf.nn.Linear(H, H), sf.nn.ReLU(), sf.nn.Linear(H, 1))
    return {k: p.detach().to(dtype) for k, p in model.named_parameters()}


def net(params, x):
    h = sf.relu(F.linear(x, params["0.weight"], params["0.bias"]))
    h = sf.relu(F.linear(h, params["2.weight"], params["2.bias"]))
    return F.linear(h, params["4.weight"], params["4.bias"])


def loss(params, x, y):
    return F.mse_loss(net(params, x), y)


def meta_loss(params, x_support, y_support, x_query, y_query):
    """The query loss after one SGD step on the support set (second order: grad inside grad)."""
    grads = grad(loss)(params, x_support, y_support)
    adapted = {k: params[k] - INNER_LR * grads[k] for k in params}
    return loss(adapted, x_query, y_query)


def sample_tasks(rng, n, dtype):
    amplitude = rng.uniform(0.1, 5.0, (n, 1, 1))
    phase = rng.uniform(0, math.pi, (n, 1, 1))
    xs = rng.uniform(-5, 5, (n, 2 * K, 1))
    ys = amplitude * np.sin(xs + phase)
    t = lambda a: sf.tensor(a, dtype=dtype)  # noqa: E731
    return t(xs[:, :K]), t(ys[:, :K]), t(xs[:, K:]), t(ys[:, K:])


def main():
    rng = np.random.default_rng(0)
    params = init_params(sf.float64)
    tasks = sample_tasks(rng, TASKS, sf.float64)

    def batch_meta_loss(params, *tasks):
        return vmap(meta_loss, in_dims=(None, 0, 0, 0, 0))(params, *tasks).mean()

    meta_grad = grad(batch_meta_loss)(params, *tasks)
    per_task = [grad(meta_loss)(params, *(t[i] for t in tasks)) for i in range(TASKS)]
    looped = {k: sum(values(g[k]) for g in per_task) / TASKS for k in params}
    print(f"MAML on sine regression: {TASKS} tasks, {K}-shot, 1-{H}-{H}-1 MLP, one inner step")
    check("grad(vmap(meta_loss)) vs a loop over tasks", max(max_diff(meta_grad[k], looped[k]) for k in params), 1e-12)

    eps = 1e-6
    for name, index in [("4.bias", (0,)), ("2.weight", (3, 5)), ("0.weight", (7, 0))]:
        bumped = []
        for sign in (1, -1):
            array = values(params[name]).copy()
            array[index] += sign * eps
            bumped.append(batch_meta_loss({**params, name: sf.tensor(array, dtype=sf.float64)}, *tasks).item())
        numeric = (bumped[0] - bumped[1]) / (2 * eps)
        check(f"meta-gradient d/d {name}{list(index)} vs central differences",
              abs(values(meta_grad[name])[index] - numeric), 1e-6)

    torch = torch_func()
    if torch is not None:
        tparams = {k: to_torch(torch, p) for k, p in params.items()}

        def tnet(p, x):
            h = torch.relu(torch.nn.functional.linear(x, p["0.weight"], p["0.bias"]))
            h = torch.relu(torch.nn.functional.linear(h, p["2.weight"], p["2.bias"]))
            return torch.nn.functional.linear(h, p["4.weight"], p["4.bias"])

        def tloss(p, x, y):
            return torch.nn.functional.mse_loss(tnet(p, x), y)

        def tmeta(p, xs, ys, xq, yq):
            g = torch.func.grad(tloss)(p, xs, ys)
            return tloss({k: p[k] - INNER_LR * g[k] for k in p}, xq, yq)

        reference = torch.func.grad(lambda p, *t: torch.func.vmap(tmeta, in_dims=(None, 0, 0, 0, 0))(p, *t).mean())(
            tparams, *(to_torch(torch, t) for t in tasks))
        check("meta-gradient vs torch.func", max(max_diff(meta_grad[k], reference[k].numpy()) for k in params), 1e-12)

    # meta-training with Adam (float32), evaluated on held-out tasks
    params = init_params(sf.float32)
    held_out = sample_tasks(np.random.default_rng(99), 32, sf.float32)
    step = grad_and_value(batch_meta_loss)
    m = {k: sf.zeros_like(p) for k, p in params.items()}
    s = {k: sf.zeros_like(p) for k, p in params.items()}
    before = batch_meta_loss(params, *held_out).item()
    steps = 150
    _, t_step = seconds(step, params, *sample_tasks(rng, TASKS, sf.float32))
    for i in range(1, steps + 1):
        grads, _ = step(params, *sample_tasks(rng, TASKS, sf.float32))
        for k in params:
            m[k] = 0.9 * m[k] + 0.1 * grads[k]
            s[k] = 0.999 * s[k] + 0.001 * grads[k] * grads[k]
            update = (m[k] / (1 - 0.9 ** i)) / (sf.sqrt(s[k] / (1 - 0.999 ** i)) + 1e-8)
            params[k] = params[k] - OUTER_LR * update
    after = batch_meta_loss(params, *held_out).item()
    print(f"  meta-training: {steps} Adam steps ({1e3 * t_step:.1f} ms each); held-out meta-loss "
          f"{before:.3f} -> {after:.3f}")
    if not after < 0.7 * before:
        raise SystemExit(f"maml.py: meta-training did not lower the held-out loss enough ({before} -> {after})")


if __name__ == "__main__":
    main()
