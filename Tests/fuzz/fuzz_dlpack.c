/* fuzz_dlpack.c — libFuzzer harness: DLPack import (sf_from_dlpack, sf_from_dlpack_versioned).
 *
 * The input describes a DLTensor: dtype code/bits/lanes, ndim (negative and past SF_MAX_NDIM
 * included), sizes, strides (NULL or explicit: negative, zero, huge), byte_offset, misalignment,
 * device, NULL pointers, and for the versioned struct the version and flags. The values come from
 * the input too.
 *
 * The rule of what is handed in (docs/testing.md, "Coverage-guided fuzzing"). A DLPack producer
 * promises that every element the description reaches is readable memory; the library cannot check
 * that promise, only that the reach is computable. So the harness computes the reach exactly as the
 * header defines it (element offsets sum(stride * (size - 1)) over dims of size > 1, in bytes from
 * data + byte_offset, all in int64; a size-1 dim's stride is never used) with 128-bit arithmetic:
 *  - reach not representable in int64, or byte_offset >= 2^63: the library must refuse it (the
 *    description is handed in over a real buffer; if the library accepted it, its reads would leave
 *    the buffer and ASan would report them).
 *  - reach representable: the harness allocates a buffer of exactly the reached bytes (plus
 *    decoded padding) and places data so that the reach lies inside it; the library must accept
 *    the description if its other fields are valid and must read exactly the harness's own
 *    strided reading of the buffer. Descriptions that reach more than 1 MiB are skipped: they could
 *    only be handed in by lying about memory (a host contract violation, not a library bug), and so
 *    are byte_offsets in [2^16, 2^63), which the harness reduces modulo 4096. Misaligned data is
 *    copied by the import, so a valid description may also fail with SF_ERR_OUT_OF_MEMORY (stride
 *    0 describes billions of elements over a few bytes).
 * Bool buffers hold 0/1 bytes (DLPack's bool). On success the tensor is read back, reduced, cast,
 * exported through sf_to_dlpack(_versioned) (checked against the same reference, then imported
 * again and released, or deleted directly), and the producer's deleter must run exactly once: when
 * the last view dies, or before the import returns when misaligned data was copied; never on a
 * failed import (the harness then calls it, as the owner). */
#include "fuzz_common.h"

#define MAX_REACH ((int64_t)1 << 20)
#define MAX_COMPARE 65536

typedef struct producer {
    uint8_t *buffer;
    int deleted;
} producer;

static int deleter_calls;

static void producer_release(producer *p) {
    deleter_calls++;
    FZ_REQUIRE(p->deleted == 0, "a DLPack deleter ran twice");
    p->deleted = 1;
    free(p->buffer);
    p->buffer = NULL;
}
static void legacy_deleter(DLManagedTensor *self) { producer_release(self->manager_ctx); }
static void versioned_deleter(struct DLManagedTensorVersioned *self) { producer_release(self->manager_ctx); }

/* A relay around an exported tensor: counts the deleter calls the library makes on re-import. */
typedef struct relay {
    DLManagedTensor *inner;
    int calls;
} relay;
static void relay_deleter(DLManagedTensor *self) {
    relay *r = self->manager_ctx;
    r->calls++;
    FZ_REQUIRE(r->calls == 1, "the deleter of a re-imported tensor ran twice");
    r->inner->deleter(r->inner);
}

/* The harness's own reading of a strided view: row-major element order into `out`. */
static void reference_read(const uint8_t *element0, const int64_t *shape, const int64_t *strides, int nd,
                           size_t item, int64_t numel, uint8_t *out) {
    int64_t index[SF_MAX_NDIM] = {0};
    for (int64_t i = 0; i < numel; i++) {
        int64_t offset = 0;
        for (int d = 0; d < nd; d++) offset += index[d] * strides[d];
        memcpy(out + (size_t)i * item, element0 + offset * (int64_t)item, item);
        for (int d = nd - 1; d >= 0; d--) {
            if (++index[d] < shape[d]) break;
            index[d] = 0;
        }
    }
}

