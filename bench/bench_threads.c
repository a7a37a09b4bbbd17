/* bench_threads.c — the kernels of issue 10's threading and reduction work, in one run:
 *   the machine's memory bandwidth (memcpy on one thread and on the thread count: the floor for
 *   the elementwise cases),
 *   sf_mul of two 2048x2048 float32 (the result's release included), a GEMM followed by the same
 *   multiply (OpenBLAS's workers are still spinning then), sf_sum over 4M float32, the 2x2 amax
 *   pooling of a [64, 64, 24, 24] activation written as reshape + amax, jacrev of tanh(W x + b)
 *   32 -> 2048 and jacfwd of it 2048 -> 32, and the per-call cost of sf_add on 16 floats.
 * Usage: bench_threads [threads [blas_threads]]: sf_set_num_threads(threads) first when given, then
 * openblas_set_num_threads(blas_threads) when given (to measure the pool and OpenBLAS apart).
 * For each workload: the best and the median of the repetitions; "RESULT name best median" lines
 * are machine-readable (milliseconds, microseconds for the per-call cost, GB/s for memcpy). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "../examples/c/example_util.h"

void openblas_set_num_threads(int num_threads); /* libopenblas (the bench links it) */

enum { REPS = 31 };

typedef struct {
    double best, median;
} timing;

static timing summarize(double *times, int n) {
    qsort(times, (size_t)n, sizeof *times, example_compare_doubles);
    return (timing){times[0], times[n / 2]};
}

static void report(const char *name, const char *what, timing t) {
    printf("%-44s best %9.3f ms  median %9.3f ms\n", what, 1e3 * t.best, 1e3 * t.median);
    printf("RESULT %s %.4f %.4f\n", name, 1e3 * t.best, 1e3 * t.median);
}

/* ---- memory bandwidth: memcpy of 16 MiB (one 2048x2048 float32 tensor), on 1 and on n threads ---- */
typedef struct {
    char *to;
    const char *from;
    size_t bytes;
} copy_job;

static void *copy_part(void *arg) {
    copy_job *job = arg;
    memcpy(job->to, job->from, job->bytes);
    return NULL;
}

static void bench_memcpy(int threads) {
    enum { MAX_THREADS = 64 };
    const size_t bytes = (size_t)2048 * 2048 * sizeof(float);
    char *a = malloc(bytes), *b = malloc(bytes);
    memset(a, 1, bytes);
    memset(b, 2, bytes);
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    for (int n = 1; n <= threads; n = n == 1 && threads > 1 ? threads : n + threads) {
        double times[REPS];
        for (int r = -2; r < REPS; r++) {
            copy_job jobs[MAX_THREADS];
            pthread_t ids[MAX_THREADS];
            for (int k = 0; k < n; k++) {
                size_t lo = bytes * (size_t)k / (size_t)n, hi = bytes * (size_t)(k + 1) / (size_t)n;
                jobs[k] = (copy_job){b + lo, a + lo, hi - lo};
            }
            double t0 = example_seconds();
            for (int k = 1; k < n; k++) pthread_create(&ids[k], NULL, copy_part, &jobs[k]);
            copy_part(&jobs[0]);
            for (int k = 1; k < n; k++) pthread_join(ids[k], NULL);
            if (r >= 0) times[r] = example_seconds() - t0;
            a[r & 1023] ^= b[(r * 7) & 1023]; /* keep the copies observable */
        }
        timing t = summarize(times, REPS);
        /* read + write traffic; thread start-up is included on n threads, as it is not in a pool */
        char what[64], name[64];
        snprintf(what, sizeof what, "memcpy 16 MiB, %d thread%s", n, n > 1 ? "s" : "");
        snprintf(name, sizeof name, "memcpy_%dt", n);
        printf("%-44s best %9.3f ms  median %9.3f ms  (best %.1f GB/s read+write)\n", what, 1e3 * t.best, 1e3 * t.median,
               2.0 * (double)bytes / t.best * 1e-9);
        printf("RESULT %s_ms %.4f %.4f\nRESULT %s_GBps %.2f %.2f\n", name, 1e3 * t.best, 1e3 * t.median, name,
               2.0 * (double)bytes / t.best * 1e-9, 2.0 * (double)bytes / t.median * 1e-9);
    }
    free(a);
    free(b);
}

