/* test_library.c — the library-level C ABI: versions, errors, handle lifetime, data in/out, argument
 * validation, and DLPack import/export with a C-owned producer that counts its deleter calls.
 * Runs plain and under AddressSanitizer/LeakSanitizer (make c-test, make asan-test). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "swiftfunc.h"

#define DLPACK_FLAG_READ_ONLY (1ULL << 0)
#define DL_BOOL_CODE 6

/* ------------------------------------------------------------------------------------------------
 * A C-owned DLPack producer. Its tensor memory and the structs are malloc'd and freed by the
 * deleter, so ASan reports any read of imported memory after the deleter ran.
 * ---------------------------------------------------------------------------------------------- */

static int deleter_calls;

typedef struct producer {
    DLManagedTensor legacy;
    struct DLManagedTensorVersioned versioned;
    int64_t shape[20];
    int64_t strides[20];
    unsigned char *block;
} producer;

static void producer_free(producer *p) {
    deleter_calls++;
    free(p->block);
    free(p);
}

static void legacy_deleter(DLManagedTensor *self) { producer_free((producer *)self->manager_ctx); }

static void versioned_deleter(struct DLManagedTensorVersioned *self) {
    producer_free((producer *)self->manager_ctx);
}

/* A producer holding a copy of `bytes`; data = block + data_shift, so element [0, ...] is at
 * block + data_shift + byte_offset. shape/strides are copied (strides NULL stays NULL). */
static producer *produce(const void *bytes, size_t n_bytes, size_t data_shift, DLDataType dtype,
                         int32_t ndim, const int64_t *shape, const int64_t *strides,
                         uint64_t byte_offset) {
    producer *p = calloc(1, sizeof *p);
    p->block = malloc(n_bytes + 16);
    memset(p->block, 0, n_bytes + 16);
    if (bytes) memcpy(p->block, bytes, n_bytes);
    for (int32_t i = 0; i < ndim && i < 20; i++) {
        p->shape[i] = shape[i];
        if (strides) p->strides[i] = strides[i];
    }
    DLTensor t;
    memset(&t, 0, sizeof t);
    t.data = p->block + data_shift;
    t.device.device_type = kDLCPU;
    t.device.device_id = 0;
    t.ndim = ndim;
    t.dtype = dtype;
    t.shape = p->shape;
    t.strides = strides ? p->strides : NULL;
    t.byte_offset = byte_offset;
    p->legacy.dl_tensor = t;
    p->legacy.manager_ctx = p;
    p->legacy.deleter = legacy_deleter;
    p->versioned.version.major = 1;
    p->versioned.version.minor = 0;
    p->versioned.manager_ctx = p;
    p->versioned.deleter = versioned_deleter;
    p->versioned.flags = 0;
    p->versioned.dl_tensor = t;
    return p;
}

static DLDataType dl_type(uint8_t code, uint8_t bits, uint16_t lanes) {
    DLDataType t;
    t.code = code;
    t.bits = bits;
    t.lanes = lanes;
    return t;
}

static const double ramp[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};

/* Reads a float64 tensor of n elements and compares it with `expected`. */
static void check_f64_values(sf_tensor *t, const double *expected, size_t n, int line) {
    double got[64];
    if (!check_record(n <= 64, __FILE__, line, "n <= 64")) return;
    sf_status s = sf_tensor_copy_to(t, n ? got : NULL, n * sizeof(double));
    if (!check_record(s == SF_OK, __FILE__, line, "sf_tensor_copy_to == SF_OK")) {
        fprintf(stderr, "    status %d: %s\n", (int)s, sf_last_error());
        return;
    }
    int same = 1;
    for (size_t i = 0; i < n; i++) same &= got[i] == expected[i];
    if (!check_record(same, __FILE__, line, "values equal the expected values")) {
        for (size_t i = 0; i < n; i++) fprintf(stderr, "    [%zu] got %g expected %g\n", i, got[i], expected[i]);
    }
}
#define CHECK_F64_VALUES(t, expected, n) check_f64_values((t), (expected), (n), __LINE__)

static void check_shape(sf_tensor *t, const int64_t *expected, size_t ndim, int line) {
    size_t got_ndim = 99;
    int64_t got[SF_MAX_NDIM + 1];
    check_record(sf_tensor_ndim(t, &got_ndim) == SF_OK && got_ndim == ndim, __FILE__, line, "ndim matches");
    check_record(sf_tensor_shape(t, got, SF_MAX_NDIM) == SF_OK, __FILE__, line, "sf_tensor_shape == SF_OK");
    int same = 1;
    for (size_t i = 0; i < ndim; i++) same &= got[i] == expected[i];
    check_record(same, __FILE__, line, "shape matches");
}
#define CHECK_SHAPE(t, expected, ndim) check_shape((t), (expected), (ndim), __LINE__)

/* ------------------------------------------------------------------------------------------------
 * Versions, errors, handles
 * ---------------------------------------------------------------------------------------------- */

static void test_versions_and_errors(void) {
    CHECK_EQ(sf_abi_version(), SF_ABI_VERSION);
    char expected[32];
    snprintf(expected, sizeof expected, "%d.%d.%d", SF_VERSION_MAJOR, SF_VERSION_MINOR, SF_VERSION_PATCH);
    CHECK(sf_version() != NULL && strcmp(sf_version(), expected) == 0);

    CHECK(sf_last_error() != NULL);
    int64_t shape[4];
    CHECK_ERROR(sf_tensor_shape(NULL, shape, 4), SF_ERR_INVALID_ARGUMENT, "sf_tensor_shape");
    CHECK(sf_last_error() != NULL);

    sf_set_error("my callback failed: 42");
    CHECK(strcmp(sf_last_error(), "my callback failed: 42") == 0);
    sf_set_error(NULL);
    CHECK(sf_last_error() != NULL && sf_last_error()[0] == '\0');

    /* The message is copied: changing the caller's buffer does not change it. */
    char buffer[16] = "first";
    sf_set_error(buffer);
    strcpy(buffer, "second");
    CHECK(strcmp(sf_last_error(), "first") == 0);
}

