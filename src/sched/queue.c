/* queue.c - pending tasks ordered longest first (design.md, Distribution):
 * the slowest tasks must not start last. Ties keep grid order, so the order
 * is a function of the job alone. And which tasks may wait on a worker
 * behind the one it runs (only short ones). */
#include "queue.h"

#include <sched.h>
#include <stdlib.h>

#include "polysweep/polysweep.h"
#include "polysweep/task.h"

typedef struct CostIndex { double cost; int64_t index; } CostIndex;

static int by_cost_desc(const void *a, const void *b)
{
    const CostIndex *x = a, *y = b;
    if (x->cost != y->cost)
        return x->cost > y->cost ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

int sched_queue_pending(const Grid *g, const Store *s, int retry_failed, TaskQueue *q)
{
    int64_t total = grid_task_count(g), n = 0;
    CostIndex *ci = malloc((size_t)(total > 0 ? total : 1) * sizeof *ci);
    q->index = malloc((size_t)(total > 0 ? total : 1) * sizeof *q->index);
    if (!ci || !q->index) {
        free(ci);
        sched_queue_free(q);
        return PS_ENOMEM;
    }
    for (int64_t i = 0; i < total; i++) {
        int st = store_task_status(s, i);
        if (st == TASK_DONE || (st == TASK_FAILED && !retry_failed))
            continue;
        ci[n++] = (CostIndex){grid_task_cost(g, i), i};
    }
    qsort(ci, (size_t)n, sizeof *ci, by_cost_desc);
    q->cost = 0;
    for (int64_t k = 0; k < n; k++) {
        q->index[k] = ci[k].index;
        q->cost += ci[k].cost;
    }
    q->count = n;
    free(ci);
    return 0;
}

int sched_queue_ahead(double wall_sum, double cost_sum, double cost)
{
    return cost_sum > 0 && wall_sum / cost_sum * cost < SCHED_AHEAD_BELOW;
}

void sched_queue_free(TaskQueue *q)
{
    free(q->index);
    q->index = NULL;
    q->count = 0;
}

int sched_affinity_cores(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return n;
    }
    return 1;
}
