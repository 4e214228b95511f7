/* journal.c - the store's append-only journal: CRC-32C framed records,
 * appended with one write + fdatasync, scanned back with torn-tail detection
 * (see journal.h for the record format and store.h for how it is used).
 *
 * Why a journal next to the NetCDF file: a NetCDF-4/HDF5 file killed while
 * being written can be left unreadable (platform.md, "NetCDF and kill -9"),
 * whereas an append-only file can only lose its last, unfinished record, and
 * a checksum per record tells a torn record from a good one.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "polysweep/polysweep.h"
#include "journal.h"
#include "store_impl.h"

/* CRC-32C lookup table for the reflected Castagnoli polynomial 0x82F63B78
 * (RFC 3720, appendix B.4), byte-at-a-time (Sarwate's algorithm):
 * table[i] = CRC of the byte i alone. */
static const uint32_t crc32c_table[256] = {
    0x00000000u, 0xF26B8303u, 0xE13B70F7u, 0x1350F3F4u, 0xC79A971Fu, 0x35F1141Cu,
    0x26A1E7E8u, 0xD4CA64EBu, 0x8AD958CFu, 0x78B2DBCCu, 0x6BE22838u, 0x9989AB3Bu,
    0x4D43CFD0u, 0xBF284CD3u, 0xAC78BF27u, 0x5E133C24u, 0x105EC76Fu, 0xE235446Cu,
    0xF165B798u, 0x030E349Bu, 0xD7C45070u, 0x25AFD373u, 0x36FF2087u, 0xC494A384u,
    0x9A879FA0u, 0x68EC1CA3u, 0x7BBCEF57u, 0x89D76C54u, 0x5D1D08BFu, 0xAF768BBCu,
    0xBC267848u, 0x4E4DFB4Bu, 0x20BD8EDEu, 0xD2D60DDDu, 0xC186FE29u, 0x33ED7D2Au,
    0xE72719C1u, 0x154C9AC2u, 0x061C6936u, 0xF477EA35u, 0xAA64D611u, 0x580F5512u,
    0x4B5FA6E6u, 0xB93425E5u, 0x6DFE410Eu, 0x9F95C20Du, 0x8CC531F9u, 0x7EAEB2FAu,
    0x30E349B1u, 0xC288CAB2u, 0xD1D83946u, 0x23B3BA45u, 0xF779DEAEu, 0x05125DADu,
    0x1642AE59u, 0xE4292D5Au, 0xBA3A117Eu, 0x4851927Du, 0x5B016189u, 0xA96AE28Au,
    0x7DA08661u, 0x8FCB0562u, 0x9C9BF696u, 0x6EF07595u, 0x417B1DBCu, 0xB3109EBFu,
    0xA0406D4Bu, 0x522BEE48u, 0x86E18AA3u, 0x748A09A0u, 0x67DAFA54u, 0x95B17957u,
    0xCBA24573u, 0x39C9C670u, 0x2A993584u, 0xD8F2B687u, 0x0C38D26Cu, 0xFE53516Fu,
    0xED03A29Bu, 0x1F682198u, 0x5125DAD3u, 0xA34E59D0u, 0xB01EAA24u, 0x42752927u,
    0x96BF4DCCu, 0x64D4CECFu, 0x77843D3Bu, 0x85EFBE38u, 0xDBFC821Cu, 0x2997011Fu,
    0x3AC7F2EBu, 0xC8AC71E8u, 0x1C661503u, 0xEE0D9600u, 0xFD5D65F4u, 0x0F36E6F7u,
    0x61C69362u, 0x93AD1061u, 0x80FDE395u, 0x72966096u, 0xA65C047Du, 0x5437877Eu,
    0x4767748Au, 0xB50CF789u, 0xEB1FCBADu, 0x197448AEu, 0x0A24BB5Au, 0xF84F3859u,
    0x2C855CB2u, 0xDEEEDFB1u, 0xCDBE2C45u, 0x3FD5AF46u, 0x7198540Du, 0x83F3D70Eu,
    0x90A324FAu, 0x62C8A7F9u, 0xB602C312u, 0x44694011u, 0x5739B3E5u, 0xA55230E6u,
    0xFB410CC2u, 0x092A8FC1u, 0x1A7A7C35u, 0xE811FF36u, 0x3CDB9BDDu, 0xCEB018DEu,
    0xDDE0EB2Au, 0x2F8B6829u, 0x82F63B78u, 0x709DB87Bu, 0x63CD4B8Fu, 0x91A6C88Cu,
    0x456CAC67u, 0xB7072F64u, 0xA457DC90u, 0x563C5F93u, 0x082F63B7u, 0xFA44E0B4u,
    0xE9141340u, 0x1B7F9043u, 0xCFB5F4A8u, 0x3DDE77ABu, 0x2E8E845Fu, 0xDCE5075Cu,
    0x92A8FC17u, 0x60C37F14u, 0x73938CE0u, 0x81F80FE3u, 0x55326B08u, 0xA759E80Bu,
    0xB4091BFFu, 0x466298FCu, 0x1871A4D8u, 0xEA1A27DBu, 0xF94AD42Fu, 0x0B21572Cu,
    0xDFEB33C7u, 0x2D80B0C4u, 0x3ED04330u, 0xCCBBC033u, 0xA24BB5A6u, 0x502036A5u,
    0x4370C551u, 0xB11B4652u, 0x65D122B9u, 0x97BAA1BAu, 0x84EA524Eu, 0x7681D14Du,
    0x2892ED69u, 0xDAF96E6Au, 0xC9A99D9Eu, 0x3BC21E9Du, 0xEF087A76u, 0x1D63F975u,
    0x0E330A81u, 0xFC588982u, 0xB21572C9u, 0x407EF1CAu, 0x532E023Eu, 0xA145813Du,
    0x758FE5D6u, 0x87E466D5u, 0x94B49521u, 0x66DF1622u, 0x38CC2A06u, 0xCAA7A905u,
    0xD9F75AF1u, 0x2B9CD9F2u, 0xFF56BD19u, 0x0D3D3E1Au, 0x1E6DCDEEu, 0xEC064EEDu,
    0xC38D26C4u, 0x31E6A5C7u, 0x22B65633u, 0xD0DDD530u, 0x0417B1DBu, 0xF67C32D8u,
    0xE52CC12Cu, 0x1747422Fu, 0x49547E0Bu, 0xBB3FFD08u, 0xA86F0EFCu, 0x5A048DFFu,
    0x8ECEE914u, 0x7CA56A17u, 0x6FF599E3u, 0x9D9E1AE0u, 0xD3D3E1ABu, 0x21B862A8u,
    0x32E8915Cu, 0xC083125Fu, 0x144976B4u, 0xE622F5B7u, 0xF5720643u, 0x07198540u,
    0x590AB964u, 0xAB613A67u, 0xB831C993u, 0x4A5A4A90u, 0x9E902E7Bu, 0x6CFBAD78u,
    0x7FAB5E8Cu, 0x8DC0DD8Fu, 0xE330A81Au, 0x115B2B19u, 0x020BD8EDu, 0xF0605BEEu,
    0x24AA3F05u, 0xD6C1BC06u, 0xC5914FF2u, 0x37FACCF1u, 0x69E9F0D5u, 0x9B8273D6u,
    0x88D28022u, 0x7AB90321u, 0xAE7367CAu, 0x5C18E4C9u, 0x4F48173Du, 0xBD23943Eu,
    0xF36E6F75u, 0x0105EC76u, 0x12551F82u, 0xE03E9C81u, 0x34F4F86Au, 0xC69F7B69u,
    0xD5CF889Du, 0x27A40B9Eu, 0x79B737BAu, 0x8BDCB4B9u, 0x988C474Du, 0x6AE7C44Eu,
    0xBE2DA0A5u, 0x4C4623A6u, 0x5F16D052u, 0xAD7D5351u,
};

