/* sched.c - running a sweep (sched.h): the pending tasks of the grid, longest
 * first, handed to whoever runs them and committed to the store by the one
 * process that owns it; periodic and final dataset snapshots; stopping on
 * signals (signals.h: no new tasks, running ones checkpoint and report
 * "interrupted", snapshot, exit 3); the exit code.
 *
 * The task loop only sees task indices and results: who computes a result
 * (this process, or an MPI worker) is the dispatcher's business (world.h).
 * Process layout, MPI start-up and the BLAS threads are the world's.
 */
#include "polysweep/sched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "polysweep/grid.h"
#include "polysweep/kernels.h"
#include "polysweep/polysweep.h"
#include "polysweep/store.h"
#include "polysweep/task.h"
#include "progress.h"
#include "queue.h"
#include "signals.h"
#include "world.h"

#define ERRLEN 1024

/* Everything rank 0 needs while the loop runs. */
typedef struct Run {
    const Grid *g;
    Store *s;
    Dispatcher *d;
    Progress pr;
    double snapshot_every, next_snapshot;
    double loop_start, loop_end, wait_s; /* rank 0 is busy when not in d->wait */
    int stopping;          /* stop level passed to the dispatcher (0: running) */
    int worker_stopped;    /* a task was interrupted although rank 0 got no signal */
    int lost;              /* the loop ended because a worker was lost (PS_ELOST) */
    int64_t interrupted;   /* tasks stopped with a checkpoint to resume from */
    int64_t unfinished;    /* tasks handed out that came back unfinished */
    char stop_reason[96];  /* "SIGUSR1", "a signal to rank 2", ... */
} Run;

/* After the second signal, rank 0 waits this long for the running tasks to
 * report (each stops at its next tick without saving, milliseconds), then
 * gives up on them and ends the run (world_abort stops busy workers). */
#define FAST_STOP_GRACE 0.5

static int snapshot(Run *run)
{
    char err[ERRLEN];
    if (store_snapshot(run->s, err, sizeof err) < 0) {
        fprintf(stderr, "polysweep: %s\n", err);
        return -1;
    }
    run->next_snapshot = progress_now() + run->snapshot_every;
    return 0;
}

/* Commit one finished task and report it. */
static int commit(Run *run, DispatchDone *done)
{
    char err[ERRLEN];
    TaskResult *r = done->result;
    r->val[RV_RANK][0] = done->rank;
    if (store_commit(run->s, done->task, r, err, sizeof err) < 0) {
        fprintf(stderr, "polysweep: %s\n", err);
        return -1;
    }
    if (r->status == TASK_FAILED) {
        char label[512];
        grid_task_label(run->g, done->task, label, sizeof label);
        fprintf(stderr, "polysweep: task %s failed on rank %d: %s\n", label[0] ? label : "0",
                done->rank, r->reason);
    }
    progress_task_done(&run->pr, grid_task_cost(run->g, done->task), r->status == TASK_FAILED);
    return 0;
}

/* A task came back unfinished: it stays pending in the journal and resumes
 * from its checkpoint next time. */
static void interrupted(Run *run, const DispatchDone *done)
{
    /* Not asked for by rank 0: a signal reached that rank, and the whole run
     * stops (the task is not in the queue any more: going on would end the
     * loop with it pending). */
    if (!run->stopping && !run->worker_stopped) {
        run->worker_stopped = 1;
        snprintf(run->stop_reason, sizeof run->stop_reason, "a signal to rank %d", done->rank);
    }
    run->unfinished++;
    if (done->step == -2)
        return; /* handed out, never started: nothing to say */
    char label[512];
    grid_task_label(run->g, done->task, label, sizeof label);
    if (done->step >= 0) {
        run->interrupted++;
        if (run->pr.out)
            fprintf(run->pr.out, "polysweep: task %s interrupted on rank %d; its checkpoint "
                    "holds step %lld\n", label[0] ? label : "0", done->rank,
                    (long long)done->step);
    } else {
        if (run->pr.out)
            fprintf(run->pr.out, "polysweep: task %s interrupted on rank %d before its first "
                    "checkpoint\n", label[0] ? label : "0", done->rank);
    }
}

