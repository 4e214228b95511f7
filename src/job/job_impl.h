/* job_impl.h - private to src/job: what settings.c, value.c, axis.c and job.c
 * share. The public contract is include/polysweep/job.h.
 *
 *   settings.c  the catalog, canonical value text, range text, suggestions
 *   value.c     one YAML scalar -> one checked value; message helpers
 *   axis.c      one `grid:` entry -> an Axis (lists and generators)
 *   job.c       the file: sections, JobSpec, fingerprint
 *   yaml_tree.c libyaml -> YNode tree (the only libyaml door)
 */
#ifndef POLYSWEEP_JOB_IMPL_H
#define POLYSWEEP_JOB_IMPL_H

#include <stddef.h>

#include "polysweep/job.h"

#include "yaml_tree.h"

/* Most values one generator may produce (an axis of a million values is
 * already past any useful sweep; the bound keeps allocations sane). */
#define JOB_AXIS_MAX_VALUES 1000000

/* ---- settings.c ---- */

/* Copy user text into buf for a one-line message: control characters become
 * '?', and text longer than 40 bytes is cut (at a UTF-8 boundary) with "...". */
void job_text_clip(const char *s, char *buf, size_t len);

/* Shortest "%.Ng" (N = 15..17) that reads back as v exactly. */
void job_number_text(double v, char *buf, size_t len);

/* A value of setting s for people: like job_value_text, but reals in their
 * shortest exact form (0.1, not 0.10000000000000001). */
void job_value_display(const Setting *s, double v, char *buf, size_t len);

/* What setting s accepts, for "<name> must be <expect>, got ...":
 * "an integer in [1, 1000000]", "a number > 0", "true or false", ...
 * v is the offending value (SETTING_HI_LIMIT shows hi only when v exceeds it);
 * with_range = 0 gives just the type ("an integer", "a number"). */
void job_setting_expect(const Setting *s, double v, int with_range, char *buf,
                        size_t len);

enum { JOB_VALUE_OK = 0, JOB_VALUE_NOT_INTEGER = 1, JOB_VALUE_OUT_OF_RANGE = 2 };

/* Check a numeric value against s's type (integral for SET_INT, finite) and
 * range; SET_BOOL must be 0/1 and SET_ENUM an index of a choice. */
int job_setting_check(const Setting *s, double v);

/* How well `cand` matches a misspelt `given`: -1 for no suggestion, else a
 * rank (lower is better): Damerau-Levenshtein (optimal string alignment,
 * case-insensitive) distance d <= 2 with d < strlen(given) ranks d; otherwise
 * one being a prefix of the other (at least 3 characters) ranks 3 + the
 * length difference. */
int job_suggest_rank(const char *given, const char *cand);

/* Index of the best suggestion among n candidates (ties: the first), or -1. */
int job_suggest(const char *given, const char *const *cands, int n);

/* ---- value.c ---- */

typedef struct JobParse {
    const char *path; /* for messages */
    char *err;
    size_t errlen;
    JobSpec *job;
    int *key_line;    /* job_setting_count: line of each `settings:` key */
} JobParse;

/* Write "path:line:col: message" at node `at` (NULL: 1:1); returns PS_EINVAL. */
__attribute__((format(printf, 3, 4)))
int job_fail(JobParse *p, const YNode *at, const char *fmt, ...);

/* "unknown key 'stpes' in settings (did you mean 'steps'?)" at the key;
 * `where` is "" at the top level or " in settings". */
int job_fail_unknown(JobParse *p, const YNode *key, const char *where,
                     const char *const *cands, int n);

/* Read one value of setting s from a YAML node, checked against its type and
 * range: "n must be an integer >= 1, got 0" and the like. */
int job_scalar_value(JobParse *p, const Setting *s, const YNode *node, double *v);

/* Key i of a mapping: checked to be a scalar ("keys must be names, got a
 * sequence"); the text in *name. */
int job_map_key(JobParse *p, const YNode *map, int i, const char **name);

/* Key i must not repeat an earlier key of the mapping: "duplicate key 'n'
 * (first given at line 3)". Call it after the key is known to be valid, so
 * the scan stays short (a mapping holds few distinct valid keys). */
int job_check_duplicate(JobParse *p, const YNode *map, int i);

/* ---- axis.c ---- */

/* Parse the `grid:` entry of setting s (key and value nodes) into *axis. */
int job_axis_parse(JobParse *p, int s, const YNode *key, const YNode *val, Axis *axis);

#endif
