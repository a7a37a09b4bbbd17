/* test_allocation_failures.c — allocation-failure injection (docs/testing.md, "Allocation-failure
 * injection"). Built against the AddressSanitizer library of `make asan-lib`, which is compiled with
 * -DSWIFTFUNC_TESTING and so exports the test-only hooks declared below (not in swiftfunc.h, not
 * named sf_; the release library has none of them).
 *
 * For each representative call (ops, transforms, a custom function, DLPack, jit, export/import) the
 * sweep first counts the tensor allocations N the call makes, then for every k in 1..N makes
 * allocation k fail and checks: the call returns SF_ERR_OUT_OF_MEMORY (SF_ERR_CALLBACK when the
 * failure hit an sf_ op inside a host callback, which forwards it — the header's contract for
 * callbacks), or succeeds with the reference result when the failure was absorbed; sf_last_error()
 * names an sf_ function and the injected failure; every out handle is NULL; no interpreter is left
 * installed; the bytes in use return to where they were; and the same call afterwards succeeds with
 * the reference result. Host user data and DLPack producers are counted: each is freed exactly once.
 * LeakSanitizer (ASAN_OPTIONS=detect_leaks=1) checks at exit that nothing leaked. (Huge requests,
 * which fail for real and need no hook, are checked by Tests/c/test_memory.c, a C suite.)
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "check.h"
#include "swiftfunc.h"
#include "tensor_check.h"

/* The test-only hooks of the -DSWIFTFUNC_TESTING library (Sources/SwiftFunc/ExportsAllocationTesting.swift). */
void swiftfunc_testing_fail_allocation(int64_t n);
int64_t swiftfunc_testing_allocation_count(void);
int64_t swiftfunc_testing_interpreter_depth(void);

#define INJECTED "(injected failure)"
#define MAX_OUTS 4

/* ------------------------------------------------------------------------------------------------
 * Host-side bookkeeping: user data, DLPack producers, callback failures
 * ---------------------------------------------------------------------------------------------- */

static int user_data_made, user_data_freed;
static int producers_made, producers_freed;
/* Callbacks that returned nonzero because an sf_ op inside them failed (the injected failure). */
static int callback_failures;
/* The deepest interpreter stack a callback saw (shows that the depth hook works). */
static int64_t deepest_in_callback;

/* User data of host functions: what they close over, released exactly once by free_holder. */
typedef struct holder {
    sf_function *fn; /* a function the callback calls (or NULL) */
    sf_tensor *t;    /* a tensor the callback closes over (or NULL) */
} holder;

static holder *new_holder(sf_function *fn, sf_tensor *t) {
    holder *h = calloc(1, sizeof *h);
    h->fn = fn;
    h->t = t;
    user_data_made++;
    return h;
}

static void free_holder(void *p) {
    holder *h = p;
    user_data_freed++;
    sf_function_release(h->fn);
    sf_tensor_release(h->t);
    free(h);
}

/* The arena's result, noting a failure and the interpreter depth seen inside the callback. */
static int done(arena *a) {
    int64_t depth = swiftfunc_testing_interpreter_depth();
    if (depth > deepest_in_callback) deepest_in_callback = depth;
    int rc = finish(a);
    if (rc) callback_failures++;
    return rc;
}

static sf_tensor *scalar(arena *a, double v) {
    sf_tensor *r = NULL;
    if (a->failed) return NULL;
    return keep(a, sf_scalar(v, &r), &r);
}

static sf_tensor *matmul(arena *a, sf_tensor *x, sf_tensor *y) { return op2(a, sf_matmul, x, y); }

/* ------------------------------------------------------------------------------------------------
 * The host functions
 * ---------------------------------------------------------------------------------------------- */

/* f(x) = sum(sin(x) * x): grad cos(x) x + sin(x), hessian diag(2 cos(x) - x sin(x)). */
static int f_sin_x(void *user_data, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)user_data, (void)n_in, (void)n_out;
    arena a = {0};
    put(&a, out, 0, sum_all(&a, op2(&a, sf_mul, op1(&a, sf_sin, in[0]), in[0])));
    return done(&a);
}

/* g(x) = sin(x) * sum(x): d g_i / d x_j = [i == j] cos(x_i) sum(x) + sin(x_i). */
static int g_sin_sum(void *user_data, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)user_data, (void)n_in, (void)n_out;
    arena a = {0};
    put(&a, out, 0, op2(&a, sf_mul, op1(&a, sf_sin, in[0]), sum_all(&a, in[0])));
    return done(&a);
}

/* j(x, w) = tanh(x @ w) + x @ w. */
static int j_tanh_mm(void *user_data, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)user_data, (void)n_in, (void)n_out;
    arena a = {0};
    sf_tensor *xw = matmul(&a, in[0], in[1]);
    put(&a, out, 0, op2(&a, sf_add, op1(&a, sf_tanh, xw), xw));
    return done(&a);
}

/* e(x) = tanh(x @ W), W closed over (a constant of the export). */
static int e_tanh_w(void *user_data, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)n_in, (void)n_out;
    holder *h = user_data;
    arena a = {0};
    put(&a, out, 0, op1(&a, sf_tanh, matmul(&a, in[0], h->t)));
    return done(&a);
}

/* The custom function cube: forward x -> x^3 with residual x^2; vjp ct -> 3 r ct. */
static int cube_forward(void *user_data, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)user_data, (void)n_in, (void)n_out;
    arena a = {0};
    sf_tensor *square = op2(&a, sf_mul, in[0], in[0]);
    put(&a, out, 0, op2(&a, sf_mul, square, in[0]));
    put(&a, out, 1, square);
    return done(&a);
}

static int cube_vjp(void *user_data, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)user_data, (void)n_in, (void)n_out;
    /* in: x, y, r, ct */
    arena a = {0};
    put(&a, out, 0, op2(&a, sf_mul, op2(&a, sf_mul, in[3], in[2]), scalar(&a, 3)));
    return done(&a);
}

/* h(x) = sum(cube(x)): grad 3 x^2. */
static int h_sum_cube(void *user_data, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)n_in, (void)n_out;
    holder *hold = user_data;
    arena a = {0};
    sf_tensor *y = NULL;
    sf_tensor *cubed = keep(&a, sf_call(hold->fn, in, 1, &y, 1), &y);
    put(&a, out, 0, sum_all(&a, cubed));
    return done(&a);
}

static sf_function *host_function(sf_callback cb, holder *h, size_t n_in) {
    sf_function *f = NULL;
    CHECK_OK(sf_function_new(cb, h ? (void *)h : (void *)new_holder(NULL, NULL), free_holder, n_in, 1, &f));
    return f;
}

static sf_function *new_cube(void) {
    sf_custom_function_desc desc = SF_CUSTOM_FUNCTION_DESC_INIT;
    desc.name = "cube";
    desc.n_inputs = 1;
    desc.n_outputs = 1;
    desc.n_residuals = 1;
    desc.forward = cube_forward;
    desc.vjp = cube_vjp;
    desc.user_data = new_holder(NULL, NULL);
    desc.free_user_data = free_holder;
    return custom_function(&desc);
}

/* ------------------------------------------------------------------------------------------------
 * A C-owned DLPack producer (legacy), counting its deleter calls; `shift` bytes past a 64-byte
 * aligned block, so a shift of 4 makes float64 data misaligned (imported by copying).
 * ---------------------------------------------------------------------------------------------- */

typedef struct producer {
    DLManagedTensor managed;
    int64_t shape[2];
    unsigned char *block;
} producer;

static void producer_deleter(DLManagedTensor *self) {
    producer *p = self->manager_ctx;
    producers_freed++;
    free(p->block);
    free(p);
}