static void test_retain_release(void) {
    sf_tensor_retain(NULL);
    sf_tensor_release(NULL);
    double v = 3.5;
    sf_tensor *t = NULL;
    CHECK_OK(sf_tensor_from_data(&v, SF_FLOAT64, NULL, 0, &t));
    sf_tensor_retain(t);
    sf_tensor_release(t);
    double got = 0;
    CHECK_OK(sf_tensor_copy_to(t, &got, sizeof got));
    CHECK(got == 3.5);
    sf_tensor_release(t);
}

/* ------------------------------------------------------------------------------------------------
 * sf_tensor_from_data and the inspection functions
 * ---------------------------------------------------------------------------------------------- */

static void round_trip(sf_dtype dtype, const void *data, size_t item, const int64_t *shape, size_t ndim,
                       int64_t numel, int line) {
    sf_tensor *t = GARBAGE;
    sf_status s = sf_tensor_from_data(data, dtype, shape, ndim, &t);
    if (!check_record(s == SF_OK, __FILE__, line, "sf_tensor_from_data == SF_OK")) {
        fprintf(stderr, "    %s\n", sf_last_error());
        return;
    }
    size_t got_ndim = 99;
    sf_dtype got_dtype = (sf_dtype)99;
    int64_t got_numel = -1;
    check_record(sf_tensor_ndim(t, &got_ndim) == SF_OK && got_ndim == ndim, __FILE__, line, "ndim");
    check_record(sf_tensor_dtype(t, &got_dtype) == SF_OK && got_dtype == dtype, __FILE__, line, "dtype");
    check_record(sf_tensor_numel(t, &got_numel) == SF_OK && got_numel == numel, __FILE__, line, "numel");
    check_shape(t, shape, ndim, line);
    unsigned char out[256];
    memset(out, 0xAB, sizeof out);
    size_t bytes = (size_t)numel * item;
    check_record(sf_tensor_copy_to(t, numel ? out : NULL, bytes) == SF_OK, __FILE__, line, "copy_to");
    check_record(bytes == 0 || memcmp(out, data, bytes) == 0, __FILE__, line, "copied bytes equal the input");
    /* A wrong byte count is refused. */
    check_record(sf_tensor_copy_to(t, out, bytes + 1) == SF_ERR_INVALID_ARGUMENT, __FILE__, line,
                 "copy_to with a wrong size fails");
    sf_tensor_release(t);
}

static void test_from_data_round_trips(void) {
    const int64_t s23[2] = {2, 3}, s0[2] = {0, 5}, s1[1] = {6}, s3d[3] = {1, 2, 3};
    const float f32[6] = {1.5f, -2.0f, 3.25f, 0.0f, -0.0f, 1e30f};
    const double f64[6] = {1.5, -2.0, 3.25, 1e-300, -7.0, 1e300};
    const int32_t i32[6] = {1, -2, 2147483647, -2147483647 - 1, 0, 7};
    const int64_t i64[6] = {1, -2, INT64_MAX, INT64_MIN, 0, 7};
    const unsigned char b8[6] = {1, 0, 1, 1, 0, 0};

    round_trip(SF_FLOAT32, f32, 4, s23, 2, 6, __LINE__);
    round_trip(SF_FLOAT64, f64, 8, s23, 2, 6, __LINE__);
    round_trip(SF_INT32, i32, 4, s23, 2, 6, __LINE__);
    round_trip(SF_INT64, i64, 8, s23, 2, 6, __LINE__);
    round_trip(SF_BOOL, b8, 1, s23, 2, 6, __LINE__);
    round_trip(SF_FLOAT64, f64, 8, s1, 1, 6, __LINE__);
    round_trip(SF_INT32, i32, 4, s3d, 3, 6, __LINE__);
    /* rank 0 (shape may be NULL) */
    round_trip(SF_FLOAT32, f32, 4, NULL, 0, 1, __LINE__);
    round_trip(SF_FLOAT64, f64, 8, NULL, 0, 1, __LINE__);
    round_trip(SF_INT32, i32, 4, NULL, 0, 1, __LINE__);
    round_trip(SF_INT64, i64, 8, NULL, 0, 1, __LINE__);
    round_trip(SF_BOOL, b8, 1, NULL, 0, 1, __LINE__);
    /* zero-size (data may be NULL) */
    round_trip(SF_FLOAT32, NULL, 4, s0, 2, 0, __LINE__);
    round_trip(SF_FLOAT64, NULL, 8, s0, 2, 0, __LINE__);
    round_trip(SF_INT32, NULL, 4, s0, 2, 0, __LINE__);
    round_trip(SF_INT64, NULL, 8, s0, 2, 0, __LINE__);
    round_trip(SF_BOOL, NULL, 1, s0, 2, 0, __LINE__);
}

/* ------------------------------------------------------------------------------------------------
 * Argument validation
 * ---------------------------------------------------------------------------------------------- */

