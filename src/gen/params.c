/*
** params.c — the generator's parameters: the notebook's defaults, the checks
** that refuse what the notebook's code would reject or we cannot write, and
** the counts that follow from them alone (the mixtures' minority fraction,
** the number of groupings).
*/
#include "gen_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void gen_params_default(gen_params *p) {
  memset(p, 0, sizeof *p);
  p->seed = 42;
  p->keys = 7000;
  p->buckets = 40000;
  p->ngroups = 4;
  p->group_bounds[0] = 10;
  p->group_bounds[1] = 20;
  p->group_bounds[2] = 30;
  p->group_bounds[3] = 40;
  p->scale = 1.0;
  p->groupings = 11578;
  p->df1_mix = (gen_mix){0.95, 160, 125125, 1006402, 8200726};
  p->df2_mix = (gen_mix){0.99, 1.0, 1.5, 101.0, 554.0};
  p->rng = GEN_RNG_NOTEBOOK;
  p->layout = GEN_LAYOUT_PER_KEY;
  p->codec = PQ_CODEC_ZSTD;
  p->threads = 0;
}

static int check_mix(const char *name, const gen_mix *m, sj_error *err) {
  if (!(m->major >= 0 && m->major <= 1))
    return sj_fail(err, SJ_EUSAGE, "%s: the fraction %g is outside [0,1]", name, m->major);
  const double v[4] = {m->loc_major, m->scale_major, m->loc_minor, m->scale_minor};
  for (int i = 0; i < 4; i++)
    if (!(v[i] >= 0) || !isfinite(v[i]))
      return sj_fail(err, SJ_EUSAGE, "%s: locations and scales must be finite and >= 0, not %g",
                     name, v[i]);
  return 0;
}

enum { MAX_KEYS = 100000000, MAX_GROUPINGS = 100000000 };

int gen_params_check(const gen_params *p, sj_error *err) {
  if (p->keys == 0) return sj_fail(err, SJ_EUSAGE, "--keys must be at least 1");
  if (p->keys > MAX_KEYS)
    return sj_fail(err, SJ_EUSAGE, "--keys %llu is more than %d", (unsigned long long)p->keys, MAX_KEYS);
  if (p->buckets == 0 || p->buckets > INT64_MAX / 2)
    return sj_fail(err, SJ_EUSAGE, "--buckets must be at least 1");
  if (p->ngroups < 1 || p->ngroups > GEN_MAX_GROUPS)
    return sj_fail(err, SJ_EUSAGE, "--groups takes 1 to %d bounds", GEN_MAX_GROUPS);
  for (int g = 0; g < p->ngroups; g++)
    if (p->group_bounds[g] <= 1 || p->group_bounds[g] > 65536)
      return sj_fail(err, SJ_EUSAGE,
                     "--groups: bound %u of group%d must be in 2..65536 (numpy's exclusive high; "
                     "values are 1..bound-1)", p->group_bounds[g], g + 1);
  if (!(p->scale >= 0) || !isfinite(p->scale))
    return sj_fail(err, SJ_EUSAGE, "--scale must be a finite number >= 0, not %g", p->scale);
  if (p->groupings > MAX_GROUPINGS)
    return sj_fail(err, SJ_EUSAGE, "--groupings is more than %d", MAX_GROUPINGS);
  int rc;
  if ((rc = check_mix("--df1-mix", &p->df1_mix, err))) return rc;
  if ((rc = check_mix("--df2-mix", &p->df2_mix, err))) return rc;
  if (gen_groupings(p) == 0)
    return sj_fail(err, SJ_EUSAGE, "--groupings %llu with fraction %g makes no grouping "
                   "(the notebook then fails to force the last one to hold every key)",
                   (unsigned long long)p->groupings, p->df2_mix.major);
  if (p->layout == GEN_LAYOUT_ROWS && p->rows_per_file == 0)
    return sj_fail(err, SJ_EUSAGE, "--layout rows:N needs N >= 1");
  if (p->threads < 0 || p->threads > SJ_MAX_THREADS)
    return sj_fail(err, SJ_EUSAGE, "--threads must be 0 (all cores) to %d", SJ_MAX_THREADS);
  return 0;
}

double gen_minor_fraction(double major) {
  char text[64];
  snprintf(text, sizeof text, "%.10f", 1.0 - major);
  return strtod(text, NULL);
}

uint64_t gen_groupings(const gen_params *p) {
  double g = (double)p->groupings;
  return (uint64_t)(p->df2_mix.major * g) + (uint64_t)(gen_minor_fraction(p->df2_mix.major) * g);
}
