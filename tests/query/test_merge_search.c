/*
** test_merge_search.c — the searches the merge plan uses to find a unit's
** code range in each run (src/query/merge.h): entry_lower_bound,
** entry_gallop and entry_search_near give the first entry whose code is at
** least the one sought, on runs of every length up to 70, for every code
** around the run's and, for entry_search_near, from every guess — checked
** against a linear scan.
*/
#include "check.h"
#include "query/runs.h"

#include <stdlib.h>

enum { EW = 3, MAX_N = 70 };

/* The first entry of e[0..n) with a code >= code, by looking at each. */
static size_t linear(const uint64_t *e, size_t n, uint64_t code) {
  size_t i = 0;
  while (i < n && e[i * EW] < code) i++;
  return i;
}

int main(void) {
  static uint64_t e[MAX_N * EW];
  srand(7);
  int bad_lb = 0, bad_gallop = 0, bad_near = 0;
  for (size_t n = 0; n <= MAX_N; n++) {
    uint64_t code = 5;
    for (size_t i = 0; i < n; i++) { /* distinct, increasing, with gaps of 1 to 4 */
      code += 1 + (uint64_t)(rand() % 4);
      e[i * EW] = code;
      e[i * EW + 1] = i;
    }
    for (uint64_t c = 0; c <= code + 2; c++) {
      size_t want = linear(e, n, c);
      bad_lb += (size_t)(entry_lower_bound(e, n, EW, c) - e) != want * EW;
      bad_gallop += (size_t)(entry_gallop(e, n, EW, c) - e) != want * EW;
      for (size_t g = 0; g < n; g++) bad_near += (size_t)(entry_search_near(e, n, EW, c, g) - e) != want * EW;
    }
  }
  CHECK(!bad_lb, "entry_lower_bound: %d wrong", bad_lb);
  CHECK(!bad_gallop, "entry_gallop: %d wrong", bad_gallop);
  CHECK(!bad_near, "entry_search_near: %d wrong", bad_near);
  return check_summary("merge searches");
}
