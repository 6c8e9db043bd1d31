/*
** codec.c — compression of page bodies.
**
** zstd runs at level 1: the generator's compressible columns are small
** integers whose gain saturates at low levels, and the writer must keep up
** with the disk.
*/
#include "codec.h"

#include <snappy-c.h>
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

const char *codec_name(pq_codec codec) {
  switch (codec) {
    case PQ_CODEC_NONE: return "none";
    case PQ_CODEC_SNAPPY: return "snappy";
    case PQ_CODEC_ZSTD: return "zstd";
  }
  return "?";
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
  }
  return sj_fail(err, SJ_EUSAGE, "unknown codec %d", (int)codec);
}
