/* test_checkpoint.c - resuming inside a task (issue 5): task_run_ex's ticks
 * and resume, the checkpoint files of the store (format, every damaged byte,
 * identity checks, removal at commit, the sweep at open, --fresh),
 * store_inspect (`polysweep status`) on finished, partial, locked, torn,
 * damaged and grown sweeps, and the POLYSWEEP_TEST_CRASH fault injection
 * (forked children that kill themselves mid-write).
 *
 * Reference for "bit-identical": the uninterrupted task_run of the same
 * TaskSpec, compared as task_result_pack bytes with wall_time (the only
 * nondeterministic value) zeroed on both sides.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "polysweep/grid.h"
#include "polysweep/job.h"
#include "polysweep/polysweep.h"
#include "polysweep/store.h"
#include "polysweep/task.h"

/* ---- fixtures ---- */

static char tmpdir[256];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ps_test_ckpt_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        exit(1);
    }
}

static void remove_tmpdir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
}

typedef struct Fixture {
    JobSpec *job;
    Grid *g;
} Fixture;

static int fixture(Fixture *f, const char *text)
{
    char err[512];
    f->job = NULL;
    f->g = NULL;
    if (job_parse("jobs/ck.yaml", text, strlen(text), &f->job, err, sizeof err) ||
        grid_create(f->job, &f->g, err, sizeof err)) {
        fprintf(stderr, "fixture: %s\n", err);
        return -1;
    }
    return 0;
}

static void fixture_free(Fixture *f)
{
    grid_free(&f->g);
    job_free(&f->job);
}

/* Four tasks of different kinds, 60 steps, windows of 20. */
static const char job_kinds[] =
    "grid:\n"
    "  arch: [relu_output, linear]\n"
    "  optimizer: [adamw, sgd]\n"
    "settings:\n"
    "  n: 12\n"
    "  m: 4\n"
    "  sparsity: 0.7\n"
    "  importance: decay\n"
    "  importance_rate: 0.8\n"
    "  momentum: 0.9\n"
    "  lr: 0.01\n"
    "  lr_schedule: cosine\n"
    "  hidden_noise: gaussian\n"
    "  noise_sigma: 0.05\n"
    "  steps: 60\n"
    "  batch: 32\n"
    "  log_every: 20\n"
    "  eval_samples: 300\n";

static const char job_small[] =
    "grid:\n"
    "  sparsity: [0, 0.5, 0.9]\n"
    "settings:\n"
    "  n: 6\n"
    "  m: 2\n"
    "  steps: 40\n"
    "  batch: 16\n"
    "  log_every: 10\n"
    "  eval_samples: 100\n"
    "  lr: %s\n";

static int fixture_small(Fixture *f, const char *lr)
{
    char text[1024];
    snprintf(text, sizeof text, job_small, lr);
    return fixture(f, text);
}

static void out_path(char *buf, size_t len) { snprintf(buf, len, "%s/r/x.nc", tmpdir); }

static const StoreRunInfo run_info = {"polysweep run jobs/ck.yaml", "Haswell", 1, 1, NULL, NULL, 0, 0};

/* Packed result bytes with wall_time zeroed (malloc'd). */
static unsigned char *packed(TaskResult *r, size_t *len)
{
    unsigned char *buf = NULL;
    r->val[RV_WALL_TIME][0] = 0;
    if (task_result_pack(r, &buf, len)) return NULL;
    return buf;
}

static int same_result(TaskResult *a, TaskResult *b)
{
    size_t la, lb;
    unsigned char *pa = packed(a, &la), *pb = packed(b, &lb);
    int same = pa && pb && la == lb && memcmp(pa, pb, la) == 0;
    free(pa);
    free(pb);
    return same;
}

/* ---- task_run_ex: ticks, stop, resume ---- */

/* A tick that keeps a copy of the state at step `stop_at` and stops there
 * (never stops when stop_at < 0); counts its calls. */
typedef struct Saver {
    int64_t stop_at;
    void *state;
    size_t len;
    int64_t step;
    double elapsed;
    int calls;
    int64_t last_step;
} Saver;

static int saver_tick(void *ctx, const TaskTick *tk)
{
    Saver *s = ctx;
    s->calls++;
    s->last_step = tk->step;
    if (tk->step != s->stop_at && s->stop_at >= 0) return 0;
    free(s->state);
    s->state = malloc(tk->len);
    memcpy(s->state, tk->state, tk->len);
    s->len = tk->len;
    s->step = tk->step;
    s->elapsed = tk->elapsed;
    return s->stop_at >= 0;
}

