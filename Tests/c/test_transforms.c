/* test_transforms.c — functions and transforms (torch.func) through the C ABI.
 *
 *  1. torch.func semantics of grad / grad_and_value / vjp / jvp / vmap / jacrev / jacfwd / hessian:
 *     scalar outputs, has_aux, argnums, in_dims/out_dims, chunking, randomness, reading values.
 *  2. Correctness: perturbation confusion, escaped tracers, callback failures at any depth,
 *     user_data lifetime.
 *  3. Compositions (vmap(grad), jacrev vs jacfwd, hessian, jvp(grad), grad(vmap), ...) against
 *     closed forms computed in C doubles or finite differences in float64.
 *  4. Bad input for every function of the family: a status and a message, never a crash.
 *
 * Every expected value is computed independently in C (closed forms or finite differences); no
 * result is hard-coded. Runs plain and under AddressSanitizer/LeakSanitizer (make c-test,
 * make asan-test), which is what proves that failing callbacks and escaped tracers leak nothing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "check.h"
#include "swiftfunc.h"
#include "tensor_check.h"

/* Declares a host callback (sf_callback) named `name`. */
#define CALLBACK(name)                                                                          \
    static int name(void *ud UNUSED, sf_tensor *const *in UNUSED, size_t n_in UNUSED,           \
                    sf_tensor **out UNUSED, size_t n_out UNUSED)

/* Tolerances: closed forms in float64, and central differences with h = 1e-5. */
#define TOL 1e-10
#define FD_TOL 1e-6

/* ------------------------------------------------------------------------------------------------
 * Tensors in and out (make64, CHECK_TENSOR, CHECK_SAME, ...: tensor_check.h)
 * ---------------------------------------------------------------------------------------------- */

/* Element (i) of a [B, ...] tensor along dim 0 as a new tensor (through sf_slice + sf_reshape). */
static sf_tensor *row_of(sf_tensor *t, int64_t i, const int64_t *row_shape, size_t row_ndim) {
    sf_tensor *sliced = NULL, *row = NULL;
    CHECK_OK(sf_slice(t, 0, i, i + 1, 1, &sliced));
    CHECK_OK(sf_reshape(sliced, row_shape, row_ndim, &row));
    sf_tensor_release(sliced);
    return row;
}

/* ------------------------------------------------------------------------------------------------
 * Callbacks are written with the op arena of arena.h (op1, op2, sum_all, put, finish); what
 * else they need:
 * ---------------------------------------------------------------------------------------------- */

/* A float64 constant tensor of `shape`. */
static sf_tensor *constant(arena *a, const double *values, const int64_t *shape, size_t ndim) {
    sf_tensor *r = NULL;
    if (a->failed) return NULL;
    return keep(a, sf_tensor_from_data(values, SF_FLOAT64, shape, ndim, &r), &r);
}

/* The fixed matrix A [2, 3] used by several functions below. */
static const double A_VALUES[6] = {0.3, -0.5, 0.8, 0.6, 0.2, -0.4};
static const int64_t A_SHAPE[2] = {2, 3};

static sf_tensor *matrix_a(arena *a) { return constant(a, A_VALUES, A_SHAPE, 2); }

/* A new function for `callback` with no user data. */
static sf_function *function(sf_callback callback, size_t n_in, size_t n_out) {
    sf_function *f = NULL;
    CHECK_OK(sf_function_new(callback, NULL, NULL, n_in, n_out, &f));
    return f;
}

/* y = A x for A [m, n] row-major. */
static void mat_vec(const double *a, const double *x, double *y, int m, int n) {
    for (int i = 0; i < m; i++) {
        y[i] = 0;
        for (int j = 0; j < n; j++) y[i] += a[i * n + j] * x[j];
    }
}

/* ------------------------------------------------------------------------------------------------
 * Callbacks shared by the tests
 * ---------------------------------------------------------------------------------------------- */

/* f(x) = x. */
CALLBACK(cb_identity) {
    sf_tensor_retain(in[0]);
    out[0] = in[0];
    return 0;
}

/* f(x, y) = (y, x). */
CALLBACK(cb_swap) {
    sf_tensor_retain(in[1]);
    out[0] = in[1];
    sf_tensor_retain(in[0]);
    out[1] = in[0];
    return 0;
}

/* f(x, y) = (x, y, x): a value and two aux outputs, with no ops at all. */
CALLBACK(cb_value_and_inputs) {
    sf_tensor_retain(in[0]);
    out[0] = in[0];
    sf_tensor_retain(in[1]);
    out[1] = in[1];
    sf_tensor_retain(in[0]);
    out[2] = in[0];
    return 0;
}

/* f(x0, x1) = x1. */
CALLBACK(cb_second) {
    sf_tensor_retain(in[1]);
    out[0] = in[1];
    return 0;
}

/* f(x) = sin(x). */
CALLBACK(cb_sin) {
    arena a = {0};
    put(&a, out, 0, op1(&a, sf_sin, in[0]));
    return finish(&a);
}

/* f(x) = sum(sin(x)). */
CALLBACK(cb_sum_sin) {
    arena a = {0};
    put(&a, out, 0, sum_all(&a, op1(&a, sf_sin, in[0])));
    return finish(&a);
}

/* f(x) = 5 (a 0-d float64 constant that does not depend on x). */
CALLBACK(cb_const5) {
    return sf_full(NULL, 0, 5.0, SF_FLOAT64, &out[0]) == SF_OK ? 0 : 1;
}

/* f(x) = int64(x): a 0-d integer output. */
CALLBACK(cb_to_int) { return sf_cast(in[0], SF_INT64, &out[0]) == SF_OK ? 0 : 1; }

/* f(x) = (sum(sin(x)), exp(x), arange(3) as int64): a value and two aux outputs. */
CALLBACK(cb_aux) {
    arena a = {0};
    sf_tensor *value = sum_all(&a, op1(&a, sf_sin, in[0]));
    sf_tensor *aux = op1(&a, sf_exp, in[0]);
    sf_tensor *indices = NULL;
    if (!a.failed) indices = keep(&a, sf_arange(0, 3, 1, SF_INT64, &indices), &indices);
    put(&a, out, 0, value);
    put(&a, out, 1, aux);
    put(&a, out, 2, indices);
    return finish(&a);
}

/* f(x, y) = (sum(sin(x) * y), exp(x)). */
CALLBACK(cb_aux2) {
    arena a = {0};
    put(&a, out, 0, sum_all(&a, op2(&a, sf_mul, op1(&a, sf_sin, in[0]), in[1])));
    put(&a, out, 1, op1(&a, sf_exp, in[0]));
    return finish(&a);
}

/* f(x0, x1) = sum(sin(x0) * x1). */
CALLBACK(cb_two) {
    arena a = {0};
    put(&a, out, 0, sum_all(&a, op2(&a, sf_mul, op1(&a, sf_sin, in[0]), in[1])));
    return finish(&a);
}

/* f(x, y) = x + y. */
CALLBACK(cb_add) {
    arena a = {0};
    put(&a, out, 0, op2(&a, sf_add, in[0], in[1]));
    return finish(&a);
}

/* f(w, x) = w @ x. */
CALLBACK(cb_matvec) {
    arena a = {0};
    put(&a, out, 0, op2(&a, sf_matmul, in[0], in[1]));
    return finish(&a);
}

/* f(x) = (sin(x), full([2], 7)): the second output does not depend on x. */
CALLBACK(cb_sin_and_const) {
    arena a = {0};
    const int64_t shape[] = {2};
    sf_tensor *c = NULL;
    put(&a, out, 0, op1(&a, sf_sin, in[0]));
    if (!a.failed) c = keep(&a, sf_full(shape, 1, 7.0, SF_FLOAT64, &c), &c);
    put(&a, out, 1, c);
    return finish(&a);
}

/* f(x) = sum(sin(x) * x). */
CALLBACK(cb_sum_xsinx) {
    arena a = {0};
    put(&a, out, 0, sum_all(&a, op2(&a, sf_mul, op1(&a, sf_sin, in[0]), in[0])));
    return finish(&a);
}

/* f(w, x) = sum(tanh(w @ x)). */
CALLBACK(cb_tanh_wx) {
    arena a = {0};
    put(&a, out, 0, sum_all(&a, op1(&a, sf_tanh, op2(&a, sf_matmul, in[0], in[1]))));
    return finish(&a);
}

/* f(x) = sin(A @ x) * sum(x * x), R^3 -> R^2. */
CALLBACK(cb_jac) {
    arena a = {0};
    sf_tensor *s = sum_all(&a, op2(&a, sf_mul, in[0], in[0]));
    put(&a, out, 0, op2(&a, sf_mul, op1(&a, sf_sin, op2(&a, sf_matmul, matrix_a(&a), in[0])), s));
    return finish(&a);
}

/* f(x, m) = sin(m @ x) * sum(x * x). */
CALLBACK(cb_jac2) {
    arena a = {0};
    sf_tensor *s = sum_all(&a, op2(&a, sf_mul, in[0], in[0]));
    put(&a, out, 0, op2(&a, sf_mul, op1(&a, sf_sin, op2(&a, sf_matmul, in[1], in[0])), s));
    return finish(&a);
}

/* f(x) = sin(A @ x). */
CALLBACK(cb_sin_ax) {
    arena a = {0};
    put(&a, out, 0, op1(&a, sf_sin, op2(&a, sf_matmul, matrix_a(&a), in[0])));
    return finish(&a);
}

/* f(x) = sum(exp(A @ x)): Hessian A^T diag(exp(A x)) A. */
CALLBACK(cb_exp_ax) {
    arena a = {0};
    put(&a, out, 0, sum_all(&a, op1(&a, sf_exp, op2(&a, sf_matmul, matrix_a(&a), in[0]))));
    return finish(&a);
}

/* f(x, y) = sum(exp(x) * y). */
CALLBACK(cb_exp_xy) {
    arena a = {0};
    put(&a, out, 0, sum_all(&a, op2(&a, sf_mul, op1(&a, sf_exp, in[0]), in[1])));
    return finish(&a);
}

/* f(x) = sin(x) * exp(x). */
CALLBACK(cb_sin_exp) {
    arena a = {0};
    put(&a, out, 0, op2(&a, sf_mul, op1(&a, sf_sin, in[0]), op1(&a, sf_exp, in[0])));
    return finish(&a);
}

/* f(x, y) = (sin(x) * y, sum(exp(x))). */
CALLBACK(cb_vjp2) {
    arena a = {0};
    put(&a, out, 0, op2(&a, sf_mul, op1(&a, sf_sin, in[0]), in[1]));
    put(&a, out, 1, sum_all(&a, op1(&a, sf_exp, in[0])));
    return finish(&a);
}

/* f(x, k) = sin(x) * k with k an int64 tensor. */
CALLBACK(cb_sin_times_int) {
    arena a = {0};
    put(&a, out, 0, op2(&a, sf_mul, op1(&a, sf_sin, in[0]), in[1]));
    return finish(&a);
}

/* f(x, y) = sin(x): y is unused (its cotangent is zero). */
CALLBACK(cb_ignores_second) {
    arena a = {0};
    put(&a, out, 0, op1(&a, sf_sin, in[0]));
    return finish(&a);
}

/* ------------------------------------------------------------------------------------------------
 * 1. torch.func semantics
 * ---------------------------------------------------------------------------------------------- */

static void test_grad_needs_scalar_output(void) {
    sf_function *id = function(cb_identity, 1, 1), *g = NULL;
    CHECK_OK(sf_grad(id, NULL, 0, false, &g));

    /* A [3] output: SF_ERR_SHAPE naming the shape; the output is NULL. */
    const double xv[3] = {0.5, -1.0, 2.0};
    const int64_t s3[] = {3};
    sf_tensor *x = make64(xv, s3, 1), *r = GARBAGE;
    CHECK_ERROR(sf_call(g, &x, 1, &r, 1), SF_ERR_SHAPE, "[3]");
    CHECK(r == NULL);
    CHECK_ERROR(sf_call(g, &x, 1, &r, 1), SF_ERR_SHAPE, "sf_grad");

    /* A [2, 3] output computed by an op. */
    const double mv[6] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6};
    const int64_t s23[] = {2, 3};
    sf_tensor *m = make64(mv, s23, 2);
    sf_function *sin_f = function(cb_sin, 1, 1), *gs = NULL;
    CHECK_OK(sf_grad(sin_f, NULL, 0, false, &gs));
    r = GARBAGE;
    CHECK_ERROR(sf_call(gs, &m, 1, &r, 1), SF_ERR_SHAPE, "[2, 3]");
    CHECK(r == NULL);

    /* grad of the identity at a 0-d input is 1; of a constant it is 0 with the input's shape. */
    sf_tensor *x0 = scalar64(1.25);
    CHECK_OK(sf_call(g, &x0, 1, &r, 1));
    CHECK_SCALAR(r, 1.0, TOL);
    sf_tensor_release(r);
    sf_function *c = function(cb_const5, 1, 1), *gc = NULL;
    CHECK_OK(sf_grad(c, NULL, 0, false, &gc));
    r = NULL;
    CHECK_OK(sf_call(gc, &x, 1, &r, 1));
    const double zeros[3] = {0, 0, 0};
    CHECK_TENSOR(r, s3, 1, zeros, 0);
    sf_tensor_release(r);

    /* An integer output cannot be differentiated. */
    sf_function *ti = function(cb_to_int, 1, 1), *gi = NULL;
    CHECK_OK(sf_grad(ti, NULL, 0, false, &gi));
    r = GARBAGE;
    CHECK_STATUS(sf_call(gi, &x0, 1, &r, 1), SF_ERR_DTYPE);
    CHECK(r == NULL);

    sf_tensor_release(x), sf_tensor_release(m), sf_tensor_release(x0);
    sf_function_release(id), sf_function_release(g), sf_function_release(sin_f), sf_function_release(gs);
    sf_function_release(c), sf_function_release(gc), sf_function_release(ti), sf_function_release(gi);
}

