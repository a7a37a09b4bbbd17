/* test_shared_threads.c — several host threads sharing one set of function handles, run under
 * ThreadSanitizer against the TSan-instrumented library (make tsan-test; it also passes plain).
 *
 * Everything is computed once on the main thread first (the reference, as bytes); then THREADS
 * threads run ROUNDS rounds at once, each thread in its own order, and compare bitwise:
 *  1. The same sf_function objects: f, grad(f), vmap(grad(f)), jacrev (chunked), jacfwd, hessian,
 *     and jit of each (the jitted handles are made before the threads start and first called by
 *     them, so traces race with replays), a custom function (host forward, VJP and JVP) inside a
 *     function, its grad, vmap(grad) and jit, a reduction large enough for the library's pool and a
 *     product large enough for OpenBLAS's threads.
 *  2. Transforms of the shared f made, called and released by every thread (grad, hessian, jit).
 *  3. DLPack across threads: a result exported (legacy or versioned) in one thread is imported,
 *     checked and released in another; a host buffer imported in one thread is released in another,
 *     its deleter counted (each runs exactly once, wherever the last release happens).
 *  4. sf_last_error per thread: each thread's failures (a callback's sf_set_error text, an op's
 *     message) stay its own while other threads fail and succeed around it.
 *  5. sf_memory_stats from every thread; afterwards the bytes in use are back where they started.
 *  6. Random draws: every thread draws with sf_rand and with a jitted function that draws; each
 *     call reserves one block of the process-wide generator, so the values drawn by all threads
 *     are, call for call, exactly the values of as many calls made one after another from the same
 *     seed (each used once, in increasing order within a thread).
 *
 * Environment: SF_THREADS_ROUNDS=n rounds per thread (default 4). Threads report failures through
 * their own counters (check.h's are not atomic); the main thread records them. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "check.h"
#include "swiftfunc.h"
#include "tensor_check.h"

enum { THREADS = 4, M = 3, N = 4, B = 5, LARGE = 300007, G = 160, DRAW = 37, DRAWS_PER_THREAD = 12 };

/* Declares a host callback (sf_callback) named `name`. */
#define CALLBACK(name)                                                                          \
    static int name(void *ud UNUSED, sf_tensor *const *in UNUSED, size_t n_in UNUSED,           \
                    sf_tensor **out UNUSED, size_t n_out UNUSED)

/* ------------------------------------------------------------------------------------------------
 * Failures inside threads: counted per thread, printed with the thread and the place
 * ---------------------------------------------------------------------------------------------- */

typedef struct {
    int id;
    int checks, failures;
} thread_log;

static int thread_check(thread_log *log, int ok, int line, const char *what) {
    log->checks++;
    if (!ok) {
        log->failures++;
        fprintf(stderr, "%s:%d: thread %d: failed: %s (last error: %s)\n", __FILE__, line, log->id, what,
                sf_last_error());
    }
    return ok;
}

#define TCHECK(log, cond) thread_check((log), (cond) ? 1 : 0, __LINE__, #cond)

/* ------------------------------------------------------------------------------------------------
 * Results as bytes: a tensor's shape, dtype and values, compared with memcmp
 * ---------------------------------------------------------------------------------------------- */

typedef struct {
    size_t ndim;
    int64_t shape[SF_MAX_NDIM];
    sf_dtype dtype;
    size_t size;
    unsigned char *bytes;
} snapshot;

static size_t dtype_size(sf_dtype dtype) {
    switch (dtype) {
    case SF_FLOAT32: case SF_INT32: return 4;
    case SF_FLOAT64: case SF_INT64: return 8;
    default: return 1;
    }
}

/* The bytes of `t` (0, and a zeroed snapshot, on failure). */
static int take_snapshot(sf_tensor *t, snapshot *s) {
    memset(s, 0, sizeof *s);
    int64_t numel = 0;
    if (!t || sf_tensor_ndim(t, &s->ndim) != SF_OK || sf_tensor_shape(t, s->shape, SF_MAX_NDIM) != SF_OK ||
        sf_tensor_dtype(t, &s->dtype) != SF_OK || sf_tensor_numel(t, &numel) != SF_OK)
        return 0;
    s->size = (size_t)numel * dtype_size(s->dtype);
    s->bytes = malloc(s->size ? s->size : 1);
    if (sf_tensor_copy_to(t, s->size ? s->bytes : NULL, s->size) != SF_OK) {
        free(s->bytes);
        memset(s, 0, sizeof *s);
        return 0;
    }
    return 1;
}

static void free_snapshot(snapshot *s) {
    free(s->bytes);
    memset(s, 0, sizeof *s);
}

