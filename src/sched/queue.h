/* queue.h - the tasks a run has to do, longest first (private to src/sched). */
#ifndef POLYSWEEP_SCHED_QUEUE_H
#define POLYSWEEP_SCHED_QUEUE_H

#include <stdint.h>

#include "polysweep/grid.h"
#include "polysweep/store.h"

typedef struct TaskQueue {
    int64_t *index; /* grid indices, by decreasing estimated cost */
    int64_t count;
    double cost;    /* sum of their estimated costs */
} TaskQueue;

/* Every task the store does not hold as done or failed (or as done only,
 * with retry_failed). */
int sched_queue_pending(const Grid *g, const Store *s, int retry_failed, TaskQueue *q);
void sched_queue_free(TaskQueue *q);

/* Whether a task of estimated cost `cost` may be queued on a worker behind
 * the one it runs (mpi_dispatch.c): only when it is short, its estimated
 * time (cost x the seconds per unit of cost measured so far, wall_sum /
 * cost_sum) under SCHED_AHEAD_BELOW seconds. Long tasks never wait behind
 * another (a worker could sit idle at the end while a queued task waits),
 * and nothing is queued ahead before a first task has been timed. */
#define SCHED_AHEAD_BELOW 0.5
int sched_queue_ahead(double wall_sum, double cost_sum, double cost);

/* CPUs this process may run on (its affinity mask), at least 1. */
int sched_affinity_cores(void);

#endif