static void test_has_aux(void) {
    const double xv[3] = {0.4, -1.3, 2.2};
    const int64_t s3[] = {3};
    sf_tensor *x = make64(xv, s3, 1);
    double cos_x[3], exp_x[3], sum_sin = 0;
    for (int i = 0; i < 3; i++) cos_x[i] = cos(xv[i]), exp_x[i] = exp(xv[i]), sum_sin += sin(xv[i]);

    sf_function *f = function(cb_aux, 1, 3), *g = NULL, *gv = NULL;
    CHECK_OK(sf_grad(f, NULL, 0, true, &g));
    size_t n_in = 0, n_out = 0;
    CHECK_OK(sf_function_arity(g, &n_in, &n_out));
    CHECK_EQ(n_in, 1);
    CHECK_EQ(n_out, 3);
    sf_tensor *r[4] = {NULL};
    CHECK_OK(sf_call(g, &x, 1, r, 3));
    CHECK_TENSOR(r[0], s3, 1, cos_x, TOL);
    CHECK_TENSOR(r[1], s3, 1, exp_x, TOL); /* aux untouched: exp(x), not a tracer's derivative */
    sf_dtype dtype = SF_FLOAT32;
    int64_t idx[3] = {-1, -1, -1};
    CHECK(r[2] != NULL && sf_tensor_dtype(r[2], &dtype) == SF_OK && dtype == SF_INT64);
    CHECK(r[2] != NULL && sf_tensor_copy_to(r[2], idx, sizeof idx) == SF_OK);
    CHECK(idx[0] == 0 && idx[1] == 1 && idx[2] == 2);
    release_all(r, 3);

    /* grad_and_value: gradients, value, aux. */
    CHECK_OK(sf_grad_and_value(f, NULL, 0, true, &gv));
    CHECK_OK(sf_function_arity(gv, &n_in, &n_out));
    CHECK_EQ(n_out, 4);
    CHECK_OK(sf_call(gv, &x, 1, r, 4));
    CHECK_TENSOR(r[0], s3, 1, cos_x, TOL);
    CHECK_SCALAR(r[1], sum_sin, TOL);
    CHECK_TENSOR(r[2], s3, 1, exp_x, TOL);
    CHECK(r[3] != NULL && sf_tensor_dtype(r[3], &dtype) == SF_OK && dtype == SF_INT64);
    release_all(r, 4);

    /* Two inputs, argnums {1, 0}: d/dy, d/dx, value, aux. */
    const double yv[3] = {0.9, 0.1, -0.6};
    sf_tensor *y = make64(yv, s3, 1);
    double dy[3], dx[3], value = 0;
    for (int i = 0; i < 3; i++) dy[i] = sin(xv[i]), dx[i] = cos(xv[i]) * yv[i], value += sin(xv[i]) * yv[i];
    sf_function *f2 = function(cb_aux2, 2, 2), *gv2 = NULL;
    const int32_t order[] = {1, 0};
    CHECK_OK(sf_grad_and_value(f2, order, 2, true, &gv2));
    sf_tensor *xy[2] = {x, y};
    CHECK_OK(sf_call(gv2, xy, 2, r, 4));
    CHECK_TENSOR(r[0], s3, 1, dy, TOL);
    CHECK_TENSOR(r[1], s3, 1, dx, TOL);
    CHECK_SCALAR(r[2], value, TOL);
    CHECK_TENSOR(r[3], s3, 1, exp_x, TOL);
    release_all(r, 4);

    /* has_aux needs at least two outputs; without has_aux exactly one. */
    sf_function *one = function(cb_sum_sin, 1, 1), *bad = GARBAGE;
    CHECK_STATUS(sf_grad(one, NULL, 0, true, &bad), SF_ERR_INVALID_ARGUMENT);
    CHECK(bad == NULL);
    bad = GARBAGE;
    CHECK_STATUS(sf_grad(f, NULL, 0, false, &bad), SF_ERR_INVALID_ARGUMENT);
    CHECK(bad == NULL);
    bad = GARBAGE;
    CHECK_STATUS(sf_grad_and_value(one, NULL, 0, true, &bad), SF_ERR_INVALID_ARGUMENT);
    CHECK(bad == NULL);

    /* The same order with a function of no ops: f(x, y) = (x, y, x) at 0-d x and [3] y;
     * argnums {1, 0}: d/dy = 0 [3], d/dx = 1, value x, aux y and x untouched. */
    sf_function *f3 = function(cb_value_and_inputs, 2, 3), *gv3 = NULL;
    sf_tensor *x0 = scalar64(-2.5), *x0y[2] = {x0, y}, *r5[5] = {NULL};
    const double zeros[3] = {0, 0, 0};
    CHECK_OK(sf_grad_and_value(f3, order, 2, true, &gv3));
    CHECK_OK(sf_call(gv3, x0y, 2, r5, 5));
    CHECK_TENSOR(r5[0], s3, 1, zeros, 0);
    CHECK_SCALAR(r5[1], 1.0, 0);
    CHECK_SCALAR(r5[2], -2.5, 0);
    CHECK_TENSOR(r5[3], s3, 1, yv, 0);
    CHECK_SCALAR(r5[4], -2.5, 0);
    release_all(r5, 5);
    sf_function_release(f3), sf_function_release(gv3), sf_tensor_release(x0);

    sf_tensor_release(x), sf_tensor_release(y);
    sf_function_release(f), sf_function_release(g), sf_function_release(gv);
    sf_function_release(f2), sf_function_release(gv2), sf_function_release(one);
}

static void test_argnums(void) {
    const double x0v[3] = {0.3, -0.8, 1.7}, x1v[3] = {1.5, -0.2, 0.6};
    const int64_t s3[] = {3};
    sf_tensor *x0 = make64(x0v, s3, 1), *x1 = make64(x1v, s3, 1), *xs[2] = {x0, x1};
    double d0[3], d1[3];
    for (int i = 0; i < 3; i++) d0[i] = cos(x0v[i]) * x1v[i], d1[i] = sin(x0v[i]);

    sf_function *f = function(cb_two, 2, 1), *g = NULL;
    sf_tensor *r[3] = {NULL};
    size_t n_out = 0;

    /* {1, 0}: d/dx1 then d/dx0. */
    const int32_t order10[] = {1, 0};
    CHECK_OK(sf_grad(f, order10, 2, false, &g));
    CHECK_OK(sf_function_arity(g, NULL, &n_out));
    CHECK_EQ(n_out, 2);
    CHECK_OK(sf_call(g, xs, 2, r, 2));
    CHECK_TENSOR(r[0], s3, 1, d1, TOL);
    CHECK_TENSOR(r[1], s3, 1, d0, TOL);
    release_all(r, 2);
    sf_function_release(g);

    /* Default (NULL, 0) is {0}. */
    CHECK_OK(sf_grad(f, NULL, 0, false, &g));
    CHECK_OK(sf_function_arity(g, NULL, &n_out));
    CHECK_EQ(n_out, 1);
    CHECK_OK(sf_call(g, xs, 2, r, 1));
    CHECK_TENSOR(r[0], s3, 1, d0, TOL);
    release_all(r, 1);
    sf_function_release(g);

    /* {1} alone. */
    const int32_t only1[] = {1};
    CHECK_OK(sf_grad(f, only1, 1, false, &g));
    CHECK_OK(sf_call(g, xs, 2, r, 1));
    CHECK_TENSOR(r[0], s3, 1, d1, TOL);
    release_all(r, 1);
    sf_function_release(g);

    /* The same order with a function of no ops, f(x0, x1) = x1 at 0-d inputs: {1, 0} gives 1, 0. */
    sf_function *second = function(cb_second, 2, 1);
    sf_tensor *a0 = scalar64(0.5), *a1 = scalar64(-1.5), *a01[2] = {a0, a1};
    CHECK_OK(sf_grad(second, order10, 2, false, &g));
    CHECK_OK(sf_call(g, a01, 2, r, 2));
    CHECK_SCALAR(r[0], 1.0, 0);
    CHECK_SCALAR(r[1], 0.0, 0);
    release_all(r, 2);
    sf_function_release(g);
    CHECK_OK(sf_grad(second, NULL, 0, false, &g));
    CHECK_OK(sf_call(g, a01, 2, r, 1));
    CHECK_SCALAR(r[0], 0.0, 0);
    release_all(r, 1);
    sf_function_release(g);
    sf_function_release(second), sf_tensor_release(a0), sf_tensor_release(a1);

    /* Out of range, negative past the inputs, repeated, NULL with a count: errors, *out NULL. */
    const int32_t out_of_range[] = {2}, repeated[] = {0, 0}, far_negative[] = {-3};
    g = GARBAGE;
    CHECK_ERROR(sf_grad(f, out_of_range, 1, false, &g), SF_ERR_INVALID_ARGUMENT, "argnums");
    CHECK(g == NULL);
    g = GARBAGE;
    CHECK_ERROR(sf_grad(f, repeated, 2, false, &g), SF_ERR_INVALID_ARGUMENT, "argnums");
    CHECK(g == NULL);
    g = GARBAGE;
    CHECK_ERROR(sf_grad(f, far_negative, 1, false, &g), SF_ERR_INVALID_ARGUMENT, "argnums");
    CHECK(g == NULL);
    g = GARBAGE;
    CHECK_ERROR(sf_grad(f, NULL, 2, false, &g), SF_ERR_INVALID_ARGUMENT, "argnums");
    CHECK(g == NULL);
    g = GARBAGE;
    CHECK_ERROR(sf_grad_and_value(f, out_of_range, 1, false, &g), SF_ERR_INVALID_ARGUMENT, "argnums");
    CHECK(g == NULL);
    g = GARBAGE;
    CHECK_ERROR(sf_jacrev(f, repeated, 2, false, 0, &g), SF_ERR_INVALID_ARGUMENT, "argnums");
    CHECK(g == NULL);
    g = GARBAGE;
    CHECK_ERROR(sf_jacfwd(f, out_of_range, 1, false, SF_RANDOMNESS_ERROR, &g), SF_ERR_INVALID_ARGUMENT, "argnums");
    CHECK(g == NULL);
    g = GARBAGE;
    CHECK_ERROR(sf_hessian(f, repeated, 2, &g), SF_ERR_INVALID_ARGUMENT, "argnums");
    CHECK(g == NULL);

    /* Differentiating an integer input is SF_ERR_DTYPE; an integer input that is not
     * differentiated is fine. */
    const int64_t kv[3] = {2, -1, 3};
    sf_tensor *k = make_i64(kv, s3, 1), *kx[2] = {k, x1};
    CHECK_OK(sf_grad(f, NULL, 0, false, &g));
    r[0] = GARBAGE;
    CHECK_STATUS(sf_call(g, kx, 2, r, 1), SF_ERR_DTYPE);
    CHECK(r[0] == NULL);
    sf_function_release(g);
    CHECK_OK(sf_grad(f, only1, 1, false, &g));
    CHECK_OK(sf_call(g, kx, 2, r, 1));
    double sin_k[3];
    for (int i = 0; i < 3; i++) sin_k[i] = sin((double)kv[i]);
    /* sin of an int64 tensor is float32 (header: the others promote to float32): compare loosely. */
    sf_dtype dtype = SF_BOOL;
    CHECK(r[0] != NULL && sf_tensor_dtype(r[0], &dtype) == SF_OK && (dtype == SF_FLOAT32 || dtype == SF_FLOAT64));
    if (r[0] != NULL && dtype == SF_FLOAT32) {
        float got[3] = {0};
        CHECK_OK(sf_tensor_copy_to(r[0], got, sizeof got));
        for (int i = 0; i < 3; i++) CHECK_NEAR(got[i], sin_k[i], 1e-6);
    } else if (r[0] != NULL) {
        CHECK_TENSOR(r[0], s3, 1, sin_k, 1e-6); /* float64 by promotion with x1 */
    }
    release_all(r, 1);
    sf_function_release(g);

    sf_tensor_release(x0), sf_tensor_release(x1), sf_tensor_release(k);
    sf_function_release(f);
}

/* The rank and shape the callback saw, for checking that traced values look per-example. */
static size_t probe_ndim;
static int64_t probe_shape[SF_MAX_NDIM];

CALLBACK(cb_shape_probe) {
    probe_ndim = 99;
    if (sf_tensor_ndim(in[0], &probe_ndim) != SF_OK) return 1;
    if (sf_tensor_shape(in[0], probe_shape, SF_MAX_NDIM) != SF_OK) return 1;
    sf_tensor_retain(in[0]);
    out[0] = in[0];
    return 0;
}

