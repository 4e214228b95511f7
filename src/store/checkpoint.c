/* checkpoint.c - checkpoints of running tasks (store.h, "checkpoints"):
 * OUT.state/ckpt/<key>.ckpt, one file per task, each a header that says
 * which job and task it belongs to, the task's resumable training state
 * (task.h, TaskTick) and a CRC-32C over everything.
 *
 * Why the identity is checked so hard: resuming from a state of another task
 * or another job would not crash, it would silently produce wrong science.
 * The file name (the task's random-stream key) only finds the file; the
 * header's ident (FNV-1a-64 of the job fingerprint and the task's label),
 * key, label, step range and length must all agree before a state is used.
 *
 * Saving is atomic like the dataset: a temporary file in the same directory,
 * fsync, rename, fsync of the directory; a kill leaves the previous
 * checkpoint (and a temporary that the next store_open removes).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "polysweep/data.h"
#include "polysweep/polysweep.h"
#include "polysweep/store.h"
#include "store_impl.h"

#define CKPT_MAGIC 0x4B435350u /* "PSCK" read as little-endian bytes */
#define CKPT_VERSION 1u

struct StoreCkpt {
    const Grid *g;
    char *dir;        /* OUT.state/ckpt */
    uint64_t fp_hash; /* FNV-1a-64 state after the fingerprint text and '\n' */
};

uint64_t store_ckpt_ident(const char *fingerprint, const char *label, size_t llen)
{
    uint64_t h = data_fnv1a(DATA_FNV_OFFSET, fingerprint, strlen(fingerprint));
    h = data_fnv1a(h, "\n", 1);
    return data_fnv1a(h, label, llen);
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int k = 0; k < 4; k++) p[k] = (unsigned char)(v >> (8 * k));
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

int store_ckpt_parse_header(const unsigned char *p, size_t len, CkptHeader *h)
{
    if (len < CKPT_HEADER_LEN || get_u32(p) != CKPT_MAGIC) return -1;
    h->version = get_u32(p + 4);
    h->ident = journal_get_u64(p + 8);
    h->key = journal_get_u64(p + 16);
    h->step = (int64_t)journal_get_u64(p + 24);
    h->steps = (int64_t)journal_get_u64(p + 32);
    uint64_t bits = journal_get_u64(p + 40);
    memcpy(&h->elapsed, &bits, sizeof bits);
    h->label_len = journal_get_u64(p + 48);
    h->state_len = journal_get_u64(p + 56);
    return 0;
}

char *store_ckpt_path(const char *dir, uint64_t key, const char *suffix)
{
    size_t len = strlen(dir) + 64;
    char *p = malloc(len);
    if (p) snprintf(p, len, "%s/%016llx.ckpt%s", dir, (unsigned long long)key, suffix);
    return p;
}

/* Task i's label, malloc'd. */
static char *label_of(const Grid *g, int64_t i, size_t *llen)
{
    size_t n = grid_task_label(g, i, NULL, 0);
    char *l = malloc(n + 1);
    if (l) grid_task_label(g, i, l, n + 1);
    *llen = n;
    return l;
}

int store_ckpt_open(const Grid *g, const char *output, StoreCkpt **out, char *err,
                    size_t errlen)
{
    *out = NULL;
    StoreCkpt *c = calloc(1, sizeof *c);
    char *fp = job_fingerprint_text(grid_job(g));
    size_t len = strlen(output) + 16;
    if (c) c->dir = malloc(len);
    if (!c || !fp || !c->dir) {
        free(fp);
        store_ckpt_close(&c);
        snprintf(err, errlen, "%s: out of memory (while opening the checkpoints)", output);
        return PS_ENOMEM;
    }
    snprintf(c->dir, len, "%s.state/ckpt", output);
    c->g = g;
    c->fp_hash = data_fnv1a(data_fnv1a(DATA_FNV_OFFSET, fp, strlen(fp)), "\n", 1);
    free(fp);
    int ret = store_mkdir_p(c->dir, err, errlen);
    if (ret) {
        store_ckpt_close(&c);
        return ret;
    }
    *out = c;
    return 0;
}

void store_ckpt_close(StoreCkpt **cp)
{
    if (!cp || !*cp) return;
    free((*cp)->dir);
    free(*cp);
    *cp = NULL;
}

const char *store_ckpt_dir(const StoreCkpt *c) { return c->dir; }

