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

/* ---- battery: idle wake-ups and stretched-heartbeat bytes (idle.c) ---- */

typedef struct idle_spec {
  int tls;
  const char *ca;
  const char *dir;    /* the client's data dir */
  const char *device;
} idle_spec;

typedef struct wakeup_result {
  int ok;
  unsigned window_ms;
  unsigned heartbeat_s; /* the interval in use during the foreground window */
  double foreground;    /* the SDK threads' wake-ups in the window: foreground, idle, link up */
  double background;    /* the same after mpsync_background() and the grace, link closed */
} wakeup_result;

/**
 * Counts the SDK threads' voluntary context switches (/proc/self/task/<tid>/status, every thread
 * but the caller's, which sleeps through the window) over window_ms, first foregrounded and idle
 * on a link to 127.0.0.1:port, then backgrounded after a 500 ms grace. 0 on success.
 */
int idle_wakeups(const idle_spec *s, int port, unsigned window_ms, wakeup_result *out);

typedef struct stretched_result {
  int ok;
  unsigned heartbeat_s; /* the stretched interval (the server's maximum) */
  unsigned window_ms;
  uint64_t exchanges;   /* pings in the window */
  double bytes;         /* both directions, as written to the sockets (TLS records included) */
} stretched_result;

/**
 * Connects through a counting proxy to a server whose heartbeat maximum is max_s, waits until the
 * client's smart heartbeat has stretched to it (C12), then counts the bytes over window_ms.
 */
int idle_stretched(const idle_spec *s, int port, unsigned max_s, unsigned window_ms,
                   stretched_result *out);

struct cJSON;
/**
 * Adds the battery figures to the report: idle_wakeups_per_hour_foreground and _background,
 * idle_bytes_per_hour_stretched (null when not measured), and how each was made to details.
 * default_hb_s is the default server's heartbeat, to which the 1 s runs are scaled.
 */
void battery_json(struct cJSON *out, struct cJSON *details, const wakeup_result *w,
                  const stretched_result *st, unsigned default_hb_s, const char *mode);

/* ---- round trips to the first oplog (rtt.c) ---- */

typedef struct rtt_spec {
  int tls;
  const char *ca;
  int link_port;            /* the mock server's link port of that mode */
  int http_port;
  const char *base;         /* a directory for the clients' data dirs */
  const char *proxy_script; /* tests/faults/fault_proxy.py */
  double delay_ms;          /* added each way by the delayed proxy */
} rtt_spec;

typedef struct rtt_result {
  int ok;
  double added_rtt_ms;
  double fresh_ms[2], resumed_ms[2]; /* medians: [0] undelayed proxy, [1] delayed */
  double fresh_data_rtt, resumed_data_rtt; /* (delayed - undelayed) / added RTT */
  double fresh_rtt, resumed_rtt;           /* the same, TCP's handshake included */
} rtt_result;

/**
 * Start to first callback, median of 5, through two fault proxies (tests/faults/fault_proxy.py),
 * one clean and one adding delay_ms each way: a fresh install (empty data dir, one oplog queued),
 * then the same install started again with another oplog queued. 0 on success.
 */
int rtt_to_first_oplog(const rtt_spec *s, rtt_result *out);

#endif
