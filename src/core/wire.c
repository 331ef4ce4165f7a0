/* Frame codec: length-prefixed protobuf envelopes, tolerant of any chunking of the byte stream. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "wire.h"

#include <stdlib.h>
#include <string.h>

#include "mpsync/mpsync_errors.h"
#include "util/utf8.h"

int mps_buf_reserve(mps_buf *b, size_t extra) {
  if (b->cap - b->len >= extra) return 0;
  size_t need = b->len + extra;
  if (need < b->len) return MPSYNC_ENOMEM;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need) cap *= 2;
  uint8_t *p = realloc(b->data, cap);
  if (!p) return MPSYNC_ENOMEM;
  b->data = p;
  b->cap = cap;
  return 0;
}

int mps_buf_append(mps_buf *b, const void *p, size_t n) {
  int rc = mps_buf_reserve(b, n);
  if (rc) return rc;
  if (n) memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

void mps_buf_consume(mps_buf *b, size_t n) {
  if (n >= b->len) {
    b->len = 0;
    return;
  }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
}

void mps_buf_free(mps_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

int mps_frame_append(mps_buf *out, const mps_envelope *env) {
  size_t n = mpsync__wire__envelope__get_packed_size(env);
  if (n > MPS_MAX_FRAME) return MPSYNC_EFRAMESIZE;
  int rc = mps_buf_reserve(out, MPS_FRAME_HEADER + n);
  if (rc) return rc;
  uint8_t *p = out->data + out->len;
  p[0] = (uint8_t)(n >> 24);
  p[1] = (uint8_t)(n >> 16);
  p[2] = (uint8_t)(n >> 8);
  p[3] = (uint8_t)n;
  mpsync__wire__envelope__pack(env, p + MPS_FRAME_HEADER);
  out->len += MPS_FRAME_HEADER + n;
  return 0;
}

struct mps_arena_block {
  mps_arena_block *next;
  size_t cap, used;
  max_align_t data[];
};

#define ARENA_MIN_BLOCK (64u << 10)
/* A block grown by a pathological frame (tiny oplogs unpack to several times the frame size) is
 * given back rather than kept for the life of the link. */
#define ARENA_KEEP_MAX (4u << 20)

static void *arena_alloc(void *ud, size_t size) {
  mps_arena *a = ud;
  size = (size + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
  mps_arena_block *b = a->head;
  if (!b || b->cap - b->used < size) {
    size_t cap = b ? b->cap * 2 : ARENA_MIN_BLOCK;
    if (cap < size) cap = size;
    b = malloc(sizeof *b + cap);
    if (!b) return NULL;
    b->next = a->head;
    b->cap = cap;
    b->used = 0;
    a->head = b;
    a->blocks++;
  }
  void *p = (uint8_t *)b->data + b->used;
  b->used += size;
  return p;
}

static void arena_free(void *ud, void *p) {
  (void)ud;
  (void)p; /* everything goes at once, in arena_reset */
}

/* Keeps only the largest block, emptied, for the next frame. */
static void arena_reset(mps_arena *a) {
  mps_arena_block *keep = a->head;
  if (!keep) return;
  for (mps_arena_block *b = keep->next, *next; b; b = next) {
    next = b->next;
    free(b);
  }
  keep->next = NULL;
  keep->used = 0;
  a->blocks = 1;
  if (keep->cap > ARENA_KEEP_MAX) {
    free(keep);
    a->head = NULL;
    a->blocks = 0;
  }
}

void mps_decoder_init(mps_decoder *d, size_t max_frame) {
  memset(d, 0, sizeof *d);
  d->max_frame = max_frame && max_frame < MPS_MAX_FRAME ? max_frame : MPS_MAX_FRAME;
  d->alloc.alloc = arena_alloc;
  d->alloc.free = arena_free;
  d->alloc.allocator_data = &d->arena;
}

void mps_decoder_free(mps_decoder *d) {
  arena_reset(&d->arena);
  free(d->arena.head);
  d->arena.head = NULL;
  d->arena.blocks = 0;
  mps_buf_free(&d->in);
}

size_t mps_decoder_arena_blocks(const mps_decoder *d) { return d->arena.blocks; }

int mps_decoder_feed(mps_decoder *d, const uint8_t *p, size_t n) {
  return mps_buf_append(&d->in, p, n);
}

/* Reads a base-128 varint; returns its length, or 0 when it runs past n or past 10 bytes. */
static size_t read_varint(const uint8_t *p, size_t n, uint64_t *v) {
  *v = 0;
  for (size_t i = 0; i < n && i < 10; i++) {
    *v |= (uint64_t)(p[i] & 0x7F) << (7 * i);
    if (!(p[i] & 0x80)) return i + 1;
  }
  return 0;
}

/* An oplog's third id is the business server's text, passed through: ill-formed UTF-8 in it
 * reaches the app as U+FFFD (message.c). Refusing it here would refuse its whole batch, again at
 * every reconnect, and one bad oplog must never take its neighbours (C22). It names no stream or
 * user, so only the NUL check applies: a NUL would still make the id read short. */
static int utf8_optional(const ProtobufCMessageDescriptor *desc,
                         const ProtobufCFieldDescriptor *f) {
  return desc == &mpsync__wire__oplog__descriptor && strcmp(f->name, "third_msg_id") == 0;
}

/* No NUL and well-formed UTF-8 (see utf8_optional). The ASCII run is checked inline: ids and
 * bizTypes are mostly ASCII, and a batch of a thousand oplogs has a thousand third ids. */
static int string_intact(const ProtobufCMessageDescriptor *desc,
                         const ProtobufCFieldDescriptor *f, const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n && s[i] && s[i] < 0x80) i++;
  if (i == n) return 1;
  if (memchr(s + i, 0, n - i)) return 0;
  return utf8_optional(desc, f) || mps_utf8_count(s + i, n - i) != (size_t)-1;
}

