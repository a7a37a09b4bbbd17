/* fuzz_ops.c — libFuzzer harness: sequences of ops decoded from the input.
 *
 * A tiny bytecode: each instruction is an opcode byte followed by its operands, read as it runs
 * (fuzz_common.h's reader: small values mostly, weird ones — INT64_MIN/MAX, 2^31, 2^62, negative —
 * from the top byte values). Instructions make tensors (from input data, creation ops with any
 * shape: 0 sizes, negative, overflowing, rank 17; index tensors with wild values) into 8 registers
 * and call most of the header's ops on registers with decoded dims, dtypes, shapes, slice/pad/
 * conv/pool params, reductions, einsum equations, norm orders and linalg flags. Every call is
 * checked against the status contract (fuzz_common.h); results are kept in the registers when
 * small. The library's memory limit (FZ_MEMORY_LIMIT) turns valid requests for gigabytes into
 * SF_ERR_OUT_OF_MEMORY. Every input starts from empty registers and a fixed random seed. */
#include <math.h>

#include "fuzz_common.h"

#define REGS 8
#define MAX_STEPS 48

static sf_tensor *reg[REGS];
static unsigned next_reg;

/* A register (possibly NULL: every op must refuse NULL tensors). */
static sf_tensor *arg(fz_reader *r) { return reg[fz_u8(r) % REGS]; }

/* Keeps a checked result in the next register (released when large). */
static void keep(sf_tensor *t, int64_t numel) {
    if (!t) return;
    if (numel < 0 || numel > FZ_MAX_READ) {
        sf_tensor_release(t);
        return;
    }
    unsigned slot = next_reg++ % REGS;
    sf_tensor_release(reg[slot]);
    reg[slot] = t;
}

/* Checks a one-output call and keeps its result. */
static void put(sf_status s, sf_tensor *out, const char *op) { keep(out, fz_check_result(s, out, op)); }

/* Checks a call with n outputs (all NULL on failure) and keeps them. */
static void put_n(sf_status s, sf_tensor **outs, int n, const char *op) {
    if (s == SF_OK) {
        for (int i = 0; i < n; i++) keep(outs[i], fz_check_tensor(outs[i], op));
        return;
    }
    fz_check_failure(s, op);
    for (int i = 0; i < n; i++) FZ_REQUIRE(outs[i] == NULL, "%s failed but left output %d set", op, i);
}

static size_t rank_of(sf_tensor *t) {
    size_t nd = 0;
    if (t) sf_tensor_ndim(t, &nd);
    return nd;
}

/* A dims array: 0-4 entries (sometimes 17), sometimes NULL with a count. */
static const int64_t *read_dims(fz_reader *r, int64_t *dims, size_t *n, int64_t ndim) {
    uint8_t b = fz_u8(r);
    *n = b >= 250 ? 17 : b % 5;
    for (size_t i = 0; i < *n; i++) dims[i] = fz_dim(r, ndim);
    return b == 249 && *n ? NULL : dims;
}

/* An int64 array of decoded integers (shape-like arguments), sometimes NULL with a count. */
static const int64_t *read_ints(fz_reader *r, int64_t *v, size_t *n, size_t max) {
    uint8_t b = fz_u8(r);
    *n = b >= 250 ? 17 : b % (max + 1);
    for (size_t i = 0; i < *n; i++) v[i] = fz_int(r);
    return b == 249 && *n ? NULL : v;
}

/* A shape: rank 0-4 (sometimes 17), sizes from fz_size (0, small, negative, huge). */
static size_t read_shape(fz_reader *r, int64_t *shape) {
    uint8_t b = fz_u8(r);
    size_t nd = b >= 250 ? 17 : b % 5;
    for (size_t i = 0; i < nd; i++) shape[i] = fz_size(r);
    return nd;
}

static sf_reduction read_reduction(fz_reader *r) {
    uint8_t b = fz_u8(r);
    return (sf_reduction)(b >= 250 ? (int)FZ_WEIRD[b % FZ_COUNT(FZ_WEIRD)] : b % 3);
}

/* An index tensor (int64 or int32, sometimes another dtype) with decoded values. */
static sf_tensor *read_index(fz_reader *r) {
    int64_t shape[SF_MAX_NDIM + 1];
    size_t nd = read_shape(r, shape);
    uint8_t b = fz_u8(r);
    int dtype = b < 120 ? SF_INT64 : b < 240 ? SF_INT32 : b % 5;
    return fz_from_data(r, dtype, shape, nd);
}

