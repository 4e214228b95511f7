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
    [RV_FINAL_LOSS] = {"final_loss", "final training loss",
        "mean training loss over the last loss-curve window (log_every steps)",
        "1", SHAPE_TASK, RTYPE_DOUBLE, 0},
    [RV_EVAL_LOSS] = {"eval_loss", "evaluation loss",
        "loss of the trained model on the task's fixed held-out evaluation sample "
        "(eval_samples examples)",
        "1", SHAPE_TASK, RTYPE_DOUBLE, 0},
    [RV_FROBENIUS2] = {"frobenius2", "squared Frobenius norm of W",
        "||W||_F^2 = sum_i ||W_i||^2, the number of features learned [TMS]",
        "1", SHAPE_TASK, RTYPE_DOUBLE, 0},
    [RV_DIMS_PER_FEATURE] = {"dims_per_feature", "dimensions per feature",
        "D* = m / ||W||_F^2 [TMS]; NaN when W = 0",
        "1", SHAPE_TASK, RTYPE_DOUBLE, 0},
    [RV_CAPACITY_SUM] = {"capacity_sum", "sum of feature capacities",
        "sum_i C_i, never above rank(W) <= min(m, n) [CAP, theorem 1]",
        "1", SHAPE_TASK, RTYPE_DOUBLE, 0},
    [RV_REPRESENTED] = {"represented", "represented features",
        "number of features with ||W_i|| > 0.5 [TMS]",
        "1", SHAPE_TASK, RTYPE_INT, 0},
    [RV_BLOCK_COUNT] = {"block_count", "number of blocks",
        "connected components of the represented features (||W_i|| > 0.5) under "
        "i ~ j when |cos(W_i, W_j)| > block_tau; 0 when nothing is represented",
        "1", SHAPE_TASK, RTYPE_INT, 0},
    [RV_BLOCK_LARGEST] = {"block_largest", "features in the largest block",
        "number of features in the largest block",
        "1", SHAPE_TASK, RTYPE_INT, 0},
    [RV_POLYSEMANTIC_NEURONS] = {"polysemantic_neurons", "polysemantic neurons",
        "number of neurons j with neuron_features[j] >= 2: two or more features with "
        "|W_ji| in [neuron_window_lo, neuron_window_hi] [INC]; privileged basis only",
        "1", SHAPE_TASK, RTYPE_INT, 0},
    [RV_INPUT_KURTOSIS] = {"input_kurtosis", "input kurtosis",
        "kurtosis of an input coordinate, K = E[x_i^4] / E[x_i^2]^2 = mu4 / (p mu2^2) "
        "[CAP]",
        "1", SHAPE_TASK, RTYPE_DOUBLE, 0},
    [RV_PREDICTED_LOSS] = {"predicted_loss", "predicted optimal loss",
        "quadratic model: optimal population loss predicted for these importances, "
        "kurtosis and m, s2^2 sum_i L_i(C_i), L_i(C) = 2 (K-1) I_i^2 (1-C) / (2 + (K-3) C) "
        "[CAP]; compare with eval_loss",
        "1", SHAPE_TASK, RTYPE_DOUBLE, 0},
    [RV_QUADRATIC_BIAS] = {"quadratic_bias", "quadratic model output bias e",
        "quadratic model: the scalar output bias e (0 with bias: false)",
        "1", SHAPE_TASK, RTYPE_DOUBLE, 0},
    [RV_POWER_GAIN] = {"power_gain", "power model gain",
        "power model: gain Lg = 2 E<x, x'> - E||x'||^2 on the evaluation sample, "
        "unweighted by importance, without penalty or noise [POW]",
        "1", SHAPE_TASK, RTYPE_DOUBLE, 0},
    [RV_POWER_GAIN_BASELINE] = {"power_gain_baseline", "gain without superposition",
        "power model: largest gain without superposition, p min(m, n) "
        "mu_(q+1)^2 / mu_(2q) [POW]",
        "1", SHAPE_TASK, RTYPE_DOUBLE, 0},
    [RV_WALL_TIME] = {"wall_time", "wall-clock time of the task",
        "training and measurement, CLOCK_MONOTONIC; varies between runs",
        "s", SHAPE_TASK, RTYPE_DOUBLE, RV_NONDETERMINISTIC},
    [RV_RANK] = {"mpi_rank", "MPI rank that ran the task",
        "0 in a run without MPI; varies between runs",
        "1", SHAPE_TASK, RTYPE_INT, RV_NONDETERMINISTIC},
    [RV_NORM] = {"norm", "feature embedding norm",
        "||W_i||, the length of feature i's embedding",
        "1", SHAPE_FEATURE, RTYPE_FLOAT, 0},
    [RV_CAPACITY] = {"capacity", "feature capacity",
        "C_i = ||W_i||^4 / sum_j (W_i . W_j)^2 [CAP], the feature dimensionality D_i "
        "[TMS]; 0 when W_i = 0",
        "1", SHAPE_FEATURE, RTYPE_FLOAT, 0},
    [RV_SUPERPOSITION] = {"superposition", "feature superposition",
        "sum over j != i of (W_i/||W_i|| . W_j)^2 [TMS]; 0 when W_i = 0",
        "1", SHAPE_FEATURE, RTYPE_FLOAT, 0},
    [RV_FEATURE_BIAS] = {"feature_bias", "output bias of the feature",
        "b_i; exactly 0 for bias: false and for power (no bias)",
        "1", SHAPE_FEATURE, RTYPE_FLOAT, 0},
    [RV_FEATURE_IMPORTANCE] = {"feature_importance", "feature importance",
        "I_i, the weight of the feature in the loss, as used in training",
        "1", SHAPE_FEATURE, RTYPE_FLOAT, 0},
    [RV_FEATURE_BLOCK] = {"feature_block", "block of the feature",
        "index of the feature's block; -1 when the feature is not represented",
        "1", SHAPE_FEATURE, RTYPE_INT, 0},
    [RV_FOURTH_NORM_RATIO] = {"fourth_norm_ratio", "fourth-norm ratio of the feature",
        "sum_j W_ji^4 / (sum_j W_ji^2)^2, in [1/m, 1]: 1 when one neuron carries the "
        "feature, 1/k when k neurons carry it equally; 0 when W_i = 0; privileged basis "
        "only",
        "1", SHAPE_FEATURE, RTYPE_FLOAT, 0},
    [RV_PREDICTED_CAPACITY] = {"predicted_capacity", "predicted optimal capacity",
        "quadratic model: optimal capacity C_i predicted for these importances, kurtosis "
        "and m [CAP]; compare with capacity",
        "1", SHAPE_FEATURE, RTYPE_FLOAT, 0},
    [RV_NEURON_FEATURES] = {"neuron_features", "features held by the neuron",
        "number of features i with neuron_window_lo <= |W_ji| <= neuron_window_hi [INC]; "
        "privileged basis only",
        "1", SHAPE_NEURON, RTYPE_INT, 0},
    [RV_NEURON_PARTICIPATION] = {"neuron_participation", "participation ratio of the neuron",
        "(sum_i W_ji^2)^2 / sum_i W_ji^4: about the number of features the neuron "
        "carries; 0 for a zero row; privileged basis only",
        "1", SHAPE_NEURON, RTYPE_FLOAT, 0},
    [RV_BLOCK_SIZE] = {"block_size", "features in the block",
        "number of features in the block",
        "1", SHAPE_BLOCK, RTYPE_INT, 0},
    [RV_BLOCK_CAPACITY] = {"block_capacity", "capacity of the block",
        "sum_i C_i over the block's features: an integer (the block's rank) at the CAP "
        "optimum",
        "1", SHAPE_BLOCK, RTYPE_FLOAT, 0},
    [RV_BLOCK_RESIDUAL] = {"block_residual", "semi-orthogonality residual",
        "||G_b^2 - c G_b||_F / ||G_b^2||_F, c = tr(G_b^2) / tr(G_b), G_b the Gram matrix "
        "of the block's features: 0 exactly when G_b is a positive multiple of an "
        "orthogonal projection [CAP, theorem 1]",
        "1", SHAPE_BLOCK, RTYPE_FLOAT, 0},
    [RV_LOSS_CURVE] = {"loss_curve", "training loss per window",
        "mean training loss over each window of log_every steps",
        "1", SHAPE_CURVE, RTYPE_FLOAT, 0},
    [RV_W] = {"W", "embedding matrix W",
        "W (m, n), row-major; column W_i embeds feature i (save_weights: true)",
        "1", SHAPE_WEIGHTS, RTYPE_FLOAT, RV_WEIGHTS},
    [RV_B] = {"b", "output bias vector b",
        "b (n) as the model uses it; 0 for bias: false and for power (save_weights: true)",
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