static DLManagedTensor *produce(const double *values, int64_t rows, int64_t cols, size_t shift) {
    producer *p = calloc(1, sizeof *p);
    size_t bytes = sizeof(double) * (size_t)(rows * cols);
    p->block = aligned_alloc(64, (shift + bytes + 63) / 64 * 64);
    memcpy(p->block + shift, values, bytes);
    p->shape[0] = rows;
    p->shape[1] = cols;
    p->managed.dl_tensor.data = p->block + shift;
    p->managed.dl_tensor.device.device_type = kDLCPU;
    p->managed.dl_tensor.ndim = 2;
    p->managed.dl_tensor.dtype.code = kDLFloat;
    p->managed.dl_tensor.dtype.bits = 64;
    p->managed.dl_tensor.dtype.lanes = 1;
    p->managed.dl_tensor.shape = p->shape;
    p->managed.manager_ctx = p;
    p->managed.deleter = producer_deleter;
    producers_made++;
    return &p->managed;
}

/* ------------------------------------------------------------------------------------------------
 * The cases: a context made before the call (not swept), the call swept, and an independent
 * check of the reference result
 * ---------------------------------------------------------------------------------------------- */

typedef struct context {
    sf_function *fn;   /* the function called */
    sf_tensor *in[2];  /* its inputs */
    size_t n_in;
    const double *host; /* host data (DLPack cases) */
    int64_t rows, cols;
} context;

typedef struct sweep_case {
    const char *name;
    const char *called;  /* the sf_ function the failing call's message must start with; NULL: any sf_ */
    size_t n_outs;
    void (*setup)(context *c);
    sf_status (*run)(context *c, sf_tensor **outs); /* the call swept; on failure every out NULL */
    void (*check)(context *c, sf_tensor **outs);     /* the reference against a closed form */
} sweep_case;

static void release_context(context *c) {
    sf_function_release(c->fn);
    for (size_t i = 0; i < c->n_in; i++) sf_tensor_release(c->in[i]);
    memset(c, 0, sizeof *c);
}

/* Deterministic inputs: x[i] = 0.3 + 0.1 i - 0.05 (i % 7) (scaled). */
static double value_at(int64_t i, double scale) { return scale * (0.3 + 0.1 * (double)(i % 13) - 0.05 * (double)(i % 7)); }

static sf_tensor *input(int64_t rows, int64_t cols, double scale) {
    int64_t n = rows * cols;
    double *v = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++) v[i] = value_at(i, scale);
    sf_tensor *t = make64(v, (int64_t[]){rows, cols}, 2);
    free(v);
    return t;
}

static sf_tensor *vector(int64_t n, double scale) {
    double *v = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++) v[i] = value_at(i, scale);
    sf_tensor *t = make64(v, (int64_t[]){n}, 1);
    free(v);
    return t;
}

static sf_status call1(context *c, sf_tensor **outs) { return sf_call(c->fn, c->in, c->n_in, outs, 1); }

/* A multi-step run failing before the step that writes `outs`: the outputs are none. */
static sf_status failed_early(sf_status status, sf_tensor **outs, size_t n) {
    for (size_t i = 0; i < n; i++) outs[i] = NULL;
    return status;
}

/* An intermediate out handle preset to GARBAGE must be NULL after its call failed. */
static void check_null_after_failure(const void *handle, const char *call) {
    if (handle != NULL) {
        check_record(0, __FILE__, __LINE__, call);
        fprintf(stderr, "    %s failed but left its out handle set\n", call);
    }
}

/* Host matmul (+ tanh / + identity) as the independent reference. */
static double *host_matmul(sf_tensor *x, sf_tensor *w, int64_t m, int64_t k, int64_t n) {
    double *a = malloc(sizeof(double) * (size_t)(m * k)), *b = malloc(sizeof(double) * (size_t)(k * n));
    double *r = calloc((size_t)(m * n), sizeof(double));
    if (read64(x, a, m * k) && read64(w, b, k * n)) {
        for (int64_t i = 0; i < m; i++)
            for (int64_t l = 0; l < k; l++)
                for (int64_t j = 0; j < n; j++) r[i * n + j] += a[i * k + l] * b[l * n + j];
    }
    free(a);
    free(b);
    return r;
}

/* -- matmul: a 128x256 @ 256x1024 float64 result is 1 MiB, a block of the size-classed cache -- */
static void setup_matmul(context *c) {
    c->in[0] = input(128, 256, 1);
    c->in[1] = input(256, 1024, 0.5);
    c->n_in = 2;
}
static sf_status run_matmul(context *c, sf_tensor **outs) { return sf_matmul(c->in[0], c->in[1], &outs[0]); }
static void check_matmul(context *c, sf_tensor **outs) {
    double *r = host_matmul(c->in[0], c->in[1], 128, 256, 1024);
    CHECK_TENSOR(outs[0], ((int64_t[]){128, 1024}), 2, r, 1e-12);
    free(r);
}

/* -- reductions: sum over a dim, and softmax (a composite of several ops) -- */
static void setup_rows(context *c) {
    c->in[0] = input(64, 300, 2);
    c->n_in = 1;
}
static sf_status run_sum(context *c, sf_tensor **outs) {
    return sf_sum(c->in[0], (int64_t[]){1}, 1, true, &outs[0]);
}
static void check_sum(context *c, sf_tensor **outs) {
    double x[64 * 300], r[64] = {0};
    if (!read64(c->in[0], x, 64 * 300)) return;
    for (int i = 0; i < 64; i++)
        for (int j = 0; j < 300; j++) r[i] += x[i * 300 + j];
    CHECK_TENSOR(outs[0], ((int64_t[]){64, 1}), 2, r, 1e-12);
}
static sf_status run_softmax(context *c, sf_tensor **outs) { return sf_softmax(c->in[0], 1, &outs[0]); }
static void check_softmax(context *c, sf_tensor **outs) {
    static double x[64 * 300], r[64 * 300];
    if (!read64(c->in[0], x, 64 * 300)) return;
    for (int i = 0; i < 64; i++) {
        double total = 0;
        for (int j = 0; j < 300; j++) total += exp(x[i * 300 + j]);
        for (int j = 0; j < 300; j++) r[i * 300 + j] = exp(x[i * 300 + j]) / total;
    }
    CHECK_TENSOR(outs[0], ((int64_t[]){64, 300}), 2, r, 1e-12);
}

/* -- grad, vmap(grad), hessian of f(x) = sum(sin(x) x); jacrev of g with chunks -- */
#define N_VEC 6
static void setup_grad(context *c) {
    sf_function *f = host_function(f_sin_x, NULL, 1);
    CHECK_OK(sf_grad(f, NULL, 0, false, &c->fn));
    sf_function_release(f);
    c->in[0] = vector(N_VEC, 3);
    c->n_in = 1;
}
static void expected_grad(const double *x, double *r, int n) {
    for (int i = 0; i < n; i++) r[i] = cos(x[i]) * x[i] + sin(x[i]);
}
static void check_grad(context *c, sf_tensor **outs) {
    double x[N_VEC], r[N_VEC];
    if (!read64(c->in[0], x, N_VEC)) return;
    expected_grad(x, r, N_VEC);
    CHECK_TENSOR(outs[0], ((int64_t[]){N_VEC}), 1, r, 1e-12);
}

