#!/usr/bin/python3
"""Signals under a real mpirun -np 3 (design.md, Durability and resume;
issue 5): SIGUSR1 to mpirun (which forwards it to every rank), SIGTERM to
mpirun (which signals every rank and kills them a second later), SIGTERM to
every rank (as srun does), a signal to rank 0 alone (it tells the busy
workers, which poll for it in their ticks), a signal to one worker alone,
and a second signal. Each run ends promptly with no rank left behind, the
workers' tasks stop at a checkpoint, and a rerun resumes from them and ends
byte-identical to an uninterrupted run."""
import os
import re
import signal
import time

from test_mpi_util import alive, mpirun, rank_pids
from test_resume_util import checkpoints, finish, log, open_in_subprocess, start, wait_for
from test_resume_util import task_records
from util import assert_same_data, check, cleanup, main, run, tempdir, write_job

D = tempdir("resume-mpi")

# Test hook (exec.h): training slowed by 0.1 ms a step, so that tasks last a
# known time whatever the machine's speed and load (results do not change: the
# references run without it).
PACE = {"POLYSWEEP_TEST_DELAY": "step:0.0001"}

# 12 tasks of ~0.5 s paced (~3 s on 2 workers), checkpointed every 0.1 s.
JOB = write_job(D, "mpi.yaml", """
title: resume mpi
grid:
  seed: {range: [0, 12]}
settings:
  n: 100
  m: 20
  steps: 4000
  batch: 128
  log_every: 100
  eval_samples: 500
run:
  threads: 1
  checkpoint_every: 0.1
""")


# 2 tasks of ~1.5 s paced, one per worker: a signal finds both running.
LONG = write_job(D, "mpi-long.yaml", """
title: resume mpi long
grid:
  seed: [0, 1]
settings:
  n: 100
  m: 20
  steps: 12000
  batch: 256
  log_every: 100
  eval_samples: 500
run:
  threads: 1
  checkpoint_every: 0.1
""")


def out(name):
    return os.path.join(D, name)


def reference(job=JOB):
    o = out(os.path.basename(job) + ".ref.nc")
    if not os.path.exists(o):
        run(["run", job, "-o", o, "-q"], check=0)
    return o


def interrupt(name, send, env=None, want_code=3, limit=3.0, job=JOB):
    """Start mpirun -np 3 on a new output, wait for 2 committed tasks and a
    checkpoint (JOB) or for both workers' checkpoints (LONG), call
    send(mpirun Popen, {rank: pid}), and wait for the end. Returns (output,
    exit code, stderr, seconds from the signal to the end)."""
    o = out(name + ".nc")
    p = start(["run", job, "-o", o], env=dict(PACE, **(env or {})), mpi_np=3)
    ranks = rank_pids(p.pid, 3)
    if job == JOB:
        wait_for(lambda: task_records(o) >= 2 and checkpoints(o), 60, "2 tasks and a checkpoint", p)
    else:
        wait_for(lambda: len(checkpoints(o)) == 2, 60, "both tasks' checkpoints", p)
    t = time.monotonic()
    send(p, ranks)
    code, _, err, _ = finish(p, 30)
    took = time.monotonic() - t
    for r, pid in ranks.items():
        deadline = time.monotonic() + 3
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        check(not alive(pid), f"{name}: rank {r} (pid {pid}) still running")
    check(want_code is None or code == want_code, f"{name}: exit {code}, expected {want_code}\n{err}")
    check(took < limit, f"{name}: {took:.2f} s from the signal to the end")
    return o, code, err, took


def resume_and_compare(name, o, want_resume=True, job=JOB):
    committed = task_records(o)
    if os.path.exists(o):
        open_in_subprocess([o])
    p = mpirun(3, ["run", job, "-o", o], check=0)
    total, steps = (12, 4000) if job == JOB else (2, 12000)
    check(f"{total} tasks, {total - committed} to run" in p.stderr, f"{name}:\n{p.stderr}")
    resumed = re.findall(rf"rank \d: resumed task (seed=\d+) from step (\d+) of {steps}", p.stderr)
    if want_resume:
        check(resumed and all(int(s) > 0 for _, s in resumed),
              f"{name}: no task resumed from a checkpoint:\n{p.stderr}")
    check(checkpoints(o) == {}, f"{name}: checkpoints left: {checkpoints(o)}")
    assert_same_data(reference(job), o, f"{name}, then resumed")
    return committed, resumed


def interrupted_lines(err):
    return re.findall(r"task (seed=\d+) interrupted on rank (\d); its checkpoint holds step (\d+)", err)


def test_sigusr1_to_mpirun():
    reference()
    o, _, err, took = interrupt("usr1", lambda p, r: os.kill(p.pid, signal.SIGUSR1))
    check("SIGUSR1: stopping: no new tasks" in err, err)
    # Both workers were in a task (unless one had just finished it).
    lines = interrupted_lines(err)
    check(len(lines) >= 1, f"no task interrupted with a checkpoint:\n{err}")
    committed, resumed = resume_and_compare("SIGUSR1 to mpirun", o)
    check({t for t, _ in resumed} == {t for t, _, _ in lines}, f"resumed {resumed}, interrupted {lines}")
    log(f"SIGUSR1 to mpirun: exit 3 after {took:.2f} s, {committed}/12 committed, "
        f"{len(lines)} tasks checkpointed and resumed; identical")


