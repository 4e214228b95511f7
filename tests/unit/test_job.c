/* test_job.c - the job file parser (job.h): the catalog, good files from
 * strings (every axis form, defaults, the fingerprint text, value text) and
 * one exact message per error rule. Generated axis values are compared with
 * numpy's linspace/geomspace and Python's range (constants below, printed by
 * /usr/bin/python3 with numpy 1.24).
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "polysweep/job.h"
#include "polysweep/polysweep.h"
#include "polysweep/task.h"

#include "harness.h"

static JobSpec *parse_ok(const char *text)
{
    char err[512] = "";
    JobSpec *job = NULL;
    int ret = job_parse("t.yaml", text, strlen(text), &job, err, sizeof(err));
    if (ret != 0)
        fprintf(stderr, "unexpected error %d: %s\n", ret, err);
    return job;
}

/* The parse must fail with exactly this message, and leave *out NULL. */
#define CHECK_ERR(text, expected)                                              \
    do {                                                                       \
        char err_[512] = "";                                                   \
        JobSpec *job_ = (JobSpec *)&err_;                                      \
        int ret_ = job_parse("t.yaml", (text), strlen(text), &job_, err_,      \
                             sizeof(err_));                                    \
        CHECK_INT_EQ(ret_, PS_EINVAL);                                         \
        CHECK(job_ == NULL);                                                   \
        CHECK_STR_EQ(err_, (expected));                                        \
    } while (0)

static int sidx(const char *name)
{
    int s = job_setting_find(name);
    if (s < 0)
        fprintf(stderr, "no setting %s\n", name);
    return s;
}

static const Axis *axis_named(const JobSpec *job, const char *name)
{
    int a = job_axis_of(job, sidx(name));
    return a >= 0 ? &job->axes[a] : NULL;
}

/* ---- the catalog ---- */

TEST(catalog_order_and_fields)
{
    static const struct {
        const char *name;
        size_t offset;
        FieldType field;
    } want[] = {
        {"arch", offsetof(TaskSpec, arch), FIELD_INT},
        {"n", offsetof(TaskSpec, n), FIELD_INT},
        {"m", offsetof(TaskSpec, m), FIELD_INT},
        {"bias", offsetof(TaskSpec, bias), FIELD_INT},
        {"q", offsetof(TaskSpec, q), FIELD_INT},
        {"l1", offsetof(TaskSpec, l1), FIELD_DOUBLE},
        {"hidden_noise", offsetof(TaskSpec, hidden_noise), FIELD_INT},
        {"noise_sigma", offsetof(TaskSpec, noise_sigma), FIELD_DOUBLE},
        {"population_loss", offsetof(TaskSpec, population_loss), FIELD_INT},
        {"values", offsetof(TaskSpec, values), FIELD_INT},
        {"unit_variance", offsetof(TaskSpec, unit_variance), FIELD_INT},
        {"sparsity", offsetof(TaskSpec, sparsity), FIELD_DOUBLE},
        {"density", offsetof(TaskSpec, density), FIELD_DOUBLE},
        {"kurtosis", offsetof(TaskSpec, kurtosis), FIELD_DOUBLE},
        {"importance", offsetof(TaskSpec, importance), FIELD_INT},
        {"importance_rate", offsetof(TaskSpec, importance_rate), FIELD_DOUBLE},
        {"importance_hi", offsetof(TaskSpec, importance_hi), FIELD_DOUBLE},
        {"importance_lo", offsetof(TaskSpec, importance_lo), FIELD_DOUBLE},
        {"init", offsetof(TaskSpec, init), FIELD_INT},
        {"optimizer", offsetof(TaskSpec, optimizer), FIELD_INT},
        {"lr", offsetof(TaskSpec, lr), FIELD_DOUBLE},
        {"lr_schedule", offsetof(TaskSpec, lr_schedule), FIELD_INT},
        {"warmup_steps", offsetof(TaskSpec, warmup_steps), FIELD_INT64},
        {"beta1", offsetof(TaskSpec, beta1), FIELD_DOUBLE},
        {"beta2", offsetof(TaskSpec, beta2), FIELD_DOUBLE},
        {"eps", offsetof(TaskSpec, eps), FIELD_DOUBLE},
        {"momentum", offsetof(TaskSpec, momentum), FIELD_DOUBLE},
        {"weight_decay", offsetof(TaskSpec, weight_decay), FIELD_DOUBLE},
        {"steps", offsetof(TaskSpec, steps), FIELD_INT64},
        {"batch", offsetof(TaskSpec, batch), FIELD_INT},
        {"seed", offsetof(TaskSpec, seed), FIELD_INT64},
        {"log_every", offsetof(TaskSpec, log_every), FIELD_INT},
        {"eval_samples", offsetof(TaskSpec, eval_samples), FIELD_INT},
        {"block_tau", offsetof(TaskSpec, block_tau), FIELD_DOUBLE},
        {"neuron_window_lo", offsetof(TaskSpec, neuron_window_lo), FIELD_DOUBLE},
        {"neuron_window_hi", offsetof(TaskSpec, neuron_window_hi), FIELD_DOUBLE},
        {"save_weights", offsetof(TaskSpec, save_weights), FIELD_INT},
    };
    int n = (int)(sizeof(want) / sizeof(want[0]));
    REQUIRE(job_setting_count == n);
    for (int s = 0; s < n; s++) {
        CHECK_STR_EQ(job_settings[s].name, want[s].name);
        CHECK_INT_EQ(job_settings[s].offset, want[s].offset);
        CHECK_INT_EQ(job_settings[s].field, want[s].field);
        CHECK_INT_EQ(job_setting_find(want[s].name), s);
        CHECK(job_settings[s].help && job_settings[s].help[0]);
        CHECK(!strchr(job_settings[s].help, '\n'));
    }
    CHECK_INT_EQ(job_setting_find("nope"), -1);
    CHECK_INT_EQ(job_setting_find(""), -1);
    /* Only log_every and save_weights shape the dataset. */
    for (int s = 0; s < n; s++)
        CHECK_INT_EQ((job_settings[s].flags & SETTING_FIXED_ONLY) != 0,
                     !strcmp(want[s].name, "log_every") ||
                         !strcmp(want[s].name, "save_weights"));
}

