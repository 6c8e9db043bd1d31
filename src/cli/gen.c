/*
** gen.c — `skewjoin gen`: parse options into gen_params, then either print
** the plan (--dry-run) or write the dataset and print a JSON summary.
*/
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: skewjoin gen [options] OUT\n"
    "\n"
    "Writes the imbalanced-join notebook's two tables as Parquet under OUT:\n"
    "  OUT/df1/key_00001.parquet ...  df1: key, bucket, group1..groupN (INT64), value (DOUBLE);\n"
    "                                 one file per key, as the notebook writes them\n"
    "  OUT/df2.parquet                df2: df2_group, key (INT64): the keys of each grouping\n"
    "With the defaults the data is the notebook's, value for value (numpy seed 42):\n"
    "7000 keys whose row counts mix two exponentials (5% of keys hold ~80% of rows),\n"
    "about 4.0e9 df1 rows at --scale 1. Use --scale 0.001 for a 4M-row sample.\n"
    "\n"
    "data:\n"
    "  --scale S           multiplies df1's row counts (default 1 = the notebook)\n"
    "  --seed N            numpy seed (default 42)\n"
    "  --keys N            number of keys (default 7000)\n"
    "  --buckets N         bucket = (row within key mod N) + 1 (default 40000)\n"
    "  --groups H1,H2,...  one group column per bound; groupK takes 1..HK-1, numpy's\n"
    "                      exclusive `high` as in the notebook (default 10,20,30,40)\n"
    "  --groupings N       df2 groupings before the notebook's truncation (default 11578)\n"
    "  --df1-mix F,LOC_MAJ,SCALE_MAJ,LOC_MIN,SCALE_MIN\n"
    "                      rows per key: a fraction F of keys from expon(LOC_MAJ, SCALE_MAJ),\n"
    "                      the rest from expon(LOC_MIN, SCALE_MIN), all times --scale\n"
    "                      (default 0.95,160,125125,1006402,8200726)\n"
    "  --df2-mix F,...     keys per grouping, likewise (default 0.99,1.0,1.5,101.0,554.0)\n"
    "  --rng notebook      one numpy stream, exactly the notebook's values (default);\n"
    "                      drawn by one thread at a time while the others encode\n"
    "  --rng parallel      the same laws from per-key and per-grouping counter-based\n"
    "                      streams: scales with cores, same data for any --threads\n"
    "\n"
    "output:\n"
    "  --layout per-key    one df1 file per key, empty keys get an empty file (default)\n"
    "  --layout rows:N     df1 in files of N rows (OUT/df1/part_00000.parquet ...)\n"
    "  --layout single     df1 in one file, OUT/df1.parquet\n"
    "  --compression C     zstd (default), snappy or none, for the integer columns;\n"
    "                      value (random doubles, incompressible) is always stored plain\n"
    "  --threads N         threads to use (default: all cores)\n"
    "  --force             replace a dataset already in OUT (only the files gen writes)\n"
    "  --dry-run           print the plan as JSON without writing: df1_rows, keys,\n"
    "                      max_key_rows, empty_keys\n"
    "  --dry-run=full      also df2_rows, groupings and the exact join_rows; this draws\n"
    "                      the whole stream (as long as generating, minus the writing)\n"
    "\n"
    "Files appear under their final names only when complete, and OUT/_SUCCESS\n"
    "last: a dataset without it is incomplete. On failure or Ctrl-C every file of\n"
    "the run is removed. A JSON summary goes to stdout at the end,\n"
    "progress to stderr when it is a terminal. Exit codes: 0 ok, 1 failure,\n"
    "2 bad parameters (nothing written), 130 interrupted.\n";

/* Parses "a,b,c" into up to max doubles; returns the count or -1. */
static int parse_list(const char *s, const char *what, double *out, int max, sj_error *err) {
  char buf[512];
  if (strlen(s) >= sizeof buf) { sj_fail(err, SJ_EUSAGE, "%s: too long", what); return -1; }
  strcpy(buf, s);
  int n = 0;
  char *save = NULL;
  for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    if (n == max) { sj_fail(err, SJ_EUSAGE, "%s: more than %d values", what, max); return -1; }
    if (cli_parse_double(tok, what, &out[n++], err)) return -1;
  }
  return n;
}

static int parse_mix(const char *s, const char *what, gen_mix *m, sj_error *err) {
  double v[5];
  int n = parse_list(s, what, v, 5, err);
  if (n < 0) return SJ_EUSAGE;
  if (n != 5) return sj_fail(err, SJ_EUSAGE, "%s takes 5 numbers: F,LOC_MAJ,SCALE_MAJ,LOC_MIN,SCALE_MIN", what);
  *m = (gen_mix){v[0], v[1], v[2], v[3], v[4]};
  return 0;
}

