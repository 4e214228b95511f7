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

#endif
