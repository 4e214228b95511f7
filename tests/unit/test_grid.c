/* test_grid.c - the grid (grid.h): task counts, row-major order, labels and
 * their lookup, resolved TaskSpecs, task keys, cost and the cross-setting
 * checks of grid_create.
 *
 * Reference keys were computed independently in Python (/usr/bin/python3):
 *
 *   M = (1 << 64) - 1
 *   def fnv(b):
 *       h = 0xcbf29ce484222325
 *       for c in b: h ^= c; h = (h * 0x100000001b3) & M
 *       return h
 *   def fin(z):
 *       z ^= z >> 30; z = (z * 0xbf58476d1ce4e5b9) & M; z ^= z >> 27
 *       z = (z * 0x94d049bb133111eb) & M; z ^= z >> 31; return z
 *   key = lambda seed, label: fin(fnv(("seed=%d;" % seed + label).encode()))
 *
 *   key(0, "")                          = 0xa33b12ef7faedc5e
 *   key(0, "n=20")                      = 0x2cb34debb42eef21
 *   key(42, "arch=linear;sparsity=0.5") = 0xb1338e7cd6b564d9
 *   key(7, "seed=7;n=3")                = 0x1d53c46ffc427c83
 */
#include <stdint.h>
#include <string.h>

#include "polysweep/grid.h"
#include "polysweep/job.h"
#include "polysweep/polysweep.h"

#include "harness.h"

static JobSpec *parse_ok(const char *text)
{
    char err[512] = "";
    JobSpec *job = NULL;
    if (job_parse("g.yaml", text, strlen(text), &job, err, sizeof(err)) != 0)
        fprintf(stderr, "unexpected job error: %s\n", err);
    return job;
}

static Grid *grid_ok(const JobSpec *job)
{
    char err[512] = "";
    Grid *g = NULL;
    if (!job)
        return NULL;
    if (grid_create(job, &g, err, sizeof(err)) != 0)
        fprintf(stderr, "unexpected grid error: %s\n", err);
    return g;
}

/* job_parse must succeed and grid_create fail with exactly this message. */
#define CHECK_GRID_ERR(text, expected)                                         \
    do {                                                                       \
        JobSpec *job_ = parse_ok(text);                                        \
        REQUIRE(job_);                                                         \
        char err_[512] = "";                                                   \
        Grid *g_ = (Grid *)&err_;                                              \
        CHECK_INT_EQ(grid_create(job_, &g_, err_, sizeof(err_)), PS_EINVAL);   \
        CHECK(g_ == NULL);                                                     \
        CHECK_STR_EQ(err_, (expected));                                        \
        job_free(&job_);                                                       \
    } while (0)

/* Independent shortest round-trip text of a double (the label's form). */
static void shortest(double v, char *buf, size_t len)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

TEST(key_matches_python_reference)
{
    CHECK(grid_key(0, "") == 0xa33b12ef7faedc5eULL);
    CHECK(grid_key(0, "n=20") == 0x2cb34debb42eef21ULL);
    CHECK(grid_key(42, "arch=linear;sparsity=0.5") == 0xb1338e7cd6b564d9ULL);
    CHECK(grid_key(7, "seed=7;n=3") == 0x1d53c46ffc427c83ULL);
    CHECK(grid_key(0, "n=20") != grid_key(1, "n=20"));
    CHECK(grid_key(0, "n=20") != grid_key(0, "n=21"));
}

