"""The torch.func workloads through the swiftfunc Python package and, when they are installed, torch.func
and JAX (eager and jit), side by side in one run: each time (median of repeated calls after a warm-up)
and its ratio to torch.func (< 1: faster than torch.func). Each framework is timed in its own
subprocess, because the thread pools of one (XLA's spin after work) would slow down the next; the parent
process first checks that all frameworks compute the same results.

Workloads: per-sample gradients of a 784-128-10 MLP (batch 64); jacrev and jacfwd of sin(A x) (n=64);
hessian of sum(tanh(A x)) (n=32); vmap(jacrev) over a batch of 128 (n=16); an ensemble of 8 MLPs by vmap;
grad of a chain of 100 elementwise ops on 16 floats; grad of sum(A @ B) for 512 x 512; issue 10's jacrev of
tanh(W x + b) from 32 to 2048 and jacfwd from 2048 to 32; and three torch.func
tutorials at their sizes, written as the tutorials write them (nn.Module, functional_call, stack_module_state;
plain functions in JAX): per-sample gradients of the MNIST CNN (batch 64), the empirical NTK of the CIFAR CNN
by Jacobian contraction (20 x 5 images), an ensemble of 10 MLPs each on its own minibatch. All float32.

    python bench/bench_python.py [--quick] [--markdown docs/benchmarks-python.md]
    python bench/bench_python.py --memory    # peak resident memory per workload instead of times
"""
import argparse
import math
import os
import platform
import statistics
import subprocess
import sys
import time

import warnings

import numpy as np

warnings.filterwarnings("ignore", category=FutureWarning)  # torch's import-time deprecation notices
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))

import swiftfunc as sf  # noqa: E402
import swiftfunc.nn as snn  # noqa: E402
import swiftfunc.nn.functional as F  # noqa: E402
from swiftfunc import func as sff  # noqa: E402


def optional(name):
    try:
        return __import__(name)
    except Exception:  # noqa: BLE001
        return None


def _measuring():
    """The framework this process times (--measure NAME), or None in the parent."""
    if "--measure" in sys.argv:
        return sys.argv[sys.argv.index("--measure") + 1]
    return None


_ONLY = _measuring()
torch = optional("torch") if _ONLY in (None, "torch.func") else None
jax = optional("jax") if _ONLY in (None, "jax", "jax.jit") else None
if torch is not None:
    import torch.func  # noqa: E402,F401
if jax is not None:
    import jax.numpy as jnp  # noqa: E402

    jax.config.update("jax_platforms", "cpu")


def measure(fn, budget):
    """Median seconds per call: one warm-up call (it may compile or learn structures), then repeated calls
    until `budget` seconds have passed (at least 5)."""
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < 5 or time.perf_counter() - start < budget:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= 10000:
            break
    return statistics.median(times)


def data(seed, *shape):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# -------------------------------------------------------------------------------------------------
# Workloads: each returns {framework: zero-argument callable computing the result}
# -------------------------------------------------------------------------------------------------

D, H, C, N = 784, 128, 10, 64


def mlp_params(seed):
    return {"w1": data(seed, H, D) * 0.05, "b1": data(seed + 1, H) * 0.05, "w2": data(seed + 2, C, H) * 0.1,
            "b2": data(seed + 3, C) * 0.1}


