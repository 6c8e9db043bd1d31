/*
** writer.c — Parquet files: row groups encoded in memory, appended in order,
** and a footer that describes them.
**
** The split matters for speed: pq_rowgroup_encode is pure (any thread may
** call it), while a pq_file only appends bytes and records offsets, so the
** generator encodes on every core and writes on one.  Files are written to
** "PATH.tmp" and renamed on close: a reader never sees a half-written file
** under its final name.  The bytes go through the store (src/util/store.h):
** staged and written in aligned blocks with O_DIRECT where the file system
** takes it.
**
** What is written: format version 2 metadata, REQUIRED and OPTIONAL
** columns of INT64, DOUBLE and strings (BYTE_ARRAY annotated STRING), v1
** data pages (read by every engine), a PLAIN dictionary page before
** RLE_DICTIONARY data pages, statistics (numbers only) with both the legacy
** min/max and min_value/max_value fields, and TYPE_ORDER column orders so
** that readers trust those statistics.
*/
#include "codec.h"
#include "encoding.h"
#include "thrift.h"
#include "writer.h"
#include "../util/crc32.h"
#include "../util/store.h"

#include <assert.h>
#include <math.h>

/* parquet.thrift enum values used below. */
enum { PT_DATA_PAGE = 0, PT_DICTIONARY_PAGE = 2 };
enum { E_PLAIN = 0, E_RLE = 3, E_DELTA_BINARY_PACKED = 5, E_RLE_DICTIONARY = 8 };

typedef struct chunk_meta {
  uint64_t start;           /* offset of the chunk's first page in the row group's bytes */
  uint64_t data_page;       /* offset of the first data page, same origin */
  int has_dictionary;
  uint64_t compressed, uncompressed; /* page headers included */
  int has_stats;
  uint8_t min[8], max[8];   /* PLAIN-encoded */
  int stats_len;            /* their bytes: 8, or 4 for INT32 */
  int encoding;             /* the data pages' encoding */
  int64_t nulls;
} chunk_meta;

struct pq_rowgroup {
  int ncols;
  uint64_t rows;
  sj_buf bytes;   /* the column chunks, one after another */
  sj_buf *parts;  /* built in batches: each column's pages so far, joined into bytes by pq_rowgroup_end */
  chunk_meta cols[];
};

struct pq_scratch {
  codec_ctx *codec;
  sj_buf page;      /* an uncompressed page body */
  sj_buf packed;    /* the compressed body */
  sj_buf header;
  uint64_t *counts; /* per-page run lengths */
  size_t counts_cap;
  uint16_t *levels; /* a page's definition levels */
  uint8_t *present; /* a page's non-null values, packed */
  size_t levels_cap, present_cap;
};

pq_scratch *pq_scratch_new(void) {
  pq_scratch *s = calloc(1, sizeof *s);
  if (s && !(s->codec = codec_ctx_new())) { free(s); return NULL; }
  return s;
}

void pq_scratch_free(pq_scratch *s) {
  if (!s) return;
  codec_ctx_free(s->codec);
  sj_buf_free(&s->page);
  sj_buf_free(&s->packed);
  sj_buf_free(&s->header);
  free(s->counts);
  free(s->levels);
  free(s->present);
  free(s);
}

void pq_rowgroup_free(pq_rowgroup *rg) {
  if (!rg) return;
  sj_buf_free(&rg->bytes);
  for (int c = 0; rg->parts && c < rg->ncols; c++) sj_buf_free(&rg->parts[c]);
  free(rg->parts);
  free(rg);
}

uint64_t pq_rowgroup_bytes(const pq_rowgroup *rg) { return rg->bytes.len; }

/* Compresses the page body raw[0..raw_len) (usually s->page) and appends
** header + body to out: a dictionary page, or a data page of `values`
** values in `encoding`. */
static int put_page_from(pq_scratch *s, const uint8_t *raw, size_t raw_len, pq_codec codec,
                         int is_dictionary, uint32_t values, int encoding, sj_buf *out,
                         chunk_meta *m, sj_error *err) {
  if (raw_len > INT32_MAX)
    return sj_fail(err, SJ_EUSAGE, "page of %zu bytes exceeds Parquet's 2 GiB limit", raw_len);
  const uint8_t *body = raw;
  size_t body_len = raw_len;
  if (codec != PQ_CODEC_NONE) {
    sj_buf_reset(&s->packed);
    int rc = codec_compress(s->codec, codec, raw, raw_len, &s->packed, err);
    if (rc) return rc;
    body = s->packed.data;
    body_len = s->packed.len;
  }
  sj_buf_reset(&s->header);
  thrift_writer w;
  tw_init(&w, &s->header);
  tw_struct_begin(&w);
  tw_i32(&w, 1, is_dictionary ? PT_DICTIONARY_PAGE : PT_DATA_PAGE);
  tw_i32(&w, 2, (int32_t)raw_len);
  tw_i32(&w, 3, (int32_t)body_len);
  tw_i32(&w, 4, (int32_t)sj_crc32(body, body_len)); /* crc: of the page's bytes as stored */
  if (is_dictionary) {
    tw_field(&w, 7, TC_STRUCT);
    tw_struct_begin(&w);
    tw_i32(&w, 1, (int32_t)values);
    tw_i32(&w, 2, E_PLAIN);
    tw_struct_end(&w);
  } else {
    tw_field(&w, 5, TC_STRUCT);
    tw_struct_begin(&w);
    tw_i32(&w, 1, (int32_t)values);
    tw_i32(&w, 2, encoding);
    tw_i32(&w, 3, E_RLE);
    tw_i32(&w, 4, E_RLE);
    tw_struct_end(&w);
  }
  tw_struct_end(&w);
  sj_buf_put(out, s->header.data, s->header.len);
  sj_buf_put(out, body, body_len);
  if (out->failed || s->header.failed) return sj_fail(err, SJ_ENOMEM, "out of memory");
  m->compressed += s->header.len + body_len;
  m->uncompressed += s->header.len + raw_len;
  return 0;
}

