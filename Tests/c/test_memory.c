/* test_memory.c — the memory pool through the C ABI: sf_memory_stats (argument checks, the struct's
 * versioning by struct_size), the counters moving as tensors are made and released, size classes,
 * peak and reset, reuse of cached blocks (with no stale values where zeros are promised), the cache's
 * budget returning memory to the OS, sf_set_memory_limit (a call past it fails with
 * SF_ERR_OUT_OF_MEMORY and leaves nothing behind, also inside transforms; 0 removes it),
 * sf_memory_release_cached, huge requests (SF_ERR_OUT_OF_MEMORY when the bytes fit in int64,
 * SF_ERR_SHAPE past it), and tensors made and released on many threads.
 * Every test leaves the pool as it found it: no limit. Runs plain and under ASan/LSan. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "swiftfunc.h"

#define MIB ((int64_t)1 << 20)

static struct sf_memory_stats stats_now(void) {
    struct sf_memory_stats s = SF_MEMORY_STATS_INIT;
    CHECK_OK(sf_memory_stats(&s));
    return s;
}

/* A float32 tensor of `bytes` bytes (a multiple of 4) made by sf_full (value 0: sf_zeros). */
static sf_tensor *filled(int64_t bytes, double value) {
    int64_t shape[1] = {bytes / 4};
    sf_tensor *t = NULL;
    if (value == 0) CHECK_OK(sf_zeros(shape, 1, SF_FLOAT32, &t));
    else if (value == 1) CHECK_OK(sf_ones(shape, 1, SF_FLOAT32, &t));
    else CHECK_OK(sf_full(shape, 1, value, SF_FLOAT32, &t));
    return t;
}

/* Whether every element of a float32 tensor equals `value`. */
static int all_equal(sf_tensor *t, float value) {
    int64_t n = 0;
    if (t == NULL || sf_tensor_numel(t, &n) != SF_OK) return 0;
    float *v = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    int ok = sf_tensor_copy_to(t, v, sizeof(float) * (size_t)n) == SF_OK;
    for (int64_t i = 0; ok && i < n; i++) ok = v[i] == value;
    free(v);
    return ok;
}

static void test_stats_arguments(void) {
    CHECK_ERROR(sf_memory_stats(NULL), SF_ERR_INVALID_ARGUMENT, "sf_memory_stats: out is NULL");
    struct sf_memory_stats s = SF_MEMORY_STATS_INIT;
    CHECK_EQ(s.struct_size, sizeof(struct sf_memory_stats));
    s.struct_size = 0;
    CHECK_ERROR(sf_memory_stats(&s), SF_ERR_INVALID_ARGUMENT, "sf_memory_stats: out->struct_size is 0");
    s.struct_size = sizeof(size_t) + 4 * sizeof(uint64_t) - 1;
    CHECK_ERROR(sf_memory_stats(&s), SF_ERR_INVALID_ARGUMENT, "struct_size");

    /* A caller built against the first five fields only: nothing past them is written. */
    struct sf_memory_stats old;
    memset(&old, 0xAB, sizeof old);
    old.struct_size = sizeof(size_t) + 4 * sizeof(uint64_t);
    CHECK_OK(sf_memory_stats(&old));
    CHECK_EQ(old.struct_size, sizeof(size_t) + 4 * sizeof(uint64_t));
    CHECK(old.limit == 0);
    CHECK(old.high_water_bytes_in_use == 0xABABABABABABABABull && old.failed_allocations == 0xABABABABABABABABull);

    /* A caller with a newer, larger struct: this library fills what it has and says how much. */
    struct {
        struct sf_memory_stats known;
        uint64_t future[4];
    } newer;
    memset(&newer, 0xCD, sizeof newer);
    newer.known.struct_size = sizeof newer;
    CHECK_OK(sf_memory_stats(&newer.known));
    CHECK_EQ(newer.known.struct_size, sizeof(struct sf_memory_stats));
    CHECK(newer.future[0] == 0xCDCDCDCDCDCDCDCDull);
    CHECK(newer.known.failed_allocations != 0xCDCDCDCDCDCDCDCDull);

    CHECK_OK(sf_memory_reset_peak());
    CHECK_OK(sf_memory_release_cached());
    CHECK_OK(sf_set_memory_limit(0));
}

