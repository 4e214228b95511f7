/* run.c - task_run: train one task from scratch and measure it
 * (science.md sections 3 and 4).
 *
 * Training is train_state_create + train_run without hooks (checkpointing
 * long tasks would need hooks); measurement turns the trained float32
 * parameters into the catalog's variables with the double-precision
 * functions of metrics.h. A numerical failure is data, not an error: the
 * result is TASK_FAILED with train_run's reason, the loss-curve windows that
 * finished before the failure and the wall time; every other value stays NaN
 * (a diverged model's weights mean nothing).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "polysweep/data.h"
#include "polysweep/metrics.h"
#include "polysweep/model.h"
#include "polysweep/polysweep.h"
#include "polysweep/task.h"
#include "polysweep/train.h"

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void set_failed(TaskResult *r, const char *reason)
{
    r->status = TASK_FAILED;
    snprintf(r->reason, sizeof r->reason, "%s", reason && *reason ? reason : "training failed");
}

/* Copy the loss-curve windows that are complete at the state's step. */
static void copy_curve(TaskResult *r, const TrainState *st)
{
    const TaskSpec *t = &st->spec;
    int64_t step = *st->step;
    int64_t done = step >= t->steps ? st->nlog : step / t->log_every;
    if (done > st->nlog) done = st->nlog;
    if (done > r->nlog) done = r->nlog;
    for (int64_t k = 0; k < done; k++) r->val[RV_LOSS_CURVE][k] = st->curve[k];
}

/* Measure a trained model into r (science.md section 4). */
static int measure(TaskResult *r, TrainState *st)
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

    int rc = metrics_features(W, m, n, r->val[RV_NORM], r->val[RV_CAPACITY],
                              r->val[RV_SUPERPOSITION]);
    if (rc == 0) {
        double frob = metrics_frobenius2(W, m, n);
        r->val[RV_FROBENIUS2][0] = frob;
        // D* = m / ||W||_F^2 [TMS]; undefined when nothing is learned
        r->val[RV_DIMS_PER_FEATURE][0] = frob > 0.0 ? (double)m / frob : NAN;
        r->val[RV_CAPACITY_SUM][0] = metrics_sum(r->val[RV_CAPACITY], n);
        r->val[RV_REPRESENTED][0] = (double)metrics_represented(r->val[RV_NORM], n);
    }
    if (!t->save_weights) free(W);
    if (rc) return rc;

    // The model keeps b at 0 when the task has no bias; say so exactly.
    for (int i = 0; i < n; i++) {
        double b = t->bias ? (double)bf[i] : 0.0;
        r->val[RV_FEATURE_BIAS][i] = b;
        if (t->save_weights) r->val[RV_B][i] = b;
    }
    data_importance(t, r->val[RV_FEATURE_IMPORTANCE]);

    copy_curve(r, st);
    r->val[RV_FINAL_LOSS][0] = r->nlog > 0 ? r->val[RV_LOSS_CURVE][r->nlog - 1] : NAN;
    r->val[RV_EVAL_LOSS][0] = train_eval_loss(st);
    return 0;
}

int task_run(const TaskSpec *t, TaskResult **out)
{
    *out = NULL;
    double t0 = now_seconds();
    TrainState *st = NULL;
    TaskResult *r = NULL;
    char reason[TASK_REASON_LEN] = "";
    int nlog = t->log_every > 0 ? task_log_count(t) : 0;

    int rc = task_result_create(t->n > 0 ? t->n : 0, t->m > 0 ? t->m : 0,
                                nlog > 0 ? nlog : 0, &r);
    if (rc) return rc;

    rc = train_state_create(t, &st);
    if (rc == PS_ENOMEM) goto fail;
    if (rc) {
        // settings the trainer refuses (the job validator should have caught
        // them): a failed task, not a crash of the sweep
        snprintf(reason, sizeof reason, "%s (error %d)",
                 rc == PS_EINVAL ? "settings refused by the trainer" : "cannot set up training",
                 rc);
        set_failed(r, reason);
        rc = 0;
        goto done;
    }

    rc = train_run(st, NULL, reason, sizeof reason);
    if (rc == 0) {
        rc = measure(r, st);
        if (rc) goto fail;
        r->status = TASK_DONE;
        r->reason[0] = '\0';
    } else if (rc == PS_ENOMEM) {
        goto fail;
    } else {
        // PS_ENUMERIC (diverged): keep what is meaningful, the finished
        // windows of the loss curve. Anything else cannot happen without
        // hooks, but would be recorded the same way rather than lost.
        if (rc != PS_ENUMERIC && !reason[0])
            snprintf(reason, sizeof reason, "training stopped (error %d)", rc);
        set_failed(r, reason);
        copy_curve(r, st);
        rc = 0;
    }

done:
    train_state_free(&st);
    r->val[RV_WALL_TIME][0] = now_seconds() - t0;
    *out = r;
    return 0;

fail:
    train_state_free(&st);
    task_result_free(&r);
    return rc;
}
