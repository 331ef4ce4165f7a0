/* The HTTP push API (§5.2 single, §5.3 global): checks, idempotency, storage and live push. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "push_api.h"

#include <cjson/cJSON.h>
#include <mbedtls/base64.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "link.h"
#include "mpsync.pb-c.h"
#include "util.h"

#define LINK_TOKEN_MAX 100
#define THIRD_MSG_ID_MAX 100
#define PAYLOAD_MAX 4096
#define OS_TYPE_MAX 10
#define VERSION_MAX 20
#define BULK_MAX 10000000
#define BULK_CHUNK 10000
/* validTimeEnd: 0 (or absent) means no end; otherwise epoch ms up to 9999-12-31T23:59:59.999Z. */
#define VALID_TIME_END_MAX 253402300799999LL

#define C_SUCCESS "SUCCESS"
#define C_DUPLICATED "DUPLICATED_BIZ_ID"
#define C_NOT_ONLINE "NOT_ONLINE"
#define C_THIRD_NULL "THIRDMSGID_IS_NULL"
#define C_BIZ_NOT_ONLINE "BIZ_NOT_ONLINE"
#define C_ARGS_NULL "ARGS_IS_NULL"
#define C_NOT_GLOBAL "NOT_SUPPORT_GLOBAL"
#define C_PAYLOAD_LONG "PAYLOAD_LONG"
#define C_THIRD_LONG "THIRD_MSG_ID_LONG"
#define C_SYSTEM "SYSTEM_ERROR"

/* A request that passed the checks. */
typedef struct push_req {
  char instance[INSTANCE_MAX + 1];
  biz_config cfg;
  const char *link_token; /* "" for global */
  const char *third_msg_id;
  const char *payload;    /* text payload, or NULL */
  uint8_t *binary;        /* decoded binaryPayload, or NULL (malloc'ed) */
  size_t binary_len;
  const char *os_type;
  const char *app_min;
  const char *app_max;
  int64_t valid_end_ms;
} push_req;

/* The body as cJSON once it passed the strict check (util.h): a body that is not exactly one
 * clean JSON object is the caller's mistake, answered ARGS_IS_NULL (its required parameters
 * cannot be read), never SYSTEM_ERROR, which tells the caller to retry. NULL when refused. */
static cJSON *parse_body(const char *body, size_t len, const char **code) {
  if (json_strict_object(body ? body : "", len)) {
    *code = C_ARGS_NULL;
    return NULL;
  }
  cJSON *json = cJSON_ParseWithLength(body, len);
  if (!json) *code = C_SYSTEM; /* it passed the strict check: only memory can fail here */
  return json;
}

int push_code_success(const char *code) {
  return !strcmp(code, C_SUCCESS) || !strcmp(code, C_DUPLICATED) || !strcmp(code, C_NOT_ONLINE);
}

/* A string member, or NULL when absent, null, or not a string (the API then treats it as
 * missing). */
