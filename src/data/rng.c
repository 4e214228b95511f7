/* rng.c - the random streams of polysweep (include/polysweep/data.h):
 * Philox4x32-10 blocks, normal draws for initialisation, and the key of the
 * held-out evaluation sample.
 *
 * Every draw is a pure function of (key, stream, step, position): see the
 * counter layout in data.h.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "polysweep/data.h"

#include "philox_impl.h"

void philox4x32(const uint32_t ctr[4], uint64_t key, uint32_t out[4])
{
    philox_block(ctr[0], ctr[1], ctr[2], ctr[3], key, out);
}

/* Box-Muller (Box and Muller 1958): for u1, u2 uniform on (0, 1),
 * r = sqrt(-2 ln u1) and (r cos 2 pi u2, r sin 2 pi u2) are two independent
 * N(0, 1) draws. Block j (ctr[0] = j) yields out[4j .. 4j+3]:
 *   out[4j]   = std * r(o0) cos(2 pi u(o1))    out[4j+1] = std * r(o0) sin(2 pi u(o1))
 *   out[4j+2] = std * r(o2) cos(2 pi u(o3))    out[4j+3] = std * r(o2) sin(2 pi u(o3))
 * with u = rng_open_f64 (never 0, so the log is finite), computed in double
 * and rounded to float once. A prefix of a longer request is the same draws. */
void data_normal(uint64_t key, uint32_t stream, uint64_t step, float std,
                 float *out, int64_t count)
{
    const double two_pi = 6.283185307179586476925286766559;
    const uint32_t lo = (uint32_t)step, hi = (uint32_t)(step >> 32);
    for (int64_t k = 0; k < count; k += 4) {
        uint32_t o[4];
        philox_block((uint32_t)(k / 4), lo, hi, stream, key, o);
        double z[4];
        for (int pair = 0; pair < 2; pair++) {
            double r = sqrt(-2.0 * log(rng_open_f64(o[2 * pair])));
            double theta = two_pi * rng_open_f64(o[2 * pair + 1]);
            z[2 * pair] = r * cos(theta);
            z[2 * pair + 1] = r * sin(theta);
        }
        for (int q = 0; q < 4 && k + q < count; q++)
            out[k + q] = (float)((double)std * z[q]);
    }
}

uint64_t data_fnv1a(uint64_t h, const void *bytes, size_t len)
{
    const unsigned char *b = bytes;
    for (size_t i = 0; i < len; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint64_t data_mix64(uint64_t z)
{
    z ^= z >> 30;
    z *= 0xbf58476d1ce4e5b9ULL;
    z ^= z >> 27;
    z *= 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return z;
}

static uint64_t hash_string(const char *s)
{
    return data_mix64(data_fnv1a(DATA_FNV_OFFSET, s, strlen(s)));
}

uint64_t data_eval_key(const TaskSpec *t)
{
    static const char *const law[VALUES_COUNT] = {"uniform", "uniform_signed", "gaussian",
                                                  "rademacher", "one_hot"};
    char buf[224];
    int len = snprintf(buf, sizeof buf, "eval;seed=%lld;n=%d;density=%.17g",
                       (long long)t->seed, t->n, t->density);
    if (t->values != VALUES_UNIFORM && len > 0 && (size_t)len < sizeof buf)
        len += snprintf(buf + len, sizeof buf - (size_t)len, ";values=%s",
                        t->values >= 0 && t->values < VALUES_COUNT ? law[t->values] : "?");
    if (t->unit_variance && len > 0 && (size_t)len < sizeof buf)
        snprintf(buf + len, sizeof buf - (size_t)len, ";unit_variance=true");
    return hash_string(buf);
}
