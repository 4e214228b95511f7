"""The multi-node test cluster for the test scripts (test_multinode.py,
test_multinode_crash.py): tests/e2e/multinode_cluster.sh brings up a head
and compute nodes psn1..psn3 (plus smt1, a node of one core with two
hardware threads, in partition `smt`), each a network namespace with its own
address, host name, /tmp and /dev/shm, with real munged, slurmctld and
slurmd; everything of one run lives in its own directory under /var/tmp, its
namespaces carry a random per-run id and its net a random private /24, so
two runs on one machine cannot collide. The cluster is stopped by the PIDs
it recorded and its namespaces (and with them every link) are removed, also
when a test fails. Where it cannot be made (not root, no namespaces, no
Slurm) the script exits 77, loudly: meson reports it skipped, tools/test.sh
lists it as not passed.

The rest of the file system is shared by all nodes, as a cluster's NFS or
Lustre: jobs run in Cluster.work; a node's private /tmp is Cluster.node_tmp().

Jobs are submitted from the head with slurm/polysweep.sbatch, unchanged,
with Open MPI forced onto TCP between the nodes (OMPI_MCA_btl=self,tcp):
results cross the veth links, whose byte counters Cluster.link_bytes reads.
Helpers for what a test checks about a multi-node dataset: which host ran
each task (the per-task rank and the ranks each host had in `run_layout`),
and a lower bound of the bytes its results took over a node's link.

Later scenarios (job arrays of shards and a final merge job, sizing from
`plan --json`) use the same Cluster and Slurm client: sbatch any options
(--array, --dependency) with Cluster.slurm.sbatch and wait for each job id."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import slurm_util
from slurm_util import SKIP, Slurm, skip_loudly
from util import SOURCE, check, run_tests

CLUSTER_SH = os.path.join(SOURCE, "tests", "e2e", "multinode_cluster.sh")
SCRIPT = os.path.join(SOURCE, "slurm", "polysweep.sbatch")
TCP = {"OMPI_MCA_btl": "self,tcp"}   # shared memory would bypass the links


class Cluster:
    def __init__(self, name):
        # not under /tmp: every node has its own /tmp
        self.dir = tempfile.mkdtemp(prefix=f"polysweep-{name}-", dir="/var/tmp")
        self.work = os.path.join(self.dir, "work")
        os.makedirs(self.work)
        os.chmod(self.dir, 0o755)
        self.slurm = Slurm(self.work, self.on("head"))
        self.is_up = False
        self.crashed = set()

    def sh(self, *args, timeout=180, check_rc=True):
        p = subprocess.run(["bash", CLUSTER_SH, args[0], self.dir] + list(args[1:]),
                           env=slurm_util.clean_env(), capture_output=True, text=True, timeout=timeout)
        if check_rc and p.returncode != 0:
            raise AssertionError(f"multinode_cluster.sh {' '.join(args)}: exit {p.returncode}\n"
                                 f"{p.stdout}{p.stderr}")
        return p

    def on(self, host):
        """The command prefix that runs a command on `host` (head, psn1, ...)."""
        return ["bash", CLUSTER_SH, "on", self.dir, host]

    def up(self):
        p = self.sh("up", check_rc=False)
        sys.stderr.write(p.stderr)
        if p.returncode == SKIP:
            lines = p.stderr.strip().splitlines()
            self.discard()
            skip_loudly("the multi-node cluster tests", lines[-1] if lines else "cluster cannot be made")
        if p.returncode != 0:
            raise AssertionError(f"the multi-node cluster did not come up (exit {p.returncode})")
        self.is_up = True

    def down(self):
        p = self.sh("down", check_rc=False)
        sys.stderr.write(p.stderr)
        self.is_up = False
        return p.returncode == 0

    def discard(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def crash(self, node):
        """Pull the plug on a node: its link goes down, then everything in it is killed."""
        self.crashed.add(node)
        sys.stderr.write(self.sh("crash", node).stderr)

    def start_node(self, node):
        sys.stderr.write(self.sh("start-node", node).stderr)
        self.crashed.discard(node)

    def reset(self):
        """Between tests: no job left, every crashed node back, so that a test
        that failed halfway does not take the next one down with it."""
        jobs = self.slurm.run(["squeue", "-h", "-o", "%A"], check_rc=False).stdout.split()
        if jobs:
            self.slurm.run(["scancel"] + jobs, check_rc=False)
        for node in sorted(self.crashed):
            self.start_node(node)
        wait_for(lambda: not self.slurm.run(["squeue", "-h", "-o", "%A"], check_rc=False).stdout.split(),
                 60, "the cancelled jobs to end")

    def link_bytes(self, node):
        """(received, sent) bytes of the node's end of its cable."""
        rx, tx = self.sh("link", node).stdout.split()
        return int(rx), int(tx)

    def node_tmp(self, node):
        """The directory that is /tmp on `node` (and only there)."""
        return os.path.join(self.dir, "nodes", node, "tmp")

    def path(self, name):
        return os.path.join(self.work, name)

    def write(self, name, text):
        with open(self.path(name), "w") as f:
            f.write(text)
        return self.path(name)


