/*
** codec.c — compression of page bodies.
**
** zstd runs at level 1: the generator's compressible columns are small
** integers whose gain saturates at low levels, and the writer must keep up
** with the disk.
*/
#include "codec.h"

#include <lz4.h>
#include <pthread.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

struct codec_ctx {
  ZSTD_CCtx *zstd;
};

codec_ctx *codec_ctx_new(void) { return calloc(1, sizeof(codec_ctx)); }

void codec_ctx_free(codec_ctx *c) {
  if (!c) return;
  ZSTD_freeCCtx(c->zstd);
  free(c);
}

const char *pq_codec_name(pq_codec codec) {
  switch (codec) {
    case PQ_CODEC_NONE: return "UNCOMPRESSED";
    case PQ_CODEC_SNAPPY: return "SNAPPY";
    case PQ_CODEC_GZIP: return "GZIP";
    case PQ_CODEC_LZ4: return "LZ4";
    case PQ_CODEC_ZSTD: return "ZSTD";
    case PQ_CODEC_LZ4_RAW: return "LZ4_RAW";
  }
  return "UNKNOWN";
}

int codec_compress(codec_ctx *c, pq_codec codec, const uint8_t *src, size_t n,
                   sj_buf *out, sj_error *err) {
  switch (codec) {
    case PQ_CODEC_NONE:
      sj_buf_put(out, src, n);
      return out->failed ? sj_fail(err, SJ_ENOMEM, "out of memory") : 0;
    case PQ_CODEC_SNAPPY: {
      size_t cap = snappy_max_compressed_length(n);
      if (sj_buf_reserve(out, cap)) return sj_fail(err, SJ_ENOMEM, "out of memory");
      size_t got = cap;
      if (snappy_compress((const char *)src, n, (char *)out->data + out->len, &got) != SNAPPY_OK)
        return sj_fail(err, SJ_EIO, "snappy compression failed");
      out->len += got;
      return 0;
    }
    case PQ_CODEC_ZSTD: {
      if (!c->zstd && !(c->zstd = ZSTD_createCCtx()))
        return sj_fail(err, SJ_ENOMEM, "out of memory (zstd context)");
      size_t cap = ZSTD_compressBound(n);
      if (sj_buf_reserve(out, cap)) return sj_fail(err, SJ_ENOMEM, "out of memory");
      size_t got = ZSTD_compressCCtx(c->zstd, out->data + out->len, cap, src, n, 1);
      if (ZSTD_isError(got))
        return sj_fail(err, SJ_EIO, "zstd compression failed: %s", ZSTD_getErrorName(got));
      out->len += got;
      return 0;
    }
    default: break;
  }
  return sj_fail(err, SJ_EUSAGE, "the writer does not produce codec %s", pq_codec_name(codec));
}

/* gzip, possibly several members back to back (concatenated_gzip_members). */
static int gunzip(const uint8_t *src, size_t n, uint8_t *dst, size_t expect, sj_error *err) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (inflateInit2(&z, 15 + 32) != Z_OK) return sj_fail(err, SJ_ENOMEM, "zlib init failed");
  z.next_in = (Bytef *)src;
  z.next_out = dst;
  int rc = 0;
  while (!rc) {
    /* zlib counts in uInt: feed at most 1 GiB per call. */
    z.avail_in = (uInt)((const uint8_t *)src + n - z.next_in > (1 << 30) ? (1 << 30)
                                                                          : (const uint8_t *)src + n - z.next_in);
    z.avail_out = (uInt)(dst + expect - z.next_out > (1 << 30) ? (1 << 30) : dst + expect - z.next_out);
    int zr = inflate(&z, Z_NO_FLUSH);
    if (zr == Z_STREAM_END) {
      if (z.next_in == src + n) break;
      if (inflateReset(&z) != Z_OK) rc = sj_fail(err, SJ_ECORRUPT, "gzip: cannot restart");
    } else if (zr != Z_OK) {
      rc = sj_fail(err, SJ_ECORRUPT, "gzip data is corrupt (%s)", z.msg ? z.msg : "zlib error");
    } else if (z.avail_in == 0 && z.next_in == src + n) {
      rc = sj_fail(err, SJ_ECORRUPT, "gzip data is truncated");
    } else if (z.next_out == dst + expect && z.avail_out == 0) {
      rc = sj_fail(err, SJ_ECORRUPT, "gzip data is longer than the page says");
    }
  }
  size_t got = (size_t)(z.next_out - dst);
  inflateEnd(&z);
  if (!rc && got != expect)
    rc = sj_fail(err, SJ_ECORRUPT, "gzip gave %zu bytes, the page says %zu", got, expect);
  return rc;
}

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Legacy LZ4: Hadoop's framing (big-endian sizes around raw blocks) when it
** parses exactly, else one raw LZ4 block, as older parquet-cpp wrote it. */
static int lz4_legacy(const uint8_t *src, size_t n, uint8_t *dst, size_t expect, sj_error *err) {
  size_t in = 0, out = 0;
  while (n - in >= 8) {
    uint32_t raw = be32(src + in), packed = be32(src + in + 4);
    if (packed > n - in - 8 || raw > expect - out || packed > INT32_MAX || raw > INT32_MAX) break;
    int got = LZ4_decompress_safe((const char *)src + in + 8, (char *)dst + out, (int)packed, (int)raw);
    if (got != (int)raw) break;
    in += 8 + packed;
    out += raw;
    if (in == n && out == expect) return 0;
  }
  if (n > INT32_MAX || expect > INT32_MAX)
    return sj_fail(err, SJ_ECORRUPT, "LZ4 page too large");
  int got = LZ4_decompress_safe((const char *)src, (char *)dst, (int)n, (int)expect);
  if (got != (int)expect) return sj_fail(err, SJ_ECORRUPT, "LZ4 data is corrupt");
  return 0;
}

