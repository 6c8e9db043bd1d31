/*
** thrift.c — compact-protocol encoder for Parquet metadata.
**
** Field headers carry the delta from the previous field id in the same
** struct when it fits in 4 bits; otherwise the type byte is followed by the
** zigzag id.  Integers are zigzag varints; binaries are length-prefixed.
*/
#include "thrift.h"

#include <assert.h>

void tw_init(thrift_writer *w, sj_buf *out) {
  w->out = out;
  w->depth = 0;
  w->last_id[0] = 0;
}

void tw_struct_begin(thrift_writer *w) {
  assert(w->depth + 1 < TW_MAX_DEPTH);
  w->last_id[++w->depth] = 0;
}

void tw_struct_end(thrift_writer *w) {
  assert(w->depth > 0);
  sj_buf_byte(w->out, TC_STOP);
  w->depth--;
}

void tw_field(thrift_writer *w, int16_t id, int type) {
  int16_t delta = (int16_t)(id - w->last_id[w->depth]);
  if (delta > 0 && delta <= 15) {
    sj_buf_byte(w->out, (uint8_t)((delta << 4) | type));
  } else {
    sj_buf_byte(w->out, (uint8_t)type);
    sj_buf_uvarint(w->out, sj_zigzag64(id));
  }
  w->last_id[w->depth] = id;
}

void tw_i32(thrift_writer *w, int16_t id, int32_t v) {
  tw_field(w, id, TC_I32);
  sj_buf_uvarint(w->out, sj_zigzag64(v));
}

void tw_i64(thrift_writer *w, int16_t id, int64_t v) {
  tw_field(w, id, TC_I64);
  sj_buf_uvarint(w->out, sj_zigzag64(v));
}

void tw_bool(thrift_writer *w, int16_t id, int v) {
  tw_field(w, id, v ? TC_TRUE : TC_FALSE);
}

void tw_binary(thrift_writer *w, int16_t id, const void *p, size_t n) {
  tw_field(w, id, TC_BINARY);
  sj_buf_uvarint(w->out, n);
  sj_buf_put(w->out, p, n);
}

void tw_string(thrift_writer *w, int16_t id, const char *s) {
  tw_binary(w, id, s, strlen(s));
}

void tw_list(thrift_writer *w, int16_t id, int elem_type, uint32_t n) {
  tw_field(w, id, TC_LIST);
  if (n < 15) {
    sj_buf_byte(w->out, (uint8_t)((n << 4) | (uint32_t)elem_type));
  } else {
    sj_buf_byte(w->out, (uint8_t)(0xF0 | elem_type));
    sj_buf_uvarint(w->out, n);
  }
}

void tw_elem_i32(thrift_writer *w, int32_t v) { sj_buf_uvarint(w->out, sj_zigzag64(v)); }

void tw_elem_string(thrift_writer *w, const char *s) {
  size_t n = strlen(s);
  sj_buf_uvarint(w->out, n);
  sj_buf_put(w->out, s, n);
}

void tw_empty_struct(thrift_writer *w, int16_t id) {
  tw_field(w, id, TC_STRUCT);
  sj_buf_byte(w->out, TC_STOP);
}
