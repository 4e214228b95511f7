/* mpi_dispatch.c - rank 0's side of tasks over MPI (world.h, dispatch_mpi;
 * the workers' side is mpi_worker.c, the protocol is in mpi_impl.h).
 *
 * Pull: a worker says READY once, and each RESULT it sends frees a place in
 * its queue; rank 0 only ever fills free places, so a slow worker never
 * hoards tasks. Rank 0 answers before it commits (the worker trains while
 * rank 0 fsyncs the journal).
 *
 * Depth: a worker holds the task it runs and, when tasks are short, the next
 * one (MPI_DEPTH = 2), so it goes from one to the next without a round trip
 * to rank 0 (measured ~3 ms on this VM: 15% of a 20 ms task). Tasks are only
 * queued ahead when their estimated time (cost x seconds per cost so far) is
 * under SCHED_AHEAD_BELOW (queue.h, sched_queue_ahead): for long tasks a
 * queued task could be waiting behind a long one while another worker idles
 * at the end of the sweep, and their round trip does not matter.
 *
 * Nobody spins. Open MPI's blocking receive polls at 100% CPU, which on a
 * 2-core node takes half of a worker's core; so rank 0 waits with
 * MPI_Iprobe and nanosleep, backing off to RANK0_NAP_MAX between probes. A
 * wake-up costs ~20-60 us of CPU on this VM, so an idle rank 0 uses ~2% of
 * a core; with tasks queued ahead the nap does not delay the workers.
 *
 * Stopping (signals.h): `stop` sends TAG_STOP to the workers that hold
 * tasks; each answers every task it holds with its RESULT (it finished first)
 * or INTERRUPTED (it saved a checkpoint, or never started it), so the loop
 * knows when nothing runs any more. A worker interrupted by a signal of its
 * own reports the same way, and the loop then stops the whole run.
 *
 * Lost workers: the launcher kills the run when a rank dies (mpirun does;
 * srun with --kill-on-bad-exit=1). In case it does not (srun without it, a
 * frozen node), each worker's heartbeat thread sends a message every
 * `heartbeat` seconds, and rank 0 gives up on a worker that holds tasks and
 * has been silent for `timeout`: it names the rank and its task, and the run
 * ends through MPI_Abort. Everything committed is in the journal: rerun.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi_impl.h"
#include "polysweep/polysweep.h"
#include "progress.h"
#include "queue.h"
#include "signals.h"

#define RANK0_NAP_MAX 2e-3   /* longest sleep between probes, seconds */
#define LOST_CHECK_EVERY 0.5 /* seconds between scans for silent workers */

typedef struct WorkerSlot {
    int ready;               /* it sent READY */
    int n;                   /* tasks it holds (handed out, result not back) */
    int64_t task[MPI_DEPTH]; /* in the order it runs them: task[0] runs */
    double heard;            /* last message from it (or last task sent) */
    unsigned char listed[MPI_DEPTH]; /* on free[k] */
} WorkerSlot;

typedef struct MpiDispatch {
    World *w;
    const Grid *g;
    WorkerSlot *slot;             /* by rank; slot[0] unused */
    int *free[MPI_DEPTH];         /* free[k]: workers holding k tasks (checked when taken) */
    int nfree[MPI_DEPTH];
    int running, busy;            /* tasks handed out; workers holding some */
    double wall_sum, cost_sum;    /* finished tasks: seconds per unit of estimated cost */
    double last_lost_check;
    int *stop_sent;               /* by rank: the stop level it was sent */
    unsigned char *buf;
    size_t cap;
} MpiDispatch;

static void list_free(MpiDispatch *d, int r)
{
    WorkerSlot *s = &d->slot[r];
    if (s->n < MPI_DEPTH && !s->listed[s->n]) {
        s->listed[s->n] = 1;
        d->free[s->n][d->nfree[s->n]++] = r;
    }
}