/* One zstd decompression context per thread, made on first use and freed
** when the thread exits: ZSTD_decompress would build and zero a fresh one
** (~160 KB) for every page, which dominated scans of small pages. */
static pthread_key_t dctx_key;
static pthread_once_t dctx_once = PTHREAD_ONCE_INIT;

static void dctx_free(void *p) { ZSTD_freeDCtx(p); }
static void dctx_key_make(void) { pthread_key_create(&dctx_key, dctx_free); }

static ZSTD_DCtx *thread_dctx(void) {
  pthread_once(&dctx_once, dctx_key_make);
  ZSTD_DCtx *d = pthread_getspecific(dctx_key);
  if (!d && (d = ZSTD_createDCtx())) pthread_setspecific(dctx_key, d);
  return d;
}

int codec_decompress(pq_codec codec, const uint8_t *src, size_t n, uint8_t *dst, size_t expect,
                     sj_error *err) {
  switch (codec) {
    case PQ_CODEC_NONE:
      if (n != expect)
        return sj_fail(err, SJ_ECORRUPT, "uncompressed page of %zu bytes, header says %zu", n, expect);
      memcpy(dst, src, n);
      return 0;
    case PQ_CODEC_SNAPPY: {
      size_t len;
      if (snappy_uncompressed_length((const char *)src, n, &len) != SNAPPY_OK || len != expect)
        return sj_fail(err, SJ_ECORRUPT, "snappy data is corrupt or of the wrong size");
      if (snappy_uncompress((const char *)src, n, (char *)dst, &len) != SNAPPY_OK || len != expect)
        return sj_fail(err, SJ_ECORRUPT, "snappy data is corrupt");
      return 0;
    }
    case PQ_CODEC_GZIP: return gunzip(src, n, dst, expect, err);
    case PQ_CODEC_ZSTD: {
      ZSTD_DCtx *d = thread_dctx();
      if (!d) return sj_fail(err, SJ_ENOMEM, "out of memory (zstd context)");
      size_t got = ZSTD_decompressDCtx(d, dst, expect, src, n);
      if (ZSTD_isError(got))
        return sj_fail(err, SJ_ECORRUPT, "zstd data is corrupt (%s)", ZSTD_getErrorName(got));
      if (got != expect) return sj_fail(err, SJ_ECORRUPT, "zstd gave %zu bytes, the page says %zu", got, expect);
      return 0;
    }
    case PQ_CODEC_LZ4_RAW: {
      if (n > INT32_MAX || expect > INT32_MAX) return sj_fail(err, SJ_ECORRUPT, "LZ4 page too large");
      int got = LZ4_decompress_safe((const char *)src, (char *)dst, (int)n, (int)expect);
      if (got != (int)expect) return sj_fail(err, SJ_ECORRUPT, "LZ4_RAW data is corrupt");
      return 0;
    }
    case PQ_CODEC_LZ4: return lz4_legacy(src, n, dst, expect, err);
  }
  return sj_fail(err, SJ_ECORRUPT, "codec %d is not supported (LZO and BROTLI are not)", (int)codec);
}
