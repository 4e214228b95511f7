/* world.h - the processes of a run and how tasks reach them (private to
 * src/sched; no MPI types here, so the task loop in sched.c never sees MPI).
 *
 * World: this process's place in the run (rank, size), the BLAS threads it
 * uses and, on rank 0, a description of the whole layout. Without a launcher
 * the world is this one process and MPI is never initialised.
 *
 * Dispatcher: what the task loop talks to. It hands tasks to idle executors
 * and returns their results; the loop does not know whether an executor is
 * this process (dispatch_local) or an MPI worker (dispatch_mpi).
 */
#ifndef POLYSWEEP_SCHED_WORLD_H
#define POLYSWEEP_SCHED_WORLD_H

#include <stddef.h>
#include <stdint.h>

#include "polysweep/grid.h"
#include "polysweep/sched.h"
#include "polysweep/store.h"
#include "polysweep/task.h"

typedef struct MpiState MpiState; /* mpi_impl.h */

typedef struct World {
    int mpi;            /* MPI is initialised (a launcher started us) */
    int rank, size;     /* 0 and 1 without MPI */
    char launcher[16];  /* SchedLaunch.launcher */
    int threads;        /* BLAS threads of this process */
    /* rank 0 only: */
    int workers;        /* processes that run tasks */
    int nodes;          /* distinct hosts */
    int threads_max;    /* largest BLAS thread count of a worker */
    char blas_core[128];/* the workers' OpenBLAS core ("A" or "mixed: A, B") */
    char layout[512];   /* one line: processes, nodes, workers x threads, cores */
    char warning[512];  /* oversubscription warning lines, each ending in '\n'; "" if none */
    MpiState *st;       /* MPI internals; NULL without MPI */
} World;

/* Start: MPI_Init when l->mpi (collective), else a world of one. */
int world_start(World *w, const SchedLaunch *l, char *err, size_t errlen);

/* Decide this process's BLAS threads: `requested` > 0 wins; otherwise the
 * cores of its affinity mask divided among the workers on the same node whose
 * masks overlap it (never more threads than cores). Collective under MPI;
 * fills the rank-0 fields. */
int world_layout(World *w, int requested, char *err, size_t errlen);

/* Agree that every process can run the job (collective under MPI; the first
 * thing every rank does after world_start, whether it found an error or not).
 * `mine` is this process's error message, or NULL. Rank 0 prints every
 * distinct message (a worker's prefixed by its rank). Returns 1 when some
 * process has an error, else 0. This is why a job-file error under mpirun is
 * reported exactly once and never lost: no rank exits before rank 0 printed. */
int world_agree(World *w, const char *mine);

/* Finalise MPI (collective) and clear *w. */
void world_end(World *w);

/* Kill the whole run (MPI_Abort under MPI, else exit). Does not return. */
void world_abort(World *w, int code) __attribute__((noreturn));

/* This process's CPU time so far (user + system, all threads, since it
 * started: getrusage survives the core check's exec), in seconds. */
double world_cpu_seconds(void);

/* ---- the dispatcher ---- */

enum {
    DISPATCH_TIMEOUT = 0,
    DISPATCH_RESULT = 1,
    DISPATCH_IDLE = 2,
    DISPATCH_INTERRUPTED = 3, /* a task stopped before its end (done.step) */
};

typedef struct DispatchDone {
    int64_t task;       /* grid index */
    int rank;           /* the process that ran it */
    TaskResult *result; /* the caller owns it; NULL when interrupted */
    int64_t step;       /* interrupted: the step its checkpoint holds; -1 none,
                           -2 it never started */
} DispatchDone;

/* What executors need once the output is open: where checkpoints go and how
 * often, and whether to log. */
typedef struct DispatchSetup {
    StoreCkpt *ck;       /* rank 0's (the local executor uses it) */
    const char *output;  /* absolute output path (MPI workers open their own) */
    const char *token;   /* rank 0's shared-storage token (store_token_write); the
                            MPI workers check it before anything else */
    double every;        /* seconds between checkpoints */
    int quiet;
} DispatchSetup;

typedef struct Dispatcher {
    const char *kind;                        /* "local" or "mpi" */
    int (*running)(void *ctx);               /* tasks handed out, result not back */
    int (*busy)(void *ctx);                  /* executors running one of them (the
                                                others wait in a worker's queue) */
    /* Hand out a task: 1 when an executor took it, 0 when none can now (the
     * loop offers it again after the next event), or a negative PS_E* code. */
    int (*submit)(void *ctx, int64_t task);
    /* Wait up to `timeout` seconds: DISPATCH_RESULT (done filled),
     * DISPATCH_IDLE (an executor became ready), DISPATCH_TIMEOUT, or a negative
     * PS_E* code with a message. */
    int (*wait)(void *ctx, double timeout, DispatchDone *done, char *err, size_t errlen);
    /* Tell the executors where checkpoints go (before the first submit) and
     * wait until each confirmed it sees the output (the token). Returns 0;
     * PS_EMISMATCH when some executor does not see it (the messages are
     * printed: nothing may run), PS_ELOST, or another negative PS_E* code. */
    int (*setup)(void *ctx, const DispatchSetup *s);
    /* Ask the running tasks to stop: level 1 saves a checkpoint at the next
     * tick, level 2 stops without saving. Each comes back as
     * DISPATCH_INTERRUPTED (or DISPATCH_RESULT when it finished first). */
    void (*stop)(void *ctx, int level);
    /* Release every executor (they leave their loops; `code` is the run's
     * exit code, which MPI workers exit with when it is PS_EXIT_INCOMPLETE).
     * Returns 0, or <0 when some still run a task: then only world_abort
     * ends the run cleanly. */
    int (*close)(void *ctx, int code);
    void *ctx;
} Dispatcher;

/* This process runs each task itself, recording `rank` as the runner. */
int dispatch_local(Dispatcher *d, const Grid *g, int rank);

/* Rank 0 of an MPI world of size >= 2: ranks 1..N-1 are the executors. */
int dispatch_mpi(Dispatcher *d, World *w, const Grid *g, char *err, size_t errlen);

/* Ranks 1..N-1: ask for tasks, run them, send results until rank 0 says
 * finish. Returns a process exit code (PS_EXIT_INCOMPLETE when the run was
 * interrupted, else PS_EXIT_OK: rank 0 reports the outcome). */
int worker_run(World *w, const Grid *g);

#endif
