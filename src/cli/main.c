/*
** main.c — the `skewjoin` command: dispatch to a subcommand, plus the
** helpers every subcommand uses (numbers, progress, signals, exit codes).
*/
#include "cli.h"

#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
    "skewjoin " SJ_VERSION " — joins on highly imbalanced data\n"
    "\n"
    "usage: skewjoin COMMAND [options]\n"
    "\n"
    "commands:\n"
    "  gen      write the imbalanced-join notebook's datasets (df1, df2) as Parquet,\n"
    "           value for value as numpy would, at any scale\n"
    "  query    the join of two tables and its GROUP BY, without building the join\n"
    "  cat      print a Parquet file as CSV\n"
    "  schema   print a Parquet file's schema, row groups, encodings and statistics\n"
    "\n"
    "  skewjoin COMMAND --help explains a command.\n"
    "\n"
    "Exit codes: 0 success, 1 runtime failure, 2 bad usage or input, 130 interrupted.\n";

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

double cli_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void cli_progress_init(cli_progress *pr, const char *label, const char *unit) {
  pr->enabled = isatty(STDERR_FILENO);
  pr->start = pr->last = cli_now();
  pr->label = label;
  pr->unit = unit;
}

void cli_progress_update(void *ctx, uint64_t done, uint64_t total) {
  cli_progress *pr = ctx;
  if (!pr->enabled) return;
  double t = cli_now();
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

void cli_handle_signals(sj_stop *stop) {
  signalled = stop;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
}

int main(int argc, char **argv) {
  /* The pipelines free and allocate multi-megabyte buffers all the time;
  ** without this glibc unmaps and re-faults them every time (~10% of gen). */
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  if (argc < 2) {
    fputs(usage, stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
    fputs(usage, stdout);
    return 0;
  }
  if (!strcmp(cmd, "--version")) {
    puts("skewjoin " SJ_VERSION);
    return 0;
  }
  if (!strcmp(cmd, "gen")) return cli_gen(argc - 1, argv + 1);
  if (!strcmp(cmd, "cat")) return cli_cat(argc - 1, argv + 1);
  if (!strcmp(cmd, "schema")) return cli_schema(argc - 1, argv + 1);
  if (!strcmp(cmd, "query")) return cli_query(argc - 1, argv + 1);
  fprintf(stderr, "skewjoin: unknown command '%s'\n\n%s", cmd, usage);
  return 2;
}
