/*
** tiles.c — the merge plan's merge: the outer side aggregated by (key, its
** by-columns) and sorted by (its by-columns, key), so that a grouping is a
** run of equal tuples; a grouping's answer is the merge, by code, of the
** runs of its keys, each entry weighted by the outer row's count (count =
** cI·cO, an inner sum ·cO, an outer sum ·cI; equal codes from different
** keys add up).  A few runs are merged by their heads; more are gathered and
** radix-sorted (stable), or, where the codes are dense (bucket ranges),
** folded into an L2-sized window of slots indexed by code (merge_dense).
** The work is cut, before any thread starts, into tiles of consecutive
** (grouping, code range) units of bounded answer size — the grouping that
** holds every key is split by code ranges drawn from a sample of its codes
** — merged on the pool's workers and written in order.  Spilled runs are
** read back a tile's units of one grouping at a time (read_span).
*/
#include "tiles.h"
#include "scan.h"

#include <stdlib.h>

/* A tile is about TILE_ROWS answer rows (one Parquet row group) or
** TILE_ENTRIES entries of runs, whichever comes first (dense units fold many
** entries into few rows: the grouping of all keys by `bucket`); a unit's
** entries, about UNIT_ROWS, stay in the core's cache between being listed
** and being folded. */
enum { TILE_ROWS = 1 << 17, TILE_ENTRIES = 1 << 21, UNIT_ROWS = 1 << 15, SAMPLES_PER_PIECE = 16 };
/* Up to FEW_RUNS runs a unit merges by comparing their heads; more, by a
** radix sort of their entries.  Measured on GROUP BY df2_group, bucket at
** s=0.001 on one thread (least user time of 6 runs): 3.12 s with the sort
** for all, 2.49 s at 4, 2.04 s at 16, 2.37 s at 32, 3.09 s at 128. */
enum { FEW_RUNS = 16 };
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
/* ------------------------------------------------------------ outer side */

/* The outer side's rows by grouping (its by-columns, NULLS LAST), then by
** join key; (key, by…) is unique in the table. */
typedef struct outer_sort {
  const agg_table *t;
  sj_order grouping, outer;
} outer_sort;

static outer_sort outer_orders(const agg_table *t) {
  outer_sort o = {t, {.nulls = 1}, {.nulls = 1}};
  for (int i = 1; i < t->nkeys; i++) sj_order_add(&o.grouping, 2 + i, i - 1);
  o.outer = o.grouping;
  sj_order_add(&o.outer, 2, -1);
  return o;
}

