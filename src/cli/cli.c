/* cli.c - the `polysweep` command line (cli.h): parse arguments, dispatch to
 * plan / run / status, map errors to exit codes. All printing for the user is here or
 * in the scheduler's progress lines. */
#include "polysweep/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_private.h"
#include "polysweep/job.h"
#include "polysweep/kernels.h"
#include "polysweep/polysweep.h"
#include "polysweep/sched.h"
#include "polysweep/store.h"


static const char usage_text[] =
    "usage: polysweep plan JOB            check a job file; print its grid, cost and output size\n"
    "       polysweep run JOB [options]   run the sweep (rerun the same command to resume)\n"
    "       polysweep status OUT|JOB      how far a sweep is: done, failed, pending, in progress\n"
    "       polysweep merge -o OUT IN...  combine outputs of one job (shards, other clusters,\n"
    "                                     other axis extents) into one output\n"
    "       polysweep --version | --help\n"
    "\n"
    "plan options (any of them: time a few steps of representative tasks here, then\n"
    "suggest ranks, threads, a time limit and the sbatch line for slurm/polysweep.sbatch):\n"
    "  --nodes N          nodes to use (default: 1, or fewer than asked if the sweep\n"
    "                     cannot use them)\n"
    "  --cores-per-node C cores of a node (default: this machine's)\n"
    "  --threads T        BLAS threads per worker (default: chosen)\n"
    "  --max-time TIME    the partition's time limit (minutes, H:M:S or D-H:M:S)\n"
    "  --calibrate        only that: size for this machine\n"
    "\n"
    "run options:\n"
    "  -o, --output OUT   dataset path (default: the job's `output`)\n"
    "  --threads T        BLAS threads per worker (default: job `run.threads`, else the\n"
    "                     cores of the process's affinity mask, shared with the other\n"
    "                     MPI workers on the node whose masks overlap it)\n"
    "  --fresh            discard earlier results (and checkpoints) of this output and\n"
    "                     start over\n"
    "  --retry-failed     run the tasks recorded as failed again (the new results\n"
    "                     replace the old ones)\n"
    "  --checkpoint-every SECONDS\n"
    "                     checkpoint running tasks this often (default: job\n"
    "                     `run.checkpoint_every`, else 300)\n"
    "  --shard K/N        run only shard K of N: a deterministic 1/N of the grid,\n"
    "                     balanced by the cost estimate, into its own output (default:\n"
    "                     the job's output with .shardKofN before .nc); combine the\n"
    "                     shards with `polysweep merge`\n"
    "  -q, --quiet        no progress lines\n"
    "\n"
    "merge options:\n"
    "  -o, --output OUT   the merged output (created, or extended when it holds the\n"
    "                     same job)\n"
    "  -q, --quiet        no summary line\n"
    "\n"
    "SIGTERM, SIGUSR1 (Slurm's warning) or SIGINT: no new tasks, running tasks save a\n"
    "checkpoint, the dataset is written, exit 3; a second signal stops at once.\n"
    "\n"
    "MPI: mpirun -np N polysweep run JOB (or srun --mpi=pmix): rank 0 schedules and\n"
    "writes, ranks 1..N-1 train.\n"
    "\n"
    "environment:\n"
    "  OPENBLAS_CORETYPE            respected when set; otherwise polysweep re-executes\n"
    "                               itself with the best OpenBLAS kernel for the CPU\n"
    "  POLYSWEEP_BLAS_CORE=best|off best: replace an inherited OPENBLAS_CORETYPE by the\n"
    "                               CPU's best; off: no check\n"
    "  POLYSWEEP_PROGRESS_INTERVAL  seconds between status lines (default 10 to 60)\n"
    "  POLYSWEEP_WORKER_TIMEOUT     seconds before a silent MPI worker counts as lost\n"
    "                               (default 60; 0 = never)\n"
    "  POLYSWEEP_LOST_FILE          rank 0 appends the host of each lost rank to this\n"
    "                               file (for a batch script's --exclude)\n"
    "\n"
    "  POLYSWEEP_TEST_CRASH         tests only: point:N kills the process halfway\n"
    "                               through its N-th write at point (journal-append,\n"
    "                               snapshot, checkpoint)\n"
    "\n"
    "exit codes: 0 complete; 2 usage or job-file error, or an output that is refused\n"
    "            (another job's or shard's, another format, in use, damaged);\n"
    "            3 incomplete (resumable), for merge: tasks still pending;\n"
    "            4 complete but some tasks failed; 5 a rank was lost (its node\n"
    "            failed or stopped answering; resumable); other: internal error\n";

