/* Client policy without I/O: when to connect, back off, ping, redeliver, and what a user change withdraws. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MPSYNC_CORE_POLICY_H
#define MPSYNC_CORE_POLICY_H

#include <stddef.h>
#include <stdint.h>

/*
 * The policy owns every decision of the client that depends on time or on history: the
 * reconnect back-off with full jitter (C11), the smart heartbeat (C12), redelivery of unreported
 * messages (C6), which bizTypes may have a message in flight (C4, C7), the bound user and its
 * generation (C9), and what a purge or a full cache means for the link (C18). It reads no clock,
 * draws no random number of its own (a seed comes in), touches no socket or file: events go in
 * with the current time, actions come out in order (mps_policy_next), and mps_policy_deadline()
 * says when mps_policy_tick() must run next. The loop thread carries the actions out.
 */

typedef struct mps_policy mps_policy;

/* Connection states, numbered as mpsync_state. */
#define MPS_STATE_DISCONNECTED 0
#define MPS_STATE_CONNECTING 1
#define MPS_STATE_CONNECTED 2
#define MPS_STATE_CONNECT_FAILED 3

#define MPS_POLICY_NO_DEADLINE UINT64_MAX
#define MPS_POLICY_BIZ_MAX 32
#define MPS_POLICY_REASON_MAX 128
/* Pongs in a row at one interval before the heartbeat stretches (pattern: Mars). */
#define MPS_POLICY_HB_STREAK 3

typedef enum mps_action_type {
  MPS_DO_CONNECT = 1,    /* open a link to the server (nothing is open now) */
  MPS_DO_DISCONNECT,     /* close the link on purpose, sending Close(reason) */
  MPS_DO_STATE,          /* tell the listener: state, reason */
  MPS_DO_DISPATCH,       /* biz: hand out its next cached message (then mps_policy_dispatched or
                          * mps_policy_dispatch_empty) */
  MPS_DO_RECALL,         /* biz: the message in flight is withdrawn; one not yet started never
                          * runs and its delivery is not counted */
  MPS_DO_PULL_GLOBAL,    /* ask the server for the global streams (C10) */
  MPS_DO_SET_HEARTBEAT,  /* value: ping interval in seconds for the live session; reason: why */
  MPS_DO_SAVE_HEARTBEAT, /* network, value: remember the interval proven on this network */
  MPS_DO_DEVICE_COLLISION /* another install uses this device id (replaced again and again);
                           * value: how many times this was decided since the policy started */
} mps_action_type;

typedef struct mps_action {
  mps_action_type type;
  int state;
  int network;
  uint32_t value;
  uint32_t failed_value; /* SAVE_HEARTBEAT after silence: the interval that failed; 0 otherwise */
  char biz[MPS_POLICY_BIZ_MAX];
  char reason[MPS_POLICY_REASON_MAX];
} mps_action;

/* Why a link went down, when it matters to the policy. */
typedef enum mps_down_cause {
  MPS_DOWN_ERROR = 0,   /* refused, reset, protocol error, server Close ... */
  MPS_DOWN_SILENCE = 1, /* the heartbeat went unanswered: maybe the interval was too long */
  MPS_DOWN_REPLACED = 2, /* the server closed it with CLOSE_REPLACED: a newer link of this
                          * device id took its place, and this install did not open one */
  MPS_DOWN_PROTOCOL = 3, /* a protocol error, ours or the server's */
} mps_down_cause;

/* CLOSE_REPLACED this many times within the window: two installs share the device id. */
#define MPS_POLICY_COLLISION_REPLACED 3
#define MPS_POLICY_COLLISION_WINDOW_MS (10u * 60u * 1000u)

typedef struct mps_policy_config {
  uint32_t redelivery_base_ms;  /* first redelivery delay, doubled per delivery (C6) */
  uint32_t redelivery_cap_ms;   /* longest redelivery delay */
  uint32_t reconnect_max_ms;    /* back-off cap (C11) */
  uint32_t stable_ms;           /* a link up this long resets the back-off */
  uint32_t background_grace_ms; /* link kept this long after background (C23); 0 = close now */
  uint32_t default_heartbeat_s; /* when the server names none */
  uint64_t seed;                /* random bytes for the jitter */
} mps_policy_config;

