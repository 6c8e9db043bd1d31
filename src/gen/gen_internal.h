/*
** gen_internal.h — what the generator's files share: the notebook's stage 1
** (rows per key), the df2 walk, and the df1 writer.
**
** The order of draws on the notebook's stream is the contract: stage 1
** (rows per key), then df1 key by key (group1..groupN, then value), then
** the df2 grouping sizes, then one shuffle per grouping.
*/
#ifndef GEN_INTERNAL_H
#define GEN_INTERNAL_H

#include "skewjoin.h"
#include "numpy_rng.h"

/* A mixture's minority fraction: 1 − major rounded to 10 decimals, so that
** 0.95 gives exactly the double the notebook writes as `.05`. */
double gen_minor_fraction(double major);

/* Stage 1: the row count of each df1 key, drawn from the notebook's stream
** (both modes).  *df1_keys = round(F·keys) + round((1−F)·keys), which may
** differ from keys by one, as the notebook itself warns. */
int gen_rows_per_key(const gen_params *p, np_rng *rng, uint64_t **rows, uint64_t *df1_keys,
                     sj_error *err);

/* Draws (or, in notebook mode with out == NULL, skips) df1's values. */
void gen_skip_df1(const gen_params *p, np_rng *rng, const uint64_t *rows, uint64_t df1_keys);

/* Called once per grouping, in order, with its keys in the order drawn. */
typedef int (*gen_df2_visit)(void *ctx, uint64_t grouping, const uint32_t *keys, uint64_t n,
                             sj_error *err);

/* Walks df2: in notebook mode from rng (positioned after df1), in parallel
** mode from per-grouping streams (rng unused). */
int gen_df2_walk(const gen_params *p, np_rng *rng, gen_df2_visit visit, void *ctx,
                 sj_error *err);

/* Number of groupings: trunc(F·G) + trunc((1−F)·G). */
uint64_t gen_groupings(const gen_params *p);

/* Writes df1 under dir (layout files) from the stage-1 counts; in notebook
** mode continues rng.  Adds to *report; *files_done tells the caller how
** many files reached their final names (for clean-up on failure). */
int gen_write_df1(const gen_params *p, np_rng *rng, const uint64_t *rows, uint64_t df1_keys,
                  const char *dir, gen_progress_fn progress, void *progress_ctx, const sj_stop *stop,
                  gen_report *report, uint64_t *files_done, sj_error *err);

/* The path of df1 file number i under out_dir for the layout. */
void gen_df1_path(const gen_params *p, const char *out_dir, uint64_t i, char *buf, size_t n);

/* The number of df1 files the layout makes for `total` rows over df1_keys. */
uint64_t gen_df1_files(const gen_params *p, uint64_t df1_keys, uint64_t total);

#endif
