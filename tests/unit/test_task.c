/* test_task.c - the result catalog, TaskResult, its byte format (pack /
 * unpack) and task_run on tiny tasks.
 *
 * The byte format is checked against an encoder written here from the format
 * description in src/task/pack.c, so pack and unpack are not only tested
 * against each other. Unpack is fed every truncation and every single-byte
 * corruption of valid buffers (run this suite under the ASan build too).
 */
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#define TEST_RNG_SEED 0x0123456789abcdefull
#include "test_random.h"
#include "polysweep/data.h"
#include "polysweep/polysweep.h"
#include "polysweep/task.h"

/* ---- helpers ---- */

static uint64_t bits_of(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}
static double from_bits(uint64_t u)
{
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

static size_t result_total(const TaskResult *r)
{
    size_t total = 0;
    for (int v = 0; v < RV_COUNT; v++) total += result_len(v, r->n, r->m, r->nlog);
    return total;
}

/* Same sizes, status, reason, and every value bit for bit. */
static int results_identical(const TaskResult *a, const TaskResult *b, int skip_wall)
{
    if (a->n != b->n || a->m != b->m || a->nlog != b->nlog || a->status != b->status ||
        strcmp(a->reason, b->reason) != 0)
        return 0;
    for (int v = 0; v < RV_COUNT; v++) {
        if (skip_wall && v == RV_WALL_TIME) continue;
        size_t len = result_len(v, a->n, a->m, a->nlog);
        if (len && memcmp(a->val[v], b->val[v], len * sizeof(double)) != 0) return 0;
    }
    return 1;
}

/* The defaults of the job file (relu_output, AdamW lr 1e-3, ...). */
static TaskSpec spec_default(void)
{
    TaskSpec t;
    memset(&t, 0, sizeof t);
    t.arch = ARCH_RELU_OUTPUT;
    t.n = 6;
    t.m = 3;
    t.bias = 1;
    t.sparsity = 0.0;
    t.density = 1.0;
    t.importance = IMPORTANCE_CONSTANT;
    t.importance_rate = 0.7;
    t.importance_hi = 1.0;
    t.importance_lo = 0.01;
    t.lr = 1e-3;
    t.beta1 = 0.9;
    t.beta2 = 0.999;
    t.eps = 1e-8;
    t.weight_decay = 0.01;
    t.steps = 10000;
    t.batch = 1024;
    t.seed = 0;
    t.log_every = 100;
    t.eval_samples = 10000;
    t.save_weights = 0;
    t.key = 0x5eed5eed12345678ull;
    return t;
}

/* The tiny task of the brief: linear, n = 6, m = 3, 200 steps of 64. */
static TaskSpec spec_tiny(void)
{
    TaskSpec t = spec_default();
    t.arch = ARCH_LINEAR;
    t.steps = 200;
    t.batch = 64;
    t.log_every = 50;
    return t;
}

/* A result of sizes (n, m, nlog) with random contents: random finite
 * values, random bit patterns (many are NaNs with payloads), infinities,
 * signed zeros, and a few variables left at the canonical NaN. */
static TaskResult *random_result(int n, int m, int nlog)
{
    TaskResult *r = NULL;
    if (task_result_create(n, m, nlog, &r)) return NULL;
    for (int v = 0; v < RV_COUNT; v++) {
        if (rng_u64() % 5 == 0) continue; // stays canonical NaN
        size_t len = result_len(v, n, m, nlog);
        for (size_t k = 0; k < len; k++) {
            switch (rng_u64() % 6) {
            case 0: r->val[v][k] = from_bits(rng_u64()); break;
            case 1: r->val[v][k] = from_bits(0x7ff0000000000000ull | (rng_u64() >> 12) | 1); break;
            case 2: r->val[v][k] = -0.0; break;
            case 3: r->val[v][k] = (rng_u64() & 1) ? INFINITY : -INFINITY; break;
            default: r->val[v][k] = (double)(int64_t)rng_u64() * 0x1.0p-60; break;
            }
        }
    }
    return r;
}

/* ---- an independent encoder of the documented byte format ---- */

typedef struct Buf { unsigned char *p; size_t len, cap; } Buf;
static void buf_put(Buf *b, const void *src, size_t len)
{
    if (b->len + len > b->cap) {
        b->cap = (b->len + len) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, src, len);
    b->len += len;
}
static void buf_u32(Buf *b, uint32_t v)
{
    unsigned char s[4] = {v & 255, (v >> 8) & 255, (v >> 16) & 255, v >> 24};
    buf_put(b, s, 4);
}
static void buf_u64(Buf *b, uint64_t v)
{
    buf_u32(b, (uint32_t)v);
    buf_u32(b, (uint32_t)(v >> 32));
}
static void buf_header(Buf *b, uint32_t status, uint32_t n, uint32_t m, uint32_t nlog,
                       const char *reason, uint32_t nvar)
{
    buf_put(b, "PSTR", 4);
    buf_u32(b, 1);
    buf_u32(b, status);
    buf_u32(b, n);
    buf_u32(b, m);
    buf_u32(b, nlog);
    buf_u32(b, (uint32_t)strlen(reason));
    buf_put(b, reason, strlen(reason));
    buf_u32(b, nvar);
}
static void buf_var(Buf *b, const char *name, const double *x, uint64_t count)
{
    buf_u32(b, (uint32_t)strlen(name));
    buf_put(b, name, strlen(name));
    buf_u64(b, count);
    for (uint64_t k = 0; k < count; k++) buf_u64(b, bits_of(x[k]));
}

/* ---- catalog and container ---- */

TEST(catalog_sanity)
{
    for (int v = 0; v < RV_COUNT; v++) {
        const ResultVar *rv = &result_vars[v];
        REQUIRE(rv->name && rv->long_name && rv->units);
        CHECK(strlen(rv->name) > 0 && strlen(rv->long_name) > 0 && strlen(rv->units) > 0);
        // a valid NetCDF / Python identifier
        CHECK(isalpha((unsigned char)rv->name[0]));
        for (const char *c = rv->name; *c; c++) CHECK(isalnum((unsigned char)*c) || *c == '_');
        for (int w = 0; w < v; w++) CHECK(strcmp(rv->name, result_vars[w].name) != 0);
        CHECK(rv->shape >= SHAPE_TASK && rv->shape <= SHAPE_BLOCK);
        CHECK(rv->type == RTYPE_DOUBLE || rv->type == RTYPE_FLOAT || rv->type == RTYPE_INT);
        CHECK((rv->flags & ~(RV_NONDETERMINISTIC | RV_WEIGHTS)) == 0);
    }
    // the enum and the table agree (the catalog grows; these names are fixed)
    static const struct { int v; const char *name; } fixed[] = {
        {RV_FINAL_LOSS, "final_loss"}, {RV_EVAL_LOSS, "eval_loss"},
        {RV_FROBENIUS2, "frobenius2"}, {RV_DIMS_PER_FEATURE, "dims_per_feature"},
        {RV_CAPACITY_SUM, "capacity_sum"}, {RV_REPRESENTED, "represented"},
        {RV_WALL_TIME, "wall_time"}, {RV_RANK, "rank"}, {RV_NORM, "norm"},
        {RV_CAPACITY, "capacity"}, {RV_SUPERPOSITION, "superposition"},
        {RV_FEATURE_BIAS, "feature_bias"}, {RV_FEATURE_IMPORTANCE, "feature_importance"},
        {RV_LOSS_CURVE, "loss_curve"}, {RV_W, "W"}, {RV_B, "b"},
        {RV_BLOCK_COUNT, "block_count"}, {RV_BLOCK_LARGEST, "block_largest"},
        {RV_POLYSEMANTIC_NEURONS, "polysemantic_neurons"},
        {RV_INPUT_KURTOSIS, "input_kurtosis"}, {RV_PREDICTED_LOSS, "predicted_loss"},
        {RV_QUADRATIC_BIAS, "quadratic_bias"}, {RV_POWER_GAIN, "power_gain"},
        {RV_POWER_GAIN_BASELINE, "power_gain_baseline"},
        {RV_FEATURE_BLOCK, "feature_block"}, {RV_FOURTH_NORM_RATIO, "fourth_norm_ratio"},
        {RV_PREDICTED_CAPACITY, "predicted_capacity"},
        {RV_NEURON_FEATURES, "neuron_features"},
        {RV_NEURON_PARTICIPATION, "neuron_participation"}, {RV_BLOCK_SIZE, "block_size"},
        {RV_BLOCK_CAPACITY, "block_capacity"}, {RV_BLOCK_RESIDUAL, "block_residual"}};
    for (size_t k = 0; k < sizeof fixed / sizeof fixed[0]; k++)
        CHECK_STR_EQ(result_vars[fixed[k].v].name, fixed[k].name);
    CHECK_INT_EQ(result_vars[RV_REPRESENTED].type, RTYPE_INT);
    CHECK_STR_EQ(result_vars[RV_WALL_TIME].units, "s");
    CHECK_INT_EQ(result_vars[RV_WALL_TIME].flags, RV_NONDETERMINISTIC);
    CHECK_INT_EQ(result_vars[RV_W].flags, RV_WEIGHTS);
    CHECK_INT_EQ(result_vars[RV_B].flags, RV_WEIGHTS);
    CHECK_INT_EQ(result_vars[RV_W].shape, SHAPE_WEIGHTS);
    CHECK_INT_EQ(result_vars[RV_LOSS_CURVE].shape, SHAPE_CURVE);
    CHECK_INT_EQ(result_vars[RV_NORM].shape, SHAPE_FEATURE);
    // counts are ints; per-block values have the block shape
    const int counts[] = {RV_BLOCK_COUNT, RV_BLOCK_LARGEST, RV_POLYSEMANTIC_NEURONS,
                          RV_FEATURE_BLOCK, RV_NEURON_FEATURES, RV_BLOCK_SIZE};
    for (size_t k = 0; k < sizeof counts / sizeof *counts; k++)
        CHECK_INT_EQ(result_vars[counts[k]].type, RTYPE_INT);
    CHECK_INT_EQ(result_vars[RV_BLOCK_SIZE].shape, SHAPE_BLOCK);
    CHECK_INT_EQ(result_vars[RV_BLOCK_CAPACITY].shape, SHAPE_BLOCK);
    CHECK_INT_EQ(result_vars[RV_BLOCK_RESIDUAL].shape, SHAPE_BLOCK);
    CHECK_INT_EQ(result_vars[RV_NEURON_FEATURES].shape, SHAPE_NEURON);
    CHECK_INT_EQ(result_vars[RV_FEATURE_BLOCK].shape, SHAPE_FEATURE);
    for (int v = 0; v < RV_COUNT; v++)
        if (v != RV_W && v != RV_B) CHECK_INT_EQ(result_vars[v].flags & RV_WEIGHTS, 0);
}

TEST(result_len_per_shape)
{
    int n = 7, m = 3, nlog = 5;
    for (int v = 0; v < RV_COUNT; v++) {
        size_t want = 0;
        switch (result_vars[v].shape) {
        case SHAPE_TASK: want = 1; break;
        case SHAPE_FEATURE: want = 7; break;
        case SHAPE_NEURON: want = 3; break;
        case SHAPE_CURVE: want = 5; break;
        case SHAPE_WEIGHTS: want = 21; break;
        case SHAPE_BLOCK: want = 7; break; // at most n blocks
        }
        CHECK_INT_EQ(result_len(v, n, m, nlog), want);
    }
    CHECK_INT_EQ(result_len(RV_FINAL_LOSS, n, m, nlog), 1);
    CHECK_INT_EQ(result_len(RV_NORM, n, m, nlog), 7);
    CHECK_INT_EQ(result_len(RV_LOSS_CURVE, n, m, nlog), 5);
    CHECK_INT_EQ(result_len(RV_W, n, m, nlog), 21);
    CHECK_INT_EQ(result_len(RV_B, n, m, nlog), 7);
    CHECK_INT_EQ(result_len(RV_BLOCK_RESIDUAL, n, m, nlog), 7);
    CHECK_INT_EQ(result_len(RV_NEURON_PARTICIPATION, n, m, nlog), 3);
    CHECK_INT_EQ(result_len(-1, n, m, nlog), 0);
    CHECK_INT_EQ(result_len(RV_COUNT, n, m, nlog), 0);
}

TEST(result_create_free)
{
    TaskResult *r = NULL;
    REQUIRE(task_result_create(7, 3, 5, &r) == 0 && r);
    CHECK_INT_EQ(r->status, TASK_PENDING);
    CHECK_STR_EQ(r->reason, "");
    CHECK(r->n == 7 && r->m == 3 && r->nlog == 5);
    // val[] are consecutive slices of the one allocation, all NaN
    const double *p = r->storage;
    for (int v = 0; v < RV_COUNT; v++) {
        CHECK(r->val[v] == p);
        size_t len = result_len(v, 7, 3, 5);
        for (size_t k = 0; k < len; k++) CHECK(isnan(r->val[v][k]));
        p += len;
    }
    CHECK_INT_EQ(p - r->storage, result_total(r));
    task_result_free(&r);
    CHECK(r == NULL);
    task_result_free(&r); // NULL-safe
    task_result_free(NULL);
    CHECK_INT_EQ(task_result_create(-1, 3, 5, &r), PS_EINVAL);
    CHECK(r == NULL);
    REQUIRE(task_result_create(0, 0, 0, &r) == 0 && r);
    task_result_free(&r);
}

/* ---- pack / unpack ---- */

TEST(pack_matches_documented_format)
{
    // A small result packed by the library equals the bytes written here
    // from the format description; only present variables are written.
    TaskResult *r = NULL;
    REQUIRE(task_result_create(2, 1, 3, &r) == 0);
    r->status = TASK_FAILED;
    strcpy(r->reason, "loss is nan at step 7");
    r->val[RV_LOSS_CURVE][0] = 0.5;
    r->val[RV_LOSS_CURVE][1] = -0.0; // a NaN-free but odd value
    r->val[RV_WALL_TIME][0] = 1.25;
    unsigned char *buf = NULL;
    size_t len = 0;
    REQUIRE(task_result_pack(r, &buf, &len) == 0);

    Buf want = {0};
    buf_header(&want, TASK_FAILED, 2, 1, 3, "loss is nan at step 7", 2);
    buf_var(&want, "wall_time", r->val[RV_WALL_TIME], 1);
    buf_var(&want, "loss_curve", r->val[RV_LOSS_CURVE], 3);
    CHECK_INT_EQ(len, want.len);
    CHECK(len == want.len && memcmp(buf, want.p, len) == 0);
    // little-endian on the wire: the status word is 02 00 00 00
    CHECK(buf[8] == 2 && buf[9] == 0 && buf[10] == 0 && buf[11] == 0);
    free(want.p);
    free(buf);
    task_result_free(&r);
}

TEST(pack_roundtrip_bit_exact)
{
    int sizes[][3] = {{6, 3, 4}, {1, 1, 1}, {40, 7, 100}, {5, 2, 0}, {0, 0, 0}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (int rep = 0; rep < 20; rep++) {
            TaskResult *r = random_result(sizes[s][0], sizes[s][1], sizes[s][2]);
            REQUIRE(r);
            r->status = (int)(rng_u64() % 3);
            if (r->status == TASK_FAILED)
                strcpy(r->reason, "loss is inf at step 123 (lr too high?)");
            if (rep == 0) // the longest reason that fits
                memset(r->reason, 'x', TASK_REASON_LEN - 1), r->reason[TASK_REASON_LEN - 1] = 0;
            unsigned char *buf = NULL, *buf2 = NULL;
            size_t len = 0, len2 = 0;
            TaskResult *back = NULL;
            REQUIRE(task_result_pack(r, &buf, &len) == 0);
            REQUIRE(task_result_unpack(buf, len, &back) == 0 && back);
            CHECK(results_identical(r, back, 0));
            CHECK_INT_EQ(back->status, r->status);
            CHECK_STR_EQ(back->reason, r->reason);
            REQUIRE(task_result_pack(back, &buf2, &len2) == 0);
            CHECK(len == len2 && memcmp(buf, buf2, len) == 0);
            free(buf);
            free(buf2);
            task_result_free(&back);
            task_result_free(&r);
        }
    }
}

TEST(pack_keeps_noncanonical_nan)
{
    // A variable that is all NaN, but not the canonical NaN, must be written
    // (only untouched variables may be left out).
    TaskResult *r = NULL, *back = NULL;
    REQUIRE(task_result_create(3, 2, 2, &r) == 0);
    double odd = from_bits(0xfff8000000000123ull); // negative quiet NaN, payload
    for (int i = 0; i < 3; i++) r->val[RV_NORM][i] = odd;
    unsigned char *buf = NULL;
    size_t len = 0;
    REQUIRE(task_result_pack(r, &buf, &len) == 0);
    REQUIRE(task_result_unpack(buf, len, &back) == 0);
    for (int i = 0; i < 3; i++) CHECK(bits_of(back->val[RV_NORM][i]) == 0xfff8000000000123ull);
    CHECK(results_identical(r, back, 0));
    free(buf);
    task_result_free(&back);
    task_result_free(&r);
}

TEST(unpack_every_truncation_fails)
{
    TaskResult *r = random_result(9, 4, 6);
    REQUIRE(r);
    r->status = TASK_FAILED;
    strcpy(r->reason, "loss is nan at step 17");
    for (int v = 0; v < RV_COUNT; v++) // all present, so every record is cut somewhere
        if (isnan(r->val[v][0])) r->val[v][0] = 1.0;
    unsigned char *buf = NULL;
    size_t len = 0;
    REQUIRE(task_result_pack(r, &buf, &len) == 0);
    for (size_t cut = 0; cut < len; cut++) {
        // a fresh allocation of exactly `cut` bytes, so ASan sees any overread
        unsigned char *t = malloc(cut ? cut : 1);
        memcpy(t, buf, cut);
        static TaskResult sentinel;
        TaskResult *back = &sentinel; // must be reset to NULL
        int rc = task_result_unpack(t, cut, &back);
        if (rc != PS_EFORMAT) HARNESS_FAIL_AT("truncation to %zu bytes: rc %d", cut, rc);
        CHECK(back == NULL);
        free(t);
    }
    // one byte too many is also an error
    unsigned char *t = malloc(len + 1);
    memcpy(t, buf, len);
    t[len] = 0;
    TaskResult *back = NULL;
    CHECK_INT_EQ(task_result_unpack(t, len + 1, &back), PS_EFORMAT);
    CHECK(back == NULL);
    CHECK_INT_EQ(task_result_unpack(NULL, 0, &back), PS_EFORMAT);
    free(t);
    free(buf);
    task_result_free(&r);
}

TEST(unpack_corrupted_bytes)
{
    // Every single-byte corruption either still parses or is PS_EFORMAT;
    // never a crash or an out-of-bounds read (the ASan build checks that).
    TaskResult *r = random_result(5, 2, 3);
    REQUIRE(r);
    strcpy(r->reason, "abc");
    unsigned char *buf = NULL;
    size_t len = 0;
    REQUIRE(task_result_pack(r, &buf, &len) == 0);
    unsigned char xors[] = {0x01, 0x80, 0xff};
    int parsed = 0, rejected = 0;
    for (size_t k = 0; k < len; k++)
        for (size_t x = 0; x < sizeof xors; x++) {
            unsigned char *t = malloc(len);
            memcpy(t, buf, len);
            t[k] ^= xors[x];
            TaskResult *back = NULL;
            int rc = task_result_unpack(t, len, &back);
            if (rc == 0) {
                parsed++;
                CHECK(back != NULL);
            } else {
                rejected++;
                CHECK_INT_EQ(rc, PS_EFORMAT);
                CHECK(back == NULL);
            }
            task_result_free(&back);
            free(t);
        }
    CHECK(parsed > 0 && rejected > 0); // values parse, framing does not
    free(buf);
    task_result_free(&r);
}

TEST(unpack_rejects_bad_headers_and_records)
{
    double one[7] = {1, 2, 3, 4, 5, 6, 7};
    struct { const char *what; Buf b; } cases[10];
    int nc = 0;
    memset(cases, 0, sizeof cases);
#define CASE(label) (cases[nc].what = label, &cases[nc++].b)
    Buf *b;
    b = CASE("bad magic");
    buf_header(b, 1, 3, 2, 1, "", 0);
    b->p[0] = 'Q';
    b = CASE("future format version");
    buf_header(b, 1, 3, 2, 1, "", 0);
    b->p[4] = 2;
    b = CASE("status out of range");
    buf_header(b, 7, 3, 2, 1, "", 0);
    b = CASE("negative n");
    buf_header(b, 1, 0xffffffffu, 2, 1, "", 0);
    b = CASE("absurd sizes");
    buf_header(b, 1, 0x7fffffff, 0x7fffffff, 1, "", 0);
    b = CASE("reason too long");
    {
        char longr[TASK_REASON_LEN + 1];
        memset(longr, 'r', TASK_REASON_LEN);
        longr[TASK_REASON_LEN] = 0;
        buf_header(b, 2, 3, 2, 1, longr, 0);
    }
    b = CASE("count does not match the sizes");
    buf_header(b, 1, 3, 2, 1, "", 1);
    buf_var(b, "norm", one, 4);
    b = CASE("variable twice");
    buf_header(b, 1, 3, 2, 1, "", 2);
    buf_var(b, "final_loss", one, 1);
    buf_var(b, "final_loss", one, 1);
    b = CASE("count beyond the buffer");
    buf_header(b, 1, 3, 2, 1, "", 1);
    buf_u32(b, 3);
    buf_put(b, "foo", 3);
    buf_u64(b, (uint64_t)1 << 61); // 8 * count wraps to 0 in 64 bits
    b = CASE("fewer records than announced");
    buf_header(b, 1, 3, 2, 1, "", 2);
    buf_var(b, "final_loss", one, 1);
#undef CASE
    for (int c = 0; c < nc; c++) {
        TaskResult *back = NULL;
        int rc = task_result_unpack(cases[c].b.p, cases[c].b.len, &back);
        if (rc != PS_EFORMAT) HARNESS_FAIL_AT("%s: rc %d, expected PS_EFORMAT", cases[c].what, rc);
        CHECK(back == NULL);
        free(cases[c].b.p);
    }
}

TEST(unpack_skips_unknown_variables)
{
    // A buffer from a "future version": an unknown variable between known
    // ones, known ones in a different order, some missing.
    double loss = 0.125, fut[3] = {7, 8, 9}, norm[3] = {0.5, 1.5, -0.0};
    double curve[2] = {1.0, 0.75};
    Buf b = {0};
    buf_header(&b, TASK_DONE, 3, 2, 2, "", 4);
    buf_var(&b, "norm", norm, 3);
    buf_var(&b, "future_metric", fut, 3);
    buf_var(&b, "final_loss", &loss, 1);
    buf_var(&b, "loss_curve", curve, 2);
    TaskResult *r = NULL;
    REQUIRE(task_result_unpack(b.p, b.len, &r) == 0 && r);
    CHECK_INT_EQ(r->status, TASK_DONE);
    CHECK(r->n == 3 && r->m == 2 && r->nlog == 2);
    CHECK(r->val[RV_FINAL_LOSS][0] == 0.125);
    for (int i = 0; i < 3; i++) CHECK(bits_of(r->val[RV_NORM][i]) == bits_of(norm[i]));
    CHECK(r->val[RV_LOSS_CURVE][0] == 1.0 && r->val[RV_LOSS_CURVE][1] == 0.75);
    // missing ones are NaN
    CHECK(isnan(r->val[RV_EVAL_LOSS][0]));
    for (int i = 0; i < 3; i++) CHECK(isnan(r->val[RV_CAPACITY][i]));
    for (int k = 0; k < 6; k++) CHECK(isnan(r->val[RV_W][k]));
    task_result_free(&r);
    free(b.p);

    // an unknown variable with zero values, and one last in the buffer
    Buf c = {0};
    buf_header(&c, TASK_PENDING, 1, 1, 1, "", 2);
    buf_var(&c, "empty_thing", NULL, 0);
    buf_var(&c, "last_thing", fut, 2);
    REQUIRE(task_result_unpack(c.p, c.len, &r) == 0 && r);
    CHECK(isnan(r->val[RV_FINAL_LOSS][0]));
    task_result_free(&r);
    free(c.p);
}

/* ---- task_run (needs the train, model, data and kernels modules) ---- */

static TaskResult *run_ok(const TaskSpec *t)
{
    TaskResult *r = NULL;
    int rc = task_run(t, &r);
    CHECK_INT_EQ(rc, 0);
    CHECK(r != NULL);
    return r;
}

static int all_nan(const TaskResult *r, int v)
{
    size_t len = result_len(v, r->n, r->m, r->nlog);
    for (size_t k = 0; k < len; k++)
        if (!isnan(r->val[v][k])) return 0;
    return 1;
}

/* Checks every done result must pass, whatever the task. */
static void check_done_result(const TaskSpec *t, const TaskResult *r)
{
    int n = t->n, m = t->m;
    CHECK_INT_EQ(r->status, TASK_DONE);
    CHECK_STR_EQ(r->reason, "");
    CHECK(r->n == n && r->m == m && r->nlog == task_log_count(t));
    for (int k = 0; k < r->nlog; k++) {
        CHECK(isfinite(r->val[RV_LOSS_CURVE][k]));
        CHECK(r->val[RV_LOSS_CURVE][k] >= 0.0);
    }
    // final_loss is the last window of the curve, exactly
    CHECK(r->val[RV_FINAL_LOSS][0] == r->val[RV_LOSS_CURVE][r->nlog - 1]);
    CHECK(isfinite(r->val[RV_EVAL_LOSS][0]) && r->val[RV_EVAL_LOSS][0] > 0.0);
    double sum_norm2 = 0, sum_cap = 0;
    int represented = 0;
    for (int i = 0; i < n; i++) {
        double nm = r->val[RV_NORM][i], c = r->val[RV_CAPACITY][i],
               s = r->val[RV_SUPERPOSITION][i];
        CHECK(isfinite(nm) && nm >= 0.0);
        CHECK(c >= 0.0 && c <= 1.0);
        CHECK(isfinite(s) && s >= 0.0);
        CHECK(isfinite(r->val[RV_FEATURE_BIAS][i]));
        sum_norm2 += nm * nm;
        sum_cap += c;
        represented += nm > 0.5;
    }
    double frob = r->val[RV_FROBENIUS2][0];
    CHECK_REL(frob, sum_norm2, 1e-12, 1e-300);
    CHECK_REL(r->val[RV_DIMS_PER_FEATURE][0], m / frob, 1e-15, 1e-300);
    CHECK_REL(r->val[RV_CAPACITY_SUM][0], sum_cap, 1e-12, 1e-300);
    CHECK(r->val[RV_CAPACITY_SUM][0] <= (m < n ? m : n) + 1e-9); // CAP: <= rank(W)
    CHECK(r->val[RV_REPRESENTED][0] == represented);
    // importances are the data module's, exactly
    double *I = malloc(sizeof(double) * (n ? n : 1));
    data_importance(t, I);
    for (int i = 0; i < n; i++) CHECK(r->val[RV_FEATURE_IMPORTANCE][i] == I[i]);
    free(I);
    double wall = r->val[RV_WALL_TIME][0];
    CHECK(isfinite(wall) && wall > 0.0 && wall < 600.0);
    if (!t->save_weights) {
        CHECK(all_nan(r, RV_W));
        CHECK(all_nan(r, RV_B));
    }
}

/* The linear model x' = W^T W x + b of a result (save_weights) under
 * U[0, 1)^n inputs and importances 1 (TMS section 2): its population loss,
 * in closed form - the error e = A x + b, A = W^T W - I, is affine in
 * independent coordinates of mean 1/2 and variance 1/12, so
 * E e_i^2 = (A 1/2 + b)_i^2 + (1/12) sum_j A_ij^2, and the loss is their
 * mean over i - and the standard deviation of one example's loss
 * (1/n) sum_i e_i^2, from N examples of this file's own generator (its
 * relative error is about sqrt((kurtosis - 1) / 4N): under 1% for N = 20000). */
static double linear_population(const TaskResult *r, int N, double *sd)
{
    const int n = r->n, m = r->m;
    const double *W = r->val[RV_W], *b = r->val[RV_B];
    double A[64], mean = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double g = 0;
            for (int k = 0; k < m; k++) g += W[k * n + i] * W[k * n + j];
            A[i * n + j] = g - (i == j);
        }
    for (int i = 0; i < n; i++) {
        double mu = b[i], v = 0;
        for (int j = 0; j < n; j++) mu += 0.5 * A[i * n + j], v += A[i * n + j] * A[i * n + j] / 12;
        mean += (mu * mu + v) / n;
    }
    double s1 = 0, s2 = 0, x[8];
    for (int e = 0; e < N; e++) {
        for (int j = 0; j < n; j++) x[j] = rng_uniform();
        double l = 0;
        for (int i = 0; i < n; i++) {
            double err = b[i];
            for (int j = 0; j < n; j++) err += A[i * n + j] * x[j];
            l += err * err / n;
        }
        s1 += l, s2 += l * l;
    }
    *sd = sqrt((s2 - s1 * s1 / N) / (N - 1));
    return mean;
}

