/* calibrate.c - how long a sweep's tasks take on this machine (size_impl.h):
 * tasks grouped by shape, representative shapes timed for a few dozen steps
 * plus a one-step task (the fixed cost per task), the others scaled from
 * their nearest representative, and the scheduler's longest-first hand-out
 * simulated on a number of workers.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "polysweep/data.h"
#include "polysweep/job.h"
#include "polysweep/model.h"
#include "polysweep/polysweep.h"
#include "polysweep/task.h"
#include "size_impl.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- shapes ---- */

static void shape_key_of(const TaskSpec *t, ShapeKey *k)
{
    memset(k, 0, sizeof *k);
    k->arch = t->arch, k->n = t->n, k->m = t->m, k->batch = t->batch;
    k->values = t->values, k->optimizer = t->optimizer, k->l1 = t->l1 > 0;
    k->noise = t->hidden_noise, k->population = t->population_loss;
    k->q = t->arch == ARCH_POWER ? t->q : 0;
    k->eval = t->eval_samples;
    k->sparse = model_sparse_wanted(t);
    k->density = k->sparse ? t->density : 0;
}

static uint64_t key_hash(const ShapeKey *k)
{
    return data_fnv1a(DATA_FNV_OFFSET, k, sizeof *k);
}

/* The index of shape k (added, with task i as its example, when new); -1
 * when out of memory. Open addressing, at most half full. */
static int shape_find_add(SizeEstimate *e, const ShapeKey *k, int64_t i)
{
    if (2 * (e->nshapes + 1) > e->nslot) {
        int nslot = e->nslot ? 2 * e->nslot : 64;
        int *slot = calloc((size_t)nslot, sizeof *slot);
        if (!slot)
            return -1;
        for (int j = 0; j < e->nshapes; j++) {
            int at = (int)(key_hash(&e->shapes[j].key) % (uint64_t)nslot);
            while (slot[at])
                at = (at + 1) % nslot;
            slot[at] = j + 1;
        }
        free(e->slot);
        e->slot = slot;
        e->nslot = nslot;
    }
    int at = (int)(key_hash(k) % (uint64_t)e->nslot);
    while (e->slot[at]) {
        int j = e->slot[at] - 1;
        if (!memcmp(&e->shapes[j].key, k, sizeof *k))
            return j;
        at = (at + 1) % e->nslot;
    }
    if (e->nshapes == e->cap) {
        int cap = e->cap ? 2 * e->cap : 16;
        Shape *s = realloc(e->shapes, (size_t)cap * sizeof *s);
        if (!s)
            return -1;
        e->shapes = s;
        e->cap = cap;
    }
    Shape *s = &e->shapes[e->nshapes];
    memset(s, 0, sizeof *s);
    s->key = *k;
    s->first = i;
    s->rep = -1;
    e->slot[at] = e->nshapes + 1;
    return e->nshapes++;
}

int size_shapes(const Grid *g, SizeEstimate *e)
{
    memset(e, 0, sizeof *e);
    e->ntasks = grid_task_count(g);
    if (e->ntasks < 1 || (uint64_t)e->ntasks > SIZE_MAX / sizeof(double))
        return PS_ENOMEM;
    size_t n = (size_t)e->ntasks;
    e->shape_of = malloc(n * sizeof *e->shape_of);
    e->cost = malloc(n * sizeof *e->cost);
    e->secs = malloc(n * sizeof *e->secs);
    if (!e->shape_of || !e->cost || !e->secs)
        return PS_ENOMEM;
    for (int64_t i = 0; i < e->ntasks; i++) {
        TaskSpec t;
        ShapeKey k;
        grid_task_spec(g, i, &t);
        shape_key_of(&t, &k);
        int j = shape_find_add(e, &k, i);
        if (j < 0)
            return PS_ENOMEM;
        Shape *s = &e->shapes[j];
        double c = grid_task_cost(g, i);
        if (s->ntasks++ == 0)
            s->step_cost = c / (double)(t.steps > 0 ? t.steps : 1);
        s->work += c;
        e->shape_of[i] = j;
        e->cost[i] = c;
        if (s->step_cost > e->max_step_cost)
            e->max_step_cost = s->step_cost;
    }
    return 0;
}

/* How different two shapes' step times are, roughly: the log of their work
 * ratio and of their density ratio, plus a unit for another code path and a
 * half for another model. */
