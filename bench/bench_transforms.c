/* bench_transforms.c — the transforms on the workloads of the torch.func tutorials, in one run:
 *   1. per-sample gradients of a 784-128-10 MLP on a batch of 64: vmap(grad) against a loop of grad,
 *   2. jacrev and jacfwd of sin(A x), n = 64,
 *   3. hessian of sum(tanh(A x)), n = 32,
 *   4. grad of a chain of 100 elementwise ops on 16 floats,
 *   5. per-sample gradients of the tutorial's MNIST CNN (issue 10), its conv2 pieces alone, and the
 *      machine's floor measured in the same run (cblas_sgemm GFLOP/s, memory write bandwidth).
 * Each figure is the median of repeated runs after a warm-up call; lines starting with "RESULT" are machine-readable. */
#define _GNU_SOURCE /* cblas.h declares openblas_setaffinity with cpu_set_t */
#include <cblas.h>
#include <string.h>

#include "../examples/c/example_util.h"

/* ---- 1. per-sample gradients ---- */
enum { D = 784, H = 128, C = 10, N = 64 };

#include "bench_mlp.h"

/* Median seconds of a call of jit(f) (its trace happens in the warm-up call), and the optimizer's
 * summary line of f's graph at these inputs (how many equations were removed and fused). */
static double time_jit(sf_function *f, sf_tensor *const *inputs, size_t n_in, size_t n_out, int reps, char *summary,
                       size_t summary_size) {
    sf_function *jf = NULL;
    SF_CHECK(sf_jit(f, &jf));
    double t = example_time_call(jf, inputs, n_in, n_out, reps);
    char *text = NULL;
    SF_CHECK(sf_function_graph(jf, inputs, n_in, &text));
    const char *line = strstr(text, "\n# ");
    snprintf(summary, summary_size, "%s", line ? line + 3 : "");
    sf_string_free(text);
    sf_function_release(jf);
    return t;
}

/* Prints one workload's eager and jit times with the optimizer's summary. */
static void print_jit(const char *what, const char *key, double eager, double jit, const char *summary) {
    printf("  jit: %-44s %9.3f ms (eager %.3f ms, %.1fx)   [%s]\n", what, 1e3 * jit, 1e3 * eager, eager / jit, summary);
    printf("RESULT %s_jit_ms %.4f\n", key, 1e3 * jit);
}

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

/* ---- 5. per-sample gradients of the MNIST CNN (torch.func's per-sample-grads tutorial) ----
 * conv 1->32 3x3, relu, conv 32->64 3x3, relu, 2x2 max-pool as reshape + amax, fc 9216->128, relu,
 * fc 128->10, cross-entropy; one example x [1, 28, 28] with its label, as the tutorial's
 * compute_loss (which unsqueezes the sample into a batch of one). */
enum { CNN_N = 64 };

static int cnn_loss(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)ud, (void)n_in, (void)n_out;
    static const int64_t one[] = {1, 1, 28, 28}, pooled[] = {1, 64, 12, 2, 12, 2}, flat[] = {1, 9216}, label[] = {1};
    static const int64_t unit[] = {1, 1}, none[] = {0, 0}, pool_dims[] = {3, 5};
    sf_tensor *t[12] = {NULL};
    sf_status s = sf_reshape(in[8], one, 4, &t[0]);
    if (s == SF_OK) s = sf_conv2d(t[0], in[0], in[1], unit, none, unit, 1, &t[1]);
    if (s == SF_OK) s = sf_relu(t[1], &t[2]);
    if (s == SF_OK) s = sf_conv2d(t[2], in[2], in[3], unit, none, unit, 1, &t[3]);
    if (s == SF_OK) s = sf_relu(t[3], &t[4]);
    if (s == SF_OK) s = sf_reshape(t[4], pooled, 6, &t[5]);
    if (s == SF_OK) s = sf_amax(t[5], pool_dims, 2, false, &t[6]);
    if (s == SF_OK) s = sf_reshape(t[6], flat, 2, &t[7]);
    if (s == SF_OK) s = sf_linear(t[7], in[4], in[5], &t[8]);
    if (s == SF_OK) s = sf_relu(t[8], &t[9]);
    if (s == SF_OK) s = sf_linear(t[9], in[6], in[7], &t[10]);
    if (s == SF_OK) s = sf_reshape(in[9], label, 1, &t[11]);
    if (s == SF_OK) s = sf_cross_entropy(t[10], t[11], SF_REDUCTION_MEAN, &out[0]);
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) sf_tensor_release(t[i]);
    return s != SF_OK;
}

