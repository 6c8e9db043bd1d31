#!/usr/bin/python3
"""skewjoin.dask on a real distributed.LocalCluster (2 worker processes, 1
thread each), against the CLI's answers:

- QN and Q1-Q4 on the generator's s=0.001 data equal `skewjoin query`'s
  (by-columns and counts exactly, sums to 1e-9 relative, rows in the same
  order); Q1/Q2 as DataFrames, Q3/Q4/QN written by the workers to Parquet;
  a Dask DataFrame as the left side gives the same answer too;
- a worker killed in the middle of QN loses nothing: the answer is right;
- the problem and the fix: with workers limited to 1 GiB, plain Dask merge +
  groupby on s=0.01 data fails or has workers restarted (counted by a
  scheduler plugin), skewjoin.dask, on a new cluster of the same workers,
  completes with the CLI's answer and no worker removed;
- GROUP BY the join key (a column of the right side's groupings) gives the
  CLI's answer too; so do by-lists with the left table's columns first or
  the tables' columns interleaved (run right table first, re-sorted), which
  are refused with out= (the workers would write them in the plan's order).

Prints "dask: N passed, N failed" last.
"""
import glob
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from harness import Checks, ROOT, SKEWJOIN  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "python"))
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import dask  # noqa: E402
import dask.dataframe as dd  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402
from distributed.diagnostics.plugin import SchedulerPlugin  # noqa: E402

import skewjoin  # noqa: E402
import skewjoin.dask  # noqa: E402

QUERIES = {
    "Q1": "df2_group",
    "Q2": "df2_group,group1",
    "Q3": "df2_group,group1,group2,group3,group4",
    "Q4": "df2_group,bucket",
    "QN": "df2_group,bucket,group1,group2,group3,group4",
}
AGGS = "count(*),sum(value)"


class Removals(SchedulerPlugin):
    """Counts workers that left the scheduler (died, were killed, restarted)."""
    name = "skewjoin-test-removals"

    def __init__(self):
        self.removed = 0

    def remove_worker(self, scheduler=None, worker=None, **kwargs):
        self.removed += 1


def removals(client):
    return client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.plugins[Removals.name].removed)


def cluster(memory_limit="4GiB"):
    c = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit=memory_limit,
                     dashboard_address=None, silence_logs=50)
    client = Client(c)
    client.register_scheduler_plugin(Removals())
    return c, client


def cli(data, by, out):
    subprocess.run([SKEWJOIN, "query", "--left", os.path.join(data, "df1"), "--right",
                    os.path.join(data, "df2.parquet"), "--on", "key", "--by", by, "--agg", AGGS, "--out", out],
                   check=True)


def same_frames(a, b, by):
    """Equal by-columns and counts, sums within 1e-9 relative."""
    if len(a) != len(b) or list(a.columns) != list(b.columns):
        return False
    for c in by + ["count"]:
        if not np.array_equal(np.asarray(a[c], dtype=np.int64), np.asarray(b[c], dtype=np.int64)):
            return False
    x, y = np.asarray(a["sum_value"], dtype=np.float64), np.asarray(b["sum_value"], dtype=np.float64)
    return bool(np.all(np.abs(x - y) <= 1e-9 * np.maximum(np.abs(x), np.abs(y)) + 1e-300))


def same_stream(got, want, by):
    """Two sequences of DataFrames hold the same rows in the same order.
    Returns (equal, rows compared)."""
    streams = [iter(got), iter(want)]
    held = [None, None]  # rows read and not yet compared
    rows = 0
    while True:
        for i in (0, 1):  # read until each side holds at least what the other does, and something
            other = len(held[1 - i]) if held[1 - i] is not None else 0
            while held[i] is None or len(held[i]) == 0 or len(held[i]) < other:
                nxt = next(streams[i], None)
                if nxt is None:
                    break
                held[i] = nxt if held[i] is None or len(held[i]) == 0 else pd.concat([held[i], nxt], ignore_index=True)
        sizes = [len(h) if h is not None else 0 for h in held]
        n = min(sizes)
        if n == 0:
            return sizes == [0, 0], rows
        if not same_frames(held[0].iloc[:n].reset_index(drop=True), held[1].iloc[:n].reset_index(drop=True), by):
            return False, rows
        rows += n
        held = [h.iloc[n:].reset_index(drop=True) for h in held]


