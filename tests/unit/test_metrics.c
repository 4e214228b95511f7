/* test_metrics.c - the measurements of metrics.h on geometries whose answers
 * are known in closed form (science.md section 5, [TMS] Elhage et al. 2022,
 * [CAP] Scherlis et al. 2022), against a naive direct reference on random
 * matrices, and the CAP theorem sum_i C_i <= rank(W).
 *
 * Conventions: W is (m, n) row-major, column W_i is feature i, so W[k*n + i]
 * is coordinate k of feature i.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#define TEST_RNG_SEED 0x9e3779b97f4a7c15ull
#include "test_random.h"
#include "polysweep/metrics.h"
#include "polysweep/polysweep.h"

#define TOL 1e-12

/* ---- helpers ---- */

typedef struct Feat { double *norm, *cap, *sup; } Feat;

static Feat feat_run(const double *W, int m, int n)
{
    Feat f = {calloc(n, sizeof(double)), calloc(n, sizeof(double)),
              calloc(n, sizeof(double))};
    int rc = metrics_features(W, m, n, f.norm, f.cap, f.sup);
    CHECK_INT_EQ(rc, 0);
    return f;
}
static void feat_free(Feat *f) { free(f->norm); free(f->cap); free(f->sup); }

/* Set column i of W (m, n) to v (m). */
static void set_col(double *W, int m, int n, int i, const double *v)
{
    for (int k = 0; k < m; k++) W[(size_t)k * n + i] = v[k];
}

/* Naive reference, straight from the definitions, in long double: dot
 * products of columns computed pair by pair. */
static void reference(const double *W, int m, int n, double *norm, double *cap,
                      double *sup)
{
    for (int i = 0; i < n; i++) {
        long double gii = 0, den = 0, s = 0;
        for (int k = 0; k < m; k++) gii += (long double)W[k * n + i] * W[k * n + i];
        for (int j = 0; j < n; j++) {
            long double d = 0;
            for (int k = 0; k < m; k++) d += (long double)W[k * n + i] * W[k * n + j];
            den += d * d;
            if (j != i && gii > 0) s += d * d / gii;
        }
        norm[i] = (double)sqrtl(gii);
        cap[i] = gii > 0 ? (double)(gii * gii / den) : 0.0;
        sup[i] = (double)s;
    }
}

/* The m+1 vertices of a regular simplex in R^m, unit length, centred at 0,
 * as the columns of S (m, m+1). Start from e_1..e_m and the point
 * a (1, ..., 1) with a = (1 - sqrt(m+1)) / m, whose distance to every e_i is
 * sqrt(2) like the distance between two e_i; subtract the centroid and
 * normalise. The test checks the pairwise dot products are -1/m. */
static void simplex(double *S, int m)
{
    int n = m + 1;
    double a = (1.0 - sqrt((double)m + 1.0)) / m;
    for (int k = 0; k < m; k++)
        for (int i = 0; i < n; i++) S[k * n + i] = i == m ? a : (double)(k == i);
    double c = (1.0 + a) / (m + 1.0); // every coordinate of the centroid
    for (int i = 0; i < n; i++) {
        double nn = 0;
        for (int k = 0; k < m; k++) {
            S[k * n + i] -= c;
            nn += S[k * n + i] * S[k * n + i];
        }
        nn = sqrt(nn);
        for (int k = 0; k < m; k++) S[k * n + i] /= nn;
    }
}

/* Numerical rank of W (m, n) by Gaussian elimination with full pivoting. */
static int matrix_rank(const double *W, int m, int n)
{
    double *A = malloc(sizeof(double) * m * n);
    memcpy(A, W, sizeof(double) * m * n);
    double scale = 0;
    for (int k = 0; k < m * n; k++) scale = fmax(scale, fabs(A[k]));
    int rank = 0;
    for (int r = 0; r < m && r < n; r++) {
        int pr = -1, pc = -1;
        double best = 0;
        for (int i = r; i < m; i++)
            for (int j = r; j < n; j++)
                if (fabs(A[i * n + j]) > best) { best = fabs(A[i * n + j]); pr = i; pc = j; }
        if (best <= 1e-10 * scale) break;
        for (int j = 0; j < n; j++) { double t = A[r * n + j]; A[r * n + j] = A[pr * n + j]; A[pr * n + j] = t; }
        for (int i = 0; i < m; i++) { double t = A[i * n + r]; A[i * n + r] = A[i * n + pc]; A[i * n + pc] = t; }
        for (int i = r + 1; i < m; i++) {
            double f = A[i * n + r] / A[r * n + r];
            for (int j = r; j < n; j++) A[i * n + j] -= f * A[r * n + j];
        }
        rank++;
    }
    free(A);
    return rank;
}

