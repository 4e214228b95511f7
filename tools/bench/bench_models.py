#!/usr/bin/python3
"""Model benchmark (issue 7; not a test): polysweep against PyTorch, side by side.

    /usr/bin/python3 tools/bench/bench_models.py [--polysweep build/polysweep]
        [--repeat 3] [--scale 1] [--only 20x5,1000x100@0.01,sweep] [--json out.json]
    /usr/bin/python3 tools/bench/bench_models.py --paths [--polysweep ...] [--repeat 3]
        (polysweep alone: task cost around the sparse path's density threshold,
        and peak memory against the number of steps)

For each case, in one run on this machine, it ALTERNATES a polysweep run and
a PyTorch run of the same model (the TMS `relu_output` autoencoder
x' = ReLU(W^T W x + b), float32, batch 1024, the same number of AdamW steps
with PyTorch's defaults lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay
0.01, the same data law x_i = Bernoulli(p) * U[0, 1), constant importance),
each case of each side in a process of its own, and prints medians over the
repeats of:

- model-steps per second of both sides and their ratio;
- achieved GFLOP/s, counting 10 B n m flops per step (the five dense GEMMs
  of relu_output: at density < 1 polysweep does less work, so this is an
  "effective" rate) against the sgemm rate of this machine, measured in the
  same run by a small C program linked against the same OpenBLAS;
- peak memory: the maximum resident set size of each side's process
  (os.wait4 of the child; PyTorch's includes the ~300 MB of its libraries).

Cases: (n, m) = (20, 5), (100, 20), (400, 40), (1000, 100), (4000, 400) at
density 1 and 0.01; and the TMS sparsity sweep n = 20, m = 5 with 20
densities p = 20^(-k/19) (the TMS notebook's feature_probability), importance
0.7^i, as whole sweeps: `polysweep run` of a 20-task job (the whole command,
process start to exit: job parsing, 20 trainings, evaluation, measurements,
NetCDF output) against the notebook's way, 20 instances batched in one
model (einsum over an instance dimension, loss summed over instances), timed
from the model's creation to the end of training.

polysweep's time per step comes from the task's `wall_time` in the dataset,
which covers the whole task: initialisation, training, a 1024-example
evaluation and the measurements. That fixed part (about a second at
n = 4000, where the measurements build the 4000 x 4000 Gram matrix in
double) is taken out by a 1-step run of the same task right before each
S-step run: per step = (wall_time(S) - wall_time(1)) / (S - 1); the table
also shows it ("fixed s": wall_time(1) minus a step). PyTorch's time is its training loop alone (after
3 untimed warm-up steps, data generation included, as in the notebook).

Fair conditions: 1 thread on both sides (OPENBLAS_NUM_THREADS=1,
OMP_NUM_THREADS=1, torch.set_num_threads(1), run.threads: 1) and the same
OpenBLAS kernel: OPENBLAS_CORETYPE is set explicitly for both sides to the
best kernel this CPU supports (SKYLAKEX with AVX-512 F/DQ/BW/VL, HASWELL with
AVX2 + FMA), or to --coretype. Debian's PyTorch does its matrix products
through libblas.so.3, which the Debian alternatives point at the same
OpenBLAS; the script prints what each side actually loaded.

The machine may be shared: the ratios of the side-by-side runs are what
counts; absolute rates need a quiet machine. The load average is printed.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
B = 1024

# (n, m): {density: steps at --scale 1}. PyTorch needs 5-10 s per run. At
# density 0.01 the sparse models run longer: polysweep's cost per step falls
# during training (as the output biases turn negative, dZ empties), so a
# short run would show only the first, densest steps of a TMS training
# (typically 10,000 steps or more).
SHAPES = [(20, 5, {1.0: 20000, 0.01: 20000}), (100, 20, {1.0: 4000, 0.01: 4000}),
          (400, 40, {1.0: 1000, 0.01: 1000}), (1000, 100, {1.0: 400, 0.01: 2000}),
          (4000, 400, {1.0: 60, 0.01: 100})]
SWEEP_STEPS = 5000
SWEEP_N, SWEEP_M, SWEEP_K = 20, 5, 20

# Targets of issue 7: minimum speed-up over PyTorch per case.
TARGETS = {(20, 5, 1.0): 10.0, (100, 20, 1.0): 4.0, (1000, 100, 1.0): 2.0,
           (1000, 100, 0.01): 6.0}
SGEMM_TARGET = 0.80  # (4000, 400) at density 1: fraction of the sgemm rate

SGEMM_C = r"""
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}
static float *mat(size_t k)
{
    float *a = malloc(k * sizeof *a);
    for (size_t i = 0; i < k; i++)
        a[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
    return a;
}
/* argv: N (square sgemm) then n m of the model step: prints the best rate of
 * N x N x N sgemm and of the five GEMMs of a relu_output step at (n, m). */
int main(int argc, char **argv)
{
    int N = atoi(argv[1]), n = atoi(argv[2]), m = atoi(argv[3]), Bt = 1024;
    float *A = mat((size_t)N * N), *Bm = mat((size_t)N * N), *C = mat((size_t)N * N);
    double best = 1e30;
    for (int r = 0; r < 7; r++) {
        double t = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1, A, N, Bm, N, 0, C, N);
        t = now() - t;
        best = t < best ? t : best;
    }
    printf("%.3f\n", 2.0 * N * N * N / best * 1e-9);
    float *X = mat((size_t)Bt * n), *W = mat((size_t)m * n), *H = mat((size_t)Bt * m);
    float *Z = mat((size_t)Bt * n), *dH = mat((size_t)Bt * m), *dW = mat((size_t)m * n);
    best = 1e30;
    for (int r = 0; r < 7; r++) {
        double t = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Bt, m, n, 1, X, n, W, n, 0, H, m);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Bt, n, m, 1, H, m, W, n, 0, Z, n);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Bt, m, n, 1, Z, n, W, n, 0, dH, m);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, n, Bt, 1, H, m, Z, n, 0, dW, n);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, n, Bt, 1, dH, m, X, n, 1, dW, n);
        t = now() - t;
        best = t < best ? t : best;
    }
    printf("%.3f\n", 10.0 * Bt * n * m / best * 1e-9);
    return 0;
}
"""


# ---------------------------------------------------------------- PyTorch side

def torch_blas_info():
    """The OpenBLAS this process loaded (through torch's libblas.so.3) and its kernel."""
    import ctypes
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1]
            if "blas" in path and path.endswith((".so", ".so.0", ".so.3")) or "libopenblas" in path:
                libs.add(path)
    core = "?"
    for p in sorted(libs):
        try:
            lib = ctypes.CDLL(p)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            core = lib.openblas_get_corename().decode()
            break
        except (OSError, AttributeError):
            continue
    return sorted(libs), core


