#!/usr/bin/python3
"""Shards and merge (issue 11, README "Shards and merge"): `run --shard K/N`
splits the grid into disjoint shards balanced by the cost estimate, each in
its own output, the same under mpirun, resumable like any run (also after
kill -9) and refused into
another shard's output; `merge` of the shards equals a single run variable
for variable (wall_time and mpi_rank aside), also incrementally and from
outputs at different axis extents; merge refuses another job naming the
difference, a part without its journal, and a shard output as -o; outputs of
the older format are refused by status, run and merge with what to do."""
import os
import re
import struct

import numpy as np
import xarray as xr

from test_mpi_util import mpirun
from test_resume_util import journal_records
from util import assert_same_data, check, cleanup, main, run, tempdir, write_job

D = tempdir("shards")

# 18 tasks of very different costs (n, m, steps), a few milliseconds each.
JOB_TEXT = """
title: shards
output: {output}
grid:
  n: {n}
  arch: [linear, relu_output, relu_hidden]
  sparsity: [0, 0.9]
settings:
  m: 3
  importance: decay
  steps: 200
  batch: 64
  log_every: 50
  eval_samples: 200
run:
  threads: 1
"""


def job(name, n="[4, 8, 16]", **kw):
    return write_job(D, name, JOB_TEXT.format(output=os.path.join(D, name + ".nc"), n=n, **kw))


JOB = job("job.yaml")
REF = os.path.join(D, "ref.nc")


def out(name):
    return os.path.join(D, name)


def shard_outputs(n):
    return [out(f"job.yaml.shard{k}of{n}.nc") for k in range(1, n + 1)]


def test_reference():
    run(["run", JOB, "-o", REF, "-q"], check=0)


def test_shards_partition_and_balance():
    """Default outputs (.shardKofN), disjoint shards covering the grid, each
    counted by status; costs balanced (the longest task first)."""
    for k in (1, 2, 3):
        p = run(["run", JOB, "--shard", f"{k}/3"], check=0)
        check(f"tasks of shard {k}/3" in p.stderr, f"start line does not name the shard:\n{p.stderr}")
    owned = None
    shard_of = [0] * 18
    for k, o in enumerate(shard_outputs(3), 1):
        check(os.path.exists(o), f"no default shard output {o}")
        ds = xr.open_dataset(o)
        check(ds.attrs["shard"] == f"{k}/3", f"shard attribute {ds.attrs.get('shard')}")
        mine = ds.status.values == 1
        others = ds.status.values == 3
        check((mine | others).all(), f"shard {k}: statuses {np.unique(ds.status.values)}")
        check(ds.status.attrs["flag_meanings"].split()[3] == "in_other_shard", "flag meaning")
        check(int(ds.attrs["tasks_total"]) == int(mine.sum()), "tasks_total is not the shard's")
        owned = mine.astype(int) if owned is None else owned + mine
        for i in np.flatnonzero(mine.ravel()):
            shard_of[i] = k
        st = run(["status", o], check=0).stdout
        check(f"shard {k}/3: {int(mine.sum())} tasks (of the grid's 18)" in st, st)
        check(re.search(rf"^  done:\s+{int(mine.sum())}$", st, re.M), st)
        ds.close()
    check((owned == 1).all(), "the shards are not a partition of the grid")
    check(lpt_split(3) == shard_of, f"shards {shard_of}, longest processing time first gives "
          f"{lpt_split(3)}")


def task_cost(n, arch, m=3, B=64, steps=200, evals=200):
    """README "Cost estimate" for these tasks (exact in integers, as in C)."""
    step = 10 * B * n * m + 20 * B * n + (4 * B * m if arch == "relu_hidden" else 0)
    step += 16 * (m * n + n)
    return steps * step + evals * (4 * n * m + 10 * n)


