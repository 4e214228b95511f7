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
 * ends through MPI_Abort with exit code 5 (PS_EXIT_LOST: resumable, the node
 * is suspect). Everything committed is in the journal: rerun.
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
    int refused;             /* its READY said it does not see the output */
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

/* POLYSWEEP_LOST_FILE: where rank 0 notes the hosts of the ranks it gave up
 * on, one per line, for a batch script to keep the requeued job off them
 * (slurm/polysweep.sbatch: --exclude). Best effort: the run ends anyway. */
static void note_lost_hosts(const MpiDispatch *d, const int *lost, int n)
{
    const char *path = getenv("POLYSWEEP_LOST_FILE");
    const PeerInfo *p = d->w->st->peers;
    FILE *f = path && *path && p ? fopen(path, "a") : NULL;
    if (!f)
        return;
    for (int k = 0; k < n; k++) {
        int seen = 0;
        for (int j = 0; j < k && !seen; j++)
            seen = strcmp(p[lost[j]].host, p[lost[k]].host) == 0;
        if (!seen)
            fprintf(f, "%s\n", p[lost[k]].host);
    }
    fclose(f);
}

/* Workers holding tasks and silent for longer than the timeout are lost.
 * Only called when no message is waiting, so a rank 0 that was busy itself
 * (a long snapshot) reads the queued heartbeats before it judges anyone.
 * Every silent worker is named in the file above; the message names the
 * first. Returns PS_ELOST (exit code 5: resumable, the node is suspect). */
