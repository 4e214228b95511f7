/* fused_impl.h - the model's own float32 kernels (fused.h), written once and
 * compiled per SIMD level: fused_generic.c, fused_avx2.c and fused_avx512.c
 * set #pragma GCC target, define FUSED_ISA (0 generic, 1 AVX2, 2 AVX-512) and
 * FNAME(f) (f##_generic, ...) and include this file.
 *
 * fused_autoencoder: the tied-output autoencoders (arch_impl.h has the
 * formulas) for small n, m, where five BLAS calls per step cost more in call
 * overhead and packing than in arithmetic. The batch is processed
 * feature-major - lane l of a 16-wide vector is example c0 + l - so every
 * product is a broadcast weight times a vector of 16 examples, whatever n and
 * m are:
 *   phase A, per tile of 16 examples (c0 .. c0+15):
 *     Xt[i]  = x_i of the 16 examples             (n, Bp) transposed batch
 *     Ht[j]  = sum_i W_ji Xt[i] (+ xi_j, ReLU)     (m, Bp)
 *     z_i    = sum_j W_ji Ht[j] + b_i; the loss of the 16 rows; and
 *     dZt[i] = scale I_i (act(z_i) - x_i) act'(z_i) (n, Bp)
 *     dHt[j] = sum_i W_ji dZt[i] (masked by Ht > 0 for relu_hidden) (m, Bp)
 *     db lanes += dZt[i]
 *   phase B: dW_ji = vf_sum over the batch of Ht[j] dZt[i] + dHt[j] Xt[i],
 *     register-blocked 4 x 4 (a GEMM with K = B done as dot products).
 * Every sum runs in a fixed order per lane (i, then j, then the batch), so
 * the bits do not depend on the SIMD level. The loss of a row is summed over
 * i in double and the rows are added in order, exactly as arch_impl.h's
 * output pass does.
 *
 * fused_output_rows: the same output pass for the BLAS path's row-major Z.
 */
#include <math.h>
#include <string.h>

#include "fused.h"
#include "simd.h"

#if FUSED_ISA > 0
#include <immintrin.h>
#endif

#define AI SI

/* ---- activations: scalar (GELU, and tails) and 16 lanes ---- */

/* GELU as in arch_impl.h, float: z Phi(z), Phi'(z) = phi(z). */
static inline float gelu_cdf_s(float z) { return 0.5f * (1.0f + erff(z * 0.70710678118654752440f)); }

AI float act_fwd_s(int act, float z, int q)
{
    switch (act) {
    case ACT_RELU: return !(z <= 0.0f) ? z : 0.0f;
    case ACT_GELU: return z * gelu_cdf_s(z);
    case ACT_POW: {
        float r = z;
        for (int k = 1; k < q; k++)
            r *= z;
        return q > 0 ? r : 1.0f;
    }
    default: return z;
    }
}

AI float act_grad_s(int act, float z, int q)
{
    switch (act) {
    case ACT_RELU: return z > 0.0f ? 1.0f : 0.0f;
    case ACT_GELU: return gelu_cdf_s(z) + z * 0.39894228040143267794f * expf(-0.5f * z * z);
    case ACT_POW: {
        float r = z;
        for (int k = 1; k < q - 1; k++)
            r *= z;
        return (float)q * (q - 1 > 0 ? r : 1.0f);
    }
    default: return 1.0f;
    }
}

/* ReLU written so that NaN propagates (torch.relu does): NaN <= 0 is false. */
AI VF relu_v(VF z)
{
    return vselect(vle(z, vset1(0.0f)), vset1(0.0f), z);
}

AI VF ipow_v(VF z, int q)
{
    VF r = z;
    for (int k = 1; k < q; k++)
        r = vmul(r, z);
    return q > 0 ? r : vset1(1.0f);
}

/* act(pre), and (want_grad) *g = act'(pre); GELU goes lane by lane through
 * the scalar functions. */