/* Raise the stop level when a signal (or an interrupted worker) asks for it. */
static void check_stop(Run *run, double *fast_deadline)
{
    int level = sched_signal_level();
    if (level < 1 && run->worker_stopped)
        level = 1;
    if (level <= run->stopping)
        return;
    Dispatcher *d = run->d;
    int running = d->busy(d->ctx); /* executors in a task (not tasks queued behind) */
    if (run->stopping == 0) {
        if (sched_signal_level() > 0)
            snprintf(run->stop_reason, sizeof run->stop_reason, "%s", sched_signal_name());
        fprintf(stderr, "polysweep: %s: stopping: no new tasks", run->stop_reason);
        if (level == 1 && running > 0)
            fprintf(stderr, "; the %d running task%s save%s a checkpoint and stop%s (send the "
                    "signal again to stop at once)", running, running == 1 ? "" : "s",
                    running == 1 ? "s" : "", running == 1 ? "s" : "");
        fprintf(stderr, "\n");
    } else {
        fprintf(stderr, "polysweep: %s again: stopping at once%s\n", sched_signal_name(),
                running > 0 ? " (running tasks keep their last checkpoint)" : "");
    }
    fflush(stderr);
    run->stopping = level;
    d->stop(d->ctx, level);
    if (level >= 2)
        *fast_deadline = progress_now() + FAST_STOP_GRACE;
}

/* Hand out tasks while an executor takes them (not once stopping). */
static int refill(Run *run, const TaskQueue *q, int64_t *next)
{
    Dispatcher *d = run->d;
    while (!run->stopping && !run->worker_stopped && sched_signal_level() == 0 &&
           *next < q->count) {
        int rc = d->submit(d->ctx, q->index[*next]);
        if (rc < 0)
            return -1;
        if (rc == 0)
            break;
        (*next)++;
    }
    run->pr.running = d->busy(d->ctx);
    run->pr.queued = d->running(d->ctx) - run->pr.running;
    return 0;
}

/* The task loop, until every queued task is committed (returns 0) or a stop
 * request ended it (1: the running tasks reported back, or gave up on after
 * a second signal); -1 on errors. */
static int run_tasks(Run *run, const TaskQueue *q)
{
    Dispatcher *d = run->d;
    char err[ERRLEN];
    int64_t next = 0;
    double fast_deadline = 0;
    run->loop_start = progress_now();
    for (;;) {
        int running = d->running(d->ctx);
        /* Everything committed: complete, even if a signal came just now. */
        if (next == q->count && running == 0 && run->unfinished == 0) {
            run->loop_end = progress_now();
            return 0;
        }
        check_stop(run, &fast_deadline);
        if (refill(run, q, &next) < 0)
            return -1;
        running = d->running(d->ctx);
        if (run->stopping && (running == 0 ||
                              (run->stopping >= 2 && progress_now() >= fast_deadline))) {
            run->loop_end = progress_now();
            return 1;
        }
        if (next == q->count && running == 0 && run->unfinished == 0) {
            run->loop_end = progress_now();
            return 0;
        }
        double now = progress_now(), due = progress_next_due(&run->pr);
        double timeout = (due < run->next_snapshot ? due : run->next_snapshot) - now;
        if (timeout > 1)
            timeout = 1;
        if (run->stopping && timeout > 0.05)
            timeout = 0.05;
        DispatchDone done = {0};
        int ev = d->wait(d->ctx, timeout, &done, err, sizeof err);
        run->wait_s += progress_now() - now;
        if (ev < 0) {
            fprintf(stderr, "polysweep: %s\n", err);
            run->lost = ev == PS_ELOST;
            return -1;
        }
        if (ev == DISPATCH_RESULT) {
            /* The executor that just finished gets its next task before
             * rank 0 spends a fsync on the commit. */
            int rc = refill(run, q, &next);
            if (rc == 0)
                rc = commit(run, &done);
            task_result_free(&done.result);
            if (rc < 0)
                return -1;
        } else if (ev == DISPATCH_INTERRUPTED) {
            /* A signal stopped it (to this process: announce the stop first). */
            check_stop(run, &fast_deadline);
            interrupted(run, &done);
        }
        progress_tick(&run->pr, 0);
        if (!run->stopping && progress_now() >= run->next_snapshot && snapshot(run) < 0)
            return -1;
    }
}