/* A norm order, a QR mode or junk. */
static const char *read_word(fz_reader *r, char *buffer, size_t cap) {
    static const char *words[] = {"fro", "nuc", "1", "-1", "2", "-2", "inf", "-inf", "reduced", "complete", "r", ""};
    uint8_t b = fz_u8(r);
    if (b < 200) return words[b % FZ_COUNT(words)];
    if (b < 220) return NULL;
    return fz_string(r, buffer, cap);
}

/* An einsum equation from a small alphabet (subscripts, ',', "->", "...", spaces). */
static const char *read_equation(fz_reader *r, char *buffer, size_t cap) {
    static const char alphabet[] = "abcijk,->.. ABz";
    size_t n = fz_u8(r) % cap;
    for (size_t i = 0; i < n; i++) buffer[i] = alphabet[fz_u8(r) % (sizeof alphabet - 1)];
    buffer[n] = 0;
    return buffer;
}

typedef sf_status (*unary_fn)(sf_tensor *, sf_tensor **);
typedef sf_status (*binary_fn)(sf_tensor *, sf_tensor *, sf_tensor **);
typedef sf_status (*reduce_fn)(sf_tensor *, const int64_t *, size_t, bool, sf_tensor **);
typedef sf_status (*shape_fn)(const int64_t *, size_t, sf_dtype, sf_tensor **);
typedef sf_status (*loss_fn)(sf_tensor *, sf_tensor *, sf_reduction, sf_tensor **);

static sf_status detach_fn(sf_tensor *x, sf_tensor **o) { return sf_detach(x, o); }
static sf_status bernoulli_fn(sf_tensor *x, sf_tensor **o) { return sf_bernoulli(x, o); }
static sf_status trace_fn(sf_tensor *x, sf_tensor **o) { return sf_trace(x, o); }
static sf_status inv_fn(sf_tensor *x, sf_tensor **o) { return sf_linalg_inv(x, o); }
static sf_status det_fn(sf_tensor *x, sf_tensor **o) { return sf_linalg_det(x, o); }
static sf_status logdet_fn(sf_tensor *x, sf_tensor **o) { return sf_linalg_logdet(x, o); }
static sf_status svdvals_fn(sf_tensor *x, sf_tensor **o) { return sf_linalg_svdvals(x, o); }

static const struct { const char *name; unary_fn fn; } UNARY[] = {
    {"neg", sf_neg},      {"exp", sf_exp},         {"log", sf_log},         {"log1p", sf_log1p},
    {"expm1", sf_expm1},  {"sin", sf_sin},         {"cos", sf_cos},         {"tan", sf_tan},
    {"tanh", sf_tanh},    {"sigmoid", sf_sigmoid}, {"sqrt", sf_sqrt},       {"rsqrt", sf_rsqrt},
    {"abs", sf_abs},      {"sign", sf_sign},       {"relu", sf_relu},       {"floor", sf_floor},
    {"ceil", sf_ceil},    {"round", sf_round},     {"silu", sf_silu},       {"logsigmoid", sf_logsigmoid},
    {"detach", detach_fn}, {"bernoulli", bernoulli_fn}, {"trace", trace_fn}, {"linalg_inv", inv_fn},
    {"linalg_det", det_fn}, {"linalg_logdet", logdet_fn}, {"linalg_svdvals", svdvals_fn},
};
static const struct { const char *name; binary_fn fn; } BINARY[] = {
    {"add", sf_add}, {"sub", sf_sub}, {"mul", sf_mul}, {"div", sf_div},   {"pow", sf_pow},
    {"maximum", sf_maximum}, {"minimum", sf_minimum}, {"atan2", sf_atan2}, {"lt", sf_lt}, {"le", sf_le},
    {"gt", sf_gt}, {"ge", sf_ge}, {"eq", sf_eq}, {"ne", sf_ne}, {"matmul", sf_matmul},
};
static const struct { const char *name; reduce_fn fn; } REDUCE[] = {
    {"sum", sf_sum}, {"prod", sf_prod}, {"amax", sf_amax}, {"amin", sf_amin}, {"argmax", sf_argmax},
    {"argmin", sf_argmin}, {"mean", sf_mean}, {"logsumexp", sf_logsumexp},
};
static const struct { const char *name; shape_fn fn; } CREATE[] = {
    {"zeros", sf_zeros}, {"ones", sf_ones}, {"rand", sf_rand}, {"randn", sf_randn},
};
static const struct { const char *name; loss_fn fn; } LOSS[] = {
    {"mse_loss", sf_mse_loss}, {"l1_loss", sf_l1_loss}, {"cross_entropy", sf_cross_entropy},
};

