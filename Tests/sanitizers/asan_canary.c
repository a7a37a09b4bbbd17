/* asan_canary.c — proves that the library under test is instrumented: a host hands swiftfunc a DLPack
 * tensor whose shape claims 64 float64 values over a malloc'd buffer of 4 (a host bug the library
 * cannot see: DLPack carries no buffer size), and sf_sum reads past the buffer inside the library's
 * own kernel. Against the ASan-instrumented library AddressSanitizer must stop the program with a
 * heap-buffer-overflow in a SwiftFuncCore frame (make sanitizer-test checks the report); against an
 * uninstrumented one the read goes unseen, the program exits 0, and the check fails. */
#include <stdio.h>
#include <stdlib.h>

#include "swiftfunc.h"

static void free_buffer(DLManagedTensor *self) { free(self->manager_ctx); }

int main(void) {
    double *values = calloc(4, sizeof(double));
    int64_t shape[1] = {64}; /* the lie */
    DLManagedTensor managed = {0};
    managed.dl_tensor.data = values;
    managed.dl_tensor.device = (DLDevice){kDLCPU, 0};
    managed.dl_tensor.ndim = 1;
    managed.dl_tensor.dtype = (DLDataType){kDLFloat, 64, 1};
    managed.dl_tensor.shape = shape;
    managed.manager_ctx = values;
    managed.deleter = free_buffer;
    sf_tensor *t = NULL, *total = NULL;
    if (sf_from_dlpack(&managed, &t) != SF_OK) {
        fprintf(stderr, "asan_canary: import failed: %s\n", sf_last_error());
        return 2;
    }
    sf_sum(t, NULL, 0, false, &total); /* reads values[4...63]: ASan stops here */
    sf_tensor_release(total);
    sf_tensor_release(t);
    printf("asan_canary: the read past the buffer went unseen: the library is not instrumented\n");
    return 0;
}