AI VF act_v(int act, int q, VF pre, int want_grad, VF *g)
{
    if (act == ACT_GELU) {
        float p[VL], av[VL], gv[VL];
        vstore(p, pre);
        for (int l = 0; l < VL; l++) {
            av[l] = p[l] * gelu_cdf_s(p[l]);
            gv[l] = want_grad ? act_grad_s(ACT_GELU, p[l], q) : 0.0f;
        }
        *g = vload(gv);
        return vload(av);
    }
    if (act == ACT_RELU) {
        *g = vselect(vgt(pre, vset1(0.0f)), vset1(1.0f), vset1(0.0f));
        return relu_v(pre);
    }
    if (act == ACT_POW) {
        *g = vmuls((float)q, ipow_v(pre, q - 1));
        return ipow_v(pre, q);
    }
    *g = vset1(1.0f);
    return pre;
}

/* d = act(pre) - x; the loss lanes += I d^2 in double; returns (want_grad)
 * dz = ((scale I) d) act'(pre), the order of arch_impl.h's output pass. */
AI VF out_v(int act, int q, VF pre, VF x, float I, float sI, VD *loss, int want_grad)
{
    VF g;
    const VF d = vsub(act_v(act, q, pre, want_grad, &g), x);
    const VD dd = vd_from(d);
    *loss = vd_add(*loss, vd_muls((double)I, vd_mul(dd, dd)));
    return want_grad ? vmul(vmuls(sI, d), g) : d;
}

/* ---- transposing a tile of the batch ---- */

#if FUSED_ISA == 2
/* out[c] = column c of the 16 x 16 block r[0..15] (rows): unpack pairs of
 * rows, then 4 x 4 blocks by shuffle_ps, then 128-bit blocks twice. */
AI void transpose16(__m512 r[16])
{
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) { /* r[4i + c]: columns 4k + c of rows 4i..4i+3 */
        r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    for (int c = 0; c < 4; c++) {
        t[c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88);
        t[4 + c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xDD);
        t[8 + c] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
        t[12 + c] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xDD);
    }
    for (int c = 0; c < 4; c++) {
        r[c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0x88);
        r[8 + c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0xDD);
        r[4 + c] = _mm512_shuffle_f32x4(t[4 + c], t[12 + c], 0x88);
        r[12 + c] = _mm512_shuffle_f32x4(t[4 + c], t[12 + c], 0xDD);
    }
}
#elif FUSED_ISA == 1
/* The classic 8 x 8 transpose: unpack, shuffle_ps, then 128-bit halves. */
AI void transpose8(__m256 r[8])
{
    __m256 t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 2; i++) {
        u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    for (int c = 0; c < 4; c++) {
        r[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);
        r[4 + c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);
    }
}
#endif

/* Xt[i ld + l] = X[l n + i] for l < valid, 0 for valid <= l < 16: whole
 * 16 x 16 (8 x 8) blocks in registers, the rest by masked gathers (or one by
 * one). Data movement only: the bits are the same at every level. */
AI void transpose_tile(const float *X, int n, int valid, float *Xt, size_t ld)
{
    int i0 = 0;
#if FUSED_ISA == 2
    if (valid == 16)
        for (; i0 + 16 <= n; i0 += 16) {
            __m512 r[16];
            for (int l = 0; l < 16; l++)
                r[l] = _mm512_loadu_ps(X + (size_t)l * n + i0);
            transpose16(r);
            for (int c = 0; c < 16; c++)
                _mm512_storeu_ps(Xt + (size_t)(i0 + c) * ld, r[c]);
        }
    const __m512i idx = _mm512_mullo_epi32(
        _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
        _mm512_set1_epi32(n));
    const __mmask16 mask = (__mmask16)((1u << valid) - 1u);
    for (int i = i0; i < n; i++)
        _mm512_storeu_ps(Xt + (size_t)i * ld,
                         _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mask, idx, X + i, 4));
