/* kernels.h - the door to BLAS (only src/kernels includes cblas.h), and the
 * floating-point environment of training.
 *
 * Layout convention for every matrix in polysweep: row-major, leading
 * dimension = number of columns unless stated.
 */
#ifndef POLYSWEEP_KERNELS_H
#define POLYSWEEP_KERNELS_H

#include <stddef.h>

/* C (M, N) = alpha * op(A) op(B) + beta * C, row-major, where op(A) is
 * (M, K) and op(B) is (K, N); ta/tb = 1 means the stored matrix is transposed
 * (A stored (K, M), B stored (N, K)). lda/ldb/ldc are the stored row lengths. */
void kern_gemm_f32(int ta, int tb, int M, int N, int K, float alpha,
                   const float *A, int lda, const float *B, int ldb,
                   float beta, float *C, int ldc);
void kern_gemm_f64(int ta, int tb, int M, int N, int K, double alpha,
                   const double *A, int lda, const double *B, int ldb,
                   double beta, double *C, int ldc);

/* Reference triple loop with the same contract (for tests). */
void kern_gemm_naive_f64(int ta, int tb, int M, int N, int K, double alpha,
                         const double *A, int lda, const double *B, int ldb,
                         double beta, double *C, int ldc);

/* SIMD level of polysweep's own vectorised code (the batch sampler, the
 * fused small-model kernels, the output pass, AdamW): KERN_SIMD_GENERIC (any
 * CPU; baseline SSE2 on x86-64), KERN_SIMD_AVX2, KERN_SIMD_AVX512 (AVX-512
 * F/BW/DQ/VL). Every level computes the same bits - integer Philox, no FMA
 * contraction, the same operation order in every lane, sums over fixed lane
 * sets - so the level changes only the speed (tests check this). The
 * default is the best the CPU and the OS support; the environment variable
 * KERN_SIMD_ENV = generic|avx2|avx512, read at the first call, lowers it
 * (never above what the CPU supports). kern_simd_set_level does the same
 * for the calling process (tests) and returns the level now in effect. */
#define KERN_SIMD_ENV "POLYSWEEP_SIMD"
enum { KERN_SIMD_GENERIC, KERN_SIMD_AVX2, KERN_SIMD_AVX512 };
int kern_simd_level(void);
int kern_simd_set_level(int level);
/* "generic", "avx2", "avx512" (the KERN_SIMD_ENV values); "?" otherwise. */
const char *kern_simd_name(int level);

/* Flush subnormals to zero (FTZ and DAZ) in the calling thread; returns the
 * previous state for kern_fpenv_restore. No-op where unsupported. */
unsigned kern_fpenv_ftz(void);
void kern_fpenv_restore(unsigned saved);

/* BLAS threads: set, and query. */
void kern_blas_set_threads(int threads);
int kern_blas_threads(void);

/* The OpenBLAS kernel in use ("Haswell", "SkylakeX", ...). Borrowed string. */
const char *kern_blas_core(void);

/* OpenBLAS core check (src/kernels/blas_core.c): compares the instruction
 * set of the kernel OpenBLAS uses with the CPU's (cpuid). OpenBLAS reads
 * OPENBLAS_CORETYPE only when it is loaded, so a better kernel needs a
 * re-execution: when `reexec` is set, the caller sets OPENBLAS_CORETYPE =
 * `coretype` and KERN_CORE_GUARD_ENV = `guard` (the loop guard, which the
 * re-executed process recognises) and execs itself. A user-set
 * OPENBLAS_CORETYPE is respected, unless KERN_CORE_MODE_ENV is "best"
 * (replace an inherited one by the CPU's best); "off" disables the check.
 * Reads the environment; never prints. */
#define KERN_CORE_GUARD_ENV "POLYSWEEP_BLAS_REEXEC"
#define KERN_CORE_MODE_ENV "POLYSWEEP_BLAS_CORE"
typedef struct KernCoreCheck {
    int reexec;        /* 1: re-execute with OPENBLAS_CORETYPE=coretype */
    int warn;          /* 1: the kernel in use is slower than the CPU allows */
    char coretype[16]; /* e.g. "SKYLAKEX" */
    char guard[64];    /* value for KERN_CORE_GUARD_ENV */
    char note[384];    /* one line: what was chosen and why */
} KernCoreCheck;
void kern_blas_core_check(KernCoreCheck *c);

#endif
