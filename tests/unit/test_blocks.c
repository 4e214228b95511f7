/* test_blocks.c - blocks of the embedding and the neuron measures of
 * metrics.h (science.md section 4) on constructed matrices whose answers are
 * known by hand, and against a naive reference (breadth-first search over the
 * full cosine matrix, residuals from the full Gram block in long double) on
 * random block-structured matrices.
 *
 * Conventions: W is (m, n) row-major, column W_i is feature i, so W[k*n + i]
 * is coordinate k of feature i.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#define TEST_RNG_SEED 0x2545f4914f6cdd1dull
#include "test_random.h"
#include "polysweep/metrics.h"
#include "polysweep/polysweep.h"

/* ---- helpers ---- */

typedef struct Blocks {
    int *id;
    double *size, *cap, *res;
    int nb, largest, rc;
} Blocks;

static Blocks blocks_run(const double *W, int m, int n, double tau)
{
    Blocks b = {malloc(sizeof(int) * n), malloc(sizeof(double) * n),
                malloc(sizeof(double) * n), malloc(sizeof(double) * n), -7, -7, 0};
    double *cap = malloc(sizeof(double) * n);
    CHECK_INT_EQ(metrics_features(W, m, n, NULL, cap, NULL), 0);
    b.rc = metrics_blocks(W, m, n, cap, tau, b.id, b.size, b.cap, b.res, &b.nb, &b.largest);
    free(cap);
    return b;
}
static void blocks_free(Blocks *b) { free(b->id); free(b->size); free(b->cap); free(b->res); }

/* Naive reference: Gram matrix and cosines in long double, components by
 * breadth-first search from each unvisited represented feature in index
 * order (which numbers them by smallest member), residual of each block from
 * its full Gram block G_b: ||G_b^2 - c G_b||_F / ||G_b^2||_F. */
static void reference(const double *W, int m, int n, double tau, int *id, double *size,
                      double *cap, double *res, int *nb_out)
{
    long double *G = calloc((size_t)n * n, sizeof(long double));
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            for (int k = 0; k < m; k++) G[i * n + j] += (long double)W[k * n + i] * W[k * n + j];
    int *queue = malloc(sizeof(int) * n), nb = 0;
    for (int i = 0; i < n; i++) id[i] = -1;
    for (int s = 0; s < n; s++) {
        if (id[s] >= 0 || !(sqrtl(G[s * n + s]) > 0.5L)) continue;
        int head = 0, tail = 0;
        queue[tail++] = s;
        id[s] = nb;
        while (head < tail) {
            int i = queue[head++];
            for (int j = 0; j < n; j++) {
                if (id[j] >= 0 || !(sqrtl(G[j * n + j]) > 0.5L)) continue;
                long double c = G[i * n + j] / sqrtl(G[i * n + i] * G[j * n + j]);
                if (fabsl(c) > tau) {
                    id[j] = nb;
                    queue[tail++] = j;
                }
            }
        }
        // this block: members in queue[0 .. tail)
        long double capsum = 0, tr1 = 0, tr2 = 0, num = 0, den = 0;
        for (int a = 0; a < tail; a++) {
            int i = queue[a];
            long double rowsq = 0;
            for (int j = 0; j < n; j++) rowsq += G[i * n + j] * G[i * n + j];
            capsum += G[i * n + i] * G[i * n + i] / rowsq;
            tr1 += G[i * n + i];
            for (int b = 0; b < tail; b++) tr2 += G[i * n + queue[b]] * G[i * n + queue[b]];
        }
        long double c = tr2 / tr1;
        for (int a = 0; a < tail; a++)
            for (int b = 0; b < tail; b++) {
                long double g2 = 0;
                for (int e = 0; e < tail; e++)
                    g2 += G[queue[a] * n + queue[e]] * G[queue[e] * n + queue[b]];
                long double d = g2 - c * G[queue[a] * n + queue[b]];
                num += d * d;
                den += g2 * g2;
            }
        size[nb] = tail;
        cap[nb] = (double)capsum;
        res[nb] = (double)sqrtl(num / den);
        nb++;
    }
    *nb_out = nb;
    free(queue);
    free(G);
}

/* Column i of W (m, n) = v (m). */
static void set_col(double *W, int m, int n, int i, const double *v)
{
    for (int k = 0; k < m; k++) W[(size_t)k * n + i] = v[k];
}

/* W (3, 7): a regular pentagon of radius r in the plane (e1, e2) at the
 * columns pent[0..5), an antipodal pair +-e3 at pair[0..2). */
