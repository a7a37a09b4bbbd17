/* fuzz_transforms.c — libFuzzer harness: nested transform programs decoded from the input.
 *
 * The input decodes, in order: a host function (sf_function_new, sf_function_new_at_return or a
 * custom function with host-kernel or op-written rules) whose callback runs a small op program
 * (the ideas of Tests/c/test_random_inputs.c's programs: elementwise ops, reductions, matmul,
 * reshapes, random draws, reading values, a nested transform, an escaping traced value, a DLPack
 * export, jit inside), then a stack of up to four transforms (grad, grad_and_value, jacrev with a
 * chunk size, jacfwd, hessian, vmap with in/out dims, chunk size and randomness, jit) with decoded
 * argnums/dims, then how it is called (sf_call, sf_vjp + pullback, sf_jvp, sf_linearize + the
 * linear map) on inputs of a decoded shape family. The callback misbehaves where the input says:
 * it fails on its k-th call (with a message, an empty one or none, after storing outputs or not),
 * leaves an output NULL, returns an integer or wrongly shaped output, returns a traced value kept
 * from an earlier (finished) transform, or a custom rule answers wrongly.
 *
 * Checked: the status contract on every call (fuzz_common.h), every free_user_data runs exactly
 * once by the end of the input, and ASan/LSan/UBSan. Every input starts from a fixed seed and no
 * leftover state (the escaped value and the counters are reset). */
#include "fuzz_common.h"
#include "../c/arena.h"

#define MAX_OPS 6
#define MAX_ARITY 4

typedef struct program {
    int n_ops;
    uint8_t op[MAX_OPS];
    int64_t arg[MAX_OPS];
    bool ignore_failure;
    uint8_t out_mode[MAX_ARITY * 2];
    int fail_at;      /* the call (1-based) on which the callback fails; 0: never */
    uint8_t fail_how; /* 0 message, 1 empty message, 2 NULL message, 3 after storing its outputs */
    uint8_t rule_mode[4]; /* custom rules: 0 good, 1 NULL, 2 wrong shape, 3 int dtype, 4 fail */
    size_t n, m, r;   /* custom function: inputs, outputs, residuals */
    int calls;
} program;

static int programs_made, programs_freed;
static sf_tensor *escaped;   /* a value kept from inside a callback, used in later calls */
static sf_function *nested;  /* grad(sum(sin(x))), called inside callbacks */

static void free_program(void *p) {
    programs_freed++;
    free(p);
}

static program *read_program(fz_reader *r) {
    program *p = calloc(1, sizeof *p);
    programs_made++;
    p->n_ops = fz_u8(r) % (MAX_OPS + 1);
    for (int i = 0; i < p->n_ops; i++) {
        p->op[i] = fz_u8(r);
        p->arg[i] = fz_int(r);
    }
    uint8_t b = fz_u8(r);
    p->ignore_failure = b & 1;
    for (int i = 0; i < MAX_ARITY * 2; i++) p->out_mode[i] = (b & 2) ? fz_u8(r) : 0;
    b = fz_u8(r);
    p->fail_at = b < 200 ? 0 : b % 4;
    p->fail_how = fz_u8(r) % 4;
    b = fz_u8(r);
    for (int i = 0; i < 4; i++) p->rule_mode[i] = b < 180 ? 0 : fz_u8(r) % 5;
    return p;
}

/* A float64 tensor shaped like `like` (through ops, so it works on traced values). */
static sf_tensor *scaled(arena *a, sf_tensor *like, double factor) {
    sf_tensor *h = NULL;
    if (a->failed) return NULL;
    sf_tensor *half = keep(a, sf_scalar(factor, &h), &h);
    return op2(a, sf_mul, like, half);
}

