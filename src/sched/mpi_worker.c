/* mpi_worker.c - ranks 1..N-1 (world.h, worker_run; protocol in mpi_impl.h).
 *
 * A worker waits for rank 0's SETUP, checks that it sees the output as rank
 * 0 does (the token in OUT.state, store.h) and answers READY (or what it saw
 * instead), then runs the tasks rank 0 sends in the order they came (at most
 * MPI_DEPTH queued) and sends each result back, until FINISH.
 * It waits for orders with MPI_Iprobe and naps (never Open MPI's spinning
 * receive: oversubscribed workers would steal the CPU of rank 0 and of each
 * other). A thread sends a heartbeat every `heartbeat` seconds, so rank 0
 * can tell a worker that trains for hours from one that is gone; MPI calls
 * of the two threads are serialised by st->lock (MPI_THREAD_SERIALIZED).
 * A worker that cannot go on (out of memory, lost contact) names itself and
 * the task and aborts the run: rank 0 would otherwise wait for its result
 * (lost contact: exit code 5, like a lost worker).
 *
 * Stops (exec.h): a signal to this process, or TAG_STOP from rank 0 (seen
 * between tasks, or by the running task's tick, which probes for it every
 * EXEC_POLL_EVERY seconds), makes the running task save a checkpoint and
 * stop; the worker reports it INTERRUPTED, gives back the tasks it holds
 * unstarted, and waits for FINISH.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exec.h"
#include "mpi_impl.h"
#include "polysweep/polysweep.h"

#define WORKER_NAP_MAX 1e-3 /* longest sleep between probes while it has no task */

typedef struct Heart {
    MpiState *st;
    pthread_t thread;
    pthread_mutex_t mu; /* guards stop; cv wakes the thread to stop */
    pthread_cond_t cv;
    int stop, started;
} Heart;

