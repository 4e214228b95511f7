/* yaml_tree.c - libyaml's event stream turned into a YNode tree (yaml_tree.h).
 *
 * This is the only file of the project that includes yaml.h (common.md: one
 * door per foreign dependency). libyaml's marks are 0-based (line, column in
 * characters); everything leaving this file is 1-based. libyaml errors are
 * wrapped once here as "invalid YAML: <problem> (<context> started at ...)".
 *
 * We use the event API rather than yaml_parser_load because the document API
 * resolves aliases silently and drops anchors: a job file is meant to be read
 * top to bottom by a person, so anchors, aliases and tags are refused, with
 * their position, instead of being half-supported.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "polysweep/polysweep.h"

#include "job_impl.h"
#include "yaml_tree.h"

/* Deeper nesting than any job file needs; bounds our recursion. */
#define YTREE_MAX_DEPTH 64

typedef struct Loader {
    yaml_parser_t parser;
    const char *text;
    size_t len;
    int *line, *col;
    char *msg;
    size_t msglen;
} Loader;

const char *ytree_kind_name(YNodeKind kind)
{
    switch (kind) {
    case YNODE_SCALAR: return "a scalar";
    case YNODE_SEQ: return "a sequence";
    case YNODE_MAP: return "a mapping";
    }
    return "a node";
}

int ytree_is_null(const YNode *node)
{
    if (!node || node->kind != YNODE_SCALAR || node->quoted)
        return 0;
    const char *t = node->text;
    return !strcmp(t, "") || !strcmp(t, "~") || !strcmp(t, "null") ||
           !strcmp(t, "Null") || !strcmp(t, "NULL");
}

static void node_clear(YNode *node)
{
    free(node->text);
    int nitems = node->kind == YNODE_MAP ? 2 * node->n : node->n;
    for (int i = 0; i < nitems; i++)
        node_clear(&node->items[i]);
    free(node->items);
    memset(node, 0, sizeof(*node));
}

void ytree_free(YNode **root)
{
    if (!root || !*root)
        return;
    node_clear(*root);
    free(*root);
    *root = NULL;
}

__attribute__((format(printf, 4, 5)))
static int fail_at(Loader *L, int line, int col, const char *fmt, ...)
{
    *L->line = line;
    *L->col = col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L->msg, L->msglen, fmt, ap);
    va_end(ap);
    return PS_EINVAL;
}

static int fail_mark(Loader *L, yaml_mark_t mark, const char *fmt, const char *arg)
{
    char clip[64];
    job_text_clip(arg ? arg : "", clip, sizeof(clip));
    return fail_at(L, (int)mark.line + 1, (int)mark.column + 1, fmt, clip);
}

/* The byte at 0-based (line, column in characters) of the text, or -1. */
static int char_at(const Loader *L, size_t line, size_t column)
{
    size_t i = 0;
    for (size_t l = 0; l < line; l++) {
        const char *nl = memchr(L->text + i, '\n', L->len - i);
        if (!nl)
            return -1;
        i = (size_t)(nl - L->text) + 1;
    }
    for (size_t c = 0; c < column; c++) {
        if (i >= L->len || L->text[i] == '\n')
            return -1;
        i++;
        while (i < L->len && ((unsigned char)L->text[i] & 0xC0) == 0x80)
            i++; /* UTF-8 continuation bytes belong to the same character */
    }
    return i < L->len ? (unsigned char)L->text[i] : -1;
}

