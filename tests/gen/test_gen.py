#!/usr/bin/python3
"""Integration tests of `skewjoin gen` against independent truth.

- numpy (the notebook's own code, tests/gen/notebook.py) says what every value
  must be; DuckDB reads skewjoin's files back and the arrays must be equal.
- DuckDB and Polars read the files and must agree with the plan.
- --rng parallel: thread-count independence, chi-square, value moments.
- bad parameters: exit 2, nothing written; an interrupted run leaves nothing.

Environment: SKEWJOIN = the binary to test (default build/skewjoin); the
oracles live in tests/oracle (installed by tests/oracle/install).
Prints "gen: N passed, N failed" last.
"""
import glob
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import notebook  # noqa: E402
from harness import ORACLE, SKEWJOIN, Checks, duck  # noqa: E402

QUICK = os.environ.get("SKEWJOIN_QUICK") == "1"  # the sanitizer pass: fewer, smaller cases
check = Checks("gen")


def gen(out, *args, env=None):
    p = subprocess.run([SKEWJOIN, "gen", *args] + ([out] if out else []),
                       capture_output=True, text=True, env=env)
    return p.returncode, p.stdout, p.stderr


def polars(*args):
    p = subprocess.run(["node", os.path.join(ORACLE, "polars.mjs"), *args],
                       capture_output=True, text=True, check=True)
    return json.loads(p.stdout)


def load_csv(path, ncols, dtypes):
    """Parses a headerless numeric CSV quickly into per-column arrays."""
    with open(path, "rb") as f:
        text = f.read().replace(b"\n", b",")
    flat = np.array(text.decode().rstrip(",").split(",") if text else [], dtype=object)
    flat = flat.reshape(-1, ncols) if flat.size else np.empty((0, ncols), dtype=object)
    return [flat[:, i].astype(t) for i, t in enumerate(dtypes)]


def read_df1(pattern, ngroups, tmp):
    """df1 as DuckDB reads it, in key order then file order then row order."""
    csv = os.path.join(tmp, "df1.csv")
    cols = ["key", "bucket"] + [f"group{i+1}" for i in range(ngroups)] + ["value"]
    duck(f"COPY (SELECT {', '.join(cols)} FROM read_parquet('{pattern}', filename=true, "
         f"file_row_number=true) ORDER BY key, filename, file_row_number) "
         f"TO '{csv}' (HEADER false)")
    arrays = load_csv(csv, len(cols), [np.int64] * (len(cols) - 1) + [np.float64])
    return dict(zip(cols, arrays))


def read_df2(path, tmp):
    csv = os.path.join(tmp, "df2.csv")
    duck(f"COPY (SELECT df2_group, key FROM read_parquet('{path}', file_row_number=true) "
         f"ORDER BY file_row_number) TO '{csv}' (HEADER false)")
    g, k = load_csv(csv, 2, [np.int64, np.int64])
    return {"df2_group": g, "key": k}


def df1_pattern(out, layout):
    return os.path.join(out, "df1.parquet") if layout == "single" else os.path.join(out, "df1", "*.parquet")


