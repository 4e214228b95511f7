#!/usr/bin/python3
"""Feature geometry of models with m = 2 hidden dimensions: the columns of W as arrows.

One panel per density (or sparsity): each feature's embedding W_i drawn as
an arrow from the origin in the 2-D hidden space, coloured by the feature's
importance (feature 0 the most important), with the unit circle for scale.
As the inputs get sparser the model goes from keeping the 2 most important
features orthogonally, to antipodal pairs, to a pentagon holding all 5
(Elhage et al. 2022, "Toy Models of Superposition", figure 1 / section 3).

    /usr/bin/python3 tools/plot_geometry.py results/tms_geometry.nc -o results/tms_geometry.png

Needs `save_weights: true` (the variable W) and m = 2. A `seed` axis keeps,
per density, the seed with the lowest eval loss; any other axis is fixed at
its first value.
"""
import matplotlib.pyplot as plt
import numpy as np

import figures_common as fc

JOB = "jobs/tms_geometry.yaml"


def main(argv=None):
    args = fc.parse_args(__doc__, argv)
    ds = fc.open_dataset(args.dataset, variables=("W", "norm", "feature_importance"),
                         dims=(fc.SWEEP_AXES,), job=JOB)
    m = fc.setting(ds, "m", kind=int)
    if m != 2:
        raise fc.DatasetError(f"{args.dataset}: the geometry figure needs m = 2 hidden dimensions, "
                              f"this dataset has m = {m}")
    sweep = fc.sweep_axis(ds)
    ds, note = fc.collapse(ds, [sweep])
    values = ds[sweep].values
    n = ds.sizes["feature"]

    nrow = (len(values) + 5) // 6
    ncol = (len(values) + nrow - 1) // nrow
    fig, axes = plt.subplots(nrow, ncol, figsize=(2.4 * ncol + 1.2, 2.7 * nrow + 0.7), squeeze=False)
    cmap = plt.get_cmap("plasma_r")
    # Colour by importance rank: feature 0 (most important) darkest.
    colours = [cmap(0.15 + 0.75 * i / max(n - 1, 1)) for i in range(n)]
    lim = 1.15 * max(1.0, float(ds.norm.max()))
    theta = np.linspace(0, 2 * np.pi, 200)
    for k in range(nrow * ncol):
        ax = axes[k // ncol][k % ncol]
        if k >= len(values):
            ax.axis("off")
            continue
        v = values[k]
        cell = ds.sel({sweep: v})
        ax.set_aspect("equal")
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.plot(np.cos(theta), np.sin(theta), color="0.8", lw=0.7, ls="--", zorder=0)
        ax.axhline(0, color="0.9", lw=0.5, zorder=0)
        ax.axvline(0, color="0.9", lw=0.5, zorder=0)
        ax.set_xticks([-1, 0, 1])
        ax.set_yticks([-1, 0, 1])
        extra = f"  (1/(1-S) = {1 / float(v):.3g})" if sweep == "density" else ""
        ax.set_title(f"{sweep} {fc.fmt(v)}{extra}", fontsize=8)
        if not fc.done(cell):
            fc.mark_not_done(ax, cell)
            continue
        W = cell.W.values  # (neuron, feature)
        norm = cell.norm.values
        # Draw the least important first so the important arrows stay on top.
        for i in reversed(range(n)):
            if not np.isfinite(W[0, i]):
                continue
            x, y = float(W[0, i]), float(W[1, i])
            if np.hypot(x, y) < 1e-3:
                continue
            ax.annotate("", xy=(x, y), xytext=(0, 0),
                        arrowprops=dict(arrowstyle="-|>", color=colours[i], lw=1.6, shrinkA=0, shrinkB=0,
                                        mutation_scale=9))
            ax.text(1.08 * x + 0.03 * np.sign(x), 1.08 * y + 0.03 * np.sign(y), str(i), fontsize=7,
                    color=colours[i], ha="center", va="center")
        rep = int((norm > 0.5).sum())
        ax.text(0.02, 0.02, f"{rep}/{n} represented\nloss {float(cell.eval_loss):.2e}",
                transform=ax.transAxes, fontsize=6.5, color="0.35", va="bottom")
        if k % ncol == 0:
            ax.set_ylabel("hidden dim 2")
        if k // ncol == nrow - 1:
            ax.set_xlabel("hidden dim 1")
    # Legend: one entry per feature with its importance (from the dataset).
    imp = ds.feature_importance.values
    while imp.ndim > 1:
        imp = imp[0]
    handles = [plt.Line2D([], [], color=colours[i], lw=2,
                          label=f"feature {i}, $I_{i}$ = {imp[i]:.3g}" if np.isfinite(imp[i]) else f"feature {i}")
               for i in range(n)]
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False,
               title="importance")
    fc.suptitle(fig, ds, "feature geometry", (note + "; " if note else "") +
                "arrows: columns $W_i$ of W in the 2-D hidden space; dashed: unit circle")
    fig.tight_layout()
    fc.save(fig, args.output)


if __name__ == "__main__":
    fc.run(main)
