/* test_model.c - every architecture's loss against a direct loop written from
 * science.md section 2 (independent of arch_impl.h), their gradients against
 * central finite differences in double for every architecture x option
 * combination (bias, l1, hidden noise, m > n), the float32 path against the
 * double one, GELU against PyTorch, and the quadratic population loss against
 * an exact enumeration of the expectation (src/model). */
#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "polysweep/data.h"
#include "polysweep/model.h"

#include "harness.h"

static double next_unit(uint64_t *s) /* xorshift64, uniform [0, 1) */
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (double)(*s >> 11) * 0x1.0p-53;
}

static TaskSpec spec(int arch, int n, int m, int bias)
{
    TaskSpec t;
    memset(&t, 0, sizeof t);
    t.arch = arch;
    t.n = n;
    t.m = m;
    t.bias = bias;
    t.q = 3;
    t.density = 1.0;
    return t;
}

static int has_bias(int arch) { return arch != ARCH_POWER; }

/* Direct computation of science.md section 2, one example at a time:
 *   a_j = sum_k W_jk x_k + xi_j, h = ReLU(a) (relu_hidden) or a,
 *   autoencoders: z_i = sum_j W_ji h_j + b_i, x'_i = act(z_i),
 *                 loss = mean over b and i of I_i (x'_i - x_i)^2;
 *   quadratic:    y' = sum_j a_j^2 + b_0, y = sum_i I_i x_i^2, loss = mean (y - y')^2;
 * plus l1 sum |W|. *minabs gets the distance of the nearest ReLU argument to
 * its kink (INFINITY when there is none). */
static double naive_loss(const TaskSpec *t, const double *p, const double *I,
                         const double *x, int B, const double *xi, double *minabs)
{
    const int n = t->n, m = t->m;
    const double *W = p, *b = p + (size_t)m * n;
    const int bias = t->bias && t->arch != ARCH_POWER;
    double loss = 0, mz = INFINITY;
    double *h = malloc((size_t)m * sizeof *h);
    for (int r = 0; r < B; r++) {
        const double *xr = x + (size_t)r * n;
        for (int j = 0; j < m; j++) {
            double a = xi ? xi[j] : 0.0;
            for (int k = 0; k < n; k++)
                a += W[j * n + k] * xr[k];
            if (t->arch == ARCH_RELU_HIDDEN) {
                mz = fmin(mz, fabs(a));
                a = fmax(a, 0.0);
            }
            h[j] = a;
        }
        if (t->arch == ARCH_QUADRATIC) {
            double yp = bias ? b[0] : 0.0, y = 0;
            for (int j = 0; j < m; j++)
                yp += h[j] * h[j];
            for (int i = 0; i < n; i++)
                y += I[i] * xr[i] * xr[i];
            loss += (y - yp) * (y - yp) * n; /* divided by B n below */
            continue;
        }
        for (int i = 0; i < n; i++) {
            double z = bias ? b[i] : 0.0;
            for (int j = 0; j < m; j++)
                z += W[j * n + i] * h[j];
            double y = z;
            switch (t->arch) {
            case ARCH_RELU_OUTPUT:
            case ARCH_RELU_HIDDEN: mz = fmin(mz, fabs(z)); y = fmax(z, 0.0); break;
            case ARCH_GELU_OUTPUT: y = 0.5 * z * (1 + erf(z / sqrt(2.0))); break;
            case ARCH_POWER: y = pow(z, t->q); break;
            default: break;
            }
            loss += I[i] * (y - xr[i]) * (y - xr[i]);
        }
    }
    free(h);
    double l1 = 0;
    for (int k = 0; k < m * n; k++)
        l1 += fabs(W[k]);
    if (minabs)
        *minabs = mz;
    return loss / ((double)B * n) + t->l1 * l1;
}

/* Random problem: W ~ U(-0.8, 0.8), b ~ U(-0.3, 0.3) (also when the task has
 * no bias: it must then be ignored), I in [0.1, 1], x sparse U(-1, 1). */
static void draw(const TaskSpec *t, uint64_t *s, double *p, double *I, double *x, int B)
{
    const int n = t->n, m = t->m;
    for (int k = 0; k < m * n; k++)
        p[k] = 1.6 * next_unit(s) - 0.8;
    for (int i = 0; i < n; i++)
        p[m * n + i] = 0.6 * next_unit(s) - 0.3;
    for (int i = 0; i < n; i++)
        I[i] = 0.1 + 0.9 * next_unit(s);
    for (int k = 0; k < B * n; k++)
        x[k] = next_unit(s) < 0.7 ? 2 * next_unit(s) - 1 : 0.0;
}

