/* test_nn_functional.c — the neural-network functions of the C ABI (pooling, conv1d,
 * conv_transpose2d, normalization, embedding, losses, activations, attention) against references computed here in
 * C, their derivatives through sf_grad and sf_vmap, and their errors (status, message naming the
 * function, every result pointer NULL). Runs plain and under AddressSanitizer/LeakSanitizer. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "check.h"
#include "swiftfunc.h"
#include "tensor_check.h"

#define TOL 1e-12

/* A deterministic, irregular fill (no ties inside pooling windows). */
static void fill(double *x, int64_t n, double seed) {
    for (int64_t i = 0; i < n; i++) x[i] = sin(seed + 1.7 * (double)i) * 3.0 + 0.01 * (double)(i % 7);
}

/* ------------------------------------------------------------------------------------------------
 * Pooling references: torch's window rules, written directly.
 * ---------------------------------------------------------------------------------------------- */

static int64_t pool_out(int64_t size, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode) {
    int64_t span = size + 2 * p - d * (k - 1) - 1;
    int64_t out = (ceil_mode ? span + s - 1 : span) / s + 1;
    if (ceil_mode && (out - 1) * s >= size + p) out--;
    return out;
}

/* Max pooling of `planes` planes h x w; values and positions. */
static void max_pool_ref(const double *x, int64_t planes, int64_t h, int64_t w, const int64_t k[2], const int64_t s[2],
                         const int64_t p[2], const int64_t d[2], bool ceil_mode, double *values, int64_t *indices,
                         int64_t *oh, int64_t *ow) {
    *oh = pool_out(h, k[0], s[0], p[0], d[0], ceil_mode);
    *ow = pool_out(w, k[1], s[1], p[1], d[1], ceil_mode);
    for (int64_t c = 0; c < planes; c++)
        for (int64_t i = 0; i < *oh; i++)
            for (int64_t j = 0; j < *ow; j++) {
                double best = -INFINITY;
                int64_t at = -1;
                for (int64_t a = 0; a < k[0]; a++)
                    for (int64_t b = 0; b < k[1]; b++) {
                        int64_t r = i * s[0] - p[0] + a * d[0], q = j * s[1] - p[1] + b * d[1];
                        if (r < 0 || r >= h || q < 0 || q >= w) continue;
                        double v = x[c * h * w + r * w + q];
                        if (at < 0 || v > best) {
                            best = v;
                            at = r * w + q;
                        }
                    }
                values[(c * *oh + i) * *ow + j] = best;
                indices[(c * *oh + i) * *ow + j] = at;
            }
}

static void avg_pool_ref(const double *x, int64_t planes, int64_t h, int64_t w, const int64_t k[2], const int64_t s[2],
                         const int64_t p[2], bool ceil_mode, bool include_pad, double *out, int64_t *oh, int64_t *ow) {
    *oh = pool_out(h, k[0], s[0], p[0], 1, ceil_mode);
    *ow = pool_out(w, k[1], s[1], p[1], 1, ceil_mode);
    for (int64_t c = 0; c < planes; c++)
        for (int64_t i = 0; i < *oh; i++)
            for (int64_t j = 0; j < *ow; j++) {
                int64_t h0 = i * s[0] - p[0], w0 = j * s[1] - p[1];
                int64_t h1 = h0 + k[0] < h + p[0] ? h0 + k[0] : h + p[0];
                int64_t w1 = w0 + k[1] < w + p[1] ? w0 + k[1] : w + p[1];
                int64_t count = (h1 - h0) * (w1 - w0);
                double total = 0;
                for (int64_t r = h0; r < h1; r++)
                    for (int64_t q = w0; q < w1; q++)
                        if (r >= 0 && r < h && q >= 0 && q < w) total += x[c * h * w + r * w + q];
                if (!include_pad) {
                    int64_t a = h0 > 0 ? h0 : 0, b = h1 < h ? h1 : h, e = w0 > 0 ? w0 : 0, f = w1 < w ? w1 : w;
                    count = (b - a) * (f - e);
                }
                out[(c * *oh + i) * *ow + j] = total / (double)count;
            }
}

static void test_max_pool2d_values(void) {
    struct {
        int64_t h, w, k[2], s[2], p[2], d[2];
        bool ceil_mode;
    } cases[] = {
        {6, 6, {2, 2}, {2, 2}, {0, 0}, {1, 1}, false},
        {7, 5, {3, 2}, {2, 1}, {1, 1}, {1, 1}, false},
        {7, 7, {3, 3}, {2, 2}, {1, 0}, {2, 1}, true},
        {5, 8, {2, 3}, {3, 2}, {1, 1}, {1, 2}, true},
    };
    for (size_t t = 0; t < COUNT(cases); t++) {
        int64_t planes = 3, h = cases[t].h, w = cases[t].w;
        double x[3 * 64];
        fill(x, planes * h * w, (double)t);
        int64_t shape[4] = {1, planes, h, w};
        sf_tensor *input = make64(x, shape, 4);
        double values[3 * 64];
        int64_t indices[3 * 64], oh, ow;
        max_pool_ref(x, planes, h, w, cases[t].k, cases[t].s, cases[t].p, cases[t].d, cases[t].ceil_mode, values, indices,
                     &oh, &ow);
        sf_tensor *out = NULL, *where = NULL;
        CHECK_OK(sf_max_pool2d(input, cases[t].k, cases[t].s, cases[t].p, cases[t].d, cases[t].ceil_mode, &out, &where));
        int64_t out_shape[4] = {1, planes, oh, ow};
        CHECK_TENSOR(out, out_shape, 4, values, TOL);
        int64_t got[3 * 64];
        CHECK_OK(sf_tensor_copy_to(where, got, sizeof(int64_t) * (size_t)(planes * oh * ow)));
        CHECK(memcmp(got, indices, sizeof(int64_t) * (size_t)(planes * oh * ow)) == 0);
        /* Without indices: out_indices NULL is allowed. */
        sf_tensor *alone = NULL;
        CHECK_OK(sf_max_pool2d(input, cases[t].k, cases[t].s, cases[t].p, cases[t].d, cases[t].ceil_mode, &alone, NULL));
        CHECK_SAME(alone, out, 0);
        RELEASE_TENSORS(input, out, where, alone);
    }
}

