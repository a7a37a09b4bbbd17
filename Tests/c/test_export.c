/* test_export.c — function export and import (sf_function_export, sf_function_import,
 * sf_function_metadata, sf_function_save, sf_function_load, sf_bytes_free) through the C ABI.
 *
 *  1. Round trips: a plain function, grad, vmap(grad) per-sample gradients with captured weights,
 *     jacrev, jacfwd and hessian, exported and imported, give the eager results (float64, 1e-12),
 *     on the example inputs and on other inputs of the same signature.
 *  2. Imported functions are ordinary functions: grad, vmap and jit of them match the same
 *     transforms of the original; metadata comes back as stored; save/load through a file.
 *  3. Refusals: another signature is SF_ERR_SHAPE naming both types; a custom function or a
 *     random draw is SF_ERR_UNSUPPORTED; bad arguments.
 *  4. Malformed input: empty, wrong magic, every truncation, a changed format version, and a
 *     bounded randomized mutation loop over two exported files (bit flips, byte changes, truncations, with and without the
 *     checksum recomputed so the parser itself is exercised) — rejected with
 *     SF_ERR_INVALID_ARGUMENT and a message, never a crash.
 *  5. The committed file Tests/data/export_v1.sfx (a function with a captured weight matrix):
 *     its bytes are what this library exports for the same function (so a format change cannot
 *     pass silently), and it loads and gives the closed-form output.
 *
 * Runs plain and under AddressSanitizer/LeakSanitizer. */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "check.h"
#include "swiftfunc.h"
#include "tensor_check.h"

#define TOL 1e-12

#define CALLBACK(name)                                                                          \
    static int name(void *ud UNUSED, sf_tensor *const *in UNUSED, size_t n_in UNUSED,           \
                    sf_tensor **out UNUSED, size_t n_out UNUSED)

enum { M = 3, N = 4, B = 5 };
static const int64_t SHAPE_W[2] = {M, N};
static const int64_t SHAPE_X[1] = {N};
static const int64_t SHAPE_XB[2] = {B, N};
static const double W_A[M * N] = {0.3, -0.5, 0.8, 0.1, 0.6, 0.2, -0.4, 0.7, -0.9, 0.25, 0.5, -0.3};
static const double X_A[N] = {0.7, -1.2, 0.4, 1.5};
static const double W_B[M * N] = {-0.2, 0.45, 0.1, -0.6, 0.35, -0.15, 0.9, 0.05, 0.4, -0.7, 0.2, 0.3};
static const double X_B[N] = {-0.3, 0.9, 1.1, -0.8};

/* Weights captured by cb_captured (a constant of its graph). */
static sf_tensor *captured_w;

/* L(W, x) = sum(sin(W @ x) * (W @ x)) + sum(tanh(x) * x). */
CALLBACK(cb_L) {
    arena a = {0};
    sf_tensor *y = op2(&a, sf_matmul, in[0], in[1]);
    sf_tensor *first = sum_all(&a, op2(&a, sf_mul, op1(&a, sf_sin, y), y));
    sf_tensor *second = sum_all(&a, op2(&a, sf_mul, op1(&a, sf_tanh, in[1]), in[1]));
    put(&a, out, 0, op2(&a, sf_add, first, second));
    return finish(&a);
}

/* F(W, x) = sin(W @ x) [M] and exp(x) * 2 [N]: two outputs. */
CALLBACK(cb_F) {
    arena a = {0};
    put(&a, out, 0, op1(&a, sf_sin, op2(&a, sf_matmul, in[0], in[1])));
    put(&a, out, 1, op2(&a, sf_add, op1(&a, sf_exp, in[1]), op1(&a, sf_exp, in[1])));
    return finish(&a);
}

/* C(x) = sum(sin(captured_w @ x) * (captured_w @ x)) + sum(tanh(x) * x): the weights are a constant. */
CALLBACK(cb_captured) {
    arena a = {0};
    sf_tensor *y = op2(&a, sf_matmul, captured_w, in[0]);
    sf_tensor *first = sum_all(&a, op2(&a, sf_mul, op1(&a, sf_sin, y), y));
    sf_tensor *second = sum_all(&a, op2(&a, sf_mul, op1(&a, sf_tanh, in[0]), in[0]));
    put(&a, out, 0, op2(&a, sf_add, first, second));
    return finish(&a);
}

