/* Unit tests of the vendor msgData rendering (SPEC §5): exact bytes for text, binary, escapes. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "check.h"
#include "client/message.h"
#include "mpsync/mpsync.h"
#include "util/utf8.h"

#define FFFD "\xEF\xBF\xBD"

/* The "pl" value msgData gives a one-oplog text message with payload p[0..n), checked to be
 * well-formed UTF-8 with no raw control character (which JSON forbids inside strings). */
static char *render_payload(const char *p, size_t n) {
  mpsync_oplog op = {.id = 1, .payload = (const uint8_t *)p, .payload_len = n, .third_msg_id = ""};
  mps_message_view m = {.pub = {.biz = "B", .user_id = "", .id = "1,1", .count = 1}, .oplogs = &op};
  char *json;
  CHECK_EQ(mpsync_message_to_json(&m.pub, &json), 0);
  size_t len = strlen(json);
  CHECK(mps_utf8_count((const uint8_t *)json, len) != (size_t)-1);
  for (size_t i = 0; i < len; i++) CHECK((unsigned char)json[i] >= 0x20);
  static const char head[] = "[{\"mk\":1,\"st\":0,\"bId\":\"\",\"ext\":\"\",\"mct\":0,\"pl\":\"";
  CHECK(len >= sizeof head - 1 + 3 && !memcmp(json, head, sizeof head - 1));
  CHECK(!strcmp(json + len - 3, "\"}]"));
  json[len - 3] = '\0';
  memmove(json, json + sizeof head - 1, len - 3 - (sizeof head - 1) + 1);
  return json;
}

#define CHECK_PAYLOAD(in, want)                                  \
  do {                                                           \
    char *got_ = render_payload(in, sizeof in - 1);              \
    CHECK_STR(got_, want);                                       \
    mpsync_free(got_);                                           \
  } while (0)

static void test_text_and_binary(void) {
  mpsync_oplog ops[2] = {
      {.id = 7, .payload = (const uint8_t *)"{\"a\":\"李四\"}", .payload_len = 14,
       .third_msg_id = "t-1", .create_time_ms = 1700000000123},
      {.id = 8, .payload = (const uint8_t *)"\x00\x01\xff", .payload_len = 3, .binary = 1,
       .third_msg_id = "t-2", .create_time_ms = 5},
  };
  mps_message_view m = {.pub = {.biz = "UCHAT", .user_id = "u", .id = "1,8,1", .count = 2}, .oplogs = ops};
  char *json;
  CHECK_EQ(mpsync_message_to_json(&m.pub, &json), 0);
  CHECK_STR(json,
            "[{\"mk\":7,\"st\":0,\"bId\":\"t-1\",\"ext\":\"\",\"mct\":1700000000123,"
            "\"pl\":\"{\\\"a\\\":\\\"李四\\\"}\"},"
            "{\"mk\":8,\"st\":0,\"bId\":\"t-2\",\"ext\":\"\",\"mct\":5,\"pl\":\"AAH/\","
            "\"isB\":\"1\"}]");
  mpsync_free(json);
}

static void test_control_characters_escaped(void) {
  mpsync_oplog op = {.id = 1, .payload = (const uint8_t *)"a\nb\\", .payload_len = 4,
                     .third_msg_id = "q\""};
  mps_message_view m = {.pub = {.biz = "B", .user_id = "", .id = "1,1", .count = 1}, .oplogs = &op};
  char *json;
  CHECK_EQ(mpsync_message_to_json(&m.pub, &json), 0);
  CHECK_STR(json, "[{\"mk\":1,\"st\":0,\"bId\":\"q\\\"\",\"ext\":\"\",\"mct\":0,"
                  "\"pl\":\"a\\u000ab\\\\\"}]");
  mpsync_free(json);
}

/* Unicode §3.9's own example (Table 3-8): each maximal subpart becomes one U+FFFD. */
static void test_invalid_utf8_replaced_by_maximal_subparts(void) {
  CHECK_PAYLOAD("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64",
                "a" FFFD FFFD FFFD "b" FFFD "c" FFFD FFFD "d");
  CHECK_PAYLOAD("\xFF\xFE x \xF5\x80", FFFD FFFD " x " FFFD FFFD);
  CHECK_PAYLOAD("\x80", FFFD);
}

