/* Admin JSON API (§6): biz configs CRUD, online/offline, status, records, and test hooks (links,
 * stream resets, retention). */
/* SPDX-License-Identifier: Apache-2.0 */
#include "admin.h"

#include <cjson/cJSON.h>
#include <http_parser.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link.h"
#include "push_api.h"
#include "signature.h"
#include "validator.h"
#include "token.h"
#include "mpsync.pb-c.h"
#include "util.h"

#define DAY_MS 86400000LL
#define RECORDS_MAX 1000
#define PUSH_LIST_MAX 100
#define PREVIEW_MAX 200 /* bytes of each payload in the push list */

/* Answers {"success":true, key: data}; takes ownership of data. */
static void respond_data(http_response *resp, const char *key, cJSON *data) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddBoolToObject(o, "success", 1);
  cJSON_AddStringToObject(o, "msg", "SUCCESS");
  if (data) cJSON_AddItemToObject(o, key, data);
  free(resp->body);
  resp->body = cJSON_PrintUnformatted(o);
  resp->status = 200;
  cJSON_Delete(o);
}

static void respond_error(http_response *resp, int status, const char *msg) {
  http_respond_code(resp, status, 0, msg);
}

static void query_or(const char *query, const char *key, char *out, size_t n, const char *dflt) {
  if (!query_get(query, key, out, n)) snprintf(out, n, "%s", dflt);
}

/* A config change's record carries the whole config before and after it (either may be NULL), as
 * JSON text, so the console can show what changed (guide §6.9: a modification is shown with the
 * changed fields marked). */
static void record(mock_server *srv, const char *query, const char *instance, const char *action,
                   const char *biz, const biz_config *before, const biz_config *after) {
  char op[128];
  query_or(query, "operator", op, sizeof op, "admin");
  cJSON *d = cJSON_CreateObject();
  cJSON_AddStringToObject(d, "bizType", biz);
  cJSON_AddItemToObject(d, "before", before ? biz_to_json(before) : cJSON_CreateNull());
  cJSON_AddItemToObject(d, "after", after ? biz_to_json(after) : cJSON_CreateNull());
  char *text = cJSON_PrintUnformatted(d);
  cJSON_Delete(d);
  store_record_add(srv->st, instance, op, action, text ? text : biz, wall_ms());
  cJSON_free(text);
}

/* The fields that only mean something beside another one (guide §6.2): refused rather than stored
 * as a setting that silently does nothing. NULL when c is consistent. */
static const char *dependent_fields_error(const biz_config *c) {
  if (c->device_dim && !c->multi_device) return "MULTI_DEVICE_NEEDS_USER_DIMENSION";
  if (c->device_dim && c->user_consistency) return "USER_CONSISTENCY_NEEDS_USER_DIMENSION";
  if (!c->persistent && (c->threshold_mode || c->threshold > 0))
    return "THRESHOLD_NEEDS_PERSISTENCE";
  return NULL;
}

/* ---- biz configs ---- */

/* A config body, strict as the push API's (util.h json_strict_object): cJSON alone would cut a
 * "bizType" at \u0000 or keep the first of two "online" keys. NULL with err set when refused. */
static cJSON *parse_strict(const http_request *req, char *err, size_t n) {
  const char *why = json_strict_object(req->body, req->body_len);
  cJSON *body = why ? NULL : cJSON_ParseWithLength(req->body, req->body_len);
  if (!body) snprintf(err, n, "invalid JSON body: %s", why ? why : "out of memory");
  return body;
}

static int add_to_array(void *ud, const biz_config *c) {
  cJSON_AddItemToArray(ud, biz_to_json(c));
  return 0;
}

static void biz_list(mock_server *srv, const char *query, http_response *resp) {
  char inst[INSTANCE_MAX + 1];
  int has = query_get(query, "instanceId", inst, sizeof inst) && inst[0];
  cJSON *arr = cJSON_CreateArray();
  if (store_biz_foreach(srv->st, has ? inst : NULL, add_to_array, arr)) {
    cJSON_Delete(arr);
    respond_error(resp, 500, "SYSTEM_ERROR");
    return;
  }
  respond_data(resp, "data", arr);
}

