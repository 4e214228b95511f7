/* store.c - the Store: opening the files of a sweep (lock, journal), replaying
 * the journal into rank 0's dense result arrays, and committing results
 * (journal append + fsync first, memory second). The NetCDF snapshot is in
 * dataset.c, the journal format in journal.c.
 *
 * Recovery rules (design.md, "Durability and resume"): a torn last record is
 * the trace of a kill during an append and is cut off with a warning; damage
 * anywhere else is refused (PS_EFORMAT); a journal of another job is refused
 * (PS_EMISMATCH). Every refusal happens before any file is modified.
 * Checkpoints (checkpoint.c) are swept at open and removed at commit.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "polysweep/data.h"
#include "polysweep/polysweep.h"
#include "polysweep/store.h"
#include "store_impl.h"

/* ---- helpers shared with dataset.c ---- */

double store_fixed_value(const JobSpec *job, const char *name, int *is_axis)
{
    int s = job_setting_find(name);
    if (is_axis) *is_axis = 0;
    if (s < 0) return 0.0;
    int a = job_axis_of(job, s);
    if (a >= 0) {
        if (is_axis) *is_axis = 1;
        return job->axes[a].values[0];
    }
    return job->fixed[s];
}

int store_kept_vars(const Grid *g, unsigned char *keep)
{
    int64_t nt = grid_task_count(g);
    int left = RV_COUNT;
    memset(keep, 0, RV_COUNT);
    for (int64_t i = 0; i < nt && left > 0; i++) {
        TaskSpec t;
        grid_task_settings(g, i, &t);
        for (int v = 0; v < RV_COUNT; v++)
            if (!keep[v] && task_measures(&t, v)) {
                keep[v] = 1;
                left--;
            }
    }
    return 0;
}

size_t store_slot_len(int v, int max_n, int max_m, int max_log)
{
    switch (result_vars[v].shape) {
    case SHAPE_TASK: return 1;
    case SHAPE_FEATURE: return (size_t)max_n;
    case SHAPE_NEURON: return (size_t)max_m;
    case SHAPE_CURVE: return (size_t)max_log;
    case SHAPE_WEIGHTS: return (size_t)max_m * (size_t)max_n;
    case SHAPE_BLOCK: return (size_t)max_n;
    }
    return 0;
}

uint64_t store_hash64(const char *s)
{
    return data_fnv1a(DATA_FNV_OFFSET, s, strlen(s)); /* FNV-1a 64 */
}

/* ---- warnings and history ---- */

static int add_warning(Store *s, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    size_t old = strlen(s->warnings), add = strlen(line);
    char *w = realloc(s->warnings, old + add + 2);
    if (!w) return PS_ENOMEM;
    memcpy(w + old, line, add);
    w[old + add] = '\n';
    w[old + add + 1] = '\0';
    s->warnings = w;
    return 0;
}

static int add_history(Store *s, const char *line, size_t len)
{
    if (s->nhistory == s->caphistory) {
        int cap = s->caphistory ? 2 * s->caphistory : 8;
        char **h = realloc(s->history, (size_t)cap * sizeof(*h));
        if (!h) return PS_ENOMEM;
        s->history = h;
        s->caphistory = cap;
    }
    char *copy = strndup(line, len);
    if (!copy) return PS_ENOMEM;
    s->history[s->nhistory++] = copy;
    return 0;
}

/* ---- results in memory ---- */

/* Do the result's sizes match what the grid says task i has? */
static int sizes_match(const Store *s, int64_t i, const TaskResult *r)
{
    TaskSpec t;
    grid_task_spec(s->g, i, &t);
    return r->n == t.n && r->m == t.m && r->nlog == task_log_count(&t);
}

/* Where variable v of result r goes in a task's slot: rows x cols entries,
 * row a at a * stride. */
