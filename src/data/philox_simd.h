/* philox_simd.h - Philox4x32-10 in SIMD registers (private to src/data;
 * philox_simd.c). Same bits as philox_block on every CPU. */
#ifndef PS_DATA_PHILOX_SIMD_H
#define PS_DATA_PHILOX_SIMD_H

#include <stdint.h>

#include "philox_impl.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define PHILOX_HAVE_SIMD 1
#else
#define PHILOX_HAVE_SIMD 0
#endif

#if PHILOX_HAVE_SIMD
/* The uniform law (data.h) for blocks j0 .. j0 + nblocks - 1 of a step, that
 * is elements 2 j0 .. 2 (j0 + nblocks) - 1, written to x[0 .. 2 nblocks):
 * active iff word 0 (2) < thr or all, value (word 1 (3) >> 8) 2^-24.
 * nblocks must be a multiple of PHILOX_UNIFORM_STEP_*. Returns the nonzeros. */
#define PHILOX_UNIFORM_STEP_AVX512 32
#define PHILOX_UNIFORM_STEP_AVX2 16
int64_t philox_uniform_avx512(uint32_t j0, int64_t nblocks, uint32_t c1, uint32_t c2,
                              uint32_t c3, uint64_t key, uint32_t thr, uint32_t all, float *x);
int64_t philox_uniform_avx2(uint32_t j0, int64_t nblocks, uint32_t c1, uint32_t c2,
                            uint32_t c3, uint64_t key, uint32_t thr, uint32_t all, float *x);

/* Blocks 0 .. nblk-1 (nblk a multiple of 4) of the 8 streams (j, c1, c2,
 * c3[l]): out[l 4 nblk + 4 j + w] = word w of block j of stream l. */
void philox_rows_avx512(uint32_t c1, uint32_t c2, const uint32_t c3[8], uint64_t key,
                        int nblk, uint32_t *out);
void philox_rows_avx2(uint32_t c1, uint32_t c2, const uint32_t c3[8], uint64_t key,
                      int nblk, uint32_t *out);

/* philox_lanes (philox_impl.h) computed in SIMD registers. */
void philox_words_avx512(uint32_t j0, uint32_t c1, uint32_t c2, uint32_t c3, uint64_t key,
                         uint32_t o[4][PHILOX_LANES]);
void philox_words_avx2(uint32_t j0, uint32_t c1, uint32_t c2, uint32_t c3, uint64_t key,
                       uint32_t o[4][PHILOX_LANES]);
#endif

#endif