/* protobuf-c hands a string field over as a char * that ends at its first NUL, so "u1\0x" on the
 * wire would read as "u1" (a batch of another user's stream passing C20), and it does not check
 * UTF-8. So the packed bytes of every string field, at any depth, are checked against the
 * message descriptors: no NUL, well-formed UTF-8 (but for third ids, above). Bytes fields
 * (payloads) are not text and may hold anything. Called after a successful unpack, so the encoding itself is sound; anything
 * that still does not parse here is refused all the same. The schema has no recursive message,
 * so the recursion is as deep as the schema (Envelope, OplogBatch, Oplog). */
static int strings_intact(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t n) {
  while (n) {
    uint64_t key, len;
    size_t k = read_varint(p, n, &key);
    if (!k) return 0;
    p += k;
    n -= k;
    switch (key & 7) {
      case 0: /* varint */
        k = read_varint(p, n, &len);
        if (!k) return 0;
        break;
      case 1: /* 64-bit */
        k = 8;
        break;
      case 5: /* 32-bit */
        k = 4;
        break;
      case 2: { /* length-delimited: string, bytes, message, packed */
        k = read_varint(p, n, &len);
        if (!k || len > n - k) return 0;
        const uint8_t *v = p + k;
        /* (unpack refused field numbers past 2^29, so the cast keeps them) */
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field(desc, (unsigned)(key >> 3));
        if (f && f->type == PROTOBUF_C_TYPE_STRING && !string_intact(desc, f, v, (size_t)len))
          return 0;
        if (f && f->type == PROTOBUF_C_TYPE_MESSAGE && !strings_intact(f->descriptor, v, len))
          return 0;
        k += len;
        break;
      }
      default: /* groups: never in our schema */
        return 0;
    }
    if (k > n) return 0;
    p += k;
    n -= k;
  }
  return 1;
}

int mps_decoder_next(mps_decoder *d, mps_envelope **out) {
  *out = NULL;
  if (d->in.len < MPS_FRAME_HEADER) return 0;
  const uint8_t *p = d->in.data;
  size_t n = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
  /* Refuse before buffering: a hostile length must not make us allocate it. */
  if (n > d->max_frame) return MPSYNC_EFRAMESIZE;
  if (d->in.len < MPS_FRAME_HEADER + n) return 0;
  mps_envelope *env = mpsync__wire__envelope__unpack(&d->alloc, n, p + MPS_FRAME_HEADER);
  if (!env) {
    arena_reset(&d->arena);
    return MPSYNC_EPROTO;
  }
  if (!strings_intact(&mpsync__wire__envelope__descriptor, p + MPS_FRAME_HEADER, n)) {
    d->refused_body = (int)env->body_case;
    arena_reset(&d->arena);
    return MPSYNC_EPROTO;
  }
  mps_buf_consume(&d->in, MPS_FRAME_HEADER + n);
  *out = env;
  return 1;
}

void mps_decoder_release(mps_decoder *d, mps_envelope *env) {
  (void)env; /* it lives in the arena */
  arena_reset(&d->arena);
}

int mps_valid_biz(const char *s) {
  if (!s) return 0;
  size_t n = strlen(s);
  if (n == 0 || n > 30) return 0;
  for (size_t i = 0; i < n; i++)
    if (s[i] <= ' ' || s[i] > '~') return 0;
  return 1;
}

long mps_utf8_chars(const char *s) {
  size_t n = mps_utf8_count((const uint8_t *)s, strlen(s));
  return n == (size_t)-1 ? -1 : (long)n;
}

int mps_valid_id(const char *s) {
  long n = s ? mps_utf8_chars(s) : -1;
  return n >= 0 && n <= MPS_MAX_ID_CHARS;
}
