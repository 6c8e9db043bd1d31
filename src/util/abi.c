/*
** abi.c — the sizes of the public structs, by name, for bindings that
** declare them on their own (the Python package, through ctypes): a field
** added on one side only would otherwise shift every array of them.
*/
#include "skewjoin.h"

#include <string.h>

size_t sj_struct_size(const char *name) {
#define SIZE(T) if (!strcmp(name, #T)) return sizeof(T)
  SIZE(sj_error);
  SIZE(sj_query);
  SIZE(sj_query_report);
  SIZE(pq_logical);
  SIZE(pq_column_info);
  SIZE(pq_column);
  SIZE(pq_column_spec);
  SIZE(pq_vector);
  SIZE(sj_dist_info);
  SIZE(sj_dist_piece);
  SIZE(sj_dist_plan);
  SIZE(sj_dist_want);
  SIZE(sj_bytes);
#undef SIZE
  return 0;
}
