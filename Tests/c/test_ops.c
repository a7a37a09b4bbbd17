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
 * Checks that once failed because of a bug in the library are marked "REGRESSION" (grep for
 * it). Runs plain and under AddressSanitizer/LeakSanitizer (make c-test, make asan-test), and
 * through ctest in the CMake consumer (make cmake-test). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "swiftfunc.h"

/* GARBAGE (the sentinel for `out` pointers) and COUNT come from check.h. */
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
    if (!expected) return; /* shape only */
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

/* ------------------------------------------------------------------------------------------------
 * Shapes from the host that every shape-taking function must refuse.
 * ---------------------------------------------------------------------------------------------- */

static const int64_t NEGATIVE[2] = {2, -1};
static const int64_t HUGE2[2] = {(int64_t)1 << 40, (int64_t)1 << 40}; /* 2^80 elements */
static int64_t ONES17[SF_MAX_NDIM + 1];                                /* filled in main() */

/* ------------------------------------------------------------------------------------------------
 * 2. Creation and conversion
 * ---------------------------------------------------------------------------------------------- */

static sf_status full_7(const int64_t *shape, size_t ndim, sf_dtype dtype, sf_tensor **out) {
    return sf_full(shape, ndim, 7.0, dtype, out);
}

/* The functions that make a tensor of a host shape, with the value every element must have
 * (NAN: random, checked in test_random). */
static const struct {
    const char *name;
    shaped_fn fn;
    double value;
    int float_only;
} SHAPED[] = {
    {"sf_zeros", sf_zeros, 0, 0}, {"sf_ones", sf_ones, 1, 0}, {"sf_full", full_7, 7, 0},
    {"sf_rand", sf_rand, NAN, 1}, {"sf_randn", sf_randn, NAN, 1},
};

