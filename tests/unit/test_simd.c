/* test_simd.c - the fast paths of issue 7 against their references, and
 * their determinism: every SIMD level (generic, AVX2, AVX-512, as far as
 * this CPU has them) gives the same bytes for the batch sampler, the fused
 * small-model kernels, the BLAS path's output pass, the sparse path and
 * AdamW; the fused and sparse float32 paths agree with the float64 BLAS
 * path (itself checked against finite differences in test_model.c) for every
 * autoencoder architecture and option; the sparse sampler draws the data law
 * (density, values, independence, B-prefix) and every branch of the sparse
 * path is taken; workspaces are large enough for every batch size. */
#include <float.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "polysweep/data.h"
#include "polysweep/kernels.h"
#include "polysweep/model.h"
#include "polysweep/polysweep.h"
#include "polysweep/train.h"

#include "harness.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static double unit(void) /* xorshift64, [0, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) * 0x1.0p-53;
}

static TaskSpec spec(int arch, int n, int m, double density)
{
    TaskSpec t;
    memset(&t, 0, sizeof t);
    t.arch = arch;
    t.n = n;
    t.m = m;
    t.bias = 1;
    t.q = 3;
    t.density = density;
    t.sparsity = 1.0 - density;
    t.kurtosis = 1.8 / density;
    t.batch = 1024;
    t.importance = IMPORTANCE_DECAY;
    t.importance_rate = 0.9;
    t.lr = 1e-3;
    t.beta1 = 0.9;
    t.beta2 = 0.999;
    t.eps = 1e-8;
    t.weight_decay = 0.01;
    t.steps = 20;
    t.log_every = 5;
    t.eval_samples = 100;
    t.seed = 3;
    t.key = 0x1234567890abcdefull;
    return t;
}

/* Set the SIMD level and check that it is the one in effect: two levels
 * compared byte for byte mean something only if each ran its own code. */
static void use_level(int lv)
{
    CHECK_INT_EQ(kern_simd_set_level(lv), lv);
    CHECK_INT_EQ(kern_simd_level(), lv);
}

/* The best level of this CPU, from the flags the kernel reports in
 * /proc/cpuinfo (independently of polysweep's cpuid check); -1 when unknown. */
static int cpuinfo_level(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return -1;
    static char line[1 << 16];
    int level = -1;
    while (level < 0 && fgets(line, sizeof line, f)) {
        if (strncmp(line, "flags", 5) != 0)
            continue;
        int has[5] = {0};
        const char *want[5] = {"avx2", "avx512f", "avx512bw", "avx512dq", "avx512vl"};
        for (char *tok = strtok(strchr(line, ':') + 1, " \n"); tok; tok = strtok(NULL, " \n"))
            for (int k = 0; k < 5; k++)
                has[k] |= strcmp(tok, want[k]) == 0;
        level = has[1] && has[2] && has[3] && has[4] ? KERN_SIMD_AVX512
                : has[0]                              ? KERN_SIMD_AVX2
                                                      : KERN_SIMD_GENERIC;
    }
    fclose(f);
    return level;
}

/* Cases that compare the levels with each other need two of them. */
#define NO_SECOND_LEVEL "this CPU has no AVX2: generic is its only SIMD level, nothing to compare"

/* polysweep runs at the best level the CPU has (a CPU with AVX2 that ran the
 * generic code would be slow, and every comparison below vacuous). */
TEST(best_level_of_this_cpu)
{
    const int cpu = cpuinfo_level();
    if (cpu < 0)
        SKIP_CASE("no flags line in /proc/cpuinfo");
    CHECK_INT_EQ(kern_simd_set_level(KERN_SIMD_AVX512), cpu);
    /* lowering works, raising stops at the CPU's level */
    use_level(KERN_SIMD_GENERIC);
    if (cpu >= KERN_SIMD_AVX2)
        use_level(KERN_SIMD_AVX2);
    CHECK_INT_EQ(kern_simd_set_level(KERN_SIMD_AVX512 + 1), cpu);
    CHECK_INT_EQ(kern_simd_set_level(-1), KERN_SIMD_GENERIC);
    kern_simd_set_level(cpu);
}