static void biz_create(mock_server *srv, const http_request *req, http_response *resp) {
  biz_config c;
  biz_defaults(&c);
  query_get(req->query, "instanceId", c.instance_id, sizeof c.instance_id);
  char err[256];
  cJSON *body = parse_strict(req, err, sizeof err);
  int bad = !body || !cJSON_GetObjectItemCaseSensitive(body, "bizType") ||
            biz_apply_json(&c, body, 1, err, sizeof err);
  if (bad && body && !cJSON_GetObjectItemCaseSensitive(body, "bizType"))
    snprintf(err, sizeof err, "\"bizType\" is required");
  cJSON_Delete(body);
  if (!bad && dependent_fields_error(&c)) {
    snprintf(err, sizeof err, "%s", dependent_fields_error(&c));
    bad = 1;
  }
  if (bad) {
    respond_error(resp, 400, err);
    return;
  }
  biz_config old;
  int exists = store_biz_get(srv->st, c.instance_id, c.biz_type, &old);
  if (exists != 0) {
    respond_error(resp, exists > 0 ? 409 : 500, exists > 0 ? "BIZ_EXISTS" : "SYSTEM_ERROR");
    return;
  }
  if (store_biz_put(srv->st, &c)) {
    respond_error(resp, 500, "SYSTEM_ERROR");
    return;
  }
  record(srv, req->query, c.instance_id, "create config", c.biz_type, NULL, &c);
  respond_data(resp, "data", biz_to_json(&c));
}

/* Loads the exact row named by the path and ?instanceId= ("" = the every-instance row). */
static int load_row(mock_server *srv, const char *query, const char *biz, biz_config *c,
                    http_response *resp) {
  char inst[INSTANCE_MAX + 1] = "";
  query_get(query, "instanceId", inst, sizeof inst);
  int rc = store_biz_get(srv->st, inst, biz, c);
  if (rc <= 0) respond_error(resp, rc < 0 ? 500 : 404, rc < 0 ? "SYSTEM_ERROR" : "BIZ_NOT_FOUND");
  return rc;
}

static void biz_get(mock_server *srv, const char *query, const char *biz, http_response *resp) {
  char inst[INSTANCE_MAX + 1] = "";
  biz_config c;
  query_get(query, "instanceId", inst, sizeof inst);
  /* With an instance: the config in force there, its own or the every-instance one. */
  int rc = inst[0] ? store_biz_find(srv->st, inst, biz, &c) : store_biz_get(srv->st, "", biz, &c);
  if (rc <= 0) {
    respond_error(resp, rc < 0 ? 500 : 404, rc < 0 ? "SYSTEM_ERROR" : "BIZ_NOT_FOUND");
    return;
  }
  respond_data(resp, "data", biz_to_json(&c));
}

static void biz_modify(mock_server *srv, const http_request *req, const char *biz,
                       http_response *resp) {
  biz_config c;
  if (load_row(srv, req->query, biz, &c, resp) <= 0) return;
  biz_config before = c;
  char err[256];
  cJSON *body = parse_strict(req, err, sizeof err);
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(body, "bizType");
  int bad = !body || biz_apply_json(&c, body, 0, err, sizeof err);
  if (!bad && name && strcmp(c.biz_type, biz) != 0) {
    snprintf(err, sizeof err, "\"bizType\" cannot be changed");
    bad = 1;
  }
  cJSON_Delete(body);
  if (!bad && dependent_fields_error(&c)) {
    snprintf(err, sizeof err, "%s", dependent_fields_error(&c));
    bad = 1;
  }
  if (bad) {
    respond_error(resp, 400, err);
    return;
  }
  if (store_biz_put(srv->st, &c)) {
    respond_error(resp, 500, "SYSTEM_ERROR");
    return;
  }
  record(srv, req->query, c.instance_id, "modify config", c.biz_type, &before, &c);
  respond_data(resp, "data", biz_to_json(&c));
}

