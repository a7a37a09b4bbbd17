"""The torch.func workloads through the swiftfunc Python package and, when they are installed, torch.func
and JAX (eager and jit), side by side in one run: each time (median of repeated calls after a warm-up)
and its ratio to torch.func (< 1: faster than torch.func). Each framework is timed in its own
subprocess, because the thread pools of one (XLA's spin after work) would slow down the next; the parent
process first checks that all frameworks compute the same results.

Workloads: per-sample gradients of a 784-128-10 MLP (batch 64); jacrev and jacfwd of sin(A x) (n=64);
hessian of sum(tanh(A x)) (n=32); vmap(jacrev) over a batch of 128 (n=16); an ensemble of 8 MLPs by vmap;
grad of a chain of 100 elementwise ops on 16 floats; grad of sum(A @ B) for 512 x 512. All float32.

    python bench/bench_python.py [--quick] [--markdown docs/benchmarks-python.md]
"""
import argparse
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


WORKLOADS = [
    ("per-sample grads, MLP 784-128-10, batch 64", per_sample_grads),
    ("jacrev of sin(A x), n=64", jacobian("rev")),
    ("jacfwd of sin(A x), n=64", jacobian("fwd")),
    ("hessian of sum(tanh(A x)), n=32", hessian),
    ("vmap(jacrev), batch 128, n=16", batched_jacobians),
    ("ensemble of 8 MLPs by vmap, batch 64", ensemble),
    ("grad of 100 elementwise ops on 16 floats", elementwise_chain),
    ("grad of sum(A @ B), 512 x 512", matmul_grad),
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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter timing budget per measurement")
    parser.add_argument("--markdown", help="also write the table as markdown to this file")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--budget", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
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
