#!/usr/bin/python3
"""The Python package `skewjoin` (python/, over build/libskewjoin.so):

- read_parquet equals `skewjoin cat` on every file of the conformance
  corpus that cat reads (formatted in cat's conventions), and refuses every
  file cat refuses with skewjoin.Error (no crash);
- write_parquet's files read back equal, in DuckDB too;
- query equals the CLI's answer (Q1, Q2 on generated data, a NULL-holding
  table), refuses bad input with UsageError naming the column;
- partials: damaged ones refused; skewjoin.dask on Dask's local threaded
  scheduler (tiles sharing one tiler) equals DuckDB on every aggregate over
  integers of every size and sign and NULL-holding floats;
- dates, times, timestamps and decimals read as pandas' types with
  DuckDB's values;
- a ctypes declaration of another layout than the library's is refused at
  import.

Prints "package: N passed, N failed" last.
"""
import datetime
import glob
import io
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import _thread

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from harness import Checks, ROOT, SKEWJOIN, duck, huge_rowgroups, without_statistics  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "python"))
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import skewjoin  # noqa: E402
import skewjoin.dask  # noqa: E402
from sjpart import with_counts  # noqa: E402

CORPUS = os.path.join(ROOT, "tests", "data", "parquet-testing")


def fmt_float(v):
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return "%.17g" % v


def fmt_text(s):
    if s == "" or any(ch in s for ch in ',"\r\n'):
        return '"' + s.replace('"', '""') + '"'
    return s


def stored(v, info):
    """A value read_parquet turned into a date, time, timestamp or decimal,
    back to what the file stores as cat prints it: the integer, the hex of a
    FIXED_LEN_BYTE_ARRAY decimal's bytes."""
    lt, width = info
    if lt.kind == 4:
        unscaled = int(v.scaleb(lt.scale))
        return unscaled.to_bytes(width, "big", signed=True).hex() if width else unscaled
    per_unit = 86400 * 10 ** 9 if lt.kind == 1 else 10 ** (6, 3, 0)[lt.unit]  # nanoseconds per stored unit
    if isinstance(v, (pd.Timestamp, pd.Timedelta)):
        return v.value // per_unit
    if isinstance(v, datetime.datetime):  # beyond what pandas' nanoseconds reach
        return (v - datetime.datetime(1970, 1, 1)) // datetime.timedelta(microseconds=1) * 1000 // per_unit
    return (v - datetime.date(1970, 1, 1)).days


def as_cat(df, lts):
    """A DataFrame from read_parquet in `skewjoin cat`'s text; lts: the
    columns' annotations."""
    lines = [",".join(fmt_text(c) for c in df.columns)]
    cols = []
    for c in df.columns:
        col = df[c]
        out = []
        for v in col.tolist():
            if v is None or v is pd.NA or v is pd.NaT:
                out.append("")
            elif lts[c][0].kind:
                out.append(str(stored(v, lts[c])))
            elif isinstance(v, bool) or isinstance(v, np.bool_):
                out.append("true" if v else "false")
            elif isinstance(v, (int, np.integer)):
                out.append(str(int(v)))
            elif isinstance(v, (float, np.floating)):
                out.append(fmt_float(float(v)))
            elif isinstance(v, str):
                out.append(fmt_text(v))
            else:
                out.append(v.hex() if v else '""')
        cols.append(out)
    for row in zip(*cols):
        lines.append(",".join(row))
    return "\n".join(lines) + "\n"


