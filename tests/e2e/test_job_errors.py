#!/usr/bin/python3
"""Bad job files through the real executable: for every tests/data/jobs/bad/X.yaml
(and X.expected, which holds the exact message), `polysweep plan` and
`polysweep run` exit 2, print exactly that message, and write nothing."""
import glob
import os

from util import SOURCE, check, cleanup, main, run, tempdir

BAD = os.path.join(SOURCE, "tests", "data", "jobs", "bad")


def cases():
    out = []
    for exp in sorted(glob.glob(os.path.join(BAD, "*.expected"))):
        name = os.path.basename(exp)[:-len(".expected")]
        with open(exp) as f:
            out.append((f"tests/data/jobs/bad/{name}.yaml", f.read().rstrip("\n")))
    check(len(out) >= 8, f"expected at least 8 bad job files in {BAD}, found {len(out)}")
    return out


def test_plan_refuses_each_bad_file():
    for job, message in cases():
        p = run(["plan", job])
        check(p.returncode == 2, f"plan {job}: exit {p.returncode}, expected 2\n{p.stderr}")
        check(p.stderr.strip() == message, f"plan {job}:\n  got:      {p.stderr.strip()!r}\n  expected: {message!r}")
        check(p.stdout == "", f"plan {job} printed to stdout: {p.stdout!r}")


def test_run_refuses_each_bad_file_and_writes_nothing():
    d = tempdir("bad")
    try:
        for job, message in cases():
            out = os.path.join(d, "out", "x.nc")
            p = run(["run", job, "-o", out])
            check(p.returncode == 2, f"run {job}: exit {p.returncode}, expected 2\n{p.stderr}")
            check(p.stderr.strip() == message, f"run {job}:\n  got:      {p.stderr.strip()!r}\n  expected: {message!r}")
            check(os.listdir(d) == [], f"run {job} wrote {os.listdir(d)}")
    finally:
        cleanup(d)


def test_usage_errors_exit_2():
    for args in (["frobnicate"], ["run"], ["plan"], ["run", "jobs/quickstart.yaml", "--threads", "0"],
                 ["run", "jobs/quickstart.yaml", "--bogus"]):
        p = run(args)
        check(p.returncode == 2, f"{args}: exit {p.returncode}, expected 2")
        check("usage:" in p.stderr, f"{args}: no usage text in {p.stderr!r}")


if __name__ == "__main__":
    main([test_plan_refuses_each_bad_file, test_run_refuses_each_bad_file_and_writes_nothing,
          test_usage_errors_exit_2])
