#!/usr/bin/python3
"""MPI runs (design.md, Distribution), with a real mpirun: the same bytes at
any number of ranks; rank 0 schedules without burning a core; failed tasks
and dead or silent ranks; progress lines; the thread layout; launchers."""
import os
import re
import signal
import subprocess
import time

from test_mpi_util import (alive, cpu_seconds, journal_task_count, journal_task_labels, kill_group,
                           mpirun, rank_pids, start_mpirun, summary_cpu)
from util import POLYSWEEP, assert_same_data, check, cleanup, main, run, tempdir, write_job

D = tempdir("mpi")

# Tasks of very different sizes (cost ratio ~100 between the ends), both
# architectures, some with no bias: longest-first ordering and any rank
# placement must not change a bit.
SIZES = write_job(D, "sizes.yaml", """
title: mpi sizes
grid:
  n: [4, 30, 160]
  arch: [linear, relu_output]
  sparsity: [0, 0.9]
settings:
  m: 6
  bias: false
  importance: decay
  importance_rate: 0.9
  steps: 400
  batch: 128
  log_every: 100
  eval_samples: 500
""")

# Tasks of ~0.3 s: `seeds` of them.
SEEDS_JOB = """title: mpi {name}
grid:
  seed: {{range: [0, {seeds}]}}
settings:
  n: 100
  m: 10
  steps: 3000
  batch: 512
  log_every: 100
  eval_samples: 1000
"""
# A few seconds of work on 2 workers.
LONG = write_job(D, "long.yaml", SEEDS_JOB.format(name="long", seeds=24))
# ~4 s on two workers, ~8 s on one.
MID = write_job(D, "mid.yaml", SEEDS_JOB.format(name="mid", seeds=14))

DIVERGE = write_job(D, "diverge.yaml", """
title: mpi diverge
grid:
  lr: [0.001, 1000000]
  n: [5, 12]
settings:
  m: 3
  importance: constant
  steps: 300
  batch: 64
  log_every: 50
  eval_samples: 200
""")


def out(name):
    return os.path.join(D, name)


def dataset(path):
    import xarray
    return xarray.open_dataset(path)


def test_same_bytes_at_any_number_of_ranks():
    ref = out("single.nc")
    run(["run", SIZES, "-o", ref, "--threads", "1", "-q"], check=0)
    for np in (1, 2, 4):
        o = out(f"np{np}.nc")
        p = mpirun(np, ["run", SIZES, "-o", o, "--threads", "1"], check=0)
        nvars = assert_same_data(ref, o, f"mpirun -np {np} vs one process")
        check(nvars >= 10, f"only {nvars} data variables compared")
        with dataset(o) as ds:
            check(int(ds.attrs["mpi_size"]) == np, f"np {np}: mpi_size {ds.attrs['mpi_size']}")
            check(int(ds.attrs["blas_threads"]) == 1, f"np {np}: blas_threads {ds.attrs['blas_threads']}")
            check(f"{np} process" in ds.attrs["run_layout"], f"np {np}: layout {ds.attrs['run_layout']!r}")
            ranks = set(ds.mpi_rank.values.ravel().tolist())
            want = {0.0} if np == 1 else set(float(r) for r in range(1, np))
            check(ranks <= want and (np < 4 or len(ranks) >= 2),
                  f"np {np}: tasks ran on ranks {sorted(ranks)}, expected within {sorted(want)}")
            wt = ds.wall_time.values
            check((wt > 0).all() and (wt < 60).all(), f"np {np}: wall_time {wt.ravel()}")
            check(ds.mpi_rank.attrs.get("comment") == "varies between runs", "mpi_rank not marked nondeterministic")
        if np == 4:
            check(re.search(r"3 workers with 3 BLAS threads in all on \d+ core", p.stderr) or
                  os.cpu_count() >= 3, f"no oversubscription warning:\n{p.stderr}")
    with dataset(ref) as ds:
        check((ds.mpi_rank.values == 0).all(), "one-process run: mpi_rank should be 0")


