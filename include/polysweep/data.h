/* data.h - random streams and the training data (science.md section 1).
 *
 * Every random number in polysweep comes from Philox4x32-10 (Salmon et al.,
 * "Parallel random numbers: as easy as 1, 2, 3", SC 2011), a counter-based
 * generator: the output is a pure function of a 64-bit key (the task's key)
 * and a 128-bit counter (stream id, step, position). There is no generator
 * state to carry, so a task's draws do not depend on which rank runs it, in
 * what order, or whether it was interrupted and resumed.
 *
 * Counter layout: ctr[0] = position within the step (in blocks of 4 outputs),
 * ctr[1] = low 32 bits of the step, ctr[2] = high 32 bits of the step,
 * ctr[3] = stream id (DataStream).
 */
#ifndef POLYSWEEP_DATA_H
#define POLYSWEEP_DATA_H

#include <stdint.h>

#include "polysweep/task.h"

typedef enum DataStream {
    STREAM_INIT = 1,  /* weight initialisation (step 0) */
    STREAM_BATCH = 2, /* training batches (step = training step) */
    STREAM_EVAL = 3,  /* held-out evaluation sample (step = chunk index) */
    STREAM_NOISE = 4, /* hidden noise (step = training step) */
} DataStream;

/* One Philox4x32-10 block. */
void philox4x32(const uint32_t ctr[4], uint64_t key, uint32_t out[4]);

/* u32 -> float in [0, 1) with 24 random bits; u32 -> double in (0, 1). */
static inline float rng_unit_f32(uint32_t u) { return (float)(u >> 8) * 0x1.0p-24f; }
static inline double rng_open_f64(uint32_t u) { return ((double)u + 0.5) * 0x1.0p-32; }

/* Fill out[0..count) with N(0, std^2) draws (Box-Muller, in double, rounded
 * to float) from stream `stream` at `step` of `key`. Block j (ctr[0] = j)
 * gives out[4j..4j+3]: (r cos, r sin) of words (0, 1), then of words (2, 3),
 * with r = sqrt(-2 ln rng_open_f64(first)), angle 2 pi rng_open_f64(second).
 * A shorter request is a prefix of a longer one. */
void data_normal(uint64_t key, uint32_t stream, uint64_t step, float std,
                 float *out, int64_t count);

/* The importances I (n) of a task (science.md section 1). Values below
 * FLT_MIN are flushed to 0 so that training never meets subnormals. */
void data_importance(const TaskSpec *t, double *I);

/* A batch of B examples, (B, n) row-major: x_bi = a_bi * xi_bi with
 * a_bi ~ Bernoulli(density) and xi_bi from the task's value law (t->values),
 * drawn from `stream` at `step`. Element k = b n + i uses block ctr[0] = k / 2,
 * words (0, 1) for even k and (2, 3) for odd k: the first word w decides the
 * Bernoulli draw, active iff w < density * 2^32 (exactly); the second word v
 * gives the value:
 *   uniform         rng_unit_f32(v) = (v >> 8) 2^-24, in [0, 1)
 *   uniform_signed  (2 (v >> 8) + 1 - 2^24) 2^-24: odd multiples of 2^-24 in
 *                   (-1, 1), an exactly symmetric law
 *   rademacher      +1 when v < 2^31, else -1
 *   gaussian        Box-Muller on the block's two value words (words 1 and 3):
 *                   r = sqrt(-2 ln rng_open_f64(w1)), th = 2 pi rng_open_f64(w3),
 *                   element 2j gets r cos th, element 2j+1 gets r sin th (double,
 *                   rounded to float once)
 * With unit_variance the value is multiplied by data_value_scale(t) (in double,
 * then rounded). The Bernoulli words are the same for every law, so tasks that
 * differ only in the value law have the same active features. An element never
 * depends on B: a smaller B gives a prefix of a larger batch.
 * one_hot: row b is the basis vector e_(b mod n) whatever the step (the full
 * batch of B = n rows is the identity); density is ignored.
 * Requires B n <= 2^33. Returns the number of nonzero entries. */
int64_t data_sample(const TaskSpec *t, uint64_t key, uint32_t stream,
                    uint64_t step, int B, float *x);

/* Sparse batches: the data law of data_sample, drawn in a way whose cost
 * is proportional to the active features rather than to B n (the trainer's
 * sparse path, model_sparse_wanted). Another realisation of the same law:
 * a task takes one sampler or the other, by its settings.
 *
 * Row b of the batch of `step` has its own Philox stream, counter
 * (j, step_lo, step_hi, stream | 0x80 | b << 8) (b < 2^24; bit 7 keeps it
 * apart from data_sample's counters), whose words are used in order: block
 * j's words 0, 1, 2, 3, then block j + 1's. The row is walked from position
 * -1: each active feature takes a gap word and two value words; the gap
 * G >= 0 (inactive features skipped) is Geometric(p), P(G >= g) = q^g with
 * q = 1 - p, drawn exactly in integers from a word w as
 *   G = #{g in 1..L : w < T_g},  T_g = round(q^g 2^32)
 * (DataGeom: T computed once by repeated multiplication in double, L the
 * last g with T_g > 0, at most DATA_GEOM_MAX; when G reaches a truncated
 * table's end, the next word draws more gap, which the memoryless law
 * allows). The position advances by G + 1; past n - 1 the row ends. The two
 * value words (v1, v2) make the value as data_sample's law does from (word 1,
 * word 3): uniform (v1 >> 8) 2^-24, uniform_signed from v1, rademacher from
 * v1, gaussian s r cos(th) with r from v1 and th from v2 (one value per
 * element). So the active features do not depend on the value law, and a
 * row never depends on B. one_hot gives its usual rows. */
