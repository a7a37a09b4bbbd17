/* test_random_inputs.c — randomized stress test of the whole C ABI: no input may crash the library.
 *
 * A deterministic pseudo-random driver (splitmix64, fixed seeds) builds tensors of random dtypes,
 * ranks 0-6 (sometimes 17), sizes 0-5 (sometimes huge, negative, INT64_MIN/INT64_MAX), through
 * sf_tensor_from_data and through DLPack imports with random strides (negative, zero, permuted,
 * huge on size-0/1 dims), byte offsets and misaligned data, plus invalid DLPack descriptions. It
 * calls every op of the header with random arguments (dims including INT64_MIN/MAX, counts vs NULL
 * pointers, enum values out of range, slice/pad/conv parameters, index tensors with wild values,
 * mismatched shapes), and random transforms (grad, grad_and_value, jacrev, jacfwd, hessian, vmap
 * with random in/out dims and chunk sizes, vjp, jvp, linearize, custom functions) of host
 * callbacks that run small random compositions of ops — some of which misbehave (fail, leave an
 * output NULL, return integer outputs, keep a traced value that escapes).
 *
 * It checks only the contract: every call returns a valid sf_status; on failure sf_last_error() is
 * a non-empty "sf_..." message and every `out` is NULL; on success every output is a valid tensor
 * (rank <= 16, sizes >= 0, numel consistent, dtype valid, copy_to works, bools are 0/1); DLPack
 * deleters and free_user_data run exactly once; nothing leaks (run under ASan/LSan by make).
 *
 * Each batch of iterations runs in a forked child, so a crash (a Swift trap is SIGILL/SIGTRAP)
 * is reported with its seed and does not hide later batches. Environment:
 *   SF_FUZZ_ITERS=n    iterations per batch (default 1500)      SF_FUZZ_BATCHES=n (default 4)
 *   SF_FUZZ_SEED=s     first seed (default 1; batch b uses s+b)
 *   SF_FUZZ_TRACE=1    print every call before making it (the last line before a crash names it)
 *   SF_FUZZ_NOFORK=1   run the batches in this process
 *   SF_FUZZ_VERBOSE=1  print messages that do not name the called function
 *   SF_FUZZ_AVOID_KNOWN=1  steer around the inputs of the (fixed) crashes below
 *   SF_FUZZ_PARANOID=1 touch every pool tensor after each iteration (finds a bad reference early)
 *
 * The deterministic checks at the end are minimal reproductions of what the fuzzer found, marked
 * "CRASH REPRO" (all fixed: they guard against regressions). */
#define _DEFAULT_SOURCE
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "swiftfunc.h"

#define POOL 24
#define MAX_KEEP 4096 /* results with more elements are checked but not kept in the pool */
#define MAX_READ (1 << 16)

/* Huge-but-valid allocations must fail with SF_ERR_OUT_OF_MEMORY, not abort the ASan run. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

/* ------------------------------------------------------------------------------------------------
 * Randomness and tracing
 * ---------------------------------------------------------------------------------------------- */

static uint64_t rng_state;
static int trace_on, verbose_on, paranoid_on;

/* Inputs that once crashed the library (the CRASH REPROs at the end). */
/* All of them are fixed; SF_FUZZ_AVOID_KNOWN=1 steers around them again. */
static int avoid_known = 0;

static uint64_t rnext(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static int64_t rint_(int64_t n) { return n <= 0 ? 0 : (int64_t)(rnext() % (uint64_t)n); }
static int64_t rrange(int64_t lo, int64_t hi) { return lo + rint_(hi - lo + 1); }
static int chance(int percent) { return rint_(100) < percent; }
static double runit(void) { return (double)(rnext() >> 11) / 9007199254740992.0; }

#define TRACE(...)                                                                                 \
    do {                                                                                           \
        if (trace_on) {                                                                            \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            fflush(stderr);                                                                        \
        }                                                                                          \
    } while (0)

/* Integers that break careless arithmetic. */
static const int64_t WEIRD[] = {INT64_MIN, INT64_MIN + 1, INT64_MAX, INT64_MAX - 1, -1, -2, -17, 16, 17,
                                (int64_t)1 << 31, INT32_MAX, INT32_MIN, (int64_t)1 << 62, -((int64_t)1 << 62),
                                (int64_t)1 << 45, 1000};
/* Sizes that are bad or whose element count is past anything allocatable (never 2^20..2^41 elements,
 * which a machine might actually try to fill). */
static const int64_t WEIRD_SIZE[] = {INT64_MIN, INT64_MAX, -1, -2, (int64_t)1 << 62, (int64_t)1 << 45,
                                     INT64_MAX / 2, INT64_MIN + 1};

static int64_t weird(void) { return WEIRD[rint_(COUNT(WEIRD))]; }
static int64_t weird_size(void) { return WEIRD_SIZE[rint_(COUNT(WEIRD_SIZE))]; }

/* A dim for a rank-`ndim` tensor: mostly near the valid range, sometimes wild. */
static int64_t rdim(int64_t ndim) {
    if (chance(8)) return weird();
    return rrange(-ndim - 1, ndim);
}
static int64_t rsmall(void) { return chance(8) ? weird() : rrange(-6, 6); }
static int rdtype(void) {
    if (chance(3)) {
        static const int bad[] = {-1, 5, 6, 1000, INT32_MIN, INT32_MAX};
        return bad[rint_(COUNT(bad))];
    }
    static const int good[] = {SF_FLOAT32, SF_FLOAT64, SF_FLOAT64, SF_INT32, SF_INT64, SF_BOOL};
    return good[rint_(COUNT(good))];
}
static int renum(int n) { return chance(5) ? (int)weird() : (int)rint_(n); }
static double rdouble(void) {
    static const double special[] = {0.0, -0.0, 1.0, -1.0, 1e300, -1e300, 1e-310, 0.5, 2.0, 1e18};
    if (chance(4)) return NAN;
    if (chance(4)) return chance(50) ? INFINITY : -INFINITY;
    if (chance(15)) return special[rint_(COUNT(special))];
    return runit() * 6 - 3;
}

static const size_t ITEM[5] = {4, 8, 4, 8, 1};
static const char *DTYPE_NAME[5] = {"f32", "f64", "i32", "i64", "bool"};

static void trace_ints(const char *label, const int64_t *v, size_t n) {
    if (!trace_on) return;
    fprintf(stderr, "  %s(%zu)=", label, n);
    if (!v) {
        fprintf(stderr, "NULL\n");
        return;
    }
    fprintf(stderr, "{");
    for (size_t i = 0; i < n && i < 20; i++) fprintf(stderr, "%s%lld", i ? "," : "", (long long)v[i]);
    fprintf(stderr, "}\n");
}

/* "f64[2,3] strides{3,1}" for traces. */
static void trace_tensor(const char *label, sf_tensor *t) {
    if (!trace_on) return;
    if (!t) {
        fprintf(stderr, "  %s=NULL\n", label);
        return;
    }
    size_t nd = 0;
    sf_dtype dt = SF_FLOAT32;
    int64_t shape[SF_MAX_NDIM];
    if (sf_tensor_ndim(t, &nd) != SF_OK || sf_tensor_dtype(t, &dt) != SF_OK ||
        sf_tensor_shape(t, shape, SF_MAX_NDIM) != SF_OK) {
        fprintf(stderr, "  %s=<traced or unreadable: %s>\n", label, sf_last_error());
        return;
    }
    fprintf(stderr, "  %s=%s[", label, (unsigned)dt < 5 ? DTYPE_NAME[dt] : "?");
    for (size_t i = 0; i < nd; i++) fprintf(stderr, "%s%lld", i ? "," : "", (long long)shape[i]);
    fprintf(stderr, "]");
    DLManagedTensor *m = NULL;
    if (sf_to_dlpack(t, &m) == SF_OK) {
        fprintf(stderr, " strides{");
        for (size_t i = 0; i < nd; i++) fprintf(stderr, "%s%lld", i ? "," : "", (long long)m->dl_tensor.strides[i]);
        fprintf(stderr, "}");
        m->deleter(m);
    }
    fprintf(stderr, "\n");
}

/* ------------------------------------------------------------------------------------------------
 * Contract checks
 * ---------------------------------------------------------------------------------------------- */

static const char *current_op = "?";
static int message_mismatches;

/* A failed call: a valid status, a "sf_..." message, and (checked by callers) NULL outs. */
static void check_failure(sf_status s, const char *op, int strict_name) {
    const char *msg = sf_last_error();
    int ok_status = (int)s >= 1 && (int)s <= 9;
    if (!check_record(ok_status, __FILE__, __LINE__, "status is a valid sf_status"))
        fprintf(stderr, "    %s returned %d\n", op, (int)s);
    if (!check_record(msg != NULL && strncmp(msg, "sf_", 3) == 0 && strlen(msg) > 3, __FILE__, __LINE__,
                      "message starts with sf_"))
        fprintf(stderr, "    %s: status %d, message \"%s\"\n", op, (int)s, msg ? msg : "(null)");
    if (s == SF_ERR_INTERNAL)
        fprintf(stderr, "note: %s gave SF_ERR_INTERNAL: %s\n", op, msg);
    if (strict_name && msg) {
        char want[64];
        snprintf(want, sizeof want, "sf_%s:", op);
        if (strncmp(msg, want, strlen(want)) != 0) {
            message_mismatches++;
            if (verbose_on) fprintf(stderr, "note: %s failed with a message naming another function: %s\n", op, msg);
        }
    }
    TRACE("  -> status %d: %s", (int)s, msg);
}

/* A tensor a successful call returned: readable, consistent, copyable. Returns its numel or -1. */
static int64_t check_valid(sf_tensor *t, const char *op) {
    if (!check_record(t != NULL && t != GARBAGE, __FILE__, __LINE__, "successful call returns a tensor")) {
        fprintf(stderr, "    %s\n", op);
        return -1;
    }
    size_t nd = 99;
    sf_dtype dt = (sf_dtype)99;
    int64_t numel = -1, shape[SF_MAX_NDIM + 1];
    int ok = sf_tensor_ndim(t, &nd) == SF_OK && nd <= SF_MAX_NDIM && sf_tensor_dtype(t, &dt) == SF_OK &&
             (unsigned)dt < 5 && sf_tensor_shape(t, shape, SF_MAX_NDIM) == SF_OK &&
             sf_tensor_numel(t, &numel) == SF_OK;
    if (!check_record(ok, __FILE__, __LINE__, "result has a readable rank, dtype, shape and numel")) {
        fprintf(stderr, "    %s: %s\n", op, sf_last_error());
        return -1;
    }
    int64_t product = 1;
    int overflow = 0;
    for (size_t i = 0; i < nd; i++) {
        if (!check_record(shape[i] >= 0, __FILE__, __LINE__, "result sizes are >= 0")) fprintf(stderr, "    %s\n", op);
        if (shape[i] == 0) product = 0;
    }
    for (size_t i = 0; i < nd && product != 0; i++) {
        if (product > INT64_MAX / shape[i]) overflow = 1;
        else product *= shape[i];
    }
    if (!check_record(overflow ? 0 : product == numel, __FILE__, __LINE__, "numel is the product of the shape"))
        fprintf(stderr, "    %s: numel %lld\n", op, (long long)numel);
    if (nd > 0 && !check_record(sf_tensor_shape(t, shape, nd - 1) == SF_ERR_INVALID_ARGUMENT, __FILE__, __LINE__,
                                "shape with too small a capacity fails"))
        fprintf(stderr, "    %s\n", op);
    TRACE("  -> ok %s rank %zu numel %lld", DTYPE_NAME[dt], nd, (long long)numel);
    if (numel <= MAX_READ) {
        size_t bytes = (size_t)numel * ITEM[dt];
        unsigned char *buffer = malloc(bytes + 1);
        sf_status s = sf_tensor_copy_to(t, numel ? buffer : NULL, bytes);
        if (!check_record(s == SF_OK, __FILE__, __LINE__, "copy_to of a result works"))
            fprintf(stderr, "    %s: %s\n", op, sf_last_error());
        else if (dt == SF_BOOL)
            for (int64_t i = 0; i < numel; i++)
                if (!check_record(buffer[i] <= 1, __FILE__, __LINE__, "bool results are 0 or 1")) {
                    fprintf(stderr, "    %s: byte %u\n", op, buffer[i]);
                    break;
                }
        if (!check_record(sf_tensor_copy_to(t, buffer, bytes + 1) == SF_ERR_INVALID_ARGUMENT, __FILE__, __LINE__,
                          "copy_to with a wrong size fails"))
            fprintf(stderr, "    %s\n", op);
        free(buffer);
    }
    return numel;
}

/* ------------------------------------------------------------------------------------------------
 * The pool of tensors the ops draw from
 * ---------------------------------------------------------------------------------------------- */

static sf_tensor *pool[POOL];

static sf_tensor *pick(void) {
    if (chance(2)) return NULL;
    return pool[rint_(POOL)];
}

/* A pool tensor with a reference of the caller's own (released like a made one). */
static sf_tensor *pick_owned(void) {
    sf_tensor *t = pick();
    sf_tensor_retain(t);
    return t;
}

/* Keeps a checked result (small ones) in the pool, else releases it. */
static void keep(sf_tensor *t, int64_t numel) {
    if (!t || t == GARBAGE) return;
    if (numel < 0 || numel > MAX_KEEP) {
        sf_tensor_release(t);
        return;
    }
    int slot = (int)rint_(POOL);
    sf_tensor_release(pool[slot]);
    pool[slot] = t;
}

/* Checks the result of a one-output op call and keeps it. */
static void finish1(sf_status s, sf_tensor **outp, const char *op) {
    sf_tensor *out = *outp;
    if (out == GARBAGE && s != SF_OK) out = NULL; /* no out pointer was given */
    if (s == SF_OK) {
        keep(out, check_valid(out, op));
    } else {
        check_failure(s, op, 1);
        if (!check_record(out == NULL, __FILE__, __LINE__, "a failed call sets *out to NULL"))
            fprintf(stderr, "    %s\n", op);
    }
}

/* Fills `n` elements of `dtype` with random values (specials included). */
static void fill_values(void *buffer, int dtype, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        switch (dtype) {
        case SF_FLOAT32: ((float *)buffer)[i] = (float)rdouble(); break;
        case SF_FLOAT64: ((double *)buffer)[i] = rdouble(); break;
        case SF_INT32: ((int32_t *)buffer)[i] = chance(5) ? (int32_t)weird() : (int32_t)rrange(-5, 5); break;
        case SF_INT64: ((int64_t *)buffer)[i] = chance(5) ? weird() : rrange(-5, 5); break;
        default: ((uint8_t *)buffer)[i] = (uint8_t)rint_(2); break;
        }
    }
}