def canonical(check, client, data, tmp):
    df1, df2 = os.path.join(data, "df1"), os.path.join(data, "df2.parquet")
    for name, by in QUERIES.items():
        cols = by.split(",")
        want = os.path.join(tmp, f"{name}-cli.parquet")
        cli(data, by, want)
        if name in ("Q1", "Q2"):
            got = skewjoin.dask.join_aggregate(df1, df2, "key", cols, AGGS, client=client)
            check(same_frames(got, skewjoin.read_parquet(want), cols), f"{name}: skewjoin.dask's DataFrame = the CLI's")
            continue
        out = os.path.join(tmp, f"{name}-dask")
        # QN with partials over fetch_rows: its tiles take split slices
        fetch = {"fetch_rows": 1 << 21} if name == "QN" else {}
        rows = skewjoin.dask.join_aggregate(df1, df2, "key", cols, AGGS, client=client, out=out,
                                            tile_rows=1 << 21, piece_rows=1 << 19, block_rows=1 << 19, **fetch)
        parts = sorted(glob.glob(os.path.join(out, "part-*.parquet")))
        ok, n = same_stream(skewjoin.iter_parquet(out), skewjoin.iter_parquet(want), cols)
        check(ok and n == rows, f"{name}: skewjoin.dask's {len(parts)} Parquet parts = the CLI's file ({n} rows)")
    # A Dask DataFrame as the left side.
    left = dd.from_pandas(skewjoin.read_parquet(df1), npartitions=3)
    got = skewjoin.dask.join_aggregate(left, df2, "key", ["df2_group", "group1"], AGGS, client=client)
    check(same_frames(got, skewjoin.read_parquet(os.path.join(tmp, "Q2-cli.parquet")), ["df2_group", "group1"]),
          "Q2 with a Dask DataFrame as the left side = the CLI's")
    # GROUP BY the join key: it joins the right side's columns (groupings of one key).
    for by in (["key"], ["df2_group", "key"]):
        want = os.path.join(tmp, "by-key-cli.parquet")
        cli(data, ",".join(by), want)
        got = skewjoin.dask.join_aggregate(df1, df2, "key", by, AGGS, client=client)
        check(same_frames(got, skewjoin.read_parquet(want), by), f"--by {by}: skewjoin.dask's DataFrame = the CLI's")
    # The left side's columns first, or the sides interleaved: run right side
    # first and re-sorted into the by-list's order; refused with out=.
    for by in ("group1,df2_group", "group1,df2_group,bucket"):
        want = os.path.join(tmp, "left-first-cli.parquet")
        cli(data, by, want)
        got = skewjoin.dask.join_aggregate(df1, df2, "key", by.split(","), AGGS, client=client)
        check(list(got.columns[:len(by.split(","))]) == by.split(",") and
              same_frames(got, skewjoin.read_parquet(want), by.split(",")),
              f"--by {by}: skewjoin.dask's DataFrame, re-sorted, = the CLI's")
        try:
            skewjoin.dask.join_aggregate(df1, df2, "key", by.split(","), AGGS, client=client,
                                         out=os.path.join(tmp, "left-first-dask"))
            check(False, f"--by {by} with out=: no error")
        except skewjoin.UsageError as e:
            check("out=None" in str(e), f"--by {by} with out= refused: {e}")


