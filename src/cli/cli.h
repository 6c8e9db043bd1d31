/*
** cli.h — what the command-line front end's files share: argument parsing
** helpers, the progress bar, and the mapping from status to exit code.
** Only src/cli/ prints to the terminal or decides how the process exits.
*/
#ifndef SJ_CLI_H
#define SJ_CLI_H

#include "skewjoin.h"

#include <stdio.h>

/* Exit codes: 0 success, 1 runtime failure, 2 bad usage, 130 interrupted. */
int cli_exit_code(int status);

/* Strict number parsing: the whole string, no sign for unsigned values.
** Return 0 on success, SJ_EUSAGE with a message naming `what` otherwise. */
int cli_parse_u64(const char *s, const char *what, uint64_t *out, sj_error *err);
int cli_parse_double(const char *s, const char *what, double *out, sj_error *err);
/* --memory-limit's "512M", "4G", "1000000": a whole number of bytes, KiB,
** MiB, GiB or TiB, at least 1 byte; anything else ("0.5", "-1", "12Q", "")
** is refused, never read as 0 (the default). */
int cli_parse_size(const char *s, uint64_t *out, sj_error *err);

/* A progress bar on stderr, drawn only when stderr is a terminal. */
typedef struct cli_progress {
  int enabled;
  double start, last;
  const char *label, *unit;
} cli_progress;

void cli_progress_init(cli_progress *pr, const char *label, const char *unit);
void cli_progress_update(void *ctx, uint64_t done, uint64_t total);
void cli_progress_finish(cli_progress *pr);

/* For commands that take exactly one FILE: prints the help for -h/--help
** (returns 0) or a usage error (returns 2); returns -1 to go on. */
int cli_one_file(int argc, char **argv, const char *cmd, const char *help);

/* The stop handle of the command's run: cli_stop_begin makes it and has
** SIGINT, SIGTERM and SIGHUP request it (NULL when out of memory);
** cli_stop_end detaches the signals and frees it. */
sj_stop *cli_stop_begin(void);
void cli_stop_end(sj_stop *stop);

int cli_gen(int argc, char **argv);
int cli_cat(int argc, char **argv);
int cli_schema(int argc, char **argv);
int cli_query(int argc, char **argv);

/* Value formatting (format.c), in the conformance corpus's conventions. */
void cli_put_value(FILE *f, const pq_column_info *ci, const uint8_t *p, size_t n);

#endif
