#!/usr/bin/python3
"""Slurm (issue 6, design.md "Slurm"): the shipped slurm/polysweep.sbatch on a
real one-node Slurm cluster (munged, slurmctld and slurmd from Debian,
started by this test through tests/e2e/slurm_cluster.sh and stopped by their
PIDs, also when a check fails):

1. a small sweep submitted with the script completes, and its dataset equals
   a direct run's byte for byte (same BLAS threads);
2. a longer sweep warned with SIGUSR1 mid-run (`scancel --signal=USR1
   --batch`, what `--signal=B:USR1@N` does before the time limit) exits
   "incomplete", requeues itself, resumes and ends identical to a direct run,
   the requeue visible in `history`, the log and Slurm's restart count; with
   POLYSWEEP_MAX_REQUEUES=0 it stops at the cap instead, and a resubmission
   finishes it;
3. a worker rank killed with SIGKILL inside the job (its PID from `scontrol
   listpids`) ends the job promptly as failed, not requeued, and resubmitting
   the same command resumes.

Where Slurm cannot run (not root, packages missing, daemons that do not
start) the test says so loudly and exits 77, which meson counts as skipped
(tools/test.sh lists skipped tests; they are not passed)."""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

from slurm_util import SKIP, Slurm, attrs, clean_env, cpus_allowed, history_done, skip_loudly
from test_mpi_util import journal_task_count
from util import POLYSWEEP, SOURCE, assert_same_data, check, cleanup, run_tests, tempdir, write_job
import slurm_util

CLUSTER = os.path.join(SOURCE, "tests", "e2e", "slurm_cluster.sh")
SCRIPT = os.path.join(SOURCE, "slurm", "polysweep.sbatch")
D = tempdir("slurm")

# ~12 tasks of a few milliseconds to ~0.1 s.
SMALL = write_job(D, "small.yaml", """
title: slurm small
grid:
  arch: [linear, relu_output]
  sparsity: [0, 0.9, 0.99]
  n: [8, 40]
settings:
  m: 5
  importance: decay
  importance_rate: 0.8
  steps: 600
  batch: 128
  log_every: 100
  eval_samples: 500
""")

# ~0.2 s per task, ~6-10 s on one worker: long enough to be interrupted.
LONG = write_job(D, "long.yaml", """
title: slurm long
grid:
  seed: {range: [0, 36]}
settings:
  n: 100
  m: 10
  steps: 1500
  batch: 256
  log_every: 100
  eval_samples: 1000
""")
LONG_TASKS = 36


def out(name):
    return os.path.join(D, name)


S = Slurm(D)
slurm, job_info, wait_job, wait_tasks, log_of = S.run, S.job_info, S.wait_job, S.wait_tasks, S.log_of


def submit(name, job, args=(), env=None, time_limit="5"):
    """sbatch the shipped script with 2 tasks of 1 CPU (rank 0 + 1 worker);
    returns the job id."""
    return S.sbatch([f"--job-name={name}", "--ntasks=2", "--cpus-per-task=1", f"--time={time_limit}"],
                    SCRIPT, [job] + list(args), env=env)


def direct(job, name):
    """The reference: one process, no MPI, same BLAS threads."""
    return slurm_util.direct(job, out(name), D)


_long_ref = []


def long_reference():
    """The direct run of LONG, made once (tests 2 to 4 compare with it)."""
    if not _long_ref:
        _long_ref.append(direct(LONG, "long-direct.nc"))
    return _long_ref[0]


bound_cores = None   # 1 when the cluster binds tasks to cores (task/affinity)


def test_outside_slurm_refuses():
    e = clean_env()
    e.pop("SLURM_JOB_ID", None)
    p = subprocess.run(["bash", SCRIPT, SMALL], cwd=D, env=e, capture_output=True, text=True, timeout=30)
    check(p.returncode == 2, f"outside Slurm: exit {p.returncode}, expected 2\n{p.stderr}")
    check("not running inside a Slurm job" in p.stderr and "sbatch" in p.stderr,
          f"outside Slurm: message {p.stderr!r}")
    check(not os.path.exists(out("small.nc")), "outside Slurm: something was written")