/* bytes_in_use follows tensors: a small block counts its bytes, a large one its size class. */
static void test_stats_follow_tensors(void) {
    CHECK_OK(sf_memory_release_cached());
    struct sf_memory_stats s0 = stats_now();
    CHECK(s0.bytes_cached == 0);
    CHECK(s0.high_water_bytes_in_use == s0.bytes_in_use);

    sf_tensor *small = filled(400, 1);
    struct sf_memory_stats s1 = stats_now();
    CHECK_EQ(s1.bytes_in_use, s0.bytes_in_use + 400);
    CHECK_EQ(s1.bytes_cached, 0);

    sf_tensor *large = filled(8 * MIB, 1);  /* exactly a class: 8 MiB */
    struct sf_memory_stats s2 = stats_now();
    CHECK_EQ(s2.bytes_in_use, s1.bytes_in_use + 8 * MIB);
    CHECK_EQ(s2.os_allocations, s1.os_allocations + 1);
    CHECK(s2.peak_bytes_in_use >= s2.bytes_in_use);
    CHECK_EQ(s2.high_water_bytes_in_use, s2.bytes_in_use);

    /* Rounded up to classes: 2 MiB steps from 4 MiB, 128 KiB steps from 1 MiB. */
    sf_tensor *odd = filled(8 * MIB + 4, 2);
    sf_tensor *mid = filled(MIB + 4, 2);
    struct sf_memory_stats s3 = stats_now();
    CHECK_EQ(s3.bytes_in_use, s2.bytes_in_use + 10 * MIB + MIB + MIB / 8);
    CHECK(all_equal(odd, 2) && all_equal(mid, 2));

    sf_tensor_release(small);
    sf_tensor_release(large);
    sf_tensor_release(odd);
    sf_tensor_release(mid);
    struct sf_memory_stats s4 = stats_now();
    CHECK_EQ(s4.bytes_in_use, s0.bytes_in_use);
    CHECK_EQ(s4.bytes_cached, 8 * MIB + 10 * MIB + MIB + MIB / 8);  /* the large blocks, kept */
    CHECK_EQ(s4.os_releases, s3.os_releases);

    CHECK_OK(sf_memory_release_cached());
    struct sf_memory_stats s5 = stats_now();
    CHECK_EQ(s5.bytes_cached, 0);
    CHECK_EQ(s5.os_releases, s4.os_releases + 3);
    CHECK_EQ(s5.high_water_bytes_in_use, s5.bytes_in_use);
}

static void test_peak_and_reset(void) {
    CHECK_OK(sf_memory_reset_peak());
    struct sf_memory_stats s0 = stats_now();
    CHECK_EQ(s0.peak_bytes_in_use, s0.bytes_in_use);
    sf_tensor *a = filled(16 * MIB, 1), *b = filled(16 * MIB, 1);
    sf_tensor_release(a);
    sf_tensor_release(b);
    struct sf_memory_stats s1 = stats_now();
    CHECK_EQ(s1.bytes_in_use, s0.bytes_in_use);
    CHECK(s1.peak_bytes_in_use >= s0.bytes_in_use + 32 * MIB);
    CHECK(s1.high_water_bytes_in_use >= s0.bytes_in_use + 32 * MIB);
    CHECK_OK(sf_memory_reset_peak());
    struct sf_memory_stats s2 = stats_now();
    CHECK_EQ(s2.peak_bytes_in_use, s2.bytes_in_use);
    CHECK_EQ(s2.high_water_bytes_in_use, s1.high_water_bytes_in_use);  /* the peak's reset leaves it */
    CHECK_OK(sf_memory_release_cached());
}

