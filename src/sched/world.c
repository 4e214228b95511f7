/* world.c - the processes of a run (world.h): MPI start and end, and the
 * layout of ranks x BLAS threads over the nodes' cores.
 *
 * Threads (design.md, Distribution: ranks x threads should match the cores the
 * job was given). Each process may run on the CPUs of its affinity mask, which
 * the launcher sets (mpirun binds to cores for np <= 2 and to sockets above,
 * srun to --cpus-per-task, nothing binds without a launcher). By default a
 * worker uses mask / (workers on its node whose masks overlap it) threads, so
 * workers sharing one mask split it and workers bound to disjoint cores each
 * fill their own; rank 0 only schedules and gets one thread. Rank 0 gathers
 * every rank's facts and warns when a node, or a worker's mask, runs more
 * threads than it has CPUs.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "mpi_impl.h"
#include "polysweep/kernels.h"
#include "polysweep/polysweep.h"

#define DEFAULT_TIMEOUT 60.0 /* seconds of silence before a busy worker is lost */

int mpi_fail(char *err, size_t errlen, int rc, const char *what, int peer)
{
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "MPI error %d", rc);
    if (peer >= 0)
        snprintf(err, errlen, "MPI failed %s rank %d: %s", what, peer, text);
    else
        snprintf(err, errlen, "MPI failed %s: %s", what, text);
    return PS_EMPI;
}

void mpi_peer_text(const World *w, int rank, char *buf, size_t len)
{
    const PeerInfo *p = w->st && w->st->peers && rank >= 0 && rank < w->size
        ? &w->st->peers[rank] : NULL;
    if (p)
        snprintf(buf, len, "rank %d (pid %d on %s)", rank, p->pid, p->host);
    else
        snprintf(buf, len, "rank %d", rank);
}

void mpi_nap(double seconds)
{
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
}

void backoff_reset(Backoff *b, double max) { *b = (Backoff){0, 0, max}; }

void backoff_wait(Backoff *b)
{
    if (b->probes++ < BACKOFF_SPINS)
        return;
    b->sleep = b->sleep <= 0 ? BACKOFF_MIN : b->sleep * 2 < b->max ? b->sleep * 2 : b->max;
    mpi_nap(b->sleep);
}

double world_cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

/* POLYSWEEP_WORKER_TIMEOUT: seconds, 0 disables; default DEFAULT_TIMEOUT. */
static double env_timeout(void)
{
    const char *v = getenv("POLYSWEEP_WORKER_TIMEOUT");
    if (!v || !*v)
        return DEFAULT_TIMEOUT;
    char *end;
    double t = strtod(v, &end);
    return *end || !(t >= 0) ? DEFAULT_TIMEOUT : t;
}

int world_start(World *w, const SchedLaunch *l, char *err, size_t errlen)
{
    memset(w, 0, sizeof *w);
    w->size = 1;
    snprintf(w->launcher, sizeof w->launcher, "%s", l->launcher);
    if (!l->mpi)
        return 0;
    MpiState *st = calloc(1, sizeof *st);
    if (!st)
        return PS_ENOMEM;
    st->comm = MPI_COMM_NULL;
    pthread_mutex_init(&st->lock, NULL);
    w->st = st;
    /* SERIALIZED: a worker's heartbeat thread makes MPI calls, never at the
     * same time as the main thread (st->lock). */
    int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &st->thread_level);
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, errlen, rc, "to initialise", -1);
    w->mpi = 1;
    /* Errors come back as codes (and become messages naming the peer)
     * instead of Open MPI's abort. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if ((rc = MPI_Comm_dup(MPI_COMM_WORLD, &st->comm)) != MPI_SUCCESS)
        return mpi_fail(err, errlen, rc, "to duplicate MPI_COMM_WORLD", -1);
    MPI_Comm_set_errhandler(st->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(st->comm, &w->rank);
    MPI_Comm_size(st->comm, &w->size);
    /* An MPI library that cannot talk to the launcher's process manager (Open
     * MPI 5 under `srun --mpi=pmi2`, say) makes every process a world of its
     * own: N copies of a one-process run, all after the same output. */
    if (l->size > 1 && w->size != l->size) {
        snprintf(err, errlen, "the launcher (%s) started %d processes, but MPI made this one "
                 "a world of %d: this MPI library does not speak the launcher's process "
                 "interface; under srun use --mpi=pmix (slurm/polysweep.sbatch: "
                 "POLYSWEEP_SRUN_MPI), under mpirun the mpirun of the same MPI", l->launcher,
                 l->size, w->size);
        return PS_EINVAL;
    }

    /* Rank 0's timeout rules: every worker beats at a sixth of it. */
    double t[2] = {env_timeout(), 0};
    if ((rc = MPI_Bcast(t, 1, MPI_DOUBLE, 0, st->comm)) != MPI_SUCCESS)
        return mpi_fail(err, errlen, rc, "to broadcast settings", -1);
    if (st->thread_level >= MPI_THREAD_SERIALIZED && t[0] > 0) {
        st->timeout = t[0];
        st->heartbeat = t[0] / 6 < 10 ? t[0] / 6 : 10;
    }
    return 0;
}

