/* swiftfunc_col2im_unit_stride: see include/swiftfunc_kernels.h. Compiled for AVX2 through a target
 * attribute, as products.c's kernels are. */
#include "swiftfunc_kernels.h"

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

/* Taps a kernel may have here (8 x 8); larger kernels take the caller's loop. */
enum { MAX_TAPS = 64 };

static inline ptrdiff_t max_of(ptrdiff_t a, ptrdiff_t b) { return a > b ? a : b; }
static inline ptrdiff_t min_of(ptrdiff_t a, ptrdiff_t b) { return a < b ? a : b; }

/* Output w of a line from its taps t < taps that cover it (first[t] <= w < end[t]), in order. */
static inline float sum_at(const float *columns, const ptrdiff_t *offset, const ptrdiff_t *first,
                           const ptrdiff_t *end, int taps, ptrdiff_t w) {
    float sum = 0.0f;
    for (int t = 0; t < taps; t++)
        if (first[t] <= w && w < end[t]) sum += columns[offset[t] + w];
    return sum;
}

__attribute__((target("avx2"))) static void col2im_plane(const float *columns, ptrdiff_t tap_stride, ptrdiff_t kernel_h,
                                                         ptrdiff_t kernel_w, ptrdiff_t out_h, ptrdiff_t out_w,
                                                         ptrdiff_t pad_h, ptrdiff_t pad_w, ptrdiff_t dil_h,
                                                         ptrdiff_t dil_w, float *plane, ptrdiff_t height,
                                                         ptrdiff_t width) {
    /* Per tap of the current line: where its row starts (columns[offset + w] is output w's entry)
     * and the outputs it covers. */
    ptrdiff_t offset[MAX_TAPS], first[MAX_TAPS], end[MAX_TAPS];
    for (ptrdiff_t h = 0; h < height; h++) {
        float *line = plane + h * width;
        int taps = 0;
        ptrdiff_t inner_first = 0, inner_end = width; /* the outputs every tap covers */
        for (ptrdiff_t i = 0; i < kernel_h; i++) {
            ptrdiff_t oh = h + pad_h - i * dil_h;
            if (oh < 0 || oh >= out_h) continue;
            for (ptrdiff_t j = 0; j < kernel_w; j++) {
                ptrdiff_t shift = pad_w - j * dil_w; /* ow = w + shift */
                ptrdiff_t lo = max_of(0, -shift), hi = min_of(width, out_w - shift);
                if (lo >= hi) continue;
                offset[taps] = (i * kernel_w + j) * tap_stride + oh * out_w + shift;
                first[taps] = lo, end[taps] = hi;
                inner_first = max_of(inner_first, lo), inner_end = min_of(inner_end, hi);
                taps++;
            }
        }
        if (inner_first > inner_end) inner_first = inner_end = 0;
        ptrdiff_t w = 0;
        for (; w < inner_first; w++) line[w] = sum_at(columns, offset, first, end, taps, w);
        if (inner_end - inner_first >= 8) {
            /* The last vector ends at inner_end, overlapping the one before it: its outputs are
             * computed again, the same values, instead of one by one. */
            for (;; w += 8) {
                if (w + 8 > inner_end) w = inner_end - 8;
                __m256 sum = _mm256_setzero_ps();
                for (int t = 0; t < taps; t++) sum = _mm256_add_ps(sum, _mm256_loadu_ps(columns + offset[t] + w));
                _mm256_storeu_ps(line + w, sum);
                if (w + 8 == inner_end) break;
            }
            w = inner_end;
        }
        for (; w < width; w++) line[w] = sum_at(columns, offset, first, end, taps, w);
    }
}

int swiftfunc_col2im_unit_stride(const float *columns, ptrdiff_t tap_stride, ptrdiff_t kernel_h, ptrdiff_t kernel_w,
                                 ptrdiff_t out_h, ptrdiff_t out_w, ptrdiff_t pad_h, ptrdiff_t pad_w, ptrdiff_t dil_h,
                                 ptrdiff_t dil_w, float *plane, ptrdiff_t height, ptrdiff_t width) {
    if (!swiftfunc_kernels_available() || kernel_h * kernel_w > MAX_TAPS) return 0;
    col2im_plane(columns, tap_stride, kernel_h, kernel_w, out_h, out_w, pad_h, pad_w, dil_h, dil_w, plane, height, width);
    return 1;
}

#else

int swiftfunc_col2im_unit_stride(const float *columns, ptrdiff_t tap_stride, ptrdiff_t kernel_h, ptrdiff_t kernel_w,
                                 ptrdiff_t out_h, ptrdiff_t out_w, ptrdiff_t pad_h, ptrdiff_t pad_w, ptrdiff_t dil_h,
                                 ptrdiff_t dil_w, float *plane, ptrdiff_t height, ptrdiff_t width) {
    (void)columns, (void)tap_stride, (void)kernel_h, (void)kernel_w, (void)out_h, (void)out_w, (void)pad_h;
    (void)pad_w, (void)dil_h, (void)dil_w, (void)plane, (void)height, (void)width;
    return 0;
}

#endif