/* ---- instruction groups ---- */

static void op_make(fz_reader *r) {
    int64_t shape[SF_MAX_NDIM + 1];
    uint8_t kind = fz_u8(r) % 4;
    size_t nd = read_shape(r, shape);
    int dtype = fz_dtype(r);
    sf_tensor *t = FZ_GARBAGE;
    if (kind == 0) {
        keep(fz_from_data(r, dtype, shape, nd), 0);
    } else if (kind == 1) {
        int i = fz_u8(r) % (int)FZ_COUNT(CREATE);
        put(CREATE[i].fn(fz_u8(r) == 255 ? NULL : shape, nd, (sf_dtype)dtype, &t), t, CREATE[i].name);
    } else if (kind == 2) {
        put(sf_full(shape, nd, fz_double(r), (sf_dtype)dtype, &t), t, "full");
    } else {
        keep(read_index(r), 0);
    }
}

static void op_creation(fz_reader *r) {
    sf_tensor *t = FZ_GARBAGE;
    int dtype = fz_dtype(r);
    switch (fz_u8(r) % 4) {
    case 0: {
        double start = fz_double(r), end = fz_double(r), step = fz_double(r);
        put(sf_arange(start, end, step, (sf_dtype)dtype, &t), t, "arange");
        break;
    }
    case 1: {
        int64_t n = fz_int(r), m = fz_int(r);
        put(sf_eye(n, m, (sf_dtype)dtype, &t), t, "eye");
        break;
    }
    case 2: {
        double a = fz_double(r), b = fz_double(r);
        put(sf_linspace(a, b, fz_int(r), (sf_dtype)dtype, &t), t, "linspace");
        break;
    }
    default: put(sf_scalar(fz_double(r), &t), t, "scalar"); break;
    }
}

static void op_unary(fz_reader *r) {
    int i = fz_u8(r) % (int)FZ_COUNT(UNARY);
    sf_tensor *t = FZ_GARBAGE;
    put(UNARY[i].fn(arg(r), &t), t, UNARY[i].name);
}

static void op_param_unary(fz_reader *r) {
    sf_tensor *x = arg(r), *t = FZ_GARBAGE;
    int64_t nd = (int64_t)rank_of(x);
    switch (fz_u8(r) % 14) {
    case 0: { double b = fz_double(r); put(sf_softplus(x, b, fz_double(r), &t), t, "softplus"); break; }
    case 1: put(sf_elu(x, fz_double(r), &t), t, "elu"); break;
    case 2: put(sf_leaky_relu(x, fz_double(r), &t), t, "leaky_relu"); break;
    case 3: put(sf_gelu(x, fz_bool(r), &t), t, "gelu"); break;
    case 4: { double p = fz_double(r); put(sf_dropout(x, p, fz_bool(r), &t), t, "dropout"); break; }
    case 5: {
        double p = fz_double(r);
        int64_t d = fz_dim(r, nd);
        put(sf_normalize(x, p, d, fz_double(r), &t), t, "normalize");
        break;
    }
    case 6: put(sf_cast(x, (sf_dtype)fz_dtype(r), &t), t, "cast"); break;
    case 7: put(sf_softmax(x, fz_dim(r, nd), &t), t, "softmax"); break;
    case 8: put(sf_log_softmax(x, fz_dim(r, nd), &t), t, "log_softmax"); break;
    case 9: put(sf_cumsum(x, fz_dim(r, nd), &t), t, "cumsum"); break;
    case 10: put(sf_cumprod(x, fz_dim(r, nd), &t), t, "cumprod"); break;
    case 11: put(sf_tril(x, fz_int(r), &t), t, "tril"); break;
    case 12: put(sf_triu(x, fz_int(r), &t), t, "triu"); break;
    default: put(sf_diag(x, fz_int(r), &t), t, "diag"); break;
    }
}

static void op_binary(fz_reader *r) {
    int i = fz_u8(r) % (int)FZ_COUNT(BINARY);
    sf_tensor *a = arg(r), *b = arg(r), *t = FZ_GARBAGE;
    put(BINARY[i].fn(a, b, &t), t, BINARY[i].name);
}

