/*
** error.c — the error convention of the library, and cooperative stop.
**
** Every fallible function returns a status and fills an sj_error; only the
** CLI turns statuses into exit codes.  Stop requests come from signal
** handlers, so a handle is a lock-free atomic flag; each query or run has
** its own, so one stopped query does not stop the next in the process.
*/
#include "skewjoin.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

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

struct sj_stop {
  atomic_int flag;
};

sj_stop *sj_stop_new(void) {
  sj_stop *s = malloc(sizeof *s);
  if (s) atomic_init(&s->flag, 0);
  return s;
}

void sj_stop_free(sj_stop *s) { free(s); }
void sj_stop_request(sj_stop *s) { if (s) atomic_store(&s->flag, 1); }
void sj_stop_reset(sj_stop *s) { if (s) atomic_store(&s->flag, 0); }

int sj_stop_requested(const sj_stop *s) {
  return s && atomic_load_explicit(&((sj_stop *)s)->flag, memory_order_relaxed);
}
