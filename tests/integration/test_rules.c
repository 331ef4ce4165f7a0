/* Client rules of SPEC §3, one test each, against the mock server through the public C API. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/session.h"
#include <mbedtls/version.h>

#include "harness.h"

static const char *bin_dir;

static const char *const BIZ =
    "[{\"bizType\":\"UCHAT\",\"dimension\":\"user\"},"
    " {\"bizType\":\"TRADE\",\"dimension\":\"user\"},"
    " {\"bizType\":\"DEVCFG\",\"dimension\":\"device\"},"
    " {\"bizType\":\"GLOBAL-CFG\",\"scope\":\"global\"}]";

typedef struct fixture {
  mock server;
  char dir[64];
  recorder rec;
  mpsync_config cfg;
  mpsync_client *client;
} fixture;

static void setup(fixture *f, int report) {
  mock_start(&f->server, bin_dir, BIZ);
  make_temp_dir(f->dir, sizeof f->dir);
  recorder_init(&f->rec, report);
  client_config(&f->cfg, &f->server, f->dir, &f->rec);
}

static void start(fixture *f, const char *user) {
  if (mpsync_client_new(&f->cfg, &f->client) != 0) FAIL("client did not start");
  if (user) EXPECT(mpsync_bind_user(f->client, user, "session") == 0);
}

static void online(fixture *f) {
  EXPECT(mpsync_foreground(f->client) == 0);
  if (recorder_wait_state(&f->rec, MPSYNC_STATE_CONNECTED, 10000) != 0) FAIL("never connected");
  /* Reset so a later wait sees a fresh CONNECTED. */
  pthread_mutex_lock(&f->rec.lock);
  f->rec.n_states = 0;
  pthread_mutex_unlock(&f->rec.lock);
}

static void restart_client(fixture *f, const char *user) {
  mpsync_client_free(f->client);
  f->client = NULL;
  start(f, user);
}

static void teardown(fixture *f) {
  mpsync_client_free(f->client);
  mock_stop(&f->server);
  rm_rf(f->dir);
}