static void op_loss(fz_reader *r) {
    sf_tensor *a = arg(r), *b = arg(r), *t = FZ_GARBAGE;
    sf_reduction red = read_reduction(r);
    switch (fz_u8(r) % 9) {
    case 0: case 1: case 2: {
        int i = fz_u8(r) % (int)FZ_COUNT(LOSS);
        put(LOSS[i].fn(a, b, red, &t), t, LOSS[i].name);
        break;
    }
    case 3: put(sf_smooth_l1_loss(a, b, red, fz_double(r), &t), t, "smooth_l1_loss"); break;
    case 4: put(sf_huber_loss(a, b, red, fz_double(r), &t), t, "huber_loss"); break;
    case 5: put(sf_kl_div(a, b, red, fz_bool(r), &t), t, "kl_div"); break;
    case 6: {
        sf_tensor *w = fz_bool(r) ? arg(r) : NULL;
        put(sf_binary_cross_entropy(a, b, w, red, &t), t, "binary_cross_entropy");
        break;
    }
    case 7: {
        sf_tensor *w = fz_bool(r) ? arg(r) : NULL, *pw = fz_bool(r) ? arg(r) : NULL;
        put(sf_binary_cross_entropy_with_logits(a, b, w, pw, red, &t), t, "binary_cross_entropy_with_logits");
        break;
    }
    default: {
        sf_tensor *w = fz_bool(r) ? arg(r) : NULL;
        put(sf_nll_loss(a, b, w, fz_int(r), red, &t), t, "nll_loss");
        break;
    }
    }
}

static void op_where(fz_reader *r) {
    sf_tensor *c = arg(r), *a = arg(r), *b = arg(r), *t = FZ_GARBAGE;
    put(sf_where(c, a, b, &t), t, "where");
}

static void op_reduce(fz_reader *r) {
    sf_tensor *x = arg(r), *t = FZ_GARBAGE;
    int64_t dims[20], nd = (int64_t)rank_of(x);
    size_t n;
    uint8_t which = fz_u8(r) % 12;
    const int64_t *d = read_dims(r, dims, &n, nd);
    bool keepdim = fz_bool(r);
    if (which < FZ_COUNT(REDUCE)) {
        put(REDUCE[which].fn(x, d, n, keepdim, &t), t, REDUCE[which].name);
    } else if (which < 10) {
        int64_t correction = fz_int(r);
        put((which == 8 ? sf_var : sf_std)(x, d, n, correction, keepdim, &t), t, which == 8 ? "var" : "std");
    } else if (which == 10) {
        put(sf_vector_norm(x, fz_double(r), d, n, keepdim, &t), t, "vector_norm");
    } else {
        char word[16];
        const char *ord = read_word(r, word, sizeof word);
        int64_t d0 = fz_dim(r, nd), d1 = fz_dim(r, nd);
        put(sf_matrix_norm(x, ord, d0, d1, keepdim, &t), t, "matrix_norm");
    }
}

