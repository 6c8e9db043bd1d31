/*
** pool.c — the worker pool (its interface and contract: pool.h).
**
** Jobs wait in a queue, served in the order they came; a worker takes the
** next task of the first job that has one for it (its number is below the
** job's width), under the pool's one mutex.  Tasks are morsels and tiles —
** tens of microseconds at least — so one lock per task costs nothing next to
** creating threads per job, which is what this replaced (J at s=0.01 started
** ~1,758 threads, one set per window of morsels of the hash plan).
*/
#include "pool.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct job {
  struct job *next;
  sj_task_fn fn;
  void *ctx;
  size_t n, taken;
  int width;   /* workers numbered below it take part */
  int checks_stop; /* refuse tasks once stopped (sj_pool_run's) */
  int running; /* tasks being run */
  int failed;
  sj_error err;
} job;

struct sj_pool {
  pthread_mutex_t mu;
  pthread_cond_t work; /* a job came, or the pool closes */
  pthread_cond_t done; /* a task ended */
  job *head, *tail;
  int closing;
  const sj_stop *stop;
  int nthreads;
  pthread_t tid[SJ_MAX_THREADS];
};

typedef struct worker_arg {
  sj_pool *pool;
  int me;
} worker_arg;

static job *next_job_locked(sj_pool *p, int me) {
  for (job *j = p->head; j; j = j->next)
    if (me < j->width && !j->failed && j->taken < j->n) return j;
  return NULL;
}

static void *worker_main(void *arg) {
  sj_pool *p = ((worker_arg *)arg)->pool;
  int me = ((worker_arg *)arg)->me;
  free(arg);
  pthread_mutex_lock(&p->mu);
  for (;;) {
    job *j = next_job_locked(p, me);
    if (!j) {
      if (p->closing) break;
      pthread_cond_wait(&p->work, &p->mu);
      continue;
    }
    size_t i = j->taken++;
    j->running++;
    pthread_mutex_unlock(&p->mu);
    sj_error e;
    int rc = j->checks_stop && sj_stop_requested(p->stop) ? sj_fail(&e, SJ_EINTR, "interrupted") : j->fn(j->ctx, i, me, &e);
    pthread_mutex_lock(&p->mu);
    j->running--;
    if (rc && !j->failed) {
      j->failed = 1;
      j->err = e;
      if (!j->err.code) j->err.code = rc;
    }
    if ((j->failed || j->taken == j->n) && !j->running) pthread_cond_broadcast(&p->done);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

int sj_pool_new(sj_pool **out, int threads, const sj_stop *stop, sj_error *err) {
  *out = NULL;
  if (threads <= 0) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    threads = cores > 0 ? (int)cores : 1;
  }
  if (threads > SJ_MAX_THREADS) threads = SJ_MAX_THREADS;
  sj_pool *p = calloc(1, sizeof *p);
  if (!p) return sj_fail(err, SJ_ENOMEM, "out of memory");
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->work, NULL);
  pthread_cond_init(&p->done, NULL);
  p->stop = stop;
  for (; p->nthreads < threads; p->nthreads++) {
    worker_arg *a = malloc(sizeof *a);
    if (!a) break;
    *a = (worker_arg){p, p->nthreads};
    if (pthread_create(&p->tid[p->nthreads], NULL, worker_main, a)) {
      free(a);
      break;
    }
  }
  if (!p->nthreads) {
    sj_pool_free(p);
    return sj_fail(err, SJ_ENOMEM, "cannot start a thread");
  }
  *out = p;
  return 0;
}

void sj_pool_free(sj_pool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  assert(!p->head); /* every job is waited for by the thread that ran it */
  p->closing = 1;
  pthread_cond_broadcast(&p->work);
  pthread_mutex_unlock(&p->mu);
  for (int i = 0; i < p->nthreads; i++) pthread_join(p->tid[i], NULL);
  pthread_cond_destroy(&p->done);
  pthread_cond_destroy(&p->work);
  pthread_mutex_destroy(&p->mu);
  free(p);
}

int sj_pool_threads(const sj_pool *p) { return p->nthreads; }

int sj_pool_stopped(const sj_pool *p) { return sj_stop_requested(p->stop); }

static int run_job(sj_pool *p, size_t n, sj_task_fn fn, void *ctx, int checks_stop, sj_error *err) {
  job j = {.fn = fn, .ctx = ctx, .n = n, .width = n < (size_t)p->nthreads ? (int)n : p->nthreads,
           .checks_stop = checks_stop};
  if (!n) return 0;
  pthread_mutex_lock(&p->mu);
  if (p->tail) p->tail->next = &j;
  else p->head = &j;
  p->tail = &j;
  pthread_cond_broadcast(&p->work);
  while (!(j.failed || j.taken == j.n) || j.running) pthread_cond_wait(&p->done, &p->mu);
  job **at = &p->head, *prev = NULL;
  while (*at != &j) prev = *at, at = &(*at)->next;
  *at = j.next;
  if (p->tail == &j) p->tail = prev;
  pthread_mutex_unlock(&p->mu);
  if (!j.failed) return 0;
  *err = j.err;
  return err->code;
}

