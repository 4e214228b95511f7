#!/usr/bin/python3
"""The papers' experiments (jobs/*.yaml) and their figures (tools/plot_*.py).

Every job in jobs/ passes `polysweep plan` and names, in its comment, the
plotting script that draws it. Each experiment then runs end to end - the
small ones as they are, the larger ones as a reduced copy (fewer steps,
values and seeds; the substitutions are exact text replacements of lines
this test knows, each checked to match once) - and its figure is drawn and
read back: what it draws (bar lengths and colours, images, arrows, lines,
dots, mesh cells) must be the dataset's values (figure_check.py), and the
PNG must have real pixel content. Where it is cheap the science is checked on the
data the figure reads: the quadratic model on the population loss reaches
the predicted capacities, the phase diagram has its three phases where the
paper puts them, the geometry goes from 2 orthogonal features to 5, ...
Every script also refuses a dataset of the wrong kind with a message that
names what is missing.

Runs in about 40 s on 2 cores."""
import glob
import os
import re
import subprocess
import sys

import numpy as np
import xarray as xr

from util import PYTHON, SOURCE, check, cleanup, main, run, tempdir

D = tempdir("papers")
TOOLS = os.path.join(SOURCE, "tools")
sys.path.insert(0, TOOLS)
OUT = {}  # job name -> dataset path of its (reduced) run

# Reduced copies: job -> [(exact text, replacement)]; an empty list runs the job as it is.
REDUCED = {
    "tms_privileged": [],
    "tms_geometry": [
        ("density: {logspace: [1, 0.05, 8]}", "density: [1, 0.2, 0.05]"),
        ("seed: {range: [0, 4]}", "seed: {range: [0, 3]}"),
        ("steps: 10000", "steps: 4000"),
        ("lr: 0.001", "lr: 0.003"),
    ],
    "tms_sparsity": [
        ("sparsity: [0, 0.7, 0.9, 0.97, 0.99, 0.997, 0.999]", "sparsity: [0, 0.9, 0.99]"),
        ("steps: 10000", "steps: 3000"),
        ("lr: 0.001", "lr: 0.01"),
    ],
    "tms_phase": [
        ("importance_rate: {logspace: [0.1, 10, 21]}", "importance_rate: [0.1, 0.5, 2, 10]"),
        ("density: {logspace: [0.01, 1, 21]}", "density: [0.01, 0.1, 1]"),
        ("seed: {range: [0, 10]}", "seed: {range: [0, 4]}"),
        ("steps: 5000", "steps: 3000"),
    ],
    "tms_dims": [
        ("density: {logspace: [1, 0.01, 20]}", "density: [1, 0.3, 0.03]"),
        ("n: 200", "n: 50"),
        ("m: 20", "m: 5"),
        ("steps: 5000", "steps: 2000"),
    ],
    "cap_quadratic": [
        ("population_loss: [true, false]", "population_loss: [true]"),
        ("kurtosis: [1.5, 3, 5, 10, 30]", "kurtosis: [1.5, 5, 30]"),
    ],
    "cap_activations": [
        ("sparsity: [0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99]", "sparsity: [0, 0.9]"),
        ("steps: 10000", "steps: 2000"),
    ],
    "pow_gain": [
        ("m: [4, 6]", "m: [2, 4]"),
        ("density: {logspace: [0.3, 0.001, 5]}", "density: [0.3, 0.003]"),
        ("n: 500", "n: 100"),
        ("steps: 3000", "steps: 1500"),
    ],
    "inc_incidental": [
        ("m: [64, 128, 256, 512, 1024]", "m: [128, 1024]"),
        ("seed: {range: [0, 5]}", "seed: {range: [0, 4]}"),
        ("n: 64", "n: 32"),
        ("l1: 2.44140625e-7", "l1: 9.765625e-7"),  # 1e-3 / n^2, as in the job's comment
        ("steps: 7500", "steps: 3000"),
    ],
}

# job -> (plotting script, extra arguments), read from the job's comment and checked there.
FIGURE = {}


def job_path(name):
    return os.path.join(SOURCE, "jobs", name + ".yaml")