def per_sample_grads():
    params, x = mlp_params(0), data(9, N, D)
    y = np.random.default_rng(10).integers(0, C, N)
    runs = {}
    sp = {k: sf.tensor(v) for k, v in params.items()}
    sx, sy = sf.tensor(x), sf.tensor(y)

    def sloss(p, x, y):
        h = sf.relu(F.linear(x, p["w1"], p["b1"]))
        return F.cross_entropy(F.linear(h, p["w2"], p["b2"]), y)

    s_fn = sff.vmap(sff.grad(sloss), in_dims=(None, 0, 0))
    runs["swiftfunc"] = lambda: s_fn(sp, sx, sy)
    sj_fn = sff.jit(s_fn)
    runs["swiftfunc.jit"] = lambda: sj_fn(sp, sx, sy)
    if torch is not None:
        tp = {k: torch.tensor(v) for k, v in params.items()}
        tx, ty = torch.tensor(x), torch.tensor(y)

        def tloss(p, x, y):
            h = torch.relu(torch.nn.functional.linear(x, p["w1"], p["b1"]))
            return torch.nn.functional.cross_entropy(torch.nn.functional.linear(h, p["w2"], p["b2"]), y)

        t_fn = torch.func.vmap(torch.func.grad(tloss), in_dims=(None, 0, 0))
        runs["torch.func"] = lambda: t_fn(tp, tx, ty)
    if jax is not None:
        jp = {k: jnp.asarray(v) for k, v in params.items()}
        jx, jy = jnp.asarray(x), jnp.asarray(y)

        def jloss(p, x, y):
            h = jax.nn.relu(p["w1"] @ x + p["b1"])
            logits = p["w2"] @ h + p["b2"]
            return -jax.nn.log_softmax(logits)[y]

        j_fn = jax.vmap(jax.grad(jloss), in_axes=(None, 0, 0))
        jit_fn = jax.jit(j_fn)
        runs["jax"] = lambda: jax.block_until_ready(j_fn(jp, jx, jy))
        runs["jax.jit"] = lambda: jax.block_until_ready(jit_fn(jp, jx, jy))
    return runs


def jacobian(mode):
    def workload():
        n = 64
        a, x = data(1, n, n) / n ** 0.5, data(2, n)
        sa, sx = sf.tensor(a), sf.tensor(x)
        s_fn = (sff.jacrev if mode == "rev" else sff.jacfwd)(lambda x: sf.sin(sa @ x))
        runs = {"swiftfunc": lambda: s_fn(sx)}
        sj_fn = sff.jit(s_fn)
        runs["swiftfunc.jit"] = lambda: sj_fn(sx)
        if torch is not None:
            ta, tx = torch.tensor(a), torch.tensor(x)
            t_fn = (torch.func.jacrev if mode == "rev" else torch.func.jacfwd)(lambda x: torch.sin(ta @ x))
            runs["torch.func"] = lambda: t_fn(tx)
        if jax is not None:
            ja, jx = jnp.asarray(a), jnp.asarray(x)
            j_fn = (jax.jacrev if mode == "rev" else jax.jacfwd)(lambda x: jnp.sin(ja @ x))
            jit_fn = jax.jit(j_fn)
            runs["jax"] = lambda: jax.block_until_ready(j_fn(jx))
            runs["jax.jit"] = lambda: jax.block_until_ready(jit_fn(jx))
        return runs

    return workload


def affine_jacobian(mode, n_in, n_out):
    """Issue 10's Jacobians of tanh(W x + b) with respect to x: jacrev from 32 to 2048 outputs (2048 VJPs
    batched by vmap), jacfwd from 2048 inputs to 32 (2048 JVPs)."""
    def workload():
        w, x, b = data(3, n_out, n_in) / n_in ** 0.5, data(4, n_in), data(5, n_out) * 0.1
        sw, sx, sb = sf.tensor(w), sf.tensor(x), sf.tensor(b)
        s_fn = (sff.jacrev if mode == "rev" else sff.jacfwd)(lambda x: sf.tanh(sw @ x + sb))
        runs = {"swiftfunc": lambda: s_fn(sx)}
        sj_fn = sff.jit(s_fn)
        runs["swiftfunc.jit"] = lambda: sj_fn(sx)
        if torch is not None:
            tw, tx, tb = torch.tensor(w), torch.tensor(x), torch.tensor(b)
            t_fn = (torch.func.jacrev if mode == "rev" else torch.func.jacfwd)(lambda x: torch.tanh(tw @ x + tb))
            runs["torch.func"] = lambda: t_fn(tx)
        if jax is not None:
            jw, jx, jb = jnp.asarray(w), jnp.asarray(x), jnp.asarray(b)
            j_fn = (jax.jacrev if mode == "rev" else jax.jacfwd)(lambda x: jnp.tanh(jw @ x + jb))
            jit_fn = jax.jit(j_fn)
            runs["jax"] = lambda: jax.block_until_ready(j_fn(jx))
            runs["jax.jit"] = lambda: jax.block_until_ready(jit_fn(jx))
        return runs

    return workload