static void test_avg_pool2d_values(void) {
    struct {
        int64_t h, w, k[2], s[2], p[2];
        bool ceil_mode, include_pad;
    } cases[] = {
        {6, 6, {2, 2}, {2, 2}, {0, 0}, false, true},  /* exact tiles: the reshape-mean path */
        {7, 5, {3, 2}, {2, 1}, {1, 1}, false, true},
        {7, 5, {3, 2}, {2, 1}, {1, 1}, false, false},
        {7, 7, {3, 3}, {2, 2}, {1, 1}, true, true},
        {7, 7, {3, 3}, {2, 2}, {1, 1}, true, false},
    };
    for (size_t t = 0; t < COUNT(cases); t++) {
        int64_t planes = 2, h = cases[t].h, w = cases[t].w;
        double x[2 * 64], expected[2 * 64];
        fill(x, planes * h * w, 10.0 + (double)t);
        int64_t shape[3] = {planes, h, w}, oh, ow;
        sf_tensor *input = make64(x, shape, 3);
        avg_pool_ref(x, planes, h, w, cases[t].k, cases[t].s, cases[t].p, cases[t].ceil_mode, cases[t].include_pad,
                     expected, &oh, &ow);
        sf_tensor *out = NULL;
        CHECK_OK(sf_avg_pool2d(input, cases[t].k, cases[t].s, cases[t].p, cases[t].ceil_mode, cases[t].include_pad, 0, &out));
        int64_t out_shape[3] = {planes, oh, ow};
        CHECK_TENSOR(out, out_shape, 3, expected, 1e-12);
        RELEASE_TENSORS(input, out);
    }
    /* divisor_override divides every window sum by the same number. */
    double x[16];
    fill(x, 16, 3.0);
    int64_t shape[4] = {1, 1, 4, 4}, k[2] = {2, 2}, s[2] = {2, 2}, p[2] = {0, 0};
    sf_tensor *input = make64(x, shape, 4), *out = NULL;
    CHECK_OK(sf_avg_pool2d(input, k, s, p, false, true, 3, &out));
    double expected[4];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            expected[i * 2 + j] = (x[(2 * i) * 4 + 2 * j] + x[(2 * i) * 4 + 2 * j + 1] + x[(2 * i + 1) * 4 + 2 * j] +
                                   x[(2 * i + 1) * 4 + 2 * j + 1]) / 3.0;
    int64_t out_shape[4] = {1, 1, 2, 2};
    CHECK_TENSOR(out, out_shape, 4, expected, 1e-12);
    RELEASE_TENSORS(input, out);
}

static void test_adaptive_and_1d(void) {
    /* adaptive 5x7 -> 3x2: windows floor(i n / m) ..< ceil((i + 1) n / m). */
    double x[35], expected[6];
    fill(x, 35, 4.0);
    int64_t shape[4] = {1, 1, 5, 7}, size[2] = {3, 2};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 2; j++) {
            int h0 = i * 5 / 3, h1 = ((i + 1) * 5 + 2) / 3, w0 = j * 7 / 2, w1 = ((j + 1) * 7 + 1) / 2;
            double total = 0;
            for (int r = h0; r < h1; r++)
                for (int q = w0; q < w1; q++) total += x[r * 7 + q];
            expected[i * 2 + j] = total / ((h1 - h0) * (w1 - w0));
        }
    sf_tensor *input = make64(x, shape, 4), *out = NULL;
    CHECK_OK(sf_adaptive_avg_pool2d(input, size, &out));
    int64_t out_shape[4] = {1, 1, 3, 2};
    CHECK_TENSOR(out, out_shape, 4, expected, 1e-12);
    RELEASE_TENSORS(input, out);

    /* max_pool1d / avg_pool1d on [C, L] rows. */
    double row[2 * 9];
    fill(row, 18, 5.0);
    int64_t row_shape[2] = {2, 9};
    sf_tensor *rows = make64(row, row_shape, 2), *maxed = NULL, *where = NULL, *avg = NULL;
    CHECK_OK(sf_max_pool1d(rows, 3, 2, 1, 1, false, &maxed, &where));
    CHECK_OK(sf_avg_pool1d(rows, 3, 2, 1, false, false, &avg));
    double max_expected[2 * 5], avg_expected[2 * 5];
    for (int c = 0; c < 2; c++)
        for (int j = 0; j < 5; j++) {
            double best = -INFINITY, total = 0;
            int n = 0;
            for (int b = 0; b < 3; b++) {
                int q = j * 2 - 1 + b;
                if (q < 0 || q >= 9) continue;
                double v = row[c * 9 + q];
                best = v > best ? v : best;
                total += v;
                n++;
            }
            max_expected[c * 5 + j] = best;
            avg_expected[c * 5 + j] = total / n;
        }
    int64_t pooled_shape[2] = {2, 5};
    CHECK_TENSOR(maxed, pooled_shape, 2, max_expected, TOL);
    CHECK_TENSOR(avg, pooled_shape, 2, avg_expected, 1e-12);
    RELEASE_TENSORS(rows, maxed, where, avg);
}

/* ------------------------------------------------------------------------------------------------
 * Derivatives: max_pool2d's gradient goes to each window's maximum; vmap matches a loop.
 * ---------------------------------------------------------------------------------------------- */

static const int64_t K2[2] = {2, 2}, S2[2] = {2, 2}, P0[2] = {0, 0}, D1[2] = {1, 1};

/* sum(max_pool2d(x) * weights) with weights 1, 2, 3, ... so each window's gradient differs. */
static int pooled_sum(void *user_data, sf_tensor *const *inputs, size_t n_inputs, sf_tensor **outputs, size_t n_outputs) {
    (void)user_data, (void)n_inputs, (void)n_outputs;
    arena a = {0};
    sf_tensor *pooled = NULL;
    if (!keep(&a, sf_max_pool2d(inputs[0], K2, S2, P0, D1, false, &pooled, NULL), &pooled)) return finish(&a) | 1;
    sf_tensor *steps = NULL;
    keep(&a, sf_arange(1, 1 + 8, 1, SF_FLOAT64, &steps), &steps);
    int64_t shape[3] = {2, 2, 2};
    sf_tensor *weights = NULL;
    if (!a.failed) keep(&a, sf_reshape(steps, shape, 3, &weights), &weights);
    put(&a, outputs, 0, sum_all(&a, op2(&a, sf_mul, pooled, weights)));
    return finish(&a);
}

static void test_max_pool_gradient(void) {
    double x[2 * 4 * 4];
    fill(x, 32, 7.0);
    int64_t shape[3] = {2, 4, 4};
    sf_tensor *input = make64(x, shape, 3);
    sf_function *f = NULL, *g = NULL;
    CHECK_OK(sf_function_new(pooled_sum, NULL, NULL, 1, 1, &f));
    CHECK_OK(sf_grad(f, NULL, 0, false, &g));
    sf_tensor *gradient = NULL;
    CHECK_OK(sf_call(g, &input, 1, &gradient, 1));
    double values[8], expected[32] = {0};
    int64_t indices[8], oh, ow;
    max_pool_ref(x, 2, 4, 4, K2, S2, P0, D1, false, values, indices, &oh, &ow);
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < 4; i++) expected[c * 16 + indices[c * 4 + i]] = (double)(c * 4 + i + 1);
    CHECK_TENSOR(gradient, shape, 3, expected, TOL);

    /* vmap of the gradient over a batch of 3 equals the per-example gradients. */
    double batch[3 * 32];
    fill(batch, 96, 11.0);
    int64_t batch_shape[4] = {3, 2, 4, 4};
    sf_tensor *inputs = make64(batch, batch_shape, 4);
    sf_function *vg = NULL;
    int64_t in_dims[1] = {0}, out_dims[1] = {0};
    CHECK_OK(sf_vmap(g, in_dims, 1, out_dims, 1, 0, SF_RANDOMNESS_ERROR, &vg));
    sf_tensor *batched = NULL;
    CHECK_OK(sf_call(vg, &inputs, 1, &batched, 1));
    double loop[3 * 32];
    for (int b = 0; b < 3; b++) {
        sf_tensor *one = make64(batch + 32 * b, shape, 3), *its = NULL;
        CHECK_OK(sf_call(g, &one, 1, &its, 1));
        CHECK(read64(its, loop + 32 * b, 32));
        RELEASE_TENSORS(one, its);
    }
    CHECK_TENSOR(batched, batch_shape, 4, loop, TOL);
    RELEASE_TENSORS(input, gradient, inputs, batched);
    RELEASE_FUNCTIONS(f, g, vg);
}

