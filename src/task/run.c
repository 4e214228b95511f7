/* run.c - task_run: train one task from scratch and measure it
 * (science.md sections 3 to 5).
 *
 * Training is train_state_create + train_run without hooks (checkpointing
 * long tasks would need hooks); measurement (measure.c) turns the trained
 * float32 parameters into the catalog's variables with the double-precision
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

#include "polysweep/polysweep.h"
#include "polysweep/task.h"
#include "polysweep/train.h"
#include "task_impl.h"

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
        rc = task_measure(r, st);
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
        task_copy_curve(r, st);
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