/* ---- closed-form geometries ---- */

TEST(tms_three_vectors)
{
    // Columns (1,0,0), (1/sqrt2, 1/sqrt2, 0), (0,0,1) (science.md section 5).
    // G = [[1, s, 0], [s, 1, 0], [0, 0, 1]] with s = 1/sqrt2, s^2 = 1/2:
    //   C_0 = 1 / (1 + 1/2) = 2/3, C_1 = 2/3, C_2 = 1;
    //   sup_0 = (W_0 . W_1)^2 / ||W_0||^2 = 1/2, sup_1 = 1/2, sup_2 = 0.
    double s = 1.0 / sqrt(2.0);
    double W[9] = {1, s, 0,
                   0, s, 0,
                   0, 0, 1};
    Feat f = feat_run(W, 3, 3);
    double cap[3] = {2.0 / 3, 2.0 / 3, 1}, sup[3] = {0.5, 0.5, 0};
    for (int i = 0; i < 3; i++) {
        CHECK_NEAR(f.norm[i], 1.0, TOL);
        CHECK_NEAR(f.cap[i], cap[i], TOL);
        CHECK_NEAR(f.sup[i], sup[i], TOL);
    }
    CHECK_NEAR(metrics_frobenius2(W, 3, 3), 3.0, TOL);
    CHECK_NEAR(metrics_sum(f.cap, 3), 7.0 / 3, TOL);
    CHECK_INT_EQ(metrics_represented(f.norm, 3), 3);
    feat_free(&f);
}

TEST(identical_vectors)
{
    // N copies of one vector v with ||v||^2 = r2: G_ij = r2 for all i, j, so
    // C_i = r2^2 / (N r2^2) = 1/N and sup_i = (N-1) r2^2 / r2 = (N-1) r2.
    for (int N = 1; N <= 9; N++) {
        int m = 4;
        double v[4] = {0.3, -1.2, 0.0, 2.5}, r2 = 0.09 + 1.44 + 6.25;
        double *W = calloc((size_t)m * N, sizeof(double));
        for (int i = 0; i < N; i++) set_col(W, m, N, i, v);
        Feat f = feat_run(W, m, N);
        for (int i = 0; i < N; i++) {
            CHECK_NEAR(f.norm[i], sqrt(r2), TOL);
            CHECK_NEAR(f.cap[i], 1.0 / N, TOL);
            CHECK_REL(f.sup[i], (N - 1) * r2, TOL, 1.0);
        }
        CHECK_REL(metrics_frobenius2(W, m, N), N * r2, TOL, 1.0);
        CHECK_NEAR(metrics_sum(f.cap, N), 1.0, TOL); // rank 1, block-semi-orthogonal
        feat_free(&f);
        free(W);
    }
}

TEST(antipodal_pair)
{
    // v and -v: G = r2 [[1, -1], [-1, 1]]: C = 1/2 each, sup = r2 each.
    double W[6] = {0.6, -0.6,
                   0.0, -0.0,
                   -0.8, 0.8}; // m = 3, n = 2, ||v|| = 1
    Feat f = feat_run(W, 3, 2);
    for (int i = 0; i < 2; i++) {
        CHECK_NEAR(f.norm[i], 1.0, TOL);
        CHECK_NEAR(f.cap[i], 0.5, TOL);
        CHECK_NEAR(f.sup[i], 1.0, TOL);
    }
    feat_free(&f);
}

TEST(regular_polygon)
{
    // N vectors of length r at angles 2 pi k / N in 2-D. G_ij = r^2 cos(t_ij)
    // and sum_j cos^2(t_i - t_j) = N/2 + (1/2) sum_j cos(2 (t_i - t_j)) = N/2
    // for N >= 3 (the second sum runs over the N-th roots of unity squared,
    // which sum to 0 unless N divides 2). So C_i = r^4 / (r^4 N/2) = 2/N and
    // sup_i = r^2 (N/2 - 1). The N-gon is a tight frame (G^2 = (N r^2/2) G),
    // so sum_i C_i = 2 = rank, the CAP equality case.
    for (int N = 3; N <= 8; N++) {
        double r = 0.5 + 0.25 * N; // some fixed non-unit length
        double *W = calloc(2 * (size_t)N, sizeof(double));
        for (int k = 0; k < N; k++) {
            double t = 2.0 * M_PI * k / N + 0.3;
            double v[2] = {r * cos(t), r * sin(t)};
            set_col(W, 2, N, k, v);
        }
        Feat f = feat_run(W, 2, N);
        for (int i = 0; i < N; i++) {
            CHECK_NEAR(f.norm[i], r, TOL);
            CHECK_NEAR(f.cap[i], 2.0 / N, TOL);
            CHECK_REL(f.sup[i], r * r * (N / 2.0 - 1.0), TOL, 1.0);
        }
        CHECK_NEAR(metrics_sum(f.cap, N), 2.0, TOL);
        CHECK_INT_EQ(metrics_represented(f.norm, N), N);
        feat_free(&f);
        free(W);
    }
}

