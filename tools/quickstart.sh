#!/bin/bash
# quickstart.sh - from a bare Debian 12 machine: install, build, run
# jobs/quickstart.yaml and plot it. Leaves results/quickstart.nc and
# results/quickstart.png.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
build/polysweep run jobs/quickstart.yaml "$@"
"${POLYSWEEP_PYTHON:-/usr/bin/python3}" tools/plot_quickstart.py results/quickstart.nc -o results/quickstart.png