static void test_null_arguments(void) {
    const double data[6] = {1, 2, 3, 4, 5, 6};
    const int64_t shape[2] = {2, 3};
    sf_tensor *t = NULL;
    CHECK_OK(sf_tensor_from_data(data, SF_FLOAT64, shape, 2, &t));

    size_t ndim;
    int64_t out_shape[4];
    sf_dtype dtype;
    int64_t numel;
    double buffer[6];
    CHECK_ERROR(sf_tensor_ndim(NULL, &ndim), SF_ERR_INVALID_ARGUMENT, "sf_tensor_ndim");
    CHECK_ERROR(sf_tensor_ndim(t, NULL), SF_ERR_INVALID_ARGUMENT, "sf_tensor_ndim");
    CHECK_ERROR(sf_tensor_shape(NULL, out_shape, 4), SF_ERR_INVALID_ARGUMENT, "sf_tensor_shape");
    CHECK_ERROR(sf_tensor_shape(t, NULL, 4), SF_ERR_INVALID_ARGUMENT, "sf_tensor_shape");
    CHECK_ERROR(sf_tensor_shape(t, out_shape, 1), SF_ERR_INVALID_ARGUMENT, "capacity");
    CHECK_ERROR(sf_tensor_dtype(NULL, &dtype), SF_ERR_INVALID_ARGUMENT, "sf_tensor_dtype");
    CHECK_ERROR(sf_tensor_dtype(t, NULL), SF_ERR_INVALID_ARGUMENT, "sf_tensor_dtype");
    CHECK_ERROR(sf_tensor_numel(NULL, &numel), SF_ERR_INVALID_ARGUMENT, "sf_tensor_numel");
    CHECK_ERROR(sf_tensor_numel(t, NULL), SF_ERR_INVALID_ARGUMENT, "sf_tensor_numel");
    CHECK_ERROR(sf_tensor_copy_to(NULL, buffer, sizeof buffer), SF_ERR_INVALID_ARGUMENT, "sf_tensor_copy_to");
    CHECK_ERROR(sf_tensor_copy_to(t, NULL, sizeof buffer), SF_ERR_INVALID_ARGUMENT, "sf_tensor_copy_to");
    CHECK_ERROR(sf_tensor_copy_to(t, buffer, 8), SF_ERR_INVALID_ARGUMENT, "dst_bytes");

    sf_tensor *out = GARBAGE;
    CHECK_ERROR(sf_tensor_from_data(NULL, SF_FLOAT64, shape, 2, &out), SF_ERR_INVALID_ARGUMENT, "sf_tensor_from_data");
    CHECK(out == NULL);
    out = GARBAGE;
    CHECK_ERROR(sf_tensor_from_data(data, SF_FLOAT64, NULL, 2, &out), SF_ERR_INVALID_ARGUMENT, "sf_tensor_from_data");
    CHECK(out == NULL);
    CHECK_ERROR(sf_tensor_from_data(data, SF_FLOAT64, shape, 2, NULL), SF_ERR_INVALID_ARGUMENT, "sf_tensor_from_data");
    out = GARBAGE;
    CHECK_ERROR(sf_tensor_from_data(data, (sf_dtype)7, shape, 2, &out), SF_ERR_DTYPE, "sf_tensor_from_data");
    CHECK(out == NULL);

    /* DLPack functions */
    DLManagedTensor *legacy = GARBAGE;
    struct DLManagedTensorVersioned *versioned = GARBAGE;
    out = GARBAGE;
    CHECK_ERROR(sf_from_dlpack(NULL, &out), SF_ERR_INVALID_ARGUMENT, "sf_from_dlpack");
    CHECK(out == NULL);
    out = GARBAGE;
    CHECK_ERROR(sf_from_dlpack_versioned(NULL, &out), SF_ERR_INVALID_ARGUMENT, "sf_from_dlpack_versioned");
    CHECK(out == NULL);
    CHECK_ERROR(sf_to_dlpack(NULL, &legacy), SF_ERR_INVALID_ARGUMENT, "sf_to_dlpack");
    CHECK(legacy == NULL);
    CHECK_ERROR(sf_to_dlpack_versioned(NULL, &versioned), SF_ERR_INVALID_ARGUMENT, "sf_to_dlpack_versioned");
    CHECK(versioned == NULL);
    CHECK_ERROR(sf_to_dlpack(t, NULL), SF_ERR_INVALID_ARGUMENT, "sf_to_dlpack");
    CHECK_ERROR(sf_to_dlpack_versioned(t, NULL), SF_ERR_INVALID_ARGUMENT, "sf_to_dlpack_versioned");

    /* A valid producer with a NULL out: refused, and the deleter is not called. */
    int64_t s[1] = {3};
    producer *p = produce(ramp, 3 * sizeof(double), 0, dl_type(kDLFloat, 64, 1), 1, s, NULL, 0);
    int before = deleter_calls;
    CHECK_ERROR(sf_from_dlpack(&p->legacy, NULL), SF_ERR_INVALID_ARGUMENT, "sf_from_dlpack");
    CHECK_ERROR(sf_from_dlpack_versioned(&p->versioned, NULL), SF_ERR_INVALID_ARGUMENT, "sf_from_dlpack_versioned");
    CHECK_EQ(deleter_calls, before);
    p->legacy.deleter(&p->legacy);
    CHECK_EQ(deleter_calls, before + 1);

    sf_tensor_release(t);
}

