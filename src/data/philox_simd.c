/* philox_simd.c - Philox4x32-10 in AVX-512 and AVX2 registers, and the
 * uniform law's batch loop built on it (private to src/data; see
 * philox_impl.h for the algorithm and data.h for the counter layout).
 *
 * Philox is integer arithmetic, so these give exactly the bits of the
 * scalar philox_block on every CPU; the SIMD level (kern_simd_level) only
 * picks the fastest. Layout: one block per 64-bit lane, its four 32-bit
 * words in the LOW halves of four registers a, b, c, d. The round's
 * 32 x 32 -> 64-bit products are then single vpmuludq (which reads only the
 * low halves, so whatever the high halves hold does not matter): hi = p >> 32,
 * lo = the low half of p as it stands. A chain of rounds is latency-bound
 * (multiply, shift, xor), so several independent registers are in flight.
 */
#include <stdint.h>
#include <string.h>

#include "philox_impl.h"
#include "philox_simd.h"

#if PHILOX_HAVE_SIMD
#include <immintrin.h>

/* ---------------------------------------------------------------- AVX-512 */

#define T512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl")))

/* CH chains of 8 blocks: counters c0 + 8 q + l (lane l of chain q). */
#define CH512 4

T512 static inline void rounds512(__m512i a[CH512], __m512i b[CH512], __m512i c[CH512],
                                  __m512i d[CH512], uint64_t key)
{
    const __m512i m0 = _mm512_set1_epi64(PHILOX_M0), m1 = _mm512_set1_epi64(PHILOX_M1);
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
#pragma GCC unroll 10
    for (int r = 0; r < PHILOX_ROUNDS; r++) {
        const __m512i K0 = _mm512_set1_epi64(k0), K1 = _mm512_set1_epi64(k1);
#pragma GCC unroll 8
        for (int q = 0; q < CH512; q++) {
            __m512i p0 = _mm512_mul_epu32(a[q], m0);
            __m512i p1 = _mm512_mul_epu32(c[q], m1);
            /* 0x96: three-way xor */
            a[q] = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p1, 32), b[q], K0, 0x96);
            c[q] = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p0, 32), d[q], K1, 0x96);
            b[q] = p1;
            d[q] = p0;
        }
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
}

T512 static inline void init512(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3,
                                __m512i a[CH512], __m512i b[CH512], __m512i c[CH512],
                                __m512i d[CH512])
{
    const __m512i lane = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
#pragma GCC unroll 8
    for (int q = 0; q < CH512; q++) {
        a[q] = _mm512_add_epi64(_mm512_set1_epi64(c0 + 8u * (uint32_t)q), lane);
        b[q] = _mm512_set1_epi64(c1);
        c[q] = _mm512_set1_epi64(c2);
        d[q] = _mm512_set1_epi64(c3);
    }
}

T512 int64_t philox_uniform_avx512(uint32_t j0, int64_t nblocks, uint32_t c1, uint32_t c2,
                                   uint32_t c3, uint64_t key, uint32_t thr, uint32_t all,
                                   float *x)
{
    const __m512i T = _mm512_set1_epi32((int)thr);
    const __m512 scale = _mm512_set1_ps(0x1.0p-24f);
    int64_t nnz = 0;
    for (int64_t j = 0; j < nblocks; j += 8 * CH512) {
        __m512i a[CH512], b[CH512], c[CH512], d[CH512];
        init512(j0 + (uint32_t)j, c1, c2, c3, a, b, c, d);
        rounds512(a, b, c, d, key);
#pragma GCC unroll 8
        for (int q = 0; q < CH512; q++) {
            /* 32-bit lanes in element order: even = block's word 0 / 1
             * (element 2j), odd = word 2 / 3 (element 2j + 1). */
            const __m512i bern = _mm512_mask_blend_epi32(0xAAAA, a[q], _mm512_slli_epi64(c[q], 32));
            const __m512i val = _mm512_srli_epi32(
                _mm512_mask_blend_epi32(0xAAAA, b[q], _mm512_slli_epi64(d[q], 32)), 8);
            __mmask16 on = all ? (__mmask16)0xFFFF : _mm512_cmplt_epu32_mask(bern, T);
            /* (v >> 8) 2^-24: 24-bit integers convert exactly; 0 when inactive */
            const __m512 f = _mm512_maskz_mul_ps(on, _mm512_cvtepi32_ps(val), scale);
            _mm512_storeu_ps(x + 2 * (j + 8 * q), f);
            nnz += __builtin_popcount((unsigned)(on & _mm512_test_epi32_mask(val, val)));
        }
    }
    return nnz;
}