static void setup_vmap_grad(context *c) {
    sf_function *f = host_function(f_sin_x, NULL, 1), *g = NULL;
    CHECK_OK(sf_grad(f, NULL, 0, false, &g));
    CHECK_OK(sf_vmap(g, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_ERROR, &c->fn));
    RELEASE_FUNCTIONS(f, g);
    c->in[0] = input(5, N_VEC, 2);
    c->n_in = 1;
}
static void check_vmap_grad(context *c, sf_tensor **outs) {
    double x[5 * N_VEC], r[5 * N_VEC];
    if (!read64(c->in[0], x, 5 * N_VEC)) return;
    expected_grad(x, r, 5 * N_VEC);
    CHECK_TENSOR(outs[0], ((int64_t[]){5, N_VEC}), 2, r, 1e-12);
}

static void setup_hessian(context *c) {
    sf_function *f = host_function(f_sin_x, NULL, 1);
    CHECK_OK(sf_hessian(f, NULL, 0, &c->fn));
    sf_function_release(f);
    c->in[0] = vector(N_VEC, 3);
    c->n_in = 1;
}
static void check_hessian(context *c, sf_tensor **outs) {
    double x[N_VEC], r[N_VEC * N_VEC] = {0};
    if (!read64(c->in[0], x, N_VEC)) return;
    for (int i = 0; i < N_VEC; i++) r[i * N_VEC + i] = 2 * cos(x[i]) - x[i] * sin(x[i]);
    CHECK_TENSOR(outs[0], ((int64_t[]){N_VEC, N_VEC}), 2, r, 1e-12);
}

static void setup_jacrev(context *c) {
    sf_function *g = host_function(g_sin_sum, NULL, 1);
    CHECK_OK(sf_jacrev(g, NULL, 0, false, 4, &c->fn)); /* 6 rows in chunks of 4: two chunks */
    sf_function_release(g);
    c->in[0] = vector(N_VEC, 3);
    c->n_in = 1;
}
static void check_jacrev(context *c, sf_tensor **outs) {
    double x[N_VEC], r[N_VEC * N_VEC], total = 0;
    if (!read64(c->in[0], x, N_VEC)) return;
    for (int i = 0; i < N_VEC; i++) total += x[i];
    for (int i = 0; i < N_VEC; i++)
        for (int j = 0; j < N_VEC; j++) r[i * N_VEC + j] = (i == j ? cos(x[i]) * total : 0) + sin(x[i]);
    CHECK_TENSOR(outs[0], ((int64_t[]){N_VEC, N_VEC}), 2, r, 1e-12);
}

/* -- vjp: the outputs and the pullback at once, then the pullback called (both swept) -- */
static void setup_vjp(context *c) {
    c->fn = host_function(f_sin_x, NULL, 1);
    c->in[0] = vector(N_VEC, 3);
    c->n_in = 1;
}
static sf_status run_vjp(context *c, sf_tensor **outs) {
    sf_function *pullback = GARBAGE;
    outs[0] = GARBAGE;
    outs[1] = NULL;
    sf_status s = sf_vjp(c->fn, c->in, 1, &outs[0], 1, &pullback);
    if (s != SF_OK) {
        check_null_after_failure(pullback, "sf_vjp (vjp_fn)");
        return failed_early(s, outs + 1, 1);
    }
    sf_tensor *one = NULL;
    s = sf_scalar(1, &one);
    if (s == SF_OK) s = sf_call(pullback, &one, 1, &outs[1], 1);
    sf_tensor_release(one);
    sf_function_release(pullback);
    if (s != SF_OK) { /* the first output is this call's own: released, so the failed run leaves none */
        sf_tensor_release(outs[0]);
        outs[0] = NULL;
    }
    return s;
}
static void check_vjp(context *c, sf_tensor **outs) {
    double x[N_VEC], r[N_VEC], value = 0;
    if (!read64(c->in[0], x, N_VEC)) return;
    for (int i = 0; i < N_VEC; i++) value += sin(x[i]) * x[i];
    CHECK_SCALAR(outs[0], value, 1e-12);
    expected_grad(x, r, N_VEC);
    CHECK_TENSOR(outs[1], ((int64_t[]){N_VEC}), 1, r, 1e-12);
}

/* -- a custom function: grad of sum(cube(x)) (its forward and VJP callbacks), and vmap of cube
 *    (no batching rule: the loop) -- */
static void setup_custom_grad(context *c) {
    sf_function *h = host_function(h_sum_cube, new_holder(new_cube(), NULL), 1);
    CHECK_OK(sf_grad(h, NULL, 0, false, &c->fn));
    sf_function_release(h);
    c->in[0] = vector(N_VEC, 3);
    c->n_in = 1;
}
static void check_custom_grad(context *c, sf_tensor **outs) {
    double x[N_VEC], r[N_VEC];
    if (!read64(c->in[0], x, N_VEC)) return;
    for (int i = 0; i < N_VEC; i++) r[i] = 3 * x[i] * x[i];
    CHECK_TENSOR(outs[0], ((int64_t[]){N_VEC}), 1, r, 1e-12);
}
static void setup_custom_vmap(context *c) {
    sf_function *cube = new_cube();
    CHECK_OK(sf_vmap(cube, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_ERROR, &c->fn));
    sf_function_release(cube);
    c->in[0] = input(3, N_VEC, 2);
    c->n_in = 1;
}
static void check_custom_vmap(context *c, sf_tensor **outs) {
    double x[3 * N_VEC], r[3 * N_VEC];
    if (!read64(c->in[0], x, 3 * N_VEC)) return;
    for (int i = 0; i < 3 * N_VEC; i++) r[i] = x[i] * x[i] * x[i];
    CHECK_TENSOR(outs[0], ((int64_t[]){3, N_VEC}), 2, r, 1e-12);
}

/* -- DLPack: import of misaligned data (copied during the import) and an op on it; import of
 *    aligned data (zero-copy), an op, its export and the export imported again -- */
static const double DL_DATA[12] = {0.5, -1, 2, 0.25, 3, -0.75, 1.5, 0, -2, 1, 0.125, 4};
static void setup_dlpack(context *c) {
    c->host = DL_DATA;
    c->rows = 3;
    c->cols = 4;
}
static sf_status run_dlpack_misaligned(context *c, sf_tensor **outs) {
    DLManagedTensor *m = produce(c->host, c->rows, c->cols, 4);
    sf_tensor *t = GARBAGE;
    sf_status s = sf_from_dlpack(m, &t);
    if (s != SF_OK) {
        check_null_after_failure(t, "sf_from_dlpack");
        m->deleter(m); /* ownership stays with the caller on failure */
        return failed_early(s, outs, 1);
    }
    s = sf_exp(t, &outs[0]);
    sf_tensor_release(t);
    return s;
}
static sf_status run_dlpack_roundtrip(context *c, sf_tensor **outs) {
    DLManagedTensor *m = produce(c->host, c->rows, c->cols, 0);
    sf_tensor *t = GARBAGE, *y = GARBAGE;
    sf_status s = sf_from_dlpack(m, &t);
    if (s != SF_OK) {
        check_null_after_failure(t, "sf_from_dlpack");
        m->deleter(m);
        return failed_early(s, outs, 1);
    }
    s = sf_exp(t, &y);
    sf_tensor_release(t);
    if (s != SF_OK) {
        check_null_after_failure(y, "sf_exp");
        return failed_early(s, outs, 1);
    }
    struct DLManagedTensorVersioned *exported = GARBAGE;
    s = sf_to_dlpack_versioned(y, &exported);
    sf_tensor_release(y);
    if (s != SF_OK) {
        check_null_after_failure(exported, "sf_to_dlpack_versioned");
        return failed_early(s, outs, 1);
    }
    s = sf_from_dlpack_versioned(exported, &outs[0]);
    if (s != SF_OK) exported->deleter(exported);
    return s;
}
static void check_dlpack(context *c, sf_tensor **outs) {
    double r[12];
    for (int i = 0; i < 12; i++) r[i] = exp(c->host[i]);
    CHECK_TENSOR(outs[0], ((int64_t[]){3, 4}), 2, r, 1e-15);
}

