/*
** merge.c — the streaming merge plan: answers as large as the join.
**
** For GROUP BY (outer side's columns…, inner side's columns…) — the
** notebook's QN is (df2_group | bucket, group1..4) — the answer is built
** without a table of its groups:
**
**   1. inner scan   every morsel of the inner side is aggregated by (key,
**                   code), code = the inner by-columns packed into one
**                   integer (domains from the files' statistics, first
**                   column in the high bits, NULL as the domain's last
**                   value: so codes sort as the columns do, NULLS LAST).
**                   Radix-sorted, each morsel gives one sorted run per key;
**                   a morsel of one key with a small code domain (a per-key
**                   file by bucket) is folded into an array indexed by code
**                   instead (direct_into_run).
**   2. outer scan   the outer side aggregated by (key, its by-columns) in a
**                   hash table (it is the small side), sorted by (its
**                   by-columns, key): a grouping is a run of equal tuples.
**   3. merge        a grouping's answer is the merge, by code, of the runs
**                   of its keys — their entries gathered and radix-sorted
**                   (stable), which beats a heap here, or, where the codes
**                   are dense (bucket ranges), folded into an array indexed
**                   by code (merge_dense) — each entry weighted by the outer
**                   row's count: count = cI·cO, an inner sum ·cO, an outer
**                   sum ·cI.  Equal codes from different keys add up.
**   4. tiles        the work is cut into tiles of consecutive (grouping,
**                   code range) units of bounded answer size — the grouping
**                   that holds every key is split by code ranges drawn from
**                   a sample of its codes — merged on all cores, encoded by
**                   the thread that made them, written in order.
**
** Memory: the inner runs (16 + 32·states bytes per entry) and a window of
** tiles in flight; not the answer.  When the runs could pass half the
** memory limit they go to an unlinked temporary file with a sparse index in
** memory, and a tile's consecutive units of one grouping pread the blocks
** they need together (spill_part, read_span): the same units, tiles and
** bytes of output either way.
** Results do not depend on the thread count: tiles are fixed before any
** thread starts and a merge folds equal codes in cursor order.
*/
#include "merge.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

/* A tile is about TILE_ROWS answer rows (one Parquet row group) or
** TILE_ENTRIES entries of runs, whichever comes first (dense units fold many
** entries into few rows: the grouping of all keys by `bucket`); a unit's
** entries, about UNIT_ROWS, stay in the core's cache between being listed
** and being folded. */
enum { TILE_ROWS = 1 << 18, TILE_ENTRIES = 1 << 21, UNIT_ROWS = 1 << 15, SAMPLES_PER_PIECE = 16, IDX_STRIDE = 32 };
/* Up to FEW_RUNS runs a unit merges by comparing their heads; more, by a
** radix sort of their entries.  Measured on GROUP BY df2_group, bucket at
** s=0.001 on one thread (least user time of 6 runs): 3.12 s with the sort
** for all, 2.49 s at 4, 2.04 s at 16, 2.37 s at 32, 3.09 s at 128. */
enum { FEW_RUNS = 16 };
/* A morsel of one key whose codes have at most DIRECT_BITS bits, and at
** most twice as many codes as rows, is aggregated in an array indexed by
** code (direct_into_run), not sorted. */
enum { DIRECT_BITS = 16 };
/* merge_dense folds codes into a window of DENSE_SLOTS slots: with two
** aggregates, 320 KB, within the core's L2 cache. */
enum { DENSE_SLOTS = 4096, DENSE_UNIT_ROWS = 1 << 18 };
/* A slot: the count, a pad word, then the answer's aggregate states. */
static inline size_t slot_words(int nagg) { return 2 + 4 * (size_t)nagg; }
/* A worker reads back at most READ_BYTES of spilled entries at a time, for
** as many of a tile's units of one grouping as fit (at least one): one pread
** per run for them all, not one per run and unit.  Each run's read is
** rounded out to its indexed blocks, so a grouping of n runs reads about
** n·IDX_STRIDE entries more than its units hold; the more units share a
** read, the less that costs.  Measured on QN at s=0.01 under
** --memory-limit 256M: 28M preads and 46 s of system time one unit at a
** time, 3.2M and 20 s so.  All threads together read at most a quarter of
** the memory limit at a time. */
enum { READ_BYTES = 1 << 25 };
#define SPILL_FILE "the merge plan's spill" /* "... file" in messages */



/* ------------------------------------------------------------ the layout */

/* The inner side's by-column `name` has values in [lo, hi] by every chunk's
** statistics; 0 when some non-empty chunk states no bounds, and for unsigned
** columns, whose legacy bounds may be in signed order (scan_domains reads
** their values instead). */
static int column_domain(const side *s, const char *name, int64_t *lo, int64_t *hi) {
  int seen = 0;
  for (int f = 0; f < s->nfiles; f++) {
    const pq_reader *r = s->files[f];
    int c = pq_find_column(r, name);
    const pq_column_info *ci = pq_col(r, c);
    if (ci->is_unsigned) return 0;
    for (int rg = 0; rg < pq_nrowgroups(r); rg++) {
      const pq_chunk_info *ch = pq_chunk(r, rg, c);
      if (pq_rowgroup_rows(r, rg) == 0) continue;
      if (ch->stats.has_null_count && ch->stats.null_count == ch->num_values) continue; /* all NULL */
      int64_t mn, mx;
      if (!ch->stats.has_min_max || !stat_bound(ch->stats.min, ch->stats.min_len, ci->type, &mn) ||
          !stat_bound(ch->stats.max, ch->stats.max_len, ci->type, &mx) || mn > mx)
        return 0;
      if (!seen || mn < *lo) *lo = mn;
      if (!seen || mx > *hi) *hi = mx;
      seen = 1;
    }
  }
  if (!seen) *lo = *hi = 0;
  return 1;
}

int merge_layout_pack(merge_layout *lay, const int *nullable) {
  int bits = 0;
  for (int j = 0; j < lay->ncols; j++) {
    if (lay->lo[j] > lay->hi[j]) return 0;
    uint64_t values = (uint64_t)lay->hi[j] - (uint64_t)lay->lo[j] + 1;
    if (values == 0) return 0; /* the whole int64 range */
    lay->null_code[j] = values;
    int w = bits_for(values + (uint64_t)(nullable[j] != 0));
    if (w > MAX_CODE_BITS) return 0;
    bits += w;
    if (bits > MAX_CODE_BITS) return 0;
    lay->width[j] = w;
  }
  lay->bits = bits;
  for (int j = 0, at = bits; j < lay->ncols; j++) {
    at -= lay->width[j];
    lay->shift[j] = at;
  }
  return 1;
}

/* Which side is outer and which inner; 0 when the by-list is not one side's
** columns then the other's. */
static int layout_sides(const plan *p, merge_layout *lay) {
  memset(lay, 0, sizeof *lay);
  if (p->nby == 0) return 0; /* one total row, even for an empty join: the hash plan */
  int first = p->by_side[0], switches = 0;
  for (int i = 0; i < p->nby; i++) {
    if (i && p->by_side[i] != p->by_side[i - 1]) switches++;
  }
  if (switches > 1) return 0;
  if (switches == 1) {
    lay->outer = first;
    lay->inner = 1 - first;
  } else { /* all on one side: the right side's groupings over the left's runs */
    lay->outer = 1;
    lay->inner = 0;
  }
  return 1;
}

int merge_layout_make(const plan *p, merge_layout *lay) {
  if (!layout_sides(p, lay)) return 0;
  const side *in = &p->s[lay->inner];
  lay->ncols = in->nby;
  int nullable[MAX_BY];
  for (int j = 0; j < in->nby; j++) {
    int i = in->by_out[j];
    const key_dict *d = p->by_dict[i];
    if (d) { /* strings: their ids */
      lay->lo[j] = 0;
      lay->hi[j] = key_dict_size(d) ? (int64_t)key_dict_size(d) - 1 : 0;
    } else if (p->by_bounded[i]) {
      lay->lo[j] = p->by_lo[i];
      lay->hi[j] = p->by_hi[i];
    } else if (!column_domain(in, in->by[j], &lay->lo[j], &lay->hi[j])) {
      return 0;
    }
    nullable[j] = p->by_nullable[i];
  }
  return merge_layout_pack(lay, nullable);
}

/* merge_domains' pass: each morsel's range of each column it reads. */
typedef struct col_range { int64_t lo, hi; int seen, nulls; } col_range;
typedef struct domain_job {
  const side *s;
  const morsel *morsels;
  int ncols;
  const char *names[MAX_BY];
  col_range *ranges; /* morsel m, column c: ranges[m * ncols + c] */
} domain_job;