/* One step of a program on `cur`; the result is kept in the arena (NULL after a failure). */
static sf_tensor *step(arena *a, const program *p, int i, sf_tensor *cur, sf_tensor *const *in, size_t n_in) {
    sf_tensor *res = NULL, *t = NULL;
    int64_t k = p->arg[i];
    sf_tensor *other = n_in ? in[(size_t)(k < 0 ? -(k + 1) : k) % n_in] : cur;
    int64_t dims[1] = {k};
    switch (p->op[i] % 26) {
    case 0: return op1(a, sf_sin, cur);
    case 1: return op1(a, sf_tanh, cur);
    case 2: return op2(a, sf_mul, cur, cur);
    case 3: return op2(a, sf_add, cur, other);
    case 4: return sum_all(a, cur);
    case 5: return keep(a, sf_sum(cur, dims, 1, k & 1, &res), &res);
    case 6: {
        sf_tensor *tr = keep(a, a->failed ? SF_OK : sf_transpose(cur, -1, -2, &t), &t);
        return op2(a, sf_matmul, cur, tr);
    }
    case 7: { int64_t s[1] = {-1}; return keep(a, sf_reshape(cur, s, 1, &res), &res); }
    case 8: return keep(a, sf_cast(cur, k & 1 ? SF_FLOAT64 : SF_FLOAT32, &res), &res);
    case 9: return op1(a, sf_relu, cur);
    case 10: return keep(a, sf_softmax(cur, k, &res), &res);
    case 11: return keep(a, sf_slice(cur, k, 0, 2, 1, &res), &res);
    case 12: return keep(a, sf_unsqueeze(cur, k, &res), &res);
    case 13: return keep(a, sf_detach(cur, &res), &res);
    case 14: { /* a random draw shaped like cur: needs randomness under vmap */
        int64_t shape[SF_MAX_NDIM];
        size_t nd = fz_shape_of(cur, shape);
        sf_tensor *noise = keep(a, sf_randn(shape, nd, SF_FLOAT64, &t), &t);
        return op2(a, sf_add, cur, noise);
    }
    case 15: { /* data-dependent control flow: reading a traced value fails, the program goes on */
        int64_t numel = 0;
        sf_dtype dt = SF_FLOAT64;
        if (sf_tensor_numel(cur, &numel) == SF_OK && sf_tensor_dtype(cur, &dt) == SF_OK && numel <= FZ_MAX_READ &&
            (unsigned)dt < 5) {
            void *buffer = malloc((size_t)numel * 8 + 8);
            sf_status s = sf_tensor_copy_to(cur, numel ? buffer : NULL, (size_t)numel * FZ_ITEM[dt]);
            if (s != SF_OK) fz_check_failure(s, "tensor_copy_to");
            free(buffer);
        }
        return cur;
    }
    case 16: { /* a nested transform */
        sf_tensor *args[1] = {cur};
        sf_status s = sf_call(nested, args, 1, &res, 1);
        return keep(a, s, &res);
    }
    case 17: return op2(a, sf_mul, cur, other);
    case 18: /* escape: keep cur for later calls, or use the kept one */
        if (escaped && (k & 1)) return op2(a, sf_add, cur, escaped);
        sf_tensor_release(escaped);
        sf_tensor_retain(cur);
        escaped = cur;
        return cur;
    case 19: {
        sf_tensor *zero = keep(a, a->failed ? SF_OK : sf_scalar(0, &t), &t);
        sf_tensor *pos = op2(a, sf_gt, cur, zero);
        sf_tensor *neg = op1(a, sf_neg, cur);
        if (a->failed) return NULL;
        return keep(a, sf_where(pos, cur, neg, &res), &res);
    }
    case 20: return op1(a, sf_exp, cur);
    case 21: {
        sf_tensor *list[2] = {cur, other};
        return keep(a, (k & 1 ? sf_stack : sf_cat)(list, 2, k / 2, &res), &res);
    }
    case 22: return keep(a, sf_logsumexp(cur, dims, 1, false, &res), &res);
    case 23: return keep(a, sf_var(cur, NULL, 0, k, false, &res), &res);
    case 24: { /* a DLPack export: refused for traced values, else deleted at once */
        DLManagedTensor *m = FZ_GARBAGE;
        sf_status s = sf_to_dlpack(cur, &m);
        if (s == SF_OK) {
            m->deleter(m);
        } else {
            fz_check_failure(s, "to_dlpack");
            FZ_REQUIRE(m == NULL, "to_dlpack failed but left *out set");
        }
        return cur;
    }
    default: return keep(a, sf_mean(cur, dims, 1, true, &res), &res);
    }
}

