/* test_linalg.c — the sf_linalg_* functions from C:
 *  1. The call contract: NULL tensors and NULL outs are SF_ERR_INVALID_ARGUMENT naming the
 *     function, and every failure leaves the outs NULL (both outs of slogdet and eigh).
 *  2. Values against references computed here in C (Gaussian elimination, the 2x2 and 3x3
 *     determinant and eigenvalue formulas, L L^T = A).
 *  3. Errors: not positive-definite (naming the batch element), singular, shapes, dtypes.
 *  4. Transforms: the Hessian of log det A against -A^-T ⊗ A^-1 and the gradient of a solve
 *     against central differences, through sf_hessian and sf_grad.
 *  5. svd, svdvals, pinv and matrix_norm 'nuc'/2/-2 on a rotated diagonal matrix (closed forms:
 *     singular values 3 and 2, pinv = A^-1, d nuc / dA = U Vh = R), their call contract (three outs)
 *     and the unsupported derivative of full U of a non-square matrix.
 *  6. qr (Q R = A, QᵀQ = I), lstsq against the normal equations, lu_factor/lu_solve against
 *     Gaussian elimination, their errors (bad mode, pivots out of range, no derivative of lu_factor). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor_check.h"

#define TOL 1e-12

static const double A3[9] = {4, 1, -2, 1, 5, 0.5, -2, 0.5, 6};   /* symmetric positive-definite */
static const int64_t S33[2] = {3, 3}, S32[2] = {3, 2}, S3[1] = {3};

/* X with A X = B by Gaussian elimination with partial pivoting (n <= 8, k <= 8). */
static void ref_solve(const double *a, const double *b, double *x, int n, int k) {
    double m[8][16];
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) m[i][j] = a[i * n + j];
        for (int j = 0; j < k; j++) m[i][n + j] = b[i * k + j];
    }
    for (int c = 0; c < n; c++) {
        int p = c;
        for (int r = c + 1; r < n; r++) if (fabs(m[r][c]) > fabs(m[p][c])) p = r;
        for (int j = 0; j < n + k; j++) { double t = m[c][j]; m[c][j] = m[p][j]; m[p][j] = t; }
        for (int r = 0; r < n; r++) {
            if (r == c) continue;
            double f = m[r][c] / m[c][c];
            for (int j = 0; j < n + k; j++) m[r][j] -= f * m[c][j];
        }
    }
    for (int i = 0; i < n; i++) for (int j = 0; j < k; j++) x[i * k + j] = m[i][n + j] / m[i][i];
}

static double det3(const double *a) {
    return a[0] * (a[4] * a[8] - a[5] * a[7]) - a[1] * (a[3] * a[8] - a[5] * a[6]) + a[2] * (a[3] * a[7] - a[4] * a[6]);
}

