/* swiftfunc_sgemm_nt_rows and swiftfunc_sgemm_small_k: see include/swiftfunc_kernels.h. Compiled
 * for AVX2 + FMA through a target attribute (not a build flag), so a portable build still has the
 * kernels and runs them when the CPU has those instructions. */
#include "swiftfunc_kernels.h"

#include <stdatomic.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#define SF_KERNELS_X86 1
#endif

#ifdef SF_KERNELS_X86

/* Asks the CPU once: -1 until the first call (threads racing here all store the same answer). */
int swiftfunc_kernels_available(void) {
    static _Atomic int available = -1;
    int known = atomic_load_explicit(&available, memory_order_relaxed);
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        atomic_store_explicit(&available, known, memory_order_relaxed);
    }
    return known;
}

#define SF_TARGET __attribute__((target("avx2,fma")))

/* Elements of the contraction per block: rows of 2 KiB, so that a block of A's rows and of B's
 * stays in the L2 cache while every tile of the block uses it. */
enum { BLOCK = 512 };

SF_TARGET static inline float sum_lanes(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

/* Lanes p < count of 8 loaded (the rest zero): the end of a block whose length is not a multiple of 8. */
SF_TARGET static inline __m256 load_first(const float *p, int count) {
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_maskload_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(count), lanes));
}

/* One tile of ROWS rows of A by COLS rows of B over one block of the contraction (kc elements from
 * a and b): 8 partial sums per output in registers, added into c at the end. ROWS and COLS are
 * constants at each call, so the loops unroll and the sums stay in registers. `ahead`, when not
 * NULL, is a row to prefetch along (the next tile's A rows, read from memory for the first time). */
#define SF_TILE(ROWS, COLS)                                                                                 \
    SF_TARGET static inline void tile_##ROWS##x##COLS(ptrdiff_t kc, const float *a, ptrdiff_t lda,         \
                                                      const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc, \
                                                      const float *ahead) {                               \
        __m256 sums[ROWS][COLS];                                                                           \
        for (int r = 0; r < ROWS; r++)                                                                     \
            for (int s = 0; s < COLS; s++) sums[r][s] = _mm256_setzero_ps();                               \
        ptrdiff_t p = 0;                                                                                   \
        for (; p + 8 <= kc; p += 8) {                                                                      \
            if (ahead && (p & 15) == 0) _mm_prefetch((const char *)(ahead + p), _MM_HINT_T0);              \
            __m256 x[COLS];                                                                                \
            for (int s = 0; s < COLS; s++) x[s] = _mm256_loadu_ps(b + s * ldb + p);                        \
            for (int r = 0; r < ROWS; r++) {                                                               \
                __m256 y = _mm256_loadu_ps(a + r * lda + p);                                               \
                for (int s = 0; s < COLS; s++) sums[r][s] = _mm256_fmadd_ps(y, x[s], sums[r][s]);          \
            }                                                                                              \
        }                                                                                                  \
        if (p < kc) {                                                                                      \
            int rest = (int)(kc - p);                                                                      \
            __m256 x[COLS];                                                                                \
            for (int s = 0; s < COLS; s++) x[s] = load_first(b + s * ldb + p, rest);                       \
            for (int r = 0; r < ROWS; r++) {                                                               \
                __m256 y = load_first(a + r * lda + p, rest);                                              \
                for (int s = 0; s < COLS; s++) sums[r][s] = _mm256_fmadd_ps(y, x[s], sums[r][s]);          \
            }                                                                                              \
        }                                                                                                  \
        for (int r = 0; r < ROWS; r++)                                                                     \
            for (int s = 0; s < COLS; s++) c[r * ldc + s] += sum_lanes(sums[r][s]);                        \
    }

SF_TILE(4, 3)
SF_TILE(4, 1)
SF_TILE(1, 3)
SF_TILE(1, 1)

/* One block of the contraction for rows [0, m) of A against every row of B. */
SF_TARGET static void block(ptrdiff_t m, ptrdiff_t n, ptrdiff_t kc, const float *a, ptrdiff_t lda, const float *b,
                            ptrdiff_t ldb, float *c, ptrdiff_t ldc) {
    ptrdiff_t i = 0;
    for (; i + 4 <= m; i += 4) {
        const float *rows = a + i * lda;
        float *out = c + i * ldc;
        ptrdiff_t j = 0;
        for (; j + 3 <= n; j += 3) {
            /* While the first four tiles of this row tile run, fetch the next one's four A rows. */
            const float *ahead = j < 12 && i + 8 <= m ? rows + (4 + j / 3) * lda : NULL;
            tile_4x3(kc, rows, lda, b + j * ldb, ldb, out + j, ldc, ahead);
        }
        for (; j < n; j++) tile_4x1(kc, rows, lda, b + j * ldb, ldb, out + j, ldc, NULL);
    }
    for (; i < m; i++) {
        ptrdiff_t j = 0;
        for (; j + 3 <= n; j += 3) tile_1x3(kc, a + i * lda, lda, b + j * ldb, ldb, c + i * ldc + j, ldc, NULL);
        for (; j < n; j++) tile_1x1(kc, a + i * lda, lda, b + j * ldb, ldb, c + i * ldc + j, ldc, NULL);
    }
}

SF_TARGET static void sgemm_nt_rows(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a, ptrdiff_t lda,
                                    const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc) {
    for (ptrdiff_t i = 0; i < m; i++)
        for (ptrdiff_t j = 0; j < n; j++) c[i * ldc + j] = 0;
    for (ptrdiff_t p = 0; p < k; p += BLOCK) {
        ptrdiff_t kc = k - p < BLOCK ? k - p : BLOCK;
        block(m, n, kc, a + p, lda, b + p, ldb, c, ldc);
    }
}

