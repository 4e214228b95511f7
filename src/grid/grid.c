/* grid.c - the cartesian product of a job's axes (grid.h): task indices,
 * coordinates, labels, TaskSpecs, random-stream keys and cost estimates.
 *
 * Task i's coordinates are the digits of i in the mixed radix of the axis
 * sizes, last axis fastest (row-major, the dataset's array order):
 *   i = sum_a coord[a] * stride[a],  stride[naxes-1] = 1,
 *   stride[a] = stride[a+1] * count[a+1].
 *
 * Labels are built from per-axis pieces "name=value" computed once here, and
 * grid_find looks each piece up in a per-axis hash table, so finding a task
 * costs O(label length) whatever the grid's size, and memory grows with the
 * sum of the axis sizes, not their product.
 *
 * Task key (grid_key): FNV-1a 64 (offset basis 0xcbf29ce484222325, prime
 * 0x100000001b3; Fowler, Noll, Vo) over the bytes of "seed=<seed>;" followed
 * by the label, then the splitmix64 finalizer (Steele, Lea, Flood 2014):
 *   z ^= z >> 30; z *= 0xbf58476d1ce4e5b9; z ^= z >> 27;
 *   z *= 0x94d049bb133111eb; z ^= z >> 31.
 * FNV alone mixes its last bytes poorly; the finalizer spreads every input
 * bit over the key, which seeds counter-based random streams (science.md 3).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "polysweep/grid.h"
#include "polysweep/polysweep.h"

/* Guards against a typo that multiplies a sweep past anything runnable
 * (and against int64 overflow of the product). */
#define GRID_MAX_TASKS 100000000LL
/* Loss-curve entries per task (steps / log_every): a dataset dimension. */
#define GRID_MAX_LOG 1000000LL

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

typedef struct GridAxis {
    const Setting *st;
    int count;
    char *text;      /* count pieces "name=value", each NUL-terminated */
    size_t *off;     /* count: offset of each piece in text */
    size_t *len;     /* count: strlen of each piece */
    int32_t *slot;   /* hash table of piece indices, -1 = empty */
    uint64_t mask;   /* table size - 1 (a power of two minus one) */
} GridAxis;

struct Grid {
    const JobSpec *job;
    int naxes;
    int64_t count;
    int64_t *stride;   /* naxes */
    GridAxis *ax;      /* naxes */
    TaskSpec base;     /* defaults and fixed settings applied */
    int density_given; /* the job gives density (else sparsity or neither) */
    int max_n, max_m, max_log;
};

static uint64_t fnv_update(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= FNV_PRIME;
    }
    return h;
}

static uint64_t splitmix_final(uint64_t z)
{
    z ^= z >> 30;
    z *= 0xbf58476d1ce4e5b9ULL;
    z ^= z >> 27;
    z *= 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return z;
}

static uint64_t key_start(int64_t seed)
{
    char head[40];
    int n = snprintf(head, sizeof(head), "seed=%lld;", (long long)seed);
    return fnv_update(FNV_OFFSET, head, (size_t)n);
}

uint64_t grid_key(int64_t seed, const char *label)
{
    uint64_t h = key_start(seed);
    if (label)
        h = fnv_update(h, label, strlen(label));
    return splitmix_final(h);
}

void grid_free(Grid **pg)
{
    if (!pg || !*pg)
        return;
    Grid *g = *pg;
    for (int a = 0; g->ax && a < g->naxes; a++) {
        free(g->ax[a].text);
        free(g->ax[a].off);
        free(g->ax[a].len);
        free(g->ax[a].slot);
    }
    free(g->ax);
    free(g->stride);
    free(g);
    *pg = NULL;
}

