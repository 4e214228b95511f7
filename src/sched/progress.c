/* progress.c - the status line of a running sweep (see progress.h). */
#include "progress.h"

#include <time.h>

double progress_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void progress_start(Progress *p, FILE *out, int64_t total, int64_t skipped,
                    double cost_total)
{
    *p = (Progress){.out = out, .total = total, .skipped = skipped,
                    .cost_total = cost_total, .interval = 10.0};
    p->start = p->last_print = progress_now();
}

void progress_task_done(Progress *p, double cost, int failed)
{
    p->done++;
    p->failed += failed != 0;
    p->cost_done += cost;
}

static void format_duration(double s, char *buf, size_t len)
{
    if (!(s >= 0) || s > 1e9) {
        snprintf(buf, len, "?");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, len, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60)
        snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(buf, len, "%.1fs", s);
}

void progress_tick(Progress *p, int force)
{
    double now = progress_now();
    if (!p->out || (!force && now - p->last_print < p->interval))
        return;
    p->last_print = now;
    double elapsed = now - p->start;
    char el[32], eta[32];
    format_duration(elapsed, el, sizeof el);
    /* ETA from the cost estimate: cost still to do at the cost rate so far. */
    double eta_s = p->cost_done > 0
        ? elapsed * (p->cost_total - p->cost_done) / p->cost_done : -1;
    format_duration(eta_s, eta, sizeof eta);
    fprintf(p->out,
            "polysweep: %lld/%lld done, %lld failed, %lld running, %.2f tasks/s, "
            "elapsed %s, eta %s\n",
            (long long)(p->skipped + p->done), (long long)p->total,
            (long long)p->failed, (long long)p->running,
            elapsed > 0 ? (double)p->done / elapsed : 0.0, el, eta);
    fflush(p->out);
}

void progress_finish(Progress *p, const char *what)
{
    if (!p->out)
        return;
    char el[32];
    double elapsed = progress_now() - p->start;
    format_duration(elapsed, el, sizeof el);
    fprintf(p->out,
            "polysweep: %s: %lld/%lld done (%lld this run, %lld failed) in %s\n",
            what, (long long)(p->skipped + p->done), (long long)p->total,
            (long long)p->done, (long long)p->failed, el);
    fflush(p->out);
}
