/*
** hash.c — the hash plan: the right side's partial groups in a table (from
** scan.c) with an index by key; the left side's morsels, a window at a
** time, each aggregated by (key, its by-columns) and joined with them: every
** pair with the same key adds its product to an answer group of the
** morsel's (count = cL·cR, sum over the left = sumL·cR, and so on), folded
** into the answer in morsel order.  Past half the memory limit the answer's
** groups spill as sorted runs, merged at the end; then sorted by the
** by-columns (NULLS LAST) and written.  It serves the total and GROUP BY
** columns too wide to pack whose distinct values are too many to rank.
*/
#include "hash.h"
#include "scan.h"
#include "../util/extsort.h"

#include <stdlib.h>

/* ------------------------------------------------------------------ join */

static int cmp_by_key(const void *a, const void *b, void *ctx) {
  const agg_table *t = ctx;
  const uint64_t *ra = agg_table_row(t, *(const uint32_t *)a);
  const uint64_t *rb = agg_table_row(t, *(const uint32_t *)b);
  int64_t ka = agg_row_keys(ra)[0], kb = agg_row_keys(rb)[0];
  if (ka != kb) return ka < kb ? -1 : 1;
  uint32_t ia = *(const uint32_t *)a, ib = *(const uint32_t *)b; /* stable: insertion order */
  return ia < ib ? -1 : ia > ib;
}

/* Row indexes of a table sorted by its first key column (the join key). */
static uint32_t *sorted_by_join_key(const agg_table *t) {
  uint32_t *ix = malloc((t->nrows ? t->nrows : 1) * sizeof *ix);
  if (!ix) return NULL;
  for (size_t i = 0; i < t->nrows; i++) ix[i] = (uint32_t)i;
  qsort_r(ix, t->nrows, sizeof *ix, cmp_by_key, (void *)t);
  return ix;
}

/* A morsel's part of the hash plan's answer past part_groups: parts are
** folded into the answer in morsel order, so each must fit whole. */
static int over_limit(const plan *p, uint64_t part_groups, sj_error *err) {
  return sj_fail(err, SJ_ENOMEM,
                 "one row group's part of the answer has more than %llu groups, more than the memory limit "
                 "allows for the hash plan, "
                 "which this query needs because the ranges of the %s side's GROUP BY columns need more than 62 "
                 "bits together and their distinct values are too many to number under the memory limit (the "
                 "merge plan, which streams and spills, packs them into one code)",
                 (unsigned long long)part_groups, p->by_side[0] == 0 && p->s[1].nby ? "right" : "left");
}

/* Adds the product of partial groups lr (of lt, the left side's table) and
** rr (of rt, the right side's) to its group in `answer`: count = cL·cR, a
** left aggregate's state repeated cR times, a right one's cL times. */
static int join_pair(const plan *p, agg_table *answer, uint64_t part_groups, const agg_table *lt, uint64_t *lr,
                     const agg_table *rt, uint64_t *rr, sj_error *err) {
  int64_t keys[MAX_BY];
  uint32_t nulls = 0;
  for (int i = 0; i < p->nby; i++) {
    int sd = p->by_side[i];
    const side *s = &p->s[sd];
    const uint64_t *row = sd == 0 ? lr : rr;
    const agg_table *t = sd == 0 ? lt : rt;
    int pos = 0;
    while (s->by_out[pos] != i) pos++;
    keys[i] = agg_row_keys(row)[1 + pos];
    if (agg_row_nulls(t, row) >> pos & 1) { keys[i] = 0; nulls |= 1u << i; }
  }
  uint64_t *g = agg_table_upsert(answer, keys, nulls);
  if (!g || answer->nrows > part_groups) return over_limit(p, part_groups, err);
  int64_t cl = *agg_row_count(lt, lr), cr = *agg_row_count(rt, rr);
  *agg_row_count(answer, g) += cl * cr;
  agg_state *st = agg_row_states(answer, g);
  for (int i = 0; i < p->nagg; i++) {
    if (p->fn[i] == F_COUNT_STAR) continue;
    int sd = p->agg_side[i];
    agg_state *src = agg_row_states(sd == 0 ? lt : rt, sd == 0 ? lr : rr) + p->agg_state[i];
    state_merge(&st[i], src, p->fn[i], p->agg_float[i], sd == 0 ? cr : cl);
  }
  return 0;
}