def worker_killed(check, client, data, tmp):
    df1, df2 = os.path.join(data, "df1"), os.path.join(data, "df2.parquet")
    cols = QUERIES["QN"].split(",")
    out = os.path.join(tmp, "QN-killed")
    before = removals(client)
    result, started = {}, time.monotonic()

    def job():
        try:
            result["rows"] = skewjoin.dask.join_aggregate(df1, df2, "key", cols, AGGS, client=client, out=out,
                                                          tile_rows=1 << 21, piece_rows=1 << 19, block_rows=1 << 19,
                                                          fetch_rows=1 << 21)
        except Exception as e:  # reported below
            result["error"] = e
    t = threading.Thread(target=job)
    t.start()
    time.sleep(3)
    running = t.is_alive()
    victim = sorted(client.scheduler_info()["workers"])[0]
    os.kill(client.run(os.getpid, workers=[victim])[victim], signal.SIGKILL)
    t.join(600)
    check(running, "the worker was killed while the job ran")
    check(removals(client) > before, "the killed worker left the cluster")
    check("error" not in result, f"the job survived the killed worker: {result.get('error')}")
    if "rows" in result:
        ok, n = same_stream(skewjoin.iter_parquet(out), skewjoin.iter_parquet(os.path.join(tmp, "QN-cli.parquet")),
                            cols)
        check(ok and n == result["rows"], f"QN after a worker was killed = the CLI's answer ({n} rows)")
    print(f"  killed {victim} after 3 s; job took {time.monotonic() - started:.1f} s")


def plain_dask_q1(client, data):
    ddf = skewjoin.dask.read_parquet(os.path.join(data, "df1"))
    df2 = skewjoin.read_parquet(os.path.join(data, "df2.parquet"))
    return ddf.merge(df2, on="key").groupby("df2_group").agg({"value": ["count", "sum"]}).compute()


def one_gib(check, tmp):
    data = os.path.join(tmp, "s0.01")
    os.makedirs(data)
    subprocess.run([SKEWJOIN, "gen", "--scale", "0.01", data], check=True, capture_output=True)
    want = os.path.join(tmp, "Q1-s0.01.parquet")
    cli(data, "df2_group", want)
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        c, client = cluster(memory_limit="1GiB")
        try:
            t = time.monotonic()
            try:
                plain_dask_q1(client, data)
                plain = "finished"
            except Exception as e:
                plain = f"failed ({type(e).__name__})"
            lost = removals(client)
            print(f"  plain Dask merge + groupby, Q1 at s=0.01, 1 GiB workers: {plain} after "
                  f"{time.monotonic() - t:.0f} s, {lost} workers removed")
            check(plain != "finished" or lost > 0, "plain Dask fails or loses workers under 1 GiB")
        finally:
            client.close()
            c.close()
    # A new cluster of the same workers: a restart of the old one could still
    # be counting the plain run's removals.
    c, client = cluster(memory_limit="1GiB")
    try:
        t = time.monotonic()
        got = skewjoin.dask.join_aggregate(os.path.join(data, "df1"), os.path.join(data, "df2.parquet"), "key",
                                           ["df2_group"], AGGS, client=client)
        print(f"  skewjoin.dask, 1 GiB workers: {time.monotonic() - t:.1f} s")
        check(removals(client) == 0, "skewjoin.dask under 1 GiB: no worker removed")
        check(same_frames(got, skewjoin.read_parquet(want), ["df2_group"]),
              "skewjoin.dask under 1 GiB: the CLI's Q1 answer")
    finally:
        client.close()
        c.close()


def main():
    check = Checks("dask")
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "s0.001")
        os.makedirs(data)
        subprocess.run([SKEWJOIN, "gen", "--scale", "0.001", data], check=True, capture_output=True)
        c, client = cluster()
        try:
            canonical(check, client, data, tmp)
            worker_killed(check, client, data, tmp)
        finally:
            client.close()
            c.close()
        for f in glob.glob(os.path.join(tmp, "*-dask")) + glob.glob(os.path.join(tmp, "QN-killed")):
            subprocess.run(["rm", "-rf", f])
        one_gib(check, tmp)
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
