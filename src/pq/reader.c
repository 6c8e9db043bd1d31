/*
** reader.c — Parquet files in, typed column vectors out.
**
** pq_open maps the file, reads the footer (FileMetaData) with pread — not
** through the map: a query opens thousands of files before it reads one, and
** a fault in a file the kernel caches as one large folio maps all of it (at
** s=0.01 that was 300 MB of RSS for 7000 footers) — decodes and checks it:
** the schema must be flat (every leaf a direct child of the root, REQUIRED
** or OPTIONAL), every column chunk must lie inside the file, and the row
** groups must agree with the schema.  After that a pq_reader is immutable.
**
** pq_read decodes one column chunk: its pages (dictionary, data v1 and v2),
** decompressed within the sizes their headers declare, definition levels
** for nulls, and the values in whichever encoding each page uses.  Nothing
** read from the file is used as a length, offset or count before it is
** checked against the bytes that actually remain.
*/
#include "codec.h"
#include "encoding.h"
#include "thrift.h"
#include "../util/io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* parquet.thrift enums */
enum { PT_DATA_PAGE = 0, PT_INDEX_PAGE = 1, PT_DICTIONARY_PAGE = 2, PT_DATA_PAGE_V2 = 3 };
enum {
  E_PLAIN = 0, E_PLAIN_DICTIONARY = 2, E_RLE = 3, E_BIT_PACKED = 4, E_DELTA_BINARY_PACKED = 5,
  E_DELTA_LENGTH_BYTE_ARRAY = 6, E_DELTA_BYTE_ARRAY = 7, E_RLE_DICTIONARY = 8,
  E_BYTE_STREAM_SPLIT = 9
};
enum { CT_UTF8 = 0, CT_ENUM = 4, CT_DECIMAL = 5, CT_UINT_8 = 11, CT_UINT_64 = 14, CT_JSON = 19 };

/* A row group's rows are bounded so that vectors stay addressable. */
#define MAX_ROWGROUP_ROWS ((int64_t)INT32_MAX)

typedef struct chunk {
  pq_chunk_info info;
  int64_t data_page_offset, dictionary_page_offset; /* -1 if absent */
} chunk;

struct pq_reader {
  char *path;
  const uint8_t *map;
  size_t size;
  uint8_t *footer; /* FileMetaData, read with pread: statistics point into it */
  int ncols;
  pq_column_info *cols;
  int64_t nrows;
  int nrgs;
  int64_t *rg_rows;
  chunk *chunks; /* [nrgs * ncols] */
  char *created_by;
  char *names; /* storage for the column names */
};

const char *pq_type_name(pq_type t) {
  static const char *names[] = {"BOOLEAN", "INT32", "INT64", "INT96", "FLOAT", "DOUBLE",
                                "BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY"};
  return (unsigned)t < 8 ? names[t] : "UNKNOWN";
}

static int type_width(pq_type t, int32_t type_length) {
  switch (t) {
    case PQ_BOOLEAN: return 1;
    case PQ_INT32:
    case PQ_FLOAT: return 4;
    case PQ_INT64:
    case PQ_DOUBLE: return 8;
    case PQ_INT96: return 12;
    case PQ_FIXED_LEN_BYTE_ARRAY: return type_length;
    case PQ_BYTE_ARRAY: return 0;
  }
  return 0;
}

/* ------------------------------------------------------------ the footer */

typedef struct schema_el {
  int64_t type; /* -1: absent (a group) */
  int32_t type_length;
  int repetition; /* -1 absent */
  const uint8_t *name;
  size_t name_len;
  int32_t num_children;
  int converted; /* -1 absent */
  int32_t scale, precision;
  int logical;   /* LogicalType union field id, 0 absent */
  int int_bits, int_signed;
  int32_t dec_scale, dec_precision;
  int time_utc, time_unit; /* TIME, TIMESTAMP: isAdjustedToUTC; TimeUnit's field id, 0 absent */
} schema_el;

static void read_logical(thrift_reader *t, schema_el *e) {
  tr_struct_begin(t);
  int16_t id;
  int ty;
  while (tr_field(t, &id, &ty)) {
    if (ty != TC_STRUCT) { tr_skip(t, ty); continue; }
    e->logical = id;
    tr_struct_begin(t);
    int16_t fid;
    int ft;
    while (tr_field(t, &fid, &ft)) {
      if (id == 10 && fid == 1) e->int_bits = (int)tr_field_int(t, ft);
      else if (id == 10 && fid == 2) e->int_signed = (int)tr_field_int(t, ft);
      else if (id == 5 && fid == 1) e->dec_scale = (int32_t)tr_field_int(t, ft);
      else if (id == 5 && fid == 2) e->dec_precision = (int32_t)tr_field_int(t, ft);
      else if ((id == 7 || id == 8) && fid == 1) e->time_utc = (int)tr_field_int(t, ft);
      else if ((id == 7 || id == 8) && fid == 2 && ft == TC_STRUCT) { /* TimeUnit: the field set names it */
        tr_struct_begin(t);
        int16_t uid;
        int ut;
        while (tr_field(t, &uid, &ut)) {
          e->time_unit = uid;
          tr_skip(t, ut);
        }
      } else tr_skip(t, ft);
    }
  }
}

static void read_schema_el(thrift_reader *t, schema_el *e) {
  memset(e, 0, sizeof *e);
  e->type = -1;
  e->repetition = -1;
  e->converted = -1;
  e->int_signed = 1;
  tr_struct_begin(t);
  int16_t id;
  int ty;
  while (tr_field(t, &id, &ty)) {
    switch (id) {
      case 1: e->type = tr_field_int(t, ty); break;
      case 2: e->type_length = (int32_t)tr_field_int(t, ty); break;
      case 3: e->repetition = (int)tr_field_int(t, ty); break;
      case 4:
        if (ty == TC_BINARY) e->name = tr_binary(t, &e->name_len);
        else tr_skip(t, ty);
        break;
      case 5: e->num_children = (int32_t)tr_field_int(t, ty); break;
      case 6: e->converted = (int)tr_field_int(t, ty); break;
      case 7: e->scale = (int32_t)tr_field_int(t, ty); break;
      case 8: e->precision = (int32_t)tr_field_int(t, ty); break;
      case 10:
        if (ty == TC_STRUCT) read_logical(t, e);
        else tr_skip(t, ty);
        break;
      default: tr_skip(t, ty);
    }
  }
}

static void read_stats(thrift_reader *t, pq_stats *s) {
  const uint8_t *min = NULL, *max = NULL, *min_value = NULL, *max_value = NULL;
  size_t nmin = 0, nmax = 0, nminv = 0, nmaxv = 0;
  tr_struct_begin(t);
  int16_t id;
  int ty;
  while (tr_field(t, &id, &ty)) {
    if (ty == TC_BINARY && (id == 1 || id == 2 || id == 5 || id == 6)) {
      size_t n;
      const uint8_t *p = tr_binary(t, &n);
      if (id == 1) { max = p; nmax = n; }
      if (id == 2) { min = p; nmin = n; }
      if (id == 5) { max_value = p; nmaxv = n; }
      if (id == 6) { min_value = p; nminv = n; }
    } else if (id == 3) {
      s->null_count = tr_field_int(t, ty);
      s->has_null_count = 1;
    } else {
      tr_skip(t, ty);
    }
  }
  /* min_value/max_value are the trustworthy pair; legacy min/max only when
  ** those are absent (their sort order may be signed bytes). */
  if (min_value && max_value) {
    s->min = min_value; s->min_len = nminv; s->max = max_value; s->max_len = nmaxv;
    s->has_min_max = 1;
  } else if (min && max) {
    s->min = min; s->min_len = nmin; s->max = max; s->max_len = nmax;
    s->has_min_max = 1;
  }
}

