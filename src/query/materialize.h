/*
** materialize.h — --materialize: the joined rows themselves (materialize.c).
*/
#ifndef QUERY_MATERIALIZE_H
#define QUERY_MATERIALIZE_H

#include "plan.h"

/* --materialize: the joined rows themselves, written to path (materialize.c). */
int materialize_run(plan *p, const char *path, plan_report *rep, sj_error *err);

#endif