static int domain_morsel(void *ctx, size_t m, int worker, sj_error *err) {
  (void)worker;
  domain_job *j = ctx;
  const pq_reader *r = j->s->files[j->morsels[m].file];
  int rg = j->morsels[m].rg;
  numcol cols[MAX_BY];
  int rc = read_columns(r, rg, j->names, j->ncols, cols, err);
  if (rc) return rc;
  uint64_t rows = (uint64_t)pq_rowgroup_rows(r, rg);
  for (int c = 0; c < j->ncols; c++) {
    col_range *cr = &j->ranges[m * (size_t)j->ncols + (size_t)c];
    for (uint64_t i = 0; i < rows; i++) {
      if (!present(&cols[c], i)) { cr->nulls = 1; continue; }
      int64_t x = num_i(&cols[c], i);
      if (!cr->seen || x < cr->lo) cr->lo = x;
      if (!cr->seen || x > cr->hi) cr->hi = x;
      cr->seen = 1;
    }
    pq_column_free(&cols[c].raw);
  }
  return 0;
}

/* The domains of the inner columns no statistics bound, from their values. */
static int scan_domains(plan *p, side *in, sj_error *err) {
  domain_job j = {.s = in};
  int which[MAX_BY]; /* by-list position of column c */
  for (int k = 0; k < in->nby; k++) {
    int i = in->by_out[k];
    int64_t lo, hi;
    if (p->by_dict[i] || column_domain(in, in->by[k], &lo, &hi)) continue;
    which[j.ncols] = i;
    j.names[j.ncols++] = in->by[k];
  }
  if (!j.ncols) return 0;
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  morsel *morsels = NULL;
  size_t n = 0;
  int rc = list_morsels(in, &morsels, &n, err);
  j.morsels = morsels;
  if (!rc && !(j.ranges = calloc(n ? n * (size_t)j.ncols : 1, sizeof *j.ranges))) rc = sj_fail(err, SJ_ENOMEM, "out of memory");
  if (!rc) rc = sj_pool_run(p->pool, n, domain_morsel, &j, err);
  for (int c = 0; c < j.ncols && !rc; c++) {
    col_range all = {0, 0, 0, 0};
    for (size_t m = 0; m < n; m++) {
      const col_range *cr = &j.ranges[m * (size_t)j.ncols + (size_t)c];
      all.nulls |= cr->nulls;
      if (!cr->seen) continue;
      if (!all.seen || cr->lo < all.lo) all.lo = cr->lo;
      if (!all.seen || cr->hi > all.hi) all.hi = cr->hi;
      all.seen = 1;
    }
    int i = which[c];
    p->by_bounded[i] = 1;
    p->scanned |= 1u << i;
    p->by_lo[i] = all.lo;
    p->by_hi[i] = all.hi;
    if (!all.nulls) p->by_nullable[i] = 0; /* exact: every value was read */
  }
  free(j.ranges);
  free(morsels);
  p->domain_seconds = seconds_since(&t0);
  return rc;
}

/* Values a rank dictionary may hold under the memory limit: 8 bytes each,
** and as much again, twice, while they are collected and sorted. */
static uint64_t rank_budget(const plan *p) { return p->memory_limit / 32; }

/* While the inner columns' domains do not pack, the widest integer column
** becomes ranks; if that cannot make them fit, no column does. */
static int rank_wide_columns(plan *p, side *in, sj_error *err) {
  merge_layout lay;
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int rc = 0;
  while (!rc && !merge_layout_make(p, &lay)) {
    int widest = -1;
    uint64_t most = 0;
    for (int k = 0; k < in->nby; k++) {
      int i = in->by_out[k];
      int64_t lo = p->by_lo[i], hi = p->by_hi[i];
      if (p->by_dict[i] || p->by_rank[i]) continue;
      if (!p->by_bounded[i] && !column_domain(in, in->by[k], &lo, &hi)) return 0; /* cannot happen after scan_domains */
      uint64_t span = (uint64_t)hi - (uint64_t)lo; /* values - 1 */
      if (widest < 0 || span > most) {
        widest = k;
        most = span;
      }
    }
    if (widest < 0) break;
    int i = in->by_out[widest];
    rc = rank_dict_build(p, in, in->by[widest], rank_budget(p), &p->by_rank[i], err);
    if (rc || !p->by_rank[i]) break;
    size_t n = rank_dict_size(p->by_rank[i]);
    p->by_bounded[i] = 1;
    p->by_lo[i] = 0;
    p->by_hi[i] = n ? (int64_t)n - 1 : 0;
  }
  p->rank_seconds = seconds_since(&t0);
  if (!rc && merge_layout_make(p, &lay)) {
    for (int k = 0; k < in->nby; k++) { /* the dictionaries stay for the scan and the output: less for the rest */
      const rank_dict *d = p->by_rank[in->by_out[k]];
      uint64_t held = d ? 8 * (uint64_t)rank_dict_size(d) : 0;
      p->memory_limit = p->memory_limit > 2 * held ? p->memory_limit - held : p->memory_limit / 2;
    }
    return 0;
  }
  for (int k = 0; k < in->nby; k++) { /* no use: the hash plan reads the values */
    int i = in->by_out[k];
    if (!p->by_rank[i]) continue;
    rank_dict_free(p->by_rank[i]);
    p->by_rank[i] = NULL;
    p->by_bounded[i] = 0;
  }
  return rc;
}

int merge_domains(plan *p, int ranks, sj_error *err) {
  merge_layout lay;
  if (!layout_sides(p, &lay)) return 0;
  side *in = &p->s[lay.inner];
  int rc = scan_domains(p, in, err);
  return rc || !ranks ? rc : rank_wide_columns(p, in, err);
}

int merge_applies(const plan *p) {
  merge_layout lay;
  return merge_layout_make(p, &lay);
}

/* ------------------------------------------------------------ inner scan */

typedef struct inner_job {
  plan *p;
  const merge_layout *lay;
  side *s;
  const morsel *morsels;
  mpart *parts;
  sort_pair *scratch[2][SJ_MAX_THREADS]; /* per worker */
  size_t scratch_cap[SJ_MAX_THREADS];
  uint64_t *slots[SJ_MAX_THREADS];       /* per worker: direct_into_run's entries by code */
  size_t slots_cap[SJ_MAX_THREADS];      /* words */
  /* Under a memory limit the runs are appended to an unlinked temporary
  ** file; each run keeps its offset and a sparse index of its codes. */
  int spill_fd;             /* -1: runs stay in memory */
  uint64_t spill_bytes;
  pthread_mutex_t spill_mu;
  const size_t *group_at;   /* group g: morsels [group_at[g], group_at[g + 1]) */
  agg_fn fn[MAX_AGGS];      /* what each state of an entry holds */
} inner_job;

/* Appends a morsel's entries to the spill file and frees them; its runs
** keep their offsets. */
static int spill_part(inner_job *j, mpart *part, uint64_t nentries, size_t ew, sj_error *err) {
  size_t len = (size_t)nentries * ew * 8, nidx = 0;
  for (size_t r = 0; r < part->nruns; r++) nidx += (part->runs[r].n + IDX_STRIDE - 1) / IDX_STRIDE;
  if (!(part->index = malloc((nidx ? nidx : 1) * sizeof *part->index))) return sj_fail(err, SJ_ENOMEM, "out of memory");
  for (size_t r = 0, at = 0; r < part->nruns; r++) {
    part->runs[r].idx = part->index + at;
    for (uint32_t i = 0; i < part->runs[r].n; i += IDX_STRIDE) part->index[at++] = part->runs[r].e[(size_t)i * ew];
  }
  pthread_mutex_lock(&j->spill_mu);
  uint64_t at = j->spill_bytes;
  j->spill_bytes += len;
  pthread_mutex_unlock(&j->spill_mu);
  int rc = plan_pwrite(j->spill_fd, part->entries, len, at, SPILL_FILE, err);
  if (rc) return rc;
  for (size_t r = 0; r < part->nruns; r++) {
    part->runs[r].off = at + (uint64_t)(part->runs[r].e - part->entries) * 8;
    part->runs[r].e = NULL;
  }
  free(part->entries);
  part->entries = NULL;
  return 0;
}

static int cmp_pair_wide(const void *x, const void *y, void *ctx) {
  const numcol *key = ctx;
  const sort_pair *a = x, *b = y;
  int64_t ka = num_i(key, a->a), kb = num_i(key, b->a);
  if (ka != kb) return ka < kb ? -1 : 1;
  if (a->k != b->k) return a->k < b->k ? -1 : 1;
  return a->a < b->a ? -1 : a->a > b->a;
}

