#!/usr/bin/python3
"""The xarray-first dataset (issue 11, README "Dataset reference"), checked in
real xarray: every setting is a coordinate (axes as dimensions, the others
scalar, derived ones along the axes they follow); two sweeps that differ in a
fixed setting combine with xr.concat / combine_by_coords, and a plain
combine_by_coords of them fails loudly; no variable is entirely missing; a
boolean axis is selected with True/False; no name shadows an attribute of
xarray.Dataset; counts stay integers; units are valid UDUNITS (checked with
Debian's udunits2), absent on strings and flags; long_name is a short label."""
import os
import re
import shutil
import subprocess

import numpy as np
import xarray as xr

from util import SOURCE, check, cleanup, main, run, skip, tempdir, write_job

D = tempdir("schema")

TEXT = """
title: schema
grid:
  arch: [relu_output, relu_hidden]
  bias: [true, false]
  sparsity: [0, 0.9]
settings:
  n: {n}
  lr: {lr}
  m: 3
  values: uniform_signed
  steps: 100
  batch: 64
  log_every: 50
  eval_samples: 200
run:
  threads: 1
"""
A, B, C, E = (os.path.join(D, f"{x}.nc") for x in "abce")


def test_run():
    for path, n, lr in ((A, 6, 0.001), (B, 7, 0.001), (C, 6, 0.003), (E, 6, 0.001)):
        text = TEXT.format(n=n, lr=lr)
        if path == E:  # the same job as A at other sparsities
            text = text.replace("sparsity: [0, 0.9]", "sparsity: [0.95, 0.99]")
        job = write_job(D, os.path.basename(path) + ".yaml", text)
        run(["run", job, "-o", path, "-q"], check=0)


def test_settings_are_coordinates():
    ds = xr.open_dataset(A)
    check(list(ds.status.dims) == ["arch", "bias", "sparsity"], f"grid dims {ds.status.dims}")
    for name in ("n", "m", "steps", "lr", "seed", "value_law", "optimizer", "log_every"):
        check(name in ds.coords and ds[name].dims == (), f"{name} is not a scalar coordinate")
    check(int(ds.n) == 6 and ds.value_law.item() == "uniform_signed", "coordinate values")
    check(list(ds.step.values) == [50, 100] and ds.step.dims == ("log_step",), "step coordinate")
    for dim in ("feature", "neuron", "log_step", "block"):
        check(dim in ds.dims and dim not in ds.variables, f"{dim} has a coordinate variable")
    check(ds.density.dims == ("sparsity",) and np.allclose(ds.density, [1, 0.1]),
          f"density {ds.density.dims} {ds.density.values}")
    # every setting of the catalog (src/job/settings.c) is a coordinate, `values`
    # under its dataset name value_law
    with open(os.path.join(SOURCE, "src", "job", "settings.c")) as f:
        names = re.findall(r'^    \{"([a-z_0-9]+)", SET_', f.read(), re.M)
    check(len(names) > 30, f"settings not found in the catalog source: {names}")
    missing = [s for s in names if {"values": "value_law"}.get(s, s) not in ds.coords]
    check(not missing, f"settings missing from the coordinates: {missing}")
    check("values" not in ds.variables, "a variable named values")


def raises(f, what, why):
    try:
        f()
    except ValueError as e:
        check(why in str(e), f"{what} failed for another reason: {e}")
        return
    raise AssertionError(f"{what} did not fail")


def test_combine_sweeps_differing_in_a_fixed_setting():
    a, b, c = xr.open_dataset(A), xr.open_dataset(B), xr.open_dataset(C)
    keep = {"combine_attrs": "drop_conflicts"}  # history, job_file, ... differ
    # lr differs: combined along it, by either function
    raises(lambda: xr.combine_by_coords([a, c], **keep), "combine_by_coords of sweeps differing in lr",
           "Could not find any dimension coordinates")
    m = xr.combine_by_coords([c.expand_dims("lr"), a.expand_dims("lr")], **keep)
    check(list(m.lr.values) == [0.001, 0.003], f"lr after combine_by_coords {m.lr.values}")
    check(np.array_equal(m.final_loss.sel(lr=0.003).values, c.final_loss.values), "combined values")
    m = xr.concat([a, c], dim="lr", **keep)
    check(list(m.lr.values) == [0.001, 0.003], f"lr after concat {m.lr.values}")
    check(np.array_equal(m.norm.sel(lr=0.001).values, a.norm.values, equal_nan=True), "concat values")
    check(m.n.dims == () and int(m.n) == 6, "n stays a scalar coordinate")
    # one job at two extents of its sparsity axis: combined along it
    e = xr.open_dataset(E)
    m = xr.combine_by_coords([e, a], **keep)
    check(list(m.sparsity.values) == [0, 0.9, 0.95, 0.99], f"sparsity {m.sparsity.values}")
    check(np.allclose(m.density.values, [1, 0.1, 0.05, 0.01]) and m.density.dims == ("sparsity",),
          f"density {m.density.values}")
    check(np.array_equal(m.norm.sel(sparsity=[0.95, 0.99]).values, e.norm.values, equal_nan=True),
          "combined values")
    # n differs, and with it the feature dimension: refused loudly, never one
    # of them silently (an index on feature would make combine_by_coords do that)
    raises(lambda: xr.combine_by_coords([a, b], **keep), "combine_by_coords of sweeps differing in n",
           "Could not find any dimension coordinates")
    raises(lambda: xr.combine_by_coords([a.expand_dims("n"), b.expand_dims("n")], **keep),
           "combine_by_coords along n of sweeps with other feature sizes", "feature")
    raises(lambda: xr.concat([a, b], dim="n", **keep), "concat along n of sweeps with other feature sizes",
           "feature")


