/* libFuzzer target: the mock server's HTTP request handlers — the push API (§5.2 single, §5.3
 * global: query string + JSON body) and the admin JSON API — on a real store, without sockets. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <cjson/cJSON.h>
#include <http_parser.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "signature.h"
#include "validator.h"
#include "fuzz_common.h"
#include "http.h"
#include "push_api.h"
#include "server.h"
#include "store.h"

/* main.c is not linked in: the two functions of it that the handlers use. */
void server_stop(mock_server *srv) { srv->stopping = 1; }
int64_t server_retention_ms(const mock_server *srv) {
  return (int64_t)srv->opts.retention_days * 86400000LL;
}

static mock_server srv;
static uv_loop_t loop;
static char dir[256];

/* One config of every kind the push API distinguishes; the instance is "ws_app" or any. */
static void put_configs(void) {
  static const struct { const char *biz; int global, device, multi, persistent, online; } cfgs[] = {
      {"UCHAT", 0, 0, 1, 1, 1},   {"SINGLE", 0, 0, 0, 1, 1}, {"DEV", 0, 1, 1, 1, 1},
      {"VOLATILE", 0, 0, 1, 0, 1}, {"GLOBAL", 1, 0, 1, 1, 1}, {"OFF", 0, 0, 1, 1, 0},
  };
  for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
    biz_config c;
    biz_defaults(&c);
    snprintf(c.biz_type, sizeof c.biz_type, "%s", cfgs[i].biz);
    c.global = cfgs[i].global;
    c.device_dim = cfgs[i].device;
    c.multi_device = cfgs[i].multi;
    c.persistent = cfgs[i].persistent;
    c.online = cfgs[i].online;
    FUZZ_CHECK(store_biz_put(srv.st, &c) == 0);
  }
}

/* Every input starts from the same state: all rows gone, the configs put back. */
static void reset_store(void) {
  sqlite3 *db = store_db(srv.st);
  sqlite3_stmt *q;
  char names[32][64];
  int n = 0;
  FUZZ_CHECK(sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type='table' AND name"
                                    " NOT LIKE 'sqlite_%'", -1, &q, NULL) == SQLITE_OK);
  while (sqlite3_step(q) == SQLITE_ROW && n < 32)
    snprintf(names[n++], sizeof names[0], "%s", (const char *)sqlite3_column_text(q, 0));
  sqlite3_finalize(q);
  FUZZ_CHECK(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK);
  for (int i = 0; i < n; i++) {
    char sql[128];
    snprintf(sql, sizeof sql, "DELETE FROM \"%s\"", names[i]);
    FUZZ_CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
  }
  put_configs();
  FUZZ_CHECK(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
}

static void cleanup(void) {
  signature_free(&srv);
  validator_free(&srv);
  store_close(srv.st);
  char path[512];
  static const char *files[] = {"mock-server.db", "mock-server.db-wal", "mock-server.db-shm",
                                "signature.json", "signature.json.tmp", "validators.json",
                                "validators.json.tmp"};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, files[i]);
    unlink(path);
  }
  rmdir(dir);
}

#define FUZZ_ADMIN_TOKEN "fuzz-admin-token-0123456789"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/mpsync-fuzz-http-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  FUZZ_CHECK(mkdtemp(dir));
  char err[512];
  FUZZ_CHECK(uv_loop_init(&loop) == 0);
  srv.loop = &loop;
  srv.opts.retention_days = 30;
  snprintf(srv.server_id, sizeof srv.server_id, "fuzz");
  /* The handlers behind the token are the target, so every request below carries it. */
  snprintf(srv.admin_token, sizeof srv.admin_token, "%s", FUZZ_ADMIN_TOKEN);
  if (store_open(&srv.st, dir, err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    abort();
  }
  srv.opts.data_dir = dir; /* POST /admin/signature keeps its state there */
  FUZZ_CHECK(signature_init(&srv) == 0);
  FUZZ_CHECK(validator_init(&srv) == 0); /* POST /admin/validator; no Hello here calls it */
  /* Durability is not under test here; speed is. */
  sqlite3_exec(store_db(srv.st), "PRAGMA synchronous=OFF", NULL, NULL, NULL);
  atexit(cleanup);
  reset_store();
  return 0;
}

static int known_code(const char *c) {
  static const char *codes[] = {"SUCCESS", "DUPLICATED_BIZ_ID", "NOT_ONLINE", "THIRDMSGID_IS_NULL",
                                "BIZ_NOT_ONLINE", "ARGS_IS_NULL", "NOT_SUPPORT_GLOBAL",
                                "PAYLOAD_LONG", "THIRD_MSG_ID_LONG", "SYSTEM_ERROR"};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
    if (!strcmp(c, codes[i])) return 1;
  return 0;
}

/* Input: byte 0 picks the handler (bit 0: global push; bit 1: admin, bits 2-3: its method), then
 * the request line text (push: the query string; admin: path after /admin/ and ?query), a
 * newline, and the body. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!size) return 0;
  uint8_t sel = data[0];
  data++;
  size--;
  const uint8_t *nl = memchr(data, '\n', size);
  size_t line_len = nl ? (size_t)(nl - data) : size;
  const uint8_t *body = nl ? nl + 1 : data + size;
  size_t body_len = nl ? size - line_len - 1 : 0;
  if (line_len > 8192) return 0; /* http.c answers 414 before any handler runs */
  /* http.c hands the handlers NUL-terminated copies; so do we (and nothing past them). */
  char *line = malloc(line_len + 1);
  char *b = malloc(body_len + 1);
  FUZZ_CHECK(line && b);
  memcpy(line, data, line_len);
  line[line_len] = '\0';
  memcpy(b, body, body_len);
  b[body_len] = '\0';
  if (!(sel & 2)) {
    const char *code = push_api_handle(&srv, sel & 1, line, b, body_len);
    FUZZ_CHECK(code && known_code(code));
  } else {
    static const int methods[] = {HTTP_GET, HTTP_POST, HTTP_PUT, HTTP_DELETE};
    char *q = strchr(line, '?');
    if (q) *q++ = '\0';
    char path[8300];
    snprintf(path, sizeof path, "/admin/%s", line);
    http_request req = {.method = methods[(sel >> 2) & 3], .path = path, .query = q ? q : "",
                        .body = b, .body_len = body_len,
                        .authorization = "Bearer " FUZZ_ADMIN_TOKEN};
    http_response resp = {0};
    if (admin_handle(&srv, &req, &resp)) {
      /* Every answer is a JSON object with a status the front knows. */
      FUZZ_CHECK(resp.body);
      cJSON *j = cJSON_Parse(resp.body);
      FUZZ_CHECK(cJSON_IsObject(j));
      cJSON_Delete(j);
      FUZZ_CHECK(resp.status >= 200 && resp.status < 600);
    }
    free(resp.body);
  }
  free(line);
  free(b);
  reset_store();
  return 0;
}