/* C3: a batch that cannot be committed is not acknowledged, so the server sends it again. */
static void c3_commit_before_ack(void) {
  fixture f;
  setup(&f, 1);
  start(&f, "u1");
  EXPECT(mpsync_register_biz(f.client, "UCHAT", recorder_cb, &f.rec) == 0);
  online(&f);
  /* Make every cache insert fail, from outside the SDK, as a full disk would. */
  char path[128];
  snprintf(path, sizeof path, "%s/mpsync.db", f.dir);
  sqlite3 *db;
  EXPECT(sqlite3_open(path, &db) == SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  EXPECT(sqlite3_exec(db,
                      "CREATE TRIGGER fail_insert BEFORE INSERT ON oplogs"
                      " BEGIN SELECT RAISE(ABORT, 'injected'); END;",
                      NULL, NULL, NULL) == SQLITE_OK);
  EXPECT_CODE(push_text(&f.server, "UCHAT", "u1", "c3-1", "x"), "SUCCESS");
  /* The failed commit drops the link; nothing may reach the app meanwhile. */
  if (recorder_wait_state(&f.rec, MPSYNC_STATE_DISCONNECTED, 10000) != 0)
    FAIL("link not dropped after a failed commit");
  EXPECT(recorder_count(&f.rec) == 0);
  EXPECT(sqlite3_exec(db, "DROP TRIGGER fail_insert", NULL, NULL, NULL) == SQLITE_OK);
  sqlite3_close(db);
  /* Had the client acknowledged it, the server would never send it again. */
  if (recorder_wait(&f.rec, 1, 15000) != 0) FAIL("oplog lost: acknowledged without a commit");
  EXPECT(strcmp(recorder_get(&f.rec, 0).third, "c3-1") == 0);
  teardown(&f);
}

/* C4: one message per bizType in flight; a blocked callback holds up only its own bizType. */
static void c4_slow_callback_delays_only_its_own_biz(void) {
  fixture f;
  setup(&f, 1);
  f.cfg.max_oplogs_per_message = 1;
  start(&f, "u1");
  EXPECT(mpsync_register_biz(f.client, "UCHAT", recorder_cb, &f.rec) == 0);
  EXPECT(mpsync_register_biz(f.client, "TRADE", recorder_cb, &f.rec) == 0);
  online(&f);
  recorder_block(&f.rec, "UCHAT");
  EXPECT_CODE(push_text(&f.server, "UCHAT", "u1", "chat-1", "x"), "SUCCESS");
  EXPECT_CODE(push_text(&f.server, "UCHAT", "u1", "chat-2", "x"), "SUCCESS");
  for (int i = 0; i < 5; i++) {
    char third[16];
    snprintf(third, sizeof third, "trade-%d", i);
    EXPECT_CODE(push_text(&f.server, "TRADE", "u1", third, "x"), "SUCCESS");
  }
  if (recorder_wait(&f.rec, 5, 10000) != 0) FAIL("TRADE waited behind the blocked UCHAT callback");
  for (size_t i = 0; i < 5; i++) EXPECT(strcmp(recorder_get(&f.rec, i).biz, "TRADE") == 0);
  EXPECT(mpsync_is_connected(f.client)); /* the network thread never waited either */
  recorder_unblock(&f.rec);
  if (recorder_wait(&f.rec, 7, 10000) != 0) FAIL("UCHAT not delivered after unblocking");
  EXPECT(strcmp(recorder_get(&f.rec, 5).third, "chat-1") == 0);
  EXPECT(strcmp(recorder_get(&f.rec, 6).third, "chat-2") == 0);
  teardown(&f);
}

/* C5: reporting hands over the next message at once, not at the next redelivery. */
static void c5_report_dispatches_next_at_once(void) {
  fixture f;
  setup(&f, 0);
  f.cfg.max_oplogs_per_message = 1;
  f.cfg.redelivery_base_ms = 600000; /* any second delivery below is the report's doing */
  start(&f, "u1");
  EXPECT(mpsync_register_biz(f.client, "UCHAT", recorder_cb, &f.rec) == 0);
  online(&f);
  for (int i = 0; i < 3; i++) {
    char third[16];
    snprintf(third, sizeof third, "m%d", i);
    EXPECT_CODE(push_text(&f.server, "UCHAT", "u1", third, "x"), "SUCCESS");
  }
  EXPECT(recorder_wait(&f.rec, 1, 10000) == 0);
  sleep_ms(300);
  EXPECT(recorder_count(&f.rec) == 1); /* one in flight */
  for (size_t i = 0; i < 2; i++) {
    seen s = recorder_get(&f.rec, i);
    EXPECT(mpsync_report(f.client, s.biz, s.id) == 0);
    if (recorder_wait(&f.rec, i + 2, 3000) != 0) FAIL("report did not dispatch the next");
  }
  EXPECT(strcmp(recorder_get(&f.rec, 2).third, "m2") == 0);
  /* A forged or stale id changes nothing. */
  EXPECT(mpsync_report(f.client, "UCHAT", "not-an-id") == MPSYNC_EINVAL);
  EXPECT(mpsync_report(f.client, "UCHAT", "999999,1,1") == MPSYNC_ESTALE);
  sleep_ms(300);
  EXPECT(recorder_count(&f.rec) == 3);
  teardown(&f);
}

/* C6: an unreported message comes back with back-off, 6 deliveries in all, then is dropped. */
static void c6_redelivery_gives_up_after_six(void) {
  fixture f;
  setup(&f, 0);
  f.cfg.redelivery_base_ms = 40;
  start(&f, "u1");
  EXPECT(mpsync_register_biz(f.client, "UCHAT", recorder_cb, &f.rec) == 0);
  online(&f);
  EXPECT_CODE(push_text(&f.server, "UCHAT", "u1", "never-reported", "x"), "SUCCESS");
  /* 40+80+160+320+640 ms of back-off between the six deliveries. */
  if (recorder_wait(&f.rec, 6, 10000) != 0) FAIL("fewer than 6 deliveries");
  sleep_ms(2500);
  EXPECT(recorder_count(&f.rec) == 6);
  for (size_t i = 0; i < 6; i++) {
    seen s = recorder_get(&f.rec, i);
    EXPECT(strcmp(s.third, "never-reported") == 0);
    EXPECT(s.delivery == i + 1);
  }
  /* Dropped for good: the next message flows, and a restart does not bring it back. */
  EXPECT_CODE(push_text(&f.server, "UCHAT", "u1", "next", "x"), "SUCCESS");
  EXPECT(recorder_wait(&f.rec, 7, 10000) == 0);
  EXPECT(strcmp(recorder_get(&f.rec, 6).third, "next") == 0);
  teardown(&f);
}

static void c6_max_deliveries_is_configurable(void) {
  fixture f;
  setup(&f, 0);
  f.cfg.redelivery_base_ms = 40;
  f.cfg.max_deliveries = 2;
  start(&f, "u1");
  EXPECT(mpsync_register_biz(f.client, "UCHAT", recorder_cb, &f.rec) == 0);
  online(&f);
  EXPECT_CODE(push_text(&f.server, "UCHAT", "u1", "twice", "x"), "SUCCESS");
  EXPECT(recorder_wait(&f.rec, 2, 10000) == 0);
  sleep_ms(1000);
  EXPECT(recorder_count(&f.rec) == 2);
  teardown(&f);
}

/* C6: and again at each foreground, without waiting for the back-off. */
static void c6_redelivered_at_foreground(void) {
  fixture f;
  setup(&f, 0);
  f.cfg.redelivery_base_ms = 600000;
  start(&f, "u1");
  EXPECT(mpsync_register_biz(f.client, "UCHAT", recorder_cb, &f.rec) == 0);
  online(&f);
  EXPECT_CODE(push_text(&f.server, "UCHAT", "u1", "fg", "x"), "SUCCESS");
  EXPECT(recorder_wait(&f.rec, 1, 10000) == 0);
  EXPECT(mpsync_background(f.client) == 0);
  EXPECT(mpsync_foreground(f.client) == 0);
  if (recorder_wait(&f.rec, 2, 5000) != 0) FAIL("not redelivered at foreground");
  EXPECT(recorder_get(&f.rec, 1).delivery == 2);
  teardown(&f);
}

/* C7: data of a bizType nobody registered stays cached across restarts. */
static void c7_unregistered_biz_kept_across_restart(void) {
  fixture f;
  setup(&f, 1);
  start(&f, "u1");
  online(&f);
  EXPECT_CODE(push_text(&f.server, "TRADE", "u1", "t1", "x"), "SUCCESS");
  EXPECT_CODE(push_text(&f.server, "TRADE", "u1", "t2", "x"), "SUCCESS");
  sleep_ms(500);
  mpsync_client_free(f.client);
  f.client = NULL;
  mock_stop(&f.server); /* from here on only the cache can deliver */
  start(&f, "u1");
  EXPECT(mpsync_register_biz(f.client, "TRADE", recorder_cb, &f.rec) == 0);
  if (recorder_wait(&f.rec, 2, 10000) != 0) FAIL("cached oplogs of an unregistered biz lost");
  EXPECT(strcmp(recorder_get(&f.rec, 0).third, "t1") == 0);
  EXPECT(strcmp(recorder_get(&f.rec, 1).third, "t2") == 0);
  /* unregister stops dispatch, the data stays */
  EXPECT(mpsync_unregister_biz(f.client, "TRADE") == 0);
  EXPECT(mpsync_unregister_biz(f.client, "TRADE") == MPSYNC_ENOTFOUND);
  mpsync_client_free(f.client);
  f.client = NULL;
  rm_rf(f.dir);
}

/* C9: after a user switch no callback sees the previous user's data; it resumes when he is back. */
static void c9_user_switch_isolates_and_resumes(void) {
  fixture f;
  setup(&f, 1);
  start(&f, "alice");
  online(&f);
  EXPECT_CODE(push_text(&f.server, "UCHAT", "alice", "for-alice", "x"), "SUCCESS");
  EXPECT_CODE(push_text(&f.server, "DEVCFG", "", "dummy", "x"), "ARGS_IS_NULL");
  sleep_ms(500); /* cached, not dispatched: UCHAT is not registered yet */
  EXPECT(mpsync_bind_user(f.client, "bob", "s2") == 0);
  EXPECT(mpsync_register_biz(f.client, "UCHAT", recorder_cb, &f.rec) == 0);
  EXPECT(recorder_wait_state(&f.rec, MPSYNC_STATE_CONNECTED, 10000) == 0);
  EXPECT_CODE(push_text(&f.server, "UCHAT", "bob", "for-bob", "x"), "SUCCESS");
  EXPECT(recorder_wait(&f.rec, 1, 10000) == 0);
  sleep_ms(300);
  EXPECT(recorder_count(&f.rec) == 1);
  EXPECT(strcmp(recorder_get(&f.rec, 0).third, "for-bob") == 0);
  EXPECT(strcmp(recorder_get(&f.rec, 0).user, "bob") == 0);
  EXPECT(mpsync_clear_user(f.client) == 0);
  sleep_ms(300);
  EXPECT(recorder_count(&f.rec) == 1);
  EXPECT(mpsync_bind_user(f.client, "alice", "s3") == 0);
  if (recorder_wait(&f.rec, 2, 10000) != 0) FAIL("alice's cached data did not resume");
  EXPECT(strcmp(recorder_get(&f.rec, 1).third, "for-alice") == 0);
  EXPECT(strcmp(recorder_get(&f.rec, 1).user, "alice") == 0);
  teardown(&f);
}

/* C9: device data does not care who is logged in. */
static void c9_device_data_unaffected_by_user(void) {
  fixture f;
  setup(&f, 1);
  f.cfg.device_id = "device-c9-000000000000001";
  start(&f, NULL);
  EXPECT(mpsync_register_biz(f.client, "DEVCFG", recorder_cb, &f.rec) == 0);
  online(&f);
  EXPECT_CODE(push_text(&f.server, "DEVCFG", "device-c9-000000000000001", "d1", "x"), "SUCCESS");
  EXPECT(recorder_wait(&f.rec, 1, 10000) == 0);
  EXPECT(mpsync_bind_user(f.client, "carol", "s") == 0);
  EXPECT(recorder_wait_state(&f.rec, MPSYNC_STATE_CONNECTED, 10000) == 0);
  EXPECT_CODE(push_text(&f.server, "DEVCFG", "device-c9-000000000000001", "d2", "x"), "SUCCESS");
  EXPECT(recorder_wait(&f.rec, 2, 10000) == 0);
  EXPECT(strcmp(recorder_get(&f.rec, 1).user, "") == 0);
  teardown(&f);
}

/* C10: global data is not pushed live; it is pulled after connect and at each foreground. */
static void c10_global_pulled_not_pushed(void) {
  fixture f;
  setup(&f, 1);
  start(&f, "u1");
  EXPECT(mpsync_register_biz(f.client, "GLOBAL-CFG", recorder_cb, &f.rec) == 0);
  online(&f);
  EXPECT_CODE(mock_push(&f.server, 1,
                        "{\"bizType\":\"GLOBAL-CFG\",\"thirdMsgId\":\"g1\",\"payload\":\"on\"}"),
              "SUCCESS");
  sleep_ms(800);
  EXPECT(recorder_count(&f.rec) == 0);
  EXPECT(mpsync_foreground(f.client) == 0);
  if (recorder_wait(&f.rec, 1, 5000) != 0) FAIL("global data not pulled at foreground");
  EXPECT(strcmp(recorder_get(&f.rec, 0).third, "g1") == 0);
  /* Reported: a reconnect pulls nothing old again. */
  restart_client(&f, "u1");
  EXPECT(mpsync_register_biz(f.client, "GLOBAL-CFG", recorder_cb, &f.rec) == 0);
  online(&f);
  sleep_ms(500);
  EXPECT(recorder_count(&f.rec) == 1);
  teardown(&f);
}

/* C14: an oplog that expires while cached is dropped, not dispatched. */
static void c14_expired_oplog_dropped(void) {
  fixture f;
  setup(&f, 1);
  start(&f, "u1");
  online(&f);
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  long long end = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000 + 1000;
  char body[512];
  snprintf(body, sizeof body,
           "{\"bizType\":\"UCHAT\",\"linkToken\":\"u1\",\"thirdMsgId\":\"short-lived\","
           "\"payload\":\"x\",\"validTimeEnd\":%lld}",
           end);
  EXPECT_CODE(mock_push(&f.server, 0, body), "SUCCESS");
  EXPECT_CODE(push_text(&f.server, "UCHAT", "u1", "lasting", "x"), "SUCCESS");
  sleep_ms(1500); /* cached while valid, now expired */
  EXPECT(mpsync_register_biz(f.client, "UCHAT", recorder_cb, &f.rec) == 0);
  EXPECT(recorder_wait(&f.rec, 1, 5000) == 0);
  sleep_ms(300);
  EXPECT(recorder_count(&f.rec) == 1);
  EXPECT(strcmp(recorder_get(&f.rec, 0).third, "lasting") == 0);
  teardown(&f);
}

/* C17: one device id per install, random, 24+ characters, unchanged across restarts. */
static void c17_device_id_stable(void) {
  fixture f;
  setup(&f, 1);
  start(&f, NULL);
  char a[64], b[64];
  EXPECT(mpsync_device_id(f.client, a, sizeof a) >= 24);
  EXPECT(mpsync_device_id(f.client, b, 4) == MPSYNC_ETOOLONG);
  restart_client(&f, NULL);
  EXPECT(mpsync_device_id(f.client, b, sizeof b) >= 24);
  EXPECT(strcmp(a, b) == 0);
  /* Another install (data dir) gets another id. */
  char other[64];
  make_temp_dir(other, sizeof other);
  mpsync_config cfg = f.cfg;
  cfg.data_dir = other;
  mpsync_client *c2;
  EXPECT(mpsync_client_new(&cfg, &c2) == 0);
  EXPECT(mpsync_device_id(c2, b, sizeof b) >= 24);
  EXPECT(strcmp(a, b) != 0);
  mpsync_client_free(c2);
  rm_rf(other);
  teardown(&f);
}

/* C1 + C13: foreground connects, background disconnects promptly, the listener sees it all. */
static void c13_connection_state_observable(void) {
  fixture f;
  setup(&f, 1);
  start(&f, "u1");
  EXPECT(!mpsync_is_connected(f.client));
  EXPECT(mpsync_get_state(f.client) == MPSYNC_STATE_DISCONNECTED);
  EXPECT(mpsync_foreground(f.client) == 0);
  EXPECT(recorder_wait_state(&f.rec, MPSYNC_STATE_CONNECTING, 5000) == 0);
  EXPECT(recorder_wait_state(&f.rec, MPSYNC_STATE_CONNECTED, 5000) == 0);
  EXPECT(mpsync_is_connected(f.client));
  EXPECT(mpsync_background(f.client) == 0);
  EXPECT(recorder_wait_state(&f.rec, MPSYNC_STATE_DISCONNECTED, 1000) == 0);
  EXPECT(!mpsync_is_connected(f.client));
  /* Backgrounded: no reconnect, so a push finds the user offline. */
  sleep_ms(1500);
  EXPECT_CODE(push_text(&f.server, "UCHAT", "u1", "bg", "x"), "NOT_ONLINE");
  teardown(&f);
}

/* C13: a server that is not there gives ConnectFailed, and the client keeps trying. */
static void c13_connect_failed_then_retries(void) {
  fixture f;
  setup(&f, 1);
  start(&f, "u1");
  int port = f.server.link_port;
  mock_stop(&f.server); /* nothing listens on the port now */
  EXPECT(mpsync_foreground(f.client) == 0);
  EXPECT(recorder_wait_state(&f.rec, MPSYNC_STATE_CONNECT_FAILED, 5000) == 0);
  (void)port;
  mpsync_client_free(f.client);
  rm_rf(f.dir);
}

static long long count_rows(const char *dir) {
  char path[128];
  snprintf(path, sizeof path, "%s/mpsync.db", dir);
  sqlite3 *db;
  long long n = -1;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
    sqlite3_stmt *q;
    /* oplogs, not rows: a row holds a wire batch, dead a '0' for each oplog still cached */
    if (sqlite3_prepare_v2(db,
                           "SELECT total(length(replace(CAST(dead AS TEXT), '1', ''))) FROM oplogs",
                           -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
      n = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
  }
  sqlite3_close(db);
  return n;
}

/* C18: the cache never holds more than its limit; what did not fit arrives once room frees up. */
static void c18_cache_bounded_and_nothing_lost(void) {
  fixture f;
  setup(&f, 1);
  f.cfg.max_cached_oplogs = 3;
  f.cfg.max_oplogs_per_message = 1;
  start(&f, "u1");
  online(&f);
  for (int i = 0; i < 8; i++) {
    char third[16];
    snprintf(third, sizeof third, "b%d", i);
    EXPECT_CODE(push_text(&f.server, "UCHAT", "u1", third, "x"), "SUCCESS");
  }
  sleep_ms(500);
  long long rows = count_rows(f.dir);
  if (rows != 3) FAIL("cache holds %lld oplogs, limit 3", rows);
  EXPECT(mpsync_register_biz(f.client, "UCHAT", recorder_cb, &f.rec) == 0);
  if (recorder_wait(&f.rec, 8, 15000) != 0)
    FAIL("only %zu of 8 arrived after the cache was full", recorder_count(&f.rec));
  for (size_t i = 0; i < 8; i++) {
    char third[16];
    snprintf(third, sizeof third, "b%zu", i);
    EXPECT(strcmp(recorder_get(&f.rec, i).third, third) == 0);
  }
  teardown(&f);
}

/* Purge ("forget me"): a user's cached data is gone for good, another user's stays. */
static void purge_user_forgets_only_that_user(void) {
  fixture f;
  setup(&f, 1);
  start(&f, "alice");
  online(&f);
  EXPECT_CODE(push_text(&f.server, "UCHAT", "alice", "a1", "x"), "SUCCESS");
  EXPECT(mpsync_bind_user(f.client, "bob", "s") == 0);
  EXPECT(recorder_wait_state(&f.rec, MPSYNC_STATE_CONNECTED, 10000) == 0);
  EXPECT_CODE(push_text(&f.server, "UCHAT", "bob", "b1", "x"), "SUCCESS");
  sleep_ms(300);
  EXPECT(count_rows(f.dir) == 2);
  EXPECT(mpsync_purge_user(f.client, "alice") == 0);
  EXPECT(count_rows(f.dir) == 1);
  EXPECT(mpsync_bind_user(f.client, "alice", "s") == 0);
  EXPECT(mpsync_register_biz(f.client, "UCHAT", recorder_cb, &f.rec) == 0);
  sleep_ms(800);
  EXPECT(recorder_count(&f.rec) == 0); /* alice's a1 is gone, bob's is not hers */
  EXPECT(mpsync_bind_user(f.client, "bob", "s") == 0);
  EXPECT(recorder_wait(&f.rec, 1, 5000) == 0);
  EXPECT(strcmp(recorder_get(&f.rec, 0).third, "b1") == 0);
  EXPECT(mpsync_purge_all(f.client) == 0);
  EXPECT(count_rows(f.dir) == 0);
  teardown(&f);
}

typedef struct pusher {
  mock *server;
  int n;
} pusher;

static void *push_many(void *arg) {
  pusher *p = arg;
  for (int i = 0; i < p->n; i++) {
    char third[16];
    snprintf(third, sizeof third, "p%03d", i);
    push_text(p->server, "UCHAT", "u1", third, "x");
  }
  return NULL;
}

/* Purges while oplogs stream in: no crash, and what is delivered stays in order, once. */
static void purge_all_safe_while_arriving(void) {
  fixture f;
  setup(&f, 1);
  start(&f, "u1");
  EXPECT(mpsync_register_biz(f.client, "UCHAT", recorder_cb, &f.rec) == 0);
  online(&f);
  pusher p = {&f.server, 60};
  pthread_t t;
  pthread_create(&t, NULL, push_many, &p);
  for (int i = 0; i < 10; i++) {
    EXPECT(mpsync_purge_all(f.client) == 0);
    sleep_ms(30);
  }
  pthread_join(t, NULL);
  sleep_ms(1000);
  size_t n = recorder_count(&f.rec);
  for (size_t i = 1; i < n; i++)
    if (strcmp(recorder_get(&f.rec, i - 1).third, recorder_get(&f.rec, i).third) >= 0)
      FAIL("out of order or repeated: %s then %s", recorder_get(&f.rec, i - 1).third,
           recorder_get(&f.rec, i).third);
  EXPECT(mpsync_is_connected(f.client) || recorder_wait_state(&f.rec, MPSYNC_STATE_CONNECTED, 5000) == 0);
  teardown(&f);
}

/* C11: a network-change hint replaces the link at once. */
static void c11_network_change_reconnects_at_once(void) {
  fixture f;
  setup(&f, 1);
  f.cfg.reconnect_max_ms = 60000;
  start(&f, "u1");
  online(&f);
  EXPECT(mpsync_network_changed(f.client, MPSYNC_NETWORK_CELLULAR) == 0);
  EXPECT(recorder_wait_state(&f.rec, MPSYNC_STATE_DISCONNECTED, 2000) == 0);
  EXPECT(recorder_wait_state(&f.rec, MPSYNC_STATE_CONNECTED, 2000) == 0);
  EXPECT(mpsync_network_changed(f.client, (mpsync_network_type)42) == MPSYNC_EINVAL);
  /* Backgrounded, a hint changes nothing. */
  EXPECT(mpsync_background(f.client) == 0);
  EXPECT(recorder_wait_state(&f.rec, MPSYNC_STATE_DISCONNECTED, 2000) == 0);
  pthread_mutex_lock(&f.rec.lock);
  f.rec.n_states = 0;
  pthread_mutex_unlock(&f.rec.lock);
  EXPECT(mpsync_network_changed(f.client, MPSYNC_NETWORK_WIFI) == 0);
  sleep_ms(500);
  EXPECT(recorder_wait_state(&f.rec, MPSYNC_STATE_CONNECTING, 1) != 0);
  teardown(&f);
}

/* C12 + smart heartbeat: the interval stretches while pongs come, up to the server's maximum,
 * and what a network proved is where the next connection starts. */
static void c12_heartbeat_stretches_and_is_remembered(void) {
  fixture f;
  const char *const extra[] = {"--heartbeat", "1", "--heartbeat-timeout", "2",
                               "--heartbeat-max", "3", NULL};
  mock_start_with(&f.server, bin_dir, BIZ, extra);
  make_temp_dir(f.dir, sizeof f.dir);
  recorder_init(&f.rec, 1);
  client_config(&f.cfg, &f.server, f.dir, &f.rec);
  f.cfg.log_fn = recorder_log;
  f.cfg.log_level = MPSYNC_LOG_INFO;
  start(&f, "u1");
  EXPECT(mpsync_network_changed(f.client, MPSYNC_NETWORK_WIFI) == 0);
  online(&f);
  EXPECT(recorder_wait_log(&f.rec, "heartbeat interval 1s (server)", 3000) == 0);
  if (recorder_wait_log(&f.rec, "heartbeat interval 2s (stretched)", 6000) != 0)
    FAIL("interval did not stretch after 3 pongs");
  if (recorder_wait_log(&f.rec, "heartbeat interval 3s (stretched)", 9000) != 0)
    FAIL("interval did not stretch to the maximum");
  EXPECT(mpsync_is_connected(f.client));
  /* 2 s was proven on Wi-Fi (3 pongs); the next connection on Wi-Fi starts there. */
  restart_client(&f, "u1");
  EXPECT(mpsync_network_changed(f.client, MPSYNC_NETWORK_WIFI) == 0);
  online(&f);
  if (recorder_wait_log(&f.rec, "heartbeat interval 2s (learned)", 3000) != 0)
    FAIL("learned interval not used");
  teardown(&f);
}

/* Stream epochs: a reset of one stream on the server resyncs that stream alone, from 1. */
static void epoch_reset_resyncs_only_that_stream(void) {
  fixture f;
  setup(&f, 1);
  f.cfg.log_fn = recorder_log;
  start(&f, "u1");
  EXPECT(mpsync_register_biz(f.client, "UCHAT", recorder_cb, &f.rec) == 0);
  EXPECT(mpsync_register_biz(f.client, "TRADE", recorder_cb, &f.rec) == 0);
  online(&f);
  for (int i = 0; i < 3; i++) {
    char third[16];
    snprintf(third, sizeof third, "old%d", i);
    EXPECT_CODE(push_text(&f.server, "UCHAT", "u1", third, "x"), "SUCCESS");
  }
  EXPECT_CODE(push_text(&f.server, "TRADE", "u1", "t-old", "x"), "SUCCESS");
  EXPECT(recorder_wait(&f.rec, 4, 10000) == 0);
  EXPECT(mock_admin(&f.server, "stream/reset?instanceId=test_app&bizType=UCHAT&target=u1") == 0);
  if (recorder_wait_log(&f.rec, "stream user/UCHAT was reset", 5000) != 0)
    FAIL("the client did not learn of the reset");
  /* Ids start again at 1: a client still counting from 3 would drop these as duplicates. */
  EXPECT_CODE(push_text(&f.server, "UCHAT", "u1", "new0", "x"), "SUCCESS");
  EXPECT_CODE(push_text(&f.server, "TRADE", "u1", "t-new", "x"), "SUCCESS");
  if (recorder_wait(&f.rec, 6, 10000) != 0) FAIL("oplogs of the new epoch were not delivered");
  int new0 = 0, tnew = 0;
  for (size_t i = 4; i < 6; i++) {
    seen s = recorder_get(&f.rec, i);
    if (strcmp(s.third, "new0") == 0 && s.mk == 1) new0 = 1;
    if (strcmp(s.third, "t-new") == 0 && s.mk == 2) tnew = 1; /* TRADE kept counting */
  }
  EXPECT(new0 && tnew);
  /* Nothing already reported came back. */
  sleep_ms(300);
  EXPECT(recorder_count(&f.rec) == 6);
  teardown(&f);
}

/* A fake server on the session core that replays what it already sent. */
typedef struct replay_server {
  int listen_fd, port;
  pthread_t thread;
  int rounds;
} replay_server;

static void send_all(int fd, mps_session *s) {
  const uint8_t *p;
  size_t n = mps_session_pending(s, &p);
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w <= 0) return;
    mps_session_consume(s, (size_t)w);
    n = mps_session_pending(s, &p);
  }
}

