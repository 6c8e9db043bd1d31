/*
** layout.c — the merge plan's code layout: how the inner side's by-columns
** pack into one integer code (value − lo in `width` bits, the first column
** in the high bits, NULL as the value after the domain's last, so codes sort
** as the columns do, NULLS LAST); each column's domain from the files'
** statistics or, for files written without them, from a parallel pass over
** its values; integer columns too wide to pack read as ranks; and whether
** the merge plan applies at all.
*/
#include "layout.h"
#include "input.h"
#include "keys.h"
#include "ranks.h"

#include <stdlib.h>

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
    int w = radix_bits(values + (uint64_t)(nullable[j] != 0));
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
  double t0 = sj_clock();
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
  p->domain_seconds = (sj_clock() - t0);
  return rc;
}

/* While the inner columns' domains do not pack, the widest integer column
** becomes ranks; if that cannot make them fit, no column does. */
static int rank_wide_columns(plan *p, side *in, sj_error *err) {
  merge_layout lay;
  double t0 = sj_clock();
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
    rc = rank_dict_build(p, in, in->by[widest], budget_share(p->mem, MEM_RANKS), &p->by_rank[i], err);
    if (rc || !p->by_rank[i]) break;
    size_t n = rank_dict_size(p->by_rank[i]);
    p->by_bounded[i] = 1;
    p->by_lo[i] = 0;
    p->by_hi[i] = n ? (int64_t)n - 1 : 0;
  }
  p->rank_seconds = (sj_clock() - t0);
  if (!rc && merge_layout_make(p, &lay)) {
    for (int k = 0; k < in->nby; k++) { /* the dictionaries stay for the scan and the output: less for the rest */
      const rank_dict *d = p->by_rank[in->by_out[k]];
      uint64_t held = d ? 8 * (uint64_t)rank_dict_size(d) : 0;
      budget_keep(p->mem, MEM_RANKS, held);
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