/* The output path made absolute, for workers whose working directory may
 * differ (the directory exists: store_open created it). malloc'd. */
static char *absolute_output(const char *output)
{
    const char *slash = strrchr(output, '/');
    char *dir = slash ? strndup(output, (size_t)(slash - output + (slash == output))) : strdup(".");
    char *real = dir ? realpath(dir, NULL) : NULL;
    const char *base = slash ? slash + 1 : output;
    char *abs = NULL;
    if (real) {
        size_t len = strlen(real) + strlen(base) + 2;
        if ((abs = malloc(len)))
            snprintf(abs, len, "%s/%s", strcmp(real, "/") ? real : "", base);
    }
    free(real);
    free(dir);
    return abs ? abs : strdup(output);
}

/* Rank 0 (or the only process): open the store, run the loop, report. */
static int run_rank0(World *w, const Grid *g, const JobSpec *job, const SchedOptions *opt,
                     double t0)
{
    char err[ERRLEN];
    int code = PS_EXIT_INTERNAL, workers_busy = 0;
    Store *s = NULL;
    TaskQueue q = {0};
    Dispatcher d = {0};
    FILE *log = opt->quiet ? NULL : stderr;
    const char *output = opt->output ? opt->output : job->output;
    char *abs = NULL;

    int rc = w->size > 1 ? dispatch_mpi(&d, w, g, err, sizeof err) : dispatch_local(&d, g, 0);
    if (rc < 0) {
        fprintf(stderr, "polysweep: %s\n", w->size > 1 ? err : "out of memory");
        world_abort(w, PS_EXIT_INTERNAL); /* the workers wait for orders that never come */
    }
    StoreRunInfo info = {
        .command = opt->command ? opt->command : "run",
        .blas_core = w->blas_core,
        .blas_threads = w->threads_max,
        .mpi_size = w->size,
        .blas_core_note = opt->blas_note,
        .layout = w->layout,
        .shard_k = opt->shard_k,
        .shard_n = opt->shard_n,
    };
    rc = store_open(g, output, opt->fresh, &info, &s, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "polysweep: %s\n", err);
        /* Refusals leave every file as it was and need the user: another
         * job's output, one in use, a damaged journal. */
        code = (rc == PS_EMISMATCH || rc == PS_EBUSY || rc == PS_EFORMAT) ? PS_EXIT_USAGE
                                                                          : PS_EXIT_INTERNAL;
        goto out;
    }
    const char *warnings = store_warnings(s);
    if (warnings[0])
        fprintf(stderr, "%s", warnings);
    if (sched_queue_pending(g, s, opt->retry_failed, &q) < 0 || !(abs = absolute_output(output))) {
        fprintf(stderr, "polysweep: out of memory\n");
        goto out;
    }
    double every = opt->checkpoint_every > 0      ? opt->checkpoint_every
                   : job->run.checkpoint_every > 0 ? job->run.checkpoint_every
                                                   : 300;
    /* Every worker must see the output where rank 0 does (store.h, shared
     * storage): rank 0 writes a token, the workers read it back. */
    char token[STORE_TOKEN_LEN] = "";
    if (w->size > 1 && store_token_write(s, token, err, sizeof err) < 0) {
        fprintf(stderr, "polysweep: %s\n", err);
        goto out;
    }
    DispatchSetup setup = {.ck = store_checkpoints(s), .output = abs, .token = token,
                           .every = every, .quiet = opt->quiet};
    if ((rc = d.setup(d.ctx, &setup)) < 0) {
        code = rc == PS_EMISMATCH ? PS_EXIT_USAGE : rc == PS_ELOST ? PS_EXIT_LOST
                                                                   : PS_EXIT_INTERNAL;
        goto out;
    }

    Run run = {.g = g, .s = s, .d = &d};
    run.snapshot_every = job->run.snapshot_every > 0 ? job->run.snapshot_every : 60;
    run.next_snapshot = progress_now() + run.snapshot_every;
    int64_t total = store_task_total(s);
    progress_start(&run.pr, log, total, total - q.count, q.cost);
    if (log) {
        char extra[160] = "";
        int64_t retried = opt->retry_failed ? store_count(s, TASK_FAILED) : 0;
        int64_t resumable = store_resumable_count(s);
        int n = 0;
        if (retried > 0)
            n = snprintf(extra, sizeof extra, ", %lld of them failed before (--retry-failed)",
                         (long long)retried);
        if (resumable > 0 && n >= 0 && (size_t)n < sizeof extra)
            snprintf(extra + n, sizeof extra - (size_t)n, ", %lld continue%s from a checkpoint",
                     (long long)resumable, resumable == 1 ? "s" : "");
        char shard[64] = "";
        if (opt->shard_n > 0)
            snprintf(shard, sizeof shard, " of shard %d/%d", opt->shard_k, opt->shard_n);
        fprintf(log, "polysweep: %s: %lld tasks%s, %lld to run%s; %s\n", output,
                (long long)total, shard, (long long)q.count, extra, w->layout);
    }
    if (opt->blas_note && (log || opt->blas_warn))
        fprintf(stderr, "polysweep: %sBLAS: %s\n", opt->blas_warn ? "warning: " : "",
                opt->blas_note);
    if (w->warning[0])
        fprintf(stderr, "%s", w->warning);

    int outcome = run_tasks(&run, &q);
    if (outcome < 0) {
        workers_busy = d.running(d.ctx) > 0;
        snapshot(&run); /* best effort: the journal has every commit anyway */
        if (run.lost)
            code = PS_EXIT_LOST;
        goto out;
    }
    workers_busy = d.running(d.ctx) > 0; /* given up on after a second signal */
    if (snapshot(&run) < 0)
        goto out;
    char extra[384] = "";
    if (outcome == 1) {
        int64_t left = store_count(s, TASK_PENDING);
        snprintf(extra, sizeof extra, "interrupted by %s: %lld task%s left, %lld with a "
                 "checkpoint from this run; rerun the same command to resume",
                 run.stop_reason, (long long)left, left == 1 ? "" : "s",
                 (long long)run.interrupted);
        progress_finish(&run.pr, output, extra);
        if (!log)
            fprintf(stderr, "polysweep: %s: %s\n", output, extra);
        code = PS_EXIT_INCOMPLETE;
        goto out;
    }
    if (w->size > 1) {
        /* How close rank 0 is to being the bottleneck: its CPU (the whole
         * process, start-up included), and the time it spends on tasks
         * (commit, hand-out) rather than waiting. */
        double wall = progress_now() - t0, cpu = world_cpu_seconds();
        double loop = run.loop_end - run.loop_start, busy = loop - run.wait_s;
        int n = snprintf(extra, sizeof extra, "rank 0 used %.2f s CPU in %.1f s (%.1f%%)", cpu,
                         wall, wall > 0 ? 100 * cpu / wall : 0.0);
        if (run.pr.done > 0 && loop > 0 && n > 0 && (size_t)n < sizeof extra)
            snprintf(extra + n, sizeof extra - (size_t)n, ", busy %.0f%% of the loop "
                     "(%.3f ms per task)", 100 * busy / loop, 1e3 * busy / (double)run.pr.done);
    }
    progress_finish(&run.pr, output, extra);
    code = store_count(s, TASK_FAILED) > 0 ? PS_EXIT_FAILED : PS_EXIT_OK;
    if (store_count(s, TASK_PENDING) > 0) {
        /* Cannot happen (every queued task was committed); never claim a
         * complete sweep that is not. */
        fprintf(stderr, "polysweep: %s: %lld tasks still pending; rerun the same command\n",
                output, (long long)store_count(s, TASK_PENDING));
        code = PS_EXIT_INCOMPLETE;
    }
