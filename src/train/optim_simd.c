/* optim_simd.c - the AdamW update of optim.c in AVX-512 and AVX2 registers
 * (private to src/train). The same operations in the same order as the
 * scalar loop of train_adamw, each one IEEE-rounded in float32 (multiply,
 * add, sqrt and divide are exactly rounded at every vector width; no FMA),
 * so every SIMD level gives the scalar loop's bits: the tests compare them.
 */
#include <stddef.h>

#include "optim_simd.h"

#if OPTIM_HAVE_SIMD
#include <immintrin.h>

/* p, m, v for k < len - len % 16 (the caller does the rest):
 *   p' = p decay + (neg_step m') / (sqrt(v') / sqrt_bias2 + eps)
 *   m' = m b1 + c1 g,  v' = v b2 + (c2 g) g */
__attribute__((target("avx512f"))) size_t adamw_avx512(float *p, float *m1, float *m2,
                                                        const float *g, size_t len,
                                                        const AdamwConsts *c)
{
    const __m512 decay = _mm512_set1_ps(c->decay), b1 = _mm512_set1_ps(c->b1);
    const __m512 c1 = _mm512_set1_ps(c->c1), b2 = _mm512_set1_ps(c->b2);
    const __m512 c2 = _mm512_set1_ps(c->c2), ns = _mm512_set1_ps(c->neg_step);
    const __m512 sb2 = _mm512_set1_ps(c->sqrt_bias2), eps = _mm512_set1_ps(c->eps);
    size_t k = 0;
    for (; k + 16 <= len; k += 16) {
        const __m512 gk = _mm512_loadu_ps(g + k);
        const __m512 pk = _mm512_mul_ps(_mm512_loadu_ps(p + k), decay);
        const __m512 mk = _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(m1 + k), b1),
                                        _mm512_mul_ps(c1, gk));
        const __m512 vk = _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(m2 + k), b2),
                                        _mm512_mul_ps(_mm512_mul_ps(c2, gk), gk));
        const __m512 den = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(vk), sb2), eps);
        _mm512_storeu_ps(p + k, _mm512_add_ps(pk, _mm512_div_ps(_mm512_mul_ps(ns, mk), den)));
        _mm512_storeu_ps(m1 + k, mk);
        _mm512_storeu_ps(m2 + k, vk);
    }
    return k;
}

__attribute__((target("avx2"))) size_t adamw_avx2(float *p, float *m1, float *m2,
                                                   const float *g, size_t len,
                                                   const AdamwConsts *c)
{
    const __m256 decay = _mm256_set1_ps(c->decay), b1 = _mm256_set1_ps(c->b1);
    const __m256 c1 = _mm256_set1_ps(c->c1), b2 = _mm256_set1_ps(c->b2);
    const __m256 c2 = _mm256_set1_ps(c->c2), ns = _mm256_set1_ps(c->neg_step);
    const __m256 sb2 = _mm256_set1_ps(c->sqrt_bias2), eps = _mm256_set1_ps(c->eps);
    size_t k = 0;
    for (; k + 8 <= len; k += 8) {
        const __m256 gk = _mm256_loadu_ps(g + k);
        const __m256 pk = _mm256_mul_ps(_mm256_loadu_ps(p + k), decay);
        const __m256 mk = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(m1 + k), b1),
                                        _mm256_mul_ps(c1, gk));
        const __m256 vk = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(m2 + k), b2),
                                        _mm256_mul_ps(_mm256_mul_ps(c2, gk), gk));
        const __m256 den = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vk), sb2), eps);
        _mm256_storeu_ps(p + k, _mm256_add_ps(pk, _mm256_div_ps(_mm256_mul_ps(ns, mk), den)));
        _mm256_storeu_ps(m1 + k, mk);
        _mm256_storeu_ps(m2 + k, vk);
    }
    return k;
}
#endif
