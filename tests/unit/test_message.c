/* Unit tests of the vendor msgData rendering (SPEC §5): exact bytes for text, binary, escapes. */
#include "check.h"
#include "client/message.h"
#include "mpsync/mpsync.h"

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
  RUN(test_errors);
  return 0;
}