static double shape_distance(const Shape *a, const Shape *b)
{
    double d = fabs(log(a->step_cost / b->step_cost));
    double da = a->key.sparse ? a->key.density : 1, db = b->key.sparse ? b->key.density : 1;
    d += fabs(log(da / db));
    return d + (a->key.sparse != b->key.sparse) + 0.5 * (a->key.arch != b->key.arch);
}

void size_shape_text(const Shape *s, char *buf, size_t len)
{
    char arch[32], values[32];
    const ShapeKey *k = &s->key;
    job_value_text(job_setting_find("arch"), k->arch, arch, sizeof arch);
    job_value_text(job_setting_find("values"), k->values, values, sizeof values);
    int at = snprintf(buf, len, "%s n=%d m=%d", arch, k->n, k->m);
#define MORE(...)                                                                         \
    do {                                                                                  \
        if (at >= 0 && (size_t)at < len)                                                  \
            at += snprintf(buf + at, len - (size_t)at, __VA_ARGS__);                      \
    } while (0)
    if (k->arch == ARCH_POWER)
        MORE(" q=%d", k->q);
    if (k->population)
        MORE(" population loss");
    else
        MORE(" batch=%d", k->batch);
    if (k->values != VALUES_UNIFORM)
        MORE(" %s", values);
    if (k->optimizer == OPT_SGD)
        MORE(" sgd");
    if (k->l1)
        MORE(" l1");
    if (k->noise)
        MORE(" hidden noise");
    if (k->sparse)
        MORE(" density=%g (sparse path)", k->density);
#undef MORE
}

/* ---- timing ---- */

typedef struct CalCtx {
    double t0, t1;
    int64_t s0, s1;
} CalCtx;

/* Tick after every step: the clock starts after two warm-up steps; stop after
 * a few dozen steps (at least 0.1 s of them), or 3 steps and 0.5 s. */
static int cal_tick(void *ctx, const TaskTick *tk)
{
    CalCtx *c = ctx;
    double t = now_s();
    if (tk->step <= 2) {
        c->t0 = t;
        c->s0 = tk->step;
        return 0;
    }
    c->t1 = t;
    c->s1 = tk->step;
    int64_t k = c->s1 - c->s0;
    double el = c->t1 - c->t0;
    return (k >= 30 && el >= 0.1) || (k >= 3 && el >= 0.5);
}

/* Time shape s: seconds per step (a few dozen steps of its example task) and
 * the fixed seconds per task (a one-step copy of it, repeated for 50 ms:
 * set-up, evaluation, measurements). 0 or PS_ENOMEM. */
static int time_shape(const Grid *g, Shape *s)
{
    TaskSpec t;
    grid_task_spec(g, s->first, &t);
    CalCtx c = {0};
    TaskHooks h = {.every = 1, .tick = cal_tick, .ctx = &c};
    TaskResult *r = NULL;
    double t0 = now_s();
    int rc = task_run_ex(&t, &h, &r);
    double whole = now_s() - t0;
    task_result_free(&r);
    if (rc && rc != PS_EINTR)
        return rc;
    if (c.s1 > c.s0)
        s->step_s = (c.t1 - c.t0) / (double)(c.s1 - c.s0);
    else /* a task of a step or two, or one that failed at once */
        s->step_s = whole / (double)(t.steps > 0 ? t.steps : 1);

    TaskSpec one = t;
    one.steps = 1;
    one.log_every = 1;
    one.lr_schedule = SCHED_CONSTANT; /* a warm-up longer than the task is meaningless */
    one.warmup_steps = 0;
    int runs = 0;
    double el;
    t0 = now_s();
    do {
        rc = task_run(&one, &r);
        task_result_free(&r);
        if (rc)
            return rc;
        runs++;
        el = now_s() - t0;
    } while (el < 0.05 && runs < 20);
    double fixed = el / runs - s->step_s;
    s->task_s = fixed > 0 ? fixed : 0;
    return 0;
}

