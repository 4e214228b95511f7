/* fused.h - the model's own float32 kernels (private to src/model):
 *
 * - fused_autoencoder: loss and gradient of the tied-output autoencoders
 *   (linear, relu_output, gelu_output, relu_hidden, power; with noise and
 *   bias) for small n and m, in one pass over the batch without BLAS calls
 *   (fused_impl.h);
 * - fused_output_rows: the element-wise output pass of the BLAS path
 *   (row-major Z), vectorised.
 *
 * Each is compiled once per SIMD level (fused_generic.c, fused_avx2.c,
 * fused_avx512.c) and dispatched by kern_simd_level() in fused.c; every
 * level gives the same bits (simd.h).
 */
#ifndef PS_MODEL_FUSED_H
#define PS_MODEL_FUSED_H

#include <stddef.h>

#include "polysweep/task.h"

/* Activations of the output (arch_impl.h uses the same numbers). */
enum Act { ACT_IDENTITY, ACT_RELU, ACT_GELU, ACT_POW };

typedef struct FusedArgs {
    int n, m, B;
    int act;          /* enum Act of the output */
    int hidden_relu;  /* relu_hidden: h = ReLU(W x + xi) */
    int q;            /* power's exponent */
    const float *W;   /* (m, n) */
    const float *b;   /* (n), zeros when the model has no bias */
    int bias;         /* 1: db is the gradient of b, 0: db = 0 */
    const float *I;   /* (n) importances */
    const float *X;   /* (B, n) row-major batch */
    const float *xi;  /* (m) hidden noise or NULL */
    float scale;      /* 2 / (B n) */
    float *grad;      /* [dW (m, n) | db (n)], or NULL for the loss alone */
    float *ws;        /* fused_workspace_len(n, m, B) floats */
} FusedArgs;

/* Row stride of the feature-major buffers for Bp (B rounded up to 16)
 * columns: one cache line more than Bp, because rows 4 KiB apart would all
 * fall into the same L1 cache set (a tile touches every row at one column). */
#define FUSED_LD(Bp) ((Bp) + 16)

/* Sum over the batch of sum_i I_i (x'_bi - x_bi)^2, in double (not yet
 * divided by B n); fills a->grad when it is not NULL. */
typedef double (*FusedFn)(const FusedArgs *a);
double fused_autoencoder_generic(const FusedArgs *a);
double fused_autoencoder_avx2(const FusedArgs *a);
double fused_autoencoder_avx512(const FusedArgs *a);

/* The architectures of the form x' = act(W^T f(W x) + b) with an n-vector
 * output: the ones the fused and sparse paths handle. */
static inline int fused_autoencoder_arch(int a)
{
    return a == ARCH_LINEAR || a == ARCH_RELU_OUTPUT || a == ARCH_GELU_OUTPUT ||
           a == ARCH_RELU_HIDDEN || a == ARCH_POWER;
}

/* Whether the fused kernels handle this task at batch size B (a function of
 * the TaskSpec and B only, so a task always takes the same path). */
int fused_wanted(const TaskSpec *t, int B);
size_t fused_workspace_len(int n, int m, int B);
double fused_autoencoder(const FusedArgs *a);

/* The BLAS path's output pass on Z (B, n) row-major holding H W: adds b,
 * applies the activation, returns sum_bi I_i (act(z) - x)^2 in double and,
 * with want_grad, overwrites Z with dZ = scale I_i (act(z) - x) act'(z) and
 * adds the column sums of dZ to db (n) unless db is NULL. */
typedef double (*OutputFn)(int act, int q, float *Z, const float *X, const float *I,
                           const float *b, int B, int n, float scale, int want_grad,
                           float *db);
double fused_output_rows_generic(int act, int q, float *Z, const float *X, const float *I,
                                 const float *b, int B, int n, float scale, int want_grad,
                                 float *db);
double fused_output_rows_avx2(int act, int q, float *Z, const float *X, const float *I,
                              const float *b, int B, int n, float scale, int want_grad,
                              float *db);
