/*
** query.c — the driver: sj_query_run opens the plan (plan.c), picks the plan
** that answers it and streams its answer to the sink.
**
** SUM and COUNT distribute over the join, so the joined rows are never
** built (Yan & Larson, VLDB 1995): each side is aggregated by (key, its
** by-columns), and a pair of partial groups with the same key contributes
** count = cL·cR and sum = sumL·cR to its answer group.  When the GROUP BY is
** one side's columns then the other's (the notebook's queries), merge.c's
** plan streams the answer and its size does not matter; the driver prefers
** it.  A by-list that interleaves the sides runs the same way, its columns
** reordered, into a sorting sink (sort.c).  Otherwise the hash plan
** (hash.c); --materialize writes the joined rows themselves (materialize.c).
*/
#include "hash.h"
#include "materialize.h"
#include "layout.h"
#include "merge.h"
#include "sort.h"
#include "keys.h"

#include <stdlib.h>

/* Adds an --explain line to the plan's text when it fits whole. */
static void append_line(char *text, size_t size, const char *line) {
  size_t used = strlen(text), more = strlen(line);
  if (used + more < size) memcpy(text + used, line, more + 1);
}

int sj_query_run(const sj_query *q, sj_query_report *report, sj_error *err) {
  memset(report, 0, sizeof *report);
  plan *p = calloc(1, sizeof *p);
  if (!p) return sj_fail(err, SJ_ENOMEM, "out of memory");
  int user_pos[MAX_BY + MAX_AGGS];
  int rc = plan_open(p, q, NULL, 0, err), resort = !rc && !q->materialize && plan_right_first(p, user_pos);
  if (!rc) rc = plan_strings(p, err);
  if (!rc && !q->materialize) rc = merge_domains(p, 1, err);
  out_schema *schema = calloc(2, sizeof *schema), *final = schema ? schema + 1 : NULL;
  plan_report *rep = calloc(1, sizeof *rep);
  out_sink *sink = NULL, *sorting = NULL;
  char sorted[1600] = "";
  if (!rc && (!schema || !rep)) rc = sj_fail(err, SJ_ENOMEM, "out of memory");
  if (!rc && q->materialize) {
    rc = materialize_run(p, q->materialize, rep, err);
  } else if (!rc) {
    plan_schema(p, schema);
    *final = *schema;
    if (resort) /* the user's column order */
      for (int c = 0; c < schema->ncols; c++) {
        int j = user_pos[c];
        memcpy(final->names[j], schema->names[c], sizeof final->names[j]);
        final->kinds[j] = schema->kinds[c];
        final->nullable[j] = schema->nullable[c];
        final->lt[j] = schema->lt[c];
        if (c < p->nby) final->dict[j] = schema->dict[c];
      }
    rc = out_open(&sink, q->out, q->csv ? q->csv : stdout, final, err);
    if (!rc && resort) { /* a quarter of the memory limit for sorting, the rest for the plan */
      sort_budget b = {budget_carve(p->mem, MEM_SORT), p->mem, q->temp_dir, q->stop, p->pool, q->progress, q->progress_ctx};
      rc = out_open_sorted(&sorting, sink, schema, final, user_pos, p->nby, &b, err);
    }
    out_sink *to = sorting ? sorting : sink;
    if (!rc) rc = merge_applies(p) ? merge_run(p, to, schema, rep, err) : hash_run(p, to, schema, rep, err);
    if (sorting) {
      if (rc) out_abort(sorting);
      else rc = out_close(sorting, sorted, sizeof sorted, err);
    }
    if (sink) {
      if (rc) out_abort(sink);
      else rc = out_close(sink, NULL, 0, err);
    }
  }
  if (!rc) {
    report->rows = rep->rows_out;
    snprintf(report->plan, sizeof report->plan, "%s", rep->text);
    char memory[400];
    budget_explain(p->mem, memory, sizeof memory);
    append_line(report->plan, sizeof report->plan, sorted);
    append_line(report->plan, sizeof report->plan, memory);
  }
  free(schema);
  free(rep);
  plan_close(p);
  free(p);
  return rc;
}
