"""Shared code of the plotting scripts tools/plot_*.py.

Every script reads one polysweep dataset (NetCDF, opened with xarray) and
writes one PNG with headless matplotlib. This module holds what they share:
argument parsing, opening the dataset with a clear error when it is not the
kind of dataset the script plots, reading fixed settings from the dataset's
coordinates (every setting is one), collapsing the grid axes a figure does
not show, and the figure style.

Axes a figure does not show are collapsed by one documented rule
(`collapse`): the `seed` axis keeps, for every other coordinate, the seed
with the lowest evaluation loss (the papers report the best of several
initialisations); any other axis is fixed at its first value, and the figure
says so in its subtitle.
"""
import argparse
import os
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

# The dataset format these scripts read (the global attribute polysweep_format).
FORMAT = 2

# The axes that say how sparse the inputs are, in the order scripts look for them.
SWEEP_AXES = ("sparsity", "density", "kurtosis")

STYLE = {
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
plt.rcParams.update(STYLE)


class DatasetError(Exception):
    """The dataset is not what the script plots; the message says what is missing."""


def fail(msg):
    """Exit with status 1 and `msg` (prefixed by the script name) on stderr."""
    sys.exit(f"{os.path.basename(sys.argv[0])}: {msg}")


def parse_args(doc, argv=None, extra=None):
    """The common command line: DATASET -o PNG, plus options added by `extra(parser)`."""
    ap = argparse.ArgumentParser(description=doc.strip().splitlines()[0],
                                 epilog="\n".join(doc.strip().splitlines()[1:]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", help="a polysweep dataset (.nc)")
    ap.add_argument("-o", "--output", required=True, help="PNG file to write")
    if extra:
        extra(ap)
    return ap.parse_args(argv)


def open_dataset(path, variables=(), dims=(), job=None):
    """Open a polysweep dataset and check that it has `variables` and `dims`.

    `dims` entries may be a tuple of alternatives (("sparsity", "density")).
    Raises DatasetError naming what is missing and, when given, the job file
    (`job`) that makes the right kind of dataset."""
    if not os.path.exists(path):
        raise DatasetError(f"{path}: no such file")
    try:
        ds = xr.open_dataset(path)
    except Exception as exc:  # noqa: BLE001 - any reader error means "not a dataset"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatasetError(f"{path}: cannot read it as a NetCDF dataset ({first})") from exc
    if "status" not in ds:
        raise DatasetError(f"{path}: not a polysweep dataset (no 'status' variable)")
    hint = f" (make one with `build/polysweep run {job}`)" if job else ""
    fmt_version = int(ds.attrs.get("polysweep_format", 1))
    if fmt_version != FORMAT:
        raise DatasetError(f"{path}: written by a polysweep of another dataset format ({fmt_version}; "
                           f"these scripts read format {FORMAT}): run its job again with this "
                           f"build/polysweep (--fresh){hint}")
    axes = grid_axes(ds)
    for d in dims:
        alts = d if isinstance(d, tuple) else (d,)
        if not any(a in axes for a in alts):
            want = " or ".join(repr(a) for a in alts)
            raise DatasetError(f"{path}: needs a grid axis {want}; its axes are "
                               f"{', '.join(axes) or 'none'}{hint}")
    missing = [v for v in variables if v not in ds]
    if missing:
        raise DatasetError(f"{path}: needs the variable{'s' if len(missing) > 1 else ''} "
                           f"{', '.join(repr(v) for v in missing)}, which this dataset does not have "
                           f"(no task of its sweep measures {'them' if len(missing) > 1 else 'it'})"
                           f"{hint}")
    if int((ds.status == 1).sum()) == 0:
        raise DatasetError(f"{path}: no task is done yet (run the job first)")
    return ds


def grid_axes(ds):
    """The grid axes of the dataset, in job-file order (the dimensions of `status`)."""
    return list(ds.status.dims)


def sweep_axis(ds, candidates=SWEEP_AXES):
    """The first of `candidates` that is a grid axis, or None."""
    for a in candidates:
        if a in grid_axes(ds):
            return a
    return None


# Settings whose dataset name differs from the job file's (README "Dataset
# reference": `values` would shadow xarray's Dataset.values).
DATASET_NAMES = {"values": "value_law"}


def setting(ds, name, default=None, kind=str):
    """The value of a setting that is the same for every task: its scalar
    coordinate (every setting of the sweep is one), or a one-value axis;
    `default` for datasets that do not have it."""
    name = DATASET_NAMES.get(name, name)
    if name not in ds.coords:
        return default
    vals = np.ravel(ds[name].values)
    if len(np.unique(vals)) != 1:
        where = "a grid axis" if name in grid_axes(ds) else f"a coordinate along {', '.join(ds[name].dims)}"
        raise DatasetError(f"{name} is {where} with {len(np.unique(vals))} values; this figure needs one")
    v = vals[0]
    return kind(v.item() if hasattr(v, "item") else v)


def fmt(v):
    """A coordinate value for a label: numbers in short form, text as is."""
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.3g}"
    if isinstance(v, (np.integer,)):
        return str(int(v))
    return str(v)


def coord_label(ds, axis, value):
    """`axis = value` for a label; booleans as in the job file (true, false)."""
    if isinstance(value, (bool, np.bool_)):
        return f"{axis} = {'true' if value else 'false'}"
    return f"{axis} = {fmt(value)}"


def collapse(ds, keep):
    """Remove the grid axes not in `keep`.

    `seed`: for each combination of the other axes, the task with the lowest
    `eval_loss` among the done ones (NaN when none is done). Any other axis:
    its first value. Returns (dataset, note) where note describes what was
    fixed, for the figure's subtitle ("" when nothing was)."""
    notes = []
    for a in [a for a in grid_axes(ds) if a not in keep]:
        if a == "seed":
            loss = ds.eval_loss.where(ds.status == 1)
            # argmin over seed, ignoring NaN; all-NaN cells keep seed 0 (their status says not done)
            filled = loss.fillna(np.inf)
            idx = filled.argmin("seed")
            ds = ds.isel(seed=idx)
            notes.append(f"best of {loss.sizes['seed']} seeds (lowest eval loss)")
        else:
            vals = ds[a].values
            if len(vals) > 1:
                notes.append(f"{coord_label(ds, a, vals[0])} (first of {len(vals)})")
            ds = ds.isel({a: 0})
    return ds, "; ".join(notes)


def done(cell):
    """True when the task of a fully indexed cell is done (status 1)."""
    return int(cell.status.values) == 1


def mark_not_done(ax, cell):
    """Write 'pending' or 'failed' across a panel whose task is not done."""
    st = int(cell.status.values)
    ax.text(0.5, 0.5, {0: "pending", 2: "failed"}.get(st, "?"), transform=ax.transAxes,
            ha="center", va="center", color="tab:red", fontsize=10)


def title(ds, fallback):
    """The figure title: the job's title attribute (polysweep sets it to the job name by default)."""
    return str(ds.attrs.get("title") or fallback)


def suptitle(fig, ds, fallback, note="", y=None):
    text = title(ds, fallback)
    if note:
        text += "\n" + note
    kw = {} if y is None else {"y": y}
    fig.suptitle(text, fontsize=10, **kw)


def log_edges(values):
    """Cell edges for pcolormesh of values on a log axis: geometric midpoints,
    extended by half a step at each end."""
    v = np.asarray(values, dtype=float)
    order = np.argsort(v)
    lv = np.log(v[order])
    if len(lv) == 1:
        mids = np.array([lv[0] - 0.5, lv[0] + 0.5])
    else:
        inner = (lv[1:] + lv[:-1]) / 2
        mids = np.concatenate([[lv[0] - (inner[0] - lv[0])], inner, [lv[-1] + (lv[-1] - inner[-1])]])
    return np.exp(mids), order


def save(fig, path):
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    print(f"wrote {path}")


def run(main):
    """Call main(); turn DatasetError into a one-line message and exit status 1."""
    try:
        main()
    except DatasetError as exc:
        fail(str(exc))

