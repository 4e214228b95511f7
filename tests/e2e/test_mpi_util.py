"""Helpers of the MPI script tests (test_mpi*.py): running polysweep under a
real Open MPI mpirun as root on a small machine, and finding the ranks'
processes by PID (from the mpirun we started, never by name)."""
import os
import re
import signal
import subprocess
import time

from util import POLYSWEEP, SOURCE

MPI_ENV = {
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OMPI_MCA_btl": "self,vader",
    # More ranks than cores is allowed in every test (np 4 on 2 cores).
    "OMPI_MCA_rmaps_base_oversubscribe": "1",
}


def env_with(extra=None, drop=()):
    e = dict(os.environ)
    e.update(MPI_ENV)
    for k in drop:
        e.pop(k, None)
    if extra:
        e.update(extra)
    return e


def mpirun_args(np, args):
    return ["mpirun", "-np", str(np), POLYSWEEP] + list(args)


def mpirun(np, args, env=None, drop=(), timeout=300, check=None):
    """Run polysweep under mpirun; returns CompletedProcess (text)."""
    p = subprocess.run(mpirun_args(np, args), cwd=SOURCE, env=env_with(env, drop),
                       capture_output=True, text=True, timeout=timeout)
    if check is not None and p.returncode != check:
        raise AssertionError(f"mpirun -np {np} polysweep {' '.join(args)}: exit {p.returncode}, "
                             f"expected {check}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p


def start_mpirun(np, args, env=None, drop=()):
    """Start mpirun in the background (its own process group); returns Popen."""
    return subprocess.Popen(mpirun_args(np, args), cwd=SOURCE, env=env_with(env, drop),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def children(pid):
    """PIDs whose parent is pid (from /proc/*/stat)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # the command name is in parentheses and may hold spaces
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            out.append(int(d))
    return out


def rank_pids(mpirun_pid, size, timeout=20):
    """{rank: pid} of the ranks mpirun started (its children with
    OMPI_COMM_WORLD_RANK in their environment), once all `size` are there."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        ranks = {}
        for pid in children(mpirun_pid):
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    env = f.read().split(b"\0")
            except OSError:
                continue
            for kv in env:
                if kv.startswith(b"OMPI_COMM_WORLD_RANK="):
                    ranks[int(kv.split(b"=", 1)[1])] = pid
        if len(ranks) == size:
            return ranks
        time.sleep(0.05)
    raise AssertionError(f"mpirun {mpirun_pid}: found ranks {sorted(ranks)} of {size}")


def cpu_seconds(pid):
    """utime + stime of a process, in seconds, from /proc/<pid>/stat; None when gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    # fields[0] is field 3 (state): utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def alive(pid):
    """The process exists and is not a zombie (a rank whose mpirun is gone
    can stay a zombie until the container's init reaps it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def kill_group(p):
    """Clean up a Popen started by start_mpirun (its process group, by id)."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    p.communicate()


def journal_task_labels(output):
    """The task labels of the TASK records (type 3) of OUT.state/journal, in
    the order they were committed (README, Journal: u32 magic, u32 type, u64
    length, payload, u32 CRC; a TASK payload starts with a u64 label length
    and the label), read independently of polysweep."""
    import struct
    with open(output + ".state/journal", "rb") as f:
        data = f.read()
    at, labels = 0, []
    while at + 16 <= len(data):
        magic, typ, length = struct.unpack_from("<4sIQ", data, at)
        if magic != b"PSJ1" or at + 16 + length + 4 > len(data):
            break
        if typ == 3:
            (llen,) = struct.unpack_from("<Q", data, at + 16)
            labels.append(data[at + 24:at + 24 + llen].decode())
        at += 16 + length + 4
    return labels


def journal_task_count(output):
    """TASK records (type 3) in OUT.state/journal."""
    return len(journal_task_labels(output))


def summary_cpu(stderr):
    """(cpu, wall) from the summary line's 'rank 0 used X s CPU in Y s'."""
    m = re.search(r"rank 0 used ([0-9.]+) s CPU in ([0-9.]+) s", stderr)
    return (float(m.group(1)), float(m.group(2))) if m else None
