/*
** plan.h — the plan of a query (plan.c): which columns and aggregates each
** side holds, how the by-list maps to the answer, the query's workers and
** memory limit; opened once per query (or distributed task) and read by
** every stage after it.
**
** The query's files, from the driver down (each header names what its
** file offers):
**   query.c        the driver: picks the plan, streams its answer to a sink
**   dist.c         the merge plan's stages as tasks (partials as bytes)
**   merge.c        the merge plan (merge.h): layout.c packs the codes,
**                  runs.c scans the inner side into runs, tiles.c merges
**   materialize.c  --materialize; hash.c: the hash plan
**   scan.c         a side aggregated by (key, by-columns)
**   sort.c         the sorting sink: an answer put in the by-list's order
**   output.c       chunks, the CSV and Parquet sinks, the ordered pipeline
**   keys.c ranks.c strings as ids, wide integers as ranks
**   input.c        files, morsels and decoded columns (column.h)
**   plan.c         this plan; budget.c: the memory limit's shares
**   agg.c          group tables and aggregate states
*/
#ifndef QUERY_PLAN_H
#define QUERY_PLAN_H

#include "agg.h"
#include "budget.h"
#include "../util/alloc.h"
#include "../util/clock.h"
#include "../util/io.h"
#include "../util/order.h"
#include "../util/pool.h"
#include "../util/radix.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

enum { MAX_BY = 16, MAX_AGGS = 16 };
_Static_assert(MAX_BY + 1 <= SJ_ORDER_MAX, "an order holds the join key and every GROUP BY column");

typedef struct side {
  const char *what; /* "left" or "right" */
  pq_reader **files;
  int nfiles;
  int nby;                  /* by-columns held by this side */
  char by[MAX_BY][64];
  int by_out[MAX_BY];       /* position in the answer's by-list */
  int nstates;
  int state_agg[MAX_AGGS];  /* which aggregate each state serves */
  char state_col[MAX_AGGS][64];
  int state_is_float[MAX_AGGS];
  agg_table partial;        /* hash plan: (key, by…) → count, states */
  uint64_t rows_scanned;
} side;

typedef struct key_dict key_dict;
typedef struct rank_dict rank_dict;

typedef struct plan {
  const sj_query *q;
  key_dict *keys; /* string join keys: their ids; NULL for integer keys */
  side s[2];
  int nby;
  char by[MAX_BY][64];
  int by_side[MAX_BY]; /* 0/1; the join key is put on one side (key_sides) */
  /* String by-columns, read as ids in byte order: their dictionaries (the
  ** join key's is `keys`, shared), from plan_strings; NULL for integers. */
  key_dict *by_dict[MAX_BY];
  int by_nullable[MAX_BY];
  /* Integer by-columns of the merge plan's inner side whose files state no
  ** bounds: by_bounded[i] = 1 when [by_lo, by_hi] holds column i's values,
  ** from a pass over them (merge_domains) or from the distributed plan. */
  int by_bounded[MAX_BY];
  int64_t by_lo[MAX_BY], by_hi[MAX_BY];
  /* Inner integer by-columns too wide to pack: read as ranks of their
  ** distinct values (ranks.c, from merge_domains); NULL for the others. */
  rank_dict *by_rank[MAX_BY];
  uint32_t scanned; /* bit i: by-column i's domain came from its values */
  double domain_seconds, rank_seconds;
  int nagg;
  agg_fn fn[MAX_AGGS];
  char agg_col[MAX_AGGS][64];
  int agg_side[MAX_AGGS];
  int agg_state[MAX_AGGS]; /* index into its side's states */
  int agg_float[MAX_AGGS];
  int agg_nullable[MAX_AGGS]; /* its input column may hold NULLs */
  /* What the columns' integers stand for (DATE, TIME, TIMESTAMP, DECIMAL):
  ** a by-column's, an aggregate's input column's. */
  pq_logical by_lt[MAX_BY], agg_lt[MAX_AGGS];
  int threads;
  sj_pool *pool;  /* the query's workers, from plan_open to plan_close */
  budget *mem;    /* the memory limit's shares (budget.h) */
} plan;

/* Opens both sides and plans q (names, types, which side holds what);
** left_files, when not NULL, replaces q->left.  plan_close frees it all,
** also after a failure. */
int plan_open(plan *p, const sj_query *q, char *const *left_files, int nleft, sj_error *err);
void plan_close(plan *p);

/* Whether by-column i holds strings; plan_strings reads those columns'
** values into p->by_dict (a pass over each; the join key's are p->keys),
** which the plans need and a usage check does not. */
int plan_by_is_string(const plan *p, int i);
int plan_strings(plan *p, sj_error *err);

/* The name of the answer's column c: a by-column's own, "count" for
** count(*), FUNC_COLUMN otherwise ("sum_value").  plan_open refuses a
** query whose answer would hold one name twice. */
void plan_column_name(const plan *p, int c, char *buf, size_t n);

/* "key, a, b": a side's partial grouping, for --explain. */
void side_grouping(const plan *p, const side *s, char *buf, size_t n);

/* Statistics of the run, for --explain. */
typedef struct plan_report {
  uint64_t rows_out;
  char text[4096];
} plan_report;

/* A by-list that interleaves the sides, reordered for the merge plan with
** the right side's columns first; user_pos[c]: the user's position of the
** plan's column c.  0 when the list does not interleave (plan.c). */
int plan_right_first(plan *p, int *user_pos);

#endif
