/* data.c - importances and training batches (science.md section 1,
 * include/polysweep/data.h).
 *
 * data_sample is called once per training step, so it generates Philox
 * blocks PHILOX_LANES at a time in vectorisable loops rather than calling a
 * generator per element.
 */
#include <float.h>
#include <math.h>

#include "polysweep/data.h"

#include "philox_impl.h"

/* science.md section 1: decay r -> r^i; constant -> 1; range [hi, lo] ->
 * hi (lo/hi)^(i/(n-1)) (log-spaced, I_0 = hi, I_{n-1} = lo; n = 1 -> hi). */
void data_importance(const TaskSpec *t, double *I)
{
    const int n = t->n;
    for (int i = 0; i < n; i++) {
        double v;
        switch (t->importance) {
        case IMPORTANCE_DECAY:
            v = pow(t->importance_rate, (double)i);
            break;
        case IMPORTANCE_RANGE:
            v = n > 1 ? t->importance_hi *
                            pow(t->importance_lo / t->importance_hi, (double)i / (n - 1))
                      : t->importance_hi;
            break;
        case IMPORTANCE_CONSTANT:
        default:
            v = 1.0;
            break;
        }
        /* Training is float32: an importance below FLT_MIN would be a
         * subnormal there (slow on x86), and its feature is irrelevant anyway. */
        I[i] = fabs(v) < (double)FLT_MIN ? 0.0 : v;
    }
}

/* Element k = b n + i of the batch takes Philox block ctr[0] = k / 2, words
 * (o0, o1) when k is even and (o2, o3) when k is odd: the first word decides
 * the Bernoulli draw, the second is the value. So an element never depends on
 * B (a smaller batch is a prefix of a larger one).
 *
 * Bernoulli(p): active iff u < p 2^32 in exact arithmetic. u is an integer, so
 * this is u < ceil(p 2^32), an integer compare; p = 1 is always active.
 *
 * Limit: ctr[0] is 32 bits, so B n <= 2^33 elements per call. */
int64_t data_sample(const TaskSpec *t, uint64_t key, uint32_t stream,
                    uint64_t step, int B, float *x)
{
    const int64_t total = (int64_t)B * t->n;
    const uint32_t lo = (uint32_t)step, hi = (uint32_t)(step >> 32);
    const double pthr = ceil(t->density * 4294967296.0);   /* p 2^32, exact */
    const uint32_t all = pthr >= 4294967296.0;              /* p = 1 */
    const uint32_t thr = all ? 0 : pthr > 0.0 ? (uint32_t)pthr : 0;
    int64_t nnz = 0;
    uint32_t o[4][PHILOX_LANES];

    for (int64_t j0 = 0; 2 * j0 < total; j0 += PHILOX_LANES) {
        philox_lanes((uint32_t)j0, lo, hi, stream, key, o);
        float *xc = x + 2 * j0;
        int cnt = 0;
        if (2 * j0 + 2 * PHILOX_LANES <= total) {
            /* Branch-free, in separate simple loops, so that each one
             * vectorises: the 24 value bits are masked to 0 when inactive,
             * which is the same float as rng_unit_f32 or 0. */
            float v0[PHILOX_LANES], v1[PHILOX_LANES];
            for (int l = 0; l < PHILOX_LANES; l++) {
                uint32_t on = 0u - (uint32_t)((o[0][l] < thr) | all);
                v0[l] = (float)(int32_t)((o[1][l] >> 8) & on) * 0x1.0p-24f;
            }
            for (int l = 0; l < PHILOX_LANES; l++) {
                uint32_t on = 0u - (uint32_t)((o[2][l] < thr) | all);
                v1[l] = (float)(int32_t)((o[3][l] >> 8) & on) * 0x1.0p-24f;
            }
            for (int l = 0; l < PHILOX_LANES; l++) {
                xc[2 * l] = v0[l];
                xc[2 * l + 1] = v1[l];
            }
            for (int l = 0; l < PHILOX_LANES; l++)
                cnt += (v0[l] != 0.0f) + (v1[l] != 0.0f);
        } else {
            /* The last, partial chunk: same values, fewer stored. */
            int rem = (int)(total - 2 * j0);
            for (int k = 0; k < rem; k++) {
                uint32_t a = o[2 * (k & 1)][k >> 1], u = o[2 * (k & 1) + 1][k >> 1];
                float v = ((a < thr) | all) ? rng_unit_f32(u) : 0.0f;
                xc[k] = v;
                cnt += v != 0.0f;
            }
        }
        nnz += cnt;
    }
    return nnz;
}