struct Shape { int n, m, B; };
/* includes m > n (INC needs m up to 16 n: 4 n and 16 n here) and a single example */
static const struct Shape shapes[] = {{7, 3, 5}, {4, 6, 1}, {3, 12, 4}, {2, 32, 3}, {1, 1, 3}};
enum { NSHAPES = sizeof shapes / sizeof shapes[0] };

/* The fixed noise draw of an option: step 7 of a fixed key; xi has room for
 * 64 values (m <= 64 in these tests). */
static void noise_draw(const TaskSpec *t, int kind, double *xi)
{
    TaskSpec tn = *t;
    tn.hidden_noise = kind;
    tn.noise_sigma = 0.3;
    float f[64];
    data_hidden_noise(&tn, 0xabcdefull, 7, f);
    for (int j = 0; j < t->m; j++)
        xi[j] = f[j];
}

/* Every arch x bias (where it has one) x l1 x hidden noise: the loss against
 * the direct loop, and in float32 against the same problem in float. */
TEST(loss_matches_direct_computation)
{
    uint64_t s = 12345;
    int cases = 0;
    for (int arch = 0; arch < ARCH_COUNT; arch++)
        for (int bias = 0; bias <= has_bias(arch); bias++)
            for (int l1 = 0; l1 < 2; l1++)
                for (int noise = 0; noise < NOISE_COUNT; noise++)
                    for (int c = 0; c < NSHAPES; c++) {
                        const struct Shape sh = shapes[c];
                        TaskSpec t = spec(arch, sh.n, sh.m, bias);
                        t.l1 = l1 ? 0.03 : 0.0;
                        size_t np = model_param_len(&t), nw = model_workspace_len(&t, sh.B);
                        CHECK_INT_EQ(np, (size_t)sh.m * sh.n + sh.n);
                        size_t nx = (size_t)sh.B * sh.n;
                        double *p = malloc(np * sizeof *p), *g = malloc(np * sizeof *g);
                        double *I = malloc(sh.n * sizeof *I), *x = malloc(nx * sizeof *x);
                        double *ws = malloc(nw * sizeof *ws), xi[64];
                        float *pf = malloc(np * sizeof *pf), *If = malloc(sh.n * sizeof *If);
                        float *xf = malloc(nx * sizeof *xf), *wsf = malloc(nw * sizeof *wsf);
                        float *gf = malloc(np * sizeof *gf), xif[64];
                        REQUIRE(p && g && I && x && ws && pf && If && xf && wsf && gf);
                        draw(&t, &s, p, I, x, sh.B);
                        noise_draw(&t, noise, xi);
                        /* the same problem exactly representable in float */
                        for (size_t k = 0; k < np; k++) p[k] = pf[k] = (float)p[k];
                        for (int i = 0; i < sh.n; i++) I[i] = If[i] = (float)I[i];
                        for (size_t k = 0; k < nx; k++) x[k] = xf[k] = (float)x[k];
                        for (int j = 0; j < sh.m; j++) xi[j] = xif[j] = (float)xi[j];
                        const double *xin = noise ? xi : NULL;
                        const float *xinf = noise ? xif : NULL;

                        double want = naive_loss(&t, p, I, x, sh.B, xin, NULL);
                        double l0 = model_loss_grad_noise_f64(&t, p, I, x, sh.B, xin, NULL, ws);
                        double lg = model_loss_grad_noise_f64(&t, p, I, x, sh.B, xin, g, ws);
                        CHECK_REL(l0, want, 1e-12, 1e-300);
                        CHECK(l0 == lg); /* computing the gradient does not change the loss */
                        double lf0 =
                            model_loss_grad_noise_f32(&t, pf, If, xf, sh.B, xinf, NULL, wsf);
                        double lf1 =
                            model_loss_grad_noise_f32(&t, pf, If, xf, sh.B, xinf, gf, wsf);
                        CHECK_REL(lf0, want, 2e-5, 1e-300);
                        CHECK(lf0 == lf1);
                        if (!noise) /* the noise-free entry point is the same function */
                            CHECK(model_loss_grad_f64(&t, p, I, x, sh.B, NULL, ws) == l0);
                        cases++;
                        free(p); free(g); free(I); free(x); free(ws);
                        free(pf); free(If); free(xf); free(wsf); free(gf);
                    }
    /* 5 archs with 2 bias settings + power, x 2 l1 x 3 noises x 4 shapes */
    CHECK_INT_EQ(cases, 11 * 2 * 3 * NSHAPES);
}

