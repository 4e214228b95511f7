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
    ARCH_GELU_OUTPUT, /* x' = GELU(G x + b), exact erf GELU (CAP variants) */
    ARCH_RELU_HIDDEN, /* h = ReLU(W x), x' = ReLU(W^T h + b) (TMS privileged basis) */
    ARCH_QUADRATIC,   /* scalar y' = sum_j ((W x)_j)^2 + e, target sum_i I_i x_i^2 (CAP);
                         e is b[0] */
    ARCH_POWER,       /* x' = (G x)^q elementwise, q odd, no bias (POW) */
    ARCH_COUNT
} Arch;

typedef enum ImportanceKind {
    IMPORTANCE_DECAY,    /* I_i = rate^i */
    IMPORTANCE_CONSTANT, /* I_i = 1 */
    IMPORTANCE_RANGE,    /* I_i = hi * (lo/hi)^(i/(n-1)), log-spaced */
    IMPORTANCE_COUNT
} ImportanceKind;

/* Value law of an active feature (science.md section 1; data.h). */
typedef enum ValueLaw {
    VALUES_UNIFORM,        /* U[0, 1) (TMS) */
    VALUES_UNIFORM_SIGNED, /* U(-1, 1) */
    VALUES_GAUSSIAN,       /* N(0, 1) */
    VALUES_RADEMACHER,     /* +-1 with probability 1/2 each */
    VALUES_ONE_HOT,        /* the n basis vectors; a full batch is the identity (INC) */
    VALUES_COUNT
} ValueLaw;

/* Noise on the hidden pre-activations h = W x during training (INC). */
typedef enum HiddenNoise {
    NOISE_NONE,
    NOISE_BIPOLAR,  /* +-sigma with probability 1/2 each */
    NOISE_GAUSSIAN, /* N(0, sigma^2) */
    NOISE_COUNT
} HiddenNoise;

typedef enum InitKind {
    INIT_XAVIER_NORMAL, /* std sqrt(2 / (n + m)) (TMS) */
    INIT_NORMAL,        /* std 1 / sqrt(m) (INC) */
    INIT_COUNT
} InitKind;

typedef enum OptimizerKind {
    OPT_ADAMW, /* torch.optim.AdamW */
    OPT_SGD,   /* torch.optim.SGD with momentum, coupled weight decay */
    OPT_COUNT
} OptimizerKind;

/* Learning rate at 0-based step t of T = steps (train_lr_at). */
typedef enum LrSchedule {
    SCHED_CONSTANT,      /* lr */
    SCHED_LINEAR,        /* lr (1 - t/T) */
    SCHED_COSINE,        /* lr (1 + cos(pi t/T)) / 2 */
    SCHED_WARMUP_COSINE, /* lr (t+1)/W for t < W = warmup_steps, then cosine from lr to 0 */
    SCHED_COUNT
} LrSchedule;

/* Everything that defines one task, after defaults, fixed settings and the
 * task's grid coordinates have been applied (grid_task_spec). Feature and
 * neuron indices are 0-based everywhere. */
typedef struct TaskSpec {
    /* model */
    int arch;             /* Arch */
    int n;                /* features */
    int m;                /* hidden dimensions */
    int bias;             /* 1: learn the per-feature output bias b (the grid
                             sets 0 for power, which has none) */
    int q;                /* power: odd exponent */
    double l1;            /* lambda of the penalty lambda sum |W| (0: none) */
    int hidden_noise;     /* HiddenNoise, on h = W x while training */
    double noise_sigma;   /* its sigma */
    int population_loss;  /* quadratic: train on the exact population loss */
    /* data (science.md section 1) */
    int values;           /* ValueLaw */
    int unit_variance;    /* 1: values scaled by 1/sqrt(p mu2), Var(x_i) = 1 */
    double sparsity;      /* S, in [0, 1) */
    double density;       /* p, in (0, 1]; the job gives sparsity, density or
                             kurtosis, the grid fills the others (p = 1 - S);
                             one_hot: 1/n */
    double kurtosis;      /* input kurtosis E[x^4]/E[x^2]^2 (data_kurtosis),
                             filled by the grid */
    int importance;       /* ImportanceKind */
    double importance_rate;           /* IMPORTANCE_DECAY */
    double importance_hi, importance_lo; /* IMPORTANCE_RANGE */
    /* training (science.md section 3) */
    int init;             /* InitKind */
    int optimizer;        /* OptimizerKind */
    double lr;            /* peak learning rate */
    int lr_schedule;      /* LrSchedule */
    int64_t warmup_steps; /* SCHED_WARMUP_COSINE */
    double beta1, beta2, eps; /* AdamW */
    double momentum;      /* SGD */
    double weight_decay;
    int64_t steps;
    int batch;            /* one_hot: n (the grid sets it) */
    int64_t seed;         /* sweep seed (may itself be a grid axis) */
    /* measurement */
    int log_every;        /* loss-curve window, in steps */
    int eval_samples;     /* size of the fixed held-out evaluation sample
                             (one_hot: n, the grid sets it) */
    double block_tau;     /* blocks: |cos(W_i, W_j)| > tau connects i and j */
    double neuron_window_lo, neuron_window_hi; /* neuron counts: |W_ji| in [lo, hi] */
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
    SHAPE_BLOCK,   /* n values, one per block of the embedding (dimension
                      `block`, size max n; NaN beyond the task's block count) */
} ResultShape;

