/* fuzz_common.h — what the libFuzzer harnesses (Tests/fuzz/fuzz_*.c) share: a reader that decodes
 * the fuzz input into numbers (wild values included), the status contract of the C ABI as fatal
 * checks (a violation aborts, so libFuzzer reports it with the input), and small tensor makers.
 *
 * The contract (include/swiftfunc.h): every call returns a valid sf_status; on failure
 * sf_last_error() is a non-empty "sf_..." message and every `out` is NULL; on success every output
 * is a readable tensor (rank <= SF_MAX_NDIM, sizes >= 0, numel their product, copy_to works, bools
 * 0 or 1). A crash, an ASan/UBSan report, a leak (LSan) or a timeout is a finding as well.
 *
 * Everything is `static inline` (a harness may use part of it under -Wall -Wextra -Werror). */
#ifndef SWIFTFUNC_FUZZ_COMMON_H
#define SWIFTFUNC_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swiftfunc.h"

/* A sentinel for `out` pointers: every failing call must overwrite it with NULL. */
#define FZ_GARBAGE ((void *)(uintptr_t)0x1)
#define FZ_COUNT(array) (sizeof(array) / sizeof((array)[0]))
/* Results with more elements are checked (numel, shape) but not read back nor kept. */
#define FZ_MAX_READ 4096
/* The memory the library may hold (sf_set_memory_limit): a valid request for gigabytes must give
 * SF_ERR_OUT_OF_MEMORY instead of filling the machine. */
#define FZ_MEMORY_LIMIT ((uint64_t)64 << 20)

static const size_t FZ_ITEM[5] = {4, 8, 4, 8, 1};

/* Huge-but-valid host allocations must fail cleanly, not abort the run; libFuzzer's own -rss_limit
 * still bounds the process. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

/* ---- fatal checks -------------------------------------------------------------------------- */

#define FZ_REQUIRE(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: contract violated: %s\n    ", __FILE__, __LINE__, #cond);      \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n    sf_last_error: \"%s\"\n", sf_last_error());                     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A failed call: a valid non-OK status and a "sf_..." message. */
static inline void fz_check_failure(sf_status s, const char *op) {
    const char *msg = sf_last_error();
    FZ_REQUIRE((int)s >= 1 && (int)s <= 9, "%s returned status %d", op, (int)s);
    FZ_REQUIRE(msg != NULL && strncmp(msg, "sf_", 3) == 0 && strlen(msg) > 4, "%s: status %d, message \"%s\"", op,
               (int)s, msg ? msg : "(null)");
    FZ_REQUIRE(s != SF_ERR_INTERNAL, "%s gave SF_ERR_INTERNAL (a library bug by definition)", op);
}

/* A tensor a successful call returned: readable and consistent. Returns its numel. */
static inline int64_t fz_check_tensor(sf_tensor *t, const char *op) {
    FZ_REQUIRE(t != NULL && t != FZ_GARBAGE, "%s succeeded without a tensor", op);
    size_t nd = 99;
    sf_dtype dt = (sf_dtype)99;
    int64_t numel = -1, shape[SF_MAX_NDIM];
    FZ_REQUIRE(sf_tensor_ndim(t, &nd) == SF_OK && nd <= SF_MAX_NDIM, "%s: rank %zu", op, nd);
    FZ_REQUIRE(sf_tensor_dtype(t, &dt) == SF_OK && (unsigned)dt < 5, "%s: dtype %d", op, (int)dt);
    FZ_REQUIRE(sf_tensor_shape(t, shape, SF_MAX_NDIM) == SF_OK, "%s: shape unreadable", op);
    FZ_REQUIRE(sf_tensor_numel(t, &numel) == SF_OK, "%s: numel unreadable", op);
    __int128 product = 1;
    for (size_t i = 0; i < nd; i++) {
        FZ_REQUIRE(shape[i] >= 0, "%s: size %lld", op, (long long)shape[i]);
        product *= shape[i];
        if (product > INT64_MAX) product = INT64_MAX; /* a zero later still makes it 0 */
    }
    FZ_REQUIRE(product == numel, "%s: numel %lld is not the product of the shape", op, (long long)numel);
    if (numel <= FZ_MAX_READ) {
        size_t bytes = (size_t)numel * FZ_ITEM[dt];
        unsigned char *buffer = malloc(bytes + 1);
        sf_status s = sf_tensor_copy_to(t, numel ? buffer : NULL, bytes);
        FZ_REQUIRE(s == SF_OK, "%s: copy_to of the result failed", op);
        if (dt == SF_BOOL)
            for (int64_t i = 0; i < numel; i++) FZ_REQUIRE(buffer[i] <= 1, "%s: bool byte %u", op, buffer[i]);
        free(buffer);
    }
    return numel;
}

