#!/usr/bin/python3
"""End to end: `plan` and `run` of jobs/quickstart.yaml, the dataset opened by
real xarray (dimensions, coordinates, attributes, CF metadata, value ranges,
the science the quick start is meant to show), and the plot script."""
import math
import os
import subprocess

import numpy as np
import xarray as xr

from util import PYTHON, SOURCE, check, cleanup, main, run, tempdir

JOB = "jobs/quickstart.yaml"
D = tempdir("quickstart")
OUT = os.path.join(D, "quickstart.nc")
SPARSITY = [0, 0.7, 0.9, 0.97, 0.99, 0.997]


def test_plan():
    p = run(["plan", JOB], check=0)
    check("tasks     12" in p.stdout, f"plan does not report 12 tasks:\n{p.stdout}")
    check("sparsity" in p.stdout and "arch" in p.stdout, f"plan does not list the axes:\n{p.stdout}")
    check(not os.path.exists(OUT), "plan wrote the output")


def test_run():
    p = run(["run", JOB, "-o", OUT], check=0)
    check("12/12 done" in p.stderr, f"no final summary line:\n{p.stderr}")
    check(os.path.getsize(OUT) > 0, "empty dataset")


def test_dataset_layout():
    with open(os.path.join(SOURCE, JOB)) as f:
        job_text = f.read()
    ds = xr.open_dataset(OUT)
    check(dict(ds.sizes) == {"arch": 2, "sparsity": 6, "feature": 20, "log_step": 30, "neuron": 5,
                             "block": 20}
          or dict(ds.sizes) == {"arch": 2, "sparsity": 6, "feature": 20, "log_step": 30,
                                "block": 20},
          f"dimensions: {dict(ds.sizes)}")
    check([str(a) for a in ds.arch.values] == ["linear", "relu_output"], f"arch coordinate {ds.arch.values}")
    check(ds.arch.dtype == object and isinstance(ds.arch.values[0], str), "arch is not decoded as str")
    check(np.array_equal(ds.sparsity.values, SPARSITY), f"sparsity coordinate {ds.sparsity.values}")
    check(list(ds.feature.values) == list(range(20)), "feature coordinate")
    check(list(ds.log_step.values) == [100 * (k + 1) for k in range(30)], "log_step coordinate")
    for key in ("Conventions", "title", "source", "history", "references", "job_file", "blas_core",
                "blas_threads", "mpi_size"):
        check(key in ds.attrs, f"global attribute {key} missing")
    check(ds.attrs["job_file"] == job_text, "job_file attribute is not the job file's text")
    check(ds.attrs["Conventions"].startswith("CF-"), "Conventions")
    check("polysweep" in ds.attrs["source"], "source")
    check(ds.attrs["title"].startswith("Quick start"), "title")
    for name, var in list(ds.data_vars.items()) + list(ds.coords.items()):
        check("long_name" in var.attrs, f"{name} has no long_name")
        if name not in ("status", "reason", "arch"):
            check("units" in var.attrs, f"{name} has no units")
    # status decodes through its CF flags
    st = xr.open_dataset(OUT, decode_cf=True).status
    check(st.attrs["flag_meanings"].split() == ["pending", "done", "failed"], "status flag_meanings")
    check(list(st.attrs["flag_values"]) == [0, 1, 2], "status flag_values")
    check(int((ds.status == 1).sum()) == 12, f"not all tasks done: {ds.status.values}")
    # the promised one-liner
    cap = xr.open_dataset(OUT).capacity.sel(arch="relu_output")
    check(cap.shape == (6, 20), f"capacity.sel(arch='relu_output') shape {cap.shape}")


