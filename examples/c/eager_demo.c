/* eager_demo.c — swiftfunc used eagerly from C: make tensors from data, multiply, add, sum, and
 * compare every result with the same computation done by hand.
 *
 *   make demo      (or: cc -Iinclude eager_demo.c -Lbuild-dir -lswiftfunc)
 */
#include <math.h>
#include <stdio.h>

#include "swiftfunc.h"

/* Runs a swiftfunc call; on failure prints the library's message and jumps to `fail`. */
#define TRY(call)                                                                       \
    do {                                                                                \
        sf_status status_ = (call);                                                     \
        if (status_ != SF_OK) {                                                         \
            fprintf(stderr, "%s failed (status %d): %s\n", #call, (int)status_,         \
                    sf_last_error());                                                   \
            goto fail;                                                                  \
        }                                                                               \
    } while (0)

int main(void) {
    int exit_code = 1;
    sf_tensor *a = NULL, *b = NULL, *bias = NULL, *product = NULL, *shifted = NULL, *total = NULL,
              *bad = NULL;

    /* A is 2x3, B is 3x2, bias is a row of 2 that broadcasts over the rows of A @ B. */
    const float a_data[2][3] = {{1, 2, 3}, {4, 5, 6}};
    const float b_data[3][2] = {{7, 8}, {9, 10}, {11, 12}};
    const float bias_data[2] = {0.5f, -1.0f};
    const int64_t a_shape[2] = {2, 3}, b_shape[2] = {3, 2}, bias_shape[1] = {2};

    printf("swiftfunc %s\n\n", sf_version());
    TRY(sf_tensor_from_data(a_data, SF_FLOAT32, a_shape, 2, &a));
    TRY(sf_tensor_from_data(b_data, SF_FLOAT32, b_shape, 2, &b));
    TRY(sf_tensor_from_data(bias_data, SF_FLOAT32, bias_shape, 1, &bias));

    /* product = A @ B;  shifted = product + bias;  total = sum of all of shifted */
    TRY(sf_matmul(a, b, &product));
    TRY(sf_add(product, bias, &shifted));
    TRY(sf_sum(shifted, NULL, 0, false, &total));

    float got_product[2][2], got_shifted[2][2], got_total;
    TRY(sf_tensor_copy_to(product, got_product, sizeof got_product));
    TRY(sf_tensor_copy_to(shifted, got_shifted, sizeof got_shifted));
    TRY(sf_tensor_copy_to(total, &got_total, sizeof got_total));

    /* The same by hand. */
    float hand_product[2][2], hand_shifted[2][2], hand_total = 0;
    for (int i = 0; i < 2; i++) {
        for (int j = 0; j < 2; j++) {
            float s = 0;
            for (int k = 0; k < 3; k++) s += a_data[i][k] * b_data[k][j];
            hand_product[i][j] = s;
            hand_shifted[i][j] = s + bias_data[j];
            hand_total += hand_shifted[i][j];
        }
    }

    int mismatches = 0;
    printf("%-22s %10s %10s\n", "", "swiftfunc", "by hand");
    for (int i = 0; i < 2; i++) {
        for (int j = 0; j < 2; j++) {
            printf("(A @ B)[%d][%d]         %10.2f %10.2f\n", i, j, got_product[i][j], hand_product[i][j]);
            mismatches += fabsf(got_product[i][j] - hand_product[i][j]) > 1e-4f;
        }
    }
    for (int i = 0; i < 2; i++) {
        for (int j = 0; j < 2; j++) {
            printf("(A @ B + bias)[%d][%d]  %10.2f %10.2f\n", i, j, got_shifted[i][j], hand_shifted[i][j]);
            mismatches += fabsf(got_shifted[i][j] - hand_shifted[i][j]) > 1e-4f;
        }
    }
    printf("sum(A @ B + bias)      %10.2f %10.2f\n", got_total, hand_total);
    mismatches += fabsf(got_total - hand_total) > 1e-3f;

    /* Errors are statuses with a message; nothing aborts. A @ A does not fit: */
    sf_status status = sf_matmul(a, a, &bad);
    printf("\nsf_matmul(A, A) -> status %d: %s\n", (int)status, sf_last_error());
    if (status != SF_ERR_SHAPE || bad != NULL) mismatches++;

    printf("\n%s\n", mismatches ? "MISMATCH between swiftfunc and the hand computation" : "all results agree");
    exit_code = mismatches ? 1 : 0;

fail:
    /* Releasing NULL is a no-op, so every handle can be released unconditionally. */
    sf_tensor_release(a);
    sf_tensor_release(b);
    sf_tensor_release(bias);
    sf_tensor_release(product);
    sf_tensor_release(shifted);
    sf_tensor_release(total);
    sf_tensor_release(bad);
    return exit_code;
}