static void biz_delete(mock_server *srv, const char *query, const char *biz,
                       http_response *resp) {
  biz_config c;
  if (load_row(srv, query, biz, &c, resp) <= 0) return;
  if (store_biz_delete(srv->st, c.instance_id, biz) < 0) {
    respond_error(resp, 500, "SYSTEM_ERROR");
    return;
  }
  record(srv, query, c.instance_id, "delete config", biz, &c, NULL);
  respond_data(resp, "data", NULL);
}

static void biz_set_online(mock_server *srv, const char *query, const char *biz, int online,
                           http_response *resp) {
  biz_config c;
  if (load_row(srv, query, biz, &c, resp) <= 0) return;
  biz_config before = c;
  c.online = online;
  if (store_biz_put(srv->st, &c)) {
    respond_error(resp, 500, "SYSTEM_ERROR");
    return;
  }
  record(srv, query, c.instance_id, online ? "online" : "offline", biz, &before, &c);
  respond_data(resp, "data", biz_to_json(&c));
}

/* /admin/biz/{bizType}[/online|/offline] */
static void route_biz_item(mock_server *srv, const http_request *req, const char *rest,
                           http_response *resp) {
  char biz[128];
  const char *slash = strchr(rest, '/');
  size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
  if (n == 0 || n >= sizeof biz) {
    respond_error(resp, 404, "NOT_FOUND");
    return;
  }
  memcpy(biz, rest, n);
  biz[n] = '\0';
  url_decode(biz);
  if (slash) {
    int on = strcmp(slash, "/online") == 0, off = strcmp(slash, "/offline") == 0;
    if (!on && !off) respond_error(resp, 404, "NOT_FOUND");
    else if (req->method != HTTP_POST) respond_error(resp, 405, "METHOD_NOT_ALLOWED");
    else biz_set_online(srv, req->query, biz, on, resp);
    return;
  }
  switch (req->method) {
    case HTTP_GET: biz_get(srv, req->query, biz, resp); break;
    case HTTP_PUT: biz_modify(srv, req, biz, resp); break;
    case HTTP_DELETE: biz_delete(srv, req->query, biz, resp); break;
    default: respond_error(resp, 405, "METHOD_NOT_ALLOWED"); resp->allow = "GET, PUT, DELETE";
  }
}

/* ---- status and records ---- */

/* The length of the longest prefix of s (n bytes) that does not end inside a UTF-8 sequence:
 * a preview cut at a byte count must not turn a text payload into invalid text. */
static size_t utf8_cut(const unsigned char *s, size_t n) {
  size_t lead = n;
  while (lead > 0 && n - lead < 4 && (s[lead - 1] & 0xC0) == 0x80) lead--;
  if (lead == 0 || s[lead - 1] < 0xC0) return n; /* ASCII last, or no lead byte: as it is */
  unsigned char b = s[lead - 1];
  size_t want = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
  return n - (lead - 1) >= want ? n : lead - 1;
}

/* Each oplog's state for the console (guide §6.7): "acknowledged" once a device's acked point
 * covers it (acknowledgedBy names them), else "sent" while a device of the target is online (the
 * server pushes every stored oplog to a ready connection), else "stored". */