/* ------------------------------------------------------------------------------------------------
 * Normalization, embedding, losses, activations, attention.
 * ---------------------------------------------------------------------------------------------- */

static void test_batch_norm(void) {
    /* x [4, 2, 3]: per channel over 12 values. */
    double x[24], mean0[2] = {0.5, -1}, var0[2] = {2, 0.5}, w[2] = {1.5, -0.5}, b[2] = {0.25, 2};
    fill(x, 24, 2.0);
    int64_t shape[3] = {4, 2, 3}, cshape[1] = {2};
    sf_tensor *input = make64(x, shape, 3), *rm = make64(mean0, cshape, 1), *rv = make64(var0, cshape, 1);
    sf_tensor *weight = make64(w, cshape, 1), *bias = make64(b, cshape, 1);
    double mean[2] = {0}, var[2] = {0};
    for (int c = 0; c < 2; c++) {
        for (int n = 0; n < 4; n++)
            for (int l = 0; l < 3; l++) mean[c] += x[n * 6 + c * 3 + l] / 12;
        for (int n = 0; n < 4; n++)
            for (int l = 0; l < 3; l++) var[c] += pow(x[n * 6 + c * 3 + l] - mean[c], 2) / 12;
    }
    double expected[24], expected_eval[24];
    for (int n = 0; n < 4; n++)
        for (int c = 0; c < 2; c++)
            for (int l = 0; l < 3; l++) {
                int i = n * 6 + c * 3 + l;
                expected[i] = (x[i] - mean[c]) / sqrt(var[c] + 1e-5) * w[c] + b[c];
                expected_eval[i] = (x[i] - mean0[c]) / sqrt(var0[c] + 1e-5) * w[c] + b[c];
            }
    sf_tensor *out = NULL, *new_mean = NULL, *new_var = NULL;
    CHECK_OK(sf_batch_norm(input, rm, rv, weight, bias, true, 0.1, 1e-5, &out, &new_mean, &new_var));
    CHECK_TENSOR(out, shape, 3, expected, 1e-10);
    double mean_expected[2], var_expected[2];
    for (int c = 0; c < 2; c++) {
        mean_expected[c] = 0.9 * mean0[c] + 0.1 * mean[c];
        var_expected[c] = 0.9 * var0[c] + 0.1 * var[c] * 12.0 / 11.0;
    }
    CHECK_TENSOR(new_mean, cshape, 1, mean_expected, 1e-12);
    CHECK_TENSOR(new_var, cshape, 1, var_expected, 1e-12);
    sf_tensor *evaluated = NULL, *unchanged_mean = GARBAGE, *unchanged_var = GARBAGE;
    CHECK_OK(sf_batch_norm(input, rm, rv, weight, bias, false, 0.1, 1e-5, &evaluated, &unchanged_mean, &unchanged_var));
    CHECK_TENSOR(evaluated, shape, 3, expected_eval, 1e-10);
    CHECK(unchanged_mean == NULL && unchanged_var == NULL);
    /* Evaluation without running statistics, and one value per channel when training, are errors. */
    sf_tensor *bad = NULL, *bad_mean = NULL;
    CHECK_ERROR_NULL(bad, sf_batch_norm(input, NULL, NULL, NULL, NULL, false, 0.1, 1e-5, &bad, &bad_mean, NULL),
                     SF_ERR_INVALID_ARGUMENT, "sf_batch_norm: running_mean and running_var must be given");
    int64_t one_shape[2] = {1, 2};
    sf_tensor *single = make64(x, one_shape, 2);
    bad_mean = GARBAGE;
    CHECK_ERROR_NULL(bad, sf_batch_norm(single, rm, rv, NULL, NULL, true, 0.1, 1e-5, &bad, &bad_mean, NULL),
                     SF_ERR_INVALID_ARGUMENT, "more than 1 value per channel");
    CHECK(bad_mean == NULL);
    RELEASE_TENSORS(input, rm, rv, weight, bias, out, new_mean, new_var, evaluated, single);
}

/* batch_norm in training with the running statistics held by the host (user_data). */
static int normalize_with_stats(void *user_data, sf_tensor *const *inputs, size_t n_inputs, sf_tensor **outputs,
                                size_t n_outputs) {
    (void)n_inputs, (void)n_outputs;
    sf_tensor **stats = user_data, *mean = NULL, *var = NULL;
    sf_status s = sf_batch_norm(inputs[0], stats[0], stats[1], NULL, NULL, true, 0.1, 1e-5, &outputs[0], &mean, &var);
    sf_tensor_release(mean);
    sf_tensor_release(var);
    return s == SF_OK ? 0 : 1;
}

/* Under vmap, unbatched running statistics cannot be updated from a batched input (torch.func raises
 * too); without running statistics the same batch normalizes each example by its own statistics. */
static void test_batch_norm_under_vmap(void) {
    double zeros[2] = {0, 0}, ones[2] = {1, 1}, x[3 * 4 * 2];
    fill(x, 24, 4.0);
    int64_t cshape[1] = {2}, shape[3] = {3, 4, 2};
    sf_tensor *stats[2] = {make64(zeros, cshape, 1), make64(ones, cshape, 1)}, *none[2] = {NULL, NULL};
    sf_tensor *batch = make64(x, shape, 3), *out = NULL;
    sf_function *f = NULL, *vf = NULL, *plain = NULL, *vplain = NULL;
    CHECK_OK(sf_function_new(normalize_with_stats, stats, NULL, 1, 1, &f));
    CHECK_OK(sf_vmap(f, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_ERROR, &vf));
    out = GARBAGE;
    CHECK_ERROR(sf_call(vf, &batch, 1, &out, 1), SF_ERR_CALLBACK,
                "sf_batch_norm: cannot update the running statistics in place under vmap");
    CHECK(out == NULL);
    CHECK_OK(sf_function_new(normalize_with_stats, none, NULL, 1, 1, &plain));
    CHECK_OK(sf_vmap(plain, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_ERROR, &vplain));
    CHECK_OK(sf_call(vplain, &batch, 1, &out, 1));
    double expected[24];
    for (int b = 0; b < 3; b++)
        for (int c = 0; c < 2; c++) {
            double m = 0, v = 0;
            for (int n = 0; n < 4; n++) m += x[b * 8 + n * 2 + c] / 4;
            for (int n = 0; n < 4; n++) v += pow(x[b * 8 + n * 2 + c] - m, 2) / 4;
            for (int n = 0; n < 4; n++) expected[b * 8 + n * 2 + c] = (x[b * 8 + n * 2 + c] - m) / sqrt(v + 1e-5);
        }
    CHECK_TENSOR(out, shape, 3, expected, 1e-10);
    RELEASE_TENSORS(stats[0], stats[1], batch, out);
    RELEASE_FUNCTIONS(f, vf, plain, vplain);
}

