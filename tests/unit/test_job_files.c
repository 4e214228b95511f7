/* test_job_files.c - data-driven job file cases (in the way of jq's tests).
 *
 * tests/data/jobs/bad/NAME.yaml holds a broken job file and NAME.expected the
 * exact one-line message that job_load, then grid_create, must give first
 * (the path in it relative to the repository root, where this test runs).
 * An .expected without a .yaml is the missing-file case: the load of the
 * absent path must fail with PS_EIO. Every file in tests/data/jobs/good/
 * must load and make a grid without any error.
 *
 * The CLI's end-to-end test runs `polysweep plan` on the same files and
 * expects exit code 2 and the same line on stderr.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "polysweep/grid.h"
#include "polysweep/job.h"
#include "polysweep/polysweep.h"

#include "harness.h"

#define BAD_DIR "tests/data/jobs/bad"
#define GOOD_DIR "tests/data/jobs/good"

typedef struct Names {
    char **name;
    int n;
} Names;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Base names (without `ext`) of the files in dir ending in ext, sorted. */
static Names list_dir(const char *dir, const char *ext)
{
    Names out = {NULL, 0};
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "cannot open %s\n", dir);
        return out;
    }
    size_t el = strlen(ext);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len <= el || strcmp(e->d_name + len - el, ext) != 0)
            continue;
        out.name = realloc(out.name, (size_t)(out.n + 1) * sizeof(char *));
        out.name[out.n++] = strndup(e->d_name, len - el);
    }
    closedir(d);
    qsort(out.name, (size_t)out.n, sizeof(char *), cmp_str);
    return out;
}

static int has(const Names *names, const char *name)
{
    return bsearch(&name, names->name, (size_t)names->n, sizeof(char *), cmp_str) != NULL;
}

static void names_free(Names *names)
{
    for (int i = 0; i < names->n; i++)
        free(names->name[i]);
    free(names->name);
}

/* The whole file without its trailing newline. */
static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = calloc(1, 4096);
    size_t len = buf ? fread(buf, 1, 4095, f) : 0;
    fclose(f);
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        buf[--len] = '\0';
    return buf;
}

/* job_load, then grid_create: the first error (ret 0 and "" when none). */
static int load_and_grid(const char *path, char *err, size_t errlen)
{
    JobSpec *job = NULL;
    Grid *g = NULL;
    err[0] = '\0';
    int ret = job_load(path, &job, err, errlen);
    if (ret == 0) {
        ret = grid_create(job, &g, err, errlen);
        if (ret == 0 && grid_task_count(g) < 1)
            ret = PS_EINVAL;
    }
    grid_free(&g);
    job_free(&job);
    return ret;
}

static void go_to_repo_root(void)
{
    if (chdir(TESTS_SOURCE_DIR "/..") != 0)
        perror("chdir " TESTS_SOURCE_DIR "/..");
}

TEST(bad_files_give_their_expected_message)
{
    go_to_repo_root();
    Names yaml = list_dir(BAD_DIR, ".yaml"), expected = list_dir(BAD_DIR, ".expected");
    CHECK(expected.n >= 20);
    for (int i = 0; i < expected.n; i++) {
        char path[512], epath[512], err[1024];
        snprintf(path, sizeof(path), BAD_DIR "/%s.yaml", expected.name[i]);
        snprintf(epath, sizeof(epath), BAD_DIR "/%s.expected", expected.name[i]);
        char *want = read_text(epath);
        REQUIRE(want);
        /* Exactly one line. */
        CHECK(!strchr(want, '\n'));
        int ret = load_and_grid(path, err, sizeof(err));
        int missing = !has(&yaml, expected.name[i]);
        if (strcmp(err, want) != 0 || ret != (missing ? PS_EIO : PS_EINVAL))
            fprintf(stderr, "case %s (ret %d):\n", expected.name[i], ret);
        CHECK_INT_EQ(ret, missing ? PS_EIO : PS_EINVAL);
        CHECK_STR_EQ(err, want);
        free(want);
    }
    /* Every case has its expectation. */
    for (int i = 0; i < yaml.n; i++) {
        if (!has(&expected, yaml.name[i]))
            fprintf(stderr, "%s/%s.yaml has no .expected\n", BAD_DIR, yaml.name[i]);
        CHECK(has(&expected, yaml.name[i]));
    }
    names_free(&yaml);
    names_free(&expected);
}

TEST(required_bad_cases_exist)
{
    static const char *required[] = {
        "unknown_key", "unknown_key_far", "wrong_type", "m_zero", "sparsity_one",
        "unknown_arch", "duplicate_key", "not_yaml", "not_mapping", "empty_file",
        "missing_file", "empty_axis", "duplicate_axis_value", "axis_and_fixed",
        "fixed_only_axis", "linspace_bad_int", "sparsity_and_density",
        "steps_not_multiple", "bad_generator", "unknown_top_key",
    };
    go_to_repo_root();
    Names yaml = list_dir(BAD_DIR, ".yaml"), expected = list_dir(BAD_DIR, ".expected");
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        if (!has(&expected, required[i]))
            fprintf(stderr, "missing case %s\n", required[i]);
        CHECK(has(&expected, required[i]));
    }
    /* missing_file is the one case whose job file must not exist. */
    CHECK(!has(&yaml, "missing_file"));
    names_free(&yaml);
    names_free(&expected);
}

TEST(good_files_load)
{
    go_to_repo_root();
    Names good = list_dir(GOOD_DIR, ".yaml");
    CHECK(good.n >= 3);
    for (int i = 0; i < good.n; i++) {
        char path[512], err[1024];
        snprintf(path, sizeof(path), GOOD_DIR "/%s.yaml", good.name[i]);
        int ret = load_and_grid(path, err, sizeof(err));
        if (ret != 0)
            fprintf(stderr, "%s: %s\n", path, err);
        CHECK_INT_EQ(ret, 0);
    }
    names_free(&good);
}

HARNESS_MAIN
