/* dataset_impl.h - what dataset.c (the file and its variables) and coords.c
 * (dimensions and coordinates) share; private to src/store. These two files
 * are the only ones of the project that include netcdf.h.
 */
#ifndef POLYSWEEP_STORE_DATASET_IMPL_H
#define POLYSWEEP_STORE_DATASET_IMPL_H

#include <stddef.h>

#include "store_impl.h"

#define DATASET_MAX_AXES 62 /* grid axes; with the trailing dimensions <= 64 */

/* Dimension ids of a dataset being defined; -1 for a dimension no variable
 * uses (it is not written). */
typedef struct Dims {
    int ngrid;                        /* grid axes */
    int grid[DATASET_MAX_AXES];       /* their dimension ids */
    size_t size[DATASET_MAX_AXES];    /* their sizes */
    int coord[DATASET_MAX_AXES];      /* their coordinate variables */
    int feature, neuron, log_step, block;
    int step_id;                      /* the coordinate step (log_step), or -1 */
    int setting_var[256];             /* setting -> its coordinate variable, or -1 (axes) */
    char coordinates[4096];           /* the `coordinates` attribute of data variables */
} Dims;

/* "OUT: <nc_strerror> (while <what>)" into err; PS_EIO or PS_ENOMEM. */
__attribute__((format(printf, 5, 6)))
int dataset_nc_error(const Store *s, int status, char *err, size_t errlen, const char *fmt,
                     ...);

/* A NetCDF call in a function with `ret`, `err`, `errlen`, a Store `s` and a
 * `fail:` label: on error, the message and a jump to fail. */
#define TRY(call, ...)                                                         \
    do {                                                                       \
        int st_ = (call);                                                      \
        if (st_ != 0) {                                                        \
            ret = dataset_nc_error(s, st_, err, errlen, __VA_ARGS__);          \
            goto fail;                                                         \
        }                                                                      \
    } while (0)

/* Set a text attribute. */
int dataset_put_text(int ncid, int var, const char *name, const char *text);

/* long_name, description and (when not NULL) units of a variable. */
int dataset_describe(int ncid, int var, const char *long_name, const char *description,
                     const char *units);

/* Define the dimensions the kept variables use and every coordinate: the
 * axes, feature, neuron, log_step and block indices, and one coordinate per
 * setting that is not an axis (scalar, or over the axes its resolved value
 * depends on). Fills dm. */
int dataset_define_coords(const Store *s, int ncid, Dims *dm, char *err, size_t errlen);

/* Write the coordinates' values (after nc_enddef). */
int dataset_write_coords(const Store *s, int ncid, const Dims *dm, char *err, size_t errlen);

#endif
