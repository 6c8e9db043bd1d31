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
import ctypes
import glob
import os
import shutil
import tempfile

import numpy as np
import pandas as pd

from . import _lib
from ._lib import Error, UsageError

__all__ = ["query", "read_parquet", "Error", "UsageError"]
__version__ = "0.1.0"

_NUMPY = {1: np.int32, 2: np.int64, 4: np.float32, 5: np.float64}
_UNSIGNED = {1: np.uint32, 2: np.uint64}
_MASKED = {np.dtype(np.int32): "Int32", np.dtype(np.int64): "Int64", np.dtype(np.uint32): "UInt32",
           np.dtype(np.uint64): "UInt64", np.dtype(np.float32): "Float32", np.dtype(np.float64): "Float64",
           np.dtype(bool): "boolean"}


def _files(path):
    if os.path.isdir(path):
        files = sorted(glob.glob(os.path.join(path, "*.parquet")))
        if not files:
            raise UsageError(_lib.SJ_EUSAGE, f"{path}: no .parquet files in this directory")
        return files
    return [path]


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
            out[i] = b.decode("utf-8", "replace") if info.is_text else b
        return out, valid
    if t in (3, 7):  # INT96, FIXED_LEN_BYTE_ARRAY: bytes
        raw = ctypes.string_at(col.values, n * col.width) if n else b""
        out = np.empty(n, dtype=object)
        for i in range(n):
            out[i] = raw[i * col.width:(i + 1) * col.width]
        return out, valid
    if t == 0:
        dtype = np.dtype(bool)
        raw = ctypes.string_at(col.values, n) if n else b""
        return np.frombuffer(raw, dtype=np.uint8).astype(bool), valid
    dtype = np.dtype(_UNSIGNED[t] if info.is_unsigned and t in _UNSIGNED else _NUMPY[t])
    raw = ctypes.string_at(col.values, n * dtype.itemsize) if n else b""
    return np.frombuffer(raw, dtype=dtype).copy(), valid


def _read_file(path, columns):
    err = _lib.sj_error()
    r = ctypes.c_void_p()
    _lib.check(_lib.lib.pq_open(ctypes.byref(r), os.fsencode(path), ctypes.byref(err)), err)
    try:
        infos = [_lib.lib.pq_col(r, c).contents for c in range(_lib.lib.pq_ncols(r))]
        names = [i.name.decode() for i in infos]
        want = names if columns is None else list(columns)
        for c in want:
            if c not in names:
                raise UsageError(_lib.SJ_EUSAGE, f"{path}: no column '{c}'")
        parts = {c: [] for c in want}
        for rg in range(_lib.lib.pq_nrowgroups(r)):
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
            values = np.concatenate([v for v, _ in chunks]) if chunks else np.empty(0, dtype=object)
            nullable = info.optional or any(m is not None for _, m in chunks)
            if not nullable:
                result[c] = values
                continue
            mask = np.concatenate([m if m is not None else np.ones(len(v), bool) for v, m in chunks]) \
                if chunks else np.empty(0, bool)
            if values.dtype in _MASKED:
                result[c] = pd.array(values, dtype=_MASKED[values.dtype])
                result[c][~mask] = pd.NA
            else:
                values = values.astype(object)
                values[~mask] = None
                result[c] = values
        return pd.DataFrame(result, columns=want)
    finally:
        _lib.lib.pq_close(r)


def read_parquet(path, columns=None):
    """A Parquet file, or a directory of them (sorted by name), as a DataFrame.

    Values are the stored ones: integers, floats and booleans as numpy
    dtypes (pandas' nullable dtypes where a column may hold NULLs), text as
    str, other byte arrays, INT96 and FIXED_LEN_BYTE_ARRAY as bytes.
    """
    frames = [_read_file(f, columns) for f in _files(os.fspath(path))]
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def query(left, right, on, by=None, aggs="count(*)", threads=0, memory_limit=0, temp_dir=None, out=None,
          explain=False):
    """SELECT by…, aggs FROM left JOIN right USING (on) GROUP BY by… ORDER BY by….

    Arguments as for `skewjoin query`: left/right a Parquet file, a directory
    or a glob; by and aggs a list or a comma-separated string.  Returns the
    answer as a DataFrame, or with out= writes it there (.parquet or .csv)
    and returns the number of rows.  explain=True returns (answer, plan text).
    """
    tmp = None
    target = out
    if out is None:
        tmp = tempfile.mkdtemp(prefix="skewjoin-", dir=temp_dir)
        target = os.path.join(tmp, "answer.parquet")
    try:
        q = _lib.make_query(left, right, on, by, aggs, threads, memory_limit, target, temp_dir)
        report = _lib.sj_query_report()
        err = _lib.sj_error()
        _lib.check(_lib.lib.sj_query_run(ctypes.byref(q), ctypes.byref(report), ctypes.byref(err)), err)
        answer = report.rows if out is not None else read_parquet(target)
        return (answer, report.plan.decode()) if explain else answer
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
