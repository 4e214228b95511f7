/* test_train.c - AdamW against a hand computation, the state layout and
 * initialisation, failure detection, resume bit-identity, and training to
 * the known optimum of the linear model (src/train). */
#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "polysweep/data.h"
#include "polysweep/model.h"
#include "polysweep/polysweep.h"
#include "polysweep/train.h"

#include "harness.h"

/* TMS notebook defaults (science.md section 3). */
static TaskSpec tms_spec(int arch, int n, int m, double density)
{
    TaskSpec t;
    memset(&t, 0, sizeof t);
    t.arch = arch;
    t.n = n;
    t.m = m;
    t.bias = 1;
    t.density = density;
    t.sparsity = 1.0 - density;
    t.importance = IMPORTANCE_DECAY;
    t.importance_rate = 0.7;
    t.lr = 1e-3;
    t.beta1 = 0.9;
    t.beta2 = 0.999;
    t.eps = 1e-8;
    t.weight_decay = 0.01;
    t.steps = 10000;
    t.batch = 1024;
    t.seed = 1;
    t.log_every = 100;
    t.eval_samples = 4096;
    t.key = 0x5eed0000000001ull;
    return t;
}

/* The update written out in double from the formula (Loshchilov and Hutter,
 * Algorithm 2, with PyTorch's bias corrections), independent of optim.c:
 *   p <- p (1 - lr wd);  m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
 *   p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * Gradients change every step and include 0 and values near eps. */
TEST(adamw_matches_hand_computation)
{
    enum { N = 7, T = 6 };
    const double lr = 3e-3, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.01;
    double p[N] = {0.5, -1.25, 2.0, 0.0, 1e-3, -0.75, 0.3};
    double m[N] = {0}, v[N] = {0};
    float pf[N], mf[N] = {0}, vf[N] = {0}, gf[N];
    for (int k = 0; k < N; k++)
        pf[k] = (float)p[k];
    for (int t = 1; t <= T; t++) {
        for (int k = 0; k < N; k++) {
            double g = k == 3 ? 0.0 : k == 4 ? 1e-8 * t : sin(1.7 * k + 0.9 * t) * (k + 1);
            gf[k] = (float)g;
        }
        train_adamw(pf, mf, vf, gf, N, lr, b1, b2, eps, wd, t);
        for (int k = 0; k < N; k++) {
            double g = gf[k];
            p[k] *= 1 - lr * wd;
            m[k] = b1 * m[k] + (1 - b1) * g;
            v[k] = b2 * v[k] + (1 - b2) * g * g;
            p[k] -= lr / (1 - pow(b1, t)) * m[k] / (sqrt(v[k]) / sqrt(1 - pow(b2, t)) + eps);
        }
        for (int k = 0; k < N; k++) {
            CHECK_NEAR(pf[k], p[k], 1e-6);
            /* float rounding relative to the size of the terms, |g| <= k + 1
             * (m can cancel, so not relative to m itself) */
            CHECK_NEAR(mf[k], m[k], 1e-6 * (k + 1));
            CHECK_NEAR(vf[k], v[k], 1e-6 * (k + 1) * (k + 1));
        }
    }
    /* The first step moves every parameter with a non-negligible gradient by
     * lr (Adam's normalisation): a check on the bias corrections. */
    float q = 1.0f, qm = 0, qv = 0, qg = 0.37f;
    train_adamw(&q, &qm, &qv, &qg, 1, 0.01, 0.9, 0.999, 1e-8, 0.0, 1);
    CHECK_NEAR(q, 1.0 - 0.01, 1e-7);
}

