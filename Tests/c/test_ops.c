/* test_ops.c — bad input and reference values for every op function of the C ABI.
 *
 *  1. The call contract, for every op in one table (OPS): a valid call succeeds; a NULL `out`
 *     gives SF_ERR_INVALID_ARGUMENT; each required tensor argument passed as NULL gives
 *     SF_ERR_INVALID_ARGUMENT; every failure sets *out to NULL and names the function in
 *     sf_last_error() ("sf_<op>:").
 *  2. Per family: dims out of range, repeated dims, NULL arrays with a nonzero count, negative
 *     sizes, rank 17, element counts past 2^63, unbroadcastable shapes, wrong dtypes, invalid
 *     enum values, zero-size tensors that must work, bad slice steps, pad lists, conv params and
 *     out-of-range indices.
 *  3. Per family, values against a reference computed here in C, so that an op wired to the
 *     wrong kernel fails.
 *
 * Checks that currently fail because of a bug in the library are marked "LIBRARY BUG" (grep for
 * it). Runs plain and under AddressSanitizer/LeakSanitizer (make c-test, make asan-test), and
 * through ctest in the CMake consumer (make cmake-test). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "swiftfunc.h"

/* A sentinel for `out` pointers: every failing call must overwrite it with NULL. */
#define GARBAGE ((void *)(uintptr_t)0x1)
#define COUNT(array) (sizeof(array) / sizeof((array)[0]))
#define TOL 1e-12

/* ------------------------------------------------------------------------------------------------
 * Tensors in and out
 * ---------------------------------------------------------------------------------------------- */

