/* test_tensor_ops.c — the tensor ops of the C ABI (einsum, diagonals and triangles, cumsum and
 * cumprod, sort/argsort/topk, vector and matrix norms, roll, repeat, tile): values against
 * references computed here in C, errors (NULLs, bad equations, bad dims, k out of range, unknown
 * norm orders) with messages naming the op, and the derivatives the ops promise at their edges
 * (cumprod through zeros, the 2-norm at 0) through sf_grad. Runs plain and under ASan. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "tensor_check.h"

#define TOL 1e-12

static const double A34[12] = {1, -2, 3, 4, 5, 6, -7, 8, 9, 10, 11, -12};
static const int64_t SHAPE34[2] = {3, 4};

/* ------------------------------------------------------------------------------------------------
 * einsum
 * ---------------------------------------------------------------------------------------------- */

static void test_einsum(void) {
    static const double b[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    static const int64_t shape42[2] = {4, 2};
    sf_tensor *a = make64(A34, SHAPE34, 2), *bt = make64(b, shape42, 2);
    sf_tensor *ops[2] = {a, bt};
    sf_tensor *out = NULL;

    /* A matrix product against a loop. */
    double expected[6];
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 2; k++) {
            double s = 0;
            for (int j = 0; j < 4; j++) s += A34[i * 4 + j] * b[j * 2 + k];
            expected[i * 2 + k] = s;
        }
    CHECK_OK(sf_einsum("ij,jk->ik", ops, 2, &out));
    CHECK_TENSOR(out, ((int64_t[]){3, 2}), 2, expected, TOL);
    sf_tensor_release(out);

    /* Implicit output (subscripts that appear once, alphabetically) and spaces. */
    CHECK_OK(sf_einsum(" ij , jk ", ops, 2, &out));
    CHECK_TENSOR(out, ((int64_t[]){3, 2}), 2, expected, TOL);
    sf_tensor_release(out);

    /* A transpose, a row sum, the sum of everything. */
    double transposed[12], rows[3] = {0}, all = 0;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) {
            transposed[j * 3 + i] = A34[i * 4 + j];
            rows[i] += A34[i * 4 + j];
            all += A34[i * 4 + j];
        }
    CHECK_OK(sf_einsum("ij->ji", ops, 1, &out));
    CHECK_TENSOR(out, ((int64_t[]){4, 3}), 2, transposed, TOL);
    sf_tensor_release(out);
    CHECK_OK(sf_einsum("ij->i", ops, 1, &out));
    CHECK_TENSOR(out, ((int64_t[]){3}), 1, rows, TOL);
    sf_tensor_release(out);
    CHECK_OK(sf_einsum("ij->", ops, 1, &out));
    CHECK_SCALAR(out, all, TOL);
    sf_tensor_release(out);

    /* Repeated subscripts: the trace and the diagonal of a square matrix. */
    static const double sq[9] = {1, 2, 3, 4, 5, 6, 7, 8, 10};
    sf_tensor *m = make64(sq, (int64_t[]){3, 3}, 2);
    CHECK_OK(sf_einsum("ii", &m, 1, &out));
    CHECK_SCALAR(out, 16, TOL);
    sf_tensor_release(out);
    CHECK_OK(sf_einsum("ii->i", &m, 1, &out));
    CHECK_TENSOR(out, ((int64_t[]){3}), 1, ((double[]){1, 5, 10}), TOL);
    sf_tensor_release(out);

    /* Ellipsis with broadcasting: [2, 1, 3] x [4, 3] batched over "..." -> [2, 4]. */
    static const double e[6] = {1, 2, 3, 4, 5, 6};
    sf_tensor *left = make64(e, (int64_t[]){2, 1, 3}, 3);
    sf_tensor *right = make64(sq, (int64_t[]){3, 3}, 2);
    sf_tensor *pair[2] = {left, right};
    CHECK_OK(sf_einsum("...j,kj->...k", pair, 2, &out));
    double ek[6];
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 3; k++) {
            double s = 0;
            for (int j = 0; j < 3; j++) s += e[i * 3 + j] * sq[k * 3 + j];
            ek[i * 3 + k] = s;
        }
    CHECK_TENSOR(out, ((int64_t[]){2, 1, 3}), 3, ek, TOL);
    sf_tensor_release(out);

    /* Errors name the op and the problem; *out is NULL. */
    out = GARBAGE;
    CHECK_ERROR_NULL(out, sf_einsum("ij,jk->ik", ops, 1, &out), SF_ERR_INVALID_ARGUMENT, "sf_einsum: equation");
    CHECK_ERROR_NULL(out, sf_einsum("i%,jk", ops, 2, &out), SF_ERR_INVALID_ARGUMENT, "invalid subscript '%'");
    CHECK_ERROR_NULL(out, sf_einsum("ij,kl->im", ops, 2, &out), SF_ERR_INVALID_ARGUMENT, "'m' does not appear");
    CHECK_ERROR_NULL(out, sf_einsum("ij,ij->ii", ops, 2, &out), SF_ERR_INVALID_ARGUMENT, "more than once");
    CHECK_ERROR_NULL(out, sf_einsum("ij,ik->jk", ops, 2, &out), SF_ERR_SHAPE, "subscript 'i' has size 4");
    CHECK_ERROR_NULL(out, sf_einsum("ijk,jk", ops, 2, &out), SF_ERR_SHAPE, "operand 0 has 2 dims");
    CHECK_ERROR_NULL(out, sf_einsum(NULL, ops, 2, &out), SF_ERR_INVALID_ARGUMENT, "sf_einsum: equation is NULL");
    CHECK_ERROR_NULL(out, sf_einsum("i..j..", ops, 1, &out), SF_ERR_INVALID_ARGUMENT, "invalid ellipsis");
    RELEASE_TENSORS(a, bt, m, left, right);
}

