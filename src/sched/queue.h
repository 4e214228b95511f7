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

/* Every task of the output (the shard's, in a shard output) the store does
 * not hold as done or failed (or as done only, with retry_failed). */
int sched_queue_pending(const Grid *g, const Store *s, int retry_failed, TaskQueue *q);
void sched_queue_free(TaskQueue *q);

/* CPUs this process may run on (its affinity mask), at least 1. */
int sched_affinity_cores(void);

#endif