/* Runs the program; fills n_out outputs as out_mode says. Returns the callback's status. */
static int run_program(program *p, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    arena a = {0};
    p->calls++;
    sf_tensor *cur = n_in && in ? in[0] : NULL;
    sf_tensor *one = NULL;
    if (!cur) cur = keep(&a, sf_scalar(1.5, &one), &one);
    for (int i = 0; i < p->n_ops && cur; i++) {
        sf_tensor *next = step(&a, p, i, cur, in, n_in);
        if (!next && p->ignore_failure) {
            a.failed = 0;
            continue;
        }
        cur = next;
    }
    for (size_t k = 0; k < n_out && !a.failed; k++) {
        sf_tensor *o = NULL;
        switch (p->out_mode[k % (MAX_ARITY * 2)] % 12) {
        case 1: o = cur; break;
        case 2: o = n_in ? in[k % n_in] : cur; break;
        case 3: out[k] = NULL; continue; /* misbehaving: an output left NULL, status 0 */
        case 4: o = keep(&a, sf_cast(cur, SF_INT64, &o), &o); break;
        case 5: { int64_t s[2] = {2, 3}; o = keep(&a, sf_ones(s, 2, SF_FLOAT64, &o), &o); break; }
        case 6: o = keep(&a, sf_mean(cur, NULL, 0, true, &o), &o); break;
        case 7: o = escaped ? escaped : cur; break; /* possibly a traced value of a finished transform */
        default: o = sum_all(&a, cur); break;
        }
        put(&a, out, k, o);
    }
    int status = finish(&a);
    if (p->fail_at == p->calls) {
        switch (p->fail_how) {
        case 0: sf_set_error("the program fails on purpose"); return 2;
        case 1: sf_set_error(""); return 1;
        case 2: sf_set_error(NULL); return -1;
        default: return 7; /* outputs stored: the library releases them */
        }
    }
    if (status) /* the library releases what was stored before the failure */
        return status;
    return 0;
}

static int program_callback(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    return run_program(ud, in, n_in, out, n_out);
}

static int list_callback(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor_list *outputs) {
    program *p = ud;
    sf_tensor *out[MAX_ARITY] = {0};
    size_t n_out = 1 + (size_t)(p->arg[0] & 1);
    int status = run_program(p, in, n_in, out, n_out);
    for (size_t k = 0; k < n_out; k++) {
        if (out[k] && status == 0) {
            sf_status s = sf_tensor_list_append(outputs, out[k]);
            if (s != SF_OK) {
                fz_check_failure(s, "tensor_list_append");
                status = 1;
            }
        }
        sf_tensor_release(out[k]);
    }
    return status;
}

/* ---- custom-function rules: good or decoded-wrong answers ---- */

static sf_tensor *answer(arena *a, sf_tensor *like, uint8_t mode) {
    sf_tensor *o = NULL;
    switch (mode) {
    case 1: return NULL;
    case 2: return sum_all(a, like);
    case 3: return keep(a, sf_cast(like, SF_INT32, &o), &o);
    default: return scaled(a, like, 0.5);
    }
}

static int custom_forward(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    return run_program(ud, in, n_in, out, n_out);
}

/* vjp: inputs[n], outputs[m], residuals[r], cotangents[m] -> input cotangents[n] */
static int custom_vjp(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    program *p = ud;
    if (p->rule_mode[0] == 4) return 1;
    arena a = {0};
    for (size_t k = 0; k < n_out && k < n_in; k++) put(&a, out, k, answer(&a, in[k], p->rule_mode[0]));
    return finish(&a);
}

/* jvp: inputs[n], outputs[m], tangents[n] -> output tangents[m] */
static int custom_jvp(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    program *p = ud;
    if (p->rule_mode[1] == 4) return 3;
    arena a = {0};
    for (size_t k = 0; k < n_out && p->n + k < n_in; k++) put(&a, out, k, answer(&a, in[p->n + k], p->rule_mode[1]));
    return finish(&a);
}

static int custom_batch(void *ud, sf_tensor *const *in, const int64_t *in_dims, size_t n_in, int64_t batch_size,
                        sf_tensor **out, int64_t *out_dims, size_t n_out) {
    program *p = ud;
    (void)batch_size;
    if (p->rule_mode[2] == 4 || n_in == 0) return 1;
    size_t mapped = 0;
    for (size_t k = 0; k < n_in; k++)
        if (in_dims[k] != SF_NOT_MAPPED) { mapped = k; break; }
    arena a = {0};
    for (size_t k = 0; k < n_out; k++) {
        put(&a, out, k, answer(&a, in[mapped], p->rule_mode[2]));
        out_dims[k] = p->rule_mode[3] == 4 ? FZ_WEIRD[k % FZ_COUNT(FZ_WEIRD)] : in_dims[mapped];
    }
    return finish(&a);
}

