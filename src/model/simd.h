/* simd.h - 16-lane float vectors (and 16-lane double vectors) for the
 * model's own kernels (private to src/model; included by fused_impl.h after
 * FUSED_ISA is set). The logical width is 16 lanes on every CPU; a logical
 * vector is made of native vectors (GCC vector extensions): one zmm register
 * with AVX-512 (FUSED_ISA 2), two ymm with AVX2 (1), four xmm with SSE2 (0).
 * (A plain 64-byte vector type would do the same on paper, but GCC keeps
 * types wider than the target's registers in memory.)
 *
 * Why the same bits at every level: every operation is element-wise on the
 * 16 logical lanes (IEEE add, mul, div, compare and float-double conversion
 * are exactly rounded whatever the register width), sums are formed in a
 * fixed order per lane and lanes are combined in a fixed tree (vf_sum,
 * vd_sum), and no multiply-add is ever contracted into an FMA
 * (-ffp-contract=off, set in src/model/meson.build).
 */
#ifndef PS_MODEL_SIMD_H
#define PS_MODEL_SIMD_H

#include <stdint.h>
#if FUSED_ISA > 0 || defined(__SSE2__)
#include <immintrin.h>
#endif

#define VL 16 /* logical lanes */

#if FUSED_ISA == 2
#define NW 16 /* floats per native vector */
#define HALF_LO(v) __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7)
#define HALF_HI(v) __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15)
#elif FUSED_ISA == 1
#define NW 8
#define HALF_LO(v) __builtin_shufflevector(v, v, 0, 1, 2, 3)
#define HALF_HI(v) __builtin_shufflevector(v, v, 4, 5, 6, 7)
#else
#define NW 4
#define HALF_LO(v) __builtin_shufflevector(v, v, 0, 1)
#define HALF_HI(v) __builtin_shufflevector(v, v, 2, 3)
#endif
#define NP (VL / NW) /* native vectors per logical one */

typedef float vnf __attribute__((vector_size(4 * NW)));
typedef int32_t vni __attribute__((vector_size(4 * NW)));
typedef float vhf __attribute__((vector_size(2 * NW)));  /* half: NW/2 floats */
typedef double vnd __attribute__((vector_size(4 * NW))); /* NW/2 doubles */
typedef float vnf_u __attribute__((vector_size(4 * NW), aligned(4), may_alias));
typedef int32_t vni_u __attribute__((vector_size(4 * NW), aligned(4), may_alias));
typedef double vnd_u __attribute__((vector_size(4 * NW), aligned(8), may_alias));

typedef struct VF { vnf p[NP]; } VF;      /* 16 floats */
typedef struct VI { vni p[NP]; } VI;      /* 16 lane masks (-1 / 0) */
typedef struct VD { vnd p[2 * NP]; } VD;  /* 16 doubles */

#define SI static inline __attribute__((always_inline))
#define EACH _Pragma("GCC unroll 16") for (int k_ = 0; k_ < NP; k_++)
#define EACHD _Pragma("GCC unroll 16") for (int k_ = 0; k_ < 2 * NP; k_++)

SI VF vload(const float *p) { VF r; EACH r.p[k_] = *(const vnf_u *)(p + k_ * NW); return r; }
SI void vstore(float *p, VF v) { EACH *(vnf_u *)(p + k_ * NW) = v.p[k_]; }
SI VF vset1(float s) { VF r; EACH r.p[k_] = (vnf){0} + s; return r; }
SI VF vadd(VF a, VF b) { EACH a.p[k_] += b.p[k_]; return a; }
SI VF vor(VF a, VF b) { EACH a.p[k_] = (vnf)((vni)a.p[k_] | (vni)b.p[k_]); return a; }
SI VF vsub(VF a, VF b) { EACH a.p[k_] -= b.p[k_]; return a; }
SI VF vmul(VF a, VF b) { EACH a.p[k_] *= b.p[k_]; return a; }
SI VF vmuls(float s, VF a) { EACH a.p[k_] = s * a.p[k_]; return a; }
/* a + s b: a multiply, then an add (never fused) */
SI VF vaxpy(VF a, float s, VF b) { EACH a.p[k_] += s * b.p[k_]; return a; }
SI VI vle(VF a, VF b) { VI r; EACH r.p[k_] = a.p[k_] <= b.p[k_]; return r; }
SI VI vgt(VF a, VF b) { VI r; EACH r.p[k_] = a.p[k_] > b.p[k_]; return r; }

