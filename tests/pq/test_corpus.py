#!/usr/bin/python3
"""The Parquet conformance corpus (tests/data/parquet-testing): every `read`
file must print exactly its expected CSV through `skewjoin cat`, and every
`error` file must be refused cleanly: non-zero exit, a message on stderr, no
signal or sanitizer report, within 20 seconds. Comparison follows the
corpus README: headers identical, rows in order, FLOAT/DOUBLE within 1e-12
relative (nan equals nan), NULL only NULL.

Each file is a case: a file or expected CSV that is missing, or anything
that goes wrong in one case, fails that case under its name and the rest
still run.  Then the suite checks that of itself: run on a copy of the
corpus with one file and one expected CSV removed, it must fail exactly
those two cases, by name, and pass all the others.

Environment: SKEWJOIN = the binary (default build/skewjoin); SKEWJOIN_CORPUS
= another corpus directory (the self-check's copy).
Prints "corpus: N passed, N failed" last.
"""
import math
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SKEWJOIN = os.environ.get("SKEWJOIN", os.path.join(ROOT, "build", "skewjoin"))
CORPUS = os.environ.get("SKEWJOIN_CORPUS", os.path.join(ROOT, "tests", "data", "parquet-testing"))


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


def run_case(entry):
    """None when the file does what its manifest line expects; else why not."""
    name = entry["file"]
    path = os.path.join(CORPUS, "files", name)
    if not os.path.exists(path):
        return f"missing fixture {path}"
    try:
        p = subprocess.run([SKEWJOIN, "cat", path], capture_output=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "no answer within 20 s"
    stderr = p.stderr.decode(errors="replace")
    crashed = p.returncode < 0 or "Sanitizer" in stderr or "runtime error" in stderr
    if entry["expectation"] == "error":
        ok = p.returncode > 0 and stderr.strip() and not crashed
        return None if ok else f"expected a clean error, got exit {p.returncode}: {stderr.strip()[:300]}"
    if p.returncode != 0 or crashed:
        return f"exit {p.returncode}: {stderr.strip()[:300]}"
    cols = [c.rsplit(":", 1)[1] for c in entry["columns"].split(";")] if entry["columns"] else []
    floats = {i for i, t in enumerate(cols) if t in ("FLOAT", "DOUBLE")}
    expected = os.path.join(CORPUS, "expected", name + ".csv")
    if not os.path.exists(expected):
        return f"missing fixture {expected}"
    with open(expected, encoding="utf-8") as f:
        want = f.read()
    return compare(p.stdout.decode("utf-8", errors="replace"), want, floats)


def flipped_pages(entry):
    """A file that carries page checksums (PageHeader.crc, written here by
    parquet-mr and arrow): a byte flipped anywhere among its pages is never
    read as data: it is refused, most often as a checksum mismatch naming
    the column, row group and page.  (A flip in a page header field the
    reader does not use may leave the output as it was.)"""
    import random
    import re
    path = os.path.join(CORPUS, "files", entry["file"])
    with open(path, "rb") as f:
        data = f.read()
    clean = subprocess.run([SKEWJOIN, "cat", path], capture_output=True).stdout
    pages_end = len(data) - 8 - int.from_bytes(data[-8:-4], "little")
    rng = random.Random(entry["file"])
    mismatches, wrong = 0, []
    with tempfile.TemporaryDirectory() as tmp:
        flipped = os.path.join(tmp, "flipped.parquet")
        for _ in range(40):
            b = bytearray(data)
            at = rng.randrange(4, pages_end)
            b[at] ^= 1 << rng.randrange(8)
            with open(flipped, "wb") as f:
                f.write(b)
            p = subprocess.run([SKEWJOIN, "cat", flipped], capture_output=True, timeout=20)
            err = p.stderr.decode(errors="replace")
            if p.returncode < 0 or "Sanitizer" in err or "runtime error" in err:
                return f"byte {at}: crashed: {err.strip()[:200]}"
            if p.returncode == 0 and p.stdout != clean:
                wrong.append(at)
            if re.search(r"column '[^']+', row group \d+, page \d+: checksum mismatch", err):
                mismatches += 1
    if wrong:
        return f"flips read as data: bytes {wrong[:5]}"
    return None if mismatches >= 5 else f"only {mismatches} of 40 flips reported as a checksum mismatch"


def self_check(entries):
    """The suite on a copy missing one file and one expected CSV: those two
    cases fail, by name, and every other one still runs and passes."""
    reads = [e["file"] for e in entries if e["expectation"] == "read"]
    gone_file, gone_csv = reads[0], reads[1]
    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, "corpus")
        shutil.copytree(CORPUS, copy)
        os.remove(os.path.join(copy, "files", gone_file))
        os.remove(os.path.join(copy, "expected", gone_csv + ".csv"))
        p = subprocess.run([sys.executable, os.path.abspath(__file__)], capture_output=True, text=True,
                           env=dict(os.environ, SKEWJOIN_CORPUS=copy))
    want = f"corpus: {len(entries) - 2} passed, 2 failed"
    ok = (want in p.stdout and f"FAIL {gone_file}: missing fixture" in p.stderr
          and f"FAIL {gone_csv}: missing fixture" in p.stderr)
    return None if ok else f"want {want!r}, both named; got {p.stdout.strip()[-200:]!r} {p.stderr.strip()[-400:]!r}"


def main():
    passed, failed, failures = 0, 0, []
    try:
        with open(os.path.join(CORPUS, "MANIFEST.tsv")) as f:
            lines = f.read().splitlines()
    except OSError as e:
        print(f"FAIL the manifest: {e}", file=sys.stderr)
        print("corpus: 0 passed, 1 failed")
        return 1
    header = lines[0].split("\t")
    entries = [dict(zip(header, line.split("\t"))) for line in lines[1:]]
    cases = [(e["file"], lambda e=e: run_case(e)) for e in entries]
    if "SKEWJOIN_CORPUS" not in os.environ:
        cases.append(("self-check: a missing fixture fails its own case", lambda: self_check(entries)))
        cases += [(f"{e['file']}: flipped bytes", lambda e=e: flipped_pages(e))
                  for e in entries if "checksum" in e["file"] and e["expectation"] == "read"]
    for name, case in cases:
        try:
            problem = case()
        except Exception as e:  # one case's surprise is that case's failure
            problem = f"{type(e).__name__}: {e}"
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
