"""ctypes declarations of libskewjoin's public API (include/skewjoin.h).

The library is found, in this order, at $SKEWJOIN_LIB, next to this file,
in the source tree's build/ directory, or by the system's loader.  Each
structure below mirrors one in skewjoin.h field for field; change both
together.
"""
import ctypes
import ctypes.util
import os


class Error(Exception):
    """A failure reported by libskewjoin; .code is its SJ_E* status."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class UsageError(Error, ValueError):
    """SJ_EUSAGE: a bad parameter or input that does not fit the query."""


SJ_EUSAGE = 2
SJ_ENOMEM = 3
SJ_EINTR = 5


class sj_error(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("msg", ctypes.c_char * 1024)]


class sj_query(ctypes.Structure):
    _fields_ = [
        ("left", ctypes.c_char_p), ("right", ctypes.c_char_p), ("on", ctypes.c_char_p),
        ("by", ctypes.c_char_p), ("aggs", ctypes.c_char_p),
        ("threads", ctypes.c_int),
        ("memory_limit", ctypes.c_uint64),
        ("out", ctypes.c_char_p),
        ("csv", ctypes.c_void_p),
        ("temp_dir", ctypes.c_char_p),
        ("progress", ctypes.c_void_p),
        ("progress_ctx", ctypes.c_void_p),
        ("materialize", ctypes.c_char_p),
        ("stop", ctypes.c_void_p),
    ]


class sj_query_report(ctypes.Structure):
    _fields_ = [("rows", ctypes.c_uint64), ("plan", ctypes.c_char * 4096)]


class pq_logical(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("unit", ctypes.c_int), ("utc", ctypes.c_int), ("scale", ctypes.c_int32),
                ("precision", ctypes.c_int32)]


class pq_column_info(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p), ("type", ctypes.c_int), ("type_length", ctypes.c_int32),
        ("optional", ctypes.c_int), ("is_text", ctypes.c_int), ("is_unsigned", ctypes.c_int),
        ("logical", ctypes.c_char * 48), ("lt", pq_logical),
    ]


class pq_column(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int), ("width", ctypes.c_int32), ("rows", ctypes.c_uint64),
        ("values", ctypes.c_void_p), ("offsets", ctypes.c_void_p), ("data", ctypes.c_void_p),
        ("valid", ctypes.c_void_p),
    ]


I16 = ctypes.c_int32 * 16
L16 = ctypes.c_int64 * 16


class sj_dist_info(ctypes.Structure):
    _fields_ = [
        ("magic", ctypes.c_char * 8), ("version", ctypes.c_uint32), ("ncols", ctypes.c_int32),
        ("code_bits", ctypes.c_int32), ("nstates", ctypes.c_int32), ("lo", L16), ("hi", L16),
        ("width", I16), ("shift", I16), ("col_nullable", I16), ("state_fn", I16),
        ("state_float", I16), ("by_nullable", I16), ("agg_nullable", I16),
    ]


class sj_dist_piece(ctypes.Structure):
    _fields_ = [
        ("file", ctypes.c_char_p), ("rowgroup", ctypes.c_int32), ("key_bounds", ctypes.c_int32),
        ("rows", ctypes.c_uint64), ("key_min", ctypes.c_int64), ("key_max", ctypes.c_int64),
    ]


class sj_dist_plan(ctypes.Structure):
    _fields_ = [
        ("info", sj_dist_info), ("pieces", ctypes.POINTER(sj_dist_piece)), ("npieces", ctypes.c_size_t),
        ("ngroupings", ctypes.c_size_t), ("grouping_at", ctypes.POINTER(ctypes.c_size_t)),
        ("grouping_keys", ctypes.POINTER(ctypes.c_int64)),
    ]


class sj_dist_want(ctypes.Structure):
    _fields_ = [("keys", ctypes.POINTER(ctypes.c_int64)), ("nkeys", ctypes.c_size_t), ("p0", ctypes.c_size_t),
                ("p1", ctypes.c_size_t)]


class pq_column_spec(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("type", ctypes.c_int), ("encoding", ctypes.c_int),
                ("codec", ctypes.c_int), ("optional", ctypes.c_int), ("lt", pq_logical)]


class pq_vector(ctypes.Structure):
    _fields_ = [
        ("kind", ctypes.c_int), ("i64", ctypes.c_void_p), ("f64", ctypes.c_void_p), ("codes", ctypes.c_void_p),
        ("dict", ctypes.c_void_p), ("dict_len", ctypes.c_uint32), ("runs", ctypes.c_void_p),
        ("run_count", ctypes.c_size_t), ("valid", ctypes.c_void_p), ("bytes", ctypes.c_void_p),
        ("offsets", ctypes.c_void_p),
    ]


class sj_bytes(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def _find():
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [os.environ.get("SKEWJOIN_LIB"), os.path.join(here, "libskewjoin.so"),
                  os.path.join(here, "..", "..", "build", "libskewjoin.so")]
    for path in candidates:
        if path and os.path.exists(path):
            return path
    found = ctypes.util.find_library("skewjoin")
    if found:
        return found
    raise ImportError("libskewjoin.so not found: build it with `make` in the source tree, or set SKEWJOIN_LIB")


lib = ctypes.CDLL(_find())
P = ctypes.POINTER
_decl = {
    "sj_query_run": (ctypes.c_int, [P(sj_query), P(sj_query_report), P(sj_error)]),
    "sj_stop_new": (ctypes.c_void_p, []),
    "sj_stop_free": (None, [ctypes.c_void_p]),
    "sj_stop_request": (None, [ctypes.c_void_p]),
    "sj_stop_requested": (ctypes.c_int, [ctypes.c_void_p]),
    "sj_list": (ctypes.c_int, [ctypes.c_char_p, ctypes.c_char_p, P(P(ctypes.c_char_p)), P(ctypes.c_int), P(sj_error)]),
    "sj_list_free": (None, [P(ctypes.c_char_p), ctypes.c_int]),
    "pq_open": (ctypes.c_int, [P(ctypes.c_void_p), ctypes.c_char_p, P(sj_error)]),
    "pq_close": (None, [ctypes.c_void_p]),
    "pq_ncols": (ctypes.c_int, [ctypes.c_void_p]),
    "pq_col": (P(pq_column_info), [ctypes.c_void_p, ctypes.c_int]),
    "pq_nrowgroups": (ctypes.c_int, [ctypes.c_void_p]),
    "pq_rowgroup_rows": (ctypes.c_int64, [ctypes.c_void_p, ctypes.c_int]),
    "pq_read": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, P(pq_column), P(sj_error)]),
    "pq_read_bytes": (ctypes.c_uint64, [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]),
    "sj_memory_default": (ctypes.c_uint64, []),
    "pq_path": (ctypes.c_char_p, [ctypes.c_void_p]),
    "pq_column_free": (None, [P(pq_column)]),
    "sj_bytes_free": (None, [P(sj_bytes)]),
    "pq_scratch_new": (ctypes.c_void_p, []),
    "pq_scratch_free": (None, [ctypes.c_void_p]),
    "pq_rowgroup_encode": (ctypes.c_int, [P(pq_column_spec), ctypes.c_int, P(pq_vector), ctypes.c_uint64,
                                          ctypes.c_void_p, P(ctypes.c_void_p), P(sj_error)]),
    "pq_rowgroup_free": (None, [ctypes.c_void_p]),
    "pq_file_open": (ctypes.c_int, [P(ctypes.c_void_p), ctypes.c_char_p, P(pq_column_spec), ctypes.c_int,
                                    P(sj_error)]),
    "pq_file_append": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_void_p, P(sj_error)]),
    "pq_file_close": (ctypes.c_int, [ctypes.c_void_p, P(ctypes.c_uint64), P(sj_error)]),
    "pq_file_abort": (None, [ctypes.c_void_p]),
    "sj_dist_plan_make": (ctypes.c_int, [P(sj_query), P(P(sj_dist_plan)), P(sj_error)]),
    "sj_dist_plan_free": (None, [P(sj_dist_plan)]),
    "sj_dist_scan": (ctypes.c_int, [P(sj_query), P(sj_dist_info), P(sj_dist_piece), ctypes.c_size_t,
                                    P(ctypes.c_int64), ctypes.c_size_t, P(ctypes.c_uint64), ctypes.c_size_t,
                                    P(sj_bytes), P(sj_error)]),
    "sj_dist_combine": (ctypes.c_int, [P(sj_dist_info), P(sj_bytes), ctypes.c_size_t, P(sj_bytes), P(sj_error)]),
    "sj_dist_split": (ctypes.c_int, [P(sj_dist_info), P(sj_bytes), ctypes.c_size_t, P(sj_dist_want), ctypes.c_size_t,
                                     P(sj_bytes), P(sj_error)]),
    "sj_dist_tiler_open": (ctypes.c_int, [P(sj_query), P(sj_dist_info), P(ctypes.c_void_p), P(sj_error)]),
    "sj_dist_tiler_close": (None, [ctypes.c_void_p]),
    "sj_dist_tile": (ctypes.c_int, [ctypes.c_void_p, P(sj_bytes), ctypes.c_size_t, ctypes.c_uint32, ctypes.c_uint32,
                                    ctypes.c_uint64, ctypes.c_uint64, ctypes.c_char_p, P(sj_bytes),
                                    P(ctypes.c_uint64), P(sj_error)]),
}
for _name, (_res, _args) in _decl.items():
    _f = getattr(lib, _name)
    _f.restype = _res
    _f.argtypes = _args

# The structs above mirror include/skewjoin.h: a library of another layout
# would read every array of them wrong, so it is refused here.
lib.sj_struct_size.restype = ctypes.c_size_t
lib.sj_struct_size.argtypes = [ctypes.c_char_p]
for _cls in (sj_error, sj_query, sj_query_report, pq_logical, pq_column_info, pq_column, pq_column_spec, pq_vector,
             sj_dist_info, sj_dist_piece, sj_dist_plan, sj_dist_want, sj_bytes):
    _size = lib.sj_struct_size(_cls.__name__.encode())
    if _size != ctypes.sizeof(_cls):
        raise ImportError(f"{lib._name}: struct {_cls.__name__} is {_size} bytes, this package declares "
                          f"{ctypes.sizeof(_cls)}; rebuild the library from the same source tree")


def list_files(path, suffix=".parquet"):
    """The files a path names, as the CLI reads it (sj_list): a directory's
    *.parquet, an existing file as itself, else a glob's matches."""
    names, n, err = P(ctypes.c_char_p)(), ctypes.c_int(), sj_error()
    check(lib.sj_list(os.fsencode(path), suffix.encode(), ctypes.byref(names), ctypes.byref(n), ctypes.byref(err)), err)
    try:
        return [os.fsdecode(names[i]) for i in range(n.value)]
    finally:
        lib.sj_list_free(names, n)


