/* Client policy without I/O: back-off, smart heartbeat, redelivery, user generations, as actions. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpsync/mpsync_errors.h"

/* The least pause between two attempts, so that a dead server is not hammered in a tight loop. */
#define BACKOFF_FLOOR_MS 50u
#define RETRY_AFTER_MIN_S 10u
#define RETRY_AFTER_MAX_S 600u

typedef enum phase { PHASE_IDLE, PHASE_CONNECTING, PHASE_UP } phase;

typedef struct biz_state {
  char biz[MPS_POLICY_BIZ_MAX];
  int registered;
  int dispatch_pending; /* a DISPATCH is queued and not answered yet */
  int in_flight;
  int user_stream;      /* the message in flight belongs to the bound user */
  unsigned delivery;
  uint64_t dispatched_at, redeliver_at;
} biz_state;

struct mps_policy {
  mps_policy_config cfg;
  uint64_t rng;

  mps_action *actions;
  size_t n_actions, head, cap_actions;

  biz_state *bizs;
  size_t n_bizs, cap_bizs;

  int foreground;
  uint64_t background_at;   /* when the app last went to the background; 0 = never */
  uint64_t grace_until;     /* link closes then (C23); 0 = no grace running */
  phase link;
  uint64_t attempt_started_at, up_since;
  uint64_t down_at;         /* when a link was last lost or dropped; 0 = never */
  unsigned attempt;         /* failed attempts since the last stable link */
  unsigned proto_errors;    /* links lost to a protocol error since the last stable link */
  uint64_t replaced_at[MPS_POLICY_COLLISION_REPLACED]; /* the last CLOSE_REPLACEDs, newest first */
  unsigned collisions;      /* DEVICE_COLLISION actions so far */
  uint64_t reconnect_at;    /* 0 = none scheduled */
  int last_state;
  int cache_full;

  char *user, *session;
  unsigned user_gen;

  int network;
  uint32_t hb_base_s, hb_max_s, hb_cur_s, hb_saved_s;
  unsigned hb_streak;
  int hb_settled;           /* a stretched interval failed on this network: stretch no more */
};

/* ---------------------------------------------------------------- actions */

static mps_action *push(mps_policy *p, mps_action_type type) {
  if (p->head == p->n_actions) p->head = p->n_actions = 0;
  if (p->n_actions == p->cap_actions) {
    size_t cap = p->cap_actions ? p->cap_actions * 2 : 16;
    mps_action *a = realloc(p->actions, cap * sizeof *a);
    if (!a) return NULL; /* the decision is lost; the next event or tick makes it again */
    p->actions = a;
    p->cap_actions = cap;
  }
  mps_action *a = &p->actions[p->n_actions++];
  memset(a, 0, sizeof *a);
  a->type = type;
  return a;
}

static void push_biz(mps_policy *p, mps_action_type type, const char *biz) {
  mps_action *a = push(p, type);
  if (a) snprintf(a->biz, sizeof a->biz, "%s", biz);
}

int mps_policy_next(mps_policy *p, mps_action *out) {
  if (p->head == p->n_actions) return 0;
  *out = p->actions[p->head++];
  return 1;
}

static void set_state(mps_policy *p, int state, const char *reason) {
  /* A repeated failure is news (another attempt failed); a repeated state is not. */
  if (state == p->last_state && state != MPS_STATE_CONNECT_FAILED) return;
  p->last_state = state;
  mps_action *a = push(p, MPS_DO_STATE);
  if (!a) return;
  a->state = state;
  snprintf(a->reason, sizeof a->reason, "%s", reason ? reason : "");
}

/* ---------------------------------------------------------------- life */

/* xorshift64*: the jitter only has to spread a crowd, and the seed is random. */
static uint32_t next_random(mps_policy *p) {
  uint64_t x = p->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  p->rng = x;
  return (uint32_t)((x * UINT64_C(0x2545F4914F6CDD1D)) >> 32);
}

