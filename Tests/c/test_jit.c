/* test_jit.c — staged execution (sf_jit, sf_jit_trace_count, sf_function_graph, sf_string_free)
 * through the C ABI.
 *
 *  1. Every transform workload run jitted gives the eager result (float64, 1e-12) and the closed
 *     form computed in C: a plain function (sin/mul/sum chains with a matmul), grad, the vjp
 *     pullback, jvp, jacrev, jacfwd, hessian, vmap, vmap(grad) per-sample gradients of an MLP.
 *     Each jitted workload is called three times (a trace, then replays with other and with the
 *     first values), so a replay that kept the trace's numbers would be caught.
 *  2. Compositions both ways: grad(jit(f)), vmap(jit(f)), jvp/vjp/jacrev/linearize of jit(f),
 *     jit(vmap(grad(f))), jit(hessian(f)), jit(jit(f)), a jitted function called inside another
 *     function's callback under grad (cached), and one whose callback captures a value of the
 *     enclosing grad (used for that call only, never cached).
 *  3. Tracing: host callbacks run once per signature (counted in user_data); trace counts on new
 *     shapes, dtypes and weak-typedness; the least-recently-used eviction at 64 signatures;
 *     failing callbacks, escaped tracers, bad arguments.
 *  4. Concretization: reading a value that depends on the inputs while tracing is SF_ERR_TRANSFORM
 *     ("depends on the inputs"), forwarded by the callback; captured concrete values and values
 *     folded from constants are readable.
 *  5. Randomness: after sf_manual_seed, jitted calls draw bitwise what eager calls draw (also
 *     dropout, randn, an unused draw, and under vmap), and leave the generator where they would.
 *  6. sf_function_graph: op names, dead code removed, common subexpressions merged, constants
 *     folded, random draws never merged; bad arguments; sf_string_free(NULL).
 *  7. Eight threads calling one jitted function at once, before and after its first trace and on
 *     two signatures at once: results bitwise equal to the eager ones.
 *  8. A custom function inside a jitted function: recorded as a call, its forward runs at each
 *     replay, results right, also under grad, jvp and jit(grad); a forward that refuses inputs
 *     outside its domain still works jitted on valid inputs.
 *     A custom function returning another shape or dtype at a replay than at the trace is refused
 *     (SF_ERR_SHAPE), jitted, in linearize's linear map, and replayed under jvp.
 *  9. Functions whose output count is known at return (sf_function_new_at_return), jitted.
 *
 * Runs plain and under AddressSanitizer/LeakSanitizer. */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "check.h"
#include "swiftfunc.h"
#include "tensor_check.h"

/* Jitted against eager (the same ops replayed), and against closed forms in C doubles. */
#define JIT_TOL 1e-12
#define TOL 1e-10

/* Declares a host callback (sf_callback) named `name`. */
#define CALLBACK(name)                                                                          \
    static int name(void *ud UNUSED, sf_tensor *const *in UNUSED, size_t n_in UNUSED,           \
                    sf_tensor **out UNUSED, size_t n_out UNUSED)

/* ------------------------------------------------------------------------------------------------
 * Counting host calls (atomic: the thread tests share callbacks)
 * ---------------------------------------------------------------------------------------------- */

typedef struct {
    atomic_int calls;
} counter;

static void bump(counter *c) { atomic_fetch_add(&c->calls, 1); }
static int calls_of(counter *c) { return atomic_load(&c->calls); }
static void reset(counter *c) { atomic_store(&c->calls, 0); }

/* ------------------------------------------------------------------------------------------------
 * Small helpers
 * ---------------------------------------------------------------------------------------------- */

static sf_function *function(sf_callback callback, void *user_data, size_t n_in, size_t n_out) {
    sf_function *f = NULL;
    CHECK_OK(sf_function_new(callback, user_data, NULL, n_in, n_out, &f));
    return f;
}

static sf_function *jit(sf_function *f) {
    sf_function *j = NULL;
    CHECK_OK(sf_jit(f, &j));
    return j;
}

/* The trace count of a jitted function (one recorded CHECK_OK; UINT64_MAX on failure). */
static uint64_t traces(sf_function *jf) {
    uint64_t count = UINT64_MAX;
    CHECK_OK(sf_jit_trace_count(jf, &count));
    return count;
}

static sf_tensor *vec(const double *values, int64_t n) { return make64(values, &n, 1); }

static sf_tensor *mat(const double *values, int64_t rows, int64_t cols) {
    const int64_t shape[2] = {rows, cols};
    return make64(values, shape, 2);
}

/* Deterministic test values: v[k] = scale * sin(seed + 0.731 k). */
static void fill(double *v, int n, double seed, double scale) {
    for (int k = 0; k < n; k++) v[k] = scale * sin(seed + 0.731 * k);
}

/* A float64 constant tensor inside a callback. */
static sf_tensor *constant_full(arena *a, const int64_t *shape, size_t ndim, double value) {
    sf_tensor *r = NULL;
    if (a->failed) return NULL;
    return keep(a, sf_full(shape, ndim, value, SF_FLOAT64, &r), &r);
}

static sf_tensor *call1(arena *a, sf_function *f, sf_tensor *const *inputs, size_t n_in) {
    sf_tensor *r = NULL;
    if (a->failed) return NULL;
    return keep(a, sf_call(f, inputs, n_in, &r, 1), &r);
}

/* How many times `needle` occurs in `text`. */
static int occurrences(const char *text, const char *needle) {
    int n = 0;
    if (!text) return -1;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

/* Whether two tensors hold bitwise the same float64 values (same element count). */
static int bitwise_equal(sf_tensor *a, sf_tensor *b) {
    int64_t na = -1, nb = -2;
    if (!a || !b || sf_tensor_numel(a, &na) != SF_OK || sf_tensor_numel(b, &nb) != SF_OK || na != nb) return 0;
    double *va = malloc(sizeof(double) * (size_t)(na + 1)), *vb = malloc(sizeof(double) * (size_t)(nb + 1));
    int ok = read64(a, va, na) && read64(b, vb, nb) && memcmp(va, vb, sizeof(double) * (size_t)na) == 0;
    free(va);
    free(vb);
    return ok;
}

/* ------------------------------------------------------------------------------------------------
 * Calling a function and its jitted version
 * ---------------------------------------------------------------------------------------------- */

static int call_ok(sf_function *f, sf_tensor *const *inputs, size_t n_in, sf_tensor **outputs, size_t n_out,
                   const char *file, int line, const char *what) {
    sf_status status = sf_call(f, inputs, n_in, outputs, n_out);
    if (!check_record(status == SF_OK, file, line, what)) {
        fprintf(stderr, "    got status %d (%s)\n", (int)status, sf_last_error());
        return 0;
    }
    return 1;
}

/* Calls f eagerly on `a` and `b`, and sf_jit(f) on a (the trace), b and a again (replays); checks
 * every jitted output against the eager one for the same inputs, that sf_jit(f) traced once, and
 * stores the outputs of the last jitted call in out_a. Returns sf_jit(f) (the caller releases it). */
static sf_function *check_jit_matches(sf_function *f, sf_tensor *const *a, sf_tensor *const *b, size_t n_in,
                                      size_t n_out, sf_tensor **out_a, const char *file, int line) {
    enum { MAX_OUT = 8 };
    sf_tensor *ea[MAX_OUT] = {0}, *eb[MAX_OUT] = {0}, *ja1[MAX_OUT] = {0}, *jb[MAX_OUT] = {0}, *ja2[MAX_OUT] = {0};
    sf_function *jf = NULL;
    for (size_t k = 0; k < n_out; k++) out_a[k] = NULL;
    if (!check_record(n_out <= MAX_OUT && sf_jit(f, &jf) == SF_OK, file, line, "sf_jit(f) succeeds")) {
        fprintf(stderr, "    %s\n", sf_last_error());
        return NULL;
    }
    uint64_t count = UINT64_MAX;
    check_record(sf_jit_trace_count(jf, &count) == SF_OK && count == 0, file, line, "no trace before the first call");
    int ok = call_ok(f, a, n_in, ea, n_out, file, line, "eager call (a)");
    ok &= call_ok(f, b, n_in, eb, n_out, file, line, "eager call (b)");
    ok &= call_ok(jf, a, n_in, ja1, n_out, file, line, "jitted call (a, the trace)");
    ok &= call_ok(jf, b, n_in, jb, n_out, file, line, "jitted call (b, a replay)");
    ok &= call_ok(jf, a, n_in, ja2, n_out, file, line, "jitted call (a, a replay)");
    if (!check_record(sf_jit_trace_count(jf, &count) == SF_OK && count == 1, file, line, "one trace for three calls"))
        fprintf(stderr, "    trace count %llu\n", (unsigned long long)count);
    if (ok) {
        char label[128];
        for (size_t k = 0; k < n_out; k++) {
            snprintf(label, sizeof label, "output %zu: traced call (a) equals eager", k);
            check_same(ja1[k], ea[k], JIT_TOL, file, line, label);
            snprintf(label, sizeof label, "output %zu: replay (b) equals eager", k);
            check_same(jb[k], eb[k], JIT_TOL, file, line, label);
            snprintf(label, sizeof label, "output %zu: replay (a) equals eager", k);
            check_same(ja2[k], ea[k], JIT_TOL, file, line, label);
        }
    }
    for (size_t k = 0; k < n_out; k++) {
        out_a[k] = ja2[k];
        RELEASE_TENSORS(ea[k], eb[k], ja1[k], jb[k]);
    }
    return jf;
}

#define JIT_MATCHES(f, a, b, n_in, n_out, out) check_jit_matches((f), (a), (b), (n_in), (n_out), (out), __FILE__, __LINE__)

/* Calls two functions that must agree (say grad(jit(f)) and grad(f)) on the same inputs; stores
 * the outputs of `first` in out. */
static void check_calls_match(sf_function *first, sf_function *second, sf_tensor *const *inputs, size_t n_in,
                              size_t n_out, sf_tensor **out, const char *file, int line) {
    enum { MAX_OUT = 8 };
    sf_tensor *other[MAX_OUT] = {0};
    for (size_t k = 0; k < n_out; k++) out[k] = NULL;
    int ok = call_ok(first, inputs, n_in, out, n_out, file, line, "call of the first function");
    ok &= call_ok(second, inputs, n_in, other, n_out, file, line, "call of the second function");
    char label[128];
    for (size_t k = 0; ok && k < n_out; k++) {
        snprintf(label, sizeof label, "output %zu agrees", k);
        check_same(out[k], other[k], JIT_TOL, file, line, label);
    }
    release_all(other, n_out);
}

#define CALLS_MATCH(first, second, inputs, n_in, n_out, out)                                    \
    check_calls_match((first), (second), (inputs), (n_in), (n_out), (out), __FILE__, __LINE__)

/* ------------------------------------------------------------------------------------------------
 * The workloads: W [3, 4], x [4]
 *   F(W, x) = sin(W @ x)                                  [3]
 *   L(W, x) = sum(sin(W @ x) * (W @ x)) + sum(sin(x) * x)  scalar
 *   P(W, x) = (L(W, x), sin(sin(x)) * x, (W @ x) * 2)      a plain multi-output function with a
 *             dead exp and a repeated sin
 * ---------------------------------------------------------------------------------------------- */

enum { M = 3, N = 4 };
static const int64_t SHAPE_W[2] = {M, N};
static const int64_t SHAPE_X[1] = {N};
static const int64_t SHAPE_Y[1] = {M};

static const double W_A[M * N] = {0.3, -0.5, 0.8, 0.1, 0.6, 0.2, -0.4, 0.7, -0.9, 0.25, 0.5, -0.3};
static const double X_A[N] = {0.7, -1.2, 0.4, 1.5};
static const double W_B[M * N] = {-0.2, 0.45, 0.1, -0.6, 0.35, -0.15, 0.9, 0.05, 0.4, -0.7, 0.2, 0.3};
static const double X_B[N] = {-0.3, 0.9, 1.1, -0.8};

/* y = W x for W [m, n]. */
static void mat_vec(const double *w, const double *x, double *y, int m, int n) {
    for (int i = 0; i < m; i++) {
        y[i] = 0;
        for (int j = 0; j < n; j++) y[i] += w[i * n + j] * x[j];
    }
}

CALLBACK(cb_F) {
    if (ud) bump(ud);
    arena a = {0};
    put(&a, out, 0, op1(&a, sf_sin, op2(&a, sf_matmul, in[0], in[1])));
    return finish(&a);
}

/* L for W [m, n] and x [n] of any sizes. */
CALLBACK(cb_L) {
    if (ud) bump(ud);
    arena a = {0};
    sf_tensor *y = op2(&a, sf_matmul, in[0], in[1]);
    sf_tensor *first = sum_all(&a, op2(&a, sf_mul, op1(&a, sf_sin, y), y));
    sf_tensor *second = sum_all(&a, op2(&a, sf_mul, op1(&a, sf_sin, in[1]), in[1]));
    put(&a, out, 0, op2(&a, sf_add, first, second));
    return finish(&a);
}

CALLBACK(cb_P) {
    if (ud) bump(ud);
    arena a = {0};
    sf_tensor *y = op2(&a, sf_matmul, in[0], in[1]);
    op1(&a, sf_exp, y); /* dead */
    sf_tensor *first = sum_all(&a, op2(&a, sf_mul, op1(&a, sf_sin, y), y));
    sf_tensor *second = sum_all(&a, op2(&a, sf_mul, op1(&a, sf_sin, in[1]), in[1]));
    put(&a, out, 0, op2(&a, sf_add, first, second));
    put(&a, out, 1, op2(&a, sf_mul, op1(&a, sf_sin, op1(&a, sf_sin, in[1])), in[1]));
    put(&a, out, 2, op2(&a, sf_mul, y, constant_full(&a, SHAPE_Y, 1, 2.0)));
    return finish(&a);
}

static double ref_L(const double *w, const double *x, int m, int n) {
    double y[8], total = 0;
    mat_vec(w, x, y, m, n);
    for (int i = 0; i < m; i++) total += sin(y[i]) * y[i];
    for (int j = 0; j < n; j++) total += sin(x[j]) * x[j];
    return total;
}

static void ref_grad_L(const double *w, const double *x, int m, int n, double *dw, double *dx) {
    double y[8], gy[8];
    mat_vec(w, x, y, m, n);
    for (int i = 0; i < m; i++) gy[i] = cos(y[i]) * y[i] + sin(y[i]);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) dw[i * n + j] = gy[i] * x[j];
    for (int j = 0; j < n; j++) {
        dx[j] = cos(x[j]) * x[j] + sin(x[j]);
        for (int i = 0; i < m; i++) dx[j] += w[i * n + j] * gy[i];
    }
}