#define AGREE_LEN 2048 /* bytes of one rank's message */

int world_agree(World *w, const char *mine)
{
    if (!w->mpi) {
        if (mine)
            fputs(mine, stderr);
        return mine != NULL;
    }
    int bad = mine != NULL, any = 0;
    if (MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, w->st->comm) != MPI_SUCCESS)
        return 1;
    if (!any)
        return 0;
    char *all = w->rank == 0 ? calloc((size_t)w->size, AGREE_LEN) : NULL;
    char msg[AGREE_LEN] = "";
    if (mine)
        snprintf(msg, sizeof msg, "%s", mine);
    MPI_Gather(msg, AGREE_LEN, MPI_CHAR, all, AGREE_LEN, MPI_CHAR, 0, w->st->comm);
    if (all) {
        for (int r = 0; r < w->size; r++) {
            const char *m = all + (size_t)r * AGREE_LEN;
            int seen = !m[0];
            for (int q = 0; q < r && !seen; q++)
                seen = strcmp(m, all + (size_t)q * AGREE_LEN) == 0;
            if (seen)
                continue;
            if (r > 0)
                fprintf(stderr, "polysweep: rank %d: ", r);
            fputs(m, stderr);
        }
        fflush(stderr);
        free(all);
    }
    return 1;
}

void world_end(World *w)
{
    if (w->st) {
        if (w->st->comm != MPI_COMM_NULL)
            MPI_Comm_free(&w->st->comm);
        free(w->st->peers);
        pthread_mutex_destroy(&w->st->lock);
        free(w->st);
    }
    if (w->mpi)
        MPI_Finalize();
    memset(w, 0, sizeof *w);
}

void world_abort(World *w, int code)
{
    fflush(stdout);
    fflush(stderr);
    if (w->mpi)
        MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

static int mask_of(cpu_set_t *set)
{
    CPU_ZERO(set);
    if (sched_getaffinity(0, sizeof *set, set) != 0 || CPU_COUNT(set) == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        for (long c = 0; c < (n > 0 ? n : 1) && c < CPU_SETSIZE; c++)
            CPU_SET(c, set);
    }
    return CPU_COUNT(set);
}

static const char *plural(int n) { return n == 1 ? "" : "s"; }

/* "1" or "1-4": the range of the workers' thread counts. */
static void threads_text(int lo, int hi, char *buf, size_t len)
{
    if (lo == hi)
        snprintf(buf, len, "%d BLAS thread%s", lo, plural(lo));
    else
        snprintf(buf, len, "%d-%d BLAS threads", lo, hi);
}

static int layout_single(World *w, int requested)
{
    cpu_set_t set;
    int cores = mask_of(&set);
    w->threads = requested > 0 ? requested : cores;
    w->workers = w->nodes = 1;
    w->threads_max = w->threads;
    snprintf(w->blas_core, sizeof w->blas_core, "%s", kern_blas_core());
    snprintf(w->layout, sizeof w->layout, "1 process (%s): %d BLAS thread%s, %d core%s in its "
             "affinity mask, SIMD %s", w->mpi ? w->launcher : "no MPI", w->threads,
             plural(w->threads), cores, plural(cores), kern_simd_name(kern_simd_level()));
    if (w->threads > cores)
        snprintf(w->warning, sizeof w->warning,
                 "polysweep: warning: %d BLAS threads on %d core%s: oversubscribed (same "
                 "results, slower); use --threads %d\n", w->threads, cores, plural(cores),
                 cores);
    return 0;
}

/* "0-1", "2,5,8-9": the ranks on `host`, for the layout line (who ran what:
 * the dataset's per-task rank, read with it, names the host). */
static void ranks_text(const PeerInfo *p, int size, const char *host, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int r = 0; r < size && at < len; r++) {
        if (strcmp(p[r].host, host))
            continue;
        int e = r;
        while (e + 1 < size && !strcmp(p[e + 1].host, host))
            e++;
        int n = e > r ? snprintf(buf + at, len - at, "%s%d-%d", at ? "," : "", r, e)
                      : snprintf(buf + at, len - at, "%s%d", at ? "," : "", r);
        at += n > 0 ? (size_t)n : 0;
        r = e;
    }
}

