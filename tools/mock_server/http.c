/* HTTP/1.1 front of the mock server: http-parser per connection, routing, JSON responses. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "http.h"

#include <cjson/cJSON.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin.h"
#include "console.h"
#include "push_api.h"
#include "signature.h"
#include "util.h"
#include "wire.h"

#define HTTP_MAX_URL 8192
/* Output budget per connection (bytes queued in libuv, not yet taken by the kernel): above the
 * soft mark the connection stops reading and parsing until the peer reads the queue down to
 * half of it; above the hard mark (only a huge single answer gets there) it is closed. */
#define HTTP_OUT_SOFT (256u * 1024u)
#define HTTP_OUT_HARD (4u * 1024u * 1024u)

/* One server per process: the limits main.c sets (http_set_limits) and the open count. */
static unsigned limit_timeout_s = HTTP_DEFAULT_TIMEOUT_S;
static unsigned limit_conns = HTTP_DEFAULT_MAX_CONNS;
static size_t open_conns;

/* Headers whose values reach the handlers (http_request), in this order. */
static const char *const kept_names[] = {"authorization", "x-mpsync-timestamp",
                                         "x-mpsync-signature"};
#define KEPT_HEADERS 3

typedef struct http_conn {
  uv_tcp_t tcp;
  uv_timer_t timer; /* request, idle and stalled-output deadline: one at a time */
  int open_handles; /* tcp and timer: freed when both close callbacks ran */
  uint64_t last_active;
  int out_paused;    /* not reading: the output queue is over HTTP_OUT_SOFT */
  mps_buf unparsed;  /* bytes read but not parsed while paused */
  uv_shutdown_t shutdown_req;
  http_parser parser;
  mock_server *srv;
  mps_buf url;
  mps_buf body;
  int too_big;         /* the request exceeded a limit: answer 413 and close */
  int close_after;     /* the client asked for Connection: close (or HTTP/1.0) */
  int expect_continue; /* "Expect: 100-continue" (curl sends it for bodies over 1 KiB) */
  char header_name[32]; /* the current header's name, truncated: only a few matter */
  size_t header_name_len;
  mps_buf kept[KEPT_HEADERS]; /* values of the headers in kept_names, for the handlers */
  int kept_index;             /* the current header's slot in kept, or -1 */
  int in_value;
  int closing;
  int handle_closing;
  struct http_conn *next;
  struct http_conn **pprev;
} http_conn;

static const char *status_text(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 409: return "Conflict";
    case 414: return "URI Too Long";
    default: return "Internal Server Error";
  }
}

void http_respond_code(http_response *resp, int status, int success, const char *msg) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddBoolToObject(o, "success", success);
  cJSON_AddStringToObject(o, "msg", msg);
  free(resp->body);
  resp->body = cJSON_PrintUnformatted(o);
  resp->status = status;
  cJSON_Delete(o);
}

static void respond_json(http_response *resp, int status, cJSON *o) {
  free(resp->body);
  resp->body = cJSON_PrintUnformatted(o);
  resp->status = status;
  cJSON_Delete(o);
}

void http_respond_data(http_response *resp, cJSON *data) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddBoolToObject(o, "success", 1);
  cJSON_AddStringToObject(o, "msg", "SUCCESS");
  cJSON_AddItemToObject(o, "data", data);
  respond_json(resp, 200, o);
}

void http_respond_args_error(http_response *resp, const char *detail) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddBoolToObject(o, "success", 0);
  cJSON_AddStringToObject(o, "msg", "ARGS_ERROR");
  cJSON_AddStringToObject(o, "detail", detail);
  respond_json(resp, 400, o);
}

void http_set_limits(unsigned timeout_s, unsigned max_conns) {
  limit_timeout_s = timeout_s;
  limit_conns = max_conns;
}

/* ---- lifecycle ---- */

static void on_closed(uv_handle_t *h) {
  http_conn *c = h->data;
  if (--c->open_handles > 0) return;
  if (c->next) c->next->pprev = c->pprev;
  *c->pprev = c->next;
  mps_buf_free(&c->url);
  mps_buf_free(&c->body);
  mps_buf_free(&c->unparsed);
  for (size_t i = 0; i < KEPT_HEADERS; i++) mps_buf_free(&c->kept[i]);
  open_conns--;
  free(c);
}

static void close_handle(http_conn *c) {
  if (c->handle_closing) return;
  c->handle_closing = c->closing = 1;
  uv_close((uv_handle_t *)&c->tcp, on_closed);
  uv_close((uv_handle_t *)&c->timer, on_closed);
}