/* Whether `t` holds exactly `expected`: shape, dtype and every bit. */
static int same_bits(sf_tensor *t, const snapshot *expected) {
    snapshot got;
    if (!take_snapshot(t, &got)) return 0;
    int same = got.ndim == expected->ndim && got.dtype == expected->dtype && got.size == expected->size &&
               memcmp(got.shape, expected->shape, got.ndim * sizeof(int64_t)) == 0 &&
               memcmp(got.bytes, expected->bytes, got.size) == 0;
    free_snapshot(&got);
    return same;
}

/* ------------------------------------------------------------------------------------------------
 * The functions: f(w, x) = sum(tanh(w @ x)) + sum(x * x) / 2, h(w, x) = tanh(w @ x),
 * fc(x) = sum(softplus(sin(x)) * x) with softplus a custom function, big(v) = sum(exp(v))
 * ---------------------------------------------------------------------------------------------- */

CALLBACK(cb_f) {
    arena a = {0};
    sf_tensor *half = NULL;
    sf_tensor *q = sum_all(&a, op2(&a, sf_mul, in[1], in[1]));
    sf_tensor *h = keep(&a, sf_scalar(0.5, &half), &half);
    sf_tensor *s = sum_all(&a, op1(&a, sf_tanh, op2(&a, sf_matmul, in[0], in[1])));
    put(&a, out, 0, op2(&a, sf_add, s, op2(&a, sf_mul, q, h)));
    return finish(&a);
}

CALLBACK(cb_h) {
    arena a = {0};
    put(&a, out, 0, op1(&a, sf_tanh, op2(&a, sf_matmul, in[0], in[1])));
    return finish(&a);
}

/* tanh(a @ a): a product large enough for OpenBLAS's own threads. */
CALLBACK(cb_gemm) {
    arena a = {0};
    put(&a, out, 0, op1(&a, sf_tanh, op2(&a, sf_matmul, in[0], in[0])));
    return finish(&a);
}

CALLBACK(cb_big) {
    arena a = {0};
    put(&a, out, 0, sum_all(&a, op1(&a, sf_exp, in[0])));
    return finish(&a);
}

static double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static double sigmoid(double x) { return 1 / (1 + exp(-x)); }
static double times(double a, double b) { return a * b; }
static double tangent_times_slope(double x, double t) { return t * sigmoid(x); }

/* Counted from every thread at once. */
static atomic_int custom_forward_calls, custom_vjp_calls, custom_jvp_calls, custom_freed;

static void free_custom(void *ud UNUSED) { atomic_fetch_add(&custom_freed, 1); }

/* forward: x -> softplus(x), residual sigmoid(x). */
CALLBACK(softplus_forward) {
    atomic_fetch_add(&custom_forward_calls, 1);
    if (host_map(in[0], NULL, softplus, NULL, &out[0])) return 1;
    return host_map(in[0], NULL, sigmoid, NULL, &out[1]);
}

/* vjp: (x, y, s, g) -> g * s. */
CALLBACK(softplus_vjp) {
    atomic_fetch_add(&custom_vjp_calls, 1);
    return host_map(in[3], in[2], NULL, times, &out[0]);
}

/* jvp: (x, y, t) -> t * sigmoid(x). */
CALLBACK(softplus_jvp) {
    atomic_fetch_add(&custom_jvp_calls, 1);
    return host_map(in[0], in[2], NULL, tangent_times_slope, &out[0]);
}

static sf_function *custom_softplus;

CALLBACK(cb_fc) {
    arena a = {0};
    sf_tensor *sx = op1(&a, sf_sin, in[0]), *sp = NULL;
    if (!a.failed) sp = keep(&a, sf_call(custom_softplus, &sx, 1, &sp, 1), &sp);
    put(&a, out, 0, sum_all(&a, op2(&a, sf_mul, sp, in[0])));
    return finish(&a);
}

/* A callback that fails with a message naming the calling thread and round (in[0] is unused). */
static _Thread_local char failure_text[64];

CALLBACK(cb_fails) {
    sf_set_error(failure_text);
    return 1;
}

/* A draw of DRAW uniforms (float64), plus x: jitted, its replays draw as eager calls would. */
CALLBACK(cb_draw) {
    arena a = {0};
    const int64_t shape[1] = {DRAW};
    sf_tensor *r = NULL;
    r = keep(&a, sf_rand(shape, 1, SF_FLOAT64, &r), &r);
    put(&a, out, 0, op2(&a, sf_add, in[0], r));
    return finish(&a);
}

static sf_function *new_function(sf_callback cb, size_t n_in, size_t n_out) {
    sf_function *f = NULL;
    CHECK_OK(sf_function_new(cb, NULL, NULL, n_in, n_out, &f));
    return f;
}

