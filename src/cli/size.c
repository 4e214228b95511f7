/* size.c - `polysweep plan JOB [sizing options]`: after the plan, suggest how
 * to run the sweep on a cluster - ranks, BLAS threads per worker, nodes and a
 * time limit for a node shape - and print the sbatch line for
 * slurm/polysweep.sbatch.
 *
 * The time comes from calibrate.c: representative task shapes timed on this
 * machine, the scheduler's longest-first hand-out simulated on the workers.
 * The rate is this machine's: run `plan` on a compute node (srun -n1
 * polysweep plan ...) to size for the cluster's. The time limit is the
 * estimate x SIZE_MARGIN plus the start-up and the batch script's warning
 * lead; an estimate that is too short costs a requeue, not the results.
 */
#include <math.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_private.h"
#include "polysweep/grid.h"
#include "polysweep/kernels.h"
#include "polysweep/polysweep.h"
#include "polysweep/store.h"
#include "size_impl.h"

/* The batch script's warning: SIGUSR1 this many seconds before the limit
 * (#SBATCH --signal=B:USR1@180 in slurm/polysweep.sbatch). */
#define SIZE_SIGNAL_LEAD 180.0
/* Start-up of a run: srun, MPI, reading the journal. */
#define SIZE_STARTUP 60.0
/* Margin on the estimate for the time limit. */
#define SIZE_MARGIN 1.25
/* Rank 0's own cost per task (receive, hand out, journal commit with fsync;
 * README "Benchmarks": 0.26-0.73 ms on a loaded 2-core VM). */
#define SIZE_RANK0_TASK 0.3e-3
/* Flops per step from which BLAS threads inside a task pay (GEMMs of
 * ~10^8 flop; README "Threads: choosing ranks x threads"). */
#define SIZE_THREADS_FLOP 1e8
/* Seconds the calibration may take (it stops timing new shapes after). */
#define SIZE_BUDGET 8.0

typedef struct SizeOptions {
    int nodes, cores, threads; /* 0: choose */
    double max_time;           /* seconds; 0: none */
} SizeOptions;

/* Ranks, threads and nodes chosen for the sweep. */
typedef struct Layout {
    int nodes, asked_nodes, per_node, threads, ranks, workers;
    const char *why;
} Layout;

static int local_cores(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    return 1;
}

/* Slurm's time formats (sbatch --time): M, M:S, H:M:S, D-H, D-H:M, D-H:M:S.
 * Seconds, or -1 when s is none of them. */
static double parse_slurm_time(const char *s)
{
    long v[3] = {0}, days = -1;
    int nv = 0;
    const char *p = s;
    const char *dash = strchr(s, '-');
    if (dash) {
        char *end;
        days = strtol(s, &end, 10);
        if (end != dash || end == s || days < 0)
            return -1;
        p = dash + 1;
    }
    for (;;) {
        char *end;
        if (*p < '0' || *p > '9' || nv == 3)
            return -1;
        v[nv++] = strtol(p, &end, 10);
        if (*end == '\0')
            break;
        if (*end != ':')
            return -1;
        p = end + 1;
    }
    double t;
    if (days >= 0) /* D-H, D-H:M, D-H:M:S */
        t = 86400.0 * days + 3600.0 * v[0] + 60.0 * v[1] + v[2];
    else if (nv == 1) /* M */
        t = 60.0 * v[0];
    else if (nv == 2) /* M:S */
        t = 60.0 * v[0] + v[1];
    else /* H:M:S */
        t = 3600.0 * v[0] + 60.0 * v[1] + v[2];
    return t > 0 ? t : -1;
}

/* [D-]HH:MM:SS, as sbatch --time takes it. */
static void slurm_time_text(double sec, char *buf, size_t len)
{
    long t = (long)ceil(sec);
    long d = t / 86400, h = t / 3600 % 24, m = t / 60 % 60, s = t % 60;
    if (d)
        snprintf(buf, len, "%ld-%02ld:%02ld:%02ld", d, h, m, s);
    else
        snprintf(buf, len, "%02ld:%02ld:%02ld", h, m, s);
}