TEST(task_run_tiny_linear)
{
    TaskSpec t = spec_tiny();
    t.save_weights = 1;
    TaskResult *r = run_ok(&t);
    REQUIRE(r);
    REQUIRE(r->nlog == 4);
    check_done_result(&t, r);
    for (int i = 0; i < t.n; i++) CHECK(r->val[RV_FEATURE_IMPORTANCE][i] == 1.0);
    // it learned something: the last window is below the first
    CHECK(r->val[RV_LOSS_CURVE][3] < r->val[RV_LOSS_CURVE][0]);

    // The held-out loss is the mean of 10^4 independent examples' losses of
    // the final model: within 4.5 standard errors, sd / sqrt(10^4), of its
    // population loss (the sd's own 1% error is covered by the margin).
    double sd;
    const double pop = linear_population(r, 20000, &sd);
    const double se_eval = sd / sqrt((double)t.eval_samples);
    CHECK_NEAR(r->val[RV_EVAL_LOSS][0], pop, 4.5 * se_eval);

    // The final loss is the mean of the last window: the losses of steps
    // s = 150..199, each of 64 fresh examples of the model after s steps,
    // W(s) (the first s steps of a task of s steps). Its expectation is the
    // mean over s of their population losses and, each batch being
    // independent of the model it meets, its variance is the mean over s of
    // sd(W(s))^2 / (50 x 64). Tolerance 4.5 SE.
    double expect = 0, var = 0;
    for (int64_t s = 150; s < 200; s++) {
        TaskSpec ts = t;
        ts.steps = s;
        ts.eval_samples = 1;
        TaskResult *rs = run_ok(&ts);
        REQUIRE(rs);
        double sds;
        expect += linear_population(rs, 20000, &sds) / 50;
        var += sds * sds / 50;
        task_result_free(&rs);
    }
    const double se_window = sqrt(var / (50.0 * t.batch));
    CHECK_NEAR(r->val[RV_FINAL_LOSS][0], expect, 4.5 * se_window);
    printf("     eval %.5f, population %.5f (4.5 SE %.2g); final %.5f, expected %.5f "
           "(4.5 SE %.2g)\n", r->val[RV_EVAL_LOSS][0], pop, 4.5 * se_eval,
           r->val[RV_FINAL_LOSS][0], expect, 4.5 * se_window);
    task_result_free(&r);
}