static void slot_shape(const Store *s, int v, const TaskResult *r, int *rows, int *cols,
                       size_t *stride)
{
    *rows = 1;
    switch (result_vars[v].shape) {
    case SHAPE_TASK: *cols = 1; break;
    case SHAPE_FEATURE: *cols = r->n; break;
    case SHAPE_NEURON: *cols = r->m; break;
    case SHAPE_CURVE: *cols = r->nlog; break;
    case SHAPE_WEIGHTS: *rows = r->m; *cols = r->n; break;
    case SHAPE_BLOCK: *cols = r->n; break;
    default: *cols = 0; break;
    }
    *stride = result_vars[v].shape == SHAPE_WEIGHTS ? (size_t)s->max_n : s->slot[v];
}

int store_result_same(const Store *s, int64_t i, const TaskResult *r)
{
    if (s->status[i] != r->status) return 0;
    for (int v = 0; v < RV_COUNT; v++) {
        size_t slot = s->slot[v], stride;
        if (!slot || (result_vars[v].flags & RV_NONDETERMINISTIC)) continue;
        int rows, cols;
        slot_shape(s, v, r, &rows, &cols, &stride);
        const double *src = r->val[v];
        for (int a = 0; a < rows; a++)
            for (int b = 0; b < cols; b++) {
                size_t at = (size_t)i * slot + (size_t)a * stride + (size_t)b;
                double x = src[(size_t)a * cols + b];
                if (result_vars[v].type == RTYPE_FLOAT) {
                    float have = ((const float *)s->val[v])[at], want = (float)x;
                    if (memcmp(&have, &want, sizeof have) != 0) return 0;
                } else if (memcmp(&((const double *)s->val[v])[at], &x, sizeof x) != 0) {
                    return 0;
                }
            }
    }
    return 1;
}

/* Copy result r into task i's slots (NaN beyond the task's own sizes). */
static int apply_result(Store *s, int64_t i, const TaskResult *r)
{
    char *reason = NULL;
    if (r->status == TASK_FAILED) {
        reason = strndup(r->reason, TASK_REASON_LEN - 1);
        if (!reason) return PS_ENOMEM;
    }
    free(s->reason[i]);
    s->reason[i] = reason;
    int counted = !s->member || s->member[i];
    if (counted) s->count[s->status[i]]--;
    s->status[i] = (unsigned char)r->status;
    if (counted) s->count[s->status[i]]++;

    for (int v = 0; v < RV_COUNT; v++) {
        size_t slot = s->slot[v], stride;
        if (!slot) continue;
        /* Entries of the task's (m, n) or (n) or ... block, in slot layout. */
        int rows, cols;
        slot_shape(s, v, r, &rows, &cols, &stride);
        const double *src = r->val[v];
        if (result_vars[v].type == RTYPE_FLOAT) {
            float *dst = (float *)s->val[v] + (size_t)i * slot;
            for (size_t k = 0; k < slot; k++) dst[k] = NAN;
            for (int a = 0; src && a < rows; a++)
                for (int b = 0; b < cols; b++)
                    dst[(size_t)a * stride + b] = (float)src[(size_t)a * cols + b];
        } else {
            double *dst = (double *)s->val[v] + (size_t)i * slot;
            for (size_t k = 0; k < slot; k++) dst[k] = NAN;
            for (int a = 0; src && a < rows; a++)
                for (int b = 0; b < cols; b++)
                    dst[(size_t)a * stride + b] = src[(size_t)a * cols + b];
        }
    }
    return 0;
}

