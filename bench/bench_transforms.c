/* bench_transforms.c — the transforms on the workloads of the torch.func tutorials, in one run:
 *   1. per-sample gradients of a 784-128-10 MLP on a batch of 64: vmap(grad) against a loop of grad,
 *   2. jacrev and jacfwd of sin(A x), n = 64,
 *   3. hessian of sum(tanh(A x)), n = 32,
 *   4. grad of a chain of 100 elementwise ops on 16 floats.
 * Each figure is the median of repeated runs after a warm-up call; lines starting with "RESULT" are machine-readable. */
#define _POSIX_C_SOURCE 199309L
#include <string.h>

#include "../examples/c/example_util.h"

/* ---- 1. per-sample gradients ---- */
enum { D = 784, H = 128, C = 10, N = 64 };

#include "bench_mlp.h"

/* The loop of grad as one function, so that both variants are timed the same way. */
static int loop_of_grad(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)n_in;
    sf_function *grad = ud;
    for (int64_t i = 0; i < N; i++) {
        sf_tensor *xi = example_select(in[4], i), *yi = example_select(in[5], i), *g[4] = {NULL};
        sf_tensor *args[6] = {in[0], in[1], in[2], in[3], xi, yi};
        sf_status s = sf_call(grad, args, 6, g, 4);
        sf_tensor_release(xi), sf_tensor_release(yi);
        if (s != SF_OK) return 1;
        for (size_t k = 0; k < n_out; k++) sf_tensor_release(g[k]);
    }
    for (size_t k = 0; k < n_out; k++) SF_TRY(sf_scalar(0, &out[k]));
    return 0;
}

/* ---- 2, 3. Jacobians and Hessians ---- */
static int sin_ax(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)ud, (void)n_in, (void)n_out;
    sf_tensor *ax = NULL;
    sf_status s = sf_matmul(in[0], in[1], &ax);
    if (s == SF_OK) s = sf_sin(ax, &out[0]);
    sf_tensor_release(ax);
    return s != SF_OK;
}

static int sum_tanh_ax(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)ud, (void)n_in, (void)n_out;
    sf_tensor *ax = NULL, *t = NULL;
    sf_status s = sf_matmul(in[0], in[1], &ax);
    if (s == SF_OK) s = sf_tanh(ax, &t);
    if (s == SF_OK) s = sf_sum(t, NULL, 0, false, &out[0]);
    sf_tensor_release(ax), sf_tensor_release(t);
    return s != SF_OK;
}

/* ---- 4. a chain of 100 elementwise ops ---- */
static int chain(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)n_in, (void)n_out;
    sf_tensor *scale = ud, *x = in[0], *next = NULL;
    sf_tensor_retain(x);
    for (int i = 0; i < 99; i++) {
        sf_status s;
        switch (i % 3) {
        case 0: s = sf_sin(x, &next); break;
        case 1: s = sf_mul(x, scale, &next); break;
        default: s = sf_tanh(x, &next); break;
        }
        sf_tensor_release(x);
        if (s != SF_OK) return 1;
        x = next;
    }
    sf_status s = sf_sum(x, NULL, 0, false, &out[0]);
    sf_tensor_release(x);
    return s != SF_OK;
}

