/* Tests of the client core's second form (issue 12): one owner, a growable API, a bounded shutdown. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "core/session.h"
#include "harness.h"
#include "hostile_server.h"
#include "store/store.h"

static const char *bin_dir;

static const char *const BIZ =
    "[{\"bizType\":\"UCHAT\",\"dimension\":\"user\"},"
    " {\"bizType\":\"TRADE\",\"dimension\":\"user\"},"
    " {\"bizType\":\"DEVCFG\",\"dimension\":\"device\"},"
    " {\"bizType\":\"LIVE\",\"dimension\":\"user\",\"persistent\":false}]";

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

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

static void online(fixture *f) {
  EXPECT(mpsync_foreground(f->client) == 0);
  if (recorder_wait_state(&f->rec, MPSYNC_STATE_CONNECTED, 10000) != 0) FAIL("never connected");
}

static void teardown(fixture *f) {
  EXPECT(mpsync_client_free(f->client) == 0);
  mock_stop(&f->server);
  rm_rf(f->dir);
}

/* ------------------------------------------------------------------ defect 1 */

typedef struct toggler {
  mpsync_client *client;
  recorder *rec;
  int rounds;
} toggler;

static void *toggle_registration(void *arg) {
  toggler *t = arg;
  for (int i = 0; i < t->rounds; i++) {
    EXPECT(mpsync_register_biz(t->client, "UCHAT", recorder_cb, t->rec) == 0);
    int rc = mpsync_unregister_biz(t->client, "UCHAT");
    EXPECT(rc == 0 || rc == MPSYNC_ENOTFOUND); /* the other thread may have been first */
  }
  return NULL;
}

/* Issue 12 defect 1: the callback list and the loop's "registered" flag had two owners and could
 * disagree: a backlog never dispatched, or deliveries counted (and oplogs dropped at
 * max_deliveries) with no callback to receive them. With one delivery allowed, any delivery
 * counted without a callback loses its oplog for good; all must still arrive. */
static void register_unregister_race_loses_nothing(void) {
  fixture f;
  setup(&f, 1);
  f.cfg.max_deliveries = 1;
  f.cfg.max_oplogs_per_message = 1;
  f.cfg.redelivery_base_ms = 50;
  EXPECT(mpsync_client_new(&f.cfg, &f.client) == 0);
  EXPECT(mpsync_bind_user(f.client, "u1", "s1") == 0);
  online(&f);
  for (int i = 0; i < 20; i++) {
    char third[16];
    snprintf(third, sizeof third, "r%d", i);
    EXPECT_CODE(push_text(&f.server, "UCHAT", "u1", third, "x"), "SUCCESS");
  }
  toggler t[2] = {{f.client, &f.rec, 1000}, {f.client, &f.rec, 1000}};
  pthread_t th[2];
  for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, toggle_registration, &t[i]);
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  /* Whatever the interleaving, a final registration dispatches what is left (C7). */
  EXPECT(mpsync_register_biz(f.client, "UCHAT", recorder_cb, &f.rec) == 0);
  for (int i = 0; i < 20; i++) {
    char third[16];
    snprintf(third, sizeof third, "r%d", i);
    uint64_t until = now_ms() + 10000;
    int seen = 0;
    while (!seen && now_ms() < until) {
      for (size_t k = 0; k < recorder_count(&f.rec) && !seen; k++)
        seen = strcmp(recorder_get(&f.rec, k).third, third) == 0;
      if (!seen) sleep_ms(10);
    }
    if (!seen) FAIL("oplog %s never reached a callback: dropped or never dispatched", third);
  }
  teardown(&f);
}

/* ------------------------------------------------------------------ defect 2 */

static atomic_int trade_gate;

static void blocking_trade_cb(mpsync_client *c, const mpsync_message *m, void *ud) {
  while (!atomic_load(&trade_gate)) sleep_ms(5);
  recorder_cb(c, m, ud);
}

/* Issue 12 defect 2: re-binding the same user and session (apps do it at every start) made the
 * queued message stale: the app first saw it as delivery 2, and with max_deliveries 1 never. */
static void rebind_same_user_keeps_queued_message(void) {
  fixture f;
  setup(&f, 0);
  f.cfg.max_deliveries = 1;
  f.cfg.delivery_threads = 1; /* one worker, held by TRADE: UCHAT's message waits in the queue */
  EXPECT(mpsync_client_new(&f.cfg, &f.client) == 0);
  EXPECT(mpsync_bind_user(f.client, "u1", "s1") == 0);
  atomic_store(&trade_gate, 0);
  EXPECT(mpsync_register_biz(f.client, "TRADE", blocking_trade_cb, &f.rec) == 0);
  EXPECT(mpsync_register_biz(f.client, "UCHAT", recorder_cb, &f.rec) == 0);
  online(&f);
  EXPECT_CODE(push_text(&f.server, "TRADE", "u1", "t1", "x"), "SUCCESS");
  sleep_ms(300); /* TRADE's callback now holds the only worker */
  EXPECT_CODE(push_text(&f.server, "UCHAT", "u1", "c1", "x"), "SUCCESS");
  sleep_ms(300);
  for (int i = 0; i < 3; i++) EXPECT(mpsync_bind_user(f.client, "u1", "s1") == 0);
  atomic_store(&trade_gate, 1);
  if (recorder_wait(&f.rec, 2, 5000) != 0) FAIL("the queued message never reached the app");
  seen s = recorder_get(&f.rec, 1);
  EXPECT(strcmp(s.third, "c1") == 0);
  EXPECT(s.delivery == 1);
  teardown(&f);
}