def rank0_cpu(args, env=None):
    """Run under mpirun -np 2: (rank 0's CPU seconds, wall seconds) read from
    /proc every 0.1 s until it exits, and its stderr. With 2 ranks on 2 cores
    Open MPI does not consider the node oversubscribed and binds rank 0 to a
    core of its own, where a spinning wait would show as ~100% (oversubscribed,
    Open MPI yields the CPU inside MPI calls, which would hide a spin)."""
    p = start_mpirun(2, args, env=env)
    try:
        pid0 = rank_pids(p.pid, 2)[0]
        t0 = time.monotonic()
        last = None
        while p.poll() is None:
            c = cpu_seconds(pid0)
            if c is not None:
                last = (c, time.monotonic() - t0)
            time.sleep(0.1)
        stdout, stderr = p.communicate()
    finally:
        kill_group(p)
    check(p.returncode == 0, f"exit {p.returncode}\n{stderr}")
    check(last is not None and last[1] > 2, f"sweep too short to judge: {last}")
    return last, stderr


def test_one_worker_receives_tasks_longest_first():
    """README, Who does what: tasks go out longest first by the cost estimate,
    ties in grid order. With one worker (-np 2) the journal's commit order is
    the order that worker received its tasks (it runs them in that order, and
    short ones are queued ahead on it); the expected order comes from the
    README's cost formula here."""
    import itertools
    ns, archs, steps = (8, 40, 20), ("linear", "relu_output"), (300, 100)
    job = write_job(D, "order.yaml", f"""
title: mpi order
grid:
  n: [{", ".join(map(str, ns))}]
  arch: [{", ".join(archs)}]
  steps: [{", ".join(map(str, steps))}]
settings:
  m: 4
  batch: 32
  log_every: 50
  eval_samples: 100
""")
    m, batch, evals = 4, 32, 100

    def cost(n, st):  # README "Cost estimate": linear and relu_output, AdamW
        return st * (10 * batch * n * m + 20 * batch * n + 16 * (m * n + n)) + evals * (4 * n * m + 10 * n)

    grid = list(itertools.product(ns, archs, steps))  # grid order: the first axis slowest
    order = sorted(range(len(grid)), key=lambda i: (-cost(grid[i][0], grid[i][2]), i))
    want = [f"n={n};arch={a};steps={st}" for n, a, st in (grid[i] for i in order)]
    check(want != [want[i] for i in sorted(range(len(want)), key=lambda i: order[i])]
          and len({cost(n, st) for n, _, st in grid}) == 6, "the job cannot tell the orders apart")
    o = out("order.nc")
    mpirun(2, ["run", job, "-o", o, "--threads", "1", "-q"], check=0)
    got = journal_task_labels(o)
    check(got == want, "the worker received its tasks in the order\n  " + "\n  ".join(got) +
          "\nexpected (longest first, ties in grid order)\n  " + "\n  ".join(want))


def test_rank0_does_not_burn_a_core():
    (cpu, wall), stderr = rank0_cpu(["run", MID, "-o", out("mid.nc"), "--threads", "1"])
    # Measured from outside by /proc: a spinning rank 0 would show ~100%.
    check(cpu / wall < 0.10, f"rank 0 used {cpu:.2f} s CPU in {wall:.1f} s ({100 * cpu / wall:.0f}%)")
    own = summary_cpu(stderr)
    check(own is not None, f"no rank-0 CPU in the summary:\n{stderr}")
    check(own[0] / own[1] < 0.10, f"rank 0 reports {own[0]} s CPU in {own[1]} s")
    check(abs(own[0] - cpu) < 0.2 + 0.2 * cpu, f"rank 0's own CPU {own[0]} vs /proc {cpu}")
    print(f"     rank 0: {cpu:.2f} s CPU in {wall:.1f} s ({100 * cpu / wall:.1f}%) by /proc; "
          f"its own count {own[0]:.2f} s in {own[1]:.1f} s")
    # Quiet, with status lines due often (they are not printed): no spinning either.
    (cpu, wall), _ = rank0_cpu(["run", MID, "-o", out("mid-quiet.nc"), "--threads", "1", "-q"],
                               env={"POLYSWEEP_PROGRESS_INTERVAL": "0.2"})
    check(cpu / wall < 0.10, f"quiet: rank 0 used {cpu:.2f} s CPU in {wall:.1f} s")


