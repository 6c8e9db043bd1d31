/*
** gen.c — `skewjoin gen` as a library call: check everything, then write
** df1 (df1.c) and df2 (below) under the output directory, and on any
** failure remove every file this run wrote, so that a dataset is either
** whole or absent.
*/
#include "gen_internal.h"
#include "../pq/writer.h"
#include "../util/alloc.h"
#include "../util/clock.h"
#include "../util/store.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DF2_RG_ROWS (UINT64_C(1) << 20)

/* ------------------------------------------------------------------- df2 */

typedef struct df2_writer {
  pq_file *file;
  pq_scratch *scratch;
  pq_column_spec specs[2];
  int64_t *grouping, *key;
  uint64_t n, rows;
  const sj_stop *stop;
} df2_writer;

static int df2_flush(df2_writer *w, sj_error *err) {
  if (w->n == 0) return 0;
  pq_vector v[2] = {{.kind = PQ_VEC_I64, .i64 = w->grouping}, {.kind = PQ_VEC_I64, .i64 = w->key}};
  pq_rowgroup *rg;
  int rc = pq_rowgroup_encode(w->specs, 2, v, w->n, w->scratch, &rg, err);
  if (rc) return rc;
  rc = pq_file_append(w->file, rg, err);
  pq_rowgroup_free(rg);
  w->rows += w->n;
  w->n = 0;
  return rc;
}

static int df2_visit(void *ctx, uint64_t grouping, const uint32_t *keys, uint64_t n, sj_error *err) {
  df2_writer *w = ctx;
  if (sj_stop_requested(w->stop)) return sj_fail(err, SJ_EINTR, "interrupted");
  for (uint64_t i = 0; i < n; i++) {
    w->grouping[w->n] = (int64_t)grouping;
    w->key[w->n] = keys[i];
    if (++w->n == DF2_RG_ROWS) {
      int rc = df2_flush(w, err);
      if (rc) return rc;
    }
  }
  return 0;
}

static int write_df2(const gen_params *p, np_rng *rng, const char *path, const sj_stop *stop,
                     gen_report *report, sj_error *err) {
  df2_writer w = {.stop = stop};
  w.specs[0] = (pq_column_spec){"df2_group", PQ_INT64, PQ_ENC_DELTA, p->codec, 0, {0}};
  w.specs[1] = (pq_column_spec){"key", PQ_INT64, PQ_ENC_DELTA, p->codec, 0, {0}};
  w.scratch = pq_scratch_new();
  w.grouping = malloc(DF2_RG_ROWS * sizeof(int64_t));
  w.key = malloc(DF2_RG_ROWS * sizeof(int64_t));
  int rc = w.scratch && w.grouping && w.key ? 0 : sj_fail(err, SJ_ENOMEM, "out of memory");
  if (!rc) rc = pq_file_open(&w.file, path, w.specs, 2, err);
  if (!rc) pq_file_defer_sync(w.file);
  if (!rc) pq_file_mark_dataset(w.file, PQ_MARKER_HERE);
  if (!rc) rc = gen_df2_walk(p, rng, df2_visit, &w, err);
  if (!rc) rc = df2_flush(&w, err);
  if (!rc) {
    uint64_t bytes = 0;
    rc = pq_file_close(w.file, &bytes, err);
    report->bytes += bytes;
    report->df2_rows = w.rows;
  } else {
    pq_file_abort(w.file);
  }
  pq_scratch_free(w.scratch);
  free(w.grouping);
  free(w.key);
  return rc;
}

/* ------------------------------------------------------------- directory */

/* The marker gen writes last, PQ_MARKER_HERE in OUT: a dataset without it is
** not complete (the name Spark and Hadoop give theirs). */

/* 1 when name (in df1/ or OUT) is one gen writes: key_N.parquet,
** part_N.parquet, df1.parquet, df2.parquet or the marker, or a temporary
** of one (NAME.<pid>.<n>.tmp).  --force removes these and nothing else. */
static int is_ours(const char *name) {
  char base[256];
  long pid;
  size_t n = sj_output_temporary_of(name, &pid);
  if (!n) n = strlen(name);
  if (n >= sizeof base) return 0;
  memcpy(base, name, n);
  base[n] = 0;
  if (!strcmp(base, "df1.parquet") || !strcmp(base, "df2.parquet") || !strcmp(base, PQ_MARKER_HERE)) return 1;
  const char *digits = !strncmp(base, "key_", 4) ? base + 4 : !strncmp(base, "part_", 5) ? base + 5 : NULL;
  size_t d = digits ? strspn(digits, "0123456789") : 0;
  return d > 0 && !strcmp(digits + d, ".parquet");
}

/* Counts entries of dir other than . and ..; -1 if it does not exist. */
static long count_entries(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  long n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
  closedir(d);
  return n;
}

/* Removes the files of dir that gen writes (with --force). */
static int clear_ours(const char *dir, sj_error *err) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  struct dirent *e;
  int rc = 0;
  while (!rc && (e = readdir(d))) {
    if (!is_ours(e->d_name)) continue;
    char f[4096 + 256];
    snprintf(f, sizeof f, "%s/%s", dir, e->d_name);
    if (unlink(f) != 0 && errno != ENOENT) rc = sj_fail(err, SJ_EIO, "%s: cannot remove: %s", f, strerror(errno));
  }
  closedir(d);
  return rc;
}

