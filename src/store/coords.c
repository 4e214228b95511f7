/* coords.c - the dataset's dimensions and coordinates (README "Dataset
 * reference"): every setting of the sweep is in the dataset, so that sweeps
 * combine in xarray (xr.combine_by_coords, xr.concat) or fail loudly.
 *
 *   grid axes      a dimension each, named like the setting (its dataset
 *                  name: `values` is `value_law`), with the axis values
 *   other settings a coordinate each: scalar when every task resolves it to
 *                  the same value, else over the axes it depends on
 *                  (grid_setting_axes: density along a sparsity axis, batch
 *                  along n for one_hot, bias along arch with power)
 *   feature, neuron, log_step, block
 *                  dimensions without coordinate variables (define_dim says
 *                  why), defined only when a kept variable uses them; `step`
 *                  (log_step) is the training step each loss-curve entry
 *                  ends at
 *
 * Types: integers int64, reals double, choices strings, booleans int8 with
 * dtype = "bool" (xarray decodes them to bool, so ds.sel(bias=True) works)
 * and CF flag_values / flag_meanings. long_name is the setting's short label,
 * description its help text, units "1" for numbers and none for strings and
 * flags (UDUNITS has no unit for either).
 */
#include <math.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "polysweep/polysweep.h"
#include "dataset_impl.h"

static nc_type setting_type(const Setting *set)
{
    return set->type == SET_INT    ? NC_INT64
           : set->type == SET_REAL ? NC_DOUBLE
           : set->type == SET_BOOL ? NC_BYTE
                                   : NC_STRING;
}

/* A coordinate variable of setting si over dims, with its metadata. */
static int define_setting(const Store *s, int ncid, int si, int nd, const int *dims,
                          int *var, char *err, size_t errlen)
{
    const Setting *set = &job_settings[si];
    const char *name = job_setting_dataset_name(si);
    int ret = 0;
    TRY(nc_def_var(ncid, name, setting_type(set), nd, dims, var), "defining coordinate %s",
        name);
    TRY(dataset_describe(ncid, *var, set->label ? set->label : name, set->help, set->units),
        "describing %s", name);
    if (set->type == SET_BOOL) {
        static const signed char flags[2] = {0, 1};
        TRY(dataset_put_text(ncid, *var, "dtype", "bool"), "describing %s", name);
        TRY(nc_put_att_schar(ncid, *var, "flag_values", NC_BYTE, 2, flags), "describing %s",
            name);
        TRY(dataset_put_text(ncid, *var, "flag_meanings", "false true"), "describing %s",
            name);
    }
fail:
    return ret;
}

/* A dimension of the result variables, when some variable uses it. It has no
 * coordinate variable (xarray numbers it 0, 1, ...), so it is no index: an
 * index starting at 0 in every sweep would make xr.combine_by_coords of two
 * sweeps with other n or steps keep one of them silently (it orders datasets
 * by an index's first value); without one it refuses them. */
static int define_dim(const Store *s, int ncid, const char *name, size_t len, int used,
                      int *dim, char *err, size_t errlen)
{
    int ret = 0;
    *dim = -1;
    if (used) TRY(nc_def_dim(ncid, name, len, dim), "defining dimension %s", name);
fail:
    return ret;
}

int dataset_define_coords(const Store *s, int ncid, Dims *dm, char *err, size_t errlen)
{
    const JobSpec *job = s->job;
    int ret = 0, uses[SHAPE_BLOCK + 1] = {0};
    if (job->naxes > DATASET_MAX_AXES || job_setting_count > 256) {
        snprintf(err, errlen, "%s: too many axes (%d; at most %d)", s->output, job->naxes,
                 DATASET_MAX_AXES);
        return PS_EINVAL;
    }
    for (int v = 0; v < RV_COUNT; v++)
        if (s->slot[v]) uses[result_vars[v].shape] = 1;
    dm->ngrid = job->naxes;
    for (int a = 0; a < job->naxes; a++) {
        int si = job->axes[a].setting;
        const char *name = job_setting_dataset_name(si);
        dm->size[a] = (size_t)job->axes[a].count;
        TRY(nc_def_dim(ncid, name, dm->size[a], &dm->grid[a]), "defining dimension %s", name);
        if ((ret = define_setting(s, ncid, si, 1, &dm->grid[a], &dm->coord[a], err, errlen)))
            goto fail;
    }
    /* feature, neuron, log_step, then block, in this order (the dataset's
     * dimension order). */
    if ((ret = define_dim(s, ncid, "feature", (size_t)s->max_n,
                          uses[SHAPE_FEATURE] || uses[SHAPE_WEIGHTS], &dm->feature, err,
                          errlen)) ||
        (ret = define_dim(s, ncid, "neuron", (size_t)s->max_m,
                          uses[SHAPE_NEURON] || uses[SHAPE_WEIGHTS], &dm->neuron, err,
                          errlen)) ||
        (ret = define_dim(s, ncid, "log_step", (size_t)s->max_log, uses[SHAPE_CURVE],
                          &dm->log_step, err, errlen)) ||
        (ret = define_dim(s, ncid, "block", (size_t)s->max_n, uses[SHAPE_BLOCK], &dm->block,
                          err, errlen)))
        goto fail;
    dm->step_id = -1;
    if (dm->log_step >= 0) {
        /* The step each loss-curve entry ends at: a coordinate, not an index. */
        TRY(nc_def_var(ncid, "step", NC_INT64, 1, &dm->log_step, &dm->step_id),
            "defining step");
        TRY(dataset_describe(ncid, dm->step_id, "training step at the window's end",
                             "loss-curve entry k averages the training loss over the steps "
                             "k log_every + 1 .. (k + 1) log_every; step is the last of them",
                             "1"),
            "describing step");
    }

    /* Every other setting, over the axes its resolved value depends on. */
    size_t used = 0;
    dm->coordinates[0] = '\0';
    for (int si = 0; si < job_setting_count; si++) {
        dm->setting_var[si] = -1;
        if (job_axis_of(job, si) >= 0) continue;
        int dims[DATASET_MAX_AXES], nd = 0;
        for (int a = 0; a < job->naxes; a++)
            if (s->setting_axes[si] >> a & 1) dims[nd++] = dm->grid[a];
        if ((ret = define_setting(s, ncid, si, nd, dims, &dm->setting_var[si], err, errlen)))
            goto fail;
        used += (size_t)snprintf(dm->coordinates + used, sizeof dm->coordinates - used, "%s%s",
                                 used ? " " : "", job_setting_dataset_name(si));
        if (used >= sizeof dm->coordinates) {
            snprintf(err, errlen, "%s: too many settings for the coordinates attribute",
                     s->output);
            return PS_EINVAL;
        }
    }
fail:
    return ret;
}

