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
#include <dirent.h>
#include <fcntl.h>
#include <glob.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
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

/* A directory's entries ending in suffix, as paths under it; read with
** readdir, so that a directory whose name holds glob characters is itself. */
static int list_dir(const char *dir, const char *suffix, glob_t *g) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  size_t cap = 0, ns = strlen(suffix);
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t n = strlen(e->d_name);
    if (n < ns || strcmp(e->d_name + n - ns, suffix) != 0 || e->d_name[0] == '.') continue;
    if (g->gl_pathc == cap) {
      cap = cap ? 2 * cap : 64;
      char **v = realloc(g->gl_pathv, cap * sizeof *v);
      if (!v) break;
      g->gl_pathv = v;
    }
    size_t len = strlen(dir) + 1 + n + 1;
    if (!(g->gl_pathv[g->gl_pathc] = malloc(len))) break;
    snprintf(g->gl_pathv[g->gl_pathc++], len, "%s/%s", dir, e->d_name);
  }
  int failed = e != NULL; /* stopped early: out of memory */
  closedir(d);
  return failed ? -2 : 0;
}

static void list_free(glob_t *g, int globbed) {
  if (globbed) {
    globfree(g);
    return;
  }
  for (size_t i = 0; i < g->gl_pathc; i++) free(g->gl_pathv[i]);
  free(g->gl_pathv);
}

int sj_list(const char *arg, const char *suffix, char ***out, int *n, sj_error *err) {
  *out = NULL;
  *n = 0;
  struct stat st;
  glob_t g;
  memset(&g, 0, sizeof g);
  int globbed = 0, rc = 0;
  /* A path that exists is itself, whatever characters it holds; only one
  ** that does not is a glob. */
  if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
    int r = list_dir(arg, suffix, &g);
    if (r == -1) rc = sj_fail(err, SJ_EIO, "%s: cannot list: %s", arg, strerror(errno));
    else if (r == -2) rc = sj_fail(err, SJ_ENOMEM, "out of memory");
    else if (g.gl_pathc == 0) rc = sj_fail(err, SJ_EUSAGE, "%s: no %s files in this directory", arg, suffix);
  } else if (stat(arg, &st) == 0) {
    if (!(g.gl_pathv = malloc(sizeof *g.gl_pathv)) || !(g.gl_pathv[0] = strdup(arg))) rc = sj_fail(err, SJ_ENOMEM, "out of memory");
    else g.gl_pathc = 1;
  } else {
    globbed = 1;
    if (glob(arg, 0, NULL, &g) != 0 || g.gl_pathc == 0) rc = sj_fail(err, SJ_EUSAGE, "%s: no such file", arg);
  }
  char **list = rc ? NULL : calloc(g.gl_pathc, sizeof *list);
  if (!rc && !list) rc = sj_fail(err, SJ_ENOMEM, "out of memory");
  for (size_t i = 0; !rc && i < g.gl_pathc; i++)
    if (!(list[i] = strdup(g.gl_pathv[i]))) rc = sj_fail(err, SJ_ENOMEM, "out of memory");
  if (rc) {
    if (list) sj_list_free(list, (int)g.gl_pathc);
    list_free(&g, globbed);
    return rc;
  }
  qsort(list, g.gl_pathc, sizeof *list, cmp_str);
  *n = (int)g.gl_pathc;
  *out = list;
  list_free(&g, globbed);
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
  /* O_NONBLOCK: a FIFO is refused below instead of waiting for a writer */
  in->fd = open(name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
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

int sj_input_exists(const char *name) {
  struct stat st;
  return stat(name, &st) == 0 && S_ISREG(st.st_mode);
}

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
  int defer_sync;   /* the caller syncs the file system before it relies on the file */
};

static void output_free(sj_output *o) {
  if (o->fd >= 0) close(o->fd);
  free(o->stage);
  free(o->name);
  free(o->tmp);
  free(o);
}

/* The temporary names: NAME.<pid>.<n>.tmp in NAME's directory.  Writers
** of one name, in one process or several, each have their own, so each
** commits a whole file (the last rename wins).  A temporary whose pid no
** longer runs was left by a killed run: the first output a process creates
** in a directory removes every such one there (once per directory, or
** gen's thousands of files would each read the directory again).  A pid is
** only meaningful on this machine: a directory shared with other machines
** may lose their temporaries. */
static atomic_uint temp_serial;
static pthread_mutex_t swept_mu = PTHREAD_MUTEX_INITIALIZER;
static char *swept[64];
static int nswept;