TEST(no_axes_is_one_task_of_defaults)
{
    JobSpec *job = parse_ok("{}");
    Grid *g = grid_ok(job);
    REQUIRE(g);
    CHECK(grid_job(g) == job);
    CHECK_INT_EQ(grid_task_count(g), 1);
    char buf[16] = "x";
    CHECK_INT_EQ(grid_task_label(g, 0, buf, sizeof(buf)), 0);
    CHECK_STR_EQ(buf, "");
    CHECK_INT_EQ(grid_find(g, ""), 0);
    CHECK_INT_EQ(grid_find(g, "n=20"), -1);
    CHECK_INT_EQ(grid_find(g, NULL), -1);
    TaskSpec t;
    memset(&t, 0x55, sizeof(t));
    grid_task_spec(g, 0, &t);
    CHECK_INT_EQ(t.arch, ARCH_RELU_OUTPUT);
    CHECK_INT_EQ(t.n, 20);
    CHECK_INT_EQ(t.m, 5);
    CHECK_INT_EQ(t.bias, 1);
    CHECK_NEAR(t.sparsity, 0, 0);
    CHECK_NEAR(t.density, 1, 0);
    CHECK_INT_EQ(t.importance, IMPORTANCE_CONSTANT);
    CHECK_NEAR(t.importance_rate, 0.7, 0);
    CHECK_NEAR(t.importance_hi, 1, 0);
    CHECK_NEAR(t.importance_lo, 0.01, 0);
    CHECK_NEAR(t.lr, 1e-3, 0);
    CHECK_NEAR(t.beta1, 0.9, 0);
    CHECK_NEAR(t.beta2, 0.999, 0);
    CHECK_NEAR(t.eps, 1e-8, 0);
    CHECK_NEAR(t.weight_decay, 0.01, 0);
    CHECK_INT_EQ(t.steps, 10000);
    CHECK_INT_EQ(t.batch, 1024);
    CHECK_INT_EQ(t.seed, 0);
    CHECK_INT_EQ(t.log_every, 100);
    CHECK_INT_EQ(t.eval_samples, 10000);
    CHECK_INT_EQ(t.save_weights, 0);
    /* the settings of the architectures, options and value laws */
    CHECK_INT_EQ(t.q, 3);
    CHECK_NEAR(t.l1, 0, 0);
    CHECK_INT_EQ(t.hidden_noise, NOISE_NONE);
    CHECK_NEAR(t.noise_sigma, 0, 0);
    CHECK_INT_EQ(t.population_loss, 0);
    CHECK_INT_EQ(t.values, VALUES_UNIFORM);
    CHECK_INT_EQ(t.unit_variance, 0);
    CHECK_NEAR(t.kurtosis, 1.8, 1e-15); /* dense U[0, 1): E x^4 / (E x^2)^2 = 9/5 */
    CHECK_INT_EQ(t.init, INIT_XAVIER_NORMAL);
    CHECK_INT_EQ(t.optimizer, OPT_ADAMW);
    CHECK_INT_EQ(t.lr_schedule, SCHED_CONSTANT);
    CHECK_INT_EQ(t.warmup_steps, 0);
    CHECK_NEAR(t.momentum, 0, 0);
    CHECK_NEAR(t.block_tau, 0.05, 0);
    CHECK_NEAR(t.neuron_window_lo, 0.8, 0);
    CHECK_NEAR(t.neuron_window_hi, 1.2, 0);
    CHECK(t.key == 0xa33b12ef7faedc5eULL);
    CHECK_INT_EQ(grid_max_n(g), 20);
    CHECK_INT_EQ(grid_max_m(g), 5);
    CHECK_INT_EQ(grid_max_log(g), 100);
    CHECK_INT_EQ(task_log_count(&t), 100);
    grid_free(&g);
    CHECK(g == NULL);
    grid_free(&g);
    grid_free(NULL);
    job_free(&job);
}

TEST(row_major_order_labels_and_specs)
{
    static const char *arch[] = {"linear", "relu_output"};
    static const int n[] = {10, 20, 30};
    static const double sp[] = {0, 0.25, 0.5, 0.1};
    JobSpec *job = parse_ok("grid:\n"
                            "  arch: [linear, relu_output]\n"
                            "  n: [10, 20, 30]\n"
                            "  sparsity: [0, 0.25, 0.5, 0.1]\n"
                            "settings: {seed: 42, steps: 500, log_every: 50}\n");
    Grid *g = grid_ok(job);
    REQUIRE(g);
    CHECK_INT_EQ(grid_task_count(g), 24);
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 3; b++)
            for (int c = 0; c < 4; c++) {
                int64_t i = (a * 3 + b) * 4 + c; /* last axis fastest */
                int coord[3], want[3] = {a, b, c};
                grid_coords(g, i, coord);
                CHECK(!memcmp(coord, want, sizeof(want)));
                CHECK_INT_EQ(grid_index(g, want), i);
                char label[128], ref[128], spt[32];
                shortest(sp[c], spt, sizeof spt);
                snprintf(ref, sizeof(ref), "arch=%s;n=%d;sparsity=%s", arch[a], n[b], spt);
                size_t len = grid_task_label(g, i, label, sizeof(label));
                CHECK_STR_EQ(label, ref);
                CHECK_INT_EQ(len, strlen(ref));
                CHECK_INT_EQ(grid_find(g, ref), i);
                TaskSpec t;
                grid_task_spec(g, i, &t);
                CHECK_INT_EQ(t.arch, a == 0 ? ARCH_LINEAR : ARCH_RELU_OUTPUT);
                CHECK_INT_EQ(t.n, n[b]);
                CHECK_NEAR(t.sparsity, sp[c], 0);
                CHECK_NEAR(t.density, 1 - sp[c], 0);
                CHECK_INT_EQ(t.seed, 42);
                CHECK_INT_EQ(t.steps, 500);
                CHECK(t.key == grid_key(42, ref));
            }
    /* The label of task 4 is "arch=linear;n=20;sparsity=0" (27 chars). */
    char small[5];
    CHECK_INT_EQ(grid_task_label(g, 4, small, sizeof(small)), 27);
    CHECK_STR_EQ(small, "arch");
    char tiny[1] = {'x'};
    CHECK_INT_EQ(grid_task_label(g, 4, tiny, 1), 27);
    CHECK_INT_EQ(tiny[0], 0);
    CHECK_INT_EQ(grid_task_label(g, 4, NULL, 0), 27);
    CHECK_STR_EQ((grid_task_label(g, 23, small, sizeof(small)), small), "arch");
    /* Labels that name no task. */
    CHECK_INT_EQ(grid_find(g, "arch=linear;n=20"), -1);
    CHECK_INT_EQ(grid_find(g, "arch=linear;n=20;sparsity=0;"), -1);
    CHECK_INT_EQ(grid_find(g, "arch=linear;n=20;sparsity=0;x=1"), -1);
    CHECK_INT_EQ(grid_find(g, "n=20;arch=linear;sparsity=0"), -1);
    CHECK_INT_EQ(grid_find(g, "arch=linear;n=20.0;sparsity=0"), -1);
    CHECK_INT_EQ(grid_find(g, "arch=linear;n=40;sparsity=0"), -1);
    CHECK_INT_EQ(grid_find(g, "arch=linear;n=20;sparsity=0.10000000000000001"), -1); /* not canonical */
    CHECK_INT_EQ(grid_find(g, "arch=linear;n=20;sparsity=0.1"), 7);
    CHECK_INT_EQ(grid_find(g, ""), -1);
    int bad[3] = {2, 0, 0};
    CHECK_INT_EQ(grid_index(g, bad), -1);
    bad[0] = -1;
    CHECK_INT_EQ(grid_index(g, bad), -1);
    grid_free(&g);
    job_free(&job);
}