/* The right side's partial groups by key, for probing: open addressing
** from a key to the first of its rows in ri (the rows sorted by key). */
typedef struct key_index {
  struct { int64_t key; uint64_t at; } *slot; /* at = 1 + position in ri; 0 = empty */
  size_t mask;
} key_index;

static size_t key_slot(int64_t key, size_t mask) {
  return (size_t)(((uint64_t)key * 0x9E3779B97F4A7C15u) >> 17) & mask; /* Fibonacci hashing */
}

static int key_index_build(key_index *x, const agg_table *t, const uint32_t *ri) {
  size_t n = 16;
  while (n < 2 * t->nrows) n *= 2;
  x->mask = n - 1;
  if (!(x->slot = calloc(n, sizeof *x->slot))) return -1;
  for (size_t i = 0; i < t->nrows; i++) {
    int64_t key = agg_row_keys(agg_table_row(t, ri[i]))[0];
    if (i && agg_row_keys(agg_table_row(t, ri[i - 1]))[0] == key) continue;
    size_t h = key_slot(key, x->mask);
    while (x->slot[h].at) h = (h + 1) & x->mask;
    x->slot[h].key = key;
    x->slot[h].at = i + 1;
  }
  return 0;
}

/* The position in ri of key's first row; SIZE_MAX when the key is absent. */
static size_t key_index_find(const key_index *x, int64_t key) {
  for (size_t h = key_slot(key, x->mask);; h = (h + 1) & x->mask) {
    if (!x->slot[h].at) return SIZE_MAX;
    if (x->slot[h].key == key) return (size_t)x->slot[h].at - 1;
  }
}

/* --------------------------------------------------------- answer runs */

/* The order of the answer: by-columns ascending, NULLS LAST. */
static sj_order answer_order(const agg_table *t) {
  sj_order o = {.nulls = 1};
  for (int i = 0; i < t->nkeys; i++) sj_order_add(&o, 2 + i, i);
  return o;
}

typedef struct group_sort {
  const agg_table *t;
  sj_order order;
} group_sort;

static int cmp_groups(const void *a, const void *b, void *ctx) {
  const group_sort *g = ctx;
  return sj_order_cmp(&g->order, agg_table_row(g->t, *(const uint32_t *)a), agg_table_row(g->t, *(const uint32_t *)b));
}

/* Row indexes of the answer's groups in the answer's order. */
static uint32_t *sorted_groups(agg_table *answer) {
  uint32_t *ix = malloc((answer->nrows ? answer->nrows : 1) * sizeof *ix);
  if (!ix) return NULL;
  for (size_t i = 0; i < answer->nrows; i++) ix[i] = (uint32_t)i;
  group_sort g = {answer, answer_order(answer)};
  qsort_r(ix, answer->nrows, sizeof *ix, cmp_groups, &g);
  return ix;
}

/* When the hash plan's answer groups pass the memory limit, they are put,
** sorted, to the external sorter as a run, and the table starts again
** empty.  The answer is then the merge of the runs, equal groups folded in
** run order: runs are cut after whole morsels, in morsel order, so the
** answer is the same on any thread count. */
#define ANSWER_SPILL "the hash plan's spill" /* "... file" in messages */

static int spill_answer(const plan *p, agg_table *answer, sj_extsort **runs, sj_error *err) {
  int rc = 0;
  if (!*runs) {
    sj_order o = answer_order(answer);
    rc = sj_extsort_new(runs, answer->row_words, &o, p->q->temp_dir, ANSWER_SPILL, budget_share(p->mem, MEM_ANSWER),
                        p->q->stop, err);
  }
  uint32_t *ix = rc ? NULL : sorted_groups(answer);
  if (!rc && !ix) rc = sj_fail(err, SJ_ENOMEM, "out of memory");
  for (size_t i = 0; i < answer->nrows && !rc; i++) rc = sj_extsort_put(*runs, agg_table_row(answer, ix[i]), err);
  if (!rc) rc = sj_extsort_end_run(*runs, err);
  free(ix);
  if (rc) return rc;
  int nkeys = answer->nkeys, nstates = answer->nstates;
  agg_table_free(answer);
  return agg_table_init(answer, nkeys, nstates) ? sj_fail(err, SJ_ENOMEM, "out of memory") : 0;
}