static void pentagon_and_pair(double *W, const int *pent, const int *pair, double r)
{
    memset(W, 0, sizeof(double) * 21);
    for (int k = 0; k < 5; k++) {
        double v[3] = {r * cos(2 * M_PI * k / 5), r * sin(2 * M_PI * k / 5), 0};
        set_col(W, 3, 7, pent[k], v);
    }
    double up[3] = {0, 0, 1}, down[3] = {0, 0, -1};
    set_col(W, 3, 7, pair[0], up);
    set_col(W, 3, 7, pair[1], down);
}

/* ---- blocks ---- */

TEST(blocks_pentagon_and_pair)
{
    // Pentagon vertices have cosines cos 72 = 0.309 and cos 144 = -0.809: one
    // component. The pair has cosine -1, and is orthogonal to the plane. Each
    // block is a multiple of a projection (the pentagon's M_b = (5/2) r^2 P,
    // the pair's 2 e3 e3^T): residuals 0. Capacities: 2/5 per pentagon
    // vertex (sum 2), 1/2 per pair member (sum 1).
    double W[21];
    const int pent[5] = {0, 1, 2, 3, 4}, pair[2] = {5, 6};
    pentagon_and_pair(W, pent, pair, 1.0);
    Blocks b = blocks_run(W, 3, 7, METRICS_BLOCK_TAU);
    CHECK_INT_EQ(b.rc, 0);
    CHECK_INT_EQ(b.nb, 2);
    CHECK_INT_EQ(b.largest, 5);
    for (int i = 0; i < 5; i++) CHECK_INT_EQ(b.id[i], 0);
    CHECK_INT_EQ(b.id[5], 1);
    CHECK_INT_EQ(b.id[6], 1);
    CHECK(b.size[0] == 5 && b.size[1] == 2);
    CHECK_NEAR(b.cap[0], 2.0, 1e-12);
    CHECK_NEAR(b.cap[1], 1.0, 1e-12);
    CHECK_NEAR(b.res[0], 0.0, 1e-12);
    CHECK_NEAR(b.res[1], 0.0, 1e-12);
    for (int k = 2; k < 7; k++) CHECK(isnan(b.size[k]) && isnan(b.cap[k]) && isnan(b.res[k]));
    blocks_free(&b);
}

TEST(blocks_numbered_by_smallest_member)
{
    // The pair holds features 0 and 5: it is block 0; the pentagon block 1.
    // Rotated into a random frame in R^3 and scaled (radius 1.7): same blocks.
    double W[21], Q[9];
    const int pent[5] = {1, 2, 3, 4, 6}, pair[2] = {5, 0};
    pentagon_and_pair(W, pent, pair, 1.7);
    random_orthogonal(Q, 3);
    rotate(W, 3, 7, Q);
    Blocks b = blocks_run(W, 3, 7, METRICS_BLOCK_TAU);
    CHECK_INT_EQ(b.nb, 2);
    CHECK_INT_EQ(b.largest, 5);
    int expect[7] = {0, 1, 1, 1, 1, 0, 1};
    for (int i = 0; i < 7; i++) CHECK_INT_EQ(b.id[i], expect[i]);
    CHECK(b.size[0] == 2 && b.size[1] == 5);
    CHECK_NEAR(b.cap[0], 1.0, 1e-12);
    CHECK_NEAR(b.cap[1], 2.0, 1e-12);
    CHECK_NEAR(b.res[0], 0.0, 1e-12);
    CHECK_NEAR(b.res[1], 0.0, 1e-12);
    blocks_free(&b);
}

TEST(blocks_pentagon_in_wide_space)
{
    // The same geometry in m = 8 (rotated): now both blocks are smaller than
    // m, so the residuals come from G_b rather than M_b; still 0.
    int m = 8, n = 7;
    double W[56] = {0}, W3[21], Q[64];
    const int pent[5] = {0, 2, 4, 5, 6}, pair[2] = {1, 3};
    pentagon_and_pair(W3, pent, pair, 0.9);
    memcpy(W, W3, sizeof W3); // rows 0..2; rows 3..7 are 0
    random_orthogonal(Q, m);
    rotate(W, m, n, Q);
    Blocks b = blocks_run(W, m, n, METRICS_BLOCK_TAU);
    CHECK_INT_EQ(b.nb, 2);
    int expect[7] = {0, 1, 0, 1, 0, 0, 0};
    for (int i = 0; i < n; i++) CHECK_INT_EQ(b.id[i], expect[i]);
    CHECK_NEAR(b.cap[0], 2.0, 1e-12);
    CHECK_NEAR(b.cap[1], 1.0, 1e-12);
    CHECK_NEAR(b.res[0], 0.0, 1e-12);
    CHECK_NEAR(b.res[1], 0.0, 1e-12);
    blocks_free(&b);
}

