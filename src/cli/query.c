/*
** query.c — `skewjoin query`: parse options into an sj_query, run it, and
** write the answer (CSV on stdout, or --out FILE.csv / FILE.parquet).
*/
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: skewjoin query --left L --right R --on KEY [--by COLS] [--agg AGGS] [options]\n"
    "       skewjoin query --left L --right R --on KEY --materialize FILE [options]\n"
    "\n"
    "  SELECT COLS, AGGS FROM L JOIN R USING (KEY) GROUP BY COLS ORDER BY COLS\n"
    "\n"
    "without building the joined rows: each side is aggregated by (KEY, its GROUP BY\n"
    "columns) first, and the partial groups are joined (eager aggregation).  When\n"
    "COLS are one table's columns then the other's (the notebook's queries; KEY\n"
    "counts as either side's), the answer streams out of a k-way merge of per-key\n"
    "sorted runs, in bounded memory whatever its size (the merge plan).  COLS that\n"
    "interleave the sides run the merge plan with the right side's columns first,\n"
    "and the answer is sorted back into COLS's order (spilling sorted runs).  The\n"
    "inner side's COLS are packed into one code by their ranges (the files'\n"
    "statistics, else an extra pass over those columns); columns too wide for 62\n"
    "bits together are read as ranks of their distinct values (an extra pass; they\n"
    "must fit in 1/32 of the memory limit).  Wide COLS with too many distinct\n"
    "values, and the total, hold the answer's groups in a hash table (the hash\n"
    "plan).  Unsigned columns are read as their values (a UINT64 above the int64\n"
    "range is refused).  DATE, TIME, TIMESTAMP and DECIMAL columns keep their\n"
    "meaning: printed as 2024-02-29, 23:59:59.5, 2024-01-01 10:00:00.5, 5.71, and\n"
    "annotated so in Parquet; sum(DECIMAL) is exact, avg(DECIMAL) a double; INT96\n"
    "(legacy Impala/Spark) timestamps are read as TIMESTAMP in nanoseconds.\n"
    "\n"
    "  --left L, --right R  a Parquet file, a directory of them, or a glob (a path\n"
    "                       that exists is itself, whatever characters it holds)\n"
    "  --on KEY             the join key column, INT32/INT64 or strings on both\n"
    "                       sides; NULL keys match nothing\n"
    "  --by COLS            comma-separated GROUP BY columns of either side (KEY is the\n"
    "                       join key); INT32/INT64 or strings; left out: one total row\n"
    "  --agg AGGS           count(*), count(c), sum(c), min(c), max(c), avg(c) on numeric\n"
    "                       columns of either side (default count(*)); output columns\n"
    "                       are named count, sum_c, avg_c, ...; SQL's NULL rules\n"
    "  --out FILE           write FILE.csv or FILE.parquet (atomically) instead of\n"
    "                       CSV on stdout\n"
    "  --materialize FILE   write the joined rows themselves (SELECT * ... USING (KEY):\n"
    "                       the left columns, then the right's but KEY) to FILE.parquet\n"
    "                       or FILE.csv, streamed in pieces of about 2^18 rows, a hot\n"
    "                       key's spread over all cores; integer, float and string\n"
    "                       (BYTE_ARRAY) columns, INT32/INT64 or string keys\n"
    "  --threads N          threads for the scans (default: all cores); the answer is\n"
    "                       the same, bit for bit, whatever N\n"
    "  --memory-limit SIZE  bytes the query may hold (e.g. 256M, 4G; default half of\n"
    "                       RAM). The merge plan's sorted runs go to a temporary\n"
    "                       file when they could pass half of it (the page cache\n"
    "                       holds them, not the process); re-sorting an answer\n"
    "                       holds a quarter of it, then spills; the hash plan's\n"
    "                       answer groups go to sorted runs past half of it, merged.\n"
    "                       Row groups are decoded whole, a quarter of it at a time\n"
    "                       (a larger one alone); one that needs more than the\n"
    "                       limit (or 64M) is refused before it is read (exit 1).\n"
    "                       The process holds the limit plus about 25 MB per thread\n"
    "                       and 2 KB per input file (README: the memory limit)\n"
    "  --temp-dir DIR       where spill files go (default $TMPDIR or /tmp); they are\n"
    "                       unlinked at creation, so nothing is left behind\n"
    "  --explain            print the plan with its actual sizes and times to stderr\n"
    "\n"
    "While the merge plan writes a large answer, a progress bar is drawn on stderr\n"
    "when it is a terminal.\n"
    "\n"
    "Integer sums are exact; float sums compensated (Neumaier).  The answer is sorted\n"
    "by COLS (NULLS LAST) and the same, byte for byte, for any --threads.\n"
    "Exit codes: 0 ok, 1 failure, 2 bad usage or input (unknown or ambiguous column,\n"
    "type mismatch, files of one table with different schemas), 130 interrupted.\n";

