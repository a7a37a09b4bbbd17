/* test_custom.c — custom differentiable functions (sf_custom_function_new) through the C ABI.
 *
 * A hand-written C softplus kernel (read with sf_tensor_copy_to, written with sf_tensor_from_data)
 * with its derivative kernel as VJP and JVP and a batched kernel as batching rule, checked against
 * finite differences under grad, jvp, vmap (with and without the batch rule), vmap(grad) and — with
 * a second variant whose rules use sf_* ops — hessian; the clear error for differentiating a host
 * kernel again; failing callbacks (message propagated, nothing leaked: run under ASan too); bad
 * descriptions; free_user_data running exactly once. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "swiftfunc.h"
#include "tensor_check.h"

#define FD_TOL 1e-7
#define TOL 1e-12

/* The desc mirrors a Swift struct field by field: pin its layout (LP64). */
#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(sf_custom_function_desc) == 104, "sf_custom_function_desc layout");
_Static_assert(offsetof(sf_custom_function_desc, name) == 8, "name offset");
_Static_assert(offsetof(sf_custom_function_desc, forward) == 40, "forward offset");
_Static_assert(offsetof(sf_custom_function_desc, batch) == 64, "batch offset");
_Static_assert(offsetof(sf_custom_function_desc, free_user_data) == 80, "free_user_data offset");
_Static_assert(offsetof(sf_custom_function_desc, forward_list) == 88, "forward_list offset (version 2)");
_Static_assert(offsetof(sf_custom_function_desc, batch_list) == 96, "batch_list offset (version 2)");
#endif

static double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static double sigmoid(double x) { return 1 / (1 + exp(-x)); }

/* What the callbacks count and whether they fail. */
typedef struct {
    int forward_calls, vjp_calls, jvp_calls, batch_calls;
    int fail_forward, fail_vjp, fail_batch; /* fail after storing one output (leak check) */
    int freed;
} state;

static void free_state(void *ud) { ((state *)ud)->freed++; }

/* ---- host kernels --------------------------------------------------------------------------- */


static double times(double a, double b) { return a * b; }
static double tangent_times_slope(double x, double t) { return t * sigmoid(x); }

/* forward: x -> softplus(x), residual sigmoid(x). */
static int host_forward(void *ud, sf_tensor *const *in, size_t n_in UNUSED, sf_tensor **out, size_t n_out) {
    state *s = ud;
    s->forward_calls++;
    if (host_map(in[0], NULL, softplus, NULL, &out[0])) return 1;
    if (s->fail_forward) { sf_set_error("forward kernel exploded"); return 1; }
    if (n_out == 2 && host_map(in[0], NULL, sigmoid, NULL, &out[1])) return 1;
    return 0;
}

/* vjp: (x, y, s, g) -> g * s, from the residual. */
static int host_vjp(void *ud, sf_tensor *const *in, size_t n_in UNUSED, sf_tensor **out, size_t n_out UNUSED) {
    state *s = ud;
    s->vjp_calls++;
    if (s->fail_vjp) {
        host_map(in[3], NULL, sigmoid, NULL, &out[0]); /* stored, then failing: must not leak */
        sf_set_error("vjp kernel exploded");
        return 1;
    }
    return host_map(in[3], in[2], NULL, times, &out[0]);
}

/* jvp: (x, y, t) -> t * sigmoid(x). */
static int host_jvp(void *ud, sf_tensor *const *in, size_t n_in UNUSED, sf_tensor **out, size_t n_out UNUSED) {
    ((state *)ud)->jvp_calls++;
    return host_map(in[0], in[2], NULL, tangent_times_slope, &out[0]);
}

/* batch: elementwise, so the whole batch at once, batch dims unchanged. */
static int host_batch(void *ud, sf_tensor *const *in, const int64_t *in_dims, size_t n_in UNUSED, int64_t batch_size UNUSED,
                      sf_tensor **out, int64_t *out_dims, size_t n_out) {
    state *s = ud;
    s->batch_calls++;
    if (host_map(in[0], NULL, softplus, NULL, &out[0])) return 1;
    out_dims[0] = in_dims[0];
    if (s->fail_batch) { sf_set_error("batch kernel exploded"); return 1; }
    if (n_out == 2) {
        if (host_map(in[0], NULL, sigmoid, NULL, &out[1])) return 1;
        out_dims[1] = in_dims[0];
    }
    return 0;
}

