/* predict.c - closed-form predictions to set beside what training found
 * (science.md section 5): the optimal capacities and loss of the quadratic
 * model [CAP], and the no-superposition baseline of the power model's gain
 * [POW].
 *
 * [CAP] Scherlis et al. 2022, section 4 (the quadratic model): with
 * independent, zero-mean, unit-variance inputs of kurtosis K and the optimal
 * bias, the population loss is
 *   L(W) = (K-1) sum_i (||W_i||^2 - I_i)^2 + 2 sum_{i != j} (W_i . W_j)^2.
 * Minimising over feature i's norm at fixed capacity C gives
 *   L_i(C) = 2 (K-1) I_i^2 (1-C) / (2 + (K-3) C),
 * and the optimal allocation of the m dimensions (sum_i C_i = m, the bound of
 * their theorem 1 reached) is: K <= 3, L_i is concave in C, so all-or-nothing:
 * C = 1 for the m most important features; K > 3, L_i is convex and the
 * Lagrange condition L_i'(C_i) = -2 (K-1)^2 I_i^2 / (2 + (K-3) C_i)^2 = -T
 * gives
 *   C_i = clip(((K-1) I_i sqrt(2/T) - 2) / (K-3), 0, 1)
 * with the multiplier T set by sum_i C_i = m. With s = sqrt(2/T), sum_i C_i(s)
 * is continuous, piecewise linear and non-decreasing in s, from 0 at s = 0 to
 * the number of features with I_i > 0 at s = 1 / min_{I_i > 0} I_i; s is
 * found by bisection, then solved exactly on the linear piece it lands on.
 *
 * [POW] Chowdhury & Weiner: gain Lg = 2 E<x, x'> - E||x'||^2 (so the
 * unweighted loss is E||x||^2 - Lg = p n mu2 - Lg). Without superposition (G
 * diagonal, d = min(m, n) nonzero entries g_i, x'_i = (g_i x_i)^q):
 *   Lg = sum_i p (2 g_i^q mu_{q+1} - g_i^{2q} mu_{2q}) <= p d mu_{q+1}^2 / mu_{2q},
 * the maximum of each term, at g_i^q = mu_{q+1} / mu_{2q}.
 */
#include <math.h>
#include <stdlib.h>

#include "polysweep/metrics.h"
#include "polysweep/polysweep.h"

double metrics_quadratic_feature_loss(double I, double K, double C)
{
    if (!(C >= 0.0 && C <= 1.0) || !(K >= 1.0) || !(I >= 0.0)) return NAN;
    // (1 - C) = 0 or (K - 1) = 0 or I = 0 make the loss 0; at K = 1 and C = 1
    // the formula alone would be 0/0.
    if (C == 1.0 || K == 1.0 || I == 0.0) return 0.0;
    return 2.0 * (K - 1.0) * I * I * (1.0 - C) / (2.0 + (K - 3.0) * C);
}

/* C_i(s) for K > 3, and their sum. */
static double cap_at(double I, double K, double s)
{
    double c = ((K - 1.0) * I * s - 2.0) / (K - 3.0);
    return c < 0.0 ? 0.0 : c > 1.0 ? 1.0 : c;
}

static double cap_sum(const double *I, int n, double K, double s)
{
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += cap_at(I[i], K, s);
    return sum;
}

typedef struct Ranked { double I; int i; } Ranked;

/* Most important first, ties to the lower index (a total order, so the
 * result does not depend on qsort's algorithm). */
static int by_importance(const void *pa, const void *pb)
{
    const Ranked *a = pa, *b = pb;
    if (a->I != b->I) return a->I > b->I ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

/* K <= 3: C = 1 for the `target` most important features. */
static int top_m(const double *I, int n, int target, double *C)
{
    Ranked *rk = malloc((size_t)n * sizeof(*rk));
    if (!rk) return PS_ENOMEM;
    for (int i = 0; i < n; i++) rk[i] = (Ranked){I[i], i};
    qsort(rk, (size_t)n, sizeof(*rk), by_importance);
    for (int i = 0; i < n; i++) C[i] = 0.0;
    for (int k = 0; k < target; k++) C[rk[k].i] = 1.0;
    free(rk);
    return 0;
}

/* K > 3 with fewer dimensions than features of positive importance:
 * C_i(s) with sum_i C_i(s) = m. */
static void water_fill(const double *I, int n, int m, double K, double imin, double *C)
{
    double lo = 0.0, hi = 1.0 / imin; // sum(lo) = 0 < m < npos = sum(hi)
    for (int it = 0; it < 2000; it++) {
        double mid = 0.5 * (lo + hi);
        if (mid <= lo || mid >= hi) break; // adjacent doubles
        if (cap_sum(I, n, K, mid) < m) lo = mid;
        else hi = mid;
    }
    double s = hi;
    // On the linear piece around s: the interior features J and the full
    // ones F satisfy |F| + sum_J ((K-1) I_i s - 2) / (K-3) = m, so
    //   s = ((m - |F|) (K-3) + 2 |J|) / ((K-1) sum_J I_i).
    // Near K = 3 the slope (K-1) I / (K-3) is huge and bisection alone would
    // leave sum_i C_i visibly off m.
    int full = 0, inner = 0;
    double sumI = 0.0;
    for (int i = 0; i < n; i++) {
        double c = cap_at(I[i], K, s);
        if (c >= 1.0) full++;
        else if (c > 0.0) {
            inner++;
            sumI += I[i];
        }
    }
    if (inner > 0) {
        double exact = ((m - full) * (K - 3.0) + 2.0 * inner) / ((K - 1.0) * sumI);
        if (fabs(cap_sum(I, n, K, exact) - m) < fabs(cap_sum(I, n, K, s) - m)) s = exact;
    }
    for (int i = 0; i < n; i++) C[i] = cap_at(I[i], K, s);
}

int metrics_quadratic_optimum(const double *I, int n, int m, double K, double *C,
                              double *loss)
{
    int ok = n >= 1 && m >= 1 && K >= 1.0 && isfinite(K), npos = 0;
    double imin = INFINITY;
    for (int i = 0; ok && i < n; i++) {
        if (!(I[i] >= 0.0) || !isfinite(I[i])) ok = 0;
        if (I[i] > 0.0) {
            npos++;
            if (I[i] < imin) imin = I[i];
        }
    }
    if (!ok) {
        for (int i = 0; C && i < n; i++) C[i] = NAN;
        if (loss) *loss = NAN;
        return PS_EINVAL;
    }
    double *c = C ? C : malloc((size_t)n * sizeof(double));
    if (!c) return PS_ENOMEM;
    int ret = 0, target = m < npos ? m : npos;
    if (K <= 3.0) {
        ret = top_m(I, n, target, c);
    } else if (target == npos) {
        // room for every feature that matters: each gets its own dimension
        for (int i = 0; i < n; i++) c[i] = I[i] > 0.0 ? 1.0 : 0.0;
    } else {
        water_fill(I, n, m, K, imin, c);
    }
    if (loss) {
        double sum = 0.0;
        for (int i = 0; i < n; i++) sum += metrics_quadratic_feature_loss(I[i], K, c[i]);
        *loss = ret ? NAN : sum;
    }
    if (!C) free(c);
    return ret;
}

double metrics_power_baseline(double p, int m, int n, double mu_q1, double mu_2q)
{
    if (!(mu_2q > 0.0)) return NAN;
    int d = m < n ? m : n;
    return p * (double)d * mu_q1 * mu_q1 / mu_2q;
}