/* d2 L / dx dx, [N, N]. */
static void ref_hessian_L_x(const double *w, const double *x, double *h) {
    double y[M];
    mat_vec(w, x, y, M, N);
    for (int j = 0; j < N; j++)
        for (int k = 0; k < N; k++) {
            h[j * N + k] = j == k ? 2 * cos(x[j]) - x[j] * sin(x[j]) : 0;
            for (int i = 0; i < M; i++) h[j * N + k] += w[i * N + j] * w[i * N + k] * (2 * cos(y[i]) - y[i] * sin(y[i]));
        }
}

static void ref_F(const double *w, const double *x, double *f) {
    mat_vec(w, x, f, M, N);
    for (int i = 0; i < M; i++) f[i] = sin(f[i]);
}

/* dF/dW [M, M, N] and dF/dx [M, N]. */
static void ref_jacobian_F(const double *w, const double *x, double *jw, double *jx) {
    double y[M];
    mat_vec(w, x, y, M, N);
    for (int i = 0; i < M; i++)
        for (int a = 0; a < M; a++)
            for (int b = 0; b < N; b++) jw[(i * M + a) * N + b] = i == a ? cos(y[i]) * x[b] : 0;
    for (int i = 0; i < M; i++)
        for (int k = 0; k < N; k++) jx[i * N + k] = cos(y[i]) * w[i * N + k];
}

/* The inputs (W, x) at point A and B. */
typedef struct {
    sf_tensor *a[2], *b[2];
} wx_inputs;

static wx_inputs make_wx(void) {
    wx_inputs in = {{mat(W_A, M, N), vec(X_A, N)}, {mat(W_B, M, N), vec(X_B, N)}};
    return in;
}

static void release_wx(wx_inputs *in) { RELEASE_TENSORS(in->a[0], in->a[1], in->b[0], in->b[1]); }

/* ------------------------------------------------------------------------------------------------
 * 1. Transform workloads, jitted
 * ---------------------------------------------------------------------------------------------- */

static void test_plain_function(void) {
    counter c = {0};
    wx_inputs in = make_wx();
    sf_function *p = function(cb_P, &c, 2, 3);
    sf_tensor *out[3];
    sf_function *jp = JIT_MATCHES(p, in.a, in.b, 2, 3, out);
    CHECK_EQ(calls_of(&c), 3); /* two eager calls, one trace; the replays call nothing */
    double y[M], second[N], third[M];
    mat_vec(W_A, X_A, y, M, N);
    for (int j = 0; j < N; j++) second[j] = sin(sin(X_A[j])) * X_A[j];
    for (int i = 0; i < M; i++) third[i] = 2 * y[i];
    CHECK_SCALAR(out[0], ref_L(W_A, X_A, M, N), TOL);
    CHECK_TENSOR(out[1], SHAPE_X, 1, second, TOL);
    CHECK_TENSOR(out[2], SHAPE_Y, 1, third, TOL);
    size_t n_in = 0, n_out = 0;
    CHECK_OK(sf_function_arity(jp, &n_in, &n_out));
    CHECK_EQ(n_in, 2);
    CHECK_EQ(n_out, 3);
    release_all(out, 3);
    RELEASE_FUNCTIONS(jp, p);
    release_wx(&in);
}

static void test_grad_and_hessian(void) {
    counter c = {0};
    wx_inputs in = make_wx();
    sf_function *l = function(cb_L, &c, 2, 1), *g = NULL, *h = NULL;
    const int32_t both[2] = {0, 1}, x_only[1] = {1};

    CHECK_OK(sf_grad(l, both, 2, false, &g));
    sf_tensor *grads[2];
    sf_function *jg = JIT_MATCHES(g, in.a, in.b, 2, 2, grads);
    CHECK_EQ(calls_of(&c), 3);
    double dw[M * N], dx[N];
    ref_grad_L(W_A, X_A, M, N, dw, dx);
    CHECK_TENSOR(grads[0], SHAPE_W, 2, dw, TOL);
    CHECK_TENSOR(grads[1], SHAPE_X, 1, dx, TOL);
    release_all(grads, 2);

    /* jit(hessian(L)) over x. */
    reset(&c);
    CHECK_OK(sf_hessian(l, x_only, 1, &h));
    sf_tensor *hess = NULL;
    sf_function *jh = JIT_MATCHES(h, in.a, in.b, 2, 1, &hess);
    CHECK_EQ(calls_of(&c), 3);
    double ref_h[N * N];
    ref_hessian_L_x(W_A, X_A, ref_h);
    const int64_t shape_h[2] = {N, N};
    CHECK_TENSOR(hess, shape_h, 2, ref_h, TOL);
    sf_tensor_release(hess);
    RELEASE_FUNCTIONS(jh, h, jg, g, l);
    release_wx(&in);
}

/* (W, x, tW, tx) -> jvp of F: (F, its tangent); user_data is F. */
CALLBACK(cb_jvp_of_F) {
    sf_tensor *y = NULL, *ty = NULL;
    if (sf_jvp(ud, in, in + 2, 2, &y, &ty, 1) != SF_OK) return 1;
    out[0] = y;
    out[1] = ty;
    return 0;
}

static void test_jvp_vjp_jacobians(void) {
    counter c = {0};
    wx_inputs in = make_wx();
    sf_function *f = function(cb_F, &c, 2, 1);
    double fw[M], jw[M * M * N], jx[M * N];
    ref_F(W_A, X_A, fw);
    ref_jacobian_F(W_A, X_A, jw, jx);

    /* jit of a function that runs jvp inside. */
    double tw_values[M * N], tx_values[N];
    fill(tw_values, M * N, 0.3, 1.0);
    fill(tx_values, N, 1.7, 1.0);
    sf_tensor *tw = mat(tw_values, M, N), *tx = vec(tx_values, N);
    sf_tensor *tw_b = mat(W_B, M, N), *tx_b = vec(X_A, N); /* other tangents at point B */
    sf_tensor *args_a[4] = {in.a[0], in.a[1], tw, tx}, *args_b[4] = {in.b[0], in.b[1], tw_b, tx_b};
    sf_function *jvp_fn = function(cb_jvp_of_F, f, 4, 2);
    sf_tensor *jvp_out[2];
    sf_function *j_jvp = JIT_MATCHES(jvp_fn, args_a, args_b, 4, 2, jvp_out);
    double y[M], tangent[M], tw_x[M], w_tx[M];
    mat_vec(W_A, X_A, y, M, N);
    mat_vec(tw_values, X_A, tw_x, M, N);
    mat_vec(W_A, tx_values, w_tx, M, N);
    for (int i = 0; i < M; i++) tangent[i] = cos(y[i]) * (tw_x[i] + w_tx[i]);
    CHECK_TENSOR(jvp_out[0], SHAPE_Y, 1, fw, TOL);
    CHECK_TENSOR(jvp_out[1], SHAPE_Y, 1, tangent, TOL);
    release_all(jvp_out, 2);

    /* jit of the vjp pullback, with two cotangents. */
    sf_tensor *primal_out = NULL;
    sf_function *pullback = NULL;
    CHECK_OK(sf_vjp(f, in.a, 2, &primal_out, 1, &pullback));
    CHECK_TENSOR(primal_out, SHAPE_Y, 1, fw, TOL);
    const double ct_a_values[M] = {1.0, -0.5, 2.0}, ct_b_values[M] = {0.25, 3.0, -1.0};
    sf_tensor *ct_a = vec(ct_a_values, M), *ct_b = vec(ct_b_values, M), *cotangents[2];
    sf_function *j_pullback = JIT_MATCHES(pullback, &ct_a, &ct_b, 1, 2, cotangents);
    double w_bar[M * N], x_bar[N] = {0};
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            w_bar[i * N + j] = ct_a_values[i] * cos(y[i]) * X_A[j];
            x_bar[j] += ct_a_values[i] * cos(y[i]) * W_A[i * N + j];
        }
    CHECK_TENSOR(cotangents[0], SHAPE_W, 2, w_bar, TOL);
    CHECK_TENSOR(cotangents[1], SHAPE_X, 1, x_bar, TOL);
    release_all(cotangents, 2);

    /* jit(jacrev(F)) and jit(jacfwd(F)) over both inputs. */
    const int32_t both[2] = {0, 1};
    const int64_t shape_jw[3] = {M, M, N}, shape_jx[2] = {M, N};
    sf_function *jr = NULL, *jfwd = NULL;
    CHECK_OK(sf_jacrev(f, both, 2, false, 0, &jr));
    CHECK_OK(sf_jacfwd(f, both, 2, false, SF_RANDOMNESS_ERROR, &jfwd));
    sf_tensor *jac[2];
    sf_function *j_jr = JIT_MATCHES(jr, in.a, in.b, 2, 2, jac);
    CHECK_TENSOR(jac[0], shape_jw, 3, jw, TOL);
    CHECK_TENSOR(jac[1], shape_jx, 2, jx, TOL);
    release_all(jac, 2);
    sf_function *j_jfwd = JIT_MATCHES(jfwd, in.a, in.b, 2, 2, jac);
    CHECK_TENSOR(jac[0], shape_jw, 3, jw, TOL);
    CHECK_TENSOR(jac[1], shape_jx, 2, jx, TOL);
    release_all(jac, 2);

    /* jacrev with chunks, jitted. */
    sf_function *jr_chunked = NULL;
    CHECK_OK(sf_jacrev(f, both, 2, false, 2, &jr_chunked));
    sf_function *j_jr_chunked = JIT_MATCHES(jr_chunked, in.a, in.b, 2, 2, jac);
    CHECK_TENSOR(jac[1], shape_jx, 2, jx, TOL);
    release_all(jac, 2);

    RELEASE_TENSORS(tw, tx, tw_b, tx_b, primal_out, ct_a, ct_b);
    RELEASE_FUNCTIONS(j_jr_chunked, jr_chunked, j_jfwd, j_jr, jfwd, jr, j_pullback, pullback, j_jvp, jvp_fn, f);
    release_wx(&in);
}

static void test_vmap(void) {
    enum { B = 5 };
    double xs_a[B * N], xs_b[B * N];
    fill(xs_a, B * N, 0.2, 1.1);
    fill(xs_b, B * N, 2.9, 0.8);
    sf_tensor *w_a = mat(W_A, M, N), *w_b = mat(W_B, M, N);
    sf_tensor *a[2] = {w_a, mat(xs_a, B, N)}, *b[2] = {w_b, mat(xs_b, B, N)};
    counter c = {0};
    sf_function *f = function(cb_F, &c, 2, 1), *mapped = NULL;
    const int64_t in_dims[2] = {SF_NOT_MAPPED, 0};
    CHECK_OK(sf_vmap(f, in_dims, 2, NULL, 0, 0, SF_RANDOMNESS_ERROR, &mapped));
    sf_tensor *ys = NULL;
    sf_function *j_mapped = JIT_MATCHES(mapped, a, b, 2, 1, &ys);
    double ref[B * M];
    for (int k = 0; k < B; k++) ref_F(W_A, xs_a + k * N, ref + k * M);
    const int64_t shape_ys[2] = {B, M};
    CHECK_TENSOR(ys, shape_ys, 2, ref, TOL);
    sf_tensor_release(ys);

    /* Chunked vmap, jitted. */
    sf_function *chunked = NULL;
    CHECK_OK(sf_vmap(f, in_dims, 2, NULL, 0, 2, SF_RANDOMNESS_ERROR, &chunked));
    sf_function *j_chunked = JIT_MATCHES(chunked, a, b, 2, 1, &ys);
    CHECK_TENSOR(ys, shape_ys, 2, ref, TOL);
    sf_tensor_release(ys);

    /* vmap(jit(F)): the jitted function is traced once for the per-example signature, which a
     * direct call with one example then reuses. */
    reset(&c);
    sf_function *jf = jit(f), *mapped_jit = NULL;
    CHECK_OK(sf_vmap(jf, in_dims, 2, NULL, 0, 0, SF_RANDOMNESS_ERROR, &mapped_jit));
    CALLS_MATCH(mapped_jit, mapped, a, 2, 1, &ys);
    CHECK_TENSOR(ys, shape_ys, 2, ref, TOL);
    sf_tensor_release(ys);
    CALLS_MATCH(mapped_jit, mapped, b, 2, 1, &ys);
    sf_tensor_release(ys);
    CHECK_EQ(traces(jf), 1);
    CHECK_EQ(calls_of(&c), 3); /* the trace and two eager vmaps */
    sf_tensor *x0 = vec(xs_a, N), *single[2] = {w_a, x0}, *y0 = NULL;
    CHECK_OK(sf_call(jf, single, 2, &y0, 1));
    CHECK_TENSOR(y0, SHAPE_Y, 1, ref, TOL);
    CHECK_EQ(traces(jf), 1);
    CHECK_EQ(calls_of(&c), 3);
    RELEASE_TENSORS(y0, x0, a[1], b[1], w_a, w_b);
    RELEASE_FUNCTIONS(mapped_jit, jf, j_chunked, chunked, j_mapped, mapped, f);
}

