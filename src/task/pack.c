/* pack.c - TaskResult <-> a self-describing byte string, for the journal and
 * for MPI messages.
 *
 * The format names every variable, so a journal written by one version of the
 * program reads in a later one whose catalog gained, lost or reordered
 * variables. All integers are little-endian, whatever the host:
 *
 *   "PSTR"            4 bytes magic
 *   u32 version       PACK_VERSION
 *   i32 status, i32 n, i32 m, i32 nlog
 *   u32 len, bytes    reason (no NUL; len < TASK_REASON_LEN)
 *   u32 nvar          number of variable records that follow
 *   nvar times:
 *     u32 len, bytes  variable name (1..PACK_NAME_MAX bytes)
 *     u64 count       number of values
 *     count * 8 bytes the values, IEEE-754 binary64 bit patterns
 *   (end of buffer: trailing bytes are an error)
 *
 * A variable whose values are all still the canonical NaN that
 * task_result_create wrote is left out (W and b when weights are not saved,
 * everything but the curve of a failed task); unpack fills missing variables
 * with that same NaN, so the roundtrip is bit-exact. Values are copied as bit
 * patterns, so NaN payloads and signed zeros survive.
 *
 * unpack trusts nothing: every length is checked against the bytes left
 * before it is used, every known variable's count against the header's sizes,
 * and the whole buffer is validated before anything is allocated, so a
 * truncated or corrupted buffer gives PS_EFORMAT and never a read out of
 * bounds. The sizes in the header are bounded by PACK_MAX_VALUES, which caps
 * what even a forged, well-formed header can make unpack allocate.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "polysweep/polysweep.h"
#include "polysweep/task.h"

#define PACK_MAGIC "PSTR"
#define PACK_VERSION 1u
#define PACK_NAME_MAX 255u
/* Bound on the values a result may hold: 2^31 doubles (16 GiB), far beyond
 * any task this program can train (a result with m n = 2^31 weights would
 * have trained 8 GiB of float32 parameters and twice that of Adam moments). */
#define PACK_MAX_VALUES ((uint64_t)1 << 31)

/* ---- little-endian writer ---- */

static unsigned char *put_u32(unsigned char *p, uint32_t v)
{
    for (int k = 0; k < 4; k++) p[k] = (unsigned char)(v >> (8 * k));
    return p + 4;
}

static unsigned char *put_u64(unsigned char *p, uint64_t v)
{
    for (int k = 0; k < 8; k++) p[k] = (unsigned char)(v >> (8 * k));
    return p + 8;
}

static unsigned char *put_bytes(unsigned char *p, const void *src, size_t len)
{
    if (len) memcpy(p, src, len);
    return p + len;
}

