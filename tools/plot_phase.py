#!/usr/bin/python3
"""Phase diagram of the n = 2, m = 1 model: which features the one hidden dimension holds.

Feature 1 (index 0) has importance 1, the "extra" feature 2 (index 1) has
importance r (`importance: decay` with `importance_rate: r`, so I = (1, r));
both have the same density. For each (density, r) the trained model is put
in one of these phases (Elhage et al. 2022, "Toy Models of Superposition",
section "Superposition as a phase change"):

  feature 2 not represented   ||W_1|| > 0.5, ||W_2|| <= 0.5
  feature 2 dedicated         ||W_2|| > 0.5, ||W_1|| <= 0.5 (it takes the dimension)
  superposition               both > 0.5, antipodal (W_1 W_2 < 0: they share the
                              dimension in opposite directions)
  both, same sign             both > 0.5, W_1 W_2 > 0 (not expected at an optimum)
  none                        both <= 0.5

(0.5 is the "represented" threshold of the paper. Without saved weights the
sign is unknown and "superposition" means both represented.)

Seeds (rule, --rule majority, the default): drop the seed with the highest
evaluation loss, then show the phase most of the remaining seeds are in;
a tie goes to the tied phase of the lowest-loss seed. --rule best shows the
phase of the lowest-loss seed. The right panel shows the fraction of the
seeds counted that agree with the phase shown.

The middle panel is the theory for the same model (relu_output with bias,
uniform values): the lowest expected loss among "feature 1 only" (W = (1, 0):
loss r Var(x_2)), "feature 2 only" (Var(x_1)) and the antipodal family
W = (a, -c), with the optimal biases, minimised over a, c on a grid of
[0.02, 1.6]^2; the expectation is exact (closed forms in one variable,
48-point Gauss-Legendre in the other). Its optimum is classified with the same
0.5 threshold. --no-theory skips it (it takes about a second per density).

    /usr/bin/python3 tools/plot_phase.py results/tms_phase.nc -o results/tms_phase.png

Needs n = 2, m = 1 and the axes `importance_rate` and `density` (or `sparsity`).
"""
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.patches import Patch

import figures_common as fc

JOB = "jobs/tms_phase.yaml"
PHASES = [
    ("none", "#dddddd"),
    ("feature 2 not represented", "#9ecae1"),
    ("feature 2 dedicated", "#fdae6b"),
    ("superposition (antipodal)", "#c51b8a"),
    ("both, same sign", "#31a354"),
]


def options(ap):
    ap.add_argument("--rule", choices=("majority", "best"), default="majority",
                    help="how seeds are combined (default: majority of all but the worst)")
    ap.add_argument("--no-theory", action="store_true", help="do not compute the theoretical diagram")


# --- Theory: expected loss of x' = ReLU(G x + b), n = 2, m = 1, x_i = Bernoulli(p) U[0, 1] ---
_GX, _GW = np.polynomial.legendre.leggauss(48)
_GX, _GW = (_GX + 1) / 2, _GW / 2  # Gauss-Legendre on [0, 1]


def _f(alpha, beta):
    """int_0^1 (u - ReLU(alpha u + beta))^2 du for alpha > 0: zero output below
    u0 = -beta/alpha, then the square of a linear function."""
    t = np.clip(-beta / alpha, 0, 1)
    g = 1 - alpha
    return t ** 3 / 3 + g * g * (1 - t ** 3) / 3 - g * beta * (1 - t * t) + beta * beta * (1 - t)


def _g(k, b):
    """int_0^1 ReLU(b - k v)^2 dv for k >= 0."""
    bp = np.maximum(b, 0)
    s = np.minimum(1, bp / np.maximum(k, 1e-300))
    return bp * bp * s - bp * k * s * s + k * k * s ** 3 / 3


def _expected(alpha, k, b, p):
    """E (x1 - ReLU(alpha x1 - k x2 + b))^2: both zero, only x1, only x2, both active."""
    # Over the nodes in chunks of 4, so that no temporary exceeds glibc's mmap threshold
    # (large temporaries are mapped and unmapped every call: mostly system time).
    both = 0
    for c in range(0, len(_GX), 4):
        x, w = _GX[c:c + 4], _GW[c:c + 4]
        both = both + (_f(alpha[..., None], b[..., None] - k[..., None] * x) * w).sum(-1)
    return ((1 - p) ** 2 * np.maximum(b, 0) ** 2 + p * (1 - p) * (_f(alpha, b) + _g(k, b))
            + p * p * both)


