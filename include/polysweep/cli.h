/* cli.h - the `polysweep` command line: plan, run, status.
 *
 *   polysweep plan JOB              check a job, print its grid, cost and size
 *   polysweep run JOB [-o OUT]      run (or resume) the sweep
 *   polysweep status OUT|JOB        done, failed, pending, in progress, last update
 *
 * cli_main() is the whole program; src/main.c only calls it. It returns a
 * process exit code (polysweep.h).
 */
#ifndef POLYSWEEP_CLI_H
#define POLYSWEEP_CLI_H

int cli_main(int argc, char **argv);

#endif