/* Central differences (L(p + h e_k) - L(p - h e_k)) / 2h in double, h = 1e-6:
 * truncation error h^2 L'''/6 ~ 1e-12 and round-off ~ eps L / h ~ 1e-10, so
 * a relative error of 1e-6 on every component of size >= 1e-3 max |g| is a
 * demanding check. ReLU: the loss is smooth only away from the kinks, so the
 * draw is repeated until every ReLU argument is at least 1e-3 from 0 (a
 * perturbation of h moves them by at most a few h); the L1 kink at W = 0 is
 * never within h of a drawn weight. Returns the number of bad components. */
static int fd_check(const TaskSpec *t, const double *I, const double *x, int B,
                    const double *xi, double *p, int population)
{
    const double h = 1e-6;
    const size_t np = model_param_len(t);
    double *g = malloc(np * sizeof *g);
    double *ws = malloc(model_workspace_len(t, B) * sizeof *ws);
    if (!g || !ws) {
        free(g); free(ws);
        return -1;
    }
    if (population)
        model_population_loss_grad_f64(t, p, I, g, ws);
    else
        model_loss_grad_noise_f64(t, p, I, x, B, xi, g, ws);
    double gmax = 0;
    for (size_t k = 0; k < np; k++)
        gmax = fmax(gmax, fabs(g[k]));
    int bad = gmax > 0 ? 0 : 1;
    for (size_t k = 0; k < np; k++) {
        double keep = p[k], lp, lm, zp = INFINITY, zm = INFINITY;
        p[k] = keep + h;
        lp = population ? model_population_loss_grad_f64(t, p, I, NULL, ws)
                        : model_loss_grad_noise_f64(t, p, I, x, B, xi, NULL, ws);
        if (!population)
            naive_loss(t, p, I, x, B, xi, &zp);
        p[k] = keep - h;
        lm = population ? model_population_loss_grad_f64(t, p, I, NULL, ws)
                        : model_loss_grad_noise_f64(t, p, I, x, B, xi, NULL, ws);
        if (!population)
            naive_loss(t, p, I, x, B, xi, &zm);
        p[k] = keep;
        /* the perturbation stayed on one side of every kink */
        CHECK(zp > 0.5e-3 && zm > 0.5e-3);
        double fd = (lp - lm) / (2 * h);
        double scale = fmax(fmax(fabs(fd), fabs(g[k])), 1e-3 * gmax);
        if (!(fabs(fd - g[k]) <= 1e-6 * scale)) {
            bad++;
            fprintf(stderr, "arch %d bias %d l1 %g noise %d pop %d n %d m %d B %d param %zu: "
                    "grad %.12g fd %.12g\n", t->arch, t->bias, t->l1, t->hidden_noise,
                    population, t->n, t->m, B, k, g[k], fd);
        }
        /* b that the model does not use (no bias; power; quadratic's b[1..];
         * the population loss's set, untrained bias): exactly zero both ways */
        size_t i = k - (size_t)t->m * t->n;
        int unused = k >= (size_t)t->m * t->n &&
                     (!model_bias_used(t) || population ||
                      (t->arch == ARCH_QUADRATIC && i > 0));
        if (unused) {
            CHECK(g[k] == 0.0);
            CHECK(lp == lm);
        }
    }
    free(g);
    free(ws);
    return bad;
}

static double grad_max(const TaskSpec *t, const double *p, const double *I,
                       const double *x, int B, const double *xi)
{
    size_t np = model_param_len(t);
    double *g = malloc(np * sizeof *g), *ws = malloc(model_workspace_len(t, B) * sizeof *ws);
    double gmax = 0;
    if (g && ws) {
        model_loss_grad_noise_f64(t, p, I, x, B, xi, g, ws);
        for (size_t k = 0; k < np; k++)
            gmax = fmax(gmax, fabs(g[k]));
    }
    free(g);
    free(ws);
    return gmax;
}

