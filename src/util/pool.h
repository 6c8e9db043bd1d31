/*
** pool.h — the runtime every parallel part of the library runs on: one set
** of worker threads per query (or generation run), started once and kept
** until it ends, and the two shapes of work the engine has.
**
**   sj_pool_new          start the workers; they run tasks until freed
**   sj_pool_run          fork-join: fn(ctx, i, worker) for every i in
**                        [0, n), each once, on any worker; returns when all
**                        are done, with the first failure's code and message
**   sj_pool_ordered      the ordered window: make(item) on any worker, at
**                        most 2·threads + 2 items ahead of the writer, and
**                        write(item) in item order, by one worker at a time
**                        (the one that finds the next item to write made)
**   sj_pool_free         stop and join the workers
**
** `worker` is the worker's number, below sj_pool_threads() and below n: per-
** worker state is an array indexed by it.  A stop request (sj_stop, held by
** the caller of the query) is checked before every task of sj_pool_run and
** every item (and write) of sj_pool_ordered: a stopped run fails with
** SJ_EINTR.
** Several threads may run jobs on one pool at once (the distributed tiler
** shares one between tiles); jobs are served in the order they came.  A
** task must not run a job on its own pool: its worker would wait for itself.
*/
#ifndef SJ_POOL_H
#define SJ_POOL_H

#include "skewjoin.h"

typedef struct sj_pool sj_pool;
typedef int (*sj_task_fn)(void *ctx, size_t i, int worker, sj_error *err);

/* threads: 0 means all cores; capped at SJ_MAX_THREADS (skewjoin.h), the
** length of per-worker arrays.  stop may be NULL. */
int sj_pool_new(sj_pool **out, int threads, const sj_stop *stop, sj_error *err);
void sj_pool_free(sj_pool *p);
int sj_pool_threads(const sj_pool *p);
/* 1 once the pool's stop request is set. */
int sj_pool_stopped(const sj_pool *p);

int sj_pool_run(sj_pool *p, size_t n, sj_task_fn fn, void *ctx, sj_error *err);

/* An item once taken by a worker is always made, even after a failure
** elsewhere: make(t) may wait for item t - 1's make (the sort's merge hands
** out its chunks in turn), never for a later one. */
typedef struct sj_window {
  void *ctx;
  int (*make)(void *ctx, size_t item, int worker, sj_error *err);
  int (*write)(void *ctx, size_t item, sj_error *err);
} sj_window;

int sj_pool_ordered(sj_pool *p, size_t n, const sj_window *w, sj_error *err);

#endif
