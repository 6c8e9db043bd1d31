/*
** dist.c — the merge plan as tasks for a scheduler that runs them in many
** processes (python/skewjoin/dask.py): plan once, scan pieces into
** partials, combine partials, split them for tiles that need a few keys
** of a block, produce tiles of the answer.  See the
** "distributed" section of skewjoin.h for the contract.
**
** A partial is one merge_runs (runs by key, entries [code][count][states];
** a key has one run, or in a split partial one per code range) serialised as
**
**   header   magic "SJPART\0\0", version, nstates, ncols, code_bits, the
**            layout's lo/hi and the states' functions (checked against the
**            task's sj_dist_info: partials of another plan are refused),
**            nruns, nentries, and the sizes of the two parts below
**   table    one zstd frame: nruns × {key, n, offset and length of its
**            frame, length of its packed entries}
**   runs     one zstd frame per run: its n entries packed (entry_pack)
**
** Every frame carries zstd's checksum, and a run is its own frame so that a
** tile decompresses only the keys it merges.  Everything is checked on read
** as in a file from a stranger: sizes against each other, keys in order,
** frames contiguous, codes ascending within a run and inside the layout,
** decompression bounded by the stated sizes.
*/
#include "tiles.h"
#include "../util/buf.h"
#include "input.h"
#include "scan.h"

#include <stdlib.h>
#include <zstd.h>

#define PART_MAGIC "SJPART\0"
#define INFO_MAGIC "SJDIST\0"

typedef struct part_header {
  char magic[8];
  uint32_t version, nstates, ncols, code_bits;
  int64_t lo[16], hi[16];
  int32_t state_fn[16], state_float[16];
  uint64_t nruns, nentries, table_zlen, entries_zlen;
} part_header;

/* The fewest bytes a zstd frame takes: magic, frame header, a block header. */
enum { FRAME_MIN_BYTES = 8 };

/* A run in the table: its key, entries, and where its frame is. */
typedef struct part_run {
  int64_t key;
  uint64_t n, zoff, zlen, packed;
} part_run;

/* ------------------------------------------------------- packed entries */

/* An entry is 16 + 32·states bytes in memory, but most of its words are
** small or zero: for QN, [code][1][1][0][value][0].  Packed, a run's
** entries cost about a third of that, which is what a tile decompresses
** and a scan compresses.  Per entry:
**
**   varint  the code (the run's first) or code − previous code − 1
**   varint  count − 1
**   per state: one tag byte, 2 bits per word (0 zero, 1 varint, 2 eight
**            raw bytes, 3 all ones), then the words that are not 0 or ~0
**
** varints are LEB128. */
enum { PACKED_MAX_PER_STATE = 1 + 4 * 10 };

static inline size_t packed_bound(size_t n, int nstates) { return n * (20 + (size_t)nstates * PACKED_MAX_PER_STATE); }

/* Packs n entries (ew words each, codes ascending) at o; returns the end. */
static uint8_t *entry_pack(uint8_t *o, const uint64_t *e, size_t n, int nstates) {
  size_t ew = entry_words(nstates);
  for (size_t i = 0; i < n; i++, e += ew) {
    o = sj_uvarint_put(o, i ? e[0] - e[-(ptrdiff_t)ew] - 1 : e[0]);
    o = sj_uvarint_put(o, e[1] - 1);
    for (int k = 0; k < nstates; k++) {
      const uint64_t *w = e + 2 + 4 * k;
      uint8_t *tag = o++;
      *tag = 0;
      for (int b = 0; b < 4; b++) {
        uint64_t v = w[b];
        int t = v == 0 ? 0 : v == UINT64_MAX ? 3 : v < ((uint64_t)1 << 56) ? 1 : 2;
        *tag |= (uint8_t)(t << (2 * b));
        if (t == 1) o = sj_uvarint_put(o, v);
        if (t == 2) {
          memcpy(o, &v, 8);
          o += 8;
        }
      }
    }
  }
  return o;
}

/* Unpacks exactly n entries from [p, end) into e, checking what a merge
** relies on: codes ascending and below code_end, counts in 1..INT64_MAX. */
static int entry_unpack(const uint8_t *p, const uint8_t *end, uint64_t *e, size_t n, int nstates, uint64_t code_end) {
  size_t ew = entry_words(nstates);
  uint64_t code = 0, v;
  for (size_t i = 0; i < n; i++, e += ew) {
    if (sj_uvarint_get(&p, end, &v)) return -1;
    if (v >= code_end) return -1; /* code_end <= 2^62: the sum below cannot wrap */
    code = i ? code + 1 + v : v;
    if (code >= code_end || sj_uvarint_get(&p, end, &v) || v >= (uint64_t)INT64_MAX) return -1;
    e[0] = code;
    e[1] = v + 1;
    for (int k = 0; k < nstates; k++) {
      uint64_t *w = e + 2 + 4 * k;
      if (p >= end) return -1;
      uint8_t tag = *p++;
      for (int b = 0; b < 4; b++) {
        switch ((tag >> (2 * b)) & 3) {
        case 0: w[b] = 0; break;
        case 1:
          if (sj_uvarint_get(&p, end, &w[b])) return -1;
          break;
        case 2:
          if (end - p < 8) return -1;
          memcpy(&w[b], p, 8);
          p += 8;
          break;
        default: w[b] = UINT64_MAX;
        }
      }
    }
  }
  return p == end ? 0 : -1;
}

