#!/usr/bin/python3
"""Per-feature norm and superposition (or capacity) across sparsity, per architecture.

One panel per (row, sparsity): a horizontal bar per feature, most important
on top, its length the norm ||W_i|| and its colour the feature's
superposition sum_{j != i} (W_i/||W_i|| . W_j)^2 (dark: alone in its
direction; bright: shares it) or, with --color capacity, its capacity C_i
(Elhage et al. 2022, "Toy Models of Superposition", figure 3; Scherlis et
al. 2022 for capacity). The panel title gives the number of represented
features (||W_i|| > 0.5).

    /usr/bin/python3 tools/plot_sparsity.py results/tms_sparsity.nc -o results/tms_sparsity.png

Columns: the axis `sparsity` (or `density`, or `kurtosis`; --x chooses).
Rows: the axis `arch` when there is one, else --rows AXIS, else one row.
A `seed` axis keeps the seed with the lowest eval loss; any other axis is
fixed at its first value (said in the subtitle).
"""
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

import figures_common as fc


def options(ap):
    ap.add_argument("--color", choices=("superposition", "capacity"), default="superposition",
                    help="what the bar colour shows (default: superposition)")
    ap.add_argument("--x", help="the axis across columns (default: sparsity, density or kurtosis)")
    ap.add_argument("--rows", help="the axis down the rows (default: arch when it is an axis)")


def main(argv=None):
    args = fc.parse_args(__doc__, argv, options)
    ds = fc.open_dataset(args.dataset, variables=("norm", args.color),
                         dims=((args.x,) if args.x else fc.SWEEP_AXES,), job="jobs/tms_sparsity.yaml")
    sweep = args.x or fc.sweep_axis(ds)
    rows = args.rows or ("arch" if "arch" in fc.grid_axes(ds) and sweep != "arch" else None)
    if rows and rows not in fc.grid_axes(ds):
        raise fc.DatasetError(f"{args.dataset}: --rows {rows} is not a grid axis "
                              f"(axes: {', '.join(fc.grid_axes(ds))})")
    keep = [sweep] + ([rows] if rows else [])
    ds, note = fc.collapse(ds, keep)

    row_vals = [None] if rows is None else list(ds[rows].values)
    values = ds[sweep].values
    nfeat = int(np.isfinite(ds.norm).any([d for d in ds.norm.dims if d != "feature"]).sum())
    height = max(2.4, 0.16 * nfeat + 0.8)
    fig, axes = plt.subplots(len(row_vals), len(values),
                             figsize=(1.55 * len(values) + 1.6, height * len(row_vals)),
                             sharex=True, sharey=True, squeeze=False)
    cmap = plt.get_cmap("viridis")
    # Superposition is unbounded above (it counts other features); the colour saturates at 1,
    # the value of one other feature along the same direction.
    xmax = 1.05 * max(1.0, float(ds.norm.max()))
    for r, rv in enumerate(row_vals):
        for c, v in enumerate(values):
            ax = axes[r][c]
            sel = {sweep: v}
            if rows:
                sel[rows] = rv
            cell = ds.sel(sel)
            if r == 0:
                ax.set_title(f"{sweep} {fc.fmt(v)}")
            if c == 0:
                ax.set_ylabel("feature i (most important on top)")
                if rows:
                    ax.annotate(fc.fmt(rv), xy=(-0.62, 0.5), xycoords="axes fraction", rotation=90,
                                ha="center", va="center", fontsize=10, fontweight="bold")
            if r == len(row_vals) - 1:
                ax.set_xlabel(r"$\|W_i\|$")
            if not fc.done(cell):
                fc.mark_not_done(ax, cell)
                continue
            norm = cell.norm.values
            colour = cell[args.color].values
            ok = np.isfinite(norm)
            feats = np.arange(len(norm))[ok]
            ax.barh(feats, norm[ok], color=cmap(np.clip(colour[ok], 0, 1)), height=0.8)
            ax.axvline(0.5, color="0.6", lw=0.6, ls=":")
            rep = int((norm[ok] > 0.5).sum())
            ax.text(0.97, 0.02, f"{rep} repr.", transform=ax.transAxes, ha="right", va="bottom",
                    fontsize=7, color="0.3")
    axes[0][0].set_xlim(0, xmax)
    axes[0][0].yaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0][0].set_ylim(nfeat - 0.5, -0.5)
    fc.suptitle(fig, ds, "norm and superposition per feature", note)
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 1))
    label = ("superposition of feature i, " + r"$\sum_{j\neq i} (\hat W_i \cdot W_j)^2$ (clipped at 1)"
             if args.color == "superposition" else r"capacity $C_i$ of feature i")
    fig.colorbar(sm, ax=axes, shrink=0.6, aspect=30, label=label)
    fc.save(fig, args.output)


if __name__ == "__main__":
    fc.run(main)