static const int autoencoders[] = {ARCH_LINEAR, ARCH_RELU_OUTPUT, ARCH_GELU_OUTPUT,
                                   ARCH_RELU_HIDDEN, ARCH_POWER};
enum { NAE = sizeof autoencoders / sizeof autoencoders[0] };

/* ---- the dense sampler: same bytes at every level ---- */

TEST(sampler_same_bytes_at_every_level)
{
    const int laws[] = {VALUES_UNIFORM, VALUES_UNIFORM_SIGNED, VALUES_GAUSSIAN,
                        VALUES_RADEMACHER};
    const double dens[] = {1.0, 0.3, 0.01};
    const int shapes[][2] = {{7, 13}, {1024, 20}, {3, 1000}, {33, 1}};
    const int top = kern_simd_set_level(KERN_SIMD_AVX512);
    if (top < KERN_SIMD_AVX2)
        SKIP_CASE(NO_SECOND_LEVEL);
    for (size_t s = 0; s < 4; s++)
        for (size_t d = 0; d < 3; d++)
            for (size_t l = 0; l < 4; l++) {
                TaskSpec t = spec(ARCH_RELU_OUTPUT, shapes[s][1], 1, dens[d]);
                t.values = laws[l];
                const int B = shapes[s][0];
                const size_t len = (size_t)B * t.n;
                float *x0 = malloc(len * sizeof *x0), *x1 = malloc(len * sizeof *x1);
                REQUIRE(x0 && x1);
                use_level(KERN_SIMD_GENERIC);
                const int64_t nz0 = data_sample(&t, 77, STREAM_BATCH, 5, B, x0);
                for (int lv = KERN_SIMD_AVX2; lv <= top; lv++) {
                    use_level(lv);
                    const int64_t nz1 = data_sample(&t, 77, STREAM_BATCH, 5, B, x1);
                    CHECK_INT_EQ(nz1, nz0);
                    CHECK(memcmp(x0, x1, len * sizeof *x0) == 0);
                }
                free(x0);
                free(x1);
            }
    kern_simd_set_level(top);
}

/* ---- the sparse sampler ---- */

TEST(geometric_table)
{
    static DataGeom g;
    data_geom_init(0.01, 1000, &g);
    CHECK(g.len > 2000 && g.len < 2300); /* q^g 2^32 >= 1/2 up to g ~ 2207 */
    CHECK_NEAR((double)g.thr[1], 0.99 * 4294967296.0, 1.0);
    CHECK_NEAR((double)g.thr[100], pow(0.99, 100) * 4294967296.0, 0.51); /* rounded */
    for (int k = 2; k <= g.len; k++)
        CHECK(g.thr[k] <= g.thr[k - 1]);
    CHECK(g.thr[g.len + 1] == 0);
    CHECK(g.pre % 4 == 0 && g.pre >= 4 && g.pre <= DATA_GEOM_PRE);
    CHECK(4 * g.pre >= 3 * 1000 * 0.01 + 1); /* a typical row's words are drawn ahead */
    data_geom_init(1e-5, 1000, &g); /* a truncated table: gaps chain */
    CHECK_INT_EQ(g.len, DATA_GEOM_MAX);
    data_geom_init(1.0, 1000, &g);
    CHECK_INT_EQ(g.len, 0);
}

/* Counts of active entries, per feature and in pairs of neighbours,
 * against Binomial(p) with 6 sigma; values against the law's moments. */
