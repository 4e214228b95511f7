/* dataset.c - the NetCDF-4 snapshot of a Store (design.md, "The dataset"),
 * laid out for xarray.open_dataset with no post-processing, and written
 * atomically: a temporary file in the output's directory, fsync, rename onto
 * the output, fsync of the directory. Dimensions and coordinates are
 * coords.c's; this file defines the data variables and the global
 * attributes, and writes the file.
 *
 * Layout (README "Dataset reference" lists every name):
 *   dimensions   one per grid axis, then feature, neuron, log_step, block
 *                (those some variable uses)
 *   coordinates  the axes, the index dimensions, and every other setting (a
 *                scalar coordinate, or over the axes it depends on)
 *   variables    status and reason, then one per result variable of the
 *                catalog (task.h, result_vars) that some task of the grid
 *                measures (task_measures), over the grid dimensions plus its
 *                own (none | feature | neuron | log_step | neuron, feature
 *                | block); each lists the setting coordinates in its CF
 *                `coordinates` attribute
 *
 * Missing values: NaN for reals. Counts are int32 with _FillValue
 * NC_FILL_INT only when some entry is missing (a pending or failed task, an
 * entry beyond a task's own n), so that xarray keeps them integers whenever
 * it can: it turns a masked integer variable into floats.
 *
 * Chunking rule: a chunk holds whole trailing non-grid dimensions, and whole
 * grid dimensions from the last one backwards while the chunk stays within
 * 256 KiB; the first grid dimension that does not fit whole is cut to what
 * fits (at least 1), and the ones before it to 1. Numeric data variables are
 * compressed with deflate level 1 and the shuffle filter.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netcdf.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "polysweep/polysweep.h"
#include "polysweep/store.h"
#include "dataset_impl.h"

#define CHUNK_TARGET_BYTES (256u * 1024u)
#define MAX_DIMS 64 /* grid axes + 2 */

/* The papers of science.md, for the `references` attribute. */
static const char references[] =
    "Elhage et al. 2022, Toy Models of Superposition, arXiv:2209.10652\n"
    "Scherlis, Sachan, Jermyn, Benton, Shlegeris, Polysemanticity and Capacity in "
    "Neural Networks, arXiv:2210.01892\n"
    "Chowdhury & Weiner, Effects of sparsity and superposition on loss in simple "
    "autoencoders, arXiv:2606.18538\n"
    "Lecomte, Thaman, Schaeffer, Bashkansky, Chow, Koyejo, What causes "
    "polysemanticity? An alternative origin story of mixed selectivity from "
    "incidental causes, arXiv:2312.03096";

/* The one place NetCDF status codes become messages:
 * "results/x.nc: <nc_strerror> (while <what>)". */
int dataset_nc_error(const Store *s, int status, char *err, size_t errlen, const char *fmt,
                     ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%s: %s (while %s)", s->output, nc_strerror(status), what);
    return status == NC_ENOMEM ? PS_ENOMEM : PS_EIO;
}

/* Chunk sizes by the rule in the file comment. */
static void chunk_sizes(const size_t *shape, int ngrid, int ndims, size_t elsize,
                        size_t *chunk)
{
    size_t bytes = elsize;
    for (int d = ngrid; d < ndims; d++) {
        chunk[d] = shape[d];
        bytes *= shape[d];
    }
    int d = ngrid - 1;
    for (; d >= 0; d--) {
        if (bytes * shape[d] <= CHUNK_TARGET_BYTES) {
            chunk[d] = shape[d];
            bytes *= shape[d];
            continue;
        }
        size_t fit = CHUNK_TARGET_BYTES / bytes;
        chunk[d] = fit ? fit : 1;
        break;
    }
    for (d--; d >= 0; d--) chunk[d] = 1;
}

int dataset_put_text(int ncid, int var, const char *name, const char *text)
{
    return nc_put_att_text(ncid, var, name, strlen(text), text);
}

