/* Unit tests of the client policy with a fake clock: back-off, heartbeat, redelivery, users, purge. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "check.h"
#include "core/policy.h"

/* Every action left, as one line: "CONNECT STATE1 DISPATCH:UCHAT ...". */
static const char *drain(mps_policy *p) {
  static char out[2048];
  size_t len = 0;
  out[0] = '\0';
  mps_action a;
  while (mps_policy_next(p, &a)) {
    char one[96];
    switch (a.type) {
      case MPS_DO_CONNECT: snprintf(one, sizeof one, "CONNECT"); break;
      case MPS_DO_DISCONNECT: snprintf(one, sizeof one, "DISCONNECT"); break;
      case MPS_DO_STATE: snprintf(one, sizeof one, "STATE%d", a.state); break;
      case MPS_DO_DISPATCH: snprintf(one, sizeof one, "DISPATCH:%s", a.biz); break;
      case MPS_DO_RECALL: snprintf(one, sizeof one, "RECALL:%s", a.biz); break;
      case MPS_DO_PULL_GLOBAL: snprintf(one, sizeof one, "PULL"); break;
      case MPS_DO_SET_HEARTBEAT: snprintf(one, sizeof one, "HB=%u", a.value); break;
      case MPS_DO_SAVE_HEARTBEAT: snprintf(one, sizeof one, "SAVE%d=%u", a.network, a.value); break;
      case MPS_DO_DEVICE_COLLISION: snprintf(one, sizeof one, "COLLISION%u", a.value); break;
    }
    len += (size_t)snprintf(out + len, sizeof out - len, "%s%s", len ? " " : "", one);
  }
  return out;
}

static mps_policy *make(uint32_t grace_ms) {
  mps_policy_config cfg = {.redelivery_base_ms = 5000,
                           .redelivery_cap_ms = 600000,
                           .reconnect_max_ms = 60000,
                           .stable_ms = 30000,
                           .background_grace_ms = grace_ms,
                           .default_heartbeat_s = 30,
                           .seed = 42};
  mps_policy *p = mps_policy_new(&cfg);
  CHECK(p);
  return p;
}

/* Foreground, connect, Welcome: the usual start, its actions drained. */
static mps_policy *online(uint64_t now) {
  mps_policy *p = make(0);
  mps_policy_foreground(p, now);
  CHECK_STR(drain(p), "CONNECT STATE1");
  mps_policy_link_up(p, now, 30, 120, 0);
  CHECK_STR(drain(p), "STATE2 HB=30 PULL");
  return p;
}

static void backoff_has_full_jitter_within_bounds_and_cap(void) {
  mps_policy *p = online(0);
  uint64_t now = 1000;
  uint64_t ceilings[] = {1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000};
  int differs = 0;
  uint64_t last = 0;
  for (size_t i = 0; i < sizeof ceilings / sizeof *ceilings; i++) {
    mps_policy_link_down(p, now, "refused", 0, MPS_DOWN_ERROR);
    drain(p);
    uint64_t at = mps_policy_deadline(p);
    CHECK(at != MPS_POLICY_NO_DEADLINE);
    uint64_t delay = at - now;
    CHECK(delay >= 50);               /* never a tight loop */
    CHECK(delay <= ceilings[i]);      /* first try within 1 s, doubling, capped (C11) */
    if (i && delay != last) differs = 1;
    last = delay;
    mps_policy_tick(p, at - 1);
    CHECK_STR(drain(p), "");          /* not a moment early */
    mps_policy_tick(p, at);
    CHECK_STR(drain(p), "CONNECT STATE1");
    now = at;
  }
  CHECK(differs); /* jitter, not a fixed schedule */
  mps_policy_free(p);
}

static void backoff_honours_server_retry_after_within_10_to_600_s(void) {
  mps_policy *p = online(0);
  mps_policy_link_down(p, 100, "closed by server", 5, MPS_DOWN_ERROR);
  CHECK_STR(drain(p), "STATE0");
  CHECK_EQ(mps_policy_deadline(p), 100 + 10000);
  mps_policy_tick(p, 100 + 10000);
  CHECK_STR(drain(p), "CONNECT STATE1");
  mps_policy_link_down(p, 20000, "closed by server", 3600, MPS_DOWN_ERROR);
  CHECK_STR(drain(p), "STATE3");
  CHECK_EQ(mps_policy_deadline(p), 20000 + 600000);
  mps_policy_free(p);
}