def hessian():
    n = 32
    a, x = data(3, n, n) / n ** 0.5, data(4, n)
    sa, sx = sf.tensor(a), sf.tensor(x)
    s_fn = sff.hessian(lambda x: sf.tanh(sa @ x).sum())
    runs = {"swiftfunc": lambda: s_fn(sx)}
    sj_fn = sff.jit(s_fn)
    runs["swiftfunc.jit"] = lambda: sj_fn(sx)
    if torch is not None:
        ta, tx = torch.tensor(a), torch.tensor(x)
        t_fn = torch.func.hessian(lambda x: torch.tanh(ta @ x).sum())
        runs["torch.func"] = lambda: t_fn(tx)
    if jax is not None:
        ja, jx = jnp.asarray(a), jnp.asarray(x)
        j_fn = jax.hessian(lambda x: jnp.tanh(ja @ x).sum())
        jit_fn = jax.jit(j_fn)
        runs["jax"] = lambda: jax.block_until_ready(j_fn(jx))
        runs["jax.jit"] = lambda: jax.block_until_ready(jit_fn(jx))
    return runs


def batched_jacobians():
    n, b = 16, 128
    a, x = data(5, n, n) / n ** 0.5, data(6, b, n)
    sa, sx = sf.tensor(a), sf.tensor(x)
    s_fn = sff.vmap(sff.jacrev(lambda x: sf.sin(sa @ x)))
    runs = {"swiftfunc": lambda: s_fn(sx)}
    sj_fn = sff.jit(s_fn)
    runs["swiftfunc.jit"] = lambda: sj_fn(sx)
    if torch is not None:
        ta, tx = torch.tensor(a), torch.tensor(x)
        t_fn = torch.func.vmap(torch.func.jacrev(lambda x: torch.sin(ta @ x)))
        runs["torch.func"] = lambda: t_fn(tx)
    if jax is not None:
        ja, jx = jnp.asarray(a), jnp.asarray(x)
        j_fn = jax.vmap(jax.jacrev(lambda x: jnp.sin(ja @ x)))
        jit_fn = jax.jit(j_fn)
        runs["jax"] = lambda: jax.block_until_ready(j_fn(jx))
        runs["jax.jit"] = lambda: jax.block_until_ready(jit_fn(jx))
    return runs


def ensemble():
    m = 8
    stacked = {k: np.stack([mlp_params(10 * i)[k] for i in range(m)]) for k in ("w1", "b1", "w2", "b2")}
    x = data(7, N, D)
    sp = {k: sf.tensor(v) for k, v in stacked.items()}
    sx = sf.tensor(x)

    def smodel(p, x):
        return F.linear(sf.relu(F.linear(x, p["w1"], p["b1"])), p["w2"], p["b2"])

    s_fn = sff.vmap(smodel, in_dims=(0, None))
    runs = {"swiftfunc": lambda: s_fn(sp, sx)}
    sj_fn = sff.jit(s_fn)
    runs["swiftfunc.jit"] = lambda: sj_fn(sp, sx)
    if torch is not None:
        tp = {k: torch.tensor(v) for k, v in stacked.items()}
        tx = torch.tensor(x)

        def tmodel(p, x):
            lin = torch.nn.functional.linear
            return lin(torch.relu(lin(x, p["w1"], p["b1"])), p["w2"], p["b2"])

        t_fn = torch.func.vmap(tmodel, in_dims=(0, None))
        runs["torch.func"] = lambda: t_fn(tp, tx)
    if jax is not None:
        jp = {k: jnp.asarray(v) for k, v in stacked.items()}
        jx = jnp.asarray(x)

        def jmodel(p, x):
            return jax.nn.relu(x @ p["w1"].T + p["b1"]) @ p["w2"].T + p["b2"]

        j_fn = jax.vmap(jmodel, in_axes=(0, None))
        jit_fn = jax.jit(j_fn)
        runs["jax"] = lambda: jax.block_until_ready(j_fn(jp, jx))
        runs["jax.jit"] = lambda: jax.block_until_ready(jit_fn(jp, jx))
    return runs


