/*
** footer.c — opening a Parquet file: pq_open opens it through the store
** (src/util/store.h), reads the footer (FileMetaData) as byte ranges — a
** local file is mapped only afterwards, see store.c — and decodes and checks
** it: the schema must be flat (every leaf a direct child of the root,
** REQUIRED or OPTIONAL), every column chunk must lie inside the file, and the
** row groups must agree with the schema.  Then the accessors of what the
** footer says.
*/
#include "reader.h"
#include "writer.h"
#include "thrift.h"


const char *pq_type_name(pq_type t) {
  static const char *names[] = {"BOOLEAN", "INT32", "INT64", "INT96", "FLOAT", "DOUBLE",
                                "BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY"};
  return (unsigned)t < 8 ? names[t] : "UNKNOWN";
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

/* key_value_metadata: only the dataset marker of a file skewjoin's gen
** wrote is kept, and only as one of the two paths gen writes, so that a
** file cannot make the reader look anywhere else. */
static void read_key_values(thrift_reader *t, pq_reader *r) {
  static const char *const markers[] = {PQ_MARKER_HERE, PQ_MARKER_ABOVE};
  int et;
  uint32_t n = tr_list(t, &et);
  for (uint32_t i = 0; i < n && !t->failed; i++) {
    if (et != TC_STRUCT) {
      tr_skip(t, et);
      continue;
    }
    const uint8_t *key = NULL, *value = NULL;
    size_t klen = 0, vlen = 0;
    int16_t id;
    int ty;
    tr_struct_begin(t);
    while (tr_field(t, &id, &ty)) {
      if (id == 1 && ty == TC_BINARY) key = tr_binary(t, &klen);
      else if (id == 2 && ty == TC_BINARY) value = tr_binary(t, &vlen);
      else tr_skip(t, ty);
    }
    if (!key || !value || klen != strlen(PQ_DATASET_MARKER) || memcmp(key, PQ_DATASET_MARKER, klen)) continue;
    for (size_t m = 0; m < sizeof markers / sizeof *markers; m++)
      if (vlen == strlen(markers[m]) && !memcmp(value, markers[m], vlen)) r->marker = markers[m];
  }
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
    } else if (id == 5 && ty == TC_LIST) {
      read_key_values(&t, r);
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

/* A file gen wrote is read only once its dataset is complete: a run that
** was stopped or killed leaves files without the marker. */
static int check_dataset(const pq_reader *r, sj_error *err) {
  if (!r->marker) return 0;
  const char *slash = strrchr(r->path, '/');
  int dir_len = slash ? (int)(slash - r->path + 1) : 0;
  char marker[4096];
  if (snprintf(marker, sizeof marker, "%.*s%s", dir_len, r->path, r->marker) >= (int)sizeof marker)
    return sj_fail(err, SJ_EUSAGE, "%s: path too long", r->path);
  if (sj_input_exists(marker)) return 0;
  /* The message names the marker in its directory resolved (no ".."). */
  char *name = strrchr(marker, '/'), *dir = NULL;
  if (name) {
    *name++ = 0;
    dir = realpath(marker, NULL);
  }
  int rc = sj_fail(err, SJ_EUSAGE,
                   "%s: its dataset is incomplete: %s%s%s is missing (gen did not finish; run it again with "
                   "--force, or create the marker if the dataset was copied whole)",
                   r->path, dir ? dir : "", dir ? "/" : "", name ? name : marker);
  free(dir);
  return rc;
}

/* n bytes of the file at off; a failure is a message naming it. */
int pq_open(pq_reader **out, const char *path, sj_error *err) {
  *out = NULL;
  pq_reader *r = calloc(1, sizeof *r);
  if (!r || !(r->path = strdup(path))) {
    free(r);
    return sj_fail(err, SJ_ENOMEM, "out of memory");
  }
  int rc = sj_input_open(&r->in, path, err);
  if (!rc) {
    r->size = (size_t)sj_input_size(r->in);
    if (r->size < 12) rc = sj_fail(err, SJ_ECORRUPT, "%s: not a Parquet file (%lld bytes)", path, (long long)r->size);
  }
  uint8_t head[4], tail[8];
  if (!rc) rc = sj_input_read(r->in, head, 4, 0, err);
  if (!rc) rc = sj_input_read(r->in, tail, 8, r->size - 8, err);
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
    else if (!(rc = sj_input_read(r->in, r->footer, meta_len, r->size - 8 - meta_len, err)))
      rc = read_footer(r, r->footer, meta_len, err);
  }
  if (!rc) rc = check_dataset(r, err);
  if (!rc) rc = sj_input_ready(r->in, err);
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
  sj_input_close(r->in);
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