TEST(find_roundtrip_over_a_million_tasks)
{
    JobSpec *job = parse_ok("grid:\n"
                            "  seed: {range: [0, 1000]}\n"
                            "  lr: {logspace: [1e-4, 1, 1000]}\n");
    Grid *g = grid_ok(job);
    REQUIRE(g);
    REQUIRE(grid_task_count(g) == 1000000);
    char label[128];
    int64_t wrong = 0;
    for (int64_t i = 0; i < 1000000; i++) {
        grid_task_label(g, i, label, sizeof(label));
        if (grid_find(g, label) != i)
            wrong++;
    }
    CHECK_INT_EQ(wrong, 0);
    /* Distinct tasks, distinct keys (over a slice: 64-bit collisions among
     * 10^4 keys have probability ~3e-12). */
    enum { K = 10000 };
    uint64_t *keys = malloc(K * sizeof(*keys));
    REQUIRE(keys);
    for (int i = 0; i < K; i++) {
        TaskSpec t;
        grid_task_spec(g, (int64_t)i * 97, &t);
        keys[i] = t.key;
    }
    int same = 0;
    for (int i = 0; i < K; i++)
        for (int j = i + 1; j < K; j++)
            same += keys[i] == keys[j];
    CHECK_INT_EQ(same, 0);
    free(keys);
    grid_free(&g);
    job_free(&job);
}

TEST(labels_survive_added_axis_values)
{
    /* Adding values to an axis moves indices but keeps labels and keys. */
    JobSpec *j1 = parse_ok("grid: {n: [10, 20], sparsity: [0, 0.5]}");
    JobSpec *j2 = parse_ok("grid: {n: [5, 10, 20], sparsity: [0, 0.25, 0.5]}");
    Grid *g1 = grid_ok(j1), *g2 = grid_ok(j2);
    REQUIRE(g1 && g2);
    for (int64_t i = 0; i < grid_task_count(g1); i++) {
        char label[64];
        grid_task_label(g1, i, label, sizeof(label));
        int64_t k = grid_find(g2, label);
        REQUIRE(k >= 0);
        TaskSpec a, b;
        grid_task_spec(g1, i, &a);
        grid_task_spec(g2, k, &b);
        CHECK(a.key == b.key);
        CHECK_INT_EQ(a.n, b.n);
        CHECK_NEAR(a.sparsity, b.sparsity, 0);
    }
    grid_free(&g1);
    grid_free(&g2);
    job_free(&j1);
    job_free(&j2);
}