/* A small valid shape: rank 0-6, sizes 0-5 (mostly 1-3). */
static size_t small_shape(int64_t *shape, int max_rank) {
    size_t nd = (size_t)rint_(max_rank + 1);
    if (nd > 3 && chance(50)) nd = (size_t)rint_(4);
    for (size_t i = 0; i < nd; i++) shape[i] = chance(8) ? 0 : chance(10) ? rrange(4, 5) : rrange(1, 3);
    return nd;
}

/* A shape argument for creation ops: usually valid and small, sometimes rank 17 or wild sizes. */
static size_t any_shape(int64_t *shape) {
    size_t nd = small_shape(shape, 5);
    if (chance(4)) {
        nd = chance(50) ? 17 : 16;
        for (size_t i = 0; i < nd; i++) shape[i] = rrange(0, 1);
    }
    if (chance(10) && nd > 0) shape[rint_((int64_t)nd)] = weird_size();
    return nd;
}

/* Numel of a shape, or -1 if negative / overflowing. */
static int64_t shape_numel(const int64_t *shape, size_t nd) {
    int64_t n = 1;
    int zero = 0;
    for (size_t i = 0; i < nd; i++) {
        if (shape[i] < 0) return -1;
        if (shape[i] == 0) zero = 1;
    }
    if (zero) return 0;
    for (size_t i = 0; i < nd; i++) {
        if (n > INT64_MAX / shape[i]) return -1;
        n *= shape[i];
    }
    return n;
}

static sf_tensor *from_data(int dtype, const int64_t *shape, size_t nd) {
    int64_t n = shape_numel(shape, nd);
    if (n < 0 || n > MAX_KEEP || (unsigned)dtype > 4) return NULL;
    void *buffer = malloc((size_t)n * 8 + 8);
    fill_values(buffer, dtype, n);
    sf_tensor *t = NULL;
    sf_status s = sf_tensor_from_data(n ? buffer : NULL, (sf_dtype)dtype, shape, nd, &t);
    free(buffer);
    /* The library refuses a shape when the product of its nonzero sizes (times the element size)
     * passes int64, even if a 0 makes it empty (REPRO 5). */
    {
        static const int64_t item_size[5] = {4, 8, 4, 8, 1};
        int64_t product = item_size[dtype];
        int overflow = 0;
        for (size_t i = 0; i < nd; i++) {
            int64_t size = shape[i] > 0 ? shape[i] : 1;
            if (product > INT64_MAX / size) overflow = 1;
            else product *= size;
        }
        if (overflow) {
            check_record(s == SF_ERR_SHAPE, __FILE__, __LINE__, "from_data refuses a shape past int64");
            sf_tensor_release(t);
            return NULL;
        }
    }
    if (!check_record(s == SF_OK, __FILE__, __LINE__, "from_data of a valid shape works")) {
        fprintf(stderr, "    %s\n", sf_last_error());
        return NULL;
    }
    return t;
}

/* ---- DLPack producers -------------------------------------------------------------------------- */

typedef struct producer {
    void *buffer;
    int64_t shape[32];
    int64_t strides[32];
    int deleted;
    int versioned;
    DLManagedTensor legacy;
    struct DLManagedTensorVersioned modern;
} producer;

static int producers_made, producers_deleted, double_deletes;

static void producer_free(producer *p) {
    if (p->deleted++) {
        double_deletes++;
        return; /* never reached in a correct library: the struct would be freed already */
    }
    producers_deleted++;
    free(p->buffer);
    free(p);
}
static void legacy_deleter(DLManagedTensor *self) { producer_free((producer *)self->manager_ctx); }
static void modern_deleter(struct DLManagedTensorVersioned *self) { producer_free((producer *)self->manager_ctx); }

/* Imports a random strided view (valid, or with one field broken when `break_it`). */
static sf_tensor *dlpack_tensor(int break_it) {
    producer *p = calloc(1, sizeof *p);
    producers_made++;
    int dtype = (int)rint_(5);
    int64_t nd = (int64_t)small_shape(p->shape, 5);
    int64_t item = (int64_t)ITEM[dtype];
    int empty = shape_numel(p->shape, (size_t)nd) == 0;
    /* Strides: row-major, then per dim negated, zeroed, doubled or swapped; wild on size-0/1 dims. */
    int64_t stride = 1;
    for (int64_t i = nd - 1; i >= 0; i--) {
        p->strides[i] = stride;
        stride *= p->shape[i] > 0 ? p->shape[i] : 1;
    }
    for (int64_t i = 0; i < nd; i++) {
        int k = (int)rint_(8);
        if (k == 0) p->strides[i] = -p->strides[i];
        else if (k == 1) p->strides[i] = 0;
        else if (k == 2) p->strides[i] *= 2;
        else if (k == 3 && nd > 1) {
            int64_t j = rint_(nd), tmp = p->strides[i];
            p->strides[i] = p->strides[j];
            p->strides[j] = tmp;
        }
    }
    for (int64_t i = 0; i < nd; i++)
        if ((p->shape[i] <= 1 || empty) && chance(30)) p->strides[i] = weird();
    int64_t lo = 0, hi = 0;
    if (!empty)
        for (int64_t i = 0; i < nd; i++) {
            int64_t reach = (p->shape[i] - 1) * p->strides[i];
            if (reach < 0) lo += reach;
            else hi += reach;
        }
    int64_t span = empty ? 1 : hi - lo + 1;
    int64_t misalign = chance(15) ? rrange(1, item - 1 > 0 ? item - 1 : 0) : 0;
    int64_t front = rint_(3) * item;
    size_t bytes = (size_t)((span + 4) * item + front + 8);
    p->buffer = malloc(bytes);
    if (dtype == SF_BOOL) for (size_t i = 0; i < bytes; i++) ((uint8_t *)p->buffer)[i] = (uint8_t)rint_(2);
    else for (size_t i = 0; i < bytes; i++) ((uint8_t *)p->buffer)[i] = (uint8_t)rnext();
    int64_t element0 = front + (-lo) * item + misalign;
    int64_t split = rint_(element0 + 1);
    DLTensor t;
    memset(&t, 0, sizeof t);
    t.data = (char *)p->buffer + (element0 - split);
    t.byte_offset = (uint64_t)split;
    if (empty && chance(40)) {
        t.data = NULL;
        t.byte_offset = 0;
    }
    t.device.device_type = kDLCPU;
    t.device.device_id = 0;
    t.ndim = (int32_t)nd;
    static const uint8_t codes[5] = {kDLFloat, kDLFloat, kDLInt, kDLInt, 6 /* kDLBool */};
    t.dtype.code = codes[dtype];
    t.dtype.bits = (uint8_t)(item * 8);
    t.dtype.lanes = 1;
    t.shape = p->shape;
    t.strides = chance(15) ? NULL : p->strides;
    if (t.strides == NULL) {
        /* Row-major then: the buffer must cover numel elements from element 0. */
        int64_t n = shape_numel(p->shape, (size_t)nd);
        if (!empty && (int64_t)bytes < element0 + n * item) t.strides = p->strides;
    }
    int must_fail = 0;
    const char *broken = "nothing";
    if (break_it) {
        switch (rint_(12)) {
        case 0: t.device.device_type = chance(50) ? kDLCUDA : (DLDeviceType)rint_(20) + 2; must_fail = 1; broken = "device"; break;
        case 1: t.dtype.lanes = chance(50) ? 0 : 4; must_fail = 1; broken = "lanes"; break;
        case 2: t.dtype.code = chance(50) ? kDLUInt : (uint8_t)rrange(7, 255); must_fail = 1; broken = "code"; break;
        case 3: t.dtype.bits = chance(50) ? 16 : (uint8_t)rint_(256); 
            /* another valid width of the same kind is another valid dtype */
            must_fail = !((t.dtype.code != 6 && (t.dtype.bits == 32 || t.dtype.bits == 64)) || (t.dtype.code == 6 && t.dtype.bits == 8));
            /* A valid wider type would reach past the buffer, which was sized for `item` bytes an
             * element: the host's own description would be a lie (ASan saw the reads). */
            if (!must_fail && t.dtype.bits > item * 8) t.dtype.bits = (uint8_t)(item * 8);
            broken = "bits"; break;
        case 4: t.ndim = chance(50) ? -1 : chance(50) ? 17 : (int32_t)weird(); must_fail = t.ndim < 0 || t.ndim > 16; broken = "ndim"; break;
        case 5:
            if (nd > 0) {
                p->shape[rint_(nd)] = weird_size();
                must_fail = shape_numel(p->shape, (size_t)nd) < 0;
            }
            broken = "shape"; break;
        case 6: if (nd > 0) { t.shape = NULL; must_fail = 1; } broken = "NULL shape"; break;
        case 7:
            for (int64_t i = 0; i < nd; i++)
                if (p->shape[i] >= 2) {
                    p->strides[i] = chance(50) ? INT64_MAX : INT64_MIN;
                    t.strides = p->strides;
                    must_fail = !empty; /* without elements no stride is ever used */
                    break;
                }
            broken = "stride"; break;
        case 8: if (!empty) { t.data = NULL; t.byte_offset = 0; must_fail = 1; } broken = "NULL data"; break;
        case 9: if (!empty) { t.byte_offset = chance(50) ? UINT64_MAX : (uint64_t)1 << 63; must_fail = 1; } broken = "byte_offset"; break;
        case 10: t.device.device_id = (int32_t)weird(); broken = "device_id"; break;
        default: p->versioned = 1; broken = "version"; must_fail = -1; break;
        }
    }
    if (p->versioned == 0) p->versioned = (int)rint_(2);
    sf_tensor *out = GARBAGE;
    sf_status s;
    TRACE("from_dlpack%s %s[ndim %d] broken=%s offset %llu misalign %lld", p->versioned ? "_versioned" : "",
          DTYPE_NAME[dtype], (int)t.ndim, broken, (unsigned long long)t.byte_offset, (long long)misalign);
    if (t.shape) trace_ints("shape", p->shape, nd);
    if (t.strides) trace_ints("strides", p->strides, nd);
    if (p->versioned) {
        p->modern.version.major = 1;
        p->modern.version.minor = (uint32_t)rint_(3);
        if (must_fail == -1) {
            p->modern.version.major = chance(50) ? 0 : (uint32_t)rrange(2, 0xFFFFFFFF);
            must_fail = 1;
        }
        p->modern.manager_ctx = p;
        p->modern.deleter = modern_deleter;
        p->modern.flags = chance(20) ? rnext() : 0;
        p->modern.dl_tensor = t;
        s = sf_from_dlpack_versioned(&p->modern, &out);
    } else {
        if (must_fail == -1) must_fail = 0;
        p->legacy.manager_ctx = p;
        p->legacy.deleter = legacy_deleter;
        p->legacy.dl_tensor = t;
        s = sf_from_dlpack(&p->legacy, &out);
    }
    if (s != SF_OK) {
        check_failure(s, p->versioned ? "from_dlpack_versioned" : "from_dlpack", 0);
        CHECK(out == NULL);
        if (!check_record(!p->deleted, __FILE__, __LINE__, "a failed import does not call the deleter"))
            return NULL;
        if (!must_fail && !break_it)
            if (!check_record(0, __FILE__, __LINE__, "a valid DLPack import works"))
                fprintf(stderr, "    %s\n", sf_last_error());
        if (p->versioned) modern_deleter(&p->modern);
        else legacy_deleter(&p->legacy);
        return NULL;
    }
    if (must_fail == 1) {
        check_record(0, __FILE__, __LINE__, "an invalid DLPack import fails");
        fprintf(stderr, "    broken field: %s (released unread)\n", broken);
        sf_tensor_release(out);
        return NULL;
    }
    int64_t numel = check_valid(out, "from_dlpack");
    if (numel < 0 || numel > MAX_KEEP) {
        sf_tensor_release(out);
        return NULL;
    }
    return out;
}