/* A worker that holds k tasks, or -1. Entries whose worker changed since
 * are dropped here (each worker is on each list at most once). */
static int take_free(MpiDispatch *d, int k)
{
    while (d->nfree[k] > 0) {
        int r = d->free[k][--d->nfree[k]];
        d->slot[r].listed[k] = 0;
        if (d->slot[r].ready && d->slot[r].n == k)
            return r;
    }
    return -1;
}

static int md_running(void *ctx) { return ((MpiDispatch *)ctx)->running; }
static int md_busy(void *ctx) { return ((MpiDispatch *)ctx)->busy; }

static int md_submit(void *ctx, int64_t task)
{
    MpiDispatch *d = ctx;
    int r = take_free(d, 0);
    if (r < 0 && sched_queue_ahead(d->wall_sum, d->cost_sum, grid_task_cost(d->g, task)))
        for (int k = 1; k < MPI_DEPTH && r < 0; k++)
            r = take_free(d, k);
    if (r < 0)
        return 0;
    int rc = MPI_Send(&task, 1, MPI_INT64_T, r, TAG_TASK, d->w->st->comm);
    if (rc != MPI_SUCCESS) {
        char err[512];
        mpi_fail(err, sizeof err, rc, "sending a task to", r);
        fprintf(stderr, "polysweep: %s\n", err);
        return PS_EMPI;
    }
    WorkerSlot *s = &d->slot[r];
    if (s->n == 0) {
        s->heard = progress_now(); /* the silence clock starts with its work */
        d->busy++;
    }
    s->task[s->n++] = task;
    d->running++;
    list_free(d, r);
    return 1;
}

/* A worker holding tasks and silent for longer than the timeout is lost.
 * Only called when no message is waiting, so a rank 0 that was busy itself
 * (a long snapshot) reads the queued heartbeats before it judges anyone. */
static int check_lost(MpiDispatch *d, double now, char *err, size_t errlen)
{
    double timeout = d->w->st->timeout;
    if (timeout <= 0 || now - d->last_lost_check < LOST_CHECK_EVERY)
        return 0;
    d->last_lost_check = now;
    for (int r = 1; r < d->w->size; r++) {
        WorkerSlot *s = &d->slot[r];
        if (s->n == 0 || now - s->heard <= timeout)
            continue;
        char who[128], label[512];
        mpi_peer_text(d->w, r, who, sizeof who);
        grid_task_label(d->g, s->task[0], label, sizeof label);
        snprintf(err, errlen, "%s has not been heard from for %.0f s while running task %s "
                 "(heartbeats every %.3g s): it died or its node hangs; stopping the run "
                 "(rerun to resume)", who, now - s->heard, label[0] ? label : "0",
                 d->w->st->heartbeat);
        return PS_EMPI;
    }
    return 0;
}

/* Worker src gave back its first task (a result or an interruption). */
static void pop_task(MpiDispatch *d, int src)
{
    WorkerSlot *s = &d->slot[src];
    memmove(s->task, s->task + 1, (size_t)(MPI_DEPTH - 1) * sizeof s->task[0]);
    s->n--;
    d->running--;
    d->busy -= s->n == 0;
    list_free(d, src);
}

/* Receive the INTERRUPTED probed in *st into done. */
static int take_interrupted(MpiDispatch *d, MPI_Status *st, DispatchDone *done, char *err,
                            size_t errlen)
{
    int src = st->MPI_SOURCE, count = 0;
    int64_t msg[2] = {-1, -1};
    MPI_Get_count(st, MPI_INT64_T, &count);
    int rc = MPI_Recv(msg, 2, MPI_INT64_T, src, TAG_INTERRUPTED, d->w->st->comm,
                      MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, errlen, rc, "receiving an interruption from", src);
    WorkerSlot *s = &d->slot[src];
    if (count != 2 || s->n == 0 || msg[0] != s->task[0]) {
        snprintf(err, errlen, "rank %d reported an interruption of a task it was not "
                 "running (%lld)", src, (long long)msg[0]);
        return PS_EMPI;
    }
    *done = (DispatchDone){msg[0], src, NULL, msg[1]};
    pop_task(d, src);
    return DISPATCH_INTERRUPTED;
}