/* -- jit: the first call (traces; a fresh jitted function each time), and a replay -- */
static void setup_jit(context *c) {
    sf_function *j = host_function(j_tanh_mm, NULL, 2);
    CHECK_OK(sf_jit(j, &c->fn));
    sf_function_release(j);
    c->in[0] = input(4, 3, 1);
    c->in[1] = input(3, 5, 0.7);
    c->n_in = 2;
}
static void setup_jit_warm(context *c) {
    setup_jit(c);
    sf_tensor *out = NULL;
    CHECK_OK(call1(c, &out));
    sf_tensor_release(out);
}
static void check_jit(context *c, sf_tensor **outs) {
    double *r = host_matmul(c->in[0], c->in[1], 4, 3, 5);
    for (int i = 0; i < 20; i++) r[i] = tanh(r[i]) + r[i];
    CHECK_TENSOR(outs[0], ((int64_t[]){4, 5}), 2, r, 1e-12);
    free(r);
}

/* -- export to bytes, import, call the import -- */
static void setup_export(context *c) {
    c->fn = host_function(e_tanh_w, new_holder(NULL, input(3, 5, 0.7)), 1);
    c->in[0] = input(4, 3, 1);
    c->n_in = 1;
}
static sf_status run_export(context *c, sf_tensor **outs) {
    void *bytes = GARBAGE;
    size_t size = 0;
    sf_status s = sf_function_export(c->fn, c->in, 1, &bytes, &size);
    if (s != SF_OK) {
        check_null_after_failure(bytes, "sf_function_export");
        return failed_early(s, outs, 1);
    }
    sf_function *imported = GARBAGE;
    s = sf_function_import(bytes, size, &imported);
    sf_bytes_free(bytes);
    if (s != SF_OK) {
        check_null_after_failure(imported, "sf_function_import");
        return failed_early(s, outs, 1);
    }
    s = sf_call(imported, c->in, 1, outs, 1);
    sf_function_release(imported);
    return s;
}
static void check_export(context *c, sf_tensor **outs) {
    sf_tensor *w = input(3, 5, 0.7);
    double *r = host_matmul(c->in[0], w, 4, 3, 5);
    sf_tensor_release(w);
    for (int i = 0; i < 20; i++) r[i] = tanh(r[i]);
    CHECK_TENSOR(outs[0], ((int64_t[]){4, 5}), 2, r, 1e-12);
    free(r);
}

/* -- more ops: a solve (LAPACK with scratch copies), eigh (two results), sort (values and int64
 *    indices), conv2d, einsum, layer_norm -- */
#define N_LA 5
static void setup_linalg(context *c) {
    double a[N_LA * N_LA];
    for (int i = 0; i < N_LA; i++)
        for (int j = 0; j < N_LA; j++) a[i * N_LA + j] = i == j ? 4 + i : 0.3 * value_at(i + j, 1); /* symmetric */
    c->in[0] = make64(a, (int64_t[]){N_LA, N_LA}, 2);
    c->in[1] = input(N_LA, 3, 1);
    c->n_in = 2;
}
static sf_status run_solve(context *c, sf_tensor **outs) { return sf_linalg_solve(c->in[0], c->in[1], true, &outs[0]); }
static void check_solve(context *c, sf_tensor **outs) {
    double *ax = host_matmul(c->in[0], outs[0], N_LA, N_LA, 3), b[N_LA * 3];
    if (read64(c->in[1], b, N_LA * 3)) {
        sf_tensor *t = make64(ax, (int64_t[]){N_LA, 3}, 2);
        CHECK_TENSOR(t, ((int64_t[]){N_LA, 3}), 2, b, 1e-12); /* A X = B */
        sf_tensor_release(t);
    }
    free(ax);
}
static sf_status run_eigh(context *c, sf_tensor **outs) { return sf_linalg_eigh(c->in[0], false, &outs[0], &outs[1]); }
static void check_eigh(context *c, sf_tensor **outs) {
    double a[N_LA * N_LA], w[N_LA], v[N_LA * N_LA];
    if (!read64(c->in[0], a, N_LA * N_LA) || !read64(outs[0], w, N_LA) || !read64(outs[1], v, N_LA * N_LA)) {
        check_record(0, __FILE__, __LINE__, "eigh results readable");
        return;
    }
    double worst = 0; /* |A v_k - w_k v_k| for each column k */
    for (int k = 0; k < N_LA; k++)
        for (int i = 0; i < N_LA; i++) {
            double av = 0;
            for (int j = 0; j < N_LA; j++) av += a[i * N_LA + j] * v[j * N_LA + k];
            worst = fmax(worst, fabs(av - w[k] * v[i * N_LA + k]));
        }
    CHECK(worst < 1e-12);
}
static void setup_sort(context *c) {
    c->in[0] = input(4, 50, 3);
    c->n_in = 1;
}
static sf_status run_sort(context *c, sf_tensor **outs) { return sf_sort(c->in[0], 1, true, &outs[0], &outs[1]); }
static void check_sort(context *c, sf_tensor **outs) {
    double x[200], v[200];
    int64_t idx[200];
    if (!read64(c->in[0], x, 200) || !read64(outs[0], v, 200) ||
        sf_tensor_copy_to(outs[1], idx, sizeof idx) != SF_OK) {
        check_record(0, __FILE__, __LINE__, "sort results readable");
        return;
    }
    int ok = 1;
    for (int r = 0; r < 4; r++)
        for (int j = 0; j < 50; j++) {
            ok = ok && idx[r * 50 + j] >= 0 && idx[r * 50 + j] < 50 && v[r * 50 + j] == x[r * 50 + idx[r * 50 + j]];
            ok = ok && (j == 0 || v[r * 50 + j - 1] >= v[r * 50 + j]);
        }
    CHECK(ok);
}
static void setup_conv(context *c) {
    c->in[0] = input(2, 3 * 8 * 8, 1);
    sf_tensor *x = c->in[0];
    CHECK_OK(sf_reshape(x, (int64_t[]){2, 3, 8, 8}, 4, &c->in[0]));
    sf_tensor_release(x);
    c->in[1] = input(4, 3 * 3 * 3, 0.5);
    sf_tensor *w = c->in[1];
    CHECK_OK(sf_reshape(w, (int64_t[]){4, 3, 3, 3}, 4, &c->in[1]));
    sf_tensor_release(w);
    c->n_in = 2;
}
static sf_status run_conv(context *c, sf_tensor **outs) {
    return sf_conv2d(c->in[0], c->in[1], NULL, (int64_t[]){1, 1}, (int64_t[]){1, 1}, (int64_t[]){1, 1}, 1, &outs[0]);
}
static void check_conv(context *c, sf_tensor **outs) {
    static double x[2 * 3 * 8 * 8], w[4 * 3 * 3 * 3], r[2 * 4 * 8 * 8];
    if (!read64(c->in[0], x, COUNT(x)) || !read64(c->in[1], w, COUNT(w))) return;
    for (int n = 0; n < 2; n++)
        for (int o = 0; o < 4; o++)
            for (int i = 0; i < 8; i++)
                for (int j = 0; j < 8; j++) {
                    double total = 0;
                    for (int ch = 0; ch < 3; ch++)
                        for (int di = 0; di < 3; di++)
                            for (int dj = 0; dj < 3; dj++) {
                                int y = i + di - 1, z = j + dj - 1;
                                if (y < 0 || y >= 8 || z < 0 || z >= 8) continue;
                                total += x[((n * 3 + ch) * 8 + y) * 8 + z] * w[((o * 3 + ch) * 3 + di) * 3 + dj];
                            }
                    r[((n * 4 + o) * 8 + i) * 8 + j] = total;
                }
    CHECK_TENSOR(outs[0], ((int64_t[]){2, 4, 8, 8}), 4, r, 1e-12);
}
static void setup_einsum(context *c) {
    c->in[0] = input(3, 4 * 5, 1);
    sf_tensor *a = c->in[0];
    CHECK_OK(sf_reshape(a, (int64_t[]){3, 4, 5}, 3, &c->in[0]));
    sf_tensor_release(a);
    c->in[1] = input(5, 2, 0.5);
    c->n_in = 2;
}
static sf_status run_einsum(context *c, sf_tensor **outs) { return sf_einsum("bij,jk->bki", c->in, 2, &outs[0]); }
static void check_einsum(context *c, sf_tensor **outs) {
    double a[60], b[10], r[3 * 2 * 4] = {0};
    if (!read64(c->in[0], a, 60) || !read64(c->in[1], b, 10)) return;
    for (int bb = 0; bb < 3; bb++)
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 5; j++)
                for (int k = 0; k < 2; k++) r[(bb * 2 + k) * 4 + i] += a[(bb * 4 + i) * 5 + j] * b[j * 2 + k];
    CHECK_TENSOR(outs[0], ((int64_t[]){3, 2, 4}), 3, r, 1e-12);
}
static sf_status run_layer_norm(context *c, sf_tensor **outs) {
    return sf_layer_norm(c->in[0], (int64_t[]){300}, 1, NULL, NULL, 1e-5, &outs[0]);
}
static void check_layer_norm(context *c, sf_tensor **outs) {
    static double x[64 * 300], r[64 * 300];
    if (!read64(c->in[0], x, 64 * 300)) return;
    for (int i = 0; i < 64; i++) {
        double mean = 0, var = 0;
        for (int j = 0; j < 300; j++) mean += x[i * 300 + j] / 300;
        for (int j = 0; j < 300; j++) var += (x[i * 300 + j] - mean) * (x[i * 300 + j] - mean) / 300;
        for (int j = 0; j < 300; j++) r[i * 300 + j] = (x[i * 300 + j] - mean) / sqrt(var + 1e-5);
    }
    CHECK_TENSOR(outs[0], ((int64_t[]){64, 300}), 2, r, 1e-10);
}

