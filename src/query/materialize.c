/*
** materialize.c — `--materialize FILE`: the joined rows themselves,
** SELECT * FROM left JOIN right USING (key), streamed in bounded memory.
**
** The right side (the small one) is read whole and sorted by key.  The left
** side's morsels are cut, before any thread starts, into pieces of about
** PIECE_ROWS joined rows — a morsel of a hot key into many pieces, by left
** row ranges — so a hot key is spread over every core and memory is a
** window of pieces whatever a key's heat.  Each piece's rows (its left rows
** in order, each followed by its matches in right-file order) are built on
** any thread and written in piece order (out_pipeline): the same file for
** any thread count.  Columns: the left's in file order, then the right's
** without the key; integers as INT64, floats as DOUBLE, BYTE_ARRAY as
** BYTE_ARRAY (pointed to in the decoded pages, not copied, until the piece
** is encoded); other types are refused (exit 2) naming the column.  String
** keys are matched as ids of the right side's keys (plan.keys).
*/
#include "materialize.h"
#include "output.h"
#include "input.h"
#include "scan.h"
#include "keys.h"

#include <stdlib.h>

enum { PIECE_ROWS = 1 << 18, MAX_COLS = MAX_BY + MAX_AGGS };

typedef struct mcol {
  int side, col;   /* which side, which column of its files */
  sj_col_kind kind; /* SJ_COL_INT, SJ_COL_DOUBLE or SJ_COL_BYTES */
} mcol;

/* The right side, whole, sorted by key. */
typedef struct right_rows {
  uint64_t n;
  int64_t *key;  /* string keys: their ids */
  int64_t *ival[MAX_COLS];
  double *fval[MAX_COLS];
  out_bytes *bval[MAX_COLS];  /* into the kept columns */
  uint8_t *valid[MAX_COLS];
  pq_column *kept;            /* the string columns' decoded row groups */
  size_t nkept, kept_cap;
} right_rows;

/* A piece: left rows [r0, r1) of a morsel. */
typedef struct mpiece {
  uint32_t morsel;
  uint64_t r0, r1;
} mpiece;

typedef struct mjob {
  plan *p;
  mcol cols[MAX_COLS];
  int ncols, nleft;
  morsel *morsels;
  mpiece *pieces;
  size_t npieces;
  right_rows R;
} mjob;

/* The answer's columns; refuses what the output cannot hold. */
static int columns(mjob *j, out_schema *schema, sj_error *err) {
  plan *p = j->p;
  memset(schema, 0, sizeof *schema);
  for (int s = 0; s < 2; s++) {
    const pq_reader *r = p->s[s].files[0];
    for (int c = 0; c < pq_ncols(r); c++) {
      const pq_column_info *ci = pq_col(r, c);
      if (s == 1 && !strcmp(ci->name, p->q->on)) continue;
      pq_type qt = query_type(ci);
      if (!pq_is_num(qt) && qt != PQ_BYTE_ARRAY)
        return sj_fail(err, SJ_EUSAGE, "%s: column '%s' is %s; --materialize writes integer, float and BYTE_ARRAY "
                       "(string) columns", pq_path(r), ci->name, pq_type_name(ci->type));
      for (int k = 0; k < schema->ncols; k++)
        if (!strcmp(schema->names[k], ci->name))
          return sj_fail(err, SJ_EUSAGE, "column '%s' is on both sides; --materialize needs distinct names", ci->name);
      if (schema->ncols == MAX_COLS)
        return sj_fail(err, SJ_EUSAGE, "--materialize writes at most %d columns", MAX_COLS);
      for (int f = 1; f < p->s[s].nfiles; f++) { /* one schema per side */
        int c2 = pq_find_column(p->s[s].files[f], ci->name);
        if (c2 < 0 || pq_col(p->s[s].files[f], c2)->type != ci->type)
          return sj_fail(err, SJ_EUSAGE, "%s: column '%s' is missing or of another type than in %s",
                         pq_path(p->s[s].files[f]), ci->name, pq_path(r));
      }
      int k = schema->ncols++;
      snprintf(schema->names[k], sizeof schema->names[k], "%s", ci->name);
      schema->kinds[k] = pq_is_int(qt) ? SJ_COL_INT : qt == PQ_BYTE_ARRAY ? SJ_COL_BYTES : SJ_COL_DOUBLE;
      schema->nullable[k] = 0;
      schema->lt[k] = query_column_lt(ci);
      for (int f = 0; f < p->s[s].nfiles; f++)
        schema->nullable[k] |= pq_col(p->s[s].files[f], pq_find_column(p->s[s].files[f], ci->name))->optional;
      j->cols[k] = (mcol){s, c, schema->kinds[k]};
      if (s == 0) j->nleft++;
    }
  }
  j->ncols = schema->ncols;
  return 0;
}

