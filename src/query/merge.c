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

#include <stdlib.h>

/* --------------------------------------------------------------- the plan */

int merge_run(plan *p, out_sink *sink, const out_schema *schema, plan_report *rep, sj_error *err) {
  double t0 = sj_clock();
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
  if (!rc) rc = merge_scan(p, &lay, morsels, nmorsels, in->rows_scanned * ew * 8 > budget_share(p->mem, MEM_RUNS), &runs, err);
  if (!rc) /* the entries in memory, or the spilled runs' sparse indexes */
    budget_hold(p->mem, MEM_RUNS, (int64_t)(runs.spill_fd < 0 ? runs.nentries * ew * 8 : runs.nentries / IDX_STRIDE * 8));
  double t_inner = (sj_clock() - t0);
  merge_groups groups = {0};
  if (!rc) rc = merge_groupings(p, &lay, &groups, err);
  double t_outer = (sj_clock() - t0) - t_inner;
  if (!rc) { /* both sides are scanned */
    side_close_files(in);
    side_close_files(out);
  }
  merge_range all = {0, UINT32_MAX, 0, UINT64_MAX};
  if (!rc) rc = merge_write(p, &lay, &runs, &groups, &all, sink, schema, &st, err);
  if (!rc) {
    char spilled[300] = "";
    if (runs.spill_fd >= 0)
      snprintf(spilled, sizeof spilled,
               "  spill  the runs (%.1f MB) went to a temporary file (removed) under the memory limit of %.0f MB;\n"
               "         read back in %llu pieces\n",
               (double)runs.spill_bytes / 1e6, (double)p->mem->rest / 1048576.0,
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
             t_outer, st.t_merge, (sj_clock() - t0), p->threads);
  }
  merge_groups_free(&groups);
  merge_runs_free(&runs);
  free(morsels);
  return rc;
}
