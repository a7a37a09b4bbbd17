/* Per-sample gradients of an MLP with cross-entropy: vmap(grad(loss)) against a loop of grad.
 * The torch.func tutorial "Per-sample gradients", in C. */
#define _POSIX_C_SOURCE 199309L
#include "example_util.h"

enum { D = 784, H = 128, C = 10, N = 64, N_PARAMS = 4 };

/* loss(W1, b1, W2, b2, x, y) = cross_entropy(W2 relu(W1 x + b1) + b2, y) for one sample. */
static int mlp_loss(void *user_data, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)user_data, (void)n_in, (void)n_out;
    sf_tensor *pre = NULL, *hidden = NULL, *logits = NULL;
    sf_status s = sf_linear(in[4], in[0], in[1], &pre);
    if (s == SF_OK) s = sf_relu(pre, &hidden);
    if (s == SF_OK) s = sf_linear(hidden, in[2], in[3], &logits);
    if (s == SF_OK) s = sf_cross_entropy(logits, in[5], SF_REDUCTION_MEAN, &out[0]);
    sf_tensor_release(pre);
    sf_tensor_release(hidden);
    sf_tensor_release(logits);
    return s == SF_OK ? 0 : 1;
}

/* Median seconds of one pass of grad over the whole batch, sample by sample. */
static double time_loop(sf_function *grad, sf_tensor *const *params, sf_tensor *x, sf_tensor *y) {
    double times[5];
    for (int r = -1; r < 5; r++) {
        double t0 = example_seconds();
        for (int64_t i = 0; i < N; i++) {
            sf_tensor *xi = example_select(x, i), *yi = example_select(y, i), *grads[N_PARAMS] = {NULL};
            sf_tensor *sample_inputs[6] = {params[0], params[1], params[2], params[3], xi, yi};
            SF_CHECK(sf_call(grad, sample_inputs, 6, grads, N_PARAMS));
            for (int p = 0; p < N_PARAMS; p++) sf_tensor_release(grads[p]);
            sf_tensor_release(xi), sf_tensor_release(yi);
        }
        if (r >= 0) times[r] = example_seconds() - t0;
    }
    qsort(times, 5, sizeof *times, example_compare_doubles);
    return times[2];
}

int main(void) {
    unsigned rng = 42;
    const int64_t w1_shape[] = {H, D}, b1_shape[] = {H}, w2_shape[] = {C, H}, b2_shape[] = {C};
    const int64_t x_shape[] = {N, D};
    sf_tensor *params[N_PARAMS] = {
        example_random(w1_shape, 2, 0.05, &rng), example_random(b1_shape, 1, 0.05, &rng),
        example_random(w2_shape, 2, 0.1, &rng), example_random(b2_shape, 1, 0.1, &rng)};
    sf_tensor *x = example_random(x_shape, 2, 1.0, &rng);
    int64_t labels[N];
    for (int i = 0; i < N; i++) labels[i] = (int64_t)(example_uniform(&rng) * C) % C;
    const int64_t y_shape[] = {N};
    sf_tensor *y = NULL;
    SF_CHECK(sf_tensor_from_data(labels, SF_INT64, y_shape, 1, &y));

    sf_function *loss = NULL, *grad = NULL, *per_sample = NULL;
    SF_CHECK(sf_function_new(mlp_loss, NULL, NULL, 6, 1, &loss));
    const int32_t argnums[] = {0, 1, 2, 3};
    SF_CHECK(sf_grad(loss, argnums, 4, false, &grad));
    const int64_t in_dims[] = {SF_NOT_MAPPED, SF_NOT_MAPPED, SF_NOT_MAPPED, SF_NOT_MAPPED, 0, 0};
    SF_CHECK(sf_vmap(grad, in_dims, 6, NULL, 0, 0, SF_RANDOMNESS_ERROR, &per_sample));

    /* vmap(grad): one call for the whole batch. */
    sf_tensor *inputs[6] = {params[0], params[1], params[2], params[3], x, y};
    sf_tensor *batched[N_PARAMS] = {NULL};
    SF_CHECK(sf_call(per_sample, inputs, 6, batched, N_PARAMS));

    /* The naive loop: grad once per sample. */
    double worst = 0;
    float first_vmap[4] = {0}, first_loop[4] = {0};
    for (int64_t i = 0; i < N; i++) {
        sf_tensor *xi = example_select(x, i), *yi = example_select(y, i);
        sf_tensor *sample_inputs[6] = {params[0], params[1], params[2], params[3], xi, yi};
        sf_tensor *grads[N_PARAMS] = {NULL};
        SF_CHECK(sf_call(grad, sample_inputs, 6, grads, N_PARAMS));
        for (int p = 0; p < N_PARAMS; p++) {
            sf_tensor *row = example_select(batched[p], i);
            double d = example_max_diff(row, grads[p]);
            if (d > worst) worst = d;
            if (i == 0 && p == 3) {
                float *a = example_read(row), *b = example_read(grads[p]);
                for (int k = 0; k < 4; k++) first_vmap[k] = a[k], first_loop[k] = b[k];
                free(a);
                free(b);
            }
            sf_tensor_release(row);
            sf_tensor_release(grads[p]);
        }
        sf_tensor_release(xi);
        sf_tensor_release(yi);
    }

    /* Timings: medians after a warm-up call. */
    double t_vmap = example_time_call(per_sample, inputs, 6, N_PARAMS, 9);
    double t_loop = time_loop(grad, params, x, y);

    printf("per-sample gradients of a %d-%d-%d MLP, batch %d\n", D, H, C, N);
    printf("  d loss_0 / d b2[0:4]  vmap(grad): % .6f % .6f % .6f % .6f\n", first_vmap[0], first_vmap[1], first_vmap[2], first_vmap[3]);
    printf("                        loop of grad: % .6f % .6f % .6f % .6f\n", first_loop[0], first_loop[1], first_loop[2], first_loop[3]);
    printf("  max |vmap - loop| over all parameters and samples: %.3g\n", worst);
    printf("  time: vmap(grad) %.2f ms, loop of grad %.2f ms (%.1fx)\n", 1e3 * t_vmap, 1e3 * t_loop, t_loop / t_vmap);

    for (int p = 0; p < N_PARAMS; p++) {
        sf_tensor_release(batched[p]);
        sf_tensor_release(params[p]);
    }
    sf_tensor_release(x);
    sf_tensor_release(y);
    sf_function_release(per_sample);
    sf_function_release(grad);
    sf_function_release(loss);
    if (worst > 1e-5) {
        fprintf(stderr, "per_sample_grads: vmap(grad) disagrees with the loop (%.3g)\n", worst);
        return 1;
    }
    return 0;
}