/* ------------------------------------------------------------------------------------------------
 * Workloads: a function, which inputs it takes, and the reference outputs for both input sets
 * ---------------------------------------------------------------------------------------------- */

enum { IN_W, IN_X, IN_XS, IN_V, IN_A, N_INPUTS }; /* w [M, N], x [N], xs [B, N], v [LARGE], a [G, G] */
enum { MAX_OUT = 2, SETS = 2 };

typedef struct {
    const char *name;
    sf_function *shared;    /* called by every thread */
    sf_function *reference; /* called once on the main thread first (a separate jit cache for jits) */
    int inputs[2];          /* indices into the input set; -1: none */
    size_t n_in, n_out;
    snapshot expected[SETS][MAX_OUT];
} workload;

static sf_tensor *inputs[SETS][N_INPUTS];
static workload workloads[32];
static int n_workloads;

/* Adds a workload; it takes its own references to the functions. */
static void add_workload(const char *name, sf_function *shared, sf_function *reference, int in0, int in1,
                         size_t n_out) {
    sf_function_retain(shared);
    if (reference != shared) sf_function_retain(reference);
    workload *w = &workloads[n_workloads++];
    w->name = name;
    w->shared = shared;
    w->reference = reference;
    w->inputs[0] = in0;
    w->inputs[1] = in1;
    w->n_in = in1 < 0 ? 1 : 2;
    w->n_out = n_out;
}

/* Calls `f` as workload `w` on input set `set`; outputs into out[MAX_OUT]. */
static sf_status call_workload(const workload *w, sf_function *f, int set, sf_tensor **out) {
    sf_tensor *args[2] = {inputs[set][w->inputs[0]], w->inputs[1] < 0 ? NULL : inputs[set][w->inputs[1]]};
    return sf_call(f, args, w->n_in, out, w->n_out);
}

static sf_function *transform_grad(sf_function *f, const int32_t *argnums, size_t n) {
    sf_function *g = NULL;
    CHECK_OK(sf_grad(f, argnums, n, false, &g));
    return g;
}

static sf_function *transform_jit(sf_function *f) {
    sf_function *j = NULL;
    CHECK_OK(sf_jit(f, &j));
    return j;
}

static sf_function *f_shared, *h_shared, *fc_shared, *big_shared, *gemm_shared, *fails_shared;

/* Makes every function and workload (the main thread, before any other thread exists). */
static void make_workloads(void) {
    const int32_t both[2] = {0, 1}, first[1] = {0}, second[1] = {1};
    const int64_t vmap_in[2] = {SF_NOT_MAPPED, 0}, vmap_out[1] = {0}, vmap_one[1] = {0};
    f_shared = new_function(cb_f, 2, 1);
    h_shared = new_function(cb_h, 2, 1);
    big_shared = new_function(cb_big, 1, 1);
    gemm_shared = new_function(cb_gemm, 1, 1);
    fails_shared = new_function(cb_fails, 1, 1);

    sf_custom_function_desc desc = SF_CUSTOM_FUNCTION_DESC_INIT;
    desc.name = "softplus";
    desc.n_inputs = 1;
    desc.n_outputs = 1;
    desc.n_residuals = 1;
    desc.forward = softplus_forward;
    desc.vjp = softplus_vjp;
    desc.jvp = softplus_jvp;
    desc.free_user_data = free_custom;
    custom_softplus = custom_function(&desc);
    fc_shared = new_function(cb_fc, 1, 1);

    sf_function *grad_f = transform_grad(f_shared, both, 2), *grad_w = transform_grad(f_shared, first, 1);
    sf_function *per_sample = NULL, *jac = NULL, *jac_fwd = NULL, *hess = NULL;
    CHECK_OK(sf_vmap(grad_w, vmap_in, 2, vmap_out, 1, 0, SF_RANDOMNESS_ERROR, &per_sample));
    CHECK_OK(sf_jacrev(h_shared, second, 1, false, 2, &jac));
    CHECK_OK(sf_jacfwd(h_shared, second, 1, false, SF_RANDOMNESS_ERROR, &jac_fwd));
    CHECK_OK(sf_hessian(f_shared, second, 1, &hess));
    sf_function *grad_fc = transform_grad(fc_shared, NULL, 0), *per_sample_fc = NULL;
    CHECK_OK(sf_vmap(grad_fc, vmap_one, 1, vmap_out, 1, 0, SF_RANDOMNESS_ERROR, &per_sample_fc));

    add_workload("f", f_shared, f_shared, IN_W, IN_X, 1);
    add_workload("grad(f)", grad_f, grad_f, IN_W, IN_X, 2);
    add_workload("vmap(grad(f))", per_sample, per_sample, IN_W, IN_XS, 1);
    add_workload("jacrev(h, chunk 2)", jac, jac, IN_W, IN_X, 1);
    add_workload("jacfwd(h)", jac_fwd, jac_fwd, IN_W, IN_X, 1);
    add_workload("hessian(f)", hess, hess, IN_W, IN_X, 1);
    add_workload("fc (custom)", fc_shared, fc_shared, IN_X, -1, 1);
    add_workload("grad(fc)", grad_fc, grad_fc, IN_X, -1, 1);
    add_workload("vmap(grad(fc))", per_sample_fc, per_sample_fc, IN_XS, -1, 1);
    add_workload("sum(exp(v)) (the pool)", big_shared, big_shared, IN_V, -1, 1);
    add_workload("tanh(a @ a) (OpenBLAS)", gemm_shared, gemm_shared, IN_A, -1, 1);
    /* jit of each: a handle for the threads (first traced by them) and one for the reference. */
    int eager = n_workloads;
    for (int k = 0; k < eager; k++) {
        workload *w = &workloads[k];
        if (w->shared == grad_fc || w->shared == per_sample_fc) continue; /* host-kernel VJPs: not jitted */
        static char names[16][48];
        snprintf(names[k], sizeof names[k], "jit(%s)", w->name);
        sf_function *shared = transform_jit(w->shared), *reference = transform_jit(w->shared);
        add_workload(names[k], shared, reference, w->inputs[0], w->inputs[1], w->n_out);
        RELEASE_FUNCTIONS(shared, reference);
    }
    /* The workloads hold what they use. */
    RELEASE_FUNCTIONS(grad_f, grad_w, per_sample, jac, jac_fwd, hess, grad_fc, per_sample_fc);
}