/* ------------------------------------------------------------------------------------------------
 * vmap(grad) per-sample gradients of an MLP: loss(W1 [H, D], b1 [H], w2 [H], x [D], y) =
 * (w2 . tanh(W1 x + b1) - y)^2, mapped over (x, y).
 * ---------------------------------------------------------------------------------------------- */

enum { D = 2, H = 3, BATCH = 4 };

CALLBACK(cb_mlp_loss) {
    if (ud) bump(ud);
    arena a = {0};
    sf_tensor *hidden = op1(&a, sf_tanh, op2(&a, sf_add, op2(&a, sf_matmul, in[0], in[3]), in[1]));
    sf_tensor *r = op2(&a, sf_sub, sum_all(&a, op2(&a, sf_mul, hidden, in[2])), in[4]);
    put(&a, out, 0, op2(&a, sf_mul, r, r));
    return finish(&a);
}

static void ref_mlp_grad(const double *w1, const double *b1, const double *w2, const double *x, double y, double *dw1,
                         double *db1, double *dw2) {
    double h[H], p = 0;
    for (int i = 0; i < H; i++) {
        double z = b1[i];
        for (int j = 0; j < D; j++) z += w1[i * D + j] * x[j];
        h[i] = tanh(z);
        p += w2[i] * h[i];
    }
    double dp = 2 * (p - y);
    for (int i = 0; i < H; i++) {
        dw2[i] = dp * h[i];
        db1[i] = dp * w2[i] * (1 - h[i] * h[i]);
        for (int j = 0; j < D; j++) dw1[i * D + j] = db1[i] * x[j];
    }
}

static void test_per_sample_gradients(void) {
    double w1[H * D], b1[H], w2[H], xs_a[BATCH * D], ys_a[BATCH], xs_b[BATCH * D], ys_b[BATCH];
    fill(w1, H * D, 0.1, 0.9);
    fill(b1, H, 1.3, 0.3);
    fill(w2, H, 2.2, 1.2);
    fill(xs_a, BATCH * D, 0.5, 1.5);
    fill(ys_a, BATCH, 3.1, 0.7);
    fill(xs_b, BATCH * D, 4.4, 1.0);
    fill(ys_b, BATCH, 0.9, 0.4);
    sf_tensor *tw1 = mat(w1, H, D), *tb1 = vec(b1, H), *tw2 = vec(w2, H);
    sf_tensor *a[5] = {tw1, tb1, tw2, mat(xs_a, BATCH, D), vec(ys_a, BATCH)};
    sf_tensor *b[5] = {tw1, tb1, tw2, mat(xs_b, BATCH, D), vec(ys_b, BATCH)};

    counter c = {0};
    sf_function *loss = function(cb_mlp_loss, &c, 5, 1), *g = NULL, *per_sample = NULL;
    const int32_t params[3] = {0, 1, 2};
    const int64_t in_dims[5] = {SF_NOT_MAPPED, SF_NOT_MAPPED, SF_NOT_MAPPED, 0, 0};
    CHECK_OK(sf_grad(loss, params, 3, false, &g));
    CHECK_OK(sf_vmap(g, in_dims, 5, NULL, 0, 0, SF_RANDOMNESS_ERROR, &per_sample));

    /* jit(vmap(grad(loss))) */
    sf_tensor *grads[3];
    sf_function *j_per_sample = JIT_MATCHES(per_sample, a, b, 5, 3, grads);
    CHECK_EQ(calls_of(&c), 3);
    double dw1[BATCH * H * D], db1[BATCH * H], dw2[BATCH * H];
    for (int k = 0; k < BATCH; k++)
        ref_mlp_grad(w1, b1, w2, xs_a + k * D, ys_a[k], dw1 + k * H * D, db1 + k * H, dw2 + k * H);
    const int64_t shape_dw1[3] = {BATCH, H, D}, shape_db1[2] = {BATCH, H};
    CHECK_TENSOR(grads[0], shape_dw1, 3, dw1, TOL);
    CHECK_TENSOR(grads[1], shape_db1, 2, db1, TOL);
    CHECK_TENSOR(grads[2], shape_db1, 2, dw2, TOL);
    release_all(grads, 3);

    /* vmap(grad(jit(loss))): the jit inside both transforms. */
    reset(&c);
    sf_function *j_loss = jit(loss), *g_j = NULL, *per_sample_j = NULL;
    CHECK_OK(sf_grad(j_loss, params, 3, false, &g_j));
    CHECK_OK(sf_vmap(g_j, in_dims, 5, NULL, 0, 0, SF_RANDOMNESS_ERROR, &per_sample_j));
    CALLS_MATCH(per_sample_j, per_sample, a, 5, 3, grads);
    CHECK_TENSOR(grads[0], shape_dw1, 3, dw1, TOL);
    CHECK_TENSOR(grads[2], shape_db1, 2, dw2, TOL);
    release_all(grads, 3);
    CALLS_MATCH(per_sample_j, per_sample, b, 5, 3, grads);
    release_all(grads, 3);
    CHECK_EQ(traces(j_loss), 1);
    CHECK_EQ(calls_of(&c), 3); /* the trace and two eager runs */

    RELEASE_TENSORS(a[3], a[4], b[3], b[4], tw1, tb1, tw2);
    RELEASE_FUNCTIONS(per_sample_j, g_j, j_loss, j_per_sample, per_sample, g, loss);
}

/* ------------------------------------------------------------------------------------------------
 * 2. Compositions
 * ---------------------------------------------------------------------------------------------- */

/* (W, x) -> sum(inner(W, x)^2); user_data points at the inner function. */
CALLBACK(cb_outer_sum_squares) {
    sf_function *inner = *(sf_function **)ud;
    arena a = {0};
    sf_tensor *y = call1(&a, inner, in, 2);
    put(&a, out, 0, sum_all(&a, op2(&a, sf_mul, y, y)));
    return finish(&a);
}

/* A jitted inner function whose callback uses a value of the enclosing call (captured). */
typedef struct {
    counter calls;
    sf_tensor *captured;
    sf_function *inner;
} capture_state;

/* inner(z) = z * captured. */
CALLBACK(cb_times_captured) {
    capture_state *s = ud;
    bump(&s->calls);
    return sf_mul(in[0], s->captured, &out[0]) == SF_OK ? 0 : 1;
}

/* outer(x) = sum(inner(cos(x))) with captured = sin(x): sum(cos(x) sin(x)). */
CALLBACK(cb_outer_capturing) {
    capture_state *s = ud;
    arena a = {0};
    s->captured = op1(&a, sf_sin, in[0]);
    sf_tensor *z = op1(&a, sf_cos, in[0]);
    sf_tensor *w = call1(&a, s->inner, &z, 1);
    s->captured = NULL;
    put(&a, out, 0, sum_all(&a, w));
    return finish(&a);
}

static void test_compositions(void) {
    wx_inputs in = make_wx();
    counter c = {0};
    sf_function *l = function(cb_L, &c, 2, 1), *f = function(cb_F, &c, 2, 1);
    const int32_t both[2] = {0, 1};
    double dw[M * N], dx[N], fw[M], jw[M * M * N], jx[M * N];
    ref_grad_L(W_A, X_A, M, N, dw, dx);
    ref_F(W_A, X_A, fw);
    ref_jacobian_F(W_A, X_A, jw, jx);

    /* grad(jit(L)) against grad(L): the replay goes through grad's rules. */
    sf_function *jl = jit(l), *g_jl = NULL, *g_l = NULL;
    CHECK_OK(sf_grad(jl, both, 2, false, &g_jl));
    CHECK_OK(sf_grad(l, both, 2, false, &g_l));
    sf_tensor *grads[2];
    CALLS_MATCH(g_jl, g_l, in.a, 2, 2, grads);
    CHECK_TENSOR(grads[0], SHAPE_W, 2, dw, TOL);
    CHECK_TENSOR(grads[1], SHAPE_X, 1, dx, TOL);
    release_all(grads, 2);
    CALLS_MATCH(g_jl, g_l, in.b, 2, 2, grads);
    release_all(grads, 2);
    CHECK_EQ(traces(jl), 1);
    CHECK_EQ(calls_of(&c), 3);
    /* An eager call of jit(L) reuses the graph grad traced (same signature). */
    sf_tensor *value = NULL;
    CHECK_OK(sf_call(jl, in.a, 2, &value, 1));
    CHECK_SCALAR(value, ref_L(W_A, X_A, M, N), TOL);
    sf_tensor_release(value);
    CHECK_EQ(traces(jl), 1);
    CHECK_EQ(calls_of(&c), 3);

    /* grad(grad)-style: hessian(jit(L)) over x. */
    const int32_t x_only[1] = {1};
    sf_function *h_jl = NULL, *h_l = NULL;
    CHECK_OK(sf_hessian(jl, x_only, 1, &h_jl));
    CHECK_OK(sf_hessian(l, x_only, 1, &h_l));
    sf_tensor *hess = NULL;
    CALLS_MATCH(h_jl, h_l, in.a, 2, 1, &hess);
    double ref_h[N * N];
    ref_hessian_L_x(W_A, X_A, ref_h);
    const int64_t shape_h[2] = {N, N};
    CHECK_TENSOR(hess, shape_h, 2, ref_h, TOL);
    sf_tensor_release(hess);

    /* jvp, vjp, jacrev and linearize of jit(F). */
    reset(&c);
    sf_function *jf = jit(f);
    double t_values[M * N + N];
    fill(t_values, M * N + N, 0.8, 1.0);
    sf_tensor *tangents[2] = {mat(t_values, M, N), vec(t_values + M * N, N)};
    sf_tensor *y_j = NULL, *ty_j = NULL, *y_e = NULL, *ty_e = NULL;
    CHECK_OK(sf_jvp(jf, in.a, tangents, 2, &y_j, &ty_j, 1));
    CHECK_OK(sf_jvp(f, in.a, tangents, 2, &y_e, &ty_e, 1));
    CHECK_SAME(y_j, y_e, JIT_TOL);
    CHECK_SAME(ty_j, ty_e, JIT_TOL);
    CHECK_TENSOR(y_j, SHAPE_Y, 1, fw, TOL);
    RELEASE_TENSORS(y_j, ty_j, y_e, ty_e);

    sf_function *pb_j = NULL, *pb_e = NULL;
    CHECK_OK(sf_vjp(jf, in.b, 2, &y_j, 1, &pb_j));
    CHECK_OK(sf_vjp(f, in.b, 2, &y_e, 1, &pb_e));
    CHECK_SAME(y_j, y_e, JIT_TOL);
    const double ct_values[M] = {0.5, -1.5, 2.5};
    sf_tensor *ct = vec(ct_values, M), *cts[2];
    CALLS_MATCH(pb_j, pb_e, &ct, 1, 2, cts);
    release_all(cts, 2);
    RELEASE_TENSORS(y_j, y_e);

    sf_function *jr_j = NULL;
    CHECK_OK(sf_jacrev(jf, both, 2, false, 0, &jr_j));
    sf_tensor *jac[2];
    CHECK_OK(sf_call(jr_j, in.a, 2, jac, 2));
    const int64_t shape_jw[3] = {M, M, N}, shape_jx[2] = {M, N};
    CHECK_TENSOR(jac[0], shape_jw, 3, jw, TOL);
    CHECK_TENSOR(jac[1], shape_jx, 2, jx, TOL);
    release_all(jac, 2);

    sf_function *lin = NULL;
    CHECK_OK(sf_linearize(jf, in.a, 2, &y_j, 1, &lin));
    CHECK_TENSOR(y_j, SHAPE_Y, 1, fw, TOL);
    CHECK_OK(sf_jvp(f, in.a, tangents, 2, &y_e, &ty_e, 1));
    CHECK_OK(sf_call(lin, tangents, 2, &ty_j, 1));
    CHECK_SAME(ty_j, ty_e, JIT_TOL);
    RELEASE_TENSORS(y_j, y_e, ty_j, ty_e);
    CHECK_EQ(traces(jf), 1); /* one signature, whatever the transform around the calls */
    CHECK_EQ(calls_of(&c), 4); /* jf's trace (in the first jvp) and three eager runs of f */

    /* jit(jit(F)). */
    reset(&c);
    sf_function *jjf = jit(jf);
    sf_tensor *fout[1];
    sf_function *j_jjf = JIT_MATCHES(jjf, in.a, in.b, 2, 1, fout);
    CHECK_TENSOR(fout[0], SHAPE_Y, 1, fw, TOL);
    sf_tensor_release(fout[0]);
    CHECK_EQ(calls_of(&c), 0); /* jf's graph was cached already: its callback never ran again */
    CHECK_EQ(traces(jjf), 1);
    CHECK_EQ(traces(jf), 1);

    /* A jitted function called inside another function's callback, under grad: the graph is
     * traced once (with grad's values as inputs) and reused by later calls. */
    reset(&c);
    sf_function *jf2 = jit(f), *inner_eager = f;
    sf_function *outer_j = function(cb_outer_sum_squares, &jf2, 2, 1);
    sf_function *outer_e = function(cb_outer_sum_squares, &inner_eager, 2, 1);
    sf_function *g_outer_j = NULL, *g_outer_e = NULL;
    CHECK_OK(sf_grad(outer_j, both, 2, false, &g_outer_j));
    CHECK_OK(sf_grad(outer_e, both, 2, false, &g_outer_e));
    CALLS_MATCH(g_outer_j, g_outer_e, in.a, 2, 2, grads);
    double y[M], ref_dx[N] = {0}, ref_dw[M * N];
    mat_vec(W_A, X_A, y, M, N);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            ref_dw[i * N + j] = 2 * sin(y[i]) * cos(y[i]) * X_A[j];
            ref_dx[j] += 2 * sin(y[i]) * cos(y[i]) * W_A[i * N + j];
        }
    CHECK_TENSOR(grads[0], SHAPE_W, 2, ref_dw, TOL);
    CHECK_TENSOR(grads[1], SHAPE_X, 1, ref_dx, TOL);
    release_all(grads, 2);
    CALLS_MATCH(g_outer_j, g_outer_e, in.b, 2, 2, grads);
    release_all(grads, 2);
    CHECK_EQ(traces(jf2), 1);
    CHECK_EQ(calls_of(&c), 3); /* jf2's trace and the two eager runs of f */
    /* ... and jvp of the outer function with the jitted inner one. */
    sf_tensor *o_j = NULL, *to_j = NULL, *o_e = NULL, *to_e = NULL;
    CHECK_OK(sf_jvp(outer_j, in.a, tangents, 2, &o_j, &to_j, 1));
    CHECK_OK(sf_jvp(outer_e, in.a, tangents, 2, &o_e, &to_e, 1));
    CHECK_SAME(o_j, o_e, JIT_TOL);
    CHECK_SAME(to_j, to_e, JIT_TOL);
    RELEASE_TENSORS(o_j, to_j, o_e, to_e);
    CHECK_EQ(traces(jf2), 1);

    /* A jitted inner function whose callback captures a traced value of the enclosing grad: its
     * graph is used for that call only (each grad call traces again), and the derivative flows
     * through the captured value: d/dx sum(cos(x) sin(x)) = cos(2x). */
    capture_state sj = {0}, se = {0};
    sf_function *inner = function(cb_times_captured, &sj, 1, 1);
    sj.inner = jit(inner);
    se.inner = function(cb_times_captured, &se, 1, 1);
    sf_function *cap_j = function(cb_outer_capturing, &sj, 1, 1), *cap_e = function(cb_outer_capturing, &se, 1, 1);
    sf_function *g_cap_j = NULL, *g_cap_e = NULL;
    CHECK_OK(sf_grad(cap_j, NULL, 0, false, &g_cap_j));
    CHECK_OK(sf_grad(cap_e, NULL, 0, false, &g_cap_e));
    double cos2x[N];
    for (int j = 0; j < N; j++) cos2x[j] = cos(2 * X_A[j]);
    sf_tensor *gx = NULL;
    CALLS_MATCH(g_cap_j, g_cap_e, &in.a[1], 1, 1, &gx);
    CHECK_TENSOR(gx, SHAPE_X, 1, cos2x, TOL);
    sf_tensor_release(gx);
    CALLS_MATCH(g_cap_j, g_cap_e, &in.b[1], 1, 1, &gx);
    for (int j = 0; j < N; j++) cos2x[j] = cos(2 * X_B[j]);
    CHECK_TENSOR(gx, SHAPE_X, 1, cos2x, TOL);
    sf_tensor_release(gx);
    CHECK_EQ(traces(sj.inner), 2);
    CHECK_EQ(calls_of(&sj.calls), 2);

    RELEASE_TENSORS(tangents[0], tangents[1], ct);
    RELEASE_FUNCTIONS(g_cap_e, g_cap_j, cap_e, cap_j, se.inner, sj.inner, inner);
    RELEASE_FUNCTIONS(g_outer_e, g_outer_j, outer_e, outer_j, jf2, j_jjf, jjf, lin, jr_j, pb_e, pb_j, jf);
    RELEASE_FUNCTIONS(h_l, h_jl, g_l, g_jl, jl, f, l);
    release_wx(&in);
}