/* ------------------------------------------------------------------------------------------------
 * Diagonals and triangles
 * ---------------------------------------------------------------------------------------------- */

static void test_diagonals(void) {
    sf_tensor *a = make64(A34, SHAPE34, 2), *out = NULL;
    CHECK_OK(sf_diagonal(a, 0, 0, 1, &out));
    CHECK_TENSOR(out, ((int64_t[]){3}), 1, ((double[]){1, 6, 11}), TOL);
    sf_tensor_release(out);
    CHECK_OK(sf_diagonal(a, 1, 0, 1, &out));
    CHECK_TENSOR(out, ((int64_t[]){3}), 1, ((double[]){-2, -7, -12}), TOL);
    sf_tensor_release(out);
    CHECK_OK(sf_diagonal(a, -1, 0, 1, &out));
    CHECK_TENSOR(out, ((int64_t[]){2}), 1, ((double[]){5, 10}), TOL);
    sf_tensor_release(out);
    CHECK_OK(sf_diagonal(a, 2, 1, 0, &out)); /* dims swapped: the diagonal of the transpose */
    CHECK_TENSOR(out, ((int64_t[]){1}), 1, ((double[]){9}), TOL);
    sf_tensor_release(out);
    CHECK_OK(sf_diagonal(a, 100, 0, 1, &out));
    CHECK_TENSOR(out, ((int64_t[]){0}), 1, NULL, TOL);
    sf_tensor_release(out);
    CHECK_OK(sf_diag(a, 0, &out));
    CHECK_TENSOR(out, ((int64_t[]){3}), 1, ((double[]){1, 6, 11}), TOL);
    sf_tensor_release(out);
    CHECK_OK(sf_trace(a, &out));
    CHECK_SCALAR(out, 18, TOL);
    sf_tensor_release(out);

    sf_tensor *v = make64((double[]){1, 2}, (int64_t[]){2}, 1);
    CHECK_OK(sf_diag(v, 1, &out));
    CHECK_TENSOR(out, ((int64_t[]){3, 3}), 2, ((double[]){0, 1, 0, 0, 0, 2, 0, 0, 0}), TOL);
    sf_tensor_release(out);
    CHECK_OK(sf_diag_embed(v, -1, -2, -1, &out));
    CHECK_TENSOR(out, ((int64_t[]){3, 3}), 2, ((double[]){0, 0, 0, 1, 0, 0, 0, 2, 0}), TOL);
    sf_tensor_release(out);
    /* inf on the diagonal stays inf and the zeros stay 0 (no multiplication by an identity). */
    sf_tensor *inf = make64((double[]){INFINITY, 3}, (int64_t[]){2}, 1);
    CHECK_OK(sf_diag_embed(inf, 0, 0, 1, &out));
    double embedded[4] = {0};
    CHECK(read64(out, embedded, 4));
    CHECK(isinf(embedded[0]) && embedded[1] == 0 && embedded[2] == 0 && embedded[3] == 3);
    sf_tensor_release(out);

    CHECK_OK(sf_tril(a, 0, &out));
    CHECK_TENSOR(out, SHAPE34, 2, ((double[]){1, 0, 0, 0, 5, 6, 0, 0, 9, 10, 11, 0}), TOL);
    sf_tensor_release(out);
    CHECK_OK(sf_triu(a, 1, &out));
    CHECK_TENSOR(out, SHAPE34, 2, ((double[]){0, -2, 3, 4, 0, 0, -7, 8, 0, 0, 0, -12}), TOL);
    sf_tensor_release(out);
    CHECK_OK(sf_tril(a, INT64_MAX, &out));
    CHECK_TENSOR(out, SHAPE34, 2, A34, TOL);
    sf_tensor_release(out);
    CHECK_OK(sf_triu(a, INT64_MIN, &out));
    CHECK_TENSOR(out, SHAPE34, 2, A34, TOL);
    sf_tensor_release(out);

    out = GARBAGE;
    CHECK_ERROR_NULL(out, sf_diagonal(v, 0, 0, 1, &out), SF_ERR_SHAPE, "sf_diagonal: expected a tensor of at least 2 dims");
    CHECK_ERROR_NULL(out, sf_diagonal(a, 0, 1, 1, &out), SF_ERR_INVALID_ARGUMENT, "cannot be the same dim");
    CHECK_ERROR_NULL(out, sf_diagonal(a, 0, 0, 2, &out), SF_ERR_INVALID_ARGUMENT, "sf_diagonal: dim 2 is out of range");
    CHECK_ERROR_NULL(out, sf_diag_embed(a, INT64_MAX, -2, -1, &out), SF_ERR_SHAPE, "sf_diag_embed");
    CHECK_ERROR_NULL(out, sf_trace(v, &out), SF_ERR_SHAPE, "sf_trace: expected a 2-D tensor");
    CHECK_ERROR_NULL(out, sf_tril(v, 0, &out), SF_ERR_SHAPE, "sf_tril");
    CHECK_ERROR_NULL(out, sf_triu(NULL, 0, &out), SF_ERR_INVALID_ARGUMENT, "sf_triu: x is NULL");
    CHECK_STATUS(sf_diag(a, 0, NULL), SF_ERR_INVALID_ARGUMENT);
    RELEASE_TENSORS(a, v, inf);
}

