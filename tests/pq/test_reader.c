/*
** test_reader.c — the reader's API on a file the writer makes: values read
** back equal to what was written, for every vector kind the writer takes;
** pq_read_codes hands back the very codes and dictionary; statistics are
** as written; and bad arguments are refused.  (Files from other writers:
** tests/pq/test_corpus.py and test_roundtrip.py.)
*/
#include "check.h"
#include "skewjoin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { ROWS = 150000 }; /* more than two pages */

/* Writes a new temporary file (its name into path, a mkstemp template) of
** `copies` row groups, each the vectors v encoded once; 0 on success. */
static int write_file(char *path, const pq_column_spec *specs, int ncols, const pq_vector *v, uint64_t rows,
                      int copies, sj_error *err) {
  close(mkstemp(path));
  pq_scratch *s = pq_scratch_new();
  pq_rowgroup *rg = NULL;
  pq_file *f = NULL;
  int rc = pq_rowgroup_encode(specs, ncols, v, rows, s, &rg, err);
  if (!rc) rc = pq_file_open(&f, path, specs, ncols, err);
  for (int i = 0; !rc && i < copies; i++) rc = pq_file_append(f, rg, err);
  if (!rc) rc = pq_file_close(f, NULL, err);
  else if (f) pq_file_abort(f);
  pq_rowgroup_free(rg);
  pq_scratch_free(s);
  return rc;
}

/* Strings (PQ_VEC_BYTES), REQUIRED and OPTIONAL, over more than one page,
** then an OPTIONAL double on the same scratch: read back as written,
** annotated as text, NULLs where valid says. */
static void test_strings(void) {
  enum { N = 70000 };
  static uint64_t off[N + 1];
  static uint8_t valid[N];
  static char bytes[N * 8];
  static double num[N];
  uint64_t at = 0;
  for (int i = 0; i < N; i++) {
    off[i] = at;
    at += (uint64_t)snprintf(bytes + at, 8, "%.*s", i % 5, "a,\"bc"); /* "" to 4 bytes, "," and '"' too */
    valid[i] = i % 3 != 0;
    num[i] = i / 4.0;
  }
  off[N] = at;
  pq_column_spec specs[3] = {{"s", PQ_BYTE_ARRAY, PQ_ENC_PLAIN, PQ_CODEC_ZSTD, 0, {0}},
                             {"o", PQ_BYTE_ARRAY, PQ_ENC_PLAIN, PQ_CODEC_NONE, 1, {0}},
                             {"d", PQ_DOUBLE, PQ_ENC_PLAIN, PQ_CODEC_NONE, 1, {0}}};
  pq_vector v[3] = {{.kind = PQ_VEC_BYTES, .bytes = (const uint8_t *)bytes, .offsets = off},
                    {.kind = PQ_VEC_BYTES, .bytes = (const uint8_t *)bytes, .offsets = off, .valid = valid},
                    {.kind = PQ_VEC_F64, .f64 = num, .valid = valid}};
  char path[] = "/tmp/sj-test-strings-XXXXXX";
  sj_error err;
  CHECK(write_file(path, specs, 3, v, N, 1, &err) == 0, "write strings: %s", err.msg);
  pq_reader *r;
  CHECK(pq_open(&r, path, &err) == 0, "open strings: %s", err.msg);
  CHECK(pq_col(r, 0)->type == PQ_BYTE_ARRAY && pq_col(r, 0)->is_text && pq_col(r, 1)->optional, "string schema");
  pq_column c[3];
  for (int i = 0; i < 3; i++) CHECK(pq_read(r, 0, i, &c[i], &err) == 0, "read strings %d: %s", i, err.msg);
  int same = c[0].rows == N && c[1].rows == N && c[2].rows == N && !c[0].valid && c[1].valid && c[2].valid;
  for (int i = 0; i < N && same; i++) {
    uint64_t n = off[i + 1] - off[i];
    same = c[0].offsets[i + 1] - c[0].offsets[i] == n && !memcmp(c[0].data + c[0].offsets[i], bytes + off[i], n) &&
           c[1].valid[i] == valid[i] && c[2].valid[i] == valid[i] &&
           (!valid[i] || !memcmp(c[2].values + 8 * (size_t)i, &num[i], 8)) &&
           (!valid[i] || (c[1].offsets[i + 1] - c[1].offsets[i] == n &&
                          !memcmp(c[1].data + c[1].offsets[i], bytes + off[i], n)));
  }
  CHECK(same, "strings read back as written, NULLs where they were");
  for (int i = 0; i < 3; i++) pq_column_free(&c[i]);
  pq_close(r);
  unlink(path);
}

