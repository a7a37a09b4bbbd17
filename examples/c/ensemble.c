/* Model ensembling (torch.func tutorial): K MLPs with stacked parameters evaluated by one vmap,
 * on a shared minibatch and on one minibatch per model, against a loop over the models. */
#define _POSIX_C_SOURCE 199309L
#include "example_util.h"

enum { K = 5, N = 8, D = 16, H = 32, C = 4 };

/* model(W1, b1, W2, b2, x) = linear(relu(linear(x, W1, b1)), W2, b2). */
static int model(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)ud, (void)n_in, (void)n_out;
    sf_tensor *pre = NULL, *hidden = NULL;
    sf_status s = sf_linear(in[4], in[0], in[1], &pre);
    if (s == SF_OK) s = sf_relu(pre, &hidden);
    if (s == SF_OK) s = sf_linear(hidden, in[2], in[3], &out[0]);
    sf_tensor_release(pre);
    sf_tensor_release(hidden);
    return s == SF_OK ? 0 : 1;
}

static double compare_with_loop(sf_function *f, sf_tensor *const *params, sf_tensor *x, int x_mapped, sf_tensor *batched) {
    double worst = 0;
    for (int64_t k = 0; k < K; k++) {
        sf_tensor *inputs[5], *expected = NULL;
        for (int p = 0; p < 4; p++) inputs[p] = example_select(params[p], k);
        inputs[4] = x_mapped ? example_select(x, k) : x;
        SF_CHECK(sf_call(f, inputs, 5, &expected, 1));
        sf_tensor *row = example_select(batched, k);
        worst = fmax(worst, example_max_diff(row, expected));
        sf_tensor_release(row);
        sf_tensor_release(expected);
        for (int p = 0; p < 4; p++) sf_tensor_release(inputs[p]);
        if (x_mapped) sf_tensor_release(inputs[4]);
    }
    return worst;
}

int main(void) {
    unsigned rng = 3;
    const int64_t shapes[4][3] = {{K, H, D}, {K, H, 0}, {K, C, H}, {K, C, 0}};
    const size_t ranks[4] = {3, 2, 3, 2};
    sf_tensor *params[4];
    for (int p = 0; p < 4; p++) params[p] = example_random(shapes[p], ranks[p], 0.3, &rng);
    const int64_t x_shape[] = {N, D}, xs_shape[] = {K, N, D};
    sf_tensor *x = example_random(x_shape, 2, 1.0, &rng), *xs = example_random(xs_shape, 3, 1.0, &rng);

    sf_function *f = NULL, *shared = NULL, *separate = NULL;
    SF_CHECK(sf_function_new(model, NULL, NULL, 5, 1, &f));
    const int64_t shared_dims[] = {0, 0, 0, 0, SF_NOT_MAPPED}, separate_dims[] = {0, 0, 0, 0, 0};
    SF_CHECK(sf_vmap(f, shared_dims, 5, NULL, 0, 0, SF_RANDOMNESS_ERROR, &shared));
    SF_CHECK(sf_vmap(f, separate_dims, 5, NULL, 0, 0, SF_RANDOMNESS_ERROR, &separate));

    sf_tensor *in_shared[5] = {params[0], params[1], params[2], params[3], x};
    sf_tensor *in_separate[5] = {params[0], params[1], params[2], params[3], xs};
    sf_tensor *out_shared = NULL, *out_separate = NULL;
    SF_CHECK(sf_call(shared, in_shared, 5, &out_shared, 1));
    SF_CHECK(sf_call(separate, in_separate, 5, &out_separate, 1));
    int64_t shape[3] = {0};
    SF_CHECK(sf_tensor_shape(out_shared, shape, 3));
    double e1 = compare_with_loop(f, params, x, 0, out_shared);
    double e2 = compare_with_loop(f, params, xs, 1, out_separate);
    printf("ensemble of %d MLPs (%d-%d-%d): predictions [%lld, %lld, %lld]\n", K, D, H, C,
           (long long)shape[0], (long long)shape[1], (long long)shape[2]);
    printf("  same minibatch:      max |vmap - loop| = %.3g\n", e1);
    printf("  one minibatch each:  max |vmap - loop| = %.3g\n", e2);

    for (int p = 0; p < 4; p++) sf_tensor_release(params[p]);
    sf_tensor_release(x);
    sf_tensor_release(xs);
    sf_tensor_release(out_shared);
    sf_tensor_release(out_separate);
    sf_function_release(f);
    sf_function_release(shared);
    sf_function_release(separate);
    return e1 > 1e-5 || e2 > 1e-5;
}