/* ------------------------------------------------------------------------------------------------
 * Scans, sorting
 * ---------------------------------------------------------------------------------------------- */

static int sum_of_cumprod(void *user_data, sf_tensor *const *inputs, size_t n_inputs, sf_tensor **outputs,
                          size_t n_outputs) {
    (void)user_data, (void)n_inputs, (void)n_outputs;
    arena a = {0};
    sf_tensor *r = NULL;
    sf_tensor *p = a.failed ? NULL : keep(&a, sf_cumprod(inputs[0], 0, &r), &r);
    put(&a, outputs, 0, sum_all(&a, p));
    return finish(&a);
}

static void test_scans(void) {
    sf_tensor *a = make64(A34, SHAPE34, 2), *out = NULL;
    double running[12];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) running[i * 4 + j] = A34[i * 4 + j] + (j ? running[i * 4 + j - 1] : 0);
    CHECK_OK(sf_cumsum(a, -1, &out));
    CHECK_TENSOR(out, SHAPE34, 2, running, TOL);
    sf_tensor_release(out);
    double products[12];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) products[i * 4 + j] = A34[i * 4 + j] * (i ? products[(i - 1) * 4 + j] : 1);
    CHECK_OK(sf_cumprod(a, 0, &out));
    CHECK_TENSOR(out, SHAPE34, 2, products, TOL);
    sf_tensor_release(out);

    /* Integers give int64. */
    int32_t ints[4] = {1, 2, 3, 4};
    sf_tensor *i32 = NULL;
    CHECK_OK(sf_tensor_from_data(ints, SF_INT32, (int64_t[]){4}, 1, &i32));
    CHECK_OK(sf_cumsum(i32, 0, &out));
    sf_dtype dtype = SF_BOOL;
    int64_t got[4] = {0};
    CHECK_OK(sf_tensor_dtype(out, &dtype));
    CHECK_EQ(dtype, SF_INT64);
    CHECK_OK(sf_tensor_copy_to(out, got, sizeof got));
    CHECK(got[0] == 1 && got[1] == 3 && got[2] == 6 && got[3] == 10);
    sf_tensor_release(out);

    /* d/dx sum(cumprod(x)) at x = (2, 0, 3): (1 + x1 + x1 x2, x0 + x0 x2, x0 x1) = (1, 8, 0), exact
     * through the zero (a formula dividing by x would give NaN). */
    sf_function *f = NULL, *g = NULL;
    CHECK_OK(sf_function_new(sum_of_cumprod, NULL, NULL, 1, 1, &f));
    CHECK_OK(sf_grad(f, NULL, 0, false, &g));
    sf_tensor *x = make64((double[]){2, 0, 3}, (int64_t[]){3}, 1), *dx = NULL;
    CHECK_OK(sf_call(g, &x, 1, &dx, 1));
    CHECK_TENSOR(dx, ((int64_t[]){3}), 1, ((double[]){1, 8, 0}), TOL);
    RELEASE_TENSORS(dx, x, i32);
    RELEASE_FUNCTIONS(f, g);

    out = GARBAGE;
    CHECK_ERROR_NULL(out, sf_cumsum(a, 2, &out), SF_ERR_INVALID_ARGUMENT, "sf_cumsum: dim 2 is out of range");
    CHECK_ERROR_NULL(out, sf_cumprod(NULL, 0, &out), SF_ERR_INVALID_ARGUMENT, "sf_cumprod: x is NULL");
    sf_tensor_release(a);
}

