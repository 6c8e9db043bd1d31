"""What the Python test suites share: paths, the binary under test, the
DuckDB oracle, and pass/fail counting that ends in "suite: N passed, N failed".
"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SKEWJOIN = os.environ.get("SKEWJOIN", os.path.join(ROOT, "build", "skewjoin"))
ORACLE = os.path.join(ROOT, "tests", "oracle")


class Checks:
    def __init__(self, suite):
        self.suite, self.passed, self.failed = suite, 0, 0

    def __call__(self, cond, what):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL {what}", file=sys.stderr)
        return cond

    def case(self, fn, *args, **kwargs):
        """Runs one group of checks; an exception in it (a missing fixture,
        a crash of an oracle) fails that group under its name, and the
        suite goes on with the next."""
        try:
            fn(*args, **kwargs)
        except Exception as e:
            self(False, f"{fn.__name__}: {type(e).__name__}: {e}")

    def summary(self):
        print(f"{self.suite}: {self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0


def without_statistics(src, dst):
    """Copies Parquet file src (or a glob's files, into one) to dst with
    Polars, writing no statistics at all, as some writers do."""
    subprocess.run(["node", os.path.join(ORACLE, "polars.mjs"), "nostats", src, dst],
                   capture_output=True, text=True, check=True)


def duck(*sql):
    """Runs SQL in DuckDB; returns one list of row objects per statement."""
    p = subprocess.run(["node", os.path.join(ORACLE, "q.mjs"), *sql],
                       capture_output=True, text=True, check=True)
    return [json.loads(line) for line in p.stdout.splitlines()]


MEMORY_CGROUPS = "/sys/fs/cgroup/memory"  # the cgroup v1 memory controller


def in_memory_cgroup(limit_mib, argv):
    """Runs argv inside a memory cgroup of its own that holds at most
    limit_mib MiB (its page cache included, as a container's limit does).
    Returns (exit code, stderr, the cgroup's peak bytes, OOM kills), or None
    where this machine offers no memory cgroup to make (the caller says
    that it skipped)."""
    path = os.path.join(MEMORY_CGROUPS, f"skewjoin-test-{os.getpid()}")
    try:
        os.mkdir(path)
    except OSError:
        return None
    try:
        with open(os.path.join(path, "memory.limit_in_bytes"), "w") as f:
            f.write(str(limit_mib << 20))
        procs = os.path.join(path, "cgroup.procs")

        def enter():
            with open(procs, "w") as f:
                f.write(str(os.getpid()))

        p = subprocess.run(argv, preexec_fn=enter, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        with open(os.path.join(path, "memory.max_usage_in_bytes")) as f:
            peak = int(f.read())
        kills = 0
        with open(os.path.join(path, "memory.oom_control")) as f:
            for line in f:
                if line.startswith("oom_kill "):
                    kills = int(line.split()[1])
        return p.returncode, p.stderr, peak, kills
    finally:
        try:
            with open(os.path.join(path, "memory.force_empty"), "w") as f:
                f.write("0")  # the page cache it still holds goes, so that it can be removed
        except OSError:
            pass
        os.rmdir(path)


def huge_rowgroups(path):
    """Writes a valid Parquet file of two row groups that declare 2^31 - 1
    rows each: one INT64 column `key`, 7 throughout (a dictionary page and
    one RLE run a page): 2.5 MB on disk, 32 GiB as values."""
    sys.path.insert(0, os.path.join(ROOT, "python"))
    import ctypes
    from skewjoin import _lib

    class pq_run(ctypes.Structure):
        _fields_ = [("value", ctypes.c_int64), ("count", ctypes.c_uint64)]

    spec = (_lib.pq_column_spec * 1)()
    spec[0].name, spec[0].type, spec[0].encoding, spec[0].codec = b"key", 2, 2, 6  # INT64, dictionary, zstd
    run = pq_run(7, 2**31 - 1)
    vec = (_lib.pq_vector * 1)()
    vec[0].kind, vec[0].runs, vec[0].run_count = 3, ctypes.addressof(run), 1  # PQ_VEC_RUNS
    err, f = _lib.sj_error(), ctypes.c_void_p()
    _lib.check(_lib.lib.pq_file_open(ctypes.byref(f), os.fsencode(path), spec, 1, ctypes.byref(err)), err)
    scratch = _lib.lib.pq_scratch_new()
    for _ in range(2):
        rg = ctypes.c_void_p()
        _lib.check(_lib.lib.pq_rowgroup_encode(spec, 1, vec, 2**31 - 1, scratch, ctypes.byref(rg), ctypes.byref(err)),
                   err)
        rc = _lib.lib.pq_file_append(f, rg, ctypes.byref(err))
        _lib.lib.pq_rowgroup_free(rg)
        _lib.check(rc, err)
    _lib.lib.pq_scratch_free(scratch)
    _lib.check(_lib.lib.pq_file_close(f, None, ctypes.byref(err)), err)