static void op_movement(fz_reader *r) {
    sf_tensor *x = arg(r), *t = FZ_GARBAGE;
    int64_t nd = (int64_t)rank_of(x), v[20], w[20];
    size_t n, m;
    switch (fz_u8(r) % 15) {
    case 0: { const int64_t *p = read_ints(r, v, &n, 5); put(sf_reshape(x, p, n, &t), t, "reshape"); break; }
    case 1: { const int64_t *p = read_dims(r, v, &n, nd); put(sf_permute(x, p, n, &t), t, "permute"); break; }
    case 2: { int64_t a = fz_dim(r, nd); put(sf_transpose(x, a, fz_dim(r, nd), &t), t, "transpose"); break; }
    case 3: { const int64_t *p = read_ints(r, v, &n, 6); put(sf_expand(x, p, n, &t), t, "expand"); break; }
    case 4: { const int64_t *p = read_dims(r, v, &n, nd); put(sf_squeeze(x, p, n, &t), t, "squeeze"); break; }
    case 5: put(sf_unsqueeze(x, fz_dim(r, nd + 1), &t), t, "unsqueeze"); break;
    case 6: {
        int64_t d = fz_dim(r, nd), start = fz_int(r), stop = fz_int(r), step = fz_int(r);
        put(sf_slice(x, d, start, stop, step, &t), t, "slice");
        break;
    }
    case 7: { const int64_t *p = read_dims(r, v, &n, nd); put(sf_flip(x, p, n, &t), t, "flip"); break; }
    case 8: { const int64_t *p = read_ints(r, v, &n, 8); put(sf_pad(x, p, n, fz_double(r), &t), t, "pad"); break; }
    case 9: {
        const int64_t *s = read_ints(r, v, &n, 3), *d = read_dims(r, w, &m, nd);
        put(sf_roll(x, s, n, d, m, &t), t, "roll");
        break;
    }
    case 10: { const int64_t *p = read_ints(r, v, &n, 5); put(sf_repeat(x, p, n, &t), t, "repeat"); break; }
    case 11: { const int64_t *p = read_ints(r, v, &n, 5); put(sf_tile(x, p, n, &t), t, "tile"); break; }
    case 12: {
        int64_t off = fz_int(r), d1 = fz_dim(r, nd);
        put(sf_diagonal(x, off, d1, fz_dim(r, nd), &t), t, "diagonal");
        break;
    }
    case 13: {
        int64_t off = fz_int(r), d1 = fz_dim(r, nd + 1);
        put(sf_diag_embed(x, off, d1, fz_dim(r, nd + 1), &t), t, "diag_embed");
        break;
    }
    default: {
        sf_tensor *list[6];
        n = fz_u8(r) % 6;
        for (size_t i = 0; i < n; i++) list[i] = arg(r);
        bool stack = fz_bool(r);
        int64_t d = fz_dim(r, nd + 1);
        put((stack ? sf_stack : sf_cat)(fz_u8(r) == 255 ? NULL : list, n, d, &t), t, stack ? "stack" : "cat");
        break;
    }
    }
}

static void read_pair(fz_reader *r, int64_t *p) {
    p[0] = fz_int(r);
    p[1] = fz_int(r);
}

static void op_nn(fz_reader *r) {
    sf_tensor *x = arg(r), *t = FZ_GARBAGE;
    switch (fz_u8(r) % 8) {
    case 0: { sf_tensor *w = arg(r), *b = fz_bool(r) ? arg(r) : NULL; put(sf_linear(x, w, b, &t), t, "linear"); break; }
    case 1: {
        sf_tensor *w = arg(r), *b = fz_bool(r) ? arg(r) : NULL;
        int64_t st[2], pad[2], dil[2];
        read_pair(r, st), read_pair(r, pad), read_pair(r, dil);
        uint8_t nulls = fz_u8(r);
        int64_t groups = fz_int(r);
        put(sf_conv2d(x, w, b, nulls == 1 ? NULL : st, nulls == 2 ? NULL : pad, nulls == 3 ? NULL : dil, groups, &t), t,
            "conv2d");
        break;
    }
    case 2: {
        sf_tensor *w = arg(r), *b = fz_bool(r) ? arg(r) : NULL;
        int64_t st = fz_int(r), pad = fz_int(r), dil = fz_int(r);
        put(sf_conv1d(x, w, b, st, pad, dil, fz_int(r), &t), t, "conv1d");
        break;
    }
    case 3: {
        int64_t k[2], st[2], pad[2], dil[2];
        read_pair(r, k), read_pair(r, st), read_pair(r, pad), read_pair(r, dil);
        sf_tensor *outs[2] = {FZ_GARBAGE, FZ_GARBAGE};
        bool ceil_mode = fz_bool(r), want_indices = fz_bool(r);
        sf_status s = sf_max_pool2d(x, k, fz_u8(r) == 255 ? NULL : st, pad, dil, ceil_mode, &outs[0],
                                    want_indices ? &outs[1] : NULL);
        put_n(s, outs, want_indices ? 2 : 1, "max_pool2d");
        break;
    }
    case 4: {
        int64_t k = fz_int(r), st = fz_int(r), pad = fz_int(r), dil = fz_int(r);
        sf_tensor *outs[2] = {FZ_GARBAGE, FZ_GARBAGE};
        put_n(sf_max_pool1d(x, k, st, pad, dil, fz_bool(r), &outs[0], &outs[1]), outs, 2, "max_pool1d");
        break;
    }
    case 5: {
        int64_t k[2], st[2], pad[2];
        read_pair(r, k), read_pair(r, st), read_pair(r, pad);
        bool ceil_mode = fz_bool(r), include = fz_bool(r);
        put(sf_avg_pool2d(x, k, st, pad, ceil_mode, include, fz_int(r), &t), t, "avg_pool2d");
        break;
    }
    case 6: {
        int64_t k = fz_int(r), st = fz_int(r), pad = fz_int(r);
        bool ceil_mode = fz_bool(r);
        put(sf_avg_pool1d(x, k, st, pad, ceil_mode, fz_bool(r), &t), t, "avg_pool1d");
        break;
    }
    default: {
        int64_t size[2];
        read_pair(r, size);
        put(sf_adaptive_avg_pool2d(x, size, &t), t, "adaptive_avg_pool2d");
        break;
    }
    }
}