static int alloc_results(Store *s, char *err, size_t errlen)
{
    size_t nt = (size_t)s->ntasks;
    double bytes = 0;
    s->status = calloc(nt, 1);
    s->reason = calloc(nt, sizeof(*s->reason));
    if (!s->status || !s->reason) goto nomem;
    s->count[TASK_PENDING] = s->nmembers;
    unsigned char keep[RV_COUNT];
    if (store_kept_vars(s->g, keep) < 0) goto nomem;
    for (int v = 0; v < RV_COUNT; v++) {
        if (!keep[v]) continue;
        size_t slot = store_slot_len(v, s->max_n, s->max_m, s->max_log);
        size_t size = result_vars[v].type == RTYPE_FLOAT ? sizeof(float) : sizeof(double);
        bytes += (double)nt * (double)slot * (double)size;
        if (slot && nt > SIZE_MAX / slot / size) goto nomem;
        s->slot[v] = slot;
        s->val[v] = malloc(nt * slot * size);
        if (!s->val[v]) goto nomem;
        if (size == sizeof(float)) {
            float *p = s->val[v];
            for (size_t k = 0; k < nt * slot; k++) p[k] = NAN;
        } else {
            double *p = s->val[v];
            for (size_t k = 0; k < nt * slot; k++) p[k] = NAN;
        }
    }
    return 0;
nomem:
    snprintf(err, errlen, "%s: out of memory for the results of %lld tasks "
             "(%.3g GB or more)", s->output, (long long)s->ntasks, bytes / 1e9);
    return PS_ENOMEM;
}

/* ---- journal replay ---- */

typedef struct Replay {
    Store *s;
    int have_header;
    char *err;
    size_t errlen;
} Replay;

static int replay_format(Replay *rp, uint64_t off, const char *what)
{
    snprintf(rp->err, rp->errlen, "%s: %s at byte offset %llu", rp->s->jr->path, what,
             (unsigned long long)off);
    return PS_EFORMAT;
}

static int replay_header(Replay *rp, const unsigned char *p, uint64_t len, uint64_t off)
{
    Store *s = rp->s;
    StoreHeader h;
    if (store_header_parse(p, len, &h) != 0)
        return replay_format(rp, off, "malformed header record");
    int ret = store_format_check(s->output, h.format, rp->err, rp->errlen);
    if (ret) return ret;
    if (h.flen == strlen(s->fingerprint) && memcmp(h.fingerprint, s->fingerprint, h.flen) == 0) {
        if ((ret = store_shard_check(s->output, (int)h.shard_k, (int)h.shard_n, s->shard_k,
                                     s->shard_n, rp->err, rp->errlen)))
            return ret;
        rp->have_header = 1;
        free(s->job_text);
        s->job_text = strndup((const char *)h.text, h.tlen);
        return s->job_text ? 0 : PS_ENOMEM;
    }
    char *old = strndup((const char *)h.fingerprint, h.flen), what[768];
    if (!old) return PS_ENOMEM;
    store_describe_mismatch(old, s->fingerprint, s->job->path, what, sizeof(what));
    free(old);
    snprintf(rp->err, rp->errlen,
             "%s holds results of a different job: %s (run with --fresh to discard "
             "them, or choose another output with -o)", s->output, what);
    return PS_EMISMATCH;
}

static int replay_task(Replay *rp, const unsigned char *p, uint64_t len, uint64_t off)
{
    Store *s = rp->s;
    uint64_t pos = 0, llen;
    const unsigned char *lab;
    if (journal_get_str(p, len, &pos, &lab, &llen))
        return replay_format(rp, off, "malformed task record");
    char *label = strndup((const char *)lab, llen);
    if (!label) return PS_ENOMEM;
    int64_t i = grid_find(s->g, label);
    int ret = 0;
    TaskResult *r = NULL;
    if (i < 0) {
        s->orphans++; /* kept in the journal; not in this grid */
        goto done;
    }
    if (task_result_unpack(p + pos, (size_t)(len - pos), &r) != 0) {
        ret = replay_format(rp, off, "malformed task result");
        goto done;
    }
    if ((r->status != TASK_DONE && r->status != TASK_FAILED) || !sizes_match(s, i, r)) {
        char what[512];
        snprintf(what, sizeof(what), "result of task '%s' (status %d, n=%d, m=%d, "
                 "%d log entries) does not fit the job", label, r->status, r->n, r->m,
                 r->nlog);
        ret = replay_format(rp, off, what);
        goto done;
    }
    ret = apply_result(s, i, r);
done:
    task_result_free(&r);
    free(label);
    return ret;
}

