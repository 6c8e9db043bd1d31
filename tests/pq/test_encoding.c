/*
** test_encoding.c — the writer's encodings against decoders written here
** from Parquet's Encodings.md and Thrift's compact-protocol spec, not from
** the encoders, so a shared misunderstanding cannot pass unnoticed.
** (End-to-end, DuckDB and Polars read the files: tests/gen/test_gen.py.)
*/
#include "check.h"
#include "pq/encoding.h"
#include "pq/thrift.h"

#include <stdlib.h>

/* ---- independent decoders */

static uint64_t get_bits(const uint8_t *p, size_t bitpos, int width) {
  uint64_t v = 0;
  for (int i = 0; i < width; i++, bitpos++)
    v |= (uint64_t)((p[bitpos / 8] >> (bitpos % 8)) & 1) << i;
  return v;
}

static uint64_t get_uvarint(const uint8_t *p, size_t *at) {
  uint64_t v = 0;
  for (int shift = 0;; shift += 7) {
    uint8_t b = p[(*at)++];
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
}

static int64_t unzigzag(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

/* RLE/bit-packed hybrid (no length prefix) into out[n]; returns bytes used. */
static size_t decode_hybrid(const uint8_t *p, size_t len, int width, uint32_t *out, size_t n) {
  size_t at = 0, k = 0;
  while (k < n && at < len) {
    uint64_t h = get_uvarint(p, &at);
    if (h & 1) {
      size_t count = (size_t)(h >> 1) * 8;
      for (size_t i = 0; i < count; i++) {
        uint32_t v = (uint32_t)get_bits(p + at, i * (size_t)width, width);
        if (k < n) out[k++] = v;
      }
      at += (h >> 1) * (size_t)width;
    } else {
      uint32_t v = 0;
      for (int b = 0; b < (width + 7) / 8; b++) v |= (uint32_t)p[at++] << (8 * b);
      for (uint64_t i = 0; i < (h >> 1) && k < n; i++) out[k++] = v;
    }
  }
  return at;
}

static size_t decode_delta(const uint8_t *p, int64_t *out, size_t cap) {
  size_t at = 0;
  uint64_t block = get_uvarint(p, &at), minis = get_uvarint(p, &at);
  uint64_t total = get_uvarint(p, &at);
  int64_t last = unzigzag(get_uvarint(p, &at));
  size_t k = 0;
  if (total) out[k++] = last;
  uint64_t per_mini = block / minis;
  while (k < total && k < cap) {
    int64_t min_delta = unzigzag(get_uvarint(p, &at));
    const uint8_t *widths = p + at;
    at += minis;
    for (uint64_t m = 0; m < minis && k < total; m++) {
      for (uint64_t i = 0; i < per_mini; i++) {
        uint64_t d = get_bits(p + at, i * widths[m], widths[m]);
        if (k < total) {
          last = (int64_t)((uint64_t)last + (uint64_t)min_delta + d);
          out[k++] = last;
        }
      }
      at += per_mini * widths[m] / 8;
    }
  }
  return k;
}

/* ---- tests */

static uint64_t rnd_state = 88172645463325252u;
static uint64_t rnd(void) {
  rnd_state ^= rnd_state << 13;
  rnd_state ^= rnd_state >> 7;
  rnd_state ^= rnd_state << 17;
  return rnd_state;
}

static void test_bitpack(void) {
  for (int width = 1; width <= 16; width++) {
    size_t n = 1003;
    uint16_t v[1003];
    for (size_t i = 0; i < n; i++) v[i] = (uint16_t)(rnd() & ((1u << width) - 1));
    sj_buf b = {0};
    enc_bitpack_u16(v, n, width, &b);
    int ok = b.len == (n + 7) / 8 * (size_t)width;
    for (size_t i = 0; i < n && ok; i++) ok = get_bits(b.data, i * (size_t)width, width) == v[i];
    for (size_t i = n; i < (n + 7) / 8 * 8 && ok; i++) ok = get_bits(b.data, i * (size_t)width, width) == 0;
    CHECK(ok, "bitpack u16 width %d", width);
    sj_buf_free(&b);
  }
  for (int n = 32; n > 0; n -= 27) /* a miniblock, and a count whose bits end inside a byte */
    for (int width = 0; width <= 64; width++) {
      uint64_t v[32];
      for (int i = 0; i < n; i++) v[i] = width == 64 ? rnd() : rnd() & ((UINT64_C(1) << width) - 1);
      sj_buf b = {0};
      enc_bitpack_u64(v, (size_t)n, width, &b);
      int ok = b.len == (size_t)(n * width + 7) / 8;
      for (int i = 0; i < n && ok; i++) ok = get_bits(b.data, (size_t)i * (size_t)width, width) == v[i];
      for (size_t bit = (size_t)n * (size_t)width; bit < b.len * 8 && ok; bit++) ok = !(b.data[bit / 8] >> (bit % 8) & 1);
      CHECK(ok, "bitpack u64 of %d values, width %d", n, width);
      sj_buf_free(&b);
    }
}

static void test_hybrid(void) {
  enum { N = 70000 };
  static uint16_t codes[N];
  static uint32_t got[N];
  for (int pattern = 0; pattern < 3; pattern++) {
    int width = pattern == 2 ? 0 : 6;
    for (size_t i = 0; i < N; i++)
      codes[i] = pattern == 0 ? (uint16_t)(rnd() % 39) : pattern == 1 ? (uint16_t)(i / 1000 % 40) : 0;
    sj_buf b = {0};
    enc_hybrid_codes(codes, N, width, &b);
    size_t used = decode_hybrid(b.data, b.len, width, got, N);
    int ok = used == b.len;
    for (size_t i = 0; i < N && ok; i++) ok = got[i] == codes[i];
    CHECK(ok, "hybrid codes, pattern %d", pattern);
    if (pattern == 1) CHECK(b.len < 1000, "runs are RLE-encoded (%zu bytes)", b.len);
    sj_buf_free(&b);
  }
  uint64_t counts[3] = {5, 0, 300};
  sj_buf b = {0};
  enc_hybrid_runs(counts, 3, 7, 4, &b);
  decode_hybrid(b.data, b.len, 4, got, 305);
  CHECK(got[0] == 7 && got[4] == 7 && got[5] == 9 && got[304] == 9, "hybrid runs");
  sj_buf_free(&b);
}

static void test_delta(void) {
  static int64_t v[1000], got[1000];
  const size_t sizes[] = {0, 1, 2, 33, 127, 128, 129, 257, 1000};
  for (int pattern = 0; pattern < 4; pattern++) {
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
      size_t n = sizes[s];
      for (size_t i = 0; i < n; i++)
        v[i] = pattern == 0 ? (int64_t)(i % 40000) + 1                 /* bucket */
             : pattern == 1 ? (int64_t)rnd()                           /* full range, wraps */
             : pattern == 2 ? (int64_t)(rnd() % 7000) - 3500
                            : (i & 1 ? INT64_MAX : INT64_MIN);
      sj_buf b = {0};
      enc_delta_i64(v, n, &b);
      size_t k = decode_delta(b.data, got, 1000);
      int ok = k == n;
      for (size_t i = 0; i < n && ok; i++) ok = got[i] == v[i];
      CHECK(ok, "delta pattern %d, %zu values", pattern, n);
      sj_buf_free(&b);
    }
  }
}

static void test_thrift(void) {
  sj_buf b = {0};
  thrift_writer w;
  tw_init(&w, &b);
  tw_struct_begin(&w);
  tw_i32(&w, 1, -1);      /* delta 1: 0x15, zigzag(-1) = 1 */
  tw_i64(&w, 20, 300);    /* delta 19 > 15: long form 0x06, zigzag id 40 */
  tw_list(&w, 21, TC_I32, 15); /* size 15: long list header 0xF5, 15 */
  for (int i = 0; i < 15; i++) tw_elem_i32(&w, 0);
  tw_bool(&w, 22, 1);     /* bools live in the type nibble */
  tw_struct_end(&w);
  const uint8_t want_head[] = {0x15, 0x01, 0x06, 40, 0xd8, 0x04, 0x19, 0xF5, 15};
  CHECK(b.len == sizeof want_head + 15 + 2 && memcmp(b.data, want_head, sizeof want_head) == 0,
        "compact protocol bytes");
  CHECK(b.data[b.len - 2] == 0x11 && b.data[b.len - 1] == 0, "bool field and stop");
  sj_buf_free(&b);
}

static void test_shape_errors(void) {
  pq_scratch *s = pq_scratch_new();
  pq_column_spec spec = {"x", PQ_DOUBLE, PQ_ENC_DELTA, PQ_CODEC_NONE, 0, {0}};
  double d[2] = {1, 2};
  pq_vector v = {.kind = PQ_VEC_F64, .f64 = d};
  pq_rowgroup *rg = NULL;
  sj_error err;
  CHECK(pq_rowgroup_encode(&spec, 1, &v, 2, s, &rg, &err) == SJ_EUSAGE && !rg &&
            strstr(err.msg, "x"), "delta on doubles is refused, naming the column");
  uint16_t codes[2] = {0, 3};
  int64_t dict[2] = {10, 20};
  pq_column_spec cs = {"g", PQ_INT64, PQ_ENC_DICTIONARY, PQ_CODEC_ZSTD, 0, {0}};
  pq_vector cv = {.kind = PQ_VEC_CODES, .codes = codes, .dict = dict, .dict_len = 2};
  CHECK(pq_rowgroup_encode(&cs, 1, &cv, 2, s, &rg, &err) == SJ_EUSAGE && !rg,
        "a code outside the dictionary is refused");
  pq_scratch_free(s);
}

int main(void) {
  test_bitpack();
  test_hybrid();
  test_delta();
  test_thrift();
  test_shape_errors();
  return check_summary("pq_encoding");
}