/* ---- elementwise: a 2048x2048 float32 multiply, alone and right after a GEMM ---- */
static void bench_mul(unsigned *rng) {
    const int64_t shape[2] = {2048, 2048}, gshape[2] = {256, 256};
    sf_tensor *a = example_random(shape, 2, 1.0, rng), *b = example_random(shape, 2, 1.0, rng);
    sf_tensor *ga = example_random(gshape, 2, 1.0, rng), *gb = example_random(gshape, 2, 1.0, rng);
    double times[REPS], after_gemm[REPS];
    for (int r = -2; r < REPS; r++) {
        double t0 = example_seconds();
        sf_tensor *c = NULL;
        SF_CHECK(sf_mul(a, b, &c));
        sf_tensor_release(c);
        if (r >= 0) times[r] = example_seconds() - t0;
    }
    for (int r = -2; r < REPS; r++) {
        sf_tensor *g = NULL, *c = NULL;
        SF_CHECK(sf_matmul(ga, gb, &g));
        double t0 = example_seconds();
        SF_CHECK(sf_mul(a, b, &c));
        sf_tensor_release(c);
        if (r >= 0) after_gemm[r] = example_seconds() - t0;
        sf_tensor_release(g);
    }
    report("mul_2048sq_ms", "sf_mul 2048x2048 float32 (+ release)", summarize(times, REPS));
    report("mul_after_gemm_ms", "  the same right after a 256^3 sgemm", summarize(after_gemm, REPS));
    sf_tensor_release(a), sf_tensor_release(b), sf_tensor_release(ga), sf_tensor_release(gb);
}

/* ---- reductions: sum over 4M, 2x2 amax pooling of [64, 64, 24, 24] ---- */
static void bench_reductions(unsigned *rng) {
    const int64_t flat[1] = {4 << 20};
    sf_tensor *x = example_random(flat, 1, 1.0, rng);
    double times[REPS];
    for (int r = -2; r < REPS; r++) {
        double t0 = example_seconds();
        sf_tensor *s = NULL;
        SF_CHECK(sf_sum(x, NULL, 0, false, &s));
        sf_tensor_release(s);
        if (r >= 0) times[r] = example_seconds() - t0;
    }
    report("sum_4M_ms", "sf_sum over 4M float32", summarize(times, REPS));
    sf_tensor_release(x);

    const int64_t act[4] = {64, 64, 24, 24}, windows[6] = {64, 64, 12, 2, 12, 2}, pooled[2] = {3, 5};
    sf_tensor *y = example_random(act, 4, 1.0, rng);
    for (int r = -2; r < REPS; r++) {
        double t0 = example_seconds();
        sf_tensor *v = NULL, *m = NULL;
        SF_CHECK(sf_reshape(y, windows, 6, &v));
        SF_CHECK(sf_amax(v, pooled, 2, false, &m));
        sf_tensor_release(v), sf_tensor_release(m);
        if (r >= 0) times[r] = example_seconds() - t0;
    }
    report("pool_amax_ms", "2x2 amax pooling of [64, 64, 24, 24]", summarize(times, REPS));
    sf_tensor_release(y);
}

/* ---- Jacobians of tanh(W x + b) ---- */
static int tanh_affine(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)ud, (void)n_in, (void)n_out;
    sf_tensor *wx = NULL, *pre = NULL;
    sf_status s = sf_matmul(in[0], in[1], &wx);
    if (s == SF_OK) s = sf_add(wx, in[2], &pre);
    if (s == SF_OK) s = sf_tanh(pre, &out[0]);
    sf_tensor_release(wx), sf_tensor_release(pre);
    return s != SF_OK;
}

