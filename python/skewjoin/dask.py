"""skewjoin on a Dask cluster: the merge plan as a graph of small tasks.

    join_aggregate(left, right, on, by, aggs, client=None, out=None)

answers SELECT by…, aggs FROM left JOIN right USING (on) GROUP BY by… ORDER
BY by…, integer columns only (skewjoin.query groups by strings too).  The
plan runs GROUP BY the right table's columns, then the left's (the
notebook's queries; the join key counts as either table's); a by-list that
interleaves them runs so and its answer is re-sorted (returned as a
DataFrame only: with out= the workers write it in the plan's order, so
such a list is refused).  The graph, built on
the client from the files' footers (no data is read there):

    scan     pieces of the left table (row groups, about piece_rows entries
             a task: a hot key's row groups land in many tasks) aggregated by
             (key, left by-columns) into partials, each cut by key block and
             code range (the code packs the left by-columns, first column
             in the high bits, so a code range is a range of its values)
    combine  each (key block, code range): the scans' partials merged into
             one, a run per key (a tree when there are many scans)
    split    only when the partials pass fetch_rows: per key block and group
             of tiles, the slices those tiles take instead of whole cells
             (their keys' runs of their code ranges, frames copied as they are)
    tile     consecutive groupings of the right table up to about tile_rows
             estimated answer rows, or one big grouping's code range: the
             k-way merge of its keys' runs, weighted by the right table's
             counts, written to Parquet by the worker (out=) or returned

df1 is never shuffled: only partials move, and a task's memory depends on
piece_rows and tile_rows, not on how hot a key is.  The right table (small)
is read by each scan, and once per worker process for all its tiles.  Partials are bytes (skewjoin's
versioned "SJPART" format), so Dask can move them and recompute them after
a worker is lost.
"""
import bisect
import collections
import ctypes
import operator
import os
import shutil
import tempfile
import threading
import uuid
import weakref

import numpy as np

from . import _lib

__all__ = ["join_aggregate", "read_parquet"]

PIECE_ROWS = 1 << 21
TILE_ROWS = 1 << 22
BLOCK_ROWS = 1 << 21
FETCH_ROWS = 1 << 26
FAN_IN = 16
CELLS_SHARE = 0.5  # a tile that needs this share of a block's entries fetches its cells


# ------------------------------------------------------------------ tasks
# Plain functions of picklable arguments: Dask ships them to the workers.

def _query(qargs, left=None, out=None):
    right, on, by, aggs, threads, temp_dir = qargs
    return _lib.make_query(left, right, on, by, aggs, threads, 0, out, temp_dir)


def _info(info_bytes):
    info = _lib.sj_dist_info()
    ctypes.memmove(ctypes.addressof(info), info_bytes, ctypes.sizeof(info))
    return info


def _bytes_array(parts):
    """parts (bytes) as an sj_bytes array pointing into them: no copy (the
    library only reads its inputs; the caller keeps parts alive)."""
    arr = (_lib.sj_bytes * max(1, len(parts)))()
    for i, p in enumerate(parts):
        arr[i].data = ctypes.cast(ctypes.c_char_p(p), ctypes.c_void_p) if p else None
        arr[i].len = len(p)
    return arr


def scan_task(qargs, info_bytes, pieces, splits):
    """Pieces [(file, rowgroup)] -> partials, one per (key block, code range);
    splits: (key_splits, code_splits), each block's or range's start."""
    key_splits, code_splits = splits
    q = _query(qargs)
    info = _info(info_bytes)
    arr = (_lib.sj_dist_piece * len(pieces))()
    files = [os.fsencode(f) for f, _ in pieces]
    for i, (f, rg) in enumerate(pieces):
        arr[i].file = files[i]
        arr[i].rowgroup = rg
    ks = (ctypes.c_int64 * max(1, len(key_splits)))(*key_splits)
    cs = (ctypes.c_uint64 * max(1, len(code_splits)))(*code_splits)
    nout = (len(key_splits) + 1) * (len(code_splits) + 1)
    out = (_lib.sj_bytes * nout)()
    err = _lib.sj_error()
    rc = _lib.lib.sj_dist_scan(ctypes.byref(q), ctypes.byref(info), arr, len(pieces), ks, len(key_splits), cs,
                               len(code_splits), out, ctypes.byref(err))
    _lib.check(rc, err)
    return [_lib.take_bytes(out[i]) for i in range(nout)]


