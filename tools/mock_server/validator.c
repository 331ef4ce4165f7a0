/* S9 user consistency (guide §5.4): asks the tenant's validator about a link's user and session. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "validator.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "biz.h"
#include "store.h"
#include "util.h"
#include "wire.h"

#define ANSWER_MAX (64u * 1024u)
#define URL_MAX 2048
#define ID_BYTES_MAX 400 /* 100 characters of UTF-8, the Hello's limit */

/* One check in flight: a libcurl easy handle on the shared multi handle. */
typedef struct check {
  CURL *easy;
  struct curl_slist *headers;
  mps_buf answer;
  int too_big;
  void *conn; /* NULL once forgotten */
  validator_cb cb;
  char instance[INSTANCE_MAX + 1];
  char user[ID_BYTES_MAX + 1];
  char session[ID_BYTES_MAX + 1];
  char url[URL_MAX + 1];
  struct check *next;
} check;

/* A uv_poll_t per socket libcurl asks us to watch (curl_multi_assign keeps the pointer). */
typedef struct sock_watch {
  uv_poll_t poll;
  curl_socket_t fd;
  struct validator *v;
  struct sock_watch *next;
} sock_watch;

/* A verdict the validator gave, reused until expires_ms. */
typedef struct verdict {
  char key[INSTANCE_MAX + 2 * ID_BYTES_MAX + 3]; /* instance \n user \n session */
  int valid;
  int64_t expires_ms;
  struct verdict *next;
} verdict;

/* A URL set through the admin API for one instance. */
typedef struct instance_url {
  char instance[INSTANCE_MAX + 1];
  char url[URL_MAX + 1];
  struct instance_url *next;
} instance_url;

typedef struct validator {
  mock_server *srv;
  CURLM *multi;
  uv_timer_t timer;
  check *checks;
  sock_watch *watches;
  verdict *cache;
  instance_url *urls;
  int closed;
} validator;

/* ---- configuration ---- */

static instance_url *find_url(validator *v, const char *instance) {
  for (instance_url *u = v->urls; u; u = u->next)
    if (!strcmp(u->instance, instance)) return u;
  return NULL;
}

/* The instance's own URL, else --validate-url, else "" (no validator: nothing is valid). */
static const char *url_for(validator *v, const char *instance) {
  instance_url *u = find_url(v, instance);
  if (u) return u->url;
  return v->srv->opts.validate_url ? v->srv->opts.validate_url : "";
}

/* Sets (url non-empty) or removes the instance's own URL. 0, or -1 out of memory. */
static int set_url(validator *v, const char *instance, const char *url) {
  instance_url *u = find_url(v, instance);
  if (!url[0]) {
    for (instance_url **p = &v->urls; *p; p = &(*p)->next)
      if (*p == u) {
        *p = u->next;
        free(u);
        break;
      }
    return 0;
  }
  if (!u) {
    if (!(u = calloc(1, sizeof *u))) return -1;
    snprintf(u->instance, sizeof u->instance, "%s", instance);
    u->next = v->urls;
    v->urls = u;
  }
  snprintf(u->url, sizeof u->url, "%s", url);
  return 0;
}

static int http_url(const char *s) {
  return !strncmp(s, "http://", 7) || !strncmp(s, "https://", 8);
}

/* The per-instance URLs live in <data>/validators.json ({"instanceId":"url",...}), so that a
 * restart keeps what the admin API set. */
static void urls_path(const validator *v, char *out, size_t n) {
  snprintf(out, n, "%s/validators.json", v->srv->opts.data_dir);
}

static int save_urls(const validator *v) {
  char path[4096];
  urls_path(v, path, sizeof path);
  cJSON *o = cJSON_CreateObject();
  for (const instance_url *u = v->urls; u; u = u->next)
    cJSON_AddStringToObject(o, u->instance, u->url);
  return json_save_file(path, o);
}