static cJSON *push_list(mock_server *srv, const char *inst, int kind, const char *target,
                        int64_t since) {
  cJSON *arr = cJSON_CreateArray();
  sqlite3_stmt *q = NULL;
  if (sqlite3_prepare_v2(store_db(srv->st),
                         "SELECT o.biz_type, o.id, o.third_msg_id, o.create_ms, o.binary,"
                         " substr(o.payload, 1, ?6),"
                         " (SELECT json_group_array(a.device_id) FROM acked a"
                         "  WHERE a.instance_id=o.instance_id AND a.kind=o.kind"
                         "  AND a.biz_type=o.biz_type AND a.target=o.target AND a.point>=o.id)"
                         " FROM oplogs o WHERE o.instance_id=?1 AND o.kind=?2 AND o.target=?3"
                         " AND o.create_ms>=?4 ORDER BY o.create_ms DESC, o.id DESC LIMIT ?5",
                         -1, &q, NULL) != SQLITE_OK)
    return arr;
  sqlite3_bind_text(q, 1, inst, -1, SQLITE_STATIC);
  sqlite3_bind_int(q, 2, kind);
  sqlite3_bind_text(q, 3, target, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 4, since);
  sqlite3_bind_int(q, 5, PUSH_LIST_MAX);
  sqlite3_bind_int(q, 6, PREVIEW_MAX);
  int online = link_count_online(srv, inst, kind, target) > 0;
  while (sqlite3_step(q) == SQLITE_ROW) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "bizType", (const char *)sqlite3_column_text(q, 0));
    cJSON_AddNumberToObject(o, "id", (double)sqlite3_column_int64(q, 1));
    cJSON_AddStringToObject(o, "thirdMsgId", (const char *)sqlite3_column_text(q, 2));
    cJSON_AddNumberToObject(o, "createTime", (double)sqlite3_column_int64(q, 3));
    /* A preview only, cut at a character; binary payloads have none. */
    char text[PREVIEW_MAX + 1];
    const unsigned char *raw = sqlite3_column_blob(q, 5);
    size_t len = raw ? utf8_cut(raw, (size_t)sqlite3_column_bytes(q, 5)) : 0;
    if (len) memcpy(text, raw, len);
    text[len] = '\0';
    int binary = sqlite3_column_int(q, 4) || utf8_count(text) == (size_t)-1 || strlen(text) != len;
    cJSON_AddStringToObject(o, "payload", binary ? "" : text);
    cJSON_AddBoolToObject(o, "binary", binary);
    const char *acked = (const char *)sqlite3_column_text(q, 6);
    cJSON *by = acked ? cJSON_Parse(acked) : NULL;
    if (!by) by = cJSON_CreateArray();
    cJSON_AddStringToObject(o, "state", cJSON_GetArraySize(by) > 0 ? "acknowledged"
                                        : online                   ? "sent"
                                                                   : "stored");
    cJSON_AddItemToObject(o, "acknowledgedBy", by);
    cJSON_AddItemToArray(arr, o);
  }
  sqlite3_finalize(q);
  return arr;
}

static void status(mock_server *srv, const char *query, http_response *resp) {
  char inst[INSTANCE_MAX + 1] = "", target[256] = "";
  int kind = MPSYNC__WIRE__STREAM_KIND__STREAM_USER;
  query_get(query, "instanceId", inst, sizeof inst);
  if (!query_get(query, "userId", target, sizeof target) || !target[0]) {
    kind = MPSYNC__WIRE__STREAM_KIND__STREAM_DEVICE;
    query_get(query, "deviceId", target, sizeof target);
  }
  if (!inst[0] || !target[0]) {
    respond_error(resp, 400, "ARGS_IS_NULL");
    return;
  }
  int64_t since = wall_ms() - 30 * DAY_MS, pushes = 0, arrivals = 0;
  if (store_stats_get(srv->st, inst, kind, target, since, &pushes, &arrivals)) {
    respond_error(resp, 500, "SYSTEM_ERROR");
    return;
  }
  int conns = link_count_online(srv, inst, kind, target);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddBoolToObject(o, "online", conns > 0);
  cJSON_AddNumberToObject(o, "connections", conns);
  cJSON_AddNumberToObject(o, "pushes", (double)pushes);
  cJSON_AddNumberToObject(o, "arrivals", (double)arrivals);
  cJSON_AddItemToObject(o, "pushList", push_list(srv, inst, kind, target, since));
  respond_data(resp, "data", o);
}

static int64_t query_int(const char *query, const char *key, int64_t dflt) {
  char v[32];
  if (!query_get(query, key, v, sizeof v) || !v[0]) return dflt;
  return strtoll(v, NULL, 10);
}