static void test_call_contract(void) {
    sf_tensor *a = make64(A3, S33, 2), *b = make64((double[]){1, 2, 3, 4, 5, 6}, S32, 2), *out = NULL, *out2 = NULL;
    CHECK_ERROR_NULL(out, sf_linalg_solve(NULL, b, true, &out), SF_ERR_INVALID_ARGUMENT, "sf_linalg_solve:");
    CHECK_ERROR_NULL(out, sf_linalg_solve(a, NULL, true, &out), SF_ERR_INVALID_ARGUMENT, "sf_linalg_solve:");
    CHECK_ERROR(sf_linalg_solve(a, b, true, NULL), SF_ERR_INVALID_ARGUMENT, "out is NULL");
    CHECK_ERROR_NULL(out, sf_linalg_solve_triangular(a, NULL, true, true, false, &out), SF_ERR_INVALID_ARGUMENT,
                     "sf_linalg_solve_triangular:");
    CHECK_ERROR_NULL(out, sf_linalg_cholesky(NULL, false, &out), SF_ERR_INVALID_ARGUMENT, "sf_linalg_cholesky:");
    CHECK_ERROR_NULL(out, sf_linalg_cholesky_solve(b, NULL, false, &out), SF_ERR_INVALID_ARGUMENT, "sf_linalg_cholesky_solve:");
    CHECK_ERROR_NULL(out, sf_linalg_inv(NULL, &out), SF_ERR_INVALID_ARGUMENT, "sf_linalg_inv:");
    CHECK_ERROR_NULL(out, sf_linalg_det(NULL, &out), SF_ERR_INVALID_ARGUMENT, "sf_linalg_det:");
    CHECK_ERROR_NULL(out, sf_linalg_logdet(NULL, &out), SF_ERR_INVALID_ARGUMENT, "sf_linalg_logdet:");
    CHECK_ERROR_NULL(out, sf_linalg_eigvalsh(NULL, false, &out), SF_ERR_INVALID_ARGUMENT, "sf_linalg_eigvalsh:");
    /* Two outs: either NULL is refused, a failure leaves both NULL. */
    CHECK_ERROR(sf_linalg_slogdet(a, NULL, &out2), SF_ERR_INVALID_ARGUMENT, "out_sign is NULL");
    CHECK_ERROR(sf_linalg_slogdet(a, &out, NULL), SF_ERR_INVALID_ARGUMENT, "out_logabsdet is NULL");
    CHECK_ERROR(sf_linalg_eigh(a, false, NULL, &out2), SF_ERR_INVALID_ARGUMENT, "out_eigenvalues is NULL");
    out = GARBAGE, out2 = GARBAGE;
    CHECK_ERROR(sf_linalg_slogdet(NULL, &out, &out2), SF_ERR_INVALID_ARGUMENT, "sf_linalg_slogdet:");
    CHECK(out == NULL && out2 == NULL);
    out = GARBAGE, out2 = GARBAGE;
    CHECK_ERROR(sf_linalg_eigh(b, false, &out, &out2), SF_ERR_SHAPE, "sf_linalg_eigh:");
    CHECK(out == NULL && out2 == NULL);
    RELEASE_TENSORS(a, b);
}

