/* run.c - task_run and task_run_ex: train one task and measure it
 * (science.md sections 3 to 5).
 *
 * Training is train_state_create (+ the bytes of a checkpoint copied over
 * the state's persistent block, when resuming) + train_run, whose hook turns
 * into the caller's tick (task.h, TaskHooks); measurement (measure.c) turns the trained
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

int64_t task_tick_steps(const TaskSpec *t)
{
    /* Work per step, in multiply-adds up to a constant: the batch times the
     * model (the GEMMs are ~10 B n m flops for the autoencoders), or n^2 m
     * for the exact population loss, which draws no batch. */
    double n = t->n > 0 ? t->n : 1, m = t->m > 0 ? t->m : 1;
    double b = t->batch > 0 ? t->batch : 1;
    double work = t->population_loss ? n * n * m : b * n * (m + 1);
    double k = ceil(2097152.0 / work);
    return k < 1 ? 1 : k > 1048576 ? 1048576 : (int64_t)k;
}

typedef struct TickCtx {
    const TaskHooks *h;
    double t0;
} TickCtx;

/* train_run's hook -> the caller's tick, with the state as plain bytes. */
static int tick_bridge(void *ctx, const TrainState *st)
{
    const TickCtx *c = ctx;
    TaskTick tk = {
        .state = st->persist,
        .len = st->persist_len,
        .step = *st->step,
        .steps = st->spec.steps,
        .elapsed = c->h->resume_elapsed + (now_seconds() - c->t0),
    };
    return c->h->tick(c->h->ctx, &tk);
}

int task_run(const TaskSpec *t, TaskResult **out) { return task_run_ex(t, NULL, out); }

int task_run_ex(const TaskSpec *t, const TaskHooks *h, TaskResult **out)
{
    *out = NULL;
    double t0 = now_seconds();
    TrainState *st = NULL;
    TaskResult *r = NULL;
    char reason[TASK_REASON_LEN] = "";
    int nlog = t->log_every > 0 ? task_log_count(t) : 0;
    double before = h && h->resume ? h->resume_elapsed : 0.0;

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
    if (h && h->resume) {
        // The persistent block is the whole resumable state (train.h); the
        // scratch block (importances, buffers) is rebuilt from the spec.
        if (h->resume_len != st->persist_len) {
            rc = PS_EFORMAT;
            goto fail;
        }
        memcpy(st->persist, h->resume, st->persist_len);
        if (*st->step < 0 || *st->step > t->steps) {
            rc = PS_EFORMAT;
            goto fail;
        }
    }

    TickCtx tc = {.h = h, .t0 = t0};
    TrainHooks th = {0};
    if (h && h->tick) {
        th.every = h->every > 0 ? h->every : task_tick_steps(t);
        th.tick = tick_bridge;
        th.ctx = &tc;
    }
    rc = train_run(st, th.tick ? &th : NULL, reason, sizeof reason);
    if (rc == 0) {
        rc = task_measure(r, st);
        if (rc) goto fail;
        r->status = TASK_DONE;
        r->reason[0] = '\0';
    } else if (rc == PS_ENOMEM || rc == PS_EINTR) {
        goto fail; // interrupted: no result; the caller kept the last tick's state
    } else {
        // PS_ENUMERIC (diverged): keep what is meaningful, the finished
        // windows of the loss curve. Anything else would be recorded the
        // same way rather than lost.
        if (rc != PS_ENUMERIC && !reason[0])
            snprintf(reason, sizeof reason, "training stopped (error %d)", rc);
        set_failed(r, reason);
        task_copy_curve(r, st);
        rc = 0;
    }

done:
    train_state_free(&st);
    r->val[RV_WALL_TIME][0] = before + (now_seconds() - t0);
    *out = r;
    return 0;

fail:
    train_state_free(&st);
    task_result_free(&r);
    return rc;
}
