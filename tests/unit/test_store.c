/* test_store.c - the store: journal framing and recovery (CRC-32C, torn tails
 * at every byte, damage in the middle), the lock, fingerprint refusals,
 * --fresh, resume with a grown or shrunk axis, and the NetCDF snapshot read
 * back with the NetCDF C library and with xarray (/usr/bin/python3).
 *
 * Every case works in its own temporary directory. Results are filled with
 * values that depend on (task, variable, entry) so that a misplaced entry is
 * caught; they are exact in float so comparisons can be exact.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netcdf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include "harness.h"
#include "polysweep/grid.h"
#include "polysweep/job.h"
#include "polysweep/polysweep.h"
#include "polysweep/store.h"
#include "polysweep/task.h"
#include "../../src/store/journal.h"

/* ---- fixtures ---- */

/* 2 x 2 x 2 x 2 = 16 tasks; n varies, so per-feature values are NaN-padded
 * for the n = 3 tasks; 40 steps / 10 = 4 loss-curve entries. */
#define JOB_AXES                                                               \
    "grid:\n"                                                                  \
    "  arch: [linear, relu_output]\n"                                          \
    "  n: [3, 5]\n"                                                            \
    "  bias: [true, false]\n"                                                  \
    "  sparsity: %s\n"                                                         \
    "%s"                                                                       \
    "settings:\n"                                                              \
    "  m: 2\n"                                                                 \
    "  steps: 40\n"                                                            \
    "  log_every: 10\n"                                                        \
    "  batch: 16\n"                                                            \
    "  lr: %s\n"                                                               \
    "%s"

typedef struct Fixture {
    JobSpec *job;
    Grid *grid;
} Fixture;

static char tmpdir[256];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/ps_test_store_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        exit(1);
    }
}

static void remove_tmpdir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
}

/* Parse a job from text: the sparsity axis, extra axis lines, lr, extra
 * settings lines. */
static int fixture_load(Fixture *f, const char *sparsity, const char *axes, const char *lr,
                        const char *extra)
{
    char text[2048], err[512];
    snprintf(text, sizeof(text), "title: \"store test\"\n" JOB_AXES, sparsity, axes, lr,
             extra);
    f->job = NULL;
    f->grid = NULL;
    int ret = job_parse("jobs/x.yaml", text, strlen(text), &f->job, err, sizeof(err));
    if (ret) {
        fprintf(stderr, "job_parse: %s\n", err);
        return ret;
    }
    ret = grid_create(f->job, &f->grid, err, sizeof(err));
    if (ret) fprintf(stderr, "grid_create: %s\n", err);
    return ret;
}

static void fixture_free(Fixture *f)
{
    grid_free(&f->grid);
    job_free(&f->job);
}

static const StoreRunInfo run_info = {"polysweep run jobs/x.yaml", "Haswell", 2, 3, NULL, NULL, 0, 0};

static void out_path(char *buf, size_t len) { snprintf(buf, len, "%s/res/x.nc", tmpdir); }

static void journal_path(char *buf, size_t len)
{
    snprintf(buf, len, "%s/res/x.nc.state/journal", tmpdir);
}

/* The value stored for (task label, variable, entry): a function of the label
 * (not the index), so results can be followed when indices move. */
static double value_of(const char *label, int v, size_t k)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = label; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    double base = (double)(h % 4096);
    if (result_vars[v].type == RTYPE_INT) return base + v;
    return base + v * 0.125 + (double)k * 0.5 + 0.25; /* exact in float */
}

/* A result for task i of grid g, done (or failed, with a reason). */
static TaskResult *make_result(const Grid *g, int64_t i, int status)
{
    TaskSpec t;
    grid_task_spec(g, i, &t);
    TaskResult *r = NULL;
    if (task_result_create(t.n, t.m, task_log_count(&t), &r)) return NULL;
    char label[256];
    grid_task_label(g, i, label, sizeof(label));
    r->status = status;
    if (status == TASK_FAILED) snprintf(r->reason, sizeof(r->reason), "diverged at step 7 (%.200s)", label);
    for (int v = 0; v < RV_COUNT; v++) {
        size_t len = result_len(v, t.n, t.m, task_log_count(&t));
        for (size_t k = 0; k < len; k++) r->val[v][k] = value_of(label, v, k);
    }
    return r;
}

static int commit_task(Store *s, const Grid *g, int64_t i, int status)
{
    char err[512];
    TaskResult *r = make_result(g, i, status);
    if (!r) return PS_ENOMEM;
    int ret = store_commit(s, i, r, err, sizeof(err));
    if (ret) fprintf(stderr, "store_commit: %s\n", err);
    task_result_free(&r);
    return ret;
}

static int open_store(const Fixture *f, int fresh, Store **s, char *err, size_t errlen)
{
    char out[300];
    out_path(out, sizeof(out));
    return store_open(f->grid, out, fresh, &run_info, s, err, errlen);
}

/* Offsets of the records of a journal image (walking the length fields). */
static int record_offsets(const unsigned char *d, size_t len, size_t *off, int max)
{
    int n = 0;
    size_t p = 0;
    while (p + JOURNAL_RECORD_OVERHEAD <= len && n < max) {
        off[n++] = p;
        p += JOURNAL_RECORD_OVERHEAD + journal_get_u64(d + p + 8);
    }
    return n;
}

/* ---- CRC-32C and the journal format ---- */

/* Bit-at-a-time CRC-32C, the definition (reflected polynomial 0x82F63B78). */
static uint32_t crc32c_bitwise(const unsigned char *p, size_t len)
{
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t k = 0; k < len; k++) {
        crc ^= p[k];
        for (int b = 0; b < 8; b++) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    }
    return ~crc;
}

TEST(crc32c_check_value)
{
    CHECK_INT_EQ(journal_crc32c(0, "123456789", 9), 0xE3069283u);
    CHECK_INT_EQ(journal_crc32c(0, "", 0), 0);
    /* 32 bytes of zeros: RFC 3720 B.4 test vector. */
    unsigned char zeros[32] = {0};
    CHECK_INT_EQ(journal_crc32c(0, zeros, 32), 0x8A9136AAu);
    unsigned char buf[1000];
    for (int k = 0; k < 1000; k++) buf[k] = (unsigned char)(k * 131 + 7);
    CHECK_INT_EQ(journal_crc32c(0, buf, 1000), crc32c_bitwise(buf, 1000));
    /* Continuing from a previous value equals one pass. */
    CHECK_INT_EQ(journal_crc32c(journal_crc32c(0, buf, 333), buf + 333, 667),
                 journal_crc32c(0, buf, 1000));
}

typedef struct Seen {
    int n;
    uint32_t type[8];
    uint64_t len[8], off[8];
    unsigned char first[8];
} Seen;

static int collect(void *ctx, uint32_t type, const unsigned char *p, uint64_t len,
                   uint64_t off)
{
    Seen *s = ctx;
    if (s->n >= 8) return -100;
    s->type[s->n] = type;
    s->len[s->n] = len;
    s->off[s->n] = off;
    s->first[s->n] = len ? p[0] : 0;
    for (uint64_t k = 0; k < len; k++)
        if (p[k] != (unsigned char)(s->n + k)) return -101;
    s->n++;
    return 0;
}