static int read_column_meta(thrift_reader *t, chunk *c) {
  int seen = 0;
  tr_struct_begin(t);
  int16_t id;
  int ty;
  while (tr_field(t, &id, &ty)) {
    switch (id) {
      case 2: {
        int et;
        uint32_t n = tr_list(t, &et);
        for (uint32_t i = 0; i < n && !t->failed; i++) {
          int64_t e = tr_int(t);
          if (e >= 0 && e < 32) c->info.encodings |= 1u << e;
        }
        break;
      }
      case 4: c->info.codec = (pq_codec)tr_field_int(t, ty); break;
      case 5: c->info.num_values = tr_field_int(t, ty); seen |= 1; break;
      case 6: c->info.uncompressed_size = tr_field_int(t, ty); break;
      case 7: c->info.compressed_size = tr_field_int(t, ty); seen |= 2; break;
      case 9: c->data_page_offset = tr_field_int(t, ty); seen |= 4; break;
      case 11: c->dictionary_page_offset = tr_field_int(t, ty); break;
      case 12:
        if (ty == TC_STRUCT) read_stats(t, &c->info.stats);
        else tr_skip(t, ty);
        break;
      default: tr_skip(t, ty);
    }
  }
  return seen == 7;
}

typedef struct footer_ctx {
  pq_reader *r;
  sj_error *err;
  schema_el *schema;
  uint32_t nschema;
} footer_ctx;

static int fail_file(const pq_reader *r, sj_error *err, int code, const char *fmt, const char *detail) {
  char what[512];
  snprintf(what, sizeof what, fmt, detail ? detail : "");
  return sj_fail(err, code, "%s: %s", r->path, what);
}

/* The annotation of an INT32/INT64 column (or a FIXED_LEN_BYTE_ARRAY
** DECIMAL) as the query uses it: the
** LogicalType when present, else the ConvertedType (whose TIME and
** TIMESTAMP are UTC-adjusted); anything else, or a unit the physical
** type cannot hold, is PQ_LT_NONE (read as plain integers). */
static pq_logical integer_logical(const schema_el *e, pq_type type) {
  pq_logical lt = {PQ_LT_NONE, PQ_UNIT_MILLIS, 0, 0, 0};
  if (type != PQ_INT32 && type != PQ_INT64 && type != PQ_FIXED_LEN_BYTE_ARRAY) return lt;
  int l = e->logical, ct = e->converted;
  if (l == 6 || (!l && ct == 6)) {
    lt.kind = PQ_LT_DATE;
  } else if (l == 7 || l == 8) {
    if (e->time_unit < 1 || e->time_unit > 3) return lt;
    lt.kind = l == 7 ? PQ_LT_TIME : PQ_LT_TIMESTAMP;
    lt.unit = (pq_time_unit)(e->time_unit - 1);
    lt.utc = e->time_utc;
  } else if (!l && ct >= 7 && ct <= 10) { /* TIME_MILLIS, TIME_MICROS, TIMESTAMP_MILLIS, TIMESTAMP_MICROS */
    lt.kind = ct <= 8 ? PQ_LT_TIME : PQ_LT_TIMESTAMP;
    lt.unit = ct == 7 || ct == 9 ? PQ_UNIT_MILLIS : PQ_UNIT_MICROS;
    lt.utc = 1;
  } else if (l == 5 || (!l && ct == 5)) {
    lt.kind = PQ_LT_DECIMAL;
    lt.scale = l == 5 ? e->dec_scale : e->scale;
    lt.precision = l == 5 ? e->dec_precision : e->precision;
    if (lt.scale < 0 || lt.scale > 38 || lt.precision < lt.scale) lt.kind = PQ_LT_NONE;
  }
  if (lt.kind == PQ_LT_DECIMAL) return lt; /* on INT32, INT64 and FIXED_LEN_BYTE_ARRAY */
  if (type == PQ_FIXED_LEN_BYTE_ARRAY) lt.kind = PQ_LT_NONE;
  if (lt.kind == PQ_LT_DATE && type != PQ_INT32) lt.kind = PQ_LT_NONE;
  if (lt.kind == PQ_LT_TIME && (type == PQ_INT32) != (lt.unit == PQ_UNIT_MILLIS)) lt.kind = PQ_LT_NONE;
  if (lt.kind == PQ_LT_TIMESTAMP && type != PQ_INT64) lt.kind = PQ_LT_NONE;
  return lt;
}

/* Checks the schema is flat and fills r->cols. */
static int build_columns(footer_ctx *f) {
  pq_reader *r = f->r;
  schema_el *s = f->schema;
  if (f->nschema == 0) return fail_file(r, f->err, SJ_ECORRUPT, "the schema is empty%s", NULL);
  if (s[0].num_children < 0 || (uint32_t)s[0].num_children != f->nschema - 1) {
    /* Either a nested schema (groups below the root) or a corrupt count. */
    for (uint32_t i = 1; i < f->nschema; i++)
      if (s[i].num_children > 0) {
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(s[i].name_len > 200 ? 200 : s[i].name_len),
                 s[i].name ? (const char *)s[i].name : "?");
        return fail_file(r, f->err, SJ_EUSAGE,
                         "column '%s' is nested (a group); skewjoin reads flat schemas only", name);
      }
    return fail_file(r, f->err, SJ_ECORRUPT, "the schema's root has a wrong child count%s", NULL);
  }
  r->ncols = (int)(f->nschema - 1);
  size_t names_len = 0;
  for (uint32_t i = 1; i < f->nschema; i++) names_len += s[i].name_len + 1;
  r->cols = calloc((size_t)r->ncols ? (size_t)r->ncols : 1, sizeof *r->cols);
  r->names = malloc(names_len ? names_len : 1);
  if (!r->cols || !r->names) return sj_fail(f->err, SJ_ENOMEM, "out of memory");
  char *np = r->names;
  for (int c = 0; c < r->ncols; c++) {
    schema_el *e = &s[c + 1];
    pq_column_info *ci = &r->cols[c];
    memcpy(np, e->name ? (const char *)e->name : "", e->name_len);
    np[e->name_len] = 0;
    ci->name = np;
    np += e->name_len + 1;
    if (e->num_children > 0)
      return fail_file(r, f->err, SJ_EUSAGE,
                       "column '%s' is nested (a group); skewjoin reads flat schemas only", ci->name);
    if (e->type == -1)
      return fail_file(r, f->err, SJ_ECORRUPT, "column '%s' has no physical type", ci->name);
    if (e->repetition == 2)
      return fail_file(r, f->err, SJ_EUSAGE,
                       "column '%s' is REPEATED (a list); skewjoin reads flat schemas only", ci->name);
    if (e->type < 0 || e->type > PQ_FIXED_LEN_BYTE_ARRAY)
      return fail_file(r, f->err, SJ_ECORRUPT, "column '%s' has an unknown physical type", ci->name);
    ci->type = (pq_type)e->type;
    ci->optional = e->repetition == 1;
    ci->type_length = e->type_length;
    if (ci->type == PQ_FIXED_LEN_BYTE_ARRAY && (e->type_length <= 0 || e->type_length > (1 << 20)))
      return fail_file(r, f->err, SJ_ECORRUPT, "column '%s' has a bad FIXED_LEN_BYTE_ARRAY length", ci->name);
    int lt = e->logical, ct = e->converted;
    ci->is_text = ci->type == PQ_BYTE_ARRAY &&
                  (lt == 1 || lt == 4 || lt == 12 || ct == CT_UTF8 || ct == CT_ENUM || ct == CT_JSON);
    ci->is_unsigned = (lt == 10 && !e->int_signed) || (ct >= CT_UINT_8 && ct <= CT_UINT_64);
    static const char *logical_names[] = {"", "STRING", "MAP", "LIST", "ENUM", "DECIMAL", "DATE",
                                          "TIME", "TIMESTAMP", "", "INTEGER", "UNKNOWN", "JSON",
                                          "BSON", "UUID", "FLOAT16", "VARIANT", "GEOMETRY", "GEOGRAPHY"};
    static const char *converted_names[] = {"UTF8", "MAP", "MAP_KEY_VALUE", "LIST", "ENUM", "DECIMAL", "DATE",
                                            "TIME_MILLIS", "TIME_MICROS", "TIMESTAMP_MILLIS", "TIMESTAMP_MICROS",
                                            "UINT_8", "UINT_16", "UINT_32", "UINT_64", "INT_8", "INT_16", "INT_32",
                                            "INT_64", "JSON", "BSON", "INTERVAL"};
    if (lt == 5 || ct == CT_DECIMAL)
      snprintf(ci->logical, sizeof ci->logical, "DECIMAL(%d,%d)",
               lt == 5 ? e->dec_precision : e->precision, lt == 5 ? e->dec_scale : e->scale);
    else if (lt == 10)
      snprintf(ci->logical, sizeof ci->logical, "%sINT%d", e->int_signed ? "" : "U", e->int_bits);
    else if (lt > 0 && lt < 19)
      snprintf(ci->logical, sizeof ci->logical, "%s", logical_names[lt]);
    else if (ct >= 0 && ct < 22)
      snprintf(ci->logical, sizeof ci->logical, "%s", converted_names[ct]);
    else if (ct >= 0)
      snprintf(ci->logical, sizeof ci->logical, "converted %d", ct);
    ci->lt = integer_logical(e, ci->type);
  }
  return 0;
}