/* The reference: every workload on both input sets, on this thread alone. */
static void compute_references(void) {
    for (int k = 0; k < n_workloads; k++) {
        workload *w = &workloads[k];
        for (int set = 0; set < SETS; set++) {
            sf_tensor *out[MAX_OUT] = {NULL, NULL};
            CHECK_OK(call_workload(w, w->reference, set, out));
            for (size_t i = 0; i < w->n_out; i++) {
                CHECK(take_snapshot(out[i], &w->expected[set][i]));
                sf_tensor_release(out[i]);
            }
        }
    }
}

/* Independent checks of a few references against closed forms (the bitwise comparisons below only
 * say the threads agree with the main thread). */
static void check_references(void) {
    for (int set = 0; set < SETS; set++) {
        double w[M * N], x[N], gw[M * N], gx[N], value = 0;
        CHECK(read64(inputs[set][IN_W], w, M * N) && read64(inputs[set][IN_X], x, N));
        for (int j = 0; j < N; j++) value += x[j] * x[j] / 2, gx[j] = x[j];
        for (int i = 0; i < M; i++) {
            double t = 0;
            for (int j = 0; j < N; j++) t += w[i * N + j] * x[j];
            double th = tanh(t), slope = 1 - th * th;
            value += th;
            for (int j = 0; j < N; j++) gw[i * N + j] = slope * x[j], gx[j] += slope * w[i * N + j];
        }
        const double *f_value = (const double *)workloads[0].expected[set][0].bytes;
        const double *dw = (const double *)workloads[1].expected[set][0].bytes;
        const double *dx = (const double *)workloads[1].expected[set][1].bytes;
        CHECK_NEAR(f_value[0], value, 1e-12);
        for (int k = 0; k < M * N; k++) CHECK_NEAR(dw[k], gw[k], 1e-12);
        for (int j = 0; j < N; j++) CHECK_NEAR(dx[j], gx[j], 1e-12);
        double xs[B * N], fc_value = 0;
        CHECK(read64(inputs[set][IN_XS], xs, B * N));
        for (int j = 0; j < N; j++) fc_value += softplus(sin(x[j])) * x[j];
        CHECK_NEAR(((const double *)workloads[6].expected[set][0].bytes)[0], fc_value, 1e-12);
        const double *per_sample_fc = (const double *)workloads[8].expected[set][0].bytes;
        for (int b = 0; b < B; b++)
            for (int j = 0; j < N; j++) {
                double v = xs[b * N + j];
                CHECK_NEAR(per_sample_fc[b * N + j], sigmoid(sin(v)) * cos(v) * v + softplus(sin(v)), 1e-12);
            }
    }
}

/* ------------------------------------------------------------------------------------------------
 * DLPack between threads: a mailbox per thread (a list under a mutex)
 * ---------------------------------------------------------------------------------------------- */

typedef enum { MAIL_EMPTY, MAIL_LEGACY, MAIL_VERSIONED, MAIL_HOST_IMPORT } mail_kind;