static void test_group_norm_and_embedding(void) {
    double x[2 * 4 * 3];
    fill(x, 24, 9.0);
    int64_t shape[3] = {2, 4, 3};
    sf_tensor *input = make64(x, shape, 3), *out = NULL;
    CHECK_OK(sf_group_norm(input, 2, NULL, NULL, 1e-5, &out));
    double expected[24];
    for (int n = 0; n < 2; n++)
        for (int g = 0; g < 2; g++) {
            const double *block = x + n * 12 + g * 6;
            double m = 0, v = 0;
            for (int i = 0; i < 6; i++) m += block[i] / 6;
            for (int i = 0; i < 6; i++) v += (block[i] - m) * (block[i] - m) / 6;
            for (int i = 0; i < 6; i++) expected[n * 12 + g * 6 + i] = (block[i] - m) / sqrt(v + 1e-5);
        }
    CHECK_TENSOR(out, shape, 3, expected, 1e-10);
    sf_tensor *bad = NULL;
    CHECK_ERROR_NULL(bad, sf_group_norm(input, 3, NULL, NULL, 1e-5, &bad), SF_ERR_INVALID_ARGUMENT, "sf_group_norm");
    /* Zero channels: every group count divides 0, but a huge one is refused (it overflowed the grouped
     * shape's size and trapped; found by fuzz_ops); one group gives the empty result. */
    int64_t empty_shape[3] = {3, 0, 5};
    sf_tensor *empty = NULL, *empty_out = NULL;
    CHECK_OK(sf_zeros(empty_shape, 3, SF_FLOAT64, &empty));
    CHECK_ERROR_NULL(bad, sf_group_norm(empty, INT64_MAX / 2, NULL, NULL, 1e-5, &bad), SF_ERR_INVALID_ARGUMENT, "sf_group_norm");
    CHECK_OK(sf_group_norm(empty, 1, NULL, NULL, 1e-5, &empty_out));
    CHECK_TENSOR(empty_out, empty_shape, 3, x, 0);
    RELEASE_TENSORS(empty, empty_out);

    double table[4 * 2] = {0, 1, 10, 11, 20, 21, 30, 31};
    int64_t table_shape[2] = {4, 2}, idx[3] = {3, 0, 3}, idx_shape[1] = {3};
    sf_tensor *weight = make64(table, table_shape, 2), *indices = make_i64(idx, idx_shape, 1), *rows = NULL;
    CHECK_OK(sf_embedding(indices, weight, NULL, &rows));
    double rows_expected[6] = {30, 31, 0, 1, 30, 31};
    int64_t rows_shape[2] = {3, 2};
    CHECK_TENSOR(rows, rows_shape, 2, rows_expected, 0);
    int64_t out_of_range[1] = {4};
    sf_tensor *bad_index = make_i64(out_of_range, idx_shape, 0);
    CHECK_ERROR_NULL(bad, sf_embedding(bad_index, weight, NULL, &bad), SF_ERR_INVALID_ARGUMENT, "sf_embedding: index 4");
    RELEASE_TENSORS(input, out, weight, indices, rows, bad_index);
}

static void test_losses(void) {
    /* nll_loss with class weights and an ignored target. */
    double logp[3 * 4];
    fill(logp, 12, 1.0);
    double cw[4] = {1, 2, 0.5, 3};
    int64_t target[3] = {2, -100, 3}, lshape[2] = {3, 4}, tshape[1] = {3}, wshape[1] = {4};
    sf_tensor *input = make64(logp, lshape, 2), *t = make_i64(target, tshape, 1), *weight = make64(cw, wshape, 1);
    sf_tensor *mean = NULL, *sum = NULL, *none = NULL;
    CHECK_OK(sf_nll_loss(input, t, weight, -100, SF_REDUCTION_MEAN, &mean));
    CHECK_OK(sf_nll_loss(input, t, weight, -100, SF_REDUCTION_SUM, &sum));
    CHECK_OK(sf_nll_loss(input, t, weight, -100, SF_REDUCTION_NONE, &none));
    double l0 = -logp[0 * 4 + 2] * 0.5, l2 = -logp[2 * 4 + 3] * 3;
    double none_expected[3] = {l0, 0, l2};
    CHECK_TENSOR(none, tshape, 1, none_expected, TOL);
    CHECK_SCALAR(sum, l0 + l2, TOL);
    CHECK_SCALAR(mean, (l0 + l2) / 3.5, TOL);
    int64_t bad_target[3] = {2, 4, 3};
    sf_tensor *bt = make_i64(bad_target, tshape, 1), *bad = NULL;
    CHECK_ERROR_NULL(bad, sf_nll_loss(input, bt, NULL, -100, SF_REDUCTION_MEAN, &bad), SF_ERR_INVALID_ARGUMENT,
                     "sf_nll_loss: target 4");
    CHECK_ERROR_NULL(bad, sf_nll_loss(input, t, NULL, -100, (sf_reduction)7, &bad), SF_ERR_INVALID_ARGUMENT, "sf_nll_loss");

    /* Elementwise losses against their formulas. */
    double a[6] = {0.1, -2, 3, 0.4, -0.2, 1.5}, y[6] = {0.3, 0.5, -1, 0.35, -0.2, 0.0};
    int64_t shape[1] = {6};
    sf_tensor *x = make64(a, shape, 1), *target2 = make64(y, shape, 1);
    double l1 = 0, smooth = 0, huber = 0;
    for (int i = 0; i < 6; i++) {
        double d = fabs(a[i] - y[i]);
        l1 += d;
        smooth += d < 0.5 ? 0.5 * d * d / 0.5 : d - 0.25;
        huber += d < 2 ? 0.5 * d * d : 2 * (d - 1);
    }
    sf_tensor *l1_out = NULL, *smooth_out = NULL, *huber_out = NULL;
    CHECK_OK(sf_l1_loss(x, target2, SF_REDUCTION_SUM, &l1_out));
    CHECK_OK(sf_smooth_l1_loss(x, target2, SF_REDUCTION_MEAN, 0.5, &smooth_out));
    CHECK_OK(sf_huber_loss(x, target2, SF_REDUCTION_MEAN, 2.0, &huber_out));
    CHECK_SCALAR(l1_out, l1, TOL);
    CHECK_SCALAR(smooth_out, smooth / 6, TOL);
    CHECK_SCALAR(huber_out, huber / 6, TOL);

    /* Binary cross-entropy: with probabilities (log clamped at -100) and with logits. */
    double prob[4] = {0.2, 0.9, 0.0, 0.5}, bt_values[4] = {1, 0, 1, 0.25}, logits[4] = {-3, 0.5, 40, -0.1};
    int64_t bshape[1] = {4};
    sf_tensor *p = make64(prob, bshape, 1), *bt2 = make64(bt_values, bshape, 1), *z = make64(logits, bshape, 1);
    double pw_values[4] = {2, 2, 2, 2};
    sf_tensor *pw = make64(pw_values, bshape, 1);
    sf_tensor *bce = NULL, *bcel = NULL;
    CHECK_OK(sf_binary_cross_entropy(p, bt2, NULL, SF_REDUCTION_SUM, &bce));
    CHECK_OK(sf_binary_cross_entropy_with_logits(z, bt2, NULL, pw, SF_REDUCTION_SUM, &bcel));
    double bce_expected = 0, bcel_expected = 0;
    for (int i = 0; i < 4; i++) {
        double lx = prob[i] > 0 ? fmax(log(prob[i]), -100) : -100, l1x = fmax(log(1 - prob[i]), -100);
        bce_expected += -(bt_values[i] * lx + (1 - bt_values[i]) * l1x);
        double log_s = -log1p(exp(-logits[i])), log_not_s = -log1p(exp(logits[i])); /* log sigmoid(z), log(1 - sigmoid(z)) */
        bcel_expected += -(2 * bt_values[i] * log_s + (1 - bt_values[i]) * log_not_s);
    }
    CHECK_SCALAR(bce, bce_expected, 1e-12);
    CHECK_SCALAR(bcel, bcel_expected, 1e-9);

    /* kl_div: t (log t - x), 0 where t is 0. */
    double kx[3] = {-1, -0.5, -2}, kt[3] = {0.5, 0, 0.5};
    int64_t kshape[1] = {3};
    sf_tensor *kin = make64(kx, kshape, 1), *ktar = make64(kt, kshape, 1), *kl = NULL;
    CHECK_OK(sf_kl_div(kin, ktar, SF_REDUCTION_SUM, false, &kl));
    CHECK_SCALAR(kl, 0.5 * (log(0.5) + 1) + 0.5 * (log(0.5) + 2), TOL);
    RELEASE_TENSORS(input, t, weight, mean, sum, none, bt, x, target2, l1_out, smooth_out, huber_out, p, bt2, z, pw, bce,
                    bcel, kin, ktar, kl);
}

