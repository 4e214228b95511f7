#!/usr/bin/python3
"""`polysweep plan JOB --nodes N --cores-per-node C ...` (issue 6, sizing a
Slurm job): the layout it chooses, the sbatch line, Slurm time formats, the
longest-first hand-out against an independent simulation from the printed
calibration, and the estimate against a real run on this machine."""
import heapq
import re
import time

from util import check, cleanup, main, run, tempdir, write_job

D = tempdir("plan-size")

SMALL = write_job(D, "small.yaml", """
grid:
  arch: [linear, relu_output]
  sparsity: [0, 0.5, 0.9]
  seed: [0, 1]
settings:
  n: 20
  m: 5
  steps: 200
  batch: 256
  log_every: 100
""")          # 12 tasks of a small model

MANY = write_job(D, "many.yaml", """
grid:
  seed: {range: [0, 40]}
settings:
  n: 20
  m: 5
  steps: 100
  batch: 128
  log_every: 100
""")          # 40 tasks

LARGE = write_job(D, "large.yaml", """
grid:
  seed: [0, 1, 2, 3]
settings:
  n: 1000
  m: 100
  steps: 20
  batch: 1024
  log_every: 10
  eval_samples: 100
""")          # 4 tasks of 10^9 flop per step

# Two dense shapes and two lengths: what the simulation is checked on.
MIXED = write_job(D, "mixed.yaml", """
grid:
  n: [30, 150]
  arch: [linear, relu_output]
  steps: [1000, 3000]
  seed: [0, 1]
settings:
  m: 10
  batch: 256
  log_every: 100
  eval_samples: 500
""")

# One long task and twelve short ones, one shape: on 3 workers, longest first
# runs the long one at once while the short ones share the other two workers;
# shortest first would start it only after a third of the short ones.
ONE_LONG_STEPS = [1000, 1100, 1200, 1300, 20000, 1400, 1500, 1600, 1700, 1800, 1900, 2000, 2100]
ONE_LONG = write_job(D, "one_long.yaml", f"""
grid:
  steps: [{", ".join(map(str, ONE_LONG_STEPS))}]
settings:
  n: 30
  m: 10
  batch: 256
  log_every: 100
  eval_samples: 500
""")

# plan prints the timings with 3 significant digits (a rounding error of at
# most 0.5% each, so 1% on a task's time) and a duration in whole ms below 1 s,
# with one decimal above: a simulation from the printed figures agrees with
# plan's own to within 1% plus half the duration's last digit.
RATE_ROUNDING = 0.01


def plan(*args, check_rc=0):
    return run(["plan"] + list(args), check=check_rc)


def field(out, name):
    m = re.search(rf"^{name}\s+(.*)$", out, re.M)
    check(m, f"no '{name}' line in:\n{out}")
    return m.group(1)


def seconds(text):
    m = re.match(r"([0-9.]+) (ms|s|min|h|days)\b", text)
    check(m, f"not a duration: {text!r}")
    return float(m.group(1)) * {"ms": 1e-3, "s": 1, "min": 60, "h": 3600, "days": 86400}[m.group(2)]


def printed_tolerance(text, want):
    """How far the printed duration `text` may be from a simulation `want` (s)
    made from the printed timings: their rounding and its own."""
    m = re.match(r"[0-9]+(\.[0-9]*)? (ms|s|min|h|days)\b", text)
    check(m, f"not a duration: {text!r}")
    digits = len(m.group(1)) - 1 if m.group(1) else 0
    unit = {"ms": 1e-3, "s": 1, "min": 60, "h": 3600, "days": 86400}[m.group(2)]
    return RATE_ROUNDING * want + 0.5 * 10 ** -digits * unit


def test_plain_plan_does_not_size():
    out = plan(SMALL).stdout
    check("calibrate" not in out and "submit" not in out, f"plain plan sized the job:\n{out}")


def test_option_errors():
    for args, want in ((["--nodes", "0"], "--nodes needs a whole number >= 1"),
                       (["--cores-per-node", "x"], "--cores-per-node needs a whole number"),
                       (["--max-time", "1:2:3:4"], "--max-time needs a Slurm time"),
                       (["--max-time", "abc"], "--max-time needs a Slurm time"),
                       (["--max-time"], "--max-time needs a Slurm time"),
                       (["--threads", "5", "--cores-per-node", "4"], "--threads cannot exceed"),
                       (["--bogus"], "unknown plan option '--bogus'"),
                       ([SMALL], "unexpected argument")):
        p = plan(SMALL, *args, check_rc=2)
        check(want in p.stderr and p.stdout == "", f"plan {args}: stderr {p.stderr!r}, stdout {p.stdout!r}")
    p = plan(check_rc=2)
    check("plan needs a job file" in p.stderr, p.stderr)


