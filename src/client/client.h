/* Internal layout of the client: the facade's command queue, the loop thread's link state, and the
 * delivery thread's queue. Only client.c touches these. */
#ifndef MPSYNC_CLIENT_H
#define MPSYNC_CLIENT_H

#include <stdatomic.h>

#include <uv.h>

#include "core/session.h"
#include "mpsync/mpsync.h"
#include "store/store.h"
#include "tls/tls.h"
#include "util/util.h"

/* A public call, copied and queued for the loop thread (STYLE §4). */
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
  CMD_NETWORK_CHANGED,
  CMD_STOP
} cmd_type;

/* A caller waiting for its command's result (report, purge): lives on the caller's stack. */
typedef struct cmd_waiter {
  uv_sem_t done;
  int result;
} cmd_waiter;

typedef struct cmd {
  cmd_type type;
  char *a, *b;
  int arg;
  unsigned user_gen; /* CMD_BIND_USER / CMD_CLEAR_USER: the generation the call created */
  cmd_waiter *waiter; /* NULL: fire and forget */
  struct cmd *next;
} cmd;

#define MPS_MAX_DELIVERY_THREADS 16
/* The strand of state changes: they reach the listener in order, like a bizType's messages. */
#define MPS_STATE_STRAND "\x01state"

/* Something for the delivery thread: a message for a callback, or a state change. */
typedef struct delivery_item {
  mps_msg *msg;      /* NULL for a state change */
  unsigned user_gen; /* the user generation the loop assembled msg under */
  uint64_t seq;      /* which dispatch this is; only the live one of its biz is handed out */
  mpsync_state state;
  char reason[128];
  struct delivery_item *next;
} delivery_item;

/* Registered callbacks, read by the delivery thread. */
typedef struct biz_callback {
  char biz[32];
  mpsync_message_fn fn;
  void *user_data;
  uint64_t live_seq; /* set by the loop thread under dlock */
  struct biz_callback *next;
} biz_callback;

/* The loop thread's view of one bizType: registered or not, and the message in flight. */
typedef struct loop_biz {
  char biz[32];
  int registered;
  int in_flight;
  int kind;
  char *target;
  int64_t stream, first_row, last_row;
  uint64_t dispatched_at, redeliver_at; /* loop ms */
  struct loop_biz *next;
} loop_biz;

/* One connection attempt and, once up, the link. Freed after its handle is closed. */
typedef struct link {
  mpsync_client *client;
  uv_getaddrinfo_t resolve;
  uv_connect_t connect;
  uv_shutdown_t shutdown;
  uv_tcp_t tcp;
  mps_session *session;
  mps_tls *tls; /* NULL on plain TCP */
  int tcp_open;   /* tcp initialised: must be uv_close'd */
  int cancelled;  /* abandoned while resolving or connecting */
  int closing;
  int welcomed;
  int write_error;        /* first failed write (a libuv error code), 0 = none */
  uint32_t retry_after_s; /* from the server's Close, 0 = own back-off */
  uint64_t started_at;    /* loop ms when the attempt began */
} link;

struct mpsync_client {
  /* Configuration, copied at creation. */
  char *host, *server_name, *instance_id, *data_dir, *app_version;
  uint16_t port;
  const char *os_name;
  int plaintext;
  unsigned max_deliveries, redelivery_base_ms, max_oplogs, reconnect_max_ms;
  int64_t max_cached;
  mps_logger log;
  mpsync_state_fn state_fn;
  void *user_data;
  char device_id[64];
  mps_tls_config *tls_config; /* NULL when plaintext */

  mps_store *store; /* loop thread only, once started */

  /* Facade: commands for the loop thread. */
  uv_mutex_t lock;
  cmd *cmd_head, *cmd_tail;
  atomic_int stopping; /* set under lock by the API; read bare by the loop thread */
  unsigned api_user_gen; /* under lock; bumped by every bind / clear call */
  atomic_uint user_gen;  /* the same, readable by the delivery thread */
  atomic_int state;

  /* Loop thread. */
  uv_thread_t loop_thread;
  uv_loop_t loop;
  uv_async_t wakeup;
  uv_timer_t heartbeat_timer, reconnect_timer, redeliver_timer, connect_timer;
  int foreground;
  char *user_id, *session_id;
  unsigned loop_user_gen;
  link *link;
  unsigned attempt;
  loop_biz *bizs;
  uint64_t dispatch_seq;
  int cache_full;      /* a batch was cut short for want of room: resync when room frees up */
  int network_type;    /* last mpsync_network_changed() hint */
  /* Smart heartbeat (per network type): the interval in use, what the server allows, and the
   * pongs seen in a row at the current interval. */
  uint32_t hb_base_s, hb_max_s, hb_cur_s, hb_streak;
  int hb_settled;      /* a longer interval failed on this network: stop stretching */

  /* Delivery threads: a small pool where each bizType is a strand (one callback at a time, in
   * order), so a slow callback holds up only its own bizType (C4). */
  unsigned n_workers;
  uv_thread_t workers[MPS_MAX_DELIVERY_THREADS];
  uv_mutex_t dlock;
  uv_cond_t dcond;
  delivery_item *dhead, *dtail;
  int dstop;
  biz_callback *callbacks;
  char running[MPS_MAX_DELIVERY_THREADS][32]; /* strand each worker runs now; "" = idle */
  /* User generation of the user-stream message each worker runs now (0: none). A bind or clear
   * waits until none older than itself runs (C9). */
  unsigned running_gen[MPS_MAX_DELIVERY_THREADS];
};

#endif
