/* settings.c - the catalog of job settings (job.h), their canonical text,
 * the range text of error messages, and "did you mean" suggestions.
 *
 * Ranges in messages follow one rule: "<name> must be an integer in [lo, hi]"
 * (brackets per SETTING_LO_OPEN / SETTING_HI_OPEN). When hi is only an
 * implementation limit (SETTING_HI_LIMIT) the message states the lower bound
 * alone ("an integer >= 1", "a number > 0") unless the value is above the
 * limit, in which case it shows the full range.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "polysweep/job.h"
#include "polysweep/task.h"

#include "job_impl.h"

static const char *const arch_choices[] = {"linear", "relu_output", "gelu_output",
                                           "relu_hidden", "quadratic", "power", NULL};
static const char *const importance_choices[] = {"decay", "constant", "range", NULL};
static const char *const values_choices[] = {"uniform", "uniform_signed", "gaussian",
                                             "rademacher", "one_hot", NULL};
static const char *const noise_choices[] = {"none", "bipolar", "gaussian", NULL};
static const char *const init_choices[] = {"xavier_normal", "normal", NULL};
static const char *const optimizer_choices[] = {"adamw", "sgd", NULL};
static const char *const schedule_choices[] = {"constant", "linear", "cosine",
                                               "warmup_cosine", NULL};

#define AT(field) offsetof(TaskSpec, field)
#define LIM SETTING_HI_LIMIT
#define LO_OPEN SETTING_LO_OPEN
#define HI_OPEN SETTING_HI_OPEN

/* Canonical order: the order of the fingerprint text and of the README table.
 * The enum choices follow task.h's enums (Arch, ValueLaw, ...). log_every's
 * limit is INT_MAX because TaskSpec.log_every is an int. Rules that tie
 * settings together (power has no bias, one_hot has no density, ...) are
 * grid_create's (src/grid/grid.c). */
