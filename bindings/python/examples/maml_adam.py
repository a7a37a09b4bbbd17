"""MAML training on sine-wave regression, as functorch's maml_regression example writes it, ported to
swiftfunc: the inner step is swiftfunc.func.grad over functional_call, vmap maps it over a batch of tasks,
and the outer step is swiftfunc.optim.Adam over the module's parameters. The same training then runs
as one jitted step with the functional optimizer (swiftfunc.optim.functional.adam).

The one line that changes is the outer `loss.backward()` (swiftfunc has no tape): the meta-gradient is
swiftfunc.func.grad of the whole outer loss, and swiftfunc.optim.assign_grads puts it where backward()
would have (each parameter's .grad). When torch is installed, the same program runs in torch (with
loss.backward(), from the same initial parameters, on the same tasks) and the losses must agree.

    python maml_adam.py [--steps N]        (default 300; the test suite runs a few dozen)
"""
import argparse
import math

import numpy as np

from _common import check, sf, torch_func, values

import swiftfunc.nn.functional as F
from swiftfunc.func import functional_call, grad, vmap

TASKS, K, INNER_LR, OUTER_LR = 5, 5, 1e-1, 1e-3  # functorch's maml_regression settings


def sample_tasks(rng, outer_batch_size, inner_batch_size):
    """functorch's sampler: per task an amplitude in [0.1, 0.5] and a phase in [0, pi]; support (x1, y1)
    and query (x2, y2) points uniform in [-5, 5]. numpy arrays, so that both programs get the same data."""
    amplitudes = rng.uniform(0.1, 0.5, size=(outer_batch_size, 1, 1))
    phases = rng.uniform(0.0, np.pi, size=(outer_batch_size, 1, 1))

    def get_batch():
        x = rng.uniform(-5.0, 5.0, size=(outer_batch_size, inner_batch_size, 1))
        return x.astype(np.float32), (amplitudes * np.sin(x + phases)).astype(np.float32)

    return (*get_batch(), *get_batch())


def make_net():
    return sf.nn.Sequential(sf.nn.Linear(1, 40), sf.nn.ReLU(), sf.nn.Linear(40, 40), sf.nn.ReLU(), sf.nn.Linear(40, 1))


def make_outer_loss(net):
    def inner_loss(params, x1, y1):
        return F.mse_loss(functional_call(net, params, (x1,)), y1)

    def inner_loop(params, x1, y1, x2, y2):
        grads = grad(inner_loss)(params, x1, y1)
        adapted = {k: params[k] - INNER_LR * grads[k] for k in params}
        return F.mse_loss(functional_call(net, adapted, (x2,)), y2)

    def outer_loss(params, *task):
        return vmap(inner_loop, in_dims=(None, 0, 0, 0, 0))(params, *task).mean()

    return outer_loss


def swiftfunc_training(net, batches):
    """The port: torch's training loop with swiftfunc.optim.Adam; returns the outer loss of each step."""
    opt = sf.optim.Adam(net.parameters(), lr=OUTER_LR)
    outer_loss = make_outer_loss(net)
    losses = []
    for task in batches:
        task = [sf.tensor(a) for a in task]
        params = dict(net.named_parameters())
        # torch: loss2 = outer_loss(...); loss2.backward()
        grads, loss = sf.func.grad_and_value(outer_loss)(params, *task)
        sf.optim.assign_grads(net, grads)
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    return losses


def jitted_training(net, batches):
    """The same training as one staged step: swiftfunc.optim.functional.adam (pure init/update) inside
    swiftfunc.func.jit, traced once and replayed."""
    opt = sf.optim.functional.adam(lr=OUTER_LR)
    outer_loss = make_outer_loss(net)

    @sf.func.jit
    def train_step(params, state, *task):
        grads, loss = sf.func.grad_and_value(outer_loss)(params, *task)
        params, state = opt.update(params, grads, state)
        return params, state, loss

    params = {k: p.detach() for k, p in net.named_parameters()}
    state = opt.init(params)
    losses = []
    for task in batches:
        params, state, loss = train_step(params, state, *(sf.tensor(a) for a in task))
        losses.append(loss.item())
    return losses, train_step.trace_count()


def torch_training(torch, state, batches):
    """functorch's program, unchanged but for the shared initial state and data."""
    from torch.func import functional_call as tfunctional_call
    from torch.func import grad as tgrad
    from torch.func import vmap as tvmap

    nn = torch.nn
    net = nn.Sequential(nn.Linear(1, 40), nn.ReLU(), nn.Linear(40, 40), nn.ReLU(), nn.Linear(40, 1))
    net.load_state_dict({k: torch.tensor(values(t)) for k, t in state.items()})
    opt = torch.optim.Adam(net.parameters(), lr=OUTER_LR)
    params = dict(net.named_parameters())

    def inner_loss(params, x1, y1):
        return torch.nn.functional.mse_loss(tfunctional_call(net, params, x1), y1)

    def inner_loop(x1, y1, x2, y2):
        grads = tgrad(inner_loss)(params, x1, y1)
        new_params = {k: params[k] - INNER_LR * grads[k] for k in params}
        return torch.nn.functional.mse_loss(tfunctional_call(net, new_params, x2), y2)

    losses = []
    for task in batches:
        inner_losses = tvmap(inner_loop)(*(torch.tensor(a) for a in task))
        loss2 = torch.mean(inner_losses)
        loss2.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss2.item())
    return losses


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    steps = parser.parse_args().steps
    sf.manual_seed(0)
    net = make_net()
    initial = net.state_dict()  # snapshots: the optimizer's updates do not change them
    rng = np.random.default_rng(0)
    batches = [sample_tasks(rng, TASKS, K) for _ in range(steps)]
    print(f"MAML on sine regression with Adam: {TASKS} tasks x {K} shots, 1-40-40-1 MLP, {steps} outer steps")

    losses = swiftfunc_training(net, batches)
    window = max(1, steps // 10)
    for i in range(0, steps, max(1, steps // 6)):
        print(f"  step {i:4d}: outer loss {np.mean(losses[i:i + window]):.4f} (mean of {window} steps)")
    first, last = np.mean(losses[:window]), np.mean(losses[-window:])
    print(f"  outer loss {first:.4f} -> {last:.4f}")
    if not last < 0.9 * first:
        raise SystemExit(f"maml_adam.py: the outer loss did not decrease ({first:.4f} -> {last:.4f})")
    print("  outer loss decreases: ok")

    net = make_net()
    net.load_state_dict(initial)
    jitted, traces = jitted_training(net, batches)
    check(f"jit(train step with optim.functional.adam) vs optim.Adam, relative ({traces} trace)", max(
        abs(a - b) / abs(b) for a, b in zip(jitted, losses)), 1e-6)

    torch = torch_func()
    if torch is not None:
        reference = torch_training(torch, initial, batches)
        # float32 programs with different summation orders (5e-7 apart over 300 steps)
        check("outer losses vs torch (same init, same tasks), relative", max(
            abs(a - b) / abs(b) for a, b in zip(losses, reference)), 1e-4)
        if not all(math.isfinite(x) for x in reference):
            raise SystemExit("maml_adam.py: torch's losses are not finite")


if __name__ == "__main__":
    main()
