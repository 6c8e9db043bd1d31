#!/usr/bin/python3
"""The notebook's workflow on a local Dask cluster, the plain way and with
skewjoin.dask, side by side.

  1. generate the notebook's df1/df2 (skewjoin gen) at --scale
  2. Q1 (GROUP BY df2_group) and QN (the notebook's desired output: GROUP BY
     df2_group, bucket, group1..group4), each with count(*) and sum(value):
       plain    dask.dataframe: df1.merge(df2, on="key").groupby(...).agg(...)
       skewjoin skewjoin.dask.join_aggregate(...) on the same cluster
  3. print the times and whether the answers agree (Q1 row by row; QN by
     its row count, total count and total sum, since its answer is as big
     as the join and plain Dask computes it into partitions)

    /usr/bin/python3 examples/notebook_on_dask.py [--scale 0.001] [--workers 2]
        [--memory-limit 4GiB] [--timeout 600] [--data DIR]

Run from a source tree after `make` (the package is found in python/ and
the library in build/).  Plain Dask is given --timeout seconds per query.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))

import numpy as np  # noqa: E402
from distributed import Client, LocalCluster, wait  # noqa: E402

import skewjoin  # noqa: E402
import skewjoin.dask  # noqa: E402

Q1 = ["df2_group"]
QN = ["df2_group", "bucket", "group1", "group2", "group3", "group4"]


def plain(df1_path, df2_path, by, timeout, client):
    """The notebook's way: merge, then groupby; the answer left in Dask."""
    df1 = skewjoin.dask.read_parquet(df1_path)
    df2 = skewjoin.read_parquet(df2_path)
    joined = df1.merge(df2, on="key")
    answer = joined.groupby(by).agg(count=("value", "count"), sum_value=("value", "sum"),
                                    split_out=max(1, df1.npartitions // 200))
    if by == Q1:
        return client.compute(answer).result(timeout=timeout)
    # as big as the join: keep it distributed, bring back its size and totals
    futures = client.compute([answer.shape[0], answer["count"].sum(), answer["sum_value"].sum()])
    wait(futures, timeout=timeout)
    return client.gather(futures)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=0.001)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--memory-limit", default="4GiB", help="per worker")
    ap.add_argument("--timeout", type=float, default=600, help="seconds plain Dask gets per query")
    ap.add_argument("--data", help="where to generate (default: a temporary directory)")
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory(prefix="skewjoin-example-")
    data = args.data or os.path.join(tmp.name, "data")
    os.makedirs(data, exist_ok=True)
    t = time.monotonic()
    subprocess.run([os.path.join(ROOT, "build", "skewjoin"), "gen", "--force", "--scale", str(args.scale), data],
                   check=True)
    print(f"generated s={args.scale} in {time.monotonic() - t:.1f} s: {data}")
    df1, df2 = os.path.join(data, "df1"), os.path.join(data, "df2.parquet")

    with LocalCluster(n_workers=args.workers, threads_per_worker=1, memory_limit=args.memory_limit,
                      dashboard_address=None, silence_logs=50) as cluster, Client(cluster) as client:
        for name, by in (("Q1", Q1), ("QN", QN)):
            t = time.monotonic()
            try:
                theirs = plain(df1, df2, by, args.timeout, client)
                plain_s, plain_note = time.monotonic() - t, ""
            except Exception as e:  # timeouts, killed workers: what users see
                theirs, plain_s, plain_note = None, time.monotonic() - t, f" ({type(e).__name__})"
                client.restart()
            t = time.monotonic()
            if by == Q1:
                ours = skewjoin.dask.join_aggregate(df1, df2, "key", by, "count(*),sum(value)", client=client)
            else:
                out = os.path.join(tmp.name, "qn")
                rows = skewjoin.dask.join_aggregate(df1, df2, "key", by, "count(*),sum(value)", client=client, out=out)
                count = total = 0
                for part in skewjoin.iter_parquet(out, ["count", "sum_value"]):
                    count += int(part["count"].sum())
                    total += float(part["sum_value"].sum())
                ours = (rows, count, total)
            ours_s = time.monotonic() - t
            if theirs is None:
                agree = "plain Dask did not finish"
            elif by == Q1:
                theirs = theirs.sort_index().reset_index()
                agree = (len(theirs) == len(ours) and np.array_equal(theirs["count"], ours["count"]) and
                         np.allclose(theirs["sum_value"], ours["sum_value"], rtol=1e-9, atol=0))
                agree = "answers agree" if agree else "ANSWERS DIFFER"
            else:
                same = ours[0] == theirs[0] and ours[1] == theirs[1] and abs(ours[2] - theirs[2]) <= 1e-9 * abs(ours[2])
                agree = "answers agree (rows, total count, total sum)" if same else "ANSWERS DIFFER"
            print(f"{name}: plain Dask {plain_s:.1f} s{plain_note}, skewjoin.dask {ours_s:.1f} s: {agree}")


if __name__ == "__main__":
    main()
