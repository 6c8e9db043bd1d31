#!/usr/bin/python3
"""`skewjoin query` against DuckDB running the same SQL.

- The canonical queries QN, Q1-Q4 and J on the generator's s=0.001 data:
  counts exact, sums within 1e-9 relative, rows in order.
- The same bytes of output for --threads 1 and --threads 2, and under a
  memory limit that spills the merge plan's runs; QN at s=0.01 under
  --memory-limit 128M and 64M, each in a memory cgroup of its own, and a
  total over 4M keys under 64M (the hash plan streams the left side).
- Randomized tables written by DuckDB: keys on one side only, NULL keys, a
  hot key with 99% of the rows, string keys, NULLs in GROUP BY and aggregated columns,
  empty tables; random GROUP BY columns from both sides and every aggregate.
- GROUP BY the join key (merge plan), string GROUP BY columns of either side
  and string keys, as CSV and as Parquet read back by DuckDB.
- --materialize: the joined rows, as DuckDB's SELECT * ... USING (k).
- Bad input: exit 2 with a message naming the column or file.
Prints "query: N passed, N failed" last.
"""
import collections
import decimal
import filecmp
import glob
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS_FILES = os.path.join(HERE, "..", "data", "parquet-testing", "files")
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "pq"))
from harness import SKEWJOIN, Checks, duck, huge_rowgroups, in_memory_cgroup, without_statistics  # noqa: E402
from test_corpus import parse_csv  # noqa: E402

QUICK = os.environ.get("SKEWJOIN_QUICK") == "1"
check = Checks("query")