/* Receive the RESULT probed in *st into done. */
static int take_result(MpiDispatch *d, MPI_Status *st, DispatchDone *done, char *err,
                       size_t errlen)
{
    int src = st->MPI_SOURCE, count = 0;
    MPI_Get_count(st, MPI_BYTE, &count);
    if (count > 0 && (size_t)count > d->cap) {
        unsigned char *nb = realloc(d->buf, (size_t)count);
        if (!nb) {
            snprintf(err, errlen, "out of memory receiving a result of %d bytes", count);
            return PS_ENOMEM;
        }
        d->buf = nb;
        d->cap = (size_t)count;
    }
    int rc = MPI_Recv(d->buf, count, MPI_BYTE, src, TAG_RESULT, d->w->st->comm, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, errlen, rc, "receiving a result from", src);
    WorkerSlot *s = &d->slot[src];
    int64_t task = -1;
    if (count >= (int)sizeof task)
        memcpy(&task, d->buf, sizeof task);
    if (s->n == 0 || task != s->task[0]) {
        snprintf(err, errlen, "rank %d sent a result it was not asked for (%d bytes)", src, count);
        return PS_EMPI;
    }
    TaskResult *r = NULL;
    rc = task_result_unpack(d->buf + sizeof task, (size_t)count - sizeof task, &r);
    if (rc < 0) {
        snprintf(err, errlen, "rank %d sent a malformed result for task %lld", src,
                 (long long)task);
        return rc;
    }
    double wall = r->val[RV_WALL_TIME][0];
    if (isfinite(wall) && wall >= 0) {
        d->wall_sum += wall;
        d->cost_sum += grid_task_cost(d->g, task);
    }
    *done = (DispatchDone){task, src, r, -1};
    pop_task(d, src);
    return DISPATCH_RESULT;
}

static int md_wait(void *ctx, double timeout, DispatchDone *done, char *err, size_t errlen)
{
    MpiDispatch *d = ctx;
    MPI_Comm comm = d->w->st->comm;
    double deadline = progress_now() + (timeout > 0 ? timeout : 0);
    int level = sched_signal_level();
    Backoff b;
    backoff_reset(&b, RANK0_NAP_MAX);
    for (;;) {
        int flag = 0, rc;
        MPI_Status st;
        if ((rc = MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm, &flag, &st)) != MPI_SUCCESS)
            return mpi_fail(err, errlen, rc, "waiting for messages", -1);
        double now = progress_now();
        if (flag) {
            int src = st.MPI_SOURCE;
            if (src <= 0 || src >= d->w->size) {
                snprintf(err, errlen, "message from unexpected rank %d", src);
                return PS_EMPI;
            }
            d->slot[src].heard = now;
            if (st.MPI_TAG == TAG_RESULT)
                return take_result(d, &st, done, err, errlen);
            if (st.MPI_TAG == TAG_INTERRUPTED)
                return take_interrupted(d, &st, done, err, errlen);
            if (st.MPI_TAG != TAG_READY && st.MPI_TAG != TAG_HEARTBEAT) {
                snprintf(err, errlen, "rank %d sent an unknown message (tag %d)", src, st.MPI_TAG);
                return PS_EMPI;
            }
            rc = MPI_Recv(NULL, 0, MPI_BYTE, src, st.MPI_TAG, comm, MPI_STATUS_IGNORE);
            if (rc != MPI_SUCCESS)
                return mpi_fail(err, errlen, rc, "receiving from", src);
            if (st.MPI_TAG == TAG_READY && !d->slot[src].ready) {
                d->slot[src].ready = 1;
                list_free(d, src);
                return DISPATCH_IDLE;
            }
            backoff_reset(&b, RANK0_NAP_MAX);
            continue;
        }
        if ((rc = check_lost(d, now, err, errlen)) < 0)
            return rc;
        /* A signal to this process ends the wait: the loop reacts at once. */
        if (now >= deadline || sched_signal_level() != level)
            return DISPATCH_TIMEOUT;
        backoff_wait(&b);
    }
}

