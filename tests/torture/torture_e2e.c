/* The end-to-end run of the allocation-failure torture: a delivery whose client allocations may fail, then a clean client on the same cache. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "alloc_fail.h"

/* MPSYNC_FAIL_AT=N (read by the library before main) fails the Nth allocation of this process.
 * Only libmpsync and the libraries it hooks count; the harness and the mock server (a child
 * process: the variable is gone from the environment by then) never fail. Exit 0 when every
 * call answered 0 or a code of the error table and the clean run delivered whatever the first
 * one had not; 1 otherwise. */

#define OPLOGS 6

static const char *const BIZ = "[{\"bizType\":\"UCHAT\",\"dimension\":\"user\"}]";

typedef struct app {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int seen[OPLOGS]; /* deliveries of torture-<i> */
  int bad_rc;       /* a call answered something outside the error table */
} app;

static app the_app = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, 0};

/* 0, or a code the library documents: anything else is not "a clear error code". */
static int clear(const char *what, int rc) {
  if (rc == 0) return 1;
  if (rc > 0 || strcmp(mpsync_err_name(rc), "MPSYNC_UNKNOWN") == 0) {
    fprintf(stderr, "torture_e2e: %s answered %d, not an error code\n", what, rc);
    pthread_mutex_lock(&the_app.lock);
    the_app.bad_rc = 1;
    pthread_mutex_unlock(&the_app.lock);
  } else {
    fprintf(stderr, "torture_e2e: %s: %s\n", what, mpsync_err_name(rc));
  }
  return 0;
}

static void on_message(mpsync_client *c, const mpsync_message *m, void *ud) {
  (void)ud;
  clear("mpsync_report", mpsync_report(c, m->biz, m->id));
  pthread_mutex_lock(&the_app.lock);
  for (size_t i = 0; i < m->count; i++) {
    int k;
    if (sscanf(mpsync_message_oplog(m, i)->third_msg_id, "torture-%d", &k) == 1 && k >= 0 &&
        k < OPLOGS)
      the_app.seen[k]++;
  }
  pthread_cond_broadcast(&the_app.cond);
  pthread_mutex_unlock(&the_app.lock);
}

static int delivered_all(void) {
  pthread_mutex_lock(&the_app.lock);
  int all = 1;
  for (int i = 0; i < OPLOGS; i++) all &= the_app.seen[i] > 0;
  pthread_mutex_unlock(&the_app.lock);
  return all;
}

/* Set for `torture_e2e BIN_DIR tls`: the link runs over TLS, so the failures reach the TLS
 * layer's own allocations (and mbedTLS' where its build lets them be hooked). */
static const char *tls_ca;

/* `torture_e2e BIN_DIR after-welcome`: the regression run of bug 4 (docs/RELIABILITY.md). The
 * Welcome and the first batch arrive in one read; a write failing while the client answered the
 * Welcome (its global pull) took the link down inside that read, and the batch that followed was
 * acknowledged through the link pointer already cleared. The window: from the heartbeat the
 * Welcome sets (logged on the loop thread, inside that read) to the batch being stored, measured
 * by a clean client first; then each allocation of it is failed in a client of its own. */
static int window_mode;           /* after-welcome: the log hook below is on */
static uint64_t after_welcome;    /* arm the k-th allocation after the heartbeat line; 0 = none */
static uint64_t at_heartbeat, at_batch; /* allocation counts at those lines (calibration) */

static void window_log(void *ud, mpsync_log_level level, const char *msg) {
  (void)ud, (void)level;
  if (strncmp(msg, "heartbeat interval ", 19) == 0) {
    at_heartbeat = mps_alloc_fail_count();
    if (after_welcome) mps_alloc_fail_arm(after_welcome);
  } else if (strncmp(msg, "batch ", 6) == 0 && !at_batch) {
    at_batch = mps_alloc_fail_count();
  }
}

/* One client life: open, bind, register, foreground, wait for every oplog, free. With a failure
 * injected the wait is cut short: the point is what the client leaves behind, not its recovery. */