/* The common case: the body is the page just encoded into s->page. */
static int put_page(pq_scratch *s, pq_codec codec, int is_dictionary, uint32_t values,
                    int encoding, sj_buf *out, chunk_meta *m, sj_error *err) {
  if (s->page.failed) return sj_fail(err, SJ_ENOMEM, "out of memory encoding a page");
  return put_page_from(s, s->page.data, s->page.len, codec, is_dictionary, values, encoding,
                       out, m, err);
}

/* Statistics take in each batch's bounds (pq_rowgroup_add): lo and hi, of
** type T, widened by the bounds an earlier batch recorded. */
#define WIDEN_BY_RECORDED(T, m, lo, hi) \
  do {                                  \
    if ((m)->has_stats) {               \
      T was_lo, was_hi;                 \
      memcpy(&was_lo, (m)->min, sizeof was_lo); \
      memcpy(&was_hi, (m)->max, sizeof was_hi); \
      lo = was_lo < lo ? was_lo : lo;   \
      hi = was_hi > hi ? was_hi : hi;   \
    }                                   \
  } while (0)

static void set_bounds(chunk_meta *m, const void *lo, const void *hi, int len) {
  memcpy(m->min, lo, (size_t)len);
  memcpy(m->max, hi, (size_t)len);
  m->has_stats = 1;
  m->stats_len = len;
}

static void stats_i64(chunk_meta *m, int64_t lo, int64_t hi) {
  WIDEN_BY_RECORDED(int64_t, m, lo, hi);
  set_bounds(m, &lo, &hi, 8);
}

/* Records double bounds; parquet.thrift: a zero minimum is written -0.0,
** a zero maximum +0.0. */
static void stats_f64_bounds(chunk_meta *m, double lo, double hi) {
  WIDEN_BY_RECORDED(double, m, lo, hi);
  if (lo == 0) lo = -0.0;
  if (hi == 0) hi = 0.0;
  set_bounds(m, &lo, &hi, 8);
}

/* Min and max in four independent lanes: one chain of dependent compares
** per value would make this loop the writer's slowest. */
static void stats_f64(chunk_meta *m, const double *v, uint64_t n) {
  double lo[4] = {INFINITY, INFINITY, INFINITY, INFINITY};
  double hi[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
  uint64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int k = 0; k < 4; k++) {
      lo[k] = v[i + k] < lo[k] ? v[i + k] : lo[k]; /* NaN compares false: skipped */
      hi[k] = v[i + k] > hi[k] ? v[i + k] : hi[k];
    }
  for (; i < n; i++) {
    lo[0] = v[i] < lo[0] ? v[i] : lo[0];
    hi[0] = v[i] > hi[0] ? v[i] : hi[0];
  }
  double a = lo[0], b = hi[0];
  for (int k = 1; k < 4; k++) {
    a = lo[k] < a ? lo[k] : a;
    b = hi[k] > b ? hi[k] : b;
  }
  if (a > b) return; /* no rows, or only NaN */
  stats_f64_bounds(m, a, b);
}

static void minmax_i64(const int64_t *v, uint64_t n, int64_t *lo, int64_t *hi) {
  int64_t a[4] = {INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX};
  int64_t b[4] = {INT64_MIN, INT64_MIN, INT64_MIN, INT64_MIN};
  uint64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int k = 0; k < 4; k++) {
      a[k] = v[i + k] < a[k] ? v[i + k] : a[k];
      b[k] = v[i + k] > b[k] ? v[i + k] : b[k];
    }
  for (; i < n; i++) {
    a[0] = v[i] < a[0] ? v[i] : a[0];
    b[0] = v[i] > b[0] ? v[i] : b[0];
  }
  for (int k = 1; k < 4; k++) {
    a[0] = a[k] < a[0] ? a[k] : a[0];
    b[0] = b[k] > b[0] ? b[k] : b[0];
  }
  *lo = a[0];
  *hi = b[0];
}