TEST(gradient_matches_finite_differences)
{
    uint64_t s = 777;
    int cases = 0;
    for (int arch = 0; arch < ARCH_COUNT; arch++)
        for (int bias = 0; bias <= has_bias(arch); bias++)
            for (int l1 = 0; l1 < 2; l1++)
                for (int noise = 0; noise < NOISE_COUNT; noise++)
                    for (int c = 0; c < NSHAPES; c++) {
                        const struct Shape sh = shapes[c];
                        TaskSpec t = spec(arch, sh.n, sh.m, bias);
                        t.l1 = l1 ? 0.03 : 0.0;
                        t.hidden_noise = noise;
                        if (arch == ARCH_POWER && c % 2)
                            t.q = 5;
                        size_t np = model_param_len(&t);
                        double *p = malloc(np * sizeof *p), xi[64];
                        double *I = malloc(sh.n * sizeof *I);
                        double *x = malloc((size_t)sh.B * sh.n * sizeof *x);
                        REQUIRE(p && I && x);
                        double minz = 0;
                        int tries = 0;
                        noise_draw(&t, noise, xi);
                        const double *xin = noise ? xi : NULL;
                        /* away from kinks, and not a dead ReLU or a vanishing
                         * power (where round-off would be all there is to see) */
                        do {
                            draw(&t, &s, p, I, x, sh.B);
                            naive_loss(&t, p, I, x, sh.B, xin, &minz);
                        } while ((minz < 1e-3 || grad_max(&t, p, I, x, sh.B, xin) < 1e-3) &&
                                 ++tries < 1000);
                        REQUIRE(minz >= 1e-3);
                        CHECK_INT_EQ(fd_check(&t, I, x, sh.B, xin, p, 0), 0);
                        cases++;
                        free(p); free(I); free(x);
                    }
    CHECK_INT_EQ(cases, 11 * 2 * 3 * NSHAPES);
}

/* The population loss of quadratic: bias on/off x l1 on/off, including m > n. */
TEST(population_gradient_matches_finite_differences)
{
    uint64_t s = 31337;
    for (int bias = 0; bias < 2; bias++)
        for (int l1 = 0; l1 < 2; l1++)
            for (int c = 0; c < NSHAPES; c++) {
                const struct Shape sh = shapes[c];
                TaskSpec t = spec(ARCH_QUADRATIC, sh.n, sh.m, bias);
                t.population_loss = 1;
                t.l1 = l1 ? 0.03 : 0.0;
                t.kurtosis = 1.0 + 9 * next_unit(&s);
                size_t np = model_param_len(&t);
                double *p = malloc(np * sizeof *p), *I = malloc(sh.n * sizeof *I);
                double *x = malloc((size_t)sh.B * sh.n * sizeof *x);
                REQUIRE(p && I && x);
                draw(&t, &s, p, I, x, sh.B);
                CHECK_INT_EQ(fd_check(&t, I, NULL, 0, NULL, p, 1), 0);
                free(p); free(I); free(x);
            }
}

/* The population loss is the expectation of the sampled loss at the optimal
 * bias: checked exactly by enumerating every input of a unit-variance
 * Rademacher x Bernoulli(p) law (x_i in {0, +-1/sqrt(p)}, K = 1/p) for n = 3,
 * with y' = x^T G x + e, e = model_population_bias (with a bias) or 0. */
TEST(population_loss_is_the_expected_loss)
{
    uint64_t s = 4711;
    const double p = 0.35, a = 1 / sqrt(p);
    for (int bias = 0; bias < 2; bias++)
        for (int m = 1; m <= 4; m += 3) {
            TaskSpec t = spec(ARCH_QUADRATIC, 3, m, bias);
            t.population_loss = 1;
            t.kurtosis = 1 / p;
            double P[4 * 3 + 3], I[3], x[3], ws[16];
            draw(&t, &s, P, I, x, 1);
            double e = model_population_bias_f64(&t, P, I), want = 0, mean = 0;
            if (bias) {
                double ee = 0;
                for (int i = 0; i < 3; i++) {
                    double g = 0;
                    for (int j = 0; j < m; j++)
                        g += P[j * 3 + i] * P[j * 3 + i];
                    ee += I[i] - g;
                }
                CHECK_REL(e, ee, 1e-14, 1e-300);
            } else {
                CHECK(e == 0.0);
            }
            for (int c = 0; c < 27; c++) { /* states 0, +a, -a per coordinate */
                double prob = 1;
                for (int i = 0, cc = c; i < 3; i++, cc /= 3) {
                    x[i] = cc % 3 == 0 ? 0 : cc % 3 == 1 ? a : -a;
                    prob *= cc % 3 == 0 ? 1 - p : p / 2;
                }
                double yp = e, y = 0;
                for (int j = 0; j < m; j++) {
                    double h = 0;
                    for (int i = 0; i < 3; i++)
                        h += P[j * 3 + i] * x[i];
                    yp += h * h;
                }
                for (int i = 0; i < 3; i++)
                    y += I[i] * x[i] * x[i];
                want += prob * (y - yp) * (y - yp);
                mean += prob * (y - yp);
            }
            if (bias)
                CHECK_NEAR(mean, 0.0, 1e-12); /* e is the optimal bias */
            double got = model_population_loss_grad_f64(&t, P, I, NULL, ws);
            CHECK_REL(got, want, 1e-12, 1e-300);
        }
}

