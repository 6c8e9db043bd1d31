/*
** input.h — a query's inputs (input.c): a side's files, its morsels (file,
** row group), and the columns of a morsel decoded for a scan.
*/
#ifndef QUERY_INPUT_H
#define QUERY_INPUT_H

#include "column.h"
#include "plan.h"

/* A side's files: those `arg` names (a file, a directory of .parquet files,
** or a glob), or the given names, opened on all threads; their schemas must
** agree.  side_open_files is how the distributed tasks open their pieces. */
int side_open(plan *p, side *s, const char *arg, sj_error *err);
int side_open_files(plan *p, side *s, char *const *names, int n, sj_error *err);
/* Closes the side's files once a plan has read all it needs of them: their
** footers (a few KB a file, thousands of files) are not held through the
** answer's merge.  s->files[f] become NULL; counts stay. */
void side_close_files(side *s);

/* Every (file, row group) of a side, in file order: the scan's morsels;
** s->rows_scanned becomes their rows (the same count for every pass). */
typedef struct morsel { int file, rg; } morsel;
int list_morsels(side *s, morsel **out, size_t *n, sj_error *err);

/* Runs visit(ctx, state, reader, row group) for every row group of s on
** the pool, each worker with a state of its own (state_size bytes, zeroed):
** how a column's distinct values are collected.  *states gets the pool's
** sj_pool_threads() states, also on failure: free them and what they hold. */
typedef int (*side_visit_fn)(void *ctx, void *state, const pq_reader *r, int rg, sj_error *err);
int side_visit(const plan *p, side *s, size_t state_size, side_visit_fn visit, void *ctx, void **states,
               sj_error *err);

/* Reads the named columns of one row group; on failure frees what it read. */
int read_columns(const pq_reader *r, int rg, const char *const *names, int n, numcol *cols, sj_error *err);

#endif