/* 0 (also when there is no file yet), or -1: a damaged file is not read as "no validators". */
static int load_urls(validator *v) {
  char path[4096];
  urls_path(v, path, sizeof path);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  mps_buf text = {0};
  char chunk[4096];
  size_t n;
  int rc = 0;
  while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, f)) > 0) rc = mps_buf_append(&text, chunk, n);
  fclose(f);
  cJSON *o = rc ? NULL : cJSON_ParseWithLength((const char *)text.data, text.len);
  mps_buf_free(&text);
  const cJSON *e;
  rc = cJSON_IsObject(o) ? 0 : -1;
  cJSON_ArrayForEach(e, o) {
    if (rc) break;
    rc = !cJSON_IsString(e) || !e->string[0] || strlen(e->string) > INSTANCE_MAX ||
                 strlen(e->valuestring) > URL_MAX || !http_url(e->valuestring) ||
                 set_url(v, e->string, e->valuestring)
             ? -1
             : 0;
  }
  cJSON_Delete(o);
  if (rc) fprintf(stderr, "mpsync-mock-server: %s is damaged\n", path);
  return rc;
}

/* ---- the verdict cache ---- */

static void cache_key(char *out, size_t n, const char *instance, const char *user,
                      const char *session) {
  snprintf(out, n, "%s\n%s\n%s", instance, user, session);
}

static verdict *cache_find(validator *v, const char *key, int64_t now) {
  for (verdict **p = &v->cache; *p;) {
    verdict *e = *p;
    if (e->expires_ms <= now) { /* forgotten on the way */
      *p = e->next;
      free(e);
      continue;
    }
    if (!strcmp(e->key, key)) return e;
    p = &e->next;
  }
  return NULL;
}

static void cache_clear(validator *v) {
  while (v->cache) {
    verdict *e = v->cache;
    v->cache = e->next;
    free(e);
  }
}

static void cache_put(validator *v, const char *key, int valid) {
  int64_t now = wall_ms();
  verdict *e = cache_find(v, key, now);
  if (!e) {
    if (!(e = calloc(1, sizeof *e))) return; /* no cache: the next Hello asks again */
    snprintf(e->key, sizeof e->key, "%s", key);
    e->next = v->cache;
    v->cache = e;
  }
  e->valid = valid;
  e->expires_ms = now + VALIDATOR_CACHE_TTL_MS;
}

/* ---- the answer (guide §5.4) ---- */

/* true, or "true" as a string: the guide's sample sends both forms. */
static int truthy(const cJSON *j) {
  return cJSON_IsTrue(j) || (cJSON_IsString(j) && !strcmp(j->valuestring, "true"));
}

/* 1 when the answer says this session is valid for this user, else 0 and why says what was not. */
static int read_answer(const char *text, size_t n, const char *session, char *why, size_t wn) {
  cJSON *root = cJSON_ParseWithLength(text, n);
  const cJSON *r = root, *wrapped = cJSON_GetObjectItemCaseSensitive(root, "response");
  if (cJSON_IsObject(wrapped)) r = wrapped;
  const cJSON *code = cJSON_GetObjectItemCaseSensitive(r, "resultCode");
  if (!code) code = cJSON_GetObjectItemCaseSensitive(r, "returnCode"); /* the guide's table */
  const cJSON *result = cJSON_GetObjectItemCaseSensitive(r, "result");
  cJSON *parsed = NULL; /* "result" is a JSONString in the guide's table: a string holding JSON */
  if (cJSON_IsString(result)) result = parsed = cJSON_Parse(result->valuestring);
  const cJSON *sid = cJSON_GetObjectItemCaseSensitive(result, "sid");
  const char *bad = NULL;
  if (!cJSON_IsObject(r)) bad = "not a JSON object";
  else if (!truthy(cJSON_GetObjectItemCaseSensitive(r, "success"))) bad = "success is not true";
  else if (code && (!cJSON_IsString(code) ||
                    (strcmp(code->valuestring, "OK") && strcmp(code->valuestring, "SUCCESS"))))
    bad = cJSON_IsString(code) ? code->valuestring : "resultCode is not a string";
  else if (!cJSON_IsObject(result)) bad = "no result object";
  /* A verdict about another session is no verdict about this one. */
  else if (sid && (!cJSON_IsString(sid) || strcmp(sid->valuestring, session)))
    bad = "result.sid is another session";
  else if (!truthy(cJSON_GetObjectItemCaseSensitive(result, "valid")))
    bad = "result.valid is not true";
  snprintf(why, wn, "%s", bad ? bad : ""); /* bad may point into root: copied before it goes */
  cJSON_Delete(parsed);
  cJSON_Delete(root);
  return bad == NULL;
}

