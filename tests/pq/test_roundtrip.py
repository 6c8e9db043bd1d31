#!/usr/bin/python3
"""The reader against files other engines write, and against our own writer.

- DuckDB writes a table with nulls, strings (empty, quoted, multi-line),
  signed and unsigned integers, floats, doubles and booleans, with every
  codec it has, data pages v1 and v2, with and without dictionaries, in
  several row groups; `skewjoin cat` must print what DuckDB reads.
- Polars writes the same with each of its codecs.
- Everything `skewjoin gen` writes must read back equal to DuckDB's reading.
Prints "roundtrip: N passed, N failed" last.
"""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
from harness import ORACLE, SKEWJOIN, Checks, duck  # noqa: E402
from test_corpus import compare  # noqa: E402

check = Checks("roundtrip")


TABLE = """SELECT
  i::INTEGER AS i32,
  CASE WHEN i % 7 = 0 THEN NULL ELSE (i * 1000003 - 5000000000)::BIGINT END AS i64,
  (i * 2654435761 % 4294967296)::UINTEGER AS u32,
  CASE WHEN i % 5 = 0 THEN NULL ELSE i / 7.0 END::DOUBLE AS dbl,
  (i / 3.0)::FLOAT AS flt,
  CASE WHEN i % 11 = 0 THEN NULL ELSE i % 3 = 0 END AS flag,
  CASE i % 6 WHEN 0 THEN NULL WHEN 1 THEN '' WHEN 2 THEN 'a,b' WHEN 3 THEN 'say "hi"'
       WHEN 4 THEN 'line' || chr(10) || 'two' ELSE 'k' || (i % 50) END AS txt,
  'same' AS const
FROM range(10000) t(i)"""


def expected_csv(path, tmp):
    """DuckDB's reading of path, as CSV; floats as their exact doubles."""
    out = os.path.join(tmp, "want.csv")
    duck(f"COPY (SELECT * REPLACE (flt::DOUBLE AS flt) FROM read_parquet('{path}')) TO '{out}' "
         f"(HEADER true, QUOTE '\"', NULLSTR '')")
    return open(out, encoding="utf-8").read()


def reads_like_duckdb(name, path, tmp):
    """skewjoin cat prints what DuckDB reads from path."""
    p = subprocess.run([SKEWJOIN, "cat", path], capture_output=True)
    if check(p.returncode == 0, f"{name}: exit {p.returncode} {p.stderr.decode(errors='replace')}"):
        problem = compare(p.stdout.decode("utf-8", errors="replace"), expected_csv(path, tmp), {3, 4})
        check(problem is None, f"{name}: {problem}")


def test_duckdb_files(tmp):
    for codec in ("uncompressed", "snappy", "gzip", "zstd", "lz4"):
        for version in ("v1", "v2"):
            for dictionary in (True, False):
                path = os.path.join(tmp, f"d_{codec}_{version}_{dictionary}.parquet")
                opts = f"FORMAT parquet, COMPRESSION {codec}, PARQUET_VERSION {version}, ROW_GROUP_SIZE 2048"
                if not dictionary:
                    opts += ", DICTIONARY_SIZE_LIMIT 1"
                duck(f"COPY ({TABLE}) TO '{path}' ({opts})")
                reads_like_duckdb(f"DuckDB {codec} {version} dictionary={dictionary}", path, tmp)


def test_polars_files(tmp):
    src = os.path.join(tmp, "src.parquet")
    duck(f"COPY ({TABLE}) TO '{src}' (FORMAT parquet)")
    for codec in ("uncompressed", "snappy", "gzip", "lz4", "zstd"):
        path = os.path.join(tmp, f"p_{codec}.parquet")
        p = subprocess.run(["node", "-e", f"""
            const pl = require('nodejs-polars');
            const df = pl.readParquet({src!r});
            df.writeParquet({path!r}, {{compression: {codec!r}}});"""],
                           cwd=ORACLE, capture_output=True, text=True)
        if check(p.returncode == 0, f"Polars could not write {codec}: {p.stderr[-300:]}"):
            reads_like_duckdb(f"Polars {codec}", path, tmp)


def test_generated_files(tmp):
    out = os.path.join(tmp, "gen")
    subprocess.run([SKEWJOIN, "gen", "--scale", "0.0002", "--keys", "40", "--layout", "rows:3000", out],
                   check=True, capture_output=True)
    files = sorted(os.listdir(os.path.join(out, "df1")))
    for f in files[:4] + [os.path.join("..", "df2.parquet")]:
        path = os.path.join(out, "df1", f)
        p = subprocess.run([SKEWJOIN, "cat", path], capture_output=True, text=True)
        if check(p.returncode == 0, f"gen {f}: exit {p.returncode} {p.stderr}"):
            want = os.path.join(tmp, "gen.csv")
            duck(f"COPY (SELECT * FROM read_parquet('{path}')) TO '{want}' (HEADER true)")
            problem = compare(p.stdout, open(want).read(), {6})
            check(problem is None, f"gen {f}: {problem}")


def main():
    tmp = tempfile.mkdtemp(prefix="sj-rt-")
    try:
        check.case(test_duckdb_files, tmp)
        check.case(test_polars_files, tmp)
        check.case(test_generated_files, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