static const char *member(const cJSON *obj, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int empty(const char *s) { return !s || !*s; }

static const char *check_biz(mock_server *srv, push_req *r, const cJSON *body, int global) {
  const char *biz = member(body, "bizType");
  if (empty(biz)) return C_ARGS_NULL;
  if (utf8_count(biz) > BIZ_TYPE_MAX) return C_BIZ_NOT_ONLINE;
  int found = store_biz_find(srv->st, r->instance, biz, &r->cfg);
  if (found < 0) return C_SYSTEM;
  if (found == 0 || !r->cfg.online) return C_BIZ_NOT_ONLINE;
  if (r->cfg.global != global) return C_NOT_GLOBAL;
  return NULL;
}

static const char *check_ids(push_req *r, const cJSON *body, int global) {
  if (!global) {
    r->link_token = member(body, "linkToken");
    if (empty(r->link_token) || utf8_count(r->link_token) > LINK_TOKEN_MAX) return C_ARGS_NULL;
  } else {
    r->link_token = "";
  }
  r->third_msg_id = member(body, "thirdMsgId");
  if (empty(r->third_msg_id)) return C_THIRD_NULL;
  if (utf8_count(r->third_msg_id) > THIRD_MSG_ID_MAX) return C_THIRD_LONG;
  return NULL;
}

static const char *check_payload(push_req *r, const cJSON *body) {
  const char *text = member(body, "payload");
  const char *b64 = member(body, "binaryPayload");
  if (empty(text) == empty(b64)) return C_ARGS_NULL;
  if (!empty(text)) {
    size_t chars = utf8_count(text);
    if (chars == (size_t)-1 && json_lenient_utf8) chars = strlen(text);
    if (chars > PAYLOAD_MAX) return C_PAYLOAD_LONG;
    r->payload = text;
    return NULL;
  }
  size_t len = strlen(b64), out = 0;
  if (utf8_count(b64) > PAYLOAD_MAX) return C_PAYLOAD_LONG;
  r->binary = malloc(len);
  if (!r->binary) return C_SYSTEM;
  /* "=" and the like decode to nothing: a binary push carries at least one byte. */
  if (mbedtls_base64_decode(r->binary, len, &out, (const unsigned char *)b64, len) != 0 || !out)
    return C_ARGS_NULL;
  r->binary_len = out;
  return NULL;
}

/* An optional string filter: absent or "" means no filter; non-strings are refused. */
static int optional_string(const cJSON *body, const char *key, const char **out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, key);
  *out = "";
  if (!v || cJSON_IsNull(v)) return 0;
  if (!cJSON_IsString(v)) return -1;
  *out = v->valuestring;
  return 0;
}

/* A whole number of epoch ms in [0, VALID_TIME_END_MAX], as a JSON number or a decimal string;
 * anything else is refused rather than saturated or read as "no end". */
static int parse_valid_time_end(const cJSON *body, int64_t *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, "validTimeEnd");
  *out = 0;
  if (!v || cJSON_IsNull(v)) return 0;
  if (cJSON_IsNumber(v)) {
    double d = v->valuedouble;
    /* Range first: the conversion to int64_t is only defined inside it. */
    if (!(d >= 0 && d <= (double)VALID_TIME_END_MAX) || (double)(int64_t)d != d) return -1;
    *out = (int64_t)d;
    return 0;
  }
  if (!cJSON_IsString(v)) return -1;
  const char *s = v->valuestring;
  if (!*s) return 0;
  int64_t n = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return -1;
    n = n * 10 + (*s - '0');
    if (n > VALID_TIME_END_MAX) return -1;
  }
  *out = n;
  return 0;
}

static int valid_version(const char *v) {
  return !*v || (strlen(v) <= VERSION_MAX && is_dotted_numeric(v));
}

static const char *check_filters(push_req *r, const cJSON *body) {
  if (optional_string(body, "osType", &r->os_type) ||
      optional_string(body, "appMinVersion", &r->app_min) ||
      optional_string(body, "appMaxVersion", &r->app_max) ||
      parse_valid_time_end(body, &r->valid_end_ms))
    return C_ARGS_NULL;
  if (*r->os_type && (utf8_count(r->os_type) > OS_TYPE_MAX ||
                      (!str_ieq(r->os_type, "IOS") && !str_ieq(r->os_type, "ANDROID"))))
    return C_ARGS_NULL;
  if (!valid_version(r->app_min) || !valid_version(r->app_max)) return C_ARGS_NULL;
  /* An empty range matches no device: refused rather than stored for nobody. */
  if (*r->app_min && *r->app_max && version_cmp(r->app_min, r->app_max) > 0) return C_ARGS_NULL;
  return NULL;
}

/* Every check of §5.2/§5.3 in order; NULL when the request may be stored. */
static const char *check_request(mock_server *srv, push_req *r, const char *query,
                                 const cJSON *body, int global) {
  char instance[INSTANCE_MAX + 2];
  /* Ids longer than INSTANCE_MAX are refused rather than silently truncated. */
  if (!query || !query_is_clean(query) ||
      !query_get(query, "instanceId", instance, sizeof instance) || !instance[0] ||
      strlen(instance) > INSTANCE_MAX)
    return C_ARGS_NULL;
  memcpy(r->instance, instance, sizeof r->instance);
  if (!cJSON_IsObject(body)) return C_ARGS_NULL;
  const char *code = check_biz(srv, r, body, global);
  if (!code) code = check_ids(r, body, global);
  if (!code) code = check_payload(r, body);
  if (!code) code = check_filters(r, body);
  return code;
}

