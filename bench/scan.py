#!/usr/bin/python3
"""make bench-scan: the reader's scan against DuckDB and the floor, in one run.

On the generator's s=0.01 data (BENCH_SCAN_SCALE overrides; written to
out/bench-scan once, kept for later runs), with every file in the page cache:
  skewjoin  build/bench-scan: decode `key` and `value` of every row group of
            every df1 file, on 1 thread and on all cores
  duckdb    SELECT key, sum(value) FROM read_parquet(...) GROUP BY key with
            the same thread count (best of 3 after a warm-up, in-process)
  floor     cat of the same files > /dev/null (reading the bytes)
Writes bench/results/scan.md and prints it.
"""
import datetime
import glob
import json
import os
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
scale = os.environ.get("BENCH_SCAN_SCALE", "0.01")
data = os.path.join(ROOT, "out", f"bench-scan-s{scale}")
if not os.path.exists(os.path.join(data, "df2.parquet")):
    subprocess.run([os.path.join(ROOT, "build", "skewjoin"), "gen", "--scale", scale, "--force", data],
                   check=True, capture_output=True)
files = sorted(glob.glob(os.path.join(data, "df1", "*.parquet")))
nbytes = sum(os.path.getsize(f) for f in files)


def floor():
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run(f"cat {data}/df1/*.parquet > /dev/null", shell=True, check=True)
        best = min(best, time.perf_counter() - t0)
    return best


def ours(threads):
    best, rows = float("inf"), 0
    for _ in range(3):
        p = subprocess.run([os.path.join(ROOT, "build", "bench-scan"), str(threads), "key,value", *files],
                           check=True, capture_output=True, text=True)
        r = json.loads(p.stdout)
        best, rows = min(best, r["seconds"]), r["rows"]
    return best, rows


def duckdb(threads):
    sql = f"SELECT key, sum(value) FROM read_parquet('{data}/df1/*.parquet') GROUP BY key"
    p = subprocess.run(["node", os.path.join(ROOT, "tests", "oracle", "duckdb_time.mjs"), str(threads), "3", sql],
                       check=True, capture_output=True, text=True)
    return json.loads(p.stdout)["seconds"]


floor()  # warm the page cache
f = floor()
cores = os.cpu_count()
lines = []
for threads in sorted({1, cores}):
    s, rows = ours(threads)
    d = duckdb(threads)
    lines.append(f"| {threads} | {rows:,} | {s:.3f} | {rows / s / 1e6:.0f} | {d:.3f} | {d / s:.1f}x | {f:.3f} | {s / f:.2f} |")
report = f"""# Scan benchmark: decoding `key` and `value`

{datetime.date.today()}, {cores} cores; s={scale} data from `skewjoin gen` ({len(files)} files,
{nbytes / 1e6:,.0f} MB), all in the page cache. skewjoin = `build/bench-scan` decoding both columns
of every row group (morsels pulled by threads); DuckDB = `SELECT key, sum(value) ... GROUP BY key`
at the same thread count, best of 3 in-process; floor = `cat` of the files to /dev/null.

| threads | rows | skewjoin s | M rows/s | DuckDB s | DuckDB / skewjoin | floor s | skewjoin / floor |
|---|---|---|---|---|---|---|---|
""" + "\n".join(lines) + "\n"
os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
open(os.path.join(ROOT, "bench", "results", "scan.md"), "w").write(report)
print(report)