/* A fresh random tensor: from data (70%) or a strided DLPack view. */
static sf_tensor *fresh(void) {
    if (chance(30)) {
        sf_tensor *t = dlpack_tensor(0);
        if (t) return t;
    }
    int64_t shape[8];
    size_t nd = small_shape(shape, 6);
    return from_data((int)rint_(5), shape, nd);
}

/* A tensor shaped like `t` (same or broadcastable), used to get past shape checks. */
static sf_tensor *like(sf_tensor *t, int dtype) {
    size_t nd = 0;
    int64_t shape[SF_MAX_NDIM];
    if (!t || sf_tensor_ndim(t, &nd) != SF_OK || sf_tensor_shape(t, shape, SF_MAX_NDIM) != SF_OK) return fresh();
    if (chance(30) && nd > 0) shape[rint_((int64_t)nd)] = 1;
    if (chance(20) && nd > 0) {
        nd--;
        memmove(shape, shape + 1, nd * sizeof shape[0]);
    }
    return from_data(dtype, shape, nd);
}

/* An int32/int64 index tensor with values near [-size, size) and some wild ones. */
static int tame_indices; /* CRASH REPRO 2: cross_entropy traps on a target of INT64_MAX */

static sf_tensor *index_tensor(const int64_t *shape, size_t nd, int64_t size) {
    int64_t n = shape_numel(shape, nd);
    if (n < 0 || n > MAX_KEEP) return NULL;
    int dtype = chance(50) ? SF_INT32 : SF_INT64;
    if (chance(3)) dtype = (int)rint_(5);
    if (dtype != SF_INT32 && dtype != SF_INT64) return from_data(dtype, shape, nd);
    int64_t *values = malloc(sizeof(int64_t) * (size_t)(n + 1));
    int32_t *values32 = malloc(sizeof(int32_t) * (size_t)(n + 1));
    for (int64_t i = 0; i < n; i++) {
        int64_t v = chance(6) ? weird() : chance(10) ? rrange(-size - 2, size + 2) : rrange(0, size > 0 ? size - 1 : 0);
        if (tame_indices && v > ((int64_t)1 << 53)) v = size;
        values[i] = v;
        values32[i] = (int32_t)v;
    }
    sf_tensor *t = NULL;
    sf_tensor_from_data(n ? (dtype == SF_INT32 ? (void *)values32 : (void *)values) : NULL, (sf_dtype)dtype, shape, nd, &t);
    free(values);
    free(values32);
    return t;
}

static size_t ndim_of(sf_tensor *t) {
    size_t nd = 0;
    if (!t || sf_tensor_ndim(t, &nd) != SF_OK) return 0;
    return nd;
}
/* Whether t has a dim of 2^31 or more (only possible with zero elements, or as a view). */
static int has_huge_dim(sf_tensor *t) {
    int64_t shape[SF_MAX_NDIM];
    size_t nd = ndim_of(t);
    if (!t || sf_tensor_shape(t, shape, SF_MAX_NDIM) != SF_OK) return 0;
    for (size_t i = 0; i < nd; i++)
        if (shape[i] >= ((int64_t)1 << 31)) return 1;
    return 0;
}

static int64_t size_of(sf_tensor *t, int64_t dim) {
    int64_t shape[SF_MAX_NDIM];
    size_t nd = ndim_of(t);
    if (!t || nd == 0 || sf_tensor_shape(t, shape, SF_MAX_NDIM) != SF_OK) return 1;
    if (dim < 0) dim += (int64_t)nd;
    return dim >= 0 && dim < (int64_t)nd ? shape[dim] : 1;
}

/* A dims array: count 0-4 (sometimes 17), sometimes NULL with a nonzero count. */
static const int64_t *rdims(int64_t *dims, size_t *count, int64_t ndim) {
    *count = (size_t)rint_(ndim + 2 > 4 ? 4 : ndim + 2);
    if (chance(3)) *count = 17;
    for (size_t i = 0; i < *count; i++) dims[i] = chance(70) && ndim > 0 ? rrange(-ndim, ndim - 1) : rdim(ndim);
    if (chance(4)) return NULL;
    return dims;
}

/* ------------------------------------------------------------------------------------------------
 * Ops with random arguments
 * ---------------------------------------------------------------------------------------------- */

typedef sf_status (*unary_fn)(sf_tensor *, sf_tensor **);
typedef sf_status (*binary_fn)(sf_tensor *, sf_tensor *, sf_tensor **);
typedef sf_status (*reduce_fn)(sf_tensor *, const int64_t *, size_t, bool, sf_tensor **);
typedef sf_status (*shape_fn)(const int64_t *, size_t, sf_dtype, sf_tensor **);

static sf_status gelu_exact(sf_tensor *x, sf_tensor **out) { return sf_gelu(x, false, out); }
static sf_status gelu_tanh(sf_tensor *x, sf_tensor **out) { return sf_gelu(x, true, out); }
static sf_status detach_fn(sf_tensor *x, sf_tensor **out) { return sf_detach(x, out); }
static sf_status bernoulli_fn(sf_tensor *x, sf_tensor **out) { return sf_bernoulli(x, out); }

static const struct { const char *name; unary_fn fn; } UNARY[] = {
    {"neg", sf_neg}, {"exp", sf_exp}, {"log", sf_log}, {"log1p", sf_log1p}, {"expm1", sf_expm1},
    {"sin", sf_sin}, {"cos", sf_cos}, {"tan", sf_tan}, {"tanh", sf_tanh}, {"sigmoid", sf_sigmoid},
    {"sqrt", sf_sqrt}, {"rsqrt", sf_rsqrt}, {"abs", sf_abs}, {"sign", sf_sign}, {"relu", sf_relu},
    {"floor", sf_floor}, {"ceil", sf_ceil}, {"round", sf_round}, {"silu", sf_silu}, {"gelu", gelu_exact},
    {"gelu", gelu_tanh}, {"detach", detach_fn}, {"bernoulli", bernoulli_fn},
};
static const struct { const char *name; binary_fn fn; } BINARY[] = {
    {"add", sf_add}, {"sub", sf_sub}, {"mul", sf_mul}, {"div", sf_div}, {"pow", sf_pow},
    {"maximum", sf_maximum}, {"minimum", sf_minimum}, {"atan2", sf_atan2}, {"lt", sf_lt}, {"le", sf_le},
    {"gt", sf_gt}, {"ge", sf_ge}, {"eq", sf_eq}, {"ne", sf_ne}, {"matmul", sf_matmul}, {"mse_loss", NULL},
};
static const struct { const char *name; reduce_fn fn; } REDUCE[] = {
    {"sum", sf_sum}, {"prod", sf_prod}, {"amax", sf_amax}, {"amin", sf_amin}, {"argmax", sf_argmax},
    {"argmin", sf_argmin}, {"mean", sf_mean}, {"logsumexp", sf_logsumexp},
};
static sf_status full_fn(const int64_t *s, size_t n, sf_dtype d, sf_tensor **o) { return sf_full(s, n, rdouble(), d, o); }
static const struct { const char *name; shape_fn fn; } CREATE[] = {
    {"zeros", sf_zeros}, {"ones", sf_ones}, {"full", full_fn}, {"rand", sf_rand}, {"randn", sf_randn},
};

/* A second operand for a binary op: another pool tensor, a scalar, or one shaped like `a`. */
static sf_tensor *partner(sf_tensor *a, int *owned) {
    *owned = 0;
    int k = (int)rint_(10);
    if (k < 4) return pick();
    *owned = 1;
    if (k < 6) {
        sf_tensor *s = NULL;
        sf_scalar(rdouble(), &s);
        return s;
    }
    return like(a, (int)rint_(5));
}

static void op_unary(void) {
    int i = (int)rint_(COUNT(UNARY));
    sf_tensor *x = pick(), *out = GARBAGE;
    TRACE("%s", UNARY[i].name);
    trace_tensor("x", x);
    finish1(UNARY[i].fn(x, chance(2) ? NULL : &out), &out, UNARY[i].name);
}

static void op_binary(void) {
    int i = (int)rint_(COUNT(BINARY)), owned;
    sf_tensor *a = pick(), *b = partner(a, &owned), *out = GARBAGE;
    sf_tensor *mine = owned ? b : NULL;
    if (chance(50)) {
        sf_tensor *t = a;
        a = b;
        b = t;
    }
    TRACE("%s", BINARY[i].name);
    trace_tensor("a", a);
    trace_tensor("b", b);
    if (BINARY[i].fn) {
        finish1(BINARY[i].fn(a, b, &out), &out, BINARY[i].name);
    } else {
        int red = renum(3);
        TRACE("  reduction %d", red);
        finish1(sf_mse_loss(a, b, (sf_reduction)red, &out), &out, "mse_loss");
    }
    sf_tensor_release(mine);
}

static void op_where(void) {
    sf_tensor *a = pick(), *mine_c = NULL, *mine_b = NULL;
    sf_tensor *cond = chance(70) ? (mine_c = like(a, SF_BOOL)) : pick();
    sf_tensor *b = chance(50) ? (mine_b = like(a, (int)rint_(5))) : pick();
    sf_tensor *out = GARBAGE;
    TRACE("where");
    trace_tensor("cond", cond);
    trace_tensor("a", a);
    trace_tensor("b", b);
    finish1(sf_where(cond, a, b, &out), &out, "where");
    sf_tensor_release(mine_c);
    sf_tensor_release(mine_b);
}

static void op_reduce(void) {
    int i = (int)rint_(COUNT(REDUCE));
    sf_tensor *x = pick(), *out = GARBAGE;
    int64_t dims[20];
    size_t n;
    const int64_t *d = rdims(dims, &n, (int64_t)ndim_of(x));
    bool keepdim = chance(50);
    if (avoid_known && REDUCE[i].fn == sf_mean && has_huge_dim(x)) return; /* CRASH REPRO 3 */
    TRACE("%s keepdim %d", REDUCE[i].name, keepdim);
    trace_tensor("x", x);
    trace_ints("dims", d, n);
    finish1(REDUCE[i].fn(x, d, n, keepdim, &out), &out, REDUCE[i].name);
}

