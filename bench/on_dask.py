#!/usr/bin/python3
"""make bench-dask: skewjoin.dask against plain Dask and the CLI, in one run.

On the generator's data at s=0.01 (out/bench-query-s0.01, made if missing),
Q1 and QN (count(*), sum(value)) on a LocalCluster of BENCH_DASK_WORKERS
(default 2) worker processes with one thread and BENCH_DASK_MEMORY (default
8GiB) each:

  skewjoin.dask   skewjoin.dask.join_aggregate: Q1 into a DataFrame, QN
                  written by the workers to Parquet
  plain/broadcast dask.dataframe merge with df2 as a pandas DataFrame (each
                  df1 partition joined in place), then groupby().agg()
  plain/shuffle   the same with df2 as a Dask DataFrame of 8 partitions and
                  merge(shuffle="tasks"): a hash join
  cli             build/skewjoin query, one process on all cores

Plain Dask computes QN's answer into partitions (there is no Parquet writer
without pyarrow here) and brings back its size; it is stopped after
BENCH_DASK_TIMEOUT seconds (default 300).  Peak worker memory is the largest
VmHWM of the worker processes, which are restarted before every run; a run
during which workers died says so.  Writes bench/results/dask.md, puts its
table into README.md between the bench-dask markers, and prints it.
"""
import datetime
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))

import dask.dataframe as dd  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

import skewjoin  # noqa: E402
import skewjoin.dask  # noqa: E402
from report import publish  # noqa: E402  (bench/ is this script's directory)

SKEWJOIN = os.path.join(ROOT, "build", "skewjoin")
SCALE = 0.01
WORKERS = int(os.environ.get("BENCH_DASK_WORKERS", "2"))
MEMORY = os.environ.get("BENCH_DASK_MEMORY", "8GiB")
TIMEOUT = float(os.environ.get("BENCH_DASK_TIMEOUT", "300"))
QUERIES = {"Q1": ["df2_group"], "QN": ["df2_group", "bucket", "group1", "group2", "group3", "group4"]}
AGGS = "count(*),sum(value)"


def vmhwm(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def measured(cmd):
    """Wall seconds and peak RSS (VmHWM, polled: wait4's figure would count
    this Python's memory at the fork) of a command."""
    t = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    peak = 0
    while p.poll() is None:
        peak = max(peak, vmhwm(p.pid) or 0)
        time.sleep(0.02)
    if p.returncode:
        raise RuntimeError(f"{cmd[0]} exited {p.returncode}")
    return time.monotonic() - t, peak


def plain(client, df1, df2, by, shuffle):
    left = skewjoin.dask.read_parquet(df1)
    right = skewjoin.read_parquet(df2)
    if shuffle:
        joined = left.merge(dd.from_pandas(right, npartitions=8), on="key", shuffle="tasks", broadcast=False)
    else:
        joined = left.merge(right, on="key")
    answer = joined.groupby(by).agg(count=("value", "count"), sum_value=("value", "sum"),
                                    split_out=max(1, left.npartitions // 200))
    fut = client.compute(answer if by == ["df2_group"] else answer.shape[0])
    result = fut.result(timeout=TIMEOUT)
    return len(result) if by == ["df2_group"] else int(result)


def run(client, what, fn):
    client.restart()
    pids = client.run(os.getpid)
    t = time.monotonic()
    try:
        rows, note = fn(), ""
    except Exception as e:  # a timeout or killed workers: part of the result
        rows, note = None, f"failed ({type(e).__name__})" if not isinstance(e, TimeoutError) else f"> {TIMEOUT:.0f} s"
    seconds = time.monotonic() - t
    peaks = [vmhwm(p) for p in pids.values()]
    died = sum(p is None for p in peaks) or len(set(client.run(os.getpid).values()) - set(pids.values()))
    if died and not note:
        note = f"{died} workers died"
    peak = max((p for p in peaks if p), default=0)
    print(f"  {what}: {seconds:.1f} s, peak worker {peak / 2**30:.2f} GB {note}", flush=True)
    return {"s": seconds, "peak": peak, "rows": rows, "note": note}


def main():
    data = os.path.join(ROOT, "out", f"bench-query-s{SCALE}")
    if not os.path.exists(os.path.join(data, "df2.parquet")):
        os.makedirs(data, exist_ok=True)
        subprocess.run([SKEWJOIN, "gen", "--force", "--scale", str(SCALE), data], check=True)
    df1, df2 = os.path.join(data, "df1"), os.path.join(data, "df2.parquet")
    out = os.path.join(ROOT, "out", "bench-dask")
    rows = []
    with LocalCluster(n_workers=WORKERS, threads_per_worker=1, memory_limit=MEMORY, dashboard_address=None,
                      silence_logs=50) as cluster, Client(cluster) as client:
        for name, by in QUERIES.items():
            print(f"{name} at s={SCALE}:", flush=True)
            shutil.rmtree(out, ignore_errors=True)

            def ours():
                if name == "Q1":
                    return len(skewjoin.dask.join_aggregate(df1, df2, "key", by, AGGS, client=client))
                return skewjoin.dask.join_aggregate(df1, df2, "key", by, AGGS, client=client, out=out)
            r = {"query": name, "sj": run(client, "skewjoin.dask", ours)}
            shutil.rmtree(out, ignore_errors=True)
            r["broadcast"] = run(client, "plain/broadcast", lambda: plain(client, df1, df2, by, False))
            r["shuffle"] = run(client, "plain/shuffle", lambda: plain(client, df1, df2, by, True))
            client.restart()  # a plain run stopped by its timeout still computes: end it before timing the CLI
            cli_out = os.path.join(ROOT, "out", "bench-dask-cli.parquet")
            seconds, rss = measured([SKEWJOIN, "query", "--left", df1, "--right", df2, "--on", "key", "--by",
                                        ",".join(by), "--agg", AGGS, "--out", cli_out])
            os.remove(cli_out)
            print(f"  cli: {seconds:.1f} s, {rss / 2**30:.2f} GB", flush=True)
            r["cli"] = {"s": seconds, "peak": rss}
            rows.append(r)
    when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")

    def cell(m):
        if m["note"]:
            return f"{m['note']} after {m['s']:.0f} s" if "> " not in m["note"] else m["note"]
        return f"{m['s']:.1f} s, {m['peak'] / 2**30:.2f} GB"
    lines = ["| query | answer rows | skewjoin.dask | plain Dask, df2 broadcast | plain Dask, hash shuffle | "
             "CLI (one process) | best plain / skewjoin.dask | skewjoin.dask / CLI |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        done = [r[k]["s"] for k in ("broadcast", "shuffle") if not r[k]["note"]]
        vs_plain = f"{min(done) / r['sj']['s']:.0f}x" if done else "no plain run finishes"
        lines.append(f"| {r['query']} | {r['sj']['rows']:,} | {cell(r['sj'])} | {cell(r['broadcast'])} | "
                     f"{cell(r['shuffle'])} | {r['cli']['s']:.1f} s, {r['cli']['peak'] / 2**30:.2f} GB | {vs_plain} | "
                     f"{r['sj']['s'] / r['cli']['s']:.2f} |")
    body = ("\n".join(lines) + f"\n\ns={SCALE}; LocalCluster of {WORKERS} worker processes x 1 thread, {MEMORY} each; "
            f"peak = largest worker VmHWM; plain runs stopped after {TIMEOUT:.0f} s; made by `make bench-dask` "
            f"(bench/on_dask.py) on {when}.\n")
    publish("dask", "on_dask.py", "make bench-dask", body)


if __name__ == "__main__":
    main()