/* The result of a call with one `out`: checked on success, NULL and a message on failure. */
static inline int64_t fz_check_result(sf_status s, sf_tensor *out, const char *op) {
    if (s == SF_OK) return fz_check_tensor(out, op);
    fz_check_failure(s, op);
    FZ_REQUIRE(out == NULL, "%s failed but left *out set", op);
    return -1;
}

/* ---- the input reader ---------------------------------------------------------------------- */

/* Reads the fuzz input front to back; past its end every read gives 0 (so short inputs are
 * meaningful and libFuzzer's mutations stay local). */
typedef struct fz_reader {
    const uint8_t *data;
    size_t size, pos;
} fz_reader;

static inline uint8_t fz_u8(fz_reader *r) { return r->pos < r->size ? r->data[r->pos++] : 0; }
static inline uint64_t fz_bytes(fz_reader *r, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)fz_u8(r) << (8 * i);
    return v;
}
static inline uint16_t fz_u16(fz_reader *r) { return (uint16_t)fz_bytes(r, 2); }
static inline uint64_t fz_u64(fz_reader *r) { return fz_bytes(r, 8); }
static inline bool fz_bool(fz_reader *r) { return fz_u8(r) & 1; }
static inline bool fz_done(const fz_reader *r) { return r->pos >= r->size; }
/* An integer in [0, n) (0 when n <= 0). */
static inline int64_t fz_below(fz_reader *r, int64_t n) { return n <= 0 ? 0 : (int64_t)(fz_u16(r) % (uint64_t)n); }

/* Integers that break careless arithmetic. */
static const int64_t FZ_WEIRD[] = {INT64_MIN, INT64_MIN + 1, INT64_MAX, INT64_MAX - 1, -1, -2, -17, 16, 17,
                                   (int64_t)1 << 31, INT32_MAX, INT32_MIN, (int64_t)1 << 62, -((int64_t)1 << 62),
                                   (int64_t)1 << 45, 1000, (int64_t)1 << 32, 65536};

/* A small integer in [-8, 23] from most bytes (0 from 0, so the input's end reads as 0); a weird one (or all 8 bytes of the input) from
 * the top byte values, so a mutation of one byte reaches every case. */
static inline int64_t fz_int(fz_reader *r) {
    uint8_t b = fz_u8(r);
    if (b < 224) return b % 32 < 24 ? (int64_t)(b % 32) : (int64_t)(b % 32) - 32;
    if (b < 224 + FZ_COUNT(FZ_WEIRD)) return FZ_WEIRD[b - 224];
    return (int64_t)fz_u64(r);
}

/* A dim for a rank-`ndim` tensor: mostly in range. */
static inline int64_t fz_dim(fz_reader *r, int64_t ndim) {
    uint8_t b = fz_u8(r);
    if (b >= 240) return FZ_WEIRD[b % FZ_COUNT(FZ_WEIRD)];
    int64_t span = 2 * ndim + 2;
    return (int64_t)(b % span) - ndim - 1;
}

/* A size: mostly 0-5, sometimes negative or past anything allocatable. */
static inline int64_t fz_size(fz_reader *r) {
    uint8_t b = fz_u8(r);
    if (b < 200) return (int64_t)(b % 6) == 5 ? 1 : (int64_t)(b % 6);
    if (b < 240) return b % 5;
    return FZ_WEIRD[b % FZ_COUNT(FZ_WEIRD)];
}

static inline double fz_double(fz_reader *r) {
    static const double special[] = {0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 1e300, -1e300, 1e-310, 1e18,
                                     __builtin_nan(""), __builtin_inf(), -__builtin_inf(), 3.0, 1e-5, 0.1};
    uint8_t b = fz_u8(r);
    if (b < 128) return ((double)b - 64.0) / 16.0;
    if (b < 128 + FZ_COUNT(special)) return special[b - 128];
    if (b == 255) {
        uint64_t bits = fz_u64(r);
        double d;
        memcpy(&d, &bits, sizeof d);
        return d;
    }
    return (double)(b - 150);
}

