#!/usr/bin/python3
"""train_adamw (src/train/optim.c) against PyTorch's own torch.optim.AdamW
(1.13, single-tensor path), and against a float32 re-statement of PyTorch's
CPU formula that must agree bit for bit.

A small C driver is compiled against the build's libps_train.a (train_adamw
needs nothing else but libm) and runs T AdamW steps on parameters and per-step
gradients written by this script; the same steps are run by torch. Checks:

1. bit-identical to numpy float32 following PyTorch's scalar kernels
   (p*(1-lr wd); m*b1 + (1-b1)*g; v*b2 + ((1-b2)*g)*g;
   denom = sqrt(v)/sqrt(1-b2^t) + eps; p + ((-lr/(1-b1^t))*m)/denom, scalars
   computed in double and rounded to float);
2. close to torch itself: PyTorch's AVX2 kernels fuse two of these
   multiply-adds (FMA), which changes the last bit now and then, so the
   comparison is to a few float ulps of drift, not exact.

Exit 77 (meson's "skipped") when torch, a C compiler or the library is missing.
"""
import shutil
import struct
import subprocess
import tempfile

from util import build_c_driver, check, main, skip

DRIVER = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "polysweep/train.h"
/* stdin: int64 len, int64 steps, double lr, b1, b2, eps, wd, float p[len],
 * float g[steps][len]; stdout: float p, m, v after the last step. */
int main(void)
{
    int64_t len, steps;
    double h[5];
    if (fread(&len, 8, 1, stdin) != 1 || fread(&steps, 8, 1, stdin) != 1 ||
        fread(h, 8, 5, stdin) != 5)
        return 2;
    float *p = malloc(len * 4), *m = calloc(len, 4), *v = calloc(len, 4), *g = malloc(len * 4);
    if (!p || !m || !v || !g || fread(p, 4, len, stdin) != (size_t)len)
        return 2;
    for (int64_t t = 1; t <= steps; t++) {
        if (fread(g, 4, len, stdin) != (size_t)len)
            return 2;
        train_adamw(p, m, v, g, (size_t)len, h[0], h[1], h[2], h[3], h[4], t);
    }
    fwrite(p, 4, len, stdout);
    fwrite(m, 4, len, stdout);
    fwrite(v, 4, len, stdout);
    return 0;
}
"""

LEN, STEPS = 4099, 60  # not a multiple of the vector width: torch's scalar tail runs too
SETTINGS = [  # lr, beta1, beta2, eps, weight_decay
    (1e-3, 0.9, 0.999, 1e-8, 0.01),    # TMS defaults
    (3e-2, 0.8, 0.99, 1e-6, 0.1),
]


def inputs(np, seed):
    rng = np.random.default_rng(seed)
    p = rng.normal(0, 0.5, LEN).astype(np.float32)
    g = rng.normal(0, 1, (STEPS, LEN)) * rng.choice([1e-9, 1e-4, 1.0, 30.0], LEN)
    g[:, :7] = 0.0  # zero gradients: only weight decay and eps act
    return p, g.astype(np.float32)


def run_c(exe, np, p, g, hp):
    blob = struct.pack("<qq5d", LEN, STEPS, *hp) + p.tobytes() + g.tobytes()
    out = subprocess.run([exe], input=blob, capture_output=True, check=True).stdout
    arr = np.frombuffer(out, dtype=np.float32)
    check(arr.size == 3 * LEN, f"driver wrote {arr.size} floats")
    return arr[:LEN], arr[LEN:2 * LEN], arr[2 * LEN:]


def run_numpy(np, p, g, hp):
    lr, b1, b2, eps, wd = hp
    f = np.float32
    p = p.copy()
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    with np.errstate(all="ignore"):
        for t in range(1, STEPS + 1):
            gt = g[t - 1]
            p = p * f(1 - lr * wd)
            m = m * f(b1) + f(1 - b1) * gt
            v = v * f(b2) + f(1 - b2) * gt * gt
            denom = np.sqrt(v) / f((1 - b2 ** t) ** 0.5) + f(eps)
            p = p + f(-(lr / (1 - b1 ** t))) * m / denom
    return p, m, v


def run_torch(torch, p, g, hp):
    lr, b1, b2, eps, wd = hp
    w = torch.nn.Parameter(torch.from_numpy(p.copy()))
    opt = torch.optim.AdamW([w], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd, foreach=False)
    for t in range(STEPS):
        w.grad = torch.from_numpy(g[t].copy())
        opt.step()
    st = opt.state[w]
    return (w.detach().numpy().copy(), st["exp_avg"].numpy().copy(),
            st["exp_avg_sq"].numpy().copy())


def test_adamw_matches_pytorch():
    try:
        import numpy as np
        import torch
    except ImportError as exc:
        skip(f"needs numpy and torch ({exc})")
    torch.set_num_threads(1)
    tmp = tempfile.mkdtemp(prefix="polysweep-adamw-")
    try:
        exe = build_c_driver(tmp, DRIVER, ("train", "kernels"))
        for k, hp in enumerate(SETTINGS):
            p0, g = inputs(np, k)
            pc, mc, vc = run_c(exe, np, p0, g, hp)
            pn, mn, vn = run_numpy(np, p0, g, hp)
            for name, a, b in (("p", pc, pn), ("m", mc, mn), ("v", vc, vn)):
                nbad = int(np.count_nonzero(a.view(np.uint32) != b.view(np.uint32)))
                check(nbad == 0, f"settings {hp}: {name} differs from the float32 formula "
                      f"in {nbad} of {LEN} entries")
            pt, mt, vt = run_torch(torch, p0, g, hp)
            # Drift allowed: each step may differ by about an ulp (FMA), so after
            # STEPS steps a few STEPS ulps of the size of the terms: for m and v
            # the largest gradient seen (they cancel, so not themselves), for p
            # max(|p|, lr) (p moves by about lr per step).
            gmax = np.max(np.abs(g.astype(np.float64)), axis=0)
            scales = {"p": np.maximum(np.abs(pt), hp[0]), "m": gmax, "v": gmax * gmax}
            for name, a, b in (("p", pc, pt), ("m", mc, mt), ("v", vc, vt)):
                err = np.abs(a.astype(np.float64) - b) / np.maximum(scales[name], 1e-30)
                check(np.max(err) < STEPS * 2.5e-7, f"settings {hp}: {name} differs from torch by "
                      f"{np.max(err):.3g} of its scale")
                print(f"  settings {hp}: {name} max difference to torch {np.max(err):.2g} of scale")
            same = np.count_nonzero(pc.view(np.uint32) == pt.view(np.uint32))
            print(f"  settings {hp}: {same}/{LEN} parameters bit-identical to torch")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main([test_adamw_matches_pytorch])
