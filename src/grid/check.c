/* check.c - the rules that tie a job's settings together (grid_create runs
 * them before anything else; README, "Rules that tie settings together"):
 * sparsity/density/kurtosis, steps and log_every, and the rules of the
 * architectures, options and value laws (an option given explicitly where
 * it makes no sense, or a parameter that no task uses, is an error).
 *
 * The grid is the product of independent axes, so "some task has value a of
 * setting A and value b of setting B" holds exactly when A takes a and B
 * takes b: every rule checks the sets of values the settings take (axis
 * values or the fixed value), never the tasks one by one, and costs nothing
 * for a grid of 10^8 tasks. Messages point at the setting to change: its
 * axis key or its value in `settings:`.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "polysweep/data.h"
#include "polysweep/grid.h"
#include "polysweep/polysweep.h"

#include "grid_impl.h"

/* Loss-curve entries per task (steps / log_every): a dataset dimension. */
#define GRID_MAX_LOG 1000000LL

/* Where setting s was written: its axis's key or its fixed value; 0 if not. */
void grid_where(const JobSpec *job, int s, int *line, int *col)
{
    int a = job_axis_of(job, s);
    /* A JobSpec built by hand (not by job_parse) may have no positions. */
    *line = a >= 0 ? job->axes[a].line : job->line ? job->line[s] : 0;
    *col = a >= 0 ? job->axes[a].col : job->col ? job->col[s] : 0;
}

int grid_fail(const JobSpec *job, int line, int col, char *err, size_t errlen,
              const char *fmt, ...)
{
    if (!err || errlen == 0)
        return PS_EINVAL;
    int used = snprintf(err, errlen, "%s:%d:%d: ", job->path ? job->path : "(job)",
                        line ? line : 1, col ? col : 1);
    if (used >= 0 && (size_t)used < errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + used, errlen - (size_t)used, fmt, ap);
        va_end(ap);
    }
    return PS_EINVAL;
}

/* Range of setting s over the grid: its axis's extremes or its fixed value. */
void grid_extremes(const JobSpec *job, int s, double *lo, double *hi)
{
    int a = job_axis_of(job, s);
    if (a < 0) {
        *lo = *hi = job->fixed[s];
        return;
    }
    *lo = *hi = job->axes[a].values[0];
    for (int k = 1; k < job->axes[a].count; k++) {
        double v = job->axes[a].values[k];
        *lo = v < *lo ? v : *lo;
        *hi = v > *hi ? v : *hi;
    }
}

/* The job gives setting s: in `settings:` or as an axis. */
int grid_given(const JobSpec *job, int s)
{
    return (job->set && job->set[s]) || job_axis_of(job, s) >= 0;
}

/* Some task has setting s equal to v (== v), or different from v (!= v). */
static int takes(const JobSpec *job, int s, double v)
{
    int a = job_axis_of(job, s);
    if (a < 0)
        return job->fixed[s] == v;
    for (int k = 0; k < job->axes[a].count; k++)
        if (job->axes[a].values[k] == v)
            return 1;
    return 0;
}

static int takes_other(const JobSpec *job, int s, double v)
{
    int a = job_axis_of(job, s);
    if (a < 0)
        return job->fixed[s] != v;
    for (int k = 0; k < job->axes[a].count; k++)
        if (job->axes[a].values[k] != v)
            return 1;
    return 0;
}

/* The first value of setting s over the grid that is not v (for messages). */
static double first_other(const JobSpec *job, int s, double v)
{
    int a = job_axis_of(job, s);
    if (a < 0)
        return job->fixed[s];
    for (int k = 0; k < job->axes[a].count; k++)
        if (job->axes[a].values[k] != v)
            return job->axes[a].values[k];
    return v;
}

/* "setting s ... at s's position". */
#define FAIL_AT(s, ...)                                                        \
    do {                                                                       \
        int l_, c_;                                                            \
        grid_where(job, (s), &l_, &c_);                                        \
        return grid_fail(job, l_, c_, err, errlen, __VA_ARGS__);               \
    } while (0)

/* The rules of the architectures, options and value laws (README, "Rules
 * that tie settings together"): an option given explicitly where it does not
 * make sense is an error, and so is a parameter that no task uses. */
