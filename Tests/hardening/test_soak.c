/* test_soak.c — a long-running process (docs/testing.md, "Soak"): N iterations (100,000 by default;
 * SWIFTFUNC_SOAK_ITERATIONS overrides), each calling
 *   - vmap(grad(f)), f(x) = sum(sin(x) * x), on a batch imported from a C DLPack producer whose
 *     deleter counts its calls (legacy and versioned capsules in turn),
 *   - hessian(g), g(x) = sum(sin(x)) + sum(x)^2,
 *   - grad(sum(softplus(x))) with softplus a custom function (host-kernel forward with a residual
 *     and VJP, sf_custom_function_new),
 *   - and a DLPack export of the per-sample gradients re-imported through a wrapper whose deleter
 *     counts and then calls swiftfunc's own deleter (zero-copy both ways: same data pointer).
 * Every result is compared bitwise with the one computed at the first iteration, which is itself
 * checked against closed forms. Resident memory (/proc/self/statm) is sampled after a warm-up and
 * ten times after; the run fails if it grows by more than RSS_GROWTH_LIMIT after the warm-up, if the
 * pool's bytes in use do not come back to the warm-up's, or if any deleter did not run exactly once.
 *
 * Not in Tests/c: the C suites run again under ASan (whose quarantine and shadow memory make RSS
 * meaningless) and in the CMake consumer; this program runs once, against the release library. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, sysconf under -std=c11 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "check.h"
#include "swiftfunc.h"
#include "tensor_check.h"

enum { BATCH = 8, DIM = 4 };

/* The smallest leak per iteration worth catching is one tensor: a 64-byte aligned block plus the
 * library's objects around it (well over 64 bytes). 100,000 iterations of that leak are >= 6.4 MB,
 * so a 4 MiB bound after the warm-up catches it, while allocator noise (malloc arenas, the thread
 * pool's stacks touched once) stays far below it. Runs of other lengths keep the same bound. */
#define RSS_GROWTH_LIMIT (4.0 * 1024 * 1024)

/* ---- resident memory ------------------------------------------------------------------------ */

static double resident_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (!f) return -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2) resident = -1;
    fclose(f);
    return (double)resident * (double)sysconf(_SC_PAGESIZE);
}

static uint64_t pool_bytes_in_use(void) {
    struct sf_memory_stats stats = SF_MEMORY_STATS_INIT;
    CHECK_OK(sf_memory_stats(&stats));
    return stats.bytes_in_use;
}

/* ---- functions ------------------------------------------------------------------------------ */

/* f(x) = sum(sin(x) * x); grad f = cos(x) x + sin(x). */
static int f_callback(void *ud UNUSED, sf_tensor *const *in, size_t n_in UNUSED, sf_tensor **out,
                      size_t n_out UNUSED) {
    arena a = {0};
    put(&a, out, 0, sum_all(&a, op2(&a, sf_mul, op1(&a, sf_sin, in[0]), in[0])));
    return finish(&a);
}

/* g(x) = sum(sin(x)) + sum(x)^2; its Hessian is diag(-sin x) + 2 (every entry). */
static int g_callback(void *ud UNUSED, sf_tensor *const *in, size_t n_in UNUSED, sf_tensor **out,
                      size_t n_out UNUSED) {
    arena a = {0};
    sf_tensor *total = sum_all(&a, in[0]);
    put(&a, out, 0, op2(&a, sf_add, sum_all(&a, op1(&a, sf_sin, in[0])), op2(&a, sf_mul, total, total)));
    return finish(&a);
}

/* The custom function: softplus with residual sigmoid(x), its VJP g * residual. */
typedef struct {
    long forward_calls, vjp_calls;
    int freed;
} custom_state;

static double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static double sigmoid(double x) { return 1 / (1 + exp(-x)); }
static double times(double a, double b) { return a * b; }

static int softplus_forward(void *ud, sf_tensor *const *in, size_t n_in UNUSED, sf_tensor **out,
                            size_t n_out UNUSED) {
    ((custom_state *)ud)->forward_calls++;
    if (host_map(in[0], NULL, softplus, NULL, &out[0])) return 1;
    return host_map(in[0], NULL, sigmoid, NULL, &out[1]);
}

/* inputs (x, y, residual, cotangent) -> cotangent * residual */
static int softplus_vjp(void *ud, sf_tensor *const *in, size_t n_in UNUSED, sf_tensor **out, size_t n_out UNUSED) {
    ((custom_state *)ud)->vjp_calls++;
    return host_map(in[3], in[2], NULL, times, &out[0]);
}