TEST(sparsity_density_resolution)
{
    JobSpec *job = parse_ok("grid: {density: [0.1, 0.5, 1]}");
    Grid *g = grid_ok(job);
    REQUIRE(g);
    static const double d[] = {0.1, 0.5, 1};
    for (int i = 0; i < 3; i++) {
        TaskSpec t;
        grid_task_spec(g, i, &t);
        CHECK_NEAR(t.density, d[i], 0);
        CHECK_NEAR(t.sparsity, 1 - d[i], 0);
    }
    grid_free(&g);
    job_free(&job);

    job = parse_ok("settings: {density: 0.25}");
    g = grid_ok(job);
    REQUIRE(g);
    TaskSpec t;
    grid_task_spec(g, 0, &t);
    CHECK_NEAR(t.density, 0.25, 0);
    CHECK_NEAR(t.sparsity, 0.75, 0);
    grid_free(&g);
    job_free(&job);

    job = parse_ok("settings: {sparsity: 0.3}");
    g = grid_ok(job);
    REQUIRE(g);
    grid_task_spec(g, 0, &t);
    CHECK_NEAR(t.sparsity, 0.3, 0);
    CHECK_NEAR(t.density, 0.7, 0);
    grid_free(&g);
    job_free(&job);
}

/* Derived settings: the density from kurtosis (p = mu4 / (mu2^2 K) per
 * law), the kurtosis from the density, one_hot's density 1/n, batch n and
 * evaluation sample n, power's bias. */
TEST(derived_settings)
{
    JobSpec *job = parse_ok("grid:\n"
                            "  values: [uniform, uniform_signed, gaussian, rademacher]\n"
                            "  kurtosis: [3, 12]\n");
    Grid *g = grid_ok(job);
    REQUIRE(g);
    static const double law_k[] = {1.8, 1.8, 3, 1};
    for (int v = 0; v < 4; v++)
        for (int k = 0; k < 2; k++) {
            TaskSpec t;
            grid_task_spec(g, v * 2 + k, &t);
            double K = k ? 12 : 3;
            CHECK_INT_EQ(t.values, v);
            CHECK(t.kurtosis == K); /* the given value, exactly */
            CHECK_REL(t.density, law_k[v] / K, 1e-15, 0);
            CHECK_REL(t.sparsity, 1 - law_k[v] / K, 1e-15, 0);
        }
    grid_free(&g);
    job_free(&job);

    /* the least kurtosis of each law is density 1 exactly */
    static const char *const least[] = {"settings: {kurtosis: 1.8}",
                                        "settings: {values: uniform_signed, kurtosis: 1.8}",
                                        "settings: {values: gaussian, kurtosis: 3}",
                                        "settings: {values: rademacher, kurtosis: 1}"};
    for (int k = 0; k < 4; k++) {
        job = parse_ok(least[k]);
        g = grid_ok(job);
        REQUIRE(g);
        TaskSpec t;
        grid_task_spec(g, 0, &t);
        CHECK(t.density == 1.0 && t.sparsity == 0.0);
        grid_free(&g);
        job_free(&job);
    }

    job = parse_ok("grid:\n"
                   "  values: [gaussian, rademacher]\n"
                   "  density: [1, 0.25]\n");
    g = grid_ok(job);
    REQUIRE(g);
    for (int i = 0; i < 4; i++) {
        TaskSpec t;
        grid_task_spec(g, i, &t);
        CHECK_REL(t.kurtosis, (i < 2 ? 3.0 : 1.0) / (i % 2 ? 0.25 : 1.0), 1e-15, 0);
    }
    grid_free(&g);
    job_free(&job);

    job = parse_ok("grid: {n: [4, 256], arch: [relu_output, power]}\n"
                   "settings: {values: one_hot, m: 1024}\n");
    g = grid_ok(job);
    REQUIRE(g);
    for (int i = 0; i < 4; i++) {
        TaskSpec t;
        grid_task_spec(g, i, &t);
        int n = i < 2 ? 4 : 256;
        CHECK_INT_EQ(t.n, n);
        CHECK_INT_EQ(t.batch, n);
        CHECK_INT_EQ(t.eval_samples, n);
        CHECK_NEAR(t.density, 1.0 / n, 0);
        CHECK_NEAR(t.kurtosis, n, 0);
        CHECK_INT_EQ(t.bias, i % 2 ? 0 : 1); /* power has none */
    }
    grid_free(&g);
    job_free(&job);
}

/* The estimate follows each architecture's work (grid.c): check a few
 * formulas exactly and the orderings that follow. Default sizes n = 20,
 * m = 5, B = 1024, 10^4 steps, 10^4 evaluation samples. */