/* A server that welcomes and drops at once must not get two connections a second forever. */
static void backoff_resets_only_after_a_stable_link(void) {
  mps_policy *p = online(0);
  uint64_t now = 0;
  for (int i = 0; i < 8; i++) {
    mps_policy_link_down(p, now + 10, "dropped", 0, MPS_DOWN_ERROR);
    drain(p);
    now = mps_policy_deadline(p);
    mps_policy_tick(p, now);
    mps_policy_link_up(p, now, 30, 30, 0);
    drain(p);
  }
  mps_policy_link_down(p, now + 10, "dropped", 0, MPS_DOWN_ERROR);
  drain(p);
  /* Eight welcome-then-drop rounds: the ceiling grew past 1 s despite every Welcome. It may draw
   * a short delay by chance, so look at many draws of the same attempt number instead. */
  uint64_t longest = 0;
  for (int i = 0; i < 20; i++) {
    mps_policy *q = online(0);
    uint64_t t = 0;
    for (int k = 0; k < 6; k++) {
      mps_policy_link_down(q, t + 10, "dropped", 0, MPS_DOWN_ERROR);
      drain(q);
      t = mps_policy_deadline(q);
      mps_policy_tick(q, t);
      mps_policy_link_up(q, t, 30, 30, 0);
      drain(q);
    }
    mps_policy_link_down(q, t + 10, "dropped", 0, MPS_DOWN_ERROR);
    drain(q);
    uint64_t d = mps_policy_deadline(q) - (t + 10);
    if (d > longest) longest = d;
    mps_policy_free(q);
  }
  CHECK(longest > 1000);
  /* After a link that stayed up past stable_ms, the next failure starts from 1 s again. */
  now = mps_policy_deadline(p);
  mps_policy_tick(p, now);
  mps_policy_link_up(p, now, 30, 30, 0);
  drain(p);
  mps_policy_link_down(p, now + 30000, "dropped", 0, MPS_DOWN_ERROR);
  drain(p);
  CHECK(mps_policy_deadline(p) - (now + 30000) <= 1000);
  mps_policy_free(p);
}

static void connect_failure_reports_connect_failed_each_time(void) {
  mps_policy *p = make(0);
  mps_policy_foreground(p, 0);
  CHECK_STR(drain(p), "CONNECT STATE1");
  mps_policy_link_down(p, 5, "refused", 0, MPS_DOWN_ERROR);
  CHECK_STR(drain(p), "STATE3");
  mps_policy_tick(p, mps_policy_deadline(p));
  CHECK_STR(drain(p), "CONNECT STATE1");
  mps_policy_link_down(p, 5000, "refused", 0, MPS_DOWN_ERROR);
  CHECK_STR(drain(p), "STATE3");
  mps_policy_free(p);
}

static void heartbeat_stretches_after_three_pongs_up_to_max(void) {
  mps_policy *p = online(0);
  mps_policy_pong(p, 1);
  mps_policy_pong(p, 2);
  CHECK_STR(drain(p), "");
  mps_policy_pong(p, 3);
  CHECK_STR(drain(p), "SAVE0=30 HB=60");
  for (int i = 0; i < 3; i++) mps_policy_pong(p, 4);
  CHECK_STR(drain(p), "SAVE0=60 HB=90");
  for (int i = 0; i < 3; i++) mps_policy_pong(p, 5);
  CHECK_STR(drain(p), "SAVE0=90 HB=120");
  for (int i = 0; i < 3; i++) mps_policy_pong(p, 6);
  CHECK_STR(drain(p), "SAVE0=120"); /* the server's maximum: no further */
  for (int i = 0; i < 3; i++) mps_policy_pong(p, 7);
  CHECK_STR(drain(p), "");
  CHECK_EQ(mps_policy_heartbeat_s(p), 120);
  mps_policy_free(p);
}