TEST(regular_simplex)
{
    // m+1 unit vectors in R^m with pairwise dot -1/m: sum_j G_ij^2 = 1 + m/m^2,
    // so C_i = 1 / (1 + 1/m) = m/(m+1) and sup_i = m * (1/m^2) = 1/m.
    // sum_i C_i = m = rank (a tight frame: CAP equality).
    for (int m = 2; m <= 6; m++) {
        int n = m + 1;
        double *W = calloc((size_t)m * n, sizeof(double));
        simplex(W, m);
        // the construction is what it claims: unit vectors, dots -1/m
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double d = 0;
                for (int k = 0; k < m; k++) d += W[k * n + i] * W[k * n + j];
                CHECK_NEAR(d, i == j ? 1.0 : -1.0 / m, 1e-14);
            }
        Feat f = feat_run(W, m, n);
        for (int i = 0; i < n; i++) {
            CHECK_NEAR(f.norm[i], 1.0, TOL);
            CHECK_NEAR(f.cap[i], (double)m / (m + 1), TOL);
            CHECK_NEAR(f.sup[i], 1.0 / m, TOL);
        }
        CHECK_NEAR(metrics_sum(f.cap, n), (double)m, TOL);
        CHECK_NEAR(metrics_frobenius2(W, m, n), (double)n, TOL);
        feat_free(&f);
        free(W);
    }
}

TEST(orthonormal_set)
{
    // n <= m orthonormal columns (the first n columns of a random orthogonal
    // matrix), each scaled by its own length: G is diagonal, C_i = 1, sup_i = 0.
    int m = 7;
    double Q[49];
    random_orthogonal(Q, m);
    for (int n = 1; n <= m; n++) {
        double *W = calloc((size_t)m * n, sizeof(double));
        double frob = 0;
        for (int i = 0; i < n; i++) {
            double len = 0.2 + 0.3 * i;
            frob += len * len;
            for (int k = 0; k < m; k++) W[k * n + i] = len * Q[k * m + i];
        }
        Feat f = feat_run(W, m, n);
        for (int i = 0; i < n; i++) {
            CHECK_NEAR(f.norm[i], 0.2 + 0.3 * i, TOL);
            CHECK_NEAR(f.cap[i], 1.0, TOL);
            CHECK_NEAR(f.sup[i], 0.0, TOL);
        }
        CHECK_NEAR(metrics_frobenius2(W, m, n), frob, TOL);
        CHECK_NEAR(metrics_sum(f.cap, n), (double)n, TOL);
        feat_free(&f);
        free(W);
    }
}

TEST(zero_columns)
{
    // Columns e_0, 0, (e_0 + e_1)/sqrt2 * 2, 0 in R^2. Zero columns have
    // norm 0, C = 0, sup = 0 and change nothing for the others:
    //   G_00 = 1, G_22 = 4, G_02 = sqrt2:  C_0 = 1/(1 + 2) = 1/3,
    //   C_2 = 16/(16 + 2) = 8/9, sup_0 = 2/1 = 2, sup_2 = 2/4 = 1/2.
    double s = sqrt(2.0);
    double W[8] = {1, 0, s, 0,
                   0, 0, s, -0.0};
    Feat f = feat_run(W, 2, 4);
    double norm[4] = {1, 0, 2, 0}, cap[4] = {1.0 / 3, 0, 8.0 / 9, 0},
           sup[4] = {2, 0, 0.5, 0};
    for (int i = 0; i < 4; i++) {
        CHECK_NEAR(f.norm[i], norm[i], TOL);
        CHECK_NEAR(f.cap[i], cap[i], TOL);
        CHECK_NEAR(f.sup[i], sup[i], TOL);
    }
    CHECK(f.norm[1] == 0.0 && f.cap[1] == 0.0 && f.sup[1] == 0.0); // exactly
    CHECK_INT_EQ(metrics_represented(f.norm, 4), 2);
    feat_free(&f);

    // all zero, and m = 0 (no hidden dimension at all)
    double Z[12] = {0};
    f = feat_run(Z, 3, 4);
    for (int i = 0; i < 4; i++)
        CHECK(f.norm[i] == 0.0 && f.cap[i] == 0.0 && f.sup[i] == 0.0);
    CHECK(metrics_frobenius2(Z, 3, 4) == 0.0);
    feat_free(&f);
    f = feat_run(Z, 0, 4);
    for (int i = 0; i < 4; i++)
        CHECK(f.norm[i] == 0.0 && f.cap[i] == 0.0 && f.sup[i] == 0.0);
    feat_free(&f);

    // a tiny but nonzero column (float32's smallest normal) is a feature
    double T[2] = {0x1.0p-126, 0x1.0p-126}; // m = 2, n = 1
    f = feat_run(T, 2, 1);
    CHECK(f.norm[0] > 0.0);
    CHECK_NEAR(f.cap[0], 1.0, TOL);
    CHECK(f.sup[0] == 0.0);
    feat_free(&f);
}