static void run_client(mock *m, const char *dir, int clean) {
  recorder rec;
  recorder_init(&rec, 0);
  mpsync_config cfg;
  client_config(&cfg, m, dir, &rec);
  if (window_mode && !clean) cfg.log_fn = window_log;
  if (tls_ca) {
    cfg.plaintext = 0;
    cfg.port = (uint16_t)m->link_tls_port;
    cfg.ca_file = tls_ca;
    cfg.server_name = "localhost";
  }
  cfg.reconnect_max_ms = 200;
  cfg.redelivery_base_ms = 200;
  mpsync_client *c = NULL;
  if (!clear("mpsync_client_new", mpsync_client_new(&cfg, &c))) {
    if (clean) FAIL("a clean client did not start");
    return;
  }
  int ok = clear("mpsync_bind_user", mpsync_bind_user(c, "u1", "session")) &&
           clear("mpsync_register_biz", mpsync_register_biz(c, "UCHAT", on_message, NULL)) &&
           clear("mpsync_foreground", mpsync_foreground(c));
  if (clean && !ok) FAIL("a clean client refused a call");
  /* 100 ms steps: up to 20 s for the clean run; the first stops 1 s after its failure (0.3 s
   * in the window runs, which make ~150 clients and look only at the read that failed). */
  int after_failure = 0, give_up = window_mode ? 3 : 10;
  for (int step = 0; ok && !delivered_all() && step < 200 && after_failure < give_up; step++) {
    sleep_ms(100);
    if (!clean && mps_alloc_fail_injected()) after_failure++;
  }
  if (clean && !delivered_all()) FAIL("oplogs the server keeps were not delivered to a clean client");
  int rc = mpsync_client_free(c);
  if (!clear("mpsync_client_free", rc) && clean) FAIL("a clean client did not free");
}

static uint64_t first_counted, first_injected; /* after the last first client */

/* One delivery to a new cache: the first client under the failure, then a clean one. push: the
 * oplogs are pushed first (else those the server keeps from before are what it sends). */
static void deliver(mock *m, int push) {
  char dir[64];
  make_temp_dir(dir, sizeof dir);
  memset(the_app.seen, 0, sizeof the_app.seen);
  for (int i = 0; push && i < OPLOGS; i++) {
    char third[32];
    snprintf(third, sizeof third, "torture-%d", i);
    /* Nobody is online yet: stored for the first connect (SPEC: NOT_ONLINE is a success). */
    EXPECT_CODE(push_text(m, "UCHAT", "u1", third, "x"), "NOT_ONLINE");
  }
  run_client(m, dir, 0);
  first_injected = mps_alloc_fail_injected();
  first_counted = mps_alloc_fail_count();
  /* The honest second life: nothing fails, and it must deliver what the first did not. */
  mps_alloc_fail_arm(0);
  if (!delivered_all()) run_client(m, dir, 1);
  rm_rf(dir);
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[2], "after-welcome") == 0) {
    /* One mock server: each client has a new cache (fresh_cache), so the server sends it the
     * kept oplogs again, in the read that brings the Welcome. */
    window_mode = 1;
    mock m;
    mock_start(&m, argv[1], BIZ);
    deliver(&m, 1); /* nothing armed: measures the window */
    uint64_t window = at_batch > at_heartbeat ? at_batch - at_heartbeat : 0;
    if (!at_heartbeat || window == 0) FAIL("no heartbeat line before the batch: the window is lost");
    for (after_welcome = 1; after_welcome <= window; after_welcome++) deliver(&m, 0);
    mock_stop(&m);
    fprintf(stderr, "torture_e2e: each of %llu allocations between the Welcome and its batch failed, %s\n",
            (unsigned long long)window, the_app.bad_rc ? "a bad code" : "all clear");
    return the_app.bad_rc;
  }
  if (argc != 2 && !(argc == 3 && strcmp(argv[2], "tls") == 0)) {
    fprintf(stderr, "usage: torture_e2e BIN_DIR [tls | after-welcome]\n");
    return 2;
  }
  mock m;
  char ca[512], cert[512], key[512];
  if (argc == 3) {
    /* The test PKI CMake's tls_make_test_pki (or scripts/torture.sh) made next to bin/. */
    snprintf(ca, sizeof ca, "%s/../test-pki/ca.pem", argv[1]);
    snprintf(cert, sizeof cert, "%s/../test-pki/server.pem", argv[1]);
    snprintf(key, sizeof key, "%s/../test-pki/server.key", argv[1]);
    const char *const extra[] = {"--link-tls", "127.0.0.1:0", "--cert", cert, "--key", key, NULL};
    mock_start_with(&m, argv[1], BIZ, extra);
    if (m.link_tls_port <= 0) FAIL("the mock server has no TLS link port");
    tls_ca = ca;
  } else {
    mock_start(&m, argv[1], BIZ);
  }
  deliver(&m, 1);
  mock_stop(&m);
  fprintf(stderr, "torture_e2e: %llu allocations in the first run, %s\n",
          (unsigned long long)first_counted, first_injected ? "one failed" : "none failed");
  return the_app.bad_rc;
}