static void heartbeat_starts_at_learned_interval_within_server_max(void) {
  mps_policy *p = make(0);
  mps_policy_foreground(p, 0);
  drain(p);
  mps_policy_link_up(p, 0, 30, 90, 270);
  CHECK_STR(drain(p), "STATE2 HB=90 PULL");
  mps_policy_free(p);
}

static void heartbeat_falls_back_one_step_after_silence_and_settles(void) {
  mps_policy *p = online(0);
  for (int i = 0; i < 6; i++) mps_policy_pong(p, 1);
  CHECK_STR(drain(p), "SAVE0=30 HB=60 SAVE0=60 HB=90");
  mps_policy_link_down(p, 100, "heartbeat timeout", 0, MPS_DOWN_SILENCE);
  CHECK_STR(drain(p), "SAVE0=60 STATE0");
  mps_policy_tick(p, mps_policy_deadline(p));
  drain(p);
  mps_policy_link_up(p, 200000, 30, 120, 60);
  CHECK_STR(drain(p), "STATE2 HB=60 PULL");
  for (int i = 0; i < 6; i++) mps_policy_pong(p, 200001);
  CHECK_STR(drain(p), ""); /* settled on this network: no stretching, nothing new to save */
  /* Another network is another story. */
  mps_policy_network_changed(p, 1, 200002);
  CHECK_STR(drain(p), "DISCONNECT STATE0 CONNECT STATE1");
  mps_policy_link_up(p, 200003, 30, 120, 0);
  CHECK_STR(drain(p), "STATE2 HB=30 PULL");
  for (int i = 0; i < 3; i++) mps_policy_pong(p, 200004);
  CHECK_STR(drain(p), "SAVE1=30 HB=60");
  mps_policy_free(p);
}

static void redelivery_doubles_from_base_and_is_capped(void) {
  mps_policy *p = online(0);
  mps_policy_register(p, "UCHAT", 0);
  CHECK_STR(drain(p), "DISPATCH:UCHAT");
  uint64_t now = 10;
  uint64_t waits[] = {5000, 10000, 20000, 40000, 80000, 160000, 320000, 600000, 600000};
  for (unsigned d = 1; d <= 9; d++) {
    mps_policy_dispatched(p, "UCHAT", 1, d, now);
    CHECK(mps_policy_in_flight(p, "UCHAT"));
    CHECK_EQ(mps_policy_deadline(p), now + waits[d - 1]);
    mps_policy_tick(p, now + waits[d - 1] - 1);
    CHECK_STR(drain(p), "");
    now += waits[d - 1];
    mps_policy_tick(p, now);
    CHECK_STR(drain(p), "RECALL:UCHAT DISPATCH:UCHAT");
  }
  mps_policy_free(p);
}

static void report_dispatches_next_at_once_and_stops_redelivery(void) {
  mps_policy *p = online(0);
  mps_policy_register(p, "UCHAT", 0);
  drain(p);
  mps_policy_dispatched(p, "UCHAT", 0, 1, 0);
  mps_policy_reported(p, "UCHAT", 1);
  CHECK_STR(drain(p), "DISPATCH:UCHAT");
  mps_policy_dispatch_empty(p, "UCHAT");
  CHECK_EQ(mps_policy_deadline(p), MPS_POLICY_NO_DEADLINE);
  /* New oplogs while idle are handed out; while one is in flight they wait (C4). */
  mps_policy_stored(p, "UCHAT", 2);
  CHECK_STR(drain(p), "DISPATCH:UCHAT");
  mps_policy_dispatched(p, "UCHAT", 0, 1, 2);
  mps_policy_stored(p, "UCHAT", 3);
  CHECK_STR(drain(p), "");
  mps_policy_free(p);
}

static void unregistered_biz_is_never_dispatched_and_recalls_in_flight(void) {
  mps_policy *p = online(0);
  mps_policy_stored(p, "TRADE", 1);
  CHECK_STR(drain(p), ""); /* C7: no callback, no dispatch */
  mps_policy_register(p, "TRADE", 2);
  CHECK_STR(drain(p), "DISPATCH:TRADE");
  mps_policy_dispatched(p, "TRADE", 1, 1, 3);
  mps_policy_unregister(p, "TRADE");
  CHECK_STR(drain(p), "RECALL:TRADE");
  mps_policy_stored(p, "TRADE", 4);
  mps_policy_tick(p, 1000000);
  CHECK_STR(drain(p), "");
  mps_policy_free(p);
}

