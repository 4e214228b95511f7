/* store.h - the durable record of a sweep and its NetCDF dataset
 * (design.md, "Durability and resume" and "The dataset").
 *
 * Files of a sweep with output path OUT (for example results/x.nc):
 *   OUT               the dataset: a complete NetCDF-4 snapshot, always
 *                     replaced atomically (temporary file, fsync, rename,
 *                     fsync of the directory), never written in place
 *   OUT.state/journal append-only record of the sweep: a header with the job's
 *                     fingerprint and text, one record per run (the history),
 *                     the job text again when a run's differs (axis values
 *                     added), and one per finished task, each with a CRC-32C,
 *                     fsynced before the task counts as done
 *   OUT.state/lock    flock'd by the process that has the Store open (holds
 *                     its pid and host); the kernel releases it when that
 *                     process ends, however it ends
 *   OUT.state/ckpt/   checkpoints of tasks that were interrupted or are
 *                     running (see "checkpoints" below)
 *   OUT.state/token   "<token> <host> <pid>": written by rank 0 at start-up,
 *                     read by every MPI worker (see "shared storage" below)
 *   OUT.tmp.<pid>     a snapshot being written (removed on error; leftovers of
 *                     killed runs are removed by the next store_open)
 *
 * The dataset is regenerated from the journal, so a kill at any instant loses
 * at most the tasks still running. Only rank 0 (or the single process) opens a
 * Store; only this module includes netcdf.h.
 *
 * Ownership: store_open allocates, store_close releases.
 */
#ifndef POLYSWEEP_STORE_H
#define POLYSWEEP_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "polysweep/grid.h"
#include "polysweep/task.h"

typedef struct Store Store;

/* Facts about the run recorded in the dataset's global attributes. */
typedef struct StoreRunInfo {
    const char *command;   /* the command line, for `history` */
    const char *blas_core; /* OpenBLAS kernel in use */
    int blas_threads;      /* BLAS threads per worker */
    int mpi_size;          /* processes in the run (1 without MPI) */
    const char *blas_core_note; /* how that core was chosen (the core check); NULL = "" */
    const char *layout;    /* processes, nodes, workers x threads, cores; NULL = "" */
    int shard_k, shard_n;  /* this run is shard k of n (--shard k/n); 0, 0: the
                              whole sweep. Recorded in the journal's header: an
                              output holds one shard (or the whole sweep) for
                              life, and store_open refuses another. */
} StoreRunInfo;

/* Most shards a sweep may be split into. */
#define STORE_MAX_SHARDS 1000000

/* Parse "K/N" (1 <= K <= N <= STORE_MAX_SHARDS): 0, or PS_EINVAL. */
int store_shard_parse(const char *text, int *k, int *n);

/* The default output of shard k of n of a job whose output is `output`:
 * "results/x.nc" -> "results/x.shard2of3.nc" (k zero-padded to the width of
 * n, so that the shards sort). malloc'd; NULL when out of memory. */
char *store_shard_output(const char *output, int k, int n);

/* Open (creating if needed) the store of the grid's output path and replay
 * its journal. `fresh` discards an existing journal and dataset first.
 * Errors (PS_EMISMATCH when the journal belongs to a different job or the
 * output exists without a journal, PS_EBUSY when another process has it open,
 * PS_EIO, PS_EFORMAT for a damaged journal) leave every existing file
 * untouched. Appends this run's line to the history (`command` is the command
 * line; "polysweep " is prefixed unless it starts with the program's name).
 * Recoverable surprises are not errors but warnings: see store_warnings. */
int store_open(const Grid *g, const char *output, int fresh,
               const StoreRunInfo *info, Store **out, char *err, size_t errlen);
void store_close(Store **s);

/* Warnings of store_open, for the caller to print: "" when none, else one
 * line per warning, each ending in '\n' (a torn last journal record that was
 * cut off, finished tasks that are no longer in the grid). Borrowed. */
const char *store_warnings(const Store *s);

/* Finished-task records of the journal whose label is not in the grid (values
 * removed from an axis): kept in the journal, left out of the dataset. */
int64_t store_orphan_count(const Store *s);

/* TaskStatus of task i as recorded so far. */
int store_task_status(const Store *s, int64_t i);

/* Counts over the tasks of the output (the shard's, in a shard output). */
int64_t store_count(const Store *s, int status);

/* Tasks of the output: the grid's, or the shard's. */
int64_t store_task_total(const Store *s);

/* 1 when task i belongs to the output (always, unless it holds a shard). */
int store_task_member(const Store *s, int64_t i);

/* Make a result durable (journal append + fsync), then keep it for the
 * dataset, then remove the task's checkpoint. A later record of the same
 * task replaces the earlier one (--retry-failed). Returns 0 or PS_EIO with a
 * message. */
int store_commit(Store *s, int64_t i, const TaskResult *r, char *err, size_t errlen);

/* Regenerate the dataset at the output path from everything committed so far
 * (pending tasks hold NaN and status pending). Atomic. */