/* A morsel whose rows all have one key, with no inner by-column: one entry,
** its sums folded four lanes at a time.  Returns 0 when that does not hold. */
static int one_key_one_entry(inner_job *j, size_t m, const numcol *cols, uint64_t rows, int *rc, sj_error *err) {
  const side *s = j->s;
  if (s->nby != 0 || !rows || cols[0].raw.valid) return 0;
  int64_t key = num_i(&cols[0], 0);
  for (uint64_t i = 1; i < rows; i++)
    if (num_i(&cols[0], i) != key) return 0;
  mpart *part = &j->parts[m];
  part->entries = calloc(1, entry_words(s->nstates) * 8);
  part->runs = malloc(sizeof *part->runs);
  if (!part->entries || !part->runs) {
    *rc = sj_fail(err, SJ_ENOMEM, "out of memory sorting the %s side", s->what);
    return 1;
  }
  part->entries[1] = rows;
  for (int k = 0; k < s->nstates; k++)
    fold_all((agg_state *)(part->entries + 2) + k, j->p->fn[s->state_agg[k]], s->state_is_float[k], &cols[1 + k], rows);
  part->runs[0] = (mrun){key, (uint32_t)m, 1, part->entries, 0, NULL};
  part->nruns = 1;
  return 1;
}

/* A morsel of one key whose codes fit in a small array (the generator's
** per-key files by bucket or by a group column): each row folded straight
** into its code's entry, in row order as the sort would keep them, then the
** entries in use copied out in code order as the key's run.  Returns the
** number of entries; *rc set on failure. */
static uint64_t direct_into_run(inner_job *j, size_t m, int worker, const numcol *cols, const sort_pair *codes,
                                uint64_t live, int64_t key, int *rc, sj_error *err) {
  const plan *p = j->p;
  const side *s = j->s;
  int nby = s->nby, ns = s->nstates;
  size_t ew = entry_words(ns), nslots = (size_t)1 << j->lay->bits;
  mpart *part = &j->parts[m];
  if (j->slots_cap[worker] < nslots * ew) {
    free(j->slots[worker]);
    j->slots[worker] = malloc(nslots * ew * 8);
    j->slots_cap[worker] = j->slots[worker] ? nslots * ew : 0;
    if (!j->slots[worker]) {
      *rc = sj_fail(err, SJ_ENOMEM, "out of memory aggregating the %s side", s->what);
      return 0;
    }
  }
  uint64_t *slots = j->slots[worker];
  memset(slots, 0, nslots * ew * 8);
  for (uint64_t i = 0; i < live; i++) {
    uint64_t *e = slots + codes[i].k * ew;
    e[1]++;
    agg_state *st = (agg_state *)(e + 2);
    for (int k = 0; k < ns; k++)
      state_add(&st[k], p->fn[s->state_agg[k]], s->state_is_float[k], &cols[1 + nby + k], codes[i].a);
  }
  uint64_t nentries = 0;
  for (size_t c = 0; c < nslots; c++) nentries += slots[c * ew + 1] != 0;
  part->entries = malloc(nentries * ew * 8);
  part->runs = malloc(sizeof *part->runs);
  if (!part->entries || !part->runs) {
    *rc = sj_fail(err, SJ_ENOMEM, "out of memory aggregating the %s side", s->what);
    return 0;
  }
  uint64_t *e = part->entries;
  for (size_t c = 0; c < nslots; c++)
    if (slots[c * ew + 1]) {
      memcpy(e, slots + c * ew, ew * 8);
      e[0] = c;
      e += ew;
    }
  part->runs[0] = (mrun){key, (uint32_t)m, (uint32_t)nentries, part->entries, 0, NULL};
  part->nruns = 1;
  return nentries;
}

/* The general case: rows radix-sorted by (key, code), runs of equal (key,
** code) folded into entries, runs of one key into an mrun.  Returns the
** number of entries; *rc set on failure. */
static uint64_t sort_into_runs(inner_job *j, size_t m, int worker, const numcol *cols, uint64_t rows,
                               const pq_reader *r, int rg, int *rc, sj_error *err) {
  const plan *p = j->p;
  const merge_layout *lay = j->lay;
  const side *s = j->s;
  int nby = s->nby, ns = s->nstates;
  size_t ew = entry_words(ns);
  mpart *part = &j->parts[m];
  if (j->scratch_cap[worker] < rows) {
    for (int b = 0; b < 2; b++) {
      free(j->scratch[b][worker]);
      j->scratch[b][worker] = malloc((size_t)rows * sizeof(sort_pair));
    }
    j->scratch_cap[worker] = j->scratch[0][worker] && j->scratch[1][worker] ? rows : 0;
    if (!j->scratch_cap[worker]) {
      *rc = sj_fail(err, SJ_ENOMEM, "out of memory sorting the %s side", s->what);
      return 0;
    }
  }
  sort_pair *pairs = j->scratch[0][worker];
  /* Codes, and the morsel's key range. */
  uint64_t live = 0;
  int64_t kmin = 0, kmax = 0;
  for (uint64_t i = 0; i < rows && !*rc; i++) {
    if (!present(&cols[0], i)) continue; /* a NULL key matches nothing */
    int64_t key = num_i(&cols[0], i);
    if (!live || key < kmin) kmin = key;
    if (!live || key > kmax) kmax = key;
    uint64_t code = 0;
    for (int c = 0; c < nby; c++) {
      uint64_t v = lay->null_code[c];
      if (present(&cols[1 + c], i)) {
        int64_t x = num_i(&cols[1 + c], i);
        if (x < lay->lo[c] || x > lay->hi[c]) {
          *rc = sj_fail(err, SJ_ECORRUPT, "%s: row group %d: column '%s' holds %lld, outside the bounds "
                       "[%lld, %lld] %s", pq_path(r), rg, s->by[c], (long long)x, (long long)lay->lo[c],
                       (long long)lay->hi[c], p->by_bounded[s->by_out[c]] ? "found for it" : "its statistics state");
          break;
        }
        v = (uint64_t)x - (uint64_t)lay->lo[c];
      }
      code |= v << lay->shift[c];
    }
    pairs[live].k = code;
    pairs[live++].a = (uint32_t)i;
  }
  if (!*rc && live && kmin == kmax && lay->bits <= DIRECT_BITS && (uint64_t)1 << lay->bits <= 2 * live)
    return direct_into_run(j, m, worker, cols, pairs, live, kmin, rc, err);
  uint64_t key_span = (uint64_t)kmax - (uint64_t)kmin;
  int key_bits = live ? bits_for(key_span + 1) : 0;
  sort_pair *sorted = pairs;
  if (!*rc && live) {
    if (key_bits + lay->bits <= 64) {
      for (uint64_t i = 0; i < live; i++)
        pairs[i].k |= key_bits ? (uint64_t)(num_i(&cols[0], pairs[i].a) - kmin) << lay->bits : 0;
      sorted = sort_radix(pairs, j->scratch[1][worker], live, key_bits + lay->bits);
    } else {
      qsort_r(pairs, live, sizeof *pairs, cmp_pair_wide, (void *)&cols[0]);
    }
  }
  /* Runs of equal (key, code) become entries; runs of one key, an mrun. */
  uint64_t nentries = 0, nruns = 0;
  for (uint64_t i = 0; i < live && !*rc; i++)
    if (i == 0 || sorted[i].k != sorted[i - 1].k || (key_bits + lay->bits > 64 &&
        num_i(&cols[0], sorted[i].a) != num_i(&cols[0], sorted[i - 1].a))) nentries++;
  if (!*rc && nentries) {
    part->entries = calloc(nentries, ew * 8);
    part->runs = malloc(sizeof *part->runs * (size_t)nentries);
    if (!part->entries || !part->runs) *rc = sj_fail(err, SJ_ENOMEM, "out of memory sorting the %s side", s->what);
  }
  uint64_t code_mask = lay->bits ? ~(uint64_t)0 >> (64 - lay->bits) : 0;
  uint64_t *e = NULL;
  int64_t prev_key = 0;
  for (uint64_t i = 0, at = 0; i < live && !*rc; i++) {
    uint64_t row = sorted[i].a;
    int64_t key = num_i(&cols[0], row);
    uint64_t code = sorted[i].k & code_mask;
    if (!e || key != prev_key || code != e[0]) {
      e = part->entries + at++ * ew;
      e[0] = code;
      if (nruns == 0 || key != prev_key) part->runs[nruns++] = (mrun){key, (uint32_t)m, 0, e, 0, NULL};
      part->runs[nruns - 1].n++;
      prev_key = key;
    }
    e[1]++;
    agg_state *st = (agg_state *)(e + 2);
    for (int k = 0; k < ns; k++) state_add(&st[k], p->fn[s->state_agg[k]], s->state_is_float[k], &cols[1 + nby + k], row);
  }
  part->nruns = nruns;
  if (nruns) { /* kept to the end: no room wasted (the array was sized for one run per entry) */
    mrun *exact = realloc(part->runs, nruns * sizeof *exact);
    if (exact) part->runs = exact;
  }
  return nentries;
}

