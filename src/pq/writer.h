/*
** writer.h — what the library's own writers (gen) may ask of a Parquet file
** being written, beyond skewjoin.h's pq_file_*.
*/
#ifndef PQ_WRITER_H
#define PQ_WRITER_H

#include "skewjoin.h"

/* pq_file_close does not fsync: the caller syncs the file system once,
** after its many files, and only then marks them complete. */
void pq_file_defer_sync(pq_file *f);

#endif