static int stream_kind(const biz_config *cfg) {
  if (cfg->global) return MPSYNC__WIRE__STREAM_KIND__STREAM_GLOBAL;
  return cfg->device_dim ? MPSYNC__WIRE__STREAM_KIND__STREAM_DEVICE
                         : MPSYNC__WIRE__STREAM_KIND__STREAM_USER;
}

static void fill_oplog(const push_req *r, oplog_rec *o, int64_t now) {
  memset(o, 0, sizeof *o);
  o->instance_id = r->instance;
  o->kind = stream_kind(&r->cfg);
  o->biz_type = r->cfg.biz_type;
  o->target = r->link_token;
  o->payload = r->payload ? (const uint8_t *)r->payload : r->binary;
  o->payload_len = r->payload ? strlen(r->payload) : r->binary_len;
  o->binary = r->payload == NULL;
  o->third_msg_id = r->third_msg_id;
  o->create_ms = now;
  o->valid_end_ms = r->valid_end_ms;
  o->os_type = r->os_type;
  o->app_min = r->app_min;
  o->app_max = r->app_max;
  o->assigned_device = "";
}

/* Inside the caller's transaction: claims o's thirdMsgId, gives o the stream's next id and stores
 * it (unless the biz keeps nothing). 1 duplicate, 0 done, -1 failure. */
static int add_oplog(store *st, const push_req *r, oplog_rec *o, int64_t now) {
  int dup = store_idem_claim(st, r->instance, r->cfg.biz_type, r->link_token, o->third_msg_id, now);
  if (dup != 0) return dup;
  int stored = r->cfg.persistent || r->cfg.global;
  return store_next_id(st, r->instance, o->kind, o->biz_type, o->target, &o->id, &o->epoch) ||
                 (stored && store_oplog_insert(st, o))
             ? -1
             : 0;
}

/* Stores the oplog in one transaction. 1 duplicate, 0 stored, -1 failure. */
static int commit_oplog(mock_server *srv, const push_req *r, oplog_rec *o, int64_t now) {
  store *st = srv->st;
  if (store_begin(st)) return -1;
  int added = add_oplog(st, r, o, now);
  if (added != 0) {
    store_rollback(st);
    return added;
  }
  char detail[512];
  snprintf(detail, sizeof detail, "bizType=%s linkToken=%.100s thirdMsgId=%.100s",
           r->cfg.biz_type, r->link_token, r->third_msg_id);
  if (store_stats_add(st, r->instance, o->kind, o->target, 1, 0, now) ||
      store_record_add(st, r->instance, "api", "new sync", detail, now) || store_commit(st)) {
    store_rollback(st);
    return -1;
  }
  return 0;
}

static const char *accept_push(mock_server *srv, const push_req *r) {
  int64_t now = wall_ms();
  oplog_rec o;
  fill_oplog(r, &o, now);
  int online = !r->cfg.global && link_count_online(srv, r->instance, o.kind, o.target) > 0;
  /* Single-device: the oplog belongs to the user's latest device from the start. */
  char device[160] = "";
  int single = o.kind == MPSYNC__WIRE__STREAM_KIND__STREAM_USER && !r->cfg.multi_device;
  if (single && online && link_pick_single(srv, &o, device, sizeof device))
    o.assigned_device = device;
  int rc = commit_oplog(srv, r, &o, now);
  if (rc < 0) return C_SYSTEM;
  if (rc > 0) return C_DUPLICATED;
  if (r->cfg.global) return C_SUCCESS; /* global data waits for PullGlobal (§5.3) */
  if (!online) return C_NOT_ONLINE;
  if (!single || device[0]) link_push_live(srv, &o, single ? device : NULL);
  return C_SUCCESS;
}

