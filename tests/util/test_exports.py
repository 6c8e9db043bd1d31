#!/usr/bin/python3
"""The shared library exports only the public API: every dynamic symbol
that build/libskewjoin.so defines starts with sj_, pq_ or gen_ (those of
include/skewjoin.h), and internal names such as list_morsels or chunk_init
stay hidden, so they cannot collide with another library's in a process
that loads this one (Python with its extensions).

Prints "exports: N passed, N failed" last.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    passed = failed = 0

    def check(ok, what):
        nonlocal passed, failed
        passed, failed = passed + bool(ok), failed + (not ok)
        if not ok:
            print("FAIL", what, file=sys.stderr)

    lib = os.path.join(ROOT, "build", "libskewjoin.so")
    out = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True, check=True).stdout
    names = [line.split()[-1] for line in out.splitlines() if line.strip()]
    public = re.compile(r"^(sj_|pq_|gen_)")
    others = [n for n in names if not public.match(n)]
    check(not others, f"only sj_, pq_ and gen_ names are exported; also: {others[:20]}")
    header = open(os.path.join(ROOT, "include", "skewjoin.h")).read()
    declared = set(re.findall(r"\b((?:sj|pq|gen)_\w+)\s*\(", header))
    check(declared and declared <= set(names), f"every function skewjoin.h declares is exported; missing: "
                                               f"{sorted(declared - set(names))}")
    check(set(names) <= declared, f"nothing but what skewjoin.h declares: {sorted(set(names) - declared)}")
    for internal in ("list_morsels", "chunk_init", "read_columns", "sj_pool_run", "np_refill"):
        check(internal not in names, f"{internal} is hidden")
    print(f"exports: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