/* Operation records, newest first: filters operator, action, instanceId, from/to (epoch ms). */
static void records(mock_server *srv, const char *query, http_response *resp) {
  char op[128] = "", action[64] = "", inst[INSTANCE_MAX + 1] = "";
  query_get(query, "operator", op, sizeof op);
  query_get(query, "action", action, sizeof action);
  query_get(query, "instanceId", inst, sizeof inst);
  int64_t now = wall_ms();
  int64_t from = query_int(query, "from", now - 7 * DAY_MS), to = query_int(query, "to", now);
  sqlite3_stmt *q = NULL;
  if (sqlite3_prepare_v2(store_db(srv->st),
                         "SELECT time_ms, instance_id, operator, action, detail FROM records"
                         " WHERE (?1='' OR operator=?1) AND (?2='' OR action=?2)"
                         " AND (?3='' OR instance_id=?3) AND time_ms BETWEEN ?4 AND ?5"
                         " ORDER BY seq DESC LIMIT ?6",
                         -1, &q, NULL) != SQLITE_OK) {
    respond_error(resp, 500, "SYSTEM_ERROR");
    return;
  }
  sqlite3_bind_text(q, 1, op, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, action, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 3, inst, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 4, from);
  sqlite3_bind_int64(q, 5, to);
  sqlite3_bind_int(q, 6, RECORDS_MAX);
  cJSON *arr = cJSON_CreateArray();
  while (sqlite3_step(q) == SQLITE_ROW) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "time", (double)sqlite3_column_int64(q, 0));
    cJSON_AddStringToObject(o, "instanceId", (const char *)sqlite3_column_text(q, 1));
    cJSON_AddStringToObject(o, "operator", (const char *)sqlite3_column_text(q, 2));
    cJSON_AddStringToObject(o, "action", (const char *)sqlite3_column_text(q, 3));
    cJSON_AddStringToObject(o, "detail", (const char *)sqlite3_column_text(q, 4));
    cJSON_AddItemToArray(arr, o);
  }
  sqlite3_finalize(q);
  respond_data(resp, "data", arr);
}

/* GET /admin/stats?instanceId=[&days=30]: pushes and arrivals of every stream kind, global and
 * non-persistent ones included (the per-target view above cannot show a global stream). */
static void stats(mock_server *srv, const char *query, http_response *resp) {
  char inst[INSTANCE_MAX + 1] = "";
  query_get(query, "instanceId", inst, sizeof inst);
  int64_t days = query_int(query, "days", 30);
  if (!inst[0] || days < 1 || days > 36500) {
    respond_error(resp, 400, "ARGS_IS_NULL");
    return;
  }
  sqlite3_stmt *q = NULL;
  if (sqlite3_prepare_v2(store_db(srv->st),
                         "SELECT kind, SUM(pushes), SUM(arrivals), COUNT(DISTINCT target)"
                         " FROM stats WHERE instance_id=? AND day>=? GROUP BY kind",
                         -1, &q, NULL) != SQLITE_OK) {
    respond_error(resp, 500, "SYSTEM_ERROR");
    return;
  }
  sqlite3_bind_text(q, 1, inst, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 2, (wall_ms() - days * DAY_MS) / DAY_MS);
  static const char *const names[] = {"user", "device", "global"};
  static const int kinds[] = {MPSYNC__WIRE__STREAM_KIND__STREAM_USER,
                              MPSYNC__WIRE__STREAM_KIND__STREAM_DEVICE,
                              MPSYNC__WIRE__STREAM_KIND__STREAM_GLOBAL};
  int64_t got[3][3] = {{0}}, total_p = 0, total_a = 0;
  while (sqlite3_step(q) == SQLITE_ROW)
    for (int k = 0; k < 3; k++)
      if (sqlite3_column_int(q, 0) == kinds[k])
        for (int c = 0; c < 3; c++) got[k][c] = sqlite3_column_int64(q, c + 1);
  sqlite3_finalize(q);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "days", (double)days);
  for (int k = 0; k < 3; k++) {
    cJSON *e = cJSON_AddObjectToObject(o, names[k]);
    cJSON_AddNumberToObject(e, "pushes", (double)got[k][0]);
    cJSON_AddNumberToObject(e, "arrivals", (double)got[k][1]);
    cJSON_AddNumberToObject(e, "targets", (double)got[k][2]);
    total_p += got[k][0];
    total_a += got[k][1];
  }
  cJSON_AddNumberToObject(o, "pushes", (double)total_p);
  cJSON_AddNumberToObject(o, "arrivals", (double)total_a);
  respond_data(resp, "data", o);
}

