/* cli.c - the `polysweep` command line (cli.h): parse arguments, dispatch to
 * plan / run, map errors to exit codes. All printing for the user is here or
 * in the scheduler's progress lines. */
#include "polysweep/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_private.h"
#include "polysweep/job.h"
#include "polysweep/polysweep.h"
#include "polysweep/sched.h"

static const char usage_text[] =
    "usage: polysweep plan JOB            check a job file; print its grid, cost and output size\n"
    "       polysweep run JOB [options]   run the sweep (rerun the same command to resume)\n"
    "       polysweep --version | --help\n"
    "\n"
    "run options:\n"
    "  -o, --output OUT   dataset path (default: the job's `output`)\n"
    "  --threads T        BLAS threads per worker (default: job `run.threads`, else all\n"
    "                     cores this process may use)\n"
    "  --fresh            discard earlier results of this output and start over\n"
    "  -q, --quiet        no progress lines\n"
    "\n"
    "exit codes: 0 complete; 2 usage or job-file error; 3 incomplete (resumable);\n"
    "            4 complete but some tasks failed; other: internal error\n";

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "polysweep: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%s", usage_text);
    return PS_EXIT_USAGE;
}

/* Load a job file, printing its error (already "file:line:col: message"). */
int cli_load_job(const char *path, JobSpec **job)
{
    char err[1024];
    if (job_load(path, job, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

/* The command line as one string, for the dataset's history. */
static char *join_args(int argc, char **argv)
{
    size_t len = 1;
    for (int i = 0; i < argc; i++)
        len += strlen(argv[i]) + 1;
    char *s = malloc(len), *p = s;
    if (!s)
        return NULL;
    for (int i = 0; i < argc; i++)
        p += sprintf(p, "%s%s", i ? " " : "", argv[i]);
    *p = '\0';
    return s;
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
    char *command = join_args(argc, argv);
    opt.command = command;
    int code = sched_run(job, &opt);
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
        if (argc != 3)
            return usage_error("%s", "plan needs exactly one job file");
        return cli_plan(argv[2]);
    }
    if (!strcmp(cmd, "run"))
        return cmd_run(argc, argv);
    return usage_error("unknown command '%s'", cmd);
}
