/*
** store.h — where the library's files live: every read and write of a data
** file goes through this seam (store.c), so that another store (object
** storage) can come in behind it without touching the Parquet reader, the
** writer or the engine.  Today one store: the local file system.
**
** Inputs, in this order:
**   sj_list           the files an argument names: one file, a directory's
**                     files ending in `suffix`, or a glob; sorted by name
**   sj_input_open     an object to read, and its size
**   sj_input_read     whole byte ranges into a buffer (the footer), before:
**   sj_input_ready    the reading of ranges by view starts; from here the
**                     input is immutable and any thread may use it
**   sj_input_view     the bytes of a range, read-only, valid until close
**                     (local files are mapped: no copy, and the kernel's
**                     page cache shared by every reader)
**   sj_input_release  a range's bytes no longer needed by this process
**   sj_input_close
** sj_input_exists   whether a name is a file (a dataset's completion marker)
**
** Outputs appear under their name only when complete:
**   sj_output_create  writes go to a temporary NAME.<pid>.<n>.tmp of its
**                     own, created exclusively (never through a link);
**                     temporaries of runs that died are removed
**   sj_output_write   bytes appended, in stages of 4 MiB written whole
**                     (O_DIRECT where the file system takes it)
**   sj_output_commit  the rest written, fsynced, closed, renamed to NAME,
**                     and the directory fsynced
**   sj_output_abort   the partial object removed
** sj_output_defer_sync leaves out the two fsyncs: for a dataset of many
** files whose writer syncs the file system once and then marks it complete.
** Both free the output.  Messages name the file and say what failed.
*/
#ifndef SJ_STORE_H
#define SJ_STORE_H

#include "skewjoin.h"

/* sj_list and sj_list_free are declared in skewjoin.h: the Python package
** lists files through them too. */

typedef struct sj_input sj_input;

int sj_input_open(sj_input **out, const char *name, sj_error *err);
uint64_t sj_input_size(const sj_input *in);
int sj_input_read(sj_input *in, void *buf, size_t len, uint64_t off, sj_error *err);
int sj_input_ready(sj_input *in, sj_error *err);
/* off + len <= size; *bytes stays valid until sj_input_close. */
int sj_input_view(const sj_input *in, uint64_t off, uint64_t len, const uint8_t **bytes, sj_error *err);
void sj_input_release(const sj_input *in, uint64_t off, uint64_t len);
void sj_input_close(sj_input *in);
int sj_input_exists(const char *name);

typedef struct sj_output sj_output;

int sj_output_create(sj_output **out, const char *name, sj_error *err);
int sj_output_write(sj_output *o, const void *data, size_t len, sj_error *err);
uint64_t sj_output_size(const sj_output *o); /* bytes written so far */
const char *sj_output_name(const sj_output *o);
void sj_output_defer_sync(sj_output *o);
/* When the directory entry `entry` is a temporary NAME.<pid>.<n>.tmp: the
** length of NAME (a prefix of entry), and *pid; else 0. */
size_t sj_output_temporary_of(const char *entry, long *pid);
int sj_output_commit(sj_output *o, sj_error *err);
void sj_output_abort(sj_output *o);

#endif