/* Combines runs[0..nruns) (sorted by key, then a fixed order) into one part
** with one run per key, each tagged `tag` (its morsel); the inputs are left as they are. */
static int combine_runs(const merge_layout *lay, int nstates, const agg_fn *fn, const int *is_float,
                        const mrun *runs, size_t nruns, uint32_t tag, mpart *one, sj_error *err) {
  size_t ew = entry_words(nstates);
  memset(one, 0, sizeof *one);
  size_t nkeys = 0;
  uint64_t most = 0, nentries = 0; /* most: the entries of the key with the most */
  for (size_t i = 0, i1; i < nruns; i = i1) {
    uint64_t total = 0;
    for (i1 = i; i1 < nruns && runs[i1].key == runs[i].key; i1++) total += runs[i1].n;
    if (i1 > i + 1 && total > most) most = total;
    nentries += total;
    nkeys++;
  }
  one->entries = malloc((nentries ? nentries : 1) * ew * 8);
  one->runs = malloc((nkeys ? nkeys : 1) * sizeof *one->runs);
  sort_pair *refs[2] = {malloc((most ? most : 1) * sizeof(sort_pair)), malloc((most ? most : 1) * sizeof(sort_pair))};
  int rc = !one->entries || !one->runs || !refs[0] || !refs[1] ? sj_fail(err, SJ_ENOMEM, "out of memory combining runs") : 0;
  uint64_t *at = one->entries;
  for (size_t i = 0, i1; !rc && i < nruns; i = i1) {
    uint64_t total = 0;
    for (i1 = i; i1 < nruns && runs[i1].key == runs[i].key; i1++) total += runs[i1].n;
    mrun *dst = &one->runs[one->nruns++];
    *dst = (mrun){runs[i].key, tag, 0, at, 0, NULL};
    if (i1 == i + 1) { /* one run: already combined */
      memcpy(at, runs[i].e, (size_t)total * ew * 8);
      dst->n = (uint32_t)total;
      at += total * ew;
      continue;
    }
    size_t k = 0;
    for (size_t q = i; q < i1; q++)
      for (uint32_t e = 0; e < runs[q].n; e++) refs[0][k++] = (sort_pair){runs[q].e[(size_t)e * ew], (uint32_t)q, e};
    sort_pair *sorted = sort_radix(refs[0], refs[1], k, lay->bits); /* stable: runs fold in order */
    uint64_t *e = NULL;
    for (size_t x = 0; x < k; x++) {
      const uint64_t *src = runs[sorted[x].a].e + (size_t)sorted[x].b * ew;
      if (!e || src[0] != e[0]) {
        e = at;
        at += ew;
        memset(e, 0, ew * 8);
        e[0] = src[0];
        dst->n++;
      }
      e[1] += src[1];
      for (int st = 0; st < nstates; st++)
        state_merge((agg_state *)(e + 2) + st, (const agg_state *)(src + 2) + st, fn[st], is_float[st], 1);
    }
  }
  free(refs[0]);
  free(refs[1]);
  if (rc) {
    free(one->entries);
    free(one->runs);
    memset(one, 0, sizeof *one);
  }
  return rc;
}

/* Runs by key, then morsel, then place in the morsel (a split partial
** holds several runs of a key): a total order, so qsort's is fixed. */
static int cmp_run(const void *x, const void *y) {
  const mrun *a = x, *b = y;
  if (a->key != b->key) return a->key < b->key ? -1 : 1;
  if (a->morsel != b->morsel) return a->morsel < b->morsel ? -1 : 1;
  if (a->e != b->e) return (uintptr_t)a->e < (uintptr_t)b->e ? -1 : 1;
  return a->off < b->off ? -1 : a->off > b->off;
}

/* Scans one morsel of the inner side into its sorted runs. */
static int scan_inner_morsel(inner_job *j, size_t m, int worker, uint64_t *nentries, sj_error *err) {
  const plan *p = j->p;
  side *s = j->s;
  const pq_reader *r = s->files[j->morsels[m].file];
  int rg = j->morsels[m].rg, nby = s->nby, ns = s->nstates;
  const char *names[1 + MAX_BY + MAX_AGGS];
  numcol cols[1 + MAX_BY + MAX_AGGS];
  names[0] = p->q->on;
  for (int i = 0; i < nby; i++) names[1 + i] = s->by[i];
  for (int i = 0; i < ns; i++) names[1 + nby + i] = s->state_col[i];
  int need = 1 + nby + ns;
  int rc = read_scan_columns(p, r, rg, names, need, cols, err);
  for (int c = 0; c < nby && !rc; c++)
    if (p->by_rank[s->by_out[c]]) rc = rank_dict_map(p->by_rank[s->by_out[c]], &cols[1 + c].raw, pq_path(r), err);
  if (rc) {
    for (int c = 0; c < need; c++) pq_column_free(&cols[c].raw);
    return rc;
  }
  uint64_t rows = (uint64_t)pq_rowgroup_rows(r, rg);
  *nentries = 1;
  if (!one_key_one_entry(j, m, cols, rows, &rc, err)) *nentries = sort_into_runs(j, m, worker, cols, rows, r, rg, &rc, err);
  for (int c = 0; c < need; c++) pq_column_free(&cols[c].raw);
  if (j->spill_fd >= 0) pq_release_rowgroup(r, rg);
  return rc;
}

/* Scans a group of morsels (consecutive row groups of one file); a group of
** more than one is combined into one run per key, so a hot key's row groups
** spill as a few runs, not one per row group; then spilled if spilling. */
static int scan_inner_group(void *ctx, size_t g, int worker, sj_error *err) {
  inner_job *j = ctx;
  size_t m0 = j->group_at[g], m1 = j->group_at[g + 1];
  uint64_t nentries = 0, n;
  int rc = 0;
  for (size_t m = m0; m < m1 && !rc; m++) {
    rc = scan_inner_morsel(j, m, worker, &n, err);
    nentries += n;
  }
  if (!rc && m1 > m0 + 1) {
    merge_runs group = {.parts = &j->parts[m0], .nparts = m1 - m0, .spill_fd = -1}; /* the group's runs, sorted */
    merge_runs_index(&group);
    if (!group.runs) return sj_fail(err, SJ_ENOMEM, "out of memory combining runs");
    mpart one;
    rc = combine_runs(j->lay, j->s->nstates, j->fn, j->s->state_is_float, group.runs, group.nruns, (uint32_t)m0,
                      &one, err);
    free(group.runs);
    if (!rc) {
      for (size_t m = m0; m < m1; m++) {
        free(j->parts[m].entries);
        free(j->parts[m].runs);
        memset(&j->parts[m], 0, sizeof j->parts[m]);
      }
      j->parts[m0] = one;
      nentries = 0;
      for (size_t r = 0; r < one.nruns; r++) nentries += one.runs[r].n;
    }
  }
  if (!rc && j->spill_fd >= 0 && nentries) rc = spill_part(j, &j->parts[m0], nentries, entry_words(j->s->nstates), err);
  return rc;
}

/* ------------------------------------------------------------ outer side */

static int cmp_outer(const void *x, const void *y, void *ctx) {
  const agg_table *t = ctx;
  const uint64_t *ra = agg_table_row(t, *(const uint32_t *)x), *rb = agg_table_row(t, *(const uint32_t *)y);
  uint32_t na = agg_row_nulls(t, ra), nb = agg_row_nulls(t, rb);
  const int64_t *ka = agg_row_keys(ra), *kb = agg_row_keys(rb);
  for (int i = 1; i < t->nkeys; i++) {
    int xa = na >> (i - 1) & 1, xb = nb >> (i - 1) & 1;
    if (xa != xb) return xa ? 1 : -1; /* NULLS LAST */
    if (!xa && ka[i] != kb[i]) return ka[i] < kb[i] ? -1 : 1;
  }
  if (ka[0] != kb[0]) return ka[0] < kb[0] ? -1 : 1;
  return 0; /* (key, by…) is unique in the table */
}

static int same_grouping(const agg_table *t, const uint64_t *a, const uint64_t *b) {
  if (agg_row_nulls(t, a) != agg_row_nulls(t, b)) return 0;
  for (int i = 1; i < t->nkeys; i++)
    if (!(agg_row_nulls(t, a) >> (i - 1) & 1) && agg_row_keys(a)[i] != agg_row_keys(b)[i]) return 0;
  return 1;
}

/* ------------------------------------------------------------------ tiles */

/* Outer rows [o0, o1) of one grouping, and the codes [clo, chi) of this unit. */
typedef struct unit {
  uint32_t o0, o1;
  uint64_t clo, chi;
  uint64_t entries; /* about */
  uint64_t rows;    /* answer rows, about: at most chi - clo */
} unit;

