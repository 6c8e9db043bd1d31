/*
** reader.c — a column chunk decoded (pq_read, pq_read_codes): its pages
** (dictionary, data v1 and v2), decompressed within the sizes their headers
** declare, definition levels for nulls, and the values in whichever
** encoding each page uses (the decoders: encoding.c).  Nothing read from
** the file is used as a length, offset or count before it is checked
** against the bytes that actually remain.
*/
#include "reader.h"
#include "../util/crc32.h"
#include "codec.h"
#include "encoding.h"
#include "thrift.h"


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

/* Decodes all values of a DELTA_BINARY_PACKED stream into a new array. */
static int delta_all(const uint8_t *p, const uint8_t *end, int64_t **out, uint64_t *n,
                     const uint8_t **after, uint64_t max_values) {
  delta_reader d;
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
  hybrid_reader h;
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
      hybrid_reader h;
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
      hybrid_reader h;
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
  int has_data, has_dict, has_v2, has_crc;
  uint32_t crc;
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
      case 4:
        h->crc = (uint32_t)tr_field_int(&t, ty);
        h->has_crc = 1;
        break;
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
    hybrid_reader hl;
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
  if (lo < hi) sj_input_release(r->in, lo, hi - lo);
}

uint64_t pq_read_bytes(const pq_reader *r, int rg, int col) {
  if (rg < 0 || rg >= r->nrgs || col < 0 || col >= r->ncols) return 0;
  const chunk *ch = &r->chunks[(size_t)rg * (size_t)r->ncols + (size_t)col];
  const pq_column_info *ci = &r->cols[col];
  uint64_t per_row = (ci->type == PQ_BYTE_ARRAY ? 8 : (uint64_t)type_width(ci->type, ci->type_length)) + (uint64_t)ci->optional;
  /* pq_open checked the rows (at most 2^31) and the stored size (within the
  ** file); the uncompressed size is only a claim */
  uint64_t bytes = (uint64_t)r->rg_rows[rg] * per_row + (uint64_t)ch->info.compressed_size;
  int64_t u = ch->info.uncompressed_size;
  return u <= 0 ? bytes : (uint64_t)u > UINT64_MAX - bytes ? UINT64_MAX : bytes + (uint64_t)u;
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
  const uint8_t *p = NULL, *stop = NULL;
  if (!rc && !(rc = sj_input_view(r->in, (uint64_t)start, (uint64_t)(end - start), &p, err))) stop = p + (end - start);
  int page = -1; /* the page's number in its chunk, from 0 */
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
    page++;
    /* The checksum covers the page's bytes as stored (after compression). */
    uint32_t crc = h.has_crc ? sj_crc32(raw, raw_len) : 0;
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    crc = h.crc; /* fuzz/run: let mutated pages reach the decoders */
#endif
    if (crc != h.crc) {
      rc = sj_fail(err, SJ_ECORRUPT,
                   "%s: column '%s', row group %d, page %d: checksum mismatch (stored %08x, computed %08x): "
                   "the file is damaged",
                   r->path, cr.ci->name, rg, page, h.crc, crc);
      break;
    }
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
