/*
** runs.h — the merge plan's sorted runs (runs.c): entries of (code, count,
** states) per key, sorted by code, in memory or spilled; the inner scan
** that makes them and the combine that folds a key's runs into one.
*/
#ifndef QUERY_RUNS_H
#define QUERY_RUNS_H

#include "input.h"
#include "layout.h"

/* Spilled runs keep the code of every IDX_STRIDE-th entry in memory: the
** blocks a unit's code range needs are found from it (runs.c writes it,
** tiles.c reads by it). */
enum { IDX_STRIDE = 32 };
#define SPILL_FILE "the merge plan's spill" /* "... file" in messages */

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

#endif