typedef struct tile {
  size_t u0, u1;
} tile;

/* A run's entries within a unit's code range, and its outer row. */
typedef struct cursor {
  const uint64_t *at, *end;
  int64_t outer_count;            /* the outer row's count */
  const agg_state *outer_states;  /* and its states */
} cursor;


/* What a merging thread keeps between tiles. */
typedef struct worker {
  cursor *curs;
  size_t ncurs_cap;
  uint64_t *spilled;   /* units [span_u0, span_u1) of a tile: their entries read back from the spill file */
  size_t spilled_cap;  /* words */
  size_t span_u0, span_u1;
  uint32_t *slice_lo, *slice_hi; /* per run of their grouping, in merge_unit's order: entries [lo, hi) */
  size_t *slice_at;              /* of it, at this word of `spilled` */
  size_t slices_cap;
  sort_pair *refs[2];
  size_t refs_cap;
  uint64_t *dense;     /* merge_dense's window of slots */
  const struct unit *last;  /* the unit merged last, and where it ended in each of */
  uint32_t *ends;           /* its grouping's runs, in merge_unit's order */
  size_t ends_cap;
} worker;

typedef struct merge_job {
  const plan *p;
  const merge_layout *lay;
  out_sink *sink;
  const out_schema *schema;
  const agg_table *outer;  /* the outer side's partials */
  const uint32_t *order;   /* its rows, sorted by (by…, key) */
  const size_t *run_at;    /* per sorted outer row: its key's runs [run_at[i], run_end[i]) */
  const size_t *run_end;
  const mrun *runs;
  size_t ew;
  unit *units;
  tile *tiles;
  size_t ntiles;
  int spill_fd;     /* >= 0: runs are read from this file */
  uint64_t read_bytes; /* ... this much at a time per thread, at most (read_span) */
  atomic_ullong spill_reads;
} merge_job;



/* One answer row: the grouping's outer values, the code's inner values. */
static void emit(merge_job *j, out_chunk *c, const uint64_t *orow, uint64_t code, int64_t count, const agg_state *acc) {
  const plan *p = j->p;
  const merge_layout *lay = j->lay;
  int64_t by[MAX_BY];
  uint32_t nulls = 0;
  int no = p->s[lay->outer].nby;
  const int64_t *ok = agg_row_keys(orow);
  uint32_t onulls = agg_row_nulls(j->outer, orow);
  for (int i = 0; i < no; i++) {
    by[i] = ok[1 + i];
    nulls |= (onulls >> i & 1) << i;
  }
  for (int c2 = 0; c2 < lay->ncols; c2++) {
    uint64_t v = code >> lay->shift[c2] & (((uint64_t)1 << lay->width[c2]) - 1);
    if (v == lay->null_code[c2]) {
      by[no + c2] = 0;
      nulls |= 1u << (no + c2);
    } else {
      by[no + c2] = lay->lo[c2] + (int64_t)v;
    }
  }
  chunk_put(p, c, by, nulls, count, acc);
}

/* Folds entry e of a cursor into the answer row being built. */
static inline void fold(const plan *p, int inner, const uint64_t *e, const cursor *c, int64_t *count, agg_state *acc) {
  int64_t ci = (int64_t)e[1], co = c->outer_count;
  *count += ci * co;
  const agg_state *ist = (const agg_state *)(e + 2);
  for (int a = 0; a < p->nagg; a++) {
    if (p->fn[a] == F_COUNT_STAR) continue;
    if (p->agg_side[a] == inner) state_merge(&acc[a], &ist[p->agg_state[a]], p->fn[a], p->agg_float[a], co);
    else state_merge(&acc[a], &c->outer_states[p->agg_state[a]], p->fn[a], p->agg_float[a], ci);
  }
}

static int grow_worker(worker *w, size_t ncurs, size_t nrefs) {
  if (ncurs > w->ncurs_cap) {
    size_t cap = w->ncurs_cap ? w->ncurs_cap : 64;
    while (cap < ncurs) cap *= 2;
    cursor *c = realloc(w->curs, cap * sizeof *c);
    if (!c) return -1;
    w->curs = c;
    w->ncurs_cap = cap;
  }
  if (nrefs > w->refs_cap) {
    size_t cap = w->refs_cap ? w->refs_cap : 4096;
    while (cap < nrefs) cap *= 2;
    for (int b = 0; b < 2; b++) {
      sort_pair *r = realloc(w->refs[b], cap * sizeof *r);
      if (!r) return -1;
      w->refs[b] = r;
    }
    w->refs_cap = cap;
  }
  return 0;
}

/* The blocks of a spilled run that may hold codes [clo, chi): entries [lo, hi). */
static void run_blocks(const mrun *run, uint64_t clo, uint64_t chi, uint32_t *lo, uint32_t *hi) {
  size_t blocks = (run->n + IDX_STRIDE - 1) / IDX_STRIDE;
  size_t first = entry_lower_bound(run->idx, blocks, 1, clo) - run->idx;
  size_t last = entry_lower_bound(run->idx, blocks, 1, chi) - run->idx;
  *lo = first ? (uint32_t)((first - 1) * IDX_STRIDE) : 0;
  *hi = last * IDX_STRIDE < run->n ? (uint32_t)(last * IDX_STRIDE) : run->n;
  if (*hi < *lo) *hi = *lo;
}

/* Reads back, for unit u of a tile that ends at unit u_end, the spilled
** entries of as many of the following units of u's grouping as fit in
** j->read_bytes (u's at least): each run of the grouping gives one slice. */
static int read_span(merge_job *j, worker *w, size_t u, size_t u_end, sj_error *err) {
  const unit *first = &j->units[u];
  size_t ew = j->ew, nruns = j->run_end[first->o1 - 1] - j->run_at[first->o0]; /* at most */
  if (nruns > w->slices_cap) {
    uint32_t *lo = realloc(w->slice_lo, nruns * sizeof *lo);
    if (lo) w->slice_lo = lo;
    uint32_t *hi = realloc(w->slice_hi, nruns * sizeof *hi);
    if (hi) w->slice_hi = hi;
    size_t *at = realloc(w->slice_at, nruns * sizeof *at);
    if (at) w->slice_at = at;
    if (!lo || !hi || !at) return sj_fail(err, SJ_ENOMEM, "out of memory reading the merge plan's spill file");
    w->slices_cap = nruns;
  }
  size_t span = 1;
  while (u + span < u_end && j->units[u + span].o0 == first->o0 && j->units[u + span].o1 == first->o1) span++;
  size_t words;
  for (;;) { /* halved until its slices fit, or it is one unit */
    uint64_t clo = first->clo, chi = j->units[u + span - 1].chi;
    size_t k = 0;
    words = 0;
    for (uint32_t o = first->o0; o < first->o1; o++)
      for (size_t r = j->run_at[o]; r < j->run_end[o]; r++, k++) {
        run_blocks(&j->runs[r], clo, chi, &w->slice_lo[k], &w->slice_hi[k]);
        w->slice_at[k] = words;
        words += (size_t)(w->slice_hi[k] - w->slice_lo[k]) * ew;
      }
    if (span == 1 || words * 8 <= j->read_bytes) break;
    span /= 2;
  }
  if (words > w->spilled_cap) {
    uint64_t *b = realloc(w->spilled, words * 8);
    if (!b) return sj_fail(err, SJ_ENOMEM, "out of memory reading the merge plan's spill file");
    w->spilled = b;
    w->spilled_cap = words;
  }
  size_t k = 0, reads = 0;
  for (uint32_t o = first->o0; o < first->o1; o++)
    for (size_t r = j->run_at[o]; r < j->run_end[o]; r++, k++) {
      const mrun *run = &j->runs[r];
      if (w->slice_hi[k] == w->slice_lo[k]) continue;
      int rc = plan_pread(j->spill_fd, w->spilled + w->slice_at[k], (size_t)(w->slice_hi[k] - w->slice_lo[k]) * ew * 8,
                          run->off + (uint64_t)w->slice_lo[k] * ew * 8, SPILL_FILE, err);
      if (rc) return rc;
      reads++;
    }
  atomic_fetch_add(&j->spill_reads, reads);
  w->span_u0 = u;
  w->span_u1 = u + span;
  return 0;
}

