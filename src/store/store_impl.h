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

/* The format of an output's journal and dataset (README, "Dataset
 * reference"): the dataset's global attribute polysweep_format and the
 * journal header's format field. Outputs of another format are refused with
 * what to do (format.c). 1: before the xarray-first schema and shards. */
#define STORE_FORMAT 2

/* The dataset's status value of a task of another shard (a shard output's
 * dataset only; never in memory or in the journal). */
#define STORE_STATUS_OTHER_SHARD 3

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
    int shard_k, shard_n;   /* the shard this output holds (--shard k/n); 0, 0: all */
    unsigned char *member;  /* (ntasks) 1 for the shard's tasks; NULL: every task */
    int64_t nmembers;       /* tasks of the shard (ntasks when unsharded) */
    uint64_t *setting_axes; /* (job_setting_count) grid_setting_axes: the axes each
                               setting's coordinate spans */
    int max_n, max_m, max_log;
    size_t slot[RV_COUNT]; /* entries per task; 0 = variable not kept */
    void *val[RV_COUNT];
    unsigned char *status;
    char **reason;
    int64_t count[3]; /* tasks of the shard per TaskStatus */

    char *fingerprint; /* job_fingerprint_text of the current job */
    char **history;    /* RUN lines, oldest first */
    int nhistory, caphistory;
    int64_t orphans;   /* TASK records whose label is not in the grid */
    char *warnings;    /* "" or lines ending in '\n' */
};

/* keep[v] (RV_COUNT entries) = 1 when some task of g measures result
 * variable v (task_measures): only those are kept, in memory and in the
 * dataset. A pass over the tasks; 0 or PS_ENOMEM. */
int store_kept_vars(const Grid *g, unsigned char *keep);

/* Entries per task of variable v in the dense layout above. */
size_t store_slot_len(int v, int max_n, int max_m, int max_log);

/* Value of a fixed setting by name (its default when unknown), and whether it
 * is an axis instead. */
double store_fixed_value(const JobSpec *job, const char *name, int *is_axis);

/* 64-bit FNV-1a hash of a string (the fingerprint attribute). */
uint64_t store_hash64(const char *s);

/* ---- store.c, for merge.c ---- */

/* store_open, with the run's history line appended (history = 1) or not. */
int store_open_ex(const Grid *g, const char *output, int fresh, const StoreRunInfo *info,
                  int history, Store **out, char *err, size_t errlen);

/* Commit task i's result r from a TASK record's payload (label and packed
 * result, as another journal holds it), appended as it is: the same bits. */
int store_commit_record(Store *s, int64_t i, const TaskResult *r, const unsigned char *payload,
                        size_t len, char *err, size_t errlen);

/* 1 when r (for task i) has the status and the bits the store holds for
 * task i, variables that vary between runs aside. */
int store_result_same(const Store *s, int64_t i, const TaskResult *r);

/* a followed by b, malloc'd; NULL when out of memory. */
char *store_concat(const char *a, const char *b);

/* "<UTC time> polysweep <command>" into line; returns its length. */
int store_history_head(char *line, size_t len, const char *command);

/* Append a line to the history (a RUN record); is this line there already? */
int store_append_history(Store *s, const char *line, char *err, size_t errlen);
int store_has_history(const Store *s, const char *line);

/* ---- format.c: format version, journal header, shards ---- */

/* The journal's header record (format.c has the layout). Pointers borrow
 * the payload. */
typedef struct StoreHeader {
    const unsigned char *fingerprint, *text;
    uint64_t flen, tlen;
    uint64_t format;          /* 1 for headers without the field */
    uint64_t shard_k, shard_n; /* 0, 0: the whole sweep */
    const unsigned char *job_path; /* the job file's path at the first run */
    uint64_t plen;
} StoreHeader;

/* Parse a header payload: 0, or -1 when it is malformed. A format other than
 * STORE_FORMAT is reported in h->format, the rest left unread. */
int store_header_parse(const unsigned char *p, uint64_t len, StoreHeader *h);

/* The fields after the two strings of a header of this format, into tail
 * (32 bytes, up to the job path's length; the path's bytes follow);
 * returns their length. */
size_t store_header_put(unsigned char *tail, int shard_k, int shard_n, size_t path_len);

/* The header's job path as a string (malloc'd; "job" when it is empty). */
char *store_header_path(const StoreHeader *h);

/* 0 when `format` is STORE_FORMAT, else PS_EFORMAT with what to do. */
int store_format_check(const char *output, uint64_t format, char *err, size_t errlen);

/* "shard 2/3" or "the whole sweep". */
void store_shard_text(int k, int n, char *buf, size_t len);

/* 0 when the output holds what this run is (have = the journal's, want =
 * the run's), else PS_EMISMATCH saying what to give. */
int store_shard_check(const char *output, int have_k, int have_n, int want_k, int want_n,
                      char *err, size_t errlen);

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

/* ---- inspect.c ---- */

/* *dst = a malloc'd copy of the len bytes at p (the old *dst freed): 0 or
 * PS_ENOMEM. */
int store_set_text(char **dst, const unsigned char *p, uint64_t len);

/* Is OUT.state/lock (in state_dir) held by a process of this host now? 1
 * with its pid, else 0 (a run on another node does not show). */
int store_lock_held(const char *state_dir, long *pid);

/* ---- mismatch.c ---- */

/* One phrase naming the first difference between two fingerprint texts, for
 * example "lr is 0.001 there and 0.01 in jobs/x.yaml". */
void store_describe_mismatch(const char *old_fp, const char *new_fp,
                             const char *job_path, char *buf, size_t len);

#endif
