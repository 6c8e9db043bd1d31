/*
** column.h — a decoded column as the query reads it: int64 or double
** values whatever the physical type, the type and meaning the query gives a
** file's column, and statistics bounds as integers.
*/
#ifndef QUERY_COLUMN_H
#define QUERY_COLUMN_H

#include "skewjoin.h"

#include <string.h>

/* A column as int64 or double, whatever its physical integer/float type. */
typedef struct numcol {
  pq_column raw;
} numcol;

static inline int64_t num_i(const numcol *c, uint64_t i) {
  if (c->raw.type == PQ_INT32) { int32_t v; memcpy(&v, c->raw.values + 4 * i, 4); return v; }
  int64_t v;
  memcpy(&v, c->raw.values + 8 * i, 8);
  return v;
}

static inline double num_f(const numcol *c, uint64_t i) {
  if (c->raw.type == PQ_FLOAT) { float v; memcpy(&v, c->raw.values + 4 * i, 4); return v; }
  if (c->raw.type == PQ_DOUBLE) { double v; memcpy(&v, c->raw.values + 8 * i, 8); return v; }
  return (double)num_i(c, i);
}

static inline int present(const numcol *c, uint64_t i) { return !c->raw.valid || c->raw.valid[i]; }

static inline int pq_is_int(pq_type t) { return t == PQ_INT32 || t == PQ_INT64; }

/* The type a query reads a column as: its physical type, but INT64 for the
** legacy INT96 timestamp (Impala, Spark) and for a DECIMAL of up to 18
** digits in FIXED_LEN_BYTE_ARRAY (pyarrow's), which read_columns turns into
** int64 nanoseconds and unscaled integers. */
static inline pq_type query_type(const pq_column_info *ci) {
  if (ci->type == PQ_INT96) return PQ_INT64;
  if (ci->type == PQ_FIXED_LEN_BYTE_ARRAY && ci->lt.kind == PQ_LT_DECIMAL && ci->type_length <= 8) return PQ_INT64;
  return ci->type;
}

/* What a column's integers stand for in a query: its annotation, and for
** INT96 a TIMESTAMP in nanoseconds (not UTC-adjusted, as DuckDB and Spark
** read it). */
static inline pq_logical query_column_lt(const pq_column_info *ci) {
  if (ci->type == PQ_INT96) return (pq_logical){PQ_LT_TIMESTAMP, PQ_UNIT_NANOS, 0, 0, 0};
  return ci->lt;
}
static inline int pq_is_num(pq_type t) { return pq_is_int(t) || t == PQ_FLOAT || t == PQ_DOUBLE; }

/* An INT32/INT64 statistics bound (PLAIN bytes) as int64; 0 for other
** types or a bound of the wrong length. */
static inline int stat_bound(const uint8_t *v, size_t len, pq_type t, int64_t *out) {
  if (t == PQ_INT32 && len == 4) { int32_t x; memcpy(&x, v, 4); *out = x; return 1; }
  if (t == PQ_INT64 && len == 8) { memcpy(out, v, 8); return 1; }
  return 0;
}

#endif