/* The next chunk of a bulk push, in one transaction; live pushes follow its commit. */
static const char *bulk_chunk(mock_server *srv, push_req *r, const char *prefix, int64_t from,
                              int64_t to, int64_t *stored, int64_t *duplicated) {
  store *st = srv->st;
  int64_t now = wall_ms();
  oplog_rec o;
  fill_oplog(r, &o, now);
  int online = link_count_online(srv, r->instance, o.kind, o.target) > 0;
  char device[160] = "";
  int single = o.kind == MPSYNC__WIRE__STREAM_KIND__STREAM_USER && !r->cfg.multi_device;
  if (single && online && link_pick_single(srv, &o, device, sizeof device))
    o.assigned_device = device;
  struct sent {
    uint64_t id;
    int64_t index;
  } *live = online ? calloc((size_t)(to - from), sizeof *live) : NULL;
  if (online && !live) return C_SYSTEM;
  int64_t n = 0, dup = 0;
  const char *code = store_begin(st) ? C_SYSTEM : NULL;
  char third[THIRD_MSG_ID_MAX * 4 + 32];
  for (int64_t i = from; !code && i < to; i++) {
    snprintf(third, sizeof third, "%s-%lld", prefix, (long long)i + 1);
    o.third_msg_id = third;
    int added = add_oplog(st, r, &o, now);
    if (added > 0) {
      dup++;
      continue;
    }
    if (added < 0)
      code = C_SYSTEM;
    else if (live)
      live[n] = (struct sent){o.id, i + 1};
    n++;
  }
  char detail[512];
  snprintf(detail, sizeof detail, "bizType=%s linkToken=%.100s thirdMsgId=%.100s-%lld..%lld",
           r->cfg.biz_type, r->link_token, prefix, (long long)from + 1, (long long)to);
  if (code || store_stats_add(st, r->instance, o.kind, o.target, n, 0, now) ||
      store_record_add(st, r->instance, "api", "new bulk sync", detail, now) || store_commit(st)) {
    store_rollback(st);
    free(live);
    return C_SYSTEM;
  }
  *stored += n;
  *duplicated += dup;
  /* Live, as a single push would be, once the chunk is durable. */
  for (int64_t i = 0; live && (!single || device[0]) && i < n; i++) {
    snprintf(third, sizeof third, "%s-%lld", prefix, (long long)live[i].index);
    o.id = live[i].id;
    o.third_msg_id = third;
    link_push_live(srv, &o, single ? device : NULL);
  }
  free(live);
  return NULL;
}

const char *push_api_bulk(mock_server *srv, const char *query, const char *body, size_t len,
                          int64_t *stored, int64_t *duplicated) {
  *stored = *duplicated = 0;
  push_req r;
  memset(&r, 0, sizeof r);
  const char *code = NULL;
  cJSON *json = parse_body(body, len, &code);
  if (!code) code = check_request(srv, &r, query, json, 0);
  const cJSON *count = cJSON_GetObjectItemCaseSensitive(json, "count");
  int64_t n = cJSON_IsNumber(count) ? (int64_t)count->valuedouble : 0;
  if (!code && (!cJSON_IsNumber(count) || (double)n != count->valuedouble || n < 1 || n > BULK_MAX))
    code = C_ARGS_NULL;
  /* Every generated id must pass the single push's length check. */
  if (!code && utf8_count(r.third_msg_id) + 1 + (size_t)snprintf(NULL, 0, "%lld", (long long)n) >
                   THIRD_MSG_ID_MAX)
    code = C_THIRD_LONG;
  for (int64_t from = 0; !code && from < n; from += BULK_CHUNK)
    code = bulk_chunk(srv, &r, r.third_msg_id, from, from + BULK_CHUNK < n ? from + BULK_CHUNK : n,
                      stored, duplicated);
  free(r.binary);
  cJSON_Delete(json);
  return code ? code : C_SUCCESS;
}

const char *push_api_handle(mock_server *srv, int global, const char *query, const char *body,
                            size_t len) {
  push_req r;
  memset(&r, 0, sizeof r);
  const char *code = NULL;
  cJSON *json = parse_body(body, len, &code);
  if (!code) code = check_request(srv, &r, query, json, global);
  if (!code) code = accept_push(srv, &r);
  free(r.binary);
  cJSON_Delete(json);
  return code;
}
