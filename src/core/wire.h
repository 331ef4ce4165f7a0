/* Frame codec shared by client and server: 4-byte big-endian length + one protobuf Envelope. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MPSYNC_CORE_WIRE_H
#define MPSYNC_CORE_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "mpsync.pb-c.h"

#define MPS_PROTOCOL_VERSION 1u
#define MPS_FRAME_HEADER 4u
/* Hard ceiling: a peer announcing more is broken or hostile; nothing that size is ever buffered. */
#define MPS_MAX_FRAME (1u << 20)

typedef Mpsync__Wire__Envelope mps_envelope;

/* A growable byte buffer; data[0..len) is valid. */
typedef struct mps_buf {
  uint8_t *data;
  size_t len;
  size_t cap;
} mps_buf;

int mps_buf_reserve(mps_buf *b, size_t extra);
int mps_buf_append(mps_buf *b, const void *p, size_t n);
void mps_buf_consume(mps_buf *b, size_t n);
void mps_buf_free(mps_buf *b);

/* Appends one frame holding env to out. Returns 0, MPSYNC_EFRAMESIZE or MPSYNC_ENOMEM. */
int mps_frame_append(mps_buf *out, const mps_envelope *env);

/* Reassembles frames from arbitrary byte chunks (split or coalesced). */
/* Bump allocator for decoded envelopes: a frame of a thousand oplogs costs no malloc per oplog,
 * and after the first large frame none at all; reset when the envelope is released. */
typedef struct mps_arena_block mps_arena_block;
typedef struct mps_arena {
  mps_arena_block *head; /* newest and largest first */
  size_t blocks;
} mps_arena;

typedef struct mps_decoder {
  mps_buf in;
  size_t max_frame;
  mps_arena arena;
  ProtobufCAllocator alloc;
  /* The body case of the frame last refused for a string field that hides a NUL or is not UTF-8,
   * else 0: the server answers a Hello refused so with CLOSE_BAD_HELLO. */
  int refused_body;
} mps_decoder;

void mps_decoder_init(mps_decoder *d, size_t max_frame);
void mps_decoder_free(mps_decoder *d);
int mps_decoder_feed(mps_decoder *d, const uint8_t *p, size_t n);
/* 1 and *out set when a frame is complete, 0 when more bytes are needed, MPSYNC_EFRAMESIZE /
 * MPSYNC_EPROTO when the stream is broken or a string field of the frame, at any depth, holds a
 * NUL or is not well-formed UTF-8 (an oplog's third id may be: the app gets U+FFFD for it;
 * refused_body then says which message); the decoder is then dead. The envelope lives in the
 * decoder's arena: release it with mps_decoder_release before the next call. */
int mps_decoder_next(mps_decoder *d, mps_envelope **out);
void mps_decoder_release(mps_decoder *d, mps_envelope *env);
/* Blocks the arena holds now: 1 in the steady state, whatever the number of frames decoded. */
size_t mps_decoder_arena_blocks(const mps_decoder *d);

/* True when s is a valid bizType (1..30 chars, printable ASCII without spaces). */
int mps_valid_biz(const char *s);

/* One limit for user ids, session ids and stream targets, client and server alike: code
 * points, as the push API counts its linkToken (SPEC S1). */
#define MPS_MAX_ID_CHARS 100
#define MPS_MAX_ID_BYTES (MPS_MAX_ID_CHARS * 4)

/* Code points of s when it is well-formed UTF-8 (no overlong forms, surrogates or values past
 * U+10FFFF), else -1. */
long mps_utf8_chars(const char *s);
/* True when s is well-formed UTF-8 of at most MPS_MAX_ID_CHARS code points. */
int mps_valid_id(const char *s);

#endif
