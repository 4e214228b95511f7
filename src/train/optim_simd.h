/* optim_simd.h - AdamW in SIMD registers (private to src/train;
 * optim_simd.c). Bit-identical to the scalar loop of train_adamw. */
#ifndef PS_TRAIN_OPTIM_SIMD_H
#define PS_TRAIN_OPTIM_SIMD_H

#include <stddef.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define OPTIM_HAVE_SIMD 1
#else
#define OPTIM_HAVE_SIMD 0
#endif

/* The float32 scalars of one update (optim.c computes them). */
typedef struct AdamwConsts {
    float decay, b1, c1, b2, c2, neg_step, sqrt_bias2, eps;
} AdamwConsts;

#if OPTIM_HAVE_SIMD
/* Update the leading entries; return how many were done (a multiple of the
 * vector width). */
size_t adamw_avx512(float *p, float *m1, float *m2, const float *g, size_t len,
                    const AdamwConsts *c);
size_t adamw_avx2(float *p, float *m1, float *m2, const float *g, size_t len,
                  const AdamwConsts *c);
#endif

#endif