TEST(state_layout_and_init)
{
    TaskSpec t = tms_spec(ARCH_LINEAR, 40, 7, 1.0);
    t.steps = 1000;
    t.log_every = 300; /* 4 windows, the last one short */
    TrainState *st = NULL;
    REQUIRE(train_state_create(&t, &st) == 0);
    CHECK_INT_EQ(st->nparam, 40 * 7 + 40);
    CHECK_INT_EQ(st->nlog, 4);
    CHECK_INT_EQ(*st->step, 0);
    /* persist holds every tensor that is checkpointed, scratch the rest */
    const char *p0 = st->persist, *p1 = p0 + st->persist_len;
    CHECK((const char *)st->step >= p0 && (const char *)(st->step + 1) <= p1);
    CHECK((const char *)st->window >= p0 && (const char *)(st->window + 2) <= p1);
    CHECK((const char *)st->curve >= p0 && (const char *)(st->curve + st->nlog) <= p1);
    CHECK((const char *)st->params >= p0 && (const char *)(st->params + st->nparam) <= p1);
    CHECK((const char *)st->m1 >= p0 && (const char *)(st->m1 + st->nparam) <= p1);
    CHECK((const char *)st->m2 >= p0 && (const char *)(st->m2 + st->nparam) <= p1);
    CHECK((const char *)st->grad < p0 || (const char *)st->grad >= p1);

    /* W is Xavier-normal from STREAM_INIT: exactly data_normal's draws */
    const int64_t nw = 40 * 7;
    float *w = malloc(nw * sizeof *w);
    REQUIRE(w);
    data_normal(t.key, STREAM_INIT, 0, (float)sqrt(2.0 / 47), w, nw);
    CHECK(memcmp(w, st->params, nw * sizeof *w) == 0);
    double s2 = 0;
    for (int64_t k = 0; k < nw; k++)
        s2 += (double)w[k] * w[k];
    CHECK_NEAR(s2 / nw, 2.0 / 47, 4 * sqrt(2.0 / nw) * 2.0 / 47);
    free(w);
    for (int i = 0; i < 40; i++) {
        CHECK(st->params[model_b_offset(&t) + i] == 0.0f);
        CHECK(st->I[i] == (float)pow(0.7, i));
    }
    for (size_t k = 0; k < st->nparam; k++)
        CHECK(st->m1[k] == 0.0f && st->m2[k] == 0.0f);
    /* another key, other weights */
    TaskSpec t2 = t;
    t2.key++;
    TrainState *st2 = NULL;
    REQUIRE(train_state_create(&t2, &st2) == 0);
    CHECK(memcmp(st->params, st2->params, nw * sizeof(float)) != 0);
    train_state_free(&st2);
    train_state_free(&st);
    CHECK(st == NULL);
    train_state_free(&st); /* NULL-safe */
    train_state_free(NULL);

    t.n = 0;
    CHECK_INT_EQ(train_state_create(&t, &st), PS_EINVAL);
    CHECK(st == NULL);
    t.n = 40;
    t.arch = ARCH_COUNT;
    CHECK_INT_EQ(train_state_create(&t, &st), PS_EINVAL);
    CHECK(st == NULL);
}

/* ---- resume: a copy of `persist` after any step continues bit-identically */

struct Snap {
    int64_t at;    /* copy persist after this many steps */
    int64_t stop;  /* ask to stop after this many steps (0: never) */
    void *buf;
    int calls;
};

static int snap_tick(void *ctx, const TrainState *st)
{
    struct Snap *s = ctx;
    s->calls++;
    if (*st->step == s->at)
        memcpy(s->buf, st->persist, st->persist_len);
    return s->stop && *st->step == s->stop;
}

TEST(resume_is_bit_identical)
{
    for (int arch = 0; arch < ARCH_COUNT; arch++) {
        TaskSpec t = tms_spec(arch, 12, 4, 0.3);
        t.steps = 600;
        t.batch = 64;
        t.log_every = 50;
        TrainState *a = NULL, *b = NULL, *c = NULL;
        REQUIRE(train_state_create(&t, &a) == 0);
        REQUIRE(train_state_create(&t, &b) == 0);
        REQUIRE(train_state_create(&t, &c) == 0);
        /* run a: uninterrupted, snapshot after step 237 (mid-window) */
        struct Snap snap = {237, 0, malloc(a->persist_len), 0};
        REQUIRE(snap.buf);
        TrainHooks hooks = {1, snap_tick, &snap};
        char reason[128];
        CHECK_INT_EQ(train_run(a, &hooks, reason, sizeof reason), 0);
        CHECK_INT_EQ(snap.calls, 600);
        CHECK_INT_EQ(*a->step, 600);
        CHECK_STR_EQ(reason, "");
        /* run b: a fresh state restored from the snapshot */
        memcpy(b->persist, snap.buf, b->persist_len);
        CHECK_INT_EQ(*b->step, 237);
        CHECK_INT_EQ(train_run(b, NULL, reason, sizeof reason), 0);
        CHECK(memcmp(a->persist, b->persist, a->persist_len) == 0);
        /* run c: stopped by a hook after step 300 (a window edge), resumed in place */
        struct Snap stop = {-1, 300, NULL, 0};
        TrainHooks h2 = {100, snap_tick, &stop};
        CHECK_INT_EQ(train_run(c, &h2, reason, sizeof reason), PS_EINTR);
        CHECK_INT_EQ(*c->step, 300);
        CHECK_INT_EQ(stop.calls, 3);
        CHECK_INT_EQ(train_run(c, &h2, reason, sizeof reason), 0);
        CHECK(memcmp(a->persist, c->persist, a->persist_len) == 0);
        /* the curve is complete and finite */
        for (int k = 0; k < a->nlog; k++)
            CHECK(isfinite(a->curve[k]) && a->curve[k] > 0);
        free(snap.buf);
        train_state_free(&a);
        train_state_free(&b);
        train_state_free(&c);
    }
}