/* -- more transforms: linearize, jacfwd, vmap in chunks, per-sample gradients (in_dims with an
 *    unmapped input), grad of a jitted function, hessian of a custom function whose rules are ops,
 *    jit of a function calling a custom function -- */
static sf_status run_linearize(context *c, sf_tensor **outs) {
    sf_function *jvp_fn = GARBAGE;
    sf_status s = sf_linearize(c->fn, c->in, 1, &outs[0], 1, &jvp_fn);
    if (s != SF_OK) {
        check_null_after_failure(jvp_fn, "sf_linearize (jvp_fn)");
        return failed_early(s, outs + 1, 1);
    }
    sf_tensor *ones = NULL;
    outs[1] = NULL;
    s = sf_ones((int64_t[]){N_VEC}, 1, SF_FLOAT64, &ones);
    if (s == SF_OK) s = sf_call(jvp_fn, &ones, 1, &outs[1], 1);
    sf_tensor_release(ones);
    sf_function_release(jvp_fn);
    if (s != SF_OK) {
        sf_tensor_release(outs[0]);
        outs[0] = NULL;
    }
    return s;
}
static void check_linearize(context *c, sf_tensor **outs) {
    double x[N_VEC], g[N_VEC], value = 0, slope = 0;
    if (!read64(c->in[0], x, N_VEC)) return;
    expected_grad(x, g, N_VEC);
    for (int i = 0; i < N_VEC; i++) value += sin(x[i]) * x[i], slope += g[i];
    CHECK_SCALAR(outs[0], value, 1e-12);
    CHECK_SCALAR(outs[1], slope, 1e-12);
}
static void setup_jacfwd(context *c) {
    sf_function *g = host_function(g_sin_sum, NULL, 1);
    CHECK_OK(sf_jacfwd(g, NULL, 0, false, SF_RANDOMNESS_ERROR, &c->fn));
    sf_function_release(g);
    c->in[0] = vector(N_VEC, 3);
    c->n_in = 1;
}
static void setup_vmap_chunks(context *c) {
    sf_function *f = host_function(f_sin_x, NULL, 1), *g = NULL;
    CHECK_OK(sf_grad(f, NULL, 0, false, &g));
    CHECK_OK(sf_vmap(g, NULL, 0, NULL, 0, 2, SF_RANDOMNESS_ERROR, &c->fn)); /* 5 rows: chunks of 2, 2, 1 */
    RELEASE_FUNCTIONS(f, g);
    c->in[0] = input(5, N_VEC, 2);
    c->n_in = 1;
}
/* loss(w, x) = sum(tanh(x @ w)): per-sample gradients in w, x mapped, w not. */
static int loss_tanh(void *user_data, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)user_data, (void)n_in, (void)n_out;
    arena a = {0};
    put(&a, out, 0, sum_all(&a, op1(&a, sf_tanh, matmul(&a, in[1], in[0]))));
    return done(&a);
}
static void setup_per_sample(context *c) {
    sf_function *loss = host_function(loss_tanh, NULL, 2), *g = NULL;
    CHECK_OK(sf_grad(loss, NULL, 0, false, &g));
    CHECK_OK(sf_vmap(g, (int64_t[]){SF_NOT_MAPPED, 0}, 2, NULL, 0, 0, SF_RANDOMNESS_ERROR, &c->fn));
    RELEASE_FUNCTIONS(loss, g);
    c->in[0] = input(3, 2, 0.7); /* w [3, 2] */
    c->in[1] = input(4, 3, 1);   /* 4 samples x [3] */
    c->n_in = 2;
}
static void check_per_sample(context *c, sf_tensor **outs) {
    double w[6], x[12], r[4 * 6];
    if (!read64(c->in[0], w, 6) || !read64(c->in[1], x, 12)) return;
    for (int n = 0; n < 4; n++)
        for (int k = 0; k < 2; k++) {
            double z = 0;
            for (int i = 0; i < 3; i++) z += x[n * 3 + i] * w[i * 2 + k];
            double d = 1 - tanh(z) * tanh(z);
            for (int i = 0; i < 3; i++) r[n * 6 + i * 2 + k] = x[n * 3 + i] * d;
        }
    CHECK_TENSOR(outs[0], ((int64_t[]){4, 3, 2}), 3, r, 1e-12);
}
static void setup_grad_of_jit(context *c) {
    sf_function *f = host_function(f_sin_x, NULL, 1), *j = NULL;
    CHECK_OK(sf_jit(f, &j));
    CHECK_OK(sf_grad(j, NULL, 0, false, &c->fn));
    RELEASE_FUNCTIONS(f, j);
    c->in[0] = vector(N_VEC, 3);
    c->n_in = 1;
}
/* cube with rules written with ops: vjp 3 x^2 ct (from the input, so it differentiates again), jvp 3 x^2 t */
static int cube_vjp_ops(void *user_data, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)user_data, (void)n_in, (void)n_out;
    arena a = {0};
    put(&a, out, 0, op2(&a, sf_mul, op2(&a, sf_mul, op2(&a, sf_mul, in[0], in[0]), in[3]), scalar(&a, 3)));
    return done(&a);
}
static int cube_jvp_ops(void *user_data, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)user_data, (void)n_in, (void)n_out;
    /* in: x, y, tangent */
    arena a = {0};
    put(&a, out, 0, op2(&a, sf_mul, op2(&a, sf_mul, op2(&a, sf_mul, in[0], in[0]), in[2]), scalar(&a, 3)));
    return done(&a);
}
static sf_function *new_cube_ops(void) {
    sf_custom_function_desc desc = SF_CUSTOM_FUNCTION_DESC_INIT;
    desc.name = "cube_ops";
    desc.flags = SF_CUSTOM_RULES_USE_OPS;
    desc.n_inputs = 1;
    desc.n_outputs = 1;
    desc.n_residuals = 1;
    desc.forward = cube_forward;
    desc.vjp = cube_vjp_ops;
    desc.jvp = cube_jvp_ops;
    desc.user_data = new_holder(NULL, NULL);
    desc.free_user_data = free_holder;
    return custom_function(&desc);
}
static void setup_custom_hessian(context *c) {
    sf_function *h = host_function(h_sum_cube, new_holder(new_cube_ops(), NULL), 1);
    CHECK_OK(sf_hessian(h, NULL, 0, &c->fn));
    sf_function_release(h);
    c->in[0] = vector(N_VEC, 3);
    c->n_in = 1;
}
static void check_custom_hessian(context *c, sf_tensor **outs) {
    double x[N_VEC], r[N_VEC * N_VEC] = {0};
    if (!read64(c->in[0], x, N_VEC)) return;
    for (int i = 0; i < N_VEC; i++) r[i * N_VEC + i] = 6 * x[i];
    CHECK_TENSOR(outs[0], ((int64_t[]){N_VEC, N_VEC}), 2, r, 1e-12);
}
static void setup_jit_custom(context *c) {
    sf_function *h = host_function(h_sum_cube, new_holder(new_cube(), NULL), 1);
    CHECK_OK(sf_jit(h, &c->fn));
    sf_function_release(h);
    c->in[0] = vector(N_VEC, 3);
    c->n_in = 1;
}
static void setup_jit_custom_warm(context *c) {
    setup_jit_custom(c);
    sf_tensor *out = NULL;
    CHECK_OK(call1(c, &out));
    sf_tensor_release(out);
}
static void check_jit_custom(context *c, sf_tensor **outs) {
    double x[N_VEC], r = 0;
    if (!read64(c->in[0], x, N_VEC)) return;
    for (int i = 0; i < N_VEC; i++) r += x[i] * x[i] * x[i];
    CHECK_SCALAR(outs[0], r, 1e-12);
}

