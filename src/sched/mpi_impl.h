/* mpi_impl.h - MPI internals shared by world.c and mpi_dispatch.c (private to
 * src/sched, the only module that includes mpi.h).
 *
 * Messages (all on a duplicate of MPI_COMM_WORLD):
 *   worker -> 0  TAG_READY      the answer to TAG_SETUP: empty when the worker
 *                               sees rank 0's shared-storage token and opened
 *                               the checkpoint directory, and is ready for its
 *                               first task; else a message saying what it saw
 *                               (it then runs nothing and waits for FINISH)
 *   worker -> 0  TAG_RESULT     int64 task index, then task_result_pack bytes;
 *                               also asks for the next task
 *   worker -> 0  TAG_HEARTBEAT  empty, every `heartbeat` seconds: "still alive"
 *   worker -> 0  TAG_INTERRUPTED int64 task index, int64 step: the task stopped
 *                               (step = the step its checkpoint holds, -1 none,
 *                               -2 never started); every task a worker holds
 *                               gets exactly one RESULT or INTERRUPTED, in
 *                               the order it was sent
 *   0 -> worker  TAG_TASK       int64 task index
 *   0 -> worker  TAG_FINISH     int: the run's exit code; leave the loop and finalise
 *   0 -> worker  TAG_SETUP      f64 checkpoint interval, i32 quiet, the absolute
 *                               output path and the token rank 0 wrote into
 *                               OUT.state/token (each NUL-terminated); first
 *                               of all, and no task before every READY
 *   0 -> worker  TAG_STOP       int level: stop the running task (1: after a
 *                               checkpoint, 2: at once) and take no more; a
 *                               worker polls for it in its ticks (exec.h)
 * A worker that was stopped (by TAG_STOP or a signal of its own) answers every
 * task it holds or receives with INTERRUPTED until FINISH.
 */
#ifndef POLYSWEEP_SCHED_MPI_IMPL_H
#define POLYSWEEP_SCHED_MPI_IMPL_H

#include <mpi.h>
#include <pthread.h>

#include "world.h"

enum {
    TAG_READY = 1,
    TAG_RESULT = 2,
    TAG_HEARTBEAT = 3,
    TAG_INTERRUPTED = 4,
    TAG_TASK = 10,
    TAG_FINISH = 11,
    TAG_SETUP = 12,
    TAG_STOP = 13,
};

/* What rank 0 learns about every rank at start-up (for messages and the
 * layout). Fixed size, sent as bytes. */
typedef struct PeerInfo {
    char host[64];
    char core[32];    /* its OpenBLAS core (each rank checked and maybe re-executed itself) */
    int simd;         /* its SIMD level (kern_simd_level) */
    int pid;
    int worker;       /* 1: runs tasks */
    int threads;      /* its BLAS threads */
    int mask_cores;   /* CPUs in its affinity mask */
    int node_leader;  /* 1: lowest rank on its node */
    int node_workers; /* workers on its node */
    int node_threads; /* BLAS threads of all workers on its node */
    int node_cores;   /* CPUs in the union of the node's masks */
} PeerInfo;

struct MpiState {
    MPI_Comm comm;        /* duplicate of MPI_COMM_WORLD, errors returned */
    int thread_level;     /* provided by MPI_Init_thread */
    double heartbeat;     /* seconds between a worker's heartbeats; 0 = none */
    double timeout;       /* silence after which rank 0 declares a worker lost; 0 = never */
    PeerInfo *peers;      /* rank 0: `size` entries */
    pthread_mutex_t lock; /* workers: serialises the heartbeat thread's MPI calls */
};

/* Tasks a worker may hold: the one it runs and, for short tasks, the next
 * (so it never waits for rank 0 between two of them). */
#define MPI_DEPTH 2

/* Polite waiting: a few probes without sleeping, then naps that double from
 * BACKOFF_MIN to `max` (mpi_dispatch.c explains why nobody spins). */
#define BACKOFF_SPINS 16
#define BACKOFF_MIN 50e-6
typedef struct Backoff {
    int probes;
    double sleep, max;
} Backoff;
void backoff_reset(Backoff *b, double max);
void backoff_wait(Backoff *b);

/* "what: MPI error text" into err; returns PS_EMPI. */
int mpi_fail(char *err, size_t errlen, int rc, const char *what, int peer);

/* A short "rank R (pid P on HOST)" for messages (rank 0 only). */
void mpi_peer_text(const World *w, int rank, char *buf, size_t len);

/* Sleep for `seconds` (nanosleep; interrupted sleeps are not resumed). */
void mpi_nap(double seconds);

#endif
