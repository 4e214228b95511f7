/* axis.c - one `grid:` entry into an Axis: a single value, a list, or a
 * generator (linspace, logspace, range).
 *
 *   linspace: [start, stop, num]  v_k = start + (stop - start) * k / (num - 1),
 *                                 k = 0..num-1, both endpoints included
 *                                 (numpy.linspace); num = 1 gives [start].
 *   logspace: [start, stop, num]  v_k = start * (stop / start)^(k / (num - 1)):
 *                                 the endpoints are values, not exponents
 *                                 (numpy.geomspace); start, stop > 0.
 *   range: [start, stop(, step)]  integers start, start + step, ... up to and
 *                                 excluding stop (Python's range); step != 0.
 *
 * The generated endpoints are exact: v_0 = start and v_(num-1) = stop are
 * assigned, not computed, so an axis written {linspace: [0, 0.9, 10]} really
 * ends at 0.9. Every value, literal or generated, is checked against the
 * setting (type and range), and an axis may not repeat a value: labels
 * (grid.h) must name one task each.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "polysweep/polysweep.h"

#include "job_impl.h"

enum { GEN_LINSPACE, GEN_LOGSPACE, GEN_RANGE, GEN_COUNT };
static const char *const gen_names[] = {"linspace", "logspace", "range", NULL};

/* Largest integer a double holds exactly, and so the range bound for
 * `range` arguments. */
#define EXACT_INT 9007199254740991.0

typedef struct ValueAt {
    double v;
    int i;
} ValueAt;

