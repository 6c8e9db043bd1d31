/*
** store.c — the local file system behind the store seam (store.h).
**
** An input is opened, its footer-sized ranges read with pread (a fault on a
** file the kernel caches as one large folio would map all of it: at s=0.01
** that was 300 MB of RSS for 7000 footers), then mapped whole and its
** descriptor closed (a query keeps thousands of files open), so that views
** are pointers into the map and release is madvise.
**
** An output stages its bytes in a buffer of STAGE_BYTES and writes a whole
** stage at a time, through O_DIRECT where the file system takes it (tmpfs
** does not: then buffered): a buffered write costs the kernel a copy into
** the page cache, and on these machines that copy is slower than the disk —
** 6.7 GB (QN's answer at s=0.01) in 24.7 s of dd with fdatasync, 5.0 s with
** oflag=direct, nearly all of the difference system time on a core the
** merge needs.  O_DIRECT wants buffer, length and offset aligned to the
** device's block: a stage is a multiple of DIRECT_ALIGN and starts on one.
** The last, partial stage is written buffered once O_DIRECT is cleared; a
** small file never fills a stage and is written buffered.
*/
#include "store.h"
#include "io.h"

#include <assert.h>
#include <fcntl.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

/* ------------------------------------------------------------------ lists */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void sj_list_free(char **names, int n) {
  for (int i = 0; i < n; i++) free(names[i]);
  free(names);
}

int sj_list(const char *arg, const char *suffix, char ***out, int *n, sj_error *err) {
  *out = NULL;
  *n = 0;
  struct stat st;
  glob_t g;
  memset(&g, 0, sizeof g);
  if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
    char pat[4096];
    snprintf(pat, sizeof pat, "%s/*%s", arg, suffix);
    if (glob(pat, 0, NULL, &g) != 0 || g.gl_pathc == 0) {
      globfree(&g);
      return sj_fail(err, SJ_EUSAGE, "%s: no %s files in this directory", arg, suffix);
    }
  } else if (stat(arg, &st) == 0) {
    if (glob(arg, GLOB_NOCHECK, NULL, &g) != 0) return sj_fail(err, SJ_ENOMEM, "out of memory");
  } else if (glob(arg, 0, NULL, &g) != 0 || g.gl_pathc == 0) {
    globfree(&g);
    return sj_fail(err, SJ_EUSAGE, "%s: no such file", arg);
  }
  char **list = calloc(g.gl_pathc, sizeof *list);
  int rc = list ? 0 : sj_fail(err, SJ_ENOMEM, "out of memory");
  for (size_t i = 0; !rc && i < g.gl_pathc; i++)
    if (!(list[i] = strdup(g.gl_pathv[i]))) rc = sj_fail(err, SJ_ENOMEM, "out of memory");
  if (rc) {
    if (list) sj_list_free(list, (int)g.gl_pathc);
    globfree(&g);
    return rc;
  }
  qsort(list, g.gl_pathc, sizeof *list, cmp_str);
  *n = (int)g.gl_pathc;
  *out = list;
  globfree(&g);
  return 0;
}

/* ----------------------------------------------------------------- inputs */

struct sj_input {
  char *name;
  int fd;               /* until sj_input_ready */
  uint64_t size;
  const uint8_t *map;   /* from sj_input_ready; NULL for an empty file */
};

int sj_input_open(sj_input **out, const char *name, sj_error *err) {
  *out = NULL;
  sj_input *in = calloc(1, sizeof *in);
  if (!in || !(in->name = strdup(name))) {
    free(in);
    return sj_fail(err, SJ_ENOMEM, "out of memory");
  }
  in->fd = open(name, O_RDONLY | O_CLOEXEC);
  struct stat st;
  int rc = 0;
  if (in->fd < 0) rc = sj_fail(err, errno == ENOENT ? SJ_EUSAGE : SJ_EIO, "%s: cannot open: %s", name, strerror(errno));
  else if (fstat(in->fd, &st) != 0 || !S_ISREG(st.st_mode)) rc = sj_fail(err, SJ_EUSAGE, "%s: not a regular file", name);
  else in->size = (uint64_t)st.st_size;
  if (rc) {
    sj_input_close(in);
    return rc;
  }
  *out = in;
  return 0;
}

uint64_t sj_input_size(const sj_input *in) { return in->size; }

int sj_input_read(sj_input *in, void *buf, size_t len, uint64_t off, sj_error *err) {
  assert(in->fd >= 0); /* before sj_input_ready */
  int rc = sj_pread_all(in->fd, buf, len, off);
  if (rc)
    return sj_fail(err, SJ_EIO, "%s: cannot read: %s", in->name, rc < 0 ? strerror(errno) : "the file is shorter than its size");
  return 0;
}

int sj_input_ready(sj_input *in, sj_error *err) {
  int rc = 0;
  if (in->size) {
    void *m = mmap(NULL, (size_t)in->size, PROT_READ, MAP_PRIVATE, in->fd, 0);
    if (m == MAP_FAILED) rc = sj_fail(err, SJ_EIO, "%s: cannot map: %s", in->name, strerror(errno));
    else in->map = m;
  }
  close(in->fd);
  in->fd = -1;
  return rc;
}

