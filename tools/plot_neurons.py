#!/usr/bin/python3
"""Polysemantic neurons against the number of neurons m (incidental polysemanticity).

Left: the number of polysemantic neurons (neurons holding two or more
features with |W_ji| in the window [0.8, 1.2]) against m, log-log, every
seed as a dot and the mean as a line, with the random-collision estimate
n^2 / (4m): each of the n(n-1)/2 feature pairs starts out on the same
neuron with probability about 1/m, and a collision survives training when
the two weights have opposite signs (their interference is then cut by the
ReLU), probability 1/2 (Lecomte et al. 2023, "What causes
polysemanticity?", which finds Theta(n^2/m)). Right: how many features each
neuron holds, as the fraction of neurons with 0, 1, 2, 3+ features, per m.

    /usr/bin/python3 tools/plot_neurons.py results/inc_incidental.nc -o results/inc_incidental.png

Needs the axis `m` and the neuron measures (a privileged basis: `l1 > 0`,
`relu_hidden` or `quadratic`). A `seed` axis is pooled (every seed is a dot);
any other axis is fixed at its first value. n is the size of the `feature`
dimension (the largest n of the grid).
"""
import matplotlib.pyplot as plt
import numpy as np

import figures_common as fc

JOB = "jobs/inc_incidental.yaml"


def main(argv=None):
    args = fc.parse_args(__doc__, argv)
    ds = fc.open_dataset(args.dataset, variables=("polysemantic_neurons", "neuron_features"),
                         dims=("m",), job=JOB)
    if not bool(np.isfinite(ds.polysemantic_neurons).any()):
        raise fc.DatasetError(f"{args.dataset}: polysemantic_neurons is empty: neuron measures exist only "
                              "for a privileged neuron basis (l1 > 0, relu_hidden or quadratic); "
                              f"make the dataset with {JOB}")
    keep = ["m"] + (["seed"] if "seed" in fc.grid_axes(ds) else [])
    ds, note = fc.collapse(ds, keep)
    if "seed" not in ds.dims:
        ds = ds.expand_dims("seed", axis=-1)
    n = ds.sizes["feature"]
    ms = ds.m.values.astype(float)
    ok = ds.status == 1
    poly = ds.polysemantic_neurons.where(ok).transpose("m", "seed").values

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11.5, 4.4), gridspec_kw={"width_ratios": [1.2, 1]})
    for s in range(poly.shape[1]):
        y = poly[:, s]
        jitter = np.exp(np.linspace(-0.04, 0.04, poly.shape[1])[s]) if poly.shape[1] > 1 else 1
        # log axis: show 0 at the bottom edge, marked as such
        ax.scatter(ms * jitter, np.where(y > 0, y, np.nan), s=12, color="tab:blue", alpha=0.45, lw=0,
                   label="one seed" if s == 0 else None)
    mean = np.nanmean(poly, axis=1)
    ax.plot(ms, np.where(mean > 0, mean, np.nan), "o-", color="tab:blue", lw=1.8, ms=4,
            label=f"mean over {poly.shape[1]} seed{'s' if poly.shape[1] > 1 else ''}")
    mfine = np.geomspace(ms.min(), ms.max(), 50)
    ax.plot(mfine, n * n / (4 * mfine), "k--", lw=1, label=r"$n^2 / (4m)$ (random collisions, opposite signs)")
    zeros = int(np.sum(poly == 0))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(ms)
    ax.set_xticklabels([str(int(v)) for v in ms])
    ax.minorticks_off()
    ax.set_xlabel("number of neurons m")
    ax.set_ylabel("polysemantic neurons")
    ax.set_title(f"n = {n} features" + (f" ({zeros} models with none, not shown on the log axis)" if zeros else ""))
    ax.legend(frameon=False)

    # Right: distribution of features per neuron (pooled over seeds), stacked.
    nf = ds.neuron_features.where(ok).transpose("m", "seed", "neuron").values
    cats = ["0 features", "1 feature", "2 features", "3+ features"]
    frac = np.zeros((len(ms), 4))
    for k in range(len(ms)):
        v = nf[k].ravel()
        v = v[np.isfinite(v)]
        if len(v):
            frac[k] = [np.mean(v == 0), np.mean(v == 1), np.mean(v == 2), np.mean(v >= 3)]
    xs = np.arange(len(ms))
    bottom = np.zeros(len(ms))
    colours = ["#dddddd", "#6baed6", "#fd8d3c", "#d62728"]
    for c in range(4):
        ax2.bar(xs, frac[:, c], bottom=bottom, color=colours[c], label=cats[c])
        bottom += frac[:, c]
    ax2.set_xticks(xs)
    ax2.set_xticklabels([str(int(v)) for v in ms])
    ax2.set_xlabel("number of neurons m")
    ax2.set_ylabel("fraction of neurons")
    ax2.set_title(r"features per neuron ($|W_{ji}|$ in the window)")
    ax2.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fc.suptitle(fig, ds, "incidental polysemanticity", note)
    fig.tight_layout()
    fc.save(fig, args.output)


if __name__ == "__main__":
    fc.run(main)