/* Pieces and hash table of axis a. */
static int axis_build(GridAxis *ga, const Axis *axis)
{
    const char *name = job_settings[axis->setting].name;
    size_t nlen = strlen(name), total = 0;
    char value[64];
    ga->st = &job_settings[axis->setting];
    ga->count = axis->count;
    ga->off = malloc((size_t)axis->count * sizeof(size_t));
    ga->len = malloc((size_t)axis->count * sizeof(size_t));
    if (!ga->off || !ga->len)
        return PS_ENOMEM;
    for (int k = 0; k < axis->count; k++) {
        job_value_text(axis->setting, axis->values[k], value, sizeof(value));
        ga->off[k] = total;
        ga->len[k] = nlen + 1 + strlen(value);
        total += ga->len[k] + 1;
    }
    ga->text = malloc(total);
    if (!ga->text)
        return PS_ENOMEM;
    for (int k = 0; k < axis->count; k++) {
        job_value_text(axis->setting, axis->values[k], value, sizeof(value));
        snprintf(ga->text + ga->off[k], ga->len[k] + 1, "%s=%s", name, value);
    }
    /* Open addressing, linear probing, load factor <= 1/2. */
    uint64_t size = 2;
    while (size < 2 * (uint64_t)axis->count)
        size *= 2;
    ga->mask = size - 1;
    ga->slot = malloc(size * sizeof(int32_t));
    if (!ga->slot)
        return PS_ENOMEM;
    memset(ga->slot, 0xff, size * sizeof(int32_t));
    for (int k = 0; k < axis->count; k++) {
        uint64_t h = fnv_update(FNV_OFFSET, ga->text + ga->off[k], ga->len[k]) & ga->mask;
        while (ga->slot[h] >= 0)
            h = (h + 1) & ga->mask;
        ga->slot[h] = k;
    }
    return 0;
}

static int axis_lookup(const GridAxis *ga, const char *piece, size_t n)
{
    uint64_t h = fnv_update(FNV_OFFSET, piece, n) & ga->mask;
    for (; ga->slot[h] >= 0; h = (h + 1) & ga->mask) {
        int k = ga->slot[h];
        if (ga->len[k] == n && !memcmp(ga->text + ga->off[k], piece, n))
            return k;
    }
    return -1;
}

static void spec_set(TaskSpec *t, const Setting *s, double v)
{
    char *f = (char *)t + s->offset;
    switch (s->field) {
    case FIELD_INT: *(int *)f = (int)v; break;
    case FIELD_INT64: *(int64_t *)f = (int64_t)v; break;
    case FIELD_DOUBLE: *(double *)f = v; break;
    }
}

/* Fill t for task i: base, the task's axis values, sparsity/density. No key. */
static void task_fill(const Grid *g, int64_t i, TaskSpec *t)
{
    *t = g->base;
    for (int a = 0; a < g->naxes; a++) {
        const Axis *axis = &g->job->axes[a];
        int k = (int)((i / g->stride[a]) % axis->count);
        spec_set(t, g->ax[a].st, axis->values[k]);
    }
    /* The job gives one of sparsity and density; the other follows (p = 1 - S). */
    if (g->density_given)
        t->sparsity = 1.0 - t->density;
    else
        t->density = 1.0 - t->sparsity;
}

/* Where setting s was written: its axis's key or its fixed value; 0 if not. */
static void where(const JobSpec *job, int s, int *line, int *col)
{
    int a = job_axis_of(job, s);
    /* A JobSpec built by hand (not by job_parse) may have no positions. */
    *line = a >= 0 ? job->axes[a].line : job->line ? job->line[s] : 0;
    *col = a >= 0 ? job->axes[a].col : job->col ? job->col[s] : 0;
}

__attribute__((format(printf, 6, 7)))
static int fail(const JobSpec *job, int line, int col, char *err, size_t errlen,
                const char *fmt, ...)
{
    if (!err || errlen == 0)
        return PS_EINVAL;
    int used = snprintf(err, errlen, "%s:%d:%d: ", job->path ? job->path : "(job)",
                        line ? line : 1, col ? col : 1);
    if (used >= 0 && (size_t)used < errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + used, errlen - (size_t)used, fmt, ap);
        va_end(ap);
    }
    return PS_EINVAL;
}

/* Range of setting s over the grid: its axis's extremes or its fixed value. */
static void extremes(const JobSpec *job, int s, double *lo, double *hi)
{
    int a = job_axis_of(job, s);
    if (a < 0) {
        *lo = *hi = job->fixed[s];
        return;
    }
    *lo = *hi = job->axes[a].values[0];
    for (int k = 1; k < job->axes[a].count; k++) {
        double v = job->axes[a].values[k];
        *lo = v < *lo ? v : *lo;
        *hi = v > *hi ? v : *hi;
    }
}

