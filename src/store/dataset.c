/* dataset.c - the NetCDF-4 snapshot of a Store (design.md, "The dataset"),
 * laid out for xarray.open_dataset with no post-processing, and written
 * atomically: a temporary file in the output's directory, fsync, rename onto
 * the output, fsync of the directory. The only file of the project that
 * includes netcdf.h.
 *
 * Layout (README "Dataset reference" lists every name):
 *   dimensions   one per grid axis (named like the setting, file order), then
 *                feature (max n), neuron (max m), log_step (max loss-curve
 *                length), block (max n: a task has at most n blocks)
 *   coordinates  axis values (int64, double, byte 0/1 with flags, or strings),
 *                feature and neuron indices, log_step = (k + 1) * log_every,
 *                block indices
 *   variables    status and reason, then one per result variable of the
 *                catalog (task.h, result_vars) over the grid dimensions plus
 *                its own (none | feature | neuron | log_step | neuron, feature
 *                | block)
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
#include "store_impl.h"

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
static int netcdf_error(const Store *s, int status, char *err, size_t errlen,
                        const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%s: %s (while %s)", s->output, nc_strerror(status), what);
    return status == NC_ENOMEM ? PS_ENOMEM : PS_EIO;
}

#define TRY(call, ...)                                                         \
    do {                                                                       \
        int st_ = (call);                                                      \
        if (st_ != NC_NOERR) {                                                 \
            ret = netcdf_error(s, st_, err, errlen, __VA_ARGS__);              \
            goto fail;                                                         \
        }                                                                      \
    } while (0)

typedef struct Dims {
    int ngrid;             /* grid axes */
    int grid[MAX_DIMS];    /* their dimension ids */
    size_t size[MAX_DIMS]; /* their sizes */
    int feature, neuron, log_step, block;
} Dims;

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

static int put_text(int ncid, int var, const char *name, const char *text)
{
    return nc_put_att_text(ncid, var, name, strlen(text), text);
}

/* A data variable over the grid dims plus `extra` trailing ones: define it,
 * chunk and compress it, give it long_name and units. */
static int define_var(const Store *s, int ncid, const Dims *dm, const char *name,
                      nc_type type, const int *extra, int nextra, const char *long_name,
                      const char *units, int *varid, char *err, size_t errlen)
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
    TRY(put_text(ncid, *varid, "long_name", long_name), "describing %s", name);
    TRY(put_text(ncid, *varid, "units", units), "describing %s", name);
fail:
    return ret;
}

