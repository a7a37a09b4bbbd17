"""Helpers shared by the examples: timing, comparisons, and the optional torch reference."""
import os
import sys
import time

import numpy as np

# Run from a source checkout without installing: the package lives next to this directory.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import swiftfunc as sf  # noqa: E402


def seconds(fn, *args, repeats=5):
    """(result, seconds): the result of a first call, then the median time of `repeats` more calls
    whose results are dropped at once (as a training loop would), so memory is recycled."""
    result = fn(*args)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return result, sorted(times)[len(times) // 2]


def values(t):
    """numpy values of a swiftfunc tensor (or pass numpy through)."""
    return t._copy_values() if isinstance(t, sf.Tensor) else np.asarray(t)


def max_diff(a, b):
    return float(np.max(np.abs(values(a) - values(b)))) if values(a).size else 0.0


def check(name, difference, tolerance):
    """Prints a comparison and fails the script when it is off."""
    status = "ok" if difference <= tolerance else "FAILED"
    print(f"  {name}: max difference {difference:.3g} (tolerance {tolerance:g}) {status}")
    if difference > tolerance:
        raise SystemExit(f"{os.path.basename(sys.argv[0])}: {name} differs by {difference:.3g}")


def torch_func():
    """torch and torch.func when importable, else None (the torch comparison is then skipped)."""
    try:
        import torch
        import torch.func
    except Exception:  # noqa: BLE001 - no torch, or a broken one: skip
        print("  torch is not installed: the torch.func comparison is skipped")
        return None
    return torch


def to_torch(torch, t):
    return torch.from_dlpack(t)  # zero-copy
