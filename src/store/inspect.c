/* inspect.c - a sweep's state read from its files alone, for `polysweep
 * status` (store.h, store_inspect): the journal (read-only, record by
 * record), the checkpoints' headers, and the lock as the kernel sees it.
 *
 * Nothing here writes, truncates or locks: status may run while a sweep
 * appends to the journal (its half-written record reads as a torn tail) or
 * while a new run truncates a torn tail (pread, not mmap, so a shrinking file
 * is just a shorter read rather than SIGBUS). The grid is rebuilt from the
 * latest job text in the journal (the header's, or a later JOB record's when
 * values were added to an axis), so status needs neither the job file nor
 * the dataset.
 *
 * The lock: taking it, even for a moment, could make a run that starts at
 * that moment fail, so the holder is read from /proc/locks (Linux: the flock
 * locks of this machine, by device and inode). A run on another node that
 * shares the file system does not appear there; the lock file's last pid and
 * host are reported either way.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "polysweep/polysweep.h"
#include "polysweep/store.h"
#include "store_impl.h"

typedef struct TaskRec {
    char *label;
    int status;
    char *reason; /* failed only */
} TaskRec;

typedef struct Reader {
    StoreInspect *in;
    char *job_text;
    char *job_path; /* the header's: the job's name, default title and output */
    TaskRec *rec;
    int64_t nrec, caprec;
    int headers;
} Reader;

int store_set_text(char **dst, const unsigned char *p, uint64_t len)
{
    char *t = strndup((const char *)p, (size_t)len);
    if (!t) return PS_ENOMEM;
    free(*dst);
    *dst = t;
    return 0;
}

static int visit(void *ctx, uint32_t type, const unsigned char *p, uint64_t len,
                 uint64_t off)
{
    Reader *rd = ctx;
    StoreInspect *in = rd->in;
    uint64_t pos = 0, a;
    const unsigned char *s1;
    (void)off;
    switch (type) {
    case JOURNAL_HEADER: {
        StoreHeader h;
        if (store_header_parse(p, len, &h) != 0) return 0; /* "no usable header" */
        if (rd->headers++) return 0;
        in->format = h.format;
        if (h.format != STORE_FORMAT) return 1; /* not ours to read: stop here */
        in->shard_k = (int)h.shard_k;
        in->shard_n = (int)h.shard_n;
        free(rd->job_path);
        if (store_set_text(&in->fingerprint, h.fingerprint, h.flen) ||
            store_set_text(&rd->job_text, h.text, h.tlen) || !(rd->job_path = store_header_path(&h)))
            return PS_ENOMEM;
        return 0;
    }
    case JOURNAL_JOB:
        return store_set_text(&rd->job_text, p, len);
    case JOURNAL_RUN:
        in->runs++;
        return store_set_text(&in->last_run, p, len);
    case JOURNAL_TASK: {
        if (journal_get_str(p, len, &pos, &s1, &a)) return 0;
        TaskResult *r = NULL;
        if (task_result_unpack(p + pos, (size_t)(len - pos), &r) != 0) return 0;
        if (rd->nrec == rd->caprec) {
            int64_t cap = rd->caprec ? 2 * rd->caprec : 64;
            TaskRec *nr = realloc(rd->rec, (size_t)cap * sizeof *nr);
            if (!nr) {
                task_result_free(&r);
                return PS_ENOMEM;
            }
            rd->rec = nr;
            rd->caprec = cap;
        }
        TaskRec *t = &rd->rec[rd->nrec];
        t->label = strndup((const char *)s1, (size_t)a);
        t->status = r->status;
        t->reason = r->status == TASK_FAILED ? strdup(r->reason) : NULL;
        task_result_free(&r);
        if (!t->label) return PS_ENOMEM;
        rd->nrec++;
        in->task_records++;
        return 0;
    }
    default:
        return 0;
    }
}

/* The flock holder of (dev, ino) in /proc/locks, or 0. Lines look like
 * "1: FLOCK  ADVISORY  WRITE 1234 fe:00:10953273 0 EOF". */
static long proc_locks_holder(dev_t dev, ino_t ino)
{
    FILE *f = fopen("/proc/locks", "r");
    if (!f) return 0;
    char line[512];
    long holder = 0;
    while (!holder && fgets(line, sizeof line, f)) {
        char kind[32], mode[32];
        long pid;
        unsigned maj, min;
        unsigned long long inode;
        const char *p = strchr(line, ':');
        if (!p) continue;
        /* Blocked waiters are shown as "1: -> FLOCK ...": skip them. */
        if (sscanf(p + 1, " %31s %*s %31s %ld %x:%x:%llu", kind, mode, &pid, &maj, &min,
                   &inode) != 6)
            continue;
        if (strcmp(kind, "FLOCK") == 0 && maj == major(dev) && min == minor(dev) &&
            inode == (unsigned long long)ino)
            holder = pid;
    }
    fclose(f);
    return holder;
}

