/*
** merge.h — the merge plan's stages, shared by merge.c (one process runs
** them all) and dist.c (a scheduler such as Dask runs them as tasks on many
** machines, the runs crossing process boundaries as bytes).
**
**   merge_layout   how the inner side's by-columns pack into one code
**   merge_scan     morsels of the inner side -> sorted runs per key
**   merge_combine  a key's runs -> one run (equal codes folded)
**   merge_write    runs + the outer side -> the answer rows of a range of
**                  groupings and codes, streamed to a sink
*/
#ifndef QUERY_MERGE_H
#define QUERY_MERGE_H

#include "input.h"
#include "output.h"

enum { MAX_CODE_BITS = 62 };
/* Spilled runs keep the code of every IDX_STRIDE-th entry in memory: the
** blocks a unit's code range needs are found from it (runs.c writes it,
** tiles.c reads by it). */
enum { IDX_STRIDE = 32 };
#define SPILL_FILE "the merge plan's spill" /* "... file" in messages */

/* How the inner by-columns pack into a code: value − lo in `width` bits,
** first column in the high bits, NULL as hi − lo + 1 (NULLS LAST). */
typedef struct merge_layout {
  int outer, inner; /* side indexes */
  int ncols;
  int64_t lo[MAX_BY], hi[MAX_BY];
  uint64_t null_code[MAX_BY];
  int width[MAX_BY], shift[MAX_BY];
  int bits;
} merge_layout;

/* An entry of a run: [code][count][states…], 16 + 32·states bytes. */
static inline size_t entry_words(int nstates) { return 2 + 4 * (size_t)nstates; }

/* The first of n entries (ew words each, sorted by code) whose code is at
** least `code`; e + n·ew when none is. */
static inline const uint64_t *entry_lower_bound(const uint64_t *e, size_t n, size_t ew, uint64_t code) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (e[mid * ew] < code) lo = mid + 1;
    else hi = mid;
  }
  return e + lo * ew;
}

/* The same, for a code expected near the start: steps of 1, 2, 4 … entries,
** then a binary search in the last step — a few probes, all close to e. */
static inline const uint64_t *entry_gallop(const uint64_t *e, size_t n, size_t ew, uint64_t code) {
  size_t lo = 0, step = 1;
  while (lo + step <= n && e[(lo + step - 1) * ew] < code) {
    lo += step;
    step *= 2;
  }
  size_t hi = lo + step <= n ? lo + step - 1 : n;
  return entry_lower_bound(e + lo * ew, hi - lo, ew, code);
}

/* The same, from a guess g < n of where the code is: steps of 1, 2, 4 …
** entries away from e[g] toward it, then a binary search in the last step. */
static inline const uint64_t *entry_search_near(const uint64_t *e, size_t n, size_t ew, uint64_t code, size_t g) {
  assert(g < n);
  if (e[g * ew] < code) return entry_gallop(e + (g + 1) * ew, n - g - 1, ew, code);
  size_t hi = g, step = 1; /* e[hi] >= code */
  while (hi >= step && e[(hi - step) * ew] >= code) {
    hi -= step;
    step *= 2;
  }
  size_t lo = hi >= step ? hi - step + 1 : 0; /* e[lo - 1] < code */
  return entry_lower_bound(e + lo * ew, hi - lo, ew, code);
}

/* One key's entries from one morsel (or one partial), sorted by code. */
typedef struct mrun {
  int64_t key;
  uint32_t morsel;
  uint32_t n;
  uint64_t *e;
  uint64_t off;        /* spilled: the byte offset of the run in the spill file */
  const uint64_t *idx; /* spilled: the code of every IDX_STRIDE-th entry */
} mrun;

/* The owner of some runs' entries. */
typedef struct mpart {
  uint64_t *entries;
  uint64_t *index; /* spilled runs' sparse indexes */
  mrun *runs;
  size_t nruns;
} mpart;

/* The inner side as sorted runs: runs[] ordered by (key, morsel); the
** entries belong to parts[]. */
typedef struct merge_runs {
  mpart *parts;
  size_t nparts;
  mrun *runs;
  size_t nruns;
  uint64_t nentries;
  int spill_fd; /* >= 0: the entries are in this unlinked file */
  uint64_t spill_bytes;
} merge_runs;

/* What merge_write covers: groupings [g0, g1) in their sorted order, codes
** [c0, c1).  The whole answer: {0, UINT32_MAX, 0, UINT64_MAX}. */
typedef struct merge_range {
  uint32_t g0, g1;
  uint64_t c0, c1;
} merge_range;

/* What merge_write did, for --explain. */
typedef struct merge_stats {
  uint64_t rows_out, est_rows, spill_reads;
  size_t ngroupings, nunits, ntiles;
  double t_merge;
} merge_stats;

/* 1 and the layout when the merge plan applies (see merge_applies). */
int merge_layout_make(const plan *p, merge_layout *lay);
/* Widths and shifts from ncols, lo, hi and which columns may be NULL;
** 0 when they do not fit in MAX_CODE_BITS. */
int merge_layout_pack(merge_layout *lay, const int *nullable);

/* Scans morsels [0, n) of the inner side into runs; with `spill`, the
** entries go to an unlinked file in the plan's temp directory. */
int merge_scan(plan *p, const merge_layout *lay, const morsel *m, size_t n, int spill, merge_runs *out,
               sj_error *err);
/* Replaces each key's runs (in memory) by one; fn[i] and is_float[i]: what
** state i of an entry holds. */
int merge_combine(const merge_layout *lay, int nstates, const agg_fn *fn, const int *is_float, merge_runs *r,
                  sj_error *err);
/* Sorts runs by (key, morsel), counts entries: after filling runs by hand. */
void merge_runs_index(merge_runs *r);
void merge_runs_free(merge_runs *r);

/* The outer side's partial groups (s->partial) in answer order, and where
** each grouping starts: grouping g is order[start[g] .. start[g + 1]). */
typedef struct merge_groups {
  uint32_t *order;
  size_t *start;
  size_t n;
} merge_groups;

/* Scans the outer side into its partial groups and sorts them into groupings. */
int merge_groupings(plan *p, const merge_layout *lay, merge_groups *g, sj_error *err);
void merge_groups_free(merge_groups *g);

/* Streams the answer rows of `range` to the sink: the runs merged over the
** groupings (from merge_groupings). */
int merge_write(const plan *p, const merge_layout *lay, const merge_runs *r, const merge_groups *groups,
                const merge_range *range, out_sink *sink, const out_schema *schema, merge_stats *st, sj_error *err);

/* 1 when the merge plan applies: the by-list is one side's columns then the
** other's (either may be empty; the join key counts as either), and the inner
** side's columns pack into 62 bits by their domains (statistics, else
** merge_domains). */
int merge_applies(const plan *p);
/* The merge plan's inner by-columns that no statistics bound: their domains
** (and whether they hold NULLs) from one parallel pass over their values, so
** that the plan applies to files written without statistics; then, while
** the domains are too wide to pack and `ranks` is set, the widest integer
** column is read as ranks (p->by_rank).  A no-op for other plans; after
** plan_strings. */
int merge_domains(plan *p, int ranks, sj_error *err);
int merge_run(plan *p, out_sink *sink, const out_schema *schema, plan_report *rep, sj_error *err);

#endif
