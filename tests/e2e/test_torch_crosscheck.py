#!/usr/bin/python3
"""Training numerics against PyTorch: the same initial weights and the same
batches fed to polysweep's trainer and to a PyTorch model give loss curves,
gradients and weights that agree to float32 tolerance over a few hundred
AdamW steps, for every autoencoder (relu_output and relu_hidden at shapes
and densities that take each of the trainer's code paths - the fused
small-model kernels, the BLAS path, the sparse path for sparse inputs -
and linear, gelu_output (exact erf GELU) and power (q = 3, no bias), each
on the fused kernels and on one of the other two paths).

A small C driver is compiled against the build's libraries (libps_train.a
and what it needs) and trains one model with the real step loop
(train_run); a hook called after every step writes that step's batch
(train_batch, the batch the step trained on), its loss (log_every = 1, so
the loss curve holds every step's loss) and its gradient; the driver also
writes the initial and final parameters. PyTorch (float32, 1 thread) then
trains from the same initial weights on the same batches with
torch.optim.AdamW(foreach=False). Checks:

1. the gradient of step 0 (identical parameters): within 1e-5 of the
   gradient's largest entry, per tensor;
2. every step's loss: relative difference below 2e-5 (the two runs' float32
   sums are ordered differently; measured about 2e-7 after 300 steps, and a
   wrong model or optimiser is off by far more);
3. every step's gradient, against PyTorch's gradient at polysweep's own
   parameters before that step: within 1e-4 of its largest entry (measured
   < 2e-6);
4. the final weights: within 2e-5 absolute (measured ~1e-7; weights are
   O(0.1-1) and AdamW moves each by up to lr = 1e-3 per step, so a single
   wrong step, a wrong bias correction or weight decay shows).

Exit 77 (meson's "skipped") when torch, numpy, a C compiler or the
libraries are missing.
"""
import os
import shutil
import subprocess
import tempfile

from util import build_c_driver, check, main, skip

DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "polysweep/kernels.h"
#include "polysweep/model.h"
#include "polysweep/train.h"

/* argv: arch n m density steps batch importance_rate lr; stdout: int64 nparam,
 * float params0[nparam], then per step float x[batch][n], double loss,
 * float grad[nparam], float params[nparam] after the step; then float
 * params[nparam] after the last step. */
static float *xbuf;

