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

/* The same without the key (key = 0): cheaper, for scans over the settings. */
void grid_task_settings(const Grid *g, int64_t i, TaskSpec *out);

/* Estimated cost of task i in floating-point operations (training plus
 * evaluation); used to hand out the longest tasks first and for `plan`. */
double grid_task_cost(const Grid *g, int64_t i);

/* Largest n, m and loss-curve length over all tasks (dataset dimensions). */
int grid_max_n(const Grid *g);
int grid_max_m(const Grid *g);
int grid_max_log(const Grid *g);

/* The random-stream key of a task: a 64-bit hash of its seed and label. */
uint64_t grid_key(int64_t seed, const char *label);

/* ---- whole-grid scans (scan.c) ---- */

/* Setting s's value in a resolved TaskSpec (as a double, like JobSpec.fixed). */
double grid_spec_setting(const TaskSpec *t, int s);

/* For every setting that is not an axis, the axes its resolved value depends
 * on: mask[s] bit a is set when two tasks that differ only on axis a resolve
 * s differently (sparsity from a density axis, batch = n for one_hot, bias
 * of power along arch); mask[s] == 0 when every task has the same value.
 * Axes beyond the 64th are not tracked. mask has job_setting_count entries
 * (those of axes are 0). A pass over every task: O(tasks x axes) task specs
 * at most. 0 or PS_ENOMEM. */
int grid_setting_axes(const Grid *g, uint64_t *mask);

/* Split the grid into nshards shards balanced by grid_task_cost: longest
 * processing time first (tasks by decreasing cost, ties by index, each to
 * the least loaded shard, ties to the lowest). shard_of[i] is task i's shard,
 * 0-based. A function of the job and nshards alone. 0, PS_EINVAL (nshards <
 * 1) or PS_ENOMEM. */
int grid_shard_assign(const Grid *g, int nshards, uint32_t *shard_of);

/* member[i] = 1 when task i is in shard k of nshards (k 1-based, as the
 * command line writes it: --shard k/nshards), else 0; *count (may be NULL)
 * the shard's tasks. 0, PS_EINVAL or PS_ENOMEM. */
int grid_shard_members(const Grid *g, int k, int nshards, unsigned char *member,
                       int64_t *count);

#endif