out:
    if (d.close && d.close(d.ctx, code) < 0)
        workers_busy = 1;
    sched_queue_free(&q);
    store_close(&s);
    free(abs);
    if (workers_busy || code == PS_EXIT_LOST) {
        /* Workers still in a task would wait forever for rank 0 to listen,
         * and MPI_Finalize for a lost rank. */
        fprintf(stderr, "polysweep: stopping every rank (the sweep is resumable: rerun the "
                "same command)\n");
        world_abort(w, code == PS_EXIT_OK ? PS_EXIT_INTERNAL : code);
    }
    return code;
}

int sched_usage_error(const char *message)
{
    SchedLaunch launch;
    World w;
    char err[ERRLEN];
    if (sched_launch_detect(&launch, err, sizeof err) < 0 || !launch.mpi) {
        fputs(message, stderr);
        return PS_EXIT_USAGE;
    }
    /* The same collective steps as sched_run's start, so that ranks that
     * failed here and ranks that got into sched_run meet. */
    if (world_start(&w, &launch, err, sizeof err) < 0) {
        fprintf(stderr, "polysweep: rank %d: %s\n", launch.rank, err);
        world_abort(&w, PS_EXIT_USAGE);
    }
    world_agree(&w, message);
    world_end(&w);
    return PS_EXIT_USAGE;
}

