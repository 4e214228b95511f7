/* job.h - the job file: YAML parsed and checked into a JobSpec.
 *
 * A job file is a YAML mapping (README.md, "Job file reference"):
 *
 *   title: "TMS: n=20, m=5 over sparsity"   # optional
 *   output: results/quickstart.nc           # optional, default results/<job name>.nc
 *   grid:                                   # axes, cartesian product
 *     arch: [linear, relu_output]
 *     sparsity: {linspace: [0, 0.9, 10]}
 *   settings:                               # fixed settings (anything not an axis)
 *     n: 20
 *     m: 5
 *   run:                                    # how to run; never changes results
 *     snapshot_every: 60
 *
 * Every setting has a type, a default and a valid range (the catalog below).
 * Every error - unreadable file, invalid YAML, unknown key (with a suggestion
 * for near misses), duplicate key, wrong type, out-of-range value, empty axis -
 * is reported as "file:line:col: message" (1-based line and column).
 *
 * Ownership: job_load allocates the JobSpec; job_free releases it.
 */
#ifndef POLYSWEEP_JOB_H
#define POLYSWEEP_JOB_H

#include <stddef.h>
#include <stdint.h>

#include "polysweep/task.h"

typedef enum SettingType {
    SET_INT,  /* integer (held exactly in a double, |v| < 2^53) */
    SET_REAL, /* real number */
    SET_BOOL, /* true/false, held as 1/0 */
    SET_ENUM, /* one of `choices`, held as its index */
} SettingType;

/* Setting flags */
#define SETTING_FIXED_ONLY 1u /* may not be a grid axis (it shapes the dataset) */
#define SETTING_LO_OPEN 2u    /* value must be > lo (default: >= lo) */
#define SETTING_HI_OPEN 4u    /* value must be < hi (default: <= hi) */
#define SETTING_HI_LIMIT 8u   /* hi is an implementation limit, not a modelling
                                 bound: messages state only the lower bound
                                 ("an integer >= 1") unless hi was exceeded */

/* Where a setting lands in TaskSpec. */
typedef enum FieldType { FIELD_INT, FIELD_INT64, FIELD_DOUBLE } FieldType;

typedef struct Setting {
    const char *name;
    SettingType type;
    const char *const *choices; /* SET_ENUM: NULL-terminated; index = value */
    double def;                 /* default value */
    double lo, hi;              /* valid range (see SETTING_*_OPEN) */
    unsigned flags;
    size_t offset;              /* offsetof(TaskSpec, field) */
    FieldType field;
    const char *help;           /* one line, for errors and the README; the
                                   dataset's `description` of the setting */
    /* The setting in the dataset (a dimension or scalar coordinate): */
    const char *label;          /* CF long_name, a short label (<= 40 characters) */
    const char *units;          /* UDUNITS units; NULL for choices and booleans
                                   (strings and flags have none) */
    const char *dataset_name;   /* NULL: `name`. `values` would shadow
                                   xarray's Dataset.values: it is `value_law` */
} Setting;

/* The name of setting s in the dataset (its dimension or coordinate). */
const char *job_setting_dataset_name(int s);

/* The catalog of settings (src/job/settings.c), in canonical order. */
extern const Setting job_settings[];
extern const int job_setting_count;

/* Index of a setting by name, or -1. */
int job_setting_find(const char *name);

/* Canonical text of a value of setting s: integers as "%lld", reals in the
 * shortest "%.Ng" form that reads back to the same double (0.1, 1e-08),
 * booleans "true"/"false", enums by name. */
void job_value_text(int s, double v, char *buf, size_t len);

typedef struct Axis {
    int setting;     /* index into job_settings */
    int count;       /* >= 1 */
    double *values;  /* count values, in file order */
    int line, col;   /* where the axis was written (its key), for messages */
} Axis;

/* Run options from the `run:` section (never change results). 0 = default. */
typedef struct JobRun {
    int threads;            /* BLAS threads per worker; 0 = automatic */
    double snapshot_every;  /* seconds between dataset snapshots */
    double checkpoint_every;/* seconds between in-task checkpoints */
} JobRun;

typedef struct JobSpec {
    char *path;         /* as given */
    char *text;         /* the file's full text (recorded in the dataset) */
    char *name;         /* file name without directory and extension */
    char *title;        /* `title`, or the name */
    char *output;       /* `output`, or "results/<name>.nc" */
    double *fixed;      /* job_setting_count values: default or `settings:` */
    unsigned char *set; /* job_setting_count flags: 1 when given in `settings:` */
    int *line, *col;    /* job_setting_count: where each `settings:` value was
                           written (1-based), 0 when not given; for messages */
    int naxes;
    Axis *axes;         /* in file order */
    JobRun run;
} JobSpec;

/* Parse and check a job file. On error returns PS_EINVAL (or PS_EIO for an
 * unreadable file) with "file:line:col: message" in err, and *out = NULL. */
int job_load(const char *path, JobSpec **out, char *err, size_t errlen);

/* Parse from a string; `path` is used in messages only. */
int job_parse(const char *path, const char *text, size_t len, JobSpec **out,
              char *err, size_t errlen);

void job_free(JobSpec **job);

/* The job's meaning as canonical text, for the store's fingerprint: one line
 * "name=value" per setting that is not an axis (defaults included, catalog
 * order), then one line "axis name" per axis in file order. Axis values, the
 * title, the output path and `run:` are not part of it, so adding values to an
 * axis or changing how a sweep runs keeps the fingerprint. malloc'd; the caller
 * frees. NULL when out of memory. */
char *job_fingerprint_text(const JobSpec *job);

/* Axis index of setting s, or -1 when it is fixed. */
int job_axis_of(const JobSpec *job, int s);

/* The job as a job file: `comment` (may be NULL; each line becomes a "# "
 * line), title, output, every axis as an explicit list, the settings given
 * in `settings:` (JobSpec.set) and the run options that are not defaults.
 * job_parse of the text gives the same job (fingerprint, axes, values,
 * title, output, run); the description and the original layout are lost.
 * malloc'd; NULL when out of memory. */
char *job_write_text(const JobSpec *job, const char *comment);

#endif