/* x -> conv2d(x, w) with w in user data: its pullback is conv2's input gradient alone. */
static int conv_of_input(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)n_in, (void)n_out;
    static const int64_t unit[] = {1, 1}, none[] = {0, 0};
    return sf_conv2d(in[0], ud, NULL, unit, none, unit, 1, &out[0]) != SF_OK;
}

/* The conv that the batching rule makes of the per-sample weight gradient of conv2: the 32 input
 * channels are the images, batch x groups the output channels, the cotangents the kernels. */
static int per_sample_weight_conv(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)ud, (void)n_in, (void)n_out;
    static const int64_t unit[] = {1, 1}, none[] = {0, 0};
    return sf_conv2d(in[0], in[1], NULL, unit, none, unit, CNN_N, &out[0]) != SF_OK;
}

static void print_timing(const char *what, const char *key, example_timing t, double gflop) {
    printf("  %-52s %8.2f ms (%.2f-%.2f)", what, 1e3 * t.median, 1e3 * t.min, 1e3 * t.max);
    if (gflop > 0) printf("  %6.1f GFLOP/s", gflop / t.median);
    printf("\nRESULT %s_ms %.4f\nRESULT %s_min_ms %.4f\nRESULT %s_max_ms %.4f\n", key, 1e3 * t.median, key,
           1e3 * t.min, key, 1e3 * t.max);
}

/* cblas_sgemm GFLOP/s on m x n x k (best and median of reps) and memory write GB/s, the floor. */
static double sgemm_gflops(int m, int n, int k, int reps, double *median_out) {
    float *a = malloc(sizeof(float) * (size_t)m * k), *b = malloc(sizeof(float) * (size_t)k * n);
    float *c = malloc(sizeof(float) * (size_t)m * n);
    unsigned state = 7;
    for (size_t i = 0; i < (size_t)m * k; i++) a[i] = (float)example_uniform(&state);
    for (size_t i = 0; i < (size_t)k * n; i++) b[i] = (float)example_uniform(&state);
    double times[64];
    for (int r = -2; r < reps; r++) {
        double t0 = example_seconds();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
        if (r >= 0) times[r] = example_seconds() - t0;
    }
    qsort(times, (size_t)reps, sizeof *times, example_compare_doubles);
    free(a), free(b), free(c);
    double flops = 2.0 * m * n * (double)k;
    *median_out = flops / times[reps / 2] * 1e-9;
    return flops / times[0] * 1e-9;
}

static double write_bandwidth(size_t bytes, int reps) {
    char *buffer = malloc(bytes);
    memset(buffer, 1, bytes); /* fault it in first */
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = example_seconds();
        memset(buffer, r, bytes);
        double t = example_seconds() - t0;
        if (t < best) best = t;
    }
    volatile char sink = buffer[bytes / 2];
    (void)sink;
    free(buffer);
    return (double)bytes / best * 1e-9;
}

