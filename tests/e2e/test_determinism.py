#!/usr/bin/python3
"""Determinism (design.md): the same job run twice, to two outputs, gives
byte-identical data variables (timing variables excepted); a rerun of a
finished sweep changes nothing."""
import os

from util import assert_same_data, check, cleanup, main, run, tempdir, write_job

D = tempdir("determinism")
JOB = write_job(D, "det.yaml", """
title: determinism
grid:
  arch: [linear, relu_output]
  sparsity: [0, 0.9]
  n: [6, 11]
settings:
  m: 3
  importance: decay
  importance_rate: 0.8
  steps: 400
  batch: 128
  log_every: 50
  eval_samples: 500
""")


def test_two_runs_identical():
    a, b = os.path.join(D, "a.nc"), os.path.join(D, "b.nc")
    run(["run", JOB, "-o", a, "-q"], check=0)
    run(["run", JOB, "-o", b, "-q"], check=0)
    nvars = assert_same_data(a, b, "two runs of the same job")
    check(nvars >= 10, f"only {nvars} data variables compared")


def test_rerun_of_finished_sweep_is_a_no_op():
    a = os.path.join(D, "a.nc")
    before = os.path.join(D, "a-before.nc")
    os.link(a, before)
    p = run(["run", JOB, "-o", a], check=0)
    check("0 to run" in p.stderr, f"rerun did not find every task done:\n{p.stderr}")
    assert_same_data(a, before, "rerun of a finished sweep")


if __name__ == "__main__":
    try:
        main([test_two_runs_identical, test_rerun_of_finished_sweep_is_a_no_op])
    finally:
        cleanup(D)
