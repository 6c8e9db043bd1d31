/*
** keys.c — string join keys as integers.
**
** The plans join on int64 keys.  For BYTE_ARRAY keys, every distinct key of
** the right side (the small one) gets an id, in the order the right side's
** files and rows are read, so ids do not depend on the thread count; both
** sides' key columns are then read as ids.  A left key the right side does
** not have matches nothing, so it reads as NULL, which every scan skips.
*/
#include "plan.h"

#include <stdlib.h>

struct key_dict {
  uint8_t *data;       /* the keys' bytes, back to back */
  size_t len, cap;
  uint64_t *start;     /* key id i: data[start[i] .. start[i + 1]) */
  size_t n, ncap;
  uint32_t *slots;     /* id + 1, 0 = empty; open addressing */
  uint64_t *slot_hash;
  size_t nslots;
};

static uint64_t hash_bytes(const uint8_t *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325u ^ n;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3u;
  return h ^ (h >> 32);
}

static int64_t find(const key_dict *d, const uint8_t *p, size_t n, uint64_t h, size_t *slot) {
  size_t mask = d->nslots - 1, j = h & mask;
  for (uint32_t s; (s = d->slots[j]); j = (j + 1) & mask) {
    uint32_t id = s - 1;
    if (d->slot_hash[j] == h && d->start[id + 1] - d->start[id] == n && !memcmp(d->data + d->start[id], p, n))
      return id;
  }
  *slot = j;
  return -1;
}

static int grow_slots(key_dict *d) {
  size_t n = d->nslots ? d->nslots * 2 : 1024;
  uint32_t *s = calloc(n, sizeof *s);
  uint64_t *h = malloc(n * sizeof *h);
  if (!s || !h) { free(s); free(h); return -1; }
  for (size_t j = 0; j < d->nslots; j++) {
    if (!d->slots[j]) continue;
    size_t k = d->slot_hash[j] & (n - 1);
    while (s[k]) k = (k + 1) & (n - 1);
    s[k] = d->slots[j];
    h[k] = d->slot_hash[j];
  }
  free(d->slots);
  free(d->slot_hash);
  d->slots = s;
  d->slot_hash = h;
  d->nslots = n;
  return 0;
}

static int add(key_dict *d, const uint8_t *p, size_t n) {
  if ((d->n + 1) * 2 > d->nslots && grow_slots(d)) return -1;
  uint64_t h = hash_bytes(p, n);
  size_t slot;
  if (find(d, p, n, h, &slot) >= 0) return 0;
  if (d->n + 2 > d->ncap) {
    size_t c = d->ncap ? 2 * d->ncap : 1024;
    uint64_t *s = realloc(d->start, c * sizeof *s);
    if (!s) return -1;
    d->start = s;
    d->ncap = c;
  }
  if (d->len + n > d->cap) {
    size_t c = d->cap ? d->cap : 4096;
    while (c < d->len + n) c *= 2;
    uint8_t *b = realloc(d->data, c);
    if (!b) return -1;
    d->data = b;
    d->cap = c;
  }
  if (d->n >= UINT32_MAX - 1) return -1;
  if (n) memcpy(d->data + d->len, p, n);
  d->start[d->n] = d->len;
  d->len += n;
  d->start[++d->n] = d->len;
  d->slots[slot] = (uint32_t)d->n;
  d->slot_hash[slot] = h;
  return 0;
}

void key_dict_free(key_dict *d) {
  if (!d) return;
  free(d->data);
  free(d->start);
  free(d->slots);
  free(d->slot_hash);
  free(d);
}

int key_dict_build(const plan *p, key_dict **out, sj_error *err) {
  key_dict *d = calloc(1, sizeof *d);
  if (!d || grow_slots(d)) {
    key_dict_free(d);
    return sj_fail(err, SJ_ENOMEM, "out of memory");
  }
  const side *s = &p->s[1];
  int rc = 0;
  for (int f = 0; f < s->nfiles && !rc; f++) {
    int col = pq_find_column(s->files[f], p->q->on);
    for (int rg = 0; rg < pq_nrowgroups(s->files[f]) && !rc; rg++) {
      pq_column c;
      memset(&c, 0, sizeof c);
      rc = pq_read(s->files[f], rg, col, &c, err);
      for (uint64_t i = 0; i < c.rows && !rc; i++)
        if ((!c.valid || c.valid[i]) && add(d, c.data + c.offsets[i], (size_t)(c.offsets[i + 1] - c.offsets[i])))
          rc = sj_fail(err, SJ_ENOMEM, "out of memory collecting the right side's join keys");
      pq_column_free(&c);
    }
  }
  if (rc) {
    key_dict_free(d);
    return rc;
  }
  *out = d;
  return 0;
}

int key_dict_map(const key_dict *d, pq_column *c, sj_error *err) {
  int64_t *ids = malloc((c->rows ? c->rows : 1) * sizeof *ids);
  uint8_t *valid = malloc(c->rows ? c->rows : 1);
  if (!ids || !valid) {
    free(ids);
    free(valid);
    return sj_fail(err, SJ_ENOMEM, "out of memory");
  }
  for (uint64_t i = 0; i < c->rows; i++) {
    int64_t id = -1;
    if (!c->valid || c->valid[i]) {
      size_t slot, n = (size_t)(c->offsets[i + 1] - c->offsets[i]);
      const uint8_t *s = c->data + c->offsets[i];
      id = find(d, s, n, hash_bytes(s, n), &slot);
    }
    ids[i] = id < 0 ? 0 : id;
    valid[i] = id >= 0;
  }
  uint64_t rows = c->rows;
  pq_column_free(c);
  memset(c, 0, sizeof *c);
  c->type = PQ_INT64;
  c->width = 8;
  c->rows = rows;
  c->values = (uint8_t *)ids;
  c->valid = valid;
  return 0;
}
