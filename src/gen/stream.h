/*
** stream.h — counter-based random streams for `--rng parallel`.
**
** Every value is a pure function of (seed, table, id, counter): the 64-bit
** SplitMix finaliser applied to a per-stream origin plus the counter times
** the golden-ratio increment (the construction behind Java's
** SplittableRandom).  So any row of any key can be drawn on any thread, and
** the data is the same whatever the thread count.
*/
#ifndef GEN_STREAM_H
#define GEN_STREAM_H

#include <stdint.h>

#define CS_GAMMA UINT64_C(0x9e3779b97f4a7c15)

enum { CS_TABLE_DF1 = 1, CS_TABLE_DF2 = 2 };

static inline uint64_t cs_mix(uint64_t z) {
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

/* The origin of stream (seed, table, id). */
static inline uint64_t cs_stream(uint32_t seed, uint32_t table, uint64_t id) {
  return cs_mix(cs_mix(((uint64_t)seed << 32) | table) ^ cs_mix(id * CS_GAMMA + 1));
}

static inline uint64_t cs_at(uint64_t stream, uint64_t counter) {
  return cs_mix(stream + (counter + 1) * CS_GAMMA);
}

/* Uniform in [0, n): the high word of a 64×64-bit product (bias < n/2^64). */
static inline uint32_t cs_below(uint64_t x, uint32_t n) {
  return (uint32_t)(((unsigned __int128)x * n) >> 64);
}

/* Uniform double in [0, 1) with 53 random bits. */
static inline double cs_unit(uint64_t x) { return (double)(x >> 11) * 0x1.0p-53; }

#endif