/* A released block serves the next request of its class, and values are what the op promises. */
static void test_reuse_has_no_stale_values(void) {
    CHECK_OK(sf_memory_release_cached());
    sf_tensor *ones = filled(24 * MIB, 1);
    CHECK(all_equal(ones, 1));
    sf_tensor_release(ones);
    struct sf_memory_stats s0 = stats_now();
    CHECK_EQ(s0.bytes_cached, 24 * MIB);

    sf_tensor *zeros = filled(24 * MIB, 0);  /* the same block: must be cleared */
    struct sf_memory_stats s1 = stats_now();
    CHECK_EQ(s1.cache_hits, s0.cache_hits + 1);
    CHECK_EQ(s1.os_allocations, s0.os_allocations);
    CHECK_EQ(s1.bytes_cached, 0);
    CHECK(all_equal(zeros, 0));
    sf_tensor_release(zeros);

    /* A smaller request of the same class (24 MiB - 4 KiB) also gets the block, and zeros. */
    sf_tensor *sevens = filled(24 * MIB, 7);
    sf_tensor_release(sevens);
    sf_tensor *fewer = filled(24 * MIB - 4096, 0);
    struct sf_memory_stats s2 = stats_now();
    CHECK_EQ(s2.cache_hits, s1.cache_hits + 2);
    CHECK(all_equal(fewer, 0));

    /* An op's own kernel writes every element of a reused block. */
    sf_tensor *neg = NULL;
    CHECK_OK(sf_neg(fewer, &neg));
    sf_tensor_release(fewer);
    sf_tensor *twos = filled(24 * MIB - 4096, 2), *sum = NULL;
    CHECK_OK(sf_add(twos, neg, &sum));  /* served by fewer's block */
    CHECK(all_equal(sum, 2));
    sf_tensor_release(neg);
    sf_tensor_release(twos);
    sf_tensor_release(sum);

    /* Fresh zeros (from the OS, not cleared again) are zeros too. */
    CHECK_OK(sf_memory_release_cached());
    sf_tensor *fresh = filled(24 * MIB, 0);
    CHECK(all_equal(fresh, 0));
    sf_tensor_release(fresh);
    CHECK_OK(sf_memory_release_cached());
}

/* Over the budget (bytes in use + cached within twice the high-water mark of the bytes in use), the
 * least recently freed blocks go back to the OS. */
static void test_budget_returns_memory(void) {
    CHECK_OK(sf_memory_release_cached());
    struct sf_memory_stats s0 = stats_now();
    CHECK(s0.bytes_in_use < 8 * MIB);  /* so that the sizes below pass the budget */
    sf_tensor *a = filled(32 * MIB, 1);
    sf_tensor_release(a);
    struct sf_memory_stats s1 = stats_now();
    CHECK_EQ(s1.high_water_bytes_in_use, s0.bytes_in_use + 32 * MIB);
    CHECK_EQ(s1.bytes_cached, 32 * MIB);

    sf_tensor *b = filled(24 * MIB, 1);  /* another class: a miss; within the budget, a's block stays */
    sf_tensor_release(b);
    struct sf_memory_stats s2 = stats_now();
    CHECK_EQ(s2.os_allocations, s1.os_allocations + 1);
    CHECK_EQ(s2.bytes_cached, 56 * MIB);
    CHECK_EQ(s2.os_releases, s1.os_releases);

    sf_tensor *c = filled(16 * MIB, 1);  /* 16 in use + 56 cached > 2 x 32: a's block goes */
    struct sf_memory_stats s3 = stats_now();
    CHECK_EQ(s3.os_releases, s2.os_releases + 1);
    CHECK_EQ(s3.bytes_cached, 24 * MIB);
    CHECK(s3.bytes_in_use + s3.bytes_cached <= 2 * s3.high_water_bytes_in_use);
    sf_tensor_release(c);
    sf_tensor *again = filled(24 * MIB, 0);  /* b's block is still there */
    CHECK_EQ(stats_now().cache_hits, s3.cache_hits + 1);
    CHECK(all_equal(again, 0));
    sf_tensor_release(again);
    CHECK_EQ(stats_now().bytes_in_use, s0.bytes_in_use);
    CHECK_OK(sf_memory_release_cached());
}

/* A host function that makes two 16 MiB temporaries and a small result: exp(x) * x summed. */
static int exp_times_x(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)ud, (void)n_in, (void)n_out;
    sf_tensor *e = NULL, *p = NULL;
    sf_status s = sf_exp(in[0], &e);
    if (s == SF_OK) s = sf_mul(e, in[0], &p);
    if (s == SF_OK) s = sf_sum(p, NULL, 0, false, &out[0]);
    sf_tensor_release(e);
    sf_tensor_release(p);
    return s != SF_OK;
}