def chain(ops_sin, ops_tanh):
    def f(x):
        for i in range(25):
            x = ops_sin(x)
            x = x * 1.01
            x = ops_tanh(x)
            x = x + 0.1
        return x.sum()

    return f


def elementwise_chain():
    x = data(8, 16)
    s_fn = sff.grad(chain(sf.sin, sf.tanh))
    sx = sf.tensor(x)
    runs = {"swiftfunc": lambda: s_fn(sx)}
    sj_fn = sff.jit(s_fn)
    runs["swiftfunc.jit"] = lambda: sj_fn(sx)
    if torch is not None:
        t_fn = torch.func.grad(chain(torch.sin, torch.tanh))
        tx = torch.tensor(x)
        runs["torch.func"] = lambda: t_fn(tx)
    if jax is not None:
        j_fn = jax.grad(chain(jnp.sin, jnp.tanh))
        jit_fn = jax.jit(j_fn)
        jx = jnp.asarray(x)
        runs["jax"] = lambda: jax.block_until_ready(j_fn(jx))
        runs["jax.jit"] = lambda: jax.block_until_ready(jit_fn(jx))
    return runs


def matmul_grad():
    n = 512
    a, b = data(11, n, n), data(12, n, n)
    sa, sb = sf.tensor(a), sf.tensor(b)
    s_fn = sff.grad(lambda a, b: (a @ b).sum(), argnums=(0, 1))
    runs = {"swiftfunc": lambda: s_fn(sa, sb)}
    sj_fn = sff.jit(s_fn)
    runs["swiftfunc.jit"] = lambda: sj_fn(sa, sb)
    if torch is not None:
        ta, tb = torch.tensor(a), torch.tensor(b)
        t_fn = torch.func.grad(lambda a, b: (a @ b).sum(), argnums=(0, 1))
        runs["torch.func"] = lambda: t_fn(ta, tb)
    if jax is not None:
        ja, jb = jnp.asarray(a), jnp.asarray(b)
        j_fn = jax.grad(lambda a, b: (a @ b).sum(), argnums=(0, 1))
        jit_fn = jax.jit(j_fn)
        runs["jax"] = lambda: jax.block_until_ready(j_fn(ja, jb))
        runs["jax.jit"] = lambda: jax.block_until_ready(jit_fn(ja, jb))
    return runs


# The torch.func tutorials' models at their sizes. One definition serves torch.nn and swiftfunc.nn (it is
# torch-shaped); JAX gets the same networks as plain functions of a dict with the same parameter names.