static void test_creation(void) {
    for (size_t k = 0; k < COUNT(SHAPED); k++) {
        const char *name = SHAPED[k].name;
        shaped_fn fn = SHAPED[k].fn;
        FAILS(SF_ERR_INVALID_ARGUMENT, name, fn(NULL, 2, SF_FLOAT64, &OUT));
        FAILS(SF_ERR_SHAPE, name, fn(NEGATIVE, 2, SF_FLOAT64, &OUT));
        FAILS(SF_ERR_SHAPE, name, fn(ONES17, SF_MAX_NDIM + 1, SF_FLOAT64, &OUT));
        FAILS(SF_ERR_SHAPE, name, fn(HUGE2, 2, SF_FLOAT64, &OUT));
        FAILS(SF_ERR_DTYPE, name, fn(S23, 2, (sf_dtype)99, &OUT));
        FAILS(SF_ERR_DTYPE, name, fn(S23, 2, (sf_dtype)-1, &OUT));
        /* zero-size, rank 0 and rank 16 work */
        RUN(empty, fn(S03, 2, SF_FLOAT64, &OUT));
        CHECK_TENSOR(empty, S03, 2, NULL, 0, name);
        sf_tensor_release(empty);
        RUN(rank0, fn(NULL, 0, SF_FLOAT32, &OUT));
        if (rank0) {
            double v;
            CHECK(read_values(rank0, &v, 1) == 1);
            CHECK_DTYPE(rank0, SF_FLOAT32, name);
        }
        sf_tensor_release(rank0);
        RUN(rank16, fn(ONES17, SF_MAX_NDIM, SF_FLOAT64, &OUT));
        CHECK_TENSOR(rank16, ONES17, SF_MAX_NDIM, isnan(SHAPED[k].value) ? NULL : &SHAPED[k].value, 0, name);
        sf_tensor_release(rank16);
        /* values in every dtype the function accepts */
        for (int dtype = SF_FLOAT32; dtype <= SF_BOOL; dtype++) {
            int accepted = !SHAPED[k].float_only || dtype <= SF_FLOAT64;
            if (!accepted) {
                FAILS(SF_ERR_DTYPE, name, fn(S23, 2, (sf_dtype)dtype, &OUT));
                continue;
            }
            if (isnan(SHAPED[k].value)) continue;
            double expected[6];
            for (int i = 0; i < 6; i++) expected[i] = dtype == SF_BOOL ? SHAPED[k].value != 0 : SHAPED[k].value;
            RUN(t, fn(S23, 2, (sf_dtype)dtype, &OUT));
            CHECK_TENSOR(t, S23, 2, expected, 0, name);
            CHECK_DTYPE(t, (sf_dtype)dtype, name);
            sf_tensor_release(t);
        }
    }
    {
        RUN(t, sf_scalar(-2.25, &OUT));
        CHECK_TENSOR(t, NULL, 0, (double[]){-2.25}, 0, "sf_scalar");
        CHECK_DTYPE(t, SF_FLOAT64, "sf_scalar is float64");
        sf_tensor_release(t);
        RUN(i, sf_full(S2, 1, -2.9, SF_INT32, &OUT)); /* converted toward zero */
        CHECK_TENSOR(i, S2, 1, ((double[]){-2, -2}), 0, "sf_full int32");
        sf_tensor_release(i);
    }

    /* arange */
    {
        RUN(a, sf_arange(0, 5, 1.5, SF_FLOAT64, &OUT));
        CHECK_TENSOR(a, (int64_t[]){4}, 1, ((double[]){0, 1.5, 3, 4.5}), TOL, "sf_arange up");
        sf_tensor_release(a);
        RUN(d, sf_arange(5, 0, -2, SF_INT64, &OUT));
        CHECK_TENSOR(d, S3, 1, ((double[]){5, 3, 1}), 0, "sf_arange down");
        CHECK_DTYPE(d, SF_INT64, "sf_arange int64");
        sf_tensor_release(d);
        RUN(e, sf_arange(2, 2, 1, SF_FLOAT32, &OUT));
        CHECK_TENSOR(e, S0, 1, NULL, 0, "sf_arange empty");
        sf_tensor_release(e);
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_arange", sf_arange(0, 5, 0, SF_FLOAT64, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_arange", sf_arange(NAN, 5, 1, SF_FLOAT64, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_arange", sf_arange(0, INFINITY, 1, SF_FLOAT64, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_arange", sf_arange(0, 5, NAN, SF_FLOAT64, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_arange", sf_arange(0, 1e300, 1, SF_FLOAT64, &OUT));
        FAILS(SF_ERR_DTYPE, "sf_arange", sf_arange(0, 5, 1, (sf_dtype)99, &OUT));
    }

    /* eye */
    {
        RUN(t, sf_eye(2, 3, SF_FLOAT32, &OUT));
        CHECK_TENSOR(t, S23, 2, ((double[]){1, 0, 0, 0, 1, 0}), 0, "sf_eye");
        sf_tensor_release(t);
        RUN(e, sf_eye(0, 3, SF_FLOAT64, &OUT));
        CHECK_TENSOR(e, S03, 2, NULL, 0, "sf_eye empty");
        sf_tensor_release(e);
        /* n and m are arguments, not a shape array: a negative one is an invalid argument */
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_eye", sf_eye(-1, 2, SF_FLOAT64, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_eye", sf_eye(2, -1, SF_FLOAT64, &OUT));
        /* REGRESSION (fixed): n * m = 2^80 elements is past int64 (SF_ERR_SHAPE); sf_eye instead tries to
         * allocate an arange of 2^40 elements and fails with SF_ERR_OUT_OF_MEMORY,
         * "sf_arange: cannot allocate 8796093022208 bytes" (the wrong status and function). */
        FAILS(SF_ERR_SHAPE, "sf_eye", sf_eye((int64_t)1 << 40, (int64_t)1 << 40, SF_FLOAT64, &OUT));
        FAILS(SF_ERR_DTYPE, "sf_eye", sf_eye(2, 2, (sf_dtype)99, &OUT));
    }

    /* linspace */
    {
        RUN(t, sf_linspace(-1, 1, 5, SF_FLOAT64, &OUT));
        CHECK_TENSOR(t, (int64_t[]){5}, 1, ((double[]){-1, -0.5, 0, 0.5, 1}), TOL, "sf_linspace");
        sf_tensor_release(t);
        RUN(one, sf_linspace(3, 9, 1, SF_FLOAT64, &OUT));
        CHECK_TENSOR(one, (int64_t[]){1}, 1, ((double[]){3}), 0, "sf_linspace 1 step");
        sf_tensor_release(one);
        RUN(e, sf_linspace(0, 1, 0, SF_FLOAT64, &OUT));
        CHECK_TENSOR(e, S0, 1, NULL, 0, "sf_linspace 0 steps");
        sf_tensor_release(e);
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_linspace", sf_linspace(0, 1, -1, SF_FLOAT64, &OUT));
        FAILS(SF_ERR_DTYPE, "sf_linspace", sf_linspace(0, 1, 5, (sf_dtype)99, &OUT));
    }

    /* cast: floats truncate toward zero, anything to bool is x != 0, same dtype is the input */
    {
        RUN(i, sf_cast(X, SF_INT32, &OUT));
        CHECK_TENSOR(i, S23, 2, ((double[]){0, -2, 1, 2, 0, 0}), 0, "sf_cast to int32");
        CHECK_DTYPE(i, SF_INT32, "sf_cast to int32");
        sf_tensor_release(i);
        RUN(b, sf_cast(XI, SF_BOOL, &OUT));
        CHECK_TENSOR(b, S23, 2, ((double[]){1, 1, 0, 1, 1, 1}), 0, "sf_cast to bool");
        sf_tensor_release(b);
        RUN(f, sf_cast(XB, SF_FLOAT32, &OUT));
        CHECK_TENSOR(f, S23, 2, ((double[]){1, 0, 0, 1, 1, 0}), 0, "sf_cast bool to float32");
        sf_tensor_release(f);
        RUN(same, sf_cast(X, SF_FLOAT64, &OUT));
        CHECK(same == X);
        sf_tensor_release(same);
        RUN(e, sf_cast(E, SF_INT64, &OUT));
        CHECK_TENSOR(e, S03, 2, NULL, 0, "sf_cast empty");
        sf_tensor_release(e);
        FAILS(SF_ERR_DTYPE, "sf_cast", sf_cast(X, (sf_dtype)99, &OUT));
        FAILS(SF_ERR_DTYPE, "sf_cast", sf_cast(X, (sf_dtype)5, &OUT));
    }
}

/* ------------------------------------------------------------------------------------------------
 * Allocation failures: results of 2^40 float64 elements (8 TiB) fit in int64 but cannot be
 * allocated, so they must fail with SF_ERR_OUT_OF_MEMORY naming the function called. Skipped when
 * the kernel overcommits unconditionally (vm.overcommit_memory = 1), where such a request could
 * succeed and then exhaust memory. Under ASan, __asan_default_options below lets malloc fail.
 * ---------------------------------------------------------------------------------------------- */

const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

static int huge_allocations_fail(void) {
    FILE *f = fopen("/proc/sys/vm/overcommit_memory", "r");
    int mode = 0;
    if (f) {
        if (fscanf(f, "%d", &mode) != 1) mode = 0;
        fclose(f);
    }
    return mode != 1;
}

static void test_allocation_failures(void) {
    if (!huge_allocations_fail()) {
        printf("test_allocation_failures: skipped (vm.overcommit_memory = 1)\n");
        return;
    }
    const int64_t big[1] = {(int64_t)1 << 40};
    /* REGRESSION (fixed): sf_zeros and sf_ones report "sf_full: cannot allocate 8796093022208 bytes" */
    for (size_t k = 0; k < COUNT(SHAPED); k++)
        FAILS_MSG(SF_ERR_OUT_OF_MEMORY, SHAPED[k].name, "allocate", SHAPED[k].fn(big, 1, SF_FLOAT64, &OUT));
    /* REGRESSION (fixed): sf_linspace reports "sf_arange: cannot allocate ..." */
    FAILS(SF_ERR_OUT_OF_MEMORY, "sf_linspace", sf_linspace(0, 1, big[0], SF_FLOAT64, &OUT));
    /* REGRESSION (fixed): sf_eye reports the failure of the op it is made of (sf_eq) */
    FAILS(SF_ERR_OUT_OF_MEMORY, "sf_eye", sf_eye((int64_t)1 << 20, (int64_t)1 << 23, SF_FLOAT64, &OUT));
    sf_tensor *wide = NULL;
    CHECK_OK(sf_expand(Y, (int64_t[]){(int64_t)1 << 38, 3}, 2, &wide)); /* a view: no allocation */
    FAILS(SF_ERR_OUT_OF_MEMORY, "sf_exp", sf_exp(wide, &OUT));
    FAILS(SF_ERR_OUT_OF_MEMORY, "sf_add", sf_add(wide, Y, &OUT));
    FAILS(SF_ERR_OUT_OF_MEMORY, "sf_cast", sf_cast(wide, SF_FLOAT32, &OUT));
    sf_tensor *const two[2] = {wide, wide};
    FAILS(SF_ERR_OUT_OF_MEMORY, "sf_cat", sf_cat(two, 2, 0, &OUT));
    FAILS(SF_ERR_OUT_OF_MEMORY, "sf_pad", sf_pad(Y, (int64_t[]){(int64_t)1 << 40, 0}, 2, 0, &OUT));
    sf_tensor_release(wide);
}

/* ------------------------------------------------------------------------------------------------
 * Random numbers
 * ---------------------------------------------------------------------------------------------- */

static void test_random(void) {
    const int64_t big[1] = {4000};
    static double v[4000];
    /* the same seed gives the same values; rand is in [0, 1), randn looks standard normal */
    CHECK_OK(sf_manual_seed(42));
    RUN(r1, sf_rand(big, 1, SF_FLOAT64, &OUT));
    CHECK_OK(sf_manual_seed(42));
    RUN(r2, sf_rand(big, 1, SF_FLOAT64, &OUT));
    static double w[4000];
    if (CHECK(read_values(r1, v, 4000) == 4000 && read_values(r2, w, 4000) == 4000)) {
        int same = 1, in_range = 1;
        double mean = 0;
        for (int i = 0; i < 4000; i++) {
            same &= v[i] == w[i];
            in_range &= v[i] >= 0 && v[i] < 1;
            mean += v[i] / 4000;
        }
        CHECK(same);
        CHECK(in_range);
        CHECK(fabs(mean - 0.5) < 0.05);
    }
    sf_tensor_release(r1);
    sf_tensor_release(r2);
    RUN(n, sf_randn(big, 1, SF_FLOAT32, &OUT));
    CHECK_DTYPE(n, SF_FLOAT32, "sf_randn float32");
    if (CHECK(read_values(n, v, 4000) == 4000)) {
        double mean = 0, var = 0;
        int negatives = 0;
        for (int i = 0; i < 4000; i++) mean += v[i] / 4000, negatives += v[i] < 0;
        for (int i = 0; i < 4000; i++) var += (v[i] - mean) * (v[i] - mean) / 3999;
        CHECK(fabs(mean) < 0.1);
        CHECK(fabs(var - 1) < 0.15);
        CHECK(negatives > 1600 && negatives < 2400);
    }
    sf_tensor_release(n);

    /* bernoulli: p in {0, 1} is deterministic; p must be a float tensor */
    {
        const double p01[4] = {0, 1, 1, 0};
        sf_tensor *p = make64(p01, (int64_t[]){4}, 1);
        RUN(b, sf_bernoulli(p, &OUT));
        CHECK_TENSOR(b, (int64_t[]){4}, 1, p01, 0, "sf_bernoulli");
        sf_tensor_release(b);
        sf_tensor_release(p);
        FAILS(SF_ERR_DTYPE, "sf_bernoulli", sf_bernoulli(XI, &OUT));
        FAILS(SF_ERR_DTYPE, "sf_bernoulli", sf_bernoulli(XB, &OUT));
        RUN(e, sf_bernoulli(E, &OUT));
        CHECK_TENSOR(e, S03, 2, NULL, 0, "sf_bernoulli empty");
        sf_tensor_release(e);
    }

    /* dropout */
    {
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_dropout", sf_dropout(X, -0.1, true, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_dropout", sf_dropout(X, 1.5, true, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_dropout", sf_dropout(X, NAN, true, &OUT));
        RUN(off, sf_dropout(X, 0.5, false, &OUT));
        CHECK_TENSOR(off, S23, 2, X_VALUES, 0, "sf_dropout not training");
        sf_tensor_release(off);
        RUN(p0, sf_dropout(X, 0, true, &OUT));
        CHECK_TENSOR(p0, S23, 2, X_VALUES, 0, "sf_dropout p = 0");
        sf_tensor_release(p0);
        RUN(p1, sf_dropout(X, 1, true, &OUT));
        CHECK_TENSOR(p1, S23, 2, ((double[]){0, 0, 0, 0, 0, 0}), 0, "sf_dropout p = 1");
        sf_tensor_release(p1);
        sf_tensor *ones = NULL;
        CHECK_OK(sf_ones(big, 1, SF_FLOAT64, &ones));
        RUN(half, sf_dropout(ones, 0.25, true, &OUT));
        if (CHECK(read_values(half, v, 4000) == 4000)) {
            int zeros = 0, others = 0;
            for (int i = 0; i < 4000; i++) zeros += v[i] == 0, others += close_to(v[i], 1 / 0.75, TOL);
            CHECK_EQ(zeros + others, 4000);
            CHECK(zeros > 800 && zeros < 1200);
        }
        sf_tensor_release(half);
        sf_tensor_release(ones);
        RUN(e, sf_dropout(E, 0.5, true, &OUT));
        CHECK_TENSOR(e, S03, 2, NULL, 0, "sf_dropout empty");
        sf_tensor_release(e);
    }
}

/* ------------------------------------------------------------------------------------------------
 * Unary ops: one table with each op's C reference and its dtype rule.
 * ---------------------------------------------------------------------------------------------- */

enum unary_kind {
    KEEPS_INT,  /* neg, abs, relu, floor, ceil, round: integers keep their dtype, bool is refused */
    KEEPS_ALL,  /* sign: integers and bool keep their dtype */
    PROMOTES,   /* integers and bool give float32 */
    FLOAT_ONLY, /* silu, gelu */
};

static double ref_neg(double x) { return -x; }
static double ref_sigmoid(double x) { return 1 / (1 + exp(-x)); }
static double ref_rsqrt(double x) { return 1 / sqrt(x); }
static double ref_sign(double x) { return (x > 0) - (x < 0); }
static double ref_relu(double x) { return x > 0 ? x : 0; }
static double ref_round(double x) { return nearbyint(x); } /* half to even in the default mode */
static double ref_silu(double x) { return x / (1 + exp(-x)); }
static double ref_gelu(double x) { return 0.5 * x * (1 + erf(x / sqrt(2.0))); }
static double ref_gelu_tanh(double x) {
    return 0.5 * x * (1 + tanh(sqrt(2 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
}
static sf_status gelu_exact(sf_tensor *x, sf_tensor **out) { return sf_gelu(x, false, out); }
static sf_status gelu_tanh(sf_tensor *x, sf_tensor **out) { return sf_gelu(x, true, out); }

static const struct {
    const char *name;
    unary_fn fn;
    double (*ref)(double);
    enum unary_kind kind;
} UNARY[] = {
    {"sf_neg", sf_neg, ref_neg, KEEPS_INT},       {"sf_exp", sf_exp, exp, PROMOTES},
    {"sf_log", sf_log, log, PROMOTES},            {"sf_log1p", sf_log1p, log1p, PROMOTES},
    {"sf_expm1", sf_expm1, expm1, PROMOTES},      {"sf_sin", sf_sin, sin, PROMOTES},
    {"sf_cos", sf_cos, cos, PROMOTES},            {"sf_tan", sf_tan, tan, PROMOTES},
    {"sf_tanh", sf_tanh, tanh, PROMOTES},         {"sf_sigmoid", sf_sigmoid, ref_sigmoid, PROMOTES},
    {"sf_sqrt", sf_sqrt, sqrt, PROMOTES},         {"sf_rsqrt", sf_rsqrt, ref_rsqrt, PROMOTES},
    {"sf_abs", sf_abs, fabs, KEEPS_INT},          {"sf_sign", sf_sign, ref_sign, KEEPS_ALL},
    {"sf_relu", sf_relu, ref_relu, KEEPS_INT},    {"sf_floor", sf_floor, floor, KEEPS_INT},
    {"sf_ceil", sf_ceil, ceil, KEEPS_INT},        {"sf_round", sf_round, ref_round, KEEPS_INT},
    {"sf_silu", sf_silu, ref_silu, FLOAT_ONLY},   {"sf_gelu", gelu_exact, ref_gelu, FLOAT_ONLY},
    {"sf_gelu", gelu_tanh, ref_gelu_tanh, FLOAT_ONLY},
};

static void test_unary(void) {
    /* values: half-way points for round, both signs, and domain edges (log, sqrt of negatives) */
    const double in[8] = {-2.5, -0.6, -0.0, 0.25, 0.5, 1.5, 2.5, 3.7};
    const int64_t s8[1] = {8};
    sf_tensor *x64 = make64(in, s8, 1);
    sf_tensor *x32 = make(SF_FLOAT32, in, s8, 1);
    sf_tensor *xi = make(SF_INT32, (double[]){-3, 0, 2, 5}, (int64_t[]){4}, 1);
    sf_tensor *xb = make(SF_BOOL, (double[]){1, 0}, S2, 1);
    sf_tensor *x0 = make64((double[]){0.75}, NULL, 0);
    for (size_t k = 0; k < COUNT(UNARY); k++) {
        const char *name = UNARY[k].name;
        double expected[8];
        for (int i = 0; i < 8; i++) expected[i] = UNARY[k].ref(in[i]);
        RUN(r64, UNARY[k].fn(x64, &OUT));
        CHECK_TENSOR(r64, s8, 1, expected, TOL, name);
        CHECK_DTYPE(r64, SF_FLOAT64, name);
        sf_tensor_release(r64);
        RUN(r32, UNARY[k].fn(x32, &OUT));
        for (int i = 0; i < 8; i++) expected[i] = UNARY[k].ref((float)in[i]);
        CHECK_TENSOR(r32, s8, 1, expected, 1e-6, name);
        CHECK_DTYPE(r32, SF_FLOAT32, name);
        sf_tensor_release(r32);
        RUN(r0, UNARY[k].fn(x0, &OUT));
        CHECK_TENSOR(r0, NULL, 0, ((double[]){UNARY[k].ref(0.75)}), TOL, name);
        sf_tensor_release(r0);
        RUN(re, UNARY[k].fn(E, &OUT));
        CHECK_TENSOR(re, S03, 2, NULL, 0, name);
        sf_tensor_release(re);
        /* integers */
        const double ints[4] = {-3, 0, 2, 5};
        for (int i = 0; i < 4; i++) expected[i] = UNARY[k].ref(ints[i]);
        if (UNARY[k].kind == FLOAT_ONLY) {
            FAILS(SF_ERR_DTYPE, name, UNARY[k].fn(xi, &OUT));
        } else {
            RUN(ri, UNARY[k].fn(xi, &OUT));
            CHECK_TENSOR(ri, (int64_t[]){4}, 1, expected, 1e-6, name);
            CHECK_DTYPE(ri, UNARY[k].kind == PROMOTES ? SF_FLOAT32 : SF_INT32, name);
            sf_tensor_release(ri);
        }
        /* bool */
        expected[0] = UNARY[k].ref(1), expected[1] = UNARY[k].ref(0);
        if (UNARY[k].kind == FLOAT_ONLY || UNARY[k].kind == KEEPS_INT) {
            FAILS(SF_ERR_DTYPE, name, UNARY[k].fn(xb, &OUT));
        } else {
            RUN(rb, UNARY[k].fn(xb, &OUT));
            CHECK_TENSOR(rb, S2, 1, expected, 1e-6, name);
            CHECK_DTYPE(rb, UNARY[k].kind == PROMOTES ? SF_FLOAT32 : SF_BOOL, name);
            sf_tensor_release(rb);
        }
    }
    sf_tensor *all[] = {x64, x32, xi, xb, x0};
    for (size_t i = 0; i < COUNT(all); i++) sf_tensor_release(all[i]);
}

/* ------------------------------------------------------------------------------------------------
 * Binary ops: one table with each op's C reference and its dtype rule.
 * ---------------------------------------------------------------------------------------------- */

enum binary_kind {
    ARITH,    /* add, mul, maximum, minimum: integers keep their dtype, bools work */
    NO_BOOL,  /* sub, pow: as ARITH but bools are refused */
    TO_FLOAT, /* div, atan2: integers give float32 */
    COMPARE,  /* comparisons: bool results */
};

static double ref_add(double a, double b) { return a + b; }
static double ref_sub(double a, double b) { return a - b; }
static double ref_mul(double a, double b) { return a * b; }
static double ref_div(double a, double b) { return a / b; }
static double ref_max(double a, double b) { return isnan(a) || isnan(b) ? NAN : fmax(a, b); }
static double ref_min(double a, double b) { return isnan(a) || isnan(b) ? NAN : fmin(a, b); }
static double ref_lt(double a, double b) { return a < b; }
static double ref_le(double a, double b) { return a <= b; }
static double ref_gt(double a, double b) { return a > b; }
static double ref_ge(double a, double b) { return a >= b; }
static double ref_eq(double a, double b) { return a == b; }
static double ref_ne(double a, double b) { return a != b; }

static const struct {
    const char *name;
    binary_fn fn;
    double (*ref)(double, double);
    enum binary_kind kind;
} BINARY[] = {
    {"sf_add", sf_add, ref_add, ARITH},        {"sf_sub", sf_sub, ref_sub, NO_BOOL},
    {"sf_mul", sf_mul, ref_mul, ARITH},        {"sf_div", sf_div, ref_div, TO_FLOAT},
    {"sf_pow", sf_pow, pow, NO_BOOL},          {"sf_maximum", sf_maximum, ref_max, ARITH},
    {"sf_minimum", sf_minimum, ref_min, ARITH}, {"sf_atan2", sf_atan2, atan2, TO_FLOAT},
    {"sf_lt", sf_lt, ref_lt, COMPARE},         {"sf_le", sf_le, ref_le, COMPARE},
    {"sf_gt", sf_gt, ref_gt, COMPARE},         {"sf_ge", sf_ge, ref_ge, COMPARE},
    {"sf_eq", sf_eq, ref_eq, COMPARE},         {"sf_ne", sf_ne, ref_ne, COMPARE},
};

static void test_binary(void) {
    sf_tensor *bad = make64(X_VALUES, S2, 1);                            /* [2]: does not broadcast with [2, 3] */
    sf_tensor *yi = make(SF_INT64, (double[]){2, 3, 1}, S3, 1);          /* small positive exponents */
    sf_tensor *bools = make(SF_BOOL, (double[]){1, 1, 0}, S3, 1);
    sf_tensor *x32 = make(SF_FLOAT32, X_VALUES, S23, 2);
    sf_tensor *nan1 = make64((double[]){NAN}, (int64_t[]){1}, 1);
    const double xi[6] = {3, -2, 0, 7, -5, 1}, yiv[3] = {2, 3, 1}, xb[6] = {1, 0, 0, 1, 1, 0}, yb[3] = {1, 1, 0};
    for (size_t k = 0; k < COUNT(BINARY); k++) {
        const char *name = BINARY[k].name;
        binary_fn fn = BINARY[k].fn;
        enum binary_kind kind = BINARY[k].kind;
        double expected[6];
        /* [2, 3] op [3] and [3] op [2, 3], float64 */
        for (int i = 0; i < 6; i++) expected[i] = BINARY[k].ref(X_VALUES[i], Y_VALUES[i % 3]);
        RUN(r, fn(X, Y, &OUT));
        CHECK_TENSOR(r, S23, 2, expected, TOL, name);
        CHECK_DTYPE(r, kind == COMPARE ? SF_BOOL : SF_FLOAT64, name);
        sf_tensor_release(r);
        for (int i = 0; i < 6; i++) expected[i] = BINARY[k].ref(Y_VALUES[i % 3], X_VALUES[i]);
        RUN(rr, fn(Y, X, &OUT));
        CHECK_TENSOR(rr, S23, 2, expected, TOL, name);
        sf_tensor_release(rr);
        /* float32 with float64 gives float64 */
        RUN(mixed, fn(x32, Y, &OUT));
        CHECK_DTYPE(mixed, kind == COMPARE ? SF_BOOL : SF_FLOAT64, name);
        sf_tensor_release(mixed);
        /* NaN: maximum/minimum propagate it, comparisons are false except ne */
        RUN(withnan, fn(X, nan1, &OUT));
        for (int i = 0; i < 6; i++) expected[i] = BINARY[k].ref(X_VALUES[i], NAN);
        CHECK_TENSOR(withnan, S23, 2, expected, TOL, name);
        sf_tensor_release(withnan);
        /* integers */
        for (int i = 0; i < 6; i++) expected[i] = BINARY[k].ref(xi[i], yiv[i % 3]);
        RUN(ri, fn(XI, yi, &OUT));
        CHECK_TENSOR(ri, S23, 2, expected, 1e-6, name);
        CHECK_DTYPE(ri, kind == COMPARE ? SF_BOOL : kind == TO_FLOAT ? SF_FLOAT32 : SF_INT64, name);
        sf_tensor_release(ri);
        /* bools */
        if (kind == NO_BOOL) {
            FAILS(SF_ERR_DTYPE, name, fn(XB, bools, &OUT));
        } else {
            for (int i = 0; i < 6; i++) expected[i] = BINARY[k].ref(xb[i], yb[i % 3]);
            if (kind == ARITH) /* add is or, mul is and, maximum or, minimum and */
                for (int i = 0; i < 6; i++) expected[i] = expected[i] != 0;
            RUN(rb, fn(XB, bools, &OUT));
            CHECK_TENSOR(rb, S23, 2, expected, 1e-6, name);
            CHECK_DTYPE(rb, kind == TO_FLOAT ? SF_FLOAT32 : SF_BOOL, name);
            sf_tensor_release(rb);
        }
        /* shapes: unbroadcastable, empty, rank 0 */
        FAILS(SF_ERR_SHAPE, name, fn(X, bad, &OUT));
        FAILS(SF_ERR_SHAPE, name, fn(bad, X, &OUT));
        FAILS(SF_ERR_SHAPE, name, fn(E, X, &OUT));
        RUN(re, fn(E, Y, &OUT));
        CHECK_TENSOR(re, S03, 2, NULL, 0, name);
        sf_tensor_release(re);
    }
    /* an integer base with a negative integer exponent */
    FAILS(SF_ERR_INVALID_ARGUMENT, "sf_pow", sf_pow(yi, XI, &OUT));
    /* weak scalars take a float operand's dtype, and float32 with integers */
    {
        sf_tensor *two = NULL;
        CHECK_OK(sf_scalar(2, &two));
        RUN(f, sf_mul(x32, two, &OUT));
        CHECK_DTYPE(f, SF_FLOAT32, "scalar * float32 is float32");
        sf_tensor_release(f);
        RUN(i, sf_add(XI, two, &OUT));
        CHECK_DTYPE(i, SF_FLOAT32, "int64 + scalar is float32");
        CHECK_TENSOR(i, S23, 2, ((double[]){5, 0, 2, 9, -3, 3}), 0, "int64 + scalar");
        sf_tensor_release(i);
        RUN(p, sf_add(XI, Y, &OUT));
        CHECK_DTYPE(p, SF_FLOAT64, "int64 + float64 is float64");
        sf_tensor_release(p);
        sf_tensor_release(two);
    }
    sf_tensor *all[] = {bad, yi, bools, x32, nan1};
    for (size_t i = 0; i < COUNT(all); i++) sf_tensor_release(all[i]);
}

static void test_where(void) {
    double expected[6];
    const double c[6] = {1, 0, 0, 1, 1, 0};
    for (int i = 0; i < 6; i++) expected[i] = c[i] ? X_VALUES[i] : Y_VALUES[i % 3];
    RUN(w, sf_where(XB, X, Y, &OUT));
    CHECK_TENSOR(w, S23, 2, expected, 0, "sf_where");
    sf_tensor_release(w);
    /* the condition broadcasts too */
    sf_tensor *c3 = make(SF_BOOL, (double[]){0, 1, 0}, S3, 1);
    for (int i = 0; i < 6; i++) expected[i] = i % 3 == 1 ? X_VALUES[i] : Y_VALUES[i % 3];
    RUN(wb, sf_where(c3, X, Y, &OUT));
    CHECK_TENSOR(wb, S23, 2, expected, 0, "sf_where broadcast condition");
    sf_tensor_release(wb);
    FAILS(SF_ERR_DTYPE, "sf_where", sf_where(X, X, Y, &OUT));
    FAILS(SF_ERR_DTYPE, "sf_where", sf_where(XI, X, Y, &OUT));
    sf_tensor *bad = make64(X_VALUES, S2, 1);
    FAILS(SF_ERR_SHAPE, "sf_where", sf_where(XB, bad, Y, &OUT));
    FAILS(SF_ERR_SHAPE, "sf_where", sf_where(XB, X, bad, &OUT));
    sf_tensor *cb = make(SF_BOOL, (double[]){1, 0}, S2, 1);
    FAILS(SF_ERR_SHAPE, "sf_where", sf_where(cb, X, Y, &OUT));
    sf_tensor *ce = make(SF_BOOL, NULL, S03, 2);
    RUN(e, sf_where(ce, Y, Y, &OUT));
    CHECK_TENSOR(e, S03, 2, NULL, 0, "sf_where empty");
    sf_tensor_release(e);
    sf_tensor *all[] = {c3, bad, cb, ce};
    for (size_t i = 0; i < COUNT(all); i++) sf_tensor_release(all[i]);
}

/* ------------------------------------------------------------------------------------------------
 * Reductions: one table with each op's C reference over a vector of values.
 * ---------------------------------------------------------------------------------------------- */

static double red_sum(const double *v, int n) { double s = 0; for (int i = 0; i < n; i++) s += v[i]; return s; }
static double red_prod(const double *v, int n) { double p = 1; for (int i = 0; i < n; i++) p *= v[i]; return p; }
static double red_amax(const double *v, int n) { double m = v[0]; for (int i = 1; i < n; i++) m = v[i] > m ? v[i] : m; return m; }
static double red_amin(const double *v, int n) { double m = v[0]; for (int i = 1; i < n; i++) m = v[i] < m ? v[i] : m; return m; }
static double red_argmax(const double *v, int n) { int k = 0; for (int i = 1; i < n; i++) k = v[i] > v[k] ? i : k; return k; }
static double red_argmin(const double *v, int n) { int k = 0; for (int i = 1; i < n; i++) k = v[i] < v[k] ? i : k; return k; }
static double red_mean(const double *v, int n) { return red_sum(v, n) / n; }
static double red_var(const double *v, int n) {
    double m = red_mean(v, n), s = 0;
    for (int i = 0; i < n; i++) s += (v[i] - m) * (v[i] - m);
    return s / (n - 1);
}
static double red_std(const double *v, int n) { return sqrt(red_var(v, n)); }
static double red_lse(const double *v, int n) { double s = 0; for (int i = 0; i < n; i++) s += exp(v[i]); return log(s); }

static sf_status var_1(sf_tensor *x, const int64_t *d, size_t n, bool keep, sf_tensor **out) { return sf_var(x, d, n, 1, keep, out); }
static sf_status std_1(sf_tensor *x, const int64_t *d, size_t n, bool keep, sf_tensor **out) { return sf_std(x, d, n, 1, keep, out); }

static const struct {
    const char *name;
    reduce_fn fn;
    double (*ref)(const double *, int);
    double empty;        /* the value of an empty reduction; NAN+1 flag below */
    int empty_is_error;  /* amax/amin/argmax/argmin: an empty reduction is SF_ERR_SHAPE */
    int float_only;      /* mean: integers are refused */
} REDUCE[] = {
    {"sf_sum", sf_sum, red_sum, 0, 0, 0},          {"sf_prod", sf_prod, red_prod, 1, 0, 0},
    {"sf_amax", sf_amax, red_amax, 0, 1, 0},       {"sf_amin", sf_amin, red_amin, 0, 1, 0},
    {"sf_argmax", sf_argmax, red_argmax, 0, 1, 0}, {"sf_argmin", sf_argmin, red_argmin, 0, 1, 0},
    {"sf_mean", sf_mean, red_mean, NAN, 0, 1},     {"sf_var", var_1, red_var, NAN, 0, 0},
    /* REGRESSION (fixed): sf_std's bad-dims messages name sf_var ("sf_var: dim 2 is out of range ...") */
    {"sf_std", std_1, red_std, NAN, 0, 0},         {"sf_logsumexp", sf_logsumexp, red_lse, -INFINITY, 0, 0},
};

static void test_reductions(void) {
    const int64_t S13[2] = {1, 3}, S11[2] = {1, 1}, S21[2] = {2, 1};
    for (size_t k = 0; k < COUNT(REDUCE); k++) {
        const char *name = REDUCE[k].name;
        reduce_fn fn = REDUCE[k].fn;
        double (*ref)(const double *, int) = REDUCE[k].ref;
        double rows[2], cols[3], all[1], col[2];
        for (int i = 0; i < 2; i++) rows[i] = ref(X_VALUES + 3 * i, 3);
        for (int j = 0; j < 3; j++) col[0] = X_VALUES[j], col[1] = X_VALUES[3 + j], cols[j] = ref(col, 2);
        all[0] = ref(X_VALUES, 6);
        RUN(r1, fn(X, (int64_t[]){1}, 1, false, &OUT));
        CHECK_TENSOR(r1, S2, 1, rows, TOL, name);
        sf_tensor_release(r1);
        RUN(r1k, fn(X, (int64_t[]){-1}, 1, true, &OUT));
        CHECK_TENSOR(r1k, S21, 2, rows, TOL, name);
        sf_tensor_release(r1k);
        RUN(r0k, fn(X, (int64_t[]){0}, 1, true, &OUT));
        CHECK_TENSOR(r0k, S13, 2, cols, TOL, name);
        sf_tensor_release(r0k);
        RUN(rall, fn(X, NULL, 0, false, &OUT));
        CHECK_TENSOR(rall, NULL, 0, all, TOL, name);
        sf_tensor_release(rall);
        RUN(rboth, fn(X, (int64_t[]){-1, 0}, 2, true, &OUT));
        CHECK_TENSOR(rboth, S11, 2, all, TOL, name);
        sf_tensor_release(rboth);
        /* bad dims */
        FAILS(SF_ERR_INVALID_ARGUMENT, name, fn(X, (int64_t[]){2}, 1, false, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, name, fn(X, (int64_t[]){-3}, 1, false, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, name, fn(X, (int64_t[]){INT64_MIN}, 1, false, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, name, fn(X, (int64_t[]){0, 0}, 2, false, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, name, fn(X, (int64_t[]){1, -1}, 2, false, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, name, fn(X, NULL, 1, false, &OUT));
        /* integers */
        if (REDUCE[k].float_only) FAILS(SF_ERR_DTYPE, name, fn(XI, NULL, 0, false, &OUT));
        /* zero-size: reducing the empty dim, and reducing a full dim of an empty tensor */
        if (REDUCE[k].empty_is_error) {
            FAILS(SF_ERR_SHAPE, name, fn(E, (int64_t[]){0}, 1, false, &OUT));
            FAILS(SF_ERR_SHAPE, name, fn(E, NULL, 0, false, &OUT));
        } else {
            const double e3[3] = {REDUCE[k].empty, REDUCE[k].empty, REDUCE[k].empty};
            RUN(re, fn(E, (int64_t[]){0}, 1, false, &OUT));
            CHECK_TENSOR(re, S3, 1, e3, 0, name);
            sf_tensor_release(re);
        }
        RUN(re1, fn(E, (int64_t[]){1}, 1, false, &OUT));
        CHECK_TENSOR(re1, S0, 1, NULL, 0, name);
        sf_tensor_release(re1);
    }
    /* result dtypes: sum/prod of bool and int32 give int64; arg* give int64 */
    {
        sf_tensor *i32 = make(SF_INT32, (double[]){3, -2, 0, 7, -5, 1}, S23, 2);
        RUN(s, sf_sum(i32, NULL, 0, false, &OUT));
        CHECK_DTYPE(s, SF_INT64, "sf_sum of int32 is int64");
        CHECK_TENSOR(s, NULL, 0, ((double[]){4}), 0, "sf_sum of int32");
        sf_tensor_release(s);
        RUN(p, sf_prod(XB, (int64_t[]){1}, 1, false, &OUT));
        CHECK_DTYPE(p, SF_INT64, "sf_prod of bool is int64");
        CHECK_TENSOR(p, S2, 1, ((double[]){0, 0}), 0, "sf_prod of bool");
        sf_tensor_release(p);
        RUN(a, sf_argmax(i32, (int64_t[]){0}, 1, false, &OUT));
        CHECK_DTYPE(a, SF_INT64, "sf_argmax is int64");
        CHECK_TENSOR(a, S3, 1, ((double[]){1, 0, 1}), 0, "sf_argmax of int32");
        sf_tensor_release(a);
        sf_tensor_release(i32);
        /* var/std correction: 0 is the biased estimate */
        double m = red_mean(X_VALUES, 6), s2 = 0;
        for (int i = 0; i < 6; i++) s2 += (X_VALUES[i] - m) * (X_VALUES[i] - m);
        RUN(v0, sf_var(X, NULL, 0, 0, false, &OUT));
        CHECK_TENSOR(v0, NULL, 0, ((double[]){s2 / 6}), TOL, "sf_var correction 0");
        sf_tensor_release(v0);
        RUN(d2, sf_std(X, NULL, 0, 2, false, &OUT));
        CHECK_TENSOR(d2, NULL, 0, ((double[]){sqrt(s2 / 4)}), TOL, "sf_std correction 2");
        sf_tensor_release(d2);
    }
}

/* softmax and log_softmax along one dim */
static void test_softmax(void) {
    static const struct {
        const char *name;
        sf_status (*fn)(sf_tensor *, int64_t, sf_tensor **);
        int log;
    } SOFTMAX[] = {{"sf_softmax", sf_softmax, 0}, {"sf_log_softmax", sf_log_softmax, 1}};
    for (size_t k = 0; k < COUNT(SOFTMAX); k++) {
        const char *name = SOFTMAX[k].name;
        double by_row[6], by_col[6];
        for (int i = 0; i < 6; i++) {
            double row_lse = red_lse(X_VALUES + 3 * (i / 3), 3);
            double col[2] = {X_VALUES[i % 3], X_VALUES[3 + i % 3]};
            double col_lse = red_lse(col, 2);
            by_row[i] = SOFTMAX[k].log ? X_VALUES[i] - row_lse : exp(X_VALUES[i] - row_lse);
            by_col[i] = SOFTMAX[k].log ? X_VALUES[i] - col_lse : exp(X_VALUES[i] - col_lse);
        }
        RUN(r, SOFTMAX[k].fn(X, -1, &OUT));
        CHECK_TENSOR(r, S23, 2, by_row, TOL, name);
        sf_tensor_release(r);
        RUN(c, SOFTMAX[k].fn(X, 0, &OUT));
        CHECK_TENSOR(c, S23, 2, by_col, TOL, name);
        sf_tensor_release(c);
        FAILS(SF_ERR_INVALID_ARGUMENT, name, SOFTMAX[k].fn(X, 2, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, name, SOFTMAX[k].fn(X, -3, &OUT));
        RUN(e, SOFTMAX[k].fn(E, 1, &OUT));
        CHECK_TENSOR(e, S03, 2, NULL, 0, name);
        sf_tensor_release(e);
        RUN(e0, SOFTMAX[k].fn(E, 0, &OUT));
        CHECK_TENSOR(e0, S03, 2, NULL, 0, name);
        sf_tensor_release(e0);
    }
}

/* ------------------------------------------------------------------------------------------------
 * Movement
 * ---------------------------------------------------------------------------------------------- */

static const double XT_VALUES[6] = {0.5, 2.5, -2.5, 0.25, 1.5, -0.6}; /* X transposed, row-major */

static void test_movement(void) {
    const int64_t S32[2] = {3, 2}, S6[1] = {6};
    /* reshape */
    {
        RUN(r, sf_reshape(X, (int64_t[]){3, -1}, 2, &OUT));
        CHECK_TENSOR(r, S32, 2, X_VALUES, 0, "sf_reshape");
        sf_tensor_release(r);
        sf_tensor *xt = NULL;
        CHECK_OK(sf_transpose(X, 0, 1, &xt));
        RUN(flat, sf_reshape(xt, S6, 1, &OUT)); /* not viewable: copies */
        CHECK_TENSOR(flat, S6, 1, XT_VALUES, 0, "sf_reshape of a transpose");
        sf_tensor_release(flat);
        sf_tensor_release(xt);
        RUN(e, sf_reshape(E, (int64_t[]){3, 0, 1}, 3, &OUT));
        CHECK_TENSOR(e, ((int64_t[]){3, 0, 1}), 3, NULL, 0, "sf_reshape empty");
        sf_tensor_release(e);
        FAILS(SF_ERR_SHAPE, "sf_reshape", sf_reshape(X, (int64_t[]){4, 2}, 2, &OUT));
        FAILS(SF_ERR_SHAPE, "sf_reshape", sf_reshape(X, (int64_t[]){-1, -1}, 2, &OUT));
        FAILS(SF_ERR_SHAPE, "sf_reshape", sf_reshape(X, (int64_t[]){-2, -3}, 2, &OUT));
        FAILS(SF_ERR_SHAPE, "sf_reshape", sf_reshape(X, (int64_t[]){4, -1}, 2, &OUT));
        FAILS(SF_ERR_SHAPE, "sf_reshape", sf_reshape(X, (int64_t[]){3, -2}, 2, &OUT));
        FAILS(SF_ERR_SHAPE, "sf_reshape", sf_reshape(X, HUGE2, 2, &OUT));
        FAILS(SF_ERR_SHAPE, "sf_reshape", sf_reshape(X, ONES17, SF_MAX_NDIM + 1, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_reshape", sf_reshape(X, NULL, 2, &OUT));
    }
    /* permute and transpose */
    {
        RUN(p, sf_permute(X, (int64_t[]){-1, 0}, 2, &OUT));
        CHECK_TENSOR(p, S32, 2, XT_VALUES, 0, "sf_permute");
        sf_tensor_release(p);
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_permute", sf_permute(X, (int64_t[]){0, 0}, 2, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_permute", sf_permute(X, (int64_t[]){1, -1}, 2, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_permute", sf_permute(X, (int64_t[]){0, 2}, 2, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_permute", sf_permute(X, (int64_t[]){0}, 1, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_permute", sf_permute(X, (int64_t[]){0, 1, 2}, 3, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_permute", sf_permute(X, NULL, 2, &OUT));
        RUN(t, sf_transpose(X, -1, 0, &OUT));
        CHECK_TENSOR(t, S32, 2, XT_VALUES, 0, "sf_transpose");
        sf_tensor_release(t);
        RUN(same, sf_transpose(X, 1, 1, &OUT));
        CHECK_TENSOR(same, S23, 2, X_VALUES, 0, "sf_transpose of a dim with itself");
        sf_tensor_release(same);
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_transpose", sf_transpose(X, 0, 2, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_transpose", sf_transpose(X, -3, 0, &OUT));
    }
    /* expand */
    {
        double expected[12];
        for (int i = 0; i < 12; i++) expected[i] = X_VALUES[i % 6];
        RUN(e, sf_expand(X, (int64_t[]){2, -1, 3}, 3, &OUT));
        CHECK_TENSOR(e, ((int64_t[]){2, 2, 3}), 3, expected, 0, "sf_expand");
        sf_tensor_release(e);
        for (int i = 0; i < 6; i++) expected[i] = Y_VALUES[i % 3];
        RUN(y, sf_expand(Y, S23, 2, &OUT));
        CHECK_TENSOR(y, S23, 2, expected, 0, "sf_expand of [3]");
        sf_tensor_release(y);
        RUN(z, sf_expand(Y, (int64_t[]){0, 3}, 2, &OUT));
        CHECK_TENSOR(z, S03, 2, NULL, 0, "sf_expand to zero rows");
        sf_tensor_release(z);
        FAILS(SF_ERR_SHAPE, "sf_expand", sf_expand(X, S3, 1, &OUT));
        FAILS(SF_ERR_SHAPE, "sf_expand", sf_expand(X, (int64_t[]){4, 3}, 2, &OUT));
        FAILS(SF_ERR_SHAPE, "sf_expand", sf_expand(X, (int64_t[]){2, -2}, 2, &OUT));
        FAILS(SF_ERR_SHAPE, "sf_expand", sf_expand(X, (int64_t[]){-1, 2, 3}, 3, &OUT));
        FAILS(SF_ERR_SHAPE, "sf_expand", sf_expand(Y, (int64_t[]){(int64_t)1 << 40, (int64_t)1 << 40, 3}, 3, &OUT));
        FAILS(SF_ERR_SHAPE, "sf_expand", sf_expand(Y, ONES17, SF_MAX_NDIM + 1, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_expand", sf_expand(X, NULL, 2, &OUT));
    }
    /* squeeze and unsqueeze */
    {
        sf_tensor *t = NULL;
        CHECK_OK(sf_reshape(X, (int64_t[]){2, 1, 3, 1}, 4, &t));
        RUN(all, sf_squeeze(t, NULL, 0, &OUT));
        CHECK_TENSOR(all, S23, 2, X_VALUES, 0, "sf_squeeze all");
        sf_tensor_release(all);
        RUN(one, sf_squeeze(t, (int64_t[]){-1}, 1, &OUT));
        CHECK_TENSOR(one, ((int64_t[]){2, 1, 3}), 3, X_VALUES, 0, "sf_squeeze -1");
        sf_tensor_release(one);
        RUN(kept, sf_squeeze(t, (int64_t[]){0, 1}, 2, &OUT));
        CHECK_TENSOR(kept, ((int64_t[]){2, 3, 1}), 3, X_VALUES, 0, "sf_squeeze keeps non-1 dims");
        sf_tensor_release(kept);
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_squeeze", sf_squeeze(t, (int64_t[]){4}, 1, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_squeeze", sf_squeeze(t, (int64_t[]){-5}, 1, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_squeeze", sf_squeeze(t, (int64_t[]){1, -3}, 2, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_squeeze", sf_squeeze(t, NULL, 1, &OUT));
        sf_tensor_release(t);
        RUN(u, sf_unsqueeze(X, -1, &OUT));
        CHECK_TENSOR(u, ((int64_t[]){2, 3, 1}), 3, X_VALUES, 0, "sf_unsqueeze -1");
        sf_tensor_release(u);
        RUN(u0, sf_unsqueeze(X, -3, &OUT));
        CHECK_TENSOR(u0, ((int64_t[]){1, 2, 3}), 3, X_VALUES, 0, "sf_unsqueeze -3");
        sf_tensor_release(u0);
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_unsqueeze", sf_unsqueeze(X, 3, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_unsqueeze", sf_unsqueeze(X, -4, &OUT));
        sf_tensor *r16 = NULL;
        CHECK_OK(sf_ones(ONES17, SF_MAX_NDIM, SF_FLOAT32, &r16));
        /* REGRESSION (fixed): the message names sf_reshape ("sf_reshape: rank 17 exceeds the maximum of 16") */
        FAILS(SF_ERR_SHAPE, "sf_unsqueeze", sf_unsqueeze(r16, 0, &OUT));
        sf_tensor_release(r16);
    }
    /* slice: Python rules, clamped bounds, positive steps only */
    {
        RUN(s, sf_slice(X, 1, 0, 3, 2, &OUT));
        CHECK_TENSOR(s, ((int64_t[]){2, 2}), 2, ((double[]){0.5, 1.5, 2.5, -0.6}), 0, "sf_slice step 2");
        sf_tensor_release(s);
        RUN(n, sf_slice(X, -1, -2, 100, 1, &OUT));
        CHECK_TENSOR(n, ((int64_t[]){2, 2}), 2, ((double[]){-2.5, 1.5, 0.25, -0.6}), 0, "sf_slice negative start");
        sf_tensor_release(n);
        RUN(w, sf_slice(X, 0, INT64_MIN, INT64_MAX, INT64_MAX, &OUT));
        CHECK_TENSOR(w, ((int64_t[]){1, 3}), 2, X_VALUES, 0, "sf_slice extreme bounds");
        sf_tensor_release(w);
        RUN(e, sf_slice(X, 1, 2, 1, 1, &OUT));
        CHECK_TENSOR(e, ((int64_t[]){2, 0}), 2, NULL, 0, "sf_slice empty");
        sf_tensor_release(e);
        RUN(e2, sf_slice(E, 0, 0, 5, 1, &OUT));
        CHECK_TENSOR(e2, S03, 2, NULL, 0, "sf_slice of empty");
        sf_tensor_release(e2);
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_slice", sf_slice(X, 1, 0, 3, 0, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_slice", sf_slice(X, 1, 3, 0, -1, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_slice", sf_slice(X, 1, 0, 3, INT64_MIN, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_slice", sf_slice(X, 2, 0, 3, 1, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_slice", sf_slice(X, -3, 0, 3, 1, &OUT));
    }
    /* flip */
    {
        RUN(f, sf_flip(X, (int64_t[]){0, -1}, 2, &OUT));
        CHECK_TENSOR(f, S23, 2, ((double[]){-0.6, 0.25, 2.5, 1.5, -2.5, 0.5}), 0, "sf_flip both");
        sf_tensor_release(f);
        RUN(f1, sf_flip(X, (int64_t[]){1}, 1, &OUT));
        CHECK_TENSOR(f1, S23, 2, ((double[]){1.5, -2.5, 0.5, -0.6, 0.25, 2.5}), 0, "sf_flip 1");
        sf_tensor_release(f1);
        RUN(none, sf_flip(X, NULL, 0, &OUT));
        CHECK_TENSOR(none, S23, 2, X_VALUES, 0, "sf_flip no dims");
        sf_tensor_release(none);
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_flip", sf_flip(X, (int64_t[]){0, -2}, 2, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_flip", sf_flip(X, (int64_t[]){2}, 1, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_flip", sf_flip(X, NULL, 1, &OUT));
    }
    /* pad: (left, right) for the last dim first; negative pads crop */
    {
        RUN(p, sf_pad(X, (int64_t[]){1, 2}, 2, 9, &OUT));
        CHECK_TENSOR(p, ((int64_t[]){2, 6}), 2,
                     ((double[]){9, 0.5, -2.5, 1.5, 9, 9, 9, 2.5, 0.25, -0.6, 9, 9}), 0, "sf_pad last dim");
        sf_tensor_release(p);
        RUN(p2, sf_pad(X, (int64_t[]){-1, 0, 0, 1}, 4, -1, &OUT));
        CHECK_TENSOR(p2, ((int64_t[]){3, 2}), 2, ((double[]){-2.5, 1.5, 0.25, -0.6, -1, -1}), 0, "sf_pad crop and pad");
        sf_tensor_release(p2);
        RUN(pe, sf_pad(E, (int64_t[]){1, 1}, 2, 0, &OUT));
        CHECK_TENSOR(pe, ((int64_t[]){0, 5}), 2, NULL, 0, "sf_pad empty");
        sf_tensor_release(pe);
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_pad", sf_pad(X, (int64_t[]){1}, 1, 0, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_pad", sf_pad(X, (int64_t[]){1, 1, 1}, 3, 0, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_pad", sf_pad(X, (int64_t[]){1, 1, 1, 1, 1, 1}, 6, 0, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_pad", sf_pad(X, NULL, 2, 0, &OUT));
        FAILS(SF_ERR_SHAPE, "sf_pad", sf_pad(X, (int64_t[]){-2, -2}, 2, 0, &OUT));
        FAILS(SF_ERR_SHAPE, "sf_pad", sf_pad(X, (int64_t[]){INT64_MAX, 1}, 2, 0, &OUT));
        FAILS(SF_ERR_SHAPE, "sf_pad", sf_pad(X, (int64_t[]){INT64_MIN, 0}, 2, 0, &OUT));
        FAILS(SF_ERR_SHAPE, "sf_pad", sf_pad(X, (int64_t[]){(int64_t)1 << 40, 0, (int64_t)1 << 40, 0}, 4, 0, &OUT));
    }
    /* cat and stack */
    {
        sf_tensor *const xx[2] = {X, X};
        double rows[12], cols[12];
        for (int i = 0; i < 12; i++) rows[i] = X_VALUES[i % 6], cols[i] = X_VALUES[(i / 6) * 3 + i % 3];
        RUN(c0, sf_cat(xx, 2, 0, &OUT));
        CHECK_TENSOR(c0, ((int64_t[]){4, 3}), 2, rows, 0, "sf_cat dim 0");
        sf_tensor_release(c0);
        RUN(c1, sf_cat(xx, 2, -1, &OUT));
        CHECK_TENSOR(c1, ((int64_t[]){2, 6}), 2, cols, 0, "sf_cat dim -1");
        sf_tensor_release(c1);
        sf_tensor *const xe[3] = {E, X, E};
        RUN(ce, sf_cat(xe, 3, 0, &OUT));
        CHECK_TENSOR(ce, S23, 2, X_VALUES, 0, "sf_cat with empty tensors");
        sf_tensor_release(ce);
        sf_tensor *const xi[2] = {XI, X};
        RUN(cp, sf_cat(xi, 2, 0, &OUT));
        CHECK_DTYPE(cp, SF_FLOAT64, "sf_cat promotes");
        sf_tensor_release(cp);
        sf_tensor *const xy[2] = {X, Y};
        FAILS(SF_ERR_SHAPE, "sf_cat", sf_cat(xy, 2, 0, &OUT));
        sf_tensor *x22 = NULL;
        CHECK_OK(sf_slice(X, 1, 0, 2, 1, &x22));
        sf_tensor *const xs[2] = {X, x22};
        FAILS(SF_ERR_SHAPE, "sf_cat", sf_cat(xs, 2, 0, &OUT));
        RUN(c5, sf_cat(xs, 2, 1, &OUT));
        CHECK_TENSOR(c5, ((int64_t[]){2, 5}), 2, ((double[]){0.5, -2.5, 1.5, 0.5, -2.5, 2.5, 0.25, -0.6, 2.5, 0.25}), 0,
                     "sf_cat different sizes along dim");
        sf_tensor_release(c5);
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_cat", sf_cat(xx, 2, 2, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_cat", sf_cat(xx, 0, 0, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_cat", sf_cat(NULL, 2, 0, &OUT));

        double stacked[12];
        for (int i = 0; i < 12; i++) stacked[i] = X_VALUES[i / 2];
        RUN(s0, sf_stack(xx, 2, 0, &OUT));
        CHECK_TENSOR(s0, ((int64_t[]){2, 2, 3}), 3, rows, 0, "sf_stack dim 0");
        sf_tensor_release(s0);
        RUN(s2, sf_stack(xx, 2, -1, &OUT));
        CHECK_TENSOR(s2, ((int64_t[]){2, 3, 2}), 3, stacked, 0, "sf_stack dim -1");
        sf_tensor_release(s2);
        FAILS(SF_ERR_SHAPE, "sf_stack", sf_stack(xs, 2, 0, &OUT));
        FAILS(SF_ERR_SHAPE, "sf_stack", sf_stack(xy, 2, 0, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_stack", sf_stack(xx, 2, 3, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_stack", sf_stack(xx, 2, -4, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_stack", sf_stack(xx, 0, 0, &OUT));
        FAILS(SF_ERR_INVALID_ARGUMENT, "sf_stack", sf_stack(NULL, 2, 0, &OUT));
        sf_tensor *r16 = NULL;
        CHECK_OK(sf_ones(ONES17, SF_MAX_NDIM, SF_FLOAT32, &r16));
        sf_tensor *const rr[2] = {r16, r16};
        /* REGRESSION (fixed): the message names sf_reshape ("sf_reshape: rank 17 exceeds the maximum of 16") */
        FAILS(SF_ERR_SHAPE, "sf_stack", sf_stack(rr, 2, 0, &OUT));
        sf_tensor_release(r16);
        sf_tensor *const ee[2] = {E, E};
        RUN(se, sf_stack(ee, 2, 1, &OUT));
        CHECK_TENSOR(se, ((int64_t[]){0, 2, 3}), 3, NULL, 0, "sf_stack empty");
        sf_tensor_release(se);
        sf_tensor_release(x22);
    }
    /* detach */
    {
        RUN(d, sf_detach(X, &OUT));
        CHECK_TENSOR(d, S23, 2, X_VALUES, 0, "sf_detach");
        sf_tensor_release(d);
    }
}

/* ------------------------------------------------------------------------------------------------
 * Contraction: matmul and linear against C loops
 * ---------------------------------------------------------------------------------------------- */

/* c[m x n] = a[m x k] b[k x n], all row-major */
static void ref_matmul(const double *a, const double *b, double *c, int m, int k, int n) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int p = 0; p < k; p++) s += a[i * k + p] * b[p * n + j];
            c[i * n + j] = s;
        }
}

static void test_contraction(void) {
    double w[6], wt[6], expected[16];
    CHECK(read_values(W32, w, 6) == 6);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 2; j++) wt[i * 2 + j] = w[j * 3 + i];
    sf_tensor *b32 = NULL; /* W32 transposed: a non-contiguous [3, 2] */
    CHECK_OK(sf_transpose(W32, 0, 1, &b32));
    const int64_t S22[2] = {2, 2};
    ref_matmul(X_VALUES, wt, expected, 2, 3, 2);
    RUN(m, sf_matmul(X, b32, &OUT));
    CHECK_TENSOR(m, S22, 2, expected, TOL, "sf_matmul 2-D");
    sf_tensor_release(m);
    /* batched, broadcasting the batch of the left operand */
    sf_tensor *xb = NULL;
    CHECK_OK(sf_expand(X, (int64_t[]){3, 2, 3}, 3, &xb));
    double batched[12];
    for (int i = 0; i < 12; i++) batched[i] = expected[i % 4];
    RUN(mb, sf_matmul(xb, b32, &OUT));
    CHECK_TENSOR(mb, ((int64_t[]){3, 2, 2}), 3, batched, TOL, "sf_matmul batched");
    sf_tensor_release(mb);
    /* 1-D operands */
    ref_matmul(X_VALUES, Y_VALUES, expected, 2, 3, 1);
    RUN(mv, sf_matmul(X, Y, &OUT));
    CHECK_TENSOR(mv, S2, 1, expected, TOL, "sf_matmul matrix-vector");
    sf_tensor_release(mv);
    ref_matmul(Y_VALUES, wt, expected, 1, 3, 2);
    RUN(vm, sf_matmul(Y, b32, &OUT));
    CHECK_TENSOR(vm, S2, 1, expected, TOL, "sf_matmul vector-matrix");
    sf_tensor_release(vm);
    ref_matmul(Y_VALUES, Y_VALUES, expected, 1, 3, 1);
    RUN(dot, sf_matmul(Y, Y, &OUT));
    CHECK_TENSOR(dot, NULL, 0, expected, TOL, "sf_matmul dot");
    sf_tensor_release(dot);
    /* zero-size: no rows, and an empty inner dimension (a zero matrix) */
    RUN(e, sf_matmul(E, b32, &OUT));
    CHECK_TENSOR(e, ((int64_t[]){0, 2}), 2, NULL, 0, "sf_matmul no rows");
    sf_tensor_release(e);
    sf_tensor *a20 = make64(NULL, (int64_t[]){2, 0}, 2);
    RUN(z, sf_matmul(a20, E, &OUT));
    CHECK_TENSOR(z, S23, 2, ((double[]){0, 0, 0, 0, 0, 0}), 0, "sf_matmul empty inner dim");
    sf_tensor_release(z);
    /* float32 with float64 gives float64 */
    sf_tensor *x32 = make(SF_FLOAT32, X_VALUES, S23, 2);
    RUN(mixed, sf_matmul(x32, Y, &OUT));
    CHECK_DTYPE(mixed, SF_FLOAT64, "sf_matmul float32 @ float64");
    sf_tensor_release(mixed);
    /* bad shapes and dtypes */
    sf_tensor *s0 = make64((double[]){2}, NULL, 0);
    FAILS(SF_ERR_SHAPE, "sf_matmul", sf_matmul(X, X, &OUT));
    FAILS(SF_ERR_SHAPE, "sf_matmul", sf_matmul(Y, X, &OUT));
    FAILS(SF_ERR_SHAPE, "sf_matmul", sf_matmul(s0, X, &OUT));
    FAILS(SF_ERR_SHAPE, "sf_matmul", sf_matmul(X, s0, &OUT));
    sf_tensor *b2 = NULL;
    CHECK_OK(sf_expand(b32, (int64_t[]){2, 3, 2}, 3, &b2));
    FAILS(SF_ERR_SHAPE, "sf_matmul", sf_matmul(xb, b2, &OUT)); /* batches 3 and 2 */
    FAILS(SF_ERR_DTYPE, "sf_matmul", sf_matmul(XI, b32, &OUT));
    FAILS(SF_ERR_DTYPE, "sf_matmul", sf_matmul(X, XB, &OUT));

    /* linear: x @ weight^T + bias */
    sf_tensor *bias = make64((double[]){0.25, -1}, S2, 1);
    ref_matmul(X_VALUES, wt, expected, 2, 3, 2);
    for (int i = 0; i < 4; i++) expected[i] += i % 2 ? -1 : 0.25;
    RUN(l, sf_linear(X, W32, bias, &OUT));
    CHECK_TENSOR(l, S22, 2, expected, TOL, "sf_linear");
    sf_tensor_release(l);
    ref_matmul(Y_VALUES, wt, expected, 1, 3, 2);
    RUN(l1, sf_linear(Y, W32, NULL, &OUT));
    CHECK_TENSOR(l1, S2, 1, expected, TOL, "sf_linear 1-D, no bias");
    sf_tensor_release(l1);
    RUN(le, sf_linear(E, W32, bias, &OUT));
    CHECK_TENSOR(le, ((int64_t[]){0, 2}), 2, NULL, 0, "sf_linear empty");
    sf_tensor_release(le);
    /* REGRESSION (fixed): these three messages name sf_matmul, sf_add and sf_matmul instead of sf_linear */
    FAILS(SF_ERR_SHAPE, "sf_linear", sf_linear(X, b32, NULL, &OUT)); /* weight [3, 2] */
    FAILS(SF_ERR_SHAPE, "sf_linear", sf_linear(X, W32, Y, &OUT));    /* bias [3] */
    FAILS(SF_ERR_DTYPE, "sf_linear", sf_linear(XI, W32, NULL, &OUT));

    sf_tensor *all[] = {b32, xb, a20, x32, s0, b2, bias};
    for (size_t i = 0; i < COUNT(all); i++) sf_tensor_release(all[i]);
}

/* ------------------------------------------------------------------------------------------------
 * conv2d against a direct loop
 * ---------------------------------------------------------------------------------------------- */

typedef struct conv_case {
    int64_t n, c, h, w, o, kh, kw, stride[2], padding[2], dilation[2], groups;
    int bias;
} conv_case;

static int64_t conv_out(int64_t size, int64_t k, int64_t s, int64_t p, int64_t d) { return (size + 2 * p - d * (k - 1) - 1) / s + 1; }

static void ref_conv2d(const conv_case *cc, const double *x, const double *wt, const double *b, double *y) {
    int64_t oh = conv_out(cc->h, cc->kh, cc->stride[0], cc->padding[0], cc->dilation[0]);
    int64_t ow = conv_out(cc->w, cc->kw, cc->stride[1], cc->padding[1], cc->dilation[1]);
    int64_t cg = cc->c / cc->groups, og = cc->o / cc->groups;
    for (int64_t n = 0; n < cc->n; n++)
        for (int64_t o = 0; o < cc->o; o++)
            for (int64_t i = 0; i < oh; i++)
                for (int64_t j = 0; j < ow; j++) {
                    double s = b ? b[o] : 0;
                    for (int64_t c = 0; c < cg; c++)
                        for (int64_t p = 0; p < cc->kh; p++)
                            for (int64_t q = 0; q < cc->kw; q++) {
                                int64_t r = i * cc->stride[0] - cc->padding[0] + p * cc->dilation[0];
                                int64_t t = j * cc->stride[1] - cc->padding[1] + q * cc->dilation[1];
                                if (r < 0 || r >= cc->h || t < 0 || t >= cc->w) continue;
                                int64_t ci = (o / og) * cg + c;
                                s += x[((n * cc->c + ci) * cc->h + r) * cc->w + t] *
                                     wt[((o * cg + c) * cc->kh + p) * cc->kw + q];
                            }
                    y[((n * cc->o + o) * oh + i) * ow + j] = s;
                }
}

static void run_conv_case(const conv_case *cc, int line) {
    static double x[512], wt[512], b[16], y[2048];
    int64_t nx = cc->n * cc->c * cc->h * cc->w, nw = cc->o * (cc->c / cc->groups) * cc->kh * cc->kw;
    for (int64_t i = 0; i < nx; i++) x[i] = sin(0.7 * (double)i + 0.3);
    for (int64_t i = 0; i < nw; i++) wt[i] = cos(0.45 * (double)i - 0.2);
    for (int64_t i = 0; i < cc->o; i++) b[i] = 0.1 * (double)i - 0.3;
    sf_tensor *tx = make64(x, (int64_t[]){cc->n, cc->c, cc->h, cc->w}, 4);
    sf_tensor *tw = make64(wt, (int64_t[]){cc->o, cc->c / cc->groups, cc->kh, cc->kw}, 4);
    sf_tensor *tb = cc->bias ? make64(b, (int64_t[]){cc->o}, 1) : NULL;
    ref_conv2d(cc, x, wt, cc->bias ? b : NULL, y);
    int64_t oh = conv_out(cc->h, cc->kh, cc->stride[0], cc->padding[0], cc->dilation[0]);
    int64_t ow = conv_out(cc->w, cc->kw, cc->stride[1], cc->padding[1], cc->dilation[1]);
    sf_tensor *out = GARBAGE;
    sf_status s = sf_conv2d(tx, tw, tb, cc->stride, cc->padding, cc->dilation, cc->groups, &out);
    if (check_record(s == SF_OK, __FILE__, line, "sf_conv2d == SF_OK")) {
        check_tensor(out, (int64_t[]){cc->n, cc->o, oh, ow}, 4, y, 1e-10, "sf_conv2d", line);
        sf_tensor_release(out);
    } else {
        fprintf(stderr, "    %s\n", sf_last_error());
    }
    /* the unbatched form [C, H, W] gives [O, H', W'] */
    if (cc->n == 1) {
        sf_tensor *x3 = NULL;
        CHECK_OK(sf_reshape(tx, (int64_t[]){cc->c, cc->h, cc->w}, 3, &x3));
        out = GARBAGE;
        s = sf_conv2d(x3, tw, tb, cc->stride, cc->padding, cc->dilation, cc->groups, &out);
        if (check_record(s == SF_OK, __FILE__, line, "sf_conv2d unbatched == SF_OK")) {
            check_tensor(out, (int64_t[]){cc->o, oh, ow}, 3, y, 1e-10, "sf_conv2d unbatched", line);
            sf_tensor_release(out);
        } else {
            fprintf(stderr, "    %s\n", sf_last_error());
        }
        sf_tensor_release(x3);
    }
    sf_tensor_release(tx);
    sf_tensor_release(tw);
    sf_tensor_release(tb);
}

static void test_conv2d(void) {
    static const conv_case CASES[] = {
        /* n c h w  o kh kw  stride  padding dilation groups bias */
        {1, 2, 5, 5, 3, 3, 3, {2, 1}, {1, 0}, {2, 1}, 1, 1},
        {2, 4, 4, 6, 2, 2, 3, {1, 2}, {0, 2}, {1, 1}, 2, 0},
        {1, 3, 3, 3, 3, 1, 1, {1, 1}, {0, 0}, {1, 1}, 3, 1},
    };
    for (size_t k = 0; k < COUNT(CASES); k++) run_conv_case(&CASES[k], __LINE__);

    /* bad parameters: IMG is [1, 2, 5, 5], KER [3, 2, 3, 3] */
    const char *f = "sf_conv2d";
    FAILS(SF_ERR_INVALID_ARGUMENT, f, sf_conv2d(IMG, KER, NULL, NULL, ZERO_ZERO, ONE_ONE, 1, &OUT));
    FAILS(SF_ERR_INVALID_ARGUMENT, f, sf_conv2d(IMG, KER, NULL, ONE_ONE, NULL, ONE_ONE, 1, &OUT));
    FAILS(SF_ERR_INVALID_ARGUMENT, f, sf_conv2d(IMG, KER, NULL, ONE_ONE, ZERO_ZERO, NULL, 1, &OUT));
    FAILS(SF_ERR_INVALID_ARGUMENT, f, sf_conv2d(IMG, KER, NULL, (int64_t[]){0, 1}, ZERO_ZERO, ONE_ONE, 1, &OUT));
    FAILS(SF_ERR_INVALID_ARGUMENT, f, sf_conv2d(IMG, KER, NULL, (int64_t[]){1, -1}, ZERO_ZERO, ONE_ONE, 1, &OUT));
    FAILS(SF_ERR_INVALID_ARGUMENT, f, sf_conv2d(IMG, KER, NULL, ONE_ONE, (int64_t[]){-1, 0}, ONE_ONE, 1, &OUT));
    FAILS(SF_ERR_INVALID_ARGUMENT, f, sf_conv2d(IMG, KER, NULL, ONE_ONE, ZERO_ZERO, (int64_t[]){1, 0}, 1, &OUT));
    FAILS(SF_ERR_INVALID_ARGUMENT, f, sf_conv2d(IMG, KER, NULL, ONE_ONE, ZERO_ZERO, ONE_ONE, 0, &OUT));
    FAILS(SF_ERR_INVALID_ARGUMENT, f, sf_conv2d(IMG, KER, NULL, ONE_ONE, ZERO_ZERO, ONE_ONE, -2, &OUT));
    FAILS(SF_ERR_SHAPE, f, sf_conv2d(IMG, KER, NULL, ONE_ONE, ZERO_ZERO, ONE_ONE, 3, &OUT)); /* 3 does not divide C = 2 */
    /* groups 2 divides C but not O = 3 */
    sf_tensor *k1 = NULL;
    CHECK_OK(sf_slice(KER, 1, 0, 1, 1, &k1)); /* [3, 1, 3, 3] */
    FAILS(SF_ERR_SHAPE, f, sf_conv2d(IMG, k1, NULL, ONE_ONE, ZERO_ZERO, ONE_ONE, 2, &OUT));
    FAILS(SF_ERR_SHAPE, f, sf_conv2d(IMG, k1, NULL, ONE_ONE, ZERO_ZERO, ONE_ONE, 1, &OUT)); /* C/groups mismatch */
    /* a kernel larger than the (padded) input; dilation making it so; too much padding */
    sf_tensor *big = NULL;
    CHECK_OK(sf_zeros((int64_t[]){1, 2, 7, 7}, 4, SF_FLOAT64, &big));
    FAILS(SF_ERR_SHAPE, f, sf_conv2d(IMG, big, NULL, ONE_ONE, ZERO_ZERO, ONE_ONE, 1, &OUT));
    FAILS(SF_ERR_SHAPE, f, sf_conv2d(IMG, KER, NULL, ONE_ONE, ZERO_ZERO, (int64_t[]){3, 1}, 1, &OUT));
    FAILS(SF_ERR_SHAPE, f, sf_conv2d(IMG, KER, NULL, ONE_ONE, (int64_t[]){(int64_t)1 << 40, (int64_t)1 << 40}, ONE_ONE, 1, &OUT));
    FAILS(SF_ERR_SHAPE, f, sf_conv2d(IMG, KER, NULL, ONE_ONE, (int64_t[]){INT64_MAX, 0}, ONE_ONE, 1, &OUT));
    FAILS(SF_ERR_SHAPE, f, sf_conv2d(IMG, KER, NULL, ONE_ONE, ZERO_ZERO, (int64_t[]){INT64_MAX, 1}, 1, &OUT));
    /* bias of the wrong size; x and weight of the wrong rank; integer data */
    sf_tensor *b2 = make64((double[]){1, 2}, S2, 1);
    FAILS(SF_ERR_SHAPE, f, sf_conv2d(IMG, KER, b2, ONE_ONE, ZERO_ZERO, ONE_ONE, 1, &OUT));
    FAILS(SF_ERR_SHAPE, f, sf_conv2d(X, KER, NULL, ONE_ONE, ZERO_ZERO, ONE_ONE, 1, &OUT));
    FAILS(SF_ERR_SHAPE, f, sf_conv2d(IMG, X, NULL, ONE_ONE, ZERO_ZERO, ONE_ONE, 1, &OUT));
    sf_tensor *img_i = NULL;
    CHECK_OK(sf_cast(IMG, SF_INT64, &img_i));
    FAILS(SF_ERR_DTYPE, f, sf_conv2d(img_i, KER, NULL, ONE_ONE, ZERO_ZERO, ONE_ONE, 1, &OUT));
    /* an empty batch works */
    sf_tensor *none = NULL;
    CHECK_OK(sf_zeros((int64_t[]){0, 2, 5, 5}, 4, SF_FLOAT64, &none));
    RUN(e, sf_conv2d(none, KER, NULL, ONE_ONE, ZERO_ZERO, ONE_ONE, 1, &OUT));
    CHECK_TENSOR(e, ((int64_t[]){0, 3, 3, 3}), 4, NULL, 0, "sf_conv2d empty batch");
    sf_tensor_release(e);
    sf_tensor *all[] = {k1, big, b2, img_i, none};
    for (size_t i = 0; i < COUNT(all); i++) sf_tensor_release(all[i]);
}

/* ------------------------------------------------------------------------------------------------
 * Indexing
 * ---------------------------------------------------------------------------------------------- */

static void test_indexing(void) {
    const double idx23[6] = {1, 0, 1, 0, 0, 1};
    double expected[6];
    /* gather along 0 and along -1 (int32 index, negative entries) */
    for (int i = 0; i < 6; i++) expected[i] = X_VALUES[(int)idx23[i] * 3 + i % 3];
    RUN(g, sf_gather(X, 0, IDX23, &OUT));
    CHECK_TENSOR(g, S23, 2, expected, 0, "sf_gather dim 0");
    sf_tensor_release(g);
    sf_tensor *i22 = make(SF_INT32, (double[]){2, -3, -1, 0}, (int64_t[]){2, 2}, 2);
    RUN(g1, sf_gather(X, -1, i22, &OUT));
    CHECK_TENSOR(g1, ((int64_t[]){2, 2}), 2, ((double[]){1.5, 0.5, -0.6, 2.5}), 0, "sf_gather dim -1");
    sf_tensor_release(g1);
    sf_tensor *ie = make(SF_INT64, NULL, S03, 2);
    RUN(ge, sf_gather(X, 0, ie, &OUT));
    CHECK_TENSOR(ge, S03, 2, NULL, 0, "sf_gather empty index");
    sf_tensor_release(ge);
    sf_tensor *i_high = make(SF_INT64, (double[]){1, 0, 5, 0, 0, 1}, S23, 2);
    sf_tensor *i_low = make(SF_INT64, (double[]){1, 0, -3, 0, 0, 1}, S23, 2);
    sf_tensor *i_float = make64(idx23, S23, 2);
    sf_tensor *i_bool = make(SF_BOOL, idx23, S23, 2);
    sf_tensor *i_wide = make(SF_INT64, (double[]){0, 0, 0, 0, 0, 0, 0, 0}, (int64_t[]){2, 4}, 2);
    FAILS_MSG(SF_ERR_INVALID_ARGUMENT, "sf_gather", "5", sf_gather(X, 0, i_high, &OUT));
    FAILS_MSG(SF_ERR_INVALID_ARGUMENT, "sf_gather", "-3", sf_gather(X, 0, i_low, &OUT));
    FAILS(SF_ERR_DTYPE, "sf_gather", sf_gather(X, 0, i_float, &OUT));
    FAILS(SF_ERR_DTYPE, "sf_gather", sf_gather(X, 0, i_bool, &OUT));
    FAILS(SF_ERR_SHAPE, "sf_gather", sf_gather(X, 0, IDX, &OUT));    /* rank 1 */
    FAILS(SF_ERR_SHAPE, "sf_gather", sf_gather(X, 0, i_wide, &OUT)); /* 4 > 3 along dim 1 */
    FAILS(SF_ERR_INVALID_ARGUMENT, "sf_gather", sf_gather(X, 2, IDX23, &OUT));
    FAILS(SF_ERR_INVALID_ARGUMENT, "sf_gather", sf_gather(X, -3, IDX23, &OUT));

    /* index_select */
    sf_tensor *sel = make(SF_INT32, (double[]){2, 0, -1}, S3, 1);
    RUN(s, sf_index_select(X, 1, sel, &OUT));
    CHECK_TENSOR(s, S23, 2, ((double[]){1.5, 0.5, 1.5, -0.6, 2.5, -0.6}), 0, "sf_index_select dim 1");
    sf_tensor_release(s);
    RUN(s0, sf_index_select(X, 0, IDX, &OUT));
    CHECK_TENSOR(s0, S23, 2, ((double[]){2.5, 0.25, -0.6, 0.5, -2.5, 1.5}), 0, "sf_index_select dim 0");
    sf_tensor_release(s0);
    sf_tensor *none = make(SF_INT64, NULL, S0, 1);
    RUN(se, sf_index_select(X, 1, none, &OUT));
    CHECK_TENSOR(se, ((int64_t[]){2, 0}), 2, NULL, 0, "sf_index_select empty index");
    sf_tensor_release(se);
    sf_tensor *sel_high = make(SF_INT64, (double[]){0, 3}, S2, 1);
    sf_tensor *sel_low = make(SF_INT64, (double[]){-4, 0}, S2, 1);
    sf_tensor *sel_float = make64((double[]){0, 1}, S2, 1);
    FAILS_MSG(SF_ERR_INVALID_ARGUMENT, "sf_index_select", "3", sf_index_select(X, 1, sel_high, &OUT));
    FAILS_MSG(SF_ERR_INVALID_ARGUMENT, "sf_index_select", "-4", sf_index_select(X, 1, sel_low, &OUT));
    FAILS(SF_ERR_DTYPE, "sf_index_select", sf_index_select(X, 1, sel_float, &OUT));
    FAILS(SF_ERR_SHAPE, "sf_index_select", sf_index_select(X, 0, IDX23, &OUT)); /* 2-D index */
    FAILS(SF_ERR_INVALID_ARGUMENT, "sf_index_select", sf_index_select(X, 2, IDX, &OUT));
    FAILS(SF_ERR_INVALID_ARGUMENT, "sf_index_select", sf_index_select(E, 0, IDX, &OUT)); /* any index into size 0 */

    /* scatter_add: duplicates accumulate */
    double w[6];
    CHECK(read_values(W32, w, 6) == 6);
    memcpy(expected, X_VALUES, sizeof expected);
    for (int i = 0; i < 6; i++) expected[(int)idx23[i] * 3 + i % 3] += w[i];
    RUN(sa, sf_scatter_add(X, 0, IDX23, W32, &OUT));
    CHECK_TENSOR(sa, S23, 2, expected, TOL, "sf_scatter_add");
    sf_tensor_release(sa);
    RUN(sae, sf_scatter_add(X, 0, ie, W32, &OUT));
    CHECK_TENSOR(sae, S23, 2, X_VALUES, 0, "sf_scatter_add empty index");
    sf_tensor_release(sae);
    FAILS_MSG(SF_ERR_INVALID_ARGUMENT, "sf_scatter_add", "5", sf_scatter_add(X, 0, i_high, W32, &OUT));
    FAILS_MSG(SF_ERR_INVALID_ARGUMENT, "sf_scatter_add", "-3", sf_scatter_add(X, 0, i_low, W32, &OUT));
    FAILS(SF_ERR_DTYPE, "sf_scatter_add", sf_scatter_add(X, 0, IDX23, XI, &OUT));
    FAILS(SF_ERR_DTYPE, "sf_scatter_add", sf_scatter_add(X, 0, i_float, W32, &OUT));
    FAILS(SF_ERR_SHAPE, "sf_scatter_add", sf_scatter_add(X, 0, IDX, W32, &OUT));
    FAILS(SF_ERR_SHAPE, "sf_scatter_add", sf_scatter_add(X, 0, i_wide, W32, &OUT));
    FAILS(SF_ERR_SHAPE, "sf_scatter_add", sf_scatter_add(X, 0, IDX23, Y, &OUT));
    FAILS(SF_ERR_INVALID_ARGUMENT, "sf_scatter_add", sf_scatter_add(X, 2, IDX23, W32, &OUT));

    sf_tensor *all[] = {i22, ie, i_high, i_low, i_float, i_bool, i_wide, sel, none, sel_high, sel_low, sel_float};
    for (size_t i = 0; i < COUNT(all); i++) sf_tensor_release(all[i]);
}

/* ------------------------------------------------------------------------------------------------
 * Neural-network composites
 * ---------------------------------------------------------------------------------------------- */

static void test_nn(void) {
    const double eps = 1e-5;
    double expected[6];
    /* layer_norm over the last dim with weight Y and bias -Y */
    sf_tensor *neg_y = NULL;
    CHECK_OK(sf_neg(Y, &neg_y));
    for (int r = 0; r < 2; r++) {
        const double *row = X_VALUES + 3 * r;
        double m = red_mean(row, 3), v = 0;
        for (int j = 0; j < 3; j++) v += (row[j] - m) * (row[j] - m) / 3;
        for (int j = 0; j < 3; j++) expected[3 * r + j] = (row[j] - m) / sqrt(v + eps) * Y_VALUES[j] - Y_VALUES[j];
    }
    RUN(ln, sf_layer_norm(X, S3, 1, Y, neg_y, eps, &OUT));
    CHECK_TENSOR(ln, S23, 2, expected, 1e-10, "sf_layer_norm");
    sf_tensor_release(ln);
    {
        double m = red_mean(X_VALUES, 6), v = 0;
        for (int i = 0; i < 6; i++) v += (X_VALUES[i] - m) * (X_VALUES[i] - m) / 6;
        for (int i = 0; i < 6; i++) expected[i] = (X_VALUES[i] - m) / sqrt(v + eps);
        RUN(all, sf_layer_norm(X, S23, 2, NULL, NULL, eps, &OUT));
        CHECK_TENSOR(all, S23, 2, expected, 1e-10, "sf_layer_norm over all dims");
        sf_tensor_release(all);
    }
    RUN(lne, sf_layer_norm(E, S3, 1, NULL, NULL, eps, &OUT));
    CHECK_TENSOR(lne, S03, 2, NULL, 0, "sf_layer_norm empty");
    sf_tensor_release(lne);
    FAILS(SF_ERR_SHAPE, "sf_layer_norm", sf_layer_norm(X, S2, 1, NULL, NULL, eps, &OUT));
    FAILS(SF_ERR_SHAPE, "sf_layer_norm", sf_layer_norm(X, (int64_t[]){1, 2, 3}, 3, NULL, NULL, eps, &OUT));
    FAILS(SF_ERR_SHAPE, "sf_layer_norm", sf_layer_norm(X, S3, 1, X, NULL, eps, &OUT));
    FAILS(SF_ERR_SHAPE, "sf_layer_norm", sf_layer_norm(X, S3, 1, NULL, IDX, eps, &OUT));
    FAILS(SF_ERR_INVALID_ARGUMENT, "sf_layer_norm", sf_layer_norm(X, NULL, 1, NULL, NULL, eps, &OUT));
    FAILS(SF_ERR_DTYPE, "sf_layer_norm", sf_layer_norm(XI, S3, 1, NULL, NULL, eps, &OUT));
    sf_tensor_release(neg_y);

    /* cross_entropy of X [2, 3] against {2, 0} */
    const int target[2] = {2, 0};
    double losses[2];
    for (int r = 0; r < 2; r++) losses[r] = red_lse(X_VALUES + 3 * r, 3) - X_VALUES[3 * r + target[r]];
    static const struct {
        sf_reduction reduction;
        const char *what;
    } REDUCTIONS[] = {{SF_REDUCTION_NONE, "none"}, {SF_REDUCTION_MEAN, "mean"}, {SF_REDUCTION_SUM, "sum"}};
    for (size_t k = 0; k < COUNT(REDUCTIONS); k++) {
        sf_reduction red = REDUCTIONS[k].reduction;
        double reduced = red == SF_REDUCTION_MEAN ? (losses[0] + losses[1]) / 2 : losses[0] + losses[1];
        RUN(ce, sf_cross_entropy(X, TARGET, red, &OUT));
        if (red == SF_REDUCTION_NONE)
            CHECK_TENSOR(ce, S2, 1, losses, 1e-12, "sf_cross_entropy none");
        else
            CHECK_TENSOR(ce, NULL, 0, &reduced, 1e-12, REDUCTIONS[k].what);
        sf_tensor_release(ce);
        /* mse_loss of X against Y (broadcast) */
        double sq[6], total = 0;
        for (int i = 0; i < 6; i++) sq[i] = (X_VALUES[i] - Y_VALUES[i % 3]) * (X_VALUES[i] - Y_VALUES[i % 3]), total += sq[i];
        double mse = red == SF_REDUCTION_MEAN ? total / 6 : total;
        RUN(m, sf_mse_loss(X, Y, red, &OUT));
        if (red == SF_REDUCTION_NONE)
            CHECK_TENSOR(m, S23, 2, sq, 1e-12, "sf_mse_loss none");
        else
            CHECK_TENSOR(m, NULL, 0, &mse, 1e-12, REDUCTIONS[k].what);
        sf_tensor_release(m);
        /* empty batches */
        sf_tensor *no_target = make(SF_INT64, NULL, S0, 1);
        RUN(cee, sf_cross_entropy(E, no_target, red, &OUT));
        if (red == SF_REDUCTION_NONE)
            CHECK_TENSOR(cee, S0, 1, NULL, 0, "sf_cross_entropy empty none");
        else
            CHECK_TENSOR(cee, NULL, 0, ((double[]){red == SF_REDUCTION_SUM ? 0 : NAN}), 0, "sf_cross_entropy empty");
        sf_tensor_release(cee);
        sf_tensor_release(no_target);
        RUN(me, sf_mse_loss(E, Y, red, &OUT));
        if (red == SF_REDUCTION_NONE)
            CHECK_TENSOR(me, S03, 2, NULL, 0, "sf_mse_loss empty none");
        else
            CHECK_TENSOR(me, NULL, 0, ((double[]){red == SF_REDUCTION_SUM ? 0 : NAN}), 0, "sf_mse_loss empty");
        sf_tensor_release(me);
    }
    /* unbatched logits [C] with a 0-d target */
    sf_tensor *t0 = make(SF_INT32, (double[]){1}, NULL, 0);
    double single = red_lse(Y_VALUES, 3) - Y_VALUES[1];
    RUN(ce1, sf_cross_entropy(Y, t0, SF_REDUCTION_MEAN, &OUT));
    CHECK_TENSOR(ce1, NULL, 0, &single, 1e-12, "sf_cross_entropy unbatched");
    sf_tensor_release(ce1);
    /* bad input */
    sf_tensor *t_high = make(SF_INT64, (double[]){3, 0}, S2, 1);
    sf_tensor *t_neg = make(SF_INT64, (double[]){0, -1}, S2, 1);
    sf_tensor *t_float = make64((double[]){2, 0}, S2, 1);
    sf_tensor *x3d = NULL;
    CHECK_OK(sf_unsqueeze(X, 0, &x3d));
    FAILS(SF_ERR_INVALID_ARGUMENT, "sf_cross_entropy", sf_cross_entropy(X, TARGET, (sf_reduction)7, &OUT));
    FAILS(SF_ERR_INVALID_ARGUMENT, "sf_cross_entropy", sf_cross_entropy(X, TARGET, (sf_reduction)-1, &OUT));
    /* REGRESSION (fixed): the message names sf_gather ("sf_gather: index 3 is out of bounds for dim 1 with size 3") */
    FAILS_MSG(SF_ERR_INVALID_ARGUMENT, "sf_cross_entropy", "3", sf_cross_entropy(X, t_high, SF_REDUCTION_MEAN, &OUT));
    /* REGRESSION (fixed): a target of -1 is outside [0, C) but is accepted (SF_OK): it is used as a gather
     * index, which counts from the end, so it silently picks class C - 1 */
    FAILS_MSG(SF_ERR_INVALID_ARGUMENT, "sf_cross_entropy", "-1", sf_cross_entropy(X, t_neg, SF_REDUCTION_MEAN, &OUT));
    FAILS(SF_ERR_DTYPE, "sf_cross_entropy", sf_cross_entropy(X, t_float, SF_REDUCTION_MEAN, &OUT));
    FAILS(SF_ERR_SHAPE, "sf_cross_entropy", sf_cross_entropy(X, t0, SF_REDUCTION_MEAN, &OUT));
    FAILS(SF_ERR_SHAPE, "sf_cross_entropy", sf_cross_entropy(X, IDX23, SF_REDUCTION_MEAN, &OUT));
    FAILS(SF_ERR_SHAPE, "sf_cross_entropy", sf_cross_entropy(x3d, TARGET, SF_REDUCTION_MEAN, &OUT));
    FAILS(SF_ERR_INVALID_ARGUMENT, "sf_mse_loss", sf_mse_loss(X, Y, (sf_reduction)7, &OUT));
    /* REGRESSION (fixed): the message names sf_sub ("sf_sub: shapes [2, 3] and [2] cannot be broadcast together") */
    FAILS(SF_ERR_SHAPE, "sf_mse_loss", sf_mse_loss(X, IDX, SF_REDUCTION_MEAN, &OUT));
    sf_tensor *all[] = {t0, t_high, t_neg, t_float, x3d};
    for (size_t i = 0; i < COUNT(all); i++) sf_tensor_release(all[i]);
}

int main(void) {
    for (int i = 0; i <= SF_MAX_NDIM; i++) ONES17[i] = 1;
    make_fixtures();
    test_call_contract();
    test_creation();
    test_allocation_failures();
    test_random();
    test_unary();
    test_binary();
    test_where();
    test_reductions();
    test_softmax();
    test_movement();
    test_contraction();
    test_conv2d();
    test_indexing();
    test_nn();
    release_fixtures();
    return check_summary();
}
