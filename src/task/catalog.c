/* catalog.c - the result-variable catalog (what a task measures, with the CF
 * metadata the dataset carries) and the TaskResult container.
 *
 * The catalog is the single list of per-task measurements: the store makes
 * one dataset variable per entry, task_run fills them, task_result_pack
 * names them. Definitions follow science.md sections 4 and 5: [TMS] Elhage
 * et al. 2022, "Toy Models of Superposition"; [CAP] Scherlis et al. 2022,
 * "Polysemanticity and Capacity in Neural Networks"; [POW] Chowdhury &
 * Weiner, power activations; [INC] Lecomte et al., incidental
 * polysemanticity. A variable's name never equals a job setting's (the
 * dataset has a coordinate for each axis).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "polysweep/polysweep.h"
#include "polysweep/task.h"

const ResultVar result_vars[RV_COUNT] = {
    [RV_FINAL_LOSS] = {"final_loss",
        "final training loss: mean over the last loss-curve window",
        "1", SHAPE_TASK, RTYPE_DOUBLE, 0},
    [RV_EVAL_LOSS] = {"eval_loss",
        "loss of the trained model on the fixed held-out evaluation sample",
        "1", SHAPE_TASK, RTYPE_DOUBLE, 0},
    [RV_FROBENIUS2] = {"frobenius2",
        "squared Frobenius norm of W, ||W||_F^2: the number of features learned (TMS)",
        "1", SHAPE_TASK, RTYPE_DOUBLE, 0},
    [RV_DIMS_PER_FEATURE] = {"dims_per_feature",
        "dimensions per feature, m / ||W||_F^2 (TMS)",
        "1", SHAPE_TASK, RTYPE_DOUBLE, 0},
    [RV_CAPACITY_SUM] = {"capacity_sum",
        "sum of feature capacities, sum_i C_i <= rank(W) (CAP)",
        "1", SHAPE_TASK, RTYPE_DOUBLE, 0},
    [RV_REPRESENTED] = {"represented",
        "number of represented features (norm > 0.5)",
        "1", SHAPE_TASK, RTYPE_INT, 0},
    [RV_BLOCK_COUNT] = {"block_count",
        "number of blocks: connected components of the represented features "
        "under |cos(W_i, W_j)| > block_tau",
        "1", SHAPE_TASK, RTYPE_INT, 0},
    [RV_BLOCK_LARGEST] = {"block_largest",
        "number of features in the largest block",
        "1", SHAPE_TASK, RTYPE_INT, 0},
    [RV_POLYSEMANTIC_NEURONS] = {"polysemantic_neurons",
        "number of neurons holding two or more features with |W_ji| in "
        "[neuron_window_lo, neuron_window_hi] (INC); privileged-basis models only",
        "1", SHAPE_TASK, RTYPE_INT, 0},
    [RV_INPUT_KURTOSIS] = {"input_kurtosis",
        "kurtosis of an input coordinate, E[x_i^4] / E[x_i^2]^2 (CAP)",
        "1", SHAPE_TASK, RTYPE_DOUBLE, 0},
    [RV_PREDICTED_LOSS] = {"predicted_loss",
        "quadratic model: optimal population loss predicted for these importances, "
        "kurtosis and m, sum_i L_i(C_i) (CAP)",
        "1", SHAPE_TASK, RTYPE_DOUBLE, 0},
    [RV_QUADRATIC_BIAS] = {"quadratic_bias",
        "quadratic model: the scalar output bias e",
        "1", SHAPE_TASK, RTYPE_DOUBLE, 0},
    [RV_POWER_GAIN] = {"power_gain",
        "power model: gain Lg = 2 E<x, x'> - E||x'||^2 on the evaluation sample (POW)",
        "1", SHAPE_TASK, RTYPE_DOUBLE, 0},
    [RV_POWER_GAIN_BASELINE] = {"power_gain_baseline",
        "power model: largest gain without superposition, p min(m, n) "
        "mu_(q+1)^2 / mu_(2q) (POW)",
        "1", SHAPE_TASK, RTYPE_DOUBLE, 0},
    [RV_WALL_TIME] = {"wall_time",
        "wall-clock time of the task (training and measurement)",
        "s", SHAPE_TASK, RTYPE_DOUBLE, RV_NONDETERMINISTIC},
    [RV_RANK] = {"rank",
        "MPI rank that ran the task (0 in a run without MPI)",
        "1", SHAPE_TASK, RTYPE_INT, RV_NONDETERMINISTIC},
    [RV_NORM] = {"norm",
        "norm of the feature's embedding ||W_i||",
        "1", SHAPE_FEATURE, RTYPE_FLOAT, 0},
    [RV_CAPACITY] = {"capacity",
        "feature capacity C_i = ||W_i||^4 / sum_j (W_i . W_j)^2 (CAP), "
        "equal to the feature dimensionality D_i (TMS)",
        "1", SHAPE_FEATURE, RTYPE_FLOAT, 0},
    [RV_SUPERPOSITION] = {"superposition",
        "superposition of the feature, sum over j != i of (W_i/||W_i|| . W_j)^2 (TMS)",
        "1", SHAPE_FEATURE, RTYPE_FLOAT, 0},
    [RV_FEATURE_BIAS] = {"feature_bias",
        "output bias b_i of the feature (0 when the model has no bias)",
        "1", SHAPE_FEATURE, RTYPE_FLOAT, 0},
    [RV_FEATURE_IMPORTANCE] = {"feature_importance",
        "feature importance I_i (weight of the feature in the loss)",
        "1", SHAPE_FEATURE, RTYPE_FLOAT, 0},
    [RV_FEATURE_BLOCK] = {"feature_block",
        "block of the feature (-1, a missing value, when not represented)",
        "1", SHAPE_FEATURE, RTYPE_INT, 0},
    [RV_FOURTH_NORM_RATIO] = {"fourth_norm_ratio",
        "sum_j W_ji^4 / (sum_j W_ji^2)^2: 1 when one neuron carries the feature; "
        "privileged-basis models only",
        "1", SHAPE_FEATURE, RTYPE_FLOAT, 0},
    [RV_PREDICTED_CAPACITY] = {"predicted_capacity",
        "quadratic model: optimal capacity C_i predicted for these importances, "
        "kurtosis and m (CAP)",
        "1", SHAPE_FEATURE, RTYPE_FLOAT, 0},
    [RV_NEURON_FEATURES] = {"neuron_features",
        "number of features with |W_ji| in [neuron_window_lo, neuron_window_hi] (INC); "
        "privileged-basis models only",
        "1", SHAPE_NEURON, RTYPE_INT, 0},
    [RV_NEURON_PARTICIPATION] = {"neuron_participation",
        "participation ratio of the neuron, (sum_i W_ji^2)^2 / sum_i W_ji^4 "
        "(1 = one feature); privileged-basis models only",
        "1", SHAPE_NEURON, RTYPE_FLOAT, 0},
    [RV_BLOCK_SIZE] = {"block_size",
        "number of features in the block",
        "1", SHAPE_BLOCK, RTYPE_INT, 0},
    [RV_BLOCK_CAPACITY] = {"block_capacity",
        "sum of the capacities of the block's features (an integer at the CAP optimum)",
        "1", SHAPE_BLOCK, RTYPE_FLOAT, 0},
    [RV_BLOCK_RESIDUAL] = {"block_residual",
        "||G_b^2 - c G_b||_F / ||G_b^2||_F, c = tr(G_b^2) / tr(G_b): 0 when the "
        "block's Gram matrix is a multiple of a projection (CAP)",
        "1", SHAPE_BLOCK, RTYPE_FLOAT, 0},
    [RV_LOSS_CURVE] = {"loss_curve",
        "mean training loss over each log window",
        "1", SHAPE_CURVE, RTYPE_FLOAT, 0},
    [RV_W] = {"W",
        "embedding matrix W (m, n); column W_i embeds feature i",
        "1", SHAPE_WEIGHTS, RTYPE_FLOAT, RV_WEIGHTS},
    [RV_B] = {"b",
        "output bias vector b",
        "1", SHAPE_FEATURE, RTYPE_FLOAT, RV_WEIGHTS},
};

size_t result_len(int v, int n, int m, int nlog)
{
    if (v < 0 || v >= RV_COUNT || n < 0 || m < 0 || nlog < 0) return 0;
    switch (result_vars[v].shape) {
    case SHAPE_TASK: return 1;
    case SHAPE_FEATURE: return (size_t)n;
    case SHAPE_NEURON: return (size_t)m;
    case SHAPE_CURVE: return (size_t)nlog;
    case SHAPE_WEIGHTS: return (size_t)m * (size_t)n;
    case SHAPE_BLOCK: return (size_t)n; // a task has at most n blocks
    }
    return 0;
}

int task_result_create(int n, int m, int nlog, TaskResult **out)
{
    *out = NULL;
    if (n < 0 || m < 0 || nlog < 0) return PS_EINVAL;
    size_t total = 0;
    for (int v = 0; v < RV_COUNT; v++) total += result_len(v, n, m, nlog);
    if (total > SIZE_MAX / sizeof(double)) return PS_ENOMEM;

    TaskResult *r = calloc(1, sizeof(*r));
    if (!r) return PS_ENOMEM;
    // +1 so that an empty result still owns a real allocation
    r->storage = malloc((total + 1) * sizeof(double));
    if (!r->storage) {
        free(r);
        return PS_ENOMEM;
    }
    for (size_t k = 0; k < total + 1; k++) r->storage[k] = NAN;
    size_t off = 0;
    for (int v = 0; v < RV_COUNT; v++) {
        r->val[v] = r->storage + off;
        off += result_len(v, n, m, nlog);
    }
    r->status = TASK_PENDING;
    r->reason[0] = '\0';
    r->n = n;
    r->m = m;
    r->nlog = nlog;
    *out = r;
    return 0;
}

void task_result_free(TaskResult **r)
{
    if (!r || !*r) return;
    free((*r)->storage);
    free(*r);
    *r = NULL;
}