TEST(task_run_deterministic)
{
    TaskSpec t = spec_tiny();
    TaskResult *a = run_ok(&t), *b = run_ok(&t);
    REQUIRE(a && b);
    CHECK(results_identical(a, b, 1));
    // and a different key gives a different model
    t.key ^= 1;
    TaskResult *c = run_ok(&t);
    REQUIRE(c);
    CHECK(!results_identical(a, c, 1));
    task_result_free(&a);
    task_result_free(&b);
    task_result_free(&c);
}

TEST(task_run_save_weights)
{
    // Keeping the weights changes nothing else; the kept W and b agree with
    // the measurements (recomputed here from W by the definitions).
    TaskSpec t = spec_tiny();
    t.arch = ARCH_RELU_OUTPUT;
    t.importance = IMPORTANCE_DECAY;
    TaskResult *a = run_ok(&t);
    t.save_weights = 1;
    TaskResult *b = run_ok(&t);
    REQUIRE(a && b);
    check_done_result(&t, b);
    for (int v = 0; v < RV_COUNT; v++) {
        if (v == RV_WALL_TIME || v == RV_W || v == RV_B) continue;
        size_t len = result_len(v, a->n, a->m, a->nlog);
        if (memcmp(a->val[v], b->val[v], len * sizeof(double)) != 0)
            HARNESS_FAIL_AT("save_weights changed %s", result_vars[v].name);
    }
    int n = t.n, m = t.m;
    const double *W = b->val[RV_W];
    double frob = 0;
    for (int k = 0; k < m * n; k++) {
        CHECK(isfinite(W[k]) && W[k] == (double)(float)W[k]); // float32 parameters
        frob += W[k] * W[k];
    }
    CHECK_REL(b->val[RV_FROBENIUS2][0], frob, 1e-12, 1e-300);
    for (int i = 0; i < n; i++) {
        double gii = 0, den = 0;
        for (int k = 0; k < m; k++) gii += W[k * n + i] * W[k * n + i];
        for (int j = 0; j < n; j++) {
            double g = 0;
            for (int k = 0; k < m; k++) g += W[k * n + i] * W[k * n + j];
            den += g * g;
        }
        CHECK_REL(b->val[RV_NORM][i], sqrt(gii), 1e-12, 1e-300);
        CHECK_REL(b->val[RV_CAPACITY][i], gii > 0 ? gii * gii / den : 0.0, 1e-12, 1e-300);
        CHECK(b->val[RV_B][i] == b->val[RV_FEATURE_BIAS][i]);
        CHECK(b->val[RV_FEATURE_IMPORTANCE][i] == pow(0.7, i) ||
              fabs(b->val[RV_FEATURE_IMPORTANCE][i] - pow(0.7, i)) < 1e-15);
    }
    task_result_free(&a);
    task_result_free(&b);
}