/* Errors before the run starts go through sched_usage_error: under an MPI
 * launcher every rank finds the same error, and rank 0 alone reports it. */
static int usage_error(const char *fmt, const char *arg)
{
    char msg[512], text[sizeof msg + sizeof usage_text + 16];
    snprintf(msg, sizeof msg, fmt, arg);
    snprintf(text, sizeof text, "polysweep: %s\n%s", msg, usage_text);
    return sched_usage_error(text);
}

int cli_usage(const char *usage, const char *fmt, const char *arg)
{
    fprintf(stderr, "polysweep: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%s\n", usage);
    return PS_EXIT_USAGE;
}

/* Load a job file, printing its error (already "file:line:col: message"). */
int cli_load_job(const char *path, JobSpec **job)
{
    char err[1024], text[sizeof err + 2];
    if (job_load(path, job, err, sizeof err) < 0) {
        snprintf(text, sizeof text, "%s\n", err);
        sched_usage_error(text);
        return -1;
    }
    return 0;
}

int cli_load_grid(const char *path, JobSpec **job, Grid **g)
{
    char err[1024];
    if (cli_load_job(path, job) < 0)
        return -1;
    if (grid_create(*job, g, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        job_free(job);
        return -1;
    }
    return 0;
}

/* The command line as one string, for the dataset's history. Inside a Slurm
 * job it ends in "[slurm job ID, restart K]": a requeued job keeps its id, so
 * this is how the history tells its runs apart (slurm/polysweep.sbatch). */
static char *join_args(int argc, char **argv)
{
    const char *job = getenv("SLURM_JOB_ID"), *restart = getenv("SLURM_RESTART_COUNT");
    char slurm[80] = "";
    if (job && *job)
        snprintf(slurm, sizeof slurm, " [slurm job %.20s, restart %.20s]", job,
                 restart && *restart ? restart : "0");
    size_t len = 1 + strlen(slurm);
    for (int i = 0; i < argc; i++)
        len += strlen(argv[i]) + 1;
    char *s = malloc(len), *p = s;
    if (!s)
        return NULL;
    for (int i = 0; i < argc; i++)
        p += sprintf(p, "%s%s", i ? " " : "", argv[i]);
    strcpy(p, slurm);
    return s;
}

/* The OpenBLAS core check (kernels.h): when OpenBLAS picked a kernel below
 * what the CPU supports and the user did not choose one, execute this program
 * again with OPENBLAS_CORETYPE set; OpenBLAS reads it only when it is loaded.
 * This happens before MPI starts: under mpirun or srun every rank re-executes
 * itself (same pid, the launcher's environment survives exec). Returns only
 * when no re-execution happens, with the note to report in c. */
static void blas_core_setup(int argc, char **argv, KernCoreCheck *c)
{
    kern_blas_core_check(c);
    if (!c->reexec)
        return;
    char **av = calloc((size_t)argc + 1, sizeof *av); /* execv needs a NULL end */
    int e = ENOMEM;
    if (av) {
        memcpy(av, argv, (size_t)argc * sizeof *av);
        if (setenv("OPENBLAS_CORETYPE", c->coretype, 1) == 0 &&
            setenv(KERN_CORE_GUARD_ENV, c->guard, 1) == 0) {
            fflush(stdout);
            fflush(stderr);
            execv("/proc/self/exe", av);
            e = errno;
        } else {
            e = errno;
        }
        free(av);
    }
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv(KERN_CORE_GUARD_ENV);
    size_t n = strlen(c->note);
    snprintf(c->note + n, sizeof c->note - n, " failed (%s)", strerror(e));
    c->reexec = 0;
    c->warn = 1;
}

static int cmd_run(int argc, char **argv)
{
    SchedOptions opt = {0};
    const char *path = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (++i >= argc)
                return usage_error("%s needs a path", a);
            opt.output = argv[i];
        } else if (!strcmp(a, "--threads")) {
            if (++i >= argc)
                return usage_error("%s needs a number", a);
            char *end;
            long t = strtol(argv[i], &end, 10);
            if (*end || t < 1 || t > 4096)
                return usage_error("--threads must be an integer in [1, 4096], got '%s'", argv[i]);
            opt.threads = (int)t;
        } else if (!strcmp(a, "--fresh")) {
            opt.fresh = 1;
        } else if (!strcmp(a, "--retry-failed")) {
            opt.retry_failed = 1;
        } else if (!strcmp(a, "--checkpoint-every")) {
            if (++i >= argc)
                return usage_error("%s needs a number of seconds", a);
            char *end;
            double t = strtod(argv[i], &end);
            if (end == argv[i] || *end || !(t > 0) || t > 1e9)
                return usage_error("--checkpoint-every must be a number of seconds > 0, got '%s'",
                                   argv[i]);
            opt.checkpoint_every = t;
        } else if (!strcmp(a, "--shard")) {
            if (++i >= argc)
                return usage_error("%s needs K/N", a);
            if (store_shard_parse(argv[i], &opt.shard_k, &opt.shard_n) < 0)
                return usage_error("--shard must be K/N with 1 <= K <= N <= 1000000, got '%s'",
                                   argv[i]);
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            opt.quiet = 1;
        } else if (a[0] == '-' && a[1]) {
            return usage_error("unknown option '%s'", a);
        } else if (!path) {
            path = a;
        } else {
            return usage_error("unexpected argument '%s'", a);
        }
    }
    if (!path)
        return usage_error("%s", "run needs a job file");

    JobSpec *job = NULL;
    if (cli_load_job(path, &job) < 0)
        return PS_EXIT_USAGE;
    KernCoreCheck core;
    blas_core_setup(argc, argv, &core);
    opt.blas_note = core.note;
    opt.blas_warn = core.warn;
    char *command = join_args(argc, argv), *shard_output = NULL;
    opt.command = command;
    if (opt.shard_n > 0 && !opt.output) /* each shard into its own output */
        opt.output = shard_output = store_shard_output(job->output, opt.shard_k, opt.shard_n);
    int code = sched_run(job, &opt);
    free(shard_output);
    free(command);
    job_free(&job);
    return code;
}

int cli_main(int argc, char **argv)
{
    if (argc < 2)
        return usage_error("%s", "missing command");
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(usage_text, stdout);
        return PS_EXIT_OK;
    }
    if (!strcmp(cmd, "--version")) {
        printf("polysweep %s (git %s)\n", PS_VERSION, ps_git_revision());
        return PS_EXIT_OK;
    }
    if (!strcmp(cmd, "plan")) {
        if (argc < 3)
            return usage_error("%s", "plan needs a job file");
        if (argc > 3) { /* sizing calibrates: with the OpenBLAS kernel `run` would use */
            KernCoreCheck core;
            blas_core_setup(argc, argv, &core);
        }
        return cli_plan_main(argc, argv);
    }
    if (!strcmp(cmd, "run"))
        return cmd_run(argc, argv);
    if (!strcmp(cmd, "status"))
        return cli_status(argc, argv);
    if (!strcmp(cmd, "merge")) {
        char *command = join_args(argc, argv);
        int code = cli_merge(argc, argv, command ? command : "merge");
        free(command);
        return code;
    }
    return usage_error("unknown command '%s'", cmd);
}