static void test_sorting(void) {
    sf_tensor *x = make64((double[]){3, NAN, -1, 3, 2}, (int64_t[]){5}, 1), *values = NULL, *indices = NULL;
    CHECK_OK(sf_sort(x, 0, false, &values, &indices));
    double v[5];
    int64_t idx[5];
    CHECK(read64(values, v, 5));
    CHECK(v[0] == -1 && v[1] == 2 && v[2] == 3 && v[3] == 3 && isnan(v[4]));
    CHECK_OK(sf_tensor_copy_to(indices, idx, sizeof idx));
    CHECK(idx[0] == 2 && idx[1] == 4 && idx[2] == 0 && idx[3] == 3 && idx[4] == 1); /* stable, NaN last */
    RELEASE_TENSORS(values, indices);
    CHECK_OK(sf_argsort(x, -1, true, &values));
    CHECK_OK(sf_tensor_copy_to(values, idx, sizeof idx));
    CHECK(idx[0] == 1 && idx[1] == 0 && idx[2] == 3 && idx[3] == 4 && idx[4] == 2); /* NaN first, ties in order */
    sf_tensor_release(values);

    sf_tensor *a = make64(A34, SHAPE34, 2);
    CHECK_OK(sf_topk(a, 2, 0, true, &values, &indices));
    CHECK_TENSOR(values, ((int64_t[]){2, 4}), 2, ((double[]){9, 10, 11, 8, 5, 6, 3, 4}), TOL);
    int64_t top[8];
    CHECK_OK(sf_tensor_copy_to(indices, top, sizeof top));
    CHECK(top[0] == 2 && top[1] == 2 && top[2] == 2 && top[3] == 1 && top[4] == 1 && top[5] == 1 && top[6] == 0 &&
          top[7] == 0);
    RELEASE_TENSORS(values, indices);
    CHECK_OK(sf_topk(a, 1, 1, false, &values, &indices));
    CHECK_TENSOR(values, ((int64_t[]){3, 1}), 2, ((double[]){-2, -7, -12}), TOL);
    RELEASE_TENSORS(values, indices);

    values = GARBAGE, indices = GARBAGE;
    CHECK_ERROR(sf_topk(a, 5, 0, true, &values, &indices), SF_ERR_INVALID_ARGUMENT, "sf_topk: k (5) is out of range");
    CHECK(values == NULL && indices == NULL);
    values = GARBAGE, indices = GARBAGE;
    CHECK_ERROR(sf_sort(a, 0, false, &values, NULL), SF_ERR_INVALID_ARGUMENT, "sf_sort: indices is NULL");
    CHECK(values == NULL);
    CHECK_ERROR(sf_sort(a, 3, false, &values, &indices), SF_ERR_INVALID_ARGUMENT, "sf_sort: dim 3 is out of range");
    CHECK(values == NULL && indices == NULL);
    RELEASE_TENSORS(a, x);
}