void sj_bytes_free(sj_bytes *b) {
  free(b->data);
  b->data = NULL;
  b->len = 0;
}

/* ------------------------------------------------------------ the layout */

/* The layout an sj_dist_info describes, checked to be one we could make. */
static int info_layout(const sj_dist_info *info, merge_layout *lay, sj_error *err) {
  if (memcmp(info->magic, INFO_MAGIC, 8) || info->version != SJ_DIST_VERSION)
    return sj_fail(err, SJ_EUSAGE, "not an sj_dist_info of version %d", SJ_DIST_VERSION);
  if (info->ncols < 0 || info->ncols > MAX_BY || info->nstates < 0 || info->nstates > MAX_AGGS)
    return sj_fail(err, SJ_EUSAGE, "sj_dist_info: %d columns, %d states", info->ncols, info->nstates);
  memset(lay, 0, sizeof *lay);
  lay->outer = 1;
  lay->inner = 0;
  lay->ncols = info->ncols;
  for (int j = 0; j < info->ncols; j++) {
    lay->lo[j] = info->lo[j];
    lay->hi[j] = info->hi[j];
  }
  if (!merge_layout_pack(lay, info->col_nullable) || lay->bits != info->code_bits)
    return sj_fail(err, SJ_EUSAGE, "sj_dist_info: its column domains do not pack into %d bits", info->code_bits);
  for (int j = 0; j < info->ncols; j++)
    if (lay->width[j] != info->width[j] || lay->shift[j] != info->shift[j])
      return sj_fail(err, SJ_EUSAGE, "sj_dist_info: column %d's width or shift differs from its domain's", j);
  for (int k = 0; k < info->nstates; k++)
    if (info->state_fn[k] < F_COUNT || info->state_fn[k] > F_AVG)
      return sj_fail(err, SJ_EUSAGE, "sj_dist_info: state %d has no aggregate function", k);
  return 0;
}

/* The plan of q, with the left side inner: the only shape the tasks run. */
static int dist_layout(const plan *p, merge_layout *lay, sj_error *err) {
  for (int i = 0; i < p->nby; i++)
    if (plan_by_is_string(p, i)) /* each task would collect the column's values again */
      return sj_fail(err, SJ_EUSAGE, "--by %s: the distributed plan groups by integer columns, and '%s' holds "
                     "strings; run it with skewjoin.query on one machine", p->by[i], p->by[i]);
  if (!merge_layout_make(p, lay))
    return sj_fail(err, SJ_EUSAGE, "this query does not take the merge plan (it groups by no column, by "
                   "columns of both sides interleaved, or by columns whose ranges need more than 62 bits together, "
                   "too wide to pack: skewjoin.query reads those as ranks); run it with skewjoin.query on one machine");
  if (lay->inner != 0)
    return sj_fail(err, SJ_EUSAGE, "the distributed plan needs GROUP BY the right side's columns first, then "
                   "the left side's (the left side is the one cut into pieces)");
  return 0;
}

/* Checks that the task's plan is the one info was made for, and takes the
** answer's nullability from info (a task sees only some files). */
static int info_check(plan *p, const sj_dist_info *info, merge_layout *lay, sj_error *err) {
  /* The columns' domains are the plan's, made from all the files: a task
  ** sees some, maybe without statistics. */
  const side *left = &p->s[0];
  for (int j = 0; j < left->nby && info->ncols == left->nby; j++) {
    int i = left->by_out[j];
    p->by_bounded[i] = 1;
    p->by_lo[i] = info->lo[j];
    p->by_hi[i] = info->hi[j];
  }
  merge_layout mine;
  int rc = dist_layout(p, &mine, err);
  if (!rc) rc = info_layout(info, lay, err);
  if (rc) return rc;
  const side *in = &p->s[0];
  if (info->ncols != in->nby || info->nstates != in->nstates)
    return sj_fail(err, SJ_EUSAGE, "sj_dist_info was made for another query (%d by-columns and %d states on the "
                   "left, this one has %d and %d)", info->ncols, info->nstates, in->nby, in->nstates);
  for (int k = 0; k < in->nstates; k++)
    if (info->state_fn[k] != (int32_t)p->fn[in->state_agg[k]] || info->state_float[k] != in->state_is_float[k])
      return sj_fail(err, SJ_EUSAGE, "sj_dist_info was made for other aggregates");
  for (int i = 0; i < p->nby; i++) p->by_nullable[i] = info->by_nullable[i];
  for (int a = 0; a < p->nagg; a++) p->agg_nullable[a] = info->agg_nullable[a];
  return 0;
}

/* ---------------------------------------------------------------- plan */

void sj_dist_plan_free(sj_dist_plan *d) {
  if (!d) return;
  for (size_t i = 0; i < d->npieces; i++) free(d->pieces[i].file);
  free(d->pieces);
  free(d->grouping_at);
  free(d->grouping_keys);
  free(d);
}

