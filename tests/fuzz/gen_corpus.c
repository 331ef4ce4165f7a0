/* Writes the seed corpus of the fuzz targets into DIR/<target>/ (run: fuzz_gen_corpus
 * tests/fuzz/corpus): valid and slightly broken protocol streams, API requests and meta.configs. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "wire.h"

static const char *root;

static void put_file(const char *target, const char *name, const void *p, size_t n) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", root, target);
  if (mkdir(path, 0755) != 0 && errno != EEXIST) {
    perror(path);
    exit(1);
  }
  snprintf(path, sizeof path, "%s/%s/%s", root, target, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
    perror(path);
    exit(1);
  }
}

static void put_text(const char *target, const char *name, const char *s) {
  put_file(target, name, s, strlen(s));
}

/* An HTTP fuzz input: the selector byte, then the text. */
static void put_req(const char *target, const char *name, uint8_t sel, const char *s) {
  size_t n = strlen(s);
  uint8_t *p = malloc(n + 1);
  if (!p) exit(1);
  p[0] = sel;
  memcpy(p + 1, s, n);
  put_file(target, name, p, n + 1);
  free(p);
}

/* A stream: its first byte picks the chunking of the session targets (0 all at once, 1 byte by
 * byte, 2 small, 3 segments; bit 2: check the framing with a 64-byte limit). */
static mps_buf stream(uint8_t mode) {
  mps_buf b = {0};
  mps_buf_append(&b, &mode, 1);
  return b;
}

static void frame(mps_buf *b, mps_envelope *env) {
  if (mps_frame_append(b, env)) exit(1);
}

static void welcome(mps_buf *b, uint32_t version, uint32_t hb) {
  mps_envelope env = MPSYNC__WIRE__ENVELOPE__INIT;
  Mpsync__Wire__Welcome w = MPSYNC__WIRE__WELCOME__INIT;
  w.protocol_version = version;
  w.heartbeat_interval_s = hb;
  w.heartbeat_timeout_s = 15;
  w.max_frame_size = MPS_MAX_FRAME;
  w.server_id = "mock";
  w.heartbeat_max_s = hb * 4;
  env.body_case = MPSYNC__WIRE__ENVELOPE__BODY_WELCOME;
  env.welcome = &w;
  frame(b, &env);
}

static void batch(mps_buf *b, int kind, const char *biz, const char *target, uint64_t first,
                  size_t n, int reset, uint64_t lost, int binary) {
  Mpsync__Wire__Oplog ops[4], *pops[4];
  for (size_t i = 0; i < n && i < 4; i++) {
    Mpsync__Wire__Oplog o = MPSYNC__WIRE__OPLOG__INIT;
    ops[i] = o;
    ops[i].id = first + i;
    ops[i].payload.data = (uint8_t *)(binary ? "\x00\xff\x10\x80" : "hello \xe4\xbd\xa0\xe5\xa5\xbd");
    ops[i].payload.len = binary ? 4 : 12;
    ops[i].binary = binary;
    ops[i].third_msg_id = "m1";
    ops[i].create_time_ms = 1700000000000;
    ops[i].valid_time_end_ms = i == 1 ? 1 : 0;
    pops[i] = &ops[i];
  }
  Mpsync__Wire__OplogBatch bt = MPSYNC__WIRE__OPLOG_BATCH__INIT;
  bt.kind = kind;
  bt.biz_type = (char *)biz;
  bt.target = (char *)target;
  bt.epoch = 42;
  bt.n_oplogs = n;
  bt.oplogs = pops;
  bt.reset = reset;
  bt.lost = lost;
  mps_envelope env = MPSYNC__WIRE__ENVELOPE__INIT;
  env.body_case = MPSYNC__WIRE__ENVELOPE__BODY_BATCH;
  env.batch = &bt;
  frame(b, &env);
}

static void ping_pong(mps_buf *b, int pong, uint64_t nonce) {
  Mpsync__Wire__Ping p = MPSYNC__WIRE__PING__INIT;
  p.nonce = nonce;
  mps_envelope env = MPSYNC__WIRE__ENVELOPE__INIT;
  env.body_case = pong ? MPSYNC__WIRE__ENVELOPE__BODY_PONG : MPSYNC__WIRE__ENVELOPE__BODY_PING;
  if (pong) env.pong = (Mpsync__Wire__Pong *)&p;
  else env.ping = &p;
  frame(b, &env);
}

