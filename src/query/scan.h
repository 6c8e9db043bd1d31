/*
** scan.h — a side aggregated by (key, its by-columns) (scan.c).
*/
#ifndef QUERY_SCAN_H
#define QUERY_SCAN_H

#include "input.h"

/* Morsels aggregated by (key, the side's by-columns) (scan.c): a pool task
** over a scan_job puts morsel m's groups in tables[m]; the hash plan's
** left side streams through it a window at a time. */
typedef struct scan_job {
  plan *p;
  side *s;
  morsel *morsels;
  agg_table *tables; /* one per morsel */
} scan_job;
int scan_morsel(void *ctx, size_t m, int worker, sj_error *err);

/* Aggregates one side by (key, its by-columns) into s->partial (the hash
** plan's right side, and the outer side of the merge plan). */
int scan_side(plan *p, side *s, sj_error *err);

/* Reads the named columns of a morsel for a scan: names[0] is the join key,
** read as int64 (string keys as ids of p->keys), string by-columns as ids of
** their dictionaries; on failure frees what it read. */
int read_scan_columns(const plan *p, const pq_reader *r, int rg, const char *const *names, int n, numcol *cols,
                      sj_error *err);

#endif