/* Annotated integers: DATE and TIME(MILLIS) written as INT32 from int64
** values (OPTIONAL and REQUIRED), TIMESTAMP(NANOS, UTC) and DECIMAL(18,2)
** as INT64; read back with the same pq_logical and values, 4-byte
** statistics for the INT32s; a value outside INT32 is refused. */
static void test_logical(void) {
  enum { N = 1000 };
  static int64_t days[N], ms[N], ns[N], cents[N];
  static uint8_t valid[N];
  for (int i = 0; i < N; i++) {
    days[i] = i - 500;
    ms[i] = (int64_t)i * 86399;
    ns[i] = (int64_t)i * 1000000007 - 3;
    cents[i] = -i * 25;
    valid[i] = i % 4 != 1;
  }
  pq_logical date = {PQ_LT_DATE, PQ_UNIT_MILLIS, 0, 0, 0}, time_ms = {PQ_LT_TIME, PQ_UNIT_MILLIS, 1, 0, 0};
  pq_logical ts = {PQ_LT_TIMESTAMP, PQ_UNIT_NANOS, 1, 0, 0}, dec = {PQ_LT_DECIMAL, PQ_UNIT_MILLIS, 0, 2, 18};
  pq_column_spec specs[4] = {{"d", PQ_INT32, PQ_ENC_PLAIN, PQ_CODEC_ZSTD, 1, date},
                             {"t", PQ_INT32, PQ_ENC_PLAIN, PQ_CODEC_NONE, 0, time_ms},
                             {"ts", PQ_INT64, PQ_ENC_DELTA, PQ_CODEC_ZSTD, 0, ts},
                             {"m", PQ_INT64, PQ_ENC_PLAIN, PQ_CODEC_NONE, 0, dec}};
  pq_vector v[4] = {{.kind = PQ_VEC_I64, .i64 = days, .valid = valid},
                    {.kind = PQ_VEC_I64, .i64 = ms},
                    {.kind = PQ_VEC_I64, .i64 = ns},
                    {.kind = PQ_VEC_I64, .i64 = cents}};
  char path[] = "/tmp/sj-test-logical-XXXXXX";
  sj_error err;
  CHECK(write_file(path, specs, 4, v, N, 1, &err) == 0, "write annotated integers: %s", err.msg);
  pq_reader *r;
  if (pq_open(&r, path, &err)) {
    CHECK(0, "open annotated integers: %s", err.msg);
    return;
  }
  const pq_logical *lt[4];
  for (int c = 0; c < 4; c++) lt[c] = &pq_col(r, c)->lt;
  CHECK(pq_col(r, 0)->type == PQ_INT32 && lt[0]->kind == PQ_LT_DATE && !strcmp(pq_col(r, 0)->logical, "DATE"),
        "DATE as INT32: %s", pq_col(r, 0)->logical);
  CHECK(pq_col(r, 1)->type == PQ_INT32 && lt[1]->kind == PQ_LT_TIME && lt[1]->unit == PQ_UNIT_MILLIS && lt[1]->utc,
        "TIME(MILLIS, UTC) as INT32");
  CHECK(lt[2]->kind == PQ_LT_TIMESTAMP && lt[2]->unit == PQ_UNIT_NANOS && lt[2]->utc, "TIMESTAMP(NANOS, UTC)");
  CHECK(lt[3]->kind == PQ_LT_DECIMAL && lt[3]->scale == 2 && lt[3]->precision == 18 &&
        !strcmp(pq_col(r, 3)->logical, "DECIMAL(18,2)"), "DECIMAL(18,2): %s", pq_col(r, 3)->logical);
  pq_column c[4];
  for (int i = 0; i < 4; i++) CHECK(pq_read(r, 0, i, &c[i], &err) == 0, "read annotated %d: %s", i, err.msg);
  int same = c[0].valid && c[0].rows == N;
  for (int i = 0; i < N && same; i++) {
    int32_t d, t;
    int64_t x, m;
    memcpy(&d, c[0].values + 4 * i, 4);
    memcpy(&t, c[1].values + 4 * i, 4);
    memcpy(&x, c[2].values + 8 * i, 8);
    memcpy(&m, c[3].values + 8 * i, 8);
    same = c[0].valid[i] == valid[i] && (!valid[i] || d == days[i]) && t == ms[i] && x == ns[i] && m == cents[i];
  }
  CHECK(same, "annotated integers read back as written");
  for (int i = 0; i < 4; i++) pq_column_free(&c[i]);
  const pq_stats *st = &pq_chunk(r, 0, 1)->stats;
  int32_t lo, hi;
  memcpy(&lo, st->min, 4);
  memcpy(&hi, st->max, 4);
  CHECK(st->has_min_max && st->min_len == 4 && lo == 0 && hi == 86399 * (N - 1), "INT32 statistics of 4 bytes");
  pq_close(r);
  unlink(path);
  int64_t big = (int64_t)INT32_MAX + 1;
  pq_vector wide = {.kind = PQ_VEC_I64, .i64 = &big};
  pq_scratch *s = pq_scratch_new();
  pq_rowgroup *rg = NULL;
  CHECK(pq_rowgroup_encode(&specs[1], 1, &wide, 1, s, &rg, &err) == SJ_EUSAGE && strstr(err.msg, "INT32"),
        "a value outside INT32 is refused: %s", err.msg);
  pq_rowgroup_free(rg);
  pq_scratch_free(s);
}

