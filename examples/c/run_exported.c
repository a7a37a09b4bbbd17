/* run_exported.c — runs a function exported from Python with no Python present: loads the file
 * written by bindings/python/examples/export_per_sample_grads.py (per-sample gradients of an MLP,
 * its weights inside the file), reads the inputs, computes, and compares with the expected
 * gradients that Python computed. `make export-example` runs both.
 *
 *   run_exported MODEL.sfx INPUTS.bin EXPECTED.bin
 *
 * The .bin files hold tensors: uint32 count, then per tensor uint32 dtype (sf_dtype), uint32 ndim,
 * int64 shape[ndim] and the little-endian elements. With no arguments it says so and exits 0. */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "example_util.h"
#include "swiftfunc.h"

enum { MAX_TENSORS = 16 };

/* Reads the tensors of a .bin file into out; returns how many (exits on a malformed file). */
static size_t read_tensors(const char *path, sf_tensor **out) {
    FILE *file = fopen(path, "rb");
    if (!file) { fprintf(stderr, "cannot open %s\n", path); exit(1); }
    uint32_t count = 0;
    if (fread(&count, 4, 1, file) != 1 || count > MAX_TENSORS) { fprintf(stderr, "%s: bad count\n", path); exit(1); }
    for (uint32_t k = 0; k < count; k++) {
        uint32_t header[2];
        int64_t shape[SF_MAX_NDIM];
        if (fread(header, 4, 2, file) != 2 || header[1] > SF_MAX_NDIM || fread(shape, 8, header[1], file) != header[1]) {
            fprintf(stderr, "%s: bad tensor header\n", path);
            exit(1);
        }
        size_t numel = 1, item = header[0] == SF_FLOAT64 || header[0] == SF_INT64 ? 8 : 4;
        for (uint32_t d = 0; d < header[1]; d++) numel *= (size_t)shape[d];
        void *data = malloc(numel * item + 1);
        if (!data || fread(data, item, numel, file) != numel) { fprintf(stderr, "%s: short data\n", path); exit(1); }
        SF_CHECK(sf_tensor_from_data(data, (sf_dtype)header[0], shape, header[1], &out[k]));
        free(data);
    }
    fclose(file);
    return count;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        printf("usage: run_exported MODEL.sfx INPUTS.bin EXPECTED.bin (see make export-example); nothing to run\n");
        return 0;
    }
    sf_function *f = NULL;
    SF_CHECK(sf_function_load(argv[1], &f));
    sf_tensor *inputs[MAX_TENSORS] = {0}, *expected[MAX_TENSORS] = {0}, *outputs[MAX_TENSORS] = {0};
    size_t n_in = read_tensors(argv[2], inputs), n_out = read_tensors(argv[3], expected);
    SF_CHECK(sf_call(f, inputs, n_in, outputs, n_out));
    double worst = 0;
    for (size_t k = 0; k < n_out; k++) {
        int64_t n = example_numel(expected[k]);
        if (n != example_numel(outputs[k])) worst = INFINITY;
        double *a = example_read64(outputs[k]), *b = example_read64(expected[k]);
        for (int64_t i = 0; i < n && worst != INFINITY; i++) {
            double d = fabs(a[i] - b[i]);
            if (d > worst || d != d) worst = d;
        }
        free(a);
        free(b);
    }
    int ok = worst <= 1e-12;
    printf("per-sample gradients from %s in C: %zu outputs, max difference from Python %.3g %s\n", argv[1], n_out, worst,
           ok ? "ok" : "FAILED");
    for (size_t k = 0; k < MAX_TENSORS; k++) {
        sf_tensor_release(inputs[k]);
        sf_tensor_release(expected[k]);
        sf_tensor_release(outputs[k]);
    }
    sf_function_release(f);
    return ok ? 0 : 1;
}