static void test_limit(void) {
    CHECK_OK(sf_memory_release_cached());
    struct sf_memory_stats s0 = stats_now();
    CHECK_EQ(s0.limit, 0);
    CHECK_OK(sf_set_memory_limit((uint64_t)(s0.bytes_in_use + 40 * MIB)));
    CHECK_EQ(stats_now().limit, s0.bytes_in_use + 40 * MIB);

    sf_tensor *a = filled(32 * MIB, 1);
    struct sf_memory_stats s1 = stats_now();

    /* Past the limit: SF_ERR_OUT_OF_MEMORY naming the op, out NULL, the counts as before. */
    int64_t shape[1] = {16 * MIB / 4};
    sf_tensor *b = GARBAGE;
    CHECK_ERROR_NULL(b, sf_zeros(shape, 1, SF_FLOAT32, &b), SF_ERR_OUT_OF_MEMORY, "sf_zeros: ");
    CHECK(strstr(sf_last_error(), "memory limit") != NULL);
    struct sf_memory_stats s2 = stats_now();
    CHECK_EQ(s2.bytes_in_use, s1.bytes_in_use);
    CHECK_EQ(s2.bytes_cached, s1.bytes_cached);
    CHECK_EQ(s2.os_allocations, s1.os_allocations);
    CHECK_EQ(s2.failed_allocations, s1.failed_allocations + 1);
    /* Small allocations are limited too. */
    CHECK_OK(sf_set_memory_limit((uint64_t)(s1.bytes_in_use + 1000)));
    int64_t small_shape[1] = {300};
    CHECK_ERROR_NULL(b, sf_ones(small_shape, 1, SF_FLOAT32, &b), SF_ERR_OUT_OF_MEMORY, "sf_ones: ");
    CHECK_EQ(stats_now().bytes_in_use, s1.bytes_in_use);
    small_shape[0] = 250;
    CHECK_OK(sf_ones(small_shape, 1, SF_FLOAT32, &b));
    CHECK(all_equal(b, 1));
    sf_tensor_release(b);
    CHECK_OK(sf_set_memory_limit((uint64_t)(s0.bytes_in_use + 40 * MIB)));

    /* Released, a's block is cached; the next allocation needs its room: it goes back to the OS. */
    sf_tensor_release(a);
    struct sf_memory_stats s3 = stats_now();
    CHECK_EQ(s3.bytes_cached, 32 * MIB);
    CHECK_OK(sf_zeros(shape, 1, SF_FLOAT32, &b));
    struct sf_memory_stats s4 = stats_now();
    CHECK_EQ(s4.os_releases, s3.os_releases + 1);
    CHECK_EQ(s4.bytes_cached, 0);
    CHECK(s4.bytes_in_use + s4.bytes_cached <= s4.limit);
    CHECK(all_equal(b, 0));
    sf_tensor_release(b);

    /* Lowering the limit returns cached memory at once. */
    CHECK(stats_now().bytes_cached == 16 * MIB);
    CHECK_OK(sf_set_memory_limit((uint64_t)(s0.bytes_in_use + 8 * MIB)));
    struct sf_memory_stats s5 = stats_now();
    CHECK_EQ(s5.bytes_cached, 0);
    CHECK_EQ(s5.os_releases, s4.os_releases + 1);

    /* Limit 0: no limit. */
    CHECK_OK(sf_set_memory_limit(0));
    sf_tensor *big = filled(64 * MIB, 1);
    CHECK(all_equal(big, 1));
    CHECK_EQ(stats_now().limit, 0);
    sf_tensor_release(big);
    CHECK_OK(sf_memory_release_cached());
}

