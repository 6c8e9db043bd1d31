"""skewjoin: joins on highly imbalanced data, from Python.

A thin layer over libskewjoin (loaded with ctypes, no compiled extension):

    skewjoin.query(left, right, on, by, aggs)   the CLI's `skewjoin query`,
                                                 answer as a pandas DataFrame
    skewjoin.read_parquet(path, columns=None)    a Parquet file (or a
                                                 directory of them) as a
                                                 DataFrame, without pyarrow
    skewjoin.dask.join_aggregate(...)            the same query on a Dask
                                                 cluster (import skewjoin.dask)
"""
import contextlib
import ctypes
import decimal
import io
import os
import shutil
import tempfile
import threading

import numpy as np
import pandas as pd

from . import _lib
from ._lib import Error, UsageError

__all__ = ["query", "read_parquet", "iter_parquet", "write_parquet", "Stop", "Error", "UsageError"]
__version__ = "0.1.0"

_NUMPY = {1: np.int32, 2: np.int64, 4: np.float32, 5: np.float64}
_UNSIGNED = {1: np.uint32, 2: np.uint64}


def _files(path):
    """A file, a directory's *.parquet or a glob's matches, as the CLI reads them."""
    return _lib.list_files(path)


def _dtype(info):
    """The numpy dtype of a column's values (object for byte arrays)."""
    if info.type == 0:
        return np.dtype(bool)
    if info.type in _NUMPY:
        return np.dtype(_UNSIGNED[info.type] if info.is_unsigned and info.type in _UNSIGNED else _NUMPY[info.type])
    return np.dtype(object)


def _column(col, info):
    """One decoded pq_column as (numpy values, valid mask or None)."""
    n = col.rows
    valid = None
    if col.valid and n:
        valid = np.ctypeslib.as_array(ctypes.cast(col.valid, ctypes.POINTER(ctypes.c_uint8)), (n,)).astype(bool)
    t = col.type
    if t == 6:  # BYTE_ARRAY
        offs = np.ctypeslib.as_array(ctypes.cast(col.offsets, ctypes.POINTER(ctypes.c_uint64)), (n + 1,)) if n else [0]
        data = ctypes.string_at(col.data, int(offs[-1])) if n and offs[-1] else b""
        out = np.empty(n, dtype=object)
        for i in range(n):
            b = data[offs[i]:offs[i + 1]]
            out[i] = b.decode("utf-8", "surrogateescape") if info.is_text else b
        return out, valid
    if t in (3, 7):  # INT96, FIXED_LEN_BYTE_ARRAY: bytes
        raw = ctypes.string_at(col.values, n * col.width) if n else b""
        out = np.empty(n, dtype=object)
        for i in range(n):
            out[i] = raw[i * col.width:(i + 1) * col.width]
        return out, valid
    if t == 0:
        raw = ctypes.string_at(col.values, n) if n else b""
        return np.frombuffer(raw, dtype=np.uint8).astype(bool), valid
    dtype = _dtype(info)
    raw = ctypes.string_at(col.values, n * dtype.itemsize) if n else b""
    return np.frombuffer(raw, dtype=dtype).copy(), valid


# pq_logical_kind and pq_time_unit (include/skewjoin.h)
_LT_DATE, _LT_TIME, _LT_TIMESTAMP, _LT_DECIMAL = 1, 2, 3, 4
_UNITS = ("ms", "us", "ns")


def _logical(values, valid, lt):
    """Integers that stand for dates, times, timestamps or decimals (their
    column's annotation, lt) as pandas holds those: datetime64 (UTC-aware
    when the timestamps are UTC-adjusted; datetime.date/datetime objects
    where nanoseconds cannot reach), timedelta64 for times of day, exact
    decimal.Decimal for decimals, as pyarrow does.  None: not annotated."""
    fixed = lt.kind == _LT_DECIMAL and values.dtype == object  # FIXED_LEN_BYTE_ARRAY: big-endian two's complement
    if lt.kind not in (_LT_DATE, _LT_TIME, _LT_TIMESTAMP, _LT_DECIMAL) or (values.dtype.kind not in "iu" and not fixed):
        return None
    missing = np.zeros(len(values), bool) if valid is None else ~valid
    if lt.kind == _LT_DECIMAL:
        out = np.empty(len(values), dtype=object)
        for i, v in enumerate(values.tolist()):
            unscaled = int.from_bytes(v, "big", signed=True) if fixed else v
            out[i] = None if missing[i] else decimal.Decimal(unscaled).scaleb(-lt.scale)
        return out
    unit = "D" if lt.kind == _LT_DATE else _UNITS[lt.unit]
    arr = values.astype(f"{'timedelta64' if lt.kind == _LT_TIME else 'datetime64'}[{unit}]")
    arr[missing] = np.datetime64("NaT") if lt.kind != _LT_TIME else np.timedelta64("NaT")
    try:
        out = pd.Series(arr)
    except pd.errors.OutOfBoundsDatetime:  # beyond 1677..2262, which pandas' nanoseconds hold
        out = pd.Series(arr.astype(object), dtype=object)
        out[missing] = None
        return out
    return out.dt.tz_localize("UTC") if lt.kind == _LT_TIMESTAMP and lt.utc else out


