#!/usr/bin/python3
"""Nodes that die, ranks that are killed, time limits (issue 13; suites
`multinode` and `slow`, a few minutes): the shipped slurm/polysweep.sbatch on
the Slurm cluster of network namespaces (tests/e2e/multinode.py), each
sweep ending identical to a one-process run:

1. one worker rank killed (SIGKILL, its PID from `scontrol listpids` on its
   node): the step ends at once, the job fails without a requeue ("resubmit
   to resume"), and resubmitting the same command resumes;
2. SIGUSR1 (the time-limit warning, `scancel --signal=USR1 --batch`) on a
   2-node job: the ranks checkpoint and exit 3, the script requeues the job,
   and the requeued run resumes the checkpoints its workers wrote;
3. a worker node crashes (its cable unplugged, then everything on it
   killed): rank 0 hears nothing for POLYSWEEP_WORKER_TIMEOUT, gives up with
   exit code 5, and the script requeues the job with the node excluded (the
   log never says "resubmit"); the requeued run resumes on other nodes;
4. the same on a job that needs every node of the partition: the script
   requeues without --exclude (it says why), and the job finishes once the
   node is back;
5. the batch host crashes (rank 0 and the batch script with it): Slurm marks
   the node down and requeues the job itself (--requeue), which resumes on
   the nodes left.

The timings on this cluster: SlurmdTimeout 10 s (a dead node is marked down
after ~10-25 s; real clusters: 300 s), cred_expire 5 s (a requeued job waits
that long), KillWait 5 s, POLYSWEEP_WORKER_TIMEOUT 5 s (default 60 s)."""
import os
import re
import signal
import time

import multinode
import slurm_util
from multinode import SCRIPT, TCP
from test_mpi_util import journal_task_count
from util import assert_same_data, check

# 30 tasks paced to ~1 s each (POLYSWEEP_TEST_DELAY: the workers mostly
# sleep, so a busy machine does not change the story; results do not depend
# on it), ~10 s on 3 workers.
PACED = """
title: multinode paced
grid:
  seed: {range: [0, 30]}
settings:
  n: 20
  m: 5
  steps: 2000
  batch: 64
  log_every: 100
  eval_samples: 200
"""
TASKS = 30
# 12 tasks of ~3 s: a warning always finds some running
LONG = PACED.replace("range: [0, 30]", "range: [0, 12]").replace("steps: 2000", "steps: 6000")
LONG_TASKS = 12
PACE = dict(TCP, POLYSWEEP_TEST_DELAY="step:0.0005")
LOST = dict(PACE, POLYSWEEP_WORKER_TIMEOUT="5")
ref = {}


def setup(c):
    for name, text in (("paced", PACED), ("long", LONG)):
        ref[name] = c.write(f"{name}.yaml", text)
        ref[name + ".nc"] = slurm_util.direct(ref[name], c.path(f"{name}-direct.nc"), c.work)


def submit(c, name, job, nodes, env):
    o = c.path(f"{name}.nc")
    jid = c.slurm.sbatch([f"--job-name={name}", "-N", str(nodes), "--ntasks-per-node=2"], SCRIPT,
                         [ref[job], "-o", o], env=env)
    return jid, o


def crash_and_finish(c, jid, node):
    """Crash `node` under the running job; wait until the job, requeued once,
    completes. Returns its fields, its log and the seconds since the crash."""
    c.crash(node)
    t_crash = time.monotonic()
    info = c.slurm.wait_job(jid, timeout=240)
    took = time.monotonic() - t_crash
    log = c.slurm.log_of(jid)
    check(info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0" and info.get("Restarts") == "1",
          f"job {jid}: {info['JobState']} exit {info['ExitCode']} restarts {info.get('Restarts')}\n{log}")
    return info, log, took


def finished_identical(c, o, job, what):
    n = assert_same_data(ref[job + ".nc"], o, what)
    check(n >= 10, f"{what}: only {n} data variables compared")
    return slurm_util.history_done(o)


def test_killed_worker_rank_fails_the_job_and_resubmitting_resumes(c):
    jid, o = submit(c, "killed", "paced", 2, PACE)
    c.slurm.wait_tasks(o, 3, jid)
    ranks = c.slurm.step_pids(jid, 2, prefix=c.on("psn2"))  # the ranks on psn2
    victim = max(ranks)
    os.kill(ranks[victim], signal.SIGKILL)
    t_kill = time.monotonic()
    info = c.slurm.wait_job(jid, timeout=90)
    took = time.monotonic() - t_kill
    log = c.slurm.log_of(jid)
    committed = journal_task_count(o)
    failed_with = info["ExitCode"]
    check(info["JobState"] == "FAILED" and info["ExitCode"] != "0:0" and info.get("Restarts") == "0",
          f"job {jid}: {info['JobState']} exit {info['ExitCode']} restarts {info.get('Restarts')}\n{log}")
    check(re.search(rf"psn2: task {victim}: Killed", log), f"srun does not name the killed task:\n{log}")
    check("failed with exit code" in log and "resubmit to resume" in log and "requeueing" not in log, log)
    # srun ends the step at once (--kill-on-bad-exit); KillWait is 5 s here
    check(took < 30, f"the job took {took:.1f} s to end after a rank was killed\n{log}")
    check(3 <= committed < TASKS, f"{committed} tasks committed before the kill")
    again, _ = submit(c, "killed", "paced", 2, PACE)
    info = c.slurm.wait_job(again, timeout=120)
    check(info["JobState"] == "COMPLETED", f"resubmitted job {again}: {info['JobState']}\n{c.slurm.log_of(again)}")
    lines, done = finished_identical(c, o, "paced", "killed rank, resubmitted")
    check(len(lines) == 2 and done[1] == committed, f"the resubmission should skip {committed} tasks: {lines}")
    print(f"     killed rank {victim}: the job ended {took:.1f} s later (ExitCode {failed_with}), "
          f"{committed} tasks kept")


