/* libFuzzer target: frame decoder + protobuf decode + session state machine, client role (bytes
 * from a hostile server). Checks that only well-formed batches reach the application (C19). */
/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "fuzz_session.h"

typedef struct ctx {
  mps_session *s;
  int welcomed;
  int closed_by_peer;
} ctx;

static volatile size_t sink; /* keeps the reads of every field from being optimised away */

static int on_welcome(void *ud, const mps_welcome *w) {
  ctx *c = ud;
  FUZZ_CHECK(!c->welcomed); /* one handshake per session */
  FUZZ_CHECK(w->protocol_version == MPS_PROTOCOL_VERSION);
  c->welcomed = 1;
  sink += strlen(w->server_id);
  return 0;
}

/* What the client relies on before it stores a batch: check_batch in session.c, restated. */
static int on_batch(void *ud, const mps_batch *b) {
  ctx *c = ud;
  FUZZ_CHECK(c->welcomed);
  FUZZ_CHECK(b->kind >= MPSYNC__WIRE__STREAM_KIND__STREAM_USER &&
             b->kind <= MPSYNC__WIRE__STREAM_KIND__STREAM_GLOBAL);
  FUZZ_CHECK(mps_valid_biz(b->biz_type));
  FUZZ_CHECK(strlen(b->target) <= 128);
  FUZZ_CHECK((b->kind == MPSYNC__WIRE__STREAM_KIND__STREAM_GLOBAL) == (b->target[0] == '\0'));
  FUZZ_CHECK(b->n_oplogs > 0 || b->reset || b->lost);
  uint64_t prev = 0;
  for (size_t i = 0; i < b->n_oplogs; i++) {
    const mps_oplog_msg *o = b->oplogs[i];
    FUZZ_CHECK(o->id > prev);
    prev = o->id;
    size_t sum = strlen(o->third_msg_id);
    for (size_t j = 0; j < o->payload.len; j++) sum += o->payload.data[j];
    sink += sum;
  }
  /* Acknowledge as the client does once the batch is committed. */
  mps_stream_point pt = MPSYNC__WIRE__STREAM_POINT__INIT;
  pt.kind = b->kind;
  pt.biz_type = b->biz_type;
  pt.target = b->target;
  pt.sync_point = prev;
  pt.epoch = b->epoch;
  mps_stream_point *pp = &pt;
  if (b->n_oplogs) FUZZ_CHECK(mps_session_ack(c->s, &pp, 1) == 0);
  return 0;
}

static void on_close(void *ud, int code, const char *reason, uint32_t retry_after_s) {
  ctx *c = ud;
  (void)code;
  (void)retry_after_s;
  c->closed_by_peer = 1;
  sink += strlen(reason);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ctx c = {0};
  mps_session_callbacks cb = {.on_welcome = on_welcome, .on_batch = on_batch, .on_close = on_close};
  c.s = mps_session_new(MPS_ROLE_CLIENT, &cb, &c);
  FUZZ_CHECK(c.s);
  mps_stream_point pt = MPSYNC__WIRE__STREAM_POINT__INIT;
  pt.kind = MPSYNC__WIRE__STREAM_KIND__STREAM_USER;
  pt.biz_type = "UCHAT";
  pt.target = "u1";
  pt.sync_point = 7;
  pt.epoch = 42;
  mps_stream_point *pp = &pt;
  mps_hello h = MPSYNC__WIRE__HELLO__INIT;
  h.protocol_version = MPS_PROTOCOL_VERSION;
  h.instance_id = "ws_app";
  h.device_id = "fuzz-device-000000000000";
  h.user_id = "u1";
  h.session_id = "s1";
  h.os_type = "ANDROID";
  h.app_version = "1.0";
  h.sdk_version = "0.1.0";
  h.n_streams = 1;
  h.streams = &pp;
  uint64_t now = 1700000000000ull;
  FUZZ_CHECK(mps_session_hello(c.s, &h, now) == 0);
  FUZZ_CHECK(fuzz_drain(c.s, MPS_ROLE_CLIENT) == 1);
  fuzz_feed(c.s, MPS_ROLE_CLIENT, data, size, now);
  if (c.welcomed && !mps_session_closed(c.s)) {
    FUZZ_CHECK(mps_session_ready(c.s));
    /* C10: a ready client can always ask for its global streams. */
    FUZZ_CHECK(mps_session_pull_global(c.s, NULL, 0) == 0);
    FUZZ_CHECK(fuzz_drain(c.s, MPS_ROLE_CLIENT) == 1);
  }
  if (c.closed_by_peer) FUZZ_CHECK(mps_session_closed(c.s));
  mps_session_free(c.s);
  return 0;
}