/* Dimensions and coordinate variables. */
static int define_coords(const Store *s, int ncid, Dims *dm, int *coord, char *err,
                         size_t errlen)
{
    const JobSpec *job = s->job;
    int ret = 0;
    dm->ngrid = job->naxes;
    for (int a = 0; a < job->naxes; a++) {
        const Setting *set = &job_settings[job->axes[a].setting];
        dm->size[a] = (size_t)job->axes[a].count;
        TRY(nc_def_dim(ncid, set->name, dm->size[a], &dm->grid[a]), "defining dimension %s",
            set->name);
        nc_type type = set->type == SET_INT    ? NC_INT64
                       : set->type == SET_REAL ? NC_DOUBLE
                       : set->type == SET_BOOL ? NC_BYTE
                                               : NC_STRING;
        TRY(nc_def_var(ncid, set->name, type, 1, &dm->grid[a], &coord[a]),
            "defining coordinate %s", set->name);
        TRY(put_text(ncid, coord[a], "long_name", set->help ? set->help : set->name),
            "describing %s", set->name);
        TRY(put_text(ncid, coord[a], "units", "1"), "describing %s", set->name);
        if (set->type == SET_BOOL) {
            static const signed char flags[2] = {0, 1};
            TRY(nc_put_att_schar(ncid, coord[a], "flag_values", NC_BYTE, 2, flags),
                "describing %s", set->name);
            TRY(put_text(ncid, coord[a], "flag_meanings", "false true"), "describing %s",
                set->name);
        }
    }
    int n = job->naxes;
    TRY(nc_def_dim(ncid, "feature", (size_t)s->max_n, &dm->feature), "defining feature");
    TRY(nc_def_dim(ncid, "neuron", (size_t)s->max_m, &dm->neuron), "defining neuron");
    TRY(nc_def_dim(ncid, "log_step", (size_t)s->max_log, &dm->log_step),
        "defining log_step");
    TRY(nc_def_var(ncid, "feature", NC_INT, 1, &dm->feature, &coord[n]), "defining feature");
    TRY(put_text(ncid, coord[n], "long_name", "feature index i (0-based)"), "describing feature");
    TRY(put_text(ncid, coord[n], "units", "1"), "describing feature");
    TRY(nc_def_var(ncid, "neuron", NC_INT, 1, &dm->neuron, &coord[n + 1]), "defining neuron");
    TRY(put_text(ncid, coord[n + 1], "long_name", "hidden dimension (neuron) index j (0-based)"),
        "describing neuron");
    TRY(put_text(ncid, coord[n + 1], "units", "1"), "describing neuron");
    TRY(nc_def_var(ncid, "log_step", NC_INT64, 1, &dm->log_step, &coord[n + 2]),
        "defining log_step");
    TRY(put_text(ncid, coord[n + 2], "long_name",
                 "training step at the end of the loss-curve window"),
        "describing log_step");
    TRY(put_text(ncid, coord[n + 2], "units", "steps"), "describing log_step");
    /* Last, so the dimensions and coordinates before it keep their ids. */
    TRY(nc_def_dim(ncid, "block", (size_t)s->max_n, &dm->block), "defining block");
    TRY(nc_def_var(ncid, "block", NC_INT, 1, &dm->block, &coord[n + 3]), "defining block");
    TRY(put_text(ncid, coord[n + 3], "long_name",
                 "block index b (0-based; blocks numbered by their smallest feature)"),
        "describing block");
    TRY(put_text(ncid, coord[n + 3], "units", "1"), "describing block");
fail:
    return ret;
}

static int write_coords(const Store *s, int ncid, const int *coord, char *err,
                        size_t errlen)
{
    const JobSpec *job = s->job;
    int ret = 0, count = s->max_n;
    if (s->max_m > count) count = s->max_m;
    for (int a = 0; a < job->naxes; a++)
        if (job->axes[a].count > count) count = job->axes[a].count;
    if (s->max_log > count) count = s->max_log;
    /* One scratch buffer wide enough for any coordinate. */
    void *buf = malloc((size_t)count * sizeof(long long));
    if (!buf) return PS_ENOMEM;
    for (int a = 0; a < job->naxes; a++) {
        const Axis *ax = &job->axes[a];
        const Setting *set = &job_settings[ax->setting];
        if (set->type == SET_INT) {
            long long *v = buf;
            for (int k = 0; k < ax->count; k++) v[k] = llround(ax->values[k]);
            TRY(nc_put_var_longlong(ncid, coord[a], v), "writing %s", set->name);
        } else if (set->type == SET_REAL) {
            TRY(nc_put_var_double(ncid, coord[a], ax->values), "writing %s", set->name);
        } else if (set->type == SET_BOOL) {
            signed char *v = buf;
            for (int k = 0; k < ax->count; k++) v[k] = ax->values[k] != 0.0;
            TRY(nc_put_var_schar(ncid, coord[a], v), "writing %s", set->name);
        } else {
            const char **v = buf;
            for (int k = 0; k < ax->count; k++) v[k] = set->choices[(int)ax->values[k]];
            TRY(nc_put_var_string(ncid, coord[a], v), "writing %s", set->name);
        }
    }
    int n = job->naxes, *idx = buf;
    for (int k = 0; k < count; k++) idx[k] = k;
    TRY(nc_put_var_int(ncid, coord[n], idx), "writing feature");
    TRY(nc_put_var_int(ncid, coord[n + 1], idx), "writing neuron");
    /* log_step = (k + 1) * log_every: entry k averages the losses of the steps
     * up to it (task.h, task_log_count). */
    int log_axis;
    long long every = llround(store_fixed_value(job, "log_every", &log_axis)), *st = buf;
    if (log_axis || every < 1) every = 1; /* varies by task: just count entries */
    for (int k = 0; k < s->max_log; k++) st[k] = (long long)(k + 1) * every;
    TRY(nc_put_var_longlong(ncid, coord[n + 2], st), "writing log_step");
    for (int k = 0; k < s->max_n; k++) idx[k] = k;
    TRY(nc_put_var_int(ncid, coord[n + 3], idx), "writing block");
fail:
    free(buf);
    return ret;
}

