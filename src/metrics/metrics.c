/* metrics.c - per-feature and per-model measurements of a trained embedding
 * W (m, n) row-major (science.md section 4).
 *
 * Everything is derived from the Gram matrix G = W^T W (n, n): G_ii = ||W_i||^2
 * and G_ij = W_i . W_j. With u_i = sum_{j != i} G_ij^2,
 *
 *   capacity C_i      = G_ii^2 / (G_ii^2 + u_i) = 1 / (1 + u_i / G_ii^2)
 *                       ([CAP] Scherlis et al. 2022, eq. 4; equal to the
 *                        feature dimensionality D_i of [TMS] Elhage et al. 2022)
 *   superposition_i   = u_i / G_ii  = sum_{j != i} (W_i/||W_i|| . W_j)^2   [TMS]
 *
 * and both are defined as 0 when W_i = 0 (G_ii exactly 0).
 *
 * G is never needed whole: only the row sums u_i. It is built one panel of
 * rows at a time (rows [i0, i1), columns j >= i0, i.e. the upper triangle,
 * since G is symmetric), each panel by rank-1 updates that stream the rows of
 * W. Each off-diagonal G_ij (i < j) is squared once and added to both u_i and
 * u_j. A panel holds at most PANEL_DOUBLES values (or one row of G), so the
 * memory is min(n*n, max(n, PANEL_DOUBLES)) doubles and the panel stays in
 * cache for the moderate n of most tasks.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "polysweep/metrics.h"
#include "polysweep/polysweep.h"

/* 1 MiB of doubles per panel: a panel stays in L2 while the m rows of W
 * stream through it. */
#define PANEL_DOUBLES ((size_t)1 << 17)

/* Squared column norms: norm2[i] = sum_k W_ki^2, streaming the rows of W. */
static void column_norm2(double *norm2, const double *W, int m, int n)
{
    for (int i = 0; i < n; i++) norm2[i] = 0.0;
    for (int k = 0; k < m; k++) {
        const double *w = W + (size_t)k * n; // (n) row k
        for (int i = 0; i < n; i++) norm2[i] += w[i] * w[i];
    }
}

/* u[i] = sum_{j != i} G_ij^2, G = W^T W, computed panel by panel over the
 * upper triangle. panel has room for rows * (n - i0) values for any i0. */
static void gram_offdiag_sumsq(double *u, double *panel, int rows,
                               const double *W, int m, int n)
{
    for (int i = 0; i < n; i++) u[i] = 0.0;
    for (int i0 = 0; i0 < n; i0 += rows) {
        int i1 = i0 + rows < n ? i0 + rows : n;
        size_t ld = (size_t)(n - i0); // panel row (i - i0) holds G_ij for j in [i0, n)
        memset(panel, 0, (size_t)(i1 - i0) * ld * sizeof(double));
        for (int k = 0; k < m; k++) {
            const double *w = W + (size_t)k * n; // (n) row k of W
            for (int i = i0; i < i1; i++) {
                double a = w[i];
                if (a == 0.0) continue; // common for dead features; saves the row
                double *p = panel + (size_t)(i - i0) * ld; // p[j - i0] = G_ij
                for (int j = i + 1; j < n; j++) p[j - i0] += a * w[j];
            }
        }
        for (int i = i0; i < i1; i++) {
            const double *p = panel + (size_t)(i - i0) * ld;
            double s = 0.0;
            for (int j = i + 1; j < n; j++) {
                double q = p[j - i0] * p[j - i0];
                s += q;
                u[j] += q; // G_ji = G_ij: the lower triangle's share
            }
            u[i] += s;
        }
    }
}

int metrics_features(const double *W, int m, int n, double *norm,
                     double *capacity, double *superposition)
{
    if (n <= 0) return 0;
    if (m < 0) m = 0;
    int need_gram = capacity != NULL || superposition != NULL;
    int rows = n;
    if ((size_t)n * (size_t)n > PANEL_DOUBLES) {
        rows = (int)(PANEL_DOUBLES / (size_t)n);
        if (rows < 1) rows = 1;
    }
    // one allocation: norm2 (n) | u (n) | panel (rows * n)
    size_t len = 2 * (size_t)n + (need_gram ? (size_t)rows * (size_t)n : 0);
    double *buf = malloc(len * sizeof(double));
    if (!buf) return PS_ENOMEM;
    double *norm2 = buf, *u = buf + n, *panel = buf + 2 * (size_t)n;

    column_norm2(norm2, W, m, n);
    if (norm)
        for (int i = 0; i < n; i++) norm[i] = sqrt(norm2[i]);
    if (need_gram) {
        gram_offdiag_sumsq(u, panel, rows, W, m, n);
        for (int i = 0; i < n; i++) {
            double g = norm2[i];
            // W_i = 0 exactly: the feature is absent, both measures are 0 by
            // definition (the formulas would give 0/0). Values that come from
            // float32 weights cannot underflow here (|w| >= 1e-45, w^4 >= 1e-180).
            double c = 0.0, s = 0.0;
            if (g > 0.0) {
                c = 1.0 / (1.0 + u[i] / (g * g));
                s = u[i] / g;
            } else if (g != g) {
                c = s = g; // NaN in, NaN out
            }
            if (capacity) capacity[i] = c;
            if (superposition) superposition[i] = s;
        }
    }
    free(buf);
    return 0;
}

double metrics_frobenius2(const double *W, int m, int n)
{
    // ||W||_F^2 = sum_i ||W_i||^2 = tr G  [TMS, "number of features learned"]
    double s = 0.0;
    size_t len = (size_t)(m > 0 ? m : 0) * (size_t)(n > 0 ? n : 0);
    for (size_t k = 0; k < len; k++) s += W[k] * W[k];
    return s;
}

int metrics_represented(const double *norm, int n)
{
    int count = 0;
    for (int i = 0; i < n; i++)
        count += norm[i] > METRICS_REPRESENTED_NORM; // NaN counts as not represented
    return count;
}

double metrics_sum(const double *v, int n)
{
    double s = 0.0;
    for (int i = 0; i < n; i++) s += v[i];
    return s;
}