static void close_frame(mps_buf *b, int code, uint32_t retry) {
  Mpsync__Wire__Close c = MPSYNC__WIRE__CLOSE__INIT;
  c.code = code;
  c.reason = "bye";
  c.retry_after_s = retry;
  mps_envelope env = MPSYNC__WIRE__ENVELOPE__INIT;
  env.body_case = MPSYNC__WIRE__ENVELOPE__BODY_CLOSE;
  env.close = &c;
  frame(b, &env);
}

static void hello(mps_buf *b, uint32_t version, int streams) {
  Mpsync__Wire__StreamPoint pts[3], *pp[3];
  static const char *biz[] = {"UCHAT", "DEV", "GLOBAL"};
  static const char *target[] = {"u1", "fuzz-device-000000000000", ""};
  for (int i = 0; i < 3; i++) {
    Mpsync__Wire__StreamPoint p = MPSYNC__WIRE__STREAM_POINT__INIT;
    pts[i] = p;
    pts[i].kind = i + 1;
    pts[i].biz_type = (char *)biz[i];
    pts[i].target = (char *)target[i];
    pts[i].sync_point = 5;
    pts[i].epoch = 42;
    pp[i] = &pts[i];
  }
  Mpsync__Wire__Hello h = MPSYNC__WIRE__HELLO__INIT;
  h.protocol_version = version;
  h.instance_id = "ws_app";
  h.device_id = "fuzz-device-000000000000";
  h.user_id = "u1";
  h.session_id = "s1";
  h.os_type = "ANDROID";
  h.app_version = "1.2.3";
  h.sdk_version = "0.1.0";
  h.n_streams = (size_t)streams;
  h.streams = pp;
  mps_envelope env = MPSYNC__WIRE__ENVELOPE__INIT;
  env.body_case = MPSYNC__WIRE__ENVELOPE__BODY_HELLO;
  env.hello = &h;
  frame(b, &env);
}

static void points(mps_buf *b, int pull, int kind, const char *biz, const char *target,
                   uint64_t point) {
  Mpsync__Wire__StreamPoint p = MPSYNC__WIRE__STREAM_POINT__INIT, *pp = &p;
  p.kind = kind;
  p.biz_type = (char *)biz;
  p.target = (char *)target;
  p.sync_point = point;
  p.epoch = 42;
  Mpsync__Wire__Ack a = MPSYNC__WIRE__ACK__INIT;
  a.n_streams = 1;
  a.streams = &pp;
  mps_envelope env = MPSYNC__WIRE__ENVELOPE__INIT;
  env.body_case = pull ? MPSYNC__WIRE__ENVELOPE__BODY_PULL_GLOBAL : MPSYNC__WIRE__ENVELOPE__BODY_ACK;
  if (pull) env.pull_global = (Mpsync__Wire__PullGlobal *)&a;
  else env.ack = &a;
  frame(b, &env);
}

static void done(const char *target, const char *name, mps_buf *b) {
  put_file(target, name, b->data, b->len);
  mps_buf_free(b);
}

static void client_seeds(void) {
  const char *t = "session_client";
  mps_buf b;
  b = stream(0); welcome(&b, 1, 30); done(t, "welcome", &b);
  b = stream(0); welcome(&b, 1, 30); batch(&b, 1, "UCHAT", "u1", 8, 3, 0, 0, 0);
  ping_pong(&b, 1, 1); done(t, "welcome_batch_pong", &b);
  b = stream(1); welcome(&b, 1, 1); batch(&b, 2, "DEV", "fuzz-device-000000000000", 1, 2, 0, 0, 1);
  batch(&b, 3, "GLOBAL", "", 1, 1, 0, 0, 0); done(t, "bytewise_device_global", &b);
  b = stream(2); welcome(&b, 1, 30); batch(&b, 1, "UCHAT", "u1", 0, 0, 1, 0, 0);
  batch(&b, 1, "UCHAT", "u1", 1, 4, 0, 3, 0); done(t, "reset_then_lost", &b);
  b = stream(3); welcome(&b, 1, 30); batch(&b, 1, "UCHAT", "u1", 9, 1, 0, 0, 0);
  close_frame(&b, 6, 120); done(t, "batch_then_retry_later", &b);
  b = stream(0); batch(&b, 1, "UCHAT", "u1", 1, 1, 0, 0, 0); done(t, "batch_before_welcome", &b);
  b = stream(0); welcome(&b, 2, 30); done(t, "welcome_wrong_version", &b);
  b = stream(0); welcome(&b, 1, 30); welcome(&b, 1, 30); done(t, "second_welcome", &b);
  b = stream(0); welcome(&b, 1, 30); hello(&b, 1, 1); done(t, "hello_from_server", &b);
  b = stream(0);
  mps_buf_append(&b, "\x00\x10\x00\x01", 4); /* announces 1 MiB + 1 */
  done(t, "oversize_header", &b);
  b = stream(2);
  mps_buf_append(&b, "\x00\x00\x00\x05\xff\xff\xff\xff\xff", 9);
  done(t, "undecodable", &b);
  /* The stream ends inside a frame: the decoder must wait, not decode past the bytes it has. */
  b = stream(0); welcome(&b, 1, 30); batch(&b, 1, "UCHAT", "u1", 8, 3, 0, 0, 0); b.len -= 7;
  done(t, "truncated_batch", &b);
  b = stream(4); welcome(&b, 1, 30); batch(&b, 1, "UCHAT", "u1", 8, 3, 0, 0, 0);
  done(t, "batch_over_small_limit", &b);
}

