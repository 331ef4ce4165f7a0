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

/* One client life: open, bind, register, foreground, wait for every oplog, free. With a failure
 * injected the wait is cut short: the point is what the client leaves behind, not its recovery. */
static void run_client(mock *m, const char *dir, int clean) {
  recorder rec;
  recorder_init(&rec, 0);
  mpsync_config cfg;
  client_config(&cfg, m, dir, &rec);
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
  /* 100 ms steps: up to 20 s for the clean run; the first stops 1 s after its failure. */
  int after_failure = 0;
  for (int step = 0; ok && !delivered_all() && step < 200 && after_failure < 10; step++) {
    sleep_ms(100);
    if (!clean && mps_alloc_fail_injected()) after_failure++;
  }
  if (clean && !delivered_all()) FAIL("oplogs the server keeps were not delivered to a clean client");
  int rc = mpsync_client_free(c);
  if (!clear("mpsync_client_free", rc) && clean) FAIL("a clean client did not free");
}

int main(int argc, char **argv) {
  if (argc != 2 && !(argc == 3 && strcmp(argv[2], "tls") == 0)) {
    fprintf(stderr, "usage: torture_e2e BIN_DIR [tls]\n");
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
  char dir[64];
  make_temp_dir(dir, sizeof dir);
  for (int i = 0; i < OPLOGS; i++) {
    char third[32];
    snprintf(third, sizeof third, "torture-%d", i);
    /* Nobody is online yet: stored for the first connect (SPEC: NOT_ONLINE is a success). */
    EXPECT_CODE(push_text(&m, "UCHAT", "u1", third, "x"), "NOT_ONLINE");
  }
  run_client(&m, dir, 0);
  uint64_t injected = mps_alloc_fail_injected(), counted = mps_alloc_fail_count();
  /* The honest second life: nothing fails, and it must deliver what the first did not. */
  mps_alloc_fail_arm(0);
  if (!delivered_all()) run_client(&m, dir, 1);
  mock_stop(&m);
  rm_rf(dir);
  fprintf(stderr, "torture_e2e: %llu allocations in the first run, %s\n",
          (unsigned long long)counted, injected ? "one failed" : "none failed");
  return the_app.bad_rc;
}