TEST(task_run_without_bias)
{
    TaskSpec t = spec_tiny();
    t.arch = ARCH_RELU_OUTPUT;
    t.bias = 0;
    t.save_weights = 1;
    TaskResult *r = run_ok(&t);
    REQUIRE(r);
    check_done_result(&t, r);
    for (int i = 0; i < t.n; i++) {
        CHECK(r->val[RV_FEATURE_BIAS][i] == 0.0);
        CHECK(r->val[RV_B][i] == 0.0);
    }
    task_result_free(&r);
}

static int mentions_nan_or_inf(const char *s)
{
    char low[TASK_REASON_LEN];
    size_t k = 0;
    for (; s[k] && k + 1 < sizeof low; k++) low[k] = (char)tolower((unsigned char)s[k]);
    low[k] = 0;
    // the trainer names the value ("loss became nan at step 12") or, when
    // the parameters overflowed, says "non-finite"
    return strstr(low, "nan") || strstr(low, "inf") || strstr(low, "non-finite");
}

/* A failed result: reason, the finished prefix of the curve, wall time, and
 * NaN everywhere else. Returns the number of finished curve windows. */
static int check_failed_result(const TaskResult *r)
{
    CHECK_INT_EQ(r->status, TASK_FAILED);
    if (!mentions_nan_or_inf(r->reason))
        HARNESS_FAIL_AT("reason does not say nan, inf or non-finite: \"%s\"", r->reason);
    int finished = 0;
    while (finished < r->nlog && !isnan(r->val[RV_LOSS_CURVE][finished])) finished++;
    for (int k = 0; k < finished; k++) CHECK(isfinite(r->val[RV_LOSS_CURVE][k]));
    for (int k = finished; k < r->nlog; k++) CHECK(isnan(r->val[RV_LOSS_CURVE][k]));
    CHECK(isfinite(r->val[RV_WALL_TIME][0]) && r->val[RV_WALL_TIME][0] > 0.0);
    for (int v = 0; v < RV_COUNT; v++)
        if (v != RV_LOSS_CURVE && v != RV_WALL_TIME && !all_nan(r, v))
            HARNESS_FAIL_AT("failed task has a value in %s", result_vars[v].name);
    return finished;
}