TEST(journal_roundtrip)
{
    make_tmpdir();
    char path[300], err[512];
    snprintf(path, sizeof(path), "%s/j", tmpdir);
    Journal *j = NULL;
    REQUIRE(journal_open(path, &j, err, sizeof(err)) == 0);
    size_t sizes[3] = {5, 0, 70000};
    for (int r = 0; r < 3; r++) {
        unsigned char *payload = malloc(sizes[r] + 1);
        for (size_t k = 0; k < sizes[r]; k++) payload[k] = (unsigned char)(r + k);
        /* Split in two parts to check the concatenation. */
        const void *parts[2] = {payload, payload + sizes[r] / 2};
        size_t lens[2] = {sizes[r] / 2, sizes[r] - sizes[r] / 2};
        CHECK(journal_append(j, (uint32_t)(10 + r), parts, lens, 2, err, sizeof(err)) == 0);
        free(payload);
    }
    journal_close(&j);
    CHECK(j == NULL);

    size_t len;
    unsigned char *d = harness_slurp(path, &len);
    REQUIRE(d);
    CHECK_INT_EQ(len, 3 * JOURNAL_RECORD_OVERHEAD + 5 + 0 + 70000);
    /* Byte layout of the first record: magic "PSJ1", type, length, CRC. */
    CHECK(memcmp(d, "PSJ1", 4) == 0);
    CHECK_INT_EQ(d[4], 10);
    CHECK_INT_EQ(journal_get_u64(d + 8), 5);
    uint32_t crc = (uint32_t)d[21] | (uint32_t)d[22] << 8 | (uint32_t)d[23] << 16 |
                   (uint32_t)d[24] << 24;
    CHECK_INT_EQ(crc, crc32c_bitwise(d + 4, 12 + 5));
    free(d);

    REQUIRE(journal_open(path, &j, err, sizeof(err)) == 0);
    Seen seen = {0};
    int64_t torn = 0;
    CHECK_INT_EQ(journal_scan(j, collect, &seen, &torn, err, sizeof(err)), 0);
    CHECK_INT_EQ(torn, -1);
    CHECK_INT_EQ(seen.n, 3);
    for (int r = 0; r < seen.n; r++) {
        CHECK_INT_EQ(seen.type[r], 10 + r);
        CHECK_INT_EQ(seen.len[r], sizes[r]);
    }
    CHECK_INT_EQ(seen.off[1], JOURNAL_RECORD_OVERHEAD + 5);
    CHECK_INT_EQ(seen.off[2], 2 * JOURNAL_RECORD_OVERHEAD + 5);
    CHECK_INT_EQ(j->end, len);
    journal_close(&j);
    journal_close(&j); /* NULL-safe */
    remove_tmpdir();
}

/* ---- the store: commits, resume ---- */

TEST(commit_and_resume)
{
    make_tmpdir();
    Fixture f;
    REQUIRE(fixture_load(&f, "[0, 0.5]", "", "0.001", "") == 0);
    char err[512] = "";
    Store *s = NULL;
    int ret = open_store(&f, 0, &s, err, sizeof(err));
    if (ret) fprintf(stderr, "%s\n", err);
    REQUIRE(ret == 0);
    CHECK_STR_EQ(store_warnings(s), "");
    int64_t nt = grid_task_count(f.grid);
    CHECK_INT_EQ(nt, 16);
    CHECK_INT_EQ(store_count(s, TASK_PENDING), 16);
    CHECK(commit_task(s, f.grid, 3, TASK_DONE) == 0);
    CHECK(commit_task(s, f.grid, 9, TASK_FAILED) == 0);
    CHECK(commit_task(s, f.grid, 15, TASK_DONE) == 0);
    CHECK(commit_task(s, f.grid, 3, TASK_DONE) == 0); /* again: replaces */
    CHECK_INT_EQ(store_count(s, TASK_DONE), 2);
    CHECK_INT_EQ(store_count(s, TASK_FAILED), 1);
    CHECK_INT_EQ(store_count(s, TASK_PENDING), 13);
    CHECK_INT_EQ(store_task_status(s, 9), TASK_FAILED);
    CHECK_INT_EQ(store_task_status(s, 99), PS_EINVAL);

    /* A result of the wrong size is refused, and nothing is recorded. */
    TaskResult *bad = NULL;
    REQUIRE(task_result_create(4, 2, 4, &bad) == 0);
    bad->status = TASK_DONE;
    CHECK_INT_EQ(store_commit(s, 0, bad, err, sizeof(err)), PS_EINVAL);
    task_result_free(&bad);
    CHECK_INT_EQ(store_task_status(s, 0), TASK_PENDING);
    store_close(&s);
    CHECK(s == NULL);
    store_close(&s);

    /* Reopen: everything is back, and the history has two lines. */
    REQUIRE(open_store(&f, 0, &s, err, sizeof(err)) == 0);
    CHECK_STR_EQ(store_warnings(s), "");
    CHECK_INT_EQ(store_task_status(s, 3), TASK_DONE);
    CHECK_INT_EQ(store_task_status(s, 9), TASK_FAILED);
    CHECK_INT_EQ(store_task_status(s, 15), TASK_DONE);
    CHECK_INT_EQ(store_count(s, TASK_DONE), 2);
    CHECK_INT_EQ(store_count(s, TASK_PENDING), 13);
    store_close(&s);
    fixture_free(&f);
    remove_tmpdir();
}

/* ---- recovery of the journal ---- */

TEST(torn_tail_every_offset)
{
    make_tmpdir();
    Fixture f;
    REQUIRE(fixture_load(&f, "[0, 0.5]", "", "0.001", "") == 0);
    char err[512], jpath[300];
    journal_path(jpath, sizeof(jpath));
    Store *s = NULL;
    REQUIRE(open_store(&f, 0, &s, err, sizeof(err)) == 0);
    CHECK(commit_task(s, f.grid, 1, TASK_DONE) == 0);
    CHECK(commit_task(s, f.grid, 2, TASK_FAILED) == 0);
    CHECK(commit_task(s, f.grid, 5, TASK_DONE) == 0);
    store_close(&s);

    size_t len, off[16];
    unsigned char *image = harness_slurp(jpath, &len);
    REQUIRE(image);
    int nrec = record_offsets(image, len, off, 16);
    REQUIRE(nrec == 5); /* header, run, three tasks */
    CHECK_INT_EQ(off[0], 0);
    size_t last = off[nrec - 1];
    char expect[128];
    snprintf(expect, sizeof(expect), "dropped an incomplete last record at byte offset %zu ",
             last);
    int bad = 0;
    for (size_t cut = last; cut < len; cut++) {
        REQUIRE(harness_spit(jpath, image, cut) == 0);
        int ret = open_store(&f, 0, &s, err, sizeof(err));
        if (ret) {
            fprintf(stderr, "cut at %zu: %s\n", cut, err);
            bad++;
            continue;
        }
        const char *w = store_warnings(s);
        int warned = strstr(w, expect) != NULL;
        if (warned != (cut > last)) {
            fprintf(stderr, "cut at %zu: warnings \"%s\"\n", cut, w);
            bad++;
        }
        if (store_task_status(s, 1) != TASK_DONE || store_task_status(s, 2) != TASK_FAILED ||
            store_task_status(s, 5) != TASK_PENDING || store_count(s, TASK_PENDING) != 14)
            bad++;
        /* The journal is usable again: append, reopen, find it. */
        if (commit_task(s, f.grid, 5, TASK_DONE)) bad++;
        store_close(&s);
        if (open_store(&f, 0, &s, err, sizeof(err))) {
            bad++;
            continue;
        }
        if (store_warnings(s)[0] || store_task_status(s, 5) != TASK_DONE) bad++;
        store_close(&s);
    }
    CHECK_INT_EQ(bad, 0);
    CHECK(len - last > 100); /* the loop covered a real record */

    /* A torn header (killed while creating the journal) starts over. */
    for (size_t cut = 1; cut < off[1]; cut += 7) {
        REQUIRE(harness_spit(jpath, image, cut) == 0);
        REQUIRE(open_store(&f, 0, &s, err, sizeof(err)) == 0);
        CHECK(strstr(store_warnings(s), "dropped an incomplete last record at byte offset 0 "));
        CHECK_INT_EQ(store_count(s, TASK_PENDING), 16);
        store_close(&s);
    }
    free(image);
    fixture_free(&f);
    remove_tmpdir();
}