def combine_task(info_bytes, *parts):
    """Partials of one (key block, code range) -> one partial."""
    info = _info(info_bytes)
    arr = _bytes_array(parts)
    out = _lib.sj_bytes()
    err = _lib.sj_error()
    rc = _lib.lib.sj_dist_combine(ctypes.byref(info), arr, len(parts), ctypes.byref(out), ctypes.byref(err))
    _lib.check(rc, err)
    return _lib.take_bytes(out)


def split_task(info_bytes, wants, after, *parts):
    """A key block's partials (some of its code ranges, in order) -> one
    partial per want (keys ascending, p0, p1): those keys' runs in
    parts[p0:p1].  after: not used; the graph passes the end of an earlier
    group of tiles, so that this split waits for it."""
    info = _info(info_bytes)
    arr = _bytes_array(parts)
    spec = (_lib.sj_dist_want * max(1, len(wants)))()
    keep = []
    for i, (keys, p0, p1) in enumerate(wants):
        ks = (ctypes.c_int64 * max(1, len(keys)))(*keys)
        keep.append(ks)
        spec[i].keys = ks
        spec[i].nkeys = len(keys)
        spec[i].p0, spec[i].p1 = p0, p1
    out = (_lib.sj_bytes * max(1, len(wants)))()
    err = _lib.sj_error()
    rc = _lib.lib.sj_dist_split(ctypes.byref(info), arr, len(parts), spec, len(wants), out, ctypes.byref(err))
    _lib.check(rc, err)
    return [_lib.take_bytes(out[i]) for i in range(len(wants))]


class _Tiler:
    """An sj_dist_tiler and the query whose strings it points into."""

    def __init__(self, qargs, schema_file, info_bytes):
        self.q = _query(qargs, left=schema_file)
        self.info = _info(info_bytes)
        self.ptr = ctypes.c_void_p()
        err = _lib.sj_error()
        _lib.check(_lib.lib.sj_dist_tiler_open(ctypes.byref(self.q), ctypes.byref(self.info), ctypes.byref(self.ptr),
                                               ctypes.byref(err)), err)
        weakref.finalize(self, _lib.lib.sj_dist_tiler_close, self.ptr)


# A worker runs many tiles of one query: each process reads the right side
# once per query (the last few queries kept) instead of once per tile.  The
# key includes the right side's files as they are now, so a table rewritten
# under the same name is read again.
_tilers = collections.OrderedDict()
_tilers_lock = threading.Lock()
_TILERS_KEPT = 4


def _parquet_files(path):
    """The files a path names, as the CLI reads them (none: an empty list)."""
    try:
        return _lib.list_files(path)
    except _lib.UsageError:
        return []


def _files_now(path):
    return tuple((f, st.st_ino, st.st_size, st.st_mtime_ns) for f, st in ((f, os.stat(f)) for f in _parquet_files(path)))


def _tiler(qargs, schema_file, info_bytes):
    key = (qargs, schema_file, info_bytes, _files_now(qargs[0]))
    with _tilers_lock:
        t = _tilers.get(key)
        if t is None:
            t = _tilers[key] = _Tiler(qargs, schema_file, info_bytes)
            while len(_tilers) > _TILERS_KEPT:
                _tilers.popitem(last=False)
        _tilers.move_to_end(key)
        return t


def tile_task(qargs, info_bytes, schema_file, g0, g1, c0, c1, out_path, *parts):
    """Groupings [g0, g1) x codes [c0, c1): rows written to out_path (returns
    the row count) or returned as CSV text."""
    t = _tiler(qargs, schema_file, info_bytes)
    arr = _bytes_array(parts)
    csv = _lib.sj_bytes()
    rows = ctypes.c_uint64()
    err = _lib.sj_error()
    rc = _lib.lib.sj_dist_tile(t.ptr, arr, len(parts), g0, g1, c0, c1, os.fsencode(out_path) if out_path else None,
                               ctypes.byref(csv), ctypes.byref(rows), ctypes.byref(err))
    _lib.check(rc, err)
    text = _lib.take_bytes(csv)
    return rows.value if out_path else text