static int encode_dictionary_page(pq_scratch *s, pq_codec codec, const int64_t *dict,
                                  size_t n, sj_buf *out, chunk_meta *m, sj_error *err) {
  sj_buf_reset(&s->page);
  sj_buf_put(&s->page, dict, n * 8);
  m->has_dictionary = 1;
  return put_page(s, codec, 1, (uint32_t)n, E_PLAIN, out, m, err);
}

/* Dictionary codes given row by row (random small integers). */
static int encode_codes(const pq_column_spec *sp, const pq_vector *v, uint64_t rows,
                        pq_scratch *s, sj_buf *out, chunk_meta *m, sj_error *err) {
  if (v->dict_len == 0 || v->dict_len > 65536)
    return sj_fail(err, SJ_EUSAGE, "column %s: dictionary of %u values", sp->name, v->dict_len);
  int rc = encode_dictionary_page(s, sp->codec, v->dict, v->dict_len, out, m, err);
  if (rc) return rc;
  m->data_page = out->len;
  int width = enc_bit_width(v->dict_len - 1);
  uint16_t lo = UINT16_MAX, hi = 0;
  for (uint64_t i = 0; i < rows; i++) {
    uint16_t c = v->codes[i];
    lo = c < lo ? c : lo;
    hi = c > hi ? c : hi;
  }
  if (rows && hi >= v->dict_len)
    return sj_fail(err, SJ_EUSAGE, "column %s: code %u outside a dictionary of %u", sp->name,
                   hi, v->dict_len);
  if (rows) stats_i64(m, v->dict[lo], v->dict[hi]);
  for (uint64_t at = 0; at < rows; at += PQ_PAGE_ROWS) {
    uint32_t n = (uint32_t)(rows - at < PQ_PAGE_ROWS ? rows - at : PQ_PAGE_ROWS);
    sj_buf_reset(&s->page);
    sj_buf_byte(&s->page, (uint8_t)width);
    enc_hybrid_codes(v->codes + at, n, width, &s->page);
    if ((rc = put_page(s, sp->codec, 0, n, E_RLE_DICTIONARY, out, m, err))) return rc;
  }
  return 0;
}

/* Dictionary codes given as runs of ascending values (a sorted key column). */
static int encode_runs(const pq_column_spec *sp, const pq_vector *v, uint64_t rows,
                       pq_scratch *s, sj_buf *out, chunk_meta *m, sj_error *err) {
  size_t nruns = v->run_count;
  if (nruns == 0 || nruns > UINT32_MAX)
    return sj_fail(err, SJ_EUSAGE, "column %s: %zu runs", sp->name, nruns);
  int64_t *dict = malloc(nruns * sizeof *dict);
  if (!dict) return sj_fail(err, SJ_ENOMEM, "out of memory");
  uint64_t total = 0;
  for (size_t i = 0; i < nruns; i++) {
    dict[i] = v->runs[i].value;
    total += v->runs[i].count;
    assert(i == 0 || dict[i] > dict[i - 1]);
  }
  int rc = total == rows ? 0
                         : sj_fail(err, SJ_EUSAGE, "column %s: runs hold %llu rows, not %llu",
                                   sp->name, (unsigned long long)total, (unsigned long long)rows);
  if (!rc) rc = encode_dictionary_page(s, sp->codec, dict, nruns, out, m, err);
  if (!rc && rows) stats_i64(m, dict[0], dict[nruns - 1]);
  free(dict);
  if (rc) return rc;
  m->data_page = out->len;
  int width = enc_bit_width(nruns - 1);
  size_t run = 0;
  uint64_t used = 0; /* rows of v->runs[run] already in earlier pages */
  for (uint64_t at = 0; at < rows; at += PQ_PAGE_ROWS) {
    uint32_t n = (uint32_t)(rows - at < PQ_PAGE_ROWS ? rows - at : PQ_PAGE_ROWS);
    sj_buf_reset(&s->page);
    sj_buf_byte(&s->page, (uint8_t)width);
    uint32_t first = (uint32_t)run;
    size_t k = 0;
    for (uint32_t left = n; left > 0; k++) {
      if (k == s->counts_cap) {
        size_t cap = s->counts_cap ? 2 * s->counts_cap : 64;
        uint64_t *c = realloc(s->counts, cap * sizeof *c);
        if (!c) return sj_fail(err, SJ_ENOMEM, "out of memory");
        s->counts = c;
        s->counts_cap = cap;
      }
      uint64_t avail = v->runs[run].count - used;
      uint64_t take = avail < left ? avail : left;
      s->counts[k] = take;
      left -= (uint32_t)take;
      used += take;
      if (used == v->runs[run].count) { run++; used = 0; }
    }
    enc_hybrid_runs(s->counts, k, first, width, &s->page);
    if ((rc = put_page(s, sp->codec, 0, n, E_RLE_DICTIONARY, out, m, err))) return rc;
  }
  return 0;
}

/* The scratch an OPTIONAL column's pages need: levels and present values. */
static int levels_ready(pq_scratch *s, sj_error *err) {
  if (s->levels_cap >= PQ_PAGE_ROWS) return 0;
  uint16_t *l = realloc(s->levels, PQ_PAGE_ROWS * sizeof *l);
  uint8_t *p = realloc(s->present, PQ_PAGE_ROWS * 8);
  if (l) s->levels = l;
  if (p) s->present = p;
  if (!l || !p) return sj_fail(err, SJ_ENOMEM, "out of memory");
  s->levels_cap = PQ_PAGE_ROWS;
  return 0;
}

