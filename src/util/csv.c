/*
** csv.c — RFC 4180 text fields and numbers, as the CSV outputs need them:
** a field is quoted only when it holds , " CR or LF or is empty; floats
** print as %.17g with nan, inf, -inf spelled the same everywhere.
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