/* ------------------------------------------------------------------ defect 4 */

/* The config of an app built against an older, smaller header: the fields up to the state
 * listener's user data and nothing after (the first release's core set). */
typedef struct old_config {
  size_t struct_size;
  const char *host;
  uint16_t port;
  const char *instance_id;
  const char *data_dir;
  mpsync_os_type os_type;
  const char *app_version;
  const char *device_id;
  int plaintext;
  const char *ca_file;
  const char *pin_sha256;
  unsigned max_deliveries;
  unsigned redelivery_base_ms;
  unsigned max_oplogs_per_message;
  unsigned reconnect_max_ms;
  mpsync_log_fn log_fn;
  mpsync_log_level log_level;
  mpsync_state_fn state_fn;
  void *user_data;
} old_config;

/* Issue 12 defect 4: the library wrote its own sizeof into the app's smaller struct and refused
 * it. Now an older app's struct is filled and read within its size, and works. */
static void old_smaller_config_struct_works(void) {
  _Static_assert(sizeof(old_config) < sizeof(mpsync_config), "the old struct must be smaller");
  EXPECT(offsetof(old_config, user_data) == offsetof(mpsync_config, user_data));
  struct {
    old_config cfg;
    unsigned char guard[64];
  } app;
  memset(&app, 0xA5, sizeof app);
  mpsync_config_init((mpsync_config *)&app.cfg, sizeof app.cfg);
  for (size_t i = 0; i < sizeof app.guard; i++)
    if (app.guard[i] != 0xA5) FAIL("mpsync_config_init wrote %zu bytes past the app's struct", i + 1);
  EXPECT(app.cfg.struct_size == sizeof app.cfg);
  EXPECT(app.cfg.port == 443 && app.cfg.max_deliveries == 6);
  fixture f;
  setup(&f, 1);
  app.cfg.host = "127.0.0.1";
  app.cfg.port = (uint16_t)f.server.link_port;
  app.cfg.instance_id = "test_app";
  app.cfg.data_dir = f.dir;
  app.cfg.plaintext = 1;
  app.cfg.state_fn = recorder_state;
  app.cfg.user_data = &f.rec;
  /* Whatever lies past the old struct must not matter: the guard stays 0xA5. */
  EXPECT(mpsync_client_new((const mpsync_config *)&app.cfg, &f.client) == 0);
  EXPECT(mpsync_bind_user(f.client, "u1", "s1") == 0);
  EXPECT(mpsync_register_biz(f.client, "UCHAT", recorder_cb, &f.rec) == 0);
  online(&f);
  EXPECT_CODE(push_text(&f.server, "UCHAT", "u1", "old-1", "x"), "SUCCESS");
  if (recorder_wait(&f.rec, 1, 5000) != 0) FAIL("an app with the older struct received nothing");
  for (size_t i = 0; i < sizeof app.guard; i++) EXPECT(app.guard[i] == 0xA5);
  teardown(&f);
}

/* A struct from a newer header: accepted while the fields this library does not know are 0. */
static void newer_config_struct_refused_only_with_unknown_fields_set(void) {
  struct {
    mpsync_config cfg;
    uint64_t future_field;
  } app;
  mpsync_config_init((mpsync_config *)&app, sizeof app);
  EXPECT(app.cfg.struct_size == sizeof app);
  EXPECT(app.future_field == 0);
  char dir[64];
  make_temp_dir(dir, sizeof dir);
  app.cfg.host = "127.0.0.1";
  app.cfg.port = 9;
  app.cfg.instance_id = "test_app";
  app.cfg.data_dir = dir;
  app.cfg.plaintext = 1;
  mpsync_client *c = NULL;
  app.future_field = 1;
  EXPECT(mpsync_client_new(&app.cfg, &c) == MPSYNC_EINVAL);
  EXPECT(strstr(mpsync_last_error(NULL), "does not know") != NULL);
  app.future_field = 0;
  EXPECT(mpsync_client_new(&app.cfg, &c) == 0);
  EXPECT(mpsync_client_free(c) == 0);
  rm_rf(dir);
}

/* ------------------------------------------------------------------ defect 5 */

/* Issue 12 defect 5: a 50-character Chinese user id (150 bytes) bound, then every Hello was
 * refused for good. One limit, 100 code points, everywhere. */
static void chinese_user_id_within_limit_connects(void) {
  fixture f;
  setup(&f, 1);
  EXPECT(mpsync_client_new(&f.cfg, &f.client) == 0);
  char user[512] = "";
  for (int i = 0; i < 100; i++) strcat(user, "用");
  char over[512];
  snprintf(over, sizeof over, "%s户", user);
  EXPECT(mpsync_bind_user(f.client, over, "s1") == MPSYNC_ETOOLONG);
  EXPECT(strstr(mpsync_last_error(f.client), "user_id over 100 characters") != NULL);
  EXPECT(mpsync_bind_user(f.client, "\xC0\xAF", "s1") == MPSYNC_EINVAL); /* overlong '/' */
  EXPECT(mpsync_bind_user(f.client, user, "s1") == 0);
  EXPECT(mpsync_register_biz(f.client, "UCHAT", recorder_cb, &f.rec) == 0);
  online(&f);
  EXPECT_CODE(push_text(&f.server, "UCHAT", user, "cn-1", "你好"), "SUCCESS");
  if (recorder_wait(&f.rec, 1, 5000) != 0) FAIL("a 100-character Chinese user id got nothing");
  EXPECT(strcmp(recorder_get(&f.rec, 0).third, "cn-1") == 0);
  teardown(&f);
}

/* ------------------------------------------------------------------ defect 6 */

