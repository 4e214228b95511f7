#!/usr/bin/python3
"""train_sgd (src/train/optim.c) against PyTorch's own torch.optim.SGD (1.13,
single-tensor path, dampening 0, no Nesterov), and against a float32
re-statement of PyTorch's CPU formula that must agree bit for bit.

As adamw_vs_torch.py: a small C driver compiled against the build's
libps_train.a runs T SGD steps on parameters and per-step gradients written by
this script; the same steps are run by torch. Checks:

1. bit-identical to numpy float32 following PyTorch's kernels
   (d = g + wd*p when wd != 0; buf = d at step 1, else buf*mu + d, d = buf
   when mu != 0; p + (-lr)*d; scalars rounded to float);
2. close to torch itself (its AVX2 add kernel may fuse value*t + self into an
   FMA), to a few float ulps of drift per step.

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
/* stdin: int64 len, int64 steps, double lr, momentum, wd, float p[len],
 * float g[steps][len]; stdout: float p, buf after the last step. */
int main(void)
{
    int64_t len, steps;
    double h[3];
    if (fread(&len, 8, 1, stdin) != 1 || fread(&steps, 8, 1, stdin) != 1 ||
        fread(h, 8, 3, stdin) != 3)
        return 2;
    float *p = malloc(len * 4), *b = calloc(len, 4), *g = malloc(len * 4);
    if (!p || !b || !g || fread(p, 4, len, stdin) != (size_t)len)
        return 2;
    for (int64_t t = 1; t <= steps; t++) {
        if (fread(g, 4, len, stdin) != (size_t)len)
            return 2;
        train_sgd(p, b, g, (size_t)len, h[0], h[1], h[2], t);
    }
    fwrite(p, 4, len, stdout);
    fwrite(b, 4, len, stdout);
    return 0;
}
"""

LEN, STEPS = 4099, 60  # not a multiple of the vector width: torch's scalar tail runs too
SETTINGS = [  # lr, momentum, weight_decay
    (1e-2, 0.0, 0.0),
    (1e-2, 0.9, 0.0),
    (3e-2, 0.9, 0.01),
    (1e-3, 0.5, 0.1),
]


def inputs(np, seed):
    rng = np.random.default_rng(seed)
    p = rng.normal(0, 0.5, LEN).astype(np.float32)
    g = rng.normal(0, 1, (STEPS, LEN)) * rng.choice([1e-9, 1e-4, 1.0, 30.0], LEN)
    g[:, :7] = 0.0  # zero gradients: only weight decay acts
    return p, g.astype(np.float32)


def run_c(exe, np, p, g, hp):
    blob = struct.pack("<qq3d", LEN, STEPS, *hp) + p.tobytes() + g.tobytes()
    out = subprocess.run([exe], input=blob, capture_output=True, check=True).stdout
    arr = np.frombuffer(out, dtype=np.float32)
    check(arr.size == 2 * LEN, f"driver wrote {arr.size} floats")
    return arr[:LEN], arr[LEN:]


def run_numpy(np, p, g, hp):
    lr, mu, wd = hp
    f = np.float32
    p = p.copy()
    buf = np.zeros_like(p)
    with np.errstate(all="ignore"):
        for t in range(1, STEPS + 1):
            d = g[t - 1]
            if wd != 0:
                d = d + f(wd) * p
            if mu != 0:
                buf = d.copy() if t == 1 else buf * f(mu) + d
                d = buf
            p = p + f(-lr) * d
    return p, buf


def run_torch(torch, p, g, hp):
    lr, mu, wd = hp
    w = torch.nn.Parameter(torch.from_numpy(p.copy()))
    opt = torch.optim.SGD([w], lr=lr, momentum=mu, weight_decay=wd, foreach=False)
    for t in range(STEPS):
        w.grad = torch.from_numpy(g[t].copy())
        opt.step()
    buf = opt.state[w].get("momentum_buffer") if w in opt.state else None
    return w.detach().numpy().copy(), (buf.numpy().copy() if buf is not None else None)


def test_sgd_matches_pytorch():
    try:
        import numpy as np
        import torch
    except ImportError as exc:
        skip(f"needs numpy and torch ({exc})")
    torch.set_num_threads(1)
    tmp = tempfile.mkdtemp(prefix="polysweep-sgd-")
    try:
        exe = build_c_driver(tmp, DRIVER, ("train", "kernels"))
        for k, hp in enumerate(SETTINGS):
            p0, g = inputs(np, k)
            pc, bc = run_c(exe, np, p0, g, hp)
            pn, bn = run_numpy(np, p0, g, hp)
            pairs = [("p", pc, pn)] + ([("buf", bc, bn)] if hp[1] != 0 else [])
            for name, a, b in pairs:
                nbad = int(np.count_nonzero(a.view(np.uint32) != b.view(np.uint32)))
                check(nbad == 0, f"settings {hp}: {name} differs from the float32 formula "
                      f"in {nbad} of {LEN} entries")
            pt, bt = run_torch(torch, p0, g, hp)
            # Drift allowed: about an ulp per step of the size of the terms:
            # for p max(|p|, lr * the largest gradient), for buf that gradient.
            gmax = np.max(np.abs(g.astype(np.float64)), axis=0) + np.abs(p0)
            scales = {"p": np.maximum(np.abs(pt), hp[0] * gmax), "buf": gmax}
            pairs = [("p", pc, pt)] + ([("buf", bc, bt)] if hp[1] != 0 else [])
            for name, a, b in pairs:
                err = np.abs(a.astype(np.float64) - b) / np.maximum(scales[name], 1e-30)
                check(np.max(err) < STEPS * 2.5e-7, f"settings {hp}: {name} differs from torch by "
                      f"{np.max(err):.3g} of its scale")
                print(f"  settings {hp}: {name} max difference to torch {np.max(err):.2g} of scale")
            same = np.count_nonzero(pc.view(np.uint32) == pt.view(np.uint32))
            print(f"  settings {hp}: {same}/{LEN} parameters bit-identical to torch")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main([test_sgd_matches_pytorch])