static int replay_record(void *ctx, uint32_t type, const unsigned char *p, uint64_t len,
                         uint64_t off)
{
    Replay *rp = ctx;
    if (!rp->have_header && type != JOURNAL_HEADER)
        return replay_format(rp, off, "not a polysweep journal: no header record");
    switch (type) {
    case JOURNAL_HEADER:
        if (rp->have_header) return replay_format(rp, off, "second header record");
        return replay_header(rp, p, len, off);
    case JOURNAL_RUN:
        return add_history(rp->s, (const char *)p, (size_t)len);
    case JOURNAL_TASK:
        return replay_task(rp, p, len, off);
    case JOURNAL_JOB:
        free(rp->s->job_text);
        rp->s->job_text = strndup((const char *)p, (size_t)len);
        return rp->s->job_text ? 0 : PS_ENOMEM;
    default:
        return replay_format(rp, off, "record of an unknown type (written by a newer "
                             "version of polysweep?)");
    }
}

/* ---- open, close ---- */

static int append_header(Store *s, char *err, size_t errlen)
{
    const char *text = s->job->text ? s->job->text : "";
    const char *path = s->job->path ? s->job->path : "";
    unsigned char l1[8], l2[8], tail[32];
    size_t flen = strlen(s->fingerprint), tlen = strlen(text), plen = strlen(path);
    journal_put_u64(l1, flen);
    journal_put_u64(l2, tlen);
    size_t taillen = store_header_put(tail, s->shard_k, s->shard_n, plen);
    const void *parts[6] = {l1, s->fingerprint, l2, text, tail, path};
    size_t lens[6] = {8, flen, 8, tlen, taillen, plen};
    return journal_append(s->jr, JOURNAL_HEADER, parts, lens, 6, err, errlen);
}

/* This run's job text, when it differs from the last one recorded (the
 * fingerprint is the same: axis values, title, ... changed), so that readers
 * of the journal alone (`polysweep status`) rebuild the current grid. */
static int append_job_text(Store *s, char *err, size_t errlen)
{
    const char *text = s->job->text ? s->job->text : "";
    if (s->job_text && strcmp(s->job_text, text) == 0) return 0;
    size_t len = strlen(text);
    const void *parts[1] = {text};
    return journal_append(s->jr, JOURNAL_JOB, parts, &len, 1, err, errlen);
}

int store_append_history(Store *s, const char *line, char *err, size_t errlen)
{
    size_t len = strlen(line);
    const void *parts[1] = {line};
    int ret = journal_append(s->jr, JOURNAL_RUN, parts, &len, 1, err, errlen);
    if (!ret) ret = add_history(s, line, len);
    return ret;
}

int store_has_history(const Store *s, const char *line)
{
    for (int k = 0; k < s->nhistory; k++)
        if (strcmp(s->history[k], line) == 0) return 1;
    return 0;
}

int store_history_head(char *line, size_t len, const char *cmd)
{
    char when[32] = "unknown time";
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm)) strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    cmd = cmd ? cmd : "";
    /* Prefix "polysweep" unless the command line already starts with it. */
    size_t w = strcspn(cmd, " ");
    const char *base = cmd;
    for (const char *q = cmd; q < cmd + w; q++)
        if (*q == '/') base = q + 1;
    int named = (size_t)(cmd + w - base) == 9 && strncmp(base, "polysweep", 9) == 0;
    int n = snprintf(line, len, "%s %s%s%s", when, named ? "" : "polysweep",
                     named || !*cmd ? "" : " ", cmd);
    return n < 0 ? 0 : (size_t)n < len ? n : (int)len - 1;
}

