/*
** scan.c — the reader's scan speed: decode chosen columns of every row
** group of every file, on N threads pulling (file, row group) morsels.
** usage: bench-scan THREADS COLUMNS FILE...   (COLUMNS like key,value)
** Prints JSON: rows, seconds, and a checksum so no work can be skipped.
*/
#include "skewjoin.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct morsel { int file, rg; } morsel;

static pq_reader **readers;
static int ncols_wanted;
static char *wanted[16];
static morsel *morsels;
static size_t nmorsels;
static atomic_size_t next;
static atomic_uint_fast64_t total_rows;

typedef struct result { double sum; int64_t isum; int failed; } result;

static void *scan(void *arg) {
  result *res = arg;
  size_t m;
  while ((m = atomic_fetch_add(&next, 1)) < nmorsels) {
    pq_reader *r = readers[morsels[m].file];
    for (int k = 0; k < ncols_wanted; k++) {
      int c = pq_find_column(r, wanted[k]);
      pq_column col;
      sj_error err;
      if (c < 0 || pq_read(r, morsels[m].rg, c, &col, &err)) { res->failed = 1; return NULL; }
      if (col.type == PQ_DOUBLE) {
        const double *v = (const double *)col.values;
        for (uint64_t i = 0; i < col.rows; i++) res->sum += v[i];
      } else if (col.type == PQ_INT64) {
        const int64_t *v = (const int64_t *)col.values;
        for (uint64_t i = 0; i < col.rows; i++) res->isum += v[i];
      }
      if (k == 0) atomic_fetch_add(&total_rows, col.rows);
      pq_column_free(&col);
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: bench-scan THREADS COLUMNS FILE...\n");
    return 2;
  }
  int threads = atoi(argv[1]);
  for (char *tok = strtok(argv[2], ","); tok && ncols_wanted < 16; tok = strtok(NULL, ","))
    wanted[ncols_wanted++] = tok;
  int nfiles = argc - 3;
  readers = calloc((size_t)nfiles, sizeof *readers);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int f = 0; f < nfiles; f++) {
    sj_error err;
    if (pq_open(&readers[f], argv[3 + f], &err)) {
      fprintf(stderr, "%s\n", err.msg);
      return 1;
    }
    nmorsels += (size_t)pq_nrowgroups(readers[f]);
  }
  morsels = malloc((nmorsels ? nmorsels : 1) * sizeof *morsels);
  size_t k = 0;
  for (int f = 0; f < nfiles; f++)
    for (int rg = 0; rg < pq_nrowgroups(readers[f]); rg++) morsels[k++] = (morsel){f, rg};
  pthread_t tid[64];
  result res[64];
  memset(res, 0, sizeof res);
  if (threads < 1 || threads > 64) threads = 1;
  for (int t = 0; t < threads; t++) pthread_create(&tid[t], NULL, scan, &res[t]);
  double sum = 0;
  int64_t isum = 0;
  int failed = 0;
  for (int t = 0; t < threads; t++) {
    pthread_join(tid[t], NULL);
    sum += res[t].sum;
    isum += res[t].isum;
    failed |= res[t].failed;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  for (int f = 0; f < nfiles; f++) pq_close(readers[f]);
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
  printf("{\"rows\": %llu, \"seconds\": %.4f, \"sum\": %.6f, \"isum\": %lld, \"failed\": %d}\n",
         (unsigned long long)atomic_load(&total_rows), secs, sum, (long long)isum, failed);
  return failed;
}