static int cmp_outer(const void *x, const void *y, void *ctx) {
  const outer_sort *o = ctx;
  return sj_order_cmp(&o->outer, agg_table_row(o->t, *(const uint32_t *)x), agg_table_row(o->t, *(const uint32_t *)y));
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
  budget *mem;         /* told what `spilled` holds (MEM_READS) */
  size_t span_u0, span_u1;
  uint32_t *slice_lo, *slice_hi; /* per run of their grouping, in merge_unit's order: entries [lo, hi) */
  size_t *slice_at;              /* of it, at this word of `spilled` */
  size_t slices_cap;
  radix_pair *refs[2];
  size_t refs_cap;
  uint64_t *dense;     /* merge_dense's window of slots */
  const struct unit *last;  /* the unit merged last, and where it ended in each of */
  uint32_t *ends;           /* its grouping's runs, in merge_unit's order */
  size_t ends_cap;
  int overflow;             /* a fold passed int64 counts or __int128 sums */
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
static int emit(merge_job *j, out_chunk *c, const uint64_t *orow, uint64_t code, int64_t count, const agg_state *acc,
                sj_error *err) {
  if (c->rows == c->cap) {
    int rc = chunk_room(c, err);
    if (rc) return rc;
  }
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
  return 0;
}

/* Folds entry e of a cursor into the answer row being built; nonzero when
** a count or a sum passes its range (partials that lie: see state_merge). */
static inline int fold(const plan *p, int inner, const uint64_t *e, const cursor *c, int64_t *count, agg_state *acc) {
  int64_t ci = (int64_t)e[1], co = c->outer_count, n;
  int over = __builtin_mul_overflow(ci, co, &n) | __builtin_add_overflow(*count, n, count);
  const agg_state *ist = (const agg_state *)(e + 2);
  for (int a = 0; a < p->nagg; a++) {
    if (p->fn[a] == F_COUNT_STAR) continue;
    if (p->agg_side[a] == inner) over |= state_merge(&acc[a], &ist[p->agg_state[a]], p->fn[a], p->agg_float[a], co);
    else over |= state_merge(&acc[a], &c->outer_states[p->agg_state[a]], p->fn[a], p->agg_float[a], ci);
  }
  return over;
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
      radix_pair *r = realloc(w->refs[b], cap * sizeof *r);
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
** entries of as many of the following units of u's grouping as about fit in
** j->read_bytes (u's at least): each run of the grouping gives one slice,
** one pread of its indexed blocks.  Only the entries within the span's codes
** are kept (the blocks' ends are moved off as each run is read), so what is
** held is the span's entries, not a grouping of many runs times a block. */
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
  uint64_t bytes = first->entries * ew * 8;
  while (u + span < u_end && j->units[u + span].o0 == first->o0 && j->units[u + span].o1 == first->o1 &&
         bytes + j->units[u + span].entries * ew * 8 <= j->read_bytes / 4 * 3) /* the entries are estimates */
    bytes += j->units[u + span++].entries * ew * 8;
  uint64_t clo = first->clo, chi = j->units[u + span - 1].chi;
  size_t k = 0, reads = 0, used = 0; /* words of `spilled` */
  for (uint32_t o = first->o0; o < first->o1; o++)
    for (size_t r = j->run_at[o]; r < j->run_end[o]; r++, k++) {
      const mrun *run = &j->runs[r];
      uint32_t lo, hi;
      run_blocks(run, clo, chi, &lo, &hi);
      size_t words = (size_t)(hi - lo) * ew;
      if (used + words > w->spilled_cap) {
        size_t cap = (used + words + (1 << 16) - 1) & ~(size_t)((1 << 16) - 1); /* in steps of 512 KB */
        uint64_t *b = realloc(w->spilled, cap * 8);
        if (!b) return sj_fail(err, SJ_ENOMEM, "out of memory reading the merge plan's spill file");
        budget_hold(j->p->mem, MEM_READS, (int64_t)(cap - w->spilled_cap) * 8);
        w->spilled = b;
        w->spilled_cap = cap;
      }
      uint64_t *at = w->spilled + used;
      if (words) {
        int rc = sj_temp_read(j->spill_fd, at, words * 8, run->off + (uint64_t)lo * ew * 8, SPILL_FILE, err);
        if (rc) return rc;
        reads++;
      }
      const uint64_t *a = entry_lower_bound(at, hi - lo, ew, clo);
      const uint64_t *b = entry_lower_bound(a, hi - lo - (size_t)(a - at) / ew, ew, chi);
      w->slice_at[k] = used;
      w->slice_lo[k] = lo + (uint32_t)((size_t)(a - at) / ew);
      w->slice_hi[k] = w->slice_lo[k] + (uint32_t)((size_t)(b - a) / ew);
      memmove(at, a, (size_t)(b - a) * 8);
      used += (size_t)(b - a);
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
        w->overflow |= fold(p, j->lay->inner, cur->at, cur, (int64_t *)slot, (agg_state *)(slot + 2));
      }
    }
    for (uint64_t code = w0; code < w1; code++) {
      const uint64_t *slot = w->dense + (size_t)(code - w0) * sw;
      int rc = slot[0] ? emit(j, chunk, orow, code, (int64_t)slot[0], (const agg_state *)(slot + 2), err) : 0; /* counts are >= 1 */
      if (rc) return rc;
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
  int sort = n > FEW_RUNS && u->chi - u->clo > 2 * total; /* else merged by heads, or dense */
  if (chunk_reserve(chunk, most) || grow_worker(w, 0, sort ? total : 0))
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
          w->overflow |= fold(p, j->lay->inner, cs[c].at, &cs[c], &count, acc);
          cs[c].at += ew;
        }
      int rc = emit(j, chunk, orow, code, count, acc, err);
      if (rc) return rc;
      count = 0;
      memset(acc, 0, acc_bytes);
    }
    return 0;
  }
  if (!sort) return merge_dense(j, u, w, n, chunk, orow, err);
  /* Many runs, sparse codes: their entries sorted by code relative to the unit's first
  ** (fewer radix passes for a narrow unit), stable so that equal codes
  ** fold in cursor order. */
  radix_pair *refs = w->refs[0];
  size_t k = 0;
  for (size_t c = 0; c < n; c++) {
    uint32_t i = 0;
    for (const uint64_t *e = w->curs[c].at; e < w->curs[c].end; e += ew) refs[k++] = (radix_pair){e[0] - u->clo, (uint32_t)c, i++};
  }
  uint64_t span = u->chi - u->clo;
  refs = radix_sort(refs, w->refs[1], k, radix_bits(span)); /* span <= 2^bits */
  uint64_t code = refs[0].k;
  enum { AHEAD = 32 }; /* the entries are gathered from many runs: fetch ahead */
  for (size_t i = 0; i < k; i++) {
    if (i + AHEAD < k) {
      const uint64_t *ahead = w->curs[refs[i + AHEAD].a].at + (size_t)refs[i + AHEAD].b * ew;
      __builtin_prefetch(ahead);
      __builtin_prefetch(ahead + ew - 1); /* an entry may straddle two lines */
    }
    if (refs[i].k != code) {
      int rc = emit(j, chunk, orow, code + u->clo, count, acc, err);
      if (rc) return rc;
      code = refs[i].k;
      count = 0;
      memset(acc, 0, acc_bytes);
    }
    const cursor *c = &w->curs[refs[i].a];
    w->overflow |= fold(p, j->lay->inner, c->at + (size_t)refs[i].b * ew, c, &count, acc);
  }
  return emit(j, chunk, orow, code + u->clo, count, acc, err);
}