typedef struct live_ctx {
  mock_server *srv;
  cJSON *arr;
  sqlite3_stmt *depth;
} live_ctx;

/* One ready connection and its queues: per stream of its user and device, the stored oplogs
 * its device has not acknowledged. */
static void add_live(void *ud, const char *instance, const char *device, const char *user,
                     const char *os_type, const char *app_version) {
  live_ctx *l = ud;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "instanceId", instance);
  cJSON_AddStringToObject(o, "deviceId", device);
  cJSON_AddStringToObject(o, "userId", user);
  cJSON_AddStringToObject(o, "osType", os_type);
  cJSON_AddStringToObject(o, "appVersion", app_version);
  cJSON *queues = cJSON_AddArrayToObject(o, "queues");
  int64_t total = 0;
  if (l->depth) {
    sqlite3_reset(l->depth);
    sqlite3_bind_text(l->depth, 1, instance, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(l->depth, 2, user, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(l->depth, 3, device, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(l->depth, 4, MPSYNC__WIRE__STREAM_KIND__STREAM_USER);
    sqlite3_bind_int(l->depth, 5, MPSYNC__WIRE__STREAM_KIND__STREAM_DEVICE);
    while (sqlite3_step(l->depth) == SQLITE_ROW) {
      cJSON *q = cJSON_CreateObject();
      int kind = sqlite3_column_int(l->depth, 1);
      cJSON_AddStringToObject(q, "bizType", (const char *)sqlite3_column_text(l->depth, 0));
      cJSON_AddStringToObject(q, "dimension",
                              kind == MPSYNC__WIRE__STREAM_KIND__STREAM_USER ? "user" : "device");
      cJSON_AddNumberToObject(q, "depth", (double)sqlite3_column_int64(l->depth, 2));
      total += sqlite3_column_int64(l->depth, 2);
      cJSON_AddItemToArray(queues, q);
    }
  }
  cJSON_AddNumberToObject(o, "queueDepth", (double)total);
  cJSON_AddItemToArray(l->arr, o);
}

/* GET /admin/live[?instanceId=]: the ready connections now, each with its unacknowledged
 * queue depths; the console polls it. */
static void live(mock_server *srv, const char *query, http_response *resp) {
  char inst[INSTANCE_MAX + 1] = "";
  query_get(query, "instanceId", inst, sizeof inst);
  live_ctx l = {srv, cJSON_CreateArray(), NULL};
  if (sqlite3_prepare_v2(store_db(srv->st),
                         "SELECT o.biz_type, o.kind, COUNT(*) FROM oplogs o"
                         " WHERE o.instance_id=?1 AND ((o.kind=?4 AND o.target=?2 AND ?2<>'')"
                         " OR (o.kind=?5 AND o.target=?3))"
                         " AND o.id > COALESCE((SELECT a.point FROM acked a"
                         "  WHERE a.instance_id=o.instance_id AND a.device_id=?3"
                         "  AND a.kind=o.kind AND a.biz_type=o.biz_type AND a.target=o.target), 0)"
                         " GROUP BY o.biz_type, o.kind ORDER BY o.biz_type",
                         -1, &l.depth, NULL) != SQLITE_OK) {
    cJSON_Delete(l.arr);
    respond_error(resp, 500, "SYSTEM_ERROR");
    return;
  }
  link_foreach_ready(srv, inst[0] ? inst : NULL, add_live, &l);
  sqlite3_finalize(l.depth);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "time", (double)wall_ms());
  cJSON_AddItemToObject(o, "links", l.arr);
  respond_data(resp, "data", o);
}

/* POST /admin/push?instanceId=[&global=1]: the console's "send data" form (guide §6.3). The
 * body and every check, code and effect are the push API's (§5.2/§5.3); what differs is who may
 * call it: the operator holding the admin token, so no tenant signature is asked for. */
static void console_push(mock_server *srv, const http_request *req, http_response *resp) {
  char global[8] = "";
  query_get(req->query, "global", global, sizeof global);
  const char *code = push_api_handle(srv, !strcmp(global, "1"), req->query, req->body,
                                     req->body_len);
  http_respond_code(resp, 200, push_code_success(code), code);
}

/* ---- test hooks: what a real deployment does to clients, on demand ---- */

static int close_code(const char *name) {
  if (!strcmp(name, "NORMAL")) return MPSYNC__WIRE__CLOSE_CODE__CLOSE_NORMAL;
  if (!strcmp(name, "SERVER_SHUTDOWN")) return MPSYNC__WIRE__CLOSE_CODE__CLOSE_SERVER_SHUTDOWN;
  if (!strcmp(name, "RETRY_LATER")) return MPSYNC__WIRE__CLOSE_CODE__CLOSE_RETRY_LATER;
  return -1;
}

/* POST /admin/links/close?instanceId=&code=&retryAfter= */
static void links_close(mock_server *srv, const char *query, http_response *resp) {
  char inst[INSTANCE_MAX + 1] = "", name[32] = "NORMAL", retry[16] = "0";
  query_get(query, "instanceId", inst, sizeof inst);
  query_get(query, "code", name, sizeof name);
  query_get(query, "retryAfter", retry, sizeof retry);
  char *end;
  unsigned long after = strtoul(retry, &end, 10);
  int code = close_code(name);
  if (code < 0 || *end || after > UINT32_MAX || retry[0] == '-') {
    respond_error(resp, 400, "ARGS_IS_NULL");
    return;
  }
  int n = link_close_instance(srv, inst[0] ? inst : NULL, code, (uint32_t)after,
                              "closed by the admin API");
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "closed", n);
  free(resp->body);
  resp->body = cJSON_PrintUnformatted(o);
  resp->status = 200;
  cJSON_Delete(o);
}

