/* libFuzzer target: frame decoder + protobuf decode + session state machine, server role (bytes
 * from a hostile client), answering Hello, Ack and PullGlobal as the mock server does. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "fuzz_session.h"

typedef struct ctx {
  mps_session *s;
  uint64_t now;
  int hellos;
} ctx;

static volatile size_t sink;

static int valid_point(const mps_stream_point *p) {
  return p->kind >= MPSYNC__WIRE__STREAM_KIND__STREAM_USER &&
         p->kind <= MPSYNC__WIRE__STREAM_KIND__STREAM_GLOBAL && mps_valid_biz(p->biz_type) &&
         strlen(p->target) <= 128;
}

static int on_hello(void *ud, const mps_hello *h) {
  ctx *c = ud;
  FUZZ_CHECK(++c->hellos == 1);
  FUZZ_CHECK(h->protocol_version == MPS_PROTOCOL_VERSION);
  FUZZ_CHECK(h->instance_id[0] && h->device_id[0]);
  for (size_t i = 0; i < h->n_streams; i++) FUZZ_CHECK(valid_point(h->streams[i]));
  sink += strlen(h->user_id) + strlen(h->session_id) + strlen(h->os_type) +
          strlen(h->app_version) + strlen(h->sdk_version);
  mps_welcome w = MPSYNC__WIRE__WELCOME__INIT;
  w.protocol_version = MPS_PROTOCOL_VERSION;
  w.heartbeat_interval_s = 30;
  w.heartbeat_timeout_s = 15;
  w.max_frame_size = MPS_MAX_FRAME;
  w.server_id = "fuzz";
  return mps_session_welcome(c->s, &w, c->now);
}

/* Answers with one oplog past the first stream point, as a live push would. */
static int answer(ctx *c, mps_stream_point **points, size_t n) {
  FUZZ_CHECK(c->hellos == 1);
  for (size_t i = 0; i < n; i++) FUZZ_CHECK(valid_point(points[i]));
  if (!n || points[0]->sync_point == UINT64_MAX) return 0;
  const mps_stream_point *p = points[0];
  mps_oplog_msg o = MPSYNC__WIRE__OPLOG__INIT;
  o.id = p->sync_point + 1;
  o.payload.data = (uint8_t *)"hello";
  o.payload.len = 5;
  o.third_msg_id = "m1";
  mps_oplog_msg *op = &o;
  mps_batch b = MPSYNC__WIRE__OPLOG_BATCH__INIT;
  b.kind = p->kind;
  b.biz_type = p->biz_type;
  b.target = p->target;
  b.epoch = p->epoch ? p->epoch : 1;
  b.n_oplogs = 1;
  b.oplogs = &op;
  return mps_session_batch(c->s, &b);
}

static int on_ack(void *ud, const mps_ack *a) { return answer(ud, a->streams, a->n_streams); }

static int on_pull_global(void *ud, const mps_pull_global *p) {
  return answer(ud, p->streams, p->n_streams);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ctx c = {.now = 1700000000000ull};
  mps_session_callbacks cb = {.on_hello = on_hello, .on_ack = on_ack,
                              .on_pull_global = on_pull_global};
  c.s = mps_session_new(MPS_ROLE_SERVER, &cb, &c);
  FUZZ_CHECK(c.s);
  fuzz_feed(c.s, MPS_ROLE_SERVER, data, size, c.now);
  if (c.hellos && !mps_session_closed(c.s)) FUZZ_CHECK(mps_session_ready(c.s));
  if (!mps_session_closed(c.s)) {
    FUZZ_CHECK(mps_session_close(c.s, MPSYNC__WIRE__CLOSE_CODE__CLOSE_SERVER_SHUTDOWN, "bye", 10) == 0);
    FUZZ_CHECK(fuzz_drain(c.s, MPS_ROLE_SERVER) == 1);
  }
  mps_session_free(c.s);
  return 0;
}