static int read_rowgroup(footer_ctx *f, thrift_reader *t, int rg) {
  pq_reader *r = f->r;
  int have_rows = 0;
  uint32_t ncc = 0;
  tr_struct_begin(t);
  int16_t id;
  int ty;
  while (tr_field(t, &id, &ty)) {
    if (id == 1 && ty == TC_LIST) {
      int et;
      ncc = tr_list(t, &et);
      if (ncc != (uint32_t)r->ncols)
        return fail_file(r, f->err, SJ_ECORRUPT, "a row group has a column count that differs from the schema%s", NULL);
      for (uint32_t c = 0; c < ncc && !t->failed; c++) {
        chunk *ch = &r->chunks[(size_t)rg * (size_t)r->ncols + c];
        ch->data_page_offset = ch->dictionary_page_offset = -1;
        int has_meta = 0;
        tr_struct_begin(t);
        int16_t cid;
        int cty;
        while (tr_field(t, &cid, &cty)) {
          if (cid == 1 && cty == TC_BINARY)
            return fail_file(r, f->err, SJ_EUSAGE, "column chunks in other files are not supported%s", NULL);
          if (cid == 3 && cty == TC_STRUCT) has_meta = read_column_meta(t, ch);
          else if (cid == 8 || cid == 9)
            return fail_file(r, f->err, SJ_EUSAGE, "the file is encrypted (column '%s'); no keys were given",
                             r->cols[c].name);
          else tr_skip(t, cty);
        }
        if (!t->failed && !has_meta)
          return fail_file(r, f->err, SJ_ECORRUPT, "column '%s' has no metadata in a row group", r->cols[c].name);
      }
    } else if (id == 3) {
      r->rg_rows[rg] = tr_field_int(t, ty);
      have_rows = 1;
    } else {
      tr_skip(t, ty);
    }
  }
  if (t->failed) return 0; /* reported by the caller */
  if (!have_rows || ncc != (uint32_t)r->ncols || r->rg_rows[rg] < 0 || r->rg_rows[rg] > MAX_ROWGROUP_ROWS)
    return fail_file(r, f->err, SJ_ECORRUPT, "a row group's row count is missing or out of range%s", NULL);
  for (int c = 0; c < r->ncols; c++) {
    chunk *ch = &r->chunks[(size_t)rg * (size_t)r->ncols + (size_t)c];
    const char *name = r->cols[c].name;
    if (ch->info.num_values == 0 && r->rg_rows[rg] == 0) continue; /* never read: offsets may be 0 */
    if (ch->info.num_values < 0 || ch->info.compressed_size < 0 ||
        ch->data_page_offset < 4 || (uint64_t)ch->data_page_offset >= r->size ||
        (uint64_t)ch->info.compressed_size > r->size)
      return fail_file(r, f->err, SJ_ECORRUPT, "column '%s': its chunk lies outside the file", name);
    if (ch->info.num_values != r->rg_rows[rg])
      return fail_file(r, f->err, SJ_ECORRUPT, "column '%s': value count differs from the row count", name);
  }
  return 0;
}

static int read_footer(pq_reader *r, const uint8_t *p, size_t n, sj_error *err) {
  thrift_reader t;
  tr_init(&t, p, n);
  footer_ctx f = {r, err, NULL, 0};
  int rc = 0, have_rows = 0;
  tr_struct_begin(&t);
  int16_t id;
  int ty;
  while (!rc && tr_field(&t, &id, &ty)) {
    if (id == 2 && ty == TC_LIST) {
      int et;
      uint32_t ns = tr_list(&t, &et);
      if (f.schema || et != TC_STRUCT) { rc = fail_file(r, err, SJ_ECORRUPT, "bad schema list%s", NULL); break; }
      f.schema = calloc(ns ? ns : 1, sizeof *f.schema);
      if (!f.schema) { rc = sj_fail(err, SJ_ENOMEM, "out of memory"); break; }
      f.nschema = ns;
      for (uint32_t i = 0; i < ns && !t.failed; i++) read_schema_el(&t, &f.schema[i]);
      if (!t.failed) rc = build_columns(&f);
    } else if (id == 3) {
      r->nrows = tr_field_int(&t, ty);
      have_rows = 1;
    } else if (id == 4 && ty == TC_LIST) {
      int et;
      uint32_t nrg = tr_list(&t, &et);
      if (!f.schema || r->chunks) { rc = fail_file(r, err, SJ_ECORRUPT, "row groups come before the schema%s", NULL); break; }
      r->nrgs = (int)nrg;
      r->rg_rows = calloc(nrg ? nrg : 1, sizeof *r->rg_rows);
      r->chunks = calloc((size_t)(nrg ? nrg : 1) * (size_t)(r->ncols ? r->ncols : 1), sizeof *r->chunks);
      if (!r->rg_rows || !r->chunks || nrg > INT32_MAX) { rc = sj_fail(err, SJ_ENOMEM, "out of memory"); break; }
      for (uint32_t i = 0; i < nrg && !t.failed && !rc; i++) rc = read_rowgroup(&f, &t, (int)i);
    } else if (id == 6 && ty == TC_BINARY) {
      size_t len;
      const uint8_t *s = tr_binary(&t, &len);
      free(r->created_by);
      r->created_by = strndup(s ? (const char *)s : "", len);
    } else {
      tr_skip(&t, ty);
    }
  }
  free(f.schema);
  if (rc) return rc;
  if (t.failed) return fail_file(r, err, SJ_ECORRUPT, "corrupt footer metadata (%s)", t.why);
  if (!r->cols || !have_rows) return fail_file(r, err, SJ_ECORRUPT, "the footer has no schema or no row count%s", NULL);
  int64_t total = 0;
  for (int i = 0; i < r->nrgs; i++) total += r->rg_rows[i];
  if (total != r->nrows)
    return fail_file(r, err, SJ_ECORRUPT, "row groups hold a different number of rows than the footer says%s", NULL);
  return 0;
}

/* n bytes of the file at off; a failure is a message naming it. */
static int read_at(int fd, void *buf, size_t n, size_t off, const char *path, sj_error *err) {
  int rc = sj_pread_all(fd, buf, n, off);
  if (rc) return sj_fail(err, SJ_EIO, "%s: cannot read: %s", path, rc < 0 ? strerror(errno) : "the file is shorter than its size");
  return 0;
}

