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
} StoreRunInfo;

/* Open (creating if needed) the store of the grid's output path and replay
 * its journal. `fresh` discards an existing journal and dataset first.
 * Errors (PS_EMISMATCH when the journal belongs to a different job, PS_EIO,
 * PS_EFORMAT) leave every existing file untouched. */
int store_open(const Grid *g, const char *output, int fresh,
               const StoreRunInfo *info, Store **out, char *err, size_t errlen);
void store_close(Store **s);

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
