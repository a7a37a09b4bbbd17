/* A C program built against an installed swiftfunc (through CMake or pkg-config): versions, an
 * op, a host function, DLPack and an error. Prints "N passed, M failed"; exits 1 on a failure. */
#include <stdio.h>
#include <string.h>

#include <swiftfunc.h>

static int passed, failed;

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (cond) {                                                                       \
            passed++;                                                                     \
        } else {                                                                          \
            failed++;                                                                     \
            fprintf(stderr, "%s:%d: CHECK(%s) failed (%s)\n", __FILE__, __LINE__, #cond,  \
                    sf_last_error());                                                     \
        }                                                                                 \
    } while (0)

static int twice(void *user_data, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)user_data, (void)n_in, (void)n_out;
    return sf_add(in[0], in[0], &out[0]) != SF_OK;
}

int main(void) {
    char expected[32];
    snprintf(expected, sizeof expected, "%d.%d.%d", SF_VERSION_MAJOR, SF_VERSION_MINOR, SF_VERSION_PATCH);
    CHECK(sf_abi_version() == SF_ABI_VERSION);
    CHECK(strcmp(sf_version(), expected) == 0);
#ifdef EXPECTED_VERSION
    CHECK(strcmp(sf_version(), EXPECTED_VERSION) == 0); /* the package's version is the library's */
#endif

    const double a_values[3] = {1, 2, 3}, b_values[3] = {10, 20, 30};
    const int64_t shape[1] = {3};
    sf_tensor *a = NULL, *b = NULL, *sum = NULL;
    CHECK(sf_tensor_from_data(a_values, SF_FLOAT64, shape, 1, &a) == SF_OK);
    CHECK(sf_tensor_from_data(b_values, SF_FLOAT64, shape, 1, &b) == SF_OK);
    CHECK(sf_add(a, b, &sum) == SF_OK);
    double values[3] = {0};
    CHECK(sf_tensor_copy_to(sum, values, sizeof values) == SF_OK);
    CHECK(values[0] == 11 && values[1] == 22 && values[2] == 33);

    sf_function *f = NULL;
    sf_tensor *doubled = NULL;
    CHECK(sf_function_new(twice, NULL, NULL, 1, 1, &f) == SF_OK);
    CHECK(sf_call(f, &a, 1, &doubled, 1) == SF_OK);
    CHECK(sf_tensor_copy_to(doubled, values, sizeof values) == SF_OK);
    CHECK(values[0] == 2 && values[1] == 4 && values[2] == 6);

    DLManagedTensor *managed = NULL;
    CHECK(sf_to_dlpack(b, &managed) == SF_OK);
    CHECK(managed != NULL && managed->dl_tensor.ndim == 1 && managed->dl_tensor.shape[0] == 3);
    CHECK(managed != NULL && managed->dl_tensor.dtype.code == kDLFloat && managed->dl_tensor.dtype.bits == 64);
    CHECK(managed != NULL && ((const double *)managed->dl_tensor.data)[2] == 30);
    if (managed) managed->deleter(managed);

    sf_tensor *bad = NULL;
    CHECK(sf_matmul(a, NULL, &bad) == SF_ERR_INVALID_ARGUMENT && bad == NULL);
    CHECK(strstr(sf_last_error(), "sf_matmul") != NULL);

    sf_tensor_release(doubled);
    sf_function_release(f);
    sf_tensor_release(sum);
    sf_tensor_release(b);
    sf_tensor_release(a);
    printf("consumer.c: %d passed, %d failed\n", passed, failed);
    return failed != 0;
}
