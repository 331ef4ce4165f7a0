/* HTTP/1.1 front of the mock server: http-parser per connection, routing, JSON responses. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MOCK_HTTP_H
#define MOCK_HTTP_H

#include <stddef.h>

#include "server.h"

#define HTTP_MAX_BODY (64u * 1024u)
/* Longest value of a header the handlers read (http_request); a longer one is a bad request. */
#define HTTP_MAX_HEADER_VALUE 2048
/* A request must arrive whole, an idle keep-alive connection be used again, and a peer read the
 * answers queued for it within this many seconds, or the connection is closed (--http-timeout). */
#define HTTP_DEFAULT_TIMEOUT_S 30
/* Open HTTP connections at most; the one quiet longest is closed to admit a new one
 * (--http-max-conns; main.c lowers the default to fit the descriptor limit). */
#define HTTP_DEFAULT_MAX_CONNS 4096

typedef struct http_request {
  int method;        /* enum http_method */
  const char *path;  /* NUL-terminated, not decoded */
  const char *query; /* "" when absent */
  const char *body;  /* NUL-terminated for convenience; body_len bytes */
  size_t body_len;
  /* Header values the handlers read ("" when absent): the admin API's bearer token and a signed
   * push's timestamp and signature (docs/ADMIN.md). */
  const char *authorization;
  const char *sig_timestamp; /* X-Mpsync-Timestamp */
  const char *signature;     /* X-Mpsync-Signature */
} http_request;

typedef struct http_response {
  int status;
  char *body;        /* malloc'ed JSON text */
  const char *allow; /* Allow header for 405, or NULL */
  const char *content_type; /* NULL = JSON (the console's files set their own) */
  const char *headers;      /* more header lines, each ending in CRLF, or NULL */
} http_response;

/* Sets the timeout and the connection cap (one server per process). */
void http_set_limits(unsigned timeout_s, unsigned max_conns);

/* Connection callback of the HTTP listener. */
void http_on_connection(uv_stream_t *listener, int status);

/* Closes every HTTP connection at once (server shutdown). */
void http_close_all(mock_server *srv);

/* Sets a {"success":..,"msg":..} JSON body and the status. */
void http_respond_code(http_response *resp, int status, int success, const char *msg);

struct cJSON;
/* 200 {"success":true,"msg":"SUCCESS","data":data}; takes ownership of data. */
void http_respond_data(http_response *resp, struct cJSON *data);
/* 400 {"success":false,"msg":"ARGS_ERROR","detail":detail}: a refused argument, saying which. */
void http_respond_args_error(http_response *resp, const char *detail);

#endif
