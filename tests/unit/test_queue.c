/* test_queue.c - the scheduler's pending queue (src/sched/queue.h; design.md,
 * Distribution; README "Who does what", "Short tasks are queued ahead"):
 * tasks go out longest first by the README's cost estimate, ties in grid
 * order, done tasks (and failed ones unless retried) left out; and a task is
 * queued on a worker behind the one it runs only when it is short.
 *
 * The expected order is built here from the README's cost formula and an
 * insertion sort, not from grid_task_cost or qsort. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "polysweep/grid.h"
#include "polysweep/job.h"
#include "polysweep/polysweep.h"
#include "polysweep/store.h"
#include "polysweep/task.h"
#include "../../src/sched/queue.h"

/* 3 x 2 x 2 = 12 tasks. arch linear and relu_output cost the same, so every
 * (n, steps) is a tie of two tasks; n and steps are listed out of order so
 * that neither grid order nor its reverse is the cost order. */
static const char job_text[] =
    "title: queue test\n"
    "grid:\n"
    "  n: [10, 40, 20]\n"
    "  arch: [linear, relu_output]\n"
    "  steps: [400, 100]\n"
    "settings:\n"
    "  m: 4\n"
    "  batch: 32\n"
    "  log_every: 50\n"
    "  eval_samples: 100\n";

/* README "Cost estimate", linear and relu_output with AdamW: per step
 * 10 B n m + 20 B n + 16 (m n + n), per evaluation example 4 n m + 10 n. */
static double readme_cost(const TaskSpec *t)
{
    const double n = t->n, m = t->m, B = t->batch;
    return (double)t->steps * (10 * B * n * m + 20 * B * n + 16 * (m * n + n)) +
           (double)t->eval_samples * (4 * n * m + 10 * n);
}

typedef struct Fixture {
    JobSpec *job;
    Grid *grid;
    Store *store;
    char dir[64], out[128];
} Fixture;

