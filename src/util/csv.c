/*
** csv.c — RFC 4180 text fields and numbers, as the CSV outputs need them:
** a field is quoted only when it holds , " CR or LF or is empty; floats
** print as %.17g with nan, inf, -inf spelled the same everywhere; dates,
** times, timestamps and decimals as DuckDB prints them.
*/
#include "skewjoin.h"

#include <math.h>

void sj_csv_text(FILE *f, const char *s, size_t n) {
  int quote = n == 0;
  for (size_t i = 0; i < n && !quote; i++)
    quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
  if (!quote) {
    fwrite(s, 1, n, f);
    return;
  }
  putc('"', f);
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '"') putc('"', f);
    putc(s[i], f);
  }
  putc('"', f);
}

void sj_csv_double(FILE *f, double v) {
  if (isnan(v)) fputs("nan", f);
  else if (isinf(v)) fputs(v > 0 ? "inf" : "-inf", f);
  else fprintf(f, "%.17g", v);
}

void sj_csv_int128(FILE *f, __int128 v) {
  char buf[48];
  int at = (int)sizeof buf;
  buf[--at] = 0;
  unsigned __int128 u = v < 0 ? -(unsigned __int128)v : (unsigned __int128)v;
  do {
    buf[--at] = (char)('0' + (int)(u % 10));
    u /= 10;
  } while (u);
  if (v < 0) buf[--at] = '-';
  fputs(buf + at, f);
}

/* The proleptic Gregorian date `days` after 1970-01-01, by eras of 400
** years (146097 days), each starting on March 1st so that the leap day
** falls at the end of its year. */
static void civil_date(int64_t days, int64_t *year, int *month, int *day) {
  int64_t z = days + 719468; /* days since 0000-03-01 */
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;                                   /* [0, 146096] */
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);            /* [0, 365], from March 1st */
  int64_t mp = (5 * doy + 2) / 153;                                 /* [0, 11], March = 0 */
  *day = (int)(doy - (153 * mp + 2) / 5 + 1);
  *month = (int)(mp < 10 ? mp + 3 : mp - 9);
  *year = yoe + era * 400 + (*month <= 2);
}

static void put_date(FILE *f, int64_t days) {
  int64_t y;
  int m, d;
  civil_date(days, &y, &m, &d);
  if (y > 0) fprintf(f, "%04lld-%02d-%02d", (long long)y, m, d);
  else fprintf(f, "%04lld-%02d-%02d (BC)", (long long)(1 - y), m, d); /* no year 0 */
}

/* A time of day given in units of 10^-digits s, fractions without trailing zeros. */
static void put_time(FILE *f, int64_t t, int digits, int64_t per_second) {
  int64_t s = t / per_second, frac = t % per_second;
  fprintf(f, "%02lld:%02lld:%02lld", (long long)(s / 3600), (long long)(s / 60 % 60), (long long)(s % 60));
  if (!frac) return;
  while (frac % 10 == 0) {
    frac /= 10;
    digits--;
  }
  fprintf(f, ".%0*lld", digits, (long long)frac);
}

void sj_csv_logical(FILE *f, __int128 v, const pq_logical *lt) {
  static const int digits[] = {3, 6, 9};
  static const int64_t per_second[] = {1000, 1000000, 1000000000};
  switch (lt->kind) {
    case PQ_LT_NONE: sj_csv_int128(f, v); return;
    case PQ_LT_DATE: put_date(f, (int64_t)v); return;
    case PQ_LT_TIME: put_time(f, (int64_t)v, digits[lt->unit], per_second[lt->unit]); return;
    case PQ_LT_TIMESTAMP: {
      int64_t per_day = 86400 * per_second[lt->unit], t = (int64_t)v;
      int64_t days = t / per_day - (t % per_day < 0), rest = t - days * per_day;
      put_date(f, days);
      putc(' ', f);
      put_time(f, rest, digits[lt->unit], per_second[lt->unit]);
      if (lt->utc) fputs("+00", f);
      return;
    }
    case PQ_LT_DECIMAL: {
      unsigned __int128 u = v < 0 ? -(unsigned __int128)v : (unsigned __int128)v, pow = 1;
      for (int i = 0; i < lt->scale; i++) pow *= 10;
      if (v < 0) putc('-', f);
      sj_csv_int128(f, (__int128)(u / pow));
      if (lt->scale == 0) return;
      char buf[40];
      unsigned __int128 frac = u % pow;
      for (int i = lt->scale - 1; i >= 0; i--) {
        buf[i] = (char)('0' + (int)(frac % 10));
        frac /= 10;
      }
      fprintf(f, ".%.*s", lt->scale, buf);
      return;
    }
  }
}