int pq_open(pq_reader **out, const char *path, sj_error *err) {
  *out = NULL;
  pq_reader *r = calloc(1, sizeof *r);
  if (!r || !(r->path = strdup(path))) {
    free(r);
    return sj_fail(err, SJ_ENOMEM, "out of memory");
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  int rc = 0;
  if (fd < 0) {
    rc = sj_fail(err, errno == ENOENT ? SJ_EUSAGE : SJ_EIO, "%s: cannot open: %s", path, strerror(errno));
  } else if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    rc = sj_fail(err, SJ_EUSAGE, "%s: not a regular file", path);
  } else if (st.st_size < 12) {
    rc = sj_fail(err, SJ_ECORRUPT, "%s: not a Parquet file (%lld bytes)", path, (long long)st.st_size);
  } else {
    r->size = (size_t)st.st_size;
    void *m = mmap(NULL, r->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) rc = sj_fail(err, SJ_EIO, "%s: cannot map: %s", path, strerror(errno));
    else r->map = m;
  }
  uint8_t head[4], tail[8];
  if (!rc) rc = read_at(fd, head, 4, 0, path, err);
  if (!rc) rc = read_at(fd, tail, 8, r->size - 8, path, err);
  if (!rc) {
    uint32_t meta_len;
    memcpy(&meta_len, tail, 4);
    if (!memcmp(tail + 4, "PARE", 4))
      rc = sj_fail(err, SJ_EUSAGE, "%s: the footer is encrypted (PARE); no keys were given", path);
    else if (memcmp(head, "PAR1", 4) || memcmp(tail + 4, "PAR1", 4))
      rc = sj_fail(err, SJ_ECORRUPT, "%s: not a Parquet file (no PAR1 magic)", path);
    else if (meta_len > r->size - 12)
      rc = sj_fail(err, SJ_ECORRUPT, "%s: footer length %u exceeds the file", path, meta_len);
    else if (!(r->footer = malloc(meta_len ? meta_len : 1))) /* no larger than the file */
      rc = sj_fail(err, SJ_ENOMEM, "out of memory");
    else if (!(rc = read_at(fd, r->footer, meta_len, r->size - 8 - meta_len, path, err)))
      rc = read_footer(r, r->footer, meta_len, err);
  }
  if (fd >= 0) close(fd);
  if (!r->created_by && !rc && !(r->created_by = strdup(""))) rc = sj_fail(err, SJ_ENOMEM, "out of memory");
  if (rc) {
    pq_close(r);
    return rc;
  }
  *out = r;
  return 0;
}

void pq_close(pq_reader *r) {
  if (!r) return;
  if (r->map) munmap((void *)r->map, r->size);
  free(r->footer);
  free(r->cols);
  free(r->names);
  free(r->rg_rows);
  free(r->chunks);
  free(r->created_by);
  free(r->path);
  free(r);
}

const char *pq_path(const pq_reader *r) { return r->path; }
int pq_ncols(const pq_reader *r) { return r->ncols; }
const pq_column_info *pq_col(const pq_reader *r, int c) { return &r->cols[c]; }
int64_t pq_nrows(const pq_reader *r) { return r->nrows; }
int pq_nrowgroups(const pq_reader *r) { return r->nrgs; }
int64_t pq_rowgroup_rows(const pq_reader *r, int rg) { return r->rg_rows[rg]; }
const char *pq_created_by(const pq_reader *r) { return r->created_by; }
const pq_chunk_info *pq_chunk(const pq_reader *r, int rg, int c) {
  return &r->chunks[(size_t)rg * (size_t)r->ncols + (size_t)c].info;
}

int pq_find_column(const pq_reader *r, const char *name) {
  for (int c = 0; c < r->ncols; c++)
    if (!strcmp(r->cols[c].name, name)) return c;
  return -1;
}

/* ------------------------------------------------------------- the pages */

/* What one pq_read call works with. */
typedef struct colread {
  const pq_reader *r;
  const pq_column_info *ci;
  pq_codec codec;
  sj_error *err;
  pq_column *out;
  int width;
  uint64_t done;          /* rows filled so far */
  /* the dictionary, decoded to the output's representation */
  int has_dict;
  uint64_t dict_n;
  uint8_t *dict;          /* dict_n * width bytes, or byte-array data */
  uint64_t *dict_offsets; /* byte arrays: dict_n + 1 */
  uint8_t *page;          /* decompression buffer */
  size_t page_cap;
  uint8_t *levels;        /* definition levels of a page */
  size_t levels_cap;
  size_t data_cap;        /* out->data capacity */
  /* a page's byte arrays, staged before they are placed around its nulls */
  uint8_t *stage;
  size_t stage_len, stage_cap;
  uint64_t *stage_off;
  size_t stage_n, stage_off_cap;
  uint32_t *codes;        /* pq_read_codes: indexes are stored here, not gathered */
} colread;

static int cfail(colread *cr, int code, const char *what) {
  return sj_fail(cr->err, code, "%s: column '%s': %s", cr->r->path, cr->ci->name, what);
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 0;
  size_t n = *cap ? *cap : 64;
  while (n < need) n *= 2;
  if (n > SIZE_MAX / elem) return -1;
  void *q = realloc(*p, n * elem);
  if (!q) return -1;
  *p = q;
  *cap = n;
  return 0;
}

/* Stages one byte-array value of the current page. */
static int stage_put(colread *cr, const uint8_t *p, size_t n) {
  if (grow((void **)&cr->stage, &cr->stage_cap, cr->stage_len + n + 1, 1) ||
      grow((void **)&cr->stage_off, &cr->stage_off_cap, cr->stage_n + 2, sizeof(uint64_t)))
    return cfail(cr, SJ_ENOMEM, "out of memory");
  if (n) memcpy(cr->stage + cr->stage_len, p, n);
  cr->stage_off[cr->stage_n] = cr->stage_len;
  cr->stage_len += n;
  cr->stage_n++;
  cr->stage_off[cr->stage_n] = cr->stage_len;
  return 0;
}

/* Appends one value (or, with p == NULL, an empty one for a null) to the
** output's byte arrays as row cr->done. */
static int put_row_bytes(colread *cr, const uint8_t *p, size_t n) {
  pq_column *o = cr->out;
  uint64_t used = o->offsets[cr->done];
  if (grow((void **)&o->data, &cr->data_cap, used + n + 1, 1)) return cfail(cr, SJ_ENOMEM, "out of memory");
  if (n) memcpy(o->data + used, p, n);
  o->offsets[cr->done + 1] = used + n;
  cr->done++;
  return 0;
}

/* --- RLE/bit-packed hybrid, the decoder shared by levels and dictionary codes */

typedef struct hybrid {
  const uint8_t *p, *end;
  int width;
  uint64_t rle_left;     /* values left in the current RLE run */
  uint32_t rle_value;
  uint64_t packed_left;  /* values left in the current bit-packed run */
  size_t bitpos;         /* within the packed run starting at pp */
  const uint8_t *pp;
} hybrid;

static void hybrid_init(hybrid *h, const uint8_t *p, size_t n, int width) {
  memset(h, 0, sizeof *h);
  h->p = p;
  h->end = p + n;
  h->width = width;
}

static int read_uvarint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
  uint64_t x = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*p >= end) return -1;
    uint8_t b = *(*p)++;
    x |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) { *v = x; return 0; }
  }
  return -1;
}

/* Decodes n values into out (uint32).  Returns 0 or -1 if the data ends
** early or is malformed.  Bit-packed values are read as one 8-byte load
** where 8 bytes remain in the buffer, byte by byte at its very end. */
static int hybrid_get(hybrid *h, uint32_t *out, uint64_t n) {
  uint64_t k = 0;
  while (k < n) {
    if (h->rle_left) {
      uint64_t take = h->rle_left < n - k ? h->rle_left : n - k;
      for (uint64_t i = 0; i < take; i++) out[k + i] = h->rle_value;
      k += take;
      h->rle_left -= take;
      continue;
    }
    if (h->packed_left) {
      uint64_t take = h->packed_left < n - k ? h->packed_left : n - k;
      const int w = h->width;
      const uint32_t mask = w == 32 ? 0xffffffffu : (1u << w) - 1;
      const size_t avail = (size_t)(h->end - h->pp);
      for (uint64_t i = 0; i < take; i++, h->bitpos += (size_t)w) {
        size_t byte = h->bitpos >> 3;
        uint64_t word = 0;
        if (byte + 8 <= avail) memcpy(&word, h->pp + byte, 8);
        else for (size_t b = 0; b < 8 && byte + b < avail; b++) word |= (uint64_t)h->pp[byte + b] << (8 * b);
        out[k + i] = (uint32_t)(word >> (h->bitpos & 7)) & mask;
      }
      k += take;
      h->packed_left -= take;
      continue;
    }
    uint64_t header;
    if (h->p >= h->end || read_uvarint(&h->p, h->end, &header)) return -1;
    if (header & 1) {
      uint64_t groups = header >> 1;
      if (groups == 0) return -1;
      if (h->width == 0) { /* zero-width values: all zero, no bytes */
        h->rle_left = groups * 8;
        h->rle_value = 0;
        continue;
      }
      uint64_t left = (uint64_t)(h->end - h->p);
      /* Writers may end the last run early: keep only the groups present. */
      if (groups > left / (uint64_t)h->width) groups = left / (uint64_t)h->width;
      if (groups == 0) return -1;
      h->packed_left = groups * 8;
      h->pp = h->p;
      h->bitpos = 0;
      h->p += groups * (uint64_t)h->width;
    } else {
      uint64_t count = header >> 1;
      int nb = (h->width + 7) / 8;
      if (count == 0 || (uint64_t)(h->end - h->p) < (uint64_t)nb) return -1;
      uint32_t v = 0;
      for (int b = 0; b < nb; b++) v |= (uint32_t)h->p[b] << (8 * b);
      h->p += nb;
      if (h->width < 32 && (v >> h->width)) return -1;
      h->rle_value = v;
      h->rle_left = count;
    }
  }
  return 0;
}