/* A dtype: valid mostly, out of range sometimes. */
static inline int fz_dtype(fz_reader *r) {
    static const int bad[] = {-1, 5, 6, 1000, INT32_MIN, INT32_MAX};
    uint8_t b = fz_u8(r);
    if (b >= 250) return bad[b - 250];
    return b % 5;
}

/* A string of at most `cap - 1` bytes (length-prefixed in the input), NUL-terminated. */
static inline const char *fz_string(fz_reader *r, char *buffer, size_t cap) {
    size_t n = fz_u8(r) % cap;
    for (size_t i = 0; i < n; i++) buffer[i] = (char)fz_u8(r);
    buffer[n] = 0;
    return buffer;
}

/* ---- tensors ------------------------------------------------------------------------------- */

/* Numel of a shape, -1 when a size is negative or the product of the nonzero sizes times the
 * element size passes int64 (the header's rule: then the shape is refused even if empty). */
static inline int64_t fz_shape_numel(const int64_t *shape, size_t nd, size_t item) {
    __int128 product = (__int128)item, count = 1;
    for (size_t i = 0; i < nd; i++) {
        if (shape[i] < 0) return -1;
        if (shape[i] > 0) product *= shape[i];
        if (product > INT64_MAX) return -1;
        count *= shape[i];
    }
    return (int64_t)count;
}

/* Fills n elements of `dtype` from the input (bools 0/1), cycling through it. */
static inline void fz_fill(fz_reader *r, void *buffer, int dtype, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        switch (dtype) {
        case SF_FLOAT32: ((float *)buffer)[i] = (float)fz_double(r); break;
        case SF_FLOAT64: ((double *)buffer)[i] = fz_double(r); break;
        case SF_INT32: ((int32_t *)buffer)[i] = (int32_t)fz_int(r); break;
        case SF_INT64: ((int64_t *)buffer)[i] = fz_int(r); break;
        default: ((uint8_t *)buffer)[i] = fz_u8(r) & 1; break;
        }
    }
}

/* A tensor from data of the given valid dtype and shape with at most FZ_MAX_READ elements; NULL
 * (after checking that from_data refuses it) otherwise. */
static inline sf_tensor *fz_from_data(fz_reader *r, int dtype, const int64_t *shape, size_t nd) {
    int64_t n = (unsigned)dtype < 5 ? fz_shape_numel(shape, nd, FZ_ITEM[dtype]) : -1;
    if (n > FZ_MAX_READ || nd > SF_MAX_NDIM) return NULL;
    void *buffer = malloc(n > 0 ? (size_t)n * 8 : 8);
    if (n > 0) fz_fill(r, buffer, dtype, n);
    sf_tensor *t = FZ_GARBAGE;
    sf_status s = sf_tensor_from_data(n > 0 ? buffer : NULL, (sf_dtype)dtype, shape, nd, &t);
    free(buffer);
    if (n < 0) {
        FZ_REQUIRE(s != SF_OK, "from_data accepted an invalid shape or dtype");
        fz_check_failure(s, "tensor_from_data");
        FZ_REQUIRE(t == NULL, "from_data failed but left *out set");
        return NULL;
    }
    FZ_REQUIRE(s == SF_OK, "from_data of a valid shape failed");
    return t;
}

/* The rank and shape of a tensor (0 for NULL). */
static inline size_t fz_shape_of(sf_tensor *t, int64_t *shape) {
    size_t nd = 0;
    if (!t || sf_tensor_ndim(t, &nd) != SF_OK || sf_tensor_shape(t, shape, SF_MAX_NDIM) != SF_OK) return 0;
    return nd;
}

/* Library settings every harness runs with: one thread (deterministic, and the machine is shared)
 * and a memory limit (see FZ_MEMORY_LIMIT). Called at the start of every input. */
static inline void fz_reset_library(void) {
    static int once;
    if (!once) {
        once = 1;
        sf_set_num_threads(1);
        sf_set_memory_limit(FZ_MEMORY_LIMIT);
    }
    sf_manual_seed(0);
}

#endif /* SWIFTFUNC_FUZZ_COMMON_H */
