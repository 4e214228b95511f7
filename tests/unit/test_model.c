/* test_model.c - the architectures' loss against direct triple loops and
 * their gradients against central finite differences (double), the float32
 * path against the double one (src/model). */
#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
    t.density = 1.0;
    return t;
}

/* Direct computation of science.md section 2, independent of arch_impl.h:
 * for each example, h_j = sum_i W_ji x_i, z_i = sum_j W_ji h_j + b_i,
 * x'_i = act(z_i), loss = mean over b and i of I_i (x'_i - x_i)^2. Also
 * returns min |z| over the batch (distance to the ReLU kink). */
static double naive_loss(const TaskSpec *t, const double *p, const double *I,
                         const double *x, int B, double *minabs_z)
{
    const int n = t->n, m = t->m;
    const double *W = p, *b = p + (size_t)m * n;
    double loss = 0, mz = INFINITY;
    for (int r = 0; r < B; r++) {
        const double *xr = x + (size_t)r * n;
        for (int i = 0; i < n; i++) {
            double z = t->bias ? b[i] : 0.0;
            for (int j = 0; j < m; j++) {
                double h = 0;
                for (int k = 0; k < n; k++)
                    h += W[j * n + k] * xr[k];
                z += W[j * n + i] * h;
            }
            mz = fmin(mz, fabs(z));
            double y = t->arch == ARCH_RELU_OUTPUT ? fmax(z, 0.0) : z;
            loss += I[i] * (y - xr[i]) * (y - xr[i]);
        }
    }
    if (minabs_z)
        *minabs_z = mz;
    return loss / ((double)B * n);
}

/* Random problem: W ~ U(-0.8, 0.8), b ~ U(-0.3, 0.3) (also when the task has
 * no bias: it must then be ignored), I in [0.1, 1], x sparse U[0, 1). */
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
        x[k] = next_unit(s) < 0.7 ? next_unit(s) : 0.0;
}

struct Shape { int n, m, B; };
static const struct Shape shapes[] = {{7, 3, 5}, {4, 6, 1}, {11, 2, 8}, {1, 1, 3}};

TEST(loss_matches_direct_computation)
{
    uint64_t s = 12345;
    for (int arch = 0; arch < ARCH_COUNT; arch++)
        for (int bias = 0; bias < 2; bias++)
            for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
                const struct Shape sh = shapes[c];
                TaskSpec t = spec(arch, sh.n, sh.m, bias);
                size_t np = model_param_len(&t), nw = model_workspace_len(&t, sh.B);
                CHECK_INT_EQ(np, (size_t)sh.m * sh.n + sh.n);
                double *p = malloc(np * sizeof *p), *g = malloc(np * sizeof *g);
                double *I = malloc(sh.n * sizeof *I), *x = malloc((size_t)sh.B * sh.n * sizeof *x);
                double *ws = malloc(nw * sizeof *ws);
                float *pf = malloc(np * sizeof *pf), *If = malloc(sh.n * sizeof *If);
                float *xf = malloc((size_t)sh.B * sh.n * sizeof *xf), *wsf = malloc(nw * sizeof *wsf);
                float *gf = malloc(np * sizeof *gf);
                REQUIRE(p && g && I && x && ws && pf && If && xf && wsf && gf);
                draw(&t, &s, p, I, x, sh.B);
                /* the same problem exactly representable in float */
                for (size_t k = 0; k < np; k++) p[k] = pf[k] = (float)p[k];
                for (int i = 0; i < sh.n; i++) I[i] = If[i] = (float)I[i];
                for (int k = 0; k < sh.B * sh.n; k++) x[k] = xf[k] = (float)x[k];

                double want = naive_loss(&t, p, I, x, sh.B, NULL);
                double l0 = model_loss_grad_f64(&t, p, I, x, sh.B, NULL, ws);
                double l1 = model_loss_grad_f64(&t, p, I, x, sh.B, g, ws);
                CHECK_REL(l0, want, 1e-13, 1e-300);
                CHECK(l0 == l1); /* computing the gradient does not change the loss */
                double lf0 = model_loss_grad_f32(&t, pf, If, xf, sh.B, NULL, wsf);
                double lf1 = model_loss_grad_f32(&t, pf, If, xf, sh.B, gf, wsf);
                CHECK_REL(lf0, want, 1e-5, 1e-300);
                CHECK(lf0 == lf1);
                free(p); free(g); free(I); free(x); free(ws);
                free(pf); free(If); free(xf); free(wsf); free(gf);
            }
}

/* Central differences (L(p + h e_k) - L(p - h e_k)) / 2h in double, h = 1e-6:
 * truncation error h^2 L'''/6 ~ 1e-12 and round-off ~ eps L / h ~ 1e-10, so
 * a relative error of 1e-6 on every component of size >= 1e-3 max |g| is a
 * demanding check. ReLU: the loss is smooth only away from the kink, so the
 * draw is repeated until every pre-activation is at least 1e-3 from 0 (a
 * perturbation of h moves them by at most a few h). */