TEST(sparse_sampler_draws_the_law)
{
    const double dens[] = {0.01, 0.1, 1e-4};
    const int ns[] = {500, 60, 20000};
    for (int d = 0; d < 3; d++) {
        TaskSpec t = spec(ARCH_RELU_OUTPUT, ns[d], 4, dens[d]);
        static DataGeom g;
        data_geom_init(t.density, t.n, &g);
        const int B = 512, steps = 8, n = t.n;
        int64_t *ptr = malloc((B + 1) * sizeof *ptr);
        int32_t *col = malloc((size_t)B * n * sizeof *col);
        float *val = malloc((size_t)B * n * sizeof *val);
        double *feat = calloc((size_t)n, sizeof *feat);
        REQUIRE(ptr && col && val && feat);
        double total = 0, pairs = 0, sum = 0, sum2 = 0;
        for (int s = 0; s < steps; s++) {
            int64_t nnz = data_sample_sparse(&t, &g, 5, STREAM_BATCH, s, B, ptr, col, val);
            CHECK_INT_EQ(nnz, ptr[B]);
            for (int r = 0; r < B; r++)
                for (int64_t e = ptr[r]; e < ptr[r + 1]; e++) {
                    CHECK(col[e] >= 0 && col[e] < n);
                    if (e > ptr[r])
                        CHECK(col[e] > col[e - 1]);
                    if (e > ptr[r] && col[e] == col[e - 1] + 1)
                        pairs += 1;
                    CHECK(val[e] >= 0.0f && val[e] < 1.0f);
                    feat[col[e]] += 1;
                    sum += val[e];
                    sum2 += (double)val[e] * val[e];
                }
            total += (double)nnz;
        }
        const double N = (double)B * n * steps, p = t.density;
        CHECK(fabs(total - N * p) < 6 * sqrt(N * p * (1 - p)) + 1);
        /* neighbours both active: (n - 1) B steps p^2 */
        const double Np = (double)(n - 1) * B * steps * p * p;
        CHECK(fabs(pairs - Np) < 6 * sqrt(Np) + 2);
        const double per = (double)B * steps * p;
        for (int i = 0; i < n; i++)
            if (!(fabs(feat[i] - per) < 6 * sqrt(per) + 2)) {
                CHECK(0);
                break;
            }
        CHECK_NEAR(sum / total, 0.5, 6 * sqrt(1.0 / 12 / total));
        CHECK_NEAR(sum2 / total, 1.0 / 3, 6 * sqrt(4.0 / 45 / total));
        free(ptr); free(col); free(val); free(feat);
    }
}

/* A row never depends on B; every value law has the same active features;
 * the laws' values follow them. */
TEST(sparse_sampler_prefix_and_laws)
{
    TaskSpec t = spec(ARCH_RELU_OUTPUT, 300, 4, 0.05);
    t.unit_variance = 1;
    static DataGeom g;
    data_geom_init(t.density, t.n, &g);
    enum { B = 200 };
    static int64_t p0[B + 1], p1[B + 1];
    static int32_t c0[B * 300], c1[B * 300];
    static float v0[B * 300], v1[B * 300];
    data_sample_sparse(&t, &g, 9, STREAM_BATCH, 3, B, p0, c0, v0);
    data_sample_sparse(&t, &g, 9, STREAM_BATCH, 3, 17, p1, c1, v1);
    CHECK(memcmp(p0, p1, 18 * sizeof *p0) == 0);
    CHECK(memcmp(c0, c1, (size_t)p1[17] * sizeof *c0) == 0);
    CHECK(memcmp(v0, v1, (size_t)p1[17] * sizeof *v0) == 0);
    /* another step, stream or key: other draws */
    data_sample_sparse(&t, &g, 9, STREAM_EVAL, 3, B, p1, c1, v1);
    CHECK(p1[B] != p0[B] || memcmp(c0, c1, (size_t)p0[B] * sizeof *c0) != 0);
    const int laws[] = {VALUES_UNIFORM_SIGNED, VALUES_RADEMACHER, VALUES_GAUSSIAN};
    for (int l = 0; l < 3; l++) {
        t.values = laws[l];
        const double s = data_value_scale(&t);
        data_sample_sparse(&t, &g, 9, STREAM_BATCH, 3, B, p1, c1, v1);
        CHECK(memcmp(p0, p1, sizeof p0) == 0);
        CHECK(memcmp(c0, c1, (size_t)p0[B] * sizeof *c0) == 0);
        double m1 = 0, m2 = 0;
        for (int64_t e = 0; e < p1[B]; e++) {
            m1 += v1[e] / s;
            m2 += (double)v1[e] / s * v1[e] / s;
            if (laws[l] == VALUES_RADEMACHER)
                CHECK(v1[e] == (float)s || v1[e] == (float)-s);
        }
        const double k = (double)p1[B];
        CHECK_NEAR(m1 / k, 0.0, 6 * sqrt(data_law_moment(t.values, 2) / k));
        CHECK_NEAR(m2 / k, data_law_moment(t.values, 2),
                   6 * sqrt(data_law_moment(t.values, 4) / k));
    }
}

