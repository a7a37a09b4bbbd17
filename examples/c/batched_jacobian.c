/* Batched Jacobians: vmap(jacrev(g)) and vmap(jacfwd(g)) of g(x) = sin(A x) over a batch of
 * points, against the closed form J_ij = cos((A x)_i) A_ij, with and without chunking. */
#define _POSIX_C_SOURCE 199309L
#include "example_util.h"

enum { B = 5, N = 4 };

static int g(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)ud, (void)n_in, (void)n_out;
    sf_tensor *ax = NULL;
    sf_status s = sf_matmul(in[0], in[1], &ax);
    if (s == SF_OK) s = sf_sin(ax, &out[0]);
    sf_tensor_release(ax);
    return s == SF_OK ? 0 : 1;
}

int main(void) {
    unsigned rng = 11;
    double a[N * N], xs[B * N];
    const int64_t a_shape[] = {N, N}, x_shape[] = {B, N};
    sf_tensor *A = example_random64(a_shape, 2, 1.0, &rng, a), *X = example_random64(x_shape, 2, 1.0, &rng, xs);
    double expected[B * N * N];
    for (int b = 0; b < B; b++)
        for (int i = 0; i < N; i++) {
            double s = 0;
            for (int k = 0; k < N; k++) s += a[i * N + k] * xs[b * N + k];
            for (int j = 0; j < N; j++) expected[(b * N + i) * N + j] = cos(s) * a[i * N + j];
        }

    sf_function *f = NULL, *jr = NULL, *jr_chunked = NULL, *jf = NULL, *maps[3] = {NULL};
    SF_CHECK(sf_function_new(g, NULL, NULL, 2, 1, &f));
    const int32_t wrt[] = {1};
    SF_CHECK(sf_jacrev(f, wrt, 1, false, 0, &jr));
    SF_CHECK(sf_jacrev(f, wrt, 1, false, 3, &jr_chunked));
    SF_CHECK(sf_jacfwd(f, wrt, 1, false, SF_RANDOMNESS_ERROR, &jf));
    const int64_t in_dims[] = {SF_NOT_MAPPED, 0};
    sf_function *inner[3] = {jr, jr_chunked, jf};
    const char *names[3] = {"vmap(jacrev)", "vmap(jacrev, chunk_size=3)", "vmap(jacfwd)"};
    int failed = 0;
    for (int v = 0; v < 3; v++) {
        SF_CHECK(sf_vmap(inner[v], in_dims, 2, NULL, 0, 0, SF_RANDOMNESS_ERROR, &maps[v]));
        sf_tensor *inputs[2] = {A, X}, *J = NULL;
        SF_CHECK(sf_call(maps[v], inputs, 2, &J, 1));
        double *got = example_read64(J), worst = 0;
        for (int i = 0; i < B * N * N; i++) worst = fmax(worst, fabs(got[i] - expected[i]));
        printf("%-28s [%d, %d, %d] vs closed form: max error %.2g\n", names[v], B, N, N, worst);
        failed |= !(worst < 1e-12);
        free(got);
        sf_tensor_release(J);
        sf_function_release(maps[v]);
    }
    sf_tensor_release(A);
    sf_tensor_release(X);
    sf_function_release(f);
    sf_function_release(jr);
    sf_function_release(jr_chunked);
    sf_function_release(jf);
    return failed;
}