static int cmp_pair(const void *a, const void *b) {
  const int64_t *x = a, *y = b;
  if (x[0] != y[0]) return x[0] < y[0] ? -1 : 1;
  return x[1] < y[1] ? -1 : x[1] > y[1];
}

static void right_free(right_rows *R) {
  free(R->key);
  for (int c = 0; c < MAX_COLS; c++) {
    free(R->ival[c]);
    free(R->fval[c]);
    free(R->bval[c]);
    free(R->valid[c]);
  }
  for (size_t k = 0; k < R->nkept; k++) pq_column_free(&R->kept[k]);
  free(R->kept);
  memset(R, 0, sizeof *R);
}

/* Keeps a decoded string column whose rows R points into. */
static int keep_column(right_rows *R, pq_column *c) {
  if (R->nkept == R->kept_cap) {
    size_t cap = R->kept_cap ? 2 * R->kept_cap : 16;
    pq_column *k = realloc(R->kept, cap * sizeof *k);
    if (!k) return -1;
    R->kept = k;
    R->kept_cap = cap;
  }
  R->kept[R->nkept++] = *c;
  memset(c, 0, sizeof *c);
  return 0;
}

/* Reads the right side's rows with a non-NULL key, sorted by (key, file order). */
static int read_right(mjob *j, sj_error *err) {
  plan *p = j->p;
  side *s = &p->s[1];
  right_rows *R = &j->R;
  uint64_t total = 0;
  for (int f = 0; f < s->nfiles; f++) total += (uint64_t)pq_nrows(s->files[f]);
  size_t n1 = total ? (size_t)total : 1;
  int64_t *pairs = malloc(n1 * 2 * sizeof *pairs);
  /* the columns in file order, then permuted into key order */
  int64_t *ival[MAX_COLS] = {0};
  double *fval[MAX_COLS] = {0};
  out_bytes *bval[MAX_COLS] = {0};
  uint8_t *valid[MAX_COLS] = {0};
  int rc = pairs ? 0 : sj_fail(err, SJ_ENOMEM, "out of memory reading the right side");
  for (int k = j->nleft; k < j->ncols && !rc; k++) {
    sj_col_kind kind = j->cols[k].kind;
    int bad = kind == SJ_COL_DOUBLE  ? !(fval[k] = malloc(n1 * sizeof **fval))
              : kind == SJ_COL_BYTES ? !(bval[k] = malloc(n1 * sizeof **bval))
                                     : !(ival[k] = malloc(n1 * sizeof **ival));
    if (bad || !(valid[k] = malloc(n1))) rc = sj_fail(err, SJ_ENOMEM, "out of memory reading the right side");
  }
  uint64_t at = 0;
  for (int f = 0; f < s->nfiles && !rc; f++) {
    const pq_reader *r = s->files[f];
    for (int rg = 0; rg < pq_nrowgroups(r) && !rc; rg++) {
      const char *names[1 + MAX_COLS];
      numcol cols[1 + MAX_COLS];
      int n = 1;
      names[0] = p->q->on;
      for (int k = j->nleft; k < j->ncols; k++) names[n++] = pq_col(p->s[1].files[0], j->cols[k].col)->name;
      rc = read_scan_columns(p, r, rg, names, n, cols, err);
      if (rc) break;
      uint64_t rows = (uint64_t)pq_rowgroup_rows(r, rg);
      for (uint64_t i = 0; i < rows; i++, at++) {
        pairs[2 * at] = present(&cols[0], i) ? num_i(&cols[0], i) : INT64_MAX;
        pairs[2 * at + 1] = present(&cols[0], i) ? (int64_t)at : -1; /* a NULL key matches nothing */
        for (int k = j->nleft, c = 1; k < j->ncols; k++, c++) {
          int ok = present(&cols[c], i);
          valid[k][at] = (uint8_t)ok;
          switch (j->cols[k].kind) {
            case SJ_COL_DOUBLE: fval[k][at] = ok ? num_f(&cols[c], i) : 0; break;
            case SJ_COL_BYTES: {
              const uint64_t *o = cols[c].raw.offsets;
              bval[k][at] = ok ? (out_bytes){cols[c].raw.data + o[i], o[i + 1] - o[i]} : (out_bytes){NULL, 0};
              break;
            }
            default: ival[k][at] = ok ? num_i(&cols[c], i) : 0; break;
          }
        }
      }
      for (int c = 0; c < n; c++) {
        if (c && j->cols[j->nleft + c - 1].kind == SJ_COL_BYTES && !rc && keep_column(R, &cols[c].raw))
          rc = sj_fail(err, SJ_ENOMEM, "out of memory reading the right side");
        pq_column_free(&cols[c].raw);
      }
    }
  }
  if (!rc) {
    qsort(pairs, at, 2 * sizeof *pairs, cmp_pair);
    uint64_t live = 0;
    for (uint64_t i = 0; i < at; i++) /* rows with a NULL key (index -1) match nothing: dropped */
      if (pairs[2 * i + 1] >= 0) {
        pairs[2 * live] = pairs[2 * i];
        pairs[2 * live + 1] = pairs[2 * i + 1];
        live++;
      }
    R->n = live;
    size_t l1 = live ? (size_t)live : 1;
    if (!(R->key = malloc(l1 * sizeof *R->key))) rc = sj_fail(err, SJ_ENOMEM, "out of memory");
    for (int k = j->nleft; k < j->ncols && !rc; k++) {
      sj_col_kind kind = j->cols[k].kind;
      int bad = kind == SJ_COL_DOUBLE  ? !(R->fval[k] = malloc(l1 * sizeof **fval))
                : kind == SJ_COL_BYTES ? !(R->bval[k] = malloc(l1 * sizeof **bval))
                                       : !(R->ival[k] = malloc(l1 * sizeof **ival));
      if (bad || !(R->valid[k] = malloc(l1))) rc = sj_fail(err, SJ_ENOMEM, "out of memory");
    }
    for (uint64_t i = 0; i < live && !rc; i++) {
      uint64_t src = (uint64_t)pairs[2 * i + 1];
      R->key[i] = pairs[2 * i];
      for (int k = j->nleft; k < j->ncols; k++) {
        R->valid[k][i] = valid[k][src];
        if (fval[k]) R->fval[k][i] = fval[k][src];
        else if (bval[k]) R->bval[k][i] = bval[k][src];
        else R->ival[k][i] = ival[k][src];
      }
    }
  }
  free(pairs);
  for (int k = 0; k < MAX_COLS; k++) {
    free(ival[k]);
    free(fval[k]);
    free(bval[k]);
    free(valid[k]);
  }
  return rc;
}