static void server_seeds(void) {
  const char *t = "session_server";
  mps_buf b;
  b = stream(0); hello(&b, 1, 0); done(t, "hello", &b);
  b = stream(0); hello(&b, 1, 3); points(&b, 0, 1, "UCHAT", "u1", 9); ping_pong(&b, 0, 7);
  done(t, "hello_ack_ping", &b);
  b = stream(1); hello(&b, 1, 1); points(&b, 1, 3, "GLOBAL", "", 0); done(t, "bytewise_pull", &b);
  b = stream(3); hello(&b, 1, 2); points(&b, 0, 2, "DEV", "fuzz-device-000000000000", 3);
  close_frame(&b, 0, 0); done(t, "ack_then_close", &b);
  b = stream(0); points(&b, 0, 1, "UCHAT", "u1", 1); done(t, "ack_before_hello", &b);
  b = stream(0); hello(&b, 1, 0); hello(&b, 1, 0); done(t, "second_hello", &b);
  b = stream(0); hello(&b, 9, 0); done(t, "hello_wrong_version", &b);
  b = stream(2); hello(&b, 1, 0); points(&b, 0, 0, "bad biz", "u1", 1); done(t, "bad_point", &b);
  b = stream(0); hello(&b, 1, 0); welcome(&b, 1, 30); done(t, "welcome_from_client", &b);
  b = stream(0); hello(&b, 1, 3); b.len -= 5; done(t, "truncated_hello", &b);
  b = stream(0);
  mps_buf_append(&b, "\xff\xff\xff\xff", 4); /* announces 4 GiB */
  done(t, "oversize_header", &b);
  b = stream(6); hello(&b, 1, 3); done(t, "hello_over_small_limit", &b);
}