/* ---- functions and transforms ---- */

static sf_function *read_function(fz_reader *r, size_t *n_in, size_t *n_out) {
    sf_function *f = FZ_GARBAGE;
    uint8_t kind = fz_u8(r) % 8;
    uint8_t b = fz_u8(r);
    *n_in = b < 250 ? b % MAX_ARITY : (b & 1 ? SIZE_MAX : (size_t)1 << 40);
    b = fz_u8(r);
    *n_out = b < 250 ? 1 + b % (MAX_ARITY - 1) : (b & 1 ? 0 : SIZE_MAX);
    program *p = read_program(r);
    sf_status s;
    const char *op;
    if (kind == 0) { /* a custom function */
        sf_custom_function_desc desc = SF_CUSTOM_FUNCTION_DESC_INIT;
        p->n = *n_in;
        p->m = *n_out;
        p->r = fz_u8(r) % 3;
        desc.flags = fz_u8(r) % 2;
        desc.name = "fuzzed";
        desc.n_inputs = p->n;
        desc.n_outputs = p->m;
        desc.n_residuals = p->r;
        desc.forward = custom_forward;
        b = fz_u8(r);
        desc.vjp = b & 1 ? custom_vjp : NULL;
        desc.jvp = b & 2 ? custom_jvp : NULL;
        desc.batch = b & 4 ? custom_batch : NULL;
        desc.user_data = p;
        desc.free_user_data = free_program;
        op = "custom_function_new";
        s = sf_custom_function_new(&desc, &f);
    } else if (kind == 1) {
        op = "function_new_at_return";
        s = sf_function_new_at_return(list_callback, p, free_program, *n_in, &f);
    } else {
        op = "function_new";
        s = sf_function_new(program_callback, p, free_program, *n_in, *n_out, &f);
    }
    if (s != SF_OK) {
        fz_check_failure(s, op);
        FZ_REQUIRE(f == NULL, "%s failed but left *out set", op);
        return NULL; /* free_user_data has run (documented for failures) */
    }
    if (sf_function_arity(f, n_in, n_out) != SF_OK) *n_out = 0;
    return f;
}

static const int32_t *read_argnums(fz_reader *r, int32_t *v, size_t *n, size_t n_in) {
    uint8_t b = fz_u8(r);
    *n = b % 4;
    for (size_t i = 0; i < *n; i++) {
        uint8_t c = fz_u8(r);
        v[i] = c < 240 ? (int32_t)(n_in ? c % (n_in + 1) : c % 2) : (int32_t)FZ_WEIRD[c % FZ_COUNT(FZ_WEIRD)];
    }
    return b >= 200 ? NULL : v;
}

static sf_randomness read_randomness(fz_reader *r) {
    uint8_t b = fz_u8(r);
    return (sf_randomness)(b >= 250 ? (int)FZ_WEIRD[b % FZ_COUNT(FZ_WEIRD)] : b % 3);
}