static void *heart_main(void *arg)
{
    Heart *h = arg;
    MpiState *st = h->st;
    pthread_mutex_lock(&h->mu);
    while (!h->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        double t = (double)until.tv_nsec * 1e-9 + st->heartbeat;
        until.tv_sec += (time_t)t;
        until.tv_nsec = (long)((t - (double)(time_t)t) * 1e9);
        pthread_cond_timedwait(&h->cv, &h->mu, &until);
        if (h->stop)
            break;
        pthread_mutex_lock(&st->lock);
        MPI_Send(NULL, 0, MPI_BYTE, 0, TAG_HEARTBEAT, st->comm);
        pthread_mutex_unlock(&st->lock);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

static void heart_stop(Heart *h)
{
    if (h->started) {
        pthread_mutex_lock(&h->mu);
        h->stop = 1;
        pthread_cond_signal(&h->cv);
        pthread_mutex_unlock(&h->mu);
        pthread_join(h->thread, NULL);
    }
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
}

/* Seconds a worker keeps looking for rank 0's token before it reports that
 * it does not see the output (network file systems' caches may lag). */
#define TOKEN_PATIENCE 2.0

static int send_locked(World *w, const void *buf, int count, int tag);

/* TAG_SETUP: f64 checkpoint interval, i32 quiet, the output path, rank 0's
 * token. Check the token before anything touches OUT.state, open the
 * checkpoints, and answer READY: empty, or what went wrong. */
static int apply_setup(World *w, Exec *ex, const unsigned char *msg, int len)
{
    const char *path = (const char *)msg + 12;
    const char *token = len > 13 ? memchr(path, '\0', (size_t)len - 12) : NULL;
    if (!token || msg[len - 1] != '\0' || ++token >= (const char *)msg + len)
        return PS_EMPI;
    double every;
    int32_t quiet;
    memcpy(&every, msg, 8);
    memcpy(&quiet, msg + 8, 4);
    char err[1000] = ""; /* rank 0 takes up to 1 KB */
    exec_clear(ex);
    if (store_token_check(path, token, TOKEN_PATIENCE, err, sizeof err) == 0 &&
        store_ckpt_open(ex->g, path, &ex->ck, err, sizeof err) == 0) {
        ex->own_ck = 1;
        err[0] = '\0';
    } else if (!err[0]) {
        snprintf(err, sizeof err, "out of memory");
    }
    ex->every = every;
    ex->log = quiet ? NULL : stderr;
    int n = (int)strlen(err);
    return send_locked(w, err, n ? n + 1 : 0, TAG_READY) == MPI_SUCCESS ? 0 : PS_EMPI;
}

/* The next order from rank 0: TAG_TASK (*task set), TAG_FINISH (*code set),
 * TAG_STOP (ex->requested raised) or TAG_SETUP (checkpoints set up); 0 when
 * none is waiting and !block; a negative code on errors. */
static int take_order(World *w, Exec *ex, int block, int64_t *task, int *code)
{
    MpiState *st = w->st;
    Backoff b;
    backoff_reset(&b, WORKER_NAP_MAX);
    for (;;) {
        int flag = 0, level = 0, count = 0;
        unsigned char *setup = NULL;
        MPI_Status s;
        pthread_mutex_lock(&st->lock);
        int rc = MPI_Iprobe(0, MPI_ANY_TAG, st->comm, &flag, &s);
        if (rc == MPI_SUCCESS && flag) {
            if (s.MPI_TAG == TAG_TASK)
                rc = MPI_Recv(task, 1, MPI_INT64_T, 0, TAG_TASK, st->comm, MPI_STATUS_IGNORE);
            else if (s.MPI_TAG == TAG_FINISH)
                rc = MPI_Recv(code, 1, MPI_INT, 0, TAG_FINISH, st->comm, MPI_STATUS_IGNORE);
            else if (s.MPI_TAG == TAG_STOP)
                rc = MPI_Recv(&level, 1, MPI_INT, 0, TAG_STOP, st->comm, MPI_STATUS_IGNORE);
            else if (s.MPI_TAG == TAG_SETUP) {
                MPI_Get_count(&s, MPI_BYTE, &count);
                setup = malloc(count > 0 ? (size_t)count : 1);
                rc = setup ? MPI_Recv(setup, count, MPI_BYTE, 0, TAG_SETUP, st->comm,
                                      MPI_STATUS_IGNORE)
                           : MPI_ERR_NO_MEM;
            }
        }
        pthread_mutex_unlock(&st->lock);
        if (rc != MPI_SUCCESS) {
            free(setup);
            return rc == MPI_ERR_NO_MEM ? PS_ENOMEM : PS_EMPI;
        }
        if (flag && s.MPI_TAG == TAG_STOP && level > ex->requested)
            ex->requested = level;
        if (setup) {
            rc = apply_setup(w, ex, setup, count);
            free(setup);
            if (rc < 0)
                return rc;
        }
        if (flag)
            return s.MPI_TAG;
        if (!block)
            return 0;
        backoff_wait(&b);
    }
}

static int send_locked(World *w, const void *buf, int count, int tag)
{
    pthread_mutex_lock(&w->st->lock);
    int rc = MPI_Send(buf, count, MPI_BYTE, 0, tag, w->st->comm);
    pthread_mutex_unlock(&w->st->lock);
    return rc;
}

static int send_interrupted(World *w, int64_t task, int64_t step)
{
    int64_t msg[2] = {task, step};
    pthread_mutex_lock(&w->st->lock);
    int rc = MPI_Send(msg, 2, MPI_INT64_T, 0, TAG_INTERRUPTED, w->st->comm);
    pthread_mutex_unlock(&w->st->lock);
    return rc == MPI_SUCCESS ? 0 : PS_EMPI;
}

/* Exec.poll: a stop message from rank 0, if one is waiting (the tick calls
 * this every EXEC_POLL_EVERY seconds; an Iprobe costs microseconds). */
static int poll_stop(void *ctx)
{
    World *w = ctx;
    int flag = 0, level = 0;
    pthread_mutex_lock(&w->st->lock);
    if (MPI_Iprobe(0, TAG_STOP, w->st->comm, &flag, MPI_STATUS_IGNORE) == MPI_SUCCESS && flag)
        MPI_Recv(&level, 1, MPI_INT, 0, TAG_STOP, w->st->comm, MPI_STATUS_IGNORE);
    pthread_mutex_unlock(&w->st->lock);
    return level;
}

/* Run one task and send its result (int64 index, then the packed result) or
 * its interruption. *stopped is set when it was interrupted. */
static int run_and_send(World *w, Exec *ex, int64_t task, int *stopped)
{
    TaskResult *r = NULL;
    unsigned char *packed = NULL, *msg = NULL;
    size_t len = 0;
    int64_t step = -1;
    int rc = exec_task(ex, task, &r, &step);
    if (rc == PS_EINTR) {
        *stopped = 1;
        return send_interrupted(w, task, step);
    }
    if (rc == 0) {
        r->val[RV_RANK][0] = w->rank;
        rc = task_result_pack(r, &packed, &len);
    }
    if (rc == 0 && len > (size_t)INT_MAX - sizeof task)
        rc = PS_EINVAL;
    if (rc == 0 && !(msg = malloc(len + sizeof task)))
        rc = PS_ENOMEM;
    if (rc == 0) {
        memcpy(msg, &task, sizeof task);
        memcpy(msg + sizeof task, packed, len);
        if (send_locked(w, msg, (int)(len + sizeof task), TAG_RESULT) != MPI_SUCCESS)
            rc = PS_EMPI;
    }
    free(msg);
    free(packed);
    task_result_free(&r);
    return rc;
}

int worker_run(World *w, const Grid *g)
{
    Heart h = {.st = w->st};
    pthread_mutex_init(&h.mu, NULL);
    pthread_cond_init(&h.cv, NULL);
    if (w->st->heartbeat > 0 && pthread_create(&h.thread, NULL, heart_main, &h) == 0)
        h.started = 1;
    Exec ex;
    exec_init(&ex, g, w->rank);
    ex.poll = poll_stop;
    ex.poll_ctx = w;

    int64_t count = grid_task_count(g), queue[MPI_DEPTH], task = -1;
    int nq = 0, code = 0, rc = 0, stopped = 0;
    /* READY goes out in answer to rank 0's TAG_SETUP (apply_setup). */
    while (rc == 0) {
        /* Take every order that is here; wait only when there is nothing to run. */
        int tag, finish = 0;
        while (rc == 0 && (tag = take_order(w, &ex, nq == 0, &task, &code)) != 0) {
            if (tag == TAG_FINISH && nq == 0)
                finish = 1;
            else if (tag == TAG_TASK && nq < MPI_DEPTH && task >= 0 && task < count)
                queue[nq++] = task;
            else if (tag < 0 || (tag != TAG_STOP && tag != TAG_SETUP))
                rc = tag < 0 ? tag : PS_EMPI;
            if (finish)
                break;
        }
        if (finish || rc)
            break;
        /* Stopped (by rank 0, or a signal to this process): give back what
         * it holds without running it, and wait for FINISH. */
        if (!stopped && exec_stop_level(&ex) >= 1)
            stopped = 1;
        if (stopped) {
            for (int k = 0; k < nq && rc == 0; k++)
                rc = send_interrupted(w, queue[k], -2);
            nq = 0;
            continue;
        }
        task = queue[0];
        rc = run_and_send(w, &ex, task, &stopped);
        memmove(queue, queue + 1, (size_t)(MPI_DEPTH - 1) * sizeof queue[0]);
        nq--;
    }
    heart_stop(&h);
    exec_clear(&ex);
    if (rc < 0) {
        char label[512] = "";
        if (task >= 0 && task < count)
            grid_task_label(g, task, label, sizeof label);
        fprintf(stderr, "polysweep: rank %d: %s%s%s; stopping the run\n", w->rank,
                rc == PS_ENOMEM ? "out of memory" : rc == PS_EINVAL ? "result too large to send"
                : "lost contact with rank 0",
                label[0] ? " at task " : "", label);
        /* Rank 0 (or its node) gone: resumable like a lost worker. */
        world_abort(w, rc == PS_EMPI ? PS_EXIT_LOST : PS_EXIT_INTERNAL);
    }
    /* Rank 0 reports the run's outcome; a worker that did its part exits 0,
     * or 3 like every rank when the run was interrupted. */
    return code == PS_EXIT_INCOMPLETE ? PS_EXIT_INCOMPLETE : PS_EXIT_OK;
}