/* The rules that tie settings together; every task must pass them. */
static int grid_check(const JobSpec *job, char *err, size_t errlen)
{
    int s_sp = job_setting_find("sparsity"), s_de = job_setting_find("density");
    int s_steps = job_setting_find("steps"), s_log = job_setting_find("log_every");
    int l1, c1, l2, c2;

    /* sparsity and density say the same thing: one of them, at most. */
    where(job, s_sp, &l1, &c1);
    where(job, s_de, &l2, &c2);
    if (l1 && l2) {
        int dens_later = l2 > l1 || (l2 == l1 && c2 > c1);
        const char *later = dens_later ? "density" : "sparsity";
        const char *earlier = dens_later ? "sparsity" : "density";
        return fail(job, dens_later ? l2 : l1, dens_later ? c2 : c1, err, errlen,
                    "'%s' and '%s' (line %d) are both given; give one of them "
                    "(density = 1 - sparsity)", later, earlier, dens_later ? l1 : l2);
    }

    /* Loss curves are windows of log_every steps: steps must fill them. The
     * message points at steps when the job gives it, else at log_every. */
    int64_t log_every = (int64_t)job->fixed[s_log];
    int a = job_axis_of(job, s_steps);
    int nsteps = a >= 0 ? job->axes[a].count : 1;
    double max_steps = 0;
    for (int k = 0; k < nsteps; k++) {
        double v = a >= 0 ? job->axes[a].values[k] : job->fixed[s_steps];
        max_steps = v > max_steps ? v : max_steps;
        if ((int64_t)v % log_every != 0) {
            where(job, s_steps, &l1, &c1);
            if (!l1)
                where(job, s_log, &l1, &c1);
            return fail(job, l1, c1, err, errlen,
                        "steps %lld is not a multiple of log_every %lld", (long long)v,
                        (long long)log_every);
        }
    }
    if (max_steps / (double)log_every > (double)GRID_MAX_LOG) {
        where(job, s_log, &l1, &c1);
        if (!l1)
            where(job, s_steps, &l1, &c1);
        return fail(job, l1, c1, err, errlen,
                    "steps %lld with log_every %lld gives %lld loss-curve entries, "
                    "more than %lld (raise log_every)", (long long)max_steps,
                    (long long)log_every, (long long)(max_steps / (double)log_every),
                    GRID_MAX_LOG);
    }
    return 0;
}

int grid_create(const JobSpec *job, Grid **out, char *err, size_t errlen)
{
    int ret;
    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    if ((ret = grid_check(job, err, errlen)) < 0)
        return ret;

    Grid *g = calloc(1, sizeof(*g));
    if (!g)
        goto nomem;
    g->job = job;
    g->naxes = job->naxes;
    g->count = 1;
    for (int a = 0; a < job->naxes; a++) {
        g->count *= job->axes[a].count;
        if (g->count > GRID_MAX_TASKS) {
            ret = fail(job, job->axes[a].line, job->axes[a].col, err, errlen,
                       "axis '%s' brings the grid to %lld tasks, more than the limit "
                       "of %lld", job_settings[job->axes[a].setting].name,
                       (long long)g->count, GRID_MAX_TASKS);
            grid_free(&g);
            return ret;
        }
    }
    if (g->naxes > 0) {
        g->stride = malloc((size_t)g->naxes * sizeof(int64_t));
        g->ax = calloc((size_t)g->naxes, sizeof(GridAxis));
        if (!g->stride || !g->ax)
            goto nomem;
        int64_t stride = 1;
        for (int a = g->naxes - 1; a >= 0; a--) {
            g->stride[a] = stride;
            stride *= job->axes[a].count;
        }
        for (int a = 0; a < g->naxes; a++)
            if (axis_build(&g->ax[a], &job->axes[a]) < 0)
                goto nomem;
    }

    memset(&g->base, 0, sizeof(g->base));
    for (int s = 0; s < job_setting_count; s++)
        spec_set(&g->base, &job_settings[s], job->fixed[s]);
    int s_de = job_setting_find("density");
    g->density_given = (job->set && job->set[s_de]) || job_axis_of(job, s_de) >= 0;

    double lo, hi;
    extremes(job, job_setting_find("n"), &lo, &hi);
    g->max_n = (int)hi;
    extremes(job, job_setting_find("m"), &lo, &hi);
    g->max_m = (int)hi;
    extremes(job, job_setting_find("steps"), &lo, &hi);
    g->max_log = (int)((int64_t)hi / (int64_t)job->fixed[job_setting_find("log_every")]);
    *out = g;
    return 0;

nomem:
    grid_free(&g);
    if (err && errlen)
        snprintf(err, errlen, "%s:1:1: out of memory", job->path ? job->path : "(job)");
    return PS_ENOMEM;
}

