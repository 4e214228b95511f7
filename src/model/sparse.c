/* sparse.c - the sparse path of the float32 autoencoders (model.h,
 * model_loss_grad_sparse_f32): the batch arrives in compressed rows
 * (data_sample_sparse), and the work falls with the density.
 *
 *   Wt = W^T                                   (n, m), a copy per step
 *   H  = X W^T (+ xi, ReLU)                    nnz(X) m   multiply-adds
 *   Z  = H W                                   one dense GEMM, 2 B n m flops:
 *                                              every output needs its loss
 *   dZ = the output pass, row by row           B n elements, db, and dZ's
 *                                              nonzeros in compressed rows
 *   dH = dZ W^T, dWt = dZ^T H + X^T dH         nnz(dZ) m + nnz(X) m each
 *   dW = dWt^T                                 (m, n)
 * For relu_output and relu_hidden dZ is 0 wherever the output ReLU is off
 * and x = 0, which for sparse inputs is most of the batch once the biases
 * have turned negative. When dZ has more nonzeros than a quarter of B n
 * (early in training, or for linear/gelu/power outputs, whose dZ is dense),
 * dH = dZ W^T and H^T dZ are GEMMs instead. Which one runs depends only on
 * the step's data and parameters, so results stay a function of the
 * TaskSpec. Reference: the dense formulas of arch_impl.h.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "polysweep/kernels.h"
#include "polysweep/model.h"

#include "fused.h"

/* Tasks this sparse take the sparse path when the dense one would use BLAS
 * (the fused kernels are cheap for small n m whatever the density). Measured
 * crossover (1000 steps of 1024, AVX-512, README "Performance"): the sparse
 * path is 10-30% slower than the dense one at density 0.1, as fast at
 * 0.05-0.07, faster below. */
#ifndef SPARSE_MAX_DENSITY
#define SPARSE_MAX_DENSITY 0.05
#endif

int model_sparse_wanted(const TaskSpec *t)
{
    if (!fused_autoencoder_arch(t->arch))
        return 0;
    return t->density <= SPARSE_MAX_DENSITY && t->values != VALUES_ONE_HOT &&
           !t->population_loss && t->batch >= 1 && t->batch < (1 << 24) &&
           (long long)t->n * t->m > 0 && !fused_wanted(t, t->batch);
}

static size_t up16(size_t k) { return (k + 15) / 16 * 16; }

/* Rows of Z per GEMM call: a block of Z of SPARSE_ROWS n floats stays in the
 * L2 cache for the output pass (n = 1000: 256 KiB). */
#ifndef SPARSE_ROWS
#define SPARSE_ROWS 64
#endif

/* Capacity of dZ's compressed rows: beyond a quarter of B n, the GEMMs are
 * cheaper than following the nonzeros. */
static int64_t zcap_of(int n, int B) { return ((int64_t)B * n) / 4 + n; }

size_t model_sparse_workspace_len(const TaskSpec *t, int B)
{
    const size_t n = (size_t)t->n, m = up16((size_t)t->m), rows = B > 0 ? (size_t)B : 0;
    const size_t cap = (size_t)zcap_of(t->n, B > 0 ? B : 0);
    /* Wt, dWt | H, dH | Z | xrow, zero bias | dZ rows: ptr, col, val | dZ
     * columns: ptr, row, val | X columns: ptr, row, val */
    return 2 * n * m + 2 * rows * m + up16(rows * n) + 2 * up16(n) + up16(2 * (rows + 1)) +
           2 * (up16(cap) + 16) + 2 * (up16(2 * (n + 1)) + 2 * up16(cap));
}

/* Compressed rows -> compressed columns (a counting sort, so each column
 * keeps its entries in row order). */
static void to_columns(int n, int B, const int64_t *rowptr, const int32_t *col,
                       const float *val, int64_t *cptr, int32_t *crow, float *cval)
{
    memset(cptr, 0, ((size_t)n + 1) * sizeof *cptr);
    for (int64_t e = 0; e < rowptr[B]; e++)
        cptr[col[e] + 1]++;
    for (int i = 0; i < n; i++)
        cptr[i + 1] += cptr[i];
    for (int r = 0; r < B; r++)
        for (int64_t e = rowptr[r]; e < rowptr[r + 1]; e++) {
            const int64_t k = cptr[col[e]]++;
            crow[k] = r;
            cval[k] = val[e];
        }
    for (int i = n; i > 0; i--)
        cptr[i] = cptr[i - 1];
    cptr[0] = 0;
}