TEST(blocks_residual_of_two_features)
{
    // W_1 = (1, 0), W_2 = (a, sqrt(1 - a^2)): G = [[1, a], [a, 1]],
    // G^2 = [[1 + a^2, 2a], [2a, 1 + a^2]], c = tr G^2 / tr G = 1 + a^2,
    // G^2 - c G = [[0, a (1 - a^2)], [a (1 - a^2), 0]], so
    //   residual = sqrt(2) a (1 - a^2) / sqrt(2 (1 + a^2)^2 + 8 a^2).
    // a = 0.5: 0.53033 / 2.26385 = 0.234261...
    for (int k = 0; k < 3; k++) {
        double a = (double[]){0.5, 0.1, 0.9}[k];
        double W[4] = {1, a, 0, sqrt(1 - a * a)};
        Blocks b = blocks_run(W, 2, 2, METRICS_BLOCK_TAU);
        CHECK_INT_EQ(b.nb, 1);
        CHECK_INT_EQ(b.largest, 2);
        double expect = sqrt(2.0) * a * (1 - a * a) / sqrt(2 * (1 + a * a) * (1 + a * a) + 8 * a * a);
        CHECK_NEAR(b.res[0], expect, 1e-14);
        // capacities: each 1 / (1 + a^2)
        CHECK_NEAR(b.cap[0], 2.0 / (1 + a * a), 1e-14);
        if (k == 0) CHECK_NEAR(b.res[0], 0.2342606428329091, 1e-15);
        blocks_free(&b);
    }
    // In m = 1 two features are collinear: G = W^T W has rank one,
    // G^2 = tr(G) G, so c = tr(G) and the residual is 0 - a block of rank
    // one is always a multiple of a projection.
    double W1[2] = {1.5, -0.7};
    Blocks b = blocks_run(W1, 1, 2, METRICS_BLOCK_TAU);
    CHECK_INT_EQ(b.nb, 1);
    CHECK_NEAR(b.res[0], 0.0, 1e-15);
    CHECK_NEAR(b.cap[0], 1.0, 1e-15); // capacities u/(u+v) and v/(u+v)
    blocks_free(&b);
}

TEST(blocks_exclude_unrepresented)
{
    // e1 and e2 (represented, orthogonal: two blocks) and a short feature
    // 0.4 (e1 + e2)/sqrt2 with cosine 0.707 to both: it is not represented
    // (norm 0.4 <= 0.5), gets id -1 and does not bridge them. A zero column
    // also gets -1. With the short one lengthened to 0.6, all three join.
    double W[8] = {1, 0, 0.4 / sqrt(2), 0,
                   0, 1, 0.4 / sqrt(2), 0};
    Blocks b = blocks_run(W, 2, 4, METRICS_BLOCK_TAU);
    CHECK_INT_EQ(b.nb, 2);
    CHECK_INT_EQ(b.largest, 1);
    CHECK_INT_EQ(b.id[0], 0);
    CHECK_INT_EQ(b.id[1], 1);
    CHECK_INT_EQ(b.id[2], -1);
    CHECK_INT_EQ(b.id[3], -1);
    CHECK(b.size[0] == 1 && b.size[1] == 1 && isnan(b.size[2]));
    CHECK_NEAR(b.cap[0] + b.cap[1], 2.0 / (1 + 0.08) * 1.0, 1e-12); // C = 1 / (1 + 0.16/2)
    blocks_free(&b);
    W[2] = W[6] = 0.6 / sqrt(2);
    b = blocks_run(W, 2, 4, METRICS_BLOCK_TAU);
    CHECK_INT_EQ(b.nb, 1);
    CHECK_INT_EQ(b.largest, 3);
    CHECK(b.id[0] == 0 && b.id[1] == 0 && b.id[2] == 0 && b.id[3] == -1);
    blocks_free(&b);
    // nothing represented
    double Z[6] = {0.1, 0.2, 0.3, 0, 0, 0};
    b = blocks_run(Z, 2, 3, METRICS_BLOCK_TAU);
    CHECK_INT_EQ(b.rc, 0);
    CHECK_INT_EQ(b.nb, 0);
    CHECK_INT_EQ(b.largest, 0);
    for (int i = 0; i < 3; i++) CHECK(b.id[i] == -1 && isnan(b.size[i]) && isnan(b.res[i]));
    blocks_free(&b);
}