/* R(x) = x * rand_like(x): draws random numbers. */
CALLBACK(cb_random) {
    sf_tensor *r = NULL;
    if (sf_rand(SHAPE_X, 1, SF_FLOAT64, &r) != SF_OK) return 1;
    sf_status status = sf_mul(in[0], r, &out[0]);
    sf_tensor_release(r);
    return status == SF_OK ? 0 : 1;
}

/* The custom function's forward: sin(x). */
CALLBACK(cb_custom_forward) { return sf_sin(in[0], &out[0]) == SF_OK ? 0 : 1; }
CALLBACK(cb_custom_vjp) { return sf_mul(in[0], in[1], &out[0]) == SF_OK ? 0 : 1; }

static sf_function *custom_sin;

/* U(x) = sum(custom_sin(x)). */
CALLBACK(cb_uses_custom) {
    sf_tensor *y = NULL;
    if (sf_call(custom_sin, in, 1, &y, 1) != SF_OK) return 1;
    sf_status status = sf_sum(y, NULL, 0, false, &out[0]);
    sf_tensor_release(y);
    return status == SF_OK ? 0 : 1;
}

/* K(x) = cat of 70 tensors x * k (an equation with more arguments than any params array holds). */
CALLBACK(cb_cat_many) {
    enum { PIECES = 70 };
    sf_tensor *pieces[PIECES] = {0};
    int failed = 0;
    for (int k = 0; k < PIECES; k++) {
        sf_tensor *scale = NULL;
        failed |= sf_full(NULL, 0, (double)k, SF_FLOAT64, &scale) != SF_OK;
        failed |= !scale || sf_mul(in[0], scale, &pieces[k]) != SF_OK;
        sf_tensor_release(scale);
    }
    if (!failed) failed = sf_cat(pieces, PIECES, 0, &out[0]) != SF_OK;
    for (int k = 0; k < PIECES; k++) sf_tensor_release(pieces[k]);
    return failed;
}

static sf_function *function(sf_callback callback, size_t n_in, size_t n_out) {
    sf_function *f = NULL;
    CHECK_OK(sf_function_new(callback, NULL, NULL, n_in, n_out, &f));
    return f;
}

static sf_tensor *mat(const double *values) { return make64(values, SHAPE_W, 2); }
static sf_tensor *vec(const double *values) { return make64(values, SHAPE_X, 1); }

/* Exported bytes of f at `inputs` (NULL on failure, recorded). */
static void *export_bytes(sf_function *f, sf_tensor *const *inputs, size_t n, size_t *size) {
    void *bytes = NULL;
    *size = 0;
    CHECK_OK(sf_function_export(f, inputs, n, &bytes, size));
    return bytes;
}

/* f exported at `examples` and imported again (NULL on failure). */
static sf_function *round_trip(sf_function *f, sf_tensor *const *examples, size_t n) {
    size_t size = 0;
    void *bytes = export_bytes(f, examples, n, &size);
    sf_function *g = NULL;
    if (bytes) CHECK_OK(sf_function_import(bytes, size, &g));
    sf_bytes_free(bytes);
    return g;
}

/* Calls f and g on `inputs` and checks every output agrees. */
static void check_agree(sf_function *f, sf_function *g, sf_tensor *const *inputs, size_t n_in, size_t n_out,
                        const char *file, int line) {
    sf_tensor *expected[4] = {0}, *actual[4] = {0};
    sf_status s1 = sf_call(f, inputs, n_in, expected, n_out);
    if (!check_record(s1 == SF_OK, file, line, "call of the original")) fprintf(stderr, "    %s\n", sf_last_error());
    sf_status s2 = g ? sf_call(g, inputs, n_in, actual, n_out) : SF_ERR_INVALID_ARGUMENT;
    if (!check_record(s2 == SF_OK, file, line, "call of the imported")) fprintf(stderr, "    %s\n", sf_last_error());
    for (size_t k = 0; s1 == SF_OK && s2 == SF_OK && k < n_out; k++) check_same(actual[k], expected[k], TOL, file, line, "output agrees");
    release_all(expected, n_out);
    release_all(actual, n_out);
}

#define AGREE(f, g, inputs, n_in, n_out) check_agree((f), (g), (inputs), (n_in), (n_out), __FILE__, __LINE__)

