/* Unit tests of the sans-I/O session: a client and a server wired back to back through memory. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "check.h"
#include "core/session.h"
#include "mpsync/mpsync_errors.h"

typedef struct peer {
  mps_session *s;
  int welcomes, hellos, batches, acks, pulls, closes;
  uint64_t last_ack;
  uint64_t last_id;
  int close_code;
  uint32_t retry_after;
  char hello_user[64];
  size_t hello_streams;
} peer;

static int on_welcome(void *ud, const mps_welcome *w) {
  (void)w;
  ((peer *)ud)->welcomes++;
  return 0;
}
static int on_batch(void *ud, const mps_batch *b) {
  peer *p = ud;
  p->batches++;
  p->last_id = b->oplogs[b->n_oplogs - 1]->id;
  mps_stream_point pt = MPSYNC__WIRE__STREAM_POINT__INIT;
  pt.kind = b->kind;
  pt.biz_type = b->biz_type;
  pt.target = b->target;
  pt.sync_point = p->last_id;
  mps_stream_point *pts[] = {&pt};
  return mps_session_ack(p->s, pts, 1);
}
static int on_hello(void *ud, const mps_hello *h) {
  peer *p = ud;
  p->hellos++;
  snprintf(p->hello_user, sizeof p->hello_user, "%s", h->user_id);
  p->hello_streams = h->n_streams;
  return 0;
}
static int on_ack(void *ud, const mps_ack *a) {
  peer *p = ud;
  p->acks++;
  p->last_ack = a->streams[0]->sync_point;
  return 0;
}
static int on_pull(void *ud, const mps_pull_global *g) {
  (void)g;
  ((peer *)ud)->pulls++;
  return 0;
}
static void on_close(void *ud, int code, const char *reason, uint32_t retry) {
  (void)reason;
  peer *p = ud;
  p->closes++;
  p->close_code = code;
  p->retry_after = retry;
}

static int pongs;
static void on_pong(void *ud) {
  (void)ud;
  pongs++;
}

static const mps_session_callbacks cbs = {on_welcome, on_batch, on_hello, on_ack,
                                          on_pull,    on_close, on_pong};

/* Moves everything from one session to the other, chunk bytes at a time. */
static long pump(peer *from, peer *to, size_t chunk, uint64_t now) {
  const uint8_t *data;
  size_t n = mps_session_pending(from->s, &data);
  long rc = 0;
  uint8_t copy[1 << 16];
  CHECK(n <= sizeof copy);
  memcpy(copy, data, n);
  mps_session_consume(from->s, n);
  for (size_t off = 0; off < n && rc >= 0; off += chunk) {
    size_t len = n - off < chunk ? n - off : chunk;
    rc = mps_session_recv(to->s, copy + off, len, now);
  }
  return rc;
}

static void handshake(peer *cl, peer *sv, size_t chunk) {
  cl->s = mps_session_new(MPS_ROLE_CLIENT, &cbs, cl);
  sv->s = mps_session_new(MPS_ROLE_SERVER, &cbs, sv);
  mps_hello h = MPSYNC__WIRE__HELLO__INIT;
  h.protocol_version = MPS_PROTOCOL_VERSION;
  h.instance_id = "ws_app";
  h.device_id = "dev1";
  h.user_id = "u1";
  mps_stream_point pt = MPSYNC__WIRE__STREAM_POINT__INIT;
  pt.kind = MPSYNC__WIRE__STREAM_KIND__STREAM_USER;
  pt.biz_type = "UCHAT";
  pt.target = "u1";
  pt.sync_point = 9;
  mps_stream_point *pts[] = {&pt};
  h.streams = pts;
  h.n_streams = 1;
  CHECK_EQ(mps_session_hello(cl->s, &h, 0), 0);
  CHECK(pump(cl, sv, chunk, 0) >= 0);
  CHECK_EQ(sv->hellos, 1);
  CHECK_STR(sv->hello_user, "u1");
  CHECK_EQ(sv->hello_streams, 1);
  mps_welcome w = MPSYNC__WIRE__WELCOME__INIT;
  w.protocol_version = MPS_PROTOCOL_VERSION;
  w.heartbeat_interval_s = 30;
  w.heartbeat_timeout_s = 15;
  CHECK_EQ(mps_session_welcome(sv->s, &w, 0), 0);
  CHECK(pump(sv, cl, chunk, 0) >= 0);
  CHECK_EQ(cl->welcomes, 1);
  CHECK(mps_session_ready(cl->s));
}

static void send_batch(peer *sv, const uint64_t *ids, size_t n) {
  mps_oplog_msg ops[8], *opp[8];
  for (size_t i = 0; i < n; i++) {
    mps_oplog_msg o = MPSYNC__WIRE__OPLOG__INIT;
    ops[i] = o;
    ops[i].id = ids[i];
    ops[i].payload.data = (uint8_t *)"hi";
    ops[i].payload.len = 2;
    opp[i] = &ops[i];
  }
  mps_batch b = MPSYNC__WIRE__OPLOG_BATCH__INIT;
  b.kind = MPSYNC__WIRE__STREAM_KIND__STREAM_USER;
  b.biz_type = "UCHAT";
  b.target = "u1";
  b.oplogs = opp;
  b.n_oplogs = n;
  CHECK_EQ(mps_session_batch(sv->s, &b), 0);
}