/* The words drawn ahead (in SIMD registers, 8 rows at a time) and the ones
 * drawn one by one past them are the same stream: any level and any
 * look-ahead give the same batch, also for rows longer than the look-ahead
 * and for B not a multiple of 8. */
TEST(sparse_sampler_same_at_every_level)
{
    TaskSpec t = spec(ARCH_RELU_OUTPUT, 700, 4, 0.03);
    static DataGeom g;
    data_geom_init(t.density, t.n, &g);
    enum { B = 77 };
    static int64_t p0[B + 1], p1[B + 1];
    static int32_t c0[B * 700], c1[B * 700];
    static float v0[B * 700], v1[B * 700];
    const int top = kern_simd_set_level(KERN_SIMD_AVX512);
    if (top < KERN_SIMD_AVX2)
        SKIP_CASE(NO_SECOND_LEVEL);
    use_level(KERN_SIMD_GENERIC);
    const int64_t k0 = data_sample_sparse(&t, &g, 21, STREAM_BATCH, 8, B, p0, c0, v0);
    const int pres[] = {g.pre, 4, DATA_GEOM_PRE};
    for (int lv = KERN_SIMD_GENERIC; lv <= top; lv++)
        for (int k = 0; k < 3; k++) {
            use_level(lv);
            DataGeom *h = malloc(sizeof *h);
            REQUIRE(h);
            *h = g;
            h->pre = pres[k];
            const int64_t k1 = data_sample_sparse(&t, h, 21, STREAM_BATCH, 8, B, p1, c1, v1);
            CHECK_INT_EQ(k1, k0);
            CHECK(memcmp(p0, p1, sizeof p0) == 0);
            CHECK(memcmp(c0, c1, (size_t)k0 * sizeof *c0) == 0);
            CHECK(memcmp(v0, v1, (size_t)k0 * sizeof *v0) == 0);
            free(h);
        }
    kern_simd_set_level(top);
}

/* ---- model paths against the float64 BLAS path ---- */

/* A random problem in float (W ~ U(-0.8, 0.8) scaled, b ~ U(-0.3, 0.3), I in
 * [0.1, 1], x ~ Bernoulli(density) U(0, 1)) and its double copy. */
typedef struct Problem {
    TaskSpec t;
    int B;
    size_t np;
    float *p, *I, *x, *xi, *g;
    double *pd, *Id, *xd, *xid, *gd, *wsd;
} Problem;

static void problem_init(Problem *P, const TaskSpec *t, int B, double wscale, double bshift)
{
    P->t = *t;
    P->B = B;
    P->np = model_param_len(t);
    const int n = t->n, m = t->m;
    P->p = malloc(P->np * sizeof *P->p);
    P->g = malloc(P->np * sizeof *P->g);
    P->I = malloc((size_t)n * sizeof *P->I);
    P->x = malloc((size_t)B * n * sizeof *P->x);
    P->xi = malloc((size_t)m * sizeof *P->xi);
    P->pd = malloc(P->np * sizeof *P->pd);
    P->gd = malloc(P->np * sizeof *P->gd);
    P->Id = malloc((size_t)n * sizeof *P->Id);
    P->xd = malloc((size_t)B * n * sizeof *P->xd);
    P->xid = malloc((size_t)m * sizeof *P->xid);
    P->wsd = malloc(model_workspace_len(t, B) * sizeof *P->wsd);
    for (size_t k = 0; k < (size_t)m * n; k++)
        P->p[k] = (float)(wscale * (1.6 * unit() - 0.8));
    for (int i = 0; i < n; i++)
        P->p[(size_t)m * n + i] = (float)(0.6 * unit() - 0.3 + bshift);
    for (int i = 0; i < n; i++)
        P->I[i] = (float)(0.1 + 0.9 * unit());
    for (size_t k = 0; k < (size_t)B * n; k++)
        P->x[k] = unit() < t->density ? (float)unit() : 0.0f;
    for (int j = 0; j < m; j++)
        P->xi[j] = (float)(0.2 * unit() - 0.1);
    for (size_t k = 0; k < P->np; k++) P->pd[k] = P->p[k];
    for (int i = 0; i < n; i++) P->Id[i] = P->I[i];
    for (size_t k = 0; k < (size_t)B * n; k++) P->xd[k] = P->x[k];
    for (int j = 0; j < m; j++) P->xid[j] = P->xi[j];
}

