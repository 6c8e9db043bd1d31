/*
** test_pool.c — the runtime's worker pool (src/util/pool.h): every task runs
** once with a worker number below the pool's and the job's size; the first
** failure's message comes back and no task starts after it; a stop request
** fails the run with SJ_EINTR and is the handle's alone (a pool with another
** handle, or the same one reset, runs clean); the ordered window writes
** every item in order, at most 2·threads + 2 ahead, makes each item it took
** even after a failure, and passes a make's or a write's failure on; jobs run
** on one pool from several threads at once; the workers are started once.
*/
#include "check.h"
#include "util/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { N = 10000 };

typedef struct count_job {
  atomic_int runs[N];
  atomic_int bad_worker;
  atomic_long started;
  int width;       /* a worker's number must be below it */
  size_t fail_at;  /* N: none */
  sj_stop *stop_at_half;
} count_job;

static int count_task(void *ctx, size_t i, int worker, sj_error *err) {
  count_job *j = ctx;
  atomic_fetch_add(&j->runs[i], 1);
  atomic_fetch_add(&j->started, 1);
  if (worker < 0 || worker >= j->width) atomic_store(&j->bad_worker, 1);
  if (i == j->fail_at) return sj_fail(err, SJ_ECORRUPT, "task %zu failed", i);
  if (j->stop_at_half && i == N / 2) sj_stop_request(j->stop_at_half);
  return 0;
}

static count_job *count_new(int width) {
  count_job *j = calloc(1, sizeof *j);
  j->width = width;
  j->fail_at = N;
  return j;
}

static void test_fork_join(void) {
  for (int threads = 1; threads <= 7; threads += 3) {
    sj_pool *p;
    sj_error err = {0};
    CHECK(!sj_pool_new(&p, threads, NULL, &err) && sj_pool_threads(p) == threads, "pool of %d", threads);
    for (int round = 0; round < 3; round++) { /* the same workers, job after job */
      count_job *j = count_new(threads);
      CHECK(!sj_pool_run(p, N, count_task, j, &err), "run %d on %d threads: %s", round, threads, err.msg);
      int once = 1;
      for (size_t i = 0; i < N; i++) once &= j->runs[i] == 1;
      CHECK(once && !j->bad_worker, "every task once, workers below %d", threads);
      free(j);
    }
    count_job *j = count_new(2); /* a job smaller than the pool: workers below its size */
    CHECK(!sj_pool_run(p, 2, count_task, j, &err) && j->runs[0] == 1 && j->runs[1] == 1 && !j->bad_worker,
          "2 tasks on %d threads use workers 0 and 1", threads);
    free(j);
    CHECK(!sj_pool_run(p, 0, count_task, NULL, &err), "no task: success");
    sj_pool_free(p);
  }
}

static void test_failure(void) {
  sj_pool *p;
  sj_error err = {0};
  sj_pool_new(&p, 3, NULL, &err);
  count_job *j = count_new(3);
  j->fail_at = 100;
  int rc = sj_pool_run(p, N, count_task, j, &err);
  CHECK(rc == SJ_ECORRUPT && !strcmp(err.msg, "task 100 failed"), "the failure comes back: %d %s", rc, err.msg);
  CHECK(j->started < N, "no task starts after a failure (%ld of %d ran)", (long)j->started, N);
  free(j);
  j = count_new(3);
  CHECK(!sj_pool_run(p, N, count_task, j, &err), "a run after a failed one succeeds");
  free(j);
  sj_pool_free(p);
}

static void test_stop(void) {
  sj_stop *stop = sj_stop_new(), *other = sj_stop_new();
  sj_pool *p, *q;
  sj_error err = {0};
  sj_pool_new(&p, 2, stop, &err);
  sj_pool_new(&q, 2, other, &err);
  count_job *j = count_new(2);
  j->stop_at_half = stop;
  int rc = sj_pool_run(p, N, count_task, j, &err);
  CHECK(rc == SJ_EINTR && !strcmp(err.msg, "interrupted"), "a stopped run: SJ_EINTR (%d %s)", rc, err.msg);
  CHECK(j->started < N && sj_pool_stopped(p) && !sj_pool_stopped(q), "the stop is its handle's only");
  free(j);
  j = count_new(2);
  CHECK(!sj_pool_run(q, N, count_task, j, &err), "a pool with another handle runs clean after a stop");
  free(j);
  sj_stop_reset(stop);
  j = count_new(2);
  CHECK(!sj_pool_run(p, N, count_task, j, &err), "the same handle, reset, runs clean");
  free(j);
  sj_pool_free(p);
  sj_pool_free(q);
  sj_stop_free(stop);
  sj_stop_free(other);
  CHECK(!sj_stop_requested(NULL), "no handle: never stopped");
}

/* ---------------------------------------------------------------- window */

typedef struct win_job {
  size_t n, written, depth, max_ahead;
  atomic_size_t made_count;
  atomic_size_t highest_taken;
  size_t fail_make, fail_write; /* n: none */
  uint8_t *made;
  int out_of_order;
  atomic_int writers; /* writes running now */
  atomic_int overlapped;
  sj_stop *stop;
  size_t stop_at;
} win_job;

static int win_make(void *ctx, size_t t, int worker, sj_error *err) {
  (void)worker;
  win_job *j = ctx;
  size_t h = atomic_load(&j->highest_taken);
  while (t > h && !atomic_compare_exchange_weak(&j->highest_taken, &h, t)) {}
  j->made[t] = 1;
  atomic_fetch_add(&j->made_count, 1);
  if (t % 7 == 0) usleep(50); /* out of order on purpose */
  if (t == j->fail_make) return sj_fail(err, SJ_EIO, "make %zu failed", t);
  return 0;
}