TEST(run_ex_without_stop_equals_run)
{
    Fixture f;
    REQUIRE(fixture(&f, job_kinds) == 0);
    for (int64_t i = 0; i < grid_task_count(f.g); i++) {
        TaskSpec t;
        grid_task_spec(f.g, i, &t);
        TaskResult *a = NULL, *b = NULL, *c = NULL;
        CHECK_INT_EQ(task_run(&t, &a), 0);
        CHECK_INT_EQ(task_run_ex(&t, NULL, &b), 0);
        Saver sv = {.stop_at = -1};
        TaskHooks h = {.every = 7, .tick = saver_tick, .ctx = &sv};
        CHECK_INT_EQ(task_run_ex(&t, &h, &c), 0);
        REQUIRE(a && b && c);
        CHECK_INT_EQ(a->status, TASK_DONE);
        CHECK(same_result(a, b));
        CHECK(same_result(a, c));
        /* ticks at 7, 14, ..., 56 */
        CHECK_INT_EQ(sv.calls, 8);
        CHECK_INT_EQ(sv.last_step, 56);
        free(sv.state);
        task_result_free(&a);
        task_result_free(&b);
        task_result_free(&c);
    }
    fixture_free(&f);
}

TEST(interrupt_anywhere_resume_bit_identical)
{
    Fixture f;
    REQUIRE(fixture(&f, job_kinds) == 0);
    /* Before, at and after a window boundary, the first step, the last
     * stoppable step. */
    const int64_t stops[] = {1, 2, 19, 20, 21, 39, 40, 59};
    for (int64_t i = 0; i < grid_task_count(f.g); i++) {
        TaskSpec t;
        grid_task_spec(f.g, i, &t);
        TaskResult *ref = NULL;
        REQUIRE(task_run(&t, &ref) == 0);
        for (size_t k = 0; k < sizeof stops / sizeof stops[0]; k++) {
            Saver sv = {.stop_at = stops[k]};
            TaskHooks h = {.every = 1, .tick = saver_tick, .ctx = &sv};
            TaskResult *r = NULL;
            CHECK_INT_EQ(task_run_ex(&t, &h, &r), PS_EINTR);
            CHECK(r == NULL);
            CHECK_INT_EQ(sv.step, stops[k]);
            REQUIRE(sv.state);
            /* Resume (no further stop) from the saved bytes. */
            Saver sv2 = {.stop_at = -1};
            TaskHooks h2 = {.every = 1, .tick = saver_tick, .ctx = &sv2, .resume = sv.state,
                            .resume_len = sv.len, .resume_elapsed = 100.0};
            CHECK_INT_EQ(task_run_ex(&t, &h2, &r), 0);
            REQUIRE(r);
            /* Ticks only for the steps still to do. */
            CHECK_INT_EQ(sv2.calls, (int)(t.steps - stops[k]));
            /* The wall time adds up the attempts. */
            CHECK(r->val[RV_WALL_TIME][0] >= 100.0 && r->val[RV_WALL_TIME][0] < 200.0);
            if (!same_result(ref, r))
                HARNESS_FAIL_AT("task %lld interrupted at step %lld: resumed result differs",
                                (long long)i, (long long)stops[k]);
            task_result_free(&r);
            free(sv.state);
            free(sv2.state);
        }
        task_result_free(&ref);
    }
    fixture_free(&f);
}

TEST(interrupted_three_times)
{
    Fixture f;
    REQUIRE(fixture(&f, job_kinds) == 0);
    TaskSpec t;
    grid_task_spec(f.g, 1, &t);
    TaskResult *ref = NULL, *r = NULL;
    REQUIRE(task_run(&t, &ref) == 0);
    const int64_t stops[] = {13, 14, 47};
    void *state = NULL;
    size_t len = 0;
    double elapsed = 0;
    for (int k = 0; k < 3; k++) {
        Saver sv = {.stop_at = stops[k]};
        TaskHooks h = {.every = 1, .tick = saver_tick, .ctx = &sv, .resume = state,
                       .resume_len = len, .resume_elapsed = elapsed};
        CHECK_INT_EQ(task_run_ex(&t, &h, &r), PS_EINTR);
        CHECK(sv.elapsed >= elapsed);
        free(state);
        state = sv.state;
        len = sv.len;
        elapsed = sv.elapsed;
    }
    TaskHooks h = {.resume = state, .resume_len = len, .resume_elapsed = elapsed};
    CHECK_INT_EQ(task_run_ex(&t, &h, &r), 0);
    REQUIRE(r);
    CHECK(same_result(ref, r));
    free(state);
    task_result_free(&r);
    task_result_free(&ref);
    fixture_free(&f);
}