def torch_worker(spec):
    """One PyTorch run; prints a JSON line."""
    import torch
    torch.set_num_threads(1)
    torch.manual_seed(0)
    steps = spec["steps"]
    if spec["kind"] == "single":
        n, m, p = spec["n"], spec["m"], spec["density"]
        t0 = time.perf_counter()
        W = torch.nn.Parameter(torch.nn.init.xavier_normal_(torch.empty(m, n)))
        b = torch.nn.Parameter(torch.zeros(n))
        imp = torch.ones(n)
        opt = torch.optim.AdamW([W, b], lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)

        def step():
            x = torch.where(torch.rand(B, n) <= p, torch.rand(B, n), torch.zeros(()))
            out = torch.relu((x @ W.T) @ W + b)
            loss = (imp * (x - out) ** 2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return loss
    else:
        # The TMS notebook: n_instances models in one, W (I, n, m), the loss
        # summed over instances, one AdamW over the instanced parameters.
        n, m, k = spec["n"], spec["m"], spec["instances"]
        t0 = time.perf_counter()
        prob = torch.tensor([20.0 ** (-i / (k - 1)) for i in range(k)])
        W = torch.nn.Parameter(torch.empty(k, n, m))
        for i in range(k):
            torch.nn.init.xavier_normal_(W.data[i])
        b = torch.nn.Parameter(torch.zeros(k, n))
        imp = (0.7 ** torch.arange(n, dtype=torch.float32))[None, None, :]
        opt = torch.optim.AdamW([W, b], lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)

        def step():
            feat = torch.rand(B, k, n)
            x = torch.where(torch.rand(B, k, n) <= prob[None, :, None], feat, torch.zeros(()))
            h = torch.einsum("bif,ifh->bih", x, W)
            out = torch.relu(torch.einsum("bih,ifh->bif", h, W) + b)
            loss = (imp * (x - out) ** 2).mean(dim=(0, 2)).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return loss
    warm = 3 if spec["kind"] == "single" else 0
    for _ in range(warm):
        step()
    t = time.perf_counter()
    for _ in range(steps):
        loss = step()
    t1 = time.perf_counter()
    libs, core = torch_blas_info()
    # single: the training loop; sweep: from the model's creation to the end
    seconds = t1 - t if spec["kind"] == "single" else t1 - t0
    print(json.dumps({"seconds": seconds, "loop": t1 - t, "steps": steps,
                      "loss": float(loss), "core": core, "blas": libs,
                      "torch": torch.__version__}))


# -------------------------------------------------------------- running sides

def run_measured(cmd, env):
    """Spawn cmd, wait for it with os.wait4 (its own max RSS), return results."""
    t = time.monotonic()
    out_r, out_w = os.pipe()
    err_f = tempfile.TemporaryFile()
    pid = os.fork()
    if pid == 0:  # child
        os.close(out_r)
        os.dup2(out_w, 1)
        os.dup2(err_f.fileno(), 2)
        try:
            os.execve(cmd[0], cmd, env)
        finally:
            os._exit(127)
    os.close(out_w)
    chunks = []
    while True:
        c = os.read(out_r, 65536)
        if not c:
            break
        chunks.append(c)
    os.close(out_r)
    _, status, ru = os.wait4(pid, 0)
    wall = time.monotonic() - t
    err_f.seek(0)
    err = err_f.read().decode(errors="replace")
    rc = os.waitstatus_to_exitcode(status)
    if rc != 0:
        sys.exit(f"{' '.join(cmd)}: exit {rc}\n{err}")
    return b"".join(chunks).decode(), err, wall, ru.ru_maxrss / 1024.0


def child_env(core):
    e = dict(os.environ)
    e.update({"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    e.pop("POLYSWEEP_BLAS_CORE", None)
    if core:
        e["OPENBLAS_CORETYPE"] = core
    return e


def ps_job(path, out, settings, grid=None):
    lines = ["title: bench_models", f"output: {out}"]
    if grid:
        lines.append("grid:")
        lines += [f"  {k}: {v}" for k, v in grid.items()]
    lines.append("settings:")
    lines += [f"  {k}: {v}" for k, v in settings.items()]
    lines += ["run:", "  threads: 1", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def ps_read(out):
    import netCDF4
    with netCDF4.Dataset(out) as ds:
        wall = ds["wall_time"][...].astype(float)
        status = ds["status"][...]
        loss = ds["final_loss"][...].astype(float)
        core = ds.getncattr("blas_core")
    return wall, status, loss, core


def run_ps_once(ps, d, case, core):
    n, m, p, steps = case
    job, out = os.path.join(d, "single.yaml"), os.path.join(d, "single.nc")
    ps_job(job, out, {"arch": "relu_output", "n": n, "m": m, "density": p,
                      "importance": "constant", "steps": steps, "batch": B,
                      "log_every": steps, "eval_samples": 1024, "seed": 0})
    _, _, wall, rss = run_measured([ps, "run", job, "--fresh", "-q"], child_env(core))
    w, status, loss, got_core = ps_read(out)
    return {"wall_time": float(w.flat[0]), "steps": steps, "loss": float(loss.flat[0]),
            "rss": rss, "core": got_core, "command": wall}


def run_ps_single(ps, d, case, core):
    """A 1-step run, then the S-step run; "seconds" is the time of S steps
    without the fixed per-task cost: (wall_time(S) - wall_time(1)) S / (S - 1)."""
    n, m, p, steps = case
    one = run_ps_once(ps, d, (n, m, p, 1), core)["wall_time"]
    r = run_ps_once(ps, d, case, core)
    per = (r["wall_time"] - one) / (steps - 1)
    r["seconds"] = per * steps
    r["fixed"] = max(0.0, one - per)
    return r


def run_ps_sweep(ps, d, steps, core):
    job, out = os.path.join(d, "sweep.yaml"), os.path.join(d, "sweep.nc")
    ps_job(job, out, {"arch": "relu_output", "n": SWEEP_N, "m": SWEEP_M,
                      "importance": "decay", "importance_rate": 0.7, "steps": steps,
                      "batch": B, "seed": 0},
           grid={"density": f"{{logspace: [1, 0.05, {SWEEP_K}]}}"})
    _, _, wall, rss = run_measured([ps, "run", job, "--fresh", "-q"], child_env(core))
    w, status, loss, got_core = ps_read(out)
    return {"seconds": wall, "task_seconds": float(w.sum()), "steps": steps,
            "loss": float(loss.mean()), "rss": rss, "core": got_core}


def run_torch(spec, core):
    out, _, wall, rss = run_measured([sys.executable, os.path.abspath(__file__),
                                      "--torch-worker", json.dumps(spec)], child_env(core))
    r = json.loads(out.strip().splitlines()[-1])
    r["rss"] = rss
    return r


# ------------------------------------------------------------------ machine

def best_coretype():
    flags = set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    if {"avx512f", "avx512dq", "avx512bw", "avx512vl"} <= flags:
        return "SKYLAKEX"
    if {"avx2", "fma"} <= flags:
        return "HASWELL"
    return ""


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "?"


def measure_sgemm(d, core):
    cc = shutil.which("cc") or shutil.which("gcc")
    src, exe = os.path.join(d, "sgemm.c"), os.path.join(d, "sgemm")
    with open(src, "w") as f:
        f.write(SGEMM_C)
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "openblas"], capture_output=True,
                           text=True, check=True).stdout.split()
    subprocess.run([cc, "-O2", src, "-o", exe] + flags, check=True)
    out, _, _, _ = run_measured([exe, "2048", "4000", "400"], child_env(core))
    sq, step = (float(x) for x in out.split())
    return sq, step


# ------------------------------------------------------------------ report

def med(xs):
    return statistics.median(xs)


def fmt_rate(x):
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--polysweep", default=os.path.join(SOURCE, "build", "polysweep"))
    ap.add_argument("--repeat", type=int, default=3, help="runs per case and side (medians)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the step counts")
    ap.add_argument("--only", default="", help="comma list: NxM (both densities), NxM@P, sweep")
    ap.add_argument("--coretype", default=None, help="OPENBLAS_CORETYPE for both sides "
                    "(default: the best this CPU supports)")
    ap.add_argument("--json", default=None, help="also write the raw results here")
    ap.add_argument("--paths", action="store_true", help="instead: polysweep alone, the cost of "
                    "whole tasks around the sparse path's density threshold, and peak memory "
                    "against the number of steps")
    ap.add_argument("--torch-worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.torch_worker:
        torch_worker(json.loads(args.torch_worker))
        return
    ps = os.path.abspath(args.polysweep)
    if not os.access(ps, os.X_OK):
        sys.exit(f"no polysweep executable at {ps} (build it, or pass --polysweep)")
    core = best_coretype() if args.coretype is None else args.coretype
    if args.paths:
        bench_paths(ps, core, args.repeat)
        return

    cases = []
    for n, m, by_density in SHAPES:
        for p, steps in by_density.items():
            cases.append((n, m, p, max(5, int(steps * args.scale))))
    want_sweep = True
    if args.only:
        sel = [s.strip() for s in args.only.split(",") if s.strip()]
        want_sweep = "sweep" in sel

        def picked(c):
            return f"{c[0]}x{c[1]}" in sel or f"{c[0]}x{c[1]}@{c[2]:g}" in sel
        cases = [c for c in cases if picked(c)]
    sweep_steps = max(100, int(SWEEP_STEPS * args.scale) // 100 * 100)

    load = os.getloadavg()
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs, load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"polysweep: {ps}")
    print(f"OPENBLAS_CORETYPE={core or '(unset)'} for both sides, 1 thread, batch {B}, "
          f"{args.repeat} alternating runs per case (medians)")
    d = tempfile.mkdtemp(prefix="polysweep-bench-")
    results = {"machine": cpu_model(), "coretype": core, "cases": {}, "load_start": load}
    try:
        sgemm = []
        runs = {c: {"ps": [], "torch": []} for c in cases}
        sweep = {"ps": [], "torch": []}
        for r in range(args.repeat):
            sgemm.append(measure_sgemm(d, core))
            print(f"  run {r + 1}: sgemm (same OpenBLAS, 1 thread) {sgemm[-1][0]:.1f} GFLOP/s at "
                  f"2048^3, {sgemm[-1][1]:.1f} GFLOP/s for the five GEMMs of a (4000, 400) step",
                  flush=True)
            for c in cases:
                n, m, p, steps = c
                spec = {"kind": "single", "n": n, "m": m, "density": p, "steps": steps}
                order = ("ps", "torch") if r % 2 == 0 else ("torch", "ps")
                for side in order:
                    if side == "ps":
                        runs[c]["ps"].append(run_ps_single(ps, d, c, core))
                    else:
                        runs[c]["torch"].append(run_torch(spec, core))
                a, t = runs[c]["ps"][-1], runs[c]["torch"][-1]
                print(f"  run {r + 1}: n={n:<5} m={m:<4} p={p:<5g} polysweep "
                      f"{steps / a['seconds']:10.1f} steps/s  torch {steps / t['seconds']:9.1f} "
                      f"steps/s  ({(steps / a['seconds']) / (steps / t['seconds']):.2f}x)",
                      flush=True)
            if want_sweep:
                spec = {"kind": "sweep", "n": SWEEP_N, "m": SWEEP_M, "instances": SWEEP_K,
                        "steps": sweep_steps}
                order = ("ps", "torch") if r % 2 == 0 else ("torch", "ps")
                for side in order:
                    if side == "ps":
                        sweep["ps"].append(run_ps_sweep(ps, d, sweep_steps, core))
                    else:
                        sweep["torch"].append(run_torch(spec, core))
                a, t = sweep["ps"][-1], sweep["torch"][-1]
                print(f"  run {r + 1}: TMS sweep polysweep {a['seconds']:.2f} s, torch "
                      f"{t['seconds']:.2f} s ({t['seconds'] / a['seconds']:.2f}x)", flush=True)

        # ---- table
        sq = med([x[0] for x in sgemm])
        step_rate = med([x[1] for x in sgemm])
        results["sgemm"] = {"square2048": sq, "step_4000x400": step_rate, "runs": sgemm}
        print(f"\nsgemm of this machine (median of {len(sgemm)}): {sq:.1f} GFLOP/s at 2048^3 "
              f"(the five GEMMs of a (4000, 400) step alone: {step_rate:.1f} GFLOP/s)\n")
        hdr = ("| n | m | density | steps | polysweep steps/s | PyTorch steps/s | ratio | "
               "polysweep GFLOP/s | % sgemm | PyTorch GFLOP/s | polysweep RSS MiB | "
               "PyTorch RSS MiB | fixed s | target |")
        print(hdr)
        print("|" + "---|" * (hdr.count("|") - 1))
        for c in cases:
            n, m, p, steps = c
            ps_rate = med([steps / x["seconds"] for x in runs[c]["ps"]])
            t_rate = med([steps / x["seconds"] for x in runs[c]["torch"]])
            ratio = med([(steps / a["seconds"]) / (steps / t["seconds"])
                         for a, t in zip(runs[c]["ps"], runs[c]["torch"])])
            flop = 10.0 * B * n * m
            gf, tgf = ps_rate * flop * 1e-9, t_rate * flop * 1e-9
            rss = med([x["rss"] for x in runs[c]["ps"]])
            fixed = med([x["fixed"] for x in runs[c]["ps"]])
            trss = med([x["rss"] for x in runs[c]["torch"]])
            tgt = ""
            if (n, m, p) in TARGETS:
                need = TARGETS[(n, m, p)]
                tgt = f">= {need:g}x: {'met' if ratio >= need else 'MISSED'}"
            if (n, m, p) == (4000, 400, 1.0):
                tgt = (f">= {100 * SGEMM_TARGET:.0f}% sgemm: "
                       f"{'met' if gf >= SGEMM_TARGET * sq else 'MISSED'}")
            print(f"| {n} | {m} | {p:g} | {steps} | {fmt_rate(ps_rate)} | {fmt_rate(t_rate)} | "
                  f"{ratio:.2f}x | {gf:.1f} | {100 * gf / sq:.0f}% | {tgf:.1f} | {rss:.0f} | "
                  f"{trss:.0f} | {fixed:.2f} | {tgt} |")
            results["cases"][f"{n}x{m}@{p:g}"] = {
                "steps": steps, "polysweep_steps_per_s": ps_rate, "torch_steps_per_s": t_rate,
                "ratio": ratio, "polysweep_gflops": gf, "torch_gflops": tgf,
                "polysweep_rss_mib": rss, "torch_rss_mib": trss, "fixed_s": fixed,
                "runs": runs[c],
                "core_polysweep": runs[c]["ps"][-1]["core"],
                "core_torch": runs[c]["torch"][-1]["core"]}
        if want_sweep and sweep["ps"]:
            ps_s = med([x["seconds"] for x in sweep["ps"]])
            t_s = med([x["seconds"] for x in sweep["torch"]])
            ratio = med([t["seconds"] / a["seconds"] for a, t in zip(sweep["ps"], sweep["torch"])])
            ms = SWEEP_K * sweep_steps
            print(f"\nTMS sparsity sweep, n={SWEEP_N}, m={SWEEP_M}, {SWEEP_K} densities "
                  f"20^(-k/19), {sweep_steps} steps of {B}: polysweep {ps_s:.2f} s for the whole "
                  f"command ({ms / ps_s:,.0f} model-steps/s; tasks' own wall_time "
                  f"{med([x['task_seconds'] for x in sweep['ps']]):.2f} s, max RSS "
                  f"{med([x['rss'] for x in sweep['ps']]):.0f} MiB), PyTorch, 20 instances in "
                  f"one model: {t_s:.2f} s ({ms / t_s:,.0f} model-steps/s, max RSS "
                  f"{med([x['rss'] for x in sweep['torch']]):.0f} MiB): {ratio:.2f}x")
            results["sweep"] = {"steps": sweep_steps, "polysweep_s": ps_s, "torch_s": t_s,
                                "ratio": ratio, "runs": sweep}
        anyrun = next((runs[c] for c in cases), None)
        tinfo = anyrun["torch"][-1] if anyrun else (sweep["torch"][-1] if sweep["torch"] else None)
        if anyrun:
            print(f"\nOpenBLAS kernel loaded: polysweep {anyrun['ps'][-1]['core']}, "
                  f"PyTorch {tinfo['core']}")
        if tinfo:
            print(f"PyTorch {tinfo['torch']} BLAS libraries: {', '.join(tinfo['blas'])}")
        load = os.getloadavg()
        print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        results["load_end"] = load
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1, default=str)
    finally:
        shutil.rmtree(d, ignore_errors=True)


# (n, m) and densities around the sparse path's threshold (src/model/sparse.c,
# SPARSE_MAX_DENSITY 0.05): 0.11, 0.1 and 0.07 take the BLAS path, 0.05 and
# 0.03 the sparse one. A build with -DSPARSE_MAX_DENSITY=1 in c_args puts
# all of them on the sparse path.
PATH_SHAPES = [(400, 40), (1000, 40), (1000, 100)]
PATH_DENSITIES = [0.11, 0.1, 0.07, 0.05, 0.03]
PATH_STEPS = 1000


def bench_paths(ps, core, repeat):
    print(f"polysweep: {ps}; OPENBLAS_CORETYPE={core or '(unset)'}, 1 thread, batch {B}, "
          f"{PATH_STEPS} steps; medians of {repeat}")
    d = tempfile.mkdtemp(prefix="polysweep-bench-")
    try:
        print("\nseconds per task (wall_time: training, evaluation, measurements)")
        print("| (n, m) | " + " | ".join(f"{p:g}" for p in PATH_DENSITIES) + " |")
        print("|---" * (len(PATH_DENSITIES) + 1) + "|")
        for n, m in PATH_SHAPES:
            cells = []
            for p in PATH_DENSITIES:
                w = [run_ps_once(ps, d, (n, m, p, PATH_STEPS), core)["wall_time"] for _ in range(repeat)]
                cells.append(f"{statistics.median(w):.2f}")
            print(f"| ({n}, {m}) | " + " | ".join(cells) + " |", flush=True)
        print("\npeak memory (max RSS of the whole command) against the number of steps")
        for n, m, p in ((1000, 100, 0.01), (1000, 100, 1.0)):
            for steps in (100, 3000):
                rss = max(run_ps_once(ps, d, (n, m, p, steps), core)["rss"] for _ in range(repeat))
                print(f"  ({n}, {m}) density {p:g}, {steps:5d} steps: {rss:.1f} MiB", flush=True)
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
