/* HTTP/1.1 front of the mock server: http-parser per connection, routing, JSON responses. */
#include "http.h"

#include <cjson/cJSON.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin.h"
#include "push_api.h"
#include "util.h"
#include "wire.h"

#define HTTP_MAX_URL 8192

typedef struct http_conn {
  uv_tcp_t tcp;
  uv_shutdown_t shutdown_req;
  http_parser parser;
  mock_server *srv;
  mps_buf url;
  mps_buf body;
  int too_big;         /* the request exceeded a limit: answer 413 and close */
  int close_after;     /* the client asked for Connection: close (or HTTP/1.0) */
  int expect_continue; /* "Expect: 100-continue" (curl sends it for bodies over 1 KiB) */
  char header_name[16]; /* the current header's name, truncated: only Expect matters */
  size_t header_name_len;
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

/* ---- lifecycle ---- */

static void on_closed(uv_handle_t *h) {
  http_conn *c = h->data;
  if (c->next) c->next->pprev = c->pprev;
  *c->pprev = c->next;
  mps_buf_free(&c->url);
  mps_buf_free(&c->body);
  free(c);
}

static void close_handle(http_conn *c) {
  if (c->handle_closing) return;
  c->handle_closing = c->closing = 1;
  uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  (void)status;
  close_handle(req->data);
}

/* Closes after the queued response has been written. */
static void begin_close(http_conn *c) {
  if (c->closing) return;
  c->closing = 1;
  uv_read_stop((uv_stream_t *)&c->tcp);
  c->shutdown_req.data = c;
  if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) close_handle(c);
}

void http_close_all(mock_server *srv) {
  for (http_conn *c = srv->http_conns; c; c = c->next) close_handle(c);
}

/* ---- responses ---- */

static void send_response(http_conn *c, const http_response *resp, int keep_alive) {
  const char *body = resp->body ? resp->body : "";
  size_t blen = strlen(body);
  char head[512];
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 %d %s\r\nContent-Type: application/json;charset=UTF-8\r\n"
                   "Content-Length: %zu\r\nConnection: %s\r\n%s%s%s\r\n",
                   resp->status, status_text(resp->status), blen,
                   keep_alive ? "keep-alive" : "close", resp->allow ? "Allow: " : "",
                   resp->allow ? resp->allow : "", resp->allow ? "\r\n" : "");
  mps_buf out = {0};
  if (mps_buf_append(&out, head, (size_t)n) == 0 && mps_buf_append(&out, body, blen) == 0)
    stream_write_copy((uv_stream_t *)&c->tcp, out.data, out.len);
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
  const char *code = push_api_handle(srv, global, req->query, req->body, req->body_len);
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
      http_request req = {.method = (int)c->parser.method, .path = path, .query = query,
                          .body = (const char *)c->body.data, .body_len = c->body.len - 1};
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
  c->url.len = 0;
  c->body.len = 0;
  c->expect_continue = 0;
  c->header_name_len = 0;
  c->in_value = 0;
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
  c->in_value = 1;
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
    stream_write_copy((uv_stream_t *)&c->tcp, cont, sizeof cont - 1);
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

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  http_conn *c = s->data;
  if (nread < 0) {
    free(buf->base);
    close_handle(c);
    return;
  }
  if (nread > 0 && !c->closing) {
    size_t done = http_parser_execute(&c->parser, &parser_settings, buf->base, (size_t)nread);
    if (c->too_big == 413) {
      send_error(c, 413, "PAYLOAD_TOO_LARGE");
      c->close_after = 1;
    } else if (c->too_big == 414) {
      send_error(c, 414, "URI_TOO_LONG");
      c->close_after = 1;
    } else if (!c->close_after &&
               (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK || done != (size_t)nread)) {
      send_error(c, 400, "BAD_REQUEST");
      c->close_after = 1;
    }
    if (c->close_after) begin_close(c);
  }
  free(buf->base);
}

void http_on_connection(uv_stream_t *listener, int status) {
  mock_server *srv = listener->data;
  if (status < 0 || srv->stopping) return;
  http_conn *c = calloc(1, sizeof *c);
  if (!c) return;
  c->srv = srv;
  uv_tcp_init(srv->loop, &c->tcp);
  c->tcp.data = c;
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
  uv_tcp_nodelay(&c->tcp, 1);
}