mps_policy *mps_policy_new(const mps_policy_config *cfg) {
  mps_policy *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->cfg = *cfg;
  if (!p->cfg.default_heartbeat_s) p->cfg.default_heartbeat_s = 30;
  if (!p->cfg.redelivery_cap_ms) p->cfg.redelivery_cap_ms = 10u * 60u * 1000u;
  if (p->cfg.reconnect_max_ms < BACKOFF_FLOOR_MS * 2) p->cfg.reconnect_max_ms = BACKOFF_FLOOR_MS * 2;
  p->rng = cfg->seed ? cfg->seed : UINT64_C(0x9E3779B97F4A7C15);
  p->last_state = MPS_STATE_DISCONNECTED;
  p->session = calloc(1, 1);
  if (!p->session) {
    free(p);
    return NULL;
  }
  return p;
}

void mps_policy_free(mps_policy *p) {
  if (!p) return;
  free(p->actions);
  free(p->bizs);
  free(p->user);
  free(p->session);
  free(p);
}

/* ---------------------------------------------------------------- bizTypes */

static biz_state *find_biz(mps_policy *p, const char *biz) {
  for (size_t i = 0; i < p->n_bizs; i++)
    if (strcmp(p->bizs[i].biz, biz) == 0) return &p->bizs[i];
  return NULL;
}

static void dispatch(mps_policy *p, biz_state *b) {
  if (!b->registered || b->in_flight || b->dispatch_pending) return;
  b->dispatch_pending = 1;
  push_biz(p, MPS_DO_DISPATCH, b->biz);
}

static void dispatch_all(mps_policy *p) {
  for (size_t i = 0; i < p->n_bizs; i++) dispatch(p, &p->bizs[i]);
}

/* Withdraws the message in flight; a registered bizType then hands out its next one (which is
 * the same message again when it was not reported). */
static void recall(mps_policy *p, biz_state *b) {
  if (!b->in_flight) return;
  b->in_flight = 0;
  push_biz(p, MPS_DO_RECALL, b->biz);
}

int mps_policy_register(mps_policy *p, const char *biz, uint64_t now) {
  (void)now;
  biz_state *b = find_biz(p, biz);
  if (!b) {
    if (p->n_bizs == p->cap_bizs) {
      size_t cap = p->cap_bizs ? p->cap_bizs * 2 : 8;
      biz_state *n = realloc(p->bizs, cap * sizeof *n);
      if (!n) return MPSYNC_ENOMEM;
      p->bizs = n;
      p->cap_bizs = cap;
    }
    b = &p->bizs[p->n_bizs++];
    memset(b, 0, sizeof *b);
    snprintf(b->biz, sizeof b->biz, "%s", biz);
  }
  b->registered = 1;
  dispatch(p, b);
  return 0;
}

void mps_policy_unregister(mps_policy *p, const char *biz) {
  biz_state *b = find_biz(p, biz);
  if (!b) return;
  b->registered = 0;
  recall(p, b);
}

int mps_policy_in_flight(const mps_policy *p, const char *biz) {
  for (size_t i = 0; i < p->n_bizs; i++)
    if (strcmp(p->bizs[i].biz, biz) == 0) return p->bizs[i].in_flight;
  return 0;
}

void mps_policy_dispatched(mps_policy *p, const char *biz, int user_stream, unsigned delivery,
                           uint64_t now) {
  biz_state *b = find_biz(p, biz);
  if (!b) return;
  b->dispatch_pending = 0;
  b->in_flight = 1;
  b->user_stream = user_stream;
  b->delivery = delivery ? delivery : 1;
  b->dispatched_at = now;
  unsigned shift = b->delivery - 1 < 16 ? b->delivery - 1 : 16;
  uint64_t wait = (uint64_t)p->cfg.redelivery_base_ms << shift;
  if (wait > p->cfg.redelivery_cap_ms) wait = p->cfg.redelivery_cap_ms;
  b->redeliver_at = now + wait;
}