/* Choice lists in the order of task.h's enums, NULL-terminated at _COUNT. */
static void check_choices(const char *setting, int count, const char *const *names)
{
    const Setting *st = &job_settings[sidx(setting)];
    for (int k = 0; k < count; k++)
        CHECK_STR_EQ(st->choices[k], names[k]);
    CHECK(st->choices[count] == NULL);
    CHECK_NEAR(st->hi, count - 1, 0);
    /* the default is the enum's 0 (a zeroed TaskSpec means the defaults) */
    CHECK_NEAR(st->def, strcmp(setting, "arch") ? 0 : ARCH_RELU_OUTPUT, 0);
}

TEST(catalog_enums_follow_task_h)
{
    const Setting *arch = &job_settings[sidx("arch")];
    const Setting *imp = &job_settings[sidx("importance")];
    CHECK_STR_EQ(arch->choices[ARCH_LINEAR], "linear");
    CHECK_STR_EQ(arch->choices[ARCH_RELU_OUTPUT], "relu_output");
    CHECK_STR_EQ(arch->choices[ARCH_GELU_OUTPUT], "gelu_output");
    CHECK_STR_EQ(arch->choices[ARCH_RELU_HIDDEN], "relu_hidden");
    CHECK_STR_EQ(arch->choices[ARCH_QUADRATIC], "quadratic");
    CHECK_STR_EQ(arch->choices[ARCH_POWER], "power");
    CHECK(arch->choices[ARCH_COUNT] == NULL);
    static const char *const values[VALUES_COUNT] = {
        [VALUES_UNIFORM] = "uniform", [VALUES_UNIFORM_SIGNED] = "uniform_signed",
        [VALUES_GAUSSIAN] = "gaussian", [VALUES_RADEMACHER] = "rademacher",
        [VALUES_ONE_HOT] = "one_hot"};
    check_choices("values", VALUES_COUNT, values);
    static const char *const noise[NOISE_COUNT] = {
        [NOISE_NONE] = "none", [NOISE_BIPOLAR] = "bipolar", [NOISE_GAUSSIAN] = "gaussian"};
    check_choices("hidden_noise", NOISE_COUNT, noise);
    static const char *const init[INIT_COUNT] = {[INIT_XAVIER_NORMAL] = "xavier_normal",
                                                 [INIT_NORMAL] = "normal"};
    check_choices("init", INIT_COUNT, init);
    static const char *const opt[OPT_COUNT] = {[OPT_ADAMW] = "adamw", [OPT_SGD] = "sgd"};
    check_choices("optimizer", OPT_COUNT, opt);
    static const char *const sched[SCHED_COUNT] = {
        [SCHED_CONSTANT] = "constant", [SCHED_LINEAR] = "linear", [SCHED_COSINE] = "cosine",
        [SCHED_WARMUP_COSINE] = "warmup_cosine"};
    check_choices("lr_schedule", SCHED_COUNT, sched);
    CHECK_STR_EQ(imp->choices[IMPORTANCE_DECAY], "decay");
    CHECK_STR_EQ(imp->choices[IMPORTANCE_CONSTANT], "constant");
    CHECK_STR_EQ(imp->choices[IMPORTANCE_RANGE], "range");
    CHECK(imp->choices[IMPORTANCE_COUNT] == NULL);
    CHECK_INT_EQ(arch->def, ARCH_RELU_OUTPUT);
    CHECK_INT_EQ(imp->def, IMPORTANCE_CONSTANT);
}

TEST(catalog_defaults_lie_in_their_ranges)
{
    for (int s = 0; s < job_setting_count; s++) {
        const Setting *st = &job_settings[s];
        if (st->type != SET_INT && st->type != SET_REAL)
            continue;
        double v = st->def;
        int lo_ok = (st->flags & SETTING_LO_OPEN) ? v > st->lo : v >= st->lo;
        int hi_ok = (st->flags & SETTING_HI_OPEN) ? v < st->hi : v <= st->hi;
        if (!lo_ok || !hi_ok)
            fprintf(stderr, "default of %s out of range\n", st->name);
        CHECK(lo_ok && hi_ok);
    }
    /* The table of the brief, spot-checked. */
    CHECK_NEAR(job_settings[sidx("n")].def, 20, 0);
    CHECK_NEAR(job_settings[sidx("m")].def, 5, 0);
    CHECK_NEAR(job_settings[sidx("lr")].def, 1e-3, 0);
    CHECK_NEAR(job_settings[sidx("eps")].def, 1e-8, 0);
    CHECK_NEAR(job_settings[sidx("steps")].def, 10000, 0);
    CHECK_NEAR(job_settings[sidx("batch")].def, 1024, 0);
    CHECK_NEAR(job_settings[sidx("seed")].hi, 9007199254740991.0, 0);
    CHECK_NEAR(job_settings[sidx("importance_rate")].def, 0.7, 0);
    CHECK_NEAR(job_settings[sidx("q")].def, 3, 0);
    CHECK_NEAR(job_settings[sidx("block_tau")].def, 0.05, 0);
    CHECK_NEAR(job_settings[sidx("neuron_window_lo")].def, 0.8, 0);
    CHECK_NEAR(job_settings[sidx("neuron_window_hi")].def, 1.2, 0);
    CHECK_NEAR(job_settings[sidx("kurtosis")].def, 1.8, 0); /* dense uniform */
    CHECK_NEAR(job_settings[sidx("l1")].def, 0, 0);
    CHECK_NEAR(job_settings[sidx("momentum")].def, 0, 0);
    CHECK_NEAR(job_settings[sidx("warmup_steps")].def, 0, 0);
    CHECK_NEAR(job_settings[sidx("noise_sigma")].def, 0, 0);
}