/* What one thread hands the next. Every step posts one (MAIL_EMPTY when the sender failed, which
 * it has reported), so that no receiver waits forever. */
typedef struct mail {
    mail_kind kind;
    DLManagedTensor *legacy;
    struct DLManagedTensorVersioned *versioned;
    sf_tensor *tensor; /* MAIL_HOST_IMPORT: imported by the sender, released by the receiver */
    const snapshot *expected;
    struct mail *next;
} mail;

typedef struct {
    pthread_mutex_t mutex;
    pthread_cond_t ready;
    mail *head;
} mailbox;

static mailbox mailboxes[THREADS];

static void post(mailbox *box, mail *m) {
    pthread_mutex_lock(&box->mutex);
    m->next = box->head;
    box->head = m;
    pthread_cond_signal(&box->ready);
    pthread_mutex_unlock(&box->mutex);
}

static mail *receive(mailbox *box) {
    pthread_mutex_lock(&box->mutex);
    while (!box->head) pthread_cond_wait(&box->ready, &box->mutex);
    mail *m = box->head;
    box->head = m->next;
    pthread_mutex_unlock(&box->mutex);
    return m;
}

/* A host buffer imported through DLPack: its deleter counts and frees it. */
static atomic_int host_deleters, host_producers;

typedef struct {
    DLManagedTensor managed;
    int64_t shape[1];
    double values[N];
} host_buffer;

static void host_deleter(DLManagedTensor *self) {
    atomic_fetch_add(&host_deleters, 1);
    free(self->manager_ctx);
}

/* x's values per input set, for the host buffers. */
static snapshot x_values[SETS];

/* Imports a fresh host buffer holding x of `set` on this thread. */
static sf_tensor *import_host_copy(thread_log *log, int set) {
    host_buffer *buffer = calloc(1, sizeof *buffer);
    memcpy(buffer->values, x_values[set].bytes, sizeof buffer->values);
    buffer->shape[0] = N;
    buffer->managed.dl_tensor.data = buffer->values;
    buffer->managed.dl_tensor.device = (DLDevice){kDLCPU, 0};
    buffer->managed.dl_tensor.ndim = 1;
    buffer->managed.dl_tensor.dtype = (DLDataType){kDLFloat, 64, 1};
    buffer->managed.dl_tensor.shape = buffer->shape;
    buffer->managed.manager_ctx = buffer;
    buffer->managed.deleter = host_deleter;
    atomic_fetch_add(&host_producers, 1);
    sf_tensor *t = NULL;
    if (!TCHECK(log, sf_from_dlpack(&buffer->managed, &t) == SF_OK)) {
        buffer->managed.deleter(&buffer->managed);
        return NULL;
    }
    return t;
}

/* Imports (or takes) what another thread sent, checks it bitwise and computes with it. */
static void open_mail(thread_log *log, mail *m) {
    sf_tensor *t = NULL;
    switch (m->kind) {
    case MAIL_EMPTY:
        break;
    case MAIL_LEGACY:
        if (!TCHECK(log, sf_from_dlpack(m->legacy, &t) == SF_OK)) m->legacy->deleter(m->legacy);
        break;
    case MAIL_VERSIONED:
        if (!TCHECK(log, sf_from_dlpack_versioned(m->versioned, &t) == SF_OK)) m->versioned->deleter(m->versioned);
        break;
    case MAIL_HOST_IMPORT:
        t = m->tensor;
        break;
    }
    if (t) {
        TCHECK(log, same_bits(t, m->expected));
        sf_tensor *doubled = NULL, *half = NULL, *back = NULL;
        TCHECK(log, sf_add(t, t, &doubled) == SF_OK && sf_scalar(0.5, &half) == SF_OK &&
                        sf_mul(doubled, half, &back) == SF_OK && same_bits(back, m->expected));
        RELEASE_TENSORS(doubled, half, back, t);
    }
    free(m);
}

/* Exports `t` (a reference the mail takes over) for the next thread. */
static mail *export_mail(thread_log *log, sf_tensor *t, const snapshot *expected, int versioned) {
    mail *m = calloc(1, sizeof *m);
    if (!t) return m;
    m->expected = expected;
    m->kind = versioned ? MAIL_VERSIONED : MAIL_LEGACY;
    sf_status status = versioned ? sf_to_dlpack_versioned(t, &m->versioned) : sf_to_dlpack(t, &m->legacy);
    sf_tensor_release(t); /* the export keeps the storage alive */
    if (!TCHECK(log, status == SF_OK)) m->kind = MAIL_EMPTY;
    return m;
}

/* ------------------------------------------------------------------------------------------------
 * The worker
 * ---------------------------------------------------------------------------------------------- */

static int rounds = 4;

