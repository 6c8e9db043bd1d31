/*
** test_store.c — the store seam over local files (src/util/store.h):
** sj_list names a file, a directory's files of a suffix (sorted) and a glob,
** and refuses a missing name; a path that exists is itself, glob characters
** and all.  An output is invisible under its name until committed (its
** bytes in a temporary NAME.<pid>.<n>.tmp of its own), holds every byte
** written across stage boundaries (on disk, and on tmpfs, which refuses
** O_DIRECT), and leaves nothing when aborted; two outputs of one name have
** two temporaries; a temporary of a dead process is removed by the first
** output made in its directory, a live one's is not.  An input reads ranges
** before it is ready and views them after, the same bytes, and refuses a
** directory and a FIFO (at once: it does not wait for a writer).
*/
#include "check.h"
#include "util/store.h"

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

/* The temporaries of name that this process made. */
static int temporaries(const char *name) {
  char pat[600];
  snprintf(pat, sizeof pat, "%s.%ld.*.tmp", name, (long)getpid());
  glob_t g;
  int n = glob(pat, 0, NULL, &g) == 0 ? (int)g.gl_pathc : 0;
  globfree(&g);
  return n;
}

static void test_output_input(const char *dir) {
  char name[512];
  snprintf(name, sizeof name, "%s/store-test.bin", dir);
  sj_output *o;
  sj_error err;
  CHECK(!sj_output_create(&o, name, &err), "%s: create: %s", dir, err.msg);
  enum { N = 9 * 1000 * 1000 + 7 }; /* two whole stages and a partial one, in odd pieces */
  uint8_t *data = malloc(N);
  for (size_t i = 0; i < N; i++) data[i] = (uint8_t)(i * 2654435761u >> 13);
  int rc = 0;
  for (size_t at = 0; at < N && !rc;) {
    size_t n = at % 3 ? 123457 : 1000003;
    if (n > N - at) n = N - at;
    rc = sj_output_write(o, data + at, n, &err);
    at += n;
  }
  CHECK(!rc && sj_output_size(o) == N, "%s: written %llu", dir, (unsigned long long)sj_output_size(o));
  CHECK(!exists(name) && temporaries(name) == 1, "%s: only a temporary before the commit", dir);
  sj_output *other;
  CHECK(!sj_output_create(&other, name, &err) && temporaries(name) == 2, "%s: a second writer, its own temporary", dir);
  sj_output_abort(other);
  CHECK(!sj_output_commit(o, &err) && exists(name) && temporaries(name) == 0, "%s: commit renames", dir);

  sj_input *in;
  CHECK(!sj_input_open(&in, name, &err) && sj_input_size(in) == N, "%s: open and size", dir);
  uint8_t head[100];
  CHECK(!sj_input_read(in, head, sizeof head, N - 100, &err) && !memcmp(head, data + N - 100, 100),
        "%s: a range read", dir);
  CHECK(sj_input_read(in, head, sizeof head, N - 50, &err) == SJ_EIO && strstr(err.msg, "shorter"),
        "%s: a read past the end: %s", dir, err.msg);
  CHECK(!sj_input_ready(in, &err), "%s: ready", dir);
  const uint8_t *v;
  CHECK(!sj_input_view(in, 4096 * 3 + 5, 5 << 20, &v, &err) && !memcmp(v, data + 4096 * 3 + 5, 5 << 20),
        "%s: a view holds the bytes", dir);
  sj_input_release(in, 4096 * 3 + 5, 5 << 20);
  CHECK(!memcmp(v, data + 4096 * 3 + 5, 5 << 20), "%s: released bytes read back the same", dir);
  sj_input_close(in);
  unlink(name);

  CHECK(!sj_output_create(&o, name, &err) && !sj_output_write(o, data, 5 << 20, &err), "%s: a second output", dir);
  sj_output_abort(o);
  CHECK(!exists(name) && temporaries(name) == 0, "%s: abort leaves nothing", dir);
  free(data);
}

