/* size_impl.h - the time estimate behind `polysweep plan JOB --nodes ...`
 * (calibrate.c; private to src/cli, used by size.c).
 *
 * Seconds per unit of the cost estimate (grid_task_cost) differ by an order
 * of magnitude between task shapes: small models are bound by per-call
 * overhead, sparse inputs take a path whose work falls with the density,
 * large models run near the GEMM rate. So the tasks are grouped by shape
 * (everything that sets the time of a step), a few representative shapes are
 * timed on this machine, and every other shape is scaled from its nearest
 * representative by the cost model.
 */
#ifndef POLYSWEEP_CLI_SIZE_IMPL_H
#define POLYSWEEP_CLI_SIZE_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "polysweep/grid.h"

/* Representatives timed at most. */
#define SIZE_MAX_REPS 8

/* Everything that sets the time of one training step (not seeds, rates,
 * sparsity on the dense path, steps). Zero-filled so it compares bytewise. */
typedef struct ShapeKey {
    int arch, n, m, batch, values, optimizer, l1, noise, population, q, eval, sparse;
    double density; /* the sparse path's work falls with it; 0 on the dense path */
} ShapeKey;

typedef struct Shape {
    ShapeKey key;
    int64_t first;         /* a task of this shape */
    int64_t ntasks;
    double step_cost;      /* cost per step (grid_task_cost / steps of `first`) */
    double work;           /* summed cost of its tasks */
    int rep;               /* the timed shape it is scaled from (itself if timed); -1 */
    double step_s, task_s; /* seconds per step, and fixed seconds per task (set-up,
                              evaluation, measurements) */
} Shape;

typedef struct SizeEstimate {
    Shape *shapes;
    int nshapes, cap;
    int *slot, nslot;      /* hash of the shapes: index + 1, 0 empty */
    int *shape_of;         /* (ntasks) each task's shape */
    int64_t ntasks;
    double max_step_cost;  /* of any task */
    int reps[SIZE_MAX_REPS], nreps; /* the timed shapes, in the order they were chosen */
    double cal_seconds;    /* time spent timing them */
    double *cost, *secs;   /* (ntasks) cost estimate and estimated seconds of each task */
    double total, largest; /* seconds of all tasks, of the longest */
} SizeEstimate;

/* Group the grid's tasks by shape. 0 or PS_ENOMEM. */
int size_shapes(const Grid *g, SizeEstimate *e);

/* Time representative shapes on this machine with the BLAS threads in force
 * (about `budget` seconds at most), scale the others, and estimate every
 * task's seconds. 0 or PS_ENOMEM. */
int size_calibrate(const Grid *g, SizeEstimate *e, double budget);

/* Wall seconds for the tasks on `workers` workers handed out like the
 * scheduler does (longest first by the cost estimate, to the first worker
 * that is free); -1 when out of memory. */
double size_makespan(SizeEstimate *e, int workers);

/* "relu_output n=20 m=5 batch=1024 ..." */
void size_shape_text(const Shape *s, char *buf, size_t len);

void size_estimate_free(SizeEstimate *e);

#endif