def check(rc, err):
    """Raises the library's error for a non-zero status."""
    if rc:
        msg = err.msg.decode("utf-8", "replace")
        raise (UsageError if rc == SJ_EUSAGE else Error)(rc, msg)


def take_bytes(b):
    """The contents of an sj_bytes as Python bytes; frees the C buffer."""
    data = ctypes.string_at(b.data, b.len) if b.len else b""
    lib.sj_bytes_free(ctypes.byref(b))
    return data


def make_query(left, right, on, by, aggs, threads=0, memory_limit=0, out=None, temp_dir=None):
    """An sj_query; the encoded strings are kept alive on the structure."""
    q = sj_query()
    keep = []

    def enc(s):
        if s is None:
            return None
        b = os.fsencode(s) if not isinstance(s, bytes) else s
        keep.append(b)
        return b
    q.left, q.right, q.on = enc(left), enc(right), enc(on)
    q.by = enc(",".join(by) if isinstance(by, (list, tuple)) else (by or ""))
    q.aggs = enc(",".join(aggs) if isinstance(aggs, (list, tuple)) else aggs)
    q.threads = int(threads)
    q.memory_limit = int(memory_limit)
    q.out = enc(out)
    q.temp_dir = enc(temp_dir)
    q._keep = keep
    return q
