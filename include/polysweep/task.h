/* task.h - one task of a sweep: its resolved settings (TaskSpec), its results
 * (TaskResult, described by the result-variable catalog), and running it.
 *
 * A task's results are a pure function of its TaskSpec (design.md,
 * Determinism): every random draw is keyed by TaskSpec.key and the step.
 *
 * Ownership: task_result_create allocates; task_result_free releases (NULL-safe,
 * sets the pointer NULL). TaskSpec is a plain value, copied freely.
 */
#ifndef POLYSWEEP_TASK_H
#define POLYSWEEP_TASK_H

#include <stddef.h>
#include <stdint.h>

/* ---- vocabulary (enum values index the job file's choice lists) ---- */

typedef enum Arch {
    ARCH_LINEAR,      /* x' = G x + b                    (TMS) */
    ARCH_RELU_OUTPUT, /* x' = ReLU(G x + b)              (TMS main model) */
    ARCH_COUNT
} Arch;

typedef enum ImportanceKind {
    IMPORTANCE_DECAY,    /* I_i = rate^i */
    IMPORTANCE_CONSTANT, /* I_i = 1 */
    IMPORTANCE_RANGE,    /* I_i = hi * (lo/hi)^(i/(n-1)), log-spaced */
    IMPORTANCE_COUNT
} ImportanceKind;

/* Everything that defines one task, after defaults, fixed settings and the
 * task's grid coordinates have been applied (grid_task_spec). Feature and
 * neuron indices are 0-based everywhere. */
typedef struct TaskSpec {
    /* model */
    int arch;             /* Arch */
    int n;                /* features */
    int m;                /* hidden dimensions */
    int bias;             /* 1: learn the per-feature output bias b */
    /* data (science.md section 1) */
    double sparsity;      /* S, in [0, 1) */
    double density;       /* p, in (0, 1]; the job gives sparsity or density,
                             the grid fills the other (p = 1 - S) */
    int importance;       /* ImportanceKind */
    double importance_rate;           /* IMPORTANCE_DECAY */
    double importance_hi, importance_lo; /* IMPORTANCE_RANGE */
    /* training (science.md section 3) */
    double lr;
    double beta1, beta2, eps, weight_decay;
    int64_t steps;
    int batch;
    int64_t seed;         /* sweep seed (may itself be a grid axis) */
    /* measurement */
    int log_every;        /* loss-curve window, in steps */
    int eval_samples;     /* size of the fixed held-out evaluation sample */
    int save_weights;     /* 1: keep W and b in the dataset */
    /* identity, filled by the grid */
    uint64_t key;         /* random-stream key: hash of seed and coordinates */
} TaskSpec;

/* Number of loss-curve entries of a task (the job file requires steps to be
 * a multiple of log_every). */
static inline int task_log_count(const TaskSpec *t)
{
    return (int)((t->steps + t->log_every - 1) / t->log_every);
}

/* ---- results ---- */

typedef enum TaskStatus {
    TASK_PENDING = 0,
    TASK_DONE = 1,
    TASK_FAILED = 2,
} TaskStatus;

/* Shape of a result variable, beyond the grid dimensions. */
typedef enum ResultShape {
    SHAPE_TASK,    /* one value per task */
    SHAPE_FEATURE, /* n values (dataset dimension `feature`, size max n) */
    SHAPE_NEURON,  /* m values (dataset dimension `neuron`, size max m) */
    SHAPE_CURVE,   /* task_log_count values (dimension `log_step`) */
    SHAPE_WEIGHTS, /* m * n values, row-major (m, n) (dims `neuron`, `feature`) */
} ResultShape;

/* Storage type in the dataset (results are carried as double in memory). */
typedef enum ResultType { RTYPE_DOUBLE, RTYPE_FLOAT, RTYPE_INT } ResultType;

#define RV_NONDETERMINISTIC 1u /* timing or placement: differs between runs */
#define RV_WEIGHTS 2u          /* present only when save_weights */

typedef struct ResultVar {
    const char *name;      /* dataset variable name */
    const char *long_name; /* CF long_name */
    const char *units;     /* CF units ("1" when dimensionless) */
    ResultShape shape;
    ResultType type;
    unsigned flags;        /* RV_* */
} ResultVar;

/* The catalog: every per-task measurement, in dataset order. */
enum {
    RV_FINAL_LOSS,
    RV_EVAL_LOSS,
    RV_FROBENIUS2,
    RV_DIMS_PER_FEATURE,
    RV_CAPACITY_SUM,
    RV_REPRESENTED,
    RV_WALL_TIME,
    RV_RANK,
    RV_NORM,
    RV_CAPACITY,
    RV_SUPERPOSITION,
    RV_FEATURE_BIAS,
    RV_FEATURE_IMPORTANCE,
    RV_LOSS_CURVE,
    RV_W,
    RV_B,
    RV_COUNT
};
extern const ResultVar result_vars[RV_COUNT];

#define TASK_REASON_LEN 256

typedef struct TaskResult {
    int status;                    /* TaskStatus */
    char reason[TASK_REASON_LEN];  /* why it failed; "" when done */
    int n, m, nlog;                /* sizes of this task */
    double *val[RV_COUNT];         /* val[v] has result_len(v) entries, NaN = not measured */
    double *storage;               /* the one allocation behind val[] */
} TaskResult;

/* Entries of variable v for a task of sizes (n, m, nlog). */
size_t result_len(int v, int n, int m, int nlog);

/* Allocate a result for these sizes, every value NaN, status TASK_PENDING. */
int task_result_create(int n, int m, int nlog, TaskResult **out);
void task_result_free(TaskResult **r);

/* Serialise a result to a self-contained byte string (for the journal and
 * MPI messages) and back. pack: *buf is malloc'd, caller frees; PS_ENOMEM, or
 * PS_EINVAL for a result of more than 2^31 values. unpack returns PS_EFORMAT
 * on a malformed buffer (PS_ENOMEM when allocation fails). The format names
 * every variable: unknown names are skipped, missing ones stay NaN. */
int task_result_pack(const TaskResult *r, unsigned char **buf, size_t *len);
int task_result_unpack(const unsigned char *buf, size_t len, TaskResult **out);

/* Train the task from scratch and measure it. Always returns a result (in
 * *out) unless allocation fails: numerical failure is a TASK_FAILED result with
 * a reason, not an error. Never prints. */
int task_run(const TaskSpec *t, TaskResult **out);

#endif