def tutorial_models(nn):
    """(SimpleCNN of the per-sample-grads tutorial, CNN of the neural-tangent-kernels tutorial, SimpleMLP of
    the model-ensembling tutorial) built from `nn` (torch.nn or swiftfunc.nn)."""
    F = nn.functional

    class SimpleCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(1, 32, 3, 1), nn.Conv2d(32, 64, 3, 1)
            self.fc1, self.fc2 = nn.Linear(9216, 128), nn.Linear(128, 10)

        def forward(self, x):
            x = F.relu(self.conv2(F.relu(self.conv1(x))))
            x = F.max_pool2d(x, 2).flatten(1)
            return self.fc2(F.relu(self.fc1(x)))

    class CNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 32, (3, 3))
            self.conv2, self.conv3 = nn.Conv2d(32, 32, (3, 3)), nn.Conv2d(32, 32, (3, 3))
            self.fc = nn.Linear(21632, 10)

        def forward(self, x):
            x = self.conv3(self.conv2(self.conv1(x).relu()).relu())
            return self.fc(x.flatten(1))

    class SimpleMLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2, self.fc3 = nn.Linear(784, 128), nn.Linear(128, 128), nn.Linear(128, 10)

        def forward(self, x):
            x = F.relu(self.fc2(F.relu(self.fc1(x.flatten(1)))))
            return self.fc3(x)

    return SimpleCNN, CNN, SimpleMLP


def layer_params(seed, **shapes):
    """{name.weight, name.bias} for each layer's weight shape, scaled like torch's default init (1/sqrt(fan_in))."""
    params = {}
    for i, (name, shape) in enumerate(shapes.items()):
        scale = 1 / math.prod(shape[1:]) ** 0.5  # a Python float: the weights stay float32
        params[f"{name}.weight"] = data(seed + 2 * i, *shape) * scale
        params[f"{name}.bias"] = data(seed + 2 * i + 1, shape[0]) * scale
    return params


def loaded(model_class, params, ops):
    model = model_class()
    model.load_state_dict({k: ops.tensor(v) for k, v in params.items()})
    return model


def add_torch_shaped(runs, make):
    """runs["swiftfunc"], ["swiftfunc.jit"] and (when installed) ["torch.func"] from make(ops, nn, func): the
    tutorial's code, the same for both torch-shaped frameworks (ops: swiftfunc or torch), returning (fn, args)."""
    fn, args = make(sf, snn, sff)
    jit_fn = sff.jit(fn)
    runs["swiftfunc"] = lambda: fn(*args)
    runs["swiftfunc.jit"] = lambda: jit_fn(*args)
    if torch is not None:
        t_fn, t_args = make(torch, torch.nn, torch.func)
        runs["torch.func"] = lambda: t_fn(*t_args)


def add_jax(runs, j_fn, *args):
    jit_fn = jax.jit(j_fn)
    runs["jax"] = lambda: jax.block_until_ready(j_fn(*args))
    runs["jax.jit"] = lambda: jax.block_until_ready(jit_fn(*args))


def jax_conv(x, p, name):
    """torch's conv2d (stride 1, no padding, NCHW/OIHW) of layer `name` in JAX."""
    dims = ("NCHW", "OIHW", "NCHW")
    out = jax.lax.conv_general_dilated(x, p[f"{name}.weight"], (1, 1), "VALID", dimension_numbers=dims)
    return out + p[f"{name}.bias"][None, :, None, None]


def jax_linear(x, p, name):
    return x @ p[f"{name}.weight"].T + p[f"{name}.bias"]


def cnn_per_sample_grads():
    """The per-sample-grads tutorial: vmap(grad(compute_loss)) of its MNIST CNN over a batch of 64."""
    params = layer_params(20, conv1=(32, 1, 3, 3), conv2=(64, 32, 3, 3), fc1=(128, 9216), fc2=(10, 128))
    x, y = data(21, 64, 1, 28, 28), np.random.default_rng(22).integers(0, 10, 64)
    runs = {}

    def make(ops, nn, func):
        model = loaded(tutorial_models(nn)[0], params, ops)

        def compute_loss(p, sample, target):
            predictions = func.functional_call(model, p, (sample.unsqueeze(0),))
            return nn.functional.cross_entropy(predictions, target.unsqueeze(0))

        p = {k: v.detach() for k, v in model.named_parameters()}
        return func.vmap(func.grad(compute_loss), in_dims=(None, 0, 0)), (p, ops.tensor(x), ops.tensor(y))

    add_torch_shaped(runs, make)
    if jax is not None:
        def loss(p, sample, target):
            h = jax.nn.relu(jax_conv(jax.nn.relu(jax_conv(sample[None], p, "conv1")), p, "conv2"))
            h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID").reshape(1, -1)
            logits = jax_linear(jax.nn.relu(jax_linear(h, p, "fc1")), p, "fc2")
            return -jax.nn.log_softmax(logits[0])[target]

        add_jax(runs, jax.vmap(jax.grad(loss), in_axes=(None, 0, 0)),
                {k: jnp.asarray(v) for k, v in params.items()}, jnp.asarray(x), jnp.asarray(y))
    return runs