const JobSpec *grid_job(const Grid *g) { return g->job; }

int64_t grid_task_count(const Grid *g) { return g->count; }

int grid_max_n(const Grid *g) { return g->max_n; }
int grid_max_m(const Grid *g) { return g->max_m; }
int grid_max_log(const Grid *g) { return g->max_log; }

void grid_coords(const Grid *g, int64_t i, int *coord)
{
    for (int a = 0; a < g->naxes; a++)
        coord[a] = (int)((i / g->stride[a]) % g->ax[a].count);
}

int64_t grid_index(const Grid *g, const int *coord)
{
    int64_t i = 0;
    for (int a = 0; a < g->naxes; a++) {
        if (coord[a] < 0 || coord[a] >= g->ax[a].count)
            return -1;
        i += coord[a] * g->stride[a];
    }
    return i;
}

size_t grid_task_label(const Grid *g, int64_t i, char *buf, size_t len)
{
    /* Like snprintf: write what fits (always NUL-terminated when len > 0),
     * return the full length. */
    size_t need = 0;
    for (int a = 0; a < g->naxes; a++) {
        const GridAxis *ga = &g->ax[a];
        int k = (int)((i / g->stride[a]) % ga->count);
        const char *piece = ga->text + ga->off[k];
        if (a > 0) {
            if (need + 1 < len)
                buf[need] = ';';
            need++;
        }
        if (need < len) {
            size_t room = len - 1 - need;
            memcpy(buf + need, piece, ga->len[k] < room ? ga->len[k] : room);
        }
        need += ga->len[k];
    }
    if (len > 0)
        buf[need < len ? need : len - 1] = '\0';
    return need;
}

int64_t grid_find(const Grid *g, const char *label)
{
    if (!label)
        return -1;
    if (g->naxes == 0)
        return label[0] == '\0' ? 0 : -1;
    const char *pos = label;
    int64_t i = 0;
    for (int a = 0; a < g->naxes; a++) {
        const char *end = strchr(pos, ';');
        if (!end)
            end = pos + strlen(pos);
        /* Axes in order; only the last piece may end the label. */
        if ((a < g->naxes - 1) != (*end == ';'))
            return -1;
        int k = axis_lookup(&g->ax[a], pos, (size_t)(end - pos));
        if (k < 0)
            return -1;
        i += k * g->stride[a];
        pos = end + 1;
    }
    return i;
}

void grid_task_spec(const Grid *g, int64_t i, TaskSpec *out)
{
    task_fill(g, i, out);
    /* grid_key(seed, label), hashed piece by piece: no label buffer. */
    uint64_t h = key_start(out->seed);
    for (int a = 0; a < g->naxes; a++) {
        const GridAxis *ga = &g->ax[a];
        int k = (int)((i / g->stride[a]) % ga->count);
        if (a > 0)
            h = fnv_update(h, ";", 1);
        h = fnv_update(h, ga->text + ga->off[k], ga->len[k]);
    }
    out->key = splitmix_final(h);
}

/* Floating-point operations of one task, an estimate of relu_output and
 * linear work (design.md, Performance): per training step
 *   10 B n m   the GEMMs: forward h = W x and x' = W^T h (2 B n m each),
 *              backward dW from both products and dh (3 x 2 B n m);
 *   20 B n     data generation, bias, activation, loss and their gradients;
 *   16 (m n + n)  AdamW on every parameter (W and b);
 * and per evaluation sample a forward pass, 4 n m + 10 n. */
double grid_task_cost(const Grid *g, int64_t i)
{
    TaskSpec t;
    task_fill(g, i, &t);
    double n = t.n, m = t.m, B = t.batch;
    return (double)t.steps * (10 * B * n * m + 20 * B * n + 16 * (m * n + n)) +
           (double)t.eval_samples * (4 * n * m + 10 * n);
}