/* float32 = double of the same (float-representable) problem to float accuracy. */
TEST(float_gradient_matches_double)
{
    uint64_t s = 4242;
    for (int arch = 0; arch < ARCH_COUNT; arch++)
        for (int bias = 0; bias <= has_bias(arch); bias++)
            for (int pop = 0; pop <= (arch == ARCH_QUADRATIC); pop++) {
                TaskSpec t = spec(arch, 23, 5, bias);
                t.l1 = 0.01;
                t.population_loss = pop;
                t.kurtosis = 4;
                const int B = 64;
                size_t np = model_param_len(&t), nw = model_workspace_len(&t, B);
                double *p = malloc(np * sizeof *p), *g = malloc(np * sizeof *g);
                double *I = malloc(t.n * sizeof *I), *x = malloc((size_t)B * t.n * sizeof *x);
                double *ws = malloc(nw * sizeof *ws), xi[5];
                float *pf = malloc(np * sizeof *pf), *gf = malloc(np * sizeof *gf);
                float *If = malloc(t.n * sizeof *If), *xf = malloc((size_t)B * t.n * sizeof *xf);
                float *wsf = malloc(nw * sizeof *wsf), xif[5];
                REQUIRE(p && g && I && x && ws && pf && gf && If && xf && wsf);
                draw(&t, &s, p, I, x, B);
                noise_draw(&t, NOISE_GAUSSIAN, xi);
                for (size_t k = 0; k < np; k++) p[k] = pf[k] = (float)(0.5 * p[k]);
                for (int i = 0; i < t.n; i++) I[i] = If[i] = (float)I[i];
                for (int k = 0; k < B * t.n; k++) x[k] = xf[k] = (float)x[k];
                for (int j = 0; j < 5; j++) xi[j] = xif[j] = (float)xi[j];
                double l = pop ? model_population_loss_grad_f64(&t, p, I, g, ws)
                               : model_loss_grad_noise_f64(&t, p, I, x, B, xi, g, ws);
                double lf = pop ? model_population_loss_grad_f32(&t, pf, If, gf, wsf)
                                : model_loss_grad_noise_f32(&t, pf, If, xf, B, xif, gf, wsf);
                CHECK_REL(lf, l, 1e-5, 0);
                double gmax = 0, err = 0;
                for (size_t k = 0; k < np; k++)
                    gmax = fmax(gmax, fabs(g[k]));
                for (size_t k = 0; k < np; k++)
                    err = fmax(err, fabs(gf[k] - g[k]));
                /* float rounding through sums of ~B n terms: a few 1e-6 of max |g| */
                if (!(err <= 2e-5 * gmax))
                    fprintf(stderr, "arch %d bias %d pop %d: err %g gmax %g\n", arch, bias,
                            pop, err, gmax);
                CHECK(err <= 2e-5 * gmax);
                if (!model_bias_used(&t))
                    for (int i = 0; i < t.n; i++)
                        CHECK(gf[model_b_offset(&t) + i] == 0.0f);
                free(p); free(g); free(I); free(x); free(ws);
                free(pf); free(gf); free(If); free(xf); free(wsf);
            }
}

/* Without bias (and for power, always) the stored b is ignored: same loss
 * and W gradient as a task with bias whose b is 0; and NaN left in the
 * gradient buffer is overwritten. */