/* A file of several of the writer's 4 MiB write stages, row groups ending
** anywhere inside them, in dir (a disk, or tmpfs): every row reads back, and
** the file is as long as pq_file_close says. */
static void test_large(const char *dir) {
  enum { N = 1000003, COPIES = 3 }; /* 8 MB a row group: stages and row groups never line up */
  static int64_t v[N];
  for (int i = 0; i < N; i++) v[i] = (int64_t)i * 2654435761 - 7;
  pq_column_spec spec = {"v", PQ_INT64, PQ_ENC_PLAIN, PQ_CODEC_NONE, 0, {0}};
  pq_vector vec = {.kind = PQ_VEC_I64, .i64 = v};
  char path[256];
  snprintf(path, sizeof path, "%s/sj-test-large-XXXXXX", dir);
  close(mkstemp(path));
  sj_error err;
  pq_scratch *s = pq_scratch_new();
  pq_rowgroup *rg = NULL;
  pq_file *f = NULL;
  uint64_t written = 0;
  int rc = pq_rowgroup_encode(&spec, 1, &vec, N, s, &rg, &err);
  if (!rc) rc = pq_file_open(&f, path, &spec, 1, &err);
  for (int i = 0; !rc && i < COPIES; i++) rc = pq_file_append(f, rg, &err);
  if (!rc) rc = pq_file_close(f, &written, &err);
  else if (f) pq_file_abort(f);
  pq_rowgroup_free(rg);
  pq_scratch_free(s);
  CHECK(rc == 0, "write %s: %s", path, err.msg);
  FILE *fp = fopen(path, "rb");
  long size = -1;
  if (fp && fseek(fp, 0, SEEK_END) == 0) size = ftell(fp);
  if (fp) fclose(fp);
  CHECK(size > 3 * 4 * (1 << 20) && (uint64_t)size == written, "%s: %ld bytes, as the writer counted (%llu)", dir,
        size, (unsigned long long)written);
  pq_reader *r;
  CHECK(pq_open(&r, path, &err) == 0, "open %s: %s", path, err.msg);
  int same = pq_nrowgroups(r) == COPIES;
  for (int g = 0; g < COPIES && same; g++) {
    pq_column c;
    same = pq_read(r, g, 0, &c, &err) == 0 && c.rows == N && !memcmp(c.values, v, sizeof v);
    if (same) pq_column_free(&c);
  }
  CHECK(same, "%s: every row group reads back as written", dir);
  pq_close(r);
  unlink(path);
}