TEST(task_run_diverges)
{
    // lr 1e6 with weight decay 0.01: AdamW's decoupled decay multiplies the
    // weights by 1 - lr wd = -9999 every step, so they overflow within a few
    // steps, before the first window of 50 ends: no window is kept.
    for (int arch = 0; arch < 2; arch++) {
        TaskSpec t = spec_tiny();
        t.arch = arch ? ARCH_RELU_OUTPUT : ARCH_LINEAR;
        t.lr = 1e6;
        t.save_weights = 1;
        TaskResult *a = run_ok(&t), *b = run_ok(&t);
        REQUIRE(a && b);
        CHECK_INT_EQ(check_failed_result(a), 0);
        CHECK(results_identical(a, b, 1)); // the failure is deterministic too
        // the gradient overflows first (dW = H^T dZ is a larger product than
        // the loss's d^2), the moments become inf / inf and the weights NaN,
        // so the loss of step 4 is NaN; the reason says which value and when
        CHECK_STR_EQ(a->reason, "loss became nan at step 4");

        // roundtrip of a failed result
        unsigned char *buf = NULL;
        size_t len = 0;
        TaskResult *back = NULL;
        REQUIRE(task_result_pack(a, &buf, &len) == 0);
        REQUIRE(task_result_unpack(buf, len, &back) == 0);
        CHECK(results_identical(a, back, 0));
        free(buf);
        task_result_free(&back);
        task_result_free(&a);
        task_result_free(&b);
    }
}

