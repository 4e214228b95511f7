"""Helpers of the Slurm script tests (test_slurm.py on a one-node cluster,
test_multinode*.py on a cluster of network namespaces): Slurm's client
commands for one test cluster, jobs and their logs, the datasets they make.

Slurm(cwd, prefix) runs the clients (sbatch, squeue, scontrol, ...) for the
jobs of directory `cwd`: `prefix` is how a command reaches the cluster
(nothing for the one-node cluster, whose SLURM_CONF is in the environment;
`multinode_cluster.sh on DIR head` for the namespace cluster). Every call
gets the test's environment minus anything of an enclosing Slurm job or MPI
launcher (the suite may itself run inside one)."""
import os
import re
import subprocess
import time

from test_mpi_util import journal_task_count
from util import POLYSWEEP, check

SKIP = 77
FINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL",
         "DEADLINE", "PREEMPTED"}


def clean_env(extra=None):
    """The test's environment without anything of an enclosing Slurm job or MPI
    launcher, plus extra (SLURM_CONF is kept: it names the test cluster)."""
    e = {k: v for k, v in os.environ.items()
         if not (k.startswith(("SLURM_", "SBATCH_", "SRUN_", "SALLOC_", "OMPI_", "PMIX_", "PMI_"))
                 and k != "SLURM_CONF")}
    e["POLYSWEEP"] = POLYSWEEP
    if extra:
        e.update(extra)
    return e


class Slurm:
    def __init__(self, cwd, prefix=()):
        self.cwd = cwd
        self.prefix = list(prefix)

    def run(self, args, timeout=30, check_rc=True, env=None):
        p = subprocess.run(self.prefix + list(args), cwd=self.cwd, env=clean_env(env),
                           capture_output=True, text=True, timeout=timeout)
        if check_rc and p.returncode != 0:
            raise AssertionError(f"{' '.join(args)}: exit {p.returncode}\n{p.stdout}{p.stderr}")
        return p

    def sbatch(self, options, script, args=(), env=None):
        """sbatch --parsable with these options; returns the job id."""
        p = self.run(["sbatch", "--parsable", f"--chdir={self.cwd}"] + list(options) + [script] +
                     list(args), env=env)
        return p.stdout.strip().split(";")[0]

    def job_info(self, jobid):
        """scontrol's fields of a job as a dict ({} when Slurm forgot it)."""
        p = self.run(["scontrol", "show", "job", "-o", jobid], check_rc=False)
        if p.returncode != 0:
            return {}
        return dict(kv.split("=", 1) for kv in p.stdout.split() if "=" in kv)

    def log_path(self, jobid):
        name = self.job_info(jobid).get("JobName", "polysweep")
        return os.path.join(self.cwd, f"slurm-{name}-{jobid}.out")

    def log_of(self, jobid):
        try:
            with open(self.log_path(jobid)) as f:
                return f.read()
        except OSError as e:
            return f"(no log: {e})"

    def wait_job(self, jobid, timeout=120, states=FINAL):
        """Poll until the job reaches one of `states`; returns its fields."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self.job_info(jobid)
            if info.get("JobState") in states:
                return info
            time.sleep(0.2)
        raise AssertionError(f"job {jobid} not in {sorted(states)} after {timeout} s: "
                             f"{self.job_info(jobid)}\n{self.log_of(jobid)}")

    def wait_tasks(self, output, at_least, jobid, timeout=60):
        """Wait until the journal holds at least `at_least` finished tasks while the job runs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.path.exists(output + ".state/journal") and journal_task_count(output) >= at_least:
                return journal_task_count(output)
            if self.job_info(jobid).get("JobState") in FINAL:
                raise AssertionError(f"job {jobid} ended before {at_least} tasks were done\n"
                                     f"{self.log_of(jobid)}")
            time.sleep(0.1)
        raise AssertionError(f"job {jobid}: fewer than {at_least} tasks after {timeout} s\n"
                             f"{self.log_of(jobid)}")

    def step_pids(self, jobid, want, timeout=20, prefix=None):
        """{global rank: pid} of the job step's polysweep processes, from
        `scontrol listpids` (PID JOBID STEPID LOCALID GLOBALID; it lists the
        node it runs on: `prefix` picks the node), each checked to be the
        polysweep executable; once `want` of them are there."""
        deadline = time.monotonic() + timeout
        run = Slurm(self.cwd, prefix).run if prefix is not None else self.run
        while time.monotonic() < deadline:
            p = run(["scontrol", "listpids", jobid], check_rc=False)
            ranks = {}
            for line in p.stdout.splitlines()[1:]:
                f = line.split()
                if len(f) == 5 and f[2].isdigit() and f[4].isdigit():
                    try:
                        exe = os.readlink(f"/proc/{f[0]}/exe")
                    except OSError:
                        continue
                    if os.path.realpath(exe) == os.path.realpath(POLYSWEEP):
                        ranks[int(f[4])] = int(f[0])
            if len(ranks) == want:
                return ranks
            time.sleep(0.2)
        raise AssertionError(f"job {jobid}: polysweep ranks not found in scontrol listpids:\n{p.stdout}")


def attrs(path):
    import xarray
    with xarray.open_dataset(path) as ds:
        return dict(ds.attrs)


def history_done(path):
    """Per history line, the 'K of N tasks already done' count K."""
    lines = attrs(path)["history"].splitlines()
    done = []
    for line in lines:
        m = re.search(r": (\d+) of (\d+) tasks already done", line)
        check(m, f"history line without a task count: {line!r}")
        done.append(int(m.group(1)))
    return lines, done


def cpus_allowed(pid):
    """The CPUs of a process's affinity mask, from /proc."""
    with open(f"/proc/{pid}/status") as f:
        m = re.search(r"^Cpus_allowed_list:\s*(\S+)", f.read(), re.M)
    cpus = set()
    for part in m.group(1).split(","):
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def direct(job, output, cwd):
    """The reference: one process, no MPI, one BLAS thread (not util.run: it
    would keep the variables of an enclosing Slurm job)."""
    p = subprocess.run([POLYSWEEP, "run", job, "-o", output, "--threads", "1", "-q"], cwd=cwd,
                       env=clean_env(), capture_output=True, text=True, timeout=300)
    check(p.returncode == 0, f"direct run of {job}: exit {p.returncode}\n{p.stderr}")
    return output


def skip_loudly(what, why):
    """Exit 77 (meson: skipped, which tools/test.sh lists as not passed)."""
    bar = "*" * 72
    print(f"{bar}\nSKIPPED (not passed): {what} did not run: {why}\n{bar}", flush=True)
    raise SystemExit(SKIP)
