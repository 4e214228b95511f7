/* format.c - what identifies an output: the format version of its journal
 * and dataset, the journal's header record, and the shard it holds (store.h,
 * "formats and shards").
 *
 * Header payload (journal.h, JOURNAL_HEADER), little-endian:
 *   str fingerprint | str job text | u64 format | u64 shard k | u64 shard n |
 *   str job path
 * (str = u64 length + bytes; k = n = 0: the whole sweep; the job file's path
 * as the first run gave it, which names the job: its default title and
 * output, for `status` and `merge`, which have only the journal). Format 1 (polysweep
 * before the xarray-first schema) ended after the job text; a format this
 * version does not write is refused with what to do, never reinterpreted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "polysweep/polysweep.h"
#include "store_impl.h"

int store_header_parse(const unsigned char *p, uint64_t len, StoreHeader *h)
{
    uint64_t pos = 0;
    memset(h, 0, sizeof *h);
    if (journal_get_str(p, len, &pos, &h->fingerprint, &h->flen) ||
        journal_get_str(p, len, &pos, &h->text, &h->tlen))
        return -1;
    if (pos == len) {
        h->format = 1; /* before the format field existed */
        return 0;
    }
    if (len - pos < 8) return -1;
    h->format = journal_get_u64(p + pos);
    pos += 8;
    if (h->format != STORE_FORMAT) return 0; /* not ours to read further */
    if (len - pos < 16) return -1;
    h->shard_k = journal_get_u64(p + pos);
    h->shard_n = journal_get_u64(p + pos + 8);
    pos += 16;
    if (journal_get_str(p, len, &pos, &h->job_path, &h->plen) || pos != len) return -1;
    if (h->shard_k > h->shard_n || (h->shard_n > 0 && h->shard_k == 0) ||
        h->shard_n > STORE_MAX_SHARDS)
        return -1;
    return 0;
}

size_t store_header_put(unsigned char *tail, int shard_k, int shard_n, size_t path_len)
{
    journal_put_u64(tail, STORE_FORMAT);
    journal_put_u64(tail + 8, (uint64_t)shard_k);
    journal_put_u64(tail + 16, (uint64_t)shard_n);
    journal_put_u64(tail + 24, (uint64_t)path_len);
    return 32;
}

int store_format_check(const char *output, uint64_t format, char *err, size_t errlen)
{
    if (format == STORE_FORMAT) return 0;
    if (format < STORE_FORMAT)
        snprintf(err, errlen,
                 "%s was written by an older polysweep (output format %llu; this version "
                 "reads and writes format %d only): finish it with the polysweep that "
                 "started it (the dataset's `source` attribute names it), or start over "
                 "in the new format with `polysweep run JOB -o %s --fresh` (its results "
                 "are discarded)",
                 output, (unsigned long long)format, STORE_FORMAT, output);
    else
        snprintf(err, errlen,
                 "%s was written by a newer polysweep (output format %llu; this version "
                 "reads and writes format %d only): use that version", output,
                 (unsigned long long)format, STORE_FORMAT);
    return PS_EFORMAT;
}

void store_shard_text(int k, int n, char *buf, size_t len)
{
    if (n > 0)
        snprintf(buf, len, "shard %d/%d", k, n);
    else
        snprintf(buf, len, "the whole sweep");
}

int store_shard_check(const char *output, int have_k, int have_n, int want_k, int want_n,
                      char *err, size_t errlen)
{
    if (have_k == want_k && have_n == want_n) return 0;
    char have[48], want[48];
    store_shard_text(have_k, have_n, have, sizeof have);
    store_shard_text(want_k, want_n, want, sizeof want);
    if (have_n > 0 && want_n > 0)
        snprintf(err, errlen, "%s holds %s of this job, and this run is %s: give --shard "
                 "%d/%d to continue it, or choose another output with -o", output, have,
                 want, have_k, have_n);
    else if (have_n > 0)
        snprintf(err, errlen, "%s holds %s of this job, and this run is the whole sweep: "
                 "add --shard %d/%d to continue it, or combine the shards with `polysweep "
                 "merge`", output, have, have_k, have_n);
    else
        snprintf(err, errlen, "%s holds the whole sweep of this job, and this run is %s: "
                 "run it without --shard to continue it, or choose another output with "
                 "-o", output, want);
    return PS_EMISMATCH;
}

int store_shard_parse(const char *text, int *k, int *n)
{
    char *end;
    long a = strtol(text, &end, 10);
    if (end == text || *end != '/') return PS_EINVAL;
    const char *q = end + 1;
    long b = strtol(q, &end, 10);
    if (end == q || *end || b < 1 || b > STORE_MAX_SHARDS || a < 1 || a > b) return PS_EINVAL;
    *k = (int)a;
    *n = (int)b;
    return 0;
}

char *store_shard_output(const char *output, int k, int n)
{
    char tag[64];
    int width = snprintf(NULL, 0, "%d", n);
    snprintf(tag, sizeof tag, ".shard%0*dof%d", width, k, n);
    size_t len = strlen(output), ext = 0;
    if (len > 3 && strcmp(output + len - 3, ".nc") == 0) ext = 3;
    char *p = malloc(len + strlen(tag) + 1);
    if (p) sprintf(p, "%.*s%s%s", (int)(len - ext), output, tag, output + len - ext);
    return p;
}

char *store_header_path(const StoreHeader *h)
{
    return h->plen ? strndup((const char *)h->job_path, (size_t)h->plen) : strdup("job");
}