/* Wraps f in the next transform (consuming f); NULL on failure. */
static sf_function *read_transform(fz_reader *r, sf_function *f, size_t *n_in, size_t *n_out, int *jacobians) {
    sf_function *g = FZ_GARBAGE;
    int32_t argnums[8];
    size_t na;
    sf_status s;
    const char *op;
    int kind = fz_u8(r) % 8;
    /* Each Jacobian multiplies the output size: more than two nested ones is legitimately slow. */
    if ((kind == 2 || kind == 3 || kind == 4) && *jacobians >= 2) kind = 5;
    *jacobians += kind == 4 ? 2 : kind == 2 || kind == 3 ? 1 : 0;
    switch (kind) {
    case 0:
    case 1: {
        const int32_t *a = read_argnums(r, argnums, &na, *n_in);
        bool aux = fz_u8(r) >= 200;
        op = kind ? "grad_and_value" : "grad";
        s = (kind ? sf_grad_and_value : sf_grad)(f, a, na, aux, &g);
        break;
    }
    case 2: {
        const int32_t *a = read_argnums(r, argnums, &na, *n_in);
        bool aux = fz_u8(r) >= 200;
        op = "jacrev";
        s = sf_jacrev(f, a, na, aux, fz_int(r), &g);
        break;
    }
    case 3: {
        const int32_t *a = read_argnums(r, argnums, &na, *n_in);
        bool aux = fz_u8(r) >= 200;
        op = "jacfwd";
        s = sf_jacfwd(f, a, na, aux, read_randomness(r), &g);
        break;
    }
    case 4: {
        const int32_t *a = read_argnums(r, argnums, &na, *n_in);
        op = "hessian";
        s = sf_hessian(f, a, na, &g);
        break;
    }
    case 5:
    case 6: {
        int64_t in_dims[MAX_ARITY], out_dims[MAX_ARITY * 2];
        uint8_t b = fz_u8(r);
        size_t ni = b < 220 ? *n_in : b % 5, no = b < 220 ? *n_out : b % 5;
        if (ni > MAX_ARITY) ni = MAX_ARITY;
        if (no > MAX_ARITY * 2) no = MAX_ARITY * 2;
        for (size_t i = 0; i < ni; i++) {
            uint8_t c = fz_u8(r);
            in_dims[i] = c >= 230 ? SF_NOT_MAPPED : c >= 200 ? fz_int(r) : (int64_t)(c % 5) - 2;
        }
        for (size_t i = 0; i < no; i++) {
            uint8_t c = fz_u8(r);
            out_dims[i] = c >= 240 ? SF_NOT_MAPPED : c >= 220 ? fz_int(r) : (int64_t)(c % 5) - 2;
        }
        int64_t chunk = fz_int(r);
        sf_randomness rnd = read_randomness(r);
        op = "vmap";
        s = sf_vmap(f, (b & 1) ? in_dims : NULL, ni, (b & 2) ? out_dims : NULL, no, chunk, rnd, &g);
        break;
    }
    default:
        op = "jit";
        s = sf_jit(f, &g);
        break;
    }
    sf_function_release(f);
    if (s != SF_OK) {
        fz_check_failure(s, op);
        FZ_REQUIRE(g == NULL, "%s failed but left *out set", op);
        return NULL;
    }
    FZ_REQUIRE(g != NULL && g != FZ_GARBAGE, "%s succeeded without a function", op);
    FZ_REQUIRE(sf_function_arity(g, n_in, n_out) == SF_OK, "arity of a transformed function");
    return g;
}

/* Checks n results of a call (valid on success, NULL on failure) and releases them. */
static void check_outputs(sf_status s, sf_tensor **outs, size_t n, const char *op) {
    if (s != SF_OK) fz_check_failure(s, op);
    for (size_t i = 0; i < n; i++) {
        if (s == SF_OK) fz_check_tensor(outs[i], op);
        else FZ_REQUIRE(outs[i] == NULL, "%s failed but left output %zu set", op, i);
        sf_tensor_release(outs[i]);
        outs[i] = NULL;
    }
}

/* Inputs: one shape family (so vmap sizes agree), sometimes another shape or dtype per input. */
static void read_inputs(fz_reader *r, sf_tensor **in, size_t n) {
    int64_t shape[SF_MAX_NDIM];
    size_t nd = fz_u8(r) % 4;
    for (size_t i = 0; i < nd; i++) shape[i] = fz_u8(r) % 4;
    uint8_t b = fz_u8(r);
    int dtype = b < 200 ? SF_FLOAT64 : b % 5;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = fz_u8(r);
        int64_t own[SF_MAX_NDIM];
        memcpy(own, shape, sizeof own);
        if (c >= 230 && nd > 0) own[c % nd] = (c & 1) + 1;
        in[i] = fz_from_data(r, c >= 250 ? c % 5 : dtype, own, nd);
    }
}