static void replay_batch(mps_session *s, uint64_t first, uint64_t last) {
  mps_oplog_msg ops[8], *opp[8];
  char third[8][16];
  size_t n = 0;
  for (uint64_t id = first; id <= last; id++, n++) {
    mps_oplog_msg o = MPSYNC__WIRE__OPLOG__INIT;
    ops[n] = o;
    ops[n].id = id;
    ops[n].payload.data = (uint8_t *)"x";
    ops[n].payload.len = 1;
    snprintf(third[n], sizeof third[n], "r%llu", (unsigned long long)id);
    ops[n].third_msg_id = third[n];
    opp[n] = &ops[n];
  }
  mps_batch b = MPSYNC__WIRE__OPLOG_BATCH__INIT;
  b.kind = MPSYNC__WIRE__STREAM_KIND__STREAM_DEVICE;
  b.biz_type = "DEVCFG";
  b.target = "replay-device-000000000001";
  b.epoch = 77;
  b.oplogs = opp;
  b.n_oplogs = n;
  mps_session_batch(s, &b);
}

static void *replay_main(void *arg) {
  replay_server *rs = arg;
  for (int round = 0; round < rs->rounds; round++) {
    int fd = accept(rs->listen_fd, NULL, NULL);
    if (fd < 0) return NULL;
    mps_session *s = mps_session_new(MPS_ROLE_SERVER, NULL, NULL);
    uint8_t buf[4096];
    ssize_t n = read(fd, buf, sizeof buf); /* the Hello */
    if (n > 0 && mps_session_recv(s, buf, (size_t)n, 0) >= 0) {
      mps_welcome w = MPSYNC__WIRE__WELCOME__INIT;
      w.protocol_version = MPS_PROTOCOL_VERSION;
      mps_session_welcome(s, &w, 0);
      /* Ignores sync points on purpose: 1..3, then 2..4, every time. */
      replay_batch(s, 1, 3);
      replay_batch(s, 2, 4);
      send_all(fd, s);
      while (read(fd, buf, sizeof buf) > 0) {
      }
    }
    mps_session_free(s);
    close(fd);
  }
  return NULL;
}

