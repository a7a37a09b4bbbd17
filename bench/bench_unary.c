/* bench_unary.c — ns per element of the float32 unary math kernels (eager sf_exp, sf_log, ...) on
 * 4096 and 1M elements, one thread, best of many calls (the machine is shared: the minimum is the
 * least disturbed figure). Inputs are spread over each function's typical range.
 * Usage: bench_unary [reps]; lines starting with "RESULT" are machine-readable. */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "swiftfunc.h"

typedef sf_status (*unary_fn)(sf_tensor *, sf_tensor **);

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 20;
    struct { const char *name; unary_fn fn; float lo, hi; } fns[] = {
        {"exp", sf_exp, -80, 80},     {"expm1", sf_expm1, -5, 5}, {"log", sf_log, 1e-6f, 1e6f},
        {"log1p", sf_log1p, -0.9f, 10}, {"tanh", sf_tanh, -5, 5},  {"sigmoid", sf_sigmoid, -10, 10},
        {"sin", sf_sin, -10, 10},     {"cos", sf_cos, -10, 10},
    };
    const int64_t sizes[] = {4096, 1 << 20};
    if (sf_set_num_threads(1) != SF_OK) return 1;
    for (size_t s = 0; s < 2; s++) {
        int64_t n = sizes[s];
        float *data = malloc(n * sizeof *data);
        for (size_t f = 0; f < sizeof fns / sizeof *fns; f++) {
            unsigned rng = 12345;
            for (int64_t i = 0; i < n; i++) {
                rng = rng * 1664525u + 1013904223u;
                data[i] = fns[f].lo + (fns[f].hi - fns[f].lo) * (float)(rng >> 8) / 16777216.0f;
            }
            sf_tensor *x = NULL;
            if (sf_tensor_from_data(data, SF_FLOAT32, &n, 1, &x) != SF_OK) return 1;
            int inner = n < 100000 ? 200 : 2;
            double best = 1e30;
            for (int r = 0; r < reps; r++) {
                double t0 = now();
                for (int k = 0; k < inner; k++) {
                    sf_tensor *y = NULL;
                    if (fns[f].fn(x, &y) != SF_OK) return 1;
                    sf_tensor_release(y);
                }
                double t = (now() - t0) / inner;
                if (t < best) best = t;
            }
            printf("%-8s n=%-8lld %7.3f ns/element\n", fns[f].name, (long long)n, 1e9 * best / n);
            printf("RESULT unary_%s_%lld_ns %.4f\n", fns[f].name, (long long)n, 1e9 * best / n);
            sf_tensor_release(x);
        }
        free(data);
    }
    return 0;
}
