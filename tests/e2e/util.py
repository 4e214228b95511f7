"""Shared helpers of the script tests: where things are, running polysweep,
comparing datasets. Tests are plain scripts: each check that fails raises,
and the script exits non-zero."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

SOURCE = os.environ.get("POLYSWEEP_SOURCE") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("POLYSWEEP_BUILD") or os.path.join(SOURCE, "build")
POLYSWEEP = os.environ.get("POLYSWEEP") or os.path.join(BUILD, "polysweep")
PYTHON = "/usr/bin/python3"


def run(args, cwd=SOURCE, env=None, timeout=600, check=None):
    """Run polysweep with args; returns CompletedProcess (text). check=code asserts the exit code."""
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run([POLYSWEEP] + list(args), cwd=cwd, env=e, capture_output=True, text=True,
                       timeout=timeout)
    if check is not None and p.returncode != check:
        raise AssertionError(f"polysweep {' '.join(args)}: exit {p.returncode}, expected {check}\n"
                             f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p


def tempdir(name):
    d = tempfile.mkdtemp(prefix=f"polysweep-{name}-")
    return d


def cleanup(d):
    shutil.rmtree(d, ignore_errors=True)


def write_job(directory, name, text):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def data_variables_bytes(path, skip=("wall_time",)):
    """{name: raw bytes} of every data variable of a NetCDF file (not coordinates),
    read with netCDF4 with no masking or scaling, minus the nondeterministic ones."""
    import netCDF4
    import numpy as np
    out = {}
    with netCDF4.Dataset(path) as ds:
        ds.set_auto_maskandscale(False)
        for name, var in ds.variables.items():
            if name in ds.dimensions or name in skip:
                continue
            if getattr(var, "comment", "") == "varies between runs":
                continue
            data = np.asarray(var[...])
            out[name] = data.tobytes() if var.dtype != str else "\0".join(map(str, data.ravel())).encode()
    return out


def assert_same_data(a, b, what):
    da, db = data_variables_bytes(a), data_variables_bytes(b)
    if sorted(da) != sorted(db):
        raise AssertionError(f"{what}: variables differ: {sorted(da)} vs {sorted(db)}")
    diff = [k for k in da if da[k] != db[k]]
    if diff:
        raise AssertionError(f"{what}: data variables differ byte for byte: {diff}")
    return len(da)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def run_tests(tests, only=(), failed=0, after=None, timed=False):
    """Run test functions (all, or those named in `only`), then `after()`
    each time; print ok/FAIL per test (with the seconds it took when
    `timed`); returns the number that failed (plus `failed`)."""
    for t in tests:
        if only and t.__name__ not in only:
            continue
        t0 = time.monotonic()
        try:
            t()
            took = f" ({time.monotonic() - t0:.1f} s)" if timed else ""
            print(f"ok   {t.__name__}{took}", flush=True)
        except Exception as exc:  # noqa: BLE001 - report every failure
            failed += 1
            print(f"FAIL {t.__name__}: {exc}", flush=True)
        if after:
            after()
    return failed


def main(tests):
    """Run test functions; print ok/FAIL per test; exit 1 on any failure."""
    sys.exit(1 if run_tests(tests, sys.argv[1:]) else 0)


def skip(msg):
    """Exit 77, which meson reports as skipped (not passed)."""
    print(f"skipped: {msg}")
    sys.exit(77)


def build_c_driver(tmp, source, modules, blas=False):
    """Compile `source` (C) against the build's static libraries of `modules`
    (in link order, e.g. ("train", "kernels")), and OpenBLAS when `blas`;
    returns the executable's path. Skips when a library or cc is missing."""
    libs = [os.path.join(BUILD, "src", d, f"libps_{d}.a") for d in modules]
    cc = shutil.which("cc") or shutil.which("gcc")
    if not all(os.path.exists(lib) for lib in libs) or not cc:
        skip(f"need {libs} and a C compiler")
    extra = []
    if blas:
        r = subprocess.run(["pkg-config", "--libs", "openblas"], capture_output=True, text=True)
        if r.returncode != 0:
            skip("pkg-config openblas failed")
        extra = r.stdout.split()
    src = os.path.join(tmp, "driver.c")
    exe = os.path.join(tmp, "driver")
    with open(src, "w") as f:
        f.write(source)
    subprocess.run([cc, "-std=c11", "-O2", "-I", os.path.join(SOURCE, "include"), src] + libs +
                   extra + ["-lm", "-o", exe], check=True)
    return exe


AVX512 = {"avx512f", "avx512dq", "avx512bw", "avx512vl"}  # what polysweep calls AVX-512


def cpu_flags():
    """The CPU's instruction-set flags, from /proc/cpuinfo."""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()