static void test_values(void) {
    sf_tensor *a = make64(A3, S33, 2), *b = make64((double[]){1, 2, 3, 4, 5, 6}, S32, 2), *x = NULL;
    double expected[9];
    ref_solve(A3, (double[]){1, 2, 3, 4, 5, 6}, expected, 3, 2);
    CHECK_OK(sf_linalg_solve(a, b, true, &x));
    CHECK_TENSOR(x, S32, 2, expected, 1e-12);
    sf_tensor_release(x);

    /* A vector right-hand side, and cholesky_solve on the same system. */
    sf_tensor *v = make64((double[]){1, 3, 5}, S3, 1), *l = NULL, *xv = NULL, *xc = NULL;
    ref_solve(A3, (double[]){1, 3, 5}, expected, 3, 1);
    CHECK_OK(sf_linalg_solve(a, v, true, &xv));
    CHECK_TENSOR(xv, S3, 1, expected, 1e-12);
    CHECK_OK(sf_linalg_cholesky(a, false, &l));
    double lv[9], product[9];
    CHECK(read64(l, lv, 9));
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            product[i * 3 + j] = 0;
            for (int k = 0; k < 3; k++) product[i * 3 + j] += lv[i * 3 + k] * lv[j * 3 + k];
        }
    for (int i = 0; i < 9; i++) CHECK_NEAR(product[i], A3[i], 1e-12);
    CHECK(lv[1] == 0 && lv[2] == 0 && lv[5] == 0);
    sf_tensor *v2 = NULL;
    CHECK_OK(sf_unsqueeze(v, 1, &v2));
    CHECK_OK(sf_linalg_cholesky_solve(v2, l, false, &xc));
    CHECK_TENSOR(xc, ((int64_t[]){3, 1}), 2, expected, 1e-12);

    /* Triangular: the lower triangle of A3, against forward substitution. */
    sf_tensor *xt = NULL;
    CHECK_OK(sf_linalg_solve_triangular(a, v2, false, true, false, &xt));
    double fwd[3] = {1.0 / 4, 0, 0};
    fwd[1] = (3 - 1 * fwd[0]) / 5;
    fwd[2] = (5 + 2 * fwd[0] - 0.5 * fwd[1]) / 6;
    CHECK_TENSOR(xt, ((int64_t[]){3, 1}), 2, fwd, 1e-12);

    /* det, slogdet, logdet, inv. */
    sf_tensor *d = NULL, *sign = NULL, *logabs = NULL, *ld = NULL, *inv = NULL;
    CHECK_OK(sf_linalg_det(a, &d));
    CHECK_SCALAR(d, det3(A3), 1e-12);
    CHECK_OK(sf_linalg_slogdet(a, &sign, &logabs));
    CHECK_SCALAR(sign, 1, 0);
    CHECK_SCALAR(logabs, log(det3(A3)), 1e-12);
    CHECK_OK(sf_linalg_logdet(a, &ld));
    CHECK_SCALAR(ld, log(det3(A3)), 1e-12);
    CHECK_OK(sf_linalg_inv(a, &inv));
    double identity[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    ref_solve(A3, identity, expected, 3, 3);
    CHECK_TENSOR(inv, S33, 2, expected, 1e-12);

    /* eigh of [[2, 1], [1, 2]]: eigenvalues 1 and 3, eigenvectors (1, -1)/√2 and (1, 1)/√2 up to sign. */
    sf_tensor *s2 = make64((double[]){2, 1, 1, 2}, (int64_t[]){2, 2}, 2), *values = NULL, *vectors = NULL, *only = NULL;
    CHECK_OK(sf_linalg_eigh(s2, false, &values, &vectors));
    CHECK_TENSOR(values, ((int64_t[]){2}), 1, ((double[]){1, 3}), 1e-12);
    double vec[4];
    CHECK(read64(vectors, vec, 4));
    CHECK_NEAR(fabs(vec[0]), sqrt(0.5), 1e-12);
    CHECK_NEAR(vec[0] + vec[2], 0, 1e-12);  /* first column ∝ (1, -1) */
    CHECK_NEAR(vec[1] - vec[3], 0, 1e-12);  /* second column ∝ (1, 1) */
    CHECK_OK(sf_linalg_eigvalsh(s2, true, &only));
    CHECK_TENSOR(only, ((int64_t[]){2}), 1, ((double[]){1, 3}), 1e-12);
    RELEASE_TENSORS(a, b, v, v2, l, xv, xc, xt, d, sign, logabs, ld, inv, s2, values, vectors, only);
}

static void test_errors(void) {
    sf_tensor *out = NULL;
    /* The second matrix of the batch is not positive-definite (its leading minor of order 2 is -3). */
    sf_tensor *batch = make64((double[]){4, 0, 0, 1, 1, 2, 2, 1}, (int64_t[]){2, 2, 2}, 3);
    CHECK_ERROR_NULL(out, sf_linalg_cholesky(batch, false, &out), SF_ERR_INVALID_ARGUMENT,
                     "sf_linalg_cholesky: the input (batch element [1]) is not positive-definite (the leading minor of order 2");
    sf_tensor *singular = make64((double[]){1, 2, 2, 4}, (int64_t[]){2, 2}, 2), *rhs = make64((double[]){1, 1}, (int64_t[]){2}, 1);
    CHECK_ERROR_NULL(out, sf_linalg_solve(singular, rhs, true, &out), SF_ERR_INVALID_ARGUMENT, "sf_linalg_solve: the matrix is singular");
    CHECK_ERROR_NULL(out, sf_linalg_inv(singular, &out), SF_ERR_INVALID_ARGUMENT, "sf_linalg_inv: sf_linalg_solve: the matrix is singular");
    /* det of a singular matrix is 0 (torch), not an error. */
    CHECK_OK(sf_linalg_det(singular, &out));
    CHECK_SCALAR(out, 0, 0);
    sf_tensor_release(out);
    sf_tensor *rect = make64((double[]){1, 2, 3, 4, 5, 6}, S32, 2);
    CHECK_ERROR_NULL(out, sf_linalg_det(rect, &out), SF_ERR_SHAPE, "expected square matrices in the last two dims, got shape [3, 2]");
    CHECK_ERROR_NULL(out, sf_linalg_solve(singular, rect, true, &out), SF_ERR_SHAPE, "B needs 2 rows");
    sf_tensor *ints = NULL;
    CHECK_OK(sf_cast(singular, SF_INT64, &ints));
    CHECK_ERROR_NULL(out, sf_linalg_cholesky(ints, false, &out), SF_ERR_DTYPE, "sf_linalg_cholesky:");
    RELEASE_TENSORS(batch, singular, rhs, rect, ints);
}

