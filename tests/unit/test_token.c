/* test_token.c - the shared-storage token (store.h, store_token_write and
 * store_token_check): rank 0 writes a new random token into OUT.state/token
 * with the Store open; a process that sees the same file system reads it
 * back; one that sees no token, another run's token, or a damaged file is
 * told what it found, after its patience ran out. The multi-node side (a
 * node-local output on a real cluster of namespaces) is
 * tests/e2e/test_multinode.py.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "polysweep/grid.h"
#include "polysweep/job.h"
#include "polysweep/polysweep.h"
#include "polysweep/store.h"

static const char job_text[] =
    "grid:\n"
    "  sparsity: [0, 0.9]\n"
    "settings:\n"
    "  n: 6\n"
    "  m: 2\n"
    "  steps: 20\n"
    "  batch: 16\n"
    "  log_every: 10\n"
    "  eval_samples: 100\n";

static const StoreRunInfo run_info = {.command = "polysweep run jobs/token.yaml",
                                      .blas_core = "Haswell", .blas_threads = 1, .mpi_size = 3};

typedef struct Fixture {
    char dir[64], out[128], token_path[160];
    char token[STORE_TOKEN_LEN]; /* the one fixture_open wrote */
    JobSpec *job;
    Grid *g;
    Store *s;
} Fixture;

static int fixture_open(Fixture *f)
{
    char err[512];
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/ps_test_token_XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->out, sizeof f->out, "%s/x.nc", f->dir);
    snprintf(f->token_path, sizeof f->token_path, "%s.state/token", f->out);
    if (job_parse("jobs/token.yaml", job_text, strlen(job_text), &f->job, err, sizeof err) ||
        grid_create(f->job, &f->g, err, sizeof err) ||
        store_open(f->g, f->out, 0, &run_info, &f->s, err, sizeof err) ||
        store_token_write(f->s, f->token, err, sizeof err)) {
        fprintf(stderr, "fixture: %s\n", err);
        return -1;
    }
    return 0;
}

static void fixture_close(Fixture *f)
{
    store_close(&f->s);
    grid_free(&f->g);
    job_free(&f->job);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (f->dir[0] && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

TEST(written_token_is_seen_and_new_each_run)
{
    Fixture f;
    char err[512] = "", b[STORE_TOKEN_LEN];
    REQUIRE(fixture_open(&f) == 0);
    const char *a = f.token;
    CHECK_INT_EQ((int)strlen(a), 32);
    CHECK(strspn(a, "0123456789abcdef") == 32);
    CHECK_INT_EQ(store_token_check(f.out, a, 0, err, sizeof err), 0);
    /* the file names its writer: "<token> <host> <pid>" */
    size_t len;
    unsigned char *text = harness_slurp(f.token_path, &len);
    REQUIRE(text != NULL);
    text[len] = '\0';
    char host[256] = "", tok[40] = "";
    long pid = 0;
    CHECK_INT_EQ(sscanf((char *)text, "%39s %255s %ld", tok, host, &pid), 3);
    CHECK_STR_EQ(tok, a);
    CHECK_INT_EQ((int)pid, (int)getpid());
    free(text);
    /* a second run's token replaces the first, and the first no longer counts */
    REQUIRE(store_token_write(f.s, b, err, sizeof err) == 0);
    CHECK(strcmp(a, b) != 0);
    CHECK_INT_EQ(store_token_check(f.out, b, 0, err, sizeof err), 0);
    CHECK_INT_EQ(store_token_check(f.out, a, 0, err, sizeof err), PS_EMISMATCH);
    CHECK(strstr(err, "holds the token of another run") != NULL);
    CHECK(strstr(err, host) != NULL);
    /* no temporary file is left beside it */
    char tmp[200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", f.token_path, (long)getpid());
    CHECK(access(tmp, F_OK) != 0);
    fixture_close(&f);
}

TEST(missing_token_is_reported_after_the_patience)
{
    Fixture f;
    char err[512] = "";
    REQUIRE(fixture_open(&f) == 0);
    const char *a = f.token;
    REQUIRE(unlink(f.token_path) == 0);
    double t0 = now();
    CHECK_INT_EQ(store_token_check(f.out, a, 0.3, err, sizeof err), PS_EMISMATCH);
    double waited = now() - t0;
    CHECK(waited >= 0.3 && waited < 5);
    CHECK(strstr(err, f.token_path) != NULL && strstr(err, "does not exist on this node") != NULL);
    /* an output whose OUT.state does not exist at all (another node's /tmp) */
    char elsewhere[160];
    snprintf(elsewhere, sizeof elsewhere, "%s/nowhere/y.nc", f.dir);
    CHECK_INT_EQ(store_token_check(elsewhere, a, 0, err, sizeof err), PS_EMISMATCH);
    CHECK(strstr(err, "does not exist on this node") != NULL);
    fixture_close(&f);
}

TEST(token_that_appears_within_the_patience_is_seen)
{
    /* A lagging cache: the file shows up while the check still looks. */
    Fixture f;
    char err[512] = "";
    REQUIRE(fixture_open(&f) == 0);
    const char *a = f.token;
    size_t len;
    unsigned char *text = harness_slurp(f.token_path, &len);
    REQUIRE(text != NULL);
    REQUIRE(unlink(f.token_path) == 0);
    fflush(NULL);
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        struct timespec ts = {0, 300 * 1000 * 1000};
        nanosleep(&ts, NULL);
        _exit(harness_spit(f.token_path, text, len) == 0 ? 0 : 1);
    }
    CHECK_INT_EQ(store_token_check(f.out, a, 10, err, sizeof err), 0);
    int status = 0;
    waitpid(child, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    free(text);
    fixture_close(&f);
}

TEST(damaged_token_file_is_not_this_runs)
{
    Fixture f;
    char err[512] = "";
    REQUIRE(fixture_open(&f) == 0);
    const char *a = f.token;
    /* the token without its separator, and an empty file */
    REQUIRE(harness_spit(f.token_path, (const unsigned char *)a, strlen(a)) == 0);
    CHECK_INT_EQ(store_token_check(f.out, a, 0, err, sizeof err), PS_EMISMATCH);
    CHECK(strstr(err, "does not hold this run's token") != NULL);
    REQUIRE(harness_spit(f.token_path, (const unsigned char *)"", 0) == 0);
    CHECK_INT_EQ(store_token_check(f.out, a, 0, err, sizeof err), PS_EMISMATCH);
    fixture_close(&f);
}

HARNESS_MAIN