int sj_pool_run(sj_pool *p, size_t n, sj_task_fn fn, void *ctx, sj_error *err) {
  return run_job(p, n, fn, ctx, 1, err);
}

/* ------------------------------------------------------ the ordered window */

/* Items are made on the workers and written by whichever of them finds the
** item at the writer's position made and no one writing: a hand-off to the
** calling thread cost a sleep and a wake-up per item (gen's df1, thousands
** of one-key files: ~9,000 context switches and 15% of its wall time). */
typedef struct window_job {
  const sj_window *w;
  const sj_pool *pool;
  size_t n, depth;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  size_t next, written;
  uint8_t *made; /* item t is made: made[t % depth] (t < written + depth) */
  int writing;   /* a worker is writing: the others only make */
  int failed;
  sj_error err;
} window_job;

static void window_fail_locked(window_job *wj, int rc, const sj_error *e) {
  if (!wj->failed) {
    wj->failed = 1;
    wj->err = *e;
    if (!wj->err.code) wj->err.code = rc;
  }
  pthread_cond_broadcast(&wj->cv);
}

/* Writes the made items at the writer's position, in order, unless another
** worker is at it.  Called with the lock held; drops it around each write. */
static void window_write_locked(window_job *wj) {
  if (wj->writing) return;
  wj->writing = 1;
  while (!wj->failed && wj->written < wj->n && wj->made[wj->written % wj->depth]) {
    pthread_mutex_unlock(&wj->mu);
    sj_error e;
    int rc = sj_pool_stopped(wj->pool) ? sj_fail(&e, SJ_EINTR, "interrupted") : wj->w->write(wj->w->ctx, wj->written, &e);
    pthread_mutex_lock(&wj->mu);
    if (rc) {
      window_fail_locked(wj, rc, &e);
      break;
    }
    wj->made[wj->written % wj->depth] = 0;
    wj->written++;
    pthread_cond_broadcast(&wj->cv);
  }
  wj->writing = 0;
}

/* One per worker: takes items while they fit in the window, makes each one
** it took whatever happens meanwhile, and writes what is ready. */
static int window_worker(void *ctx, size_t i, int worker, sj_error *err) {
  (void)i;
  (void)err;
  window_job *wj = ctx;
  pthread_mutex_lock(&wj->mu);
  for (;;) {
    while (!wj->failed && wj->next < wj->n && wj->next >= wj->written + wj->depth) pthread_cond_wait(&wj->cv, &wj->mu);
    if (wj->failed || wj->next >= wj->n) break;
    if (sj_pool_stopped(wj->pool)) {
      sj_error e;
      window_fail_locked(wj, sj_fail(&e, SJ_EINTR, "interrupted"), &e);
      break;
    }
    size_t t = wj->next++;
    pthread_mutex_unlock(&wj->mu);
    sj_error e;
    int rc = wj->w->make(wj->w->ctx, t, worker, &e);
    pthread_mutex_lock(&wj->mu);
    if (rc) window_fail_locked(wj, rc, &e);
    wj->made[t % wj->depth] = 1;
    window_write_locked(wj);
    pthread_cond_broadcast(&wj->cv);
  }
  pthread_mutex_unlock(&wj->mu);
  return 0;
}

int sj_pool_ordered(sj_pool *p, size_t n, const sj_window *w, sj_error *err) {
  if (!n) return 0;
  window_job wj = {.w = w, .pool = p, .n = n, .depth = 2 * (size_t)p->nthreads + 2};
  if (!(wj.made = calloc(wj.depth, 1))) return sj_fail(err, SJ_ENOMEM, "out of memory");
  pthread_mutex_init(&wj.mu, NULL);
  pthread_cond_init(&wj.cv, NULL);
  size_t workers = n < (size_t)p->nthreads ? n : (size_t)p->nthreads;
  /* Not stopped by the pool: a worker that took an item must make it. */
  int rc = run_job(p, workers, window_worker, &wj, 0, err);
  if (!rc && wj.failed) {
    *err = wj.err;
    rc = err->code;
  }
  assert(rc || wj.written == n);
  pthread_cond_destroy(&wj.cv);
  pthread_mutex_destroy(&wj.mu);
  free(wj.made);
  return rc;
}