static void done(peer *a, peer *b) {
  mps_session_free(a->s);
  mps_session_free(b->s);
}

static void test_batch_and_ack(void) {
  for (size_t chunk = 1; chunk <= 4096; chunk *= 8) { /* split and coalesced alike */
    peer cl = {0}, sv = {0};
    handshake(&cl, &sv, chunk);
    uint64_t ids[] = {10, 11, 12};
    send_batch(&sv, ids, 3);
    send_batch(&sv, (uint64_t[]){13}, 1);
    CHECK(pump(&sv, &cl, chunk, 1) >= 0);
    CHECK_EQ(cl.batches, 2);
    CHECK_EQ(cl.last_id, 13);
    CHECK(pump(&cl, &sv, chunk, 1) >= 0);
    CHECK_EQ(sv.acks, 2);
    CHECK_EQ(sv.last_ack, 13);
    done(&cl, &sv);
  }
}

static void test_batch_ids_must_rise(void) {
  peer cl = {0}, sv = {0};
  handshake(&cl, &sv, 100);
  send_batch(&sv, (uint64_t[]){5, 5}, 2);
  CHECK_EQ(pump(&sv, &cl, 100, 1), MPSYNC_EPROTO);
  CHECK_EQ(cl.batches, 0); /* garbage never reaches the cache */
  CHECK(mps_session_closed(cl.s));
  /* The client tells the server why. */
  CHECK(pump(&cl, &sv, 100, 1) < 0);
  CHECK_EQ(sv.close_code, MPSYNC__WIRE__CLOSE_CODE__CLOSE_PROTOCOL_ERROR);
  done(&cl, &sv);
}

static void test_batch_before_welcome_is_refused(void) {
  peer cl = {0};
  cl.s = mps_session_new(MPS_ROLE_CLIENT, &cbs, &cl);
  mps_hello h = MPSYNC__WIRE__HELLO__INIT;
  h.protocol_version = 1;
  h.instance_id = "i";
  h.device_id = "d";
  CHECK_EQ(mps_session_hello(cl.s, &h, 0), 0);
  /* A hand-made batch frame, since a server session refuses to send one before its welcome. */
  mps_oplog_msg o = MPSYNC__WIRE__OPLOG__INIT, *op = &o;
  o.id = 1;
  mps_batch b = MPSYNC__WIRE__OPLOG_BATCH__INIT;
  b.kind = MPSYNC__WIRE__STREAM_KIND__STREAM_DEVICE;
  b.biz_type = "B";
  b.target = "d";
  b.oplogs = &op;
  b.n_oplogs = 1;
  mps_envelope env = MPSYNC__WIRE__ENVELOPE__INIT;
  env.body_case = MPSYNC__WIRE__ENVELOPE__BODY_BATCH;
  env.batch = &b;
  mps_buf raw = {0};
  CHECK_EQ(mps_frame_append(&raw, &env), 0);
  CHECK_EQ(mps_session_recv(cl.s, raw.data, raw.len, 0), MPSYNC_EPROTO);
  CHECK_EQ(cl.batches, 0);
  mps_buf_free(&raw);
  mps_session_free(cl.s);
}

static void test_server_wants_hello_first(void) {
  peer sv = {0};
  sv.s = mps_session_new(MPS_ROLE_SERVER, &cbs, &sv);
  Mpsync__Wire__Ping ping = MPSYNC__WIRE__PING__INIT;
  mps_envelope env = MPSYNC__WIRE__ENVELOPE__INIT;
  env.body_case = MPSYNC__WIRE__ENVELOPE__BODY_PING;
  env.ping = &ping;
  mps_buf raw = {0};
  mps_frame_append(&raw, &env);
  CHECK_EQ(mps_session_recv(sv.s, raw.data, raw.len, 0), MPSYNC_EPROTO);
  CHECK_EQ(sv.hellos, 0);
  mps_buf_free(&raw);
  mps_session_free(sv.s);
}

static void test_wrong_version(void) {
  peer cl = {0}, sv = {0};
  cl.s = mps_session_new(MPS_ROLE_CLIENT, &cbs, &cl);
  sv.s = mps_session_new(MPS_ROLE_SERVER, &cbs, &sv);
  mps_hello h = MPSYNC__WIRE__HELLO__INIT;
  h.protocol_version = 99;
  h.instance_id = "i";
  h.device_id = "d";
  mps_session_hello(cl.s, &h, 0);
  CHECK_EQ(pump(&cl, &sv, 64, 0), MPSYNC_EVERSION);
  CHECK_EQ(sv.hellos, 0);
  CHECK(pump(&sv, &cl, 64, 0) < 0);
  CHECK_EQ(cl.close_code, MPSYNC__WIRE__CLOSE_CODE__CLOSE_UNSUPPORTED_VERSION);
  done(&cl, &sv);
}