TEST(cost_per_architecture)
{
    static const char *const arch[] = {"linear", "relu_output", "gelu_output",
                                       "relu_hidden", "quadratic", "power"};
    double c[6];
    for (int a = 0; a < 6; a++) {
        char text[128];
        snprintf(text, sizeof text, "settings: {arch: %s}", arch[a]);
        JobSpec *job = parse_ok(text);
        Grid *g = grid_ok(job);
        REQUIRE(g);
        c[a] = grid_task_cost(g, 0);
        grid_free(&g);
        job_free(&job);
    }
    const double opt = 16 * (100 + 20), ev = 1e4 * (4 * 100 + 10 * 20);
    CHECK_NEAR(c[0], 14361200000.0, 0);
    CHECK_NEAR(c[1], c[0], 0);
    CHECK_NEAR(c[2], 1e4 * (10 * 1024 * 100 + 60 * 1024 * 20 + opt) + ev, 0);
    CHECK_NEAR(c[3], 1e4 * (10 * 1024 * 100 + 20 * 1024 * 20 + 4 * 1024 * 5 + opt) + ev, 0);
    CHECK_NEAR(c[4], 1e4 * (4 * 1024 * 100 + 10 * 1024 * 20 + 6 * 1024 * 5 + opt) +
                         1e4 * (2 * 100 + 4 * 20 + 2 * 5), 0);
    CHECK_NEAR(c[5], 1e4 * (10 * 1024 * 100 + 26 * 1024 * 20 + opt) + ev, 0);
    /* population loss: no batch, O(n^2 m) per step */
    JobSpec *job = parse_ok("settings: {arch: quadratic, population_loss: true, "
                            "values: gaussian, unit_variance: true, n: 100, m: 10}");
    Grid *g = grid_ok(job);
    REQUIRE(g);
    CHECK_NEAR(grid_task_cost(g, 0),
               1e4 * (4 * 1e4 * 10 + 10 * 1e4 + 16 * (1000 + 100)) + 1e4 * (2000 + 400 + 20), 0);
    grid_free(&g);
    job_free(&job);
    /* one_hot: a batch of n rows; gaussian values cost more than uniform */
    job = parse_ok("grid: {values: [uniform, gaussian, one_hot]}\nsettings: {n: 50}");
    g = grid_ok(job);
    REQUIRE(g);
    CHECK(grid_task_cost(g, 1) > grid_task_cost(g, 0));
    CHECK(grid_task_cost(g, 2) < grid_task_cost(g, 0) / 10);
    CHECK_NEAR(grid_task_cost(g, 2),
               1e4 * (10 * 50 * 250 + 20 * 50 * 50 + 16 * 300) + 50 * (4 * 250 + 500), 0);
    grid_free(&g);
    job_free(&job);
    /* SGD is cheaper than AdamW, l1 costs a pass over W */
    job = parse_ok("grid: {optimizer: [adamw, sgd]}\nsettings: {momentum: 0.5}");
    g = grid_ok(job);
    REQUIRE(g);
    CHECK_NEAR(grid_task_cost(g, 0) - grid_task_cost(g, 1), 1e4 * 10 * 120, 0);
    grid_free(&g);
    job_free(&job);
}

TEST(cost_formula_and_monotonicity)
{
    /* Defaults n=20, m=5, B=1024, steps=10^4, eval_samples=10^4:
     * 10^4 (10*1024*100 + 20*1024*20 + 16*(100 + 20)) + 10^4 (4*100 + 10*20)
     * = 10^4 * 1435520 + 10^4 * 600 = 14361200000. */
    JobSpec *job = parse_ok("{}");
    Grid *g = grid_ok(job);
    REQUIRE(g);
    CHECK_NEAR(grid_task_cost(g, 0), 14361200000.0, 0);
    grid_free(&g);
    job_free(&job);

    static const char *axes[] = {"n: [5, 20, 100]", "m: [1, 5, 50]", "batch: [1, 64, 4096]",
                                 "steps: [100, 1000, 100000]",
                                 "eval_samples: [1, 1000, 100000]"};
    for (int a = 0; a < 5; a++) {
        char text[128];
        snprintf(text, sizeof(text), "grid: {%s}", axes[a]);
        job = parse_ok(text);
        g = grid_ok(job);
        REQUIRE(g);
        double c0 = grid_task_cost(g, 0), c1 = grid_task_cost(g, 1),
               c2 = grid_task_cost(g, 2);
        if (!(c0 < c1 && c1 < c2))
            fprintf(stderr, "cost not increasing along %s: %g %g %g\n", axes[a], c0, c1, c2);
        CHECK(c0 > 0 && c0 < c1 && c1 < c2);
        grid_free(&g);
        job_free(&job);
    }
}

