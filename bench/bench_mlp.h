/* bench_mlp.h — the per-sample-gradient workload of the benchmarks (bench_transforms.c,
 * bench_memory.c): an MLP d-h-c with one hidden layer and cross-entropy, the torch.func tutorial's
 * model, on a batch of n examples. Needs example_util.h. */
#ifndef SWIFTFUNC_BENCH_MLP_H
#define SWIFTFUNC_BENCH_MLP_H

#include "swiftfunc.h"

/* in = {w1 [h, d], b1 [h], w2 [c, h], b2 [c], x [d] or [B, d], y (int64 labels)}; out[0] = the loss. */
static int mlp_loss(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)ud, (void)n_in, (void)n_out;
    sf_tensor *pre = NULL, *hidden = NULL, *logits = NULL;
    sf_status s = sf_linear(in[4], in[0], in[1], &pre);
    if (s == SF_OK) s = sf_relu(pre, &hidden);
    if (s == SF_OK) s = sf_linear(hidden, in[2], in[3], &logits);
    if (s == SF_OK) s = sf_cross_entropy(logits, in[5], SF_REDUCTION_MEAN, &out[0]);
    sf_tensor_release(pre), sf_tensor_release(hidden), sf_tensor_release(logits);
    return s != SF_OK;
}

/* Fills in[6] (random weights, x [n, d] and labels i % c) and makes loss, grad = grad of loss in
 * the four weights, and per_sample = vmap(grad) over x and y. The caller releases all of them. */
static void mlp_workload(int64_t d, int64_t h, int64_t c, int64_t n, unsigned *rng, sf_tensor *in[6],
                         sf_function **loss, sf_function **grad, sf_function **per_sample) {
    const int64_t w1s[] = {h, d}, b1s[] = {h}, w2s[] = {c, h}, b2s[] = {c}, xs[] = {n, d}, ys[] = {n};
    in[0] = example_random(w1s, 2, 0.05, rng), in[1] = example_random(b1s, 1, 0.05, rng);
    in[2] = example_random(w2s, 2, 0.1, rng), in[3] = example_random(b2s, 1, 0.1, rng);
    in[4] = example_random(xs, 2, 1.0, rng);
    int64_t *labels = malloc(sizeof(int64_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++) labels[i] = i % c;
    SF_CHECK(sf_tensor_from_data(labels, SF_INT64, ys, 1, &in[5]));
    free(labels);
    SF_CHECK(sf_function_new(mlp_loss, NULL, NULL, 6, 1, loss));
    const int32_t params[] = {0, 1, 2, 3};
    SF_CHECK(sf_grad(*loss, params, 4, false, grad));
    const int64_t in_dims[] = {SF_NOT_MAPPED, SF_NOT_MAPPED, SF_NOT_MAPPED, SF_NOT_MAPPED, 0, 0};
    SF_CHECK(sf_vmap(*grad, in_dims, 6, NULL, 0, 0, SF_RANDOMNESS_ERROR, per_sample));
}

#endif /* SWIFTFUNC_BENCH_MLP_H */
