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

/* A batch of B examples, (B, n) row-major: x_bi = a_bi * u_bi with
 * a_bi ~ Bernoulli(density) and u_bi ~ U[0, 1), drawn from `stream` at `step`.
 * Element k = b n + i uses block ctr[0] = k / 2, words (0, 1) for even k and
 * (2, 3) for odd k: active iff first < density * 2^32 (exactly), value
 * rng_unit_f32(second). So a smaller B gives a prefix of a larger batch.
 * Requires B n <= 2^33. Returns the number of nonzero entries. */
int64_t data_sample(const TaskSpec *t, uint64_t key, uint32_t stream,
                    uint64_t step, int B, float *x);

/* Key of the held-out evaluation sample of a task: depends on the seed and
 * the data law only (n, density, ...), so tasks that differ only in the model
 * or the optimiser are evaluated on the same examples. */
uint64_t data_eval_key(const TaskSpec *t);

#endif