/* ------------------------------------------------------------------------------------------------
 * 3. Tracing: calls per signature, trace counts, eviction, failures, bad arguments
 * ---------------------------------------------------------------------------------------------- */

typedef struct {
    counter calls;
    int fail;
    sf_tensor *leaked;
} sin_state;

/* f(x) = sin(x) * x; fails (after sf_set_error) when asked to; can keep its input (leaked). */
CALLBACK(cb_sin_times) {
    sin_state *s = ud;
    bump(&s->calls);
    if (s->fail) {
        sf_set_error("sin_times was told to fail");
        return 1;
    }
    if (s->leaked == GARBAGE) {
        sf_tensor_retain(in[0]);
        s->leaked = in[0];
    }
    arena a = {0};
    put(&a, out, 0, op2(&a, sf_mul, op1(&a, sf_sin, in[0]), in[0]));
    return finish(&a);
}

static void check_sin_times(sf_tensor *t, const double *x, const int64_t *shape, size_t ndim, const char *file, int line) {
    double ref[16];
    int64_t n = shape_numel(shape, ndim);
    for (int64_t k = 0; k < n; k++) ref[k] = sin(x[k]) * x[k];
    check_tensor(t, shape, ndim, ref, TOL, file, line, "sin(x) * x");
}

#define CHECK_SIN_TIMES(t, x, shape, ndim) check_sin_times((t), (x), (shape), (ndim), __FILE__, __LINE__)

/* Calls jf on one float64 tensor of `shape` filled from `seed` and checks sin(x) * x. */
static void call_shape(sf_function *jf, const int64_t *shape, size_t ndim, double seed, const char *file, int line) {
    double x[16];
    int64_t n = shape_numel(shape, ndim);
    fill(x, (int)n, seed, 1.0);
    sf_tensor *t = make64(x, shape, ndim), *y = NULL;
    if (call_ok(jf, &t, 1, &y, 1, file, line, "jitted call")) check_sin_times(y, x, shape, ndim, file, line);
    RELEASE_TENSORS(y, t);
}

static void test_trace_counts(void) {
    sin_state s = {0};
    sf_function *f = function(cb_sin_times, &s, 1, 1), *jf = jit(f);
    CHECK_EQ(traces(jf), 0);
    CHECK_EQ(calls_of(&s.calls), 0);

    const double x4a[4] = {0.5, -1.0, 2.0, 0.25}, x4b[4] = {1.5, 0.3, -0.7, 3.0}, x5[5] = {0.1, 0.2, 0.3, 0.4, 0.5};
    const int64_t shape4[1] = {4}, shape5[1] = {5}, shape22[2] = {2, 2};
    sf_tensor *ta = make64(x4a, shape4, 1), *tb = make64(x4b, shape4, 1), *t5 = make64(x5, shape5, 1);
    sf_tensor *t22 = make64(x4a, shape22, 2), *y = NULL;

    CHECK_OK(sf_call(jf, &ta, 1, &y, 1)); /* the trace */
    CHECK_SIN_TIMES(y, x4a, shape4, 1);
    sf_tensor_release(y);
    CHECK_EQ(traces(jf), 1);
    CHECK_EQ(calls_of(&s.calls), 1);

    CHECK_OK(sf_call(jf, &tb, 1, &y, 1)); /* same signature, other values: a replay */
    CHECK_SIN_TIMES(y, x4b, shape4, 1);
    sf_tensor_release(y);
    CHECK_EQ(traces(jf), 1);
    CHECK_EQ(calls_of(&s.calls), 1);

    CHECK_OK(sf_call(jf, &t5, 1, &y, 1)); /* a new shape: a retrace */
    CHECK_SIN_TIMES(y, x5, shape5, 1);
    sf_tensor_release(y);
    CHECK_EQ(traces(jf), 2);
    CHECK_EQ(calls_of(&s.calls), 2);

    CHECK_OK(sf_call(jf, &ta, 1, &y, 1)); /* back to the first shape: cached */
    CHECK_SIN_TIMES(y, x4a, shape4, 1);
    sf_tensor_release(y);
    CHECK_EQ(traces(jf), 2);
    CHECK_EQ(calls_of(&s.calls), 2);

    CHECK_OK(sf_call(jf, &t22, 1, &y, 1)); /* same element count, other shape: a retrace */
    CHECK_SIN_TIMES(y, x4a, shape22, 2);
    sf_tensor_release(y);
    CHECK_EQ(traces(jf), 3);
    CHECK_EQ(calls_of(&s.calls), 3);

    /* Another dtype retraces; the result has the input's dtype. */
    const float x4f[4] = {0.5f, -1.0f, 2.0f, 0.25f};
    sf_tensor *tf = NULL;
    CHECK_OK(sf_tensor_from_data(x4f, SF_FLOAT32, shape4, 1, &tf));
    for (int round = 0; round < 2; round++) {
        CHECK_OK(sf_call(jf, &tf, 1, &y, 1));
        sf_dtype dtype = SF_BOOL;
        CHECK_OK(sf_tensor_dtype(y, &dtype));
        CHECK_EQ(dtype, SF_FLOAT32);
        float yf[4] = {0};
        CHECK_OK(sf_tensor_copy_to(y, yf, sizeof yf));
        for (int k = 0; k < 4; k++) CHECK_NEAR(yf[k], sin(x4f[k]) * x4f[k], 1e-6);
        sf_tensor_release(y);
        CHECK_EQ(traces(jf), 4);
        CHECK_EQ(calls_of(&s.calls), 4);
    }

    /* Weak-typedness is part of the signature: sf_scalar (weak) and a 0-d float64 (strong) trace
     * separately, and the jitted result keeps the weakness the eager one has (added to a float32
     * tensor, a weak result gives float32, a strong float64 one gives float64). */
    sf_tensor *weak = NULL, *weak2 = NULL, *strong = scalar64(0.5), *f32 = NULL;
    CHECK_OK(sf_scalar(0.5, &weak));
    CHECK_OK(sf_scalar(0.75, &weak2));
    CHECK_OK(sf_tensor_from_data(x4f, SF_FLOAT32, shape4, 1, &f32));
    sf_tensor *inputs[3] = {weak, strong, weak2};
    const uint64_t expected_traces[3] = {5, 6, 6};
    for (int k = 0; k < 3; k++) {
        sf_tensor *yj = NULL, *ye = NULL, *sj = NULL, *se = NULL;
        CHECK_OK(sf_call(jf, &inputs[k], 1, &yj, 1));
        CHECK_OK(sf_call(f, &inputs[k], 1, &ye, 1));
        CHECK_SAME(yj, ye, JIT_TOL);
        CHECK_EQ(traces(jf), expected_traces[k]);
        CHECK_OK(sf_add(yj, f32, &sj));
        CHECK_OK(sf_add(ye, f32, &se));
        sf_dtype dj = SF_BOOL, de = SF_INT32;
        CHECK_OK(sf_tensor_dtype(sj, &dj));
        CHECK_OK(sf_tensor_dtype(se, &de));
        CHECK_EQ(dj, de);
        CHECK_EQ(de, k == 1 ? SF_FLOAT64 : SF_FLOAT32);
        RELEASE_TENSORS(yj, ye, sj, se);
    }

    /* A callback failing during the trace: SF_ERR_CALLBACK with its message, nothing cached; the
     * next call traces again and works. */
    sf_tensor *t3 = NULL;
    const double x3[3] = {0.3, 0.6, 0.9};
    t3 = vec(x3, 3);
    uint64_t before = traces(jf);
    int calls_before = calls_of(&s.calls);
    s.fail = 1;
    CHECK_ERROR_NULL(y, sf_call(jf, &t3, 1, &y, 1), SF_ERR_CALLBACK, "sin_times was told to fail");
    s.fail = 0;
    CHECK_OK(sf_call(jf, &t3, 1, &y, 1));
    CHECK_SIN_TIMES(y, x3, SHAPE_Y, 1);
    sf_tensor_release(y);
    CHECK_OK(sf_call(jf, &t3, 1, &y, 1));
    sf_tensor_release(y);
    CHECK_EQ(calls_of(&s.calls) - calls_before, 2);
    CHECK_EQ(traces(jf) - before, 2);

    /* A traced input kept by the callback and used after the call: an escaped tracer. */
    sin_state s2 = {0};
    s2.leaked = GARBAGE;
    sf_function *f2 = function(cb_sin_times, &s2, 1, 1), *jf2 = jit(f2);
    CHECK_OK(sf_call(jf2, &ta, 1, &y, 1));
    sf_tensor_release(y);
    CHECK(s2.leaked != NULL && s2.leaked != GARBAGE);
    if (s2.leaked != NULL && s2.leaked != GARBAGE) {
        CHECK_ERROR_NULL(y, sf_sin(s2.leaked, &y), SF_ERR_TRANSFORM, "escaped");
        double tmp[4];
        CHECK_ERROR(sf_tensor_copy_to(s2.leaked, tmp, sizeof tmp), SF_ERR_TRANSFORM, "sf_tensor_copy_to");
        sf_tensor_release(s2.leaked);
    }

    RELEASE_TENSORS(weak, weak2, strong, f32, t3, ta, tb, t5, t22, tf);
    RELEASE_FUNCTIONS(jf2, f2, jf, f);
}

CALLBACK(cb_identity) {
    sf_tensor_retain(in[0]);
    out[0] = in[0];
    return 0;
}

/* (x, n) -> (x, 7 * ones([2]), n + 1): an identity, a constant, an integer op. */
CALLBACK(cb_mixed) {
    if (ud) bump(ud);
    arena a = {0};
    const int64_t two[1] = {2};
    sf_tensor_retain(in[0]);
    out[0] = in[0];
    put(&a, out, 1, constant_full(&a, two, 1, 7.0));
    sf_tensor *one = NULL;
    if (!a.failed) one = keep(&a, sf_ones(NULL, 0, SF_INT64, &one), &one);
    put(&a, out, 2, op2(&a, sf_add, in[1], one));
    return finish(&a);
}

