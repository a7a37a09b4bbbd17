/* test_threads.c — sf_set_num_threads / sf_get_num_threads: the default (the online CPUs), the
 * range check, OpenBLAS following the count, results that are the same bits on every thread count,
 * calls from several threads while the count changes, and a forked child's own pool. Leaves the
 * count as it found it. Runs plain and under AddressSanitizer/LeakSanitizer (make c-test, make asan-test). */
#define _GNU_SOURCE /* sysconf, dlsym(RTLD_DEFAULT, ...) */
#include <dirent.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "swiftfunc.h"

/* OpenBLAS's own count and setter, looked up in the process (libswiftfunc links libopenblas). */
static int (*openblas_count)(void);
static void (*openblas_set_count)(int);

static int get_threads(void) {
    int n = -1;
    CHECK_OK(sf_get_num_threads(&n));
    return n;
}

static void test_default_and_range(int initial) {
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    CHECK_EQ(initial, online > 0 ? online : 1);

    CHECK_OK(sf_set_num_threads(1));
    CHECK_EQ(get_threads(), 1);
    CHECK_OK(sf_set_num_threads(3));
    CHECK_EQ(get_threads(), 3);
    if (openblas_count) CHECK_EQ(openblas_count(), 3);
    CHECK_OK(sf_set_num_threads(2));

    /* Refused counts change nothing. */
    CHECK_ERROR(sf_set_num_threads(0), SF_ERR_INVALID_ARGUMENT, "sf_set_num_threads: the thread count must be between 1 and 1024, got 0");
    CHECK_ERROR(sf_set_num_threads(-3), SF_ERR_INVALID_ARGUMENT, "got -3");
    CHECK_ERROR(sf_set_num_threads(1025), SF_ERR_INVALID_ARGUMENT, "got 1025");
    CHECK_ERROR(sf_set_num_threads(INT32_MIN), SF_ERR_INVALID_ARGUMENT, "between 1 and 1024");
    CHECK_EQ(get_threads(), 2);
    if (openblas_count) CHECK_EQ(openblas_count(), 2);
    CHECK_ERROR(sf_get_num_threads(NULL), SF_ERR_INVALID_ARGUMENT, "sf_get_num_threads: out is NULL");
}

/* ---- results on 1 and 2 threads ---- */

enum { N = 5 * 65536 + 17 }; /* past twice the elementwise grain (2^17), a ragged end, and 512 x 512 */

static sf_tensor *from_floats(const float *values, const int64_t *shape, size_t ndim) {
    sf_tensor *t = NULL;
    CHECK_OK(sf_tensor_from_data(values, SF_FLOAT32, shape, ndim, &t));
    return t;
}

/* The bytes of `t` (float32 or int64 of n elements) into a new buffer. */
static void *bytes_of(sf_tensor *t, size_t n, size_t item) {
    void *data = malloc(n * item);
    CHECK_OK(sf_tensor_copy_to(t, data, n * item));
    return data;
}

/* Every kernel family the pool runs, on inputs large enough to split: the outputs' bytes, in order. */
typedef struct {
    void *sum_all, *sum_rows, *pooled, *product, *transposed, *cast, *argmax;
    void *gemm_below, *gemm_at; /* matmuls just below and at the size OpenBLAS gets threads from */
} results;