static int check_lost(MpiDispatch *d, double now, char *err, size_t errlen)
{
    double timeout = d->w->st->timeout;
    if (timeout <= 0 || now - d->last_lost_check < LOST_CHECK_EVERY)
        return 0;
    d->last_lost_check = now;
    int n = 0, first = -1;
    for (int r = 1; r < d->w->size; r++)
        if (d->slot[r].n > 0 && now - d->slot[r].heard > timeout && n++ == 0)
            first = r;
    if (n == 0)
        return 0;
    int *lost = malloc((size_t)n * sizeof *lost), k = 0;
    for (int r = 1; lost && r < d->w->size; r++)
        if (d->slot[r].n > 0 && now - d->slot[r].heard > timeout)
            lost[k++] = r;
    WorkerSlot *s = &d->slot[first];
    char who[128], label[512], more[64] = "";
    mpi_peer_text(d->w, first, who, sizeof who);
    grid_task_label(d->g, s->task[0], label, sizeof label);
    if (n > 1)
        snprintf(more, sizeof more, " (%d more rank%s silent as long)", n - 1, n > 2 ? "s are" : " is");
    snprintf(err, errlen, "%s has not been heard from for %.0f s while running task %s "
             "(heartbeats every %.3g s): it died or its node hangs%s; stopping the run "
             "(rerun to resume)", who, now - s->heard, label[0] ? label : "0",
             d->w->st->heartbeat, more);
    if (lost)
        note_lost_hosts(d, lost, n);
    free(lost);
    return PS_ELOST;
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
            if (st.MPI_TAG != TAG_HEARTBEAT) {
                snprintf(err, errlen, "rank %d sent an unexpected message (tag %d)", src,
                         st.MPI_TAG);
                return PS_EMPI;
            }
            rc = MPI_Recv(NULL, 0, MPI_BYTE, src, st.MPI_TAG, comm, MPI_STATUS_IGNORE);
            if (rc != MPI_SUCCESS)
                return mpi_fail(err, errlen, rc, "receiving from", src);
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

/* The workers that do not see the output, after md_setup: the first one's
 * message, and who they are. */
static void report_unshared(MpiDispatch *d, const char *first_msg, int first, int bad,
                            const char *output)
{
    char who[128];
    mpi_peer_text(d->w, first, who, sizeof who);
    fprintf(stderr, "polysweep: %s does not see the output rank 0 writes: %s\n", who,
            first_msg);
    const PeerInfo *p = d->w->st->peers;
    char hosts[256] = "";
    size_t at = 0;
    int shown = 0;
    for (int r = 1; r < d->w->size && p; r++) {
        if (!d->slot[r].refused)
            continue;
        int seen = 0;
        for (int q = 1; q < r && !seen; q++)
            seen = d->slot[q].refused && strcmp(p[q].host, p[r].host) == 0;
        if (seen || at >= sizeof hosts)
            continue;
        int n = shown++ < 4 ? snprintf(hosts + at, sizeof hosts - at, "%s%s", at ? ", " : "",
                                       p[r].host)
                            : snprintf(hosts + at, sizeof hosts - at, ", ...");
        at += n > 0 ? (size_t)n : 0;
        if (shown > 4)
            break;
    }
    fprintf(stderr, "polysweep: %d of %d workers (on %s) do not see %s.state/ as rank 0 (on "
            "%s) does: the output must be on a file system that every node of the run "
            "mounts at the same path (not /tmp or another node-local disk), or their "
            "checkpoints would be lost; nothing was run\n", bad, d->w->size - 1,
            hosts[0] ? hosts : "?", output, p ? p[0].host : "?");
}

/* Send TAG_SETUP to every worker, then wait for each one's READY (see
 * mpi_impl.h). A worker that is silent for the lost-worker timeout is lost. */
static int md_setup(void *ctx, const DispatchSetup *su)
{
    MpiDispatch *d = ctx;
    MPI_Comm comm = d->w->st->comm;
    const char *token = su->token ? su->token : "";
    size_t plen = strlen(su->output) + 1, tlen = strlen(token) + 1, len = 12 + plen + tlen;
    unsigned char *msg = malloc(len);
    char err[1024], first_msg[1024] = "";
    if (!msg)
        return PS_ENOMEM;
    int32_t quiet = su->quiet;
    memcpy(msg, &su->every, 8);
    memcpy(msg + 8, &quiet, 4);
    memcpy(msg + 12, su->output, plen);
    memcpy(msg + 12 + plen, token, tlen);
    double now = progress_now();
    for (int r = 1; r < d->w->size; r++) {
        int rc = MPI_Send(msg, (int)len, MPI_BYTE, r, TAG_SETUP, comm);
        if (rc != MPI_SUCCESS) {
            mpi_fail(err, sizeof err, rc, "sending the set-up to", r);
            fprintf(stderr, "polysweep: %s\n", err);
            free(msg);
            return PS_EMPI;
        }
        d->slot[r].heard = now;
    }
    free(msg);
    int waiting = d->w->size - 1, bad = 0, first = -1;
    double timeout = d->w->st->timeout;
    Backoff b;
    backoff_reset(&b, RANK0_NAP_MAX);
    while (waiting > 0) {
        int flag = 0, count = 0, rc;
        MPI_Status st;
        if ((rc = MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm, &flag, &st)) != MPI_SUCCESS) {
            mpi_fail(err, sizeof err, rc, "waiting for the workers to start", -1);
            fprintf(stderr, "polysweep: %s\n", err);
            return PS_EMPI;
        }
        now = progress_now();
        if (!flag) {
            for (int r = 1; r < d->w->size && timeout > 0; r++) {
                if (d->slot[r].ready || now - d->slot[r].heard <= timeout)
                    continue;
                char who[128];
                mpi_peer_text(d->w, r, who, sizeof who);
                fprintf(stderr, "polysweep: %s has not answered for %.0f s at start-up: it "
                        "died or its node hangs; stopping the run (rerun to resume)\n", who,
                        now - d->slot[r].heard);
                note_lost_hosts(d, &r, 1);
                return PS_ELOST;
            }
            backoff_wait(&b);
            continue;
        }
        int src = st.MPI_SOURCE;
        MPI_Get_count(&st, MPI_BYTE, &count);
        char text[1024] = "";
        if (src <= 0 || src >= d->w->size || count < 0 || (size_t)count >= sizeof text ||
            (st.MPI_TAG != TAG_READY && st.MPI_TAG != TAG_HEARTBEAT) ||
            (st.MPI_TAG == TAG_READY && d->slot[src].ready)) {
            fprintf(stderr, "polysweep: rank %d sent an unexpected message at start-up (tag "
                    "%d, %d bytes)\n", src, st.MPI_TAG, count);
            return PS_EMPI;
        }
        rc = MPI_Recv(text, count, MPI_BYTE, src, st.MPI_TAG, comm, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) {
            mpi_fail(err, sizeof err, rc, "receiving from", src);
            fprintf(stderr, "polysweep: %s\n", err);
            return PS_EMPI;
        }
        d->slot[src].heard = now;
        backoff_reset(&b, RANK0_NAP_MAX);
        if (st.MPI_TAG == TAG_HEARTBEAT)
            continue;
        waiting--;
        d->slot[src].ready = 1;
        if (text[0]) {
            d->slot[src].refused = 1; /* never gets a task */
            if (bad++ == 0 || src < first) { /* named: the lowest rank */
                first = src;
                snprintf(first_msg, sizeof first_msg, "%s", text);
            }
        } else {
            list_free(d, src);
        }
    }
    if (bad) {
        report_unshared(d, first_msg, first, bad, su->output);
        return PS_EMISMATCH;
    }
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