int sj_dist_plan_make(const sj_query *q, sj_dist_plan **out, sj_error *err) {
  *out = NULL;
  plan *p = calloc(1, sizeof *p);
  sj_dist_plan *d = calloc(1, sizeof *d);
  if (!p || !d) {
    free(p);
    free(d);
    return sj_fail(err, SJ_ENOMEM, "out of memory");
  }
  merge_layout lay;
  int rc = plan_open(p, q, NULL, 0, err);
  if (!rc) rc = merge_domains(p, 0, err); /* no ranks: every task would collect them again */
  if (!rc) rc = dist_layout(p, &lay, err);
  const side *in = &p->s[0];
  if (!rc) {
    sj_dist_info *info = &d->info;
    memcpy(info->magic, INFO_MAGIC, 8);
    info->version = SJ_DIST_VERSION;
    info->ncols = lay.ncols;
    info->code_bits = lay.bits;
    info->nstates = in->nstates;
    for (int j = 0; j < lay.ncols; j++) {
      info->lo[j] = lay.lo[j];
      info->hi[j] = lay.hi[j];
      info->width[j] = lay.width[j];
      info->shift[j] = lay.shift[j];
      info->col_nullable[j] = p->by_nullable[in->by_out[j]];
    }
    for (int k = 0; k < in->nstates; k++) {
      info->state_fn[k] = (int32_t)p->fn[in->state_agg[k]];
      info->state_float[k] = in->state_is_float[k];
    }
    for (int i = 0; i < p->nby; i++) info->by_nullable[i] = p->by_nullable[i];
    for (int a = 0; a < p->nagg; a++) info->agg_nullable[a] = p->agg_nullable[a];
  }
  /* The pieces: every row group, with its key bounds when stated. */
  for (int f = 0; !rc && f < in->nfiles; f++) d->npieces += (size_t)pq_nrowgroups(in->files[f]);
  if (!rc && !(d->pieces = calloc(d->npieces ? d->npieces : 1, sizeof *d->pieces))) rc = sj_fail(err, SJ_ENOMEM, "out of memory");
  for (int f = 0, k = 0; !rc && f < in->nfiles; f++) {
    const pq_reader *r = in->files[f];
    int kc = pq_find_column(r, q->on);
    pq_type kt = pq_col(r, kc)->type;
    for (int rg = 0; rg < pq_nrowgroups(r); rg++, k++) {
      sj_dist_piece *pc = &d->pieces[k];
      if (!(pc->file = strdup(pq_path(r)))) { rc = sj_fail(err, SJ_ENOMEM, "out of memory"); break; }
      pc->rowgroup = rg;
      pc->rows = (uint64_t)pq_rowgroup_rows(r, rg);
      const pq_stats *st = &pq_chunk(r, rg, kc)->stats;
      pc->key_bounds = !p->keys && !pq_col(r, kc)->is_unsigned && st->has_min_max &&
                       stat_bound(st->min, st->min_len, kt, &pc->key_min) &&
                       stat_bound(st->max, st->max_len, kt, &pc->key_max) && pc->key_min <= pc->key_max;
    }
  }
  /* The groupings and their keys. */
  merge_groups groups = {0};
  if (!rc) rc = merge_groupings(p, &lay, &groups, err);
  if (!rc) {
    d->ngroupings = groups.n;
    const agg_table *ot = &p->s[1].partial;
    d->grouping_at = malloc((d->ngroupings + 1) * sizeof *d->grouping_at);
    d->grouping_keys = malloc((ot->nrows ? ot->nrows : 1) * sizeof *d->grouping_keys);
    if (!d->grouping_at || !d->grouping_keys) rc = sj_fail(err, SJ_ENOMEM, "out of memory");
    for (size_t g = 0; !rc && g <= d->ngroupings; g++) d->grouping_at[g] = groups.start[g];
    for (size_t i = 0; !rc && i < ot->nrows; i++) d->grouping_keys[i] = agg_row_keys(agg_table_row(ot, groups.order[i]))[0];
  }
  merge_groups_free(&groups);
  plan_close(p);
  free(p);
  if (rc) sj_dist_plan_free(d);
  else *out = d;
  return rc;
}

/* ------------------------------------------------------------- partials */

/* One key's entries [e, e + n·ew) going into a partial. */
typedef struct slice {
  int64_t key;
  const uint64_t *e;
  uint32_t n;
} slice;

/* Appends src as one checksummed zstd frame at buf + *at (room: bound). */
static int frame(ZSTD_CCtx *cctx, uint8_t *buf, size_t cap, size_t *at, const void *src, size_t len, sj_error *err) {
  size_t z = ZSTD_compress2(cctx, buf + *at, cap - *at, src, len);
  if (ZSTD_isError(z)) return sj_fail(err, SJ_EIO, "compressing a partial: %s", ZSTD_getErrorName(z));
  *at += z;
  return 0;
}

/* A compression context for partials: every frame with its checksum (a
** damaged partial is refused, not merged), at a level whose literals are
** stored raw (Huffman-coding packed entries costs more than it saves).
** One per task: part_encode is called once per (key block, code range). */
static int part_cctx(ZSTD_CCtx **out, sj_error *err) {
  ZSTD_CCtx *cctx = *out = ZSTD_createCCtx();
  if (!cctx) return sj_fail(err, SJ_ENOMEM, "out of memory encoding a partial");
  size_t z = ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
  if (!ZSTD_isError(z)) z = ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, -1);
  if (!ZSTD_isError(z)) return 0;
  ZSTD_freeCCtx(cctx);
  *out = NULL;
  return sj_fail(err, SJ_EIO, "compressing a partial: %s", ZSTD_getErrorName(z));
}

