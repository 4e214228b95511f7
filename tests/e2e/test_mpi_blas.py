#!/usr/bin/python3
"""The OpenBLAS core check (platform.md, "OpenBLAS misdetects this CPU"):
the kernel in use must match what the CPU supports (read here independently
from /proc/cpuinfo), a user's OPENBLAS_CORETYPE is respected, and a process
that got a worse kernel re-executes itself with a better one - also under
mpirun, where every rank does it before MPI starts."""
import os
import subprocess

from test_mpi_util import mpirun
from util import AVX512, POLYSWEEP, SOURCE, check, cpu_flags, cleanup, main, run, tempdir, write_job

D = tempdir("mpi-blas")
JOB = write_job(D, "blas.yaml", """
title: blas core
grid:
  n: [8, 40]
settings:
  m: 4
  steps: 200
  batch: 64
  log_every: 100
  eval_samples: 100
run:
  threads: 1
""")

# OpenBLAS core names by instruction set (its driver/others/dynamic.c).
AVX512_CORES = {"SkylakeX", "Cooperlake", "SapphireRapids"}
AVX2_CORES = {"Haswell", "Zen", "Excavator"}


def best_cores():
    """The cores a correct check must end on for this CPU."""
    f = cpu_flags()
    if AVX512 <= f:
        return AVX512_CORES
    if {"avx2", "fma"} <= f:
        return AVX2_CORES
    return None


def attrs(path):
    import netCDF4
    with netCDF4.Dataset(path) as ds:
        return {k: ds.getncattr(k) for k in ds.ncattrs()}


def test_no_user_choice_gives_the_best_kernel():
    o = os.path.join(D, "auto.nc")
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "POLYSWEEP_BLAS_CORE")}
    p = subprocess.run([POLYSWEEP, "run", JOB, "-o", o], cwd=SOURCE, env=env, capture_output=True,
                       text=True, timeout=120)
    check(p.returncode == 0, p.stderr)
    a = attrs(o)
    want = best_cores()
    if want is not None:
        check(a["blas_core"] in want, f"blas_core {a['blas_core']!r}, CPU supports {sorted(want)}")
    note = a["blas_core_note"]
    check("matches the CPU" in note or "re-executed" in note, f"blas_core_note {note!r}")
    check("polysweep: BLAS: " in p.stderr and "warning" not in p.stderr, p.stderr)


def test_user_choice_is_respected():
    o = os.path.join(D, "user.nc")
    p = run(["run", JOB, "-o", o], env={"OPENBLAS_CORETYPE": "Haswell"}, check=0)
    a = attrs(o)
    check(a["blas_core"] == "Haswell", f"OPENBLAS_CORETYPE=Haswell gave {a['blas_core']!r}")
    check("set by the user" in a["blas_core_note"], a["blas_core_note"])
    if best_cores() == AVX512_CORES:
        check("warning: BLAS:" in p.stderr and "SKYLAKEX would be faster" in p.stderr, p.stderr)


def test_worse_kernel_is_replaced_by_reexecution():
    # An inherited OPENBLAS_CORETYPE gives OpenBLAS a worse kernel, as a
    # misdetection would; POLYSWEEP_BLAS_CORE=best treats it as not the
    # user's choice, so the process re-executes itself with the best core.
    if best_cores() != AVX512_CORES:
        print("     skipped: needs an AVX-512 CPU")
        return
    env = {"OPENBLAS_CORETYPE": "Prescott", "POLYSWEEP_BLAS_CORE": "best"}
    o = os.path.join(D, "best.nc")
    run(["run", JOB, "-o", o], env=env, check=0)
    a = attrs(o)
    check(a["blas_core"] == "SkylakeX", f"blas_core {a['blas_core']!r}")
    check("OpenBLAS used Prescott" in a["blas_core_note"] and "re-executed with OPENBLAS_CORETYPE=SKYLAKEX"
          in a["blas_core_note"], a["blas_core_note"])
    # Under mpirun every rank re-executes itself before MPI_Init; the dataset
    # records the workers' core, which rank 0 gathers.
    o = os.path.join(D, "best-mpi.nc")
    p = mpirun(3, ["run", JOB, "-o", o], env=env, check=0)
    a = attrs(o)
    check(a["blas_core"] == "SkylakeX", f"mpirun: workers' blas_core {a['blas_core']!r}\n{p.stderr}")
    check("re-executed" in a["blas_core_note"], a["blas_core_note"])
    check(p.stderr.count("polysweep: BLAS:") == 1, f"one BLAS line from rank 0 expected:\n{p.stderr}")


def test_no_reexecution_loop():
    # A guard that does not match OPENBLAS_CORETYPE (as if something changed
    # it after our re-execution): keep going with a warning, never loop.
    if best_cores() != AVX512_CORES:
        print("     skipped: needs an AVX-512 CPU")
        return
    o = os.path.join(D, "guard.nc")
    p = run(["run", JOB, "-o", o], env={"OPENBLAS_CORETYPE": "Prescott", "POLYSWEEP_BLAS_CORE": "best",
                                        "POLYSWEEP_BLAS_REEXEC": "Prescott:HASWELL"}, check=0, timeout=60)
    a = attrs(o)
    check(a["blas_core"] == "Prescott", a["blas_core"])
    check("not re-executing again" in p.stderr, p.stderr)


if __name__ == "__main__":
    try:
        main([test_no_user_choice_gives_the_best_kernel, test_user_choice_is_respected,
              test_worse_kernel_is_replaced_by_reexecution, test_no_reexecution_loop])
    finally:
        cleanup(D)
