#!/usr/bin/python3
"""The graph skewjoin.dask would run for QN, without running it: tasks,
partials per tile, and the bytes tiles would fetch against the bytes they
need — the README's full-size figures.

    /usr/bin/python3 bench/dask_graph.py DATA [PIECE_ROWS TILE_ROWS BLOCK_ROWS]

DATA: a `skewjoin gen` output (its footers are read, no data); the sizes
default to the README's advice for s=1 (2^24, 2^24, 2^25).  The cluster is
taken to have 50 workers of 16 threads.  Bytes are estimated at 13.8 bytes
per partial entry (bench/dask_stages.py measures it) and one entry per left
row, spread evenly over the (key block, code range) cells.
"""
import collections
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))

import dask  # noqa: E402
import numpy as np  # noqa: E402

import skewjoin.dask as sd  # noqa: E402

QN = "df2_group,bucket,group1,group2,group3,group4"
BYTES_PER_ENTRY = 13.8


class Counting:
    """A stand-in for a distributed.Client: reports the graph, runs nothing."""

    def nthreads(self):
        return {w: 16 for w in range(50)}

    def compute(self, tasks, sync=True):
        self.tasks = tasks
        graph = dask.base.collections_to_dsk(tasks)
        self.kinds = collections.Counter((k[0] if isinstance(k, tuple) else k).rsplit("-", 1)[0].split("-")[0]
                                         for k in graph)
        return [0] * len(tasks)


def main():
    data = sys.argv[1]
    piece_rows, tile_rows, block_rows = (int(x) for x in (sys.argv[2:5] or (1 << 24, 1 << 24, 1 << 25)))
    qargs = (os.path.join(data, "df2.parquet"), "key", QN, "count(*),sum(value)", 1, None)
    t = time.perf_counter()
    plan = sd.Plan(os.path.join(data, "df1"), qargs)
    t_plan = time.perf_counter() - t
    client = Counting()
    with tempfile.TemporaryDirectory() as out:  # tiles would write here; none runs
        t = time.perf_counter()
        sd._run(plan, qargs, client, out, piece_rows, tile_rows, block_rows, sd.FETCH_ROWS)
        t_graph = time.perf_counter() - t
    fetched = [len(task.dask.dependencies[task.key]) for task in client.tasks]

    # the cells the graph cut the partials into, as _run computes them
    keys, rows = plan.rows_per_key()
    info = plan.info
    codes = 1
    for j in range(info.ncols):
        codes *= info.hi[j] - info.lo[j] + 1 + (1 if info.col_nullable[j] else 0)
    est = np.minimum(rows, codes)
    blocks = len(sd._key_blocks(keys, est, block_rows, True)) + 1
    flat, at = plan.grouping_keys, plan.grouping_at
    per_key = est[np.searchsorted(keys, flat)]
    acc = np.concatenate([[0.0], np.cumsum(per_key)])
    gest = np.minimum(acc[at[1:]] - acc[at[:-1]], codes)
    ranges = len(sd._code_splits(info, int(np.ceil(gest.max() / tile_rows)))) + 1
    cell_bytes = est.sum() / (blocks * ranges) * BYTES_PER_ENTRY

    print(f"{data}: {len(plan.pieces):,} pieces, plan {t_plan:.1f} s, graph built in {t_graph:.1f} s")
    print("tasks: " + ", ".join(f"{k} {v:,}" for k, v in sorted(client.kinds.items())))
    print(f"cells: {blocks} key blocks x {ranges} code ranges; partials {est.sum() * BYTES_PER_ENTRY / 1e9:.0f} GB")
    print(f"tiles fetch {sum(fetched):,} cells: {sum(fetched) * cell_bytes / 1e12:.1f} TB "
          f"(per tile mean {np.mean(fetched) * cell_bytes / 1e9:.2f} GB, max {max(fetched) * cell_bytes / 1e9:.1f} GB); "
          f"they need {per_key.sum() * BYTES_PER_ENTRY / 1e12:.2f} TB (each key once per grouping)")


if __name__ == "__main__":
    main()
