#!/usr/bin/python3
"""kill -9 at many moments (design.md, Durability and resume; issue 5).

A sweep is killed again and again - the whole run: the process, or mpirun
and every rank - at random moments and at chosen ones: while a journal record
is appended, while the dataset snapshot is written, while a task checkpoint
is written (POLYSWEEP_TEST_CRASH makes the process SIGKILL itself halfway
through that write), and it is rerun each time until it completes. After
every kill:
  - the dataset at the output path, if there is one, opens in xarray (in a
    subprocess: a damaged NetCDF-4 file can crash its reader);
  - `polysweep status` reads the journal, and the number of finished tasks
    never goes down (an acknowledged task is never lost);
and the final dataset is byte-identical to an uninterrupted run's, with the
long task resumed from its checkpoints along the way."""
import os
import random
import re
import shutil
import signal
import time

from test_mpi_util import rank_pids
from test_resume_util import finish, kill_all, log, open_in_subprocess, start
from util import assert_same_data, check, cleanup, main, run, tempdir, write_job

D = tempdir("resume-kill")

# 12 tasks, ~2 s in all: three long ones (~0.4 s, checkpointed every 0.1 s)
# and short ones down to ~10 ms; snapshots every 0.05 s, so kills often land
# in one.
JOB = write_job(D, "kill.yaml", """
title: resume kill
grid:
  n: [30, 100]
  steps: [600, 6000]
  seed: [0, 1, 2]
settings:
  m: 20
  batch: 128
  log_every: 100
  eval_samples: 500
run:
  threads: 1
  snapshot_every: 0.05
  checkpoint_every: 0.1
""")

# Each run counts its own writes: journal-append:1 is the header on a new
# output and the run's history line afterwards, 2 and 3 its first task
# records; snapshot:1 comes 0.05 s into the loop, checkpoint:1 0.1 s into the
# first long task.
SINGLE_CRASHES = ["journal-append:1", "journal-append:1", "checkpoint:1", "checkpoint:2",
                  "journal-append:2", "snapshot:1", "journal-append:3", "snapshot:2",
                  "journal-append:2", "snapshot:1"]

# Test hook (exec.h): training slowed by 50 us a step, so that the sweep takes
# about the same time (~3 s in one process) whatever the machine's speed and
# load, and random kills land at every stage. Results do not change (the
# reference runs without it).
PACE = "step:0.00005"
MPI_CRASHES = ["checkpoint:1", "snapshot:1", "journal-append:2"]


def out(name):
    return os.path.join(D, name)


def status_done(o):
    """Finished tasks per `polysweep status` (done + failed), or None before
    the journal has a header."""
    p = run(["status", o], check=None)
    check(p.returncode in (0, 2), f"status exit {p.returncode}:\n{p.stderr}")
    if p.returncode == 2:
        check("is not the output of a polysweep sweep" in p.stderr, p.stderr)
        return None
    m = re.search(r"^  done:\s+(\d+)", p.stdout, re.M)
    if not m:
        check("no tasks recorded yet" in p.stdout, p.stdout)
        return 0
    f = re.search(r"^  failed:\s+(\d+)", p.stdout, re.M)
    return int(m.group(1)) + int(f.group(1))


