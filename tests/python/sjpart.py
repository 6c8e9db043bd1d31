"""SJPART partials rewritten as dist.c writes them, for the tests and the
fuzz seeds: partials whose every count is chosen (near 2^63, say), which a
real scan cannot make."""
import ctypes
import ctypes.util
import struct


def _uvarint(b, at):
    v = shift = 0
    while True:
        x = b[at]
        at += 1
        v |= (x & 0x7F) << shift
        shift += 7
        if x < 0x80:
            return v, at


def _uvarint_bytes(v):
    out = bytearray()
    while v >= 0x80:
        out.append(v & 0x7F | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def with_counts(part, count):
    """The partial with every entry's count set to `count`, re-packed and
    re-framed as dist.c writes it (header 440 bytes; a zstd table of runs
    {key, n, zoff, zlen, packed}; one zstd frame per run of packed entries:
    code varint, count-1 varint, per state a tag byte and its words)."""
    z = ctypes.CDLL(ctypes.util.find_library("zstd"))
    z.ZSTD_getFrameContentSize.restype = ctypes.c_ulonglong
    z.ZSTD_compressBound.restype = z.ZSTD_decompress.restype = z.ZSTD_compress.restype = ctypes.c_size_t

    def unframe(src):
        n = z.ZSTD_getFrameContentSize(src, ctypes.c_size_t(len(src)))
        dst = ctypes.create_string_buffer(max(n, 1))
        got = z.ZSTD_decompress(dst, ctypes.c_size_t(n), src, ctypes.c_size_t(len(src)))
        assert got == n, "a frame of the partial does not decompress"
        return dst.raw[:n]

    def frame(src):
        cap = z.ZSTD_compressBound(ctypes.c_size_t(len(src)))
        dst = ctypes.create_string_buffer(cap)
        n = z.ZSTD_compress(dst, ctypes.c_size_t(cap), src, ctypes.c_size_t(len(src)), 3)
        return dst.raw[:n]

    nstates = struct.unpack_from("<I", part, 12)[0]
    nruns, nentries, table_zlen, entries_zlen = struct.unpack_from("<4Q", part, 408)
    table = unframe(part[440:440 + table_zlen])
    runs = part[440 + table_zlen:]
    new_table, new_runs = bytearray(), bytearray()
    for i in range(nruns):
        key, n, zoff, zlen, _ = struct.unpack_from("<q4Q", table, 40 * i)
        packed, at, out = unframe(runs[zoff:zoff + zlen]), 0, bytearray()
        for _ in range(n):
            start = at
            _, at = _uvarint(packed, at)
            out += packed[start:at]
            _, at = _uvarint(packed, at)
            out += _uvarint_bytes(count - 1)
            start = at
            for _ in range(nstates):
                tag = packed[at]
                at += 1
                for w in range(4):
                    t = (tag >> (2 * w)) & 3
                    if t == 1:
                        _, at = _uvarint(packed, at)
                    elif t == 2:
                        at += 8
            out += packed[start:at]
        assert at == len(packed)
        f = frame(bytes(out))
        new_table += struct.pack("<q4Q", key, n, len(new_runs), len(f), len(out))
        new_runs += f
    t = frame(bytes(new_table))
    head = bytearray(part[:440])
    struct.pack_into("<4Q", head, 408, nruns, nentries, len(t), len(new_runs))
    return bytes(head + t + new_runs)