/* C8: what is at or below the sync point, or already cached, is never dispatched twice. */
static void c8_no_double_dispatch_even_if_the_server_replays(void) {
  replay_server rs = {.rounds = 2};
  rs.listen_fd = listen_loopback(&rs.port);
  pthread_create(&rs.thread, NULL, replay_main, &rs);

  char dir[64];
  make_temp_dir(dir, sizeof dir);
  recorder rec;
  recorder_init(&rec, 1);
  mock fake = {.link_port = rs.port};
  mpsync_config cfg;
  client_config(&cfg, &fake, dir, &rec);
  cfg.device_id = "replay-device-000000000001";
  mpsync_client *c;
  EXPECT(mpsync_client_new(&cfg, &c) == 0);
  EXPECT(mpsync_register_biz(c, "DEVCFG", recorder_cb, &rec) == 0);
  EXPECT(mpsync_foreground(c) == 0);
  EXPECT(recorder_wait(&rec, 4, 5000) == 0);
  sleep_ms(300);
  EXPECT(recorder_count(&rec) == 4);
  for (size_t i = 0; i < 4; i++) EXPECT(recorder_get(&rec, i).mk == i + 1);
  /* Across a restart too: the server replays 1..4 again, nothing is dispatched. */
  mpsync_client_free(c);
  EXPECT(mpsync_client_new(&cfg, &c) == 0);
  EXPECT(mpsync_register_biz(c, "DEVCFG", recorder_cb, &rec) == 0);
  EXPECT(mpsync_foreground(c) == 0);
  EXPECT(recorder_wait_state(&rec, MPSYNC_STATE_CONNECTED, 5000) == 0);
  sleep_ms(500);
  EXPECT(recorder_count(&rec) == 4);
  mpsync_client_free(c);
  pthread_join(rs.thread, NULL);
  close(rs.listen_fd);
  rm_rf(dir);
}