int size_calibrate(const Grid *g, SizeEstimate *e, double budget)
{
    /* Representatives: the shape with the most work first, then repeatedly
     * the one farthest from those chosen, weighted by its share of the work,
     * until SIZE_MAX_REPS or the budget. */
    double start = now_s(), max_work = 0;
    int cand = 0;
    for (int j = 0; j < e->nshapes; j++)
        if (e->shapes[j].work > max_work)
            max_work = e->shapes[j].work, cand = j;
    e->nreps = 0;
    while (cand >= 0 && e->nreps < SIZE_MAX_REPS) {
        int rc = time_shape(g, &e->shapes[cand]);
        if (rc)
            return rc;
        e->reps[e->nreps++] = cand;
        e->shapes[cand].rep = cand;
        if (now_s() - start > budget)
            break;
        double best = 0;
        cand = -1;
        for (int j = 0; j < e->nshapes; j++) {
            if (e->shapes[j].rep == j)
                continue;
            double d = INFINITY;
            for (int r = 0; r < e->nreps; r++) {
                double x = shape_distance(&e->shapes[j], &e->shapes[e->reps[r]]);
                d = x < d ? x : d;
            }
            double score = d * sqrt(e->shapes[j].work / max_work);
            if (score > best)
                best = score, cand = j;
        }
    }
    e->cal_seconds = now_s() - start;

    /* Every other shape: from its nearest representative, scaled by the cost
     * model per step, and by the evaluation's size per task. */
    for (int j = 0; j < e->nshapes; j++) {
        Shape *s = &e->shapes[j];
        if (s->rep == j)
            continue;
        double d = INFINITY;
        for (int r = 0; r < e->nreps; r++) {
            double x = shape_distance(s, &e->shapes[e->reps[r]]);
            if (x < d)
                d = x, s->rep = e->reps[r];
        }
        const Shape *r = &e->shapes[s->rep];
        s->step_s = r->step_s * s->step_cost / r->step_cost;
        double fe = ((double)s->key.eval + s->key.n) * s->key.n * s->key.m;
        double re = ((double)r->key.eval + r->key.n) * r->key.n * r->key.m;
        s->task_s = r->task_s * (re > 0 ? fe / re : 1);
    }

    e->total = e->largest = 0;
    for (int64_t i = 0; i < e->ntasks; i++) {
        TaskSpec t;
        grid_task_spec(g, i, &t);
        const Shape *s = &e->shapes[e->shape_of[i]];
        e->secs[i] = s->task_s + (double)t.steps * s->step_s;
        e->total += e->secs[i];
        if (e->secs[i] > e->largest)
            e->largest = e->secs[i];
    }
    return 0;
}

/* ---- the hand-out ---- */

typedef struct Order {
    double cost, secs;
} Order;

static int by_cost_desc(const void *a, const void *b)
{
    double x = ((const Order *)a)->cost, y = ((const Order *)b)->cost;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Restore the min-heap property below the root. */
static void heap_down(double *h, int n, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && h[l] < h[m])
            m = l;
        if (r < n && h[r] < h[m])
            m = r;
        if (m == i)
            return;
        double x = h[i];
        h[i] = h[m];
        h[m] = x;
        i = m;
    }
}

double size_makespan(SizeEstimate *e, int workers)
{
    size_t n = (size_t)e->ntasks;
    Order *o = malloc(n * sizeof *o);
    int w = (int64_t)workers < e->ntasks ? workers : (int)e->ntasks;
    double *free_at = calloc((size_t)(w > 0 ? w : 1), sizeof *free_at), end = 0;
    if (!o || !free_at) {
        free(o);
        free(free_at);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        o[i].cost = e->cost[i], o[i].secs = e->secs[i];
    qsort(o, n, sizeof *o, by_cost_desc);
    /* List scheduling in the scheduler's order (longest first by the cost
     * estimate: Graham's LPT rule, R. L. Graham, "Bounds on multiprocessing
     * timing anomalies", SIAM J. Appl. Math. 17, 1969). free_at is a
     * min-heap of the times the workers become free: the first free worker
     * takes the next task. */
    for (size_t i = 0; i < n; i++) {
        free_at[0] += o[i].secs;
        end = free_at[0] > end ? free_at[0] : end;
        heap_down(free_at, w > 0 ? w : 1, 0);
    }
    free(o);
    free(free_at);
    return end;
}

void size_estimate_free(SizeEstimate *e)
{
    if (!e)
        return;
    free(e->shapes);
    free(e->slot);
    free(e->shape_of);
    free(e->cost);
    free(e->secs);
    memset(e, 0, sizeof *e);
}
