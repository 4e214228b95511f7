/* files.c - the file-system side of the store: directories, durability of
 * renames (fsync of the directory), the lock file and leftover temporaries.
 *
 * The lock is flock(2) on OUT.state/lock. The kernel drops it when the holder
 * exits or is killed, so a kill -9 never leaves a stale lock behind; the pid
 * host and start time written into the file are only there for messages
 * (and for `polysweep status`).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "polysweep/polysweep.h"
#include "store_impl.h"

char *store_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

int store_mkdir_p(const char *dir, char *err, size_t errlen)
{
    char *p = strdup(dir);
    if (!p) return PS_ENOMEM;
    int ret = 0;
    /* Create each prefix ending before a '/', then the whole path. */
    for (char *q = p + 1;; q++) {
        if (*q != '/' && *q != '\0') continue;
        char c = *q;
        *q = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "%s: %s (while creating the directory)", p,
                     strerror(errno));
            ret = PS_EIO;
            break;
        }
        *q = c;
        if (c == '\0') break;
    }
    if (!ret) {
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "%s: not a directory", dir);
            ret = PS_EIO;
        }
    }
    free(p);
    return ret;
}

int store_fsync_dir(const char *dir, char *err, size_t errlen)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        snprintf(err, errlen, "%s: %s (while syncing the directory)", dir,
                 strerror(errno));
        if (fd >= 0) close(fd);
        return PS_EIO;
    }
    close(fd);
    return 0;
}

/* The refusal when another process holds the lock: who (the lock file's
 * "<pid> <host> <start time>"), and what to do about it. */
static void busy_message(const char *text, const char *output, char *err, size_t errlen)
{
    char host[256] = "", since[64] = "", me[256] = "";
    long pid = 0;
    int n = sscanf(text, "%ld %255s %63s", &pid, host, since);
    if (n < 2) {
        /* The holder has not written itself in yet (it is starting). */
        snprintf(err, errlen, "%s is in use by another polysweep run (it is just "
                 "starting); wait for it to finish, or stop it", output);
        return;
    }
    if (gethostname(me, sizeof me) != 0) me[0] = '\0';
    me[sizeof me - 1] = '\0';
    char when[96] = "";
    if (n == 3) snprintf(when, sizeof when, ", running since %s", since);
    if (strcmp(host, me) == 0)
        snprintf(err, errlen, "%s is in use by another polysweep run (pid %ld on this "
                 "host, %s%s); wait for it to finish, or stop it with `kill -USR1 %ld` "
                 "(it saves its work and exits; rerun to resume)", output, pid, host,
                 when, pid);
    else
        snprintf(err, errlen, "%s is in use by another polysweep run (pid %ld on host "
                 "%s%s); wait for it to finish, or stop it (`kill -USR1 %ld` on %s). If %s "
                 "is down, its lock is released once the file system notices (see the "
                 "README, \"The lock\")", output, pid, host, when, pid, host, host);
}

int store_lock(const char *lock_path, const char *output, int *fdp, char *err,
               size_t errlen)
{
    *fdp = -1;
    int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s (while opening the lock file)", lock_path,
                 strerror(errno));
        return PS_EIO;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        if (e == EWOULDBLOCK) {
            /* Name the holder when it has written itself in already. */
            char text[400] = "";
            ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
            if (n > 0) text[n] = '\0';
            busy_message(text, output, err, errlen);
            close(fd);
            return PS_EBUSY;
        }
        snprintf(err, errlen, "%s: %s (while locking)", lock_path, strerror(e));
        close(fd);
        return PS_EIO;
    }
    char host[256] = "unknown", text[400], when[32] = "unknown";
    if (gethostname(host, sizeof(host)) != 0) strcpy(host, "unknown");
    host[sizeof(host) - 1] = '\0';
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm)) strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    int n = snprintf(text, sizeof(text), "%ld %s %s\n", (long)getpid(), host, when);
    if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)n, 0) != n) {
        snprintf(err, errlen, "%s: %s (while writing the lock file)", lock_path,
                 strerror(errno));
        close(fd);
        return PS_EIO;
    }
    *fdp = fd;
    return 0;
}

void store_remove_stale_tmp(const char *output)
{
    char *dir = store_dirname(output);
    if (!dir) return;
    const char *slash = strrchr(output, '/');
    const char *base = slash ? slash + 1 : output;
    size_t blen = strlen(base);
    DIR *d = opendir(dir);
    if (!d) {
        free(dir);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        /* Exactly "<base>.tmp.<digits>", the names store_snapshot uses. */
        const char *name = e->d_name;
        if (strncmp(name, base, blen) != 0 || strncmp(name + blen, ".tmp.", 5) != 0)
            continue;
        const char *digits = name + blen + 5;
        if (!*digits || strspn(digits, "0123456789") != strlen(digits)) continue;
        (void)unlinkat(dirfd(d), name, 0);
    }
    closedir(d);
    free(dir);
}

/* ---- fault injection for tests (store_impl.h, store_test_crash) ---- */

int store_test_crash(const char *point)
{
    const char *spec = getenv("POLYSWEEP_TEST_CRASH");
    if (!spec || !*spec) return 0;
    static const char *const names[] = {"journal-append", "snapshot", "checkpoint"};
    static long calls[3];
    int k = 0;
    while (k < 3 && strcmp(names[k], point) != 0) k++;
    if (k == 3) return 0;
    long nth = ++calls[k];
    size_t plen = strlen(point);
    /* "point:N" entries separated by commas */
    for (const char *p = spec; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
        if (strncmp(p, point, plen) == 0 && p[plen] == ':' && atol(p + plen + 1) == nth)
            return 1;
    }
    return 0;
}