/* -- jvp (outputs and tangents at once) -- */
static sf_status run_jvp(context *c, sf_tensor **outs) {
    sf_tensor *ones = GARBAGE;
    sf_status s = sf_ones((int64_t[]){N_VEC}, 1, SF_FLOAT64, &ones);
    if (s != SF_OK) {
        check_null_after_failure(ones, "sf_ones");
        return failed_early(s, outs, 2);
    }
    s = sf_jvp(c->fn, c->in, &ones, 1, &outs[0], &outs[1], 1);
    sf_tensor_release(ones);
    return s;
}

/* -- a function whose outputs are known at return, through grad_and_value with has_aux and
 *    sf_call_list (the list must stay unchanged on failure) -- */
static int f_list(void *user_data, sf_tensor *const *in, size_t n_in, sf_tensor_list *outputs) {
    (void)user_data, (void)n_in;
    arena a = {0};
    sf_tensor *sine = op1(&a, sf_sin, in[0]);
    sf_tensor *value = sum_all(&a, op2(&a, sf_mul, sine, in[0]));
    if (!a.failed && (sf_tensor_list_append(outputs, value) != SF_OK || sf_tensor_list_append(outputs, sine) != SF_OK))
        a.failed = 1;
    return done(&a);
}
static void setup_at_return(context *c) {
    sf_function *f = NULL;
    CHECK_OK(sf_function_new_at_return(f_list, new_holder(NULL, NULL), free_holder, 1, &f));
    CHECK_OK(sf_grad_and_value(f, NULL, 0, true, &c->fn));
    sf_function_release(f);
    c->in[0] = vector(N_VEC, 3);
    c->n_in = 1;
}
static sf_status run_at_return(context *c, sf_tensor **outs) {
    sf_tensor_list *list = NULL;
    sf_status s = sf_tensor_list_new(&list);
    if (s != SF_OK) return failed_early(s, outs, 3);
    s = sf_call_list(c->fn, c->in, 1, list);
    size_t size = 99;
    CHECK_OK(sf_tensor_list_size(list, &size));
    if (s != SF_OK) {
        if (!check_record(size == 0, __FILE__, __LINE__, "a failed sf_call_list leaves the list unchanged"))
            fprintf(stderr, "    the list has %zu entries\n", size);
        sf_tensor_list_free(list);
        return failed_early(s, outs, 3);
    }
    CHECK_EQ(size, 3);
    for (size_t i = 0; i < 3; i++) {
        outs[i] = NULL;
        if (i < size) CHECK_OK(sf_tensor_list_get(list, i, &outs[i]));
    }
    sf_tensor_list_free(list);
    return s;
}
static void check_at_return(context *c, sf_tensor **outs) {
    double x[N_VEC], g[N_VEC], sine[N_VEC], value = 0;
    if (!read64(c->in[0], x, N_VEC)) return;
    expected_grad(x, g, N_VEC);
    for (int i = 0; i < N_VEC; i++) sine[i] = sin(x[i]), value += sin(x[i]) * x[i];
    CHECK_TENSOR(outs[0], ((int64_t[]){N_VEC}), 1, g, 1e-12);
    CHECK_SCALAR(outs[1], value, 1e-12);
    CHECK_TENSOR(outs[2], ((int64_t[]){N_VEC}), 1, sine, 1e-12);
}

/* -- a custom function with a host batching rule, under vmap -- */
static int cube_batch(void *user_data, sf_tensor *const *in, const int64_t *in_dims, size_t n_in, int64_t batch_size,
                      sf_tensor **out, int64_t *out_dims, size_t n_out) {
    (void)in_dims, (void)n_in, (void)batch_size, (void)n_out;
    out_dims[0] = out_dims[1] = in_dims[0]; /* elementwise: batched where the input is */
    return cube_forward(user_data, in, 1, out, 2);
}
static void setup_custom_batch(context *c) {
    sf_custom_function_desc desc = SF_CUSTOM_FUNCTION_DESC_INIT;
    desc.name = "cube_batched";
    desc.n_inputs = 1;
    desc.n_outputs = 1;
    desc.n_residuals = 1;
    desc.forward = cube_forward;
    desc.vjp = cube_vjp;
    desc.batch = cube_batch;
    desc.user_data = new_holder(NULL, NULL);
    desc.free_user_data = free_holder;
    sf_function *cube = custom_function(&desc);
    CHECK_OK(sf_vmap(cube, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_ERROR, &c->fn));
    sf_function_release(cube);
    c->in[0] = input(3, N_VEC, 2);
    c->n_in = 1;
}

/* -- grad on 2^18 elements: 2 MiB blocks (size-classed, served by the cache after the first call)
 *    and kernels split over the library's threads -- */
#define N_BIG (1 << 18)
static void setup_big_grad(context *c) {
    setup_grad(c);
    sf_tensor_release(c->in[0]);
    c->in[0] = vector(N_BIG, 3);
}
static void check_big_grad(context *c, sf_tensor **outs) {
    double *x = malloc(sizeof(double) * N_BIG), *r = malloc(sizeof(double) * N_BIG);
    if (read64(c->in[0], x, N_BIG)) {
        expected_grad(x, r, N_BIG);
        CHECK_TENSOR(outs[0], ((int64_t[]){N_BIG}), 1, r, 1e-12);
    }
    free(x);
    free(r);
}

