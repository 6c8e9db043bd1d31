/*
** encoding.h — Parquet's value encodings, each encoder beside its decoder.
**
** PLAIN is a memcpy on little-endian machines and needs no helper.  The
** others: the RLE/bit-packing hybrid for dictionary codes, levels and
** booleans, and DELTA_BINARY_PACKED for integer sequences (and the lengths
** of the two delta byte-array encodings).  Bit packing is LSB first, as
** Parquet's Encodings.md specifies for both.  The decoders take untrusted
** bytes: every header, width and count is checked against the bytes left.
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

/* Decoding the hybrid: hybrid_get decodes the next n values into out;
** 0, or -1 when the data ends early or is malformed. */
typedef struct hybrid_reader {
  const uint8_t *p, *end;
  int width;
  uint64_t rle_left;     /* values left in the current RLE run */
  uint32_t rle_value;
  uint64_t packed_left;  /* values left in the current bit-packed run */
  size_t bitpos;         /* within the packed run starting at pp */
  const uint8_t *pp;
} hybrid_reader;

void hybrid_init(hybrid_reader *h, const uint8_t *p, size_t n, int width);
int hybrid_get(hybrid_reader *h, uint32_t *out, uint64_t n);

/* Decoding DELTA_BINARY_PACKED: delta_init reads the header (block size,
** miniblocks, total, first value), delta_get the next n values (n <= total
** - produced, in whole miniblocks but the last); 0, or -1 when malformed. */
typedef struct delta_reader {
  const uint8_t *p, *end;
  uint64_t block, minis, per_mini, total, produced;
  int64_t last;
} delta_reader;

int delta_init(delta_reader *d, const uint8_t *p, const uint8_t *end);
int delta_get(delta_reader *d, int64_t *out, uint64_t n);

#endif
