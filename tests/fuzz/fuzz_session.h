/* Shared driver of the two session fuzz targets: feeds hostile bytes to a sans-I/O session in
 * input-chosen chunks with clock ticks, and checks that every byte it writes back is well formed. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MPSYNC_FUZZ_SESSION_H
#define MPSYNC_FUZZ_SESSION_H

#include <string.h>

#include "fuzz_common.h"
#include "mpsync/mpsync_errors.h"
#include "session.h"
#include "wire.h"

/* Drains what the session wants to send; it must be whole, decodable frames of messages that role
 * may send. Returns how many frames there were. */
static inline int fuzz_drain(mps_session *s, mps_role role) {
  const uint8_t *data;
  size_t n = mps_session_pending(s, &data);
  if (!n) return 0;
  mps_decoder d;
  mps_decoder_init(&d, MPS_MAX_FRAME);
  FUZZ_CHECK(mps_decoder_feed(&d, data, n) == 0);
  int frames = 0;
  mps_envelope *env;
  int rc;
  while ((rc = mps_decoder_next(&d, &env)) == 1) {
    frames++;
    int c = env->body_case;
    if (role == MPS_ROLE_CLIENT)
      FUZZ_CHECK(c == MPSYNC__WIRE__ENVELOPE__BODY_HELLO || c == MPSYNC__WIRE__ENVELOPE__BODY_ACK ||
                 c == MPSYNC__WIRE__ENVELOPE__BODY_PULL_GLOBAL ||
                 c == MPSYNC__WIRE__ENVELOPE__BODY_PING || c == MPSYNC__WIRE__ENVELOPE__BODY_CLOSE);
    else
      FUZZ_CHECK(c == MPSYNC__WIRE__ENVELOPE__BODY_WELCOME ||
                 c == MPSYNC__WIRE__ENVELOPE__BODY_BATCH || c == MPSYNC__WIRE__ENVELOPE__BODY_PONG ||
                 c == MPSYNC__WIRE__ENVELOPE__BODY_CLOSE);
    mps_decoder_release(&d, env);
  }
  FUZZ_CHECK(rc == 0);       /* never a broken or oversize frame */
  FUZZ_CHECK(d.in.len == 0); /* never half a frame */
  mps_decoder_free(&d);
  mps_session_consume(s, n);
  return frames;
}

/* A reference model of the framing (4-byte big-endian length, then that many bytes): the decoder
 * must refuse an announced length over its limit at once, wait while a frame is incomplete, and
 * consume exactly one frame per envelope. */
static inline void fuzz_decoder_model(const uint8_t *p, size_t n, size_t max_frame) {
  mps_decoder d;
  mps_decoder_init(&d, max_frame);
  size_t limit = max_frame && max_frame < MPS_MAX_FRAME ? max_frame : MPS_MAX_FRAME;
  FUZZ_CHECK(mps_decoder_feed(&d, p, n) == 0);
  size_t off = 0;
  for (;;) {
    mps_envelope *env = NULL;
    int rc = mps_decoder_next(&d, &env);
    size_t left = n - off;
    if (left < MPS_FRAME_HEADER) {
      FUZZ_CHECK(rc == 0);
      break;
    }
    const uint8_t *h = p + off;
    size_t len = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
    if (len > limit) {
      FUZZ_CHECK(rc == MPSYNC_EFRAMESIZE);
      break;
    }
    if (left - MPS_FRAME_HEADER < len) {
      FUZZ_CHECK(rc == 0);
      break;
    }
    if (rc != 1) {
      FUZZ_CHECK(rc == MPSYNC_EPROTO && env == NULL);
      break;
    }
    FUZZ_CHECK(env != NULL);
    mps_decoder_release(&d, env);
    off += MPS_FRAME_HEADER + len;
    FUZZ_CHECK(d.in.len == n - off);
  }
  mps_decoder_free(&d);
}

/* Feeds in[] to s: byte 0 picks the chunking and seeds the PRNG; between chunks the clock moves
 * and tick runs. The same bytes go through fuzz_decoder_model first. */
static inline void fuzz_feed(mps_session *s, mps_role role, const uint8_t *data, size_t size,
                             uint64_t now) {
  if (!size) return;
  /* Bit 2 of byte 0: check the framing against the model with a tiny limit, or the real one. */
  fuzz_decoder_model(data + 1, size - 1, data[0] & 4 ? 64 : 0);
  uint32_t rng = 0x01000193u * (uint32_t)(data[0] + 1);
  int mode = data[0] & 3;
  data++;
  size--;
  while (size && !mps_session_closed(s)) {
    size_t chunk;
    switch (mode) {
      case 0: chunk = size; break;                             /* everything at once */
      case 1: chunk = 1; break;                                /* byte by byte */
      case 2: chunk = 1 + fuzz_rand(&rng) % 16; break;         /* small pieces */
      default: chunk = 1 + fuzz_rand(&rng) % 512; break;       /* TCP-like segments */
    }
    if (chunk > size) chunk = size;
    long r = mps_session_recv(s, data, chunk, now);
    fuzz_drain(s, role);
    if (r < 0) {
      /* A refused stream leaves the session closed with a reason, and accepts nothing more. */
      FUZZ_CHECK(mps_session_closed(s));
      FUZZ_CHECK(mps_session_reason(s)[0] != '\0');
      FUZZ_CHECK(mps_session_recv(s, data, chunk, now) == MPSYNC_ECLOSED);
      break;
    }
    FUZZ_CHECK(r == (long)chunk);
    data += chunk;
    size -= chunk;
    uint32_t r2 = fuzz_rand(&rng);
    now += r2 % 4 == 0 ? (uint64_t)(r2 >> 8) * 10 : r2 % 50;
    if (mps_session_tick(s, now) < 0) FUZZ_CHECK(mps_session_closed(s));
    fuzz_drain(s, role);
    uint64_t dl = mps_session_deadline(s);
    FUZZ_CHECK(mps_session_closed(s) ? dl == MPS_NO_DEADLINE : 1);
  }
  fuzz_drain(s, role);
}

#endif
