/* store_impl.h - the Store's internals, shared by store.c (open, journal
 * replay, commit) and dataset.c (the NetCDF snapshot). Private to src/store.
 *
 * Rank 0 keeps every result in dense arrays over the grid, laid out exactly
 * like the dataset's variables (C order: grid axes in file order, then the
 * variable's own dimensions), so a snapshot writes each variable whole:
 *
 *   val[v]   (ntasks, slot[v])  float for RTYPE_FLOAT, else double; NaN = none
 *            slot[v] = 1 | max_n | max_m | max_log | max_m * max_n | max_n
 *            by shape (task, feature, neuron, curve, weights, block)
 *   status   (ntasks)           TaskStatus
 *   reason   (ntasks)           malloc'd text for failed tasks, else NULL
 */
#ifndef POLYSWEEP_STORE_IMPL_H
#define POLYSWEEP_STORE_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "polysweep/store.h"
#include "journal.h"

struct Store {
    const Grid *g;
    const JobSpec *job;
    char *output;    /* OUT, as given */
    char *state_dir; /* OUT.state */
    Journal *jr;     /* OUT.state/journal */
    int lock_fd;     /* OUT.state/lock, flock'd for the Store's lifetime */
    StoreCkpt *ckpt; /* OUT.state/ckpt */
    int64_t resumable; /* checkpoints of pending tasks found at open */
    char *job_text;  /* the latest job text in the journal (header or JOB record) */

    /* facts for the global attributes (copied from StoreRunInfo) */
    char *blas_core, *blas_core_note, *layout;
    int blas_threads, mpi_size;

    int64_t ntasks;
    int max_n, max_m, max_log;
    size_t slot[RV_COUNT]; /* entries per task; 0 = variable not kept */
    void *val[RV_COUNT];
    unsigned char *status;
    char **reason;
    int64_t count[3]; /* tasks per TaskStatus */

    char *fingerprint; /* job_fingerprint_text of the current job */
    char **history;    /* RUN lines, oldest first */
    int nhistory, caphistory;
    int64_t orphans;   /* TASK records whose label is not in the grid */
    char *warnings;    /* "" or lines ending in '\n' */
};

/* Is result variable v kept (in memory and in the dataset)? Weights only with
 * save_weights. */
int store_keeps_var(const JobSpec *job, int v);

/* Entries per task of variable v in the dense layout above. */
size_t store_slot_len(int v, int max_n, int max_m, int max_log);

/* Value of a fixed setting by name (its default when unknown), and whether it
 * is an axis instead. */
double store_fixed_value(const JobSpec *job, const char *name, int *is_axis);

/* 64-bit FNV-1a hash of a string (the fingerprint attribute). */
uint64_t store_hash64(const char *s);

/* ---- files.c: paths, directories, the lock ---- */

/* The directory part of a path ("." when it has none); malloc'd. */
char *store_dirname(const char *path);

/* mkdir -p of `dir`. */
int store_mkdir_p(const char *dir, char *err, size_t errlen);

/* fsync a directory, so that a rename or create in it is durable. */
int store_fsync_dir(const char *dir, char *err, size_t errlen);

/* Take the lock file `lock_path` (flock, exclusive, non-blocking) and write
 * "<pid> <hostname>" into it. PS_EBUSY names the holder and `output`. */
int store_lock(const char *lock_path, const char *output, int *fd, char *err,
               size_t errlen);

/* Remove temporary snapshots "OUT.tmp.<pid>" left by killed runs (only called
 * with the lock held, so none of them is being written). */
void store_remove_stale_tmp(const char *output);

/* Fault injection for the crash tests (README, "Resume and interruption"):
 * with POLYSWEEP_TEST_CRASH="point:N[,point:N...]" in the environment, the
 * N-th call (1-based) of this process at `point` returns 1 and the caller
 * then kills the process with SIGKILL halfway through the write it was
 * about to make. Points: "journal-append" (every journal record, header and
 * history lines included), "snapshot" (the NetCDF file being written, before
 * the rename), "checkpoint" (a task checkpoint being written). Without the
 * variable it always returns 0. */
int store_test_crash(const char *point);

/* ---- checkpoint.c ---- */

#define CKPT_HEADER_LEN 64u

typedef struct CkptHeader {
    uint32_t version;
    uint64_t ident, key;
    int64_t step, steps;
    double elapsed;
    uint64_t label_len, state_len;
} CkptHeader;

/* ident of a checkpoint: FNV-1a-64 of fingerprint, '\n', label. */
uint64_t store_ckpt_ident(const char *fingerprint, const char *label, size_t llen);

/* Parse the first CKPT_HEADER_LEN bytes; -1 when they are not a checkpoint's. */
int store_ckpt_parse_header(const unsigned char *p, size_t len, CkptHeader *h);

/* "<dir>/<key as 16 hex>.ckpt<suffix>", malloc'd. */
char *store_ckpt_path(const char *dir, uint64_t key, const char *suffix);

/* 1: "<16 hex>.ckpt", 2: a temporary "<16 hex>.ckpt.tmp.<pid>", 0: neither. */
int store_ckpt_name_kind(const char *name);

/* Read the header and label (malloc'd) of checkpoint `name` in dirfd. 0 or -1. */
int store_ckpt_read_header(int dirfd, const char *name, CkptHeader *h, char **label);

/* The checkpoint directory (borrowed). */
const char *store_ckpt_dir(const StoreCkpt *c);

/* At store_open (lock held, no task started): remove temporaries, every
 * checkpoint when `fresh`, and those of finished tasks (status per grid
 * task); count the others that belong to pending tasks of this job. */
int store_ckpt_sweep(StoreCkpt *c, int fresh, const unsigned char *status,
                     int64_t *resumable);

/* ---- mismatch.c ---- */

/* One phrase naming the first difference between two fingerprint texts, for
 * example "lr is 0.001 there and 0.01 in jobs/x.yaml". */
void store_describe_mismatch(const char *old_fp, const char *new_fp,
                             const char *job_path, char *buf, size_t len);

#endif