static void test_vmap_semantics(void) {
    const int64_t s43[] = {4, 3}, s34[] = {3, 4}, s23[] = {2, 3}, s42[] = {4, 2}, s2[] = {2};
    double xv[12];
    for (int i = 0; i < 12; i++) xv[i] = 0.37 * i - 1.9;
    sf_tensor *x = make64(xv, s43, 2), *r[2] = {NULL};
    sf_function *sin_f = function(cb_sin, 1, 1), *v = NULL;

    /* Inside the callback a mapped input has the per-example shape. */
    sf_function *probe = function(cb_shape_probe, 1, 1);
    CHECK_OK(sf_vmap(probe, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_ERROR, &v));
    CHECK_OK(sf_call(v, &x, 1, r, 1));
    CHECK_EQ(probe_ndim, 1);
    CHECK_EQ(probe_shape[0], 3);
    CHECK_TENSOR(r[0], s43, 2, xv, 0);
    release_all(r, 1);
    sf_function_release(v);

    /* Mismatched batch sizes: an error naming both sizes. */
    const int64_t s32[] = {3, 2}, s42b[] = {4, 2};
    double zeros12[12] = {0};
    sf_tensor *a = make64(zeros12, s32, 2), *b = make64(zeros12, s42b, 2), *ab[2] = {a, b};
    sf_function *add = function(cb_add, 2, 1);
    CHECK_OK(sf_vmap(add, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_ERROR, &v));
    r[0] = GARBAGE;
    sf_status s = sf_call(v, ab, 2, r, 1);
    CHECK(s == SF_ERR_SHAPE || s == SF_ERR_INVALID_ARGUMENT);
    CHECK(strstr(sf_last_error(), "sf_vmap") != NULL);
    CHECK(strstr(sf_last_error(), "3") != NULL && strstr(sf_last_error(), "4") != NULL);
    CHECK(r[0] == NULL);
    sf_function_release(v);

    /* in_dims out of range (rank 2: valid dims are -2..1), at call time. */
    const int64_t in2[] = {2}, in_neg3[] = {-3};
    CHECK_OK(sf_vmap(sin_f, in2, 1, NULL, 0, 0, SF_RANDOMNESS_ERROR, &v));
    r[0] = GARBAGE;
    CHECK_ERROR(sf_call(v, &x, 1, r, 1), SF_ERR_INVALID_ARGUMENT, "in_dims");
    CHECK(r[0] == NULL);
    sf_function_release(v);
    CHECK_OK(sf_vmap(sin_f, in_neg3, 1, NULL, 0, 0, SF_RANDOMNESS_ERROR, &v));
    CHECK_ERROR(sf_call(v, &x, 1, r, 1), SF_ERR_INVALID_ARGUMENT, "in_dims");
    sf_function_release(v);

    /* out_dims out of range: the output [3] gets a batch dim, so valid dims are -2..1. */
    const int64_t out2[] = {2}, out_neg3[] = {-3};
    CHECK_OK(sf_vmap(sin_f, NULL, 0, out2, 1, 0, SF_RANDOMNESS_ERROR, &v));
    r[0] = GARBAGE;
    CHECK_ERROR(sf_call(v, &x, 1, r, 1), SF_ERR_INVALID_ARGUMENT, "out_dims");
    CHECK(r[0] == NULL);
    sf_function_release(v);
    CHECK_OK(sf_vmap(sin_f, NULL, 0, out_neg3, 1, 0, SF_RANDOMNESS_ERROR, &v));
    CHECK_ERROR(sf_call(v, &x, 1, r, 1), SF_ERR_INVALID_ARGUMENT, "out_dims");
    sf_function_release(v);

    /* Negative in_dims: -1 maps over the last dim, so the result is sin(x^T), [3, 4]. */
    double sin_xt[12], sin_x[12];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++) sin_xt[j * 4 + i] = sin(xv[i * 3 + j]), sin_x[i * 3 + j] = sin(xv[i * 3 + j]);
    const int64_t in_last[] = {-1};
    CHECK_OK(sf_vmap(sin_f, in_last, 1, NULL, 0, 0, SF_RANDOMNESS_ERROR, &v));
    CHECK_OK(sf_call(v, &x, 1, r, 1));
    CHECK_TENSOR(r[0], s34, 2, sin_xt, TOL);
    release_all(r, 1);
    sf_function_release(v);

    /* out_dims 1 (and -1, the same here): the batch goes last. */
    const int64_t out1[] = {1}, out_last[] = {-1};
    CHECK_OK(sf_vmap(sin_f, NULL, 0, out1, 1, 0, SF_RANDOMNESS_ERROR, &v));
    CHECK_OK(sf_call(v, &x, 1, r, 1));
    CHECK_TENSOR(r[0], s34, 2, sin_xt, TOL);
    release_all(r, 1);
    sf_function_release(v);
    CHECK_OK(sf_vmap(sin_f, NULL, 0, out_last, 1, 0, SF_RANDOMNESS_ERROR, &v));
    CHECK_OK(sf_call(v, &x, 1, r, 1));
    CHECK_TENSOR(r[0], s34, 2, sin_xt, TOL);
    release_all(r, 1);
    sf_function_release(v);

    /* in_dims 1 and out_dims 1 together: the identity mapping on x^T's layout. */
    CHECK_OK(sf_vmap(sin_f, out1, 1, out1, 1, 0, SF_RANDOMNESS_ERROR, &v));
    CHECK_OK(sf_call(v, &x, 1, r, 1));
    CHECK_TENSOR(r[0], s43, 2, sin_x, TOL);
    release_all(r, 1);
    sf_function_release(v);

    /* SF_NOT_MAPPED: w [2, 3] passed whole, x mapped: rows A x_b. */
    sf_tensor *w = make64(A_VALUES, A_SHAPE, 2), *wx[2] = {w, x};
    double ax[8];
    for (int bi = 0; bi < 4; bi++) mat_vec(A_VALUES, xv + 3 * bi, ax + 2 * bi, 2, 3);
    const int64_t w_fixed[] = {SF_NOT_MAPPED, 0};
    sf_function *mv = function(cb_matvec, 2, 1);
    CHECK_OK(sf_vmap(mv, w_fixed, 2, NULL, 0, 0, SF_RANDOMNESS_ERROR, &v));
    CHECK_OK(sf_call(v, wx, 2, r, 1));
    CHECK_TENSOR(r[0], s42, 2, ax, TOL);
    release_all(r, 1);
    sf_function_release(v);

    /* Every input SF_NOT_MAPPED: an error. */
    const int64_t none[] = {SF_NOT_MAPPED, SF_NOT_MAPPED};
    CHECK_OK(sf_vmap(mv, none, 2, NULL, 0, 0, SF_RANDOMNESS_ERROR, &v));
    r[0] = GARBAGE;
    CHECK_ERROR(sf_call(v, wx, 2, r, 1), SF_ERR_INVALID_ARGUMENT, "sf_vmap");
    CHECK(r[0] == NULL);
    sf_function_release(v);

    /* An output that does not depend on the mapped inputs is broadcast along the batch. */
    sf_function *sc = function(cb_sin_and_const, 1, 2);
    CHECK_OK(sf_vmap(sc, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_ERROR, &v));
    CHECK_OK(sf_call(v, &x, 1, r, 2));
    double sevens[8];
    for (int i = 0; i < 8; i++) sevens[i] = 7.0;
    CHECK_TENSOR(r[0], s43, 2, sin_x, TOL);
    CHECK_TENSOR(r[1], s42, 2, sevens, 0);
    release_all(r, 2);
    sf_function_release(v);
    /* ... and comes back whole with out_dims SF_NOT_MAPPED ... */
    const int64_t keep_const[] = {0, SF_NOT_MAPPED}, bad_unmapped[] = {SF_NOT_MAPPED, 0};
    CHECK_OK(sf_vmap(sc, NULL, 0, keep_const, 2, 0, SF_RANDOMNESS_ERROR, &v));
    CHECK_OK(sf_call(v, &x, 1, r, 2));
    CHECK_TENSOR(r[0], s43, 2, sin_x, TOL);
    CHECK_TENSOR(r[1], s2, 1, sevens, 0);
    release_all(r, 2);
    sf_function_release(v);
    /* ... while SF_NOT_MAPPED for an output that depends on the batch is an error. */
    CHECK_OK(sf_vmap(sc, NULL, 0, bad_unmapped, 2, 0, SF_RANDOMNESS_ERROR, &v));
    fill_garbage(r, 2);
    CHECK_ERROR(sf_call(v, &x, 1, r, 2), SF_ERR_INVALID_ARGUMENT, "out_dims");
    CHECK(all_null(r, 2));
    sf_function_release(v);

    /* chunk_size: the same result as mapping everything at once (chunks of 1, 3 and > B). */
    double x5[15];
    for (int i = 0; i < 15; i++) x5[i] = 0.21 * i - 1.4;
    const int64_t s53[] = {5, 3}, s52[] = {5, 2}, s25[] = {2, 5};
    sf_tensor *xb = make64(x5, s53, 2), *wxb[2] = {w, xb};
    double ax5[10], ax5t[10];
    for (int bi = 0; bi < 5; bi++) mat_vec(A_VALUES, x5 + 3 * bi, ax5 + 2 * bi, 2, 3);
    for (int bi = 0; bi < 5; bi++)
        for (int j = 0; j < 2; j++) ax5t[j * 5 + bi] = ax5[bi * 2 + j];
    sf_tensor *whole = NULL;
    CHECK_OK(sf_vmap(mv, w_fixed, 2, NULL, 0, 0, SF_RANDOMNESS_ERROR, &v));
    CHECK_OK(sf_call(v, wxb, 2, &whole, 1));
    CHECK_TENSOR(whole, s52, 2, ax5, TOL);
    sf_function_release(v);
    const int64_t chunks[] = {1, 2, 3, 5, 9};
    for (size_t c = 0; c < COUNT(chunks); c++) {
        CHECK_OK(sf_vmap(mv, w_fixed, 2, NULL, 0, chunks[c], SF_RANDOMNESS_ERROR, &v));
        CHECK_OK(sf_call(v, wxb, 2, r, 1));
        CHECK_SAME(r[0], whole, 1e-12);
        release_all(r, 1);
        sf_function_release(v);
        CHECK_OK(sf_vmap(mv, w_fixed, 2, out1, 1, chunks[c], SF_RANDOMNESS_ERROR, &v));
        CHECK_OK(sf_call(v, wxb, 2, r, 1));
        CHECK_TENSOR(r[0], s25, 2, ax5t, TOL);
        release_all(r, 1);
        sf_function_release(v);
    }
    /* chunked with a broadcast output and an SF_NOT_MAPPED output */
    CHECK_OK(sf_vmap(sc, NULL, 0, keep_const, 2, 2, SF_RANDOMNESS_ERROR, &v));
    CHECK_OK(sf_call(v, &xb, 1, r, 2));
    double sin_x5[15];
    for (int i = 0; i < 15; i++) sin_x5[i] = sin(x5[i]);
    CHECK_TENSOR(r[0], s53, 2, sin_x5, TOL);
    CHECK_TENSOR(r[1], s2, 1, sevens, 0);
    release_all(r, 2);
    sf_function_release(v);

    /* An empty batch maps to an empty result. */
    const int64_t s03[] = {0, 3};
    sf_tensor *empty = make64(NULL, s03, 2);
    CHECK_OK(sf_vmap(sin_f, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_ERROR, &v));
    CHECK_OK(sf_call(v, &empty, 1, r, 1));
    CHECK_TENSOR(r[0], s03, 2, NULL, 0);
    release_all(r, 1);
    sf_function_release(v);

    (void)s23;
    sf_tensor_release(whole), sf_tensor_release(xb), sf_tensor_release(empty);
    sf_tensor_release(x), sf_tensor_release(a), sf_tensor_release(b), sf_tensor_release(w);
    sf_function_release(sin_f), sf_function_release(probe), sf_function_release(add);
    sf_function_release(mv), sf_function_release(sc);
}

/* Random draws inside a mapped callback; the status of the draw is kept for the test. */
static sf_status rand_status;
static char rand_message[512];

CALLBACK(cb_rand) {
    const int64_t shape[] = {4};
    rand_status = sf_rand(shape, 1, SF_FLOAT64, &out[0]);
    snprintf(rand_message, sizeof rand_message, "%s", rand_status == SF_OK ? "" : sf_last_error());
    return rand_status == SF_OK ? 0 : 1;
}

/* Two independent draws. */
CALLBACK(cb_rand2) {
    const int64_t shape[] = {4};
    if (sf_rand(shape, 1, SF_FLOAT64, &out[0]) != SF_OK) return 1;
    return sf_rand(shape, 1, SF_FLOAT64, &out[1]) != SF_OK;
}

/* Whether rows i and j (of length n) of `a` and `b` are equal. */
static int rows_equal(const double *a, int i, const double *b, int j, int n) {
    for (int k = 0; k < n; k++)
        if (a[i * n + k] != b[j * n + k]) return 0;
    return 1;
}

static void test_randomness(void) {
    enum { B = 3, N = 4 };
    const int64_t s32[] = {B, 2}, sb4[] = {B, N};
    double zeros[B * 2] = {0};
    sf_tensor *x = make64(zeros, s32, 2), *r[2] = {NULL};
    sf_function *f = function(cb_rand, 1, 1), *v = NULL;
    CHECK_OK(sf_manual_seed(1234));

    /* SF_RANDOMNESS_ERROR: sf_rand fails inside the callback with a message about randomness,
     * and the failure reaches the caller. */
    CHECK_OK(sf_vmap(f, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_ERROR, &v));
    r[0] = GARBAGE;
    sf_status s = sf_call(v, &x, 1, r, 1);
    CHECK(s != SF_OK);
    CHECK(r[0] == NULL);
    CHECK(rand_status != SF_OK);
    CHECK(strstr(rand_message, "randomness") != NULL);
    CHECK(strstr(sf_last_error(), "randomness") != NULL);
    sf_function_release(v);

    /* DIFFERENT: each batch element its own sample. */
    double values[B * N], second[B * N], plain_values[N];
    CHECK_OK(sf_vmap(f, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_DIFFERENT, &v));
    CHECK_OK(sf_call(v, &x, 1, r, 1));
    int ok = r[0] != NULL && read64(r[0], values, B * N);
    CHECK(ok);
    if (ok) {
        int64_t shape[2] = {0};
        CHECK_OK(sf_tensor_shape(r[0], shape, 2));
        CHECK(shape[0] == B && shape[1] == N);
        for (int i = 0; i < B * N; i++) CHECK(values[i] >= 0 && values[i] < 1);
        for (int i = 0; i < B; i++)
            for (int j = i + 1; j < B; j++) CHECK(!rows_equal(values, i, values, j, N));
    }
    (void)sb4;
    release_all(r, 1);
    sf_function_release(v);

    /* SAME: one sample shared by the batch. */
    CHECK_OK(sf_vmap(f, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_SAME, &v));
    CHECK_OK(sf_call(v, &x, 1, r, 1));
    ok = r[0] != NULL && read64(r[0], values, B * N);
    CHECK(ok);
    if (ok) {
        for (int i = 1; i < B; i++) CHECK(rows_equal(values, 0, values, i, N));
        for (int i = 0; i < N; i++) CHECK(values[i] >= 0 && values[i] < 1);
    }
    release_all(r, 1);
    sf_function_release(v);

    /* Two draws under DIFFERENT, and a plain draw afterwards, are all independent: no row of
     * one equals a row of another (a batched draw must reserve counters for the whole batch). */
    sf_function *f2 = function(cb_rand2, 1, 2);
    CHECK_OK(sf_vmap(f2, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_DIFFERENT, &v));
    CHECK_OK(sf_call(v, &x, 1, r, 2));
    sf_tensor *plain = NULL;
    const int64_t s4[] = {N};
    CHECK_OK(sf_rand(s4, 1, SF_FLOAT64, &plain));
    ok = read64(r[0], values, B * N) && read64(r[1], second, B * N) && read64(plain, plain_values, N);
    CHECK(ok);
    if (ok) {
        int shared = 0;
        for (int i = 0; i < B; i++) {
            for (int j = 0; j < B; j++) shared += rows_equal(values, i, second, j, N);
            shared += rows_equal(values, i, plain_values, 0, N) + rows_equal(second, i, plain_values, 0, N);
        }
        CHECK_EQ(shared, 0);
    }
    release_all(r, 2);
    sf_tensor_release(plain);
    sf_function_release(v);

    /* Invalid randomness values. */
    v = GARBAGE;
    CHECK_STATUS(sf_vmap(f, NULL, 0, NULL, 0, 0, (sf_randomness)3, &v), SF_ERR_INVALID_ARGUMENT);
    CHECK(v == NULL);
    v = GARBAGE;
    CHECK_STATUS(sf_vmap(f, NULL, 0, NULL, 0, 0, (sf_randomness)-1, &v), SF_ERR_INVALID_ARGUMENT);
    CHECK(v == NULL);

    sf_tensor_release(x);
    sf_function_release(f), sf_function_release(f2);
}

/* Reading values inside a callback: the status of the read is kept for the test. */
static sf_status read_status;
static char read_message[512];

/* f(x) = sin(x) when x > 0, exp(x) otherwise (x is 0-d): data-dependent control flow. */
CALLBACK(cb_branch) {
    double v = 0;
    read_status = sf_tensor_copy_to(in[0], &v, sizeof v);
    snprintf(read_message, sizeof read_message, "%s", read_status == SF_OK ? "" : sf_last_error());
    if (read_status != SF_OK) return 1;
    return (v > 0 ? sf_sin(in[0], &out[0]) : sf_exp(in[0], &out[0])) == SF_OK ? 0 : 1;
}

/* f(x) = grad(cb_branch)(x), with grad(cb_branch) as user data. */
CALLBACK(cb_call_user_function) {
    return sf_call((sf_function *)ud, in, n_in, out, n_out) == SF_OK ? 0 : 1;
}

