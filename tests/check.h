/*
** check.h — the unit tests' harness: CHECK records a pass or a failure with
** its place, and check_summary prints the closing "N passed, N failed".
*/
#ifndef SJ_CHECK_H
#define SJ_CHECK_H

#include <stdio.h>

static int check_passed, check_failed;

#define CHECK(cond, ...)                                          \
  do {                                                            \
    if (cond) {                                                   \
      check_passed++;                                             \
    } else {                                                      \
      check_failed++;                                             \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);        \
      fprintf(stderr, __VA_ARGS__);                               \
      fputc('\n', stderr);                                        \
    }                                                             \
  } while (0)

static int check_summary(const char *suite) {
  printf("%s: %d passed, %d failed\n", suite, check_passed, check_failed);
  return check_failed ? 1 : 0;
}

#endif
