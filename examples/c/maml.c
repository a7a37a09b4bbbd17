/* MAML on sine regression (torch.func tutorial): the meta-gradient differentiates through an
 * inner gradient step, i.e. grad of a callback that itself calls a grad transform. Checked
 * against central differences of the meta-loss, then used for a few meta-training steps. */
#define _POSIX_C_SOURCE 199309L
#include "example_util.h"

enum { H = 16, K = 10, N_PARAMS = 4 };

/* loss(w1, b1, w2, b2, x, y) = mse(linear(tanh(linear(x, w1, b1)), w2, b2), y); x, y: [K, 1]. */
static int loss_fn(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)ud, (void)n_in, (void)n_out;
    sf_tensor *pre = NULL, *hidden = NULL, *pred = NULL;
    sf_status s = sf_linear(in[4], in[0], in[1], &pre);
    if (s == SF_OK) s = sf_tanh(pre, &hidden);
    if (s == SF_OK) s = sf_linear(hidden, in[2], in[3], &pred);
    if (s == SF_OK) s = sf_mse_loss(pred, in[5], SF_REDUCTION_MEAN, &out[0]);
    sf_tensor_release(pre);
    sf_tensor_release(hidden);
    sf_tensor_release(pred);
    return s == SF_OK ? 0 : 1;
}

struct maml {
    sf_function *loss, *inner_grad;
    sf_tensor *inner_lr;
};

/* meta_loss(params..., x_support, y_support, x_query, y_query): one inner SGD step on the support
 * set, then the loss of the adapted parameters on the query set. */
static int meta_loss(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)n_in, (void)n_out;
    struct maml *m = ud;
    sf_tensor *support[6] = {in[0], in[1], in[2], in[3], in[4], in[5]};
    sf_tensor *grads[N_PARAMS] = {NULL}, *adapted[N_PARAMS] = {NULL};
    int rc = 1;
    if (sf_call(m->inner_grad, support, 6, grads, N_PARAMS) != SF_OK) goto done;
    for (int p = 0; p < N_PARAMS; p++) {
        sf_tensor *step = NULL;
        if (sf_mul(grads[p], m->inner_lr, &step) != SF_OK) goto done;
        sf_status s = sf_sub(in[p], step, &adapted[p]);
        sf_tensor_release(step);
        if (s != SF_OK) goto done;
    }
    sf_tensor *query[6] = {adapted[0], adapted[1], adapted[2], adapted[3], in[6], in[7]};
    rc = sf_call(m->loss, query, 6, out, 1) == SF_OK ? 0 : 1;
done:
    for (int p = 0; p < N_PARAMS; p++) {
        sf_tensor_release(grads[p]);
        sf_tensor_release(adapted[p]);
    }
    return rc;
}

/* A sine task y = amplitude * sin(x + phase) sampled at K points, as [K, 1] float64 tensors. */
static void sine_task(unsigned *rng, double amplitude, double phase, sf_tensor **x, sf_tensor **y) {
    double xv[K], yv[K];
    for (int i = 0; i < K; i++) {
        xv[i] = 10 * example_uniform(rng) - 5;
        yv[i] = amplitude * sin(xv[i] + phase);
    }
    const int64_t shape[] = {K, 1};
    SF_CHECK(sf_tensor_from_data(xv, SF_FLOAT64, shape, 2, x));
    SF_CHECK(sf_tensor_from_data(yv, SF_FLOAT64, shape, 2, y));
}

static double scalar_value(sf_tensor *t) {
    double v = 0;
    SF_CHECK(sf_tensor_copy_to(t, &v, sizeof v));
    return v;
}