/* POST /admin/stream/reset?instanceId=&bizType=&target=: the stream starts a new epoch. */
static void stream_reset(mock_server *srv, const char *query, http_response *resp) {
  char inst[INSTANCE_MAX + 1] = "", biz[BIZ_TYPE_MAX + 1] = "", target[256] = "";
  query_get(query, "instanceId", inst, sizeof inst);
  query_get(query, "bizType", biz, sizeof biz);
  query_get(query, "target", target, sizeof target);
  biz_config cfg;
  int found = inst[0] && biz[0] ? store_biz_find(srv->st, inst, biz, &cfg) : 0;
  if (found <= 0) {
    respond_error(resp, found < 0 ? 500 : 404, found < 0 ? "SYSTEM_ERROR" : "BIZ_NOT_FOUND");
    return;
  }
  /* The biz config says which kind of stream the target names; global streams have none. */
  int kind = cfg.global       ? MPSYNC__WIRE__STREAM_KIND__STREAM_GLOBAL
             : cfg.device_dim ? MPSYNC__WIRE__STREAM_KIND__STREAM_DEVICE
                              : MPSYNC__WIRE__STREAM_KIND__STREAM_USER;
  if (cfg.global != !target[0]) {
    respond_error(resp, 400, "ARGS_IS_NULL");
    return;
  }
  uint64_t epoch;
  char detail[400];
  snprintf(detail, sizeof detail, "bizType=%s target=%s", biz, target);
  if (store_begin(srv->st) || store_stream_reset(srv->st, inst, kind, biz, target, &epoch) ||
      store_record_add(srv->st, inst, "admin", "stream reset", detail, wall_ms()) ||
      store_commit(srv->st)) {
    store_rollback(srv->st);
    respond_error(resp, 500, "SYSTEM_ERROR");
    return;
  }
  /* Clients online now learn it at once; the rest (and global streams, which are only pulled)
   * when they next name the old epoch. */
  if (!cfg.global) link_notify_reset(srv, inst, kind, biz, target, epoch);
  char text[24];
  snprintf(text, sizeof text, "%llu", (unsigned long long)epoch);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "epoch", text); /* a string: JSON numbers lose 63-bit precision */
  respond_data(resp, "data", o);
}