static void duration_text(double s, char *buf, size_t len)
{
    if (s < 1)
        snprintf(buf, len, "%.0f ms", 1e3 * s);
    else if (s < 120)
        snprintf(buf, len, "%.1f s", s);
    else if (s < 7200)
        snprintf(buf, len, "%.1f min", s / 60);
    else if (s < 3 * 86400)
        snprintf(buf, len, "%.1f h", s / 3600);
    else
        snprintf(buf, len, "%.1f days", s / 86400);
}

/* T = 1 unless there are fewer tasks than cores and the GEMMs are large
 * enough for threads to pay (README: independent tasks scale across cores
 * better than BLAS threads inside a task); then the spare cores become
 * threads. Never more ranks than tasks + 1, nor more nodes than they fill. */
static void choose_layout(const SizeOptions *o, int C, int64_t tasks, double max_step_cost,
                          Layout *l)
{
    int N = o->nodes ? o->nodes : 1;
    int T = o->threads;
    if (T) {
        l->why = "BLAS threads as asked (--threads)";
    } else if (tasks + 1 >= (int64_t)N * C) {
        T = 1;
        l->why = "one BLAS thread per worker: independent tasks scale across cores better "
                 "than threads inside a task";
    } else if (max_step_cost >= SIZE_THREADS_FLOP) {
        T = 1;
        while (T < C && (int64_t)N * (C / (T + 1)) >= tasks + 1)
            T++;
        l->why = T > 1 ? "fewer tasks than cores, and GEMMs large enough for threads: the "
                         "spare cores become BLAS threads"
                       : "one BLAS thread per worker";
    } else {
        T = 1;
        l->why = "fewer tasks than cores, and GEMMs too small for threads to pay: fewer ranks";
    }
    l->threads = T;
    l->per_node = C / T;
    l->asked_nodes = N;
    int64_t ranks = (int64_t)N * l->per_node;
    if (ranks > tasks + 1) { /* more ranks than tasks can use: maybe fewer nodes */
        ranks = tasks + 1;
        N = (int)((ranks + l->per_node - 1) / l->per_node);
    }
    l->nodes = N;
    l->ranks = (int)ranks;
    l->workers = ranks > 1 ? (int)ranks - 1 : 1; /* a single rank runs the tasks itself */
}