/* ------------------------------------------------------------------------------------------------
 * Norms
 * ---------------------------------------------------------------------------------------------- */

static int two_norm(void *user_data, sf_tensor *const *inputs, size_t n_inputs, sf_tensor **outputs, size_t n_outputs) {
    (void)user_data, (void)n_inputs, (void)n_outputs;
    return sf_vector_norm(inputs[0], 2, NULL, 0, false, &outputs[0]) == SF_OK ? 0 : 1;
}

static void test_norms(void) {
    sf_tensor *a = make64(A34, SHAPE34, 2), *out = NULL;
    double squares = 0, abs_sum = 0, largest = 0, cubes = 0;
    for (int i = 0; i < 12; i++) {
        squares += A34[i] * A34[i];
        abs_sum += fabs(A34[i]);
        largest = fmax(largest, fabs(A34[i]));
        cubes += pow(fabs(A34[i]), 3);
    }
    CHECK_OK(sf_vector_norm(a, 2, NULL, 0, false, &out));
    CHECK_SCALAR(out, sqrt(squares), TOL);
    sf_tensor_release(out);
    CHECK_OK(sf_vector_norm(a, 1, NULL, 0, false, &out));
    CHECK_SCALAR(out, abs_sum, TOL);
    sf_tensor_release(out);
    CHECK_OK(sf_vector_norm(a, INFINITY, NULL, 0, false, &out));
    CHECK_SCALAR(out, largest, TOL);
    sf_tensor_release(out);
    CHECK_OK(sf_vector_norm(a, 3, NULL, 0, false, &out));
    CHECK_SCALAR(out, cbrt(cubes), 1e-10);
    sf_tensor_release(out);
    CHECK_OK(sf_vector_norm(a, 0, (int64_t[]){0}, 1, true, &out));
    CHECK_TENSOR(out, ((int64_t[]){1, 4}), 2, ((double[]){3, 3, 3, 3}), TOL);
    sf_tensor_release(out);
    CHECK_OK(sf_matrix_norm(a, "fro", -2, -1, false, &out));
    CHECK_SCALAR(out, sqrt(squares), TOL);
    sf_tensor_release(out);
    /* 1: the largest column sum of |a| (3 + 10 + ... ); inf: the largest row sum. */
    double column_max = 0, row_max = 0;
    for (int j = 0; j < 4; j++) column_max = fmax(column_max, fabs(A34[j]) + fabs(A34[4 + j]) + fabs(A34[8 + j]));
    for (int i = 0; i < 3; i++) {
        double s = 0;
        for (int j = 0; j < 4; j++) s += fabs(A34[i * 4 + j]);
        row_max = fmax(row_max, s);
    }
    CHECK_OK(sf_matrix_norm(a, "1", 0, 1, false, &out));
    CHECK_SCALAR(out, column_max, TOL);
    sf_tensor_release(out);
    CHECK_OK(sf_matrix_norm(a, "inf", 0, 1, true, &out));
    CHECK_TENSOR(out, ((int64_t[]){1, 1}), 2, &row_max, TOL);
    sf_tensor_release(out);

    /* The gradient of the 2-norm at 0 is 0 (torch's subgradient), not NaN. */
    sf_function *f = NULL, *g = NULL;
    CHECK_OK(sf_function_new(two_norm, NULL, NULL, 1, 1, &f));
    CHECK_OK(sf_grad(f, NULL, 0, false, &g));
    sf_tensor *zero = make64((double[]){0, 0, 0}, (int64_t[]){3}, 1), *dz = NULL;
    CHECK_OK(sf_call(g, &zero, 1, &dz, 1));
    CHECK_TENSOR(dz, ((int64_t[]){3}), 1, ((double[]){0, 0, 0}), 0);
    sf_tensor *x = make64((double[]){3, 0, -4}, (int64_t[]){3}, 1), *dx = NULL;
    CHECK_OK(sf_call(g, &x, 1, &dx, 1));
    CHECK_TENSOR(dx, ((int64_t[]){3}), 1, ((double[]){0.6, 0, -0.8}), TOL);
    RELEASE_TENSORS(zero, dz, x, dx);
    RELEASE_FUNCTIONS(f, g);

    out = GARBAGE;
    CHECK_ERROR_NULL(out, sf_matrix_norm(a, "3", -2, -1, false, &out), SF_ERR_INVALID_ARGUMENT, "ord '3' is not one of");
    CHECK_ERROR_NULL(out, sf_matrix_norm(a, "fro", 1, 1, false, &out), SF_ERR_INVALID_ARGUMENT, "two different dims");
    CHECK_ERROR_NULL(out, sf_vector_norm(a, NAN, NULL, 0, false, &out), SF_ERR_INVALID_ARGUMENT, "ord must not be NaN");
    CHECK_ERROR_NULL(out, sf_vector_norm(a, 2, NULL, 3, false, &out), SF_ERR_INVALID_ARGUMENT, "dims is NULL");
    sf_tensor *ints = make_i64((int64_t[]){1, 2}, (int64_t[]){2}, 1);
    CHECK_ERROR_NULL(out, sf_vector_norm(ints, 2, NULL, 0, false, &out), SF_ERR_DTYPE, "sf_vector_norm: expected a float tensor");
    RELEASE_TENSORS(a, ints);
}