const Setting job_settings[] = {
    {"arch", SET_ENUM, arch_choices, ARCH_RELU_OUTPUT, 0, ARCH_COUNT - 1, 0,
     AT(arch), FIELD_INT, "architecture: linear, relu_output, gelu_output, relu_hidden, "
     "quadratic or power (README, Architectures)",
     "architecture", NULL, NULL},
    {"n", SET_INT, NULL, 20, 1, 1e6, LIM, AT(n), FIELD_INT,
     "number of features",
     "number of features", "1", NULL},
    {"m", SET_INT, NULL, 5, 1, 1e6, LIM, AT(m), FIELD_INT,
     "number of hidden dimensions",
     "number of hidden dimensions", "1", NULL},
    {"bias", SET_BOOL, NULL, 1, 0, 1, 0, AT(bias), FIELD_INT,
     "learn the output bias b (quadratic: the scalar e; power has none)",
     "learned output bias", NULL, NULL},
    {"q", SET_INT, NULL, 3, 1, 15, 0, AT(q), FIELD_INT,
     "power: the odd exponent q of x' = (G x)^q",
     "power model exponent q", "1", NULL},
    {"l1", SET_REAL, NULL, 0, 0, 1e6, LIM, AT(l1), FIELD_DOUBLE,
     "L1 penalty lambda: lambda sum |W| is added to the loss",
     "L1 penalty strength", "1", NULL},
    {"hidden_noise", SET_ENUM, noise_choices, NOISE_NONE, 0, NOISE_COUNT - 1, 0,
     AT(hidden_noise), FIELD_INT,
     "noise on the hidden pre-activations W x while training: none, bipolar (+-sigma) "
     "or gaussian (N(0, sigma^2)), one draw per step shared by the batch",
     "hidden-layer noise law", NULL, NULL},
    {"noise_sigma", SET_REAL, NULL, 0, 0, 1e6, LIM, AT(noise_sigma), FIELD_DOUBLE,
     "sigma of hidden_noise",
     "hidden-layer noise sigma", "1", NULL},
    {"population_loss", SET_BOOL, NULL, 0, 0, 1, 0, AT(population_loss), FIELD_INT,
     "quadratic: train on the exact population loss instead of sampled batches",
     "trained on the population loss", NULL, NULL},
    {"values", SET_ENUM, values_choices, VALUES_UNIFORM, 0, VALUES_COUNT - 1, 0,
     AT(values), FIELD_INT,
     "value law of an active feature: uniform, uniform_signed, gaussian, rademacher "
     "or one_hot (the n basis vectors)",
     "value law of an active feature", NULL, "value_law"},
    {"unit_variance", SET_BOOL, NULL, 0, 0, 1, 0, AT(unit_variance), FIELD_INT,
     "scale symmetric values by 1/sqrt(p mu2) so that Var(x_i) = 1",
     "inputs scaled to unit variance", NULL, NULL},
    {"sparsity", SET_REAL, NULL, 0, 0, 1, HI_OPEN, AT(sparsity), FIELD_DOUBLE,
     "feature sparsity S: each feature is zero with probability S",
     "feature sparsity S", "1", NULL},
    {"density", SET_REAL, NULL, 1, 0, 1, LO_OPEN, AT(density), FIELD_DOUBLE,
     "feature density p = 1 - S (give one of sparsity, density and kurtosis)",
     "feature density p", "1", NULL},
    {"kurtosis", SET_REAL, NULL, 1.8, 1, 1e12, LIM, AT(kurtosis), FIELD_DOUBLE,
     "input kurtosis K = E[x^4]/E[x^2]^2; sets the density p = mu4 / (mu2^2 K)",
     "input kurtosis K", "1", NULL},
    {"importance", SET_ENUM, importance_choices, IMPORTANCE_CONSTANT, 0,
     IMPORTANCE_COUNT - 1, 0, AT(importance), FIELD_INT,
     "feature importance I_i: decay (rate^i), constant (1) or range (hi down to lo, log-spaced)",
     "feature importance profile", NULL, NULL},
    {"importance_rate", SET_REAL, NULL, 0.7, 0, 1e6, LO_OPEN | LIM,
     AT(importance_rate), FIELD_DOUBLE, "decay importance: I_i = rate^i",
     "importance decay rate", "1", NULL},
    {"importance_hi", SET_REAL, NULL, 1, 0, 1e30, LO_OPEN | LIM,
     AT(importance_hi), FIELD_DOUBLE, "range importance: I_0 (the first feature)",
     "importance of the first feature", "1", NULL},
    {"importance_lo", SET_REAL, NULL, 0.01, 0, 1e30, LO_OPEN | LIM,
     AT(importance_lo), FIELD_DOUBLE, "range importance: I_(n-1) (the last feature)",
     "importance of the last feature", "1", NULL},
    {"init", SET_ENUM, init_choices, INIT_XAVIER_NORMAL, 0, INIT_COUNT - 1, 0, AT(init),
     FIELD_INT, "initialisation of W: xavier_normal (std sqrt(2/(n+m))) or normal "
     "(std 1/sqrt(m))",
     "initialisation of W", NULL, NULL},
    {"optimizer", SET_ENUM, optimizer_choices, OPT_ADAMW, 0, OPT_COUNT - 1, 0,
     AT(optimizer), FIELD_INT, "optimiser: adamw (torch.optim.AdamW) or sgd "
     "(torch.optim.SGD)",
     "optimiser", NULL, NULL},
    {"lr", SET_REAL, NULL, 1e-3, 0, 1e6, LO_OPEN | LIM, AT(lr), FIELD_DOUBLE,
     "learning rate (the peak of lr_schedule)",
     "learning rate", "1", NULL},
    {"lr_schedule", SET_ENUM, schedule_choices, SCHED_CONSTANT, 0, SCHED_COUNT - 1, 0,
     AT(lr_schedule), FIELD_INT,
     "learning-rate schedule: constant, linear, cosine or warmup_cosine",
     "learning-rate schedule", NULL, NULL},
    {"warmup_steps", SET_INT, NULL, 0, 0, 1e12, LIM, AT(warmup_steps), FIELD_INT64,
     "warmup_cosine: steps of linear warm-up (fewer than steps)",
     "warm-up steps", "1", NULL},
    {"beta1", SET_REAL, NULL, 0.9, 0, 1, HI_OPEN, AT(beta1), FIELD_DOUBLE,
     "AdamW first-moment decay",
     "AdamW beta1", "1", NULL},
    {"beta2", SET_REAL, NULL, 0.999, 0, 1, HI_OPEN, AT(beta2), FIELD_DOUBLE,
     "AdamW second-moment decay",
     "AdamW beta2", "1", NULL},
    {"eps", SET_REAL, NULL, 1e-8, 0, 1, LO_OPEN, AT(eps), FIELD_DOUBLE,
     "AdamW epsilon",
     "AdamW epsilon", "1", NULL},
    {"momentum", SET_REAL, NULL, 0, 0, 1, HI_OPEN, AT(momentum), FIELD_DOUBLE,
     "SGD momentum",
     "SGD momentum", "1", NULL},
    {"weight_decay", SET_REAL, NULL, 0.01, 0, 1e6, LIM, AT(weight_decay),
     FIELD_DOUBLE, "weight decay on W and b: decoupled (adamw) or added to the gradient (sgd)",
     "weight decay", "1", NULL},
    {"steps", SET_INT, NULL, 10000, 1, 1e12, LIM, AT(steps), FIELD_INT64,
     "training steps (a multiple of log_every)",
     "training steps", "1", NULL},
    {"batch", SET_INT, NULL, 1024, 1, 16777216, LIM, AT(batch), FIELD_INT,
     "examples per training step",
     "batch size", "1", NULL},
    {"seed", SET_INT, NULL, 0, 0, 9007199254740991.0, LIM, AT(seed), FIELD_INT64,
     "sweep seed; with the task's coordinates it keys every random draw",
     "sweep seed", "1", NULL},
    {"log_every", SET_INT, NULL, 100, 1, 2147483647.0, SETTING_FIXED_ONLY | LIM,
     AT(log_every), FIELD_INT, "loss-curve window in steps (fixed: it shapes the dataset)",
     "loss-curve window", "1", NULL},
    {"eval_samples", SET_INT, NULL, 10000, 1, 1e9, LIM, AT(eval_samples), FIELD_INT,
     "size of the fixed held-out evaluation sample",
     "evaluation sample size", "1", NULL},
    {"block_tau", SET_REAL, NULL, 0.05, 0, 1, LO_OPEN | HI_OPEN, AT(block_tau),
     FIELD_DOUBLE, "blocks: represented features i, j are connected when "
     "|cos(W_i, W_j)| > block_tau",
     "block cosine threshold tau", "1", NULL},
    {"neuron_window_lo", SET_REAL, NULL, 0.8, 0, 1e30, LIM, AT(neuron_window_lo),
     FIELD_DOUBLE, "neurons: lower end of the weight window |W_ji| in [lo, hi]",
     "neuron weight window, lower end", "1", NULL},
    {"neuron_window_hi", SET_REAL, NULL, 1.2, 0, 1e30, LO_OPEN | LIM, AT(neuron_window_hi),
     FIELD_DOUBLE, "neurons: upper end of the weight window |W_ji| in [lo, hi]",
     "neuron weight window, upper end", "1", NULL},
    {"save_weights", SET_BOOL, NULL, 0, 0, 1, SETTING_FIXED_ONLY, AT(save_weights),
     FIELD_INT, "keep W and b in the dataset (fixed: it shapes the dataset)",
     "weights saved", NULL, NULL},
};