static int parse_groups(const char *s, gen_params *p, sj_error *err) {
  double v[GEN_MAX_GROUPS];
  int n = parse_list(s, "--groups", v, GEN_MAX_GROUPS, err);
  if (n < 0) return SJ_EUSAGE;
  if (n == 0) return sj_fail(err, SJ_EUSAGE, "--groups needs at least one bound");
  for (int i = 0; i < n; i++) {
    if (v[i] != (double)(uint32_t)v[i] || v[i] < 2 || v[i] > 65536)
      return sj_fail(err, SJ_EUSAGE, "--groups: bound %g must be a whole number in 2..65536", v[i]);
    p->group_bounds[i] = (uint32_t)v[i];
  }
  p->ngroups = n;
  return 0;
}

static int parse_options(int argc, char **argv, gen_params *p, int *dry_run, int *force,
                         const char **out, sj_error *err) {
  enum { O_SEED = 256, O_KEYS, O_BUCKETS, O_GROUPS, O_SCALE, O_GROUPINGS, O_DF1MIX, O_DF2MIX,
         O_RNG, O_LAYOUT, O_COMPRESSION, O_THREADS, O_DRYRUN, O_FORCE, O_HELP };
  static const struct option opts[] = {
      {"seed", required_argument, 0, O_SEED},
      {"keys", required_argument, 0, O_KEYS},
      {"buckets", required_argument, 0, O_BUCKETS},
      {"groups", required_argument, 0, O_GROUPS},
      {"scale", required_argument, 0, O_SCALE},
      {"groupings", required_argument, 0, O_GROUPINGS},
      {"df1-mix", required_argument, 0, O_DF1MIX},
      {"df2-mix", required_argument, 0, O_DF2MIX},
      {"rng", required_argument, 0, O_RNG},
      {"layout", required_argument, 0, O_LAYOUT},
      {"compression", required_argument, 0, O_COMPRESSION},
      {"threads", required_argument, 0, O_THREADS},
      {"dry-run", optional_argument, 0, O_DRYRUN},
      {"force", no_argument, 0, O_FORCE},
      {"help", no_argument, 0, O_HELP},
      {0, 0, 0, 0}};
  opterr = 0;
  optind = 1;
  int c, rc = 0;
  uint64_t u;
  while (!rc && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
      case O_SEED:
        rc = cli_parse_u64(optarg, "--seed", &u, err);
        if (!rc && u > UINT32_MAX) rc = sj_fail(err, SJ_EUSAGE, "--seed must be below 2^32 (numpy's limit)");
        p->seed = (uint32_t)u;
        break;
      case O_KEYS: rc = cli_parse_u64(optarg, "--keys", &p->keys, err); break;
      case O_BUCKETS: rc = cli_parse_u64(optarg, "--buckets", &p->buckets, err); break;
      case O_GROUPS: rc = parse_groups(optarg, p, err); break;
      case O_SCALE: rc = cli_parse_double(optarg, "--scale", &p->scale, err); break;
      case O_GROUPINGS: rc = cli_parse_u64(optarg, "--groupings", &p->groupings, err); break;
      case O_DF1MIX: rc = parse_mix(optarg, "--df1-mix", &p->df1_mix, err); break;
      case O_DF2MIX: rc = parse_mix(optarg, "--df2-mix", &p->df2_mix, err); break;
      case O_RNG:
        if (!strcmp(optarg, "notebook")) p->rng = GEN_RNG_NOTEBOOK;
        else if (!strcmp(optarg, "parallel")) p->rng = GEN_RNG_PARALLEL;
        else rc = sj_fail(err, SJ_EUSAGE, "--rng takes notebook or parallel, not '%s'", optarg);
        break;
      case O_LAYOUT:
        if (!strcmp(optarg, "per-key")) p->layout = GEN_LAYOUT_PER_KEY;
        else if (!strcmp(optarg, "single")) p->layout = GEN_LAYOUT_SINGLE;
        else if (!strncmp(optarg, "rows:", 5)) {
          p->layout = GEN_LAYOUT_ROWS;
          rc = cli_parse_u64(optarg + 5, "--layout rows:N", &p->rows_per_file, err);
        } else rc = sj_fail(err, SJ_EUSAGE, "--layout takes per-key, rows:N or single, not '%s'", optarg);
        break;
      case O_COMPRESSION:
        if (!strcmp(optarg, "zstd")) p->codec = PQ_CODEC_ZSTD;
        else if (!strcmp(optarg, "snappy")) p->codec = PQ_CODEC_SNAPPY;
        else if (!strcmp(optarg, "none")) p->codec = PQ_CODEC_NONE;
        else rc = sj_fail(err, SJ_EUSAGE, "--compression takes zstd, snappy or none, not '%s'", optarg);
        break;
      case O_THREADS:
        rc = cli_parse_u64(optarg, "--threads", &u, err);
        if (!rc && (u < 1 || u > SJ_MAX_THREADS))
          rc = sj_fail(err, SJ_EUSAGE, "--threads must be 1 to %d", SJ_MAX_THREADS);
        p->threads = (int)u;
        break;
      case O_DRYRUN:
        if (!optarg) *dry_run = 1;
        else if (!strcmp(optarg, "full")) *dry_run = 2;
        else rc = sj_fail(err, SJ_EUSAGE, "--dry-run takes no value or =full, not '%s'", optarg);
        break;
      case O_FORCE: *force = 1; break;
      case 'h':
      case O_HELP: fputs(help, stdout); exit(0);
      default:
        rc = sj_fail(err, SJ_EUSAGE, "unknown or incomplete option '%s' (see skewjoin gen --help)",
                     argv[optind - 1]);
    }
  }
  if (rc) return rc;
  if (optind < argc) *out = argv[optind++];
  if (optind < argc) return sj_fail(err, SJ_EUSAGE, "unexpected argument '%s'", argv[optind]);
  if (!*out && !*dry_run) return sj_fail(err, SJ_EUSAGE, "missing OUT directory (see skewjoin gen --help)");
  return gen_params_check(p, err);
}