static void redelivered_at_reconnect_if_dispatched_before_the_link(void) {
  mps_policy *p = online(0);
  mps_policy_register(p, "UCHAT", 0);
  drain(p);
  mps_policy_dispatched(p, "UCHAT", 0, 1, 100);
  mps_policy_link_down(p, 200, "reset", 0, MPS_DOWN_ERROR);
  drain(p);
  uint64_t at = mps_policy_deadline(p);
  mps_policy_tick(p, at);
  CHECK_STR(drain(p), "CONNECT STATE1");
  mps_policy_link_up(p, at + 5, 30, 30, 0);
  CHECK_STR(drain(p), "STATE2 HB=30 PULL RECALL:UCHAT DISPATCH:UCHAT");
  mps_policy_free(p);
}

/* What the cache handed out before the first link (at start) is not repeated for that link. */
static void first_link_does_not_repeat_what_was_handed_out_before_it(void) {
  mps_policy *p = make(0);
  mps_policy_register(p, "UCHAT", 0);
  CHECK_STR(drain(p), "DISPATCH:UCHAT");
  mps_policy_dispatched(p, "UCHAT", 1, 1, 1);
  mps_policy_foreground(p, 2);
  CHECK_STR(drain(p), "CONNECT STATE1");
  mps_policy_link_up(p, 3, 30, 30, 0);
  CHECK_STR(drain(p), "STATE2 HB=30 PULL");
  mps_policy_free(p);
}

/* Issue 17: no repeat at a foreground right after a dispatch; a repeat for one from before. */
static void foreground_redelivers_only_what_was_dispatched_before_background(void) {
  mps_policy *p = online(0);
  mps_policy_register(p, "UCHAT", 0);
  mps_policy_register(p, "TRADE", 0);
  drain(p);
  mps_policy_dispatched(p, "UCHAT", 0, 1, 100);
  mps_policy_background(p, 200);
  CHECK_STR(drain(p), "DISCONNECT STATE0");
  mps_policy_dispatched(p, "TRADE", 0, 1, 300); /* handed out while in the background */
  mps_policy_foreground(p, 400);
  CHECK_STR(drain(p), "CONNECT STATE1 RECALL:UCHAT DISPATCH:UCHAT");
  /* A second foreground call while already foreground repeats nothing. */
  mps_policy_foreground(p, 401);
  CHECK_STR(drain(p), "");
  mps_policy_free(p);
}

static void foreground_while_up_pulls_global(void) {
  mps_policy *p = make(60000);
  mps_policy_foreground(p, 0);
  drain(p);
  mps_policy_link_up(p, 0, 30, 30, 0);
  drain(p);
  mps_policy_background(p, 10);
  CHECK_STR(drain(p), ""); /* grace: the link stays */
  mps_policy_foreground(p, 20);
  CHECK_STR(drain(p), "PULL");
  mps_policy_free(p);
}

static void background_grace_keeps_link_then_closes(void) {
  mps_policy *p = make(180000);
  mps_policy_foreground(p, 0);
  drain(p);
  mps_policy_link_up(p, 0, 30, 30, 0);
  drain(p);
  mps_policy_background(p, 1000);
  CHECK_STR(drain(p), "");
  CHECK(mps_policy_link_is_up(p));
  CHECK_EQ(mps_policy_deadline(p), 181000);
  mps_policy_tick(p, 180999);
  CHECK_STR(drain(p), "");
  mps_policy_tick(p, 181000);
  CHECK_STR(drain(p), "DISCONNECT STATE0");
  CHECK_EQ(mps_policy_deadline(p), MPS_POLICY_NO_DEADLINE); /* silent in the background */
  /* A link lost inside the grace is not replaced while the app is away. */
  mps_policy_foreground(p, 200000);
  drain(p);
  mps_policy_link_up(p, 200001, 30, 30, 0);
  drain(p);
  mps_policy_background(p, 200002);
  mps_policy_link_down(p, 200003, "reset", 0, MPS_DOWN_ERROR);
  CHECK_STR(drain(p), "STATE0");
  CHECK_EQ(mps_policy_deadline(p), MPS_POLICY_NO_DEADLINE);
  mps_policy_free(p);
}