def test_small_sweep_completes_like_a_direct_run():
    jobid = submit("small", SMALL, ["-o", out("small.nc")])
    ref = direct(SMALL, "small-direct.nc")
    info = wait_job(jobid)
    log = log_of(jobid)
    check(info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0",
          f"small job {jobid}: {info['JobState']} exit {info['ExitCode']}\n{log}")
    check(info.get("Restarts") == "0", f"small job requeued: Restarts={info.get('Restarts')}")
    n = assert_same_data(ref, out("small.nc"), "sbatch vs direct run")
    check(n >= 10, f"only {n} data variables compared")
    a = attrs(out("small.nc"))
    check(int(a["mpi_size"]) == 2 and int(a["blas_threads"]) == 1,
          f"mpi_size {a['mpi_size']}, blas_threads {a['blas_threads']}, expected 2 and 1")
    check("(srun)" in a["run_layout"], f"run_layout {a['run_layout']!r} does not name srun")
    check(int(a["tasks_done"]) == 12, f"tasks_done {a['tasks_done']}")
    # the log: where the README says, with the banner, the command and the end
    check(os.path.exists(out(f"slurm-small-{jobid}.out")), f"no slurm-small-{jobid}.out in {os.listdir(D)}")
    for want in ("===== job %s run 1 " % jobid, "srun --mpi=pmix --kill-on-bad-exit=1 --cpu-bind=cores",
                 "--cpus-per-task=1", "--threads 1", "sweep complete"):
        check(want in log, f"log lacks {want!r}:\n{log}")
    lines, done = history_done(out("small.nc"))
    check(done == [0], f"history {lines}")
    check(f"slurm job {jobid}" in lines[0], f"history does not name the Slurm job: {lines[0]!r}")


def test_job_array_of_shards_merges_to_a_direct_run():
    """sbatch --array=1-3 ... --shard %a/3: each element runs its shard into its
    own output; their merge equals a direct run."""
    outs = [out(f"array.shard{k}.nc") for k in (1, 2, 3)]
    jobid = S.sbatch(["--job-name=array", "--array=1-3", "--ntasks=1", "--cpus-per-task=1",
                      "--time=5"], SCRIPT, [SMALL, "--shard", "%a/3", "-o", out("array.shard%a.nc")])
    for k in (1, 2, 3):
        info = wait_job(f"{jobid}_{k}")
        check(info["JobState"] == "COMPLETED", f"array element {k}: {info.get('JobState')}\n"
              f"{log_of(f'{jobid}_{k}')}")
    ref = direct(SMALL, "array-direct.nc")
    m = subprocess.run([POLYSWEEP, "merge", "-o", out("array.nc")] + outs, cwd=D, env=clean_env(),
                       capture_output=True, text=True, timeout=120)
    check(m.returncode == 0, f"merge: exit {m.returncode}\n{m.stderr}")
    assert_same_data(ref, out("array.nc"), "merged job array vs direct run")
    for k, o in enumerate(outs, 1):
        check(attrs(o)["shard"] == f"{k}/3", f"{o}: shard {attrs(o).get('shard')}")
    e = clean_env({"SLURM_JOB_ID": "1"})
    e.pop("SLURM_ARRAY_TASK_ID", None)
    p = subprocess.run(["bash", SCRIPT, SMALL, "--shard", "%a/3"], cwd=D, env=e, capture_output=True,
                       text=True, timeout=30)
    check(p.returncode == 2 and "not an array" in p.stderr, f"%a outside an array: {p.stderr}")