/* Exports f at `a`, imports it, and checks it against f on `a` and `b`. */
static void check_round_trip(sf_function *f, sf_tensor *const *a, sf_tensor *const *b, size_t n_in, size_t n_out,
                             const char *file, int line) {
    sf_function *g = round_trip(f, a, n_in);
    check_record(g != NULL, file, line, "round trip succeeds");
    check_agree(f, g, a, n_in, n_out, file, line);
    check_agree(f, g, b, n_in, n_out, file, line);
    sf_function_release(g);
}

#define ROUND_TRIP(f, a, b, n_in, n_out) check_round_trip((f), (a), (b), (n_in), (n_out), __FILE__, __LINE__)

static void test_round_trips(void) {
    sf_tensor *a[2] = {mat(W_A), vec(X_A)}, *b[2] = {mat(W_B), vec(X_B)};
    sf_function *L = function(cb_L, 2, 1), *F = function(cb_F, 2, 2);
    ROUND_TRIP(L, a, b, 2, 1);
    ROUND_TRIP(F, a, b, 2, 2);
    sf_function *K = function(cb_cat_many, 1, 1);
    ROUND_TRIP(K, a + 1, b + 1, 1, 1);
    sf_function_release(K);

    const int32_t both[2] = {0, 1};
    sf_function *gradL = NULL, *jacrevF = NULL, *jacfwdF = NULL, *hessL = NULL;
    CHECK_OK(sf_grad(L, both, 2, false, &gradL));
    CHECK_OK(sf_jacrev(F, both, 2, false, 0, &jacrevF));
    CHECK_OK(sf_jacfwd(F, NULL, 0, false, SF_RANDOMNESS_ERROR, &jacfwdF));
    CHECK_OK(sf_hessian(L, both + 1, 1, &hessL));
    ROUND_TRIP(gradL, a, b, 2, 2);
    ROUND_TRIP(jacrevF, a, b, 2, 4);
    ROUND_TRIP(jacfwdF, a, b, 2, 2);
    ROUND_TRIP(hessL, a, b, 2, 1);

    /* vmap(grad(C)) over a batch of x with captured weights: per-sample gradients. */
    double xs[B * N], ys[B * N];
    for (int k = 0; k < B * N; k++) xs[k] = sin(0.3 + 0.7 * k), ys[k] = cos(1.1 + 0.4 * k);
    captured_w = mat(W_A);
    sf_function *C = function(cb_captured, 1, 1), *gradC = NULL, *per_sample = NULL;
    CHECK_OK(sf_grad(C, NULL, 0, false, &gradC));
    const int64_t in_dims[1] = {0}, out_dims[1] = {0};
    CHECK_OK(sf_vmap(gradC, in_dims, 1, out_dims, 1, 0, SF_RANDOMNESS_ERROR, &per_sample));
    sf_tensor *xa[1] = {make64(xs, SHAPE_XB, 2)}, *xb[1] = {make64(ys, SHAPE_XB, 2)};
    sf_function *imported = round_trip(per_sample, xa, 1);
    /* The weights live in the file: releasing the captured tensor changes nothing. */
    sf_tensor_release(captured_w);
    captured_w = mat(W_A);
    AGREE(per_sample, imported, xa, 1, 1);
    AGREE(per_sample, imported, xb, 1, 1);

    /* Transforms of an imported function match those of the original. */
    sf_function *gi = round_trip(L, a, 2), *grad_gi = NULL, *vmap_gi = NULL, *vmap_L = NULL, *jit_gi = NULL;
    CHECK_OK(sf_grad(gi, both, 2, false, &grad_gi));
    AGREE(gradL, grad_gi, a, 2, 2);
    AGREE(gradL, grad_gi, b, 2, 2);
    const int64_t vin[2] = {SF_NOT_MAPPED, 0}, vout[1] = {0};
    CHECK_OK(sf_vmap(gi, vin, 2, vout, 1, 0, SF_RANDOMNESS_ERROR, &vmap_gi));
    CHECK_OK(sf_vmap(L, vin, 2, vout, 1, 0, SF_RANDOMNESS_ERROR, &vmap_L));
    sf_tensor *vb[2] = {a[0], xa[0]};
    AGREE(vmap_L, vmap_gi, vb, 2, 1);
    CHECK_OK(sf_jit(gi, &jit_gi));
    AGREE(L, jit_gi, a, 2, 1);
    AGREE(L, jit_gi, b, 2, 1);
    sf_function *hess_imported = NULL;
    CHECK_OK(sf_hessian(gi, both + 1, 1, &hess_imported));
    AGREE(hessL, hess_imported, a, 2, 1);

    /* Metadata comes back as stored. */
    void *bytes = NULL, *meta = NULL;
    size_t size = 0, meta_size = 0;
    CHECK_OK(sf_function_export_with_metadata(L, a, 2, "tree:[*]", 8, &bytes, &size));
    CHECK_OK(sf_function_metadata(bytes, size, &meta, &meta_size));
    CHECK(meta_size == 8 && meta && memcmp(meta, "tree:[*]", 8) == 0);
    sf_bytes_free(meta);
    sf_bytes_free(bytes);

    /* Save and load through a file. */
    const char *path = "build/test_export_tmp.sfx";
    sf_function *loaded = NULL;
    CHECK_OK(sf_function_save(F, a, 2, path));
    CHECK_OK(sf_function_load(path, &loaded));
    AGREE(F, loaded, b, 2, 2);
    remove(path);
    sf_function_release(loaded);
    CHECK_ERROR_NULL(loaded, sf_function_load("build/no/such/file.sfx", &loaded), SF_ERR_INVALID_ARGUMENT,
                     "cannot open");

    /* Another signature: SF_ERR_SHAPE naming the expected and given types. */
    sf_tensor *wrong[2] = {mat(W_A), make64(X_A, (const int64_t[]){2}, 1)}, *r = NULL;
    CHECK_ERROR(sf_call(gi, wrong, 2, &r, 1), SF_ERR_SHAPE, "input 1 is float64[2], expected float64[4]");

    RELEASE_TENSORS(a[0], a[1], b[0], b[1], xa[0], xb[0], wrong[0], wrong[1], captured_w);
    sf_function *fs[] = {L, F, gradL, jacrevF, jacfwdF, hessL, C, gradC, per_sample, imported, gi, grad_gi,
                         vmap_gi, vmap_L, jit_gi, hess_imported};
    release_functions(fs, COUNT(fs));
}

