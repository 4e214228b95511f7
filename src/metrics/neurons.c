/* neurons.c - measures of the neuron basis (science.md section 4), for models
 * whose hidden layer is privileged (an elementwise nonlinearity or an L1
 * penalty on W), where a row of W is a neuron.
 *
 * - count of features in the weight window [lo, hi] of a neuron: [INC]
 *   Lecomte et al. 2023 (section 4) call a neuron polysemantic when two or
 *   more features have |W_ji| in [0.8, 1.2] - the weights a one-hot
 *   autoencoder gives a feature it has "learned" in that neuron.
 * - participation ratio of neuron j: (sum_i W_ji^2)^2 / sum_i W_ji^4, the
 *   effective number of features of the row (k equal weights give k).
 * - fourth-norm ratio of feature i: sum_j W_ji^4 / (sum_j W_ji^2)^2, the
 *   inverse participation ratio of the column (1 = a single neuron, 1/k for
 *   k equal weights).
 * Zero rows and columns are given 0 (the formulas would give 0/0), as
 * metrics_features does for the capacity of an absent feature.
 */
#include <math.h>
#include <stdlib.h>

#include "polysweep/metrics.h"
#include "polysweep/polysweep.h"

int metrics_neurons(const double *W, int m, int n, double lo, double hi, double *count,
                    double *participation, double *fourth_ratio, int *polysemantic)
{
    if (!(lo <= hi)) return PS_EINVAL; // also refuses NaN
    if (m < 0) m = 0;
    if (n < 0) n = 0;
    double *sq = NULL; // (n) column sums of W^2
    if (fourth_ratio) {
        sq = calloc((size_t)n + 1, sizeof(double));
        if (!sq) return PS_ENOMEM;
        for (int i = 0; i < n; i++) fourth_ratio[i] = 0.0; // sums of W^4 first
    }
    int poly = 0;
    for (int j = 0; j < m; j++) {
        const double *w = W + (size_t)j * n; // (n) row j: neuron j
        int c = 0;
        double s2 = 0.0, s4 = 0.0;
        for (int i = 0; i < n; i++) {
            double a = fabs(w[i]), a2 = a * a;
            c += a >= lo && a <= hi;
            s2 += a2;
            s4 += a2 * a2;
            if (sq) {
                sq[i] += a2;
                fourth_ratio[i] += a2 * a2;
            }
        }
        poly += c >= 2;
        if (count) count[j] = c;
        if (participation) participation[j] = s4 > 0.0 ? s2 * s2 / s4 : s4 == 0.0 ? 0.0 : NAN;
    }
    if (fourth_ratio)
        for (int i = 0; i < n; i++) {
            double s2 = sq[i];
            fourth_ratio[i] = s2 > 0.0 ? fourth_ratio[i] / (s2 * s2) : s2 == 0.0 ? 0.0 : NAN;
        }
    free(sq);
    if (polysemantic) *polysemantic = poly;
    return 0;
}
