/* train.c - a model's training state, the step loop and the evaluation loss
 * (science.md section 3, include/polysweep/train.h).
 *
 * Determinism: a step's batch is data_sample(key, STREAM_BATCH, step) - or,
 * for tasks on the sparse path (model_sparse_wanted, a function of the
 * settings), data_sample_sparse with the same arguments, kept in compressed
 * rows - its hidden noise data_hidden_noise(key, step) (STREAM_NOISE), the
 * initial weights come from STREAM_INIT, and the optimiser state lives in
 * `persist`;
 * so training from a copy of `persist` taken after any step ends
 * bit-identical to an uninterrupted run (for a fixed BLAS thread count).
 * population_loss draws nothing at all: each step is the exact loss and
 * gradient (model_population_loss_grad), and b[0] is reset to the optimal
 * bias after every update, so it is measured like a trained bias.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "polysweep/data.h"
#include "polysweep/kernels.h"
#include "polysweep/model.h"
#include "polysweep/polysweep.h"
#include "polysweep/train.h"

/* Offsets inside one allocation: each tensor starts on a 64-byte boundary
 * (cache line) so the float arrays are vector-aligned. */
static size_t align64(size_t off) { return (off + 63) & ~(size_t)63; }

static int eval_rows(const TaskSpec *t)
{
    return t->batch > TRAIN_EVAL_CHUNK ? t->batch : TRAIN_EVAL_CHUNK;
}

/* What the model and the trainer can run (the job file checks the same with
 * messages; this guards TaskSpecs built by hand). */
static int train_spec_ok(const TaskSpec *t)
{
    if (t->arch < 0 || t->arch >= ARCH_COUNT || t->n < 1 || t->m < 1 || t->batch < 1 ||
        t->log_every < 1 || t->steps < 0)
        return 0;
    if (t->values < 0 || t->values >= VALUES_COUNT || t->hidden_noise < 0 ||
        t->hidden_noise >= NOISE_COUNT || t->init < 0 || t->init >= INIT_COUNT ||
        t->optimizer < 0 || t->optimizer >= OPT_COUNT || t->lr_schedule < 0 ||
        t->lr_schedule >= SCHED_COUNT)
        return 0;
    if (t->arch == ARCH_POWER && (t->q < 1 || t->q % 2 == 0))
        return 0;
    if (t->population_loss && (t->arch != ARCH_QUADRATIC || !(t->kurtosis >= 1.0)))
        return 0;
    if (t->lr_schedule == SCHED_WARMUP_COSINE && t->warmup_steps >= t->steps &&
        t->steps > 0)
        return 0;
    return 1;
}

static void population_bias(TrainState *st)
{
    const TaskSpec *t = &st->spec;
    if (t->population_loss && model_bias_used(t))
        st->params[model_b_offset(t)] = (float)model_population_bias_f32(t, st->params, st->I);
}