TEST(damage_in_the_middle_is_refused)
{
    make_tmpdir();
    Fixture f;
    REQUIRE(fixture_load(&f, "[0, 0.5]", "", "0.001", "") == 0);
    char err[512], jpath[300];
    journal_path(jpath, sizeof(jpath));
    Store *s = NULL;
    REQUIRE(open_store(&f, 0, &s, err, sizeof(err)) == 0);
    CHECK(commit_task(s, f.grid, 1, TASK_DONE) == 0);
    CHECK(commit_task(s, f.grid, 2, TASK_DONE) == 0);
    CHECK(commit_task(s, f.grid, 3, TASK_DONE) == 0);
    store_close(&s);
    size_t len, off[16];
    unsigned char *image = harness_slurp(jpath, &len);
    REQUIRE(image);
    REQUIRE(record_offsets(image, len, off, 16) == 5);

    /* A flipped payload byte, a flipped length byte, a flipped magic byte in
     * the record of task 2 (a middle record): refused, file unchanged. */
    size_t where[3] = {off[3] + 40, off[3] + 9, off[3] + 1};
    for (int k = 0; k < 3; k++) {
        unsigned char *copy = malloc(len);
        memcpy(copy, image, len);
        copy[where[k]] ^= 0x10;
        REQUIRE(harness_spit(jpath, copy, len) == 0);
        err[0] = '\0';
        CHECK_INT_EQ(open_store(&f, 0, &s, err, sizeof(err)), PS_EFORMAT);
        CHECK(s == NULL);
        store_close(&s);
        char expect[512];
        snprintf(expect, sizeof(expect), "%s: corrupt record at byte offset %zu, followed by "
                 "valid records (the next at byte offset %zu)", jpath, off[3], off[4]);
        CHECK(strncmp(err, expect, strlen(expect)) == 0);
        if (strncmp(err, expect, strlen(expect)) != 0) fprintf(stderr, "got: %s\n", err);
        size_t len2;
        unsigned char *after = harness_slurp(jpath, &len2);
        CHECK(after && len2 == len && memcmp(after, copy, len) == 0);
        free(after);
        free(copy);
    }

    /* The same damage in the LAST record is a torn tail: dropped, warned. */
    unsigned char *copy = malloc(len);
    memcpy(copy, image, len);
    copy[off[4] + 40] ^= 0x10;
    REQUIRE(harness_spit(jpath, copy, len) == 0);
    REQUIRE(open_store(&f, 0, &s, err, sizeof(err)) == 0);
    CHECK(strstr(store_warnings(s), "dropped an incomplete last record"));
    CHECK_INT_EQ(store_task_status(s, 2), TASK_DONE);
    CHECK_INT_EQ(store_task_status(s, 3), TASK_PENDING);
    store_close(&s);
    free(copy);
    free(image);
    fixture_free(&f);
    remove_tmpdir();
}

/* ---- refusals: another job, a busy output, a foreign output ---- */

TEST(fingerprint_mismatch)
{
    make_tmpdir();
    Fixture a, b, c;
    REQUIRE(fixture_load(&a, "[0, 0.5]", "", "0.001", "") == 0);
    REQUIRE(fixture_load(&b, "[0, 0.5]", "", "0.01", "") == 0);
    REQUIRE(fixture_load(&c, "[0, 0.5]", "  seed: [1, 2]\n", "0.001", "") == 0);
    char err[512], jpath[300], out[300], expect[1024];
    journal_path(jpath, sizeof(jpath));
    out_path(out, sizeof(out));
    Store *s = NULL;
    REQUIRE(open_store(&a, 0, &s, err, sizeof(err)) == 0);
    CHECK(commit_task(s, a.grid, 4, TASK_DONE) == 0);
    CHECK(store_snapshot(s, err, sizeof(err)) == 0);
    store_close(&s);
    size_t len, olen;
    unsigned char *before = harness_slurp(jpath, &len), *obefore = harness_slurp(out, &olen);
    REQUIRE(before && obefore);

    CHECK_INT_EQ(open_store(&b, 0, &s, err, sizeof(err)), PS_EMISMATCH);
    snprintf(expect, sizeof(expect),
             "%s holds results of a different job: lr is 0.001 there and 0.01 in "
             "jobs/x.yaml (run with --fresh to discard them, or choose another output "
             "with -o)", out);
    CHECK_STR_EQ(err, expect);

    CHECK_INT_EQ(open_store(&c, 0, &s, err, sizeof(err)), PS_EMISMATCH);
    snprintf(expect, sizeof(expect),
             "%s holds results of a different job: axis 'seed' was added in jobs/x.yaml "
             "(run with --fresh to discard them, or choose another output with -o)", out);
    CHECK_STR_EQ(err, expect);

    /* Nothing was modified. */
    size_t len2, olen2;
    unsigned char *after = harness_slurp(jpath, &len2), *oafter = harness_slurp(out, &olen2);
    CHECK(after && len2 == len && memcmp(before, after, len) == 0);
    CHECK(oafter && olen2 == olen && memcmp(obefore, oafter, olen) == 0);
    free(after);
    free(oafter);

    /* The other way round: an axis removed. */
    REQUIRE(open_store(&c, 1, &s, err, sizeof(err)) == 0);
    store_close(&s);
    CHECK_INT_EQ(open_store(&a, 0, &s, err, sizeof(err)), PS_EMISMATCH);
    CHECK(strstr(err, "axis 'seed' was removed in jobs/x.yaml"));
    free(before);
    free(obefore);
    fixture_free(&a);
    fixture_free(&b);
    fixture_free(&c);
    remove_tmpdir();
}

