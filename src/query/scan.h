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

/* The columns a scan of side s reads into names: the join key, the side's
** by-columns, the columns its aggregates read; returns how many. */
int scan_columns(const plan *p, const side *s, const char **names);
/* About what a scan holds while it decodes and aggregates morsel (r, rg):
** the column chunks as stored and uncompressed, their values, the sort's
** pairs and an entry per row.  Scans hold it of the budget's MEM_SCAN
** share (budget_wait) from decoding the morsel until its rows are folded. */
uint64_t scan_morsel_bytes(const plan *p, const side *s, const pq_reader *r, int rg);
/* Sets the MEM_SCAN share, and refuses (out of memory, naming the file and
** row group) a side with a morsel whose scan alone would pass the memory
** limit (at least 64 MB): before anything of it is read. */
int scan_check_morsels(plan *p, const side *s, const morsel *m, size_t n, sj_error *err);

/* Reads the named columns of a morsel for a scan: names[0] is the join key,
** read as int64 (string keys as ids of p->keys), string by-columns as ids of
** their dictionaries; on failure frees what it read. */
int read_scan_columns(const plan *p, const pq_reader *r, int rg, const char *const *names, int n, numcol *cols,
                      sj_error *err);

#endif