def test_divergent_tasks_fail_and_the_sweep_goes_on():
    o = out("diverge.nc")
    p = mpirun(3, ["run", DIVERGE, "-o", o, "--threads", "1"], check=4)
    with dataset(o) as ds:
        st = ds.status.sel(lr=1e6).values
        check((st == 2).all(), f"huge lr: status {st}, expected failed (2)")
        check((ds.status.sel(lr=0.001).values == 1).all(), "small lr: not done")
        for r in ds.reason.sel(lr=1e6).values.ravel():
            check("became" in r and "step" in r, f"reason {r!r}")
        for r in ds.reason.sel(lr=0.001).values.ravel():
            check(r == "", f"done task with reason {r!r}")
        check(int(ds.attrs["tasks_failed"]) == 2, f"tasks_failed {ds.attrs['tasks_failed']}")
    check(p.stderr.count("failed on rank") == 2, f"failures not reported:\n{p.stderr}")


def test_killed_worker_ends_the_run_and_it_resumes():
    o = out("killed.nc")
    p = start_mpirun(3, ["run", LONG, "-o", o, "--threads", "1"])
    try:
        pids = rank_pids(p.pid, 3)
        # wait until some tasks are committed, then kill rank 2 mid-sweep
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and p.poll() is None:
            if os.path.exists(o + ".state/journal") and journal_task_count(o) >= 4:
                break
            time.sleep(0.05)
        check(p.poll() is None, "the sweep ended before the kill")
        os.kill(pids[2], signal.SIGKILL)
        t_kill = time.monotonic()
        try:
            stdout, stderr = p.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            raise AssertionError("mpirun still running 20 s after a rank was killed")
        took = time.monotonic() - t_kill
    finally:
        kill_group(p)
    check(p.returncode != 0, "mpirun exited 0 after a rank was killed")
    check(took < 5, f"mpirun took {took:.1f} s to exit after the kill")
    check(re.search(r"rank 2\b", stderr), f"the message does not name rank 2:\n{stderr}")
    # mpirun has exited; its other ranks get SIGTERM and then SIGKILL from it,
    # and may take a moment to be reaped.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(pid) for pid in pids.values()):
        time.sleep(0.05)
    for pid in pids.values():
        check(not alive(pid), f"process {pid} of the killed run is still running 10 s after mpirun exited")
    committed = journal_task_count(o)
    check(4 <= committed < 24, f"{committed} tasks committed before the kill")
    # Rerun: committed tasks are skipped, the rest run, the result is complete.
    r = mpirun(3, ["run", LONG, "-o", o, "--threads", "1"], check=0)
    check(f"24 tasks, {24 - committed} to run" in r.stderr, f"resume did not skip {committed} tasks:\n{r.stderr}")
    with dataset(o) as ds:
        check((ds.status.values == 1).all(), "resumed sweep incomplete")
    run(["run", LONG, "-o", out("long.nc"), "--threads", "1", "-q"], check=0)
    assert_same_data(out("long.nc"), o, "killed and resumed vs uninterrupted")
    print(f"     mpirun exited {p.returncode} {took:.1f} s after SIGKILL; {committed} tasks kept")