TEST(maxima_over_the_grid)
{
    JobSpec *job = parse_ok("grid:\n"
                            "  n: [5, 50, 20]\n"
                            "  m: {range: [1, 4]}\n"
                            "  steps: [1000, 3000, 2000]\n"
                            "settings: {log_every: 100}\n");
    Grid *g = grid_ok(job);
    REQUIRE(g);
    CHECK_INT_EQ(grid_max_n(g), 50);
    CHECK_INT_EQ(grid_max_m(g), 3);
    CHECK_INT_EQ(grid_max_log(g), 30);
    /* Against the tasks themselves. */
    int mn = 0, mm = 0, ml = 0;
    for (int64_t i = 0; i < grid_task_count(g); i++) {
        TaskSpec t;
        grid_task_spec(g, i, &t);
        mn = t.n > mn ? t.n : mn;
        mm = t.m > mm ? t.m : mm;
        ml = task_log_count(&t) > ml ? task_log_count(&t) : ml;
    }
    CHECK_INT_EQ(grid_max_n(g), mn);
    CHECK_INT_EQ(grid_max_m(g), mm);
    CHECK_INT_EQ(grid_max_log(g), ml);
    grid_free(&g);
    job_free(&job);
}

TEST(cross_setting_errors)
{
    CHECK_GRID_ERR("settings: {sparsity: 0.5}\ngrid: {density: [0.1]}\n",
                   "g.yaml:2:8: 'density' and 'sparsity' (line 1) are both given; give "
                   "one of them (density = 1 - sparsity)");
    CHECK_GRID_ERR("grid:\n  sparsity: [0.1]\nsettings:\n  density: 0.5\n",
                   "g.yaml:4:12: 'density' and 'sparsity' (line 2) are both given; give "
                   "one of them (density = 1 - sparsity)");
    CHECK_GRID_ERR("grid: {density: [0.5], sparsity: [0.1]}\n",
                   "g.yaml:1:24: 'sparsity' and 'density' (line 1) are both given; give "
                   "one of them (density = 1 - sparsity)");
    CHECK_GRID_ERR("settings:\n  steps: 1050\n",
                   "g.yaml:2:10: steps 1050 is not a multiple of log_every 100");
    CHECK_GRID_ERR("grid:\n  steps: [1000, 1050]\n",
                   "g.yaml:2:3: steps 1050 is not a multiple of log_every 100");
    CHECK_GRID_ERR("settings:\n  log_every: 300\n",
                   "g.yaml:2:14: steps 10000 is not a multiple of log_every 300");
    CHECK_GRID_ERR("settings: {steps: 200000000, log_every: 1}\n",
                   "g.yaml:1:41: steps 200000000 with log_every 1 gives 200000000 "
                   "loss-curve entries, more than 1000000 (raise log_every)");
    CHECK_GRID_ERR("grid:\n  seed: {range: [0, 1000000]}\n  n: {range: [1, 1001]}\n",
                   "g.yaml:3:3: axis 'n' brings the grid to 1000000000 tasks, more than "
                   "the limit of 100000000");
}

/* The rules of the architectures, options and value laws (check.c), each
 * with its exact message; tests/data/jobs/bad/ has one file per rule too. */