/* Starts an OPTIONAL column's page of rows [at, at + n) in s->page: the
** definition levels (4-byte length, then the hybrid with bit width 1),
** counting the nulls. */
static void page_levels(pq_scratch *s, const pq_vector *v, uint64_t at, uint32_t n, chunk_meta *m) {
  for (uint32_t i = 0; i < n; i++) {
    s->levels[i] = (uint16_t)(!v->valid || v->valid[at + i]);
    m->nulls += !s->levels[i];
  }
  sj_buf_reset(&s->page);
  sj_buf_le32(&s->page, 0);
  size_t start = s->page.len;
  enc_hybrid_codes(s->levels, n, 1, &s->page);
  if (!s->page.failed) {
    uint32_t len = (uint32_t)(s->page.len - start);
    memcpy(s->page.data, &len, 4);
  }
}

/* An OPTIONAL column's page: definition levels, then the PLAIN values of
** the present rows. */
static int encode_optional(const pq_column_spec *sp, const pq_vector *v, uint64_t rows, pq_scratch *s,
                           sj_buf *out, chunk_meta *m, sj_error *err) {
  int is_i64 = v->kind == PQ_VEC_I64;
  const uint8_t *src = is_i64 ? (const uint8_t *)v->i64 : (const uint8_t *)v->f64;
  int have = 0;
  double flo = 0, fhi = 0;
  int64_t ilo = 0, ihi = 0;
  int rc = levels_ready(s, err);
  if (rc) return rc;
  for (uint64_t at = 0; at < rows; at += PQ_PAGE_ROWS) {
    uint32_t n = (uint32_t)(rows - at < PQ_PAGE_ROWS ? rows - at : PQ_PAGE_ROWS), k = 0;
    page_levels(s, v, at, n, m);
    for (uint32_t i = 0; i < n; i++) {
      if (!s->levels[i]) continue;
      memcpy(s->present + (size_t)k * 8, src + (at + i) * 8, 8);
      k++;
      if (is_i64) {
        int64_t x = v->i64[at + i];
        if (!have || x < ilo) ilo = x;
        if (!have || x > ihi) ihi = x;
      } else {
        double x = v->f64[at + i];
        if (x != x) continue; /* NaN stays out of the bounds */
        if (!have || x < flo) flo = x;
        if (!have || x > fhi) fhi = x;
      }
      have = 1;
    }
    sj_buf_put(&s->page, s->present, (size_t)k * 8);
    if ((rc = put_page(s, sp->codec, 0, n, E_PLAIN, out, m, err))) return rc;
  }
  if (have && is_i64) stats_i64(m, ilo, ihi);
  if (have && !is_i64) stats_f64_bounds(m, flo, fhi);
  return 0;
}

/* An INT32 column (DATE, TIME in milliseconds, a narrow DECIMAL) from
** int64 values: definition levels when OPTIONAL, then the present values
** as 4-byte PLAIN.  A value outside the int32 range is refused. */
static int encode_int32(const pq_column_spec *sp, const pq_vector *v, uint64_t rows, pq_scratch *s, sj_buf *out,
                        chunk_meta *m, sj_error *err) {
  int rc = sp->optional ? levels_ready(s, err) : 0;
  int have = 0;
  int32_t lo = 0, hi = 0;
  for (uint64_t at = 0; at < rows && !rc; at += PQ_PAGE_ROWS) {
    uint32_t n = (uint32_t)(rows - at < PQ_PAGE_ROWS ? rows - at : PQ_PAGE_ROWS);
    if (sp->optional) page_levels(s, v, at, n, m);
    else sj_buf_reset(&s->page);
    for (uint64_t r = at; r < at + n; r++) {
      if (v->valid && !v->valid[r]) continue;
      if (v->i64[r] < INT32_MIN || v->i64[r] > INT32_MAX)
        return sj_fail(err, SJ_EUSAGE, "column %s: %lld does not fit its INT32", sp->name, (long long)v->i64[r]);
      int32_t x = (int32_t)v->i64[r];
      if (!have || x < lo) lo = x;
      if (!have || x > hi) hi = x;
      have = 1;
      sj_buf_le32(&s->page, (uint32_t)x);
    }
    rc = put_page(s, sp->codec, 0, n, E_PLAIN, out, m, err);
  }
  if (!rc && have) {
    WIDEN_BY_RECORDED(int32_t, m, lo, hi);
    set_bounds(m, &lo, &hi, 4);
  }
  return rc;
}

