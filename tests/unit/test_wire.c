/* Unit tests of the frame codec: round trips, chunking, hostile lengths, strings hiding NULs. */
/* SPDX-License-Identifier: Apache-2.0 */
#define _GNU_SOURCE /* memmem */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "core/wire.h"
#include "mpsync/mpsync_errors.h"

static void ping_frame(mps_buf *out, uint64_t nonce) {
  Mpsync__Wire__Ping ping = MPSYNC__WIRE__PING__INIT;
  ping.nonce = nonce;
  mps_envelope env = MPSYNC__WIRE__ENVELOPE__INIT;
  env.body_case = MPSYNC__WIRE__ENVELOPE__BODY_PING;
  env.ping = &ping;
  CHECK_EQ(mps_frame_append(out, &env), 0);
}

static void test_round_trip(void) {
  mps_buf b = {0};
  ping_frame(&b, 42);
  CHECK(b.len > MPS_FRAME_HEADER);
  CHECK_EQ(b.data[0], 0);
  CHECK_EQ((size_t)b.data[3], b.len - MPS_FRAME_HEADER);
  mps_decoder d;
  mps_decoder_init(&d, 0);
  CHECK_EQ(mps_decoder_feed(&d, b.data, b.len), 0);
  mps_envelope *env;
  CHECK_EQ(mps_decoder_next(&d, &env), 1);
  CHECK_EQ(env->body_case, MPSYNC__WIRE__ENVELOPE__BODY_PING);
  CHECK_EQ(env->ping->nonce, 42);
  mps_decoder_release(&d, env);
  CHECK_EQ(mps_decoder_next(&d, &env), 0);
  mps_decoder_free(&d);
  mps_buf_free(&b);
}

static void test_split_byte_by_byte(void) {
  mps_buf b = {0};
  ping_frame(&b, 7);
  mps_decoder d;
  mps_decoder_init(&d, 0);
  mps_envelope *env = NULL;
  for (size_t i = 0; i < b.len; i++) {
    CHECK_EQ(mps_decoder_next(&d, &env), 0);
    CHECK_EQ(mps_decoder_feed(&d, b.data + i, 1), 0);
  }
  CHECK_EQ(mps_decoder_next(&d, &env), 1);
  CHECK_EQ(env->ping->nonce, 7);
  mps_decoder_release(&d, env);
  mps_decoder_free(&d);
  mps_buf_free(&b);
}

static void test_coalesced(void) {
  mps_buf b = {0};
  for (uint64_t i = 1; i <= 5; i++) ping_frame(&b, i);
  mps_decoder d;
  mps_decoder_init(&d, 0);
  CHECK_EQ(mps_decoder_feed(&d, b.data, b.len), 0);
  for (uint64_t i = 1; i <= 5; i++) {
    mps_envelope *env;
    CHECK_EQ(mps_decoder_next(&d, &env), 1);
    CHECK_EQ(env->ping->nonce, i);
    mps_decoder_release(&d, env);
  }
  mps_envelope *env;
  CHECK_EQ(mps_decoder_next(&d, &env), 0);
  mps_decoder_free(&d);
  mps_buf_free(&b);
}