/* Wrap libyaml's error state (parser.problem, .problem_mark, .context). */
static int parser_fail(Loader *L)
{
    yaml_parser_t *p = &L->parser;
    if (p->error == YAML_MEMORY_ERROR) {
        fail_at(L, 1, 1, "out of memory");
        return PS_ENOMEM;
    }
    const char *problem = p->problem ? p->problem : "unknown error";
    if (p->error == YAML_READER_ERROR) {
        /* Reader errors (bad encoding, control characters) carry a byte
         * offset, not a mark: count lines and UTF-8 characters up to it. */
        int line = 1, col = 1;
        for (size_t i = 0; i < p->problem_offset && i < L->len; i++) {
            unsigned char c = (unsigned char)L->text[i];
            if (c == '\n') {
                line++;
                col = 1;
            } else if ((c & 0xC0) != 0x80) {
                col++;
            }
        }
        if (p->problem_value >= 0)
            return fail_at(L, line, col, "invalid YAML: %s (byte 0x%02x)", problem,
                           (unsigned)p->problem_value);
        return fail_at(L, line, col, "invalid YAML: %s", problem);
    }
    int line = (int)p->problem_mark.line + 1, col = (int)p->problem_mark.column + 1;
    /* The commonest YAML mistake gets a plain message: a tab that indents. */
    if (char_at(L, p->problem_mark.line, p->problem_mark.column) == '\t')
        return fail_at(L, line, col, "invalid YAML: a tab character here; YAML "
                       "indents with spaces only");
    if (p->context)
        return fail_at(L, line, col, "invalid YAML: %s (%s started at line %d, column %d)",
                       problem, p->context, (int)p->context_mark.line + 1,
                       (int)p->context_mark.column + 1);
    return fail_at(L, line, col, "invalid YAML: %s", problem);
}

static int next_event(Loader *L, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&L->parser, ev))
        return parser_fail(L);
    return 0;
}

/* Anchors and tags: refused (see the top of the file). */
static int check_props(Loader *L, const yaml_event_t *ev, const yaml_char_t *anchor,
                       const yaml_char_t *tag)
{
    if (anchor)
        return fail_mark(L, ev->start_mark,
                         "YAML anchors ('&%s') are not supported in job files",
                         (const char *)anchor);
    if (tag) {
        /* Show the tag as written: "!!str", not "tag:yaml.org,2002:str". */
        static const char core[] = "tag:yaml.org,2002:";
        const char *t = (const char *)tag;
        if (!strncmp(t, core, sizeof(core) - 1))
            return fail_mark(L, ev->start_mark,
                             "YAML tags ('!!%s') are not supported in job files",
                             t + sizeof(core) - 1);
        return fail_mark(L, ev->start_mark,
                         "YAML tags ('%s') are not supported in job files", t);
    }
    return 0;
}

/* Grow a node's item array to hold at least `need` nodes. */
static int reserve(YNode *node, int *cap, int need)
{
    if (need <= *cap)
        return 0;
    int ncap = *cap ? 2 * *cap : 4;
    while (ncap < need)
        ncap *= 2;
    YNode *items = realloc(node->items, (size_t)ncap * sizeof(*items));
    if (!items)
        return PS_ENOMEM;
    memset(items + *cap, 0, (size_t)(ncap - *cap) * sizeof(*items));
    node->items = items;
    *cap = ncap;
    return 0;
}

static int load_node(Loader *L, const yaml_event_t *ev, YNode *out, int depth);

/* Load the children of a collection until its end event. A mapping's items
 * come in key/value pairs. On failure the node is left empty (every loaded
 * child released), so callers never hold a half-built node. */
static int load_children(Loader *L, YNode *out, yaml_event_type_t end, int depth)
{
    int cap = 0, filled = 0, ret;
    for (;;) {
        yaml_event_t ev;
        if ((ret = next_event(L, &ev)) < 0)
            goto fail;
        if (ev.type == end) {
            yaml_event_delete(&ev);
            out->n = out->kind == YNODE_MAP ? filled / 2 : filled;
            return 0;
        }
        ret = reserve(out, &cap, filled + 1);
        if (ret == 0)
            ret = load_node(L, &ev, &out->items[filled], depth + 1);
        yaml_event_delete(&ev);
        if (ret < 0)
            goto fail;
        filled++;
    }
fail:
    for (int i = 0; i < filled; i++)
        node_clear(&out->items[i]);
    free(out->items);
    out->items = NULL;
    out->n = 0;
    return ret;
}