static void problem_free(Problem *P)
{
    free(P->p); free(P->g); free(P->I); free(P->x); free(P->xi);
    free(P->pd); free(P->gd); free(P->Id); free(P->xd); free(P->xid); free(P->wsd);
}

/* float gradient g against the double one of the same problem */
static void check_close(const Problem *P, double lf, const float *g, const char *what)
{
    const double ld = model_loss_grad_noise_f64(&P->t, P->pd, P->Id, P->xd, P->B,
                                                P->t.hidden_noise ? P->xid : NULL, P->gd,
                                                P->wsd);
    double gmax = 0, err = 0;
    for (size_t k = 0; k < P->np; k++)
        gmax = fmax(gmax, fabs(P->gd[k]));
    for (size_t k = 0; k < P->np; k++)
        err = fmax(err, fabs(g[k] - P->gd[k]));
    const int ok = fabs(lf - ld) <= 1e-5 * fabs(ld) && err <= 2e-5 * gmax;
    if (!ok)
        fprintf(stderr, "%s arch %d n %d m %d B %d: loss %.9g vs %.9g, grad err %g of %g\n",
                what, P->t.arch, P->t.n, P->t.m, P->B, lf, ld, err, gmax);
    CHECK(ok);
    if (!model_bias_used(&P->t))
        for (int i = 0; i < P->t.n; i++)
            CHECK(g[model_b_offset(&P->t) + i] == 0.0f);
}

/* The float32 dense entry point (fused kernels for small n m, BLAS and the
 * vectorised output pass above) at every level: same bytes, and close to
 * float64; loss alone (no gradient) is the same number. */
TEST(dense_paths_match_double_at_every_level)
{
    const int shapes[][3] = {{20, 5, 1024}, {37, 11, 100}, {1, 1, 3}, {64, 64, 17},
                             {16, 3, 16}, {130, 40, 50}};
    const int top = kern_simd_set_level(KERN_SIMD_AVX512);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int a = 0; a < NAE; a++)
            for (int opt = 0; opt < 3; opt++) {
                TaskSpec t = spec(autoencoders[a], shapes[s][0], shapes[s][1], 0.6);
                t.bias = opt != 1;
                t.hidden_noise = opt == 2 ? NOISE_GAUSSIAN : NOISE_NONE;
                t.l1 = opt == 2 ? 0.003 : 0.0;
                Problem P;
                problem_init(&P, &t, shapes[s][2], 0.7, 0.0);
                const size_t nw = model_workspace_len(&t, P.B);
                float *ws = malloc(nw * sizeof *ws), *g1 = malloc(P.np * sizeof *g1);
                REQUIRE(ws && g1);
                const float *xi = t.hidden_noise ? P.xi : NULL;
                use_level(KERN_SIMD_GENERIC);
                double l0 = model_loss_grad_noise_f32(&t, P.p, P.I, P.x, P.B, xi, P.g, ws);
                check_close(&P, l0, P.g, "dense");
                double lnull = model_loss_grad_noise_f32(&t, P.p, P.I, P.x, P.B, xi, NULL, ws);
                CHECK(memcmp(&lnull, &l0, sizeof l0) == 0);
                for (int lv = KERN_SIMD_AVX2; lv <= top; lv++) {
                    use_level(lv);
                    double l1 = model_loss_grad_noise_f32(&t, P.p, P.I, P.x, P.B, xi, g1, ws);
                    CHECK(memcmp(&l1, &l0, sizeof l0) == 0);
                    CHECK(memcmp(g1, P.g, P.np * sizeof *g1) == 0);
                }
                free(ws);
                free(g1);
                problem_free(&P);
            }
    kern_simd_set_level(top);
}

/* The float32 workspace of B rows serves every batch up to B (a canary
 * after it stays untouched). */
