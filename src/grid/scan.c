/* scan.c - facts about the whole grid that take a pass over every task
 * (grid.h): the split of the tasks into shards, and which axes each resolved
 * setting depends on.
 *
 * Shards (grid_shard_assign): longest processing time first (Graham 1969,
 * "Bounds on multiprocessing timing anomalies"): the tasks sorted by
 * decreasing grid_task_cost, ties by increasing index, each given to the
 * shard with the smallest total cost so far (ties: the lowest shard). Its
 * largest shard costs at most 4/3 - 1/(3N) of the optimum. Costs are sums of
 * doubles in a fixed order with no fast-math, so the split is a function of
 * the job and N alone: the same on every machine, whatever the rank count.
 *
 * Resolved settings (grid_setting_axes): a fixed setting's value as the task
 * uses it (TaskSpec) can differ from the job's: the density follows from a
 * sparsity axis, one_hot sets batch = n, power has no bias. Setting s depends
 * on axis a when two tasks that differ only in their coordinate on a resolve
 * s differently; every task is compared with the task of its fiber along a at
 * coordinate 0, so the answer is exact (no sampling).
 */
#include <stdlib.h>
#include <string.h>

#include "polysweep/grid.h"
#include "polysweep/polysweep.h"

double grid_spec_setting(const TaskSpec *t, int s)
{
    const Setting *st = &job_settings[s];
    const char *f = (const char *)t + st->offset;
    switch (st->field) {
    case FIELD_INT: return *(const int *)f;
    case FIELD_INT64: return (double)*(const int64_t *)f;
    case FIELD_DOUBLE: return *(const double *)f;
    }
    return 0;
}

int grid_setting_axes(const Grid *g, uint64_t *mask)
{
    const JobSpec *job = grid_job(g);
    int64_t nt = grid_task_count(g);
    int ns = job_setting_count, na = job->naxes;
    int *varies = calloc((size_t)ns, sizeof *varies);
    int *coord = calloc((size_t)(na > 0 ? na : 1), sizeof *coord);
    if (!varies || !coord) {
        free(varies);
        free(coord);
        return PS_ENOMEM;
    }
    memset(mask, 0, (size_t)ns * sizeof *mask);
    TaskSpec base, t, u;
    grid_task_settings(g, 0, &base);
    /* Pass 1: which settings that are not axes vary at all. */
    int nvary = 0;
    for (int64_t i = 1; i < nt; i++) {
        grid_task_settings(g, i, &t);
        for (int s = 0; s < ns; s++)
            if (!varies[s] && job_axis_of(job, s) < 0 &&
                grid_spec_setting(&t, s) != grid_spec_setting(&base, s)) {
                varies[s] = 1;
                nvary++;
            }
    }
    /* Pass 2: along which axes. A (setting, axis) pair found once is settled;
     * the scan stops when every varying setting depends on every axis. */
    int64_t stride[64], st = 1;
    for (int a = na - 1; a >= 0; a--) {
        if (a < 64) stride[a] = st;
        st *= job->axes[a].count;
    }
    int open = nvary * na;
    for (int64_t i = 0; open > 0 && i < nt; i++) {
        grid_coords(g, i, coord);
        int have_t = 0;
        for (int a = 0; a < na && a < 64; a++) {
            if (coord[a] == 0) continue;
            int need = 0;
            for (int s = 0; s < ns && !need; s++)
                need = varies[s] && !(mask[s] >> a & 1);
            if (!need) continue;
            if (!have_t) {
                grid_task_settings(g, i, &t);
                have_t = 1;
            }
            grid_task_settings(g, i - coord[a] * stride[a], &u);
            for (int s = 0; s < ns; s++)
                if (varies[s] && !(mask[s] >> a & 1) &&
                    grid_spec_setting(&t, s) != grid_spec_setting(&u, s)) {
                    mask[s] |= (uint64_t)1 << a;
                    open--;
                }
        }
    }
    free(varies);
    free(coord);
    return 0;
}

/* ---- shards ---- */

typedef struct CostIndex {
    double cost;
    int64_t index;
} CostIndex;

static int by_cost_desc(const void *a, const void *b)
{
    const CostIndex *x = a, *y = b;
    if (x->cost != y->cost) return x->cost > y->cost ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* A binary min-heap of shards by (load, shard). */
typedef struct Heap {
    double *load;
    uint32_t *shard;
    uint32_t n;
} Heap;

static int heap_less(const Heap *h, uint32_t a, uint32_t b)
{
    if (h->load[a] != h->load[b]) return h->load[a] < h->load[b];
    return h->shard[a] < h->shard[b];
}

static void heap_swap(Heap *h, uint32_t a, uint32_t b)
{
    double l = h->load[a];
    uint32_t s = h->shard[a];
    h->load[a] = h->load[b];
    h->shard[a] = h->shard[b];
    h->load[b] = l;
    h->shard[b] = s;
}

/* The root's load grew: move it down to its place. */
static void heap_sift_down(Heap *h)
{
    for (uint32_t k = 0;;) {
        uint32_t l = 2 * k + 1, r = l + 1, m = k;
        if (l < h->n && heap_less(h, l, m)) m = l;
        if (r < h->n && heap_less(h, r, m)) m = r;
        if (m == k) return;
        heap_swap(h, k, m);
        k = m;
    }
}

int grid_shard_assign(const Grid *g, int nshards, uint32_t *shard_of)
{
    if (nshards < 1) return PS_EINVAL;
    int64_t nt = grid_task_count(g);
    CostIndex *ci = malloc((size_t)nt * sizeof *ci);
    Heap h = {malloc((size_t)nshards * sizeof(double)),
              malloc((size_t)nshards * sizeof(uint32_t)), (uint32_t)nshards};
    if (!ci || !h.load || !h.shard) {
        free(ci);
        free(h.load);
        free(h.shard);
        return PS_ENOMEM;
    }
    for (int64_t i = 0; i < nt; i++) ci[i] = (CostIndex){grid_task_cost(g, i), i};
    qsort(ci, (size_t)nt, sizeof *ci, by_cost_desc);
    /* All loads 0, shards in order: already a heap. */
    for (uint32_t k = 0; k < h.n; k++) {
        h.load[k] = 0;
        h.shard[k] = k;
    }
    for (int64_t k = 0; k < nt; k++) {
        shard_of[ci[k].index] = h.shard[0];
        h.load[0] += ci[k].cost;
        heap_sift_down(&h);
    }
    free(ci);
    free(h.load);
    free(h.shard);
    return 0;
}

int grid_shard_members(const Grid *g, int k, int nshards, unsigned char *member,
                       int64_t *count)
{
    int64_t nt = grid_task_count(g);
    if (count) *count = 0;
    if (k < 1 || k > nshards) return PS_EINVAL;
    uint32_t *of = malloc((size_t)(nt > 0 ? nt : 1) * sizeof *of);
    if (!of) return PS_ENOMEM;
    int rc = grid_shard_assign(g, nshards, of);
    if (rc == 0)
        for (int64_t i = 0; i < nt; i++) {
            member[i] = of[i] == (uint32_t)(k - 1);
            if (count) *count += member[i];
        }
    free(of);
    return rc;
}