/* The left side streamed: a window of morsels at a time, each aggregated by
** (key, its by-columns) and joined with the right side's partial groups
** into answer groups of its own, which are then folded into the answer in
** morsel order (the same answer, bit for bit, on any thread count).  The
** left side's partial groups are never held whole: memory is the right
** side's, the answer's, and the window's. */
typedef struct stream_job {
  scan_job scan;           /* the window's morsels and their partial tables */
  const agg_table *right;  /* the right side's partial groups */
  const uint32_t *ri;      /* their rows sorted by key */
  const key_index *index;  /* a key's first row in ri */
  agg_table *answers;      /* per morsel of the window */
  uint64_t *pairs, *groups, part_groups;
} stream_job;

static int stream_morsel(void *ctx, size_t i, int worker, sj_error *err) {
  stream_job *j = ctx;
  const plan *p = j->scan.p;
  const agg_table *rt = j->right;
  agg_table *lt = &j->scan.tables[i];
  int rc = scan_morsel(&j->scan, i, worker, err);
  if (!rc && agg_table_init(&j->answers[i], p->nby, p->nagg)) rc = sj_fail(err, SJ_ENOMEM, "out of memory");
  j->pairs[i] = 0;
  j->groups[i] = lt->nrows;
  enum { AHEAD = 16 }; /* many distinct keys probe a large index: fetch ahead */
  for (size_t x = 0; x < lt->nrows && !rc; x++) {
    if (x + AHEAD < lt->nrows)
      __builtin_prefetch(&j->index->slot[key_slot(agg_row_keys(agg_table_row(lt, x + AHEAD))[0], j->index->mask)]);
    uint64_t *lr = agg_table_row(lt, x);
    int64_t key = agg_row_keys(lr)[0];
    for (size_t at = key_index_find(j->index, key); at < rt->nrows && !rc; at++) {
      uint64_t *rr = agg_table_row(rt, j->ri[at]);
      if (agg_row_keys(rr)[0] != key) break;
      rc = join_pair(p, &j->answers[i], j->part_groups, lt, lr, rt, rr, err);
      j->pairs[i]++;
    }
  }
  agg_table_free(lt);
  return rc;
}

/* Folds answer group src into dst, a row of the same layout t. */
static void fold_group(const plan *p, const agg_table *t, uint64_t *dst, uint64_t *src) {
  *agg_row_count(t, dst) += *agg_row_count(t, src);
  agg_state *a = agg_row_states(t, dst), *b = agg_row_states(t, src);
  for (int k = 0; k < p->nagg; k++)
    if (p->fn[k] != F_COUNT_STAR) state_merge(&a[k], &b[k], p->fn[k], p->agg_float[k], 1);
}

/* Folds a morsel's answer groups into the answer. */
static int fold_answer(const plan *p, agg_table *answer, const agg_table *part, sj_error *err) {
  for (size_t i = 0; i < part->nrows; i++) {
    uint64_t *src = agg_table_row(part, i);
    uint64_t *dst = agg_table_upsert(answer, agg_row_keys(src), agg_row_nulls(part, src));
    if (!dst) return sj_fail(err, SJ_ENOMEM, "out of memory for the hash plan's answer groups");
    fold_group(p, answer, dst, src);
  }
  return 0;
}

