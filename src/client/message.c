/* The vendor msgData rendering of a message, shared by the JNI and Objective-C shims. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>

#include "client/message.h"
#include "core/wire.h"
#include "mpsync/mpsync.h"
#include "util/utf8.h"

static int put(mps_buf *b, const char *s) { return mps_buf_append(b, s, strlen(s)); }

/* Text goes out as JSON any strict parser takes (the rule is mps_json_string's): each maximal
 * ill-formed subpart as one U+FFFD, what Java, ICU and WHATWG decoders do, so every shim sees the
 * same text. */
static int put_json_string(mps_buf *b, const uint8_t *s, size_t n) {
  size_t need = mps_json_string(s, n, NULL);
  int rc = mps_buf_reserve(b, need);
  if (rc) return rc;
  b->len += mps_json_string(s, n, (char *)b->data + b->len);
  return 0;
}

static int put_base64(mps_buf *b, const uint8_t *p, size_t n) {
  size_t need = 0;
  mbedtls_base64_encode(NULL, 0, &need, p, n);
  int rc = mps_buf_reserve(b, need + 2);
  if (rc) return rc;
  b->data[b->len++] = '"';
  size_t written = 0;
  if (mbedtls_base64_encode(b->data + b->len, need, &written, p, n) != 0) return MPSYNC_ENOMEM;
  b->len += written;
  b->data[b->len++] = '"';
  return 0;
}

static int put_oplog(mps_buf *b, const mpsync_oplog *op) {
  char num[96];
  snprintf(num, sizeof num, "{\"mk\":%" PRIu64 ",\"st\":0,\"bId\":", op->id);
  int rc = put(b, num);
  const char *third = op->third_msg_id ? op->third_msg_id : "";
  if (!rc) rc = put_json_string(b, (const uint8_t *)third, strlen(third));
  snprintf(num, sizeof num, ",\"ext\":\"\",\"mct\":%" PRId64 ",\"pl\":", op->create_time_ms);
  if (!rc) rc = put(b, num);
  if (!rc)
    rc = op->binary ? put_base64(b, op->payload, op->payload_len)
                    : put_json_string(b, op->payload, op->payload_len);
  if (!rc && op->binary) rc = put(b, ",\"isB\":\"1\"");
  return rc ? rc : put(b, "}");
}

void mps_message_view_init(mps_message_view *v, const mps_msg *m) {
  memset(v, 0, sizeof *v);
  v->pub.biz = m->biz;
  v->pub.user_id = m->user_id;
  v->pub.id = m->id;
  v->pub.has_more = m->has_more;
  v->pub.delivery = m->delivery;
  v->pub.count = m->count;
  v->oplogs = m->oplogs;
}

const mpsync_oplog *mpsync_message_oplog(const mpsync_message *msg, size_t index) {
  if (!msg || index >= msg->count) return NULL;
  return &((const mps_message_view *)msg)->oplogs[index];
}

int mpsync_message_to_json(const mpsync_message *msg, char **out) {
  if (!msg || !out) return MPSYNC_EINVAL;
  *out = NULL;
  mps_buf b = {0};
  int rc = put(&b, "[");
  for (size_t i = 0; !rc && i < msg->count; i++) {
    if (i) rc = put(&b, ",");
    if (!rc) rc = put_oplog(&b, mpsync_message_oplog(msg, i));
  }
  if (!rc) rc = mps_buf_append(&b, "]", 2); /* with the NUL */
  if (rc) {
    mps_buf_free(&b);
    return rc;
  }
  *out = (char *)b.data;
  return 0;
}

void mpsync_free(void *p) { free(p); }