/* ---- rules written with sf_* ops (transformable) ---------------------------------------------- */

/* vjp: (x, y, g) -> g * sigmoid(x), from the input so that it can be differentiated again. */
static int ops_vjp(void *ud, sf_tensor *const *in, size_t n_in UNUSED, sf_tensor **out, size_t n_out UNUSED) {
    ((state *)ud)->vjp_calls++;
    sf_tensor *slope = NULL;
    if (sf_sigmoid(in[0], &slope) != SF_OK) return 1;
    sf_status status = sf_mul(in[2], slope, &out[0]);
    sf_tensor_release(slope);
    return status == SF_OK ? 0 : 1;
}

/* jvp: (x, y, t) -> t * sigmoid(x). */
static int ops_jvp(void *ud, sf_tensor *const *in, size_t n_in UNUSED, sf_tensor **out, size_t n_out UNUSED) {
    ((state *)ud)->jvp_calls++;
    sf_tensor *slope = NULL;
    if (sf_sigmoid(in[0], &slope) != SF_OK) return 1;
    sf_status status = sf_mul(in[2], slope, &out[0]);
    sf_tensor_release(slope);
    return status == SF_OK ? 0 : 1;
}

/* ---- making functions ----------------------------------------------------------------------- */

static sf_function *host_softplus(state *s, int with_batch, int with_jvp) {
    sf_custom_function_desc desc = SF_CUSTOM_FUNCTION_DESC_INIT;
    desc.name = "softplus";
    desc.n_inputs = 1;
    desc.n_outputs = 1;
    desc.n_residuals = 1;
    desc.forward = host_forward;
    desc.vjp = host_vjp;
    desc.jvp = with_jvp ? host_jvp : NULL;
    desc.batch = with_batch ? host_batch : NULL;
    desc.user_data = s;
    desc.free_user_data = free_state;
    return custom_function(&desc);
}

/* The forward is still the C kernel (without residual); the rules use ops. */
static sf_function *ops_softplus(state *s) {
    sf_custom_function_desc desc = SF_CUSTOM_FUNCTION_DESC_INIT;
    desc.flags = SF_CUSTOM_RULES_USE_OPS;
    desc.name = "softplus_ops";
    desc.n_inputs = 1;
    desc.n_outputs = 1;
    desc.forward = host_forward;
    desc.vjp = ops_vjp;
    desc.jvp = ops_jvp;
    desc.user_data = s;
    desc.free_user_data = free_state;
    return custom_function(&desc);
}

/* loss(x) = sum(custom(x)); user_data is the custom function. */
static int loss(void *ud, sf_tensor *const *in, size_t n_in UNUSED, sf_tensor **out, size_t n_out UNUSED) {
    sf_tensor *y = NULL;
    if (sf_call(ud, in, 1, &y, 1) != SF_OK) return 1;
    sf_status status = sf_sum(y, NULL, 0, false, &out[0]);
    sf_tensor_release(y);
    return status == SF_OK ? 0 : 1;
}

static sf_function *loss_of(sf_function *custom) {
    sf_function *f = NULL;
    CHECK_OK(sf_function_new(loss, custom, NULL, 1, 1, &f));
    return f;
}

static sf_tensor *vec(const double *values, int64_t n) { return make64(values, &n, 1); }

static sf_tensor *mat(const double *values, int64_t rows, int64_t cols) {
    const int64_t shape[2] = {rows, cols};
    return make64(values, shape, 2);
}

/* Reads n float64 values (all zero on failure) and releases t. */
static void take(sf_tensor *t, double *values, size_t n) {
    memset(values, 0, sizeof(double) * n);
    if (!t) return;
    CHECK_OK(sf_tensor_copy_to(t, values, sizeof(double) * n));
    sf_tensor_release(t);
}

static const double X[4] = {-1.5, -0.2, 0.3, 2.0};
static const double H = 1e-5;

static double fd_softplus(double x) { return central_difference(softplus, x, H); }
static double fd_sigmoid(double x) { return central_difference(sigmoid, x, H); }

/* ---- tests ---------------------------------------------------------------------------------- */