static void free_custom_state(void *ud) { ((custom_state *)ud)->freed++; }

/* sum(custom(x)), a host function calling the custom one. */
static int custom_loss_callback(void *ud, sf_tensor *const *in, size_t n_in UNUSED, sf_tensor **out,
                                size_t n_out UNUSED) {
    arena a = {0};
    sf_tensor *y = NULL;
    if (keep(&a, sf_call((sf_function *)ud, in, 1, &y, 1), &y) == NULL) return finish(&a);
    put(&a, out, 0, sum_all(&a, y));
    return finish(&a);
}

static sf_function *host_function(sf_callback callback, void *user_data) {
    sf_function *f = NULL;
    CHECK_OK(sf_function_new(callback, user_data, NULL, 1, 1, &f));
    return f;
}

/* ---- DLPack producers with counting deleters ------------------------------------------------- */

static long producer_deleter_calls; /* deleters of C-owned batches */
static long wrapper_deleter_calls;  /* deleters of the wrappers around swiftfunc's exports */
static long deleter_misuse;         /* a deleter called twice on the same object */

typedef struct {
    DLManagedTensor legacy;
    struct DLManagedTensorVersioned versioned;
    int64_t shape[2];
    int deleted;
    double data[BATCH * DIM];
} producer;

static void producer_delete(producer *p) {
    if (p->deleted++) {
        deleter_misuse++;
        return; /* leaked on purpose: a second call must not free twice */
    }
    producer_deleter_calls++;
    free(p);
}

static void legacy_delete(DLManagedTensor *self) { producer_delete(self->manager_ctx); }
static void versioned_delete(struct DLManagedTensorVersioned *self) { producer_delete(self->manager_ctx); }

/* A C-owned [BATCH, DIM] float64 array (row-major, strides NULL or explicit in turn). */
static producer *producer_new(const double *values, int explicit_strides) {
    static int64_t strides[2] = {DIM, 1};
    producer *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    memcpy(p->data, values, sizeof p->data);
    p->shape[0] = BATCH;
    p->shape[1] = DIM;
    DLTensor t = {0};
    t.data = p->data;
    t.device.device_type = kDLCPU;
    t.ndim = 2;
    t.dtype.code = kDLFloat;
    t.dtype.bits = 64;
    t.dtype.lanes = 1;
    t.shape = p->shape;
    t.strides = explicit_strides ? strides : NULL;
    p->legacy.dl_tensor = t;
    p->legacy.manager_ctx = p;
    p->legacy.deleter = legacy_delete;
    p->versioned.version.major = 1;
    p->versioned.dl_tensor = t;
    p->versioned.manager_ctx = p;
    p->versioned.deleter = versioned_delete;
    return p;
}

/* A wrapper around one of swiftfunc's exports: imported back, its deleter counts, then calls
 * swiftfunc's deleter (which releases the exported storage). */
typedef struct {
    DLManagedTensor managed;
    DLManagedTensor *inner;
    int deleted;
} wrapper;

static void wrapper_delete(DLManagedTensor *self) {
    wrapper *w = self->manager_ctx;
    if (w->deleted++) {
        deleter_misuse++;
        return;
    }
    wrapper_deleter_calls++;
    w->inner->deleter(w->inner);
    free(w);
}

/* ---- one iteration ---------------------------------------------------------------------------- */

typedef struct {
    sf_function *per_sample_grads; /* vmap(grad(f)) */
    sf_function *hess;             /* hessian(g) */
    sf_function *custom_grad;      /* grad(sum(softplus(x))) */
    sf_tensor *x;                  /* [DIM], input of hessian and the custom function */
    double batch[BATCH * DIM];
    sf_tensor *reference[3];       /* the first iteration's results */
} soak;

/* Whether two float64 tensors hold the same shape and bits. */
static int identical(sf_tensor *a, sf_tensor *b) {
    int64_t sa[SF_MAX_NDIM], sb[SF_MAX_NDIM], n = 0, m = 0;
    size_t na = 0, nb = 0;
    if (!a || !b || sf_tensor_ndim(a, &na) || sf_tensor_ndim(b, &nb) || na != nb) return 0;
    if (sf_tensor_shape(a, sa, SF_MAX_NDIM) || sf_tensor_shape(b, sb, SF_MAX_NDIM)) return 0;
    if (memcmp(sa, sb, sizeof(int64_t) * na) || sf_tensor_numel(a, &n) || sf_tensor_numel(b, &m) || n != m) return 0;
    double *va = malloc(sizeof(double) * (size_t)n), *vb = malloc(sizeof(double) * (size_t)n);
    int same = va && vb && read64(a, va, n) && read64(b, vb, n) && memcmp(va, vb, sizeof(double) * (size_t)n) == 0;
    free(va);
    free(vb);
    return same;
}

