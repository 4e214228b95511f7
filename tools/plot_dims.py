#!/usr/bin/python3
"""Dimensions per feature against 1/(1-S), and the distribution of feature capacities.

Top: the model's dimensions per feature D* = m / ||W||_F^2 (line) and every
feature's dimensionality D_i = C_i = ||W_i||^4 / sum_j (W_i . W_j)^2 (dots)
against 1/(1-S) = 1/density on a log axis, with dotted guides at the
fractions 1, 3/4, 2/3, 1/2, 2/5, 3/8, 1/3 and at m/n. As the inputs get
sparser, D* falls from 1 to m/n, sticking at 1/2 (antipodal pairs) on the
way, and the D_i cluster at the fractions of the polytopes the features form
(Elhage et al. 2022, "Toy Models of Superposition", section "The geometry of
superposition").

Bottom: for each density, the distribution of C_i over the features the
model uses (C_i > 0.01), as the fraction of those features in each capacity
bin.

    /usr/bin/python3 tools/plot_dims.py results/tms_dims.nc -o results/tms_dims.png

Needs the axis `density` (or `sparsity`). A `seed` axis is pooled: the line
is the mean of D* over seeds, the dots and the distribution hold every seed's
features. Any other axis is fixed at its first value.
"""
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm

import figures_common as fc

JOB = "jobs/tms_dims.yaml"
FRACTIONS = [(1, "1"), (3 / 4, "3/4"), (2 / 3, "2/3"), (1 / 2, "1/2"), (2 / 5, "2/5"), (3 / 8, "3/8"),
             (1 / 3, "1/3")]


def main(argv=None):
    args = fc.parse_args(__doc__, argv)
    ds = fc.open_dataset(args.dataset, variables=("dims_per_feature", "capacity"),
                         dims=(("density", "sparsity"),), job=JOB)
    axis = "density" if "density" in fc.grid_axes(ds) else "sparsity"
    keep = [axis] + (["seed"] if "seed" in fc.grid_axes(ds) else [])
    ds, note = fc.collapse(ds, keep)
    if "seed" not in ds.dims:
        ds = ds.expand_dims("seed", axis=-1)
    ok = ds.status == 1
    dens = ds[axis].values if axis == "density" else 1 - ds[axis].values
    x = 1 / dens
    order = np.argsort(x)
    n = ds.sizes["feature"]
    m = fc.setting(ds, "m", kind=int)

    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(7.5, 7.2), sharex=True,
                                  gridspec_kw={"height_ratios": [1.4, 1]})
    dstar = ds.dims_per_feature.where(ok).transpose(axis, "seed").values
    cap = ds.capacity.where(ok).transpose(axis, "seed", "feature").values
    for v, lab in FRACTIONS:
        ax.axhline(v, color="0.75", lw=0.6, ls=":")
        ax.text(1.01, v, lab, transform=ax.get_yaxis_transform(), fontsize=7, va="center", color="0.4")
    ax.axhline(m / n, color="tab:red", lw=0.6, ls=":")
    ax.text(1.01, m / n, "m/n", transform=ax.get_yaxis_transform(), fontsize=7, va="center", color="tab:red")
    # Dots: every feature with C_i > 0.01 (unused features would pile up at 0), jittered in x.
    rng = np.random.default_rng(0)
    xs, ys = [], []
    for k in range(len(x)):
        c = cap[k].ravel()
        c = c[np.isfinite(c) & (c > 0.01)]
        xs.append(x[k] * np.exp(rng.uniform(-0.06, 0.06, len(c))))
        ys.append(c)
    if xs:
        ax.scatter(np.concatenate(xs), np.concatenate(ys), s=4, color="tab:blue", alpha=0.35, lw=0,
                   label=r"feature dimensionality $D_i = C_i$ (features with $C_i > 0.01$)")
    mean = np.nanmean(dstar, axis=1)
    ax.plot(x[order], mean[order], color="k", lw=1.6, marker="o", ms=3,
            label=r"dimensions per feature $D^* = m / \|W\|_F^2$" + (" (mean over seeds)" if dstar.shape[1] > 1 else ""))
    ax.set_xscale("log")
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("dimensions per feature")
    ax.legend(loc="upper right", frameon=False)
    ax.set_title(f"n = {n} features, m = {m} dimensions")

    # Bottom: per-density distribution of C_i (features with C_i > 0.01), fraction per bin.
    bins = np.linspace(0, 1, 41)
    xe, xo = fc.log_edges(x)
    hist = np.full((len(bins) - 1, len(x)), np.nan)
    for col, k in enumerate(xo):
        c = cap[k].ravel()
        c = c[np.isfinite(c) & (c > 0.01)]
        if len(c):
            hist[:, col] = np.histogram(c, bins=bins)[0] / len(c)
    hist[hist == 0] = np.nan
    im = ax2.pcolormesh(xe, bins, hist, cmap="viridis", norm=LogNorm(vmin=1e-3, vmax=1), shading="flat")
    for v, _ in FRACTIONS:
        ax2.axhline(v, color="0.75", lw=0.5, ls=":")
    ax2.set_xscale("log")
    ax2.set_xlabel("1 / (1 - S) = 1 / feature density")
    ax2.set_ylabel(r"capacity $C_i$")
    ax2.set_title(r"distribution of $C_i$ over the features with $C_i > 0.01$")
    fig.colorbar(im, ax=ax2, label="fraction of features", pad=0.08)
    fc.suptitle(fig, ds, "dimensions per feature", note)
    fig.tight_layout()
    fc.save(fig, args.output)


if __name__ == "__main__":
    fc.run(main)