static const sweep_case CASES[] = {
    {"matmul (1 MiB result)", "sf_matmul", 1, setup_matmul, run_matmul, check_matmul},
    {"sum over a dim", "sf_sum", 1, setup_rows, run_sum, check_sum},
    {"softmax", "sf_softmax", 1, setup_rows, run_softmax, check_softmax},
    {"grad", "sf_call", 1, setup_grad, call1, check_grad},
    {"grad, 2^18 elements (2 MiB blocks)", "sf_call", 1, setup_big_grad, call1, check_big_grad},
    {"vmap(grad)", "sf_call", 1, setup_vmap_grad, call1, check_vmap_grad},
    {"hessian", "sf_call", 1, setup_hessian, call1, check_hessian},
    {"jacrev, chunk_size 4", "sf_call", 1, setup_jacrev, call1, check_jacrev},
    {"vjp and its pullback", NULL, 2, setup_vjp, run_vjp, check_vjp},
    {"custom function under grad", "sf_call", 1, setup_custom_grad, call1, check_custom_grad},
    {"custom function under vmap", "sf_call", 1, setup_custom_vmap, call1, check_custom_vmap},
    {"DLPack import (misaligned: copied)", NULL, 1, setup_dlpack, run_dlpack_misaligned, check_dlpack},
    {"DLPack import, op, export, import", NULL, 1, setup_dlpack, run_dlpack_roundtrip, check_dlpack},
    {"jit, first call (traces)", "sf_call", 1, setup_jit, call1, check_jit},
    {"jit, replay", "sf_call", 1, setup_jit_warm, call1, check_jit},
    {"export, import, call", NULL, 1, setup_export, run_export, check_export},
    {"linalg_solve", "sf_linalg_solve", 1, setup_linalg, run_solve, check_solve},
    {"linalg_eigh (two results)", "sf_linalg_eigh", 2, setup_linalg, run_eigh, check_eigh},
    {"sort (values and indices)", "sf_sort", 2, setup_sort, run_sort, check_sort},
    {"conv2d", "sf_conv2d", 1, setup_conv, run_conv, check_conv},
    {"einsum", "sf_einsum", 1, setup_einsum, run_einsum, check_einsum},
    {"layer_norm", "sf_layer_norm", 1, setup_rows, run_layer_norm, check_layer_norm},
    {"linearize and its jvp_fn", NULL, 2, setup_vjp, run_linearize, check_linearize},
    {"jacfwd", "sf_call", 1, setup_jacfwd, call1, check_jacrev},
    {"vmap(grad), chunk_size 2", "sf_call", 1, setup_vmap_chunks, call1, check_vmap_grad},
    {"per-sample gradients (in_dims)", "sf_call", 1, setup_per_sample, call1, check_per_sample},
    {"grad(jit)", "sf_call", 1, setup_grad_of_jit, call1, check_grad},
    {"hessian of a custom function (ops rules)", "sf_call", 1, setup_custom_hessian, call1, check_custom_hessian},
    {"jit of a custom function, first call", "sf_call", 1, setup_jit_custom, call1, check_jit_custom},
    {"jit of a custom function, replay", "sf_call", 1, setup_jit_custom_warm, call1, check_jit_custom},
    {"jvp", NULL, 2, setup_vjp, run_jvp, check_linearize},
    {"outputs at return, grad_and_value+aux", "sf_call_list", 3, setup_at_return, run_at_return, check_at_return},
    {"custom function with a batching rule", "sf_call", 1, setup_custom_batch, call1, check_custom_vmap},
};

/* ------------------------------------------------------------------------------------------------
 * The sweep
 * ---------------------------------------------------------------------------------------------- */

/* The values of a call's outputs, to compare later calls with. */
typedef struct snapshot {
    size_t n;
    size_t ndim[MAX_OUTS];
    int64_t shape[MAX_OUTS][SF_MAX_NDIM];
    int64_t numel[MAX_OUTS];
    double *data[MAX_OUTS];
} snapshot;

static int take_snapshot(sf_tensor **outs, size_t n, snapshot *s) {
    memset(s, 0, sizeof *s);
    s->n = n;
    for (size_t i = 0; i < n; i++) {
        if (outs[i] == NULL || sf_tensor_ndim(outs[i], &s->ndim[i]) != SF_OK ||
            sf_tensor_shape(outs[i], s->shape[i], SF_MAX_NDIM) != SF_OK || sf_tensor_numel(outs[i], &s->numel[i]) != SF_OK)
            return 0;
        s->data[i] = malloc(sizeof(double) * (size_t)(s->numel[i] > 0 ? s->numel[i] : 1));
        sf_tensor *as64 = NULL;
        if (sf_cast(outs[i], SF_FLOAT64, &as64) != SF_OK) return 0;
        int ok = read64(as64, s->data[i], s->numel[i]);
        sf_tensor_release(as64);
        if (!ok) return 0;
    }
    return 1;
}

static void free_snapshot(snapshot *s) {
    for (size_t i = 0; i < s->n; i++) free(s->data[i]);
    memset(s, 0, sizeof *s);
}

/* The outputs equal the snapshot exactly (the same call on the same inputs). */
static int matches(sf_tensor **outs, const snapshot *ref) {
    snapshot got;
    int ok = take_snapshot(outs, ref->n, &got);
    for (size_t i = 0; ok && i < ref->n; i++) {
        ok = got.ndim[i] == ref->ndim[i] && got.numel[i] == ref->numel[i];
        for (size_t d = 0; ok && d < ref->ndim[i]; d++) ok = got.shape[i][d] == ref->shape[i][d];
        ok = ok && memcmp(got.data[i], ref->data[i], sizeof(double) * (size_t)ref->numel[i]) == 0;
    }
    free_snapshot(&got);
    return ok;
}

static uint64_t bytes_in_use(void) {
    struct sf_memory_stats stats = SF_MEMORY_STATS_INIT;
    sf_memory_stats(&stats);
    return stats.bytes_in_use;
}

static int64_t total_injected, total_absorbed, total_callback;

/* Host-side objects all freed exactly once, and nothing of the library's left in use. */
static int balanced(uint64_t base_bytes) {
    return user_data_made == user_data_freed && producers_made == producers_freed && bytes_in_use() == base_bytes;
}

