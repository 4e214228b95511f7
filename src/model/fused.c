/* fused.c - which of the model's own float32 kernels run, and at which SIMD
 * level (fused.h). The choice of kernel is a function of the TaskSpec and
 * the batch size only, never of the machine; the SIMD level changes only
 * the speed (every level computes the same bits, simd.h).
 */
#include "fused.h"

#include "polysweep/kernels.h"

/* The fused kernels beat five BLAS calls while per-call overhead and packing
 * dominate the GEMMs and the batch's feature-major buffers stay in the
 * cache: measured on an AVX-512 machine (AMD Zen 5; README, Performance),
 * they win clearly below n m = 4096 and tie up to about 8000 (m = 20..40),
 * and OpenBLAS wins beyond. (Small m alone does not change that: n = 1000..4000
 * with m = 8..16 tie.) */
#define FUSED_MAX_NM 4096

int fused_wanted(const TaskSpec *t, int B)
{
    if (!fused_autoencoder_arch(t->arch))
        return 0;
    return B >= 1 && t->n >= 1 && t->m >= 1 && (long long)t->n * t->m <= FUSED_MAX_NM &&
           (long long)t->n * 16 < (1ll << 31);
}

/* Xt, dZt (n, Bp), Ht, dHt (m, Bp) with rows FUSED_LD(Bp) apart, the db
 * lanes (n, 16); Bp = B rounded up to 16. */
size_t fused_workspace_len(int n, int m, int B)
{
    const size_t Bp = ((size_t)(B > 0 ? B : 0) + 15) / 16 * 16;
    return FUSED_LD(Bp) * (2 * (size_t)n + 2 * (size_t)m) + 16 * (size_t)n;
}

static FusedFn pick_autoencoder(void)
{
    switch (kern_simd_level()) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    case KERN_SIMD_AVX512: return fused_autoencoder_avx512;
    case KERN_SIMD_AVX2: return fused_autoencoder_avx2;
#endif
    default: return fused_autoencoder_generic;
    }
}

static OutputFn pick_output(void)
{
    switch (kern_simd_level()) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    case KERN_SIMD_AVX512: return fused_output_rows_avx512;
    case KERN_SIMD_AVX2: return fused_output_rows_avx2;
#endif
    default: return fused_output_rows_generic;
    }
}

double fused_autoencoder(const FusedArgs *a)
{
    return pick_autoencoder()(a);
}

double fused_output_rows(int act, int q, float *Z, const float *X, const float *I,
                         const float *b, int B, int n, float scale, int want_grad, float *db)
{
    return pick_output()(act, q, Z, X, I, b, B, n, scale, want_grad, db);
}