static void test_edge_functions(void) {
    counter c = {0};
    sf_function *f = function(cb_mixed, &c, 2, 3), *jf = jit(f);
    const double x[3] = {1.0, -2.0, 3.5};
    const int64_t ni[3] = {4, -5, 9}, shape3[1] = {3}, two[1] = {2};
    sf_tensor *tx = vec(x, 3), *tn = make_i64(ni, shape3, 1), *in[2] = {tx, tn};
    for (int round = 0; round < 2; round++) {
        sf_tensor *out[3] = {0};
        CHECK_OK(sf_call(jf, in, 2, out, 3));
        CHECK_TENSOR(out[0], shape3, 1, x, 0);
        const double sevens[2] = {7, 7};
        CHECK_TENSOR(out[1], two, 1, sevens, 0);
        int64_t got[3] = {0};
        sf_dtype dtype = SF_BOOL;
        CHECK_OK(sf_tensor_dtype(out[2], &dtype));
        CHECK_EQ(dtype, SF_INT64);
        CHECK_OK(sf_tensor_copy_to(out[2], got, sizeof got));
        for (int k = 0; k < 3; k++) CHECK_EQ(got[k], ni[k] + 1);
        release_all(out, 3);
    }
    CHECK_EQ(calls_of(&c), 1);
    CHECK_EQ(traces(jf), 1);

    /* jit(identity), called and under jvp (the tangent passes through). */
    sf_function *id = function(cb_identity, NULL, 1, 1), *jid = jit(id);
    sf_tensor *y = NULL;
    CHECK_OK(sf_call(jid, &tx, 1, &y, 1));
    CHECK_TENSOR(y, shape3, 1, x, 0);
    sf_tensor_release(y);
    sf_tensor *t = vec(x, 3), *yo = NULL, *ty = NULL;
    CHECK_OK(sf_jvp(jid, &tx, &t, 1, &yo, &ty, 1));
    CHECK_TENSOR(ty, shape3, 1, x, 0);
    RELEASE_TENSORS(t, yo, ty);
    RELEASE_TENSORS(tx, tn);
    RELEASE_FUNCTIONS(jid, id, jf, f);
}

static void test_eviction(void) {
    /* At most 64 signatures are kept; the least recently used one is dropped. */
    sin_state s = {0};
    sf_function *f = function(cb_sin_times, &s, 1, 1), *jf = jit(f);
    /* 65 distinct signatures of at most 16 elements: [k], [k, 1], [k, 1, 1], ... */
    int64_t shapes[65][5];
    size_t ranks[65];
    for (int i = 0; i < 65; i++) {
        ranks[i] = (size_t)(i / 16) + 1;
        for (size_t d = 0; d < 5; d++) shapes[i][d] = 1;
        shapes[i][0] = i % 16 + 1;
    }
    for (int i = 0; i < 65; i++) call_shape(jf, shapes[i], ranks[i], 0.1 * i, __FILE__, __LINE__);
    CHECK_EQ(traces(jf), 65);
    CHECK_EQ(calls_of(&s.calls), 65);
    call_shape(jf, shapes[64], ranks[64], 1.0, __FILE__, __LINE__); /* the newest: cached */
    call_shape(jf, shapes[1], ranks[1], 1.0, __FILE__, __LINE__);   /* cached */
    CHECK_EQ(traces(jf), 65);
    call_shape(jf, shapes[0], ranks[0], 1.0, __FILE__, __LINE__); /* evicted by the 65th */
    CHECK_EQ(traces(jf), 66);
    CHECK_EQ(calls_of(&s.calls), 66);
    call_shape(jf, shapes[1], ranks[1], 2.0, __FILE__, __LINE__); /* recently used: still cached */
    CHECK_EQ(traces(jf), 66);
    call_shape(jf, shapes[2], ranks[2], 2.0, __FILE__, __LINE__); /* evicted when [0] came back */
    CHECK_EQ(traces(jf), 67);
    RELEASE_FUNCTIONS(jf, f);
}

static void test_bad_arguments(void) {
    counter c = {0};
    sf_function *f = function(cb_F, &c, 2, 1), *jf = jit(f), *g = NULL, *out = NULL;
    uint64_t count = 42;
    CHECK_ERROR(sf_jit_trace_count(f, &count), SF_ERR_INVALID_ARGUMENT, "sf_jit_trace_count");
    CHECK_ERROR(sf_jit_trace_count(f, &count), SF_ERR_INVALID_ARGUMENT, "not made by sf_jit");
    CHECK_ERROR(sf_jit_trace_count(NULL, &count), SF_ERR_INVALID_ARGUMENT, "sf_jit_trace_count");
    CHECK_ERROR(sf_jit_trace_count(jf, NULL), SF_ERR_INVALID_ARGUMENT, "sf_jit_trace_count");
    /* A transform of a jitted function is not itself made by sf_jit. */
    CHECK_OK(sf_grad(jf, NULL, 0, false, &g));
    CHECK_ERROR(sf_jit_trace_count(g, &count), SF_ERR_INVALID_ARGUMENT, "not made by sf_jit");
    CHECK_ERROR_NULL(out, sf_jit(NULL, &out), SF_ERR_INVALID_ARGUMENT, "sf_jit");
    CHECK_ERROR(sf_jit(f, NULL), SF_ERR_INVALID_ARGUMENT, "sf_jit");
    /* Wrong counts and NULL inputs on a jitted function, as on any function. */
    wx_inputs in = make_wx();
    sf_tensor *y = NULL;
    CHECK_ERROR_NULL(y, sf_call(jf, in.a, 1, &y, 1), SF_ERR_INVALID_ARGUMENT, "inputs");
    sf_tensor *with_null[2] = {in.a[0], NULL};
    CHECK_ERROR_NULL(y, sf_call(jf, with_null, 2, &y, 1), SF_ERR_INVALID_ARGUMENT, "NULL");
    /* Shapes the function cannot take: the trace fails with the op's message, and works after. */
    sf_tensor *x5 = NULL;
    const int64_t five[1] = {5};
    CHECK_OK(sf_zeros(five, 1, SF_FLOAT64, &x5));
    sf_tensor *bad[2] = {in.a[0], x5};
    CHECK_ERROR_NULL(y, sf_call(jf, bad, 2, &y, 1), SF_ERR_CALLBACK, "sf_matmul");
    CHECK_OK(sf_call(jf, in.a, 2, &y, 1));
    sf_tensor_release(y);
    CHECK_EQ(traces(jf), 2);
    RELEASE_TENSORS(x5);
    release_wx(&in);
    RELEASE_FUNCTIONS(g, jf, f);
}

/* ------------------------------------------------------------------------------------------------
 * 4. Concretization
 * ---------------------------------------------------------------------------------------------- */

typedef struct {
    counter calls;
    sf_status read_status, dlpack_status;
    char message[512];
} read_state;

/* f(x) = sin(x) * sin(x)[0]: reads sin(x), a value that depends on the input. */
CALLBACK(cb_read_derived) {
    read_state *s = ud;
    bump(&s->calls);
    sf_tensor *d = NULL;
    if (sf_sin(in[0], &d) != SF_OK) return 1;
    int64_t n = 0;
    sf_tensor_numel(d, &n);
    double v[16];
    s->read_status = sf_tensor_copy_to(d, v, sizeof(double) * (size_t)n);
    snprintf(s->message, sizeof s->message, "%s", sf_last_error());
    DLManagedTensor *managed = NULL;
    s->dlpack_status = sf_to_dlpack(d, &managed);
    if (managed) managed->deleter(managed);
    if (s->read_status != SF_OK) {
        sf_tensor_release(d);
        sf_set_error(s->message); /* forward the failure */
        return 1;
    }
    sf_tensor *scale = NULL;
    sf_status status = sf_full(NULL, 0, v[0], SF_FLOAT64, &scale);
    if (status == SF_OK) status = sf_mul(d, scale, &out[0]);
    RELEASE_TENSORS(d, scale);
    return status == SF_OK ? 0 : 1;
}

typedef struct {
    counter calls;
    sf_tensor *scale; /* a concrete tensor the callback reads */
    sf_status read_scale, read_folded;
} concrete_state;

/* f(x) = x * (scale + exp(2)), both read as numbers: the captured tensor, and exp(2) computed in
 * the callback from constants only (folded during the trace, so readable). */
CALLBACK(cb_read_concrete) {
    concrete_state *s = ud;
    bump(&s->calls);
    double k = 0, folded = 0;
    s->read_scale = sf_tensor_copy_to(s->scale, &k, sizeof k);
    sf_tensor *two = NULL, *e = NULL, *factor = NULL;
    sf_status status = sf_full(NULL, 0, 2.0, SF_FLOAT64, &two);
    if (status == SF_OK) status = sf_exp(two, &e);
    if (status == SF_OK) status = s->read_folded = sf_tensor_copy_to(e, &folded, sizeof folded);
    if (status == SF_OK) status = sf_full(NULL, 0, k + folded, SF_FLOAT64, &factor);
    if (status == SF_OK) status = sf_mul(in[0], factor, &out[0]);
    RELEASE_TENSORS(two, e, factor);
    return status == SF_OK ? 0 : 1;
}

static void test_concretization(void) {
    read_state s = {0};
    sf_function *f = function(cb_read_derived, &s, 1, 1), *jf = jit(f);
    sf_tensor *x = vec(X_A, N), *y = NULL;

    /* Eagerly the callback reads its values. */
    CHECK_OK(sf_call(f, &x, 1, &y, 1));
    CHECK_EQ(s.read_status, SF_OK);
    CHECK_EQ(s.dlpack_status, SF_OK);
    double ref[N];
    for (int j = 0; j < N; j++) ref[j] = sin(X_A[j]) * sin(X_A[0]);
    CHECK_TENSOR(y, SHAPE_X, 1, ref, TOL);
    sf_tensor_release(y);

    /* Traced, the read fails with SF_ERR_TRANSFORM, and so does a DLPack export; the callback
     * forwards the failure: the call is SF_ERR_CALLBACK carrying the message. */
    for (int round = 0; round < 2; round++) {
        s.message[0] = 0;
        CHECK_ERROR_NULL(y, sf_call(jf, &x, 1, &y, 1), SF_ERR_CALLBACK, "depends on the inputs");
        CHECK(strstr(sf_last_error(), "sf_tensor_copy_to") != NULL);
        CHECK_EQ(s.read_status, SF_ERR_TRANSFORM);
        CHECK(strstr(s.message, "depends on the inputs") != NULL);
        CHECK(strstr(s.message, "sf_tensor_copy_to") != NULL);
        CHECK_EQ(s.dlpack_status, SF_ERR_TRANSFORM);
    }
    /* Nothing was cached: each failing call traced (and ran the callback) again. */
    CHECK_EQ(calls_of(&s.calls), 3);
    CHECK_EQ(traces(jf), 2);

    /* Captured concrete tensors and constant-folded values are readable while tracing. */
    const double scale_value = 0.75;
    concrete_state cs = {0};
    cs.scale = scalar64(scale_value);
    sf_function *g = function(cb_read_concrete, &cs, 1, 1), *jg = jit(g);
    const double xs[2][N] = {{0.7, -1.2, 0.4, 1.5}, {2.0, 0.5, -0.25, -3.0}};
    for (int round = 0; round < 2; round++) {
        sf_tensor *t = vec(xs[round], N);
        CHECK_OK(sf_call(jg, &t, 1, &y, 1));
        for (int j = 0; j < N; j++) ref[j] = xs[round][j] * (scale_value + exp(2.0));
        CHECK_TENSOR(y, SHAPE_X, 1, ref, TOL);
        RELEASE_TENSORS(y, t);
    }
    CHECK_EQ(cs.read_scale, SF_OK);
    CHECK_EQ(cs.read_folded, SF_OK);
    CHECK_EQ(calls_of(&cs.calls), 1);
    CHECK_EQ(traces(jg), 1);

    RELEASE_TENSORS(x, cs.scale);
    RELEASE_FUNCTIONS(jg, g, jf, f);
}

/* ------------------------------------------------------------------------------------------------
 * 5. Randomness
 * ---------------------------------------------------------------------------------------------- */

/* f(x) = x + rand(shape of x), after an unused draw of 3 numbers. */
CALLBACK(cb_add_rand) {
    if (ud) bump(ud);
    arena a = {0};
    int64_t shape[SF_MAX_NDIM];
    size_t ndim = 0;
    sf_tensor *unused = NULL, *r = NULL;
    const int64_t three[1] = {3};
    if (sf_tensor_ndim(in[0], &ndim) != SF_OK || sf_tensor_shape(in[0], shape, SF_MAX_NDIM) != SF_OK) return 1;
    keep(&a, sf_rand(three, 1, SF_FLOAT64, &unused), &unused);
    if (!a.failed) keep(&a, sf_rand(shape, ndim, SF_FLOAT64, &r), &r);
    put(&a, out, 0, op2(&a, sf_add, in[0], r));
    return finish(&a);
}

/* f(x) = dropout(x, 0.5) + randn(shape of x) + rand(shape of x) + rand(shape of x). */
CALLBACK(cb_dropout_randn) {
    if (ud) bump(ud);
    arena a = {0};
    int64_t shape[SF_MAX_NDIM];
    size_t ndim = 0;
    sf_tensor *d = NULL, *n = NULL, *r1 = NULL, *r2 = NULL;
    if (sf_tensor_ndim(in[0], &ndim) != SF_OK || sf_tensor_shape(in[0], shape, SF_MAX_NDIM) != SF_OK) return 1;
    keep(&a, sf_dropout(in[0], 0.5, true, &d), &d);
    if (!a.failed) keep(&a, sf_randn(shape, ndim, SF_FLOAT64, &n), &n);
    if (!a.failed) keep(&a, sf_rand(shape, ndim, SF_FLOAT64, &r1), &r1);
    if (!a.failed) keep(&a, sf_rand(shape, ndim, SF_FLOAT64, &r2), &r2);
    put(&a, out, 0, op2(&a, sf_add, op2(&a, sf_add, op2(&a, sf_add, d, n), r1), r2));
    return finish(&a);
}

