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

/* The file belongs to a dataset that is complete once `marker` exists: a
** path relative to the file's directory, PQ_MARKER_HERE or PQ_MARKER_ABOVE
** (the only two readers accept).  Written to the footer's key-value
** metadata as PQ_DATASET_MARKER; readers refuse the file while the marker
** is missing. */
#define PQ_DATASET_MARKER "skewjoin.dataset_marker"
#define PQ_MARKER_HERE "_SUCCESS"
#define PQ_MARKER_ABOVE "../_SUCCESS"
void pq_file_mark_dataset(pq_file *f, const char *marker);

#endif