/* Security: payload bytes and the session token never reach the log, at any level. */
static void sec_no_payload_or_session_in_logs(void) {
  fixture f;
  setup(&f, 1);
  f.cfg.log_fn = recorder_log;
  f.cfg.log_level = MPSYNC_LOG_DEBUG;
  f.rec.forbidden[0] = "SECRET-PAYLOAD";
  f.rec.forbidden[1] = "SECRET-SESSION";
  if (mpsync_client_new(&f.cfg, &f.client) != 0) FAIL("client did not start");
  EXPECT(mpsync_bind_user(f.client, "u1", "SECRET-SESSION-7f3a") == 0);
  EXPECT(mpsync_register_biz(f.client, "UCHAT", recorder_cb, &f.rec) == 0);
  online(&f);
  EXPECT_CODE(push_text(&f.server, "UCHAT", "u1", "s1", "SECRET-PAYLOAD-1"), "SUCCESS");
  EXPECT(recorder_wait(&f.rec, 1, 5000) == 0);
  EXPECT(mpsync_background(f.client) == 0);
  EXPECT(mpsync_foreground(f.client) == 0);
  EXPECT(recorder_wait_state(&f.rec, MPSYNC_STATE_CONNECTED, 5000) == 0);
  pthread_mutex_lock(&f.rec.lock);
  size_t lines = f.rec.n_log;
  int forbidden = f.rec.forbidden_seen;
  pthread_mutex_unlock(&f.rec.lock);
  EXPECT(lines > 5); /* it did log, at debug level */
  EXPECT(!forbidden);
  teardown(&f);
}

