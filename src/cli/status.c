/* status.c - `polysweep status OUT|JOB`: how far a sweep is, from its journal,
 * checkpoints and lock alone (store.h, store_inspect), without the dataset
 * and without disturbing a run that is going on (nothing is locked or
 * written).
 *
 *   results/x.nc: job "TMS sparsity", 24 tasks
 *     done:        10
 *     failed:      1    lr=1000000;n=5: loss became nan at step 3
 *     pending:     13 (2 in progress)
 *     in progress: 2    seed=4 (step 1200 of 5000, 24%), seed=7 (step 300 of 5000, 6%)
 *     running:     yes: pid 1234 on this host (h), since 2024-05-01T12:00:00Z
 *     last update: 2024-05-01 12:00:03 UTC (12 s ago)
 *     last run:    <the last history line>
 *     journal:     results/x.nc.state/journal: 40 records, 123456 bytes
 *
 * "in progress" are pending tasks with a checkpoint (they continue from it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli_private.h"
#include "polysweep/grid.h"
#include "polysweep/job.h"
#include "polysweep/polysweep.h"
#include "polysweep/store.h"

#define LIST_MAX 5 /* tasks named per line */

static void ago(double t, char *buf, size_t len)
{
    double s = (double)time(NULL) - t;
    if (s < 0) s = 0;
    if (s < 120)
        snprintf(buf, len, "%.0f s ago", s);
    else if (s < 7200)
        snprintf(buf, len, "%.0f min ago", s / 60);
    else if (s < 172800)
        snprintf(buf, len, "%.1f h ago", s / 3600);
    else
        snprintf(buf, len, "%.1f days ago", s / 86400);
}

static void utc(double t, char *buf, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm))
        snprintf(buf, len, "unknown");
}

static void print_label(const Grid *g, int64_t i)
{
    char small[256];
    size_t n = grid_task_label(g, i, small, sizeof small);
    if (n < sizeof small) {
        printf("%s", n ? small : "(the only task)");
        return;
    }
    char *big = malloc(n + 1);
    if (big) {
        grid_task_label(g, i, big, n + 1);
        printf("%s", big);
    }
    free(big);
}

static void print_failed(const StoreInspect *in)
{
    printf("  failed:      %lld", (long long)in->count[TASK_FAILED]);
    int shown = 0;
    for (int64_t i = 0; i < in->ntasks; i++) {
        if (in->status[i] != TASK_FAILED) continue;
        if (shown == LIST_MAX) {
            printf(", ...");
            break;
        }
        printf("%s", shown++ ? ", " : "    ");
        print_label(in->g, i);
        printf(": %s", in->reason[i] ? in->reason[i] : "?");
    }
    printf("\n");
}

static void print_progress(const StoreInspect *in)
{
    printf("  pending:     %lld", (long long)in->count[TASK_PENDING]);
    if (in->nckpt) printf(" (%d in progress)", in->nckpt);
    printf("\n  in progress: %d", in->nckpt);
    for (int k = 0; k < in->nckpt && k < LIST_MAX; k++) {
        const StoreInspectCkpt *c = &in->ckpt[k];
        char when[32];
        ago(c->mtime, when, sizeof when);
        printf("%s", k ? ", " : "    ");
        print_label(in->g, c->task);
        printf(" (step %lld of %lld, %.0f%%, saved %s)", (long long)c->step,
               (long long)c->steps, c->steps > 0 ? 100.0 * (double)c->step / (double)c->steps : 100.0,
               when);
    }
    if (in->nckpt > LIST_MAX) printf(", ...");
    printf("\n");
}

static void print_lock(const StoreInspect *in)
{
    char me[256] = "";
    if (gethostname(me, sizeof me) != 0) me[0] = '\0';
    me[sizeof me - 1] = '\0';
    char since[96] = "";
    if (in->lock_since[0]) snprintf(since, sizeof since, ", since %s", in->lock_since);
    if (in->locked) {
        printf("  running:     yes: pid %ld on this host (%s)%s\n", in->lock_pid, me, since);
    } else if (!in->lock_pid) {
        printf("  running:     no\n");
    } else if (in->lock_host[0] && strcmp(in->lock_host, me) != 0) {
        printf("  running:     not on this host; the last run was pid %ld on host %s%s (a run "
               "on another node is not visible from here)\n", in->lock_pid, in->lock_host,
               since[0] ? since + 1 : "");
    } else {
        printf("  running:     no (the last run, pid %ld%s, has ended)\n", in->lock_pid, since);
    }
}