static void test_call_and_grad(void) {
    state s = {0};
    sf_function *custom = host_softplus(&s, 1, 1);
    sf_tensor *x = vec(X, 4), *y = NULL;
    CHECK_OK(sf_call(custom, &x, 1, &y, 1));
    double out[4];
    take(y, out, 4);
    for (int k = 0; k < 4; k++) CHECK_NEAR(out[k], softplus(X[k]), TOL);
    size_t n_in = 0, n_out = 0;
    CHECK_OK(sf_function_arity(custom, &n_in, &n_out));
    CHECK_EQ(n_in, 1);
    CHECK_EQ(n_out, 1);

    sf_function *f = loss_of(custom), *g = NULL;
    CHECK_OK(sf_grad(f, NULL, 0, false, &g));
    sf_tensor *grad = NULL;
    s.forward_calls = 0;
    CHECK_OK(sf_call(g, &x, 1, &grad, 1));
    take(grad, out, 4);
    for (int k = 0; k < 4; k++) CHECK_NEAR(out[k], fd_softplus(X[k]), FD_TOL);
    CHECK_EQ(s.forward_calls, 1);
    CHECK_EQ(s.vjp_calls, 1);

    /* vjp with an explicit cotangent. */
    sf_tensor *outputs[1] = {NULL};
    sf_function *pullback = NULL;
    CHECK_OK(sf_vjp(custom, &x, 1, outputs, 1, &pullback));
    double cot_values[4] = {1, -2, 0.5, 3};
    sf_tensor *cot = vec(cot_values, 4), *xbar = NULL;
    CHECK_OK(sf_call(pullback, &cot, 1, &xbar, 1));
    take(xbar, out, 4);
    for (int k = 0; k < 4; k++) CHECK_NEAR(out[k], cot_values[k] * fd_softplus(X[k]), FD_TOL);
    RELEASE_TENSORS(outputs[0], cot, x);
    RELEASE_FUNCTIONS(pullback, g, f);
    CHECK_EQ(s.freed, 0);
    sf_function_release(custom);
    CHECK_EQ(s.freed, 1);
}

static void test_jvp(void) {
    state s = {0};
    sf_function *custom = host_softplus(&s, 1, 1);
    double t_values[4] = {1, -2, 0.5, 3};
    sf_tensor *x = vec(X, 4), *t = vec(t_values, 4), *y = NULL, *ty = NULL;
    CHECK_OK(sf_jvp(custom, &x, &t, 1, &y, &ty, 1));
    double out[4], tan[4];
    take(y, out, 4);
    take(ty, tan, 4);
    for (int k = 0; k < 4; k++) {
        CHECK_NEAR(out[k], softplus(X[k]), TOL);
        CHECK_NEAR(tan[k], t_values[k] * fd_softplus(X[k]), FD_TOL);
    }
    CHECK_EQ(s.jvp_calls, 1);
    sf_function_release(custom);

    /* No JVP rule: a clear error naming the function. */
    state s2 = {0};
    sf_custom_function_desc desc = SF_CUSTOM_FUNCTION_DESC_INIT;
    desc.name = "softplus_nojvp";
    desc.n_inputs = desc.n_outputs = desc.n_residuals = 1;
    desc.forward = host_forward;
    desc.vjp = host_vjp;
    desc.user_data = &s2;
    desc.free_user_data = free_state;
    sf_function *nojvp = NULL;
    CHECK_OK(sf_custom_function_new(&desc, &nojvp));
    y = ty = (sf_tensor *)1;
    CHECK_ERROR(sf_jvp(nojvp, &x, &t, 1, &y, &ty, 1), SF_ERR_UNSUPPORTED, "custom function 'softplus_nojvp' has no JVP rule");
    CHECK(y == NULL && ty == NULL);
    sf_function *jf = NULL;
    CHECK_OK(sf_jacfwd(nojvp, NULL, 0, false, SF_RANDOMNESS_ERROR, &jf));
    sf_tensor *jac = NULL;
    CHECK_ERROR_NULL(jac, sf_call(jf, &x, 1, &jac, 1), SF_ERR_UNSUPPORTED, "has no JVP rule");
    RELEASE_FUNCTIONS(jf, nojvp);
    CHECK_EQ(s2.freed, 1);
    RELEASE_TENSORS(x, t);
}