static void test_reading_values(void) {
    sf_function *f = function(cb_branch, 1, 1), *g = NULL, *v = NULL;
    CHECK_OK(sf_grad(f, NULL, 0, false, &g));
    const double points[2] = {0.7, -0.4};
    for (int p = 0; p < 2; p++) {
        double x0 = points[p];
        sf_tensor *x = scalar64(x0), *r = NULL, *t = scalar64(2.0), *tangent = NULL;
        /* grad reads the primal and takes the right branch. */
        CHECK_OK(sf_call(g, &x, 1, &r, 1));
        CHECK_EQ(read_status, SF_OK);
        CHECK_SCALAR(r, x0 > 0 ? cos(x0) : exp(x0), TOL);
        sf_tensor_release(r);
        r = NULL;
        /* so does jvp */
        CHECK_OK(sf_jvp(f, &x, &t, 1, &r, &tangent, 1));
        CHECK_EQ(read_status, SF_OK);
        CHECK_SCALAR(r, x0 > 0 ? sin(x0) : exp(x0), TOL);
        CHECK_SCALAR(tangent, 2.0 * (x0 > 0 ? cos(x0) : exp(x0)), TOL);
        sf_tensor_release(r), sf_tensor_release(tangent);
        /* and grad of grad reads through two levels */
        sf_function *inner = NULL, *gg = NULL;
        CHECK_OK(sf_function_new(cb_call_user_function, g, NULL, 1, 1, &inner));
        CHECK_OK(sf_grad(inner, NULL, 0, false, &gg));
        r = NULL;
        CHECK_OK(sf_call(gg, &x, 1, &r, 1));
        CHECK_SCALAR(r, x0 > 0 ? -sin(x0) : exp(x0), TOL);
        sf_tensor_release(r);
        sf_function_release(inner), sf_function_release(gg);
        sf_tensor_release(x), sf_tensor_release(t);
    }

    /* Under vmap a read fails with SF_ERR_TRANSFORM (and the callback's failure propagates). */
    const double xv[3] = {0.5, -0.5, 1.0};
    const int64_t s3[] = {3};
    sf_tensor *xb = make64(xv, s3, 1), *r = GARBAGE;
    CHECK_OK(sf_vmap(f, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_ERROR, &v));
    CHECK_STATUS(sf_call(v, &xb, 1, &r, 1), SF_ERR_CALLBACK);
    CHECK(r == NULL);
    CHECK_EQ(read_status, SF_ERR_TRANSFORM);
    CHECK(strstr(read_message, "vmap") != NULL);
    CHECK(strstr(sf_last_error(), "vmap") != NULL);
    sf_function_release(v);
    /* also vmap(grad): the batched tracer is below the grad tracer */
    CHECK_OK(sf_vmap(g, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_ERROR, &v));
    r = GARBAGE;
    CHECK_STATUS(sf_call(v, &xb, 1, &r, 1), SF_ERR_CALLBACK);
    CHECK(r == NULL);
    CHECK_EQ(read_status, SF_ERR_TRANSFORM);
    sf_function_release(v);

    sf_tensor_release(xb);
    sf_function_release(f), sf_function_release(g);
}

/* ------------------------------------------------------------------------------------------------
 * 2. Correctness
 * ---------------------------------------------------------------------------------------------- */

/* Perturbation confusion (Siskind & Pearlmutter): f(x) = x * d/dy[g(x, y)] at y = 0, where the
 * inner function closes over the outer x (through user data). With g = x + y, f(x) = x and
 * f'(x) = 1; a confused implementation gives 2. With g = x * y, f(x) = x^2 and f'(x) = 2x. */
typedef struct closure {
    sf_tensor *x; /* the outer (traced) x while the outer callback runs */
    int multiply; /* g = x * y instead of x + y */
} closure;

CALLBACK(cb_pc_inner) {
    closure *c = ud;
    arena a = {0};
    put(&a, out, 0, op2(&a, c->multiply ? sf_mul : sf_add, c->x, in[0]));
    return finish(&a);
}

CALLBACK(cb_pc_outer) {
    closure *c = ud;
    sf_function *inner = NULL, *inner_grad = NULL;
    sf_tensor *y0 = NULL, *d = NULL;
    int rc = 1;
    c->x = in[0];
    if (sf_function_new(cb_pc_inner, c, NULL, 1, 1, &inner) != SF_OK) goto done;
    if (sf_grad(inner, NULL, 0, false, &inner_grad) != SF_OK) goto done;
    if (sf_full(NULL, 0, 0.0, SF_FLOAT64, &y0) != SF_OK) goto done;
    if (sf_call(inner_grad, &y0, 1, &d, 1) != SF_OK) goto done;
    rc = sf_mul(in[0], d, &out[0]) == SF_OK ? 0 : 1;
done:
    c->x = NULL;
    sf_tensor_release(y0), sf_tensor_release(d);
    sf_function_release(inner), sf_function_release(inner_grad);
    return rc;
}

static void test_perturbation_confusion(void) {
    for (int multiply = 0; multiply <= 1; multiply++) {
        closure c = {NULL, multiply};
        const double x0 = 3.0;
        double value = multiply ? x0 * x0 : x0, derivative = multiply ? 2 * x0 : 1.0;
        sf_function *f = NULL, *g = NULL;
        CHECK_OK(sf_function_new(cb_pc_outer, &c, NULL, 1, 1, &f));
        CHECK_OK(sf_grad_and_value(f, NULL, 0, false, &g));
        sf_tensor *x = scalar64(x0), *r[2] = {NULL}, *t = scalar64(1.0);
        CHECK_OK(sf_call(g, &x, 1, r, 2));
        CHECK_SCALAR(r[0], derivative, TOL);
        CHECK_SCALAR(r[1], value, TOL);
        release_all(r, 2);
        /* forward mode over the same function */
        CHECK_OK(sf_jvp(f, &x, &t, 1, &r[0], &r[1], 1));
        CHECK_SCALAR(r[0], value, TOL);
        CHECK_SCALAR(r[1], derivative, TOL);
        release_all(r, 2);
        sf_tensor_release(x), sf_tensor_release(t);
        sf_function_release(f), sf_function_release(g);
    }
}

/* A callback that lets its traced input escape. */
static sf_tensor *escaped;

CALLBACK(cb_escape) {
    sf_tensor_retain(in[0]);
    escaped = in[0];
    sf_tensor_retain(in[0]);
    out[0] = in[0];
    return 0;
}

/* f(x) = x * escaped. */
CALLBACK(cb_use_escaped) {
    arena a = {0};
    put(&a, out, 0, op2(&a, sf_mul, in[0], escaped));
    return finish(&a);
}

/* Uses `escaped` after its transform returned: every op and a read fail with SF_ERR_TRANSFORM. */
static void check_escaped_unusable(const char *which) {
    sf_tensor *r = GARBAGE;
    double buffer[16];
    int64_t numel = 0;
    CHECK(escaped != NULL);
    if (escaped == NULL) return;
    fprintf(stderr, "  (escaped tracer of %s)\n", which);
    CHECK_ERROR(sf_sin(escaped, &r), SF_ERR_TRANSFORM, "escaped");
    CHECK(r == NULL);
    r = GARBAGE;
    CHECK_ERROR(sf_mul(escaped, escaped, &r), SF_ERR_TRANSFORM, "escaped");
    CHECK(r == NULL);
    r = GARBAGE;
    CHECK_ERROR(sf_matmul(escaped, escaped, &r), SF_ERR_TRANSFORM, "escaped");
    CHECK(r == NULL);
    r = GARBAGE;
    CHECK_ERROR(sf_sum(escaped, NULL, 0, false, &r), SF_ERR_TRANSFORM, "escaped");
    CHECK(r == NULL);
    CHECK_OK(sf_tensor_numel(escaped, &numel));
    CHECK(numel <= 16);
    CHECK_ERROR(sf_tensor_copy_to(escaped, buffer, sizeof(double) * (size_t)numel), SF_ERR_TRANSFORM, "escaped");
    DLManagedTensor *exported = GARBAGE;
    CHECK_STATUS(sf_to_dlpack(escaped, &exported), SF_ERR_TRANSFORM); /* traced values are not exported */
    CHECK(exported == NULL);

    /* Inside a later transform, too: the callback's op fails and the failure propagates. */
    sf_function *use = function(cb_use_escaped, 1, 1), *v = NULL;
    sf_tensor *fresh = NULL;
    CHECK_OK(sf_ones(NULL, 0, SF_FLOAT64, &fresh));
    sf_tensor *outputs[1] = {GARBAGE}, *tangents[1] = {GARBAGE};
    CHECK_STATUS(sf_jvp(use, &fresh, &fresh, 1, outputs, tangents, 1), SF_ERR_CALLBACK);
    CHECK(strstr(sf_last_error(), "escaped") != NULL);
    CHECK(outputs[0] == NULL && tangents[0] == NULL);
    CHECK_OK(sf_grad(use, NULL, 0, false, &v));
    r = GARBAGE;
    CHECK_STATUS(sf_call(v, &fresh, 1, &r, 1), SF_ERR_CALLBACK);
    CHECK(strstr(sf_last_error(), "escaped") != NULL);
    CHECK(r == NULL);
    sf_function_release(v);
    sf_tensor_release(fresh);
    sf_function_release(use);

    sf_tensor_release(escaped); /* released without a leak (LeakSanitizer) */
    escaped = NULL;
}

static void test_escaped_tracers(void) {
    sf_function *f = function(cb_escape, 1, 1), *t = NULL;
    sf_tensor *x0 = scalar64(0.5), *r[2] = {NULL};

    CHECK_OK(sf_grad(f, NULL, 0, false, &t));
    CHECK_OK(sf_call(t, &x0, 1, r, 1));
    CHECK_SCALAR(r[0], 1.0, TOL);
    release_all(r, 1);
    sf_function_release(t);
    check_escaped_unusable("grad");

    sf_tensor *one = scalar64(1.0);
    CHECK_OK(sf_jvp(f, &x0, &one, 1, &r[0], &r[1], 1));
    release_all(r, 2);
    check_escaped_unusable("jvp");

    sf_function *pullback = NULL;
    CHECK_OK(sf_vjp(f, &x0, 1, r, 1, &pullback));
    release_all(r, 1);
    check_escaped_unusable("vjp");
    sf_function_release(pullback);

    const double xv[2] = {1.0, 2.0};
    const int64_t s2[] = {2};
    sf_tensor *xb = make64(xv, s2, 1);
    CHECK_OK(sf_vmap(f, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_ERROR, &t));
    CHECK_OK(sf_call(t, &xb, 1, r, 1));
    release_all(r, 1);
    sf_function_release(t);
    check_escaped_unusable("vmap");

    sf_tensor_release(x0), sf_tensor_release(one), sf_tensor_release(xb);
    sf_function_release(f);
}

/* Failing callbacks. */
CALLBACK(cb_fail_message) {
    sf_set_error("custom failure 42");
    return 3;
}

CALLBACK(cb_fail_silent) { return -1; }

/* Forwards a failing op: matmul of [2] and [3]. */
CALLBACK(cb_fail_forward) {
    sf_tensor *a = NULL, *b = NULL, *r = NULL;
    const int64_t s2[] = {2}, s3[] = {3};
    if (sf_ones(s2, 1, SF_FLOAT64, &a) != SF_OK || sf_ones(s3, 1, SF_FLOAT64, &b) != SF_OK) return 1;
    sf_status s = sf_matmul(a, b, &r);
    sf_tensor_release(a), sf_tensor_release(b), sf_tensor_release(r);
    return s == SF_OK ? 0 : 1;
}

CALLBACK(cb_no_output) { return 0; }

/* Three outputs: stores two, then fails. */
CALLBACK(cb_partial) {
    sf_tensor_retain(in[0]);
    out[0] = in[0];
    if (sf_ones(NULL, 0, SF_FLOAT64, &out[1]) != SF_OK) return 1;
    sf_set_error("partial failure");
    return 1;
}

/* A callback that runs grad of a failing callback (held in user data) on its input. */
CALLBACK(cb_nested_failure) {
    return sf_call((sf_function *)ud, in, 1, out, 1) == SF_OK ? 0 : 1;
}

CALLBACK(cb_deep_failure) {
    sf_set_error("deep failure at the bottom");
    return 1;
}

