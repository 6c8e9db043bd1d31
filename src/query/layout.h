/*
** layout.h — the merge plan's code layout (layout.c): how the inner side's
** by-columns pack into one integer code, their domains, and whether the
** merge plan applies at all.
*/
#ifndef QUERY_LAYOUT_H
#define QUERY_LAYOUT_H

#include "plan.h"

enum { MAX_CODE_BITS = 62 };

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

/* 1 and the layout when the merge plan applies (see merge_applies). */
int merge_layout_make(const plan *p, merge_layout *lay);
/* Widths and shifts from ncols, lo, hi and which columns may be NULL;
** 0 when they do not fit in MAX_CODE_BITS. */
int merge_layout_pack(merge_layout *lay, const int *nullable);

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

#endif
