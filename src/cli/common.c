/*
** common.c — what every subcommand uses (cli.h): exit codes, strict number
** parsing, the progress bar, the one-FILE commands' arguments, and the
** signal handlers that stop the running command's work.
*/
#include "cli.h"
#include "../util/clock.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

int cli_exit_code(int status) {
  switch (status) {
    case SJ_OK: return 0;
    case SJ_EUSAGE: return 2;
    case SJ_EINTR: return 130;
    default: return 1;
  }
}

int cli_parse_u64(const char *s, const char *what, uint64_t *out, sj_error *err) {
  char *end;
  errno = 0;
  if (!*s || *s == '-' || *s == '+' || *s == ' ')
    return sj_fail(err, SJ_EUSAGE, "%s: '%s' is not a whole number >= 0", what, s);
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end)
    return sj_fail(err, SJ_EUSAGE, "%s: '%s' is not a whole number >= 0", what, s);
  *out = v;
  return 0;
}

int cli_parse_double(const char *s, const char *what, double *out, sj_error *err) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (!*s || errno || *end || !isfinite(v))
    return sj_fail(err, SJ_EUSAGE, "%s: '%s' is not a number", what, s);
  *out = v;
  return 0;
}

void cli_progress_init(cli_progress *pr, const char *label, const char *unit) {
  pr->enabled = isatty(STDERR_FILENO);
  pr->start = pr->last = sj_clock();
  pr->label = label;
  pr->unit = unit;
}

void cli_progress_update(void *ctx, uint64_t done, uint64_t total) {
  cli_progress *pr = ctx;
  if (!pr->enabled) return;
  double t = sj_clock();
  if (t - pr->last < 0.2 && done < total) return;
  pr->last = t;
  double frac = total ? (double)done / (double)total : 1.0;
  char bar[31];
  int fill = (int)(frac * 30);
  for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
  bar[30] = 0;
  double el = t - pr->start, rate = el > 0 ? (double)done / el : 0;
  double eta = rate > 0 ? (double)(total - done) / rate : 0;
  fprintf(stderr, "\r%s [%s] %5.1f%%  %.3g/%.3g %s  %.3g %s/s  ETA %.0fs   ", pr->label, bar,
          100 * frac, (double)done, (double)total, pr->unit, rate, pr->unit, eta);
  fflush(stderr);
}

void cli_progress_finish(cli_progress *pr) {
  if (pr->enabled) fprintf(stderr, "\r%*s\r", 100, "");
}

int cli_parse_size(const char *s, uint64_t *out, sj_error *err) {
  const char *p = s;
  uint64_t v = 0;
  int digits = 0;
  for (; *p >= '0' && *p <= '9'; p++, digits++) {
    if (v > (UINT64_MAX - 9) / 10) digits = -100; /* far too large */
    v = v * 10 + (uint64_t)(*p - '0');
  }
  int shift = 0;
  if (*p == 'K' || *p == 'k') shift = 10, p++;
  else if (*p == 'M' || *p == 'm') shift = 20, p++;
  else if (*p == 'G' || *p == 'g') shift = 30, p++;
  else if (*p == 'T' || *p == 't') shift = 40, p++;
  if (*p == 'B' || *p == 'b') p++;
  if (digits <= 0 || *p || v == 0 || v > (UINT64_C(1) << 60) >> shift)
    return sj_fail(err, SJ_EUSAGE, "--memory-limit: '%s' is not a size like 512M or 4G (a whole number, at least 1, "
                   "with K, M, G or T)", s);
  *out = v << shift;
  return 0;
}

int cli_one_file(int argc, char **argv, const char *cmd, const char *help) {
  if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
    fputs(help, stdout);
    return 0;
  }
  if (argc != 2) {
    fprintf(stderr, "skewjoin %s: expects one FILE (see skewjoin %s --help)\n", cmd, cmd);
    return 2;
  }
  return -1;
}

static sj_stop *volatile signalled; /* the run a signal stops */

static void on_signal(int sig) {
  (void)sig;
  sj_stop_request(signalled);
}

static void handle_signals(sj_stop *stop) {
  signalled = stop;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
}

sj_stop *cli_stop_begin(void) {
  sj_stop *stop = sj_stop_new();
  if (stop) handle_signals(stop);
  return stop;
}

void cli_stop_end(sj_stop *stop) {
  handle_signals(NULL);
  sj_stop_free(stop);
}
