/*
** io.c — the query's temporary files (io.h): created unlinked, written and
** read whole at an offset.
*/
#include "io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sj_temp_open(const char *dir, const char *what, int *fd, sj_error *err) {
  if (!dir) dir = getenv("TMPDIR");
  if (!dir || !*dir) dir = "/tmp";
  char path[4096];
  snprintf(path, sizeof path, "%s/skewjoin-runs-XXXXXX", dir);
  *fd = mkstemp(path);
  if (*fd < 0) return sj_fail(err, SJ_EIO, "%s: cannot create %s file: %s", path, what, strerror(errno));
  unlink(path);
  return 0;
}

int sj_temp_write(int fd, const void *data, size_t len, uint64_t off, const char *what, sj_error *err) {
  for (size_t done = 0; done < len;) {
    ssize_t put = pwrite(fd, (const char *)data + done, len - done, (off_t)(off + done));
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) return sj_fail(err, SJ_EIO, "writing %s file failed: %s", what, strerror(put < 0 ? errno : EIO));
    done += (size_t)put;
  }
  return 0;
}

int sj_temp_read(int fd, void *data, size_t len, uint64_t off, const char *what, sj_error *err) {
  int rc = sj_pread_all(fd, data, len, off);
  if (rc) return sj_fail(err, SJ_EIO, "reading %s file failed: %s", what, rc < 0 ? strerror(errno) : "short file");
  return 0;
}