static int cmp_value_at(const void *a, const void *b)
{
    const ValueAt *x = a, *y = b;
    if (x->v != y->v)
        return x->v < y->v ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

/* An axis may not hold a value twice. Sorting finds every repeat; we report
 * the first repeat in file order: in each run of equal values (sorted by
 * index) the second element is that value's first repeat. `list` gives each
 * literal value's node; generated values are reported at `gen`. */
static int check_duplicates(JobParse *p, const Setting *st, const Axis *axis,
                            const YNode *list, const YNode *gen)
{
    if (axis->count < 2)
        return 0;
    ValueAt *va = malloc((size_t)axis->count * sizeof(*va));
    if (!va)
        return PS_ENOMEM;
    for (int i = 0; i < axis->count; i++)
        va[i] = (ValueAt){axis->values[i], i};
    qsort(va, (size_t)axis->count, sizeof(*va), cmp_value_at);
    int first = -1;
    for (int i = 1; i < axis->count; i++)
        if (va[i].v == va[i - 1].v && (i < 2 || va[i - 2].v != va[i].v))
            if (first < 0 || va[i].i < first)
                first = va[i].i;
    free(va);
    if (first < 0)
        return 0;
    char text[64];
    job_value_display(st, axis->values[first], text, sizeof(text));
    return job_fail(p, list ? &list->items[first] : gen,
                    "duplicate value %s in axis '%s'", text, st->name);
}

/* A generator argument, read as a private Setting so its messages share the
 * catalog's wording ("linspace num must be an integer >= 1, got 0"). */
static int gen_arg(JobParse *p, const char *gen, const char *what, SettingType type,
                   double lo, double hi, unsigned flags, const YNode *node, double *v)
{
    char name[32];
    snprintf(name, sizeof(name), "%s %s", gen, what);
    Setting s = {.name = name, .type = type, .lo = lo, .hi = hi, .flags = flags};
    return job_scalar_value(p, &s, node, v);
}

static int gen_values(JobParse *p, int g, const Setting *st, const YNode *args,
                      Axis *axis)
{
    const char *gname = gen_names[g];
    const char *form = g == GEN_RANGE ? "[start, stop] or [start, stop, step]"
                                      : "[start, stop, num]";
    if (args->kind != YNODE_SEQ)
        return job_fail(p, args, "%s needs %s, got %s", gname, form,
                        ytree_kind_name(args->kind));
    int nargs = args->n;
    if (g == GEN_RANGE ? nargs < 2 || nargs > 3 : nargs != 3)
        return job_fail(p, args, "%s needs %s, got %d value%s", gname, form, nargs,
                        nargs == 1 ? "" : "s");
    const YNode *a = args->items;
    double start, stop, x;
    int64_t count;
    int ret;

    if (g == GEN_RANGE) {
        double step = 1;
        if ((ret = gen_arg(p, gname, "start", SET_INT, -EXACT_INT, EXACT_INT, 0, &a[0],
                           &start)) < 0 ||
            (ret = gen_arg(p, gname, "stop", SET_INT, -EXACT_INT, EXACT_INT, 0, &a[1],
                           &stop)) < 0)
            return ret;
        if (nargs == 3) {
            if ((ret = gen_arg(p, gname, "step", SET_INT, -EXACT_INT, EXACT_INT, 0, &a[2],
                               &step)) < 0)
                return ret;
            if (step == 0)
                return job_fail(p, &a[2], "range step must not be 0");
        }
        /* len(range(start, stop, step)), in integers (all below 2^53). */
        int64_t i0 = (int64_t)start, i1 = (int64_t)stop, is = (int64_t)step;
        if (is > 0)
            count = i1 > i0 ? (i1 - i0 + is - 1) / is : 0;
        else
            count = i0 > i1 ? (i0 - i1 - is - 1) / -is : 0;
        if (count == 0)
            return job_fail(p, args, "axis '%s' is empty", st->name);
        if (count > JOB_AXIS_MAX_VALUES)
            return job_fail(p, args, "range gives %lld values, more than %d",
                            (long long)count, JOB_AXIS_MAX_VALUES);
        axis->values = malloc((size_t)count * sizeof(double));
        if (!axis->values)
            return PS_ENOMEM;
        for (int64_t k = 0; k < count; k++)
            axis->values[k] = (double)(i0 + k * is);
    } else {
        double lo = g == GEN_LOGSPACE ? 0 : -DBL_MAX;
        unsigned flags = g == GEN_LOGSPACE ? SETTING_LO_OPEN | SETTING_HI_LIMIT : 0;
        if ((ret = gen_arg(p, gname, "start", SET_REAL, lo, DBL_MAX, flags, &a[0],
                           &start)) < 0 ||
            (ret = gen_arg(p, gname, "stop", SET_REAL, lo, DBL_MAX, flags, &a[1],
                           &stop)) < 0 ||
            (ret = gen_arg(p, gname, "num", SET_INT, 1, JOB_AXIS_MAX_VALUES,
                           SETTING_HI_LIMIT, &a[2], &x)) < 0)
            return ret;
        count = (int64_t)x;
        axis->values = malloc((size_t)count * sizeof(double));
        if (!axis->values)
            return PS_ENOMEM;
        double den = (double)(count - 1), ratio = stop / start;
        axis->values[0] = start;
        for (int64_t k = 1; k < count - 1; k++) {
            double v = g == GEN_LINSPACE ? start + (stop - start) * (double)k / den
                                         : start * pow(ratio, (double)k / den);
            axis->values[k] = v + 0.0; /* -0 -> 0 */
        }
        if (count > 1)
            axis->values[count - 1] = stop;
    }
    axis->count = (int)count;
    return 0;
}

/* {linspace: [...]} and friends. `val` is the mapping. */
static int parse_generator(JobParse *p, const Setting *st, const YNode *val, Axis *axis)
{
    if (val->n == 0)
        return job_fail(p, val, "axis '%s' is empty", st->name);
    const char *gname;
    int ret = job_map_key(p, val, 0, &gname);
    if (ret < 0)
        return ret;
    const YNode *gkey = &val->items[0];
    int g = 0;
    while (g < GEN_COUNT && strcmp(gname, gen_names[g]))
        g++;
    if (g == GEN_COUNT) {
        char clip[64];
        job_text_clip(gname, clip, sizeof(clip));
        int best = job_suggest(gname, gen_names, GEN_COUNT);
        if (best >= 0)
            return job_fail(p, gkey,
                            "unknown generator '%s' in axis '%s' (expected one of: "
                            "linspace, logspace, range; did you mean '%s'?)",
                            clip, st->name, gen_names[best]);
        return job_fail(p, gkey,
                        "unknown generator '%s' in axis '%s' (expected one of: "
                        "linspace, logspace, range)", clip, st->name);
    }
    if (val->n > 1)
        return job_fail(p, &val->items[2],
                        "axis '%s' must use exactly one generator (linspace, "
                        "logspace or range)", st->name);
    if (st->type == SET_BOOL || st->type == SET_ENUM) {
        char expect[256];
        job_setting_expect(st, 0, 0, expect, sizeof(expect));
        return job_fail(p, gkey, "%s cannot generate values of %s (%s)", gname,
                        st->name, expect);
    }
    if (g == GEN_RANGE && st->type != SET_INT)
        return job_fail(p, gkey, "range needs an integer setting, and %s is a number "
                        "(use linspace, logspace or a list)", st->name);
    if ((ret = gen_values(p, g, st, &val->items[1], axis)) < 0)
        return ret;

    /* Generated values must suit the setting like written ones. */
    for (int k = 0; k < axis->count; k++) {
        double v = axis->values[k];
        int bad = job_setting_check(st, v);
        if (bad != JOB_VALUE_OK) {
            char expect[128], text[64];
            job_setting_expect(st, v, bad == JOB_VALUE_OUT_OF_RANGE, expect,
                               sizeof(expect));
            job_number_text(v, text, sizeof(text));
            return job_fail(p, gkey, "%s must be %s, got %s (value %d of %s)", st->name,
                            expect, text, k + 1, gname);
        }
    }
    return check_duplicates(p, st, axis, NULL, gkey);
}

int job_axis_parse(JobParse *p, int s, const YNode *key, const YNode *val, Axis *axis)
{
    const Setting *st = &job_settings[s];
    int ret;
    memset(axis, 0, sizeof(*axis));
    axis->setting = s;
    axis->line = key->line;
    axis->col = key->col;
    if (st->flags & SETTING_FIXED_ONLY)
        return job_fail(p, key, "%s cannot be a grid axis (it shapes the dataset)",
                        st->name);
    /* `n:` with nothing after it: the null has no position of its own. */
    if (ytree_is_null(val))
        return job_fail(p, key, "axis '%s' is empty", st->name);

    switch (val->kind) {
    case YNODE_SCALAR:
        axis->values = malloc(sizeof(double));
        if (!axis->values)
            return PS_ENOMEM;
        axis->count = 1;
        return job_scalar_value(p, st, val, &axis->values[0]);
    case YNODE_SEQ:
        if (val->n == 0)
            return job_fail(p, val, "axis '%s' is empty", st->name);
        axis->values = malloc((size_t)val->n * sizeof(double));
        if (!axis->values)
            return PS_ENOMEM;
        axis->count = val->n;
        for (int i = 0; i < val->n; i++)
            if ((ret = job_scalar_value(p, st, &val->items[i], &axis->values[i])) < 0)
                return ret;
        return check_duplicates(p, st, axis, val, NULL);
    case YNODE_MAP:
        return parse_generator(p, st, val, axis);
    }
    return PS_EINVAL;
}