static void test_oversize_length_refused_before_buffering(void) {
  uint8_t hdr[4] = {0x7f, 0xff, 0xff, 0xff};
  mps_decoder d;
  mps_decoder_init(&d, 0);
  CHECK_EQ(mps_decoder_feed(&d, hdr, 4), 0);
  mps_envelope *env;
  CHECK_EQ(mps_decoder_next(&d, &env), MPSYNC_EFRAMESIZE);
  CHECK(d.in.cap < 4096); /* nothing near the announced size was allocated */
  mps_decoder_free(&d);

  /* One byte over the limit is refused; exactly the limit is a legal length. */
  uint32_t n = MPS_MAX_FRAME + 1;
  uint8_t over[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
  mps_decoder_init(&d, 0);
  mps_decoder_feed(&d, over, 4);
  CHECK_EQ(mps_decoder_next(&d, &env), MPSYNC_EFRAMESIZE);
  mps_decoder_free(&d);
  n = MPS_MAX_FRAME;
  uint8_t at[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
  mps_decoder_init(&d, 0);
  mps_decoder_feed(&d, at, 4);
  CHECK_EQ(mps_decoder_next(&d, &env), 0);
  mps_decoder_free(&d);
}

static void test_garbage_payload(void) {
  uint8_t junk[] = {0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff};
  mps_decoder d;
  mps_decoder_init(&d, 0);
  mps_decoder_feed(&d, junk, sizeof junk);
  mps_envelope *env;
  CHECK_EQ(mps_decoder_next(&d, &env), MPSYNC_EPROTO);
  CHECK(env == NULL);
  mps_decoder_free(&d);
}

/* Large batches decode whole, every time, out of one reused arena block: no allocation per
 * oplog, and none per frame once the first large one has been seen. */
static void test_batches_decode_from_one_arena_block(void) {
  enum { N = 1000 };
  static Mpsync__Wire__Oplog ops[N];
  static Mpsync__Wire__Oplog *ptrs[N];
  static char third[N][16];
  static uint8_t payload[N][200];
  mps_buf b = {0};
  for (uint64_t frame = 0; frame < 50; frame++) {
    for (size_t i = 0; i < N; i++) {
      mpsync__wire__oplog__init(&ops[i]);
      ops[i].id = frame * N + i + 1;
      memset(payload[i], (int)('a' + i % 26), sizeof payload[i]);
      ops[i].payload.data = payload[i];
      ops[i].payload.len = sizeof payload[i];
      snprintf(third[i], sizeof third[i], "t%zu", i);
      ops[i].third_msg_id = third[i];
      ptrs[i] = &ops[i];
    }
    Mpsync__Wire__OplogBatch batch = MPSYNC__WIRE__OPLOG_BATCH__INIT;
    batch.biz_type = "BIG";
    batch.target = "dev";
    batch.oplogs = ptrs;
    batch.n_oplogs = N;
    mps_envelope env = MPSYNC__WIRE__ENVELOPE__INIT;
    env.body_case = MPSYNC__WIRE__ENVELOPE__BODY_BATCH;
    env.batch = &batch;
    CHECK_EQ(mps_frame_append(&b, &env), 0);
  }
  mps_decoder d;
  mps_decoder_init(&d, 0);
  CHECK_EQ(mps_decoder_feed(&d, b.data, b.len), 0);
  for (uint64_t frame = 0; frame < 50; frame++) {
    mps_envelope *env;
    CHECK_EQ(mps_decoder_next(&d, &env), 1);
    CHECK_EQ(env->batch->n_oplogs, N);
    for (size_t i = 0; i < N; i += 97) {
      const Mpsync__Wire__Oplog *op = env->batch->oplogs[i];
      CHECK_EQ(op->id, frame * N + i + 1);
      CHECK_EQ(op->payload.len, 200);
      CHECK_EQ(op->payload.data[199], 'a' + i % 26);
      char want[16];
      snprintf(want, sizeof want, "t%zu", i);
      CHECK_STR(op->third_msg_id, want);
    }
    mps_decoder_release(&d, env);
    CHECK_EQ(mps_decoder_arena_blocks(&d), 1);
  }
  mps_decoder_free(&d);
  mps_buf_free(&b);
}

/* One message of each kind that has a string field, every string set to a valid value. */
typedef struct sample {
  Mpsync__Wire__StreamPoint pt;
  Mpsync__Wire__StreamPoint *pts[1];
  Mpsync__Wire__Hello hello;
  Mpsync__Wire__Welcome welcome;
  Mpsync__Wire__Oplog op;
  Mpsync__Wire__Oplog *ops[1];
  Mpsync__Wire__OplogBatch batch;
  Mpsync__Wire__Ack ack;
  Mpsync__Wire__PullGlobal pull;
  Mpsync__Wire__Close close;
} sample;

static void sample_init(sample *m) {
  memset(m, 0, sizeof *m);
  mpsync__wire__stream_point__init(&m->pt);
  m->pt.kind = MPSYNC__WIRE__STREAM_KIND__STREAM_USER;
  m->pt.biz_type = "UCHAT";
  m->pt.target = "u1";
  m->pts[0] = &m->pt;
  mpsync__wire__hello__init(&m->hello);
  m->hello.protocol_version = MPS_PROTOCOL_VERSION;
  m->hello.instance_id = "app";
  m->hello.device_id = "dev-1";
  m->hello.user_id = "u1";
  m->hello.session_id = "s1";
  m->hello.os_type = "ANDROID";
  m->hello.app_version = "1.0";
  m->hello.sdk_version = "test";
  m->hello.streams = m->pts;
  m->hello.n_streams = 1;
  mpsync__wire__welcome__init(&m->welcome);
  m->welcome.server_id = "server-1";
  mpsync__wire__oplog__init(&m->op);
  m->op.id = 1;
  /* Bytes, not text: a NUL and a byte that is never UTF-8 are legal here. */
  m->op.payload.data = (uint8_t *)"a\0b\xff";
  m->op.payload.len = 4;
  m->op.third_msg_id = "t1";
  m->ops[0] = &m->op;
  mpsync__wire__oplog_batch__init(&m->batch);
  m->batch.kind = MPSYNC__WIRE__STREAM_KIND__STREAM_USER;
  m->batch.biz_type = "UCHAT";
  m->batch.target = "u1";
  m->batch.epoch = 1;
  m->batch.oplogs = m->ops;
  m->batch.n_oplogs = 1;
  mpsync__wire__ack__init(&m->ack);
  m->ack.streams = m->pts;
  m->ack.n_streams = 1;
  mpsync__wire__pull_global__init(&m->pull);
  m->pull.streams = m->pts;
  m->pull.n_streams = 1;
  mpsync__wire__close__init(&m->close);
  m->close.reason = "bye";
}

static mps_envelope sample_envelope(sample *m, int body) {
  mps_envelope env = MPSYNC__WIRE__ENVELOPE__INIT;
  env.body_case = (Mpsync__Wire__Envelope__BodyCase)body;
  switch (body) {
    case MPSYNC__WIRE__ENVELOPE__BODY_HELLO: env.hello = &m->hello; break;
    case MPSYNC__WIRE__ENVELOPE__BODY_WELCOME: env.welcome = &m->welcome; break;
    case MPSYNC__WIRE__ENVELOPE__BODY_BATCH: env.batch = &m->batch; break;
    case MPSYNC__WIRE__ENVELOPE__BODY_ACK: env.ack = &m->ack; break;
    case MPSYNC__WIRE__ENVELOPE__BODY_PULL_GLOBAL: env.pull_global = &m->pull; break;
    case MPSYNC__WIRE__ENVELOPE__BODY_CLOSE: env.close = &m->close; break;
    default: CHECK(!"a body with a sample");
  }
  return env;
}

/* Decodes one frame: 1 with the envelope released, or the decoder's error. */
static int decode_one(const mps_buf *frame, int *refused_body) {
  mps_decoder d;
  mps_decoder_init(&d, 0);
  CHECK_EQ(mps_decoder_feed(&d, frame->data, frame->len), 0);
  mps_envelope *env;
  int rc = mps_decoder_next(&d, &env);
  if (rc == 1) mps_decoder_release(&d, env);
  else CHECK(env == NULL);
  *refused_body = d.refused_body;
  mps_decoder_free(&d);
  return rc;
}

/* Every string field of every message that has one; the frame carries `body`. */
typedef struct string_field {
  const char *name;
  int body;
  size_t offset;   /* of the char * in sample */
  int passthrough; /* the business server's text: ill-formed UTF-8 passes, a NUL does not */
} string_field;

#define FIELD(body, member, passthrough) \
  {#body "." #member, MPSYNC__WIRE__ENVELOPE__BODY_##body, offsetof(sample, member), passthrough}
static const string_field string_fields[] = {
    FIELD(HELLO, hello.instance_id, 0), FIELD(HELLO, hello.device_id, 0),
    FIELD(HELLO, hello.user_id, 0),     FIELD(HELLO, hello.session_id, 0),
    FIELD(HELLO, hello.os_type, 0),     FIELD(HELLO, hello.app_version, 0),
    FIELD(HELLO, hello.sdk_version, 0), FIELD(HELLO, pt.biz_type, 0),
    FIELD(HELLO, pt.target, 0),         FIELD(WELCOME, welcome.server_id, 0),
    FIELD(BATCH, batch.biz_type, 0),    FIELD(BATCH, batch.target, 0),
    FIELD(BATCH, op.third_msg_id, 1),   FIELD(ACK, pt.biz_type, 0),
    FIELD(ACK, pt.target, 0),           FIELD(PULL_GLOBAL, pt.biz_type, 0),
    FIELD(PULL_GLOBAL, pt.target, 0),   FIELD(CLOSE, close.reason, 0),
};
#undef FIELD

/* Decodes a frame that must decode; checks that the string at sf holds exactly want. */
static void decodes_with(const mps_buf *frame, const string_field *sf, const char *want) {
  mps_decoder d;
  mps_decoder_init(&d, 0);
  CHECK_EQ(mps_decoder_feed(&d, frame->data, frame->len), 0);
  mps_envelope *env;
  CHECK_EQ(mps_decoder_next(&d, &env), 1);
  CHECK_EQ(env->body_case, sf->body);
  CHECK_EQ(env->body_case, MPSYNC__WIRE__ENVELOPE__BODY_BATCH); /* the one passthrough field */
  CHECK_STR(env->batch->oplogs[0]->third_msg_id, want);
  mps_decoder_release(&d, env);
  mps_decoder_free(&d);
}

/* protobuf-c hands strings over as char * ending at the first NUL, so "u1\0x" on the wire would
 * read as "u1" (a batch for another user passing C20). Each string field in turn carries a value
 * whose marker byte is then replaced in the packed frame by NUL or by bytes that are not UTF-8:
 * the decoder must refuse the frame and say which message it was. The same frame with the marker
 * left in place decodes, so it is the string alone that is refused. An oplog's third id is the
 * business server's text, passed through: ill-formed UTF-8 there reaches the app as U+FFFD
 * (C22: refusing the frame would refuse its whole batch at every reconnect), a NUL does not. */
static void test_strings_hiding_nul_or_bad_utf8_refused(void) {
  static const struct {
    const char *what;
    uint8_t bytes[3];
  } bad[] = {{"NUL", {0x00, 'x', 'x'}},          {"0xFF", {0xFF, 'x', 'x'}},
             {"lone continuation", {0x80, 'x', 'x'}}, {"surrogate", {0xED, 0xA0, 0x80}},
             {"overlong", {0xC0, 0xAF, 'x'}}};
  for (size_t f = 0; f < sizeof string_fields / sizeof string_fields[0]; f++) {
    const string_field *sf = &string_fields[f];
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
      sample m;
      sample_init(&m);
      char value[] = "u1###x";
      *(char **)((char *)&m + sf->offset) = value;
      mps_envelope env = sample_envelope(&m, sf->body);
      mps_buf frame = {0};
      CHECK_EQ(mps_frame_append(&frame, &env), 0);
      int refused;
      CHECK_EQ(decode_one(&frame, &refused), 1);
      CHECK_EQ(refused, 0);
      uint8_t *at = memmem(frame.data, frame.len, "###", 3);
      CHECK(at != NULL);
      memcpy(at, bad[b].bytes, 3);
      if (sf->passthrough && bad[b].bytes[0] != 0) {
        char want[8] = "u1";
        memcpy(want + 2, bad[b].bytes, 3);
        want[5] = 'x';
        decodes_with(&frame, sf, want);
        mps_buf_free(&frame);
        continue;
      }
      int rc = decode_one(&frame, &refused);
      if (rc != MPSYNC_EPROTO || refused != sf->body) {
        fprintf(stderr, "%s with %s: decoder gave %d (refused body %d)\n", sf->name, bad[b].what,
                rc, refused);
        check_exit();
      }
      mps_buf_free(&frame);
    }
  }
}

/* Valid UTF-8 beyond ASCII, and bytes fields holding anything, still decode. */
static void test_text_and_bytes_that_are_fine(void) {
  sample m;
  sample_init(&m);
  m.batch.target = "\xE7\x94\xA8\xE6\x88\xB7\xF0\x9F\x98\x80"; /* 用户😀 */
  mps_envelope env = sample_envelope(&m, MPSYNC__WIRE__ENVELOPE__BODY_BATCH);
  mps_buf frame = {0};
  CHECK_EQ(mps_frame_append(&frame, &env), 0);
  mps_decoder d;
  mps_decoder_init(&d, 0);
  CHECK_EQ(mps_decoder_feed(&d, frame.data, frame.len), 0);
  mps_envelope *out;
  CHECK_EQ(mps_decoder_next(&d, &out), 1);
  CHECK_STR(out->batch->target, m.batch.target);
  CHECK_EQ(out->batch->oplogs[0]->payload.len, 4);
  CHECK(memcmp(out->batch->oplogs[0]->payload.data, "a\0b\xff", 4) == 0);
  mps_decoder_release(&d, out);
  mps_decoder_free(&d);
  mps_buf_free(&frame);
}

static void test_biz_names(void) {
  CHECK(mps_valid_biz("UCHAT"));
  CHECK(mps_valid_biz("SYNC-TRADE-DATA"));
  CHECK(mps_valid_biz("123456789012345678901234567890"));
  CHECK(!mps_valid_biz("1234567890123456789012345678901"));
  CHECK(!mps_valid_biz(""));
  CHECK(!mps_valid_biz(NULL));
  CHECK(!mps_valid_biz("A B"));
}

int main(void) {
  RUN(test_round_trip);
  RUN(test_split_byte_by_byte);
  RUN(test_coalesced);
  RUN(test_oversize_length_refused_before_buffering);
  RUN(test_garbage_payload);
  RUN(test_batches_decode_from_one_arena_block);
  RUN(test_biz_names);
  RUN(test_strings_hiding_nul_or_bad_utf8_refused);
  RUN(test_text_and_bytes_that_are_fine);
  return 0;
}
