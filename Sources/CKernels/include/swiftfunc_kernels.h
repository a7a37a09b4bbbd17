/* Hand-written SIMD kernels for the shapes where OpenBLAS leaves speed on the table, called by
 * SwiftFuncCore (Primitives/Contraction.swift). Each kernel picks its instruction set when it runs:
 * it returns 0 without touching anything on a CPU that lacks it, and the caller then uses OpenBLAS. */
#ifndef SWIFTFUNC_KERNELS_H
#define SWIFTFUNC_KERNELS_H

#include <stddef.h>

/* Internal to libswiftfunc.so: not exported (the library's ABI is include/swiftfunc.h). */
#define SWIFTFUNC_KERNEL __attribute__((visibility("hidden")))

/* Whether this CPU has what the kernels below need (AVX2 and FMA); asks the CPU once. */
SWIFTFUNC_KERNEL int swiftfunc_kernels_available(void);

/*
 * c[i * ldc + j] = sum over p < k of a[i * lda + p] * b[j * ldb + p], for i < m and j < n: a product
 * whose operands both run along the contraction (A row-major, B transposed), for long contractions
 * with small results (the NTK tutorial's [200 x 216320] x [216320 x 50]). The rows of A and B are
 * read in place, block by block of the contraction, without packing; each output element is
 * summed in the same order whatever rows a call covers, so splitting rows between threads gives
 * the same bits. Returns 1, or 0 (nothing written) without AVX2 and FMA.
 */
SWIFTFUNC_KERNEL int swiftfunc_sgemm_nt_rows(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a, ptrdiff_t lda,
                            const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc);

/*
 * c[i * ldc + j] = sum over p < k of A(i, p) * b[p * ldb + j], for i < m and j < n, with A(i, p) at
 * a[i * a_row + p * a_step] (a_row = lda, a_step = 1 for a row-major A; a_row = 1, a_step = lda for
 * a transposed one): a product with a short contraction (up to a few dozen) and a large result,
 * where OpenBLAS first zeroes C in a pass of its own and runs its kernel at 47-55 GFLOP/s per core
 * here; this one writes each tile of C once from registers (4 rows by 24 columns, 78-80 GFLOP/s
 * at conv_transpose2d's [288 x 32] x [32 x 784]). Each element is summed in the order p = 0, 1,
 * ..., whatever its tile. Single-threaded. Returns 1, or 0 (nothing written) without AVX2 and FMA.
 */
SWIFTFUNC_KERNEL int swiftfunc_sgemm_small_k(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a, ptrdiff_t a_row,
                                             ptrdiff_t a_step, const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc);

/*
 * col2im of one output plane for a convolution with stride 1 (conv_transpose2d's and conv2d's input
 * gradient): plane[h * width + w] = 0 + the sum, over the taps (i, j) in row-major order that land
 * inside the columns, of columns[(i * kernel_w + j) * tap_stride + oh * out_w + ow] with
 * oh = h + pad_h - i * dil_h and ow = w + pad_w - j * dil_w. The same additions in the same order as
 * zero-filling the plane and adding tap after tap, but eight outputs at a time summed in a register
 * over all their taps instead of the plane read and written once per tap. Returns 1, or 0 (nothing
 * written) without AVX2 and FMA or for more than 64 taps.
 */
SWIFTFUNC_KERNEL int swiftfunc_col2im_unit_stride(const float *columns, ptrdiff_t tap_stride, ptrdiff_t kernel_h,
                                                  ptrdiff_t kernel_w, ptrdiff_t out_h, ptrdiff_t out_w, ptrdiff_t pad_h,
                                                  ptrdiff_t pad_w, ptrdiff_t dil_h, ptrdiff_t dil_w, float *plane,
                                                  ptrdiff_t height, ptrdiff_t width);

/* The CPU's hint for a spin-wait loop (x86's pause): the pool's threads watching for work. */
static inline void swiftfunc_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
