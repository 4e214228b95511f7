/* exec.h - running one task where it is run (rank 0 alone, or an MPI
 * worker), with checkpoints and stop requests (private to src/sched).
 *
 * exec_task resumes the task from its checkpoint when one is valid, saves a
 * checkpoint every `every` seconds of the task's training (and once more when
 * asked to stop), and stops at the next tick when a stop is requested: by a
 * signal to this process (signals.h), by the dispatcher (`requested`, rank 0
 * alone), or by a message from rank 0 (`poll`, an MPI worker). The task
 * module only sees hooks; the files are the store's (store.h, checkpoints).
 */
#ifndef POLYSWEEP_SCHED_EXEC_H
#define POLYSWEEP_SCHED_EXEC_H

#include <stdint.h>
#include <stdio.h>

#include "polysweep/grid.h"
#include "polysweep/store.h"
#include "polysweep/task.h"

/* Seconds between two calls of Exec.poll (an MPI_Iprobe for a stop message). */
#define EXEC_POLL_EVERY 0.1

typedef struct Exec {
    const Grid *g;
    StoreCkpt *ck;    /* NULL: no checkpoints (not set up yet) */
    int own_ck;       /* 1: exec_clear closes ck (a worker opened it) */
    double every;     /* seconds between checkpoints of a running task */
    int rank;         /* for messages: > 0 prefixes "rank R: " */
    FILE *log;        /* resume lines; NULL when quiet (warnings go to stderr) */
    int requested;    /* stop level asked for from outside the process (0, 1, 2) */
    /* Optional: the stop level rank 0 asks for (0 when none), called at most
     * every EXEC_POLL_EVERY seconds from the ticks. */
    int (*poll)(void *ctx);
    void *poll_ctx;
    /* Test hooks, POLYSWEEP_TEST_DELAY="checkpoint:SECONDS,step:SECONDS" (either
     * or both; results are unchanged):
     *   checkpoint  each checkpoint save first waits this long (a slow file
     *               system), giving up when a second signal arrives
     *   step        training is slowed by this much per step (slept at the
     *               ticks), so that tests get tasks of a known duration
     *               whatever the machine's speed */
    double delay;
    double step_delay;
    int save_warned;  /* a failed save was reported once */
} Exec;

/* Fill e with defaults (no checkpoints yet, not quiet). */
void exec_init(Exec *e, const Grid *g, int rank);
void exec_clear(Exec *e);

/* The stop level in force: max(signals, requested). */
int exec_stop_level(const Exec *e);

/* Run task i. Returns 0 with its result in *out; PS_EINTR when it stopped
 * (*ckpt_step = the step its checkpoint holds, -1 when it has none, -2 when
 * it never started because a stop was already in force); or a negative
 * error (out of memory). */
int exec_task(Exec *e, int64_t i, TaskResult **out, int64_t *ckpt_step);

#endif