TEST(resume_a_diverging_task)
{
    Fixture f;
    REQUIRE(fixture(&f, "settings: {n: 5, m: 3, lr: 1000000, steps: 300, batch: 64, "
                        "log_every: 50, eval_samples: 100}\n") == 0);
    TaskSpec t;
    grid_task_spec(f.g, 0, &t);
    TaskResult *ref = NULL, *r = NULL;
    REQUIRE(task_run(&t, &ref) == 0);
    CHECK_INT_EQ(ref->status, TASK_FAILED);
    Saver sv = {.stop_at = 2};
    TaskHooks h = {.every = 1, .tick = saver_tick, .ctx = &sv};
    CHECK_INT_EQ(task_run_ex(&t, &h, &r), PS_EINTR);
    TaskHooks h2 = {.resume = sv.state, .resume_len = sv.len};
    CHECK_INT_EQ(task_run_ex(&t, &h2, &r), 0);
    REQUIRE(r);
    CHECK_INT_EQ(r->status, TASK_FAILED);
    CHECK_STR_EQ(r->reason, ref->reason);
    CHECK(same_result(ref, r));
    free(sv.state);
    task_result_free(&r);
    task_result_free(&ref);
    fixture_free(&f);
}

TEST(resume_refuses_a_state_that_does_not_fit)
{
    Fixture f;
    REQUIRE(fixture(&f, job_kinds) == 0);
    TaskSpec t;
    grid_task_spec(f.g, 0, &t);
    Saver sv = {.stop_at = -1};
    TaskHooks h = {.every = 60, .tick = saver_tick, .ctx = &sv};
    TaskResult *ref = NULL, *r = NULL;
    REQUIRE(task_run_ex(&t, &h, &ref) == 0);
    CHECK_INT_EQ(sv.calls, 1); /* at the last step: a stop there would be moot */
    REQUIRE(sv.state && sv.step == 60);

    TaskHooks bad = {.resume = sv.state, .resume_len = sv.len - 1};
    CHECK_INT_EQ(task_run_ex(&t, &bad, &r), PS_EFORMAT);
    CHECK(r == NULL);
    /* The step is the first int64 of the state (train.h layout): out of range. */
    unsigned char *copy = malloc(sv.len);
    memcpy(copy, sv.state, sv.len);
    int64_t step = 61;
    memcpy(copy, &step, sizeof step);
    bad.resume = copy;
    bad.resume_len = sv.len;
    CHECK_INT_EQ(task_run_ex(&t, &bad, &r), PS_EFORMAT);
    step = -1;
    memcpy(copy, &step, sizeof step);
    CHECK_INT_EQ(task_run_ex(&t, &bad, &r), PS_EFORMAT);
    /* Another task's state of the same size is not detectable here (the
     * store's checkpoint header is what identifies the task). The final
     * state: nothing left to train, the same measurements. */
    TaskHooks fin = {.resume = sv.state, .resume_len = sv.len};
    CHECK_INT_EQ(task_run_ex(&t, &fin, &r), 0);
    REQUIRE(r);
    CHECK(same_result(ref, r));
    free(copy);
    free(sv.state);
    task_result_free(&r);
    task_result_free(&ref);
    fixture_free(&f);
}

TEST(tick_steps_bounds)
{
    Fixture f;
    REQUIRE(fixture(&f, "settings: {n: 20, m: 5, batch: 1024}\n") == 0);
    TaskSpec t;
    grid_task_spec(f.g, 0, &t);
    /* 2^21 / (1024 * 20 * 6) = 17.07 -> 18 */
    CHECK_INT_EQ(task_tick_steps(&t), 18);
    t.n = 4000;
    t.m = 400;
    CHECK_INT_EQ(task_tick_steps(&t), 1);
    t.n = 1;
    t.m = 1;
    t.batch = 1;
    CHECK_INT_EQ(task_tick_steps(&t), 1048576);
    fixture_free(&f);
}