static void on_deadline(uv_timer_t *t) { close_handle(t->data); }

/* A request must be complete, an idle keep-alive connection used, a stalled output read and a
 * graceful close done within limit_timeout_s of the event that armed it. Bytes that trickle in
 * do not re-arm it, so a request sent one byte at a time still ends at its deadline. */
static void arm_deadline(http_conn *c) {
  uv_timer_start(&c->timer, on_deadline, (uint64_t)limit_timeout_s * 1000, 0);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  (void)status;
  close_handle(req->data);
}

/* Closes after the queued response has been written (or at the deadline, for a peer that never
 * reads it). */
static void begin_close(http_conn *c) {
  if (c->closing) return;
  c->closing = 1;
  uv_read_stop((uv_stream_t *)&c->tcp);
  arm_deadline(c);
  c->shutdown_req.data = c;
  if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) close_handle(c);
}

void http_close_all(mock_server *srv) {
  for (http_conn *c = srv->http_conns; c; c = c->next) close_handle(c);
}

/* ---- responses ---- */

static void resume(http_conn *c);

typedef struct conn_write {
  uv_write_t req;
  http_conn *conn;
  uv_buf_t buf;
  char data[];
} conn_write;

static void on_conn_write(uv_write_t *req, int status) {
  (void)status; /* a failed write surfaces as a read error or EOF on the same stream */
  http_conn *c = ((conn_write *)req)->conn;
  free(req);
  if (c->out_paused && !c->closing &&
      uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) <= HTTP_OUT_SOFT / 2)
    resume(c);
}

/* Queues a copy of data; closes the connection when its queue passes the hard budget. */
static void conn_write_copy(http_conn *c, const void *data, size_t n) {
  if (c->handle_closing) return;
  conn_write *w = malloc(sizeof *w + n);
  if (!w) {
    close_handle(c);
    return;
  }
  memcpy(w->data, data, n);
  w->conn = c;
  w->buf = uv_buf_init(w->data, (unsigned)n);
  if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &w->buf, 1, on_conn_write) != 0) {
    free(w);
    close_handle(c);
  } else if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > HTTP_OUT_HARD) {
    close_handle(c);
  }
}

static void send_response(http_conn *c, const http_response *resp, int keep_alive) {
  const char *body = resp->body ? resp->body : "";
  size_t blen = strlen(body);
  char head[1024];
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                   "Content-Length: %zu\r\nConnection: %s\r\n%s%s%s%s%s\r\n",
                   resp->status, status_text(resp->status),
                   resp->content_type ? resp->content_type : "application/json;charset=UTF-8",
                   blen, keep_alive ? "keep-alive" : "close", resp->allow ? "Allow: " : "",
                   resp->allow ? resp->allow : "", resp->allow ? "\r\n" : "",
                   resp->status == 401 ? "WWW-Authenticate: Bearer realm=\"mpsync-admin\"\r\n"
                                       : "",
                   resp->headers ? resp->headers : "");
  mps_buf out = {0};
  if (mps_buf_append(&out, head, (size_t)n) == 0 && mps_buf_append(&out, body, blen) == 0)
    conn_write_copy(c, out.data, out.len);
  mps_buf_free(&out);
}

static void send_error(http_conn *c, int status, const char *msg) {
  http_response resp = {0};
  http_respond_code(&resp, status, 0, msg);
  send_response(c, &resp, 0);
  free(resp.body);
}

/* ---- routing ---- */

static void route_push(mock_server *srv, const http_request *req, http_response *resp,
                       int global) {
  if (req->method != HTTP_POST) {
    http_respond_code(resp, 405, 0, "METHOD_NOT_ALLOWED");
    resp->allow = "POST";
    return;
  }
  /* With signatures on, an unsigned or badly signed push stops here: nothing of it is stored. */
  const char *code = signature_check(srv, req);
  if (!code) code = push_api_handle(srv, global, req->query, req->body, req->body_len);
  http_respond_code(resp, 200, push_code_success(code), code);
}

static void route(mock_server *srv, const http_request *req, http_response *resp) {
  /* The push API answers a bad query with its own code (ARGS_IS_NULL); the admin API here. */
  int push = !strncmp(req->path, "/webapi/", 8);
  if (!push && !query_is_clean(req->query)) {
    http_respond_code(resp, 400, 0, "BAD_QUERY");
  } else if (strcmp(req->path, "/webapi/sync/single") == 0) {
    route_push(srv, req, resp, 0);
  } else if (strcmp(req->path, "/webapi/sync/global") == 0) {
    route_push(srv, req, resp, 1);
  } else if (srv->opts.console && console_handle(req, resp)) {
    /* the web console's files (--console) */
  } else if (!admin_handle(srv, req, resp)) {
    http_respond_code(resp, 404, 0, "NOT_FOUND");
  }
}