static void test_vmap(void) {
    const double B[6] = {-1, 0.5, 2, -0.25, 1.5, 3};
    for (int with_batch = 1; with_batch >= 0; with_batch--) {
        state s = {0};
        sf_function *custom = host_softplus(&s, with_batch, 1), *mapped = NULL;
        int64_t in_dims[1] = {1}, out_dims[1] = {1};
        CHECK_OK(sf_vmap(custom, in_dims, 1, out_dims, 1, 0, SF_RANDOMNESS_ERROR, &mapped));
        uint64_t before = 0, after = 0;
        CHECK_OK(sf_vmap_fallback_count(&before));
        sf_tensor *x = mat(B, 2, 3), *y = NULL;
        CHECK_OK(sf_call(mapped, &x, 1, &y, 1));
        CHECK_OK(sf_vmap_fallback_count(&after));
        double out[6];
        take(y, out, 6);
        for (int k = 0; k < 6; k++) CHECK_NEAR(out[k], softplus(B[k]), TOL);
        CHECK_EQ(after - before, with_batch ? 0 : 1);
        CHECK_EQ(s.batch_calls, with_batch ? 1 : 0);
        CHECK_EQ(s.forward_calls, with_batch ? 0 : 3); /* the loop: one forward per element */

        /* vmap(grad(loss)): per-example gradients. */
        sf_function *f = loss_of(custom), *g = NULL, *per_example = NULL;
        CHECK_OK(sf_grad(f, NULL, 0, false, &g));
        CHECK_OK(sf_vmap(g, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_ERROR, &per_example));
        sf_tensor *grads = NULL;
        CHECK_OK(sf_call(per_example, &x, 1, &grads, 1));
        take(grads, out, 6);
        for (int k = 0; k < 6; k++) CHECK_NEAR(out[k], fd_softplus(B[k]), FD_TOL);

        /* grad(vmap): the host batch rule would read grad's tracers, so the loop runs instead. */
        s.batch_calls = 0;
        sf_function *mapped_loss = loss_of(mapped), *g2 = NULL;
        CHECK_OK(sf_grad(mapped_loss, NULL, 0, false, &g2));
        CHECK_OK(sf_call(g2, &x, 1, &grads, 1));
        take(grads, out, 6);
        for (int k = 0; k < 6; k++) CHECK_NEAR(out[k], fd_softplus(B[k]), FD_TOL);
        CHECK_EQ(s.batch_calls, 0);

        RELEASE_FUNCTIONS(g2, mapped_loss, per_example, g, f, mapped);
        sf_tensor_release(x);
        sf_function_release(custom);
        CHECK_EQ(s.freed, 1);
    }
}

static void test_hessian(void) {
    /* Ops-based rules: second derivatives work. */
    state s = {0};
    sf_function *custom = ops_softplus(&s), *f = loss_of(custom), *h = NULL;
    CHECK_OK(sf_hessian(f, NULL, 0, &h));
    sf_tensor *x = vec(X, 4), *hess = NULL;
    CHECK_OK(sf_call(h, &x, 1, &hess, 1));
    double out[16];
    take(hess, out, 16);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) CHECK_NEAR(out[i * 4 + j], i == j ? fd_sigmoid(X[i]) : 0.0, FD_TOL);
    /* first order through the ops rules too */
    sf_function *g = NULL;
    CHECK_OK(sf_grad(f, NULL, 0, false, &g));
    sf_tensor *grad = NULL;
    CHECK_OK(sf_call(g, &x, 1, &grad, 1));
    take(grad, out, 4);
    for (int k = 0; k < 4; k++) CHECK_NEAR(out[k], fd_softplus(X[k]), FD_TOL);
    RELEASE_FUNCTIONS(g, h, f, custom);
    CHECK_EQ(s.freed, 1);

    /* Host-kernel rules: differentiating them again is a clear error, not a wrong answer. */
    state s2 = {0};
    custom = host_softplus(&s2, 1, 1);
    f = loss_of(custom);
    CHECK_OK(sf_hessian(f, NULL, 0, &h));
    CHECK_ERROR_NULL(hess, sf_call(h, &x, 1, &hess, 1), SF_ERR_TRANSFORM,
                     "custom function 'softplus': its VJP is a host kernel and cannot be differentiated again");
    RELEASE_FUNCTIONS(h, f, custom);
    CHECK_EQ(s2.freed, 1);
    sf_tensor_release(x);
}

