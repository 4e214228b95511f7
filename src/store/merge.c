/* merge.c - several outputs of one job into one (store.h, store_merge):
 * shards, runs on other clusters, runs at other axis extents.
 *
 * An output, for merge, is its journal: OUT.state/journal holds the job, the
 * fingerprint and every result bit for bit, so merge never reads a dataset.
 * The merged output is an ordinary output (its own journal, lock and
 * dataset): `polysweep status` reads it, and `polysweep run` of its job
 * finishes whatever is still pending there.
 *
 * 1. Each part's journal is read (read-only, as `status` does): its header,
 *    its latest job text and its history. Parts of another format, of
 *    another job (the first difference is named) or with a damaged journal
 *    are refused before anything is written. An existing merged output is
 *    the first part (merging again adds what is new).
 * 2. The merged grid: when every part has the same axis values, the job text
 *    of the first part, verbatim; otherwise each axis takes the union of the
 *    parts' values (first seen first; sorted when every part lists the axis
 *    in increasing, or decreasing, order) and the job text is written anew
 *    (job_write_text) with this union, the first part's title, settings and
 *    run options, and `output` the merged output. Its tasks that no part ran
 *    are pending.
 * 3. Every TASK record of every part, in order, is copied as it is (the same
 *    bytes) when the merged output does not have that task yet, or has it
 *    failed and the record is done; a done result already there stays (the
 *    first part wins), and one with other bits is counted (another BLAS
 *    kernel or thread count computed it). Records of tasks outside the
 *    merged grid (values a part removed from an axis) are left out.
 * 4. The parts' history lines (once each), then this merge's line, and the
 *    dataset snapshot.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "polysweep/polysweep.h"
#include "polysweep/store.h"
#include "store_impl.h"

typedef struct Part {
    char *path;         /* the output as given */
    char *journal;      /* path of its journal */
    char *fingerprint;  /* the header's */
    char *job_text;     /* the latest job text */
    char *job_path;     /* the job file's path at the part's first run */
    char **history;     /* RUN lines */
    int nhistory;
    JobSpec *job;       /* parsed job_text */
    StoreMergePart *rep;
} Part;

typedef struct Scan {
    Part *p;
    int headers;
    uint64_t format;
    int shard_k, shard_n;
    int64_t records;
} Scan;

/* Pass 1: what a part is. */
static int scan_visit(void *ctx, uint32_t type, const unsigned char *p, uint64_t len,
                      uint64_t off)
{
    Scan *sc = ctx;
    Part *pt = sc->p;
    (void)off;
    if (type == JOURNAL_HEADER) {
        StoreHeader h;
        if (sc->headers++ || store_header_parse(p, len, &h) != 0) return 0;
        sc->format = h.format;
        if (h.format != STORE_FORMAT) return 1; /* not ours to read further */
        sc->shard_k = (int)h.shard_k;
        sc->shard_n = (int)h.shard_n;
        if (store_set_text(&pt->fingerprint, h.fingerprint, h.flen) ||
            store_set_text(&pt->job_text, h.text, h.tlen) || !(pt->job_path = store_header_path(&h)))
            return PS_ENOMEM;
    } else if (type == JOURNAL_JOB) {
        return store_set_text(&pt->job_text, p, len);
    } else if (type == JOURNAL_RUN) {
        char **h = realloc(pt->history, (size_t)(pt->nhistory + 1) * sizeof *h);
        if (!h) return PS_ENOMEM;
        pt->history = h;
        if (!(h[pt->nhistory] = strndup((const char *)p, (size_t)len))) return PS_ENOMEM;
        pt->nhistory++;
    } else if (type == JOURNAL_TASK) {
        sc->records++;
    }
    return 0;
}