/* dst (cols, ldd) = src (rows, lds)^T on the first rows x cols, in 32 x 32
 * blocks (cache lines); add: += instead of =. */
static void transpose(const float *src, int rows, int cols, size_t lds, float *dst,
                      size_t ldd, int add)
{
    for (int r0 = 0; r0 < rows; r0 += 32)
        for (int c0 = 0; c0 < cols; c0 += 32) {
            const int r1 = r0 + 32 < rows ? r0 + 32 : rows, c1 = c0 + 32 < cols ? c0 + 32 : cols;
            for (int c = c0; c < c1; c++)
                for (int r = r0; r < r1; r++) {
                    float *d = &dst[(size_t)c * ldd + r];
                    *d = add ? *d + src[(size_t)r * lds + c] : src[(size_t)r * lds + c];
                }
        }
}

typedef struct SparseFns {
    SparseHiddenFn hidden;
    SparseOutputFn output;
    SparseDhFn dh;
    SparseDwtFn dwt;
} SparseFns;

static SparseFns pick(void)
{
    switch (kern_simd_level()) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    case KERN_SIMD_AVX512:
        return (SparseFns){sparse_hidden_avx512, sparse_output_avx512, sparse_dh_avx512,
                           sparse_dwt_avx512};
    case KERN_SIMD_AVX2:
        return (SparseFns){sparse_hidden_avx2, sparse_output_avx2, sparse_dh_avx2,
                           sparse_dwt_avx2};
#endif
    default:
        return (SparseFns){sparse_hidden_generic, sparse_output_generic, sparse_dh_generic,
                           sparse_dwt_generic};
    }
}

