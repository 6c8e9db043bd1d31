/*
** plan.c — the generator's plan: how many rows each key gets (the
** notebook's stage 1) and, on request, the df2 and join sizes that only the
** whole stream can tell.
*/
#include "gen_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Rows above this in one key are refused: they could not be written anyway,
** and the notebook's astype(int) would have overflowed long before. */
#define MAX_KEY_ROWS (UINT64_C(1) << 40)

int gen_rows_per_key(const gen_params *p, np_rng *rng, uint64_t **rows_out, uint64_t *df1_keys,
                     sj_error *err) {
  const gen_mix *m = &p->df1_mix;
  double keys = (double)p->keys;
  uint64_t n_major = (uint64_t)nearbyint(m->major * keys);
  uint64_t n_minor = (uint64_t)nearbyint(gen_minor_fraction(m->major) * keys);
  uint64_t n = n_major + n_minor;
  uint64_t *rows = malloc((n ? n : 1) * sizeof *rows);
  if (!rows) return sj_fail(err, SJ_ENOMEM, "out of memory");
  for (uint64_t i = 0; i < n; i++) {
    int major = i < n_major;
    double loc = (major ? m->loc_major : m->loc_minor) * p->scale;
    double scale = (major ? m->scale_major : m->scale_minor) * p->scale;
    double draw = np_expon(rng, loc, scale);
    if (!(draw < (double)MAX_KEY_ROWS)) {
      free(rows);
      return sj_fail(err, SJ_EUSAGE, "key %llu would get %g rows; at most %llu rows per key",
                     (unsigned long long)i + 1, draw, (unsigned long long)MAX_KEY_ROWS);
    }
    rows[i] = (uint64_t)draw; /* astype(int): truncation */
  }
  *rows_out = rows;
  *df1_keys = n;
  return 0;
}

void gen_skip_df1(const gen_params *p, np_rng *rng, const uint64_t *rows, uint64_t df1_keys) {
  for (uint64_t k = 0; k < df1_keys; k++) {
    for (int g = 0; g < p->ngroups; g++) np_randint_skip(rng, p->group_bounds[g] - 2, rows[k]);
    /* random(n) takes two draws per value, never rejected. */
    uint64_t draws = 2 * rows[k];
    while (draws) {
      if (rng->pos == NP_MT_N) np_refill(rng);
      uint64_t avail = (uint64_t)(NP_MT_N - rng->pos);
      uint64_t take = draws < avail ? draws : avail;
      rng->pos += (int)take;
      draws -= take;
    }
  }
}

typedef struct join_count {
  uint64_t *groupings_of_key; /* [keys + 1] */
  uint64_t df2_rows;
} join_count;

static int count_grouping(void *ctx, uint64_t grouping, const uint32_t *keys, uint64_t n,
                          sj_error *err) {
  (void)grouping;
  (void)err;
  join_count *jc = ctx;
  for (uint64_t i = 0; i < n; i++) jc->groupings_of_key[keys[i]]++;
  jc->df2_rows += n;
  return 0;
}

int gen_plan_make(const gen_params *p, int full, gen_plan *plan, sj_error *err) {
  memset(plan, 0, sizeof *plan);
  int rc = gen_params_check(p, err);
  if (rc) return rc;
  np_rng rng;
  np_seed(&rng, p->seed);
  if ((rc = gen_rows_per_key(p, &rng, &plan->rows_per_key, &plan->keys, err))) return rc;
  for (uint64_t k = 0; k < plan->keys; k++) {
    plan->df1_rows += plan->rows_per_key[k];
    if (plan->rows_per_key[k] > plan->max_key_rows) plan->max_key_rows = plan->rows_per_key[k];
    plan->empty_keys += plan->rows_per_key[k] == 0;
  }
  if (!full) return 0;
  if (p->rng == GEN_RNG_NOTEBOOK) gen_skip_df1(p, &rng, plan->rows_per_key, plan->keys);
  join_count jc = {calloc(p->keys + 1, sizeof(uint64_t)), 0};
  if (!jc.groupings_of_key) { gen_plan_free(plan); return sj_fail(err, SJ_ENOMEM, "out of memory"); }
  rc = gen_df2_walk(p, &rng, count_grouping, &jc, err);
  if (!rc) {
    plan->full = 1;
    plan->groupings = gen_groupings(p);
    plan->df2_rows = jc.df2_rows;
    for (uint64_t k = 1; k <= plan->keys && k <= p->keys; k++)
      plan->join_rows += plan->rows_per_key[k - 1] * jc.groupings_of_key[k];
  }
  free(jc.groupings_of_key);
  if (rc) gen_plan_free(plan);
  return rc;
}

void gen_plan_free(gen_plan *plan) {
  free(plan->rows_per_key);
  plan->rows_per_key = NULL;
}
