/* test_predict.c - the closed-form predictions of metrics.h (science.md
 * section 5): the quadratic model's optimal capacities and loss [CAP], and
 * the power model's gain and no-superposition baseline [POW].
 *
 * References used here, independent of the code under test:
 * - n = 2, m = 1: the population loss L(W) of the quadratic model is
 *   minimised exactly over W = (c, d) (a quadratic in u = c^2, v = d^2 on the
 *   quadrant), by hand for (2, 1, K = 7) and by enumerating the stationary
 *   points for a grid of cases;
 * - optimality: no transfer of capacity between two features lowers
 *   sum_i L_i(C_i) (the allocation problem is separable and convex for K > 3);
 * - the power baseline by hand from the Gaussian moments, and by Monte Carlo
 *   as the best gain of a diagonal model (the gain of trained models is
 *   tested with task_power_gain in test_task_measure.c).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#define TEST_RNG_SEED 0x3c6ef372fe94f82bull
#include "test_random.h"
#include "polysweep/metrics.h"
#include "polysweep/polysweep.h"

/* ---- quadratic model ---- */

TEST(quadratic_two_features_by_hand)
{
    // n = 2, m = 1, importances (a, b) = (2, 1), K = 7. W = (c, d) is 1 x 2;
    // with u = c^2, v = d^2 the population loss (science.md section 5) is
    //   L = (K-1) ((u - a)^2 + (v - b)^2) + 2 * 2 (c d)^2
    //     = 6 (u - 2)^2 + 6 (v - 1)^2 + 4 u v.
    // Stationary point: 12 (u - 2) + 4 v = 0 and 12 (v - 1) + 4 u = 0, i.e.
    // 3u + v = 6 and u + 3v = 3: u = 15/8 = 1.875, v = 3/8 = 0.375, and
    //   L = 6 (1/64) + 6 (25/64) + 4 (45/64) = (6 + 150 + 180) / 64 = 5.25.
    // Capacities: C_1 = u^2 / (u^2 + uv) = u / (u + v) = 1.875 / 2.25 = 5/6,
    // C_2 = 1/6. (Edges: v = 0 gives (K-1) b^2 = 6, u = 0 gives 24: larger.)
    double I[2] = {2, 1}, C[2], loss;
    CHECK_INT_EQ(metrics_quadratic_optimum(I, 2, 1, 7.0, C, &loss), 0);
    CHECK_NEAR(C[0], 5.0 / 6.0, 1e-14);
    CHECK_NEAR(C[1], 1.0 / 6.0, 1e-14);
    CHECK_NEAR(loss, 5.25, 1e-13);
    // the order of the features does not matter
    double J[2] = {1, 2};
    CHECK_INT_EQ(metrics_quadratic_optimum(J, 2, 1, 7.0, C, &loss), 0);
    CHECK_NEAR(C[0], 1.0 / 6.0, 1e-14);
    CHECK_NEAR(C[1], 5.0 / 6.0, 1e-14);
    CHECK_NEAR(loss, 5.25, 1e-13);
    // per-feature losses: L_1(5/6) = 12 * 4 * (1/6) / (2 + 4 * 5/6) = 8 / (16/3)
    // = 1.5, L_2(1/6) = 12 * (5/6) / (2 + 4/6) = 10 / (8/3) = 3.75
    CHECK_NEAR(metrics_quadratic_feature_loss(2, 7, 5.0 / 6.0), 1.5, 1e-14);
    CHECK_NEAR(metrics_quadratic_feature_loss(1, 7, 1.0 / 6.0), 3.75, 1e-14);
    // loss only, capacities only
    CHECK_INT_EQ(metrics_quadratic_optimum(I, 2, 1, 7.0, NULL, &loss), 0);
    CHECK_NEAR(loss, 5.25, 1e-13);
    CHECK_INT_EQ(metrics_quadratic_optimum(I, 2, 1, 7.0, C, NULL), 0);
    CHECK_NEAR(C[0], 5.0 / 6.0, 1e-14);
}

/* Exact minimum of L(u, v) = k ((u-a)^2 + (v-b)^2) + 4 u v over u, v >= 0
 * (k = K - 1): the two edges' minima (u = a, v = 0) and (0, b), and the
 * interior stationary point when it is a minimum (k > 2) inside the quadrant. */