/* log det of in[0]. */
static int logdet_fn(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)ud, (void)n_in, (void)n_out;
    return sf_linalg_logdet(in[0], &out[0]) == SF_OK ? 0 : 1;
}

/* sum(solve(A, b) * w): its gradient in A is -A^-T w x^T, in b A^-T w. */
static int solve_fn(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)n_in, (void)n_out;
    sf_tensor *x = NULL, *weighted = NULL;
    sf_status s = sf_linalg_solve(in[0], in[1], true, &x);
    if (s == SF_OK) s = sf_mul(x, (sf_tensor *)ud, &weighted);
    if (s == SF_OK) s = sf_sum(weighted, NULL, 0, false, &out[0]);
    RELEASE_TENSORS(x, weighted);
    return s == SF_OK ? 0 : 1;
}

static double solve_objective(const double *a, const double *b, const double *w) {
    double x[3];
    ref_solve(a, b, x, 3, 1);
    return w[0] * x[0] + w[1] * x[1] + w[2] * x[2];
}

static void test_transforms(void) {
    /* Hessian of log det at A3: H[i][j][k][l] = -(A^-1)[l][i] (A^-1)[j][k]. */
    sf_function *f = NULL, *h = NULL;
    CHECK_OK(sf_function_new(logdet_fn, NULL, NULL, 1, 1, &f));
    CHECK_OK(sf_hessian(f, (int32_t[]){0}, 1, &h));
    sf_tensor *a = make64(A3, S33, 2), *hess = NULL;
    CHECK_OK(sf_call(h, &a, 1, &hess, 1));
    double inv[9], expected[81];
    ref_solve(A3, (double[]){1, 0, 0, 0, 1, 0, 0, 0, 1}, inv, 3, 3);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 3; k++)
                for (int l = 0; l < 3; l++) expected[((i * 3 + j) * 3 + k) * 3 + l] = -inv[l * 3 + i] * inv[j * 3 + k];
    CHECK_TENSOR(hess, ((int64_t[]){3, 3, 3, 3}), 4, expected, 1e-10);

    /* Gradient of a solve in both arguments against central differences. */
    const double bv[3] = {1, -2, 0.5}, wv[3] = {0.3, 1.1, -0.7};
    sf_tensor *b = make64(bv, S3, 1), *w = make64(wv, S3, 1), *grads[2] = {NULL, NULL};
    sf_function *g = NULL, *dg = NULL;
    CHECK_OK(sf_function_new(solve_fn, w, NULL, 2, 1, &g));
    CHECK_OK(sf_grad(g, (int32_t[]){0, 1}, 2, false, &dg));
    sf_tensor *inputs[2] = {a, b};
    CHECK_OK(sf_call(dg, inputs, 2, grads, 2));
    double fd[12], step = 1e-6;
    for (int p = 0; p < 12; p++) {
        double ap[9], am[9], bp[3], bm[3];
        memcpy(ap, A3, sizeof ap), memcpy(am, A3, sizeof am), memcpy(bp, bv, sizeof bp), memcpy(bm, bv, sizeof bm);
        if (p < 9) ap[p] += step, am[p] -= step;
        else bp[p - 9] += step, bm[p - 9] -= step;
        fd[p] = (solve_objective(ap, bp, wv) - solve_objective(am, bm, wv)) / (2 * step);
    }
    CHECK_TENSOR(grads[0], S33, 2, fd, 1e-8);
    CHECK_TENSOR(grads[1], S3, 1, fd + 9, 1e-8);
    RELEASE_TENSORS(a, hess, b, w, grads[0], grads[1]);
    RELEASE_FUNCTIONS(f, h, g, dg);
}