typedef struct switcher {
  mpsync_client *client;
  atomic_int calling_seq; /* bumped just before a bind call */
  atomic_int bound_seq;   /* odd: alice, even: bob; bumped only after the bind call returned */
  atomic_int stop;
  atomic_int violations;
} switcher;

static switcher the_switcher;

static void isolation_cb(mpsync_client *c, const mpsync_message *m, void *ud) {
  (void)ud;
  /* Bound first, then calling: equal, bind(seq) had returned and the next had not begun. While a
   * bind is under way either user's data may still come (the checked seq lags the return of the
   * bind by a moment, which qemu made long enough to report a violation that was not one). */
  int seq = atomic_load(&the_switcher.bound_seq);
  int calling = atomic_load(&the_switcher.calling_seq);
  const char *bound = seq % 2 ? "alice" : "bob";
  /* A callback that starts after bind(X) returned must only ever see X's data. */
  if (seq > 0 && calling == seq && strcmp(m->user_id, bound) != 0) {
    fprintf(stderr, "user %s's oplog delivered while %s was bound\n", m->user_id, bound);
    atomic_fetch_add(&the_switcher.violations, 1);
  }
  mpsync_report(c, m->biz, m->id);
}

static void *switch_users(void *arg) {
  switcher *sw = arg;
  for (int i = 1; !atomic_load(&sw->stop); i++) {
    atomic_store(&sw->calling_seq, i);
    mpsync_bind_user(sw->client, i % 2 ? "alice" : "bob", "s");
    atomic_store(&sw->bound_seq, i);
    sleep_ms(15);
  }
  return NULL;
}

/* C9 under races: binds flip between two users from one thread while both users' data arrives. */
static void sec_user_isolation_under_switch_races(void) {
  fixture f;
  setup(&f, 1);
  start(&f, NULL);
  the_switcher.client = f.client;
  EXPECT(mpsync_register_biz(f.client, "UCHAT", isolation_cb, NULL) == 0);
  EXPECT(mpsync_foreground(f.client) == 0);
  pthread_t t;
  pthread_create(&t, NULL, switch_users, &the_switcher);
  for (int i = 0; i < 60; i++) {
    char third[16];
    snprintf(third, sizeof third, "x%d", i);
    push_text(&f.server, "UCHAT", i % 2 ? "alice" : "bob", third, "x");
  }
  sleep_ms(500);
  atomic_store(&the_switcher.stop, 1);
  pthread_join(t, NULL);
  EXPECT(atomic_load(&the_switcher.violations) == 0);
  teardown(&f);
}

static long peak_rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
  if (f) fclose(f);
  return kb;
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define FLOOD_BYTES (40L * 1024 * 1024) /* the same code paths, in a sanitizer's time budget */
#else
#define FLOOD_BYTES (200L * 1024 * 1024)
#endif

typedef struct flood_server {
  int listen_fd;
  atomic_long sent;
} flood_server;

/* A hostile server: after the handshake, full-size batches of fresh ids, as fast as it can. */
static void *flood_main(void *arg) {
  flood_server *fs = arg;
  int fd = accept(fs->listen_fd, NULL, NULL);
  if (fd < 0) return NULL;
  mps_session *s = mps_session_new(MPS_ROLE_SERVER, NULL, NULL);
  uint8_t buf[4096];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n > 0 && mps_session_recv(s, buf, (size_t)n, 0) >= 0) {
    mps_welcome w = MPSYNC__WIRE__WELCOME__INIT;
    w.protocol_version = MPS_PROTOCOL_VERSION;
    mps_session_welcome(s, &w, 0);
    static uint8_t payload[15000];
    memset(payload, 'z', sizeof payload);
    mps_oplog_msg ops[64], *opp[64];
    uint64_t id = 0;
    while (atomic_load(&fs->sent) < FLOOD_BYTES) {
      for (int i = 0; i < 64; i++) {
        mps_oplog_msg o = MPSYNC__WIRE__OPLOG__INIT;
        ops[i] = o;
        ops[i].id = ++id;
        ops[i].payload.data = payload;
        ops[i].payload.len = sizeof payload;
        ops[i].third_msg_id = "f";
        opp[i] = &ops[i];
      }
      mps_batch b = MPSYNC__WIRE__OPLOG_BATCH__INIT;
      b.kind = MPSYNC__WIRE__STREAM_KIND__STREAM_DEVICE;
      b.biz_type = "DEVCFG";
      b.target = "flood-device-0000000000001";
      b.epoch = 5;
      b.oplogs = opp;
      b.n_oplogs = 64;
      mps_session_batch(s, &b);
      const uint8_t *p;
      size_t len = mps_session_pending(s, &p);
      ssize_t w2 = write(fd, p, len);
      if (w2 <= 0) break;
      mps_session_consume(s, (size_t)w2);
      atomic_fetch_add(&fs->sent, (long)w2);
    }
  }
  mps_session_free(s);
  close(fd);
  return NULL;
}