void mps_policy_dispatch_empty(mps_policy *p, const char *biz) {
  biz_state *b = find_biz(p, biz);
  if (b) b->dispatch_pending = 0;
}

void mps_policy_reported(mps_policy *p, const char *biz, uint64_t now) {
  (void)now;
  biz_state *b = find_biz(p, biz);
  if (!b) return;
  b->in_flight = 0;
  dispatch(p, b);
}

void mps_policy_stored(mps_policy *p, const char *biz, uint64_t now) {
  (void)now;
  biz_state *b = find_biz(p, biz);
  if (b) dispatch(p, b);
}

/* Hands out again every message in flight that was dispatched before `before` (C6). */
static void redeliver_before(mps_policy *p, uint64_t before) {
  for (size_t i = 0; i < p->n_bizs; i++) {
    biz_state *b = &p->bizs[i];
    if (b->in_flight && b->dispatched_at < before) {
      recall(p, b);
      dispatch(p, b);
    }
  }
}

/* ---------------------------------------------------------------- the link */

static void connect_now(mps_policy *p, uint64_t now) {
  if (!p->foreground || p->link != PHASE_IDLE) return;
  p->reconnect_at = 0;
  p->link = PHASE_CONNECTING;
  p->attempt_started_at = now;
  push(p, MPS_DO_CONNECT);
  set_state(p, MPS_STATE_CONNECTING, "");
}

static void disconnect(mps_policy *p, const char *why, uint64_t now) {
  if (p->link == PHASE_IDLE) return;
  p->link = PHASE_IDLE;
  p->down_at = now;
  p->hb_cur_s = 0;
  mps_action *a = push(p, MPS_DO_DISCONNECT);
  if (a) snprintf(a->reason, sizeof a->reason, "%s", why);
}

/* Drops the link on purpose and opens a new one at once (user, session or network changed). */
static void replace_link(mps_policy *p, const char *why, uint64_t now) {
  if (p->link == PHASE_IDLE) return;
  disconnect(p, why, now);
  set_state(p, MPS_STATE_DISCONNECTED, why);
  p->attempt = 0;
  connect_now(p, now);
}

/* Issue 13 item 10: a link replaced by another of this device id, or refused again for a protocol
 * error, would be refused just the same at once: the wait is drawn from the upper half of the
 * back-off ("equal jitter"), never the 50 ms floor, so two installs cannot trade the link twice
 * a second. */
static int must_wait(const mps_policy *p, mps_down_cause cause) {
  return cause == MPS_DOWN_REPLACED || (cause == MPS_DOWN_PROTOCOL && p->proto_errors >= 2);
}

static void schedule_reconnect(mps_policy *p, uint64_t now, uint32_t retry_after_s,
                               mps_down_cause cause) {
  if (!p->foreground) return;
  uint64_t delay;
  if (retry_after_s) {
    /* The server asked for a pause (overload, maintenance): obey within sane bounds (C11). */
    uint32_t s = retry_after_s < RETRY_AFTER_MIN_S   ? RETRY_AFTER_MIN_S
                 : retry_after_s > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S
                                                     : retry_after_s;
    delay = (uint64_t)s * 1000;
  } else {
    /* Full jitter: a crowd of clients that lost the same server spreads out (C11). */
    uint64_t ceiling = 1000ull << (p->attempt < 16 ? p->attempt : 16);
    if (ceiling > p->cfg.reconnect_max_ms) ceiling = p->cfg.reconnect_max_ms;
    uint64_t floor = must_wait(p, cause) ? ceiling / 2 : BACKOFF_FLOOR_MS;
    if (floor < BACKOFF_FLOOR_MS) floor = BACKOFF_FLOOR_MS;
    delay = floor + next_random(p) % (ceiling - floor + 1);
  }
  p->attempt++;
  p->reconnect_at = now + delay;
}