/* POST /admin/retention/run[?olderThanMs=N][&atMs=T]: the retention job, now. */
static void retention_run(mock_server *srv, const char *query, http_response *resp) {
  int64_t older = query_int(query, "olderThanMs", server_retention_ms(srv));
  int64_t at = query_int(query, "atMs", wall_ms());
  int64_t pruned = 0;
  /* Both are epoch-ms quantities: negative ones are refused, which also keeps at - older defined. */
  int bad = older < 0 || at < 0;
  if (bad || store_prune(srv->st, at - older, &pruned)) {
    respond_error(resp, bad ? 400 : 500, bad ? "ARGS_IS_NULL" : "SYSTEM_ERROR");
    return;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "olderThanMs", (double)older);
  cJSON_AddNumberToObject(o, "pruned", (double)pruned);
  respond_data(resp, "data", o);
}

static void push_bulk(mock_server *srv, const http_request *req, http_response *resp) {
  int64_t stored, duplicated;
  const char *code =
      push_api_bulk(srv, req->query, req->body, req->body_len, &stored, &duplicated);
  if (!push_code_success(code)) {
    http_respond_code(resp, 200, 0, code);
    return;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "stored", (double)stored);
  cJSON_AddNumberToObject(o, "duplicated", (double)duplicated);
  respond_data(resp, "data", o);
}

int admin_handle(mock_server *srv, const http_request *req, http_response *resp) {
  const char *p = req->path;
  if (strncmp(p, "/admin/", 7) != 0) return 0;
  /* Before anything else, unknown paths included: without the token nothing is read or changed. */
  if (!admin_token_authorised(srv, req->authorization)) {
    respond_error(resp, 401, "UNAUTHORIZED");
    return 1;
  }
  p += 7;
  int get = req->method == HTTP_GET;
  if (strcmp(p, "biz") == 0) {
    if (get) biz_list(srv, req->query, resp);
    else if (req->method == HTTP_POST) biz_create(srv, req, resp);
    else { respond_error(resp, 405, "METHOD_NOT_ALLOWED"); resp->allow = "GET, POST"; }
  } else if (strncmp(p, "biz/", 4) == 0) {
    route_biz_item(srv, req, p + 4, resp);
  } else if (!strcmp(p, "links/close") || !strcmp(p, "stream/reset") ||
             !strcmp(p, "retention/run") || !strcmp(p, "push/bulk")) {
    if (req->method != HTTP_POST) { respond_error(resp, 405, "METHOD_NOT_ALLOWED"); resp->allow = "POST"; }
    else if (p[0] == 'l') links_close(srv, req->query, resp);
    else if (p[0] == 's') stream_reset(srv, req->query, resp);
    else if (p[0] == 'p') push_bulk(srv, req, resp);
    else retention_run(srv, req->query, resp);
  } else if (strcmp(p, "signature") == 0) {
    signature_admin(srv, req, resp);
  } else if (strcmp(p, "validator") == 0) {
    validator_admin(srv, req, resp);
  } else if (!strcmp(p, "status") || !strcmp(p, "records") || !strcmp(p, "stats") ||
             !strcmp(p, "live")) {
    if (!get) { respond_error(resp, 405, "METHOD_NOT_ALLOWED"); resp->allow = "GET"; }
    else if (!strcmp(p, "status")) status(srv, req->query, resp);
    else if (!strcmp(p, "stats")) stats(srv, req->query, resp);
    else if (p[0] == 'l') live(srv, req->query, resp);
    else records(srv, req->query, resp);
  } else if (!strcmp(p, "push")) {
    if (req->method != HTTP_POST) { respond_error(resp, 405, "METHOD_NOT_ALLOWED"); resp->allow = "POST"; }
    else console_push(srv, req, resp);
  } else {
    return 0;
  }
  return 1;
}