static int nuclear_fn(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)ud, (void)n_in, (void)n_out;
    return sf_matrix_norm(in[0], "nuc", -2, -1, false, &out[0]) == SF_OK ? 0 : 1;
}

/* sum of full U: its derivative needs square matrices. */
static int full_u_fn(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)ud, (void)n_in, (void)n_out;
    sf_tensor *u = NULL, *s = NULL, *vh = NULL;
    sf_status status = sf_linalg_svd(in[0], true, &u, &s, &vh);
    if (status == SF_OK) status = sf_sum(u, NULL, 0, false, &out[0]);
    RELEASE_TENSORS(u, s, vh);
    return status == SF_OK ? 0 : 1;
}

static void test_svd(void) {
    const double c = cos(0.3), sn = sin(0.3);
    const double r[4] = {c, -sn, sn, c}, a_data[4] = {3 * c, -2 * sn, 3 * sn, 2 * c};   /* R diag(3, 2) */
    const int64_t S22[2] = {2, 2};
    sf_tensor *a = make64(a_data, S22, 2), *u = NULL, *s = NULL, *vh = NULL, *out = NULL;
    CHECK_OK(sf_linalg_svd(a, false, &u, &s, &vh));
    CHECK_TENSOR(s, ((int64_t[]){2}), 1, ((double[]){3, 2}), 1e-12);
    double ud[4], sd[2], vd[4];
    CHECK(read64(u, ud, 4) && read64(s, sd, 2) && read64(vh, vd, 4));
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            double rebuilt = ud[i * 2] * sd[0] * vd[j] + ud[i * 2 + 1] * sd[1] * vd[2 + j];
            CHECK(fabs(rebuilt - a_data[i * 2 + j]) < 1e-12);
        }
    RELEASE_TENSORS(u, s, vh);
    CHECK_OK(sf_linalg_svdvals(a, &out));
    CHECK_TENSOR(out, ((int64_t[]){2}), 1, ((double[]){3, 2}), 1e-12);
    sf_tensor_release(out);
    double inv[4];
    ref_solve(a_data, (double[]){1, 0, 0, 1}, inv, 2, 2);
    CHECK_OK(sf_linalg_pinv(a, 0, NAN, &out));
    CHECK_TENSOR(out, S22, 2, inv, 1e-12);
    sf_tensor_release(out);
    CHECK_OK(sf_matrix_norm(a, "nuc", -2, -1, false, &out));
    CHECK_TENSOR(out, ((int64_t[]){0}), 0, ((double[]){5}), 1e-12);
    sf_tensor_release(out);
    CHECK_OK(sf_matrix_norm(a, "2", -2, -1, false, &out));
    CHECK_TENSOR(out, ((int64_t[]){0}), 0, ((double[]){3}), 1e-12);
    sf_tensor_release(out);
    CHECK_OK(sf_matrix_norm(a, "-2", -2, -1, false, &out));
    CHECK_TENSOR(out, ((int64_t[]){0}), 0, ((double[]){2}), 1e-12);
    sf_tensor_release(out);

    /* A tall matrix: full U is 3x3, reduced 3x2. */
    sf_tensor *tall = make64((double[]){0, 2, 3, 0, 0, 0}, S32, 2);
    CHECK_OK(sf_linalg_svd(tall, true, &u, &s, &vh));
    int64_t shape[2] = {0, 0};
    CHECK(sf_tensor_shape(u, shape, 2) == SF_OK && shape[0] == 3 && shape[1] == 3);
    CHECK_TENSOR(s, ((int64_t[]){2}), 1, ((double[]){3, 2}), 1e-12);
    RELEASE_TENSORS(u, s, vh);
    CHECK_OK(sf_linalg_svd(tall, false, &u, &s, &vh));
    CHECK(sf_tensor_shape(u, shape, 2) == SF_OK && shape[0] == 3 && shape[1] == 2);
    CHECK(sf_tensor_shape(vh, shape, 2) == SF_OK && shape[0] == 2 && shape[1] == 2);
    RELEASE_TENSORS(u, s, vh);
    CHECK_OK(sf_linalg_pinv(tall, 0, NAN, &out));
    CHECK_TENSOR(out, ((int64_t[]){2, 3}), 2, ((double[]){0, 1.0 / 3, 0, 0.5, 0, 0}), 1e-12);
    sf_tensor_release(out);

    /* The call contract: any NULL out is refused; a failure leaves all three NULL. */
    CHECK_ERROR(sf_linalg_svd(a, false, &u, NULL, &vh), SF_ERR_INVALID_ARGUMENT, "out_S is NULL");
    u = GARBAGE, s = GARBAGE, vh = GARBAGE;
    CHECK_ERROR(sf_linalg_svd(NULL, false, &u, &s, &vh), SF_ERR_INVALID_ARGUMENT, "sf_linalg_svd:");
    CHECK(u == NULL && s == NULL && vh == NULL);
    sf_tensor *vec = make64((double[]){1, 2, 3}, S3, 1);
    CHECK_ERROR_NULL(out, sf_linalg_svdvals(vec, &out), SF_ERR_SHAPE, "sf_linalg_svdvals:");
    CHECK_ERROR_NULL(out, sf_linalg_pinv(a, -1, NAN, &out), SF_ERR_INVALID_ARGUMENT, "atol must be non-negative");

    /* d nuc / dA = U Vh = R; full U of a non-square matrix has no derivative. */
    sf_function *f = NULL, *g = NULL;
    CHECK_OK(sf_function_new(nuclear_fn, NULL, NULL, 1, 1, &f));
    CHECK_OK(sf_grad(f, (int32_t[]){0}, 1, false, &g));
    CHECK_OK(sf_call(g, &a, 1, &out, 1));
    CHECK_TENSOR(out, S22, 2, r, 1e-12);
    sf_tensor_release(out);
    RELEASE_FUNCTIONS(f, g);
    CHECK_OK(sf_function_new(full_u_fn, NULL, NULL, 1, 1, &f));
    CHECK_OK(sf_grad(f, (int32_t[]){0}, 1, false, &g));
    out = NULL;
    CHECK_ERROR(sf_call(g, &tall, 1, &out, 1), SF_ERR_UNSUPPORTED, "full_matrices");
    RELEASE_FUNCTIONS(f, g);
    RELEASE_TENSORS(a, tall, vec);
}