class Campaign:
    """Kill and rerun one output until it completes."""

    def __init__(self, name, np=0):
        self.name, self.np = name, np
        self.o = out(name + ".nc")
        self.copies = []
        self.kills = {"random": 0, "crash": 0}
        self.resumed = []
        self.done = 0
        self.rounds = 0

    def args(self):
        return ["run", JOB, "-o", self.o]

    def after_kill(self, how):
        self.kills[how] += 1
        if os.path.exists(self.o):
            copy = out(f"{self.name}-{self.rounds}.nc")
            shutil.copyfile(self.o, copy)
            self.copies.append(copy)
        done = status_done(self.o)
        if done is not None:
            check(done >= self.done, f"{self.name} round {self.rounds}: finished tasks went from "
                  f"{self.done} to {done} (an acknowledged task was lost)")
            self.done = done

    def note(self, stderr):
        for m in re.finditer(r"resumed task (\S+) from step (\d+) of", stderr):
            self.resumed.append((m.group(1), int(m.group(2))))

    def crash(self, spec):
        """A run that kills itself at `spec`; it must actually die there."""
        self.rounds += 1
        p = start(self.args(), env={"POLYSWEEP_TEST_CRASH": spec, "POLYSWEEP_TEST_DELAY": PACE},
                  mpi_np=self.np)
        ranks = rank_pids(p.pid, self.np) if self.np else {}
        code, _, err, _ = finish(p, 60)
        if self.np:
            check(code != 0, f"{self.name}: mpirun exit 0 with {spec}")
            kill_all(p, ranks.values())  # and no rank is left
        else:
            check(code == -signal.SIGKILL, f"{self.name}: {spec}: exit {code}, expected death by "
                  f"SIGKILL\n{err}")
        self.note(err)
        self.after_kill("crash")

    def random_kill(self, delay):
        """A run killed after `delay` seconds (True), or that finished first (False)."""
        self.rounds += 1
        p = start(self.args(), env={"POLYSWEEP_TEST_DELAY": PACE}, mpi_np=self.np)
        ranks = {}
        if self.np:
            try:
                ranks = rank_pids(p.pid, self.np, timeout=10)
            except AssertionError:
                pass  # it may have finished already
        t = time.monotonic()
        while p.poll() is None and time.monotonic() - t < delay:
            time.sleep(0.002)
        if p.poll() is not None:
            code, _, err, _ = finish(p)
            check(code == 0, f"{self.name}: a run ended with {code}:\n{err}")
            self.note(err)
            return False
        _, err = kill_all(p, ranks.values())
        self.note(err)
        self.after_kill("random")
        return True

    def complete(self, ref):
        p = run(self.args(), check=0, env=None) if not self.np else None
        if self.np:
            from test_mpi_util import mpirun
            p = mpirun(self.np, self.args(), check=0)
        self.note(p.stderr)
        assert_same_data(ref, self.o, f"{self.name}: killed {self.kills} times, then completed")
        opened = open_in_subprocess(self.copies)
        check(len(opened) == len(self.copies), "not every snapshot was checked")
        steps = [s for _, s in self.resumed if s > 0]
        check(steps, f"{self.name}: no task ever resumed from a checkpoint")
        log(f"{self.name}: {self.kills['random']} random kills and {self.kills['crash']} in "
            f"writes over {self.rounds} runs; {len(self.copies)} snapshots after kills opened in "
            f"xarray; {len(steps)} resumes from checkpoints (steps {sorted(steps)[:6]}...); "
            "final data identical")
        return self.kills["random"] + self.kills["crash"]


def reference():
    o = out("ref.nc")
    if not os.path.exists(o):
        run(["run", JOB, "-o", o, "-q"], check=0)
    return o


def test_kill9_single_process():
    ref = reference()
    rng = random.Random(20240501)
    total = 0
    # 1: random moments only (from the first instant on).
    # (At most 30 kills: on a loaded machine runs get less done before each.)
    c = Campaign("single-random")
    c.random_kill(0.0)  # at start-up
    while c.kills["random"] < 30 and c.random_kill(rng.uniform(0.02, 0.45)):
        pass
    total += c.complete(ref)
    # 2: inside each kind of write, then random moments.
    c = Campaign("single-writes")
    for spec in SINGLE_CRASHES:
        c.crash(spec)
    while c.kills["random"] < 10 and c.random_kill(rng.uniform(0.02, 0.3)):
        pass
    total += c.complete(ref)
    check(total >= 25, f"only {total} kills")


def test_kill9_mpirun():
    ref = reference()
    rng = random.Random(7)
    c = Campaign("mpi", np=3)
    for spec in MPI_CRASHES:
        c.crash(spec)
    while c.kills["random"] < 10 and c.random_kill(rng.uniform(0.3, 0.8)):
        pass
    n = c.complete(ref)
    check(n >= 6, f"only {n} kills")


if __name__ == "__main__":
    try:
        main([test_kill9_single_process, test_kill9_mpirun])
    finally:
        cleanup(D)