static int define_globals(const Store *s, int ncid, char *err, size_t errlen)
{
    const JobSpec *job = s->job;
    int ret = 0;
    char source[256], fp[17];
    snprintf(source, sizeof(source), "polysweep %s (git %s)", PS_VERSION, ps_git_revision());
    snprintf(fp, sizeof(fp), "%016llx", (unsigned long long)store_hash64(s->fingerprint));
    size_t hlen = 0;
    for (int k = 0; k < s->nhistory; k++) hlen += strlen(s->history[k]) + 1;
    char *history = malloc(hlen + 1);
    if (!history) return PS_ENOMEM;
    history[0] = '\0';
    for (int k = 0, at = 0; k < s->nhistory; k++)
        at += sprintf(history + at, "%s%s", k ? "\n" : "", s->history[k]);
    long long total = s->ntasks, done = s->count[TASK_DONE],
              failed = s->count[TASK_FAILED], pending = s->count[TASK_PENDING];
    TRY(put_text(ncid, NC_GLOBAL, "Conventions", "CF-1.8"), "writing attributes");
    TRY(put_text(ncid, NC_GLOBAL, "title", job->title ? job->title : ""), "writing title");
    TRY(put_text(ncid, NC_GLOBAL, "source", source), "writing attributes");
    TRY(put_text(ncid, NC_GLOBAL, "history", history), "writing history");
    TRY(put_text(ncid, NC_GLOBAL, "references", references), "writing attributes");
    TRY(put_text(ncid, NC_GLOBAL, "job_file", job->text ? job->text : ""), "writing job_file");
    TRY(put_text(ncid, NC_GLOBAL, "job_path", job->path ? job->path : ""), "writing job_path");
    TRY(put_text(ncid, NC_GLOBAL, "job_fingerprint", fp), "writing attributes");
    TRY(put_text(ncid, NC_GLOBAL, "blas_core", s->blas_core), "writing attributes");
    TRY(nc_put_att_int(ncid, NC_GLOBAL, "blas_threads", NC_INT, 1, &s->blas_threads),
        "writing attributes");
    TRY(nc_put_att_int(ncid, NC_GLOBAL, "mpi_size", NC_INT, 1, &s->mpi_size),
        "writing attributes");
    TRY(put_text(ncid, NC_GLOBAL, "blas_core_note", s->blas_core_note), "writing attributes");
    TRY(put_text(ncid, NC_GLOBAL, "run_layout", s->layout), "writing attributes");
    TRY(nc_put_att_longlong(ncid, NC_GLOBAL, "tasks_total", NC_INT64, 1, &total),
        "writing attributes");
    TRY(nc_put_att_longlong(ncid, NC_GLOBAL, "tasks_done", NC_INT64, 1, &done),
        "writing attributes");
    TRY(nc_put_att_longlong(ncid, NC_GLOBAL, "tasks_failed", NC_INT64, 1, &failed),
        "writing attributes");
    TRY(nc_put_att_longlong(ncid, NC_GLOBAL, "tasks_pending", NC_INT64, 1, &pending),
        "writing attributes");
fail:
    free(history);
    return ret;
}