/* The answer's groups end in `answer`, or in runs when they passed
** limit_groups (each morsel's own must fit in part_groups). */
static int stream_left(plan *p, agg_table *answer, sj_extsort **runs, uint64_t limit_groups, uint64_t part_groups,
                       uint64_t *pairs, uint64_t *groups, sj_error *err) {
  side *L = &p->s[0];
  const agg_table *rt = &p->s[1].partial;
  *pairs = *groups = 0;
  if (agg_table_init(answer, p->nby, p->nagg)) return sj_fail(err, SJ_ENOMEM, "out of memory");
  size_t nmorsels, window = 4 * (size_t)p->threads;
  morsel *morsels = NULL;
  int rc = list_morsels(L, &morsels, &nmorsels, err);
  if (!rc) rc = scan_check_morsels(p, L, morsels, nmorsels, err);
  uint32_t *ri = rc ? NULL : sorted_by_join_key(rt);
  key_index index = {NULL, 0};
  stream_job j = {{p, L, NULL, calloc(window, sizeof(agg_table))}, rt, ri, &index, calloc(window, sizeof(agg_table)),
                  calloc(window, sizeof(uint64_t)), calloc(window, sizeof(uint64_t)), part_groups};
  if (!rc && (!ri || key_index_build(&index, rt, ri) || !j.scan.tables || !j.answers || !j.pairs || !j.groups))
    rc = sj_fail(err, SJ_ENOMEM, "out of memory");
  for (size_t first = 0; first < nmorsels && !rc; first += window) {
    size_t n = nmorsels - first < window ? nmorsels - first : window;
    j.scan.morsels = morsels + first;
    rc = sj_pool_run(p->pool, n, stream_morsel, &j, err);
    for (size_t i = 0; i < n; i++) {
      if (!rc) rc = fold_answer(p, answer, &j.answers[i], err);
      if (!rc && answer->nrows > limit_groups) rc = spill_answer(p, answer, runs, err);
      *pairs += j.pairs[i];
      *groups += j.groups[i];
      agg_table_free(&j.answers[i]);
      agg_table_free(&j.scan.tables[i]);
    }
  }
  free(j.scan.tables);
  free(j.answers);
  free(j.pairs);
  free(j.groups);
  free(index.slot);
  free(ri);
  free(morsels);
  return rc;
}

/* ---------------------------------------------------------------- finish */

enum { HASH_CHUNK_ROWS = 1 << 18 };

/* The answer's rows, in order, into chunks of HASH_CHUNK_ROWS encoded and
** written as they fill. */
typedef struct answer_writer {
  plan *p;
  const agg_table *layout;
  out_sink *sink;
  out_chunk c;
  pq_scratch *scratch;
  uint64_t rows;
} answer_writer;

static int flush_rows(answer_writer *w, sj_error *err) {
  out_blob b = {0};
  int rc = out_encode(w->sink, &w->c, 1, w->scratch, &b, err);
  if (!rc) rc = out_write(w->sink, &b, err);
  w->c.rows = 0;
  return rc;
}

static int put_row(answer_writer *w, uint64_t *row, sj_error *err) {
  chunk_put(w->p, &w->c, agg_row_keys(row), agg_row_nulls(w->layout, row), *agg_row_count(w->layout, row),
            agg_row_states(w->layout, row));
  w->rows++;
  return w->c.rows == HASH_CHUNK_ROWS ? flush_rows(w, err) : 0;
}

/* The runs merged, equal groups folded in the order the sorter gives them:
** run order. */
static int merge_runs_out(sj_extsort *runs, answer_writer *w, sj_error *err) {
  const agg_table *t = w->layout;
  size_t rw = t->row_words;
  sj_order o = answer_order(t);
  uint64_t *acc = malloc(rw * 8);
  int rc = acc ? sj_extsort_merge(runs, err) : sj_fail(err, SJ_ENOMEM, "out of memory merging the hash plan's runs");
  int have_acc = 0;
  const uint64_t *row;
  while (!rc && !(rc = sj_extsort_next(runs, &row, err)) && row) {
    if (have_acc && sj_order_cmp(&o, acc, row) == 0) {
      fold_group(w->p, t, acc, (uint64_t *)row);
    } else {
      if (have_acc) rc = put_row(w, acc, err);
      memcpy(acc, row, rw * 8);
      have_acc = 1;
    }
  }
  if (have_acc && !rc) rc = put_row(w, acc, err);
  free(acc);
  return rc;
}