/* The header of a partial of info's layout with these runs and sizes. */
static part_header part_header_make(const sj_dist_info *info, uint64_t nruns, uint64_t nentries, uint64_t table_zlen,
                                    uint64_t entries_zlen) {
  part_header h;
  memset(&h, 0, sizeof h);
  memcpy(h.magic, PART_MAGIC, 8);
  h.version = SJ_DIST_VERSION;
  h.nstates = (uint32_t)info->nstates;
  h.ncols = (uint32_t)info->ncols;
  h.code_bits = (uint32_t)info->code_bits;
  memcpy(h.lo, info->lo, sizeof h.lo);
  memcpy(h.hi, info->hi, sizeof h.hi);
  memcpy(h.state_fn, info->state_fn, sizeof h.state_fn);
  memcpy(h.state_float, info->state_float, sizeof h.state_float);
  h.nruns = nruns;
  h.nentries = nentries;
  h.table_zlen = table_zlen;
  h.entries_zlen = entries_zlen;
  return h;
}

static int part_encode(ZSTD_CCtx *cctx, const sj_dist_info *info, const slice *s, size_t ns, sj_bytes *out,
                       sj_error *err) {
  uint64_t nentries = 0;
  size_t cap = sizeof(part_header) + ZSTD_compressBound(ns * sizeof(part_run));
  uint32_t longest = 0;
  for (size_t i = 0; i < ns; i++) {
    nentries += s[i].n;
    cap += ZSTD_compressBound(packed_bound(s[i].n, info->nstates));
    if (s[i].n > longest) longest = s[i].n;
  }
  part_run *table = malloc((ns ? ns : 1) * sizeof *table);
  uint8_t *runs = malloc(cap), *buf = malloc(cap), *packed = malloc(packed_bound(longest ? longest : 1, info->nstates));
  int rc = table && runs && buf && packed ? 0 : sj_fail(err, SJ_ENOMEM, "out of memory encoding a partial");
  size_t runs_len = 0, at = sizeof(part_header);
  for (size_t i = 0; i < ns && !rc; i++) {
    size_t len = (size_t)(entry_pack(packed, s[i].e, s[i].n, info->nstates) - packed);
    table[i] = (part_run){s[i].key, s[i].n, runs_len, 0, len};
    rc = frame(cctx, runs, cap, &runs_len, packed, len, err);
    table[i].zlen = runs_len - table[i].zoff;
  }
  if (!rc) rc = frame(cctx, buf, cap, &at, table, ns * sizeof *table, err);
  if (!rc) {
    part_header h = part_header_make(info, ns, nentries, at - sizeof h, runs_len);
    memcpy(buf, &h, sizeof h);
    memcpy(buf + at, runs, runs_len);
    out->data = buf;
    out->len = at + runs_len;
    buf = NULL;
  }
  free(table);
  free(runs);
  free(buf);
  free(packed);
  return rc;
}

/* Decompresses one frame of exactly `len` bytes into dst. */
static int unframe(ZSTD_DCtx *d, void *dst, size_t len, const uint8_t *src, size_t zlen) {
  if (ZSTD_getFrameContentSize(src, zlen) != len || ZSTD_findFrameCompressedSize(src, zlen) != zlen) return -1;
  size_t got = ZSTD_decompressDCtx(d, dst, len, src, zlen);
  return ZSTD_isError(got) || got != len ? -1 : 0;
}

/* Whether run key `key` is wanted: want[0..nwant) ascending (NULL: every
** key), *w a cursor into it that only moves forward as keys ascend. */
static int wanted(const int64_t *want, size_t nwant, size_t *w, int64_t key) {
  if (!want) return 1;
  while (*w < nwant && want[*w] < key) (*w)++;
  return *w < nwant && want[*w] == key;
}