def test_sigterm_to_mpirun():
    # mpirun signals every rank and kills them 1 s later (odls_base_sigkill_timeout);
    # its own exit code is then 1, whatever the ranks did.
    o, code, err, took = interrupt("term", lambda p, r: os.kill(p.pid, signal.SIGTERM),
                                   want_code=None, limit=5)
    check(code != 0, f"mpirun exit 0 after SIGTERM\n{err}")
    check("SIGTERM: stopping" in err, err)
    committed, resumed = resume_and_compare("SIGTERM to mpirun", o, want_resume=False)
    log(f"SIGTERM to mpirun: mpirun exit {code} after {took:.2f} s; {committed}/12 committed, "
        f"{len(resumed)} resumed; identical")


def both_interrupted_and_resumed(name, o, err):
    lines = interrupted_lines(err)
    check(sorted(r for _, r, _ in lines) == ["1", "2"],
          f"{name}: expected both workers' tasks interrupted at a checkpoint:\n{err}")
    _, resumed = resume_and_compare(name, o, job=LONG)
    check(sorted(resumed) == sorted((t, s) for t, _, s in lines),
          f"{name}: resumed {resumed}, interrupted {lines}")


def test_sigterm_to_every_rank():
    # What srun does with scancel or at the time limit.
    def send(p, ranks):
        for pid in ranks.values():
            os.kill(pid, signal.SIGTERM)
    reference(LONG)
    o, _, err, took = interrupt("term-ranks", send, job=LONG)
    both_interrupted_and_resumed("SIGTERM to every rank", o, err)
    log(f"SIGTERM to every rank: exit 3 after {took:.2f} s; both tasks resumed; identical")


def test_signal_to_rank0_only():
    o, _, err, took = interrupt("rank0", lambda p, r: os.kill(r[0], signal.SIGUSR1), job=LONG)
    both_interrupted_and_resumed("SIGUSR1 to rank 0 only", o, err)
    log(f"SIGUSR1 to rank 0 only: it stopped both workers at a checkpoint, exit 3 after {took:.2f} s")


def test_signal_to_one_worker_only():
    o, _, err, took = interrupt("worker", lambda p, r: os.kill(r[2], signal.SIGUSR1), job=LONG)
    check("a signal to rank 2: stopping: no new tasks" in err, err)
    both_interrupted_and_resumed("SIGUSR1 to rank 2 only", o, err)
    log(f"SIGUSR1 to rank 2 only: the whole run stopped, exit 3 after {took:.2f} s")


def test_second_signal_stops_at_once():
    # Every checkpoint save takes 4 s (test hook: a slow file system); the
    # second signal reaches rank 0 only, which passes it on to the workers.
    env = {"POLYSWEEP_TEST_DELAY": "checkpoint:4,step:0.0001"}
    o = out("twice.nc")
    p = start(["run", LONG, "-o", o, "--checkpoint-every", "1000"], env=env, mpi_np=3)
    ranks = rank_pids(p.pid, 3)
    wait_for(lambda: os.path.exists(o + ".state/journal"), 60, "the journal", p)
    time.sleep(0.5)  # both workers are in their task
    os.kill(ranks[0], signal.SIGUSR1)
    time.sleep(0.5)
    check(p.poll() is None, "the run ended before its 4 s checkpoints")
    t = time.monotonic()
    os.kill(ranks[0], signal.SIGUSR1)
    code, _, err, _ = finish(p, 30)
    took = time.monotonic() - t
    check(code == 3, f"exit {code}\n{err}")
    # (mpirun itself sometimes takes a second to notice that the ranks ended)
    check(took < 2.5, f"{took:.2f} s after the second signal (checkpoints take 4 s)")
    check("SIGUSR1 again: stopping at once" in err, err)
    check(checkpoints(o) == {}, f"a checkpoint was saved: {checkpoints(o)}")
    check(err.count("before its first checkpoint") == 2, err)
    resume_and_compare("two signals", o, want_resume=False, job=LONG)
    log(f"second SIGUSR1 to rank 0: exit 3 {took:.2f} s after it (checkpoints would take 4 s)")


def test_second_signal_with_a_stuck_worker():
    # Workers in a step that does not end (test hook: each tick sleeps 8 s, a
    # huge model's step) cannot answer; the graceful stop waits for them, and
    # the second signal ends the run anyway: rank 0 snapshots what is
    # committed, waits FAST_STOP_GRACE for them, and aborts with code 3.
    o = out("stuck.nc")
    p = start(["run", LONG, "-o", o], env={"POLYSWEEP_TEST_DELAY": "step:2"}, mpi_np=3)
    ranks = rank_pids(p.pid, 3)
    wait_for(lambda: os.path.exists(o + ".state/journal"), 60, "the journal", p)
    time.sleep(0.5)
    os.kill(ranks[0], signal.SIGUSR1)
    time.sleep(1.0)
    check(p.poll() is None, "the run ended although the workers cannot answer")
    t = time.monotonic()
    os.kill(ranks[0], signal.SIGUSR1)
    code, _, err, _ = finish(p, 30)
    took = time.monotonic() - t
    check(code == 3, f"exit {code}\n{err}")
    check(took < 3, f"{took:.2f} s after the second signal")
    check("stopping every rank" in err, err)
    for r, pid in ranks.items():
        deadline = time.monotonic() + 3
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        check(not alive(pid), f"rank {r} (pid {pid}) still running")
    open_in_subprocess([o])
    resume_and_compare("stuck workers, two signals", o, want_resume=False, job=LONG)
    log(f"stuck workers: the second signal ended the run {took:.2f} s later (exit 3, MPI_Abort)")


if __name__ == "__main__":
    try:
        main([test_sigusr1_to_mpirun, test_sigterm_to_mpirun, test_sigterm_to_every_rank,
              test_signal_to_rank0_only, test_signal_to_one_worker_only,
              test_second_signal_stops_at_once, test_second_signal_with_a_stuck_worker])
    finally:
        cleanup(D)
