/*
** skewjoin.h — the public API of libskewjoin, and the map of the library.
**
** skewjoin answers joins on highly imbalanced data (a few keys hold most of
** the rows).  The library has three parts, each with one prefix:
**
**   sj_   errors and small shared helpers            (src/util/)
**   pq_   Parquet, both directions: the reader behind  (src/pq/)
**         cat/schema and the engine, the writer behind gen
**   gen_  the dataset generator: the users' notebook  (src/gen/)
**         reproduced value for value, or in parallel
**   sj_query  the join and its GROUP BY, by eager       (src/query/)
**         aggregation: never building the joined rows
**
** Every function that can fail returns an int status (0 = success) and fills
** an sj_error with a message that names the file and the column involved.
** Nothing in the library calls exit(); only src/cli/ decides exit codes.
**
** The library is built with -fvisibility=hidden: what this header declares
** is exported (the push below), nothing else is, so its internal names
** cannot collide with another library's in a host process such as Python.
*/
#ifndef SKEWJOIN_H
#define SKEWJOIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#pragma GCC visibility push(default)

#define SJ_VERSION "0.1.0"

/* ---------------------------------------------------------------- errors */

/* Status codes.  The CLI maps SJ_EUSAGE to exit code 2 (bad usage, or input
** that does not fit), SJ_EINTR to 130, and every other failure to 1. */
enum {
  SJ_OK = 0,
  SJ_EIO = 1,      /* reading or writing a file failed */
  SJ_EUSAGE = 2,   /* bad parameter or input that does not fit */
  SJ_ENOMEM = 3,   /* an allocation failed or would exceed a bound */
  SJ_ECORRUPT = 4, /* a file's bytes contradict themselves */
  SJ_EINTR = 5     /* the caller asked us to stop (SIGINT, SIGTERM) */
};

typedef struct sj_error {
  int code;
  char msg[1024];
} sj_error;

/* The most threads a query or a generation run uses: a larger `threads`
** is taken as this many. */
#define SJ_MAX_THREADS 256

/* The size of the public struct `name` ("sj_query", "pq_column_spec", …), 0
** for a name it does not know: a binding that declares the structs itself
** (python/skewjoin/_lib.py) checks its layout against the library's. */
size_t sj_struct_size(const char *name);