/* A BYTE_ARRAY column's pages: definition levels when OPTIONAL, then each
** present value as a 4-byte length and its bytes (PLAIN).  No min/max
** statistics: a reader that wants bounds for strings reads the values. */
static int encode_byte_array(const pq_column_spec *sp, const pq_vector *v, uint64_t rows, pq_scratch *s,
                             sj_buf *out, chunk_meta *m, sj_error *err) {
  int rc = sp->optional ? levels_ready(s, err) : 0;
  if (rc) return rc;
  for (uint64_t at = 0; at < rows; at += PQ_PAGE_ROWS) {
    uint32_t n = (uint32_t)(rows - at < PQ_PAGE_ROWS ? rows - at : PQ_PAGE_ROWS);
    if (sp->optional) page_levels(s, v, at, n, m);
    else sj_buf_reset(&s->page);
    for (uint64_t r = at; r < at + n; r++) {
      if (v->valid && !v->valid[r]) continue;
      uint64_t len = v->offsets[r + 1] - v->offsets[r];
      if (len > INT32_MAX) return sj_fail(err, SJ_EUSAGE, "column %s: a value of %llu bytes", sp->name, (unsigned long long)len);
      sj_buf_le32(&s->page, (uint32_t)len);
      sj_buf_put(&s->page, v->bytes + v->offsets[r], (size_t)len);
    }
    if ((rc = put_page(s, sp->codec, 0, n, E_PLAIN, out, m, err))) return rc;
  }
  return 0;
}

static int encode_values(const pq_column_spec *sp, const pq_vector *v, uint64_t rows,
                         pq_scratch *s, sj_buf *out, chunk_meta *m, sj_error *err) {
  if (v->kind == PQ_VEC_BYTES) return encode_byte_array(sp, v, rows, s, out, m, err);
  if (sp->type == PQ_INT32) return encode_int32(sp, v, rows, s, out, m, err);
  if (sp->optional) return encode_optional(sp, v, rows, s, out, m, err);
  int is_i64 = v->kind == PQ_VEC_I64;
  if (is_i64) {
    int64_t lo, hi;
    minmax_i64(v->i64, rows, &lo, &hi);
    if (rows) stats_i64(m, lo, hi);
  } else {
    stats_f64(m, v->f64, rows);
  }
  int delta = sp->encoding == PQ_ENC_DELTA;
  if (delta && !is_i64)
    return sj_fail(err, SJ_EUSAGE, "column %s: DELTA_BINARY_PACKED needs integers", sp->name);
  for (uint64_t at = 0; at < rows; at += PQ_PAGE_ROWS) {
    uint32_t n = (uint32_t)(rows - at < PQ_PAGE_ROWS ? rows - at : PQ_PAGE_ROWS);
    int rc;
    if (delta) {
      sj_buf_reset(&s->page);
      enc_delta_i64(v->i64 + at, n, &s->page);
      rc = put_page(s, sp->codec, 0, n, E_DELTA_BINARY_PACKED, out, m, err);
    } else { /* PLAIN is the values' own bytes (little endian): no staging copy */
      const void *src = is_i64 ? (const void *)(v->i64 + at) : (const void *)(v->f64 + at);
      rc = put_page_from(s, src, (size_t)n * 8, sp->codec, 0, n, E_PLAIN, out, m, err);
    }
    if (rc) return rc;
  }
  return 0;
}

static int check_shape(const pq_column_spec *sp, const pq_vector *v, sj_error *err) {
  int ok;
  switch (sp->encoding) {
    case PQ_ENC_DICTIONARY:
      ok = sp->type == PQ_INT64 && (v->kind == PQ_VEC_CODES || v->kind == PQ_VEC_RUNS);
      break;
    case PQ_ENC_DELTA: ok = sp->type == PQ_INT64 && v->kind == PQ_VEC_I64; break;
    default:
      ok = ((sp->type == PQ_INT64 || sp->type == PQ_INT32) && v->kind == PQ_VEC_I64) ||
           (sp->type == PQ_DOUBLE && v->kind == PQ_VEC_F64) ||
           (sp->type == PQ_BYTE_ARRAY && v->kind == PQ_VEC_BYTES);
  }
  if (sp->optional && sp->encoding != PQ_ENC_PLAIN) ok = 0;
  return ok ? 0 : sj_fail(err, SJ_EUSAGE, "column %s: data does not match its type and encoding",
                          sp->name);
}

/* Encodes rows of every column onto rg: into its bytes (one batch), or
** into each column's part (built in batches). */
static int encode_rows(const pq_column_spec *specs, int ncols, const pq_vector *cols, uint64_t rows, pq_scratch *s,
                       pq_rowgroup *rg, sj_error *err) {
  assert(ncols == rg->ncols);
  if (rg->rows + rows > INT32_MAX)
    return sj_fail(err, SJ_EUSAGE, "row group of %llu rows is too large", (unsigned long long)(rg->rows + rows));
  int first = rg->rows == 0, rc = 0;
  for (int c = 0; c < ncols && !rc; c++) {
    chunk_meta *m = &rg->cols[c];
    sj_buf *out = rg->parts ? &rg->parts[c] : &rg->bytes;
    if (first) m->start = m->data_page = out->len;
    if ((rc = check_shape(&specs[c], &cols[c], err))) break;
    switch (cols[c].kind) {
      case PQ_VEC_CODES:
      case PQ_VEC_RUNS:
        if (!first) return sj_fail(err, SJ_EUSAGE, "column %s: a dictionary-encoded column is one batch", specs[c].name);
        m->encoding = E_RLE_DICTIONARY;
        rc = cols[c].kind == PQ_VEC_CODES ? encode_codes(&specs[c], &cols[c], rows, s, out, m, err)
                                          : encode_runs(&specs[c], &cols[c], rows, s, out, m, err);
        break;
      default:
        m->encoding = specs[c].encoding == PQ_ENC_DELTA ? E_DELTA_BINARY_PACKED : E_PLAIN;
        rc = encode_values(&specs[c], &cols[c], rows, s, out, m, err);
    }
  }
  rg->rows += rows;
  return rc;
}