void mps_policy_link_up(mps_policy *p, uint64_t now, uint32_t heartbeat_s, uint32_t heartbeat_max_s,
                        uint32_t learned_s) {
  if (p->link != PHASE_CONNECTING) return;
  p->link = PHASE_UP;
  p->up_since = now;
  set_state(p, MPS_STATE_CONNECTED, "");
  /* Start at what this network proved before, within what the server allows (C12). */
  p->hb_base_s = heartbeat_s ? heartbeat_s : p->cfg.default_heartbeat_s;
  p->hb_max_s = heartbeat_max_s > p->hb_base_s ? heartbeat_max_s : p->hb_base_s;
  p->hb_saved_s = learned_s;
  p->hb_cur_s = p->hb_base_s;
  if (learned_s > p->hb_cur_s) p->hb_cur_s = learned_s < p->hb_max_s ? learned_s : p->hb_max_s;
  p->hb_streak = 0;
  mps_action *a = push(p, MPS_DO_SET_HEARTBEAT);
  if (a) {
    a->value = p->hb_cur_s;
    snprintf(a->reason, sizeof a->reason, "%s", p->hb_cur_s == p->hb_base_s ? "server" : "learned");
  }
  /* C10: global data is never pushed live; ask for it on every new link. */
  push(p, MPS_DO_PULL_GLOBAL);
  /* C6: what was handed out while an earlier link was up is handed out again; what was handed
   * out from the cache before the first link (at start) is not repeated for it. */
  if (p->down_at) redeliver_before(p, p->down_at);
  dispatch_all(p);
}

/* The link died of silence at the current interval: step back and stop stretching here. */
static void heartbeat_failed(mps_policy *p) {
  if (!p->hb_cur_s || p->hb_cur_s <= p->hb_base_s) return;
  uint32_t back = p->hb_cur_s - p->hb_base_s;
  if (back < p->hb_base_s) back = p->hb_base_s;
  p->hb_settled = 1;
  p->hb_saved_s = back;
  mps_action *a = push(p, MPS_DO_SAVE_HEARTBEAT);
  if (!a) return;
  a->network = p->network;
  a->value = back;
  a->failed_value = p->hb_cur_s;
}

/* Replaced this install did not ask for (its own new link closes the old one first): count it,
 * and a few within the window mean another install shares the device id. */
static void replaced(mps_policy *p, uint64_t now) {
  memmove(&p->replaced_at[1], &p->replaced_at[0],
          (MPS_POLICY_COLLISION_REPLACED - 1) * sizeof p->replaced_at[0]);
  p->replaced_at[0] = now ? now : 1;
  uint64_t oldest = p->replaced_at[MPS_POLICY_COLLISION_REPLACED - 1];
  if (!oldest || now - oldest > MPS_POLICY_COLLISION_WINDOW_MS) return;
  memset(p->replaced_at, 0, sizeof p->replaced_at);
  mps_action *a = push(p, MPS_DO_DEVICE_COLLISION);
  if (a) {
    a->value = ++p->collisions;
    snprintf(a->reason, sizeof a->reason, "replaced %d times within %u s",
             MPS_POLICY_COLLISION_REPLACED, MPS_POLICY_COLLISION_WINDOW_MS / 1000u);
  }
}

void mps_policy_link_down(mps_policy *p, uint64_t now, const char *reason, uint32_t retry_after_s,
                          mps_down_cause cause) {
  if (p->link == PHASE_IDLE) return;
  int was_up = p->link == PHASE_UP;
  p->down_at = now;
  if (was_up && cause == MPS_DOWN_SILENCE) heartbeat_failed(p);
  /* Only a link that stayed healthy resets the back-off: a server that welcomes and then drops
   * at once must not draw two connections a second forever. */
  if (was_up && now - p->up_since >= p->cfg.stable_ms) {
    p->attempt = 0;
    p->proto_errors = 0;
  }
  if (cause == MPS_DOWN_PROTOCOL) p->proto_errors++;
  if (was_up && cause == MPS_DOWN_REPLACED) replaced(p, now);
  p->link = PHASE_IDLE;
  p->hb_cur_s = 0;
  if (p->grace_until) {
    /* Lost during the background grace: the app is away, so stay offline until it returns. */
    p->grace_until = 0;
    p->foreground = 0;
  }
  set_state(p, was_up ? MPS_STATE_DISCONNECTED : MPS_STATE_CONNECT_FAILED, reason);
  schedule_reconnect(p, now, retry_after_s, cause);
}

