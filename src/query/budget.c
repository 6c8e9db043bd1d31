/*
** budget.c — the memory limit's shares (budget.h says which and why).
*/
#include "budget.h"
#include "skewjoin.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *names[MEM_SHARES] = {"sort", "ranks", "runs", "combine", "scan", "reads", "answer"};

uint64_t sj_memory_default(void) {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page / 2 : (uint64_t)4 << 30;
}

void budget_init(budget *b, uint64_t limit) {
  for (int s = 0; s < MEM_SHARES; s++) {
    atomic_init(&b->size[s], 0);
    atomic_init(&b->held[s], 0);
    atomic_init(&b->peak[s], 0);
  }
  if (!limit) limit = sj_memory_default();
  b->limit = b->rest = limit;
  pthread_mutex_init(&b->mu, NULL);
  pthread_cond_init(&b->given, NULL);
}

void budget_free(budget *b) {
  pthread_mutex_destroy(&b->mu);
  pthread_cond_destroy(&b->given);
}

uint64_t budget_share(budget *b, mem_share s) {
  uint64_t v = 0;
  switch (s) {
    case MEM_SORT: v = b->rest / 4; break;
    case MEM_RANKS: v = b->rest / 32; break;
    case MEM_RUNS: v = b->rest / 2; break;
    case MEM_COMBINE: v = b->rest / 64; break;
    case MEM_SCAN: v = b->rest / 4; break;
    case MEM_READS: v = b->rest / 4; break;
    case MEM_ANSWER: v = b->rest / 2; break;
    case MEM_SHARES: break;
  }
  atomic_store(&b->size[s], v);
  return v;
}

uint64_t budget_carve(budget *b, mem_share s) {
  uint64_t v = budget_share(b, s);
  b->rest -= v;
  return v;
}

void budget_keep(budget *b, mem_share s, uint64_t bytes) {
  b->rest = b->rest > 2 * bytes ? b->rest - bytes : b->rest / 2;
  budget_hold(b, s, (int64_t)bytes);
}

void budget_hold(budget *b, mem_share s, int64_t delta) {
  unsigned long long now = atomic_fetch_add(&b->held[s], (unsigned long long)delta) + (unsigned long long)delta;
  unsigned long long peak = atomic_load(&b->peak[s]);
  while (delta > 0 && now > peak && !atomic_compare_exchange_weak(&b->peak[s], &peak, now)) {}
}

void budget_explain(const budget *b, char *out, size_t n) {
  size_t at = (size_t)snprintf(out, n, "  memory %.1f MB", (double)b->limit / 1048576.0);
  const char *sep = ":";
  for (int s = 0; s < MEM_SHARES && at < n; s++) {
    unsigned long long size = atomic_load(&b->size[s]);
    if (!size) continue;
    unsigned long long peak = atomic_load(&b->peak[s]);
    at += (size_t)snprintf(out + at, n - at, "%s %s %.1f MB", sep, names[s], (double)size / 1048576.0);
    sep = ",";
    if (peak && at < n) at += (size_t)snprintf(out + at, n - at, " (held at most %.1f MB)", (double)peak / 1048576.0);
  }
  if (at < n) snprintf(out + at, n - at, "\n");
}

void budget_wait(budget *b, mem_share s, uint64_t bytes) {
  pthread_mutex_lock(&b->mu);
  for (;;) {
    unsigned long long held = atomic_load(&b->held[s]);
    if (!held || held + bytes <= atomic_load(&b->size[s])) break;
    pthread_cond_wait(&b->given, &b->mu);
  }
  budget_hold(b, s, (int64_t)bytes);
  pthread_mutex_unlock(&b->mu);
}

void budget_give(budget *b, mem_share s, uint64_t bytes) {
  pthread_mutex_lock(&b->mu);
  budget_hold(b, s, -(int64_t)bytes);
  pthread_cond_broadcast(&b->given);
  pthread_mutex_unlock(&b->mu);
}