#elif FUSED_ISA == 1
    if (valid == 16)
        for (; i0 + 8 <= n; i0 += 8)
            for (int h = 0; h < 2; h++) {
                __m256 r[8];
                for (int l = 0; l < 8; l++)
                    r[l] = _mm256_loadu_ps(X + (size_t)(8 * h + l) * n + i0);
                transpose8(r);
                for (int c = 0; c < 8; c++)
                    _mm256_storeu_ps(Xt + (size_t)(i0 + c) * ld + 8 * h, r[c]);
            }
    for (int i = i0; i < n; i++)
        for (int l = 0; l < VL; l++)
            Xt[(size_t)i * ld + l] = l < valid ? X[(size_t)l * n + i] : 0.0f;
#else
    (void)i0;
    for (int i = 0; i < n; i++)
        for (int l = valid; l < VL; l++)
            Xt[(size_t)i * ld + l] = 0.0f;
    for (int l = 0; l < valid; l++) {
        const float *x = X + (size_t)l * n;
        for (int i = 0; i < n; i++)
            Xt[(size_t)i * ld + l] = x[i];
    }
#endif
}

/* ---- phase A: one tile ---- */

/* Features i .. i+IB-1 of a tile: z = sum_j W_ji Ht[j] (j in order), the
 * output pass, dZt, the db lanes, and dHt[j] += W_ji dz_i (i in order). IB
 * is a constant (4 or 1), so the arrays below live in registers. */
AI void features(const FusedArgs *a, int act, int want_grad, const int IB, int i, int c0,
                 size_t ld, VI ok, const float *Xt, const float *Ht, float *dZt,
                 float *dHt, float *dbacc, VD *lossv)
{
    const int n = a->n, m = a->m;
    const float *W = a->W;
    VF z[4], dz[4];
#pragma GCC unroll 4
    for (int k = 0; k < IB; k++)
        z[k] = vset1(0.0f);
    for (int j = 0; j < m; j++) {
        const VF h = vload(Ht + j * ld + c0);
        const float *w = W + (size_t)j * n + i;
#pragma GCC unroll 4
        for (int k = 0; k < IB; k++)
            z[k] = vaxpy(z[k], w[k], h);
    }
#pragma GCC unroll 4
    for (int k = 0; k < IB; k++) {
        const int f = i + k;
        const VF pre = vadd(z[k], vset1(a->b[f]));
        const VF x = vload(Xt + (size_t)f * ld + c0);
        dz[k] = out_v(act, a->q, pre, x, a->I[f], a->scale * a->I[f], lossv, want_grad);
        if (want_grad) {
            dz[k] = vselect(ok, dz[k], vset1(0.0f));
            vstore(dZt + (size_t)f * ld + c0, dz[k]);
            vstore(dbacc + (size_t)f * VL, vadd(vload(dbacc + (size_t)f * VL), dz[k]));
        }
    }
    if (!want_grad)
        return;
    for (int j = 0; j < m; j++) {
        const float *w = W + (size_t)j * n + i;
        VF dh = vload(dHt + j * ld + c0);
#pragma GCC unroll 4
        for (int k = 0; k < IB; k++)
            dh = vaxpy(dh, w[k], dz[k]);
        vstore(dHt + j * ld + c0, dh);
    }
}