/* Splits the raw URL into path and query (NUL-terminated copies in one buffer). */
static int split_url(const mps_buf *url, char *path, char *query) {
  struct http_parser_url u;
  http_parser_url_init(&u);
  if (http_parser_parse_url((const char *)url->data, url->len, 0, &u) != 0) return -1;
  path[0] = query[0] = '\0';
  if (u.field_set & (1 << UF_PATH)) {
    memcpy(path, url->data + u.field_data[UF_PATH].off, u.field_data[UF_PATH].len);
    path[u.field_data[UF_PATH].len] = '\0';
  }
  if (u.field_set & (1 << UF_QUERY)) {
    memcpy(query, url->data + u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len);
    query[u.field_data[UF_QUERY].len] = '\0';
  }
  return 0;
}

static void handle_request(http_conn *c) {
  char path[HTTP_MAX_URL + 1], query[HTTP_MAX_URL + 1];
  http_response resp = {0};
  int keep_alive = http_should_keep_alive(&c->parser);
  if (split_url(&c->url, path, query) != 0) {
    http_respond_code(&resp, 400, 0, "BAD_REQUEST");
    keep_alive = 0;
  } else {
    /* A terminating NUL lets handlers treat the body as a string. */
    if (mps_buf_append(&c->body, "", 1) != 0) {
      http_respond_code(&resp, 500, 0, "SYSTEM_ERROR");
    } else {
      const char *hv[KEPT_HEADERS];
      for (size_t i = 0; i < KEPT_HEADERS; i++)
        hv[i] = c->kept[i].len && mps_buf_append(&c->kept[i], "", 1) == 0
                    ? (const char *)c->kept[i].data
                    : "";
      http_request req = {.method = (int)c->parser.method, .path = path, .query = query,
                          .body = (const char *)c->body.data, .body_len = c->body.len - 1,
                          .authorization = hv[0], .sig_timestamp = hv[1], .signature = hv[2]};
      route(c->srv, &req, &resp);
    }
  }
  if (!resp.body) http_respond_code(&resp, 500, 0, "SYSTEM_ERROR");
  send_response(c, &resp, keep_alive);
  free(resp.body);
  if (!keep_alive) c->close_after = 1;
}

/* ---- http-parser callbacks ---- */

static int on_message_begin(http_parser *p) {
  http_conn *c = p->data;
  arm_deadline(c); /* the whole request, headers and body, within the timeout */
  c->url.len = 0;
  c->body.len = 0;
  c->expect_continue = 0;
  c->header_name_len = 0;
  c->in_value = 0;
  c->kept_index = -1;
  for (size_t i = 0; i < KEPT_HEADERS; i++) c->kept[i].len = 0;
  return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n) {
  http_conn *c = p->data;
  if (c->in_value) c->header_name_len = 0; /* a new header begins */
  c->in_value = 0;
  for (size_t i = 0; i < n && c->header_name_len < sizeof c->header_name - 1; i++)
    c->header_name[c->header_name_len++] = at[i];
  c->header_name[c->header_name_len] = '\0';
  return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n) {
  http_conn *c = p->data;
  if (!c->in_value) { /* the name is complete: is it one the handlers read? */
    c->kept_index = -1;
    for (size_t i = 0; i < KEPT_HEADERS; i++)
      if (str_ieq(c->header_name, kept_names[i])) c->kept_index = (int)i;
    /* A repeated header is refused: which of two tokens or signatures counts is ambiguous. */
    if (c->kept_index >= 0 && c->kept[c->kept_index].len) return -1;
  }
  c->in_value = 1;
  if (c->kept_index >= 0) {
    mps_buf *v = &c->kept[c->kept_index];
    if (v->len + n > HTTP_MAX_HEADER_VALUE || mps_buf_append(v, at, n) != 0) return -1;
  }
  if (str_ieq(c->header_name, "expect") && n >= 12 && strncasecmp(at, "100-continue", 12) == 0)
    c->expect_continue = 1;
  return 0;
}

static int on_url(http_parser *p, const char *at, size_t n) {
  http_conn *c = p->data;
  if (c->url.len + n > HTTP_MAX_URL) {
    c->too_big = 414;
    return -1;
  }
  return mps_buf_append(&c->url, at, n) ? -1 : 0;
}

