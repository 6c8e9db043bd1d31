/*
** ranks.h — integer columns too wide to pack, as ranks of their distinct
** values (ranks.c).
*/
#ifndef QUERY_RANKS_H
#define QUERY_RANKS_H

#include "plan.h"

/* Integer columns as ranks (ranks.c): the sorted distinct values of side
** s's column `name`, read on all threads; *out stays NULL, with no error,
** when they number more than max_values.  rank_dict_map turns an integer
** column into its values' ranks (a value it lacks is an error naming path). */
int rank_dict_build(const plan *p, side *s, const char *name, uint64_t max_values, rank_dict **out, sj_error *err);
int rank_dict_map(const rank_dict *d, pq_column *c, const char *path, sj_error *err);
size_t rank_dict_size(const rank_dict *d);
int64_t rank_dict_value(const rank_dict *d, int64_t rank);
void rank_dict_free(rank_dict *d);

#endif
