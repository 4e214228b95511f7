/* store.h - the durable record of a sweep and its NetCDF dataset
 * (design.md, "Durability and resume" and "The dataset").
 *
 * Files of a sweep with output path OUT (for example results/x.nc):
 *   OUT               the dataset: a complete NetCDF-4 snapshot, always
 *                     replaced atomically (temporary file, fsync, rename,
 *                     fsync of the directory), never written in place
 *   OUT.state/journal append-only record of the sweep: a header with the job's
 *                     fingerprint, one record per run (the history) and one
 *                     per finished task, each with a CRC-32C, fsynced before
 *                     the task counts as done
 *   OUT.state/lock    flock'd by the process that has the Store open (holds
 *                     its pid and host); the kernel releases it when that
 *                     process ends, however it ends
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
} StoreRunInfo;

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

/* Counts over the grid. */
int64_t store_count(const Store *s, int status);

/* Make a result durable (journal append + fsync), then keep it for the
 * dataset. Returns 0 or PS_EIO with a message. */
int store_commit(Store *s, int64_t i, const TaskResult *r, char *err, size_t errlen);

/* Regenerate the dataset at the output path from everything committed so far
 * (pending tasks hold NaN and status pending). Atomic. */
int store_snapshot(Store *s, char *err, size_t errlen);

/* Upper bound of the dataset's size in bytes (uncompressed), and of the
 * memory rank 0 holds for it, for `polysweep plan`. */
double store_dataset_bytes(const Grid *g);

#endif