/* Removes the dataset a previous run left (with --force): its marker first,
** so that it reads as incomplete while it is replaced. */
static int clear_previous(const char *out_dir, sj_error *err) {
  char path[4096];
  snprintf(path, sizeof path, "%s/" PQ_MARKER_HERE, out_dir);
  if (unlink(path) != 0 && errno != ENOENT) return sj_fail(err, SJ_EIO, "%s: cannot remove: %s", path, strerror(errno));
  snprintf(path, sizeof path, "%s/df1", out_dir);
  int rc = clear_ours(path, err);
  return rc ? rc : clear_ours(out_dir, err);
}

/* Every file of the run on disk (one syncfs, not an fsync per file), then
** the marker, durably. */
static int mark_done(const char *out_dir, sj_error *err) {
  int fd = open(out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || syncfs(fd) != 0) {
    int rc = sj_fail(err, SJ_EIO, "%s: cannot sync: %s", out_dir, strerror(errno));
    if (fd >= 0) close(fd);
    return rc;
  }
  close(fd);
  char path[4096];
  snprintf(path, sizeof path, "%s/" PQ_MARKER_HERE, out_dir);
  sj_output *o;
  int rc = sj_output_create(&o, path, err);
  return rc ? rc : sj_output_commit(o, err);
}

static int make_dir(const char *path, sj_error *err) {
  if (mkdir(path, 0755) == 0 || errno == EEXIST) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return 0;
    return sj_fail(err, SJ_EUSAGE, "%s exists and is not a directory", path);
  }
  return sj_fail(err, SJ_EIO, "%s: cannot create directory: %s", path, strerror(errno));
}

/* The output directory and any of its parents missing, as mkdir -p. */
static int make_dirs(const char *path, sj_error *err) {
  char part[4096];
  size_t n = strlen(path);
  assert(n < sizeof part);
  memcpy(part, path, n + 1);
  for (size_t i = 1; i < n; i++) {
    if (part[i] != '/' || part[i - 1] == '/') continue;
    part[i] = '\0';
    int rc = make_dir(part, err);
    part[i] = '/';
    if (rc) return rc;
  }
  return make_dir(path, err);
}

static int prepare_output(const gen_params *p, const char *out_dir, int force, sj_error *err) {
  if (strlen(out_dir) > 3000) return sj_fail(err, SJ_EUSAGE, "output path too long");
  long n = count_entries(out_dir);
  if (n > 0 && !force)
    return sj_fail(err, SJ_EUSAGE, "%s is not empty; pass --force to replace the dataset in it",
                   out_dir);
  int rc = n < 0 ? make_dirs(out_dir, err) : 0;
  if (!rc && n > 0) rc = clear_previous(out_dir, err);
  if (!rc && p->layout != GEN_LAYOUT_SINGLE) {
    char path[4096];
    snprintf(path, sizeof path, "%s/df1", out_dir);
    rc = make_dir(path, err);
  }
  return rc;
}

static void remove_written(const gen_params *p, const char *out_dir, uint64_t df1_files) {
  char path[4096];
  for (uint64_t i = 0; i < df1_files; i++) {
    gen_df1_path(p, out_dir, i, path, sizeof path);
    unlink(path);
  }
  snprintf(path, sizeof path, "%s/df2.parquet", out_dir);
  unlink(path);
}

int gen_run(const gen_params *p, const char *out_dir, int force, gen_progress_fn progress,
            void *progress_ctx, const sj_stop *stop, gen_report *report, sj_error *err) {
  memset(report, 0, sizeof *report);
  sj_alloc_policy(0);
  double t0 = sj_clock();
  int rc = gen_params_check(p, err);
  uint64_t *rows = NULL, df1_keys = 0, files_done = 0;
  np_rng rng;
  np_seed(&rng, p->seed);
  if (!rc) rc = gen_rows_per_key(p, &rng, &rows, &df1_keys, err);
  if (!rc && p->layout == GEN_LAYOUT_ROWS) {
    uint64_t total = 0;
    for (uint64_t k = 0; k < df1_keys; k++) total += rows[k];
    if (gen_df1_files(p, df1_keys, total) > 1000000)
      rc = sj_fail(err, SJ_EUSAGE, "--layout rows:%llu would write %llu files; at most 1000000",
                   (unsigned long long)p->rows_per_file,
                   (unsigned long long)gen_df1_files(p, df1_keys, total));
  }
  if (!rc) rc = prepare_output(p, out_dir, force, err);
  int writing = !rc;
  if (!rc)
    rc = gen_write_df1(p, &rng, rows, df1_keys, out_dir, progress, progress_ctx, stop, report,
                       &files_done, err);
  if (!rc) {
    char path[4096];
    snprintf(path, sizeof path, "%s/df2.parquet", out_dir);
    rc = write_df2(p, &rng, path, stop, report, err);
  }
  if (!rc) rc = mark_done(out_dir, err);
  if (rc && writing) remove_written(p, out_dir, files_done);
  free(rows);
  report->seconds = sj_clock() - t0;
  return rc;
}