/* count values of setting si (doubles, as JobSpec holds them) into var, in
 * the setting's NetCDF type. */
static int put_values(const Store *s, int ncid, int si, int var, const double *v,
                      size_t count, char *err, size_t errlen)
{
    const Setting *set = &job_settings[si];
    const char *name = job_setting_dataset_name(si);
    int ret = 0;
    void *buf = malloc((count ? count : 1) * sizeof(long long));
    if (!buf) return PS_ENOMEM;
    for (size_t k = 0; k < count; k++) {
        switch (set->type) {
        case SET_INT: ((long long *)buf)[k] = llround(v[k]); break;
        case SET_REAL: ((double *)buf)[k] = v[k]; break;
        case SET_BOOL: ((signed char *)buf)[k] = v[k] != 0.0; break;
        case SET_ENUM: ((const char **)buf)[k] = set->choices[(int)v[k]]; break;
        }
    }
    switch (set->type) {
    case SET_INT: TRY(nc_put_var_longlong(ncid, var, buf), "writing %s", name); break;
    case SET_REAL: TRY(nc_put_var_double(ncid, var, buf), "writing %s", name); break;
    case SET_BOOL: TRY(nc_put_var_schar(ncid, var, buf), "writing %s", name); break;
    case SET_ENUM: TRY(nc_put_var_string(ncid, var, buf), "writing %s", name); break;
    }
fail:
    free(buf);
    return ret;
}

/* Setting si's resolved values over the axes in mask (row-major, like the
 * dataset), the other axes at their first value. */
static int write_setting(const Store *s, int ncid, int si, uint64_t mask, int var,
                         char *err, size_t errlen)
{
    const JobSpec *job = s->job;
    int coord[DATASET_MAX_AXES] = {0};
    size_t count = 1;
    for (int a = 0; a < job->naxes; a++)
        if (mask >> a & 1) count *= (size_t)job->axes[a].count;
    double *v = malloc(count * sizeof *v);
    if (!v) return PS_ENOMEM;
    for (size_t k = 0; k < count; k++) {
        /* k in the mixed radix of the masked axes, last axis fastest. */
        size_t rest = k;
        for (int a = job->naxes - 1; a >= 0; a--) {
            if (!(mask >> a & 1)) continue;
            coord[a] = (int)(rest % (size_t)job->axes[a].count);
            rest /= (size_t)job->axes[a].count;
        }
        TaskSpec t;
        grid_task_settings(s->g, grid_index(s->g, coord), &t);
        v[k] = grid_spec_setting(&t, si);
    }
    int ret = put_values(s, ncid, si, var, v, count, err, errlen);
    free(v);
    return ret;
}

int dataset_write_coords(const Store *s, int ncid, const Dims *dm, char *err, size_t errlen)
{
    const JobSpec *job = s->job;
    int ret = 0;
    for (int a = 0; a < job->naxes; a++)
        if ((ret = put_values(s, ncid, job->axes[a].setting, dm->coord[a], job->axes[a].values,
                              (size_t)job->axes[a].count, err, errlen)))
            return ret;
    for (int si = 0; si < job_setting_count; si++)
        if (dm->setting_var[si] >= 0 &&
            (ret = write_setting(s, ncid, si, s->setting_axes[si], dm->setting_var[si], err,
                                 errlen)))
            return ret;
    if (dm->step_id < 0) return 0;
    long long *step = malloc((size_t)(s->max_log > 0 ? s->max_log : 1) * sizeof *step);
    if (!step) return PS_ENOMEM;
    /* step = (k + 1) * log_every: entry k averages the losses of the steps up
     * to it (task.h, task_log_count). log_every is fixed. */
    long long every = llround(job->fixed[job_setting_find("log_every")]);
    for (int k = 0; k < s->max_log; k++) step[k] = (long long)(k + 1) * every;
    TRY(nc_put_var_longlong(ncid, dm->step_id, step), "writing step");
fail:
    free(step);
    return ret;
}