const int job_setting_count = (int)(sizeof(job_settings) / sizeof(job_settings[0]));

const char *job_setting_dataset_name(int s)
{
    if (s < 0 || s >= job_setting_count)
        return NULL;
    return job_settings[s].dataset_name ? job_settings[s].dataset_name : job_settings[s].name;
}

int job_setting_find(const char *name)
{
    if (!name)
        return -1;
    for (int s = 0; s < job_setting_count; s++)
        if (!strcmp(job_settings[s].name, name))
            return s;
    return -1;
}

static int choice_count(const Setting *s)
{
    int n = 0;
    while (s->choices && s->choices[n])
        n++;
    return n;
}

/* Canonical text of a value (job.h). Reals use the shortest "%.Ng" that reads
 * back to the same double: still one text per value, and 0.1 reads "0.1". */
void job_value_text(int s, double v, char *buf, size_t len)
{
    if (!buf || len == 0)
        return;
    buf[0] = '\0';
    if (s < 0 || s >= job_setting_count)
        return;
    job_value_display(&job_settings[s], v, buf, len);
}

/* The shortest decimal that reads back to v, written like Python's repr:
 * positional for decimal exponents in [-4, 16) ("10", "0.001", "0.997"),
 * scientific otherwise ("1e-08", "1e+20"). */
void job_number_text(double v, char *buf, size_t len)
{
    if (v == 0 || !isfinite(v)) {
        snprintf(buf, len, "%g", v == 0 ? 0.0 : v);
        return;
    }
    int digits = 17;
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, len, "%.*e", p - 1, v);
        if (strtod(buf, NULL) == v) {
            digits = p;
            break;
        }
    }
    /* The decimal exponent of the rounded value, from the %e text itself. */
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%.*e", digits - 1, v);
    int exp10 = atoi(strchr(tmp, 'e') + 1);
    if (exp10 >= -4 && exp10 < 16) {
        int decimals = digits - 1 - exp10;
        snprintf(buf, len, "%.*f", decimals > 0 ? decimals : 0, v);
    } else {
        snprintf(buf, len, "%s", tmp);
    }
}

void job_value_display(const Setting *s, double v, char *buf, size_t len)
{
    switch (s->type) {
    case SET_REAL:
        job_number_text(v, buf, len);
        break;
    case SET_INT:
        snprintf(buf, len, "%lld", (long long)v);
        break;
    case SET_BOOL:
        snprintf(buf, len, "%s", v != 0 ? "true" : "false");
        break;
    case SET_ENUM:
        if (v >= 0 && v < choice_count(s))
            snprintf(buf, len, "%s", s->choices[(int)v]);
        else
            job_number_text(v, buf, len);
        break;
    }
}