/* The values of an exported tensor, read through its own DLTensor. */
static void check_export(const DLTensor *e, int nd, const int64_t *shape, int dtype, int64_t numel,
                         const uint8_t *expected) {
    FZ_REQUIRE(e->ndim == nd && e->device.device_type == kDLCPU && e->dtype.lanes == 1, "export: ndim %d", e->ndim);
    FZ_REQUIRE(e->dtype.bits == FZ_ITEM[dtype] * 8, "export: %d bits", e->dtype.bits);
    for (int d = 0; d < nd; d++) FZ_REQUIRE(e->shape[d] == shape[d], "export: size %d differs", d);
    if (numel == 0 || numel > MAX_COMPARE) return;
    FZ_REQUIRE(e->strides != NULL && e->data != NULL, "export: NULL strides or data");
    uint8_t *got = malloc((size_t)numel * FZ_ITEM[dtype]);
    reference_read((const uint8_t *)e->data + e->byte_offset, shape, e->strides, nd, FZ_ITEM[dtype], numel, got);
    FZ_REQUIRE(memcmp(got, expected, (size_t)numel * FZ_ITEM[dtype]) == 0, "export: values differ");
    free(got);
}

/* Kernels that read an imported (strided, foreign) tensor: each must keep the contract. */
static void exercise(sf_tensor *x, int rank, fz_reader *in) {
    sf_tensor *r = FZ_GARBAGE;
    fz_check_result(sf_sum(x, NULL, 0, false, &r), r, "sum");
    sf_tensor_release(r);
    int64_t dim = fz_dim(in, rank);
    r = FZ_GARBAGE;
    fz_check_result(sf_amax(x, &dim, 1, fz_bool(in), &r), r, "amax");
    sf_tensor_release(r);
    r = FZ_GARBAGE;
    fz_check_result(sf_cumsum(x, dim, &r), r, "cumsum");
    sf_tensor_release(r);
    r = FZ_GARBAGE;
    fz_check_result(sf_cast(x, (sf_dtype)fz_dtype(in), &r), r, "cast");
    sf_tensor_release(r);
    r = FZ_GARBAGE;
    fz_check_result(sf_flip(x, &dim, 1, &r), r, "flip");
    sf_tensor_release(r);
}