TEST(lock_refuses_second_open)
{
    make_tmpdir();
    Fixture f;
    REQUIRE(fixture_load(&f, "[0, 0.5]", "", "0.001", "") == 0);
    char err[1024], out[300], expect[1024], host[256] = "";
    out_path(out, sizeof(out));
    gethostname(host, sizeof(host));
    Store *s1 = NULL, *s2 = NULL;
    REQUIRE(open_store(&f, 0, &s1, err, sizeof(err)) == 0);
    CHECK_INT_EQ(open_store(&f, 0, &s2, err, sizeof(err)), PS_EBUSY);
    CHECK(s2 == NULL);
    /* "... (pid P on this host, H, running since T); wait ..." with T the
     * lock's UTC start time */
    snprintf(expect, sizeof(expect),
             "%s is in use by another polysweep run (pid %ld on this host, %s, running since ",
             out, (long)getpid(), host);
    CHECK(strncmp(err, expect, strlen(expect)) == 0);
    const char *rest = err + strlen(expect);
    CHECK(strlen(rest) > 20 && rest[4] == '-' && rest[19] == 'Z');
    snprintf(expect, sizeof(expect), "); wait for it to finish, or stop it with `kill -USR1 "
             "%ld` (it saves its work and exits; rerun to resume)", (long)getpid());
    CHECK_STR_EQ(rest + 20, expect);
    /* --fresh does not get past the lock either. */
    CHECK_INT_EQ(open_store(&f, 1, &s2, err, sizeof(err)), PS_EBUSY);
    CHECK_INT_EQ(store_count(s1, TASK_PENDING), 16);
    store_close(&s1);
    CHECK_INT_EQ(open_store(&f, 0, &s2, err, sizeof(err)), 0);
    store_close(&s2);
    fixture_free(&f);
    remove_tmpdir();
}

TEST(fresh_discards)
{
    make_tmpdir();
    Fixture a, b;
    REQUIRE(fixture_load(&a, "[0, 0.5]", "", "0.001", "") == 0);
    REQUIRE(fixture_load(&b, "[0, 0.5]", "", "0.01", "") == 0);
    char err[512], out[300];
    out_path(out, sizeof(out));
    Store *s = NULL;
    REQUIRE(open_store(&a, 0, &s, err, sizeof(err)) == 0);
    CHECK(commit_task(s, a.grid, 0, TASK_DONE) == 0);
    CHECK(store_snapshot(s, err, sizeof(err)) == 0);
    store_close(&s);
    struct stat st;
    CHECK(stat(out, &st) == 0);

    /* fresh with the same job: nothing left; with another job: allowed. */
    REQUIRE(open_store(&a, 1, &s, err, sizeof(err)) == 0);
    CHECK_INT_EQ(store_count(s, TASK_PENDING), 16);
    CHECK(stat(out, &st) != 0 && errno == ENOENT);
    CHECK(commit_task(s, a.grid, 0, TASK_DONE) == 0);
    store_close(&s);
    REQUIRE(open_store(&b, 1, &s, err, sizeof(err)) == 0);
    CHECK_INT_EQ(store_count(s, TASK_DONE), 0);
    store_close(&s);
    REQUIRE(open_store(&b, 0, &s, err, sizeof(err)) == 0);
    CHECK_INT_EQ(store_count(s, TASK_DONE), 0);
    store_close(&s);

    /* An output without a journal is never overwritten without --fresh. */
    char jpath[300];
    journal_path(jpath, sizeof(jpath));
    REQUIRE(harness_spit(out, (const unsigned char *)"not ours", 8) == 0);
    REQUIRE(unlink(jpath) == 0);
    CHECK_INT_EQ(open_store(&a, 0, &s, err, sizeof(err)), PS_EMISMATCH);
    CHECK(strstr(err, "exists but has no journal"));
    CHECK(stat(jpath, &st) != 0);
    REQUIRE(open_store(&a, 1, &s, err, sizeof(err)) == 0);
    store_close(&s);
    fixture_free(&a);
    fixture_free(&b);
    remove_tmpdir();
}

/* ---- the dataset ---- */

static int var_id(int ncid, const char *name)
{
    int id = -1;
    if (nc_inq_varid(ncid, name, &id) != NC_NOERR) fprintf(stderr, "no variable %s\n", name);
    return id;
}

static void att_text(int ncid, int var, const char *name, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    if (nc_inq_attlen(ncid, var, name, &n) != NC_NOERR || n >= len) return;
    if (nc_get_att_text(ncid, var, name, buf) != NC_NOERR) return;
    buf[n] = '\0';
}

static long long att_int(int ncid, const char *name)
{
    long long v = -999;
    nc_get_att_longlong(ncid, NC_GLOBAL, name, &v);
    return v;
}

/* Check variable v of the dataset against what make_result stored (tasks in
 * `done`, for grid g) and NaN (or -1) everywhere else. Returns mismatches. */
static int check_var(int ncid, const Grid *g, int v, const int64_t *done, int ndone)
{
    int id = var_id(ncid, result_vars[v].name);
    if (id < 0) return 1;
    int max_n = grid_max_n(g), max_m = grid_max_m(g), max_log = grid_max_log(g);
    size_t slot = 1;
    switch (result_vars[v].shape) {
    case SHAPE_TASK: slot = 1; break;
    case SHAPE_FEATURE: slot = (size_t)max_n; break;
    case SHAPE_NEURON: slot = (size_t)max_m; break;
    case SHAPE_CURVE: slot = (size_t)max_log; break;
    case SHAPE_WEIGHTS: slot = (size_t)max_m * (size_t)max_n; break;
    case SHAPE_BLOCK: slot = (size_t)max_n; break;
    }
    int64_t nt = grid_task_count(g);
    double *buf = malloc((size_t)nt * slot * sizeof(double));
    if (nc_get_var_double(ncid, id, buf) != NC_NOERR) {
        free(buf);
        return 1;
    }
    int bad = 0;
    for (int64_t i = 0; i < nt; i++) {
        int isdone = 0;
        for (int k = 0; k < ndone; k++) isdone |= done[k] == i;
        TaskSpec t;
        grid_task_spec(g, i, &t);
        char label[256];
        grid_task_label(g, i, label, sizeof(label));
        for (size_t k = 0; k < slot; k++) {
            /* Entry k of the slot -> entry of the task's own vector, or -1. */
            long own = -1;
            size_t row = k / (size_t)max_n, col = k % (size_t)max_n;
            switch (result_vars[v].shape) {
            case SHAPE_TASK: own = 0; break;
            case SHAPE_FEATURE: own = k < (size_t)t.n ? (long)k : -1; break;
            case SHAPE_NEURON: own = k < (size_t)t.m ? (long)k : -1; break;
            case SHAPE_CURVE: own = k < (size_t)task_log_count(&t) ? (long)k : -1; break;
            case SHAPE_WEIGHTS:
                own = row < (size_t)t.m && col < (size_t)t.n ? (long)(row * t.n + col) : -1;
                break;
            case SHAPE_BLOCK: own = k < (size_t)t.n ? (long)k : -1; break;
            }
            double got = buf[(size_t)i * slot + k];
            int isint = result_vars[v].type == RTYPE_INT;
            if (isdone && own >= 0) {
                double want = value_of(label, v, (size_t)own);
                if (got != want) bad++;
            } else if (isint ? got != (double)NC_FILL_INT : !isnan(got)) {
                bad++;
            }
        }
    }
    if (bad) fprintf(stderr, "variable %s: %d wrong entries\n", result_vars[v].name, bad);
    free(buf);
    return bad;
}

/* Does the fixture's grid (linear and relu_output, no l1) measure v? No
 * neuron, quadratic or power measures. */