TEST(value_text_is_canonical)
{
    char buf[64];
    job_value_text(sidx("n"), 20, buf, sizeof(buf));
    CHECK_STR_EQ(buf, "20");
    job_value_text(sidx("seed"), 9007199254740991.0, buf, sizeof(buf));
    CHECK_STR_EQ(buf, "9007199254740991");
    job_value_text(sidx("sparsity"), 0.1, buf, sizeof(buf));
    CHECK_STR_EQ(buf, "0.1"); /* shortest text that reads back exactly */
    job_value_text(sidx("sparsity"), nextafter(0.1, 1.0), buf, sizeof(buf));
    CHECK_STR_EQ(buf, "0.10000000000000002");
    job_value_text(sidx("sparsity"), 1.0 / 3.0, buf, sizeof(buf));
    CHECK_STR_EQ(buf, "0.3333333333333333");
    /* positional for decimal exponents in [-4, 16), like Python's repr */
    static const struct { double v; const char *text; } reprs[] = {
        {10, "10"}, {1e15, "1000000000000000"}, {1e16, "1e+16"}, {123456.5, "123456.5"},
        {1e-4, "0.0001"}, {1e-5, "1e-05"}, {2.5e-7, "2.5e-07"}, {-3, "-3"}, {0, "0"}};
    for (size_t k = 0; k < sizeof reprs / sizeof reprs[0]; k++) {
        job_value_text(sidx("lr"), reprs[k].v, buf, sizeof(buf));
        CHECK_STR_EQ(buf, reprs[k].text);
    }
    job_value_text(sidx("sparsity"), 0.5, buf, sizeof(buf));
    CHECK_STR_EQ(buf, "0.5");
    job_value_text(sidx("lr"), 1e-3, buf, sizeof(buf));
    CHECK_STR_EQ(buf, "0.001");
    job_value_text(sidx("eps"), 1e-8, buf, sizeof(buf));
    CHECK_STR_EQ(buf, "1e-08");
    job_value_text(sidx("bias"), 1, buf, sizeof(buf));
    CHECK_STR_EQ(buf, "true");
    job_value_text(sidx("bias"), 0, buf, sizeof(buf));
    CHECK_STR_EQ(buf, "false");
    job_value_text(sidx("arch"), ARCH_LINEAR, buf, sizeof(buf));
    CHECK_STR_EQ(buf, "linear");
    job_value_text(sidx("importance"), IMPORTANCE_RANGE, buf, sizeof(buf));
    CHECK_STR_EQ(buf, "range");
    /* Truncation keeps a terminated string. */
    job_value_text(sidx("arch"), ARCH_RELU_OUTPUT, buf, 5);
    CHECK_STR_EQ(buf, "relu");
}

/* ---- good files ---- */

TEST(empty_mapping_gives_defaults)
{
    JobSpec *job = parse_ok("{}\n");
    REQUIRE(job);
    CHECK_STR_EQ(job->path, "t.yaml");
    CHECK_STR_EQ(job->name, "t");
    CHECK_STR_EQ(job->title, "t");
    CHECK_STR_EQ(job->output, "results/t.nc");
    CHECK_STR_EQ(job->text, "{}\n");
    CHECK_INT_EQ(job->naxes, 0);
    for (int s = 0; s < job_setting_count; s++) {
        CHECK_NEAR(job->fixed[s], job_settings[s].def, 0);
        CHECK_INT_EQ(job->set[s], 0);
        CHECK_INT_EQ(job->line[s], 0);
    }
    CHECK_INT_EQ(job->run.threads, 0);
    CHECK_NEAR(job->run.snapshot_every, 60, 0);
    CHECK_NEAR(job->run.checkpoint_every, 300, 0);
    job_free(&job);
    CHECK(job == NULL);
    job_free(&job);
    job_free(NULL);
}

TEST(name_from_path)
{
    char err[256];
    JobSpec *job = NULL;
    REQUIRE(job_parse("jobs/sub/tms.v2.yaml", "{}", 2, &job, err, sizeof(err)) == 0);
    CHECK_STR_EQ(job->name, "tms.v2");
    CHECK_STR_EQ(job->title, "tms.v2");
    CHECK_STR_EQ(job->output, "results/tms.v2.nc");
    job_free(&job);
    REQUIRE(job_parse("quick", "{}", 2, &job, err, sizeof(err)) == 0);
    CHECK_STR_EQ(job->name, "quick");
    job_free(&job);
}

TEST(all_sections)
{
    const char *text =
        "title: \"TMS: n=20, m=5 over sparsity\"\n"
        "description: |\n"
        "  Free text,\n"
        "  ignored.\n"
        "output: out/x.nc\n"
        "grid:\n"
        "  arch: [linear, relu_output]\n"
        "  sparsity: {linspace: [0, 0.9, 10]}\n"
        "settings:\n"
        "  n: 40\n"
        "  m: 1e1\n"
        "  bias: False\n"
        "  importance: decay\n"
        "  lr: 0.01\n"
        "  steps: 2000\n"
        "  seed: 9007199254740991\n"
        "  save_weights: TRUE\n"
        "run:\n"
        "  threads: 2\n"
        "  snapshot_every: 0.5\n"
        "  checkpoint_every: 30\n";
    JobSpec *job = parse_ok(text);
    REQUIRE(job);
    CHECK_STR_EQ(job->title, "TMS: n=20, m=5 over sparsity");
    CHECK_STR_EQ(job->output, "out/x.nc");
    REQUIRE(job->naxes == 2);
    CHECK_INT_EQ(job->axes[0].setting, sidx("arch"));
    CHECK_INT_EQ(job->axes[0].line, 7);
    CHECK_INT_EQ(job->axes[0].col, 3);
    CHECK_INT_EQ(job->axes[1].setting, sidx("sparsity"));
    CHECK_INT_EQ(job->axes[1].count, 10);
    CHECK_NEAR(job->fixed[sidx("n")], 40, 0);
    CHECK_NEAR(job->fixed[sidx("m")], 10, 0);
    CHECK_NEAR(job->fixed[sidx("bias")], 0, 0);
    CHECK_NEAR(job->fixed[sidx("importance")], IMPORTANCE_DECAY, 0);
    CHECK_NEAR(job->fixed[sidx("lr")], 0.01, 0);
    CHECK_NEAR(job->fixed[sidx("steps")], 2000, 0);
    CHECK_NEAR(job->fixed[sidx("seed")], 9007199254740991.0, 0);
    CHECK_NEAR(job->fixed[sidx("save_weights")], 1, 0);
    CHECK_NEAR(job->fixed[sidx("beta1")], 0.9, 0); /* default */
    CHECK_INT_EQ(job->set[sidx("n")], 1);
    CHECK_INT_EQ(job->set[sidx("beta1")], 0);
    CHECK_INT_EQ(job->line[sidx("n")], 10);
    CHECK_INT_EQ(job->col[sidx("n")], 6);
    CHECK_INT_EQ(job->run.threads, 2);
    CHECK_NEAR(job->run.snapshot_every, 0.5, 0);
    CHECK_NEAR(job->run.checkpoint_every, 30, 0);
    job_free(&job);
}

