/* Internal layout of the client, and which thread owns each part of it. Only client.c touches it. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MPSYNC_CLIENT_H
#define MPSYNC_CLIENT_H

#include <stdatomic.h>

#include <uv.h>

#include "core/policy.h"
#include "core/session.h"
#include "mpsync/mpsync.h"
#include "net/transport.h"
#include "store/store.h"
#include "tls/tls.h"
#include "util/util.h"

/*
 * Ownership, in one place:
 * - Configuration: written once by mpsync_client_new, read-only afterwards (any thread).
 * - The command queue and `stopping`: under `lock` (STYLE §4). It is the only way in.
 * - Everything under "loop thread" below: the loop thread alone — the policy (user, generation,
 *   bizTypes in flight, link phase, timers), the registrations, the cache, the link.
 * - The delivery queue and the workers' bookkeeping: under `dlock`. The loop thread is the only
 *   producer and the only one that withdraws items; workers only take them.
 * - `state` and `user_gen_now`: atomics written by the loop thread, read anywhere.
 */

typedef enum cmd_type {
  CMD_FOREGROUND,
  CMD_BACKGROUND,
  CMD_BIND_USER,
  CMD_CLEAR_USER,
  CMD_REGISTER,
  CMD_UNREGISTER,
  CMD_REPORT,
  CMD_PURGE_USER,
  CMD_PURGE_ALL,
  CMD_NETWORK_CHANGED
} cmd_type;

/* A caller waiting for its command's result; lives on the caller's stack. */
typedef struct cmd_waiter {
  uv_sem_t done;
  int result;
  char error[160]; /* why, when result is an error */
} cmd_waiter;

typedef struct cmd {
  cmd_type type;
  char *a, *b;
  int arg;
  mpsync_message_fn fn; /* CMD_REGISTER */
  void *fn_data;
  cmd_waiter *waiter; /* NULL: fire and forget */
  struct cmd *next;
} cmd;

#define MPS_MAX_DELIVERY_THREADS 16
/* The strand of state changes: they reach the listener in order, like a bizType's messages. */
#define MPS_STATE_STRAND "\x01state"

/* Something for a worker: a message with the callback it goes to, or a state change. Everything
 * a worker needs was decided by the loop thread when it queued the item. */
typedef struct delivery_item {
  mps_msg *msg; /* NULL for a state change */
  mpsync_message_fn fn;
  void *fn_data;
  unsigned user_gen; /* for a user-stream message: the generation it belongs to; 0 otherwise */
  uint64_t seq;
  mpsync_state state;
  char reason[MPS_POLICY_REASON_MAX];
  struct delivery_item *next;
} delivery_item;

/* The loop thread's view of one bizType: its callback, and the message in flight. */
typedef struct loop_biz {
  char biz[32];
  mpsync_message_fn fn; /* NULL: not registered */
  void *fn_data;
  int in_flight;
  uint64_t queued_seq; /* the delivery item handed out for the message in flight */
  mps_msg key;         /* the message in flight: stream, rows, delivery (no payloads) */
  /* A message withdrawn while its callback ran (an unregister, a user switch): that callback
   * may still report it, and the report is honoured. */
  mps_msg running_key;
  int running_valid;
  struct loop_biz *next;
} loop_biz;

struct mpsync_client {
  /* Configuration, copied at creation. */
  char *host, *server_name, *instance_id, *data_dir, *app_version;
  uint16_t port;
  const char *os_name;
  unsigned max_deliveries, max_oplogs;
  int64_t max_cached;
  mps_logger log;
  mpsync_state_fn state_fn;
  void *user_data;
  char device_id[64];           /* loop thread writes it (a collision) under lock; it reads freely */
  mps_tls_config *tls_config; /* NULL when plaintext */

  /* Facade. */
  uv_mutex_t lock;
  cmd *cmd_head, *cmd_tail;
  int stopping;                 /* under lock: no command is taken any more */
  atomic_int stop;              /* the loop thread is to stop (set with stopping) */
  char last_error[256];         /* under lock */
  atomic_int state;
  atomic_uint user_gen_now;     /* the loop's current user generation */

  /* Loop thread. */
  uv_thread_t loop_thread;
  uv_loop_t loop;
  uv_async_t wakeup;
  uv_timer_t policy_timer;
  mps_store *store;
  mps_policy *policy;
  mps_link *link;               /* the current link, NULL when none */
  uint32_t retry_after_s;       /* from the current link's Close */
  int close_code;               /* the current link's Close code from the server; -1: none */
  unsigned forgot_streams;      /* streams forgotten on the current link to stay within bound */
  int stale_link;               /* the cache was rebuilt under the current link: end it */
  int cache_synced;             /* the cache's "cache_synced" setting, read once at open (C21) */
  char tls_peer[65];            /* whom a cached TLS session may be offered to (mps_tls_peer_id) */
  char tls_key[512];            /* tls_peer|user of the current link: a session is the user's */
  int tls_offered;              /* the current link offered a cached session, not yet settled */
  loop_biz *bizs;
  uint64_t dispatch_seq;

  /* Delivery threads: a small pool where each bizType is a strand (one callback at a time, in
   * order), so a slow callback holds up only its own bizType (C4). Under dlock. */
  unsigned n_workers;
  uv_thread_t workers[MPS_MAX_DELIVERY_THREADS];
  uv_mutex_t dlock;
  uv_cond_t dcond;
  delivery_item *dhead, *dtail;
  int dstop;
  char running[MPS_MAX_DELIVERY_THREADS][32]; /* strand each worker runs now; "" = idle */
  /* User generation of the user-stream message each worker runs now (0: none). A bind or clear
   * waits until none older than itself runs (C9). */
  unsigned running_gen[MPS_MAX_DELIVERY_THREADS];
};

#endif