def reduced_job(name):
    """Write the (reduced) copy of jobs/<name>.yaml into D; returns its path."""
    with open(job_path(name)) as f:
        text = f.read()
    for old, new in REDUCED[name]:
        # Only setting lines (indented under grid: or settings:), never the comments.
        old, new = "\n  " + old + "\n", "\n  " + new + "\n"
        k = text.count(old)
        check(k == 1, f"jobs/{name}.yaml: the test's reduction expects the line '{old.strip()}' once, found {k} "
                      "(update REDUCED in tests/e2e/test_papers.py)")
        text = text.replace(old, new)
    path = os.path.join(D, name + ".yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


def run_job(name):
    out = os.path.join(D, name + ".nc")
    run(["run", reduced_job(name), "-o", out, "-q", "--threads", "1"], check=0, timeout=300)
    OUT[name] = out
    return xr.open_dataset(out)


def plot(name, dataset=None, expect_ok=True):
    """Draw the figure of `name` and check what it draws against the dataset
    (in this process: figure_check), or, with expect_ok=False, run the script's
    command and return the CompletedProcess."""
    script, extra = FIGURE[name]
    dataset = dataset or OUT[name]
    png = os.path.join(D, name + ".png")
    if os.path.exists(png):
        os.unlink(png)
    if not expect_ok:
        return subprocess.run([PYTHON, os.path.join(SOURCE, script), dataset, "-o", png] + extra,
                              capture_output=True, text=True, timeout=120)
    import figure_check
    print(f"     {script}: {figure_check.draw_and_check(script, dataset, png, extra)}", flush=True)


def test_plan_every_job():
    jobs = sorted(glob.glob(os.path.join(SOURCE, "jobs", "*.yaml")))
    check(len(jobs) >= 10, f"expected the quick start and 9 paper jobs in jobs/, found {len(jobs)}")
    names = {os.path.basename(j)[:-5] for j in jobs}
    missing = set(REDUCED) - names
    check(not missing, f"jobs missing from jobs/: {sorted(missing)}")
    for j in jobs:
        p = run(["plan", j], check=None)
        check(p.returncode == 0, f"polysweep plan {j}: exit {p.returncode}\n{p.stderr}")
        m = re.search(r"^tasks\s+(\d+)", p.stdout, re.M)
        check(m and int(m.group(1)) >= 1, f"plan {j}: no task count\n{p.stdout}")


def test_jobs_name_their_figure():
    """Each paper job's comment gives the commands to run it and to plot it, with
    this job's own output path, and the script exists."""
    for name in REDUCED:
        with open(job_path(name)) as f:
            text = f.read()
        check(f"build/polysweep run jobs/{name}.yaml" in text, f"jobs/{name}.yaml: no run command in its comment")
        m = re.search(r"^#\s+/usr/bin/python3 (tools/plot_\w+\.py) results/(\w+)\.nc( .*)? -o results/(\w+)\.png",
                      text, re.M)
        check(m is not None, f"jobs/{name}.yaml: no plot command in its comment")
        check(m.group(2) == name and m.group(4) == name, f"jobs/{name}.yaml: plot command names {m.group(2)}")
        check(f"output: results/{name}.nc" in text, f"jobs/{name}.yaml: output is not results/{name}.nc")
        check(os.path.exists(os.path.join(SOURCE, m.group(1))), f"jobs/{name}.yaml: {m.group(1)} does not exist")
        FIGURE[name] = (m.group(1), (m.group(3) or "").split())


def test_tms_privileged():
    ds = run_job("tms_privileged")
    check(int((ds.status == 1).sum()) == 6, "not every task done")
    plot("tms_privileged")
    # Dense: monosemantic neurons holding the 5 most important features.
    dense = ds.sel(sparsity=0)
    check(float(dense.neuron_participation.max()) < 1.3,
          f"dense relu_hidden: participation ratios {dense.neuron_participation.values}")
    check(int(dense.represented) == 5, f"dense relu_hidden: {int(dense.represented)} features represented")
    sparse = ds.sel(sparsity=0.997)
    check(float(sparse.neuron_participation.mean()) > 2,
          f"sparse relu_hidden: participation {sparse.neuron_participation.values} (expected polysemantic)")


def test_tms_geometry():
    ds = run_job("tms_geometry")
    plot("tms_geometry")
    import figures_common as fc
    best, _ = fc.collapse(ds, ["density"])
    rep = [int(best.sel(density=d).represented) for d in (1, 0.2, 0.05)]
    check(rep[0] == 2 and rep[1] >= 4 and rep[2] == 5, f"represented features at density 1, 0.2, 0.05: {rep}")
    # Dense: the two represented features orthogonal.
    W = best.sel(density=1).W.values[:, :2]
    cos = abs(W[:, 0] @ W[:, 1]) / np.linalg.norm(W[:, 0]) / np.linalg.norm(W[:, 1])
    check(cos < 0.05, f"dense: the two features are not orthogonal (|cos| {cos:.3f})")


def test_tms_sparsity():
    ds = run_job("tms_sparsity")
    plot("tms_sparsity")
    lin = ds.sel(arch="linear").represented.values
    relu = ds.sel(arch="relu_output").represented.values
    check(list(lin) == [5, 5, 5], f"linear: represented {lin}")
    check(relu[0] == 5 and relu[2] > 8, f"relu_output: represented {relu} at sparsity 0, 0.9, 0.99")


def test_tms_phase():
    """The trained diagram (the lowest-loss seed of each point, robust to the
    seeds that end in a one-feature local minimum) and the theory agree on
    points away from the boundaries: dense, the more important feature takes
    the dimension; sparse, superposition."""
    ds = run_job("tms_phase")
    plot("tms_phase")
    import plot_phase
    order = ["importance_rate", "density", "seed"]
    phase = plot_phase.classify(ds.norm.transpose(*order, "feature").fillna(0).values,
                                ds.W.isel(neuron=0).transpose(*order, "feature").fillna(0).values)
    best, _ = plot_phase.combine(phase, ds.eval_loss.transpose(*order).values, "best")
    r = list(ds.importance_rate.values)
    d = list(ds.density.values)
    name = [n for n, _ in plot_phase.PHASES]
    expect = {(0.1, 1): "feature 2 not represented", (10, 1): "feature 2 dedicated"}
    for rv in r:
        expect[(rv, 0.01)] = "superposition (antipodal)"
    theory = plot_phase.theory(np.array(r), np.array(d))
    for (rv, dv), want in expect.items():
        got = name[best[r.index(rv), d.index(dv)]]
        check(got == want, f"trained, r={rv}, density {dv}: {got}, expected {want}")
        th = name[theory[r.index(rv), d.index(dv)]]
        check(th == want, f"theory, r={rv}, density {dv}: {th}, expected {want}")


def test_tms_dims():
    ds = run_job("tms_dims")
    plot("tms_dims")
    dstar = ds.dims_per_feature.values
    check(abs(dstar[0] - 1) < 0.05, f"dense: dims per feature {dstar[0]}, expected 1")
    check(dstar[0] > dstar[1] > dstar[2], f"dims per feature not falling with sparsity: {dstar}")
    check(dstar[2] < 0.5, f"sparse: dims per feature {dstar[2]}")


def test_cap_quadratic():
    """Population loss: trained = predicted for K > 3 (the theory is exact there)."""
    ds = run_job("cap_quadratic")
    plot("cap_quadratic")
    pop = ds.sel(population_loss=1)
    for imp in ds.importance.values:
        for k in (5, 30):
            c = pop.sel(importance=imp, kurtosis=k)
            diff = float(abs(c.capacity - c.predicted_capacity).max())
            check(diff < 1e-3, f"{imp}, K={k}: trained capacities differ from predicted by {diff}")
            rel = float(c.final_loss / c.predicted_loss - 1)
            check(abs(rel) < 1e-4, f"{imp}, K={k}: final loss / predicted loss - 1 = {rel}")
            check(abs(float(c.capacity_sum) - 8) < 1e-3, f"{imp}, K={k}: sum C = {float(c.capacity_sum)}")
            check(0 < float((c.capacity > 0.01).sum() - (c.capacity > 0.99).sum()),
                  f"{imp}, K={k}: no polysemantic band")
        # K < 3: all or nothing (any m features; training may pick a worse set).
        c = pop.sel(importance=imp, kurtosis=1.5).capacity.values
        check(np.all((c < 1e-3) | (c > 1 - 1e-3)), f"{imp}, K=1.5: capacities not 0 or 1: {c}")


def test_cap_activations():
    ds = run_job("cap_activations")
    plot("cap_activations")
    for arch in ("relu_output", "gelu_output"):
        rep = ds.sel(arch=arch).represented.values
        check(rep[1] > rep[0], f"{arch}: represented {rep} at sparsity 0, 0.9 (no superposition)")


def test_pow_gain():
    ds = run_job("pow_gain")
    plot("pow_gain")
    ratio = (ds.power_gain / ds.power_gain_baseline).transpose("m", "density").values
    check(np.all((ratio[:, 0] > 0.8) & (ratio[:, 0] < 1.2)), f"dense: gain / baseline {ratio[:, 0]}, expected ~1")
    check(np.all(ratio[:, 1] > 1.1 * ratio[:, 0]), f"gain / baseline does not grow with sparsity: {ratio}")
    check(ratio[-1, 1] > 2, f"m=4, sparse: gain / baseline {ratio[-1, 1]} (no gain from superposition)")


def test_inc_incidental():
    ds = run_job("inc_incidental")
    plot("inc_incidental")
    # The L1 penalty sparsifies: each feature on one neuron.
    fr = float(ds.fourth_norm_ratio.sel(m=1024).mean())
    check(fr > 0.95, f"fourth-norm ratio {fr}: features not concentrated on single neurons")
    check(int(ds.represented.min()) == 32, f"not every feature represented: {ds.represented.values}")
    poly = ds.polysemantic_neurons.mean("seed")
    check(float(poly.sel(m=128)) > float(poly.sel(m=1024)),
          f"polysemantic neurons do not fall with m: {poly.values}")


def test_quickstart_plot_still_works():
    """tools/plot_quickstart.py is now plot_sparsity.py under its old name."""
    p = subprocess.run([PYTHON, os.path.join(TOOLS, "plot_quickstart.py"), OUT["tms_sparsity"], "-o",
                        os.path.join(D, "qs.png")], capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, f"plot_quickstart.py failed:\n{p.stderr}")


def test_wrong_dataset_is_refused():
    """Each script, given another experiment's dataset, exits non-zero and says what is missing."""
    cases = [
        ("tms_geometry", "cap_quadratic", "'W'"),
        ("tms_phase", "tms_sparsity", "importance_rate"),
        ("tms_dims", "cap_quadratic", "density"),
        ("cap_quadratic", "tms_sparsity", "predicted_capacity"),
        ("pow_gain", "tms_dims", "power_gain"),
        ("inc_incidental", "tms_sparsity", "'m'"),
        ("tms_privileged", "pow_gain", "'W'"),
        ("tms_sparsity", "inc_incidental", "sparsity"),
    ]
    for fig, other, word in cases:
        p = plot(fig, dataset=OUT[other], expect_ok=False)
        script = FIGURE[fig][0]
        check(p.returncode != 0, f"{script} accepted the {other} dataset")
        check(word in p.stderr and "Traceback" not in p.stderr,
              f"{script} on {other}: message does not name {word}:\n{p.stderr}")
    p = plot("tms_geometry", dataset=os.path.join(D, "nonexistent.nc"), expect_ok=False)
    check(p.returncode != 0 and "no such file" in p.stderr, f"missing file: {p.stderr}")


if __name__ == "__main__":
    try:
        main([test_plan_every_job, test_jobs_name_their_figure, test_tms_privileged, test_tms_geometry,
              test_tms_sparsity, test_tms_phase, test_tms_dims, test_cap_quadratic, test_cap_activations,
              test_pow_gain, test_inc_incidental, test_quickstart_plot_still_works,
              test_wrong_dataset_is_refused])
    finally:
        cleanup(D)