static atomic_int free_result;

static void free_from_callback_cb(mpsync_client *c, const mpsync_message *m, void *ud) {
  atomic_store(&free_result, mpsync_client_free(c));
  recorder_cb(c, m, ud);
}

/* Issue 12 defect 6: called from a callback, mpsync_client_free would join its own thread. */
static void free_from_callback_is_refused_clearly(void) {
  fixture f;
  setup(&f, 1);
  EXPECT(mpsync_client_new(&f.cfg, &f.client) == 0);
  EXPECT(mpsync_bind_user(f.client, "u1", "s1") == 0);
  atomic_store(&free_result, 1);
  EXPECT(mpsync_register_biz(f.client, "UCHAT", free_from_callback_cb, &f.rec) == 0);
  online(&f);
  EXPECT_CODE(push_text(&f.server, "UCHAT", "u1", "f1", "x"), "SUCCESS");
  EXPECT(recorder_wait(&f.rec, 1, 5000) == 0);
  EXPECT(atomic_load(&free_result) == MPSYNC_EBUSY);
  EXPECT(strstr(mpsync_last_error(f.client), "inside a callback") != NULL);
  teardown(&f); /* the client still works, and frees from here */
}

typedef struct silent_server {
  int listen_fd, port, fd;
  pthread_t thread;
  atomic_int got_close; /* a Close frame arrived before the end of the stream */
  atomic_int ended;
  int welcome;          /* answer the Hello, then read everything */
  int never_read;       /* accept, then never read a byte */
} silent_server;

static void on_close_cb(void *ud, int code, const char *reason, uint32_t retry) {
  (void)code;
  (void)reason;
  (void)retry;
  atomic_store(&((silent_server *)ud)->got_close, 1);
}

static void *silent_main(void *arg) {
  silent_server *s = arg;
  s->fd = accept(s->listen_fd, NULL, NULL);
  if (s->fd < 0) return NULL;
  if (s->never_read) {
    while (!atomic_load(&s->ended)) sleep_ms(20);
    return NULL;
  }
  mps_session_callbacks cb = {.on_close = on_close_cb};
  mps_session *sess = mps_session_new(MPS_ROLE_SERVER, &cb, s);
  uint8_t buf[4096];
  ssize_t n;
  int welcomed = 0;
  while ((n = read(s->fd, buf, sizeof buf)) > 0) {
    if (mps_session_recv(sess, buf, (size_t)n, 0) < 0) break;
    if (!welcomed) {
      mps_welcome w = MPSYNC__WIRE__WELCOME__INIT;
      w.protocol_version = MPS_PROTOCOL_VERSION;
      mps_session_welcome(sess, &w, 0);
      const uint8_t *p;
      size_t len = mps_session_pending(sess, &p);
      if (write(s->fd, p, len) != (ssize_t)len) break;
      mps_session_consume(sess, len);
      welcomed = 1;
    }
  }
  atomic_store(&s->ended, 1);
  mps_session_free(sess);
  return NULL;
}

static void silent_start(silent_server *s) {
  s->listen_fd = listen_loopback(&s->port);
  pthread_create(&s->thread, NULL, silent_main, s);
}

static void silent_stop(silent_server *s) {
  atomic_store(&s->ended, 1);
  shutdown(s->listen_fd, SHUT_RDWR);
  pthread_join(s->thread, NULL);
  if (s->fd > 0) close(s->fd);
  close(s->listen_fd);
}

/* Issue 12 defect 6: a destructor that blocks on the network. A server that accepts and never
 * reads a byte, while the client has more to say than the socket buffers hold: free returns
 * within its bound anyway. */
static void free_is_bounded_against_a_peer_that_never_reads(void) {
  silent_server s = {.never_read = 1};
  silent_start(&s);
  char dir[64];
  make_temp_dir(dir, sizeof dir);
  recorder rec;
  recorder_init(&rec, 1);
  mock fake = {.link_port = s.port};
  mpsync_config cfg;
  client_config(&cfg, &fake, dir, &rec);
  mpsync_client *c;
  EXPECT(mpsync_client_new(&cfg, &c) == 0);
  EXPECT(mpsync_foreground(c) == 0);
  sleep_ms(300); /* connected; its Hello sits unread on the server */
  uint64_t t0 = now_ms();
  EXPECT(mpsync_client_free(c) == 0);
  uint64_t took = now_ms() - t0;
  if (took > 3000) FAIL("mpsync_client_free took %llu ms", (unsigned long long)took);
  silent_stop(&s);
  rm_rf(dir);
}

/* ------------------------------------------------------------------ defect 7 */

/* Issue 12 defect 7: shutdown queued a Close frame and closed at once, so it was never sent. */
static void free_sends_close_frame_before_the_end(void) {
  silent_server s = {.welcome = 1};
  silent_start(&s);
  char dir[64];
  make_temp_dir(dir, sizeof dir);
  recorder rec;
  recorder_init(&rec, 1);
  mock fake = {.link_port = s.port};
  mpsync_config cfg;
  client_config(&cfg, &fake, dir, &rec);
  mpsync_client *c;
  EXPECT(mpsync_client_new(&cfg, &c) == 0);
  EXPECT(mpsync_foreground(c) == 0);
  EXPECT(recorder_wait_state(&rec, MPSYNC_STATE_CONNECTED, 5000) == 0);
  EXPECT(mpsync_client_free(c) == 0);
  uint64_t until = now_ms() + 3000;
  while (!atomic_load(&s.ended) && now_ms() < until) sleep_ms(10);
  EXPECT(atomic_load(&s.ended));
  if (!atomic_load(&s.got_close)) FAIL("the server saw the end of the stream without a Close");
  silent_stop(&s);
  rm_rf(dir);
}

