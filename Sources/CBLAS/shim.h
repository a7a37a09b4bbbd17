/* OpenBLAS's CBLAS interface (Debian: libopenblas-dev), and the few LAPACK routines of the same
 * library that swiftfunc calls. OpenBLAS installs no LAPACK header here, so they are declared
 * below with the Fortran ABI: every argument by address, 32-bit integers (OpenBLAS's blasint in
 * its default, non-ILP64 build; cblas.h declares blasint), column-major matrices, and one hidden
 * length per character argument at the end. Only Linalg.swift's LAPACKScalar calls them. */
#include <cblas.h>
#include <stddef.h>

void sgetrs_(const char *trans, const blasint *n, const blasint *nrhs, const float *a, const blasint *lda,
             const blasint *ipiv, float *b, const blasint *ldb, blasint *info, size_t trans_len);
void dgetrs_(const char *trans, const blasint *n, const blasint *nrhs, const double *a, const blasint *lda,
             const blasint *ipiv, double *b, const blasint *ldb, blasint *info, size_t trans_len);
void sgetrf_(const blasint *m, const blasint *n, float *a, const blasint *lda, blasint *ipiv, blasint *info);
void dgetrf_(const blasint *m, const blasint *n, double *a, const blasint *lda, blasint *ipiv, blasint *info);
void spotrf_(const char *uplo, const blasint *n, float *a, const blasint *lda, blasint *info, size_t uplo_len);
void dpotrf_(const char *uplo, const blasint *n, double *a, const blasint *lda, blasint *info, size_t uplo_len);
void ssyevd_(const char *jobz, const char *uplo, const blasint *n, float *a, const blasint *lda, float *w,
             float *work, const blasint *lwork, blasint *iwork, const blasint *liwork, blasint *info,
             size_t jobz_len, size_t uplo_len);
void dsyevd_(const char *jobz, const char *uplo, const blasint *n, double *a, const blasint *lda, double *w,
             double *work, const blasint *lwork, blasint *iwork, const blasint *liwork, blasint *info,
             size_t jobz_len, size_t uplo_len);
void sgesdd_(const char *jobz, const blasint *m, const blasint *n, float *a, const blasint *lda, float *s, float *u,
             const blasint *ldu, float *vt, const blasint *ldvt, float *work, const blasint *lwork, blasint *iwork,
             blasint *info, size_t jobz_len);
void dgesdd_(const char *jobz, const blasint *m, const blasint *n, double *a, const blasint *lda, double *s, double *u,
             const blasint *ldu, double *vt, const blasint *ldvt, double *work, const blasint *lwork, blasint *iwork,
             blasint *info, size_t jobz_len);
void sgeqrf_(const blasint *m, const blasint *n, float *a, const blasint *lda, float *tau, float *work,
             const blasint *lwork, blasint *info);
void dgeqrf_(const blasint *m, const blasint *n, double *a, const blasint *lda, double *tau, double *work,
             const blasint *lwork, blasint *info);
void sorgqr_(const blasint *m, const blasint *n, const blasint *k, float *a, const blasint *lda, const float *tau,
             float *work, const blasint *lwork, blasint *info);
void dorgqr_(const blasint *m, const blasint *n, const blasint *k, double *a, const blasint *lda, const double *tau,
             double *work, const blasint *lwork, blasint *info);
