/* model.h - the architectures (science.md section 2): loss and gradient of a
 * batch, in float32 (training) and float64 (gradient checks), from one source.
 *
 * Layouts (row-major):
 *   params  = [ W (m, n) | b (n) ]      one layout for every architecture. b is
 *                                       present (and stays 0) even when the
 *                                       task has no bias; power never uses it;
 *                                       quadratic uses b[0] as its scalar bias e
 *                                       (b[1..n-1] stay 0, gradient 0)
 *   grad    = same layout as params
 *   x       (B, n)  a batch
 *   I       (n)     importances
 *   noise   (m)     hidden noise of the step (data_hidden_noise), added to
 *                   h = W x of every example; NULL for none
 *   ws      model_workspace_len(t, B) scratch values of the same type
 *
 * Loss of an autoencoder (every arch but quadratic): the TMS notebook's mean
 * over the batch and the features, (1 / (B n)) sum_b sum_i I_i (x_bi - x'_bi)^2.
 * quadratic: (1 / B) sum_b (y_b - y'_b)^2 with y = sum_i I_i x_i^2.
 * With l1 > 0 the penalty l1 * sum |W_ji| is added (subgradient 0 at 0); the
 * returned loss is the whole objective.
 */
#ifndef POLYSWEEP_MODEL_H
#define POLYSWEEP_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "polysweep/task.h"

size_t model_param_len(const TaskSpec *t);
size_t model_workspace_len(const TaskSpec *t, int B);

/* Offsets of the named tensors inside params (and grad). */
static inline size_t model_w_offset(void) { return 0; }
static inline size_t model_b_offset(const TaskSpec *t) { return (size_t)t->m * (size_t)t->n; }

/* Whether the model uses b: the task asks for a bias and the architecture has
 * one (power has none). */
static inline int model_bias_used(const TaskSpec *t)
{
    return t->bias && t->arch != ARCH_POWER;
}

/* Mean loss of the batch; when grad is not NULL it is overwritten with the
 * gradient of that loss with respect to params. Pure: no allocation, no I/O.
 * The _noise variants add noise (m, or NULL) to the hidden pre-activations. */
double model_loss_grad_f32(const TaskSpec *t, const float *params, const float *I,
                           const float *x, int B, float *grad, float *ws);
double model_loss_grad_f64(const TaskSpec *t, const double *params, const double *I,
                           const double *x, int B, double *grad, double *ws);
double model_loss_grad_noise_f32(const TaskSpec *t, const float *params, const float *I,
                                 const float *x, int B, const float *noise, float *grad,
                                 float *ws);
double model_loss_grad_noise_f64(const TaskSpec *t, const double *params, const double *I,
                                 const double *x, int B, const double *noise,
                                 double *grad, double *ws);

/* The sparse path (src/model/sparse.c), float32: the same loss and gradient
 * as model_loss_grad_noise_f32 for a batch in compressed rows
 * (data_sample_sparse: row b's entries col/val[rowptr[b] .. rowptr[b+1]),
 * columns increasing), at a cost that falls with the density: products
 * skip the zeros of X, and of dZ where the output ReLU is off. The trainer
 * takes it for tasks with model_sparse_wanted (a function of the settings:
 * sparse inputs, an autoencoder, a shape too large for the fused kernels).
 * ws: model_sparse_workspace_len(t, B) floats. */
int model_sparse_wanted(const TaskSpec *t);
size_t model_sparse_workspace_len(const TaskSpec *t, int B);
double model_loss_grad_sparse_f32(const TaskSpec *t, const float *params, const float *I,
                                  const int64_t *rowptr, const int32_t *col, const float *val,
                                  int B, const float *noise, float *grad, float *ws);

/* quadratic, population_loss (science.md section 5): for independent,
 * zero-mean, unit-variance inputs of kurtosis K = t->kurtosis, the exact
 * expected loss with the optimal bias e,
 *   L(W) = (K-1) sum_i (||W_i||^2 - I_i)^2 + 2 sum_{i != j} (W_i . W_j)^2,
 * plus (sum_i (I_i - ||W_i||^2))^2 without a bias (the mean residual), plus
 * the l1 penalty; and its exact gradient (b gets 0: the bias is not trained
 * but set, model_population_bias). Needs model_workspace_len(t, 0) >= n^2. */
double model_population_loss_grad_f32(const TaskSpec *t, const float *params,
                                      const float *I, float *grad, float *ws);
double model_population_loss_grad_f64(const TaskSpec *t, const double *params,
                                      const double *I, double *grad, double *ws);

/* The optimal quadratic bias for unit-variance inputs, e = sum_i (I_i -
 * ||W_i||^2) (0 without a bias), in double. */
double model_population_bias_f32(const TaskSpec *t, const float *params, const float *I);
double model_population_bias_f64(const TaskSpec *t, const double *params, const double *I);

#endif