/* Reads a whole file into *out; its length, or 0. */
static size_t slurp(const char *path, uint8_t **out) {
  FILE *f = fopen(path, "rb");
  *out = NULL;
  if (!f) return 0;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  *out = malloc(n > 0 ? (size_t)n : 1);
  size_t got = *out && n > 0 ? fread(*out, 1, (size_t)n, f) : 0;
  fclose(f);
  return got;
}

/* A row group built in batches (pq_rowgroup_begin/add/end) of whole pages
** is the same bytes as one encoded at once, for every column kind that may
** be batched — the columns' bounds taken over all batches (the smallest
** and largest values are in different batches); a batch after one that is
** not whole pages, and a dictionary column after the first batch, are
** refused. */
static void test_batches(void) {
  enum { N = 3 * PQ_PAGE_ROWS + 1234 };
  static int64_t seq[N], opt[N], day[N];
  static double val[N];
  static uint8_t valid[N];
  static uint64_t off[N + 1];
  static char text[N * 4];
  uint64_t at = 0;
  for (int i = 0; i < N; i++) {
    seq[i] = i < (int)PQ_PAGE_ROWS ? i : -(int64_t)i * 3;  /* the least in the last batch */
    opt[i] = (i * 7919) % 1000 - (i > 2 * (int)PQ_PAGE_ROWS ? 5000 : 0);
    day[i] = 19000 + i % 400;
    val[i] = i == 5 ? 1e9 : i * 0.5 - 100;            /* the largest in the first */
    valid[i] = i % 11 != 0;
    off[i] = at;
    at += (uint64_t)snprintf(text + at, 4, "%d", i % 1000);
  }
  off[N] = at;
  pq_column_spec specs[5] = {{"s", PQ_INT64, PQ_ENC_DELTA, PQ_CODEC_ZSTD, 0, {0}},
                             {"o", PQ_INT64, PQ_ENC_PLAIN, PQ_CODEC_ZSTD, 1, {0}},
                             {"d", PQ_INT32, PQ_ENC_PLAIN, PQ_CODEC_NONE, 0, {PQ_LT_DATE, 0, 0, 0, 0}},
                             {"v", PQ_DOUBLE, PQ_ENC_PLAIN, PQ_CODEC_NONE, 1, {0}},
                             {"t", PQ_BYTE_ARRAY, PQ_ENC_PLAIN, PQ_CODEC_ZSTD, 0, {0}}};
  char whole[] = "/tmp/sj-test-whole-XXXXXX", batched[] = "/tmp/sj-test-batched-XXXXXX";
  sj_error err;
  pq_vector v[5] = {{.kind = PQ_VEC_I64, .i64 = seq},
                    {.kind = PQ_VEC_I64, .i64 = opt, .valid = valid},
                    {.kind = PQ_VEC_I64, .i64 = day},
                    {.kind = PQ_VEC_F64, .f64 = val, .valid = valid},
                    {.kind = PQ_VEC_BYTES, .bytes = (const uint8_t *)text, .offsets = off}};
  CHECK(write_file(whole, specs, 5, v, N, 1, &err) == 0, err.msg);
  close(mkstemp(batched));
  pq_scratch *s = pq_scratch_new();
  pq_rowgroup *rg = NULL;
  pq_file *f = NULL;
  int rc = pq_rowgroup_begin(5, &rg, &err);
  for (uint64_t r0 = 0; !rc && r0 < N; r0 += 2 * PQ_PAGE_ROWS) { /* two pages, then the rest */
    uint64_t n = N - r0 < 2 * PQ_PAGE_ROWS ? N - r0 : 2 * PQ_PAGE_ROWS;
    pq_vector b[5];
    memcpy(b, v, sizeof b);
    b[0].i64 += r0, b[1].i64 += r0, b[1].valid += r0, b[2].i64 += r0, b[3].f64 += r0, b[3].valid += r0;
    b[4].offsets += r0;
    rc = pq_rowgroup_add(specs, 5, b, n, s, rg, &err);
  }
  if (!rc) rc = pq_rowgroup_end(rg, &err);
  if (!rc) rc = pq_file_open(&f, batched, specs, 5, &err);
  if (!rc) rc = pq_file_append(f, rg, &err);
  if (!rc) rc = pq_file_close(f, NULL, &err);
  CHECK(rc == 0, err.msg);
  pq_rowgroup_free(rg);
  uint8_t *a, *b;
  size_t na = slurp(whole, &a), nb = slurp(batched, &b);
  CHECK(na > 0 && na == nb && !memcmp(a, b, na), "a row group in batches of whole pages: the same bytes");
  free(a);
  free(b);
  /* a batch after a part of a page; a dictionary column past the first batch */
  rc = pq_rowgroup_begin(5, &rg, &err);
  if (!rc) rc = pq_rowgroup_add(specs, 5, v, 1000, s, rg, &err);
  CHECK(rc == 0 && pq_rowgroup_add(specs, 5, v, 1000, s, rg, &err) == SJ_EUSAGE && strstr(err.msg, "multiple"),
        "a batch after one that is not whole pages is refused");
  pq_rowgroup_free(rg);
  pq_run one = {7, PQ_PAGE_ROWS};
  pq_column_spec ks = {"k", PQ_INT64, PQ_ENC_DICTIONARY, PQ_CODEC_ZSTD, 0, {0}};
  pq_vector kv = {.kind = PQ_VEC_RUNS, .runs = &one, .run_count = 1};
  rc = pq_rowgroup_begin(1, &rg, &err);
  if (!rc) rc = pq_rowgroup_add(&ks, 1, &kv, PQ_PAGE_ROWS, s, rg, &err);
  CHECK(rc == 0 && pq_rowgroup_add(&ks, 1, &kv, PQ_PAGE_ROWS, s, rg, &err) == SJ_EUSAGE && strstr(err.msg, "k"),
        "a dictionary column in a second batch is refused, naming it");
  pq_rowgroup_free(rg);
  pq_scratch_free(s);
  unlink(whole);
  unlink(batched);
}