/* ---- checkpoint files ---- */

static void fake_state(unsigned char *buf, size_t len, unsigned seed)
{
    for (size_t k = 0; k < len; k++) buf[k] = (unsigned char)(seed * 131u + k * 7u + (k >> 8));
}

static int save_fake(StoreCkpt *c, int64_t i, int64_t step, size_t len, unsigned seed)
{
    unsigned char *st = malloc(len);
    fake_state(st, len, seed);
    TaskTick tk = {.state = st, .len = len, .step = step, .steps = 40, .elapsed = 1.5};
    char err[1024];
    int rc = store_ckpt_save(c, i, &tk, err, sizeof err);
    if (rc) fprintf(stderr, "store_ckpt_save: %s\n", err);
    free(st);
    return rc;
}

static void ckpt_file(const Grid *g, int64_t i, char *buf, size_t len)
{
    TaskSpec t;
    grid_task_spec(g, i, &t);
    snprintf(buf, len, "%s/r/x.nc.state/ckpt/%016llx.ckpt", tmpdir, (unsigned long long)t.key);
}

TEST(ckpt_roundtrip)
{
    make_tmpdir();
    Fixture f;
    REQUIRE(fixture_small(&f, "0.001") == 0);
    char out[300], err[1024];
    out_path(out, sizeof out);
    StoreCkpt *c = NULL;
    REQUIRE(store_ckpt_open(f.g, out, &c, err, sizeof err) == 0);
    StoreCheckpoint ck;
    CHECK_INT_EQ(store_ckpt_load(c, 1, &ck, err, sizeof err), 1); /* none yet */
    REQUIRE(save_fake(c, 1, 17, 1000, 3) == 0);
    REQUIRE(save_fake(c, 1, 23, 1000, 4) == 0); /* replaces it */
    CHECK_INT_EQ(store_ckpt_load(c, 0, &ck, err, sizeof err), 1);
    REQUIRE(store_ckpt_load(c, 1, &ck, err, sizeof err) == 0);
    unsigned char want[1000];
    fake_state(want, sizeof want, 4);
    CHECK_INT_EQ(ck.len, 1000);
    CHECK(memcmp(ck.state, want, 1000) == 0);
    CHECK_INT_EQ(ck.step, 23);
    CHECK_INT_EQ(ck.steps, 40);
    CHECK(ck.elapsed == 1.5);
    store_checkpoint_clear(&ck);
    CHECK(ck.state == NULL);
    /* no temporary left behind */
    char path[400];
    ckpt_file(f.g, 1, path, sizeof path);
    size_t n;
    unsigned char *bytes = harness_slurp(path, &n);
    CHECK_INT_EQ(n, 64 + strlen("sparsity=0.5") + 1000 + 4);
    free(bytes);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "test $(ls '%s/r/x.nc.state/ckpt' | wc -l) -eq 1", tmpdir);
    CHECK_INT_EQ(system(cmd), 0);
    store_ckpt_remove(c, 1);
    CHECK_INT_EQ(store_ckpt_load(c, 1, &ck, err, sizeof err), 1);
    store_ckpt_remove(c, 1); /* none is fine */
    store_ckpt_close(&c);
    store_ckpt_close(&c);
    fixture_free(&f);
    remove_tmpdir();
}