/* Reads and checks partial b's header and run table (b is the idx-th
** partial of its task): made under info, sizes consistent with each other
** and with b->len, keys non-decreasing (a split partial holds a key's runs
** of several code ranges), frames contiguous and covering the entries,
** each run's packed size within what n entries can take.  On success
** *table holds h->nruns runs (the caller frees it); the frames start at
** b->data + sizeof h + h->table_zlen. */
static int part_table(ZSTD_DCtx *d, const sj_dist_info *info, const sj_bytes *b, size_t idx, part_header *h,
                      part_run **table, sj_error *err) {
  *table = NULL;
  if (!b->data || b->len < sizeof *h) return sj_fail(err, SJ_ECORRUPT, "partial %zu: %zu bytes, shorter than its header", idx, b->len);
  memcpy(h, b->data, sizeof *h);
  if (memcmp(h->magic, PART_MAGIC, 8)) return sj_fail(err, SJ_ECORRUPT, "partial %zu: not a skewjoin partial (bad magic)", idx);
  if (h->version != SJ_DIST_VERSION)
    return sj_fail(err, SJ_ECORRUPT, "partial %zu: version %u, this library reads version %d", idx, h->version, SJ_DIST_VERSION);
  if (h->nstates != (uint32_t)info->nstates || h->ncols != (uint32_t)info->ncols || h->code_bits != (uint32_t)info->code_bits ||
      memcmp(h->lo, info->lo, sizeof h->lo) || memcmp(h->hi, info->hi, sizeof h->hi) ||
      memcmp(h->state_fn, info->state_fn, sizeof h->state_fn) || memcmp(h->state_float, info->state_float, sizeof h->state_float))
    return sj_fail(err, SJ_EUSAGE, "partial %zu was made for another plan (layout or aggregates differ)", idx);
  size_t ew = entry_words(info->nstates), body = b->len - sizeof *h;
  /* Each run is a zstd frame of its own in the entries' bytes, and a frame
  ** takes at least FRAME_MIN_BYTES of them: that bounds the run table before
  ** it is allocated (a header alone once asked for 1.5 TB). */
  if (h->table_zlen > body || h->entries_zlen != body - h->table_zlen || h->nruns > h->nentries ||
      h->nruns > h->entries_zlen / FRAME_MIN_BYTES ||
      h->nruns > SIZE_MAX / sizeof(part_run) || h->nentries > SIZE_MAX / (ew * 8))
    return sj_fail(err, SJ_ECORRUPT, "partial %zu: its sizes contradict each other", idx);
  part_run *t = malloc((h->nruns ? h->nruns : 1) * sizeof *t);
  if (!t) return sj_fail(err, SJ_ENOMEM, "out of memory reading partial %zu", idx);
  int rc = 0;
  if (unframe(d, t, h->nruns * sizeof *t, b->data + sizeof *h, h->table_zlen))
    rc = sj_fail(err, SJ_ECORRUPT, "partial %zu: its run table does not decompress", idx);
  uint64_t entries = 0, zoff = 0;
  for (uint64_t i = 0; i < h->nruns && !rc; i++) {
    const part_run *r = &t[i];
    if (r->n == 0 || r->n > h->nentries - entries || r->n > UINT32_MAX || (i && r->key < t[i - 1].key) ||
        r->zoff != zoff || r->zlen == 0 || r->zlen > h->entries_zlen - zoff ||
        r->packed > packed_bound(r->n, info->nstates) || r->packed < r->n * (2 + (uint64_t)info->nstates))
      rc = sj_fail(err, SJ_ECORRUPT, "partial %zu: run %llu is empty, misplaced, out of key order or of impossible size",
                   idx, (unsigned long long)i);
    entries += r->n;
    zoff += r->zlen;
  }
  if (!rc && (entries != h->nentries || zoff != h->entries_zlen))
    rc = sj_fail(err, SJ_ECORRUPT, "partial %zu: its runs do not cover its entries", idx);
  if (rc) free(t);
  else *table = t;
  return rc;
}

/* Decodes and checks partial b (the idx-th of its task) into part, keeping
** only the runs of the keys in want[0..nwant) (ascending) when want is not
** NULL: a tile decompresses what it merges, not its inputs whole. */
static int part_decode(ZSTD_DCtx *d, const sj_dist_info *info, const sj_bytes *b, size_t idx, const int64_t *want,
                       size_t nwant, mpart *part, sj_error *err) {
  memset(part, 0, sizeof *part);
  part_header h;
  part_run *table;
  int rc = part_table(d, info, b, idx, &h, &table, err);
  if (rc) return rc;
  const uint8_t *zr = b->data + sizeof h + h.table_zlen;
  size_t ew = entry_words(info->nstates), w = 0;
  uint64_t kept_runs = 0, kept_entries = 0, longest = 0;
  for (uint64_t i = 0; i < h.nruns; i++)
    if (wanted(want, nwant, &w, table[i].key)) {
      kept_runs++;
      kept_entries += table[i].n;
      if (table[i].packed > longest) longest = table[i].packed;
    }
  part->entries = malloc(kept_entries ? kept_entries * ew * 8 : 8);
  part->runs = malloc((kept_runs ? kept_runs : 1) * sizeof *part->runs);
  uint8_t *packed = malloc(longest ? longest : 1);
  if (!part->entries || !part->runs || !packed) rc = sj_fail(err, SJ_ENOMEM, "out of memory reading partial %zu", idx);
  /* The kept runs, each checked: codes ascending inside the layout, counts positive. */
  uint64_t code_end = (uint64_t)1 << info->code_bits, dst = 0;
  w = 0;
  for (uint64_t i = 0; i < h.nruns && !rc; i++) {
    const part_run *t = &table[i];
    if (!wanted(want, nwant, &w, t->key)) continue;
    uint64_t *e = part->entries + dst * ew;
    if (unframe(d, packed, t->packed, zr + t->zoff, t->zlen)) {
      rc = sj_fail(err, SJ_ECORRUPT, "partial %zu: the run of key %lld does not decompress", idx, (long long)t->key);
      break;
    }
    if (entry_unpack(packed, packed + t->packed, e, t->n, info->nstates, code_end)) {
      rc = sj_fail(err, SJ_ECORRUPT, "partial %zu: an entry of key %lld has a bad code or count", idx, (long long)t->key);
      break;
    }
    part->runs[part->nruns++] = (mrun){t->key, (uint32_t)idx, (uint32_t)t->n, e, 0, NULL};
    dst += t->n;
  }
  free(table);
  free(packed);
  return rc;
}