/* Merges the unit's n cursors when its codes are dense (a span of at most
** twice its entries: `bucket` ranges of the groupings of many keys): each
** cursor's entries are folded straight into slots indexed by code, a window
** of DENSE_SLOTS codes at a time, cursor after cursor — so equal codes fold
** in cursor order, as the sort in merge_unit would fold them — and the slots
** in use are emitted in code order. */
static int merge_dense(merge_job *j, const unit *u, worker *w, size_t n, out_chunk *chunk, const uint64_t *orow,
                       sj_error *err) {
  const plan *p = j->p;
  size_t ew = j->ew, sw = slot_words(p->nagg);
  if (!w->dense && !(w->dense = malloc(DENSE_SLOTS * sw * 8)))
    return sj_fail(err, SJ_ENOMEM, "out of memory for the answer's rows");
  for (uint64_t w0 = u->clo; w0 < u->chi; w0 += DENSE_SLOTS) {
    uint64_t w1 = u->chi - w0 > DENSE_SLOTS ? w0 + DENSE_SLOTS : u->chi;
    memset(w->dense, 0, (size_t)(w1 - w0) * sw * 8);
    for (size_t c = 0; c < n; c++) {
      cursor *cur = &w->curs[c];
      for (; cur->at < cur->end && cur->at[0] < w1; cur->at += ew) {
        uint64_t *slot = w->dense + (size_t)(cur->at[0] - w0) * sw;
        fold(p, j->lay->inner, cur->at, cur, (int64_t *)slot, (agg_state *)(slot + 2));
      }
    }
    for (uint64_t code = w0; code < w1; code++) {
      const uint64_t *slot = w->dense + (size_t)(code - w0) * sw;
      if (slot[0]) emit(j, chunk, orow, code, (int64_t)slot[0], (const agg_state *)(slot + 2)); /* counts are >= 1 */
    }
  }
  return 0;
}

/* Merges one unit into the worker's chunk: the entries of its cursors,
** sorted by code, equal codes folded into one answer row. */
static int merge_unit(merge_job *j, size_t ui, size_t tile_end, worker *w, out_chunk *chunk, sj_error *err) {
  const plan *p = j->p;
  const unit *u = &j->units[ui];
  size_t ew = j->ew, n = 0;
  uint64_t total = 0;
  /* A unit that goes on where this worker's last one ended starts in each
  ** run where that one stopped: no search from the run's start. */
  const unit *prev = w->last;
  int carry = j->spill_fd < 0 && prev && prev->o0 == u->o0 && prev->o1 == u->o1 && prev->chi == u->clo;
  size_t nrun = 0, grouping_runs = j->run_end[u->o1 - 1] - j->run_at[u->o0]; /* at most; runs of its keys are in order */
  if (j->spill_fd < 0 && grouping_runs > w->ends_cap) {
    uint32_t *e = realloc(w->ends, grouping_runs * sizeof *e);
    if (!e) return sj_fail(err, SJ_ENOMEM, "out of memory merging");
    w->ends = e;
    w->ends_cap = grouping_runs;
  }
  w->last = j->spill_fd < 0 ? u : NULL;
  if (j->spill_fd >= 0 && (ui < w->span_u0 || ui >= w->span_u1)) {
    int rc = read_span(j, w, ui, tile_end, err);
    if (rc) return rc;
  }
  for (uint32_t o = u->o0; o < u->o1; o++) {
    uint64_t *orow = agg_table_row(j->outer, j->order[o]);
    for (size_t r = j->run_at[o]; r < j->run_end[o]; r++) {
      const mrun *run = &j->runs[r];
      const uint64_t *a, *b;
      if (j->spill_fd < 0) {
        assert(run->n > 0 && nrun < grouping_runs);
        const uint64_t *end = run->e + (size_t)run->n * ew;
        if (carry) {
          a = run->e + (size_t)w->ends[nrun] * ew;
          b = entry_gallop(a, (size_t)(end - a) / ew, ew, u->chi);
        } else { /* most units hold whole runs: no search */
          uint64_t first = run->e[0], last = end[-(ptrdiff_t)ew];
          /* else a search from where the code would be if the run's codes were evenly spread */
          a = u->clo <= first ? run->e
            : u->clo > last   ? end
                              : entry_search_near(run->e, run->n, ew, u->clo,
                                                  (size_t)((double)(u->clo - first) / (double)(last - first + 1) * run->n));
          b = u->chi > last ? end : entry_gallop(a, (size_t)(end - a) / ew, ew, u->chi);
        }
        w->ends[nrun++] = (uint32_t)((size_t)(b - run->e) / ew);
      } else { /* the run's slice read back for the span */
        const uint64_t *slice = w->spilled + w->slice_at[nrun];
        size_t len = w->slice_hi[nrun] - w->slice_lo[nrun];
        nrun++;
        a = entry_lower_bound(slice, len, ew, u->clo);
        b = entry_lower_bound(a, len - (size_t)(a - slice) / ew, ew, u->chi);
      }
      if (a == b) continue;
      total += (uint64_t)(b - a) / ew;
      if (grow_worker(w, n + 1, 0)) return sj_fail(err, SJ_ENOMEM, "out of memory merging");
      w->curs[n++] = (cursor){a, b, *agg_row_count(j->outer, orow), agg_row_states(j->outer, orow)};
    }
  }
  if (!n) return 0;
  uint64_t most = u->chi - u->clo < total ? u->chi - u->clo : total;
  if (chunk_reserve(chunk, most) || grow_worker(w, 0, n > FEW_RUNS ? total : 0))
    return sj_fail(err, SJ_ENOMEM, "out of memory for the answer's rows");
  const uint64_t *orow = agg_table_row(j->outer, j->order[u->o0]); /* the grouping's values */
  agg_state acc[MAX_AGGS];
  size_t acc_bytes = (size_t)p->nagg * sizeof *acc;
  int64_t count = 0;
  memset(acc, 0, acc_bytes);
  if (n <= FEW_RUNS) { /* a few runs, each in order with distinct codes: take the least head each time */
    cursor *cs = w->curs;
    for (;;) {
      uint64_t code = UINT64_MAX;
      for (size_t c = 0; c < n; c++)
        if (cs[c].at < cs[c].end && cs[c].at[0] < code) code = cs[c].at[0];
      if (code == UINT64_MAX) break; /* codes are below 2^62 */
      for (size_t c = 0; c < n; c++) /* equal codes fold in cursor order, as the sort below keeps them */
        if (cs[c].at < cs[c].end && cs[c].at[0] == code) {
          fold(p, j->lay->inner, cs[c].at, &cs[c], &count, acc);
          cs[c].at += ew;
        }
      emit(j, chunk, orow, code, count, acc);
      count = 0;
      memset(acc, 0, acc_bytes);
    }
    return 0;
  }
  if (u->chi - u->clo <= 2 * total) return merge_dense(j, u, w, n, chunk, orow, err);
  /* Many runs, sparse codes: their entries sorted by code relative to the unit's first
  ** (fewer radix passes for a narrow unit), stable so that equal codes
  ** fold in cursor order. */
  sort_pair *refs = w->refs[0];
  size_t k = 0;
  for (size_t c = 0; c < n; c++) {
    uint32_t i = 0;
    for (const uint64_t *e = w->curs[c].at; e < w->curs[c].end; e += ew) refs[k++] = (sort_pair){e[0] - u->clo, (uint32_t)c, i++};
  }
  uint64_t span = u->chi - u->clo;
  refs = sort_radix(refs, w->refs[1], k, bits_for(span)); /* span <= 2^bits */
  uint64_t code = refs[0].k;
  enum { AHEAD = 32 }; /* the entries are gathered from many runs: fetch ahead */
  for (size_t i = 0; i < k; i++) {
    if (i + AHEAD < k) {
      const uint64_t *ahead = w->curs[refs[i + AHEAD].a].at + (size_t)refs[i + AHEAD].b * ew;
      __builtin_prefetch(ahead);
      __builtin_prefetch(ahead + ew - 1); /* an entry may straddle two lines */
    }
    if (refs[i].k != code) {
      emit(j, chunk, orow, code + u->clo, count, acc);
      code = refs[i].k;
      count = 0;
      memset(acc, 0, acc_bytes);
    }
    const cursor *c = &w->curs[refs[i].a];
    fold(p, j->lay->inner, c->at + (size_t)refs[i].b * ew, c, &count, acc);
  }
  emit(j, chunk, orow, code + u->clo, count, acc);
  return 0;
}

/* out_pipeline's callbacks: a tile is consecutive units, merged by a
** thread with its worker state. */
static void *worker_new(void *ctx) {
  (void)ctx;
  return calloc(1, sizeof(worker));
}

static void worker_free(void *state) {
  worker *w = state;
  free(w->curs);
  free(w->spilled);
  free(w->slice_lo);
  free(w->slice_hi);
  free(w->slice_at);
  free(w->dense);
  free(w->ends);
  free(w->refs[0]);
  free(w->refs[1]);
  free(w);
}

static int fill_tile(void *ctx, void *state, size_t t, out_chunk *c, sj_error *err) {
  merge_job *j = ctx;
  worker *w = state;
  int rc = 0;
  for (size_t u = j->tiles[t].u0; u < j->tiles[t].u1 && !rc; u++) rc = merge_unit(j, u, j->tiles[t].u1, w, c, err);
  return rc;
}

