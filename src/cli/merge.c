/* merge.c - `polysweep merge -o OUT IN...`: combine outputs of one job
 * (shards, runs on other clusters, runs at other axis extents) into one
 * output (store.h, store_merge), and say what came from where:
 *
 *   polysweep: merged 3 outputs into results/x.nc: 12/12 tasks done, 0 failed, 0 pending
 *     results/x.shard1of3.nc (shard 1/3): 4 results
 *     ...
 *
 * Exit codes as `run`: 0 complete, 3 tasks still pending, 4 some failed, 2 a
 * refused input or output (nothing was written), 1 other errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_private.h"
#include "polysweep/polysweep.h"
#include "polysweep/store.h"

static int usage(const char *msg, const char *arg)
{
    return cli_usage("usage: polysweep merge -o OUT IN... (IN: outputs of one job, each with "
                     "its .state directory)", msg, arg);
}

static void print_part(const StoreMergePart *p)
{
    char what[64] = "the whole sweep";
    if (p->shard_n > 0) snprintf(what, sizeof what, "shard %d/%d", p->shard_k, p->shard_n);
    fprintf(stderr, "  %s (%s%s): %lld result%s", p->path, p->base ? "the output itself, " : "",
            what, (long long)p->taken, p->taken == 1 ? "" : "s");
    if (p->duplicates) fprintf(stderr, ", %lld already there", (long long)p->duplicates);
    fprintf(stderr, "\n");
    if (p->differing)
        fprintf(stderr, "polysweep: warning: %s: %lld task%s done there already with other "
                "bits (computed with another BLAS kernel or thread count?); kept the first\n",
                p->path, (long long)p->differing, p->differing == 1 ? " was" : "s were");
    if (p->outside)
        fprintf(stderr, "polysweep: warning: %s: %lld task record%s outside the merged grid "
                "(values removed from an axis): left out\n", p->path, (long long)p->outside,
                p->outside == 1 ? " is" : "s are");
    if (p->torn)
        fprintf(stderr, "polysweep: warning: %s: its journal ends in an incomplete record "
                "(being written, or left by a killed run): left out\n", p->path);
    if (p->busy)
        fprintf(stderr, "polysweep: warning: %s is being written by a running polysweep (pid "
                "%ld): merged what it holds now; merge again when it has finished\n", p->path,
                p->pid);
}

int cli_merge(int argc, char **argv, const char *command)
{
    const char *output = NULL;
    int quiet = 0, n = 0;
    const char **inputs = calloc((size_t)argc, sizeof *inputs);
    if (!inputs) return PS_EXIT_INTERNAL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (++i >= argc) {
                free(inputs);
                return usage("%s needs a path", a);
            }
            output = argv[i];
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (a[0] == '-' && a[1]) {
            free(inputs);
            return usage("unknown option '%s'", a);
        } else {
            inputs[n++] = a;
        }
    }
    if (!output || n == 0) {
        free(inputs);
        return usage("%s", !output ? "merge needs the output: -o OUT" : "merge needs the "
                     "outputs to combine");
    }
    char err[2048];
    StoreRunInfo info = {.command = command, .mpi_size = 1};
    StoreMergeReport *rep = NULL;
    int rc = store_merge(output, inputs, n, &info, &rep, err, sizeof err);
    free(inputs);
    if (rc < 0) {
        fprintf(stderr, "polysweep: %s\n", err);
        return rc == PS_EMISMATCH || rc == PS_EBUSY || rc == PS_EFORMAT || rc == PS_EINVAL
                   ? PS_EXIT_USAGE
                   : PS_EXIT_INTERNAL;
    }
    int64_t pending = rep->count[TASK_PENDING];
    if (!quiet) {
        fprintf(stderr, "polysweep: merged %d output%s into %s: %lld/%lld tasks done, %lld "
                "failed, %lld pending%s\n", rep->nparts, rep->nparts == 1 ? "" : "s", output,
                (long long)rep->count[TASK_DONE], (long long)rep->ntasks,
                (long long)rep->count[TASK_FAILED], (long long)pending,
                rep->grid_generated ? " (the union of the parts' axis values)" : "");
        for (int p = 0; p < rep->nparts; p++) print_part(&rep->part[p]);
    }
    if (rep->repeated)
        fprintf(stderr, "polysweep: warning: %d input%s given more than once (read once)\n",
                rep->repeated, rep->repeated == 1 ? " was" : "s were");
    if (pending > 0) {
        fprintf(stderr, "polysweep: %s: %lld task%s pending", output, (long long)pending,
                pending == 1 ? " is" : "s are");
        if (rep->missing[0])
            fprintf(stderr, " (shard%s %s %s not among the inputs)",
                    strchr(rep->missing, ',') ? "s" : "", rep->missing,
                    strchr(rep->missing, ',') ? "are" : "is");
        fprintf(stderr, ": merge the missing outputs into it, or run its job to finish it "
                "there (`polysweep run JOB -o %s`, JOB its job_file attribute)\n", output);
    }
    int code = pending > 0                      ? PS_EXIT_INCOMPLETE
               : rep->count[TASK_FAILED] > 0 ? PS_EXIT_FAILED
                                                : PS_EXIT_OK;
    store_merge_report_free(&rep);
    return code;
}