static void op_var(void) {
    sf_tensor *x = pick(), *out = GARBAGE;
    int64_t dims[20];
    size_t n;
    const int64_t *d = rdims(dims, &n, (int64_t)ndim_of(x));
    int64_t correction = chance(15) ? weird() : rrange(-2, 3);
    if (avoid_known && correction < INT64_MIN / 2) correction = -2; /* CRASH REPRO 1: count - correction overflows */
    bool keepdim = chance(50), is_std = chance(50);
    if (avoid_known && has_huge_dim(x)) return; /* CRASH REPRO 3: the reduced count overflows */
    TRACE("%s correction %lld keepdim %d", is_std ? "std" : "var", (long long)correction, keepdim);
    trace_tensor("x", x);
    trace_ints("dims", d, n);
    finish1((is_std ? sf_std : sf_var)(x, d, n, correction, keepdim, &out), &out, is_std ? "std" : "var");
}

static void op_softmax(void) {
    sf_tensor *x = pick(), *out = GARBAGE;
    int64_t dim = rdim((int64_t)ndim_of(x));
    int lg = chance(50);
    TRACE("%s dim %lld", lg ? "log_softmax" : "softmax", (long long)dim);
    trace_tensor("x", x);
    finish1((lg ? sf_log_softmax : sf_softmax)(x, dim, &out), &out, lg ? "log_softmax" : "softmax");
}

static void op_create(void) {
    int i = (int)rint_(COUNT(CREATE));
    int64_t shape[20];
    size_t nd = any_shape(shape);
    const int64_t *sp = chance(4) ? NULL : shape;
    int dt = rdtype();
    sf_tensor *out = GARBAGE;
    TRACE("%s dtype %d", CREATE[i].name, dt);
    trace_ints("shape", sp, nd);
    finish1(CREATE[i].fn(sp, nd, (sf_dtype)dt, &out), &out, CREATE[i].name);
}

/* A double for arange/linspace bounds that never asks for 2^20..2^41 elements. */
static double bound(void) {
    static const double wild[] = {NAN, INFINITY, -INFINITY, 1e300, -1e300, 1e18, -1e18, 9.3e18, 0.0, -0.0};
    return chance(12) ? wild[rint_(COUNT(wild))] : (double)rrange(-20, 20) + (chance(30) ? runit() : 0);
}

static void op_creation_misc(void) {
    sf_tensor *out = GARBAGE;
    int dt = rdtype();
    switch (rint_(6)) {
    case 0: {
        double start = bound(), end = bound(), step = chance(10) ? bound() : (double)rrange(-3, 3) * (chance(30) ? 0.5 : 1);
        if (isfinite(start) && isfinite(end) && isfinite(step) && step != 0 && fabs((end - start) / step) > 1e5 &&
            fabs((end - start) / step) < 1e13)
            step = end - start; /* would allocate gigabytes: keep it small */
        TRACE("arange %.17g %.17g %.17g dtype %d", start, end, step, dt);
        finish1(sf_arange(start, end, step, (sf_dtype)dt, &out), &out, "arange");
        break;
    }
    case 1: {
        int64_t n = chance(15) ? weird_size() : rrange(-1, 5), m = chance(15) ? weird_size() : rrange(-1, 5);
        if (n > 0 && m > 0 && n < ((int64_t)1 << 41) && m < ((int64_t)1 << 41) && (n > 4096 || m > 4096)) n = 0;
        TRACE("eye %lld %lld dtype %d", (long long)n, (long long)m, dt);
        finish1(sf_eye(n, m, (sf_dtype)dt, &out), &out, "eye");
        break;
    }
    case 2: {
        int64_t steps = chance(15) ? weird_size() : rrange(-1, 6);
        double a = bound(), b = bound();
        TRACE("linspace %.17g %.17g %lld dtype %d", a, b, (long long)steps, dt);
        finish1(sf_linspace(a, b, steps, (sf_dtype)dt, &out), &out, "linspace");
        break;
    }
    case 3: {
        double v = rdouble();
        TRACE("scalar %.17g", v);
        finish1(sf_scalar(v, chance(3) ? NULL : &out), &out, "scalar");
        break;
    }
    case 4: {
        sf_tensor *x = pick();
        TRACE("cast dtype %d", dt);
        trace_tensor("x", x);
        finish1(sf_cast(x, (sf_dtype)dt, &out), &out, "cast");
        break;
    }
    default: {
        sf_tensor *x = pick();
        double p = chance(20) ? rdouble() : runit();
        bool training = chance(70);
        TRACE("dropout p %.17g training %d", p, training);
        trace_tensor("x", x);
        finish1(sf_dropout(x, p, training, &out), &out, "dropout");
        break;
    }
    }
}

static void op_movement(void) {
    sf_tensor *x = pick(), *out = GARBAGE;
    int64_t nd = (int64_t)ndim_of(x);
    int64_t arr[40];
    size_t n;
    switch (rint_(10)) {
    case 0: { /* reshape: often a valid permutation of the element count, sometimes wild */
        n = (size_t)rint_(5);
        int64_t numel = 0;
        if (x) sf_tensor_numel(x, &numel);
        for (size_t i = 0; i < n; i++) arr[i] = 1;
        if (n > 0) arr[rint_((int64_t)n)] = numel;
        if (n > 0 && chance(30)) arr[rint_((int64_t)n)] = -1;
        if (chance(20) && n > 0) arr[rint_((int64_t)n)] = chance(50) ? weird() : 0;
        if (chance(3)) n = 17;
        const int64_t *p = chance(3) ? NULL : arr;
        TRACE("reshape");
        trace_tensor("x", x);
        trace_ints("shape", p, n);
        finish1(sf_reshape(x, p, n, &out), &out, "reshape");
        break;
    }
    case 1: { /* permute */
        n = (size_t)nd;
        for (size_t i = 0; i < n; i++) arr[i] = (int64_t)i;
        for (size_t i = n; i > 1; i--) {
            size_t j = (size_t)rint_((int64_t)i);
            int64_t t = arr[i - 1];
            arr[i - 1] = arr[j];
            arr[j] = t;
        }
        for (size_t i = 0; i < n; i++) if (chance(20)) arr[i] -= nd;
        if (chance(20) && n > 0) arr[rint_((int64_t)n)] = rdim(nd);
        if (chance(10)) n = (size_t)rint_(18);
        TRACE("permute");
        trace_tensor("x", x);
        trace_ints("dims", arr, n);
        finish1(sf_permute(x, chance(3) ? NULL : arr, n, &out), &out, "permute");
        break;
    }
    case 2: {
        int64_t d0 = rdim(nd), d1 = rdim(nd);
        TRACE("transpose %lld %lld", (long long)d0, (long long)d1);
        trace_tensor("x", x);
        finish1(sf_transpose(x, d0, d1, &out), &out, "transpose");
        break;
    }
    case 3: { /* expand */
        int64_t shape[SF_MAX_NDIM];
        if (x) sf_tensor_shape(x, shape, SF_MAX_NDIM);
        int64_t extra = rint_(3);
        n = (size_t)(nd + extra);
        if (n > 17) n = 17;
        for (size_t i = 0; i < n; i++) {
            int64_t src = (int64_t)i - extra;
            arr[i] = src >= 0 && src < nd ? (chance(20) ? -1 : shape[src] == 1 ? rrange(0, 4) : shape[src]) : rrange(1, 3);
            if (chance(6)) arr[i] = chance(50) ? weird() : -1;
        }
        TRACE("expand");
        trace_tensor("x", x);
        trace_ints("shape", arr, n);
        finish1(sf_expand(x, chance(3) ? NULL : arr, n, &out), &out, "expand");
        break;
    }
    case 4: {
        const int64_t *d = rdims(arr, &n, nd);
        TRACE("squeeze");
        trace_tensor("x", x);
        trace_ints("dims", d, n);
        finish1(sf_squeeze(x, d, n, &out), &out, "squeeze");
        break;
    }
    case 5: {
        int64_t d = rdim(nd + 1);
        TRACE("unsqueeze %lld", (long long)d);
        trace_tensor("x", x);
        finish1(sf_unsqueeze(x, d, &out), &out, "unsqueeze");
        break;
    }
    case 6: {
        int64_t d = rdim(nd), start = rsmall(), stop = rsmall(), step = chance(15) ? rsmall() : rrange(1, 3);
        TRACE("slice dim %lld start %lld stop %lld step %lld", (long long)d, (long long)start, (long long)stop, (long long)step);
        trace_tensor("x", x);
        finish1(sf_slice(x, d, start, stop, step, &out), &out, "slice");
        break;
    }
    case 7: {
        const int64_t *d = rdims(arr, &n, nd);
        TRACE("flip");
        trace_tensor("x", x);
        trace_ints("dims", d, n);
        finish1(sf_flip(x, d, n, &out), &out, "flip");
        break;
    }
    case 8: { /* pad: small pads mostly, wild ones sometimes (never a valid gigabyte result) */
        n = (size_t)(2 * rint_(nd + 2));
        if (chance(5)) n = (size_t)rint_(9);
        for (size_t i = 0; i < n; i++) {
            arr[i] = chance(10) ? weird() : rrange(-3, 3);
            /* a valid pad of 2^31 would really allocate gigabytes: use one past any allocation */
            if (arr[i] > 1000 && arr[i] < ((int64_t)1 << 45)) arr[i] = (int64_t)1 << 45;
        }
        double v = rdouble();
        TRACE("pad value %g", v);
        trace_tensor("x", x);
        trace_ints("pad", arr, n);
        finish1(sf_pad(x, chance(3) ? NULL : arr, n, v, &out), &out, "pad");
        break;
    }
    default: { /* cat / stack */
        sf_tensor *list[6];
        sf_tensor *made[6] = {0};
        n = (size_t)rint_(5);
        for (size_t i = 0; i < n; i++) {
            if (chance(60)) list[i] = made[i] = like(x, (int)rint_(5));
            else list[i] = pick();
        }
        if (n > 0 && chance(50)) list[0] = x;
        int64_t d = rdim(nd + 1);
        int stack = chance(40);
        TRACE("%s n %zu dim %lld", stack ? "stack" : "cat", n, (long long)d);
        for (size_t i = 0; i < n; i++) trace_tensor("t", list[i]);
        sf_tensor *const *lp = chance(3) ? NULL : list;
        finish1((stack ? sf_stack : sf_cat)(lp, n, d, &out), &out, stack ? "stack" : "cat");
        for (size_t i = 0; i < n; i++) sf_tensor_release(made[i]);
        break;
    }
    }
}

static void op_linear(void) {
    sf_tensor *x = pick(), *w = NULL, *b = NULL, *out = GARBAGE;
    int64_t in = size_of(x, -1), shape[2] = {rrange(0, 3), chance(80) ? in : rrange(0, 3)};
    int dt = chance(80) ? SF_FLOAT64 : (int)rint_(5);
    w = chance(80) ? from_data(dt, shape, chance(10) ? 1 : 2) : NULL;
    if (chance(60)) b = from_data(dt, shape, chance(80) ? 1 : 0);
    TRACE("linear");
    trace_tensor("x", x);
    trace_tensor("w", w);
    trace_tensor("b", b);
    finish1(sf_linear(x, w, b, &out), &out, "linear");
    sf_tensor_release(w);
    sf_tensor_release(b);
}