def corpus(check):
    lines = open(os.path.join(CORPUS, "MANIFEST.tsv")).read().splitlines()
    header = lines[0].split("\t")
    for line in lines[1:]:
        name = dict(zip(header, line.split("\t")))["file"]
        path = os.path.join(CORPUS, "files", name)
        p = subprocess.run([SKEWJOIN, "cat", path], capture_output=True, timeout=60)
        try:
            df = skewjoin.read_parquet(path)
            with skewjoin._opened(path) as (_, infos):
                lts = {i.name.decode(): (type(i.lt).from_buffer_copy(i.lt), i.type_length if i.type == 7 else 0)
                       for i in infos}  # copies: the infos go with the file
            got, problem = as_cat(df, lts).encode("utf-8", "surrogateescape"), None
        except skewjoin.Error as e:
            got, problem = None, str(e)
        if p.returncode == 0:
            check(got == p.stdout, f"read_parquet {name}: differs from cat" + (f" ({problem})" if problem else ""))
        else:
            check(problem is not None and problem.strip(), f"read_parquet {name}: cat refuses it, read_parquet did not")


def paths(check, tmp):
    """Paths as the CLI reads them (sj_list): an existing file or directory is
    itself whatever characters its name holds; only a path that does not
    exist is a glob; a directory's temporaries and dotfiles are not read."""
    odd = os.path.join(tmp, "d[1]")
    os.makedirs(odd)
    skewjoin.write_parquet(pd.DataFrame({"a": np.array([7], dtype=np.int64)}), os.path.join(odd, "x[12].parquet"))
    skewjoin.write_parquet(pd.DataFrame({"a": np.array([1], dtype=np.int64)}), os.path.join(odd, "x1.parquet"))
    open(os.path.join(odd, ".hidden.parquet"), "w").write("not parquet")
    got = skewjoin.read_parquet(os.path.join(odd, "x[12].parquet"))["a"].tolist()
    check(got == [7], f"read_parquet of x[12].parquet reads that file, not x1.parquet: {got}")
    got = sorted(skewjoin.read_parquet(odd)["a"].tolist())
    check(got == [1, 7], f"read_parquet of the directory d[1]: its two files, no dotfile: {got}")
    got = sorted(skewjoin.read_parquet(os.path.join(glob.escape(odd), "x?.parquet"))["a"].tolist())
    check(got == [1], f"a path that does not exist is a glob (d[1] escaped in it): {got}")
    try:
        skewjoin.read_parquet(os.path.join(tmp, "nothing*.parquet"))
        check(False, "a glob that matches nothing is an error")
    except skewjoin.UsageError as e:
        check("no such file" in str(e), f"a glob that matches nothing: {e}")


def round_trip(check, tmp):
    df = pd.DataFrame({
        "key": np.array([3, 1, 2, 3, -(2 ** 62)], dtype=np.int64),
        "value": np.array([0.5, -1.25, float("nan"), 1e300, 0.0]),
        "maybe": pd.array([1, None, 3, None, 5], dtype="Int64"),
        "small": np.array([1, 2, 3, 4, 5], dtype=np.int32),
    })
    path = os.path.join(tmp, "rt.parquet")
    skewjoin.write_parquet(df, path)
    back = skewjoin.read_parquet(path)
    check(list(back.columns) == list(df.columns), "write_parquet: column names")
    check(back["key"].tolist() == df["key"].tolist(), "write_parquet: int64 values")
    # pandas' missing value in a float column (NaN) is written as NULL, as pyarrow's from_pandas does
    check(back["value"].isna().tolist() == [False, False, True, False, False] and
          back["value"].dropna().tolist() == [0.5, -1.25, 1e300, 0.0], "write_parquet: doubles, NaN as NULL")
    check(back["maybe"].isna().tolist() == [False, True, False, True, False], "write_parquet: NULLs")
    check(back["small"].tolist() == [1, 2, 3, 4, 5], "write_parquet: int32 widened to int64")
    rows = duck(f"SELECT key, maybe FROM read_parquet('{path}')")[0]
    check([None if r["maybe"] is None else int(r["maybe"]) for r in rows] == [1, None, 3, None, 5],
          "write_parquet: DuckDB reads the NULLs")
    check([int(r["key"]) for r in rows] == df["key"].tolist(), "write_parquet: DuckDB reads the keys")
    try:
        skewjoin.write_parquet(pd.DataFrame({"name": ["a", "b"]}), os.path.join(tmp, "bad.parquet"))
        check(False, "write_parquet of a text column: no error")
    except skewjoin.UsageError as e:
        check("'name'" in str(e), f"write_parquet's error names the column: {e}")
    check(not os.path.exists(os.path.join(tmp, "bad.parquet")), "write_parquet: nothing left behind on error")