static void read_lock(StoreInspect *in, const char *state_dir)
{
    size_t len = strlen(state_dir) + 8;
    char *path = malloc(len);
    if (!path) return;
    snprintf(path, len, "%s/lock", state_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    if (fd < 0) return;
    char text[400] = "";
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    if (n > 0) text[n] = '\0';
    long pid = 0;
    if (sscanf(text, "%ld %255s %63s", &pid, in->lock_host, in->lock_since) >= 1)
        in->lock_pid = pid;
    struct stat st;
    if (fstat(fd, &st) == 0) {
        long holder = proc_locks_holder(st.st_dev, st.st_ino);
        if (holder > 0) {
            in->locked = 1;
            in->lock_pid = holder;
        }
    }
    close(fd);
}

static int by_task(const void *a, const void *b)
{
    const StoreInspectCkpt *x = a, *y = b;
    return (x->task > y->task) - (x->task < y->task);
}

static int read_checkpoints(StoreInspect *in, const char *state_dir)
{
    size_t len = strlen(state_dir) + 8;
    char *dir = malloc(len);
    if (!dir) return PS_ENOMEM;
    snprintf(dir, len, "%s/ckpt", state_dir);
    DIR *d = opendir(dir);
    free(dir);
    if (!d) return 0;
    int cap = 0, ret = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (store_ckpt_name_kind(e->d_name) != 1) continue;
        CkptHeader h;
        char *label;
        if (store_ckpt_read_header(dirfd(d), e->d_name, &h, &label) != 0) continue;
        int64_t i = grid_find(in->g, label);
        int ours = i >= 0 && in->status[i] == TASK_PENDING &&
                   h.ident == store_ckpt_ident(in->fingerprint, label, strlen(label));
        free(label);
        if (!ours) continue;
        struct stat st;
        double mtime = fstatat(dirfd(d), e->d_name, &st, 0) == 0
                           ? (double)st.st_mtim.tv_sec + 1e-9 * (double)st.st_mtim.tv_nsec
                           : 0;
        if (in->nckpt == cap) {
            cap = cap ? 2 * cap : 16;
            StoreInspectCkpt *nc = realloc(in->ckpt, (size_t)cap * sizeof *nc);
            if (!nc) {
                ret = PS_ENOMEM;
                break;
            }
            in->ckpt = nc;
        }
        in->ckpt[in->nckpt++] = (StoreInspectCkpt){i, h.step, h.steps, h.elapsed, mtime};
    }
    closedir(d);
    if (in->nckpt > 1) qsort(in->ckpt, (size_t)in->nckpt, sizeof *in->ckpt, by_task);
    return ret;
}

/* The grid from the latest job text, and every task's latest status. */
static int rebuild(StoreInspect *in, Reader *rd)
{
    char err[1024];
    if (!rd->job_text || !in->fingerprint) return 0;
    if (job_parse(rd->job_path, rd->job_text, strlen(rd->job_text), &in->job, err,
                  sizeof err) != 0 ||
        grid_create(in->job, &in->g, err, sizeof err) != 0) {
        snprintf(in->problem, sizeof in->problem, "the job recorded in the journal cannot "
                 "be read by this version of polysweep: %s", err);
        job_free(&in->job);
        return 0;
    }
    in->ntasks = in->nmembers = grid_task_count(in->g);
    in->status = calloc((size_t)(in->ntasks > 0 ? in->ntasks : 1), 1);
    in->reason = calloc((size_t)(in->ntasks > 0 ? in->ntasks : 1), sizeof *in->reason);
    if (!in->status || !in->reason) return PS_ENOMEM;
    if (in->shard_n > 0) {
        in->member = malloc((size_t)(in->ntasks > 0 ? in->ntasks : 1));
        if (!in->member ||
            grid_shard_members(in->g, in->shard_k, in->shard_n, in->member, &in->nmembers) < 0)
            return PS_ENOMEM;
    }
    for (int64_t k = 0; k < rd->nrec; k++) {
        TaskRec *t = &rd->rec[k];
        int64_t i = grid_find(in->g, t->label);
        if (i < 0) continue;
        in->status[i] = (unsigned char)(t->status == TASK_FAILED ? TASK_FAILED : TASK_DONE);
        free(in->reason[i]);
        in->reason[i] = t->reason; /* moved */
        t->reason = NULL;
    }
    for (int64_t i = 0; i < in->ntasks; i++)
        if (!in->member || in->member[i]) in->count[in->status[i]]++;
    /* Records of labels no longer in the grid, counted once per label. */
    for (int64_t k = 0; k < rd->nrec; k++) {
        if (grid_find(in->g, rd->rec[k].label) >= 0) continue;
        int seen = 0;
        for (int64_t q = 0; q < k && !seen; q++)
            seen = strcmp(rd->rec[q].label, rd->rec[k].label) == 0;
        in->orphans += !seen;
    }
    return 0;
}