TEST(option_rules)
{
    /* power: no bias when given, odd q */
    CHECK_GRID_ERR("settings: {arch: power, bias: true}",
                   "g.yaml:1:31: power has no bias: remove 'bias' or set it to false");
    CHECK_GRID_ERR("grid: {bias: [false, true]}\nsettings: {arch: power}",
                   "g.yaml:1:8: power has no bias: remove 'bias' or set it to false");
    CHECK_GRID_ERR("grid: {q: [3, 5, 6]}\nsettings: {arch: power}",
                   "g.yaml:1:8: q must be odd, got 6");
    CHECK_GRID_ERR("settings: {arch: quadratic, q: 5}",
                   "g.yaml:1:32: q is used only by arch power, which no task has: remove 'q'");
    /* options that are fine: default bias with power, bias false, q with a
     * grid that has power, population_loss false anywhere */
    static const char *const fine[] = {
        "settings: {arch: power}",
        "settings: {arch: power, bias: false, q: 7}",
        "grid: {arch: [linear, power]}\nsettings: {q: 5}",
        "settings: {population_loss: false, unit_variance: false, hidden_noise: none}",
        "grid: {lr_schedule: [constant, warmup_cosine]}\nsettings: {warmup_steps: 10, steps: 100}",
        "grid: {optimizer: [adamw, sgd]}\nsettings: {momentum: 0.9, beta1: 0.8}",
        "settings: {values: gaussian, kurtosis: 3}",
        "settings: {values: one_hot, hidden_noise: gaussian, noise_sigma: 0.5, m: 100}",
        "settings: {arch: quadratic, population_loss: true, values: rademacher, "
        "unit_variance: true, l1: 0.01, eval_samples: 100}",
    };
    for (size_t k = 0; k < sizeof fine / sizeof fine[0]; k++) {
        JobSpec *job = parse_ok(fine[k]);
        Grid *g = grid_ok(job);
        if (!g)
            fprintf(stderr, "refused: %s\n", fine[k]);
        CHECK(g != NULL);
        grid_free(&g);
        job_free(&job);
    }
    /* the population loss */
    CHECK_GRID_ERR("grid: {arch: [quadratic, gelu_output]}\n"
                   "settings: {population_loss: true, values: gaussian, unit_variance: true}",
                   "g.yaml:2:29: population_loss needs arch quadratic, got gelu_output");
    CHECK_GRID_ERR("settings: {arch: quadratic, population_loss: true, values: gaussian}",
                   "g.yaml:1:46: population_loss needs unit_variance: true (the exact loss "
                   "is for unit-variance inputs)");
    CHECK_GRID_ERR("grid: {hidden_noise: [none, gaussian]}\nsettings: {arch: quadratic, "
                   "population_loss: true, values: gaussian, unit_variance: true, "
                   "noise_sigma: 1}",
                   "g.yaml:2:46: population_loss is noise-free: hidden_noise must be none, "
                   "got gaussian");
    CHECK_GRID_ERR("settings: {arch: quadratic, population_loss: true, values: gaussian, "
                   "unit_variance: true, batch: 10}",
                   "g.yaml:1:98: population_loss does not sample batches: remove 'batch'");
    /* value laws */
    CHECK_GRID_ERR("settings: {unit_variance: true}",
                   "g.yaml:1:27: unit_variance needs a symmetric value law (uniform_signed, "
                   "gaussian or rademacher), got values uniform");
    CHECK_GRID_ERR("grid: {values: [one_hot]}\nsettings: {density: 0.5}",
                   "g.yaml:2:21: values one_hot has no density (the data are the n basis "
                   "vectors): remove 'density'");
    CHECK_GRID_ERR("settings: {values: one_hot, batch: 8}",
                   "g.yaml:1:36: values one_hot trains on the full batch of the n basis "
                   "vectors: remove 'batch'");
    CHECK_GRID_ERR("settings: {values: one_hot, eval_samples: 8}",
                   "g.yaml:1:43: values one_hot is evaluated on the n basis vectors: "
                   "remove 'eval_samples'");
    CHECK_GRID_ERR("settings: {kurtosis: 4, sparsity: 0.5}",
                   "g.yaml:1:35: 'sparsity' and 'kurtosis' (line 1) are both given; give "
                   "one of sparsity, density and kurtosis");
    CHECK_GRID_ERR("grid: {kurtosis: [1.5, 4]}",
                   "g.yaml:1:8: kurtosis 1.5 is below 1.8, the kurtosis of dense uniform "
                   "values (the density would exceed 1)");
    /* hidden noise, optimisers, schedules, the neuron window */
    CHECK_GRID_ERR("settings: {hidden_noise: bipolar}",
                   "g.yaml:1:26: hidden_noise bipolar needs noise_sigma > 0, got 0");
    CHECK_GRID_ERR("grid: {noise_sigma: [0.1, 0]}\nsettings: {hidden_noise: gaussian}",
                   "g.yaml:1:8: hidden_noise gaussian needs noise_sigma > 0, got 0");
    CHECK_GRID_ERR("settings: {momentum: 0.5}",
                   "g.yaml:1:22: momentum is used only by optimizer sgd, which no task has: "
                   "remove 'momentum'");
    CHECK_GRID_ERR("settings: {optimizer: sgd, eps: 1e-6}",
                   "g.yaml:1:33: eps is used only by optimizer adamw, which no task has: "
                   "remove 'eps'");
    CHECK_GRID_ERR("settings: {noise_sigma: 0.5}",
                   "g.yaml:1:25: noise_sigma is used only by hidden_noise bipolar or "
                   "gaussian, which no task has: remove 'noise_sigma'");
    CHECK_GRID_ERR("settings: {warmup_steps: 5}",
                   "g.yaml:1:26: warmup_steps is used only by lr_schedule warmup_cosine, "
                   "which no task has: remove 'warmup_steps'");
    CHECK_GRID_ERR("grid: {steps: [100, 1000]}\nsettings: {lr_schedule: warmup_cosine, "
                   "warmup_steps: 100}",
                   "g.yaml:2:54: warmup_steps 100 must be less than steps 100 (lr_schedule "
                   "warmup_cosine)");
    CHECK_GRID_ERR("grid: {neuron_window_hi: [2, 0.5]}",
                   "g.yaml:1:8: neuron_window_lo 0.8 must be less than neuron_window_hi 0.5");
}

/* ---- whole-grid scans ---- */

static uint64_t mask_of(const uint64_t *mask, const char *name)
{
    return mask[job_setting_find(name)];
}