static results compute(const float *x) {
    results r;
    const int64_t flat[1] = {N}, square[2] = {512, 512}, windows[4] = {256, 2, 256, 2}, pooled_dims[2] = {1, 3};
    const int64_t rows_dim[1] = {1}, all_dims[1] = {0};
    sf_tensor *v = from_floats(x, flat, 1), *m = from_floats(x, square, 2), *w = from_floats(x, windows, 4);
    sf_tensor *out = NULL, *t = NULL, *y = NULL;

    CHECK_OK(sf_sum(v, NULL, 0, false, &out)); /* one output: pieces joined in order */
    r.sum_all = bytes_of(out, 1, sizeof(float));
    sf_tensor_release(out);
    CHECK_OK(sf_transpose(m, 0, 1, &t));
    CHECK_OK(sf_sum(t, rows_dim, 1, false, &out)); /* strided rows, outputs split */
    r.sum_rows = bytes_of(out, 512, sizeof(float));
    sf_tensor_release(out);
    CHECK_OK(sf_amax(w, pooled_dims, 2, false, &out)); /* 2x2 windows across the kept dims */
    r.pooled = bytes_of(out, 256 * 256, sizeof(float));
    sf_tensor_release(out);
    CHECK_OK(sf_mul(v, v, &out)); /* contiguous elementwise */
    r.product = bytes_of(out, N, sizeof(float));
    sf_tensor_release(out);
    CHECK_OK(sf_exp(t, &y)); /* strided elementwise, the libm grain */
    CHECK_OK(sf_add(y, m, &out)); /* strided + contiguous */
    r.transposed = bytes_of(out, 512 * 512, sizeof(float));
    sf_tensor_release(out), sf_tensor_release(y);
    CHECK_OK(sf_cast(t, SF_FLOAT64, &y)); /* a strided copy and cast */
    CHECK_OK(sf_cast(y, SF_FLOAT32, &out));
    r.cast = bytes_of(out, 512 * 512, sizeof(float));
    sf_tensor_release(out), sf_tensor_release(y);
    CHECK_OK(sf_argmax(v, all_dims, 1, false, &out));
    r.argmax = bytes_of(out, 1, sizeof(int64_t));
    sf_tensor_release(out);

    /* GEMMs of 127*128*128 and 128*128*128 = 2^21 multiply-adds: one OpenBLAS call below 2^21,
     * blocks over the library's threads from it (Parallel.blasThreadingMultiplyAdds). */
    const int64_t below[2] = {127, 128}, at[2] = {128, 128};
    sf_tensor *a_below = from_floats(x, below, 2), *a_at = from_floats(x, at, 2), *b = from_floats(x + 7, at, 2);
    CHECK_OK(sf_matmul(a_below, b, &out));
    r.gemm_below = bytes_of(out, 127 * 128, sizeof(float));
    sf_tensor_release(out);
    CHECK_OK(sf_matmul(a_at, b, &out));
    r.gemm_at = bytes_of(out, 128 * 128, sizeof(float));
    sf_tensor_release(out), sf_tensor_release(a_below), sf_tensor_release(a_at), sf_tensor_release(b);

    sf_tensor_release(t), sf_tensor_release(v), sf_tensor_release(m), sf_tensor_release(w);
    return r;
}

/* Entry (i, j) of the row-major product of x[0..] [rows, 128] and x[7..] [128, 128], in float64. */
static double gemm_reference(const float *x, int i, int j) {
    double sum = 0;
    for (int k = 0; k < 128; k++) sum += (double)x[i * 128 + k] * (double)x[7 + k * 128 + j];
    return sum;
}

static void release_results(results *r) {
    free(r->sum_all), free(r->sum_rows), free(r->pooled), free(r->product), free(r->transposed), free(r->cast);
    free(r->argmax), free(r->gemm_below), free(r->gemm_at);
}