int store_inspect(const char *output, StoreInspect **out, char *err, size_t errlen)
{
    *out = NULL;
    StoreInspect *in = calloc(1, sizeof *in);
    Reader rd = {.in = in};
    size_t len = strlen(output) + 32;
    char *state_dir = malloc(len);
    int ret = PS_ENOMEM;
    if (!in || !state_dir || !(in->journal_path = malloc(len))) goto fail;
    in->torn_at = in->damaged_at = -1;
    snprintf(state_dir, len, "%s.state", output);
    snprintf(in->journal_path, len, "%s.state/journal", output);

    struct stat st;
    if (stat(in->journal_path, &st) != 0) {
        int e = errno;
        struct stat o;
        int is_file = stat(output, &o) == 0;
        snprintf(err, errlen, "%s is not the output of a polysweep sweep: %s %s%s", output,
                 in->journal_path, e == ENOENT ? "does not exist" : strerror(e),
                 is_file ? " (the file exists, but no sweep keeps its record next to it)"
                         : "");
        ret = PS_EINVAL;
        goto fail;
    }
    JournalScanInfo info;
    ret = journal_scan_readonly(in->journal_path, visit, &rd, &info, err, errlen);
    if (ret == 1 && in->format != STORE_FORMAT) {
        /* Another format: what it is says the caller (store_format_check). */
        in->journal_bytes = info.size;
        in->journal_mtime = info.mtime;
        ret = 0;
        goto done;
    }
    if (ret) goto fail;
    in->journal_bytes = info.size;
    in->journal_mtime = info.mtime;
    in->records = info.records;
    if (info.torn >= 0) {
        in->torn_at = info.torn;
        in->torn_bytes = info.size - (uint64_t)info.torn;
    }
    if (info.damaged >= 0) {
        in->damaged_at = info.damaged;
        snprintf(in->problem, sizeof in->problem, "the journal is damaged at byte offset "
                 "%lld (valid records follow at byte offset %lld): `polysweep run` will "
                 "refuse to continue; only the %lld records before it were read",
                 (long long)info.damaged, (long long)info.damaged_next,
                 (long long)info.records);
    }
    if ((ret = rebuild(in, &rd))) goto fail;
    if (in->g && (ret = read_checkpoints(in, state_dir))) goto fail;
done:
    read_lock(in, state_dir);
    *out = in;
    in = NULL;
    ret = 0;
fail:
    if (ret == PS_ENOMEM && errlen && !err[0])
        snprintf(err, errlen, "%s: out of memory (while reading its journal)", output);
    for (int64_t k = 0; k < rd.nrec; k++) {
        free(rd.rec[k].label);
        free(rd.rec[k].reason);
    }
    free(rd.rec);
    free(rd.job_text);
    free(rd.job_path);
    free(state_dir);
    store_inspect_free(&in);
    return ret;
}

void store_inspect_free(StoreInspect **p)
{
    if (!p || !*p) return;
    StoreInspect *in = *p;
    if (in->reason)
        for (int64_t i = 0; i < in->ntasks; i++) free(in->reason[i]);
    free(in->reason);
    free(in->status);
    free(in->member);
    free(in->ckpt);
    grid_free(&in->g);
    job_free(&in->job);
    free(in->fingerprint);
    free(in->last_run);
    free(in->journal_path);
    free(in);
    *p = NULL;
}

int store_inspect_format_error(const StoreInspect *in, const char *output, char *err,
                               size_t errlen)
{
    if (in->format == 0 || in->format == STORE_FORMAT) return 0;
    return store_format_check(output, in->format, err, errlen);
}

int store_lock_held(const char *state_dir, long *pid)
{
    StoreInspect in;
    memset(&in, 0, sizeof in);
    read_lock(&in, state_dir);
    *pid = in.lock_pid;
    return in.locked;
}
