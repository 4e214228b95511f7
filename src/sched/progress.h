/* progress.h - the status line rank 0 prints while a sweep runs (private to
 * src/sched). Rates and ETA are in units of the grid's cost estimate, so a
 * sweep whose big tasks ran first does not report a falsely early finish. */
#ifndef POLYSWEEP_SCHED_PROGRESS_H
#define POLYSWEEP_SCHED_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

typedef struct Progress {
    FILE *out;          /* stderr, or NULL when quiet */
    int64_t total;      /* tasks in the grid */
    int64_t skipped;    /* already done before this run */
    int64_t done, failed;
    int64_t running, queued; /* tasks being run; handed out and waiting in a worker's queue */
    double cost_total;  /* estimated cost of the tasks this run has to do */
    double cost_done;
    double start, last_print; /* monotonic seconds */
    double interval;    /* seconds between lines; 0 = adaptive (see progress.c) */
} Progress;

double progress_now(void);
/* Start the clock. The interval between lines comes from
 * POLYSWEEP_PROGRESS_INTERVAL (seconds) when set, else it adapts. */
void progress_start(Progress *p, FILE *out, int64_t total, int64_t skipped,
                    double cost_total);
/* A task finished (failed or not) with estimated cost `cost`. */
void progress_task_done(Progress *p, double cost, int failed);
/* Monotonic time at which the next line is due (for wait timeouts). */
double progress_next_due(const Progress *p);
/* Print a line if the interval has passed (force: print now). */
void progress_tick(Progress *p, int force);
/* The final summary line; `extra` (may be NULL) is appended after "; ". */
void progress_finish(Progress *p, const char *what, const char *extra);

#endif