static int tick(void *ctx, const TrainState *st)
{
    (void)ctx;
    const int64_t s = *st->step - 1;
    train_batch(st, s, xbuf);
    fwrite(xbuf, sizeof(float), (size_t)st->spec.batch * st->spec.n, stdout);
    fwrite(&st->curve[s], sizeof(double), 1, stdout);
    fwrite(st->grad, sizeof(float), st->nparam, stdout);
    fwrite(st->params, sizeof(float), st->nparam, stdout);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 9)
        return 2;
    TaskSpec t;
    memset(&t, 0, sizeof t);
    t.arch = atoi(argv[1]);
    t.n = atoi(argv[2]);
    t.m = atoi(argv[3]);
    t.density = atof(argv[4]);
    t.sparsity = 1.0 - t.density;
    t.steps = atoll(argv[5]);
    t.batch = atoi(argv[6]);
    t.importance = IMPORTANCE_DECAY;
    t.importance_rate = atof(argv[7]);
    t.lr = atof(argv[8]);
    t.bias = 1;
    t.beta1 = 0.9;
    t.beta2 = 0.999;
    t.eps = 1e-8;
    t.weight_decay = 0.01;
    t.log_every = 1;
    t.eval_samples = 1;
    t.q = 3;
    t.kurtosis = 1.8 / t.density;
    t.seed = 7;
    t.key = 0x0123456789abcdefull ^ (uint64_t)(t.n * 1000003 + t.m);
    kern_blas_set_threads(1);
    TrainState *st;
    if (train_state_create(&t, &st))
        return 3;
    xbuf = malloc((size_t)t.batch * t.n * sizeof(float));
    if (!xbuf)
        return 3;
    int64_t np = (int64_t)st->nparam;
    fwrite(&np, sizeof np, 1, stdout);
    fwrite(st->params, sizeof(float), st->nparam, stdout);
    TrainHooks hooks = {.every = 1, .tick = tick, .ctx = NULL};
    char reason[128];
    if (train_run(st, &hooks, reason, sizeof reason)) {
        fprintf(stderr, "train_run: %s\n", reason);
        return 4;
    }
    fwrite(st->params, sizeof(float), st->nparam, stdout);
    train_state_free(&st);
    free(xbuf);
    return 0;
}
"""

# enum Arch in include/polysweep/task.h
ARCH = {"linear": 0, "relu_output": 1, "gelu_output": 2, "relu_hidden": 3, "power": 5}
Q = 3  # the driver's q (power)

# (arch, n, m, density, steps, batch): each of the trainer's paths at least once.
CASES = [
    ("relu_output", 20, 5, 1.0, 300, 1024),
    ("relu_hidden", 20, 5, 0.3, 300, 1024),
    ("relu_output", 100, 20, 0.1, 300, 512),
    ("relu_hidden", 100, 20, 1.0, 300, 512),
    ("relu_output", 400, 48, 1.0, 200, 256),
    ("relu_hidden", 400, 48, 0.5, 200, 256),
    ("relu_output", 1000, 64, 0.01, 200, 256),
    ("relu_hidden", 1000, 64, 0.01, 200, 256),
    ("linear", 20, 5, 1.0, 300, 1024),
    ("linear", 1000, 64, 0.01, 200, 256),
    ("gelu_output", 20, 5, 0.3, 300, 1024),
    ("gelu_output", 400, 48, 0.5, 200, 256),
    ("power", 20, 5, 1.0, 300, 1024),
    ("power", 1000, 64, 0.01, 200, 256),
]
IMPORTANCE_RATE = 0.99
LR = 1e-3


def run_driver(np, exe, case):
    arch, n, m, p, steps, batch = case
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([exe, str(ARCH[arch]), str(n), str(m), repr(p), str(steps), str(batch),
                          repr(IMPORTANCE_RATE), repr(LR)], capture_output=True, check=True,
                         env=env).stdout
    nparam = int(np.frombuffer(out[:8], dtype=np.int64)[0])
    check(nparam == m * n + n, f"nparam {nparam}")
    step_dt = np.dtype([("x", np.float32, (batch, n)), ("loss", np.float64),
                        ("grad", np.float32, (nparam,)), ("after", np.float32, (nparam,))])
    want = 8 + 4 * nparam + steps * step_dt.itemsize + 4 * nparam
    check(len(out) == want, f"driver wrote {len(out)} bytes, expected {want}")
    p0 = np.frombuffer(out, dtype=np.float32, count=nparam, offset=8)
    rec = np.frombuffer(out, dtype=step_dt, count=steps, offset=8 + 4 * nparam)
    p1 = np.frombuffer(out, dtype=np.float32, count=nparam, offset=want - 4 * nparam)
    return p0, rec, p1


def torch_loss(torch, arch, x, W, b, imp):
    """science.md section 2: h = W x (ReLU(W x) for relu_hidden), then
    x' = act(W^T h + b): ReLU, identity, GELU (torch's default, exact erf),
    or (W^T h)^q for power, which has no bias."""
    h = x @ W.T
    if arch == "relu_hidden":
        h = torch.relu(h)
    if arch == "power":
        out = (h @ W) ** Q
    else:
        z = h @ W + b
        out = {"linear": z, "gelu_output": torch.nn.functional.gelu(z)}.get(arch)
        out = torch.relu(z) if out is None else out
    return (imp * (x - out) ** 2).mean()


def grad_vector(np, W, b):
    """dW and db as one vector (db is 0 where the bias is unused: power)."""
    db = b.grad.numpy() if b.grad is not None else np.zeros(b.shape, dtype=np.float32)
    return np.concatenate([W.grad.numpy().ravel(), db]).copy()


def torch_grads_at(torch, np, case, p0, rec):
    """PyTorch's gradient of every step at polysweep's own parameters before
    that step (not along PyTorch's trajectory): this compares the gradient
    computation alone: along two trajectories, float32 rounding eventually puts
    some output on the other side of the ReLU's kink in one of them (seen at
    step 35 of the (400, 48) case with OpenBLAS's generic kernel), and the
    gradients then differ by that output's term although both are right."""
    arch, n, m, p, steps, batch = case
    imp = torch.tensor((IMPORTANCE_RATE ** np.arange(n, dtype=np.float64)).astype(np.float32))
    grads = []
    for s in range(steps):
        before = p0 if s == 0 else rec["after"][s - 1]
        W = torch.tensor(before[:m * n].reshape(m, n).copy(), requires_grad=True)
        b = torch.tensor(before[m * n:].copy(), requires_grad=True)
        loss = torch_loss(torch, arch, torch.from_numpy(rec["x"][s].copy()), W, b, imp)
        loss.backward()
        grads.append(grad_vector(np, W, b))
    return np.array(grads)


def run_torch(torch, np, case, p0, rec):
    arch, n, m, p, steps, batch = case
    W = torch.tensor(p0[:m * n].reshape(m, n).copy(), requires_grad=True)
    b = torch.tensor(p0[m * n:].copy(), requires_grad=True)
    imp = torch.tensor((IMPORTANCE_RATE ** np.arange(n, dtype=np.float64)).astype(np.float32))
    opt = torch.optim.AdamW([W, b], lr=LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01,
                            foreach=False)
    losses, grads = [], []
    for s in range(steps):
        loss = torch_loss(torch, arch, torch.from_numpy(rec["x"][s].copy()), W, b, imp)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        losses.append(float(loss))
        grads.append(grad_vector(np, W, b))
        opt.step()
    final = np.concatenate([W.detach().numpy().ravel(), b.detach().numpy()])
    return np.array(losses), np.array(grads), final


def test_training_matches_pytorch():
    try:
        import numpy as np
        import torch
    except ImportError as exc:
        skip(f"needs numpy and torch ({exc})")
    torch.set_num_threads(1)
    tmp = tempfile.mkdtemp(prefix="polysweep-crosscheck-")
    try:
        exe = build_c_driver(tmp, DRIVER, ("train", "model", "data", "kernels"), blas=True)
        for case in CASES:
            p0, rec, p1 = run_driver(np, exe, case)
            losses, grads, final = run_torch(torch, np, case, p0, rec)
            nnz = float(np.mean(rec["x"] != 0))
            g0, t0 = rec["grad"][0].astype(np.float64), grads[0].astype(np.float64)
            arch, n, m = case[:3]
            for name, sl in (("dW", slice(0, m * n)), ("db", slice(m * n, None))):
                scale = max(np.max(np.abs(t0[sl])), 1e-30)
                e0 = np.max(np.abs(g0[sl] - t0[sl])) / scale
                check(e0 < 1e-5, f"{case}: step-0 gradient {name} differs by {e0:.3g} of its "
                      f"largest entry")
            lrel = np.abs(rec["loss"] - losses) / np.abs(losses)
            check(np.all(np.isfinite(rec["loss"])), f"{case}: non-finite loss")
            check(np.max(lrel) < 2e-5, f"{case}: loss differs from torch by {np.max(lrel):.3g} "
                  f"(relative) at step {int(np.argmax(lrel))}")
            at = torch_grads_at(torch, np, case, p0, rec)
            gs = np.maximum(np.max(np.abs(at), axis=1), 1e-30)
            gerr = np.max(np.abs(rec["grad"].astype(np.float64) - at), axis=1) / gs
            check(np.max(gerr) < 1e-4, f"{case}: gradient differs from torch by {np.max(gerr):.3g} "
                  f"of its largest entry at step {int(np.argmax(gerr))}")
            perr = np.max(np.abs(p1.astype(np.float64) - final))
            check(perr < 2e-5, f"{case}: final weights differ from torch by {perr:.3g}")
            moved = np.max(np.abs(final - p0))
            check(moved > 20 * LR, f"{case}: the weights hardly moved ({moved:.3g})")
            print(f"  {case}: input density {nnz:.3f}, loss {losses[0]:.4g} -> {losses[-1]:.4g}; "
                  f"max rel. loss diff {np.max(lrel):.2g}, step-0 grad {e0:.2g}, grads "
                  f"{np.max(gerr):.2g}, final weights {perr:.2g} (moved {moved:.2g})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main([test_training_matches_pytorch])