int dataset_describe(int ncid, int var, const char *long_name, const char *description,
                     const char *units)
{
    int st = dataset_put_text(ncid, var, "long_name", long_name);
    if (st == NC_NOERR && description && *description)
        st = dataset_put_text(ncid, var, "description", description);
    if (st == NC_NOERR && units) st = dataset_put_text(ncid, var, "units", units);
    return st;
}

/* A data variable over the grid dims plus `extra` trailing ones: define it,
 * chunk and compress it, describe it, list the setting coordinates. */
static int define_var(const Store *s, int ncid, const Dims *dm, const char *name,
                      nc_type type, const int *extra, int nextra, const char *long_name,
                      const char *description, const char *units, int *varid, char *err,
                      size_t errlen)
{
    int ret = 0, dimids[MAX_DIMS + 2];
    size_t shape[MAX_DIMS + 2], chunk[MAX_DIMS + 2];
    int nd = dm->ngrid + nextra;
    for (int d = 0; d < dm->ngrid; d++) {
        dimids[d] = dm->grid[d];
        shape[d] = dm->size[d];
    }
    for (int k = 0; k < nextra; k++) {
        dimids[dm->ngrid + k] = extra[k];
        TRY(nc_inq_dimlen(ncid, extra[k], &shape[dm->ngrid + k]), "defining %s", name);
    }
    TRY(nc_def_var(ncid, name, type, nd, dimids, varid), "defining variable %s", name);
    if (nd > 0 && type != NC_STRING) {
        size_t elsize = type == NC_BYTE ? 1 : type == NC_INT || type == NC_FLOAT ? 4 : 8;
        chunk_sizes(shape, dm->ngrid, nd, elsize, chunk);
        TRY(nc_def_var_chunking(ncid, *varid, NC_CHUNKED, chunk), "chunking %s", name);
        TRY(nc_def_var_deflate(ncid, *varid, elsize > 1, 1, 1), "compressing %s", name);
    }
    TRY(dataset_describe(ncid, *varid, long_name, description, units), "describing %s", name);
    int curve = nextra > 0 && extra[0] == dm->log_step;
    if (dm->coordinates[0] || curve) {
        char coords[sizeof dm->coordinates + 8];
        snprintf(coords, sizeof coords, "%s%s", dm->coordinates,
                 !curve ? "" : dm->coordinates[0] ? " step" : "step");
        TRY(dataset_put_text(ncid, *varid, "coordinates", coords), "describing %s", name);
    }
fail:
    return ret;
}

static int put_count(const Store *s, int ncid, const char *name, long long v, char *err,
                     size_t errlen)
{
    int ret = 0;
    TRY(nc_put_att_longlong(ncid, NC_GLOBAL, name, NC_INT64, 1, &v), "writing attributes");
fail:
    return ret;
}