def _write_partition(df, path):
    from . import write_parquet
    write_parquet(df, path)
    return path


def read_parquet(path, columns=None):
    """A Parquet file, directory or glob as a Dask DataFrame, one partition
    per file, read by skewjoin's reader (where pyarrow is not installed)."""
    import dask.dataframe as dd
    from dask import delayed
    from . import read_parquet as read_one
    path = os.fspath(path)
    files = _parquet_files(path)
    if not files:
        raise _lib.UsageError(_lib.SJ_EUSAGE, f"{path}: no Parquet files")
    meta = read_one(files[0], columns).iloc[0:0]
    return dd.from_delayed([delayed(read_one, pure=True)(f, columns) for f in files], meta=meta)


# ------------------------------------------------------------------- plan

class Plan:
    """The facts the graph is built from (sj_dist_plan_make on the client)."""

    def __init__(self, left, qargs):
        right, on, by, aggs, _, temp_dir = qargs  # the client opens every footer: on all its cores
        q = _query((right, on, by, aggs, 0, temp_dir), left=left)
        ptr = ctypes.POINTER(_lib.sj_dist_plan)()
        err = _lib.sj_error()
        _lib.check(_lib.lib.sj_dist_plan_make(ctypes.byref(q), ctypes.byref(ptr), ctypes.byref(err)), err)
        try:
            d = ptr.contents
            self.info_bytes = ctypes.string_at(ctypes.addressof(d.info), ctypes.sizeof(d.info))
            self.info = _info(self.info_bytes)
            self.pieces = []
            for i in range(d.npieces):
                p = d.pieces[i]
                bounds = (p.key_min, p.key_max) if p.key_bounds else None
                self.pieces.append((p.file.decode(), p.rowgroup, p.rows, bounds))
            at = np.ctypeslib.as_array(d.grouping_at, (d.ngroupings + 1,)).astype(np.int64)
            keys = np.ctypeslib.as_array(d.grouping_keys, (at[-1],)).copy() if at[-1] else np.empty(0, np.int64)
            self.grouping_keys, self.grouping_at = keys, at  # grouping g: grouping_keys[at[g]:at[g + 1]]
        finally:
            _lib.lib.sj_dist_plan_free(ptr)

    def rows_per_key(self):
        """The right side's keys and their estimated left rows (from the
        left side's key statistics: a piece's rows spread evenly over the
        keys inside its bounds)."""
        keys = np.unique(self.grouping_keys)
        bounded = [(rows, b) for _, _, rows, b in self.pieces if b is not None]
        if not bounded or not len(keys):
            return keys, np.zeros(len(keys))
        rows = np.array([r for r, _ in bounded], dtype=float)
        lo = np.searchsorted(keys, np.array([b[0] for _, b in bounded], dtype=np.int64))
        hi = np.searchsorted(keys, np.array([b[1] for _, b in bounded], dtype=np.int64), side="right")
        some = hi > lo
        per_key = rows[some] / (hi - lo)[some]
        share = np.zeros(len(keys) + 1)  # a difference array: + at each piece's first key, - past its last
        np.add.at(share, lo[some], per_key)
        np.add.at(share, hi[some], -per_key)
        return keys, np.maximum(np.cumsum(share)[:-1], 0.0)


