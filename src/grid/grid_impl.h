/* grid_impl.h - private to src/grid: what grid.c and check.c share. The
 * public contract is include/polysweep/grid.h. */
#ifndef POLYSWEEP_GRID_IMPL_H
#define POLYSWEEP_GRID_IMPL_H

#include <stddef.h>

#include "polysweep/job.h"

/* Where setting s was written: its axis's key or its fixed value; 0 if not. */
void grid_where(const JobSpec *job, int s, int *line, int *col);

/* "path:line:col: message" into err (1:1 when line is 0); returns PS_EINVAL. */
__attribute__((format(printf, 6, 7)))
int grid_fail(const JobSpec *job, int line, int col, char *err, size_t errlen,
              const char *fmt, ...);

/* Range of setting s over the grid: its axis's extremes or its fixed value. */
void grid_extremes(const JobSpec *job, int s, double *lo, double *hi);

/* The job gives setting s: in `settings:` or as an axis. */
int grid_given(const JobSpec *job, int s);

/* Every rule that ties settings together (check.c); 0 or PS_EINVAL. */
int grid_check(const JobSpec *job, char *err, size_t errlen);

#endif
