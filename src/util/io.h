/*
** io.h — whole reads at an offset, for the reader's footers and the query's
** temporary files: pread until all n bytes are in, through EINTR.
*/
#ifndef SJ_IO_H
#define SJ_IO_H

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

#endif