def _annotations(left_file, right_file, by, aggs):
    """The answer's columns whose integers stand for dates, times,
    timestamps or decimals, {name: pq_logical}, by the CLI's rules: a
    by-column and min/max keep their column's annotation, a sum its
    decimal scale."""
    lts = {}
    for path in (left_file, right_file):
        with _opened(path) as (_, infos):
            for i in infos:  # copies: the infos go with the file; INT96 is read as TIMESTAMP(NANOS), as the CLI does
                lt = _lib.pq_logical(_LT_TIMESTAMP, 2, 0, 0, 0) if i.type == 3 else type(i.lt).from_buffer_copy(i.lt)
                lts.setdefault(i.name.decode(), lt)
    out = {c: lts[c] for c in by if c in lts and lts[c].kind}
    for a in (aggs.split(",") if isinstance(aggs, str) else aggs):
        fn, _, col = a.strip().partition("(")
        fn, col = fn.strip().lower(), col.rstrip(")").strip()
        lt = lts.get(col)
        if lt is not None and lt.kind and (fn in ("min", "max") or (fn == "sum" and lt.kind == _LT_DECIMAL)):
            out[f"{fn}_{col}"] = lt
    return out


def _typed_csv(blobs, annotations):
    """CSV answers (as the CLI prints them) as one DataFrame, the annotated
    columns as read_parquet gives them."""
    parts = [pd.read_csv(io.BytesIO(b), dtype={c: str for c in annotations}, keep_default_na=False,
                         na_values={c: [""] for c in annotations}) for b in blobs]
    df = pd.concat(parts, ignore_index=True)
    for c, lt in annotations.items():
        text = df[c]
        if lt.kind == _LT_DECIMAL:
            df[c] = [None if isinstance(v, float) else decimal.Decimal(v) for v in text]
            continue
        try:
            if lt.kind == _LT_TIME:
                df[c] = pd.to_timedelta(text)
            else:
                df[c] = pd.to_datetime(text, utc=bool(lt.kind == _LT_TIMESTAMP and lt.utc))
        except (ValueError, OverflowError):  # past what pandas' nanoseconds hold, or BC: left as text
            pass
    return df


def _read_file(path, columns):
    frames = list(_iter_file(path, columns, whole=True))
    return frames[0]


@contextlib.contextmanager
def _opened(path):
    """An open Parquet file and its columns' infos, closed on leaving."""
    err = _lib.sj_error()
    r = ctypes.c_void_p()
    _lib.check(_lib.lib.pq_open(ctypes.byref(r), os.fsencode(path), ctypes.byref(err)), err)
    try:
        yield r, [_lib.lib.pq_col(r, c).contents for c in range(_lib.lib.pq_ncols(r))]
    finally:
        _lib.lib.pq_close(r)


def _column_names(path):
    """The names of a Parquet file's columns, from its footer."""
    with _opened(path) as (_, infos):
        return [i.name.decode() for i in infos]


def _iter_file(path, columns, whole=False):
    """The file's row groups as DataFrames (with whole: one DataFrame)."""
    err = _lib.sj_error()
    with _opened(path) as (r, infos):
        names = [i.name.decode() for i in infos]
        want = names if columns is None else list(columns)
        for c in want:
            if c not in names:
                raise UsageError(_lib.SJ_EUSAGE, f"{path}: no column '{c}'")
        groups = [[rg] for rg in range(_lib.lib.pq_nrowgroups(r))]
        if whole:
            groups = [sum(groups, [])]
        for rgs in groups:
            yield _frame(r, rgs, want, names, infos, err)


