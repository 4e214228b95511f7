#!/usr/bin/python3
"""tools/setup.sh without root (issue 13): run as an unprivileged user (the
`nobody` account through setpriv when the suite runs as root, else the user
running it), it finds the dependencies the way meson does and never tries
to install anything:

1. with the machine's packages there: `--check` finds everything, exit 0;
2. with pkg-config seeing nothing (PKG_CONFIG_LIBDIR of an empty directory,
   as on a cluster before `module load`): exit 1, and each missing library
   is named with how to provide it (module, Spack, conda-forge, apt);
3. with the libraries' .pc files only in a directory of PKG_CONFIG_PATH (what
   `module load`, `spack load` or a conda environment provide): `--check`
   finds everything, and `meson setup` of the project succeeds with the same
   environment, i.e. meson finds them where setup.sh looked.

The full build as an unprivileged user is the same `meson setup` plus
ninja; it is left out here for time (see the README, "On a cluster")."""
import os
import shutil
import subprocess
import tempfile

from util import SOURCE, check, main

SETUP = os.path.join(SOURCE, "tools", "setup.sh")


def as_user(args, env, cwd):
    """Run args as an unprivileged user with exactly this environment."""
    base = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": cwd, "LANG": "C.UTF-8"}
    base.update(env)
    prefix = []
    if os.geteuid() == 0:
        prefix = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    return subprocess.run(prefix + ["env", "-i"] + [f"{k}={v}" for k, v in base.items()] + list(args),
                          cwd=cwd, capture_output=True, text=True, timeout=300)


def scratch():
    d = tempfile.mkdtemp(prefix="polysweep-setup-")
    os.chmod(d, 0o777)
    return d


def test_everything_found_without_root():
    d = scratch()
    try:
        p = as_user([SETUP, "--check"], {}, d)
        check(p.returncode == 0 and "found everything the build needs" in p.stderr,
              f"exit {p.returncode}\n{p.stderr}")
        check("installing" not in p.stderr and "apt-get" not in p.stderr, p.stderr)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_missing_libraries_are_named_with_how_to_get_them():
    d = scratch()
    empty = os.path.join(d, "empty")
    os.mkdir(empty)
    try:
        p = as_user([SETUP, "--check"], {"PKG_CONFIG_LIBDIR": empty}, d)
        check(p.returncode == 1 and "cannot build polysweep; missing:" in p.stderr, f"exit {p.returncode}\n{p.stderr}")
        for what, hint, pkg in (("OpenBLAS (pkg-config openblas)", "spack load openblas", "libopenblas-dev"),
                                ("NetCDF-C (pkg-config netcdf)", "conda install -c conda-forge libnetcdf",
                                 "libnetcdf-dev"),
                                ("libyaml (pkg-config yaml-0.1)", "spack load libyaml", "libyaml-dev")):
            line = next((l for l in p.stderr.splitlines() if what in l), "")
            check(hint in line and "module load" in line and f"apt-get install --no-install-recommends {pkg}" in line,
                  f"no advice for {what}:\n{p.stderr}")
        check("installing" not in p.stderr, f"tried to install without root:\n{p.stderr}")
        check("PKG_CONFIG_PATH" in p.stderr, "no word on where they are looked for")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def pc_file(name):
    path = subprocess.run(["pkg-config", "--variable=pcfiledir", name], capture_output=True,
                          text=True).stdout.strip()
    return os.path.join(path, name + ".pc")


def test_libraries_of_a_module_are_found_by_setup_and_meson():
    d = scratch()
    empty, site = os.path.join(d, "empty"), os.path.join(d, "modules", "lib", "pkgconfig")
    os.makedirs(empty)
    os.makedirs(site)
    try:
        # the .pc files of what a module or a Spack view would provide (these
        # point at the machine's libraries; the directory is the point)
        for name in ("openblas", "netcdf", "yaml-0.1", "ompi-c", "ompi"):
            if os.path.exists(pc_file(name)):
                shutil.copy(pc_file(name), site)
        for extra in ("hdf5", "hdf5_hl", "hdf5-serial", "hdf5_hl-serial"):
            if os.path.exists(pc_file(extra)):
                shutil.copy(pc_file(extra), site)   # netcdf.pc may require them
        env = {"PKG_CONFIG_LIBDIR": empty, "PKG_CONFIG_PATH": site}
        p = as_user([SETUP, "--check"], env, d)
        check(p.returncode == 0 and f"with PKG_CONFIG_PATH={site}" in p.stderr, f"exit {p.returncode}\n{p.stderr}")
        build = os.path.join(d, "build")
        p = as_user(["meson", "setup", build, SOURCE], env, d)
        check(p.returncode == 0, f"meson setup with the module's PKG_CONFIG_PATH: exit {p.returncode}\n"
              f"{p.stdout[-3000:]}{p.stderr[-2000:]}")
        for lib in ("OpenBLAS", "NetCDF-C", "libyaml"):
            check(lib in p.stdout, f"meson's summary does not list {lib}:\n{p.stdout[-2000:]}")
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main([test_everything_found_without_root, test_missing_libraries_are_named_with_how_to_get_them,
          test_libraries_of_a_module_are_found_by_setup_and_meson])