/* The directory part of name ("." when there is none). */
static void dir_of(const char *name, char *dir, size_t n) {
  const char *slash = strrchr(name, '/');
  if (!slash) snprintf(dir, n, ".");
  else if (slash == name) snprintf(dir, n, "/");
  else snprintf(dir, n, "%.*s", (int)(slash - name), name);
}

size_t sj_output_temporary_of(const char *entry, long *pid) {
  size_t n = strlen(entry);
  if (n < 9 || strcmp(entry + n - 4, ".tmp") != 0) return 0;
  const char *p = entry + n - 4, *serial, *at;
  for (serial = p; serial > entry && serial[-1] >= '0' && serial[-1] <= '9'; serial--) {}
  if (serial == p || serial - 1 <= entry || serial[-1] != '.') return 0;
  for (at = serial - 1; at > entry && at[-1] >= '0' && at[-1] <= '9'; at--) {}
  if (at == serial - 1 || at - 1 <= entry || at[-1] != '.') return 0;
  *pid = strtol(at, NULL, 10);
  return (size_t)(at - 1 - entry);
}

static void remove_stale(const char *name) {
  char dir[4096];
  dir_of(name, dir, sizeof dir);
  pthread_mutex_lock(&swept_mu);
  int seen = 0;
  for (int i = 0; i < nswept && !seen; i++) seen = strcmp(swept[i], dir) == 0;
  if (!seen && nswept < (int)(sizeof swept / sizeof *swept) && (swept[nswept] = strdup(dir))) nswept++;
  pthread_mutex_unlock(&swept_mu);
  DIR *d = seen ? NULL : opendir(dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    long pid = 0;
    if (sj_output_temporary_of(e->d_name, &pid) && pid > 0 && pid != (long)getpid() && kill((pid_t)pid, 0) != 0 &&
        errno == ESRCH) {
      char path[4096 + 256];
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      unlink(path);
    }
  }
  closedir(d);
}

int sj_output_create(sj_output **out, const char *name, sj_error *err) {
  *out = NULL;
  sj_output *o = calloc(1, sizeof *o);
  size_t n = strlen(name) + 48;
  if (!o || !(o->name = strdup(name)) || !(o->tmp = malloc(n))) {
    if (o) free(o->name);
    free(o);
    return sj_fail(err, SJ_ENOMEM, "out of memory");
  }
  remove_stale(name);
  /* O_EXCL | O_NOFOLLOW: never a file someone put (or linked) there */
  int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  do {
    snprintf(o->tmp, n, "%s.%ld.%u.tmp", name, (long)getpid(), atomic_fetch_add(&temp_serial, 1));
    o->fd = open(o->tmp, flags | O_DIRECT, 0644);
    o->direct = o->fd >= 0;
    if (o->fd < 0 && errno == EINVAL) o->fd = open(o->tmp, flags, 0644);
  } while (o->fd < 0 && errno == EEXIST);
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

void sj_output_defer_sync(sj_output *o) { o->defer_sync = 1; }

const char *sj_output_name(const sj_output *o) { return o->name; }

/* Makes the rename in name's directory durable. */
static int sync_dir(const char *name) {
  char dir[4096];
  dir_of(name, dir, sizeof dir);
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  close(fd);
  return rc;
}

/* The bytes reach the disk before the name does, and the name before the
** commit returns: a power cut leaves the old file or the whole new one. */
int sj_output_commit(sj_output *o, sj_error *err) {
  int rc = write_stage(o, err);
  if (!rc && !o->defer_sync && fsync(o->fd) != 0) rc = sj_fail(err, SJ_EIO, "%s: fsync failed: %s", o->name, strerror(errno));
  int closed = close(o->fd);
  o->fd = -1;
  if (!rc && closed != 0) rc = sj_fail(err, SJ_EIO, "%s: close failed: %s", o->name, strerror(errno));
  if (!rc && rename(o->tmp, o->name) != 0) rc = sj_fail(err, SJ_EIO, "%s: rename failed: %s", o->name, strerror(errno));
  if (rc) unlink(o->tmp);
  if (!rc && !o->defer_sync && sync_dir(o->name) != 0) rc = sj_fail(err, SJ_EIO, "%s: fsync of its directory failed: %s", o->name, strerror(errno));
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
