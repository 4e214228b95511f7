#!/usr/bin/python3
"""Trained against predicted capacities of the quadratic model (Scherlis et al. 2022).

Left: every feature of every done task, its trained capacity C_i against the
capacity the exact theory predicts for the task's importances, kurtosis K and
m (`predicted_capacity`), coloured by K, with the identity line; circles are
models trained on the exact population loss, triangles on sampled batches
(when `population_loss` is an axis). Middle: capacity against importance for
each kurtosis of the first importance profile (lines: prediction, dots:
trained): for K <= 3 the m most important features get C = 1 and the rest 0;
for K > 3 a band of features is polysemantic with capacity affine in
importance. Right: the trained model's loss divided by the predicted optimal
loss (1 = optimal; population-loss models use their exact final loss,
sampled ones the evaluation loss).

    /usr/bin/python3 tools/plot_capacity.py results/cap_quadratic.nc -o results/cap_quadratic.png

Needs a `quadratic` dataset with a zero-mean value law (the variables
`predicted_capacity` and `input_kurtosis` hold values). A `seed` axis keeps
the seed with the lowest eval loss.
"""
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm

import figures_common as fc

JOB = "jobs/cap_quadratic.yaml"


def main(argv=None):
    args = fc.parse_args(__doc__, argv)
    ds = fc.open_dataset(args.dataset, variables=("capacity", "predicted_capacity", "predicted_loss",
                                                  "input_kurtosis", "feature_importance"), job=JOB)
    if not bool(np.isfinite(ds.predicted_capacity).any()):
        raise fc.DatasetError(f"{args.dataset}: predicted_capacity is empty: the prediction exists only "
                              "for arch quadratic with a zero-mean value law (uniform_signed, gaussian, "
                              f"rademacher); make the dataset with {JOB}")
    axes_all = fc.grid_axes(ds)
    keep = [a for a in axes_all if a != "seed"]
    ds, note = fc.collapse(ds, keep)
    ok = (ds.status == 1)
    pop_axis = "population_loss" in ds.dims
    K = ds.input_kurtosis.where(ok)
    kmin, kmax = float(K.min()), float(K.max())
    knorm = LogNorm(vmin=kmin, vmax=kmax if kmax > kmin else kmin * 1.01)
    cmap = plt.get_cmap("viridis")

    fig, (ax, ax2, ax3) = plt.subplots(1, 3, figsize=(14.5, 4.6), gridspec_kw={"width_ratios": [1, 1.15, 0.9]})
    # Left: scatter over every task and feature.
    groups = [(None, "o", "")] if not pop_axis else [
        (v, "o" if bool(v) else "^", "population loss" if bool(v) else "sampled batches")
        for v in ds.population_loss.values]
    for val, marker, label in groups:
        sub = ds if val is None else ds.sel(population_loss=val)
        okk = (sub.status == 1)
        pred = sub.predicted_capacity.where(okk)
        kk = sub.input_kurtosis.where(okk).broadcast_like(pred)
        trained = sub.capacity.where(okk)
        sel = np.isfinite(pred.values) & np.isfinite(trained.values)
        ax.scatter(pred.values[sel], trained.values[sel], c=kk.values[sel], cmap=cmap, norm=knorm,
                   marker=marker, s=14 if marker == "o" else 18, alpha=0.7, linewidths=0,
                   label=label or None)
    ax.plot([0, 1], [0, 1], color="k", lw=0.8, ls="--", label="identity")
    ax.set_xlim(-0.03, 1.03)
    ax.set_ylim(-0.03, 1.03)
    ax.set_aspect("equal")
    ax.set_xlabel(r"predicted capacity $C_i$ (optimal allocation)")
    ax.set_ylabel(r"trained capacity $C_i$")
    ax.set_title("every feature of every model")
    ax.legend(loc="upper left", frameon=False)
    fig.colorbar(plt.cm.ScalarMappable(norm=knorm, cmap=cmap), ax=ax, label="input kurtosis K", shrink=0.8)

    # Middle: capacity against importance, per kurtosis, for the first importance profile
    # (and population loss when that is an axis, else the first value of other axes).
    other = {a: ds[a].values[0] for a in ds.status.dims if a not in ("kurtosis",)}
    if pop_axis:
        other["population_loss"] = ds.population_loss.values[0]
    sub = ds.sel(other) if other else ds
    kaxis = "kurtosis" if "kurtosis" in sub.dims else None
    kvals = sub.kurtosis.values if kaxis else [None]
    for kv in kvals:
        cell = sub.sel(kurtosis=kv) if kaxis else sub
        if not fc.done(cell):
            continue
        imp = cell.feature_importance.values
        kval = float(cell.input_kurtosis)
        col = cmap(knorm(kval))
        o = np.argsort(imp)
        ax2.plot(imp[o], cell.predicted_capacity.values[o], color=col, lw=1.3)
        ax2.scatter(imp, cell.capacity.values, color=col, s=12, zorder=3, label=f"K = {kval:.3g}")
    ax2.set_xscale("log")
    ax2.set_xlabel(r"importance $I_i$")
    ax2.set_ylabel(r"capacity $C_i$")
    desc = ", ".join(fc.coord_label(ds, a, v) for a, v in other.items())
    ax2.set_title("capacity against importance" + (f"\n({desc})" if desc else ""))
    ax2.legend(loc="upper left", frameon=False, title="dots trained, lines predicted", fontsize=7)

    # Right: loss relative to the predicted optimum, against kurtosis.
    for val, marker, label in groups:
        s2 = ds if val is None else ds.sel(population_loss=val)
        okk = s2.status == 1
        loss = (s2.final_loss if (val is not None and bool(val)) else s2.eval_loss).where(okk)
        ratio = (loss / s2.predicted_loss).values.ravel()
        kk = s2.input_kurtosis.where(okk).values.ravel()
        sel = np.isfinite(ratio) & np.isfinite(kk)
        ax3.scatter(kk[sel], ratio[sel], marker=marker, c=kk[sel], cmap=cmap, norm=knorm, s=22,
                    alpha=0.8, linewidths=0, label=label or None)
    ax3.axhline(1, color="k", lw=0.8, ls="--")
    ax3.axvline(3, color="0.6", lw=0.6, ls=":")
    ax3.text(3, 1.0, " K = 3", transform=ax3.get_xaxis_transform(), fontsize=7, color="0.4", va="top")
    ax3.set_xscale("log")
    ax3.set_xlabel("input kurtosis K")
    ax3.set_ylabel("trained loss / predicted optimal loss")
    ax3.set_title("how close training came to the optimum")
    if pop_axis:
        ax3.legend(frameon=False, fontsize=7)
    fc.suptitle(fig, ds, "quadratic model: trained vs predicted capacity", note)
    fig.tight_layout()
    fc.save(fig, args.output)


if __name__ == "__main__":
    fc.run(main)
