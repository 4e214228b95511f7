/* philox_impl.h - Philox4x32-10 (private to src/data), scalar and batched.
 *
 * Reference: Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as
 * 1, 2, 3", SC 2011, and Random123's philox.h: ten rounds of
 *   (hi0, lo0) = M0 * c0, (hi1, lo1) = M1 * c2   (32x32 -> 64-bit products)
 *   c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
 * with the key bumped by the Weyl constants (W0, W1) between rounds.
 * The 64-bit key of polysweep is k0 = low 32 bits, k1 = high 32 bits.
 *
 * philox_lanes() runs PHILOX_LANES independent counters that differ only in
 * c0, in structure-of-arrays form so that the compiler vectorises the rounds
 * (the 32x32 -> 64 products map to pmuludq); this is what data_sample uses.
 */
#ifndef PS_DATA_PHILOX_IMPL_H
#define PS_DATA_PHILOX_IMPL_H

#include <stdint.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u
#define PHILOX_ROUNDS 10

static inline void philox_block(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3,
                                uint64_t key, uint32_t out[4])
{
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int r = 0; r < PHILOX_ROUNDS; r++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        uint32_t n3 = (uint32_t)p0;
        c0 = n0, c1 = n1, c2 = n2, c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

#define PHILOX_LANES 16

/* Blocks with counters (c0 + l, c1, c2, c3) for l < PHILOX_LANES; output word
 * w of lane l goes to o[w][l]. c0 + l wraps modulo 2^32 like the counter. */
static inline void philox_lanes(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3,
                                uint64_t key, uint32_t o[4][PHILOX_LANES])
{
    uint32_t a[PHILOX_LANES], b[PHILOX_LANES], c[PHILOX_LANES], d[PHILOX_LANES];
    for (int l = 0; l < PHILOX_LANES; l++) {
        a[l] = c0 + (uint32_t)l;
        b[l] = c1;
        c[l] = c2;
        d[l] = c3;
    }
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int r = 0; r < PHILOX_ROUNDS; r++) {
        for (int l = 0; l < PHILOX_LANES; l++) {
            uint64_t p0 = (uint64_t)PHILOX_M0 * a[l];
            uint64_t p1 = (uint64_t)PHILOX_M1 * c[l];
            uint32_t n0 = (uint32_t)(p1 >> 32) ^ b[l] ^ k0;
            uint32_t n2 = (uint32_t)(p0 >> 32) ^ d[l] ^ k1;
            b[l] = (uint32_t)p1;
            d[l] = (uint32_t)p0;
            a[l] = n0;
            c[l] = n2;
        }
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    for (int l = 0; l < PHILOX_LANES; l++) {
        o[0][l] = a[l];
        o[1][l] = b[l];
        o[2][l] = c[l];
        o[3][l] = d[l];
    }
}

#endif