TEST(axis_scalar_and_lists)
{
    JobSpec *job = parse_ok("grid:\n"
                            "  n: 7\n"
                            "  bias: [true, false]\n"
                            "  importance: [range, decay, constant]\n"
                            "  lr:\n"
                            "    - 0.1\n"
                            "    - 1e-3\n");
    REQUIRE(job);
    REQUIRE(job->naxes == 4);
    const Axis *a = axis_named(job, "n");
    REQUIRE(a);
    CHECK_INT_EQ(a->count, 1);
    CHECK_NEAR(a->values[0], 7, 0);
    a = axis_named(job, "bias");
    REQUIRE(a && a->count == 2);
    CHECK_NEAR(a->values[0], 1, 0);
    CHECK_NEAR(a->values[1], 0, 0);
    a = axis_named(job, "importance");
    REQUIRE(a && a->count == 3);
    CHECK_NEAR(a->values[0], IMPORTANCE_RANGE, 0);
    CHECK_NEAR(a->values[1], IMPORTANCE_DECAY, 0);
    CHECK_NEAR(a->values[2], IMPORTANCE_CONSTANT, 0);
    a = axis_named(job, "lr");
    REQUIRE(a && a->count == 2);
    CHECK_NEAR(a->values[0], 0.1, 0);
    CHECK_NEAR(a->values[1], 1e-3, 0);
    CHECK_INT_EQ(a->line, 5);
    CHECK_INT_EQ(job_axis_of(job, sidx("m")), -1);
    CHECK_INT_EQ(job_axis_of(job, sidx("lr")), 3);
    job_free(&job);
}

TEST(linspace_matches_numpy)
{
    /* numpy.linspace(0, 0.9, 10) */
    static const double ref[10] = {0.0, 0.1, 0.2, 0.30000000000000004, 0.4, 0.5,
                                   0.6000000000000001, 0.7000000000000001, 0.8, 0.9};
    JobSpec *job = parse_ok("grid: {sparsity: {linspace: [0, 0.9, 10]}}");
    REQUIRE(job);
    const Axis *a = &job->axes[0];
    REQUIRE(a->count == 10);
    for (int k = 0; k < 10; k++)
        CHECK_NEAR(a->values[k], ref[k], 2.3e-16);
    CHECK(a->values[0] == 0.0);
    CHECK(a->values[9] == 0.9); /* the endpoint exactly */
    job_free(&job);

    /* Integer settings: a linspace that lands on integers is fine. */
    job = parse_ok("grid: {n: {linspace: [10, 100, 10]}, m: {linspace: [3, 3, 1]}}");
    REQUIRE(job);
    for (int k = 0; k < 10; k++)
        CHECK_NEAR(job->axes[0].values[k], 10 * (k + 1), 0);
    CHECK_INT_EQ(job->axes[1].count, 1);
    CHECK_NEAR(job->axes[1].values[0], 3, 0);
    job_free(&job);

    /* Decreasing, and num = 1 gives [start]. */
    job = parse_ok("grid: {lr: {linspace: [1, 0.5, 3]}, beta1: {linspace: [0.5, 0.9, 1]}}");
    REQUIRE(job);
    CHECK_NEAR(job->axes[0].values[0], 1, 0);
    CHECK_NEAR(job->axes[0].values[1], 0.75, 0);
    CHECK_NEAR(job->axes[0].values[2], 0.5, 0);
    CHECK_INT_EQ(job->axes[1].count, 1);
    CHECK_NEAR(job->axes[1].values[0], 0.5, 0);
    job_free(&job);
}

TEST(logspace_matches_numpy_geomspace)
{
    /* numpy.geomspace(0.01, 0.9, 5) and numpy.geomspace(1e-3, 1e3, 7) */
    static const double ref1[5] = {0.01, 0.030800702882410238, 0.09486832980505142,
                                   0.292201123927589, 0.9};
    static const double ref2[7] = {0.001, 0.01, 0.09999999999999999, 1.0, 10.0, 100.0,
                                   1000.0};
    JobSpec *job = parse_ok("grid:\n"
                            "  sparsity: {logspace: [0.01, 0.9, 5]}\n"
                            "  lr: {logspace: [1e-3, 1e3, 7]}\n");
    REQUIRE(job);
    REQUIRE(job->axes[0].count == 5 && job->axes[1].count == 7);
    for (int k = 0; k < 5; k++)
        CHECK_REL(job->axes[0].values[k], ref1[k], 1e-14, 0);
    for (int k = 0; k < 7; k++)
        CHECK_REL(job->axes[1].values[k], ref2[k], 1e-14, 0);
    CHECK(job->axes[0].values[0] == 0.01);
    CHECK(job->axes[0].values[4] == 0.9);
    CHECK(job->axes[1].values[0] == 1e-3);
    CHECK(job->axes[1].values[6] == 1e3);
    job_free(&job);
}