static void background_closes_at_once_without_grace_and_stays_silent(void) {
  mps_policy *p = online(0);
  mps_policy_link_down(p, 10, "reset", 0, MPS_DOWN_ERROR);
  drain(p);
  mps_policy_background(p, 20);
  CHECK_STR(drain(p), ""); /* already disconnected: no repeated state */
  CHECK_EQ(mps_policy_deadline(p), MPS_POLICY_NO_DEADLINE); /* the pending reconnect is gone */
  mps_policy_network_changed(p, 2, 30);
  CHECK_STR(drain(p), "");
  mps_policy_free(p);
}

static void user_switch_recalls_user_messages_and_replaces_link(void) {
  mps_policy *p = online(0);
  CHECK_EQ(mps_policy_set_user(p, "u1", "s1", 0), 0);
  CHECK_STR(drain(p), "DISCONNECT STATE0 CONNECT STATE1");
  mps_policy_link_up(p, 1, 30, 30, 0);
  drain(p);
  unsigned gen = mps_policy_user_gen(p);
  mps_policy_register(p, "UCHAT", 2);
  mps_policy_register(p, "DEVCFG", 2);
  drain(p);
  mps_policy_dispatched(p, "UCHAT", 1, 1, 3);
  mps_policy_dispatched(p, "DEVCFG", 0, 1, 3);
  CHECK_EQ(mps_policy_set_user(p, "u2", "s2", 4), 0);
  CHECK_STR(drain(p), "RECALL:UCHAT DISCONNECT STATE0 CONNECT STATE1 DISPATCH:UCHAT");
  CHECK(mps_policy_user_gen(p) == gen + 1);
  CHECK_STR(mps_policy_user(p), "u2");
  CHECK(mps_policy_in_flight(p, "DEVCFG")); /* device data is not the user's (C9) */
  mps_policy_free(p);
}

/* Issue 12 defect 2: apps bind the same user and session at every start. */
static void rebind_same_user_and_session_changes_nothing(void) {
  mps_policy *p = online(0);
  mps_policy_set_user(p, "u1", "s1", 0);
  drain(p);
  mps_policy_link_up(p, 1, 30, 30, 0);
  mps_policy_register(p, "UCHAT", 2);
  drain(p);
  mps_policy_dispatched(p, "UCHAT", 1, 1, 3);
  unsigned gen = mps_policy_user_gen(p);
  CHECK_EQ(mps_policy_set_user(p, "u1", "s1", 4), 0);
  CHECK_STR(drain(p), "");
  CHECK(mps_policy_user_gen(p) == gen);
  CHECK(mps_policy_in_flight(p, "UCHAT"));
  /* A new session of the same user: a new handshake, the message stays his and in flight. */
  CHECK_EQ(mps_policy_set_user(p, "u1", "s2", 5), 0);
  CHECK_STR(drain(p), "DISCONNECT STATE0 CONNECT STATE1");
  CHECK(mps_policy_user_gen(p) == gen);
  CHECK(mps_policy_in_flight(p, "UCHAT"));
  mps_policy_free(p);
}

static void clear_user_recalls_and_bumps_generation(void) {
  mps_policy *p = online(0);
  mps_policy_set_user(p, "u1", "s1", 0);
  mps_policy_register(p, "UCHAT", 0);
  drain(p);
  mps_policy_dispatched(p, "UCHAT", 1, 1, 1);
  unsigned gen = mps_policy_user_gen(p);
  mps_policy_set_user(p, NULL, NULL, 2);
  CHECK_STR(drain(p), "RECALL:UCHAT DISCONNECT STATE0 CONNECT STATE1 DISPATCH:UCHAT");
  CHECK(mps_policy_user(p) == NULL);
  CHECK(mps_policy_user_gen(p) == gen + 1);
  mps_policy_free(p);
}

