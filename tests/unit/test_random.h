/* test_random.h - the unit tests' own random numbers: SplitMix64 (Steele,
 * Lea, Flood 2014), independent of polysweep's Philox streams, and random
 * orthogonal matrices. Each test file picks its sequence by defining
 * TEST_RNG_SEED before including this header. */
#ifndef POLYSWEEP_TEST_RANDOM_H
#define POLYSWEEP_TEST_RANDOM_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef TEST_RNG_SEED
#error "define TEST_RNG_SEED before including test_random.h"
/* W <- Q W for W (m, n) and Q (m, m) orthogonal, both row-major: rotates
 * every feature and leaves the Gram matrix W^T W unchanged. */
static inline void rotate(double *W, int m, int n, const double *Q)
{
    double *T = calloc((size_t)m * n, sizeof(double));
    for (int r = 0; r < m; r++)
        for (int k = 0; k < m; k++)
            for (int i = 0; i < n; i++) T[r * n + i] += Q[r * m + k] * W[k * n + i];
    memcpy(W, T, sizeof(double) * m * n);
    free(T);
}

#endif

static uint64_t rng_state = TEST_RNG_SEED;

static inline uint64_t rng_u64(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform on (0, 1). */
static inline double rng_uniform(void) { return ((double)(rng_u64() >> 11) + 0.5) * 0x1.0p-53; }

/* Standard normal (Box-Muller, one of the pair). */
static inline double rng_gauss(void)
{
    return sqrt(-2.0 * log(rng_uniform())) * cos(2.0 * M_PI * rng_uniform());
}

/* A random orthogonal matrix Q (d, d), row-major: modified Gram-Schmidt of a
 * Gaussian matrix, applied twice so that Q^T Q = I to ~1e-16. */
static inline void random_orthogonal(double *Q, int d)
{
    for (int k = 0; k < d * d; k++) Q[k] = rng_gauss();
    for (int pass = 0; pass < 2; pass++)
        for (int c = 0; c < d; c++) {
            for (int p = 0; p < c; p++) {
                double dot = 0;
                for (int r = 0; r < d; r++) dot += Q[r * d + p] * Q[r * d + c];
                for (int r = 0; r < d; r++) Q[r * d + c] -= dot * Q[r * d + p];
            }
            double nn = 0;
            for (int r = 0; r < d; r++) nn += Q[r * d + c] * Q[r * d + c];
            nn = sqrt(nn);
            for (int r = 0; r < d; r++) Q[r * d + c] /= nn;
        }
}

/* W <- Q W for W (m, n) and Q (m, m) orthogonal, both row-major: rotates
 * every feature and leaves the Gram matrix W^T W unchanged. */
static inline void rotate(double *W, int m, int n, const double *Q)
{
    double *T = calloc((size_t)m * n, sizeof(double));
    for (int r = 0; r < m; r++)
        for (int k = 0; k < m; k++)
            for (int i = 0; i < n; i++) T[r * n + i] += Q[r * m + k] * W[k * n + i];
    memcpy(W, T, sizeof(double) * m * n);
    free(T);
}

#endif