static void op_conv2d(void) {
    int64_t groups = chance(10) ? weird() : rrange(0, 3);
    int64_t g = groups >= 1 && groups <= 3 ? groups : 1;
    int64_t xs[4] = {rrange(0, 2), g * rrange(0, 2), rrange(0, 5), rrange(0, 5)};
    int64_t ws[4] = {g * rrange(0, 2), xs[1] / g, rrange(1, 3), rrange(1, 3)};
    if (chance(15)) ws[1] = rrange(0, 3);
    int dt = chance(85) ? SF_FLOAT64 : (int)rint_(5);
    int three = chance(20);
    sf_tensor *mine = NULL;
    sf_tensor *x = chance(90) ? (mine = from_data(dt, three ? xs + 1 : xs, three ? 3 : 4)) : pick();
    sf_tensor *w = chance(95) ? from_data(chance(90) ? dt : (int)rint_(5), ws, chance(95) ? 4 : 3) : NULL;
    sf_tensor *b = chance(50) ? from_data(dt, ws, chance(90) ? 1 : 2) : NULL;
    int64_t stride[2], padding[2], dilation[2];
    for (int i = 0; i < 2; i++) {
        stride[i] = chance(8) ? weird() : rrange(0, 3);
        padding[i] = chance(8) ? weird() : rrange(-1, 2);
        dilation[i] = chance(8) ? weird() : rrange(0, 3);
    }
    /* a huge padding alone would be a valid result of gigabytes: keep the wild values overflowing */
    for (int i = 0; i < 2; i++)
        if (padding[i] > 1000 && padding[i] < ((int64_t)1 << 45)) padding[i] = (int64_t)1 << 45;
    if (padding[0] >= ((int64_t)1 << 45) && padding[0] < ((int64_t)1 << 62)) padding[1] = (int64_t)1 << 45;
    if (padding[1] >= ((int64_t)1 << 45) && padding[1] < ((int64_t)1 << 62)) padding[0] = (int64_t)1 << 45;
    sf_tensor *out = GARBAGE;
    int nulls = (int)rint_(20);
    TRACE("conv2d groups %lld stride {%lld,%lld} padding {%lld,%lld} dilation {%lld,%lld} nulls %d", (long long)groups,
          (long long)stride[0], (long long)stride[1], (long long)padding[0], (long long)padding[1], (long long)dilation[0],
          (long long)dilation[1], nulls);
    trace_tensor("x", x);
    trace_tensor("w", w);
    trace_tensor("b", b);
    finish1(sf_conv2d(x, w, b, nulls == 0 ? NULL : stride, nulls == 1 ? NULL : padding, nulls == 2 ? NULL : dilation,
                      groups, &out),
            &out, "conv2d");
    sf_tensor_release(mine);
    sf_tensor_release(w);
    sf_tensor_release(b);
}

static void op_indexing(void) {
    sf_tensor *x = pick(), *out = GARBAGE;
    int64_t nd = (int64_t)ndim_of(x);
    int64_t dim = rdim(nd), shape[SF_MAX_NDIM];
    int64_t size = size_of(x, dim);
    if (x) sf_tensor_shape(x, shape, SF_MAX_NDIM);
    switch (rint_(3)) {
    case 0: {
        int64_t ishape[SF_MAX_NDIM];
        size_t ind = (size_t)nd;
        for (int64_t i = 0; i < nd; i++) ishape[i] = chance(80) ? rrange(0, shape[i]) : rrange(0, 4);
        if (chance(10)) ind = (size_t)rint_(4);
        sf_tensor *index = chance(95) ? index_tensor(ishape, ind, size) : pick_owned();
        TRACE("gather dim %lld", (long long)dim);
        trace_tensor("x", x);
        trace_tensor("index", index);
        finish1(sf_gather(x, dim, index, &out), &out, "gather");
        sf_tensor_release(index);
        break;
    }
    case 1: {
        int64_t ishape[2] = {rrange(0, 5), 2};
        sf_tensor *index = index_tensor(ishape, chance(90) ? 1 : chance(50) ? 0 : 2, size);
        TRACE("index_select dim %lld", (long long)dim);
        trace_tensor("x", x);
        trace_tensor("index", index);
        finish1(sf_index_select(x, dim, index, &out), &out, "index_select");
        sf_tensor_release(index);
        break;
    }
    default: {
        int64_t ishape[SF_MAX_NDIM];
        size_t ind = (size_t)nd;
        for (int64_t i = 0; i < nd; i++) ishape[i] = chance(85) ? rrange(0, shape[i]) : rrange(0, 4);
        sf_tensor *index = index_tensor(ishape, ind, size);
        sf_dtype xd = SF_FLOAT64;
        if (x) sf_tensor_dtype(x, &xd);
        sf_tensor *mine = NULL;
        sf_tensor *src = chance(85) ? (mine = from_data(chance(90) ? (int)xd : (int)rint_(5), chance(80) ? shape : ishape, (size_t)nd)) : pick();
        TRACE("scatter_add dim %lld", (long long)dim);
        trace_tensor("x", x);
        trace_tensor("index", index);
        trace_tensor("src", src);
        finish1(sf_scatter_add(x, dim, index, src, &out), &out, "scatter_add");
        sf_tensor_release(index);
        sf_tensor_release(mine);
        break;
    }
    }
}

static void op_nn(void) {
    sf_tensor *out = GARBAGE;
    if (chance(50)) {
        sf_tensor *x = pick();
        int64_t nd = (int64_t)ndim_of(x), shape[SF_MAX_NDIM], ns[20];
        if (x) sf_tensor_shape(x, shape, SF_MAX_NDIM);
        size_t n = (size_t)rint_(nd + 1);
        for (size_t i = 0; i < n; i++) ns[i] = shape[nd - (int64_t)n + (int64_t)i];
        if (chance(15) && n > 0) ns[rint_((int64_t)n)] = chance(50) ? weird() : rrange(0, 4);
        if (chance(3)) n = 17;
        sf_tensor *w = chance(40) ? from_data(chance(90) ? SF_FLOAT64 : (int)rint_(5), ns, n > 16 ? 0 : n) : NULL;
        sf_tensor *b = chance(40) ? from_data(SF_FLOAT64, ns, n > 16 ? 0 : chance(90) ? n : 0) : NULL;
        double eps = chance(10) ? rdouble() : 1e-5;
        if (avoid_known && has_huge_dim(x)) { /* CRASH REPRO 3 */
            sf_tensor_release(w);
            sf_tensor_release(b);
            return;
        }
        TRACE("layer_norm eps %g", eps);
        trace_tensor("x", x);
        trace_ints("normalized_shape", ns, n);
        trace_tensor("w", w);
        trace_tensor("b", b);
        finish1(sf_layer_norm(x, chance(3) ? NULL : ns, n, w, b, eps, &out), &out, "layer_norm");
        sf_tensor_release(w);
        sf_tensor_release(b);
    } else {
        int64_t shape[2] = {rrange(0, 4), rrange(0, 4)};
        int two = chance(80);
        sf_tensor *mine = NULL;
        sf_tensor *logits = chance(85) ? (mine = from_data(chance(90) ? SF_FLOAT64 : (int)rint_(5), two ? shape : shape + 1, two ? 2 : 1)) : pick();
        tame_indices = avoid_known;
        sf_tensor *target = chance(90) ? index_tensor(shape, two ? 1 : 0, shape[1]) : pick_owned();
        tame_indices = 0;
        /* a pool tensor may hold INT64_MAX too */
        if (avoid_known && target && ndim_of(target) <= 1) {
            sf_dtype tdt;
            int64_t tv[8], tn = 0;
            if (sf_tensor_dtype(target, &tdt) == SF_OK && tdt == SF_INT64 && sf_tensor_numel(target, &tn) == SF_OK &&
                tn <= 8 && sf_tensor_copy_to(target, tn ? tv : NULL, (size_t)tn * 8) == SF_OK)
                for (int64_t q = 0; q < tn; q++)
                    if (tv[q] > ((int64_t)1 << 53)) {
                        sf_tensor_release(target);
                        target = NULL;
                        break;
                    }
        }
        int red = renum(3);
        TRACE("cross_entropy reduction %d", red);
        trace_tensor("logits", logits);
        trace_tensor("target", target);
        finish1(sf_cross_entropy(logits, target, (sf_reduction)red, &out), &out, "cross_entropy");
        sf_tensor_release(target);
        sf_tensor_release(mine);
    }
}

/* The tensor API itself with wrong arguments. */
static void op_tensor_api(void) {
    sf_tensor *t = pick();
    TRACE("tensor api");
    trace_tensor("t", t);
    switch (rint_(7)) {
    case 0: {
        size_t cap = (size_t)rint_(18);
        int64_t shape[20];
        sf_status s = sf_tensor_shape(t, chance(20) ? NULL : shape, cap);
        if (s != SF_OK) check_failure(s, "tensor_shape", 0);
        break;
    }
    case 1: {
        sf_status s = sf_tensor_copy_to(t, NULL, (size_t)rint_(100));
        if (s != SF_OK) check_failure(s, "tensor_copy_to", 0);
        break;
    }
    case 2: {
        DLManagedTensor *m = GARBAGE;
        sf_status s = sf_to_dlpack(t, chance(5) ? NULL : &m);
        if (s == SF_OK) {
            if (CHECK(m != NULL && m != GARBAGE && m->deleter != NULL)) m->deleter(m);
        } else {
            check_failure(s, "to_dlpack", 0);
        }
        break;
    }
    case 3: {
        struct DLManagedTensorVersioned *m = GARBAGE;
        sf_status s = sf_to_dlpack_versioned(t, chance(5) ? NULL : &m);
        if (s == SF_OK) {
            if (CHECK(m != NULL && m != GARBAGE && m->deleter != NULL)) {
                /* a round trip: import our own export */
                sf_tensor *back = NULL;
                if (chance(50) && sf_from_dlpack_versioned(m, &back) == SF_OK) keep(back, check_valid(back, "round trip"));
                else m->deleter(m);
            }
        } else {
            check_failure(s, "to_dlpack_versioned", 0);
        }
        break;
    }
    case 4: {
        int64_t shape[20];
        size_t nd = any_shape(shape);
        int dt = rdtype();
        /* data only when the shape is small: a wild valid shape must fail before reading */
        int64_t n = shape_numel(shape, nd);
        static double buffer[MAX_KEEP * 2];
        const void *data = n >= 0 && n <= MAX_KEEP && chance(95) ? buffer : NULL;
        if (n > MAX_KEEP) data = buffer;
        if (n > MAX_KEEP && n < ((int64_t)1 << 41)) break;
        sf_tensor *out = GARBAGE;
        TRACE("from_data dtype %d", dt);
        trace_ints("shape", shape, nd);
        if ((unsigned)dt == SF_BOOL) memset(buffer, 0, sizeof buffer);
        finish1(sf_tensor_from_data(data, (sf_dtype)dt, chance(4) ? NULL : shape, nd, &out), &out, "tensor_from_data");
        break;
    }
    case 5: {
        size_t nd;
        sf_dtype dt;
        int64_t numel;
        sf_status s = sf_tensor_ndim(t, chance(20) ? NULL : &nd);
        if (s != SF_OK) check_failure(s, "tensor_ndim", 0);
        s = sf_tensor_dtype(t, chance(20) ? NULL : &dt);
        if (s != SF_OK) check_failure(s, "tensor_dtype", 0);
        s = sf_tensor_numel(t, chance(20) ? NULL : &numel);
        if (s != SF_OK) check_failure(s, "tensor_numel", 0);
        break;
    }
    default:
        sf_tensor_retain(t);
        sf_tensor_release(t);
        sf_tensor_retain(NULL);
        sf_tensor_release(NULL);
        if (chance(10)) sf_manual_seed(rnext());
        break;
    }
}

/* ------------------------------------------------------------------------------------------------
 * Host callbacks: small random programs of ops
 * ---------------------------------------------------------------------------------------------- */

#define MAX_STEPS 6
typedef struct program {
    int n_steps;
    int op[MAX_STEPS];
    int64_t arg[MAX_STEPS];
    int ignore_failure;
    int out_mode[8];
    int misbehave; /* 0 none, 1 fail without message, 2 fail after storing, 3 fail with NULL message */
} program;

static int programs_made, programs_freed;
static sf_tensor *escaped; /* a value kept from inside a callback */
static sf_function *nested; /* grad(sum(sin(x))) applied inside callbacks */

static void free_program(void *p) {
    programs_freed++;
    free(p);
}

static program *random_program(void) {
    program *p = calloc(1, sizeof *p);
    programs_made++;
    p->n_steps = (int)rint_(MAX_STEPS + 1);
    for (int i = 0; i < p->n_steps; i++) {
        p->op[i] = (int)rint_(24);
        p->arg[i] = chance(10) ? weird() : rrange(-2, 2);
    }
    p->ignore_failure = chance(50);
    for (int i = 0; i < 8; i++) p->out_mode[i] = chance(85) ? (int)rint_(3) : (int)rint_(7);
    p->misbehave = chance(90) ? 0 : (int)rrange(1, 3);
    return p;
}