int train_state_create(const TaskSpec *t, TrainState **out)
{
    *out = NULL;
    if (!train_spec_ok(t))
        return PS_EINVAL;
    TrainState *st = calloc(1, sizeof *st);
    double *imp = NULL;
    if (!st)
        return PS_ENOMEM;
    st->spec = *t;
    st->nparam = model_param_len(t);
    st->nlog = task_log_count(t);
    const size_t np = st->nparam, n = (size_t)t->n, m = (size_t)t->m;

    /* persist: step | window[2] | curve (nlog) | params | m1 | m2 */
    size_t o_step = 0;
    size_t o_window = align64(o_step + sizeof(int64_t));
    size_t o_curve = align64(o_window + 2 * sizeof(double));
    size_t o_params = align64(o_curve + (size_t)st->nlog * sizeof(double));
    size_t o_m1 = align64(o_params + np * sizeof(float));
    size_t o_m2 = align64(o_m1 + np * sizeof(float));
    st->persist_len = align64(o_m2 + np * sizeof(float));
    /* Zeroed: moments, step, window and curve start at 0, and the padding
     * is zero too, so two states' persist bytes compare equal. */
    st->persist = aligned_alloc(64, st->persist_len);
    if (!st->persist)
        goto fail;
    memset(st->persist, 0, st->persist_len);
    char *base = st->persist;
    st->step = (int64_t *)(base + o_step);
    st->window = (double *)(base + o_window);
    st->curve = (double *)(base + o_curve);
    st->params = (float *)(base + o_params);
    st->m1 = (float *)(base + o_m1);
    st->m2 = (float *)(base + o_m2);

    /* scratch: grad | x (rows, n) | I (n) | noise (m) | ws; rows also fit an
     * eval chunk */
    const int rows = eval_rows(t);
    const int sparse = model_sparse_wanted(t);
    const size_t bn = sparse ? (size_t)t->batch * n : 0;   /* sparse entries at most */
    size_t wsl = model_workspace_len(t, rows);
    if (sparse && model_sparse_workspace_len(t, t->batch) > wsl)
        wsl = model_sparse_workspace_len(t, t->batch);
    size_t s_grad = 0;
    size_t s_x = align64(s_grad + np * sizeof(float));
    size_t s_I = align64(s_x + (size_t)rows * n * sizeof(float));
    size_t s_noise = align64(s_I + n * sizeof(float));
    size_t s_ws = align64(s_noise + m * sizeof(float));
    size_t s_rowptr = align64(s_ws + wsl * sizeof(float));
    size_t s_col = align64(s_rowptr + (sparse ? ((size_t)t->batch + 1) * sizeof(int64_t) : 0));
    size_t s_val = align64(s_col + bn * sizeof(int32_t));
    size_t s_geom = align64(s_val + bn * sizeof(float));
    size_t s_len = align64(s_geom + (sparse ? sizeof(DataGeom) : 0));
    st->scratch = aligned_alloc(64, s_len);
    if (!st->scratch)
        goto fail;
    memset(st->scratch, 0, s_len);
    char *sb = st->scratch;
    st->grad = (float *)(sb + s_grad);
    st->x = (float *)(sb + s_x);
    st->I = (float *)(sb + s_I);
    st->noise = (float *)(sb + s_noise);
    st->ws = (float *)(sb + s_ws);
    if (sparse) {
        st->x_rowptr = (int64_t *)(sb + s_rowptr);
        st->x_col = (int32_t *)(sb + s_col);
        st->x_val = (float *)(sb + s_val);
        st->geom = (DataGeom *)(sb + s_geom);
        data_geom_init(t->density, t->n, st->geom);
    }

    /* Xavier-normal W (Glorot and Bengio 2010): std sqrt(2 / (fan_in +
     * fan_out)) = sqrt(2 / (n + m)), as torch.nn.init.xavier_normal_ in the
     * TMS notebook; or normal with std 1/sqrt(m), N(0, 1/m) as in INC. The
     * same draws, scaled. b = 0. */
    const double std = t->init == INIT_NORMAL ? 1.0 / sqrt((double)m)
                                              : sqrt(2.0 / (double)(n + m));
    data_normal(t->key, STREAM_INIT, 0, (float)std, st->params + model_w_offset(),
                (int64_t)(m * n));

    imp = malloc(n * sizeof *imp);
    if (!imp)
        goto fail;
    data_importance(t, imp);
    for (size_t i = 0; i < n; i++)
        st->I[i] = (float)imp[i];
    free(imp);
    population_bias(st);
    *out = st;
    return 0;

fail:
    free(imp);
    train_state_free(&st);
    return PS_ENOMEM;
}

void train_state_free(TrainState **pst)
{
    if (!pst || !*pst)
        return;
    free((*pst)->persist);
    free((*pst)->scratch);
    free(*pst);
    *pst = NULL;
}

static int params_finite(const float *p, size_t len)
{
    int ok = 1;
    for (size_t k = 0; k < len; k++)
        ok &= isfinite(p[k]) != 0;
    return ok;
}

static void set_reason(char *reason, size_t len, const char *what, double v, int64_t step)
{
    if (reason && len)
        snprintf(reason, len, "%s became %s at step %lld", what,
                 isnan(v) ? "nan" : "inf", (long long)step);
}

/* One step s (0-based): the batch of step s, the loss and gradient at the
 * current parameters, then the AdamW update with t = s + 1. The loss of step
 * s goes into the window; a window closes after steps log_every, 2 log_every,
 * ... (and after the last step when steps is not a multiple). */