static int lu_fn(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)ud, (void)n_in, (void)n_out;
    sf_tensor *lu = NULL, *pivots = NULL;
    sf_status status = sf_linalg_lu_factor(in[0], &lu, &pivots);
    if (status == SF_OK) status = sf_sum(lu, NULL, 0, false, &out[0]);
    RELEASE_TENSORS(lu, pivots);
    return status == SF_OK ? 0 : 1;
}

static void test_qr_lstsq_lu(void) {
    const double tall_data[6] = {1, 2, 3, 4, 5, 7};
    sf_tensor *a = make64(tall_data, S32, 2), *q = NULL, *r = NULL, *out = NULL;
    CHECK_OK(sf_linalg_qr(a, NULL, &q, &r));
    double qd[6], rd[4];
    CHECK(read64(q, qd, 6) && read64(r, rd, 4));
    CHECK(fabs(rd[2]) == 0);   /* R upper triangular */
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 2; j++) CHECK(fabs(qd[i * 2] * rd[j] + qd[i * 2 + 1] * rd[2 + j] - tall_data[i * 2 + j]) < 1e-12);
    CHECK(fabs(qd[0] * qd[1] + qd[2] * qd[3] + qd[4] * qd[5]) < 1e-12);
    RELEASE_TENSORS(q, r);
    CHECK_OK(sf_linalg_qr(a, "complete", &q, &r));
    int64_t shape[2] = {0, 0};
    CHECK(sf_tensor_shape(q, shape, 2) == SF_OK && shape[0] == 3 && shape[1] == 3);
    RELEASE_TENSORS(q, r);
    q = GARBAGE, r = GARBAGE;
    CHECK_ERROR(sf_linalg_qr(a, "full", &q, &r), SF_ERR_INVALID_ARGUMENT, "mode must be");
    CHECK(q == NULL && r == NULL);

    /* lstsq: x = (AᵀA)⁻¹ Aᵀ b. */
    sf_tensor *b = make64((double[]){1, 0, 2}, S3, 1), *rank = NULL;
    CHECK_OK(sf_linalg_lstsq(a, b, NAN, &out, &rank));
    double ata[4] = {1 + 9 + 25, 2 + 12 + 35, 2 + 12 + 35, 4 + 16 + 49}, atb[2] = {1 + 10, 2 + 14}, x[2];
    ref_solve(ata, atb, x, 2, 1);
    CHECK_TENSOR(out, ((int64_t[]){2}), 1, x, 1e-12);
    sf_dtype dtype = SF_FLOAT64;
    CHECK(sf_tensor_dtype(rank, &dtype) == SF_OK && dtype == SF_INT64);
    RELEASE_TENSORS(out, rank);

    /* lu_factor / lu_solve against elimination. */
    sf_tensor *s = make64(A3, S33, 2), *lu = NULL, *piv = NULL, *rhs = make64((double[]){1, 2, 3, 4, 5, 6}, S32, 2);
    CHECK_OK(sf_linalg_lu_factor(s, &lu, &piv));
    CHECK(sf_tensor_dtype(piv, &dtype) == SF_OK && dtype == SF_INT32);
    CHECK_OK(sf_linalg_lu_solve(lu, piv, rhs, true, false, &out));
    double expected[6];
    ref_solve(A3, (double[]){1, 2, 3, 4, 5, 6}, expected, 3, 2);
    CHECK_TENSOR(out, S32, 2, expected, 1e-12);
    sf_tensor_release(out);
    int32_t bad[3] = {1, 9, 3};
    int64_t s3[1] = {3};
    sf_tensor *bad_piv = NULL;
    CHECK_OK(sf_tensor_from_data(bad, SF_INT32, s3, 1, &bad_piv));
    CHECK_ERROR_NULL(out, sf_linalg_lu_solve(lu, bad_piv, rhs, true, false, &out), SF_ERR_INVALID_ARGUMENT, "outside 1...3");
    CHECK_ERROR_NULL(out, sf_linalg_lu_solve(lu, NULL, rhs, true, false, &out), SF_ERR_INVALID_ARGUMENT, "sf_linalg_lu_solve:");
    sf_function *f = NULL, *g = NULL;
    CHECK_OK(sf_function_new(lu_fn, NULL, NULL, 1, 1, &f));
    CHECK_OK(sf_grad(f, (int32_t[]){0}, 1, false, &g));
    out = NULL;
    CHECK_ERROR(sf_call(g, &s, 1, &out, 1), SF_ERR_UNSUPPORTED, "sf_linalg_lu_factor");
    RELEASE_FUNCTIONS(f, g);
    RELEASE_TENSORS(a, b, s, lu, piv, rhs, bad_piv);
}

int main(void) {
    test_call_contract();
    test_svd();
    test_qr_lstsq_lu();
    test_values();
    test_errors();
    test_transforms();
    return check_summary();
}
