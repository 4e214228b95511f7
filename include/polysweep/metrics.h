/* metrics.h - what is measured on a trained model (science.md section 4).
 *
 * Inputs are the embedding W (m, n) row-major in double; column W_i is the
 * embedding of feature i. G = W^T W. Pure functions: no allocation unless
 * stated, no I/O.
 */
#ifndef POLYSWEEP_METRICS_H
#define POLYSWEEP_METRICS_H

/* A feature is represented when its norm exceeds this (TMS). */
#define METRICS_REPRESENTED_NORM 0.5

/* Per feature i (arrays of n):
 *   norm[i]          = ||W_i||
 *   capacity[i]      = ||W_i||^4 / sum_j (W_i . W_j)^2   (CAP; TMS's D_i), 0 when W_i = 0
 *   superposition[i] = sum_{j != i} (W_i/||W_i|| . W_j)^2 (TMS), 0 when W_i = 0
 * Any output may be NULL. Returns 0, or PS_ENOMEM (it needs n*n doubles). */
int metrics_features(const double *W, int m, int n, double *norm,
                     double *capacity, double *superposition);

/* Per model summaries. */
double metrics_frobenius2(const double *W, int m, int n);     /* ||W||_F^2 */
int metrics_represented(const double *norm, int n);           /* count of norm > 0.5 */
double metrics_sum(const double *v, int n);

/* ---- blocks of the embedding (blocks.c; science.md section 4) ----
 *
 * Among represented features (norm > METRICS_REPRESENTED_NORM), i and j are
 * joined when |cos(W_i, W_j)| = |W_i . W_j| / (||W_i|| ||W_j||) > tau; the
 * blocks are the connected components. They are numbered 0, 1, ... in the
 * order of their smallest feature index. Per block b, with G_b the Gram
 * matrix of its features and c = tr(G_b^2) / tr(G_b):
 *   residual[b] = ||G_b^2 - c G_b||_F / ||G_b^2||_F
 * which is 0 exactly when G_b is a multiple of an orthogonal projection (CAP's
 * block-semi-orthogonal optimum).
 *
 * Outputs, any of them may be NULL:
 *   block_id  (n) block of feature i, -1 when the feature is not represented
 *   size, capacity_sum, residual  (n) per block b < *nblocks: its number of
 *             features, the sum of capacity[i] over its features, the
 *             residual; entries from *nblocks on are NaN
 *   nblocks, largest   number of blocks and the size of the largest (0, 0
 *             when nothing is represented)
 * capacity (n, from metrics_features) is only read when capacity_sum is
 * wanted. Memory: a copy of the represented columns of W plus d^2 doubles,
 * d = min(m, largest block); time O(n^2 m) for the graph plus
 * O(min(k, m)^2 max(k, m)) for a block of k features. Returns 0, PS_EINVAL (tau NaN or negative, capacity_sum without
 * capacity) or PS_ENOMEM. */
#define METRICS_BLOCK_TAU 0.05
int metrics_blocks(const double *W, int m, int n, const double *capacity, double tau,
                   int *block_id, double *size, double *capacity_sum, double *residual,
                   int *nblocks, int *largest);

/* ---- neuron measures (neurons.c; science.md section 4, [INC]) ----
 *
 * Meaningful when the neuron basis is privileged (an elementwise hidden
 * nonlinearity, or an L1 penalty on W); row j of W is neuron j.
 *   count[j]         (m) number of features i with lo <= |W_ji| <= hi
 *   participation[j] (m) (sum_i W_ji^2)^2 / sum_i W_ji^4: about the number of
 *                    features the neuron carries (1 = one feature); 0 for a
 *                    neuron whose row is 0
 *   fourth_ratio[i]  (n) sum_j W_ji^4 / (sum_j W_ji^2)^2, in [1/m, 1]
 *                    (1 = one neuron carries the feature); 0 when W_i = 0,
 *                    as for capacity
 *   polysemantic     number of neurons with count >= 2
 * Any output may be NULL. Returns 0, PS_EINVAL (lo or hi NaN, or lo > hi)
 * or PS_ENOMEM (n doubles of scratch for fourth_ratio). */
#define METRICS_NEURON_WINDOW_LO 0.8
#define METRICS_NEURON_WINDOW_HI 1.2
int metrics_neurons(const double *W, int m, int n, double lo, double hi, double *count,
                    double *participation, double *fourth_ratio, int *polysemantic);

/* ---- quadratic model: the predicted optimum (predict.c; science.md 5, [CAP]) ----
 *
 * For the quadratic model with independent, zero-mean, unit-variance inputs of
 * kurtosis K and importances I (n, all >= 0), squeezed into m dimensions:
 * the loss of feature i at capacity C, minimised over its norm, is
 *   L_i(C) = 2 (K-1) I_i^2 (1-C) / (2 + (K-3) C).
 * The optimal capacities: for K <= 3, C = 1 for the m most important features
 * (ties to the lower index) and 0 for the rest; for K > 3,
 *   C_i = clip(((K-1) I_i s - 2) / (K-3), 0, 1),  s = sqrt(2/T),
 * with s chosen so that sum_i C_i = m. Features with I_i = 0 get C_i = 0
 * (their optimal embedding is 0), so with fewer than m features of positive
 * importance every one of them gets C = 1 and sum_i C_i is that number. */

/* L_i(C) above; NaN for C outside [0, 1]. At K = 1 every term is 0. */
double metrics_quadratic_feature_loss(double I, double K, double C);

/* C (n) the optimal capacities, *loss = sum_i L_i(C_i) (either may be NULL).
 * Returns 0, or PS_EINVAL (n < 1, m < 1, K < 1 or NaN, an importance
 * negative or NaN: then the outputs are NaN). */
int metrics_quadratic_optimum(const double *I, int n, int m, double K, double *C,
                              double *loss);

/* ---- power model (predict.c; science.md section 5, [POW]) ----
 *
 * The gain Lg = 2 E<x, x'> - E||x'||^2 (E||x - x'||^2 = p n mu2 - Lg) of a
 * trained model is measured by task_power_gain (task.h). Without
 * superposition (G diagonal with at most d = min(m, n) nonzero entries) it is
 * at most p d mu_{q+1}^2 / mu_{2q}, from the density p and the raw moments
 * mu_k of an active feature's value: metrics_power_baseline. NaN when
 * mu_2q <= 0. */
double metrics_power_baseline(double p, int m, int n, double mu_q1, double mu_2q);

#endif