static void test_bad_shapes(void) {
    double one = 1;
    sf_tensor *out = GARBAGE;
    const int64_t huge[2] = {(int64_t)1 << 40, (int64_t)1 << 40};
    CHECK_ERROR(sf_tensor_from_data(&one, SF_FLOAT64, huge, 2, &out), SF_ERR_SHAPE, "sf_tensor_from_data");
    CHECK(out == NULL);
    const int64_t bytes_overflow[1] = {INT64_MAX / 4};
    out = GARBAGE;
    CHECK_ERROR(sf_tensor_from_data(&one, SF_FLOAT64, bytes_overflow, 1, &out), SF_ERR_SHAPE, "sf_tensor_from_data");
    CHECK(out == NULL);
    int64_t ones[SF_MAX_NDIM + 1];
    for (int i = 0; i <= SF_MAX_NDIM; i++) ones[i] = 1;
    out = GARBAGE;
    CHECK_ERROR(sf_tensor_from_data(&one, SF_FLOAT64, ones, SF_MAX_NDIM + 1, &out), SF_ERR_SHAPE, "rank 17");
    CHECK(out == NULL);
    /* rank 16 is fine */
    CHECK_OK(sf_tensor_from_data(&one, SF_FLOAT64, ones, SF_MAX_NDIM, &out));
    sf_tensor_release(out);
    const int64_t negative[2] = {2, -1};
    out = GARBAGE;
    CHECK_ERROR(sf_tensor_from_data(&one, SF_FLOAT64, negative, 2, &out), SF_ERR_SHAPE, "negative");
    CHECK(out == NULL);
}

/* ------------------------------------------------------------------------------------------------
 * DLPack import
 * ---------------------------------------------------------------------------------------------- */

/* Imports `p` (legacy or versioned), checks shape and float64 values, and checks that the deleter
 * runs exactly once, after the last of two references is released. */
static void import_and_check(producer *p, int versioned, const int64_t *shape, size_t ndim,
                             const double *expected, size_t n, int line) {
    int before = deleter_calls;
    sf_tensor *t = GARBAGE;
    sf_status s = versioned ? sf_from_dlpack_versioned(&p->versioned, &t) : sf_from_dlpack(&p->legacy, &t);
    if (!check_record(s == SF_OK, __FILE__, line, "import == SF_OK")) {
        fprintf(stderr, "    status %d: %s\n", (int)s, sf_last_error());
        return;
    }
    check_shape(t, shape, ndim, line);
    check_f64_values(t, expected, n, line);
    sf_tensor_retain(t);
    sf_tensor_release(t);
    check_record(deleter_calls == before, __FILE__, line, "deleter not called while a reference lives");
    check_f64_values(t, expected, n, line);
    sf_tensor_release(t);
    check_record(deleter_calls == before + 1, __FILE__, line, "deleter called exactly once after the last release");
}

static void test_import_layouts(void) {
    const DLDataType f64 = dl_type(kDLFloat, 64, 1);
    for (int versioned = 0; versioned <= 1; versioned++) {
        /* NULL strides: row-major */
        {
            const int64_t shape[2] = {3, 4};
            producer *p = produce(ramp, sizeof ramp, 0, f64, 2, shape, NULL, 0);
            import_and_check(p, versioned, shape, 2, ramp, 12, __LINE__);
        }
        /* negative strides, reaching below data: element 0 is the last element of the block */
        {
            const int64_t shape[2] = {3, 4}, strides[2] = {-4, -1};
            const double expected[12] = {11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0};
            producer *p = produce(ramp, sizeof ramp, 11 * sizeof(double), f64, 2, shape, strides, 0);
            import_and_check(p, versioned, shape, 2, expected, 12, __LINE__);
            /* the same through byte_offset */
            p = produce(ramp, sizeof ramp, 0, f64, 2, shape, strides, 11 * sizeof(double));
            import_and_check(p, versioned, shape, 2, expected, 12, __LINE__);
        }
        /* negative outer, positive inner stride (a flipped matrix) */
        {
            const int64_t shape[2] = {3, 4}, strides[2] = {-4, 1};
            const double expected[12] = {8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3};
            producer *p = produce(ramp, sizeof ramp, 0, f64, 2, shape, strides, 8 * sizeof(double));
            import_and_check(p, versioned, shape, 2, expected, 12, __LINE__);
        }
        /* non-contiguous strides with byte_offset 8: element [i][j] = ramp[1 + 6i + 2j] */
        {
            const int64_t shape[2] = {2, 3}, strides[2] = {6, 2};
            const double expected[6] = {1, 3, 5, 7, 9, 11};
            producer *p = produce(ramp, sizeof ramp, 0, f64, 2, shape, strides, 8);
            import_and_check(p, versioned, shape, 2, expected, 6, __LINE__);
        }
        /* transposed: element [i][j] = ramp[i + 4j] */
        {
            const int64_t shape[2] = {4, 3}, strides[2] = {1, 4};
            const double expected[12] = {0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11};
            producer *p = produce(ramp, sizeof ramp, 0, f64, 2, shape, strides, 0);
            import_and_check(p, versioned, shape, 2, expected, 12, __LINE__);
        }
        /* zero stride (a broadcast row) and a size-1 dim with a nonsense stride */
        {
            const int64_t shape[3] = {2, 1, 3}, strides[3] = {0, INT64_MIN, 1};
            const double expected[6] = {0, 1, 2, 0, 1, 2};
            producer *p = produce(ramp, sizeof ramp, 0, f64, 3, shape, strides, 0);
            import_and_check(p, versioned, shape, 3, expected, 6, __LINE__);
        }
        /* rank 0 */
        {
            const double expected[1] = {5};
            producer *p = produce(ramp, sizeof ramp, 0, f64, 0, NULL, NULL, 5 * sizeof(double));
            import_and_check(p, versioned, NULL, 0, expected, 1, __LINE__);
        }
        /* zero-size with NULL data: the deleter still runs on release */
        {
            const int64_t shape[2] = {0, 3};
            producer *p = produce(NULL, 0, 0, f64, 2, shape, NULL, 0);
            p->legacy.dl_tensor.data = NULL;
            p->versioned.dl_tensor.data = NULL;
            import_and_check(p, versioned, shape, 2, NULL, 0, __LINE__);
        }
        /* unaligned data (float64 at an odd address): imported as a copy, so the deleter runs
         * during the import already and the tensor owns its memory */
        {
            const int64_t shape[2] = {3, 4};
            unsigned char shifted[sizeof ramp + 1];
            memcpy(shifted + 1, ramp, sizeof ramp);
            producer *p = produce(shifted, sizeof shifted, 0, f64, 2, shape, NULL, 1);
            int before = deleter_calls;
            sf_tensor *t = NULL;
            CHECK_OK(versioned ? sf_from_dlpack_versioned(&p->versioned, &t) : sf_from_dlpack(&p->legacy, &t));
            CHECK_EQ(deleter_calls, before + 1);
            CHECK_F64_VALUES(t, ramp, 12);
            /* its export is swiftfunc-owned memory: flags 0 */
            struct DLManagedTensorVersioned *e = NULL;
            CHECK_OK(sf_to_dlpack_versioned(t, &e));
            CHECK(e != NULL && e->flags == 0);
            if (e) e->deleter(e);
            sf_tensor_release(t);
            CHECK_EQ(deleter_calls, before + 1);
        }
    }
}