static pq_rowgroup *rowgroup_new(int ncols) {
  return calloc(1, sizeof(pq_rowgroup) + (size_t)ncols * sizeof(chunk_meta));
}

int pq_rowgroup_encode(const pq_column_spec *specs, int ncols, const pq_vector *cols,
                       uint64_t rows, pq_scratch *s, pq_rowgroup **out, sj_error *err) {
  *out = NULL;
  pq_rowgroup *rg = rowgroup_new(ncols);
  if (!rg) return sj_fail(err, SJ_ENOMEM, "out of memory");
  rg->ncols = ncols;
  int rc = encode_rows(specs, ncols, cols, rows, s, rg, err);
  if (rc) { pq_rowgroup_free(rg); return rc; }
  *out = rg;
  return 0;
}

int pq_rowgroup_begin(int ncols, pq_rowgroup **out, sj_error *err) {
  pq_rowgroup *rg = *out = rowgroup_new(ncols);
  if (rg) {
    rg->ncols = ncols;
    rg->parts = calloc((size_t)(ncols ? ncols : 1), sizeof *rg->parts);
  }
  if (rg && rg->parts) return 0;
  pq_rowgroup_free(rg);
  *out = NULL;
  return sj_fail(err, SJ_ENOMEM, "out of memory");
}

int pq_rowgroup_add(const pq_column_spec *specs, int ncols, const pq_vector *cols, uint64_t rows, pq_scratch *s,
                    pq_rowgroup *rg, sj_error *err) {
  assert(rg->parts);
  if (rg->rows % PQ_PAGE_ROWS)
    return sj_fail(err, SJ_EUSAGE, "a batch of a row group after one of %llu rows, not a multiple of %u",
                   (unsigned long long)(rg->rows % PQ_PAGE_ROWS), PQ_PAGE_ROWS);
  return encode_rows(specs, ncols, cols, rows, s, rg, err);
}

int pq_rowgroup_end(pq_rowgroup *rg, sj_error *err) {
  assert(rg->parts);
  uint64_t total = 0;
  for (int c = 0; c < rg->ncols; c++) total += rg->parts[c].len;
  sj_buf_reserve(&rg->bytes, (size_t)total);
  for (int c = 0; c < rg->ncols; c++) {
    rg->cols[c].start += rg->bytes.len;
    rg->cols[c].data_page += rg->bytes.len;
    sj_buf_put(&rg->bytes, rg->parts[c].data, rg->parts[c].len);
    sj_buf_free(&rg->parts[c]);
  }
  free(rg->parts);
  rg->parts = NULL;
  return rg->bytes.failed ? sj_fail(err, SJ_ENOMEM, "out of memory") : 0;
}

/* ------------------------------------------------------------------ files */

typedef struct placed_rowgroup {
  uint64_t rows;
  uint64_t offset; /* of its bytes in the file */
  chunk_meta *cols;
} placed_rowgroup;

struct pq_file {
  sj_output *out;   /* the file's bytes (store.h: staged, O_DIRECT, renamed when complete) */
  int ncols;
  pq_column_spec *specs;
  placed_rowgroup *rgs;
  size_t nrgs, cap;
  const char *marker; /* pq_file_mark_dataset's, or NULL */
};

static void file_free(pq_file *f) {
  if (!f) return;
  for (size_t i = 0; i < f->nrgs; i++) free(f->rgs[i].cols);
  free(f->rgs);
  if (f->specs)
    for (int c = 0; c < f->ncols; c++) free((char *)f->specs[c].name);
  free(f->specs);
  free(f);
}

int pq_file_open(pq_file **out, const char *path, const pq_column_spec *specs, int ncols,
                 sj_error *err) {
  *out = NULL;
  pq_file *f = calloc(1, sizeof *f);
  if (!f) return sj_fail(err, SJ_ENOMEM, "out of memory");
  f->ncols = ncols;
  f->specs = calloc((size_t)ncols, sizeof *f->specs);
  if (!f->specs) { file_free(f); return sj_fail(err, SJ_ENOMEM, "out of memory"); }
  for (int c = 0; c < ncols; c++) {
    f->specs[c] = specs[c];
    if (!(f->specs[c].name = strdup(specs[c].name))) {
      file_free(f);
      return sj_fail(err, SJ_ENOMEM, "out of memory");
    }
  }
  int rc = sj_output_create(&f->out, path, err);
  if (rc) {
    file_free(f);
    return rc;
  }
  rc = sj_output_write(f->out, "PAR1", 4, err);
  if (rc) { pq_file_abort(f); return rc; }
  *out = f;
  return 0;
}