def test_silent_worker_is_declared_lost():
    o = out("silent.nc")
    lost_file = out("silent.lost")
    p = start_mpirun(3, ["run", LONG, "-o", o, "--threads", "1"],
                     env={"POLYSWEEP_WORKER_TIMEOUT": "2", "POLYSWEEP_LOST_FILE": lost_file})
    frozen = None
    try:
        pids = rank_pids(p.pid, 3)
        # Freeze it only once the run is under way (2 tasks committed) and
        # still going: a run that already ended would be a different failure.
        deadline = time.monotonic() + 30
        while not (os.path.exists(o + ".state/journal") and journal_task_count(o) >= 2):
            if p.poll() is not None:
                raise AssertionError(f"the run ended (exit {p.returncode}) before a worker was "
                                     f"frozen:\n{p.communicate()[1]}")
            check(time.monotonic() < deadline, "no 2 tasks committed within 30 s")
            time.sleep(0.05)
        # A frozen worker: alive for the launcher, silent for rank 0.
        os.kill(pids[1], signal.SIGSTOP)
        frozen = pids[1]
        t_stop = time.monotonic()
        try:
            stdout, stderr = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            raise AssertionError("run still going 30 s after a worker froze")
        took = time.monotonic() - t_stop
    finally:
        if frozen is not None:
            try:
                os.kill(frozen, signal.SIGCONT)
            except ProcessLookupError:
                pass
        kill_group(p)
    # exit code 5: a rank was lost, resumable (what a batch script requeues on)
    check(p.returncode == 5, f"exit {p.returncode} with a frozen worker, expected 5\n{stderr}")
    check(took < 10, f"took {took:.1f} s to give up on a worker silent for 2 s")
    m = re.search(r"rank 1 \(pid \d+ on (\S+)\) has not been heard from", stderr)
    check(m, f"no message naming rank 1:\n{stderr}")
    # the lost rank's host, for the batch script's --exclude
    with open(lost_file) as f:
        hosts = f.read().split()
    check(hosts == [m.group(1)], f"POLYSWEEP_LOST_FILE holds {hosts}, expected [{m.group(1)!r}]")


def test_progress_lines():
    o = out("progress.nc")
    p = mpirun(3, ["run", LONG, "-o", o, "--threads", "1", "--fresh"],
               env={"POLYSWEEP_PROGRESS_INTERVAL": "0.5"}, check=0)
    lines = [l for l in p.stderr.splitlines() if re.match(r"polysweep: \d+/24 done, \d+ failed", l)]
    check(len(lines) >= 2, f"expected status lines every 0.5 s:\n{p.stderr}")
    pat = re.compile(r"polysweep: (\d+)/24 done, 0 failed, (\d) running(?: \(\+\d queued\))?, (\d+)% of the work, "
                     r"[0-9.]+ tasks/s, elapsed [0-9.hms]+, eta ([0-9.hms]+|\?)$")
    for l in lines:
        m = pat.match(l)
        check(m, f"status line {l!r}")
        check(int(m.group(2)) <= 2, f"more running than workers: {l!r}")
    check(re.search(r"polysweep: .*progress.nc: 24/24 done \(24 this run, 0 failed\) in [0-9.hms]+, "
                    r"[0-9.]+ tasks/s; rank 0 used", p.stderr), f"no summary line:\n{p.stderr}")