static void test_import_dtypes(void) {
    const int64_t shape[1] = {4};
    {
        const float v[4] = {1.5f, -2.5f, 0.25f, 8.0f};
        producer *p = produce(v, sizeof v, 0, dl_type(kDLFloat, 32, 1), 1, shape, NULL, 0);
        sf_tensor *t = NULL;
        sf_dtype d;
        float got[4];
        CHECK_OK(sf_from_dlpack(&p->legacy, &t));
        CHECK(sf_tensor_dtype(t, &d) == SF_OK && d == SF_FLOAT32);
        CHECK_OK(sf_tensor_copy_to(t, got, sizeof got));
        CHECK(memcmp(got, v, sizeof v) == 0);
        sf_tensor_release(t);
    }
    {
        const int32_t v[4] = {1, -2, INT32_MAX, INT32_MIN};
        producer *p = produce(v, sizeof v, 0, dl_type(kDLInt, 32, 1), 1, shape, NULL, 0);
        sf_tensor *t = NULL;
        sf_dtype d;
        int32_t got[4];
        CHECK_OK(sf_from_dlpack_versioned(&p->versioned, &t));
        CHECK(sf_tensor_dtype(t, &d) == SF_OK && d == SF_INT32);
        CHECK_OK(sf_tensor_copy_to(t, got, sizeof got));
        CHECK(memcmp(got, v, sizeof v) == 0);
        sf_tensor_release(t);
    }
    {
        const int64_t v[4] = {1, -2, INT64_MAX, INT64_MIN};
        producer *p = produce(v, sizeof v, 0, dl_type(kDLInt, 64, 1), 1, shape, NULL, 0);
        sf_tensor *t = NULL;
        sf_dtype d;
        int64_t got[4];
        CHECK_OK(sf_from_dlpack(&p->legacy, &t));
        CHECK(sf_tensor_dtype(t, &d) == SF_OK && d == SF_INT64);
        CHECK_OK(sf_tensor_copy_to(t, got, sizeof got));
        CHECK(memcmp(got, v, sizeof v) == 0);
        sf_tensor_release(t);
    }
    {
        const unsigned char v[4] = {1, 0, 0, 1};
        producer *p = produce(v, sizeof v, 0, dl_type(DL_BOOL_CODE, 8, 1), 1, shape, NULL, 0);
        sf_tensor *t = NULL;
        sf_dtype d;
        unsigned char got[4];
        CHECK_OK(sf_from_dlpack_versioned(&p->versioned, &t));
        CHECK(sf_tensor_dtype(t, &d) == SF_OK && d == SF_BOOL);
        CHECK_OK(sf_tensor_copy_to(t, got, sizeof got));
        CHECK(memcmp(got, v, sizeof v) == 0);
        sf_tensor_release(t);
    }
}

/* A failing import: the status, a message fragment, *out NULL, and no deleter call. The caller
 * still owns the producer; the helper frees it through the deleter afterwards. */
static void import_fails(producer *p, int versioned, sf_status expected, const char *fragment, int line) {
    int before = deleter_calls;
    sf_tensor *t = GARBAGE;
    sf_status s = versioned ? sf_from_dlpack_versioned(&p->versioned, &t) : sf_from_dlpack(&p->legacy, &t);
    if (!check_record(s == expected, __FILE__, line, "import fails with the expected status"))
        fprintf(stderr, "    got %d, expected %d (%s)\n", (int)s, (int)expected, sf_last_error());
    if (!check_record(strstr(sf_last_error(), fragment) != NULL, __FILE__, line, "message names the problem"))
        fprintf(stderr, "    message \"%s\" lacks \"%s\"\n", sf_last_error(), fragment);
    check_record(strstr(sf_last_error(), versioned ? "sf_from_dlpack_versioned" : "sf_from_dlpack") != NULL,
                 __FILE__, line, "message names the function");
    check_record(t == NULL, __FILE__, line, "*out is NULL");
    check_record(deleter_calls == before, __FILE__, line, "deleter not called on failure");
    if (s == SF_OK) sf_tensor_release(t);
    if (versioned) p->versioned.deleter(&p->versioned);
    else p->legacy.deleter(&p->legacy);
}