uint32_t journal_crc32c(uint32_t crc, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    crc = ~crc;
    for (size_t k = 0; k < len; k++)
        crc = crc32c_table[(crc ^ p[k]) & 0xFFu] ^ (crc >> 8);
    return ~crc;
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int k = 0; k < 4; k++) p[k] = (unsigned char)(v >> (8 * k));
}

static int io_error(const char *path, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: %s (while %s)", path, strerror(errno), what);
    return PS_EIO;
}

int journal_open(const char *path, Journal **out, char *err, size_t errlen)
{
    *out = NULL;
    Journal *j = calloc(1, sizeof(*j));
    if (!j) return PS_ENOMEM;
    j->fd = -1;
    j->path = strdup(path);
    if (!j->path) {
        journal_close(&j);
        return PS_ENOMEM;
    }
    j->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (j->fd < 0) {
        int ret = io_error(path, "opening the journal", err, errlen);
        journal_close(&j);
        return ret;
    }
    struct stat st;
    if (fstat(j->fd, &st) != 0) {
        int ret = io_error(path, "reading the journal's size", err, errlen);
        journal_close(&j);
        return ret;
    }
    j->end = (uint64_t)st.st_size;
    *out = j;
    return 0;
}

void journal_close(Journal **jp)
{
    if (!jp || !*jp) return;
    Journal *j = *jp;
    if (j->fd >= 0) close(j->fd);
    free(j->path);
    free(j);
    *jp = NULL;
}