int sj_input_view(const sj_input *in, uint64_t off, uint64_t len, const uint8_t **bytes, sj_error *err) {
  assert(off <= in->size && len <= in->size - off);
  (void)len;
  (void)err;
  *bytes = in->map + off;
  return 0;
}

void sj_input_release(const sj_input *in, uint64_t off, uint64_t len) {
  uint64_t page = (uint64_t)sysconf(_SC_PAGE_SIZE), lo = off & ~(page - 1), hi = off + len;
  if (in->map && lo < hi && hi <= in->size) madvise((void *)(in->map + lo), (size_t)(hi - lo), MADV_DONTNEED);
}

void sj_input_close(sj_input *in) {
  if (!in) return;
  if (in->map) munmap((void *)in->map, (size_t)in->size);
  if (in->fd >= 0) close(in->fd);
  free(in->name);
  free(in);
}

/* ---------------------------------------------------------------- outputs */

enum { STAGE_BYTES = 4 << 20, DIRECT_ALIGN = 4096 };

struct sj_output {
  char *name, *tmp;
  int fd;
  int direct;       /* fd has O_DIRECT */
  uint8_t *stage;   /* STAGE_BYTES, DIRECT_ALIGN-aligned; allocated on first use */
  size_t staged;    /* bytes in it */
  uint64_t pos;     /* bytes written (staged ones too) */
};

static void output_free(sj_output *o) {
  if (o->fd >= 0) close(o->fd);
  free(o->stage);
  free(o->name);
  free(o->tmp);
  free(o);
}

int sj_output_create(sj_output **out, const char *name, sj_error *err) {
  *out = NULL;
  sj_output *o = calloc(1, sizeof *o);
  size_t n = strlen(name);
  if (!o || !(o->name = strdup(name)) || !(o->tmp = malloc(n + 5))) {
    if (o) free(o->name);
    free(o);
    return sj_fail(err, SJ_ENOMEM, "out of memory");
  }
  memcpy(o->tmp, name, n);
  memcpy(o->tmp + n, ".tmp", 5);
  o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_DIRECT, 0644);
  o->direct = o->fd >= 0;
  if (o->fd < 0 && errno == EINVAL) o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (o->fd < 0) {
    int rc = sj_fail(err, SJ_EIO, "%s: cannot create: %s", o->tmp, strerror(errno));
    output_free(o);
    return rc;
  }
  *out = o;
  return 0;
}

/* Clears O_DIRECT on the file: what follows is written buffered.  0, or -1
** with errno set. */
static int end_direct(sj_output *o) {
  if (fcntl(o->fd, F_SETFL, fcntl(o->fd, F_GETFL) & ~O_DIRECT) != 0) return -1;
  o->direct = 0;
  return 0;
}

/* Writes the staged bytes to the file and empties the stage.  A direct
** write the file system refuses (EINVAL), and everything after a short one
** (no longer aligned), goes on buffered. */
static int write_stage(sj_output *o, sj_error *err) {
  const uint8_t *b = o->stage;
  size_t n = o->staged;
  while (n) {
    int unaligned = n % DIRECT_ALIGN || (uintptr_t)b % DIRECT_ALIGN;
    if (o->direct && unaligned) end_direct(o); /* if that fails, the write's EINVAL below retries it */
    ssize_t w = write(o->fd, b, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EINVAL && o->direct) {
      if (end_direct(o)) return sj_fail(err, SJ_EIO, "%s: write failed: %s", o->name, strerror(errno));
      continue;
    }
    if (w <= 0) return sj_fail(err, SJ_EIO, "%s: write failed: %s", o->name, strerror(errno));
    b += w;
    n -= (size_t)w;
  }
  o->staged = 0;
  return 0;
}

int sj_output_write(sj_output *o, const void *data, size_t len, sj_error *err) {
  const uint8_t *b = data;
  if (!o->stage && posix_memalign((void **)&o->stage, DIRECT_ALIGN, STAGE_BYTES)) {
    o->stage = NULL;
    return sj_fail(err, SJ_ENOMEM, "%s: out of memory for the write buffer", o->name);
  }
  while (len) {
    size_t take = STAGE_BYTES - o->staged < len ? STAGE_BYTES - o->staged : len;
    memcpy(o->stage + o->staged, b, take);
    o->staged += take;
    o->pos += take;
    b += take;
    len -= take;
    if (o->staged == STAGE_BYTES) {
      int rc = write_stage(o, err);
      if (rc) return rc;
    }
  }
  return 0;
}

uint64_t sj_output_size(const sj_output *o) { return o->pos; }

const char *sj_output_name(const sj_output *o) { return o->name; }

int sj_output_commit(sj_output *o, sj_error *err) {
  int rc = write_stage(o, err), closed = close(o->fd);
  o->fd = -1;
  if (!rc && closed != 0) rc = sj_fail(err, SJ_EIO, "%s: close failed: %s", o->name, strerror(errno));
  if (!rc && rename(o->tmp, o->name) != 0) rc = sj_fail(err, SJ_EIO, "%s: rename failed: %s", o->name, strerror(errno));
  if (rc) unlink(o->tmp);
  output_free(o);
  return rc;
}

void sj_output_abort(sj_output *o) {
  if (!o) return;
  if (o->fd >= 0) close(o->fd);
  o->fd = -1;
  unlink(o->tmp);
  output_free(o);
}