/* Define and write everything into the open, empty file ncid. */
static int write_dataset(const Store *s, int ncid, char *err, size_t errlen)
{
    int ret = 0, coord[MAX_DIMS + 4], status_id, reason_id, var[RV_COUNT];
    Dims dm;
    int *ints = NULL;
    const char **strs = NULL;
    if (s->job->naxes > MAX_DIMS - 2) {
        snprintf(err, errlen, "%s: too many axes (%d; at most %d)", s->output,
                 s->job->naxes, MAX_DIMS - 2);
        return PS_EINVAL;
    }
    int old_fill;
    /* Every value is written below, so skip HDF5's fill pass. */
    TRY(nc_set_fill(ncid, NC_NOFILL, &old_fill), "creating the file");
    if ((ret = define_coords(s, ncid, &dm, coord, err, errlen))) goto fail;

    if ((ret = define_var(s, ncid, &dm, "status", NC_BYTE, NULL, 0, "task status", "1",
                          &status_id, err, errlen)))
        goto fail;
    static const signed char flags[3] = {TASK_PENDING, TASK_DONE, TASK_FAILED};
    TRY(nc_put_att_schar(ncid, status_id, "flag_values", NC_BYTE, 3, flags),
        "describing status");
    TRY(put_text(ncid, status_id, "flag_meanings", "pending done failed"),
        "describing status");
    if ((ret = define_var(s, ncid, &dm, "reason", NC_STRING, NULL, 0,
                          "why the task failed (empty unless failed)", "1", &reason_id,
                          err, errlen)))
        goto fail;

    for (int v = 0; v < RV_COUNT; v++) {
        const ResultVar *rv = &result_vars[v];
        if (!s->slot[v]) continue;
        int extra[2], nextra = 0;
        switch (rv->shape) {
        case SHAPE_TASK: break;
        case SHAPE_FEATURE: extra[nextra++] = dm.feature; break;
        case SHAPE_NEURON: extra[nextra++] = dm.neuron; break;
        case SHAPE_CURVE: extra[nextra++] = dm.log_step; break;
        case SHAPE_WEIGHTS:
            extra[nextra++] = dm.neuron;
            extra[nextra++] = dm.feature;
            break;
        case SHAPE_BLOCK: extra[nextra++] = dm.block; break;
        }
        nc_type type = rv->type == RTYPE_FLOAT ? NC_FLOAT
                       : rv->type == RTYPE_INT ? NC_INT
                                               : NC_DOUBLE;
        if ((ret = define_var(s, ncid, &dm, rv->name, type, extra, nextra, rv->long_name,
                              rv->units, &var[v], err, errlen)))
            goto fail;
        /* Missing values: NaN for reals, -1 for counts (xarray masks both). */
        if (type == NC_FLOAT) {
            float fill = NAN;
            TRY(nc_put_att_float(ncid, var[v], "_FillValue", NC_FLOAT, 1, &fill),
                "describing %s", rv->name);
        } else if (type == NC_DOUBLE) {
            double fill = NAN;
            TRY(nc_put_att_double(ncid, var[v], "_FillValue", NC_DOUBLE, 1, &fill),
                "describing %s", rv->name);
        } else {
            int fill = -1;
            TRY(nc_put_att_int(ncid, var[v], "_FillValue", NC_INT, 1, &fill),
                "describing %s", rv->name);
        }
        if (rv->flags & RV_NONDETERMINISTIC)
            TRY(put_text(ncid, var[v], "comment", "varies between runs"),
                "describing %s", rv->name);
    }
    if ((ret = define_globals(s, ncid, err, errlen))) goto fail;
    TRY(nc_enddef(ncid), "finishing the definitions");

    /* Data, each variable whole. */
    if ((ret = write_coords(s, ncid, coord, err, errlen))) goto fail;
    TRY(nc_put_var_schar(ncid, status_id, (const signed char *)s->status), "writing status");
    strs = malloc((size_t)s->ntasks * sizeof(*strs));
    if (!strs) goto nomem;
    for (int64_t i = 0; i < s->ntasks; i++) strs[i] = s->reason[i] ? s->reason[i] : "";
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
                ints[k] = isnan(src[k])             ? -1
                          : fabs(src[k]) > 2147483647.0 ? (src[k] > 0 ? 2147483647 : -2147483647)
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
    for (int v = 0; v < RV_COUNT; v++) {
        if (!store_keeps_var(job, v)) continue;
        double size = result_vars[v].type == RTYPE_FLOAT ? 4.0 : 8.0;
        bytes += nt * (double)store_slot_len(v, mn, mm, ml) * size;
    }
    for (int a = 0; a < job->naxes; a++) bytes += 64.0 * job->axes[a].count;
    bytes += 8.0 * (2.0 * mn + mm + ml); /* feature, neuron, log_step, block */
    bytes += 65536.0 + (job->text ? (double)strlen(job->text) : 0.0);
    return bytes;
}