static int fixture_measures(int v)
{
    return v != RV_POLYSEMANTIC_NEURONS && v != RV_FOURTH_NORM_RATIO &&
           v != RV_NEURON_FEATURES && v != RV_NEURON_PARTICIPATION &&
           v != RV_PREDICTED_LOSS && v != RV_PREDICTED_CAPACITY && v != RV_QUADRATIC_BIAS &&
           v != RV_POWER_GAIN && v != RV_POWER_GAIN_BASELINE;
}

static const char *python_check =
    "import sys, numpy as np, xarray\n"
    "ds = xarray.open_dataset(sys.argv[1])\n"
    "c = ds.capacity.sel(arch='relu_output')\n"
    "assert c.dims == ('n', 'bias', 'sparsity', 'feature'), c.dims\n"
    "assert list(ds.arch.values) == ['linear', 'relu_output'], ds.arch.values\n"
    "assert ds.n.dtype == np.int64 and list(ds.n.values) == [3, 5]\n"
    "assert list(ds.sparsity.values) == [0.0, 0.5]\n"
    "assert list(ds.step.values) == [10, 20, 30, 40]\n"
    "assert ds.status.dtype == np.int8\n"
    "assert ds.capacity.dtype == np.float32 and ds.final_loss.dtype == np.float64\n"
    "assert ds.W.dims[-2:] == ('neuron', 'feature')\n"
    "t = ds.capacity.sel(arch='linear', n=3, bias=True, sparsity=0.0)\n"
    "assert np.isnan(t.values[3:]).all() and not np.isnan(t.values[:3]).any(), t.values\n"
    "assert np.isnan(ds.represented.sel(arch='relu_output', n=5, bias=False, sparsity=0.5))\n"
    "assert ds.bias.dtype == bool and list(ds.bias.values) == [True, False]\n"
    "assert int((ds.status == 1).sum()) == 2 and int((ds.status == 2).sum()) == 1\n"
    "assert ds.reason.sel(arch='linear', n=5, bias=False, sparsity=0.5).item().startswith('diverged')\n"
    "assert ds.attrs['Conventions'] == 'CF-1.8' and ds.attrs['tasks_total'] == 16\n"
    "assert ds.attrs['polysweep_format'] == 2\n"
    "assert ds.wall_time.attrs['comment'] == 'varies between runs'\n"
    "for name in ('m', 'steps', 'log_every', 'batch', 'lr', 'value_law', 'seed', 'density'):\n"
    "    assert name in ds.coords and name not in ds.data_vars, name\n"
    "assert int(ds.m) == 2 and int(ds.steps) == 40 and float(ds.lr) == 0.001\n"
    "assert ds.m.dtype == np.int64 and ds.value_law.item() == 'uniform'\n"
    "assert ds.save_weights.dtype == bool and bool(ds.save_weights)\n"
    "assert ds.density.dims == ('sparsity',) and list(ds.density.values) == [1.0, 0.5]\n"
    "assert 'values' not in ds.variables and 'rank' not in ds.variables\n"
    "assert 'polysemantic_neurons' not in ds and 'power_gain' not in ds\n"
    "print('xarray: ok')\n";