/* The history line of this run: "<UTC time> polysweep <command> (...)". */
static int append_run(Store *s, const StoreRunInfo *info, char *err, size_t errlen)
{
    char line[2048];
    int64_t finished = s->count[TASK_DONE] + s->count[TASK_FAILED];
    char shard[48] = "";
    if (s->shard_n > 0) snprintf(shard, sizeof shard, " of shard %d/%d", s->shard_k, s->shard_n);
    int n = store_history_head(line, sizeof line, info ? info->command : NULL);
    n += snprintf(line + n, sizeof(line) - (size_t)n,
                  " (%d process%s, BLAS %s x%d): %lld of %lld tasks%s already done",
                  s->mpi_size, s->mpi_size == 1 ? "" : "es", s->blas_core, s->blas_threads,
                  (long long)finished, (long long)s->nmembers, shard);
    if (n >= 0 && (size_t)n < sizeof(line) && s->count[TASK_FAILED] > 0)
        snprintf(line + n, sizeof(line) - (size_t)n, " (%lld failed)",
                 (long long)s->count[TASK_FAILED]);
    return store_append_history(s, line, err, errlen);
}

char *store_concat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *p = malloc(la + lb + 1);
    if (p) {
        memcpy(p, a, la);
        memcpy(p + la, b, lb + 1);
    }
    return p;
}

static int remove_file(const char *path, char *err, size_t errlen)
{
    if (unlink(path) != 0 && errno != ENOENT) {
        snprintf(err, errlen, "%s: %s (while removing it for --fresh)", path,
                 strerror(errno));
        return PS_EIO;
    }
    return 0;
}

