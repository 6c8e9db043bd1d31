/*
** thrift.h — Thrift's compact protocol, the encoding of Parquet's metadata
** (page headers and the file footer), in both directions.
**
** Both sides are tiny state machines: structs nest, and each level remembers
** its last field id because field headers store id deltas.  The reader
** trusts nothing: every length is checked against the bytes that remain,
** nesting is bounded, and the first error sticks (`failed`) so callers test
** once per struct instead of after every read.
*/
#ifndef PQ_THRIFT_H
#define PQ_THRIFT_H

#include "../util/buf.h"

/* Compact-protocol type codes. */
enum {
  TC_STOP = 0, TC_TRUE = 1, TC_FALSE = 2, TC_BYTE = 3, TC_I16 = 4, TC_I32 = 5,
  TC_I64 = 6, TC_DOUBLE = 7, TC_BINARY = 8, TC_LIST = 9, TC_SET = 10,
  TC_MAP = 11, TC_STRUCT = 12
};

#define TW_MAX_DEPTH 16

typedef struct thrift_writer {
  sj_buf *out;
  int depth;
  int16_t last_id[TW_MAX_DEPTH];
} thrift_writer;

void tw_init(thrift_writer *w, sj_buf *out);
void tw_struct_begin(thrift_writer *w);           /* top level or after tw_field(.., TC_STRUCT) */
void tw_struct_end(thrift_writer *w);             /* writes the stop byte */
void tw_field(thrift_writer *w, int16_t id, int type);
void tw_i32(thrift_writer *w, int16_t id, int32_t v);
void tw_i64(thrift_writer *w, int16_t id, int64_t v);
void tw_bool(thrift_writer *w, int16_t id, int v);
void tw_binary(thrift_writer *w, int16_t id, const void *p, size_t n);
void tw_string(thrift_writer *w, int16_t id, const char *s);
/* A list header; then write n elements: tw_elem_* or struct begin/end. */
void tw_list(thrift_writer *w, int16_t id, int elem_type, uint32_t n);
void tw_elem_i32(thrift_writer *w, int32_t v);
void tw_elem_string(thrift_writer *w, const char *s);
/* An empty struct as a field (unions of empty structs, e.g. TYPE_ORDER). */
void tw_empty_struct(thrift_writer *w, int16_t id);

/* ---------------------------------------------------------------- reader */

typedef struct thrift_reader {
  const uint8_t *p, *end;
  int depth;
  int16_t last_id[TW_MAX_DEPTH];
  int failed;
  const char *why; /* what went wrong first */
} thrift_reader;

void tr_init(thrift_reader *r, const uint8_t *p, size_t n);
/* Enters a struct (the top one, or after a field or element of type STRUCT). */
void tr_struct_begin(thrift_reader *r);
/* The next field's id and type; returns 0 at the struct's stop byte (and
** leaves the struct), or on error. */
int tr_field(thrift_reader *r, int16_t *id, int *type);
int64_t tr_int(thrift_reader *r);            /* i16, i32 or i64: zigzag varint */
int tr_bool_elem(thrift_reader *r);          /* a bool inside a list */
/* A binary's bytes (pointing into the input) and length. */
const uint8_t *tr_binary(thrift_reader *r, size_t *n);
/* A list or set header: element type and count (count checked against the
** bytes left: every element takes at least one byte, except bools… which
** also take one in lists). */
uint32_t tr_list(thrift_reader *r, int *elem_type);
/* Skips a value of the given type, nested structs and lists included. */
void tr_skip(thrift_reader *r, int type);
/* Reads a field value as an integer if it is one (bool fields give 0/1);
** skips it and fails otherwise. */
int64_t tr_field_int(thrift_reader *r, int type);

#endif
