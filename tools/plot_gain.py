#!/usr/bin/python3
"""Gain of the power model against density, log-log (Chowdhury & Weiner).

Left: the trained model's gain Lg = 2 E<x, x'> - E||x'||^2 (loss = E||x||^2
- Lg) against the feature density p, one colour per m, with
  - dashed: the largest gain without superposition, p min(m, n) mu_(q+1)^2 / mu_2q
    (`power_gain_baseline`);
  - dotted and dash-dotted: the paper's scales p m^q and m p^(1/q) (drawn
    with constant 1: the paper bounds sup Lg between min of the two and
    p m^q up to constants, for n > m^q);
  - grey: E||x||^2 = p n mu2, the gain of a perfect reconstruction.
Right: the gain divided by the no-superposition baseline: above 1 the model
gains from superposition.

    /usr/bin/python3 tools/plot_gain.py results/pow_gain.nc -o results/pow_gain.png

Needs a `power` dataset (`power_gain`) with the axis `density` (or
`sparsity`). Lines are drawn per value of `m` (or of another axis, --by);
a `seed` axis keeps the seed with the lowest eval loss. q is read from the
job (default 3).
"""
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import ScalarFormatter

import figures_common as fc

JOB = "jobs/pow_gain.yaml"


def options(ap):
    ap.add_argument("--by", help="the axis with one line per value (default: m when it is an axis)")


def main(argv=None):
    args = fc.parse_args(__doc__, argv, options)
    ds = fc.open_dataset(args.dataset, variables=("power_gain", "power_gain_baseline", "eval_loss"),
                         dims=(("density", "sparsity"),), job=JOB)
    if not bool(np.isfinite(ds.power_gain).any()):
        raise fc.DatasetError(f"{args.dataset}: power_gain is empty: it is measured for arch power only "
                              f"(make the dataset with {JOB})")
    axis = "density" if "density" in fc.grid_axes(ds) else "sparsity"
    by = args.by or ("m" if "m" in fc.grid_axes(ds) else None)
    if by and by not in fc.grid_axes(ds):
        raise fc.DatasetError(f"{args.dataset}: --by {by} is not a grid axis")
    ds, note = fc.collapse(ds, [axis] + ([by] if by else []))
    q = fc.setting(ds, "q", 3, int)
    nfeat = ds.sizes["feature"]
    p_all = ds[axis].values if axis == "density" else 1 - ds[axis].values
    order = np.argsort(p_all)
    p = p_all[order]

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [1.3, 1]})
    lines = [None] if by is None else list(ds[by].values)
    colours = plt.get_cmap("tab10")
    pfine = np.geomspace(p.min(), p.max(), 100)
    for k, lv in enumerate(lines):
        sub = ds if lv is None else ds.sel({by: lv})
        ok = sub.status == 1
        gain = sub.power_gain.where(ok).values[order]
        base = sub.power_gain_baseline.where(ok).values[order]
        col = colours(k % 10)
        label = "" if lv is None else f"{by} = {fc.fmt(lv)}"
        ax.plot(p, gain, "o-", color=col, lw=1.6, ms=4, label=f"trained gain {label}")
        ax.plot(p, base, "--", color=col, lw=1, label=f"no superposition {label}")
        m = int(lv) if by == "m" else fc.setting(ds, "m", kind=int)
        ax.plot(pfine, pfine * m ** q, ":", color=col, lw=1, label=rf"$p\,m^{q}$ ({label or f'm = {m}'})")
        ax.plot(pfine, m * pfine ** (1 / q), "-.", color=col, lw=0.8, alpha=0.7,
                label=rf"$m\,p^{{1/{q}}}$ ({label or f'm = {m}'})")
        ax2.plot(p, gain / base, "o-", color=col, lw=1.6, ms=4, label=label or None)
        if k == 0:
            # E||x||^2 from the dataset: eval_loss n = E||x||^2 - Lg (importance 1 for power runs).
            total = (sub.eval_loss.where(ok).values[order] * nfeat + gain)
            ax.plot(p, total, color="0.6", lw=1, label=r"$E\|x\|^2 = p\,n\,\mu_2$ (perfect reconstruction)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("feature density p = 1 - S")
    ax.set_ylabel(r"gain $L_g = 2E\langle x, x'\rangle - E\|x'\|^2$")
    ax.set_title(f"power model, q = {q}, n = {nfeat}")
    ax.legend(fontsize=6.5, frameon=False, loc="upper left", ncol=1 if len(lines) < 2 else 2)
    ax2.axhline(1, color="k", lw=0.8, ls="--")
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_xlabel("feature density p = 1 - S")
    ax2.set_ylabel("gain / no-superposition baseline")
    ax2.yaxis.set_major_formatter(ScalarFormatter())
    ax2.yaxis.set_minor_formatter(ScalarFormatter())
    ax2.set_title("advantage of superposition")
    if by:
        ax2.legend(frameon=False)
    fc.suptitle(fig, ds, "power model gain", note)
    fig.tight_layout()
    fc.save(fig, args.output)


if __name__ == "__main__":
    fc.run(main)