static void print_plan(const char *path, const SizeOptions *o, const Grid *g,
                       SizeEstimate *e, const Layout *l, int C, int here, int cal_threads)
{
    char buf[160], t1[32], t2[32], t3[32];
    printf("calibrate %d of %d task shape%s timed here (%d core%s, OpenBLAS %s, %d BLAS thread%s) "
           "in %.1f s:\n",
           e->nreps, e->nshapes, e->nshapes == 1 ? "" : "s", here, here == 1 ? "" : "s",
           kern_blas_core(), cal_threads, cal_threads == 1 ? "" : "s", e->cal_seconds);
    for (int r = 0; r < e->nreps; r++) {
        const Shape *s = &e->shapes[e->reps[r]];
        size_shape_text(s, buf, sizeof buf);
        printf("          %8.3g ms/step + %8.3g ms/task  %5.3g GFLOP/s  %s\n", 1e3 * s->step_s,
               1e3 * s->task_s, s->step_cost / s->step_s / 1e9, buf);
    }
    const int64_t ntasks = e->ntasks;
    double span = size_makespan(e, l->workers);
    if (span < 0) { /* no memory for the simulation: list scheduling's bound */
        span = e->total / l->workers + e->largest;
    }
    double rank0 = l->ranks > 1 ? (double)ntasks * SIZE_RANK0_TASK : 0;
    int rank0_bound = rank0 > span;
    if (rank0_bound)
        span = rank0;

    duration_text(e->total, t1, sizeof t1);
    duration_text(e->largest, t2, sizeof t2);
    duration_text(e->total / (double)ntasks, t3, sizeof t3);
    printf("work      %s on one worker (%.3g core-hours); tasks %s on average, the largest %s\n",
           t1, e->total * l->threads / 3600, t3, t2);
    printf("layout    %d node%s x %d core%s%s: ", l->nodes, l->nodes == 1 ? "" : "s", C,
           C == 1 ? "" : "s", o->cores ? "" : " (this machine)");
    if (l->ranks == 1)
        printf("1 rank x %d CPU%s, which runs the tasks itself with %d BLAS thread%s\n",
               l->threads, l->threads == 1 ? "" : "s", l->threads, l->threads == 1 ? "" : "s");
    else
        printf("%d ranks x %d CPU%s = rank 0 + %d worker%s x %d BLAS thread%s\n", l->ranks,
               l->threads, l->threads == 1 ? "" : "s", l->workers, l->workers == 1 ? "" : "s",
               l->threads, l->threads == 1 ? "" : "s");
    printf("          (%s)\n", l->why);
    if (l->nodes < l->asked_nodes)
        printf("          (%lld tasks cannot use %d nodes: %d %s enough)\n", (long long)ntasks,
               l->asked_nodes, l->nodes, l->nodes == 1 ? "is" : "are");
    if (l->ranks > 1 && l->ranks <= 10)
        printf("          (rank 0 schedules and writes: 1 of the %d ranks trains nothing)\n",
               l->ranks);
    duration_text(span, t1, sizeof t1);
    printf("estimate  %s on %d worker%s, longest tasks first%s\n", t1, l->workers,
           l->workers == 1 ? "" : "s",
           rank0_bound ? " (rank 0's commits are the bottleneck: make tasks larger)" : "");

    double limit = ceil((SIZE_MARGIN * span + SIZE_STARTUP + SIZE_SIGNAL_LEAD) / 60) * 60;
    if (limit > 3600)
        limit = ceil(limit / 600) * 600;
    int capped = o->max_time > 0 && limit > o->max_time;
    if (capped)
        limit = o->max_time;
    slurm_time_text(limit, t1, sizeof t1);
    if (!capped) {
        printf("time      --time=%s (estimate x %.2f, plus %.0f s for start-up and the %.0f s "
               "warning before the limit)\n",
               t1, SIZE_MARGIN, SIZE_STARTUP, SIZE_SIGNAL_LEAD);
    } else {
        double usable = limit - SIZE_STARTUP - SIZE_SIGNAL_LEAD;
        if (usable <= 0) {
            printf("time      --time=%s (--max-time) leaves no time to run: each run stops "
                   "%.0f s before its limit\n", t1, SIZE_SIGNAL_LEAD);
        } else {
            double runs = ceil(SIZE_MARGIN * span / usable);
            printf("time      --time=%s (--max-time): about %.0f runs of the job, which requeues "
                   "itself after each\n", t1, runs);
            if (runs > 21)
                printf("          (more than the batch script's 20 requeues: set "
                       "POLYSWEEP_MAX_REQUEUES, or use more nodes)\n");
            int need = (int)ceil(l->nodes * SIZE_MARGIN * span / usable);
            if (need > l->nodes && (int64_t)need * l->per_node <= ntasks + 1)
                printf("          (about %d nodes would finish it in one run)\n", need);
            if (e->largest > usable)
                printf("          (the largest task is longer than a run: it goes on from its "
                       "checkpoints, see --checkpoint-every)\n");
        }
    }
    double bytes = store_dataset_bytes(g);
    if (bytes > 1e9)
        printf("memory    rank 0 keeps the dataset (%.1f GB) in memory: ask for enough "
               "(--mem-per-cpu or --mem)\n", bytes / 1e9);
    if (l->workers >= 100 && e->total / (double)ntasks < 0.5)
        printf("note      tasks this short keep rank 0 busy on %d workers (README, Benchmarks): "
               "make them larger (more steps or batch per task)\n", l->workers);
    if (l->ranks < l->nodes * l->per_node)
        printf("submit    sbatch --nodes=%d --ntasks=%d --cpus-per-task=%d --time=%s "
               "slurm/polysweep.sbatch %s\n", l->nodes, l->ranks, l->threads, t1, path);
    else
        printf("submit    sbatch --nodes=%d --ntasks-per-node=%d --cpus-per-task=%d --time=%s "
               "slurm/polysweep.sbatch %s\n", l->nodes, l->per_node, l->threads, t1, path);
}