TEST(range_matches_python)
{
    /* list(range(0, 10, 3)), list(range(10, 0, -3)), list(range(2, 5)) */
    JobSpec *job = parse_ok("grid:\n"
                            "  seed: {range: [0, 10, 3]}\n"
                            "  m: {range: [10, 0, -3]}\n"
                            "  n: {range: [2, 5]}\n");
    REQUIRE(job);
    static const double s[] = {0, 3, 6, 9}, m[] = {10, 7, 4, 1}, n[] = {2, 3, 4};
    REQUIRE(job->axes[0].count == 4 && job->axes[1].count == 4 && job->axes[2].count == 3);
    for (int k = 0; k < 4; k++) {
        CHECK_NEAR(job->axes[0].values[k], s[k], 0);
        CHECK_NEAR(job->axes[1].values[k], m[k], 0);
    }
    for (int k = 0; k < 3; k++)
        CHECK_NEAR(job->axes[2].values[k], n[k], 0);
    job_free(&job);
}

TEST(fingerprint_text)
{
    JobSpec *job = parse_ok("grid:\n"
                            "  sparsity: [0, 0.5]\n"
                            "  arch: [linear]\n"
                            "settings: {n: 3, bias: false, lr: 0.1}\n");
    REQUIRE(job);
    char *fp = job_fingerprint_text(job);
    REQUIRE(fp);
    CHECK_STR_EQ(fp, "n=3\n"
                     "m=5\n"
                     "bias=false\n"
                     "q=3\n"
                     "l1=0\n"
                     "hidden_noise=none\n"
                     "noise_sigma=0\n"
                     "population_loss=false\n"
                     "values=uniform\n"
                     "unit_variance=false\n"
                     "density=1\n"
                     "kurtosis=1.8\n"
                     "importance=constant\n"
                     "importance_rate=0.7\n"
                     "importance_hi=1\n"
                     "importance_lo=0.01\n"
                     "init=xavier_normal\n"
                     "optimizer=adamw\n"
                     "lr=0.1\n"
                     "lr_schedule=constant\n"
                     "warmup_steps=0\n"
                     "beta1=0.9\n"
                     "beta2=0.999\n"
                     "eps=1e-08\n"
                     "momentum=0\n"
                     "weight_decay=0.01\n"
                     "steps=10000\n"
                     "batch=1024\n"
                     "seed=0\n"
                     "log_every=100\n"
                     "eval_samples=10000\n"
                     "block_tau=0.05\n"
                     "neuron_window_lo=0.8\n"
                     "neuron_window_hi=1.2\n"
                     "save_weights=false\n"
                     "axis sparsity\n"
                     "axis arch\n");
    /* Axis values, title, output and run do not change it... */
    JobSpec *more = parse_ok("title: other\n"
                             "output: elsewhere.nc\n"
                             "run: {threads: 3}\n"
                             "grid:\n"
                             "  sparsity: {linspace: [0, 0.9, 4]}\n"
                             "  arch: [linear, relu_output]\n"
                             "settings: {n: 3, bias: false, lr: 0.1}\n");
    REQUIRE(more);
    char *fp2 = job_fingerprint_text(more);
    CHECK_STR_EQ(fp2, fp);
    free(fp2);
    job_free(&more);
    /* ...a fixed setting does, and so does the axis order. */
    more = parse_ok("grid: {sparsity: [0], arch: [linear]}\nsettings: {n: 4, bias: false, lr: 0.1}");
    REQUIRE(more);
    fp2 = job_fingerprint_text(more);
    CHECK(fp2 && strcmp(fp, fp2) != 0);
    free(fp2);
    job_free(&more);
    more = parse_ok("grid: {arch: [linear], sparsity: [0]}\nsettings: {n: 3, bias: false, lr: 0.1}");
    REQUIRE(more);
    fp2 = job_fingerprint_text(more);
    CHECK(fp2 && strcmp(fp, fp2) != 0);
    free(fp2);
    job_free(&more);
    free(fp);
    job_free(&job);
}

TEST(numbers_and_booleans)
{
    JobSpec *job = parse_ok("settings:\n"
                            "  n: 2.0\n"
                            "  m: +3\n"
                            "  steps: 1e4\n"
                            "  lr: .5\n"
                            "  weight_decay: -0\n"
                            "  bias: True\n"
                            "  arch: \"linear\"\n"
                            "  importance: 'range'\n");
    REQUIRE(job);
    CHECK_NEAR(job->fixed[sidx("n")], 2, 0);
    CHECK_NEAR(job->fixed[sidx("m")], 3, 0);
    CHECK_NEAR(job->fixed[sidx("steps")], 10000, 0);
    CHECK_NEAR(job->fixed[sidx("lr")], 0.5, 0);
    CHECK(!signbit(job->fixed[sidx("weight_decay")])); /* -0 is 0 */
    CHECK_NEAR(job->fixed[sidx("bias")], 1, 0);
    CHECK_NEAR(job->fixed[sidx("arch")], ARCH_LINEAR, 0);
    CHECK_NEAR(job->fixed[sidx("importance")], IMPORTANCE_RANGE, 0);
    job_free(&job);
    /* Empty sections (and an empty description) are allowed. */
    job = parse_ok("grid:\nsettings:\nrun:\ndescription:\n");
    REQUIRE(job);
    CHECK_INT_EQ(job->naxes, 0);
    job_free(&job);
}

/* ---- errors, one per rule ---- */

