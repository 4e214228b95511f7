#!/bin/bash
# setup.sh - find what polysweep needs, install only what is missing when it
# may, and build it into ./build.
#
#   tools/setup.sh            the build dependencies and the Python analysis stack
#   tools/setup.sh --test     also what the test suite uses (PyTorch, Slurm, munge,
#                             iproute2 for the multi-node cluster)
#   tools/setup.sh --check    only say what is found and what is missing (exit 1
#                             if the build cannot be done); install and build nothing
#
# No root needed when the dependencies are there already: they are looked
# for the way meson finds them - pkg-config (PKG_CONFIG_PATH, which
# `module load`, `spack load` and conda environments set), the MPI compiler
# wrapper (mpicc) on PATH - and then polysweep is built. Only when something
# is missing, on Debian, as root or with a sudo that works without a
# password, are the missing Debian packages installed (apt-get
# --no-install-recommends). Otherwise the script names what is missing and
# how to provide it (modules, Spack, conda-forge, apt) and exits 1.
#
# The Python side (xarray, netCDF4, matplotlib, numpy) is looked for in
# $POLYSWEEP_PYTHON, else /usr/bin/python3; polysweep itself does not need
# it, so without it the build still happens and a warning says how to get it.
# What only the tests use is reported the same way (those tests then skip,
# loudly).
set -euo pipefail
cd "$(dirname "$0")/.."

test_extras=0 check_only=0
for a in "$@"; do
    case $a in
        --test) test_extras=1 ;;
        --check) check_only=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "setup: unknown option $a (see --help)" >&2; exit 2 ;;
    esac
done
say() { echo "setup: $*" >&2; }
python=${POLYSWEEP_PYTHON:-/usr/bin/python3}

# --- what is there ---------------------------------------------------------------
# Each need: a probe (a shell command), the Debian packages that provide it,
# and how to provide it without root. Probes are what meson itself uses.
have_mpi() {
    pkg-config --exists ompi-c 2>/dev/null || pkg-config --exists mpich 2>/dev/null ||
        command -v mpicc >/dev/null
}
have_py() { [ -x "$python" ] && "$python" -c "import $1" 2>/dev/null; }

# shellcheck disable=SC2034 # read through a nameref (check_needs)
needs=(
    "meson|command -v meson|meson|pip install --user meson (or: module load meson; spack load meson; conda install -c conda-forge meson)"
    "ninja|command -v ninja|ninja-build|pip install --user ninja (or: module load ninja; spack load ninja; conda install -c conda-forge ninja)"
    "a C compiler|command -v cc || command -v gcc|gcc libc6-dev|module load gcc (or: spack load gcc; conda install -c conda-forge c-compiler)"
    "pkg-config|command -v pkg-config|pkg-config|module load pkgconf (or: spack load pkgconf; conda install -c conda-forge pkg-config)"
    "OpenBLAS (pkg-config openblas)|pkg-config --exists openblas|libopenblas-dev|module load openblas (or: spack load openblas; conda install -c conda-forge openblas)"
    "NetCDF-C (pkg-config netcdf)|pkg-config --exists netcdf|libnetcdf-dev netcdf-bin|module load netcdf-c (the name varies: module avail netcdf; or: spack load netcdf-c; conda install -c conda-forge libnetcdf)"
    "libyaml (pkg-config yaml-0.1)|pkg-config --exists yaml-0.1|libyaml-dev|spack load libyaml (or: module load libyaml; conda install -c conda-forge yaml)"
    "MPI (pkg-config ompi-c or mpich, or mpicc)|have_mpi|libopenmpi-dev openmpi-bin|module load openmpi (or the site's MPI: module avail mpi; spack load openmpi; conda install -c conda-forge openmpi)"
)
# shellcheck disable=SC2034
python_needs=(
    "Python 3 ($python)|[ -x \"$python\" ]|python3|use a Python of your own: POLYSWEEP_PYTHON=\$(command -v python3) (conda, module load python)"
    "xarray|have_py xarray|python3-xarray|pip install --user xarray (or: conda install -c conda-forge xarray)"
    "netCDF4|have_py netCDF4|python3-netcdf4|pip install --user netCDF4 (or: conda install -c conda-forge netcdf4)"
    "matplotlib|have_py matplotlib|python3-matplotlib|pip install --user matplotlib (or: conda install -c conda-forge matplotlib)"
    "numpy|have_py numpy|python3-numpy|pip install --user numpy (or: conda install -c conda-forge numpy)"
)
# shellcheck disable=SC2034
test_needs=(
    "PyTorch (the numerics cross-checks)|have_py torch|python3-torch|pip install --user torch (or: conda install -c conda-forge pytorch)"
    "Slurm and munge (the Slurm tests)|[ -x /usr/sbin/slurmctld ] && [ -x /usr/sbin/slurmd ] && command -v sbatch >/dev/null && [ -x /usr/sbin/munged ]|slurmctld slurmd slurm-client munge|these tests start a private Slurm cluster as root; without root they skip"
    "iproute2 (the multi-node tests)|command -v ip >/dev/null|iproute2|the multi-node tests need root and network namespaces; without them they skip"
)

