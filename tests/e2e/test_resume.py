#!/usr/bin/python3
"""Resume and interruption in one process (design.md, Durability and resume;
issue 5): long tasks continue from their checkpoints bit-identically after a
signal or kill -9; SIGUSR1, SIGTERM and SIGINT stop a sweep with exit code 3
and a rerun finishes it identically; a second signal stops faster; changed
jobs are refused; extended axes run only the new tasks; the lock; torn and
damaged journals at the command line; --retry-failed; --fresh; and
`polysweep status` on finished, partial, running and damaged outputs."""
import os
import re
import shutil
import signal
import time

from test_resume_util import (checkpoints, finish, journal_records, kill_all, log,
                              open_in_subprocess, start, task_records, wait_for)
from util import assert_same_data, check, cleanup, main, run, tempdir, write_job

D = tempdir("resume")

# Test hook (exec.h): training slowed by 0.1 ms a step, so that the runs this
# test interrupts last a known time whatever the machine's speed and load
# (results do not change: the references run without it).
PACE = {"POLYSWEEP_TEST_DELAY": "step:0.0001"}

# One long task (~1.2 s paced + compute): checkpoints inside it.
LONG = write_job(D, "long.yaml", """
title: resume long
grid:
  seed: [3]
settings:
  n: 100
  m: 20
  steps: 12000
  batch: 256
  log_every: 100
  eval_samples: 1000
run:
  threads: 1
""")

# 16 tasks of ~0.2 s paced: signals mid-sweep.
SWEEP = write_job(D, "sweep.yaml", """
title: resume sweep
grid:
  sparsity: [0, 0.5, 0.9, 0.99]
  arch: [linear, relu_output]
  m: [4, 8]
settings:
  n: 60
  steps: 1500
  batch: 128
  log_every: 100
  eval_samples: 500
run:
  threads: 1
  checkpoint_every: 0.05
""")

SMALL_TEXT = """
title: resume small
grid:
  sparsity: {sparsity}
  arch: [linear, relu_output]
settings:
  n: 8
  m: 3
  lr: {lr}
  steps: 200
  batch: 64
  log_every: 50
  eval_samples: 200
{extra}run:
  threads: 1
"""


def small(name, sparsity="[0, 0.5, 0.9]", lr="0.001", extra=""):
    return write_job(D, name, SMALL_TEXT.format(sparsity=sparsity, lr=lr, extra=extra))


SMALL = small("small.yaml")

DIVERGE = write_job(D, "diverge.yaml", """
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
run:
  threads: 1
""")


def out(name):
    return os.path.join(D, name)


_refs = {}


def reference(job):
    """The uninterrupted run's dataset of a job (made once)."""
    if job not in _refs:
        o = out(os.path.basename(job) + ".ref.nc")
        run(["run", job, "-o", o, "-q"], check=4 if job == DIVERGE else 0)
        _refs[job] = o
    return _refs[job]


def status(target, check_code=0):
    p = run(["status", target], check=check_code)
    return p.stdout


def status_field(text, name):
    m = re.search(rf"^  {name}:\s+(\d+)", text, re.M)
    check(m, f"no '{name}:' line in the status:\n{text}")
    return int(m.group(1))


# ---- checkpoints inside a long task ----

def interrupt_long(o, how, past=1000):
    """Run LONG (paced) on o with checkpoints every 0.1 s, wait for a
    checkpoint past step `past`, then stop it by `how` ('USR1' or 'KILL').
    Returns (the step of its checkpoint, stderr)."""
    p = start(["run", LONG, "-o", o, "--checkpoint-every", "0.1"], env=PACE)
    wait_for(lambda: any(s >= past for s, _ in checkpoints(o).values()), 30,
             f"a checkpoint past step {past}", p)
    if how == "KILL":
        kill_all(p)
        ck = checkpoints(o)
        check(len(ck) == 1, f"checkpoints after kill -9: {ck}")
        step, steps = list(ck.values())[0]
        return step, ""
    t = time.monotonic()
    os.kill(p.pid, signal.SIGUSR1)
    code, _, err, _ = finish(p, 20)
    took = time.monotonic() - t
    check(code == 3, f"exit {code} after SIGUSR1, expected 3\n{err}")
    check(took < 2, f"took {took:.2f} s to stop after SIGUSR1")
    m = re.search(r"task seed=3 interrupted on rank 0; its checkpoint holds step (\d+)", err)
    check(m, f"no interruption line:\n{err}")
    step = int(m.group(1))
    check(checkpoints(o) and list(checkpoints(o).values())[0] == (step, 12000),
          f"checkpoint files {checkpoints(o)}, expected step {step}")
    return step, err


