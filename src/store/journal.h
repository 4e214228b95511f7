/* journal.h - the store's append-only journal file (private to src/store).
 *
 * A journal is a sequence of records, little-endian:
 *
 *   u32 magic 0x314A5350 ("PSJ1") | u32 type | u64 payload length |
 *   payload | u32 CRC-32C over type, length and payload
 *
 * The first record is JOURNAL_HEADER; then JOURNAL_RUN (one history line per
 * run), JOURNAL_JOB (a run's job text, when it differs from the last one) and
 * JOURNAL_TASK (one per finished task) in the order they happened.
 * A record is appended with one write() and fdatasync'd before the append
 * returns, so a crash can only leave a torn LAST record, which journal_scan
 * detects and reports; the store then truncates it away.
 *
 * Ownership: journal_open allocates, journal_close releases (NULL-safe).
 */
#ifndef POLYSWEEP_STORE_JOURNAL_H
#define POLYSWEEP_STORE_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#define JOURNAL_MAGIC 0x314A5350u /* "PSJ1" read as little-endian bytes */
#define JOURNAL_RECORD_OVERHEAD 20u /* magic, type, length, CRC */

enum {
    JOURNAL_HEADER = 1, /* payload: str fingerprint text, str job file text */
    JOURNAL_RUN = 2,    /* payload: one history line (raw text) */
    JOURNAL_TASK = 3,   /* payload: str task label, then task_result_pack bytes */
    JOURNAL_JOB = 4,    /* payload: the job file text of a run whose text differs
                           from the last one recorded (values added to an axis,
                           a new title, ...; the fingerprint is the same) */
};

typedef struct Journal {
    int fd;
    char *path;
    uint64_t end; /* offset of the end of the last good record */
} Journal;

/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), continuing from
 * `crc` (start with 0). crc32c("123456789") = 0xE3069283. */
uint32_t journal_crc32c(uint32_t crc, const void *buf, size_t len);

/* Open (creating if needed, mode 0644) the journal file for reading and
 * appending. Does not read it: call journal_scan next. */
int journal_open(const char *path, Journal **out, char *err, size_t errlen);
void journal_close(Journal **j);

/* Called for every valid record in file order; `payload` is valid only during
 * the call. A non-zero return stops the scan and is returned by journal_scan. */
typedef int (*JournalVisit)(void *ctx, uint32_t type, const unsigned char *payload,
                            uint64_t len, uint64_t offset);

/* Read the whole journal without modifying it. Valid records go to `visit`.
 * A damaged tail (short record, bad magic, length past the end, CRC mismatch)
 * with no valid record after it is a torn last write: the scan returns 0 with
 * *torn = its byte offset (and j->end = that offset), or *torn = -1 when the
 * file ends cleanly. Damage followed by a valid record is PS_EFORMAT naming
 * both offsets. */
int journal_scan(Journal *j, JournalVisit visit, void *ctx, int64_t *torn,
                 char *err, size_t errlen);

/* What journal_scan_readonly found. */
typedef struct JournalScanInfo {
    uint64_t size;        /* file size when the scan started */
    double mtime;         /* its modification time, Unix seconds */
    uint64_t end;         /* end of the last valid record */
    int64_t records;      /* valid records */
    int64_t torn;         /* offset of an incomplete last record, or -1 */
    int64_t damaged;      /* offset of damage followed by valid records, or -1 */
    int64_t damaged_next; /* the first valid record after it */
} JournalScanInfo;

/* Scan the journal at `path` for a reader that does not own it (`polysweep
 * status`): opened read-only, read with pread record by record (a mapping
 * would turn a concurrent truncation into SIGBUS), never modified. A record
 * being appended right now reads as a torn tail. Damage is not an error here:
 * it is reported in *info and the valid records before it were visited. */
int journal_scan_readonly(const char *path, JournalVisit visit, void *ctx,
                          JournalScanInfo *info, char *err, size_t errlen);

/* Cut the file at j->end (after journal_scan found a torn tail) and fsync. */
int journal_truncate(Journal *j, char *err, size_t errlen);

/* Append one record made of the concatenated parts (one write of the whole
 * record, then fdatasync). On failure the file is cut back to its previous
 * end, so a later append never follows a torn record. */
int journal_append(Journal *j, uint32_t type, const void *const *parts,
                   const size_t *lens, int nparts, char *err, size_t errlen);

/* Little-endian field helpers for payloads. */
static inline void journal_put_u64(unsigned char *p, uint64_t v)
{
    for (int k = 0; k < 8; k++) p[k] = (unsigned char)(v >> (8 * k));
}
static inline uint64_t journal_get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int k = 0; k < 8; k++) v |= (uint64_t)p[k] << (8 * k);
    return v;
}

/* A length-prefixed string field (u64 length, bytes) read at *pos of a payload
 * of `len` bytes. Returns 0 and advances *pos, or -1 when it runs past len. */
static inline int journal_get_str(const unsigned char *payload, uint64_t len,
                                  uint64_t *pos, const unsigned char **s,
                                  uint64_t *slen)
{
    if (len - *pos < 8) return -1;
    uint64_t n = journal_get_u64(payload + *pos);
    if (n > len - *pos - 8) return -1;
    *s = payload + *pos + 8;
    *slen = n;
    *pos += 8 + n;
    return 0;
}

#endif