/* --- DELTA_BINARY_PACKED, the decoder behind three encodings */

typedef struct delta {
  const uint8_t *p, *end;
  uint64_t block, minis, per_mini, total, produced;
  int64_t last;
} delta;

static int delta_init(delta *d, const uint8_t *p, const uint8_t *end) {
  memset(d, 0, sizeof *d);
  d->p = p;
  d->end = end;
  uint64_t first;
  if (read_uvarint(&d->p, end, &d->block) || read_uvarint(&d->p, end, &d->minis) ||
      read_uvarint(&d->p, end, &d->total) || read_uvarint(&d->p, end, &first))
    return -1;
  if (d->block == 0 || d->block % 128 || d->minis == 0 || d->block % d->minis ||
      d->block > (1 << 20) || (d->block / d->minis) % 32)
    return -1;
  d->per_mini = d->block / d->minis;
  d->last = (int64_t)(first >> 1) ^ -(int64_t)(first & 1);
  return 0;
}

/* Decodes the next n values (n <= total - produced). */
static int delta_get(delta *d, int64_t *out, uint64_t n) {
  uint64_t k = 0;
  if (n > d->total - d->produced) return -1;
  if (n && d->produced == 0) {
    out[k++] = d->last;
    d->produced = 1;
  }
  while (k < n) {
    uint64_t zz;
    if (read_uvarint(&d->p, d->end, &zz)) return -1;
    int64_t min_delta = (int64_t)(zz >> 1) ^ -(int64_t)(zz & 1);
    if ((uint64_t)(d->end - d->p) < d->minis) return -1;
    const uint8_t *widths = d->p;
    d->p += d->minis;
    for (uint64_t m = 0; m < d->minis && d->produced < d->total; m++) {
      int w = widths[m];
      if (w > 64) return -1;
      uint64_t bytes = d->per_mini * (uint64_t)w / 8;
      if ((uint64_t)(d->end - d->p) < bytes) {
        /* The last miniblock may be cut short when it holds fewer values. */
        uint64_t need = ((d->total - d->produced) * (uint64_t)w + 7) / 8;
        if ((uint64_t)(d->end - d->p) < need) return -1;
        bytes = (uint64_t)(d->end - d->p);
      }
      for (uint64_t i = 0; i < d->per_mini && d->produced < d->total; i++) {
        uint64_t v = 0;
        size_t bit = (size_t)(i * (uint64_t)w);
        for (int b = 0; b < w; b++, bit++) /* simple and safe: delta pages are small */
          v |= (uint64_t)((d->p[bit >> 3] >> (bit & 7)) & 1) << b;
        d->last = (int64_t)((uint64_t)d->last + (uint64_t)min_delta + v);
        d->produced++;
        if (k < n) out[k++] = d->last;
        else return -1; /* asked for fewer than a miniblock decodes: not how we call it */
      }
      d->p += bytes;
    }
  }
  return 0;
}

/* Decodes all values of a DELTA_BINARY_PACKED stream into a new array. */
static int delta_all(const uint8_t *p, const uint8_t *end, int64_t **out, uint64_t *n,
                     const uint8_t **after, uint64_t max_values) {
  delta d;
  *out = NULL;
  if (delta_init(&d, p, end) || d.total > max_values) return -1;
  int64_t *v = malloc((d.total ? d.total : 1) * sizeof *v);
  if (!v) return -1;
  if (delta_get(&d, v, d.total)) { free(v); return -1; }
  *out = v;
  *n = d.total;
  if (after) *after = d.p;
  return 0;
}

/* --- values: `count` non-null values of one page into dst slots */

/* Stores value i (width bytes, or a byte array) at output row `row`. */
static int store_fixed(colread *cr, uint64_t row, const uint8_t *src) {
  memcpy(cr->out->values + row * (uint64_t)cr->width, src, (size_t)cr->width);
  return 0;
}

/* pq_read_codes: a dictionary page's indexes, checked, stored as codes. */
static int decode_codes(colread *cr, const uint8_t *p, size_t len, const uint64_t *rows,
                        uint64_t base, uint64_t count) {
  if (len < 1 || p[0] > 32) return cfail(cr, SJ_ECORRUPT, "bad dictionary index width");
  hybrid h;
  hybrid_init(&h, p + 1, len - 1, p[0]);
  if (rows) {
    uint32_t idx[1024];
    for (uint64_t i = 0; i < count;) {
      uint64_t m = count - i < 1024 ? count - i : 1024;
      if (hybrid_get(&h, idx, m)) return cfail(cr, SJ_ECORRUPT, "dictionary indexes end early");
      for (uint64_t j = 0; j < m; j++) cr->codes[rows[i + j]] = idx[j];
      i += m;
    }
  } else if (hybrid_get(&h, cr->codes + base, count)) {
    return cfail(cr, SJ_ECORRUPT, "dictionary indexes end early");
  }
  for (uint64_t i = 0; i < count; i++) {
    uint64_t row = rows ? rows[i] : base + i;
    if (cr->codes[row] >= cr->dict_n) return cfail(cr, SJ_ECORRUPT, "dictionary index out of range");
  }
  return 0;
}

/* The output row of the page's i-th present value: rows[i], or base + i
** when the page has no nulls (rows == NULL). */
#define ROW(i) (rows ? rows[i] : base + (i))