/* f() = randn([5]). */
CALLBACK(cb_noise) {
    const int64_t five[1] = {5};
    return sf_randn(five, 1, SF_FLOAT64, &out[0]) == SF_OK ? 0 : 1;
}

/* After sf_manual_seed(seed): two calls of `eager`, then a draw; the same for `jitted`. All three
 * pairs must be bitwise equal, and the two calls must differ. */
static void check_same_draws(sf_function *eager, sf_function *jitted, sf_tensor *x, uint64_t seed, const char *file,
                             int line) {
    sf_tensor *e[3] = {0}, *j[3] = {0};
    const int64_t shape[1] = {5};
    sf_function *fs[2] = {eager, jitted};
    sf_tensor **outs[2] = {e, j};
    for (int which = 0; which < 2; which++) {
        sf_manual_seed(seed);
        call_ok(fs[which], &x, 1, &outs[which][0], 1, file, line, "first call");
        call_ok(fs[which], &x, 1, &outs[which][1], 1, file, line, "second call");
        check_record(sf_rand(shape, 1, SF_FLOAT64, &outs[which][2]) == SF_OK, file, line, "sf_rand after");
    }
    check_record(bitwise_equal(j[0], e[0]), file, line, "jitted first call draws bitwise what the eager first call draws");
    check_record(bitwise_equal(j[1], e[1]), file, line, "jitted second call draws bitwise what the eager second call draws");
    check_record(bitwise_equal(j[2], e[2]), file, line, "the generator is left where the eager calls leave it");
    check_record(!bitwise_equal(j[0], j[1]), file, line, "two jitted calls draw different numbers");
    check_record(!bitwise_equal(e[0], e[1]), file, line, "two eager calls draw different numbers");
    release_all(e, 3);
    release_all(j, 3);
}

#define CHECK_SAME_DRAWS(eager, jitted, x, seed) check_same_draws((eager), (jitted), (x), (seed), __FILE__, __LINE__)

static void test_randomness(void) {
    counter c = {0};
    const double xv[6] = {1, 2, 3, 4, 5, 6};
    sf_tensor *x = vec(xv, 6), *x23 = mat(xv, 2, 3);
    sf_function *f = function(cb_add_rand, &c, 1, 1), *jf = jit(f);
    CHECK_SAME_DRAWS(f, jf, x, 1234);
    CHECK_EQ(traces(jf), 1);
    CHECK_EQ(calls_of(&c), 3); /* two eager calls and the trace */
    /* The numbers are x + uniform [0, 1). */
    sf_manual_seed(99);
    sf_tensor *y = NULL;
    CHECK_OK(sf_call(jf, &x, 1, &y, 1));
    double got[6] = {0};
    CHECK(read64(y, got, 6));
    for (int k = 0; k < 6; k++) CHECK(got[k] >= xv[k] && got[k] < xv[k] + 1);
    sf_tensor_release(y);
    /* Another signature, and a second seed. */
    CHECK_SAME_DRAWS(f, jf, x23, 77);
    CHECK_EQ(traces(jf), 2);

    counter c2 = {0};
    sf_function *g = function(cb_dropout_randn, &c2, 1, 1), *jg = jit(g);
    CHECK_SAME_DRAWS(g, jg, x, 5);
    CHECK_EQ(calls_of(&c2), 3);

    /* Under vmap with different randomness: vmap(jit(f)) draws what vmap(f) draws. */
    sf_function *vf = NULL, *vjf = NULL;
    CHECK_OK(sf_vmap(f, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_DIFFERENT, &vf));
    CHECK_OK(sf_vmap(jf, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_DIFFERENT, &vjf));
    CHECK_SAME_DRAWS(vf, vjf, x23, 11);
    /* jit(vmap(f)) too. (Eagerly, each draw under vmap 'different' reserves counters twice: the
     * public op for one sample, then vmap's rule for the batch, whose numbers are used. The replay
     * must reserve the same way to draw the same numbers.) */
    sf_function *jvf = jit(vf);
    CHECK_SAME_DRAWS(vf, jvf, x23, 12);
    /* ... and with randomness 'same' (one sample for the whole batch), both ways. */
    sf_function *vf_same = NULL, *vjf_same = NULL;
    CHECK_OK(sf_vmap(f, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_SAME, &vf_same));
    CHECK_OK(sf_vmap(jf, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_SAME, &vjf_same));
    sf_function *jvf_same = jit(vf_same);
    CHECK_SAME_DRAWS(vf_same, vjf_same, x23, 13);
    CHECK_SAME_DRAWS(vf_same, jvf_same, x23, 14);

    /* A function of no inputs: f() = randn([5]); each jitted call draws as an eager call. */
    sf_function *noise = function(cb_noise, NULL, 0, 1), *jnoise = jit(noise);
    sf_tensor *e[2] = {0}, *j[2] = {0};
    sf_manual_seed(21);
    CHECK_OK(sf_call(noise, NULL, 0, &e[0], 1));
    CHECK_OK(sf_call(noise, NULL, 0, &e[1], 1));
    sf_manual_seed(21);
    CHECK_OK(sf_call(jnoise, NULL, 0, &j[0], 1));
    CHECK_OK(sf_call(jnoise, NULL, 0, &j[1], 1));
    CHECK(bitwise_equal(j[0], e[0]));
    CHECK(bitwise_equal(j[1], e[1]));
    CHECK(!bitwise_equal(j[0], j[1]));
    CHECK_EQ(traces(jnoise), 1);
    release_all(e, 2);
    release_all(j, 2);

    RELEASE_TENSORS(x, x23);
    RELEASE_FUNCTIONS(jnoise, noise, jvf_same, vjf_same, vf_same, jvf, vjf, vf, jg, g, jf, f);
}

/* ------------------------------------------------------------------------------------------------
 * 6. sf_function_graph
 * ---------------------------------------------------------------------------------------------- */

/* f(x) = sum(sin(x) * sin(x)) with a dead exp(x) and a constant-folded factor exp(full(1)). */
CALLBACK(cb_graph) {
    if (ud) bump(ud);
    arena a = {0};
    sf_tensor *s1 = op1(&a, sf_sin, in[0]);
    sf_tensor *s2 = op1(&a, sf_sin, in[0]); /* the same subexpression again */
    op1(&a, sf_exp, in[0]);                 /* dead */
    sf_tensor *k = op1(&a, sf_log, op1(&a, sf_sqrt, constant_full(&a, NULL, 0, 4.0))); /* folded: log 2 */
    put(&a, out, 0, op2(&a, sf_mul, sum_all(&a, op2(&a, sf_mul, s1, s2)), k));
    return finish(&a);
}

/* f(x) = x + rand + rand: two draws, never merged. */
CALLBACK(cb_two_draws) {
    arena a = {0};
    sf_tensor *r1 = NULL, *r2 = NULL;
    const int64_t shape[1] = {N};
    keep(&a, sf_rand(shape, 1, SF_FLOAT64, &r1), &r1);
    if (!a.failed) keep(&a, sf_rand(shape, 1, SF_FLOAT64, &r2), &r2);
    put(&a, out, 0, op2(&a, sf_add, op2(&a, sf_add, in[0], r1), r2));
    return finish(&a);
}

/* Checks the listing of cb_graph's graph. */
static void check_graph_listing(const char *text, const char *file, int line) {
    if (!check_record(text != NULL, file, line, "a listing")) return;
    check_record(occurrences(text, "= sin ") == 1, file, line, "sin(x) computed twice appears once");
    check_record(occurrences(text, "= mul ") == 2, file, line, "two muls (sin*sin, then the factor)");
    check_record(occurrences(text, "= sum") == 1, file, line, "one sum");
    check_record(strstr(text, "exp") == NULL, file, line, "the dead exp does not appear");
    check_record(strstr(text, "sqrt") == NULL && strstr(text, "log") == NULL, file, line,
                 "ops on constants were folded");
    check_record(strstr(text, "const:") != NULL, file, line, "the folded factor is a constant");
    check_record(strstr(text, "float64[4]") != NULL, file, line, "types are shown");
    check_record(occurrences(text, "= fused[2 equations] ") == 1, file, line, "sin and sin*sin fused into one loop");
    /* header, the fused equation (its 2 members and a closing brace), sum, mul, outputs, summary */
    check_record(occurrences(text, "\n") == 8, file, line, "9 lines");
    check_record(strstr(text, "# 6 traced equations: 2 removed (simplified, merged, dead), 2 fused into 1 loop, 3 to run")
                 != NULL, file, line, "the optimizer's summary");
}

static void test_function_graph(void) {
    counter c = {0};
    sf_function *f = function(cb_graph, &c, 1, 1), *jf = jit(f);
    sf_tensor *x = vec(X_A, N);
    char *text = NULL;

    /* A jitted function not called yet: the listing traces it; the call then reuses the graph. */
    CHECK_OK(sf_function_graph(jf, &x, 1, &text));
    check_graph_listing(text, __FILE__, __LINE__);
    sf_string_free(text);
    CHECK_EQ(traces(jf), 1);
    CHECK_EQ(calls_of(&c), 1);
    sf_tensor *y = NULL;
    CHECK_OK(sf_call(jf, &x, 1, &y, 1));
    double ref = 0;
    for (int j = 0; j < N; j++) ref += sin(X_A[j]) * sin(X_A[j]);
    CHECK_SCALAR(y, ref * log(2.0), TOL);
    sf_tensor_release(y);
    CHECK_EQ(traces(jf), 1);
    CHECK_EQ(calls_of(&c), 1);
    /* Again: the cached graph, no trace. */
    CHECK_OK(sf_function_graph(jf, &x, 1, &text));
    check_graph_listing(text, __FILE__, __LINE__);
    sf_string_free(text);
    CHECK_EQ(traces(jf), 1);
    CHECK_EQ(calls_of(&c), 1);

    /* A plain function: traced for each listing. */
    CHECK_OK(sf_function_graph(f, &x, 1, &text));
    check_graph_listing(text, __FILE__, __LINE__);
    sf_string_free(text);
    CHECK_EQ(calls_of(&c), 2);
    CHECK_OK(sf_function_graph(f, &x, 1, &text));
    sf_string_free(text);
    CHECK_EQ(calls_of(&c), 3);

    /* The listing of a transformed function names the rules' ops (sin's derivative is cos). */
    sf_function *g = NULL;
    CHECK_OK(sf_grad(f, NULL, 0, false, &g));
    CHECK_OK(sf_function_graph(g, &x, 1, &text));
    CHECK(text != NULL && strstr(text, "cos") != NULL);
    sf_string_free(text);

    /* Random draws are effects: two draws stay two (the two adds fuse; an F's listing names matmul). */
    sf_function *r = function(cb_two_draws, NULL, 1, 1);
    CHECK_OK(sf_function_graph(r, &x, 1, &text));
    CHECK(text != NULL && occurrences(text, "= rand[") == 2 && occurrences(text, "= fused[2 equations]") == 1);
    sf_string_free(text);
    wx_inputs in = make_wx();
    sf_function *fF = function(cb_F, NULL, 2, 1);
    CHECK_OK(sf_function_graph(fF, in.a, 2, &text));
    CHECK(text != NULL && strstr(text, "matmul") != NULL && strstr(text, "sin") != NULL);
    CHECK(text != NULL && strstr(text, "float64[3, 4]") != NULL);
    sf_string_free(text);

    /* Bad arguments. */
    CHECK_ERROR(sf_function_graph(jf, &x, 1, NULL), SF_ERR_INVALID_ARGUMENT, "sf_function_graph");
    CHECK_ERROR_NULL(text, sf_function_graph(NULL, &x, 1, &text), SF_ERR_INVALID_ARGUMENT, "sf_function_graph");
    sf_tensor *two[2] = {x, x};
    CHECK_ERROR_NULL(text, sf_function_graph(jf, two, 2, &text), SF_ERR_INVALID_ARGUMENT, "takes 1 inputs, given 2");
    CHECK_ERROR_NULL(text, sf_function_graph(jf, NULL, 0, &text), SF_ERR_INVALID_ARGUMENT, "takes 1 inputs, given 0");
    CHECK_ERROR_NULL(text, sf_function_graph(jf, NULL, 1, &text), SF_ERR_INVALID_ARGUMENT, "sf_function_graph");
    sf_tensor *null_input = NULL;
    CHECK_ERROR_NULL(text, sf_function_graph(jf, &null_input, 1, &text), SF_ERR_INVALID_ARGUMENT, "sf_function_graph");
    /* A function that fails while traced for the listing: its error, no text. */
    sf_tensor *x5 = NULL;
    const int64_t five[1] = {5};
    CHECK_OK(sf_zeros(five, 1, SF_FLOAT64, &x5));
    sf_tensor *bad[2] = {in.a[0], x5};
    CHECK_ERROR_NULL(text, sf_function_graph(fF, bad, 2, &text), SF_ERR_CALLBACK, "sf_matmul");
    sf_string_free(NULL);
    CHECK(1); /* sf_string_free(NULL) returned */

    RELEASE_TENSORS(x, x5);
    release_wx(&in);
    RELEASE_FUNCTIONS(fF, r, g, jf, f);
}

/* f() = randn([5]), but before drawing, the first call (the trace) has another thread draw three
 * times and waits for it: draws of other threads during a trace must not enter the replays' plan. */