def _frame(r, rgs, want, names, infos, err):
    parts = {c: [] for c in want}
    most = _lib.lib.sj_memory_default()
    for rg in rgs:
        need = sum(_lib.lib.pq_read_bytes(r, rg, names.index(c)) for c in want)
        if need > most:  # a row group may declare far more rows than its bytes hold
            path = _lib.lib.pq_path(r).decode("utf-8", "replace")
            raise _lib.Error(_lib.SJ_ENOMEM, f"{path}: row group {rg} holds {_lib.lib.pq_rowgroup_rows(r, rg)} rows, "
                             f"which take about {need >> 20} MB decoded: more than half of this machine's memory")
        for c in want:
            ci = names.index(c)
            col = _lib.pq_column()
            _lib.check(_lib.lib.pq_read(r, rg, ci, ctypes.byref(col), ctypes.byref(err)), err)
            try:
                parts[c].append(_column(col, infos[ci]))
            finally:
                _lib.lib.pq_column_free(ctypes.byref(col))
    result = {}
    for c in want:
        info = infos[names.index(c)]
        chunks = parts[c]
        values = np.concatenate([v for v, _ in chunks]) if chunks else np.empty(0, dtype=_dtype(info))
        nullable = info.optional or any(m is not None for _, m in chunks)
        mask = np.concatenate([m if m is not None else np.ones(len(v), bool) for v, m in chunks]) \
            if chunks and nullable else (np.empty(0, bool) if nullable else None)
        meant = _logical(values, mask, info.lt)
        if meant is not None:
            result[c] = meant
            continue
        if not nullable:
            result[c] = values
            continue
        if values.dtype.kind in "iu":
            result[c] = pd.arrays.IntegerArray(values, ~mask)
        elif values.dtype.kind == "f":  # a stored NaN stays NaN, only NULL is NA
            result[c] = pd.arrays.FloatingArray(values, ~mask)
        elif values.dtype.kind == "b":
            result[c] = pd.arrays.BooleanArray(values, ~mask)
        else:
            values = values.astype(object)
            values[~mask] = None
            result[c] = values
    return pd.DataFrame(result, columns=want)


def read_parquet(path, columns=None):
    """A Parquet file, or a directory of them (sorted by name), as a DataFrame.

    Integers, floats and booleans as numpy dtypes (pandas' nullable dtypes
    where a column may hold NULLs); integers annotated DATE or TIMESTAMP as
    datetime64 (UTC-aware for UTC-adjusted timestamps), TIME as
    timedelta64, DECIMAL (in integers or FIXED_LEN_BYTE_ARRAY) as
    decimal.Decimal; text as str; other byte arrays, INT96 and
    FIXED_LEN_BYTE_ARRAY as bytes.  A row group that would take more than
    half of RAM decoded (a file may declare 2^31 rows in a few bytes) raises
    skewjoin.Error before anything is read.
    """
    frames = [_read_file(f, columns) for f in _files(os.fspath(path))]
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


ROWGROUP_ROWS = 1 << 20


def write_parquet(df, path):
    """Writes a DataFrame of integer and float columns as Parquet (INT64
    and DOUBLE, zstd; columns with NULLs OPTIONAL), atomically: the file
    appears under `path` only when complete."""
    specs = (_lib.pq_column_spec * max(1, len(df.columns)))()
    names, columns = [], []
    for i, c in enumerate(df.columns):
        col = df[c]
        mask = col.isna().to_numpy()
        if pd.api.types.is_bool_dtype(col.dtype) or not pd.api.types.is_numeric_dtype(col.dtype):
            raise UsageError(_lib.SJ_EUSAGE, f"{path}: column '{c}' is {col.dtype}; write_parquet writes integer "
                             "and float columns")
        is_float = pd.api.types.is_float_dtype(col.dtype)
        values = col.to_numpy(dtype=np.float64 if is_float else np.int64, na_value=0)
        names.append(str(c).encode())
        specs[i].name = names[-1]
        specs[i].type = 5 if is_float else 2
        specs[i].encoding = 0 if is_float or mask.any() else 1  # DELTA for non-null integers
        specs[i].codec = 6
        specs[i].optional = int(bool(mask.any()))
        columns.append((np.ascontiguousarray(values), np.ascontiguousarray(~mask).astype(np.uint8), is_float,
                        bool(mask.any())))
    err = _lib.sj_error()
    f = ctypes.c_void_p()
    _lib.check(_lib.lib.pq_file_open(ctypes.byref(f), os.fsencode(path), specs, len(df.columns),
                                     ctypes.byref(err)), err)
    scratch = _lib.lib.pq_scratch_new()
    try:
        for start in range(0, max(len(df), 1), ROWGROUP_ROWS):
            n = min(ROWGROUP_ROWS, len(df) - start)
            if n <= 0 and len(df):
                break
            vecs = (_lib.pq_vector * max(1, len(columns)))()
            for i, (values, valid, is_float, nullable) in enumerate(columns):
                vecs[i].kind = 1 if is_float else 0
                ptr = values[start:].ctypes.data
                if is_float:
                    vecs[i].f64 = ptr
                else:
                    vecs[i].i64 = ptr
                vecs[i].valid = valid[start:].ctypes.data if nullable else None
            rg = ctypes.c_void_p()
            _lib.check(_lib.lib.pq_rowgroup_encode(specs, len(columns), vecs, max(n, 0), scratch, ctypes.byref(rg),
                                                   ctypes.byref(err)), err)
            rc = _lib.lib.pq_file_append(f, rg, ctypes.byref(err))
            _lib.lib.pq_rowgroup_free(rg)
            _lib.check(rc, err)
        written = ctypes.c_uint64()
        fh, f = f, None
        _lib.check(_lib.lib.pq_file_close(fh, ctypes.byref(written), ctypes.byref(err)), err)
    finally:
        _lib.lib.pq_scratch_free(scratch)
        if f:
            _lib.lib.pq_file_abort(f)