void mps_policy_pong(mps_policy *p, uint64_t now) {
  (void)now;
  if (p->link != PHASE_UP || ++p->hb_streak < MPS_POLICY_HB_STREAK) return;
  p->hb_streak = 0;
  if (p->hb_saved_s != p->hb_cur_s) {
    /* Proven on this network: remember it. */
    p->hb_saved_s = p->hb_cur_s;
    mps_action *a = push(p, MPS_DO_SAVE_HEARTBEAT);
    if (a) {
      a->network = p->network;
      a->value = p->hb_cur_s;
    }
  }
  if (p->hb_settled || p->hb_cur_s >= p->hb_max_s) return;
  uint32_t next = p->hb_cur_s + p->hb_base_s;
  p->hb_cur_s = next > p->hb_max_s ? p->hb_max_s : next;
  mps_action *a = push(p, MPS_DO_SET_HEARTBEAT);
  if (a) {
    a->value = p->hb_cur_s;
    snprintf(a->reason, sizeof a->reason, "stretched");
  }
}

uint32_t mps_policy_heartbeat_s(const mps_policy *p) { return p->hb_cur_s; }

uint64_t mps_policy_reconnect_at(const mps_policy *p) {
  return p->reconnect_at ? p->reconnect_at : MPS_POLICY_NO_DEADLINE;
}

int mps_policy_link_is_up(const mps_policy *p) { return p->link == PHASE_UP; }

/* ---------------------------------------------------------------- lifecycle */

void mps_policy_foreground(mps_policy *p, uint64_t now) {
  int was_foreground = p->foreground && !p->grace_until;
  p->foreground = 1;
  p->grace_until = 0;
  if (p->link == PHASE_IDLE) {
    p->attempt = 0;
    connect_now(p, now);
  } else if (p->link == PHASE_UP) {
    push(p, MPS_DO_PULL_GLOBAL); /* C10: at every foreground */
  }
  if (was_foreground) return;
  /* C6: a message handed out before the app went away is handed out again; one handed out
   * moments ago is not repeated just because the app came back. */
  for (size_t i = 0; i < p->n_bizs; i++) {
    biz_state *b = &p->bizs[i];
    if (!b->in_flight) continue;
    if ((p->background_at && b->dispatched_at < p->background_at) ||
        now - b->dispatched_at >= p->cfg.redelivery_base_ms) {
      recall(p, b);
      dispatch(p, b);
    }
  }
}

static void close_for_background(mps_policy *p, uint64_t now) {
  p->grace_until = 0;
  disconnect(p, "app in background", now);
  set_state(p, MPS_STATE_DISCONNECTED, "app in background");
}

void mps_policy_background(mps_policy *p, uint64_t now) {
  if (!p->foreground) return;
  p->background_at = now;
  p->reconnect_at = 0;
  if (p->cfg.background_grace_ms && p->link == PHASE_UP) {
    /* iOS keeps an app online for a while after it leaves the screen (C23). */
    p->grace_until = now + p->cfg.background_grace_ms;
    return;
  }
  p->foreground = 0;
  close_for_background(p, now);
}

void mps_policy_network_changed(mps_policy *p, int network, uint64_t now) {
  if (network != p->network) p->hb_settled = 0;
  p->network = network;
  if (!p->foreground || p->grace_until) return;
  /* A link that was up on the old network is most likely dead: replace it now rather than wait
   * for a heartbeat to find out (C11). */
  if (p->link != PHASE_IDLE)
    replace_link(p, "network changed", now);
  else {
    p->attempt = 0;
    connect_now(p, now);
  }
}