def lpt_split(nshards):
    """The split by the README's rule, computed here: tasks by decreasing
    cost (ties by grid index), each to the least loaded shard (ties: lowest)."""
    tasks = [(n, a, s) for n in (4, 8, 16) for a in ("linear", "relu_output", "relu_hidden")
             for s in (0, 0.9)]
    order = sorted(range(len(tasks)), key=lambda i: (-task_cost(*tasks[i][:2]), i))
    load, shard = [0] * nshards, [0] * len(tasks)
    for i in order:
        k = min(range(nshards), key=lambda k: (load[k], k))
        shard[i] = k + 1
        load[k] += task_cost(*tasks[i][:2])
    return shard


def test_merge_equals_single_run():
    m = out("merged.nc")
    p = run(["merge", "-o", m] + shard_outputs(3), check=0)
    check("18/18 tasks done" in p.stderr, p.stderr)
    n = assert_same_data(REF, m, "shards 1/3, 2/3, 3/3 merged")
    check(n >= 40, f"only {n} variables compared")
    ds, ref = xr.open_dataset(m), xr.open_dataset(REF)
    for a in ("job_file", "job_path", "title", "job_fingerprint"):
        check(ds.attrs[a] == ref.attrs[a], f"merged {a} differs: {ds.attrs[a]!r} vs {ref.attrs[a]!r}")
    check(ds.attrs["tasks_done"] == 18 and "shard" not in ds.attrs, "merged attributes")
    hist = ds.attrs["history"].splitlines()
    check(sum("--shard" in h for h in hist) == 3 and "merge -o" in hist[-1], "\n".join(hist))
    for o in shard_outputs(3):
        check(os.path.basename(o) in hist[-1], f"history does not list {o}: {hist[-1]}")
    st = run(["status", m], check=0).stdout
    check(re.search(r"^  done:\s+18$", st, re.M), st)
    # a run of the job on the merged output has nothing left to do
    p = run(["run", JOB, "-o", m], check=0)
    check("0 to run" in p.stderr, p.stderr)


def test_incremental_merge_and_missing_shard():
    m = out("partial.nc")
    s = shard_outputs(3)
    p = run(["merge", "-o", m, s[0], s[2]], check=3)
    check("shard 2/3 is not among the inputs" in p.stderr, p.stderr)
    p = run(["merge", "-o", m, m, s[1], s[0]], check=0)  # the output itself may be listed
    check("given more than once" not in p.stderr, p.stderr)
    assert_same_data(REF, m, "merged in two steps")


def test_merge_different_extents():
    """Outputs at different extents of one axis: the union, sorted when every
    part lists the axis in increasing order; equal to a run of the union."""
    a, b = job("lo.yaml", n="[4]"), job("hi.yaml", n="[8, 16]")
    run(["run", a, "-q"], check=0)
    run(["run", b, "-q"], check=0)
    m = out("union.nc")
    p = run(["merge", "-o", m, out("hi.yaml.nc"), out("lo.yaml.nc")], check=0)
    check("union of the parts' axis values" in p.stderr, p.stderr)
    assert_same_data(REF, m, "merge of two extents")
    ds = xr.open_dataset(m)
    check(list(ds.n.values) == [4, 8, 16], f"n {ds.n.values}")
    text = ds.attrs["job_file"]
    check(text.startswith("# polysweep merge: the union of the grids of") and "n: [4, 8, 16]" in text,
          text)


def test_merge_refusals():
    other = job("other.yaml")
    with open(other) as f:
        t = f.read()
    with open(other, "w") as f:
        f.write(t.replace("m: 3", "m: 4"))
    run(["run", other, "-q"], check=0)
    m = out("refused.nc")
    p = run(["merge", "-o", m, shard_outputs(3)[0], out("other.yaml.nc")], check=2)
    check("holds results of a different job than" in p.stderr and "m is 4 there and 3 in" in p.stderr,
          p.stderr)
    check(not os.path.exists(m) and not os.path.exists(m + ".state"), "a refused merge wrote files")
    # a dataset copied without its .state directory
    bare = out("bare.nc")
    with open(REF, "rb") as f, open(bare, "wb") as g:
        g.write(f.read())
    p = run(["merge", "-o", m, bare], check=2)
    check("journal" in p.stderr and "copy the whole output" in p.stderr, p.stderr)
    # a shard output as the merged output
    p = run(["merge", "-o", shard_outputs(3)[0], shard_outputs(3)[1]], check=2)
    check("holds shard 1/3" in p.stderr, p.stderr)
    check(not os.path.exists(m), "a refused merge wrote the output")


