"""numpy's add of 1M float32, timed like bench_core's sf_add (median of single calls, including
freeing the result), and the ratio against bench_core's figure when its output is given."""
import argparse
import os
import time

import numpy as np

N, REPS, WARMUP = 1 << 20, 200, 10


def median(values):
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else 0.5 * (values[n // 2 - 1] + values[n // 2])


def time_add(a, b, reps):
    times = []
    for i in range(reps + WARMUP):
        t0 = time.perf_counter()
        c = np.add(a, b)
        del c
        t1 = time.perf_counter()
        if i >= WARMUP:
            times.append(t1 - t0)
    return median(times)


def read_results(path):
    results = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[0] == "RESULT":
                results[parts[1]] = float(parts[2])
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--core-results", help="bench_core's output, for the ratio")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    a = rng.random(N, dtype=np.float32) - 0.5
    b = rng.random(N, dtype=np.float32) - 0.5
    numpy_us = time_add(a, b, REPS) * 1e6
    small = time_add(a[:16].copy(), b[:16].copy(), 20000) * 1e6
    print(f"numpy {np.__version__} add of {N} float32 (median of {REPS}, including the result's free)")
    print(f"  np.add        {numpy_us:8.1f} us  {3 * N * 4 / numpy_us * 1e-3:7.2f} GB/s")
    print(f"  np.add on 16 float32: {small:6.3f} us per call (Python call overhead included)")
    if args.core_results and os.path.exists(args.core_results):
        results = read_results(args.core_results)
        sf_us = results.get("sf_add_1M_f32_us")
        if sf_us:
            print(f"  speed ratio sf_add / np.add = {numpy_us / sf_us:.3f}  (1.0 = as fast as numpy)")
        else:
            print("  (no sf_add figure in the core results)")


if __name__ == "__main__":
    main()