int store_snapshot(Store *s, char *err, size_t errlen);

/* Upper bound of the dataset's size in bytes (uncompressed), and of the
 * memory rank 0 holds for it, for `polysweep plan`. */
double store_dataset_bytes(const Grid *g);

/* ---- merging outputs of one job (merge.c) ----
 *
 * store_merge reads the journals of `inputs` (OUT.state/journal of each;
 * never their datasets) and writes `output`, an ordinary output (journal,
 * dataset; status and run work on it): every result of every input, copied
 * bit for bit, on the union of the inputs' grids. An existing `output` of
 * the same job is extended (it is read as the first input). Refused before
 * anything is written, with a message: an input that is not an output (no
 * journal: copy the whole output), of another format, of another job (the
 * first difference is named), or with a damaged journal; an output that
 * holds a shard, another job, or is in use. When two inputs hold the same
 * task, a done result wins over a failed one, else the first input listed.
 *
 * Ownership: store_merge allocates the report, store_merge_report_free
 * releases it. */
typedef struct StoreMergePart {
    char *path;          /* the output as given */
    int base;            /* 1: the existing merged output itself */
    int shard_k, shard_n;/* the shard it holds (0, 0: the whole sweep) */
    int64_t records;     /* task records in its journal */
    int64_t taken;       /* results it added to the merged output */
    int64_t duplicates;  /* results the merged output had already */
    int64_t differing;   /* done there already with other bits (other BLAS kernel or
                            threads?): the earlier one was kept */
    int64_t outside;     /* records of tasks outside the merged grid (values removed
                            from an axis): left out */
    int torn;            /* its journal ends in an incomplete record (left out) */
    int busy;            /* a run on this host holds its lock: merged what it held */
    long pid;            /* that run */
} StoreMergePart;

typedef struct StoreMergeReport {
    int nparts;
    StoreMergePart *part;  /* (nparts) the existing output first, then the inputs */
    int repeated;          /* inputs given more than once (read once) */
    int grid_generated;    /* 1: the parts' axis values differ; the merged job text is
                              their union (else the first part's text as it is) */
    int64_t ntasks;        /* tasks of the merged grid */
    int64_t count[3];      /* of them per TaskStatus */
    int64_t orphans;       /* records of the existing output outside the merged grid */
    char missing[256];     /* "2/3, 3/3": shards no input holds, when every input is a
                              shard of the same split; "" otherwise */
} StoreMergeReport;

int store_merge(const char *output, const char *const *inputs, int ninputs,
                const StoreRunInfo *info, StoreMergeReport **out, char *err, size_t errlen);
void store_merge_report_free(StoreMergeReport **rep);

/* ---- checkpoints of running tasks ----
 *
 *   OUT.state/ckpt/<key>.ckpt   one task's resumable training state (task.h,
 *                               TaskTick), <key> = TaskSpec.key as 16 hex digits
 *
 * File format (little-endian): u32 magic "PSCK" | u32 version | u64 ident |
 * u64 key | i64 step | i64 steps | f64 elapsed seconds | u64 label length |
 * u64 state length | label | state | u32 CRC-32C of all bytes before it.
 * ident is FNV-1a-64 over the job's fingerprint text, '\n' and the task's
 * label: a checkpoint of another job or another task is never used.
 *
 * Whoever runs a task writes its checkpoints (rank 0 alone, or an MPI
 * worker): no Store or lock is needed, because a task runs in one process at
 * a time and every valid checkpoint of a task is a state of the same
 * deterministic training run. A save is atomic (a temporary file
 * "<key>.ckpt.tmp.<pid>", fsync, rename, fsync of the directory), so a kill
 * leaves the previous checkpoint. store_commit removes a task's checkpoint once
 * its result is in the journal; store_open removes those of finished tasks
 * and leftover temporaries, and every checkpoint with `fresh`.
 *
 * Ownership: store_ckpt_open allocates, store_ckpt_close releases;
 * store_ckpt_load fills a StoreCheckpoint whose state the caller releases
 * with store_checkpoint_clear. */
typedef struct StoreCkpt StoreCkpt;

typedef struct StoreCheckpoint {
    void *state;     /* malloc'd */
    size_t len;
    int64_t step, steps;
    double elapsed;  /* wall seconds spent on the task before this state */
} StoreCheckpoint;

/* The checkpoints of output path `output` for the tasks of g (any rank; the
 * directory is created if needed). */
int store_ckpt_open(const Grid *g, const char *output, StoreCkpt **out, char *err,
                    size_t errlen);
void store_ckpt_close(StoreCkpt **c);

/* Save task i's state atomically. 0 or PS_EIO / PS_ENOMEM with a message. */
int store_ckpt_save(StoreCkpt *c, int64_t i, const TaskTick *tk, char *err, size_t errlen);

/* Load task i's checkpoint: 0 and *ck filled; 1 when it has none; PS_EFORMAT
 * with a message when the file is not a valid checkpoint of this task
 * (damaged, of another job, another task or another format); PS_EIO,
 * PS_ENOMEM. */