void pq_file_defer_sync(pq_file *f) { sj_output_defer_sync(f->out); }

void pq_file_mark_dataset(pq_file *f, const char *marker) {
  assert(!strcmp(marker, PQ_MARKER_HERE) || !strcmp(marker, PQ_MARKER_ABOVE));
  f->marker = marker;
}

int pq_file_append(pq_file *f, const pq_rowgroup *rg, sj_error *err) {
  assert(rg->ncols == f->ncols && !rg->parts);
  if (f->nrgs == f->cap) {
    size_t cap = f->cap ? 2 * f->cap : 8;
    placed_rowgroup *r = realloc(f->rgs, cap * sizeof *r);
    if (!r) return sj_fail(err, SJ_ENOMEM, "out of memory");
    f->rgs = r;
    f->cap = cap;
  }
  placed_rowgroup *p = &f->rgs[f->nrgs];
  p->rows = rg->rows;
  p->offset = sj_output_size(f->out);
  p->cols = malloc((size_t)rg->ncols * sizeof(chunk_meta));
  if (!p->cols) return sj_fail(err, SJ_ENOMEM, "out of memory");
  memcpy(p->cols, rg->cols, (size_t)rg->ncols * sizeof(chunk_meta));
  f->nrgs++;
  return sj_output_write(f->out, rg->bytes.data, rg->bytes.len, err);
}

static void put_statistics(thrift_writer *w, const chunk_meta *m) {
  tw_field(w, 12, TC_STRUCT);
  tw_struct_begin(w);
  if (m->has_stats) {
    tw_binary(w, 1, m->max, (size_t)m->stats_len);
    tw_binary(w, 2, m->min, (size_t)m->stats_len);
  }
  tw_i64(w, 3, m->nulls);
  if (m->has_stats) {
    tw_binary(w, 5, m->max, (size_t)m->stats_len);
    tw_binary(w, 6, m->min, (size_t)m->stats_len);
  }
  tw_struct_end(w);
}

static void put_column_chunk(thrift_writer *w, const pq_column_spec *sp, const chunk_meta *m,
                             uint64_t base, uint64_t rows) {
  tw_struct_begin(w);
  tw_i64(w, 2, 0); /* file_offset: no metadata outside the footer */
  tw_field(w, 3, TC_STRUCT);
  tw_struct_begin(w);
  tw_i32(w, 1, sp->type);
  if (m->has_dictionary) {
    tw_list(w, 2, TC_I32, 3);
    tw_elem_i32(w, E_PLAIN);
    tw_elem_i32(w, E_RLE);
    tw_elem_i32(w, E_RLE_DICTIONARY);
  } else {
    tw_list(w, 2, TC_I32, 2);
    tw_elem_i32(w, m->encoding);
    tw_elem_i32(w, E_RLE);
  }
  tw_list(w, 3, TC_BINARY, 1);
  tw_elem_string(w, sp->name);
  tw_i32(w, 4, sp->codec);
  tw_i64(w, 5, (int64_t)rows);
  tw_i64(w, 6, (int64_t)m->uncompressed);
  tw_i64(w, 7, (int64_t)m->compressed);
  tw_i64(w, 9, (int64_t)(base + m->data_page));
  if (m->has_dictionary) tw_i64(w, 11, (int64_t)(base + m->start));
  put_statistics(w, m);
  tw_struct_end(w);
  tw_struct_end(w);
}

/* An integer column's annotation: ConvertedType where one exists (for
** older readers), then the LogicalType (parquet.thrift's SchemaElement
** fields 6, 7, 8 and 10). */
static void put_logical(thrift_writer *w, const pq_logical *lt) {
  static const int converted[3][3] = {{0}, {7, 8, -1}, {9, 10, -1}}; /* [TIME/TIMESTAMP][unit] */
  switch (lt->kind) {
    case PQ_LT_NONE: return;
    case PQ_LT_DATE: tw_i32(w, 6, 6); break;
    case PQ_LT_DECIMAL:
      tw_i32(w, 6, 5);
      tw_i32(w, 7, lt->scale);
      tw_i32(w, 8, lt->precision);
      break;
    case PQ_LT_TIME:
    case PQ_LT_TIMESTAMP: {
      int ct = converted[lt->kind == PQ_LT_TIME ? 1 : 2][lt->unit];
      if (ct >= 0) tw_i32(w, 6, ct);
      break;
    }
  }
  tw_field(w, 10, TC_STRUCT);
  tw_struct_begin(w);
  switch (lt->kind) {
    case PQ_LT_DATE: tw_empty_struct(w, 6); break;
    case PQ_LT_DECIMAL:
      tw_field(w, 5, TC_STRUCT);
      tw_struct_begin(w);
      tw_i32(w, 1, lt->scale);
      tw_i32(w, 2, lt->precision);
      tw_struct_end(w);
      break;
    default: /* TIME (7), TIMESTAMP (8): isAdjustedToUTC, then the unit's field of TimeUnit */
      tw_field(w, lt->kind == PQ_LT_TIME ? 7 : 8, TC_STRUCT);
      tw_struct_begin(w);
      tw_bool(w, 1, lt->utc);
      tw_field(w, 2, TC_STRUCT);
      tw_struct_begin(w);
      tw_empty_struct(w, (int16_t)(lt->unit + 1));
      tw_struct_end(w);
      tw_struct_end(w);
  }
  tw_struct_end(w);
}

