#!/usr/bin/python3
"""make bench-query: skewjoin query against DuckDB and Polars, in one run.

On the generator's data at each scale of BENCH_QUERY_SCALES (default
0.01,0.1; written once to out/bench-query-sS and kept), every canonical query of
docs/queries.md (J, Q1-Q4, QN: count(*) and sum(value) grouped as
docs/queries.md says), each engine writing its answer to Parquet:

  skewjoin  build/skewjoin query ... --out A.parquet (all cores)
  duckdb    COPY (SELECT ... ORDER BY ...) TO 'A.parquet' via @duckdb/node-api
  polars    scanParquet(...).join(...).groupBy(...).agg(...).sort(...) via
            nodejs-polars (streaming collect), then writeParquet

Time is wall time of the query (skewjoin: the faster of two runs in a row,
or the one run when it took over a minute; peers: one run, measured
in-process, without Node's start-up); peak RSS is
the process's (wait4).  A peer is stopped after
BENCH_PEER_TIMEOUT seconds (default 300) or above BENCH_PEER_RSS_GB of
resident memory (default 16) and reported as such.  Floors:
  scan   build/bench-scan decoding the df1 columns the query reads, all
         cores, files in the page cache: the time just to read the bytes
  write  dd of as many bytes as skewjoin's answer, the faster of buffered
         with fdatasync and O_DIRECT; compared with skewjoin's time plus a
         sync (both durable)
A query whose answer and spill could not fit on the disk is not run, and
the table says why (QN at s=0.1: 6.1e9 answer rows, ~63 GB of Parquet and
~19 GB of spilled runs, on a disk with 75-80 GB free).
Writes bench/results/query.md, puts its table into README.md between the
bench-query markers, and prints it.
"""
import datetime
import glob
import json
import os
import re
import shutil
import subprocess
import time

from report import publish  # bench/ is this script's directory

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SKEWJOIN = os.path.join(ROOT, "build", "skewjoin")
PEER = os.path.join(ROOT, "tests", "oracle", "peer_query.mjs")
SCALES = os.environ.get("BENCH_QUERY_SCALES", "0.01,0.1").split(",")
TIMEOUT = float(os.environ.get("BENCH_PEER_TIMEOUT", "300"))
RSS_CAP = float(os.environ.get("BENCH_PEER_RSS_GB", "16")) * 2**30
CORES = os.cpu_count()
QUERIES = [("J", []), ("Q1", ["df2_group"]), ("Q2", ["df2_group", "group1"]), ("Q4", ["df2_group", "bucket"]),
           ("Q3", ["df2_group", "group1", "group2", "group3", "group4"]),
           ("QN", ["df2_group", "bucket", "group1", "group2", "group3", "group4"])]
# Distinct values of each by-column in the generator's data (groupK uniform
# on 1..boundK-1); df2_group's come from the dry run.
DOMAIN = {"bucket": 40000, "group1": 9, "group2": 19, "group3": 29, "group4": 39}
# Bounds on the disk a query takes: its answer, at most this many bytes a row
# in Parquet (QN at s=0.01: 10.3), and the spill of its runs, at most one
# entry of this many bytes per df1 row.
ANSWER_ROW_BYTES, ENTRY_BYTES = 12, 48


def rss_of(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def measured(cmd, timeout=None, rss_cap=None):
    """Runs cmd; returns (seconds, peak RSS bytes, status, stdout, stderr)."""
    out_path, err_path = "/tmp/sj-bench-out", "/tmp/sj-bench-err"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=os.path.dirname(PEER))
        status = "ok"
        while True:
            pid, st, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if timeout and time.perf_counter() - t0 > timeout:
                status = f"stopped after {timeout:.0f} s"
            elif rss_cap and rss_of(p.pid) > rss_cap:
                status = f"stopped above {rss_cap / 2**30:.0f} GB RSS"
            if status != "ok":
                p.kill()
                pid, st, ru = os.wait4(p.pid, 0)
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(st)
    if status == "ok" and p.returncode != 0:
        status = f"exit {p.returncode}"
    return seconds, ru.ru_maxrss * 1024, status, open(out_path).read(), open(err_path).read()