TEST(null_outputs_and_empty)
{
    double s = 1.0 / sqrt(2.0);
    double W[9] = {1, s, 0, 0, s, 0, 0, 0, 1};
    double cap[3] = {0}, sup[3] = {0}, norm[3] = {0};
    CHECK_INT_EQ(metrics_features(W, 3, 3, NULL, cap, NULL), 0);
    CHECK_NEAR(cap[0], 2.0 / 3, TOL);
    CHECK_INT_EQ(metrics_features(W, 3, 3, NULL, NULL, sup), 0);
    CHECK_NEAR(sup[1], 0.5, TOL);
    CHECK_INT_EQ(metrics_features(W, 3, 3, norm, NULL, NULL), 0);
    CHECK_NEAR(norm[2], 1.0, TOL);
    CHECK_INT_EQ(metrics_features(W, 3, 3, NULL, NULL, NULL), 0);
    CHECK_INT_EQ(metrics_features(W, 3, 0, norm, cap, sup), 0);
    CHECK(metrics_sum(cap, 0) == 0.0);
    CHECK_INT_EQ(metrics_represented(norm, 0), 0);
}

TEST(represented_threshold)
{
    // strictly greater than 0.5; NaN is not represented
    double norm[6] = {0.5, nextafter(0.5, 1.0), 0.0, 3.0, NAN, 0.49};
    CHECK_INT_EQ(metrics_represented(norm, 6), 2);
    double v[4] = {1.5, -0.25, 2.0, 0.125};
    CHECK(metrics_sum(v, 4) == 3.375);
}

/* ---- random matrices ---- */

TEST(random_against_reference)
{
    // Shapes include n*n beyond one panel (n = 400, 1000) so the panelled
    // Gram path with a ragged last panel is exercised, and columns set to 0.
    int shapes[][2] = {{1, 1}, {2, 5}, {5, 20}, {3, 17}, {20, 7}, {4, 400}, {3, 1000}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int m = shapes[s][0], n = shapes[s][1];
        double *W = malloc(sizeof(double) * m * n);
        for (int k = 0; k < m * n; k++) W[k] = rng_gauss() * 0.7;
        for (int i = 0; i < n; i += 5)
            for (int k = 0; k < m; k++) W[k * n + i] = 0.0; // dead features
        double *rn = malloc(sizeof(double) * n), *rc = malloc(sizeof(double) * n),
               *rs = malloc(sizeof(double) * n);
        reference(W, m, n, rn, rc, rs);
        Feat f = feat_run(W, m, n);
        double frob = 0;
        for (int i = 0; i < n; i++) {
            CHECK_REL(f.norm[i], rn[i], TOL, 1e-300);
            CHECK_REL(f.cap[i], rc[i], TOL, 1e-300);
            CHECK_REL(f.sup[i], rs[i], 1e-11, 1e-300);
            CHECK(f.cap[i] >= 0.0 && f.cap[i] <= 1.0);
            frob += rn[i] * rn[i];
        }
        CHECK_REL(metrics_frobenius2(W, m, n), frob, TOL, 1e-300);
        free(rn); free(rc); free(rs); free(W);
        feat_free(&f);
    }
}

