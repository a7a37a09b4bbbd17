/* tensor_check.h — tensors in and out for the C suites, on top of check.h: making float64 and
 * int64 tensors and custom functions (each a recorded CHECK_OK), reading tensors back,
 * CHECK_TENSOR / CHECK_SCALAR / CHECK_SAME (one recorded result each, printing what differs),
 * arrays of handles, reading a tensor inside a host kernel, and central differences.
 *
 * Everything is `static inline`, so a suite that uses only part of it compiles cleanly with
 * -Wall -Wextra -Werror -pedantic. */
#ifndef SWIFTFUNC_TEST_TENSOR_CHECK_H
#define SWIFTFUNC_TEST_TENSOR_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "swiftfunc.h"

/* ------------------------------------------------------------------------------------------------
 * Making tensors (and custom functions)
 * ---------------------------------------------------------------------------------------------- */

/* A float64 tensor of `shape` holding `values` (row-major). */
static inline sf_tensor *make64(const double *values, const int64_t *shape, size_t ndim) {
    sf_tensor *t = NULL;
    CHECK_OK(sf_tensor_from_data(values, SF_FLOAT64, shape, ndim, &t));
    return t;
}

/* A 0-d float64 tensor (strongly typed, unlike sf_scalar). */
static inline sf_tensor *scalar64(double value) { return make64(&value, NULL, 0); }

/* An int64 tensor of `shape` holding `values`. */
static inline sf_tensor *make_i64(const int64_t *values, const int64_t *shape, size_t ndim) {
    sf_tensor *t = NULL;
    CHECK_OK(sf_tensor_from_data(values, SF_INT64, shape, ndim, &t));
    return t;
}

/* A 0-d int64 tensor. */
static inline sf_tensor *scalar_i64(int64_t value) { return make_i64(&value, NULL, 0); }

/* A custom function made from `desc` (one recorded CHECK_OK; NULL on failure). */
static inline sf_function *custom_function(const sf_custom_function_desc *desc) {
    sf_function *f = NULL;
    CHECK_OK(sf_custom_function_new(desc, &f));
    return f;
}

/* ------------------------------------------------------------------------------------------------
 * Reading and checking them
 * ---------------------------------------------------------------------------------------------- */