static int fixture_open(Fixture *f)
{
    char err[512];
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/ps_test_queue_XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->out, sizeof f->out, "%s/q.nc", f->dir);
    if (job_parse("q.yaml", job_text, strlen(job_text), &f->job, err, sizeof err) ||
        grid_create(f->job, &f->grid, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    static const StoreRunInfo info = {"polysweep run q.yaml", "Haswell", 1, 1, NULL, NULL};
    if (store_open(f->grid, f->out, 0, &info, &f->store, err, sizeof err)) {
        fprintf(stderr, "store_open: %s\n", err);
        return -1;
    }
    return 0;
}

static void fixture_close(Fixture *f)
{
    char cmd[160];
    store_close(&f->store);
    grid_free(&f->grid);
    job_free(&f->job);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (f->dir[0] && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
}

static int commit(Fixture *f, int64_t i, int status)
{
    TaskSpec t;
    grid_task_spec(f->grid, i, &t);
    TaskResult *r = NULL;
    char err[512];
    if (task_result_create(t.n, t.m, task_log_count(&t), &r))
        return PS_ENOMEM;
    r->status = status;
    if (status == TASK_FAILED)
        snprintf(r->reason, sizeof r->reason, "loss became nan at step 3");
    int rc = store_commit(f->store, i, r, err, sizeof err);
    if (rc)
        fprintf(stderr, "store_commit: %s\n", err);
    task_result_free(&r);
    return rc;
}

/* The tasks not skipped (skip[i]), by decreasing README cost, ties by
 * increasing index (an insertion sort: stable by construction). */
static int64_t expected_order(const Grid *g, const int *skip, int64_t *idx, double *total)
{
    int64_t n = 0;
    double cost[64];
    *total = 0;
    for (int64_t i = 0; i < grid_task_count(g); i++) {
        if (skip && skip[i])
            continue;
        TaskSpec t;
        grid_task_spec(g, i, &t);
        double c = readme_cost(&t);
        *total += c;
        int64_t k = n++;
        while (k > 0 && cost[k - 1] < c) {
            cost[k] = cost[k - 1];
            idx[k] = idx[k - 1];
            k--;
        }
        cost[k] = c;
        idx[k] = i;
    }
    return n;
}

static void check_queue(const TaskQueue *q, const int64_t *want, int64_t n, double total)
{
    CHECK_INT_EQ(q->count, n);
    for (int64_t k = 0; k < n && k < q->count; k++)
        if (q->index[k] != want[k])
            HARNESS_FAIL_AT("queue position %lld: task %lld, expected task %lld", (long long)k,
                            (long long)q->index[k], (long long)want[k]);
    CHECK_REL(q->cost, total, 1e-12, 0);
}

TEST(longest_first_ties_in_grid_order)
{
    Fixture f;
    REQUIRE(fixture_open(&f) == 0);
    REQUIRE(grid_task_count(f.grid) == 12);
    int64_t want[12];
    double total;
    int64_t n = expected_order(f.grid, NULL, want, &total);
    REQUIRE(n == 12);
    /* The fixture is what this test needs: the order is neither grid order
     * nor its reverse, and it has ties (the two archs of each n, steps). */
    int ties = 0, sorted = 1, reversed = 1;
    for (int k = 0; k + 1 < 12; k++) {
        TaskSpec a, b;
        grid_task_spec(f.grid, want[k], &a);
        grid_task_spec(f.grid, want[k + 1], &b);
        ties += readme_cost(&a) == readme_cost(&b);
        sorted &= want[k] < want[k + 1];
        reversed &= want[k] > want[k + 1];
    }
    CHECK_INT_EQ(ties, 6);
    CHECK(!sorted && !reversed);
    /* The biggest task first: n = 40, 400 steps, linear (before relu_output). */
    TaskSpec first;
    grid_task_spec(f.grid, want[0], &first);
    CHECK(first.n == 40 && first.steps == 400 && first.arch == ARCH_LINEAR);

    TaskQueue q = {0};
    REQUIRE(sched_queue_pending(f.grid, f.store, 0, &q) == 0);
    check_queue(&q, want, n, total);
    sched_queue_free(&q);
    CHECK(q.index == NULL && q.count == 0);
    fixture_close(&f);
}

TEST(done_tasks_left_out_failed_ones_unless_retried)
{
    Fixture f;
    REQUIRE(fixture_open(&f) == 0);
    int skip[12] = {0};
    /* the longest task done, a middle one and the shortest failed */
    int64_t want[12];
    double total;
    expected_order(f.grid, NULL, want, &total);
    REQUIRE(commit(&f, want[0], TASK_DONE) == 0);
    REQUIRE(commit(&f, want[5], TASK_FAILED) == 0);
    REQUIRE(commit(&f, want[11], TASK_FAILED) == 0);
    skip[want[0]] = skip[want[5]] = skip[want[11]] = 1;

    TaskQueue q = {0};
    int64_t n = expected_order(f.grid, skip, want, &total);
    REQUIRE(n == 9);
    REQUIRE(sched_queue_pending(f.grid, f.store, 0, &q) == 0);
    check_queue(&q, want, n, total);
    sched_queue_free(&q);

    /* --retry-failed: the failed ones are back, in their places */
    int64_t all[12];
    expected_order(f.grid, NULL, all, &total);
    skip[all[5]] = skip[all[11]] = 0;
    n = expected_order(f.grid, skip, want, &total);
    REQUIRE(n == 11);
    REQUIRE(sched_queue_pending(f.grid, f.store, 1, &q) == 0);
    check_queue(&q, want, n, total);
    sched_queue_free(&q);

    /* everything done: an empty queue */
    for (int64_t i = 0; i < 12; i++)
        if (store_task_status(f.store, i) != TASK_DONE)
            REQUIRE(commit(&f, i, TASK_DONE) == 0);
    REQUIRE(sched_queue_pending(f.grid, f.store, 1, &q) == 0);
    CHECK_INT_EQ(q.count, 0);
    CHECK(q.cost == 0);
    sched_queue_free(&q);
    fixture_close(&f);
}

TEST(only_short_tasks_are_queued_ahead)
{
    /* 2 s measured over 1e9 units of cost: 2e-9 s per unit. */
    const double wall = 2.0, cost = 1e9;
    CHECK(sched_queue_ahead(wall, cost, 1e6));        /* 2 ms */
    CHECK(sched_queue_ahead(wall, cost, 2.4e8));      /* 0.48 s */
    CHECK(!sched_queue_ahead(wall, cost, 2.5e8));     /* 0.5 s: not shorter */
    CHECK(!sched_queue_ahead(wall, cost, 1e10));      /* 20 s */
    /* the threshold is the documented half second */
    CHECK(SCHED_AHEAD_BELOW == 0.5);
    /* nothing timed yet: no estimate, nothing queued ahead */
    CHECK(!sched_queue_ahead(0, 0, 1));
    CHECK(!sched_queue_ahead(0, 0, 0));
    /* tasks that took no measurable time are short */
    CHECK(sched_queue_ahead(0, cost, 1e12));
}

HARNESS_MAIN