def test_submit_helper_sizes_and_submits():
    """slurm/submit.sh: the node shape from sinfo, the layout and time limit
    from `polysweep plan`, then sbatch with the shipped script."""
    helper = os.path.join(SOURCE, "slurm", "submit.sh")
    o = out("helper.nc")
    p = slurm(["bash", helper, "--dry-run", SMALL, "-o", o])
    shape = re.search(r"partition debug: nodes of (\d+) cores", p.stderr)
    m = re.search(r"submit.sh: (sbatch .*)$", p.stderr, re.M)
    check(shape and m and "calibrate" in p.stderr, f"dry run:\n{p.stderr}")
    # 12 tasks: a rank per core up to 13 ranks, one thread each
    cores = int(shape.group(1))
    want = (f"--nodes=1 --ntasks-per-node={cores} " if cores <= 13 else "--nodes=1 --ntasks=13 ")
    check(m.group(1).startswith("sbatch --partition=debug " + want + "--cpus-per-task=1 --time=00:05:00 ")
          and m.group(1).endswith(f"slurm/polysweep.sbatch {SMALL} -o {o}"), f"dry run: {m.group(1)}")
    check(not os.path.exists(o) and "Submitted" not in p.stdout, "the dry run submitted")
    p = slurm(["bash", helper, "--sbatch", "--job-name=helper", SMALL, "-o", o])
    jobid = re.search(r"Submitted batch job (\d+)", p.stdout).group(1)
    info = wait_job(jobid)
    check(info["JobState"] == "COMPLETED" and info["TimeLimit"] == "00:05:00",
          f"helper job {jobid}: {info['JobState']}, time limit {info['TimeLimit']}\n{log_of(jobid)}")
    assert_same_data(out("small-direct.nc"), o, "submitted by submit.sh vs direct run")


def test_usr1_requeues_and_resumes():
    o = out("requeue.nc")
    # --fresh: a requeued run must resume all the same
    jobid = submit("requeue", LONG, ["-o", o, "--fresh"])
    before = wait_tasks(o, 3, jobid)
    slurm(["scancel", "--signal=USR1", "--batch", jobid])
    t_signal = time.monotonic()
    info = wait_job(jobid, timeout=150)
    log = log_of(jobid)
    check(info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0",
          f"requeued job {jobid}: {info['JobState']} exit {info['ExitCode']}\n{log}")
    check(info.get("Restarts") == "1", f"Restarts={info.get('Restarts')}, expected 1\n{log}")
    for want in ("SIGUSR1", "incomplete (resumable): requeueing job %s" % jobid,
                 "===== job %s run 2 " % jobid, "ignoring --fresh: a requeued run resumes", "sweep complete"):
        check(want in log, f"log lacks {want!r}:\n{log}")
    check(log.count("===== job") == 2, f"expected 2 runs in the log:\n{log}")
    n = assert_same_data(long_reference(), o, "interrupted, requeued and resumed vs direct run")
    check(n >= 10, f"only {n} data variables compared")
    lines, done = history_done(o)
    check(len(lines) == 2 and done[0] == 0 and before <= done[1] < LONG_TASKS,
          f"history should show the first run and the requeued one resuming: {lines}")
    check(all(f"slurm job {jobid}" in line for line in lines) and "restart 1" in lines[1],
          f"history lines do not name the job and its restart: {lines}")
    print(f"     requeue: USR1 after {before} tasks; {done[1]} done when run 2 started; "
          f"the job ended {time.monotonic() - t_signal:.1f} s after the signal")


def test_requeue_cap_then_resume_by_hand():
    o = out("cap.nc")
    jobid = submit("cap", LONG, ["-o", o], env={"POLYSWEEP_MAX_REQUEUES": "0"})
    wait_tasks(o, 2, jobid)
    slurm(["scancel", "--signal=USR1", "--batch", jobid])
    info = wait_job(jobid)
    log = log_of(jobid)
    check(info["JobState"] == "FAILED" and info["ExitCode"] == "3:0" and info.get("Restarts") == "0",
          f"capped job {jobid}: {info['JobState']} exit {info['ExitCode']} restarts {info.get('Restarts')}\n{log}")
    check("not requeueing" in log, f"log does not say it stopped at the cap:\n{log}")
    again = submit("cap", LONG, ["-o", o])
    info = wait_job(again)
    check(info["JobState"] == "COMPLETED", f"resubmitted job {again}: {info['JobState']}\n{log_of(again)}")
    assert_same_data(long_reference(), o, "capped and resubmitted vs direct run")


def worker_pids(jobid):
    """{rank: pid} of the job step's two polysweep processes."""
    return S.step_pids(jobid, 2)