/* Storage type in the dataset (results are carried as double in memory). */
typedef enum ResultType { RTYPE_DOUBLE, RTYPE_FLOAT, RTYPE_INT } ResultType;

#define RV_NONDETERMINISTIC 1u /* timing or placement: differs between runs */
#define RV_WEIGHTS 2u          /* present only when save_weights */

/* A result variable of the dataset. Names never equal a setting's dataset
 * name (the dataset has a coordinate for every setting) nor an attribute of
 * xarray.Dataset (`ds.rank` is a method: the MPI rank is `mpi_rank`). */
typedef struct ResultVar {
    const char *name;        /* dataset variable name */
    const char *long_name;   /* CF long_name: a short label (<= 40 characters) */
    const char *description; /* the formula and reference, or what the label omits */
    const char *units;       /* UDUNITS units ("1" when dimensionless) */
    ResultShape shape;
    ResultType type;
    unsigned flags;          /* RV_* */
} ResultVar;

/* The catalog: every per-task measurement, in dataset order. */
enum {
    RV_FINAL_LOSS,
    RV_EVAL_LOSS,
    RV_FROBENIUS2,
    RV_DIMS_PER_FEATURE,
    RV_CAPACITY_SUM,
    RV_REPRESENTED,
    RV_BLOCK_COUNT,
    RV_BLOCK_LARGEST,
    RV_POLYSEMANTIC_NEURONS,
    RV_INPUT_KURTOSIS,
    RV_PREDICTED_LOSS,
    RV_QUADRATIC_BIAS,
    RV_POWER_GAIN,
    RV_POWER_GAIN_BASELINE,
    RV_WALL_TIME,
    RV_RANK, /* dataset name mpi_rank */
    RV_NORM,
    RV_CAPACITY,
    RV_SUPERPOSITION,
    RV_FEATURE_BIAS,
    RV_FEATURE_IMPORTANCE,
    RV_FEATURE_BLOCK,
    RV_FOURTH_NORM_RATIO,
    RV_PREDICTED_CAPACITY,
    RV_NEURON_FEATURES,
    RV_NEURON_PARTICIPATION,
    RV_BLOCK_SIZE,
    RV_BLOCK_CAPACITY,
    RV_BLOCK_RESIDUAL,
    RV_LOSS_CURVE,
    RV_W,
    RV_B,
    RV_COUNT
};
extern const ResultVar result_vars[RV_COUNT];

/* Does task t measure result variable v (measure.c, "Which measurement
 * applies to which model")? A property of the settings alone, never of the
 * result: the dataset has a variable only when some task of the grid
 * measures it. W and b only with save_weights. */
int task_measures(const TaskSpec *t, int v);

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

/* ---- running with checkpoints (design.md, Durability and resume) ----
 *
 * task_run_ex trains like task_run, but every `every` steps it calls a tick
 * with the persistent part of the training state (parameters, optimiser
 * moments, step, loss-curve accumulators: train.h, TrainState.persist). The
 * caller may keep a copy of those bytes (a checkpoint) and give them back
 * later as `resume`: training then continues exactly there, and the result is
 * bit-identical to an uninterrupted run (all but wall_time, which adds up
 * the attempts). The tick may also ask to stop. The task module never
 * touches files: where checkpoints live is the caller's business. */

typedef struct TaskTick {
    const void *state;  /* persistent training state; borrowed, valid during the call */
    size_t len;         /* its size in bytes */
    int64_t step;       /* steps completed */
    int64_t steps;      /* the task's steps */
    double elapsed;     /* wall seconds spent on the task so far, earlier attempts
                           (resume_elapsed) included */
} TaskTick;

typedef struct TaskHooks {
    int64_t every;         /* steps between ticks; <= 0: task_tick_steps(t) */
    /* Return 0 to go on; non-zero stops training (task_run_ex returns
     * PS_EINTR; a stop asked at the last step is moot, the task finishes).
     * NULL: no ticks. */
    int (*tick)(void *ctx, const TaskTick *tk);
    void *ctx;
    const void *resume;    /* TaskTick.state bytes of an earlier attempt; NULL: start fresh */
    size_t resume_len;
    double resume_elapsed; /* TaskTick.elapsed that went with them */
} TaskHooks;

/* Steps between ticks by default: about 2^21 multiply-adds of training work
 * (a fraction of a millisecond to a few milliseconds), at least 1, so a tick
 * costs nothing measurable and a stop request is seen promptly. */
int64_t task_tick_steps(const TaskSpec *t);

/* task_run with hooks (h may be NULL: exactly task_run). Returns 0 with the
 * result in *out (done or failed, as task_run); PS_EINTR when a tick stopped
 * training (*out NULL; the last tick's state is where to resume); PS_EFORMAT
 * when `resume` does not fit this task (its size differs from this task's
 * state, or its step is outside [0, steps]; nothing was run); PS_ENOMEM.
 * Never prints. */
int task_run_ex(const TaskSpec *t, const TaskHooks *h, TaskResult **out);

/* The gain Lg = 2 E<x, x'> - E||x'||^2 of the model `params` (model.h
 * layout) of task t on its held-out evaluation sample (the examples of
 * train_eval_loss), unweighted by importance, without the l1 penalty or
 * hidden noise, computed in double: the power model's gain (science.md
 * section 5, [POW]); defined for any autoencoder. Returns 0, PS_EINVAL
 * (quadratic, or no evaluation sample) or PS_ENOMEM. */
int task_power_gain(const TaskSpec *t, const float *params, double *gain);

#endif