def sync_seconds():
    t0 = time.perf_counter()
    os.sync()
    return time.perf_counter() - t0


def dd_seconds(nbytes, where):
    """The write floor: the faster of dd through the page cache (then
    fdatasync) and dd with O_DIRECT, as many bytes in 4 MiB blocks."""
    path = os.path.join(where, "dd.bin")
    count = max(1, (nbytes + (4 << 20) - 1) >> 22)
    best = float("inf")
    for how in ("conv=fdatasync", "oflag=direct"):
        t0 = time.perf_counter()
        subprocess.run(["dd", "if=/dev/zero", f"of={path}", "bs=4M", f"count={count}", how],
                       check=True, capture_output=True)
        best = min(best, time.perf_counter() - t0)
        os.remove(path)
        os.sync()
    return best


def scan_floor(data, cols):
    files = sorted(glob.glob(os.path.join(data, "df1", "*.parquet")))
    best = float("inf")
    for _ in range(2):
        p = subprocess.run([os.path.join(ROOT, "build", "bench-scan"), str(CORES), ",".join(cols), *files],
                           check=True, capture_output=True, text=True)
        best = min(best, json.loads(p.stdout)["seconds"])
    return best


def fmt_s(s):
    return f"{s:.2f}" if s < 100 else f"{s:.0f}"


def fmt_gb(b):
    return f"{b / 2**30:.2f}"


def disk_needed(sizes, by):
    """An upper bound on the bytes a query writes: answer rows at most the
    join's and the product of the by-columns' domains, and every df1 row's
    entry spilled."""
    combos = 1
    for b in by:
        combos *= sizes["groupings"] if b == "df2_group" else DOMAIN[b]
    rows = min(sizes["join_rows"], combos)
    return rows * ANSWER_ROW_BYTES + sizes["df1_rows"] * ENTRY_BYTES


def bench_scale(scale):
    data = os.path.join(ROOT, "out", f"bench-query-s{scale}")
    work = os.path.join(ROOT, "out", "bench-query-work")
    os.makedirs(work, exist_ok=True)
    if not os.path.exists(os.path.join(data, "df2.parquet")):
        subprocess.run([SKEWJOIN, "gen", "--scale", scale, "--force", data], check=True, capture_output=True)
    sizes = json.loads(subprocess.run([SKEWJOIN, "gen", "--dry-run=full", "--scale", scale], check=True,
                                     capture_output=True, text=True).stdout)
    df1, df2 = os.path.join(data, "df1", "*.parquet"), os.path.join(data, "df2.parquet")
    rows = []
    for name, by in QUERIES:
        need, free = disk_needed(sizes, by), shutil.disk_usage(work).free
        if need > free:
            why = f"not run: needs up to {need / 1e9:.0f} GB of disk, {free / 1e9:.0f} GB free"
            rows.append(dict(scale=scale, name=name, skipped=why))
            print(f"  s={scale} {name}: {why}", flush=True)
            continue
        # The files back in the page cache: the peers before may have pushed them out.
        subprocess.run(f"cat {data}/df1/*.parquet {df2} > /dev/null", shell=True, check=True)
        aggs = "count(*)" if name == "J" else "count(*),sum(value)"
        ans = os.path.join(work, f"{name}.parquet")
        cmd = [SKEWJOIN, "query", "--left", os.path.join(data, "df1"), "--right", df2, "--on", "key",
               "--agg", aggs, "--out", ans, "--explain", *(["--by", ",".join(by)] if by else [])]
        # The faster of two runs in a row: the first one after a peer was
        # stopped at 16 GB RSS ran up to 2x slower (the kernel reclaiming).
        # A run of over a minute is not repeated: that noise is small beside it.
        best = None
        for _ in range(2):
            if best is not None and best[0][2] == "ok" and best[0][0] > 60:
                break
            run = measured(cmd)
            synced_run = run[0] + sync_seconds()
            if best is None or (run[2] != "ok", run[0]) < (best[0][2] != "ok", best[0][0]):  # ok first, then faster
                best = (run, synced_run, os.path.getsize(ans) if os.path.exists(ans) else 0)
            if os.path.exists(ans):
                os.remove(ans)
        (s, rss, status, _, err), synced, nbytes = best
        m = re.search(r"-> (\d+) answer (?:rows|groups)", err)
        answer_rows = int(m.group(1)) if m else 0
        plan = "merge" if "plan: merge" in err else "hash"
        cols = ["key", *[b for b in by if b not in ("df2_group",)], *(["value"] if name != "J" else [])]
        floor_scan = scan_floor(data, cols)
        floor_write = dd_seconds(nbytes, work) if nbytes > (256 << 20) else None
        peers = {}
        for engine in ("duckdb", "polars"):
            out = os.path.join(work, f"{name}-{engine}.parquet")
            tmp = os.path.join(work, f"tmp-{engine}")
            os.makedirs(tmp, exist_ok=True)
            ps, prss, pstatus, pout, _ = measured(
                ["node", PEER, engine, str(CORES), df1, df2, ",".join(by), "count,sum" if name != "J" else "count",
                 out, tmp], TIMEOUT, RSS_CAP)
            if pstatus == "ok":
                r = json.loads(pout.strip().splitlines()[-1]) if pout.strip() else {"error": "no output"}
                if "error" in r:
                    pstatus = "failed: " + r["error"][:80]
                else:
                    ps = r["seconds"]
            peers[engine] = (ps, prss, pstatus)
            shutil.rmtree(tmp, ignore_errors=True)
            if os.path.exists(out):
                os.remove(out)
        rows.append(dict(scale=scale, name=name, plan=plan, answer_rows=answer_rows, bytes=nbytes, s=s, synced=synced,
                         rss=rss, status=status, floor_scan=floor_scan, floor_write=floor_write, peers=peers))
        print(f"  s={scale} {name}: skewjoin {s:.2f} s ({status}), " +
              ", ".join(f"{e} {v[0]:.1f} s {v[2]}" for e, v in peers.items()), flush=True)
    shutil.rmtree(work, ignore_errors=True)
    return rows