AI void tile(const FusedArgs *a, int act, int want_grad, int c0, int valid, int Bp,
             float *Xt, float *Ht, float *dZt, float *dHt, float *dbacc, double *loss)
{
    const int n = a->n, m = a->m;
    const float *W = a->W;
    const size_t ld = (size_t)FUSED_LD(Bp);
    transpose_tile(a->X + (size_t)c0 * n, n, valid, Xt + c0, ld);

    /* Ht[j] = sum_i W_ji Xt[i], four hidden units at a time */
    int j = 0;
    for (; j + 4 <= m; j += 4) {
        const float *w0 = W + (size_t)j * n, *w1 = w0 + n, *w2 = w1 + n, *w3 = w2 + n;
        VF h0 = vset1(0.0f), h1 = h0, h2 = h0, h3 = h0;
        for (int i = 0; i < n; i++) {
            const VF x = vload(Xt + i * ld + c0);
            h0 = vaxpy(h0, w0[i], x);
            h1 = vaxpy(h1, w1[i], x);
            h2 = vaxpy(h2, w2[i], x);
            h3 = vaxpy(h3, w3[i], x);
        }
        VF h[4] = {h0, h1, h2, h3};
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            if (a->xi)
                h[k] = vadd(h[k], vset1(a->xi[j + k]));
            if (a->hidden_relu)
                h[k] = relu_v(h[k]);
            vstore(Ht + (j + k) * ld + c0, h[k]);
        }
    }
    for (; j < m; j++) {
        const float *w0 = W + (size_t)j * n;
        VF h0 = vset1(0.0f);
        for (int i = 0; i < n; i++)
            h0 = vaxpy(h0, w0[i], vload(Xt + i * ld + c0));
        if (a->xi)
            h0 = vadd(h0, vset1(a->xi[j]));
        if (a->hidden_relu)
            h0 = relu_v(h0);
        vstore(Ht + j * ld + c0, h0);
    }

    /* z, the output pass, dZ and dH, four features at a time */
    if (want_grad)
        for (j = 0; j < m; j++)
            vstore(dHt + j * ld + c0, vset1(0.0f));
    const VI ok = vfirst(valid);
    VD lossv = vd_zero();
    int i = 0;
    for (; i + 4 <= n; i += 4)
        features(a, act, want_grad, 4, i, c0, ld, ok, Xt, Ht, dZt, dHt, dbacc, &lossv);
    for (; i < n; i++)
        features(a, act, want_grad, 1, i, c0, ld, ok, Xt, Ht, dZt, dHt, dbacc, &lossv);
    if (want_grad && a->hidden_relu)
        for (j = 0; j < m; j++) {
            const VF h = vload(Ht + j * ld + c0);
            vstore(dHt + j * ld + c0,
                   vselect(vgt(h, vset1(0.0f)), vload(dHt + j * ld + c0), vset1(0.0f)));
        }

    /* rows in order, as arch_impl.h adds them */
    double rows[VL];
    vd_store(rows, lossv);
    for (int l = 0; l < valid; l++)
        *loss += rows[l];
}

/* ---- phase B: dW_ji = sum over the batch of Ht[j] dZt[i] + dHt[j] Xt[i] ---- */

/* Outputs (j .. j+JB-1) x (i .. i+IB-1), JB and IB constants: each lane
 * accumulates over the batch in order, Ht dZt then dHt Xt at each vector,
 * whatever the blocking (so the blocking may differ between SIMD levels). */
AI void grad_block(const FusedArgs *a, const int JB, const int IB, int j, int i, int Bp,
                   const float *Xt, const float *Ht, const float *dZt, const float *dHt)
{
    const size_t ld = (size_t)FUSED_LD(Bp);
    VF acc[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < JB; r++)
#pragma GCC unroll 4
        for (int c = 0; c < IB; c++)
            acc[r][c] = vset1(0.0f);
    for (int v = 0; v < Bp; v += VL) {
        VF h[4], dh[4];
#pragma GCC unroll 4
        for (int r = 0; r < JB; r++) {
            h[r] = vload(Ht + (j + r) * ld + v);
            dh[r] = vload(dHt + (j + r) * ld + v);
        }
#pragma GCC unroll 4
        for (int c = 0; c < IB; c++) {
            const VF dz = vload(dZt + (i + c) * ld + v);
            const VF x = vload(Xt + (i + c) * ld + v);
#pragma GCC unroll 4
            for (int r = 0; r < JB; r++) {
                acc[r][c] = vadd(acc[r][c], vmul(h[r], dz));
                acc[r][c] = vadd(acc[r][c], vmul(dh[r], x));
            }
        }
    }
    float *dW = a->grad;
#pragma GCC unroll 4
    for (int r = 0; r < JB; r++)
#pragma GCC unroll 4
        for (int c = 0; c < IB; c++)
            dW[(size_t)(j + r) * a->n + i + c] = vf_sum(acc[r][c]);
}