double model_loss_grad_sparse_f32(const TaskSpec *t, const float *params, const float *I,
                                  const int64_t *rowptr, const int32_t *col, const float *val,
                                  int B, const float *noise, float *grad, float *ws)
{
    const int n = t->n, m = t->m;
    if (B <= 0) {
        memset(grad, 0, model_param_len(t) * sizeof(float));
        return 0.0;
    }
    int act;
    switch (t->arch) {
    case ARCH_LINEAR: act = ACT_IDENTITY; break;
    case ARCH_GELU_OUTPUT: act = ACT_GELU; break;
    case ARCH_POWER: act = ACT_POW; break;
    case ARCH_RELU_OUTPUT:
    case ARCH_RELU_HIDDEN: act = ACT_RELU; break;
    default: return NAN;
    }
    const int bias = model_bias_used(t);
    const float *W = params + model_w_offset();          /* (m, n) */
    float *dW = grad + model_w_offset();                 /* (m, n) */
    float *db = grad + model_b_offset(t);                /* (n) */
    const size_t rows = (size_t)B, mp = up16((size_t)m);
    SparseArgs a = {.n = n, .m = m, .mp = (int)mp, .B = B, .act = act,
                    .hidden_relu = t->arch == ARCH_RELU_HIDDEN, .q = t->q, .bias = bias,
                    .W = W, .I = I, .xi = noise,
                    .scale = (float)(2.0 / ((double)B * n)), .rowptr = rowptr, .col = col,
                    .val = val, .db = db, .zcap = zcap_of(n, B)};
    float *p = ws;
    a.Wt = p;   p += (size_t)n * mp;
    a.dWt = p;  p += (size_t)n * mp;
    a.H = p;    p += rows * mp;
    a.dH = p;   p += rows * mp;
    a.Z = p;    p += up16(rows * n);
    a.xrow = p; p += up16((size_t)n);
    float *zb = p; p += up16((size_t)n);
    a.zptr = (int64_t *)p;  p += up16(2 * (rows + 1));
    a.zcol = (int32_t *)p;  p += up16((size_t)a.zcap) + 16;  /* + 16 spare */
    a.zval = p;             p += up16((size_t)a.zcap) + 16;
    a.zcptr = (int64_t *)p; p += up16(2 * ((size_t)n + 1));
    a.zcrow = (int32_t *)p; p += up16((size_t)a.zcap);
    a.zcval = p;            p += up16((size_t)a.zcap);
    a.xcptr = (int64_t *)p; p += up16(2 * ((size_t)n + 1));
    a.xcrow = (int32_t *)p; p += up16((size_t)a.zcap);
    a.xcval = p;
    memset(a.xrow, 0, (size_t)n * sizeof(float));
    memset(zb, 0, (size_t)n * sizeof(float));
    memset(db, 0, (size_t)n * sizeof(float));
    a.b = bias ? params + model_b_offset(t) : zb;
    const SparseFns f = pick();

    /* Wt = W^T, its padding lanes m .. mp-1 zero */
    for (int i = 0; mp > (size_t)m && i < n; i++)
        memset(a.Wt + (size_t)i * mp + m, 0, (mp - (size_t)m) * sizeof(float));
    transpose(W, m, n, (size_t)n, a.Wt, mp, 0);
    f.hidden(&a);                                                        /* H = X W^T */
    /* Z = H W and the output pass, SPARSE_ROWS rows at a time so that the
     * block of Z is still in the cache when the pass reads it */
    int64_t nnz_dz = 0;
    double sum = 0.0;
    for (int r0 = 0; r0 < B; r0 += SPARSE_ROWS) {
        const int rb = B - r0 < SPARSE_ROWS ? B - r0 : SPARSE_ROWS;
        kern_gemm_f32(0, 0, rb, n, m, 1.0f, a.H + (size_t)r0 * mp, (int)mp, W, n, 0.0f,
                      a.Z + (size_t)r0 * n, n);
        f.output(&a, r0, r0 + rb, &nnz_dz, &sum);
    }
    /* dH = dZ W^T: from dZ's nonzeros, or a GEMM when there are too many */
    const int sparse_dz = nnz_dz <= a.zcap;
    if (!sparse_dz)
        kern_gemm_f32(0, 1, B, m, n, 1.0f, a.Z, n, W, n, 0.0f, a.dH, (int)mp);
    f.dh(&a, !sparse_dz);
    /* dWt = dZ^T H + X^T dH by columns (X has more than a quarter of B n
     * nonzeros only by a freak of chance, but then it goes row by row) */
    const int sparse_x = rowptr[B] <= a.zcap;
    if (sparse_dz)
        to_columns(n, B, a.zptr, a.zcol, a.zval, a.zcptr, a.zcrow, a.zcval);
    if (sparse_x)
        to_columns(n, B, rowptr, col, val, a.xcptr, a.xcrow, a.xcval);
    memset(a.dWt, 0, (size_t)n * mp * sizeof(float));
    f.dwt(&a, sparse_dz, sparse_x);
    for (int r = 0; !sparse_x && r < B; r++)
        for (int64_t e = rowptr[r]; e < rowptr[r + 1]; e++)
            for (size_t j = 0; j < mp; j++)
                a.dWt[(size_t)col[e] * mp + j] += val[e] * a.dH[(size_t)r * mp + j];
    if (sparse_dz) {
        transpose(a.dWt, n, m, mp, dW, (size_t)n, 0);  /* dW = dWt^T */
    } else {
        kern_gemm_f32(1, 0, m, n, B, 1.0f, a.H, (int)mp, a.Z, n, 0.0f, dW, n); /* H^T dZ */
        transpose(a.dWt, n, m, mp, dW, (size_t)n, 1);
    }
    double loss = sum / ((double)B * n);

    /* + l1 sum |W|, dW += l1 sign(W), as arch_impl.h's add_l1 */
    if (t->l1 > 0.0) {
        const size_t mn = (size_t)m * n;
        const float lam = (float)t->l1;
        double s = 0.0;
        for (size_t k = 0; k < mn; k++) {
            s += fabs((double)W[k]);
            dW[k] += lam * (float)((W[k] > 0.0f) - (W[k] < 0.0f));
        }
        loss += t->l1 * s;
    }
    return loss;
}
