/*
** keys.h — string columns as ids of a dictionary in byte order (keys.c).
*/
#ifndef QUERY_KEYS_H
#define QUERY_KEYS_H

#include "plan.h"

/* Strings as ids (keys.c): the distinct values of side s's column `name`,
** numbered in byte order (read on all threads); a BYTE_ARRAY column read as
** those ids (a value the dictionary lacks becomes NULL); an id's bytes. */
int key_dict_build(const plan *p, side *s, const char *name, key_dict **out, sj_error *err);
int key_dict_map(const key_dict *d, pq_column *c, sj_error *err);
size_t key_dict_size(const key_dict *d);
const uint8_t *key_dict_value(const key_dict *d, int64_t id, size_t *len);
void key_dict_free(key_dict *d);

#endif
