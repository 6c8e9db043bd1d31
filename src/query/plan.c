/*
** plan.c — the planner: both sides opened, the GROUP BY columns and the
** aggregates split between them, names and types checked (exit 2 before
** any work), and the by-list reordered when it interleaves the sides.
*/
#include "input.h"
#include "keys.h"
#include "ranks.h"

#include <ctype.h>
#include <stdlib.h>

/* Whether two columns' integers mean the same (a DECIMAL's scale, a time's unit). */
static int same_logical(const pq_logical *a, const pq_logical *b) {
  if (a->kind != b->kind) return 0;
  if (a->kind == PQ_LT_DECIMAL) return a->scale == b->scale;
  if (a->kind == PQ_LT_TIME || a->kind == PQ_LT_TIMESTAMP) return a->unit == b->unit && a->utc == b->utc;
  return 1;
}

/* A side's column `name` as its first file has it (find_col checked the others). */
static const pq_column_info *column_info(const side *s, const char *name) {
  return pq_col(s->files[0], pq_find_column(s->files[0], name));
}

/* What the integers of a side's column `name` stand for. */
static pq_logical column_lt(const side *s, const char *name) { return query_column_lt(column_info(s, name)); }

/* The column `name` of a side, checked to exist with one type in all files. */
static int find_col(const side *s, const char *name, pq_type *type, sj_error *err) {
  int c0 = pq_find_column(s->files[0], name);
  if (c0 < 0) return 0;
  *type = query_type(pq_col(s->files[0], c0));
  for (int f = 1; f < s->nfiles; f++) {
    int c = pq_find_column(s->files[f], name);
    if (c < 0) {
      sj_fail(err, SJ_EUSAGE, "%s: column '%s' is missing (the other %s files have it)",
              pq_path(s->files[f]), name, s->what);
      return -1;
    }
    if (query_type(pq_col(s->files[f], c)) != *type) {
      sj_fail(err, SJ_EUSAGE, "%s: column '%s' is %s, but %s in %s", pq_path(s->files[f]), name,
              pq_type_name(pq_col(s->files[f], c)->type), pq_type_name(pq_col(s->files[0], c0)->type),
              pq_path(s->files[0]));
      return -1;
    }
    pq_logical lt = query_column_lt(pq_col(s->files[f], c)), lt0 = query_column_lt(pq_col(s->files[0], c0));
    if (!same_logical(&lt, &lt0)) {
      sj_fail(err, SJ_EUSAGE, "%s: column '%s' is %s, but %s in %s", pq_path(s->files[f]), name,
              pq_col(s->files[f], c)->logical, pq_col(s->files[0], c0)->logical, pq_path(s->files[0]));
      return -1;
    }
  }
  return 1;
}

/* Resolves a column name to a side; 2 = the join key. */
static int resolve(plan *p, const char *name, int *which, pq_type *type, sj_error *err) {
  if (!strcmp(name, p->q->on)) {
    *which = 2;
    return 0;
  }
  pq_type tl, tr;
  int l = find_col(&p->s[0], name, &tl, err);
  int r = find_col(&p->s[1], name, &tr, err);
  if (l < 0 || r < 0) return SJ_EUSAGE;
  if (l && r)
    return sj_fail(err, SJ_EUSAGE, "column '%s' is in both tables (%s and %s); name only one, or the join key",
                   name, pq_path(p->s[0].files[0]), pq_path(p->s[1].files[0]));
  if (!l && !r)
    return sj_fail(err, SJ_EUSAGE, "unknown column '%s' (not in %s nor in %s)", name,
                   pq_path(p->s[0].files[0]), pq_path(p->s[1].files[0]));
  *which = l ? 0 : 1;
  *type = l ? tl : tr;
  return 0;
}

/* Whether a side's column may hold NULLs: OPTIONAL in some file, and a
** chunk that does not state zero nulls. */
static int may_be_null(const side *s, const char *name) {
  for (int f = 0; f < s->nfiles; f++) {
    int c = pq_find_column(s->files[f], name);
    if (c < 0 || !pq_col(s->files[f], c)->optional) continue;
    for (int rg = 0; rg < pq_nrowgroups(s->files[f]); rg++) {
      const pq_stats *st = &pq_chunk(s->files[f], rg, c)->stats;
      if (!st->has_null_count || st->null_count != 0) return 1;
    }
  }
  return 0;
}