static double direct_two(double a, double b, double K, double *C1)
{
    double k = K - 1.0;
    double best = k * b * b; // u = a, v = 0
    *C1 = 1.0;
    double e2 = k * a * a;   // u = 0, v = b
    if (e2 < best) {
        best = e2;
        *C1 = 0.0;
    }
    if (k > 2.0) {
        double det = k * k - 4.0;
        double u = k * (k * a - 2.0 * b) / det, v = k * (k * b - 2.0 * a) / det;
        if (u > 0 && v > 0) {
            double L = k * ((u - a) * (u - a) + (v - b) * (v - b)) + 4.0 * u * v;
            if (L < best) {
                best = L;
                *C1 = u / (u + v);
            }
        }
    }
    return best;
}

TEST(quadratic_two_features_against_direct_minimum)
{
    // The prediction must be the exact optimum for n = 2, m = 1, on both
    // sides of the threshold K = 1 + 2a/b (polysemantic above it).
    const double as[] = {1.0, 2.0, 3.5}, bs[] = {0.2, 1.0, 1.7},
                 Ks[] = {1.0, 1.5, 2.9, 3.0, 3.0001, 4.0, 5.0, 6.9, 7.0, 10.0, 50.0, 1e4};
    for (int ia = 0; ia < 3; ia++)
        for (int ib = 0; ib < 3; ib++)
            for (int ik = 0; ik < 12; ik++) {
                double a = as[ia], b = bs[ib], K = Ks[ik];
                double I[2] = {a, b}, C[2], loss, C1;
                double Ld = direct_two(a, b, K, &C1);
                CHECK_INT_EQ(metrics_quadratic_optimum(I, 2, 1, K, C, &loss), 0);
                CHECK_REL(loss, Ld, 1e-10, 1e-12);
                CHECK_NEAR(C[0] + C[1], 1.0, K - 3.0 < 1e-3 ? 1e-9 : 1e-12);
                if (K > 1.0 && a != b) CHECK_NEAR(C[0], C1, 1e-8);
            }
    // the threshold: (2, 1) is monosemantic up to K = 5, polysemantic above
    double I[2] = {2, 1}, C[2], loss;
    metrics_quadratic_optimum(I, 2, 1, 4.99, C, &loss);
    CHECK(C[0] == 1.0 && C[1] == 0.0);
    CHECK_NEAR(loss, 3.99, 1e-12); // (K-1) b^2
    metrics_quadratic_optimum(I, 2, 1, 5.01, C, &loss);
    CHECK(C[0] < 1.0 && C[1] > 0.0);
}

/* sum_i L_i(C_i) */
static double total_loss(const double *I, int n, double K, const double *C)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += metrics_quadratic_feature_loss(I[i], K, C[i]);
    return s;
}

TEST(quadratic_allocation_properties)
{
    // Random importances: sum_i C_i = m, C in [0, 1], monotone in importance,
    // the loss is sum_i L_i(C_i), and moving capacity between any two features
    // does not lower it (optimality of the separable convex problem, K > 3).
    const double Ks[] = {3.000001, 3.2, 4.0, 7.0, 30.0, 1000.0};
    for (int rep = 0; rep < 6; rep++) {
        int n = 5 + (int)(rng_u64() % 40), m = 1 + (int)(rng_u64() % (n - 1));
        double *I = malloc(sizeof(double) * n), *C = malloc(sizeof(double) * n),
               *D = malloc(sizeof(double) * n);
        for (int i = 0; i < n; i++) I[i] = rep % 2 ? pow(0.85, i) : 0.01 + rng_uniform();
        for (int ik = 0; ik < 6; ik++) {
            double K = Ks[ik], loss;
            CHECK_INT_EQ(metrics_quadratic_optimum(I, n, m, K, C, &loss), 0);
            double sum = 0;
            for (int i = 0; i < n; i++) {
                CHECK(C[i] >= 0.0 && C[i] <= 1.0);
                sum += C[i];
            }
            // near K = 3 a capacity is (K-1) I s / (K-3) - 2 / (K-3): the
            // rounding of the difference is amplified by 1 / (K-3)
            CHECK_NEAR(sum, (double)m, K - 3.0 < 1e-3 ? 1e-7 : 1e-11);
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                    if (I[i] > I[j]) CHECK(C[i] >= C[j]);
            CHECK_REL(loss, total_loss(I, n, K, C), 1e-14, 1e-300);
            if (K - 3.0 < 1e-3) continue; // transfers below are too coarse there
            int better = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++) {
                    double eps = fmin(1e-4, fmin(1.0 - C[i], C[j]));
                    if (i == j || eps <= 0) continue;
                    memcpy(D, C, sizeof(double) * n);
                    D[i] += eps;
                    D[j] -= eps;
                    better += total_loss(I, n, K, D) < loss - 1e-12 * loss;
                }
            CHECK_INT_EQ(better, 0);
        }
        free(I); free(C); free(D);
    }
}