/* Sets err (if not NULL) to code and a printf-style message; returns code. */
int sj_fail(sj_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Cooperative cancellation, scoped to what the caller hands the handle to
** (a query, a generation run): sj_stop_request may be called from a signal
** handler or another thread; the run's loops see it between tasks and
** unwind with SJ_EINTR, removing every half-written file on the way out.
** A new handle (or sj_stop_reset) lets the next run start clean. */
typedef struct sj_stop sj_stop;
sj_stop *sj_stop_new(void); /* NULL when out of memory */
void sj_stop_free(sj_stop *s);
void sj_stop_request(sj_stop *s); /* async-signal-safe */
void sj_stop_reset(sj_stop *s);
int sj_stop_requested(const sj_stop *s); /* 0 for NULL */

/* The files an argument names, as every command and the Python package
** read it (src/util/store.c): a directory's files ending in `suffix` (not
** those whose name starts with '.'); a path that exists, as itself,
** whatever characters it holds; else a glob's matches.  Sorted by name;
** sj_list_free frees the list. */
int sj_list(const char *arg, const char *suffix, char ***names, int *n, sj_error *err);
void sj_list_free(char **names, int n);

/* CSV output (src/util/csv.c): a text field, quoted only where RFC 4180
** needs it; a double as %.17g (nan, inf, -inf); an exact 128-bit integer. */
void sj_csv_text(FILE *f, const char *s, size_t n);
void sj_csv_double(FILE *f, double v);
void sj_csv_int128(FILE *f, __int128 v);

/* ------------------------------------------------------- Parquet: common */

/* Physical types, numbered as in parquet.thrift.  The writer produces
** INT64 and DOUBLE; the reader reads all of them. */
typedef enum {
  PQ_BOOLEAN = 0,
  PQ_INT32 = 1,
  PQ_INT64 = 2,
  PQ_INT96 = 3,
  PQ_FLOAT = 4,
  PQ_DOUBLE = 5,
  PQ_BYTE_ARRAY = 6,
  PQ_FIXED_LEN_BYTE_ARRAY = 7
} pq_type;

/* Codecs, numbered as in parquet.thrift's CompressionCodec.  The writer
** produces NONE, SNAPPY and ZSTD; the reader also GZIP and both LZ4s. */
typedef enum {
  PQ_CODEC_NONE = 0,
  PQ_CODEC_SNAPPY = 1,
  PQ_CODEC_GZIP = 2,
  PQ_CODEC_LZ4 = 5,     /* legacy: Hadoop-framed or raw LZ4 blocks */
  PQ_CODEC_ZSTD = 6,
  PQ_CODEC_LZ4_RAW = 7
} pq_codec;

const char *pq_type_name(pq_type t);
const char *pq_codec_name(pq_codec c);

/* --------------------------------------------------------- Parquet reader */

/* An open Parquet file, mapped read-only.  Opening decodes and checks the
** footer; after that the reader is immutable, so any number of threads may
** read different row groups or columns of one file at once. */
typedef struct pq_reader pq_reader;

/* What an integer column's values stand for (its LogicalType, or the
** ConvertedType of older writers): the query carries it to the answer. */
typedef enum { PQ_LT_NONE, PQ_LT_DATE, PQ_LT_TIME, PQ_LT_TIMESTAMP, PQ_LT_DECIMAL } pq_logical_kind;
typedef enum { PQ_UNIT_MILLIS, PQ_UNIT_MICROS, PQ_UNIT_NANOS } pq_time_unit;
typedef struct pq_logical {
  pq_logical_kind kind;   /* PQ_LT_NONE for anything else */
  pq_time_unit unit;      /* TIME, TIMESTAMP */
  int utc;                /* TIME, TIMESTAMP: isAdjustedToUTC */
  int32_t scale, precision; /* DECIMAL */
} pq_logical;

/* A value of such a column as text, as DuckDB prints it (src/util/csv.c):
** 2024-01-31 (0044-03-15 (BC) before year 1); 10:11:12.5; 2024-01-31
** 10:11:12.000001 (UTC-adjusted: +00); a DECIMAL with its scale's digits,
** 5.70, -0.05.  PQ_LT_NONE: the integer. */
void sj_csv_logical(FILE *f, __int128 v, const pq_logical *lt);

/* A leaf column of a flat schema. */
typedef struct pq_column_info {
  const char *name;
  pq_type type;
  int32_t type_length;  /* FIXED_LEN_BYTE_ARRAY's width */
  int optional;         /* may hold nulls */
  int is_text;          /* BYTE_ARRAY annotated STRING/UTF8, ENUM or JSON */
  int is_unsigned;      /* UINT_8..UINT_64 or INTEGER(isSigned = false) */
  char logical[48];     /* the annotation, for people: "STRING", "DECIMAL(4,2)", "" */
  pq_logical lt;        /* INT32/INT64: DATE, TIME, TIMESTAMP, DECIMAL; FIXED_LEN_BYTE_ARRAY: DECIMAL */
} pq_column_info;

/* Statistics of one column chunk, as the file states them (PLAIN-encoded
** bounds; byte arrays without length prefix). */
typedef struct pq_stats {
  int has_min_max;
  const uint8_t *min, *max;
  size_t min_len, max_len;
  int has_null_count;
  int64_t null_count;
} pq_stats;

typedef struct pq_chunk_info {
  pq_codec codec;
  int64_t num_values;
  int64_t compressed_size, uncompressed_size;
  uint32_t encodings; /* bit e set for each Encoding e listed */
  pq_stats stats;
} pq_chunk_info;

/* Opens and checks a file; a nested schema, an encrypted footer or any
** inconsistency is refused with a message naming the file (and column). */
int pq_open(pq_reader **out, const char *path, sj_error *err);
void pq_close(pq_reader *r);

const char *pq_path(const pq_reader *r);
int pq_ncols(const pq_reader *r);
const pq_column_info *pq_col(const pq_reader *r, int col);
int pq_find_column(const pq_reader *r, const char *name); /* index, or -1 */
int64_t pq_nrows(const pq_reader *r);
int pq_nrowgroups(const pq_reader *r);
int64_t pq_rowgroup_rows(const pq_reader *r, int rg);
const pq_chunk_info *pq_chunk(const pq_reader *r, int rg, int col);
const char *pq_created_by(const pq_reader *r); /* "" if absent */

/* One column of one row group, decoded:
**   values   rows entries of the physical type's width: BOOLEAN 1 byte,
**            INT32/FLOAT 4, INT64/DOUBLE 8, INT96 12, FIXED type_length;
**            a null row holds zeros
**   offsets  BYTE_ARRAY only: rows + 1 offsets into data
**   valid    NULL when no row is null; else one byte per row, 1 = present */
typedef struct pq_column {
  pq_type type;
  int32_t width;
  uint64_t rows;
  uint8_t *values;
  uint64_t *offsets;
  uint8_t *data;
  uint8_t *valid;
} pq_column;

int pq_read(const pq_reader *r, int rg, int col, pq_column *out, sj_error *err);
/* About the memory pq_read of that column chunk takes, from the footer
** alone: its values (and offsets, validity) for the rows the row group
** declares, its pages as stored and uncompressed.  Callers that bound their
** memory check it before reading: a row group may declare far more rows
** than its bytes hold (one RLE run). */
uint64_t pq_read_bytes(const pq_reader *r, int rg, int col);
void pq_column_free(pq_column *c);

/* A dictionary-encoded column chunk as codes into its dictionary, without
** gathering: codes[i] indexes dict (a pq_column of dict.rows values; for
** nulls codes[i] = 0 and valid[i] = 0).  Fails with SJ_EUSAGE when any
** data page of the chunk is not dictionary-encoded; callers then pq_read. */
typedef struct pq_codes {
  uint64_t rows;
  uint32_t *codes;
  uint8_t *valid;
  pq_column dict;
} pq_codes;

int pq_read_codes(const pq_reader *r, int rg, int col, pq_codes *out, sj_error *err);

/* Drops a row group's bytes from this process's resident memory (they stay
** in the page cache and are mapped again if read again): how a scan under a
** memory limit keeps files it has read from counting against it. */
void pq_release_rowgroup(const pq_reader *r, int rg);
void pq_codes_free(pq_codes *c);

/* --------------------------------------------------------- Parquet writer */

/* How a column's values are laid out in its pages. */
typedef enum {
  PQ_ENC_PLAIN,       /* fixed-width little endian: random doubles; strings length-prefixed */
  PQ_ENC_DELTA,       /* DELTA_BINARY_PACKED: sequences, sorted ids */
  PQ_ENC_DICTIONARY   /* dictionary page + RLE/bit-packed codes */
} pq_encoding;

typedef struct pq_column_spec {
  const char *name;
  pq_type type;  /* INT64, DOUBLE, BYTE_ARRAY (text), or INT32 (PLAIN, from int64 values in range) */
  pq_encoding encoding;
  pq_codec codec;
  int optional;  /* may hold nulls (PQ_ENC_PLAIN only); the vector's valid says which */
  pq_logical lt; /* integer columns: the annotation written with them */
} pq_column_spec;

/* A run of one value repeated count times: how a sorted key column is
** handed to the writer without materialising it row by row. */
typedef struct pq_run {
  int64_t value;
  uint64_t count;
} pq_run;

/* One column's values for one row group, in the shape that suits it:
**   PQ_VEC_I64    int64 values (PQ_ENC_PLAIN or PQ_ENC_DELTA)
**   PQ_VEC_F64    doubles (PQ_ENC_PLAIN)
**   PQ_VEC_CODES  uint16 codes into dict[0..dict_len), dict strictly
**                 ascending (PQ_ENC_DICTIONARY)
**   PQ_VEC_RUNS   runs with strictly ascending values (PQ_ENC_DICTIONARY)
**   PQ_VEC_BYTES  strings: row i is bytes[offsets[i] .. offsets[i + 1])
**                 (PQ_ENC_PLAIN; a BYTE_ARRAY column annotated STRING) */
typedef enum { PQ_VEC_I64, PQ_VEC_F64, PQ_VEC_CODES, PQ_VEC_RUNS, PQ_VEC_BYTES } pq_vec_kind;

typedef struct pq_vector {
  pq_vec_kind kind;
  const int64_t *i64;
  const double *f64;
  const uint16_t *codes;
  const int64_t *dict;
  uint32_t dict_len;
  const pq_run *runs;
  size_t run_count;
  const uint8_t *valid; /* optional columns: 1 = present; NULL = all present */
  const uint8_t *bytes;
  const uint64_t *offsets;
} pq_vector;

/* A row group encoded and compressed in memory, ready to be appended to a
** file.  Produced by pq_rowgroup_encode on any thread; owned by the caller. */
typedef struct pq_rowgroup pq_rowgroup;

/* Per-thread scratch (compression contexts, page buffers).  One per thread
** that encodes; never shared. */
typedef struct pq_scratch pq_scratch;

pq_scratch *pq_scratch_new(void);
void pq_scratch_free(pq_scratch *s);

/* Encodes `rows` rows of every column (cols[i] matches specs[i]) as one row
** group: pages of at most PQ_PAGE_ROWS rows, min/max/null-count statistics.
** Thread-safe: touches only its arguments.  On success *out owns the bytes. */
int pq_rowgroup_encode(const pq_column_spec *specs, int ncols,
                       const pq_vector *cols, uint64_t rows, pq_scratch *s,
                       pq_rowgroup **out, sj_error *err);
/* The same row group built from batches, for a writer that cannot hold
** the group's values at once: pq_rowgroup_begin, pq_rowgroup_add for each
** batch — every batch but the last a multiple of PQ_PAGE_ROWS rows, so that
** pages are cut where pq_rowgroup_encode cuts them and the bytes are the
** same — then pq_rowgroup_end.  Between batches only the columns' encoded
** pages are held.  A dictionary-encoded column is one batch's only. */
int pq_rowgroup_begin(int ncols, pq_rowgroup **out, sj_error *err);
int pq_rowgroup_add(const pq_column_spec *specs, int ncols, const pq_vector *cols,
                    uint64_t rows, pq_scratch *s, pq_rowgroup *rg, sj_error *err);
int pq_rowgroup_end(pq_rowgroup *rg, sj_error *err);
void pq_rowgroup_free(pq_rowgroup *rg);
uint64_t pq_rowgroup_bytes(const pq_rowgroup *rg);

/* A Parquet file being written.  Bytes go to a temporary file of its own,
** "PATH.<pid>.<n>.tmp", created exclusively (never through a link);
** pq_file_close writes the footer, fsyncs, renames the file to PATH and
** fsyncs its directory, so a file appears under its final name only when it
** is complete, and stays so across a power cut.  pq_file_abort removes it.
** Temporaries left by killed processes are removed by the next file
** created in their directory. */
typedef struct pq_file pq_file;

int pq_file_open(pq_file **out, const char *path, const pq_column_spec *specs,
                 int ncols, sj_error *err);
/* Appends an encoded row group (whose specs must be the file's). */
int pq_file_append(pq_file *f, const pq_rowgroup *rg, sj_error *err);
/* Writes the footer, closes and renames; frees f whatever the outcome. */
int pq_file_close(pq_file *f, uint64_t *bytes_written, sj_error *err);
void pq_file_abort(pq_file *f);

#define PQ_PAGE_ROWS 65536u

/* ------------------------------------------------------------- generator */

typedef enum { GEN_RNG_NOTEBOOK, GEN_RNG_PARALLEL } gen_rng;
typedef enum { GEN_LAYOUT_PER_KEY, GEN_LAYOUT_ROWS, GEN_LAYOUT_SINGLE } gen_layout;

#define GEN_MAX_GROUPS 16

/* A two-exponential mixture: a fraction `major` of the items draw from
** expon(loc_major, scale_major), the rest from expon(loc_minor, scale_minor). */
typedef struct gen_mix {
  double major;
  double loc_major, scale_major;
  double loc_minor, scale_minor;
} gen_mix;

/* Everything that decides the data; defaults are the notebook's. */
typedef struct gen_params {
  uint32_t seed;
  uint64_t keys;
  uint64_t buckets;
  int ngroups;
  uint32_t group_bounds[GEN_MAX_GROUPS]; /* numpy's exclusive `high` */
  double scale;
  uint64_t groupings;
  gen_mix df1_mix, df2_mix;
  gen_rng rng;
  gen_layout layout;
  uint64_t rows_per_file; /* GEN_LAYOUT_ROWS */
  pq_codec codec;
  int threads;
} gen_params;

void gen_params_default(gen_params *p);
/* Refuses parameters the notebook's code would reject or that we cannot
** write; the message says which value and why.  Returns SJ_EUSAGE. */
int gen_params_check(const gen_params *p, sj_error *err);

/* The plan: rows per key (stage 1 of the notebook), and with `full`, the
** df2 grouping sizes and the exact join size, which need the whole stream. */
typedef struct gen_plan {
  uint64_t keys;
  uint64_t *rows_per_key; /* [keys], key i+1 at index i */
  uint64_t df1_rows;
  uint64_t max_key_rows;
  uint64_t empty_keys;
  int full;               /* the fields below are set */
  uint64_t groupings;
  uint64_t df2_rows;
  uint64_t join_rows;     /* Σ_k rows1(k)·rows2(k) */
} gen_plan;

int gen_plan_make(const gen_params *p, int full, gen_plan *plan, sj_error *err);
void gen_plan_free(gen_plan *plan);

/* Progress and result of a generation run. */
typedef struct gen_report {
  uint64_t df1_rows, df2_rows;
  uint64_t df1_files;
  uint64_t bytes;
  double seconds;
} gen_report;

/* Called now and then from the generating threads (serialised). */
typedef void (*gen_progress_fn)(void *ctx, uint64_t rows_done, uint64_t rows_total);

/* Writes df1 and df2 under out_dir (which must exist and hold no file of
** ours unless `force`).  On any failure or stop, removes what it wrote. */
int gen_run(const gen_params *p, const char *out_dir, int force,
            gen_progress_fn progress, void *progress_ctx, const sj_stop *stop,
            gen_report *report, sj_error *err);

/* ----------------------------------------------------------------- query */

/* SELECT by…, aggs FROM left JOIN right USING (on) GROUP BY by… ORDER BY by…
** left/right: a Parquet file, a directory of them, or a glob.  by: column
** names (either side; `on` means the join key), comma-separated, may be
** empty.  aggs: count(*), count(c), sum(c), min(c), max(c), avg(c). */
typedef struct sj_query {
  const char *left, *right, *on, *by, *aggs;
  int threads;           /* 0: all cores */
  uint64_t memory_limit; /* bytes the query may hold; 0: sj_memory_default() */
  const char *out;       /* FILE.csv or FILE.parquet, written atomically; NULL: CSV on csv */
  FILE *csv;             /* NULL: stdout */
  const char *temp_dir;  /* spill files; NULL: $TMPDIR or /tmp */
  /* Called now and then, from the thread that writes the answer, with the
  ** pieces of it written and in all; may be NULL. */
  void (*progress)(void *ctx, uint64_t done, uint64_t total);
  void *progress_ctx;
  /* Not NULL: write the joined rows themselves (SELECT * … USING (on)) to
  ** this .parquet or .csv file instead of an answer; by and aggs unused. */
  const char *materialize;
  const sj_stop *stop;   /* set: the query stops with SJ_EINTR; may be NULL */
} sj_query;

/* The kinds of the answer's columns: by-columns and counts are INT (string
** by-columns STRING, as ids of a dictionary), exact integer sums HUGEINT
** (128-bit), float aggregates DOUBLE; the string columns of materialized
** rows BYTES (each row's bytes, in the input's decoded pages). */
typedef enum { SJ_COL_INT, SJ_COL_HUGEINT, SJ_COL_DOUBLE, SJ_COL_STRING, SJ_COL_BYTES } sj_col_kind;

/* What the run did: the plan with its actual sizes (--explain). */
typedef struct sj_query_report {
  uint64_t rows;
  char plan[4096];
} sj_query_report;

/* Runs the query and writes its answer, sorted by the by-columns, as it is
** produced: the answer is never held whole unless the plan needs it. */
int sj_query_run(const sj_query *q, sj_query_report *report, sj_error *err);
/* The memory limit when none is given: half of RAM (4 GiB where the system
** does not say). */
uint64_t sj_memory_default(void);

/* ---------------------------------------------------------- distributed */

/* The merge plan cut into tasks that a scheduler (python/skewjoin/dask.py)
** runs in many processes, on many machines:
**
**   sj_dist_plan     once, on the client: the facts every task shares
**                    (sj_dist_info), the left side's pieces (row groups) and
**                    the right side's groupings with their keys
**   sj_dist_scan     some pieces -> partials: the left side aggregated by
**                    (key, its by-columns), one partial per (key block,
**                    code range) so that a tile fetches only what it needs
**   sj_dist_combine  partials of one block -> one partial (a run per key)
**   sj_dist_split    a block's partials -> one partial per tile that needs
**                    a few of its keys, holding only those
**   sj_dist_tiler    the right side, read once per process for its tiles
**   sj_dist_tile     partials + the tiler -> the answer's rows for
**                    groupings [g0, g1) and codes [c0, c1), written to a
**                    file or returned as CSV text
**
** The query must take the merge plan with the left side inner (GROUP BY
** the right side's columns, then the left's).  A partial is bytes in a
** versioned format (magic "SJPART", version 2, zstd payload); every task
** checks a partial like any untrusted file, and checks that it was made
** under the same sj_dist_info. */
#define SJ_DIST_VERSION 2

typedef struct sj_dist_info {
  char magic[8];            /* "SJDIST" */
  uint32_t version;
  int32_t ncols;            /* the left side's by-columns, packed in codes */
  int32_t code_bits;
  int32_t nstates;          /* the left side's aggregate states */
  int64_t lo[16], hi[16];   /* each column's domain */
  int32_t width[16], shift[16];
  int32_t col_nullable[16];
  int32_t state_fn[16], state_float[16];
  int32_t by_nullable[16], agg_nullable[16]; /* the answer's columns */
} sj_dist_info;

/* One row group of the left side. */
typedef struct sj_dist_piece {
  char *file;
  int32_t rowgroup;
  int32_t key_bounds;       /* 1: key_min/key_max from the statistics */
  uint64_t rows;
  int64_t key_min, key_max;
} sj_dist_piece;

typedef struct sj_dist_plan {
  sj_dist_info info;
  sj_dist_piece *pieces;
  size_t npieces;
  size_t ngroupings;        /* the right side's groupings, in answer order */
  size_t *grouping_at;      /* [ngroupings + 1]: grouping g's keys are */
  int64_t *grouping_keys;   /* grouping_keys[grouping_at[g] .. grouping_at[g+1]) */
} sj_dist_plan;

typedef struct sj_bytes {
  uint8_t *data;
  size_t len;
} sj_bytes;

void sj_bytes_free(sj_bytes *b);

int sj_dist_plan_make(const sj_query *q, sj_dist_plan **out, sj_error *err);
void sj_dist_plan_free(sj_dist_plan *p);

/* Scans pieces into partials: parts[b * (ncode_splits + 1) + r] holds keys
** in block b (key_splits: ascending block starts, block 0 before the first)
** and codes in range r (code_splits likewise).  q->left is not read. */
int sj_dist_scan(const sj_query *q, const sj_dist_info *info, const sj_dist_piece *pieces, size_t npieces,
                 const int64_t *key_splits, size_t nkey_splits, const uint64_t *code_splits,
                 size_t ncode_splits, sj_bytes *parts, sj_error *err);

int sj_dist_combine(const sj_dist_info *info, const sj_bytes *parts, size_t n, sj_bytes *out, sj_error *err);

/* What one output of sj_dist_split holds: the runs of keys[0..nkeys)
** (ascending) in parts[p0..p1), by key, then in the order of parts. */
typedef struct sj_dist_want {
  const int64_t *keys;
  size_t nkeys;
  size_t p0, p1;
} sj_dist_want;

/* Cuts partials into the outputs wants[0..nwants) describe, without
** decompressing a run: a tile that needs a few keys of a key block, in
** some of its code ranges, fetches those and not the block's cells.  A
** key may go to several outputs; a key's runs of consecutive code ranges,
** given in range order, have its codes ascending across them. */
int sj_dist_split(const sj_dist_info *info, const sj_bytes *parts, size_t n, const sj_dist_want *wants, size_t nwants,
                  sj_bytes *out, sj_error *err);

/* The right side of a query, read once and kept for every tile a process
** runs (opening it costs a scan of the right table).  q and its strings
** must outlive the tiler; q->left names one left file (its schema), q->out
** is not used.  Several threads may run tiles on one tiler at once. */
typedef struct sj_dist_tiler sj_dist_tiler;

int sj_dist_tiler_open(const sj_query *q, const sj_dist_info *info, sj_dist_tiler **out, sj_error *err);
void sj_dist_tiler_close(sj_dist_tiler *t);

/* The answer's rows of groupings [g0, g1) and codes [c0, c1) from the
** partials that hold their keys (made under the tiler's sj_dist_info),
** written to the file `out`, or as CSV text in *csv when out is NULL.
** *rows: rows out. */
int sj_dist_tile(const sj_dist_tiler *t, const sj_bytes *parts, size_t n, uint32_t g0, uint32_t g1, uint64_t c0,
                 uint64_t c1, const char *out, sj_bytes *csv, uint64_t *rows, sj_error *err);

#pragma GCC visibility pop

#endif /* SKEWJOIN_H */