TEST(errors_keys)
{
    CHECK_ERR("settings:\n  n: 3\n  stpes: 10\n",
              "t.yaml:3:3: unknown key 'stpes' in settings (did you mean 'steps'?)");
    CHECK_ERR("gird:\n  n: [1]\n", "t.yaml:1:1: unknown key 'gird' (did you mean 'grid'?)");
    CHECK_ERR("run: {thread: 2}\n",
              "t.yaml:1:7: unknown key 'thread' in run (did you mean 'threads'?)");
    CHECK_ERR("grid: {sparsty: [0]}\n",
              "t.yaml:1:8: unknown key 'sparsty' in grid (did you mean 'sparsity'?)");
    CHECK_ERR("settings: {learning_rate: 1}\n",
              "t.yaml:1:12: unknown key 'learning_rate' in settings");
    CHECK_ERR("settings: {Steps: 1}\n",
              "t.yaml:1:12: unknown key 'Steps' in settings (did you mean 'steps'?)");
    CHECK_ERR("colour: red\n", "t.yaml:1:1: unknown key 'colour'");
    CHECK_ERR("settings:\n  n: 1\n  m: 2\n  n: 3\n",
              "t.yaml:4:3: duplicate key 'n' (first given at line 2)");
    CHECK_ERR("title: a\ntitle: b\n", "t.yaml:2:1: duplicate key 'title' (first given at line 1)");
    CHECK_ERR("? [a, b]\n: 3\n", "t.yaml:1:3: keys must be names, got a sequence");
    /* Control characters in user text never break the one-line message. */
    CHECK_ERR("\"a\\nb\": 1\n", "t.yaml:1:1: unknown key 'a?b'");
    CHECK_ERR("abcdefghijabcdefghijabcdefghijabcdefghijabcdefghij: 1\n",
              "t.yaml:1:1: unknown key 'abcdefghijabcdefghijabcdefghijabcdefg...'");
}

TEST(errors_values)
{
    CHECK_ERR("settings: {m: 0}", "t.yaml:1:15: m must be an integer >= 1, got 0");
    CHECK_ERR("settings: {n: 2000000}",
              "t.yaml:1:15: n must be an integer in [1, 1000000], got 2000000");
    CHECK_ERR("settings: {sparsity: 1}",
              "t.yaml:1:22: sparsity must be a number in [0, 1), got 1");
    CHECK_ERR("settings: {density: 0}",
              "t.yaml:1:21: density must be a number in (0, 1], got 0");
    CHECK_ERR("settings: {lr: -1}", "t.yaml:1:16: lr must be a number > 0, got -1");
    CHECK_ERR("settings: {n: twenty}", "t.yaml:1:15: n must be an integer, got 'twenty'");
    CHECK_ERR("settings: {n: 2.5}", "t.yaml:1:15: n must be an integer, got 2.5");
    CHECK_ERR("settings: {n: -0.5}", "t.yaml:1:15: n must be an integer >= 1, got -0.5");
    CHECK_ERR("settings: {n: \"20\"}",
              "t.yaml:1:15: n must be an integer, got the string '20'");
    CHECK_ERR("settings: {lr: '0.1'}",
              "t.yaml:1:16: lr must be a number, got the string '0.1'");
    CHECK_ERR("settings: {bias: maybe}",
              "t.yaml:1:18: bias must be true or false, got 'maybe'");
    CHECK_ERR("settings: {bias: 1}", "t.yaml:1:18: bias must be true or false, got 1");
    CHECK_ERR("settings: {bias: 'true'}",
              "t.yaml:1:18: bias must be true or false, got the string 'true'");
    CHECK_ERR("settings: {sparsity: nan}", "t.yaml:1:22: sparsity must be a number, got 'nan'");
    CHECK_ERR("settings: {sparsity: .inf}",
              "t.yaml:1:22: sparsity must be a number, got '.inf'");
    CHECK_ERR("settings: {lr: 1e400}", "t.yaml:1:16: lr must be a number, got '1e400'");
    CHECK_ERR("settings: {seed: 9007199254740992}",
              "t.yaml:1:18: seed must be an integer in [0, 9007199254740991], got "
              "9007199254740992");
    CHECK_ERR("settings: {importance_hi: 1e31}",
              "t.yaml:1:27: importance_hi must be a number in (0, 1e+30], got 1e31");
    CHECK_ERR("settings: {arch: relu}",
              "t.yaml:1:18: unknown arch 'relu' (expected one of: linear, relu_output, "
              "gelu_output, relu_hidden, quadratic, power; "
              "did you mean 'relu_output'?)");
    CHECK_ERR("settings: {importance: exponential}",
              "t.yaml:1:24: unknown importance 'exponential' (expected one of: decay, "
              "constant, range)");
    CHECK_ERR("settings: {n: [1, 2]}",
              "t.yaml:1:15: n must be a single value here, got a sequence");
    CHECK_ERR("settings:\n  n:\n  m: 3\n", "t.yaml:2:5: n must be an integer, got no value");
    CHECK_ERR("settings: {arch: }",
              "t.yaml:1:18: arch must be one of: linear, relu_output, gelu_output, "
              "relu_hidden, quadratic, power, got no value");
    CHECK_ERR("run: {threads: -1}", "t.yaml:1:16: threads must be an integer >= 0, got -1");
    CHECK_ERR("run: {snapshot_every: 0}",
              "t.yaml:1:23: snapshot_every must be a number > 0, got 0");
    CHECK_ERR("run: {checkpoint_every: x}",
              "t.yaml:1:25: checkpoint_every must be a number, got 'x'");
}

TEST(errors_sections)
{
    CHECK_ERR("grid: 5\n", "t.yaml:1:7: grid must be a mapping of setting names to axes, got a scalar");
    CHECK_ERR("settings: [n]\n",
              "t.yaml:1:11: settings must be a mapping of setting names to values, got a sequence");
    CHECK_ERR("run: on\n", "t.yaml:1:6: run must be a mapping of option names to values, got a scalar");
    CHECK_ERR("title: [a]\n", "t.yaml:1:8: title must be text, got a sequence");
    CHECK_ERR("title:\n", "t.yaml:1:7: title must be text, got no value");
    CHECK_ERR("output: ''\n", "t.yaml:1:9: output must not be empty");
    CHECK_ERR("description: {a: 1}\n", "t.yaml:1:14: description must be text, got a mapping");
}

