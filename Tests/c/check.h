/* check.h — a tiny test harness for the C suites: CHECK macros that print file:line on failure
 * and count results, and a summary line "N passed, M failed". Tensor helpers built on it are in
 * tensor_check.h, the op arena for host callbacks in arena.h. */
#ifndef SWIFTFUNC_TEST_CHECK_H
#define SWIFTFUNC_TEST_CHECK_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "swiftfunc.h"

/* A sentinel for `out` pointers: every failing call must overwrite it with NULL. */
#define GARBAGE ((void *)(uintptr_t)0x1)

/* The number of elements of an array. */
#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

/* A parameter (of a callback) that is not read. */
#define UNUSED __attribute__((unused))

static int check_passed_count;
static int check_failed_count;

/* Records one result; prints where it failed. Returns whether it passed. */
static inline int check_record(int ok, const char *file, int line, const char *what) {
    if (ok) {
        check_passed_count++;
    } else {
        check_failed_count++;
        fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, what);
    }
    return ok;
}

/** A condition that must hold. */
#define CHECK(cond) check_record((cond) ? 1 : 0, __FILE__, __LINE__, #cond)

/** Two integers that must be equal (both are printed on failure). */
#define CHECK_EQ(actual, expected)                                                              \
    do {                                                                                        \
        long long check_a_ = (long long)(actual), check_e_ = (long long)(expected);             \
        if (!check_record(check_a_ == check_e_, __FILE__, __LINE__, #actual " == " #expected))  \
            fprintf(stderr, "    got %lld, expected %lld\n", check_a_, check_e_);               \
    } while (0)

/** Two doubles within an absolute tolerance. */
#define CHECK_NEAR(actual, expected, tol)                                                       \
    do {                                                                                        \
        double check_a_ = (double)(actual), check_e_ = (double)(expected);                      \
        if (!check_record(fabs(check_a_ - check_e_) <= (tol), __FILE__, __LINE__,               \
                          #actual " ~= " #expected))                                            \
            fprintf(stderr, "    got %.17g, expected %.17g\n", check_a_, check_e_);             \
    } while (0)

/** A call that must return `expected`; on a mismatch prints both statuses and sf_last_error(). */
#define CHECK_STATUS(call, expected)                                                            \
    do {                                                                                        \
        sf_status check_s_ = (call);                                                            \
        if (!check_record(check_s_ == (expected), __FILE__, __LINE__, #call " == " #expected))  \
            fprintf(stderr, "    got status %d (%s)\n", (int)check_s_, sf_last_error());        \
    } while (0)

/** A call that must succeed. */
#define CHECK_OK(call) CHECK_STATUS(call, SF_OK)

/* Records two results: `status` (of the call `what` names) is `expected`, and sf_last_error()
 * contains `fragment`. */
static inline void check_error(sf_status status, sf_status expected, const char *fragment, const char *file, int line,
                               const char *what) {
    if (!check_record(status == expected, file, line, what))
        fprintf(stderr, "    got status %d (%s)\n", (int)status, sf_last_error());
    char label[256];
    snprintf(label, sizeof label, "sf_last_error() contains \"%s\"", fragment);
    if (!check_record(strstr(sf_last_error(), fragment) != NULL, file, line, label))
        fprintf(stderr, "    message: \"%s\"\n", sf_last_error());
}

/** A call that must fail with `expected` and a message containing `fragment` (two results). */
#define CHECK_ERROR(call, expected, fragment)                                                   \
    check_error((call), (expected), (fragment), __FILE__, __LINE__, #call " == " #expected)

/** A call that must fail as CHECK_ERROR says and leave the handle `out`, preset to GARBAGE, NULL. */
#define CHECK_ERROR_NULL(out, call, expected, fragment)                                         \
    do {                                                                                        \
        (out) = GARBAGE;                                                                        \
        CHECK_ERROR(call, expected, fragment);                                                  \
        CHECK((out) == NULL);                                                                   \
    } while (0)

/** Prints "N passed, M failed" and returns the process exit status (nonzero on failure). */
static inline int check_summary(void) {
    printf("%d passed, %d failed\n", check_passed_count, check_failed_count);
    return check_failed_count == 0 ? 0 : 1;
}

#endif /* SWIFTFUNC_TEST_CHECK_H */