/* Splits "a, b,c" into trimmed names. */
static int split_names(const char *list, char out[][64], int max, const char *what, sj_error *err) {
  int n = 0;
  const char *p = list ? list : "";
  while (*p) {
    while (*p == ' ' || *p == ',') p++;
    if (!*p) break;
    const char *e = p;
    int depth = 0;
    while (*e && (depth || *e != ',')) {
      depth += *e == '(';
      depth -= *e == ')';
      e++;
    }
    const char *t = e;
    while (t > p && t[-1] == ' ') t--;
    if (n == max) {
      sj_fail(err, SJ_EUSAGE, "%s: more than %d entries", what, max);
      return -1;
    }
    if (t - p >= 64) {
      sj_fail(err, SJ_EUSAGE, "%s: '%.*s' is too long", what, (int)(t - p), p);
      return -1;
    }
    memcpy(out[n], p, (size_t)(t - p));
    out[n][t - p] = 0;
    n++;
    p = e;
  }
  return n;
}

/* How well the by-list's sides suit the merge plan: 0 when it applies with
** the right side outer (one side's columns, or the right's then the
** left's), 1 when the left side would be the outer one (aggregated in a
** table), 2 when the sides interleave (the hash plan). */
static int shape_cost(const plan *p) {
  int switches = 0;
  for (int i = 1; i < p->nby; i++) switches += p->by_side[i] != p->by_side[i - 1];
  if (switches > 1) return 2;
  return switches == 1 && p->by_side[0] == 0;
}

/* The join key in --by (by_side 2) holds the same value on both sides of a
** joined row, so it becomes a column of the side that suits the plan best,
** the right side when both do: GROUP BY key, bucket becomes the right
** side's groupings of one key each over the left's runs by bucket, and
** the merge plan streams (and spills) it. */
static void key_sides(plan *p) {
  for (int i = 0; i < p->nby; i++) {
    if (p->by_side[i] != 2) continue;
    p->by_side[i] = 1;
    int right = shape_cost(p);
    p->by_side[i] = 0;
    if (shape_cost(p) >= right) p->by_side[i] = 1;
  }
}

static const char *fn_names[] = {"count", "count", "sum", "min", "max", "avg"};

/* Where answer column c comes from, as the user wrote it: "--by g",
** "--agg sum(value)". */
static void column_origin(const plan *p, int c, char *buf, size_t n) {
  int a = c - p->nby;
  if (c < p->nby) snprintf(buf, n, "--by %s", p->by[c]);
  else snprintf(buf, n, "--agg %s(%s)", fn_names[p->fn[a]], p->fn[a] == F_COUNT_STAR ? "*" : p->agg_col[a]);
}

