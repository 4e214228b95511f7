"""Helpers of the resume tests (test_resume*.py): starting polysweep runs in
their own session, signalling and killing them by PID, reading the journal
and checkpoints independently of polysweep, and opening possibly damaged
datasets in a subprocess."""
import glob
import os
import signal
import struct
import subprocess
import sys
import time

from test_mpi_util import alive, env_with, mpirun_args
from util import POLYSWEEP, PYTHON, SOURCE


def start(args, env=None, mpi_np=0):
    """Start `polysweep args` (or under mpirun -np mpi_np) in a new session;
    returns Popen with text pipes."""
    e = env_with(env) if mpi_np else dict(os.environ, **(env or {}))
    cmd = mpirun_args(mpi_np, args) if mpi_np else [POLYSWEEP] + list(args)
    return subprocess.Popen(cmd, cwd=SOURCE, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def finish(p, timeout=60):
    """Wait for p; returns (code, stdout, stderr, seconds waited)."""
    t = time.monotonic()
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_all(p)
        raise AssertionError(f"process {p.pid} still running after {timeout} s")
    return p.returncode, out, err, time.monotonic() - t


def kill_all(p, ranks=()):
    """SIGKILL a run started by start(): its process group (mpirun and the ranks
    it forked) and every rank PID given, by id."""
    for pid in list(ranks):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    out, err = p.communicate()
    deadline = time.monotonic() + 5
    for pid in list(ranks):
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        if alive(pid):
            raise AssertionError(f"rank process {pid} survived SIGKILL")
    return out, err


def wait_for(cond, timeout=30, what="condition", p=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        if p is not None and p.poll() is not None:
            raise AssertionError(f"the run ended (exit {p.returncode}) before {what}:\n"
                                 f"{p.stderr.read() if p.stderr else ''}")
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def journal_records(output):
    """[(type, offset, length)] of the valid records of OUT.state/journal, read
    independently of polysweep (README: u32 magic "PSJ1", u32 type, u64
    length, payload, u32 CRC-32C)."""
    path = output + ".state/journal"
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        data = f.read()
    at, out = 0, []
    while at + 20 <= len(data):
        magic, typ, length = struct.unpack_from("<4sIQ", data, at)
        if magic != b"PSJ1" or at + 20 + length > len(data):
            break
        out.append((typ, at, length))
        at += 20 + length
    return out


def task_records(output):
    return sum(1 for t, _, _ in journal_records(output) if t == 3)


def checkpoints(output):
    """{file name: (step, steps)} of OUT.state/ckpt (store.h checkpoint header)."""
    out = {}
    for path in glob.glob(output + ".state/ckpt/*.ckpt"):
        try:
            with open(path, "rb") as f:
                head = f.read(64)
        except OSError:
            continue
        if len(head) == 64 and head[:4] == b"PSCK":
            step, steps = struct.unpack_from("<qq", head, 24)
            out[os.path.basename(path)] = (step, steps)
    return out


OPEN_SCRIPT = r"""
import sys, xarray
for path in sys.argv[1:]:
    with xarray.open_dataset(path) as ds:
        ds.load()
        st = ds.status.values
        assert ((st >= 0) & (st <= 2)).all(), (path, st)
        done = int((st == 1).sum())
    print(path, done, flush=True)
"""


def open_in_subprocess(paths):
    """Open every dataset with xarray and load it, in subprocesses (a damaged
    NetCDF-4 file can crash the reader). One subprocess for all; when it
    fails, one per file to name the culprit. Returns {path: done count}."""
    if not paths:
        return {}
    r = subprocess.run([PYTHON, "-c", OPEN_SCRIPT] + list(paths), capture_output=True, text=True,
                       timeout=300)
    if r.returncode == 0:
        return {l.split()[0]: int(l.split()[1]) for l in r.stdout.splitlines()}
    bad = []
    for path in paths:
        r1 = subprocess.run([PYTHON, "-c", OPEN_SCRIPT, path], capture_output=True, text=True,
                            timeout=120)
        if r1.returncode != 0:
            bad.append(f"{path}: exit {r1.returncode}: {r1.stderr.strip()[-400:]}")
    raise AssertionError("datasets that do not open:\n" + "\n".join(bad or [r.stderr[-2000:]]))


def log(msg):
    print(f"     {msg}", flush=True)
    sys.stdout.flush()