static int decode_values(colread *cr, int enc, const uint8_t *p, size_t len, const uint64_t *rows,
                         uint64_t base, uint64_t count) {
  const uint8_t *end = p + len;
  pq_type t = cr->ci->type;
  int w = cr->width;
  pq_column *o = cr->out;
  if (cr->codes && enc != E_PLAIN_DICTIONARY && enc != E_RLE_DICTIONARY)
    return cfail(cr, SJ_EUSAGE, "a page is not dictionary-encoded; read its values instead");
  switch (enc) {
    case E_PLAIN:
      if (t == PQ_BOOLEAN) {
        if ((count + 7) / 8 > len) return cfail(cr, SJ_ECORRUPT, "a page's values run past its end");
        for (uint64_t i = 0; i < count; i++) o->values[ROW(i)] = (p[i >> 3] >> (i & 7)) & 1;
        return 0;
      }
      if (t == PQ_BYTE_ARRAY) {
        /* Offsets are filled later from per-row lengths: stash length in offsets[row+1]. */
        for (uint64_t i = 0; i < count; i++) {
          if (end - p < 4) return cfail(cr, SJ_ECORRUPT, "a page's values run past its end");
          uint32_t n;
          memcpy(&n, p, 4);
          p += 4;
          if ((size_t)(end - p) < n) return cfail(cr, SJ_ECORRUPT, "a byte array runs past its page");
          int rc = stage_put(cr, p, n);
          if (rc) return rc;
          p += n;
        }
        return 0;
      }
      if ((uint64_t)w * count > len) return cfail(cr, SJ_ECORRUPT, "a page's values run past its end");
      if (!rows) { /* no nulls: the page's bytes are the values */
        memcpy(o->values + base * (uint64_t)w, p, count * (uint64_t)w);
        return 0;
      }
      for (uint64_t i = 0; i < count; i++) store_fixed(cr, rows[i], p + i * (uint64_t)w);
      return 0;
    case E_PLAIN_DICTIONARY:
    case E_RLE_DICTIONARY: {
      if (!cr->has_dict) return cfail(cr, SJ_ECORRUPT, "dictionary-encoded page without a dictionary");
      if (cr->codes) return decode_codes(cr, p, len, rows, base, count);
      if (len < 1 || p[0] > 32) return cfail(cr, SJ_ECORRUPT, "bad dictionary index width");
      hybrid h;
      hybrid_init(&h, p + 1, len - 1, p[0]);
      uint32_t idx[1024];
      for (uint64_t i = 0; i < count;) {
        uint64_t m = count - i < 1024 ? count - i : 1024;
        if (hybrid_get(&h, idx, m)) return cfail(cr, SJ_ECORRUPT, "dictionary indexes end early");
        for (uint64_t j = 0; j < m; j++) {
          if (idx[j] >= cr->dict_n) return cfail(cr, SJ_ECORRUPT, "dictionary index out of range");
          if (t == PQ_BYTE_ARRAY) {
            uint64_t a = cr->dict_offsets[idx[j]], b = cr->dict_offsets[idx[j] + 1];
            int rc = stage_put(cr, cr->dict + a, (size_t)(b - a));
            if (rc) return rc;
          } else if (w == 8) { /* the common case, kept free of a variable-size copy */
            memcpy(o->values + ROW(i + j) * 8, cr->dict + (uint64_t)idx[j] * 8, 8);
          } else {
            store_fixed(cr, ROW(i + j), cr->dict + (uint64_t)idx[j] * (uint64_t)w);
          }
        }
        i += m;
      }
      return 0;
    }
    case E_RLE: {
      if (t != PQ_BOOLEAN) return cfail(cr, SJ_ECORRUPT, "RLE encoding on a non-boolean column");
      if (len < 4) return cfail(cr, SJ_ECORRUPT, "RLE booleans without a length");
      uint32_t n;
      memcpy(&n, p, 4);
      if (n > len - 4) return cfail(cr, SJ_ECORRUPT, "RLE booleans run past the page");
      hybrid h;
      hybrid_init(&h, p + 4, n, 1);
      uint32_t v[1024];
      for (uint64_t i = 0; i < count;) {
        uint64_t m = count - i < 1024 ? count - i : 1024;
        if (hybrid_get(&h, v, m)) return cfail(cr, SJ_ECORRUPT, "RLE booleans end early");
        for (uint64_t j = 0; j < m; j++) o->values[ROW(i + j)] = (uint8_t)v[j];
        i += m;
      }
      return 0;
    }
    case E_DELTA_BINARY_PACKED: {
      if (t != PQ_INT32 && t != PQ_INT64) return cfail(cr, SJ_ECORRUPT, "DELTA_BINARY_PACKED on a non-integer column");
      int64_t *v;
      uint64_t n;
      if (delta_all(p, end, &v, &n, NULL, count) || n != count) {
        free(v);
        return cfail(cr, SJ_ECORRUPT, "corrupt DELTA_BINARY_PACKED values");
      }
      for (uint64_t i = 0; i < count; i++) {
        if (t == PQ_INT32) {
          int32_t x = (int32_t)(uint32_t)v[i];
          memcpy(o->values + ROW(i) * 4, &x, 4);
        } else {
          memcpy(o->values + ROW(i) * 8, &v[i], 8);
        }
      }
      free(v);
      return 0;
    }
    case E_DELTA_LENGTH_BYTE_ARRAY:
    case E_DELTA_BYTE_ARRAY: {
      if (t != PQ_BYTE_ARRAY && t != PQ_FIXED_LEN_BYTE_ARRAY)
        return cfail(cr, SJ_ECORRUPT, "a byte-array encoding on another type");
      int64_t *prefix = NULL, *lens = NULL;
      uint64_t np = count, nl;
      const uint8_t *q = p;
      int bad = 0;
      if (enc == E_DELTA_BYTE_ARRAY) bad = delta_all(q, end, &prefix, &np, &q, count) || np != count;
      if (!bad) bad = delta_all(q, end, &lens, &nl, &q, count) || nl != count;
      uint8_t *prev = NULL;
      size_t prev_len = 0, prev_cap = 0;
      for (uint64_t i = 0; i < count && !bad; i++) {
        int64_t pre = prefix ? prefix[i] : 0, suf = lens[i];
        if (pre < 0 || suf < 0 || (uint64_t)pre > prev_len || (uint64_t)suf > (uint64_t)(end - q)) { bad = 1; break; }
        size_t total = (size_t)pre + (size_t)suf;
        if (grow((void **)&prev, &prev_cap, total + 1, 1)) { bad = 2; break; }
        memcpy(prev + pre, q, (size_t)suf);
        q += suf;
        prev_len = total;
        if (t == PQ_BYTE_ARRAY) {
          if (stage_put(cr, prev, total)) { bad = 2; break; }
        } else {
          if (total != (size_t)w) { bad = 1; break; }
          store_fixed(cr, ROW(i), prev);
        }
      }
      free(prefix);
      free(lens);
      free(prev);
      if (bad == 2) return cfail(cr, SJ_ENOMEM, "out of memory");
      if (bad) return cfail(cr, SJ_ECORRUPT, "corrupt DELTA byte-array values");
      return 0;
    }
    case E_BYTE_STREAM_SPLIT: {
      if (t == PQ_BOOLEAN || t == PQ_BYTE_ARRAY || t == PQ_INT96)
        return cfail(cr, SJ_ECORRUPT, "BYTE_STREAM_SPLIT on a type it does not apply to");
      if ((uint64_t)w * count > len) return cfail(cr, SJ_ECORRUPT, "a page's values run past its end");
      /* Stream b holds byte b of every value; the page may be longer (v1 padding is not allowed,
      ** so the stream length is len / width). */
      uint64_t stride = len / (uint64_t)w;
      if (stride < count) return cfail(cr, SJ_ECORRUPT, "BYTE_STREAM_SPLIT streams too short");
      for (uint64_t i = 0; i < count; i++)
        for (int b = 0; b < w; b++) o->values[ROW(i) * (uint64_t)w + (uint64_t)b] = p[(uint64_t)b * stride + i];
      return 0;
    }
  }
  return cfail(cr, SJ_ECORRUPT, "unknown value encoding");
}

static int read_dictionary(colread *cr, const uint8_t *p, size_t len, int64_t nvalues) {
  pq_type t = cr->ci->type;
  if (nvalues < 0) return cfail(cr, SJ_ECORRUPT, "dictionary page with a negative size");
  if (cr->has_dict) return cfail(cr, SJ_ECORRUPT, "a second dictionary page");
  if (t == PQ_BOOLEAN) return cfail(cr, SJ_ECORRUPT, "a dictionary for booleans");
  uint64_t n = (uint64_t)nvalues;
  if (t == PQ_BYTE_ARRAY) {
    if (n > len / 4) return cfail(cr, SJ_ECORRUPT, "dictionary larger than its page");
    cr->dict_offsets = malloc((n + 1) * sizeof *cr->dict_offsets);
    cr->dict = malloc(len ? len : 1);
    if (!cr->dict_offsets || !cr->dict) return cfail(cr, SJ_ENOMEM, "out of memory");
    const uint8_t *q = p, *end = p + len;
    uint64_t used = 0;
    cr->dict_offsets[0] = 0;
    for (uint64_t i = 0; i < n; i++) {
      uint32_t m;
      if (end - q < 4) return cfail(cr, SJ_ECORRUPT, "dictionary runs past its page");
      memcpy(&m, q, 4);
      q += 4;
      if ((size_t)(end - q) < m) return cfail(cr, SJ_ECORRUPT, "dictionary runs past its page");
      memcpy(cr->dict + used, q, m);
      q += m;
      used += m;
      cr->dict_offsets[i + 1] = used;
    }
  } else {
    if (n > len / (uint64_t)cr->width) return cfail(cr, SJ_ECORRUPT, "dictionary larger than its page");
    cr->dict = malloc(n * (uint64_t)cr->width + 1);
    if (!cr->dict) return cfail(cr, SJ_ENOMEM, "out of memory");
    memcpy(cr->dict, p, n * (uint64_t)cr->width);
  }
  cr->dict_n = n;
  cr->has_dict = 1;
  return 0;
}

