/*
** extsort.h — the one external sorter of the library: fixed-width records
** (64-bit words) in an sj_order's order, kept past memory as sorted runs in
** an unlinked temporary file and merged through a heap.  The hash plan's
** answer groups and the re-sort of the answer both spill through it.
**
** The order of calls:
**
**   sj_extsort_new      the record's width and order, the temporary files'
**                       directory, the memory the merge may hold, and
**                       the stop handle its passes check
**   sj_extsort_put      appends a record to the run being written: the
**                       caller sorts a run in memory, as suits its records
**   sj_extsort_end_run  ends that run (an empty run is no run)
**     ... put and end_run again for every run ...
**   sj_extsort_merge    merges until the runs can be merged at once, then
**                       starts that last merge
**   sj_extsort_next     the next record of it (NULL at the end), valid
**                       until the next call
**   sj_extsort_free     at any point; the file goes with it
**
** The merge holds `memory` bytes: fan_in blocks of memory/fan_in bytes,
** fan_in = memory / 64 KB between 2 and 4096.  While there are more runs
** than that, a pass merges consecutive runs fan_in at a time into one that
** takes their place, and gives their disk space back.  Equal records come
** out in the order of the runs they were put in (ties go to the earlier
** run, and passes keep the runs' order), so a caller that folds equal
** records folds them in a fixed order.
*/
#ifndef SJ_EXTSORT_H
#define SJ_EXTSORT_H

#include "order.h"
#include "skewjoin.h"

#include <stddef.h>
#include <stdint.h>

typedef struct sj_extsort sj_extsort;

/* `what` names the file in messages ("the sort's"). */
int sj_extsort_new(sj_extsort **out, size_t record_words, const sj_order *order, const char *temp_dir,
                   const char *what, uint64_t memory, const sj_stop *stop, sj_error *err);
int sj_extsort_put(sj_extsort *x, const uint64_t *record, sj_error *err);
int sj_extsort_end_run(sj_extsort *x, sj_error *err);
int sj_extsort_merge(sj_extsort *x, sj_error *err);
int sj_extsort_next(sj_extsort *x, const uint64_t **record, sj_error *err);
void sj_extsort_free(sj_extsort *x);

/* For --explain: runs put (before any pass), their bytes, merge passes
** (the last merge counted). */
size_t sj_extsort_runs(const sj_extsort *x);
uint64_t sj_extsort_bytes(const sj_extsort *x);
int sj_extsort_passes(const sj_extsort *x);

#endif