/* The right rows with this key: [*lo, *hi). */
static void matches(const right_rows *R, int64_t key, uint64_t *lo, uint64_t *hi) {
  uint64_t a = 0, b = R->n;
  while (a < b) {
    uint64_t m = a + (b - a) / 2;
    if (R->key[m] < key) a = m + 1;
    else b = m;
  }
  *lo = a;
  while (b < R->n && R->key[b] == key) b++;
  *hi = b;
}

/* Appends a piece to j->pieces (capacity *cap). */
static int add_piece(mjob *j, size_t *cap, mpiece piece, sj_error *err) {
  if (j->npieces == *cap) {
    mpiece *np = realloc(j->pieces, (*cap *= 2) * sizeof *np);
    if (!np) return sj_fail(err, SJ_ENOMEM, "out of memory");
    j->pieces = np;
  }
  j->pieces[j->npieces++] = piece;
  return 0;
}

/* Cuts the left side's morsels into pieces of about PIECE_ROWS joined rows,
** reading each morsel's key column. */
static int cut_pieces(mjob *j, uint64_t *joined, sj_error *err) {
  side *s = &j->p->s[0];
  size_t nm;
  int rc = list_morsels(s, &j->morsels, &nm, err);
  if (!rc) rc = scan_check_morsels(j->p, s, j->morsels, nm, err);
  size_t cap = nm + 16;
  if (!rc && !(j->pieces = malloc(cap * sizeof *j->pieces))) rc = sj_fail(err, SJ_ENOMEM, "out of memory");
  *joined = 0;
  for (size_t m = 0; m < nm && !rc; m++) {
    const pq_reader *r = s->files[j->morsels[m].file];
    int rg = j->morsels[m].rg;
    uint64_t rows = (uint64_t)pq_rowgroup_rows(r, rg);
    const char *names[1] = {j->p->q->on};
    numcol key;
    if ((rc = read_scan_columns(j->p, r, rg, names, 1, &key, err))) break;
    uint64_t acc = 0, start = 0;
    for (uint64_t i = 0; i < rows; i++) {
      uint64_t lo = 0, hi = 0;
      if (present(&key, i)) matches(&j->R, num_i(&key, i), &lo, &hi);
      if (acc && acc + (hi - lo) > PIECE_ROWS) {
        if ((rc = add_piece(j, &cap, (mpiece){(uint32_t)m, start, i}, err))) break;
        start = i;
        acc = 0;
      }
      acc += hi - lo;
      *joined += hi - lo;
    }
    pq_column_free(&key.raw);
    if (!rc && acc) rc = add_piece(j, &cap, (mpiece){(uint32_t)m, start, rows}, err);
  }
  return rc;
}