def queries(check, tmp):
    data = os.path.join(tmp, "s0.0002")
    os.makedirs(data)
    subprocess.run([SKEWJOIN, "gen", "--scale", "0.0002", data], check=True, capture_output=True)
    df1, df2 = os.path.join(data, "df1"), os.path.join(data, "df2.parquet")
    for by in ("df2_group", "df2_group,group1"):
        cli = os.path.join(tmp, "cli.parquet")
        subprocess.run([SKEWJOIN, "query", "--left", df1, "--right", df2, "--on", "key", "--by", by,
                        "--agg", "count(*),sum(value),min(value)", "--out", cli], check=True)
        got = skewjoin.query(df1, df2, "key", by.split(","), "count(*),sum(value),min(value)")
        want = skewjoin.read_parquet(cli)
        check(got.equals(want), f"query --by {by}: the same answer as the CLI")
    stops(check, tmp, df1, df2, want)
    got, plan = skewjoin.query(df1, df2, "key", None, "count(*)", explain=True)
    check(len(got) == 1 and "plan:" in plan, "query without by: one row and a plan text")
    # A string by-column: the answer's strings as DuckDB has them; Dask refuses it.
    named = os.path.join(tmp, "named.parquet")
    duck(f"COPY (SELECT key, 'g-' || (df2_group % 7)::VARCHAR AS name FROM read_parquet('{df2}')) "
         f"TO '{named}' (FORMAT parquet)")
    got = skewjoin.query(df1, named, "key", ["name"], "count(*),sum(value)")
    want = duck(f"SELECT name, count(*) AS n, sum(value) AS s FROM read_parquet('{df1}/*.parquet') "
                f"JOIN read_parquet('{named}') USING (key) GROUP BY name ORDER BY name")[0]
    check(got["name"].tolist() == [r["name"] for r in want] and got["count"].tolist() == [int(r["n"]) for r in want]
          and all(abs(a - float(r["s"])) <= 1e-9 * abs(a) for a, r in zip(got["sum_value"], want)),
          "query --by a string column: DuckDB's answer")
    try:
        skewjoin.dask.join_aggregate(df1, named, "key", ["name"], "count(*)")
        check(False, "skewjoin.dask --by a string column: no error")
    except skewjoin.UsageError as e:
        check("skewjoin.query" in str(e) and "name" in str(e), f"skewjoin.dask refuses a string by-column: {e}")
    try:
        skewjoin.query(df1, df2, "key", ["nosuch"], "count(*)")
        check(False, "query --by nosuch: no error")
    except skewjoin.UsageError as e:
        check("nosuch" in str(e), f"query's error names the column: {e}")
    try:
        skewjoin.read_parquet(os.path.join(tmp, "missing.parquet"))
        check(False, "read_parquet of a missing file: no error")
    except skewjoin.Error as e:
        check("missing.parquet" in str(e), f"read_parquet's error names the file: {e}")


def stops(check, tmp, df1, df2, want):
    """A stop request ends its query only: the next query in the process
    starts clean.  Ctrl-C (KeyboardInterrupt) stops a running query, which
    leaves no file behind."""
    by, aggs = ["df2_group", "group1"], "count(*),sum(value),min(value)"
    stop = skewjoin.Stop()
    stop.request()
    try:
        skewjoin.query(df1, df2, "key", by, aggs, stop=stop)
        check(False, "a query whose stop was requested: no error")
    except skewjoin.Error as e:
        check(e.code == 5 and "interrupted" in str(e), f"a stopped query fails with SJ_EINTR: {e}")
    check(skewjoin.query(df1, df2, "key", by, aggs).equals(want), "the query after a stopped one: the CLI's answer")
    out = os.path.join(tmp, "interrupted.csv")
    # Python's own Ctrl-C handler, as in a terminal: a shell starts background
    # jobs with SIGINT ignored, and then interrupt_main does nothing.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    try:
        skewjoin.query(df1, df2, "key", ["df2_group", "bucket", "group1", "group2"], "count(*),sum(value)", out=out,
                       threads=1)
        check(False, "Ctrl-C during a query: it ran to the end")
    except KeyboardInterrupt:
        check(not os.path.exists(out) and not glob.glob(out + ".*.tmp"), "Ctrl-C during a query: no file left")
    finally:
        timer.cancel()
    check(skewjoin.query(df1, df2, "key", by, aggs).equals(want), "the query after Ctrl-C: the CLI's answer")