static void op_norm(fz_reader *r) {
    sf_tensor *x = arg(r), *t = FZ_GARBAGE;
    switch (fz_u8(r) % 5) {
    case 0: {
        int64_t v[20];
        size_t n;
        const int64_t *ns = read_ints(r, v, &n, 3);
        sf_tensor *w = fz_bool(r) ? arg(r) : NULL, *b = fz_bool(r) ? arg(r) : NULL;
        put(sf_layer_norm(x, ns, n, w, b, fz_double(r), &t), t, "layer_norm");
        break;
    }
    case 1: {
        int64_t groups = fz_int(r);
        sf_tensor *w = fz_bool(r) ? arg(r) : NULL, *b = fz_bool(r) ? arg(r) : NULL;
        put(sf_group_norm(x, groups, w, b, fz_double(r), &t), t, "group_norm");
        break;
    }
    case 2: {
        sf_tensor *rm = fz_bool(r) ? arg(r) : NULL, *rv = fz_bool(r) ? arg(r) : NULL;
        sf_tensor *w = fz_bool(r) ? arg(r) : NULL, *b = fz_bool(r) ? arg(r) : NULL;
        bool training = fz_bool(r);
        double momentum = fz_double(r), eps = fz_double(r);
        sf_tensor *outs[3] = {FZ_GARBAGE, FZ_GARBAGE, FZ_GARBAGE};
        sf_status s = sf_batch_norm(x, rm, rv, w, b, training, momentum, eps, &outs[0], &outs[1], &outs[2]);
        /* the updated statistics exist only when training with running statistics (else NULL) */
        bool updates = s == SF_OK && training && rm != NULL;
        if (s == SF_OK && !updates) FZ_REQUIRE(outs[1] == NULL && outs[2] == NULL, "batch_norm: statistics without updates");
        put_n(s, outs, updates ? 3 : 1, "batch_norm");
        break;
    }
    case 3: {
        int64_t pad = fz_int(r);
        bool use_pad = fz_bool(r);
        put(sf_embedding(x, arg(r), use_pad ? &pad : NULL, &t), t, "embedding");
        break;
    }
    default: {
        sf_tensor *b = arg(r);
        int64_t d = fz_dim(r, (int64_t)rank_of(x));
        put(sf_cosine_similarity(x, b, d, fz_double(r), &t), t, "cosine_similarity");
        break;
    }
    }
}

static void op_indexing(fz_reader *r) {
    sf_tensor *x = arg(r), *index = arg(r), *t = FZ_GARBAGE;
    int64_t d = fz_dim(r, (int64_t)rank_of(x));
    switch (fz_u8(r) % 3) {
    case 0: put(sf_gather(x, d, index, &t), t, "gather"); break;
    case 1: put(sf_index_select(x, d, index, &t), t, "index_select"); break;
    default: put(sf_scatter_add(x, d, index, arg(r), &t), t, "scatter_add"); break;
    }
}

