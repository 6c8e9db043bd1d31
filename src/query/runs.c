/*
** runs.c — the merge plan's inner scan: every morsel of the inner side
** aggregated by (key, code) into one sorted run per key — radix-sorted, or,
** for a morsel of one key with a small code domain (a per-key file by
** bucket), folded into an array indexed by code (direct_into_run).  Under a
** memory limit the runs are appended to an unlinked temporary file with a
** sparse index of their codes (one every IDX_STRIDE entries) in memory, and
** consecutive row groups of one file are first combined into one run per
** key.  merge_combine folds a key's runs into one (the distributed combine).
*/
#include "runs.h"
#include "ranks.h"
#include "scan.h"

#include <pthread.h>
#include <stdlib.h>

/* A morsel of one key whose codes have at most DIRECT_BITS bits, and at
** most twice as many codes as rows, is aggregated in an array indexed by
** code (direct_into_run), not sorted. */
enum { DIRECT_BITS = 16 };
/* ------------------------------------------------------------ inner scan */

typedef struct inner_job {
  plan *p;
  const merge_layout *lay;
  side *s;
  const morsel *morsels;
  mpart *parts;
  struct inner_worker {
    radix_pair *pairs[2]; /* sort_into_runs' pairs and the radix sort's other half */
    size_t pairs_cap;
    uint64_t *slots;      /* direct_into_run's entries by code */
    size_t slots_cap;     /* words */
  } *w;                   /* one per worker of the pool */
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
  int rc = sj_temp_write(j->spill_fd, part->entries, len, at, SPILL_FILE, err);
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
  const radix_pair *a = x, *b = y;
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
static uint64_t direct_into_run(inner_job *j, size_t m, int worker, const numcol *cols, const radix_pair *codes,
                                uint64_t live, int64_t key, int *rc, sj_error *err) {
  const plan *p = j->p;
  const side *s = j->s;
  int nby = s->nby, ns = s->nstates;
  size_t ew = entry_words(ns), nslots = (size_t)1 << j->lay->bits;
  mpart *part = &j->parts[m];
  struct inner_worker *w = &j->w[worker];
  if (w->slots_cap < nslots * ew) {
    free(w->slots);
    w->slots = malloc(nslots * ew * 8);
    w->slots_cap = w->slots ? nslots * ew : 0;
    if (!w->slots) {
      *rc = sj_fail(err, SJ_ENOMEM, "out of memory aggregating the %s side", s->what);
      return 0;
    }
  }
  uint64_t *slots = w->slots;
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
  struct inner_worker *w = &j->w[worker];
  if (w->pairs_cap < rows) {
    for (int b = 0; b < 2; b++) {
      free(w->pairs[b]);
      w->pairs[b] = malloc((size_t)rows * sizeof(radix_pair));
    }
    w->pairs_cap = w->pairs[0] && w->pairs[1] ? rows : 0;
    if (!w->pairs_cap) {
      *rc = sj_fail(err, SJ_ENOMEM, "out of memory sorting the %s side", s->what);
      return 0;
    }
  }
  radix_pair *pairs = w->pairs[0];
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
  int key_bits = live ? radix_bits(key_span + 1) : 0;
  radix_pair *sorted = pairs;
  if (!*rc && live) {
    if (key_bits + lay->bits <= 64) {
      for (uint64_t i = 0; i < live; i++)
        pairs[i].k |= key_bits ? (uint64_t)(num_i(&cols[0], pairs[i].a) - kmin) << lay->bits : 0;
      sorted = radix_sort(pairs, w->pairs[1], live, key_bits + lay->bits);
    } else {
      qsort_r(pairs, live, sizeof *pairs, cmp_pair_wide, (void *)&cols[0]);
    }
  }
  /* Runs of equal (key, code) become entries; runs of one key, an mrun. */
  uint64_t nentries = 0, nkeys = 0, nruns = 0;
  for (uint64_t i = 0; i < live && !*rc; i++) {
    int new_key = i == 0 || num_i(&cols[0], sorted[i].a) != num_i(&cols[0], sorted[i - 1].a);
    nkeys += new_key;
    nentries += new_key || sorted[i].k != sorted[i - 1].k;
  }
  if (!*rc && nentries) {
    part->entries = calloc(nentries, ew * 8);
    part->runs = malloc(sizeof *part->runs * (size_t)nkeys);
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
  assert(*rc || nruns == nkeys);
  part->nruns = nruns;
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
  radix_pair *refs[2] = {malloc((most ? most : 1) * sizeof(radix_pair)), malloc((most ? most : 1) * sizeof(radix_pair))};
  int rc = !one->entries || !one->runs || !refs[0] || !refs[1] ? sj_fail(err, SJ_ENOMEM, "out of memory combining runs") : 0;
  uint64_t *at = one->entries;
  int over = 0;
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
      for (uint32_t e = 0; e < runs[q].n; e++) refs[0][k++] = (radix_pair){runs[q].e[(size_t)e * ew], (uint32_t)q, e};
    radix_pair *sorted = radix_sort(refs[0], refs[1], k, lay->bits); /* stable: runs fold in order */
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
      int64_t count;
      over |= __builtin_add_overflow((int64_t)e[1], (int64_t)src[1], &count);
      e[1] = (uint64_t)count;
      for (int st = 0; st < nstates; st++)
        over |= state_merge((agg_state *)(e + 2) + st, (const agg_state *)(src + 2) + st, fn[st], is_float[st], 1);
    }
  }
  if (!rc && over)
    rc = sj_fail(err, SJ_ECORRUPT, "combining runs: a count passes int64, or an integer sum 128 bits: partials that "
                 "claim more rows than there can be");
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
  int rg = j->morsels[m].rg, nby = s->nby;
  const char *names[1 + MAX_BY + MAX_AGGS];
  numcol cols[1 + MAX_BY + MAX_AGGS];
  int need = scan_columns(p, s, names);
  uint64_t held = scan_morsel_bytes(p, s, r, rg);
  budget_wait(p->mem, MEM_SCAN, held);
  int rc = read_scan_columns(p, r, rg, names, need, cols, err);
  for (int c = 0; c < nby && !rc; c++)
    if (p->by_rank[s->by_out[c]]) rc = rank_dict_map(p->by_rank[s->by_out[c]], &cols[1 + c].raw, pq_path(r), err);
  if (rc) {
    for (int c = 0; c < need; c++) pq_column_free(&cols[c].raw);
    budget_give(p->mem, MEM_SCAN, held);
    return rc;
  }
  uint64_t rows = (uint64_t)pq_rowgroup_rows(r, rg);
  *nentries = 1;
  if (!one_key_one_entry(j, m, cols, rows, &rc, err)) *nentries = sort_into_runs(j, m, worker, cols, rows, r, rg, &rc, err);
  for (int c = 0; c < need; c++) pq_column_free(&cols[c].raw);
  budget_give(p->mem, MEM_SCAN, held);
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
  int checked = scan_check_morsels(p, &p->s[lay->inner], m, n, err);
  if (checked) return checked;
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
  ij->w = calloc((size_t)sj_pool_threads(p->pool), sizeof *ij->w);
  if (!(ij->parts = calloc(n ? n : 1, sizeof *ij->parts)) || !group_at || !ij->w)
    rc = sj_fail(err, SJ_ENOMEM, "out of memory");
  uint64_t group_rows = spill ? budget_share(p->mem, MEM_COMBINE) / (entry_words(ij->s->nstates) * 8) : 0, rows = 0;
  for (size_t i = 0; !rc && i < n; i++) {
    uint64_t r = (uint64_t)pq_rowgroup_rows(ij->s->files[m[i].file], m[i].rg);
    if (!spill || i == 0 || m[i].file != m[i - 1].file || rows + r > group_rows) {
      group_at[ngroups++] = i;
      rows = 0;
    }
    rows += r;
  }
  if (group_at) group_at[ngroups] = n;
  ij->group_at = group_at;
  if (!rc && spill) rc = sj_temp_open(p->q->temp_dir, SPILL_FILE, &ij->spill_fd, err);
  if (!rc) rc = sj_pool_run(p->pool, ngroups, scan_inner_group, ij, err);
  free(group_at);
  for (int w = 0; ij->w && w < sj_pool_threads(p->pool); w++) {
    free(ij->w[w].pairs[0]);
    free(ij->w[w].pairs[1]);
    free(ij->w[w].slots);
  }
  free(ij->w);
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