static void test_lone_surrogates_replaced(void) {
  /* U+D800 and U+DFFF encoded as if they were characters (CESU / WTF-8): ED is cut at A0. */
  CHECK_PAYLOAD("\xED\xA0\x80", FFFD FFFD FFFD);
  CHECK_PAYLOAD("x\xED\xBF\xBFy", "x" FFFD FFFD FFFD "y");
  CHECK_PAYLOAD("\xED\x9F\xBF", "\xED\x9F\xBF"); /* U+D7FF, the last before them */
}

static void test_overlongs_replaced(void) {
  CHECK_PAYLOAD("\xC0\xAF", FFFD FFFD);                 /* '/' in two bytes */
  CHECK_PAYLOAD("\xE0\x80\xAF", FFFD FFFD FFFD);         /* '/' in three */
  CHECK_PAYLOAD("\xF0\x80\x80\xAF", FFFD FFFD FFFD FFFD); /* '/' in four */
  CHECK_PAYLOAD("\xC1\xBF", FFFD FFFD);
  CHECK_PAYLOAD("\xF4\x90\x80\x80", FFFD FFFD FFFD FFFD); /* above U+10FFFF */
}

static void test_truncated_sequences_replaced(void) {
  CHECK_PAYLOAD("\xE4\xB8", FFFD);             /* 中 cut at the end */
  CHECK_PAYLOAD("\xE4\xB8z", FFFD "z");        /* and in the middle: z survives */
  CHECK_PAYLOAD("\xF0\x9F\x98", FFFD);
  CHECK_PAYLOAD("\xF0\x9F\x98\"", FFFD "\\\""); /* a quote after it is still escaped */
}

static void test_nul_and_controls_escaped(void) {
  CHECK_PAYLOAD("a\0b", "a\\u0000b");
  CHECK_PAYLOAD("\x01\x1f\x7f", "\\u0001\\u001f\x7f");
  /* Valid JSON, but JavaScript source before ES2019 cannot hold them raw. */
  CHECK_PAYLOAD("\xE2\x80\xA8|\xE2\x80\xA9", "\\u2028|\\u2029");
}

static void test_four_byte_characters_kept(void) {
  CHECK_PAYLOAD("\xF0\x9F\x98\x80", "\xF0\x9F\x98\x80");         /* U+1F600 */
  CHECK_PAYLOAD("\xF0\x90\x80\x80\xF4\x8F\xBF\xBF", "\xF0\x90\x80\x80\xF4\x8F\xBF\xBF");
  CHECK_PAYLOAD("\xEF\xBF\xBD", FFFD); /* a U+FFFD the app sent is itself */
}

static void test_third_msg_id_sanitized_too(void) {
  mpsync_oplog op = {.id = 1, .payload = (const uint8_t *)"", .third_msg_id = "id\xC3"};
  mps_message_view m = {.pub = {.biz = "B", .user_id = "", .id = "1,1", .count = 1}, .oplogs = &op};
  char *json;
  CHECK_EQ(mpsync_message_to_json(&m.pub, &json), 0);
  CHECK(strstr(json, "\"bId\":\"id" FFFD "\""));
  mpsync_free(json);
}

static void test_errors(void) {
  char *json;
  CHECK_EQ(mpsync_message_to_json(NULL, &json), MPSYNC_EINVAL);
  CHECK_STR(mpsync_strerror(MPSYNC_EINVAL), "invalid argument");
  CHECK_STR(mpsync_err_name(MPSYNC_ESTALE), "MPSYNC_ESTALE");
  CHECK_STR(mpsync_strerror(-9999), "unknown error");
  CHECK_STR(mpsync_version(), MPSYNC_VERSION_STRING);
}

int main(void) {
  RUN(test_text_and_binary);
  RUN(test_control_characters_escaped);
  RUN(test_invalid_utf8_replaced_by_maximal_subparts);
  RUN(test_lone_surrogates_replaced);
  RUN(test_overlongs_replaced);
  RUN(test_truncated_sequences_replaced);
  RUN(test_nul_and_controls_escaped);
  RUN(test_four_byte_characters_kept);
  RUN(test_third_msg_id_sanitized_too);
  RUN(test_errors);
  return 0;
}