TEST(quadratic_low_kurtosis_top_m)
{
    // K <= 3: all or nothing, the m most important features (ties to the
    // lower index), loss (K-1) sum of I_i^2 over the dropped ones.
    double I[5] = {0.3, 0.9, 0.9, 0.1, 0.5}, C[5], loss;
    CHECK_INT_EQ(metrics_quadratic_optimum(I, 5, 2, 2.0, C, &loss), 0);
    double e2[5] = {0, 1, 1, 0, 0};
    for (int i = 0; i < 5; i++) CHECK(C[i] == e2[i]);
    CHECK_NEAR(loss, 1.0 * (0.09 + 0.01 + 0.25), 1e-15);
    CHECK_INT_EQ(metrics_quadratic_optimum(I, 5, 3, 3.0, C, &loss), 0); // K = 3 exactly
    double e3[5] = {0, 1, 1, 0, 1};
    for (int i = 0; i < 5; i++) CHECK(C[i] == e3[i]);
    CHECK_NEAR(loss, 2.0 * (0.09 + 0.01), 1e-15);
    double T[3] = {1, 1, 1};
    CHECK_INT_EQ(metrics_quadratic_optimum(T, 3, 2, 1.8, C, &loss), 0);
    CHECK(C[0] == 1 && C[1] == 1 && C[2] == 0);
    CHECK_NEAR(loss, 0.8, 1e-15);
    // K = 1: the target is a constant, the loss is 0
    CHECK_INT_EQ(metrics_quadratic_optimum(I, 5, 2, 1.0, C, &loss), 0);
    CHECK(loss == 0.0);
}

TEST(quadratic_edge_cases)
{
    double C[4], loss;
    // n <= m: every feature gets its own dimension, loss 0, at any K
    double I[3] = {1, 0.5, 0.25};
    for (int k = 0; k < 3; k++) {
        double K = (double[]){2.0, 3.0, 9.0}[k];
        CHECK_INT_EQ(metrics_quadratic_optimum(I, 3, 3, K, C, &loss), 0);
        CHECK(C[0] == 1 && C[1] == 1 && C[2] == 1 && loss == 0.0);
        CHECK_INT_EQ(metrics_quadratic_optimum(I, 3, 7, K, C, &loss), 0);
        CHECK(C[0] == 1 && C[1] == 1 && C[2] == 1 && loss == 0.0);
    }
    // zero importances get no capacity; with m = 3 >= 2 positive features the
    // two positive ones get 1 each and sum C = 2 < m
    double Z[4] = {1, 0, 0.5, 0};
    CHECK_INT_EQ(metrics_quadratic_optimum(Z, 4, 3, 5.0, C, &loss), 0);
    CHECK(C[0] == 1 && C[1] == 0 && C[2] == 1 && C[3] == 0 && loss == 0.0);
    CHECK_INT_EQ(metrics_quadratic_optimum(Z, 4, 1, 5.0, C, &loss), 0);
    CHECK(C[1] == 0 && C[3] == 0);
    CHECK_NEAR(C[0] + C[2], 1.0, 1e-12);
    // (1, 0.5) with K = 5: 1 + 2a/b = 5, exactly the threshold: monosemantic
    CHECK_NEAR(C[0], 1.0, 1e-12);
    // equal importances, K > 3: equal capacities m / n
    double E[4] = {2, 2, 2, 2};
    CHECK_INT_EQ(metrics_quadratic_optimum(E, 4, 3, 11.0, C, &loss), 0);
    for (int i = 0; i < 4; i++) CHECK_NEAR(C[i], 0.75, 1e-12);
    CHECK_NEAR(loss, 4 * metrics_quadratic_feature_loss(2, 11, 0.75), 1e-12);
    // invalid inputs: PS_EINVAL and NaN outputs
    double bad[2] = {1, -1}, nan2[2] = {1, NAN};
    CHECK_INT_EQ(metrics_quadratic_optimum(bad, 2, 1, 5.0, C, &loss), PS_EINVAL);
    CHECK(isnan(C[0]) && isnan(C[1]) && isnan(loss));
    CHECK_INT_EQ(metrics_quadratic_optimum(nan2, 2, 1, 5.0, C, &loss), PS_EINVAL);
    CHECK_INT_EQ(metrics_quadratic_optimum(I, 3, 1, 0.5, C, &loss), PS_EINVAL);
    CHECK_INT_EQ(metrics_quadratic_optimum(I, 3, 1, NAN, C, &loss), PS_EINVAL);
    CHECK_INT_EQ(metrics_quadratic_optimum(I, 3, 1, INFINITY, C, &loss), PS_EINVAL);
    CHECK_INT_EQ(metrics_quadratic_optimum(I, 3, 0, 5.0, C, &loss), PS_EINVAL);
    CHECK_INT_EQ(metrics_quadratic_optimum(I, 0, 1, 5.0, C, &loss), PS_EINVAL);
}

