/*
** test_csv.c — sj_csv_logical against the text DuckDB prints for the same
** values (taken from DuckDB 1.5: SELECT d::VARCHAR …): dates across the
** epoch, leap days and era boundaries, years before 1 (BC), times and
** timestamps in each unit with their fractions trimmed, UTC-adjusted
** timestamps, and decimals of every sign and scale (one difference: a
** DECIMAL(p, p) keeps its leading zero, 0.50, where DuckDB prints .50).
*/
#include "check.h"
#include "skewjoin.h"

#include <stdlib.h>
#include <string.h>

static void expect(__int128 v, pq_logical lt, const char *want) {
  char *got = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&got, &n);
  sj_csv_logical(f, v, &lt);
  fclose(f);
  CHECK(!strcmp(got, want), "%s printed %s", want, got);
  free(got);
}

int main(void) {
  pq_logical date = {PQ_LT_DATE, PQ_UNIT_MILLIS, 0, 0, 0};
  expect(0, date, "1970-01-01");
  expect(-1, date, "1969-12-31");
  expect(11016, date, "2000-02-29");
  expect(-25508, date, "1900-03-01");      /* 1900 is no leap year */
  expect(2932896, date, "9999-12-31");
  expect(-719162, date, "0001-01-01");
  expect(-719163, date, "0001-12-31 (BC)"); /* the year before 1 */
  expect(-719528, date, "0001-01-01 (BC)");
  pq_logical ms = {PQ_LT_TIME, PQ_UNIT_MILLIS, 0, 0, 0}, us = {PQ_LT_TIME, PQ_UNIT_MICROS, 0, 0, 0};
  expect(0, ms, "00:00:00");
  expect(86399500, ms, "23:59:59.5");
  expect(36672000001, us, "10:11:12.000001");
  pq_logical ts_us = {PQ_LT_TIMESTAMP, PQ_UNIT_MICROS, 0, 0, 0}, ts_ns = {PQ_LT_TIMESTAMP, PQ_UNIT_NANOS, 0, 0, 0};
  pq_logical ts_ms_utc = {PQ_LT_TIMESTAMP, PQ_UNIT_MILLIS, 1, 0, 0};
  expect(1704103200500000, ts_us, "2024-01-01 10:00:00.5");
  expect(-1, ts_us, "1969-12-31 23:59:59.999999");
  expect(1704103200123456789, ts_ns, "2024-01-01 10:00:00.123456789");
  expect((__int128)-315619200000, ts_ms_utc, "1960-01-01 00:00:00+00");
  pq_logical d2 = {PQ_LT_DECIMAL, PQ_UNIT_MILLIS, 0, 2, 10}, d0 = {PQ_LT_DECIMAL, PQ_UNIT_MILLIS, 0, 0, 4};
  pq_logical d38 = {PQ_LT_DECIMAL, PQ_UNIT_MILLIS, 0, 38, 38};
  expect(571, d2, "5.71");
  expect(-5, d2, "-0.05");
  expect(0, d2, "0.00");
  expect(-5, d0, "-5");
  expect(1, d38, "0.00000000000000000000000000000000000001"); /* DuckDB: .000…01 */
  pq_logical none = {PQ_LT_NONE, PQ_UNIT_MILLIS, 0, 0, 0};
  expect(-((__int128)1 << 100), none, "-1267650600228229401496703205376");
  return check_summary("csv");
}