static void sweep(const sweep_case *sc) {
    sf_tensor *outs[MAX_OUTS] = {0};
    context c;
    memset(&c, 0, sizeof c);
    uint64_t base_bytes = bytes_in_use();
    int failed_before = check_failed_count;

    /* The reference: the call with nothing failing, checked against a closed form. */
    sc->setup(&c);
    int64_t before = swiftfunc_testing_allocation_count();
    sf_status status = sc->run(&c, outs);
    int64_t n_alloc = swiftfunc_testing_allocation_count() - before;
    CHECK_OK(status);
    sc->check(&c, outs);
    snapshot ref;
    CHECK(take_snapshot(outs, sc->n_outs, &ref));
    release_all(outs, sc->n_outs);
    release_context(&c);
    CHECK(n_alloc > 0);
    if (!balanced(base_bytes)) {
        check_record(0, __FILE__, __LINE__, "the reference call leaves the books balanced");
        fprintf(stderr, "    %s: user data %d/%d, producers %d/%d, bytes in use %llu (was %llu)\n", sc->name,
                user_data_freed, user_data_made, producers_freed, producers_made,
                (unsigned long long)bytes_in_use(), (unsigned long long)base_bytes);
    }

    int64_t injected = 0, absorbed = 0, via_callback = 0;
    for (int64_t k = 1; k <= n_alloc; k++) {
        sc->setup(&c);
        int callbacks_before = callback_failures;
        for (size_t i = 0; i < sc->n_outs; i++) outs[i] = GARBAGE;
        int64_t start = swiftfunc_testing_allocation_count();
        swiftfunc_testing_fail_allocation(k);
        status = sc->run(&c, outs);
        swiftfunc_testing_fail_allocation(0);
        int64_t made = swiftfunc_testing_allocation_count() - start;
        int64_t depth = swiftfunc_testing_interpreter_depth();
        const char *message = sf_last_error();
        int inner = callback_failures - callbacks_before;
        char what[160];
        snprintf(what, sizeof what, "%s, allocation %lld of %lld", sc->name, (long long)k, (long long)n_alloc);

        int ok = 1;
        const char *problem = "";
        if (made < k) {
            ok = 0;
            problem = "the call made fewer allocations than the reference (not deterministic)";
        } else if (status == SF_OK) {
            absorbed++;
            if (!matches(outs, &ref)) ok = 0, problem = "succeeded (absorbed) with a different result";
        } else {
            injected++;
            if (inner) via_callback++;
            sf_status expected = inner ? SF_ERR_CALLBACK : SF_ERR_OUT_OF_MEMORY;
            if (status != expected) ok = 0, problem = inner ? "a callback failed but the status is not SF_ERR_CALLBACK"
                                                            : "the status is not SF_ERR_OUT_OF_MEMORY";
            else if (strncmp(message, "sf_", 3) != 0 || strstr(message, INJECTED) == NULL)
                ok = 0, problem = "sf_last_error() does not name an sf_ function and the injected failure";
            else if (sc->called && strncmp(message, sc->called, strlen(sc->called)) != 0)
                ok = 0, problem = "sf_last_error() does not start with the function called";
            else if (!all_null(outs, sc->n_outs))
                ok = 0, problem = "an out handle is not NULL";
        }
        if (ok && depth != 0) ok = 0, problem = "an interpreter is left installed";
        if (!check_record(ok, __FILE__, __LINE__, what))
            fprintf(stderr, "    %s: status %d, depth %lld, message \"%s\"\n", problem, (int)status, (long long)depth, message);
        if (status == SF_OK) release_all(outs, sc->n_outs);

        /* The same call again (on the same functions: caches must not be poisoned). */
        status = sc->run(&c, outs);
        if (!check_record(status == SF_OK && matches(outs, &ref), __FILE__, __LINE__, what))
            fprintf(stderr, "    the call after the failure: status %d (%s), or a different result\n", (int)status,
                    sf_last_error());
        if (status == SF_OK) release_all(outs, sc->n_outs);
        release_context(&c);
        if (!check_record(balanced(base_bytes), __FILE__, __LINE__, what))
            fprintf(stderr, "    not balanced: user data %d/%d freed, producers %d/%d freed, bytes in use %llu (was %llu)\n",
                    user_data_freed, user_data_made, producers_freed, producers_made,
                    (unsigned long long)bytes_in_use(), (unsigned long long)base_bytes);
        if (check_failed_count - failed_before > 20) {
            fprintf(stderr, "%s: too many failures, stopping this case\n", sc->name);
            break;
        }
    }
    free_snapshot(&ref);
    total_injected += injected;
    total_absorbed += absorbed;
    total_callback += via_callback;
    printf("%-40s %4lld allocations: %lld failed (%lld inside a callback), %lld absorbed\n", sc->name,
           (long long)n_alloc, (long long)injected, (long long)via_callback, (long long)absorbed);
}

/* ------------------------------------------------------------------------------------------------
 * The hooks themselves
 * ---------------------------------------------------------------------------------------------- */

/* A thread making 200 small tensors; counts its injected failures. */
static void *allocating_thread(void *arg) {
    int *failures = arg;
    for (int i = 0; i < 200; i++) {
        sf_tensor *t = NULL;
        sf_status s = sf_full((int64_t[]){16}, 1, i, SF_FLOAT32, &t);
        if (s == SF_ERR_OUT_OF_MEMORY && strstr(sf_last_error(), INJECTED)) (*failures)++;
        else if (s != SF_OK) (*failures) += 1000; /* anything else is wrong */
        sf_tensor_release(t);
    }
    return NULL;
}

static void test_hooks(void) {
    /* the countdown: the 2nd allocation from now fails, once; the count goes on */
    sf_tensor *a = NULL, *b = NULL, *c = NULL;
    int64_t before = swiftfunc_testing_allocation_count();
    swiftfunc_testing_fail_allocation(2);
    CHECK_OK(sf_zeros((int64_t[]){3}, 1, SF_FLOAT32, &a));
    CHECK_ERROR_NULL(b, sf_ones((int64_t[]){3}, 1, SF_FLOAT32, &b), SF_ERR_OUT_OF_MEMORY, "cannot allocate 12 bytes " INJECTED);
    CHECK(strncmp(sf_last_error(), "sf_ones: ", 9) == 0);
    CHECK_OK(sf_ones((int64_t[]){3}, 1, SF_FLOAT32, &c));
    CHECK_EQ(swiftfunc_testing_allocation_count() - before, 3);
    RELEASE_TENSORS(a, c);
    /* disarmed by 0; an empty tensor allocates nothing */
    swiftfunc_testing_fail_allocation(1);
    swiftfunc_testing_fail_allocation(0);
    CHECK_OK(sf_zeros((int64_t[]){3}, 1, SF_FLOAT32, &a));
    before = swiftfunc_testing_allocation_count();
    CHECK_OK(sf_zeros((int64_t[]){0, 3}, 2, SF_FLOAT32, &b));
    CHECK_EQ(swiftfunc_testing_allocation_count() - before, 0);
    RELEASE_TENSORS(a, b);
    /* a block the cache would serve counts (and fails) too: free a 2 MiB block, ask again */
    struct sf_memory_stats s0 = SF_MEMORY_STATS_INIT, s1 = SF_MEMORY_STATS_INIT;
    CHECK_OK(sf_zeros((int64_t[]){1 << 19}, 1, SF_FLOAT32, &a));
    sf_tensor_release(a);
    sf_memory_stats(&s0);
    CHECK(s0.bytes_cached >= (1u << 21));
    swiftfunc_testing_fail_allocation(1);
    CHECK_ERROR_NULL(a, sf_zeros((int64_t[]){1 << 19}, 1, SF_FLOAT32, &a), SF_ERR_OUT_OF_MEMORY, INJECTED);
    sf_memory_stats(&s1);
    CHECK_EQ(s1.cache_hits, s0.cache_hits);
    CHECK_EQ(s1.failed_allocations, s0.failed_allocations + 1);
    CHECK_EQ(s1.bytes_in_use, s0.bytes_in_use);
    CHECK_EQ(swiftfunc_testing_interpreter_depth(), 0);
    /* threads allocating at once: exactly one allocation fails */
    pthread_t threads[4];
    int failures[4] = {0};
    swiftfunc_testing_fail_allocation(300);
    for (int i = 0; i < 4; i++) CHECK_EQ(pthread_create(&threads[i], NULL, allocating_thread, &failures[i]), 0);
    for (int i = 0; i < 4; i++) pthread_join(threads[i], NULL);
    swiftfunc_testing_fail_allocation(0);
    CHECK_EQ(failures[0] + failures[1] + failures[2] + failures[3], 1);
}

int main(void) {
    test_hooks();
    for (size_t i = 0; i < COUNT(CASES); i++) sweep(&CASES[i]);
    /* the depth hook sees the transforms' interpreters inside callbacks (so 0 outside means something) */
    CHECK(deepest_in_callback >= 2);
    CHECK(total_injected > 0);
    printf("sweep: %lld injected failures (%lld inside host callbacks), %lld absorbed\n", (long long)total_injected,
           (long long)total_callback, (long long)total_absorbed);
    return check_summary();
}