/* ------------------------------------------------------------------ defect 10 */

static int count_log(recorder *r, const char *text) {
  int n = 0;
  pthread_mutex_lock(&r->lock);
  for (size_t i = 0; i < r->n_log; i++)
    if (strstr(r->log[i], text)) n++;
  pthread_mutex_unlock(&r->lock);
  return n;
}

/* Issue 12 defect 10: a state change was logged twice; a call's error had no text. */
static void state_change_logged_once_and_errors_explained(void) {
  fixture f;
  setup(&f, 1);
  f.cfg.log_fn = recorder_log;
  f.cfg.log_level = MPSYNC_LOG_INFO;
  EXPECT(mpsync_client_new(&f.cfg, &f.client) == 0);
  online(&f);
  sleep_ms(200);
  EXPECT(count_log(&f.rec, "state 2") == 1);
  EXPECT(mpsync_report(f.client, "UCHAT", "x,y") == MPSYNC_EINVAL);
  EXPECT(strstr(mpsync_last_error(f.client), "malformed message id") != NULL);
  EXPECT(mpsync_report(f.client, "UCHAT", "5,5,1") == MPSYNC_ESTALE);
  EXPECT(strstr(mpsync_last_error(f.client), "not in flight") != NULL);
  EXPECT(mpsync_unregister_biz(f.client, "NEVER") == MPSYNC_ENOTFOUND);
  EXPECT(mpsync_network_changed(f.client, (mpsync_network_type)42) == MPSYNC_EINVAL);
  EXPECT(mpsync_message_oplog(NULL, 0) == NULL);
  teardown(&f);
}

/* A redelivery that finds its message still queued (the strand busy) takes it back without
 * counting it: the app sees delivery 1, never a count it did not get. */
static void withdrawn_message_is_not_counted(void) {
  fixture f;
  setup(&f, 0);
  f.cfg.max_deliveries = 1;
  f.cfg.redelivery_base_ms = 100; /* redeliveries fire while the message waits in the queue */
  f.cfg.delivery_threads = 1;
  EXPECT(mpsync_client_new(&f.cfg, &f.client) == 0);
  EXPECT(mpsync_bind_user(f.client, "u1", "s1") == 0);
  atomic_store(&trade_gate, 0);
  EXPECT(mpsync_register_biz(f.client, "TRADE", blocking_trade_cb, &f.rec) == 0);
  EXPECT(mpsync_register_biz(f.client, "UCHAT", recorder_cb, &f.rec) == 0);
  online(&f);
  EXPECT_CODE(push_text(&f.server, "TRADE", "u1", "t1", "x"), "SUCCESS");
  sleep_ms(200);
  EXPECT_CODE(push_text(&f.server, "UCHAT", "u1", "c1", "x"), "SUCCESS");
  sleep_ms(1500); /* about four redelivery rounds while UCHAT waits behind TRADE */
  atomic_store(&trade_gate, 1);
  if (recorder_wait(&f.rec, 2, 5000) != 0) FAIL("the waiting message was dropped uncounted-for");
  int found = 0;
  for (size_t i = 0; i < recorder_count(&f.rec); i++) {
    seen s = recorder_get(&f.rec, i);
    if (strcmp(s.third, "c1") == 0) {
      found = 1;
      EXPECT(s.delivery == 1);
    }
  }
  EXPECT(found);
  teardown(&f);
}


static atomic_int uchat_gate;
static atomic_int uchat_calls;

/* Blocks the first call until uchat_gate opens, then reports from inside the callback. */
static void gated_reporting_cb(mpsync_client *c, const mpsync_message *m, void *ud) {
  if (atomic_fetch_add(&uchat_calls, 1) == 0)
    while (!atomic_load(&uchat_gate)) sleep_ms(5);
  recorder_cb(c, m, ud);
  EXPECT(mpsync_report(c, m->biz, m->id) == 0 || atomic_load(&uchat_calls) > 1);
}

/* Found by the kill -9 soak: a reconnect hands the message in flight out again while its
 * callback still runs; the callback reports it; the queued repeat must then never run (C5). */
static void reported_message_never_runs_again_from_the_queue(void) {
  fixture f;
  setup(&f, 0);
  EXPECT(mpsync_client_new(&f.cfg, &f.client) == 0);
  EXPECT(mpsync_bind_user(f.client, "u1", "s1") == 0);
  atomic_store(&uchat_gate, 0);
  atomic_store(&uchat_calls, 0);
  EXPECT(mpsync_register_biz(f.client, "UCHAT", gated_reporting_cb, &f.rec) == 0);
  online(&f);
  EXPECT_CODE(push_text(&f.server, "UCHAT", "u1", "once", "x"), "SUCCESS");
  sleep_ms(300); /* the callback runs and waits at the gate */
  pthread_mutex_lock(&f.rec.lock);
  f.rec.n_states = 0;
  pthread_mutex_unlock(&f.rec.lock);
  EXPECT(mock_admin(&f.server, "links/close?instanceId=test_app") == 0);
  if (recorder_wait_state(&f.rec, MPSYNC_STATE_CONNECTED, 10000) != 0) FAIL("no reconnect");
  sleep_ms(200); /* the new link queued the repeat behind the running callback */
  atomic_store(&uchat_gate, 1);
  sleep_ms(1000);
  EXPECT(recorder_count(&f.rec) == 1);
  EXPECT(atomic_load(&uchat_calls) == 1);
  teardown(&f);
}

