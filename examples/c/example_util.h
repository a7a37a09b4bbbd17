/* Small helpers shared by the C examples: error checking, tensors from arrays, reading back. */
#ifndef SWIFTFUNC_EXAMPLE_UTIL_H
#define SWIFTFUNC_EXAMPLE_UTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "swiftfunc.h"

/* Runs a swiftfunc call; on failure prints the library's message and exits. */
#define SF_CHECK(call)                                                                        \
    do {                                                                                      \
        sf_status sf_check_status_ = (call);                                                  \
        if (sf_check_status_ != SF_OK) {                                                      \
            fprintf(stderr, "%s:%d: %s failed (%d): %s\n", __FILE__, __LINE__, #call,         \
                    (int)sf_check_status_, sf_last_error());                                  \
            exit(1);                                                                          \
        }                                                                                     \
    } while (0)

/* Fails a callback: sets the error message (as received) and returns 1 from the callback. */
#define SF_TRY(call)                                                                          \
    do {                                                                                      \
        if ((call) != SF_OK) return 1;                                                        \
    } while (0)

static inline double example_uniform(unsigned *state) {
    *state = *state * 1664525u + 1013904223u;
    return (double)(*state >> 8) / 16777216.0;
}

/* A float32 tensor of `shape` with values uniform in [-scale, scale). */
static inline sf_tensor *example_random(const int64_t *shape, size_t ndim, double scale, unsigned *state) {
    int64_t n = 1;
    for (size_t i = 0; i < ndim; i++) n *= shape[i];
    float *values = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++) values[i] = (float)((2 * example_uniform(state) - 1) * scale);
    sf_tensor *t = NULL;
    SF_CHECK(sf_tensor_from_data(values, SF_FLOAT32, shape, ndim, &t));
    free(values);
    return t;
}

/* A float64 tensor of `shape` with values uniform in [-scale, scale); values also go to `copy`
 * (when not NULL) for references computed in C. */
static inline sf_tensor *example_random64(const int64_t *shape, size_t ndim, double scale, unsigned *state, double *copy) {
    int64_t n = 1;
    for (size_t i = 0; i < ndim; i++) n *= shape[i];
    double *values = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++) values[i] = (2 * example_uniform(state) - 1) * scale;
    if (copy) for (int64_t i = 0; i < n; i++) copy[i] = values[i];
    sf_tensor *t = NULL;
    SF_CHECK(sf_tensor_from_data(values, SF_FLOAT64, shape, ndim, &t));
    free(values);
    return t;
}

/* The values of a float64 tensor as a new malloc'd array. */
static inline double *example_read64(sf_tensor *t) {
    int64_t n = 0;
    SF_CHECK(sf_tensor_numel(t, &n));
    double *values = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    SF_CHECK(sf_tensor_copy_to(t, values, sizeof(double) * (size_t)n));
    return values;
}

/* The number of elements of `t`. */
static inline int64_t example_numel(sf_tensor *t) {
    int64_t n = 0;
    SF_CHECK(sf_tensor_numel(t, &n));
    return n;
}

/* The values of a float32 tensor as a new malloc'd array. */
static inline float *example_read(sf_tensor *t) {
    int64_t n = example_numel(t);
    float *values = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    SF_CHECK(sf_tensor_copy_to(t, values, sizeof(float) * (size_t)n));
    return values;
}

/* The largest |a - b| over two float32 tensors of the same size. */
static inline double example_max_diff(sf_tensor *a, sf_tensor *b) {
    int64_t n = example_numel(a);
    if (n != example_numel(b)) return INFINITY;
    float *x = example_read(a), *y = example_read(b);
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)x[i] - (double)y[i]);
        if (d > worst || d != d) worst = d;
    }
    free(x);
    free(y);
    return worst;
}

/* Element i of `t` along dim 0, without that dim. */
static inline sf_tensor *example_select(sf_tensor *t, int64_t i) {
    sf_tensor *sliced = NULL, *squeezed = NULL;
    int64_t dim0 = 0;
    SF_CHECK(sf_slice(t, 0, i, i + 1, 1, &sliced));
    SF_CHECK(sf_squeeze(sliced, &dim0, 1, &squeezed));
    sf_tensor_release(sliced);
    return squeezed;
}

static inline double example_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline int example_compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median, minimum and maximum seconds of `reps` (at most 64) calls of f after one warm-up call;
 * outputs are released. */
typedef struct example_timing {
    double median, min, max;
} example_timing;

static inline example_timing example_time_calls(sf_function *f, sf_tensor *const *inputs, size_t n_in, size_t n_out, int reps) {
    double times[64];
    sf_tensor *outputs[16];
    if (reps > 64) reps = 64;
    if (n_out > 16) n_out = 16;
    for (int r = -1; r < reps; r++) {
        double t0 = example_seconds();
        SF_CHECK(sf_call(f, inputs, n_in, outputs, n_out));
        if (r >= 0) times[r] = example_seconds() - t0;
        for (size_t k = 0; k < n_out; k++) sf_tensor_release(outputs[k]);
    }
    qsort(times, (size_t)reps, sizeof *times, example_compare_doubles);
    return (example_timing){times[reps / 2], times[0], times[reps - 1]};
}

/* Median seconds of `reps` (at most 64) calls of f after one warm-up call; outputs are released. */
static inline double example_time_call(sf_function *f, sf_tensor *const *inputs, size_t n_in, size_t n_out, int reps) {
    return example_time_calls(f, inputs, n_in, n_out, reps).median;
}

#endif