static double softplus_ref(double v) { return v * 2 > 20 ? v : log1p(exp(2 * v)) / 2; }
static double elu_ref(double v) { return v > 0 ? v : 0.7 * expm1(v); }
static double leaky_ref(double v) { return v > 0 ? v : 0.2 * v; }
static double logsigmoid_ref(double v) { return -log1p(exp(-v)); }

static void test_activations(void) {
    double x[6] = {-30, -2, -0.1, 0.3, 4, 11};
    int64_t shape[1] = {6};
    sf_tensor *input = make64(x, shape, 1), *outs[4] = {NULL};
    CHECK_OK(sf_softplus(input, 2.0, 20.0, &outs[0]));
    CHECK_OK(sf_elu(input, 0.7, &outs[1]));
    CHECK_OK(sf_leaky_relu(input, 0.2, &outs[2]));
    CHECK_OK(sf_logsigmoid(input, &outs[3]));
    double (*refs[4])(double) = {softplus_ref, elu_ref, leaky_ref, logsigmoid_ref};
    for (int k = 0; k < 4; k++) {
        double expected[6];
        for (int i = 0; i < 6; i++) expected[i] = refs[k](x[i]);
        CHECK_TENSOR(outs[k], shape, 1, expected, 1e-12);
    }
    sf_tensor *bad = NULL;
    CHECK_ERROR_NULL(bad, sf_softplus(input, 0.0, 20.0, &bad), SF_ERR_INVALID_ARGUMENT, "sf_softplus: beta");
    release_all(outs, 4);

    /* normalize and cosine_similarity along dim 1 of [2, 3]. */
    double m[6] = {3, 4, 0, 0, 0, 0}, m2[6] = {1, 0, 0, 2, 2, 1};
    int64_t mshape[2] = {2, 3}, rshape[1] = {2};
    sf_tensor *a = make64(m, mshape, 2), *b = make64(m2, mshape, 2), *unit = NULL, *cosine = NULL;
    CHECK_OK(sf_normalize(a, 2.0, 1, 1e-12, &unit));
    double unit_expected[6] = {0.6, 0.8, 0, 0, 0, 0};
    CHECK_TENSOR(unit, mshape, 2, unit_expected, TOL);
    CHECK_OK(sf_cosine_similarity(a, b, 1, 1e-8, &cosine));
    double cosine_expected[2] = {3.0 / 5.0, 0};
    CHECK_TENSOR(cosine, rshape, 1, cosine_expected, TOL);
    RELEASE_TENSORS(input, a, b, unit, cosine);
}

static void test_attention_and_conv1d(void) {
    /* One head: q [2, 3], k [4, 3], v [4, 2]; causal masking for query i keeps keys 0..i. */
    double q[6], k[12], v[8];
    fill(q, 6, 1.0);
    fill(k, 12, 2.0);
    fill(v, 8, 3.0);
    int64_t qs[2] = {2, 3}, ks[2] = {4, 3}, vs[2] = {4, 2}, os[2] = {2, 2};
    sf_tensor *query = make64(q, qs, 2), *key = make64(k, ks, 2), *value = make64(v, vs, 2);
    for (int causal = 0; causal < 2; causal++) {
        double expected[4];
        for (int i = 0; i < 2; i++) {
            double scores[4], top = -INFINITY, total = 0;
            int keys = causal ? i + 1 : 4;
            for (int j = 0; j < keys; j++) {
                scores[j] = 0;
                for (int e = 0; e < 3; e++) scores[j] += q[i * 3 + e] * k[j * 3 + e] / sqrt(3.0);
                top = fmax(top, scores[j]);
            }
            for (int j = 0; j < keys; j++) total += exp(scores[j] - top);
            for (int c = 0; c < 2; c++) {
                expected[i * 2 + c] = 0;
                for (int j = 0; j < keys; j++) expected[i * 2 + c] += exp(scores[j] - top) / total * v[j * 2 + c];
            }
        }
        sf_tensor *out = NULL;
        CHECK_OK(sf_scaled_dot_product_attention(query, key, value, NULL, 0.0, causal, NULL, &out));
        CHECK_TENSOR(out, os, 2, expected, 1e-12);
        sf_tensor_release(out);
    }
    /* A bool mask equal to the causal one gives the causal result; mask and is_causal together fail. */
    double mask_values[8] = {1, 0, 0, 0, 1, 1, 0, 0};
    int64_t mshape[2] = {2, 4};
    sf_tensor *mask64 = make64(mask_values, mshape, 2), *mask = NULL, *masked = NULL, *causal = NULL, *bad = NULL;
    CHECK_OK(sf_cast(mask64, SF_BOOL, &mask));
    CHECK_OK(sf_scaled_dot_product_attention(query, key, value, mask, 0.0, false, NULL, &masked));
    CHECK_OK(sf_scaled_dot_product_attention(query, key, value, NULL, 0.0, true, NULL, &causal));
    CHECK_SAME(masked, causal, 1e-15);
    CHECK_ERROR_NULL(bad, sf_scaled_dot_product_attention(query, key, value, mask, 0.0, true, NULL, &bad),
                     SF_ERR_INVALID_ARGUMENT, "sf_scaled_dot_product_attention: attn_mask and is_causal");
    RELEASE_TENSORS(query, key, value, mask64, mask, masked, causal);

    /* conv1d: x [1, 2, 6], w [3, 2, 3], stride 2, padding 1, against the direct sum. */
    double x[12], w[18], b[3] = {0.5, -1, 2};
    fill(x, 12, 5.0);
    fill(w, 18, 6.0);
    int64_t xs[3] = {1, 2, 6}, wsz[3] = {3, 2, 3}, bs[1] = {3}, out_shape[3] = {1, 3, 3};
    sf_tensor *input = make64(x, xs, 3), *weight = make64(w, wsz, 3), *bias = make64(b, bs, 1), *out = NULL;
    CHECK_OK(sf_conv1d(input, weight, bias, 2, 1, 1, 1, &out));
    double expected[9];
    for (int o = 0; o < 3; o++)
        for (int j = 0; j < 3; j++) {
            double total = b[o];
            for (int c = 0; c < 2; c++)
                for (int t = 0; t < 3; t++) {
                    int pos = j * 2 - 1 + t;
                    if (pos >= 0 && pos < 6) total += x[c * 6 + pos] * w[(o * 2 + c) * 3 + t];
                }
            expected[o * 3 + j] = total;
        }
    CHECK_TENSOR(out, out_shape, 3, expected, 1e-12);
    RELEASE_TENSORS(input, weight, bias, out);
}