TEST(snapshot_layout)
{
    make_tmpdir();
    Fixture f;
    REQUIRE(fixture_load(&f, "[0, 0.5]", "", "0.001", "  save_weights: true\n") == 0);
    char err[512], out[300], text[4096];
    out_path(out, sizeof(out));
    Store *s = NULL;
    REQUIRE(open_store(&f, 0, &s, err, sizeof(err)) == 0);
    /* Task 0: linear, n=3, bias, S=0. Task 7: linear, n=5, no bias, S=0.5.
     * Task 13: relu_output, n=5, bias, S=0.5. */
    int64_t done[3] = {0, 7, 13};
    CHECK(commit_task(s, f.grid, 0, TASK_DONE) == 0);
    CHECK(commit_task(s, f.grid, 7, TASK_FAILED) == 0);
    CHECK(commit_task(s, f.grid, 13, TASK_DONE) == 0);
    int ret = store_snapshot(s, err, sizeof(err));
    if (ret) fprintf(stderr, "%s\n", err);
    REQUIRE(ret == 0);
    CHECK(store_dataset_bytes(f.grid) > 16.0 * (5 * 5 * 8 + 2 * 5 * 4 + 4 * 4));
    store_close(&s);

    /* No temporary file is left next to the output. */
    char tmp[400];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", out, (long)getpid());
    struct stat st;
    CHECK(stat(tmp, &st) != 0);

    int ncid;
    REQUIRE(nc_open(out, NC_NOWRITE, &ncid) == NC_NOERR);
    int fmt;
    nc_inq_format(ncid, &fmt);
    CHECK_INT_EQ(fmt, NC_FORMAT_NETCDF4);
    /* Dimensions, in order. */
    const char *dn[8] = {"arch", "n", "bias", "sparsity", "feature", "neuron", "log_step",
                         "block"};
    size_t dl[8] = {2, 2, 2, 2, 5, 2, 4, 5};
    int ndims;
    nc_inq_ndims(ncid, &ndims);
    CHECK_INT_EQ(ndims, 8);
    for (int d = 0; d < 8; d++) {
        char name[NC_MAX_NAME + 1];
        size_t len;
        CHECK(nc_inq_dim(ncid, d, name, &len) == NC_NOERR);
        CHECK_STR_EQ(name, dn[d]);
        CHECK_INT_EQ(len, dl[d]);
    }
    /* Coordinates: types and values. */
    nc_type type;
    char *arch[2] = {NULL, NULL};
    nc_inq_vartype(ncid, var_id(ncid, "arch"), &type);
    CHECK_INT_EQ(type, NC_STRING);
    CHECK(nc_get_var_string(ncid, var_id(ncid, "arch"), arch) == NC_NOERR);
    CHECK_STR_EQ(arch[0], "linear");
    CHECK_STR_EQ(arch[1], "relu_output");
    nc_free_string(2, arch);
    CHECK(nc_inq_att(ncid, var_id(ncid, "arch"), "_FillValue", NULL, NULL) == NC_ENOTATT);
    long long nv[2], steps[4];
    nc_inq_vartype(ncid, var_id(ncid, "n"), &type);
    CHECK_INT_EQ(type, NC_INT64);
    nc_get_var_longlong(ncid, var_id(ncid, "n"), nv);
    CHECK_INT_EQ(nv[0], 3);
    CHECK_INT_EQ(nv[1], 5);
    signed char bias[2], status[16];
    nc_inq_vartype(ncid, var_id(ncid, "bias"), &type);
    CHECK_INT_EQ(type, NC_BYTE);
    nc_get_var_schar(ncid, var_id(ncid, "bias"), bias);
    CHECK_INT_EQ(bias[0], 1);
    CHECK_INT_EQ(bias[1], 0);
    att_text(ncid, var_id(ncid, "bias"), "flag_meanings", text, sizeof(text));
    CHECK_STR_EQ(text, "false true");
    double sp[2];
    nc_inq_vartype(ncid, var_id(ncid, "sparsity"), &type);
    CHECK_INT_EQ(type, NC_DOUBLE);
    nc_get_var_double(ncid, var_id(ncid, "sparsity"), sp);
    CHECK(sp[0] == 0.0 && sp[1] == 0.5);
    att_text(ncid, var_id(ncid, "sparsity"), "units", text, sizeof(text));
    CHECK_STR_EQ(text, "1");
    att_text(ncid, var_id(ncid, "sparsity"), "long_name", text, sizeof(text));
    CHECK(strlen(text) > 5);
    nc_inq_vartype(ncid, var_id(ncid, "step"), &type);
    CHECK_INT_EQ(type, NC_INT64);
    nc_get_var_longlong(ncid, var_id(ncid, "step"), steps);
    CHECK(steps[0] == 10 && steps[1] == 20 && steps[2] == 30 && steps[3] == 40);
    att_text(ncid, var_id(ncid, "step"), "units", text, sizeof(text));
    CHECK_STR_EQ(text, "1");
    att_text(ncid, var_id(ncid, "loss_curve"), "coordinates", text, sizeof(text));
    CHECK(strlen(text) > 5 && strcmp(text + strlen(text) - 5, " step") == 0);
    /* The result dimensions have no coordinate variable (no index). */
    CHECK(nc_inq_varid(ncid, "feature", &(int){0}) == NC_ENOTVAR);
    CHECK(nc_inq_varid(ncid, "log_step", &(int){0}) == NC_ENOTVAR);
    /* Booleans: int8 that xarray decodes to bool. Settings as coordinates. */
    att_text(ncid, var_id(ncid, "bias"), "dtype", text, sizeof(text));
    CHECK_STR_EQ(text, "bool");
    CHECK(nc_inq_att(ncid, var_id(ncid, "bias"), "units", NULL, NULL) == NC_ENOTATT);
    int nd = -1;
    nc_inq_varndims(ncid, var_id(ncid, "m"), &nd);
    CHECK_INT_EQ(nd, 0);
    long long mval = 0;
    nc_get_var_longlong(ncid, var_id(ncid, "m"), &mval);
    CHECK_INT_EQ(mval, 2);
    att_text(ncid, var_id(ncid, "final_loss"), "coordinates", text, sizeof(text));
    CHECK(strncmp(text, "m q l1 ", 7) == 0 && strstr(text, " value_law ") &&
          !strstr(text, "arch") && !strstr(text, " n "));

    /* status and reason. */
    nc_get_var_schar(ncid, var_id(ncid, "status"), status);
    for (int i = 0; i < 16; i++)
        CHECK_INT_EQ(status[i], i == 0 || i == 13 ? TASK_DONE : i == 7 ? TASK_FAILED : TASK_PENDING);
    att_text(ncid, var_id(ncid, "status"), "flag_meanings", text, sizeof(text));
    CHECK_STR_EQ(text, "pending done failed");
    signed char flags[3] = {9, 9, 9};
    nc_get_att_schar(ncid, var_id(ncid, "status"), "flag_values", flags);
    CHECK(flags[0] == 0 && flags[1] == 1 && flags[2] == 2);
    char *reason[16] = {NULL};
    CHECK(nc_get_var_string(ncid, var_id(ncid, "reason"), reason) == NC_NOERR);
    char label[256], want[300];
    grid_task_label(f.grid, 7, label, sizeof(label));
    snprintf(want, sizeof(want), "diverged at step 7 (%s)", label);
    CHECK_STR_EQ(reason[7], want);
    CHECK_STR_EQ(reason[0], "");
    CHECK_STR_EQ(reason[1], "");
    nc_free_string(16, reason);

    /* Every result variable, with its padding; metadata. */
    for (int v = 0; v < RV_COUNT; v++) {
        /* Only what some task measures: no neuron, quadratic or power
         * measures for linear and relu_output without l1. */
        if (!fixture_measures(v)) {
            CHECK(nc_inq_varid(ncid, result_vars[v].name, &(int){0}) == NC_ENOTVAR);
            continue;
        }
        CHECK_INT_EQ(check_var(ncid, f.grid, v, done, 3), 0);
        int id = var_id(ncid, result_vars[v].name);
        att_text(ncid, id, "units", text, sizeof(text));
        CHECK_STR_EQ(text, result_vars[v].units);
        att_text(ncid, id, "long_name", text, sizeof(text));
        CHECK_STR_EQ(text, result_vars[v].long_name);
        att_text(ncid, id, "description", text, sizeof(text));
        CHECK_STR_EQ(text, result_vars[v].description);
        int has_comment = nc_inq_att(ncid, id, "comment", NULL, NULL) == NC_NOERR;
        CHECK_INT_EQ(has_comment, (result_vars[v].flags & RV_NONDETERMINISTIC) != 0);
        nc_inq_vartype(ncid, id, &type);
        CHECK_INT_EQ(type, result_vars[v].type == RTYPE_FLOAT ? NC_FLOAT
                           : result_vars[v].type == RTYPE_INT ? NC_INT : NC_DOUBLE);
        int shuffle = 0, deflate = 0, level = 0;
        nc_inq_var_deflate(ncid, id, &shuffle, &deflate, &level);
        CHECK(shuffle == 1 && deflate == 1 && level == 1);
        CHECK(nc_inq_att(ncid, id, "_FillValue", NULL, NULL) == NC_NOERR);
    }
    /* Chunks: small variables are one chunk. */
    int storage;
    size_t chunk[7];
    nc_inq_var_chunking(ncid, var_id(ncid, "W"), &storage, chunk);
    CHECK_INT_EQ(storage, NC_CHUNKED);
    CHECK(chunk[0] == 2 && chunk[3] == 2 && chunk[4] == 2 && chunk[5] == 5);

    /* Global attributes. */
    att_text(ncid, NC_GLOBAL, "Conventions", text, sizeof(text));
    CHECK_STR_EQ(text, "CF-1.8");
    att_text(ncid, NC_GLOBAL, "title", text, sizeof(text));
    CHECK_STR_EQ(text, "store test");
    att_text(ncid, NC_GLOBAL, "job_file", text, sizeof(text));
    CHECK_STR_EQ(text, f.job->text);
    att_text(ncid, NC_GLOBAL, "job_path", text, sizeof(text));
    CHECK_STR_EQ(text, "jobs/x.yaml");
    att_text(ncid, NC_GLOBAL, "history", text, sizeof(text));
    CHECK(strstr(text, "Z polysweep run jobs/x.yaml (3 processes, BLAS Haswell x2): 0 of 16 "
                       "tasks already done") != NULL);
    CHECK(strchr(text, '\n') == NULL); /* one run so far */
    att_text(ncid, NC_GLOBAL, "source", text, sizeof(text));
    CHECK(strncmp(text, "polysweep " PS_VERSION " (git ", 17) == 0);
    att_text(ncid, NC_GLOBAL, "references", text, sizeof(text));
    CHECK(strstr(text, "arXiv:2209.10652") && strstr(text, "arXiv:2312.03096"));
    att_text(ncid, NC_GLOBAL, "job_fingerprint", text, sizeof(text));
    CHECK_INT_EQ(strlen(text), 16);
    att_text(ncid, NC_GLOBAL, "blas_core", text, sizeof(text));
    CHECK_STR_EQ(text, "Haswell");
    CHECK_INT_EQ(att_int(ncid, "blas_threads"), 2);
    CHECK_INT_EQ(att_int(ncid, "mpi_size"), 3);
    CHECK_INT_EQ(att_int(ncid, "tasks_total"), 16);
    CHECK_INT_EQ(att_int(ncid, "tasks_done"), 2);
    CHECK_INT_EQ(att_int(ncid, "tasks_failed"), 1);
    CHECK_INT_EQ(att_int(ncid, "tasks_pending"), 13);
    CHECK_INT_EQ(att_int(ncid, "polysweep_format"), 2);
    nc_close(ncid);

    /* xarray opens it as is. */
    if (system("/usr/bin/python3 -c 'import xarray' 2>/dev/null") != 0) {
        printf("SKIP xarray part of snapshot_layout: /usr/bin/python3 has no xarray\n");
    } else {
        char script[300], cmd[800];
        snprintf(script, sizeof(script), "%s/check.py", tmpdir);
        REQUIRE(harness_spit(script, (const unsigned char *)python_check, strlen(python_check)) == 0);
        snprintf(cmd, sizeof(cmd), "/usr/bin/python3 '%s' '%s'", script, out);
        CHECK_INT_EQ(system(cmd), 0);
    }
    fixture_free(&f);
    remove_tmpdir();
}