TEST(blocks_tau_threshold)
{
    // W_1 = (1, 0), W_2 = (3, 4): norms 1 and 5 exactly, cosine 3/5 (the
    // double nearest 0.6). "Joined when |cos| > tau", strictly.
    double W[4] = {1, 3, 0, 4};
    struct { double tau; int nb; } cases[] = {
        {0.0, 1}, {0.05, 1}, {0.59, 1}, {0.6, 2}, {0.61, 2}, {1.0, 2}, {2.0, 2}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        Blocks b = blocks_run(W, 2, 2, cases[k].tau);
        CHECK_INT_EQ(b.rc, 0);
        CHECK_INT_EQ(b.nb, cases[k].nb);
        blocks_free(&b);
    }
    // the sign does not matter
    W[1] = -3;
    Blocks b = blocks_run(W, 2, 2, 0.59);
    CHECK_INT_EQ(b.nb, 1);
    blocks_free(&b);
    // exactly orthogonal features stay apart even at tau = 0
    double E[4] = {1, 0, 0, 2};
    b = blocks_run(E, 2, 2, 0.0);
    CHECK_INT_EQ(b.nb, 2);
    CHECK(b.res[0] == 0.0 && b.res[1] == 0.0); // a single feature is a projection
    blocks_free(&b);
    // bad arguments
    int id[2], nb = 5, big = 5;
    double cap[2] = {1, 1}, out[2];
    CHECK_INT_EQ(metrics_blocks(W, 2, 2, cap, NAN, id, NULL, NULL, NULL, &nb, &big), PS_EINVAL);
    CHECK_INT_EQ(metrics_blocks(W, 2, 2, cap, -0.1, id, NULL, NULL, NULL, &nb, &big), PS_EINVAL);
    CHECK_INT_EQ(metrics_blocks(W, 2, 2, NULL, 0.05, id, NULL, out, NULL, &nb, &big), PS_EINVAL);
    // every output optional
    CHECK_INT_EQ(metrics_blocks(W, 2, 2, NULL, 0.05, NULL, NULL, NULL, NULL, NULL, NULL), 0);
    CHECK_INT_EQ(metrics_blocks(W, 2, 2, NULL, 0.05, NULL, NULL, NULL, NULL, &nb, &big), 0);
    CHECK(nb == 1 && big == 2);
    CHECK_INT_EQ(metrics_blocks(W, 2, 0, NULL, 0.05, NULL, NULL, NULL, NULL, &nb, &big), 0);
    CHECK(nb == 0 && big == 0);
}

/* Random block-structured W (m, n): features are dealt to groups, each group
 * living in its own set of coordinates (then a random rotation), with some
 * features shortened below 0.5 and some set to 0. */
static void block_structured(double *W, int m, int n, int groups, double short_frac)
{
    memset(W, 0, sizeof(double) * m * n);
    int per = m / groups;
    for (int i = 0; i < n; i++) {
        int g = (int)(rng_u64() % groups), c0 = g * per;
        int dim = g == groups - 1 ? m - c0 : per;
        double len = rng_uniform() < short_frac ? 0.45 * rng_uniform() : 0.6 + rng_uniform();
        if (rng_u64() % 17 == 0) len = 0.0;
        double nn = 0, v[64];
        for (int k = 0; k < dim; k++) {
            v[k] = rng_gauss();
            nn += v[k] * v[k];
        }
        for (int k = 0; k < dim; k++) W[(size_t)(c0 + k) * n + i] = len * v[k] / sqrt(nn);
    }
    double *Q = malloc(sizeof(double) * m * m);
    random_orthogonal(Q, m);
    rotate(W, m, n, Q);
    free(Q);
}

/* Over the calls of check_against_reference: cases with several blocks, and
 * blocks with a clearly nonzero residual (so the comparison is not vacuous). */
static int seen_multi, seen_residual;