/* C23 / issue 15: with a background grace the link stays up after mpsync_background(), a push
 * that is only delivered to online targets arrives in that window, and then the link closes. */
static void background_grace_keeps_link_for_live_pushes(void) {
  fixture f;
  setup(&f, 1);
  f.cfg.background_grace_ms = 1500;
  EXPECT(mpsync_client_new(&f.cfg, &f.client) == 0);
  EXPECT(mpsync_bind_user(f.client, "u1", "s1") == 0);
  EXPECT(mpsync_register_biz(f.client, "LIVE", recorder_cb, &f.rec) == 0);
  online(&f);
  EXPECT(mpsync_background(f.client) == 0);
  sleep_ms(300);
  EXPECT(mpsync_is_connected(f.client));
  EXPECT_CODE(push_text(&f.server, "LIVE", "u1", "in-grace", "x"), "SUCCESS");
  if (recorder_wait(&f.rec, 1, 3000) != 0) FAIL("a live push in the grace period never arrived");
  if (recorder_wait_state(&f.rec, MPSYNC_STATE_DISCONNECTED, 4000) != 0)
    FAIL("the link outlived the grace period");
  sleep_ms(300);
  EXPECT(!mpsync_is_connected(f.client));
  EXPECT_CODE(push_text(&f.server, "LIVE", "u1", "after-grace", "x"), "NOT_ONLINE");
  teardown(&f);
}

/* Starts the double and a client of it (data in a new dir, warnings into rec), not yet online. */
static mpsync_client *against_double(hostile_server *h, char *dir, size_t dir_len, recorder *rec,
                                     mpsync_config *cfg) {
  hostile_start(h);
  make_temp_dir(dir, dir_len);
  recorder_init(rec, 1);
  mock fake = {.link_port = h->port};
  client_config(cfg, &fake, dir, rec);
  cfg->log_fn = recorder_log;
  cfg->log_level = MPSYNC_LOG_WARN;
  mpsync_client *c;
  EXPECT(mpsync_client_new(cfg, &c) == 0);
  return c;
}

/* User u1 (UCHAT and DEVCFG registered) goes online against the double, which sends what its
 * mode says; the client must drop the link. */
static mpsync_client *u1_until_link_dropped(hostile_server *h, char *dir, size_t dir_len,
                                            recorder *rec) {
  mpsync_config cfg;
  mpsync_client *c = against_double(h, dir, dir_len, rec, &cfg);
  EXPECT(mpsync_bind_user(c, "u1", "s1") == 0);
  EXPECT(mpsync_register_biz(c, "UCHAT", recorder_cb, rec) == 0);
  EXPECT(mpsync_register_biz(c, "DEVCFG", recorder_cb, rec) == 0);
  EXPECT(mpsync_foreground(c) == 0);
  uint64_t until = now_ms() + 5000;
  while (!atomic_load(&h->ended) && now_ms() < until) sleep_ms(10);
  EXPECT(atomic_load(&h->ended)); /* the client dropped the link */
  return c;
}

/* Nothing of the double's came to the app or was acknowledged; ends the client and the double. */
static void nothing_taken(hostile_server *h, mpsync_client *c, recorder *rec) {
  sleep_ms(300);
  EXPECT(recorder_count(rec) == 0);
  EXPECT(atomic_load(&h->acks) == 0);
  EXPECT(mpsync_client_free(c) == 0);
  hostile_stop(h);
}

/* Issue 13 item 8 (C20): a server (malicious, or spoofed on a plaintext link) sends a batch of
 * another device's or another user's stream: never stored, dispatched or acknowledged. */
static void foreign_stream_refused(const char *kind) {
  hostile_server h = {.mode = HOSTILE_FOREIGN_STREAM, .foreign = kind};
  char dir[64];
  recorder rec;
  mpsync_client *c = u1_until_link_dropped(&h, dir, sizeof dir, &rec);
  EXPECT(recorder_wait_log(&rec, "for another target", 2000) == 0);
  nothing_taken(&h, c, &rec);
  rm_rf(dir);
}

static void foreign_device_stream_refused(void) { foreign_stream_refused("device"); }
static void foreign_user_stream_refused(void) { foreign_stream_refused("user"); }

/* Issue 13 item 3, client side: a batch whose target on the wire is "u1\0x" was read as "u1" and
 * passed C20 as u1's own stream, so a server could plant data under another user's name. The
 * decoder refuses it: the link ends as a protocol error (the client's Close says so), nothing is
 * stored, dispatched or acknowledged. */
static void nul_in_batch_target_refused(void) {
  hostile_server h = {.mode = HOSTILE_NUL_IN_TARGET, .user = "u1"};
  char dir[64];
  recorder rec;
  mpsync_client *c = u1_until_link_dropped(&h, dir, sizeof dir, &rec);
  EXPECT(atomic_load(&h.client_close) == MPSYNC__WIRE__CLOSE_CODE__CLOSE_PROTOCOL_ERROR);
  nothing_taken(&h, c, &rec);
  mps_store *st;
  char err[256];
  EXPECT(mps_store_open(dir, &st, err, sizeof err) == 0);
  mps_stream_point **pts;
  size_t n;
  EXPECT(mps_store_points(st, "u1", 0, &pts, &n) == 0);
  mps_store_points_free(pts, n);
  EXPECT(n == 0);
  EXPECT(mps_store_pending(st) == 0);
  mps_store_close(st);
  rm_rf(dir);
}

/* Online; keep-0 .. keep-4 pushed to u1's UCHAT, cached, acknowledged, then handed to the app as
 * one message that it does not report. */