/* Raw bytes of every variable of two datasets are equal. */
static int same_variables(const char *a, const char *b)
{
    int na, nb, nva, nvb, diff = 0;
    if (nc_open(a, NC_NOWRITE, &na) || nc_open(b, NC_NOWRITE, &nb)) return 0;
    nc_inq_nvars(na, &nva);
    nc_inq_nvars(nb, &nvb);
    if (nva != nvb) diff++;
    for (int v = 0; v < nva && !diff; v++) {
        char name[NC_MAX_NAME + 1];
        nc_type type;
        int nd, dims[16], vb;
        nc_inq_var(na, v, name, &type, &nd, dims, NULL);
        if (nc_inq_varid(nb, name, &vb) || type == NC_STRING) continue;
        size_t count = 1, len;
        for (int d = 0; d < nd; d++) {
            nc_inq_dimlen(na, dims[d], &len);
            count *= len;
        }
        size_t size;
        nc_inq_type(na, type, NULL, &size);
        unsigned char *ba = malloc(count * size + 1), *bb = malloc(count * size + 1);
        if (nc_get_var(na, v, ba) || nc_get_var(nb, vb, bb) || memcmp(ba, bb, count * size))
            diff++;
        free(ba);
        free(bb);
    }
    nc_close(na);
    nc_close(nb);
    return diff == 0;
}

TEST(resume_bit_identical_and_grown_axis)
{
    make_tmpdir();
    Fixture f, grown, shrunk;
    REQUIRE(fixture_load(&f, "[0, 0.5]", "", "0.001", "") == 0);
    REQUIRE(fixture_load(&grown, "[0, 0.25, 0.5]", "", "0.001", "") == 0);
    REQUIRE(fixture_load(&shrunk, "[0]", "", "0.001", "") == 0);
    char err[512], out[300], first[400];
    out_path(out, sizeof(out));
    snprintf(first, sizeof(first), "%s/first.nc", tmpdir);
    Store *s = NULL;
    REQUIRE(open_store(&f, 0, &s, err, sizeof(err)) == 0);
    int64_t done[4] = {2, 5, 6, 11};
    for (int k = 0; k < 4; k++) CHECK(commit_task(s, f.grid, done[k], k == 1 ? TASK_FAILED : TASK_DONE) == 0);
    REQUIRE(store_snapshot(s, err, sizeof(err)) == 0);
    store_close(&s);
    REQUIRE(rename(out, first) == 0);

    /* Same job again: same data, bit for bit; a second history line. */
    REQUIRE(open_store(&f, 0, &s, err, sizeof(err)) == 0);
    REQUIRE(store_snapshot(s, err, sizeof(err)) == 0);
    store_close(&s);
    CHECK(same_variables(first, out));
    int ncid;
    char hist[4096];
    REQUIRE(nc_open(out, NC_NOWRITE, &ncid) == NC_NOERR);
    att_text(ncid, NC_GLOBAL, "history", hist, sizeof(hist));
    nc_close(ncid);
    char *nl = strchr(hist, '\n');
    CHECK(nl && strstr(nl, "4 of 16 tasks already done (1 failed)"));

    /* A value added to the sparsity axis: old results move to new indices. */
    REQUIRE(open_store(&grown, 0, &s, err, sizeof(err)) == 0);
    CHECK_STR_EQ(store_warnings(s), "");
    int64_t moved[4];
    for (int k = 0; k < 4; k++) {
        char label[256];
        grid_task_label(f.grid, done[k], label, sizeof(label));
        moved[k] = grid_find(grown.grid, label);
        CHECK(moved[k] >= 0);
        CHECK_INT_EQ(store_task_status(s, moved[k]), k == 1 ? TASK_FAILED : TASK_DONE);
    }
    CHECK(moved[3] != done[3]); /* the layout did change */
    CHECK_INT_EQ(store_count(s, TASK_PENDING), 24 - 4);
    REQUIRE(store_snapshot(s, err, sizeof(err)) == 0);
    store_close(&s);
    REQUIRE(nc_open(out, NC_NOWRITE, &ncid) == NC_NOERR);
    for (int v = 0; v < RV_COUNT; v++) {
        if ((result_vars[v].flags & RV_WEIGHTS) || !fixture_measures(v)) continue;
        CHECK_INT_EQ(check_var(ncid, grown.grid, v, moved, 4), 0);
    }
    CHECK(nc_inq_varid(ncid, "W", &(int){0}) == NC_ENOTVAR); /* no save_weights */
    nc_close(ncid);

    /* Values removed: their results stay in the journal only. */
    REQUIRE(open_store(&shrunk, 0, &s, err, sizeof(err)) == 0);
    int64_t orphans = 0;
    for (int k = 0; k < 4; k++) {
        char label[256];
        grid_task_label(f.grid, done[k], label, sizeof(label));
        orphans += grid_find(shrunk.grid, label) < 0;
    }
    CHECK(orphans > 0 && orphans < 4);
    CHECK_INT_EQ(store_orphan_count(s), orphans);
    char expect[64];
    snprintf(expect, sizeof(expect), "%lld finished task record", (long long)orphans);
    CHECK(strstr(store_warnings(s), expect));
    CHECK_INT_EQ(store_count(s, TASK_DONE) + store_count(s, TASK_FAILED), 4 - orphans);
    store_close(&s);
    /* ... and come back with the values. */
    REQUIRE(open_store(&grown, 0, &s, err, sizeof(err)) == 0);
    CHECK_INT_EQ(store_count(s, TASK_PENDING), 20);
    store_close(&s);
    fixture_free(&f);
    fixture_free(&grown);
    fixture_free(&shrunk);
    remove_tmpdir();
}

