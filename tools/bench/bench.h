/* mpsync-bench internals: the mock server process, a tiny HTTP push client, clock and stats helpers. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MPSYNC_BENCH_H
#define MPSYNC_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_BIZ "BENCH"
#define BENCH_INSTANCE "bench_app"
/* The admin bearer token the benchmark starts its mock server with (POST /admin/push/bulk). */
#define BENCH_ADMIN_TOKEN "bench-admin-token-0123456789abcdef"

/* ---- clock, files, stats (util.c) ---- */

/** Monotonic microseconds. */
uint64_t now_us(void);
void sleep_ms(unsigned ms);
/** mkdtemp under base; exits on failure. */
void temp_dir(const char *base, const char *tag, char *out, size_t len);
void rm_rf(const char *dir);
/** Copies directory src to dst (cp -a); 0 on success. */
int copy_dir(const char *src, const char *dst);
/** VmHWM (peak RSS) of this process in KiB; -1 when unknown. */
long vm_hwm_kb(void);
/** The q-quantile (0..1) of v[0..n), nearest rank; sorts v in place. */
double quantile(double *v, size_t n, double q);

/* ---- the mock server (mock.c) ---- */

typedef struct mock_proc {
  pid_t pid;
  int http_port;
  int link_port;
  int tls_port;     /* 0 when the server has no TLS listener */
  char data[512];   /* --data */
  char log[512];    /* its stderr */
} mock_proc;

/**
 * Starts exe with --http/--link on 127.0.0.1:0, --data data_dir, --biz-file biz_file, and a TLS
 * listener when cert and key are given (falls back to none if the server refuses them). extra is
 * NULL or a NULL-terminated list of further arguments. 0 on success.
 */
int mock_start(mock_proc *m, const char *exe, const char *data_dir, const char *biz_file,
               const char *cert, const char *key, const char *const *extra, const char *log_path);
/** SIGTERM and wait; 0 when it exited cleanly. */
int mock_stop(mock_proc *m);

/* ---- HTTP push client (mock.c): keep-alive HTTP/1.1 over one socket ---- */

typedef struct http_conn {
  int fd;
  int port;
  size_t have;
  char buf[8192];
} http_conn;

int http_open(http_conn *h, int port);
void http_close(http_conn *h);
/**
 * POSTs body to path; writes the answer's "msg" code into code. Returns the HTTP status, or -1 on
 * an I/O error (the connection is reopened on the next call).
 */
int http_post(http_conn *h, const char *path, const char *body, size_t len, char *code,
              size_t code_len);
/** Builds a single-push body for (device, thirdMsgId, payload of payload_len 'x'). */
size_t push_body(char *out, size_t cap, const char *device, const char *third, size_t payload_len);
/** Pushes n oplogs to device over `conns` parallel connections; 0 when every one was accepted. */
int push_many(int port, const char *device, const char *prefix, size_t n, size_t payload_len,
              unsigned conns);

/**
 * Queues n oplogs for device with the mock server's bulk endpoint (POST /admin/push/bulk): same
 * checks and storage as n single pushes, committed in chunks. 0 when all were stored; -1 when the
 * server refused or lacks the endpoint (the caller then falls back to push_many).
 */
int push_bulk(int port, const char *device, const char *prefix, size_t n, size_t payload_len);

/* ---- the cache's dispatch cost behind another user's backlog (dispatch.c) ---- */

typedef struct dispatch_result {
  int ok;
  double empty_ms;   /* median per dispatch, no other user's oplogs cached */
  double foreign_ms; /* the same with another user's `foreign` oplogs cached before them */
} dispatch_result;

/**
 * Times mps_store_next_message for a bound user's `dispatches` one-oplog messages (each reported
 * before the next), in a cache under base holding no other user's oplogs, then in one holding
 * another user's `foreign` oplogs of the same bizType, stored before the bound user's. 0 on success.
 */
int dispatch_cost(const char *base, size_t foreign, size_t dispatches, size_t payload,
                  dispatch_result *out);

/* ---- loopback byte-counting proxy (proxy.c) ---- */

typedef struct count_proxy count_proxy;
/** Listens on 127.0.0.1:0 and forwards every connection to 127.0.0.1:target_port. */
count_proxy *proxy_start(int target_port, int *listen_port);
/** Bytes client→server, server→client, and reads from the client so far. */
void proxy_counts(count_proxy *p, uint64_t *up, uint64_t *down, uint64_t *up_chunks);
void proxy_stop(count_proxy *p);

#endif
