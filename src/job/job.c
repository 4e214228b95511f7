/* job.c - a job file into a checked JobSpec (job.h): the top-level keys,
 * the `settings:` and `run:` sections, the fingerprint text.
 *
 * Sections are read in file order and the first error stops the parse, so
 * the message names the first problem a reader meets going down the file.
 * Cross-setting rules that need the whole grid (sparsity vs density, steps
 * vs log_every) are grid_create's (src/grid/grid.c).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "polysweep/job.h"
#include "polysweep/polysweep.h"

#include "job_impl.h"

/* Job files are a page of YAML; this only stops a wrong path (a dataset,
 * a log) from being slurped whole. */
#define JOB_MAX_BYTES (16u << 20)

enum { KEY_TITLE, KEY_DESCRIPTION, KEY_OUTPUT, KEY_GRID, KEY_SETTINGS, KEY_RUN, KEY_COUNT };
static const char *const top_keys[] = {"title", "description", "output", "grid",
                                       "settings", "run", NULL};

/* `run:` options, read with the catalog's machinery. 0 = automatic threads. */
static const Setting run_options[] = {
    {"threads", SET_INT, NULL, 0, 0, 1e6, SETTING_HI_LIMIT, offsetof(JobRun, threads),
     FIELD_INT, "BLAS threads per worker; 0 = automatic", NULL, NULL, NULL},
    {"snapshot_every", SET_REAL, NULL, 60, 0, 1e9, SETTING_LO_OPEN | SETTING_HI_LIMIT,
     offsetof(JobRun, snapshot_every), FIELD_DOUBLE, "seconds between dataset snapshots",
     NULL, NULL, NULL},
    {"checkpoint_every", SET_REAL, NULL, 300, 0, 1e9, SETTING_LO_OPEN | SETTING_HI_LIMIT,
     offsetof(JobRun, checkpoint_every), FIELD_DOUBLE,
     "seconds between in-task checkpoints", NULL, NULL, NULL},
};
enum { RUN_COUNT = sizeof(run_options) / sizeof(run_options[0]) };

int job_axis_of(const JobSpec *job, int s)
{
    for (int a = 0; job && a < job->naxes; a++)
        if (job->axes[a].setting == s)
            return a;
    return -1;
}

void job_free(JobSpec **pjob)
{
    if (!pjob || !*pjob)
        return;
    JobSpec *job = *pjob;
    for (int a = 0; job->axes && a < job->naxes; a++)
        free(job->axes[a].values);
    free(job->axes);
    free(job->path);
    free(job->text);
    free(job->name);
    free(job->title);
    free(job->output);
    free(job->fixed);
    free(job->set);
    free(job->line);
    free(job->col);
    free(job);
    *pjob = NULL;
}

/* "jobs/tms.yaml" -> "tms": no directory, no last extension. */
static char *name_of(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t len = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    if (len == 0)
        return strdup("job");
    return strndup(base, len);
}

/* title, description, output: one scalar of text. */
static int text_value(JobParse *p, const char *key, const YNode *val, char **out)
{
    if (val->kind != YNODE_SCALAR)
        return job_fail(p, val, "%s must be text, got %s", key, ytree_kind_name(val->kind));
    if (!out) /* description: free text, not kept */
        return 0;
    if (ytree_is_null(val))
        return job_fail(p, val, "%s must be text, got no value", key);
    if (val->len == 0)
        return job_fail(p, val, "%s must not be empty", key);
    free(*out);
    *out = strdup(val->text);
    return *out ? 0 : PS_ENOMEM;
}

/* A section's value must be a mapping; `key:` with nothing is an empty one. */
static int section_map(JobParse *p, const char *key, const char *what, const YNode *val)
{
    if (val->kind == YNODE_MAP || ytree_is_null(val))
        return 0;
    return job_fail(p, val, "%s must be a mapping of %s, got %s", key, what,
                    ytree_kind_name(val->kind));
}

/* "unknown key" with a suggestion among the catalog's names. */
static int fail_unknown_setting(JobParse *p, const YNode *key, const char *where)
{
    const char **names = malloc((size_t)job_setting_count * sizeof(*names));
    if (!names)
        return PS_ENOMEM;
    for (int s = 0; s < job_setting_count; s++)
        names[s] = job_settings[s].name;
    int ret = job_fail_unknown(p, key, where, names, job_setting_count);
    free(names);
    return ret;
}