/* Writes the answer's groups, sorted, in chunks: from the table, or the
** table spilled as the last run and all runs merged. */
static int write_answer(plan *p, agg_table *answer, sj_extsort **runs, const out_schema *schema, out_sink *sink,
                        uint64_t *rows_out, sj_error *err) {
  /* No GROUP BY: one row even when nothing joined, as SQL has it. */
  if (p->nby == 0 && answer->nrows == 0 && !*runs) {
    int64_t none = 0;
    if (!agg_table_upsert(answer, &none, 0)) return sj_fail(err, SJ_ENOMEM, "out of memory");
  }
  answer_writer w = {p, answer, sink, {0}, pq_scratch_new(), 0};
  chunk_init(&w.c, schema);
  int rc = w.scratch && !chunk_reserve(&w.c, HASH_CHUNK_ROWS) ? 0 : sj_fail(err, SJ_ENOMEM, "out of memory");
  if (!rc && *runs) {
    if (answer->nrows) rc = spill_answer(p, answer, runs, err);
    if (!rc) rc = merge_runs_out(*runs, &w, err);
  } else if (!rc) {
    uint32_t *ix = sorted_groups(answer);
    if (!ix) rc = sj_fail(err, SJ_ENOMEM, "out of memory");
    for (size_t i = 0; ix && i < answer->nrows && !rc; i++) rc = put_row(&w, agg_table_row(answer, ix[i]), err);
    free(ix);
  }
  if (!rc && w.c.rows) rc = flush_rows(&w, err);
  *rows_out = w.rows;
  chunk_free(&w.c);
  pq_scratch_free(w.scratch);
  return rc;
}

/* The hash plan: the right side's partial groups in a table, the left side
** streamed against them into a table of the answer's groups (spilled as
** sorted runs past half the memory limit), sorted or merged, written. */
int hash_run(plan *p, out_sink *sink, const out_schema *schema, plan_report *rep, sj_error *err) {
  double t0 = sj_clock();
  agg_table answer;
  memset(&answer, 0, sizeof answer);
  sj_extsort *runs = NULL; /* once the answer's groups spill */
  uint64_t pairs = 0, left_groups = 0;
  double t_right = 0, t_left = 0;
  int rc = scan_side(p, &p->s[1], err);
  if (!rc) {
    t_right = (sj_clock() - t0);
    size_t group_bytes = (((size_t)p->nby + 4) & ~(size_t)1) * 8 + 32 * (size_t)p->nagg + 8;
    /* half the limit for the answer's table, the rest for the window's own (at least 2^16 groups each) */
    uint64_t limit_groups = budget_share(p->mem, MEM_ANSWER) / group_bytes, window = 4 * (uint64_t)p->threads;
    uint64_t part_groups = limit_groups / window > 1 << 16 ? limit_groups / window : 1 << 16;
    rc = stream_left(p, &answer, &runs, limit_groups, part_groups, &pairs, &left_groups, err);
    t_left = (sj_clock() - t0) - t_right;
  }
  if (!rc) rc = write_answer(p, &answer, &runs, schema, sink, &rep->rows_out, err);
  if (!rc) {
    side *L = &p->s[0], *R = &p->s[1];
    char lg[1200], rg[1200], spilled[160] = "";
    if (runs)
      snprintf(spilled, sizeof spilled, "; spilled past the memory limit as %zu sorted run%s (%.1f MB), merged",
               sj_extsort_runs(runs), sj_extsort_runs(runs) == 1 ? "" : "s", (double)sj_extsort_bytes(runs) / 1e6);
    side_grouping(p, L, lg, sizeof lg);
    side_grouping(p, R, rg, sizeof rg);
    snprintf(rep->text, sizeof rep->text,
             "plan: hash (GROUP BY pushed below the join on both sides; the answer's groups in a table)\n"
             "  right  %d files, %llu rows scanned -> %zu partial groups by (%s), held\n"
             "  left   %d files, %llu rows scanned -> %llu partial groups by (%s), row group by row group, "
             "streamed against them\n"
             "  join   %llu pairs of partial groups on %s -> %llu answer groups%s\n"
             "  time   right %.3f s, left and join %.3f s, total %.3f s on %d threads\n",
             R->nfiles, (unsigned long long)R->rows_scanned, R->partial.nrows, rg, L->nfiles,
             (unsigned long long)L->rows_scanned, (unsigned long long)left_groups, lg, (unsigned long long)pairs,
             p->q->on, (unsigned long long)rep->rows_out, spilled, t_right, t_left, (sj_clock() - t0), p->threads);
  }
  sj_extsort_free(runs);
  agg_table_free(&answer);
  return rc;
}

