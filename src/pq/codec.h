/*
** codec.h — page compression through Debian's libraries: zstd, snappy,
** zlib (gzip) and lz4.  Compression for the writer; decompression, bounded
** by the sizes the page header declares, for the reader.
**
** A codec_ctx holds the reusable state of one thread (a zstd context), so
** compressing a page allocates nothing after the first page.
*/
#ifndef PQ_CODEC_H
#define PQ_CODEC_H

#include "skewjoin.h"
#include "../util/buf.h"

typedef struct codec_ctx codec_ctx;

codec_ctx *codec_ctx_new(void);
void codec_ctx_free(codec_ctx *c);

/* Appends src compressed with `codec` to out.  Returns 0 or an SJ_ code. */
int codec_compress(codec_ctx *c, pq_codec codec, const uint8_t *src, size_t n,
                   sj_buf *out, sj_error *err);

/* Decompresses exactly `expect` bytes of `codec` from src into dst; anything
** else (a short or long result, a corrupt stream) is an SJ_ECORRUPT. */
int codec_decompress(pq_codec codec, const uint8_t *src, size_t n, uint8_t *dst, size_t expect,
                     sj_error *err);

#endif