def resume_long(o, step, env=None):
    t = time.monotonic()
    p = run(["run", LONG, "-o", o], check=0, env=env)
    took = time.monotonic() - t
    check(f"resumed task seed=3 from step {step} of 12000 (its checkpoint)" in p.stderr,
          f"did not resume from step {step}:\n{p.stderr}")
    check("1 continues from a checkpoint" in p.stderr, p.stderr)
    check(checkpoints(o) == {}, f"checkpoint left after the task finished: {checkpoints(o)}")
    assert_same_data(reference(LONG), o, "long task resumed from its checkpoint")
    return took


def test_long_task_signal_checkpoint_resume():
    ref = reference(LONG)
    t = time.monotonic()
    run(["run", LONG, "-o", out("long-full.nc"), "-q"], check=0, env=PACE)
    full = time.monotonic() - t
    o = out("long-usr1.nc")
    step, _ = interrupt_long(o, "USR1", past=4000)
    check(4000 <= step < 12000, f"step {step}")
    st = status(o)
    check(status_field(st, "pending") == 1 and status_field(st, "in progress") == 1, st)
    check(f"seed=3 (step {step} of 12000" in st, st)
    took = resume_long(o, step, env=PACE)
    # It really skipped the first `step` steps: at least half of their time.
    saved = full * step / 12000
    check(took < full - saved / 2,
          f"resume took {took:.2f} s, the full run {full:.2f} s, from step {step}")
    with __import__("xarray").open_dataset(o) as ds, __import__("xarray").open_dataset(ref) as dr:
        # wall_time adds up both attempts
        check(float(ds.wall_time.values.ravel()[0]) > 0.5 * float(dr.wall_time.values.ravel()[0]),
              "wall_time of the resumed task lost the first attempt")
    log(f"SIGUSR1 at step {step}: resumed in {took:.2f} s (full run {full:.2f} s), identical")


def test_long_task_kill9_after_checkpoint_resume():
    o = out("long-kill.nc")
    step, _ = interrupt_long(o, "KILL")
    check(not os.path.exists(o) or open_in_subprocess([o]) is not None, "")
    resume_long(o, step)
    log(f"kill -9 with a checkpoint at step {step}: resumed, identical")


def test_fresh_discards_checkpoints():
    o = out("long-fresh.nc")
    step, _ = interrupt_long(o, "USR1")
    p = run(["run", LONG, "-o", o, "--fresh"], check=0)
    check("resumed" not in p.stderr, f"--fresh resumed from a checkpoint:\n{p.stderr}")
    check("1 tasks, 1 to run;" in p.stderr, p.stderr)
    check(checkpoints(o) == {}, f"{checkpoints(o)}")
    assert_same_data(reference(LONG), o, "--fresh after an interruption")


def test_second_signal_stops_faster():
    # A slow file system (test hook): each checkpoint save takes 2 s.
    env = {"POLYSWEEP_TEST_DELAY": "checkpoint:2,step:0.0001"}
    o1, o2 = out("slow1.nc"), out("slow2.nc")
    p = start(["run", LONG, "-o", o1, "--checkpoint-every", "1000"], env=env)
    time.sleep(0.5)
    t = time.monotonic()
    os.kill(p.pid, signal.SIGUSR1)
    code, _, err1, _ = finish(p, 30)
    graceful = time.monotonic() - t
    check(code == 3, f"exit {code}\n{err1}")
    check(graceful >= 1.9, f"one signal: stopped in {graceful:.2f} s without its 2 s checkpoint")
    check(len(checkpoints(o1)) == 1, f"one signal: checkpoint {checkpoints(o1)}")

    p = start(["run", LONG, "-o", o2, "--checkpoint-every", "1000"], env=env)
    time.sleep(0.5)
    os.kill(p.pid, signal.SIGUSR1)
    time.sleep(0.3)
    t = time.monotonic()
    os.kill(p.pid, signal.SIGUSR1)
    code, _, err2, _ = finish(p, 30)
    fast = time.monotonic() - t
    check(code == 3, f"exit {code}\n{err2}")
    check(fast < 0.5, f"second signal: {fast:.2f} s to exit")
    check(checkpoints(o2) == {}, f"second signal: a checkpoint was saved {checkpoints(o2)}")
    check("before its first checkpoint" in err2, err2)
    # Still resumable (from the start), still identical.
    run(["run", LONG, "-o", o2, "-q"], check=0)
    assert_same_data(reference(LONG), o2, "after a second signal")
    log(f"one signal: {graceful:.2f} s (2 s checkpoint); second signal: exit {fast:.2f} s after it")