TEST(workspace_serves_smaller_batches)
{
    for (int a = 0; a < NAE; a++) {
        TaskSpec t = spec(autoencoders[a], 23, 7, 1.0);
        const int Bmax = 40;
        const size_t nw = model_workspace_len(&t, Bmax);
        float *ws = malloc((nw + 64) * sizeof *ws);
        REQUIRE(ws);
        for (int k = 0; k < 64; k++)
            ws[nw + k] = 12345.0f;
        Problem P;
        problem_init(&P, &t, Bmax, 1.0, 0.0);
        for (int B = 1; B <= Bmax; B++)
            model_loss_grad_f32(&t, P.p, P.I, P.x, B, P.g, ws);
        for (int k = 0; k < 64; k++)
            CHECK(ws[nw + k] == 12345.0f);
        problem_free(&P);
        free(ws);
    }
}

/* Compressed rows of the problem's x. */
static void to_csr(const Problem *P, int64_t *ptr, int32_t *col, float *val)
{
    int64_t k = 0;
    ptr[0] = 0;
    for (int r = 0; r < P->B; r++) {
        for (int i = 0; i < P->t.n; i++)
            if (P->x[(size_t)r * P->t.n + i] != 0.0f) {
                col[k] = i;
                val[k++] = P->x[(size_t)r * P->t.n + i];
            }
        ptr[r + 1] = k;
    }
}

/* The sparse path against float64 at every level, through each of its
 * branches: dZ sparse (relu outputs with negative biases) or dense (early
 * training, linear/gelu/power outputs: GEMMs), and X with more than a
 * quarter of B n nonzeros (row by row). */
TEST(sparse_path_matches_double_at_every_level)
{
    const int top = kern_simd_set_level(KERN_SIMD_AVX512);
    const double dens[] = {0.05, 0.6};
    for (int d = 0; d < 2; d++)
        for (int a = 0; a < NAE; a++)
            for (int opt = 0; opt < 4; opt++) {
                TaskSpec t = spec(autoencoders[a], 150, 33, dens[d]);
                t.bias = opt != 1;
                t.hidden_noise = opt == 2 ? NOISE_BIPOLAR : NOISE_NONE;
                t.l1 = opt == 2 ? 0.002 : 0.0;
                Problem P;
                /* opt 3: biases well below 0, so dZ is sparse for ReLU outputs */
                problem_init(&P, &t, 64, 0.5, opt == 3 ? -0.6 : 0.0);
                const size_t cap = (size_t)P.B * t.n;
                int64_t *ptr = malloc((P.B + 1) * sizeof *ptr);
                int32_t *col = malloc(cap * sizeof *col);
                float *val = malloc(cap * sizeof *val), *g1 = malloc(P.np * sizeof *g1);
                float *ws = malloc(model_sparse_workspace_len(&t, P.B) * sizeof *ws);
                REQUIRE(ptr && col && val && g1 && ws);
                to_csr(&P, ptr, col, val);
                const float *xi = t.hidden_noise ? P.xi : NULL;
                use_level(KERN_SIMD_GENERIC);
                double l0 = model_loss_grad_sparse_f32(&t, P.p, P.I, ptr, col, val, P.B, xi,
                                                       P.g, ws);
                check_close(&P, l0, P.g, "sparse");
                for (int lv = KERN_SIMD_AVX2; lv <= top; lv++) {
                    use_level(lv);
                    double l1 = model_loss_grad_sparse_f32(&t, P.p, P.I, ptr, col, val, P.B,
                                                           xi, g1, ws);
                    CHECK(memcmp(&l1, &l0, sizeof l0) == 0);
                    CHECK(memcmp(g1, P.g, P.np * sizeof *g1) == 0);
                }
                free(ptr); free(col); free(val); free(g1); free(ws);
                problem_free(&P);
            }
    kern_simd_set_level(top);
}

/* ---- AdamW at every level: the scalar loop's bytes ---- */