/* relu_output (TMS main model, sparse data): the loss goes down, and two runs
 * give identical bytes. */
TEST(relu_output_learns_deterministically)
{
    TaskSpec t = tms_spec(ARCH_RELU_OUTPUT, 20, 5, 0.1);
    t.steps = 2000;
    t.batch = 256;
    t.log_every = 200;
    TrainState *a = NULL, *b = NULL;
    REQUIRE(train_state_create(&t, &a) == 0);
    REQUIRE(train_state_create(&t, &b) == 0);
    char reason[128];
    CHECK_INT_EQ(train_run(a, NULL, reason, sizeof reason), 0);
    CHECK_INT_EQ(train_run(b, NULL, reason, sizeof reason), 0);
    CHECK(memcmp(a->persist, b->persist, a->persist_len) == 0);
    /* measured: 2.6e-3 -> 5e-4; ask for a factor 3 */
    CHECK(a->curve[a->nlog - 1] < a->curve[0] / 3);
    double e1 = train_eval_loss(a), e2 = train_eval_loss(b);
    CHECK(e1 == e2);
    CHECK(e1 < a->curve[0] / 3);
    train_state_free(&a);
    train_state_free(&b);
}

/* The held-out loss is the weighted mean over chunks: check it against a
 * direct evaluation of the same examples, including a short last chunk. */
TEST(eval_loss_is_mean_over_chunks)
{
    TaskSpec t = tms_spec(ARCH_RELU_OUTPUT, 10, 3, 0.2);
    t.eval_samples = 2500; /* chunks of 1024, 1024, 452 */
    t.batch = 16;          /* the eval chunk is larger than the batch */
    TrainState *st = NULL;
    REQUIRE(train_state_create(&t, &st) == 0);
    for (int i = 0; i < 10; i++)
        st->params[model_b_offset(&t) + i] = 0.01f * (float)(i - 4);
    const uint64_t key = data_eval_key(&t);
    const size_t np = st->nparam;
    double *p = malloc(np * sizeof *p), *I = malloc(10 * sizeof *I);
    double *x = malloc((size_t)1024 * 10 * sizeof *x);
    double *ws = malloc(model_workspace_len(&t, 1024) * sizeof *ws);
    float *xf = malloc((size_t)1024 * 10 * sizeof *xf);
    REQUIRE(p && I && x && ws && xf);
    for (size_t k = 0; k < np; k++)
        p[k] = st->params[k];
    for (int i = 0; i < 10; i++)
        I[i] = st->I[i];
    double sum = 0;
    const int rows[3] = {1024, 1024, 452};
    for (int c = 0; c < 3; c++) {
        data_sample(&t, key, STREAM_EVAL, (uint64_t)c, rows[c], xf);
        for (int k = 0; k < rows[c] * 10; k++)
            x[k] = xf[k];
        sum += model_loss_grad_f64(&t, p, I, x, rows[c], NULL, ws) * rows[c];
    }
    double e = train_eval_loss(st);
    CHECK_REL(e, sum / 2500, 1e-5, 0);
    /* independent of the training state's step and of the model's key */
    TaskSpec t2 = t;
    t2.key ^= 0xffff;
    TrainState *st2 = NULL;
    REQUIRE(train_state_create(&t2, &st2) == 0);
    memcpy(st2->params, st->params, np * sizeof(float));
    CHECK(train_eval_loss(st2) == e);
    train_state_free(&st2);
    free(p); free(I); free(x); free(ws); free(xf);
    train_state_free(&st);
}