TEST(gradient_matches_finite_differences)
{
    const double h = 1e-6;
    uint64_t s = 777;
    for (int arch = 0; arch < ARCH_COUNT; arch++)
        for (int bias = 0; bias < 2; bias++)
            for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
                const struct Shape sh = shapes[c];
                TaskSpec t = spec(arch, sh.n, sh.m, bias);
                size_t np = model_param_len(&t), nw = model_workspace_len(&t, sh.B);
                double *p = malloc(np * sizeof *p), *g = malloc(np * sizeof *g);
                double *I = malloc(sh.n * sizeof *I), *x = malloc((size_t)sh.B * sh.n * sizeof *x);
                double *ws = malloc(nw * sizeof *ws);
                REQUIRE(p && g && I && x && ws);
                double minz = 0;
                int tries = 0;
                do {
                    draw(&t, &s, p, I, x, sh.B);
                    naive_loss(&t, p, I, x, sh.B, &minz);
                } while (minz < 1e-3 && ++tries < 100);
                REQUIRE(minz >= 1e-3);

                model_loss_grad_f64(&t, p, I, x, sh.B, g, ws);
                double gmax = 0;
                for (size_t k = 0; k < np; k++)
                    gmax = fmax(gmax, fabs(g[k]));
                REQUIRE(gmax > 0);
                int bad = 0;
                for (size_t k = 0; k < np; k++) {
                    double keep = p[k];
                    p[k] = keep + h;
                    double lp = model_loss_grad_f64(&t, p, I, x, sh.B, NULL, ws);
                    double zp;
                    naive_loss(&t, p, I, x, sh.B, &zp);
                    p[k] = keep - h;
                    double lm = model_loss_grad_f64(&t, p, I, x, sh.B, NULL, ws);
                    double zm;
                    naive_loss(&t, p, I, x, sh.B, &zm);
                    p[k] = keep;
                    /* the perturbation stayed on one side of every kink */
                    CHECK(zp > 0.5e-3 && zm > 0.5e-3);
                    double fd = (lp - lm) / (2 * h);
                    double scale = fmax(fmax(fabs(fd), fabs(g[k])), 1e-3 * gmax);
                    if (!(fabs(fd - g[k]) <= 1e-6 * scale)) {
                        bad++;
                        fprintf(stderr, "arch %d bias %d n %d m %d B %d param %zu: "
                                "grad %.12g fd %.12g\n", arch, bias, sh.n, sh.m, sh.B,
                                k, g[k], fd);
                    }
                    /* b does not exist without bias: exactly zero both ways */
                    if (!bias && k >= (size_t)sh.m * sh.n) {
                        CHECK(g[k] == 0.0);
                        CHECK(lp == lm);
                    }
                }
                CHECK_INT_EQ(bad, 0);
                free(p); free(g); free(I); free(x); free(ws);
            }
}

/* float32 gradient = double gradient of the same (float-representable)
 * problem to float accuracy. */
TEST(float_gradient_matches_double)
{
    uint64_t s = 4242;
    for (int arch = 0; arch < ARCH_COUNT; arch++)
        for (int bias = 0; bias < 2; bias++) {
            TaskSpec t = spec(arch, 23, 5, bias);
            const int B = 64;
            size_t np = model_param_len(&t), nw = model_workspace_len(&t, B);
            double *p = malloc(np * sizeof *p), *g = malloc(np * sizeof *g);
            double *I = malloc(t.n * sizeof *I), *x = malloc((size_t)B * t.n * sizeof *x);
            double *ws = malloc(nw * sizeof *ws);
            float *pf = malloc(np * sizeof *pf), *gf = malloc(np * sizeof *gf);
            float *If = malloc(t.n * sizeof *If), *xf = malloc((size_t)B * t.n * sizeof *xf);
            float *wsf = malloc(nw * sizeof *wsf);
            REQUIRE(p && g && I && x && ws && pf && gf && If && xf && wsf);
            draw(&t, &s, p, I, x, B);
            for (size_t k = 0; k < np; k++) p[k] = pf[k] = (float)p[k];
            for (int i = 0; i < t.n; i++) I[i] = If[i] = (float)I[i];
            for (int k = 0; k < B * t.n; k++) x[k] = xf[k] = (float)x[k];
            double l = model_loss_grad_f64(&t, p, I, x, B, g, ws);
            double lf = model_loss_grad_f32(&t, pf, If, xf, B, gf, wsf);
            CHECK_REL(lf, l, 1e-5, 0);
            double gmax = 0, err = 0;
            for (size_t k = 0; k < np; k++)
                gmax = fmax(gmax, fabs(g[k]));
            for (size_t k = 0; k < np; k++)
                err = fmax(err, fabs(gf[k] - g[k]));
            /* float rounding through sums of ~B n terms: a few 1e-6 of max |g| */
            CHECK(err <= 2e-5 * gmax);
            if (!bias)
                for (int i = 0; i < t.n; i++)
                    CHECK(gf[model_b_offset(&t) + i] == 0.0f);
            free(p); free(g); free(I); free(x); free(ws);
            free(pf); free(gf); free(If); free(xf); free(wsf);
        }
}

/* Without bias the stored b is ignored: same loss and W gradient as a task
 * with bias whose b is 0; and NaN left in the gradient buffer is overwritten. */
TEST(no_bias_ignores_stored_b)
{
    uint64_t s = 99;
    for (int arch = 0; arch < ARCH_COUNT; arch++) {
        TaskSpec t0 = spec(arch, 9, 4, 0), t1 = spec(arch, 9, 4, 1);
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
        free(ws);
    }
}

/* The workspace for B rows serves smaller batches; B = 0 is a zero loss. */
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
}

HARNESS_MAIN
