/*
** codec.h — page compression through Debian's libraries (zstd, snappy).
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

const char *codec_name(pq_codec codec);

#endif