static int define_globals(const Store *s, int ncid, char *err, size_t errlen)
{
    const JobSpec *job = s->job;
    int ret = 0, format = STORE_FORMAT;
    char source[256], fp[17], shard[48];
    snprintf(source, sizeof(source), "polysweep %s (git %s)", PS_VERSION, ps_git_revision());
    snprintf(fp, sizeof(fp), "%016llx", (unsigned long long)store_hash64(s->fingerprint));
    snprintf(shard, sizeof shard, "%d/%d", s->shard_k, s->shard_n);
    size_t hlen = 0;
    for (int k = 0; k < s->nhistory; k++) hlen += strlen(s->history[k]) + 1;
    char *history = malloc(hlen + 1);
    if (!history) return PS_ENOMEM;
    history[0] = '\0';
    for (int k = 0, at = 0; k < s->nhistory; k++)
        at += sprintf(history + at, "%s%s", k ? "\n" : "", s->history[k]);
    TRY(dataset_put_text(ncid, NC_GLOBAL, "Conventions", "CF-1.8"), "writing attributes");
    TRY(dataset_put_text(ncid, NC_GLOBAL, "title", job->title ? job->title : ""),
        "writing title");
    TRY(dataset_put_text(ncid, NC_GLOBAL, "source", source), "writing attributes");
    /* What says "written by polysweep", and in which layout. */
    TRY(nc_put_att_int(ncid, NC_GLOBAL, "polysweep_format", NC_INT, 1, &format),
        "writing attributes");
    TRY(dataset_put_text(ncid, NC_GLOBAL, "history", history), "writing history");
    TRY(dataset_put_text(ncid, NC_GLOBAL, "references", references), "writing attributes");
    TRY(dataset_put_text(ncid, NC_GLOBAL, "job_file", job->text ? job->text : ""),
        "writing job_file");
    TRY(dataset_put_text(ncid, NC_GLOBAL, "job_path", job->path ? job->path : ""),
        "writing job_path");
    TRY(dataset_put_text(ncid, NC_GLOBAL, "job_fingerprint", fp), "writing attributes");
    if (s->shard_n > 0)
        TRY(dataset_put_text(ncid, NC_GLOBAL, "shard", shard), "writing attributes");
    TRY(dataset_put_text(ncid, NC_GLOBAL, "blas_core", s->blas_core), "writing attributes");
    TRY(nc_put_att_int(ncid, NC_GLOBAL, "blas_threads", NC_INT, 1, &s->blas_threads),
        "writing attributes");
    TRY(nc_put_att_int(ncid, NC_GLOBAL, "mpi_size", NC_INT, 1, &s->mpi_size),
        "writing attributes");
    TRY(dataset_put_text(ncid, NC_GLOBAL, "blas_core_note", s->blas_core_note),
        "writing attributes");
    TRY(dataset_put_text(ncid, NC_GLOBAL, "run_layout", s->layout), "writing attributes");
    if ((ret = put_count(s, ncid, "tasks_total", s->nmembers, err, errlen)) ||
        (ret = put_count(s, ncid, "tasks_done", s->count[TASK_DONE], err, errlen)) ||
        (ret = put_count(s, ncid, "tasks_failed", s->count[TASK_FAILED], err, errlen)) ||
        (ret = put_count(s, ncid, "tasks_pending", s->count[TASK_PENDING], err, errlen)))
        goto fail;
fail:
    free(history);
    return ret;
}

/* Does the in-memory (double) array of count variable v hold a missing value? */
static int has_missing(const Store *s, int v)
{
    const double *p = s->val[v];
    size_t count = (size_t)s->ntasks * s->slot[v];
    for (size_t k = 0; k < count; k++)
        if (isnan(p[k])) return 1;
    return 0;
}

static int define_status(const Store *s, int ncid, const Dims *dm, int *status_id,
                         int *reason_id, char *err, size_t errlen)
{
    int ret;
    static const signed char flags[4] = {TASK_PENDING, TASK_DONE, TASK_FAILED,
                                         STORE_STATUS_OTHER_SHARD};
    int sharded = s->shard_n > 0;
    if ((ret = define_var(s, ncid, dm, "status", NC_BYTE, NULL, 0, "task status",
                          sharded ? "pending: not run yet (or interrupted); done; failed: "
                                    "diverged or refused, see reason; in_other_shard: "
                                    "another shard's task (this output holds one shard)"
                                  : "pending: not run yet (or interrupted); done; failed: "
                                    "diverged or refused, see reason",
                          NULL, status_id, err, errlen)))
        return ret;
    TRY(nc_put_att_schar(ncid, *status_id, "flag_values", NC_BYTE, sharded ? 4 : 3, flags),
        "describing status");
    TRY(dataset_put_text(ncid, *status_id, "flag_meanings",
                         sharded ? "pending done failed in_other_shard" : "pending done failed"),
        "describing status");
    ret = define_var(s, ncid, dm, "reason", NC_STRING, NULL, 0, "why the task failed",
                     "the trainer's message for a failed task; empty otherwise", NULL,
                     reason_id, err, errlen);
fail:
    return ret;
}