/* Columns of C per tile of swiftfunc_sgemm_small_k: three vectors. */
enum { TILE_COLUMNS = 24 };

/* ROWS rows of C (i0 + r, r < ROWS) by TILE_COLUMNS columns from column j0, `width` of them real
 * (the rest neither read from B nor written): the sum over p of A(i, p) B(p, j), one FMA per p in
 * increasing order. Whole vectors are stored with plain stores; a partial one goes through memory
 * (AVX masked stores are slow on AMD cores: they halved this kernel's speed). */
#define SF_SMALL_K_TILE(ROWS)                                                                               \
    SF_TARGET static inline void small_k_tile_##ROWS(ptrdiff_t k, const float *a, ptrdiff_t a_row,         \
                                                     ptrdiff_t a_step, const float *b, ptrdiff_t ldb,      \
                                                     float *c, ptrdiff_t ldc, int width) {                  \
        __m256 sums[ROWS][3];                                                                              \
        for (int r = 0; r < ROWS; r++)                                                                     \
            for (int v = 0; v < 3; v++) sums[r][v] = _mm256_setzero_ps();                                  \
        if (width == TILE_COLUMNS) {                                                                       \
            for (ptrdiff_t p = 0; p < k; p++) {                                                            \
                const float *row = b + p * ldb;                                                            \
                __m256 x0 = _mm256_loadu_ps(row), x1 = _mm256_loadu_ps(row + 8), x2 = _mm256_loadu_ps(row + 16); \
                for (int r = 0; r < ROWS; r++) {                                                           \
                    __m256 y = _mm256_broadcast_ss(a + p * a_step + r * a_row);                            \
                    sums[r][0] = _mm256_fmadd_ps(y, x0, sums[r][0]);                                       \
                    sums[r][1] = _mm256_fmadd_ps(y, x1, sums[r][1]);                                       \
                    sums[r][2] = _mm256_fmadd_ps(y, x2, sums[r][2]);                                       \
                }                                                                                          \
            }                                                                                              \
            for (int r = 0; r < ROWS; r++)                                                                 \
                for (int v = 0; v < 3; v++) _mm256_storeu_ps(c + r * ldc + 8 * v, sums[r][v]);             \
            return;                                                                                        \
        }                                                                                                  \
        for (ptrdiff_t p = 0; p < k; p++) {                                                                \
            const float *row = b + p * ldb;                                                                \
            __m256 x[3];                                                                                   \
            for (int v = 0; v < 3; v++) x[v] = load_first(row + 8 * v, width - 8 * v);                    \
            for (int r = 0; r < ROWS; r++) {                                                               \
                __m256 y = _mm256_broadcast_ss(a + p * a_step + r * a_row);                                \
                for (int v = 0; v < 3; v++) sums[r][v] = _mm256_fmadd_ps(y, x[v], sums[r][v]);             \
            }                                                                                              \
        }                                                                                                  \
        float staged[TILE_COLUMNS];                                                                        \
        for (int r = 0; r < ROWS; r++) {                                                                   \
            for (int v = 0; v < 3; v++) _mm256_storeu_ps(staged + 8 * v, sums[r][v]);                      \
            for (int j = 0; j < width; j++) c[r * ldc + j] = staged[j];                                    \
        }                                                                                                  \
    }

SF_SMALL_K_TILE(4)
SF_SMALL_K_TILE(1)

SF_TARGET static void sgemm_small_k(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a, ptrdiff_t a_row,
                                    ptrdiff_t a_step, const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc) {
    /* Column blocks outside, rows inside: a block's rows of B (k x 24 floats) stay in L1 while
     * every row tile uses them. */
    for (ptrdiff_t j = 0; j < n; j += TILE_COLUMNS) {
        int width = n - j < TILE_COLUMNS ? (int)(n - j) : TILE_COLUMNS;
        ptrdiff_t i = 0;
        for (; i + 4 <= m; i += 4)
            small_k_tile_4(k, a + i * a_row, a_row, a_step, b + j, ldb, c + i * ldc + j, ldc, width);
        for (; i < m; i++) small_k_tile_1(k, a + i * a_row, a_row, a_step, b + j, ldb, c + i * ldc + j, ldc, width);
    }
}

int swiftfunc_sgemm_nt_rows(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a, ptrdiff_t lda,
                            const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc) {
    if (!swiftfunc_kernels_available()) return 0;
    sgemm_nt_rows(m, n, k, a, lda, b, ldb, c, ldc);
    return 1;
}

int swiftfunc_sgemm_small_k(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a, ptrdiff_t a_row,
                            ptrdiff_t a_step, const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc) {
    if (!swiftfunc_kernels_available()) return 0;
    sgemm_small_k(m, n, k, a, a_row, a_step, b, ldb, c, ldc);
    return 1;
}

#else

int swiftfunc_kernels_available(void) { return 0; }

int swiftfunc_sgemm_nt_rows(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a, ptrdiff_t lda,
                            const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc) {
    (void)m, (void)n, (void)k, (void)a, (void)lda, (void)b, (void)ldb, (void)c, (void)ldc;
    return 0;
}

int swiftfunc_sgemm_small_k(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a, ptrdiff_t a_row,
                            ptrdiff_t a_step, const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc) {
    (void)m, (void)n, (void)k, (void)a, (void)a_row, (void)a_step, (void)b, (void)ldb, (void)c, (void)ldc;
    return 0;
}

#endif