TEST(task_run_infinite_loss)
{
    // A loss of +inf, not NaN, at step 0: an l1 penalty of 1e308 times
    // sum |W| (about 2 here) overflows double. The task fails at once with
    // the exact reason, and nothing is measured.
    TaskSpec t = spec_tiny();
    t.l1 = 1e308;
    TaskResult *r = run_ok(&t);
    REQUIRE(r);
    CHECK_INT_EQ(check_failed_result(r), 0);
    CHECK_STR_EQ(r->reason, "loss became inf at step 0");
    task_result_free(&r);
}

TEST(task_run_diverges_late)
{
    // A slower blow-up (lr 10, weight decay 0.25: the decay factor is
    // 1 - 2.5 = -1.5 per step) that fails after some windows of 10 steps
    // are finished: those windows are kept, bit-identical to the curve of
    // the same task stopped (successfully) at the end of the last of them.
    for (int arch = 0; arch < 2; arch++) {
        TaskSpec t = spec_tiny();
        t.arch = arch ? ARCH_RELU_OUTPUT : ARCH_LINEAR;
        t.log_every = 10;
        t.lr = 10.0;
        t.weight_decay = 0.25;
        TaskResult *r = run_ok(&t);
        REQUIRE(r);
        REQUIRE(r->nlog == 20);
        int finished = check_failed_result(r);
        CHECK(finished >= 1 && finished < r->nlog);

        t.steps = (int64_t)finished * t.log_every;
        TaskResult *early = run_ok(&t);
        REQUIRE(early && early->nlog == finished);
        // the kept windows are exactly those that finished with finite
        // parameters: stopping there is a success
        CHECK_INT_EQ(early->status, TASK_DONE);
        CHECK(memcmp(early->val[RV_LOSS_CURVE], r->val[RV_LOSS_CURVE],
                     sizeof(double) * finished) == 0);
        task_result_free(&early);
        task_result_free(&r);
    }
}

TEST(task_run_refused_settings)
{
    // Settings the trainer refuses (the job validator normally stops them)
    // give a failed result with a reason, not an error.
    TaskSpec t = spec_tiny();
    t.batch = 0;
    TaskResult *r = run_ok(&t);
    REQUIRE(r);
    CHECK_INT_EQ(r->status, TASK_FAILED);
    CHECK(strlen(r->reason) > 0);
    CHECK(all_nan(r, RV_LOSS_CURVE) && all_nan(r, RV_NORM) && all_nan(r, RV_FINAL_LOSS));
    CHECK(isfinite(r->val[RV_WALL_TIME][0]));
    task_result_free(&r);
}

HARNESS_MAIN