/* ---- checks ---- */

static void check_free(check *k) {
  if (k->easy) curl_easy_cleanup(k->easy);
  curl_slist_free_all(k->headers);
  mps_buf_free(&k->answer);
  free(k);
}

static void check_unlink(validator *v, check *k) {
  for (check **p = &v->checks; *p; p = &(*p)->next)
    if (*p == k) {
      *p = k->next;
      return;
    }
}

static size_t on_body(char *data, size_t size, size_t n, void *ud) {
  check *k = ud;
  if (k->answer.len + n > ANSWER_MAX || mps_buf_append(&k->answer, data, n) != 0) {
    k->too_big = 1;
    return 0; /* libcurl then ends the transfer with CURLE_WRITE_ERROR */
  }
  (void)size; /* always 1 */
  return n;
}

/* Ends the transfers libcurl reports done: verdict, cache, log, callback. */
static void reap(validator *v) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(v->multi, &left))) {
    if (msg->msg != CURLMSG_DONE) continue;
    check *k = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&k);
    CURLcode res = msg->data.result;
    curl_multi_remove_handle(v->multi, k->easy);
    check_unlink(v, k);
    long status = 0;
    curl_easy_getinfo(k->easy, CURLINFO_RESPONSE_CODE, &status);
    char why[160] = "";
    int valid = 0, answered = res == CURLE_OK && status >= 200 && status < 300;
    if (answered) {
      valid = read_answer((const char *)k->answer.data, k->answer.len, k->session, why,
                          sizeof why);
      char key[sizeof ((verdict *)0)->key];
      cache_key(key, sizeof key, k->instance, k->user, k->session);
      cache_put(v, key, valid); /* an answer is cached; a failure to get one is not */
    } else if (res != CURLE_OK) {
      snprintf(why, sizeof why, "%s", k->too_big ? "answer too long" : curl_easy_strerror(res));
    } else {
      snprintf(why, sizeof why, "HTTP status %ld", status);
    }
    if (!valid)
      fprintf(stderr, "mpsync-mock-server: validator %s: user %s of %s not validated: %s%s\n",
              k->url, k->user, k->instance, why, answered ? "" : " (treated as not valid)");
    if (k->conn) k->cb(v->srv, k->conn, valid);
    check_free(k);
  }
}

/* ---- libcurl's multi-socket interface on the loop ---- */

static void on_watch_closed(uv_handle_t *h) { free(h->data); }

static void unwatch(validator *v, sock_watch *w) {
  for (sock_watch **p = &v->watches; *p; p = &(*p)->next)
    if (*p == w) {
      *p = w->next;
      break;
    }
  uv_poll_stop(&w->poll);
  uv_close((uv_handle_t *)&w->poll, on_watch_closed);
}

static void on_poll(uv_poll_t *p, int status, int events) {
  sock_watch *w = p->data;
  validator *v = w->v;
  int flags = status < 0 ? CURL_CSELECT_ERR : 0, running;
  if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  curl_multi_socket_action(v->multi, w->fd, flags, &running);
  reap(v);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *ud, void *socketp) {
  (void)easy;
  validator *v = ud;
  sock_watch *w = socketp;
  if (what == CURL_POLL_REMOVE) {
    if (w) unwatch(v, w);
    curl_multi_assign(v->multi, fd, NULL);
    return 0;
  }
  if (!w) {
    if (!(w = calloc(1, sizeof *w))) return -1;
    if (uv_poll_init_socket(v->srv->loop, &w->poll, fd) != 0) {
      free(w);
      return -1;
    }
    w->fd = fd;
    w->v = v;
    w->poll.data = w;
    w->next = v->watches;
    v->watches = w;
    curl_multi_assign(v->multi, fd, w);
  }
  int events = (what & CURL_POLL_IN ? UV_READABLE : 0) | (what & CURL_POLL_OUT ? UV_WRITABLE : 0);
  return uv_poll_start(&w->poll, events, on_poll) == 0 ? 0 : -1;
}

