/* signals.h - SIGTERM, SIGUSR1 and SIGINT stop a run resumably (private to
 * src/sched; design.md, Durability and resume).
 *
 * Every rank installs the same handler, which only counts (an async-signal-
 * safe store to a volatile sig_atomic_t); the task loop, the executors' ticks
 * and rank 0's waits read the count:
 *   level 1  (first signal)   no new tasks; running tasks save a checkpoint at
 *                             their next tick and report "interrupted"; the
 *                             snapshot is written; exit PS_EXIT_INCOMPLETE
 *   level 2  (second signal)  the same without waiting for checkpoints: rank 0
 *                             snapshots what is committed and exits at once
 * SIGUSR1 is Slurm's warning before the time limit (sbatch --signal); mpirun
 * forwards it to every rank, srun forwards every signal to every task. On
 * SIGTERM mpirun itself signals every rank and kills them a second later.
 */
#ifndef POLYSWEEP_SCHED_SIGNALS_H
#define POLYSWEEP_SCHED_SIGNALS_H

/* Install the handler for SIGTERM, SIGUSR1 and SIGINT (SA_RESTART), and
 * reset the count when `reset` (at the start of a run; installing again after
 * MPI_Init, in case the MPI library replaced a handler, keeps it). It stays installed when the run ends: a signal that
 * arrives while the process exits must not turn exit code 3 into death by
 * signal (it only counts). */
void sched_signals_install(int reset);

/* 0 (none yet), 1 or 2 (two or more signals). */
int sched_signal_level(void);

/* Name of the last signal received ("SIGUSR1", ...), or "a signal". */
const char *sched_signal_name(void);

#endif
