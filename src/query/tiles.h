/*
** tiles.h — the merge plan's merge (tiles.c): the outer side sorted into
** groupings, and the answer rows of a range of groupings and codes, merged
** from the runs and streamed to a sink.
*/
#ifndef QUERY_TILES_H
#define QUERY_TILES_H

#include "output.h"
#include "runs.h"

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

#endif
