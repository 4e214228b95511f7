/* measure.c - what task_run records about a trained model (science.md
 * sections 4 and 5): the catalog's variables from the trained float32
 * parameters, computed in double with the functions of metrics.h.
 *
 * Which measurement applies to which model:
 *   every model       norms, capacities, superposition, Frobenius norm,
 *                     blocks, input kurtosis, losses
 *   privileged basis  neuron measures: the hidden layer has an elementwise
 *                     nonlinearity (relu_hidden; quadratic, whose neurons are
 *                     squared) or W has an L1 penalty, so a row of W means
 *                     something on its own [INC]; NaN for the others, where
 *                     any rotation of the hidden space is an equal model
 *   quadratic         predicted optimal capacities and loss [CAP], the scalar
 *                     bias e (feature_bias is NaN: there is no per-feature
 *                     output)
 *   power             the gain on the evaluation sample and its
 *                     no-superposition baseline [POW]
 * Values a measurement does not apply to stay NaN.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "polysweep/data.h"
#include "polysweep/metrics.h"
#include "polysweep/model.h"
#include "polysweep/polysweep.h"
#include "polysweep/task.h"
#include "polysweep/train.h"
#include "task_impl.h"

/* Rows of the evaluation sample per double-precision pass of task_power_gain:
 * bounds its memory to a few rows of n doubles. */
#define GAIN_ROWS 128

void task_copy_curve(TaskResult *r, const TrainState *st)
{
    const TaskSpec *t = &st->spec;
    int64_t step = *st->step;
    int64_t done = step >= t->steps ? st->nlog : step / t->log_every;
    if (done > st->nlog) done = st->nlog;
    if (done > r->nlog) done = r->nlog;
    for (int64_t k = 0; k < done; k++) r->val[RV_LOSS_CURVE][k] = st->curve[k];
}

static int privileged_basis(const TaskSpec *t)
{
    return t->arch == ARCH_RELU_HIDDEN || t->arch == ARCH_QUADRATIC || t->l1 > 0.0;
}

/* The exact quadratic optimum assumes independent zero-mean inputs [CAP]. */
static int quadratic_prediction(const TaskSpec *t)
{
    return t->arch == ARCH_QUADRATIC && data_value_moment(t, 1) == 0.0;
}

int task_measures(const TaskSpec *t, int v)
{
    switch (v) {
    case RV_POLYSEMANTIC_NEURONS:
    case RV_FOURTH_NORM_RATIO:
    case RV_NEURON_FEATURES:
    case RV_NEURON_PARTICIPATION: return privileged_basis(t);
    case RV_PREDICTED_LOSS:
    case RV_PREDICTED_CAPACITY: return quadratic_prediction(t);
    case RV_QUADRATIC_BIAS: return t->arch == ARCH_QUADRATIC;
    case RV_FEATURE_BIAS: return t->arch != ARCH_QUADRATIC;
    case RV_POWER_GAIN:
    case RV_POWER_GAIN_BASELINE: return t->arch == ARCH_POWER;
    case RV_W:
    case RV_B: return t->save_weights != 0;
    default: return v >= 0 && v < RV_COUNT;
    }
}