/* A thread's decoded morsel, kept while its pieces come. */
typedef struct mstate {
  long morsel;
  numcol cols[1 + MAX_COLS];
  int ncols;
} mstate;

static void *state_new(void *ctx) {
  (void)ctx;
  mstate *st = calloc(1, sizeof *st);
  if (st) st->morsel = -1;
  return st;
}

static void state_drop(mstate *st) {
  for (int c = 0; c < st->ncols; c++) pq_column_free(&st->cols[c].raw);
  st->ncols = 0;
  st->morsel = -1;
}

static void state_free(void *state) {
  state_drop(state);
  free(state);
}

static int fill_piece(void *ctx, void *state, size_t t, out_chunk *c, sj_error *err) {
  mjob *j = ctx;
  mstate *st = state;
  const mpiece *pc = &j->pieces[t];
  if (st->morsel != (long)pc->morsel) {
    state_drop(st);
    const pq_reader *r = j->p->s[0].files[j->morsels[pc->morsel].file];
    const char *names[1 + MAX_COLS];
    names[0] = j->p->q->on;
    for (int k = 0; k < j->nleft; k++) names[1 + k] = pq_col(j->p->s[0].files[0], j->cols[k].col)->name;
    int rc = read_scan_columns(j->p, r, j->morsels[pc->morsel].rg, names, 1 + j->nleft, st->cols, err);
    if (rc) return rc;
    st->ncols = 1 + j->nleft;
    st->morsel = pc->morsel;
  }
  const numcol *key = &st->cols[0];
  uint64_t rows = 0;
  for (uint64_t i = pc->r0; i < pc->r1; i++)
    if (present(key, i)) {
      uint64_t lo, hi;
      matches(&j->R, num_i(key, i), &lo, &hi);
      rows += hi - lo;
    }
  if (chunk_reserve(c, rows)) return sj_fail(err, SJ_ENOMEM, "out of memory for the joined rows");
  for (uint64_t i = pc->r0; i < pc->r1; i++) {
    if (!present(key, i)) continue;
    uint64_t lo, hi;
    matches(&j->R, num_i(key, i), &lo, &hi);
    for (uint64_t m = lo; m < hi; m++) {
      uint64_t r = c->rows++;
      for (int k = 0; k < j->ncols; k++) {
        out_col *col = &c->cols[k];
        int null;
        if (k < j->nleft) {
          const numcol *v = &st->cols[1 + k];
          null = !present(v, i);
          switch (j->cols[k].kind) {
            case SJ_COL_DOUBLE: col->d[r] = null ? 0 : num_f(v, i); break;
            case SJ_COL_BYTES: {
              const uint64_t *o = v->raw.offsets;
              col->b[r] = null ? (out_bytes){NULL, 0} : (out_bytes){v->raw.data + o[i], o[i + 1] - o[i]};
              break;
            }
            default: col->i[r] = null ? 0 : num_i(v, i); break;
          }
        } else {
          null = !j->R.valid[k][m];
          switch (j->cols[k].kind) {
            case SJ_COL_DOUBLE: col->d[r] = j->R.fval[k][m]; break;
            case SJ_COL_BYTES: col->b[r] = j->R.bval[k][m]; break;
            default: col->i[r] = j->R.ival[k][m]; break;
          }
        }
        set_valid(c, k, r, null);
      }
    }
  }
  return 0;
}