static void test_import_failures(void) {
    const int64_t shape[2] = {3, 4};
    const DLDataType f64 = dl_type(kDLFloat, 64, 1);
    for (int v = 0; v <= 1; v++) {
        producer *p = produce(ramp, sizeof ramp, 0, f64, 2, shape, NULL, 0);
        p->legacy.dl_tensor.device.device_type = kDLCUDA;
        p->versioned.dl_tensor.device.device_type = kDLCUDA;
        import_fails(p, v, SF_ERR_DEVICE, "device", __LINE__);

        p = produce(ramp, sizeof ramp, 0, dl_type(kDLFloat, 32, 2), 2, shape, NULL, 0);
        import_fails(p, v, SF_ERR_DTYPE, "lanes", __LINE__);

        p = produce(ramp, sizeof ramp, 0, dl_type(kDLFloat, 16, 1), 2, shape, NULL, 0);
        import_fails(p, v, SF_ERR_DTYPE, "16 bits", __LINE__);

        p = produce(ramp, sizeof ramp, 0, dl_type(kDLUInt, 8, 1), 2, shape, NULL, 0);
        import_fails(p, v, SF_ERR_DTYPE, "code 1", __LINE__);

        p = produce(ramp, sizeof ramp, 0, dl_type(kDLComplex, 64, 1), 2, shape, NULL, 0);
        import_fails(p, v, SF_ERR_DTYPE, "code 5", __LINE__);

        p = produce(ramp, sizeof ramp, 0, dl_type(kDLBfloat, 16, 1), 2, shape, NULL, 0);
        import_fails(p, v, SF_ERR_DTYPE, "code 4", __LINE__);

        p = produce(ramp, sizeof ramp, 0, f64, 2, shape, NULL, 0);
        p->legacy.dl_tensor.data = NULL;
        p->versioned.dl_tensor.data = NULL;
        import_fails(p, v, SF_ERR_INVALID_ARGUMENT, "data is NULL", __LINE__);

        p = produce(ramp, sizeof ramp, 0, f64, 2, shape, NULL, 0);
        p->legacy.dl_tensor.shape = NULL;
        p->versioned.dl_tensor.shape = NULL;
        import_fails(p, v, SF_ERR_INVALID_ARGUMENT, "shape is NULL", __LINE__);

        p = produce(ramp, sizeof ramp, 0, f64, -1, shape, NULL, 0);
        import_fails(p, v, SF_ERR_SHAPE, "ndim -1", __LINE__);

        int64_t ones[17] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
        p = produce(ramp, sizeof ramp, 0, f64, 17, ones, NULL, 0);
        import_fails(p, v, SF_ERR_SHAPE, "ndim 17", __LINE__);

        const int64_t negative[2] = {3, -4};
        p = produce(ramp, sizeof ramp, 0, f64, 2, negative, NULL, 0);
        import_fails(p, v, SF_ERR_SHAPE, "negative size", __LINE__);

        const int64_t huge[2] = {(int64_t)1 << 40, (int64_t)1 << 40};
        p = produce(ramp, sizeof ramp, 0, f64, 2, huge, NULL, 0);
        import_fails(p, v, SF_ERR_SHAPE, "int64", __LINE__);

        const int64_t wild[2] = {INT64_MAX / 2, 1};
        p = produce(ramp, sizeof ramp, 0, f64, 2, shape, wild, 0);
        import_fails(p, v, SF_ERR_SHAPE, "reaches outside", __LINE__);

        const int64_t wild_negative[2] = {INT64_MIN / 4, 1};
        p = produce(ramp, sizeof ramp, 0, f64, 2, shape, wild_negative, 0);
        import_fails(p, v, SF_ERR_SHAPE, "reaches outside", __LINE__);

        p = produce(ramp, sizeof ramp, 0, f64, 2, shape, NULL, UINT64_MAX - 3);
        import_fails(p, v, SF_ERR_SHAPE, "byte_offset", __LINE__);
    }
    /* A versioned tensor from another major version: refused without reading anything else
     * (every other field is garbage here). */
    {
        producer *p = produce(ramp, sizeof ramp, 0, f64, 2, shape, NULL, 0);
        memset(&p->versioned.dl_tensor, 0xFF, sizeof p->versioned.dl_tensor);
        p->versioned.flags = ~(uint64_t)0;
        p->versioned.version.major = 2;
        import_fails(p, 1, SF_ERR_UNSUPPORTED, "2.0", __LINE__);
        p = produce(ramp, sizeof ramp, 0, f64, 2, shape, NULL, 0);
        p->versioned.version.major = 0;
        p->versioned.version.minor = 8;
        import_fails(p, 1, SF_ERR_UNSUPPORTED, "0.8", __LINE__);
    }
    /* A newer minor version is accepted. */
    {
        producer *p = produce(ramp, sizeof ramp, 0, f64, 2, shape, NULL, 0);
        p->versioned.version.minor = 3;
        import_and_check(p, 1, shape, 2, ramp, 12, __LINE__);
    }
}

/* ------------------------------------------------------------------------------------------------
 * DLPack export
 * ---------------------------------------------------------------------------------------------- */