def main(name, tests, setup=None):
    """Bring a cluster up, run the tests (each takes the cluster), bring it
    down, remove its directory unless something failed; exit 0/1 (or 77)."""
    only = sys.argv[1:]
    c = Cluster(name)
    failed = 0
    t0 = time.monotonic()
    try:
        c.up()
        if setup:
            setup(c)
        failed = run_tests([_bind(t, c) for t in tests], only, after=c.reset, timed=True)
    finally:
        if c.is_up and not c.down():
            failed += 1
            print("FAIL tearing the cluster down", flush=True)
        left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        prefix = _prefix(c)
        if prefix and prefix in left:
            failed += 1
            print(f"FAIL namespaces of {prefix} left behind:\n{left}", flush=True)
    print(f"     {name}: {time.monotonic() - t0:.0f} s in all", flush=True)
    if failed:
        print(f"kept {c.dir} for inspection", flush=True)
    else:
        c.discard()
    sys.exit(1 if failed else 0)


def _prefix(c):
    try:
        with open(os.path.join(c.dir, "namespaces")) as f:
            first = f.readline().strip()
    except OSError:
        return ""
    return first.rsplit("-", 1)[0] + "-" if first else ""


def _bind(test, c):
    def run():
        return test(c)
    run.__name__ = test.__name__
    return run


# ---- what a multi-node dataset says ------------------------------------------------

def layout_hosts(layout):
    """{host: set of ranks} from run_layout ("...; psn1 (ranks 0-1): ...; psn2 (rank 2): ...")."""
    hosts = {}
    for host, ranks in re.findall(r"; (\S+) \(ranks? ([0-9,-]+)\):", layout):
        s = set()
        for part in ranks.split(","):
            lo, _, hi = part.partition("-")
            s.update(range(int(lo), int(hi or lo) + 1))
        hosts[host] = s
    return hosts


def task_ranks(path):
    """The per-task rank (the MPI rank that ran each task), flat."""
    import netCDF4
    with netCDF4.Dataset(path) as ds:
        name = "mpi_rank" if "mpi_rank" in ds.variables else "rank"
        v = ds.variables[name]
        v.set_auto_mask(False)
        return [int(x) for x in v[...].ravel()]


def task_hosts(path):
    """{host: number of tasks its ranks ran}, from run_layout and the per-task rank."""
    hosts = layout_hosts(slurm_util.attrs(path)["run_layout"])
    where = {r: h for h, rs in hosts.items() for r in rs}
    count = {}
    for r in task_ranks(path):
        check(r in where, f"task run by rank {r}, which run_layout does not place: {hosts}")
        count[where[r]] = count.get(where[r], 0) + 1
    return count


def result_bytes_from(path, ranks):
    """A lower bound of the bytes the results of the tasks run by `ranks` took
    to reach rank 0: 4 bytes per finite value of every per-task variable."""
    import netCDF4
    import numpy
    per_task = numpy.array(task_ranks(path))
    mine = numpy.isin(per_task, list(ranks))
    total = 0
    with netCDF4.Dataset(path) as ds:
        grid = ds.variables["status"].dimensions
        for name, v in ds.variables.items():
            # status and rank travel in a result's header or are rank 0's own
            if v.dimensions[:len(grid)] != grid or v.dtype == str or name in ("status", "rank", "mpi_rank"):
                continue
            v.set_auto_maskandscale(False)
            a = numpy.asarray(v[...], dtype=float).reshape(len(per_task), -1)
            total += 4 * int(numpy.isfinite(a[mine]).sum())
    return total


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
