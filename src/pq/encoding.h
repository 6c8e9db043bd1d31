/*
** encoding.h — Parquet's value encodings (writer side).
**
** PLAIN is a memcpy on little-endian machines and needs no helper.  The
** others: the RLE/bit-packing hybrid for dictionary codes, and
** DELTA_BINARY_PACKED for integer sequences.  Bit packing is LSB first, as
** Parquet's Encodings.md specifies for both.
*/
#ifndef PQ_ENCODING_H
#define PQ_ENCODING_H

#include "skewjoin.h"
#include "../util/buf.h"

/* Bits needed to store every value in [0, max_value]; 0 for max_value 0. */
int enc_bit_width(uint64_t max_value);

/* Appends n values of `width` bits (0..16), LSB first, padded with zero
** values to a multiple of 8 values. */
void enc_bitpack_u16(const uint16_t *v, size_t n, int width, sj_buf *out);

/* Appends n values of `width` bits (0..64), LSB first, exactly
** ceil(n*width/8) bytes. */
void enc_bitpack_u64(const uint64_t *v, size_t n, int width, sj_buf *out);

/* The RLE/bit-packed hybrid body of a dictionary-coded data page (without
** the leading bit-width byte): RLE runs where the codes repeat, one
** bit-packed run where they do not, whichever is smaller for the page. */
void enc_hybrid_codes(const uint16_t *codes, size_t n, int width, sj_buf *out);

/* The same for codes given as runs: code i repeated counts[i] times. */
void enc_hybrid_runs(const uint64_t *counts, size_t nruns, uint32_t first_code,
                     int width, sj_buf *out);

/* DELTA_BINARY_PACKED: blocks of 128 values in 4 miniblocks of 32. */
void enc_delta_i64(const int64_t *v, size_t n, sj_buf *out);

#endif
