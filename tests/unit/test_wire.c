/* Unit tests of the frame codec: round trips, split and coalesced frames, hostile lengths. */
/* SPDX-License-Identifier: Apache-2.0 */
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
  return 0;
}
