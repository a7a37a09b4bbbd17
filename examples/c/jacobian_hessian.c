/* Jacobians and Hessians (the torch.func tutorial "Jacobians, Hessians, hvp, vhp, and more"):
 * jacrev and jacfwd of a small network against its closed form, and the Hessian of
 * sum(tanh(A x)) against its closed form, its symmetry and jacrev(jacrev). */
#define _POSIX_C_SOURCE 199309L
#include "example_util.h"

enum { N = 6, M = 3 };

/* net(W1, W2, x) = W2 tanh(W1 x): R^N -> R^M. */
static int net(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)ud, (void)n_in, (void)n_out;
    sf_tensor *pre = NULL, *act = NULL;
    sf_status s = sf_matmul(in[0], in[2], &pre);
    if (s == SF_OK) s = sf_tanh(pre, &act);
    if (s == SF_OK) s = sf_matmul(in[1], act, &out[0]);
    sf_tensor_release(pre);
    sf_tensor_release(act);
    return s == SF_OK ? 0 : 1;
}

/* energy(A, x) = sum(tanh(A x)). */
static int energy(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)ud, (void)n_in, (void)n_out;
    sf_tensor *ax = NULL, *t = NULL;
    sf_status s = sf_matmul(in[0], in[1], &ax);
    if (s == SF_OK) s = sf_tanh(ax, &t);
    if (s == SF_OK) s = sf_sum(t, NULL, 0, false, &out[0]);
    sf_tensor_release(ax);
    sf_tensor_release(t);
    return s == SF_OK ? 0 : 1;
}

static double worst_against(sf_tensor *t, const double *expected, int64_t n) {
    double *got = example_read64(t), worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs(got[i] - expected[i]);
        if (d > worst || d != d) worst = d;
    }
    free(got);
    return worst;
}

int main(void) {
    unsigned rng = 7;
    double w1[N * N], w2[M * N], xv[N];
    const int64_t w1_shape[] = {N, N}, w2_shape[] = {M, N}, x_shape[] = {N};
    sf_tensor *W1 = example_random64(w1_shape, 2, 0.7, &rng, w1);
    sf_tensor *W2 = example_random64(w2_shape, 2, 0.7, &rng, w2);
    sf_tensor *x = example_random64(x_shape, 1, 1.0, &rng, xv);

    /* Closed form: J = W2 diag(1 - tanh(W1 x)^2) W1. */
    double t[N], jac[M * N];
    for (int i = 0; i < N; i++) {
        double s = 0;
        for (int k = 0; k < N; k++) s += w1[i * N + k] * xv[k];
        t[i] = tanh(s);
    }
    for (int a = 0; a < M; a++)
        for (int b = 0; b < N; b++) {
            double s = 0;
            for (int i = 0; i < N; i++) s += w2[a * N + i] * (1 - t[i] * t[i]) * w1[i * N + b];
            jac[a * N + b] = s;
        }

    sf_function *f = NULL, *jr = NULL, *jf = NULL;
    SF_CHECK(sf_function_new(net, NULL, NULL, 3, 1, &f));
    const int32_t wrt_x[] = {2};
    SF_CHECK(sf_jacrev(f, wrt_x, 1, false, 0, &jr));
    SF_CHECK(sf_jacfwd(f, wrt_x, 1, false, SF_RANDOMNESS_ERROR, &jf));
    sf_tensor *inputs[3] = {W1, W2, x}, *j_rev = NULL, *j_fwd = NULL;
    SF_CHECK(sf_call(jr, inputs, 3, &j_rev, 1));
    SF_CHECK(sf_call(jf, inputs, 3, &j_fwd, 1));
    double e_rev = worst_against(j_rev, jac, M * N), e_fwd = worst_against(j_fwd, jac, M * N);
    printf("Jacobian of W2 tanh(W1 x) (%dx%d): |jacrev - closed form| = %.2g, |jacfwd - closed form| = %.2g\n", M, N, e_rev, e_fwd);

    /* Hessian of sum(tanh(A x)): A^T diag(-2 t (1 - t^2)) A with t = tanh(A x). */
    double hess[N * N];
    for (int a = 0; a < N; a++)
        for (int b = 0; b < N; b++) {
            double s = 0;
            for (int i = 0; i < N; i++) s += w1[i * N + a] * (-2 * t[i] * (1 - t[i] * t[i])) * w1[i * N + b];
            hess[a * N + b] = s;
        }
    sf_function *g = NULL, *h = NULL, *jr1 = NULL, *jrjr = NULL;
    SF_CHECK(sf_function_new(energy, NULL, NULL, 2, 1, &g));
    const int32_t wrt_1[] = {1};
    SF_CHECK(sf_hessian(g, wrt_1, 1, &h));
    SF_CHECK(sf_jacrev(g, wrt_1, 1, false, 0, &jr1));
    SF_CHECK(sf_jacrev(jr1, wrt_1, 1, false, 0, &jrjr));
    sf_tensor *energy_inputs[2] = {W1, x}, *H = NULL, *H2 = NULL;
    SF_CHECK(sf_call(h, energy_inputs, 2, &H, 1));
    SF_CHECK(sf_call(jrjr, energy_inputs, 2, &H2, 1));
    double e_h = worst_against(H, hess, N * N);
    double *hv = example_read64(H), *h2v = example_read64(H2), asym = 0, e_h2 = 0;
    for (int a = 0; a < N; a++)
        for (int b = 0; b < N; b++) {
            asym = fmax(asym, fabs(hv[a * N + b] - hv[b * N + a]));
            e_h2 = fmax(e_h2, fabs(hv[a * N + b] - h2v[a * N + b]));
        }
    printf("Hessian of sum(tanh(A x)) (%dx%d): |hessian - closed form| = %.2g, asymmetry %.2g, |hessian - jacrev(jacrev)| = %.2g\n",
           N, N, e_h, asym, e_h2);
    free(hv);
    free(h2v);

    sf_tensor_release(H);
    sf_tensor_release(H2);
    sf_tensor_release(j_rev);
    sf_tensor_release(j_fwd);
    sf_tensor_release(W1);
    sf_tensor_release(W2);
    sf_tensor_release(x);
    sf_function_release(f);
    sf_function_release(jr);
    sf_function_release(jf);
    sf_function_release(g);
    sf_function_release(h);
    sf_function_release(jr1);
    sf_function_release(jrjr);
    if (e_rev > 1e-12 || e_fwd > 1e-12 || e_h > 1e-12 || asym > 1e-12 || e_h2 > 1e-12) {
        fprintf(stderr, "jacobian_hessian: results disagree with the closed forms\n");
        return 1;
    }
    return 0;
}
