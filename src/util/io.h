/*
** io.h — whole reads and writes at an offset, and the unlinked temporary
** files the query spills to (io.c).
**
**   sj_pread_all    pread until all n bytes are in, through EINTR (the
**                   reader's footers, and sj_temp_read)
**   sj_temp_open    a file in dir (NULL: $TMPDIR, else /tmp), unlinked at
**                   once so that it disappears with the process, whatever
**                   happens; `what` names its use in messages ("the sort's")
**   sj_temp_write   all of len bytes at off, retried past interruptions and
**   sj_temp_read    short counts; a failure's message names `what`
*/
#ifndef SJ_IO_H
#define SJ_IO_H

#include "skewjoin.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

/* Reads n bytes at off into buf.  0 when all are read; -1 on an error
** (errno says which); 1 when the file ends first. */
static inline int sj_pread_all(int fd, void *buf, size_t n, uint64_t off) {
  for (size_t done = 0; done < n;) {
    ssize_t got = pread(fd, (char *)buf + done, n - done, (off_t)(off + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return -1;
    if (got == 0) return 1;
    done += (size_t)got;
  }
  return 0;
}

int sj_temp_open(const char *dir, const char *what, int *fd, sj_error *err);
int sj_temp_write(int fd, const void *data, size_t len, uint64_t off, const char *what, sj_error *err);
int sj_temp_read(int fd, void *data, size_t len, uint64_t off, const char *what, sj_error *err);

#endif