/* One step of a program on `cur` (borrowed); returns a new reference or NULL (error set). */
static sf_tensor *step(const program *p, int i, sf_tensor *cur, sf_tensor *const *inputs, size_t n_inputs) {
    sf_tensor *r = NULL, *t = NULL, *u = NULL;
    int64_t a = p->arg[i];
    /* |a| in unsigned arithmetic: a may be INT64_MIN, whose negation overflows (UBSan). */
    uint64_t magnitude = a < 0 ? 0 - (uint64_t)a : (uint64_t)a;
    sf_tensor *other = n_inputs ? inputs[magnitude % n_inputs] : cur;
    int64_t dims[1] = {a};
    switch (p->op[i]) {
    case 0: sf_sin(cur, &r); break;
    case 1: sf_tanh(cur, &r); break;
    case 2: sf_mul(cur, cur, &r); break;
    case 3: sf_add(cur, other, &r); break;
    case 4: sf_sum(cur, NULL, 0, false, &r); break;
    case 5: sf_sum(cur, dims, 1, a & 1, &r); break;
    case 6:
        if (sf_transpose(cur, -1, -2, &t) == SF_OK) sf_matmul(cur, t, &r);
        break;
    case 7: { int64_t s[1] = {-1}; sf_reshape(cur, s, 1, &r); break; }
    case 8: sf_cast(cur, (sf_dtype)(a & 1 ? SF_FLOAT64 : SF_FLOAT32), &r); break;
    case 9: sf_relu(cur, &r); break;
    case 10: sf_softmax(cur, a, &r); break;
    case 11: sf_slice(cur, a, 0, 2, 1, &r); break;
    case 12: sf_unsqueeze(cur, a, &r); break;
    case 13: sf_detach(cur, &r); break;
    case 14: { /* random draw shaped like cur, added */
        size_t nd = 0;
        int64_t shape[SF_MAX_NDIM];
        if (sf_tensor_ndim(cur, &nd) == SF_OK && sf_tensor_shape(cur, shape, SF_MAX_NDIM) == SF_OK &&
            sf_randn(shape, nd, SF_FLOAT64, &t) == SF_OK)
            sf_add(cur, t, &r);
        break;
    }
    case 15: { /* data-dependent control flow: read a value (fails under vmap) */
        int64_t numel = 0;
        sf_dtype dt;
        if (sf_tensor_numel(cur, &numel) == SF_OK && sf_tensor_dtype(cur, &dt) == SF_OK && numel <= MAX_KEEP) {
            void *buf = malloc((size_t)numel * 8 + 8);
            if (sf_tensor_copy_to(cur, numel ? buf : NULL, (size_t)numel * ITEM[dt & 7 % 5]) == SF_OK) {
                sf_tensor_retain(cur);
                r = cur;
            }
            free(buf);
        }
        break;
    }
    case 16: { /* a nested transform */
        sf_tensor *in[1] = {cur};
        sf_call(nested, in, 1, &r, 1);
        break;
    }
    case 17: sf_mul(cur, other, &r); break;
    case 18: /* escape: keep cur, or use the kept one */
        if (escaped && (a & 1)) {
            sf_add(cur, escaped, &r);
        } else {
            sf_tensor_release(escaped);
            sf_tensor_retain(cur);
            escaped = cur;
            sf_tensor_retain(cur);
            r = cur;
        }
        break;
    case 19:
        if (sf_scalar(0, &t) == SF_OK && sf_gt(cur, t, &u) == SF_OK) {
            sf_tensor *n = NULL;
            if (sf_neg(cur, &n) == SF_OK) sf_where(u, cur, n, &r);
            sf_tensor_release(n);
        }
        break;
    case 20: {
        int64_t ishape[1] = {1}, idx[1] = {0};
        if (sf_tensor_from_data(idx, SF_INT64, ishape, 1, &t) == SF_OK) sf_index_select(cur, a, t, &r);
        break;
    }
    case 21: { sf_tensor *list[2] = {cur, other}; (a & 1 ? sf_stack : sf_cat)(list, 2, a / 2, &r); break; }
    case 22: sf_logsumexp(cur, dims, 1, false, &r); break;
    default:
        if (avoid_known && has_huge_dim(cur)) break; /* CRASH REPRO 3 */
        sf_var(cur, NULL, 0, avoid_known && a < INT64_MIN / 2 ? 0 : a, false, &r);
        break;
    }
    sf_tensor_release(t);
    sf_tensor_release(u);
    return r;
}

static int run_program(const program *p, sf_tensor *const *inputs, size_t n_inputs, sf_tensor **outputs, size_t n_outputs) {
    sf_tensor *cur = NULL;
    if (n_inputs > 0 && inputs) {
        cur = inputs[0];
        sf_tensor_retain(cur);
    } else if (sf_scalar(1.5, &cur) != SF_OK) {
        return 1;
    }
    for (int i = 0; i < p->n_steps; i++) {
        sf_tensor *next = step(p, i, cur, inputs, n_inputs);
        if (!next) {
            if (p->ignore_failure) continue;
            sf_tensor_release(cur);
            return 1;
        }
        sf_tensor_release(cur);
        cur = next;
    }
    for (size_t k = 0; k < n_outputs; k++) {
        sf_tensor *o = NULL;
        switch (k < 8 ? p->out_mode[k] : 0) {
        case 0: sf_sum(cur, NULL, 0, false, &o); break;
        case 1: sf_tensor_retain(cur); o = cur; break;
        case 2: if (n_inputs) { sf_tensor_retain(inputs[k % n_inputs]); o = inputs[k % n_inputs]; } else sf_scalar(2, &o); break;
        case 3: o = NULL; break; /* misbehaving: returns 0 with an output missing */
        case 4: sf_cast(cur, SF_INT64, &o); break;
        case 5: { int64_t s[2] = {2, 3}; sf_ones(s, 2, SF_FLOAT64, &o); break; }
        default: sf_mean(cur, NULL, 0, true, &o); break;
        }
        if (!o && p->out_mode[k % 8] != 3) {
            sf_tensor_release(cur);
            return 1;
        }
        outputs[k] = o;
    }
    sf_tensor_release(cur);
    switch (p->misbehave) {
    case 1: sf_set_error(""); return 1;
    case 2: sf_set_error("program failed on purpose"); return 2;
    case 3: sf_set_error(NULL); return -1;
    default: return 0;
    }
}

static int program_callback(void *ud, sf_tensor *const *inputs, size_t n_inputs, sf_tensor **outputs, size_t n_outputs) {
    return run_program((const program *)ud, inputs, n_inputs, outputs, n_outputs);
}

/* ---- custom-function rules: mostly well-shaped answers, sometimes wrong ones ---------------- */

typedef struct custom_info {
    program prog;
    size_t n, m, r;
} custom_info;

/* A tensor shaped like `t` (ops only, so it works on traced values), or a wrong answer. */
static sf_tensor *answer_like(sf_tensor *t) {
    sf_tensor *o = NULL;
    switch (rint_(12)) {
    case 0: return NULL;
    case 1: sf_sum(t, NULL, 0, false, &o); return o;
    case 2: sf_cast(t, SF_INT32, &o); return o;
    case 3: { int64_t s[1] = {7}; sf_zeros(s, 1, SF_FLOAT64, &o); return o; }
    default: { sf_tensor *h = NULL; if (sf_scalar(0.5, &h) == SF_OK) sf_mul(t, h, &o); sf_tensor_release(h); return o; }
    }
}

static int custom_forward(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    return run_program(&((custom_info *)ud)->prog, in, n_in, out, n_out);
}

/* vjp: inputs[n], outputs[m], residuals[r], cotangents[m] -> input cotangents[n] */
static int custom_vjp(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    custom_info *c = ud;
    if (chance(5)) { sf_set_error("vjp fails on purpose"); return 1; }
    for (size_t k = 0; k < n_out; k++) {
        out[k] = k < c->n && k < n_in ? answer_like(in[k]) : NULL;
        if (!out[k] && chance(50)) return 1;
    }
    return 0;
}

/* jvp: inputs[n], outputs[m], tangents[n] -> output tangents[m] */
static int custom_jvp(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    custom_info *c = ud;
    if (chance(5)) return 3;
    for (size_t k = 0; k < n_out; k++) out[k] = c->n + k < n_in ? answer_like(in[c->n + k]) : NULL;
    return 0;
}

static int custom_batch(void *ud, sf_tensor *const *in, const int64_t *in_dims, size_t n_in, int64_t batch_size,
                        sf_tensor **out, int64_t *out_dims, size_t n_out) {
    (void)ud;
    (void)batch_size;
    if (chance(5)) return 1;
    size_t mapped = 0;
    for (size_t k = 0; k < n_in; k++)
        if (in_dims[k] != SF_NOT_MAPPED) { mapped = k; break; }
    for (size_t k = 0; k < n_out; k++) {
        if (n_in == 0) { out[k] = NULL; continue; }
        out[k] = chance(80) ? (sf_tensor_retain(in[mapped]), in[mapped]) : answer_like(in[mapped]);
        out_dims[k] = chance(85) ? in_dims[mapped] : weird();
    }
    return 0;
}

static void free_custom(void *p) {
    programs_freed++;
    free(p);
}

/* ------------------------------------------------------------------------------------------------
 * Functions and transforms
 * ---------------------------------------------------------------------------------------------- */

static sf_function *base_function(size_t *n_in, size_t *n_out) {
    sf_function *f = GARBAGE;
    *n_in = (size_t)rint_(4);
    *n_out = (size_t)rint_(4);
    if (chance(3)) *n_in = chance(50) ? SIZE_MAX : (size_t)1 << 40;
    if (avoid_known && *n_in > (size_t)INT64_MAX) *n_in = (size_t)1 << 40; /* CRASH REPRO 4 */
    if (chance(3)) *n_out = chance(50) ? SIZE_MAX : (size_t)1 << 40;
    if (chance(20)) { /* a custom function */
        sf_custom_function_desc desc = SF_CUSTOM_FUNCTION_DESC_INIT;
        custom_info *c = calloc(1, sizeof *c);
        programs_made++;
        program *p = random_program();
        c->prog = *p;
        free(p);
        programs_freed++;
        c->n = *n_in;
        c->m = *n_out;
        c->r = (size_t)rint_(3);
        c->prog.misbehave = chance(95) ? 0 : c->prog.misbehave;
        if (chance(3)) desc.version = (uint32_t)rnext();
        desc.flags = chance(5) ? (uint32_t)rnext() : (uint32_t)rint_(2);
        desc.name = chance(50) ? "fuzzed" : NULL;
        desc.n_inputs = c->n;
        desc.n_outputs = c->m;
        desc.n_residuals = chance(3) ? SIZE_MAX : c->r;
        desc.forward = chance(3) ? NULL : custom_forward;
        desc.vjp = chance(80) ? custom_vjp : NULL;
        desc.jvp = chance(80) ? custom_jvp : NULL;
        desc.batch = chance(60) ? custom_batch : NULL;
        desc.user_data = c;
        desc.free_user_data = free_custom;
        int version_ok = desc.version == SF_CUSTOM_FUNCTION_DESC_VERSION;
        TRACE("custom_function_new version %u flags %u n %zu m %zu r %zu forward %d vjp %d jvp %d batch %d",
              desc.version, desc.flags, desc.n_inputs, desc.n_outputs, desc.n_residuals, desc.forward != NULL,
              desc.vjp != NULL, desc.jvp != NULL, desc.batch != NULL);
        int null_desc = chance(2);
        sf_status s = sf_custom_function_new(null_desc ? NULL : &desc, &f);
        if (s != SF_OK) {
            check_failure(s, "custom_function_new", 0);
            CHECK(f == NULL);
            /* a desc of another version (or NULL) is not read: free_user_data is ours to call */
            if (!version_ok || null_desc) free_custom(c);
            return NULL;
        }
        return f;
    }
    program *p = random_program();
    TRACE("function_new n_in %zu n_out %zu", *n_in, *n_out);
    sf_status s = sf_function_new(chance(2) ? NULL : program_callback, p, free_program, *n_in, *n_out, &f);
    if (s != SF_OK) {
        check_failure(s, "function_new", 0);
        CHECK(f == NULL);
        return NULL;
    }
    return f;
}

static const int32_t *rargnums(int32_t *arr, size_t *n, size_t n_in) {
    *n = (size_t)rint_(4);
    for (size_t i = 0; i < *n; i++) arr[i] = chance(85) && n_in > 0 ? (int32_t)rint_((int64_t)(n_in < 8 ? n_in : 8)) : (int32_t)weird();
    if (chance(4)) return NULL;
    return arr;
}