static int parse_grid(JobParse *p, const YNode *map)
{
    JobSpec *job = p->job;
    int ret;
    if ((ret = section_map(p, "grid", "setting names to axes", map)) < 0)
        return ret;
    if (map->kind != YNODE_MAP || map->n == 0)
        return 0;
    job->axes = calloc((size_t)map->n, sizeof(Axis));
    if (!job->axes)
        return PS_ENOMEM;
    for (int i = 0; i < map->n; i++) {
        const YNode *key = &map->items[2 * i], *val = &map->items[2 * i + 1];
        const char *name;
        if ((ret = job_map_key(p, map, i, &name)) < 0)
            return ret;
        int s = job_setting_find(name);
        if (s < 0)
            return fail_unknown_setting(p, key, " in grid");
        if ((ret = job_check_duplicate(p, map, i)) < 0)
            return ret;
        if (job->set[s])
            return job_fail(p, key, "'%s' is both a fixed setting (line %d) and a grid axis",
                            name, p->key_line[s]);
        /* naxes counts the axis before parsing so job_free releases its values
         * whatever happens. */
        job->naxes++;
        if ((ret = job_axis_parse(p, s, key, val, &job->axes[job->naxes - 1])) < 0)
            return ret;
    }
    return 0;
}

static int parse_settings(JobParse *p, const YNode *map)
{
    JobSpec *job = p->job;
    int ret;
    if ((ret = section_map(p, "settings", "setting names to values", map)) < 0)
        return ret;
    for (int i = 0; map->kind == YNODE_MAP && i < map->n; i++) {
        const YNode *key = &map->items[2 * i], *val = &map->items[2 * i + 1];
        const char *name;
        if ((ret = job_map_key(p, map, i, &name)) < 0)
            return ret;
        int s = job_setting_find(name);
        if (s < 0)
            return fail_unknown_setting(p, key, " in settings");
        if ((ret = job_check_duplicate(p, map, i)) < 0)
            return ret;
        int a = job_axis_of(job, s);
        if (a >= 0)
            return job_fail(p, key, "'%s' is both a grid axis (line %d) and a fixed setting",
                            name, job->axes[a].line);
        if ((ret = job_scalar_value(p, &job_settings[s], val, &job->fixed[s])) < 0)
            return ret;
        job->set[s] = 1;
        job->line[s] = val->line;
        job->col[s] = val->col;
        p->key_line[s] = key->line;
    }
    return 0;
}

static int parse_run(JobParse *p, const YNode *map)
{
    static const char *const names[] = {"threads", "snapshot_every", "checkpoint_every"};
    int ret;
    if ((ret = section_map(p, "run", "option names to values", map)) < 0)
        return ret;
    for (int i = 0; map->kind == YNODE_MAP && i < map->n; i++) {
        const YNode *key = &map->items[2 * i], *val = &map->items[2 * i + 1];
        const char *name;
        if ((ret = job_map_key(p, map, i, &name)) < 0)
            return ret;
        int r = 0;
        while (r < RUN_COUNT && strcmp(name, run_options[r].name))
            r++;
        if (r == RUN_COUNT)
            return job_fail_unknown(p, key, " in run", names, RUN_COUNT);
        if ((ret = job_check_duplicate(p, map, i)) < 0)
            return ret;
        double v;
        if ((ret = job_scalar_value(p, &run_options[r], val, &v)) < 0)
            return ret;
        char *field = (char *)&p->job->run + run_options[r].offset;
        if (run_options[r].field == FIELD_INT)
            *(int *)field = (int)v;
        else
            *(double *)field = v;
    }
    return 0;
}

static int parse_top(JobParse *p, const YNode *root)
{
    JobSpec *job = p->job;
    int ret = 0;
    if (!root || ytree_is_null(root))
        return job_fail(p, NULL, "the job file is empty");
    if (root->kind != YNODE_MAP)
        return job_fail(p, root, "a job file must be a YAML mapping of keys to values, got %s",
                        ytree_kind_name(root->kind));
    for (int i = 0; i < root->n; i++) {
        const YNode *key = &root->items[2 * i], *val = &root->items[2 * i + 1];
        const char *name;
        if ((ret = job_map_key(p, root, i, &name)) < 0)
            return ret;
        int k = 0;
        while (k < KEY_COUNT && strcmp(name, top_keys[k]))
            k++;
        if (k == KEY_COUNT)
            return job_fail_unknown(p, key, "", top_keys, KEY_COUNT);
        if ((ret = job_check_duplicate(p, root, i)) < 0)
            return ret;
        switch (k) {
        case KEY_TITLE: ret = text_value(p, "title", val, &job->title); break;
        case KEY_DESCRIPTION: ret = text_value(p, "description", val, NULL); break;
        case KEY_OUTPUT: ret = text_value(p, "output", val, &job->output); break;
        case KEY_GRID: ret = parse_grid(p, val); break;
        case KEY_SETTINGS: ret = parse_settings(p, val); break;
        case KEY_RUN: ret = parse_run(p, val); break;
        }
        if (ret < 0)
            return ret;
    }
    return 0;
}