static void on_timer(uv_timer_t *t) {
  validator *v = t->data;
  int running;
  curl_multi_socket_action(v->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  reap(v);
}

static int on_timer_change(CURLM *multi, long timeout_ms, void *ud) {
  (void)multi;
  validator *v = ud;
  if (timeout_ms < 0) uv_timer_stop(&v->timer);
  else uv_timer_start(&v->timer, on_timer, (uint64_t)timeout_ms, 0); /* 0: on the next turn */
  return 0;
}

int validator_init(mock_server *srv) {
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    fprintf(stderr, "mpsync-mock-server: libcurl did not initialise\n");
    return -1;
  }
  validator *v = calloc(1, sizeof *v);
  if (!v || !(v->multi = curl_multi_init())) {
    free(v);
    curl_global_cleanup();
    fprintf(stderr, "mpsync-mock-server: libcurl did not initialise\n");
    return -1;
  }
  v->srv = srv;
  uv_timer_init(srv->loop, &v->timer);
  v->timer.data = v;
  curl_multi_setopt(v->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(v->multi, CURLMOPT_SOCKETDATA, v);
  curl_multi_setopt(v->multi, CURLMOPT_TIMERFUNCTION, on_timer_change);
  curl_multi_setopt(v->multi, CURLMOPT_TIMERDATA, v);
  srv->validator = v;
  return load_urls(v);
}

void validator_close(mock_server *srv) {
  validator *v = srv->validator;
  if (!v || v->closed) return;
  v->closed = 1;
  while (v->checks) {
    check *k = v->checks;
    v->checks = k->next;
    curl_multi_remove_handle(v->multi, k->easy);
    check_free(k);
  }
  /* Closes what libcurl still has open (its REMOVE callbacks close their polls)... */
  curl_multi_cleanup(v->multi);
  v->multi = NULL;
  /* ...and whatever it did not announce. */
  while (v->watches) unwatch(v, v->watches);
  uv_close((uv_handle_t *)&v->timer, NULL);
}

void validator_free(mock_server *srv) {
  validator *v = srv->validator;
  if (!v) return;
  if (v->multi) curl_multi_cleanup(v->multi);
  cache_clear(v);
  while (v->urls) {
    instance_url *u = v->urls;
    v->urls = u->next;
    free(u);
  }
  free(v);
  srv->validator = NULL;
  curl_global_cleanup();
}

/* The request body (guide §5.4: operationType and its three parameters), malloc'ed. */
static char *request_body(const check *k) {
  cJSON *o = cJSON_CreateObject(), *params = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "operationType", VALIDATOR_OPERATION);
  cJSON_AddStringToObject(params, "instanceId", k->instance);
  cJSON_AddStringToObject(params, "userId", k->user);
  cJSON_AddStringToObject(params, "sessionId", k->session);
  cJSON *list = cJSON_AddArrayToObject(o, "requestData");
  cJSON_AddItemToArray(list, params);
  char *text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return text;
}

static int start(validator *v, check *k) {
  if (!(k->easy = curl_easy_init())) return -1;
  char *body = request_body(k);
  long timeout = v->srv->opts.validate_timeout_ms ? (long)v->srv->opts.validate_timeout_ms
                                                  : VALIDATOR_DEFAULT_TIMEOUT_MS;
  k->headers = curl_slist_append(NULL, "Content-Type: application/json");
  if (k->headers)
    k->headers = curl_slist_append(k->headers, "Operation-Type: " VALIDATOR_OPERATION);
  CURL *e = k->easy;
  int rc = !body || !k->headers ||
           curl_easy_setopt(e, CURLOPT_URL, k->url) != CURLE_OK ||
           curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
           curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body) != CURLE_OK ||
           curl_easy_setopt(e, CURLOPT_HTTPHEADER, k->headers) != CURLE_OK ||
           curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout) != CURLE_OK ||
           curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
           /* No connection outlives its check: shutdown then has no cached socket to close. */
           curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L) != CURLE_OK ||
           curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
           curl_easy_setopt(e, CURLOPT_WRITEDATA, k) != CURLE_OK ||
           curl_easy_setopt(e, CURLOPT_PRIVATE, k) != CURLE_OK ||
           curl_multi_add_handle(v->multi, e) != CURLM_OK;
  free(body);
  return rc ? -1 : 0;
}