static void check_against_reference(const double *W, int m, int n, double tau)
{
    Blocks b = blocks_run(W, m, n, tau);
    int *id = malloc(sizeof(int) * n), nb;
    double *size = malloc(sizeof(double) * n), *cap = malloc(sizeof(double) * n),
           *res = malloc(sizeof(double) * n);
    reference(W, m, n, tau, id, size, cap, res, &nb);
    CHECK_INT_EQ(b.rc, 0);
    CHECK_INT_EQ(b.nb, nb);
    int same = 1, largest = 0;
    for (int i = 0; i < n; i++) same &= b.id[i] == id[i];
    CHECK(same);
    for (int k = 0; k < nb && k < b.nb; k++) {
        CHECK(b.size[k] == size[k]);
        CHECK_REL(b.cap[k], cap[k], 1e-10, 1e-12);
        CHECK_NEAR(b.res[k], res[k], 1e-10);
        if (size[k] > largest) largest = (int)size[k];
    }
    CHECK_INT_EQ(b.largest, largest);
    seen_multi += nb > 1;
    for (int k = 0; k < nb; k++) seen_residual += res[k] > 1e-2;
    free(id); free(size); free(cap); free(res);
    blocks_free(&b);
}

TEST(blocks_random_against_reference)
{
    // Small: several blocks with nonzero residuals; both residual paths
    // (blocks larger and smaller than m).
    for (int rep = 0; rep < 20; rep++) {
        int m = 3 + (int)(rng_u64() % 10), n = 2 + (int)(rng_u64() % 40);
        int groups = 1 + (int)(rng_u64() % (m < 4 ? m : 4));
        double *W = malloc(sizeof(double) * m * n);
        block_structured(W, m, n, groups, 0.2);
        check_against_reference(W, m, n, METRICS_BLOCK_TAU);
        check_against_reference(W, m, n, 0.3); // sparser graph
        free(W);
    }
    CHECK(seen_multi >= 10);
    CHECK(seen_residual >= 10);
}

TEST(blocks_many_panels)
{
    // n = 700 represented features: the cosine matrix is split into panels
    // (700^2 > 2^17 values), joins must cross panel boundaries.
    int m = 24, n = 700;
    double *W = malloc(sizeof(double) * m * n);
    block_structured(W, m, n, 6, 0.1);
    check_against_reference(W, m, n, METRICS_BLOCK_TAU);
    // a chain: feature i is joined to its near neighbours only (tau = cos
    // 0.8 degrees), so one block spans every panel only through the chain
    int mc = 2;
    double *C = malloc(sizeof(double) * mc * n);
    for (int i = 0; i < n; i++) {
        double ang = 0.9 * M_PI * i / n; // neighbours 0.23 degrees apart
        C[i] = cos(ang);
        C[n + i] = sin(ang);
    }
    Blocks b = blocks_run(C, mc, n, 0.9999);
    CHECK_INT_EQ(b.nb, 1);
    CHECK_INT_EQ(b.largest, n);
    blocks_free(&b);
    free(C);
    // far pairs: features i and i + 350 share the direction e_i (with
    // opposite signs for odd i), every other pair is orthogonal: 350 blocks
    // of two, each pair in different panels, numbered by i
    int mp = 350;
    double *P = calloc((size_t)mp * n, sizeof(double));
    for (int i = 0; i < mp; i++) {
        P[(size_t)i * n + i] = 1.0;
        P[(size_t)i * n + i + mp] = i % 2 ? -0.7 : 0.7;
    }
    b = blocks_run(P, mp, n, METRICS_BLOCK_TAU);
    CHECK_INT_EQ(b.nb, mp);
    CHECK_INT_EQ(b.largest, 2);
    int ok = 1;
    for (int i = 0; i < n; i++) ok &= b.id[i] == i % mp;
    CHECK(ok);
    CHECK_NEAR(b.cap[0], 1.0, 1e-12);      // u/(u+v) + v/(u+v) for collinear features
    CHECK_NEAR(b.res[mp - 1], 0.0, 1e-12); // rank one
    blocks_free(&b);
    free(P);
    free(W);
}

/* ---- neurons ---- */