def test_numpy_equality(name, cli_args, params, layout="per-key"):
    """Every value of df1 and df2 equals what the notebook's numpy code draws."""
    tmp = tempfile.mkdtemp(prefix="sj-gen-")
    try:
        out = os.path.join(tmp, "out")
        rc, so, se = gen(out, *cli_args, "--layout", layout)
        if not check(rc == 0, f"{name}: gen exit {rc}: {se}"):
            return
        rows, df1, df2 = notebook.simulate(**params)
        ngroups = len(params.get("bounds", (10, 20, 30, 40)))
        got1 = read_df1(df1_pattern(out, layout), ngroups, tmp)
        check(len(got1["key"]) == int(rows.sum()), f"{name}: df1 rows {len(got1['key'])} != {rows.sum()}")
        for col, want in df1.items():
            got = got1[col]
            same = got.shape == want.shape and np.array_equal(got, want.astype(got.dtype))
            if not same and got.shape == want.shape:
                bad = np.flatnonzero(got != want)[:3]
                detail = f"first differences at rows {bad.tolist()}: {got[bad]} vs {want[bad]}"
            else:
                detail = f"shape {got.shape} vs {want.shape}"
            check(same, f"{name}: df1.{col} differs from numpy ({detail})")
        got2 = read_df2(os.path.join(out, "df2.parquet"), tmp)
        for col in ("df2_group", "key"):
            check(np.array_equal(got2[col], df2[col]), f"{name}: df2.{col} differs from numpy")
        summary = json.loads(so)
        check(summary["df1_rows"] == int(rows.sum()) and summary["df2_rows"] == len(df2["key"]),
              f"{name}: JSON summary {summary}")
        if layout == "per-key":
            files = sorted(glob.glob(os.path.join(out, "df1", "key_*.parquet")))
            check(len(files) == len(rows), f"{name}: {len(files)} files for {len(rows)} keys")
        leftovers = glob.glob(os.path.join(out, "**", "*.tmp"), recursive=True)
        check(not leftovers, f"{name}: temporary files left: {leftovers[:3]}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_reference_figures():
    """The spec's table, from numpy running the notebook's code."""
    want = {"0.001": (3989286, 59560, 106169, 60226380, 31), "0.01": (39924234, 595601, 114072, 656757422, 0)}
    for s, (rows, largest, df2, join, empty) in want.items():
        rc, so, se = gen(None, "--scale", s, "--dry-run=full")
        plan = json.loads(so) if rc == 0 else {}
        check(plan.get("df1_rows") == rows and plan.get("max_key_rows") == largest and
              plan.get("df2_rows") == df2 and plan.get("join_rows") == join and
              plan.get("empty_keys") == empty and plan.get("groupings") == 11577,
              f"reference figures at s={s}: {plan} {se}")
    rc, so, se = gen(None, "--dry-run")
    plan = json.loads(so) if rc == 0 else {}
    check(plan.get("df1_rows") == 3992769124 and plan.get("max_key_rows") == 59560113 and
          "join_rows" not in plan, f"reference figures at s=1: {plan}")
    if QUICK:
        return
    # The full plans draw the whole stream: 3 s at s=0.1, 27 s at s=1.
    for s, (rows, largest, df2, join) in {"0.1": (399273788, 5956011, 105305, 6084638601),
                                          "1": (3992769124, 59560113, 113484, 66690474785)}.items():
        rc, so, se = gen(None, "--scale", s, "--dry-run=full")
        plan = json.loads(so) if rc == 0 else {}
        check(plan.get("df1_rows") == rows and plan.get("max_key_rows") == largest and
              plan.get("df2_rows") == df2 and plan.get("join_rows") == join,
              f"reference figures at s={s} (full): {plan} {se}")


def test_engines_agree_with_plan():
    """DuckDB and Polars read s=0.001 and agree with the plan."""
    tmp = tempfile.mkdtemp(prefix="sj-gen-")
    try:
        out = os.path.join(tmp, "out")
        rc, so, se = gen(out, "--scale", "0.001")
        check(rc == 0, f"engines: gen failed {se}")
        rows, _, _ = notebook.simulate(scale=0.001) if not QUICK else (None, None, None)
        pattern = os.path.join(out, "df1", "*.parquet")
        [per_key, bucket, ranges, df2] = duck(
            f"SELECT key, count(*) AS n FROM read_parquet('{pattern}') GROUP BY key ORDER BY key",
            f"SELECT count(*) AS bad FROM (SELECT bucket, row_number() OVER (PARTITION BY key "
            f"ORDER BY filename, file_row_number) AS i FROM read_parquet('{pattern}', filename=true, "
            f"file_row_number=true)) WHERE bucket <> ((i - 1) % 40000) + 1",
            f"SELECT min(group1) a, max(group1) b, min(group2) c, max(group2) d, min(group3) e, "
            f"max(group3) f, min(group4) g, max(group4) h, min(value) lo, max(value) hi "
            f"FROM read_parquet('{pattern}')",
            f"SELECT count(DISTINCT key) AS keys, min(key) AS lo, max(key) AS hi FROM "
            f"read_parquet('{out}/df2.parquet')")
        duck_rows = {int(r["key"]): int(r["n"]) for r in per_key}
        if rows is not None:
            want = {i + 1: int(n) for i, n in enumerate(rows) if n > 0}
            check(duck_rows == want, "DuckDB: rows per key differ from the plan")
        check(int(bucket[0]["bad"]) == 0, f"DuckDB: bucket law broken in {bucket[0]['bad']} rows")
        r = ranges[0]
        check([int(r[k]) for k in "abcdefgh"] == [1, 9, 1, 19, 1, 29, 1, 39], f"DuckDB: group ranges {r}")
        check(0 <= float(r["lo"]) and float(r["hi"]) < 1, f"DuckDB: value range {r}")
        check(df2[0] == {"keys": "7000", "lo": "1", "hi": "7000"}, f"DuckDB: every key in df2 {df2}")
        pl = polars("df1", pattern, "40000")
        check(pl["rows"] == sum(duck_rows.values()), f"Polars: {pl['rows']} rows")
        check(dict(zip(pl["keys"], pl["rows_per_key"])) == duck_rows, "Polars: rows per key")
        check(pl["bad_bucket"] == 0, "Polars: bucket law")
        check(pl["groups"] == {"group1": [1, 9], "group2": [1, 19], "group3": [1, 29], "group4": [1, 39]},
              f"Polars: group ranges {pl['groups']}")
        check(pl["dtypes"] == ["DataType(Int64)"] * 6 + ["DataType(Float64)"], f"Polars: types {pl['dtypes']}")
        p2 = polars("df2", os.path.join(out, "df2.parquet"))
        check(p2["distinct_keys"] == 7000 and p2["duplicates"] == 0 and p2["groupings"] == 11577,
              f"Polars: df2 {p2}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def same_files(a, b):
    fa = sorted(os.path.relpath(f, a) for f in glob.glob(os.path.join(a, "**", "*.parquet"), recursive=True))
    fb = sorted(os.path.relpath(f, b) for f in glob.glob(os.path.join(b, "**", "*.parquet"), recursive=True))
    if fa != fb or not fa:
        return False
    return all(open(os.path.join(a, f), "rb").read() == open(os.path.join(b, f), "rb").read() for f in fa)


def chi2_critical(df, alpha=0.001):
    try:
        from scipy.stats import chi2
        return chi2.ppf(1 - alpha, df)
    except ImportError:  # Wilson–Hilferty, z(0.999) = 3.0902
        return df * (1 - 2 / (9 * df) + 3.0902 * math.sqrt(2 / (9 * df))) ** 3


def test_parallel_mode():
    tmp = tempfile.mkdtemp(prefix="sj-gen-")
    try:
        a, b = os.path.join(tmp, "t1"), os.path.join(tmp, "t2")
        args = ["--rng", "parallel", "--scale", "0.0005" if QUICK else "0.002"]
        rc1, so, se1 = gen(a, *args, "--threads", "1")
        rc2, _, se2 = gen(b, *args, "--threads", "2")
        check(rc1 == 0 and rc2 == 0, f"parallel: gen failed {se1} {se2}")
        check(same_files(a, b), "parallel: --threads 1 and --threads 2 wrote different bytes")
        rc, plan_out, _ = gen(None, *args, "--dry-run")
        check(json.loads(so)["df1_rows"] == json.loads(plan_out)["df1_rows"],
              "parallel: stage-1 rows differ from the notebook's plan")
        pattern = os.path.join(a, "df1", "*.parquet")
        for g, bound in enumerate((10, 20, 30, 40), 1):
            [counts] = duck(f"SELECT group{g} AS v, count(*) AS n FROM read_parquet('{pattern}') "
                            f"GROUP BY ALL ORDER BY v")
            n = np.array([int(r["n"]) for r in counts], dtype=float)
            values = [int(r["v"]) for r in counts]
            k = bound - 1
            expected = n.sum() / k
            stat = ((n - expected) ** 2 / expected).sum()
            check(values == list(range(1, bound)), f"parallel: group{g} takes {values}")
            check(stat < chi2_critical(k - 1), f"parallel: group{g} chi-square {stat:.1f} (df {k-1})")
        [[m]] = duck(f"SELECT count(*) AS n, avg(value) AS mean, min(value) AS lo, max(value) AS hi "
                     f"FROM read_parquet('{pattern}')")
        n, mean = int(m["n"]), float(m["mean"])
        sigma = math.sqrt(1 / 12 / n)
        check(abs(mean - 0.5) < 3 * sigma, f"parallel: mean of value {mean} (n={n})")
        check(0 <= float(m["lo"]) and float(m["hi"]) < 1, f"parallel: value range {m}")
        [[d]] = duck(f"SELECT count(*) AS n, count(DISTINCT (df2_group, key)) AS d, "
                     f"count(DISTINCT key) AS k FROM read_parquet('{a}/df2.parquet')")
        check(d["n"] == d["d"] and d["k"] == "7000", f"parallel: df2 duplicates or missing keys {d}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_notebook_threads():
    """The notebook mode writes the same bytes whatever the thread count."""
    tmp = tempfile.mkdtemp(prefix="sj-gen-")
    try:
        a, b = os.path.join(tmp, "t1"), os.path.join(tmp, "t2")
        rc1, _, _ = gen(a, "--scale", "0.0005", "--threads", "1", "--layout", "rows:100000")
        rc2, _, _ = gen(b, "--scale", "0.0005", "--threads", "2", "--layout", "rows:100000")
        check(rc1 == 0 and rc2 == 0 and same_files(a, b), "notebook: --threads 1 and 2 differ")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_bad_parameters():
    """Each bad value: exit 2, a message, and nothing written."""
    cases = [
        ["--keys", "0"], ["--df1-mix", "1.5,160,125125,1006402,8200726"],
        ["--df2-mix", "-0.1,1,1.5,101,554"], ["--scale", "-1"], ["--groups", "10,1,30"],
        ["--groups", "10,20,0"], ["--buckets", "0"], ["--keys", "-5"], ["--scale", "abc"],
        ["--rng", "fast"], ["--layout", "rows:0"], ["--compression", "lzo"], ["--threads", "0"],
        ["--df1-mix", "0.9,1,2"], ["--groupings", "0"], ["--seed", "4294967296"], ["--bogus"],
    ]
    tmp = tempfile.mkdtemp(prefix="sj-gen-")
    try:
        for args in cases:
            out = os.path.join(tmp, "out")
            rc, so, se = gen(out, "--scale", "0.0001", *args)
            check(rc == 2 and se.strip(), f"bad {args}: exit {rc}, stderr {se!r}")
            check(not os.path.exists(out), f"bad {args}: {out} was created")
        # An OUT that holds files is refused unless --force.
        out = os.path.join(tmp, "full")
        os.makedirs(out)
        open(os.path.join(out, "notes.txt"), "w").write("mine")
        rc, _, se = gen(out, "--scale", "0.0001")
        check(rc == 2 and "--force" in se, f"non-empty OUT: exit {rc} {se}")
        check(os.listdir(out) == ["notes.txt"], "non-empty OUT: something was written")
        rc, _, se = gen(out, "--scale", "0.0001", "--force")
        check(rc == 0 and os.path.exists(os.path.join(out, "notes.txt")) and
              os.path.exists(os.path.join(out, "df2.parquet")), f"--force: exit {rc} {se}")
        check(os.path.exists(os.path.join(out, "_SUCCESS")), "a complete dataset has its _SUCCESS marker")
        # --force removes gen's own files and their temporaries, nothing else of df1/.
        theirs = [os.path.join(out, "df1", n) for n in ("mine.parquet", "key_1x.parquet", "key_00001.parquet.bak")]
        ours = [os.path.join(out, "df1", "key_00001.parquet.4194304.7.tmp"), os.path.join(out, "df1", "key_99999.parquet")]
        for f in theirs + ours:
            open(f, "w").write("x")
        rc, _, se = gen(out, "--scale", "0.0001", "--force")
        check(rc == 0 and all(os.path.exists(f) for f in theirs), f"--force kept what gen does not write: exit {rc} {se}")
        check(not any(os.path.exists(f) for f in ours), "--force removed gen's own names and temporaries")
        # An OUT whose parents do not exist yet is made with them (scripts/demo's out/demo-s0.01).
        nested = os.path.join(tmp, "not", "yet", "there")
        rc, _, se = gen(nested, "--scale", "0.0001")
        check(rc == 0 and os.path.exists(os.path.join(nested, "df2.parquet")), f"nested OUT: exit {rc} {se}")
        rc, _, se = gen(os.path.join(nested, "df2.parquet", "x"), "--scale", "0.0001")
        check(rc == 2 and "not a directory" in se, f"OUT under a file: exit {rc} {se}")
        rc, so, _ = gen(None, "--help")
        check(rc == 0 and "--rng" in so and "--layout" in so, "gen --help")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_interrupted_run():
    """SIGINT mid-run: exit 130, no file under a final name, no temporary file."""
    tmp = tempfile.mkdtemp(prefix="sj-gen-")
    try:
        out = os.path.join(tmp, "out")
        p = subprocess.Popen([SKEWJOIN, "gen", "--scale", "0.05", "--threads", "2", out],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 20
        while time.time() < deadline and len(glob.glob(os.path.join(out, "df1", "*.parquet"))) < 50:
            time.sleep(0.01)
        started = len(glob.glob(os.path.join(out, "df1", "*.parquet")))
        p.send_signal(signal.SIGINT)
        _, se = p.communicate(timeout=60)
        left = [f for f in glob.glob(os.path.join(out, "**", "*"), recursive=True) if os.path.isfile(f)]
        check(started >= 50, f"interrupt: only {started} files were written before the signal")
        check(p.returncode == 130, f"interrupt: exit {p.returncode} {se}")
        check(not left, f"interrupt: files left behind: {left[:3]}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_incomplete_dataset():
    """A dataset gen did not finish (killed, or its _SUCCESS removed) is refused by
    cat and query, naming the marker; a file copied out alone reads once the marker
    is there too."""
    tmp = tempfile.mkdtemp(prefix="sj-gen-")
    try:
        def refused(what, *args):
            p = subprocess.run([SKEWJOIN, *args], capture_output=True, text=True)
            check(p.returncode == 2 and "incomplete" in p.stderr and "_SUCCESS" in p.stderr,
                  f"{what}: exit {p.returncode} {p.stderr.strip()[:200]}")

        def reads(what, *args):
            p = subprocess.run([SKEWJOIN, *args], capture_output=True, text=True)
            check(p.returncode == 0 and p.stdout, f"{what}: exit {p.returncode} {p.stderr.strip()[:200]}")

        # SIGKILL: nothing can clean up, so df1's finished files stay without the marker.
        out = os.path.join(tmp, "killed")
        p = subprocess.Popen([SKEWJOIN, "gen", "--scale", "0.05", "--threads", "2", out],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while time.time() < deadline and len(glob.glob(os.path.join(out, "df1", "*.parquet"))) < 20:
            time.sleep(0.01)
        p.kill()
        p.wait()
        files = sorted(glob.glob(os.path.join(out, "df1", "key_*.parquet")))
        check(len(files) >= 20, f"killed run: {len(files)} files written before SIGKILL")
        if files:
            refused("cat of a killed run's file", "cat", files[0])
            refused("query of a killed run's df1", "query", "--left", os.path.join(out, "df1"), "--right", files[0],
                    "--on", "key", "--agg", "count(*)")

        for layout, df1 in (("per-key", "df1"), ("single", "df1.parquet")):
            out = os.path.join(tmp, layout)
            rc, _, se = gen(out, "--scale", "0.0001", "--layout", layout)
            check(rc == 0, f"gen {layout}: {se}")
            query = ["query", "--left", os.path.join(out, df1), "--right", os.path.join(out, "df2.parquet"),
                     "--on", "key", "--agg", "count(*)"]
            reads(f"{layout}: query of the complete dataset", *query)
            os.remove(os.path.join(out, "_SUCCESS"))
            refused(f"{layout}: query without _SUCCESS", *query)
            refused(f"{layout}: cat of df2 without _SUCCESS", "cat", os.path.join(out, "df2.parquet"))
        alone = os.path.join(tmp, "alone")
        os.makedirs(alone)
        shutil.copy(os.path.join(tmp, "single", "df1.parquet"), alone)
        refused("a file copied out alone", "cat", os.path.join(alone, "df1.parquet"))
        open(os.path.join(alone, "_SUCCESS"), "w").close()
        reads("a file copied out with its marker", "cat", os.path.join(alone, "df1.parquet"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_page_checksums():
    """Every page gen writes carries its CRC-32: a byte flipped among the pages
    of df1 is refused by cat and by query, never read as data."""
    import random
    import re
    tmp = tempfile.mkdtemp(prefix="sj-gen-")
    try:
        out = os.path.join(tmp, "out")
        rc, _, se = gen(out, "--scale", "0.0001", "--layout", "single")
        check(rc == 0, f"gen: {se}")
        path = os.path.join(out, "df1.parquet")
        with open(path, "rb") as f:
            data = f.read()
        pages_end = len(data) - 8 - int.from_bytes(data[-8:-4], "little")
        rng = random.Random(5)
        query = [SKEWJOIN, "query", "--left", path, "--right", os.path.join(out, "df2.parquet"), "--on", "key",
                 "--by", "df2_group", "--agg", "count(*),sum(value)"]
        clean = subprocess.run(query, capture_output=True, text=True).stdout
        results = {"cat": [], "query": []}
        for _ in range(20):
            b = bytearray(data)
            b[rng.randrange(4, pages_end)] ^= 1 << rng.randrange(8)
            with open(path, "wb") as f:
                f.write(b)
            for name, cmd in (("cat", [SKEWJOIN, "cat", path]), ("query", query)):
                p = subprocess.run(cmd, capture_output=True, text=True)
                named = re.search(r"column '\w+', row group \d+, page \d+: checksum mismatch", p.stderr)
                # the query reads key and value only: a flip in another column's pages
                # leaves its answer as it was
                results[name].append("mismatch" if p.returncode == 1 and named else
                                     "refused" if p.returncode == 1 else
                                     "unread" if name == "query" and p.returncode == 0 and p.stdout == clean else
                                     f"exit {p.returncode}")
        with open(path, "wb") as f:
            f.write(data)
        check(all(r in ("mismatch", "refused") for r in results["cat"]) and results["cat"].count("mismatch") >= 16,
              f"cat of df1 with a flipped byte: {results['cat']}")
        check(all(r in ("mismatch", "refused", "unread") for r in results["query"]) and
              results["query"].count("mismatch") >= 10, f"query of df1 with a flipped byte: {results['query']}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    if not check(os.access(SKEWJOIN, os.X_OK), f"{SKEWJOIN} is not built"):
        return check.summary()
    check.case(test_reference_figures)
    check.case(test_bad_parameters)
    check.case(test_interrupted_run)
    check.case(test_incomplete_dataset)
    check.case(test_page_checksums)
    # numpy equality: defaults, another seed, few keys, 3 group columns, empty keys.
    check.case(test_numpy_equality, "s=0.001 defaults", ["--scale", "0.001"], {"scale": 0.001})
    if not QUICK:
        check.case(
            test_numpy_equality,
            "seed 7, 3 groups, rows:N, snappy",
            ["--seed", "7", "--keys", "60", "--scale", "0.002", "--groups", "5,300,2", "--buckets", "17",
             "--compression", "snappy", "--groupings", "500"],
            {"seed": 7, "keys": 60, "scale": 0.002, "bounds": (5, 300, 2), "buckets": 17, "groupings": 500},
            layout="rows:1000")
        check.case(
            test_numpy_equality,
            "few keys, single file, no compression, 1 thread",
            ["--seed", "123", "--keys", "10", "--scale", "0.01", "--compression", "none", "--threads", "1",
             "--df2-mix", "0.8,2,3,5,7", "--groupings", "40"],
            {"seed": 123, "keys": 10, "scale": 0.01, "groupings": 40, "df2_mix": (0.8, 2, 3, 5, 7)},
            layout="single")
        check.case(
            test_numpy_equality,
            "many empty keys, 6 groups",
            ["--seed", "2024", "--keys", "300", "--scale", "0.00002", "--groups", "3,4,5,6,7,65536",
             "--df1-mix", "0.5,0,1000,1,4000"],
            {"seed": 2024, "keys": 300, "scale": 0.00002, "bounds": (3, 4, 5, 6, 7, 65536),
             "df1_mix": (0.5, 0, 1000, 1, 4000)})
    check.case(test_engines_agree_with_plan)
    check.case(test_parallel_mode)
    check.case(test_notebook_threads)
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