int cli_query(int argc, char **argv) {
  enum { O_LEFT = 256, O_RIGHT, O_ON, O_BY, O_AGG, O_OUT, O_THREADS, O_MEM, O_TEMP, O_EXPLAIN, O_HELP, O_MAT };
  static const struct option opts[] = {
      {"left", required_argument, 0, O_LEFT}, {"right", required_argument, 0, O_RIGHT},
      {"on", required_argument, 0, O_ON},     {"by", required_argument, 0, O_BY},
      {"agg", required_argument, 0, O_AGG},   {"out", required_argument, 0, O_OUT},
      {"threads", required_argument, 0, O_THREADS}, {"memory-limit", required_argument, 0, O_MEM},
      {"temp-dir", required_argument, 0, O_TEMP}, {"explain", no_argument, 0, O_EXPLAIN}, {"help", no_argument, 0, O_HELP},
      {"materialize", required_argument, 0, O_MAT}, {0, 0, 0, 0}};
  sj_query q = {.by = "", .aggs = "count(*)"};
  int grouped = 0;
  const char *out = NULL;
  int explain = 0, c, rc = 0;
  sj_error err = {0};
  uint64_t u;
  opterr = 0;
  optind = 1;
  while (!rc && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
      case O_LEFT: q.left = optarg; break;
      case O_RIGHT: q.right = optarg; break;
      case O_ON: q.on = optarg; break;
      case O_BY: q.by = optarg; grouped = 1; break;
      case O_AGG: q.aggs = optarg; grouped = 1; break;
      case O_OUT: out = optarg; break;
      case O_MAT: q.materialize = optarg; break;
      case O_THREADS:
        rc = cli_parse_u64(optarg, "--threads", &u, &err);
        if (!rc && (u < 1 || u > SJ_MAX_THREADS))
          rc = sj_fail(&err, SJ_EUSAGE, "--threads must be 1 to %d", SJ_MAX_THREADS);
        q.threads = (int)u;
        break;
      case O_MEM: rc = cli_parse_size(optarg, &q.memory_limit, &err); break;
      case O_TEMP: q.temp_dir = optarg; break;
      case O_EXPLAIN: explain = 1; break;
      case 'h':
      case O_HELP: fputs(help, stdout); return 0;
      default: rc = sj_fail(&err, SJ_EUSAGE, "unknown or incomplete option '%s' (see skewjoin query --help)", argv[optind - 1]);
    }
  }
  if (!rc && optind < argc) rc = sj_fail(&err, SJ_EUSAGE, "unexpected argument '%s'", argv[optind]);
  if (!rc && q.materialize && (grouped || out))
    rc = sj_fail(&err, SJ_EUSAGE, "--materialize writes the joined rows: it takes no --by, --agg or --out");
  if (!rc && (!q.left || !q.right || !q.on))
    rc = sj_fail(&err, SJ_EUSAGE, "--left, --right and --on are required (see skewjoin query --help)");
  if (rc) {
    fprintf(stderr, "skewjoin query: %s\n", err.msg);
    return cli_exit_code(rc);
  }
  sj_stop *stop = cli_stop_begin();
  if (!stop) {
    fprintf(stderr, "skewjoin query: out of memory\n");
    return 1;
  }
  q.stop = stop;
  q.out = out;
  cli_progress pr;
  cli_progress_init(&pr, "query", "tiles");
  q.progress = cli_progress_update;
  q.progress_ctx = &pr;
  sj_query_report rep;
  rc = sj_query_run(&q, &rep, &err);
  cli_stop_end(stop);
  cli_progress_finish(&pr);
  if (!rc && explain) fputs(rep.plan, stderr);
  if (rc) {
    fprintf(stderr, "skewjoin query: %s\n", err.msg);
    return cli_exit_code(rc);
  }
  return 0;
}