/* Decompresses a page body into cr->page (or returns it as is). */
static int page_body(colread *cr, pq_codec codec, const uint8_t *src, size_t n, int64_t expect,
                     const uint8_t **out) {
  if (expect < 0 || expect > (int64_t)1 << 31) return cfail(cr, SJ_ECORRUPT, "bad uncompressed page size");
  if (codec == PQ_CODEC_NONE) {
    if ((size_t)expect != n) return cfail(cr, SJ_ECORRUPT, "page sizes disagree");
    *out = src;
    return 0;
  }
  if (expect == 0 && n == 0) { *out = src; return 0; }
  if (grow((void **)&cr->page, &cr->page_cap, (size_t)expect + 1, 1)) return cfail(cr, SJ_ENOMEM, "out of memory");
  sj_error e;
  if (codec_decompress(codec, src, n, cr->page, (size_t)expect, &e))
    return cfail(cr, e.code, e.msg);
  *out = cr->page;
  return 0;
}

typedef struct page_header {
  int type;
  int64_t uncompressed, compressed;
  int64_t num_values, num_nulls, num_rows;
  int encoding, def_encoding;
  int64_t def_len, rep_len;
  int is_compressed;
  int has_data, has_dict, has_v2;
} page_header;

static void read_data_header(thrift_reader *t, page_header *h, int v2) {
  tr_struct_begin(t);
  int16_t id;
  int ty;
  while (tr_field(t, &id, &ty)) {
    if (!v2) {
      if (id == 1) h->num_values = tr_field_int(t, ty);
      else if (id == 2) h->encoding = (int)tr_field_int(t, ty);
      else if (id == 3) h->def_encoding = (int)tr_field_int(t, ty);
      else tr_skip(t, ty);
    } else {
      if (id == 1) h->num_values = tr_field_int(t, ty);
      else if (id == 2) h->num_nulls = tr_field_int(t, ty);
      else if (id == 3) h->num_rows = tr_field_int(t, ty);
      else if (id == 4) h->encoding = (int)tr_field_int(t, ty);
      else if (id == 5) h->def_len = tr_field_int(t, ty);
      else if (id == 6) h->rep_len = tr_field_int(t, ty);
      else if (id == 7) h->is_compressed = (int)tr_field_int(t, ty);
      else tr_skip(t, ty);
    }
  }
}

static int read_page_header(const uint8_t *p, size_t n, page_header *h, size_t *header_len) {
  memset(h, 0, sizeof *h);
  h->type = -1;
  h->is_compressed = 1;
  h->def_encoding = E_RLE;
  thrift_reader t;
  tr_init(&t, p, n);
  tr_struct_begin(&t);
  int16_t id;
  int ty;
  while (tr_field(&t, &id, &ty)) {
    switch (id) {
      case 1: h->type = (int)tr_field_int(&t, ty); break;
      case 2: h->uncompressed = tr_field_int(&t, ty); break;
      case 3: h->compressed = tr_field_int(&t, ty); break;
      case 5: if (ty == TC_STRUCT) { read_data_header(&t, h, 0); h->has_data = 1; } else tr_skip(&t, ty); break;
      case 7:
        if (ty == TC_STRUCT) {
          tr_struct_begin(&t);
          int16_t fid;
          int ft;
          while (tr_field(&t, &fid, &ft)) {
            if (fid == 1) h->num_values = tr_field_int(&t, ft);
            else tr_skip(&t, ft);
          }
          h->has_dict = 1;
        } else tr_skip(&t, ty);
        break;
      case 8: if (ty == TC_STRUCT) { read_data_header(&t, h, 1); h->has_v2 = 1; } else tr_skip(&t, ty); break;
      default: tr_skip(&t, ty);
    }
  }
  if (t.failed) return -1;
  *header_len = (size_t)(t.p - p);
  return 0;
}

/* One data page: levels, then values scattered to their rows. */
static int read_data_page(colread *cr, const page_header *h, const uint8_t *raw, size_t raw_len) {
  int optional = cr->ci->optional;
  int v2 = h->type == PT_DATA_PAGE_V2;
  if ((v2 && !h->has_v2) || (!v2 && !h->has_data)) return cfail(cr, SJ_ECORRUPT, "data page without its header");
  int64_t nv = h->num_values;
  if (nv < 0 || (uint64_t)nv > cr->out->rows - cr->done)
    return cfail(cr, SJ_ECORRUPT, "a page holds more values than the row group's rows");
  const uint8_t *body;
  size_t body_len;
  const uint8_t *levels = NULL;
  size_t levels_len = 0;
  if (v2) {
    /* Repetition levels come first.  A flat column's are zero-width (some
    ** writers still store them as one RLE run); they carry nothing to read. */
    if (h->rep_len < 0 || h->def_len < 0 || (uint64_t)h->rep_len > raw_len ||
        (uint64_t)h->def_len > raw_len - (uint64_t)h->rep_len)
      return cfail(cr, SJ_ECORRUPT, "bad level lengths");
    if (!optional && h->def_len != 0) return cfail(cr, SJ_ECORRUPT, "definition levels in a REQUIRED column");
    size_t skip = (size_t)h->rep_len;
    levels = raw + skip;
    levels_len = (size_t)h->def_len;
    size_t rest = raw_len - skip - levels_len;
    int64_t expect = h->uncompressed - h->rep_len - h->def_len;
    if (h->is_compressed && cr->codec != PQ_CODEC_NONE && rest > 0) {
      int rc = page_body(cr, cr->codec, levels + levels_len, rest, expect, &body);
      if (rc) return rc;
      body_len = (size_t)expect;
    } else {
      body = levels + levels_len;
      body_len = rest;
    }
  } else {
    int rc = page_body(cr, cr->codec, raw, raw_len, h->uncompressed, &body);
    if (rc) return rc;
    body_len = (size_t)h->uncompressed;
    if (optional) {
      if (h->def_encoding != E_RLE) return cfail(cr, SJ_ECORRUPT, "unsupported definition-level encoding");
      if (body_len < 4) return cfail(cr, SJ_ECORRUPT, "definition levels missing");
      uint32_t n;
      memcpy(&n, body, 4);
      if (n > body_len - 4) return cfail(cr, SJ_ECORRUPT, "definition levels run past the page");
      levels = body + 4;
      levels_len = n;
      body += 4 + n;
      body_len -= 4 + (size_t)n;
    }
  }
  /* rows[i]: where the i-th present value goes (only needed with nulls). */
  uint64_t *rows = NULL;
  if (optional && !(rows = malloc(((uint64_t)nv ? (uint64_t)nv : 1) * sizeof *rows)))
    return cfail(cr, SJ_ENOMEM, "out of memory");
  uint64_t present = 0, base = cr->done;
  if (optional) {
    if (grow((void **)&cr->levels, &cr->levels_cap, (size_t)nv * 4 + 4, 1)) {
      free(rows);
      return cfail(cr, SJ_ENOMEM, "out of memory");
    }
    uint32_t *lv = (uint32_t *)cr->levels;
    hybrid hl;
    hybrid_init(&hl, levels, levels_len, 1);
    if (hybrid_get(&hl, lv, (uint64_t)nv)) {
      free(rows);
      return cfail(cr, SJ_ECORRUPT, "definition levels end early");
    }
    for (int64_t i = 0; i < nv; i++) {
      if (lv[i] > 1) { free(rows); return cfail(cr, SJ_ECORRUPT, "definition level above the maximum"); }
      cr->out->valid[base + (uint64_t)i] = (uint8_t)lv[i];
      if (lv[i]) rows[present++] = base + (uint64_t)i;
    }
    if (v2 && h->num_nulls != nv - (int64_t)present) {
      free(rows);
      return cfail(cr, SJ_ECORRUPT, "the page's null count disagrees with its levels");
    }
  } else {
    present = (uint64_t)nv;
  }
  int rc = 0;
  cr->stage_len = cr->stage_n = 0;
  if (present) rc = decode_values(cr, h->encoding, body, body_len, rows, base, present);
  if (!rc && cr->ci->type == PQ_BYTE_ARRAY && !cr->codes) {
    if (cr->stage_n != present) rc = cfail(cr, SJ_ECORRUPT, "a page decodes to the wrong number of values");
    uint64_t k = 0;
    for (int64_t i = 0; i < nv && !rc; i++) {
      if (optional && !cr->out->valid[base + (uint64_t)i]) {
        rc = put_row_bytes(cr, NULL, 0);
      } else {
        rc = put_row_bytes(cr, cr->stage + cr->stage_off[k], (size_t)(cr->stage_off[k + 1] - cr->stage_off[k]));
        k++;
      }
    }
  } else {
    cr->done += (uint64_t)nv;
  }
  free(rows);
  return rc;
}

