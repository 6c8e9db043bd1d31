#!/usr/bin/python3
"""The graph skewjoin.dask would run for QN, without running it: tasks,
and the bytes each stage would move against the bytes tiles need — the
README's full-size figures.

    /usr/bin/python3 bench/dask_graph.py DATA [PIECE_ROWS TILE_ROWS BLOCK_ROWS]

DATA: a `skewjoin gen` output (its footers are read, no data); the sizes
default to the README's advice for s=1 (2^24, 2^24, 2^25).  The cluster is
taken to have 50 workers of 16 threads.  Bytes are estimated at 13.8 bytes
per partial entry (bench/dask_stages.py measures it) and one entry per left
row, a key's entries spread evenly over the code ranges.
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

    def compute(self, final, sync=True):
        graph = dict(dask.base.collections_to_dsk([final]))
        self.kinds = collections.Counter(k[0] for k in graph)
        return [0]


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
    lay = sd.Layout(plan, piece_rows, tile_rows, block_rows, sd.FETCH_ROWS, 50 * 16)
    per_range = lay.block_est / lay.nranges
    cells = [sum(per_range[b] * (r1 - r0) for b in blocks) for _, _, r0, r1, blocks, _ in lay.tiles]
    slices = [sum(lay.splits[i][2][j][3] for i, j in sl) for *_, sl in lay.tiles]
    split_in = sum(per_range[b] * len(ranges) for b, ranges, *_ in lay.splits)
    per_tile = np.add(cells, slices) * BYTES_PER_ENTRY
    flat, at = plan.grouping_keys, plan.grouping_at
    need = lay.est[np.searchsorted(lay.keys, flat)].sum()

    def tb(entries):
        return f"{entries * BYTES_PER_ENTRY / 1e12:.2f} TB"
    print(f"{data}: {len(plan.pieces):,} pieces, plan {t_plan:.1f} s, graph built in {t_graph:.1f} s")
    print("tasks: " + ", ".join(f"{k} {v:,}" for k, v in sorted(client.kinds.items())))
    print(f"cells: {lay.nblocks} key blocks x {lay.nranges} code ranges; partials {tb(lay.est.sum())}")
    print(f"tiles fetch {tb(sum(cells))} of cells ({sum(len(t[4]) * (t[3] - t[2]) for t in lay.tiles):,}) and "
          f"{tb(sum(slices))} of slices ({sum(len(t[5]) for t in lay.tiles):,}); per tile mean "
          f"{per_tile.mean() / 1e9:.2f} GB, max {per_tile.max() / 1e9:.2f} GB; they need {tb(need)} "
          f"(each key once per grouping)")
    print(f"splits: {len(lay.splits):,} tasks take in {tb(split_in)} of cells")


if __name__ == "__main__":
    main()
