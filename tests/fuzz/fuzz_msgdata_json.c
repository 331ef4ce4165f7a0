/* libFuzzer target: round-trip property of the msgData encoder (SPEC §5): random oplogs ->
 * mpsync_message_to_json -> strictly valid JSON text (UTF-8, no raw controls or U+2028/2029) ->
 * cJSON -> the same fields; binary payloads base64 back to their bytes, valid text unchanged. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <cjson/cJSON.h>
#include <mbedtls/base64.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "client/message.h"
#include "mpsync/mpsync.h"
#include "util/utf8.h"

#define MAX_OPLOGS 8

static int is_str(const cJSON *o, const char *key, const char *want) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsString(v) && !strcmp(v->valuestring, want);
}

static int valid_utf8(const void *s, size_t n) {
  return mps_utf8_count(s, n) != (size_t)-1;
}

/* What RFC 8259 and strict parsers demand of the text beyond cJSON's checks: well-formed UTF-8,
 * no raw control character; and what the SDK promises on top: no raw U+2028/2029. */
static void check_strict_text(const char *json) {
  size_t n = strlen(json);
  FUZZ_CHECK(valid_utf8(json, n));
  for (size_t i = 0; i < n; i++) {
    const uint8_t *p = (const uint8_t *)json + i;
    FUZZ_CHECK(*p >= 0x20);
    FUZZ_CHECK(!(i + 2 < n && p[0] == 0xE2 && p[1] == 0x80 && (p[2] == 0xA8 || p[2] == 0xA9)));
  }
}

static double num(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  FUZZ_CHECK(cJSON_IsNumber(v));
  return v->valuedouble;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_in in = {data, size};
  mpsync_oplog ops[MAX_OPLOGS];
  char *thirds[MAX_OPLOGS];
  size_t count = fuzz_u8(&in) % (MAX_OPLOGS + 1);
  for (size_t i = 0; i < count; i++) {
    mpsync_oplog *o = &ops[i];
    memset(o, 0, sizeof *o);
    o->id = fuzz_u64(&in);
    o->create_time_ms = (int64_t)fuzz_u64(&in);
    o->binary = fuzz_u8(&in) & 1;
    size_t tl;
    const uint8_t *t = fuzz_bytes(&in, 128, &tl);
    thirds[i] = malloc(tl + 1);
    FUZZ_CHECK(thirds[i]);
    memcpy(thirds[i], t, tl);
    thirds[i][tl] = '\0'; /* a C string: it ends at its first NUL */
    o->third_msg_id = thirds[i];
    /* The payload gets its own exact-size buffer so that a read past it is caught. */
    size_t pl;
    const uint8_t *p = fuzz_bytes(&in, 8192, &pl);
    uint8_t *copy = malloc(pl ? pl : 1);
    FUZZ_CHECK(copy);
    memcpy(copy, p, pl);
    o->payload = copy;
    o->payload_len = pl;
  }
  mps_message_view view = {
      .pub = {.biz = "UCHAT", .user_id = "u1", .id = "1,1", .delivery = 1, .count = count},
      .oplogs = count ? ops : NULL};
  char *json = NULL;
  FUZZ_CHECK(mpsync_message_to_json(&view.pub, &json) == 0);
  FUZZ_CHECK(json);
  check_strict_text(json);
  const char *end = NULL;
  cJSON *arr = cJSON_ParseWithOpts(json, &end, 1); /* the whole string, nothing after it */
  FUZZ_CHECK(cJSON_IsArray(arr));
  FUZZ_CHECK((size_t)cJSON_GetArraySize(arr) == count);
  for (size_t i = 0; i < count; i++) {
    const mpsync_oplog *o = &ops[i];
    const cJSON *e = cJSON_GetArrayItem(arr, (int)i);
    FUZZ_CHECK(cJSON_IsObject(e));
    /* cJSON reads numbers as doubles: exact up to 2^53, the nearest double beyond. */
    FUZZ_CHECK(num(e, "mk") == (double)o->id);
    FUZZ_CHECK(num(e, "mct") == (double)o->create_time_ms);
    FUZZ_CHECK(num(e, "st") == 0);
    FUZZ_CHECK(is_str(e, "ext", ""));
    if (valid_utf8(o->third_msg_id, strlen(o->third_msg_id)))
      FUZZ_CHECK(is_str(e, "bId", o->third_msg_id));
    const cJSON *pl = cJSON_GetObjectItemCaseSensitive(e, "pl");
    FUZZ_CHECK(cJSON_IsString(pl));
    const char *s = pl->valuestring;
    size_t slen = strlen(s);
    if (o->binary) {
      FUZZ_CHECK(is_str(e, "isB", "1"));
      uint8_t *dec = malloc(slen + 1);
      size_t dlen = 0;
      FUZZ_CHECK(dec);
      FUZZ_CHECK(mbedtls_base64_decode(dec, slen + 1, &dlen, (const uint8_t *)s, slen) == 0);
      FUZZ_CHECK(dlen == o->payload_len && (!dlen || !memcmp(dec, o->payload, dlen)));
      free(dec);
    } else {
      FUZZ_CHECK(!cJSON_GetObjectItemCaseSensitive(e, "isB"));
      /* A NUL in a text payload travels as \u0000, which cJSON's C strings end at: compare up to
       * the first NUL there (a Java or Objective-C JSON parser keeps the rest). */
      const uint8_t *nul = memchr(o->payload, 0, o->payload_len);
      size_t want = nul ? (size_t)(nul - o->payload) : o->payload_len;
      /* Valid text travels unchanged; ill-formed bytes become U+FFFD, so only validity holds. */
      if (valid_utf8(o->payload, o->payload_len))
        FUZZ_CHECK(slen == want && (!want || !memcmp(s, o->payload, want)));
      else /* (empty in cJSON's C string only when the payload starts with NUL) */
        FUZZ_CHECK(valid_utf8(s, slen) && (slen > 0 || o->payload[0] == 0));
    }
  }
  cJSON_Delete(arr);
  mpsync_free(json);
  for (size_t i = 0; i < count; i++) {
    free(thirds[i]);
    free((void *)ops[i].payload);
  }
  return 0;
}