TEST(no_bias_ignores_stored_b)
{
    uint64_t s = 99;
    for (int arch = 0; arch < ARCH_COUNT; arch++) {
        TaskSpec t0 = spec(arch, 9, 4, arch == ARCH_POWER), t1 = spec(arch, 9, 4, 1);
        const int B = 6;
        size_t np = model_param_len(&t0), nw = model_workspace_len(&t0, B);
        double p[9 * 4 + 9], p1[9 * 4 + 9], g0[9 * 4 + 9], g1[9 * 4 + 9], I[9], x[6 * 9];
        double *ws = malloc(nw * sizeof *ws);
        REQUIRE(ws);
        draw(&t0, &s, p, I, x, B);
        memcpy(p1, p, sizeof p);
        for (int i = 0; i < 9; i++)
            p1[4 * 9 + i] = 0.0;
        for (size_t k = 0; k < np; k++)
            g0[k] = g1[k] = NAN;
        double l0 = model_loss_grad_f64(&t0, p, I, x, B, g0, ws);
        double l1 = model_loss_grad_f64(&t1, p1, I, x, B, g1, ws);
        CHECK(l0 == l1);
        CHECK(memcmp(g0, g1, 4 * 9 * sizeof(double)) == 0);
        for (int i = 0; i < 9; i++)
            CHECK(g0[4 * 9 + i] == 0.0);
        for (size_t k = 0; k < np; k++)
            CHECK(isfinite(g1[k]));
        /* quadratic: only b[0] (the scalar e) moves */
        if (arch == ARCH_QUADRATIC)
            for (int i = 1; i < 9; i++)
                CHECK(g1[4 * 9 + i] == 0.0);
        free(ws);
    }
}

/* GELU is PyTorch's default (exact erf) form: torch.nn.functional.gelu and
 * its autograd derivative in float64 (PyTorch 1.13) at a few points. Checked
 * through the model: n = m = 1, W = 1, x = 0, I = 1 and the bias b = z give
 * the loss gelu(z)^2 and db = 2 gelu(z) gelu'(z). */
TEST(gelu_matches_torch)
{
    static const double z[] = {-3.0, -1.5, -0.5, 0.0, 0.3, 1.0, 2.5};
    static const double y[] = {-0.0040496940948903104, -0.10021080190328704,
                               -0.15426876936299344, 0, 0.1853734266566858,
                               0.84134474606854304, 2.4844758366855597};
    static const double dy[] = {-0.01194564720418392, -0.1274691922299796,
                                0.13250487534383712, 0.5, 0.73232776682710987,
                                1.0833154705876864, 1.0376110859081451};
    TaskSpec t = spec(ARCH_GELU_OUTPUT, 1, 1, 1);
    for (int k = 0; k < 7; k++) {
        double p[2] = {1.0, z[k]}, g[2], I = 1, x = 0, ws[8];
        double l = model_loss_grad_f64(&t, p, &I, &x, 1, g, ws);
        CHECK_REL(l, y[k] * y[k], 1e-14, 1e-300);
        CHECK_NEAR(g[1], 2 * y[k] * dy[k], 1e-15);
        float pf[2] = {1.0f, (float)z[k]}, gf[2], If = 1, xf = 0, wsf[256];
        REQUIRE(model_workspace_len(&t, 1) <= 256);
        double lf = model_loss_grad_f32(&t, pf, &If, &xf, 1, gf, wsf);
        CHECK_NEAR(sqrt(lf), fabs(y[k]), 1e-6);
        CHECK_NEAR(gf[1], 2 * y[k] * dy[k], 1e-6);
    }
}

/* The workspace for B rows serves smaller batches; B = 0 is a zero loss; the
 * population loss needs n^2. */
TEST(workspace_and_degenerate_batch)
{
    TaskSpec t = spec(ARCH_RELU_OUTPUT, 5, 3, 1);
    CHECK(model_workspace_len(&t, 10) >= model_workspace_len(&t, 4));
    CHECK(model_workspace_len(&t, 10) >= (size_t)10 * (2 * 3 + 5));
    float p[20], g[20], I[5], x[5], ws[64];
    for (int k = 0; k < 20; k++) { p[k] = 0.1f * (float)k; g[k] = NAN; }
    for (int i = 0; i < 5; i++) { I[i] = 1; x[i] = 0.5f; }
    CHECK(model_loss_grad_f32(&t, p, I, x, 0, g, ws) == 0.0);
    for (int k = 0; k < 20; k++)
        CHECK(g[k] == 0.0f);
    TaskSpec q = spec(ARCH_QUADRATIC, 50, 2, 1);
    q.population_loss = 1;
    CHECK(model_workspace_len(&q, 0) >= 2500);
    CHECK(model_workspace_len(&q, 100) >= (size_t)100 * (2 * 2 + 50));
    CHECK(model_bias_used(&q));
    CHECK(!model_bias_used(&(TaskSpec){.arch = ARCH_POWER, .bias = 1}));
}

HARNESS_MAIN