def _best_over_bias(alpha, k, p, iters=40):
    """min over b in [-2, 1] by golden-section search (elementwise over the table)."""
    gr = (np.sqrt(5) - 1) / 2
    lo, hi = np.full(alpha.shape, -2.0), np.full(alpha.shape, 1.0)
    for _ in range(iters):
        x1, x2 = hi - gr * (hi - lo), lo + gr * (hi - lo)
        left = _expected(alpha, k, x1, p) < _expected(alpha, k, x2, p)
        hi = np.where(left, x2, hi)
        lo = np.where(left, lo, x1)
    return _expected(alpha, k, (lo + hi) / 2, p)


def theory(rs, dens, na=61):
    """Theoretical phase index for each (r, density)."""
    a = np.linspace(0.02, 1.6, na)
    A, C = np.meshgrid(a, a, indexing="ij")
    out = np.zeros((len(rs), len(dens)), dtype=int)
    for j, p in enumerate(dens):
        var = p / 3 - p * p / 4  # Var of Bernoulli(p) U[0, 1]: the loss of an unrepresented feature
        F = _best_over_bias(A * A, A * C, p)  # feature 1's loss with W = (a, -c); feature 2's is F.T
        for i, r in enumerate(rs):
            tot = F + r * F.T
            k = np.unravel_index(np.argmin(tot), tot.shape)
            cand = [r * var, var, tot[k]]
            best = int(np.argmin(cand))
            if best < 2:
                out[i, j] = best + 1
            else:
                ra, rc = a[k[0]] > 0.5, a[k[1]] > 0.5
                out[i, j] = 3 if (ra and rc) else 1 if ra else 2 if rc else 0
    return out


def classify(norm, w):
    """Phase index per task from norm (..., 2) and W (..., 2) or None."""
    rep = norm > 0.5
    ph = np.zeros(norm.shape[:-1], dtype=int)
    ph[rep[..., 0] & ~rep[..., 1]] = 1
    ph[~rep[..., 0] & rep[..., 1]] = 2
    both = rep[..., 0] & rep[..., 1]
    ph[both] = 3
    if w is not None:
        ph[both & (w[..., 0] * w[..., 1] > 0)] = 4
    return ph


def combine(phase, loss, rule):
    """Combine over the last axis (seeds): returns (phase, agreement fraction, seeds counted)."""
    out = np.full(phase.shape[:-1], -1)
    agree = np.full(phase.shape[:-1], np.nan)
    for idx in np.ndindex(*phase.shape[:-1]):
        ph, lo = phase[idx], loss[idx]
        ok = np.isfinite(lo)
        ph, lo = ph[ok], lo[ok]
        if len(ph) == 0:
            continue
        order = np.argsort(lo)
        ph = ph[order]  # best first
        if rule == "best":
            kept = ph
            out[idx] = ph[0]
        else:
            kept = ph[:-1] if len(ph) > 1 else ph  # drop the worst (highest loss)
            counts = np.bincount(kept, minlength=len(PHASES))
            tied = np.flatnonzero(counts == counts.max())
            out[idx] = next(p for p in kept if p in tied)  # the tied phase of the best seed
        agree[idx] = float(np.mean(kept == out[idx]))
    return out, agree


