/* dispatch_local.c - the dispatcher of a one-process run (world.h): the one
 * executor is this process, so `wait` runs the submitted task to its end, or
 * until a stop request (a signal) interrupts it at a tick (exec.h). */
#include <stdio.h>
#include <stdlib.h>

#include "exec.h"
#include "polysweep/polysweep.h"
#include "world.h"

typedef struct LocalDispatch {
    Exec ex;
    int rank;
    int busy;
    int64_t task;
} LocalDispatch;

static int ld_running(void *ctx) { return ((LocalDispatch *)ctx)->busy; }
static int ld_busy(void *ctx) { return ((LocalDispatch *)ctx)->busy; }

static int ld_submit(void *ctx, int64_t task)
{
    LocalDispatch *d = ctx;
    if (d->busy)
        return 0;
    d->busy = 1;
    d->task = task;
    return 1;
}

static int ld_wait(void *ctx, double timeout, DispatchDone *done, char *err, size_t errlen)
{
    LocalDispatch *d = ctx;
    (void)timeout;
    if (!d->busy)
        return DISPATCH_TIMEOUT;
    TaskResult *r = NULL;
    int64_t step = -1;
    int rc = exec_task(&d->ex, d->task, &r, &step);
    if (rc < 0 && rc != PS_EINTR) {
        snprintf(err, errlen, "out of memory running a task");
        return rc;
    }
    d->busy = 0;
    *done = (DispatchDone){d->task, d->rank, r, step};
    return rc == PS_EINTR ? DISPATCH_INTERRUPTED : DISPATCH_RESULT;
}

static int ld_setup(void *ctx, const DispatchSetup *s)
{
    LocalDispatch *d = ctx;
    d->ex.ck = s->ck;
    d->ex.every = s->every;
    d->ex.log = s->quiet ? NULL : stderr;
    return 0;
}

static void ld_stop(void *ctx, int level)
{
    LocalDispatch *d = ctx;
    if (level > d->ex.requested)
        d->ex.requested = level;
}

static int ld_close(void *ctx, int code)
{
    LocalDispatch *d = ctx;
    (void)code;
    exec_clear(&d->ex);
    free(d);
    return 0;
}

int dispatch_local(Dispatcher *dp, const Grid *g, int rank)
{
    LocalDispatch *d = calloc(1, sizeof *d);
    if (!d)
        return PS_ENOMEM;
    exec_init(&d->ex, g, rank);
    d->ex.rank = 0; /* its messages need no rank prefix */
    d->rank = rank;
    *dp = (Dispatcher){.kind = "local", .running = ld_running, .busy = ld_busy,
                       .submit = ld_submit, .wait = ld_wait, .setup = ld_setup,
                       .stop = ld_stop, .close = ld_close, .ctx = d};
    return 0;
}
