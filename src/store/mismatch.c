/* mismatch.c - explain why a journal belongs to a different job: compare two
 * job fingerprint texts (job_fingerprint_text: "name=value" lines for the
 * fixed settings, then "axis name" lines) and name the first difference.
 *
 * Order of the checks: axes added or removed, axes reordered (both change the
 * task labels), then fixed values that differ, then settings only one side
 * knows (fingerprints written by another version of polysweep).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_impl.h"

typedef struct Lines {
    char *buf;
    char **line;
    int n;
} Lines;

static int lines_split(const char *text, Lines *l)
{
    l->buf = strdup(text);
    int cap = 1;
    for (const char *p = text; *p; p++) cap += *p == '\n';
    l->line = malloc((size_t)cap * sizeof(*l->line));
    l->n = 0;
    if (!l->buf || !l->line) return -1;
    for (char *p = l->buf; *p;) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = '\0';
        if (*p) l->line[l->n++] = p;
        if (!nl) break;
        p = nl + 1;
    }
    return 0;
}

static void lines_free(Lines *l)
{
    free(l->buf);
    free(l->line);
}

static const char *axis_name(const char *line)
{
    return strncmp(line, "axis ", 5) == 0 ? line + 5 : NULL;
}

/* Index of the line "axis <name>" or of "<name>=...", or -1. */
static int find_axis(const Lines *l, const char *name)
{
    for (int k = 0; k < l->n; k++) {
        const char *a = axis_name(l->line[k]);
        if (a && strcmp(a, name) == 0) return k;
    }
    return -1;
}

static int find_setting(const Lines *l, const char *name, size_t nlen)
{
    for (int k = 0; k < l->n; k++)
        if (!axis_name(l->line[k]) && strncmp(l->line[k], name, nlen) == 0 &&
            l->line[k][nlen] == '=')
            return k;
    return -1;
}

/* "a, b, c" of the axis lines. */
static void axis_list(const Lines *l, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (int k = 0; k < l->n; k++) {
        const char *a = axis_name(l->line[k]);
        if (!a || used >= len) continue;
        used += (size_t)snprintf(out + used, len - used, "%s%s", used ? ", " : "", a);
    }
}

void store_describe_mismatch(const char *old_fp, const char *new_fp,
                             const char *job_path, char *buf, size_t len)
{
    Lines o = {0}, n = {0};
    if (lines_split(old_fp, &o) || lines_split(new_fp, &n)) {
        snprintf(buf, len, "its settings differ from %s", job_path);
        goto done;
    }
    /* Axes added, then removed. */
    for (int k = 0; k < n.n; k++) {
        const char *a = axis_name(n.line[k]);
        if (a && find_axis(&o, a) < 0) {
            snprintf(buf, len, "axis '%s' was added in %s", a, job_path);
            goto done;
        }
    }
    for (int k = 0; k < o.n; k++) {
        const char *a = axis_name(o.line[k]);
        if (a && find_axis(&n, a) < 0) {
            snprintf(buf, len, "axis '%s' was removed in %s", a, job_path);
            goto done;
        }
    }
    /* Same axes in another order. */
    for (int ko = 0, kn = 0;; ko++, kn++) {
        while (ko < o.n && !axis_name(o.line[ko])) ko++;
        while (kn < n.n && !axis_name(n.line[kn])) kn++;
        if (ko >= o.n || kn >= n.n) break;
        if (strcmp(o.line[ko], n.line[kn]) != 0) {
            char lo[512], ln[512];
            axis_list(&o, lo, sizeof(lo));
            axis_list(&n, ln, sizeof(ln));
            snprintf(buf, len, "the axes are in another order (%s there, %s in %s)",
                     lo, ln, job_path);
            goto done;
        }
    }
    /* Fixed values, in the current catalog's order. */
    for (int k = 0; k < n.n; k++) {
        if (axis_name(n.line[k])) continue;
        const char *eq = strchr(n.line[k], '=');
        if (!eq) continue;
        size_t nlen = (size_t)(eq - n.line[k]);
        int ko = find_setting(&o, n.line[k], nlen);
        if (ko < 0) {
            snprintf(buf, len, "%.*s is not recorded there (it was written by "
                     "another version of polysweep)", (int)nlen, n.line[k]);
            goto done;
        }
        const char *ov = o.line[ko] + nlen + 1, *nv = eq + 1;
        if (strcmp(ov, nv) != 0) {
            snprintf(buf, len, "%.*s is %s there and %s in %s", (int)nlen, n.line[k],
                     ov, nv, job_path);
            goto done;
        }
    }
    for (int k = 0; k < o.n; k++) {
        if (axis_name(o.line[k])) continue;
        const char *eq = strchr(o.line[k], '=');
        if (!eq) continue;
        size_t nlen = (size_t)(eq - o.line[k]);
        if (find_setting(&n, o.line[k], nlen) < 0) {
            snprintf(buf, len, "its setting %.*s is unknown to this version of "
                     "polysweep", (int)nlen, o.line[k]);
            goto done;
        }
    }
    snprintf(buf, len, "its settings differ from %s", job_path);
done:
    lines_free(&o);
    lines_free(&n);
}