/* ------------------------------------------------------------------------------------------------
 * conv_transpose2d against a direct scatter: each input element adds itself times the filter taps
 * of its channel at output position (h * stride - padding + i * dilation, likewise w).
 * ---------------------------------------------------------------------------------------------- */

typedef struct transpose_case {
    int64_t x[4], w[4]; /* x [N, C_in, H, W], weight [C_in, C_out/groups, KH, KW] */
    int64_t stride[2], padding[2], output_padding[2], dilation[2], groups;
    bool bias;
} transpose_case;

static int64_t transposed_size(const transpose_case *tc, int axis) {
    return (tc->x[2 + axis] - 1) * tc->stride[axis] - 2 * tc->padding[axis] + tc->dilation[axis] * (tc->w[2 + axis] - 1) +
           tc->output_padding[axis] + 1;
}

/* The output [N, C_out, H', W'] (shape in `shape`), and, given a cotangent g of that shape, the
 * cotangents of x, weight and bias (any of them may be NULL), all by the same loop over input
 * positions and taps. */
static void conv_transpose_ref(const transpose_case *tc, const double *x, const double *w, const double *b,
                               const double *g, double *out, double *gx, double *gw, double *gb, int64_t shape[4]) {
    int64_t n = tc->x[0], cin = tc->x[1], h = tc->x[2], wd = tc->x[3];
    int64_t og = tc->w[1], kh = tc->w[2], kw = tc->w[3], cg = cin / tc->groups, cout = og * tc->groups;
    int64_t oh = transposed_size(tc, 0), ow = transposed_size(tc, 1);
    shape[0] = n, shape[1] = cout, shape[2] = oh, shape[3] = ow;
    if (out)
        for (int64_t i = 0; i < n * cout * oh * ow; i++) out[i] = b ? b[(i / (oh * ow)) % cout] : 0;
    if (gx) memset(gx, 0, sizeof(double) * (size_t)(n * cin * h * wd));
    if (gw) memset(gw, 0, sizeof(double) * (size_t)(cin * og * kh * kw));
    if (gb) memset(gb, 0, sizeof(double) * (size_t)cout);
    for (int64_t bn = 0; bn < n; bn++)
        for (int64_t c = 0; c < cin; c++)
            for (int64_t r = 0; r < h; r++)
                for (int64_t q = 0; q < wd; q++)
                    for (int64_t o = 0; o < og; o++)
                        for (int64_t i = 0; i < kh; i++)
                            for (int64_t j = 0; j < kw; j++) {
                                int64_t y = r * tc->stride[0] - tc->padding[0] + i * tc->dilation[0];
                                int64_t z = q * tc->stride[1] - tc->padding[1] + j * tc->dilation[1];
                                if (y < 0 || y >= oh || z < 0 || z >= ow) continue;
                                int64_t xi = ((bn * cin + c) * h + r) * wd + q, wi = ((c * og + o) * kh + i) * kw + j;
                                int64_t yi = ((bn * cout + (c / cg) * og + o) * oh + y) * ow + z;
                                if (out) out[yi] += x[xi] * w[wi];
                                if (gx) gx[xi] += g[yi] * w[wi];
                                if (gw) gw[wi] += g[yi] * x[xi];
                            }
    if (gb)
        for (int64_t i = 0; i < n * cout * oh * ow; i++) gb[(i / (oh * ow)) % cout] += g[i];
}

static const transpose_case transpose_cases[] = {
    {{2, 3, 4, 5}, {3, 2, 3, 3}, {1, 1}, {0, 0}, {0, 0}, {1, 1}, 1, true},
    /* stride 2, padding 1, output_padding 1, no bias */
    {{1, 2, 3, 4}, {2, 3, 3, 2}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, 1, false},
    /* groups 2, dilation 2, unequal strides and output paddings */
    {{2, 4, 3, 3}, {4, 1, 2, 3}, {2, 3}, {1, 0}, {1, 2}, {2, 1}, 2, true},
    /* output padding not below the stride but below the dilation (torch allows either) */
    {{1, 2, 3, 2}, {2, 2, 2, 2}, {1, 1}, {0, 1}, {1, 1}, {2, 2}, 1, true},
    /* depthwise, stride larger than the kernel: outputs no tap reaches */
    {{2, 3, 2, 3}, {3, 1, 2, 2}, {3, 3}, {0, 1}, {2, 0}, {1, 1}, 3, false},
};

/* f(x, weight[, bias]) = conv_transpose2d, for sf_vjp; user_data is the case. */
static int transposed_call(void *user_data, sf_tensor *const *inputs, size_t n_inputs, sf_tensor **outputs,
                           size_t n_outputs) {
    (void)n_outputs;
    const transpose_case *tc = user_data;
    return sf_conv_transpose2d(inputs[0], inputs[1], n_inputs > 2 ? inputs[2] : NULL, tc->stride, tc->padding,
                               tc->output_padding, tc->dilation, tc->groups, &outputs[0]) != SF_OK;
}