def ntk():
    """The neural-tangent-kernels tutorial's empirical_ntk_jacobian_contraction of its CNN, 20 x 5 images."""
    params = layer_params(30, conv1=(32, 3, 3, 3), conv2=(32, 32, 3, 3), conv3=(32, 32, 3, 3), fc=(10, 21632))
    x1, x2 = data(31, 20, 3, 32, 32), data(32, 5, 3, 32, 32)
    runs = {}

    def make(ops, nn, func):
        model = loaded(tutorial_models(nn)[1], params, ops)

        def fnet_single(p, x):
            return func.functional_call(model, p, (x.unsqueeze(0),)).squeeze(0)

        def empirical_ntk_jacobian_contraction(p, x1, x2):
            jac1 = [j.flatten(2) for j in func.vmap(func.jacrev(fnet_single), (None, 0))(p, x1).values()]
            jac2 = [j.flatten(2) for j in func.vmap(func.jacrev(fnet_single), (None, 0))(p, x2).values()]
            return ops.stack([ops.einsum("Naf,Mbf->NMab", j1, j2) for j1, j2 in zip(jac1, jac2)]).sum(0)

        p = {k: v.detach() for k, v in model.named_parameters()}
        return empirical_ntk_jacobian_contraction, (p, ops.tensor(x1), ops.tensor(x2))

    add_torch_shaped(runs, make)
    if jax is not None:
        def fnet_single(p, x):
            h = jax.nn.relu(jax_conv(jax.nn.relu(jax_conv(x[None], p, "conv1")), p, "conv2"))
            return jax_linear(jax_conv(h, p, "conv3").reshape(1, -1), p, "fc")[0]

        def empirical_ntk(p, x1, x2):
            jac1 = jax.tree_util.tree_leaves(jax.vmap(jax.jacrev(fnet_single), (None, 0))(p, x1))
            jac2 = jax.tree_util.tree_leaves(jax.vmap(jax.jacrev(fnet_single), (None, 0))(p, x2))
            return sum(jnp.einsum("Naf,Mbf->NMab", j1.reshape(j1.shape[:2] + (-1,)), j2.reshape(j2.shape[:2] + (-1,)))
                       for j1, j2 in zip(jac1, jac2))

        add_jax(runs, empirical_ntk, {k: jnp.asarray(v) for k, v in params.items()}, jnp.asarray(x1), jnp.asarray(x2))
    return runs


def tutorial_ensemble():
    """The model-ensembling tutorial: 10 SimpleMLPs stacked by stack_module_state, each on its own minibatch."""
    m = 10
    params = [layer_params(40 + 10 * i, fc1=(128, 784), fc2=(128, 128), fc3=(10, 128)) for i in range(m)]
    minibatches = data(41, m, 64, 1, 28, 28)
    runs = {}

    def make(ops, nn, func):
        simple_mlp = tutorial_models(nn)[2]  # one class: stack_module_state wants models of the same class
        models = [loaded(simple_mlp, p, ops) for p in params]
        stacked, buffers = func.stack_module_state(models)
        base = models[0]

        def fmodel(p, b, x):
            return func.functional_call(base, (p, b), (x,))

        return func.vmap(fmodel, in_dims=(0, 0, 0)), (stacked, buffers, ops.tensor(minibatches))

    add_torch_shaped(runs, make)
    if jax is not None:
        def fmodel(p, x):
            h = jax.nn.relu(jax_linear(jax.nn.relu(jax_linear(x.reshape(x.shape[0], -1), p, "fc1")), p, "fc2"))
            return jax_linear(h, p, "fc3")

        jp = {k: jnp.asarray(np.stack([p[k] for p in params])) for k in params[0]}
        add_jax(runs, jax.vmap(fmodel, in_axes=(0, 0)), jp, jnp.asarray(minibatches))
    return runs