def test_killed_worker_fails_the_job_and_resubmitting_resumes():
    o = out("killed.nc")
    jobid = submit("killed", LONG, ["-o", o], time_limit="10")
    wait_tasks(o, 3, jobid)
    ranks = worker_pids(jobid)
    if bound_cores:
        masks = {r: cpus_allowed(pid) for r, pid in ranks.items()}
        # a core of its own: one CPU, or two with SMT (hyperthreads)
        check(all(1 <= len(m) <= 2 for m in masks.values()) and masks[0].isdisjoint(masks[1]),
              f"--cpu-bind=cores: each rank should have a core of its own, got {masks}")
    os.kill(ranks[1], signal.SIGKILL)
    t_kill = time.monotonic()
    info = wait_job(jobid, timeout=60)
    took = time.monotonic() - t_kill
    log = log_of(jobid)
    committed = journal_task_count(o)
    check(info["JobState"] == "FAILED" and info["ExitCode"] != "0:0",
          f"job {jobid} with a killed worker: {info['JobState']} exit {info['ExitCode']}\n{log}")
    check(info.get("Restarts") == "0", f"a failed job must not requeue: Restarts={info.get('Restarts')}")
    # srun cancels the step at once (--kill-on-bad-exit); rank 0 is given KillWait
    # (5 s on the test cluster) to end; the time limit is 10 minutes.
    check(took < 20, f"the job took {took:.1f} s to end after a worker was killed\n{log}")
    check("failed with exit code" in log and "resubmit to resume" in log, f"log:\n{log}")
    check(3 <= committed < LONG_TASKS, f"{committed} tasks committed before the kill")
    again = submit("killed", LONG, ["-o", o])
    info = wait_job(again)
    check(info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0",
          f"resubmitted job {again}: {info['JobState']} exit {info['ExitCode']}\n{log_of(again)}")
    assert_same_data(long_reference(), o, "killed, resubmitted vs direct run")
    lines, done = history_done(o)
    check(len(lines) == 2 and done[1] == committed, f"the resubmitted run should skip the {committed} "
          f"committed tasks: {lines}")
    print(f"     killed worker: job ended {took:.1f} s after the kill, {committed} tasks kept")


def cluster(cmd, cdir, env=None):
    e = clean_env(env)
    e.pop("SLURM_CONF", None)
    return subprocess.run(["bash", CLUSTER, cmd, cdir], env=e, capture_output=True, text=True, timeout=120)


def skip(why):
    cleanup(D)
    skip_loudly("the Slurm tests", why)


def main():
    global bound_cores
    tests = [test_small_sweep_completes_like_a_direct_run, test_job_array_of_shards_merges_to_a_direct_run,
             test_submit_helper_sizes_and_submits,
             test_usr1_requeues_and_resumes,
             test_requeue_cap_then_resume_by_hand,
             test_killed_worker_fails_the_job_and_resubmitting_resumes]
    only = sys.argv[1:]
    failed = 0
    try:
        test_outside_slurm_refuses()
        print("ok   test_outside_slurm_refuses", flush=True)
    except Exception as exc:  # noqa: BLE001
        failed += 1
        print(f"FAIL test_outside_slurm_refuses: {exc}", flush=True)
    base = "/run" if os.access("/run", os.W_OK) else None
    cdir = tempfile.mkdtemp(prefix="polysweep-slurm-cluster-", dir=base)
    try:
        # Two CPUs at least (rank 0 + a worker); a requeued job may start again
        # 5 s after it was requeued (the least Slurm accepts; its default is 120 s).
        up = cluster("up", cdir, {"SLURM_CPUS_MIN": "2", "SLURM_CRED_EXPIRE": "5"})
        sys.stderr.write(up.stderr)
        if up.returncode == SKIP:
            skip(up.stderr.strip().splitlines()[-1])
        if up.returncode != 0:
            skip(f"the test cluster did not start (slurm_cluster.sh exit {up.returncode}; log above)")
        os.environ["SLURM_CONF"] = os.path.join(cdir, "slurm.conf")
        with open(os.environ["SLURM_CONF"]) as f:
            bound_cores = "TaskPlugin=task/affinity" in f.read()
        failed = run_tests(tests, only, failed, timed=True)
    finally:
        down = cluster("down", cdir)
        sys.stderr.write(down.stderr)
        if down.returncode != 0:
            failed += 1
            print(f"FAIL tearing the cluster down: exit {down.returncode}", flush=True)
        cleanup(cdir)
    if not bound_cores:
        print("note: the test cluster advertises more CPUs than the machine has (task/none): "
              "core binding was not checked", flush=True)
    if failed:
        print(f"kept {D} for inspection", flush=True)
    else:
        cleanup(D)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