int store_open_ex(const Grid *g, const char *output, int fresh, const StoreRunInfo *info,
                  int history, Store **out, char *err, size_t errlen)
{
    *out = NULL;
    if (errlen) err[0] = '\0';
    char *dir = NULL, *lock_path = NULL, *journal_path = NULL;
    int ret = PS_ENOMEM;
    Store *s = calloc(1, sizeof(*s));
    if (!s) return PS_ENOMEM;
    s->lock_fd = -1;
    s->g = g;
    s->job = grid_job(g);
    s->output = strdup(output);
    s->state_dir = store_concat(output, ".state");
    s->blas_core = strdup(info && info->blas_core ? info->blas_core : "unknown");
    s->blas_threads = info ? info->blas_threads : 1;
    s->mpi_size = info && info->mpi_size > 0 ? info->mpi_size : 1;
    s->blas_core_note = strdup(info && info->blas_core_note ? info->blas_core_note : "");
    s->layout = strdup(info && info->layout ? info->layout : "");
    s->warnings = strdup("");
    s->fingerprint = job_fingerprint_text(s->job);
    dir = store_dirname(output);
    if (!s->output || !s->state_dir || !s->blas_core || !s->warnings || !s->fingerprint ||
        !dir || !s->blas_core_note || !s->layout)
        goto fail;
    lock_path = store_concat(s->state_dir, "/lock");
    journal_path = store_concat(s->state_dir, "/journal");
    if (!lock_path || !journal_path) goto fail;
    s->ntasks = grid_task_count(g);
    s->nmembers = s->ntasks;
    s->max_n = grid_max_n(g);
    s->max_m = grid_max_m(g);
    s->max_log = grid_max_log(g);
    if (info && info->shard_n > 0) {
        s->shard_k = info->shard_k;
        s->shard_n = info->shard_n;
        s->member = malloc((size_t)(s->ntasks > 0 ? s->ntasks : 1));
        if (!s->member || (ret = grid_shard_members(g, s->shard_k, s->shard_n, s->member,
                                                    &s->nmembers)) < 0) {
            if (s->member && ret == PS_EINVAL)
                snprintf(err, errlen, "%s: shard %d/%d does not exist", output, s->shard_k,
                         s->shard_n);
            ret = ret ? ret : PS_ENOMEM;
            goto fail;
        }
    }
    s->setting_axes = malloc((size_t)job_setting_count * sizeof *s->setting_axes);
    if (!s->setting_axes || grid_setting_axes(g, s->setting_axes) < 0) {
        ret = PS_ENOMEM;
        goto fail;
    }
    if ((ret = alloc_results(s, err, errlen))) goto fail;

    /* The lock comes first: nothing is read or removed before this process
     * owns the output. */
    if ((ret = store_mkdir_p(dir, err, errlen)) || (ret = store_mkdir_p(s->state_dir, err, errlen)) ||
        (ret = store_lock(lock_path, output, &s->lock_fd, err, errlen)))
        goto fail;
    if (fresh) {
        if ((ret = remove_file(journal_path, err, errlen)) ||
            (ret = remove_file(output, err, errlen)) ||
            (ret = store_fsync_dir(s->state_dir, err, errlen)) ||
            (ret = store_fsync_dir(dir, err, errlen)))
            goto fail;
    }
    store_remove_stale_tmp(output);

    struct stat st;
    int existed = stat(journal_path, &st) == 0;
    if (!existed && stat(output, &st) == 0) {
        /* Never overwrite a dataset whose journal we do not have. */
        snprintf(err, errlen, "%s exists but has no journal (%s): it was written by "
                 "something else, or its journal was deleted (run with --fresh to "
                 "replace it, or choose another output with -o)", output, journal_path);
        ret = PS_EMISMATCH;
        goto fail;
    }
    if ((ret = journal_open(journal_path, &s->jr, err, errlen))) goto fail;
    if (!existed && (ret = store_fsync_dir(s->state_dir, err, errlen))) goto fail;

    Replay rp = {.s = s, .err = err, .errlen = errlen};
    int64_t torn;
    if ((ret = journal_scan(s->jr, replay_record, &rp, &torn, err, errlen))) goto fail;
    if (torn >= 0) {
        uint64_t size = (uint64_t)lseek(s->jr->fd, 0, SEEK_END);
        if ((ret = journal_truncate(s->jr, err, errlen))) goto fail;
        if ((ret = add_warning(s, "%s: dropped an incomplete last record at byte offset "
                               "%lld (%llu bytes), left by an interrupted write",
                               journal_path, (long long)torn,
                               (unsigned long long)(size - (uint64_t)torn))))
            goto fail;
    }
    if (!rp.have_header && (ret = append_header(s, err, errlen))) goto fail;
    if (rp.have_header && (ret = append_job_text(s, err, errlen))) goto fail;
    if ((ret = store_ckpt_open(g, output, &s->ckpt, err, errlen)) ||
        (ret = store_ckpt_sweep(s->ckpt, fresh, s->status, &s->resumable)))
        goto fail;
    if (s->orphans > 0 &&
        (ret = add_warning(s, "%s: %lld finished task record%s not in the grid of %s "
                           "(values removed from an axis): kept in the journal, left "
                           "out of the dataset", journal_path, (long long)s->orphans,
                           s->orphans == 1 ? " is" : "s are", s->job->path)))
        goto fail;
    if (history && (ret = append_run(s, info, err, errlen))) goto fail;
    *out = s;
    s = NULL;
    ret = 0;
fail:
    if (ret == PS_ENOMEM && errlen && !err[0])
        snprintf(err, errlen, "%s: out of memory (while opening the store)", output);
    store_close(&s);
    free(dir);
    free(lock_path);
    free(journal_path);
    return ret;
}

int store_open(const Grid *g, const char *output, int fresh, const StoreRunInfo *info,
               Store **out, char *err, size_t errlen)
{
    return store_open_ex(g, output, fresh, info, 1, out, err, errlen);
}

void store_close(Store **sp)
{
    if (!sp || !*sp) return;
    Store *s = *sp;
    journal_close(&s->jr);
    store_ckpt_close(&s->ckpt);
    free(s->job_text);
    if (s->lock_fd >= 0) close(s->lock_fd); /* releases the flock */
    for (int v = 0; v < RV_COUNT; v++) free(s->val[v]);
    if (s->reason)
        for (int64_t i = 0; i < s->ntasks; i++) free(s->reason[i]);
    free(s->reason);
    free(s->status);
    free(s->member);
    free(s->setting_axes);
    for (int k = 0; k < s->nhistory; k++) free(s->history[k]);
    free(s->history);
    free(s->fingerprint);
    free(s->warnings);
    free(s->blas_core);
    free(s->blas_core_note);
    free(s->layout);
    free(s->state_dir);
    free(s->output);
    free(s);
    *sp = NULL;
}