/* A call that fails part-way under the limit leaves nothing behind: its temporaries are freed. */
static void test_limit_inside_calls(void) {
    CHECK_OK(sf_memory_release_cached());
    int64_t shape[1] = {16 * MIB / 4};
    sf_tensor *x = NULL;
    CHECK_OK(sf_full(shape, 1, 0.5, SF_FLOAT32, &x));
    sf_function *f = NULL, *g = NULL;
    CHECK_OK(sf_function_new(exp_times_x, NULL, NULL, 1, 1, &f));
    CHECK_OK(sf_grad(f, NULL, 0, false, &g));
    struct sf_memory_stats s0 = stats_now();

    /* Room for one 16 MiB temporary but not two: a composite op fails naming the op inside it. */
    CHECK_OK(sf_set_memory_limit((uint64_t)(s0.bytes_in_use + 24 * MIB)));
    sf_tensor *y = GARBAGE;
    CHECK_ERROR_NULL(y, sf_softmax(x, 0, &y), SF_ERR_OUT_OF_MEMORY, "sf_softmax: sf_");
    CHECK(strstr(sf_last_error(), "memory limit") != NULL);
    struct sf_memory_stats s1 = stats_now();
    CHECK_EQ(s1.bytes_in_use, s0.bytes_in_use);
    CHECK(s1.bytes_in_use + s1.bytes_cached <= s1.limit);

    /* In a host function the op's failure fails the callback (SF_ERR_CALLBACK carries the message). */
    y = GARBAGE;
    CHECK_ERROR(sf_call(f, &x, 1, &y, 1), SF_ERR_CALLBACK, "sf_mul: allocating 16777216 bytes");
    CHECK(y == NULL);
    CHECK_EQ(stats_now().bytes_in_use, s0.bytes_in_use);

    /* With room for the forward, grad fails in its backward pass (the tape's residuals are alive):
     * SF_ERR_OUT_OF_MEMORY naming the op, and everything it held is freed. */
    CHECK_OK(sf_set_memory_limit((uint64_t)(s0.bytes_in_use + 40 * MIB)));
    y = GARBAGE;
    CHECK_ERROR(sf_call(g, &x, 1, &y, 1), SF_ERR_OUT_OF_MEMORY, "memory limit");
    CHECK(y == NULL);
    CHECK_EQ(stats_now().bytes_in_use, s0.bytes_in_use);

    /* Without the limit both run, and the values are right: d/dx sum(exp(x) x) = exp(x) (1 + x). */
    CHECK_OK(sf_set_memory_limit(0));
    CHECK_OK(sf_call(g, &x, 1, &y, 1));
    float first = 0;
    sf_tensor *one = NULL;
    CHECK_OK(sf_slice(y, 0, 0, 1, 1, &one));
    CHECK_OK(sf_tensor_copy_to(one, &first, sizeof first));
    CHECK_NEAR(first, 1.6487212707001282 * 1.5, 1e-5);
    sf_tensor_release(one);
    sf_tensor_release(y);
    sf_tensor_release(x);
    sf_function_release(f);
    sf_function_release(g);
    CHECK_OK(sf_memory_release_cached());
}

/* Tensors made and released on several threads at once: the counts return to where they were and
 * every tensor holds its own values. */
enum { THREADS = 4, ROUNDS = 40 };

static void *worker(void *arg) {
    intptr_t id = (intptr_t)arg;
    long failures = 0;
    for (int r = 0; r < ROUNDS; r++) {
        int64_t bytes = (r % 3 == 0) ? 2 * MIB + 4096 * id : 256 + 64 * r;
        float value = (float)(id * 1000 + r);
        int64_t shape[1] = {bytes / 4};
        sf_tensor *t = NULL;
        if (sf_full(shape, 1, value, SF_FLOAT32, &t) != SF_OK || !all_equal(t, value)) failures++;
        sf_tensor_release(t);
    }
    return (void *)failures;
}

static void test_threads(void) {
    struct sf_memory_stats s0 = stats_now();
    pthread_t threads[THREADS];
    for (intptr_t i = 0; i < THREADS; i++) pthread_create(&threads[i], NULL, worker, (void *)i);
    long failures = 0;
    for (int i = 0; i < THREADS; i++) {
        void *result = NULL;
        pthread_join(threads[i], &result);
        failures += (long)(intptr_t)result;
    }
    CHECK_EQ(failures, 0);
    struct sf_memory_stats s1 = stats_now();
    CHECK_EQ(s1.bytes_in_use, s0.bytes_in_use);
    CHECK(s1.bytes_in_use + s1.bytes_cached <= 2 * s1.high_water_bytes_in_use);
    CHECK(s1.cache_hits > s0.cache_hits);
    CHECK_OK(sf_memory_release_cached());
}