def partials(check, tmp):
    """Partials are checked like untrusted files: a damaged one is an error,
    never a crash or a wrong answer passed on."""
    import skewjoin.dask as sd
    data = os.path.join(tmp, "s0.0002")
    qargs = (os.path.join(data, "df2.parquet"), "key", "df2_group,bucket", "count(*),sum(value)", 1, None)
    plan = sd.Plan(os.path.join(data, "df1"), qargs)
    good = sd.scan_task(qargs, plan.info_bytes, [(f, rg) for f, rg, _, _ in plan.pieces[:40]], ([], []))[0]
    whole = sd.combine_task(plan.info_bytes, good)
    check(sd.combine_task(plan.info_bytes, whole) == whole, "combining a combined partial changes nothing")
    rng = np.random.default_rng(7)
    damaged = [good[:n] for n in (0, 7, 100, len(good) // 2, len(good) - 1)]
    for _ in range(200):
        b = bytearray(good)
        at = int(rng.integers(0, len(b)))
        b[at] ^= 1 << int(rng.integers(0, 8))
        damaged.append(bytes(b))
    # A flip that changes no content (a zstd frame header's window size) may
    # pass, but only with the undamaged partial's answer.
    refused = same = 0
    for d in damaged:
        try:
            same += sd.combine_task(plan.info_bytes, d) == whole
        except skewjoin.Error:
            refused += 1
    check(refused + same == len(damaged) and refused >= len(damaged) * 0.95,
          f"damaged partials: {refused} refused, {same} with the undamaged answer, of {len(damaged)}")
    # A header that claims more runs than its frames' bytes can hold is refused
    # before anything is allocated (it asked for 1.5 TB; found by fuzz_partial).
    huge = bytearray(good)
    huge[408:416] = (2**40).to_bytes(8, "little")  # part_header.nruns, after magic..state_float
    huge[416:424] = (2**41).to_bytes(8, "little")  # nentries, so that nruns <= nentries holds
    try:
        sd.combine_task(plan.info_bytes, bytes(huge))
        check(False, "a partial claiming 2^40 runs: no error")
    except skewjoin.Error as e:
        check("contradict" in str(e), f"a partial claiming 2^40 runs is refused: {e}")
    # Counts near 2^63: each one is valid, their sum or product is not; an
    # overflow is an error, never a wrapped count in an answer.
    same = sd.combine_task(plan.info_bytes, with_counts(whole, 1))
    check(same == sd.combine_task(plan.info_bytes, whole), "a partial re-framed by the test reads as the original")
    near = sd.combine_task(plan.info_bytes, with_counts(whole, 2**62 + 1))
    check(near != whole and sd.combine_task(plan.info_bytes, near) == near,
          "a partial of counts 2^62 + 1 is valid alone")
    try:
        sd.combine_task(plan.info_bytes, near, near)
        check(False, "combining two partials of counts 2^62 + 1: no error")
    except skewjoin.Error as e:
        check("passes int64" in str(e), f"combining counts past 2^63 is refused: {e}")
    try:
        rows = sd.tile_task(qargs, plan.info_bytes, plan.pieces[0][0], 0, len(plan.grouping_at) - 1, 0,
                           1 << plan.info.code_bits, None, near)
        check(False, f"a tile folding counts of 2^62 + 1 across keys: no error ({len(rows)} bytes of answer)")
    except skewjoin.Error as e:
        check("passes int64" in str(e), f"a tile folding counts past 2^63 is refused: {e}")
    other = sd.Plan(os.path.join(data, "df1"), (qargs[0], "key", "df2_group", "count(*)", 1, None))
    try:
        sd.combine_task(other.info_bytes, good)
        check(False, "a partial of another plan: no error")
    except skewjoin.UsageError as e:
        check("another plan" in str(e), f"a partial of another plan is refused: {e}")


def splits(check, tmp):
    """sj_dist_split cuts a block's cells by key and code range: what it
    cuts out, combined, is what the cells hold, nothing lost or doubled."""
    import skewjoin.dask as sd
    data = os.path.join(tmp, "s0.0002")
    qargs = (os.path.join(data, "df2.parquet"), "key", "df2_group,bucket,group1", "count(*),sum(value)", 1, None)
    plan = sd.Plan(os.path.join(data, "df1"), qargs)
    cells = sd.scan_task(qargs, plan.info_bytes, [(f, rg) for f, rg, _, _ in plan.pieces[:60]],
                         ([], sd._code_splits(plan.info, 4096)))
    cells = [c for c in cells if len(c) > min(map(len, cells))]  # the code ranges that hold entries, in order
    n = len(cells)
    whole = sd.combine_task(plan.info_bytes, *cells)
    keys = sorted(int(k) for k in np.unique(plan.grouping_keys))
    low, high = keys[: len(keys) // 2], keys[len(keys) // 2:]
    everything = sd.split_task(plan.info_bytes, [(keys, 0, n)], None, *cells)
    check(n >= 3 and sd.combine_task(plan.info_bytes, *everything) == whole,
          "split: every key of every code range, combined, is the cells combined")
    by_key = sd.split_task(plan.info_bytes, [(low, 0, n), (high, 0, n)], None, *cells)
    by_range = sd.split_task(plan.info_bytes, [(keys, 0, 1), (keys, 1, n)], None, *cells)
    check(sd.combine_task(plan.info_bytes, *by_key) == whole and sd.combine_task(plan.info_bytes, *by_range) == whole,
          "split: cut by key or by code range, the pieces combine to the cells' partial")
    check(sd.combine_task(plan.info_bytes, sd.split_task(plan.info_bytes, [(low, 0, 1)], None, whole)[0],
                          sd.split_task(plan.info_bytes, [(high, 0, 1)], None, whole)[0]) == whole,
          "split: a combined partial cut by key comes back whole")
    for wants, what in (([(keys[::-1], 0, n)], "keys must ascend"), ([(keys, 0, n + 1)], "no such partials")):
        try:
            sd.split_task(plan.info_bytes, wants, None, *cells)
            check(False, f"split with bad wants ({what}): no error")
        except skewjoin.UsageError as e:
            check(what in str(e), f"split refuses bad wants: {e}")
    damaged = bytearray(cells[1])
    damaged[len(damaged) // 3] ^= 0x10
    try:
        cut = sd.split_task(plan.info_bytes, [(keys, 0, n)], None, cells[0], bytes(damaged))
        sd.combine_task(plan.info_bytes, *cut)
        check(False, "a damaged cell through split and combine: no error")
    except skewjoin.Error as e:
        check("partial" in str(e), f"a damaged cell through split is refused: {e}")


def dist_aggregates(check, tmp):
    """Every kind of state word through the partial format (zero, small,
    large, negative int128 sums, floats, NULLs), against DuckDB."""
    import dask
    import skewjoin.dask as sd
    rng = np.random.default_rng(11)
    n = 20000
    left_dir = os.path.join(tmp, "agg_left")
    os.makedirs(left_dir)
    keys = rng.integers(0, 40, n)
    keys[: n // 2] = 3  # a hot key
    x = rng.integers(-(1 << 62), 1 << 62, n)
    small = rng.random(n) < 0.5
    x[small] = rng.integers(-1000, 1000, int(small.sum()))
    y = np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n))  # NaN is written as NULL
    left = pd.DataFrame({"key": keys, "g": rng.integers(0, 7, n), "x": x, "y": y})
    for i in range(4):
        skewjoin.write_parquet(left.iloc[i * n // 4:(i + 1) * n // 4].reset_index(drop=True),
                               os.path.join(left_dir, f"part{i}.parquet"))
    right = os.path.join(tmp, "agg_right.parquet")
    # groupings of a fifth of the keys, and one of every key (as in the notebook)
    skewjoin.write_parquet(pd.DataFrame({"key": np.concatenate([np.arange(45) % 42, np.arange(42)]),
                                         "rg": np.concatenate([np.arange(45) % 5, np.full(42, 5)])}), right)
    aggs = "count(*),sum(x),min(x),max(x),count(y),sum(y),avg(y)"
    sizes = dict(piece_rows=3000, tile_rows=3, block_rows=50, fetch_rows=100)  # partials over fetch_rows: slices
    with dask.config.set(scheduler="threads", num_workers=2):
        got = sd.join_aggregate(left_dir, right, "key", ["rg", "g"], aggs, client=None, **sizes)
    qargs = (right, "key", "rg,g", aggs, 1, None)
    lay = sd.Layout(sd.Plan(left_dir, qargs), sizes["piece_rows"], sizes["tile_rows"], sizes["block_rows"],
                    sizes["fetch_rows"], 2)
    no_stats = sd.Plan(left_dir, qargs)
    no_stats.pieces = [(f, rg, n, None) for f, rg, n, _ in no_stats.pieces]  # as from files without statistics
    blind = sd.Layout(no_stats, sizes["piece_rows"], sizes["tile_rows"], sizes["block_rows"], sizes["fetch_rows"], 2)
    check(all(t[4] == [0] and not t[5] for t in blind.tiles),
          "without key statistics every tile fetches the one block's cells")
    check(any(t[4] for t in lay.tiles) and any(t[5] for t in lay.tiles) and lay.nranges > 1,
          f"the graph has tiles fetching cells and tiles fetching split slices ({len(lay.splits)} splits, "
          f"{lay.nranges} code ranges)")
    want = duck(f"SELECT rg, g, count(*) AS count, sum(x)::VARCHAR AS sx, min(x) AS mn, max(x) AS mx, count(y) AS cy, "
                f"sum(y) AS sy, avg(y) AS ay FROM '{left_dir}/*.parquet' JOIN '{right}' USING (key) "
                f"GROUP BY rg, g ORDER BY rg, g")[0]
    ok = len(got) == len(want)
    for (_, r), w in zip(got.iterrows(), want):
        ok &= (int(r["rg"]), int(r["g"]), int(r["count"])) == (int(w["rg"]), int(w["g"]), int(w["count"]))
        ok &= int(r["sum_x"]) == int(w["sx"]) and int(r["min_x"]) == int(w["mn"]) and int(r["max_x"]) == int(w["mx"])
        ok &= int(r["count_y"]) == int(w["cy"])
        for col, ref in (("sum_y", w["sy"]), ("avg_y", w["ay"])):
            ok &= math.isclose(float(r[col]), float(ref), rel_tol=1e-9, abs_tol=1e-9)
    check(ok and len(got) > 20, f"skewjoin.dask, every aggregate over big, negative and NULL values: "
                                f"{len(got)} rows equal DuckDB's")
    bare_dir, bare_right = os.path.join(tmp, "agg_left_bare"), os.path.join(tmp, "agg_right_bare.parquet")
    os.makedirs(bare_dir)
    for i in range(4):
        without_statistics(os.path.join(left_dir, f"part{i}.parquet"), os.path.join(bare_dir, f"part{i}.parquet"))
    without_statistics(right, bare_right)
    with dask.config.set(scheduler="threads", num_workers=2):
        bare = sd.join_aggregate(bare_dir, bare_right, "key", ["rg", "g"], aggs, client=None, **sizes)
    check(bare.to_csv(index=False) == got.to_csv(index=False),
          "skewjoin.dask on the same files written without statistics: the same answer")
    with dask.config.set(scheduler="threads", num_workers=2):  # left first: run right first, re-sorted
        swapped = sd.join_aggregate(left_dir, right, "key", ["g", "rg"], aggs, client=None, **sizes)
    rc = subprocess.run([SKEWJOIN, "query", "--left", left_dir, "--right", right, "--on", "key", "--by", "g,rg",
                         "--agg", aggs], capture_output=True, text=True)
    check(rc.returncode == 0 and swapped.to_csv(index=False, float_format="%.12g").replace("<NA>", "") ==
          pd.read_csv(io.StringIO(rc.stdout)).to_csv(index=False, float_format="%.12g"),
          "skewjoin.dask --by g, rg (the left's column first): the CLI's answer, in its order")
    try:  # x spans 2^63: the CLI reads it as ranks, which the tasks do not
        sd.join_aggregate(left_dir, right, "key", ["rg", "x"], "count(*)", client=None, **sizes)
        check(False, "skewjoin.dask --by a column too wide to pack: no error")
    except skewjoin.UsageError as e:
        check("too wide" in str(e) and "skewjoin.query" in str(e), f"skewjoin.dask refuses a column too wide to pack: {e}")
    rc = subprocess.run([SKEWJOIN, "query", "--left", left_dir, "--right", right, "--on", "key", "--by", "rg,x",
                         "--explain"], capture_output=True, text=True)
    check(rc.returncode == 0 and "ranks  x:" in rc.stderr, f"the CLI reads x as ranks: {rc.stderr.strip()[:300]!r}")


def logical_values(check, tmp):
    """Dates, timestamps (UTC-adjusted too), times and decimals, written by
    DuckDB: read_parquet gives pandas' datetime64/timedelta64 and exact
    Decimals with DuckDB's values (dates past 2262, where nanoseconds do not
    reach, as datetime.date); query() gives DuckDB's decimal sums."""
    path, right = os.path.join(tmp, "logical.parquet"), os.path.join(tmp, "logical-r.parquet")
    duck(f"""COPY (SELECT (i % 3)::BIGINT AS k, CASE WHEN i = 2 THEN NULL ELSE DATE '1969-12-30' + i::INTEGER END AS d,
                 TIMESTAMP '2024-02-29 23:59:59.5' + INTERVAL (i) SECOND AS ts,
                 TIMESTAMPTZ '2024-06-01 12:00:00+00' + INTERVAL (i) MINUTE AS tz, TIME '10:11:12.25' AS t,
                 ((i - 3) * 1.05)::DECIMAL(10,2) AS price, DATE '2500-01-01' + i::INTEGER AS far
             FROM range(6) t(i)) TO '{path}' (FORMAT parquet)""",
         f"COPY (SELECT (j % 3)::BIGINT AS k FROM range(4) t(j)) TO '{right}' (FORMAT parquet)")
    df = skewjoin.read_parquet(path)
    dtypes = {c: str(t) for c, t in df.dtypes.items()}
    check(dtypes == {"k": "Int64", "d": "datetime64[ns]", "ts": "datetime64[ns]", "tz": "datetime64[ns, UTC]",
                     "t": "timedelta64[ns]", "price": "object", "far": "object"}, f"read_parquet's dtypes: {dtypes}")
    want = duck(f"""SELECT date_diff('day', DATE '1970-01-01', d) AS d, epoch_us(ts) AS ts, epoch_us(tz) AS tz,
                       price::VARCHAR AS price, far::VARCHAR AS far FROM read_parquet('{path}')""")[0]
    got = [{"d": None if pd.isna(r.d) else str((r.d - pd.Timestamp(0)).days), "ts": str(r.ts.value // 1000),
            "tz": str(r.tz.value // 1000), "price": str(r.price), "far": r.far.isoformat()}
           for r in df.itertuples()]
    check(got == [{k: None if v is None else str(v) for k, v in w.items()} for w in want] and
          (df["t"] == pd.Timedelta("10:11:12.25")).all(), f"read_parquet's values: {got} vs DuckDB {want}")
    answer = skewjoin.query(path, right, "k", ["k"], "sum(price),min(d)")
    sums = duck(f"""SELECT sum(price)::VARCHAR AS s FROM read_parquet('{path}') AS l
                    JOIN read_parquet('{right}') AS r USING (k) GROUP BY k ORDER BY k""")[0]
    check([str(v) for v in answer["sum_price"]] == [w["s"] for w in sums] and
          str(answer["min_d"].dtype) == "datetime64[ns]", f"query's decimal sums: {answer.to_dict()} vs DuckDB {sums}")
    by, aggs = ["k", "d"], "count(*),sum(price),min(ts),max(tz),max(t),min(price)"
    on_dask = skewjoin.dask.join_aggregate(path, right, "k", by, aggs, client=None)  # tiles give CSV, typed here
    alone = skewjoin.query(path, right, "k", by, aggs)
    check(on_dask.equals(alone), f"skewjoin.dask's annotated columns: {on_dask.dtypes.to_dict()} vs "
          f"{alone.dtypes.to_dict()}")


def huge_rowgroups_refused(check, tmp):
    """read_parquet of a valid file whose row groups declare 2^31 - 1 rows
    each (32 GiB as values, 2.5 MB on disk) raises the library's out-of-
    memory error naming the row group, before anything is allocated."""
    path = os.path.join(tmp, "huge.parquet")
    huge_rowgroups(path)
    try:
        skewjoin.read_parquet(path)
        check(False, "read_parquet of row groups of 2^31 - 1 rows returned")
    except skewjoin.Error as e:
        check(e.code == 3 and "row group 0 holds 2147483647 rows" in str(e), f"read_parquet of huge row groups: {e}")
    os.remove(path)


def layout_guard(check, tmp):
    """A package whose ctypes declaration of a struct differs from the
    library's (pq_column_spec without its last field) is refused at import,
    naming the struct, instead of writing through a shifted array."""
    import shutil
    pkg = os.path.join(tmp, "pkg")
    shutil.copytree(os.path.join(ROOT, "python", "skewjoin"), os.path.join(pkg, "skewjoin"))
    lib_py = os.path.join(pkg, "skewjoin", "_lib.py")
    text = open(lib_py).read()
    short = text.replace('("optional", ctypes.c_int), ("lt", pq_logical)]', '("optional", ctypes.c_int)]')
    check(short != text, "the layout guard's test found pq_column_spec's declaration")
    open(lib_py, "w").write(short)
    lib = os.environ.get("SKEWJOIN_LIB", os.path.join(ROOT, "build", "libskewjoin.so"))
    env = dict(os.environ, SKEWJOIN_LIB=os.path.abspath(lib))  # the import runs in the copy's directory
    rc = subprocess.run([sys.executable, "-c", "import skewjoin"], cwd=pkg, env=env, capture_output=True, text=True)
    check(rc.returncode != 0 and "ImportError" in rc.stderr and "pq_column_spec" in rc.stderr,
          f"a struct declared with another layout is refused at import: {rc.stderr.strip()[-200:]!r}")


def main():
    check = Checks("package")
    with tempfile.TemporaryDirectory() as tmp:
        check.case(corpus, check)
        check.case(round_trip, check, tmp)
        check.case(paths, check, tmp)
        check.case(queries, check, tmp)
        check.case(partials, check, tmp)
        check.case(splits, check, tmp)
        check.case(dist_aggregates, check, tmp)
        check.case(logical_values, check, tmp)
        check.case(huge_rowgroups_refused, check, tmp)
        check.case(layout_guard, check, tmp)
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