static void test_same_bits_on_every_thread_count(void) {
    float *x = malloc(N * sizeof(float));
    unsigned state = 12345;
    for (int i = 0; i < N; i++) {
        state = state * 1664525u + 1013904223u;
        /* magnitudes over a wide range, so that the order of additions shows in the bits */
        x[i] = (float)((int)(state >> 9) - (1 << 22)) * ((i % 7 == 0) ? 1e3f : 1e-3f);
    }
    CHECK_OK(sf_set_num_threads(1));
    results one = compute(x);
    CHECK_OK(sf_set_num_threads(2));
    results two = compute(x), again = compute(x);
    CHECK_OK(sf_set_num_threads(5)); /* more threads than CPUs */
    results five = compute(x);

    results *all[3] = {&two, &again, &five};
    for (int k = 0; k < 3; k++) {
        CHECK(memcmp(one.sum_all, all[k]->sum_all, sizeof(float)) == 0);
        CHECK(memcmp(one.sum_rows, all[k]->sum_rows, 512 * sizeof(float)) == 0);
        CHECK(memcmp(one.pooled, all[k]->pooled, 256 * 256 * sizeof(float)) == 0);
        CHECK(memcmp(one.product, all[k]->product, N * sizeof(float)) == 0);
        CHECK(memcmp(one.transposed, all[k]->transposed, 512 * 512 * sizeof(float)) == 0);
        CHECK(memcmp(one.cast, all[k]->cast, 512 * 512 * sizeof(float)) == 0);
        CHECK(memcmp(one.argmax, all[k]->argmax, sizeof(int64_t)) == 0);
        /* Below 2^21 multiply-adds a product runs on one OpenBLAS thread whatever the count. */
        CHECK(memcmp(one.gemm_below, all[k]->gemm_below, 127 * 128 * sizeof(float)) == 0);
    }
    /* From 2^21 on OpenBLAS's threads split it, and its rounding may depend on their count: the
     * same count gives the same bits. */
    CHECK(memcmp(two.gemm_at, again.gemm_at, 128 * 128 * sizeof(float)) == 0);
    /* the products against float64 sums (inputs up to ~4e9 in magnitude: relative tolerance on
     * the sum of absolute terms) */
    int gemm_close = 1;
    for (int i = 0; i < 128; i += 9)
        for (int j = 0; j < 128; j += 5) {
            double ref = gemm_reference(x, i, j), scale = 0;
            for (int k = 0; k < 128; k++) scale += fabs((double)x[i * 128 + k] * (double)x[7 + k * 128 + j]);
            float *at_values = one.gemm_at, *below_values = one.gemm_below;
            gemm_close &= fabs(at_values[i * 128 + j] - ref) <= 1e-5 * scale;
            if (i < 127) gemm_close &= fabs(below_values[i * 128 + j] - ref) <= 1e-5 * scale;
        }
    CHECK(gemm_close);
    /* spot checks against values computed here */
    float *product = one.product, *pooled = one.pooled;
    CHECK(product[N - 1] == x[N - 1] * x[N - 1]);
    float best = x[0];
    const int corners[4] = {0, 1, 512, 513}; /* window (0, 0) of [256, 2, 256, 2] */
    for (int k = 0; k < 4; k++) best = x[corners[k]] > best ? x[corners[k]] : best;
    CHECK(pooled[0] == best);

    release_results(&one), release_results(&two), release_results(&again), release_results(&five);
    free(x);
}

/* ---- several host threads computing while the count changes ---- */

typedef struct {
    int failures;
} worker_state;

static void *worker(void *arg) {
    worker_state *state = arg;
    const int64_t shape[1] = {200000};
    sf_tensor *ones = NULL;
    if (sf_ones(shape, 1, SF_FLOAT32, &ones) != SF_OK) {
        state->failures++;
        return NULL;
    }
    for (int i = 0; i < 40; i++) {
        sf_tensor *twice = NULL, *total = NULL;
        float value = 0;
        if (sf_add(ones, ones, &twice) != SF_OK || sf_sum(twice, NULL, 0, false, &total) != SF_OK ||
            sf_tensor_copy_to(total, &value, sizeof value) != SF_OK || value != 400000.0f)
            state->failures++;
        sf_tensor_release(twice), sf_tensor_release(total);
    }
    sf_tensor_release(ones);
    return NULL;
}

/* ---- host threads multiplying at once: small products (one OpenBLAS thread) and large ones (the
 * count) never run on the other's count, so each gives the bits it gives alone ---- */

typedef struct {
    sf_tensor *first, *second, *b;  /* first @ b, then second @ b, each with its expected bytes */
    const float *expect_first, *expect_second;
    size_t n_first, n_second;
    int mismatches;
} gemm_worker;

static int matches(sf_tensor *a, sf_tensor *b, const float *expected, size_t n) {
    sf_tensor *out = NULL;
    if (sf_matmul(a, b, &out) != SF_OK) return 0;
    float *got = malloc(n * sizeof(float));
    int same = sf_tensor_copy_to(out, got, n * sizeof(float)) == SF_OK && memcmp(got, expected, n * sizeof(float)) == 0;
    free(got);
    sf_tensor_release(out);
    return same;
}

