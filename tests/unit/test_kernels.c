/* test_kernels.c - BLAS wrappers against the naive reference (and the naive
 * reference against a hand-computed product), FTZ/DAZ, BLAS threads. */
#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "polysweep/kernels.h"

#include "harness.h"

/* Small deterministic values in [-1, 1) (xorshift; any fixed sequence). */
static double next_val(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (double)(*s >> 11) * 0x1.0p-52 - 1.0;
}

TEST(naive_gemm_by_hand)
{
    /* A = [1 2 3; 4 5 6] (2, 3), B = [7 8; 9 10; 11 12] (3, 2):
     * A B = [58 64; 139 154]. */
    const double A[] = {1, 2, 3, 4, 5, 6}, At[] = {1, 4, 2, 5, 3, 6};
    const double B[] = {7, 8, 9, 10, 11, 12}, Bt[] = {7, 9, 11, 8, 10, 12};
    const double want[] = {58, 64, 139, 154};
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            double C[4] = {1, 1, 1, 1};
            kern_gemm_naive_f64(ta, tb, 2, 2, 3, 2.0, ta ? At : A, ta ? 2 : 3,
                                tb ? Bt : B, tb ? 3 : 2, 0.5, C, 2);
            for (int k = 0; k < 4; k++)
                CHECK(C[k] == 2 * want[k] + 0.5);
        }
    /* beta = 0 ignores C, even NaN. */
    double C[4] = {NAN, NAN, NAN, NAN};
    kern_gemm_naive_f64(0, 0, 2, 2, 3, 1.0, A, 3, B, 2, 0.0, C, 2);
    for (int k = 0; k < 4; k++)
        CHECK(C[k] == want[k]);
}

/* Every transpose combination, padded leading dimensions, alpha and beta, on
 * shapes including 1 and odd sizes; the padding of C must stay untouched. */
TEST(blas_matches_naive)
{
    const int shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {17, 4, 9}, {64, 33, 20}, {5, 1, 130}};
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                const int ar = ta ? K : M, ac = ta ? M : K; /* stored shapes */
                const int br = tb ? N : K, bc = tb ? K : N;
                const int lda = ac + 3, ldb = bc + 2, ldc = N + 1;
                size_t na = (size_t)ar * lda, nb = (size_t)br * ldb, nc = (size_t)M * ldc;
                double *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B);
                double *C0 = malloc(nc * sizeof *C0), *C1 = malloc(nc * sizeof *C1);
                float *Af = malloc(na * sizeof *Af), *Bf = malloc(nb * sizeof *Bf);
                float *Cf = malloc(nc * sizeof *Cf);
                REQUIRE(A && B && C0 && C1 && Af && Bf && Cf);
                for (size_t k = 0; k < na; k++) Af[k] = (float)(A[k] = next_val(&seed));
                for (size_t k = 0; k < nb; k++) Bf[k] = (float)(B[k] = next_val(&seed));
                for (size_t k = 0; k < nc; k++) {
                    C0[k] = C1[k] = next_val(&seed);
                    Cf[k] = (float)C0[k];
                }
                /* the reference sees exactly the float inputs */
                for (size_t k = 0; k < na; k++) A[k] = Af[k];
                for (size_t k = 0; k < nb; k++) B[k] = Bf[k];
                for (size_t k = 0; k < nc; k++) C0[k] = C1[k] = Cf[k];

                kern_gemm_naive_f64(ta, tb, M, N, K, 0.75, A, lda, B, ldb, -0.5, C0, ldc);
                kern_gemm_f64(ta, tb, M, N, K, 0.75, A, lda, B, ldb, -0.5, C1, ldc);
                kern_gemm_f32(ta, tb, M, N, K, 0.75f, Af, lda, Bf, ldb, -0.5f, Cf, ldc);
                double e64 = 0, e32 = 0;
                int pad_ok = 1;
                for (int i = 0; i < M; i++) {
                    for (int j = 0; j < N; j++) {
                        size_t k = (size_t)i * ldc + j;
                        e64 = fmax(e64, fabs(C1[k] - C0[k]));
                        e32 = fmax(e32, fabs(Cf[k] - C0[k]));
                    }
                    size_t p = (size_t)i * ldc + N; /* the padding column */
                    pad_ok &= C1[p] == C0[p] && Cf[p] == (float)C0[p];
                }
                /* |terms| <= 1: errors scale with K ulps */
                CHECK(e64 <= 4 * K * DBL_EPSILON);
                CHECK(e32 <= 4 * K * FLT_EPSILON);
                CHECK(pad_ok);
                free(A); free(B); free(C0); free(C1); free(Af); free(Bf); free(Cf);
            }
    }
}

TEST(ftz_flushes_subnormals)
{
    volatile float tiny = FLT_MIN, half = 0.5f;
    volatile float sub = tiny * half; /* FLT_MIN / 2: subnormal without FTZ */
    CHECK(sub != 0.0f);
    unsigned saved = kern_fpenv_ftz();
#if defined(__x86_64__)
    volatile float r = tiny * half;
    CHECK(r == 0.0f);  /* FTZ: subnormal result flushed */
    volatile float in = sub, one = 1.0f;
    volatile float r2 = in * one;
    CHECK(r2 == 0.0f); /* DAZ: subnormal input read as 0 */
#endif
    kern_fpenv_restore(saved);
    volatile float r3 = tiny * half;
    CHECK(r3 != 0.0f);
    CHECK(r3 == sub);
    /* Nesting restores the outer state. */
    unsigned s1 = kern_fpenv_ftz();
    unsigned s2 = kern_fpenv_ftz();
    kern_fpenv_restore(s2);
#if defined(__x86_64__)
    volatile float r4 = tiny * half;
    CHECK(r4 == 0.0f);
#endif
    kern_fpenv_restore(s1);
    volatile float r5 = tiny * half;
    CHECK(r5 != 0.0f);
}

TEST(blas_threads_and_core)
{
    int before = kern_blas_threads();
    CHECK(before >= 1);
    kern_blas_set_threads(1);
    CHECK_INT_EQ(kern_blas_threads(), 1);
    kern_blas_set_threads(before);
    CHECK_INT_EQ(kern_blas_threads(), before);
    const char *core = kern_blas_core();
    REQUIRE(core != NULL);
    CHECK(strlen(core) > 0);
}

HARNESS_MAIN
