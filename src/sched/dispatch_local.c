/* dispatch_local.c - the dispatcher of a one-process run (world.h): the one
 * executor is this process, so `wait` runs the submitted task to the end. */
#include <stdio.h>
#include <stdlib.h>

#include "polysweep/polysweep.h"
#include "world.h"

typedef struct LocalDispatch {
    const Grid *g;
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
    TaskSpec t;
    TaskResult *r = NULL;
    grid_task_spec(d->g, d->task, &t);
    int rc = task_run(&t, &r);
    if (rc < 0) {
        snprintf(err, errlen, "out of memory running a task");
        return rc;
    }
    d->busy = 0;
    *done = (DispatchDone){d->task, d->rank, r};
    return DISPATCH_RESULT;
}

static int ld_close(void *ctx, int code)
{
    (void)code;
    free(ctx);
    return 0;
}

int dispatch_local(Dispatcher *dp, const Grid *g, int rank)
{
    LocalDispatch *d = calloc(1, sizeof *d);
    if (!d)
        return PS_ENOMEM;
    d->g = g;
    d->rank = rank;
    *dp = (Dispatcher){.kind = "local", .running = ld_running, .busy = ld_busy,
                       .submit = ld_submit, .wait = ld_wait, .close = ld_close, .ctx = d};
    return 0;
}