static int64_t numel_of(const int64_t *shape, size_t ndim) {
    int64_t n = 1;
    for (size_t i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

/* A tensor of `dtype` and `shape` holding `values` converted from doubles (at most 256). */
static sf_tensor *make(sf_dtype dtype, const double *values, const int64_t *shape, size_t ndim) {
    union {
        float f32[256];
        double f64[256];
        int32_t i32[256];
        int64_t i64[256];
        uint8_t b8[256];
    } buffer;
    int64_t n = numel_of(shape, ndim);
    if (!CHECK(n <= 256)) return NULL;
    for (int64_t i = 0; i < n; i++) {
        switch (dtype) {
        case SF_FLOAT32: buffer.f32[i] = (float)values[i]; break;
        case SF_FLOAT64: buffer.f64[i] = values[i]; break;
        case SF_INT32: buffer.i32[i] = (int32_t)values[i]; break;
        case SF_INT64: buffer.i64[i] = (int64_t)values[i]; break;
        case SF_BOOL: buffer.b8[i] = values[i] != 0; break;
        }
    }
    sf_tensor *t = NULL;
    sf_status s = sf_tensor_from_data(n ? (const void *)&buffer : NULL, dtype, shape, ndim, &t);
    if (!CHECK(s == SF_OK)) fprintf(stderr, "    %s\n", sf_last_error());
    return t;
}

static sf_tensor *make64(const double *values, const int64_t *shape, size_t ndim) {
    return make(SF_FLOAT64, values, shape, ndim);
}

/* Reads up to `capacity` values of any dtype as doubles; returns the count, or -1. */
static int64_t read_values(sf_tensor *t, double *dst, int64_t capacity) {
    sf_dtype dtype;
    int64_t n;
    if (sf_tensor_dtype(t, &dtype) != SF_OK || sf_tensor_numel(t, &n) != SF_OK || n > capacity || n > 4096)
        return -1;
    static union {
        float f32[4096];
        double f64[4096];
        int32_t i32[4096];
        int64_t i64[4096];
        uint8_t b8[4096];
    } buffer;
    static const size_t item[5] = {4, 8, 4, 8, 1};
    if (sf_tensor_copy_to(t, n ? (void *)&buffer : NULL, (size_t)n * item[dtype]) != SF_OK) return -1;
    for (int64_t i = 0; i < n; i++) {
        switch (dtype) {
        case SF_FLOAT32: dst[i] = buffer.f32[i]; break;
        case SF_FLOAT64: dst[i] = buffer.f64[i]; break;
        case SF_INT32: dst[i] = buffer.i32[i]; break;
        case SF_INT64: dst[i] = (double)buffer.i64[i]; break;
        case SF_BOOL: dst[i] = buffer.b8[i]; break;
        }
    }
    return n;
}

/* a ~= b, relative to their size; two NaNs are equal. */
static int close_to(double a, double b, double tol) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    if (isinf(a) || isinf(b)) return a == b;
    return fabs(a - b) <= tol * (1 + fabs(b));
}

/* `t` has `shape` and the values `expected` within `tol`. */
static void check_tensor(sf_tensor *t, const int64_t *shape, size_t ndim, const double *expected, double tol,
                         const char *what, int line) {
    char label[160];
    snprintf(label, sizeof label, "%s: result exists", what);
    if (!check_record(t != NULL && t != GARBAGE, __FILE__, line, label)) return;
    size_t got_ndim = 99;
    int64_t got_shape[SF_MAX_NDIM];
    int same = sf_tensor_ndim(t, &got_ndim) == SF_OK && got_ndim == ndim &&
               sf_tensor_shape(t, got_shape, SF_MAX_NDIM) == SF_OK;
    for (size_t i = 0; same && i < ndim; i++) same = got_shape[i] == shape[i];
    snprintf(label, sizeof label, "%s: shape", what);
    if (!check_record(same, __FILE__, line, label)) {
        fprintf(stderr, "    got rank %zu [", got_ndim);
        for (size_t i = 0; i < got_ndim && i < SF_MAX_NDIM; i++) fprintf(stderr, "%s%lld", i ? ", " : "", (long long)got_shape[i]);
        fprintf(stderr, "]\n");
        return;
    }
    int64_t n = numel_of(shape, ndim);
    static double got[4096];
    snprintf(label, sizeof label, "%s: values readable", what);
    if (!check_record(read_values(t, got, 4096) == n, __FILE__, line, label)) return;
    int ok = 1;
    for (int64_t i = 0; i < n; i++) ok &= close_to(got[i], expected[i], tol);
    snprintf(label, sizeof label, "%s: values", what);
    if (!check_record(ok, __FILE__, line, label)) {
        for (int64_t i = 0; i < n && i < 24; i++)
            fprintf(stderr, "    [%lld] got %.17g expected %.17g\n", (long long)i, got[i], expected[i]);
    }
}
#define CHECK_TENSOR(t, shape, ndim, expected, tol, what) check_tensor((t), (shape), (ndim), (expected), (tol), (what), __LINE__)

static void check_dtype(sf_tensor *t, sf_dtype expected, const char *what, int line) {
    sf_dtype got = (sf_dtype)99;
    int ok = t != NULL && t != GARBAGE && sf_tensor_dtype(t, &got) == SF_OK && got == expected;
    if (!check_record(ok, __FILE__, line, what)) fprintf(stderr, "    got dtype %d, expected %d\n", (int)got, (int)expected);
}
#define CHECK_DTYPE(t, expected, what) check_dtype((t), (expected), (what), __LINE__)

/* ------------------------------------------------------------------------------------------------
 * Failures: the status, *out set to NULL, and a message naming the function ("sf_sum:").
 * ---------------------------------------------------------------------------------------------- */

static void check_failure(sf_status got, sf_tensor *out, sf_status expected, const char *function,
                          const char *fragment, const char *file, int line, const char *call) {
    if (!check_record(got == expected, file, line, call))
        fprintf(stderr, "    got status %d, expected %d (%s)\n", (int)got, (int)expected, sf_last_error());
    if (got == SF_OK) {
        if (out && out != GARBAGE) sf_tensor_release(out);
        return;
    }
    char name[64];
    snprintf(name, sizeof name, "%s:", function);
    if (!check_record(strstr(sf_last_error(), name) != NULL, file, line, "sf_last_error() names the function"))
        fprintf(stderr, "    %s: message \"%s\" does not contain \"%s\"\n", call, sf_last_error(), name);
    if (fragment && !check_record(strstr(sf_last_error(), fragment) != NULL, file, line, "sf_last_error() has the fragment"))
        fprintf(stderr, "    %s: message \"%s\" does not contain \"%s\"\n", call, sf_last_error(), fragment);
    if (!check_record(out == NULL, file, line, "*out is NULL after a failure"))
        fprintf(stderr, "    %s: out = %p\n", call, (void *)out);
}

/* `call` (which stores its result through &OUT) fails with `status` and names `function`. */
#define FAILS(status, function, call) FAILS_MSG(status, function, NULL, call)
/* ... and its message also contains `fragment`. */
#define FAILS_MSG(status, function, fragment, call)                                             \
    do {                                                                                        \
        sf_tensor *OUT = GARBAGE;                                                               \
        sf_status fails_s_ = (call);                                                            \
        check_failure(fails_s_, OUT, (status), (function), (fragment), __FILE__, __LINE__, #call); \
    } while (0)

/* `call` (storing through &OUT) succeeds; the result is kept in `var` (released by the caller). */
#define RUN(var, call)                                                                          \
    sf_tensor *var = NULL;                                                                      \
    do {                                                                                        \
        sf_tensor *OUT = GARBAGE;                                                               \
        sf_status run_s_ = (call);                                                              \
        if (!check_record(run_s_ == SF_OK, __FILE__, __LINE__, #call " == SF_OK")) {            \
            fprintf(stderr, "    status %d: %s\n", (int)run_s_, sf_last_error());              \
            OUT = NULL;                                                                         \
        }                                                                                       \
        var = OUT;                                                                              \
    } while (0)

/* ------------------------------------------------------------------------------------------------
 * Fixtures, made once in main(). X is the 2x3 float64 matrix used by most value checks; its
 * entries are distinct and of both signs, with one row and one column maximum in each position.
 * ---------------------------------------------------------------------------------------------- */

static const double X_VALUES[6] = {0.5, -2.5, 1.5, 2.5, 0.25, -0.6};
static const double Y_VALUES[3] = {0.5, 2.0, -0.6}; /* equal to X at [0][0] and [1][2] */
static const int64_t S23[2] = {2, 3}, S3[1] = {3}, S2[1] = {2}, S03[2] = {0, 3}, S0[1] = {0};

static sf_tensor *X;      /* float64 [2, 3] */
static sf_tensor *Y;      /* float64 [3] */
static sf_tensor *XI;     /* int64 [2, 3] */
static sf_tensor *XB;     /* bool [2, 3] */
static sf_tensor *E;      /* float64 [0, 3] */
static sf_tensor *IDX;    /* int64 [2] = {1, 0} */
static sf_tensor *IDX23;  /* int64 [2, 3], entries in [0, 2) */
static sf_tensor *W32;    /* float64 [2, 3] (linear weight: 2 outputs, 3 inputs) */
static sf_tensor *IMG;    /* float64 [1, 2, 5, 5] */
static sf_tensor *KER;    /* float64 [3, 2, 3, 3] */
static sf_tensor *TARGET; /* int64 [2] = {2, 0} */

static void make_fixtures(void) {
    double ramp[150];
    for (int i = 0; i < 150; i++) ramp[i] = sin(0.37 * i + 0.1);
    X = make64(X_VALUES, S23, 2);
    Y = make64(Y_VALUES, S3, 1);
    const double ints[6] = {3, -2, 0, 7, -5, 1};
    XI = make(SF_INT64, ints, S23, 2);
    const double bools[6] = {1, 0, 0, 1, 1, 0};
    XB = make(SF_BOOL, bools, S23, 2);
    E = make64(NULL, S03, 2);
    const double idx[2] = {1, 0};
    IDX = make(SF_INT64, idx, S2, 1);
    const double idx23[6] = {1, 0, 1, 0, 0, 1};
    IDX23 = make(SF_INT64, idx23, S23, 2);
    W32 = make64(ramp, S23, 2);
    const int64_t s_img[4] = {1, 2, 5, 5}, s_ker[4] = {3, 2, 3, 3};
    IMG = make64(ramp, s_img, 4);
    KER = make64(ramp + 50, s_ker, 4);
    const double target[2] = {2, 0};
    TARGET = make(SF_INT64, target, S2, 1);
}

static void release_fixtures(void) {
    sf_tensor *all[] = {X, Y, XI, XB, E, IDX, IDX23, W32, IMG, KER, TARGET};
    for (size_t i = 0; i < COUNT(all); i++) sf_tensor_release(all[i]);
}

/* ------------------------------------------------------------------------------------------------
 * 1. The call contract of every op, from one table.
 *
 * Each entry calls its op with valid arguments, except that the required tensor argument number
 * `null_arg` (0-based; -1 for none) is passed as NULL. `fn` is the op for the entries that share
 * a calling helper (unary, binary, reductions, shape-made creation).
 * ---------------------------------------------------------------------------------------------- */

typedef void (*any_fn)(void);
typedef sf_status (*unary_fn)(sf_tensor *, sf_tensor **);
typedef sf_status (*binary_fn)(sf_tensor *, sf_tensor *, sf_tensor **);
typedef sf_status (*reduce_fn)(sf_tensor *, const int64_t *, size_t, bool, sf_tensor **);
typedef sf_status (*shaped_fn)(const int64_t *, size_t, sf_dtype, sf_tensor **);
typedef sf_status (*caller_fn)(any_fn fn, int null_arg, sf_tensor **out);

/* Tensor argument number i, or NULL when it is the one to leave out. */
#define ARG(i, t) (null_arg == (i) ? NULL : (t))

static sf_status call_unary(any_fn fn, int null_arg, sf_tensor **out) { return ((unary_fn)fn)(ARG(0, X), out); }
static sf_status call_binary(any_fn fn, int null_arg, sf_tensor **out) {
    return ((binary_fn)fn)(ARG(0, X), ARG(1, Y), out);
}
static sf_status call_reduce(any_fn fn, int null_arg, sf_tensor **out) {
    const int64_t dims[1] = {1};
    return ((reduce_fn)fn)(ARG(0, X), dims, 1, false, out);
}
static sf_status call_shaped(any_fn fn, int null_arg, sf_tensor **out) {
    (void)null_arg;
    return ((shaped_fn)fn)(S23, 2, SF_FLOAT64, out);
}

#define UNUSED_FN (void)fn
static sf_status call_scalar(any_fn fn, int null_arg, sf_tensor **out) { UNUSED_FN; (void)null_arg; return sf_scalar(1.5, out); }
static sf_status call_full(any_fn fn, int null_arg, sf_tensor **out) { UNUSED_FN; (void)null_arg; return sf_full(S23, 2, 2.5, SF_FLOAT64, out); }
static sf_status call_arange(any_fn fn, int null_arg, sf_tensor **out) { UNUSED_FN; (void)null_arg; return sf_arange(0, 5, 1, SF_FLOAT64, out); }
static sf_status call_eye(any_fn fn, int null_arg, sf_tensor **out) { UNUSED_FN; (void)null_arg; return sf_eye(2, 3, SF_FLOAT64, out); }
static sf_status call_linspace(any_fn fn, int null_arg, sf_tensor **out) { UNUSED_FN; (void)null_arg; return sf_linspace(0, 1, 5, SF_FLOAT64, out); }
static sf_status call_cast(any_fn fn, int null_arg, sf_tensor **out) { UNUSED_FN; return sf_cast(ARG(0, X), SF_INT32, out); }
static sf_status call_bernoulli(any_fn fn, int null_arg, sf_tensor **out) { UNUSED_FN; return sf_bernoulli(ARG(0, X), out); }
static sf_status call_dropout(any_fn fn, int null_arg, sf_tensor **out) { UNUSED_FN; return sf_dropout(ARG(0, X), 0.5, true, out); }
static sf_status call_gelu(any_fn fn, int null_arg, sf_tensor **out) { UNUSED_FN; return sf_gelu(ARG(0, X), true, out); }
static sf_status call_where(any_fn fn, int null_arg, sf_tensor **out) { UNUSED_FN; return sf_where(ARG(0, XB), ARG(1, X), ARG(2, Y), out); }
static sf_status call_var(any_fn fn, int null_arg, sf_tensor **out) {
    UNUSED_FN;
    const int64_t dims[1] = {1};
    return sf_var(ARG(0, X), dims, 1, 1, false, out);
}
static sf_status call_std(any_fn fn, int null_arg, sf_tensor **out) {
    UNUSED_FN;
    const int64_t dims[1] = {1};
    return sf_std(ARG(0, X), dims, 1, 1, false, out);
}
static sf_status call_softmax(any_fn fn, int null_arg, sf_tensor **out) { UNUSED_FN; return sf_softmax(ARG(0, X), 1, out); }
static sf_status call_log_softmax(any_fn fn, int null_arg, sf_tensor **out) { UNUSED_FN; return sf_log_softmax(ARG(0, X), -1, out); }
static sf_status call_reshape(any_fn fn, int null_arg, sf_tensor **out) {
    UNUSED_FN;
    const int64_t shape[2] = {3, -1};
    return sf_reshape(ARG(0, X), shape, 2, out);
}
static sf_status call_permute(any_fn fn, int null_arg, sf_tensor **out) {
    UNUSED_FN;
    const int64_t dims[2] = {1, 0};
    return sf_permute(ARG(0, X), dims, 2, out);
}
static sf_status call_transpose(any_fn fn, int null_arg, sf_tensor **out) { UNUSED_FN; return sf_transpose(ARG(0, X), 0, 1, out); }
static sf_status call_expand(any_fn fn, int null_arg, sf_tensor **out) {
    UNUSED_FN;
    const int64_t shape[3] = {4, 2, 3};
    return sf_expand(ARG(0, X), shape, 3, out);
}
static sf_status call_squeeze(any_fn fn, int null_arg, sf_tensor **out) { UNUSED_FN; return sf_squeeze(ARG(0, X), NULL, 0, out); }
static sf_status call_unsqueeze(any_fn fn, int null_arg, sf_tensor **out) { UNUSED_FN; return sf_unsqueeze(ARG(0, X), 1, out); }
static sf_status call_slice(any_fn fn, int null_arg, sf_tensor **out) { UNUSED_FN; return sf_slice(ARG(0, X), 1, 0, 3, 2, out); }
static sf_status call_flip(any_fn fn, int null_arg, sf_tensor **out) {
    UNUSED_FN;
    const int64_t dims[1] = {0};
    return sf_flip(ARG(0, X), dims, 1, out);
}
static sf_status call_pad(any_fn fn, int null_arg, sf_tensor **out) {
    UNUSED_FN;
    const int64_t pad[2] = {1, 1};
    return sf_pad(ARG(0, X), pad, 2, 0, out);
}
static sf_status call_cat(any_fn fn, int null_arg, sf_tensor **out) {
    UNUSED_FN;
    sf_tensor *const list[2] = {ARG(0, X), ARG(1, X)};
    return sf_cat(list, 2, 0, out);
}
static sf_status call_stack(any_fn fn, int null_arg, sf_tensor **out) {
    UNUSED_FN;
    sf_tensor *const list[2] = {ARG(0, X), ARG(1, X)};
    return sf_stack(list, 2, 0, out);
}
static sf_status call_detach(any_fn fn, int null_arg, sf_tensor **out) { UNUSED_FN; return sf_detach(ARG(0, X), out); }
static sf_status call_matmul(any_fn fn, int null_arg, sf_tensor **out) { UNUSED_FN; return sf_matmul(ARG(0, X), ARG(1, Y), out); }
static sf_status call_linear(any_fn fn, int null_arg, sf_tensor **out) { UNUSED_FN; return sf_linear(ARG(0, X), ARG(1, W32), NULL, out); }
static const int64_t ONE_ONE[2] = {1, 1}, ZERO_ZERO[2] = {0, 0};
static sf_status call_conv2d(any_fn fn, int null_arg, sf_tensor **out) {
    UNUSED_FN;
    return sf_conv2d(ARG(0, IMG), ARG(1, KER), NULL, ONE_ONE, ZERO_ZERO, ONE_ONE, 1, out);
}
static sf_status call_gather(any_fn fn, int null_arg, sf_tensor **out) { UNUSED_FN; return sf_gather(ARG(0, X), 0, ARG(1, IDX23), out); }
static sf_status call_index_select(any_fn fn, int null_arg, sf_tensor **out) {
    UNUSED_FN;
    return sf_index_select(ARG(0, X), 1, ARG(1, IDX), out);
}
static sf_status call_scatter_add(any_fn fn, int null_arg, sf_tensor **out) {
    UNUSED_FN;
    return sf_scatter_add(ARG(0, X), 0, ARG(1, IDX23), ARG(2, X), out);
}
static sf_status call_layer_norm(any_fn fn, int null_arg, sf_tensor **out) {
    UNUSED_FN;
    return sf_layer_norm(ARG(0, X), S3, 1, NULL, NULL, 1e-5, out);
}
static sf_status call_cross_entropy(any_fn fn, int null_arg, sf_tensor **out) {
    UNUSED_FN;
    return sf_cross_entropy(ARG(0, X), ARG(1, TARGET), SF_REDUCTION_MEAN, out);
}
static sf_status call_mse_loss(any_fn fn, int null_arg, sf_tensor **out) {
    UNUSED_FN;
    return sf_mse_loss(ARG(0, X), ARG(1, Y), SF_REDUCTION_SUM, out);
}

typedef struct op_entry {
    const char *name;   /* "sf_sum" */
    caller_fn call;
    any_fn fn;          /* for the shared callers; NULL otherwise */
    int n_tensor_args;  /* required (non-optional) tensor arguments */
} op_entry;

#define OP(name, call, n) {#name, call, (any_fn)name, n}
#define OWN(name, call, n) {#name, call, NULL, n}

static const op_entry OPS[] = {
    /* creation and conversion */
    OWN(sf_scalar, call_scalar, 0), OP(sf_zeros, call_shaped, 0), OP(sf_ones, call_shaped, 0),
    OWN(sf_full, call_full, 0), OWN(sf_arange, call_arange, 0), OWN(sf_eye, call_eye, 0),
    OWN(sf_linspace, call_linspace, 0), OWN(sf_cast, call_cast, 1),
    /* random */
    OP(sf_rand, call_shaped, 0), OP(sf_randn, call_shaped, 0), OWN(sf_bernoulli, call_bernoulli, 1),
    OWN(sf_dropout, call_dropout, 1),
    /* unary */
    OP(sf_neg, call_unary, 1), OP(sf_exp, call_unary, 1), OP(sf_log, call_unary, 1), OP(sf_log1p, call_unary, 1),
    OP(sf_expm1, call_unary, 1), OP(sf_sin, call_unary, 1), OP(sf_cos, call_unary, 1), OP(sf_tan, call_unary, 1),
    OP(sf_tanh, call_unary, 1), OP(sf_sigmoid, call_unary, 1), OP(sf_sqrt, call_unary, 1),
    OP(sf_rsqrt, call_unary, 1), OP(sf_abs, call_unary, 1), OP(sf_sign, call_unary, 1), OP(sf_relu, call_unary, 1),
    OP(sf_floor, call_unary, 1), OP(sf_ceil, call_unary, 1), OP(sf_round, call_unary, 1), OP(sf_silu, call_unary, 1),
    OWN(sf_gelu, call_gelu, 1),
    /* binary, compare, where */
    OP(sf_add, call_binary, 2), OP(sf_sub, call_binary, 2), OP(sf_mul, call_binary, 2), OP(sf_div, call_binary, 2),
    OP(sf_pow, call_binary, 2), OP(sf_maximum, call_binary, 2), OP(sf_minimum, call_binary, 2),
    OP(sf_atan2, call_binary, 2), OP(sf_lt, call_binary, 2), OP(sf_le, call_binary, 2), OP(sf_gt, call_binary, 2),
    OP(sf_ge, call_binary, 2), OP(sf_eq, call_binary, 2), OP(sf_ne, call_binary, 2), OWN(sf_where, call_where, 3),
    /* reductions and statistics */
    OP(sf_sum, call_reduce, 1), OP(sf_prod, call_reduce, 1), OP(sf_amax, call_reduce, 1), OP(sf_amin, call_reduce, 1),
    OP(sf_argmax, call_reduce, 1), OP(sf_argmin, call_reduce, 1), OP(sf_mean, call_reduce, 1),
    OWN(sf_var, call_var, 1), OWN(sf_std, call_std, 1), OP(sf_logsumexp, call_reduce, 1),
    OWN(sf_softmax, call_softmax, 1), OWN(sf_log_softmax, call_log_softmax, 1),
    /* movement */
    OWN(sf_reshape, call_reshape, 1), OWN(sf_permute, call_permute, 1), OWN(sf_transpose, call_transpose, 1),
    OWN(sf_expand, call_expand, 1), OWN(sf_squeeze, call_squeeze, 1), OWN(sf_unsqueeze, call_unsqueeze, 1),
    OWN(sf_slice, call_slice, 1), OWN(sf_flip, call_flip, 1), OWN(sf_pad, call_pad, 1), OWN(sf_cat, call_cat, 2),
    OWN(sf_stack, call_stack, 2), OWN(sf_detach, call_detach, 1),
    /* contraction and convolution */
    OWN(sf_matmul, call_matmul, 2), OWN(sf_linear, call_linear, 2), OWN(sf_conv2d, call_conv2d, 2),
    /* indexing */
    OWN(sf_gather, call_gather, 2), OWN(sf_index_select, call_index_select, 2),
    OWN(sf_scatter_add, call_scatter_add, 3),
    /* nn composites */
    OWN(sf_layer_norm, call_layer_norm, 1), OWN(sf_cross_entropy, call_cross_entropy, 2),
    OWN(sf_mse_loss, call_mse_loss, 2),
};

static void test_call_contract(void) {
    for (size_t k = 0; k < COUNT(OPS); k++) {
        const op_entry *op = &OPS[k];
        char what[128];
        /* a valid call works */
        sf_tensor *out = GARBAGE;
        sf_status s = op->call(op->fn, -1, &out);
        snprintf(what, sizeof what, "%s with valid arguments == SF_OK", op->name);
        if (!check_record(s == SF_OK && out != NULL && out != GARBAGE, __FILE__, __LINE__, what))
            fprintf(stderr, "    status %d: %s\n", (int)s, sf_last_error());
        if (s == SF_OK && out != GARBAGE) sf_tensor_release(out);
        /* NULL out */
        s = op->call(op->fn, -1, NULL);
        snprintf(what, sizeof what, "%s(out = NULL)", op->name);
        check_failure(s, NULL, SF_ERR_INVALID_ARGUMENT, op->name, "out", __FILE__, __LINE__, what);
        /* each required tensor argument NULL */
        for (int i = 0; i < op->n_tensor_args; i++) {
            out = GARBAGE;
            s = op->call(op->fn, i, &out);
            snprintf(what, sizeof what, "%s(tensor argument %d = NULL)", op->name, i);
            check_failure(s, out, SF_ERR_INVALID_ARGUMENT, op->name, "NULL", __FILE__, __LINE__, what);
        }
    }
}

int main(void) {
    make_fixtures();
    test_call_contract();
    release_fixtures();
    return check_summary();
}
