/*
** format.c — Parquet values as text, in the conventions of the conformance
** corpus (docs/printing.md), shared by `cat` (rows) and
** `schema` (statistics): stored values, %.17g floats, hex for binary and
** INT96, RFC 4180 quoting only where needed, NULL as an empty field.
*/
#include "cli.h"

#include <inttypes.h>
#include <string.h>

static void put_hex(FILE *f, const uint8_t *p, size_t n) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    putc(digits[p[i] >> 4], f);
    putc(digits[p[i] & 15], f);
  }
}


void cli_put_value(FILE *f, const pq_column_info *ci, const uint8_t *p, size_t n) {
  switch (ci->type) {
    case PQ_BOOLEAN: fputs(p[0] ? "true" : "false", f); return;
    case PQ_INT32: {
      int32_t v;
      memcpy(&v, p, 4);
      if (ci->is_unsigned) fprintf(f, "%" PRIu32, (uint32_t)v);
      else fprintf(f, "%" PRId32, v);
      return;
    }
    case PQ_INT64: {
      int64_t v;
      memcpy(&v, p, 8);
      if (ci->is_unsigned) fprintf(f, "%" PRIu64, (uint64_t)v);
      else fprintf(f, "%" PRId64, v);
      return;
    }
    case PQ_FLOAT: {
      float v;
      memcpy(&v, p, 4);
      sj_csv_double(f, (double)v);
      return;
    }
    case PQ_DOUBLE: {
      double v;
      memcpy(&v, p, 8);
      sj_csv_double(f, v);
      return;
    }
    case PQ_BYTE_ARRAY:
      if (ci->is_text) {
        sj_csv_text(f, (const char *)p, n);
        return;
      }
      __attribute__((fallthrough)); /* binary prints as hex */
    case PQ_INT96:
    case PQ_FIXED_LEN_BYTE_ARRAY:
      if (n == 0) fputs("\"\"", f);
      else put_hex(f, p, n);
      return;
  }
}
