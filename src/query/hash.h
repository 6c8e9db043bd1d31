/*
** hash.h — the hash plan (hash.c).
*/
#ifndef QUERY_HASH_H
#define QUERY_HASH_H

#include "output.h"

/* The hash plan (hash.c): any GROUP BY, the answer's groups in a table. */
int hash_run(plan *p, out_sink *sink, const out_schema *schema, plan_report *rep, sj_error *err);

#endif