TEST(nonfinite_loss_and_parameters_fail_with_reason)
{
    TaskSpec t = tms_spec(ARCH_LINEAR, 6, 2, 1.0);
    t.steps = 50;
    t.batch = 8;
    t.log_every = 10;
    char reason[128];
    TrainState *st = NULL;

    /* a NaN parameter: the first loss is NaN */
    REQUIRE(train_state_create(&t, &st) == 0);
    st->params[3] = NAN;
    CHECK_INT_EQ(train_run(st, NULL, reason, sizeof reason), PS_ENUMERIC);
    CHECK_STR_EQ(reason, "loss became nan at step 0");
    train_state_free(&st);

    /* lr 1e30: the first update leaves W ~ 1e30, so G x overflows float */
    t.lr = 1e30;
    REQUIRE(train_state_create(&t, &st) == 0);
    CHECK_INT_EQ(train_run(st, NULL, reason, sizeof reason), PS_ENUMERIC);
    CHECK(strncmp(reason, "loss became ", 12) == 0);
    CHECK_STR_EQ(reason + strlen(reason) - 9, "at step 1");
    train_state_free(&st);

    /* lr 1e38: the first update itself overflows (step lr / 0.1 > FLT_MAX);
     * caught at the end of the window, before another step */
    t.lr = 1e38;
    t.log_every = 1;
    REQUIRE(train_state_create(&t, &st) == 0);
    CHECK_INT_EQ(train_run(st, NULL, reason, sizeof reason), PS_ENUMERIC);
    CHECK_STR_EQ(reason, "parameters became non-finite at step 0");
    train_state_free(&st);
}

/* Acceptance (TMS section 2, linear model): n = 20, m = 5, I_i = 0.7^i,
 * dense U[0, 1) data with a bias. The bias absorbs the mean, so W^T W must
 * become the projection on the 5 most important features (the weighted PCA
 * of the covariance I/12): ||W_i|| = 1 for i < 5, 0 otherwise, ||W||_F^2 = 5,
 * and the loss is (1/n) sum_{i >= 5} I_i / 12 = 0.0023233.
 * Settings are the TMS notebook's (lr 1e-3, batch 1024, 10000 steps, AdamW
 * wd 0.01): about 1 s here; over 12 keys the norms were within 0.001 of 1 and
 * the others below 0.01 (at 4000 steps 3 of 8 keys had not yet separated
 * feature 4 from feature 5, whose importances differ only by 0.7x). */
TEST(linear_learns_top_features)
{
    TaskSpec t = tms_spec(ARCH_LINEAR, 20, 5, 1.0);
    TrainState *st = NULL;
    REQUIRE(train_state_create(&t, &st) == 0);
    char reason[128];
    CHECK_INT_EQ(train_run(st, NULL, reason, sizeof reason), 0);
    double fro2 = 0;
    for (int i = 0; i < 20; i++) {
        double s = 0;
        for (int j = 0; j < 5; j++)
            s += (double)st->params[j * 20 + i] * st->params[j * 20 + i];
        fro2 += s;
        if (i < 5)
            CHECK_NEAR(sqrt(s), 1.0, 0.05);
        else
            CHECK(sqrt(s) < 0.1);
    }
    CHECK_NEAR(fro2, 5.0, 0.1);
    double opt = 0;
    for (int i = 5; i < 20; i++)
        opt += pow(0.7, i) / 12.0;
    opt /= 20;
    CHECK_REL(st->curve[st->nlog - 1], opt, 0.03, 0);
    CHECK_REL(train_eval_loss(st), opt, 0.03, 0);
    /* the bias is the mean left over: b = (I - G) mu, mu = 1/2 (up to the
     * 24-bit grid of U[0, 1)); b_i ~ 0.5 for the unrepresented features */
    for (int i = 5; i < 20; i++)
        CHECK_NEAR(st->params[model_b_offset(&t) + i], 0.5, 0.02);
    for (int i = 0; i < 5; i++)
        CHECK_NEAR(st->params[model_b_offset(&t) + i], 0.0, 0.05);
    train_state_free(&st);
}

HARNESS_MAIN