/* out_pipeline's callbacks: a tile is consecutive units, merged by a
** thread with its worker state. */
static void *worker_new(void *ctx) {
  worker *w = calloc(1, sizeof(worker));
  if (w) w->mem = ((merge_job *)ctx)->p->mem;
  return w;
}

static void worker_free(void *state) {
  worker *w = state;
  if (w->mem) budget_hold(w->mem, MEM_READS, -(int64_t)w->spilled_cap * 8);
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
  if (!rc && w->overflow)
    rc = sj_fail(err, SJ_ECORRUPT, "an answer row's count passes int64, or its integer sum 128 bits: partials that "
                 "claim more rows than there can be");
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
  outer_sort o = outer_orders(ot);
  qsort_r(g->order, ot->nrows, sizeof *g->order, cmp_outer, &o);
  for (size_t i = 0; i < ot->nrows; i++)
    if (i == 0 || sj_order_cmp(&o.grouping, agg_table_row(ot, g->order[i - 1]), agg_table_row(ot, g->order[i])))
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
  double t0 = sj_clock();
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
  j.read_bytes = j.spill_fd < 0 ? 0 : budget_share(p->mem, MEM_READS) / (uint64_t)(p->threads > 0 ? p->threads : 1);
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
  out_pipeline pl = {sink, schema, p->pool, j.ntiles, PQ_PAGE_ROWS, &j, worker_new, worker_free, fill_tile,
                     p->q->progress, p->q->progress_ctx};
  if (!rc) rc = out_pipeline_run(&pl, &st->rows_out, err);
  st->spill_reads = atomic_load(&j.spill_reads);
  st->ngroupings = ngroupings;
  st->nunits = nunits;
  st->ntiles = j.ntiles;
  st->t_merge = (sj_clock() - t0);
  free(j.units);
  free(j.tiles);
  free(run_at);
  free(run_end);
  return rc;
}