static int load_node(Loader *L, const yaml_event_t *ev, YNode *out, int depth)
{
    memset(out, 0, sizeof(*out));
    out->line = (int)ev->start_mark.line + 1;
    out->col = (int)ev->start_mark.column + 1;
    if (depth > YTREE_MAX_DEPTH)
        return fail_at(L, out->line, out->col,
                       "YAML nested deeper than %d levels", YTREE_MAX_DEPTH);
    int ret;
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        return fail_mark(L, ev->start_mark,
                         "YAML aliases ('*%s') are not supported in job files",
                         (const char *)ev->data.alias.anchor);
    case YAML_SCALAR_EVENT:
        ret = check_props(L, ev, ev->data.scalar.anchor, ev->data.scalar.tag);
        if (ret < 0)
            return ret;
        out->kind = YNODE_SCALAR;
        out->len = ev->data.scalar.length;
        if (memchr(ev->data.scalar.value, 0, out->len))
            return fail_at(L, out->line, out->col,
                           "NUL characters are not allowed in job files");
        out->text = malloc(out->len + 1);
        if (!out->text)
            return PS_ENOMEM;
        memcpy(out->text, ev->data.scalar.value, out->len);
        out->text[out->len] = '\0';
        out->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
        return 0;
    case YAML_SEQUENCE_START_EVENT:
        ret = check_props(L, ev, ev->data.sequence_start.anchor,
                          ev->data.sequence_start.tag);
        if (ret < 0)
            return ret;
        out->kind = YNODE_SEQ;
        return load_children(L, out, YAML_SEQUENCE_END_EVENT, depth);
    case YAML_MAPPING_START_EVENT:
        ret = check_props(L, ev, ev->data.mapping_start.anchor,
                          ev->data.mapping_start.tag);
        if (ret < 0)
            return ret;
        out->kind = YNODE_MAP;
        return load_children(L, out, YAML_MAPPING_END_EVENT, depth);
    default:
        return fail_at(L, out->line, out->col, "unexpected YAML event");
    }
}

int ytree_parse(const char *text, size_t len, YNode **root, int *line, int *col,
                char *msg, size_t msglen)
{
    Loader L = {.text = text, .len = len, .line = line, .col = col,
                .msg = msg, .msglen = msglen};
    yaml_event_t ev;
    YNode *node = NULL;
    int ret, have_event = 0;

    *root = NULL;
    if (!yaml_parser_initialize(&L.parser))
        return PS_ENOMEM;
    yaml_parser_set_input_string(&L.parser, (const unsigned char *)text, len);

    /* STREAM-START, then DOCUMENT-START or STREAM-END (no document at all). */
    if ((ret = next_event(&L, &ev)) < 0)
        goto fail;
    yaml_event_delete(&ev);
    if ((ret = next_event(&L, &ev)) < 0)
        goto fail;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        yaml_parser_delete(&L.parser);
        return 0;
    }
    yaml_event_delete(&ev);

    if ((ret = next_event(&L, &ev)) < 0)
        goto fail;
    have_event = 1;
    node = calloc(1, sizeof(*node));
    if (!node) {
        ret = PS_ENOMEM;
        goto fail;
    }
    if ((ret = load_node(&L, &ev, node, 0)) < 0)
        goto fail;
    yaml_event_delete(&ev);
    have_event = 0;

    /* DOCUMENT-END, then STREAM-END: a second document is an error. */
    if ((ret = next_event(&L, &ev)) < 0)
        goto fail;
    yaml_event_delete(&ev);
    if ((ret = next_event(&L, &ev)) < 0)
        goto fail;
    have_event = 1;
    if (ev.type == YAML_DOCUMENT_START_EVENT) {
        ret = fail_at(&L, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
                      "a job file holds one YAML document, and a second one "
                      "starts here");
        goto fail;
    }
    yaml_event_delete(&ev);
    yaml_parser_delete(&L.parser);
    *root = node;
    return 0;

fail:
    if (have_event)
        yaml_event_delete(&ev);
    yaml_parser_delete(&L.parser);
    ytree_free(&node);
    if (ret == PS_ENOMEM)
        fail_at(&L, 1, 1, "out of memory");
    return ret;
}
