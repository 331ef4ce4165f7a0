/* Frame codec: length-prefixed protobuf envelopes, tolerant of any chunking of the byte stream. */
#include "wire.h"

#include <stdlib.h>
#include <string.h>

#include "mpsync/mpsync_errors.h"

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

void mps_decoder_init(mps_decoder *d, size_t max_frame) {
  memset(d, 0, sizeof *d);
  d->max_frame = max_frame && max_frame < MPS_MAX_FRAME ? max_frame : MPS_MAX_FRAME;
}

void mps_decoder_free(mps_decoder *d) { mps_buf_free(&d->in); }

int mps_decoder_feed(mps_decoder *d, const uint8_t *p, size_t n) {
  return mps_buf_append(&d->in, p, n);
}

int mps_decoder_next(mps_decoder *d, mps_envelope **out) {
  *out = NULL;
  if (d->in.len < MPS_FRAME_HEADER) return 0;
  const uint8_t *p = d->in.data;
  size_t n = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
  /* Refuse before buffering: a hostile length must not make us allocate it. */
  if (n > d->max_frame) return MPSYNC_EFRAMESIZE;
  if (d->in.len < MPS_FRAME_HEADER + n) return 0;
  mps_envelope *env = mpsync__wire__envelope__unpack(NULL, n, p + MPS_FRAME_HEADER);
  if (!env) return MPSYNC_EPROTO;
  mps_buf_consume(&d->in, MPS_FRAME_HEADER + n);
  *out = env;
  return 1;
}

void mps_envelope_free(mps_envelope *env) {
  if (env) mpsync__wire__envelope__free_unpacked(env, NULL);
}

int mps_valid_biz(const char *s) {
  if (!s) return 0;
  size_t n = strlen(s);
  if (n == 0 || n > 30) return 0;
  for (size_t i = 0; i < n; i++)
    if (s[i] <= ' ' || s[i] > '~') return 0;
  return 1;
}