static timing time_function(sf_function *f, sf_tensor *const *in, size_t n_in) {
    double times[REPS];
    for (int r = -2; r < REPS; r++) {
        sf_tensor *out = NULL;
        double t0 = example_seconds();
        SF_CHECK(sf_call(f, in, n_in, &out, 1));
        sf_tensor_release(out);
        if (r >= 0) times[r] = example_seconds() - t0;
    }
    return summarize(times, REPS);
}

static void bench_jacobians(unsigned *rng) {
    sf_function *f = NULL, *jr = NULL, *jf = NULL;
    SF_CHECK(sf_function_new(tanh_affine, NULL, NULL, 3, 1, &f));
    const int32_t wrt[1] = {1};
    SF_CHECK(sf_jacrev(f, wrt, 1, false, 0, &jr));
    SF_CHECK(sf_jacfwd(f, wrt, 1, false, SF_RANDOMNESS_ERROR, &jf));

    const int64_t w_rev[2] = {2048, 32}, x_rev[1] = {32}, b_rev[1] = {2048};
    sf_tensor *in_rev[3] = {example_random(w_rev, 2, 0.2, rng), example_random(x_rev, 1, 1.0, rng),
                            example_random(b_rev, 1, 0.1, rng)};
    report("jacrev_32_2048_ms", "jacrev of tanh(W x + b), 32 -> 2048", time_function(jr, in_rev, 3));

    const int64_t w_fwd[2] = {32, 2048}, x_fwd[1] = {2048}, b_fwd[1] = {32};
    sf_tensor *in_fwd[3] = {example_random(w_fwd, 2, 0.02, rng), example_random(x_fwd, 1, 1.0, rng),
                            example_random(b_fwd, 1, 0.1, rng)};
    report("jacfwd_2048_32_ms", "jacfwd of tanh(W x + b), 2048 -> 32", time_function(jf, in_fwd, 3));

    for (int k = 0; k < 3; k++) sf_tensor_release(in_rev[k]), sf_tensor_release(in_fwd[k]);
    sf_function_release(f), sf_function_release(jr), sf_function_release(jf);
}

/* ---- per-call cost of sf_add on 16 floats (median of single calls) ---- */
static void bench_small_add(unsigned *rng) {
    enum { CALLS = 200000 };
    const int64_t shape[1] = {16};
    sf_tensor *a = example_random(shape, 1, 1.0, rng), *b = example_random(shape, 1, 1.0, rng);
    double *times = malloc(CALLS * sizeof *times);
    for (int i = -1000; i < CALLS; i++) {
        sf_tensor *c = NULL;
        double t0 = example_seconds();
        SF_CHECK(sf_add(a, b, &c));
        if (i >= 0) times[i] = example_seconds() - t0;
        sf_tensor_release(c);
    }
    timing t = summarize(times, CALLS);
    printf("%-44s best %9.3f us  median %9.3f us\n", "sf_add on 16 float32, per call", 1e6 * t.best, 1e6 * t.median);
    printf("RESULT add_16_us %.4f %.4f\n", 1e6 * t.best, 1e6 * t.median);
    free(times);
    sf_tensor_release(a), sf_tensor_release(b);
}

int main(int argc, char **argv) {
    unsigned rng = 7;
    if (argc > 1) SF_CHECK(sf_set_num_threads(atoi(argv[1])));
    if (argc > 2) openblas_set_num_threads(atoi(argv[2]));
    int threads = 0;
    SF_CHECK(sf_get_num_threads(&threads));
    printf("swiftfunc %s, %d threads%s%s (best and median of %d repetitions)\n", sf_version(), threads,
           argc > 2 ? ", OpenBLAS " : "", argc > 2 ? argv[2] : "", REPS);
    bench_memcpy(threads);
    bench_mul(&rng);
    bench_reductions(&rng);
    bench_jacobians(&rng);
    bench_small_add(&rng);
    return 0;
}