TEST(errors_axes)
{
    CHECK_ERR("grid: {sparsity: []}", "t.yaml:1:18: axis 'sparsity' is empty");
    CHECK_ERR("grid:\n  sparsity:\n", "t.yaml:2:3: axis 'sparsity' is empty");
    CHECK_ERR("grid: {n: {}}", "t.yaml:1:11: axis 'n' is empty");
    CHECK_ERR("grid: {seed: {range: [5, 1]}}", "t.yaml:1:22: axis 'seed' is empty");
    CHECK_ERR("grid:\n  sparsity: [0.1, 0.5, 0.2, 0.5, 0.1]\n",
              "t.yaml:2:29: duplicate value 0.5 in axis 'sparsity'");
    CHECK_ERR("grid: {sparsity: [-0.0, 0]}", "t.yaml:1:25: duplicate value 0 in axis 'sparsity'");
    CHECK_ERR("grid: {arch: [linear, relu_output, linear]}",
              "t.yaml:1:36: duplicate value linear in axis 'arch'");
    CHECK_ERR("grid: {sparsity: {linspace: [0.5, 0.5, 2]}}",
              "t.yaml:1:19: duplicate value 0.5 in axis 'sparsity'");
    CHECK_ERR("grid: {n: [3]}\nsettings: {n: 4}",
              "t.yaml:2:12: 'n' is both a grid axis (line 1) and a fixed setting");
    CHECK_ERR("settings: {n: 4}\ngrid: {m: [1], n: [3]}",
              "t.yaml:2:16: 'n' is both a fixed setting (line 1) and a grid axis");
    CHECK_ERR("grid: {log_every: [10, 100]}",
              "t.yaml:1:8: log_every cannot be a grid axis (it shapes the dataset)");
    CHECK_ERR("grid: {save_weights: [true, false]}",
              "t.yaml:1:8: save_weights cannot be a grid axis (it shapes the dataset)");
    CHECK_ERR("grid: {n: [1, [2]]}", "t.yaml:1:15: n must be a single value here, got a sequence");
    CHECK_ERR("grid: {n: [1, 0]}", "t.yaml:1:15: n must be an integer >= 1, got 0");
    CHECK_ERR("grid: {arch: [linear, relu]}",
              "t.yaml:1:23: unknown arch 'relu' (expected one of: linear, relu_output, "
              "gelu_output, relu_hidden, quadratic, power; "
              "did you mean 'relu_output'?)");
}

TEST(errors_generators)
{
    CHECK_ERR("grid: {n: {linspace: [1, 10, 3]}}",
              "t.yaml:1:12: n must be an integer, got 5.5 (value 2 of linspace)");
    CHECK_ERR("grid: {sparsity: {linspace: [0, 1, 5]}}",
              "t.yaml:1:19: sparsity must be a number in [0, 1), got 1 (value 5 of linspace)");
    CHECK_ERR("grid: {m: {logspace: [1e-3, 1, 4]}}",
              "t.yaml:1:12: m must be an integer >= 1, got 0.001 (value 1 of logspace)");
    CHECK_ERR("grid: {n: {linspace: [0, 1]}}",
              "t.yaml:1:22: linspace needs [start, stop, num], got 2 values");
    CHECK_ERR("grid: {n: {logspace: 3}}",
              "t.yaml:1:22: logspace needs [start, stop, num], got a scalar");
    CHECK_ERR("grid: {n: {range: [1, 2, 3, 4]}}",
              "t.yaml:1:19: range needs [start, stop] or [start, stop, step], got 4 values");
    CHECK_ERR("grid: {n: {range: [1]}}",
              "t.yaml:1:19: range needs [start, stop] or [start, stop, step], got 1 value");
    CHECK_ERR("grid: {n: {logspace: [0, 1, 3]}}",
              "t.yaml:1:23: logspace start must be a number > 0, got 0");
    CHECK_ERR("grid: {n: {linspace: [a, 1, 3]}}",
              "t.yaml:1:23: linspace start must be a number, got 'a'");
    CHECK_ERR("grid: {n: {linspace: [1, 2, 0]}}",
              "t.yaml:1:29: linspace num must be an integer >= 1, got 0");
    CHECK_ERR("grid: {n: {linspace: [1, 2, 2.5]}}",
              "t.yaml:1:29: linspace num must be an integer, got 2.5");
    CHECK_ERR("grid: {n: {linspace: [1, 2, 2000000]}}",
              "t.yaml:1:29: linspace num must be an integer in [1, 1000000], got 2000000");
    CHECK_ERR("grid: {n: {range: [0, 2, 0]}}", "t.yaml:1:26: range step must not be 0");
    CHECK_ERR("grid: {n: {range: [0.5, 2]}}",
              "t.yaml:1:20: range start must be an integer, got 0.5");
    CHECK_ERR("grid: {seed: {range: [0, 2000000]}}",
              "t.yaml:1:22: range gives 2000000 values, more than 1000000");
    CHECK_ERR("grid: {sparsity: {range: [0, 1]}}",
              "t.yaml:1:19: range needs an integer setting, and sparsity is a number "
              "(use linspace, logspace or a list)");
    CHECK_ERR("grid: {bias: {range: [0, 1]}}",
              "t.yaml:1:15: range cannot generate values of bias (true or false)");
    CHECK_ERR("grid: {arch: {linspace: [0, 1, 2]}}",
              "t.yaml:1:15: linspace cannot generate values of arch (one of: linear, "
              "relu_output, gelu_output, relu_hidden, quadratic, power)");
    CHECK_ERR("grid: {n: {linspce: [1, 2, 2]}}",
              "t.yaml:1:12: unknown generator 'linspce' in axis 'n' (expected one of: "
              "linspace, logspace, range; did you mean 'linspace'?)");
    CHECK_ERR("grid: {n: {geom: [1, 2, 2]}}",
              "t.yaml:1:12: unknown generator 'geom' in axis 'n' (expected one of: "
              "linspace, logspace, range)");
    CHECK_ERR("grid: {n: {linspace: [1, 2, 2], range: [1, 3]}}",
              "t.yaml:1:33: axis 'n' must use exactly one generator (linspace, logspace or "
              "range)");
}