/* c ? a : b per lane, bitwise (NaN payloads pass unchanged) */
SI VF vselect(VI c, VF a, VF b)
{
    VF r;
    EACH r.p[k_] = (vnf)(((vni)a.p[k_] & c.p[k_]) | ((vni)b.p[k_] & ~c.p[k_]));
    return r;
}

/* lane l < valid */
SI VI vfirst(int valid)
{
    static const int32_t lane[VL] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    VI r;
    EACH r.p[k_] = *(const vni_u *)(lane + k_ * NW) < valid;
    return r;
}

/* 1 when every bit of the 16 lanes is 0 (every lane +0.0f) */
SI int vzero_bits(VF v)
{
    vni o = (vni)v.p[0];
    for (int k = 1; k < NP; k++)
        o |= (vni)v.p[k];
#if FUSED_ISA == 2
    return _mm512_test_epi32_mask((__m512i)o, (__m512i)o) == 0;
#elif FUSED_ISA == 1
    return _mm256_testz_si256((__m256i)o, (__m256i)o);
#elif defined(__SSE2__)
    return _mm_movemask_epi8(_mm_cmpeq_epi32((__m128i)o, _mm_setzero_si128())) == 0xFFFF;
#else
    int32_t a[NW];
    __builtin_memcpy(a, &o, sizeof a);
    int32_t r = 0;
    for (int k = 0; k < NW; k++)
        r |= a[k];
    return r == 0;
#endif
}

SI VD vd_zero(void) { VD r; EACHD r.p[k_] = (vnd){0}; return r; }
SI VD vd_add(VD a, VD b) { EACHD a.p[k_] += b.p[k_]; return a; }
SI VD vd_mul(VD a, VD b) { EACHD a.p[k_] *= b.p[k_]; return a; }
SI VD vd_muls(double s, VD a) { EACHD a.p[k_] = s * a.p[k_]; return a; }
/* float -> double, exact (one vcvtps2pd per half where the ISA has it) */
SI VD vd_from(VF v)
{
    VD r;
    EACH {
#if FUSED_ISA == 2
        r.p[2 * k_] = (vnd)_mm512_cvtps_pd(_mm512_castps512_ps256((__m512)v.p[k_]));
        r.p[2 * k_ + 1] = (vnd)_mm512_cvtps_pd(_mm512_extractf32x8_ps((__m512)v.p[k_], 1));
#elif FUSED_ISA == 1
        r.p[2 * k_] = (vnd)_mm256_cvtps_pd(_mm256_castps256_ps128((__m256)v.p[k_]));
        r.p[2 * k_ + 1] = (vnd)_mm256_cvtps_pd(_mm256_extractf128_ps((__m256)v.p[k_], 1));
#else
        r.p[2 * k_] = __builtin_convertvector(HALF_LO(v.p[k_]), vnd);
        r.p[2 * k_ + 1] = __builtin_convertvector(HALF_HI(v.p[k_]), vnd);
#endif
    }
    return r;
}
SI void vd_store(double *p, VD v) { EACHD *(vnd_u *)(p + k_ * (NW / 2)) = v.p[k_]; }

/* The 16 lanes summed as ((l0 + l8) + (l4 + l12)) + ...: a halving tree,
 * in scalar code on a stored copy, the same on every level. */
static inline float vf_sum(VF v)
{
    float a[VL];
    vstore(a, v);
    for (int k = 0; k < 8; k++)
        a[k] += a[k + 8];
    for (int k = 0; k < 4; k++)
        a[k] += a[k + 4];
    for (int k = 0; k < 2; k++)
        a[k] += a[k + 2];
    return a[0] + a[1];
}

static inline double vd_sum(VD v)
{
    double a[VL];
    vd_store(a, v);
    for (int k = 0; k < 8; k++)
        a[k] += a[k + 8];
    for (int k = 0; k < 4; k++)
        a[k] += a[k + 4];
    for (int k = 0; k < 2; k++)
        a[k] += a[k + 2];
    return a[0] + a[1];
}

#endif
