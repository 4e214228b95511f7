/* grid.h - the cartesian product of a job's axes: task indices, coordinates,
 * labels, TaskSpecs and cost estimates.
 *
 * Task index i (0 <= i < grid_task_count) enumerates the product in row-major
 * order over the axes in file order (the last axis varies fastest), which is
 * also the dataset's array order.
 *
 * A task's label is its canonical coordinate text, "name=value;name=value" over
 * the axes in file order (values in job_value_text form; "" with no axes). The
 * label - not the index - identifies a task across runs, so adding values to an
 * axis leaves every existing task's identity, random streams and results alone.
 *
 * Ownership: grid_create allocates, grid_free releases. The Grid borrows the
 * JobSpec, which must outlive it.
 */
#ifndef POLYSWEEP_GRID_H
#define POLYSWEEP_GRID_H

#include <stddef.h>
#include <stdint.h>

#include "polysweep/job.h"
#include "polysweep/task.h"

typedef struct Grid Grid;

/* Build the grid and check every task's settings together (for example
 * that sparsity and density are not both given). Errors name the job file. */
int grid_create(const JobSpec *job, Grid **out, char *err, size_t errlen);
void grid_free(Grid **g);

const JobSpec *grid_job(const Grid *g);
int64_t grid_task_count(const Grid *g);

/* Per-axis coordinate indices of task i (job->naxes entries). */
void grid_coords(const Grid *g, int64_t i, int *coord);

/* Task index from per-axis coordinate indices. */
int64_t grid_index(const Grid *g, const int *coord);

/* The canonical label of task i (see above). Returns the length it needs,
 * like snprintf. */
size_t grid_task_label(const Grid *g, int64_t i, char *buf, size_t len);

/* Index of the task with this label, or -1 when the grid has none. */
int64_t grid_find(const Grid *g, const char *label);

/* The resolved settings of task i, with TaskSpec.key set. */
void grid_task_spec(const Grid *g, int64_t i, TaskSpec *out);

/* Estimated cost of task i in floating-point operations (training plus
 * evaluation); used to hand out the longest tasks first and for `plan`. */
double grid_task_cost(const Grid *g, int64_t i);

/* Largest n, m and loss-curve length over all tasks (dataset dimensions). */
int grid_max_n(const Grid *g);
int grid_max_m(const Grid *g);
int grid_max_log(const Grid *g);

/* The random-stream key of a task: a 64-bit hash of its seed and label. */
uint64_t grid_key(int64_t seed, const char *label);

#endif