/* Wraps f in a random transform (consuming f); NULL on failure. */
static sf_function *transform(sf_function *f, size_t *n_in, size_t *n_out, int *jacobians) {
    sf_function *g = GARBAGE;
    int32_t argnums[8];
    size_t na;
    sf_status s;
    const char *name;
    int kind = (int)rint_(6);
    /* Each Jacobian multiplies the output size: more than two nested ones is legitimately slow. */
    if ((kind == 2 || kind == 3) && *jacobians >= 2) kind = 5;
    if (kind == 4 && *jacobians >= 1) kind = 0;
    *jacobians += kind == 4 ? 2 : kind == 2 || kind == 3 ? 1 : 0;
    switch (kind) {
    case 0:
    case 1: {
        const int32_t *a = rargnums(argnums, &na, *n_in);
        bool aux = chance(30);
        name = kind ? "grad_and_value" : "grad";
        TRACE("%s n_argnums %zu aux %d", name, na, aux);
        s = (kind ? sf_grad_and_value : sf_grad)(f, a, na, aux, &g);
        if (s == SF_OK) *n_out = (a ? na : 1) + (aux && *n_out > 0 ? *n_out - 1 : 0) + (size_t)kind;
        break;
    }
    case 2: {
        const int32_t *a = rargnums(argnums, &na, *n_in);
        bool aux = chance(20);
        int64_t chunk = chance(15) ? weird() : rrange(0, 3);
        name = "jacrev";
        TRACE("jacrev n_argnums %zu aux %d chunk %lld", na, aux, (long long)chunk);
        s = sf_jacrev(f, a, na, aux, chunk, &g);
        if (s == SF_OK) *n_out = 8;
        break;
    }
    case 3: {
        const int32_t *a = rargnums(argnums, &na, *n_in);
        bool aux = chance(20);
        int rnd = renum(3);
        name = "jacfwd";
        TRACE("jacfwd n_argnums %zu aux %d randomness %d", na, aux, rnd);
        s = sf_jacfwd(f, a, na, aux, (sf_randomness)rnd, &g);
        if (s == SF_OK) *n_out = 8;
        break;
    }
    case 4: {
        const int32_t *a = rargnums(argnums, &na, *n_in);
        name = "hessian";
        TRACE("hessian n_argnums %zu", na);
        s = sf_hessian(f, a, na, &g);
        if (s == SF_OK) *n_out = 8;
        break;
    }
    default: {
        int64_t in_dims[10], out_dims[10];
        size_t ni = chance(85) ? *n_in : (size_t)rint_(5), no = chance(85) ? *n_out : (size_t)rint_(5);
        if (ni > 10) ni = 10;
        if (no > 10) no = 10;
        for (size_t i = 0; i < 10; i++) {
            in_dims[i] = chance(20) ? SF_NOT_MAPPED : chance(10) ? weird() : rrange(-2, 2);
            out_dims[i] = chance(5) ? SF_NOT_MAPPED : chance(10) ? weird() : rrange(-2, 2);
        }
        int64_t chunk = chance(15) ? weird() : rrange(0, 3);
        int rnd = renum(3);
        const int64_t *ip = chance(30) ? NULL : in_dims, *op = chance(30) ? NULL : out_dims;
        name = "vmap";
        TRACE("vmap n_in %zu n_out %zu chunk %lld randomness %d", ni, no, (long long)chunk, rnd);
        trace_ints("in_dims", ip, ni);
        trace_ints("out_dims", op, no);
        s = sf_vmap(f, ip, ni, op, no, chunk, (sf_randomness)rnd, &g);
        break;
    }
    }
    sf_function_release(f);
    if (s != SF_OK) {
        check_failure(s, name, 0);
        CHECK(g == NULL);
        return NULL;
    }
    if (!CHECK(g != NULL && g != GARBAGE)) return NULL;
    size_t ai = 0, ao = 0;
    if (CHECK(sf_function_arity(g, &ai, &ao) == SF_OK)) {
        *n_in = ai;
        *n_out = ao;
    }
    return g;
}

/* Inputs for a call: a shared "family" shape (so vmap sizes agree) or pool tensors. */
static void make_inputs(sf_tensor **in, size_t n, sf_tensor **owned) {
    int64_t shape[8];
    size_t nd = small_shape(shape, 3);
    int dt = chance(85) ? SF_FLOAT64 : (int)rint_(5);
    for (size_t i = 0; i < n; i++) {
        owned[i] = NULL;
        if (chance(20)) in[i] = pick();
        else in[i] = owned[i] = from_data(chance(90) ? dt : (int)rint_(5), shape, nd);
    }
}

/* Results of a transform call, kept in the pool only once the call's code is done with them. */
static sf_tensor *later[64];
static int64_t later_numel[64];
static int n_later;

static void keep_later(void) {
    for (int i = 0; i < n_later; i++) keep(later[i], later_numel[i]);
    n_later = 0;
}

static void check_outputs(sf_status s, sf_tensor **outs, size_t n, const char *what) {
    if (s == SF_OK) {
        for (size_t i = 0; i < n; i++) {
            int64_t numel = check_valid(outs[i], what);
            if (outs[i] == GARBAGE) outs[i] = NULL;
            if (n_later < 64) {
                later[n_later] = outs[i];
                later_numel[n_later++] = numel;
            } else {
                sf_tensor_release(outs[i]);
            }
        }
    } else {
        check_failure(s, what, 0);
        for (size_t i = 0; i < n; i++)
            if (!check_record(outs[i] == NULL, __FILE__, __LINE__, "a failed call leaves every output NULL")) {
                fprintf(stderr, "    %s output %zu\n", what, i);
                outs[i] = NULL;
            }
    }
}

static void op_transforms(void) {
    size_t n_in, n_out;
    sf_function *f = base_function(&n_in, &n_out);
    if (!f) return;
    int depth = (int)rint_(4);
    int jacobians = 0;
    for (int d = 0; d < depth && f; d++) f = transform(f, &n_in, &n_out, &jacobians);
    if (!f) return;
    size_t ai = n_in, ao = n_out;
    if (chance(10)) ai = (size_t)rint_(5);
    if (chance(10)) ao = (size_t)rint_(5);
    if (ai > 8 || ao > 8) {
        /* arity too large for our arrays: only a mismatched call */
        ai = ai > 8 ? 8 : ai;
        ao = ao > 8 ? 8 : ao;
    }
    sf_tensor *in[8], *owned[8], *outs[8], *tans[8], *owned_t[8];
    make_inputs(in, ai, owned);
    int mode = (int)rint_(5);
    if (mode <= 1) {
        for (size_t i = 0; i < 8; i++) outs[i] = GARBAGE;
        TRACE("call n_in %zu (arity %zu) n_out %zu (arity %zu)", ai, n_in, ao, n_out);
        for (size_t i = 0; i < ai; i++) trace_tensor("in", in[i]);
        sf_status s = sf_call(f, chance(2) ? NULL : in, ai, outs, ao);
        check_outputs(s, outs, ao, "call");
    } else if (mode == 2) {
        sf_function *pull = GARBAGE;
        for (size_t i = 0; i < 8; i++) outs[i] = GARBAGE;
        TRACE("vjp n %zu n_out %zu", ai, ao);
        for (size_t i = 0; i < ai; i++) trace_tensor("primal", in[i]);
        sf_status s = sf_vjp(f, in, ai, outs, ao, chance(3) ? NULL : &pull);
        check_outputs(s, outs, ao, "vjp");
        if (s == SF_OK && pull) {
            sf_tensor *cot[8], *grads[8], *own[8] = {0};
            for (size_t i = 0; i < ao; i++) cot[i] = chance(80) ? (own[i] = like(outs[i], SF_FLOAT64)) : pick();
            /* like() may drop or squash a dim: sometimes the exact shape instead */
            for (size_t i = 0; i < ao; i++)
                if (chance(50) && outs[i]) {
                    sf_tensor_release(own[i]);
                    own[i] = NULL;
                    size_t nd = ndim_of(outs[i]);
                    int64_t sh[SF_MAX_NDIM];
                    sf_tensor_shape(outs[i], sh, SF_MAX_NDIM);
                    cot[i] = own[i] = from_data(SF_FLOAT64, sh, nd);
                }
            for (size_t i = 0; i < 8; i++) grads[i] = GARBAGE;
            size_t pi = 0, po = 0;
            sf_function_arity(pull, &pi, &po);
            TRACE("pullback n %zu n_out %zu", pi, po);
            s = sf_call(pull, cot, pi > 8 ? 8 : pi, grads, po > 8 ? 8 : po);
            check_outputs(s, grads, po > 8 ? 8 : po, "pullback");
            for (size_t i = 0; i < ao; i++) sf_tensor_release(own[i]);
            sf_function_release(pull);
        } else if (s != SF_OK) {
            CHECK(pull == NULL || pull == GARBAGE);
        }
    } else if (mode == 3) {
        sf_tensor *touts[8];
        for (size_t i = 0; i < ai; i++) {
            owned_t[i] = NULL;
            tans[i] = chance(80) ? (owned_t[i] = like(in[i], SF_FLOAT64)) : pick();
            if (chance(50) && in[i]) {
                sf_tensor_release(owned_t[i]);
                size_t nd = ndim_of(in[i]);
                int64_t sh[SF_MAX_NDIM];
                sf_tensor_shape(in[i], sh, SF_MAX_NDIM);
                tans[i] = owned_t[i] = from_data(SF_FLOAT64, sh, nd);
            }
        }
        for (size_t i = 0; i < 8; i++) outs[i] = touts[i] = GARBAGE;
        TRACE("jvp n %zu n_out %zu", ai, ao);
        sf_status s = sf_jvp(f, in, tans, ai, outs, touts, ao);
        check_outputs(s, outs, ao, "jvp");
        if (s == SF_OK) check_outputs(s, touts, ao, "jvp tangents");
        else for (size_t i = 0; i < ao; i++) CHECK(touts[i] == NULL);
        for (size_t i = 0; i < ai; i++) sf_tensor_release(owned_t[i]);
    } else {
        sf_function *lin = GARBAGE;
        for (size_t i = 0; i < 8; i++) outs[i] = GARBAGE;
        TRACE("linearize n %zu n_out %zu", ai, ao);
        sf_status s = sf_linearize(f, in, ai, outs, ao, &lin);
        check_outputs(s, outs, ao, "linearize");
        if (s == SF_OK) {
            sf_tensor *touts[8];
            for (size_t i = 0; i < 8; i++) touts[i] = GARBAGE;
            s = sf_call(lin, in, ai, touts, ao);
            check_outputs(s, touts, ao, "linearized");
            sf_function_release(lin);
        } else {
            CHECK(lin == NULL);
        }
    }
    for (size_t i = 0; i < ai; i++) sf_tensor_release(owned[i]);
    sf_function_release(f);
    keep_later();
}

/* ------------------------------------------------------------------------------------------------
 * The driver
 * ---------------------------------------------------------------------------------------------- */

static void one_iteration(void) {
    int k = (int)rint_(100);
    if (k < 10) {
        sf_tensor *t = chance(15) ? (dlpack_tensor(1)) : fresh();
        keep(t, t ? 1 : -1);
    } else if (k < 20) op_unary();
    else if (k < 32) op_binary();
    else if (k < 35) op_where();
    else if (k < 43) op_reduce();
    else if (k < 46) op_var();
    else if (k < 48) op_softmax();
    else if (k < 51) op_create();
    else if (k < 55) op_creation_misc();
    else if (k < 67) op_movement();
    else if (k < 69) op_linear();
    else if (k < 72) op_conv2d();
    else if (k < 76) op_indexing();
    else if (k < 79) op_nn();
    else if (k < 83) op_tensor_api();
    else op_transforms();
}

