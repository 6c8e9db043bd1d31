#!/usr/bin/python3
"""The Parquet conformance corpus (../shared/parquet-testing): every `read`
file must print exactly its expected CSV through `skewjoin cat`, and every
`error` file must be refused cleanly: non-zero exit, a message on stderr, no
signal or sanitizer report, within 20 seconds. Failing files are listed by
name. Comparison follows the corpus README: headers identical, rows in
order, FLOAT/DOUBLE within 1e-12 relative (nan equals nan), NULL only NULL.

Environment: SKEWJOIN = the binary (default build/skewjoin).
Prints "corpus: N passed, N failed" last.
"""
import math
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SKEWJOIN = os.environ.get("SKEWJOIN", os.path.join(ROOT, "build", "skewjoin"))
CORPUS = os.path.join(ROOT, "..", "shared", "parquet-testing")


def parse_csv(text):
    """RFC 4180 rows; an unquoted empty field is None (NULL), a quoted one ""."""
    rows, row, i, n = [], [], 0, len(text)
    while i < n:
        if text[i] == '"':
            j, buf = i + 1, []
            while True:
                k = text.index('"', j)
                buf.append(text[j:k])
                if k + 1 < n and text[k + 1] == '"':
                    buf.append('"')
                    j = k + 2
                else:
                    i = k + 1
                    break
            row.append("".join(buf))
        else:
            j = i
            while j < n and text[j] not in ",\n":
                j += 1
            row.append(text[i:j] if j > i else None)
            i = j
        if i < n and text[i] == ",":
            i += 1
            if i == n or text[i] == "\n":
                row.append(None)
        if i < n and text[i] == "\n":
            rows.append(row)
            row = []
            i += 1
    if row:
        rows.append(row)
    return rows


def same_float(a, b):
    x, y = float(a), float(b)
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    if x == y:
        return True
    return abs(x - y) <= 1e-12 * max(abs(x), abs(y))


def compare(got, want, float_cols):
    g, w = parse_csv(got), parse_csv(want)
    if not w:
        return "expected file is empty"
    if not g or g[0] != w[0]:
        return f"header {g[0] if g else None} != {w[0]}"
    if len(g) != len(w):
        return f"{len(g) - 1} rows, expected {len(w) - 1}"
    for r, (gr, wr) in enumerate(zip(g[1:], w[1:]), 1):
        if len(gr) != len(wr):
            return f"row {r}: {len(gr)} fields, expected {len(wr)}"
        for c, (a, b) in enumerate(zip(gr, wr)):
            if (a is None) != (b is None):
                return f"row {r} column {w[0][c]}: {a!r} vs {b!r}"
            if a is None or a == b:
                continue
            if c in float_cols and same_float(a, b):
                continue
            return f"row {r} column {w[0][c]}: {a!r}, expected {b!r}"
    return None


def main():
    lines = open(os.path.join(CORPUS, "MANIFEST.tsv")).read().splitlines()
    header = lines[0].split("\t")
    passed, failed, failures = 0, 0, []
    for line in lines[1:]:
        entry = dict(zip(header, line.split("\t")))
        name = entry["file"]
        path = os.path.join(CORPUS, "files", name)
        try:
            p = subprocess.run([SKEWJOIN, "cat", path], capture_output=True, timeout=20)
        except subprocess.TimeoutExpired:
            failures.append(f"{name}: no answer within 20 s")
            failed += 1
            continue
        stderr = p.stderr.decode(errors="replace")
        crashed = p.returncode < 0 or "Sanitizer" in stderr or "runtime error" in stderr
        if entry["expectation"] == "error":
            ok = p.returncode > 0 and stderr.strip() and not crashed
            problem = None if ok else f"expected a clean error, got exit {p.returncode}: {stderr.strip()[:300]}"
        else:
            if p.returncode != 0 or crashed:
                problem = f"exit {p.returncode}: {stderr.strip()[:300]}"
            else:
                cols = [c.rsplit(":", 1)[1] for c in entry["columns"].split(";")] if entry["columns"] else []
                floats = {i for i, t in enumerate(cols) if t in ("FLOAT", "DOUBLE")}
                want = open(os.path.join(CORPUS, "expected", name + ".csv"), encoding="utf-8").read()
                problem = compare(p.stdout.decode("utf-8", errors="replace"), want, floats)
        if problem:
            failed += 1
            failures.append(f"{name}: {problem}")
        else:
            passed += 1
    for f in failures:
        print(f"FAIL {f}", file=sys.stderr)
    print(f"corpus: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