static int plan_query(plan *p, sj_error *err) {
  const sj_query *q = p->q;
  pq_type kt[2];
  for (int s = 0; s < 2; s++) {
    int k = find_col(&p->s[s], q->on, &kt[s], err);
    if (k < 0) return SJ_EUSAGE;
    if (!k) return sj_fail(err, SJ_EUSAGE, "%s: no join key column '%s'", pq_path(p->s[s].files[0]), q->on);
    if (!pq_is_int(kt[s]) && kt[s] != PQ_BYTE_ARRAY)
      return sj_fail(err, SJ_EUSAGE, "%s: join key '%s' is %s; keys are INT32, INT64 or strings (BYTE_ARRAY)",
                     pq_path(p->s[s].files[0]), q->on, pq_type_name(kt[s]));
  }
  if (pq_is_int(kt[0]) != pq_is_int(kt[1]))
    return sj_fail(err, SJ_EUSAGE, "join key '%s' is %s in %s but %s in %s", q->on, pq_type_name(kt[0]),
                   pq_path(p->s[0].files[0]), pq_type_name(kt[1]), pq_path(p->s[1].files[0]));
  pq_logical klt[2] = {column_lt(&p->s[0], q->on), column_lt(&p->s[1], q->on)};
  if (!same_logical(&klt[0], &klt[1])) /* 1.50 and 150 would match, or 1 ms and 1 µs */
    return sj_fail(err, SJ_EUSAGE, "join key '%s' is %s in %s but %s in %s", q->on,
                   column_info(&p->s[0], q->on)->logical, pq_path(p->s[0].files[0]),
                   column_info(&p->s[1], q->on)->logical, pq_path(p->s[1].files[0]));
  int n = split_names(q->by, p->by, MAX_BY, "--by", err);
  if (n < 0) return SJ_EUSAGE;
  p->nby = n;
  for (int i = 0; i < n; i++) {
    pq_type t = PQ_INT64;
    int rc = resolve(p, p->by[i], &p->by_side[i], &t, err);
    if (rc) return rc;
    if (p->by_side[i] == 2) t = kt[0];
    if (!pq_is_int(t) && t != PQ_BYTE_ARRAY)
      return sj_fail(err, SJ_EUSAGE, "--by %s: column of type %s; GROUP BY takes INT32/INT64 and string "
                     "(BYTE_ARRAY) columns", p->by[i], pq_type_name(t));
    for (int j = 0; j < i; j++)
      if (!strcmp(p->by[i], p->by[j])) return sj_fail(err, SJ_EUSAGE, "--by names '%s' twice", p->by[i]);
  }
  key_sides(p);
  for (int i = 0; i < n; i++) {
    side *s = &p->s[p->by_side[i]];
    /* A NULL key matches nothing, so the answer's key is never NULL. */
    p->by_nullable[i] = strcmp(p->by[i], q->on) && may_be_null(s, p->by[i]);
    p->by_lt[i] = strcmp(p->by[i], q->on) ? column_lt(s, p->by[i]) : klt[0];
    memcpy(s->by[s->nby], p->by[i], sizeof s->by[0]); /* both 64 bytes, NUL-terminated */
    s->by_out[s->nby++] = i;
  }
  char aggs[MAX_AGGS][64];
  n = split_names(q->aggs, aggs, MAX_AGGS, "--agg", err);
  if (n < 0) return SJ_EUSAGE;
  if (n == 0) return sj_fail(err, SJ_EUSAGE, "--agg names no aggregate (e.g. 'count(*),sum(value)')");
  p->nagg = n;
  for (int i = 0; i < n; i++) {
    char *a = aggs[i], *open = strchr(a, '('), *close = strrchr(a, ')');
    if (!open || !close || close < open || close[1])
      return sj_fail(err, SJ_EUSAGE, "--agg: '%s' is not FUNC(column)", a);
    *open = 0;
    *close = 0;
    for (char *c = a; *c; c++) *c = (char)tolower((unsigned char)*c);
    char *col = open + 1;
    while (*col == ' ') col++;
    for (char *e = col + strlen(col); e > col && e[-1] == ' ';) *--e = 0;
    int fn = -1;
    if (!strcmp(a, "count")) fn = !strcmp(col, "*") ? F_COUNT_STAR : F_COUNT;
    else if (!strcmp(a, "sum")) fn = F_SUM;
    else if (!strcmp(a, "min")) fn = F_MIN;
    else if (!strcmp(a, "max")) fn = F_MAX;
    else if (!strcmp(a, "avg")) fn = F_AVG;
    if (fn < 0) return sj_fail(err, SJ_EUSAGE, "--agg: unknown function '%s' (count, sum, min, max, avg)", a);
    p->fn[i] = (agg_fn)fn;
    if (fn == F_COUNT_STAR) continue;
    snprintf(p->agg_col[i], sizeof p->agg_col[i], "%s", col);
    pq_type t = PQ_INT64;
    int which, rc = resolve(p, col, &which, &t, err);
    if (rc) return rc;
    if (which == 2) { which = 0; t = kt[0]; }
    if (fn != F_COUNT && !pq_is_num(t))
      return sj_fail(err, SJ_EUSAGE, "--agg %s(%s): column of type %s is not numeric", a, col, pq_type_name(t));
    side *s = &p->s[which];
    p->agg_lt[i] = column_lt(s, col);
    pq_logical_kind k = p->agg_lt[i].kind;
    if ((fn == F_SUM || fn == F_AVG) && (k == PQ_LT_DATE || k == PQ_LT_TIME || k == PQ_LT_TIMESTAMP))
      return sj_fail(err, SJ_EUSAGE, "--agg %s(%s): column of type %s; %s takes numbers (count, min and max take it)",
                     a, col, column_info(s, col)->logical, a);
    p->agg_nullable[i] = may_be_null(s, col);
    p->agg_side[i] = which;
    p->agg_state[i] = s->nstates;
    p->agg_float[i] = t == PQ_FLOAT || t == PQ_DOUBLE;
    s->state_agg[s->nstates] = i;
    s->state_is_float[s->nstates] = p->agg_float[i];
    snprintf(s->state_col[s->nstates], sizeof s->state_col[0], "%s", col);
    s->nstates++;
  }
  /* The answer's column names must differ (a file with two columns of one
  ** name is one nobody can read back by name). */
  char names[MAX_BY + MAX_AGGS][96];
  for (int c = 0; c < p->nby + p->nagg; c++) {
    plan_column_name(p, c, names[c], sizeof names[c]);
    for (int d = 0; d < c; d++)
      if (!strcmp(names[c], names[d])) {
        char first[160], second[160];
        column_origin(p, d, first, sizeof first);
        column_origin(p, c, second, sizeof second);
        return sj_fail(err, SJ_EUSAGE, "the answer would have two columns named '%s' (%s and %s); name each once",
                       names[c], first, second);
      }
  }
  return 0;
}

void plan_column_name(const plan *p, int c, char *buf, size_t n) {
  int a = c - p->nby;
  if (c < p->nby) snprintf(buf, n, "%s", p->by[c]);
  else if (p->fn[a] == F_COUNT_STAR) snprintf(buf, n, "count");
  else snprintf(buf, n, "%s_%s", fn_names[p->fn[a]], p->agg_col[a]);
}