static int run_batch(uint64_t seed, long iterations) {
    rng_state = seed * 0x2545F4914F6CDD1Dull + 1;
    sf_manual_seed(seed);
    for (int i = 0; i < POOL; i++) pool[i] = fresh();
    {
        program *p = calloc(1, sizeof *p);
        programs_made++;
        p->n_steps = 2;
        p->op[0] = 0; /* sin */
        p->op[1] = 4; /* sum */
        sf_function *base = NULL;
        sf_function_new(program_callback, p, free_program, 1, 1, &base);
        sf_grad(base, NULL, 0, false, &nested);
        sf_function_release(base);
    }
    for (long i = 0; i < iterations; i++) {
        TRACE("-- seed %llu iteration %ld", (unsigned long long)seed, i);
        current_op = "?";
        one_iteration();
        if (paranoid_on) /* touch every pool tensor: under ASan a freed one is reported right here */
            for (int k = 0; k < POOL; k++) {
                int64_t numel;
                if (pool[k]) sf_tensor_numel(pool[k], &numel);
            }
    }
    for (int i = 0; i < POOL; i++) {
        sf_tensor_release(pool[i]);
        pool[i] = NULL;
    }
    sf_tensor_release(escaped);
    escaped = NULL;
    sf_function_release(nested);
    nested = NULL;
    if (!check_record(producers_made == producers_deleted && double_deletes == 0, __FILE__, __LINE__,
                      "every DLPack deleter ran exactly once"))
        fprintf(stderr, "    made %d, deleted %d, deleted twice %d\n", producers_made, producers_deleted, double_deletes);
    if (!check_record(programs_made == programs_freed, __FILE__, __LINE__, "every free_user_data ran exactly once"))
        fprintf(stderr, "    made %d, freed %d\n", programs_made, programs_freed);
    if (message_mismatches && verbose_on)
        fprintf(stderr, "note: %d failure messages did not start with the called function's name\n", message_mismatches);
    return check_failed_count;
}

/* ------------------------------------------------------------------------------------------------
 * Minimal reproductions of what the fuzzer found (deterministic)
 * ---------------------------------------------------------------------------------------------- */

/* A call that must not crash and must keep the contract: SF_OK with a valid tensor, or one of
 * `allowed_error` (0: any error) with a "sf_<op>:" message and a NULL out. */
static void expect_contract(sf_status s, sf_tensor **outp, const char *op, sf_status allowed_error, int line) {
    sf_tensor *out = *outp; /* read after the call (argument order is unspecified) */
    char prefix[64];
    snprintf(prefix, sizeof prefix, "sf_%s:", op);
    if (s == SF_OK) {
        if (check_record(out != NULL, __FILE__, line, "repro: a result")) check_valid(out, op);
    } else {
        if (!check_record(allowed_error == 0 || s == allowed_error, __FILE__, line, "repro: the expected status"))
            fprintf(stderr, "    %s: got %d (%s)\n", op, (int)s, sf_last_error());
        if (!check_record(strncmp(sf_last_error(), prefix, strlen(prefix)) == 0, __FILE__, line, "repro: message names the op"))
            fprintf(stderr, "    %s: \"%s\"\n", op, sf_last_error());
        check_record(out == NULL, __FILE__, line, "repro: NULL out on failure");
    }
    sf_tensor_release(out);
}

static void repro_checks(void) {
    double values[6] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6};
    int64_t logits_shape[2] = {2, 3}, target_shape[1] = {2};
    sf_tensor *scalar = NULL, *logits = NULL, *empty = NULL, *out = NULL;
    CHECK_OK(sf_tensor_from_data(values, SF_FLOAT64, NULL, 0, &scalar));
    CHECK_OK(sf_tensor_from_data(values, SF_FLOAT64, logits_shape, 2, &logits));
    /* A zero-element shape whose other dims multiply past int64: [0, 5, 2^62 - 1]. Such shapes are
     * refused (REPRO 3 and 5 below), so no reduction can multiply those dims. */
    int64_t empty_shape[3] = {0, 5, ((int64_t)1 << 62) - 1};
    empty = GARBAGE;
    CHECK_ERROR(sf_zeros(empty_shape, 3, SF_FLOAT32, &empty), SF_ERR_SHAPE, "sf_zeros: shape [0, 5, 4611686018427387903] has more elements");
    CHECK(empty == NULL);

    /* Baselines that work today: the same inputs with other ops. */
    out = GARBAGE;
    expect_contract(sf_var(scalar, NULL, 0, INT64_MIN + 2, false, &out), &out, "var", 0, __LINE__);
    {
        int64_t targets[2] = {0, INT64_MIN};
        sf_tensor *target = NULL;
        CHECK_OK(sf_tensor_from_data(targets, SF_INT64, target_shape, 1, &target));
        out = GARBAGE;
        CHECK_ERROR(sf_cross_entropy(logits, target, SF_REDUCTION_MEAN, &out), SF_ERR_INVALID_ARGUMENT,
                    "sf_cross_entropy: target -9223372036854775808 at position 1");
        CHECK(out == NULL);
        sf_tensor_release(target);
    }

    /* CRASH REPRO 1 (fixed; SIGILL before): sf_var/sf_std trap when count - correction overflows
     * (Composites/Statistics.swift: `count - correction`). A 0-d tensor has count 1. */
    out = GARBAGE;
    expect_contract(sf_var(scalar, NULL, 0, INT64_MIN, false, &out), &out, "var", 0, __LINE__);
    out = GARBAGE;
    expect_contract(sf_std(scalar, NULL, 0, INT64_MIN + 1, false, &out), &out, "std", 0, __LINE__);

    /* CRASH REPRO 2 (fixed; SIGILL before): sf_cross_entropy traps on an int64 target near INT64_MAX: the
     * range check converts targets to Double and back with Int(_:) (DataAccess.swift firstIndex). */
    {
        int64_t targets[2] = {0, INT64_MAX};
        sf_tensor *target = NULL;
        CHECK_OK(sf_tensor_from_data(targets, SF_INT64, target_shape, 1, &target));
        out = GARBAGE;
        CHECK_ERROR(sf_cross_entropy(logits, target, SF_REDUCTION_NONE, &out), SF_ERR_INVALID_ARGUMENT,
                    "sf_cross_entropy: target 9223372036854775807 at position 1");
        CHECK(out == NULL);
        sf_tensor_release(target);
    }
    /* WRONG RESULT REPRO 2b (same cause, no crash): the message of target INT64_MIN + 1 prints
     * -9223372036854775808, the value rounded through Double (fixed). */
    {
        int64_t targets[2] = {0, INT64_MIN + 1};
        sf_tensor *target = NULL;
        CHECK_OK(sf_tensor_from_data(targets, SF_INT64, target_shape, 1, &target));
        out = GARBAGE;
        CHECK_ERROR(sf_cross_entropy(logits, target, SF_REDUCTION_MEAN, &out), SF_ERR_INVALID_ARGUMENT,
                    "target -9223372036854775807 at position 1");
        sf_tensor_release(target);
    }

    /* CRASH REPRO 3 (fixed; SIGILL before): mean, var, std and layer_norm multiplied the reduced
     * sizes of a zero-element tensor like [0, 5, 2^62 - 1] without overflow checks. Such shapes are
     * now refused everywhere (see above and REPRO 5), also through DLPack and expand. */
    {
        int64_t one[3] = {0, 1, 1};
        sf_tensor *small = NULL, *big = GARBAGE;
        CHECK_OK(sf_zeros(one, 3, SF_FLOAT32, &small));
        CHECK_ERROR(sf_expand(small, empty_shape, 3, &big), SF_ERR_SHAPE, "sf_expand:");
        CHECK(big == NULL);
        sf_tensor_release(small);
    }

    /* CRASH REPRO 4 (fixed; SIGILL before): sf_function_new accepts n_inputs >= 2^63 (SIZE_MAX here),
     * which becomes a negative Int ("a function of -1 inputs"; 2^40 is refused with "too many inputs
     * or outputs"), and sf_vmap with NULL in_dims then traps building its all-zero in_dims. Expected:
     * sf_function_new fails with SF_ERR_INVALID_ARGUMENT, or vmap fails cleanly. */
    {
        sf_function *f = NULL, *g = GARBAGE;
        sf_status s = sf_function_new(program_callback, NULL, NULL, SIZE_MAX, 1, &f);
        if (s == SF_OK) {
            s = sf_vmap(f, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_ERROR, &g);
            CHECK(s != SF_OK);
            if (s == SF_OK) sf_function_release(g);
            sf_function_release(f);
        }
        CHECK_ERROR(s, SF_ERR_INVALID_ARGUMENT, "sf_");
        /* WRONG RESULT REPRO 4b (fixed): n_outputs SIZE_MAX was reported as "n_outputs must be at least 1". */
        f = GARBAGE;
        CHECK_ERROR(sf_function_new(program_callback, NULL, NULL, 1, SIZE_MAX, &f), SF_ERR_INVALID_ARGUMENT,
                    "sf_function_new: n_outputs must be between 1 and 65536, got 18446744073709551615");
    }

    /* WRONG RESULT REPRO 5 (fixed): acceptance depended on where the 0 was ([0, INT64_MAX, 4] was
     * accepted, [4, INT64_MAX, 0] refused). Now the product of the nonzero sizes must fit whatever
     * the order, so both are refused, by every function that takes a shape. */
    {
        int64_t first[3] = {0, INT64_MAX, 4}, last[3] = {4, INT64_MAX, 0}, fine[3] = {0, (int64_t)1 << 40, 3};
        sf_tensor *t = GARBAGE;
        CHECK_ERROR(sf_zeros(first, 3, SF_FLOAT32, &t), SF_ERR_SHAPE, "sf_zeros:");
        t = GARBAGE;
        CHECK_ERROR(sf_zeros(last, 3, SF_FLOAT32, &t), SF_ERR_SHAPE, "sf_zeros:");
        t = GARBAGE;
        CHECK_ERROR(sf_tensor_from_data(NULL, SF_FLOAT32, last, 3, &t), SF_ERR_SHAPE, "sf_tensor_from_data:");
        t = NULL;
        CHECK_OK(sf_zeros(fine, 3, SF_FLOAT32, &t));
        sf_tensor_release(t);
    }
    sf_tensor_release(scalar);
    sf_tensor_release(logits);
    sf_tensor_release(empty);
}

static long env_long(const char *name, long fallback) {
    const char *v = getenv(name);
    return v && *v ? strtol(v, NULL, 0) : fallback;
}

int main(void) {
    long iterations = env_long("SF_FUZZ_ITERS", 1500);
    long batches = env_long("SF_FUZZ_BATCHES", 4);
    uint64_t seed = (uint64_t)env_long("SF_FUZZ_SEED", 1);
    int nofork = (int)env_long("SF_FUZZ_NOFORK", 0);
    trace_on = (int)env_long("SF_FUZZ_TRACE", 0);
    verbose_on = (int)env_long("SF_FUZZ_VERBOSE", 0);
    paranoid_on = (int)env_long("SF_FUZZ_PARANOID", 0);
    if (env_long("SF_FUZZ_AVOID_KNOWN", 0)) avoid_known = 1;
    int crashed = 0, failed_batches = 0;
    for (long b = 0; b < batches; b++) {
        uint64_t s = seed + (uint64_t)b;
        if (nofork) {
            if (run_batch(s, iterations)) failed_batches++;
            continue;
        }
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        if (pid == 0) {
            int failures = run_batch(s, iterations);
            printf("  batch seed %llu: %d checks passed, %d failed\n", (unsigned long long)s, check_passed_count,
                   check_failed_count);
            fflush(stdout);
            fflush(stderr);
            exit(failures ? 1 : 0);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        if (WIFSIGNALED(status)) {
            crashed++;
            fprintf(stderr, "CRASH: seed %llu (SF_FUZZ_SEED=%llu SF_FUZZ_BATCHES=1 SF_FUZZ_ITERS=%ld SF_FUZZ_TRACE=1) died with signal %d (%s)\n",
                    (unsigned long long)s, (unsigned long long)s, iterations, WTERMSIG(status), strsignal(WTERMSIG(status)));
        } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            failed_batches++;
            fprintf(stderr, "FAILED: seed %llu exited with status %d\n", (unsigned long long)s, WEXITSTATUS(status));
        }
    }
    check_record(crashed == 0, __FILE__, __LINE__, "no batch crashed");
    check_record(failed_batches == 0, __FILE__, __LINE__, "every batch kept the contract");
    printf("random inputs: %ld batches x %ld iterations from seed %llu, %d crashed, %d failed\n", batches, iterations,
           (unsigned long long)seed, crashed, failed_batches);
    repro_checks();
    return check_summary();
}