static void bench_cnn(unsigned *rng) {
    printf("per-sample grads, MNIST CNN (conv 1-32-64 3x3, max-pool, fc 9216-128-10), batch %d, float32:\n", CNN_N);
    const int64_t w1s[] = {32, 1, 3, 3}, b1s[] = {32}, w2s[] = {64, 32, 3, 3}, b2s[] = {64};
    const int64_t w3s[] = {128, 9216}, b3s[] = {128}, w4s[] = {10, 128}, b4s[] = {10};
    const int64_t xs[] = {CNN_N, 1, 28, 28}, ys[] = {CNN_N};
    sf_tensor *p[8] = {example_random(w1s, 4, 0.3, rng), example_random(b1s, 1, 0.1, rng),
                       example_random(w2s, 4, 0.06, rng), example_random(b2s, 1, 0.1, rng),
                       example_random(w3s, 2, 0.01, rng), example_random(b3s, 1, 0.1, rng),
                       example_random(w4s, 2, 0.1, rng), example_random(b4s, 1, 0.1, rng)};
    sf_tensor *x = example_random(xs, 4, 1.0, rng), *y = NULL;
    int64_t labels[CNN_N];
    for (int i = 0; i < CNN_N; i++) labels[i] = i % 10;
    SF_CHECK(sf_tensor_from_data(labels, SF_INT64, ys, 1, &y));
    sf_function *loss = NULL, *grad = NULL, *per_sample = NULL;
    SF_CHECK(sf_function_new(cnn_loss, NULL, NULL, 10, 1, &loss));
    const int32_t params[] = {0, 1, 2, 3, 4, 5, 6, 7};
    SF_CHECK(sf_grad(loss, params, 8, false, &grad));
    int64_t in_dims[10];
    for (int i = 0; i < 8; i++) in_dims[i] = SF_NOT_MAPPED;
    in_dims[8] = in_dims[9] = 0;
    SF_CHECK(sf_vmap(grad, in_dims, 10, NULL, 0, 0, SF_RANDOMNESS_ERROR, &per_sample));
    sf_tensor *cnn_in[10] = {p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], x, y};
    example_timing t_cnn = example_time_calls(per_sample, cnn_in, 10, 8, 10);

    /* conv2 alone: forward, input gradient (the pullback of x -> conv2d(x, w2)), and the
     * per-sample weight gradient's conv ([32, 64, 26, 26] view of the batch against [4096, 1, 24, 24]
     * cotangents, groups 64). */
    const int64_t x2s[] = {CNN_N, 32, 26, 26}, cts[] = {CNN_N, 64, 24, 24}, kernels[] = {CNN_N * 64, 1, 24, 24};
    const int64_t channels_first[] = {1, 0, 2, 3};
    sf_tensor *x2 = example_random(x2s, 4, 1.0, rng), *ct = example_random(cts, 4, 1.0, rng), *images = NULL;
    sf_tensor *ct_kernels = example_random(kernels, 4, 1.0, rng);
    SF_CHECK(sf_permute(x2, channels_first, 4, &images));
    sf_function *fwd = NULL, *pullback = NULL, *wconv = NULL;
    SF_CHECK(sf_function_new(conv_of_input, p[2], NULL, 1, 1, &fwd));
    sf_tensor *y2 = NULL;
    SF_CHECK(sf_vjp(fwd, &x2, 1, &y2, 1, &pullback));
    SF_CHECK(sf_function_new(per_sample_weight_conv, NULL, NULL, 2, 1, &wconv));
    sf_tensor *w_in[2] = {images, ct_kernels};
    example_timing t_fwd = example_time_calls(fwd, &x2, 1, 1, 15), t_in = example_time_calls(pullback, &ct, 1, 1, 15);
    example_timing t_w = example_time_calls(wconv, w_in, 2, 1, 15);

    /* The floor: GFLOP of the whole computation at the machine's sgemm rate, plus one write of the
     * per-sample fc1 weight gradients. */
    /* conv2's input and weight gradients have its forward's multiply-adds (each output element
     * times each tap once); conv1's input gradient is not needed. */
    double conv1 = 2.0 * CNN_N * 32 * 26 * 26 * 9, conv2 = 2.0 * CNN_N * 64 * 24 * 24 * 288;
    double fc1 = 2.0 * CNN_N * 9216 * 128;
    double gflop = (2 * conv1 + 3 * conv2 + 2 * fc1) * 1e-9;
    double gemm_median = 0, gemm_best = sgemm_gflops(512, 512, 512, 30, &gemm_median);
    double conv_gemm_median = 0, conv_gemm_best = sgemm_gflops(64, 24 * 24 * 8, 288, 30, &conv_gemm_median);
    double bandwidth = write_bandwidth((size_t)256 << 20, 5);
    double fc1_grad_bytes = 4.0 * CNN_N * 9216 * 128;
    double floor_s = gflop / gemm_best + fc1_grad_bytes / (bandwidth * 1e9);
    printf("  machine: cblas_sgemm 512^3 %.1f GFLOP/s (median %.1f), 64x4608x288 %.1f (median %.1f); "
           "memset %.1f GB/s\n", gemm_best, gemm_median, conv_gemm_best, conv_gemm_median, bandwidth);
    printf("  floor: %.2f GFLOP at %.0f GFLOP/s + %.0f MB written = %.1f ms\n", gflop, gemm_best,
           fc1_grad_bytes * 1e-6, 1e3 * floor_s);
    print_timing("vmap(grad) of the CNN loss", "cnn_per_sample_grad", t_cnn, gflop);
    printf("  (%.1fx the floor)\n", t_cnn.median / floor_s);
    char summary[256];
    double j_cnn = time_jit(per_sample, cnn_in, 10, 8, 10, summary, sizeof summary);
    print_jit("vmap(grad) of the CNN loss", "cnn_per_sample_grad", t_cnn.median, j_cnn, summary);
    print_timing("conv2 forward [64,32,26,26] * [64,32,3,3]", "cnn_conv2_forward", t_fwd, conv2 * 1e-9);
    print_timing("conv2 input gradient (pullback)", "cnn_conv2_input_grad", t_in, conv2 * 1e-9);
    print_timing("conv2 per-sample weight gradient (groups 64)", "cnn_conv2_weight_grad", t_w, conv2 * 1e-9);
    printf("RESULT sgemm_512_gflops %.2f\nRESULT write_gbs %.2f\nRESULT cnn_floor_ms %.3f\n", gemm_best, bandwidth,
           1e3 * floor_s);

    for (int i = 0; i < 8; i++) sf_tensor_release(p[i]);
    sf_tensor *all[] = {x, y, x2, ct, images, ct_kernels, y2};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) sf_tensor_release(all[i]);
    sf_function *fns[] = {loss, grad, per_sample, fwd, pullback, wconv};
    for (size_t i = 0; i < sizeof fns / sizeof *fns; i++) sf_function_release(fns[i]);
}