typedef struct {
    thread_log log;
    pthread_t thread;
    int draw_index[DRAWS_PER_THREAD]; /* phase 6: which reference call each draw matched */
    snapshot draws[DRAWS_PER_THREAD];
    int drew_jitted[DRAWS_PER_THREAD];
} worker;

static worker workers[THREADS];

/* Workload w on input set `set` through `f`: every output bitwise the reference. Returns output 0
 * (a new reference) for the caller to pass on, or NULL. */
static sf_tensor *run_workload(thread_log *log, const workload *w, sf_function *f, int set) {
    sf_tensor *out[MAX_OUT] = {NULL, NULL};
    if (!TCHECK(log, call_workload(w, f, set, out) == SF_OK)) {
        fprintf(stderr, "    workload %s, set %d\n", w->name, set);
        return NULL;
    }
    for (size_t i = 0; i < w->n_out; i++)
        if (!TCHECK(log, same_bits(out[i], &w->expected[set][i])))
            fprintf(stderr, "    workload %s, output %zu\n", w->name, i);
    sf_tensor_release(out[1]);
    return out[0];
}

/* Transforms of the shared f made, used and released by this thread. */
static void local_transforms(thread_log *log, int set) {
    const int32_t both[2] = {0, 1}, second[1] = {1};
    sf_function *g = NULL, *hess = NULL, *jg = NULL;
    if (TCHECK(log, sf_grad(f_shared, both, 2, false, &g) == SF_OK && sf_hessian(f_shared, second, 1, &hess) == SF_OK &&
                        sf_jit(g, &jg) == SF_OK)) {
        sf_tensor_release(run_workload(log, &workloads[1], g, set));
        sf_tensor_release(run_workload(log, &workloads[1], jg, set));
        sf_tensor_release(run_workload(log, &workloads[1], jg, 1 - set)); /* a replay on other values */
        sf_tensor_release(run_workload(log, &workloads[5], hess, set));
    }
    RELEASE_FUNCTIONS(jg, hess, g);
}

/* Failures on this thread keep their own message. */
static void own_errors(thread_log *log, int round) {
    snprintf(failure_text, sizeof failure_text, "thread %d failed on purpose in round %d", log->id, round);
    sf_tensor *out = GARBAGE;
    TCHECK(log, sf_call(fails_shared, &inputs[0][IN_X], 1, &out, 1) == SF_ERR_CALLBACK && out == NULL);
    TCHECK(log, strstr(sf_last_error(), failure_text) != NULL);
    /* Successful calls (and other threads' failures meanwhile) leave it. */
    sf_tensor *s = NULL;
    TCHECK(log, sf_sum(inputs[0][IN_X], NULL, 0, false, &s) == SF_OK);
    sf_tensor_release(s);
    TCHECK(log, strstr(sf_last_error(), failure_text) != NULL);
    /* An op's own message: a dim that names the thread. */
    const int64_t dims[1] = {40 + log->id};
    char fragment[32];
    snprintf(fragment, sizeof fragment, "%d", 40 + log->id);
    s = GARBAGE;
    TCHECK(log, sf_sum(inputs[0][IN_X], dims, 1, false, &s) == SF_ERR_INVALID_ARGUMENT && s == NULL);
    TCHECK(log, strstr(sf_last_error(), "sf_sum") != NULL && strstr(sf_last_error(), fragment) != NULL);
}

static void memory_stats(thread_log *log) {
    struct sf_memory_stats stats = SF_MEMORY_STATS_INIT;
    TCHECK(log, sf_memory_stats(&stats) == SF_OK && stats.struct_size == sizeof stats);
    TCHECK(log, stats.bytes_in_use > 0); /* the inputs are alive */
}

static void *worker_main(void *arg) {
    worker *self = arg;
    thread_log *log = &self->log;
    mailbox *next = &mailboxes[(log->id + 1) % THREADS], *own = &mailboxes[log->id];
    for (int round = 0; round < rounds; round++) {
        for (int step = 0; step < n_workloads; step++) {
            /* Each thread walks the workloads from its own start, in its own direction. */
            int k = log->id % 2 ? (step + 3 * log->id) % n_workloads
                                : n_workloads - 1 - (step + 5 * log->id) % n_workloads;
            int set = (round + log->id + step) % SETS;
            const workload *w = &workloads[k];
            /* Output 0 goes to the next thread through DLPack, every third as versioned. */
            sf_tensor *result = run_workload(log, w, w->shared, set);
            post(next, export_mail(log, result, &w->expected[set][0], step % 3 == 2));
            open_mail(log, receive(own));
        }
        /* A host buffer imported here, released by the next thread. */
        mail *m = calloc(1, sizeof *m);
        m->tensor = import_host_copy(log, round % SETS);
        m->kind = m->tensor ? MAIL_HOST_IMPORT : MAIL_EMPTY;
        m->expected = &x_values[round % SETS];
        post(next, m);
        open_mail(log, receive(own));

        local_transforms(log, (round + log->id) % SETS);
        own_errors(log, round);
        memory_stats(log);
    }
    return NULL;
}

