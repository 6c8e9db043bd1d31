#!/usr/bin/python3
"""make bench-gen: `skewjoin gen` against its floor and its peer, in one run.

For each scale (BENCH_SCALES, default "0.01 0.1") and each --rng:
  gen       wall time of `skewjoin gen` into BENCH_DIR (default out/bench, on
            the project's disk); "to disk" adds the `sync` that follows it
  floor     dd writing the same number of bytes to the same directory: plain
            (page cache) and with conv=fdatasync (to disk)
  numpy     the notebook's df1 loop in numpy (bench/numpy_peer.py), draws
            only, no Parquet: a lower bound on the notebook's own time
Writes bench/results/gen.md and prints it.
"""
import datetime
import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SJ = os.path.join(ROOT, "build", "skewjoin")
scales = os.environ.get("BENCH_SCALES", "0.01 0.1").split()
bench_dir = os.path.abspath(os.environ.get("BENCH_DIR", os.path.join(ROOT, "out", "bench")))
os.makedirs(bench_dir, exist_ok=True)


def timed(cmd, **kw):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)
    return time.perf_counter() - t0, p.stdout


def sync():
    subprocess.run(["sync"], check=True)


def dd(nbytes, fdatasync, name):
    path = os.path.join(bench_dir, name)
    mb = (nbytes + (1 << 20) - 1) >> 20
    cmd = ["dd", "if=/dev/zero", f"of={path}", "bs=1M", f"count={mb}", "status=none"]
    sync()
    secs, _ = timed(cmd + (["conv=fdatasync"] if fdatasync else []))
    sync()
    return secs


def clear():
    """Deleting gigabytes makes the next writes on this disk slower for a
    while (measured: 4x), so nothing is deleted between measurements of a
    scale: every run writes to fresh space, then all is removed at once."""
    shutil.rmtree(bench_dir, ignore_errors=True)
    sync()
    time.sleep(5)
    os.makedirs(bench_dir, exist_ok=True)


rows = []
for s in scales:
    clear()
    results = []
    for rng in ("notebook", "parallel"):
        out = os.path.join(bench_dir, f"gen-{rng}")
        sync()
        t0 = time.perf_counter()
        p = subprocess.run([SJ, "gen", "--scale", s, "--rng", rng, out], check=True,
                           capture_output=True, text=True)
        gen_s = time.perf_counter() - t0
        sync()
        disk_s = time.perf_counter() - t0
        summary = json.loads(p.stdout)
        results.append((rng, summary["df1_rows"], summary["bytes"], gen_s, disk_s,
                        dd(summary["bytes"], False, f"dd-{rng}"), dd(summary["bytes"], True, f"dd-sync-{rng}")))
    numpy_s, out = timed(["/usr/bin/python3", os.path.join(ROOT, "bench", "numpy_peer.py"), s])
    numpy_rows = json.loads(out)["rows"]
    for rng, n, b, g, d, dd_s, ddd in results:
        rows.append(f"| {s} | {rng} | {n:,} | {b/1e6:,.0f} | {g:.2f} | {n/g/1e6:.1f} | {b/g/1e6:.0f} | "
                    f"{d:.2f} | {dd_s:.2f} | {ddd:.2f} | {g/dd_s:.2f} | {d/ddd:.2f} | {numpy_s/g:.0f}x |")
    rows.append(f"| {s} | numpy | {numpy_rows:,} | - | {numpy_s:.2f} | {numpy_rows/numpy_s/1e6:.1f} | - | - | - | - | - | - | 1x |")

disk = subprocess.run(["df", "-h", bench_dir], capture_output=True, text=True).stdout.splitlines()[1].split()[0]
report = f"""# skewjoin gen benchmark

{datetime.date.today()} on {os.cpu_count()} cores; output to `{os.path.relpath(bench_dir, ROOT)}` ({disk}).
"gen s" is the command's wall time (its files may still be in the page cache); "to disk s" adds
the `sync` after it. Floors: `dd` of the same bytes to the same directory, plain (page cache) and
with `conv=fdatasync`. numpy: the notebook's df1 loop (`bench/numpy_peer.py`), draws only, no
Parquet, so a lower bound on the notebook's time. "vs numpy" = numpy s / gen s. Nothing is
deleted between the runs of one scale (deleting gigabytes slows this disk's next writes).

| scale | rng | df1 rows | MB | gen s | M rows/s | MB/s | to disk s | dd s | dd to disk s | gen / dd | to disk / dd to disk | vs numpy |
|---|---|---|---|---|---|---|---|---|---|---|---|---|
""" + "\n".join(rows) + "\n"
os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
with open(os.path.join(ROOT, "bench", "results", "gen.md"), "w") as f:
    f.write(report)
clear()
shutil.rmtree(bench_dir, ignore_errors=True)
print(report)