static int print_status(const char *output, const JobSpec *given)
{
    char err[1024] = "";
    StoreInspect *in = NULL;
    if (store_inspect(output, &in, err, sizeof err) < 0 ||
        store_inspect_format_error(in, output, err, sizeof err) < 0) {
        fprintf(stderr, "polysweep: %s\n", err);
        store_inspect_free(&in);
        return PS_EXIT_USAGE;
    }
    if (!in->g) {
        printf("%s: no tasks recorded yet%s\n", output,
               in->fingerprint ? "" : " (the journal has no header: the first run was "
                                      "stopped while starting)");
    } else {
        if (in->shard_n > 0)
            printf("%s: job \"%s\", shard %d/%d: %lld tasks (of the grid's %lld)\n", output,
                   in->job->title, in->shard_k, in->shard_n, (long long)in->nmembers,
                   (long long)in->ntasks);
        else
            printf("%s: job \"%s\", %lld tasks\n", output, in->job->title,
                   (long long)in->ntasks);
        printf("  done:        %lld\n", (long long)in->count[TASK_DONE]);
        print_failed(in);
        print_progress(in);
        if (in->orphans)
            printf("  not in grid: %lld finished task%s of axis values the job no longer has "
                   "(kept in the journal)\n", (long long)in->orphans,
                   in->orphans == 1 ? "" : "s");
    }
    print_lock(in);
    char when[64], rel[32];
    utc(in->journal_mtime, when, sizeof when);
    ago(in->journal_mtime, rel, sizeof rel);
    printf("  last update: %s (%s)\n", when, rel);
    if (in->last_run) printf("  last run:    %s\n", in->last_run);
    printf("  journal:     %s: %lld records, %llu bytes", in->journal_path,
           (long long)in->records, (unsigned long long)in->journal_bytes);
    if (in->torn_at >= 0)
        printf("; an incomplete last record at byte offset %lld (%llu bytes): being written "
               "right now, or left by a killed run (the next run drops it)",
               (long long)in->torn_at, (unsigned long long)in->torn_bytes);
    printf("\n");
    if (in->problem[0]) printf("  problem:     %s\n", in->problem);
    if (given && in->fingerprint) {
        char *fp = job_fingerprint_text(given);
        if (fp && strcmp(fp, in->fingerprint) != 0)
            printf("  note:        %s is a different job from the one this output holds "
                   "(`polysweep run` would refuse it and name the difference)\n", given->path);
        else if (fp && in->g && !in->problem[0]) {
            Grid *g = NULL;
            if (grid_create(given, &g, err, sizeof err) == 0 &&
                grid_task_count(g) != in->ntasks)
                printf("  note:        %s has %lld tasks, this output's last run had %lld "
                       "(values of an axis changed: the next run of it adapts)\n",
                       given->path, (long long)grid_task_count(g), (long long)in->ntasks);
            grid_free(&g);
        }
        free(fp);
    }
    store_inspect_free(&in);
    fflush(stdout);
    return PS_EXIT_OK;
}

/* Does `path` look like a NetCDF or HDF5 file (so not a job file)? */
static int looks_netcdf(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    unsigned char m[4] = {0};
    size_t n = fread(m, 1, 4, f);
    fclose(f);
    return n == 4 && ((m[0] == 0x89 && m[1] == 'H' && m[2] == 'D' && m[3] == 'F') ||
                      (m[0] == 'C' && m[1] == 'D' && m[2] == 'F'));
}

int cli_status(int argc, char **argv)
{
    const char *arg = NULL, *output = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (++i >= argc) {
                fprintf(stderr, "polysweep: %s needs a path\n", a);
                return PS_EXIT_USAGE;
            }
            output = argv[i];
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "polysweep: unknown option '%s' (status OUT, or status JOB "
                    "[-o OUT])\n", a);
            return PS_EXIT_USAGE;
        } else if (!arg) {
            arg = a;
        } else {
            fprintf(stderr, "polysweep: unexpected argument '%s'\n", a);
            return PS_EXIT_USAGE;
        }
    }
    if (!arg) {
        fprintf(stderr, "polysweep: status needs an output (or a job file)\n");
        return PS_EXIT_USAGE;
    }
    /* An output is recognised by its journal; anything else must be a job. */
    size_t len = strlen(arg) + 16;
    char *journal = malloc(len);
    if (!journal) return PS_EXIT_INTERNAL;
    snprintf(journal, len, "%s.state/journal", arg);
    struct stat st;
    int is_output = stat(journal, &st) == 0;
    free(journal);
    if (is_output && !output) return print_status(arg, NULL);

    struct stat ast;
    if (stat(arg, &ast) != 0 || !S_ISREG(ast.st_mode) || looks_netcdf(arg)) {
        /* Not a job file: let the store say what is missing. */
        return print_status(output ? output : arg, NULL);
    }
    JobSpec *job = NULL;
    char err[1024];
    if (job_load(arg, &job, err, sizeof err) < 0) {
        fprintf(stderr, "polysweep: %s is neither the output of a sweep (no %s.state/journal) "
                "nor a valid job file:\n%s\n", arg, arg, err);
        return PS_EXIT_USAGE;
    }
    int code = print_status(output ? output : job->output, job);
    job_free(&job);
    return code;
}