/* ------------------------------------------------------------------------------------------------
 * roll, repeat, tile
 * ---------------------------------------------------------------------------------------------- */

static void test_repetition(void) {
    sf_tensor *a = make64(A34, SHAPE34, 2), *out = NULL;
    double rolled[12];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) rolled[((i + 1) % 3) * 4 + (j + 4 - 1) % 4] = A34[i * 4 + j];
    CHECK_OK(sf_roll(a, (int64_t[]){1, -1}, 2, (int64_t[]){0, 1}, 2, &out));
    CHECK_TENSOR(out, SHAPE34, 2, rolled, TOL);
    sf_tensor_release(out);
    double flat[12];
    for (int k = 0; k < 12; k++) flat[(k + 14) % 12] = A34[k];
    CHECK_OK(sf_roll(a, (int64_t[]){14}, 1, NULL, 0, &out));
    CHECK_TENSOR(out, SHAPE34, 2, flat, TOL);
    sf_tensor_release(out);

    sf_tensor *v = make64((double[]){1, 2}, (int64_t[]){2}, 1);
    CHECK_OK(sf_repeat(v, (int64_t[]){2, 3}, 2, &out));
    CHECK_TENSOR(out, ((int64_t[]){2, 6}), 2, ((double[]){1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2}), TOL);
    sf_tensor_release(out);
    CHECK_OK(sf_tile(a, (int64_t[]){2}, 1, &out));
    double tiled[24];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 8; j++) tiled[i * 8 + j] = A34[i * 4 + j % 4];
    CHECK_TENSOR(out, ((int64_t[]){3, 8}), 2, tiled, TOL);
    sf_tensor_release(out);

    out = GARBAGE;
    CHECK_ERROR_NULL(out, sf_roll(a, (int64_t[]){1, 2}, 2, (int64_t[]){0}, 1, &out), SF_ERR_INVALID_ARGUMENT, "sf_roll: shifts");
    CHECK_ERROR_NULL(out, sf_repeat(a, (int64_t[]){2}, 1, &out), SF_ERR_INVALID_ARGUMENT, "sf_repeat: the number of repeats");
    CHECK_ERROR_NULL(out, sf_repeat(v, (int64_t[]){-1}, 1, &out), SF_ERR_INVALID_ARGUMENT, "non-negative");
    CHECK_ERROR_NULL(out, sf_tile(v, (int64_t[]){INT64_MAX, 4}, 2, &out), SF_ERR_SHAPE, "sf_tile");
    RELEASE_TENSORS(a, v);
}

int main(void) {
    test_einsum();
    test_diagonals();
    test_scans();
    test_sorting();
    test_norms();
    test_repetition();
    return check_summary();
}