TEST(adamw_same_bytes_at_every_level)
{
    const int top = kern_simd_set_level(KERN_SIMD_AVX512);
    if (top < KERN_SIMD_AVX2)
        SKIP_CASE(NO_SECOND_LEVEL);
    const size_t lens[] = {1, 7, 16, 23, 1000, 1037};
    for (size_t c = 0; c < sizeof lens / sizeof lens[0]; c++) {
        const size_t len = lens[c];
        float *p[3], *m1[3], *m2[3], *g = malloc(len * sizeof *g);
        REQUIRE(g);
        for (int lv = 0; lv < 3; lv++) {
            p[lv] = malloc(len * sizeof(float));
            m1[lv] = calloc(len, sizeof(float));
            m2[lv] = calloc(len, sizeof(float));
            REQUIRE(p[lv] && m1[lv] && m2[lv]);
        }
        for (size_t k = 0; k < len; k++)
            p[0][k] = p[1][k] = p[2][k] = (float)(unit() - 0.5);
        for (int step = 1; step <= 5; step++) {
            for (size_t k = 0; k < len; k++)
                g[k] = k % 5 == 0 ? 0.0f : (float)((unit() - 0.5) * pow(10.0, 4 * unit() - 3));
            for (int lv = 0; lv <= top; lv++) {
                use_level(lv);
                train_adamw(p[lv], m1[lv], m2[lv], g, len, 3e-3, 0.9, 0.999, 1e-8, 0.01, step);
            }
        }
        for (int lv = 1; lv <= top; lv++) {
            CHECK(memcmp(p[lv], p[0], len * sizeof(float)) == 0);
            CHECK(memcmp(m1[lv], m1[0], len * sizeof(float)) == 0);
            CHECK(memcmp(m2[lv], m2[0], len * sizeof(float)) == 0);
        }
        for (int lv = 0; lv < 3; lv++) {
            free(p[lv]); free(m1[lv]); free(m2[lv]);
        }
        free(g);
    }
    kern_simd_set_level(top);
}

/* ---- training on the sparse path ---- */

static int stop_tick(void *ctx, const TrainState *st)
{
    (void)ctx;
    (void)st;
    return 1;
}

/* A task that takes the sparse path trains deterministically, resumes
 * bit-identically, does not depend on the SIMD level, and train_batch shows
 * the sparse batch it trained on. */
TEST(sparse_path_training)
{
    TaskSpec t = spec(ARCH_RELU_OUTPUT, 300, 20, 0.02);
    t.batch = 128;
    t.steps = 200;
    t.log_every = 50;
    REQUIRE(model_sparse_wanted(&t));
    TaskSpec td = t;
    td.density = 0.5;
    CHECK(!model_sparse_wanted(&td));
    TaskSpec ts = spec(ARCH_RELU_OUTPUT, 20, 5, 0.02);
    CHECK(!model_sparse_wanted(&ts)); /* small: the fused kernels */

    const int top = kern_simd_set_level(KERN_SIMD_AVX512);
    TrainState *a, *b;
    char why[128];
    REQUIRE(train_state_create(&t, &a) == 0);
    REQUIRE(train_state_create(&t, &b) == 0);
    REQUIRE(a->x_rowptr != NULL);
    CHECK(train_run(a, NULL, why, sizeof why) == 0);
    /* b: the first 70 steps at the generic level (a hook stops it), then a
     * copy resumed at the top level */
    use_level(KERN_SIMD_GENERIC);
    TrainHooks stop = {.every = 70, .tick = stop_tick, .ctx = NULL};
    CHECK(train_run(b, &stop, why, sizeof why) == PS_EINTR);
    CHECK(*b->step == 70);
    kern_simd_set_level(top);
    TrainState *c;
    REQUIRE(train_state_create(&t, &c) == 0);
    memcpy(c->persist, b->persist, c->persist_len);
    CHECK(train_run(c, NULL, why, sizeof why) == 0);
    CHECK(memcmp(a->persist, c->persist, a->persist_len) == 0);
    CHECK(isfinite(a->curve[0]) && a->curve[3] < a->curve[0]);
    /* the batch of step 4, densely, has the density's share of nonzeros */
    float *x = malloc((size_t)t.batch * t.n * sizeof *x);
    REQUIRE(x);
    train_batch(a, 4, x);
    int64_t nz = 0;
    for (size_t k = 0; k < (size_t)t.batch * t.n; k++)
        nz += x[k] != 0.0f;
    const double N = (double)t.batch * t.n;
    CHECK(fabs(nz - N * t.density) < 6 * sqrt(N * t.density));
    free(x);
    train_state_free(&a);
    train_state_free(&b);
    train_state_free(&c);
}

HARNESS_MAIN