int validator_check(mock_server *srv, void *conn, const char *instance, const char *user,
                    const char *session, validator_cb cb) {
  validator *v = srv->validator;
  if (!v || v->closed || !user[0] || !session[0]) return 0;
  const char *url = url_for(v, instance);
  if (!url[0]) {
    fprintf(stderr, "mpsync-mock-server: no validator for %s: user %s not validated\n", instance,
            user);
    return 0;
  }
  char key[sizeof ((verdict *)0)->key];
  cache_key(key, sizeof key, instance, user, session);
  verdict *e = cache_find(v, key, wall_ms());
  if (e) return e->valid;
  check *k = calloc(1, sizeof *k);
  if (!k) return 0;
  k->conn = conn;
  k->cb = cb;
  snprintf(k->instance, sizeof k->instance, "%s", instance);
  snprintf(k->user, sizeof k->user, "%s", user);
  snprintf(k->session, sizeof k->session, "%s", session);
  snprintf(k->url, sizeof k->url, "%s", url);
  if (start(v, k) != 0) {
    fprintf(stderr, "mpsync-mock-server: validator %s: request not started: user %s of %s not "
                    "validated\n", url, user, instance);
    if (k->easy) curl_multi_remove_handle(v->multi, k->easy);
    check_free(k);
    return 0;
  }
  k->next = v->checks;
  v->checks = k;
  return -1;
}

void validator_forget(mock_server *srv, void *conn) {
  validator *v = srv->validator;
  for (check *k = v ? v->checks : NULL; k; k = k->next)
    if (k->conn == conn) k->conn = NULL; /* the transfer ends on its own; its verdict is cached */
}

/* ---- GET/POST /admin/validator?instanceId= ---- */

static void respond_url(validator *v, const char *instance, http_response *resp) {
  instance_url *u = find_url(v, instance);
  cJSON *d = cJSON_CreateObject();
  cJSON_AddStringToObject(d, "instanceId", instance);
  cJSON_AddStringToObject(d, "url", url_for(v, instance));
  cJSON_AddStringToObject(d, "source", u                           ? "instance"
                                       : v->srv->opts.validate_url ? "global"
                                                                   : "none");
  http_respond_data(resp, d);
}

void validator_admin(mock_server *srv, const http_request *req, http_response *resp) {
  validator *v = srv->validator;
  char instance[INSTANCE_MAX + 1] = "";
  query_get(req->query, "instanceId", instance, sizeof instance);
  if (req->method != HTTP_GET && req->method != HTTP_POST) {
    http_respond_code(resp, 405, 0, "METHOD_NOT_ALLOWED");
    resp->allow = "GET, POST";
    return;
  }
  if (!v) {
    http_respond_code(resp, 500, 0, "SYSTEM_ERROR");
    return;
  }
  if (!instance[0]) {
    http_respond_args_error(resp, "instanceId is required");
    return;
  }
  if (req->method == HTTP_GET) {
    respond_url(v, instance, resp);
    return;
  }
  const char *why = json_strict_object(req->body, req->body_len);
  cJSON *body = why ? NULL : cJSON_ParseWithLength(req->body, req->body_len);
  const cJSON *url = cJSON_GetObjectItemCaseSensitive(body, "url");
  if (!body) why = why ? why : "out of memory";
  else if (!cJSON_IsString(url)) why = "\"url\" must be a string";
  else if (strlen(url->valuestring) > URL_MAX) why = "\"url\" is too long";
  else if (url->valuestring[0] && !http_url(url->valuestring)) why = "\"url\" must be http(s)";
  if (why) {
    http_respond_args_error(resp, why);
    cJSON_Delete(body);
    return;
  }
  /* "" removes the instance's own URL: the global one (if any) applies again. What is not on
   * disk is not in force either. */
  instance_url *old = find_url(v, instance);
  char before[URL_MAX + 1] = "";
  if (old) snprintf(before, sizeof before, "%s", old->url);
  if (set_url(v, instance, url->valuestring) || save_urls(v)) {
    set_url(v, instance, before);
    cJSON_Delete(body);
    http_respond_code(resp, 500, 0, "SYSTEM_ERROR");
    return;
  }
  /* Verdicts came from the old validator: ask the new one. */
  cache_clear(v);
  cJSON_Delete(body);
  respond_url(v, instance, resp);
}
