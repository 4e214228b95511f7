/* progress.c - the status line of a running sweep (see progress.h).
 *
 *   polysweep: 120/400 done, 2 failed, 3 running (+3 queued), 41% of the work, 8.13 tasks/s, elapsed 14.8s, eta 21.3s
 *
 * "done" counts finished tasks of the grid (earlier runs included), "failed"
 * and the rate this run's. The ETA divides the estimated cost still to do by
 * the cost finished per second so far (grid_task_cost), because tasks run
 * longest first: a count-based ETA would promise an early finish.
 *
 * Interval: POLYSWEEP_PROGRESS_INTERVAL seconds when set; otherwise a tenth of
 * the elapsed time, between 10 s and 60 s (a line every 10 s at first, a
 * line a minute for overnight sweeps: 1440 lines a day, not 8640).
 */
#include "progress.h"

#include <math.h>
#include <stdlib.h>
#include <time.h>

#define INTERVAL_MIN 10.0
#define INTERVAL_MAX 60.0

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
                    .cost_total = cost_total, .interval = 0};
    const char *v = getenv("POLYSWEEP_PROGRESS_INTERVAL");
    if (v && *v) {
        char *end;
        double s = strtod(v, &end);
        if (!*end && s > 0)
            p->interval = s;
    }
    p->start = p->last_print = progress_now();
}

void progress_task_done(Progress *p, double cost, int failed)
{
    p->done++;
    p->failed += failed != 0;
    p->cost_done += cost;
}

static double interval_of(const Progress *p, double now)
{
    if (p->interval > 0)
        return p->interval;
    double t = (now - p->start) / 10;
    return t < INTERVAL_MIN ? INTERVAL_MIN : t > INTERVAL_MAX ? INTERVAL_MAX : t;
}

double progress_next_due(const Progress *p)
{
    if (!p->out)
        return HUGE_VAL; /* quiet: never due (a due time in the past would make waits spin) */
    return p->last_print + interval_of(p, progress_now());
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
    if (!p->out || (!force && now - p->last_print < interval_of(p, now)))
        return;
    p->last_print = now;
    double elapsed = now - p->start;
    char el[32], eta[32];
    format_duration(elapsed, el, sizeof el);
    /* ETA from the cost estimate: cost still to do at the cost rate so far. */
    double eta_s = p->cost_done > 0
        ? elapsed * (p->cost_total - p->cost_done) / p->cost_done : -1;
    format_duration(eta_s, eta, sizeof eta);
    char queued[48] = "";
    if (p->queued > 0)
        snprintf(queued, sizeof queued, " (+%lld queued)", (long long)p->queued);
    double frac = p->cost_total > 0 ? 100.0 * p->cost_done / p->cost_total : 100.0;
    fprintf(p->out,
            "polysweep: %lld/%lld done, %lld failed, %lld running%s, %.0f%% of the work, "
            "%.2f tasks/s, elapsed %s, eta %s\n",
            (long long)(p->skipped + p->done), (long long)p->total,
            (long long)p->failed, (long long)p->running, queued, frac,
            elapsed > 0 ? (double)p->done / elapsed : 0.0, el, eta);
    fflush(p->out);
}

void progress_finish(Progress *p, const char *what, const char *extra)
{
    if (!p->out)
        return;
    char el[32];
    double elapsed = progress_now() - p->start;
    format_duration(elapsed, el, sizeof el);
    fprintf(p->out,
            "polysweep: %s: %lld/%lld done (%lld this run, %lld failed) in %s, %.2f tasks/s%s%s\n",
            what, (long long)(p->skipped + p->done), (long long)p->total,
            (long long)p->done, (long long)p->failed, el,
            elapsed > 0 ? (double)p->done / elapsed : 0.0, extra && *extra ? "; " : "",
            extra && *extra ? extra : "");
    fflush(p->out);
}