int train_run(TrainState *st, const TrainHooks *hooks, char *reason, size_t len)
{
    const TaskSpec *t = &st->spec;
    const int B = t->batch;
    const int64_t every = hooks && hooks->tick && hooks->every > 0 ? hooks->every : 0;
    int rc = 0;
    if (reason && len)
        reason[0] = '\0';

    const unsigned fpenv = kern_fpenv_ftz();
    for (int64_t s = *st->step; s < t->steps; s++) {
        double loss;
        if (t->population_loss) {
            loss = model_population_loss_grad_f32(t, st->params, st->I, st->grad, st->ws);
        } else {
            const float *xi = NULL;
            if (st->x_rowptr)
                data_sample_sparse(t, st->geom, t->key, STREAM_BATCH, (uint64_t)s, B,
                                   st->x_rowptr, st->x_col, st->x_val);
            else
                data_sample(t, t->key, STREAM_BATCH, (uint64_t)s, B, st->x);
            if (t->hidden_noise != NOISE_NONE) {
                data_hidden_noise(t, t->key, (uint64_t)s, st->noise);
                xi = st->noise;
            }
            if (st->x_rowptr)
                loss = model_loss_grad_sparse_f32(t, st->params, st->I, st->x_rowptr, st->x_col,
                                                  st->x_val, B, xi, st->grad, st->ws);
            else
                loss = model_loss_grad_noise_f32(t, st->params, st->I, st->x, B, xi,
                                                 st->grad, st->ws);
        }
        if (!isfinite(loss)) {
            set_reason(reason, len, "loss", loss, s);
            rc = PS_ENUMERIC;
            break;
        }
        if (t->optimizer == OPT_SGD)
            train_sgd(st->params, st->m1, st->grad, st->nparam, train_lr_at(t, s),
                      t->momentum, t->weight_decay, s + 1);
        else
            train_adamw(st->params, st->m1, st->m2, st->grad, st->nparam,
                        train_lr_at(t, s), t->beta1, t->beta2, t->eps, t->weight_decay,
                        s + 1);
        population_bias(st);
        st->window[0] += loss;
        st->window[1] += 1.0;
        if ((s + 1) % t->log_every == 0 || s + 1 == t->steps) {
            st->curve[s / t->log_every] = st->window[0] / st->window[1];
            st->window[0] = st->window[1] = 0.0;
            /* The loss is finite, but an update can still overflow; catch
             * it here rather than at the next step's loss. */
            if (!params_finite(st->params, st->nparam)) {
                if (reason && len)
                    snprintf(reason, len, "parameters became non-finite at step %lld",
                             (long long)s);
                rc = PS_ENUMERIC;
                break;
            }
        }
        *st->step = s + 1;
        /* A stop request after the last step is moot: training is done. */
        if (every && (s + 1) % every == 0 && hooks->tick(hooks->ctx, st) && s + 1 < t->steps) {
            rc = PS_EINTR;
            break;
        }
    }
    kern_fpenv_restore(fpenv);
    return rc;
}

void train_batch(const TrainState *st, int64_t step, float *x)
{
    const TaskSpec *t = &st->spec;
    if (!st->x_rowptr) {
        data_sample(t, t->key, STREAM_BATCH, (uint64_t)step, t->batch, x);
        return;
    }
    /* the sparse path's batch, through its scratch buffers */
    data_sample_sparse(t, st->geom, t->key, STREAM_BATCH, (uint64_t)step, t->batch,
                       st->x_rowptr, st->x_col, st->x_val);
    memset(x, 0, (size_t)t->batch * (size_t)t->n * sizeof(float));
    for (int b = 0; b < t->batch; b++)
        for (int64_t e = st->x_rowptr[b]; e < st->x_rowptr[b + 1]; e++)
            x[(size_t)b * t->n + (size_t)st->x_col[e]] = st->x_val[e];
}

/* The held-out sample: chunk c is data_sample(eval key, STREAM_EVAL, step c)
 * with TRAIN_EVAL_CHUNK rows (the last one a prefix of a full chunk), so the
 * sample depends only on the seed and the data law (data_eval_key); for
 * one_hot it is the basis vectors e_0, e_1, ... in chunks. No noise. */
double train_eval_loss(TrainState *st)
{
    const TaskSpec *t = &st->spec;
    if (t->eval_samples <= 0)
        return NAN;
    const uint64_t key = data_eval_key(t);
    const unsigned fpenv = kern_fpenv_ftz();
    double sum = 0.0;
    int done = 0;
    for (uint64_t c = 0; done < t->eval_samples; c++) {
        int rows = t->eval_samples - done;
        if (rows > TRAIN_EVAL_CHUNK)
            rows = TRAIN_EVAL_CHUNK;
        if (t->values == VALUES_ONE_HOT)
            data_one_hot(t->n, done, rows, st->x);
        else
            data_sample(t, key, STREAM_EVAL, c, rows, st->x);
        sum += model_loss_grad_f32(t, st->params, st->I, st->x, rows, NULL, st->ws) * rows;
        done += rows;
    }
    kern_fpenv_restore(fpenv);
    return sum / t->eval_samples;
}