TEST(errors_yaml_and_file)
{
    CHECK_ERR("", "t.yaml:1:1: the job file is empty");
    CHECK_ERR("# only a comment\n", "t.yaml:1:1: the job file is empty");
    CHECK_ERR("---\n", "t.yaml:1:1: the job file is empty");
    CHECK_ERR("hello world\n",
              "t.yaml:1:1: a job file must be a YAML mapping of keys to values, got a scalar");
    CHECK_ERR("- n: 1\n",
              "t.yaml:1:1: a job file must be a YAML mapping of keys to values, got a sequence");
    CHECK_ERR("grid:\n  n: [1, 2\nsettings:\n  m: 1\n",
              "t.yaml:3:9: invalid YAML: did not find expected ',' or ']' (while parsing a "
              "flow sequence started at line 2, column 6)");
    CHECK_ERR("grid:\n\tn: [1]\n",
              "t.yaml:2:1: invalid YAML: a tab character here; YAML indents with spaces only");
    CHECK_ERR("title: \xff\n", "t.yaml:1:8: invalid YAML: invalid leading UTF-8 octet (byte 0xff)");
    CHECK_ERR("title: a\n---\ntitle: b\n",
              "t.yaml:2:1: a job file holds one YAML document, and a second one starts here");
    CHECK_ERR("settings:\n  n: &x 3\n  m: *x\n",
              "t.yaml:2:6: YAML anchors ('&x') are not supported in job files");
    CHECK_ERR("settings: {m: *x}\n", "t.yaml:1:15: YAML aliases ('*x') are not supported in job files");
    CHECK_ERR("settings: {n: !!int 3}\n",
              "t.yaml:1:15: YAML tags ('!!int') are not supported in job files");
    CHECK_ERR("settings: {n: !mine 3}\n",
              "t.yaml:1:15: YAML tags ('!mine') are not supported in job files");
    char deep[200];
    memset(deep, '[', 80);
    memset(deep + 80, ']', 80);
    deep[160] = '\0';
    CHECK_ERR(deep, "t.yaml:1:66: YAML nested deeper than 64 levels");

    /* job_load: a missing file is PS_EIO with strerror's text. */
    char err[512], want[512];
    JobSpec *job = (JobSpec *)&err;
    int ret = job_load("no/such/dir/x.yaml", &job, err, sizeof(err));
    CHECK_INT_EQ(ret, PS_EIO);
    CHECK(job == NULL);
    snprintf(want, sizeof(want), "no/such/dir/x.yaml:1:1: cannot read job file: %s",
             strerror(ENOENT));
    CHECK_STR_EQ(err, want);
    ret = job_load(TESTS_SOURCE_DIR, &job, err, sizeof(err));
    CHECK_INT_EQ(ret, PS_EIO);
    snprintf(want, sizeof(want), "%s:1:1: cannot read job file: %s", TESTS_SOURCE_DIR,
             strerror(EISDIR));
    CHECK_STR_EQ(err, want);
}

TEST(load_reads_a_file)
{
    char path[] = "/tmp/test_job_XXXXXX.yaml";
    int fd = mkstemps(path, 5);
    REQUIRE(fd >= 0);
    const char *text = "settings: {n: 7}\n";
    REQUIRE(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    char err[512];
    JobSpec *job = NULL;
    int ret = job_load(path, &job, err, sizeof(err));
    unlink(path);
    REQUIRE(ret == 0 && job);
    CHECK_STR_EQ(job->text, text);
    CHECK_STR_EQ(job->path, path);
    CHECK_NEAR(job->fixed[sidx("n")], 7, 0);
    job_free(&job);
}

/* ---- writing a job back as text ---- */

TEST(write_text_reads_back_the_same_job)
{
    const char *jobs[] = {
        "{}\n",
        "title: 'say \"hi\" \\ back\tslash, caf\xc3\xa9'\n"
        "output: out dir/x.nc\n"
        "description: dropped\n"
        "grid:\n"
        "  arch: [linear, relu_output, power]\n"
        "  density: {logspace: [1, 0.001, 7]}\n"
        "  lr: {linspace: [0.1, 0.3, 3]}\n"
        "  bias: [false]\n"
        "  seed: {range: [0, 5]}\n"
        "settings:\n"
        "  n: 7\n"
        "  eps: 1e-9\n"
        "  values: uniform_signed\n"
        "  importance: decay\n"
        "run:\n"
        "  threads: 3\n"
        "  snapshot_every: 0.5\n",
    };
    for (size_t k = 0; k < sizeof jobs / sizeof *jobs; k++) {
        JobSpec *a = parse_ok(jobs[k]);
        REQUIRE(a);
        char *text = job_write_text(a, "merged by a test\nsecond line");
        REQUIRE(text);
        CHECK(strncmp(text, "# merged by a test\n# second line\ntitle: ", 39) == 0);
        JobSpec *b = parse_ok(text);
        if (!b) fprintf(stderr, "%s", text);
        REQUIRE(b);
        char *fa = job_fingerprint_text(a), *fb = job_fingerprint_text(b);
        CHECK_STR_EQ(fb, fa);
        CHECK_STR_EQ(b->title, a->title);
        CHECK_STR_EQ(b->output, a->output);
        CHECK_INT_EQ(b->naxes, a->naxes);
        for (int ax = 0; ax < a->naxes && ax < b->naxes; ax++) {
            CHECK_INT_EQ(b->axes[ax].setting, a->axes[ax].setting);
            CHECK_INT_EQ(b->axes[ax].count, a->axes[ax].count);
            for (int v = 0; v < a->axes[ax].count && v < b->axes[ax].count; v++)
                CHECK(memcmp(&b->axes[ax].values[v], &a->axes[ax].values[v], sizeof(double)) == 0);
        }
        for (int st = 0; st < job_setting_count; st++) CHECK_INT_EQ(b->set[st], a->set[st]);
        CHECK(b->run.threads == a->run.threads && b->run.snapshot_every == a->run.snapshot_every &&
              b->run.checkpoint_every == a->run.checkpoint_every);
        free(fa);
        free(fb);
        free(text);
        job_free(&a);
        job_free(&b);
    }
}

HARNESS_MAIN