/* Read part pt (pass 1). 0, or an error with its message. */
static int read_part(Part *pt, char *err, size_t errlen)
{
    struct stat st;
    char *state = store_concat(pt->path, ".state");
    if (!state || !(pt->journal = store_concat(state, "/journal"))) {
        free(state);
        return PS_ENOMEM;
    }
    if (stat(pt->journal, &st) != 0) {
        int e = errno, exists = stat(pt->path, &st) == 0;
        if (exists)
            snprintf(err, errlen, "%s: its journal %s %s: merge reads the results from the "
                     "journal, which holds them bit for bit (the dataset alone is not "
                     "enough): copy the whole output, %s and the directory %s, from where "
                     "it ran", pt->path, pt->journal,
                     e == ENOENT ? "is missing" : strerror(e), pt->path, state);
        else
            snprintf(err, errlen, "%s: no such output (neither it nor %s exists)", pt->path,
                     pt->journal);
        free(state);
        return PS_EINVAL;
    }
    Scan sc = {.p = pt};
    JournalScanInfo info;
    int ret = journal_scan_readonly(pt->journal, scan_visit, &sc, &info, err, errlen);
    if (ret < 0) goto done;
    ret = 0;
    if (sc.format != 0 && (ret = store_format_check(pt->path, sc.format, err, errlen)))
        goto done;
    if (info.damaged >= 0) {
        snprintf(err, errlen, "%s: damaged at byte offset %lld (valid records follow at byte "
                 "offset %lld): the file was damaged after it was written; merge refuses "
                 "it (status shows what can be read)", pt->journal, (long long)info.damaged,
                 (long long)info.damaged_next);
        ret = PS_EFORMAT;
        goto done;
    }
    if (!pt->fingerprint) {
        snprintf(err, errlen, "%s: no results yet (its journal has no header: the first run "
                 "was stopped while starting)", pt->path);
        ret = PS_EINVAL;
        goto done;
    }
    pt->rep->shard_k = sc.shard_k;
    pt->rep->shard_n = sc.shard_n;
    pt->rep->records = sc.records;
    pt->rep->torn = info.torn >= 0;
    pt->rep->busy = store_lock_held(state, &pt->rep->pid);
    char jerr[1024];
    if (job_parse(pt->job_path, pt->job_text, strlen(pt->job_text), &pt->job, jerr,
                  sizeof jerr) != 0) {
        snprintf(err, errlen, "%s: the job it records cannot be read by this version of "
                 "polysweep: %s", pt->path, jerr);
        ret = PS_EFORMAT;
    }
done:
    free(state);
    return ret;
}

static void part_clear(Part *pt)
{
    free(pt->path);
    free(pt->journal);
    free(pt->fingerprint);
    free(pt->job_text);
    free(pt->job_path);
    for (int k = 0; k < pt->nhistory; k++) free(pt->history[k]);
    free(pt->history);
    job_free(&pt->job);
}

/* ---- the merged grid ---- */

static int has_value(const double *v, int n, double x)
{
    for (int k = 0; k < n; k++)
        if (v[k] == x) return 1;
    return 0;
}