static void five_in_flight(fixture *f) {
  online(f);
  for (int i = 0; i < 5; i++) {
    char third[16];
    snprintf(third, sizeof third, "keep-%d", i);
    EXPECT_CODE(push_text(&f->server, "UCHAT", "u1", third, "x"), "SUCCESS");
  }
  sleep_ms(300); /* cached and acknowledged; registered now, they go out as one message */
  EXPECT(mpsync_register_biz(f->client, "UCHAT", recorder_cb, &f->rec) == 0);
  if (recorder_wait(&f->rec, 5, 5000) != 0) FAIL("the five oplogs never arrived");
}

/* Issue 13 item 6 (C21): five oplogs delivered, acknowledged, not reported; then the cache's
 * first 100 bytes are zeroed. The client starts afresh and the server, told so, sends them
 * again: nothing acknowledged is lost with the cache. */
static void lost_cache_gets_unreported_oplogs_again(void) {
  fixture f;
  setup(&f, 0);
  EXPECT(mpsync_client_new(&f.cfg, &f.client) == 0);
  EXPECT(mpsync_bind_user(f.client, "u1", "s1") == 0);
  five_in_flight(&f);
  sleep_ms(300); /* committed and acknowledged */
  EXPECT(mpsync_client_free(f.client) == 0);
  char path[128];
  snprintf(path, sizeof path, "%s/mpsync.db", f.dir);
  FILE *db = fopen(path, "r+b");
  EXPECT(db != NULL);
  static const char zeros[100];
  EXPECT(fwrite(zeros, 1, sizeof zeros, db) == sizeof zeros);
  fclose(db);
  EXPECT(mpsync_client_new(&f.cfg, &f.client) == 0);
  EXPECT(mpsync_bind_user(f.client, "u1", "s1") == 0);
  EXPECT(mpsync_register_biz(f.client, "UCHAT", recorder_cb, &f.rec) == 0);
  EXPECT(mpsync_foreground(f.client) == 0);
  if (recorder_wait(&f.rec, 10, 10000) != 0)
    FAIL("after the cache was lost only %zu of 5 came back", recorder_count(&f.rec) - 5);
  for (int i = 0; i < 5; i++)
    EXPECT(strcmp(recorder_get(&f.rec, 5 + (size_t)i).third, recorder_get(&f.rec, (size_t)i).third) == 0);
  teardown(&f);
}

/* A user id of 100 four-byte characters: 400 bytes in every stream point of that user. */
static void fat_user_id(char *out, size_t len) {
  out[0] = '\0';
  for (int i = 0; i < 100 && strlen(out) + 5 < len; i++) strcat(out, "\xF0\x9F\x98\x80");
}

/* Issue 13 item 9: a hostile server planted so many streams that the Hello, which announces every
 * one, passed the 1 MiB frame limit; the client then could not say Hello to any server again.
 * 2 800 streams of a 400-byte user id make that Hello ~1.2 MB (8 000 short ones did in the issue).
 * Afterwards the same cache must still connect to an honest server and receive. */
static void item9_planted_streams_never_cut_the_client_off(void) {
  char user[512];
  fat_user_id(user, sizeof user);
  hostile_server h = {.mode = HOSTILE_PLANT_STREAMS, .user = user, .streams = 2800};
  char dir[64];
  recorder rec;
  mpsync_config cfg;
  mpsync_client *c = against_double(&h, dir, sizeof dir, &rec, &cfg);
  EXPECT(mpsync_bind_user(c, user, "s1") == 0);
  EXPECT(mpsync_foreground(c) == 0);
  uint64_t until = now_ms() + 60000;
  while (atomic_load(&h.acks) < (int)h.streams && now_ms() < until &&
         recorder_wait_log(&rec, "refused a new user stream", 100) != 0) {
  }
  EXPECT(mpsync_client_free(c) == 0);
  hostile_stop(&h);
  fprintf(stderr, "hostile server: %d links, %d acks\n", atomic_load(&h.links), atomic_load(&h.acks));
  /* What the cache kept fits in a Hello. */
  mps_store *st;
  char err[256];
  EXPECT(mps_store_open(dir, &st, err, sizeof err) == 0);
  mps_stream_point **pts;
  size_t n;
  EXPECT(mps_store_points(st, user, 0, &pts, &n) == 0);
  mps_store_points_free(pts, n);
  mps_store_close(st);
  fprintf(stderr, "streams kept: %zu\n", n);
  EXPECT(n <= MPS_MAX_HELLO_STREAMS);

  mock server;
  mock_start(&server, bin_dir, BIZ);
  recorder honest;
  recorder_init(&honest, 1);
  client_config(&cfg, &server, dir, &honest);
  EXPECT(mpsync_client_new(&cfg, &c) == 0);
  EXPECT(mpsync_bind_user(c, user, "s1") == 0);
  EXPECT(mpsync_register_biz(c, "UCHAT", recorder_cb, &honest) == 0);
  EXPECT(mpsync_foreground(c) == 0);
  if (recorder_wait_state(&honest, MPSYNC_STATE_CONNECTED, 10000) != 0)
    FAIL("cut off: the planted streams keep the client from saying Hello to an honest server");
  EXPECT_CODE(push_text(&server, "UCHAT", user, "after-plant", "x"), "SUCCESS");
  if (recorder_wait(&honest, 1, 5000) != 0) FAIL("nothing received from the honest server");
  EXPECT(strcmp(recorder_get(&honest, 0).third, "after-plant") == 0);
  EXPECT(mpsync_client_free(c) == 0);
  mock_stop(&server);
  rm_rf(dir);
}

static atomic_int connects_seen[2];

