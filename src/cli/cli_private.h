/* cli_private.h - commands of the command line (private to src/cli). */
#ifndef POLYSWEEP_CLI_PRIVATE_H
#define POLYSWEEP_CLI_PRIVATE_H

#include "polysweep/job.h"

/* Load a job file, printing its error; 0 or -1. */
int cli_load_job(const char *path, JobSpec **job);

/* `polysweep plan JOB`: returns an exit code. */
int cli_plan(const char *path);

/* `polysweep status OUT|JOB [-o OUT]` (argv as given to cli_main): returns an
 * exit code. */
int cli_status(int argc, char **argv);

#endif