static void check_dl_tensor(const DLTensor *t, const void *element0, uint8_t code, uint8_t bits,
                            int32_t ndim, const int64_t *shape, const int64_t *strides, int line) {
    check_record((const char *)t->data + t->byte_offset == (const char *)element0, __FILE__, line,
                 "data + byte_offset is the source's element 0 (zero-copy)");
    check_record(t->device.device_type == kDLCPU && t->device.device_id == 0, __FILE__, line, "device CPU:0");
    check_record(t->dtype.code == code && t->dtype.bits == bits && t->dtype.lanes == 1, __FILE__, line, "dtype");
    check_record(t->ndim == ndim, __FILE__, line, "ndim");
    check_record(t->shape != NULL && t->strides != NULL, __FILE__, line, "shape and strides filled in");
    if (t->shape == NULL || t->strides == NULL) return;
    int same = 1;
    for (int32_t i = 0; i < ndim; i++) same &= t->shape[i] == shape[i] && t->strides[i] == strides[i];
    if (!check_record(same, __FILE__, line, "shape and strides match")) {
        for (int32_t i = 0; i < ndim; i++)
            fprintf(stderr, "    dim %d: shape %lld stride %lld, expected %lld %lld\n", (int)i, (long long)t->shape[i],
                    (long long)t->strides[i], (long long)shape[i], (long long)strides[i]);
    }
}

static void test_export_zero_copy(void) {
    const DLDataType f64 = dl_type(kDLFloat, 64, 1);
    /* contiguous import -> legacy and versioned export: the same memory */
    {
        const int64_t shape[2] = {3, 4}, strides[2] = {4, 1};
        producer *p = produce(ramp, sizeof ramp, 0, f64, 2, shape, NULL, 0);
        const void *element0 = p->block;
        int before = deleter_calls;
        sf_tensor *t = NULL;
        CHECK_OK(sf_from_dlpack(&p->legacy, &t));
        DLManagedTensor *e = NULL;
        struct DLManagedTensorVersioned *ev = NULL;
        CHECK_OK(sf_to_dlpack(t, &e));
        CHECK_OK(sf_to_dlpack_versioned(t, &ev));
        CHECK(e != NULL && ev != NULL);
        if (!e || !ev) return;
        check_dl_tensor(&e->dl_tensor, element0, kDLFloat, 64, 2, shape, strides, __LINE__);
        check_dl_tensor(&ev->dl_tensor, element0, kDLFloat, 64, 2, shape, strides, __LINE__);
        CHECK(ev->version.major == 1 && ev->version.minor == 0);
        CHECK(ev->flags == DLPACK_FLAG_READ_ONLY); /* imported memory belongs to its producer */
        CHECK(e->deleter != NULL && ev->deleter != NULL);
        /* The exports keep the producer's memory alive after the tensor is released. */
        sf_tensor_release(t);
        CHECK_EQ(deleter_calls, before);
        const double *d = (const double *)((const char *)e->dl_tensor.data + e->dl_tensor.byte_offset);
        CHECK(d[11] == 11.0); /* ASan: a use-after-free if the memory was freed */
        e->deleter(e);
        CHECK_EQ(deleter_calls, before);
        CHECK(((const double *)ev->dl_tensor.data)[5] == 5.0);
        ev->deleter(ev);
        CHECK_EQ(deleter_calls, before + 1);
    }
    /* a transposed view (imported with transposed strides) keeps its strides on export */
    for (int versioned = 0; versioned <= 1; versioned++) {
        const int64_t shape[2] = {4, 3}, strides[2] = {1, 4};
        producer *p = produce(ramp, sizeof ramp, 0, f64, 2, shape, strides, 0);
        const void *element0 = p->block;
        int before = deleter_calls;
        sf_tensor *t = NULL;
        CHECK_OK(versioned ? sf_from_dlpack_versioned(&p->versioned, &t) : sf_from_dlpack(&p->legacy, &t));
        if (versioned) {
            struct DLManagedTensorVersioned *e = NULL;
            CHECK_OK(sf_to_dlpack_versioned(t, &e));
            if (!e) return;
            check_dl_tensor(&e->dl_tensor, element0, kDLFloat, 64, 2, shape, strides, __LINE__);
            sf_tensor_release(t);
            CHECK_EQ(deleter_calls, before);
            e->deleter(e);
        } else {
            DLManagedTensor *e = NULL;
            CHECK_OK(sf_to_dlpack(t, &e));
            if (!e) return;
            check_dl_tensor(&e->dl_tensor, element0, kDLFloat, 64, 2, shape, strides, __LINE__);
            sf_tensor_release(t);
            CHECK_EQ(deleter_calls, before);
            e->deleter(e);
        }
        CHECK_EQ(deleter_calls, before + 1);
    }
    /* negative strides and a byte_offset: data points at element 0 */
    {
        const int64_t shape[2] = {2, 3}, strides[2] = {-6, -2};
        producer *p = produce(ramp, sizeof ramp, 0, f64, 2, shape, strides, 11 * sizeof(double));
        const void *element0 = p->block + 11 * sizeof(double);
        sf_tensor *t = NULL;
        CHECK_OK(sf_from_dlpack(&p->legacy, &t));
        struct DLManagedTensorVersioned *e = NULL;
        CHECK_OK(sf_to_dlpack_versioned(t, &e));
        if (!e) return;
        check_dl_tensor(&e->dl_tensor, element0, kDLFloat, 64, 2, shape, strides, __LINE__);
        /* read through the exported view: element [1][2] = ramp[11 - 6 - 4] */
        const double *d = (const double *)((const char *)e->dl_tensor.data + e->dl_tensor.byte_offset);
        CHECK(d[1 * e->dl_tensor.strides[0] + 2 * e->dl_tensor.strides[1]] == 1.0);
        sf_tensor_release(t);
        e->deleter(e);
    }
    /* read-only versioned import: exported read-only too */
    {
        const int64_t shape[1] = {12};
        producer *p = produce(ramp, sizeof ramp, 0, f64, 1, shape, NULL, 0);
        p->versioned.flags = DLPACK_FLAG_READ_ONLY;
        sf_tensor *t = NULL;
        CHECK_OK(sf_from_dlpack_versioned(&p->versioned, &t));
        struct DLManagedTensorVersioned *e = NULL;
        CHECK_OK(sf_to_dlpack_versioned(t, &e));
        CHECK(e != NULL && (e->flags & DLPACK_FLAG_READ_ONLY));
        sf_tensor_release(t);
        if (e) e->deleter(e);
    }
}