#if FUSED_ISA == 2
#define GRAD_JB 4 /* 16 accumulators + 8 vectors of 32 zmm registers */
#define GRAD_IB 4
#else
#define GRAD_JB 2 /* a logical vector is 2 (AVX2) or 4 (SSE2) registers */
#define GRAD_IB 2
#endif

AI void grad_w(const FusedArgs *a, int Bp, const float *Xt, const float *Ht,
               const float *dZt, const float *dHt)
{
    const int n = a->n, m = a->m;
    int j = 0;
    for (; j + GRAD_JB <= m; j += GRAD_JB) {
        int i = 0;
        for (; i + GRAD_IB <= n; i += GRAD_IB)
            grad_block(a, GRAD_JB, GRAD_IB, j, i, Bp, Xt, Ht, dZt, dHt);
        for (; i < n; i++)
            grad_block(a, GRAD_JB, 1, j, i, Bp, Xt, Ht, dZt, dHt);
    }
    for (; j < m; j++) {
        int i = 0;
        for (; i + GRAD_IB <= n; i += GRAD_IB)
            grad_block(a, 1, GRAD_IB, j, i, Bp, Xt, Ht, dZt, dHt);
        for (; i < n; i++)
            grad_block(a, 1, 1, j, i, Bp, Xt, Ht, dZt, dHt);
    }
}

AI double run(const FusedArgs *a, int act, int want_grad)
{
    const int n = a->n, m = a->m, B = a->B;
    const int Bp = (B + VL - 1) / VL * VL;
    const size_t ld = (size_t)FUSED_LD(Bp);    /* row stride of the buffers */
    float *Xt = a->ws;                          /* (n, Bp) */
    float *Ht = Xt + (size_t)n * ld;            /* (m, Bp) */
    float *dZt = Ht + (size_t)m * ld;           /* (n, Bp) */
    float *dHt = dZt + (size_t)n * ld;          /* (m, Bp) */
    float *dbacc = dHt + (size_t)m * ld;        /* (n, 16) */
    if (want_grad)
        memset(dbacc, 0, (size_t)n * VL * sizeof(float));
    double loss = 0.0;
    for (int c0 = 0; c0 < B; c0 += VL) {
        const int valid = B - c0 < VL ? B - c0 : VL;
        tile(a, act, want_grad, c0, valid, Bp, Xt, Ht, dZt, dHt, dbacc, &loss);
    }
    if (want_grad) {
        grad_w(a, Bp, Xt, Ht, dZt, dHt);
        float *db = a->grad + (size_t)m * n;
        for (int i = 0; i < n; i++)
            db[i] = a->bias ? vf_sum(vload(dbacc + (size_t)i * VL)) : 0.0f;
    }
    return loss;
}

/* One specialised loop nest per (activation, gradient wanted). */
double FNAME(fused_autoencoder)(const FusedArgs *a)
{
    const int g = a->grad != NULL;
    switch (a->act) {
    case ACT_RELU: return g ? run(a, ACT_RELU, 1) : run(a, ACT_RELU, 0);
    case ACT_GELU: return g ? run(a, ACT_GELU, 1) : run(a, ACT_GELU, 0);
    case ACT_POW: return g ? run(a, ACT_POW, 1) : run(a, ACT_POW, 0);
    default: return g ? run(a, ACT_IDENTITY, 1) : run(a, ACT_IDENTITY, 0);
    }
}

/* ---- the BLAS path's output pass, row-major ---- */

/* The row's sum: 16 double lanes over the vectors of the row (the last one
 * padded with z = x = I = b = 0, which adds exactly 0 for every activation
 * at 0), then vd_sum's tree in double; rows added in order. */