/* ------------------------------------------------------------------------------------------------
 * Phase 6: random draws from every thread
 * ---------------------------------------------------------------------------------------------- */

enum { TOTAL_DRAWS = THREADS * DRAWS_PER_THREAD };
static sf_function *draw_jitted;
static sf_tensor *draw_base;                     /* x of cb_draw */
static snapshot eager_draws[TOTAL_DRAWS];        /* call k of sf_rand([DRAW]) from the seed */
static snapshot jitted_draws[TOTAL_DRAWS];       /* x + call k, as cb_draw computes it */
static const uint64_t SEED = 20261204;

static void *draw_main(void *arg) {
    worker *self = arg;
    const int64_t shape[1] = {DRAW};
    for (int k = 0; k < DRAWS_PER_THREAD; k++) {
        sf_tensor *r = NULL;
        /* Threads alternate eager draws and the jitted function, each from its own start. */
        self->drew_jitted[k] = (k + self->log.id) % 2;
        sf_status status = self->drew_jitted[k] ? sf_call(draw_jitted, &draw_base, 1, &r, 1)
                                                : sf_rand(shape, 1, SF_FLOAT64, &r);
        if (TCHECK(&self->log, status == SF_OK)) TCHECK(&self->log, take_snapshot(r, &self->draws[k]));
        sf_tensor_release(r);
    }
    return NULL;
}

static int same_snapshot(const snapshot *a, const snapshot *b) {
    return a->size == b->size && a->bytes && b->bytes && memcmp(a->bytes, b->bytes, a->size) == 0;
}

