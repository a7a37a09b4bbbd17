/* bench_core.c — core costs of libswiftfunc, measured in one run:
 *   1. sf_matmul 512x512 float32 against cblas_sgemm called directly (same OpenBLAS in-process;
 *      the one place this ratio is measured: the test suites only check results),
 *   2. sf_add of 1M float32 (bench_numpy.py compares it with numpy's add),
 *   3. the per-call cost of sf_add on 16 floats (median of single-call timings).
 * Lines starting with "RESULT" are read by bench_numpy.py; keep their format. */
#define _GNU_SOURCE /* cblas.h declares openblas_setaffinity with cpu_set_t */
#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "swiftfunc.h"

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *values, size_t n) {
    qsort(values, n, sizeof *values, compare_doubles);
    return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

/* Exits with the library's message when a call fails: a benchmark of a failing op means nothing. */
static void check(sf_status status, const char *what) {
    if (status != SF_OK) {
        fprintf(stderr, "bench_core: %s failed (status %d): %s\n", what, (int)status, sf_last_error());
        exit(1);
    }
}

static sf_tensor *random_tensor(const int64_t *shape, size_t ndim, size_t n, unsigned seed) {
    float *data = malloc(n * sizeof *data);
    if (!data) {
        fprintf(stderr, "bench_core: out of memory\n");
        exit(1);
    }
    srand(seed);
    for (size_t i = 0; i < n; i++) data[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    sf_tensor *t = NULL;
    check(sf_tensor_from_data(data, SF_FLOAT32, shape, ndim, &t), "sf_tensor_from_data");
    free(data);
    return t;
}

enum { MATMUL_N = 512, MATMUL_REPS = 30, ADD_N = 1 << 20, ADD_REPS = 200, SMALL_N = 16, SMALL_CALLS = 200000 };

static void bench_matmul(void) {
    const int64_t shape[2] = {MATMUL_N, MATMUL_N};
    const size_t n = (size_t)MATMUL_N * MATMUL_N;
    sf_tensor *a = random_tensor(shape, 2, n, 1), *b = random_tensor(shape, 2, n, 2);
    float *ha = malloc(n * sizeof(float)), *hb = malloc(n * sizeof(float)), *hc = malloc(n * sizeof(float));
    check(sf_tensor_copy_to(a, ha, n * sizeof(float)), "sf_tensor_copy_to");
    check(sf_tensor_copy_to(b, hb, n * sizeof(float)), "sf_tensor_copy_to");

    double sf_times[MATMUL_REPS], blas_times[MATMUL_REPS];
    for (int warm = 0; warm < 3; warm++) {
        sf_tensor *c = NULL;
        check(sf_matmul(a, b, &c), "sf_matmul");
        sf_tensor_release(c);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, MATMUL_N, MATMUL_N, MATMUL_N, 1.0f, ha, MATMUL_N, hb,
                    MATMUL_N, 0.0f, hc, MATMUL_N);
    }
    /* Interleaved so that frequency or load changes hit both alike. */
    for (int r = 0; r < MATMUL_REPS; r++) {
        double t0 = now_seconds();
        sf_tensor *c = NULL;
        check(sf_matmul(a, b, &c), "sf_matmul");
        double t1 = now_seconds();
        sf_tensor_release(c);
        double t2 = now_seconds();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, MATMUL_N, MATMUL_N, MATMUL_N, 1.0f, ha, MATMUL_N, hb,
                    MATMUL_N, 0.0f, hc, MATMUL_N);
        double t3 = now_seconds();
        sf_times[r] = t1 - t0;
        blas_times[r] = t3 - t2;
    }
    /* sanity: the two products agree */
    sf_tensor *c = NULL;
    check(sf_matmul(a, b, &c), "sf_matmul");
    float *sc = malloc(n * sizeof(float));
    check(sf_tensor_copy_to(c, sc, n * sizeof(float)), "sf_tensor_copy_to");
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = sc[i] > hc[i] ? sc[i] - hc[i] : hc[i] - sc[i];
        if (d > worst) worst = d;
    }
    sf_tensor_release(c);

    double flops = 2.0 * MATMUL_N * (double)MATMUL_N * MATMUL_N;
    double sf_med = median(sf_times, MATMUL_REPS), blas_med = median(blas_times, MATMUL_REPS);
    printf("matmul %dx%d float32 (median of %d)\n", MATMUL_N, MATMUL_N, MATMUL_REPS);
    printf("  sf_matmul     %8.3f ms  %7.1f GFLOP/s\n", sf_med * 1e3, flops / sf_med * 1e-9);
    printf("  cblas_sgemm   %8.3f ms  %7.1f GFLOP/s\n", blas_med * 1e3, flops / blas_med * 1e-9);
    printf("  speed ratio sf_matmul / cblas_sgemm = %.3f  (1.0 = as fast as OpenBLAS; max |diff| %.2g)\n",
           blas_med / sf_med, worst);
    printf("RESULT sf_matmul_512_f32_ms %.6f\n", sf_med * 1e3);
    printf("RESULT cblas_sgemm_512_f32_ms %.6f\n", blas_med * 1e3);

    free(ha);
    free(hb);
    free(hc);
    free(sc);
    sf_tensor_release(a);
    sf_tensor_release(b);
}

