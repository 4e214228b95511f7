/* sched.h - running a sweep: hand out the grid's pending tasks, run them,
 * commit their results to the store (design.md, "Distribution").
 *
 * The task loop does not care who runs a task: a task is identified by its
 * grid index, run by task_run() from its TaskSpec alone, and its result is
 * committed by the one process that owns the Store. Tasks are handed out
 * longest first by grid_task_cost().
 */
#ifndef POLYSWEEP_SCHED_H
#define POLYSWEEP_SCHED_H

#include "polysweep/job.h"

typedef struct SchedOptions {
    const char *output;   /* dataset path; NULL = the job's `output` */
    const char *command;  /* the command line, recorded in `history` */
    int fresh;            /* discard earlier results of this output */
    int threads;          /* BLAS threads per worker; 0 = job file or automatic */
    int quiet;            /* no progress lines */
} SchedOptions;

/* Run the job to the end. Returns a process exit code (polysweep.h):
 * PS_EXIT_OK, PS_EXIT_FAILED when some tasks failed, PS_EXIT_USAGE for a
 * refused output, PS_EXIT_INTERNAL otherwise. Messages go to stderr. */
int sched_run(const JobSpec *job, const SchedOptions *opt);

#endif