static void op_linalg(fz_reader *r) {
    sf_tensor *a = arg(r), *b = arg(r), *t = FZ_GARBAGE;
    sf_tensor *outs[3] = {FZ_GARBAGE, FZ_GARBAGE, FZ_GARBAGE};
    bool f1 = fz_bool(r), f2 = fz_bool(r), f3 = fz_bool(r);
    switch (fz_u8(r) % 12) {
    case 0: put(sf_linalg_solve(a, b, f1, &t), t, "linalg_solve"); break;
    case 1: put(sf_linalg_solve_triangular(a, b, f1, f2, f3, &t), t, "linalg_solve_triangular"); break;
    case 2: put(sf_linalg_cholesky(a, f1, &t), t, "linalg_cholesky"); break;
    case 3: put(sf_linalg_cholesky_solve(b, a, f1, &t), t, "linalg_cholesky_solve"); break;
    case 4: put_n(sf_linalg_slogdet(a, &outs[0], &outs[1]), outs, 2, "linalg_slogdet"); break;
    case 5: put_n(sf_linalg_eigh(a, f1, &outs[0], &outs[1]), outs, 2, "linalg_eigh"); break;
    case 6: put(sf_linalg_eigvalsh(a, f1, &t), t, "linalg_eigvalsh"); break;
    case 7: put_n(sf_linalg_svd(a, f1, &outs[0], &outs[1], &outs[2]), outs, 3, "linalg_svd"); break;
    case 8: { double atol = fz_double(r); put(sf_linalg_pinv(a, atol, fz_double(r), &t), t, "linalg_pinv"); break; }
    case 9: {
        char word[16];
        put_n(sf_linalg_qr(a, read_word(r, word, sizeof word), &outs[0], &outs[1]), outs, 2, "linalg_qr");
        break;
    }
    case 10: put_n(sf_linalg_lstsq(a, b, fz_double(r), &outs[0], &outs[1]), outs, 2, "linalg_lstsq"); break;
    default:
        if (f3) put_n(sf_linalg_lu_factor(a, &outs[0], &outs[1]), outs, 2, "linalg_lu_factor");
        else put(sf_linalg_lu_solve(a, b, arg(r), f1, f2, &t), t, "linalg_lu_solve");
        break;
    }
}

static void op_einsum(fz_reader *r) {
    char equation[24];
    const char *eq = read_equation(r, equation, sizeof equation);
    sf_tensor *list[4], *t = FZ_GARBAGE;
    size_t n = fz_u8(r) % 4;
    for (size_t i = 0; i < n; i++) list[i] = arg(r);
    put(sf_einsum(fz_u8(r) == 255 ? NULL : eq, list, n, &t), t, "einsum");
}

static void op_sorting(fz_reader *r) {
    sf_tensor *x = arg(r), *t = FZ_GARBAGE;
    sf_tensor *outs[2] = {FZ_GARBAGE, FZ_GARBAGE};
    int64_t d = fz_dim(r, (int64_t)rank_of(x));
    bool flag = fz_bool(r);
    switch (fz_u8(r) % 3) {
    case 0: put_n(sf_sort(x, d, flag, &outs[0], &outs[1]), outs, 2, "sort"); break;
    case 1: put(sf_argsort(x, d, flag, &t), t, "argsort"); break;
    default: put_n(sf_topk(x, fz_int(r), d, flag, &outs[0], &outs[1]), outs, 2, "topk"); break;
    }
}

static void op_attention(fz_reader *r) {
    sf_tensor *q = arg(r), *k = arg(r), *v = arg(r), *mask = fz_bool(r) ? arg(r) : NULL, *t = FZ_GARBAGE;
    double dropout = fz_u8(r) < 200 ? 0.0 : fz_double(r), scale = fz_double(r);
    bool causal = fz_bool(r), use_scale = fz_bool(r);
    put(sf_scaled_dot_product_attention(q, k, v, mask, dropout, causal, use_scale ? &scale : NULL, &t), t,
        "scaled_dot_product_attention");
}

/* A register through DLPack and back (export, import, release: the deleter runs once). */
static void op_dlpack(fz_reader *r) {
    sf_tensor *x = arg(r), *t = FZ_GARBAGE;
    DLManagedTensor *m = FZ_GARBAGE;
    sf_status s = sf_to_dlpack(x, &m);
    if (s != SF_OK) {
        fz_check_failure(s, "to_dlpack");
        FZ_REQUIRE(m == NULL, "to_dlpack failed but left *out set");
        return;
    }
    s = sf_from_dlpack(m, &t); /* on success the library owns m */
    FZ_REQUIRE(s == SF_OK, "from_dlpack of the library's own export failed");
    put(s, t, "from_dlpack");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static void (*const ops[])(fz_reader *) = {op_make, op_make, op_creation, op_unary, op_param_unary,
                                               op_binary, op_loss, op_where, op_reduce, op_movement,
                                               op_nn, op_norm, op_indexing, op_linalg, op_einsum,
                                               op_sorting, op_attention, op_dlpack};
    fz_reader in = {data, size, 0};
    fz_reset_library();
    next_reg = 0;
    for (int step = 0; step < MAX_STEPS && !fz_done(&in); step++) ops[fz_u8(&in) % FZ_COUNT(ops)](&in);
    for (int i = 0; i < REGS; i++) {
        sf_tensor_release(reg[i]);
        reg[i] = NULL;
    }
    return 0;
}