/* The code of a run's entry i, a multiple of IDX_STRIDE: in memory, or in
** a spilled run's index. */
static uint64_t entry_code(const merge_job *j, const mrun *run, uint32_t i) {
  assert(i % IDX_STRIDE == 0);
  return j->spill_fd < 0 ? run->e[(size_t)i * j->ew] : run->idx[i / IDX_STRIDE];
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Cuts a grouping's codes [c0, c1) into units of about UNIT_ROWS entries
** by sampling the codes of its runs.  est: the grouping's entries. */
static int split_grouping(merge_job *j, uint32_t o0, uint32_t o1, uint64_t est, uint64_t c0, uint64_t c1,
                          unit **units, size_t *nunits, size_t *cap, sj_error *err) {
  uint64_t pieces = j->lay->bits ? (est + UNIT_ROWS - 1) / UNIT_ROWS : 1;
  uint64_t *sample = NULL;
  size_t ns = 0;
  if (pieces > 1) {
    /* Samples are taken at indexed positions only, so that spilled runs
    ** give the same split points, hence the same bytes of output. */
    uint64_t want = pieces * SAMPLES_PER_PIECE, blocks = est / IDX_STRIDE + 1;
    uint64_t stride = blocks / want ? blocks / want : 1, seen = 0;
    sample = malloc((size_t)(blocks / stride + o1 - o0 + 1 + (j->run_end[o1 - 1] - j->run_at[o0])) * sizeof *sample);
    if (!sample) return sj_fail(err, SJ_ENOMEM, "out of memory");
    for (uint32_t o = o0; o < o1; o++)
      for (size_t r = j->run_at[o]; r < j->run_end[o]; r++)
        for (uint32_t i = 0; i < j->runs[r].n; i += IDX_STRIDE, seen++)
          if (seen % stride == 0) sample[ns++] = entry_code(j, &j->runs[r], i);
    qsort(sample, ns, sizeof *sample, cmp_u64);
    /* Dense codes merge without gathering (merge_dense): larger units cost
    ** no cache, and each unit finds its place in every run once. */
    if (ns && sample[ns - 1] - sample[0] <= 2 * est) pieces = (est + DENSE_UNIT_ROWS - 1) / DENSE_UNIT_ROWS;
  }
  uint64_t from = c0;
  for (uint64_t k = 1; k <= pieces; k++) {
    uint64_t to = k == pieces ? c1 : sample[(size_t)(k * ns / pieces)];
    if (to > c1) to = c1;
    if (to <= from) continue;
    if (*nunits == *cap) {
      size_t nc = *cap ? 2 * *cap : 1024;
      unit *nu = realloc(*units, nc * sizeof *nu);
      if (!nu) { free(sample); return sj_fail(err, SJ_ENOMEM, "out of memory"); }
      *units = nu;
      *cap = nc;
    }
    uint64_t entries = est / pieces;
    (*units)[(*nunits)++] = (unit){o0, o1, from, to, entries, entries < to - from ? entries : to - from};
    from = to;
  }
  free(sample);
  return 0;
}

/* ------------------------------------------------------------ the stages */

void merge_runs_index(merge_runs *r) {
  size_t nruns = 0;
  for (size_t m = 0; m < r->nparts; m++) nruns += r->parts[m].nruns;
  free(r->runs);
  r->runs = malloc((nruns ? nruns : 1) * sizeof *r->runs);
  r->nruns = 0;
  r->nentries = 0;
  if (!r->runs) return; /* callers check runs */
  for (size_t m = 0; m < r->nparts; m++)
    for (size_t k = 0; k < r->parts[m].nruns; k++) {
      r->runs[r->nruns++] = r->parts[m].runs[k];
      r->nentries += r->parts[m].runs[k].n;
    }
  qsort(r->runs, r->nruns, sizeof *r->runs, cmp_run);
}

void merge_runs_free(merge_runs *r) {
  for (size_t m = 0; m < r->nparts; m++) {
    free(r->parts[m].entries);
    free(r->parts[m].runs);
    free(r->parts[m].index);
  }
  free(r->parts);
  free(r->runs);
  if (r->spill_fd >= 0) close(r->spill_fd);
  memset(r, 0, sizeof *r);
  r->spill_fd = -1;
}

int merge_scan(plan *p, const merge_layout *lay, const morsel *m, size_t n, int spill, merge_runs *out,
               sj_error *err) {
  memset(out, 0, sizeof *out);
  out->spill_fd = -1;
  inner_job *ij = calloc(1, sizeof *ij);
  if (!ij) return sj_fail(err, SJ_ENOMEM, "out of memory");
  ij->p = p;
  ij->lay = lay;
  ij->s = &p->s[lay->inner];
  ij->morsels = m;
  ij->spill_fd = -1;
  pthread_mutex_init(&ij->spill_mu, NULL);
  for (int k = 0; k < ij->s->nstates; k++) ij->fn[k] = p->fn[ij->s->state_agg[k]];
  /* Groups: when spilling, consecutive row groups of one file whose rows
  ** (an upper bound of their entries) fit in 1/64 of the memory limit — a
  ** share that does not depend on the thread count, so neither do the
  ** runs; in memory, every morsel alone (combining would only cost time). */
  size_t *group_at = malloc((n + 1) * sizeof *group_at), ngroups = 0;
  int rc = 0;
  if (!(ij->parts = calloc(n ? n : 1, sizeof *ij->parts)) || !group_at) rc = sj_fail(err, SJ_ENOMEM, "out of memory");
  uint64_t budget = p->memory_limit / 64 / (entry_words(ij->s->nstates) * 8), rows = 0;
  for (size_t i = 0; !rc && i < n; i++) {
    uint64_t r = (uint64_t)pq_rowgroup_rows(ij->s->files[m[i].file], m[i].rg);
    if (!spill || i == 0 || m[i].file != m[i - 1].file || rows + r > budget) {
      group_at[ngroups++] = i;
      rows = 0;
    }
    rows += r;
  }
  if (group_at) group_at[ngroups] = n;
  ij->group_at = group_at;
  if (!rc && spill) rc = plan_temp_file(p->q->temp_dir, SPILL_FILE, &ij->spill_fd, err);
  if (!rc) rc = sj_pool_run(p->pool, ngroups, scan_inner_group, ij, err);
  free(group_at);
  for (int w = 0; w < SJ_MAX_THREADS; w++) {
    free(ij->scratch[0][w]);
    free(ij->scratch[1][w]);
    free(ij->slots[w]);
  }
  out->parts = ij->parts;
  out->nparts = ij->parts ? n : 0;
  out->spill_fd = ij->spill_fd;
  out->spill_bytes = ij->spill_bytes;
  pthread_mutex_destroy(&ij->spill_mu);
  free(ij);
  if (!rc) {
    merge_runs_index(out);
    if (!out->runs) rc = sj_fail(err, SJ_ENOMEM, "out of memory");
  }
  if (rc) merge_runs_free(out);
  return rc;
}

int merge_combine(const merge_layout *lay, int nstates, const agg_fn *fn, const int *is_float, merge_runs *r,
                  sj_error *err) {
  assert(r->spill_fd < 0);
  mpart one;
  int rc = combine_runs(lay, nstates, fn, is_float, r->runs, r->nruns, 0, &one, err);
  if (rc) return rc;
  for (size_t i = 0; i < one.nruns; i++) one.runs[i].morsel = (uint32_t)i;
  merge_runs_free(r);
  r->parts = malloc(sizeof *r->parts);
  if (!r->parts) {
    free(one.entries);
    free(one.runs);
    return sj_fail(err, SJ_ENOMEM, "out of memory");
  }
  r->parts[0] = one;
  r->nparts = 1;
  merge_runs_index(r);
  return r->runs ? 0 : sj_fail(err, SJ_ENOMEM, "out of memory");
}

int merge_groupings(plan *p, const merge_layout *lay, merge_groups *g, sj_error *err) {
  memset(g, 0, sizeof *g);
  int rc = scan_side(p, &p->s[lay->outer], err);
  if (rc) return rc;
  const agg_table *ot = &p->s[lay->outer].partial;
  g->order = malloc((ot->nrows ? ot->nrows : 1) * sizeof *g->order);
  g->start = malloc((ot->nrows + 1) * sizeof *g->start);
  if (!g->order || !g->start) {
    merge_groups_free(g);
    return sj_fail(err, SJ_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < ot->nrows; i++) g->order[i] = (uint32_t)i;
  qsort_r(g->order, ot->nrows, sizeof *g->order, cmp_outer, (void *)ot);
  for (size_t i = 0; i < ot->nrows; i++)
    if (i == 0 || !same_grouping(ot, agg_table_row(ot, g->order[i - 1]), agg_table_row(ot, g->order[i])))
      g->start[g->n++] = i;
  g->start[g->n] = ot->nrows;
  return 0;
}

void merge_groups_free(merge_groups *g) {
  free(g->order);
  free(g->start);
  memset(g, 0, sizeof *g);
}

int merge_write(const plan *p, const merge_layout *lay, const merge_runs *r, const merge_groups *groups,
                const merge_range *range, out_sink *sink, const out_schema *schema, merge_stats *st, sj_error *err) {
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  memset(st, 0, sizeof *st);
  const mrun *runs = r->runs;
  const uint32_t *order = groups->order;
  const size_t *gstart = groups->start;
  size_t nruns = r->nruns, ngroupings = groups->n;
  const agg_table *ot = &p->s[lay->outer].partial;
  size_t *run_at = malloc((ot->nrows ? ot->nrows : 1) * sizeof *run_at);
  size_t *run_end = malloc((ot->nrows ? ot->nrows : 1) * sizeof *run_end);
  int rc = !run_at || !run_end ? sj_fail(err, SJ_ENOMEM, "out of memory") : 0;
  for (size_t i = 0; !rc && i < ot->nrows; i++) { /* each outer row's key: its runs */
    int64_t key = agg_row_keys(agg_table_row(ot, order[i]))[0];
    size_t lo = 0, hi = nruns;
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (runs[mid].key < key) lo = mid + 1;
      else hi = mid;
    }
    run_at[i] = lo;
    while (lo < nruns && runs[lo].key == key) lo++;
    run_end[i] = lo;
  }

  merge_job j;
  memset(&j, 0, sizeof j);
  j.p = p;
  j.lay = lay;
  j.sink = sink;
  j.schema = schema;
  j.outer = ot;
  j.order = order;
  j.run_at = run_at;
  j.run_end = run_end;
  j.runs = runs;
  j.ew = entry_words(p->s[lay->inner].nstates);
  j.spill_fd = r->spill_fd;
  j.read_bytes = p->memory_limit / 4 / (uint64_t)(p->threads > 0 ? p->threads : 1);
  if (j.read_bytes > READ_BYTES) j.read_bytes = READ_BYTES;
  /* Units: each grouping of the range, cut by codes. */
  uint64_t code_end = (uint64_t)1 << lay->bits;
  uint64_t c0 = range->c0, c1 = range->c1 < code_end ? range->c1 : code_end;
  size_t nunits = 0, ucap = 0;
  for (size_t g = range->g0; !rc && g < ngroupings && g < range->g1 && c0 < c1; g++) {
    uint64_t est = 0;
    for (size_t o = gstart[g]; o < gstart[g + 1]; o++)
      for (size_t k = run_at[o]; k < run_end[o]; k++) est += runs[k].n;
    if (est) rc = split_grouping(&j, (uint32_t)gstart[g], (uint32_t)gstart[g + 1], est, c0, c1, &j.units, &nunits, &ucap, err);
  }
  /* Tiles: consecutive units until about TILE_ROWS answer rows or TILE_ENTRIES entries. */
  if (!rc && !(j.tiles = calloc(nunits ? nunits : 1, sizeof *j.tiles))) rc = sj_fail(err, SJ_ENOMEM, "out of memory");
  for (size_t u = 0, rows = 0, entries = 0; !rc && u < nunits; u++) {
    st->est_rows += j.units[u].rows;
    if (!j.ntiles || rows >= TILE_ROWS || entries >= TILE_ENTRIES) {
      j.tiles[j.ntiles++].u0 = u;
      rows = entries = 0;
    }
    j.tiles[j.ntiles - 1].u1 = u + 1;
    rows += j.units[u].rows;
    entries += j.units[u].entries;
  }
  out_pipeline pl = {sink, schema, p->pool, j.ntiles, &j, worker_new, worker_free, fill_tile,
                     p->q->progress, p->q->progress_ctx};
  if (!rc) rc = out_pipeline_run(&pl, &st->rows_out, err);
  st->spill_reads = atomic_load(&j.spill_reads);
  st->ngroupings = ngroupings;
  st->nunits = nunits;
  st->ntiles = j.ntiles;
  st->t_merge = seconds_since(&t0);
  free(j.units);
  free(j.tiles);
  free(run_at);
  free(run_end);
  return rc;
}

/* --------------------------------------------------------------- the plan */

int merge_run(plan *p, out_sink *sink, const out_schema *schema, plan_report *rep, sj_error *err) {
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  merge_layout lay;
  if (!merge_layout_make(p, &lay)) return sj_fail(err, SJ_EUSAGE, "the merge plan does not apply to this query");
  side *in = &p->s[lay.inner], *out = &p->s[lay.outer];
  size_t ew = entry_words(in->nstates);
  morsel *morsels = NULL;
  size_t nmorsels = 0;
  merge_runs runs = {.spill_fd = -1};
  merge_stats st = {0};
  int rc = list_morsels(in, &morsels, &nmorsels, err);
  /* At most one entry per row: if that could pass half the memory limit,
  ** the runs go to a temporary file. */
  if (!rc) rc = merge_scan(p, &lay, morsels, nmorsels, in->rows_scanned * ew * 8 > p->memory_limit / 2, &runs, err);
  double t_inner = seconds_since(&t0);
  merge_groups groups = {0};
  if (!rc) rc = merge_groupings(p, &lay, &groups, err);
  double t_outer = seconds_since(&t0) - t_inner;
  merge_range all = {0, UINT32_MAX, 0, UINT64_MAX};
  if (!rc) rc = merge_write(p, &lay, &runs, &groups, &all, sink, schema, &st, err);
  if (!rc) {
    char spilled[300] = "";
    if (runs.spill_fd >= 0)
      snprintf(spilled, sizeof spilled,
               "  spill  the runs (%.1f MB) went to a temporary file (removed) under the memory limit of %.0f MB;\n"
               "         read back in %llu pieces\n",
               (double)runs.spill_bytes / 1e6, (double)p->memory_limit / 1048576.0,
               (unsigned long long)st.spill_reads);
    char scanned[600] = "";
    for (int j = 0, at = 0; j < in->nby; j++)
      if ((p->scanned >> in->by_out[j] & 1) && at < (int)sizeof scanned)
        at += snprintf(scanned + at, sizeof scanned - (size_t)at, "%s%s", at ? ", " : "  domain ", in->by[j]);
    if (*scanned) {
      size_t at = strlen(scanned);
      snprintf(scanned + at, sizeof scanned - at, ": no statistics bound %s; one pass over the values, %.3f s\n",
               strchr(scanned, ',') ? "them" : "it", p->domain_seconds);
    }
    for (int j = 0; j < in->nby; j++) {
      const rank_dict *d = p->by_rank[in->by_out[j]];
      size_t at = strlen(scanned);
      if (d && at < sizeof scanned)
        snprintf(scanned + at, sizeof scanned - at, "  ranks  %s: too wide to pack by its range; read as ranks of its "
                 "%zu distinct values (collected in %.3f s)\n", in->by[j], rank_dict_size(d), p->rank_seconds);
    }
    char ig[1200], og[1200];
    side_grouping(p, in, ig, sizeof ig);
    side_grouping(p, out, og, sizeof og);
    rep->rows_out = st.rows_out;
    snprintf(rep->text, sizeof rep->text,
             "plan: merge (GROUP BY pushed below the join; the answer streamed out of a k-way merge)\n"
             "%s"
             "  inner  %s: %d files, %llu rows scanned -> %llu entries by (%s) in %zu sorted runs, %.1f MB;\n"
             "         codes of %d bits (estimated before the scan: at most %llu entries, one per row)\n"
             "  outer  %s: %d files, %llu rows scanned -> %zu partial groups by (%s), %zu groupings\n"
             "%s"
             "  merge  %zu units in %zu tiles -> %llu answer rows (estimated from the runs' entries and the units' code spans: %llu)\n"
             "  time   inner scan %.3f s, outer scan %.3f s, merge + write %.3f s, total %.3f s on %d threads\n",
             scanned, in->what, in->nfiles, (unsigned long long)in->rows_scanned, (unsigned long long)runs.nentries, ig,
             runs.nruns, (double)runs.nentries * (double)ew * 8 / 1e6, lay.bits, (unsigned long long)in->rows_scanned,
             out->what, out->nfiles, (unsigned long long)out->rows_scanned, out->partial.nrows, og, st.ngroupings,
             spilled, st.nunits, st.ntiles, (unsigned long long)st.rows_out, (unsigned long long)st.est_rows, t_inner,
             t_outer, st.t_merge, seconds_since(&t0), p->threads);
  }
  merge_groups_free(&groups);
  merge_runs_free(&runs);
  free(morsels);
  return rc;
}