int main(void) {
    unsigned rng = 5;
    const int64_t shapes[N_PARAMS][2] = {{H, 1}, {H, 0}, {1, H}, {1, 0}};
    const size_t ranks[N_PARAMS] = {2, 1, 2, 1};
    sf_tensor *params[N_PARAMS];
    for (int p = 0; p < N_PARAMS; p++) params[p] = example_random64(shapes[p], ranks[p], 0.5, &rng, NULL);

    struct maml m = {NULL, NULL, NULL};
    SF_CHECK(sf_function_new(loss_fn, NULL, NULL, 6, 1, &m.loss));
    const int32_t all_params[] = {0, 1, 2, 3};
    SF_CHECK(sf_grad(m.loss, all_params, N_PARAMS, false, &m.inner_grad));
    SF_CHECK(sf_scalar(0.05, &m.inner_lr));
    sf_function *outer = NULL, *meta_grad = NULL;
    SF_CHECK(sf_function_new(meta_loss, &m, NULL, 8, 1, &outer));
    SF_CHECK(sf_grad_and_value(outer, all_params, N_PARAMS, false, &meta_grad));

    /* 1. The meta-gradient against central differences along a random direction. */
    sf_tensor *xs, *ys, *xq, *yq;
    sine_task(&rng, 2.0, 0.5, &xs, &ys);
    sine_task(&rng, 2.0, 0.5, &xq, &yq);
    sf_tensor *in[8] = {params[0], params[1], params[2], params[3], xs, ys, xq, yq};
    sf_tensor *results[N_PARAMS + 1] = {NULL};
    SF_CHECK(sf_call(meta_grad, in, 8, results, N_PARAMS + 1));
    double directional = 0, eps = 1e-6;
    sf_tensor *plus[N_PARAMS], *minus[N_PARAMS];
    for (int p = 0; p < N_PARAMS; p++) {
        sf_tensor *d = example_random64(shapes[p], ranks[p], 1.0, &rng, NULL), *scaled = NULL, *e = NULL;
        double *g = example_read64(results[p]), *dv = example_read64(d);
        for (int64_t i = 0; i < example_numel(d); i++) directional += g[i] * dv[i];
        SF_CHECK(sf_scalar(eps, &e));
        SF_CHECK(sf_mul(d, e, &scaled));
        SF_CHECK(sf_add(params[p], scaled, &plus[p]));
        SF_CHECK(sf_sub(params[p], scaled, &minus[p]));
        free(g), free(dv);
        sf_tensor_release(d), sf_tensor_release(scaled), sf_tensor_release(e);
    }
    sf_tensor *in_plus[8] = {plus[0], plus[1], plus[2], plus[3], xs, ys, xq, yq};
    sf_tensor *in_minus[8] = {minus[0], minus[1], minus[2], minus[3], xs, ys, xq, yq};
    sf_tensor *l_plus = NULL, *l_minus = NULL;
    SF_CHECK(sf_call(outer, in_plus, 8, &l_plus, 1));
    SF_CHECK(sf_call(outer, in_minus, 8, &l_minus, 1));
    double finite = (scalar_value(l_plus) - scalar_value(l_minus)) / (2 * eps);
    double rel = fabs(directional - finite) / fmax(1e-12, fabs(finite));
    printf("MAML meta-gradient through an inner grad step: directional derivative %.9f, finite difference %.9f (rel. error %.1e)\n",
           directional, finite, rel);
    for (int p = 0; p < N_PARAMS; p++) sf_tensor_release(plus[p]), sf_tensor_release(minus[p]);
    sf_tensor_release(l_plus), sf_tensor_release(l_minus);
    for (int p = 0; p <= N_PARAMS; p++) sf_tensor_release(results[p]);
    sf_tensor_release(xs), sf_tensor_release(ys), sf_tensor_release(xq), sf_tensor_release(yq);

    /* 2. A few meta-training steps over random sine tasks (outer SGD). */
    sf_tensor *outer_lr = NULL;
    SF_CHECK(sf_scalar(0.01, &outer_lr));
    double first = 0, last = 0;
    for (int step = 0; step < 30; step++) {
        double amplitude = 0.5 + 2 * example_uniform(&rng), phase = 3 * example_uniform(&rng);
        sine_task(&rng, amplitude, phase, &xs, &ys);
        sine_task(&rng, amplitude, phase, &xq, &yq);
        sf_tensor *task[8] = {params[0], params[1], params[2], params[3], xs, ys, xq, yq};
        SF_CHECK(sf_call(meta_grad, task, 8, results, N_PARAMS + 1));
        double value = scalar_value(results[N_PARAMS]);
        if (step == 0) first = value;
        last = value;
        for (int p = 0; p < N_PARAMS; p++) {
            sf_tensor *update = NULL, *next = NULL;
            SF_CHECK(sf_mul(results[p], outer_lr, &update));
            SF_CHECK(sf_sub(params[p], update, &next));
            sf_tensor_release(update), sf_tensor_release(params[p]);
            params[p] = next;
        }
        for (int p = 0; p <= N_PARAMS; p++) sf_tensor_release(results[p]);
        sf_tensor_release(xs), sf_tensor_release(ys), sf_tensor_release(xq), sf_tensor_release(yq);
    }
    printf("meta-training: query loss %.4f at the first task, %.4f at the 30th\n", first, last);

    sf_tensor_release(outer_lr);
    for (int p = 0; p < N_PARAMS; p++) sf_tensor_release(params[p]);
    sf_tensor_release(m.inner_lr);
    sf_function_release(meta_grad), sf_function_release(outer);
    sf_function_release(m.inner_grad), sf_function_release(m.loss);
    return rel > 1e-5;
}
