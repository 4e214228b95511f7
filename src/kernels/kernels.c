/* kernels.c - the door to BLAS and the floating-point environment
 * (include/polysweep/kernels.h).
 *
 * Only this file includes cblas.h. Every matrix in polysweep is row-major, so
 * the wrappers pass CblasRowMajor and translate the 0/1 transpose flags.
 * kern_gemm_naive_f64 is the independent reference the tests compare with.
 */
#include <cblas.h>
#include <stddef.h>

#if defined(__x86_64__) || defined(__SSE__)
#include <xmmintrin.h>
#define KERN_HAVE_MXCSR 1
#endif

#include "polysweep/kernels.h"

static inline CBLAS_TRANSPOSE trans(int t) { return t ? CblasTrans : CblasNoTrans; }

void kern_gemm_f32(int ta, int tb, int M, int N, int K, float alpha,
                   const float *A, int lda, const float *B, int ldb,
                   float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0)
        return;
    cblas_sgemm(CblasRowMajor, trans(ta), trans(tb), M, N, K, alpha, A, lda, B, ldb,
                beta, C, ldc);
}

void kern_gemm_f64(int ta, int tb, int M, int N, int K, double alpha,
                   const double *A, int lda, const double *B, int ldb,
                   double beta, double *C, int ldc)
{
    if (M <= 0 || N <= 0)
        return;
    cblas_dgemm(CblasRowMajor, trans(ta), trans(tb), M, N, K, alpha, A, lda, B, ldb,
                beta, C, ldc);
}

/* op(A)[i][k] and op(B)[k][j] read straight from the stored layouts. beta = 0
 * overwrites C without reading it (BLAS semantics: NaN in C does not leak). */
void kern_gemm_naive_f64(int ta, int tb, int M, int N, int K, double alpha,
                         const double *A, int lda, const double *B, int ldb,
                         double beta, double *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double acc = 0.0;
            for (int k = 0; k < K; k++) {
                double a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                double b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                acc += a * b;
            }
            double *c = &C[(size_t)i * ldc + j];
            *c = beta == 0.0 ? alpha * acc : alpha * acc + beta * *c;
        }
    }
}

/* MXCSR bit 15 is FTZ (flush subnormal results to zero), bit 6 is DAZ (treat
 * subnormal inputs as zero); Intel SDM vol. 1, section 10.2.3. Both matter:
 * importances like 0.9^i reach float subnormals past i ~ 850 (science.md
 * section 1), and subnormal arithmetic is 10-100x slower on x86. */
#define MXCSR_FTZ (1u << 15)
#define MXCSR_DAZ (1u << 6)

unsigned kern_fpenv_ftz(void)
{
#ifdef KERN_HAVE_MXCSR
    unsigned saved = _mm_getcsr();
    _mm_setcsr(saved | MXCSR_FTZ | MXCSR_DAZ);
    return saved;
#else
    return 0;
#endif
}

void kern_fpenv_restore(unsigned saved)
{
#ifdef KERN_HAVE_MXCSR
    /* Restore only the two bits we changed: the exception flags accumulated
     * meanwhile stay as they are. */
    unsigned cur = _mm_getcsr();
    _mm_setcsr((cur & ~(MXCSR_FTZ | MXCSR_DAZ)) | (saved & (MXCSR_FTZ | MXCSR_DAZ)));
#else
    (void)saved;
#endif
}

void kern_blas_set_threads(int threads)
{
    if (threads < 1)
        threads = 1;
    openblas_set_num_threads(threads);
}

int kern_blas_threads(void) { return openblas_get_num_threads(); }

const char *kern_blas_core(void)
{
    const char *s = openblas_get_corename();
    return s ? s : "unknown";
}