static int define_result(const Store *s, int ncid, const Dims *dm, int v, int *var,
                         char *err, size_t errlen)
{
    const ResultVar *rv = &result_vars[v];
    int ret = 0, extra[2], nextra = 0;
    switch (rv->shape) {
    case SHAPE_TASK: break;
    case SHAPE_FEATURE: extra[nextra++] = dm->feature; break;
    case SHAPE_NEURON: extra[nextra++] = dm->neuron; break;
    case SHAPE_CURVE: extra[nextra++] = dm->log_step; break;
    case SHAPE_WEIGHTS:
        extra[nextra++] = dm->neuron;
        extra[nextra++] = dm->feature;
        break;
    case SHAPE_BLOCK: extra[nextra++] = dm->block; break;
    }
    nc_type type = rv->type == RTYPE_FLOAT ? NC_FLOAT : rv->type == RTYPE_INT ? NC_INT : NC_DOUBLE;
    if ((ret = define_var(s, ncid, dm, rv->name, type, extra, nextra, rv->long_name,
                          rv->description, rv->units, var, err, errlen)))
        return ret;
    if (type == NC_FLOAT) {
        float fill = NAN;
        TRY(nc_put_att_float(ncid, *var, "_FillValue", NC_FLOAT, 1, &fill), "describing %s",
            rv->name);
    } else if (type == NC_DOUBLE) {
        double fill = NAN;
        TRY(nc_put_att_double(ncid, *var, "_FillValue", NC_DOUBLE, 1, &fill), "describing %s",
            rv->name);
    } else if (has_missing(s, v)) {
        int fill = NC_FILL_INT;
        TRY(nc_put_att_int(ncid, *var, "_FillValue", NC_INT, 1, &fill), "describing %s",
            rv->name);
    }
    if (rv->flags & RV_NONDETERMINISTIC)
        TRY(dataset_put_text(ncid, *var, "comment", "varies between runs"), "describing %s",
            rv->name);
fail:
    return ret;
}

/* Define and write everything into the open, empty file ncid. */
static int write_dataset(const Store *s, int ncid, char *err, size_t errlen)
{
    int ret = 0, status_id, reason_id, var[RV_COUNT];
    Dims dm;
    int *ints = NULL;
    const char **strs = NULL;
    signed char *status = NULL;
    int old_fill;
    /* Every value is written below, so skip HDF5's fill pass. */
    TRY(nc_set_fill(ncid, NC_NOFILL, &old_fill), "creating the file");
    if ((ret = dataset_define_coords(s, ncid, &dm, err, errlen)) ||
        (ret = define_status(s, ncid, &dm, &status_id, &reason_id, err, errlen)))
        goto fail;
    for (int v = 0; v < RV_COUNT; v++)
        if (s->slot[v] && (ret = define_result(s, ncid, &dm, v, &var[v], err, errlen)))
            goto fail;
    if ((ret = define_globals(s, ncid, err, errlen))) goto fail;
    TRY(nc_enddef(ncid), "finishing the definitions");

    /* Data, each variable whole. */
    if ((ret = dataset_write_coords(s, ncid, &dm, err, errlen))) goto fail;
    status = malloc((size_t)s->ntasks + 1);
    strs = malloc(((size_t)s->ntasks + 1) * sizeof(*strs));
    if (!status || !strs) goto nomem;
    for (int64_t i = 0; i < s->ntasks; i++) {
        status[i] = (signed char)s->status[i];
        if (s->member && !s->member[i] && s->status[i] == TASK_PENDING)
            status[i] = STORE_STATUS_OTHER_SHARD;
        strs[i] = s->reason[i] ? s->reason[i] : "";
    }
    TRY(nc_put_var_schar(ncid, status_id, status), "writing status");
    TRY(nc_put_var_string(ncid, reason_id, strs), "writing reason");
    for (int v = 0; v < RV_COUNT; v++) {
        const ResultVar *rv = &result_vars[v];
        if (!s->slot[v]) continue;
        size_t count = (size_t)s->ntasks * s->slot[v];
        if (rv->type == RTYPE_FLOAT) {
            TRY(nc_put_var_float(ncid, var[v], s->val[v]), "writing %s", rv->name);
        } else if (rv->type == RTYPE_DOUBLE) {
            TRY(nc_put_var_double(ncid, var[v], s->val[v]), "writing %s", rv->name);
        } else {
            const double *src = s->val[v];
            free(ints);
            ints = malloc(count * sizeof(*ints));
            if (!ints) goto nomem;
            for (size_t k = 0; k < count; k++)
                ints[k] = isnan(src[k])                   ? NC_FILL_INT
                          : fabs(src[k]) > 2147483647.0 ? (src[k] > 0 ? 2147483647 : -2147483646)
                                                        : (int)lrint(src[k]);
            TRY(nc_put_var_int(ncid, var[v], ints), "writing %s", rv->name);
        }
    }
    goto fail; /* done: ret is 0 */
nomem:
    snprintf(err, errlen, "%s: out of memory (while writing the dataset)", s->output);
    ret = PS_ENOMEM;
fail:
    free(ints);
    free(strs);
    free(status);
    return ret;
}

