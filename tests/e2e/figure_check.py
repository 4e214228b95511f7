"""What the figures of tools/plot_*.py draw, read back and compared with the
dataset they were drawn from.

draw() runs a script in this process as its command line would (runpy, as
__main__, with its arguments in sys.argv), keeps the matplotlib Figure it
saves (the PNG is written as the command writes it, and read back: it must
have real pixel content), and the check_* functions compare the
figure's artists - bar lengths and colours, image arrays, arrow tips, line
and scatter data, mesh cells - with values computed here from the dataset
opened with xarray. Which seed a figure shows is worked out here too (the
documented rule: per cell the done seed with the lowest eval_loss), so a
figure that draws the wrong variable, the wrong cell, a squared or clipped
value or the wrong seed fails. Each check returns a one-line summary."""
import os
import runpy
import sys

import numpy as np
import xarray as xr

from util import SOURCE, check

sys.path.insert(0, os.path.join(SOURCE, "tools"))

SWEEP_AXES = ("sparsity", "density", "kurtosis")  # README, Reproducing the papers


def draw(script, dataset, png, extra=()):
    """The Figure that tools/<script> draws for `dataset` (written to `png`)."""
    import matplotlib.image
    import figures_common
    saved, real_save, argv = [], figures_common.save, sys.argv

    def keep(fig, path):
        saved.append(fig)
        real_save(fig, path)

    figures_common.save = keep
    sys.argv = [script, dataset, "-o", png] + list(extra)
    try:
        runpy.run_path(os.path.join(SOURCE, script), run_name="__main__")
    except SystemExit as exc:
        raise AssertionError(f"{script} {dataset}: exit {exc.code}") from None
    finally:
        figures_common.save, sys.argv = real_save, argv
    check(len(saved) == 1, f"{script} saved {len(saved)} figures")
    with open(png, "rb") as f:
        check(f.read(8) == b"\x89PNG\r\n\x1a\n", f"{script}: {png} is not a PNG")
    img = matplotlib.image.imread(png)
    ink = np.any(np.abs(img[..., :3] - 1) > 0.1, axis=-1)  # not (nearly) white
    colours = len(np.unique((img[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0))
    check(img.shape[0] > 200 and img.shape[1] > 200 and ink.mean() > 0.02 and colours > 50,
          f"{script}: {png} is nearly empty ({img.shape[1]}x{img.shape[0]} px, "
          f"{100 * ink.mean():.1f}% ink, {colours} colours)")
    return saved[0]


def done(ds):
    return ds.status == 1


def collapsed(ds, keep):
    """The dataset on the axes `keep`: seed -> per cell the done seed with the
    lowest eval_loss; any other axis -> its first value."""
    for axis in [a for a in ds.status.dims if a not in keep]:
        if axis == "seed":
            loss = np.where(done(ds), ds.eval_loss, np.inf)
            best = xr.DataArray(np.argmin(loss, axis=ds.status.dims.index("seed")),
                                dims=[d for d in ds.status.dims if d != "seed"])
            ds = ds.isel(seed=best)
        else:
            ds = ds.isel({axis: 0})
    return ds


def sweep_of(ds, given=None):
    return given or next(a for a in SWEEP_AXES if a in ds.status.dims)


def close(got, want, what, rtol=1e-6, atol=1e-9):
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    check(got.shape == want.shape, f"{what}: {got.shape} drawn, {want.shape} in the dataset")
    bad = ~np.isclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
    if bad.any():
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        raise AssertionError(f"{what}: {int(bad.sum())} of {bad.size} differ; at {at} drawn "
                             f"{got[at]:.6g}, dataset {want[at]:.6g}")


def bars(ax):
    """(positions, lengths, colours) of a panel's bars (barh: y and width; bar: x and height)."""
    import matplotlib.container
    patches = [p for c in ax.containers if isinstance(c, matplotlib.container.BarContainer) for p in c]
    horizontal = bool(patches) and ax.containers[0].orientation == "horizontal"
    pos = [p.get_y() + p.get_height() / 2 if horizontal else p.get_x() + p.get_width() / 2
           for p in patches]
    length = [p.get_width() if horizontal else p.get_height() for p in patches]
    return np.array(pos), np.array(length), np.array([p.get_facecolor() for p in patches])


def texts(ax):
    return [t.get_text() for t in ax.texts]


def lines_labelled(ax, start):
    return [ln for ln in ax.get_lines() if ln.get_label().startswith(start)]


def offsets(ax):
    """Every scatter point of a panel, (N, 2)."""
    pts = [np.asarray(c.get_offsets()) for c in ax.collections if hasattr(c, "get_offsets")
           and len(c.get_offsets()) and not hasattr(c, "get_coordinates")]
    return np.concatenate(pts) if pts else np.zeros((0, 2))


def check_sparsity(fig, path, color="superposition", sweep=None):
    """plot_sparsity.py: one panel per (arch, sweep value); a bar per feature of
    length ||W_i|| at y = i, coloured viridis(clip(colour_i, 0, 1))."""
    import matplotlib
    ds = xr.open_dataset(path)
    sweep = sweep_of(ds, sweep)
    rows = "arch" if "arch" in ds.status.dims and sweep != "arch" else None
    ds = collapsed(ds, [sweep] + ([rows] if rows else []))
    rvals = list(ds[rows].values) if rows else [None]
    cvals = list(ds[sweep].values)
    cmap = matplotlib.colormaps["viridis"]
    nbars = 0
    for r, rv in enumerate(rvals):
        for c, cv in enumerate(cvals):
            ax = fig.axes[r * len(cvals) + c]
            cell = ds.sel({sweep: cv, **({rows: rv} if rows else {})})
            where = f"{rv} {sweep}={cv}"
            if r == 0:
                check(ax.get_title() == f"{sweep} {float(cv):.3g}", f"{where}: title {ax.get_title()!r}")
            y, width, colour = bars(ax)
            if not bool(done(cell)):
                check(len(width) == 0, f"{where}: bars for a task not done")
                continue
            norm = cell.norm.values
            ok = np.isfinite(norm)
            close(y, np.arange(len(norm))[ok], f"{where}: bar positions")
            close(width, norm[ok], f"{where}: bar lengths (norms)")
            close(colour, cmap(np.clip(cell[color].values[ok], 0, 1)), f"{where}: bar colours ({color})")
            check(f"{int((norm[ok] > 0.5).sum())} repr." in texts(ax), f"{where}: texts {texts(ax)}")
            nbars += len(width)
    return f"{nbars} bars in {len(rvals) * len(cvals)} panels: norms and {color} colours"


def check_weights(fig, path):
    """plot_weights.py: per sweep value W as an image (clim +-99th percentile of
    |W|) and the neurons' participation ratios as bars."""
    ds = xr.open_dataset(path)
    sweep = sweep_of(ds)
    ds = collapsed(ds, [sweep])
    vals = list(ds[sweep].values)
    vmax = float(np.nanpercentile(np.abs(ds.W.values), 99))
    has_pr = "neuron_participation" in ds and bool(np.isfinite(ds.neuron_participation).any())
    for c, v in enumerate(vals):
        cell = ds.sel({sweep: v})
        if not bool(done(cell)):
            continue
        ims = fig.axes[c].get_images()
        check(len(ims) == 1, f"{sweep}={v}: {len(ims)} images")
        close(np.asarray(ims[0].get_array()), cell.W.values, f"{sweep}={v}: W image")
        close(ims[0].get_clim(), (-vmax, vmax), f"{sweep}={v}: colour limits")
        if "polysemantic_neurons" in cell and np.isfinite(float(cell.polysemantic_neurons)):
            want = f"{int(cell.polysemantic_neurons)} polysemantic"
            check(want in fig.axes[c].get_title(), f"{sweep}={v}: title {fig.axes[c].get_title()!r}")
        if has_pr:
            y, width, _ = bars(fig.axes[len(vals) + c])
            close(y, np.arange(ds.sizes["neuron"]), f"{sweep}={v}: participation bar positions")
            close(width, cell.neuron_participation.values, f"{sweep}={v}: participation ratios")
    return f"W of {len(vals)} tasks as images" + (" and participation ratios" if has_pr else "")


def check_geometry(fig, path):
    """plot_geometry.py: per density an arrow from 0 to (W_0i, W_1i) for each
    feature with ||W_i|| >= 1e-3, of the lowest-loss seed."""
    from matplotlib.text import Annotation
    ds = xr.open_dataset(path)
    sweep = sweep_of(ds)
    ds = collapsed(ds, [sweep])
    vals = list(ds[sweep].values)
    narrows = 0
    for k, v in enumerate(vals):
        ax = fig.axes[k]
        cell = ds.sel({sweep: v})
        tips = [a.xy for a in ax.texts if isinstance(a, Annotation)]
        if not bool(done(cell)):
            check(not tips, f"{sweep}={v}: arrows for a task not done")
            continue
        W = cell.W.values
        want = [(W[0, i], W[1, i]) for i in reversed(range(W.shape[1]))
                if np.isfinite(W[0, i]) and np.hypot(W[0, i], W[1, i]) >= 1e-3]
        close(np.array(tips).reshape(-1, 2), np.array(want).reshape(-1, 2), f"{sweep}={v}: arrow tips")
        rep = int((cell.norm.values > 0.5).sum())
        check(any(t.startswith(f"{rep}/{W.shape[1]} represented") for t in texts(ax)),
              f"{sweep}={v}: texts {texts(ax)}")
        narrows += len(tips)
    return f"{narrows} arrows (columns of W of the best seed) in {len(vals)} panels"


def check_dims(fig, path):
    """plot_dims.py: D* = m/||W||_F^2 (mean over seeds) against 1/density, every
    capacity above 0.01 as a dot, and per density their distribution."""
    ds = xr.open_dataset(path)
    axis = "density" if "density" in ds.status.dims else "sparsity"
    ds = collapsed(ds, [axis, "seed"])
    if "seed" not in ds.dims:
        ds = ds.expand_dims("seed", axis=-1)
    dens = ds[axis].values if axis == "density" else 1 - ds[axis].values
    x = 1 / dens
    order = np.argsort(x)
    ok = done(ds)
    dstar = ds.dims_per_feature.where(ok).transpose(axis, "seed").values
    line = [ln for ln in fig.axes[0].get_lines() if ln.get_marker() == "o"]
    check(len(line) == 1, f"{len(line)} D* lines")
    close(line[0].get_xdata(), x[order], "D* line: x = 1/density")
    close(line[0].get_ydata(), np.nanmean(dstar, axis=1)[order], "D* line: mean over seeds")
    cap = ds.capacity.where(ok).transpose(axis, "seed", "feature").values
    pts = offsets(fig.axes[0])
    used = [c[np.isfinite(c) & (c > 0.01)] for c in cap.reshape(len(x), -1)]
    close(np.sort(pts[:, 1]), np.sort(np.concatenate(used)), "dots: the capacities above 0.01", rtol=1e-5)
    # each dot within the jitter (exp(+-0.06)) of its density's 1/density
    xs = np.concatenate([np.full(len(u), x[k]) for k, u in enumerate(used)])
    ratio = np.sort(pts[:, 0]) / np.sort(xs)
    check(len(ratio) == 0 or (np.all(ratio > np.exp(-0.121)) and np.all(ratio < np.exp(0.121))),
          "dots: not at their densities")
    mesh = [c for c in fig.axes[1].collections if hasattr(c, "get_coordinates")]
    check(len(mesh) == 1, f"{len(mesh)} meshes in the distribution panel")
    hist = np.asarray(np.ma.filled(mesh[0].get_array(), np.nan), dtype=float).reshape(40, len(x))
    for col, k in enumerate(order):
        if len(used[k]):
            want = np.histogram(used[k], bins=np.linspace(0, 1, 41))[0] / len(used[k])
            close(np.nan_to_num(hist[:, col]), want, f"distribution at 1/density {x[k]:.3g}")
    return f"D* at {len(x)} densities, {len(pts)} capacity dots and their distributions"


def phases(norm, w01):
    """Phase index (plot_phase.PHASES order) from ||W_1||, ||W_2|| and W_1 W_2."""
    r1, r2 = norm[..., 0] > 0.5, norm[..., 1] > 0.5
    return np.select([r1 & r2 & (w01 > 0), r1 & r2, r1, r2], [4, 3, 1, 2], 0)


def check_phase(fig, path):
    """plot_phase.py: the trained panel's cells against the phase of each
    (importance_rate, density), combined over seeds as documented (drop the
    highest-loss seed, majority, ties to the lowest-loss seed's phase)."""
    ds = xr.open_dataset(path)
    dens_axis = "density" if "density" in ds.status.dims else "sparsity"
    order = ["importance_rate", dens_axis, "seed"]
    ds = collapsed(ds, order)
    norm = np.nan_to_num(ds.norm.transpose(*order, "feature").values)
    W = np.nan_to_num(ds.W.isel(neuron=0).transpose(*order, "feature").values)
    ph = phases(norm, W[..., 0] * W[..., 1])
    loss = ds.eval_loss.where(done(ds)).transpose(*order).values
    rs, dv = ds.importance_rate.values, ds[dens_axis].values
    want = np.full((len(rs), len(dv)), np.nan)
    for i in range(len(rs)):
        for j in range(len(dv)):
            fin = np.isfinite(loss[i, j])
            by_loss = ph[i, j][fin][np.argsort(loss[i, j][fin], kind="stable")]
            kept = by_loss[:-1] if len(by_loss) > 1 else by_loss
            if len(kept):
                counts = {p: int((kept == p).sum()) for p in set(kept.tolist())}
                want[i, j] = next(p for p in kept if counts[p] == max(counts.values()))
    want = want[np.ix_(np.argsort(rs), np.argsort(dv))]
    mesh = [c for c in fig.axes[0].collections if hasattr(c, "get_coordinates")]
    check(len(mesh) >= 1, "no mesh in the trained panel")
    got = np.asarray(np.ma.filled(mesh[0].get_array(), np.nan), dtype=float).reshape(want.shape)
    close(got, want, "trained phases (rows: importance_rate, columns: density)")
    return f"{want.size} trained phase cells"


def check_capacity(fig, path):
    """plot_capacity.py: every done feature's (predicted, trained) capacity as
    a dot, and the trained loss over the predicted optimum per task."""
    ds = xr.open_dataset(path)
    ds = collapsed(ds, [a for a in ds.status.dims if a != "seed"])
    ok = done(ds)
    pred = ds.predicted_capacity.where(ok).values.ravel()
    cap = ds.capacity.where(ok).broadcast_like(ds.predicted_capacity).values.ravel()
    sel = np.isfinite(pred) & np.isfinite(cap)
    pts = offsets(fig.axes[0])
    want = np.stack([pred[sel], cap[sel]], axis=1)
    close(pts[np.lexsort(pts.T[::-1])], want[np.lexsort(want.T[::-1])], "(predicted, trained) capacities",
          rtol=1e-5)
    pop = ds.population_loss.astype(bool) if "population_loss" in ds.dims else None
    loss = ds.eval_loss if pop is None else xr.where(pop, ds.final_loss, ds.eval_loss)
    ratio = (loss.where(ok) / ds.predicted_loss).values.ravel()
    kurt = ds.input_kurtosis.where(ok).values.ravel()
    sel = np.isfinite(ratio) & np.isfinite(kurt)
    right = [ax for ax in fig.axes if ax.get_ylabel().startswith("trained loss")]
    check(len(right) == 1, "no loss-ratio panel")
    got = offsets(right[0])
    close(np.sort(got[:, 1]), np.sort(ratio[sel]), "trained loss / predicted loss", rtol=1e-5)
    return f"{len(pts)} capacity dots, {len(got)} loss ratios"


def check_gain(fig, path):
    """plot_gain.py: per m the trained gain against density and its ratio to
    the no-superposition baseline."""
    ds = xr.open_dataset(path)
    axis = "density" if "density" in ds.status.dims else "sparsity"
    by = "m" if "m" in ds.status.dims else None
    ds = collapsed(ds, [axis] + ([by] if by else []))
    p = ds[axis].values if axis == "density" else 1 - ds[axis].values
    order = np.argsort(p)
    ratio_lines = [ln for ln in fig.axes[1].get_lines() if ln.get_marker() == "o"]
    for k, lv in enumerate([None] if by is None else ds[by].values):
        sub = (ds if lv is None else ds.sel({by: lv})).where(lambda d: done(d))
        label = "trained gain " + ("" if lv is None else f"{by} = {lv}")
        line = lines_labelled(fig.axes[0], label)
        check(len(line) == 1, f"no line {label!r}")
        close(line[0].get_xdata(), p[order], f"{label}: densities")
        close(line[0].get_ydata(), sub.power_gain.values[order], f"{label}: gains")
        close(ratio_lines[k].get_ydata(), (sub.power_gain / sub.power_gain_baseline).values[order],
              f"{label}: gain / baseline")
    return f"gain and gain/baseline at {len(p)} densities for {1 if by is None else ds.sizes[by]} m"


def check_neurons(fig, path):
    """plot_neurons.py: the mean number of polysemantic neurons over seeds
    against m, and per m the fractions of neurons with 0, 1, 2, 3+ features."""
    ds = xr.open_dataset(path)
    ds = collapsed(ds, ["m", "seed"])
    if "seed" not in ds.dims:
        ds = ds.expand_dims("seed", axis=-1)
    ok = done(ds)
    poly = ds.polysemantic_neurons.where(ok).transpose("m", "seed").values
    mean = np.nanmean(poly, axis=1)
    line = lines_labelled(fig.axes[0], "mean over")
    check(len(line) == 1, "no mean line")
    close(line[0].get_xdata(), ds.m.values, "mean line: m")
    close(line[0].get_ydata(), np.where(mean > 0, mean, np.nan), "mean line: polysemantic neurons")
    nf = ds.neuron_features.where(ok).transpose("m", "seed", "neuron").values
    want = []
    for k in range(ds.sizes["m"]):
        v = nf[k].ravel()
        v = v[np.isfinite(v)]
        want.append([np.mean(v == 0), np.mean(v == 1), np.mean(v == 2), np.mean(v >= 3)])
    x, height, _ = bars(fig.axes[1])
    # stacked: category c of column k is bar c * len(m) + k
    close(height.reshape(4, -1).T, np.array(want), "fractions of neurons with 0, 1, 2, 3+ features")
    return f"polysemantic neurons at {ds.sizes['m']} m, features per neuron"


CHECKS = {"plot_sparsity.py": check_sparsity, "plot_quickstart.py": check_sparsity,
          "plot_weights.py": check_weights, "plot_geometry.py": check_geometry,
          "plot_dims.py": check_dims, "plot_phase.py": check_phase,
          "plot_capacity.py": check_capacity, "plot_gain.py": check_gain,
          "plot_neurons.py": check_neurons}


def draw_and_check(script, dataset, png, extra=()):
    """draw() and the script's check (--color passed on to plot_sparsity's)."""
    fig = draw(script, dataset, png, extra)
    name = os.path.basename(script)
    kw = {}
    if "--color" in extra:
        kw["color"] = extra[list(extra).index("--color") + 1]
    return CHECKS[name](fig, dataset, **kw)