int store_ckpt_load(StoreCkpt *c, int64_t i, StoreCheckpoint *ck, char *err, size_t errlen);

/* Remove task i's checkpoint (none is fine). */
void store_ckpt_remove(StoreCkpt *c, int64_t i);

void store_checkpoint_clear(StoreCheckpoint *ck);

/* The open Store's checkpoints (borrowed; for rank 0 running tasks itself). */
StoreCkpt *store_checkpoints(Store *s);

/* Checkpoints store_open found for pending tasks (they resume from them). */
int64_t store_resumable_count(const Store *s);

/* ---- shared storage: does every process see the same OUT.state? ----
 *
 * MPI workers write checkpoints into OUT.state/ckpt themselves, so the output
 * must be on a file system every node of the run mounts at the same path.
 * Rank 0 writes a new random token into OUT.state/token (atomically,
 * fsynced); each worker checks it before it touches OUT.state. */
#define STORE_TOKEN_LEN 33 /* 32 hex digits and the NUL */

/* Rank 0, Store open: write a new token; it is copied into token. 0, PS_EIO
 * or PS_ENOMEM with a message. */
int store_token_write(const Store *s, char token[STORE_TOKEN_LEN], char *err, size_t errlen);

/* Any process: 0 when `output`'s OUT.state/token holds `token`. Otherwise,
 * after retrying for `patience` seconds (lookup and attribute caches of
 * network file systems), PS_EMISMATCH with a message saying what this node
 * sees there (no such file, another run's token), or PS_EIO. */
int store_token_check(const char *output, const char *token, double patience, char *err,
                      size_t errlen);

/* ---- reading a sweep's state without a Store (`polysweep status`) ----
 *
 * store_inspect reads OUT.state/journal read-only, record by record (no
 * mmap, never truncating or locking anything; a record being appended right
 * now reads as a torn tail), rebuilds the grid from the latest job text the
 * journal holds, and looks at the checkpoints and at the lock without taking
 * it. The dataset is never opened.
 *
 * Ownership: store_inspect allocates, store_inspect_free releases. */
typedef struct StoreInspectCkpt {
    int64_t task;    /* grid index */
    int64_t step, steps;
    double elapsed;  /* wall seconds spent on it so far */
    double mtime;    /* when it was saved (Unix seconds) */
} StoreInspectCkpt;

typedef struct StoreInspect {
    char *journal_path;
    uint64_t journal_bytes;
    double journal_mtime;    /* Unix seconds: the last append */
    int64_t records;         /* valid records read */
    int64_t torn_at;         /* byte offset of an incomplete last record, or -1 */
    uint64_t torn_bytes;
    int64_t damaged_at;      /* byte offset of damage followed by valid records, or -1 */
    char problem[1536];      /* "" or a sentence: damage, unparsable job, ... */

    uint64_t format;         /* the output's format (0: no header yet); when it is
                                not this version's, nothing else was read:
                                store_inspect_format_error says what to do */
    int shard_k, shard_n;    /* the shard the output holds; 0, 0: the whole sweep */
    JobSpec *job;            /* NULL when the journal holds no header yet */
    Grid *g;                 /* idem */
    char *fingerprint;       /* the journal's (malloc'd), or NULL */
    int64_t ntasks;
    int64_t count[3];        /* tasks of the output (the shard's) per TaskStatus */
    int64_t nmembers;        /* tasks of the output: ntasks, or the shard's */
    unsigned char *member;   /* (ntasks) 1 for the shard's tasks; NULL when unsharded */
    unsigned char *status;   /* (ntasks) */
    char **reason;           /* (ntasks) failed tasks' reasons, else NULL */
    int64_t orphans;         /* finished-task records not in the grid */
    int64_t task_records;    /* TASK records read */
    char *last_run;          /* the last history line, or NULL */
    int runs;                /* RUN records */

    StoreInspectCkpt *ckpt;  /* checkpoints of pending tasks, by task index */
    int nckpt;

    int locked;              /* 1: a process holds the lock now (seen in /proc/locks) */
    long lock_pid;           /* that process, else the pid recorded in the lock file (0: none) */
    char lock_host[256];     /* the host recorded in the lock file ("" when none) */
    char lock_since[64];     /* the start time recorded in the lock file ("" when none) */
} StoreInspect;

/* PS_EINVAL with a message when `output` is not the output of a sweep (no
 * OUT.state/journal), PS_EIO, PS_ENOMEM. A damaged or torn journal is not
 * an error: what could be read is reported, with `problem` / `torn_at`. */
int store_inspect(const char *output, StoreInspect **out, char *err, size_t errlen);
void store_inspect_free(StoreInspect **p);

/* PS_EFORMAT with a message saying what to do when the inspected output is
 * of another format than this version's (older: finish it with the version
 * that started it, or start over with --fresh), else 0. */
int store_inspect_format_error(const StoreInspect *in, const char *output, char *err,
                               size_t errlen);

#endif