static int rules_check(const JobSpec *job, char *err, size_t errlen)
{
#define S(name) job_setting_find(name)
    const int s_arch = S("arch"), s_bias = S("bias"), s_q = S("q"), s_noise = S("hidden_noise"),
              s_sigma = S("noise_sigma"), s_pop = S("population_loss"), s_values = S("values"),
              s_uv = S("unit_variance"), s_sp = S("sparsity"), s_de = S("density"),
              s_ku = S("kurtosis"), s_sched = S("lr_schedule"), s_warm = S("warmup_steps"),
              s_steps = S("steps"), s_batch = S("batch"), s_eval = S("eval_samples"),
              s_wlo = S("neuron_window_lo"), s_whi = S("neuron_window_hi");
#undef S
    const char *const *arch_names = job_settings[s_arch].choices;
    const char *const *law_names = job_settings[s_values].choices;
    const char *const *noise_names = job_settings[s_noise].choices;
    double lo, hi;
    char a[64], b[64];

    /* Parameters of one choice, given where no task makes that choice. */
    static const struct {
        const char *param, *setting, *what;
        double value;
        int other; /* 1: the parameter is used by every value but `value` */
    } used_by[] = {
        {"q", "arch", "arch power", ARCH_POWER, 0},
        {"noise_sigma", "hidden_noise", "hidden_noise bipolar or gaussian", NOISE_NONE, 1},
        {"momentum", "optimizer", "optimizer sgd", OPT_SGD, 0},
        {"warmup_steps", "lr_schedule", "lr_schedule warmup_cosine", SCHED_WARMUP_COSINE, 0},
        {"beta1", "optimizer", "optimizer adamw", OPT_ADAMW, 0},
        {"beta2", "optimizer", "optimizer adamw", OPT_ADAMW, 0},
        {"eps", "optimizer", "optimizer adamw", OPT_ADAMW, 0},
    };
    for (size_t k = 0; k < sizeof used_by / sizeof used_by[0]; k++) {
        int sp = job_setting_find(used_by[k].param), ss = job_setting_find(used_by[k].setting);
        int used = used_by[k].other ? takes_other(job, ss, used_by[k].value)
                                    : takes(job, ss, used_by[k].value);
        if (grid_given(job, sp) && !used)
            FAIL_AT(sp, "%s is used only by %s, which no task has: remove '%s'",
                    used_by[k].param, used_by[k].what, used_by[k].param);
    }

    /* power: odd q, no bias. */
    int aq = job_axis_of(job, s_q);
    for (int k = 0; k < (aq >= 0 ? job->axes[aq].count : 1); k++) {
        double v = aq >= 0 ? job->axes[aq].values[k] : job->fixed[s_q];
        if (fmod(v, 2.0) == 0.0)
            FAIL_AT(s_q, "q must be odd, got %lld", (long long)v);
    }
    if (grid_given(job, s_bias) && takes(job, s_bias, 1) && takes(job, s_arch, ARCH_POWER))
        FAIL_AT(s_bias, "power has no bias: remove 'bias' or set it to false");

    /* Value laws. */
    if (takes(job, s_uv, 1) &&
        (takes(job, s_values, VALUES_UNIFORM) || takes(job, s_values, VALUES_ONE_HOT)))
        FAIL_AT(s_uv, "unit_variance needs a symmetric value law (uniform_signed, gaussian "
                "or rademacher), got values %s",
                law_names[takes(job, s_values, VALUES_UNIFORM) ? VALUES_UNIFORM
                                                               : VALUES_ONE_HOT]);
    if (takes(job, s_values, VALUES_ONE_HOT)) {
        const int dens[3] = {s_sp, s_de, s_ku};
        for (int k = 0; k < 3; k++)
            if (grid_given(job, dens[k]))
                FAIL_AT(dens[k], "values one_hot has no density (the data are the n basis "
                        "vectors): remove '%s'", job_settings[dens[k]].name);
        if (grid_given(job, s_batch))
            FAIL_AT(s_batch, "values one_hot trains on the full batch of the n basis "
                    "vectors: remove 'batch'");
        if (grid_given(job, s_eval))
            FAIL_AT(s_eval, "values one_hot is evaluated on the n basis vectors: remove "
                    "'eval_samples'");
    }
    if (grid_given(job, s_ku)) {
        /* p = mu4 / (mu2^2 K) <= 1: K at least the law's dense kurtosis. */
        grid_extremes(job, s_ku, &lo, &hi);
        int worst = -1;
        for (int v = 0; v < VALUES_COUNT; v++)
            if (v != VALUES_ONE_HOT && takes(job, s_values, v) &&
                (worst < 0 || data_law_kurtosis(v) > data_law_kurtosis(worst)))
                worst = v;
        if (worst >= 0 && lo < data_law_kurtosis(worst)) {
            job_value_text(s_ku, lo, a, sizeof a);
            job_value_text(s_ku, data_law_kurtosis(worst), b, sizeof b);
            FAIL_AT(s_ku, "kurtosis %s is below %s, the kurtosis of dense %s values (the "
                    "density would exceed 1)", a, b, law_names[worst]);
        }
    }

    /* The exact population loss of the quadratic model. */
    if (takes(job, s_pop, 1)) {
        if (takes_other(job, s_arch, ARCH_QUADRATIC))
            FAIL_AT(s_pop, "population_loss needs arch quadratic, got %s",
                    arch_names[(int)first_other(job, s_arch, ARCH_QUADRATIC)]);
        if (takes(job, s_uv, 0))
            FAIL_AT(s_pop, "population_loss needs unit_variance: true (the exact loss is "
                    "for unit-variance inputs)");
        if (takes_other(job, s_noise, NOISE_NONE))
            FAIL_AT(s_pop, "population_loss is noise-free: hidden_noise must be none, got %s",
                    noise_names[(int)first_other(job, s_noise, NOISE_NONE)]);
        if (grid_given(job, s_batch))
            FAIL_AT(s_batch, "population_loss does not sample batches: remove 'batch'");
    }

    /* Hidden noise needs its sigma. */
    grid_extremes(job, s_sigma, &lo, &hi);
    if (takes_other(job, s_noise, NOISE_NONE) && !(lo > 0.0)) {
        job_value_text(s_sigma, lo, a, sizeof a);
        FAIL_AT(grid_given(job, s_sigma) ? s_sigma : s_noise,
                "hidden_noise %s needs noise_sigma > 0, got %s",
                noise_names[(int)first_other(job, s_noise, NOISE_NONE)], a);
    }

    /* Warm-up shorter than the run. */
    if (takes(job, s_sched, SCHED_WARMUP_COSINE)) {
        double wlo, whi, slo, shi;
        grid_extremes(job, s_warm, &wlo, &whi);
        grid_extremes(job, s_steps, &slo, &shi);
        if (whi >= slo)
            FAIL_AT(s_warm, "warmup_steps %lld must be less than steps %lld "
                    "(lr_schedule warmup_cosine)", (long long)whi, (long long)slo);
    }

    /* The neuron window is an interval. */
    double llo, lhi, hlo, hhi;
    grid_extremes(job, s_wlo, &llo, &lhi);
    grid_extremes(job, s_whi, &hlo, &hhi);
    if (lhi >= hlo) {
        job_value_text(s_wlo, lhi, a, sizeof a);
        job_value_text(s_whi, hlo, b, sizeof b);
        FAIL_AT(grid_given(job, s_wlo) ? s_wlo : s_whi,
                "neuron_window_lo %s must be less than neuron_window_hi %s", a, b);
    }
    return 0;
}

