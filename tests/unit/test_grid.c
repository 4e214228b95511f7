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

HARNESS_MAIN