def table(results):
    head = ("| scale | query | plan | answer rows | skewjoin s | skewjoin GB RSS | DuckDB s | DuckDB GB | Polars s "
            "| Polars GB | fastest peer / skewjoin | scan floor s | skewjoin / scan floor | skewjoin+sync / write floor |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in results:
        if "skipped" in r:
            lines.append(f"| {r['scale']} | {r['name']} | - | - | {r['skipped']} |" + " - |" * 9)
            continue
        peer_cells, best = [], None
        for e in ("duckdb", "polars"):
            ps, prss, st = r["peers"][e]
            if st == "ok":
                peer_cells += [fmt_s(ps), fmt_gb(prss)]
                best = ps if best is None else min(best, ps)
            else:
                peer_cells += [st, fmt_gb(prss)]
        ok = r["status"] == "ok"
        ratio = f"{best / r['s']:.0f}x" if best and ok else ("no peer finished" if ok else "-")
        wf = f"{r['synced'] / r['floor_write']:.2f} (dd {fmt_s(r['floor_write'])} s)" if r["floor_write"] else "-"
        lines.append(f"| {r['scale']} | {r['name']} | {r['plan']} | {r['answer_rows']:,} | "
                     f"{fmt_s(r['s']) if ok else r['status']} | {fmt_gb(r['rss'])} | {' | '.join(peer_cells)} | "
                     f"{ratio} | {r['floor_scan']:.2f} | {r['s'] / r['floor_scan']:.1f} | {wf} |")
    return "\n".join(lines)


def main():
    results = []
    for scale in SCALES:
        results += bench_scale(scale)
    when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    body = (f"{table(results)}\n\n{CORES} cores, {os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.0f} GiB; "
            f"made by `make bench-query` (bench/query.py) on {when}; skewjoin: the faster of two runs in a row "
            f"(one when it took over a minute); "
            f"peers: one run each, stopped after {TIMEOUT:.0f} s or "
            f"{RSS_CAP / 2**30:.0f} GB RSS.\n")
    publish("query", "query.py", "make bench-query", body)


if __name__ == "__main__":
    main()
