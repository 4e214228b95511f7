/* optim.c - the optimisers (AdamW, SGD) and the learning-rate schedules
 * (science.md section 3, include/polysweep/train.h).
 *
 * AdamW follows torch.optim.AdamW of PyTorch 1.13 (_single_tensor_adamw in
 * torch/optim/adamw.py; Loshchilov and Hutter, "Decoupled weight decay
 * regularization", ICLR 2019) operation by operation: tensors are float32,
 * the scalars (1 - lr wd, bias corrections, step size) are computed in double
 * as Python does and rounded to float where PyTorch's kernels round them.
 */
#include <math.h>

#include "polysweep/kernels.h"
#include "polysweep/train.h"

#include "optim_simd.h"

/* The schedules of train.h, in double. t/T uses the 0-based step, so the
 * first update always gets the full lr (except during warm-up) and the
 * decaying schedules never reach exactly 0 within the run. */
double train_lr_at(const TaskSpec *t, int64_t step)
{
    const double pi = 3.14159265358979323846;
    const double s = (double)step, T = (double)t->steps;
    switch (t->lr_schedule) {
    case SCHED_LINEAR:
        return t->lr * (1.0 - s / T);
    case SCHED_COSINE:
        return t->lr * 0.5 * (1.0 + cos(pi * s / T));
    case SCHED_WARMUP_COSINE: {
        const double W = (double)t->warmup_steps;
        if (step < t->warmup_steps)
            return t->lr * (s + 1.0) / W;
        if (T <= W)
            return t->lr;
        return t->lr * 0.5 * (1.0 + cos(pi * (s - W) / (T - W)));
    }
    case SCHED_CONSTANT:
    default:
        return t->lr;
    }
}

/* PyTorch 1.13, _single_tensor_sgd (torch/optim/sgd.py), dampening 0:
 *   d_p = d_p.add(param, alpha=weight_decay)        if weight_decay != 0
 *   buf = clone(d_p) at the first step, else buf.mul_(momentum).add_(d_p)
 *   d_p = buf                                       if momentum != 0
 *   param.add_(d_p, alpha=-lr)
 * in float32, each scalar cast to float, each operation rounded on its own
 * (PyTorch's AVX2 add kernel may fuse value * t + self into an FMA, like
 * AdamW's; we do not). */
void train_sgd(float *p, float *buf, const float *g, size_t len, double lr,
               double momentum, double weight_decay, int64_t t)
{
    const float wd = (float)weight_decay, mu = (float)momentum, neg_lr = (float)-lr;
    for (size_t k = 0; k < len; k++) {
        float d = g[k];
        if (weight_decay != 0.0)
            d = d + wd * p[k];
        if (momentum != 0.0) {
            float bk = t <= 1 ? d : buf[k] * mu + d;
            buf[k] = bk;
            d = bk;
        }
        p[k] = p[k] + neg_lr * d;
    }
}

/* PyTorch, per parameter tensor, with step t already incremented:
 *   param.mul_(1 - lr * wd)
 *   exp_avg.mul_(b1).add_(grad, alpha=1 - b1)             m = m b1 + (1-b1) g
 *   exp_avg_sq.mul_(b2).addcmul_(grad, grad, value=1 - b2) v = v b2 + ((1-b2) g) g
 *   step_size = lr / (1 - b1 ** t)
 *   denom = (exp_avg_sq.sqrt() / sqrt(1 - b2 ** t)).add_(eps)
 *   param.addcdiv_(exp_avg, denom, value=-step_size)      p = p + ((-ss) m) / denom
 * The CPU kernels evaluate add/addcmul/addcdiv as self + value * t1 (* or /)
 * t2 left to right with value cast to float, which is the order below.
 * (PyTorch's AVX2 kernels contract two of these into FMAs; we do not, so the
 * two can differ by an ulp per step: tests/e2e/adamw_vs_torch.py bounds it.) */
void train_adamw(float *p, float *m1, float *m2, const float *g, size_t len,
                 double lr, double beta1, double beta2, double eps,
                 double weight_decay, int64_t t)
{
    const float decay = (float)(1.0 - lr * weight_decay);
    const float b1 = (float)beta1, c1 = (float)(1.0 - beta1);
    const float b2 = (float)beta2, c2 = (float)(1.0 - beta2);
    const double bias1 = 1.0 - pow(beta1, (double)t);
    const double bias2 = 1.0 - pow(beta2, (double)t);
    const float neg_step = (float)(-(lr / bias1));
    const float sqrt_bias2 = (float)sqrt(bias2);
    const float epsf = (float)eps;
    size_t k = 0;
#if OPTIM_HAVE_SIMD
    /* The same operations 16 or 8 at a time (optim_simd.c), same bits. */
    const AdamwConsts c = {decay, b1, c1, b2, c2, neg_step, sqrt_bias2, epsf};
    const int level = kern_simd_level();
    if (level == KERN_SIMD_AVX512)
        k = adamw_avx512(p, m1, m2, g, len, &c);
    else if (level == KERN_SIMD_AVX2)
        k = adamw_avx2(p, m1, m2, g, len, &c);
#endif
    for (; k < len; k++) {
        float gk = g[k];
        float pk = p[k] * decay;
        float mk = m1[k] * b1 + c1 * gk;
        float vk = m2[k] * b2 + c2 * gk * gk;
        float denom = sqrtf(vk) / sqrt_bias2 + epsf;
        p[k] = pk + neg_step * mk / denom;
        m1[k] = mk;
        m2[k] = vk;
    }
}