def main(argv=None):
    args = fc.parse_args(__doc__, argv, options)
    ds = fc.open_dataset(args.dataset, variables=("norm", "eval_loss"),
                         dims=("importance_rate", ("density", "sparsity")), job=JOB)
    n, m = fc.setting(ds, "n", kind=int), fc.setting(ds, "m", kind=int)
    if n != 2 or m != 1:
        raise fc.DatasetError(f"{args.dataset}: the phase diagram needs n = 2 features and m = 1 "
                              f"dimension; this dataset has n = {n}, m = {m}")
    dens_axis = "density" if "density" in fc.grid_axes(ds) else "sparsity"
    keep = ["importance_rate", dens_axis] + (["seed"] if "seed" in fc.grid_axes(ds) else [])
    ds, note = fc.collapse(ds, keep)
    if "seed" not in ds.dims:
        ds = ds.expand_dims("seed", axis=-1)
    order = ["importance_rate", dens_axis, "seed"]
    norm = ds.norm.transpose(*order, "feature").values
    w = ds.W.isel(neuron=0).transpose(*order, "feature").values if "W" in ds else None
    loss = ds.eval_loss.where(ds.status == 1).transpose(*order).values
    phase = classify(np.nan_to_num(norm), None if w is None else np.nan_to_num(w))
    shown, agree = combine(phase, loss, args.rule)

    r = ds.importance_rate.values
    dens = ds[dens_axis].values if dens_axis == "density" else 1 - ds[dens_axis].values
    xe, xo = fc.log_edges(dens)
    ye, yo = fc.log_edges(r)
    grid = shown[np.ix_(yo, xo)].astype(float)
    grid[grid < 0] = np.nan
    agr = agree[np.ix_(yo, xo)]

    settings_ok = (fc.setting(ds, "arch", "relu_output") == "relu_output"
                   and fc.setting(ds, "values", "uniform") == "uniform"
                   and fc.setting(ds, "bias", True, bool) and "arch" not in fc.grid_axes(ds))
    with_theory = not args.no_theory and settings_ok
    ncols = 3 if with_theory else 2
    fig, axs = plt.subplots(1, ncols, figsize=(5.2 * ncols, 4.6),
                            gridspec_kw={"width_ratios": [1] * (ncols - 1) + [1.15]})
    ax, ax2 = axs[0], axs[-1]
    cmap = ListedColormap([c for _, c in PHASES])
    cnorm = BoundaryNorm(np.arange(len(PHASES) + 1) - 0.5, len(PHASES))
    ax.pcolormesh(xe, ye, grid, cmap=cmap, norm=cnorm, shading="flat")
    present = set(int(p) for p in np.unique(grid[np.isfinite(grid)]))
    if with_theory:
        # On a finer grid than the sweep, over the same ranges.
        tr = np.geomspace(r.min(), r.max(), 41)
        td = np.geomspace(dens.min(), dens.max(), 25)
        th = theory(tr, td).astype(float)
        txe, _ = fc.log_edges(td)
        tye, _ = fc.log_edges(tr)
        axs[1].pcolormesh(txe, tye, th, cmap=cmap, norm=cnorm, shading="flat")
        axs[1].set_title("theory (lowest expected loss)")
        present |= set(int(p) for p in np.unique(th))
        # The theory's boundaries over the trained diagram.
        ax.contour(np.sqrt(txe[1:] * txe[:-1]), np.sqrt(tye[1:] * tye[:-1]), (th == 3).astype(float),
                   levels=[0.5], colors="k", linewidths=0.9, linestyles="--")
    for a in axs:
        a.set_xscale("log")
        a.set_yscale("log")
        a.set_xlabel("feature density 1 - S")
        a.set_ylabel("relative importance r of feature 2 (I = (1, r))")
        a.axhline(1, color="k", lw=0.5, ls=":")
    nseeds = ds.sizes["seed"]
    rule = ("phase of the lowest-loss seed" if args.rule == "best" else
            f"majority of the {max(nseeds - 1, 1)} best of {nseeds} seeds (worst dropped)")
    ax.set_title(f"trained: {rule}" + ("\n(dashed: theory's boundaries)" if with_theory else ""))
    fig.legend(handles=[Patch(color=PHASES[p][1], label=PHASES[p][0]) for p in sorted(present)],
               loc="lower center", bbox_to_anchor=(0.5, -0.04), ncol=len(present), frameon=False)
    im = ax2.pcolormesh(xe, ye, agr, cmap="Greys", vmin=0, vmax=1, shading="flat")
    ax2.set_title("fraction of those seeds in the phase shown")
    fig.colorbar(im, ax=ax2, label="agreement")
    if not args.no_theory and not settings_ok:
        note = (note + "; " if note else "") + "no theory panel (it is for relu_output, bias, uniform values)"
    fc.suptitle(fig, ds, "phase diagram, n = 2, m = 1", note)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fc.save(fig, args.output)


if __name__ == "__main__":
    fc.run(main)
