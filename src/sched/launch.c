/* launch.c - which launcher started this process, from the environment alone
 * (sched.h, sched_launch_detect).
 *
 * MPI is initialised only when a launcher started us: MPI_Init without one
 * ("singleton" init) makes Open MPI fork a daemon, takes about a second and
 * fails in containers, all for a run that needs no MPI. The variables are
 * the launchers' documented ones:
 *   Open MPI mpirun/orterun  OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE
 *   srun --mpi=pmix, prterun PMIX_RANK (size from SLURM_STEP_NUM_TASKS)
 *   MPICH hydra, srun pmi2   PMI_RANK, PMI_SIZE
 * srun without an MPI plugin starts N independent copies that would all try
 * to be rank 0 of a one-process run; that is refused with advice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "polysweep/polysweep.h"
#include "polysweep/sched.h"

/* A non-negative integer environment variable, or -1. */
static long env_long(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return -1;
    char *end;
    long x = strtol(v, &end, 10);
    return *end || x < 0 ? -1 : x;
}

int sched_launch_detect(SchedLaunch *l, char *err, size_t errlen)
{
    memset(l, 0, sizeof *l);
    snprintf(l->launcher, sizeof l->launcher, "none");
    if (errlen)
        err[0] = '\0';
    long slurm_tasks = env_long("SLURM_STEP_NUM_TASKS");
    int in_srun = env_long("SLURM_STEP_ID") >= 0 || env_long("SLURM_STEPID") >= 0;
    long rank, size;

    if ((rank = env_long("OMPI_COMM_WORLD_RANK")) >= 0) {
        size = env_long("OMPI_COMM_WORLD_SIZE");
        snprintf(l->launcher, sizeof l->launcher, "mpirun");
    } else if ((rank = env_long("PMIX_RANK")) >= 0) {
        size = in_srun ? slurm_tasks : -1;
        snprintf(l->launcher, sizeof l->launcher, in_srun ? "srun" : "pmix");
    } else if ((rank = env_long("PMI_RANK")) >= 0) {
        size = env_long("PMI_SIZE");
        snprintf(l->launcher, sizeof l->launcher, in_srun ? "srun" : "pmi");
    } else {
        if (in_srun && slurm_tasks > 1) {
            snprintf(err, errlen,
                     "srun started %ld tasks but no MPI environment reached them (no PMIx "
                     "or PMI variables); run `srun --mpi=pmix ...`, or one task without MPI",
                     slurm_tasks);
            return PS_EINVAL;
        }
        l->size = 1;
        return 0;
    }
    l->mpi = 1;
    l->rank = (int)rank;
    l->size = size > 0 ? (int)size : 0;
    return 0;
}
