"""Linear algebra (issue 13): solve and cholesky of one 256 x 256 matrix and of a batch of 64 matrices of
32 x 32, float64, through the swiftfunc Python package, numpy.linalg and (when installed) torch.linalg,
on the same inputs, and the gradient of logdet(A).sum() (torch.autograd; numpy: the closed form A^-T).
The parent process checks that all libraries give the same values; each library is then timed in its
own subprocess, because the spinning BLAS threads of one (three OpenBLAS/MKL pools in one process)
slow down the next. Prints the median of repeated calls after a warm-up with the range, and the ratio
to numpy (< 1: faster).

    python bench/bench_linalg.py [--threads N] [--markdown FILE]

--threads N runs every library on N threads (numpy's OpenBLAS through OPENBLAS_NUM_THREADS, set before
numpy is imported): on a busy machine one thread gives the steadier comparison.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings

if "--threads" in sys.argv:  # numpy's bundled OpenBLAS reads it when numpy is imported
    os.environ["OPENBLAS_NUM_THREADS"] = sys.argv[sys.argv.index("--threads") + 1]

import numpy as np  # noqa: E402

warnings.filterwarnings("ignore", category=FutureWarning)
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))

import swiftfunc as sf  # noqa: E402

try:
    import torch
except Exception:  # noqa: BLE001 - optional reference
    torch = None


def measure(fn, budget=0.5):
    """Median seconds per call over repeated calls after one warm-up call, with their range."""
    fn()
    times = []
    deadline = time.perf_counter() + budget
    while len(times) < 5 or (time.perf_counter() < deadline and len(times) < 200):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), max(times)


def workloads():
    rng = np.random.default_rng(0)
    out = []
    for label, shape in (("256×256", (256, 256)), ("64×32×32", (64, 32, 32))):
        m = rng.standard_normal(shape)
        a = m @ np.swapaxes(m, -1, -2) + shape[-1] * np.eye(shape[-1])
        b = rng.standard_normal(shape[:-1] + (1,))
        out.append((f"solve {label}", a, b, "solve"))
        out.append((f"cholesky {label}", a, b, "cholesky"))
        out.append((f"grad of logdet {label}", a, b, "grad_logdet"))
    return out


def runners(a, b, op):
    sa, sb = sf.tensor(a, dtype=sf.float64), sf.tensor(b, dtype=sf.float64)
    result = {}
    if op == "solve":
        result["swiftfunc"] = lambda: sf.linalg.solve(sa, sb)
        result["numpy"] = lambda: np.linalg.solve(a, b)
    elif op == "cholesky":
        result["swiftfunc"] = lambda: sf.linalg.cholesky(sa)
        result["numpy"] = lambda: np.linalg.cholesky(a)
    else:
        g = sf.func.grad(lambda x: sf.logdet(x).sum())
        result["swiftfunc"] = lambda: g(sa)
        result["numpy"] = lambda: np.swapaxes(np.linalg.inv(a), -1, -2)  # the closed form A^-T
    if torch is not None:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        if op == "solve":
            result["torch"] = lambda: torch.linalg.solve(ta, tb)
        elif op == "cholesky":
            result["torch"] = lambda: torch.linalg.cholesky(ta)
        else:
            def torch_grad():
                x = ta.clone().requires_grad_(True)
                torch.logdet(x).sum().backward()
                return x.grad
            result["torch"] = torch_grad
    return result


def measure_all(lib):
    """{workload: (median, min, max)} for one library (run in its own process)."""
    return {name: measure(runners(a, b, op)[lib]) for name, a, b, op in workloads()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--markdown")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--measure")
    args = parser.parse_args()
    if args.threads:
        sf.set_num_threads(args.threads)
        if torch is not None:
            torch.set_num_threads(args.threads)
    if args.measure:
        print(json.dumps(measure_all(args.measure)))
        return
    threads = args.threads or sf.get_num_threads()
    print(f"linear algebra, float64, {threads} threads per library"
          + (f", torch {torch.__version__}" if torch is not None else ", no torch"))
    libraries = ["swiftfunc", "numpy"] + (["torch"] if torch is not None else [])
    for name, a, b, op in workloads():
        # Same results first: the timings compare equal work.
        fns = runners(a, b, op)
        reference = np.asarray(fns["numpy"]())
        for lib, fn in fns.items():
            value = fn()
            value = value.numpy() if hasattr(value, "numpy") else np.asarray(value)
            assert np.allclose(value, reference, rtol=1e-8, atol=1e-10), f"{name}: {lib} differs"
    times = {}
    for lib in libraries:
        command = [sys.executable, os.path.abspath(__file__), "--measure", lib]
        if args.threads:
            command += ["--threads", str(args.threads)]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        times[lib] = json.loads(output.strip().splitlines()[-1])

    def show(lib, name):
        if lib not in times:
            return "—"
        median, low, high = times[lib][name]
        return f"{1e6 * median:.0f} µs ({1e6 * low:.0f}–{1e6 * high:.0f})"

    rows = ["| workload | swiftfunc | numpy | torch | swiftfunc / numpy |", "|---|---|---|---|---|"]
    for name, _, _, _ in workloads():
        ratio = times["swiftfunc"][name][0] / times["numpy"][name][0]
        print(f"  {name:24s} swiftfunc {show('swiftfunc', name):22s} numpy {show('numpy', name):22s} "
              f"torch {show('torch', name):22s} ratio {ratio:.2f}")
        rows.append(f"| {name} | {show('swiftfunc', name)} | {show('numpy', name)} | {show('torch', name)} | {ratio:.2f} |")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
