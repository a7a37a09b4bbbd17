/* custom_softplus.c — a host kernel made differentiable.
 *
 * `softplus_kernel` is plain C that swiftfunc cannot look inside. Registered as a custom function
 * with its derivative kernel as the VJP (and JVP) rule, it works under grad, jvp and vmap like a
 * built-in op. The program prints per-example gradients of sum(softplus(x)) computed by
 * vmap(grad(...)) and checks them against finite differences of the kernel (exit 1 on mismatch). */
#define _POSIX_C_SOURCE 199309L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "example_util.h"
#include "swiftfunc.h"

/* The host kernel and its derivative, on raw arrays. */
static void softplus_kernel(const double *x, double *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] + log1p(exp(-x[i])) : log1p(exp(x[i]));
}
static void softplus_slope(const double *x, double *dy, int64_t n) {
    for (int64_t i = 0; i < n; i++) dy[i] = 1 / (1 + exp(-x[i]));
}

/* Applies `kernel` to a float64 tensor (read with sf_tensor_copy_to) and, with `scale`, multiplies
 * the result elementwise by it. Stores a new tensor of the same shape in *out. */
static int apply(void (*kernel)(const double *, double *, int64_t), sf_tensor *x, sf_tensor *scale, sf_tensor **out) {
    int64_t shape[8], n;
    size_t ndim;
    SF_TRY(sf_tensor_ndim(x, &ndim));
    if (ndim > 8) { sf_set_error("softplus: rank > 8"); return 1; }
    SF_TRY(sf_tensor_shape(x, shape, 8));
    SF_TRY(sf_tensor_numel(x, &n));
    double *in = malloc(sizeof(double) * (size_t)(n + 1)), *res = malloc(sizeof(double) * (size_t)(n + 1));
    double *s = scale ? malloc(sizeof(double) * (size_t)(n + 1)) : NULL;
    int failed = sf_tensor_copy_to(x, in, sizeof(double) * (size_t)n) != SF_OK ||
                 (scale && sf_tensor_copy_to(scale, s, sizeof(double) * (size_t)n) != SF_OK);
    if (!failed) {
        kernel(in, res, n);
        for (int64_t i = 0; scale && i < n; i++) res[i] *= s[i];
        failed = sf_tensor_from_data(res, SF_FLOAT64, shape, ndim, out) != SF_OK;
    }
    free(in);
    free(res);
    free(s);
    return failed;
}

/* forward(x) -> softplus(x); vjp(x, y, g) -> g * slope(x); jvp(x, y, t) -> t * slope(x). */
static int forward(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)ud, (void)n_in, (void)n_out;
    return apply(softplus_kernel, in[0], NULL, &out[0]);
}
static int derivative(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)ud, (void)n_in, (void)n_out;
    return apply(softplus_slope, in[0], in[2], &out[0]);
}

/* loss(x) = sum(softplus(x)); user_data is the custom function. */
static int loss(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)n_in, (void)n_out;
    sf_tensor *y = NULL;
    SF_TRY(sf_call(ud, in, 1, &y, 1));
    sf_status status = sf_sum(y, NULL, 0, false, &out[0]);
    sf_tensor_release(y);
    return status != SF_OK;
}

int main(void) {
    sf_custom_function_desc desc = SF_CUSTOM_FUNCTION_DESC_INIT;
    desc.name = "softplus";
    desc.n_inputs = 1;
    desc.n_outputs = 1;
    desc.forward = forward;
    desc.vjp = derivative; /* host kernels (the default flags): differentiable once */
    desc.jvp = derivative;
    sf_function *softplus = NULL, *f = NULL, *g = NULL, *per_example = NULL;
    SF_CHECK(sf_custom_function_new(&desc, &softplus));
    SF_CHECK(sf_function_new(loss, softplus, NULL, 1, 1, &f));
    SF_CHECK(sf_grad(f, NULL, 0, false, &g));
    SF_CHECK(sf_vmap(g, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_ERROR, &per_example));

    enum { BATCH = 3, N = 4 };
    double x[BATCH * N], grads[BATCH * N];
    for (int i = 0; i < BATCH * N; i++) x[i] = -3 + 0.5 * i;
    int64_t shape[2] = {BATCH, N};
    sf_tensor *xt = NULL, *gt = NULL;
    SF_CHECK(sf_tensor_from_data(x, SF_FLOAT64, shape, 2, &xt));
    SF_CHECK(sf_call(per_example, &xt, 1, &gt, 1));
    SF_CHECK(sf_tensor_copy_to(gt, grads, sizeof grads));

    int bad = 0;
    const double h = 1e-6;
    for (int i = 0; i < BATCH * N; i++) {
        double plus = x[i] + h, minus = x[i] - h, yp, ym;
        softplus_kernel(&plus, &yp, 1);
        softplus_kernel(&minus, &ym, 1);
        double fd = (yp - ym) / (2 * h);
        printf("x = %5.2f  grad = %.8f  finite difference = %.8f\n", x[i], grads[i], fd);
        if (fabs(grads[i] - fd) > 1e-6) bad = 1;
    }
    sf_tensor_release(xt);
    sf_tensor_release(gt);
    sf_function_release(per_example);
    sf_function_release(g);
    sf_function_release(f);
    sf_function_release(softplus);
    if (bad) fprintf(stderr, "custom_softplus: gradient mismatch\n");
    return bad;
}
