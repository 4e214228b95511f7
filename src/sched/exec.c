/* exec.c - one task run where it is run, with checkpoints and stops
 * (exec.h).
 *
 * The tick (task.h, TaskHooks) comes every few milliseconds of training at
 * most (task_tick_steps). It reads the clock and the stop level, every
 * EXEC_POLL_EVERY seconds asks rank 0 for a stop message (an MPI worker),
 * saves a checkpoint when `every` seconds passed since the last one, and on a
 * stop request saves one more (level 1) or none (level 2) and stops.
 * Resuming and saving never decide a result: any valid checkpoint of a task
 * continues bit-identically (train.h), so a failed save only costs time.
 */
#include "exec.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "polysweep/polysweep.h"
#include "progress.h"
#include "signals.h"

typedef struct TickState {
    Exec *e;
    int64_t task;
    double last_save;   /* monotonic time of the last save (or the start) */
    double next_poll;
    int64_t saved_step; /* the step the task's checkpoint holds, -1 none */
    int64_t paced_step; /* test hook: the step of the last paced tick */
} TickState;

/* POLYSWEEP_TEST_DELAY="checkpoint:SECONDS,step:SECONDS" (tests only):
 * the value of `key`, or 0. */
static double env_delay(const char *key)
{
    const char *v = getenv("POLYSWEEP_TEST_DELAY");
    size_t klen = strlen(key);
    for (const char *p = v; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
        if (strncmp(p, key, klen) == 0 && p[klen] == ':') {
            double s = strtod(p + klen + 1, NULL);
            return s > 0 ? s : 0;
        }
    }
    return 0;
}

void exec_init(Exec *e, const Grid *g, int rank)
{
    memset(e, 0, sizeof *e);
    e->g = g;
    e->rank = rank;
    e->every = 300;
    e->log = stderr;
    e->delay = env_delay("checkpoint");
    e->step_delay = env_delay("step");
}

void exec_clear(Exec *e)
{
    if (e->own_ck)
        store_ckpt_close(&e->ck);
    e->ck = NULL;
    e->own_ck = 0;
}

int exec_stop_level(const Exec *e)
{
    int s = sched_signal_level();
    return e->requested > s ? e->requested : s;
}

static void who(const Exec *e, char *buf, size_t len)
{
    if (e->rank > 0)
        snprintf(buf, len, "rank %d: ", e->rank);
    else if (len)
        buf[0] = '\0';
}

/* The test hook's slow save: sleep in slices, giving up on a second signal.
 * Returns 1 when the save must be abandoned. */
static int slow_save(Exec *e)
{
    double until = progress_now() + e->delay;
    while (progress_now() < until) {
        if (e->poll) {
            int l = e->poll(e->poll_ctx);
            if (l > e->requested)
                e->requested = l;
        }
        if (exec_stop_level(e) >= 2)
            return 1;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static void save(TickState *x, const TaskTick *tk)
{
    Exec *e = x->e;
    if (e->delay > 0 && slow_save(e))
        return;
    char err[1024];
    if (store_ckpt_save(e->ck, x->task, tk, err, sizeof err) == 0) {
        x->saved_step = tk->step;
    } else if (!e->save_warned) {
        /* Not fatal: the task goes on, it only cannot resume from here. */
        char w[32];
        who(e, w, sizeof w);
        fprintf(stderr, "polysweep: %swarning: %s (training goes on without this "
                "checkpoint)\n", w, err);
        e->save_warned = 1;
    }
    x->last_save = progress_now();
}

/* The test hook's slow motion: sleep step_delay per step since the last tick. */
static void pace(TickState *x, const TaskTick *tk)
{
    double s = x->e->step_delay * (double)(tk->step - x->paced_step);
    x->paced_step = tk->step;
    if (s > 0) {
        struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

static int tick(void *ctx, const TaskTick *tk)
{
    TickState *x = ctx;
    Exec *e = x->e;
    if (e->step_delay > 0)
        pace(x, tk);
    double now = progress_now();
    if (e->poll && now >= x->next_poll) {
        int l = e->poll(e->poll_ctx);
        if (l > e->requested)
            e->requested = l;
        x->next_poll = now + EXEC_POLL_EVERY;
    }
    int level = exec_stop_level(e);
    if (level >= 2)
        return 1; /* at once: the last checkpoint stays what it is */
    if (e->ck && tk->step > x->saved_step &&
        (level == 1 || now - x->last_save >= e->every))
        save(x, tk);
    return level;
}

int exec_task(Exec *e, int64_t i, TaskResult **out, int64_t *ckpt_step)
{
    *out = NULL;
    *ckpt_step = -1;
    if (exec_stop_level(e) >= 1) {
        *ckpt_step = -2;
        return PS_EINTR;
    }
    TaskSpec t;
    grid_task_spec(e->g, i, &t);
    char w[32], label[512], err[1024];
    who(e, w, sizeof w);
    grid_task_label(e->g, i, label, sizeof label);
    TickState x = {.e = e, .task = i, .last_save = progress_now(), .saved_step = -1};
    x.next_poll = x.last_save + EXEC_POLL_EVERY;
    TaskHooks h = {.tick = tick, .ctx = &x};

    StoreCheckpoint ck = {0};
    int rc = e->ck ? store_ckpt_load(e->ck, i, &ck, err, sizeof err) : 1;
    if (rc == 0) {
        h.resume = ck.state;
        h.resume_len = ck.len;
        h.resume_elapsed = ck.elapsed;
        x.saved_step = ck.step;
        x.paced_step = ck.step;
        if (e->log) {
            fprintf(e->log, "polysweep: %sresumed task %s from step %lld of %lld (its "
                    "checkpoint)\n", w, label[0] ? label : "0", (long long)ck.step,
                    (long long)ck.steps);
            fflush(e->log);
        }
    } else if (rc < 0 && rc != PS_ENOMEM) {
        fprintf(stderr, "polysweep: %swarning: %s; running the task from the start\n", w,
                err);
    }
    rc = task_run_ex(&t, &h, out);
    if (rc == PS_EFORMAT && h.resume) {
        /* The state's size does not fit this build's training state. */
        fprintf(stderr, "polysweep: %swarning: the checkpoint of task %s does not fit this "
                "version's training state; running the task from the start\n", w,
                label[0] ? label : "0");
        h.resume = NULL;
        h.resume_elapsed = 0;
        x.saved_step = -1;
        rc = task_run_ex(&t, &h, out);
    }
    store_checkpoint_clear(&ck);
    if (rc == PS_EINTR)
        *ckpt_step = x.saved_step;
    return rc;
}
