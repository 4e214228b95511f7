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
 *
 * Derived settings (task_fill): the density from sparsity, density or
 * kurtosis; one_hot's density 1/n, batch n and evaluation sample n; power's
 * bias 0; the input kurtosis of every task. The rules that tie settings
 * together are in check.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "polysweep/data.h"
#include "polysweep/grid.h"
#include "polysweep/polysweep.h"

#include "grid_impl.h"

/* Guards against a typo that multiplies a sweep past anything runnable
 * (and against int64 overflow of the product). */
#define GRID_MAX_TASKS 100000000LL

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
    int kurtosis_given;/* the job gives kurtosis: the density follows from it */
    int max_n, max_m, max_log;
};

static uint64_t key_start(int64_t seed)
{
    char head[40];
    int n = snprintf(head, sizeof(head), "seed=%lld;", (long long)seed);
    return data_fnv1a(DATA_FNV_OFFSET, head, (size_t)n);
}

uint64_t grid_key(int64_t seed, const char *label)
{
    uint64_t h = key_start(seed);
    if (label)
        h = data_fnv1a(h, label, strlen(label));
    return data_mix64(h);
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
        uint64_t h = data_fnv1a(DATA_FNV_OFFSET, ga->text + ga->off[k], ga->len[k]) & ga->mask;
        while (ga->slot[h] >= 0)
            h = (h + 1) & ga->mask;
        ga->slot[h] = k;
    }
    return 0;
}

static int axis_lookup(const GridAxis *ga, const char *piece, size_t n)
{
    uint64_t h = data_fnv1a(DATA_FNV_OFFSET, piece, n) & ga->mask;
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
    /* The job gives one of sparsity, density and kurtosis; the others follow
     * (p = 1 - S, p = mu4 / (mu2^2 K)). one_hot: each feature is active in
     * one example of n, and a full batch (and the evaluation sample) is the
     * n basis vectors. */
    if (t->values == VALUES_ONE_HOT) {
        t->density = 1.0 / t->n;
        t->sparsity = 1.0 - t->density;
        t->batch = t->n;
        t->eval_samples = t->n;
    } else if (g->kurtosis_given) {
        t->density = fmin(1.0, data_law_kurtosis(t->values) / t->kurtosis);
        t->sparsity = 1.0 - t->density;
    } else if (g->density_given) {
        t->sparsity = 1.0 - t->density;
    } else {
        t->density = 1.0 - t->sparsity;
    }
    if (!g->kurtosis_given || t->values == VALUES_ONE_HOT)
        t->kurtosis = data_kurtosis(t);
    /* A default bias means "the model's bias, if it has one". */
    if (t->arch == ARCH_POWER)
        t->bias = 0;
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
            ret = grid_fail(job, job->axes[a].line, job->axes[a].col, err, errlen,
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
    g->density_given = grid_given(job, job_setting_find("density"));
    g->kurtosis_given = grid_given(job, job_setting_find("kurtosis"));

    double lo, hi;
    grid_extremes(job, job_setting_find("n"), &lo, &hi);
    g->max_n = (int)hi;
    grid_extremes(job, job_setting_find("m"), &lo, &hi);
    g->max_m = (int)hi;
    grid_extremes(job, job_setting_find("steps"), &lo, &hi);
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

void grid_task_settings(const Grid *g, int64_t i, TaskSpec *out)
{
    task_fill(g, i, out);
    out->key = 0;
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
            h = data_fnv1a(h, ";", 1);
        h = data_fnv1a(h, ga->text + ga->off[k], ga->len[k]);
    }
    out->key = data_mix64(h);
}

/* Floating-point operations of one task, an estimate (design.md,
 * Performance). Per training step of the autoencoders (linear, relu_output,
 * gelu_output, relu_hidden, power):
 *   10 B n m   the GEMMs: forward h = W x and x' = W^T h (2 B n m each),
 *              backward dW from both products and dh (3 x 2 B n m);
 *   20 B n     data generation, bias, activation, loss and their gradients
 *              (gelu: + 40 B n for erf and exp; power: + 2 q B n; relu_hidden:
 *              + 4 B m for the hidden ReLU);
 * quadratic: 4 B n m (h = W x and dW = dh^T x) + 10 B n + 6 B m;
 * quadratic with population_loss, no batch at all: 4 n^2 m (G = W^T W and
 * dW = 2 W F) + 10 n^2;
 * gaussian values: + 30 B n (a log, a sqrt, a sin and a cos per pair);
 * the optimiser on every parameter (W and b): 16 (m n + n) for AdamW,
 * 6 (m n + n) for SGD; l1: + 4 m n.
 * Per evaluation sample a forward pass: 4 n m + 10 n (quadratic 2 n m + 4 n
 * + 2 m). one_hot tasks have B = eval_samples = n (task_fill). */
double grid_task_cost(const Grid *g, int64_t i)
{
    TaskSpec t;
    task_fill(g, i, &t);
    const double n = t.n, m = t.m, B = t.batch;
    double step, eval;
    if (t.arch == ARCH_QUADRATIC) {
        step = t.population_loss ? 4 * n * n * m + 10 * n * n
                                 : 4 * B * n * m + 10 * B * n + 6 * B * m;
        eval = 2 * n * m + 4 * n + 2 * m;
    } else {
        step = 10 * B * n * m + 20 * B * n;
        if (t.arch == ARCH_GELU_OUTPUT)
            step += 40 * B * n;
        else if (t.arch == ARCH_POWER)
            step += 2.0 * t.q * B * n;
        else if (t.arch == ARCH_RELU_HIDDEN)
            step += 4 * B * m;
        eval = 4 * n * m + 10 * n;
    }
    if (t.values == VALUES_GAUSSIAN && !t.population_loss)
        step += 30 * B * n;
    step += (t.optimizer == OPT_SGD ? 6 : 16) * (m * n + n);
    if (t.l1 > 0)
        step += 4 * m * n;
    return (double)t.steps * step + (double)t.eval_samples * eval;
}