static uint64_t double_bits(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static uint64_t canonical_nan_bits(void)
{
    volatile double nan = NAN; // the value task_result_create fills in
    return double_bits(nan);
}

/* 1 when variable v carries any value other than the canonical NaN. */
static int var_present(const TaskResult *r, int v, size_t count, uint64_t nanbits)
{
    if (!r->val[v]) return 0;
    for (size_t k = 0; k < count; k++)
        if (double_bits(r->val[v][k]) != nanbits) return 1;
    return 0;
}

int task_result_pack(const TaskResult *r, unsigned char **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    uint64_t nanbits = canonical_nan_bits();
    size_t reason_len = strnlen(r->reason, TASK_REASON_LEN - 1);
    size_t total = 4 + 4 + 4 * 4 + 4 + reason_len + 4;
    uint32_t nvar = 0;
    int present[RV_COUNT];
    uint64_t values = 0;
    for (int v = 0; v < RV_COUNT; v++) values += result_len(v, r->n, r->m, r->nlog);
    if (values > PACK_MAX_VALUES) return PS_EINVAL; // unpack would refuse it
    for (int v = 0; v < RV_COUNT; v++) {
        size_t count = result_len(v, r->n, r->m, r->nlog);
        present[v] = var_present(r, v, count, nanbits);
        if (!present[v]) continue;
        nvar++;
        total += 4 + strlen(result_vars[v].name) + 8 + 8 * count;
    }
    unsigned char *b = malloc(total);
    if (!b) return PS_ENOMEM;

    unsigned char *p = put_bytes(b, PACK_MAGIC, 4);
    p = put_u32(p, PACK_VERSION);
    p = put_u32(p, (uint32_t)r->status);
    p = put_u32(p, (uint32_t)r->n);
    p = put_u32(p, (uint32_t)r->m);
    p = put_u32(p, (uint32_t)r->nlog);
    p = put_u32(p, (uint32_t)reason_len);
    p = put_bytes(p, r->reason, reason_len);
    p = put_u32(p, nvar);
    for (int v = 0; v < RV_COUNT; v++) {
        if (!present[v]) continue;
        size_t count = result_len(v, r->n, r->m, r->nlog);
        size_t name_len = strlen(result_vars[v].name);
        p = put_u32(p, (uint32_t)name_len);
        p = put_bytes(p, result_vars[v].name, name_len);
        p = put_u64(p, (uint64_t)count);
        for (size_t k = 0; k < count; k++) p = put_u64(p, double_bits(r->val[v][k]));
    }
    *buf = b;
    *len = (size_t)(p - b);
    return 0;
}

/* ---- bounds-checked little-endian reader ---- */

typedef struct Reader {
    const unsigned char *p;
    size_t left;
} Reader;

static int get_u32(Reader *rd, uint32_t *v)
{
    if (rd->left < 4) return PS_EFORMAT;
    uint32_t x = 0;
    for (int k = 0; k < 4; k++) x |= (uint32_t)rd->p[k] << (8 * k);
    rd->p += 4;
    rd->left -= 4;
    *v = x;
    return 0;
}

static int get_u64(Reader *rd, uint64_t *v)
{
    if (rd->left < 8) return PS_EFORMAT;
    uint64_t x = 0;
    for (int k = 0; k < 8; k++) x |= (uint64_t)rd->p[k] << (8 * k);
    rd->p += 8;
    rd->left -= 8;
    *v = x;
    return 0;
}

/* Borrow `len` bytes from the buffer. */
static int get_bytes(Reader *rd, size_t len, const unsigned char **out)
{
    if (rd->left < len) return PS_EFORMAT;
    *out = rd->p;
    rd->p += len;
    rd->left -= len;
    return 0;
}

static int get_i32(Reader *rd, int *v)
{
    uint32_t u;
    if (get_u32(rd, &u)) return PS_EFORMAT;
    *v = u > (uint32_t)INT32_MAX ? -1 : (int)u; // negative sizes are rejected by callers
    return 0;
}

static int catalog_find(const unsigned char *name, size_t len)
{
    for (int v = 0; v < RV_COUNT; v++)
        if (strlen(result_vars[v].name) == len && memcmp(result_vars[v].name, name, len) == 0)
            return v;
    return -1;
}

/* The header of a packed result. */
typedef struct Header {
    int status, n, m, nlog;
    const unsigned char *reason;
    uint32_t reason_len;
} Header;

/* Parse the whole buffer. With r == NULL only validate (no allocation, so a
 * malformed buffer is rejected before its sizes are believed); with r, a
 * result created from *h, also copy the values. */
static int parse(const unsigned char *buf, size_t len, Header *h, TaskResult *r)
{
    Reader rd = {buf, len};
    const unsigned char *bytes;
    uint32_t version, nvar;

    if (get_bytes(&rd, 4, &bytes) || memcmp(bytes, PACK_MAGIC, 4) != 0) return PS_EFORMAT;
    if (get_u32(&rd, &version) || version != PACK_VERSION) return PS_EFORMAT;
    if (get_i32(&rd, &h->status) || get_i32(&rd, &h->n) || get_i32(&rd, &h->m) ||
        get_i32(&rd, &h->nlog))
        return PS_EFORMAT;
    if (h->status < TASK_PENDING || h->status > TASK_FAILED || h->n < 0 || h->m < 0 ||
        h->nlog < 0)
        return PS_EFORMAT;
    uint64_t values = 0;
    for (int v = 0; v < RV_COUNT; v++) // each term <= 2^62: no overflow
        values += result_len(v, h->n, h->m, h->nlog);
    if (values > PACK_MAX_VALUES) return PS_EFORMAT;
    if (get_u32(&rd, &h->reason_len) || h->reason_len >= TASK_REASON_LEN ||
        get_bytes(&rd, h->reason_len, &h->reason) || memchr(h->reason, '\0', h->reason_len))
        return PS_EFORMAT;

    int seen[RV_COUNT] = {0};
    if (get_u32(&rd, &nvar)) return PS_EFORMAT;
    for (uint32_t k = 0; k < nvar; k++) {
        uint32_t name_len;
        uint64_t count;
        const unsigned char *name;
        if (get_u32(&rd, &name_len) || name_len == 0 || name_len > PACK_NAME_MAX ||
            get_bytes(&rd, name_len, &name) || get_u64(&rd, &count) ||
            count > rd.left / 8 || get_bytes(&rd, 8 * count, &bytes))
            return PS_EFORMAT;
        int v = catalog_find(name, name_len);
        if (v < 0) continue; // a variable this version does not know: skip it
        if (seen[v] || count != result_len(v, h->n, h->m, h->nlog)) return PS_EFORMAT;
        seen[v] = 1;
        if (!r) continue;
        double *dst = r->val[v];
        for (uint64_t j = 0; j < count; j++) {
            uint64_t u = 0;
            for (int b = 0; b < 8; b++) u |= (uint64_t)bytes[8 * j + b] << (8 * b);
            memcpy(&dst[j], &u, sizeof u); // the bit pattern, NaN payloads included
        }
    }
    return rd.left == 0 ? 0 : PS_EFORMAT;
}

int task_result_unpack(const unsigned char *buf, size_t len, TaskResult **out)
{
    *out = NULL;
    if (!buf) return PS_EFORMAT;
    Header h;
    int rc = parse(buf, len, &h, NULL);
    if (rc) return rc;

    TaskResult *r = NULL;
    rc = task_result_create(h.n, h.m, h.nlog, &r);
    if (rc) return rc;
    r->status = h.status;
    memcpy(r->reason, h.reason, h.reason_len);
    r->reason[h.reason_len] = '\0';
    rc = parse(buf, len, &h, r); // cannot fail: the buffer was validated
    if (rc) {
        task_result_free(&r);
        return rc;
    }
    *out = r;
    return 0;
}