static int write_all(int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = ENOSPC;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int store_ckpt_save(StoreCkpt *c, int64_t i, const TaskTick *tk, char *err, size_t errlen)
{
    TaskSpec t;
    grid_task_spec(c->g, i, &t);
    size_t llen;
    char *label = label_of(c->g, i, &llen);
    char *path = store_ckpt_path(c->dir, t.key, "");
    char *tmp = malloc(strlen(c->dir) + 64);
    unsigned char *head = malloc(CKPT_HEADER_LEN + llen);
    int ret = PS_ENOMEM, fd = -1;
    if (!label || !path || !tmp || !head) {
        snprintf(err, errlen, "%s: out of memory (while saving a checkpoint)", c->dir);
        goto done;
    }
    snprintf(tmp, strlen(c->dir) + 64, "%s.tmp.%ld", path, (long)getpid());

    put_u32(head, CKPT_MAGIC);
    put_u32(head + 4, CKPT_VERSION);
    journal_put_u64(head + 8, data_fnv1a(c->fp_hash, label, llen));
    journal_put_u64(head + 16, t.key);
    journal_put_u64(head + 24, (uint64_t)tk->step);
    journal_put_u64(head + 32, (uint64_t)tk->steps);
    uint64_t bits;
    memcpy(&bits, &tk->elapsed, sizeof bits);
    journal_put_u64(head + 40, bits);
    journal_put_u64(head + 48, llen);
    journal_put_u64(head + 56, tk->len);
    memcpy(head + CKPT_HEADER_LEN, label, llen);
    unsigned char crc[4];
    put_u32(crc, journal_crc32c(journal_crc32c(0, head, CKPT_HEADER_LEN + llen), tk->state,
                                tk->len));

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) goto io;
    if (store_test_crash("checkpoint")) {
        /* Fault injection (tests): die halfway through the write. */
        (void)!write_all(fd, head, CKPT_HEADER_LEN + llen);
        (void)!write_all(fd, tk->state, tk->len / 2);
        fsync(fd);
        raise(SIGKILL);
    }
    if (write_all(fd, head, CKPT_HEADER_LEN + llen) || write_all(fd, tk->state, tk->len) ||
        write_all(fd, crc, 4) || fsync(fd) != 0)
        goto io;
    if (close(fd) != 0) {
        fd = -1;
        goto io;
    }
    fd = -1;
    if (rename(tmp, path) != 0) goto io;
    ret = store_fsync_dir(c->dir, err, errlen);
    goto done;
io:
    snprintf(err, errlen, "%s: %s (while saving a checkpoint of task %s)", tmp,
             strerror(errno), label);
    ret = PS_EIO;
    if (fd >= 0) close(fd);
    unlink(tmp);
done:
    free(head);
    free(tmp);
    free(path);
    free(label);
    return ret;
}

int store_ckpt_load(StoreCkpt *c, int64_t i, StoreCheckpoint *ck, char *err, size_t errlen)
{
    memset(ck, 0, sizeof *ck);
    TaskSpec t;
    grid_task_spec(c->g, i, &t);
    size_t llen;
    char *label = label_of(c->g, i, &llen);
    char *path = store_ckpt_path(c->dir, t.key, "");
    unsigned char *buf = NULL;
    const char *why = NULL;
    int ret = PS_ENOMEM, fd = -1;
    if (!label || !path) {
        snprintf(err, errlen, "%s: out of memory (while reading a checkpoint)", c->dir);
        goto done;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            ret = 1;
            goto done;
        }
        goto io;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) goto io;
    size_t size = (size_t)st.st_size;
    if (size < CKPT_HEADER_LEN + 4) {
        why = "too short";
        goto bad;
    }
    if (!(buf = malloc(size))) {
        snprintf(err, errlen, "%s: out of memory (%zu bytes)", path, size);
        goto done;
    }
    for (size_t got = 0; got < size;) {
        ssize_t r = pread(fd, buf + got, size - got, (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) goto io;
        if (r == 0) {
            why = "shorter than its size";
            goto bad;
        }
        got += (size_t)r;
    }
    CkptHeader h;
    if (store_ckpt_parse_header(buf, size, &h)) {
        why = "not a polysweep checkpoint";
        goto bad;
    }
    if (h.version != CKPT_VERSION) {
        why = "written by another version of polysweep";
        goto bad;
    }
    if (h.label_len > size || h.state_len > size ||
        CKPT_HEADER_LEN + h.label_len + h.state_len + 4 != size) {
        why = "its lengths do not add up (truncated?)";
        goto bad;
    }
    if (journal_crc32c(0, buf, size - 4) != get_u32(buf + size - 4)) {
        why = "bad checksum";
        goto bad;
    }
    if (h.label_len != llen || memcmp(buf + CKPT_HEADER_LEN, label, llen) != 0 ||
        h.key != t.key) {
        why = "it belongs to another task";
        goto bad;
    }
    if (h.ident != data_fnv1a(c->fp_hash, label, llen)) {
        why = "it belongs to another job";
        goto bad;
    }
    if (h.steps != t.steps || h.step < 0 || h.step > h.steps) {
        why = "its step is out of range";
        goto bad;
    }
    /* The state moves to the front of the buffer, which the caller keeps. */
    memmove(buf, buf + CKPT_HEADER_LEN + llen, (size_t)h.state_len);
    ck->state = buf;
    ck->len = (size_t)h.state_len;
    ck->step = h.step;
    ck->steps = h.steps;
    ck->elapsed = h.elapsed >= 0 ? h.elapsed : 0;
    buf = NULL;
    ret = 0;
    goto done;
bad:
    snprintf(err, errlen, "%s: not a usable checkpoint of task %s: %s", path, label, why);
    ret = PS_EFORMAT;
    goto done;
io:
    snprintf(err, errlen, "%s: %s (while reading a checkpoint)", path, strerror(errno));
    ret = PS_EIO;
done:
    if (fd >= 0) close(fd);
    free(buf);
    free(path);
    free(label);
    return ret;
}