WORKLOADS = [
    ("per-sample grads, MLP 784-128-10, batch 64", per_sample_grads),
    ("jacrev of sin(A x), n=64", jacobian("rev")),
    ("jacfwd of sin(A x), n=64", jacobian("fwd")),
    ("hessian of sum(tanh(A x)), n=32", hessian),
    ("vmap(jacrev), batch 128, n=16", batched_jacobians),
    ("ensemble of 8 MLPs by vmap, batch 64", ensemble),
    ("grad of 100 elementwise ops on 16 floats", elementwise_chain),
    ("grad of sum(A @ B), 512 x 512", matmul_grad),
    ("per-sample grads, MNIST CNN, batch 64", cnn_per_sample_grads),
    ("jacrev of tanh(W x + b), 32 -> 2048", affine_jacobian("rev", 32, 2048)),
    ("jacfwd of tanh(W x + b), 2048 -> 32", affine_jacobian("fwd", 2048, 32)),
    ("NTK of a CNN, 20 x 5 CIFAR images", ntk),
    ("ensemble of 10 MLPs, tutorial sizes", tutorial_ensemble),
]
FRAMEWORKS = ["swiftfunc", "swiftfunc.jit", "torch.func", "jax", "jax.jit"]


def check_agreement(name, runs):
    """The frameworks' results agree (a benchmark of wrong answers is worthless)."""
    reference = None
    for framework, fn in runs.items():
        leaves = flatten(fn())
        if reference is None:
            reference = leaves
            continue
        for mine, theirs in zip(reference, leaves):
            if not np.allclose(mine, theirs, rtol=2e-3, atol=2e-4):
                raise SystemExit(f"bench_python: {name}: {framework} disagrees with swiftfunc "
                                 f"(max difference {np.max(np.abs(mine - theirs)):.3g})")


def flatten(result):
    if isinstance(result, dict):
        return [x for k in sorted(result) for x in flatten(result[k])]
    if isinstance(result, (tuple, list)):
        return [x for r in result for x in flatten(r)]
    if isinstance(result, sf.Tensor):
        return [result._copy_values()]
    if torch is not None and isinstance(result, torch.Tensor):
        return [result.detach().numpy()]
    return [np.asarray(result)]


