#!/usr/bin/python3
"""The weight matrix W (neurons x features) across sparsity, for a privileged neuron basis.

One panel per sparsity: W as a heat map, a row per neuron and a column per
feature (most important on the left), red positive and blue negative. With a
ReLU on the hidden layer (`relu_hidden`) the neuron basis is privileged, so
a neuron's row means something on its own: dense inputs give monosemantic
neurons (one feature per row, the m most important features), sparser
inputs pack more features into each neuron - polysemantic neurons (Elhage et
al. 2022, "Toy Models of Superposition", section "Superposition in a
privileged basis"). Under each panel: the participation ratio of every
neuron, (sum_i W_ji^2)^2 / sum_i W_ji^4, about the number of features it
carries; the title counts the neurons holding 2 or more features with
|W_ji| in [neuron_window_lo, neuron_window_hi] (default [0.8, 1.2]). The
colour scale ends at the 99th percentile of |W|.

    /usr/bin/python3 tools/plot_weights.py results/tms_privileged.nc -o results/tms_privileged.png

Needs `save_weights: true` (W) and the axis `sparsity` (or `density`, or
`kurtosis`). A `seed` axis keeps the seed with the lowest eval loss; any
other axis is fixed at its first value.
"""
import matplotlib.pyplot as plt
import numpy as np

import figures_common as fc

JOB = "jobs/tms_privileged.yaml"


def main(argv=None):
    args = fc.parse_args(__doc__, argv)
    ds = fc.open_dataset(args.dataset, variables=("W",), dims=(fc.SWEEP_AXES,), job=JOB)
    sweep = fc.sweep_axis(ds)
    ds, note = fc.collapse(ds, [sweep])
    values = ds[sweep].values
    m, n = ds.sizes["neuron"], ds.sizes["feature"]
    has_pr = "neuron_participation" in ds and bool(np.isfinite(ds.neuron_participation).any())
    # Colour limit: the 99th percentile of |W| (a few large weights would wash out the rest).
    vmax = float(np.nanpercentile(np.abs(ds.W.values), 99))

    ncol = len(values)
    fig, axes = plt.subplots(2 if has_pr else 1, ncol, figsize=(1.9 * ncol + 1.3, 0.33 * m + (3.0 if has_pr else 1.6)),
                             squeeze=False, layout="constrained",
                             gridspec_kw={"height_ratios": [max(m, 3), 2.4]} if has_pr else None)
    im = None
    prmax = max(2.0, float(np.nanmax(ds.neuron_participation.values)) * 1.05) if has_pr else 0
    for c, v in enumerate(values):
        ax = axes[0][c]
        cell = ds.sel({sweep: v})
        head = f"{sweep} {fc.fmt(v)}"
        if not fc.done(cell):
            ax.set_title(head)
            fc.mark_not_done(ax, cell)
            continue
        if "polysemantic_neurons" in cell and np.isfinite(float(cell.polysemantic_neurons)):
            head += f"\n{int(cell.polysemantic_neurons)} polysemantic"
        ax.set_title(head)
        W = cell.W.values
        im = ax.imshow(W, cmap="RdBu_r", vmin=-vmax, vmax=vmax, aspect="auto", interpolation="nearest",
                       extent=(-0.5, n - 0.5, m - 0.5, -0.5))
        ax.set_yticks(range(m))
        ax.set_xticks(range(0, n, max(1, n // 5)))
        ax.set_xlabel("feature i")
        if c == 0:
            ax.set_ylabel("neuron j")
        if has_pr:
            ax2 = axes[1][c]
            pr = cell.neuron_participation.values
            ax2.barh(np.arange(m), pr, color="tab:purple", height=0.7)
            ax2.set_ylim(m - 0.5, -0.5)
            ax2.set_xlim(0, prmax)
            ax2.set_xlabel("participation ratio")
            ax2.axvline(1, color="0.6", lw=0.6, ls=":")
            ax2.set_yticks(range(m))
            if c == 0:
                ax2.set_ylabel("neuron j")
    if im is not None:
        fig.colorbar(im, ax=axes[0].tolist(), label=r"weight $W_{ji}$", shrink=0.95, extend="both")
    fc.suptitle(fig, ds, "weights per neuron", note)
    fc.save(fig, args.output)


if __name__ == "__main__":
    fc.run(main)