TEST(snapshot_error_leaves_output)
{
    make_tmpdir();
    Fixture f;
    REQUIRE(fixture_load(&f, "[0, 0.5]", "", "0.001", "") == 0);
    char err[512] = "", out[300], tmp[400];
    out_path(out, sizeof(out));
    Store *s = NULL;
    REQUIRE(open_store(&f, 0, &s, err, sizeof(err)) == 0);
    CHECK(commit_task(s, f.grid, 1, TASK_DONE) == 0);
    REQUIRE(store_snapshot(s, err, sizeof(err)) == 0);
    size_t len;
    unsigned char *before = harness_slurp(out, &len);
    REQUIRE(before);
    /* The temporary path is taken by a directory: the snapshot must fail
     * without touching the output. */
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", out, (long)getpid());
    REQUIRE(mkdir(tmp, 0755) == 0);
    CHECK(commit_task(s, f.grid, 2, TASK_DONE) == 0);
    CHECK_INT_EQ(store_snapshot(s, err, sizeof(err)), PS_EIO);
    char expect[400];
    snprintf(expect, sizeof(expect), "%s: ", out);
    CHECK(strncmp(err, expect, strlen(expect)) == 0 && strstr(err, "(while creating"));
    size_t len2;
    unsigned char *after = harness_slurp(out, &len2);
    CHECK(after && len == len2 && memcmp(before, after, len) == 0);
    free(after);
    free(before);
    rmdir(tmp);
    CHECK_INT_EQ(store_snapshot(s, err, sizeof(err)), 0);
    store_close(&s);
    fixture_free(&f);
    remove_tmpdir();
}

TEST(chunking_rule)
{
    make_tmpdir();
    Fixture f;
    /* 2 x 2 x 2 x 2000 tasks; W is (2, 5) floats = 40 bytes per task. By the
     * rule (whole trailing dims, then grid dims from the last while <= 256 KiB):
     * sparsity 2000 -> 80000 B, bias 2 -> 160000 B, n 2 would be 320000 B >
     * 262144, so n gets 262144 / 160000 = 1 and arch 1. */
    REQUIRE(fixture_load(&f, "{linspace: [0, 0.9, 2000]}", "", "0.001",
                         "  save_weights: true\n") == 0);
    char err[512], out[300];
    out_path(out, sizeof(out));
    Store *s = NULL;
    REQUIRE(open_store(&f, 0, &s, err, sizeof(err)) == 0);
    CHECK(commit_task(s, f.grid, 12345, TASK_DONE) == 0);
    REQUIRE(store_snapshot(s, err, sizeof(err)) == 0);
    store_close(&s);
    int ncid, storage;
    size_t chunk[6];
    REQUIRE(nc_open(out, NC_NOWRITE, &ncid) == NC_NOERR);
    nc_inq_var_chunking(ncid, var_id(ncid, "W"), &storage, chunk);
    CHECK_INT_EQ(storage, NC_CHUNKED);
    size_t want[6] = {1, 1, 2, 2000, 2, 5};
    for (int d = 0; d < 6; d++) CHECK_INT_EQ(chunk[d], want[d]);
    /* final_loss: 8 bytes per task, all 16000 tasks = 128000 B: one chunk. */
    nc_inq_var_chunking(ncid, var_id(ncid, "final_loss"), &storage, chunk);
    CHECK(chunk[0] == 2 && chunk[1] == 2 && chunk[2] == 2 && chunk[3] == 2000);
    /* capacity: (5) floats = 20 B -> 2000 * 2 * 2 * 20 = 160000, arch 2 ->
     * 320000 > 262144: arch gets 1. */
    nc_inq_var_chunking(ncid, var_id(ncid, "capacity"), &storage, chunk);
    CHECK(chunk[0] == 1 && chunk[1] == 2 && chunk[2] == 2 && chunk[3] == 2000 && chunk[4] == 5);
    CHECK_INT_EQ(check_var(ncid, f.grid, RV_W, (int64_t[]){12345}, 1), 0);
    nc_close(ncid);
    fixture_free(&f);
    remove_tmpdir();
}

/* Can a fresh process open the dataset and read every variable? (A damaged
 * NetCDF-4 file can crash the reader: platform.md.) */
static int readable_in_child(const char *path)
{
    pid_t pid = fork();
    if (pid == 0) {
        int ncid, nvars;
        if (nc_open(path, NC_NOWRITE, &ncid) || nc_inq_nvars(ncid, &nvars)) _exit(2);
        for (int v = 0; v < nvars; v++) {
            nc_type type;
            int nd, dims[16];
            size_t count = 1, len, size;
            nc_inq_var(ncid, v, NULL, &type, &nd, dims, NULL);
            if (type == NC_STRING) continue;
            for (int d = 0; d < nd; d++) {
                nc_inq_dimlen(ncid, dims[d], &len);
                count *= len;
            }
            nc_inq_type(ncid, type, NULL, &size);
            void *buf = malloc(count * size + 1);
            if (nc_get_var(ncid, v, buf)) _exit(3);
            free(buf);
        }
        _exit(nc_close(ncid) ? 4 : 0);
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) return 0;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

TEST(kill9_loses_nothing_acknowledged)
{
    make_tmpdir();
    Fixture f;
    REQUIRE(fixture_load(&f, "{linspace: [0, 0.9, 64]}", "", "0.001", "") == 0);
    char err[512], out[300];
    out_path(out, sizeof(out));
    int64_t nt = grid_task_count(f.grid);
    for (int round = 0; round < 10; round++) {
        int fds[2];
        REQUIRE(pipe(fds) == 0);
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            /* The writer: commit tasks in a scrambled order, acknowledging
             * each on the pipe once store_commit returned; snapshot often. */
            close(fds[0]);
            Store *s = NULL;
            if (open_store(&f, 0, &s, err, sizeof(err))) _exit(1);
            for (int64_t k = 0; k < nt; k++) {
                int64_t i = (k * 37 + round * 11) % nt;
                if (store_task_status(s, i) != TASK_PENDING) continue;
                if (commit_task(s, f.grid, i, i % 5 ? TASK_DONE : TASK_FAILED)) _exit(1);
                if (write(fds[1], &i, sizeof(i)) != sizeof(i)) _exit(1);
                if (k % 3 == 0 && store_snapshot(s, err, sizeof(err))) _exit(1);
            }
            _exit(0);
        }
        close(fds[1]);
        usleep(1000 + 7000 * (useconds_t)round);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        int64_t acked[512];
        int nacked = 0;
        ssize_t r;
        while (nacked < 512 && (r = read(fds[0], &acked[nacked], sizeof(int64_t))) == sizeof(int64_t))
            nacked++;
        close(fds[0]);
        if (getenv("STORE_TEST_VERBOSE"))
            fprintf(stderr, "round %d: %d acknowledged, killed=%d\n", round, nacked,
                    WIFSIGNALED(status));

        Store *s = NULL;
        REQUIRE(open_store(&f, 0, &s, err, sizeof(err)) == 0);
        int lost = 0;
        for (int k = 0; k < nacked; k++)
            lost += store_task_status(s, acked[k]) != (acked[k] % 5 ? TASK_DONE : TASK_FAILED);
        CHECK_INT_EQ(lost, 0);
        store_close(&s);
        struct stat st;
        if (stat(out, &st) == 0) CHECK(readable_in_child(out));
    }
    /* Finally everything is there once, and the dataset holds it. */
    Store *s = NULL;
    REQUIRE(open_store(&f, 0, &s, err, sizeof(err)) == 0);
    for (int64_t i = 0; i < nt; i++)
        if (store_task_status(s, i) == TASK_PENDING) CHECK(commit_task(s, f.grid, i, i % 5 ? TASK_DONE : TASK_FAILED) == 0);
    CHECK_INT_EQ(store_count(s, TASK_PENDING), 0);
    REQUIRE(store_snapshot(s, err, sizeof(err)) == 0);
    store_close(&s);
    CHECK(readable_in_child(out));
    fixture_free(&f);
    remove_tmpdir();
}

HARNESS_MAIN
