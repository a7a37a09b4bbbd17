/* Newton's method on a small nonlinear least-squares problem: fit y = a exp(-b t) + c to data
 * made from (a, b, c) = (2, 1.3, 0.5). Each step takes the gradient (sf_grad) and the Hessian
 * (sf_hessian) of the loss ½ Σ (model - y)² and solves H δ = g with sf_linalg_solve. The data
 * have no noise, so the minimum is the true parameters and the error shrinks quadratically: the
 * number of correct digits about doubles per iteration. */
#define _POSIX_C_SOURCE 199309L
#include "example_util.h"

enum { POINTS = 12, PARAMS = 3 };

static const double TRUTH[PARAMS] = {2.0, 1.3, 0.5};

/* loss(theta, t, y) = ½ Σ (theta0 exp(-theta1 t) + theta2 - y)². */
static int loss(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)ud, (void)n_in, (void)n_out;
    sf_tensor *a = NULL, *b = NULL, *c = NULL, *bt = NULL, *negbt = NULL, *e = NULL, *ae = NULL, *model = NULL,
              *r = NULL, *r2 = NULL, *sum = NULL, *half = NULL;
    sf_status s = sf_slice(in[0], 0, 0, 1, 1, &a);
    if (s == SF_OK) s = sf_slice(in[0], 0, 1, 2, 1, &b);
    if (s == SF_OK) s = sf_slice(in[0], 0, 2, 3, 1, &c);
    if (s == SF_OK) s = sf_mul(b, in[1], &bt);
    if (s == SF_OK) s = sf_neg(bt, &negbt);
    if (s == SF_OK) s = sf_exp(negbt, &e);
    if (s == SF_OK) s = sf_mul(a, e, &ae);
    if (s == SF_OK) s = sf_add(ae, c, &model);
    if (s == SF_OK) s = sf_sub(model, in[2], &r);
    if (s == SF_OK) s = sf_mul(r, r, &r2);
    if (s == SF_OK) s = sf_sum(r2, NULL, 0, false, &sum);
    if (s == SF_OK) s = sf_scalar(0.5, &half);
    if (s == SF_OK) s = sf_mul(sum, half, &out[0]);
    sf_tensor *temps[] = {a, b, c, bt, negbt, e, ae, model, r, r2, sum, half};
    for (size_t i = 0; i < sizeof temps / sizeof temps[0]; i++) sf_tensor_release(temps[i]);
    return s == SF_OK ? 0 : 1;
}

static double distance(const double *theta) {
    double d = 0;
    for (int i = 0; i < PARAMS; i++) d += (theta[i] - TRUTH[i]) * (theta[i] - TRUTH[i]);
    return sqrt(d);
}

int main(void) {
    double tv[POINTS], yv[POINTS];
    for (int i = 0; i < POINTS; i++) {
        tv[i] = 3.0 * i / (POINTS - 1);
        yv[i] = TRUTH[0] * exp(-TRUTH[1] * tv[i]) + TRUTH[2];
    }
    const int64_t points[] = {POINTS}, params[] = {PARAMS};
    sf_tensor *t = NULL, *y = NULL, *theta = NULL;
    SF_CHECK(sf_tensor_from_data(tv, SF_FLOAT64, points, 1, &t));
    SF_CHECK(sf_tensor_from_data(yv, SF_FLOAT64, points, 1, &y));
    double theta_v[PARAMS] = {1.6, 1.0, 0.7};
    SF_CHECK(sf_tensor_from_data(theta_v, SF_FLOAT64, params, 1, &theta));

    sf_function *f = NULL, *gradient = NULL, *hessian = NULL;
    SF_CHECK(sf_function_new(loss, NULL, NULL, 3, 1, &f));
    const int32_t wrt_theta[] = {0};
    SF_CHECK(sf_grad(f, wrt_theta, 1, false, &gradient));
    SF_CHECK(sf_hessian(f, wrt_theta, 1, &hessian));

    printf("Newton's method on a %d-point exponential fit (float64)\n", POINTS);
    printf("iteration  |theta - truth|\n        0  %.3e\n", distance(theta_v));
    double previous = distance(theta_v), worst_ratio = 0;
    int iterations = 0;
    for (int k = 1; k <= 12 && previous > 1e-14; k++) {
        sf_tensor *inputs[3] = {theta, t, y}, *g = NULL, *h = NULL, *step = NULL, *next = NULL;
        SF_CHECK(sf_call(gradient, inputs, 3, &g, 1));
        SF_CHECK(sf_call(hessian, inputs, 3, &h, 1));
        SF_CHECK(sf_linalg_solve(h, g, true, &step));
        SF_CHECK(sf_sub(theta, step, &next));
        sf_tensor_release(theta);
        theta = next;
        SF_CHECK(sf_tensor_copy_to(theta, theta_v, sizeof theta_v));
        double error = distance(theta_v);
        /* Quadratic convergence: error_k / error_{k-1}² stays bounded (until rounding takes over). */
        if (previous > 1e-7) worst_ratio = fmax(worst_ratio, error / (previous * previous));
        printf("%9d  %.3e\n", k, error);
        previous = error;
        iterations = k;
        sf_tensor_release(g);
        sf_tensor_release(h);
        sf_tensor_release(step);
    }
    printf("fitted (a, b, c) = (%.15f, %.15f, %.15f) in %d iterations; max error_k / error_(k-1)^2 = %.2f\n",
           theta_v[0], theta_v[1], theta_v[2], iterations, worst_ratio);

    sf_tensor_release(t);
    sf_tensor_release(y);
    sf_tensor_release(theta);
    sf_function_release(f);
    sf_function_release(gradient);
    sf_function_release(hessian);
    if (!(previous < 1e-12) || iterations > 8 || !(worst_ratio < 10)) {
        fprintf(stderr, "newton: did not converge quadratically\n");
        return 1;
    }
    return 0;
}
