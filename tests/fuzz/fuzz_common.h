/* Shared helpers of the libFuzzer targets: a property check that aborts, and a tiny PRNG. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MPSYNC_FUZZ_COMMON_H
#define MPSYNC_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* A broken property is a crash: libFuzzer saves the input, the replay test fails. */
#define FUZZ_CHECK(cond)                                                               \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #cond);    \
      abort();                                                                         \
    }                                                                                  \
  } while (0)

/* xorshift32: deterministic per input, so every crash reproduces from its file. */
static inline uint32_t fuzz_rand(uint32_t *s) {
  uint32_t x = *s ? *s : 0x9e3779b9u;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *s = x;
}

/* Consumes bytes from the front of the input; out of data reads as zeros. */
typedef struct fuzz_in {
  const uint8_t *p;
  size_t n;
} fuzz_in;

static inline uint8_t fuzz_u8(fuzz_in *in) {
  if (!in->n) return 0;
  in->n--;
  return *in->p++;
}

static inline uint64_t fuzz_u64(fuzz_in *in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | fuzz_u8(in);
  return v;
}

/* Up to max bytes (the length comes from the input); *len gets the count actually taken. */
static inline const uint8_t *fuzz_bytes(fuzz_in *in, size_t max, size_t *len) {
  size_t want = (size_t)fuzz_u8(in) << 8 | fuzz_u8(in);
  if (want > max) want %= max + 1;
  if (want > in->n) want = in->n;
  const uint8_t *p = in->p;
  in->p += want;
  in->n -= want;
  *len = want;
  return p;
}

#endif