# ---- signals mid-sweep ----

def signal_midsweep(sig, name):
    ref = reference(SWEEP)
    o = out(f"sweep-{name}.nc")
    p = start(["run", SWEEP, "-o", o], env=PACE)
    wait_for(lambda: task_records(o) >= 4, 30, "4 committed tasks", p)
    t = time.monotonic()
    os.kill(p.pid, sig)
    code, _, err, _ = finish(p, 20)
    took = time.monotonic() - t
    check(code == 3, f"{name}: exit {code}, expected 3\n{err}")
    check(took < 1.5, f"{name}: {took:.2f} s to stop")
    check(f"{name}: stopping: no new tasks" in err, f"{name}:\n{err}")
    check("rerun the same command to resume" in err, err)
    committed = task_records(o)
    check(4 <= committed < 16, f"{name}: {committed} tasks committed")
    done = open_in_subprocess([o])[o]
    check(done == committed, f"{name}: the snapshot has {done} done tasks, the journal {committed}")
    st = status(o)
    check(status_field(st, "done") == committed, st)
    check(status_field(st, "pending") == 16 - committed, st)
    r = run(["run", SWEEP, "-o", o], check=0)
    check(f"16 tasks, {16 - committed} to run" in r.stderr, r.stderr)
    assert_same_data(ref, o, f"{name} mid-sweep, then rerun")
    log(f"{name}: exit 3 in {took:.2f} s with {committed}/16 committed; rerun identical")


def test_sigusr1_midsweep():
    signal_midsweep(signal.SIGUSR1, "SIGUSR1")


def test_sigterm_midsweep():
    signal_midsweep(signal.SIGTERM, "SIGTERM")


def test_sigint_midsweep():
    signal_midsweep(signal.SIGINT, "SIGINT")


# ---- the job changed ----

def files_state(o):
    """Bytes of the journal and the dataset (to prove nothing changed)."""
    with open(o + ".state/journal", "rb") as f:
        j = f.read()
    with open(o, "rb") as f:
        d = f.read()
    return j, d, os.stat(o).st_mtime_ns


def test_changed_job_refused():
    o = out("changed.nc")
    run(["run", SMALL, "-o", o, "-q"], check=0)
    before = files_state(o)
    cases = [
        (small("changed-lr.yaml", lr="0.002"),
         f"{o} holds results of a different job: lr is 0.001 there and 0.002 in {D}/changed-lr.yaml "
         f"(run with --fresh to discard them, or choose another output with -o)"),
        (small("changed-axis.yaml", extra="  seed: 1\n"),
         f"{o} holds results of a different job: seed is 0 there and 1 in {D}/changed-axis.yaml"),
        (write_job(D, "changed-new-axis.yaml", SMALL_TEXT.format(
            sparsity="[0, 0.5, 0.9]\n  n: [8, 9]", lr="0.001", extra="").replace("  n: 8\n", "")),
         f"{o} holds results of a different job: axis 'n' was added in {D}/changed-new-axis.yaml "
         "(run with --fresh"),
    ]
    for job, msg in cases:
        p = run(["run", job, "-o", o], check=2)
        check(msg in p.stderr, f"expected\n  {msg}\nin\n{p.stderr}")
        check(files_state(o) == before, f"{job}: the output changed although it was refused")
    # --fresh starts over deliberately
    p = run(["run", cases[0][0], "-o", o, "--fresh", "-q"], check=0)
    assert_same_data(reference(cases[0][0]), o, "--fresh with the changed job")