static int cmp_up(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int cmp_down(const void *a, const void *b) { return cmp_up(b, a); }

/* Axis a's union over the parts, in the order the file comment says. Returns
 * its length (values in *out, malloc'd), or -1 when out of memory. *same = 1
 * when every part has exactly the first part's values. */
static int axis_union(Part *parts, int nparts, int a, double **out, int *same)
{
    int cap = 0, n = 0, up = 1, down = 1;
    double *v = NULL;
    const Setting *set = &job_settings[parts[0].job->axes[a].setting];
    for (int p = 0; p < nparts; p++) {
        const Axis *ax = &parts[p].job->axes[a];
        if (ax->count != parts[0].job->axes[a].count) *same = 0;
        for (int k = 0; k < ax->count; k++) {
            if (k > 0 && !(ax->values[k] > ax->values[k - 1])) up = 0;
            if (k > 0 && !(ax->values[k] < ax->values[k - 1])) down = 0;
            if (has_value(v, n, ax->values[k])) continue;
            if (p > 0) *same = 0;
            if (n == cap) {
                cap = cap ? 2 * cap : 16;
                double *nv = realloc(v, (size_t)cap * sizeof *nv);
                if (!nv) {
                    free(v);
                    return -1;
                }
                v = nv;
            }
            v[n++] = ax->values[k];
        }
    }
    if (set->type == SET_INT || set->type == SET_REAL) {
        if (up) qsort(v, (size_t)n, sizeof *v, cmp_up);
        else if (down) qsort(v, (size_t)n, sizeof *v, cmp_down);
    }
    *out = v;
    return n;
}

/* The merged job (step 2 of the file comment) into *job. */
static int merged_job(Part *parts, int nparts, const char *output, int *generated,
                      JobSpec **job, char *err, size_t errlen)
{
    const JobSpec *first = parts[0].job;
    JobSpec *u = NULL;
    char *text = NULL, *comment = NULL, *fp = NULL, jerr[1024];
    int ret = PS_ENOMEM, same = 1;
    *generated = 0;
    if (job_parse(first->path, parts[0].job_text, strlen(parts[0].job_text), &u, jerr,
                  sizeof jerr) != 0)
        goto fail;
    for (int a = 0; a < u->naxes; a++) {
        double *v;
        int n = axis_union(parts, nparts, a, &v, &same);
        if (n < 0) goto fail;
        free(u->axes[a].values);
        u->axes[a].values = v;
        u->axes[a].count = n;
    }
    if (same) {
        *job = u;
        return 0;
    }
    *generated = 1;
    free(u->output);
    if (!(u->output = strdup(output))) goto fail;
    size_t clen = 64 + strlen(output);
    for (int p = 0; p < nparts; p++) clen += strlen(parts[p].path) + 2;
    if (!(comment = malloc(clen))) goto fail;
    size_t at = (size_t)snprintf(comment, clen, "polysweep merge: the union of the grids of ");
    for (int p = 0; p < nparts; p++)
        at += (size_t)snprintf(comment + at, clen - at, "%s%s", p ? ", " : "", parts[p].path);
    if (!(text = job_write_text(u, comment))) goto fail;
    job_free(&u);
    if (job_parse(first->path, text, strlen(text), job, jerr, sizeof jerr) != 0 ||
        !(fp = job_fingerprint_text(*job)) || strcmp(fp, parts[0].fingerprint) != 0) {
        snprintf(err, errlen, "%s: internal error: the merged job text does not read back "
                 "as the same job (%s)", output, jerr);
        job_free(job);
        ret = PS_EINVAL;
        goto fail;
    }
    ret = 0;
fail:
    if (ret == PS_ENOMEM) snprintf(err, errlen, "%s: out of memory (while merging)", output);
    job_free(&u);
    free(text);
    free(comment);
    free(fp);
    return ret;
}

/* ---- pass 2: the results ---- */

typedef struct Copy {
    Store *s;
    const Grid *g;
    Part *pt;
    char *err;
    size_t errlen;
} Copy;

static int copy_visit(void *ctx, uint32_t type, const unsigned char *p, uint64_t len,
                      uint64_t off)
{
    Copy *c = ctx;
    StoreMergePart *rep = c->pt->rep;
    if (type != JOURNAL_TASK) return 0;
    uint64_t pos = 0, llen;
    const unsigned char *lab;
    if (journal_get_str(p, len, &pos, &lab, &llen)) return 0; /* as replay would refuse */
    char *label = strndup((const char *)lab, (size_t)llen);
    if (!label) return PS_ENOMEM;
    int64_t i = grid_find(c->g, label);
    TaskResult *r = NULL;
    int ret = 0;
    if (i < 0) {
        rep->outside++;
        goto done;
    }
    if (task_result_unpack(p + pos, (size_t)(len - pos), &r) != 0) {
        snprintf(c->err, c->errlen, "%s: malformed task result at byte offset %llu",
                 c->pt->journal, (unsigned long long)off);
        ret = PS_EFORMAT;
        goto done;
    }
    int have = store_task_status(c->s, i);
    if (have == TASK_PENDING || (have == TASK_FAILED && r->status == TASK_DONE)) {
        if ((ret = store_commit_record(c->s, i, r, p, (size_t)len, c->err, c->errlen)) == 0)
            rep->taken++;
    } else if (have == TASK_DONE && r->status == TASK_DONE && !store_result_same(c->s, i, r)) {
        rep->differing++;
    } else {
        rep->duplicates++;
    }
done:
    task_result_free(&r);
    free(label);
    return ret;
}

/* "shards 2/3 and 3/3" of N that no part holds, when every other part is a
 * shard of the same N. */
static void missing_shards(const StoreMergeReport *rep, char *buf, size_t len)
{
    buf[0] = '\0';
    int n = 0;
    for (int p = 0; p < rep->nparts; p++) {
        if (rep->part[p].base) continue;
        if (rep->part[p].shard_n == 0 || (n && rep->part[p].shard_n != n)) return;
        n = rep->part[p].shard_n;
    }
    if (n == 0 || n > 1000) return;
    size_t used = 0;
    int count = 0;
    for (int k = 1; k <= n && used < len; k++) {
        int seen = 0;
        for (int p = 0; p < rep->nparts && !seen; p++)
            seen = rep->part[p].shard_k == k && rep->part[p].shard_n == n;
        if (seen) continue;
        if (count++ < 8)
            used += (size_t)snprintf(buf + used, len - used, "%s%d/%d", count > 1 ? ", " : "",
                                     k, n);
    }
    if (count > 8 && used < len) snprintf(buf + used, len - used, ", ... (%d shards)", count);
}

static int summary_line(Store *s, const StoreRunInfo *info, const StoreMergeReport *rep,
                        char *err, size_t errlen)
{
    char line[4096];
    int n = store_history_head(line, sizeof line, info ? info->command : "merge");
    n += snprintf(line + n, sizeof line - (size_t)n, ": %lld of %lld tasks done (%lld failed), "
                  "from", (long long)(rep->count[TASK_DONE] + rep->count[TASK_FAILED]),
                  (long long)rep->ntasks, (long long)rep->count[TASK_FAILED]);
    for (int p = 0; p < rep->nparts && (size_t)n < sizeof line; p++) {
        const StoreMergePart *pt = &rep->part[p];
        char what[48] = "the whole sweep";
        if (pt->shard_n > 0) snprintf(what, sizeof what, "shard %d/%d", pt->shard_k, pt->shard_n);
        n += snprintf(line + n, sizeof line - (size_t)n, "%s %s (%s%s: %lld new)",
                      p ? "," : "", pt->path, pt->base ? "this output, " : "", what,
                      (long long)pt->taken);
    }
    return store_append_history(s, line, err, errlen);
}

int store_merge(const char *output, const char *const *inputs, int ninputs,
                const StoreRunInfo *info, StoreMergeReport **out, char *err, size_t errlen)
{
    *out = NULL;
    if (errlen) err[0] = '\0';
    StoreMergeReport *rep = calloc(1, sizeof *rep);
    Part *parts = calloc((size_t)ninputs + 1, sizeof *parts);
    int ret = PS_ENOMEM, nparts = 0;
    JobSpec *job = NULL;
    Grid *g = NULL;
    Store *s = NULL;
    if (!rep || !parts || !(rep->part = calloc((size_t)ninputs + 1, sizeof *rep->part)))
        goto fail;

    /* Pass 1: the existing output first (when there is one), then the inputs,
     * each journal once. */
    struct stat ost, st;
    char *ojournal = store_concat(output, ".state/journal");
    if (!ojournal) goto fail;
    int have_out = stat(ojournal, &ost) == 0;
    free(ojournal);
    for (int k = -1; k < ninputs; k++) {
        const char *path = k < 0 ? output : inputs[k];
        if (k < 0 && !have_out) continue;
        Part *pt = &parts[nparts];
        pt->rep = &rep->part[nparts];
        if (!(pt->path = strdup(path)) || !(pt->rep->path = strdup(path))) goto fail;
        pt->rep->base = k < 0;
        rep->nparts = ++nparts;
        if ((ret = read_part(pt, err, errlen))) goto fail;
        /* The same output given twice (or the output itself): read once. */
        stat(pt->journal, &st);
        int dup = 0, q = 0;
        for (; q < nparts - 1 && !dup; q++) {
            struct stat qs;
            dup = stat(parts[q].journal, &qs) == 0 && qs.st_dev == st.st_dev &&
                  qs.st_ino == st.st_ino;
        }
        if (dup) {
            rep->repeated += !parts[q - 1].rep->base; /* the output itself may be listed */
            part_clear(pt);
            free(pt->rep->path);
            memset(pt->rep, 0, sizeof *pt->rep);
            memset(pt, 0, sizeof *pt);
            rep->nparts = --nparts;
            continue;
        }
        if (pt->rep->base && pt->rep->shard_n > 0) {
            snprintf(err, errlen, "%s holds shard %d/%d of a sweep: merge writes an output of "
                     "the whole sweep; choose another path for -o", output, pt->rep->shard_k,
                     pt->rep->shard_n);
            ret = PS_EMISMATCH;
            goto fail;
        }
        if (nparts > 1 && strcmp(pt->fingerprint, parts[0].fingerprint) != 0) {
            char what[768];
            store_describe_mismatch(pt->fingerprint, parts[0].fingerprint, parts[0].path, what,
                                    sizeof what);
            snprintf(err, errlen, "%s holds results of a different job than %s: %s; merge "
                     "combines outputs of one job only", pt->path, parts[0].path, what);
            ret = PS_EMISMATCH;
            goto fail;
        }
    }
    if (nparts == 0) {
        snprintf(err, errlen, "merge needs at least one output to read");
        ret = PS_EINVAL;
        goto fail;
    }

    /* The merged grid, and the output. */
    char gerr[1024];
    if ((ret = merged_job(parts, nparts, output, &rep->grid_generated, &job, err, errlen)))
        goto fail;
    if (grid_create(job, &g, gerr, sizeof gerr) < 0) {
        snprintf(err, errlen, "the union of the parts' grids is not a valid job: %s", gerr);
        ret = PS_EINVAL;
        goto fail;
    }
    StoreRunInfo oi = info ? *info : (StoreRunInfo){0};
    oi.shard_k = oi.shard_n = 0;
    oi.blas_core = oi.blas_core ? oi.blas_core : "merged (see history)";
    oi.layout = oi.layout ? oi.layout : "merged by polysweep merge (see history)";
    if ((ret = store_open_ex(g, output, 0, &oi, 0, &s, err, errlen))) goto fail;
    for (int p = 0; p < nparts; p++)
        for (int k = 0; k < parts[p].nhistory; k++)
            if (!store_has_history(s, parts[p].history[k]) &&
                (ret = store_append_history(s, parts[p].history[k], err, errlen)))
                goto fail;

    /* Pass 2: the results. */
    for (int p = 0; p < nparts; p++) {
        if (parts[p].rep->base) continue;
        Copy c = {.s = s, .g = g, .pt = &parts[p], .err = err, .errlen = errlen};
        JournalScanInfo info2;
        ret = journal_scan_readonly(parts[p].journal, copy_visit, &c, &info2, err, errlen);
        if (ret) goto fail;
    }
    rep->ntasks = store_task_total(s);
    for (int k = 0; k < 3; k++) rep->count[k] = store_count(s, k);
    rep->orphans = store_orphan_count(s);
    missing_shards(rep, rep->missing, sizeof rep->missing);
    if ((ret = summary_line(s, info, rep, err, errlen)) ||
        (ret = store_snapshot(s, err, errlen)))
        goto fail;
    *out = rep;
    rep = NULL;
    ret = 0;
fail:
    if (ret == PS_ENOMEM && errlen && !err[0])
        snprintf(err, errlen, "%s: out of memory (while merging)", output);
    store_close(&s);
    grid_free(&g);
    job_free(&job);
    for (int p = 0; p < nparts; p++) part_clear(&parts[p]);
    free(parts);
    store_merge_report_free(&rep);
    return ret;
}

void store_merge_report_free(StoreMergeReport **rp)
{
    if (!rp || !*rp) return;
    StoreMergeReport *r = *rp;
    for (int p = 0; r->part && p < r->nparts; p++) free(r->part[p].path);
    free(r->part);
    free(r);
    *rp = NULL;
}