static void test_heartbeat(void) {
  peer cl = {0}, sv = {0};
  handshake(&cl, &sv, 4096);
  /* Nothing due before the interval. */
  CHECK_EQ(mps_session_deadline(cl.s), 30000);
  CHECK_EQ(mps_session_tick(cl.s, 29999), 0);
  const uint8_t *p;
  CHECK_EQ(mps_session_pending(cl.s, &p), 0);
  /* A ping at the interval, answered by the server: the link stays up. */
  CHECK_EQ(mps_session_tick(cl.s, 30000), 0);
  CHECK(mps_session_pending(cl.s, &p) > 0);
  CHECK(pump(&cl, &sv, 4096, 30000) >= 0);
  CHECK(pump(&sv, &cl, 4096, 30001) >= 0);
  CHECK_EQ(mps_session_deadline(cl.s), 60000);
  /* Next ping goes unanswered: dead exactly at interval + timeout. */
  CHECK_EQ(mps_session_tick(cl.s, 60000), 0);
  CHECK_EQ(mps_session_deadline(cl.s), 75000);
  CHECK_EQ(mps_session_tick(cl.s, 74999), 0);
  CHECK_EQ(mps_session_tick(cl.s, 75000), MPSYNC_ETIMEDOUT);
  CHECK(mps_session_closed(cl.s));
  done(&cl, &sv);
}

static void test_heartbeat_can_stretch(void) {
  peer cl = {0}, sv = {0};
  handshake(&cl, &sv, 4096);
  pongs = 0;
  CHECK_EQ(mps_session_tick(cl.s, 30000), 0);
  CHECK(pump(&cl, &sv, 4096, 30000) >= 0);
  CHECK(pump(&sv, &cl, 4096, 30001) >= 0);
  CHECK_EQ(pongs, 1);
  mps_session_set_heartbeat(cl.s, 90);
  CHECK_EQ(mps_session_heartbeat_s(cl.s), 90);
  CHECK_EQ(mps_session_deadline(cl.s), 30000 + 90000);
  done(&cl, &sv);
}

static void test_server_allows_the_maximum(void) {
  peer sv = {0};
  sv.s = mps_session_new(MPS_ROLE_SERVER, &cbs, &sv);
  mps_hello h = MPSYNC__WIRE__HELLO__INIT;
  h.protocol_version = 1;
  h.instance_id = "i";
  h.device_id = "d";
  mps_envelope env = MPSYNC__WIRE__ENVELOPE__INIT;
  env.body_case = MPSYNC__WIRE__ENVELOPE__BODY_HELLO;
  env.hello = &h;
  mps_buf raw = {0};
  mps_frame_append(&raw, &env);
  CHECK(mps_session_recv(sv.s, raw.data, raw.len, 0) >= 0);
  mps_welcome w = MPSYNC__WIRE__WELCOME__INIT;
  w.protocol_version = 1;
  w.heartbeat_interval_s = 30;
  w.heartbeat_timeout_s = 15;
  w.heartbeat_max_s = 300;
  CHECK_EQ(mps_session_welcome(sv.s, &w, 0), 0);
  /* Two of the longest intervals plus the timeout before a silent client is dropped. */
  CHECK_EQ(mps_session_deadline(sv.s), 2 * 300000 + 15000);
  mps_buf_free(&raw);
  mps_session_free(sv.s);
}

static void test_close_carries_retry_after(void) {
  peer cl = {0}, sv = {0};
  handshake(&cl, &sv, 4096);
  CHECK_EQ(mps_session_close(sv.s, MPSYNC__WIRE__CLOSE_CODE__CLOSE_RETRY_LATER, "busy", 120), 0);
  CHECK_EQ(pump(&sv, &cl, 4096, 1), MPSYNC_ECLOSED);
  CHECK_EQ(cl.closes, 1);
  CHECK_EQ(cl.close_code, MPSYNC__WIRE__CLOSE_CODE__CLOSE_RETRY_LATER);
  CHECK_EQ(cl.retry_after, 120);
  CHECK_EQ(mps_session_ack(cl.s, NULL, 0), MPSYNC_EINVAL);
  done(&cl, &sv);
}

int main(void) {
  RUN(test_batch_and_ack);
  RUN(test_batch_ids_must_rise);
  RUN(test_batch_before_welcome_is_refused);
  RUN(test_server_wants_hello_first);
  RUN(test_wrong_version);
  RUN(test_heartbeat);
  RUN(test_close_carries_retry_after);
  RUN(test_heartbeat_can_stretch);
  RUN(test_server_allows_the_maximum);
  return 0;
}