T512 void philox_words_avx512(uint32_t j0, uint32_t c1, uint32_t c2, uint32_t c3,
                              uint64_t key, uint32_t o[4][PHILOX_LANES])
{
    _Static_assert(PHILOX_LANES == 16, "two chains of 8 lanes");
    __m512i a[CH512], b[CH512], c[CH512], d[CH512];
    init512(j0, c1, c2, c3, a, b, c, d);
    rounds512(a, b, c, d, key); /* chains 2, 3 are spare work; cheap at this size */
#pragma GCC unroll 8
    for (int q = 0; q < 2; q++) {
        _mm256_storeu_si256((__m256i *)&o[0][8 * q], _mm512_cvtepi64_epi32(a[q]));
        _mm256_storeu_si256((__m256i *)&o[1][8 * q], _mm512_cvtepi64_epi32(b[q]));
        _mm256_storeu_si256((__m256i *)&o[2][8 * q], _mm512_cvtepi64_epi32(c[q]));
        _mm256_storeu_si256((__m256i *)&o[3][8 * q], _mm512_cvtepi64_epi32(d[q]));
    }
}

/* Blocks 0 .. nblk-1 (nblk a multiple of 4) of 8 streams that differ in
 * c3: out[l nw + 4 j + w] = word w of block j of stream l, nw = 4 nblk. */
T512 void philox_rows_avx512(uint32_t c1, uint32_t c2, const uint32_t c3[8], uint64_t key,
                             int nblk, uint32_t *out)
{
    const int nw = 4 * nblk;
    const __m512i d0 = _mm512_set_epi64(c3[7], c3[6], c3[5], c3[4], c3[3], c3[2], c3[1], c3[0]);
    for (int j = 0; j < nblk; j += CH512) {
        __m512i a[CH512], b[CH512], c[CH512], d[CH512];
#pragma GCC unroll 8
        for (int q = 0; q < CH512; q++) {
            a[q] = _mm512_set1_epi64((uint32_t)(j + q));
            b[q] = _mm512_set1_epi64(c1);
            c[q] = _mm512_set1_epi64(c2);
            d[q] = d0;
        }
        rounds512(a, b, c, d, key);
        uint32_t o[CH512][4][8];
#pragma GCC unroll 8
        for (int q = 0; q < CH512; q++) {
            _mm256_storeu_si256((__m256i *)o[q][0], _mm512_cvtepi64_epi32(a[q]));
            _mm256_storeu_si256((__m256i *)o[q][1], _mm512_cvtepi64_epi32(b[q]));
            _mm256_storeu_si256((__m256i *)o[q][2], _mm512_cvtepi64_epi32(c[q]));
            _mm256_storeu_si256((__m256i *)o[q][3], _mm512_cvtepi64_epi32(d[q]));
        }
        for (int l = 0; l < 8; l++)
            for (int q = 0; q < CH512; q++)
                for (int w = 0; w < 4; w++)
                    out[l * nw + 4 * (j + q) + w] = o[q][w][l];
    }
}

/* ------------------------------------------------------------------- AVX2 */

#define T256 __attribute__((target("avx2")))
#define CH256 4

T256 static inline void rounds256(__m256i a[CH256], __m256i b[CH256], __m256i c[CH256],
                                  __m256i d[CH256], uint64_t key)
{
    const __m256i m0 = _mm256_set1_epi64x(PHILOX_M0), m1 = _mm256_set1_epi64x(PHILOX_M1);
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
#pragma GCC unroll 10
    for (int r = 0; r < PHILOX_ROUNDS; r++) {
        const __m256i K0 = _mm256_set1_epi64x(k0), K1 = _mm256_set1_epi64x(k1);
#pragma GCC unroll 8
        for (int q = 0; q < CH256; q++) {
            __m256i p0 = _mm256_mul_epu32(a[q], m0);
            __m256i p1 = _mm256_mul_epu32(c[q], m1);
            a[q] = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1, 32), b[q]), K0);
            c[q] = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p0, 32), d[q]), K1);
            b[q] = p1;
            d[q] = p0;
        }
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
}

T256 static inline void init256(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3,
                                __m256i a[CH256], __m256i b[CH256], __m256i c[CH256],
                                __m256i d[CH256])
{
    const __m256i lane = _mm256_set_epi64x(3, 2, 1, 0);
#pragma GCC unroll 8
    for (int q = 0; q < CH256; q++) {
        a[q] = _mm256_add_epi64(_mm256_set1_epi64x(c0 + 4u * (uint32_t)q), lane);
        b[q] = _mm256_set1_epi64x(c1);
        c[q] = _mm256_set1_epi64x(c2);
        d[q] = _mm256_set1_epi64x(c3);
    }
}

