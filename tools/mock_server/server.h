/* The mock server's shared context: options, listeners, live connections, the store. */
#ifndef MOCK_SERVER_H
#define MOCK_SERVER_H

#include <stdint.h>
#include <uv.h>

#include "store.h"

typedef struct server_options {
  const char *http_addr;
  const char *link_addr;
  const char *data_dir;
  const char *biz_file;
  unsigned heartbeat_s;
  unsigned heartbeat_timeout_s;
  unsigned retention_days;
} server_options;

struct http_conn;
struct link_conn;

typedef struct mock_server {
  uv_loop_t *loop;
  server_options opts;
  store *st;
  uv_tcp_t http_listener;
  uv_tcp_t link_listener;
  uv_signal_t sigint;
  uv_signal_t sigterm;
  uv_timer_t prune_timer;
  struct http_conn *http_conns; /* intrusive list of open HTTP connections */
  struct link_conn *link_conns; /* intrusive list of open long-link connections */
  uint64_t link_seq;            /* orders connections by when their Hello arrived */
  char server_id[64];
  int stopping;
} mock_server;

/* Closes every handle; the loop then ends once all close callbacks ran. */
void server_stop(mock_server *srv);

#endif
