/* plan.c - `polysweep plan JOB`: check the job, print the expanded grid, the
 * number of tasks, the estimated cost and the dataset's size. Runs nothing and
 * writes nothing. */
#include <stdio.h>
#include <string.h>

#include "cli_private.h"
#include "polysweep/grid.h"
#include "polysweep/polysweep.h"
#include "polysweep/store.h"

static void print_axis(const Axis *a)
{
    const Setting *s = &job_settings[a->setting];
    char v[64];
    printf("          %-16s %6d  ", s->name, a->count);
    /* Long axes are shown by their ends. */
    int shown = a->count <= 8 ? a->count : 3;
    for (int k = 0; k < shown; k++) {
        job_value_text(a->setting, a->values[k], v, sizeof v);
        printf("%s%s", k ? ", " : "", v);
    }
    if (shown < a->count) {
        job_value_text(a->setting, a->values[a->count - 1], v, sizeof v);
        printf(", ..., %s", v);
    }
    printf("\n");
}

static void human_bytes(double b, char *buf, size_t len)
{
    const char *unit[] = {"B", "kB", "MB", "GB", "TB"};
    int u = 0;
    while (b >= 1000 && u < 4) {
        b /= 1000;
        u++;
    }
    snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", b, unit[u]);
}

int cli_plan(const char *path)
{
    JobSpec *job = NULL;
    Grid *g = NULL;
    if (cli_load_grid(path, &job, &g) < 0)
        return PS_EXIT_USAGE;

    printf("job       %s\n", job->path);
    printf("title     %s\n", job->title);
    printf("output    %s\n", job->output);
    printf("axes      %d%s\n", job->naxes, job->naxes ? ":" : " (a single task)");
    for (int a = 0; a < job->naxes; a++)
        print_axis(&job->axes[a]);
    printf("fixed    ");
    char v[64];
    int any = 0;
    for (int s = 0; s < job_setting_count; s++) {
        if (!job->set[s])
            continue;
        job_value_text(s, job->fixed[s], v, sizeof v);
        printf(" %s=%s", job_settings[s].name, v);
        any = 1;
    }
    printf("%s\n", any ? "" : " (defaults only)");

    int64_t tasks = grid_task_count(g);
    double cost = 0, largest = 0;
    for (int64_t i = 0; i < tasks; i++) {
        double c = grid_task_cost(g, i);
        cost += c;
        largest = c > largest ? c : largest;
    }
    printf("tasks     %lld\n", (long long)tasks);
    printf("cost      %.3g GFLOP in all, largest task %.3g GFLOP\n", cost / 1e9, largest / 1e9);
    char size[32];
    human_bytes(store_dataset_bytes(g), size, sizeof size);
    printf("dataset   %s uncompressed (features %d, neurons %d, log steps %d)\n", size,
           grid_max_n(g), grid_max_m(g), grid_max_log(g));

    grid_free(&g);
    job_free(&job);
    return PS_EXIT_OK;
}
