#!/usr/bin/python3
"""Seeds for fuzz_partial: real partials, each behind the sj_dist_info it
was made under (the fuzz target's input format), from skewjoin.dask's scan
and combine tasks over a small generated dataset, and combined ones with
every count near 2^63.

usage: seed_partials.py DATA_DIR OUT_DIR   (DATA_DIR from `skewjoin gen`)
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "python"))
import skewjoin.dask as sd  # noqa: E402
from sjpart import with_counts  # noqa: E402


def main(data, out):
    os.makedirs(out, exist_ok=True)
    n = 0
    for by, aggs in (("df2_group,bucket", "count(*),sum(value)"), ("df2_group,group1", "count(*),min(value)"),
                     ("df2_group,bucket,group1,group2,group3,group4", "count(*),sum(value),max(value)")):
        qargs = (os.path.join(data, "df2.parquet"), "key", by, aggs, 1, None)
        plan = sd.Plan(os.path.join(data, "df1"), qargs)
        for lo in (0, 20):
            pieces = [(f, rg) for f, rg, _, _ in plan.pieces[lo:lo + 6]]
            part = sd.scan_task(qargs, plan.info_bytes, pieces, ([], []))[0]
            whole = sd.combine_task(plan.info_bytes, part)
            # counts near 2^63: valid alone, past int64 when folded
            for blob in (part, whole, with_counts(whole, 2**62 + 1), with_counts(whole, 2**63 - 1)):
                with open(os.path.join(out, f"partial_{n:02d}"), "wb") as f:
                    f.write(plan.info_bytes + blob)
                n += 1
    print(f"{n} seeds in {out}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
