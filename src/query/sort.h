/*
** sort.h — the sorting sink (sort.c): an answer put in the by-list's order.
*/
#ifndef QUERY_SORT_H
#define QUERY_SORT_H

#include "output.h"

/* A sink that sorts: it takes chunks of the engine's schema (column c is
** the final schema's column pos[c]) in the engine's order; out_close writes
** them to `final` sorted by the final schema's first nby columns, holding up
** to b->bytes of rows and spilling sorted runs to a temporary file beyond,
** and puts an --explain line in explain.  Closing or aborting it leaves
** `final` open. */
typedef struct sort_budget {
  uint64_t bytes;       /* of rows held in memory */
  budget *mem;          /* told what the rows hold (MEM_SORT) */
  const char *temp_dir; /* NULL: $TMPDIR, else /tmp */
  const sj_stop *stop;  /* checked while runs are merged; may be NULL */
  sj_pool *pool;        /* encoding the answer */
  void (*progress)(void *ctx, uint64_t done, uint64_t total); /* may be NULL */
  void *progress_ctx;
} sort_budget;

int out_open_sorted(out_sink **s, out_sink *final, const out_schema *engine, const out_schema *fs, const int *pos,
                    int nby, const sort_budget *b, sj_error *err);

#endif