TEST(ckpt_every_damaged_byte_and_length_is_refused)
{
    make_tmpdir();
    Fixture f;
    REQUIRE(fixture_small(&f, "0.001") == 0);
    char out[300], err[1024], path[400];
    out_path(out, sizeof out);
    StoreCkpt *c = NULL;
    REQUIRE(store_ckpt_open(f.g, out, &c, err, sizeof err) == 0);
    REQUIRE(save_fake(c, 2, 5, 96, 9) == 0);
    ckpt_file(f.g, 2, path, sizeof path);
    size_t n;
    unsigned char *good = harness_slurp(path, &n);
    REQUIRE(good);
    StoreCheckpoint ck;
    int refused = 0;
    for (size_t k = 0; k < n; k++) {
        for (int bit = 0; bit < 8; bit += 3) {
            good[k] ^= (unsigned char)(1u << bit);
            REQUIRE(harness_spit(path, good, n) == 0);
            int rc = store_ckpt_load(c, 2, &ck, err, sizeof err);
            refused += rc == PS_EFORMAT;
            if (rc != PS_EFORMAT)
                HARNESS_FAIL_AT("byte %zu bit %d flipped: load returned %d", k, bit, rc);
            store_checkpoint_clear(&ck);
            good[k] ^= (unsigned char)(1u << bit);
        }
    }
    for (size_t len = 0; len < n; len++) {
        REQUIRE(harness_spit(path, good, len) == 0);
        int rc = store_ckpt_load(c, 2, &ck, err, sizeof err);
        if (rc != PS_EFORMAT) HARNESS_FAIL_AT("cut to %zu bytes: load returned %d", len, rc);
        store_checkpoint_clear(&ck);
    }
    /* the message names the file and the task */
    CHECK(strstr(err, path) && strstr(err, "sparsity=0.9"));
    REQUIRE(harness_spit(path, good, n) == 0);
    CHECK_INT_EQ(store_ckpt_load(c, 2, &ck, err, sizeof err), 0);
    store_checkpoint_clear(&ck);
    CHECK(refused == (int)n * 3);
    free(good);
    store_ckpt_close(&c);
    fixture_free(&f);
    remove_tmpdir();
}

TEST(ckpt_of_another_task_or_job_is_refused)
{
    make_tmpdir();
    Fixture a, b;
    REQUIRE(fixture_small(&a, "0.001") == 0);
    REQUIRE(fixture_small(&b, "0.002") == 0); /* another job, same labels and keys */
    char out[300], err[1024], p0[400], p1[400];
    out_path(out, sizeof out);
    StoreCkpt *ca = NULL, *cb = NULL;
    REQUIRE(store_ckpt_open(a.g, out, &ca, err, sizeof err) == 0);
    REQUIRE(store_ckpt_open(b.g, out, &cb, err, sizeof err) == 0);
    REQUIRE(save_fake(ca, 0, 5, 64, 1) == 0);
    StoreCheckpoint ck;
    /* another job's */
    CHECK_INT_EQ(store_ckpt_load(cb, 0, &ck, err, sizeof err), PS_EFORMAT);
    CHECK(strstr(err, "belongs to another job") != NULL);
    /* another task's, under this task's name */
    ckpt_file(a.g, 0, p0, sizeof p0);
    ckpt_file(a.g, 1, p1, sizeof p1);
    REQUIRE(rename(p0, p1) == 0);
    CHECK_INT_EQ(store_ckpt_load(ca, 1, &ck, err, sizeof err), PS_EFORMAT);
    CHECK(strstr(err, "belongs to another task") != NULL);
    store_ckpt_close(&ca);
    store_ckpt_close(&cb);
    fixture_free(&a);
    fixture_free(&b);
    remove_tmpdir();
}

/* A result for task i that store_commit accepts. */
static TaskResult *result_for(const Grid *g, int64_t i, int status)
{
    TaskSpec t;
    grid_task_spec(g, i, &t);
    TaskResult *r = NULL;
    if (task_result_create(t.n, t.m, task_log_count(&t), &r)) return NULL;
    r->status = status;
    if (status == TASK_FAILED) snprintf(r->reason, sizeof r->reason, "loss became nan at step 3");
    r->val[RV_FINAL_LOSS][0] = 0.25 + (double)i;
    return r;
}