static void *gemm_main(void *arg) {
    gemm_worker *w = arg;
    for (int i = 0; i < 30; i++) {
        if (!matches(w->first, w->b, w->expect_first, w->n_first)) w->mismatches++;
        if (!matches(w->second, w->b, w->expect_second, w->n_second)) w->mismatches++;
    }
    return NULL;
}

static void test_products_from_several_threads(void) {
    CHECK_OK(sf_set_num_threads(2));
    float *x = malloc(128 * 135 * sizeof(float));
    for (int i = 0; i < 128 * 135; i++) x[i] = (float)((i * 7919) % 1013) / 97.0f - 5.0f;
    const int64_t below[2] = {127, 128}, at[2] = {128, 128};
    sf_tensor *a_below = from_floats(x, below, 2), *a_at = from_floats(x, at, 2), *b = from_floats(x + 7, at, 2);
    sf_tensor *out = NULL;
    CHECK_OK(sf_matmul(a_below, b, &out));
    float *expect_below = bytes_of(out, 127 * 128, sizeof(float));
    sf_tensor_release(out);
    CHECK_OK(sf_matmul(a_at, b, &out));
    float *expect_at = bytes_of(out, 128 * 128, sizeof(float));
    sf_tensor_release(out);

    enum { WORKERS = 4 };
    pthread_t threads[WORKERS];
    gemm_worker workers[WORKERS];
    for (int k = 0; k < WORKERS; k++) {
        /* half the threads start with the large product, so that the two kinds overlap */
        if (k % 2)
            workers[k] = (gemm_worker){a_at, a_below, b, expect_at, expect_below, 128 * 128, 127 * 128, 0};
        else
            workers[k] = (gemm_worker){a_below, a_at, b, expect_below, expect_at, 127 * 128, 128 * 128, 0};
        CHECK_EQ(pthread_create(&threads[k], NULL, gemm_main, &workers[k]), 0);
    }
    int mismatches = 0;
    for (int k = 0; k < WORKERS; k++) {
        CHECK_EQ(pthread_join(threads[k], NULL), 0);
        mismatches += workers[k].mismatches;
    }
    CHECK_EQ(mismatches, 0);
    free(expect_below), free(expect_at), free(x);
    sf_tensor_release(a_below), sf_tensor_release(a_at), sf_tensor_release(b);
}

static void test_calls_from_several_threads(void) {
    pthread_t threads[3];
    worker_state states[3] = {{0}, {0}, {0}};
    for (int k = 0; k < 3; k++) CHECK_EQ(pthread_create(&threads[k], NULL, worker, &states[k]), 0);
    for (int i = 0; i < 50; i++) CHECK_OK(sf_set_num_threads(1 + i % 4));
    for (int k = 0; k < 3; k++) {
        CHECK_EQ(pthread_join(threads[k], NULL), 0);
        CHECK_EQ(states[k].failures, 0);
    }
}

/* A small product runs on one OpenBLAS thread, but the library leaves OpenBLAS at the configured count
 * between its calls: a host's own GEMMs after ours keep the threads it has. */
static void test_host_blas_count_restored(void) {
    CHECK_OK(sf_set_num_threads(2));
    CHECK_EQ(openblas_count(), 2);
    float x[16] = {0};
    const int64_t shape[2] = {4, 4};
    sf_tensor *a = from_floats(x, shape, 2), *out = NULL;
    CHECK_OK(sf_matmul(a, a, &out)); /* 64 multiply-adds: one thread while it runs */
    CHECK_EQ(openblas_count(), 2);
    CHECK_OK(sf_set_num_threads(3));
    CHECK_EQ(openblas_count(), 3);
    sf_tensor_release(out), sf_tensor_release(a);
}

/* ---- a forked child ---- */

static int task_count(void) {
    DIR *dir = opendir("/proc/self/task");
    if (!dir) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(dir));) n += e->d_name[0] != '.';
    closedir(dir);
    return n;
}

