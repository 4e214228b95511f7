/* token.c - do all processes of a run see the same output? (store.h,
 * store_token_write / store_token_check).
 *
 * Rank 0 is the only writer of the dataset and the journal, but MPI workers
 * save the checkpoints of their running tasks into OUT.state/ckpt/ themselves.
 * On a path that is local to each node (/tmp, a node's scratch disk) every
 * node would get its own OUT.state: the dataset would still be right, but
 * the workers' checkpoints would sit orphaned on their own disks and a
 * requeued run could not resume from them. So at start-up rank 0 writes a
 * random token into OUT.state/token (atomically, fsynced), and every worker
 * reads it back before it touches OUT.state: a worker that finds no token,
 * or another one, does not share rank 0's file system at this path.
 *
 * Close-to-open consistency (NFS) makes a file written, fsynced and renamed
 * by one client visible to an open() on another; attribute and lookup caches
 * can still lag for a moment, so a check that fails is retried for a short
 * while before it counts.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "polysweep/polysweep.h"
#include "polysweep/store.h"
#include "store_impl.h"

#define TOKEN_FILE "token"

static char *token_path(const char *state_dir)
{
    size_t len = strlen(state_dir) + sizeof TOKEN_FILE + 1;
    char *p = malloc(len);
    if (p)
        snprintf(p, len, "%s/%s", state_dir, TOKEN_FILE);
    return p;
}

/* 128 random bits as 32 hex digits. getrandom() can only fail on very old
 * kernels; then the clock and the pid still make a token unique per run. */
static void new_token(char token[STORE_TOKEN_LEN])
{
    uint64_t r[2];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        char seed[96];
        snprintf(seed, sizeof seed, "%lld.%ld.%ld", (long long)ts.tv_sec, ts.tv_nsec,
                 (long)getpid());
        r[0] = store_hash64(seed);
        r[1] = r[0] ^ store_hash64(seed + 1);
    }
    snprintf(token, STORE_TOKEN_LEN, "%016llx%016llx", (unsigned long long)r[0],
             (unsigned long long)r[1]);
}

int store_token_write(const Store *s, char token[STORE_TOKEN_LEN], char *err, size_t errlen)
{
    char host[256] = "unknown";
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = '\0';
    new_token(token);
    char *path = token_path(s->state_dir);
    size_t tlen = path ? strlen(path) + 32 : 0;
    char *tmp = path ? malloc(tlen) : NULL;
    if (!tmp) {
        free(path);
        snprintf(err, errlen, "out of memory");
        return PS_ENOMEM;
    }
    snprintf(tmp, tlen, "%s.tmp.%ld", path, (long)getpid());
    char text[400];
    int n = snprintf(text, sizeof text, "%s %s %ld\n", token, host, (long)getpid());
    int ret = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, text, (size_t)n) != n || fsync(fd) != 0) {
        snprintf(err, errlen, "%s: %s (while writing the shared-storage token)", tmp,
                 strerror(errno));
        ret = PS_EIO;
    }
    if (fd >= 0 && close(fd) != 0 && !ret) {
        snprintf(err, errlen, "%s: %s (while writing the shared-storage token)", tmp,
                 strerror(errno));
        ret = PS_EIO;
    }
    if (!ret && rename(tmp, path) != 0) {
        snprintf(err, errlen, "%s: %s (while writing the shared-storage token)", path,
                 strerror(errno));
        ret = PS_EIO;
    }
    if (ret)
        (void)unlink(tmp);
    else
        ret = store_fsync_dir(s->state_dir, err, errlen);
    free(tmp);
    free(path);
    return ret;
}

/* One look: 0 when the file holds `token`; else PS_EMISMATCH (or PS_EIO) and
 * what was found in err. */
static int token_look(const char *path, const char *token, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            snprintf(err, errlen, "%s does not exist on this node", path);
        else
            snprintf(err, errlen, "%s: %s", path, strerror(e));
        return e == ENOENT || e == ENOTDIR ? PS_EMISMATCH : PS_EIO;
    }
    char text[400] = "";
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return PS_EIO;
    }
    text[n] = '\0';
    size_t tl = strlen(token);
    if ((size_t)n > tl && strncmp(text, token, tl) == 0 && text[tl] == ' ')
        return 0;
    char other[33] = "", host[256] = "";
    long pid = 0;
    if (sscanf(text, "%32s %255s %ld", other, host, &pid) == 3)
        snprintf(err, errlen, "%s on this node holds the token of another run (pid %ld on "
                 "%s), not this run's", path, pid, host);
    else
        snprintf(err, errlen, "%s on this node does not hold this run's token", path);
    return PS_EMISMATCH;
}

int store_token_check(const char *output, const char *token, double patience, char *err,
                      size_t errlen)
{
    size_t len = strlen(output) + 8;
    char *state_dir = malloc(len);
    char *path = NULL;
    if (state_dir) {
        snprintf(state_dir, len, "%s.state", output);
        path = token_path(state_dir);
    }
    free(state_dir);
    if (!path) {
        snprintf(err, errlen, "out of memory");
        return PS_ENOMEM;
    }
    struct timespec t0, now, nap = {0, 100 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc;
    for (;;) {
        rc = token_look(path, token, err, errlen);
        clock_gettime(CLOCK_MONOTONIC, &now);
        double waited = (double)(now.tv_sec - t0.tv_sec) + 1e-9 * (double)(now.tv_nsec - t0.tv_nsec);
        if (rc == 0 || waited >= patience)
            break;
        nanosleep(&nap, NULL);
    }
    free(path);
    return rc;
}