/* Counts "connected to" lines per client (user_data: its index), for connection rates. */
static void count_connects(void *ud, mpsync_log_level level, const char *msg) {
  (void)level;
  if (strstr(msg, "connected to ")) atomic_fetch_add(&connects_seen[(intptr_t)ud], 1);
  if (strstr(msg, "device id")) fprintf(stderr, "[%d] %s\n", (int)(intptr_t)ud, msg);
}

/* Issue 13 item 10: a server that welcomes and then drops at once drew two connections a second
 * forever. Over 20 s the client may connect a handful of times (the back-off doubles from 1 s);
 * the storm was ~40. Generous bound: 12. */
static void item10_welcome_then_drop_is_bounded(void) {
  hostile_server h = {.mode = HOSTILE_WELCOME_THEN_DROP, .close_code = -1};
  hostile_start(&h);
  char dir[64];
  make_temp_dir(dir, sizeof dir);
  mock fake = {.link_port = h.port};
  mpsync_config cfg;
  client_config(&cfg, &fake, dir, NULL);
  cfg.state_fn = NULL;
  mpsync_client *c;
  EXPECT(mpsync_client_new(&cfg, &c) == 0);
  EXPECT(mpsync_foreground(c) == 0);
  sleep_ms(20000);
  EXPECT(mpsync_client_free(c) == 0);
  int links = atomic_load(&h.links);
  hostile_stop(&h);
  fprintf(stderr, "welcome-then-drop: %d connections in 20 s\n", links);
  EXPECT(links >= 2);
  if (links > 12) FAIL("%d connections in 20 s to a server that drops every link", links);
  /* The same with CLOSE_REPLACED as the reason. */
  hostile_server r = {.mode = HOSTILE_WELCOME_THEN_DROP,
                      .close_code = MPSYNC__WIRE__CLOSE_CODE__CLOSE_REPLACED};
  hostile_start(&r);
  fake.link_port = r.port;
  client_config(&cfg, &fake, dir, NULL);
  cfg.state_fn = NULL;
  EXPECT(mpsync_client_new(&cfg, &c) == 0);
  EXPECT(mpsync_foreground(c) == 0);
  sleep_ms(20000);
  EXPECT(mpsync_client_free(c) == 0);
  links = atomic_load(&r.links);
  hostile_stop(&r);
  fprintf(stderr, "welcome-then-replaced: %d connections in 20 s\n", links);
  if (links > 12) FAIL("%d connections in 20 s to a server that replaces every link", links);
  rm_rf(dir);
}

/* Issue 13 item 10: a backup restored onto a second phone: two installs with one device id
 * replace each other on the server. The connections stay bounded, the copy (its files are new)
 * takes a new device id, the original keeps its own, and then both stay connected. */
static void item10_device_id_collision_resolved(void) {
  mock server;
  mock_start(&server, bin_dir, BIZ);
  char dir_a[64], dir_b[64];
  make_temp_dir(dir_a, sizeof dir_a);
  make_temp_dir(dir_b, sizeof dir_b);
  mpsync_config cfg_a, cfg_b;
  client_config(&cfg_a, &server, dir_a, NULL);
  cfg_a.state_fn = NULL;
  cfg_a.log_fn = count_connects;
  cfg_a.user_data = (void *)(intptr_t)0;
  mpsync_client *a, *b;
  EXPECT(mpsync_client_new(&cfg_a, &a) == 0); /* A's files: the original install */
  char id_a[64], id_b[64];
  EXPECT(mpsync_device_id(a, id_a, sizeof id_a) > 0);
  EXPECT(mpsync_client_free(a) == 0);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "cp -a '%s/.' '%s/'", dir_a, dir_b); /* the restored backup */
  EXPECT(system(cmd) == 0);
  cfg_b = cfg_a;
  cfg_b.data_dir = dir_b;
  cfg_b.user_data = (void *)(intptr_t)1;
  atomic_store(&connects_seen[0], 0);
  atomic_store(&connects_seen[1], 0);
  EXPECT(mpsync_client_new(&cfg_a, &a) == 0);
  EXPECT(mpsync_client_new(&cfg_b, &b) == 0);
  EXPECT(mpsync_device_id(b, id_b, sizeof id_b) > 0);
  EXPECT(strcmp(id_a, id_b) == 0);
  EXPECT(mpsync_foreground(a) == 0);
  EXPECT(mpsync_foreground(b) == 0);
  uint64_t start = now_ms();
  /* The copy notices after three replacements within ten minutes (seconds, with the back-off). */
  while (now_ms() - start < 60000) {
    EXPECT(mpsync_device_id(b, id_b, sizeof id_b) > 0);
    if (strcmp(id_a, id_b) != 0) break;
    sleep_ms(100);
  }
  int connects = atomic_load(&connects_seen[0]) + atomic_load(&connects_seen[1]);
  fprintf(stderr, "collision resolved after %llu ms and %d connections\n",
          (unsigned long long)(now_ms() - start), connects);
  if (strcmp(id_a, id_b) == 0) FAIL("the copy never took a new device id");
  char now_a[64];
  EXPECT(mpsync_device_id(a, now_a, sizeof now_a) > 0);
  EXPECT(strcmp(now_a, id_a) == 0); /* the original keeps its id */
  if (connects > 30) FAIL("%d connections before the collision was resolved", connects);
  /* Resolved: both connected at once, and no more replacing each other. */
  uint64_t until = now_ms() + 30000;
  while (!(mpsync_is_connected(a) && mpsync_is_connected(b)) && now_ms() < until) sleep_ms(50);
  EXPECT(mpsync_is_connected(a) && mpsync_is_connected(b));
  int settled = atomic_load(&connects_seen[0]) + atomic_load(&connects_seen[1]);
  sleep_ms(3000);
  EXPECT(mpsync_is_connected(a) && mpsync_is_connected(b));
  EXPECT(atomic_load(&connects_seen[0]) + atomic_load(&connects_seen[1]) == settled);
  EXPECT(mpsync_client_free(a) == 0);
  EXPECT(mpsync_client_free(b) == 0);
  /* The new id is the copy's for good. */
  EXPECT(mpsync_client_new(&cfg_b, &b) == 0);
  char again[64];
  EXPECT(mpsync_device_id(b, again, sizeof again) > 0);
  EXPECT(strcmp(again, id_b) == 0);
  EXPECT(mpsync_client_free(b) == 0);
  mock_stop(&server);
  rm_rf(dir_a);
  rm_rf(dir_b);
}