static void test_callback_failures(void) {
    sf_tensor *x0 = scalar64(0.25), *r[3] = {NULL};

    sf_function *f = function(cb_fail_message, 1, 1);
    r[0] = GARBAGE;
    CHECK_ERROR(sf_call(f, &x0, 1, r, 1), SF_ERR_CALLBACK, "custom failure 42");
    CHECK(r[0] == NULL);

    sf_function *silent = function(cb_fail_silent, 1, 1);
    sf_set_error("stale message from before");
    r[0] = GARBAGE;
    CHECK_STATUS(sf_call(silent, &x0, 1, r, 1), SF_ERR_CALLBACK);
    CHECK(r[0] == NULL);
    CHECK(strlen(sf_last_error()) > 0);
    CHECK(strstr(sf_last_error(), "callback") != NULL);
    CHECK(strstr(sf_last_error(), "stale") == NULL);

    sf_function *forward = function(cb_fail_forward, 1, 1);
    CHECK_ERROR(sf_call(forward, &x0, 1, r, 1), SF_ERR_CALLBACK, "sf_matmul");

    sf_function *none = function(cb_no_output, 1, 1);
    r[0] = GARBAGE;
    CHECK_ERROR(sf_call(none, &x0, 1, r, 1), SF_ERR_CALLBACK, "output");
    CHECK(r[0] == NULL);

    /* Stores two outputs, then fails: all NULL for the caller, nothing leaks (LSan). */
    sf_function *partial = function(cb_partial, 1, 3), *t = NULL;
    fill_garbage(r, 3);
    CHECK_ERROR(sf_call(partial, &x0, 1, r, 3), SF_ERR_CALLBACK, "partial failure");
    CHECK(all_null(r, 3));
    CHECK_OK(sf_grad(partial, NULL, 0, true, &t));
    fill_garbage(r, 3);
    CHECK_ERROR(sf_call(t, &x0, 1, r, 3), SF_ERR_CALLBACK, "partial failure");
    CHECK(all_null(r, 3));
    sf_function_release(t);
    const double xv[2] = {1.0, 2.0};
    const int64_t s2[] = {2};
    sf_tensor *xb = make64(xv, s2, 1);
    CHECK_OK(sf_vmap(partial, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_ERROR, &t));
    fill_garbage(r, 3);
    CHECK_ERROR(sf_call(t, &xb, 1, r, 3), SF_ERR_CALLBACK, "partial failure");
    CHECK(all_null(r, 3));
    sf_function_release(t);

    /* The failure message comes through every transform. */
    sf_function *transformed[6] = {NULL};
    CHECK_OK(sf_grad(f, NULL, 0, false, &transformed[0]));
    CHECK_OK(sf_grad_and_value(f, NULL, 0, false, &transformed[1]));
    CHECK_OK(sf_jacrev(f, NULL, 0, false, 0, &transformed[2]));
    CHECK_OK(sf_jacfwd(f, NULL, 0, false, SF_RANDOMNESS_ERROR, &transformed[3]));
    CHECK_OK(sf_hessian(f, NULL, 0, &transformed[4]));
    CHECK_OK(sf_vmap(f, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_ERROR, &transformed[5]));
    for (int i = 0; i < 6; i++) {
        size_t n_out = 0;
        if (transformed[i] == NULL) continue;
        CHECK_OK(sf_function_arity(transformed[i], NULL, &n_out));
        CHECK(n_out <= 3);
        fill_garbage(r, 3);
        CHECK_ERROR(sf_call(transformed[i], i == 5 ? &xb : &x0, 1, r, n_out), SF_ERR_CALLBACK, "custom failure 42");
        CHECK(all_null(r, n_out));
        sf_function_release(transformed[i]);
    }
    sf_function *pullback = GARBAGE, *lin = GARBAGE;
    sf_tensor *tangent = scalar64(1.0), *tan_out[1] = {GARBAGE};
    r[0] = GARBAGE;
    CHECK_ERROR(sf_vjp(f, &x0, 1, r, 1, &pullback), SF_ERR_CALLBACK, "custom failure 42");
    CHECK(r[0] == NULL && pullback == NULL);
    r[0] = GARBAGE;
    CHECK_ERROR(sf_jvp(f, &x0, &tangent, 1, r, tan_out, 1), SF_ERR_CALLBACK, "custom failure 42");
    CHECK(r[0] == NULL && tan_out[0] == NULL);
    r[0] = GARBAGE;
    CHECK_ERROR(sf_linearize(f, &x0, 1, r, 1, &lin), SF_ERR_CALLBACK, "custom failure 42");
    CHECK(r[0] == NULL && lin == NULL);

    /* Depth 2: grad(callback that calls grad(failing callback)); depth 3: vmap of that. */
    sf_function *deep = function(cb_deep_failure, 1, 1), *deep_grad = NULL, *middle = NULL;
    sf_function *level2 = NULL, *level3 = NULL;
    CHECK_OK(sf_grad(deep, NULL, 0, false, &deep_grad));
    CHECK_OK(sf_function_new(cb_nested_failure, deep_grad, NULL, 1, 1, &middle));
    CHECK_OK(sf_grad(middle, NULL, 0, false, &level2));
    CHECK_OK(sf_vmap(level2, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_ERROR, &level3));
    r[0] = GARBAGE;
    CHECK_ERROR(sf_call(level2, &x0, 1, r, 1), SF_ERR_CALLBACK, "deep failure at the bottom");
    CHECK(r[0] == NULL);
    r[0] = GARBAGE;
    CHECK_ERROR(sf_call(level3, &xb, 1, r, 1), SF_ERR_CALLBACK, "deep failure at the bottom");
    CHECK(r[0] == NULL);
    /* and the functions still work afterwards: nothing is left half-installed */
    r[0] = NULL;
    sf_function *id = function(cb_identity, 1, 1), *gid = NULL;
    CHECK_OK(sf_grad(id, NULL, 0, false, &gid));
    CHECK_OK(sf_call(gid, &x0, 1, r, 1));
    CHECK_SCALAR(r[0], 1.0, TOL);
    release_all(r, 1);
    sf_tensor *plain = NULL;
    CHECK_OK(sf_sin(x0, &plain));
    CHECK_SCALAR(plain, sin(0.25), TOL);
    sf_tensor_release(plain);

    sf_tensor_release(x0), sf_tensor_release(xb), sf_tensor_release(tangent);
    sf_function_release(f), sf_function_release(silent), sf_function_release(forward);
    sf_function_release(none), sf_function_release(partial), sf_function_release(deep);
    sf_function_release(deep_grad), sf_function_release(middle), sf_function_release(level2);
    sf_function_release(level3), sf_function_release(id), sf_function_release(gid);
}

/* user_data destructor calls */
static int freed_count;
static void *freed_pointer;

static void count_free(void *p) {
    freed_count++;
    freed_pointer = p;
}

static void test_user_data_lifetime(void) {
    int token = 7;
    sf_function *f = NULL, *g = NULL, *v = NULL, *lin = NULL, *pull = NULL;

    /* The last release frees, once. */
    freed_count = 0;
    CHECK_OK(sf_function_new(cb_sum_sin, &token, count_free, 1, 1, &f));
    sf_function_retain(f);
    sf_function_release(f);
    CHECK_EQ(freed_count, 0);
    sf_function_release(f);
    CHECK_EQ(freed_count, 1);
    CHECK(freed_pointer == &token);

    /* Transformed functions hold f: freed when the last of them dies. */
    freed_count = 0;
    CHECK_OK(sf_function_new(cb_sum_sin, &token, count_free, 1, 1, &f));
    CHECK_OK(sf_grad(f, NULL, 0, false, &g));
    CHECK_OK(sf_vmap(g, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_ERROR, &v));
    sf_function_release(f);
    CHECK_EQ(freed_count, 0);
    sf_function_release(g);
    CHECK_EQ(freed_count, 0);
    /* still callable through v */
    const double xv[6] = {0.1, 0.2, 0.3, -0.1, -0.2, -0.3};
    const int64_t s23[] = {2, 3};
    sf_tensor *x = make64(xv, s23, 2), *r[1] = {NULL};
    double cos_x[6];
    for (int i = 0; i < 6; i++) cos_x[i] = cos(xv[i]);
    CHECK_OK(sf_call(v, &x, 1, r, 1));
    CHECK_TENSOR(r[0], s23, 2, cos_x, TOL);
    release_all(r, 1);
    CHECK_EQ(freed_count, 0);
    sf_function_release(v);
    CHECK_EQ(freed_count, 1);

    /* linearize ran f once: its jvp_fn replays the recorded tangent ops and no longer needs f, so
     * f's user data goes with f (exactly once), while jvp_fn keeps working. */
    freed_count = 0;
    const int64_t s3[] = {3};
    sf_tensor *x3 = make64(xv, s3, 1), *t3 = make64(xv + 3, s3, 1);
    CHECK_OK(sf_function_new(cb_sum_sin, &token, count_free, 1, 1, &f));
    CHECK_OK(sf_linearize(f, &x3, 1, r, 1, &lin));
    release_all(r, 1);
    CHECK_OK(sf_vjp(f, &x3, 1, r, 1, &pull));
    release_all(r, 1);
    sf_function_release(f);
    CHECK_EQ(freed_count, 1);
    double jv = 0;
    for (int i = 0; i < 3; i++) jv += cos(xv[i]) * xv[3 + i];
    CHECK_OK(sf_call(lin, &t3, 1, r, 1));
    CHECK_SCALAR(r[0], jv, TOL);
    release_all(r, 1);
    sf_function_release(lin);
    sf_function_release(pull);
    CHECK_EQ(freed_count, 1);

    /* A failed sf_function_new frees the user data right away (exactly once). */
    freed_count = 0;
    f = GARBAGE;
    CHECK_STATUS(sf_function_new(NULL, &token, count_free, 1, 1, &f), SF_ERR_INVALID_ARGUMENT);
    CHECK(f == NULL);
    CHECK_EQ(freed_count, 1);
    freed_count = 0;
    f = GARBAGE;
    CHECK_STATUS(sf_function_new(cb_sum_sin, &token, count_free, 1, 0, &f), SF_ERR_INVALID_ARGUMENT);
    CHECK(f == NULL);
    CHECK_EQ(freed_count, 1);
    freed_count = 0;
    CHECK_STATUS(sf_function_new(cb_sum_sin, &token, count_free, 1, 1, NULL), SF_ERR_INVALID_ARGUMENT);
    CHECK_EQ(freed_count, 1);

    /* NULL free_user_data is allowed. */
    CHECK_OK(sf_function_new(cb_sum_sin, &token, NULL, 1, 1, &f));
    sf_function_release(f);

    sf_tensor_release(x), sf_tensor_release(x3), sf_tensor_release(t3);
}

/* ------------------------------------------------------------------------------------------------
 * 3. Compositions
 * ---------------------------------------------------------------------------------------------- */

/* Per-sample gradients: vmap(grad(sum(tanh(w @ x)))) over x, with w shared. */
static void test_vmap_of_grad(void) {
    enum { B = 4 };
    double xv[B * 3];
    for (int i = 0; i < B * 3; i++) xv[i] = 0.3 * sin(1.7 * i) + 0.1 * i - 0.5;
    const int64_t sx[] = {B, 3}, s3[] = {3}, sw[] = {B, 2, 3};
    sf_tensor *w = make64(A_VALUES, A_SHAPE, 2), *x = make64(xv, sx, 2), *wx[2] = {w, x};

    /* d/dx = A^T (1 - tanh^2(A x)), d/dw = (1 - tanh^2(A x)) x^T. */
    double dx[B * 3], dw[B * 6];
    for (int bi = 0; bi < B; bi++) {
        double y[2];
        mat_vec(A_VALUES, xv + 3 * bi, y, 2, 3);
        for (int j = 0; j < 3; j++) {
            dx[bi * 3 + j] = 0;
            for (int i = 0; i < 2; i++) dx[bi * 3 + j] += A_VALUES[i * 3 + j] * (1 - tanh(y[i]) * tanh(y[i]));
        }
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++) dw[bi * 6 + i * 3 + j] = (1 - tanh(y[i]) * tanh(y[i])) * xv[bi * 3 + j];
    }

    sf_function *f = function(cb_tanh_wx, 2, 1), *g = NULL, *v = NULL;
    const int32_t both[] = {1, 0};
    const int64_t in_dims[] = {SF_NOT_MAPPED, 0};
    CHECK_OK(sf_grad(f, both, 2, false, &g));
    CHECK_OK(sf_vmap(g, in_dims, 2, NULL, 0, 0, SF_RANDOMNESS_ERROR, &v));
    sf_tensor *r[2] = {NULL};
    CHECK_OK(sf_call(v, wx, 2, r, 2));
    CHECK_TENSOR(r[0], sx, 2, dx, TOL);
    CHECK_TENSOR(r[1], sw, 3, dw, TOL);

    /* ... equals a loop of grad */
    for (int bi = 0; bi < B; bi++) {
        sf_tensor *xi = make64(xv + 3 * bi, s3, 1), *in[2] = {w, xi}, *gi[2] = {NULL};
        CHECK_OK(sf_call(g, in, 2, gi, 2));
        CHECK_TENSOR(gi[0], s3, 1, dx + 3 * bi, TOL);
        CHECK_TENSOR(gi[1], A_SHAPE, 2, dw + 6 * bi, TOL);
        if (r[0] != NULL && gi[0] != NULL) {
            sf_tensor *row = row_of(r[0], bi, s3, 1);
            CHECK_SAME(row, gi[0], 1e-12);
            sf_tensor_release(row);
        }
        release_all(gi, 2);
        sf_tensor_release(xi);
    }
    release_all(r, 2);
    sf_tensor_release(w), sf_tensor_release(x);
    sf_function_release(f), sf_function_release(g), sf_function_release(v);
}

/* The Jacobian of cb_jac at x: J_ij = cos((Ax)_i) A_ij s + sin((Ax)_i) 2 x_j, s = |x|^2;
 * and of cb_jac2 with respect to m = A: dy_i/dm_kl = [i == k] cos((Ax)_i) x_l s. */
static void jac_reference(const double *x, double *jx, double *jm) {
    double y[2], s = 0;
    mat_vec(A_VALUES, x, y, 2, 3);
    for (int j = 0; j < 3; j++) s += x[j] * x[j];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) jx[i * 3 + j] = cos(y[i]) * A_VALUES[i * 3 + j] * s + sin(y[i]) * 2 * x[j];
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 2; k++)
            for (int l = 0; l < 3; l++) jm[(i * 2 + k) * 3 + l] = i == k ? cos(y[i]) * x[l] * s : 0;
}

