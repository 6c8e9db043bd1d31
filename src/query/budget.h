/*
** budget.h — the query's memory limit and how it is shared out: the one
** place that answers "how is --memory-limit 256M divided?" (budget.c), and
** the peak each share actually held, which --explain prints.
**
** The limit (--memory-limit; by default half of RAM) is shared out in the
** order the query takes it:
**
**   sort     a quarter of it, for the sorting sink's rows, when the by-list
**            interleaves the sides (budget_carve); the plan has the rest
**   ranks    1/32 of the rest while a column's distinct values are collected
**            as ranks; what the dictionaries hold for good is then taken off
**            the rest (budget_keep)
**   runs     half of the rest: the merge plan's sorted runs in memory (past
**            it they spill to a temporary file)
**   combine  1/64 of the rest: when spilling, row groups of one file whose
**            rows fit in it are combined into one run per key
**   scan     a quarter of the rest: the row groups being decoded and
**            sorted, all threads (budget_wait: a thread waits for room)
**   reads    a quarter of the rest: spilled runs read back, all threads
**   answer   half of the rest: the hash plan's answer groups (past it they
**            spill as sorted runs), then the buffers that merge those runs
**
** The shares are fractions of the same rest, not a partition: they are held
** at different times.  Holders report what they hold (budget_hold) so that
** --explain can say how much of each share was used.
*/
#ifndef QUERY_BUDGET_H
#define QUERY_BUDGET_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { MEM_SORT, MEM_RANKS, MEM_RUNS, MEM_COMBINE, MEM_SCAN, MEM_READS, MEM_ANSWER, MEM_SHARES } mem_share;

typedef struct budget {
  uint64_t limit;                 /* the whole */
  uint64_t rest;                  /* after the sort's share and the kept ranks */
  atomic_ullong size[MEM_SHARES]; /* the share last handed out, 0: never */
  atomic_ullong held[MEM_SHARES]; /* as reported by the holders */
  atomic_ullong peak[MEM_SHARES];
  pthread_mutex_t mu; /* budget_wait's */
  pthread_cond_t given;
} budget;

/* limit 0: sj_memory_default(). */
void budget_init(budget *b, uint64_t limit);
void budget_free(budget *b);
/* The sort's share, taken off the rest for good. */
uint64_t budget_carve(budget *b, mem_share s);
/* A share of the rest as it is now (recorded for --explain). */
uint64_t budget_share(budget *b, mem_share s);
/* Bytes the share keeps for the rest of the query, taken off the rest (at
** most half of it at a time). */
void budget_keep(budget *b, mem_share s, uint64_t bytes);
/* A holder's bytes of the share came or went; any thread. */
void budget_hold(budget *b, mem_share s, int64_t delta);
/* Holds `bytes` of the share once they fit beside what others hold (more
** than the whole share: once nothing else is held), waiting till then;
** budget_give hands them back.  Any thread. */
void budget_wait(budget *b, mem_share s, uint64_t bytes);
void budget_give(budget *b, mem_share s, uint64_t bytes);
/* "  memory 256.0 MB: sort 64.0 MB (held at most 12.1 MB), …\n". */
void budget_explain(const budget *b, char *out, size_t n);

#endif