/* Is there a complete, checksummed record at offset p of the sz-byte image d? */
static int record_at(const unsigned char *d, uint64_t sz, uint64_t p,
                     uint32_t *type, uint64_t *len)
{
    if (sz - p < JOURNAL_RECORD_OVERHEAD) return 0;
    if (get_u32(d + p) != JOURNAL_MAGIC) return 0;
    uint64_t n = journal_get_u64(d + p + 8);
    if (n > sz - p - JOURNAL_RECORD_OVERHEAD) return 0;
    /* The CRC covers type, length and payload: bytes [p+4, p+16+n). */
    uint32_t crc = journal_crc32c(0, d + p + 4, 12 + (size_t)n);
    if (crc != get_u32(d + p + 16 + n)) return 0;
    *type = get_u32(d + p + 4);
    *len = n;
    return 1;
}

/* Offset of the first valid record after `from`, or -1. */
static int64_t find_valid_after(const unsigned char *d, uint64_t sz, uint64_t from)
{
    static const unsigned char magic[4] = {0x50, 0x53, 0x4A, 0x31}; /* "PSJ1" */
    uint64_t q = from;
    while (q + JOURNAL_RECORD_OVERHEAD <= sz) {
        const unsigned char *hit = memmem(d + q, (size_t)(sz - q), magic, 4);
        if (!hit) break;
        uint64_t at = (uint64_t)(hit - d);
        uint32_t type;
        uint64_t len;
        if (record_at(d, sz, at, &type, &len)) return (int64_t)at;
        q = at + 1;
    }
    return -1;
}

int journal_scan(Journal *j, JournalVisit visit, void *ctx, int64_t *torn,
                 char *err, size_t errlen)
{
    *torn = -1;
    struct stat st;
    if (fstat(j->fd, &st) != 0) return io_error(j->path, "reading the journal's size", err, errlen);
    uint64_t sz = (uint64_t)st.st_size;
    j->end = 0;
    if (sz == 0) return 0;
    /* A read-only private mapping: the scan never writes, and records are
     * handed to `visit` without copying. */
    unsigned char *d = mmap(NULL, (size_t)sz, PROT_READ, MAP_PRIVATE, j->fd, 0);
    if (d == MAP_FAILED) return io_error(j->path, "reading the journal", err, errlen);
    madvise(d, (size_t)sz, MADV_SEQUENTIAL);

    int ret = 0;
    uint64_t p = 0;
    while (p < sz) {
        uint32_t type;
        uint64_t len;
        if (!record_at(d, sz, p, &type, &len)) break;
        ret = visit(ctx, type, d + p + 16, len, p);
        if (ret) goto done;
        p += JOURNAL_RECORD_OVERHEAD + len;
    }
    j->end = p;
    if (p < sz) {
        int64_t next = find_valid_after(d, sz, p + 1);
        if (next >= 0) {
            snprintf(err, errlen,
                     "%s: corrupt record at byte offset %llu, followed by valid "
                     "records (the next at byte offset %lld): the file was damaged, "
                     "not just cut short by an interrupted run; it was left as it is "
                     "(move it away, or run with --fresh to start over)",
                     j->path, (unsigned long long)p, (long long)next);
            ret = PS_EFORMAT;
            goto done;
        }
        *torn = (int64_t)p;
    }
done:
    munmap(d, (size_t)sz);
    return ret;
}

int journal_truncate(Journal *j, char *err, size_t errlen)
{
    if (ftruncate(j->fd, (off_t)j->end) != 0)
        return io_error(j->path, "cutting off a torn record", err, errlen);
    if (fsync(j->fd) != 0)
        return io_error(j->path, "syncing the journal", err, errlen);
    return 0;
}