static void test_jacobians(void) {
    const double xv[3] = {0.6, -0.9, 0.4};
    const int64_t s3[] = {3}, s23[] = {2, 3}, s223[] = {2, 2, 3};
    double jx[6], jm[12];
    jac_reference(xv, jx, jm);
    sf_tensor *x = make64(xv, s3, 1), *m = make64(A_VALUES, A_SHAPE, 2), *xm[2] = {x, m}, *r[2] = {NULL};

    sf_function *f = function(cb_jac, 1, 1), *jr = NULL, *jf = NULL;
    CHECK_OK(sf_jacrev(f, NULL, 0, false, 0, &jr));
    CHECK_OK(sf_jacfwd(f, NULL, 0, false, SF_RANDOMNESS_ERROR, &jf));
    sf_tensor *rev = NULL, *fwd = NULL;
    CHECK_OK(sf_call(jr, &x, 1, &rev, 1));
    CHECK_OK(sf_call(jf, &x, 1, &fwd, 1));
    CHECK_TENSOR(rev, s23, 2, jx, TOL);
    CHECK_TENSOR(fwd, s23, 2, jx, TOL);
    CHECK_SAME(rev, fwd, 1e-12);

    /* chunk_size gives the same Jacobian */
    const int64_t chunks[] = {1, 2, 5};
    for (size_t c = 0; c < COUNT(chunks); c++) {
        sf_function *jc = NULL;
        CHECK_OK(sf_jacrev(f, NULL, 0, false, chunks[c], &jc));
        CHECK_OK(sf_call(jc, &x, 1, r, 1));
        CHECK_TENSOR(r[0], s23, 2, jx, TOL);
        release_all(r, 1);
        sf_function_release(jc);
    }
    sf_tensor_release(rev), sf_tensor_release(fwd);
    sf_function_release(jr), sf_function_release(jf);

    /* The Jacobian of the identity on [3] is the 3 x 3 identity, in both modes; of f(x, y) = (y, x)
     * with argnums {0, 1} it is (0, I, I, 0) in the order (d out0/dx, d out0/dy, d out1/dx, ...). */
    double eye3[9] = {0}, zero9[9] = {0};
    for (int i = 0; i < 3; i++) eye3[i * 4] = 1;
    const int64_t s33[] = {3, 3};
    sf_function *id = function(cb_identity, 1, 1), *swap = function(cb_swap, 2, 2);
    CHECK_OK(sf_jacrev(id, NULL, 0, false, 0, &jr));
    CHECK_OK(sf_jacfwd(id, NULL, 0, false, SF_RANDOMNESS_ERROR, &jf));
    CHECK_OK(sf_call(jr, &x, 1, r, 1));
    CHECK_TENSOR(r[0], s33, 2, eye3, 0);
    release_all(r, 1);
    CHECK_OK(sf_call(jf, &x, 1, r, 1));
    CHECK_TENSOR(r[0], s33, 2, eye3, 0);
    release_all(r, 1);
    sf_function_release(jr), sf_function_release(jf);
    const int32_t both_inputs[] = {0, 1};
    sf_tensor *xx[2] = {x, x}, *r4[4] = {NULL};
    CHECK_OK(sf_jacrev(swap, both_inputs, 2, false, 2, &jr));
    CHECK_OK(sf_jacfwd(swap, both_inputs, 2, false, SF_RANDOMNESS_ERROR, &jf));
    CHECK_OK(sf_call(jr, xx, 2, r4, 4));
    CHECK_TENSOR(r4[0], s33, 2, zero9, 0);
    CHECK_TENSOR(r4[1], s33, 2, eye3, 0);
    CHECK_TENSOR(r4[2], s33, 2, eye3, 0);
    CHECK_TENSOR(r4[3], s33, 2, zero9, 0);
    release_all(r4, 4);
    CHECK_OK(sf_call(jf, xx, 2, r4, 4));
    CHECK_TENSOR(r4[0], s33, 2, zero9, 0);
    CHECK_TENSOR(r4[1], s33, 2, eye3, 0);
    CHECK_TENSOR(r4[2], s33, 2, eye3, 0);
    CHECK_TENSOR(r4[3], s33, 2, zero9, 0);
    release_all(r4, 4);
    sf_function_release(jr), sf_function_release(jf), sf_function_release(id), sf_function_release(swap);

    /* Two argnums: d/dx [2, 3] then d/dm [2, 2, 3], in argnums order, for both modes. */
    sf_function *f2 = function(cb_jac2, 2, 1);
    const int32_t both[] = {0, 1}, reversed[] = {1, 0};
    CHECK_OK(sf_jacrev(f2, both, 2, false, 0, &jr));
    CHECK_OK(sf_jacfwd(f2, both, 2, false, SF_RANDOMNESS_ERROR, &jf));
    CHECK_OK(sf_call(jr, xm, 2, r, 2));
    CHECK_TENSOR(r[0], s23, 2, jx, TOL);
    CHECK_TENSOR(r[1], s223, 3, jm, TOL);
    release_all(r, 2);
    CHECK_OK(sf_call(jf, xm, 2, r, 2));
    CHECK_TENSOR(r[0], s23, 2, jx, TOL);
    CHECK_TENSOR(r[1], s223, 3, jm, TOL);
    release_all(r, 2);
    sf_function_release(jr), sf_function_release(jf);
    CHECK_OK(sf_jacrev(f2, reversed, 2, false, 2, &jr));
    CHECK_OK(sf_call(jr, xm, 2, r, 2));
    CHECK_TENSOR(r[0], s223, 3, jm, TOL);
    CHECK_TENSOR(r[1], s23, 2, jx, TOL);
    release_all(r, 2);
    sf_function_release(jr);

    /* has_aux: (value, aux) -> (Jacobian of the value, aux untouched). */
    sf_function *fa = function(cb_aux, 1, 3);
    double cos_diag[9] = {0}, exp_x[3];
    for (int i = 0; i < 3; i++) cos_diag[i * 4] = 0, exp_x[i] = exp(xv[i]);
    /* the value is the 0-d sum(sin(x)): its Jacobian is cos(x), shape [3] */
    double cos_x[3];
    for (int i = 0; i < 3; i++) cos_x[i] = cos(xv[i]);
    sf_tensor *ra[3] = {NULL};
    CHECK_OK(sf_jacrev(fa, NULL, 0, true, 0, &jr));
    CHECK_OK(sf_call(jr, &x, 1, ra, 3));
    CHECK_TENSOR(ra[0], s3, 1, cos_x, TOL);
    CHECK_TENSOR(ra[1], s3, 1, exp_x, TOL);
    release_all(ra, 3);
    CHECK_OK(sf_jacfwd(fa, NULL, 0, true, SF_RANDOMNESS_ERROR, &jf));
    CHECK_OK(sf_call(jf, &x, 1, ra, 3));
    CHECK_TENSOR(ra[0], s3, 1, cos_x, TOL);
    CHECK_TENSOR(ra[1], s3, 1, exp_x, TOL);
    release_all(ra, 3);
    (void)cos_diag;
    sf_function_release(jr), sf_function_release(jf), sf_function_release(fa);

    /* jacfwd of an integer input is SF_ERR_DTYPE. */
    const int64_t kv[3] = {1, 2, 3};
    sf_tensor *k = make_i64(kv, s3, 1);
    CHECK_OK(sf_jacfwd(f, NULL, 0, false, SF_RANDOMNESS_ERROR, &jf));
    r[0] = GARBAGE;
    CHECK_STATUS(sf_call(jf, &k, 1, r, 1), SF_ERR_DTYPE);
    CHECK(r[0] == NULL);
    sf_function_release(jf);
    CHECK_OK(sf_jacrev(f, NULL, 0, false, 0, &jr));
    r[0] = GARBAGE;
    CHECK_STATUS(sf_call(jr, &k, 1, r, 1), SF_ERR_DTYPE);
    CHECK(r[0] == NULL);
    sf_function_release(jr);

    sf_tensor_release(x), sf_tensor_release(m), sf_tensor_release(k);
    sf_function_release(f), sf_function_release(f2);
}

/* H of sum(exp(A x)) = A^T diag(exp(A x)) A. */
static void exp_ax_hessian(const double *x, double *h) {
    double y[2];
    mat_vec(A_VALUES, x, y, 2, 3);
    for (int j = 0; j < 3; j++)
        for (int k = 0; k < 3; k++) {
            h[j * 3 + k] = 0;
            for (int i = 0; i < 2; i++) h[j * 3 + k] += A_VALUES[i * 3 + j] * exp(y[i]) * A_VALUES[i * 3 + k];
        }
}

/* gradient of sum(exp(A x)) = A^T exp(A x). */
static void exp_ax_gradient(const double *x, double *g, void *ctx UNUSED) {
    double y[2];
    mat_vec(A_VALUES, x, y, 2, 3);
    for (int j = 0; j < 3; j++) {
        g[j] = 0;
        for (int i = 0; i < 2; i++) g[j] += A_VALUES[i * 3 + j] * exp(y[i]);
    }
}

static void test_hessian(void) {
    const double xv[3] = {0.2, -0.7, 0.5};
    const int64_t s3[] = {3}, s33[] = {3, 3};
    double h[9];
    exp_ax_hessian(xv, h);
    sf_tensor *x = make64(xv, s3, 1), *r[4] = {NULL};

    sf_function *f = function(cb_exp_ax, 1, 1), *hf = NULL, *jr = NULL, *jrjr = NULL;
    CHECK_OK(sf_hessian(f, NULL, 0, &hf));
    CHECK_OK(sf_call(hf, &x, 1, r, 1));
    CHECK_TENSOR(r[0], s33, 2, h, TOL);
    double got[9];
    if (r[0] != NULL && read64(r[0], got, 9)) {
        /* exactly symmetric up to rounding */
        for (int j = 0; j < 3; j++)
            for (int k = j + 1; k < 3; k++) CHECK_NEAR(got[j * 3 + k], got[k * 3 + j], 1e-12);
    }
    /* equals jacrev(jacrev(f)) */
    CHECK_OK(sf_jacrev(f, NULL, 0, false, 0, &jr));
    CHECK_OK(sf_jacrev(jr, NULL, 0, false, 0, &jrjr));
    CHECK_OK(sf_call(jrjr, &x, 1, &r[1], 1));
    CHECK_SAME(r[1], r[0], 1e-12);
    release_all(r, 2);
    sf_function_release(hf), sf_function_release(jr), sf_function_release(jrjr);

    /* Two argnums: f(x, y) = sum(exp(x) * y): H_xx = diag(exp(x) y), H_xy = H_yx = diag(exp(x)),
     * H_yy = 0, in the order H[0][0], H[0][1], H[1][0], H[1][1]. */
    const double yv[3] = {1.5, -0.5, 0.25};
    sf_tensor *y = make64(yv, s3, 1), *xy[2] = {x, y};
    double hxx[9] = {0}, hxy[9] = {0}, hyy[9] = {0};
    for (int i = 0; i < 3; i++) hxx[i * 4] = exp(xv[i]) * yv[i], hxy[i * 4] = exp(xv[i]);
    sf_function *f2 = function(cb_exp_xy, 2, 1);
    const int32_t both[] = {0, 1};
    CHECK_OK(sf_hessian(f2, both, 2, &hf));
    size_t n_out = 0;
    CHECK_OK(sf_function_arity(hf, NULL, &n_out));
    CHECK_EQ(n_out, 4);
    CHECK_OK(sf_call(hf, xy, 2, r, 4));
    CHECK_TENSOR(r[0], s33, 2, hxx, TOL);
    CHECK_TENSOR(r[1], s33, 2, hxy, TOL);
    CHECK_TENSOR(r[2], s33, 2, hxy, TOL);
    CHECK_TENSOR(r[3], s33, 2, hyy, TOL);
    release_all(r, 4);
    sf_function_release(hf);

    sf_tensor_release(x), sf_tensor_release(y);
    sf_function_release(f), sf_function_release(f2);
}

/* Hessian-vector product by forward-over-reverse: jvp(grad(f), x, v) = H v, against central
 * differences of the closed-form gradient. */
static void test_jvp_of_grad(void) {
    const double xv[3] = {-0.3, 0.8, 0.1}, vv[3] = {0.5, -1.0, 2.0};
    const int64_t s3[] = {3};
    double hv[3], grad_x[3];
    central_difference_along(exp_ax_gradient, NULL, xv, vv, 3, 3, 1e-5, hv);
    exp_ax_gradient(xv, grad_x, NULL);

    sf_tensor *x = make64(xv, s3, 1), *v = make64(vv, s3, 1), *primal = NULL, *tangent = NULL;
    sf_function *f = function(cb_exp_ax, 1, 1), *g = NULL;
    CHECK_OK(sf_grad(f, NULL, 0, false, &g));
    CHECK_OK(sf_jvp(g, &x, &v, 1, &primal, &tangent, 1));
    CHECK_TENSOR(primal, s3, 1, grad_x, TOL);
    CHECK_TENSOR(tangent, s3, 1, hv, FD_TOL);
    sf_tensor_release(primal), sf_tensor_release(tangent);

    /* and reverse-over-reverse: the pullback of grad(f) with cotangent v is H^T v = H v */
    sf_function *pullback = NULL;
    sf_tensor *r = NULL;
    CHECK_OK(sf_vjp(g, &x, 1, &primal, 1, &pullback));
    CHECK_TENSOR(primal, s3, 1, grad_x, TOL);
    CHECK_OK(sf_call(pullback, &v, 1, &r, 1));
    CHECK_TENSOR(r, s3, 1, hv, FD_TOL);
    sf_tensor_release(primal), sf_tensor_release(r);

    sf_tensor_release(x), sf_tensor_release(v);
    sf_function_release(f), sf_function_release(g), sf_function_release(pullback);
}

/* vmap(jacrev(sin(A x))): J_b = diag(cos(A x_b)) A. */
static void test_vmap_of_jacrev(void) {
    enum { B = 3 };
    double xv[B * 3];
    for (int i = 0; i < B * 3; i++) xv[i] = 0.4 * cos(2.1 * i);
    const int64_t sx[] = {B, 3}, sj[] = {B, 2, 3};
    double j[B * 6];
    for (int bi = 0; bi < B; bi++) {
        double y[2];
        mat_vec(A_VALUES, xv + 3 * bi, y, 2, 3);
        for (int i = 0; i < 2; i++)
            for (int k = 0; k < 3; k++) j[bi * 6 + i * 3 + k] = cos(y[i]) * A_VALUES[i * 3 + k];
    }
    sf_tensor *x = make64(xv, sx, 2), *r = NULL;
    sf_function *f = function(cb_sin_ax, 1, 1), *jr = NULL, *v = NULL, *jf = NULL, *vf = NULL;
    CHECK_OK(sf_jacrev(f, NULL, 0, false, 0, &jr));
    CHECK_OK(sf_vmap(jr, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_ERROR, &v));
    CHECK_OK(sf_call(v, &x, 1, &r, 1));
    CHECK_TENSOR(r, sj, 3, j, TOL);
    sf_tensor_release(r);
    r = NULL;
    CHECK_OK(sf_jacfwd(f, NULL, 0, false, SF_RANDOMNESS_ERROR, &jf));
    CHECK_OK(sf_vmap(jf, NULL, 0, NULL, 0, 2, SF_RANDOMNESS_ERROR, &vf));
    CHECK_OK(sf_call(vf, &x, 1, &r, 1));
    CHECK_TENSOR(r, sj, 3, j, TOL);
    sf_tensor_release(r);
    sf_tensor_release(x);
    sf_function_release(f), sf_function_release(jr), sf_function_release(v);
    sf_function_release(jf), sf_function_release(vf);
}

/* F(X) = sum(vmap(f)(X)) with f(x) = sum(sin(x) * x): a callback that calls a vmapped function. */
CALLBACK(cb_sum_of_vmap) {
    arena a = {0};
    sf_tensor *mapped = NULL;
    if (sf_call((sf_function *)ud, in, 1, &mapped, 1) != SF_OK) return 1;
    keep(&a, SF_OK, &mapped);
    put(&a, out, 0, sum_all(&a, mapped));
    return finish(&a);
}

