#!/usr/bin/python3
"""Several nodes, for real (issue 13; suite `multinode`, about half a minute):
the shipped slurm/polysweep.sbatch on a Slurm cluster of network namespaces
(tests/e2e/multinode.py: a head and nodes psn1..psn3 with their own
addresses, host names and /tmp, real slurmctld and slurmds, Open MPI over
TCP between them):

1. 2 nodes x 2 ranks, with the Open MPI settings coming from a site set-up
   hook (POLYSWEEP_SETUP), equals a one-process run byte for byte; the
   dataset says which host ran each task (the per-task rank and run_layout's
   ranks per host): every node's workers ran some, and the link of the
   remote node carried at least the bytes of its results;
2. 3 nodes x 2 ranks (with POLYSWEEP_SRUN_MPI=pmix_v4) likewise;
3. an output on a node-local path (/tmp: every node has its own): the run
   stops at start-up with exit code 2 and a message naming the rank and host
   that do not see rank 0's token, nothing is run and nothing is created on
   the other node, and the script does not offer to resume;
4. SMT: on a node whose cores have two hardware threads (smt1),
   --cpus-per-task=2 is one core: the script runs one BLAS thread and says
   why; with --hint=nomultithread it passes the hint to srun; the CPUs per
   task come from SRUN_CPUS_PER_TASK when set;
5. a site set-up hook that fails, or does not exist, ends the job with exit
   code 2 before anything runs.

The crash scenarios (a lost node, the batch host, a killed rank, SIGUSR1)
are test_multinode_crash.py (suite `slow`)."""
import os

import multinode
import slurm_util
from multinode import SCRIPT, TCP, layout_hosts, result_bytes_from, task_hosts
from util import assert_same_data, check

# 24 tasks paced to ~0.15 s each (POLYSWEEP_TEST_DELAY; results do not
# depend on it): every worker, near and remote, gets several.
SMALL = """
title: multinode small
grid:
  arch: [linear, relu_output]
  sparsity: [0, 0.9, 0.99]
  n: [8, 20, 40, 60]
settings:
  m: 5
  importance: decay
  importance_rate: 0.8
  steps: 1500
  batch: 128
  log_every: 100
  eval_samples: 500
"""
PACE = {"POLYSWEEP_TEST_DELAY": "step:0.0001"}
SMALL_TASKS = 24
ref = {}


def setup(c):
    ref["job"] = c.write("small.yaml", SMALL)
    ref["nc"] = slurm_util.direct(ref["job"], c.path("small-direct.nc"), c.work)
    c.write("site.sh", 'export OMPI_MCA_btl=self,tcp\necho "site set-up ran on $(hostname)" >&2\n')
    c.write("site-fails.sh", 'echo "module: command not found" >&2\nfalse\n')


def run_job(c, name, sbatch_opts, env, args=(), timeout=120):
    o = c.path(f"{name}.nc")
    jid = c.slurm.sbatch([f"--job-name={name}"] + sbatch_opts, SCRIPT, [ref["job"], "-o", o] + list(args),
                         env=env)
    info = c.slurm.wait_job(jid, timeout=timeout)
    return jid, info, c.slurm.log_of(jid), o


def check_spread(c, o, nodes, before, log):
    """Each node's workers ran tasks, the dataset says where, and the remote
    nodes' links carried at least their results."""
    a = slurm_util.attrs(o)
    hosts = layout_hosts(a["run_layout"])
    check(sorted(hosts) == sorted(nodes) and all(len(r) == 2 for r in hosts.values()),
          f"run_layout should place 2 ranks on each of {nodes}: {a['run_layout']!r}")
    check(0 in hosts["psn1"], f"rank 0 should run on the batch host psn1: {hosts}")
    ran = task_hosts(o)
    check(sorted(ran) == sorted(nodes) and sum(ran.values()) == SMALL_TASKS,
          f"tasks per host {ran}: every node's workers should run some of the {SMALL_TASKS}\n{log}")
    for n in nodes:
        if n == "psn1":
            continue
        rx, tx = c.link_bytes(n)
        sent = tx - before[n][1]
        need = result_bytes_from(o, hosts[n])
        check(need > 0 and sent >= need, f"{n} sent {sent} bytes over its link during the job, less than "
              f"the {need} bytes of the results its ranks computed")
        print(f"     {n}: {ran[n]} tasks, sent {sent} bytes over its link (results: >= {need})")