double fused_output_rows_avx512(int act, int q, float *Z, const float *X, const float *I,
                                const float *b, int B, int n, float scale, int want_grad,
                                float *db);
double fused_output_rows(int act, int q, float *Z, const float *X, const float *I,
                         const float *b, int B, int n, float scale, int want_grad, float *db);

/* ---- the sparse path (sparse_impl.h, sparse.c) ---- */

/* One step of an autoencoder on a batch X in compressed rows, with the
 * workspace views sparse.c sets up. */
typedef struct SparseArgs {
    int n, m, B;
    int mp;                       /* m rounded up to 16: the row stride of Wt, dWt, H, dH */
    int act, hidden_relu, q, bias;
    const float *W, *b, *I, *xi;  /* as in FusedArgs */
    float scale;
    const int64_t *rowptr;        /* X: (B + 1) */
    const int32_t *col;           /* X: column of each entry, increasing per row */
    const float *val;             /* X: value of each entry */
    float *Wt;                    /* (n, mp) W transposed, lanes m.. zero */
    float *dWt;                   /* (n, mp) the gradient, transposed */
    float *H, *dH;                /* (B, mp) */
    float *Z;                     /* (B, n): H W, then dZ */
    float *xrow;                  /* (n) zeros: one row of X scattered */
    float *db;                    /* (n) */
    int64_t *zptr;                /* dZ in compressed rows: (B + 1) */
    int32_t *zcol;                /* (zcap) */
    float *zval;                  /* (zcap) */
    int64_t zcap;
    int64_t *zcptr;               /* dZ in compressed columns: (n + 1) */
    int32_t *zcrow;               /* (zcap) */
    float *zcval;                 /* (zcap) */
    int64_t *xcptr;               /* X in compressed columns: (n + 1) */
    int32_t *xcrow;               /* (xcap) */
    float *xcval;                 /* (xcap) */
} SparseArgs;

/* H = X W^T (+ xi, ReLU) from the rows of X. */
typedef void (*SparseHiddenFn)(const SparseArgs *a);
void sparse_hidden_generic(const SparseArgs *a);
void sparse_hidden_avx2(const SparseArgs *a);
void sparse_hidden_avx512(const SparseArgs *a);
/* The output pass on rows r0 .. r1-1 of Z (holding H W) row by row: adds
 * each row's loss to *loss in order, db, and dZ's nonzeros into
 * zptr/zcol/zval while they fit, counting them in *nnz (once the count
 * passes zcap it stops: dZ is then only in Z); zptr[r1] is set too. */
typedef void (*SparseOutputFn)(const SparseArgs *a, int r0, int r1, int64_t *nnz,
                               double *loss);
void sparse_output_generic(const SparseArgs *a, int r0, int r1, int64_t *nnz, double *loss);
void sparse_output_avx2(const SparseArgs *a, int r0, int r1, int64_t *nnz, double *loss);
void sparse_output_avx512(const SparseArgs *a, int r0, int r1, int64_t *nnz, double *loss);
/* dH = dZ W^T from dZ's compressed rows (unless dense_dh: dH is already
 * there), masked for relu_hidden. */
typedef void (*SparseDhFn)(const SparseArgs *a, int dense_dh);
void sparse_dh_generic(const SparseArgs *a, int dense_dh);
void sparse_dh_avx2(const SparseArgs *a, int dense_dh);
void sparse_dh_avx512(const SparseArgs *a, int dense_dh);
/* dWt += dZ^T H (with_dz), then += X^T dH (with_x), from the compressed
 * columns of dZ and X, column by column. */
typedef void (*SparseDwtFn)(const SparseArgs *a, int with_dz, int with_x);
void sparse_dwt_generic(const SparseArgs *a, int with_dz, int with_x);
void sparse_dwt_avx2(const SparseArgs *a, int with_dz, int with_x);
void sparse_dwt_avx512(const SparseArgs *a, int with_dz, int with_x);

#endif