def test_extended_axis_runs_only_new_tasks():
    o = out("extend.nc")
    run(["run", SMALL, "-o", o, "-q"], check=0)  # 3 sparsities x 2 archs
    n0 = task_records(o)
    check(n0 == 6, f"{n0} task records")
    big = small("extended.yaml", sparsity="[0, 0.25, 0.5, 0.9, 0.99]")
    p = run(["run", big, "-o", o], check=0)
    check("10 tasks, 4 to run" in p.stderr, f"expected 4 new tasks:\n{p.stderr}")
    check(task_records(o) == n0 + 4, f"{task_records(o)} task records, expected {n0 + 4}")
    assert_same_data(reference(big), o, "extended axis vs a fresh run of the extended job")
    st = status(o)
    check(status_field(st, "done") == 10 and ", 10 tasks" in st, st)
    # Back to the smaller job: old results, nothing to run, a warning for the rest.
    p = run(["run", SMALL, "-o", o], check=0)
    check("6 tasks, 0 to run" in p.stderr and "4 finished task records are not in the grid" in p.stderr,
          p.stderr)
    assert_same_data(reference(SMALL), o, "axis shrunk back")


# ---- the lock ----

def test_lock_refuses_second_run_and_stale_lock_does_not_block():
    o = out("lock.nc")
    p = start(["run", LONG, "-o", o], env=PACE)
    wait_for(lambda: os.path.exists(o + ".state/journal") and journal_records(o), 20,
             "the first run's journal", p)
    host = os.uname().nodename
    t = time.monotonic()
    r = run(["run", LONG, "-o", o], check=2)
    check(time.monotonic() - t < 2, "the refusal took long")
    want = f"polysweep: {o} is in use by another polysweep run (pid {p.pid} on this host, {host}, running since "
    check(want in r.stderr, f"expected\n  {want}\nin\n{r.stderr}")
    check(f"stop it with `kill -USR1 {p.pid}`" in r.stderr, r.stderr)
    r = run(["run", LONG, "-o", o, "--fresh"], check=2)  # --fresh does not get past it
    check("is in use by another polysweep run" in r.stderr, r.stderr)
    st = status(o)
    check(f"running:     yes: pid {p.pid} on this host ({host}), since " in st, st)
    kill_all(p)
    # The kernel dropped the lock with the process: no stale lock.
    st = status(o)
    check(f"running:     no (the last run, pid {p.pid}" in st, st)
    r = run(["run", LONG, "-o", o, "-q"], check=0)
    assert_same_data(reference(LONG), o, "after kill -9 of the lock holder")


# ---- torn and damaged journals ----

