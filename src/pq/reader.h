/*
** reader.h — an open Parquet file as the reader keeps it: footer.c opens
** and checks it (pq_open), reader.c decodes its column chunks (pq_read).
** After pq_open a pq_reader is immutable.
*/
#ifndef PQ_READER_H
#define PQ_READER_H

#include "skewjoin.h"
#include "../util/store.h"

/* parquet.thrift enums */
enum { PT_DATA_PAGE = 0, PT_INDEX_PAGE = 1, PT_DICTIONARY_PAGE = 2, PT_DATA_PAGE_V2 = 3 };
enum {
  E_PLAIN = 0, E_PLAIN_DICTIONARY = 2, E_RLE = 3, E_BIT_PACKED = 4, E_DELTA_BINARY_PACKED = 5,
  E_DELTA_LENGTH_BYTE_ARRAY = 6, E_DELTA_BYTE_ARRAY = 7, E_RLE_DICTIONARY = 8,
  E_BYTE_STREAM_SPLIT = 9
};
enum { CT_UTF8 = 0, CT_ENUM = 4, CT_DECIMAL = 5, CT_UINT_8 = 11, CT_UINT_64 = 14, CT_JSON = 19 };

/* A row group's rows are bounded so that vectors stay addressable. */
#define MAX_ROWGROUP_ROWS ((int64_t)INT32_MAX)

typedef struct chunk {
  pq_chunk_info info;
  int64_t data_page_offset, dictionary_page_offset; /* -1 if absent */
} chunk;

struct pq_reader {
  char *path;
  sj_input *in;    /* the file's bytes (src/util/store.h) */
  size_t size;
  uint8_t *footer; /* FileMetaData, read with pread: statistics point into it */
  int ncols;
  pq_column_info *cols;
  int64_t nrows;
  int nrgs;
  int64_t *rg_rows;
  chunk *chunks; /* [nrgs * ncols] */
  char *created_by;
  const char *marker; /* the dataset's completion marker (writer.h), or NULL */
  char *names; /* storage for the column names */
};

#endif