def test_no_empty_variable_and_bool_selection():
    ds = xr.open_dataset(A)
    for name, var in ds.data_vars.items():
        if var.dtype.kind in "fc":
            check(bool(np.isfinite(var).any()), f"{name} is entirely NaN")
    for gone in ("power_gain", "predicted_capacity", "quadratic_bias", "W", "b"):
        check(gone not in ds, f"{gone}: no task measures it, yet it is in the dataset")
    for kept in ("polysemantic_neurons", "neuron_participation"):  # relu_hidden has them
        check(kept in ds, f"{kept} missing")
    check(ds.bias.dtype == bool, f"bias dtype {ds.bias.dtype}")
    t = ds.sel(bias=True, arch="relu_output", sparsity=0.9)
    f = ds.sel(bias=False, arch="relu_output", sparsity=0.9)
    check(bool((t.feature_bias != 0).any()) and bool((f.feature_bias == 0).all()),
          "sel(bias=True/False) does not select the models with and without bias")
    check(ds.save_weights.dtype == bool and not bool(ds.save_weights), "save_weights")


def test_names_types_and_metadata():
    ds = xr.open_dataset(A)
    for name in ds.variables:
        check(not hasattr(xr.Dataset, name), f"{name} shadows xarray.Dataset.{name}")
    check("mpi_rank" in ds and "rank" not in ds.variables, "mpi_rank")
    for name in ("represented", "block_count", "mpi_rank", "feature_block"):
        check(ds[name].dtype.kind == "i", f"{name} is {ds[name].dtype} (every task is done)")
    # measured by the relu_hidden tasks only: masked where the others have none
    check(ds.polysemantic_neurons.dtype.kind == "f" and
          bool(ds.polysemantic_neurons.sel(arch="relu_output").isnull().all()) and
          bool(ds.polysemantic_neurons.sel(arch="relu_hidden").notnull().all()), "polysemantic_neurons")
    raw = xr.open_dataset(A, mask_and_scale=False)
    for name, var in list(ds.variables.items()):
        attrs = raw[name].attrs
        check("long_name" in attrs and len(attrs["long_name"]) <= 40,
              f"{name}: long_name {attrs.get('long_name')!r}")
        is_flag = "flag_values" in attrs or var.dtype == bool
        is_text = var.dtype == object
        check(("units" in attrs) != (is_flag or is_text),
              f"{name}: units {attrs.get('units')!r} (flag {is_flag}, text {is_text})")
    if not shutil.which("udunits2"):
        skip("udunits2 (Debian udunits-bin) is not installed")
    units = sorted({v.attrs["units"] for v in raw.variables.values() if "units" in v.attrs})
    for u in units:
        p = subprocess.run(["udunits2", "-H", u, "-W", ""], capture_output=True, text=True,
                           timeout=30)
        check(p.returncode == 0 and "Don't recognize" not in p.stderr + p.stdout,
              f"units {u!r} is not UDUNITS: {p.stderr}")
    p = subprocess.run(["udunits2", "-H", "steps", "-W", ""], capture_output=True, text=True)
    check("Don't recognize" in p.stderr + p.stdout, "the UDUNITS check cannot fail")


if __name__ == "__main__":
    try:
        main([test_run, test_settings_are_coordinates, test_combine_sweeps_differing_in_a_fixed_setting,
              test_no_empty_variable_and_bool_selection, test_names_types_and_metadata])
    finally:
        cleanup(D)
