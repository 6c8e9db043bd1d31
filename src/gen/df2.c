/*
** df2.c — the small table: which keys each grouping holds.
**
** Notebook mode follows the notebook: grouping sizes from the df2 mixture
** (truncated, clipped to [0, keys], the last forced to hold every key), then
** per grouping numpy's choice(arange(1, keys+1), n, replace=False), which
** is the first n entries of a full legacy shuffle of arange(keys).
** Parallel mode draws the same laws from one counter-based stream per
** grouping, and a partial shuffle that stops after n entries.
*/
#include "gen_internal.h"
#include "stream.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t clip_size(double draw, uint64_t keys) {
  if (!(draw > 0)) return 0;
  if (draw >= (double)keys) return keys;
  return (uint64_t)draw;
}

int gen_df2_walk(const gen_params *p, np_rng *rng, gen_df2_visit visit, void *ctx,
                 sj_error *err) {
  const gen_mix *m = &p->df2_mix;
  double g = (double)p->groupings;
  uint64_t n_major = (uint64_t)(m->major * g);
  uint64_t count = gen_groupings(p);
  uint64_t keys = p->keys;
  uint64_t *sizes = malloc(count * sizeof *sizes);
  uint32_t *perm = malloc(keys * sizeof *perm);
  int rc = 0;
  if (!sizes || !perm) { rc = sj_fail(err, SJ_ENOMEM, "out of memory"); goto done; }
  int notebook = p->rng == GEN_RNG_NOTEBOOK;
  for (uint64_t i = 0; i < count; i++) {
    int major = i < n_major;
    double loc = major ? m->loc_major : m->loc_minor;
    double scale = major ? m->scale_major : m->scale_minor;
    double draw;
    if (notebook) {
      draw = np_expon(rng, loc, scale);
    } else {
      uint64_t s = cs_stream(p->seed, CS_TABLE_DF2, i + 1);
      draw = -log(1.0 - cs_unit(cs_at(s, 0))) * scale + loc;
    }
    sizes[i] = clip_size(draw, keys);
  }
  sizes[count - 1] = keys;
  for (uint64_t i = 0; i < count && !rc; i++) {
    for (uint64_t k = 0; k < keys; k++) perm[k] = (uint32_t)k;
    if (notebook) {
      np_shuffle_prefix(rng, perm, (uint32_t)keys);
    } else {
      uint64_t s = cs_stream(p->seed, CS_TABLE_DF2, i + 1);
      for (uint64_t j = 0; j < sizes[i] && j + 1 < keys; j++) {
        uint64_t r = j + cs_below(cs_at(s, j + 1), (uint32_t)(keys - j));
        uint32_t t = perm[j];
        perm[j] = perm[r];
        perm[r] = t;
      }
    }
    for (uint64_t k = 0; k < sizes[i]; k++) perm[k] += 1; /* arange(1, keys+1) */
    rc = visit(ctx, i + 1, perm, sizes[i], err);
  }
done:
  free(sizes);
  free(perm);
  return rc;
}