/* Features, blocks and neurons of W (m, n) (science.md section 4). */
static int measure_geometry(TaskResult *r, const TaskSpec *t, const double *W)
{
    int n = t->n, m = t->m;
    int rc = metrics_features(W, m, n, r->val[RV_NORM], r->val[RV_CAPACITY],
                              r->val[RV_SUPERPOSITION]);
    if (rc) return rc;
    double frob = metrics_frobenius2(W, m, n);
    r->val[RV_FROBENIUS2][0] = frob;
    // D* = m / ||W||_F^2 [TMS]; undefined when nothing is learned
    r->val[RV_DIMS_PER_FEATURE][0] = frob > 0.0 ? (double)m / frob : NAN;
    r->val[RV_CAPACITY_SUM][0] = metrics_sum(r->val[RV_CAPACITY], n);
    r->val[RV_REPRESENTED][0] = (double)metrics_represented(r->val[RV_NORM], n);

    int *id = malloc(((size_t)n + 1) * sizeof(int));
    if (!id) return PS_ENOMEM;
    int nb = 0, big = 0;
    rc = metrics_blocks(W, m, n, r->val[RV_CAPACITY], t->block_tau, id, r->val[RV_BLOCK_SIZE],
                        r->val[RV_BLOCK_CAPACITY], r->val[RV_BLOCK_RESIDUAL], &nb, &big);
    if (rc == 0) {
        for (int i = 0; i < n; i++) r->val[RV_FEATURE_BLOCK][i] = id[i];
        r->val[RV_BLOCK_COUNT][0] = nb;
        r->val[RV_BLOCK_LARGEST][0] = big;
    }
    free(id);
    // PS_EINVAL (a tau the job validator lets through cannot be invalid)
    // leaves the blocks unmeasured; only running out of memory is an error
    if (rc == PS_ENOMEM) return rc;

    if (task_measures(t, RV_POLYSEMANTIC_NEURONS)) {
        int poly = 0;
        rc = metrics_neurons(W, m, n, t->neuron_window_lo, t->neuron_window_hi,
                             r->val[RV_NEURON_FEATURES], r->val[RV_NEURON_PARTICIPATION],
                             r->val[RV_FOURTH_NORM_RATIO], &poly);
        if (rc == PS_ENOMEM) return rc;
        if (rc == 0) r->val[RV_POLYSEMANTIC_NEURONS][0] = poly;
    }
    return 0;
}

/* The quadratic model's predicted optimum [CAP] (science.md section 5). The
 * exact result is for independent zero-mean inputs; scaled to variance s2 =
 * E[x_i^2] = p mu2, the loss is s2^2 times the unit-variance one (y and y'
 * are quadratic in x) and the optimal capacities are the same. For a value
 * law with a nonzero mean (uniform, one_hot) it does not apply: NaN. */
static int measure_quadratic(TaskResult *r, const TaskSpec *t)
{
    if (!task_measures(t, RV_PREDICTED_LOSS)) return 0;
    double s2 = t->density * data_value_moment(t, 2), loss = NAN;
    int rc = metrics_quadratic_optimum(r->val[RV_FEATURE_IMPORTANCE], t->n, t->m,
                                       data_kurtosis(t), r->val[RV_PREDICTED_CAPACITY],
                                       &loss);
    if (rc == PS_ENOMEM) return rc;
    r->val[RV_PREDICTED_LOSS][0] = s2 * s2 * loss; // NaN when rc is PS_EINVAL
    return 0;
}

/* Rows [first, first + rows) of the evaluation sample, chunk c of
 * TRAIN_EVAL_CHUNK rows (as train_eval_loss draws it). */
static void eval_rows(const TaskSpec *t, uint64_t key, uint64_t c, int64_t first, int rows,
                      float *x)
{
    if (t->values == VALUES_ONE_HOT) data_one_hot(t->n, first, rows, x);
    else data_sample(t, key, STREAM_EVAL, c, rows, x);
}

/* Lg = 2 E<x, x'> - E||x'||^2 = E||x||^2 - E||x - x'||^2 [POW]. The second
 * expectation is n times the model's loss with every importance 1 (and no
 * penalty, no noise), so the model module's own forward pass gives it; it
 * runs in double on the float32 parameters, GAIN_ROWS rows at a time, so the
 * difference of the two means loses nothing to float rounding. */