def test_usr1_on_two_nodes_requeues_and_resumes(c):
    jid, o = submit(c, "usr1", "long", 2, PACE)
    before = c.slurm.wait_tasks(o, 2, jid)
    c.slurm.run(["scancel", "--signal=USR1", "--batch", jid])
    info = c.slurm.wait_job(jid, timeout=180)
    log = c.slurm.log_of(jid)
    check(info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0" and info.get("Restarts") == "1",
          f"job {jid}: {info['JobState']} exit {info['ExitCode']} restarts {info.get('Restarts')}\n{log}")
    # the warning reaches every rank (srun forwards it): rank 0 names the first it heard of
    for want in ("SIGUSR1 at ", "interrupted by ", f"incomplete (resumable): requeueing job {jid}",
                 f"===== job {jid} run 2 ", "sweep complete"):
        check(want in log, f"log lacks {want!r}:\n{log}")
    check("resubmit" not in log, f"the log asks for a resubmission although the job requeued:\n{log}")
    # the requeued run continued tasks from the checkpoints the workers saved
    resumed = re.findall(r"rank \d+: resumed task (\S+) from step (\d+)", log)
    check(resumed and all(int(s) > 0 for _, s in resumed), f"no task resumed from a checkpoint:\n{log}")
    lines, done = finished_identical(c, o, "long", "SIGUSR1, requeued and resumed on 2 nodes")
    check(len(lines) == 2 and before <= done[1] < LONG_TASKS, f"history: {lines}")
    print(f"     USR1 after {before} tasks; run 2 resumed {len(resumed)} task(s) from checkpoints")


def test_lost_worker_node_requeues_without_it(c):
    jid, o = submit(c, "lostnode", "paced", 2, LOST)
    c.slurm.wait_tasks(o, 4, jid)
    check(c.slurm.job_info(jid).get("NodeList") == "psn[1-2]", f"job on {c.slurm.job_info(jid).get('NodeList')}")
    info, log, took = crash_and_finish(c, jid, "psn2")
    for want in (" on psn2) has not been heard from for ", "psn1: task 0: Exited with exit code 5",
                 "a rank was lost on psn2 (exit code 5", "excluding psn2", f"===== job {jid} run 2 ",
                 "sweep complete"):
        check(want in log, f"log lacks {want!r}:\n{log}")
    check("resubmit" not in log, f"the log asks for a resubmission although the job requeued:\n{log}")
    check(info.get("ExcNodeList") == "psn2" and "psn2" not in info["NodeList"] and
          info["NodeList"] != "psn[1-2]", f"requeued run: excluded {info.get('ExcNodeList')}, "
          f"ran on {info['NodeList']}")
    lines, done = finished_identical(c, o, "paced", "worker node lost, requeued elsewhere")
    check(len(lines) == 2 and 4 <= done[1] < TASKS, f"history: {lines}")
    print(f"     psn2 crashed: the job ran again on {info['NodeList']} and finished {took:.0f} s later")
    c.start_node("psn2")


def test_lost_node_not_excluded_when_the_job_needs_it(c):
    jid, o = submit(c, "needall", "paced", 3, LOST)
    c.slurm.wait_tasks(o, 4, jid)
    c.crash("psn3")
    # requeued (Restarts 1), and pending: it needs all three nodes
    multinode.wait_for(lambda: c.slurm.job_info(jid).get("Restarts") == "1" and
                       c.slurm.job_info(jid).get("JobState") == "PENDING", 120, f"job {jid} requeued")
    log = c.slurm.log_of(jid)
    check("not excluding psn3: only 2 other usable node(s) in debug for a job of 3" in log and
          "a rank was lost on psn3 (exit code 5" in log and "excluding psn3" not in log.replace("not excluding psn3", ""),
          f"log:\n{log}")
    c.start_node("psn3")
    info = c.slurm.wait_job(jid, timeout=180)
    log = c.slurm.log_of(jid)
    check(info["JobState"] == "COMPLETED" and info.get("Restarts") == "1" and info.get("ExcNodeList") == "(null)",
          f"job {jid}: {info['JobState']} restarts {info.get('Restarts')} excluded {info.get('ExcNodeList')}\n{log}")
    check("resubmit" not in log, f"log:\n{log}")
    finished_identical(c, o, "paced", "node of a whole-partition job lost, requeued, node back")


def test_batch_host_crash_slurm_requeues(c):
    jid, o = submit(c, "batchhost", "paced", 2, PACE)
    c.slurm.wait_tasks(o, 4, jid)
    host = c.slurm.job_info(jid)["BatchHost"]
    info, log, took = crash_and_finish(c, jid, host)
    check(host not in info["NodeList"] and f"===== job {jid} run 2 " in log and "sweep complete" in log,
          f"ran again on {info['NodeList']} (batch host was {host}):\n{log}")
    lines, done = finished_identical(c, o, "paced", "batch host crashed, Slurm requeued")
    check(len(lines) == 2 and 4 <= done[1] < TASKS, f"history: {lines}")
    print(f"     batch host {host} crashed: Slurm requeued the job, which finished on {info['NodeList']} "
          f"{took:.0f} s later")


if __name__ == "__main__":
    multinode.main("multinode-crash", [
        test_killed_worker_rank_fails_the_job_and_resubmitting_resumes,
        test_usr1_on_two_nodes_requeues_and_resumes,
        test_lost_worker_node_requeues_without_it,
        test_lost_node_not_excluded_when_the_job_needs_it,
        test_batch_host_crash_slurm_requeues,
    ], setup=setup)
