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
    float *m1, *m2;      /* (nparam) AdamW first and second moments */
    void *persist;
    size_t persist_len;
    /* scratch */
    float *grad;         /* (nparam) */
    float *x;            /* (max(batch, TRAIN_EVAL_CHUNK), n) batch or eval chunk */
    float *I;            /* (n) importances */
    float *ws;           /* model workspace */
    void *scratch;
} TrainState;

/* Allocate and initialise: Xavier-normal W (std sqrt(2 / (n + m))) from the
 * task's STREAM_INIT, b = 0, moments 0, step 0. */
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

/* Learning rate at (0-based) step. */
double train_lr_at(const TaskSpec *t, int64_t step);

/* One AdamW update with PyTorch's semantics (torch.optim.AdamW): decoupled
 * weight decay p *= 1 - lr*wd, then m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2,
 * p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps), t = 1-based. */
void train_adamw(float *p, float *m1, float *m2, const float *g, size_t len,
                 double lr, double beta1, double beta2, double eps,
                 double weight_decay, int64_t t);

/* Mean loss of the trained model on the task's fixed held-out sample. */
double train_eval_loss(TrainState *st);

#endif