static int win_write(void *ctx, size_t t, sj_error *err) {
  win_job *j = ctx;
  if (atomic_fetch_add(&j->writers, 1)) atomic_store(&j->overlapped, 1);
  if (t % 13 == 0) usleep(20); /* a slow write, for another worker to overlap it */
  atomic_fetch_sub(&j->writers, 1);
  if (t != j->written || !j->made[t]) j->out_of_order = 1;
  size_t ahead = atomic_load(&j->highest_taken) - t;
  if (ahead > j->max_ahead) j->max_ahead = ahead;
  j->written++;
  if (j->stop && t == j->stop_at) sj_stop_request(j->stop);
  if (t == j->fail_write) return sj_fail(err, SJ_EIO, "write %zu failed", t);
  return 0;
}

static win_job *win_new(size_t n) {
  win_job *j = calloc(1, sizeof *j);
  j->n = n;
  j->fail_make = j->fail_write = n;
  j->made = calloc(n ? n : 1, 1);
  return j;
}

static void win_free(win_job *j) {
  free(j->made);
  free(j);
}

static void test_window(void) {
  sj_stop *stop = sj_stop_new();
  sj_pool *p;
  sj_error err = {0};
  sj_pool_new(&p, 3, stop, &err);
  size_t depth = 2 * 3 + 2;
  win_job *j = win_new(2000);
  sj_window w = {j, win_make, win_write};
  CHECK(!sj_pool_ordered(p, j->n, &w, &err) && j->written == j->n && !j->out_of_order,
        "the window writes every item in order (%zu of %zu)", j->written, j->n);
  CHECK(!j->overlapped, "one write at a time, whichever worker writes");
  CHECK(j->max_ahead < depth, "at most %zu items ahead of the writer: %zu", depth, j->max_ahead);
  win_free(j);

  j = win_new(2000);
  j->fail_make = 500;
  w.ctx = j;
  int rc = sj_pool_ordered(p, j->n, &w, &err);
  CHECK(rc == SJ_EIO && !strcmp(err.msg, "make 500 failed") && j->written <= 500 && j->made_count < j->n,
        "a make's failure ends the window: %d %s, %zu written", rc, err.msg, j->written);
  int taken_made = 1;
  for (size_t t = 0; t <= j->highest_taken; t++) taken_made &= j->made[t];
  CHECK(taken_made, "no item before the last one made was skipped: each one taken was made");
  win_free(j);

  j = win_new(2000);
  j->fail_write = 300;
  w.ctx = j;
  rc = sj_pool_ordered(p, j->n, &w, &err);
  CHECK(rc == SJ_EIO && !strcmp(err.msg, "write 300 failed") && j->written == 301,
        "a write's failure ends the window: %d %s", rc, err.msg);
  win_free(j);

  j = win_new(2000);
  j->stop = stop;
  j->stop_at = 100;
  w.ctx = j;
  rc = sj_pool_ordered(p, j->n, &w, &err);
  CHECK(rc == SJ_EINTR && j->written == 101, "a stop ends the window after the item written: %d, %zu", rc,
        j->written);
  win_free(j);
  sj_stop_reset(stop);

  j = win_new(1);
  w.ctx = j;
  CHECK(!sj_pool_ordered(p, 1, &w, &err) && j->written == 1, "a window of one item");
  CHECK(!sj_pool_ordered(p, 0, &w, &err), "a window of none");
  win_free(j);
  sj_pool_free(p);
  sj_stop_free(stop);
}

/* ------------------------------------------------- several callers at once */

typedef struct caller {
  sj_pool *p;
  int ok;
} caller;

static void *call_runs(void *arg) {
  caller *c = arg;
  c->ok = 1;
  for (int round = 0; round < 20; round++) {
    count_job *j = count_new(sj_pool_threads(c->p));
    sj_error err;
    if (sj_pool_run(c->p, N / 10, count_task, j, &err)) c->ok = 0;
    for (size_t i = 0; i < N / 10; i++) c->ok &= j->runs[i] == 1;
    free(j);
    win_job *wj = win_new(300);
    sj_window w = {wj, win_make, win_write};
    if (sj_pool_ordered(c->p, wj->n, &w, &err) || wj->out_of_order || wj->written != wj->n) c->ok = 0;
    win_free(wj);
  }
  return NULL;
}

static void test_callers(void) {
  sj_pool *p;
  sj_error err;
  sj_pool_new(&p, 2, NULL, &err);
  caller c[4];
  pthread_t t[4];
  for (int i = 0; i < 4; i++) {
    c[i] = (caller){p, 0};
    pthread_create(&t[i], NULL, call_runs, &c[i]);
  }
  int ok = 1;
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    ok &= c[i].ok;
  }
  CHECK(ok, "four threads running jobs and windows on one pool");
  sj_pool_free(p);
}

/* The threads a pool makes: its workers, once, whatever the jobs. */
static int threads_now(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  int n = -1;
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "Threads:", 8)) n = atoi(line + 8);
  if (f) fclose(f);
  return n;
}

static void test_threads_once(void) {
  int before = threads_now();
  sj_pool *p;
  sj_error err;
  sj_pool_new(&p, 4, NULL, &err);
  int during = threads_now();
  for (int round = 0; round < 50; round++) {
    count_job *j = count_new(4);
    sj_pool_run(p, 64, count_task, j, &err);
    free(j);
  }
  CHECK(threads_now() == during && during == before + 4, "4 workers, started once: %d, %d, %d threads", before,
        during, threads_now());
  sj_pool_free(p);
  CHECK(threads_now() == before, "the workers end with the pool");
}

int main(void) {
  test_fork_join();
  test_failure();
  test_stop();
  test_window();
  test_callers();
  test_threads_once();
  return check_summary("pool");
}