static void test_refusals(void) {
    sf_tensor *x[1] = {vec(X_A)};
    void *bytes = GARBAGE;
    size_t size = 7;

    sf_custom_function_desc desc = SF_CUSTOM_FUNCTION_DESC_INIT;
    desc.name = "host_sin";
    desc.n_inputs = 1;
    desc.n_outputs = 1;
    desc.forward = cb_custom_forward;
    desc.vjp = cb_custom_vjp;
    custom_sin = custom_function(&desc);
    sf_function *U = function(cb_uses_custom, 1, 1), *R = function(cb_random, 1, 1);
    CHECK_ERROR(sf_function_export(U, x, 1, &bytes, &size), SF_ERR_UNSUPPORTED, "custom function host_sin");
    CHECK(bytes == NULL && size == 0);
    CHECK_ERROR(sf_function_export(R, x, 1, &bytes, &size), SF_ERR_UNSUPPORTED, "random");

    CHECK_ERROR(sf_function_export(NULL, x, 1, &bytes, &size), SF_ERR_INVALID_ARGUMENT, "f is NULL");
    CHECK_ERROR(sf_function_export(U, x, 2, &bytes, &size), SF_ERR_INVALID_ARGUMENT, "takes 1 inputs");
    CHECK_ERROR(sf_function_export(U, x, 1, NULL, &size), SF_ERR_INVALID_ARGUMENT, "NULL");
    sf_function *g = NULL;
    CHECK_ERROR_NULL(g, sf_function_import(NULL, 3, &g), SF_ERR_INVALID_ARGUMENT, "bytes is NULL");
    CHECK_ERROR(sf_function_import("x", 1, NULL), SF_ERR_INVALID_ARGUMENT, "out is NULL");
    CHECK_ERROR(sf_function_save(U, x, 1, NULL), SF_ERR_INVALID_ARGUMENT, "path is NULL");
    sf_bytes_free(NULL);

    sf_tensor_release(x[0]);
    sf_function *fs[] = {U, R, custom_sin};
    release_functions(fs, COUNT(fs));
}