static void bound_text(const Setting *s, double b, char *buf, size_t len)
{
    if (s->type == SET_INT)
        snprintf(buf, len, "%lld", (long long)b);
    else
        job_number_text(b, buf, len);
}

void job_setting_expect(const Setting *s, double v, int with_range, char *buf,
                        size_t len)
{
    if (s->type == SET_BOOL) {
        snprintf(buf, len, "true or false");
        return;
    }
    if (s->type == SET_ENUM) {
        size_t used = (size_t)snprintf(buf, len, "one of:");
        for (int i = 0; s->choices[i] && used < len; i++)
            used += (size_t)snprintf(buf + used, len - used, "%s %s",
                                     i ? "," : "", s->choices[i]);
        return;
    }
    const char *type = s->type == SET_INT ? "an integer" : "a number";
    if (!with_range) {
        snprintf(buf, len, "%s", type);
        return;
    }
    char lo[32], hi[32];
    bound_text(s, s->lo, lo, sizeof(lo));
    bound_text(s, s->hi, hi, sizeof(hi));
    int lo_open = (s->flags & SETTING_LO_OPEN) != 0;
    int hi_open = (s->flags & SETTING_HI_OPEN) != 0;
    int above = hi_open ? v >= s->hi : v > s->hi;
    if ((s->flags & SETTING_HI_LIMIT) && !above)
        snprintf(buf, len, "%s %s %s", type, lo_open ? ">" : ">=", lo);
    else
        snprintf(buf, len, "%s in %c%s, %s%c", type, lo_open ? '(' : '[', lo, hi,
                 hi_open ? ')' : ']');
}

int job_setting_check(const Setting *s, double v)
{
    if (!isfinite(v))
        return JOB_VALUE_NOT_INTEGER;
    switch (s->type) {
    case SET_BOOL:
        return v == 0 || v == 1 ? JOB_VALUE_OK : JOB_VALUE_OUT_OF_RANGE;
    case SET_ENUM:
        return v == floor(v) && v >= 0 && v < choice_count(s) ? JOB_VALUE_OK
                                                              : JOB_VALUE_OUT_OF_RANGE;
    case SET_INT:
    case SET_REAL:
        break;
    }
    int lo_ok = (s->flags & SETTING_LO_OPEN) ? v > s->lo : v >= s->lo;
    int hi_ok = (s->flags & SETTING_HI_OPEN) ? v < s->hi : v <= s->hi;
    /* Out of range first: "-0.5 for n" is better told as ">= 1". */
    if (!lo_ok || !hi_ok)
        return JOB_VALUE_OUT_OF_RANGE;
    if (s->type == SET_INT && v != floor(v))
        return JOB_VALUE_NOT_INTEGER;
    return JOB_VALUE_OK;
}

void job_text_clip(const char *s, char *buf, size_t len)
{
    if (len == 0)
        return;
    size_t max = len - 1 < 40 ? len - 1 : 40, n = strlen(s), i;
    int cut = n > max;
    if (cut) {
        /* Room for "...", and never split a UTF-8 sequence. */
        max = max > 3 ? max - 3 : 0;
        while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
            max--;
    }
    for (i = 0; i < n && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    buf[i] = '\0';
    if (cut && i + 3 < len)
        memcpy(buf + i, "...", 4);
}

/* Optimal string alignment distance (Damerau-Levenshtein with adjacent
 * transpositions, each substring edited once), case-insensitive. Strings
 * are compared on their first 63 bytes: names are short. */
static int osa_distance(const char *a, const char *b)
{
    enum { MAX = 64 };
    int la = (int)strnlen(a, MAX - 1), lb = (int)strnlen(b, MAX - 1);
    int d[MAX][MAX];
    for (int i = 0; i <= la; i++)
        d[i][0] = i;
    for (int j = 0; j <= lb; j++)
        d[0][j] = j;
    for (int i = 1; i <= la; i++) {
        for (int j = 1; j <= lb; j++) {
            int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
            int cost = ca != cb;
            int best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < best)
                best = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[la][lb];
}

int job_suggest_rank(const char *given, const char *cand)
{
    int lg = (int)strlen(given), lc = (int)strlen(cand);
    int d = osa_distance(given, cand);
    if (d <= 2 && d < lg)
        return d;
    int shorter = lg < lc ? lg : lc;
    if (shorter >= 3 && !strncasecmp(given, cand, (size_t)shorter))
        return 3 + abs(lg - lc);
    return -1;
}

int job_suggest(const char *given, const char *const *cands, int n)
{
    int best = -1, best_rank = 0;
    for (int i = 0; i < n; i++) {
        int r = job_suggest_rank(given, cands[i]);
        if (r >= 0 && (best < 0 || r < best_rank)) {
            best = i;
            best_rank = r;
        }
    }
    return best;
}