/* Low halves of the four 64-bit lanes of v, as four 32-bit words. */
T256 static inline __m128i low32(__m256i v)
{
    const __m256i pick = _mm256_set_epi32(7, 7, 7, 7, 6, 4, 2, 0);
    return _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(v, pick));
}

T256 int64_t philox_uniform_avx2(uint32_t j0, int64_t nblocks, uint32_t c1, uint32_t c2,
                                 uint32_t c3, uint64_t key, uint32_t thr, uint32_t all,
                                 float *x)
{
    /* unsigned u < thr as signed (u ^ 2^31) < (thr ^ 2^31) */
    const __m256i sign = _mm256_set1_epi32((int)0x80000000u);
    const __m256i T = _mm256_set1_epi32((int)(thr ^ 0x80000000u));
    const __m256i ALL = _mm256_set1_epi32(all ? -1 : 0);
    const __m256 scale = _mm256_set1_ps(0x1.0p-24f);
    int64_t nnz = 0;
    for (int64_t j = 0; j < nblocks; j += 4 * CH256) {
        __m256i a[CH256], b[CH256], c[CH256], d[CH256];
        init256(j0 + (uint32_t)j, c1, c2, c3, a, b, c, d);
        rounds256(a, b, c, d, key);
#pragma GCC unroll 8
        for (int q = 0; q < CH256; q++) {
            const __m256i bern = _mm256_blend_epi32(a[q], _mm256_slli_epi64(c[q], 32), 0xAA);
            const __m256i val = _mm256_srli_epi32(
                _mm256_blend_epi32(b[q], _mm256_slli_epi64(d[q], 32), 0xAA), 8);
            const __m256i on = _mm256_or_si256(
                _mm256_cmpgt_epi32(T, _mm256_xor_si256(bern, sign)), ALL);
            const __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_and_si256(val, on)), scale);
            _mm256_storeu_ps(x + 2 * (j + 4 * q), f);
            const __m256i nz = _mm256_cmpgt_epi32(_mm256_and_si256(val, on), _mm256_setzero_si256());
            nnz += __builtin_popcount((unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(nz)));
        }
    }
    return nnz;
}

T256 void philox_words_avx2(uint32_t j0, uint32_t c1, uint32_t c2, uint32_t c3, uint64_t key,
                            uint32_t o[4][PHILOX_LANES])
{
    _Static_assert(PHILOX_LANES == 4 * CH256, "four chains of 4 lanes");
    __m256i a[CH256], b[CH256], c[CH256], d[CH256];
    init256(j0, c1, c2, c3, a, b, c, d);
    rounds256(a, b, c, d, key);
#pragma GCC unroll 8
    for (int q = 0; q < CH256; q++) {
        _mm_storeu_si128((__m128i *)&o[0][4 * q], low32(a[q]));
        _mm_storeu_si128((__m128i *)&o[1][4 * q], low32(b[q]));
        _mm_storeu_si128((__m128i *)&o[2][4 * q], low32(c[q]));
        _mm_storeu_si128((__m128i *)&o[3][4 * q], low32(d[q]));
    }
}

/* philox_rows_avx512 for 4 streams at a time (twice). */
T256 void philox_rows_avx2(uint32_t c1, uint32_t c2, const uint32_t c3[8], uint64_t key,
                           int nblk, uint32_t *out)
{
    const int nw = 4 * nblk;
    for (int h = 0; h < 2; h++) {
        const __m256i d0 = _mm256_set_epi64x(c3[4 * h + 3], c3[4 * h + 2], c3[4 * h + 1],
                                             c3[4 * h]);
        for (int j = 0; j < nblk; j += CH256) {
            __m256i a[CH256], b[CH256], c[CH256], d[CH256];
#pragma GCC unroll 8
            for (int q = 0; q < CH256; q++) {
                a[q] = _mm256_set1_epi64x((uint32_t)(j + q));
                b[q] = _mm256_set1_epi64x(c1);
                c[q] = _mm256_set1_epi64x(c2);
                d[q] = d0;
            }
            rounds256(a, b, c, d, key);
            uint32_t o[CH256][4][4];
#pragma GCC unroll 8
            for (int q = 0; q < CH256; q++) {
                _mm_storeu_si128((__m128i *)o[q][0], low32(a[q]));
                _mm_storeu_si128((__m128i *)o[q][1], low32(b[q]));
                _mm_storeu_si128((__m128i *)o[q][2], low32(c[q]));
                _mm_storeu_si128((__m128i *)o[q][3], low32(d[q]));
            }
            for (int l = 0; l < 4; l++)
                for (int q = 0; q < CH256; q++)
                    for (int w = 0; w < 4; w++)
                        out[(4 * h + l) * nw + 4 * (j + q) + w] = o[q][w][l];
        }
    }
}

#endif /* PHILOX_HAVE_SIMD */