/* Decodes partials into runs sorted by (key, partial); want as for part_decode. */
static int parts_decode(const sj_dist_info *info, const sj_bytes *parts, size_t n, const int64_t *want, size_t nwant,
                        merge_runs *r, sj_error *err) {
  memset(r, 0, sizeof *r);
  r->spill_fd = -1;
  if (!(r->parts = calloc(n ? n : 1, sizeof *r->parts))) return sj_fail(err, SJ_ENOMEM, "out of memory");
  r->nparts = n;
  ZSTD_DCtx *d = ZSTD_createDCtx();
  int rc = d ? 0 : sj_fail(err, SJ_ENOMEM, "out of memory reading partials");
  for (size_t i = 0; i < n && !rc; i++) rc = part_decode(d, info, &parts[i], i, want, nwant, &r->parts[i], err);
  ZSTD_freeDCtx(d);
  if (!rc) {
    merge_runs_index(r);
    if (!r->runs) rc = sj_fail(err, SJ_ENOMEM, "out of memory");
  }
  return rc;
}

/* Every run whole, in one partial. */
static int runs_encode(const sj_dist_info *info, const merge_runs *r, sj_bytes *out, sj_error *err) {
  slice *s = malloc((r->nruns ? r->nruns : 1) * sizeof *s);
  if (!s) return sj_fail(err, SJ_ENOMEM, "out of memory");
  for (size_t i = 0; i < r->nruns; i++) s[i] = (slice){r->runs[i].key, r->runs[i].e, r->runs[i].n};
  ZSTD_CCtx *cctx = NULL;
  int rc = part_cctx(&cctx, err);
  if (!rc) rc = part_encode(cctx, info, s, r->nruns, out, err);
  ZSTD_freeCCtx(cctx);
  free(s);
  return rc;
}

/* ----------------------------------------------------------------- tasks */

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static int cmp_cstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int sj_dist_scan(const sj_query *q, const sj_dist_info *info, const sj_dist_piece *pieces, size_t npieces,
                 const int64_t *key_splits, size_t nkey_splits, const uint64_t *code_splits,
                 size_t ncode_splits, sj_bytes *parts, sj_error *err) {
  size_t nblocks = nkey_splits + 1, nranges = ncode_splits + 1;
  memset(parts, 0, nblocks * nranges * sizeof *parts);
  if (!npieces) return sj_fail(err, SJ_EUSAGE, "no pieces to scan");
  for (size_t i = 1; i < nkey_splits; i++)
    if (key_splits[i] <= key_splits[i - 1]) return sj_fail(err, SJ_EUSAGE, "key splits must ascend");
  for (size_t i = 1; i < ncode_splits; i++)
    if (code_splits[i] <= code_splits[i - 1]) return sj_fail(err, SJ_EUSAGE, "code splits must ascend");
  /* The pieces' files, each once, sorted. */
  char **files = malloc(npieces * sizeof *files);
  morsel *m = malloc(npieces * sizeof *m);
  plan *p = calloc(1, sizeof *p);
  int rc = !files || !m || !p ? sj_fail(err, SJ_ENOMEM, "out of memory") : 0;
  size_t nfiles = 0;
  for (size_t i = 0; !rc && i < npieces; i++) files[i] = pieces[i].file;
  if (!rc) {
    qsort(files, npieces, sizeof *files, cmp_cstr);
    for (size_t i = 0; i < npieces; i++)
      if (!nfiles || strcmp(files[nfiles - 1], files[i])) files[nfiles++] = files[i];
  }
  merge_layout lay;
  merge_runs runs = {.spill_fd = -1};
  if (!rc) rc = plan_open(p, q, files, (int)nfiles, err);
  if (!rc) rc = info_check(p, info, &lay, err);
  for (size_t i = 0; !rc && i < npieces; i++) {
    char **f = bsearch(&pieces[i].file, files, nfiles, sizeof *files, cmp_cstr);
    int fi = (int)(f - files);
    if (pieces[i].rowgroup < 0 || pieces[i].rowgroup >= pq_nrowgroups(p->s[0].files[fi]))
      rc = sj_fail(err, SJ_EUSAGE, "%s: no row group %d", pieces[i].file, pieces[i].rowgroup);
    m[i] = (morsel){fi, pieces[i].rowgroup};
  }
  if (!rc) rc = merge_scan(p, &lay, m, npieces, 0, &runs, err);
  if (!rc) {
    agg_fn fn[MAX_AGGS];
    for (int k = 0; k < info->nstates; k++) fn[k] = (agg_fn)info->state_fn[k];
    rc = merge_combine(&lay, info->nstates, fn, info->state_float, &runs, err);
  }
  /* One partial per (key block, code range). */
  slice *s = rc ? NULL : malloc((runs.nruns ? runs.nruns : 1) * sizeof *s);
  if (!rc && !s) rc = sj_fail(err, SJ_ENOMEM, "out of memory");
  ZSTD_CCtx *cctx = NULL;
  if (!rc) rc = part_cctx(&cctx, err);
  size_t ew = entry_words(info->nstates), run = 0;
  for (size_t b = 0; !rc && b < nblocks; b++) {
    size_t end = run;
    while (end < runs.nruns && (b == nkey_splits || runs.runs[end].key < key_splits[b])) end++;
    for (size_t r = 0; !rc && r < nranges; r++) {
      uint64_t c0 = r ? code_splits[r - 1] : 0, c1 = r < ncode_splits ? code_splits[r] : UINT64_MAX;
      size_t ns = 0;
      for (size_t k = run; k < end; k++) {
        const mrun *mr = &runs.runs[k];
        const uint64_t *a = entry_lower_bound(mr->e, mr->n, ew, c0);
        const uint64_t *z = entry_lower_bound(mr->e, mr->n, ew, c1);
        if (a < z) s[ns++] = (slice){mr->key, a, (uint32_t)((size_t)(z - a) / ew)};
      }
      rc = part_encode(cctx, info, s, ns, &parts[b * nranges + r], err);
    }
    run = end;
  }
  ZSTD_freeCCtx(cctx);
  free(s);
  merge_runs_free(&runs);
  if (p) plan_close(p);
  free(p);
  free(files);
  free(m);
  if (rc)
    for (size_t i = 0; i < nblocks * nranges; i++) sj_bytes_free(&parts[i]);
  return rc;
}