void store_ckpt_remove(StoreCkpt *c, int64_t i)
{
    TaskSpec t;
    grid_task_spec(c->g, i, &t);
    char *path = store_ckpt_path(c->dir, t.key, "");
    if (path) (void)unlink(path);
    free(path);
}

void store_checkpoint_clear(StoreCheckpoint *ck)
{
    if (!ck) return;
    free(ck->state);
    memset(ck, 0, sizeof *ck);
}

int store_ckpt_read_header(int dirfd, const char *name, CkptHeader *h, char **label)
{
    *label = NULL;
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    unsigned char head[CKPT_HEADER_LEN];
    int ok = pread(fd, head, sizeof head, 0) == (ssize_t)sizeof head &&
             store_ckpt_parse_header(head, sizeof head, h) == 0 && h->label_len < 65536;
    if (ok) {
        *label = malloc((size_t)h->label_len + 1);
        ok = *label && pread(fd, *label, (size_t)h->label_len, CKPT_HEADER_LEN) ==
                           (ssize_t)h->label_len;
        if (ok) (*label)[h->label_len] = '\0';
    }
    close(fd);
    if (!ok) {
        free(*label);
        *label = NULL;
        return -1;
    }
    return 0;
}

/* Is `name` "<16 hex>.ckpt" (kind 1) or "<16 hex>.ckpt.tmp.<digits>" (kind 2)? */
int store_ckpt_name_kind(const char *name)
{
    if (strspn(name, "0123456789abcdef") != 16 || strncmp(name + 16, ".ckpt", 5) != 0)
        return 0;
    const char *rest = name + 21;
    if (!*rest) return 1;
    if (strncmp(rest, ".tmp.", 5) == 0 && rest[5] &&
        strspn(rest + 5, "0123456789") == strlen(rest + 5))
        return 2;
    return 0;
}

int store_ckpt_sweep(StoreCkpt *c, int fresh, const unsigned char *status,
                     int64_t *resumable)
{
    *resumable = 0;
    DIR *d = opendir(c->dir);
    if (!d) return 0; /* nothing to sweep */
    struct dirent *e;
    int removed = 0;
    while ((e = readdir(d))) {
        int kind = store_ckpt_name_kind(e->d_name);
        if (!kind) continue;
        /* Temporaries are from killed processes: this one holds the lock and
         * no task of this run has started yet. */
        if (kind == 2 || fresh) {
            removed += unlinkat(dirfd(d), e->d_name, 0) == 0;
            continue;
        }
        CkptHeader h;
        char *label;
        if (store_ckpt_read_header(dirfd(d), e->d_name, &h, &label) != 0)
            continue; /* unreadable: store_ckpt_load will say so when its task runs */
        int64_t i = grid_find(c->g, label);
        if (i >= 0 && (status[i] == TASK_DONE || status[i] == TASK_FAILED)) {
            /* A finished task's (the run was killed between its commit and
             * the removal) */
            removed += unlinkat(dirfd(d), e->d_name, 0) == 0;
        } else if (i >= 0 && h.ident == data_fnv1a(c->fp_hash, label, strlen(label))) {
            (*resumable)++;
        }
        free(label);
    }
    closedir(d);
    if (removed) {
        char err[256];
        (void)store_fsync_dir(c->dir, err, sizeof err);
    }
    return 0;
}