static int md_setup(void *ctx, const DispatchSetup *su)
{
    MpiDispatch *d = ctx;
    size_t plen = strlen(su->output) + 1, len = 12 + plen;
    unsigned char *msg = malloc(len);
    if (!msg)
        return PS_ENOMEM;
    int32_t quiet = su->quiet;
    memcpy(msg, &su->every, 8);
    memcpy(msg + 8, &quiet, 4);
    memcpy(msg + 12, su->output, plen);
    for (int r = 1; r < d->w->size; r++) {
        int rc = MPI_Send(msg, (int)len, MPI_BYTE, r, TAG_SETUP, d->w->st->comm);
        if (rc != MPI_SUCCESS) {
            char err[512];
            mpi_fail(err, sizeof err, rc, "sending the set-up to", r);
            fprintf(stderr, "polysweep: %s\n", err);
            free(msg);
            return PS_EMPI;
        }
    }
    free(msg);
    return 0;
}

static void md_stop(void *ctx, int level)
{
    MpiDispatch *d = ctx;
    for (int r = 1; r < d->w->size; r++) {
        /* Idle workers need no word: they get no more tasks, then FINISH. */
        if (d->slot[r].n == 0 || d->stop_sent[r] >= level)
            continue;
        d->stop_sent[r] = level;
        int rc = MPI_Send(&level, 1, MPI_INT, r, TAG_STOP, d->w->st->comm);
        if (rc != MPI_SUCCESS) {
            char err[512];
            mpi_fail(err, sizeof err, rc, "sending a stop to", r);
            fprintf(stderr, "polysweep: %s\n", err);
        }
    }
}

static int md_close(void *ctx, int code)
{
    MpiDispatch *d = ctx;
    int busy = 0;
    for (int r = 1; r < d->w->size; r++) {
        /* A worker with tasks would block sending a result to a rank 0 that
         * no longer listens: the caller must abort instead. */
        if (d->slot[r].n > 0)
            busy++;
        else
            MPI_Send(&code, 1, MPI_INT, r, TAG_FINISH, d->w->st->comm);
    }
    free(d->slot);
    for (int k = 0; k < MPI_DEPTH; k++)
        free(d->free[k]);
    free(d->stop_sent);
    free(d->buf);
    free(d);
    return busy ? PS_EMPI : 0;
}

int dispatch_mpi(Dispatcher *dp, World *w, const Grid *g, char *err, size_t errlen)
{
    MpiDispatch *d = calloc(1, sizeof *d);
    int ok = d != NULL;
    if (ok) {
        ok = (d->slot = calloc((size_t)w->size, sizeof *d->slot)) != NULL &&
             (d->stop_sent = calloc((size_t)w->size, sizeof(int))) != NULL;
        for (int k = 0; k < MPI_DEPTH; k++)
            ok = ok && (d->free[k] = calloc((size_t)w->size, sizeof(int))) != NULL;
    }
    if (!ok) {
        if (d) {
            free(d->slot);
            free(d->stop_sent);
            for (int k = 0; k < MPI_DEPTH; k++)
                free(d->free[k]);
        }
        free(d);
        snprintf(err, errlen, "out of memory");
        return PS_ENOMEM;
    }
    d->w = w;
    d->g = g;
    d->last_lost_check = progress_now();
    *dp = (Dispatcher){.kind = "mpi", .running = md_running, .busy = md_busy, .submit = md_submit,
                       .wait = md_wait, .setup = md_setup, .stop = md_stop, .close = md_close,
                       .ctx = d};
    return 0;
}
