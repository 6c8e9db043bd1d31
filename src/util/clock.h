/*
** clock.h — the one clock: seconds on the monotonic clock, for --explain's
** phase times, gen's report and the progress bar.
*/
#ifndef SJ_CLOCK_H
#define SJ_CLOCK_H

#include <time.h>

static inline double sj_clock(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

#endif