static int commit(Store *s, const Grid *g, int64_t i, int status)
{
    char err[1024];
    TaskResult *r = result_for(g, i, status);
    int rc = r ? store_commit(s, i, r, err, sizeof err) : PS_ENOMEM;
    if (rc) fprintf(stderr, "store_commit: %s\n", err);
    task_result_free(&r);
    return rc;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

TEST(ckpt_removed_at_commit_swept_at_open)
{
    make_tmpdir();
    Fixture f;
    REQUIRE(fixture_small(&f, "0.001") == 0);
    char out[300], err[1024], p[3][400], tmp[500];
    out_path(out, sizeof out);
    for (int i = 0; i < 3; i++) ckpt_file(f.g, i, p[i], sizeof p[i]);
    Store *s = NULL;
    REQUIRE(store_open(f.g, out, 0, &run_info, &s, err, sizeof err) == 0);
    CHECK_INT_EQ(store_resumable_count(s), 0);
    StoreCkpt *c = store_checkpoints(s);
    REQUIRE(c);
    for (int i = 0; i < 3; i++) REQUIRE(save_fake(c, i, 10, 64, (unsigned)i) == 0);
    REQUIRE(commit(s, f.g, 0, TASK_DONE) == 0);
    CHECK(!exists(p[0]));
    CHECK(exists(p[1]) && exists(p[2]));
    /* task 2 finished but the process died before removing its checkpoint */
    REQUIRE(commit(s, f.g, 2, TASK_FAILED) == 0);
    REQUIRE(save_fake(c, 2, 10, 64, 2) == 0);
    /* and a temporary of a killed save */
    snprintf(tmp, sizeof tmp, "%s.tmp.12345", p[1]);
    REQUIRE(harness_spit(tmp, (const unsigned char *)"x", 1) == 0);
    store_close(&s);

    REQUIRE(store_open(f.g, out, 0, &run_info, &s, err, sizeof err) == 0);
    CHECK_INT_EQ(store_resumable_count(s), 1);
    CHECK(exists(p[1]));
    CHECK(!exists(p[2]));
    CHECK(!exists(tmp));
    store_close(&s);

    /* --fresh: every checkpoint goes */
    REQUIRE(store_open(f.g, out, 1, &run_info, &s, err, sizeof err) == 0);
    CHECK_INT_EQ(store_resumable_count(s), 0);
    CHECK(!exists(p[1]));
    store_close(&s);
    fixture_free(&f);
    remove_tmpdir();
}

/* ---- store_inspect ---- */

TEST(inspect_not_an_output)
{
    make_tmpdir();
    char out[300], err[1024];
    out_path(out, sizeof out);
    StoreInspect *in = NULL;
    CHECK_INT_EQ(store_inspect(out, &in, err, sizeof err), PS_EINVAL);
    CHECK(in == NULL);
    CHECK(strstr(err, "is not the output of a polysweep sweep") != NULL);
    CHECK(strstr(err, "x.nc.state/journal does not exist") != NULL);
    remove_tmpdir();
}

TEST(inspect_partial_locked_torn_damaged)
{
    make_tmpdir();
    Fixture f;
    REQUIRE(fixture_small(&f, "0.001") == 0);
    char out[300], err[1024], jp[400];
    out_path(out, sizeof out);
    snprintf(jp, sizeof jp, "%s.state/journal", out);
    Store *s = NULL;
    REQUIRE(store_open(f.g, out, 0, &run_info, &s, err, sizeof err) == 0);
    REQUIRE(commit(s, f.g, 0, TASK_DONE) == 0);
    REQUIRE(commit(s, f.g, 2, TASK_FAILED) == 0);
    REQUIRE(save_fake(store_checkpoints(s), 1, 12, 64, 7) == 0);

    /* While the store is open: the lock is held by this process. */
    StoreInspect *in = NULL;
    REQUIRE(store_inspect(out, &in, err, sizeof err) == 0);
    CHECK_INT_EQ(in->ntasks, 3);
    CHECK_INT_EQ(in->count[TASK_DONE], 1);
    CHECK_INT_EQ(in->count[TASK_FAILED], 1);
    CHECK_INT_EQ(in->count[TASK_PENDING], 1);
    CHECK_STR_EQ(in->reason[2], "loss became nan at step 3");
    REQUIRE(in->nckpt == 1);
    CHECK_INT_EQ(in->ckpt[0].task, 1);
    CHECK_INT_EQ(in->ckpt[0].step, 12);
    CHECK_INT_EQ(in->ckpt[0].steps, 40);
    CHECK_INT_EQ(in->locked, 1);
    CHECK_INT_EQ(in->lock_pid, getpid());
    CHECK_INT_EQ(in->records, 4); /* header, run, 2 tasks */
    CHECK_INT_EQ(in->torn_at, -1);
    CHECK_STR_EQ(in->problem, "");
    CHECK(in->last_run && strstr(in->last_run, "polysweep run jobs/ck.yaml"));
    store_inspect_free(&in);
    store_inspect_free(&in);
    store_close(&s);

    REQUIRE(store_inspect(out, &in, err, sizeof err) == 0);
    CHECK_INT_EQ(in->locked, 0);
    CHECK_INT_EQ(in->lock_pid, getpid()); /* from the lock file */
    store_inspect_free(&in);

    /* A record being appended (half of a copy of the last one). */
    size_t n;
    unsigned char *j = harness_slurp(jp, &n);
    REQUIRE(j);
    FILE *fp = fopen(jp, "ab");
    fwrite(j + n / 2, 1, n / 4, fp);
    fclose(fp);
    REQUIRE(store_inspect(out, &in, err, sizeof err) == 0);
    CHECK_INT_EQ(in->torn_at, (int64_t)n);
    CHECK_INT_EQ(in->torn_bytes, n / 4);
    CHECK_INT_EQ(in->count[TASK_DONE], 1);
    CHECK_INT_EQ(in->count[TASK_FAILED], 1);
    store_inspect_free(&in);
    /* status never modified it */
    struct stat st;
    REQUIRE(stat(jp, &st) == 0);
    CHECK_INT_EQ(st.st_size, n + n / 4);

    /* Damage in the middle: a byte of the first task record. */
    j[n - 10] ^= 0x40; /* inside the last record (task 2) */
    REQUIRE(harness_spit(jp, j, n) == 0);
    REQUIRE(store_inspect(out, &in, err, sizeof err) == 0);
    CHECK_INT_EQ(in->damaged_at, -1); /* the last record: torn, not damage */
    CHECK(in->torn_at > 0);
    CHECK_INT_EQ(in->count[TASK_FAILED], 0);
    store_inspect_free(&in);
    j[n - 10] ^= 0x40;
    /* now damage an earlier record, followed by a valid one */
    size_t tail = n - 300 > 200 ? 200 : 100;
    j[tail] ^= 0x01;
    REQUIRE(harness_spit(jp, j, n) == 0);
    REQUIRE(store_inspect(out, &in, err, sizeof err) == 0);
    CHECK(in->damaged_at >= 0 && (size_t)in->damaged_at <= tail);
    CHECK(strstr(in->problem, "damaged at byte offset") != NULL);
    store_inspect_free(&in);
    free(j);
    fixture_free(&f);
    remove_tmpdir();
}

TEST(inspect_follows_a_grown_axis)
{
    make_tmpdir();
    Fixture a, b;
    REQUIRE(fixture_small(&a, "0.001") == 0);
    char text[1024], err[1024], out[300];
    snprintf(text, sizeof text, job_small, "0.001");
    char *at = strstr(text, "0.9]");
    REQUIRE(at);
    memcpy(at, "0.99", 4); /* sparsity [0, 0.5, 0.99] */
    char grown[1100];
    snprintf(grown, sizeof grown, "%.*s0.99, 0.9]%s", (int)(at - text), text, at + 4);
    REQUIRE(fixture(&b, grown) == 0);
    CHECK_INT_EQ(grid_task_count(b.g), 4);
    out_path(out, sizeof out);
    Store *s = NULL;
    REQUIRE(store_open(a.g, out, 0, &run_info, &s, err, sizeof err) == 0);
    REQUIRE(commit(s, a.g, 0, TASK_DONE) == 0);
    store_close(&s);
    REQUIRE(store_open(b.g, out, 0, &run_info, &s, err, sizeof err) == 0);
    REQUIRE(commit(s, b.g, 2, TASK_DONE) == 0);
    store_close(&s);
    StoreInspect *in = NULL;
    REQUIRE(store_inspect(out, &in, err, sizeof err) == 0);
    CHECK_INT_EQ(in->ntasks, 4);
    CHECK_INT_EQ(in->count[TASK_DONE], 2);
    CHECK_INT_EQ(in->runs, 2);
    store_inspect_free(&in);
    /* A third run with the same text adds no JOB record. */
    char jp[400];
    snprintf(jp, sizeof jp, "%s.state/journal", out);
    struct stat st1, st2;
    REQUIRE(stat(jp, &st1) == 0);
    REQUIRE(store_open(b.g, out, 0, &run_info, &s, err, sizeof err) == 0);
    store_close(&s);
    REQUIRE(stat(jp, &st2) == 0);
    REQUIRE(store_inspect(out, &in, err, sizeof err) == 0);
    CHECK_INT_EQ(in->records, 7); /* header, run, task, job, run, task, run */
    store_inspect_free(&in);
    (void)st1;
    (void)st2;
    fixture_free(&a);
    fixture_free(&b);
    remove_tmpdir();
}

/* ---- fault injection: the child kills itself mid-write ---- */

typedef enum { CRASH_JOURNAL, CRASH_SNAPSHOT, CRASH_CKPT } CrashKind;

static int crash_child(const Fixture *f, const char *spec, CrashKind kind)
{
    pid_t pid = fork();
    if (pid == 0) {
        char out[300], err[1024];
        out_path(out, sizeof out);
        setenv("POLYSWEEP_TEST_CRASH", spec, 1);
        Store *s = NULL;
        if (store_open(f->g, out, 0, &run_info, &s, err, sizeof err)) _exit(10);
        if (kind == CRASH_JOURNAL) commit(s, f->g, 1, TASK_DONE);
        if (kind == CRASH_SNAPSHOT) store_snapshot(s, err, sizeof err);
        if (kind == CRASH_CKPT) {
            save_fake(store_checkpoints(s), 1, 7, 5000, 1);
            save_fake(store_checkpoints(s), 1, 9, 5000, 2);
        }
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFSIGNALED(status) ? WTERMSIG(status) : -WEXITSTATUS(status);
}

TEST(crash_hooks_kill_mid_write)
{
    make_tmpdir();
    Fixture f;
    REQUIRE(fixture_small(&f, "0.001") == 0);
    char out[300], err[1024];
    out_path(out, sizeof out);
    Store *s = NULL;
    REQUIRE(store_open(f.g, out, 0, &run_info, &s, err, sizeof err) == 0);
    REQUIRE(commit(s, f.g, 0, TASK_DONE) == 0);
    REQUIRE(store_snapshot(s, err, sizeof err) == 0);
    store_close(&s);
    struct stat before;
    REQUIRE(stat(out, &before) == 0);

    /* journal: the child's appends are its history line (1) and its task
     * record (2; the header exists, the job text is the same) */
    CHECK_INT_EQ(crash_child(&f, "journal-append:2", CRASH_JOURNAL), SIGKILL);
    StoreInspect *in = NULL;
    REQUIRE(store_inspect(out, &in, err, sizeof err) == 0);
    CHECK(in->torn_at > 0);
    CHECK_INT_EQ(in->count[TASK_DONE], 1);
    store_inspect_free(&in);
    REQUIRE(store_open(f.g, out, 0, &run_info, &s, err, sizeof err) == 0);
    CHECK(strstr(store_warnings(s), "dropped an incomplete last record") != NULL);
    CHECK_INT_EQ(store_count(s, TASK_DONE), 1);
    store_close(&s);

    /* snapshot: OUT is the previous one; the temporary stays until the next open */
    CHECK_INT_EQ(crash_child(&f, "snapshot:1", CRASH_SNAPSHOT), SIGKILL);
    struct stat after;
    REQUIRE(stat(out, &after) == 0);
    CHECK(after.st_ino == before.st_ino && after.st_size == before.st_size);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls '%s/r' | grep -q '^x.nc.tmp.[0-9]*$'", tmpdir);
    CHECK(system(cmd) == 0);
    REQUIRE(store_open(f.g, out, 0, &run_info, &s, err, sizeof err) == 0);
    store_close(&s);
    CHECK(system(cmd) != 0);

    /* checkpoint: the second save dies; the first stays valid */
    CHECK_INT_EQ(crash_child(&f, "checkpoint:2", CRASH_CKPT), SIGKILL);
    StoreCkpt *c = NULL;
    REQUIRE(store_ckpt_open(f.g, out, &c, err, sizeof err) == 0);
    StoreCheckpoint ck;
    REQUIRE(store_ckpt_load(c, 1, &ck, err, sizeof err) == 0);
    CHECK_INT_EQ(ck.step, 7);
    store_checkpoint_clear(&ck);
    store_ckpt_close(&c);
    snprintf(cmd, sizeof cmd, "ls '%s/r/x.nc.state/ckpt' | grep -q '[.]ckpt[.]tmp[.][0-9]*$'",
             tmpdir);
    CHECK(system(cmd) == 0);
    REQUIRE(store_open(f.g, out, 0, &run_info, &s, err, sizeof err) == 0);
    CHECK_INT_EQ(store_resumable_count(s), 1);
    store_close(&s);
    CHECK(system(cmd) != 0);
    fixture_free(&f);
    remove_tmpdir();
}

HARNESS_MAIN
