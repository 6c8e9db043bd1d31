/*
** keys.c — strings as integers: string join keys and string GROUP BY columns.
**
** The plans work on int64 values.  A string column they join or group on is
** read through a dictionary of its distinct values, numbered in byte order
** (memcmp, a prefix first), so that the ids sort as the strings do: the
** answer's order, its groups and the merge plan's codes are those of the ids,
** and the output turns ids back into text.  The join key's dictionary holds
** the right side's keys (the small side): a left key the right side lacks
** matches nothing, so it reads as NULL, which every scan skips.  A GROUP BY
** column's holds every value of its side, collected on all threads; ids do
** not depend on the thread count, as they are ranks.
*/
#include "keys.h"
#include "input.h"

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

static key_dict *dict_new(void) {
  key_dict *d = calloc(1, sizeof *d);
  if (d && grow_slots(d)) {
    key_dict_free(d);
    return NULL;
  }
  return d;
}

static int cmp_strings(const void *x, const void *y, void *ctx) {
  const key_dict *d = ctx;
  uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
  size_t na = d->start[a + 1] - d->start[a], nb = d->start[b + 1] - d->start[b];
  int c = memcmp(d->data + d->start[a], d->data + d->start[b], na < nb ? na : nb);
  return c ? c : (na > nb) - (na < nb);
}

/* The union of dicts[0..n), renumbered in byte order; frees them. */
static key_dict *dict_sorted_union(key_dict **dicts, int n) {
  key_dict *all = dicts[0];
  for (int k = 1; k < n && all; k++) {
    for (size_t i = 0; i < dicts[k]->n && all; i++)
      if (add(all, dicts[k]->data + dicts[k]->start[i], (size_t)(dicts[k]->start[i + 1] - dicts[k]->start[i]))) {
        key_dict_free(all);
        all = NULL;
      }
  }
  for (int k = 1; k < n; k++) key_dict_free(dicts[k]);
  if (!all) return NULL;
  uint32_t *order = malloc((all->n ? all->n : 1) * sizeof *order);
  key_dict *sorted = order ? dict_new() : NULL;
  for (size_t i = 0; sorted && i < all->n; i++) order[i] = (uint32_t)i;
  if (sorted) qsort_r(order, all->n, sizeof *order, cmp_strings, all);
  for (size_t i = 0; sorted && i < all->n; i++)
    if (add(sorted, all->data + all->start[order[i]], (size_t)(all->start[order[i] + 1] - all->start[order[i]]))) {
      key_dict_free(sorted);
      sorted = NULL;
    }
  free(order);
  key_dict_free(all);
  return sorted;
}

/* One worker's distinct values (a key_dict * per worker). */
static int collect_row_group(void *ctx, void *state, const pq_reader *r, int rg, sj_error *err) {
  const char *name = ctx;
  key_dict **d = state;
  if (!*d && !(*d = dict_new())) return sj_fail(err, SJ_ENOMEM, "out of memory");
  pq_column c;
  memset(&c, 0, sizeof c);
  int rc = pq_read(r, rg, pq_find_column(r, name), &c, err);
  for (uint64_t i = 0; i < c.rows && !rc; i++)
    if ((!c.valid || c.valid[i]) && add(*d, c.data + c.offsets[i], (size_t)(c.offsets[i + 1] - c.offsets[i])))
      rc = sj_fail(err, SJ_ENOMEM, "%s: out of memory collecting the distinct values of '%s'", pq_path(r), name);
  pq_column_free(&c);
  return rc;
}

int key_dict_build(const plan *p, side *s, const char *name, key_dict **out, sj_error *err) {
  *out = NULL;
  void *states;
  int rc = side_visit(p, s, sizeof(key_dict *), collect_row_group, (void *)name, &states, err);
  key_dict **dicts = states;
  int n = 0;
  for (int w = 0; dicts && w < sj_pool_threads(p->pool); w++) /* the workers that collected, first */
    if (dicts[w]) dicts[n++] = dicts[w];
  if (!rc && !n && !(dicts[n++] = dict_new())) rc = sj_fail(err, SJ_ENOMEM, "out of memory");
  if (rc) {
    for (int k = 0; k < n; k++) key_dict_free(dicts[k]);
    free(dicts);
    return rc;
  }
  *out = dict_sorted_union(dicts, n);
  free(dicts);
  return *out ? 0 : sj_fail(err, SJ_ENOMEM, "out of memory sorting the distinct values of '%s'", name);
}

size_t key_dict_size(const key_dict *d) { return d->n; }

const uint8_t *key_dict_value(const key_dict *d, int64_t id, size_t *len) {
  assert(id >= 0 && (size_t)id < d->n);
  *len = (size_t)(d->start[id + 1] - d->start[id]);
  return d->data + d->start[id];
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