int store_snapshot(Store *s, char *err, size_t errlen)
{
    int ret = 0, ncid = -1, fd = -1;
    char *dir = store_dirname(s->output);
    size_t tlen = strlen(s->output) + 32;
    char *tmp = malloc(tlen);
    if (!dir || !tmp) {
        free(dir);
        free(tmp);
        return PS_ENOMEM;
    }
    snprintf(tmp, tlen, "%s.tmp.%ld", s->output, (long)getpid());
    TRY(nc_create(tmp, NC_NETCDF4 | NC_CLOBBER, &ncid), "creating %s", tmp);
    if ((ret = write_dataset(s, ncid, err, errlen))) goto fail;
    if (store_test_crash("snapshot")) {
        /* Fault injection (tests): die with the new file half written (part
         * of it flushed, not closed, not renamed). */
        nc_sync(ncid);
        raise(SIGKILL);
    }
    int st = nc_close(ncid);
    ncid = -1;
    TRY(st, "closing %s", tmp);
    /* Durable before visible: the data reach the disk before the rename, and
     * the rename before we return. */
    fd = open(tmp, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        snprintf(err, errlen, "%s: %s (while syncing the new snapshot)", tmp, strerror(errno));
        ret = PS_EIO;
        goto fail;
    }
    if (rename(tmp, s->output) != 0) {
        snprintf(err, errlen, "%s: %s (while renaming %s onto it)", s->output,
                 strerror(errno), tmp);
        ret = PS_EIO;
        goto fail;
    }
    ret = store_fsync_dir(dir, err, errlen);
    goto done;
fail:
    if (ncid >= 0) nc_abort(ncid);
    unlink(tmp);
done:
    if (fd >= 0) close(fd);
    free(tmp);
    free(dir);
    return ret;
}

double store_dataset_bytes(const Grid *g)
{
    const JobSpec *job = grid_job(g);
    double nt = (double)grid_task_count(g);
    int mn = grid_max_n(g), mm = grid_max_m(g), ml = grid_max_log(g);
    /* Results at their in-memory width (8 bytes for doubles and counts, which
     * bounds the file's 4-byte ints too), status and a reason slot per task,
     * coordinates, and the attributes (job text, history). */
    double bytes = nt * (1.0 + sizeof(char *));
    unsigned char keep[RV_COUNT];
    if (store_kept_vars(g, keep) < 0) memset(keep, 1, sizeof keep); /* an upper bound */
    for (int v = 0; v < RV_COUNT; v++) {
        if (!keep[v]) continue;
        double size = result_vars[v].type == RTYPE_FLOAT ? 4.0 : 8.0;
        bytes += nt * (double)store_slot_len(v, mn, mm, ml) * size;
    }
    for (int a = 0; a < job->naxes; a++) bytes += 64.0 * job->axes[a].count;
    bytes += 8.0 * (2.0 * mn + mm + ml); /* feature, neuron, log_step, block */
    bytes += 65536.0 + (job->text ? (double)strlen(job->text) : 0.0);
    return bytes;
}