static JobSpec *job_alloc(const char *path, const char *text, size_t len)
{
    JobSpec *job = calloc(1, sizeof(*job));
    if (!job)
        return NULL;
    size_t ns = (size_t)job_setting_count;
    job->path = strdup(path);
    job->text = malloc(len + 1);
    job->name = name_of(path);
    job->fixed = malloc(ns * sizeof(double));
    job->set = calloc(ns, 1);
    job->line = calloc(ns, sizeof(int));
    job->col = calloc(ns, sizeof(int));
    if (!job->path || !job->text || !job->name || !job->fixed || !job->set ||
        !job->line || !job->col) {
        job_free(&job);
        return NULL;
    }
    memcpy(job->text, text, len);
    job->text[len] = '\0';
    for (int s = 0; s < job_setting_count; s++)
        job->fixed[s] = job_settings[s].def;
    for (int r = 0; r < RUN_COUNT; r++) {
        char *field = (char *)&job->run + run_options[r].offset;
        if (run_options[r].field == FIELD_INT)
            *(int *)field = (int)run_options[r].def;
        else
            *(double *)field = run_options[r].def;
    }
    return job;
}

int job_parse(const char *path, const char *text, size_t len, JobSpec **out, char *err,
              size_t errlen)
{
    JobParse p = {.path = path ? path : "(job)", .err = err, .errlen = errlen};
    YNode *root = NULL;
    int ret, line = 1, col = 1;
    char msg[512];

    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    p.job = job_alloc(p.path, text ? text : "", text ? len : 0);
    p.key_line = calloc((size_t)job_setting_count, sizeof(int));
    if (!p.job || !p.key_line) {
        ret = PS_ENOMEM;
        goto fail;
    }
    ret = ytree_parse(p.job->text, text ? len : 0, &root, &line, &col, msg, sizeof(msg));
    if (ret < 0) {
        if (err && errlen)
            snprintf(err, errlen, "%s:%d:%d: %s", p.path, line, col, msg);
        goto fail;
    }
    if ((ret = parse_top(&p, root)) < 0)
        goto fail;
    if (!p.job->title && !(p.job->title = strdup(p.job->name))) {
        ret = PS_ENOMEM;
        goto fail;
    }
    if (!p.job->output) {
        size_t n = strlen(p.job->name) + sizeof("results/.nc");
        if (!(p.job->output = malloc(n))) {
            ret = PS_ENOMEM;
            goto fail;
        }
        snprintf(p.job->output, n, "results/%s.nc", p.job->name);
    }
    ytree_free(&root);
    free(p.key_line);
    *out = p.job;
    return 0;

fail:
    if (ret == PS_ENOMEM && err && errlen)
        snprintf(err, errlen, "%s:1:1: out of memory", p.path);
    ytree_free(&root);
    free(p.key_line);
    job_free(&p.job);
    return ret;
}

int job_load(const char *path, JobSpec **out, char *err, size_t errlen)
{
    char scratch[1];
    if (!err || errlen == 0) { /* the caller does not want the message */
        err = scratch;
        errlen = sizeof(scratch);
    }
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s:1:1: cannot read job file: %s", path, strerror(errno));
        return PS_EIO;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int ret = 0;
    for (;;) {
        if (len == cap) {
            if (cap >= JOB_MAX_BYTES) {
                snprintf(err, errlen, "%s:1:1: cannot read job file: larger than %u MiB",
                         path, JOB_MAX_BYTES >> 20);
                ret = PS_EINVAL;
                break;
            }
            cap = cap ? 2 * cap : 4096;
            char *nbuf = realloc(buf, cap);
            if (!nbuf) {
                ret = PS_ENOMEM;
                snprintf(err, errlen, "%s:1:1: out of memory", path);
                break;
            }
            buf = nbuf;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) {
                snprintf(err, errlen, "%s:1:1: cannot read job file: %s", path,
                         strerror(errno));
                ret = PS_EIO;
            }
            break;
        }
    }
    fclose(f);
    if (ret == 0)
        ret = job_parse(path, buf, len, out, err, errlen);
    free(buf);
    return ret;
}