static void test_conv_transpose2d(void) {
    for (size_t k = 0; k < COUNT(transpose_cases); k++) {
        const transpose_case *tc = &transpose_cases[k];
        int64_t nx = shape_numel(tc->x, 4), nw = shape_numel(tc->w, 4), cout = tc->w[1] * tc->groups, shape[4];
        int64_t ny = tc->x[0] * cout * transposed_size(tc, 0) * transposed_size(tc, 1);
        double *x = malloc(sizeof(double) * (size_t)nx), *w = malloc(sizeof(double) * (size_t)nw), b[8];
        double *expected = malloc(sizeof(double) * (size_t)ny), *g = malloc(sizeof(double) * (size_t)ny);
        double *gx = malloc(sizeof(double) * (size_t)nx), *gw = malloc(sizeof(double) * (size_t)nw), gb[8];
        fill(x, nx, 1.0 + (double)k);
        fill(w, nw, 20.0 + (double)k);
        fill(b, cout, 40.0 + (double)k);
        fill(g, ny, 60.0 + (double)k);
        conv_transpose_ref(tc, x, w, tc->bias ? b : NULL, g, expected, gx, gw, gb, shape);
        int64_t bias_shape[1] = {cout};
        sf_tensor *input = make64(x, tc->x, 4), *weight = make64(w, tc->w, 4);
        sf_tensor *bias = tc->bias ? make64(b, bias_shape, 1) : NULL, *out = NULL;
        CHECK_OK(sf_conv_transpose2d(input, weight, bias, tc->stride, tc->padding, tc->output_padding, tc->dilation,
                                     tc->groups, &out));
        CHECK_TENSOR(out, shape, 4, expected, TOL);

        /* Unbatched: the first image alone, [C_in, H, W] -> [C_out, H', W']. */
        sf_tensor *image = make64(x, tc->x + 1, 3), *single = NULL;
        CHECK_OK(sf_conv_transpose2d(image, weight, bias, tc->stride, tc->padding, tc->output_padding, tc->dilation,
                                     tc->groups, &single));
        CHECK_TENSOR(single, shape + 1, 3, expected, TOL);

        /* The cotangents of x, weight and bias for the cotangent g (sf_vjp). */
        sf_function *f = NULL, *pullback = NULL;
        size_t n_in = tc->bias ? 3 : 2;
        CHECK_OK(sf_function_new(transposed_call, (void *)tc, NULL, n_in, 1, &f));
        sf_tensor *primals[3] = {input, weight, bias}, *value = NULL, *cotangent = make64(g, shape, 4);
        sf_tensor *grads[3] = {NULL, NULL, NULL};
        CHECK_OK(sf_vjp(f, primals, n_in, &value, 1, &pullback));
        CHECK_TENSOR(value, shape, 4, expected, TOL);
        CHECK_OK(sf_call(pullback, &cotangent, 1, grads, n_in));
        CHECK_TENSOR(grads[0], tc->x, 4, gx, TOL);
        CHECK_TENSOR(grads[1], tc->w, 4, gw, TOL);
        if (tc->bias) CHECK_TENSOR(grads[2], bias_shape, 1, gb, TOL);
        RELEASE_TENSORS(input, weight, bias, out, image, single, value, cotangent, grads[0], grads[1], grads[2]);
        RELEASE_FUNCTIONS(f, pullback);
        free(x), free(w), free(expected), free(g), free(gx), free(gw);
    }
}

static void test_conv_transpose2d_errors(void) {
    double x[2 * 4 * 3 * 3], w[4 * 2 * 2 * 2], b[3] = {1, 2, 3};
    fill(x, COUNT(x), 3.0);
    fill(w, COUNT(w), 4.0);
    int64_t xs[4] = {2, 4, 3, 3}, ws[4] = {4, 2, 2, 2}, flat[2] = {4, 9}, w3[3] = {4, 2, 4}, ws5[4] = {5, 2, 2, 2};
    int64_t bs[1] = {3};
    sf_tensor *input = make64(x, xs, 4), *weight = make64(w, ws, 4), *plane = make64(x, flat, 2);
    sf_tensor *weight3 = make64(w, w3, 3), *weight5 = NULL, *bias = make64(b, bs, 1), *integers = NULL, *out = NULL;
    double w5[5 * 2 * 2 * 2];
    fill(w5, COUNT(w5), 5.0);
    weight5 = make64(w5, ws5, 4);
    CHECK_OK(sf_cast(input, SF_INT64, &integers));
    const int64_t one[2] = {1, 1}, zero[2] = {0, 0}, two[2] = {2, 2};
    const char *f = "sf_conv_transpose2d";
    /* Ranks. */
    CHECK_ERROR_NULL(out, sf_conv_transpose2d(plane, weight, NULL, one, zero, zero, one, 1, &out), SF_ERR_SHAPE,
                     "sf_conv_transpose2d: input must be [N, C_in, H, W] or [C_in, H, W], got shape [4, 9]");
    CHECK_ERROR_NULL(out, sf_conv_transpose2d(input, weight3, NULL, one, zero, zero, one, 1, &out), SF_ERR_SHAPE,
                     "sf_conv_transpose2d: weight must be [C_in, C_out/groups, KH, KW]");
    /* Channels and groups: 3 does not divide C_in = 4; weight.size(0) must be C_in. */
    CHECK_ERROR_NULL(out, sf_conv_transpose2d(input, weight, NULL, one, zero, zero, one, 3, &out), SF_ERR_SHAPE,
                     "sf_conv_transpose2d: input [2, 4, 3, 3] and weight [4, 2, 2, 2] do not match for groups = 3");
    CHECK_ERROR_NULL(out, sf_conv_transpose2d(input, weight5, NULL, one, zero, zero, one, 1, &out), SF_ERR_SHAPE,
                     "do not match for groups = 1");
    /* Output padding: not below the stride nor the dilation, negative. */
    CHECK_ERROR_NULL(out, sf_conv_transpose2d(input, weight, NULL, one, zero, one, one, 1, &out), SF_ERR_INVALID_ARGUMENT,
                     "sf_conv_transpose2d: output padding must be smaller than either stride or dilation");
    CHECK_ERROR_NULL(out, sf_conv_transpose2d(input, weight, NULL, two, zero, (int64_t[]){1, 2}, one, 1, &out),
                     SF_ERR_INVALID_ARGUMENT, "output padding must be smaller than either stride or dilation");
    CHECK_ERROR_NULL(out, sf_conv_transpose2d(input, weight, NULL, two, zero, (int64_t[]){-1, 0}, one, 1, &out),
                     SF_ERR_INVALID_ARGUMENT, "sf_conv_transpose2d: output_padding must be >= 0");
    /* Stride, dilation, padding and groups out of range. */
    CHECK_ERROR_NULL(out, sf_conv_transpose2d(input, weight, NULL, (int64_t[]){-1, 1}, zero, zero, one, 1, &out),
                     SF_ERR_INVALID_ARGUMENT, "sf_conv_transpose2d: stride must be >= 1");
    CHECK_ERROR_NULL(out, sf_conv_transpose2d(input, weight, NULL, (int64_t[]){1, 0}, zero, zero, one, 1, &out),
                     SF_ERR_INVALID_ARGUMENT, "sf_conv_transpose2d: stride must be >= 1");
    CHECK_ERROR_NULL(out, sf_conv_transpose2d(input, weight, NULL, one, zero, zero, (int64_t[]){0, 1}, 1, &out),
                     SF_ERR_INVALID_ARGUMENT, "sf_conv_transpose2d: dilation must be >= 1");
    CHECK_ERROR_NULL(out, sf_conv_transpose2d(input, weight, NULL, one, (int64_t[]){0, -2}, zero, one, 1, &out),
                     SF_ERR_INVALID_ARGUMENT, "sf_conv_transpose2d: padding must be >= 0");
    CHECK_ERROR_NULL(out, sf_conv_transpose2d(input, weight, NULL, one, zero, zero, one, 0, &out),
                     SF_ERR_INVALID_ARGUMENT, "sf_conv_transpose2d: groups must be >= 1");
    CHECK_ERROR_NULL(out, sf_conv_transpose2d(input, weight, NULL, one, zero, zero, one, -3, &out),
                     SF_ERR_INVALID_ARGUMENT, "sf_conv_transpose2d: groups must be >= 1");
    /* Sizes: a negative output, overflowing products, an output too large to count. */
    CHECK_ERROR_NULL(out, sf_conv_transpose2d(input, weight, NULL, one, (int64_t[]){3, 0}, zero, one, 1, &out),
                     SF_ERR_SHAPE, "sf_conv_transpose2d: input size 3 with kernel 2, stride 1, padding 3");
    CHECK_ERROR_NULL(out, sf_conv_transpose2d(input, weight, NULL, (int64_t[]){INT64_MAX, 1}, zero, zero, one, 1, &out),
                     SF_ERR_SHAPE, "sf_conv_transpose2d: stride, padding or dilation is too large");
    CHECK_ERROR_NULL(out, sf_conv_transpose2d(input, weight, NULL, one, (int64_t[]){INT64_MAX, 0}, zero, one, 1, &out),
                     SF_ERR_SHAPE, "sf_conv_transpose2d");
    CHECK_ERROR_NULL(out, sf_conv_transpose2d(input, weight, NULL, one, zero, (int64_t[]){INT64_MAX - 1, 0},
                                              (int64_t[]){INT64_MAX, 1}, 1, &out),
                     SF_ERR_SHAPE, "sf_conv_transpose2d");
    /* Bias of the wrong size; integer operands. */
    CHECK_ERROR_NULL(out, sf_conv_transpose2d(input, weight, bias, one, zero, zero, one, 1, &out), SF_ERR_SHAPE,
                     "sf_conv_transpose2d: bias must have shape [2], got [3]");
    CHECK_ERROR_NULL(out, sf_conv_transpose2d(integers, weight, NULL, one, zero, zero, one, 1, &out), SF_ERR_DTYPE, f);
    /* NULL tensors, arrays and out. */
    CHECK_ERROR_NULL(out, sf_conv_transpose2d(NULL, weight, NULL, one, zero, zero, one, 1, &out), SF_ERR_INVALID_ARGUMENT,
                     "sf_conv_transpose2d: x is NULL");
    CHECK_ERROR_NULL(out, sf_conv_transpose2d(input, NULL, NULL, one, zero, zero, one, 1, &out), SF_ERR_INVALID_ARGUMENT,
                     "sf_conv_transpose2d: weight is NULL");
    CHECK_ERROR_NULL(out, sf_conv_transpose2d(input, weight, NULL, NULL, zero, zero, one, 1, &out),
                     SF_ERR_INVALID_ARGUMENT, "sf_conv_transpose2d: stride is NULL");
    CHECK_ERROR_NULL(out, sf_conv_transpose2d(input, weight, NULL, one, NULL, zero, one, 1, &out),
                     SF_ERR_INVALID_ARGUMENT, "sf_conv_transpose2d: padding is NULL");
    CHECK_ERROR_NULL(out, sf_conv_transpose2d(input, weight, NULL, one, zero, NULL, one, 1, &out),
                     SF_ERR_INVALID_ARGUMENT, "sf_conv_transpose2d: output_padding is NULL");
    CHECK_ERROR_NULL(out, sf_conv_transpose2d(input, weight, NULL, one, zero, zero, NULL, 1, &out),
                     SF_ERR_INVALID_ARGUMENT, "sf_conv_transpose2d: dilation is NULL");
    CHECK_ERROR(sf_conv_transpose2d(input, weight, NULL, one, zero, zero, one, 1, NULL), SF_ERR_INVALID_ARGUMENT,
                "sf_conv_transpose2d: out is NULL");
    RELEASE_TENSORS(input, weight, plane, weight3, weight5, bias, integers);
}

