#!/usr/bin/python3
"""The SIMD level changes the speed, never the results (issue 7): the same
job run with POLYSWEEP_SIMD=generic, =avx2 and =avx512 (as far as this CPU
has them) gives byte-identical data variables. The job takes every
training path: the fused small-model kernels (n m <= 4096), the BLAS path
with the vectorised output pass, and the sparse path (sparse inputs at a
larger shape), for relu_output, relu_hidden and gelu_output, with hidden
noise, plus a signed value law. The OpenBLAS kernel is pinned (the BLAS's own
results depend on it; that is OpenBLAS's business, not the SIMD level's).
Each run must say (the dataset's run_layout) that it ran at the level asked
for, and a run without POLYSWEEP_SIMD at the CPU's best: datasets that agree
because every run took the same code would prove nothing. On a CPU without
AVX2 there is only the generic level: skipped (exit 77), not passed."""
import os

import netCDF4

from util import (AVX512, assert_same_data, check, cpu_flags, cleanup, main, run, skip, tempdir,
                  write_job)

os.environ.pop("POLYSWEEP_SIMD", None)  # the default run must be the default
D = tempdir("simd")
JOB = write_job(D, "simd.yaml", """
title: SIMD levels
grid:
  arch: [relu_output, relu_hidden, gelu_output]
  n: [20, 300]
  density: [1, 0.02]
  values: [uniform, uniform_signed]
settings:
  m: 24
  importance: decay
  importance_rate: 0.99
  hidden_noise: gaussian
  noise_sigma: 0.01
  steps: 60
  batch: 96
  log_every: 20
  eval_samples: 300
run:
  threads: 1
""")


def cpu_levels():
    flags = cpu_flags()
    levels = ["generic"]
    if "avx2" in flags:
        levels.append("avx2")
    if AVX512 <= flags:
        levels.append("avx512")
    return levels


def simd_of(path):
    """The SIMD level a run reports in its dataset's run_layout ("..., SIMD avx2")."""
    with netCDF4.Dataset(path) as ds:
        layout = ds.getncattr("run_layout")
    check(", SIMD " in layout, f"{path}: run_layout does not name the SIMD level: {layout!r}")
    return layout.split(", SIMD ", 1)[1].split(";", 1)[0]


def test_same_results_at_every_simd_level():
    levels = cpu_levels()
    if len(levels) < 2:
        skip("this CPU has no AVX2: generic is its only SIMD level, there is nothing to compare")
    env = {"OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE") or "HASWELL",
           "OPENBLAS_NUM_THREADS": "1"}
    outs = []
    for level in levels + [None]:  # None: the default, the CPU's best
        out = os.path.join(D, f"{level or 'default'}.nc")
        run(["run", JOB, "-o", out, "-q"], env=dict(env, POLYSWEEP_SIMD=level) if level else env, check=0)
        used = simd_of(out)
        check(used == (level or levels[-1]),
              f"POLYSWEEP_SIMD={level or '(unset)'}: the run used SIMD {used}, expected {level or levels[-1]}")
        outs.append((level or "default", out))
    for level, out in outs[1:]:
        nvars = assert_same_data(outs[0][1], out, f"POLYSWEEP_SIMD={level} against generic")
        check(nvars >= 10, f"only {nvars} data variables compared")
    print(f"  levels compared: {', '.join(level for level, _ in outs)}")


if __name__ == "__main__":
    try:
        main([test_same_results_at_every_simd_level])
    finally:
        cleanup(D)