int sj_dist_combine(const sj_dist_info *info, const sj_bytes *parts, size_t n, sj_bytes *out, sj_error *err) {
  memset(out, 0, sizeof *out);
  sj_alloc_policy(0); /* a task of a query without a limit, as plan_open sets it */
  merge_layout lay;
  merge_runs runs = {.spill_fd = -1};
  int rc = info_layout(info, &lay, err);
  if (!rc) rc = parts_decode(info, parts, n, NULL, 0, &runs, err);
  if (!rc) {
    agg_fn fn[MAX_AGGS];
    for (int k = 0; k < info->nstates; k++) fn[k] = (agg_fn)info->state_fn[k];
    rc = merge_combine(&lay, info->nstates, fn, info->state_float, &runs, err);
  }
  if (!rc) rc = runs_encode(info, &runs, out, err);
  merge_runs_free(&runs);
  return rc;
}

/* One output of sj_dist_split being made: its runs (zoff already where
** they go in it) and where each run's frame is in the inputs. */
typedef struct split_out {
  uint64_t nruns, nentries, zbytes;
  part_run *table;
  const uint8_t **src;
} split_out;

int sj_dist_split(const sj_dist_info *info, const sj_bytes *parts, size_t n, const sj_dist_want *wants, size_t nwants,
                  sj_bytes *out, sj_error *err) {
  memset(out, 0, nwants * sizeof *out);
  sj_alloc_policy(0);
  merge_layout lay;
  int rc = info_layout(info, &lay, err);
  for (size_t j = 0; !rc && j < nwants; j++) {
    if (wants[j].p0 > wants[j].p1 || wants[j].p1 > n) rc = sj_fail(err, SJ_EUSAGE, "split output %zu: no such partials", j);
    for (size_t k = 1; !rc && k < wants[j].nkeys; k++)
      if (wants[j].keys[k] <= wants[j].keys[k - 1]) rc = sj_fail(err, SJ_EUSAGE, "split output %zu: keys must ascend", j);
  }
  part_header *h = calloc(n ? n : 1, sizeof *h);
  part_run **tables = calloc(n ? n : 1, sizeof *tables);
  split_out *o = calloc(nwants ? nwants : 1, sizeof *o);
  uint64_t *cursor = calloc(n ? n : 1, sizeof *cursor); /* per part: the next run to look at */
  if (!rc && (!h || !tables || !o || !cursor)) rc = sj_fail(err, SJ_ENOMEM, "out of memory splitting partials");
  ZSTD_DCtx *d = rc ? NULL : ZSTD_createDCtx();
  if (!rc && !d) rc = sj_fail(err, SJ_ENOMEM, "out of memory splitting partials");
  for (size_t i = 0; i < n && !rc; i++) rc = part_table(d, info, &parts[i], i, &h[i], &tables[i], err);
  ZSTD_freeDCtx(d);
  /* Twice over each output's runs: to size it, then to fill it, in key order. */
  for (int fill = 0; fill < 2 && !rc; fill++)
    for (size_t j = 0; j < nwants && !rc; j++) {
      split_out *x = &o[j];
      if (fill) {
        x->table = malloc((x->nruns ? x->nruns : 1) * sizeof *x->table);
        x->src = malloc((x->nruns ? x->nruns : 1) * sizeof *x->src);
        if (!x->table || !x->src) {
          rc = sj_fail(err, SJ_ENOMEM, "out of memory splitting partials");
          break;
        }
        x->nruns = x->nentries = x->zbytes = 0;
      }
      for (size_t i = wants[j].p0; i < wants[j].p1; i++) cursor[i] = 0;
      for (size_t k = 0; k < wants[j].nkeys; k++) /* by key, then part: keys in order */
        for (size_t i = wants[j].p0; i < wants[j].p1; i++) {
          const uint8_t *frames = parts[i].data + sizeof h[i] + h[i].table_zlen;
          uint64_t *r = &cursor[i];
          while (*r < h[i].nruns && tables[i][*r].key < wants[j].keys[k]) ++*r;
          for (; *r < h[i].nruns && tables[i][*r].key == wants[j].keys[k]; ++*r) {
            part_run t = tables[i][*r];
            if (fill) {
              x->src[x->nruns] = frames + t.zoff;
              t.zoff = x->zbytes;
              x->table[x->nruns] = t;
            }
            x->nruns++;
            x->nentries += t.n;
            x->zbytes += t.zlen;
          }
        }
    }
  /* Each frame is copied as it is: its checksum travels with it, and the
  ** tile that decodes it checks it then. */
  ZSTD_CCtx *cctx = NULL;
  if (!rc) rc = part_cctx(&cctx, err);
  for (size_t j = 0; j < nwants && !rc; j++) {
    const split_out *x = &o[j];
    size_t cap = sizeof(part_header) + ZSTD_compressBound(x->nruns * sizeof(part_run)) + x->zbytes;
    size_t at = sizeof(part_header);
    uint8_t *buf = malloc(cap);
    rc = buf ? frame(cctx, buf, cap, &at, x->table, x->nruns * sizeof(part_run), err)
             : sj_fail(err, SJ_ENOMEM, "out of memory splitting partials");
    if (rc) {
      free(buf);
      break;
    }
    part_header oh = part_header_make(info, x->nruns, x->nentries, at - sizeof oh, x->zbytes);
    memcpy(buf, &oh, sizeof oh);
    for (uint64_t r = 0; r < x->nruns; r++) memcpy(buf + at + x->table[r].zoff, x->src[r], x->table[r].zlen);
    out[j] = (sj_bytes){buf, at + x->zbytes};
  }
  ZSTD_freeCCtx(cctx);
  for (size_t i = 0; tables && i < n; i++) free(tables[i]);
  for (size_t j = 0; o && j < nwants; j++) {
    free(o[j].table);
    free(o[j].src);
  }
  free(h);
  free(tables);
  free(o);
  free(cursor);
  if (rc)
    for (size_t j = 0; j < nwants; j++) sj_bytes_free(&out[j]);
  return rc;
}