static int times_seen(recorder *r, const char *third) {
  int n = 0;
  for (size_t i = 0; i < recorder_count(r); i++) n += strcmp(recorder_get(r, i).third, third) == 0;
  return n;
}

/* Issue 13 item 6b: the cache file deleted or truncated while the client runs. Before, SQLite
 * went on in the unlinked or damaged file, nothing was logged, and everything acknowledged but
 * unreported was lost at the next start. Now the next batch notices, the cache is rebuilt, and
 * the fresh Hello makes the server resend every unreported oplog. */
static void cache_lost_while_running(int truncate_it) {
  fixture f;
  setup(&f, 0);
  f.cfg.redelivery_base_ms = 120000; /* no redelivery inside the test: a second copy is a resend */
  f.cfg.log_fn = recorder_log;
  f.cfg.log_level = MPSYNC_LOG_WARN;
  EXPECT(mpsync_client_new(&f.cfg, &f.client) == 0);
  EXPECT(mpsync_bind_user(f.client, "u1", "s1") == 0);
  five_in_flight(&f);
  sleep_ms(300); /* in flight, never reported */
  char path[128];
  snprintf(path, sizeof path, "%s/mpsync.db", f.dir);
  if (truncate_it)
    EXPECT(truncate(path, 1024) == 0);
  else
    EXPECT(unlink(path) == 0);
  EXPECT_CODE(push_text(&f.server, "UCHAT", "u1", "after-loss", "x"), "SUCCESS");
  uint64_t until = now_ms() + 15000;
  int all = 0;
  while (!all && now_ms() < until) {
    all = times_seen(&f.rec, "after-loss") >= 1;
    for (int i = 0; i < 5 && all; i++) {
      char third[16];
      snprintf(third, sizeof third, "keep-%d", i);
      all = times_seen(&f.rec, third) >= 2;
    }
    if (!all) sleep_ms(50);
  }
  if (!all) FAIL("after the cache was %s, not every unreported oplog came again (%zu seen)",
                 truncate_it ? "truncated" : "deleted", recorder_count(&f.rec));
  EXPECT(recorder_wait_log(&f.rec, "while in use", 1000) == 0);
  struct stat sb;
  EXPECT(stat(path, &sb) == 0 && sb.st_size > 1024); /* a real cache again, not a lost inode */
  teardown(&f);
}

static void item6b_cache_deleted_while_running_resends_unreported(void) {
  cache_lost_while_running(0);
}

static void item6b_cache_truncated_while_running_resends_unreported(void) {
  cache_lost_while_running(1);
}

static const named_test tests[] = {
    {"register_unregister_race_loses_nothing", register_unregister_race_loses_nothing},
    {"rebind_same_user_keeps_queued_message", rebind_same_user_keeps_queued_message},
    {"old_smaller_config_struct_works", old_smaller_config_struct_works},
    {"newer_config_struct_refused_only_with_unknown_fields_set",
     newer_config_struct_refused_only_with_unknown_fields_set},
    {"chinese_user_id_within_limit_connects", chinese_user_id_within_limit_connects},
    {"free_from_callback_is_refused_clearly", free_from_callback_is_refused_clearly},
    {"free_is_bounded_against_a_peer_that_never_reads",
     free_is_bounded_against_a_peer_that_never_reads},
    {"free_sends_close_frame_before_the_end", free_sends_close_frame_before_the_end},
    {"state_change_logged_once_and_errors_explained", state_change_logged_once_and_errors_explained},
    {"withdrawn_message_is_not_counted", withdrawn_message_is_not_counted},
    {"reported_message_never_runs_again_from_the_queue",
     reported_message_never_runs_again_from_the_queue},
    {"background_grace_keeps_link_for_live_pushes", background_grace_keeps_link_for_live_pushes},
    {"foreign_device_stream_refused", foreign_device_stream_refused},
    {"foreign_user_stream_refused", foreign_user_stream_refused},
    {"nul_in_batch_target_refused", nul_in_batch_target_refused},
    {"lost_cache_gets_unreported_oplogs_again", lost_cache_gets_unreported_oplogs_again},
    {"item9_planted_streams_never_cut_the_client_off", item9_planted_streams_never_cut_the_client_off},
    {"item10_welcome_then_drop_is_bounded", item10_welcome_then_drop_is_bounded},
    {"item10_device_id_collision_resolved", item10_device_id_collision_resolved},
    {"item6b_cache_deleted_while_running_resends_unreported",
     item6b_cache_deleted_while_running_resends_unreported},
    {"item6b_cache_truncated_while_running_resends_unreported",
     item6b_cache_truncated_while_running_resends_unreported},
};

int main(int argc, char **argv) {
  return run_named_test(tests, sizeof tests / sizeof tests[0], argc, argv, &bin_dir);
}
