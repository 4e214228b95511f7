/* data.c - importances, training batches of every value law, their moments
 * and the hidden noise (science.md sections 1 and 2, include/polysweep/data.h).
 *
 * data_sample is called once per training step, so it generates Philox
 * blocks PHILOX_LANES at a time in vectorisable loops rather than calling a
 * generator per element. The uniform law keeps its own branch-free loop
 * (sample_uniform), unchanged since before the other laws existed, so its
 * batches (and every result trained on them) stay byte for byte the same.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "polysweep/data.h"
#include "polysweep/kernels.h"

#include "philox_impl.h"
#include "philox_simd.h"

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
/* Bernoulli threshold of a density: active iff word < thr, or always (all). */
static void bernoulli_threshold(double density, uint32_t *thr, uint32_t *all)
{
    const double pthr = ceil(density * 4294967296.0);   /* p 2^32, exact */
    *all = pthr >= 4294967296.0;                         /* p = 1 */
    *thr = *all ? 0 : pthr > 0.0 ? (uint32_t)pthr : 0;
}

/* philox_lanes at the given SIMD level (the same words at every level). */
static void philox_words(int level, uint32_t j0, uint32_t c1, uint32_t c2, uint32_t c3,
                         uint64_t key, uint32_t o[4][PHILOX_LANES])
{
#if PHILOX_HAVE_SIMD
    if (level == KERN_SIMD_AVX512) {
        philox_words_avx512(j0, c1, c2, c3, key, o);
        return;
    }
    if (level == KERN_SIMD_AVX2) {
        philox_words_avx2(j0, c1, c2, c3, key, o);
        return;
    }
#endif
    (void)level;
    philox_lanes(j0, c1, c2, c3, key, o);
}

