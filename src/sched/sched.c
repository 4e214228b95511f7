/* sched.c - running a sweep (sched.h): the pending tasks of the grid, longest
 * first, each run by task_run() and committed to the store by the one process
 * that owns it; periodic and final dataset snapshots; the exit code.
 *
 * The loop only sees task indices and results: who computes a result (this
 * process, or an MPI worker) is the dispatcher's business.
 */
#include "polysweep/sched.h"

#include <errno.h>
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

#define ERRLEN 1024

static int threads_for(const JobSpec *job, const SchedOptions *opt)
{
    if (opt->threads > 0)
        return opt->threads;
    if (job->run.threads > 0)
        return job->run.threads;
    return sched_affinity_cores();
}

/* Commit one finished task, report progress, snapshot when due. */
static int commit(Store *s, const Grid *g, Progress *pr, double *next_snapshot,
                  double snapshot_every, int64_t i, const TaskResult *r)
{
    char err[ERRLEN];
    if (store_commit(s, i, r, err, sizeof err) < 0) {
        fprintf(stderr, "polysweep: %s\n", err);
        return -1;
    }
    if (r->status == TASK_FAILED) {
        char label[512];
        grid_task_label(g, i, label, sizeof label);
        fprintf(stderr, "polysweep: task %s failed: %s\n", label[0] ? label : "0", r->reason);
    }
    progress_task_done(pr, grid_task_cost(g, i), r->status == TASK_FAILED);
    progress_tick(pr, 0);
    if (progress_now() >= *next_snapshot) {
        if (store_snapshot(s, err, sizeof err) < 0) {
            fprintf(stderr, "polysweep: %s\n", err);
            return -1;
        }
        *next_snapshot = progress_now() + snapshot_every;
    }
    return 0;
}

/* This process runs every task itself. */
static int run_local(Store *s, const Grid *g, const TaskQueue *q, Progress *pr,
                     double snapshot_every)
{
    double next_snapshot = progress_now() + snapshot_every;
    for (int64_t k = 0; k < q->count; k++) {
        int64_t i = q->index[k];
        TaskSpec t;
        grid_task_spec(g, i, &t);
        TaskResult *r = NULL;
        pr->running = 1;
        if (task_run(&t, &r) < 0) {
            fprintf(stderr, "polysweep: out of memory running a task\n");
            return -1;
        }
        pr->running = 0;
        r->val[RV_RANK][0] = 0;
        int rc = commit(s, g, pr, &next_snapshot, snapshot_every, i, r);
        task_result_free(&r);
        if (rc < 0)
            return -1;
    }
    return 0;
}

int sched_run(const JobSpec *job, const SchedOptions *opt)
{
    char err[ERRLEN];
    int code = PS_EXIT_INTERNAL;
    Grid *g = NULL;
    Store *s = NULL;
    TaskQueue q = {0};
    FILE *log = opt->quiet ? NULL : stderr;

    if (grid_create(job, &g, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return PS_EXIT_USAGE;
    }
    int threads = threads_for(job, opt);
    kern_blas_set_threads(threads);

    StoreRunInfo info = {
        .command = opt->command ? opt->command : "run",
        .blas_core = kern_blas_core(),
        .blas_threads = threads,
        .mpi_size = 1,
    };
    const char *output = opt->output ? opt->output : job->output;
    int rc = store_open(g, output, opt->fresh, &info, &s, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "polysweep: %s\n", err);
        code = (rc == PS_EMISMATCH || rc == PS_EBUSY) ? PS_EXIT_USAGE : PS_EXIT_INTERNAL;
        goto out;
    }
    const char *warnings = store_warnings(s);
    if (warnings[0])
        fprintf(stderr, "%s", warnings);
    if (sched_queue_pending(g, s, &q) < 0) {
        fprintf(stderr, "polysweep: out of memory\n");
        goto out;
    }

    Progress pr;
    int64_t total = grid_task_count(g);
    progress_start(&pr, log, total, total - q.count, q.cost);
    if (log)
        fprintf(log, "polysweep: %s: %lld tasks, %lld to run, 1 process, BLAS %s x%d\n",
                output, (long long)total, (long long)q.count, info.blas_core, threads);

    double snapshot_every = job->run.snapshot_every > 0 ? job->run.snapshot_every : 60;
    if (run_local(s, g, &q, &pr, snapshot_every) < 0)
        goto out;
    if (store_snapshot(s, err, sizeof err) < 0) {
        fprintf(stderr, "polysweep: %s\n", err);
        goto out;
    }
    progress_finish(&pr, output);
    code = store_count(s, TASK_FAILED) > 0 ? PS_EXIT_FAILED : PS_EXIT_OK;
out:
    sched_queue_free(&q);
    store_close(&s);
    grid_free(&g);
    return code;
}