/* One iteration; results[] get new references. Returns 0 on success (failures are recorded). */
static int iterate(soak *s, long i, sf_tensor *results[3]) {
    int failed = 0;
    for (int k = 0; k < 3; k++) results[k] = NULL;

    /* vmap(grad(f)) on a batch imported from a C producer */
    producer *p = producer_new(s->batch, (int)(i & 2));
    sf_tensor *batch = NULL;
    sf_status status = (i & 1) ? sf_from_dlpack_versioned(&p->versioned, &batch) : sf_from_dlpack(&p->legacy, &batch);
    if (status != SF_OK) {
        CHECK_OK(status);
        producer_delete(p);
        return 1;
    }
    failed |= sf_call(s->per_sample_grads, &batch, 1, &results[0], 1) != SF_OK;
    sf_tensor_release(batch); /* results[0] is computed: the producer's memory can go */

    /* the gradients out through DLPack and back in: the same memory, the deleters chained */
    DLManagedTensor *exported = NULL;
    if (!failed && sf_to_dlpack(results[0], &exported) == SF_OK) {
        wrapper *w = calloc(1, sizeof *w);
        if (!w) {
            exported->deleter(exported);
            fprintf(stderr, "iteration %ld: out of memory\n", i);
            return 1;
        }
        w->inner = exported;
        w->managed.dl_tensor = exported->dl_tensor;
        w->managed.manager_ctx = w;
        w->managed.deleter = wrapper_delete;
        sf_tensor *back = NULL;
        if (sf_from_dlpack(&w->managed, &back) != SF_OK) {
            failed = 1;
            wrapper_delete(&w->managed);
        } else {
            DLManagedTensor *again = NULL;
            if (sf_to_dlpack(back, &again) != SF_OK || again->dl_tensor.data != exported->dl_tensor.data ||
                again->dl_tensor.byte_offset != exported->dl_tensor.byte_offset)
                failed = 1; /* not zero-copy */
            if (again) again->deleter(again);
            if (!identical(back, results[0])) failed = 1;
            sf_tensor_release(back);
        }
    } else {
        failed = 1;
    }

    failed |= sf_call(s->hess, &s->x, 1, &results[1], 1) != SF_OK;
    failed |= sf_call(s->custom_grad, &s->x, 1, &results[2], 1) != SF_OK;
    if (failed) fprintf(stderr, "iteration %ld failed: %s\n", i, sf_last_error());
    return failed;
}

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress lines show up as they come, also in a log */
    long iterations = 100000;
    const char *env = getenv("SWIFTFUNC_SOAK_ITERATIONS");
    if (env && *env) iterations = strtol(env, NULL, 10);
    if (iterations < 100) iterations = 100;
    long warmup = iterations / 20 > 1000 ? 1000 : iterations / 20;
    double start = seconds();
    uint64_t pool_start = pool_bytes_in_use();

    soak s = {0};
    double xs[DIM] = {0.3, -1.2, 2.0, 0.7};
    int64_t xshape[1] = {DIM};
    s.x = make64(xs, xshape, 1);
    for (int k = 0; k < BATCH * DIM; k++) s.batch[k] = sin(0.37 * k + 0.1) * 2;

    sf_function *f = host_function(f_callback, NULL);
    sf_function *g = host_function(g_callback, NULL);
    sf_function *grad_f = NULL;
    CHECK_OK(sf_grad(f, NULL, 0, false, &grad_f));
    CHECK_OK(sf_vmap(grad_f, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_ERROR, &s.per_sample_grads));
    CHECK_OK(sf_hessian(g, NULL, 0, &s.hess));

    custom_state cs = {0};
    sf_custom_function_desc desc = SF_CUSTOM_FUNCTION_DESC_INIT;
    desc.name = "softplus";
    desc.n_inputs = 1;
    desc.n_outputs = 1;
    desc.n_residuals = 1;
    desc.forward = softplus_forward;
    desc.vjp = softplus_vjp;
    desc.user_data = &cs;
    desc.free_user_data = free_custom_state;
    sf_function *custom = custom_function(&desc);
    sf_function *custom_loss = host_function(custom_loss_callback, custom);
    CHECK_OK(sf_grad(custom_loss, NULL, 0, false, &s.custom_grad));
    RELEASE_FUNCTIONS(f, g, grad_f, custom_loss); /* the transforms keep what they need */
    if (check_failed_count) return check_summary();

    /* The first iteration is the reference, checked against closed forms. */
    CHECK(iterate(&s, 0, s.reference) == 0);
    if (check_failed_count) return check_summary();
    double expected_grads[BATCH * DIM], expected_hess[DIM * DIM], expected_custom[DIM];
    for (int k = 0; k < BATCH * DIM; k++) expected_grads[k] = cos(s.batch[k]) * s.batch[k] + sin(s.batch[k]);
    for (int a = 0; a < DIM; a++)
        for (int b = 0; b < DIM; b++) expected_hess[a * DIM + b] = 2 + (a == b ? -sin(xs[a]) : 0);
    for (int a = 0; a < DIM; a++) expected_custom[a] = sigmoid(xs[a]);
    int64_t gshape[2] = {BATCH, DIM}, hshape[2] = {DIM, DIM};
    CHECK_TENSOR(s.reference[0], gshape, 2, expected_grads, 1e-12);
    CHECK_TENSOR(s.reference[1], hshape, 2, expected_hess, 1e-12);
    CHECK_TENSOR(s.reference[2], xshape, 1, expected_custom, 1e-12);

    double rss_warm = 0, rss_max = 0, rss_end = 0;
    uint64_t pool_warm = 0;
    long mismatches = 0, failures = 0;
    printf("soak: %ld iterations (vmap(grad), hessian, custom-function grad, DLPack import and export "
           "round trip each), warm-up %ld\n", iterations, warmup);
    for (long i = 1; i <= iterations && failures < 10; i++) {
        sf_tensor *results[3];
        if (iterate(&s, i, results)) failures++;
        for (int k = 0; k < 3; k++) {
            if (!identical(results[k], s.reference[k])) mismatches++;
            sf_tensor_release(results[k]);
        }
        if (i == warmup) {
            rss_warm = rss_max = resident_bytes();
            pool_warm = pool_bytes_in_use();
            printf("  after warm-up (%ld): RSS %.1f MiB, pool bytes in use %llu\n", i, rss_warm / 1048576,
                   (unsigned long long)pool_warm);
        } else if (i > warmup && (i - warmup) % ((iterations - warmup) / 10 > 0 ? (iterations - warmup) / 10 : 1) == 0) {
            double rss = resident_bytes();
            if (rss > rss_max) rss_max = rss;
            printf("  %7ld: RSS %.1f MiB (%+.0f KiB since warm-up), %.1f s\n", i, rss / 1048576,
                   (rss - rss_warm) / 1024, seconds() - start);
        }
    }
    rss_end = resident_bytes();
    if (rss_end > rss_max) rss_max = rss_end;
    uint64_t pool_end = pool_bytes_in_use();

    CHECK_EQ(failures, 0);
    CHECK_EQ(mismatches, 0);
    /* one producer per iteration, one export wrapper per iteration, each deleted exactly once */
    CHECK_EQ(producer_deleter_calls, iterations + 1);
    CHECK_EQ(wrapper_deleter_calls, iterations + 1);
    CHECK_EQ(deleter_misuse, 0);
    CHECK_EQ(pool_end, pool_warm);
    CHECK(rss_warm > 0);
    if (!CHECK(rss_max - rss_warm <= RSS_GROWTH_LIMIT))
        fprintf(stderr, "    RSS grew by %.0f KiB after the warm-up (limit %.0f KiB)\n", (rss_max - rss_warm) / 1024,
                RSS_GROWTH_LIMIT / 1024);
    /* the custom function ran forward and VJP once per call */
    CHECK_EQ(cs.forward_calls, iterations + 1);
    CHECK_EQ(cs.vjp_calls, iterations + 1);

    RELEASE_TENSORS(s.reference[0], s.reference[1], s.reference[2], s.x);
    RELEASE_FUNCTIONS(s.per_sample_grads, s.hess, s.custom_grad, custom);
    CHECK_EQ(cs.freed, 1);
    CHECK_EQ(pool_bytes_in_use(), pool_start);
    printf("soak: RSS %.1f MiB after warm-up, %.1f MiB at the end (max growth %+.0f KiB, limit %.0f KiB); "
           "%ld + %ld deleters ran once each; %.1f s\n",
           rss_warm / 1048576, rss_end / 1048576, (rss_max - rss_warm) / 1024, RSS_GROWTH_LIMIT / 1024,
           producer_deleter_calls, wrapper_deleter_calls, seconds() - start);
    return check_summary();
}