/* Rank 0: the layout line and the warnings, from every rank's PeerInfo. */
static void layout_summary(World *w)
{
    const PeerInfo *p = w->st->peers;
    int lo = 0, hi = 0, over_nodes = 0, over_masks = 0, shown = 0;
    w->workers = w->nodes = 0;
    for (int r = 0; r < w->size; r++) {
        w->nodes += p[r].node_leader;
        if (!p[r].worker)
            continue;
        lo = w->workers++ ? (p[r].threads < lo ? p[r].threads : lo) : p[r].threads;
        hi = p[r].threads > hi ? p[r].threads : hi;
    }
    w->threads_max = hi;
    char tt[64];
    threads_text(lo, hi, tt, sizeof tt);
    /* The workers' SIMD level: one name, or "mixed" (it changes only the speed). */
    const char *simd = NULL;
    for (int r = 0; r < w->size; r++)
        if (p[r].worker)
            simd = !simd || !strcmp(simd, kern_simd_name(p[r].simd)) ? kern_simd_name(p[r].simd)
                                                                     : "mixed";
    int n = snprintf(w->layout, sizeof w->layout, "%d processes (%s) on %d node%s: rank 0 "
                     "schedules, %d worker%s x %s, SIMD %s", w->size, w->launcher, w->nodes,
                     plural(w->nodes), w->workers, plural(w->workers), tt, simd ? simd : "-");
    size_t at = n > 0 && (size_t)n < sizeof w->layout ? (size_t)n : sizeof w->layout - 1;
    size_t wat = 0;
    for (int r = 0; r < w->size; r++) {
        if (!p[r].node_leader)
            continue;
        if (shown < 4 && at < sizeof w->layout) {
            char ranks[64];
            ranks_text(p, w->size, p[r].host, ranks, sizeof ranks);
            n = snprintf(w->layout + at, sizeof w->layout - at, "; %s (rank%s %s): %d "
                         "worker%s, %d thread%s, %d core%s", p[r].host,
                         strpbrk(ranks, ",-") ? "s" : "", ranks,
                         p[r].node_workers, plural(p[r].node_workers), p[r].node_threads,
                         plural(p[r].node_threads), p[r].node_cores, plural(p[r].node_cores));
            at += n > 0 ? (size_t)n : 0;
        }
        shown++;
        if (p[r].node_threads > p[r].node_cores && over_nodes++ < 4 && wat < sizeof w->warning) {
            char advice[64];
            if (p[r].node_workers > p[r].node_cores)
                snprintf(advice, sizeof advice, "at most %d workers per node", p[r].node_cores);
            else
                snprintf(advice, sizeof advice, "--threads %d",
                         p[r].node_cores / p[r].node_workers);
            n = snprintf(w->warning + wat, sizeof w->warning - wat,
                         "polysweep: warning: %s: %d worker%s with %d BLAS thread%s in all on "
                         "%d core%s: oversubscribed (same results, slower); use %s\n",
                         p[r].host, p[r].node_workers, plural(p[r].node_workers),
                         p[r].node_threads, plural(p[r].node_threads), p[r].node_cores,
                         plural(p[r].node_cores), advice);
            wat += n > 0 ? (size_t)n : 0;
        }
    }
    if (shown > 4 && at < sizeof w->layout)
        snprintf(w->layout + at, sizeof w->layout - at, "; ... (%d nodes)", shown);
    /* The workers' cores: every rank checked (and maybe re-executed) itself. */
    int other = -1, first_w = -1;
    for (int r = 0; r < w->size; r++) {
        if (!p[r].worker)
            continue;
        if (first_w < 0)
            first_w = r;
        else if (other < 0 && strcmp(p[r].core, p[first_w].core))
            other = r;
    }
    if (first_w >= 0 && other < 0)
        snprintf(w->blas_core, sizeof w->blas_core, "%s", p[first_w].core);
    else if (first_w >= 0) {
        snprintf(w->blas_core, sizeof w->blas_core, "mixed: %s (rank %d), %s (rank %d), ...",
                 p[first_w].core, first_w, p[other].core, other);
        size_t at0 = strlen(w->warning);
        if (at0 < sizeof w->warning)
            snprintf(w->warning + at0, sizeof w->warning - at0,
                     "polysweep: warning: workers use different OpenBLAS cores (%s): results "
                     "may differ in the last bits between them\n", w->blas_core);
    }
    int first = -1;
    for (int r = 0; r < w->size; r++)
        if (p[r].worker && p[r].threads > p[r].mask_cores && !over_masks++)
            first = r;
    if (over_masks && wat < sizeof w->warning)
        snprintf(w->warning + wat, sizeof w->warning - wat,
                 "polysweep: warning: %d worker%s run more BLAS threads than the CPUs they "
                 "may use (rank %d: %d threads, %d CPU%s in its affinity mask)\n", over_masks,
                 plural(over_masks), first, p[first].threads, p[first].mask_cores,
                 plural(p[first].mask_cores));
}