static int on_headers_complete(http_parser *p) {
  http_conn *c = p->data;
  /* Refuse a declared oversize body before reading any of it. */
  if ((p->flags & F_CONTENTLENGTH) && p->content_length > HTTP_MAX_BODY) {
    c->too_big = 413;
    return -1;
  }
  if (c->expect_continue) {
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    conn_write_copy(c, cont, sizeof cont - 1);
  }
  return 0;
}

static int on_body(http_parser *p, const char *at, size_t n) {
  http_conn *c = p->data;
  if (c->body.len + n > HTTP_MAX_BODY) {
    c->too_big = 413;
    return -1;
  }
  return mps_buf_append(&c->body, at, n) ? -1 : 0;
}

static int on_message_complete(http_parser *p) {
  http_conn *c = p->data;
  if (c->close_after) return 0; /* pipelined requests after Connection: close are ignored */
  handle_request(c);
  arm_deadline(c); /* now idle until the next request begins */
  /* A peer that pipelines without reading the answers: parse no further until it reads. */
  if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > HTTP_OUT_SOFT)
    http_parser_pause(p, 1);
  return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- reading ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  buf->base = malloc(suggested);
  buf->len = buf->base ? suggested : 0;
}

/* Parses what was read. When the output budget pauses the parser, the rest is kept and the
 * socket is no longer read, so the peer's own send buffer fills and it blocks. */
static void feed(http_conn *c, const char *data, size_t n) {
  size_t done = http_parser_execute(&c->parser, &parser_settings, data, n);
  if (HTTP_PARSER_ERRNO(&c->parser) == HPE_PAUSED) {
    if (!c->out_paused) {
      c->out_paused = 1;
      uv_read_stop((uv_stream_t *)&c->tcp);
      arm_deadline(c); /* the peer must read within the timeout, or it is closed */
    }
    c->unparsed.len = 0;
    if (mps_buf_append(&c->unparsed, data + done, n - done) != 0) close_handle(c);
    return;
  }
  if (c->too_big == 413) {
    send_error(c, 413, "PAYLOAD_TOO_LARGE");
    c->close_after = 1;
  } else if (c->too_big == 414) {
    send_error(c, 414, "URI_TOO_LONG");
    c->close_after = 1;
  } else if (!c->close_after && (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK || done != n)) {
    send_error(c, 400, "BAD_REQUEST");
    c->close_after = 1;
  }
  if (c->close_after) begin_close(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* The peer read its answers down: parse what was held back, then read again. */
static void resume(http_conn *c) {
  c->out_paused = 0;
  http_parser_pause(&c->parser, 0);
  mps_buf held = c->unparsed;
  c->unparsed = (mps_buf){0};
  feed(c, (const char *)held.data, held.len);
  mps_buf_free(&held);
  if (!c->out_paused && !c->closing) {
    arm_deadline(c);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) close_handle(c);
  }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  http_conn *c = s->data;
  if (nread < 0) {
    free(buf->base);
    close_handle(c);
    return;
  }
  if (nread > 0 && !c->closing) {
    c->last_active = uv_now(c->srv->loop);
    feed(c, buf->base, (size_t)nread);
  }
  free(buf->base);
}

/* At the cap, the connection that has been quiet longest makes room: a flood of half-open or idle
 * connections then costs its own oldest members, never the descriptor a new push needs. */
static void drop_oldest(mock_server *srv) {
  http_conn *oldest = NULL;
  for (http_conn *c = srv->http_conns; c; c = c->next)
    if (!c->handle_closing && (!oldest || c->last_active < oldest->last_active)) oldest = c;
  if (oldest) close_handle(oldest);
}

void http_on_connection(uv_stream_t *listener, int status) {
  mock_server *srv = listener->data;
  if (status < 0 || srv->stopping) return;
  if (open_conns >= limit_conns) drop_oldest(srv);
  http_conn *c = calloc(1, sizeof *c);
  if (!c) return;
  c->srv = srv;
  uv_tcp_init(srv->loop, &c->tcp);
  uv_timer_init(srv->loop, &c->timer);
  c->tcp.data = c->timer.data = c;
  c->open_handles = 2;
  c->last_active = uv_now(srv->loop);
  open_conns++;
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  c->next = srv->http_conns;
  if (c->next) c->next->pprev = &c->next;
  c->pprev = &srv->http_conns;
  srv->http_conns = c;
  if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0 ||
      uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
    close_handle(c);
    return;
  }
  arm_deadline(c);
  uv_tcp_nodelay(&c->tcp, 1);
}