/* Bounded memory under a hostile server: 200 MB of oplogs the app never reports. */
static void sec_memory_bounded_under_flood(void) {
  flood_server fs = {0};
  int port;
  fs.listen_fd = listen_loopback(&port);
  signal(SIGPIPE, SIG_IGN);
  pthread_t t;
  pthread_create(&t, NULL, flood_main, &fs);
  char dir[64];
  make_temp_dir(dir, sizeof dir);
  recorder rec;
  recorder_init(&rec, 0);
  mock fake = {.link_port = port};
  mpsync_config cfg;
  client_config(&cfg, &fake, dir, &rec);
  cfg.device_id = "flood-device-0000000000001";
  cfg.max_cached_oplogs = 500;
  mpsync_client *c;
  EXPECT(mpsync_client_new(&cfg, &c) == 0);
  long before = peak_rss_kb();
  EXPECT(mpsync_foreground(c) == 0);
  for (int i = 0; i < 600 && atomic_load(&fs.sent) < FLOOD_BYTES; i++) sleep_ms(100);
  long grown = peak_rss_kb() - before;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  grown = 0; /* the sanitizers' own shadow memory and quarantine would dwarf what is measured */
#endif
  fprintf(stderr, "flood: %ld MB sent, peak RSS grew by %ld MB, cache %lld rows\n",
          atomic_load(&fs.sent) >> 20, grown >> 10, count_rows(dir));
  EXPECT(atomic_load(&fs.sent) >= FLOOD_BYTES);
  if (grown > 64 * 1024) FAIL("memory grew by %ld MB under the flood", grown >> 10);
  EXPECT(count_rows(dir) <= 500);
  mpsync_client_free(c);
  shutdown(fs.listen_fd, SHUT_RDWR);
  pthread_join(t, NULL);
  close(fs.listen_fd);
  rm_rf(dir);
}

/* What the verification hook of c15_verify_hook_through_the_api saw; set by the test thread
 * before the client starts, read after it stops or under the lock. */
static struct {
  pthread_mutex_t lock;
  mpsync_trust_verdict answer;
  int calls;
  void *user_data;
  char host[64];
  size_t count;
} hook_probe = {.lock = PTHREAD_MUTEX_INITIALIZER};

static mpsync_trust_verdict probe_hook(void *ud, const char *host, const uint8_t *const *certs,
                                       const size_t *lens, size_t count, int chain_verified) {
  (void)certs;
  (void)lens;
  (void)chain_verified;
  pthread_mutex_lock(&hook_probe.lock);
  hook_probe.calls++;
  hook_probe.user_data = ud;
  snprintf(hook_probe.host, sizeof hook_probe.host, "%s", host);
  hook_probe.count = count;
  mpsync_trust_verdict v = hook_probe.answer;
  pthread_mutex_unlock(&hook_probe.lock);
  return v;
}

static int probe_calls(void) {
  pthread_mutex_lock(&hook_probe.lock);
  int n = hook_probe.calls;
  pthread_mutex_unlock(&hook_probe.lock);
  return n;
}

/* C15 with the verification hook, through the public config: in "hook decides" mode with no CA
 * file, a refusing hook keeps the client offline and nothing is delivered; an accepting one lets
 * the same server in. The hook gets cfg.user_data and the configured server name. */
static void c15_verify_hook_through_the_api(void) {
  char cert[256], key[256];
  snprintf(cert, sizeof cert, "%s/../test-pki/server.pem", bin_dir);
  snprintf(key, sizeof key, "%s/../test-pki/server.key", bin_dir);
  const char *const extra[] = {"--link-tls", "127.0.0.1:0", "--cert", cert, "--key", key, NULL};
  fixture f;
  mock_start_with(&f.server, bin_dir, BIZ, extra);
  EXPECT(f.server.link_tls_port > 0);
  make_temp_dir(f.dir, sizeof f.dir);
  recorder_init(&f.rec, 1);
  client_config(&f.cfg, &f.server, f.dir, &f.rec);
  f.cfg.plaintext = 0;
  f.cfg.port = (uint16_t)f.server.link_tls_port;
  f.cfg.server_name = "localhost";

  /* The mode needs a hook; an unknown mode is refused. */
  f.cfg.trust_mode = MPSYNC_TRUST_HOOK_DECIDES;
  EXPECT(mpsync_client_new(&f.cfg, &f.client) == MPSYNC_ECONFIG);
  f.cfg.trust_mode = (mpsync_trust_mode)7;
  f.cfg.verify_fn = probe_hook;
  EXPECT(mpsync_client_new(&f.cfg, &f.client) == MPSYNC_EINVAL);
  f.cfg.trust_mode = MPSYNC_TRUST_HOOK_DECIDES;

  hook_probe.answer = MPSYNC_TRUST_REFUSE;
  start(&f, "u1");
  EXPECT(mpsync_register_biz(f.client, "UCHAT", recorder_cb, &f.rec) == 0);
  EXPECT(mpsync_foreground(f.client) == 0);
  EXPECT(recorder_wait_state(&f.rec, MPSYNC_STATE_CONNECT_FAILED, 10000) == 0);
  EXPECT(probe_calls() >= 1);
  EXPECT(!mpsync_is_connected(f.client));
  EXPECT_CODE(push_text(&f.server, "UCHAT", "u1", "held", "x"), "NOT_ONLINE");
  sleep_ms(300);
  EXPECT(recorder_count(&f.rec) == 0);
  mpsync_client_free(f.client);
  pthread_mutex_lock(&hook_probe.lock);
  EXPECT(hook_probe.user_data == &f.rec);
  EXPECT(strcmp(hook_probe.host, "localhost") == 0);
  EXPECT(hook_probe.count == 1);
  hook_probe.answer = MPSYNC_TRUST_ACCEPT;
  pthread_mutex_unlock(&hook_probe.lock);

  /* Accepted: the message held for the user arrives. */
  start(&f, "u1");
  EXPECT(mpsync_register_biz(f.client, "UCHAT", recorder_cb, &f.rec) == 0);
  online(&f);
  EXPECT(recorder_wait(&f.rec, 1, 10000) == 0);
  EXPECT(strcmp(recorder_get(&f.rec, 0).third, "held") == 0);
  teardown(&f);
}

/* Issue 18: a TLS client of a server that issues session tickets, trusting the test CA, with
 * the probe hook counting full handshakes: the hook runs when the server's Certificate arrives,
 * which the abbreviated handshake of a resumed session does not send. */