typedef struct MaskRec {
    cpu_set_t mask;
    int worker;
} MaskRec;

int world_layout(World *w, int requested, char *err, size_t errlen)
{
    if (!w->mpi || w->size == 1) {
        int rc = layout_single(w, requested);
        if (w->mpi) {
            free(w->st->peers);
            w->st->peers = calloc(1, sizeof(PeerInfo));
        }
        return rc;
    }
    MpiState *st = w->st;
    MPI_Comm node = MPI_COMM_NULL;
    MaskRec me, *all = NULL;
    PeerInfo info;
    int rc, lrank, lsize, ret = 0;
    memset(&me, 0, sizeof me);
    memset(&info, 0, sizeof info);
    info.mask_cores = mask_of(&me.mask);
    me.worker = w->rank != 0;
    if ((rc = MPI_Comm_split_type(st->comm, MPI_COMM_TYPE_SHARED, w->rank, MPI_INFO_NULL,
                                  &node)) != MPI_SUCCESS)
        return mpi_fail(err, errlen, rc, "to split the ranks by node", -1);
    MPI_Comm_rank(node, &lrank);
    MPI_Comm_size(node, &lsize);
    if (!(all = malloc((size_t)lsize * sizeof *all))) {
        ret = PS_ENOMEM;
        goto out;
    }
    if ((rc = MPI_Allgather(&me, (int)sizeof me, MPI_BYTE, all, (int)sizeof me, MPI_BYTE,
                            node)) != MPI_SUCCESS) {
        ret = mpi_fail(err, errlen, rc, "to exchange affinity masks", -1);
        goto out;
    }
    /* Every rank derives every local rank's threads the same way, so the
     * node's totals need no second exchange. */
    cpu_set_t uni;
    CPU_ZERO(&uni);
    for (int j = 0; j < lsize; j++) {
        CPU_OR(&uni, &uni, &all[j].mask);
        if (!all[j].worker)
            continue;
        int sharers = 0;
        for (int k = 0; k < lsize; k++) {
            cpu_set_t both;
            CPU_AND(&both, &all[j].mask, &all[k].mask);
            sharers += all[k].worker && CPU_COUNT(&both) > 0;
        }
        int t = requested > 0 ? requested : CPU_COUNT(&all[j].mask) / (sharers > 0 ? sharers : 1);
        t = t > 0 ? t : 1;
        info.node_workers++;
        info.node_threads += t;
        if (j == lrank)
            info.threads = t;
    }
    info.node_cores = CPU_COUNT(&uni);
    w->threads = me.worker ? info.threads : 1;
    info.threads = w->threads;
    info.worker = me.worker;
    info.node_leader = lrank == 0;
    info.pid = (int)getpid();
    snprintf(info.core, sizeof info.core, "%s", kern_blas_core());
    info.simd = kern_simd_level();
    if (gethostname(info.host, sizeof info.host - 1) != 0)
        snprintf(info.host, sizeof info.host, "unknown");

    if (w->rank == 0 && !(st->peers = calloc((size_t)w->size, sizeof(PeerInfo)))) {
        ret = PS_ENOMEM; /* the gather below would fail on rank 0 anyway: abort */
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if ((rc = MPI_Gather(&info, (int)sizeof info, MPI_BYTE, st->peers, (int)sizeof info,
                         MPI_BYTE, 0, st->comm)) != MPI_SUCCESS) {
        ret = mpi_fail(err, errlen, rc, "to gather the layout", -1);
        goto out;
    }
    if (w->rank == 0)
        layout_summary(w);
out:
    free(all);
    if (node != MPI_COMM_NULL)
        MPI_Comm_free(&node);
    return ret;
}