/* FNV-1a 64 (the file's checksum), to rewrite it after a mutation. */
static uint64_t fnv1a64(const unsigned char *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

static void reseal(unsigned char *p, size_t n) {
    if (n < 8) return;
    uint64_t h = fnv1a64(p, n - 8);
    for (int k = 0; k < 8; k++) p[n - 8 + k] = (unsigned char)(h >> (8 * k));
}

/* A tiny deterministic generator for the mutation loop. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t next_random(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Imports `bytes`: must succeed or fail with SF_ERR_INVALID_ARGUMENT and a non-empty message; a
 * success must be callable on the exported signature without crashing. Returns 1 when rejected. */
static int import_untrusted(const unsigned char *bytes, size_t size, sf_tensor *const *inputs, size_t n_in, size_t n_out) {
    sf_function *g = NULL;
    sf_status status = sf_function_import(bytes, size, &g);
    if (status != SF_OK) {
        if (status != SF_ERR_INVALID_ARGUMENT || strlen(sf_last_error()) == 0) {
            check_record(0, __FILE__, __LINE__, "a malformed file gives SF_ERR_INVALID_ARGUMENT with a message");
            fprintf(stderr, "    status %d: %s\n", (int)status, sf_last_error());
        }
        return 1;
    }
    sf_tensor *outputs[4] = {0};
    if (sf_call(g, inputs, n_in, outputs, n_out) == SF_OK) release_all(outputs, n_out);
    sf_function_release(g);
    return 0;
}

/* Imports ITERATIONS random mutations of `bytes` (bit flips, byte changes, truncations), resealed
 * three times in four so that most reach the parser; returns how many resealed ones were rejected. */
static int mutation_rejections(const unsigned char *bytes, size_t size, sf_tensor *const *inputs, size_t n_in,
                               size_t n_out) {
    enum { ITERATIONS = 4000 };
    unsigned char *copy = malloc(size);
    int parsed_rejections = 0;
    for (int it = 0; it < ITERATIONS; it++) {
        size_t n = size;
        memcpy(copy, bytes, size);
        int edits = 1 + (int)(next_random() % 4);
        for (int e = 0; e < edits; e++) {
            size_t at = (size_t)(next_random() % size);
            switch (next_random() % 4) {
            case 0: copy[at] ^= (unsigned char)(1u << (next_random() % 8)); break;
            case 1: copy[at] = (unsigned char)next_random(); break;
            case 2: copy[at] = (next_random() & 1) ? 0xff : 0x00; break;
            default: n = at + 8 < size ? at + 8 : size; break;
            }
        }
        int sealed = (next_random() % 4) != 0;
        if (sealed) reseal(copy, n);
        int r = import_untrusted(copy, n, inputs, n_in, n_out);
        if (sealed) parsed_rejections += r;
    }
    free(copy);
    return parsed_rejections;
}

static void test_malformed(void) {
    sf_tensor *a[2] = {mat(W_A), vec(X_A)};
    sf_function *F = function(cb_F, 2, 2), *g = NULL;
    size_t size = 0;
    unsigned char *bytes = export_bytes(F, a, 2, &size);
    if (!bytes) return;
    unsigned char *copy = malloc(size);

    CHECK_ERROR_NULL(g, sf_function_import(bytes, 0, &g), SF_ERR_INVALID_ARGUMENT, "too few");
    memcpy(copy, bytes, size);
    copy[0] = 'X';
    CHECK_ERROR_NULL(g, sf_function_import(copy, size, &g), SF_ERR_INVALID_ARGUMENT, "does not start with SFEXPORT");
    memcpy(copy, bytes, size);
    copy[8] = 2; /* format major version 2 */
    CHECK_ERROR_NULL(g, sf_function_import(copy, size, &g), SF_ERR_INVALID_ARGUMENT, "format version 2.0");
    memcpy(copy, bytes, size);
    copy[size / 2] ^= 0x10;
    CHECK_ERROR_NULL(g, sf_function_import(copy, size, &g), SF_ERR_INVALID_ARGUMENT, "checksum");

    /* Every truncation, as is and resealed (so the parser sees the short data). */
    int rejected = 0;
    for (size_t n = 0; n < size; n++) {
        memcpy(copy, bytes, n);
        rejected += import_untrusted(copy, n, a, 2, 2);
        reseal(copy, n);
        rejected += import_untrusted(copy, n, a, 2, 2);
    }
    CHECK_EQ(rejected, 2 * (int)size);

    /* Randomized mutations of this file and of a larger one (per-sample gradients: reductions,
     * reshapes, broadcasts, a captured constant). */
    CHECK(mutation_rejections(bytes, size, a, 2, 2) > 0);
    double xs[B * N];
    for (int k = 0; k < B * N; k++) xs[k] = sin(0.3 + 0.7 * k);
    sf_tensor *xb[1] = {make64(xs, SHAPE_XB, 2)};
    captured_w = mat(W_A);
    sf_function *C = function(cb_captured, 1, 1), *gradC = NULL, *per_sample = NULL;
    CHECK_OK(sf_grad(C, NULL, 0, false, &gradC));
    const int64_t dims[1] = {0};
    CHECK_OK(sf_vmap(gradC, dims, 1, dims, 1, 0, SF_RANDOMNESS_ERROR, &per_sample));
    size_t big_size = 0;
    unsigned char *big = export_bytes(per_sample, xb, 1, &big_size);
    if (big) CHECK(mutation_rejections(big, big_size, xb, 1, 1) > 0);
    sf_bytes_free(big);
    RELEASE_TENSORS(xb[0], captured_w);
    RELEASE_FUNCTIONS(C, gradC, per_sample);

    /* The original still loads. */
    CHECK_OK(sf_function_import(bytes, size, &g));
    sf_function_release(g);

    /* Specific messages name the problem and the byte offset. */
    memcpy(copy, bytes, size);
    reseal(copy, size - 1);
    CHECK_ERROR_NULL(g, sf_function_import(copy, size - 1, &g), SF_ERR_INVALID_ARGUMENT, "byte ");

    free(copy);
    sf_bytes_free(bytes);
    RELEASE_TENSORS(a[0], a[1]);
    sf_function_release(F);
}

/* ---- the committed file --------------------------------------------------------------------- */

#define PINNED_PATH "Tests/data/export_v1.sfx"

/* Reads a whole file (NULL if absent). */
static unsigned char *read_file(const char *path, size_t *size) {
    FILE *file = fopen(path, "rb");
    if (!file) return NULL;
    unsigned char *data = malloc(1 << 20);
    *size = fread(data, 1, 1 << 20, file);
    fclose(file);
    return data;
}

static void test_pinned(void) {
    /* The pinned function: C(x) = sum(sin(W x) * (W x)) + sum(tanh(x) * x) at float64 x [4], with
     * W = W_A [3, 4] captured (a constant of the file). */
    captured_w = mat(W_A);
    sf_tensor *x[1] = {vec(X_A)};
    sf_function *C = function(cb_captured, 1, 1);
    size_t size = 0, pinned_size = 0;
    unsigned char *bytes = export_bytes(C, x, 1, &size);
    if (getenv("SWIFTFUNC_WRITE_PINNED")) {
        FILE *file = fopen(PINNED_PATH, "wb");
        if (file) fwrite(bytes, 1, size, file), fclose(file);
    }
    unsigned char *pinned = read_file(PINNED_PATH, &pinned_size);
    CHECK(pinned != NULL);
    if (pinned && bytes) {
        /* The library version string (a u32 length at byte 12, then its bytes) may differ; the
         * rest must be identical. */
        CHECK_EQ(pinned_size, size);
        CHECK(pinned_size == size && memcmp(pinned, bytes, 12) == 0);
        uint32_t version_length = (uint32_t)pinned[12] | (uint32_t)pinned[13] << 8;
        size_t body = 16 + version_length;
        CHECK(pinned_size == size && body < size && memcmp(pinned + body, bytes + body, size - body - 8) == 0);
        sf_function *g = NULL;
        CHECK_OK(sf_function_import(pinned, pinned_size, &g));
        sf_tensor *outputs[1] = {0};
        sf_tensor *other[1] = {vec(X_B)};
        CHECK_OK(sf_call(g, other, 1, outputs, 1));
        double expected = 0;
        for (int i = 0; i < M; i++) {
            double s = 0;
            for (int j = 0; j < N; j++) s += W_A[i * N + j] * X_B[j];
            expected += sin(s) * s;
        }
        for (int j = 0; j < N; j++) expected += tanh(X_B[j]) * X_B[j];
        check_tensor(outputs[0], NULL, 0, &expected, TOL, __FILE__, __LINE__, "the pinned file's output");
        release_all(outputs, 1);
        RELEASE_TENSORS(other[0]);
        sf_function_release(g);
    }
    free(pinned);
    sf_bytes_free(bytes);
    RELEASE_TENSORS(x[0], captured_w);
    sf_function_release(C);
}

int main(void) {
    test_round_trips();
    test_refusals();
    test_malformed();
    test_pinned();
    return check_summary();
}