static void tls_ticket_fixture(fixture *f) {
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
  /* 3.x negotiates TLS 1.3, whose tickets the client does not take yet (mbedtls_compat.h). */
  fprintf(stderr, "skipped: TLS 1.3 session resumption is not done yet\n");
  _exit(77);
#endif
  static char cert[256], key[256], ca[256];
  snprintf(cert, sizeof cert, "%s/../test-pki/server.pem", bin_dir);
  snprintf(key, sizeof key, "%s/../test-pki/server.key", bin_dir);
  snprintf(ca, sizeof ca, "%s/../test-pki/ca.pem", bin_dir);
  const char *const extra[] = {"--link-tls", "127.0.0.1:0", "--cert", cert, "--key", key, NULL};
  mock_start_with(&f->server, bin_dir, BIZ, extra);
  EXPECT(f->server.link_tls_port > 0);
  make_temp_dir(f->dir, sizeof f->dir);
  recorder_init(&f->rec, 1);
  client_config(&f->cfg, &f->server, f->dir, &f->rec);
  f->cfg.plaintext = 0;
  f->cfg.port = (uint16_t)f->server.link_tls_port;
  f->cfg.server_name = "localhost";
  f->cfg.ca_file = ca;
  f->cfg.verify_fn = probe_hook;
  f->cfg.log_fn = recorder_log;
  hook_probe.answer = MPSYNC_TRUST_ACCEPT;
}

/* One run of the app: start as user, connect, stop. The full handshakes it made (0 or 1). */
static int tls_run(fixture *f, const char *user) {
  int before = probe_calls();
  start(f, user);
  online(f);
  mpsync_client_free(f->client);
  f->client = NULL;
  return probe_calls() - before;
}

/* The next link resumes the last one's TLS session, for the same user only; a purge of either
 * kind forgets it. */
static void tls_session_resumed_and_forgotten_at_purge_and_user_change(void) {
  fixture f;
  tls_ticket_fixture(&f);
  EXPECT(tls_run(&f, "u1") == 1);
  EXPECT(tls_run(&f, "u1") == 0);
  EXPECT(recorder_wait_log(&f.rec, "TLS session resumed", 1000) == 0);
  EXPECT(tls_run(&f, "u2") == 1); /* user change: u1's session is not offered */
  EXPECT(tls_run(&f, "u2") == 0);
  EXPECT(tls_run(&f, "u1") == 1); /* and u2's was not kept for u1 either */
  start(&f, "u1");
  EXPECT(mpsync_purge_all(f.client) == 0);
  mpsync_client_free(f.client);
  f.client = NULL;
  EXPECT(tls_run(&f, "u1") == 1);
  start(&f, "u1");
  EXPECT(mpsync_purge_user(f.client, "u1") == 0);
  mpsync_client_free(f.client);
  f.client = NULL;
  EXPECT(tls_run(&f, "u1") == 1);
  EXPECT(tls_run(&f, "u1") == 0);
  teardown(&f);
}

/* With a cache key the kept session is sealed: one changed byte and it is refused, the link
 * makes a full handshake instead of failing, and the session of that handshake is kept. */
static void tls_tampered_sealed_session_refused(void) {
  static const uint8_t cache_key[32] = "0123456789abcdef0123456789abcdef";
  fixture f;
  tls_ticket_fixture(&f);
  f.cfg.cache_key = cache_key;
  f.cfg.cache_key_len = sizeof cache_key;
  EXPECT(tls_run(&f, "u1") == 1);
  EXPECT(tls_run(&f, "u1") == 0);
  char path[128];
  snprintf(path, sizeof path, "%s/mpsync.db", f.dir);
  sqlite3 *db;
  EXPECT(sqlite3_open(path, &db) == SQLITE_OK);
  sqlite3_stmt *q;
  EXPECT(sqlite3_prepare_v2(db, "SELECT blob FROM tls_session", -1, &q, NULL) == SQLITE_OK);
  EXPECT(sqlite3_step(q) == SQLITE_ROW);
  int n = sqlite3_column_bytes(q, 0);
  EXPECT(n > 64);
  uint8_t *blob = malloc((size_t)n);
  EXPECT(blob != NULL);
  memcpy(blob, sqlite3_column_blob(q, 0), (size_t)n);
  sqlite3_finalize(q);
  blob[n / 2] ^= 0x01;
  EXPECT(sqlite3_prepare_v2(db, "UPDATE tls_session SET blob = ?1", -1, &q, NULL) == SQLITE_OK);
  sqlite3_bind_blob(q, 1, blob, n, SQLITE_TRANSIENT);
  EXPECT(sqlite3_step(q) == SQLITE_DONE);
  sqlite3_finalize(q);
  sqlite3_close(db);
  free(blob);
  EXPECT(tls_run(&f, "u1") == 1);
  EXPECT(recorder_wait_log(&f.rec, "cached TLS session refused", 1000) == 0);
  EXPECT(tls_run(&f, "u1") == 0);
  teardown(&f);
}

static const named_test tests[] = {
    {"c3_commit_before_ack", c3_commit_before_ack},
    {"c4_slow_callback_delays_only_its_own_biz", c4_slow_callback_delays_only_its_own_biz},
    {"c5_report_dispatches_next_at_once", c5_report_dispatches_next_at_once},
    {"c6_redelivery_gives_up_after_six", c6_redelivery_gives_up_after_six},
    {"c6_max_deliveries_is_configurable", c6_max_deliveries_is_configurable},
    {"c6_redelivered_at_foreground", c6_redelivered_at_foreground},
    {"c7_unregistered_biz_kept_across_restart", c7_unregistered_biz_kept_across_restart},
    {"c9_user_switch_isolates_and_resumes", c9_user_switch_isolates_and_resumes},
    {"c9_device_data_unaffected_by_user", c9_device_data_unaffected_by_user},
    {"c10_global_pulled_not_pushed", c10_global_pulled_not_pushed},
    {"c14_expired_oplog_dropped", c14_expired_oplog_dropped},
    {"c17_device_id_stable", c17_device_id_stable},
    {"c13_connection_state_observable", c13_connection_state_observable},
    {"c13_connect_failed_then_retries", c13_connect_failed_then_retries},
    {"c18_cache_bounded_and_nothing_lost", c18_cache_bounded_and_nothing_lost},
    {"purge_user_forgets_only_that_user", purge_user_forgets_only_that_user},
    {"purge_all_safe_while_arriving", purge_all_safe_while_arriving},
    {"c11_network_change_reconnects_at_once", c11_network_change_reconnects_at_once},
    {"c12_heartbeat_stretches_and_is_remembered", c12_heartbeat_stretches_and_is_remembered},
    {"epoch_reset_resyncs_only_that_stream", epoch_reset_resyncs_only_that_stream},
    {"c8_no_double_dispatch_even_if_the_server_replays",
     c8_no_double_dispatch_even_if_the_server_replays},
    {"sec_no_payload_or_session_in_logs", sec_no_payload_or_session_in_logs},
    {"sec_user_isolation_under_switch_races", sec_user_isolation_under_switch_races},
    {"sec_memory_bounded_under_flood", sec_memory_bounded_under_flood},
    {"c15_verify_hook_through_the_api", c15_verify_hook_through_the_api},
    {"tls_session_resumed_and_forgotten_at_purge_and_user_change",
     tls_session_resumed_and_forgotten_at_purge_and_user_change},
    {"tls_tampered_sealed_session_refused", tls_tampered_sealed_session_refused},
};

int main(int argc, char **argv) {
  return run_named_test(tests, sizeof tests / sizeof tests[0], argc, argv, &bin_dir);
}