static void purge_recalls_what_it_names_and_resyncs(void) {
  mps_policy *p = online(0);
  mps_policy_set_user(p, "u1", "s1", 0);
  mps_policy_link_up(p, 0, 30, 30, 0);
  mps_policy_register(p, "UCHAT", 0);
  mps_policy_register(p, "DEVCFG", 0);
  drain(p);
  mps_policy_dispatched(p, "UCHAT", 1, 1, 1);
  mps_policy_dispatched(p, "DEVCFG", 0, 1, 1);
  mps_policy_purged(p, "someone-else", 2);
  CHECK_STR(drain(p), "DISCONNECT STATE0 CONNECT STATE1");
  CHECK(mps_policy_in_flight(p, "UCHAT"));
  mps_policy_link_up(p, 3, 30, 30, 0);
  CHECK_STR(drain(p), "STATE2 HB=30 PULL RECALL:UCHAT DISPATCH:UCHAT RECALL:DEVCFG DISPATCH:DEVCFG");
  mps_policy_dispatched(p, "UCHAT", 1, 2, 3);
  mps_policy_dispatched(p, "DEVCFG", 0, 2, 3);
  mps_policy_purged(p, "u1", 4);
  CHECK_STR(drain(p), "RECALL:UCHAT DISCONNECT STATE0 CONNECT STATE1 DISPATCH:UCHAT");
  CHECK(mps_policy_in_flight(p, "DEVCFG"));
  mps_policy_purged(p, NULL, 5);
  CHECK_STR(drain(p), "RECALL:DEVCFG DISCONNECT STATE0 CONNECT STATE1 DISPATCH:DEVCFG");
  mps_policy_free(p);
}

static void full_cache_resyncs_once_room_frees(void) {
  mps_policy *p = online(0);
  mps_policy_cache_room(p, 1);
  CHECK_STR(drain(p), ""); /* was never full */
  mps_policy_cache_full(p);
  mps_policy_cache_room(p, 2);
  CHECK_STR(drain(p), "DISCONNECT STATE0 CONNECT STATE1");
  mps_policy_cache_room(p, 3);
  CHECK_STR(drain(p), "");
  mps_policy_free(p);
}

/* The shortest wait drawn after one link lost for cause, over many seeds (attempt 0: ceiling 1 s),
 * after `before` earlier losses of the same cause. */
static uint64_t shortest_wait(mps_down_cause cause, int before) {
  uint64_t shortest = UINT64_MAX;
  for (uint64_t seed = 1; seed <= 200; seed++) {
    mps_policy_config cfg = {.redelivery_base_ms = 5000, .reconnect_max_ms = 60000,
                             .stable_ms = 30000, .default_heartbeat_s = 30, .seed = seed};
    mps_policy *p = mps_policy_new(&cfg);
    CHECK(p);
    mps_policy_foreground(p, 0);
    uint64_t t = 0;
    for (int k = 0; k <= before; k++) {
      mps_policy_link_up(p, t, 30, 30, 0);
      mps_policy_link_down(p, t + 10, "lost", 0, cause);
      drain(p);
      uint64_t d = mps_policy_deadline(p) - (t + 10);
      if (k == before && d < shortest) shortest = d;
      t = mps_policy_deadline(p);
      mps_policy_tick(p, t);
      drain(p);
    }
    mps_policy_free(p);
  }
  return shortest;
}

/* Issue 13 item 10: a link the server replaced with another of this device id waits at least half
 * the back-off ceiling (1 s at first), never the 50 ms floor: two installs sharing an id would
 * otherwise trade the link twice a second. An ordinary failure may still retry at once. */
static void item10_backoff_on_close_replaced(void) {
  CHECK(shortest_wait(MPS_DOWN_ERROR, 0) < 200);
  CHECK(shortest_wait(MPS_DOWN_REPLACED, 0) >= 500);
  CHECK(shortest_wait(MPS_DOWN_REPLACED, 3) >= 4000); /* the ceiling still doubles: 8 s */
}

/* Issue 13 item 10: a protocol error once retries like any failure; again and again, each wait is
 * at least half the doubling ceiling. A stable link forgets them. */