def test_threads_layout():
    # No MPI: all cores of the affinity mask (taskset narrows it).
    o = out("threads.nc")
    job = write_job(D, "one.yaml", "settings: {n: 5, m: 2, steps: 100, log_every: 100, eval_samples: 10}\n")
    r = subprocess.run(["taskset", "-c", "0", POLYSWEEP, "run", job,
                        "-o", o, "-q"], capture_output=True, text=True)
    check(r.returncode == 0, r.stderr)
    with dataset(o) as ds:
        check(int(ds.attrs["blas_threads"]) == 1, f"taskset -c 0: {ds.attrs['blas_threads']} threads")
    ncores = len(os.sched_getaffinity(0))
    run(["run", job, "-o", o, "-q", "--fresh"], check=0)
    with dataset(o) as ds:
        check(int(ds.attrs["blas_threads"]) == ncores, f"default: {ds.attrs['blas_threads']} threads, {ncores} cores")
    # mpirun -np 3 (2 workers sharing the cores): cores / 2 each by default.
    p = mpirun(3, ["run", job, "-o", o, "--fresh"], check=0)
    with dataset(o) as ds:
        want = max(1, ncores // 2)
        check(int(ds.attrs["blas_threads"]) == want, f"np 3: {ds.attrs['blas_threads']} threads, want {want}")
        check("2 workers x" in ds.attrs["run_layout"], ds.attrs["run_layout"])
    check("oversubscribed" not in p.stderr, f"default layout warned:\n{p.stderr}")
    # Asking for more than there is: a warning, and the request is honoured.
    p = mpirun(3, ["run", job, "-o", o, "--fresh", "--threads", str(ncores)], check=0)
    check("oversubscribed" in p.stderr, f"no warning for 2 x {ncores} threads:\n{p.stderr}")
    with dataset(o) as ds:
        check(int(ds.attrs["blas_threads"]) == ncores, ds.attrs["blas_threads"])


def test_launchers():
    o = out("launch.nc")
    job = write_job(D, "one.yaml", "settings: {n: 5, m: 2, steps: 100, log_every: 100, eval_samples: 10}\n")
    # srun without an MPI plugin would start independent copies: refused.
    p = run(["run", job, "-o", o], env={"SLURM_STEP_ID": "0", "SLURM_STEP_NUM_TASKS": "2"}, check=2)
    check("srun --mpi=pmix" in p.stderr, p.stderr)
    # A launcher's environment but an MPI that does not speak its process
    # interface (Open MPI 5 under srun --mpi=pmi2): MPI_Init makes a world of
    # one, and running on as one of N copies is refused.
    p = run(["run", job, "-o", o], env={"PMI_RANK": "0", "PMI_SIZE": "2",
                                        "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"})
    check(p.returncode == 2 and "started 2 processes, but MPI made this one a world of 1" in p.stderr and
          "--mpi=pmix" in p.stderr and not os.path.exists(o), f"exit {p.returncode}\n{p.stderr}")
    # Without a launcher MPI is never initialised: Open MPI leaves no session
    # directory in TMPDIR (a singleton MPI_Init would).
    tmp = tempdir("mpi-tmpdir")
    try:
        run(["run", job, "-o", o, "-q", "--fresh"], env={"TMPDIR": tmp}, check=0)
        check(os.listdir(tmp) == [], f"a run without mpirun touched MPI: {os.listdir(tmp)}")
    finally:
        cleanup(tmp)
    # A job error under mpirun: reported once (by rank 0), exit 2, no hang.
    bad = write_job(D, "bad.yaml", "settings: {n: 0}\n")
    p = mpirun(3, ["run", bad, "-o", o], timeout=60)
    check(p.returncode == 2, f"exit {p.returncode}\n{p.stderr}")
    check(p.stderr.count("n must be an integer") == 1, f"error not reported exactly once:\n{p.stderr}")


def test_refused_output_stops_the_workers():
    o = out("refused.nc")
    job = write_job(D, "one.yaml", "settings: {n: 5, m: 2, steps: 100, log_every: 100, eval_samples: 10}\n")
    other = write_job(D, "other.yaml", "settings: {n: 6, m: 2, steps: 100, log_every: 100, eval_samples: 10}\n")
    run(["run", job, "-o", o, "-q", "--fresh"], check=0)
    t = time.monotonic()
    p = mpirun(3, ["run", other, "-o", o], timeout=60)
    check(p.returncode == 2, f"exit {p.returncode}\n{p.stderr}")
    check("different job" in p.stderr, p.stderr)
    check(time.monotonic() - t < 15, "refusal took too long")


if __name__ == "__main__":
    try:
        main([test_same_bytes_at_any_number_of_ranks, test_one_worker_receives_tasks_longest_first,
              test_rank0_does_not_burn_a_core,
              test_divergent_tasks_fail_and_the_sweep_goes_on,
              test_killed_worker_ends_the_run_and_it_resumes, test_silent_worker_is_declared_lost,
              test_progress_lines, test_threads_layout, test_launchers,
              test_refused_output_stops_the_workers])
    finally:
        cleanup(D)