static void *draw_three(void *arg) {
    (void)arg;
    const int64_t shape[1] = {64};
    for (int k = 0; k < 3; k++) {
        sf_tensor *r = NULL;
        if (sf_rand(shape, 1, SF_FLOAT32, &r) == SF_OK) sf_tensor_release(r);
    }
    return NULL;
}

CALLBACK(cb_noise_with_other_thread) {
    int *interfered = ud;
    if (!*interfered) {
        *interfered = 1;
        pthread_t other;
        if (pthread_create(&other, NULL, draw_three, NULL) != 0) return 1;
        pthread_join(other, NULL);
    }
    const int64_t five[1] = {5};
    return sf_randn(five, 1, SF_FLOAT64, &out[0]) == SF_OK ? 0 : 1;
}

static void test_draws_of_other_threads_during_a_trace(void) {
    int interfered = 0;
    sf_function *noise = function(cb_noise_with_other_thread, &interfered, 0, 1), *jnoise = jit(noise);
    sf_tensor *first = NULL, *e[2] = {0}, *j[2] = {0};
    CHECK_OK(sf_call(jnoise, NULL, 0, &first, 1)); /* the trace, with the other thread's draws */
    CHECK_EQ(interfered, 1);
    sf_manual_seed(31);
    CHECK_OK(sf_call(noise, NULL, 0, &e[0], 1));
    CHECK_OK(sf_call(noise, NULL, 0, &e[1], 1));
    sf_manual_seed(31);
    CHECK_OK(sf_call(jnoise, NULL, 0, &j[0], 1));
    CHECK_OK(sf_call(jnoise, NULL, 0, &j[1], 1));
    CHECK(bitwise_equal(j[0], e[0]));
    CHECK(bitwise_equal(j[1], e[1]));
    CHECK_EQ(traces(jnoise), 1);
    sf_tensor_release(first);
    release_all(e, 2);
    release_all(j, 2);
    RELEASE_FUNCTIONS(jnoise, noise);
}

/* ------------------------------------------------------------------------------------------------
 * 7. Threads
 * ---------------------------------------------------------------------------------------------- */

enum { THREADS = 8, ITERATIONS = 25 };

typedef struct {
    sf_function *f;
    sf_tensor *inputs[2];
    const double *expected; /* the outputs' values, concatenated */
    int64_t numels[2];
    pthread_barrier_t *barrier;
    int failures, mismatches;
    char message[256];
} worker;

static void *worker_main(void *arg) {
    worker *w = arg;
    pthread_barrier_wait(w->barrier);
    for (int it = 0; it < ITERATIONS; it++) {
        sf_tensor *outs[2] = {NULL, NULL};
        if (sf_call(w->f, w->inputs, 2, outs, 2) != SF_OK) {
            if (!w->failures) snprintf(w->message, sizeof w->message, "%s", sf_last_error());
            w->failures++;
            continue;
        }
        const double *expected = w->expected;
        for (int k = 0; k < 2; k++) {
            double got[64];
            if (!read64(outs[k], got, w->numels[k]) || memcmp(got, expected, sizeof(double) * (size_t)w->numels[k]) != 0)
                w->mismatches++;
            expected += w->numels[k];
        }
        release_all(outs, 2);
    }
    return NULL;
}

/* The eager grad of L at (W [3, n], x [n]) read into expected (3n + n values). */
static int eager_expected(sf_function *g, sf_tensor *const *inputs, double *expected, int n) {
    sf_tensor *outs[2] = {NULL, NULL};
    int ok = sf_call(g, inputs, 2, outs, 2) == SF_OK && read64(outs[0], expected, M * n) &&
             read64(outs[1], expected + M * n, n);
    release_all(outs, 2);
    return ok;
}

/* Runs THREADS workers on jf; worker i uses input set i % n_sets. */
static void run_workers(sf_function *jf, sf_tensor *(*sets)[2], double (*expected)[64], const int *sizes, int n_sets,
                        const char *file, int line) {
    pthread_t threads[THREADS];
    worker workers[THREADS];
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, THREADS);
    for (int i = 0; i < THREADS; i++) {
        int set = i % n_sets;
        workers[i] = (worker){jf, {sets[set][0], sets[set][1]}, expected[set], {M * sizes[set], sizes[set]}, &barrier, 0, 0, {0}};
        check_record(pthread_create(&threads[i], NULL, worker_main, &workers[i]) == 0, file, line, "pthread_create");
    }
    int failures = 0, mismatches = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        failures += workers[i].failures;
        mismatches += workers[i].mismatches;
        if (workers[i].failures) fprintf(stderr, "    thread %d failed: %s\n", i, workers[i].message);
    }
    pthread_barrier_destroy(&barrier);
    if (!check_record(failures == 0, file, line, "every threaded call succeeds"))
        fprintf(stderr, "    %d failures\n", failures);
    if (!check_record(mismatches == 0, file, line, "every threaded result is bitwise the eager one"))
        fprintf(stderr, "    %d mismatches\n", mismatches);
}

static void test_threads(void) {
    counter c = {0};
    sf_function *l = function(cb_L, &c, 2, 1), *g = NULL;
    const int32_t both[2] = {0, 1};
    CHECK_OK(sf_grad(l, both, 2, false, &g));
    /* Two signatures: W [3, 4] with x [4], and W [3, 6] with x [6]. */
    const int sizes[2] = {4, 6};
    sf_tensor *sets[2][2];
    double expected[2][64];
    for (int s = 0; s < 2; s++) {
        double w[M * 6], x[6];
        fill(w, M * sizes[s], 0.4 + s, 0.8);
        fill(x, sizes[s], 1.9 - s, 1.2);
        sets[s][0] = mat(w, M, sizes[s]);
        sets[s][1] = vec(x, sizes[s]);
        CHECK(eager_expected(g, sets[s], expected[s], sizes[s]));
        double dw[M * 6], dx[6];
        ref_grad_L(w, x, M, sizes[s], dw, dx);
        int close = 1;
        for (int k = 0; k < M * sizes[s]; k++) close &= fabs(expected[s][k] - dw[k]) <= TOL * (1 + fabs(dw[k]));
        for (int k = 0; k < sizes[s]; k++) close &= fabs(expected[s][M * sizes[s] + k] - dx[k]) <= TOL * (1 + fabs(dx[k]));
        CHECK(close);
    }
    reset(&c);

    /* Before the first trace: all threads call a fresh jit(grad(L)) at once. One traces, the
     * others wait for its graph: one trace, one host call; every result is right, and later calls
     * trace no more. */
    sf_function *jg = jit(g);
    run_workers(jg, sets, expected, sizes, 1, __FILE__, __LINE__);
    uint64_t first = traces(jg);
    CHECK_EQ(first, 1);
    CHECK_EQ(calls_of(&c), (long long)first);
    /* After it: no trace, no host call. */
    run_workers(jg, sets, expected, sizes, 1, __FILE__, __LINE__);
    CHECK_EQ(traces(jg), first);
    CHECK_EQ(calls_of(&c), (long long)first);

    /* Two signatures at once on a fresh function (traces race with replays of the other). */
    reset(&c);
    sf_function *jg2 = jit(g);
    run_workers(jg2, sets, expected, sizes, 2, __FILE__, __LINE__);
    uint64_t both_traces = traces(jg2);
    CHECK_EQ(both_traces, 2);
    CHECK_EQ(calls_of(&c), (long long)both_traces);
    run_workers(jg2, sets, expected, sizes, 2, __FILE__, __LINE__);
    CHECK_EQ(traces(jg2), both_traces);

    for (int s = 0; s < 2; s++) RELEASE_TENSORS(sets[s][0], sets[s][1]);
    RELEASE_FUNCTIONS(jg2, jg, g, l);
}

/* ------------------------------------------------------------------------------------------------
 * 8. A custom function inside a jitted function
 * ---------------------------------------------------------------------------------------------- */

static double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static double sigmoid(double x) { return 1 / (1 + exp(-x)); }

typedef struct {
    int forward_calls, vjp_calls, jvp_calls;
    int invalid_inputs; /* forward calls on inputs outside the kernel's domain */
    int freed;
} custom_state;

static void free_custom_state(void *ud) { ((custom_state *)ud)->freed++; }


static double times(double a, double b) { return a * b; }
static double tangent_times_slope(double x, double t) { return t * sigmoid(x); }

/* forward: x -> softplus(x), residual sigmoid(x). */
CALLBACK(softplus_forward) {
    ((custom_state *)ud)->forward_calls++;
    if (host_map(in[0], NULL, softplus, NULL, &out[0])) return 1;
    return host_map(in[0], NULL, sigmoid, NULL, &out[1]);
}

/* vjp: (x, y, s, g) -> g * s. */
CALLBACK(softplus_vjp) {
    ((custom_state *)ud)->vjp_calls++;
    return host_map(in[3], in[2], NULL, times, &out[0]);
}

/* jvp: (x, y, t) -> t * sigmoid(x). */
CALLBACK(softplus_jvp) {
    ((custom_state *)ud)->jvp_calls++;
    return host_map(in[0], in[2], NULL, tangent_times_slope, &out[0]);
}

typedef struct {
    counter calls;
    sf_function *custom;
} uses_custom_state;

/* f(x) = sum(softplus(sin(x)) * x). */
CALLBACK(cb_uses_custom) {
    uses_custom_state *s = ud;
    bump(&s->calls);
    arena a = {0};
    sf_tensor *sx = op1(&a, sf_sin, in[0]);
    sf_tensor *sp = call1(&a, s->custom, &sx, 1);
    put(&a, out, 0, sum_all(&a, op2(&a, sf_mul, sp, in[0])));
    return finish(&a);
}

static double ref_uses_custom(const double *x) {
    double total = 0;
    for (int j = 0; j < N; j++) total += softplus(sin(x[j])) * x[j];
    return total;
}

static void test_custom_function(void) {
    custom_state cs = {0};
    sf_custom_function_desc desc = SF_CUSTOM_FUNCTION_DESC_INIT;
    desc.name = "softplus";
    desc.n_inputs = 1;
    desc.n_outputs = 1;
    desc.n_residuals = 1;
    desc.forward = softplus_forward;
    desc.vjp = softplus_vjp;
    desc.jvp = softplus_jvp;
    desc.user_data = &cs;
    desc.free_user_data = free_custom_state;
    sf_function *custom = custom_function(&desc);
    uses_custom_state us = {0};
    us.custom = custom;
    sf_function *f = function(cb_uses_custom, &us, 1, 1), *jf = jit(f);
    sf_tensor *xa = vec(X_A, N), *xb = vec(X_B, N), *y = NULL;

    CHECK_OK(sf_call(jf, &xa, 1, &y, 1)); /* the trace (and the first replay) */
    CHECK_SCALAR(y, ref_uses_custom(X_A), TOL);
    sf_tensor_release(y);
    CHECK(cs.forward_calls >= 1);
    CHECK_EQ(calls_of(&us.calls), 1);
    /* Each replay calls the forward once, and f's callback never. */
    const double *xs[3] = {X_B, X_A, X_B};
    sf_tensor *ts[3] = {xb, xa, xb};
    for (int k = 0; k < 3; k++) {
        int before = cs.forward_calls;
        CHECK_OK(sf_call(jf, &ts[k], 1, &y, 1));
        CHECK_SCALAR(y, ref_uses_custom(xs[k]), TOL);
        sf_tensor_release(y);
        CHECK_EQ(cs.forward_calls - before, 1);
    }
    CHECK_EQ(calls_of(&us.calls), 1);
    CHECK_EQ(traces(jf), 1);
    /* The graph records the custom function as one call. */
    char *text = NULL;
    CHECK_OK(sf_function_graph(jf, &xa, 1, &text));
    CHECK(text != NULL && strstr(text, "custom[softplus") != NULL);
    CHECK(text != NULL && occurrences(text, "custom[") == 1);
    sf_string_free(text);

    /* grad(jit(f)): the replay under grad runs the forward and the VJP rule once per call. */
    sf_function *g_jf = NULL, *g_f = NULL;
    CHECK_OK(sf_grad(jf, NULL, 0, false, &g_jf));
    CHECK_OK(sf_grad(f, NULL, 0, false, &g_f));
    double ref_g[N];
    for (int j = 0; j < N; j++) ref_g[j] = sigmoid(sin(X_A[j])) * cos(X_A[j]) * X_A[j] + softplus(sin(X_A[j]));
    int fw_before = cs.forward_calls, vjp_before = cs.vjp_calls;
    sf_tensor *gx = NULL, *gx_e = NULL;
    CHECK_OK(sf_call(g_jf, &xa, 1, &gx, 1));
    CHECK_EQ(cs.forward_calls - fw_before, 1);
    CHECK_EQ(cs.vjp_calls - vjp_before, 1);
    CHECK_OK(sf_call(g_f, &xa, 1, &gx_e, 1));
    CHECK_SAME(gx, gx_e, JIT_TOL);
    CHECK_TENSOR(gx, SHAPE_X, 1, ref_g, TOL);
    RELEASE_TENSORS(gx, gx_e);
    CHECK_EQ(traces(jf), 1);
    CHECK_EQ(calls_of(&us.calls), 2); /* only the eager grad(f) ran f's callback */

    /* jvp(jit(f)): the JVP rule, on concrete values. */
    const double t_values[N] = {1.0, -0.5, 0.25, 2.0};
    sf_tensor *t = vec(t_values, N), *o = NULL, *to = NULL;
    CHECK_OK(sf_jvp(jf, &xa, &t, 1, &o, &to, 1));
    double ref_t = 0;
    for (int j = 0; j < N; j++) ref_t += ref_g[j] * t_values[j];
    CHECK_SCALAR(o, ref_uses_custom(X_A), TOL);
    CHECK_SCALAR(to, ref_t, TOL);
    RELEASE_TENSORS(t, o, to);

    /* jit(grad(f)) with the host-kernel VJP: the result must be right, or a clear error. */
    sf_function *j_g_f = jit(g_f);
    sf_status status = sf_call(j_g_f, &xa, 1, &gx, 1);
    if (status == SF_OK) {
        CHECK_TENSOR(gx, SHAPE_X, 1, ref_g, TOL);
        sf_tensor_release(gx);
        int vjp_before2 = cs.vjp_calls;
        CHECK_OK(sf_call(j_g_f, &xb, 1, &gx, 1));
        for (int j = 0; j < N; j++) ref_g[j] = sigmoid(sin(X_B[j])) * cos(X_B[j]) * X_B[j] + softplus(sin(X_B[j]));
        CHECK_TENSOR(gx, SHAPE_X, 1, ref_g, TOL);
        CHECK_EQ(cs.vjp_calls - vjp_before2, 1);
        sf_tensor_release(gx);
    } else {
        fprintf(stderr, "note: jit(grad(f with a host-kernel custom function)) failed: %d %s\n", (int)status,
                sf_last_error());
        CHECK(status == SF_ERR_TRANSFORM || status == SF_ERR_UNSUPPORTED);
        CHECK(strstr(sf_last_error(), "softplus") != NULL);
    }

    RELEASE_TENSORS(xa, xb);
    RELEASE_FUNCTIONS(j_g_f, g_f, g_jf, jf, f);
    CHECK_EQ(cs.freed, 0);
    sf_function_release(custom);
    CHECK_EQ(cs.freed, 1);
}