TEST(setting_axes_follow_the_derivations)
{
    /* density and kurtosis follow the sparsity axis; batch, eval_samples and
     * the density of one_hot follow n; bias follows arch (power has none);
     * everything else is the same for every task. */
    JobSpec *job = parse_ok("grid:\n  arch: [relu_output, power]\n  n: [4, 6]\n"
                            "  seed: [0, 1]\nsettings:\n  values: one_hot\n");
    Grid *g = grid_ok(job);
    REQUIRE(g);
    uint64_t mask[256];
    REQUIRE(job_setting_count <= 256);
    REQUIRE(grid_setting_axes(g, mask) == 0);
    CHECK_INT_EQ(mask_of(mask, "bias"), 1u << 0);
    CHECK_INT_EQ(mask_of(mask, "batch"), 1u << 1);
    CHECK_INT_EQ(mask_of(mask, "eval_samples"), 1u << 1);
    CHECK_INT_EQ(mask_of(mask, "density"), 1u << 1);
    CHECK_INT_EQ(mask_of(mask, "sparsity"), 1u << 1);
    CHECK_INT_EQ(mask_of(mask, "m"), 0);
    CHECK_INT_EQ(mask_of(mask, "lr"), 0);
    CHECK_INT_EQ(mask_of(mask, "n"), 0); /* an axis: its own dimension */
    grid_free(&g);
    job_free(&job);

    job = parse_ok("grid:\n  seed: [0, 1, 2]\n  sparsity: [0, 0.5, 0.9]\n"
                   "  values: [uniform, gaussian]\n");
    g = grid_ok(job);
    REQUIRE(g);
    REQUIRE(grid_setting_axes(g, mask) == 0);
    CHECK_INT_EQ(mask_of(mask, "density"), 1u << 1);
    CHECK_INT_EQ(mask_of(mask, "kurtosis"), (1u << 1) | (1u << 2)); /* law and density */
    CHECK_INT_EQ(mask_of(mask, "batch"), 0);
    TaskSpec t;
    grid_task_settings(g, 2, &t); /* seed 0, sparsity 0.5, uniform */
    CHECK(t.key == 0 && grid_spec_setting(&t, job_setting_find("density")) == 0.5);
    grid_free(&g);
    job_free(&job);
}

TEST(shards_partition_the_grid_by_cost)
{
    JobSpec *job = parse_ok("grid:\n  n: [4, 8, 16, 32, 64]\n  m: [2, 3]\n"
                            "  seed: {range: [0, 7]}\n");
    Grid *g = grid_ok(job);
    REQUIRE(g);
    int64_t nt = grid_task_count(g);
    uint32_t of[70], again[70];
    REQUIRE(nt == 70);
    for (int n = 1; n <= 9; n++) {
        REQUIRE(grid_shard_assign(g, n, of) == 0);
        REQUIRE(grid_shard_assign(g, n, again) == 0);
        CHECK(memcmp(of, again, sizeof of) == 0); /* deterministic */
        double load[9] = {0}, biggest = 0;
        for (int64_t i = 0; i < nt; i++) {
            CHECK(of[i] < (uint32_t)n);
            double c = grid_task_cost(g, i);
            load[of[i]] += c;
            if (c > biggest) biggest = c;
        }
        /* Longest processing time first: no shard exceeds the lightest by
         * more than one task. */
        double lo = load[0], hi = load[0];
        for (int k = 1; k < n; k++) {
            lo = load[k] < lo ? load[k] : lo;
            hi = load[k] > hi ? load[k] : hi;
        }
        CHECK(hi - lo <= biggest);
        /* members of each shard are its tasks, and count them */
        for (int k = 1; k <= n; k++) {
            unsigned char member[70];
            int64_t count = -1, want = 0;
            REQUIRE(grid_shard_members(g, k, n, member, &count) == 0);
            for (int64_t i = 0; i < nt; i++) {
                CHECK_INT_EQ(member[i], of[i] == (uint32_t)(k - 1));
                want += member[i];
            }
            CHECK_INT_EQ(count, want);
        }
    }
    /* the two costliest tasks (n = 64, m = 3) go to shards 0 and 1 of 2 */
    REQUIRE(grid_shard_assign(g, 2, of) == 0);
    int c[2] = {0, 0};
    for (int64_t i = 0; i < nt; i++)
        if (grid_task_cost(g, i) == grid_task_cost(g, nt - 1)) c[of[i]]++;
    CHECK(c[0] == 4 && c[1] == 3);
    unsigned char member[70];
    CHECK_INT_EQ(grid_shard_members(g, 0, 3, member, NULL), PS_EINVAL);
    CHECK_INT_EQ(grid_shard_members(g, 4, 3, member, NULL), PS_EINVAL);
    CHECK_INT_EQ(grid_shard_assign(g, 0, of), PS_EINVAL);
    grid_free(&g);
    job_free(&job);
}

HARNESS_MAIN