static void put_footer(const pq_file *f, sj_buf *out) {
  thrift_writer w;
  tw_init(&w, out);
  tw_struct_begin(&w);
  tw_i32(&w, 1, 2);
  tw_list(&w, 2, TC_STRUCT, (uint32_t)f->ncols + 1);
  tw_struct_begin(&w);
  tw_string(&w, 4, "schema");
  tw_i32(&w, 5, f->ncols);
  tw_struct_end(&w);
  for (int c = 0; c < f->ncols; c++) {
    tw_struct_begin(&w);
    tw_i32(&w, 1, f->specs[c].type);
    tw_i32(&w, 3, f->specs[c].optional ? 1 : 0); /* OPTIONAL or REQUIRED */
    tw_string(&w, 4, f->specs[c].name);
    if (f->specs[c].type == PQ_BYTE_ARRAY) { /* text: ConvertedType UTF8 and LogicalType STRING */
      tw_i32(&w, 6, 0);
      tw_field(&w, 10, TC_STRUCT);
      tw_struct_begin(&w);
      tw_empty_struct(&w, 1);
      tw_struct_end(&w);
    } else if (f->specs[c].type == PQ_INT32 || f->specs[c].type == PQ_INT64) {
      put_logical(&w, &f->specs[c].lt);
    }
    tw_struct_end(&w);
  }
  uint64_t total_rows = 0;
  for (size_t i = 0; i < f->nrgs; i++) total_rows += f->rgs[i].rows;
  tw_i64(&w, 3, (int64_t)total_rows);
  tw_list(&w, 4, TC_STRUCT, (uint32_t)f->nrgs);
  for (size_t i = 0; i < f->nrgs; i++) {
    const placed_rowgroup *r = &f->rgs[i];
    uint64_t comp = 0, uncomp = 0;
    tw_struct_begin(&w);
    tw_list(&w, 1, TC_STRUCT, (uint32_t)f->ncols);
    for (int c = 0; c < f->ncols; c++) {
      put_column_chunk(&w, &f->specs[c], &r->cols[c], r->offset, r->rows);
      comp += r->cols[c].compressed;
      uncomp += r->cols[c].uncompressed;
    }
    tw_i64(&w, 2, (int64_t)uncomp);
    tw_i64(&w, 3, (int64_t)r->rows);
    tw_i64(&w, 5, (int64_t)r->offset);
    tw_i64(&w, 6, (int64_t)comp);
    if (i <= INT16_MAX) {
      tw_field(&w, 7, TC_I16);
      sj_buf_uvarint(out, sj_zigzag64((int64_t)i));
    }
    tw_struct_end(&w);
  }
  if (f->marker) { /* key_value_metadata: one KeyValue */
    tw_list(&w, 5, TC_STRUCT, 1);
    tw_struct_begin(&w);
    tw_string(&w, 1, PQ_DATASET_MARKER);
    tw_string(&w, 2, f->marker);
    tw_struct_end(&w);
  }
  tw_string(&w, 6, "skewjoin version " SJ_VERSION);
  tw_list(&w, 7, TC_STRUCT, (uint32_t)f->ncols);
  for (int c = 0; c < f->ncols; c++) {
    tw_struct_begin(&w);
    tw_empty_struct(&w, 1); /* TYPE_ORDER */
    tw_struct_end(&w);
  }
  tw_struct_end(&w);
}

int pq_file_close(pq_file *f, uint64_t *bytes_written, sj_error *err) {
  sj_buf footer = {0};
  put_footer(f, &footer);
  int rc = footer.failed ? sj_fail(err, SJ_ENOMEM, "out of memory writing a footer") : 0;
  if (!rc && footer.len > UINT32_MAX) rc = sj_fail(err, SJ_EUSAGE, "%s: footer too large", sj_output_name(f->out));
  if (!rc) rc = sj_output_write(f->out, footer.data, footer.len, err);
  if (!rc) {
    uint8_t tail[8];
    uint32_t n = (uint32_t)footer.len;
    memcpy(tail, &n, 4);
    memcpy(tail + 4, "PAR1", 4);
    rc = sj_output_write(f->out, tail, 8, err);
  }
  sj_buf_free(&footer);
  uint64_t size = sj_output_size(f->out);
  if (rc) sj_output_abort(f->out);
  else rc = sj_output_commit(f->out, err);
  if (!rc && bytes_written) *bytes_written = size;
  file_free(f);
  return rc;
}

void pq_file_abort(pq_file *f) {
  if (!f) return;
  sj_output_abort(f->out);
  file_free(f);
}