int main(void) {
  static uint16_t codes[ROWS];
  static int64_t seq[ROWS];
  static double val[ROWS];
  int64_t dict[40];
  for (int i = 0; i < 40; i++) dict[i] = 100 + 3 * i;
  for (int i = 0; i < ROWS; i++) {
    codes[i] = (uint16_t)((i * 7919u) % 40);
    seq[i] = (i % 1000) - 500;
    val[i] = i * 0.25 - 7;
  }
  pq_run runs[3] = {{5, 1000}, {6, 100000}, {9, ROWS - 101000}};
  pq_column_spec specs[4] = {{"k", PQ_INT64, PQ_ENC_DICTIONARY, PQ_CODEC_ZSTD, 0, {0}},
                             {"g", PQ_INT64, PQ_ENC_DICTIONARY, PQ_CODEC_SNAPPY, 0, {0}},
                             {"s", PQ_INT64, PQ_ENC_DELTA, PQ_CODEC_NONE, 0, {0}},
                             {"v", PQ_DOUBLE, PQ_ENC_PLAIN, PQ_CODEC_ZSTD, 0, {0}}};
  pq_vector v[4] = {{.kind = PQ_VEC_RUNS, .runs = runs, .run_count = 3},
                    {.kind = PQ_VEC_CODES, .codes = codes, .dict = dict, .dict_len = 40},
                    {.kind = PQ_VEC_I64, .i64 = seq},
                    {.kind = PQ_VEC_F64, .f64 = val}};
  char path[] = "/tmp/sj-test-reader-XXXXXX";
  sj_error err;
  CHECK(write_file(path, specs, 4, v, ROWS, 2, &err) == 0, "write: %s", err.msg);

  pq_reader *r;
  CHECK(pq_open(&r, path, &err) == 0, "open: %s", err.msg);
  CHECK(pq_ncols(r) == 4 && pq_nrowgroups(r) == 2 && pq_nrows(r) == 2 * ROWS, "shape");
  CHECK(pq_find_column(r, "v") == 3 && pq_find_column(r, "nope") == -1, "find column");
  CHECK(!strncmp(pq_created_by(r), "skewjoin version", 16), "created_by");
  for (int g = 0; g < 2; g++) {
    pq_column c[4];
    for (int i = 0; i < 4; i++) CHECK(pq_read(r, g, i, &c[i], &err) == 0, "read column %d: %s", i, err.msg);
    const int64_t *k = (const int64_t *)c[0].values, *gg = (const int64_t *)c[1].values;
    const int64_t *sq = (const int64_t *)c[2].values;
    const double *vv = (const double *)c[3].values;
    int same = c[0].rows == ROWS && !c[0].valid;
    for (int i = 0; i < ROWS && same; i++)
      same = k[i] == (i < 1000 ? 5 : i < 101000 ? 6 : 9) && gg[i] == dict[codes[i]] && sq[i] == seq[i] &&
             vv[i] == val[i];
    CHECK(same, "row group %d reads back what was written", g);
    for (int i = 0; i < 4; i++) pq_column_free(&c[i]);
  }
  pq_codes pc;
  CHECK(pq_read_codes(r, 1, 1, &pc, &err) == 0, "codes: %s", err.msg);
  int same = pc.rows == ROWS && pc.dict.rows == 40 && !pc.valid;
  for (int i = 0; i < ROWS && same; i++) same = pc.codes[i] == codes[i];
  CHECK(same && !memcmp(pc.dict.values, dict, sizeof dict), "codes and dictionary as written");
  pq_codes_free(&pc);
  CHECK(pq_read_codes(r, 0, 3, &pc, &err) == SJ_EUSAGE, "codes of a PLAIN column are refused");
  const pq_chunk_info *ci = pq_chunk(r, 0, 2);
  int64_t lo, hi;
  memcpy(&lo, ci->stats.min, 8);
  memcpy(&hi, ci->stats.max, 8);
  CHECK(ci->stats.has_min_max && lo == -500 && hi == 499 && ci->stats.null_count == 0, "statistics");
  pq_column c;
  CHECK(pq_read(r, 2, 0, &c, &err) == SJ_EUSAGE, "a row group that does not exist");
  pq_close(r);
  unlink(path);
  CHECK(pq_open(&r, "/nonexistent/x.parquet", &err) != 0 && strstr(err.msg, "/nonexistent/x.parquet"),
        "a missing file is named in the error");
  test_strings();
  test_logical();
  test_large("/tmp");
  if (access("/dev/shm", W_OK) == 0) test_large("/dev/shm");
  test_batches();
  return check_summary("pq_reader");
}
