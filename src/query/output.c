/*
** output.c — a query's answer as CSV or Parquet.
**
** Files are written as PATH.tmp and renamed when complete, so an answer
** appears under its name only whole.  Parquet output goes through our own
** writer: by-columns and counts as INT64, float aggregates as DOUBLE,
** columns with NULLs (avg of nothing, a NULL group) as OPTIONAL.
*/
#include "skewjoin.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int sj_result_write_csv(const sj_result *r, FILE *f, sj_error *err) {
  for (int c = 0; c < r->ncols; c++) {
    if (c) putc(',', f);
    sj_csv_text(f, r->cols[c].name, strlen(r->cols[c].name));
  }
  putc('\n', f);
  for (uint64_t i = 0; i < r->rows; i++) {
    for (int c = 0; c < r->ncols; c++) {
      const sj_result_col *col = &r->cols[c];
      if (c) putc(',', f);
      if (col->valid && !col->valid[i]) continue;
      switch (col->kind) {
        case SJ_COL_INT: fprintf(f, "%lld", (long long)col->i[i]); break;
        case SJ_COL_HUGEINT: sj_csv_int128(f, col->h[i]); break;
        case SJ_COL_DOUBLE: sj_csv_double(f, col->d[i]); break;
      }
    }
    putc('\n', f);
  }
  if (ferror(f)) return sj_fail(err, SJ_EIO, "writing the answer failed: %s", strerror(errno));
  return 0;
}

enum { OUT_RG_ROWS = 1 << 20 };

static int write_parquet(const sj_result *r, const char *path, sj_error *err) {
  pq_column_spec *specs = calloc((size_t)r->ncols, sizeof *specs);
  pq_vector *vecs = calloc((size_t)r->ncols, sizeof *vecs);
  int64_t **narrowed = calloc((size_t)r->ncols, sizeof *narrowed);
  int rc = specs && vecs && narrowed ? 0 : sj_fail(err, SJ_ENOMEM, "out of memory");
  for (int c = 0; c < r->ncols && !rc; c++) {
    const sj_result_col *col = &r->cols[c];
    specs[c] = (pq_column_spec){col->name, col->kind == SJ_COL_DOUBLE ? PQ_DOUBLE : PQ_INT64, PQ_ENC_PLAIN,
                                PQ_CODEC_ZSTD, col->valid != NULL};
    if (col->kind == SJ_COL_HUGEINT) { /* exact sums: written as INT64 when they fit */
      if (!(narrowed[c] = malloc((r->rows ? r->rows : 1) * 8))) { rc = sj_fail(err, SJ_ENOMEM, "out of memory"); break; }
      for (uint64_t i = 0; i < r->rows && !rc; i++) {
        if ((!col->valid || col->valid[i]) && (col->h[i] > INT64_MAX || col->h[i] < INT64_MIN))
          rc = sj_fail(err, SJ_EUSAGE, "%s: %s exceeds 64 bits in row %llu; write CSV (--out x.csv) "
                       "for exact 128-bit sums", path, col->name, (unsigned long long)i);
        narrowed[c][i] = (int64_t)col->h[i];
      }
    }
  }
  pq_file *f = NULL;
  pq_scratch *s = rc ? NULL : pq_scratch_new();
  if (!rc && !s) rc = sj_fail(err, SJ_ENOMEM, "out of memory");
  if (!rc) rc = pq_file_open(&f, path, specs, r->ncols, err);
  for (uint64_t at = 0; !rc && at < r->rows; at += OUT_RG_ROWS) {
    uint64_t n = r->rows - at < OUT_RG_ROWS ? r->rows - at : OUT_RG_ROWS;
    for (int c = 0; c < r->ncols; c++) {
      const sj_result_col *col = &r->cols[c];
      vecs[c] = col->kind == SJ_COL_DOUBLE
                    ? (pq_vector){.kind = PQ_VEC_F64, .f64 = col->d + at}
                    : (pq_vector){.kind = PQ_VEC_I64, .i64 = (narrowed[c] ? narrowed[c] : col->i) + at};
      vecs[c].valid = col->valid ? col->valid + at : NULL;
    }
    pq_rowgroup *rg;
    rc = pq_rowgroup_encode(specs, r->ncols, vecs, n, s, &rg, err);
    if (!rc) rc = pq_file_append(f, rg, err);
    if (!rc) pq_rowgroup_free(rg);
  }
  if (f) {
    if (rc) pq_file_abort(f);
    else rc = pq_file_close(f, NULL, err);
  }
  pq_scratch_free(s);
  for (int c = 0; c < r->ncols && narrowed; c++) free(narrowed[c]);
  free(narrowed);
  free(specs);
  free(vecs);
  return rc;
}

int sj_result_write_file(const sj_result *r, const char *path, sj_error *err) {
  size_t n = strlen(path);
  if (n > 8 && !strcmp(path + n - 8, ".parquet")) return write_parquet(r, path, err);
  if (!(n > 4 && !strcmp(path + n - 4, ".csv")))
    return sj_fail(err, SJ_EUSAGE, "--out %s: the name must end in .csv or .parquet", path);
  char *tmp = malloc(n + 5);
  if (!tmp) return sj_fail(err, SJ_ENOMEM, "out of memory");
  memcpy(tmp, path, n);
  memcpy(tmp + n, ".tmp", 5);
  FILE *f = fopen(tmp, "w");
  int rc = f ? 0 : sj_fail(err, SJ_EIO, "%s: cannot create: %s", tmp, strerror(errno));
  if (!rc) rc = sj_result_write_csv(r, f, err);
  if (f && fclose(f) != 0 && !rc) rc = sj_fail(err, SJ_EIO, "%s: write failed: %s", tmp, strerror(errno));
  if (!rc && rename(tmp, path) != 0) rc = sj_fail(err, SJ_EIO, "%s: rename failed: %s", path, strerror(errno));
  if (rc && f) unlink(tmp);
  free(tmp);
  return rc;
}