def test_two_nodes_over_tcp_like_one_process(c):
    before = {n: c.link_bytes(n) for n in ("psn1", "psn2")}
    # the Open MPI settings come from the site's set-up hook
    jid, info, log, o = run_job(c, "two", ["-N", "2", "--ntasks-per-node=2"],
                                dict(PACE, POLYSWEEP_SETUP="site.sh"))
    check(info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0",
          f"job {jid}: {info['JobState']} exit {info['ExitCode']}\n{log}")
    for want in ("sourcing the site set-up site.sh", "site set-up ran on psn1",
                 "srun --mpi=pmix --kill-on-bad-exit=1 --cpu-bind=cores --cpus-per-task=1", "sweep complete"):
        check(want in log, f"log lacks {want!r}:\n{log}")
    check(log.index("site set-up ran") < log.index("srun --mpi"), f"the hook ran after srun:\n{log}")
    n = assert_same_data(ref["nc"], o, "2 nodes x 2 ranks vs one process")
    check(n >= 10, f"only {n} data variables compared")
    a = slurm_util.attrs(o)
    check(int(a["mpi_size"]) == 4 and "4 processes (srun) on 2 nodes" in a["run_layout"],
          f"mpi_size {a['mpi_size']}, layout {a['run_layout']!r}")
    check_spread(c, o, ["psn1", "psn2"], before, log)


def test_three_nodes_over_tcp_like_one_process(c):
    before = {n: c.link_bytes(n) for n in ("psn1", "psn2", "psn3")}
    jid, info, log, o = run_job(c, "three", ["-N", "3", "--ntasks-per-node=2"],
                                dict(PACE, POLYSWEEP_SRUN_MPI="pmix_v4", **TCP))
    check(info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0",
          f"job {jid}: {info['JobState']} exit {info['ExitCode']}\n{log}")
    check("srun --mpi=pmix_v4 " in log, f"POLYSWEEP_SRUN_MPI not used:\n{log}")
    assert_same_data(ref["nc"], o, "3 nodes x 2 ranks vs one process")
    check("6 processes (srun) on 3 nodes" in slurm_util.attrs(o)["run_layout"], "layout")
    check_spread(c, o, ["psn1", "psn2", "psn3"], before, log)


def test_node_local_output_is_refused_at_start_up(c):
    # /tmp is each node's own: rank 0 on psn1 and the workers on psn2 see
    # different directories under the same path
    local = "/tmp/mn-local.nc"
    jid = c.slurm.sbatch(["--job-name=local", "-N", "2", "--ntasks-per-node=2"], SCRIPT,
                         [ref["job"], "-o", local], env=TCP)
    info = c.slurm.wait_job(jid, timeout=90)
    log = c.slurm.log_of(jid)
    check(info["JobState"] == "FAILED" and info["ExitCode"] == "2:0" and info.get("Restarts") == "0",
          f"job {jid}: {info['JobState']} exit {info['ExitCode']} restarts {info.get('Restarts')}\n{log}")
    for want in (f"does not see the output rank 0 writes: {local}.state/token does not exist on this node",
                 "2 of 3 workers (on psn2)", "as rank 0 (on psn1) does", "every node of the run",
                 "nothing was run", "polysweep refused to run (exit code 2"):
        check(want in log, f"log lacks {want!r}:\n{log}")
    check("rank 2 (pid" in log and "on psn2)" in log, f"the message does not name rank 2 on psn2:\n{log}")
    check("resubmit to resume" not in log and "requeueing" not in log, f"offers to resume:\n{log}")
    # rank 0 wrote its journal on psn1's disk, no task ran, psn2 got nothing
    mine = os.path.join(c.node_tmp("psn1"), "mn-local.nc.state")
    check(os.path.exists(os.path.join(mine, "token")), f"no token on psn1: {os.listdir(c.node_tmp('psn1'))}")
    from test_mpi_util import journal_task_count
    check(journal_task_count(os.path.join(c.node_tmp("psn1"), "mn-local.nc")) == 0, "tasks ran")
    check(not os.listdir(c.node_tmp("psn2")), f"psn2's /tmp got {os.listdir(c.node_tmp('psn2'))}")
    check(not os.path.exists(local + ".state"), "the test machine's own /tmp got the output")


