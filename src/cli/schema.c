/*
** schema.c — `skewjoin schema FILE`: what a Parquet file holds, for people:
** its columns and their types, then each row group's column chunks with
** codec, encodings, sizes and statistics.
*/
#include "cli.h"

#include <string.h>

static const char help[] =
    "usage: skewjoin schema FILE\n"
    "\n"
    "Prints a Parquet file's schema (name, physical type, annotation, nullability),\n"
    "then per row group: rows, and per column chunk the codec, the encodings, the\n"
    "compressed and uncompressed sizes, and the statistics (min, max, nulls).\n";

static const char *encoding_names[] = {"PLAIN", "?1", "PLAIN_DICTIONARY", "RLE", "BIT_PACKED",
                                       "DELTA_BINARY_PACKED", "DELTA_LENGTH_BYTE_ARRAY",
                                       "DELTA_BYTE_ARRAY", "RLE_DICTIONARY", "BYTE_STREAM_SPLIT"};

int cli_schema(int argc, char **argv) {
  int done = cli_one_file(argc, argv, "schema", help);
  if (done >= 0) return done;
  sj_error err = {0};
  pq_reader *r;
  int rc = pq_open(&r, argv[1], &err);
  if (rc) {
    fprintf(stderr, "skewjoin schema: %s\n", err.msg);
    return cli_exit_code(rc);
  }
  printf("file: %s\ncreated_by: %s\nrows: %lld\nrow groups: %d\ncolumns: %d\n", argv[1],
         pq_created_by(r), (long long)pq_nrows(r), pq_nrowgroups(r), pq_ncols(r));
  for (int c = 0; c < pq_ncols(r); c++) {
    const pq_column_info *ci = pq_col(r, c);
    printf("  %-24s %-20s %-16s %s\n", ci->name, pq_type_name(ci->type),
           ci->logical[0] ? ci->logical : "-", ci->optional ? "OPTIONAL" : "REQUIRED");
  }
  for (int rg = 0; rg < pq_nrowgroups(r); rg++) {
    printf("row group %d: %lld rows\n", rg, (long long)pq_rowgroup_rows(r, rg));
    for (int c = 0; c < pq_ncols(r); c++) {
      const pq_column_info *ci = pq_col(r, c);
      const pq_chunk_info *k = pq_chunk(r, rg, c);
      printf("  %-24s %-12s %10lld / %-10lld ", ci->name, pq_codec_name(k->codec),
             (long long)k->compressed_size, (long long)k->uncompressed_size);
      const char *sep = "";
      for (int e = 0; e < 10; e++)
        if (k->encodings & (1u << e)) {
          printf("%s%s", sep, encoding_names[e]);
          sep = ",";
        }
      const pq_stats *s = &k->stats;
      int width = ci->type == PQ_INT32 || ci->type == PQ_FLOAT ? 4
                : ci->type == PQ_INT64 || ci->type == PQ_DOUBLE ? 8 : ci->type == PQ_BOOLEAN ? 1 : 0;
      if (s->has_min_max && (!width || ((int)s->min_len == width && (int)s->max_len == width))) {
        fputs("  min=", stdout);
        cli_put_value(stdout, ci, s->min, s->min_len);
        fputs(" max=", stdout);
        cli_put_value(stdout, ci, s->max, s->max_len);
      }
      if (s->has_null_count) printf(" nulls=%lld", (long long)s->null_count);
      putchar('\n');
    }
  }
  pq_close(r);
  return 0;
}