AI double rows_pass(int act, int q, float *Z, const float *X, const float *I, const float *b,
                    int B, int n, float scale, int want_grad, float *db)
{
    double loss = 0.0;
    const int n16 = n / VL * VL;
    for (int r = 0; r < B; r++) {
        float *z = Z + (size_t)r * n;
        const float *x = X + (size_t)r * n;
        VD acc = vd_zero();
        int i = 0;
        for (; i < n16; i += VL) {
            const VF pre = vadd(vload(z + i), vload(b + i));
            const VF xv = vload(x + i);
            if (act == ACT_RELU && vzero_bits(vor(relu_v(pre), xv))) {
                /* Every output off and every x 0 (sparse inputs): d = +0, so
                 * the loss adds +0, dz = ((scale I) 0) 0 = +0 and db += +0,
                 * which change nothing. Skipping them is exact. */
                if (want_grad)
                    vstore(z + i, vset1(0.0f));
                continue;
            }
            const VF Iv = vload(I + i);
            VF g;
            const VF d = vsub(act_v(act, q, pre, want_grad, &g), xv);
            const VD dd = vd_from(d);
            acc = vd_add(acc, vd_mul(vd_from(Iv), vd_mul(dd, dd)));
            if (want_grad) {
                const VF dz = vmul(vmul(vmuls(scale, Iv), d), g);
                vstore(z + i, dz);
                if (db)
                    vstore(db + i, vadd(vload(db + i), dz));
            }
        }
        if (i < n) {
            float zp[VL] = {0}, xp[VL] = {0}, Ip[VL] = {0}, bp[VL] = {0};
            const int k = n - i;
            memcpy(zp, z + i, (size_t)k * sizeof(float));
            memcpy(xp, x + i, (size_t)k * sizeof(float));
            memcpy(Ip, I + i, (size_t)k * sizeof(float));
            memcpy(bp, b + i, (size_t)k * sizeof(float));
            float dz[VL];
            for (int l = 0; l < VL; l++) {
                const float pre = zp[l] + bp[l];
                const float d = act_fwd_s(act, pre, q) - xp[l];
                dz[l] = scale * Ip[l] * d * act_grad_s(act, pre, q);
                zp[l] = d;
            }
            const VD dd = vd_from(vload(zp));
            acc = vd_add(acc, vd_mul(vd_from(vload(Ip)), vd_mul(dd, dd)));
            if (want_grad) {
                memcpy(z + i, dz, (size_t)k * sizeof(float));
                for (int l = 0; db && l < k; l++)
                    db[i + l] += dz[l];
            }
        }
        loss += vd_sum(acc);
    }
    return loss;
}

/* With db (n) not NULL, db[i] += dZ_ri row after row (the order of the
 * loop it replaces in arch_impl.h). */
double FNAME(fused_output_rows)(int act, int q, float *Z, const float *X, const float *I,
                                const float *b, int B, int n, float scale, int want_grad,
                                float *db)
{
    switch (act) {
    case ACT_RELU:
        return want_grad ? rows_pass(ACT_RELU, q, Z, X, I, b, B, n, scale, 1, db)
                         : rows_pass(ACT_RELU, q, Z, X, I, b, B, n, scale, 0, db);
    case ACT_GELU:
        return want_grad ? rows_pass(ACT_GELU, q, Z, X, I, b, B, n, scale, 1, db)
                         : rows_pass(ACT_GELU, q, Z, X, I, b, B, n, scale, 0, db);
    case ACT_POW:
        return want_grad ? rows_pass(ACT_POW, q, Z, X, I, b, B, n, scale, 1, db)
                         : rows_pass(ACT_POW, q, Z, X, I, b, B, n, scale, 0, db);
    default:
        return want_grad ? rows_pass(ACT_IDENTITY, q, Z, X, I, b, B, n, scale, 1, db)
                         : rows_pass(ACT_IDENTITY, q, Z, X, I, b, B, n, scale, 0, db);
    }
}

#include "sparse_impl.h"
