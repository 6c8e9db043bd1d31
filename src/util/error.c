/*
** error.c — the error convention of the library, and cooperative stop.
**
** Every fallible function returns a status and fills an sj_error; only the
** CLI turns statuses into exit codes.  Stop requests come from signal
** handlers, so the flag is a lock-free atomic.
*/
#include "skewjoin.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

int sj_fail(sj_error *err, int code, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->code = code;
  }
  return code;
}

static atomic_int stop_flag;

void sj_request_stop(void) { atomic_store(&stop_flag, 1); }
int sj_stop_requested(void) { return atomic_load_explicit(&stop_flag, memory_order_relaxed); }