static int64_t sample_uniform(const TaskSpec *t, uint64_t key, uint32_t stream,
                              uint64_t step, int B, float *x)
{
    const int64_t total = (int64_t)B * t->n;
    const uint32_t lo = (uint32_t)step, hi = (uint32_t)(step >> 32);
    uint32_t thr, all;
    bernoulli_threshold(t->density, &thr, &all);
    int64_t nnz = 0, start = 0;
    uint32_t o[4][PHILOX_LANES];

#if PHILOX_HAVE_SIMD
    /* Whole chunks in SIMD registers (the same bits), the rest below. */
    const int level = kern_simd_level();
    if (level == KERN_SIMD_AVX512) {
        start = total / 2 / PHILOX_UNIFORM_STEP_AVX512 * PHILOX_UNIFORM_STEP_AVX512;
        nnz = philox_uniform_avx512(0, start, lo, hi, stream, key, thr, all, x);
    } else if (level == KERN_SIMD_AVX2) {
        start = total / 2 / PHILOX_UNIFORM_STEP_AVX2 * PHILOX_UNIFORM_STEP_AVX2;
        nnz = philox_uniform_avx2(0, start, lo, hi, stream, key, thr, all, x);
    }
#endif
    for (int64_t j0 = start; 2 * j0 < total; j0 += PHILOX_LANES) {
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

/* cos and sin of the angle 2 pi (w + 1/2) 2^-32 of a 32-bit word w, in
 * double without calls, so that the gaussian law's loop vectorises (libm's
 * sincos was three quarters of its cost). Reduction by quarter turns, exact
 * in integers: j = the nearest quarter turn, round(4 (w + 1/2) 2^-32) mod 4,
 * and d = w - j 2^30 as a signed 32-bit integer in [-2^29, 2^29), so the
 * angle is j pi/2 + psi with psi = 2 pi (d + 1/2) 2^-32, |psi| <= pi/4. Then
 * the Taylor series of cos and sin to degree 16 and 17: the first omitted
 * terms are below (pi/4)^18/18! < 2e-17, under the double rounding of
 * the sums. Rotation by j quarter turns: (c, s) -> (-s, c). */
static inline void turn_sincos(uint32_t w, double *c, double *sn)
{
    const uint32_t j = ((w >> 29) + 1) >> 1 & 3;
    const int32_t d = (int32_t)(w - (j << 30));
    const double psi = 6.283185307179586476925286766559 * (((double)d + 0.5) * 0x1.0p-32);
    const double z = psi * psi;
    double cp = 1.0 / 20922789888000.0;   /* 1/16! */
    double sp = 1.0 / 355687428096000.0;  /* 1/17! */
    static const double cc[8] = {-1.0 / 87178291200.0, 1.0 / 479001600.0,
                                 -1.0 / 3628800.0, 1.0 / 40320.0, -1.0 / 720.0,
                                 1.0 / 24.0, -1.0 / 2.0, 1.0};  /* 1/14! .. 1/0! */
    static const double sc[8] = {-1.0 / 1307674368000.0, 1.0 / 6227020800.0,
                                 -1.0 / 39916800.0, 1.0 / 362880.0, -1.0 / 5040.0,
                                 1.0 / 120.0, -1.0 / 6.0, 1.0};  /* 1/15! .. 1/1! */
    for (int k = 0; k < 8; k++) {
        cp = cp * z + cc[k];
        sp = sp * z + sc[k];
    }
    sp *= psi;
    /* (cos, sin) of j pi/2 + psi */
    const double c1 = j & 1 ? -sp : cp, s1 = j & 1 ? cp : sp;
    *c = j & 2 ? -c1 : c1;
    *sn = j & 2 ? -s1 : s1;
}

/* The signed laws: the same block layout and Bernoulli words as the uniform
 * law, the value word(s) transformed per data.h. s is the unit_variance scale
 * (1 without it). Box-Muller (Box and Muller 1958) is computed in double and
 * rounded once, as data_normal does, and only for blocks with an active
 * element (the transcendental functions dominate the cost). Per chunk of
 * PHILOX_LANES blocks: the values of every lane, then the masks, in separate
 * simple loops. */
static int64_t sample_signed(const TaskSpec *t, uint64_t key, uint32_t stream,
                             uint64_t step, int B, float *x)
{
    const int64_t total = (int64_t)B * t->n;
    const uint32_t lo = (uint32_t)step, hi = (uint32_t)(step >> 32);
    const int law = t->values;
    const double s = data_value_scale(t);
    uint32_t thr, all;
    bernoulli_threshold(t->density, &thr, &all);
    int64_t nnz = 0;
    uint32_t o[4][PHILOX_LANES];
    double v0[PHILOX_LANES], v1[PHILOX_LANES];
    float f[2 * PHILOX_LANES];

    const int level = kern_simd_level();
    for (int64_t j0 = 0; 2 * j0 < total; j0 += PHILOX_LANES) {
        philox_words(level, (uint32_t)j0, lo, hi, stream, key, o);
        switch (law) {
        case VALUES_GAUSSIAN:
            for (int l = 0; l < PHILOX_LANES; l++) {
                v0[l] = v1[l] = 0.0;
                if (((o[0][l] < thr) | (o[2][l] < thr) | all) == 0)
                    continue;
                double r = sqrt(-2.0 * log(rng_open_f64(o[1][l])));
                double c, sn;
                turn_sincos(o[3][l], &c, &sn);
                v0[l] = s * (r * c);
                v1[l] = s * (r * sn);
            }
            break;
        case VALUES_RADEMACHER:
            for (int l = 0; l < PHILOX_LANES; l++) {
                v0[l] = o[1][l] < 0x80000000u ? s : -s;
                v1[l] = o[3][l] < 0x80000000u ? s : -s;
            }
            break;
        default: /* VALUES_UNIFORM_SIGNED */
            for (int l = 0; l < PHILOX_LANES; l++) {
                v0[l] = s * ((double)((int32_t)(2 * (o[1][l] >> 8)) + 1 - (1 << 24)) * 0x1.0p-24);
                v1[l] = s * ((double)((int32_t)(2 * (o[3][l] >> 8)) + 1 - (1 << 24)) * 0x1.0p-24);
            }
            break;
        }
        for (int l = 0; l < PHILOX_LANES; l++) {
            f[2 * l] = ((o[0][l] < thr) | all) ? (float)v0[l] : 0.0f;
            f[2 * l + 1] = ((o[2][l] < thr) | all) ? (float)v1[l] : 0.0f;
        }
        const int64_t rem = total - 2 * j0;
        const int cnt = rem < 2 * PHILOX_LANES ? (int)rem : 2 * PHILOX_LANES;
        memcpy(x + 2 * j0, f, (size_t)cnt * sizeof(float));
        for (int k = 0; k < cnt; k++)
            nnz += f[k] != 0.0f;
    }
    return nnz;
}

/* ---- sparse batches (data.h, data_sample_sparse) ---- */

/* T_g = round(q^g 2^32) for g = 1, 2, ...: q^g by repeated multiplication
 * in double, each product rounded once (no libm, no FMA: the same table on
 * every machine). pre: a row of n features at density p takes about
 * 3 n p + 1 words; enough blocks for nearly every row (the rest come one by
 * one; either way the same words). */
void data_geom_init(double density, int n, DataGeom *g)
{
    const double q = 1.0 - density;
    double qg = 1.0;
    int len = 0;
    memset(g->thr, 0, sizeof g->thr);
    while (len < DATA_GEOM_MAX) {
        qg *= q;
        const double tv = floor(qg * 4294967296.0 + 0.5);
        if (!(tv >= 1.0))
            break;
        g->thr[++len] = tv >= 4294967295.0 ? 4294967295u : (uint32_t)tv;
    }
    g->len = len;
    g->inv_log_q = q > 0.0 ? 1.0 / log(q) : 0.0;
    const double np = (double)n * density;
    const double words = 3.0 * np + 1.0 + 9.0 * sqrt(np) + 4.0;
    g->pre = words >= 4.0 * DATA_GEOM_PRE ? DATA_GEOM_PRE : ((int)(words / 4.0) + 4) / 4 * 4;
}

/* The words of one row's stream, in order: the first `pre` blocks drawn
 * ahead (8 rows at a time in SIMD registers), the rest one block at a time. */
typedef struct RowStream {
    const uint32_t *ahead;     /* 4 pre words */
    int pre;
    uint32_t w[4];
    uint32_t j, c1, c2, c3;
    int next;
    uint64_t key;
} RowStream;

static inline uint32_t row_word(RowStream *r)
{
    if (r->next == 4) {
        if ((int)r->j < r->pre)
            memcpy(r->w, r->ahead + 4 * r->j, sizeof r->w);
        else
            philox_block(r->j, r->c1, r->c2, r->c3, r->key, r->w);
        r->j++;
        r->next = 0;
    }
    return r->w[r->next++];
}

/* G = #{g in 1..L : w < T_g}, the last g with w < T_g (T non-increasing):
 * from a guess ln(w 2^-32) / ln q, moved up or down until the table says
 * it is that g (so the answer is the table's, however the guess rounds). At
 * a truncated table's end (L = DATA_GEOM_MAX and w < T_L) another word adds
 * more: P(G >= L + h | G >= L) = q^h. */
static int64_t geom_gap(const DataGeom *g, RowStream *r)
{
    int64_t total = 0;
    for (;;) {
        const uint32_t w = row_word(r);
        const double guess = log(((double)w + 0.5) * 0x1.0p-32) * g->inv_log_q;
        int G = guess >= (double)g->len ? g->len : guess > 0.0 ? (int)guess : 0;
        while (G < g->len && w < g->thr[G + 1])
            G++;
        while (G > 0 && w >= g->thr[G])
            G--;
        total += G;
        if (G < DATA_GEOM_MAX)
            return total;
    }
}

/* Blocks 0 .. pre-1 of the streams of rows b0 .. b0+7 (those past B too:
 * they are simply not used). */
static void rows_ahead(int level, uint32_t stream, uint64_t step, uint64_t key, int b0,
                       int pre, uint32_t *out)
{
    uint32_t c3[8];
    for (int l = 0; l < 8; l++)
        c3[l] = stream | 0x80u | (uint32_t)(b0 + l) << 8;
    const uint32_t c1 = (uint32_t)step, c2 = (uint32_t)(step >> 32);
#if PHILOX_HAVE_SIMD
    if (level == KERN_SIMD_AVX512) {
        philox_rows_avx512(c1, c2, c3, key, pre, out);
        return;
    }
    if (level == KERN_SIMD_AVX2) {
        philox_rows_avx2(c1, c2, c3, key, pre, out);
        return;
    }
#endif
    (void)level;
    for (int l = 0; l < 8; l++)
        for (int j = 0; j < pre; j++)
            philox_block((uint32_t)j, c1, c2, c3[l], key, out + (size_t)l * 4 * pre + 4 * j);
}

int64_t data_sample_sparse(const TaskSpec *t, const DataGeom *g, uint64_t key, uint32_t stream,
                           uint64_t step, int B, int64_t *rowptr, int32_t *col, float *val)
{
    const int n = t->n;
    int64_t nnz = 0;
    rowptr[0] = 0;
    if (t->values == VALUES_ONE_HOT) {
        for (int b = 0; b < B; b++) {
            col[b] = b % n;
            val[b] = 1.0f;
            rowptr[b + 1] = b + 1;
        }
        return B;
    }
    const double s = data_value_scale(t);
    const int law = t->values, level = kern_simd_level();
    uint32_t ahead[8 * 4 * DATA_GEOM_PRE];
    for (int b = 0; b < B; b++) {
        if (b % 8 == 0)
            rows_ahead(level, stream, step, key, b, g->pre, ahead);
        RowStream r = {.ahead = ahead + (size_t)(b % 8) * 4 * g->pre, .pre = g->pre, .j = 0,
                       .c1 = (uint32_t)step, .c2 = (uint32_t)(step >> 32),
                       .c3 = stream | 0x80u | (uint32_t)b << 8, .next = 4, .key = key};
        int64_t pos = -1;
        for (;;) {
            pos += geom_gap(g, &r) + 1;
            if (pos >= n)
                break;
            const uint32_t v1 = row_word(&r), v2 = row_word(&r);
            float v;
            switch (law) {
            case VALUES_UNIFORM_SIGNED:
                v = (float)(s * ((double)((int32_t)(2 * (v1 >> 8)) + 1 - (1 << 24)) * 0x1.0p-24));
                break;
            case VALUES_RADEMACHER:
                v = (float)(v1 < 0x80000000u ? s : -s);
                break;
            case VALUES_GAUSSIAN: {
                double c, sn;
                turn_sincos(v2, &c, &sn);
                v = (float)(s * (sqrt(-2.0 * log(rng_open_f64(v1))) * c));
                break;
            }
            default:
                v = rng_unit_f32(v1);
                break;
            }
            col[nnz] = (int32_t)pos;
            val[nnz] = v;
            nnz++;
        }
        rowptr[b + 1] = nnz;
    }
    return nnz;
}

void data_one_hot(int n, int64_t first, int B, float *x)
{
    memset(x, 0, (size_t)B * (size_t)n * sizeof(float));
    for (int r = 0; r < B; r++)
        x[(size_t)r * n + (size_t)((first + r) % n)] = 1.0f;
}

int64_t data_sample(const TaskSpec *t, uint64_t key, uint32_t stream,
                    uint64_t step, int B, float *x)
{
    switch (t->values) {
    case VALUES_UNIFORM_SIGNED:
    case VALUES_GAUSSIAN:
    case VALUES_RADEMACHER:
        return sample_signed(t, key, stream, step, B, x);
    case VALUES_ONE_HOT:
        data_one_hot(t->n, 0, B, x);
        return B;
    case VALUES_UNIFORM:
    default:
        return sample_uniform(t, key, stream, step, B, x);
    }
}

/* Moments of the laws (science.md section 1): U[0, 1] has E[xi^k] = 1/(k+1);
 * U[-1, 1] the same for even k and 0 for odd k; N(0, 1) has E[xi^k] = (k-1)!!
 * for even k; +-1 has every even moment 1; one_hot's active value is 1. */
double data_law_moment(int values, int k)
{
    if (k < 0)
        return NAN;
    switch (values) {
    case VALUES_UNIFORM: return 1.0 / (k + 1);
    case VALUES_UNIFORM_SIGNED: return k % 2 ? 0.0 : 1.0 / (k + 1);
    case VALUES_GAUSSIAN: {
        if (k % 2)
            return 0.0;
        double m = 1.0;
        for (int j = k - 1; j > 1; j -= 2)
            m *= j;
        return m;
    }
    case VALUES_RADEMACHER: return k % 2 ? 0.0 : 1.0;
    case VALUES_ONE_HOT: return 1.0;
    default: return NAN;
    }
}

/* unit_variance (the CAP convention): Var(x_i) = p mu2 s^2 = 1 for the
 * symmetric laws. The job file refuses it for uniform and one_hot. */
double data_value_scale(const TaskSpec *t)
{
    if (!t->unit_variance || t->values == VALUES_UNIFORM || t->values == VALUES_ONE_HOT)
        return 1.0;
    return 1.0 / sqrt(t->density * data_law_moment(t->values, 2));
}

double data_value_moment(const TaskSpec *t, int k)
{
    return data_law_moment(t->values, k) * pow(data_value_scale(t), (double)k);
}

/* mu4 / mu2^2, written as exact fractions: (1/5) / (1/3)^2 in floating point
 * is 1.8000000000000003, which would refuse kurtosis 1.8 (density 1). */
double data_law_kurtosis(int values)
{
    switch (values) {
    case VALUES_UNIFORM:
    case VALUES_UNIFORM_SIGNED: return 9.0 / 5.0;
    case VALUES_GAUSSIAN: return 3.0;
    case VALUES_RADEMACHER: return 1.0;
    default: return NAN;
    }
}

/* E[x^4] / E[x^2]^2 = p mu4 / (p mu2)^2 = mu4 / (p mu2^2). */
double data_kurtosis(const TaskSpec *t)
{
    if (t->values == VALUES_ONE_HOT)
        return (double)t->n;
    return data_law_kurtosis(t->values) / t->density;
}

void data_hidden_noise(const TaskSpec *t, uint64_t key, uint64_t step, float *xi)
{
    const int m = t->m;
    if (t->hidden_noise == NOISE_GAUSSIAN) {
        data_normal(key, STREAM_NOISE, step, (float)t->noise_sigma, xi, m);
        return;
    }
    if (t->hidden_noise != NOISE_BIPOLAR) {
        memset(xi, 0, (size_t)m * sizeof(float));
        return;
    }
    const float sig = (float)t->noise_sigma;
    const uint32_t lo = (uint32_t)step, hi = (uint32_t)(step >> 32);
    for (int j = 0; j < m; j += 4) {
        uint32_t o[4];
        philox_block((uint32_t)(j / 4), lo, hi, STREAM_NOISE, key, o);
        for (int w = 0; w < 4 && j + w < m; w++)
            xi[j + w] = o[w] < 0x80000000u ? sig : -sig;
    }
}