# shellcheck disable=SC2034 # the lists are read through namerefs
missing_build=() missing_python=() missing_test=() packages=()
check_needs() {  # array name, missing array name
    local -n list=$1 miss=$2
    local entry what probe pkgs
    for entry in "${list[@]}"; do
        IFS='|' read -r what probe pkgs _ <<<"$entry"
        if ! eval "$probe" >/dev/null 2>&1; then
            miss+=("$entry")
            # shellcheck disable=SC2206 # a list of package names
            packages+=($pkgs)
        fi
    done
}
check_all() {
    missing_build=() missing_python=() missing_test=() packages=()
    check_needs needs missing_build
    check_needs python_needs missing_python
    [ $test_extras = 1 ] && check_needs test_needs missing_test
    return 0
}
check_all

# --- install what is missing, where we may ------------------------------------------
may_install() {
    command -v apt-get >/dev/null && command -v dpkg-query >/dev/null || return 1
    [ "$(id -u)" = 0 ] && { sudo=(); return 0; }
    command -v sudo >/dev/null && sudo -n true 2>/dev/null && { sudo=(sudo); return 0; }
    return 1
}
if [ ${#packages[@]} -gt 0 ] && [ $check_only = 0 ] && may_install; then
    # only what dpkg does not already have (a probe can fail for other reasons)
    todo=()
    for p in $(printf '%s\n' "${packages[@]}" | sort -u); do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || todo+=("$p")
    done
    if [ ${#todo[@]} -gt 0 ]; then
        say "installing ${todo[*]}"
        "${sudo[@]}" apt-get update -q >&2
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${todo[@]}" >&2
    fi
    check_all
fi

report() {  # heading, entries...
    local heading=$1 entry what probe pkgs how; shift
    say "$heading"
    for entry in "$@"; do
        IFS='|' read -r what probe pkgs how <<<"$entry"
        say "  - $what: $how; on Debian as root: apt-get install --no-install-recommends $pkgs"
    done
}
if [ ${#missing_build[@]} -gt 0 ]; then
    report "cannot build polysweep; missing:" "${missing_build[@]}"
    say "(dependencies are found through PKG_CONFIG_PATH and PATH: load the modules, \`spack load\` or"
    say " \`conda activate\` first; run as root, or with a sudo that works, to install Debian's packages)"
    exit 1
fi
if [ ${#missing_python[@]} -gt 0 ]; then
    report "warning: the Python analysis scripts (tools/*.py) will not run; missing:" "${missing_python[@]}"
fi
if [ ${#missing_test[@]} -gt 0 ]; then
    report "warning: some tests will be skipped; missing:" "${missing_test[@]}"
fi

if [ $check_only = 1 ]; then
    say "found everything the build needs${PKG_CONFIG_PATH:+ (with PKG_CONFIG_PATH=$PKG_CONFIG_PATH)}"
    exit 0
fi

# --- build ------------------------------------------------------------------------------------
if [ ! -f build/build.ninja ]; then
    meson setup build >&2 || { say "meson setup failed (its log: build/meson-logs/meson-log.txt)"; exit 1; }
fi
ninja -C build >&2
