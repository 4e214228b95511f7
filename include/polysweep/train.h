/* train.h - training one model: initialisation, the optimiser, the step loop
 * and the loss curve (science.md section 3).
 *
 * A TrainState holds everything a run needs to continue exactly where it is:
 * parameters, optimiser moments, the step counter and the loss-curve
 * accumulators, in one allocation (`persist`), so a checkpoint is one memcpy
 * and a resumed run ends bit-identical to an uninterrupted one. Scratch
 * buffers (gradient, batch, workspace) live in a second allocation.
 *
 * Ownership: train_state_create allocates, train_state_free releases.
 */
#ifndef POLYSWEEP_TRAIN_H
#define POLYSWEEP_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "polysweep/task.h"

/* Rows per chunk of the held-out evaluation sample (train_eval_loss). */
#define TRAIN_EVAL_CHUNK 1024

typedef struct TrainState {
    TaskSpec spec;
    size_t nparam;       /* model_param_len(&spec) */
    int nlog;            /* task_log_count(&spec) */
    /* persistent (checkpointed): pointers into `persist` */
    int64_t *step;       /* steps completed */
    double *window;      /* [sum of losses, count] of the current log window */
    double *curve;       /* (nlog) mean training loss of each finished window */
    float *params;       /* (nparam) [W (m, n) | b (n)] */
    float *m1, *m2;      /* (nparam) AdamW first and second moments; SGD keeps
                            its momentum buffer in m1 (m2 unused) */
    void *persist;
    size_t persist_len;
    /* scratch */
    float *grad;         /* (nparam) */
    float *x;            /* (max(batch, TRAIN_EVAL_CHUNK), n) batch or eval chunk */
    float *I;            /* (n) importances */
    float *noise;        /* (m) the step's hidden noise */
    float *ws;           /* model workspace */
    /* the sparse path (model_sparse_wanted): each step's batch in compressed
     * rows (data_sample_sparse); NULL on the dense path */
    int64_t *x_rowptr;   /* (batch + 1) */
    int32_t *x_col;      /* (batch n) */
    float *x_val;        /* (batch n) */
    struct DataGeom *geom; /* the gap table of the density */
    void *scratch;
} TrainState;

/* Allocate and initialise: W normal from the task's STREAM_INIT with std
 * sqrt(2 / (n + m)) (init xavier_normal) or 1 / sqrt(m) (init normal), b = 0
 * (population_loss: b[0] = the optimal bias), moments 0, step 0. PS_EINVAL
 * for settings the model cannot train (an even q for power, population_loss
 * for another arch or with a kurtosis below 1, a choice out of range). */
int train_state_create(const TaskSpec *t, TrainState **out);
void train_state_free(TrainState **st);

/* Called every `every` steps with the state after that step; a non-zero
 * return stops training with PS_EINTR (the state stays resumable). */
typedef struct TrainHooks {
    int64_t every;
    int (*tick)(void *ctx, const TrainState *st);
    void *ctx;
} TrainHooks;

/* Train from *st->step to spec.steps. Returns 0 when finished, PS_ENUMERIC
 * with a reason when the loss or the parameters stop being finite, PS_EINTR
 * when a hook stopped it. hooks may be NULL. */
int train_run(TrainState *st, const TrainHooks *hooks, char *reason, size_t len);

/* Learning rate at 0-based step s of T = spec.steps (the lr of the update
 * that ends step s):
 *   constant       lr
 *   linear         lr (1 - s/T)                       (lr at s = 0, lr/T at the last step)
 *   cosine         lr (1 + cos(pi s/T)) / 2
 *   warmup_cosine  lr (s + 1)/W for s < W = warmup_steps (reaching lr at s = W - 1),
 *                  then lr (1 + cos(pi (s - W)/(T - W))) / 2 (lr again at s = W);
 *                  W = 0 is cosine. */
double train_lr_at(const TaskSpec *t, int64_t step);

/* One SGD update with PyTorch's semantics (torch.optim.SGD, dampening 0, no
 * Nesterov): d = g + wd p (coupled weight decay, skipped when wd = 0); with
 * momentum mu != 0, buf = d at t = 1, else buf = mu buf + d, and d = buf;
 * then p -= lr d. t is 1-based. */
void train_sgd(float *p, float *buf, const float *g, size_t len, double lr,
               double momentum, double weight_decay, int64_t t);

/* One AdamW update with PyTorch's semantics (torch.optim.AdamW): decoupled
 * weight decay p *= 1 - lr*wd, then m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2,
 * p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps), t = 1-based. */
void train_adamw(float *p, float *m1, float *m2, const float *g, size_t len,
                 double lr, double beta1, double beta2, double eps,
                 double weight_decay, int64_t t);

/* The batch (batch, n) that training step `step` trains on, written densely
 * into x (for tests and cross-checks: training itself may keep it sparse).
 * Does not change the state (it may overwrite the scratch batch). */
void train_batch(const TrainState *st, int64_t step, float *x);

/* Mean loss of the trained model on the task's fixed held-out sample
 * (noise-free; the l1 penalty included, like the training loss). one_hot:
 * the n basis vectors. */
double train_eval_loss(TrainState *st);

#endif