def iter_parquet(path, columns=None):
    """The row groups of a Parquet file (or of a directory's files, by
    name) one DataFrame at a time: for answers too big to hold."""
    for f in _files(os.fspath(path)):
        yield from _iter_file(f, columns)


class Stop:
    """A stop request for the queries it is handed to (query(stop=...)):
    request() from any thread makes them fail with Error code SJ_EINTR,
    removing what they had half written.  A query given none makes its own."""

    def __init__(self):
        self._handle = _lib.lib.sj_stop_new()
        if not self._handle:
            raise MemoryError("sj_stop_new")

    def request(self):
        _lib.lib.sj_stop_request(self._handle)

    @property
    def requested(self):
        return bool(_lib.lib.sj_stop_requested(self._handle))

    def __del__(self):
        if getattr(self, "_handle", None):
            _lib.lib.sj_stop_free(self._handle)
            self._handle = None


def _run(q, stop):
    """sj_query_run on a thread of its own, so that Ctrl-C (KeyboardInterrupt
    in this thread) can stop it: the query unwinds, then the interrupt is
    raised again.  The interrupt may land anywhere, Thread.start included,
    so the query's thread says when it began and ended, and holds the stop
    handle itself: it never runs on with a handle that was freed."""
    q.stop = stop._handle
    report, err, rc = _lib.sj_query_report(), _lib.sj_error(), []
    began, done = threading.Event(), threading.Event()

    def work(stop=stop):
        began.set()
        try:
            rc.append(_lib.lib.sj_query_run(ctypes.byref(q), ctypes.byref(report), ctypes.byref(err)))
        finally:
            done.set()

    worker = threading.Thread(target=work, daemon=True)
    try:
        worker.start()
        while not done.wait(0.1):
            pass
    except BaseException:
        stop.request()
        waited = 0
        while not done.is_set() and (began.is_set() or waited < 10):  # a thread not begun in 1 s never started
            try:
                done.wait(0.1)
                waited += 1
            except BaseException:  # another Ctrl-C: the query is unwinding, wait for it
                pass
        raise
    _lib.check(rc[0], err)
    return report


def query(left, right, on, by=None, aggs="count(*)", threads=0, memory_limit=0, temp_dir=None, out=None,
          explain=False, stop=None):
    """SELECT by…, aggs FROM left JOIN right USING (on) GROUP BY by… ORDER BY by….

    Arguments as for `skewjoin query`: left/right a Parquet file, a directory
    or a glob; by and aggs a list or a comma-separated string.  Returns the
    answer as a DataFrame, or with out= writes it there (.parquet or .csv)
    and returns the number of rows.  explain=True returns (answer, plan text).
    stop: a Stop whose request() ends the query (Ctrl-C does too).
    """
    tmp = None
    target = out
    if out is None:
        tmp = tempfile.mkdtemp(prefix="skewjoin-", dir=temp_dir)
        target = os.path.join(tmp, "answer.parquet")
    try:
        q = _lib.make_query(left, right, on, by, aggs, threads, memory_limit, target, temp_dir)
        report = _run(q, stop or Stop())
        answer = report.rows if out is not None else read_parquet(target)
        return (answer, report.plan.decode()) if explain else answer
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