def test_shard_output_refuses_other_runs():
    s1 = shard_outputs(3)[0]
    p = run(["run", JOB, "--shard", "2/3", "-o", s1], check=2)
    check("holds shard 1/3 of this job, and this run is shard 2/3" in p.stderr, p.stderr)
    p = run(["run", JOB, "-o", s1], check=2)
    check("this run is the whole sweep" in p.stderr and "--shard 1/3" in p.stderr, p.stderr)
    p = run(["run", JOB, "--shard", "1/2", "-o", REF], check=2)
    check("holds the whole sweep" in p.stderr, p.stderr)
    for bad in ("0/3", "4/3", "3", "a/b", "1/0"):
        p = run(["run", JOB, "--shard", bad], check=2)
        check("--shard must be K/N" in p.stderr, p.stderr)


def test_shard_under_mpirun_is_the_same_shard():
    """The split and the results do not depend on the rank count."""
    o = out("mpi.shard2of3.nc")
    mpirun(3, ["run", JOB, "--shard", "2/3", "-o", o, "-q"], check=0)
    assert_same_data(shard_outputs(3)[1], o, "shard 2/3 under mpirun -np 3 vs one process")


def test_killed_shard_resumes():
    """kill -9 halfway through the shard's third journal append (a task
    record): the rerun finishes the shard, and the merge equals the single run."""
    o = out("killed.shard2of3.nc")
    p = run(["run", JOB, "--shard", "2/3", "-o", o, "-q"],
            env={"POLYSWEEP_TEST_CRASH": "journal-append:4"})
    check(p.returncode == -9, f"the crash hook did not kill the run: exit {p.returncode}\n{p.stderr}")
    p = run(["run", JOB, "--shard", "2/3", "-o", o], check=0)
    check("dropped an incomplete last record" in p.stderr, p.stderr)
    s = shard_outputs(3)
    m = out("after-kill.nc")
    run(["merge", "-o", m, s[0], o, s[2]], check=0)
    assert_same_data(REF, m, "merge with a killed and resumed shard")


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def test_older_format_refused():
    """A format-1 output (its journal header without the format field):
    status, run and merge refuse it and say what to do."""
    o = out("old.nc")
    run(["run", JOB, "-o", o, "-q"], check=0)
    path = o + ".state/journal"
    with open(path, "rb") as f:
        data = f.read()
    typ, at, length = journal_records(o)[0]
    check(typ == 1, "the first record is not the header")
    payload = data[at + 16:at + 16 + length]
    flen, = struct.unpack_from("<Q", payload, 0)
    tlen, = struct.unpack_from("<Q", payload, 8 + flen)
    payload = payload[:16 + flen + tlen]  # format 1: the two strings only
    body = struct.pack("<IQ", 1, len(payload)) + payload
    head = b"PSJ1" + body + struct.pack("<I", crc32c(body))
    with open(path, "wb") as f:
        f.write(head + data[at + 20 + length:])
    before = os.path.getmtime(o)
    for args, code in ((["status", o], 2), (["run", JOB, "-o", o], 2),
                       (["merge", "-o", out("old-merged.nc"), o], 2)):
        p = run(args, check=code)
        check("written by an older polysweep (output format 1" in p.stderr and "--fresh" in p.stderr,
              f"{args}: {p.stderr}")
    check(os.path.getmtime(o) == before and not os.path.exists(out("old-merged.nc")), "files were touched")


if __name__ == "__main__":
    try:
        main([test_reference, test_shards_partition_and_balance, test_merge_equals_single_run,
              test_incremental_merge_and_missing_shard, test_merge_different_extents,
              test_merge_refusals, test_shard_output_refuses_other_runs,
              test_shard_under_mpirun_is_the_same_shard, test_killed_shard_resumes,
              test_older_format_refused])
    finally:
        cleanup(D)