/* Huge requests: 2^40 float32 (4 TiB) fits in int64 but no machine has it: SF_ERR_OUT_OF_MEMORY
 * naming the function (unless the kernel overcommits unconditionally, vm.overcommit_memory = 1, where
 * the mapping could succeed). A byte count past int64 is SF_ERR_SHAPE; one that fits while its size
 * class (rounded up) does not is SF_ERR_OUT_OF_MEMORY. Nothing is left in use. */
static int overcommits_always(void) {
    FILE *f = fopen("/proc/sys/vm/overcommit_memory", "r");
    int mode = 0;
    if (f) {
        if (fscanf(f, "%d", &mode) != 1) mode = 0;
        fclose(f);
    }
    return mode == 1;
}

/* A call that must fail with SF_ERR_OUT_OF_MEMORY, a message starting with `name` (the function
 * called; the op inside it may follow) and saying it cannot allocate, and out left NULL. */
#define CHECK_CANNOT_ALLOCATE(out, call, name)                                                   \
    do {                                                                                        \
        CHECK_ERROR_NULL(out, call, SF_ERR_OUT_OF_MEMORY, "cannot allocate");                   \
        CHECK(strncmp(sf_last_error(), name ": ", strlen(name ": ")) == 0);                     \
    } while (0)

static void test_huge_requests(void) {
    const int64_t tib4[1] = {(int64_t)1 << 40};                         /* 2^42 bytes of float32 */
    const int64_t past_bytes[1] = {(int64_t)1 << 62};                   /* 2^64 bytes: past int64 */
    const int64_t past_count[2] = {(int64_t)1 << 40, (int64_t)1 << 40}; /* 2^80 elements */
    const int64_t no_class[1] = {INT64_MAX / 4 - 1};                    /* 2^63 - 8 bytes */
    const float one = 1;
    const uint64_t in_use = stats_now().bytes_in_use;
    sf_tensor *t = NULL;
    CHECK_ERROR_NULL(t, sf_zeros(past_bytes, 1, SF_FLOAT32, &t), SF_ERR_SHAPE, "sf_zeros: ");
    CHECK_ERROR_NULL(t, sf_ones(past_count, 2, SF_FLOAT32, &t), SF_ERR_SHAPE, "sf_ones: ");
    CHECK_ERROR_NULL(t, sf_full(past_bytes, 1, 2, SF_FLOAT32, &t), SF_ERR_SHAPE, "sf_full: ");
    CHECK_ERROR_NULL(t, sf_tensor_from_data(&one, SF_FLOAT32, past_bytes, 1, &t), SF_ERR_SHAPE, "sf_tensor_from_data: ");
    CHECK_CANNOT_ALLOCATE(t, sf_zeros(no_class, 1, SF_FLOAT32, &t), "sf_zeros");
    CHECK_CANNOT_ALLOCATE(t, sf_tensor_from_data(&one, SF_FLOAT32, no_class, 1, &t), "sf_tensor_from_data");
    if (overcommits_always()) {
        printf("test_huge_requests: 4 TiB requests skipped (vm.overcommit_memory = 1)\n");
    } else {
        CHECK_CANNOT_ALLOCATE(t, sf_zeros(tib4, 1, SF_FLOAT32, &t), "sf_zeros");
        CHECK_CANNOT_ALLOCATE(t, sf_ones(tib4, 1, SF_FLOAT32, &t), "sf_ones");
        CHECK_CANNOT_ALLOCATE(t, sf_full(tib4, 1, 2, SF_FLOAT32, &t), "sf_full");
        CHECK_CANNOT_ALLOCATE(t, sf_rand(tib4, 1, SF_FLOAT32, &t), "sf_rand");
        CHECK_CANNOT_ALLOCATE(t, sf_tensor_from_data(&one, SF_FLOAT32, tib4, 1, &t), "sf_tensor_from_data");
    }
    CHECK_EQ(stats_now().bytes_in_use, in_use);
}

int main(void) {
    test_stats_arguments();
    test_stats_follow_tensors();
    test_peak_and_reset();
    test_reuse_has_no_stale_values();
    test_budget_returns_memory();
    test_limit();
    test_limit_inside_calls();
    test_huge_requests();
    test_threads();
    CHECK_EQ(stats_now().limit, 0);
    return check_summary();
}