int main(void) {
    unsigned rng = 1;
    printf("swiftfunc %s transform benchmarks (median of repeated runs)\n", sf_version());

    /* 1. */
    sf_tensor *mlp_in[6];
    sf_function *loss = NULL, *grad = NULL, *per_sample = NULL, *loop = NULL;
    mlp_workload(D, H, C, N, &rng, mlp_in, &loss, &grad, &per_sample);
    sf_tensor *w1 = mlp_in[0], *b1 = mlp_in[1], *w2 = mlp_in[2], *b2 = mlp_in[3], *x = mlp_in[4], *y = mlp_in[5];
    SF_CHECK(sf_function_new(loop_of_grad, grad, NULL, 6, 4, &loop));
    double t_vmap = example_time_call(per_sample, mlp_in, 6, 4, 20), t_loop = example_time_call(loop, mlp_in, 6, 4, 10);
    printf("per-sample grads, MLP %d-%d-%d, batch %d: vmap(grad) %8.3f ms   loop of grad %8.3f ms   speedup %.1fx\n",
           D, H, C, N, 1e3 * t_vmap, 1e3 * t_loop, t_loop / t_vmap);
    printf("RESULT per_sample_grad_vmap_ms %.4f\nRESULT per_sample_grad_loop_ms %.4f\n", 1e3 * t_vmap, 1e3 * t_loop);

    /* 2. */
    const int64_t a64[] = {64, 64}, x64[] = {64};
    sf_tensor *A = example_random(a64, 2, 0.2, &rng), *v = example_random(x64, 1, 1.0, &rng);
    sf_function *g = NULL, *jr = NULL, *jf = NULL;
    SF_CHECK(sf_function_new(sin_ax, NULL, NULL, 2, 1, &g));
    const int32_t wrt[] = {1};
    SF_CHECK(sf_jacrev(g, wrt, 1, false, 0, &jr));
    SF_CHECK(sf_jacfwd(g, wrt, 1, false, SF_RANDOMNESS_ERROR, &jf));
    sf_tensor *jac_in[2] = {A, v};
    double t_jr = example_time_call(jr, jac_in, 2, 1, 30), t_jf = example_time_call(jf, jac_in, 2, 1, 30);
    printf("jacrev of sin(A x), n = 64:  %8.3f ms\njacfwd of sin(A x), n = 64:  %8.3f ms\n", 1e3 * t_jr, 1e3 * t_jf);
    printf("RESULT jacrev_ms %.4f\nRESULT jacfwd_ms %.4f\n", 1e3 * t_jr, 1e3 * t_jf);

    /* 3. */
    const int64_t a32[] = {32, 32}, x32[] = {32};
    sf_tensor *A32 = example_random(a32, 2, 0.2, &rng), *v32 = example_random(x32, 1, 1.0, &rng);
    sf_function *e = NULL, *h = NULL;
    SF_CHECK(sf_function_new(sum_tanh_ax, NULL, NULL, 2, 1, &e));
    SF_CHECK(sf_hessian(e, wrt, 1, &h));
    sf_tensor *hess_in[2] = {A32, v32};
    double t_h = example_time_call(h, hess_in, 2, 1, 30);
    printf("hessian of sum(tanh(A x)), n = 32: %8.3f ms\n", 1e3 * t_h);
    printf("RESULT hessian_ms %.4f\n", 1e3 * t_h);

    /* 4. */
    const int64_t x16[] = {16};
    sf_tensor *v16 = example_random(x16, 1, 1.0, &rng), *scale = NULL;
    SF_CHECK(sf_scalar(0.9, &scale));
    sf_function *c = NULL, *dc = NULL;
    SF_CHECK(sf_function_new(chain, scale, NULL, 1, 1, &c));
    SF_CHECK(sf_grad(c, NULL, 0, false, &dc));
    double t_c = example_time_call(dc, &v16, 1, 1, 50);
    printf("grad of a chain of 100 elementwise ops on 16 floats: %8.3f ms (%.2f us per op, forward + backward)\n",
           1e3 * t_c, 1e6 * t_c / 100);
    printf("RESULT chain_grad_ms %.4f\n", 1e3 * t_c);

    sf_tensor *all[] = {w1, b1, w2, b2, x, y, A, v, A32, v32, v16, scale};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) sf_tensor_release(all[i]);
    sf_function *fns[] = {loss, grad, per_sample, loop, g, jr, jf, e, h, c, dc};
    for (size_t i = 0; i < sizeof fns / sizeof *fns; i++) sf_function_release(fns[i]);
    return 0;
}
