/* The mock server's shared context: options, listeners, live connections, the store. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MOCK_SERVER_H
#define MOCK_SERVER_H

#include <stdint.h>
#include <uv.h>

#include "store.h"

typedef struct server_options {
  const char *http_addr;
  const char *link_addr;     /* plain TCP long-link, or NULL */
  const char *link_tls_addr; /* TLS long-link, or NULL; needs cert_file and key_file */
  const char *cert_file;
  const char *key_file;
  const char *data_dir;
  const char *biz_file;
  unsigned heartbeat_s;
  unsigned heartbeat_timeout_s;
  unsigned heartbeat_max_s; /* Welcome.heartbeat_max_s: 0 = the interval is fixed */
  unsigned retention_days;
  const char *admin_token;  /* --admin-token, or NULL: one is generated at start */
  const char *validate_url; /* --validate-url: S9 validator of instances without their own */
  unsigned validate_timeout_ms; /* --validate-timeout: a slower answer means "not validated" */
  int console; /* --console: serve the web console under /console/ on the HTTP port */
  int exit_with_stdin; /* --exit-with-stdin: stop when standard input closes (its parent died) */
} server_options;

struct http_conn;
struct link_conn;
struct signature_state;
struct validator;

/* Longest admin token (--admin-token); a generated one has ADMIN_TOKEN_GENERATED_LEN chars. */
#define ADMIN_TOKEN_MAX 128
#define ADMIN_TOKEN_GENERATED_LEN 32

typedef struct mock_server {
  uv_loop_t *loop;
  server_options opts;
  store *st;
  uv_tcp_t http_listener;
  uv_tcp_t link_listener;
  uv_tcp_t link_tls_listener;
  struct mps_tls_config *tls_cfg; /* made once at start, shared by every TLS connection */
  uv_signal_t sigint;
  uv_signal_t sigterm;
  uv_timer_t prune_timer;
  struct http_conn *http_conns; /* intrusive list of open HTTP connections */
  struct link_conn *link_conns; /* intrusive list of open long-link connections */
  uint64_t link_seq;            /* orders connections by when their Hello arrived */
  char server_id[64];
  char admin_token[ADMIN_TOKEN_MAX + 1]; /* every request under /admin/ must carry it (admin.c) */
  struct signature_state *sig;           /* signed pushes: switch, key, replay cache */
  struct validator *validator;           /* S9 user-consistency checks (validator.c) */
  uv_pipe_t parent_pipe; /* standard input under --exit-with-stdin */
  int stopping;
} mock_server;

/* Milliseconds of the retention period (--retention-days). */
int64_t server_retention_ms(const mock_server *srv);

/* Closes every handle; the loop then ends once all close callbacks ran. */
void server_stop(mock_server *srv);

#endif