static void call_it(fz_reader *r, sf_function *f, size_t n_in, size_t n_out) {
    size_t ai = n_in > MAX_ARITY * 2 ? MAX_ARITY * 2 : n_in, ao = n_out > MAX_ARITY * 2 ? MAX_ARITY * 2 : n_out;
    sf_tensor *in[MAX_ARITY * 2] = {0}, *outs[MAX_ARITY * 2], *more[MAX_ARITY * 2];
    uint8_t mode = fz_u8(r);
    if (mode >= 240) ai = mode % 3; /* a call with the wrong arity */
    read_inputs(r, in, ai);
    for (size_t i = 0; i < MAX_ARITY * 2; i++) outs[i] = more[i] = FZ_GARBAGE;
    switch (mode % 4) {
    case 0: check_outputs(sf_call(f, in, ai, outs, ao), outs, ao, "call"); break;
    case 1: {
        sf_function *pull = FZ_GARBAGE;
        sf_status s = sf_vjp(f, in, ai, outs, ao, &pull);
        if (s != SF_OK) FZ_REQUIRE(pull == NULL, "vjp failed but left its pullback set");
        check_outputs(s, outs, ao, "vjp");
        if (s != SF_OK) break;
        size_t pi = 0, po = 0;
        FZ_REQUIRE(sf_function_arity(pull, &pi, &po) == SF_OK, "arity of a pullback");
        pi = pi > MAX_ARITY * 2 ? MAX_ARITY * 2 : pi;
        po = po > MAX_ARITY * 2 ? MAX_ARITY * 2 : po;
        sf_tensor *cot[MAX_ARITY * 2] = {0};
        read_inputs(r, cot, pi); /* cotangents of a decoded shape: right or wrong */
        check_outputs(sf_call(pull, cot, pi, more, po), more, po, "pullback");
        for (size_t i = 0; i < pi; i++) sf_tensor_release(cot[i]);
        sf_function_release(pull);
        break;
    }
    case 2: {
        sf_tensor *tan[MAX_ARITY * 2] = {0};
        read_inputs(r, tan, ai);
        sf_status s = sf_jvp(f, in, tan, ai, outs, more, ao);
        check_outputs(s, outs, ao, "jvp");
        check_outputs(s, more, ao, "jvp");
        for (size_t i = 0; i < ai; i++) sf_tensor_release(tan[i]);
        break;
    }
    default: {
        sf_function *lin = FZ_GARBAGE;
        sf_status s = sf_linearize(f, in, ai, outs, ao, &lin);
        if (s != SF_OK) FZ_REQUIRE(lin == NULL, "linearize failed but left its function set");
        check_outputs(s, outs, ao, "linearize");
        if (s != SF_OK) break;
        sf_tensor *tan[MAX_ARITY * 2] = {0};
        read_inputs(r, tan, ai);
        check_outputs(sf_call(lin, tan, ai, more, ao), more, ao, "linearized");
        for (size_t i = 0; i < ai; i++) sf_tensor_release(tan[i]);
        sf_function_release(lin);
        break;
    }
    }
    for (size_t i = 0; i < ai; i++) sf_tensor_release(in[i]);
}

static int nested_sin_sum(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)ud, (void)n_in, (void)n_out;
    arena a = {0};
    put(&a, out, 0, sum_all(&a, op1(&a, sf_sin, in[0])));
    return finish(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_reader in = {data, size, 0};
    fz_reset_library();
    if (!nested) { /* made once, kept: a function without state */
        sf_function *base = NULL;
        FZ_REQUIRE(sf_function_new(nested_sin_sum, NULL, NULL, 1, 1, &base) == SF_OK, "function_new");
        FZ_REQUIRE(sf_grad(base, NULL, 0, false, &nested) == SF_OK, "grad");
        sf_function_release(base);
    }
    programs_made = programs_freed = 0;
    size_t n_in = 0, n_out = 0;
    sf_function *f = read_function(&in, &n_in, &n_out);
    int depth = fz_u8(&in) % 5, jacobians = 0;
    for (int d = 0; d < depth && f; d++) f = read_transform(&in, f, &n_in, &n_out, &jacobians);
    if (f) {
        int calls = 1 + fz_u8(&in) % 2; /* a second call replays jit's cache and uses escaped values */
        for (int c = 0; c < calls; c++) call_it(&in, f, n_in, n_out);
        sf_function_release(f);
    }
    sf_tensor_release(escaped);
    escaped = NULL;
    FZ_REQUIRE(programs_made == programs_freed, "%d functions made, %d user_data freed", programs_made,
               programs_freed);
    return 0;
}