static void test_grad_of_vmap_and_vmap_of_vmap(void) {
    enum { B0 = 2, B1 = 4, N = 3 };
    double xv[B0 * B1 * N], d[B0 * B1 * N];
    for (int i = 0; i < B0 * B1 * N; i++) {
        xv[i] = 0.15 * i - 1.6;
        d[i] = cos(xv[i]) * xv[i] + sin(xv[i]);
    }
    const int64_t s2[] = {B1 * B0, N}, s3[] = {B0, B1, N}, s3t[] = {B1, B0, N};
    sf_function *f = function(cb_sum_xsinx, 1, 1), *vf = NULL, *outer = NULL, *g = NULL;

    /* grad(vmap) */
    CHECK_OK(sf_vmap(f, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_ERROR, &vf));
    CHECK_OK(sf_function_new(cb_sum_of_vmap, vf, NULL, 1, 1, &outer));
    CHECK_OK(sf_grad(outer, NULL, 0, false, &g));
    sf_tensor *x = make64(xv, s2, 2), *r = NULL;
    CHECK_OK(sf_call(g, &x, 1, &r, 1));
    CHECK_TENSOR(r, s2, 2, d, TOL);
    sf_tensor_release(r);
    r = NULL;
    sf_tensor_release(x);
    sf_function_release(g);

    /* vmap(vmap(grad)) over [B0, B1, N] */
    sf_function *gf = NULL, *v1 = NULL, *v2 = NULL;
    CHECK_OK(sf_grad(f, NULL, 0, false, &gf));
    CHECK_OK(sf_vmap(gf, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_ERROR, &v1));
    CHECK_OK(sf_vmap(v1, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_ERROR, &v2));
    x = make64(xv, s3, 3);
    CHECK_OK(sf_call(v2, &x, 1, &r, 1));
    CHECK_TENSOR(r, s3, 3, d, TOL);
    sf_tensor_release(r);
    r = NULL;
    sf_function_release(v2);
    /* outer vmap over dim 1 with out_dims 1: the same layout back */
    const int64_t one[] = {1};
    CHECK_OK(sf_vmap(v1, one, 1, one, 1, 0, SF_RANDOMNESS_ERROR, &v2));
    CHECK_OK(sf_call(v2, &x, 1, &r, 1));
    CHECK_TENSOR(r, s3, 3, d, TOL);
    sf_tensor_release(r);
    r = NULL;
    sf_function_release(v2);
    /* outer over dim 1, out_dims 0: the result is [B1, B0, N] */
    double dt[B0 * B1 * N];
    for (int i0 = 0; i0 < B0; i0++)
        for (int i1 = 0; i1 < B1; i1++)
            for (int k = 0; k < N; k++) dt[(i1 * B0 + i0) * N + k] = d[(i0 * B1 + i1) * N + k];
    CHECK_OK(sf_vmap(v1, one, 1, NULL, 0, 0, SF_RANDOMNESS_ERROR, &v2));
    CHECK_OK(sf_call(v2, &x, 1, &r, 1));
    CHECK_TENSOR(r, s3t, 3, dt, TOL);
    sf_tensor_release(r);
    sf_function_release(v2);

    sf_tensor_release(x);
    sf_function_release(f), sf_function_release(vf), sf_function_release(outer);
    sf_function_release(gf), sf_function_release(v1);
}

static void test_vjp_jvp_linearize(void) {
    const double xv[3] = {0.5, -1.2, 0.9}, yv[3] = {2.0, 0.3, -0.7};
    const double c0v[3] = {1.0, -2.0, 0.5}, c1 = 1.5, tv[3] = {0.2, 0.4, -1.0};
    const int64_t s3[] = {3};
    sf_tensor *x = make64(xv, s3, 1), *y = make64(yv, s3, 1), *xy[2] = {x, y};
    sf_tensor *c0 = make64(c0v, s3, 1), *c1t = scalar64(c1), *cts[2] = {c0, c1t}, *r[2] = {NULL};

    /* f(x, y) = (sin(x) y, sum(exp(x))): the outputs and the pullback. */
    double o0[3], o1 = 0, gx[3], gy[3];
    for (int i = 0; i < 3; i++) {
        o0[i] = sin(xv[i]) * yv[i];
        o1 += exp(xv[i]);
        gx[i] = cos(xv[i]) * yv[i] * c0v[i] + exp(xv[i]) * c1;
        gy[i] = sin(xv[i]) * c0v[i];
    }
    sf_function *f = function(cb_vjp2, 2, 2), *pullback = NULL;
    CHECK_OK(sf_vjp(f, xy, 2, r, 2, &pullback));
    CHECK_TENSOR(r[0], s3, 1, o0, TOL);
    CHECK_SCALAR(r[1], o1, TOL);
    release_all(r, 2);
    size_t n_in = 0, n_out = 0;
    CHECK_OK(sf_function_arity(pullback, &n_in, &n_out));
    CHECK_EQ(n_in, 2);
    CHECK_EQ(n_out, 2);
    CHECK_OK(sf_call(pullback, cts, 2, r, 2));
    CHECK_TENSOR(r[0], s3, 1, gx, TOL);
    CHECK_TENSOR(r[1], s3, 1, gy, TOL);
    release_all(r, 2);
    /* the pullback can be called again, and with a cotangent of the wrong shape it fails */
    sf_tensor *wrong[2] = {c1t, c1t};
    CHECK_OK(sf_call(pullback, cts, 2, r, 2));
    CHECK_TENSOR(r[0], s3, 1, gx, TOL);
    release_all(r, 2);
    fill_garbage(r, 2);
    CHECK_STATUS(sf_call(pullback, wrong, 2, r, 2), SF_ERR_SHAPE);
    CHECK(all_null(r, 2));
    sf_function_release(pullback);

    /* An integer input gets a zero cotangent; so does an input the outputs do not use. */
    const int64_t kv[3] = {3, -2, 1};
    sf_tensor *k = make_i64(kv, s3, 1), *xk[2] = {x, k};
    double gk[3], zeros[3] = {0, 0, 0}, cos_x[3];
    for (int i = 0; i < 3; i++) gk[i] = cos(xv[i]) * (double)kv[i] * c0v[i], cos_x[i] = cos(xv[i]) * c0v[i];
    sf_function *fk = function(cb_sin_times_int, 2, 1);
    pullback = NULL;
    CHECK_OK(sf_vjp(fk, xk, 2, r, 1, &pullback));
    release_all(r, 1);
    CHECK_OK(sf_function_arity(pullback, &n_in, &n_out));
    CHECK_EQ(n_in, 1);
    CHECK_EQ(n_out, 2); /* header: n input cotangents, zeros for integer inputs */
    if (n_out == 2) {
        CHECK_OK(sf_call(pullback, &c0, 1, r, 2));
        CHECK_TENSOR(r[0], s3, 1, gk, TOL);
        int64_t kz[3] = {-1, -1, -1};
        double dz[3] = {-1, -1, -1};
        sf_dtype dtype = SF_BOOL;
        CHECK(r[1] != NULL && sf_tensor_dtype(r[1], &dtype) == SF_OK);
        if (r[1] != NULL && dtype == SF_INT64) {
            CHECK_OK(sf_tensor_copy_to(r[1], kz, sizeof kz));
            CHECK(kz[0] == 0 && kz[1] == 0 && kz[2] == 0);
        } else if (r[1] != NULL) {
            CHECK_TENSOR(r[1], s3, 1, zeros, 0);
            (void)dz;
        }
        release_all(r, 2);
    }
    sf_function_release(pullback);
    sf_function *fi = function(cb_ignores_second, 2, 1);
    pullback = NULL;
    CHECK_OK(sf_vjp(fi, xy, 2, r, 1, &pullback));
    release_all(r, 1);
    CHECK_OK(sf_call(pullback, &c0, 1, r, 2));
    CHECK_TENSOR(r[0], s3, 1, cos_x, TOL);
    CHECK_TENSOR(r[1], s3, 1, zeros, 0);
    release_all(r, 2);
    sf_function_release(pullback);

    /* The same without any op: f(x, k) = (k, x) with k int64. The pullback maps 2 cotangents to
     * 2 input cotangents: the one for x is the cotangent of output 1, the one for k is zero. */
    sf_function *swap = function(cb_swap, 2, 2);
    sf_tensor *ones_k = NULL, *swap_ct[2] = {NULL, c0};
    CHECK_OK(sf_ones(s3, 1, SF_INT64, &ones_k));
    swap_ct[0] = ones_k;
    pullback = NULL;
    CHECK_OK(sf_vjp(swap, xk, 2, r, 2, &pullback));
    release_all(r, 2);
    CHECK_OK(sf_function_arity(pullback, &n_in, &n_out));
    CHECK_EQ(n_in, 2);
    CHECK_EQ(n_out, 2);
    if (n_out == 2) {
        CHECK_OK(sf_call(pullback, swap_ct, 2, r, 2));
        CHECK_TENSOR(r[0], s3, 1, c0v, 0);
        int64_t kz[3] = {-1, -1, -1};
        CHECK(r[1] != NULL && sf_tensor_copy_to(r[1], kz, sizeof kz) == SF_OK);
        CHECK(kz[0] == 0 && kz[1] == 0 && kz[2] == 0);
        release_all(r, 2);
    }
    sf_function_release(pullback), sf_function_release(swap), sf_tensor_release(ones_k);

    /* jvp: f(x, y) with tangents (t, 0): (cos(x) y t, sum(exp(x) t)). */
    sf_tensor *t = make64(tv, s3, 1), *zero = make64(zeros, s3, 1), *tangents[2] = {t, zero}, *to[2] = {NULL};
    double t0[3], t1 = 0;
    for (int i = 0; i < 3; i++) t0[i] = cos(xv[i]) * yv[i] * tv[i], t1 += exp(xv[i]) * tv[i];
    CHECK_OK(sf_jvp(f, xy, tangents, 2, r, to, 2));
    CHECK_TENSOR(r[0], s3, 1, o0, TOL);
    CHECK_SCALAR(r[1], o1, TOL);
    CHECK_TENSOR(to[0], s3, 1, t0, TOL);
    CHECK_SCALAR(to[1], t1, TOL);
    release_all(r, 2), release_all(to, 2);

    /* linearize: f(x) = sin(x) exp(x), jvp_fn(t) = (cos x + sin x) exp(x) t, any number of times. */
    double lin_out[3], lin_t[3], lin_c[3];
    for (int i = 0; i < 3; i++) {
        lin_out[i] = sin(xv[i]) * exp(xv[i]);
        lin_t[i] = (cos(xv[i]) + sin(xv[i])) * exp(xv[i]) * tv[i];
        lin_c[i] = (cos(xv[i]) + sin(xv[i])) * exp(xv[i]) * c0v[i];
    }
    sf_function *fl = function(cb_sin_exp, 1, 1), *jvp_fn = NULL;
    CHECK_OK(sf_linearize(fl, &x, 1, r, 1, &jvp_fn));
    CHECK_TENSOR(r[0], s3, 1, lin_out, TOL);
    release_all(r, 1);
    CHECK_OK(sf_function_arity(jvp_fn, &n_in, &n_out));
    CHECK_EQ(n_in, 1);
    CHECK_EQ(n_out, 1);
    CHECK_OK(sf_call(jvp_fn, &t, 1, r, 1));
    CHECK_TENSOR(r[0], s3, 1, lin_t, TOL);
    release_all(r, 1);
    CHECK_OK(sf_call(jvp_fn, &c0, 1, r, 1));
    CHECK_TENSOR(r[0], s3, 1, lin_c, TOL);
    release_all(r, 1);
    r[0] = GARBAGE;
    CHECK_STATUS(sf_call(jvp_fn, &c1t, 1, r, 1), SF_ERR_SHAPE); /* a 0-d tangent for a [3] primal */
    CHECK(r[0] == NULL);
    /* vmap of the linearized function: many tangents at once */
    const int64_t s23[] = {2, 3};
    double tt[6], lin_tt[6];
    for (int i = 0; i < 3; i++) tt[i] = tv[i], tt[3 + i] = c0v[i], lin_tt[i] = lin_t[i], lin_tt[3 + i] = lin_c[i];
    sf_tensor *tb = make64(tt, s23, 2);
    sf_function *vl = NULL;
    CHECK_OK(sf_vmap(jvp_fn, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_ERROR, &vl));
    CHECK_OK(sf_call(vl, &tb, 1, r, 1));
    CHECK_TENSOR(r[0], s23, 2, lin_tt, TOL);
    release_all(r, 1);
    sf_function_release(vl), sf_tensor_release(tb);
    sf_function_release(jvp_fn);

    sf_tensor_release(x), sf_tensor_release(y), sf_tensor_release(c0), sf_tensor_release(c1t);
    sf_tensor_release(k), sf_tensor_release(t), sf_tensor_release(zero);
    sf_function_release(f), sf_function_release(fk), sf_function_release(fi), sf_function_release(fl);
}

/* ------------------------------------------------------------------------------------------------
 * 4. Bad input: a status and a message naming the function, *out NULL, never a crash.
 * ---------------------------------------------------------------------------------------------- */