static void test_list(const char *dir) {
  char d[512], p[600];
  snprintf(d, sizeof d, "%s/store-list", dir);
  mkdir(d, 0755);
  const char *files[] = {"b.parquet", "a.parquet", "c.txt"};
  for (int i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s/%s", d, files[i]);
    FILE *f = fopen(p, "w");
    if (f) fclose(f);
  }
  char **names;
  int n;
  sj_error err;
  CHECK(!sj_list(d, ".parquet", &names, &n, &err) && n == 2 && strstr(names[0], "/a.parquet") &&
            strstr(names[1], "/b.parquet"),
        "a directory: its .parquet files, sorted");
  if (n >= 0) sj_list_free(names, n);
  snprintf(p, sizeof p, "%s/*.txt", d);
  CHECK(!sj_list(p, ".parquet", &names, &n, &err) && n == 1 && strstr(names[0], "c.txt"), "a glob");
  sj_list_free(names, n);
  snprintf(p, sizeof p, "%s/a.parquet", d);
  CHECK(!sj_list(p, ".parquet", &names, &n, &err) && n == 1 && !strcmp(names[0], p), "one file");
  sj_list_free(names, n);
  snprintf(p, sizeof p, "%s/missing.parquet", d);
  CHECK(sj_list(p, ".parquet", &names, &n, &err) == SJ_EUSAGE && strstr(err.msg, "no such file") &&
            strstr(err.msg, "missing.parquet"),
        "a missing name: %s", err.msg);
  sj_input *in;
  CHECK(sj_input_open(&in, d, &err) == SJ_EUSAGE && strstr(err.msg, "not a regular file"), "a directory is no input");
  snprintf(p, sizeof p, "%s/fifo.parquet", d);
  mkfifo(p, 0644);
  CHECK(sj_input_open(&in, p, &err) == SJ_EUSAGE && strstr(err.msg, "not a regular file"), "a FIFO is no input");
  unlink(p);
  char xa[600];
  snprintf(xa, sizeof xa, "%s/xa.parquet", d); /* what x[ab].parquet matches as a glob */
  snprintf(p, sizeof p, "%s/x[ab].parquet", d);
  FILE *f = fopen(p, "w"), *g = fopen(xa, "w");
  if (f) fclose(f);
  if (g) fclose(g);
  CHECK(!sj_list(p, ".parquet", &names, &n, &err) && n == 1 && !strcmp(names[0], p), "an existing x[ab].parquet is itself");
  sj_list_free(names, n);
  unlink(p);
  unlink(xa);
  for (int i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s/%s", d, files[i]);
    unlink(p);
  }
  rmdir(d);
}

/* Temporaries in a directory no output of this process has been made in:
** a dead process's goes, a live one's (this process's parent) stays. */
static void test_stale(void) {
  char d[] = "/tmp/store-stale-XXXXXX", dead[600], live[600], name[600];
  if (!mkdtemp(d)) return;
  pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, NULL, 0);
  snprintf(dead, sizeof dead, "%s/a.parquet.%ld.0.tmp", d, (long)child);
  snprintf(live, sizeof live, "%s/a.parquet.%ld.0.tmp", d, (long)getppid());
  FILE *f = fopen(dead, "w");
  if (f) fclose(f);
  f = fopen(live, "w");
  if (f) fclose(f);
  snprintf(name, sizeof name, "%s/b.parquet", d);
  sj_output *o;
  sj_error err;
  CHECK(!sj_output_create(&o, name, &err), "create: %s", err.msg);
  CHECK(!exists(dead) && exists(live), "a dead process's temporary is removed, a live one's kept");
  sj_output_abort(o);
  unlink(live);
  rmdir(d);
}

int main(void) {
  test_stale();
  test_output_input("/tmp");
  if (access("/dev/shm", W_OK) == 0) test_output_input("/dev/shm");
  test_list("/tmp");
  return check_summary("store");
}