TEST(quadratic_feature_loss_values)
{
    // L_i(C) = 2 (K-1) I^2 (1-C) / (2 + (K-3) C)
    CHECK_NEAR(metrics_quadratic_feature_loss(3, 5, 0.5), 2 * 4 * 9 * 0.5 / 3.0, 1e-14); // 12
    CHECK_NEAR(metrics_quadratic_feature_loss(1, 2, 0), 1.0, 1e-15);      // (K-1) I^2
    CHECK_NEAR(metrics_quadratic_feature_loss(0.5, 2, 0.5), 2 * 0.25 * 0.5 / 1.5, 1e-15);
    CHECK(metrics_quadratic_feature_loss(2, 7, 1.0) == 0.0);
    CHECK(metrics_quadratic_feature_loss(2, 1, 1.0) == 0.0); // K = 1, C = 1: 0, not 0/0
    CHECK(metrics_quadratic_feature_loss(2, 1, 0.3) == 0.0);
    CHECK(metrics_quadratic_feature_loss(0, 7, 0.3) == 0.0);
    CHECK(isnan(metrics_quadratic_feature_loss(1, 7, 1.1)));
    CHECK(isnan(metrics_quadratic_feature_loss(1, 7, -0.1)));
    CHECK(isnan(metrics_quadratic_feature_loss(1, 0.5, 0.5)));
    CHECK(isnan(metrics_quadratic_feature_loss(NAN, 7, 0.5)));
    // L_i(0) = (K-1) I^2 at every K: the loss of leaving a feature out
    for (double K = 1.0; K < 20; K += 1.7)
        CHECK_NEAR(metrics_quadratic_feature_loss(1.3, K, 0), (K - 1) * 1.69, 1e-13);
}

/* ---- power model ---- */

TEST(power_baseline_by_hand)
{
    // Gaussian values, q = 3: mu_4 = 3, mu_6 = 15, so p d mu_4^2 / mu_6 = p d 9/15.
    CHECK_NEAR(metrics_power_baseline(0.1, 10, 6000, 3.0, 15.0), 0.1 * 10 * 0.6, 1e-15);
    CHECK_NEAR(metrics_power_baseline(0.5, 7, 3, 3.0, 15.0), 0.5 * 3 * 0.6, 1e-15); // d = n
    // Rademacher: every even moment 1 -> p d
    CHECK_NEAR(metrics_power_baseline(0.25, 4, 9, 1.0, 1.0), 1.0, 1e-15);
    CHECK(isnan(metrics_power_baseline(0.5, 4, 9, 1.0, 0.0)));
    CHECK(isnan(metrics_power_baseline(0.5, 4, 9, 1.0, NAN)));
}

TEST(power_baseline_is_the_best_diagonal_gain)
{
    // Monte Carlo: x_i = a_i xi_i, a ~ Bernoulli(p), xi ~ N(0, 1); a diagonal
    // model with G_ii^3 = t. Its gain per feature is p (2 t mu_4 - t^2 mu_6)
    // = p (6t - 15t^2), largest at t = mu_4/mu_6 = 0.2 where it equals the
    // baseline p 9/15 = 0.6 p; at t = 0.4 it is 0.
    const int B = 100000, n = 4;
    const double p = 0.5;
    double *x = malloc(sizeof(double) * B * n);
    for (int k = 0; k < B * n; k++) x[k] = rng_uniform() < p ? rng_gauss() : 0.0;
    double base = metrics_power_baseline(p, n, n, 3.0, 15.0); // 1.2
    for (int pass = 0; pass < 2; pass++) {
        double t = pass ? 0.4 : 0.2, g = cbrt(t), sum = 0;
        for (int k = 0; k < B * n; k++) {
            double z = g * x[k], xp = z * z * z; // x'_i = (G_ii x_i)^3
            sum += 2 * x[k] * xp - xp * xp;
        }
        // standard error about 0.012 (per-example variance of the gain
        // about 4 p 2.8 at t = 0.2)
        CHECK_NEAR(sum / B, pass ? 0.0 : base, 0.06);
    }
    free(x);
}

HARNESS_MAIN