static void print_plan(const gen_plan *plan) {
  printf("{\"df1_rows\": %llu, \"keys\": %llu, \"max_key_rows\": %llu, \"empty_keys\": %llu",
         (unsigned long long)plan->df1_rows, (unsigned long long)plan->keys,
         (unsigned long long)plan->max_key_rows, (unsigned long long)plan->empty_keys);
  if (plan->full)
    printf(", \"df2_rows\": %llu, \"groupings\": %llu, \"join_rows\": %llu",
           (unsigned long long)plan->df2_rows, (unsigned long long)plan->groupings,
           (unsigned long long)plan->join_rows);
  printf("}\n");
}

int cli_gen(int argc, char **argv) {
  gen_params p;
  gen_params_default(&p);
  int dry_run = 0, force = 0;
  const char *out = NULL;
  sj_error err = {0};
  int rc = parse_options(argc, argv, &p, &dry_run, &force, &out, &err);
  if (rc) {
    fprintf(stderr, "skewjoin gen: %s\n", err.msg);
    return cli_exit_code(rc);
  }
  if (dry_run) { /* writes nothing: a signal may end it as it ends any program */
    gen_plan plan;
    rc = gen_plan_make(&p, dry_run == 2, &plan, &err);
    if (rc) {
      fprintf(stderr, "skewjoin gen: %s\n", err.msg);
      return cli_exit_code(rc);
    }
    print_plan(&plan);
    gen_plan_free(&plan);
    return 0;
  }
  cli_progress pr;
  cli_progress_init(&pr, "gen", "rows");
  gen_report rep;
  sj_stop *stop = cli_stop_begin();
  if (!stop) {
    fprintf(stderr, "skewjoin gen: out of memory\n");
    return 1;
  }
  rc = gen_run(&p, out, force, cli_progress_update, &pr, stop, &rep, &err);
  cli_stop_end(stop);
  cli_progress_finish(&pr);
  if (rc) {
    fprintf(stderr, "skewjoin gen: %s%s\n", err.msg,
            rc == SJ_EINTR ? " (every file of this run was removed)" : "");
    return cli_exit_code(rc);
  }
  printf("{\"out\": \"%s\", \"rng\": \"%s\", \"df1_rows\": %llu, \"df1_files\": %llu, "
         "\"df2_rows\": %llu, \"bytes\": %llu, \"seconds\": %.3f, \"rows_per_second\": %.0f, "
         "\"bytes_per_second\": %.0f}\n",
         out, p.rng == GEN_RNG_NOTEBOOK ? "notebook" : "parallel",
         (unsigned long long)rep.df1_rows, (unsigned long long)rep.df1_files,
         (unsigned long long)rep.df2_rows, (unsigned long long)rep.bytes, rep.seconds,
         rep.seconds > 0 ? (double)rep.df1_rows / rep.seconds : 0,
         rep.seconds > 0 ? (double)rep.bytes / rep.seconds : 0);
  return 0;
}