#define DATA_GEOM_MAX 4096
#define DATA_GEOM_PRE 64
typedef struct DataGeom {
    int len;                           /* L */
    int pre;                           /* Philox blocks per row drawn ahead (speed only) */
    double inv_log_q;                  /* 1 / ln q: a first guess of G (speed only) */
    uint32_t thr[DATA_GEOM_MAX + 2];   /* thr[g] = T_g for 1 <= g <= L, 0 beyond */
} DataGeom;
/* g for density p drawing rows of n features. */
void data_geom_init(double density, int n, DataGeom *g);

/* Fills rowptr[0..B] (row b's entries are col/val[rowptr[b] .. rowptr[b+1]),
 * columns increasing) and col, val, which must hold B n entries (the most a
 * batch can have). Returns the number of entries (zero values included:
 * the uniform law gives 0 with probability 2^-24). g from
 * data_geom_init(t->density). */
int64_t data_sample_sparse(const TaskSpec *t, const DataGeom *g, uint64_t key, uint32_t stream,
                           uint64_t step, int B, int64_t *rowptr, int32_t *col, float *val);

/* Rows first .. first+B-1 of the one_hot data set repeated: row r of x is
 * e_((first + r) mod n). The evaluation sample of a one_hot task is rows 0..n-1. */
void data_one_hot(int n, int64_t first, int B, float *x);

/* Raw moment E[xi^k] of the value law itself (no scaling), k >= 0: uniform
 * 1/(k+1); uniform_signed 1/(k+1) for even k, 0 for odd; gaussian (k-1)!! for
 * even k, 0 for odd; rademacher and one_hot 1 for even k (one_hot: also odd).
 * NaN for k < 0 or an unknown law. */
double data_law_moment(int values, int k);

/* The scale of unit_variance, 1/sqrt(p mu2) (1 without unit_variance, and
 * for laws where it does not apply: uniform, one_hot). */
double data_value_scale(const TaskSpec *t);

/* Raw moment E[xi^k] of an active feature's value as sampled, unit_variance
 * scaling included: data_law_moment(values, k) * data_value_scale(t)^k.
 * Meaningful for k up to 2q and beyond (exact for the continuous laws; the
 * 24-bit grid of the uniform laws moves them by about 2^-24). */
double data_value_moment(const TaskSpec *t, int k);

/* Kurtosis of the input coordinates x_i = a_i xi_i, E[x^4] / E[x^2]^2
 * = mu4 / (p mu2^2): 3/p gaussian, 1/p rademacher, 9/(5p) uniform_signed, and
 * for the non-negative uniform law the same non-central ratio 9/(5p) (its
 * central kurtosis is different). one_hot: n (x_i is 1 with probability 1/n).
 * The scale of unit_variance cancels. */
double data_kurtosis(const TaskSpec *t);

/* The kurtosis of dense inputs (p = 1) of a law, mu4 / mu2^2: the least
 * kurtosis it can have (1.8, 1.8, 3, 1; NaN for one_hot). The density giving
 * kurtosis K is data_law_kurtosis(values) / K. */
double data_law_kurtosis(int values);

/* The hidden noise of training step `step` (science.md section 2, INC): m
 * values from STREAM_NOISE, one draw per step shared by every example of the
 * batch. bipolar: element j is +sigma when word (j mod 4) of block j / 4 is
 * below 2^31, else -sigma; gaussian: data_normal(key, STREAM_NOISE, step,
 * sigma). NOISE_NONE writes zeros. */
void data_hidden_noise(const TaskSpec *t, uint64_t key, uint64_t step, float *xi);

/* Key of the held-out evaluation sample of a task: depends on the seed and
 * the data law only (n, density, values, unit_variance), so tasks that differ
 * only in the model or the optimiser are evaluated on the same examples.
 * FNV-1a-64 + splitmix64 finaliser of "eval;seed=<seed>;n=<n>;density=<%.17g>",
 * followed by ";values=<name>" when the law is not uniform and
 * ";unit_variance=true" with unit_variance: the uniform law keeps the key it
 * had before value laws existed. (A kurtosis setting acts through the density
 * it gives.) */
uint64_t data_eval_key(const TaskSpec *t);

/* The one string hash of the program (task keys, evaluation keys, file
 * identities): FNV-1a 64 (Fowler, Noll, Vo; offset basis and prime from the
 * reference implementation) continued over len more bytes - start from
 * DATA_FNV_OFFSET - and the splitmix64 finaliser (Steele, Lea, Flood, "Fast
 * splittable pseudorandom number generators", OOPSLA 2014), which spreads
 * every input bit over the result where the key seeds a random stream. */
#define DATA_FNV_OFFSET 0xcbf29ce484222325ULL
uint64_t data_fnv1a(uint64_t h, const void *bytes, size_t len);
uint64_t data_mix64(uint64_t z);

#endif
