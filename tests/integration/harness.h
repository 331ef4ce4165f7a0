/* Integration-test harness: a mock server on free loopback ports, pushes over HTTP, a recording client. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MPSYNC_TEST_HARNESS_H
#define MPSYNC_TEST_HARNESS_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>
#include <unistd.h>

#include "mpsync/mpsync.h"

typedef struct mock {
  pid_t pid;
  char dir[64];
  int http_port, link_port;
  int link_tls_port; /* started with --link-tls; else 0 */
  int stdin_fd;      /* the write end of its stdin: the server exits when it closes */
} mock;

/* Starts bin/mpsync-mock-server with the biz configs (JSON array text); exits the test on failure. */
void mock_start(mock *m, const char *bin_dir, const char *biz_json);
/* The same with extra server options, a NULL-terminated list. */
void mock_start_with(mock *m, const char *bin_dir, const char *biz_json, const char *const *extra);
/* SIGTERM, wait, check a clean exit, remove the data dir. */
void mock_stop(mock *m);
/* POSTs body to /webapi/sync/single (global = 0) or /global; returns the result code ("SUCCESS"). */
const char *mock_push(mock *m, int global, const char *body);
/* The admin bearer token mock_start gives the server (--admin-token); mock_admin sends it. */
#define MOCK_ADMIN_TOKEN "integration-admin-token-0123456789"

/* POSTs to the admin API (path relative to /admin/, with its query); 0 on HTTP 2xx. */
int mock_admin(mock *m, const char *path_and_query);
/* Shorthand: a text payload to a linkToken. */
const char *push_text(mock *m, const char *biz, const char *token, const char *third,
                      const char *payload);

/* What a test client saw. */
typedef struct seen {
  char biz[32];
  char third[64];
  char id[64];
  uint64_t mk;
  unsigned delivery;
  char user[64];
} seen;

typedef struct recorder {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  seen items[4096];
  size_t n;
  int report;              /* report each message from the callback */
  int block_biz_until;     /* see recorder_block */
  char block_biz[32];
  int states[16];
  size_t n_states;
  char log[64][160]; /* the last log lines, for tests that read the SDK's account of itself */
  size_t n_log;
  const char *forbidden[4]; /* strings that must never appear in a log line */
  int forbidden_seen;
} recorder;

void recorder_init(recorder *r, int report);
/* The callback to register: records every oplog, reports when r->report. */
void recorder_cb(mpsync_client *c, const mpsync_message *m, void *ud);
/* The state listener (cfg.state_fn with cfg.user_data = recorder). */
void recorder_state(void *ud, mpsync_state st, const char *reason);
/* A log hook (cfg.log_fn with cfg.user_data = recorder) keeping the last lines. */
void recorder_log(void *ud, mpsync_log_level level, const char *msg);
/* Waits until a log line contains text; 0 or -1. */
int recorder_wait_log(recorder *r, const char *text, int timeout_ms);
/* Waits until n oplogs are recorded; 0 on success, -1 after timeout_ms. */
int recorder_wait(recorder *r, size_t n, int timeout_ms);
/* Waits until the state listener saw st; 0 or -1. */
int recorder_wait_state(recorder *r, mpsync_state st, int timeout_ms);
/* Makes callbacks of biz block until recorder_unblock. */
void recorder_block(recorder *r, const char *biz);
void recorder_unblock(recorder *r);
size_t recorder_count(recorder *r);
seen recorder_get(recorder *r, size_t i);

/* A plaintext client of instance "test_app" on the mock's link port, data in dir; not started. */
void client_config(mpsync_config *cfg, mock *m, const char *dir, recorder *r);

void sleep_ms(int ms);
/* A fresh temporary directory (removed by rm_rf). */
void make_temp_dir(char *out, size_t len);
void rm_rf(const char *dir);

/* Stops every mock server this test started (they would outlive a failed test otherwise). */
void harness_kill_servers(void);

/* A listening TCP socket on 127.0.0.1, on a free port (*port); exits the test on failure. For
 * the tests' own fake servers. */
int listen_loopback(int *port);

/* One test of a suite binary, run by name as its own CTest entry. */
typedef struct named_test {
  const char *name;
  void (*fn)(void);
} named_test;

/* main() of a suite binary: `--list` prints the names; `BIN_DIR TEST` sets *bin_dir and runs
 * TEST. Returns the exit status. */
int run_named_test(const named_test *tests, size_t n, int argc, char **argv, const char **bin_dir);

#define FAIL(...)                                                  \
  do {                                                             \
    harness_kill_servers();                                        \
    fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                \
    fprintf(stderr, __VA_ARGS__);                                  \
    fputc('\n', stderr);                                           \
    fflush(stderr);                                                \
    _exit(1); /* SDK threads may be mid-call: do not run exit handlers */ \
  } while (0)

#define EXPECT(cond) \
  do {               \
    if (!(cond)) FAIL("expected %s", #cond); \
  } while (0)

#define EXPECT_CODE(code, want) \
  do {                          \
    const char *got_ = (code);  \
    if (strcmp(got_, want) != 0) FAIL("push answered %s, expected %s", got_, want); \
  } while (0)

#endif