void pq_column_free(pq_column *c) {
  if (!c) return;
  free(c->values);
  free(c->offsets);
  free(c->data);
  free(c->valid);
  memset(c, 0, sizeof *c);
}

static int read_chunk(const pq_reader *r, int rg, int col, pq_column *out, uint32_t *codes,
                      pq_column *dict_out, sj_error *err);

void pq_release_rowgroup(const pq_reader *r, int rg) {
  if (rg < 0 || rg >= r->nrgs) return;
  uint64_t lo = r->size, hi = 0;
  for (int c = 0; c < r->ncols; c++) {
    const chunk *ch = &r->chunks[(size_t)rg * (size_t)r->ncols + (size_t)c];
    int64_t start = ch->data_page_offset;
    if (ch->dictionary_page_offset >= 4 && ch->dictionary_page_offset < start) start = ch->dictionary_page_offset;
    int64_t end = start + ch->info.compressed_size;
    if (start < 0 || end < start || (uint64_t)end > r->size) continue;
    if ((uint64_t)start < lo) lo = (uint64_t)start;
    if ((uint64_t)end > hi) hi = (uint64_t)end;
  }
  uint64_t page = (uint64_t)sysconf(_SC_PAGE_SIZE);
  lo &= ~(page - 1);
  if (lo < hi) madvise((void *)(r->map + lo), (size_t)(hi - lo), MADV_DONTNEED);
}

int pq_read(const pq_reader *r, int rg, int col, pq_column *out, sj_error *err) {
  return read_chunk(r, rg, col, out, NULL, NULL, err);
}

void pq_codes_free(pq_codes *c) {
  if (!c) return;
  free(c->codes);
  free(c->valid);
  pq_column_free(&c->dict);
  memset(c, 0, sizeof *c);
}

int pq_read_codes(const pq_reader *r, int rg, int col, pq_codes *out, sj_error *err) {
  memset(out, 0, sizeof *out);
  if (rg < 0 || rg >= r->nrgs || col < 0 || col >= r->ncols)
    return sj_fail(err, SJ_EUSAGE, "%s: no row group %d, column %d", r->path, rg, col);
  uint64_t rows = (uint64_t)r->rg_rows[rg];
  uint32_t *codes = calloc(rows ? rows : 1, sizeof *codes);
  if (!codes) return sj_fail(err, SJ_ENOMEM, "out of memory");
  pq_column shape; /* levels and bookkeeping; holds no values in codes mode */
  int rc = read_chunk(r, rg, col, &shape, codes, &out->dict, err);
  if (rc) {
    free(codes);
    return rc;
  }
  out->rows = rows;
  out->codes = codes;
  out->valid = shape.valid;
  shape.valid = NULL;
  pq_column_free(&shape);
  return 0;
}

/* Walks one column chunk's pages.  With codes != NULL, dictionary indexes
** go to codes and the dictionary to *dict_out instead of being gathered. */
static int read_chunk(const pq_reader *r, int rg, int col, pq_column *out, uint32_t *codes,
                      pq_column *dict_out, sj_error *err) {
  memset(out, 0, sizeof *out);
  if (rg < 0 || rg >= r->nrgs || col < 0 || col >= r->ncols)
    return sj_fail(err, SJ_EUSAGE, "%s: no row group %d, column %d", r->path, rg, col);
  const chunk *ch = &r->chunks[(size_t)rg * (size_t)r->ncols + (size_t)col];
  colread cr = {.r = r, .ci = &r->cols[col], .codec = ch->info.codec, .err = err, .out = out,
                .codes = codes};
  cr.width = type_width(cr.ci->type, cr.ci->type_length);
  uint64_t rows = (uint64_t)r->rg_rows[rg];
  out->type = cr.ci->type;
  out->width = cr.width;
  out->rows = rows;
  int rc = 0;
  if (codes) {
    /* codes mode: no values to gather */
  } else if (cr.ci->type == PQ_BYTE_ARRAY) {
    out->offsets = calloc(rows + 1, sizeof *out->offsets);
    if (!out->offsets) rc = cfail(&cr, SJ_ENOMEM, "out of memory");
  } else {
    out->values = calloc(rows ? rows : 1, (size_t)cr.width);
    if (!out->values) rc = cfail(&cr, SJ_ENOMEM, "out of memory");
  }
  if (!rc && cr.ci->optional && !(out->valid = calloc(rows ? rows : 1, 1)))
    rc = cfail(&cr, SJ_ENOMEM, "out of memory");
  switch (ch->info.codec) {
    case PQ_CODEC_NONE: case PQ_CODEC_SNAPPY: case PQ_CODEC_GZIP: case PQ_CODEC_LZ4:
    case PQ_CODEC_ZSTD: case PQ_CODEC_LZ4_RAW: break;
    default:
      if (!rc) rc = cfail(&cr, SJ_EUSAGE, "unsupported compression codec (LZO or BROTLI)");
  }
  /* The chunk: from the dictionary page if there is one before the data. */
  int64_t start = ch->data_page_offset;
  if (ch->dictionary_page_offset >= 4 && ch->dictionary_page_offset < start) start = ch->dictionary_page_offset;
  int64_t end = start + ch->info.compressed_size;
  if (!rc && (end < start || (uint64_t)end > r->size)) rc = cfail(&cr, SJ_ECORRUPT, "its chunk runs past the end of the file");
  const uint8_t *p = r->map + (rc ? 0 : start), *stop = r->map + (rc ? 0 : end);
  while (!rc && cr.done < rows) {
    if (p >= stop) { rc = cfail(&cr, SJ_ECORRUPT, "its pages end before all rows are read"); break; }
    page_header h;
    size_t hl;
    if (read_page_header(p, (size_t)(stop - p), &h, &hl)) { rc = cfail(&cr, SJ_ECORRUPT, "corrupt page header"); break; }
    p += hl;
    if (h.compressed < 0 || h.compressed > stop - p) { rc = cfail(&cr, SJ_ECORRUPT, "a page runs past its chunk"); break; }
    const uint8_t *raw = p;
    size_t raw_len = (size_t)h.compressed;
    p += h.compressed;
    if (h.type == PT_DICTIONARY_PAGE) {
      if (!h.has_dict) { rc = cfail(&cr, SJ_ECORRUPT, "dictionary page without its header"); break; }
      const uint8_t *body;
      rc = page_body(&cr, cr.codec, raw, raw_len, h.uncompressed, &body);
      if (!rc) rc = read_dictionary(&cr, body, (size_t)h.uncompressed, h.num_values);
    } else if (h.type == PT_DATA_PAGE || h.type == PT_DATA_PAGE_V2) {
      rc = read_data_page(&cr, &h, raw, raw_len);
    } else if (h.type != PT_INDEX_PAGE) {
      rc = cfail(&cr, SJ_ECORRUPT, "unknown page type");
    }
  }
  /* The contract: valid is NULL when no row is null (OPTIONAL columns
  ** without nulls are the common case for pandas, DuckDB and Polars). */
  if (!rc && out->valid && !memchr(out->valid, 0, rows)) {
    free(out->valid);
    out->valid = NULL;
  }
  if (!rc && codes && !cr.has_dict && rows)
    rc = cfail(&cr, SJ_EUSAGE, "the chunk has no dictionary; read its values instead");
  if (!rc && codes) { /* hand the dictionary over as a column of its own */
    memset(dict_out, 0, sizeof *dict_out);
    dict_out->type = cr.ci->type;
    dict_out->width = cr.width;
    dict_out->rows = cr.dict_n;
    if (cr.ci->type == PQ_BYTE_ARRAY) {
      dict_out->data = cr.dict;
      dict_out->offsets = cr.dict_offsets;
    } else {
      dict_out->values = cr.dict;
    }
    cr.dict = NULL;
    cr.dict_offsets = NULL;
  }
  free(cr.dict);
  free(cr.dict_offsets);
  free(cr.page);
  free(cr.levels);
  free(cr.stage);
  free(cr.stage_off);
  if (rc) pq_column_free(out);
  return rc;
}