static int64_t checked(__int128 v, bool *overflow) {
    if (v > INT64_MAX || v < INT64_MIN) *overflow = true;
    return (int64_t)v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_reader in = {data, size, 0};
    fz_reset_library();
    deleter_calls = 0;

    /* ---- decode the description ---- */
    uint8_t mode = fz_u8(&in);
    bool versioned = mode & 1, null_strides = mode & 2, export_versioned = mode & 4, null_data = mode & 8;
    bool null_shape = (mode & 0x30) == 0x30, wild_offset = mode & 0x40, reimport = mode & 0x80;
    static const uint8_t codes[5] = {kDLFloat, kDLFloat, kDLInt, kDLInt, 6 /* kDLBool */};
    int dtype = -1;
    DLDataType type;
    uint8_t b = fz_u8(&in);
    if (b < 200) {
        dtype = b % 5;
        type.code = codes[dtype];
        type.bits = (uint8_t)(FZ_ITEM[dtype] * 8);
    } else {
        type.code = fz_u8(&in);
        type.bits = fz_u8(&in);
        for (int k = 0; k < 5; k++) /* a raw pair may still name a supported dtype */
            if (type.code == codes[k] && type.bits == FZ_ITEM[k] * 8) dtype = k;
    }
    b = fz_u8(&in);
    type.lanes = b < 240 ? 1 : fz_u16(&in);
    static const int32_t wild_ndim[] = {-1, 17, 16, INT32_MIN, INT32_MAX, 255, -17, 100};
    b = fz_u8(&in);
    int32_t ndim = b < 200 ? b % 7 : wild_ndim[b % FZ_COUNT(wild_ndim)];
    DLDevice device = {kDLCPU, 0};
    b = fz_u8(&in);
    if (b >= 240) device.device_type = (DLDeviceType)fz_u8(&in);
    else if (b >= 200) device.device_id = (int32_t)fz_int(&in);
    int rank = ndim >= 0 && ndim <= SF_MAX_NDIM ? ndim : 0;
    int64_t shape[SF_MAX_NDIM] = {0}, strides[SF_MAX_NDIM] = {0};
    for (int d = 0; d < rank; d++) shape[d] = fz_size(&in);
    for (int d = 0; d < rank; d++) strides[d] = fz_int(&in);
    uint64_t byte_offset = wild_offset ? fz_u64(&in) : fz_u8(&in);
    size_t pre = fz_u8(&in) % 64, misalign = fz_u8(&in) % 8;
    uint32_t major = 1, minor = 0;
    uint64_t flags = 0;
    if (versioned) {
        b = fz_u8(&in);
        if (b >= 250) major = (uint32_t)fz_bytes(&in, 4);
        minor = fz_u8(&in);
        flags = fz_u8(&in) >= 200 ? fz_u64(&in) : 0;
    }

    /* ---- what the library must do with it ---- */
    size_t item = dtype >= 0 ? FZ_ITEM[dtype] : 1;
    bool valid_fields = !(versioned && major != 1) && device.device_type == kDLCPU && dtype >= 0 &&
                        type.lanes == 1 && ndim >= 0 && ndim <= SF_MAX_NDIM && !(ndim > 0 && null_shape);
    int64_t numel = valid_fields ? fz_shape_numel(shape, (size_t)rank, item) : -1;
    valid_fields = valid_fields && numel >= 0;
    int64_t effective[SF_MAX_NDIM]; /* the strides the reading uses (row-major when NULL) */
    {
        int64_t s = 1;
        for (int d = rank - 1; d >= 0; d--) {
            effective[d] = null_strides ? s : strides[d];
            if (shape[d] > 0) s = (int64_t)((__int128)s * shape[d] > INT64_MAX ? 1 : s * shape[d]);
        }
    }
    bool overflow = false;
    int64_t lowest = 0, highest = 0, low_bytes = 0, byte_count = 0;
    if (valid_fields && numel > 0) {
        for (int d = 0; d < rank; d++) {
            if (shape[d] <= 1) continue;
            int64_t extent = checked((__int128)effective[d] * (shape[d] - 1), &overflow);
            if (extent < 0) lowest = checked((__int128)lowest + extent, &overflow);
            else highest = checked((__int128)highest + extent, &overflow);
        }
        low_bytes = checked((__int128)lowest * (int64_t)item, &overflow);
        int64_t high_bytes = checked((__int128)highest * (int64_t)item, &overflow);
        int64_t span = checked((__int128)high_bytes - low_bytes, &overflow);
        byte_count = checked((__int128)span + (int64_t)item, &overflow);
        if (byte_offset > (uint64_t)INT64_MAX) overflow = true;
        else if (byte_offset >= 65536) byte_offset %= 4096; /* see the rule above */
        if (!overflow && byte_count > MAX_REACH) return 0;
        if (null_data) overflow = true; /* NULL data with elements: refused as well */
    }
    bool must_accept = valid_fields && !overflow;

    /* ---- the producer's memory ---- */
    producer *p = calloc(1, sizeof *p);
    size_t reach = must_accept && numel > 0 ? (size_t)byte_count : 0;
    size_t bytes = pre + misalign + reach;
    p->buffer = malloc(bytes ? bytes : 1);
    for (size_t i = 0; i < bytes; i++) p->buffer[i] = dtype == SF_BOOL ? fz_u8(&in) & 1 : (uint8_t)(fz_u8(&in) ^ (i * 157));
    uint8_t *element0 = p->buffer + pre + misalign + (must_accept ? -low_bytes : 0);
    DLTensor t;
    memset(&t, 0, sizeof t);
    t.data = null_data ? NULL : (void *)((uintptr_t)element0 - (uintptr_t)byte_offset);
    t.byte_offset = null_data ? 0 : byte_offset;
    t.device = device;
    t.ndim = ndim;
    t.dtype = type;
    t.shape = null_shape ? NULL : shape;
    t.strides = null_strides ? NULL : strides;

    bool copied = must_accept && numel > 0 && ((uintptr_t)element0 % item) != 0; /* empty views copy nothing */
    uint8_t *expected = NULL;
    if (must_accept && numel > 0 && numel <= MAX_COMPARE) {
        expected = malloc((size_t)numel * item);
        reference_read(element0, shape, effective, rank, item, numel, expected);
    }

    DLManagedTensor legacy = {t, p, legacy_deleter};
    struct DLManagedTensorVersioned modern = {{major, minor}, p, versioned_deleter, flags, t};
    sf_tensor *x = FZ_GARBAGE;
    const char *op = versioned ? "from_dlpack_versioned" : "from_dlpack";
    sf_status s = versioned ? sf_from_dlpack_versioned(&modern, &x) : sf_from_dlpack(&legacy, &x);
    if (s != SF_OK) {
        fz_check_failure(s, op);
        FZ_REQUIRE(x == NULL, "%s failed but left *out set", op);
        /* misaligned data is copied: numel elements (maybe billions through stride 0) may pass the limit */
        FZ_REQUIRE(!must_accept || (copied && s == SF_ERR_OUT_OF_MEMORY), "%s refused a valid description (numel %lld)",
                   op, (long long)numel);
        FZ_REQUIRE(deleter_calls == 0, "a failed import called the deleter");
        producer_release(p);
        free(p);
        free(expected);
        return 0;
    }
    FZ_REQUIRE(must_accept, "%s accepted an invalid description", op);
    FZ_REQUIRE(deleter_calls == (copied ? 1 : 0), "after the import the deleter ran %d times (misaligned %d)",
               deleter_calls, copied);
    fz_check_tensor(x, op);

    /* ---- the values against the harness's own reading (made before the import: a copying
     * import frees the producer's memory before it returns) ---- */
    if (expected) {
        uint8_t *got = malloc((size_t)numel * item);
        FZ_REQUIRE(sf_tensor_copy_to(x, got, (size_t)numel * item) == SF_OK, "copy_to of an import failed");
        FZ_REQUIRE(memcmp(got, expected, (size_t)numel * item) == 0, "an import reads other values than its memory");
        free(got);
    }

    /* ---- kernels reading the strided foreign memory (not over billions of stride-0 elements,
     * which is valid but slow) ---- */
    if (numel <= MAX_COMPARE) exercise(x, rank, &in);

    /* ---- export, then delete or import again ---- */
    DLManagedTensor *e = FZ_GARBAGE;
    struct DLManagedTensorVersioned *ev = FZ_GARBAGE;
    s = export_versioned ? sf_to_dlpack_versioned(x, &ev) : sf_to_dlpack(x, &e);
    FZ_REQUIRE(s == SF_OK, "export of an imported tensor failed");
    const DLTensor *et = export_versioned ? &ev->dl_tensor : &e->dl_tensor;
    check_export(et, rank, shape, dtype, numel, expected);
    if (export_versioned) {
        FZ_REQUIRE(ev->version.major == 1, "export: version %u", ev->version.major);
        FZ_REQUIRE(ev->flags == (copied ? 0u : 1u), "export: flags %llu (read-only iff foreign storage)",
                   (unsigned long long)ev->flags);
    }
    sf_tensor_release(x); /* the export keeps the storage alive */
    FZ_REQUIRE(deleter_calls == (copied ? 1 : 0), "the deleter ran while an export still views the memory");
    if (reimport && !export_versioned) {
        relay rl = {e, 0};
        DLManagedTensor wrapped = {e->dl_tensor, &rl, relay_deleter};
        sf_tensor *y = FZ_GARBAGE;
        FZ_REQUIRE(sf_from_dlpack(&wrapped, &y) == SF_OK, "re-import of an export failed");
        if (expected) {
            uint8_t *got = malloc((size_t)numel * item);
            FZ_REQUIRE(sf_tensor_copy_to(y, got, (size_t)numel * item) == SF_OK, "copy_to of a re-import failed");
            FZ_REQUIRE(memcmp(got, expected, (size_t)numel * item) == 0, "a re-import reads other values");
            free(got);
        }
        sf_tensor_release(y);
        FZ_REQUIRE(rl.calls == 1, "the re-imported tensor's deleter ran %d times", rl.calls);
    } else if (export_versioned) {
        ev->deleter(ev);
    } else {
        e->deleter(e);
    }
    FZ_REQUIRE(deleter_calls == 1, "the producer's deleter ran %d times", deleter_calls);
    free(expected);
    free(p);
    return 0;
}