static void http_seeds(void) {
  const char *t = "http_push";
  /* byte 0: bit 0 global, bit 1 admin, bits 2-3 method (GET POST PUT DELETE) */
  put_req(t, "single_text", 0x00, "instanceId=ws_app\n"
           "{\"bizType\":\"UCHAT\",\"linkToken\":\"u1\",\"thirdMsgId\":\"m1\",\"payload\":\"hello\"}");
  put_req(t, "single_binary_filters", 0x00, "instanceId=ws%5Fapp&x=1\n"
           "{\"bizType\":\"DEV\",\"linkToken\":\"d1\",\"thirdMsgId\":\"m2\",\"binaryPayload\":\"AAEC/w==\","
           "\"osType\":\"android\",\"appMinVersion\":\"1.0\",\"appMaxVersion\":\"2.10.3\","
           "\"validTimeEnd\":\"1900000000000\"}");
  put_req(t, "single_chinese_volatile", 0x00, "instanceId=ws_app\n"
           "{\"bizType\":\"VOLATILE\",\"linkToken\":\"u1\",\"thirdMsgId\":\"\xe4\xbd\xa0\","
           "\"payload\":\"\xe4\xbd\xa0\xe5\xa5\xbd\",\"validTimeEnd\":1700000000000}");
  put_req(t, "single_device_user", 0x00, "instanceId=ws_app\n"
           "{\"bizType\":\"SINGLE\",\"linkToken\":\"u1\",\"thirdMsgId\":\"m3\",\"payload\":\"x\","
           "\"osType\":\"IOS\"}");
  put_req(t, "global", 0x01, "instanceId=ws_app\n"
           "{\"bizType\":\"GLOBAL\",\"thirdMsgId\":\"g1\",\"payload\":\"to all\"}");
  put_req(t, "global_on_single", 0x00, "instanceId=ws_app\n"
           "{\"bizType\":\"GLOBAL\",\"linkToken\":\"u1\",\"thirdMsgId\":\"g1\",\"payload\":\"x\"}");
  put_req(t, "offline_biz", 0x00, "instanceId=ws_app\n"
           "{\"bizType\":\"OFF\",\"linkToken\":\"u1\",\"thirdMsgId\":\"m1\",\"payload\":\"x\"}");
  put_req(t, "both_payloads", 0x00, "instanceId=ws_app\n"
           "{\"bizType\":\"UCHAT\",\"linkToken\":\"u1\",\"thirdMsgId\":\"m1\",\"payload\":\"x\","
           "\"binaryPayload\":\"eA==\",\"validTimeEnd\":1.5}");
  put_req(t, "no_instance", 0x00, "\n{}");
  put_req(t, "admin_biz_create", 0x06, "biz?operator=fuzz\n"
           "{\"bizType\":\"NEW\",\"scope\":\"specified\",\"dimension\":\"device\",\"multiDevice\":false,"
           "\"persistent\":true,\"repushMode\":\"threshold\",\"threshold\":3,\"userConsistency\":false,"
           "\"instanceId\":\"ws_app\"}");
  put_req(t, "admin_biz_list", 0x02, "biz?instanceId=ws_app\n");
  put_req(t, "admin_biz_modify", 0x0a, "biz/UCHAT?instanceId=ws_app\n{\"description\":\"d\"}");
  put_req(t, "admin_biz_delete", 0x0e, "biz/UCHAT\n");
  put_req(t, "admin_status", 0x02, "status?instanceId=ws_app&userId=u1&deviceId=d1\n");
  put_req(t, "admin_records", 0x02, "records?from=0&to=9999999999999&operator=api\n");
  put_req(t, "admin_retention", 0x06, "retention/run?olderThanMs=0&atMs=1700000000000\n");
  put_req(t, "admin_stream_reset", 0x06, "stream/reset?instanceId=ws_app&bizType=UCHAT&userId=u1\n");
  put_req(t, "admin_links_close", 0x06, "links/close?instanceId=ws_app&code=RETRY_LATER&retryAfter=30\n");
}

static void meta_seeds(void) {
  const char *t = "meta_config";
  put_text(t, "full", "{\"appId\":\"ALIPUB\",\"appKey\":\"k\",\"workspaceId\":\"default\","
           "\"syncserver\":\"sync.example.com\",\"syncport\":\"443\"}");
  put_text(t, "numbers_and_own_keys", "{\"appId\":\"A\",\"workspaceId\":\"W\",\"syncserver\":\"127.0.0.1\","
           "\"syncport\":9000,\"mpsyncPlaintext\":true,\"mpsyncCaFile\":\"/etc/ca.pem\","
           "\"mpsyncPin\":\"abcd\",\"extra\":{\"a\":[1,2,null]}}");
  put_text(t, "missing_port", "{\"appId\":\"A\",\"workspaceId\":\"W\",\"syncserver\":\"h\"}");
  put_text(t, "not_object", "[\"appId\"]");
  put_text(t, "nulls_unicode", "{\"appId\":null,\"appId\":\"\\u4f60\",\"workspaceId\":\"w\\\"x\","
           "\"syncserver\":\"\",\"syncport\":\"65535\"}");
}

static void json_seeds(void) {
  const char *t = "msgdata_json";
  /* count, then per oplog: id (8), create time (8), binary flag, thirdMsgId (2-byte length +
   * bytes), payload (2-byte length + bytes). */
  static const uint8_t one_text[] = {1, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 1, 0x8b, 0xcf, 0xe4, 0x50,
                                     0, 0, 0, 0, 2, 'm', '1', 0, 5, 'h', '"', '\\', '\n', 0xe4};
  put_file(t, "one_text", one_text, sizeof one_text);
  static const uint8_t two_mixed[] = {2,
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 4,
      0, 0xff, 0x10, 0x80,
      0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 'a', 0x01, 'c', 0, 3, 'x', 0, 'y'};
  put_file(t, "two_mixed", two_mixed, sizeof two_mixed);
  put_file(t, "empty", "\x00", 1);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: fuzz_gen_corpus DIR\n");
    return 2;
  }
  root = argv[1];
  mkdir(root, 0755);
  client_seeds();
  server_seeds();
  http_seeds();
  meta_seeds();
  json_seeds();
  return 0;
}