/* What the child checks, as a bit per failure (its own checks do not reach the parent's count). */
static int forked_child_failures(void) {
    alarm(60); /* a hang becomes a failure, not a stuck test */
    int failures = 0;
    if (task_count() != 1) failures |= 1; /* only the forking thread came along */
    static float a[N];
    for (int i = 0; i < N; i++) a[i] = (float)(i % 97) * 0.25f;
    const int64_t shape[1] = {N};
    sf_tensor *x = NULL, *y = NULL;
    if (sf_tensor_from_data(a, SF_FLOAT32, shape, 1, &x) != SF_OK || sf_add(x, x, &y) != SF_OK) return failures | 2;
    float *sum = bytes_of(y, N, sizeof(float));
    for (int i = 0; i < N; i++)
        if (sum[i] != 2 * a[i]) { failures |= 4; break; }
    free(sum);
    /* The add split over the pool: its worker was started again in this process. */
    if (task_count() < 2) failures |= 8;
    /* Convolution work items: GEMMs on the pool's threads, each on one OpenBLAS thread. */
    const int64_t xs[4] = {16, 4, 20, 20}, ws[4] = {8, 4, 3, 3};
    const int64_t one[2] = {1, 1}, zero[2] = {0, 0};
    sf_tensor *images = NULL, *filters = NULL, *conv = NULL;
    if (sf_ones(xs, 4, SF_FLOAT32, &images) != SF_OK || sf_ones(ws, 4, SF_FLOAT32, &filters) != SF_OK ||
        sf_conv2d(images, filters, NULL, one, zero, one, 1, &conv) != SF_OK)
        return failures | 16;
    float *out = bytes_of(conv, 16 * 8 * 18 * 18, sizeof(float));
    for (int i = 0; i < 16 * 8 * 18 * 18; i++)
        if (out[i] != 36.0f) { failures |= 32; break; }
    free(out);
    sf_tensor_release(conv), sf_tensor_release(filters), sf_tensor_release(images);
    sf_tensor_release(y), sf_tensor_release(x);
    return failures;
}

/* ThreadSanitizer cannot follow a multi-threaded process into a forked child that starts threads
 * ("not supported. Dying"): under TSan the fork test is left to the plain and ASan runs. */
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif

/* A child forked after the parent's pool has started its workers (the threads do not follow a
 * fork) gets a pool of its own: its jobs split again, finish, and give the same values. */
static void test_forked_child_has_a_pool(void) {
#ifdef UNDER_TSAN
    printf("fork test: not run under ThreadSanitizer (it cannot follow threads into a forked child)\n");
    return;
#endif
    CHECK_OK(sf_set_num_threads(2));
    static float a[N];
    for (int i = 0; i < N; i++) a[i] = 1.0f;
    const int64_t shape[1] = {N};
    sf_tensor *x = from_floats(a, shape, 1), *y = NULL;
    CHECK_OK(sf_add(x, x, &y)); /* the parent's worker exists now */
    sf_tensor_release(y), sf_tensor_release(x);
    for (int round = 0; round < 3; round++) {
        fflush(stdout), fflush(stderr);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) _exit(forked_child_failures());
        int status = 0;
        CHECK_EQ(waitpid(pid, &status, 0), pid);
        CHECK(WIFEXITED(status));
        CHECK_EQ(WEXITSTATUS(status), 0); /* bits: see forked_child_failures */
    }
}

int main(void) {
    *(void **)&openblas_count = dlsym(RTLD_DEFAULT, "openblas_get_num_threads");
    *(void **)&openblas_set_count = dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
    CHECK(openblas_count != NULL && openblas_set_count != NULL);
    int initial = get_threads(), initial_blas = openblas_count ? openblas_count() : 0;
    test_default_and_range(initial);
    test_same_bits_on_every_thread_count();
    test_calls_from_several_threads();
    test_products_from_several_threads();
    test_host_blas_count_restored();
    test_forked_child_has_a_pool();
    /* As found: the library's count, and OpenBLAS's (which its environment variables may have set). */
    CHECK_OK(sf_set_num_threads(initial));
    CHECK_EQ(get_threads(), initial);
    if (openblas_set_count) openblas_set_count(initial_blas);
    return check_summary();
}
