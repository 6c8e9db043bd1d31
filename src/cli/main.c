/*
** main.c — the `skewjoin` command: dispatch to a subcommand (the helpers
** they share are in common.c).
*/
#include "cli.h"

#include <string.h>

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

int main(int argc, char **argv) {
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
