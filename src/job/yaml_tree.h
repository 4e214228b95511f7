/* yaml_tree.h - private to src/job: a job file's YAML as a small tree.
 *
 * yaml_tree.c is the project's only door to libyaml. It turns the event
 * stream into YNodes that keep each node's 1-based position, and it refuses
 * what job files do not use (anchors, aliases, tags, several documents), so
 * the checker in job.c only ever sees scalars, sequences and mappings.
 *
 * Ownership: ytree_parse allocates the tree; ytree_free releases it
 * (NULL-safe, sets the pointer NULL).
 */
#ifndef POLYSWEEP_JOB_YAML_TREE_H
#define POLYSWEEP_JOB_YAML_TREE_H

#include <stddef.h>

typedef enum YNodeKind { YNODE_SCALAR, YNODE_SEQ, YNODE_MAP } YNodeKind;

typedef struct YNode {
    YNodeKind kind;
    int line, col;        /* 1-based start of the node */
    char *text;           /* YNODE_SCALAR: NUL-terminated (no NUL inside) */
    size_t len;           /* strlen(text) */
    int quoted;           /* scalar was quoted or a block scalar: a string */
    int n;                /* SEQ: items; MAP: key/value pairs */
    struct YNode *items;  /* SEQ: n nodes; MAP: 2n nodes, key then value */
} YNode;

/* Parse text. Returns 0 with *root (NULL for a stream without a document),
 * PS_EINVAL with the problem's position in *line, *col and a message (no
 * position prefix) in msg, or PS_ENOMEM. */
int ytree_parse(const char *text, size_t len, YNode **root, int *line,
                int *col, char *msg, size_t msglen);

void ytree_free(YNode **root);

/* "a scalar", "a sequence", "a mapping": for messages. */
const char *ytree_kind_name(YNodeKind kind);

/* 1 when the node is a plain scalar YAML reads as null ("", "~", "null"). */
int ytree_is_null(const YNode *node);

#endif