def _scan_groups(pieces, piece_rows, codes, threads):
    """Consecutive pieces cut into scans.  A scan's memory is its entries
    (at most one per row, and per key and code: a row group of one key
    holds at most `codes`), kept under about piece_rows; its rows are kept
    under about a quarter of a thread's share of the table (so that every
    thread gets work, with some slack for balance), but at least piece_rows
    and at most 16·piece_rows."""
    total = sum(n for _, _, n, _ in pieces)
    max_rows = min(max(piece_rows, total // (4 * max(1, threads))), 16 * piece_rows)
    groups, cur, rows, entries = [], [], 0, 0
    for f, rg, n, bounds in pieces:
        e = n if bounds is None else min(n, (bounds[1] - bounds[0] + 1) * codes)
        if cur and (entries + e > piece_rows or rows + n > max_rows):
            groups.append(cur)
            cur, rows, entries = [], 0, 0
        cur.append((f, rg))
        rows += n
        entries += e
    if cur:
        groups.append(cur)
    return groups


def _key_blocks(keys, est, block_rows, have_bounds):
    """Block starts (after the first): keys cut into blocks of about block_rows."""
    if not have_bounds or len(keys) == 0:
        return []
    splits, acc = [], 0.0
    for k, e in zip(keys, est):
        if acc >= block_rows:
            splits.append(int(k))
            acc = 0.0
        acc += e
    return splits


def _code_splits(info, ranges):
    """Codes cutting the first left by-column's values into `ranges` ranges."""
    if info.ncols == 0 or ranges <= 1:
        return []
    values = info.hi[0] - info.lo[0] + 1 + (1 if info.col_nullable[0] else 0)
    ranges = min(ranges, values)
    return sorted({(values * r // ranges) << info.shift[0] for r in range(1, ranges)})


# ------------------------------------------------------------- the graph

def join_aggregate(left, right, on, by, aggs, client=None, out=None, piece_rows=PIECE_ROWS, tile_rows=TILE_ROWS,
                   block_rows=BLOCK_ROWS, fetch_rows=FETCH_ROWS, threads=1, temp_dir=None):
    """The query on Dask; see the module's doc.

    left: a Parquet file, directory or glob (read by the workers: a path
    they share with the client), or a Dask DataFrame (its partitions are
    written to Parquet under temp_dir first).  right: a Parquet path.
    by, aggs: lists or comma-separated strings.  client: a
    distributed.Client (default: the current one, else Dask's default
    scheduler).  out: a directory to receive part-NNNNN.parquet files
    (sorted within and across files; returns the row count); None returns a
    pandas DataFrame.  threads: C threads per task.  Sizes, estimated:
    piece_rows partial entries per scan (at most one per row, fewer when a
    row group's keys and codes are few: then a scan takes more rows, up to
    16·piece_rows), block_rows per key block of partials, tile_rows per
    tile's answer, fetch_rows of partials a tile of many groupings or a split
    may take (partials above it in all: tiles take split slices, not cells).
    """
    import dask
    by = by.split(",") if isinstance(by, str) else list(by)
    aggs = ",".join(aggs) if isinstance(aggs, (list, tuple)) else aggs
    user_by, by = by, _right_first(by, os.fspath(right), on)
    if by != user_by and out is not None:
        raise _lib.UsageError(_lib.SJ_EUSAGE, f"by={user_by}: the workers write the answer in the plan's order, the "
                              f"right table's columns first ({by}); list them so, or leave out=None to get the "
                              f"answer re-sorted")
    qargs = (os.fspath(right), on, ",".join(by), aggs, threads, temp_dir)
    if client is None:
        try:
            from distributed import get_client
            client = get_client()
        except (ImportError, ValueError):
            client = None
    staged = None
    if not isinstance(left, (str, os.PathLike)):
        staged = tempfile.mkdtemp(prefix="skewjoin-left-", dir=temp_dir)
        paths = [dask.delayed(_write_partition)(p, os.path.join(staged, f"part-{i:06d}.parquet"))
                 for i, p in enumerate(left.to_delayed())]
        (client.compute(paths, sync=True) if client else dask.compute(*paths))
        left = staged
    try:
        plan = Plan(os.fspath(left), qargs)
        got = _run(plan, qargs, client, out, piece_rows, tile_rows, block_rows, fetch_rows)
        if by == user_by:
            return got
        # the user's order: sorted by their by-list, NULLs last, as the CLI sorts
        order = user_by + [c for c in got.columns if c not in by]
        return got.sort_values(user_by, kind="stable", na_position="last")[order].reset_index(drop=True)
    finally:
        if staged:
            shutil.rmtree(staged, ignore_errors=True)


def _right_first(by, right, on):
    """by as the plan runs it: when it interleaves the tables' columns, the
    right table's first (each table's in their order; the key stays with
    the left's), else by itself."""
    from . import _column_names
    files = _parquet_files(right)
    right_cols = set(_column_names(files[0])) if files else set()
    sides = [c != on and c in right_cols for c in by]
    others = [r for c, r in zip(by, sides) if c != on]  # the key goes with either
    if others == sorted(others, reverse=True):  # the right's columns, then the left's
        return list(by)
    return [c for c, r in zip(by, sides) if r] + [c for c, r in zip(by, sides) if not r]


class Layout:
    """The graph's shape, decided on the client from the plan alone (no
    data read): scans, cells (key block x code range), splits and tiles.
    bench/dask_graph.py reads it to cost the graph.

    keys, est      the right side's keys, their estimated partial entries,
    key_block      and the key block each is in
    key_splits     key block starts (after the first)
    code_splits    code range starts (after the first)
    scans          [(pieces, blocks)]: a scan's (file, rowgroup)s and the key
                   blocks its partials feed
    splits         [(block, ranges, wants, group)]: a task that takes the
                   block's cells of those code ranges (ascending) and cuts
                   out, per want (key indices, r0, r1, est), those keys' runs
                   of ranges [r0, r1), for tiles of that group
    tile_group     each tile's group (of consecutive tiles; see below)
    tiles          [(g0, g1, r0, r1, cell_blocks, slices)]: groupings [g0, g1)
                   x code ranges [r0, r1), fetching the cells (b, r) of
                   cell_blocks for r in [r0, r1) and the split outputs
                   slices [(split, want)]

    A tile takes a block's cells when it needs most of the block's keys
    (the grouping that holds every key, cut by code range), and a split's
    slice otherwise: a tile of small groupings needs a few keys of many
    blocks, and whole cells would bring it every other key of those blocks.
    """

    def __init__(self, plan, piece_rows, tile_rows, block_rows, fetch_rows, threads):
        info = plan.info
        keys, rows = plan.rows_per_key()
        # A key's partial has at most one entry per row and per code; a
        # grouping's answer at most one row per code.
        codes = 1
        for j in range(info.ncols):
            codes *= info.hi[j] - info.lo[j] + 1 + (1 if info.col_nullable[j] else 0)
        est = np.minimum(rows, codes)
        self.keys, self.est = keys, est
        have_bounds = all(b is not None for *_, b in plan.pieces)
        self.key_splits = _key_blocks(keys, est, block_rows, have_bounds)
        split_keys = np.array(self.key_splits, dtype=np.int64)
        self.key_block = np.searchsorted(split_keys, keys, side="right")
        # each grouping's keys (indices into keys) and estimated answer rows
        flat, at = plan.grouping_keys, plan.grouping_at
        ngroupings = len(at) - 1
        flat_key = np.searchsorted(keys, flat)
        cum = np.concatenate([[0.0], np.cumsum(est[flat_key])])
        gest = np.minimum(cum[at[1:]] - cum[at[:-1]], codes).tolist()
        ranges = int(np.ceil(max(gest, default=0) / tile_rows)) if gest else 1
        self.code_splits = _code_splits(info, max(1, ranges))
        nblocks = self.nblocks = len(self.key_splits) + 1
        nranges = self.nranges = len(self.code_splits) + 1

        # scans: pieces come in file (key) order, so a scan touches few
        # blocks and feeds only their combines
        piece_bounds = {(f, rg): b for f, rg, _, b in plan.pieces}
        self.scans = []
        for group in _scan_groups(plan.pieces, piece_rows, codes, threads):
            if have_bounds:
                keys_in = [piece_bounds[piece] for piece in group]
                lo = int(np.searchsorted(split_keys, min(b[0] for b in keys_in), side="right"))
                hi = int(np.searchsorted(split_keys, max(b[1] for b in keys_in), side="right"))
                self.scans.append((group, range(lo, hi + 1)))
            else:
                self.scans.append((group, range(nblocks)))

        # tiles: consecutive groupings, or one big grouping's code range; a
        # tile of small groupings also stops where the entries of its keys
        # pass fetch_rows, so that its input stays bounded (Q1: every
        # grouping's answer is one row, but it needs its keys' partials)
        self.block_est = np.zeros(nblocks)
        np.add.at(self.block_est, self.key_block, est)
        gkeys = [set(flat_key[at[g]:at[g + 1]].tolist()) for g in range(ngroupings)]
        est_of = est.tolist()
        cut, g = [], 0
        while g < ngroupings:
            if gest[g] > tile_rows and nranges > 1:  # alone, cut into about gest / tile_rows code ranges
                k = min(nranges, int(np.ceil(gest[g] / tile_rows)))
                bounds = [nranges * i // k for i in range(k + 1)]
                cut += [(g, g + 1, r0, r1, gkeys[g]) for r0, r1 in zip(bounds, bounds[1:])]
                g += 1
                continue
            g1, acc, need, fetch = g, 0.0, set(), 0.0
            while g1 < ngroupings and not (gest[g1] > tile_rows and nranges > 1 and g1 > g):
                more = gkeys[g1] - need
                more_fetch = sum(est_of[k] for k in more)
                if g1 > g and (acc + gest[g1] > tile_rows or fetch + more_fetch > fetch_rows):
                    break
                acc += gest[g1]
                need |= more
                fetch += more_fetch
                g1 += 1
            cut.append((g, g1, 0, nranges, need))
            g = g1

        # each tile's inputs: per block, its cells or a slice of them.  When
        # all the partials are within fetch_rows, cells: a worker then holds
        # each cell once for all its tiles, at most fetch_rows entries.
        # Otherwise slices, and a worker holds only its tiles' inputs.
        whole = est.sum() <= fetch_rows
        self.tiles, sliced = [], collections.defaultdict(list)
        for t, (g0, g1, r0, r1, need) in enumerate(cut):
            by_block = collections.defaultdict(list)
            for k in need:
                if est_of[k] > 0 or not have_bounds:  # est 0 within bounds: outside every piece's, no rows
                    by_block[int(self.key_block[k])].append(k)
            cell_blocks = []
            for b in sorted(by_block):
                ks = sorted(by_block[b])
                if whole or sum(est_of[k] for k in ks) >= CELLS_SHARE * self.block_est[b]:
                    cell_blocks.append(b)
                else:
                    sliced[b].append((t, ks, r0, r1, sum(est_of[k] for k in ks) * (r1 - r0) / nranges))
            self.tiles.append((g0, g1, r0, r1, cell_blocks, []))
        if not self.tiles:  # no grouping: one tile that writes the header
            self.tiles.append((0, 0, 0, nranges, [], []))

        # Tiles in groups of about max(fetch_rows, all partials) entries of
        # slices, each group's slices cut by their own splits: the slices
        # of all tiles are ~15x the partials (a key is in ~15 groupings), so
        # they should not all exist at once; a group's splits read each
        # block's cells once, so the cells are read about as often as the
        # slices are written.
        group_rows = max(fetch_rows, est.sum())
        per_tile = collections.Counter()
        for wants in sliced.values():
            for t, *_, out_est in wants:
                per_tile[t] += out_est
        starts, size = [], 0.0  # the tiles that start a group, after the first
        for t in range(len(self.tiles)):
            if size and size + per_tile[t] > group_rows:
                starts.append(t)
                size = 0.0
            size += per_tile[t]
        self.tile_group = [bisect.bisect_right(starts, t) for t in range(len(self.tiles))]

        # splits: per block and group, the tiles that take slices of it, in
        # tile order, cut where a split's cells and slices pass fetch_rows
        self.splits = []
        for b in sorted(sliced):
            wants, used, size, gi = [], set(), 0.0, 0
            for t, ks, r0, r1, out_est in sliced[b]:
                more = used | set(range(r0, r1))
                g = self.tile_group[t]
                if wants and (g != gi or self.block_est[b] * len(more) / nranges + size + out_est > fetch_rows):
                    self._split(b, used, wants)
                    wants, used, size, more = [], set(), 0.0, set(range(r0, r1))
                wants.append((t, ks, r0, r1, out_est))
                used, size, gi = more, size + out_est, g
            self._split(b, used, wants)

    def _split(self, b, used, wants):
        i = len(self.splits)
        self.splits.append((b, sorted(used), [(ks, r0, r1, e) for _, ks, r0, r1, e in wants],
                            self.tile_group[wants[0][0]]))
        for j, (t, *_) in enumerate(wants):
            self.tiles[t][5].append((i, j))


def _collect(*results):
    return list(results)


def _run(plan, qargs, client, out, piece_rows, tile_rows, block_rows, fetch_rows):
    """Builds the graph as a plain dict (dask.delayed costs ~0.6 ms a task
    to build, minutes at s=1) and runs it."""
    import dask
    from dask.delayed import Delayed
    info = plan.info
    threads = sum(client.nthreads().values()) if client else (os.cpu_count() or 1)
    lay = Layout(plan, piece_rows, tile_rows, block_rows, fetch_rows, threads)
    nblocks, nranges = lay.nblocks, lay.nranges
    code_bounds = [0] + lay.code_splits + [1 << info.code_bits]
    token = uuid.uuid4().hex  # keys of this run only
    dsk = {}

    # scan, then combine per (block, range); a task returning a list is
    # read by getitem tasks ("part")
    splits = (lay.key_splits, lay.code_splits)
    for i, (group, _) in enumerate(lay.scans):
        dsk[("scan", token, i)] = (scan_task, qargs, plan.info_bytes, group, splits)
    combined, ncombines = {}, 0
    for b in range(nblocks):
        feeding = [i for i, (_, blocks) in enumerate(lay.scans) if b in blocks]
        for r in range(nranges):
            level = []
            for i in feeding:
                key = ("part", token, "scan", i, b * nranges + r)
                dsk[key] = (operator.getitem, ("scan", token, i), b * nranges + r)
                level.append(key)
            while True:  # a tree of FAN_IN-way combines; at least one (a run per key)
                keys = []
                for i in range(0, max(len(level), 1), FAN_IN):
                    key = ("combine", token, ncombines)
                    ncombines += 1
                    dsk[key] = (combine_task, plan.info_bytes, *level[i:i + FAN_IN])
                    keys.append(key)
                level = keys
                if len(level) == 1:
                    break
            combined[(b, r)] = level[0]

    # split: the slices of a block that tiles take instead of its cells.
    # A group's splits wait for the tiles of the group two before it, so
    # that the slices of about two groups exist at a time, whatever order
    # the scheduler would pick (Dask's own let them pile up).
    group_tiles = collections.defaultdict(list)
    for t, g in enumerate(lay.tile_group):
        group_tiles[g].append(("tile", token, t))
    for g, members in group_tiles.items():
        dsk[("group-done", token, g)] = (_collect, *members)
    for i, (b, ranges, wants, g) in enumerate(lay.splits):
        at = {r: j for j, r in enumerate(ranges)}
        spec = [([int(lay.keys[k]) for k in ks], at[r0], at[r1 - 1] + 1) for ks, r0, r1, _ in wants]
        after = ("group-done", token, g - 2) if g >= 2 else None
        dsk[("split", token, i)] = (split_task, plan.info_bytes, spec, after, *[combined[(b, r)] for r in ranges])

    schema_file = plan.pieces[0][0]
    if out is not None:
        os.makedirs(out, exist_ok=True)
    tiles = []
    for i, (g0, g1, r0, r1, cell_blocks, slices) in enumerate(lay.tiles):
        parts = [combined[(b, r)] for b in cell_blocks for r in range(r0, r1)]
        for s, j in slices:
            key = ("part", token, "split", s, j)
            dsk.setdefault(key, (operator.getitem, ("split", token, s), j))
            parts.append(key)
        path = os.path.join(out, f"part-{i:05d}.parquet") if out is not None else None
        tiles.append(("tile", token, i))
        dsk[tiles[-1]] = (tile_task, qargs, plan.info_bytes, schema_file, g0, g1, code_bounds[r0], code_bounds[r1],
                          path, *parts)
    dsk[("results", token)] = (_collect, *tiles)
    final = Delayed(("results", token), dsk)
    results = client.compute(final, sync=True) if client else dask.compute(final)[0]
    if out is not None:
        return int(sum(results))
    from . import _annotations, _typed_csv
    right, _, by, aggs, _, _ = qargs
    return _typed_csv(results, _annotations(schema_file, _parquet_files(right)[0], by.split(","), aggs))