/* The rules that tie settings together; every task must pass them. */
int grid_check(const JobSpec *job, char *err, size_t errlen)
{
    int s_sp = job_setting_find("sparsity"), s_de = job_setting_find("density");
    int s_steps = job_setting_find("steps"), s_log = job_setting_find("log_every");
    int l1, c1, l2, c2;

    /* sparsity and density say the same thing: one of them, at most. */
    grid_where(job, s_sp, &l1, &c1);
    grid_where(job, s_de, &l2, &c2);
    if (l1 && l2) {
        int dens_later = l2 > l1 || (l2 == l1 && c2 > c1);
        const char *later = dens_later ? "density" : "sparsity";
        const char *earlier = dens_later ? "sparsity" : "density";
        return grid_fail(job, dens_later ? l2 : l1, dens_later ? c2 : c1, err, errlen,
                         "'%s' and '%s' (line %d) are both given; give one of them "
                         "(density = 1 - sparsity)", later, earlier, dens_later ? l1 : l2);
    }
    /* kurtosis is the third way (p = mu4 / (mu2^2 K)). */
    int s_ku = job_setting_find("kurtosis"), lk, ck;
    grid_where(job, s_ku, &lk, &ck);
    if (lk && (l1 || l2)) {
        int other = l1 ? s_sp : s_de;
        int lo = l1 ? l1 : l2, co = l1 ? c1 : c2;
        int ku_later = lk > lo || (lk == lo && ck > co);
        return grid_fail(job, ku_later ? lk : lo, ku_later ? ck : co, err, errlen,
                         "'%s' and '%s' (line %d) are both given; give one of sparsity, "
                         "density and kurtosis", ku_later ? "kurtosis" : job_settings[other].name,
                         ku_later ? job_settings[other].name : "kurtosis", ku_later ? lo : lk);
    }

    /* Loss curves are windows of log_every steps: steps must fill them. The
     * message points at steps when the job gives it, else at log_every. */
    int64_t log_every = (int64_t)job->fixed[s_log];
    int a = job_axis_of(job, s_steps);
    int nsteps = a >= 0 ? job->axes[a].count : 1;
    double max_steps = 0;
    for (int k = 0; k < nsteps; k++) {
        double v = a >= 0 ? job->axes[a].values[k] : job->fixed[s_steps];
        max_steps = v > max_steps ? v : max_steps;
        if ((int64_t)v % log_every != 0) {
            grid_where(job, s_steps, &l1, &c1);
            if (!l1)
                grid_where(job, s_log, &l1, &c1);
            return grid_fail(job, l1, c1, err, errlen,
                             "steps %lld is not a multiple of log_every %lld", (long long)v,
                             (long long)log_every);
        }
    }
    if (max_steps / (double)log_every > (double)GRID_MAX_LOG) {
        grid_where(job, s_log, &l1, &c1);
        if (!l1)
            grid_where(job, s_steps, &l1, &c1);
        return grid_fail(job, l1, c1, err, errlen,
                         "steps %lld with log_every %lld gives %lld loss-curve entries, "
                         "more than %lld (raise log_every)", (long long)max_steps,
                         (long long)log_every, (long long)(max_steps / (double)log_every),
                         GRID_MAX_LOG);
    }
    return rules_check(job, err, errlen);
}

