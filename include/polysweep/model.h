/* model.h - the architectures (science.md section 2): loss and gradient of a
 * batch, in float32 (training) and float64 (gradient checks), from one source.
 *
 * Layouts (row-major):
 *   params  = [ W (m, n) | b (n) ]      b is present (and stays 0) even when
 *                                       the task has no bias, so every task has
 *                                       the same layout
 *   grad    = same layout as params
 *   x       (B, n)  a batch; the target is x itself
 *   I       (n)     importances
 *   ws      model_workspace_len(t, B) scratch values of the same type
 *
 * Loss of an autoencoder: (1 / (B n)) sum_b sum_i I_i (x_bi - x'_bi)^2, the
 * TMS notebook's mean over the batch and the features.
 */
#ifndef POLYSWEEP_MODEL_H
#define POLYSWEEP_MODEL_H

#include <stddef.h>

#include "polysweep/task.h"

size_t model_param_len(const TaskSpec *t);
size_t model_workspace_len(const TaskSpec *t, int B);

/* Offsets of the named tensors inside params (and grad). */
static inline size_t model_w_offset(void) { return 0; }
static inline size_t model_b_offset(const TaskSpec *t) { return (size_t)t->m * (size_t)t->n; }

/* Mean loss of the batch; when grad is not NULL it is overwritten with the
 * gradient of that loss with respect to params. Pure: no allocation, no I/O. */
double model_loss_grad_f32(const TaskSpec *t, const float *params, const float *I,
                           const float *x, int B, float *grad, float *ws);
double model_loss_grad_f64(const TaskSpec *t, const double *params, const double *I,
                           const double *x, int B, double *grad, double *ws);

#endif