static void test_random_draws(void) {
    const int64_t shape[1] = {DRAW};
    double base[DRAW];
    for (int j = 0; j < DRAW; j++) base[j] = j - 0.5 * DRAW;
    draw_base = make64(base, shape, 1);
    sf_function *draw = new_function(cb_draw, 1, 1);
    /* The reference: TOTAL_DRAWS calls one after another from the seed (a separate jit handle). */
    CHECK_OK(sf_manual_seed(SEED));
    for (int k = 0; k < TOTAL_DRAWS; k++) {
        sf_tensor *r = NULL, *shifted = NULL;
        CHECK_OK(sf_rand(shape, 1, SF_FLOAT64, &r));
        CHECK_OK(sf_add(draw_base, r, &shifted));
        CHECK(take_snapshot(r, &eager_draws[k]) && take_snapshot(shifted, &jitted_draws[k]));
        RELEASE_TENSORS(r, shifted);
    }
    /* The jitted draw replays as an eager call: checked here on one thread. */
    sf_function *reference_jit = transform_jit(draw);
    CHECK_OK(sf_manual_seed(SEED));
    for (int k = 0; k < 3; k++) {
        sf_tensor *r = NULL;
        CHECK_OK(sf_call(reference_jit, &draw_base, 1, &r, 1));
        CHECK(same_bits(r, &jitted_draws[k]));
        sf_tensor_release(r);
    }

    draw_jitted = transform_jit(draw); /* first traced by a worker */
    CHECK_OK(sf_manual_seed(SEED));
    for (int i = 0; i < THREADS; i++) {
        workers[i].log = (thread_log){.id = i};
        CHECK_EQ(pthread_create(&workers[i].thread, NULL, draw_main, &workers[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) CHECK_EQ(pthread_join(workers[i].thread, NULL), 0);

    /* Every draw is one of the reference calls, each used once, increasing within a thread. */
    int used[TOTAL_DRAWS] = {0}, matched = 0, ordered = 1;
    for (int i = 0; i < THREADS; i++) {
        CHECK_EQ(workers[i].log.failures, 0);
        int previous = -1;
        for (int k = 0; k < DRAWS_PER_THREAD; k++) {
            const snapshot *table = workers[i].drew_jitted[k] ? jitted_draws : eager_draws;
            int found = -1;
            for (int c = 0; c < TOTAL_DRAWS && found < 0; c++)
                if (!used[c] && same_snapshot(&workers[i].draws[k], &table[c])) found = c;
            if (found >= 0) {
                used[found] = 1, matched++;
                if (found <= previous) ordered = 0;
                previous = found;
            } else {
                fprintf(stderr, "thread %d draw %d (%s) matches no reference call\n", i, k,
                        workers[i].drew_jitted[k] ? "jitted" : "eager");
            }
            free_snapshot(&workers[i].draws[k]);
        }
    }
    CHECK_EQ(matched, TOTAL_DRAWS);
    CHECK(ordered);
    for (int k = 0; k < TOTAL_DRAWS; k++) free_snapshot(&eager_draws[k]), free_snapshot(&jitted_draws[k]);
    RELEASE_FUNCTIONS(draw_jitted, reference_jit, draw);
    sf_tensor_release(draw_base);
}

/* ------------------------------------------------------------------------------------------------
 * main
 * ---------------------------------------------------------------------------------------------- */

static void make_inputs(void) {
    for (int set = 0; set < SETS; set++) {
        double w[M * N], x[N], xs[B * N];
        for (int k = 0; k < M * N; k++) w[k] = 0.4 * sin(1.3 * k + set);
        for (int j = 0; j < N; j++) x[j] = 0.9 * cos(0.7 * j - 2.0 * set);
        for (int k = 0; k < B * N; k++) xs[k] = 1.1 * sin(0.37 * k + 0.5 * set);
        double *v = malloc(sizeof(double) * LARGE);
        for (int k = 0; k < LARGE; k++) v[k] = (double)(((int64_t)k * 7919 + set * 104729) % 2001 - 1000) * 1e-3;
        const int64_t w_shape[2] = {M, N}, x_shape[1] = {N}, xs_shape[2] = {B, N}, v_shape[1] = {LARGE};
        inputs[set][IN_W] = make64(w, w_shape, 2);
        inputs[set][IN_X] = make64(x, x_shape, 1);
        inputs[set][IN_XS] = make64(xs, xs_shape, 2);
        inputs[set][IN_V] = make64(v, v_shape, 1);
        for (int k = 0; k < G * G; k++) v[k] = 0.01 * sin(0.013 * k + set);
        const int64_t a_shape[2] = {G, G};
        inputs[set][IN_A] = make64(v, a_shape, 2);
        free(v);
        CHECK(take_snapshot(inputs[set][IN_X], &x_values[set]));
    }
}

static uint64_t bytes_in_use(void) {
    struct sf_memory_stats stats = SF_MEMORY_STATS_INIT;
    CHECK_OK(sf_memory_stats(&stats));
    return stats.bytes_in_use;
}

int main(void) {
    const char *env = getenv("SF_THREADS_ROUNDS");
    if (env && atoi(env) > 0) rounds = atoi(env);
    for (int i = 0; i < THREADS; i++) {
        pthread_mutex_init(&mailboxes[i].mutex, NULL);
        pthread_cond_init(&mailboxes[i].ready, NULL);
    }
    make_inputs();
    make_workloads();
    compute_references();
    check_references();


    for (int i = 0; i < THREADS; i++) {
        workers[i].log = (thread_log){.id = i};
        CHECK_EQ(pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]), 0);
    }
    int checks = 0;
    for (int i = 0; i < THREADS; i++) {
        CHECK_EQ(pthread_join(workers[i].thread, NULL), 0);
        CHECK_EQ(workers[i].log.failures, 0);
        checks += workers[i].log.checks;
    }
    for (int i = 0; i < THREADS; i++) CHECK(mailboxes[i].head == NULL);
    /* Every host buffer's deleter ran once, on whichever thread released it last. */
    CHECK_EQ(atomic_load(&host_deleters), THREADS * rounds);
    CHECK_EQ(atomic_load(&host_producers), THREADS * rounds);
    CHECK(atomic_load(&custom_forward_calls) > 0 && atomic_load(&custom_vjp_calls) > 0);
    /* Nothing the threads made is alive: the pool's count is back (the jit caches of the shared
     * handles hold constants, so compare once they are gone). */
    printf("threads: %d rounds x %d threads x %d workloads, %d checks in threads\n", rounds, THREADS, n_workloads,
           checks);

    for (int k = 0; k < n_workloads; k++) {
        workload *w = &workloads[k];
        if (w->reference != w->shared) sf_function_release(w->reference);
        sf_function_release(w->shared);
        for (int set = 0; set < SETS; set++)
            for (size_t i = 0; i < w->n_out; i++) free_snapshot(&w->expected[set][i]);
    }
    RELEASE_FUNCTIONS(f_shared, h_shared, fc_shared, big_shared, gemm_shared, fails_shared, custom_softplus);
    CHECK_EQ(atomic_load(&custom_freed), 1);

    test_random_draws();

    for (int set = 0; set < SETS; set++) {
        for (int k = 0; k < N_INPUTS; k++) sf_tensor_release(inputs[set][k]);
        free_snapshot(&x_values[set]);
    }
    CHECK_EQ(bytes_in_use(), 0);
    return check_summary();
}