def test_value_ranges():
    ds = xr.open_dataset(OUT)
    n, m = 20, 5
    check(bool(((ds.capacity >= -1e-6) & (ds.capacity <= 1 + 1e-6)).all()), "capacity outside [0, 1]")
    check(bool((ds.norm >= 0).all()) and bool((ds.superposition >= -1e-6).all()), "norm/superposition < 0")
    # superposition_i = sum_{j != i} (W_i.W_j)^2 / ||W_i||^2 and C_i = ||W_i||^4 / sum_j (W_i.W_j)^2
    # (TMS, CAP) give superposition_i = ||W_i||^2 (1/C_i - 1): three stored variables that must
    # agree (float32 storage: 1e-5 + 1e-4 relative; features of norm > 0.1, where 1/C is well
    # conditioned).
    g = ds.norm ** 2
    gap = (abs(ds.superposition - g * (1 / ds.capacity - 1)) / (1e-5 + 1e-4 * ds.superposition))
    gap = float(gap.where(ds.norm > 0.1).max())
    check(gap < 1, f"superposition != ||W_i||^2 (1/C_i - 1): off by up to {gap:.3g} tolerances")
    check(bool(np.isfinite(ds.final_loss).all()) and bool((ds.final_loss > 0).all()), "final_loss")
    check(bool(np.isfinite(ds.eval_loss).all()), "eval_loss")
    fro = (ds.norm ** 2).sum("feature")
    check(bool((abs(fro - ds.frobenius2) < 1e-3 * ds.frobenius2).all()), "frobenius2 != sum of norm^2")
    check(bool((abs(ds.dims_per_feature - m / ds.frobenius2) < 1e-9).all()), "dims_per_feature != m/||W||^2")
    check(bool((ds.capacity_sum <= m + 1e-6).all()), "capacity_sum > m (CAP theorem)")
    check(bool((abs(ds.capacity.sum("feature") - ds.capacity_sum) < 1e-3).all()), "capacity_sum")
    check(bool(((ds.represented >= 0) & (ds.represented <= n)).all()), "represented")
    check(bool((ds.loss_curve.isel(log_step=0) > ds.loss_curve.isel(log_step=-1)).all()), "loss did not fall")
    want = 0.7 ** np.arange(n)
    rel = abs(ds.feature_importance / xr.DataArray(want, dims="feature") - 1)
    check(float(rel.max()) < 1e-6, f"feature_importance is not 0.7^i: {ds.feature_importance.values[0, 0]}")
    check(bool((ds.wall_time > 0).all()), "wall_time")


def test_science():
    """What the quick start is meant to show (TMS section 2): the linear model
    keeps the m most important features orthogonally; the ReLU model at high
    sparsity represents more than m features, in superposition."""
    ds = xr.open_dataset(OUT)
    lin = ds.sel(arch="linear")
    for s in SPARSITY:
        c = lin.sel(sparsity=s)
        check(int(c.represented) == 5, f"linear at sparsity {s}: {int(c.represented)} represented features, expected 5")
    relu_sparse = ds.sel(arch="relu_output", sparsity=0.99)
    check(int(relu_sparse.represented) > 5, f"relu_output at sparsity 0.99 represents only {int(relu_sparse.represented)}")
    check(float(relu_sparse.dims_per_feature) < 0.9, f"relu_output at 0.99: {float(relu_sparse.dims_per_feature)} dims/feature")
    relu_dense = ds.sel(arch="relu_output", sparsity=0)
    check(math.isclose(float(relu_dense.frobenius2), 5, abs_tol=0.6), f"relu_output dense: ||W||^2 = {float(relu_dense.frobenius2)}")
    # Orthogonal where there is no superposition (the linear model everywhere, ReLU dense: each
    # represented feature alone in its direction), shared directions at high sparsity.
    sup = ds.superposition.where(ds.norm > 0.5).max("feature")
    check(float(sup.sel(arch="linear").max()) < 0.01 and float(sup.sel(arch="relu_output", sparsity=0)) < 0.01,
          f"represented features not orthogonal without superposition: {sup.values}")
    check(float(sup.sel(arch="relu_output", sparsity=0.99)) > 0.5,
          f"relu_output at sparsity 0.99: largest superposition {float(sup.sel(arch='relu_output', sparsity=0.99))}")


def test_plot():
    """The README's command writes the PNG; drawn again here, the figure's bars
    are the dataset's norms coloured by superposition (figure_check)."""
    png = os.path.join(D, "quickstart.png")
    p = subprocess.run([PYTHON, os.path.join(SOURCE, "tools", "plot_quickstart.py"), OUT, "-o", png],
                       capture_output=True, text=True, timeout=300)
    check(p.returncode == 0, f"plot script failed:\n{p.stderr}")
    with open(png, "rb") as f:
        head = f.read(8)
    check(head == b"\x89PNG\r\n\x1a\n", "not a PNG")
    import figure_check
    print("     " + figure_check.draw_and_check("tools/plot_quickstart.py", OUT, os.path.join(D, "drawn.png")))


if __name__ == "__main__":
    try:
        main([test_plan, test_run, test_dataset_layout, test_value_ranges, test_science, test_plot])
    finally:
        cleanup(D)
