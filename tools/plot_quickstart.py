#!/usr/bin/python3
"""Plot the quick start (jobs/quickstart.yaml): per-feature norm and superposition across sparsity.

The same figure as tools/plot_sparsity.py (this name is kept for
tools/quickstart.sh and the README): one panel per (architecture, sparsity),
a bar per feature, its length the norm ||W_i|| and its colour the feature's
superposition, as in Elhage et al. 2022, "Toy Models of Superposition", figure 3.

    /usr/bin/python3 tools/plot_quickstart.py results/quickstart.nc -o results/quickstart.png
"""
import figures_common
import plot_sparsity

if __name__ == "__main__":
    figures_common.run(plot_sparsity.main)