static void test_bad_arguments(void) {
    const double xv[3] = {0.1, 0.2, 0.3};
    const int64_t s3[] = {3}, s2[] = {2};
    sf_tensor *x = make64(xv, s3, 1), *x2 = make64(xv, s2, 1), *x0 = scalar64(0.5);
    sf_tensor *r[3] = {NULL}, *tangents_out[2] = {NULL};
    /* Functions that need no derivative or batching rules, so that only argument checks fail. */
    sf_function *f = function(cb_identity, 1, 1), *two = function(cb_swap, 2, 2), *o = GARBAGE;

    /* sf_function_new */
    CHECK_ERROR(sf_function_new(NULL, NULL, NULL, 1, 1, &o), SF_ERR_INVALID_ARGUMENT, "sf_function_new");
    CHECK(o == NULL);
    o = GARBAGE;
    CHECK_ERROR(sf_function_new(cb_sum_sin, NULL, NULL, 1, 0, &o), SF_ERR_INVALID_ARGUMENT, "sf_function_new");
    CHECK(o == NULL);
    CHECK_ERROR(sf_function_new(cb_sum_sin, NULL, NULL, 1, 1, NULL), SF_ERR_INVALID_ARGUMENT, "sf_function_new");

    /* retain/release of NULL are no-ops; arity */
    sf_function_retain(NULL);
    sf_function_release(NULL);
    size_t n_in = 9, n_out = 9;
    CHECK_ERROR(sf_function_arity(NULL, &n_in, &n_out), SF_ERR_INVALID_ARGUMENT, "sf_function_arity");
    CHECK_OK(sf_function_arity(f, NULL, NULL));
    CHECK_OK(sf_function_arity(two, &n_in, NULL));
    CHECK_EQ(n_in, 2);

    /* sf_call */
    r[0] = GARBAGE;
    CHECK_ERROR(sf_call(NULL, &x, 1, r, 1), SF_ERR_INVALID_ARGUMENT, "sf_call");
    CHECK(r[0] == NULL);
    r[0] = GARBAGE;
    CHECK_ERROR(sf_call(f, &x, 2, r, 1), SF_ERR_INVALID_ARGUMENT, "sf_call");
    CHECK(r[0] == NULL);
    fill_garbage(r, 2);
    CHECK_ERROR(sf_call(f, &x, 1, r, 2), SF_ERR_INVALID_ARGUMENT, "sf_call");
    CHECK(all_null(r, 2));
    r[0] = GARBAGE;
    CHECK_ERROR(sf_call(f, &x, 0, r, 1), SF_ERR_INVALID_ARGUMENT, "sf_call");
    CHECK(r[0] == NULL);
    r[0] = GARBAGE;
    CHECK_ERROR(sf_call(f, NULL, 1, r, 1), SF_ERR_INVALID_ARGUMENT, "sf_call");
    CHECK(r[0] == NULL);
    sf_tensor *null_entry[2] = {x, NULL};
    fill_garbage(r, 2);
    CHECK_ERROR(sf_call(two, null_entry, 2, r, 2), SF_ERR_INVALID_ARGUMENT, "sf_call");
    CHECK(all_null(r, 2));
    CHECK_ERROR(sf_call(f, &x, 1, NULL, 1), SF_ERR_INVALID_ARGUMENT, "sf_call");
    /* NULL entries also through a transformed function */
    sf_function *g = NULL;
    CHECK_OK(sf_grad(f, NULL, 0, false, &g));
    sf_tensor *null_one[1] = {NULL};
    r[0] = GARBAGE;
    CHECK_ERROR(sf_call(g, null_one, 1, r, 1), SF_ERR_INVALID_ARGUMENT, "sf_call");
    CHECK(r[0] == NULL);
    sf_function_release(g);

    /* sf_grad / sf_grad_and_value */
    o = GARBAGE;
    CHECK_ERROR(sf_grad(NULL, NULL, 0, false, &o), SF_ERR_INVALID_ARGUMENT, "sf_grad");
    CHECK(o == NULL);
    CHECK_ERROR(sf_grad(f, NULL, 0, false, NULL), SF_ERR_INVALID_ARGUMENT, "sf_grad");
    o = GARBAGE;
    CHECK_ERROR(sf_grad_and_value(NULL, NULL, 0, false, &o), SF_ERR_INVALID_ARGUMENT, "sf_grad_and_value");
    CHECK(o == NULL);
    CHECK_ERROR(sf_grad_and_value(f, NULL, 0, false, NULL), SF_ERR_INVALID_ARGUMENT, "sf_grad_and_value");

    /* sf_vjp */
    sf_function *pullback = GARBAGE;
    fill_garbage(r, 2);
    CHECK_ERROR(sf_vjp(NULL, &x, 1, r, 1, &pullback), SF_ERR_INVALID_ARGUMENT, "sf_vjp");
    CHECK(r[0] == NULL && pullback == NULL);
    pullback = GARBAGE, r[0] = GARBAGE;
    CHECK_ERROR(sf_vjp(f, &x, 2, r, 1, &pullback), SF_ERR_INVALID_ARGUMENT, "sf_vjp");
    CHECK(r[0] == NULL && pullback == NULL);
    pullback = GARBAGE, r[0] = GARBAGE;
    CHECK_ERROR(sf_vjp(f, NULL, 1, r, 1, &pullback), SF_ERR_INVALID_ARGUMENT, "sf_vjp");
    CHECK(r[0] == NULL && pullback == NULL);
    pullback = GARBAGE, r[0] = GARBAGE;
    CHECK_ERROR(sf_vjp(f, null_one, 1, r, 1, &pullback), SF_ERR_INVALID_ARGUMENT, "sf_vjp");
    CHECK(r[0] == NULL && pullback == NULL);
    pullback = GARBAGE;
    fill_garbage(r, 2);
    CHECK_ERROR(sf_vjp(f, &x, 1, r, 2, &pullback), SF_ERR_INVALID_ARGUMENT, "sf_vjp");
    CHECK(all_null(r, 2) && pullback == NULL);
    pullback = GARBAGE;
    CHECK_ERROR(sf_vjp(f, &x, 1, NULL, 1, &pullback), SF_ERR_INVALID_ARGUMENT, "sf_vjp");
    CHECK(pullback == NULL);
    r[0] = GARBAGE;
    CHECK_ERROR(sf_vjp(f, &x, 1, r, 1, NULL), SF_ERR_INVALID_ARGUMENT, "sf_vjp");
    CHECK(r[0] == NULL);

    /* sf_jvp */
    sf_tensor *t = make64(xv, s3, 1);
    fill_garbage(r, 2), fill_garbage(tangents_out, 2);
    CHECK_ERROR(sf_jvp(NULL, &x, &t, 1, r, tangents_out, 1), SF_ERR_INVALID_ARGUMENT, "sf_jvp");
    CHECK(r[0] == NULL && tangents_out[0] == NULL);
    fill_garbage(r, 2), fill_garbage(tangents_out, 2);
    CHECK_ERROR(sf_jvp(f, &x, NULL, 1, r, tangents_out, 1), SF_ERR_INVALID_ARGUMENT, "sf_jvp");
    CHECK(r[0] == NULL && tangents_out[0] == NULL);
    fill_garbage(r, 2), fill_garbage(tangents_out, 2);
    CHECK_ERROR(sf_jvp(f, &x, null_one, 1, r, tangents_out, 1), SF_ERR_INVALID_ARGUMENT, "sf_jvp");
    CHECK(r[0] == NULL && tangents_out[0] == NULL);
    fill_garbage(r, 2), fill_garbage(tangents_out, 2);
    CHECK_ERROR(sf_jvp(f, NULL, &t, 1, r, tangents_out, 1), SF_ERR_INVALID_ARGUMENT, "sf_jvp");
    CHECK(r[0] == NULL && tangents_out[0] == NULL);
    fill_garbage(r, 2), fill_garbage(tangents_out, 2);
    CHECK_ERROR(sf_jvp(f, &x, &t, 2, r, tangents_out, 1), SF_ERR_INVALID_ARGUMENT, "sf_jvp");
    CHECK(r[0] == NULL && tangents_out[0] == NULL);
    fill_garbage(r, 2), fill_garbage(tangents_out, 2);
    CHECK_ERROR(sf_jvp(f, &x, &t, 1, r, tangents_out, 2), SF_ERR_INVALID_ARGUMENT, "sf_jvp");
    CHECK(all_null(r, 2) && all_null(tangents_out, 2));
    fill_garbage(r, 2), fill_garbage(tangents_out, 2);
    CHECK_ERROR(sf_jvp(f, &x, &t, 1, r, NULL, 1), SF_ERR_INVALID_ARGUMENT, "sf_jvp");
    CHECK(r[0] == NULL);
    fill_garbage(r, 2), fill_garbage(tangents_out, 2);
    CHECK_ERROR(sf_jvp(f, &x, &t, 1, NULL, tangents_out, 1), SF_ERR_INVALID_ARGUMENT, "sf_jvp");
    CHECK(tangents_out[0] == NULL); /* every out array the call was given is NULLed */
    fill_garbage(r, 2), fill_garbage(tangents_out, 2);
    CHECK_ERROR(sf_jvp(f, &x, &x2, 1, r, tangents_out, 1), SF_ERR_SHAPE, "sf_jvp"); /* [2] tangent, [3] primal */
    CHECK(r[0] == NULL && tangents_out[0] == NULL);

    /* sf_linearize */
    sf_function *lin = GARBAGE;
    r[0] = GARBAGE;
    CHECK_ERROR(sf_linearize(NULL, &x, 1, r, 1, &lin), SF_ERR_INVALID_ARGUMENT, "sf_linearize");
    CHECK(r[0] == NULL && lin == NULL);
    lin = GARBAGE, r[0] = GARBAGE;
    CHECK_ERROR(sf_linearize(f, &x, 0, r, 1, &lin), SF_ERR_INVALID_ARGUMENT, "sf_linearize");
    CHECK(r[0] == NULL && lin == NULL);
    lin = GARBAGE, r[0] = GARBAGE;
    CHECK_ERROR(sf_linearize(f, null_one, 1, r, 1, &lin), SF_ERR_INVALID_ARGUMENT, "sf_linearize");
    CHECK(r[0] == NULL && lin == NULL);
    lin = GARBAGE;
    fill_garbage(r, 2);
    CHECK_ERROR(sf_linearize(f, &x, 1, r, 2, &lin), SF_ERR_INVALID_ARGUMENT, "sf_linearize");
    CHECK(all_null(r, 2) && lin == NULL);
    lin = GARBAGE;
    CHECK_ERROR(sf_linearize(f, &x, 1, NULL, 1, &lin), SF_ERR_INVALID_ARGUMENT, "sf_linearize");
    CHECK(lin == NULL);
    r[0] = GARBAGE;
    CHECK_ERROR(sf_linearize(f, &x, 1, r, 1, NULL), SF_ERR_INVALID_ARGUMENT, "sf_linearize");
    CHECK(r[0] == NULL);

    /* sf_jacrev / sf_jacfwd / sf_hessian */
    o = GARBAGE;
    CHECK_ERROR(sf_jacrev(NULL, NULL, 0, false, 0, &o), SF_ERR_INVALID_ARGUMENT, "sf_jacrev");
    CHECK(o == NULL);
    o = GARBAGE;
    CHECK_ERROR(sf_jacrev(f, NULL, 0, false, -1, &o), SF_ERR_INVALID_ARGUMENT, "sf_jacrev");
    CHECK(o == NULL);
    o = GARBAGE;
    CHECK_ERROR(sf_jacrev(f, NULL, 0, true, 0, &o), SF_ERR_INVALID_ARGUMENT, "sf_jacrev"); /* has_aux, 1 output */
    CHECK(o == NULL);
    CHECK_ERROR(sf_jacrev(f, NULL, 0, false, 0, NULL), SF_ERR_INVALID_ARGUMENT, "sf_jacrev");
    o = GARBAGE;
    CHECK_ERROR(sf_jacfwd(NULL, NULL, 0, false, SF_RANDOMNESS_ERROR, &o), SF_ERR_INVALID_ARGUMENT, "sf_jacfwd");
    CHECK(o == NULL);
    o = GARBAGE;
    CHECK_ERROR(sf_jacfwd(f, NULL, 0, false, (sf_randomness)5, &o), SF_ERR_INVALID_ARGUMENT, "sf_jacfwd");
    CHECK(o == NULL);
    o = GARBAGE;
    CHECK_ERROR(sf_jacfwd(f, NULL, 0, false, (sf_randomness)-2, &o), SF_ERR_INVALID_ARGUMENT, "sf_jacfwd");
    CHECK(o == NULL);
    o = GARBAGE;
    CHECK_ERROR(sf_jacfwd(f, NULL, 0, true, SF_RANDOMNESS_ERROR, &o), SF_ERR_INVALID_ARGUMENT, "sf_jacfwd");
    CHECK(o == NULL);
    CHECK_ERROR(sf_jacfwd(f, NULL, 0, false, SF_RANDOMNESS_ERROR, NULL), SF_ERR_INVALID_ARGUMENT, "sf_jacfwd");
    o = GARBAGE;
    CHECK_ERROR(sf_hessian(NULL, NULL, 0, &o), SF_ERR_INVALID_ARGUMENT, "sf_hessian");
    CHECK(o == NULL);
    o = GARBAGE;
    CHECK_ERROR(sf_hessian(f, NULL, 3, &o), SF_ERR_INVALID_ARGUMENT, "sf_hessian");
    CHECK(o == NULL);
    CHECK_ERROR(sf_hessian(f, NULL, 0, NULL), SF_ERR_INVALID_ARGUMENT, "sf_hessian");

    /* sf_vmap */
    const int64_t dims1[] = {0}, dims2[] = {0, 0};
    o = GARBAGE;
    CHECK_ERROR(sf_vmap(NULL, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_ERROR, &o), SF_ERR_INVALID_ARGUMENT, "sf_vmap");
    CHECK(o == NULL);
    o = GARBAGE;
    CHECK_ERROR(sf_vmap(f, NULL, 0, NULL, 0, -1, SF_RANDOMNESS_ERROR, &o), SF_ERR_INVALID_ARGUMENT, "sf_vmap");
    CHECK(o == NULL);
    o = GARBAGE;
    CHECK_ERROR(sf_vmap(f, NULL, 0, NULL, 0, 0, (sf_randomness)9, &o), SF_ERR_INVALID_ARGUMENT, "sf_vmap");
    CHECK(o == NULL);
    o = GARBAGE;
    CHECK_ERROR(sf_vmap(f, dims2, 2, NULL, 0, 0, SF_RANDOMNESS_ERROR, &o), SF_ERR_INVALID_ARGUMENT, "in_dims");
    CHECK(o == NULL);
    o = GARBAGE;
    CHECK_ERROR(sf_vmap(f, NULL, 0, dims2, 2, 0, SF_RANDOMNESS_ERROR, &o), SF_ERR_INVALID_ARGUMENT, "out_dims");
    CHECK(o == NULL);
    o = GARBAGE;
    CHECK_ERROR(sf_vmap(two, dims1, 1, NULL, 0, 0, SF_RANDOMNESS_ERROR, &o), SF_ERR_INVALID_ARGUMENT, "in_dims");
    CHECK(o == NULL);
    /* header convention: a NULL array with a nonzero count is SF_ERR_INVALID_ARGUMENT */
    o = GARBAGE;
    CHECK_ERROR(sf_vmap(f, NULL, 1, NULL, 0, 0, SF_RANDOMNESS_ERROR, &o), SF_ERR_INVALID_ARGUMENT, "in_dims");
    CHECK(o == NULL);
    sf_function_release(o == GARBAGE ? NULL : o);
    o = GARBAGE;
    CHECK_ERROR(sf_vmap(f, NULL, 0, NULL, 1, 0, SF_RANDOMNESS_ERROR, &o), SF_ERR_INVALID_ARGUMENT, "out_dims");
    CHECK(o == NULL);
    sf_function_release(o == GARBAGE ? NULL : o);
    CHECK_ERROR(sf_vmap(f, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_ERROR, NULL), SF_ERR_INVALID_ARGUMENT, "sf_vmap");
    /* calling a vmapped function with a 0-d input (nothing to map over) */
    sf_function *v = NULL;
    CHECK_OK(sf_vmap(f, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_ERROR, &v));
    r[0] = GARBAGE;
    CHECK_ERROR(sf_call(v, &x0, 1, r, 1), SF_ERR_INVALID_ARGUMENT, "in_dims");
    CHECK(r[0] == NULL);
    sf_function_release(v);

    /* sf_vmap_fallback_count */
    CHECK_ERROR(sf_vmap_fallback_count(NULL), SF_ERR_INVALID_ARGUMENT, "sf_vmap_fallback_count");

    sf_tensor_release(x), sf_tensor_release(x2), sf_tensor_release(x0), sf_tensor_release(t);
    sf_function_release(f), sf_function_release(two);
}

int main(void) {
    uint64_t fallbacks_before = 99, fallbacks_after = 99;
    CHECK_OK(sf_vmap_fallback_count(&fallbacks_before));
    CHECK_EQ(fallbacks_before, 0);

    test_grad_needs_scalar_output();
    test_has_aux();
    test_argnums();
    test_vmap_semantics();
    test_randomness();
    test_reading_values();

    test_perturbation_confusion();
    test_escaped_tracers();
    test_callback_failures();
    test_user_data_lifetime();

    test_vmap_of_grad();
    test_jacobians();
    test_hessian();
    test_jvp_of_grad();
    test_vmap_of_jacrev();
    test_grad_of_vmap_and_vmap_of_vmap();
    test_vjp_jvp_linearize();

    test_bad_arguments();

    /* Built-in ops always have batching rules: nothing above fell back to the loop. */
    CHECK_OK(sf_vmap_fallback_count(&fallbacks_after));
    CHECK_EQ(fallbacks_after, 0);
    return check_summary();
}