void side_grouping(const plan *p, const side *s, char *buf, size_t n) {
  size_t at = (size_t)snprintf(buf, n, "%s", p->q->on);
  for (int i = 0; i < s->nby && at < n; i++) at += (size_t)snprintf(buf + at, n - at, ", %s", s->by[i]);
}

/* A by-list that interleaves the sides (group1, df2_group, bucket) is run
** as the same columns with the right side's first (df2_group, group1,
** bucket), which the merge plan streams, and its answer re-sorted (sort.c).
** Reorders p's by-list so, each side's columns kept in their order, and
** sets user_pos[i] to the user's position of column i (aggregates keep
** theirs); 0 when the list does not interleave.  Before plan_strings. */
int plan_right_first(plan *p, int *user_pos) {
  if (shape_cost(p) < 2) return 0;
  char by[MAX_BY][64];
  int by_side[MAX_BY], by_nullable[MAX_BY], new_pos[MAX_BY], n = 0;
  for (int pass = 1; pass >= 0; pass--)
    for (int i = 0; i < p->nby; i++) {
      if (p->by_side[i] != pass) continue;
      assert(!p->by_dict[i]);
      memcpy(by[n], p->by[i], sizeof by[n]);
      by_side[n] = p->by_side[i];
      by_nullable[n] = p->by_nullable[i];
      user_pos[n] = i;
      new_pos[i] = n++;
    }
  assert(n == p->nby);
  memcpy(p->by, by, sizeof by);
  memcpy(p->by_side, by_side, sizeof by_side);
  memcpy(p->by_nullable, by_nullable, sizeof by_nullable);
  for (int sd = 0; sd < 2; sd++)
    for (int j = 0; j < p->s[sd].nby; j++) p->s[sd].by_out[j] = new_pos[p->s[sd].by_out[j]];
  for (int a = 0; a < p->nagg; a++) user_pos[p->nby + a] = p->nby + a;
  return 1;
}

int plan_by_is_string(const plan *p, int i) {
  const pq_reader *r = p->s[p->by_side[i]].files[0];
  return pq_col(r, pq_find_column(r, p->by[i]))->type == PQ_BYTE_ARRAY;
}

int plan_strings(plan *p, sj_error *err) {
  int rc = 0;
  for (int i = 0; i < p->nby && !rc; i++) {
    if (!plan_by_is_string(p, i)) continue;
    if (!strcmp(p->by[i], p->q->on)) p->by_dict[i] = p->keys;
    else rc = key_dict_build(p, &p->s[p->by_side[i]], p->by[i], &p->by_dict[i], err);
  }
  return rc;
}

int plan_open(plan *p, const sj_query *q, char *const *left_files, int nleft, sj_error *err) {
  memset(p, 0, sizeof *p);
  p->q = q;
  p->s[0].what = "left";
  p->s[1].what = "right";
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  p->threads = q->threads > 0 ? q->threads : (int)(cores > 0 ? cores : 1);
  int rc = sj_pool_new(&p->pool, p->threads, q->stop, err);
  if (rc) return rc;
  if (!(p->mem = malloc(sizeof *p->mem))) return sj_fail(err, SJ_ENOMEM, "out of memory");
  budget_init(p->mem, q->memory_limit);
  sj_alloc_policy(q->memory_limit);
  rc = !q->on || !*q->on ? sj_fail(err, SJ_EUSAGE, "--on names no join key") : 0;
  if (!rc && left_files) {
    if (nleft <= 0) return sj_fail(err, SJ_EUSAGE, "no left files");
    rc = side_open_files(p, &p->s[0], left_files, nleft, err);
  } else if (!rc) {
    rc = side_open(p, &p->s[0], q->left, err);
  }
  if (!rc) rc = side_open(p, &p->s[1], q->right, err);
  if (!rc) rc = plan_query(p, err);
  /* String join keys: ids from the right side's keys (the small side). */
  const pq_reader *r = rc ? NULL : p->s[1].files[0];
  if (r && pq_col(r, pq_find_column(r, q->on))->type == PQ_BYTE_ARRAY)
    rc = key_dict_build(p, &p->s[1], q->on, &p->keys, err);
  return rc;
}

void plan_close(plan *p) {
  for (int i = 0; i < p->nby; i++) {
    if (p->by_dict[i] != p->keys) key_dict_free(p->by_dict[i]);
    rank_dict_free(p->by_rank[i]);
  }
  key_dict_free(p->keys);
  for (int s = 0; s < 2; s++) {
    agg_table_free(&p->s[s].partial);
    for (int f = 0; f < p->s[s].nfiles; f++)
      if (p->s[s].files[f]) pq_close(p->s[s].files[f]);
    free(p->s[s].files);
  }
  sj_pool_free(p->pool);
  if (p->mem) budget_free(p->mem);
  free(p->mem);
  memset(p, 0, sizeof *p);
}

