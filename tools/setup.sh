#!/bin/bash
# setup.sh - install what polysweep needs on Debian 12 (only the packages that
# are missing, without Recommends) and build it into ./build.
#
#   tools/setup.sh            build dependencies and the Python analysis stack
#   tools/setup.sh --test     also what the test suite uses (PyTorch, Slurm)
#
# Runs as root, or through sudo when it is available.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(meson ninja-build pkg-config gcc libc6-dev git
      libopenmpi-dev openmpi-bin libopenblas-dev libnetcdf-dev netcdf-bin libyaml-dev
      python3 python3-xarray python3-netcdf4 python3-matplotlib python3-numpy)
if [ "${1:-}" = "--test" ]; then
    pkgs+=(python3-torch slurmctld slurmd slurm-client munge)
fi

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    echo "setup: installing ${missing[*]}" >&2
    $sudo apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

if [ ! -f build/build.ninja ]; then
    meson setup build >&2
fi
ninja -C build >&2
