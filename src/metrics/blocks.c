/* blocks.c - blocks of the embedding (science.md section 4): the connected
 * components of the graph "|cos(W_i, W_j)| > tau" among represented features,
 * and per block its size, capacity sum and distance from semi-orthogonality.
 *
 * [CAP] Scherlis et al. 2022, theorem 1: sum_i C_i <= rank(W), with equality
 * exactly when G = W^T W is block diagonal and each block G_b is a positive
 * multiple of an orthogonal projection, G_b^2 = c G_b. The residual
 *   ||G_b^2 - c G_b||_F / ||G_b^2||_F,  c = tr(G_b^2) / tr(G_b)
 * measures how far a block is from that (0 for a projection; c is the scale
 * that makes the traces of G_b^2 and c G_b agree).
 *
 * The graph: the represented columns are copied and normalised (U, (m, r)),
 * and cos = U^T U is computed one panel of rows at a time over the upper
 * triangle (the streaming scheme of metrics.c), each pair above tau joining
 * two union-find sets. G is never held whole.
 *
 * The residual of a block of k features needs G_b^2. It is computed from
 * whichever of G_b = W_b^T W_b (k, k) and M_b = W_b W_b^T (m, m) is smaller:
 * both have the same nonzero eigenvalues, so tr(G_b^j) = tr(M_b^j) and
 *   ||G_b^2 - c G_b||_F^2 = tr(G^4) - 2c tr(G^3) + c^2 tr(G^2)
 *                         = ||M_b^2 - c M_b||_F^2,   ||G_b^2||_F = ||M_b^2||_F.
 * The difference is summed entry by entry rather than through that trace
 * expansion, which would cancel catastrophically near 0.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "polysweep/metrics.h"
#include "polysweep/polysweep.h"

#define PANEL_DOUBLES ((size_t)1 << 17) /* as in metrics.c: 1 MiB per panel */

/* Union-find with path halving; the root of a set is its smallest member, so
 * joining is order-independent. */
static int uf_find(int *parent, int a)
{
    while (parent[a] != a) {
        parent[a] = parent[parent[a]];
        a = parent[a];
    }
    return a;
}

static void uf_join(int *parent, int a, int b)
{
    a = uf_find(parent, a);
    b = uf_find(parent, b);
    if (a < b) parent[b] = a;
    else if (b < a) parent[a] = b;
}

/* Join every pair (a, b) of columns of U (m, r) with |U_a . U_b| > tau.
 * panel holds rows * r doubles. */
static void join_pairs(int *parent, double *panel, int rows, const double *U, int m,
                       int r, double tau)
{
    for (int a0 = 0; a0 < r; a0 += rows) {
        int a1 = a0 + rows < r ? a0 + rows : r;
        size_t ld = (size_t)(r - a0); // panel row (a - a0) holds U_a . U_b, b in [a0, r)
        memset(panel, 0, (size_t)(a1 - a0) * ld * sizeof(double));
        for (int k = 0; k < m; k++) {
            const double *u = U + (size_t)k * r; // (r) row k of U
            for (int a = a0; a < a1; a++) {
                double x = u[a];
                if (x == 0.0) continue;
                double *p = panel + (size_t)(a - a0) * ld;
                for (int b = a + 1; b < r; b++) p[b - a0] += x * u[b];
            }
        }
        for (int a = a0; a < a1; a++) {
            const double *p = panel + (size_t)(a - a0) * ld;
            for (int b = a + 1; b < r; b++)
                if (fabs(p[b - a0]) > tau) uf_join(parent, a, b);
        }
    }
}

/* Dot product of two rows of length d, with four partial sums (no
 * -ffast-math, so the compiler would not reassociate one sum into vectors). */
static double dot(const double *u, const double *v, int d)
{
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    int e = 0;
    for (; e + 4 <= d; e += 4) {
        s0 += u[e] * v[e];
        s1 += u[e + 1] * v[e + 1];
        s2 += u[e + 2] * v[e + 2];
        s3 += u[e + 3] * v[e + 3];
    }
    for (; e < d; e++) s0 += u[e] * v[e];
    return (s0 + s1) + (s2 + s3);
}

/* Residual of one block from Wb (m, k), its columns: the smaller Gram matrix
 * A (d, d), d = min(m, k), c = tr(A^2) / tr(A), ||A^2 - c A||_F / ||A^2||_F.
 * A is symmetric, so (A^2)_ij = A_i . A_j (rows), and only j >= i is
 * computed, each off-diagonal term counted twice; A^2 is never stored.
 * A has room for d * d doubles. */