static void bench_add_large(void) {
    const int64_t shape[1] = {ADD_N};
    sf_tensor *a = random_tensor(shape, 1, ADD_N, 3), *b = random_tensor(shape, 1, ADD_N, 4);
    double times[ADD_REPS];
    for (int r = 0; r < ADD_REPS + 10; r++) {
        double t0 = now_seconds();
        sf_tensor *c = NULL;
        check(sf_add(a, b, &c), "sf_add");
        double t1 = now_seconds();
        sf_tensor_release(c); /* freeing the result is part of the op's cost for a caller */
        double t2 = now_seconds();
        if (r >= 10) times[r - 10] = t2 - t0;
        (void)t1;
    }
    double med = median(times, ADD_REPS);
    printf("add of %d float32 (median of %d, including the result's release)\n", ADD_N, ADD_REPS);
    printf("  sf_add        %8.1f us  %7.2f GB/s\n", med * 1e6, 3.0 * ADD_N * sizeof(float) / med * 1e-9);
    printf("RESULT sf_add_1M_f32_us %.6f\n", med * 1e6);
    sf_tensor_release(a);
    sf_tensor_release(b);
}

static void bench_add_small(void) {
    const int64_t shape[1] = {SMALL_N};
    sf_tensor *a = random_tensor(shape, 1, SMALL_N, 5), *b = random_tensor(shape, 1, SMALL_N, 6);
    double *times = malloc(SMALL_CALLS * sizeof *times);
    double *with_release = malloc(SMALL_CALLS * sizeof *with_release);
    for (int i = 0; i < 1000; i++) {
        sf_tensor *c = NULL;
        check(sf_add(a, b, &c), "sf_add");
        sf_tensor_release(c);
    }
    for (int i = 0; i < SMALL_CALLS; i++) {
        sf_tensor *c = NULL;
        double t0 = now_seconds();
        sf_status s = sf_add(a, b, &c);
        double t1 = now_seconds();
        sf_tensor_release(c);
        double t2 = now_seconds();
        check(s, "sf_add");
        times[i] = t1 - t0;
        with_release[i] = t2 - t0;
    }
    /* the cost of the clock itself, to read the figures against */
    double *clock_cost = malloc(SMALL_CALLS * sizeof *clock_cost);
    for (int i = 0; i < SMALL_CALLS; i++) {
        double t0 = now_seconds();
        double t1 = now_seconds();
        clock_cost[i] = t1 - t0;
    }
    double med = median(times, SMALL_CALLS), med_release = median(with_release, SMALL_CALLS);
    printf("per-call cost of sf_add on %d float32 (median of %d single calls)\n", SMALL_N, SMALL_CALLS);
    printf("  sf_add               %6.3f us\n", med * 1e6);
    printf("  sf_add + release     %6.3f us\n", med_release * 1e6);
    printf("  (clock_gettime pair  %6.3f us, included above)\n", median(clock_cost, SMALL_CALLS) * 1e6);
    printf("RESULT sf_add_16_f32_call_us %.6f\n", med * 1e6);
    free(times);
    free(with_release);
    free(clock_cost);
    sf_tensor_release(a);
    sf_tensor_release(b);
}

int main(void) {
    const char *coretype = getenv("OPENBLAS_CORETYPE"), *l2 = getenv("OPENBLAS_L2_SIZE");
    printf("libswiftfunc %s (ABI %u)\n", sf_version(), sf_abi_version());
    printf("OpenBLAS core %s, %d threads, config: %s\n", openblas_get_corename(), openblas_get_num_threads(),
           openblas_get_config());
    printf("OPENBLAS_CORETYPE=%s OPENBLAS_L2_SIZE=%s\n", coretype ? coretype : "(unset)", l2 ? l2 : "(unset)");
    bench_matmul();
    bench_add_large();
    bench_add_small();
    return 0;
}
