/* bench_memory.c — what the memory system buys on repeated transform calls: per-sample gradients
 * (vmap(grad)) of a D-128-10 MLP with cross-entropy on a batch of 64, for D = 784 (the tutorial's
 * MLP, 25 MB of per-sample gradients) and D = 9216 (the fc1 of the tutorials' MNIST CNN, 302 MB),
 * timed per call together with the minor page faults per call (getrusage) and the allocator's
 * statistics. Also the machine's floor for such a call: memset and memcpy bandwidth on warm
 * memory and the cost of writing freshly mapped memory (a page fault per 4 KiB).
 * Each figure is the median (and the best) of repeated calls after a warm-up call; lines starting
 * with "RESULT" are machine-readable. */
#define _GNU_SOURCE
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "../examples/c/example_util.h"
#include "bench_mlp.h"

enum { H = 128, C = 10, N = 64, REPS = 15 };

static long minor_faults(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_minflt;
}

static int compare_longs(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* Per-sample gradients of a d-128-10 MLP: median and best seconds per call, median faults per call. */
static void per_sample_grads(int64_t d) {
    unsigned rng = 1;
    sf_tensor *in[6], *out[4] = {NULL};
    sf_function *loss = NULL, *grad = NULL, *per_sample = NULL;
    mlp_workload(d, H, C, N, &rng, in, &loss, &grad, &per_sample);

    double times[REPS];
    long faults[REPS];
    for (int r = -1; r < REPS; r++) {  /* r = -1: the warm-up call */
        long f0 = minor_faults();
        double t0 = example_seconds();
        SF_CHECK(sf_call(per_sample, in, 6, out, 4));
        double t1 = example_seconds();
        for (int k = 0; k < 4; k++) sf_tensor_release(out[k]);
        long f1 = minor_faults();
        if (r >= 0) times[r] = t1 - t0, faults[r] = f1 - f0;
    }
    qsort(times, REPS, sizeof(double), example_compare_doubles);
    qsort(faults, REPS, sizeof(long), compare_longs);
    double gradient_mb = 4.0 * N * H * (double)d / 1e6;
    printf("per-sample grads, MLP %lld-%d-%d, batch %d (%.0f MB of fc1 gradients): median %8.3f ms, best %8.3f ms, "
           "worst %8.3f ms, minor faults per call %ld (median; %ld..%ld)\n",
           (long long)d, H, C, N, gradient_mb, 1e3 * times[REPS / 2], 1e3 * times[0], 1e3 * times[REPS - 1],
           faults[REPS / 2], faults[0], faults[REPS - 1]);
    printf("RESULT per_sample_grad_%lld_ms %.4f\nRESULT per_sample_grad_%lld_best_ms %.4f\n"
           "RESULT per_sample_grad_%lld_faults %ld\n",
           (long long)d, 1e3 * times[REPS / 2], (long long)d, 1e3 * times[0], (long long)d, faults[REPS / 2]);
#ifdef SF_MEMORY_STATS_INIT
    struct sf_memory_stats stats = SF_MEMORY_STATS_INIT;
    SF_CHECK(sf_memory_stats(&stats));
    printf("  memory: in use %.1f MB, cached %.1f MB, peak in use %.1f MB, cache hits %llu, OS maps %llu, "
           "OS unmaps %llu\n",
           stats.bytes_in_use / 1e6, stats.bytes_cached / 1e6, stats.peak_bytes_in_use / 1e6,
           (unsigned long long)stats.cache_hits, (unsigned long long)stats.os_allocations,
           (unsigned long long)stats.os_releases);
#endif
    for (int i = 0; i < 6; i++) sf_tensor_release(in[i]);
    sf_function_release(loss), sf_function_release(grad), sf_function_release(per_sample);
}

/* The floor: GB/s of memset and memcpy over `bytes` of warm memory (best of a few passes), and
 * the cost of writing `bytes` of freshly mapped memory with and without transparent huge pages. */
static void bandwidth(size_t bytes) {
    char *a = malloc(bytes), *b = malloc(bytes);
    memset(a, 1, bytes), memset(b, 2, bytes);
    double best_set = 1e9, best_copy = 1e9, best_fresh = 1e9, best_huge = 1e9;
    for (int r = 0; r < 5; r++) {
        double t0 = example_seconds();
        memset(a, r, bytes);
        double t1 = example_seconds();
        memcpy(b, a, bytes);
        double t2 = example_seconds();
        if (t1 - t0 < best_set) best_set = t1 - t0;
        if (t2 - t1 < best_copy) best_copy = t2 - t1;
        for (int huge = 0; huge < 2; huge++) {
            size_t align = 2u << 20, span = bytes + align;
            char *m = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (m == MAP_FAILED) continue;
            char *p = (char *)(((uintptr_t)m + align - 1) & ~(uintptr_t)(align - 1));
            if (huge) madvise(p, bytes, MADV_HUGEPAGE);
            double t3 = example_seconds();
            memset(p, r, bytes);
            double t4 = example_seconds();
            munmap(m, span);
            double *best = huge ? &best_huge : &best_fresh;
            if (t4 - t3 < *best) *best = t4 - t3;
        }
    }
    printf("memory floor, %.0f MB: memset %.1f GB/s (%.1f ms), memcpy %.1f GB/s read+write (%.1f ms); "
           "memset of fresh pages %.1f ms (4 KiB pages), %.1f ms (MADV_HUGEPAGE)\n",
           bytes / 1e6, bytes / best_set / 1e9, 1e3 * best_set, 2 * bytes / best_copy / 1e9, 1e3 * best_copy,
           1e3 * best_fresh, 1e3 * best_huge);
    printf("RESULT memset_gbs %.2f\nRESULT memcpy_gbs %.2f\nRESULT fresh_write_ms %.2f\nRESULT fresh_huge_write_ms %.2f\n",
           bytes / best_set / 1e9, 2 * bytes / best_copy / 1e9, 1e3 * best_fresh, 1e3 * best_huge);
    free(a), free(b);
}

int main(void) {
    printf("swiftfunc %s memory benchmarks (median of %d calls after a warm-up)\n", sf_version(), REPS);
    bandwidth((size_t)N * H * 9216 * 4);
    per_sample_grads(784);
    per_sample_grads(9216);
    return 0;
}