static double block_residual(const double *Wb, int m, int k, double *A)
{
    int d = k <= m ? k : m;
    if (k <= m) {
        // A = Wb^T Wb (k, k): rank-1 updates of the upper triangle over the
        // rows of Wb, then mirrored
        memset(A, 0, (size_t)d * d * sizeof(double));
        for (int t = 0; t < m; t++) {
            const double *w = Wb + (size_t)t * k;
            for (int a = 0; a < k; a++) {
                double x = w[a];
                if (x == 0.0) continue;
                double *row = A + (size_t)a * k;
                for (int b = a; b < k; b++) row[b] += x * w[b];
            }
        }
    } else {
        // A = Wb Wb^T (m, m): dot products of the rows of Wb
        for (int s = 0; s < m; s++)
            for (int t = s; t < m; t++)
                A[(size_t)s * m + t] = dot(Wb + (size_t)s * k, Wb + (size_t)t * k, k);
    }
    for (int a = 0; a < d; a++)
        for (int b = a + 1; b < d; b++) A[(size_t)b * d + a] = A[(size_t)a * d + b];
    double tr1 = 0.0, tr2 = 0.0;
    for (int i = 0; i < d; i++) tr1 += A[(size_t)i * d + i];
    for (size_t e = 0; e < (size_t)d * d; e++) tr2 += A[e] * A[e]; // tr(A^2), A symmetric
    double c = tr2 / tr1; // tr1 > 0: every member has norm > 0.5
    double num = 0.0, den = 0.0;
    for (int i = 0; i < d; i++)
        for (int j = i; j < d; j++) {
            double g2 = dot(A + (size_t)i * d, A + (size_t)j * d, d); // (A^2)_ij
            double r = g2 - c * A[(size_t)i * d + j], w = i == j ? 1.0 : 2.0;
            num += w * r * r;
            den += w * g2 * g2;
        }
    return sqrt(num / den);
}

int metrics_blocks(const double *W, int m, int n, const double *capacity, double tau,
                   int *block_id, double *size, double *capacity_sum, double *residual,
                   int *nblocks, int *largest)
{
    if (!(tau >= 0.0) || (capacity_sum && !capacity)) return PS_EINVAL;
    if (m < 0) m = 0;
    if (n < 0) n = 0;
    int ret = 0, r = 0, nb = 0, big = 0;
    for (int i = 0; i < n; i++) {
        if (size) size[i] = NAN;
        if (capacity_sum) capacity_sum[i] = NAN;
        if (residual) residual[i] = NAN;
    }

    // ints: feat (n) represented features | parent (n) | label (n) | count (n) | start (n+1) | order (n)
    int *ints = malloc((6 * (size_t)n + 1) * sizeof(int));
    double *norm = malloc(((size_t)n + 1) * sizeof(double));
    double *U = NULL, *panel = NULL, *A = NULL;
    if (!ints || !norm) goto nomem;
    int *feat = ints, *parent = feat + n, *label = parent + n, *count = label + n,
        *start = count + n, *order = start + n + 1;

    if ((ret = metrics_features(W, m, n, norm, NULL, NULL))) goto fail;
    for (int i = 0; i < n; i++)
        if (norm[i] > METRICS_REPRESENTED_NORM) feat[r++] = i;

    // U (m, r): the represented columns, normalised
    U = malloc(((size_t)m * r + 1) * sizeof(double));
    if (!U) goto nomem;
    for (int k = 0; k < m; k++)
        for (int a = 0; a < r; a++)
            U[(size_t)k * r + a] = W[(size_t)k * n + feat[a]] / norm[feat[a]];
    int rows = r;
    if ((size_t)r * (size_t)r > PANEL_DOUBLES) {
        rows = (int)(PANEL_DOUBLES / (size_t)r);
        if (rows < 1) rows = 1;
    }
    panel = malloc(((size_t)rows * r + 1) * sizeof(double));
    if (!panel) goto nomem;
    for (int a = 0; a < r; a++) parent[a] = a;
    join_pairs(parent, panel, rows, U, m, r, tau);
    free(panel);
    free(U);
    panel = U = NULL;

    // Label the components in order of their smallest member. Members are
    // visited in increasing feature order and a root is its set's smallest
    // member, so a new label appears exactly at each root.
    for (int i = 0; i < n; i++)
        if (block_id) block_id[i] = -1;
    for (int a = 0; a < r; a++) {
        int root = uf_find(parent, a);
        label[a] = root == a ? nb++ : label[root];
        if (block_id) block_id[feat[a]] = label[a];
    }
    for (int b = 0; b < nb; b++) count[b] = 0;
    for (int a = 0; a < r; a++) count[label[a]]++;
    for (int b = 0; b < nb; b++)
        if (count[b] > big) big = count[b];

    if (size)
        for (int b = 0; b < nb; b++) size[b] = count[b];
    if (capacity_sum) {
        for (int b = 0; b < nb; b++) capacity_sum[b] = 0.0;
        for (int a = 0; a < r; a++) capacity_sum[label[a]] += capacity[feat[a]];
    }
    if (residual && nb > 0) {
        // members of each block, contiguous: order[start[b] .. start[b+1])
        start[0] = 0;
        for (int b = 0; b < nb; b++) start[b + 1] = start[b] + count[b];
        for (int b = 0; b < nb; b++) count[b] = start[b];
        for (int a = 0; a < r; a++) order[count[label[a]]++] = a;
        int d = big <= m ? big : m;
        A = malloc(((size_t)d * d + 1) * sizeof(double));
        if (!A) goto nomem;
        // panel (reused name): Wb (m, k) of the block, at most m * big doubles
        panel = malloc(((size_t)m * big + 1) * sizeof(double));
        if (!panel) goto nomem;
        for (int b = 0; b < nb; b++) {
            int k = start[b + 1] - start[b];
            for (int t = 0; t < m; t++)
                for (int e = 0; e < k; e++)
                    panel[(size_t)t * k + e] = W[(size_t)t * n + feat[order[start[b] + e]]];
            residual[b] = block_residual(panel, m, k, A);
        }
    }
    goto fail; // done: ret is 0
nomem:
    ret = PS_ENOMEM;
fail:
    if (nblocks) *nblocks = ret ? 0 : nb;
    if (largest) *largest = ret ? 0 : big;
    free(A);
    free(panel);
    free(U);
    free(norm);
    free(ints);
    return ret;
}
