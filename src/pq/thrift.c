/*
** thrift.c — compact protocol for Parquet metadata: encoder and decoder.
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

/* ---------------------------------------------------------------- reader */

static void tr_fail(thrift_reader *r, const char *why) {
  if (!r->failed) r->why = why;
  r->failed = 1;
  r->p = r->end; /* nothing more is read */
}

void tr_init(thrift_reader *r, const uint8_t *p, size_t n) {
  r->p = p;
  r->end = p + n;
  r->depth = 0;
  r->last_id[0] = 0;
  r->failed = 0;
  r->why = NULL;
}

static uint64_t tr_uvarint(thrift_reader *r) {
  uint64_t v = 0;
  int rc = sj_uvarint_get(&r->p, r->end, &v);
  if (rc) tr_fail(r, rc == SJ_VARINT_SHORT ? "truncated varint" : "varint overflows 64 bits");
  return rc ? 0 : v;
}

static int64_t unzigzag(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

int64_t tr_int(thrift_reader *r) { return unzigzag(tr_uvarint(r)); }

void tr_struct_begin(thrift_reader *r) {
  if (r->depth + 1 >= TW_MAX_DEPTH) { tr_fail(r, "structs nested too deep"); return; }
  r->last_id[++r->depth] = 0;
}

int tr_field(thrift_reader *r, int16_t *id, int *type) {
  if (r->failed) return 0;
  if (r->p >= r->end) { tr_fail(r, "truncated struct"); return 0; }
  uint8_t b = *r->p++;
  if (b == TC_STOP) {
    if (r->depth > 0) r->depth--;
    return 0;
  }
  *type = b & 0x0f;
  int delta = b >> 4;
  int64_t fid = delta ? r->last_id[r->depth] + delta : tr_int(r);
  if (fid < INT16_MIN || fid > INT16_MAX) { tr_fail(r, "field id out of range"); return 0; }
  if (*type == 0 || *type > TC_STRUCT) { tr_fail(r, "unknown field type"); return 0; }
  *id = (int16_t)fid;
  r->last_id[r->depth] = (int16_t)fid;
  return !r->failed;
}

int tr_bool_elem(thrift_reader *r) {
  if (r->p >= r->end) { tr_fail(r, "truncated bool"); return 0; }
  return *r->p++ == 1;
}

const uint8_t *tr_binary(thrift_reader *r, size_t *n) {
  uint64_t len = tr_uvarint(r);
  if (r->failed || len > (uint64_t)(r->end - r->p)) {
    tr_fail(r, "binary longer than the bytes left");
    *n = 0;
    return NULL;
  }
  const uint8_t *p = r->p;
  r->p += len;
  *n = (size_t)len;
  return p;
}

uint32_t tr_list(thrift_reader *r, int *elem_type) {
  if (r->p >= r->end) { tr_fail(r, "truncated list"); return 0; }
  uint8_t b = *r->p++;
  uint64_t n = b >> 4;
  *elem_type = b & 0x0f;
  if (n == 15) n = tr_uvarint(r);
  if (r->failed) return 0;
  if (n > (uint64_t)(r->end - r->p)) { tr_fail(r, "list longer than the bytes left"); return 0; }
  return (uint32_t)n;
}

void tr_skip(thrift_reader *r, int type) {
  if (r->failed) return;
  switch (type) {
    case TC_TRUE:
    case TC_FALSE: return; /* the value lives in the field header */
    case TC_BYTE:
      if (r->p >= r->end) tr_fail(r, "truncated byte");
      else r->p++;
      return;
    case TC_I16:
    case TC_I32:
    case TC_I64: tr_uvarint(r); return;
    case TC_DOUBLE:
      if (r->end - r->p < 8) tr_fail(r, "truncated double");
      else r->p += 8;
      return;
    case TC_BINARY: {
      size_t n;
      tr_binary(r, &n);
      return;
    }
    case TC_LIST:
    case TC_SET: {
      int et;
      uint32_t n = tr_list(r, &et);
      if (r->depth + 1 >= TW_MAX_DEPTH) { tr_fail(r, "lists nested too deep"); return; }
      r->depth++; /* lists count toward the nesting bound too */
      r->last_id[r->depth] = 0;
      for (uint32_t i = 0; i < n && !r->failed; i++) {
        if (et == TC_TRUE || et == TC_FALSE) tr_bool_elem(r);
        else tr_skip(r, et);
      }
      r->depth--;
      return;
    }
    case TC_MAP: {
      uint64_t n = tr_uvarint(r);
      if (n == 0) return;
      if (r->p >= r->end) { tr_fail(r, "truncated map"); return; }
      uint8_t kv = *r->p++;
      if (n > (uint64_t)(r->end - r->p)) { tr_fail(r, "map longer than the bytes left"); return; }
      for (uint64_t i = 0; i < n && !r->failed; i++) {
        tr_skip(r, kv >> 4);
        tr_skip(r, kv & 0x0f);
      }
      return;
    }
    case TC_STRUCT: {
      tr_struct_begin(r);
      int16_t id;
      int t;
      while (tr_field(r, &id, &t)) tr_skip(r, t);
      return;
    }
  }
  tr_fail(r, "unknown type");
}

int64_t tr_field_int(thrift_reader *r, int type) {
  switch (type) {
    case TC_TRUE: return 1;
    case TC_FALSE: return 0;
    case TC_BYTE:
      if (r->p >= r->end) { tr_fail(r, "truncated byte"); return 0; }
      return (int8_t)*r->p++;
    case TC_I16:
    case TC_I32:
    case TC_I64: return tr_int(r);
  }
  tr_skip(r, type);
  tr_fail(r, "a field has the wrong type");
  return 0;
}
