/* value.c - one YAML scalar into one checked setting value, and the shared
 * message helpers of the job parser (job_impl.h).
 *
 * Every message is one line "FILE:LINE:COL: message" at the offending node.
 * The value forms are YAML's plain scalars: numbers as strtod reads the whole
 * text (finite only), booleans true/false (also True/TRUE/False/FALSE),
 * choices by name. A quoted scalar is a string, so "20" for n is an error
 * that says so - YAML readers would see a string there too.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "polysweep/polysweep.h"

#include "job_impl.h"

int job_fail(JobParse *p, const YNode *at, const char *fmt, ...)
{
    if (!p->err || p->errlen == 0)
        return PS_EINVAL;
    int used = snprintf(p->err, p->errlen, "%s:%d:%d: ", p->path,
                        at ? at->line : 1, at ? at->col : 1);
    if (used >= 0 && (size_t)used < p->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err + used, p->errlen - (size_t)used, fmt, ap);
        va_end(ap);
    }
    return PS_EINVAL;
}

int job_fail_unknown(JobParse *p, const YNode *key, const char *where,
                     const char *const *cands, int n)
{
    char clip[64];
    job_text_clip(key->text, clip, sizeof(clip));
    int best = job_suggest(key->text, cands, n);
    if (best >= 0)
        return job_fail(p, key, "unknown key '%s'%s (did you mean '%s'?)", clip,
                        where, cands[best]);
    return job_fail(p, key, "unknown key '%s'%s", clip, where);
}

int job_map_key(JobParse *p, const YNode *map, int i, const char **name)
{
    const YNode *key = &map->items[2 * i];
    if (key->kind != YNODE_SCALAR)
        return job_fail(p, key, "keys must be names, got %s", ytree_kind_name(key->kind));
    *name = key->text;
    return 0;
}

int job_check_duplicate(JobParse *p, const YNode *map, int i)
{
    const YNode *key = &map->items[2 * i];
    for (int j = 0; j < i; j++) {
        const YNode *prev = &map->items[2 * j];
        if (prev->kind == YNODE_SCALAR && !strcmp(prev->text, key->text)) {
            char clip[64];
            job_text_clip(key->text, clip, sizeof(clip));
            return job_fail(p, key, "duplicate key '%s' (first given at line %d)", clip,
                            prev->line);
        }
    }
    return 0;
}

/* strtod over the whole text; finite numbers only (nan and inf are not
 * settings of any model). */
static int parse_number(const char *t, double *v)
{
    if (!t[0] || t[0] == ' ' || t[0] == '\t' || t[0] == '\n')
        return -1;
    char *end;
    double x = strtod(t, &end);
    if (*end || !isfinite(x))
        return -1;
    *v = x + 0.0; /* -0 becomes 0: one value, one label */
    return 0;
}

/* How a rejected scalar is quoted back: numbers as written, words in quotes. */
static void got_text(const YNode *node, char *buf, size_t len)
{
    char clip[64];
    double x;
    job_text_clip(node->text, clip, sizeof(clip));
    if (ytree_is_null(node))
        snprintf(buf, len, "no value");
    else if (node->quoted)
        snprintf(buf, len, "the string '%s'", clip);
    else if (parse_number(node->text, &x) == 0)
        snprintf(buf, len, "%s", clip);
    else
        snprintf(buf, len, "'%s'", clip);
}

static int parse_bool(const char *t, double *v)
{
    if (!strcmp(t, "true") || !strcmp(t, "True") || !strcmp(t, "TRUE")) {
        *v = 1;
        return 0;
    }
    if (!strcmp(t, "false") || !strcmp(t, "False") || !strcmp(t, "FALSE")) {
        *v = 0;
        return 0;
    }
    return -1;
}

static int enum_value(JobParse *p, const Setting *s, const YNode *node, double *v)
{
    int n = 0;
    while (s->choices[n])
        n++;
    for (int i = 0; i < n; i++) {
        if (!strcmp(node->text, s->choices[i])) {
            *v = i;
            return 0;
        }
    }
    char expect[256], got[96];
    job_setting_expect(s, 0, 0, expect, sizeof(expect));
    if (ytree_is_null(node)) {
        got_text(node, got, sizeof(got));
        return job_fail(p, node, "%s must be %s, got %s", s->name, expect, got);
    }
    char clip[64];
    job_text_clip(node->text, clip, sizeof(clip));
    int best = job_suggest(node->text, s->choices, n);
    if (best >= 0)
        return job_fail(p, node, "unknown %s '%s' (expected %s; did you mean '%s'?)",
                        s->name, clip, expect, s->choices[best]);
    return job_fail(p, node, "unknown %s '%s' (expected %s)", s->name, clip, expect);
}

int job_scalar_value(JobParse *p, const Setting *s, const YNode *node, double *v)
{
    if (node->kind != YNODE_SCALAR)
        return job_fail(p, node, "%s must be a single value here, got %s", s->name,
                        ytree_kind_name(node->kind));
    if (s->type == SET_ENUM)
        return enum_value(p, s, node, v);

    char expect[256], got[96];
    got_text(node, got, sizeof(got));
    double x;
    int bad;
    if (s->type == SET_BOOL) {
        if (node->quoted || parse_bool(node->text, &x) < 0) {
            job_setting_expect(s, 0, 0, expect, sizeof(expect));
            return job_fail(p, node, "%s must be %s, got %s", s->name, expect, got);
        }
        *v = x;
        return 0;
    }
    if (node->quoted || parse_number(node->text, &x) < 0) {
        job_setting_expect(s, 0, 0, expect, sizeof(expect));
        return job_fail(p, node, "%s must be %s, got %s", s->name, expect, got);
    }
    if ((bad = job_setting_check(s, x)) != JOB_VALUE_OK) {
        job_setting_expect(s, x, bad == JOB_VALUE_OUT_OF_RANGE, expect, sizeof(expect));
        return job_fail(p, node, "%s must be %s, got %s", s->name, expect, got);
    }
    *v = x;
    return 0;
}
