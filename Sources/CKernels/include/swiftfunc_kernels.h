/* Hand-written SIMD kernels for the shapes where OpenBLAS leaves speed on the table, called by
 * SwiftFuncCore (Primitives/Contraction.swift). Each kernel picks its instruction set when it runs:
 * it returns 0 without touching anything on a CPU that lacks it, and the caller then uses OpenBLAS. */
#ifndef SWIFTFUNC_KERNELS_H
#define SWIFTFUNC_KERNELS_H

#include <stddef.h>

/* Internal to libswiftfunc.so: not exported (the library's ABI is include/swiftfunc.h). */
#define SWIFTFUNC_KERNEL __attribute__((visibility("hidden")))

/* Whether this CPU has what the kernels below need (AVX2 and FMA). */
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

#endif