/* A forward that refuses inputs outside its domain (as a host kernel for log would): x > 0. */
CALLBACK(safe_log_forward) {
    ((custom_state *)ud)->forward_calls++;
    int64_t shape[SF_MAX_NDIM], numel;
    size_t ndim;
    double *x = host_read(in[0], shape, &ndim, &numel);
    if (!x) return 1;
    for (int64_t k = 0; k < numel; k++) {
        if (!(x[k] > 0)) {
            ((custom_state *)ud)->invalid_inputs++;
            free(x);
            sf_set_error("safe_log: input must be positive");
            return 1;
        }
        x[k] = log(x[k]);
    }
    sf_status status = sf_tensor_from_data(x, SF_FLOAT64, shape, ndim, &out[0]);
    free(x);
    return status == SF_OK ? 0 : 1;
}

static void test_custom_domain(void) {
    /* jit must not change what a valid program does: a custom function whose forward accepts
     * only positive inputs, applied to positive inputs, works eagerly and jitted. (Tracing must
     * not run the forward on made-up values, such as zeros to learn its result types.) */
    custom_state cs = {0};
    sf_custom_function_desc desc = SF_CUSTOM_FUNCTION_DESC_INIT;
    desc.name = "safe_log";
    desc.n_inputs = 1;
    desc.n_outputs = 1;
    desc.forward = safe_log_forward;
    desc.user_data = &cs;
    desc.free_user_data = free_custom_state;
    sf_function *custom = custom_function(&desc);
    uses_custom_state us = {0};
    us.custom = custom;
    /* f(x) = sum(safe_log(sin(x)) * x) on x in (0, pi): sin(x) > 0. */
    const double xv[N] = {0.5, 1.0, 2.0, 3.0};
    double ref = 0;
    for (int j = 0; j < N; j++) ref += log(sin(xv[j])) * xv[j];
    sf_function *f = function(cb_uses_custom, &us, 1, 1), *jf = jit(f);
    sf_tensor *x = vec(xv, N), *y = NULL;
    CHECK_OK(sf_call(f, &x, 1, &y, 1));
    CHECK_SCALAR(y, ref, TOL);
    sf_tensor_release(y);
    for (int round = 0; round < 2; round++) { /* the trace, then a replay */
        CHECK_OK(sf_call(jf, &x, 1, &y, 1));
        CHECK_SCALAR(y, ref, TOL);
        sf_tensor_release(y);
    }
    /* The forward only ever saw the (valid) values the program computed. */
    CHECK_EQ(cs.invalid_inputs, 0);
    CHECK_EQ(traces(jf), 1);
    RELEASE_TENSORS(x);
    RELEASE_FUNCTIONS(jf, f, custom);
    CHECK_EQ(cs.freed, 1);
}

/* A host kernel that returns something else at a replay than at the trace: a replay must refuse
 * it (SF_ERR_SHAPE naming the custom function), since the recorded ops after the call run with the
 * traced types and no type rule (a kernel reading a [4] type from a [2] tensor read past its end). */
typedef struct {
    int mode; /* 0: 2x (as traced); 1: its first 2 elements; 2: float32; 3: 2 rows */
    int freed;
} drifting_state;

static void free_drifting_state(void *ud) { ((drifting_state *)ud)->freed++; }

/* 2 * in[k] as mode says: the traced shape and dtype, or not. */
static int drifting_result(const drifting_state *s, sf_tensor *in, sf_tensor **out) {
    int64_t shape[SF_MAX_NDIM], numel;
    size_t ndim;
    double *x = host_read(in, shape, &ndim, &numel);
    if (!x) return 1;
    for (int64_t k = 0; k < numel; k++) x[k] *= 2;
    sf_status status;
    if (s->mode == 1) {
        const int64_t two[1] = {2};
        status = sf_tensor_from_data(x, SF_FLOAT64, two, 1, out);
    } else if (s->mode == 2) {
        float f[N];
        for (int k = 0; k < N && k < numel; k++) f[k] = (float)x[k];
        status = sf_tensor_from_data(f, SF_FLOAT32, shape, ndim, out);
    } else if (s->mode == 3) {
        const int64_t rows[2] = {2, numel / 2};
        status = sf_tensor_from_data(x, SF_FLOAT64, rows, 2, out);
    } else {
        status = sf_tensor_from_data(x, SF_FLOAT64, shape, ndim, out);
    }
    free(x);
    return status == SF_OK ? 0 : 1;
}

CALLBACK(drifting_forward) { return drifting_result(ud, in[0], &out[0]); }
CALLBACK(drifting_jvp) { return drifting_result(ud, in[2], &out[0]); } /* (x, y, t) */

/* f(x) = sin(custom(x)) * x: ops after the call read its result with the traced type. */
CALLBACK(cb_sin_custom_times_x) {
    uses_custom_state *s = ud;
    arena a = {0};
    sf_tensor *c = call1(&a, s->custom, in, 1);
    put(&a, out, 0, op2(&a, sf_mul, op1(&a, sf_sin, c), in[0]));
    return finish(&a);
}

static void test_custom_results_change_at_replay(void) {
    drifting_state ds = {0};
    sf_custom_function_desc desc = SF_CUSTOM_FUNCTION_DESC_INIT;
    desc.name = "drifting";
    desc.n_inputs = 1;
    desc.n_outputs = 1;
    desc.forward = drifting_forward;
    desc.jvp = drifting_jvp;
    desc.user_data = &ds;
    desc.free_user_data = free_drifting_state;
    sf_function *custom = custom_function(&desc);
    uses_custom_state us = {0};
    us.custom = custom;
    sf_function *f = function(cb_sin_custom_times_x, &us, 1, 1), *jf = jit(f);
    sf_tensor *x = vec(X_A, N), *y = NULL;
    double ref[N];
    for (int j = 0; j < N; j++) ref[j] = sin(2 * X_A[j]) * X_A[j];

    /* jit: traced in mode 0; then each drift is refused, and mode 0 works again. */
    CHECK_OK(sf_call(jf, &x, 1, &y, 1));
    CHECK_TENSOR(y, SHAPE_X, 1, ref, TOL);
    sf_tensor_release(y);
    const char *expected[4] = {NULL, "has shape [2], expected [4]", "dtype float32, expected float64",
                               "has shape [2, 2], expected [4]"};
    for (int mode = 1; mode <= 3; mode++) {
        ds.mode = mode;
        CHECK_ERROR_NULL(y, sf_call(jf, &x, 1, &y, 1), SF_ERR_SHAPE, expected[mode]);
        CHECK(strstr(sf_last_error(), "custom function 'drifting'") != NULL);
    }
    ds.mode = 0;
    CHECK_OK(sf_call(jf, &x, 1, &y, 1));
    CHECK_TENSOR(y, SHAPE_X, 1, ref, TOL);
    sf_tensor_release(y);
    CHECK_EQ(traces(jf), 1);

    /* linearize: its linear map replays the JVP rule (a host kernel recorded as one call). */
    sf_function *lin = NULL;
    CHECK_OK(sf_linearize(f, &x, 1, &y, 1, &lin));
    CHECK_TENSOR(y, SHAPE_X, 1, ref, TOL);
    sf_tensor_release(y);
    const double t_values[N] = {1.0, -0.5, 0.25, 2.0};
    double ref_t[N];
    for (int j = 0; j < N; j++) ref_t[j] = cos(2 * X_A[j]) * 2 * t_values[j] * X_A[j] + sin(2 * X_A[j]) * t_values[j];
    sf_tensor *t = vec(t_values, N);
    CHECK_OK(sf_call(lin, &t, 1, &y, 1));
    CHECK_TENSOR(y, SHAPE_X, 1, ref_t, TOL);
    sf_tensor_release(y);
    for (int mode = 1; mode <= 3; mode++) {
        ds.mode = mode;
        CHECK_ERROR_NULL(y, sf_call(lin, &t, 1, &y, 1), SF_ERR_SHAPE, expected[mode]);
    }
    ds.mode = 0;
    CHECK_OK(sf_call(lin, &t, 1, &y, 1));
    CHECK_TENSOR(y, SHAPE_X, 1, ref_t, TOL);
    sf_tensor_release(y);

    /* Under a transform the replay goes through the ops' rules: refused the same way. */
    sf_tensor *o = NULL;
    ds.mode = 1;
    o = GARBAGE;
    CHECK_ERROR_NULL(y, sf_jvp(jf, &x, &t, 1, &o, &y, 1), SF_ERR_SHAPE, expected[1]);
    CHECK(o == NULL);
    ds.mode = 0;

    RELEASE_TENSORS(x, t);
    RELEASE_FUNCTIONS(lin, jf, f, custom);
    CHECK_EQ(ds.freed, 1);
}

/* ------------------------------------------------------------------------------------------------
 * Functions whose output count is known at return, jitted
 * ---------------------------------------------------------------------------------------------- */

/* x -> (sin(x), sum(x)) appended to the list. */
static int cb_list(void *ud, sf_tensor *const *in, size_t n_in UNUSED, sf_tensor_list *outputs) {
    bump(ud);
    sf_tensor *s = NULL, *t = NULL;
    sf_status status = sf_sin(in[0], &s);
    if (status == SF_OK) status = sf_sum(in[0], NULL, 0, false, &t);
    if (status == SF_OK) status = sf_tensor_list_append(outputs, s);
    if (status == SF_OK) status = sf_tensor_list_append(outputs, t);
    RELEASE_TENSORS(s, t);
    return status == SF_OK ? 0 : 1;
}

static void test_at_return(void) {
    counter c = {0};
    sf_function *f = NULL;
    CHECK_OK(sf_function_new_at_return(cb_list, &c, NULL, 1, &f));
    sf_function *jf = jit(f);
    size_t n_in = 0, n_out = 0;
    CHECK_OK(sf_function_arity(jf, &n_in, &n_out));
    CHECK_EQ(n_in, 1);
    CHECK(n_out == SF_OUTPUTS_AT_RETURN);
    const double *xs[2] = {X_A, X_B};
    for (int round = 0; round < 2; round++) {
        sf_tensor *x = vec(xs[round], N), *got[2] = {NULL, NULL};
        sf_tensor_list *list = NULL;
        CHECK_OK(sf_tensor_list_new(&list));
        CHECK_OK(sf_call_list(jf, &x, 1, list));
        size_t size = 0;
        CHECK_OK(sf_tensor_list_size(list, &size));
        CHECK_EQ(size, 2);
        if (size == 2) {
            CHECK_OK(sf_tensor_list_get(list, 0, &got[0]));
            CHECK_OK(sf_tensor_list_get(list, 1, &got[1]));
            double s[N], total = 0;
            for (int j = 0; j < N; j++) s[j] = sin(xs[round][j]), total += xs[round][j];
            CHECK_TENSOR(got[0], SHAPE_X, 1, s, TOL);
            CHECK_SCALAR(got[1], total, TOL);
        }
        release_all(got, 2);
        /* sf_call with the count it returns works too. */
        CHECK_OK(sf_call(jf, &x, 1, got, 2));
        release_all(got, 2);
        sf_tensor_list_free(list);
        sf_tensor_release(x);
    }
    CHECK_EQ(calls_of(&c), 1);
    CHECK_EQ(traces(jf), 1);
    char *text = NULL;
    sf_tensor *x = vec(X_A, N);
    CHECK_OK(sf_function_graph(jf, &x, 1, &text));
    CHECK(text != NULL && strstr(text, "sin") != NULL && strstr(text, "sum") != NULL);
    sf_string_free(text);
    sf_tensor_release(x);
    RELEASE_FUNCTIONS(jf, f);
}

int main(void) {
    test_plain_function();
    test_grad_and_hessian();
    test_jvp_vjp_jacobians();
    test_vmap();
    test_per_sample_gradients();
    test_compositions();
    test_trace_counts();
    test_edge_functions();
    test_eviction();
    test_bad_arguments();
    test_concretization();
    test_randomness();
    test_draws_of_other_threads_during_a_trace();
    test_function_graph();
    test_threads();
    test_custom_function();
    test_custom_domain();
    test_custom_results_change_at_replay();
    test_at_return();
    return check_summary();
}