int task_power_gain(const TaskSpec *t, const float *params, double *gain)
{
    *gain = NAN;
    if (t->arch == ARCH_QUADRATIC || t->eval_samples < 1 || t->n < 1 || t->m < 1)
        return PS_EINVAL;
    TaskSpec plain = *t;
    plain.l1 = 0.0;
    plain.hidden_noise = NOISE_NONE;
    const int n = t->n, chunk = TRAIN_EVAL_CHUNK;
    size_t np = model_param_len(&plain), nws = model_workspace_len(&plain, GAIN_ROWS);
    // one allocation: P (np) | ones (n) | xd (GAIN_ROWS, n) | ws (nws); and xf (chunk, n)
    double *buf = malloc((np + (size_t)n + (size_t)GAIN_ROWS * n + nws) * sizeof(double));
    float *xf = malloc((size_t)chunk * (size_t)n * sizeof(float));
    if (!buf || !xf) {
        free(buf);
        free(xf);
        return PS_ENOMEM;
    }
    double *P = buf, *ones = P + np, *xd = ones + n, *ws = xd + (size_t)GAIN_ROWS * n;
    for (size_t k = 0; k < np; k++) P[k] = params[k];
    for (int i = 0; i < n; i++) ones[i] = 1.0;

    const uint64_t key = data_eval_key(t);
    double sum_x2 = 0.0, sum_err2 = 0.0; // sum_b ||x_b||^2, sum_b ||x_b - x'_b||^2
    int64_t done = 0;
    for (uint64_t c = 0; done < t->eval_samples; c++) {
        int rows = t->eval_samples - done < chunk ? (int)(t->eval_samples - done) : chunk;
        eval_rows(t, key, c, done, rows, xf);
        for (int r0 = 0; r0 < rows; r0 += GAIN_ROWS) {
            int B = rows - r0 < GAIN_ROWS ? rows - r0 : GAIN_ROWS;
            const float *src = xf + (size_t)r0 * n; // (B, n)
            for (size_t k = 0; k < (size_t)B * n; k++) {
                xd[k] = src[k];
                sum_x2 += xd[k] * xd[k];
            }
            // mean over (B, n) of (x - x')^2 -> sum over the B rows
            sum_err2 += model_loss_grad_f64(&plain, P, ones, xd, B, NULL, ws) * B * n;
        }
        done += rows;
    }
    *gain = (sum_x2 - sum_err2) / (double)t->eval_samples;
    free(buf);
    free(xf);
    return 0;
}

int task_measure(TaskResult *r, TrainState *st)
{
    const TaskSpec *t = &st->spec;
    int n = t->n, m = t->m;
    size_t mn = (size_t)m * (size_t)n;
    const float *Wf = st->params + model_w_offset();     // (m, n) row-major
    const float *bf = st->params + model_b_offset(t);    // (n)

    // W in double: straight into the result when it is kept, else scratch
    double *W = t->save_weights ? r->val[RV_W] : malloc((mn ? mn : 1) * sizeof(double));
    if (!W) return PS_ENOMEM;
    for (size_t k = 0; k < mn; k++) W[k] = (double)Wf[k];
    int rc = measure_geometry(r, t, W);
    if (!t->save_weights) free(W);
    if (rc) return rc;

    // Biases as the model uses them: exactly 0 when it has none (bias: false,
    // power). The quadratic model's one scalar bias e lives in b[0].
    int used = model_bias_used(t);
    for (int i = 0; i < n; i++) {
        double b = used ? (double)bf[i] : 0.0;
        if (task_measures(t, RV_FEATURE_BIAS)) r->val[RV_FEATURE_BIAS][i] = b;
        if (t->save_weights) r->val[RV_B][i] = b;
    }
    data_importance(t, r->val[RV_FEATURE_IMPORTANCE]);
    r->val[RV_INPUT_KURTOSIS][0] = data_kurtosis(t);

    if (task_measures(t, RV_QUADRATIC_BIAS)) {
        r->val[RV_QUADRATIC_BIAS][0] = used ? (double)bf[0] : 0.0;
        if ((rc = measure_quadratic(r, t))) return rc;
    }
    if (task_measures(t, RV_POWER_GAIN)) {
        double gain;
        rc = task_power_gain(t, st->params, &gain);
        if (rc == PS_ENOMEM) return rc;
        r->val[RV_POWER_GAIN][0] = gain;
        r->val[RV_POWER_GAIN_BASELINE][0] =
            metrics_power_baseline(t->density, m, n, data_value_moment(t, t->q + 1),
                                   data_value_moment(t, 2 * t->q));
    }

    task_copy_curve(r, st);
    r->val[RV_FINAL_LOSS][0] = r->nlog > 0 ? r->val[RV_LOSS_CURVE][r->nlog - 1] : NAN;
    r->val[RV_EVAL_LOSS][0] = train_eval_loss(st);
    return 0;
}