int sched_run(const JobSpec *job, const SchedOptions *opt)
{
    char err[ERRLEN];
    double t0 = progress_now();
    SchedLaunch launch;
    World w;
    Grid *g = NULL;
    int code = PS_EXIT_INTERNAL, rc;

    if (sched_launch_detect(&launch, err, sizeof err) < 0) {
        fprintf(stderr, "polysweep: %s\n", err);
        return PS_EXIT_USAGE;
    }
    /* Before MPI starts (a signal during start-up is counted, not fatal), and
     * again after, in case the MPI library installed handlers of its own. */
    sched_signals_install(1);
    if ((rc = world_start(&w, &launch, err, sizeof err)) < 0) {
        fprintf(stderr, "polysweep: rank %d: %s\n", launch.rank, err);
        world_abort(&w, rc == PS_EINVAL ? PS_EXIT_USAGE : PS_EXIT_INTERNAL);
    }
    sched_signals_install(0);
    /* Every rank builds the same grid from the same job; all agree that it is
     * fine before anything runs, and rank 0 reports what is not. */
    char mine[ERRLEN + 2] = "";
    if (grid_create(job, &g, err, sizeof err) < 0)
        snprintf(mine, sizeof mine, "%s\n", err);
    if (world_agree(&w, mine[0] ? mine : NULL)) {
        code = PS_EXIT_USAGE;
        goto out;
    }
    int requested = opt->threads > 0 ? opt->threads : job->run.threads > 0 ? job->run.threads : 0;
    if (world_layout(&w, requested, err, sizeof err) < 0) {
        fprintf(stderr, "polysweep: rank %d: %s\n", w.rank, err);
        world_abort(&w, PS_EXIT_INTERNAL);
    }
    kern_blas_set_threads(w.threads);
    if (w.rank == 0)
        code = run_rank0(&w, g, job, opt, t0);
    else
        code = worker_run(&w, g);
out:
    grid_free(&g);
    world_end(&w);
    return code;
}