def layout_of(o):
    return slurm_util.attrs(o)["run_layout"]


def test_smt_one_blas_thread_per_core(c):
    # smt1: one core of two hardware threads. --cpus-per-task=2 is that core.
    jid, info, log, o = run_job(c, "smt", ["-p", "smt", "--ntasks=1", "--cpus-per-task=2"], {})
    check(info["JobState"] == "COMPLETED", f"job {jid}: {info['JobState']}\n{log}")
    check("--cpus-per-task=2 counts hardware threads on smt1 (2 per core): that is 1 core(s), so 1 BLAS "
          "thread(s) per worker; for 2 cores per task submit with --hint=nomultithread" in log, f"no SMT note:\n{log}")
    check("--cpu-bind=cores --cpus-per-task=2 " in log and " --threads 1 " in log, f"srun line:\n{log}")
    check("1 BLAS thread, 2 cores in its affinity mask" in layout_of(o), layout_of(o))
    assert_same_data(ref["nc"], o, "smt node vs one process")
    # with the hint, each CPU is a core of its own (one thread of it), bound so by srun
    jid, info, log, o = run_job(c, "smt-hint", ["-p", "smt", "--ntasks=1", "--cpus-per-task=1",
                                                "--hint=nomultithread"], {})
    check(info["JobState"] == "COMPLETED", f"job {jid}: {info['JobState']}\n{log}")
    check("--hint=nomultithread --cpus-per-task=1 " in log and "--cpu-bind" not in log and
          "counts hardware threads" not in log, f"srun line:\n{log}")
    check("1 BLAS thread, 1 core in its affinity mask" in layout_of(o), layout_of(o))


def test_srun_cpus_per_task_wins(c):
    # SRUN_CPUS_PER_TASK (Slurm 22.05+) is what srun would use: the script too
    jid, info, log, o = run_job(c, "srun-cpus", ["--ntasks=1", "--cpus-per-task=2"],
                                {"SRUN_CPUS_PER_TASK": "1"})
    check(info["JobState"] == "COMPLETED", f"job {jid}: {info['JobState']}\n{log}")
    check("1 tasks x 1 CPU(s), 1 BLAS thread(s)" in log and "--cpus-per-task=1 " in log, log)
    check("1 core in its affinity mask" in layout_of(o), layout_of(o))


def test_failing_site_setup_stops_the_job(c):
    for hook, want in (("site-fails.sh", "the site set-up site-fails.sh failed (exit code 1): not starting"),
                       ("no-such-site.sh", "POLYSWEEP_SETUP=no-such-site.sh: no such readable file")):
        jid, info, log, o = run_job(c, "hook", ["--ntasks=1"], {"POLYSWEEP_SETUP": hook})
        check(info["JobState"] == "FAILED" and info["ExitCode"] == "2:0" and info.get("Restarts") == "0",
              f"{hook}: job {jid}: {info['JobState']} exit {info['ExitCode']}\n{log}")
        check(want in log and "srun" not in log and not os.path.exists(o), f"{hook}:\n{log}")


if __name__ == "__main__":
    multinode.main("multinode", [
        test_two_nodes_over_tcp_like_one_process,
        test_three_nodes_over_tcp_like_one_process,
        test_node_local_output_is_refused_at_start_up,
        test_smt_one_blas_thread_per_core,
        test_srun_cpus_per_task_wins,
        test_failing_site_setup_stops_the_job,
    ], setup=setup)
