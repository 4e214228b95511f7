/* cli_private.h - commands of the command line (private to src/cli). */
#ifndef POLYSWEEP_CLI_PRIVATE_H
#define POLYSWEEP_CLI_PRIVATE_H

#include "polysweep/grid.h"
#include "polysweep/job.h"

/* Load a job file, printing its error; 0 or -1. */
int cli_load_job(const char *path, JobSpec **job);

/* Load a job file and build its grid, printing the error; 0, or -1 with
 * nothing left allocated. */
int cli_load_grid(const char *path, JobSpec **job, Grid **g);

/* `polysweep plan JOB`: returns an exit code. */
int cli_plan(const char *path);

/* `polysweep plan JOB [sizing options]` (argv as given to cli_main; size.c):
 * the plan, then with any sizing option the suggested Slurm layout and time
 * limit from a calibration on this machine. Returns an exit code. */
int cli_plan_main(int argc, char **argv);

/* `polysweep status OUT|JOB [-o OUT]` (argv as given to cli_main): returns an
 * exit code. */
int cli_status(int argc, char **argv);

/* "polysweep: <fmt with arg>\n<usage>\n" on stderr; returns PS_EXIT_USAGE. */
int cli_usage(const char *usage, const char *fmt, const char *arg);

/* `polysweep merge -o OUT IN...` (argv as given to cli_main; `command` the
 * command line for the history): returns an exit code. */
int cli_merge(int argc, char **argv, const char *command);

#endif