def test_layouts():
    # more tasks than cores: every core a worker of one thread, full nodes
    out = plan(MANY, "--cores-per-node", "8", "--nodes", "2").stdout
    check("--nodes=2 --ntasks-per-node=8 --cpus-per-task=1 " in field(out, "submit"), field(out, "submit"))
    check("16 ranks x 1 CPU = rank 0 + 15 workers x 1 BLAS thread" in field(out, "layout"), out)
    # fewer tasks than cores, small GEMMs: fewer ranks, and one node is enough
    out = plan(SMALL, "--cores-per-node", "64", "--nodes", "2").stdout
    check("--nodes=1 --ntasks=13 --cpus-per-task=1 " in field(out, "submit"), field(out, "submit"))
    check("12 tasks cannot use 2 nodes: 1 is enough" in out, out)
    # fewer tasks than cores, large GEMMs: the spare cores become threads
    # (4 tasks + rank 0 on 16 cores: 3 threads, 5 ranks)
    out = plan(LARGE, "--cores-per-node", "16").stdout
    check("--nodes=1 --ntasks-per-node=5 --cpus-per-task=3 " in field(out, "submit"), field(out, "submit"))
    check("spare cores become BLAS threads" in out, out)
    # threads as asked
    out = plan(MANY, "--cores-per-node", "16", "--threads", "4").stdout
    check("--nodes=1 --ntasks-per-node=4 --cpus-per-task=4 " in field(out, "submit"), field(out, "submit"))
    # this machine, one core: one rank runs the tasks itself
    out = plan(SMALL, "--cores-per-node", "1").stdout
    check("1 rank x 1 CPU, which runs the tasks itself" in field(out, "layout"), out)
    check(field(out, "submit").endswith(f"slurm/polysweep.sbatch {SMALL}"), field(out, "submit"))


def test_time_limits():
    # The estimate of a tiny sweep is seconds: the limit is start-up plus the
    # warning lead (240 s) plus the margin, rounded up to minutes.
    out = plan(SMALL, "--cores-per-node", "4").stdout
    check("--time=00:05:00 " in field(out, "submit"), field(out, "submit"))
    # Slurm's time formats, read back from a capped limit: a long sweep
    # (12 tasks of 10^10 steps: days each) on one core.
    with open(SMALL) as f:
        text = f.read().replace("steps: 200", "steps: 10000000000").replace("log_every: 100",
                                                                            "log_every: 10000000")
    long_job = write_job(D, "long.yaml", text)
    for given, want in (("90", "01:30:00"), ("0:45:10", "00:45:10"), ("2-3", "2-03:00:00"),
                        ("1-0:30", "1-00:30:00"), ("1-00:00:10", "1-00:00:10"), ("3:59", None)):
        out = plan(long_job, "--cores-per-node", "1", "--max-time", given).stdout
        t = field(out, "time")
        span = seconds(field(out, "estimate"))
        if want is None:   # 3 min 59 s: less than the warning lead and start-up
            check("leaves no time to run" in t, f"--max-time {given}: {t}")
            continue
        limit = {"01:30:00": 5400, "00:45:10": 2710, "2-03:00:00": 183600, "1-00:30:00": 88200,
                 "1-00:00:10": 86410}[want]
        if 1.25 * span + 240 > limit:
            # the estimate is printed rounded: the run count within 2%
            runs = 1.25 * span / (limit - 240)
            m = re.match(rf"--time={want} \(--max-time\): about (\d+) runs", t)
            check(m and abs(int(m.group(1)) - runs) <= 1 + 0.02 * runs,
                  f"--max-time {given}: estimate {span:.0f} s, {runs:.1f} runs: {t}")
        else:
            raise AssertionError(f"--max-time {given}: the sweep should need longer ({span:.0f} s)")


def cost(n, m, arch, steps, batch=256, evals=500):
    """README "Cost estimate": relu_output and linear, AdamW."""
    step = 10 * batch * n * m + 20 * batch * n + 16 * (m * n + n)
    return steps * step + evals * (4 * n * m + 10 * n)