static void test_callback_failures(void) {
    state s = {0};
    sf_function *custom = host_softplus(&s, 1, 1), *f = loss_of(custom), *g = NULL, *mapped = NULL;
    CHECK_OK(sf_grad(f, NULL, 0, false, &g));
    CHECK_OK(sf_vmap(custom, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_ERROR, &mapped));
    sf_tensor *x = vec(X, 4), *m = mat(X, 2, 2), *y = NULL;

    s.fail_forward = 1;
    CHECK_ERROR(sf_call(custom, &x, 1, &y, 1), SF_ERR_CALLBACK,
                "custom function 'softplus': the forward callback failed: forward kernel exploded");
    CHECK(y == NULL);
    CHECK_ERROR(sf_call(g, &x, 1, &y, 1), SF_ERR_CALLBACK, "forward kernel exploded");
    s.fail_forward = 0;

    s.fail_vjp = 1;
    CHECK_ERROR(sf_call(g, &x, 1, &y, 1), SF_ERR_CALLBACK, "the VJP callback failed: vjp kernel exploded");
    CHECK(y == NULL);
    s.fail_vjp = 0;

    s.fail_batch = 1;
    CHECK_ERROR(sf_call(mapped, &m, 1, &y, 1), SF_ERR_CALLBACK, "the batch callback failed: batch kernel exploded");
    s.fail_batch = 0;

    /* After the failures everything works again. */
    CHECK_OK(sf_call(g, &x, 1, &y, 1));
    sf_tensor_release(y);

    RELEASE_TENSORS(x, m);
    RELEASE_FUNCTIONS(mapped, g, f, custom);
    CHECK_EQ(s.freed, 1);
}

static void test_bad_descriptions(void) {
    sf_function *f = NULL;
    CHECK_ERROR_NULL(f, sf_custom_function_new(NULL, &f), SF_ERR_INVALID_ARGUMENT, "desc is NULL");

    state s = {0};
    sf_custom_function_desc desc = SF_CUSTOM_FUNCTION_DESC_INIT;
    desc.n_inputs = desc.n_outputs = 1;
    desc.forward = host_forward;
    desc.user_data = &s;
    desc.free_user_data = free_state;

    CHECK_ERROR(sf_custom_function_new(&desc, NULL), SF_ERR_INVALID_ARGUMENT, "out is NULL");
    CHECK_EQ(s.freed, 1);

    desc.version = 99;
    CHECK_ERROR_NULL(f, sf_custom_function_new(&desc, &f), SF_ERR_INVALID_ARGUMENT, "version is 99");
    CHECK_EQ(s.freed, 1); /* a desc of an unknown version is not read */
    desc.version = SF_CUSTOM_FUNCTION_DESC_VERSION;

    desc.forward = NULL;
    CHECK_ERROR(sf_custom_function_new(&desc, &f), SF_ERR_INVALID_ARGUMENT, "custom function 'custom': forward is NULL");
    CHECK_EQ(s.freed, 2);
    desc.forward = host_forward;

    desc.n_outputs = 0;
    CHECK_ERROR(sf_custom_function_new(&desc, &f), SF_ERR_INVALID_ARGUMENT, "n_outputs must be between 1 and 65536, got 0");
    CHECK_EQ(s.freed, 3);
    desc.n_outputs = 1;

    desc.flags = 6;
    CHECK_ERROR(sf_custom_function_new(&desc, &f), SF_ERR_INVALID_ARGUMENT, "unknown flags");
    CHECK_EQ(s.freed, 4);
    desc.flags = 0;

    /* Without residuals and rules the function is a plain opaque op. */
    desc.n_residuals = 0; /* host_forward then stores only softplus */
    desc.free_user_data = NULL;
    CHECK_OK(sf_custom_function_new(&desc, &f));
    sf_tensor *x = vec(X, 4), *y = NULL;
    CHECK_OK(sf_call(f, &x, 1, &y, 1));
    sf_tensor_release(y);
    /* Wrong input count. */
    CHECK_ERROR(sf_call(f, &x, 0, &y, 1), SF_ERR_INVALID_ARGUMENT, "takes 1 inputs");
    sf_tensor_release(x);
    sf_function_release(f);
}

int main(void) {
    test_call_and_grad();
    test_jvp();
    test_vmap();
    test_hessian();
    test_callback_failures();
    test_bad_descriptions();
    return check_summary();
}