int journal_append(Journal *j, uint32_t type, const void *const *parts,
                   const size_t *lens, int nparts, char *err, size_t errlen)
{
    uint64_t n = 0;
    for (int k = 0; k < nparts; k++) n += lens[k];
    size_t total = (size_t)(JOURNAL_RECORD_OVERHEAD + n);
    unsigned char *rec = malloc(total);
    if (!rec) return PS_ENOMEM;
    put_u32(rec, JOURNAL_MAGIC);
    put_u32(rec + 4, type);
    journal_put_u64(rec + 8, n);
    unsigned char *q = rec + 16;
    for (int k = 0; k < nparts; k++) {
        if (lens[k]) memcpy(q, parts[k], lens[k]);
        q += lens[k];
    }
    put_u32(q, journal_crc32c(0, rec + 4, 12 + (size_t)n));

    if (store_test_crash("journal-append")) {
        /* Fault injection (tests): die halfway through the record. */
        (void)!pwrite(j->fd, rec, total / 2, (off_t)j->end);
        fdatasync(j->fd);
        raise(SIGKILL);
    }
    /* One pwrite of the whole record; a short write only happens on error
     * (disk full), in which case the loop reports the error on retry. */
    int ret = 0;
    size_t done = 0;
    while (done < total) {
        ssize_t w = pwrite(j->fd, rec + done, total - done, (off_t)(j->end + done));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = ENOSPC;
            ret = io_error(j->path, "appending to the journal", err, errlen);
            break;
        }
        done += (size_t)w;
    }
    if (!ret && fdatasync(j->fd) != 0)
        ret = io_error(j->path, "syncing the journal", err, errlen);
    if (ret) {
        /* Best effort: cut the partial record off so that the next append
         * does not land behind a torn one (which would read as damage). */
        int saved = errno;
        if (ftruncate(j->fd, (off_t)j->end) == 0) (void)fdatasync(j->fd);
        errno = saved;
    } else {
        j->end += total;
    }
    free(rec);
    return ret;
}

/* pread until len bytes or the end of the file; returns the bytes read. */
static size_t read_at(int fd, unsigned char *buf, size_t len, uint64_t off)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, buf + got, len - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    return got;
}

int journal_scan_readonly(const char *path, JournalVisit visit, void *ctx,
                          JournalScanInfo *info, char *err, size_t errlen)
{
    memset(info, 0, sizeof *info);
    info->torn = info->damaged = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return io_error(path, "opening the journal", err, errlen);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int ret = io_error(path, "reading the journal's size", err, errlen);
        close(fd);
        return ret;
    }
    uint64_t sz = (uint64_t)st.st_size, p = 0;
    info->size = sz;
    info->mtime = (double)st.st_mtim.tv_sec + 1e-9 * (double)st.st_mtim.tv_nsec;
    unsigned char head[16], *buf = NULL;
    size_t cap = 0;
    int ret = 0;
    while (sz - p >= JOURNAL_RECORD_OVERHEAD) {
        if (read_at(fd, head, 16, p) != 16 || get_u32(head) != JOURNAL_MAGIC) break;
        uint64_t n = journal_get_u64(head + 8);
        if (n > sz - p - JOURNAL_RECORD_OVERHEAD) break;
        size_t need = 12 + (size_t)n + 4; /* type, length, payload, CRC */
        if (need > cap) {
            unsigned char *nb = realloc(buf, need);
            if (!nb) {
                snprintf(err, errlen, "%s: out of memory (a record of %llu bytes)", path,
                         (unsigned long long)n);
                ret = PS_ENOMEM;
                goto done;
            }
            buf = nb;
            cap = need;
        }
        memcpy(buf, head + 4, 12);
        if (read_at(fd, buf + 12, (size_t)n + 4, p + 16) != (size_t)n + 4) break;
        if (journal_crc32c(0, buf, 12 + (size_t)n) != get_u32(buf + 12 + n)) break;
        ret = visit(ctx, get_u32(head + 4), buf + 12, n, p);
        if (ret) goto done;
        info->records++;
        p += JOURNAL_RECORD_OVERHEAD + n;
    }
    info->end = p;
    if (p < sz) {
        /* Torn (nothing valid after it) or damaged (valid records follow): look
         * for a valid record in the rest of the file, as journal_scan does. */
        size_t rest = (size_t)(sz - p);
        unsigned char *tail = malloc(rest);
        size_t got = tail ? read_at(fd, tail, rest, p) : 0;
        int64_t next = tail ? find_valid_after(tail, got, 1) : -1;
        free(tail);
        if (next >= 0) {
            info->damaged = (int64_t)p;
            info->damaged_next = (int64_t)p + next;
        } else {
            info->torn = (int64_t)p;
        }
    }
done:
    free(buf);
    close(fd);
    return ret;
}