def test_torn_journal_tail_is_dropped():
    o = out("torn.nc")
    run(["run", SMALL, "-o", o, "-q"], check=0)
    recs = journal_records(o)
    typ, off, length = recs[-1]
    check(typ == 3, f"last record type {typ}")
    path = o + ".state/journal"
    for cut in (off + 3, off + 20 + length // 2, off + 20 + length + 3):
        with open(path, "r+b") as f:
            f.truncate(cut)
        st = status(o)
        check(f"an incomplete last record at byte offset {off} ({cut - off} bytes)" in st, st)
        check(status_field(st, "done") == 5, st)
        check(os.path.getsize(path) == cut, "status modified the journal")
        p = run(["run", SMALL, "-o", o], check=0)
        check(f"journal: dropped an incomplete last record at byte offset {off} ({cut - off} bytes), "
              "left by an interrupted write" in p.stderr, p.stderr)
        check("6 tasks, 1 to run" in p.stderr, p.stderr)
        assert_same_data(reference(SMALL), o, f"journal cut at {cut}")
        recs = journal_records(o)
        typ, off, length = [r for r in recs if r[0] == 3][-1]
        with open(path, "r+b") as f:  # back to a journal ending in a task record
            f.truncate(off + 20 + length)


def test_damaged_journal_is_refused_with_offset():
    o = out("damaged.nc")
    run(["run", SMALL, "-o", o, "-q"], check=0)
    recs = [r for r in journal_records(o) if r[0] == 3]
    _, off, length = recs[2]  # the third task record: valid ones follow
    nxt = recs[3][1]
    path = o + ".state/journal"
    with open(path, "r+b") as f:
        f.seek(off + 20 + length // 2)
        b = f.read(1)
        f.seek(off + 20 + length // 2)
        f.write(bytes([b[0] ^ 0x10]))
    with open(path, "rb") as f:
        before = f.read()
    p = run(["run", SMALL, "-o", o], check=2)
    want = (f"{path}: corrupt record at byte offset {off}, followed by valid records (the next at "
            f"byte offset {nxt}): the file was damaged, not just cut short by an interrupted run; "
            "it was left as it is")
    check(want in p.stderr, f"expected\n  {want}\nin\n{p.stderr}")
    with open(path, "rb") as f:
        check(f.read() == before, "the damaged journal was modified")
    st = status(o)
    check(f"the journal is damaged at byte offset {off} (valid records follow at byte offset {nxt})"
          in st, st)
    check(status_field(st, "done") == 2, st)


# ---- failed tasks ----

def test_retry_failed():
    o = out("diverge.nc")
    p = run(["run", DIVERGE, "-o", o], check=4)
    check(p.stderr.count("failed on rank 0") == 2, p.stderr)
    n = task_records(o)
    p = run(["run", DIVERGE, "-o", o], check=4)
    check("4 tasks, 0 to run" in p.stderr, p.stderr)
    check(task_records(o) == n, "a rerun without --retry-failed ran something")
    st = status(o)
    check(status_field(st, "failed") == 2 and "loss became nan at step" in st, st)
    p = run(["run", DIVERGE, "-o", o, "--retry-failed"], check=4)
    check("4 tasks, 2 to run, 2 of them failed before (--retry-failed)" in p.stderr, p.stderr)
    check(task_records(o) == n + 2, f"{task_records(o)} records, expected {n + 2}")
    assert_same_data(reference(DIVERGE), o, "--retry-failed (same failures again)")


# ---- status ----

def test_status_outputs():
    o = reference(SMALL)
    st = status(o)
    for name, want in (("done", 6), ("failed", 0), ("pending", 0), ("in progress", 0)):
        check(status_field(st, name) == want, f"{name}:\n{st}")
    check(st.startswith(f'{o}: job "resume small", 6 tasks\n'), st)
    check("running:     no" in st and "last update: " in st and " UTC (" in st, st)
    check(re.search(r"journal:     .*: \d+ records, \d+ bytes\n", st), st)
    # the job file instead of the output (with -o: its output is another path)
    st2 = run(["status", SMALL, "-o", o], check=0).stdout
    check(status_field(st2, "done") == 6, st2)
    # not an output
    p = run(["status", out("nothing.nc")], check=2)
    check(f"{D}/nothing.nc is not the output of a polysweep sweep: {D}/nothing.nc.state/journal "
          "does not exist" in p.stderr, p.stderr)
    stray = out("stray.nc")
    shutil.copy(o, stray)
    p = run(["status", stray], check=2)
    check("the file exists, but no sweep keeps its record next to it" in p.stderr, p.stderr)
    p = run(["status", write_job(D, "bad.yaml", "settings: {n: 0}\n")], check=2)
    check("is neither the output of a sweep" in p.stderr and "n must be an integer" in p.stderr,
          p.stderr)
    # a job whose output was never run
    p = run(["status", write_job(D, "never.yaml", f"output: {out('never.nc')}\n")], check=2)
    check("never.nc.state/journal does not exist" in p.stderr, p.stderr)
    log("status of a finished output:\n" + "\n".join("       " + l for l in st.splitlines()))


def test_options():
    for bad in ("0", "-1", "abc", "nan"):
        p = run(["run", SMALL, "-o", out("opt.nc"), "--checkpoint-every", bad], check=2)
        check(f"--checkpoint-every must be a number of seconds > 0, got '{bad}'" in p.stderr, p.stderr)
    check(not os.path.exists(out("opt.nc.state")), "a refused command line wrote something")
    p = run(["run", SMALL, "-o", out("opt.nc"), "--checkpoint-every"], check=2)
    check("--checkpoint-every needs a number of seconds" in p.stderr, p.stderr)
    p = run(["status"], check=2)
    check("status needs an output" in p.stderr, p.stderr)
    p = run(["status", out("x.nc"), "--frobnicate"], check=2)
    check("unknown option '--frobnicate'" in p.stderr, p.stderr)
    p = run(["--help"], check=0)
    for want in ("polysweep status OUT|JOB", "--retry-failed", "--checkpoint-every SECONDS",
                 "3 incomplete (resumable)"):
        check(want in p.stdout, f"--help lacks {want!r}")


if __name__ == "__main__":
    try:
        main([test_long_task_signal_checkpoint_resume, test_long_task_kill9_after_checkpoint_resume,
              test_fresh_discards_checkpoints, test_second_signal_stops_faster,
              test_sigusr1_midsweep, test_sigterm_midsweep, test_sigint_midsweep,
              test_changed_job_refused, test_extended_axis_runs_only_new_tasks,
              test_lock_refuses_second_run_and_stale_lock_does_not_block,
              test_torn_journal_tail_is_dropped, test_damaged_journal_is_refused_with_offset,
              test_retry_failed, test_status_outputs, test_options])
    finally:
        cleanup(D)