/* NULL when out of memory. */
mps_policy *mps_policy_new(const mps_policy_config *cfg);
void mps_policy_free(mps_policy *p);

/* The next action, in order; 0 when none is left. */
int mps_policy_next(mps_policy *p, mps_action *out);
/* When mps_policy_tick must run next (MPS_POLICY_NO_DEADLINE: no timer). */
uint64_t mps_policy_deadline(const mps_policy *p);
void mps_policy_tick(mps_policy *p, uint64_t now);

/* App lifecycle (C1, C23) and network hints (C11). */
void mps_policy_foreground(mps_policy *p, uint64_t now);
void mps_policy_background(mps_policy *p, uint64_t now);
void mps_policy_network_changed(mps_policy *p, int network, uint64_t now);
int mps_policy_network(const mps_policy *p);

/* Binds (user non-NULL) or unbinds the user (C9). A new user gets a new generation, withdraws the
 * old user's messages in flight and, when a link is open or opening, replaces it; a new session
 * of the same user only replaces the link; the same user and session change nothing.
 * 0, or MPSYNC_ENOMEM (nothing changed). */
int mps_policy_set_user(mps_policy *p, const char *user, const char *session, uint64_t now);
const char *mps_policy_user(const mps_policy *p);    /* NULL when none is bound */
const char *mps_policy_session(const mps_policy *p); /* "" when none */
unsigned mps_policy_user_gen(const mps_policy *p);

/* bizTypes with a callback (C7). 0 or MPSYNC_ENOMEM. */
int mps_policy_register(mps_policy *p, const char *biz, uint64_t now);
void mps_policy_unregister(mps_policy *p, const char *biz);

/* The link: up (Welcome received, with the server's heartbeat interval, its maximum, and the
 * interval learned earlier on the current network, 0 if none), down (not on purpose), pong. */
void mps_policy_link_up(mps_policy *p, uint64_t now, uint32_t heartbeat_s, uint32_t heartbeat_max_s,
                        uint32_t learned_s);
void mps_policy_link_down(mps_policy *p, uint64_t now, const char *reason, uint32_t retry_after_s,
                          mps_down_cause cause);
void mps_policy_pong(mps_policy *p, uint64_t now);
/* When the next connection attempt is due (MPS_POLICY_NO_DEADLINE: none is scheduled). */
uint64_t mps_policy_reconnect_at(const mps_policy *p);
/* The heartbeat interval in use (0 while no link is up). */
uint32_t mps_policy_heartbeat_s(const mps_policy *p);
/* 1 while the link is up, for mpsync_is_connected-style questions. */
int mps_policy_link_is_up(const mps_policy *p);

/* Messages. dispatched: the DISPATCH of biz handed out delivery number `delivery` of a message
 * of a user stream (user_stream) or not. dispatch_empty: nothing to hand out. reported: the app
 * reported the message in flight; stored: new oplogs of biz reached the cache. */
void mps_policy_dispatched(mps_policy *p, const char *biz, int user_stream, unsigned delivery,
                           uint64_t now);
void mps_policy_dispatch_empty(mps_policy *p, const char *biz);
void mps_policy_reported(mps_policy *p, const char *biz, uint64_t now);
void mps_policy_stored(mps_policy *p, const char *biz, uint64_t now);
/* 1 while biz has a message in flight. */
int mps_policy_in_flight(const mps_policy *p, const char *biz);

/* The cache: purged (user NULL = everything), full (a batch was cut short), has room again. */
void mps_policy_purged(mps_policy *p, const char *user, uint64_t now);
void mps_policy_cache_full(mps_policy *p);
/* The cache was lost and rebuilt empty: nothing in flight exists any more. The link is left to the
 * caller (it ends the one in use: the next Hello says fresh_cache). */
void mps_policy_cache_lost(mps_policy *p, uint64_t now);
void mps_policy_cache_room(mps_policy *p, uint64_t now);

#endif