def makespan(secs, workers):
    """List scheduling: each task in turn to the first free worker."""
    heap = [0.0] * max(min(workers, len(secs)), 1)
    for s in secs:
        heapq.heapreplace(heap, heap[0] + s)
    return max(heap)


def shape_rates(out):
    """{shape text: (seconds per step, seconds per task)} from plan's calibrate lines."""
    return {m.group(3): (float(m.group(1)) / 1e3, float(m.group(2)) / 1e3)
            for m in re.finditer(r"^\s+([0-9.e+-]+) ms/step \+\s+([0-9.e+-]+) ms/task\s+\S+ GFLOP/s\s+(.*)$",
                                 out, re.M)}


def test_hand_out_is_longest_first():
    """The estimate is the longest-first hand-out's makespan, on a job where
    shortest first differs by far more than the rounding of the printed
    figures."""
    out = plan(ONE_LONG, "--cores-per-node", "4").stdout
    check("rank 0 + 3 workers" in field(out, "layout"), field(out, "layout"))
    rates = shape_rates(out)
    check(len(rates) == 1, f"expected one timed shape:\n{out}")
    step_s, task_s = next(iter(rates.values()))
    secs = [task_s + st * step_s for st in ONE_LONG_STEPS]  # one shape: cost order is steps order
    longest = makespan(sorted(secs, reverse=True), 3)
    shortest = makespan(sorted(secs), 3)
    tol = printed_tolerance(field(out, "estimate"), longest)
    check(shortest - longest > 5 * tol,
          f"the job does not tell the orders apart: {longest:.3f} s vs {shortest:.3f} s (+-{tol:.3f} s)")
    got = seconds(field(out, "estimate"))
    check(abs(got - longest) <= tol,
          f"estimate {got:.3f} s; longest first gives {longest:.3f} s, shortest first {shortest:.3f} s\n{out}")


def test_hand_out_matches_an_independent_simulation():
    """From the printed per-shape timings: each task's seconds, handed out
    longest first by the README's cost formula to the first free worker."""
    for cores in (1, 3, 5):
        out = plan(MIXED, "--cores-per-node", str(cores)).stdout
        rates = {}
        for m in re.finditer(r"^\s+([0-9.e+-]+) ms/step \+\s+([0-9.e+-]+) ms/task\s+\S+ GFLOP/s\s+"
                             r"(\w+) n=(\d+) m=10 batch=256$", out, re.M):
            rates[(m.group(3), int(m.group(4)))] = (float(m.group(1)) / 1e3, float(m.group(2)) / 1e3)
        check(len(rates) == 4, f"expected 4 timed shapes:\n{out}")
        tasks = []
        for n in (30, 150):
            for arch in ("linear", "relu_output"):
                for steps in (1000, 3000):
                    for _seed in (0, 1):
                        step_s, task_s = rates[(arch, n)]
                        tasks.append((cost(n, 10, arch, steps), task_s + steps * step_s))
        tasks.sort(key=lambda t: -t[0])  # stable: ties in grid order, as the loops above
        want = makespan([s for _, s in tasks], max(cores - 1, 1))
        got = seconds(field(out, "estimate"))
        check(abs(got - want) <= printed_tolerance(field(out, "estimate"), want),
              f"{cores} cores: estimate {got:.3f} s, independent simulation {want:.3f} s\n{out}")
        total = seconds(field(out, "work"))
        check(abs(total - sum(s for _, s in tasks)) <= printed_tolerance(field(out, "work"), total),
              f"work {total} s\n{out}")


def test_estimate_matches_a_real_run():
    """The calibrated estimate against the wall time of the same sweep run
    here by one process. Generous bounds (other processes share this
    machine); they catch a rate that is off by a shape's overhead or an
    order of magnitude."""
    out = plan(MIXED, "--cores-per-node", "1").stdout
    est = seconds(field(out, "estimate"))
    o = f"{D}/mixed.nc"
    t0 = time.monotonic()
    run(["run", MIXED, "-o", o, "--threads", "1", "-q"], check=0)
    took = time.monotonic() - t0
    ratio = est / took
    print(f"     estimate {est:.2f} s, run {took:.2f} s (ratio {ratio:.2f})")
    check(0.4 <= ratio <= 2.5, f"estimate {est:.2f} s for a run of {took:.2f} s\n{out}")


try:
    main([test_plain_plan_does_not_size, test_option_errors, test_layouts, test_time_limits,
          test_hand_out_is_longest_first, test_hand_out_matches_an_independent_simulation,
          test_estimate_matches_a_real_run])
finally:
    cleanup(D)
