#!/usr/bin/python3
"""make bench-compare BASELINE=path/to/skewjoin: this build against another
one (an older commit's, built in a git worktree), in one run, on the same
files: every query of bench/query.py (J, Q1-Q4, QN, each writing Parquet)
and the generator's modes (notebook per-key, parallel, single file).

The two binaries take turns, BENCH_ROUNDS times each (default 3), the files
put back in the page cache before each query, the disk synced before each
generation (whose time is mostly the disk's); a row gives each one's fastest
wall time and CPU time (user + system), and new / old.  Memory limit: none (the default), and QN once more
under --memory-limit 256M (the spilled path).  A refactor that should not
change speed passes when no ratio is above 1.05 beyond the noise the rounds
show.

  git worktree add /tmp/old OLD_COMMIT && make -C /tmp/old
  make bench-compare BASELINE=/tmp/old/build/skewjoin

Writes bench/results/compare.md and prints it.
"""
import datetime
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NEW = os.path.join(ROOT, "build", "skewjoin")
SCALE = os.environ.get("BENCH_SCALE", "0.01")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
QUERIES = [("J", []), ("Q1", ["df2_group"]), ("Q2", ["df2_group", "group1"]), ("Q4", ["df2_group", "bucket"]),
           ("Q3", ["df2_group", "group1", "group2", "group3", "group4"]),
           ("QN", ["df2_group", "bucket", "group1", "group2", "group3", "group4"])]
GEN_MODES = [("gen notebook, per key", []), ("gen parallel", ["--rng", "parallel"]),
             ("gen single file", ["--layout", "single"])]


def warm(path):
    """Puts a directory's files in the page cache."""
    for dirpath, _, files in os.walk(path):
        for f in files:
            with open(os.path.join(dirpath, f), "rb") as fh:
                while fh.read(1 << 24):
                    pass


def timed(cmd):
    """Wall seconds and CPU seconds (user + system) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def commit(tree):
    """The commit a build's source tree is at, for the table: no machine's paths."""
    r = subprocess.run(["git", "-C", tree, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return f"commit {r.stdout.strip()}" if r.returncode == 0 else "another build"


def main():
    old = os.environ.get("BENCH_BASELINE") or (sys.argv[1] if len(sys.argv) > 1 else "")
    if not old or not os.access(old, os.X_OK):
        sys.exit("bench-compare: give the other build's binary: make bench-compare BASELINE=/tmp/old/build/skewjoin")
    data = os.path.join(ROOT, "out", f"bench-query-s{SCALE}")
    if not os.path.isdir(os.path.join(data, "df1")):
        subprocess.run([NEW, "gen", "--scale", SCALE, "--force", data], check=True, capture_output=True)
    work = tempfile.mkdtemp(prefix="bench-compare-", dir=os.path.join(ROOT, "out"))
    rows = []
    try:
        cases = []
        for name, by in QUERIES:
            q = ["query", "--left", os.path.join(data, "df1"), "--right", os.path.join(data, "df2.parquet"),
                 "--on", "key", "--agg", "count(*)" if name == "J" else "count(*),sum(value)"]
            if by:
                q += ["--by", ",".join(by)]
            cases.append((name, q + ["--out", os.path.join(work, "a.parquet")], data))
        cases.append(("QN, --memory-limit 256M", cases[-1][1] + ["--memory-limit", "256M", "--temp-dir", work], data))
        for name, args in GEN_MODES:
            cases.append((name, ["gen", "--scale", SCALE, *args, os.path.join(work, "gen")], None))
        for name, args, cached in cases:
            wall = {"old": float("inf"), "new": float("inf")}
            cpu = dict(wall)
            for _ in range(ROUNDS):
                for which, binary in (("old", old), ("new", NEW)):
                    if cached:
                        warm(cached)
                    else:  # gen: a fresh directory, the last run's bytes on the disk
                        shutil.rmtree(os.path.join(work, "gen"), ignore_errors=True)
                        os.sync()
                    w, c = timed([binary, *args])
                    wall[which], cpu[which] = min(wall[which], w), min(cpu[which], c)
            rows.append((name, wall["old"], wall["new"], cpu["old"], cpu["new"]))
            print(f"{name}: old {wall['old']:.2f} s, new {wall['new']:.2f} s, new/old {wall['new'] / wall['old']:.3f}; "
                  f"cpu {cpu['new'] / cpu['old']:.3f}", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = ["| case | old | new | new / old | CPU old | CPU new | new / old |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {n} | {o:.2f} s | {w:.2f} s | {w / o:.3f} | {co:.2f} s | {cw:.2f} s | {cw / co:.3f} |"
              for n, o, w, co, cw in rows]
    when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    text = (f"# bench-compare\n\nthis build ({commit(ROOT)}) against {commit(os.path.dirname(os.path.dirname(old)))}, "
            f"s={SCALE}, fastest of {ROUNDS} turns each, {os.cpu_count()} cores, made {when} by `make bench-compare`."
            f"\n\n" + "\n".join(lines) + "\n")
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", "compare.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
