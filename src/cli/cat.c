/*
** cat.c — `skewjoin cat FILE`: a Parquet file as CSV on stdout, row group
** by row group, in the conformance corpus's conventions (format.c).
*/
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: skewjoin cat [--memory-limit SIZE] FILE\n"
    "\n"
    "Prints a Parquet file as CSV: a header of column names, then one line per row,\n"
    "in file order. Values are the stored (physical) ones: integers in decimal\n"
    "(unsigned where annotated so), floats as %.17g, BYTE_ARRAY annotated as\n"
    "text as text and other binary as lowercase hex, INT96 and FIXED_LEN_BYTE_ARRAY\n"
    "as hex; NULL is an empty field, an empty value \"\". Fields are quoted only when\n"
    "they hold , \" CR or LF, or are empty.\n"
    "\n"
    "  --memory-limit SIZE  bytes a row group may take decoded (e.g. 256M, 4G; default\n"
    "                       half of RAM): a row group that declares more rows than\n"
    "                       fit is refused before it is read (exit 1)\n"
    "\n"
    "Flat schemas only: a nested column, an encrypted or a corrupt file is refused\n"
    "with a message naming the file and the problem (exit 2 or 1).\n"
    "\n"
    "Examples:\n"
    "  skewjoin cat data/df2.parquet | head\n"
    "  skewjoin cat --memory-limit 256M big.parquet > big.csv\n";

int cli_cat(int argc, char **argv) {
  enum { O_MEM = 256, O_HELP };
  static const struct option opts[] = {
      {"memory-limit", required_argument, 0, O_MEM}, {"help", no_argument, 0, O_HELP}, {0, 0, 0, 0}};
  sj_error err = {0};
  uint64_t limit = 0;
  int opt, rc = 0;
  opterr = 0;
  optind = 1;
  while (!rc && (opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (opt) {
      case O_MEM: rc = cli_parse_size(optarg, &limit, &err); break;
      case 'h':
      case O_HELP: fputs(help, stdout); return 0;
      default: rc = sj_fail(&err, SJ_EUSAGE, "unknown or incomplete option '%s' (see skewjoin cat --help)", argv[optind - 1]);
    }
  }
  if (!rc && optind != argc - 1) rc = sj_fail(&err, SJ_EUSAGE, "expects one FILE (see skewjoin cat --help)");
  pq_reader *r = NULL;
  if (!rc) rc = pq_open(&r, argv[optind], &err);
  if (rc) {
    fprintf(stderr, "skewjoin cat: %s\n", err.msg);
    return cli_exit_code(rc);
  }
  if (!limit) limit = sj_memory_default();
  sj_stop *stop = cli_stop_begin();
  if (!stop) rc = sj_fail(&err, SJ_ENOMEM, "out of memory");
  static char obuf[1 << 16];
  setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
  int ncols = pq_ncols(r);
  for (int c = 0; c < ncols; c++) {
    if (c) putchar(',');
    const char *name = pq_col(r, c)->name;
    sj_csv_text(stdout, name, strlen(name));
  }
  putchar('\n');
  pq_column *cols = calloc((size_t)ncols ? (size_t)ncols : 1, sizeof *cols);
  if (!cols) rc = sj_fail(&err, SJ_ENOMEM, "out of memory");
  for (int rg = 0; rg < pq_nrowgroups(r) && !rc; rg++) {
    if (sj_stop_requested(stop)) rc = sj_fail(&err, SJ_EINTR, "interrupted");
    uint64_t bytes = 0;
    for (int k = 0; k < ncols; k++) {
      uint64_t more = pq_read_bytes(r, rg, k);
      bytes = more > UINT64_MAX - bytes ? UINT64_MAX : bytes + more;
    }
    if (!rc && bytes > limit)
      rc = sj_fail(&err, SJ_ENOMEM, "%s: row group %d holds %lld rows, which take about %.0f MB decoded: more than "
                   "the memory limit of %.0f MB (give at least --memory-limit %.0fM)", argv[optind], rg,
                   (long long)pq_rowgroup_rows(r, rg), (double)bytes / 1048576.0, (double)limit / 1048576.0,
                   (double)bytes / 1048576.0 + 1);
    for (int c = 0; c < ncols && !rc; c++) rc = pq_read(r, rg, c, &cols[c], &err);
    uint64_t rows = (uint64_t)pq_rowgroup_rows(r, rg);
    for (uint64_t i = 0; i < rows && !rc; i++) {
      for (int c = 0; c < ncols; c++) {
        if (c) putchar(',');
        const pq_column *col = &cols[c];
        if (col->valid && !col->valid[i]) continue;
        if (col->type == PQ_BYTE_ARRAY)
          cli_put_value(stdout, pq_col(r, c), col->data + col->offsets[i],
                        (size_t)(col->offsets[i + 1] - col->offsets[i]));
        else
          cli_put_value(stdout, pq_col(r, c), col->values + i * (uint64_t)col->width, (size_t)col->width);
      }
      putchar('\n');
    }
    for (int c = 0; c < ncols; c++) pq_column_free(&cols[c]);
    pq_release_rowgroup(r, rg); /* the file's pages: RSS stays one row group, not the file */
  }
  free(cols);
  pq_close(r);
  cli_stop_end(stop);
  if (fflush(stdout) != 0 && !rc) rc = sj_fail(&err, SJ_EIO, "writing to stdout failed");
  if (rc) {
    fprintf(stderr, "skewjoin cat: %s\n", err.msg);
    return cli_exit_code(rc);
  }
  return 0;
}
