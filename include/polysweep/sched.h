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

#include <stddef.h>

#include "polysweep/job.h"

typedef struct SchedOptions {
    const char *output;   /* dataset path; NULL = the job's `output` */
    const char *command;  /* the command line, recorded in `history` */
    int fresh;            /* discard earlier results of this output */
    int threads;          /* BLAS threads per worker; 0 = job file or automatic */
    int quiet;            /* no progress lines */
    const char *blas_note;/* the OpenBLAS core check's line (kern_blas_core_check);
                             NULL = none. Logged by rank 0 and kept in the dataset. */
    int blas_warn;        /* 1: the note is a warning (printed even when quiet) */
    int retry_failed;     /* run tasks recorded as failed again (the new result
                             replaces the old one) */
    double checkpoint_every; /* seconds between checkpoints of a running task;
                                0 = the job's run.checkpoint_every, else 300 */
    int shard_k, shard_n;     /* run shard k of n (grid_shard_members) into its own
                                 output; 0, 0: the whole sweep */
} SchedOptions;

/* How this process was started, read from the environment only (MPI is not
 * initialised: singleton MPI_Init is slow and fragile, so a process that no
 * MPI launcher started never touches MPI).
 * mpirun (Open MPI: OMPI_COMM_WORLD_*), srun --mpi=pmix or another PMIx
 * launcher (PMIX_RANK), MPICH's hydra or PMI-2 (PMI_RANK): mpi = 1. */
typedef struct SchedLaunch {
    int mpi;          /* 1: an MPI launcher started this process */
    int rank;         /* this process's rank (0 when not known from the environment) */
    int size;         /* processes, or 0 when the environment does not say */
    char launcher[16];/* "mpirun", "srun", "pmix", "pmi", or "none" */
} SchedLaunch;

/* Fill *l. Returns 0, or PS_EINVAL with a message when the environment is
 * inconsistent (srun started several tasks without an MPI environment). */
int sched_launch_detect(SchedLaunch *l, char *err, size_t errlen);

/* Report an error found before sched_run (the command line, the job file),
 * `message` ending in a newline. Without an MPI launcher it is printed. Under
 * one this is collective and meets sched_run's first step on the ranks that
 * got that far: rank 0 prints every distinct message once (a worker's with its
 * rank), and no rank exits before it has. Returns PS_EXIT_USAGE. */
int sched_usage_error(const char *message);

/* Run the job to the end. Returns a process exit code (polysweep.h):
 * PS_EXIT_OK, PS_EXIT_FAILED when some tasks failed, PS_EXIT_INCOMPLETE when
 * a signal stopped it (see below), PS_EXIT_USAGE for a refused output (another
 * job's, in use by another run, a damaged journal, or one that some MPI
 * worker does not see where rank 0 does: it must be on storage every node
 * shares), PS_EXIT_LOST when a worker went silent for POLYSWEEP_WORKER_TIMEOUT
 * (its host is appended to POLYSWEEP_LOST_FILE when set; the run ends through
 * MPI_Abort), PS_EXIT_INTERNAL otherwise. Messages go to stderr.
 *
 * Finished tasks of an earlier run of the same output are skipped (failed ones
 * too, unless retry_failed); a task with a checkpoint continues from it.
 * Running tasks save a checkpoint every checkpoint_every seconds.
 *
 * Signals (every rank handles them; the handler stays installed): the first
 * SIGTERM, SIGUSR1 or SIGINT stops handing out tasks, makes running tasks save
 * a checkpoint at their next tick and report "interrupted", writes the
 * snapshot and returns PS_EXIT_INCOMPLETE on every rank; a second one stops
 * at once (rank 0 snapshots what is committed, without waiting for
 * checkpoints). A signal that reaches only rank 0 is passed on to the busy
 * workers; one that reaches only a worker stops the whole run the same way.
 *
 * Under an MPI launcher (sched_launch_detect) this is collective over all
 * processes: it initialises and finalises MPI. Rank 0 schedules and is the only
 * writer; ranks 1..N-1 pull tasks and send back results (with N = 1, rank 0
 * runs the tasks itself). Every rank calls it with the same job and options;
 * workers return PS_EXIT_OK unless they fail themselves. */
int sched_run(const JobSpec *job, const SchedOptions *opt);

#endif