char *job_fingerprint_text(const JobSpec *job)
{
    char value[64];
    size_t total = 1;
    /* Two passes: measure, then write. */
    for (int pass = 0; pass < 2; pass++) {
        char *out = pass ? malloc(total) : NULL;
        size_t used = 0;
        if (pass && !out)
            return NULL;
        if (out)
            out[0] = '\0';
        for (int s = 0; s < job_setting_count; s++) {
            if (job_axis_of(job, s) >= 0)
                continue;
            job_value_text(s, job->fixed[s], value, sizeof(value));
            int n = snprintf(out ? out + used : NULL, out ? total - used : 0, "%s=%s\n",
                             job_settings[s].name, value);
            used += (size_t)n;
        }
        for (int a = 0; a < job->naxes; a++) {
            int n = snprintf(out ? out + used : NULL, out ? total - used : 0, "axis %s\n",
                             job_settings[job->axes[a].setting].name);
            used += (size_t)n;
        }
        if (pass)
            return out;
        total = used + 1;
    }
    return NULL;
}

/* ---- writing a job back as text (job_write_text) ---- */

typedef struct Out {
    char *buf;
    size_t len, cap;
    int failed;
} Out;

__attribute__((format(printf, 2, 3)))
static void out_printf(Out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (o->failed || n < 0)
        return;
    if (o->len + (size_t)n + 1 > o->cap) {
        size_t cap = (o->cap ? 2 * o->cap : 1024) + (size_t)n;
        char *b = realloc(o->buf, cap);
        if (!b) {
            o->failed = 1;
            return;
        }
        o->buf = b;
        o->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    o->len += (size_t)n;
}

/* A YAML double-quoted scalar: backslash escapes for '"', '\' and control
 * characters; everything else (UTF-8 included) as it is. */
static void out_quoted(Out *o, const char *s)
{
    out_printf(o, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            out_printf(o, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            out_printf(o, "\\x%02x", *p);
        else
            out_printf(o, "%c", *p);
    }
    out_printf(o, "\"");
}

char *job_write_text(const JobSpec *job, const char *comment)
{
    Out o = {0};
    char value[64];
    for (const char *c = comment; c && *c;) {
        const char *nl = strchr(c, '\n');
        int n = nl ? (int)(nl - c) : (int)strlen(c);
        out_printf(&o, "# %.*s\n", n, c);
        c += n + (nl != NULL);
    }
    out_printf(&o, "title: ");
    out_quoted(&o, job->title ? job->title : "");
    out_printf(&o, "\noutput: ");
    out_quoted(&o, job->output ? job->output : "");
    out_printf(&o, "\n");
    if (job->naxes > 0)
        out_printf(&o, "grid:\n");
    for (int a = 0; a < job->naxes; a++) {
        const Axis *ax = &job->axes[a];
        out_printf(&o, "  %s: [", job_settings[ax->setting].name);
        for (int k = 0; k < ax->count; k++) {
            job_value_text(ax->setting, ax->values[k], value, sizeof value);
            out_printf(&o, "%s%s", k ? ", " : "", value);
        }
        out_printf(&o, "]\n");
    }
    int nset = 0;
    for (int s = 0; s < job_setting_count; s++) {
        if (!job->set[s] || job_axis_of(job, s) >= 0)
            continue;
        job_value_text(s, job->fixed[s], value, sizeof value);
        out_printf(&o, "%s  %s: %s\n", nset++ ? "" : "settings:\n", job_settings[s].name,
                   value);
    }
    int nrun = 0;
    for (int r = 0; r < RUN_COUNT; r++) {
        const char *field = (const char *)&job->run + run_options[r].offset;
        double v = run_options[r].field == FIELD_INT ? *(const int *)field
                                                     : *(const double *)field;
        if (v == run_options[r].def)
            continue;
        job_number_text(v, value, sizeof value);
        out_printf(&o, "%s  %s: %s\n", nrun++ ? "" : "run:\n", run_options[r].name, value);
    }
    if (o.failed) {
        free(o.buf);
        return NULL;
    }
    return o.buf ? o.buf : strdup("{}\n");
}