int mps_policy_network(const mps_policy *p) { return p->network; }

/* ---------------------------------------------------------------- the user */

static int same(const char *a, const char *b) { return strcmp(a ? a : "", b ? b : "") == 0; }

int mps_policy_set_user(mps_policy *p, const char *user, const char *session, uint64_t now) {
  int user_changed = !same(user, p->user);
  int session_changed = !same(session, p->session);
  if (!user_changed && !session_changed) return 0;
  char *u = user ? strdup(user) : NULL;
  char *s = strdup(session ? session : "");
  if ((user && !u) || !s) {
    free(u);
    free(s);
    return MPSYNC_ENOMEM;
  }
  free(p->user);
  free(p->session);
  p->user = u;
  p->session = s;
  if (user_changed) {
    p->user_gen++;
    /* C9: what of the old user is in flight is not his to finish here. */
    for (size_t i = 0; i < p->n_bizs; i++)
      if (p->bizs[i].in_flight && p->bizs[i].user_stream) recall(p, &p->bizs[i]);
  }
  /* The Hello carries the user and session: a new one needs a new handshake. */
  replace_link(p, user_changed ? "user changed" : "session changed", now);
  dispatch_all(p);
  return 0;
}

const char *mps_policy_user(const mps_policy *p) { return p->user; }
const char *mps_policy_session(const mps_policy *p) { return p->session; }
unsigned mps_policy_user_gen(const mps_policy *p) { return p->user_gen; }

/* ---------------------------------------------------------------- the cache */

void mps_policy_purged(mps_policy *p, const char *user, uint64_t now) {
  for (size_t i = 0; i < p->n_bizs; i++) {
    biz_state *b = &p->bizs[i];
    /* Only the bound user's messages are ever in flight (C9). */
    if (b->in_flight && (!user || (b->user_stream && same(user, p->user)))) recall(p, b);
  }
  p->cache_full = 0;
  /* Purged sync points must not linger in the server's view of this link either. */
  replace_link(p, "cache purged", now);
  dispatch_all(p);
}

void mps_policy_cache_full(mps_policy *p) { p->cache_full = 1; }

void mps_policy_cache_lost(mps_policy *p, uint64_t now) {
  (void)now;
  for (size_t i = 0; i < p->n_bizs; i++) recall(p, &p->bizs[i]);
  p->cache_full = 0;
  dispatch_all(p);
}

void mps_policy_cache_room(mps_policy *p, uint64_t now) {
  if (!p->cache_full) return;
  /* The server kept what we could not take; a new handshake from our sync points fetches it. */
  p->cache_full = 0;
  replace_link(p, "resync after cache was full", now);
}

/* ---------------------------------------------------------------- time */

uint64_t mps_policy_deadline(const mps_policy *p) {
  uint64_t next = MPS_POLICY_NO_DEADLINE;
  if (p->reconnect_at && p->reconnect_at < next) next = p->reconnect_at;
  if (p->grace_until && p->grace_until < next) next = p->grace_until;
  for (size_t i = 0; i < p->n_bizs; i++)
    if (p->bizs[i].in_flight && p->bizs[i].redeliver_at < next) next = p->bizs[i].redeliver_at;
  return next;
}

void mps_policy_tick(mps_policy *p, uint64_t now) {
  if (p->grace_until && now >= p->grace_until) {
    p->foreground = 0;
    close_for_background(p, now);
  }
  if (p->reconnect_at && now >= p->reconnect_at) {
    p->reconnect_at = 0;
    connect_now(p, now);
  }
  for (size_t i = 0; i < p->n_bizs; i++) {
    biz_state *b = &p->bizs[i];
    if (b->in_flight && b->redeliver_at <= now) {
      recall(p, b);
      dispatch(p, b);
    }
  }
}