TEST(cap_theorem_bound)
{
    // sum_i C_i <= rank(W) for any W [CAP, theorem 1]: random full-rank
    // matrices and random low-rank products W = A B (A (m, r), B (r, n)).
    for (int trial = 0; trial < 40; trial++) {
        int m = 2 + (int)(rng_u64() % 7), n = 1 + (int)(rng_u64() % 30);
        int r = 1 + (int)(rng_u64() % (unsigned)m);
        double *A = malloc(sizeof(double) * m * r), *B = malloc(sizeof(double) * r * n);
        double *W = calloc((size_t)m * n, sizeof(double));
        for (int k = 0; k < m * r; k++) A[k] = rng_gauss();
        for (int k = 0; k < r * n; k++) B[k] = rng_gauss() * (trial % 3 ? 1.0 : 1e-3);
        for (int a = 0; a < m; a++)
            for (int c = 0; c < r; c++)
                for (int i = 0; i < n; i++) W[a * n + i] += A[a * r + c] * B[c * n + i];
        int rank = matrix_rank(W, m, n);
        CHECK(rank <= r && rank <= n);
        Feat f = feat_run(W, m, n);
        double sum = metrics_sum(f.cap, n);
        CHECK(sum <= rank + TOL);
        // generic random matrices of rank >= 2 with several features per
        // dimension are far from block-semi-orthogonal: strict inequality.
        // (Rank 1 is always the equality case: all columns are parallel, G is
        // a multiple of a rank-1 projection, sum_i C_i = 1.)
        if (rank == 1) CHECK_NEAR(sum, 1.0, TOL);
        if (rank >= 2 && n >= 2 * rank + 2) CHECK(sum < rank - 1e-3);
        feat_free(&f);
        free(A); free(B); free(W);
    }
}

TEST(cap_theorem_equality)
{
    // Block-semi-orthogonal W in R^m, m = 2 + 3 + 1 + 1 + 2 = 9: a pentagon in
    // dims 0-1 (rank 2), a simplex of 4 in dims 2-4 (rank 3), 3 identical
    // vectors in dim 5 (rank 1), an antipodal pair in dim 6 (rank 1), 2
    // orthogonal vectors of equal length in dims 7-8 (rank 2), 2 zero
    // columns; each block with its own scale, then the whole rotated by a
    // random orthogonal matrix. Every block's Gram matrix is a positive
    // multiple of an orthogonal projection, so sum_i C_i = rank = 9
    // [CAP, theorem 1, equality case].
    int m = 9, n = 5 + 4 + 3 + 2 + 2 + 2;
    double *W = calloc((size_t)m * n, sizeof(double));
    int col = 0;
    for (int k = 0; k < 5; k++, col++) {
        double t = 2.0 * M_PI * k / 5;
        W[0 * n + col] = 1.7 * cos(t);
        W[1 * n + col] = 1.7 * sin(t);
    }
    double S[12];
    simplex(S, 3);
    for (int i = 0; i < 4; i++, col++)
        for (int k = 0; k < 3; k++) W[(2 + k) * n + col] = 0.4 * S[k * 4 + i];
    for (int i = 0; i < 3; i++, col++) W[5 * n + col] = 2.2;
    W[6 * n + col++] = 0.9;
    W[6 * n + col++] = -0.9;
    double c = 0.8;
    W[7 * n + col] = c * 0.6; W[8 * n + col++] = c * 0.8;
    W[7 * n + col] = -c * 0.8; W[8 * n + col++] = c * 0.6;
    col += 2; // two zero columns
    REQUIRE(col == n);
    double Q[81];
    random_orthogonal(Q, m);
    rotate(W, m, n, Q);
    CHECK_INT_EQ(matrix_rank(W, m, n), 9);
    Feat f = feat_run(W, m, n);
    CHECK_NEAR(metrics_sum(f.cap, n), 9.0, 1e-12);
    // per block: 2/5 for the pentagon, 3/4 for the simplex, 1/3, 1/2, 1, 0
    double expect[18] = {0.4, 0.4, 0.4, 0.4, 0.4, 0.75, 0.75, 0.75, 0.75,
                         1.0 / 3, 1.0 / 3, 1.0 / 3, 0.5, 0.5, 1, 1, 0, 0};
    for (int i = 0; i < n; i++) CHECK_NEAR(f.cap[i], expect[i], TOL);
    feat_free(&f);

    // breaking the structure (one block slightly off its scale within the
    // block) makes the inequality strict
    W[0] *= 1.1;
    f = feat_run(W, m, n);
    CHECK(metrics_sum(f.cap, n) < 9.0 - 1e-6);
    feat_free(&f);
    free(W);
}

HARNESS_MAIN