/* ---- queries and commits ---- */

int store_task_status(const Store *s, int64_t i)
{
    if (i < 0 || i >= s->ntasks) return PS_EINVAL;
    return s->status[i];
}

int64_t store_count(const Store *s, int status)
{
    if (status < TASK_PENDING || status > TASK_FAILED) return 0;
    return s->count[status];
}

int64_t store_task_total(const Store *s) { return s->nmembers; }

int store_task_member(const Store *s, int64_t i)
{
    return i >= 0 && i < s->ntasks && (!s->member || s->member[i]);
}

const char *store_warnings(const Store *s) { return s->warnings; }

int64_t store_orphan_count(const Store *s) { return s->orphans; }

StoreCkpt *store_checkpoints(Store *s) { return s->ckpt; }

int64_t store_resumable_count(const Store *s) { return s->resumable; }

/* Append a TASK record made of `parts`, durable first, then keep the result
 * r of task i for the dataset and remove its checkpoint. */
static int commit_parts(Store *s, int64_t i, const TaskResult *r, const void *const *parts,
                        const size_t *lens, int nparts, char *err, size_t errlen)
{
    /* Durable first: the task counts as done only once the record is synced. */
    int ret = journal_append(s->jr, JOURNAL_TASK, parts, lens, nparts, err, errlen);
    if (!ret) ret = apply_result(s, i, r);
    /* The result is durable: the task's checkpoint has served its purpose. */
    if (!ret) store_ckpt_remove(s->ckpt, i);
    return ret;
}

static int check_commit(const Store *s, int64_t i, const TaskResult *r, char *err,
                        size_t errlen)
{
    if (i < 0 || i >= s->ntasks || (r->status != TASK_DONE && r->status != TASK_FAILED) ||
        !sizes_match(s, i, r)) {
        snprintf(err, errlen, "%s: cannot record task %lld: status %d, sizes (%d, %d, %d) "
                 "do not fit the grid", s->output, (long long)i, r->status, r->n, r->m,
                 r->nlog);
        return PS_EINVAL;
    }
    return 0;
}

int store_commit_record(Store *s, int64_t i, const TaskResult *r, const unsigned char *payload,
                        size_t len, char *err, size_t errlen)
{
    int ret = check_commit(s, i, r, err, errlen);
    const void *parts[1] = {payload};
    return ret ? ret : commit_parts(s, i, r, parts, &len, 1, err, errlen);
}

int store_commit(Store *s, int64_t i, const TaskResult *r, char *err, size_t errlen)
{
    int ret = check_commit(s, i, r, err, errlen);
    if (ret) return ret;
    char small[256], *label = small;
    size_t llen = grid_task_label(s->g, i, small, sizeof(small));
    if (llen >= sizeof(small)) {
        label = malloc(llen + 1);
        if (!label) return PS_ENOMEM;
        grid_task_label(s->g, i, label, llen + 1);
    }
    unsigned char *packed = NULL, lenbuf[8];
    size_t plen = 0;
    ret = task_result_pack(r, &packed, &plen);
    if (ret) goto done;
    journal_put_u64(lenbuf, llen);
    const void *parts[3] = {lenbuf, label, packed};
    size_t lens[3] = {8, llen, plen};
    ret = commit_parts(s, i, r, parts, lens, 3, err, errlen);
done:
    if (ret == PS_ENOMEM && errlen)
        snprintf(err, errlen, "%s: out of memory (while recording a task)", s->output);
    free(packed);
    if (label != small) free(label);
    return ret;
}
