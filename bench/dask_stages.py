#!/usr/bin/python3
"""Per-core rates of skewjoin.dask's stages, the figures the README's
full-size estimate is built from.

    /usr/bin/python3 bench/dask_stages.py [QN|Q1|Q4] [DATA]

Runs join_aggregate on Dask's synchronous scheduler (one thread, no
cluster: no transfer, no contention) over DATA (default
out/bench-query-s0.01, made by `make bench-query`) and prints, per stage,
tasks, seconds, the rate, and the partial bytes the stage's tasks took in.
"""
import collections
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))

import dask  # noqa: E402

import skewjoin.dask as sd  # noqa: E402

QUERIES = {"QN": "df2_group,bucket,group1,group2,group3,group4", "Q1": "df2_group", "Q4": "df2_group,bucket"}


def main():
    query = sys.argv[1] if len(sys.argv) > 1 else "QN"
    data = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "out", "bench-query-s0.01")
    seconds, tasks, bytes_in = collections.Counter(), collections.Counter(), collections.Counter()

    def timed(name, first_part):
        task = getattr(sd, name)

        def run(*args):
            bytes_in[name] += sum(len(a) for a in args[first_part:])
            t = time.perf_counter()
            result = task(*args)
            seconds[name] += time.perf_counter() - t
            tasks[name] += 1
            return result
        setattr(sd, name, run)
    # where each task's partials start among its arguments (scans take none)
    for name, first_part in (("scan_task", 4), ("combine_task", 1), ("split_task", 3), ("tile_task", 8)):
        timed(name, first_part)
    left, right = os.path.join(data, "df1"), os.path.join(data, "df2.parquet")
    out = tempfile.mkdtemp(prefix="skewjoin-stages-", dir=os.path.join(ROOT, "out"))
    try:
        t = time.perf_counter()
        plan = sd.Plan(left, (right, "key", QUERIES[query], "count(*),sum(value)", 1, None))
        t_plan = time.perf_counter() - t
        left_rows = sum(n for _, _, n, _ in plan.pieces)
        with dask.config.set(scheduler="sync"):
            t = time.perf_counter()
            rows = sd.join_aggregate(left, right, "key", QUERIES[query], "count(*),sum(value)", out=out)
            total = time.perf_counter() - t
    finally:
        shutil.rmtree(out, ignore_errors=True)
    entries = bytes_in["combine_task"]  # scans' output = combines' input
    print(f"{query} on {data}: {left_rows:,} left rows, {rows:,} answer rows, {total:.1f} s in all "
          f"(plan {t_plan:.2f} s)")
    print(f"  scan     {tasks['scan_task']:5d} tasks {seconds['scan_task']:7.2f} s  "
          f"{left_rows / seconds['scan_task'] / 1e6:.1f} M rows/s; partials out {entries / 1e6:.0f} MB "
          f"({entries / left_rows:.1f} B per left row)")
    print(f"  combine  {tasks['combine_task']:5d} tasks {seconds['combine_task']:7.2f} s  "
          f"{entries / seconds['combine_task'] / 1e6:.0f} MB/s of partials in")
    print(f"  split    {tasks['split_task']:5d} tasks {seconds['split_task']:7.2f} s  "
          f"{bytes_in['split_task'] / max(seconds['split_task'], 1e-9) / 1e6:.0f} MB/s of cells in; "
          f"took in {bytes_in['split_task'] / 1e9:.1f} GB")
    print(f"  tile     {tasks['tile_task']:5d} tasks {seconds['tile_task']:7.2f} s  "
          f"{seconds['tile_task'] / max(rows, 1) * 1e9:.0f} ns per answer row (decoding, merging, Parquet); "
          f"fetched {bytes_in['tile_task'] / 1e9:.1f} GB of partials")


if __name__ == "__main__":
    main()