def run(*args):
    p = subprocess.run([SKEWJOIN, "query", *args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def sql_for(left, right, on, by, aggs):
    sel = []
    for a in aggs:
        fn, col = a[:-1].split("(")
        name = "count" if a == "count(*)" else f"{fn}_{col}"
        expr = f"{fn}({col})" if fn != "sum" else f"sum({col})"
        sel.append(f"{expr} AS \"{name}\"")
    cols = ", ".join(by + sel)
    group = f"GROUP BY {', '.join(by)} ORDER BY {', '.join(b + ' NULLS LAST' for b in by)}" if by else ""
    return (f"SELECT {cols} FROM read_parquet('{left}') AS l JOIN read_parquet('{right}') AS r "
            f"USING ({on}) {group}")


def same_answer(got, want):
    g, w = parse_csv(got), parse_csv(want)
    if not g or g[0] != w[0]:
        return f"header {g[0] if g else None} != {w[0] if w else None}"
    if len(g) != len(w):
        return f"{len(g) - 1} rows, DuckDB has {len(w) - 1}"
    for r, (a, b) in enumerate(zip(g[1:], w[1:]), 1):
        for c, (x, y) in enumerate(zip(a, b)):
            if (x is None) != (y is None):
                return f"row {r} {w[0][c]}: {x!r} vs DuckDB {y!r}"
            if x is None or x == y:
                continue
            try:
                fx, fy = float(x), float(y)
            except ValueError:
                return f"row {r} {w[0][c]}: {x!r} vs DuckDB {y!r}"
            if "." in y or "e" in y or "." in x or "e" in x:  # a float column
                if abs(fx - fy) <= 1e-9 * max(abs(fx), abs(fy)) or (math.isnan(fx) and math.isnan(fy)):
                    continue
            return f"row {r} {w[0][c]}: {x!r} vs DuckDB {y!r}"
    return None


def compare_with_duckdb(name, left, right, on, by, aggs, tmp, threads=None, extra=()):
    args = ["--left", left, "--right", right, "--on", on, "--agg", ",".join(aggs), *extra]
    if by:
        args += ["--by", ",".join(by)]
    if threads:
        args += ["--threads", str(threads)]
    rc, out, err = run(*args)
    if not check(rc == 0, f"{name}: exit {rc}: {err.strip()}"):
        return None
    want = os.path.join(tmp, "want.csv")
    duck(f"COPY ({sql_for(left, right, on, by, aggs)}) TO '{want}' (HEADER true, NULLSTR '')")
    problem = same_answer(out, open(want).read())
    check(problem is None, f"{name}: {problem}")
    return out


def compare_in_duckdb(name, ours, left, right, by, aggs):
    """Our Parquet answer against DuckDB's, inside DuckDB (answers of tens of
    millions of rows): same groups, counts exact, sums within 1e-9, and our
    rows in ORDER BY order."""
    want = sql_for(left, right, "key", by, aggs).split(" ORDER BY")[0]
    cols = ", ".join(by)
    diff = " OR ".join(
        f"want.\"{n}\" IS DISTINCT FROM got.\"{n}\"" if a.startswith("count") else
        f"NOT (abs(want.\"{n}\" - got.\"{n}\") <= 1e-9 * abs(want.\"{n}\"))"
        for a in aggs for n in ["count" if a == "count(*)" else a[:-1].replace("(", "_")])
    r = duck(f"""WITH want AS ({want}), got AS (SELECT * FROM read_parquet('{ours}'))
        SELECT (SELECT count(*) FROM want) AS want_rows, (SELECT count(*) FROM got) AS got_rows,
          (SELECT count(*) FROM want FULL JOIN got USING ({cols}) WHERE {diff}) AS bad""",
             f"""SELECT count(*) AS unsorted FROM (SELECT [{cols}] AS t,
          lag([{cols}]) OVER (ORDER BY file_row_number) AS p
          FROM read_parquet('{ours}', file_row_number = true)) WHERE p >= t""")
    v = r[0][0]
    check(v["want_rows"] == v["got_rows"] and v["bad"] == "0",
          f"{name}: {v['got_rows']} rows, DuckDB {v['want_rows']}, {v['bad']} differ")
    check(r[1][0]["unsorted"] == "0", f"{name}: {r[1][0]['unsorted']} rows out of order")
    return int(v["got_rows"])


CANONICAL = {"Q1": ["df2_group"], "Q2": ["df2_group", "group1"], "J": [],
             "Q3": ["df2_group", "group1", "group2", "group3", "group4"], "Q4": ["df2_group", "bucket"],
             "QN": ["df2_group", "bucket", "group1", "group2", "group3", "group4"]}


# GROUP BY the join key too: the key joins one side's columns, and the
# merge plan streams these (K1: the right side's groupings of one key each).
BY_KEY = {"K1": ["key", "bucket"], "K2": ["bucket", "key"], "K3": ["df2_group", "key"]}


def test_canonical(tmp):
    """The queries of docs/queries.md on the generator's s=0.001 data.  Q1, Q2 and J as
    CSV on stdout; Q3, Q4 and QN (answers of 1e6 to 6e7 rows, the merge
    plan's) and the BY_KEY queries as Parquet, compared inside DuckDB."""
    scale = "0.0002" if QUICK else "0.001"
    data = os.path.join(tmp, f"s{scale}")
    subprocess.run([SKEWJOIN, "gen", "--scale", scale, data], check=True, capture_output=True)
    left, right = os.path.join(data, "df1", "*.parquet"), os.path.join(data, "df2.parquet")
    for name, by in {**CANONICAL, **BY_KEY}.items():
        aggs = ["count(*)"] if name == "J" else ["count(*)", "sum(value)"]
        base = ["--left", left, "--right", right, "--on", "key", "--agg", ",".join(aggs),
                *(["--by", ",".join(by)] if by else [])]
        if name in ("Q1", "Q2", "J"):
            out1 = compare_with_duckdb(f"{name} at s={scale}", left, right, "key", by, aggs, tmp, threads=1)
            _, out2, _ = run(*base, "--threads", "2")
            check(out1 is not None and out1 == out2, f"{name}: --threads 1 and 2 differ")
            _, out3, err3 = run(*base, "--memory-limit", "16M", "--temp-dir", tmp, "--explain")
            check(out1 is not None and out1 == out3 and (name == "J" or "spill" in err3),
                  f"{name}: under --memory-limit 16M (spilled) the answer differs")
            continue
        outs = [os.path.join(tmp, f"{name}-{t}.parquet") for t in (1, 2)]
        for t, out in zip((1, 2), outs):
            rc, _, err = run(*base, "--threads", str(t), "--out", out)
            check(rc == 0, f"{name} --threads {t}: exit {rc} {err.strip()}")
        if not all(os.path.exists(o) for o in outs):
            continue
        check(filecmp.cmp(outs[0], outs[1], shallow=False), f"{name}: --threads 1 and 2 differ")
        if True:
            # Under a memory limit the runs are spilled: the same bytes.
            spilled = os.path.join(tmp, f"{name}-spilled.parquet")
            rc, _, err = run(*base, "--threads", "2", "--out", spilled, "--memory-limit", "64M", "--explain",
                             "--temp-dir", tmp)
            check(rc == 0 and "spill" in err, f"{name} --memory-limit 64M: exit {rc} {err.strip()[-300:]}")
            check(os.path.exists(spilled) and filecmp.cmp(spilled, outs[1], shallow=False),
                  f"{name} under --memory-limit 64M differs from {name} in memory")
            check(not [f for f in os.listdir(tmp) if f.startswith("skewjoin-runs")], "a spill file was left behind")
            if os.path.exists(spilled):
                os.remove(spilled)
        rows = compare_in_duckdb(f"{name} at s={scale}", outs[0], left, right, by, aggs)
        if name == "QN" and scale == "0.001":
            check(rows == 60201332, f"QN at s=0.001 has {rows} rows")
        for o in outs:
            os.remove(o)
    if scale == "0.001":
        rc, out, _ = run("--left", left, "--right", right, "--on", "key")
        check(out == "count\n60226380\n", f"J at s=0.001 is docs/generator.md's join size: {out!r}")
    shutil.rmtree(data)


def measured_run(*args):
    """Runs skewjoin query; returns (exit code, stderr, peak RSS in bytes).
    The peak is the process's VmHWM, polled: wait4's ru_maxrss would count
    this Python process's memory at the fork."""
    errf = tempfile.TemporaryFile()
    p = subprocess.Popen([SKEWJOIN, "query", *args], stdout=subprocess.DEVNULL, stderr=errf)
    peak = 0
    while p.poll() is None:
        try:
            with open(f"/proc/{p.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) * 1024)
        except OSError:
            pass
        time.sleep(0.02)
    errf.seek(0)
    return p.returncode, errf.read().decode(), peak


def test_hash_plan_memory(tmp):
    """A total over 4M distinct keys (6M left rows, 200K right rows): the
    hash plan streams the left side against the right side's partial
    groups, so under --memory-limit 64M its peak RSS stays under 128 MB
    (holding the left side's partial groups took 480 MB), with DuckDB's
    answer."""
    lp, rp = os.path.join(tmp, "many-keys-l.parquet"), os.path.join(tmp, "many-keys-r.parquet")
    duck(f"""COPY (SELECT (hash(i) % 4000000)::BIGINT AS k, (i % 1000)::DOUBLE / 8 AS v FROM range(6000000) t(i))
             TO '{lp}' (FORMAT parquet)""",
         f"""COPY (SELECT (hash(j * 3) % 4000000)::BIGINT AS k, (j % 7)::BIGINT AS w FROM range(200000) t(j))
             TO '{rp}' (FORMAT parquet)""")
    aggs = ["count(*)", "sum(v)", "min(w)"]
    rc, err, rss = measured_run("--left", lp, "--right", rp, "--on", "k", "--agg", ",".join(aggs), "--memory-limit",
                                "64M", "--explain")
    check(rc == 0 and "plan: hash" in err, f"a total over 4M keys: exit {rc} {err.strip()[-300:]}")
    check(rss < 128 << 20, f"a total over 4M keys under --memory-limit 64M: peak RSS {rss >> 20} MB")
    compare_with_duckdb("a total over 4M keys", lp, rp, "k", [], aggs, tmp, extra=("--memory-limit", "64M"))
    for f in (lp, rp):
        os.remove(f)


def test_memory_limit(tmp):
    """QN at s=0.01 (6.6e8 answer rows, 1.9 GB of sorted runs).  In memory,
    its totals are DuckDB's count(*) and sum(value) over the join.  Under
    --memory-limit 128M inside a memory cgroup of 176 MiB, and under 64M
    inside 112 MiB (page cache included, as a container counts it), it
    completes without an OOM kill and writes the same bytes as in memory.
    Where no memory cgroup can be made, the peak RSS is held to the limit
    plus 48 MB instead, and the test says so."""
    data = os.path.join(tmp, "s0.01")
    subprocess.run([SKEWJOIN, "gen", "--scale", "0.01", data], check=True, capture_output=True)
    df1, df2 = os.path.join(data, "df1"), os.path.join(data, "df2.parquet")
    base = ["--left", df1, "--right", df2, "--on", "key", "--by", "df2_group,bucket,group1,group2,group3,group4",
            "--agg", "count(*),sum(value)", "--explain"]
    free = os.path.join(tmp, "qn.parquet")
    rc, err, rss = measured_run(*base, "--out", free)
    if not check(rc == 0, f"QN at s=0.01 in memory: exit {rc} {err.strip()[-300:]}"):
        return
    got, want = (r[0] for r in duck(f"SELECT sum(count) AS n, sum(sum_value) AS s FROM read_parquet('{free}')",
                                    f"SELECT count(*) AS n, sum(value) AS s FROM read_parquet('{df1}/*.parquet') "
                                    f"JOIN read_parquet('{df2}') USING (key)"))
    check(got["n"] == want["n"] and abs(float(got["s"]) - float(want["s"])) <= 1e-9 * abs(float(want["s"])),
          f"QN at s=0.01: totals {got}, DuckDB's {want}")
    print(f"QN at s=0.01: peak RSS {rss >> 20} MB in memory", file=sys.stderr)
    for limit, cgroup in ((128, 176), (64, 112)):
        out = os.path.join(tmp, f"qn-{limit}m.parquet")
        args = [*base, "--memory-limit", f"{limit}M", "--temp-dir", tmp, "--out", out]
        ran = in_memory_cgroup(cgroup, [SKEWJOIN, "query", *args])
        if ran is None:
            rc, err, peak = measured_run(*args)
            kills, where = 0, f"peak RSS {peak >> 20} MB (no memory cgroup here: RSS checked instead)"
            check(peak < (limit + 48) << 20, f"QN at s=0.01 under {limit}M: {where}")
        else:
            rc, err, peak, kills = ran
            where = f"in a memory cgroup of {cgroup} MiB: peak {peak >> 20} MiB"
        check(rc == 0 and kills == 0 and "spill" in err,
              f"QN at s=0.01 under {limit}M {where}: exit {rc}, {kills} OOM kills, {err.strip()[-300:]}")
        check(os.path.exists(out) and filecmp.cmp(out, free, shallow=False),
              f"QN at s=0.01: the answer under {limit}M differs from the answer in memory")
        print(f"QN at s=0.01 under --memory-limit {limit}M {where}", file=sys.stderr)
        if os.path.exists(out):
            os.remove(out)
    shutil.rmtree(data)
    os.remove(free)


def random_tables(tmp, seed):
    rnd = random.Random(seed)
    nl, nr = rnd.choice([0, 1, 50, 3000]) if seed < 100 else 3000, rnd.choice([0, 1, 40, 500]) if seed < 100 else 500
    nkeys = rnd.choice([1, 5, 30])
    hot = rnd.random() < 0.5
    lp, rp = os.path.join(tmp, f"l{seed}.parquet"), os.path.join(tmp, f"r{seed}.parquet")
    # Keys 0..nkeys+3: some only on one side; NULL keys; a hot key with 99% of the left rows.
    duck(f"""COPY (SELECT
          CASE WHEN i % 17 = 3 THEN NULL WHEN {str(hot).lower()} AND i % 100 <> 0 THEN 1
               ELSE (hash(i * 7 + {seed}) % {nkeys + 2})::BIGINT END AS k,
          (hash(i + {seed}) % 4)::INTEGER AS a,
          CASE WHEN i % 13 = 0 THEN NULL ELSE (hash(i * 3) % 5)::BIGINT END AS b,
          CASE WHEN i % 7 = 0 THEN NULL ELSE (hash(i * 5) % 1000)::DOUBLE / 7 END AS x,
          (hash(i * 11) % 100000)::BIGINT - 50000 AS y,
          (hash(i * 19) % 3)::BIGINT AS d
        FROM range({nl}) t(i)) TO '{lp}' (FORMAT parquet)""",
         f"""COPY (SELECT
          CASE WHEN j % 11 = 5 THEN NULL ELSE (hash(j * 13 + {seed}) % {nkeys + 2} + 2)::BIGINT END AS k,
          (hash(j + 1) % 3)::BIGINT AS c,
          CASE WHEN j % 5 = 0 THEN NULL ELSE (hash(j * 17) % 100)::INTEGER END AS z
        FROM range({nr}) t(j)) TO '{rp}' (FORMAT parquet)""")
    if seed % 2 == 0 and nl:
        # One file per key, as the generator writes: a row group's key is then
        # a single value and the engine takes its direct-indexed path.
        lp_dir = os.path.join(tmp, f"l{seed}")
        os.makedirs(lp_dir)
        keys = duck(f"SELECT DISTINCT k FROM read_parquet('{lp}') ORDER BY k")[0]
        duck(*[f"COPY (SELECT * FROM read_parquet('{lp}') WHERE k {'IS NULL' if r['k'] is None else '= ' + str(r['k'])}) "
               f"TO '{lp_dir}/{'null' if r['k'] is None else r['k']}.parquet' (FORMAT parquet)" for r in keys])
        lp = os.path.join(lp_dir, "*.parquet")
    return lp, rp, rnd


def test_random(tmp):
    left_cols, right_cols = ["a", "b", "d"], ["c"]
    aggs_all = ["count(*)", "count(x)", "sum(x)", "min(x)", "max(x)", "avg(x)", "sum(y)", "min(y)",
                "max(y)", "avg(y)", "count(z)", "sum(z)", "min(z)", "max(z)", "avg(z)", "sum(k)"]
    for seed in range(6 if QUICK else 30):
        lp, rp, rnd = random_tables(tmp, seed)
        by = rnd.sample(left_cols + right_cols + ["k"], rnd.randint(0, 3))
        aggs = rnd.sample(aggs_all, rnd.randint(1, 5))
        compare_with_duckdb(f"random {seed} by {by} {aggs}", lp, rp, "k", by, aggs, tmp,
                            threads=rnd.choice([1, 2]))


def test_direct_path(tmp):
    """Per-key files, two NULL-free left by-columns and one right: the
    direct-indexed path with a multi-column slot number."""
    for seed in (100, 102):
        lp, rp, _ = random_tables(tmp, seed)
        compare_with_duckdb(f"direct path {seed}", lp, rp, "k", ["c", "a", "d"],
                            ["count(*)", "sum(x)", "min(y)", "avg(y)"], tmp)
        compare_with_duckdb(f"direct path {seed}, left only", lp, rp, "k", ["d", "a"], ["count(*)", "max(x)"], tmp)


def test_plans(tmp):
    """Which plan runs, and the merge plan's corners: keys too far apart to
    pack next to the code (the comparison sort), a negative by-column, NULLs
    in the inner columns, GROUP BY the left side's columns then the right's."""
    lp, rp, _ = random_tables(tmp, 3)
    for by, plan in ((["c", "a"], "merge"), (["a", "b", "c"], "merge"), (["b"], "merge"), (["c"], "merge"),
                     (["a", "c", "b"], "merge+sort"), (["k", "a"], "merge"), (["a", "k"], "merge"),
                     (["c", "k", "a"], "merge"), (["a", "k", "c", "b"], "merge+sort"), ([], "hash")):
        rc, _, err = run("--left", lp, "--right", rp, "--on", "k", "--by", ",".join(by), "--explain")
        resorted = f"re-sorted by ({', '.join(by)})" in err
        check(rc == 0 and f"plan: {plan.split('+')[0]}" in err and resorted == plan.endswith("+sort"),
              f"--by {by} runs the {plan} plan: {err.strip()[:300]!r}")
    wl, wr = os.path.join(tmp, "wide-l.parquet"), os.path.join(tmp, "wide-r.parquet")
    duck(f"""COPY (SELECT ((i % 3) - 1) * 4611686018427387904 + (i % 2) AS k,
               (hash(i) % 1000000000000)::BIGINT - 500000000000 AS w,
               CASE WHEN i % 5 = 0 THEN NULL ELSE (i % 7)::INTEGER - 3 END AS s,
               i::DOUBLE / 3 AS x,
               CASE WHEN i % 9 = 0 THEN NULL ELSE (hash(i % 700)::HUGEINT - 9223372036854775808)::BIGINT END AS h
             FROM range(5000) t(i)) TO '{wl}' (FORMAT parquet, ROW_GROUP_SIZE 1000)""",
         f"""COPY (SELECT ((j % 3) - 1) * 4611686018427387904 + (j % 2) AS k, (j % 4)::BIGINT AS g
             FROM range(24) t(j)) TO '{wr}' (FORMAT parquet)""")
    for by in (["g", "w"], ["g", "s", "w"], ["s", "g"], ["w"]):
        compare_with_duckdb(f"wide keys, --by {by}", wl, wr, "k", by, ["count(*)", "sum(x)", "min(s)"], tmp,
                            threads=2)
    # h spans int64 (with NULLs), w and h together pass 62 bits: read as ranks
    for by, ranked in ((["h"], "h"), (["g", "h", "s"], "h"), (["g", "w", "h"], "h"), (["s", "g", "h"], "h")):
        rc, _, err = run("--left", wl, "--right", wr, "--on", "k", "--by", ",".join(by), "--explain")
        check(rc == 0 and "plan: merge" in err and f"ranks  {ranked}:" in err and "700 distinct" in err,
              f"--by {by}: the merge plan, {ranked} as ranks: {err.strip()[:500]!r}")
        compare_with_duckdb(f"wide column as ranks, --by {by}", wl, wr, "k", by,
                            ["count(*)", "sum(x)", "min(h)", "max(h)"], tmp, threads=2, extra=("--memory-limit", "64M"))
    # 5000 distinct values of h, more than ranks may hold under 120000 bytes (3750), but only the
    # 8% of rows whose keys are on the right join: the hash plan, its ~400 answer groups fit
    hl, hr = os.path.join(tmp, "hash-l.parquet"), os.path.join(tmp, "hash-r.parquet")
    duck(f"""COPY (SELECT (i % 50)::BIGINT AS k, (hash(i)::HUGEINT - 9223372036854775808)::BIGINT AS h,
               i::DOUBLE / 3 AS x, (i % 7)::INTEGER - 3 AS s FROM range(5000) t(i))
             TO '{hl}' (FORMAT parquet, ROW_GROUP_SIZE 500)""",
         f"COPY (SELECT (j % 4)::BIGINT AS k, (j % 3)::BIGINT AS g FROM range(12) t(j)) TO '{hr}' (FORMAT parquet)")
    for by in (["h"], ["s", "h"], []):
        limit = ("--memory-limit", "120000")
        rc, _, err = run("--left", hl, "--right", hr, "--on", "k", "--by", ",".join(by), "--explain", *limit)
        check(rc == 0 and "plan: hash" in err and "streamed against them" in err,
              f"--by {by} under 120000 bytes: the hash plan: {err.strip()[:400]!r}")
        aggs = ["count(*)", "sum(x)", "min(g)", "max(s)"]
        compare_with_duckdb(f"hash plan, --by {by}", hl, hr, "k", by, aggs, tmp, threads=2, extra=limit)
        # under 1 byte every row group's groups go to a sorted run, and the runs are merged
        spilled = ("--memory-limit", "1", "--temp-dir", tmp)
        rc, _, err = run("--left", hl, "--right", hr, "--on", "k", "--by", ",".join(by), "--explain", *spilled)
        check(rc == 0 and "sorted runs" in err, f"--by {by} under 1 byte: the hash plan spills: {err.strip()[:400]!r}")
        compare_with_duckdb(f"hash plan spilled, --by {by}", hl, hr, "k", by, aggs, tmp, threads=2, extra=spilled)


def test_no_statistics(tmp):
    """Files written without statistics (Polars with statistics=false): the
    merge plan still runs, the inner columns' domains found by reading them,
    and gives DuckDB's answer, the same as from the files with statistics,
    also when it spills under a 1-byte limit."""
    for seed in (3, 104):
        lp, rp, _ = random_tables(tmp, seed)
        bare_l, bare_r = os.path.join(tmp, f"bare-l{seed}.parquet"), os.path.join(tmp, f"bare-r{seed}.parquet")
        without_statistics(lp, bare_l)
        without_statistics(rp, bare_r)
        for by in (["c", "a", "b"], ["b"], ["a", "c"], ["a", "c", "b"], ["k", "d"]):
            name = f"no statistics {seed}, --by {by}"
            common = ["--left", bare_l, "--right", bare_r, "--on", "k", "--by", ",".join(by),
                      "--agg", "count(*),sum(x),min(y)"]
            rc, _, err = run(*common, "--explain")
            check(rc == 0 and "plan: merge" in err and "no statistics bound" in err, f"{name}: {err.strip()[:400]!r}")
            bare = compare_with_duckdb(name, bare_l, bare_r, "k", by, ["count(*)", "sum(x)", "min(y)"], tmp, threads=2)
            rc, spilled, err = run(*common, "--memory-limit", "1", "--temp-dir", tmp)
            _, stated, _ = run("--left", lp, "--right", rp, "--on", "k", "--by", ",".join(by),
                               "--agg", "count(*),sum(x),min(y)")
            check(rc == 0 and bare == spilled == stated,
                  f"{name}: the same answer spilled and from the files with statistics: exit {rc} {err.strip()!r}")


def test_unsigned(tmp):
    """Unsigned columns (DuckDB's UINTEGER, UBIGINT, UTINYINT) hold their
    values, not their bit patterns read as signed: as join key, GROUP BY
    column and aggregate input, in either plan; a UBIGINT above the int64
    range is refused with exit 2, naming file and column."""
    lp, rp = os.path.join(tmp, "unsigned-l.parquet"), os.path.join(tmp, "unsigned-r.parquet")
    duck(f"""COPY (SELECT (4294967289 + i % 7)::UINTEGER AS k, (4000000000 + hash(i) % 5)::UINTEGER AS u,
               CASE WHEN i % 11 = 0 THEN NULL ELSE (9223372036854775000 + i % 4)::UBIGINT END AS ub,
               (i % 250)::UTINYINT AS ut, i::DOUBLE AS x
             FROM range(3000) t(i)) TO '{lp}' (FORMAT parquet, ROW_GROUP_SIZE 1000)""",
         f"""COPY (SELECT (4294967287 + j % 9)::BIGINT AS k, (j % 3)::BIGINT AS g FROM range(30) t(j))
             TO '{rp}' (FORMAT parquet)""")
    aggs = ["count(*)", "sum(u)", "min(u)", "max(ub)", "sum(ub)", "avg(ut)", "sum(x)"]
    for by in (["u"], ["g", "u", "ut"], ["ub", "g"], ["g", "ub"], ["k", "ut"], []):
        compare_with_duckdb(f"unsigned, --by {by}", lp, rp, "k", by, aggs, tmp, threads=2)
    big = os.path.join(tmp, "unsigned-big.parquet")
    duck(f"COPY (SELECT (i % 3)::UBIGINT AS k, (18446744073709551000 + i)::UBIGINT AS big FROM range(10) t(i)) "
         f"TO '{big}' (FORMAT parquet)")
    rc, _, err = run("--left", big, "--right", rp, "--on", "k", "--by", "g", "--agg", "sum(big)")
    check(rc == 2 and "unsigned-big.parquet" in err and "'big'" in err and "int64 range" in err,
          f"a UBIGINT above the int64 range: exit {rc} {err.strip()!r}")


def test_resort(tmp):
    """GROUP BY columns of both sides interleaved (b, c, a): the merge plan
    runs them as (c, b, a) and the answer, ~1M rows in several chunks, is
    re-sorted into the by-list's order.  In memory and, under a 1-byte
    limit, from one sorted run per chunk merged two at a time over several
    passes: DuckDB's answer, the same bytes for both and for any --threads."""
    lp, rp = os.path.join(tmp, "resort-l.parquet"), os.path.join(tmp, "resort-r.parquet")
    duck(f"""COPY (SELECT (i % 50)::BIGINT AS k, (hash(i) % 20011)::BIGINT AS a,
               CASE WHEN i % 29 = 0 THEN NULL ELSE (i % 3)::BIGINT END AS b, (hash(i * 7) % 1000)::DOUBLE / 8 AS x
             FROM range({80000 if QUICK else 400000}) t(i)) TO '{lp}' (FORMAT parquet, ROW_GROUP_SIZE 50000)""",
         f"""COPY (SELECT (j % 50)::BIGINT AS k, (j // 50 % 12)::BIGINT AS c FROM range(600) t(j))
             TO '{rp}' (FORMAT parquet)""")
    by, aggs = ["b", "c", "a"], ["count(*)", "sum(x)", "max(x)", "count(b)"]
    common = ["--left", lp, "--right", rp, "--on", "k", "--by", ",".join(by), "--agg", ",".join(aggs), "--explain"]
    rc, _, err = run(*common)
    check(rc == 0 and "plan: merge" in err and "re-sorted by (b, c, a) in memory" in err,
          f"interleaved sides: merge plan, sorted in memory: {err.strip()!r}")
    free = compare_with_duckdb("interleaved sides (b, c, a)", lp, rp, "k", by, aggs, tmp, threads=2)
    spill = os.path.join(tmp, "resort-spill")
    os.makedirs(spill)
    for threads in ("1", "2"):
        rc, limited, err = run(*common, "--memory-limit", "1", "--temp-dir", spill, "--threads", threads)
        passes = re.search(r"(\d+) sorted runs .* merged in (\d+) passes", err)
        check(rc == 0 and passes and int(passes.group(1)) >= 3 and int(passes.group(2)) >= 2,
              f"--threads {threads} under a 1-byte limit: sorted runs merged in passes: {err.strip()!r}")
        check(limited == free, f"--threads {threads} under a 1-byte limit: the same answer as in memory")
    check(os.listdir(spill) == [], f"the sort's temporary files are removed: {os.listdir(spill)}")
    out = os.path.join(tmp, "resort.parquet")
    rc, _, err = run(*common, "--memory-limit", "1", "--out", out)
    rows = duck(f"""SELECT count(*) AS n, count(*) FILTER (WHERE p >= t) AS unsorted FROM (SELECT
                      [b IS NULL::INT, b, c, a] AS t, lag([b IS NULL::INT, b, c, a]) OVER (ORDER BY file_row_number) AS p
                    FROM read_parquet('{out}', file_row_number = true))""")[0][0]
    check(rc == 0 and int(rows["n"]) == free.count("\n") - 1 and rows["unsorted"] == "0",
          f"re-sorted Parquet answer: {rows}, {err.strip()[-200:]!r}")


def test_string_keys(tmp):
    """String join keys: the same answers as DuckDB's (keys on one side
    only, NULL keys, a hot key), grouped by the key too."""
    for seed in (211, 212, 213, 214):
        lp, rp, rnd = random_tables(tmp, seed)
        sl, sr = os.path.join(tmp, f"sl{seed}.parquet"), os.path.join(tmp, f"sr{seed}.parquet")
        duck(f"COPY (SELECT * REPLACE ('key-' || k::VARCHAR AS k) FROM read_parquet('{lp}')) TO '{sl}' (FORMAT parquet)",
             f"COPY (SELECT * REPLACE ('key-' || k::VARCHAR AS k) FROM read_parquet('{rp}')) TO '{sr}' (FORMAT parquet)")
        by = rnd.sample(["a", "b", "d", "c", "k"], rnd.randint(0, 3))
        compare_with_duckdb(f"string keys {seed} by {by}", sl, sr, "k", by, ["count(*)", "sum(x)", "count(k)", "max(z)"],
                            tmp, threads=2)
    rc, _, err = run("--left", sl, "--right", rp, "--on", "k")
    check(rc == 2 and "BYTE_ARRAY" in err and "INT64" in err, f"string vs integer key: exit {rc} {err.strip()!r}")


def string_tables(tmp, seed, rows=None):
    """Tables with string columns: `s` on the left (NULLs, empty strings,
    commas and quotes, non-ASCII), `t` on the right, string keys `k`."""
    rnd = random.Random(seed)
    lp, rp = os.path.join(tmp, f"strl{seed}.parquet"), os.path.join(tmp, f"strr{seed}.parquet")
    nl = rows if rows is not None else rnd.choice([0, 40, 5000])
    duck(f"""COPY (SELECT CASE WHEN i % 17 = 3 THEN NULL ELSE 'k' || (hash(i * 7 + {seed}) % 9)::VARCHAR END AS k,
          CASE WHEN i % 13 = 0 THEN NULL WHEN i % 11 = 0 THEN '' WHEN i % 29 = 0 THEN 'é' || (i % 3)::VARCHAR
               ELSE chr(97 + (hash(i + {seed}) % 5)::INTEGER) || CASE WHEN i % 3 = 0 THEN 'x,"y' ELSE '' END END AS s,
          (hash(i * 3) % 4)::INTEGER AS a, (hash(i * 5) % 1000)::DOUBLE / 7 AS x
        FROM range({nl}) t(i)) TO '{lp}' (FORMAT parquet, ROW_GROUP_SIZE 1000)""",
         f"""COPY (SELECT CASE WHEN j % 11 = 5 THEN NULL ELSE 'k' || (hash(j * 13 + {seed}) % 11)::VARCHAR END AS k,
          CASE WHEN j % 7 = 0 THEN NULL ELSE 'g' || (hash(j) % 4)::VARCHAR END AS t, (hash(j + 1) % 3)::BIGINT AS c
        FROM range(60) t(j)) TO '{rp}' (FORMAT parquet)""")
    return lp, rp, rnd


def test_string_columns(tmp):
    """GROUP BY string columns of either side (and the string key) against
    DuckDB, both plans; the Parquet answer read back by DuckDB; spilled the
    same as in memory."""
    for seed in range(4 if QUICK else 12):
        lp, rp, rnd = string_tables(tmp, seed)
        by = rnd.sample(["s", "t", "k", "a", "c"], rnd.randint(1, 4))
        aggs = rnd.sample(["count(*)", "sum(x)", "count(s)", "min(a)", "avg(x)", "count(t)"], rnd.randint(1, 3))
        out = compare_with_duckdb(f"strings {seed} by {by} {aggs}", lp, rp, "k", by, aggs, tmp, threads=rnd.choice([1, 2]))
        base = ["--left", lp, "--right", rp, "--on", "k", "--by", ",".join(by), "--agg", ",".join(aggs)]
        _, spilled, err = run(*base, "--memory-limit", "64K", "--temp-dir", tmp, "--explain")
        check(out is not None and spilled == out, f"strings {seed}: the answer under --memory-limit 64K differs")
    lp, rp, _ = string_tables(tmp, 100, rows=5000)
    pq = os.path.join(tmp, "strings.parquet")
    rc, _, err = run("--left", lp, "--right", rp, "--on", "k", "--by", "t,s", "--agg", "count(*),sum(x)", "--out", pq)
    args = ["--left", lp, "--right", rp, "--on", "k", "--by", "t,s", "--agg", "count(*),sum(x)"]
    _, mem, _ = run(*args)
    _, spilled, err2 = run(*args, "--memory-limit", "64K", "--temp-dir", tmp, "--explain")
    check(mem == spilled and "spill " in err2, "strings, by t,s: spilled under --memory-limit 64K, the same answer")
    if check(rc == 0, f"strings to Parquet: exit {rc} {err.strip()}"):
        want = sql_for(lp, rp, "k", ["t", "s"], ["count(*)", "sum(x)"])
        r = duck(f"""SELECT (SELECT count(*) FROM ({want}) w FULL JOIN read_parquet('{pq}') g
                       ON w.t IS NOT DISTINCT FROM g.t AND w.s IS NOT DISTINCT FROM g.s
                       WHERE w.count IS DISTINCT FROM g.count OR abs(w.sum_x - g.sum_x) > 1e-9 * abs(w.sum_x)
                          OR w.count IS NULL OR g.count IS NULL) AS bad,
                     (SELECT count(*) FROM read_parquet('{pq}')) AS n,
                     (SELECT typeof(s) FROM read_parquet('{pq}') LIMIT 1) AS type""")[0][0]
        check(r["bad"] == "0" and int(r["n"]) > 0 and r["type"] == "VARCHAR",
              f"strings to Parquet: DuckDB reads {r}")


def materialized_like_duckdb(what, lp, rp, tmp):
    """--materialize of lp JOIN rp USING (k) to Parquet and CSV on 2 threads:
    the same multiset of rows as DuckDB's (EXCEPT ALL both ways); the
    Parquet file the same bytes on 1 thread."""
    for ext in ("parquet", "csv"):
        out = os.path.join(tmp, f"mat-{what}.{ext}")
        rc, _, err = run("--left", lp, "--right", rp, "--on", "k", "--materialize", out, "--threads", "2")
        if not check(rc == 0, f"materialize {what}: exit {rc} {err.strip()}"):
            return
        ours = (f"read_parquet('{out}')" if ext == "parquet" else  # "" is an empty string, an empty field NULL
                f"read_csv('{out}', header=true, allow_quoted_nulls=false)") + " AS o"
        join = f"SELECT * FROM read_parquet('{lp}') AS l JOIN read_parquet('{rp}') AS r USING (k)"
        r = duck(f"SELECT count(*) AS n FROM {ours}", f"SELECT count(*) AS n FROM ({join})",
                 f"SELECT count(*) AS n FROM (SELECT * FROM {ours} EXCEPT ALL {join})",
                 f"SELECT count(*) AS n FROM ({join} EXCEPT ALL SELECT * FROM {ours})")
        n = [int(x[0]["n"]) for x in r]
        check(n[0] == n[1] and n[2] == 0 and n[3] == 0,
              f"materialize {what} ({ext}): {n[0]} rows vs DuckDB's {n[1]}, {n[2]}/{n[3]} rows differ")
    one = os.path.join(tmp, f"mat-{what}-1.parquet")
    run("--left", lp, "--right", rp, "--on", "k", "--materialize", one, "--threads", "1")
    check(filecmp.cmp(one, os.path.join(tmp, f"mat-{what}.parquet"), shallow=False),
          f"materialize {what}: --threads 1 and 2 differ")


def logical_tables(tmp):
    """Tables whose integers stand for dates, times, timestamps (ms, us, ns,
    UTC-adjusted) and decimals (INT64 and INT32), with NULLs and negatives."""
    lp, rp = os.path.join(tmp, "logical-l.parquet"), os.path.join(tmp, "logical-r.parquet")
    duck(f"""COPY (SELECT (i % 7)::BIGINT AS k,
          CASE WHEN i % 11 = 0 THEN NULL ELSE DATE '1969-12-25' + (i % 13)::INTEGER END AS d,
          TIMESTAMP '2024-02-28 23:59:58' + INTERVAL (i % 5) SECOND + INTERVAL (i % 3 * 250) MILLISECOND AS ts,
          (TIMESTAMP '1960-01-01 00:00:00' + INTERVAL (i % 4) DAY)::TIMESTAMP_MS AS tms,
          ('2024-01-01 10:00:00.123456789'::TIMESTAMP_NS + INTERVAL (i % 3) HOUR) AS tns,
          TIMESTAMPTZ '2024-06-01 12:00:00+00' + INTERVAL (i % 2) MINUTE AS tz,
          TIME '23:59:59.5' - INTERVAL (i % 6) HOUR AS t,
          CASE WHEN i % 9 = 0 THEN NULL ELSE ((i % 17) * 7.25 - 50)::DECIMAL(10,2) END AS price,
          ((i % 5) * 0.3 - 0.6)::DECIMAL(4,1) AS small
        FROM range(300) t(i)) TO '{lp}' (FORMAT parquet, ROW_GROUP_SIZE 100)""",
         f"""COPY (SELECT (j % 9)::BIGINT AS k, DATE '2000-02-29' + (j % 3)::INTEGER AS rd, (j % 2)::INTEGER AS g
        FROM range(20) t(j)) TO '{rp}' (FORMAT parquet)""")
    return lp, rp


def test_logical_types(tmp):
    """DATE, TIME, TIMESTAMP (ms, us, ns, with time zone), DECIMAL and INT96
    (legacy timestamp) columns keep their meaning: GROUP BY them, min/max of them, sum/avg of decimals
    (sum(price) of DECIMAL(10,2) 5.71 was printed 571), as DuckDB prints
    them in CSV, and as DuckDB's types when written to Parquet."""
    lp, rp = logical_tables(tmp)
    for by, aggs in ((["rd", "d"], ["count(*)", "sum(price)", "avg(price)", "min(ts)", "max(tns)"]),
                     (["g", "ts"], ["count(*)", "sum(small)", "min(d)", "max(tz)", "avg(small)"]),
                     (["d"], ["min(t)", "max(tms)", "sum(price)", "min(price)", "max(small)"]),
                     (["tz", "g"], ["count(*)", "max(price)", "min(tns)"]),
                     (["tns", "t", "tms"], ["count(*)", "sum(price)"]),
                     ([], ["sum(price)", "min(d)", "max(ts)", "avg(price)", "count(d)"])):
        compare_with_duckdb(f"logical types, --by {by}", lp, rp, "k", by, aggs, tmp, threads=2)
    pq = os.path.join(tmp, "logical.parquet")
    by, aggs = ["rd", "d", "tz"], ["count(*)", "sum(price)", "min(ts)", "max(tns)", "min(t)", "max(small)", "min(tms)"]
    rc, _, err = run("--left", lp, "--right", rp, "--on", "k", "--by", ",".join(by), "--agg", ",".join(aggs),
                     "--out", pq)
    if check(rc == 0, f"logical types to Parquet: exit {rc} {err.strip()}"):
        sql = sql_for(lp, rp, "k", by, aggs).split(" ORDER BY")[0]
        got, want = ({r["column_name"]: r["column_type"] for r in d}
                     for d in duck(f"DESCRIBE SELECT * FROM read_parquet('{pq}')", f"DESCRIBE {sql}"))
        want["sum_price"] = "DECIMAL(18,2)"  # DuckDB's sum is DECIMAL(38,2); ours holds 18 digits, else refuses
        check(got == want, f"logical types to Parquet: DuckDB reads {got}, its own answer has {want}")
        same = " AND ".join(f"w.{c} IS NOT DISTINCT FROM o.{c}" for c in by)
        differ = " OR ".join(f"w.{c} IS DISTINCT FROM o.{c}" for c in want if c not in by)
        bad = duck(f"SELECT count(*) AS n FROM ({sql}) w FULL JOIN read_parquet('{pq}') o ON {same} "
                   f"WHERE {differ}")[0][0]["n"]
        check(bad == "0", f"logical types to Parquet: {bad} groups differ from DuckDB's")
    # INT96, the legacy timestamp (Impala's files in the corpus, 7300 rows, nanoseconds of the day)
    ip = os.path.join(CORPUS_FILES, "alltypes_tiny_pages.parquet")
    ir = os.path.join(tmp, "int96-r.parquet")
    duck(f"COPY (SELECT DISTINCT id, (id % 3)::BIGINT AS g FROM read_parquet('{ip}') WHERE id % 5 <> 0) "
         f"TO '{ir}' (FORMAT parquet)")
    for by, aggs in ((["g", "timestamp_col"], ["count(*)", "max(bigint_col)"]),
                     (["g"], ["min(timestamp_col)", "max(timestamp_col)", "count(timestamp_col)"])):
        compare_with_duckdb(f"INT96 timestamps, --by {by}", ip, ir, "id", by, aggs, tmp, threads=2)
    # a DECIMAL(13,2) in FIXED_LEN_BYTE_ARRAY(6) (pyarrow's way), joined with itself on it: DuckDB's
    # own join and GROUP BY of this file trust its statistics, which are wrong (it loses 1.00), so
    # the answer is built from the values DuckDB reads
    fp = os.path.join(CORPUS_FILES, "fixed_length_decimal_legacy.parquet")
    rc, out, err = run("--left", fp, "--right", fp, "--on", "value", "--by", "value", "--agg", "count(*),sum(value)")
    seen = collections.Counter(decimal.Decimal(r["v"]) for r in
                               duck(f"SELECT value::VARCHAR AS v FROM read_parquet('{fp}')")[0])
    values = sorted(seen)
    want = "value,count,sum_value\n" + "".join(f"{v},{seen[v] ** 2},{v * seen[v] ** 2}\n" for v in values)
    check(rc == 0 and out == want and len(values) == 24, f"FIXED_LEN_BYTE_ARRAY decimals: {out[:200]!r} {err!r}")
    rc, _, err = run("--left", lp, "--right", rp, "--on", "k", "--agg", "sum(d)")
    check(rc == 2 and "sum(d)" in err and "DATE" in err, f"sum of a DATE: exit {rc} {err.strip()!r}")
    other = os.path.join(tmp, "logical-k.parquet")
    duck(f"COPY (SELECT (k / 10)::DECIMAL(10,1) AS k, rd FROM read_parquet('{rp}')) TO '{other}' (FORMAT parquet)",
         f"COPY (SELECT k::DECIMAL(10,2) AS k, d FROM read_parquet('{lp}')) TO '{other}.l' (FORMAT parquet)")
    rc, _, err = run("--left", f"{other}.l", "--right", other, "--on", "k")
    check(rc == 2 and "DECIMAL(10,2)" in err and "DECIMAL(10,1)" in err,
          f"keys of different decimal scales: exit {rc} {err.strip()!r}")


def test_materialize(tmp):
    """--materialize: the joined rows, the same multiset as DuckDB's SELECT *
    ... USING (k) (EXCEPT ALL both ways), on random tables (integer keys;
    string keys and string columns on both sides) and the generator's data;
    the same bytes for --threads 1 and 2; misuse refused."""
    for seed in (300, 301, 302, 303):
        lp, rp, _ = random_tables(tmp, seed)
        materialized_like_duckdb(str(seed), lp, rp, tmp)
    for seed in (310, 311, 312):
        lp, rp, _ = string_tables(tmp, seed, rows=5000 if seed == 310 else None)
        materialized_like_duckdb(f"strings{seed}", lp, rp, tmp)
    materialized_like_duckdb("strings-swapped", rp, lp, tmp)  # left keys k9, k10 are not on the right
    lp, rp = logical_tables(tmp)
    materialized_like_duckdb("logical", lp, rp, tmp)
    scale = "0.0002" if QUICK else "0.001"
    data = os.path.join(tmp, f"mat-s{scale}")
    subprocess.run([SKEWJOIN, "gen", "--scale", scale, data], check=True, capture_output=True)
    left, right = os.path.join(data, "df1", "*.parquet"), os.path.join(data, "df2.parquet")
    out = os.path.join(tmp, "mat-gen.parquet")
    rc, _, err = run("--left", left, "--right", right, "--on", "key", "--materialize", out)
    sums = "count(*) AS n, sum(value) AS v, sum(df2_group) AS g, sum(bucket * group1 + group4) AS b"
    if check(rc == 0, f"materialize at s={scale}: exit {rc} {err.strip()}"):
        got, want = duck(f"SELECT {sums} FROM read_parquet('{out}')",
                         f"SELECT {sums} FROM read_parquet('{left}') AS l JOIN read_parquet('{right}') AS r USING (key)")
        g, w = got[0], want[0]
        check(g["n"] == w["n"] and g["g"] == w["g"] and g["b"] == w["b"] and
              abs(g["v"] - w["v"]) <= 1e-9 * abs(w["v"]), f"materialize at s={scale}: {g} vs DuckDB {w}")
        os.remove(out)
    rc, _, err = run("--left", left, "--right", right, "--on", "key", "--materialize", out, "--by", "bucket")
    check(rc == 2 and "--materialize" in err, f"--materialize with --by: exit {rc} {err.strip()!r}")
    same = os.path.join(tmp, "same-name.parquet")
    duck(f"COPY (SELECT key, 1::BIGINT AS bucket FROM read_parquet('{right}')) TO '{same}' (FORMAT parquet)")
    rc, _, err = run("--left", left, "--right", same, "--on", "key", "--materialize", out)
    check(rc == 2 and "'bucket'" in err, f"--materialize with a name on both sides: exit {rc} {err.strip()!r}")
    flags = os.path.join(tmp, "flags.parquet")
    duck(f"COPY (SELECT key, key % 2 = 0 AS flag FROM read_parquet('{right}')) TO '{flags}' (FORMAT parquet)")
    rc, _, err = run("--left", left, "--right", flags, "--on", "key", "--materialize", out)
    check(rc == 2 and "'flag'" in err and "BOOLEAN" in err,
          f"--materialize with a BOOLEAN column: exit {rc} {err.strip()!r}")
    check(not os.path.exists(out), "--materialize refused: no file left")
    shutil.rmtree(data)


def test_parquet_output(tmp):
    lp, rp, _ = random_tables(tmp, 99)
    out = os.path.join(tmp, "answer.parquet")
    rc, _, err = run("--left", lp, "--right", rp, "--on", "k", "--by", "c,b", "--agg", "count(*),avg(x),sum(y)",
                     "--out", out)
    if check(rc == 0, f"--out parquet: {err}"):
        want = os.path.join(tmp, "want.csv")
        got = os.path.join(tmp, "got.csv")
        duck(f"COPY ({sql_for(lp, rp, 'k', ['c', 'b'], ['count(*)', 'avg(x)', 'sum(y)'])}) TO '{want}' (HEADER true, NULLSTR '')",
             f"COPY (SELECT * FROM read_parquet('{out}')) TO '{got}' (HEADER true, NULLSTR '')")
        problem = same_answer(open(got).read(), open(want).read())
        check(problem is None, f"--out parquet read by DuckDB: {problem}")
        check(not glob.glob(out + ".*.tmp"), "--out left a temporary file")


def test_huge_rowgroups(tmp):
    """A valid file whose row groups declare 2^31 - 1 rows each, under
    --memory-limit 256M inside a memory cgroup of 1 GiB: `cat` and `query`
    (the file on either side) refuse it before reading it — exit 1, naming
    the row group and the limit it would need — and are never killed.  (The
    build before this check asked for 16 GiB and was OOM-killed.)"""
    huge, small = os.path.join(tmp, "huge.parquet"), os.path.join(tmp, "small.parquet")
    huge_rowgroups(huge)
    duck(f"COPY (SELECT 7::BIGINT AS key, 1::BIGINT AS g) TO '{small}' (FORMAT parquet)")
    runs = {"cat": ["cat", huge],
            "query, left": ["query", "--left", huge, "--right", small, "--on", "key"],
            "query, right": ["query", "--left", small, "--right", huge, "--on", "key", "--by", "g"]}
    for what, args in runs.items():
        argv = [SKEWJOIN, *args, "--memory-limit", "256M"]
        ran = in_memory_cgroup(1024, argv)
        if ran is None:  # no memory cgroup here: the same run, bounded by time
            p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            ran, where = (p.returncode, p.stderr, 0, 0), "(no memory cgroup here)"
        else:
            where = "in a memory cgroup of 1 GiB"
        rc, err, _, kills = ran
        check(rc == 1 and kills == 0 and "row group 0 holds 2147483647 rows" in err and "--memory-limit" in err,
              f"{what} of row groups of 2^31 - 1 rows {where}: exit {rc}, {kills} OOM kills, {err.strip()[-300:]!r}")


def test_output_safety(tmp):
    """The answer's temporary file is its own: a link at the old fixed name
    (NAME.tmp) is not followed; two queries writing one --out at once leave
    a whole file, equal to one of the two answers; a temporary left by a
    killed run goes with the next write to that name."""
    data = os.path.join(tmp, "s0.0002-out")
    subprocess.run([SKEWJOIN, "gen", "--scale", "0.0002", data], check=True, capture_output=True)
    left, right = os.path.join(data, "df1"), os.path.join(data, "df2.parquet")
    out = os.path.join(tmp, "shared.parquet")
    victim = os.path.join(tmp, "victim.txt")
    with open(victim, "w") as f:
        f.write("keep me\n")
    os.symlink(victim, out + ".tmp")
    base = ["query", "--left", left, "--right", right, "--on", "key", "--agg", "count(*),sum(value)", "--out", out]
    rc, _, err = run(*base[1:], "--by", "df2_group")
    check(rc == 0 and open(victim).read() == "keep me\n", f"a link at NAME.tmp is not followed: exit {rc} {err!r}")
    os.remove(out + ".tmp")
    # Two writers at once, Q2 against Q1: the survivor is one of them, whole.
    answers = {}
    for by in ("df2_group", "df2_group,group1"):
        one = os.path.join(tmp, f"alone-{len(by)}.csv")
        run(*base[1:-1], one, "--by", by)
        answers[by] = open(one).read()
    procs = [subprocess.Popen([SKEWJOIN, *base, "--by", by], stderr=subprocess.PIPE) for by in answers]
    codes = [p.wait() for p in procs]
    got = os.path.join(tmp, "survivor.csv")
    duck(f"COPY (SELECT * FROM read_parquet('{out}')) TO '{got}' (HEADER true, NULLSTR '')")
    survivor = open(got).read()
    check(codes == [0, 0] and any(same_answer(survivor, a) is None for a in answers.values()),
          f"two writers of one --out: exits {codes}, the file is neither answer")
    check(not glob.glob(out + ".*.tmp"), f"two writers left temporaries: {glob.glob(out + '.*.tmp')}")
    # A killed run's temporary (a pid that no longer runs) goes with the next run.
    p = subprocess.Popen(["sleep", "0"])
    p.wait()
    stale = f"{out}.{p.pid}.0.tmp"
    with open(stale, "w") as f:
        f.write("half")
    rc, _, err = run(*base[1:], "--by", "df2_group")
    check(rc == 0 and not os.path.exists(stale), f"a dead run's temporary is removed: exit {rc} {err!r}")


def test_input_paths(tmp):
    """A path that exists is read as itself, glob characters and all (a file
    and a directory); a glob is a glob only when no such path exists; a FIFO
    is refused at once instead of waiting for a writer."""
    lp, rp, _ = random_tables(tmp, 101)
    odd_dir = os.path.join(tmp, "d[1]")
    os.makedirs(odd_dir)
    shutil.copy(lp, os.path.join(odd_dir, "x[12].parquet"))
    shutil.copy(rp, os.path.join(odd_dir, "x1.parquet"))  # what x[12] would match as a glob
    want = run("--left", lp, "--right", rp, "--on", "k", "--by", "b")[1]
    rc, out, err = run("--left", os.path.join(odd_dir, "x[12].parquet"), "--right", rp, "--on", "k", "--by", "b")
    check(rc == 0 and out == want, f"x[12].parquet read as itself: exit {rc} {err.strip()!r}")
    only = os.path.join(tmp, "d[1]-only")
    os.makedirs(only)
    shutil.copy(lp, os.path.join(only, "l.parquet"))
    rc, out, err = run("--left", only, "--right", rp, "--on", "k", "--by", "b")
    check(rc == 0 and out == want, f"a directory named d[1]-only read as itself: exit {rc} {err.strip()!r}")
    globbed = os.path.join(tmp, "globbed")
    os.makedirs(globbed)
    shutil.copy(lp, os.path.join(globbed, "l101.parquet"))
    rc, out, err = run("--left", os.path.join(globbed, "l10?.parquet"), "--right", rp, "--on", "k", "--by", "b")
    check(rc == 0 and out == want, f"a path that does not exist is a glob: exit {rc} {err.strip()!r}")
    fifo = os.path.join(tmp, "pipe.parquet")
    os.mkfifo(fifo)
    try:
        p = subprocess.run([SKEWJOIN, "query", "--left", fifo, "--right", rp, "--on", "k"], capture_output=True,
                           text=True, timeout=20)
        check(p.returncode == 2 and "not a regular file" in p.stderr and fifo in p.stderr,
              f"a FIFO is refused by name: exit {p.returncode} {p.stderr.strip()!r}")
    except subprocess.TimeoutExpired:
        check(False, "a FIFO as input: no answer within 20 s")


def test_bad_input(tmp):
    lp, rp, _ = random_tables(tmp, 7)
    sp = os.path.join(tmp, "strkey.parquet")
    other = os.path.join(tmp, "other")
    os.makedirs(other)
    duck(f"COPY (SELECT 'a' AS k, 1 AS c) TO '{sp}' (FORMAT parquet)",
         f"COPY (SELECT 1::BIGINT AS k, 2::BIGINT AS c) TO '{other}/1.parquet' (FORMAT parquet)",
         f"COPY (SELECT 1::BIGINT AS k, 2::DOUBLE AS c) TO '{other}/2.parquet' (FORMAT parquet)")
    cases = [
        (["--by", "nope"], "nope"),
        (["--agg", "sum(nope)"], "nope"),
        (["--by", "k,k"], "twice"),
        (["--agg", "median(x)"], "median"),
        (["--on", "c"], "c"),
        (["--by", "x"], "DOUBLE"),
        (["--agg", "count(*),count(*)"], "two columns named 'count'"),
        (["--agg", "sum(x),SUM( x )"], "two columns named 'sum_x'"),
        (["--memory-limit", "0.5"], "--memory-limit: '0.5'"),
        (["--memory-limit", "0"], "--memory-limit: '0'"),
        (["--memory-limit", "12Q"], "--memory-limit: '12Q'"),
        (["--memory-limit", "-1"], "--memory-limit: '-1'"),
    ]
    for extra, needle in cases:
        args = ["--left", lp, "--right", rp, "--on", "k", *extra]
        rc, _, err = run(*args)
        check(rc == 2 and needle in err, f"bad {extra}: exit {rc}, {err.strip()!r}")
    rc, _, err = run("--left", lp, "--right", sp, "--on", "k")
    check(rc == 2 and "strkey.parquet" in err, f"string key on one side: exit {rc} {err.strip()!r}")
    rc, _, err = run("--left", lp, "--right", other, "--on", "k", "--by", "c")
    check(rc == 2 and "2.parquet" in err and "'c'" in err, f"schemas differ: exit {rc} {err.strip()!r}")
    rc, _, err = run("--left", os.path.join(tmp, "missing*.parquet"), "--right", rp, "--on", "k")
    check(rc == 2 and "missing" in err, f"no files: exit {rc} {err.strip()!r}")
    rc, _, err = run("--left", lp, "--right", rp, "--on", "k", "--out", os.path.join(tmp, "x.txt"))
    check(rc == 2 and ".csv or .parquet" in err, f"bad --out: exit {rc} {err.strip()!r}")
    wide = os.path.join(tmp, "wide.parquet")  # a column whose range spans int64: no code packs it
    duck(f"""COPY (SELECT k, CASE WHEN i % 2 = 0 THEN -9223372036854775807 ELSE 9223372036854775807 END AS h
             FROM (SELECT *, row_number() OVER () AS i FROM read_parquet('{lp}'))) TO '{wide}' (FORMAT parquet)""")
    rc, spilled, err = run("--left", wide, "--right", rp, "--on", "k", "--by", "h", "--memory-limit", "1",
                           "--temp-dir", tmp)
    _, free, _ = run("--left", wide, "--right", rp, "--on", "k", "--by", "h")
    check(rc == 0 and spilled == free, f"hash plan under a 1-byte limit spills: exit {rc} {err.strip()!r}")
    # a row group's own groups are folded whole: past 2^16 of them under a tiny limit, it stops
    many = os.path.join(tmp, "many-groups.parquet")
    duck(f"""COPY (SELECT 1::BIGINT AS k, (hash(i)::HUGEINT - 9223372036854775808)::BIGINT AS h FROM range(100000) t(i))
             TO '{many}' (FORMAT parquet, ROW_GROUP_SIZE 100000)""")
    one = os.path.join(tmp, "one-key.parquet")
    duck(f"COPY (SELECT 1::BIGINT AS k) TO '{one}' (FORMAT parquet)")
    rc, _, err = run("--left", many, "--right", one, "--on", "k", "--by", "h", "--memory-limit", "1")
    check(rc == 1 and "row group's part" in err and "memory limit" in err and "left side" in err,
          f"hash plan: a row group's part over the limit: exit {rc} {err.strip()!r}")
    rc, limited, err = run("--left", lp, "--right", rp, "--on", "k", "--by", "c,a,b", "--memory-limit", "1",
                           "--temp-dir", tmp)
    _, free, _ = run("--left", lp, "--right", rp, "--on", "k", "--by", "c,a,b")
    check(rc == 0 and limited == free, f"merge plan under a 1-byte limit spills: exit {rc} {err.strip()!r}")


def main():
    tmp = tempfile.mkdtemp(prefix="sj-query-")
    try:
        check.case(test_canonical, tmp)
        check.case(test_random, tmp)
        check.case(test_direct_path, tmp)
        check.case(test_plans, tmp)
        check.case(test_no_statistics, tmp)
        check.case(test_unsigned, tmp)
        check.case(test_resort, tmp)
        check.case(test_string_keys, tmp)
        check.case(test_string_columns, tmp)
        check.case(test_logical_types, tmp)
        check.case(test_materialize, tmp)
        if not QUICK:
            check.case(test_hash_plan_memory, tmp)
            check.case(test_memory_limit, tmp)
        check.case(test_huge_rowgroups, tmp)
        check.case(test_parquet_output, tmp)
        check.case(test_bad_input, tmp)
        check.case(test_output_safety, tmp)
        check.case(test_input_paths, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
