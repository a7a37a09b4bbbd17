/* arena.h — an arena for host callbacks written with sf_* ops, shared by the C suites: each op's
 * result is kept and released at the end, the first failure stops the chain (the failing call's
 * message stays the thread's last error, which the library forwards), and outputs get their own
 * reference. Nothing here records a check: a callback fails through its return value.
 *
 *     arena a = {0};
 *     put(&a, out, 0, sum_all(&a, op1(&a, sf_sin, in[0])));
 *     return finish(&a);
 *
 * Everything is `static inline` (a suite may use part of it under -Wall -Wextra -Werror). */
#ifndef SWIFTFUNC_TEST_ARENA_H
#define SWIFTFUNC_TEST_ARENA_H

#include <stdbool.h>
#include <stddef.h>

#include "check.h"
#include "swiftfunc.h"

typedef struct arena {
    sf_tensor *temps[96];
    int n;
    int failed;
} arena;

typedef sf_status (*unary_fn)(sf_tensor *, sf_tensor **);
typedef sf_status (*binary_fn)(sf_tensor *, sf_tensor *, sf_tensor **);

/* Keeps *result, the output of the call that returned `status` (read through a pointer after
 * that call has run, so that both can be arguments of one call: keep(a, sf_x(..., &r), &r)). */
static inline sf_tensor *keep(arena *a, sf_status status, sf_tensor **result) {
    sf_tensor *t = *result;
    if (status != SF_OK) {
        a->failed = 1;
        return NULL;
    }
    if (a->n == (int)COUNT(a->temps)) {
        sf_tensor_release(t);
        sf_set_error("test arena is full");
        a->failed = 1;
        return NULL;
    }
    a->temps[a->n++] = t;
    return t;
}

static inline sf_tensor *op1(arena *a, unary_fn fn, sf_tensor *x) {
    sf_tensor *r = NULL;
    if (a->failed) return NULL;
    return keep(a, fn(x, &r), &r);
}

static inline sf_tensor *op2(arena *a, binary_fn fn, sf_tensor *x, sf_tensor *y) {
    sf_tensor *r = NULL;
    if (a->failed) return NULL;
    return keep(a, fn(x, y, &r), &r);
}

/* sum over all dims. */
static inline sf_tensor *sum_all(arena *a, sf_tensor *x) {
    sf_tensor *r = NULL;
    if (a->failed) return NULL;
    return keep(a, sf_sum(x, NULL, 0, false, &r), &r);
}

/* Stores a new reference to `t` in outputs[i] (nothing after a failure). */
static inline void put(arena *a, sf_tensor **outputs, size_t i, sf_tensor *t) {
    if (a->failed || t == NULL) return;
    sf_tensor_retain(t);
    outputs[i] = t;
}

/* Releases the temporaries; the callback's return value. */
static inline int finish(arena *a) {
    for (int i = 0; i < a->n; i++) sf_tensor_release(a->temps[i]);
    a->n = 0;
    return a->failed ? 1 : 0;
}

#endif /* SWIFTFUNC_TEST_ARENA_H */