static void item10_backoff_on_repeated_protocol_errors(void) {
  CHECK(shortest_wait(MPS_DOWN_PROTOCOL, 0) < 200);
  CHECK(shortest_wait(MPS_DOWN_PROTOCOL, 1) >= 1000);
  CHECK(shortest_wait(MPS_DOWN_PROTOCOL, 4) >= 8000);
  mps_policy *p = online(0);
  mps_policy_link_down(p, 10, "bad batch", 0, MPS_DOWN_PROTOCOL);
  drain(p);
  uint64_t t = mps_policy_deadline(p);
  mps_policy_tick(p, t);
  mps_policy_link_up(p, t, 30, 30, 0);
  mps_policy_link_down(p, t + 40000, "bad batch", 0, MPS_DOWN_PROTOCOL);
  drain(p);
  /* After 40 s up, the count started over: this error is a first one again (ceiling 1 s). */
  CHECK(mps_policy_deadline(p) - (t + 40000) <= 1000);
  mps_policy_free(p);
}

/* Issue 13 item 10: replaced three times within ten minutes while this install did not reconnect
 * on its own: the policy says another install shares the device id, once per such series. */
static void item10_device_id_collision_detected(void) {
  mps_policy *p = online(0);
  uint64_t t = 0;
  for (int i = 0; i < 2; i++) {
    mps_policy_link_down(p, t + 100, "replaced", 0, MPS_DOWN_REPLACED);
    CHECK(strstr(drain(p), "COLLISION") == NULL);
    t = mps_policy_deadline(p);
    mps_policy_tick(p, t);
    mps_policy_link_up(p, t, 30, 30, 0);
    drain(p);
  }
  mps_policy_link_down(p, t + 100, "replaced", 0, MPS_DOWN_REPLACED);
  CHECK(strstr(drain(p), "COLLISION1") != NULL);
  /* The series starts over: the next replacement alone is not a collision. */
  t = mps_policy_deadline(p);
  mps_policy_tick(p, t);
  mps_policy_link_up(p, t, 30, 30, 0);
  drain(p);
  mps_policy_link_down(p, t + 100, "replaced", 0, MPS_DOWN_REPLACED);
  CHECK(strstr(drain(p), "COLLISION") == NULL);
  mps_policy_free(p);
  /* Three replacements spread over more than the window are not one. */
  p = online(0);
  t = 0;
  for (int i = 0; i < 3; i++) {
    mps_policy_link_down(p, t + 100, "replaced", 0, MPS_DOWN_REPLACED);
    CHECK(strstr(drain(p), "COLLISION") == NULL);
    t += MPS_POLICY_COLLISION_WINDOW_MS / 2 + 1000;
    mps_policy_tick(p, t);
    mps_policy_link_up(p, t, 30, 30, 0);
    drain(p);
  }
  mps_policy_free(p);
}

int main(void) {
  RUN(backoff_has_full_jitter_within_bounds_and_cap);
  RUN(backoff_honours_server_retry_after_within_10_to_600_s);
  RUN(backoff_resets_only_after_a_stable_link);
  RUN(connect_failure_reports_connect_failed_each_time);
  RUN(heartbeat_stretches_after_three_pongs_up_to_max);
  RUN(heartbeat_starts_at_learned_interval_within_server_max);
  RUN(heartbeat_falls_back_one_step_after_silence_and_settles);
  RUN(redelivery_doubles_from_base_and_is_capped);
  RUN(report_dispatches_next_at_once_and_stops_redelivery);
  RUN(unregistered_biz_is_never_dispatched_and_recalls_in_flight);
  RUN(redelivered_at_reconnect_if_dispatched_before_the_link);
  RUN(first_link_does_not_repeat_what_was_handed_out_before_it);
  RUN(foreground_redelivers_only_what_was_dispatched_before_background);
  RUN(foreground_while_up_pulls_global);
  RUN(background_grace_keeps_link_then_closes);
  RUN(background_closes_at_once_without_grace_and_stays_silent);
  RUN(user_switch_recalls_user_messages_and_replaces_link);
  RUN(rebind_same_user_and_session_changes_nothing);
  RUN(clear_user_recalls_and_bumps_generation);
  RUN(purge_recalls_what_it_names_and_resyncs);
  RUN(full_cache_resyncs_once_room_frees);
  RUN(item10_backoff_on_close_replaced);
  RUN(item10_backoff_on_repeated_protocol_errors);
  RUN(item10_device_id_collision_detected);
  return 0;
}