static int size_run(const char *path, const SizeOptions *o)
{
    JobSpec *job = NULL;
    Grid *g = NULL;
    SizeEstimate e = {0};
    int code = PS_EXIT_INTERNAL;
    if (cli_load_grid(path, &job, &g) < 0)
        return PS_EXIT_USAGE;
    const int here = local_cores(), C = o->cores ? o->cores : here;
    if (size_shapes(g, &e) < 0)
        goto oom;
    Layout l;
    choose_layout(o, C, e.ntasks, e.max_step_cost, &l);
    /* Calibrate with the workers' threads, as far as this machine has them. */
    int cal_threads = l.threads < here ? l.threads : here;
    kern_blas_set_threads(cal_threads);
    int rc = size_calibrate(g, &e, SIZE_BUDGET);
    if (rc == PS_ENOMEM)
        goto oom;
    if (rc < 0) {
        fprintf(stderr, "polysweep: timing the sweep's tasks failed (error %d)\n", rc);
        goto done;
    }
    print_plan(path, o, g, &e, &l, C, here, cal_threads);
    code = PS_EXIT_OK;
    goto done;
oom:
    fprintf(stderr, "polysweep: out of memory while sizing the sweep\n");
done:
    size_estimate_free(&e);
    grid_free(&g);
    job_free(&job);
    return code;
}

static int size_usage(const char *msg, const char *arg)
{
    return cli_usage("usage: polysweep plan JOB [--nodes N] [--cores-per-node C] [--threads T]\n"
                     "                          [--max-time TIME] [--calibrate]", msg, arg);
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    long x = strtol(s, &end, 10);
    if (end == s || *end || x < lo || x > hi)
        return -1;
    *out = (int)x;
    return 0;
}

int cli_plan_main(int argc, char **argv)
{
    SizeOptions o = {0};
    const char *path = NULL;
    int sizing = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--nodes") || !strcmp(a, "--cores-per-node") || !strcmp(a, "--threads")) {
            int *dst = a[2] == 'n' ? &o.nodes : a[2] == 'c' ? &o.cores : &o.threads;
            if (!v || parse_int(v, 1, 1 << 20, dst) < 0)
                return size_usage("%s needs a whole number >= 1", a);
            i++;
        } else if (!strcmp(a, "--max-time")) {
            if (!v || (o.max_time = parse_slurm_time(v)) <= 0)
                return size_usage("--max-time needs a Slurm time (minutes, H:M:S or D-H:M:S), "
                                  "got '%s'", v ? v : "nothing");
            i++;
        } else if (!strcmp(a, "--calibrate")) {
            /* sizing for this machine, with no other option */
        } else if (a[0] == '-' && a[1]) {
            return size_usage("unknown plan option '%s'", a);
        } else if (!path) {
            path = a;
            continue;
        } else {
            return size_usage("unexpected argument '%s'", a);
        }
        sizing = 1;
    }
    if (!path)
        return size_usage("%s", "plan needs a job file");
    if (o.threads > (o.cores ? o.cores : local_cores()))
        return size_usage("%s", "--threads cannot exceed the cores of a node (--cores-per-node, "
                                "else this machine's)");
    int code = cli_plan(path);
    if (code != PS_EXIT_OK || !sizing)
        return code;
    fflush(stdout);
    return size_run(path, &o);
}