static void test_export_owned(void) {
    /* swiftfunc-owned storage: flags 0, row-major strides, memory alive until the deleter runs */
    const float values[6] = {1, 2, 3, 4, 5, 6};
    const int64_t shape[2] = {2, 3}, strides[2] = {3, 1};
    sf_tensor *t = NULL;
    CHECK_OK(sf_tensor_from_data(values, SF_FLOAT32, shape, 2, &t));
    struct DLManagedTensorVersioned *ev = NULL;
    DLManagedTensor *e = NULL;
    CHECK_OK(sf_to_dlpack_versioned(t, &ev));
    CHECK_OK(sf_to_dlpack(t, &e));
    if (!ev || !e) return;
    CHECK(ev->flags == 0);
    CHECK(ev->dl_tensor.data == e->dl_tensor.data);
    check_dl_tensor(&ev->dl_tensor, ev->dl_tensor.data, kDLFloat, 32, 2, shape, strides, __LINE__);
    check_dl_tensor(&e->dl_tensor, e->dl_tensor.data, kDLFloat, 32, 2, shape, strides, __LINE__);
    sf_tensor_release(t);
    CHECK(memcmp(ev->dl_tensor.data, values, sizeof values) == 0); /* ASan: alive after release */

    /* the export imported again (the consumer side of the same library): the round trip is
     * zero-copy and calls the export's deleter when the imported tensor dies */
    sf_tensor *back = NULL;
    CHECK_OK(sf_from_dlpack(e, &back));
    float got[6];
    CHECK_OK(sf_tensor_copy_to(back, got, sizeof got));
    CHECK(memcmp(got, values, sizeof values) == 0);
    DLManagedTensor *again = NULL;
    CHECK_OK(sf_to_dlpack(back, &again));
    CHECK(again != NULL && again->dl_tensor.data == ev->dl_tensor.data);
    sf_tensor_release(back);
    if (again) again->deleter(again);
    ev->deleter(ev);

    /* other dtypes, rank 0 and zero-size */
    {
        const unsigned char b[3] = {1, 0, 1};
        const int64_t s[1] = {3}, st[1] = {1};
        sf_tensor *x = NULL;
        CHECK_OK(sf_tensor_from_data(b, SF_BOOL, s, 1, &x));
        DLManagedTensor *d = NULL;
        CHECK_OK(sf_to_dlpack(x, &d));
        if (d) check_dl_tensor(&d->dl_tensor, d->dl_tensor.data, DL_BOOL_CODE, 8, 1, s, st, __LINE__);
        if (d) d->deleter(d);
        sf_tensor_release(x);
    }
    {
        const int64_t i = 42;
        sf_tensor *x = NULL;
        CHECK_OK(sf_tensor_from_data(&i, SF_INT64, NULL, 0, &x));
        struct DLManagedTensorVersioned *d = NULL;
        CHECK_OK(sf_to_dlpack_versioned(x, &d));
        if (d) {
            check_dl_tensor(&d->dl_tensor, d->dl_tensor.data, kDLInt, 64, 0, NULL, NULL, __LINE__);
            CHECK(*(const int64_t *)d->dl_tensor.data == 42);
        }
        sf_tensor_release(x);
        if (d) d->deleter(d);
    }
    {
        const int32_t i = 7;
        sf_tensor *x = NULL;
        CHECK_OK(sf_tensor_from_data(&i, SF_INT32, NULL, 0, &x));
        DLManagedTensor *d = NULL;
        CHECK_OK(sf_to_dlpack(x, &d));
        if (d) CHECK(d->dl_tensor.dtype.code == kDLInt && d->dl_tensor.dtype.bits == 32);
        sf_tensor_release(x);
        if (d) d->deleter(d);
    }
    {
        const int64_t s[2] = {0, 3}, st[2] = {3, 1};
        sf_tensor *x = NULL;
        CHECK_OK(sf_tensor_from_data(NULL, SF_FLOAT64, s, 2, &x));
        struct DLManagedTensorVersioned *d = NULL;
        CHECK_OK(sf_to_dlpack_versioned(x, &d));
        if (d) {
            CHECK(d->dl_tensor.data == NULL);
            check_dl_tensor(&d->dl_tensor, NULL, kDLFloat, 64, 2, s, st, __LINE__);
            /* a zero-size export imports again */
            sf_tensor *y = NULL;
            int64_t numel = -1;
            CHECK_OK(sf_from_dlpack_versioned(d, &y));
            CHECK(sf_tensor_numel(y, &numel) == SF_OK && numel == 0);
            sf_tensor_release(y); /* calls d's deleter */
        }
        sf_tensor_release(x);
    }
}

int main(void) {
    test_versions_and_errors();
    test_retain_release();
    test_from_data_round_trips();
    test_null_arguments();
    test_bad_shapes();
    test_import_layouts();
    test_import_dtypes();
    test_import_failures();
    test_export_zero_copy();
    test_export_owned();
    return check_summary();
}