def measure_in_subprocess(framework, budget):
    """{workload index: seconds} for one framework, timed in a fresh process."""
    command = [sys.executable, os.path.abspath(__file__), "--measure", framework, "--budget", str(budget)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    if result.returncode != 0:
        raise SystemExit(f"bench_python: timing {framework} failed:\n{result.stderr}")
    times = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "RESULT":
            times[int(parts[1])] = float(parts[2])
    return times


def peak_in_subprocess(framework, index):
    """Peak resident bytes that workload `index` adds while `framework` runs it, in a fresh process."""
    command = [sys.executable, os.path.abspath(__file__), "--peak", framework, "--index", str(index)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    if result.returncode != 0:
        raise SystemExit(f"bench_python: measuring the memory of {framework} failed:\n{result.stderr}")
    for line in result.stdout.splitlines():
        if line.startswith("PEAK "):
            return int(line.split()[1])
    return None


def measure_peak(run):
    """Bytes of resident memory the process holds at its peak over four calls of `run` (the first
    included: tracing, compiling and a framework's lazy initialization count, as they count for a
    user), beyond what it held before them. The kernel's high-water mark (VmHWM) is reset by writing
    5 to /proc/self/clear_refs, so the setup before does not count."""
    import gc
    gc.collect()
    page = os.sysconf("SC_PAGE_SIZE")
    with open("/proc/self/statm") as statm:
        before = int(statm.read().split()[1]) * page
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    for _ in range(4):
        run()
    with open("/proc/self/status") as status:
        hwm = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
    return hwm - before


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter timing budget per measurement")
    parser.add_argument("--markdown", help="also write the table as markdown to this file")
    parser.add_argument("--memory", action="store_true",
                        help="instead of times, the peak resident memory each workload adds (a process per cell)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--budget", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--peak", help=argparse.SUPPRESS)
    parser.add_argument("--index", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peak:  # child: the memory of one framework on one workload
        runs = WORKLOADS[args.index][1]()
        if args.peak in runs:
            print(f"PEAK {measure_peak(runs[args.peak])}", flush=True)
        return
    if args.measure:  # child: time one framework's workloads
        for index, (_, make) in enumerate(WORKLOADS):
            runs = make()
            if args.measure in runs:
                print(f"RESULT {index} {measure(runs[args.measure], args.budget)}", flush=True)
        return
    budget = 0.2 if args.quick else 1.0

    versions = [f"swiftfunc {sf.__version__} (library {sf.library_version()})", f"numpy {np.__version__}",
                f"torch {torch.__version__} ({torch.get_num_threads()} threads)" if torch else "torch: not installed",
                f"jax {jax.__version__}" if jax else "jax: not installed"]
    print("Python benchmark: " + ", ".join(versions))
    print(f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; median time per call "
          f"after a warm-up call, each framework in its own process; ratio = swiftfunc time / torch.func time")
    present = [f for f in FRAMEWORKS if f.startswith("swiftfunc") or (f == "torch.func" and torch) or (f.startswith("jax") and jax)]
    if args.memory:
        print("peak resident memory a workload adds over its first 4 calls (MB), each cell in its own process")
        print(f"{'workload':52s}" + "".join(f"{f:>14s}" for f in present))
        for index, (name, _) in enumerate(WORKLOADS):
            peaks = [peak_in_subprocess(f, index) for f in present]
            print(f"{name:52s}" + "".join(f"{p / 1e6:14.1f}" if p is not None else f"{'-':>14s}" for p in peaks),
                  flush=True)
        return
    for name, make in WORKLOADS:
        check_agreement(name, make())
    times = {f: measure_in_subprocess(f, budget) for f in present}
    print(f"{'workload':44s}" + "".join(f"{f:>14s}" for f in present) + (f"{'sf/torch':>10s}" if torch else ""))
    rows = []
    for index, (name, _) in enumerate(WORKLOADS):
        row = {f: times[f][index] for f in present}
        ratio = row["swiftfunc"] / row["torch.func"] if "torch.func" in row else None
        line = f"{name:44s}" + "".join(f"{1e3 * row[f]:11.3f} ms" for f in present)
        if ratio is not None:
            line += f"{ratio:9.2f}x"
        print(line, flush=True)
        rows.append((name, row, ratio))
    if args.markdown:
        with open(args.markdown, "w") as out:
            out.write("| workload | " + " | ".join(present) + (" | swiftfunc / torch.func |" if torch else " |") + "\n")
            out.write("|---|" + "---:|" * (len(present) + (1 if torch else 0)) + "\n")
            for name, row, ratio in rows:
                cells = [f"{1e3 * row[f]:.3f} ms" for f in present]
                if torch:
                    cells.append(f"{ratio:.2f}")
                out.write(f"| {name} | " + " | ".join(cells) + " |\n")
            out.write("\n" + "; ".join(versions) + "\n")


if __name__ == "__main__":
    main()