/* The right side read once for many tiles: the plan with its outer
** partial groups, the layout, the groupings in answer order, the schema. */
struct sj_dist_tiler {
  sj_dist_info info;
  plan p;
  merge_layout lay;
  merge_groups groups;
  out_schema schema;
};

void sj_dist_tiler_close(sj_dist_tiler *t) {
  if (!t) return;
  merge_groups_free(&t->groups);
  plan_close(&t->p);
  free(t);
}

int sj_dist_tiler_open(const sj_query *q, const sj_dist_info *info, sj_dist_tiler **out, sj_error *err) {
  *out = NULL;
  sj_dist_tiler *t = calloc(1, sizeof *t);
  if (!t) return sj_fail(err, SJ_ENOMEM, "out of memory");
  t->info = *info;
  int rc = plan_open(&t->p, q, NULL, 0, err);
  if (!rc) rc = info_check(&t->p, info, &t->lay, err);
  if (!rc) rc = merge_groupings(&t->p, &t->lay, &t->groups, err);
  if (!rc) plan_schema(&t->p, &t->schema);
  if (rc) sj_dist_tiler_close(t);
  else *out = t;
  return rc;
}

/* The keys of groupings [g0, g1), ascending: the only runs a tile decodes. */
static int tile_keys(const sj_dist_tiler *t, uint32_t g0, uint32_t g1, int64_t **want, size_t *nwant, sj_error *err) {
  const merge_groups *groups = &t->groups;
  const agg_table *ot = &t->p.s[1].partial;
  size_t o0 = groups->start[g0 < groups->n ? g0 : groups->n], o1 = groups->start[g1 < groups->n ? g1 : groups->n];
  *nwant = 0;
  if (!(*want = malloc((o1 > o0 ? o1 - o0 : 1) * sizeof **want))) return sj_fail(err, SJ_ENOMEM, "out of memory");
  for (size_t o = o0; o < o1; o++) (*want)[(*nwant)++] = agg_row_keys(agg_table_row(ot, groups->order[o]))[0];
  qsort(*want, *nwant, sizeof **want, cmp_i64);
  return 0;
}

int sj_dist_tile(const sj_dist_tiler *t, const sj_bytes *parts, size_t n, uint32_t g0, uint32_t g1, uint64_t c0,
                 uint64_t c1, const char *out, sj_bytes *csv, uint64_t *rows, sj_error *err) {
  memset(csv, 0, sizeof *csv);
  *rows = 0;
  int64_t *want = NULL;
  size_t nwant = 0;
  int rc = tile_keys(t, g0, g1, &want, &nwant, err);
  merge_runs runs = {.spill_fd = -1};
  if (!rc) rc = parts_decode(&t->info, parts, n, want, nwant, &runs, err);
  free(want);
  out_sink *sink = NULL;
  char *text = NULL;
  size_t text_len = 0;
  FILE *mem = NULL;
  if (!rc && !out && !(mem = open_memstream(&text, &text_len))) rc = sj_fail(err, SJ_ENOMEM, "out of memory");
  if (!rc) rc = out_open(&sink, out, mem, &t->schema, err);
  merge_stats st;
  merge_range range = {g0, g1, c0, c1};
  if (!rc) rc = merge_write(&t->p, &t->lay, &runs, &t->groups, &range, sink, &t->schema, &st, err);
  if (sink) {
    if (rc) out_abort(sink);
    else rc = out_close(sink, NULL, 0, err);
  }
  if (mem) fclose(mem);
  if (!rc) {
    *rows = st.rows_out;
    csv->data = (uint8_t *)text;
    csv->len = text_len;
  } else {
    free(text);
  }
  merge_runs_free(&runs);
  return rc;
}
