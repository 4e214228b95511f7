#!/usr/bin/python3
"""Plot a TMS-style sweep: per-feature norm and superposition across sparsity.

One panel per (architecture, sparsity): a horizontal bar per feature, its
length the norm ||W_i|| and its colour the feature's superposition
sum_{j != i} (W_i/||W_i|| . W_j)^2 (dark: alone in its direction, bright:
shares it), as in Elhage et al. 2022, "Toy Models of Superposition", figure 3.

    /usr/bin/python3 tools/plot_quickstart.py results/quickstart.nc -o results/quickstart.png

Reads only the dataset; needs the axes `arch` and `sparsity` (or `density`),
other axes are averaged over their first value.
"""
import argparse
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset")
    ap.add_argument("-o", "--output", required=True, help="PNG to write")
    args = ap.parse_args(argv)

    ds = xr.open_dataset(args.dataset)
    sweep = "sparsity" if "sparsity" in ds.dims else "density" if "density" in ds.dims else None
    if sweep is None or "arch" not in ds.dims:
        sys.exit(f"{args.dataset}: needs the axes 'arch' and 'sparsity' (or 'density'); has {list(ds.dims)}")
    # Any other axis (seed, ...): take its first value.
    extra = [d for d in ds.status.dims if d not in ("arch", sweep)]
    ds = ds.isel({d: 0 for d in extra})

    archs = [str(a) for a in ds.arch.values]
    values = ds[sweep].values
    fig, axes = plt.subplots(len(archs), len(values), figsize=(1.6 * len(values) + 1.2, 3.2 * len(archs)),
                             sharex=True, sharey=True, squeeze=False)
    cmap = plt.get_cmap("viridis")
    for r, arch in enumerate(archs):
        for c, v in enumerate(values):
            ax = axes[r][c]
            cell = ds.sel(arch=arch, **{sweep: v})
            norm = cell.norm.values
            sup = cell.superposition.values
            ok = np.isfinite(norm)
            feats = np.arange(len(norm))[ok]
            ax.barh(feats, norm[ok], color=cmap(np.clip(sup[ok], 0, 1)), height=0.8)
            ax.set_xlim(0, 1.3)
            ax.invert_yaxis() if (r == 0 and c == 0) else None
            if r == 0:
                ax.set_title(f"{sweep} {v:g}", fontsize=9)
            if c == 0:
                ax.set_ylabel(f"{arch}\nfeature (most important on top)")
            if r == len(archs) - 1:
                ax.set_xlabel("||W_i||")
            status = int(cell.status.values)
            if status != 1:
                ax.text(0.5, 0.5, "pending" if status == 0 else "failed", transform=ax.transAxes,
                        ha="center", color="red")
    fig.suptitle(str(ds.attrs.get("title", args.dataset)), fontsize=10)
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 1))
    fig.colorbar(sm, ax=axes, shrink=0.6, label="superposition of feature i")
    fig.savefig(args.output, dpi=120, bbox_inches="tight")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