int materialize_run(plan *p, const char *path, plan_report *rep, sj_error *err) {
  double t0 = sj_clock();
  mjob *j = calloc(1, sizeof *j);
  out_schema *schema = calloc(1, sizeof *schema);
  int rc = j && schema ? 0 : sj_fail(err, SJ_ENOMEM, "out of memory");
  uint64_t joined = 0, rows_out = 0;
  out_sink *sink = NULL;
  if (!rc) {
    j->p = p;
    rc = columns(j, schema, err);
  }
  if (!rc) rc = read_right(j, err);
  if (!rc) rc = cut_pieces(j, &joined, err);
  double t_plan = (sj_clock() - t0);
  if (!rc) rc = out_open(&sink, path, NULL, schema, err);
  if (!rc) {
    out_pipeline pl = {sink, schema, p->pool, j->npieces, 0, j, state_new, state_free, fill_piece,
                       p->q->progress, p->q->progress_ctx};
    rc = out_pipeline_run(&pl, &rows_out, err);
  }
  if (sink) {
    if (rc) out_abort(sink);
    else rc = out_close(sink, NULL, 0, err);
  }
  if (!rc) {
    rep->rows_out = rows_out;
    snprintf(rep->text, sizeof rep->text,
             "plan: materialize (the joined rows, streamed)\n"
             "  right  %d files, %llu rows with a key, held sorted by key\n"
             "  left   %d files, %llu rows -> %llu joined rows in %zu pieces of about %d rows\n"
             "  time   plan %.3f s, join + write %.3f s on %d threads\n",
             p->s[1].nfiles, (unsigned long long)(j ? j->R.n : 0), p->s[0].nfiles,
             (unsigned long long)p->s[0].rows_scanned, (unsigned long long)rows_out, j->npieces, PIECE_ROWS,
             t_plan, (sj_clock() - t0) - t_plan, p->threads);
    assert(rows_out == joined);
  }
  if (j) {
    right_free(&j->R);
    free(j->morsels);
    free(j->pieces);
  }
  free(j);
  free(schema);
  return rc;
}