static inline int64_t shape_numel(const int64_t *shape, size_t ndim) {
    int64_t n = 1;
    for (size_t i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

/* Reads a float64 tensor of exactly n elements into dst; returns 0 (without recording) otherwise. */
static inline int read64(sf_tensor *t, double *dst, int64_t n) {
    sf_dtype dtype;
    int64_t numel = -1;
    if (t == NULL || sf_tensor_dtype(t, &dtype) != SF_OK || dtype != SF_FLOAT64) return 0;
    if (sf_tensor_numel(t, &numel) != SF_OK || numel != n) return 0;
    return sf_tensor_copy_to(t, n ? dst : NULL, sizeof(double) * (size_t)n) == SF_OK;
}

/* Records one check: `t` is a float64 tensor of `shape` whose values are within
 * tol * (1 + |expected|) of `expected`. Prints what differs. */
static inline int check_tensor(sf_tensor *t, const int64_t *shape, size_t ndim, const double *expected,
                               double tol, const char *file, int line, const char *what) {
    char label[256];
    snprintf(label, sizeof label, "%s matches the reference", what);
    if (t == NULL) {
        check_record(0, file, line, label);
        fprintf(stderr, "    the tensor is NULL (last error: %s)\n", sf_last_error());
        return 0;
    }
    size_t got_ndim = 0;
    int64_t got_shape[SF_MAX_NDIM] = {0};
    sf_dtype dtype = SF_BOOL;
    if (sf_tensor_ndim(t, &got_ndim) != SF_OK || sf_tensor_dtype(t, &dtype) != SF_OK ||
        got_ndim > SF_MAX_NDIM || sf_tensor_shape(t, got_shape, SF_MAX_NDIM) != SF_OK) {
        check_record(0, file, line, label);
        fprintf(stderr, "    cannot query the tensor: %s\n", sf_last_error());
        return 0;
    }
    int shape_ok = got_ndim == ndim;
    for (size_t i = 0; shape_ok && i < ndim; i++) shape_ok = got_shape[i] == shape[i];
    if (!shape_ok || dtype != SF_FLOAT64) {
        check_record(0, file, line, label);
        fprintf(stderr, "    got dtype %d shape [", (int)dtype);
        for (size_t i = 0; i < got_ndim; i++) fprintf(stderr, "%s%lld", i ? ", " : "", (long long)got_shape[i]);
        fprintf(stderr, "], expected float64 shape [");
        for (size_t i = 0; i < ndim; i++) fprintf(stderr, "%s%lld", i ? ", " : "", (long long)shape[i]);
        fprintf(stderr, "]\n");
        return 0;
    }
    int64_t n = shape_numel(shape, ndim);
    double *got = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    int ok = read64(t, got, n);
    int64_t bad = -1;
    for (int64_t i = 0; ok && i < n; i++) {
        if (!(fabs(got[i] - expected[i]) <= tol * (1 + fabs(expected[i])))) {
            ok = 0;
            bad = i;
        }
    }
    check_record(ok, file, line, label);
    if (!ok && bad >= 0)
        fprintf(stderr, "    element %lld: got %.17g, expected %.17g\n", (long long)bad, got[bad], expected[bad]);
    else if (!ok)
        fprintf(stderr, "    cannot read the values: %s\n", sf_last_error());
    free(got);
    return ok;
}

#define CHECK_TENSOR(t, shape, ndim, expected, tol)                                             \
    check_tensor((t), (shape), (ndim), (expected), (tol), __FILE__, __LINE__, #t)

/* A 0-d float64 tensor near `expected`. */
#define CHECK_SCALAR(t, expected, tol)                                                          \
    do {                                                                                        \
        double check_expected_ = (expected);                                                    \
        check_tensor((t), NULL, 0, &check_expected_, (tol), __FILE__, __LINE__, #t);            \
    } while (0)

/* Two float64 tensors of the same shape with the same values (within tol). */
static inline int check_same(sf_tensor *a, sf_tensor *b, double tol, const char *file, int line, const char *what) {
    size_t ndim = 0;
    int64_t shape[SF_MAX_NDIM] = {0};
    if (a == NULL || b == NULL || sf_tensor_ndim(b, &ndim) != SF_OK || ndim > SF_MAX_NDIM ||
        sf_tensor_shape(b, shape, SF_MAX_NDIM) != SF_OK) {
        check_record(0, file, line, what);
        fprintf(stderr, "    a tensor is NULL or unreadable (last error: %s)\n", sf_last_error());
        return 0;
    }
    int64_t n = shape_numel(shape, ndim);
    double *expected = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    int ok = read64(b, expected, n);
    if (!ok) {
        check_record(0, file, line, what);
        fprintf(stderr, "    the reference cannot be read: %s\n", sf_last_error());
    } else {
        ok = check_tensor(a, shape, ndim, expected, tol, file, line, what);
    }
    free(expected);
    return ok;
}

#define CHECK_SAME(a, b, tol) check_same((a), (b), (tol), __FILE__, __LINE__, #a " equals " #b)

/* An int64 tensor of `n` (at most 16) elements that are all zero. */
static inline int is_int64_zeros(sf_tensor *t, int64_t n) {
    sf_dtype dtype = SF_FLOAT32;
    int64_t numel = -1, values[16];
    if (t == NULL || n > 16 || sf_tensor_dtype(t, &dtype) != SF_OK || dtype != SF_INT64) return 0;
    if (sf_tensor_numel(t, &numel) != SF_OK || numel != n) return 0;
    if (sf_tensor_copy_to(t, n ? values : NULL, sizeof(int64_t) * (size_t)n) != SF_OK) return 0;
    for (int64_t i = 0; i < n; i++)
        if (values[i] != 0) return 0;
    return 1;
}

/* ------------------------------------------------------------------------------------------------
 * Arrays of handles
 * ---------------------------------------------------------------------------------------------- */

/* The first `count` handles all NULL (what every failed call must leave behind). */
static inline int all_null(sf_tensor **handles, size_t count) {
    for (size_t i = 0; i < count; i++)
        if (handles[i] != NULL) return 0;
    return 1;
}

static inline void release_all(sf_tensor **handles, size_t count) {
    for (size_t i = 0; i < count; i++) {
        sf_tensor_release(handles[i]);
        handles[i] = NULL;
    }
}

static inline void fill_garbage(sf_tensor **handles, size_t count) {
    for (size_t i = 0; i < count; i++) handles[i] = GARBAGE;
}

static inline void release_functions(sf_function **handles, size_t count) {
    for (size_t i = 0; i < count; i++) sf_function_release(handles[i]);
}

/* Releases the tensors (or functions) given, in order: RELEASE_TENSORS(x, y, r[0]). */
#define RELEASE_TENSORS(...) release_all((sf_tensor *[]){__VA_ARGS__}, COUNT(((sf_tensor *[]){__VA_ARGS__})))
#define RELEASE_FUNCTIONS(...)                                                                  \
    release_functions((sf_function *[]){__VA_ARGS__}, COUNT(((sf_function *[]){__VA_ARGS__})))

/* ------------------------------------------------------------------------------------------------
 * Inside host kernels (nothing recorded: a kernel fails through its return value)
 * ---------------------------------------------------------------------------------------------- */

/* Reads a float64 tensor into a malloc'd buffer and its shape into shape[SF_MAX_NDIM]; NULL (with
 * sf_set_error for a wrong dtype) on failure. */
static inline double *host_read(sf_tensor *t, int64_t *shape, size_t *ndim, int64_t *numel) {
    sf_dtype dtype;
    if (sf_tensor_dtype(t, &dtype) != SF_OK || sf_tensor_ndim(t, ndim) != SF_OK ||
        sf_tensor_shape(t, shape, SF_MAX_NDIM) != SF_OK || sf_tensor_numel(t, numel) != SF_OK) return NULL;
    if (dtype != SF_FLOAT64) {
        sf_set_error("host kernel: expects float64");
        return NULL;
    }
    double *data = malloc(sizeof(double) * (size_t)(*numel > 0 ? *numel : 1));
    if (sf_tensor_copy_to(t, *numel > 0 ? data : NULL, sizeof(double) * (size_t)*numel) != SF_OK) {
        free(data);
        return NULL;
    }
    return data;
}

/* out[k] = f1(a[k]) (or, with b, f2(a[k], b[k])) as a new float64 tensor of a's shape: the host
 * kernel of the custom-function tests. Returns 0, or 1 with sf_set_error. */
static inline int host_map(sf_tensor *a, sf_tensor *b, double (*f1)(double), double (*f2)(double, double),
                           sf_tensor **out) {
    int64_t shape[SF_MAX_NDIM], numel, shape_b[SF_MAX_NDIM], numel_b = 0;
    size_t ndim, ndim_b;
    double *x = host_read(a, shape, &ndim, &numel);
    if (!x) return 1;
    double *y = NULL;
    if (b) {
        y = host_read(b, shape_b, &ndim_b, &numel_b);
        if (!y || numel_b != numel) {
            free(x);
            free(y);
            sf_set_error("host kernel: shapes differ");
            return 1;
        }
    }
    for (int64_t k = 0; k < numel; k++) x[k] = b ? f2(x[k], y[k]) : f1(x[k]);
    sf_status status = sf_tensor_from_data(x, SF_FLOAT64, shape, ndim, out);
    free(x);
    free(y);
    return status == SF_OK ? 0 : 1;
}

/* ------------------------------------------------------------------------------------------------
 * Central differences, for references that have no closed form in the test
 * ---------------------------------------------------------------------------------------------- */

/* (f(x + h) - f(x - h)) / 2h. */
static inline double central_difference(double (*f)(double), double x, double h) {
    return (f(x + h) - f(x - h)) / (2 * h);
}

/* A map R^n -> R^m: out = g(x) (ctx: whatever g needs besides x). */
typedef void (*vector_fn)(const double *x, double *out, void *ctx);

/* The directional derivative (g(x + h v) - g(x - h v)) / 2h, m values. */
static inline void central_difference_along(vector_fn g, void *ctx, const double *x, const double *v, size_t n,
                                            size_t m, double h, double *out) {
    double *xp = malloc(sizeof(double) * (2 * n + 2 * m));
    double *xm = xp + n, *gp = xm + n, *gm = gp + m;
    for (size_t j = 0; j < n; j++) xp[j] = x[j] + h * v[j], xm[j] = x[j] - h * v[j];
    g(xp, gp, ctx);
    g(xm, gm, ctx);
    for (size_t i = 0; i < m; i++) out[i] = (gp[i] - gm[i]) / (2 * h);
    free(xp);
}

/* The Jacobian of g at x by central differences: out[i * n + j] = d g_i / d x_j, [m, n]. */
static inline void central_difference_jacobian(vector_fn g, void *ctx, const double *x, size_t n, size_t m, double h,
                                               double *out) {
    double *e = calloc(n + m, sizeof(double));
    double *column = e + n;
    for (size_t j = 0; j < n; j++) {
        e[j] = 1;
        central_difference_along(g, ctx, x, e, n, m, h, column);
        for (size_t i = 0; i < m; i++) out[i * n + j] = column[i];
        e[j] = 0;
    }
    free(e);
}

#endif /* SWIFTFUNC_TEST_TENSOR_CHECK_H */