/* `bench_transforms cnn` runs workload 5 alone. */
int main(int argc, char **argv) {
    unsigned rng = 1;
    printf("swiftfunc %s transform benchmarks (median of repeated runs)\n", sf_version());
    if (argc > 1 && strcmp(argv[1], "cnn") == 0) {
        bench_cnn(&rng);
        return 0;
    }

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
    char summary[256];
    double j_vmap = time_jit(per_sample, mlp_in, 6, 4, 20, summary, sizeof summary);
    print_jit("vmap(grad) of the MLP", "per_sample_grad_vmap", t_vmap, j_vmap, summary);

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
    double j_jr = time_jit(jr, jac_in, 2, 1, 30, summary, sizeof summary);
    print_jit("jacrev", "jacrev", t_jr, j_jr, summary);
    double j_jf = time_jit(jf, jac_in, 2, 1, 30, summary, sizeof summary);
    print_jit("jacfwd", "jacfwd", t_jf, j_jf, summary);

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
    double j_h = time_jit(h, hess_in, 2, 1, 30, summary, sizeof summary);
    print_jit("hessian", "hessian", t_h, j_h, summary);

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
    double j_c = time_jit(dc, &v16, 1, 1, 50, summary, sizeof summary);
    print_jit("grad of the chain", "chain_grad", t_c, j_c, summary);
    printf("  jit replay cost per traced equation of the chain: %.3f us\n", 1e6 * j_c / atoi(summary));

    /* 5. */
    bench_cnn(&rng);

    sf_tensor *all[] = {w1, b1, w2, b2, x, y, A, v, A32, v32, v16, scale};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) sf_tensor_release(all[i]);
    sf_function *fns[] = {loss, grad, per_sample, loop, g, jr, jf, e, h, c, dc};
    for (size_t i = 0; i < sizeof fns / sizeof *fns; i++) sf_function_release(fns[i]);
    return 0;
}