/* ------------------------------------------------------------------------------------------------
 * Errors: bad windows, ranks and NULLs; every result pointer NULL.
 * ---------------------------------------------------------------------------------------------- */

static void test_errors(void) {
    double x[16];
    fill(x, 16, 0.0);
    int64_t shape[4] = {1, 1, 4, 4}, flat[2] = {4, 4};
    sf_tensor *input = make64(x, shape, 4), *plane = make64(x, flat, 2), *out = NULL, *indices = NULL;
    int64_t zero[2] = {0, 2}, big_pad[2] = {2, 0}, huge[2] = {INT64_MAX, 2}, negative[2] = {-1, 0}, k5[2] = {5, 5};
    indices = GARBAGE;
    CHECK_ERROR_NULL(out, sf_max_pool2d(input, zero, S2, P0, D1, false, &out, &indices), SF_ERR_INVALID_ARGUMENT,
                     "sf_max_pool2d: kernel_size");
    CHECK(indices == NULL);
    CHECK_ERROR_NULL(out, sf_max_pool2d(input, K2, S2, big_pad, D1, false, &out, NULL), SF_ERR_INVALID_ARGUMENT,
                     "pad should be at most half");
    CHECK_ERROR_NULL(out, sf_max_pool2d(input, huge, S2, P0, D1, false, &out, NULL), SF_ERR_INVALID_ARGUMENT,
                     "sf_max_pool2d");
    CHECK_ERROR_NULL(out, sf_max_pool2d(input, K2, S2, negative, D1, false, &out, NULL), SF_ERR_INVALID_ARGUMENT,
                     "sf_max_pool2d: padding");
    CHECK_ERROR_NULL(out, sf_max_pool2d(input, k5, S2, P0, D1, false, &out, NULL), SF_ERR_SHAPE, "too small");
    CHECK_ERROR_NULL(out, sf_max_pool2d(plane, K2, S2, P0, D1, false, &out, NULL), SF_ERR_SHAPE,
                     "sf_max_pool2d: input must be");
    CHECK_ERROR_NULL(out, sf_max_pool2d(input, NULL, S2, P0, D1, false, &out, NULL), SF_ERR_INVALID_ARGUMENT,
                     "kernel_size is NULL");
    CHECK_ERROR_NULL(out, sf_max_pool2d(NULL, K2, S2, P0, D1, false, &out, NULL), SF_ERR_INVALID_ARGUMENT,
                     "sf_max_pool2d: x is NULL");
    CHECK_STATUS(sf_max_pool2d(input, K2, S2, P0, D1, false, NULL, NULL), SF_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_NULL(out, sf_avg_pool2d(input, k5, S2, P0, false, true, 0, &out), SF_ERR_SHAPE, "sf_avg_pool2d");
    CHECK_ERROR_NULL(out, sf_max_pool1d(input, 2, 2, 0, 1, false, &out, NULL), SF_ERR_SHAPE, "sf_max_pool1d");
    int64_t ints[16] = {0};
    sf_tensor *integers = make_i64(ints, shape, 4);
    CHECK_ERROR_NULL(out, sf_max_pool2d(integers, K2, S2, P0, D1, false, &out, NULL), SF_ERR_DTYPE, "sf_max_pool2d");
    CHECK_ERROR_NULL(out, sf_logsigmoid(integers, &out), SF_ERR_DTYPE, "sf_logsigmoid");
    int64_t neg_size[2] = {-1, 2};
    CHECK_ERROR_NULL(out, sf_adaptive_avg_pool2d(input, neg_size, &out), SF_ERR_INVALID_ARGUMENT, "sf_adaptive_avg_pool2d");
    RELEASE_TENSORS(input, plane, integers);
}

int main(void) {
    test_max_pool2d_values();
    test_avg_pool2d_values();
    test_adaptive_and_1d();
    test_max_pool_gradient();
    test_batch_norm();
    test_batch_norm_under_vmap();
    test_group_norm_and_embedding();
    test_losses();
    test_activations();
    test_attention_and_conv1d();
    test_conv_transpose2d();
    test_conv_transpose2d_errors();
    test_errors();
    return check_summary();
}