TEST(neurons_window_counts)
{
    // Rows are neurons. Window [0.8, 1.2], inclusive, on |W_ji|:
    //   row 0: 1.0, 0.9 in; 0.1 out            -> 2 (polysemantic)
    //   row 1: -1.1 in                          -> 1
    //   row 2: 0.79, 1.21 out; 0.8, -1.2 in     -> 2 (polysemantic)
    //   row 3: zero                             -> 0
    double W[16] = {1.0, 0.9, 0.0, 0.1,
                    0.0, 0.0, -1.1, 0.0,
                    0.79, 1.21, 0.8, -1.2,
                    0, 0, 0, 0};
    double count[4], pr[4], fr[4];
    int poly = -1;
    CHECK_INT_EQ(metrics_neurons(W, 4, 4, 0.8, 1.2, count, pr, fr, &poly), 0);
    CHECK(count[0] == 2 && count[1] == 1 && count[2] == 2 && count[3] == 0);
    CHECK_INT_EQ(poly, 2);
    // participation ratios: row 0: (1 + .81 + .01)^2 / (1 + .6561 + .0001)
    // = 3.3124 / 1.6562 = 2; row 1: one weight -> 1; row 3: zero row -> 0
    CHECK_NEAR(pr[0], 2.0, 1e-14);
    CHECK_NEAR(pr[1], 1.0, 1e-15);
    double s2 = 0.79 * 0.79 + 1.21 * 1.21 + 0.64 + 1.44,
           s4 = pow(0.79, 4) + pow(1.21, 4) + pow(0.8, 4) + pow(1.2, 4);
    CHECK_NEAR(pr[2], s2 * s2 / s4, 1e-14);
    CHECK(pr[3] == 0.0);
    // a narrower window
    CHECK_INT_EQ(metrics_neurons(W, 4, 4, 0.95, 1.05, count, NULL, NULL, &poly), 0);
    CHECK(count[0] == 1 && count[1] == 0 && count[2] == 0 && count[3] == 0);
    CHECK_INT_EQ(poly, 0);
    CHECK_INT_EQ(metrics_neurons(W, 4, 4, 1.2, 0.8, count, NULL, NULL, &poly), PS_EINVAL);
    CHECK_INT_EQ(metrics_neurons(W, 4, 4, NAN, 1.2, count, NULL, NULL, &poly), PS_EINVAL);
    CHECK_INT_EQ(metrics_neurons(W, 4, 4, 0.8, 1.2, NULL, NULL, NULL, NULL), 0);
}

TEST(neurons_ratios)
{
    // k equal weights give participation k and fourth-norm ratio 1/k.
    // Columns: f0 = e0 (one neuron: 1), f1 = (1,1,1)/.. (1/3), f2 = (1, 2, 0):
    // (1 + 16) / (1 + 4)^2 = 17/25, f3 = 0 -> 0.
    double W[12] = {1, 0.5, 1, 0,
                    0, 0.5, 2, 0,
                    0, 0.5, 0, 0};
    double pr[3], fr[4];
    CHECK_INT_EQ(metrics_neurons(W, 3, 4, 0.8, 1.2, NULL, pr, fr, NULL), 0);
    CHECK_NEAR(fr[0], 1.0, 1e-15);
    CHECK_NEAR(fr[1], 1.0 / 3.0, 1e-15);
    CHECK_NEAR(fr[2], 17.0 / 25.0, 1e-15);
    CHECK(fr[3] == 0.0);
    // rows: (1, .5, 1): (2.25)^2 / (2.0625) ; (0, .5, 2): (4.25)^2 / 16.0625; (0, .5): 1
    CHECK_NEAR(pr[0], 2.25 * 2.25 / 2.0625, 1e-14);
    CHECK_NEAR(pr[1], 4.25 * 4.25 / 16.0625, 1e-14);
    CHECK_NEAR(pr[2], 1.0, 1e-15);
    // a row of 5 equal weights: participation 5; bounds on random W:
    // 1 <= participation <= n and 1/m <= fourth ratio <= 1
    double R[5] = {-0.3, 0.3, 0.3, -0.3, 0.3}, p5;
    CHECK_INT_EQ(metrics_neurons(R, 1, 5, 0.8, 1.2, NULL, &p5, NULL, NULL), 0);
    CHECK_NEAR(p5, 5.0, 1e-13);
    int m = 7, n = 11;
    double *X = malloc(sizeof(double) * m * n), prx[7], frx[11];
    for (int k = 0; k < m * n; k++) X[k] = rng_gauss();
    CHECK_INT_EQ(metrics_neurons(X, m, n, 0.8, 1.2, NULL, prx, frx, NULL), 0);
    for (int j = 0; j < m; j++) CHECK(prx[j] >= 1.0 - 1e-12 && prx[j] <= n + 1e-12);
    for (int i = 0; i < n; i++) CHECK(frx[i] >= 1.0 / m - 1e-12 && frx[i] <= 1.0 + 1e-12);
    // NaN in, NaN out
    X[0] = NAN;
    CHECK_INT_EQ(metrics_neurons(X, m, n, 0.8, 1.2, NULL, prx, frx, NULL), 0);
    CHECK(isnan(prx[0]) && isnan(frx[0]) && !isnan(prx[1]) && !isnan(frx[1]));
    free(X);
}

HARNESS_MAIN
