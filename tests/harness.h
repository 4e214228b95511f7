/* harness.h - the project's small test harness (in the spirit of PipeWire's
 * pwtest): typed asserts that print both sides and keep going, a TEST()
 * registry, and a main that runs every case and exits non-zero on any failure.
 *
 *   #include "harness.h"
 *   TEST(capacity_of_orthonormal_set) {
 *       CHECK_NEAR(c[0], 1.0, 1e-12);
 *   }
 *   HARNESS_MAIN
 *
 * A case fails when any CHECK fails; REQUIRE_* also returns from the case.
 * SKIP_CASE(...) ends a case that needs what this machine lacks (a CPU
 * feature); the executable then exits 77, meson's "skipped", unless a case
 * failed. Run one case with: ./test_x case_name
 */
#ifndef POLYSWEEP_TEST_HARNESS_H
#define POLYSWEEP_TEST_HARNESS_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*harness_fn)(void);
struct harness_case { const char *name; harness_fn fn; };

#define HARNESS_MAX_CASES 512
static struct harness_case harness_cases[HARNESS_MAX_CASES];
static int harness_ncases;
static int harness_case_failed;
static int harness_case_skipped;
static long harness_checks;

static inline void harness_register(const char *name, harness_fn fn)
{
    if (harness_ncases < HARNESS_MAX_CASES)
        harness_cases[harness_ncases++] = (struct harness_case){name, fn};
}

/* A whole file into memory (malloc'd, one spare byte), or NULL. */
static inline unsigned char *harness_slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    *len = 0;
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    *len = n >= 0 ? (size_t)n : 0;
    return buf;
}

/* Write len bytes as the whole file: 0 or -1. */
static inline int harness_spit(const char *path, const unsigned char *buf, size_t len)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) return -1;
    size_t w = fwrite(buf, 1, len, fp);
    return fclose(fp) == 0 && w == len ? 0 : -1;
}

#define TEST(name)                                                             \
    static void test_##name(void);                                             \
    __attribute__((constructor)) static void register_##name(void)            \
    {                                                                          \
        harness_register(#name, test_##name);                                  \
    }                                                                          \
    static void test_##name(void)

#define HARNESS_FAIL_AT(...)                                                   \
    do {                                                                       \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                        \
        fprintf(stderr, __VA_ARGS__);                                          \
        fputc('\n', stderr);                                                   \
        harness_case_failed = 1;                                               \
    } while (0)

#define CHECK(cond)                                                            \
    do {                                                                       \
        harness_checks++;                                                      \
        if (!(cond)) HARNESS_FAIL_AT("CHECK(%s) failed", #cond);              \
    } while (0)

#define CHECK_INT_EQ(a, b)                                                     \
    do {                                                                       \
        long long va_ = (long long)(a), vb_ = (long long)(b);                  \
        harness_checks++;                                                      \
        if (va_ != vb_)                                                        \
            HARNESS_FAIL_AT("%s == %s: %lld != %lld", #a, #b, va_, vb_);       \
    } while (0)

#define CHECK_STR_EQ(a, b)                                                     \
    do {                                                                       \
        const char *sa_ = (a), *sb_ = (b);                                     \
        harness_checks++;                                                      \
        if (!sa_ || !sb_ || strcmp(sa_, sb_) != 0)                             \
            HARNESS_FAIL_AT("%s == %s:\n  got:      \"%s\"\n  expected: \"%s\"", \
                            #a, #b, sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)"); \
    } while (0)

/* |a - b| <= tol (absolute); NaN never passes. */
#define CHECK_NEAR(a, b, tol)                                                  \
    do {                                                                       \
        double va_ = (double)(a), vb_ = (double)(b), t_ = (double)(tol);       \
        harness_checks++;                                                      \
        if (!(fabs(va_ - vb_) <= t_))                                          \
            HARNESS_FAIL_AT("%s ~ %s: %.17g vs %.17g (diff %.3g > %.3g)",      \
                            #a, #b, va_, vb_, fabs(va_ - vb_), t_);            \
    } while (0)

/* |a - b| <= tol * max(|a|, |b|, floor) (relative); NaN never passes. */
#define CHECK_REL(a, b, tol, floor)                                            \
    do {                                                                       \
        double va_ = (double)(a), vb_ = (double)(b), t_ = (double)(tol);       \
        double s_ = fmax(fmax(fabs(va_), fabs(vb_)), (double)(floor));         \
        harness_checks++;                                                      \
        if (!(fabs(va_ - vb_) <= t_ * s_))                                     \
            HARNESS_FAIL_AT("%s ~ %s: %.17g vs %.17g (rel %.3g > %.3g)",       \
                            #a, #b, va_, vb_, fabs(va_ - vb_) / s_, t_);       \
    } while (0)

#define SKIP_CASE(...)                                                         \
    do {                                                                       \
        printf("SKIP: ");                                                      \
        printf(__VA_ARGS__);                                                   \
        putchar('\n');                                                         \
        harness_case_skipped = 1;                                              \
        return;                                                                \
    } while (0)

#define REQUIRE(cond)                                                          \
    do {                                                                       \
        harness_checks++;                                                      \
        if (!(cond)) {                                                         \
            HARNESS_FAIL_AT("REQUIRE(%s) failed", #cond);                     \
            return;                                                            \
        }                                                                      \
    } while (0)

/* Path of a file under tests/ (the build passes the source dir). */
#ifndef TESTS_SOURCE_DIR
#define TESTS_SOURCE_DIR "."
#endif

#define HARNESS_MAIN                                                           \
    int main(int argc, char **argv)                                            \
    {                                                                          \
        int failed = 0, ran = 0, skipped = 0;                                  \
        for (int i = 0; i < harness_ncases; i++) {                             \
            if (argc > 1 && strcmp(argv[1], harness_cases[i].name) != 0)       \
                continue;                                                      \
            harness_case_failed = harness_case_skipped = 0;                    \
            harness_cases[i].fn();                                             \
            ran++;                                                             \
            printf("%s %s\n", harness_case_failed    ? "FAIL"                  \
                               : harness_case_skipped ? "skip"                  \
                                                      : "ok  ",                 \
                   harness_cases[i].name);                                     \
            fflush(stdout);                                                    \
            failed += harness_case_failed;                                     \
            skipped += harness_case_skipped && !harness_case_failed;           \
        }                                                                      \
        printf("%d cases, %d failed, %ld checks\n", ran, failed,              \
               harness_checks);                                                \
        if (skipped)                                                           \
            printf("%d cases skipped: exit 77 (skipped)\n", skipped);          \
        if (ran == 0) {                                                        \
            fprintf(stderr, "no test case matched\n");                         \
            return 1;                                                          \
        }                                                                      \
        return failed ? 1 : skipped ? 77 : 0;                                  \
    }

#endif
