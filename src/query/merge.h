/*
** merge.h — the merge plan (merge.c): GROUP BY one side's columns then the
** other's, answered by merging sorted runs, its stages in layout.h, runs.h
** and tiles.h (dist.c runs the same stages as tasks on many machines, the
** runs crossing process boundaries as bytes):
**
**   merge_layout   how the inner side's by-columns pack into one code
**   merge_scan     morsels of the inner side -> sorted runs per key
**   merge_combine  a key's runs -> one run (equal codes folded)
**   merge_write    runs + the outer side -> the answer rows of a range of
**                  groupings and codes, streamed to a sink
*/
#ifndef QUERY_MERGE_H
#define QUERY_MERGE_H

#include "tiles.h"

int merge_run(plan *p, out_sink *sink, const out_schema *schema, plan_report *rep, sj_error *err);

#endif
