/* The client: public facade (commands), loop thread (policy, cache, link), delivery threads. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "client/client.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/message.h"

#define MAX_INSTANCE_ID 100
#define CONNECT_TIMEOUT_MS ((uint64_t)MPS_DEFAULT_HEARTBEAT_TIMEOUT_S * 1000)
/* A link up this long has proven itself: the next failure starts the back-off afresh. */
#define STABLE_LINK_MS 30000u

static void run_actions(mpsync_client *c);
static int cache_lost(mpsync_client *c);
static void loop_dispatch(mpsync_client *c, loop_biz *lb);
static void on_policy_timer(uv_timer_t *t);

/* ---------------------------------------------------------------- errors */

static _Thread_local char thread_error[256];

static void set_error(mpsync_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The text behind the last error this client returned (sqlite3_errmsg-style). */
static void set_error(mpsync_client *c, const char *fmt, ...) {
  char text[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  if (!c) {
    snprintf(thread_error, sizeof thread_error, "%s", text);
    return;
  }
  uv_mutex_lock(&c->lock);
  snprintf(c->last_error, sizeof c->last_error, "%s", text);
  uv_mutex_unlock(&c->lock);
}

static int fail_with(mpsync_client *c, int rc, const char *why) {
  set_error(c, "%s: %s", mpsync_err_name(rc), why);
  return rc;
}

const char *mpsync_last_error(mpsync_client *c) {
  if (c) {
    uv_mutex_lock(&c->lock);
    snprintf(thread_error, sizeof thread_error, "%s", c->last_error);
    uv_mutex_unlock(&c->lock);
  }
  return thread_error;
}

/* ---------------------------------------------------------------- delivery threads */

static _Thread_local mpsync_client *delivering_for;

static int on_delivery_thread(mpsync_client *c) { return delivering_for == c; }

static void delivery_push(mpsync_client *c, delivery_item *it) {
  uv_mutex_lock(&c->dlock);
  if (c->dtail)
    c->dtail->next = it;
  else
    c->dhead = it;
  c->dtail = it;
  uv_cond_broadcast(&c->dcond);
  uv_mutex_unlock(&c->dlock);
}

static const char *strand_of(const delivery_item *it) {
  return it->msg ? it->msg->biz : MPS_STATE_STRAND;
}

static int strand_busy(mpsync_client *c, const char *strand) {
  for (unsigned i = 0; i < c->n_workers; i++)
    if (strcmp(c->running[i], strand) == 0) return 1;
  return 0;
}

static void unlink_item(mpsync_client *c, delivery_item *prev, delivery_item *it) {
  if (prev)
    prev->next = it->next;
  else
    c->dhead = it->next;
  if (c->dtail == it) c->dtail = prev;
  it->next = NULL;
}

/* The oldest item whose strand is idle, unlinked from the queue; NULL when none. */
static delivery_item *take_runnable(mpsync_client *c) {
  delivery_item *prev = NULL;
  for (delivery_item *it = c->dhead; it; prev = it, it = it->next) {
    if (strand_busy(c, strand_of(it))) continue;
    unlink_item(c, prev, it);
    return it;
  }
  return NULL;
}

/* Withdraws the queued message item seq of biz, if no worker took it yet (loop thread). */
static delivery_item *withdraw(mpsync_client *c, uint64_t seq) {
  uv_mutex_lock(&c->dlock);
  delivery_item *prev = NULL, *it;
  for (it = c->dhead; it; prev = it, it = it->next)
    if (it->msg && it->seq == seq) break;
  if (it) unlink_item(c, prev, it);
  uv_mutex_unlock(&c->dlock);
  return it;
}

typedef struct worker_arg {
  mpsync_client *client;
  unsigned index;
} worker_arg;

static void run_item(mpsync_client *c, delivery_item *it) {
  if (!it->msg) {
    if (c->state_fn) c->state_fn(c->user_data, it->state, it->reason);
    return;
  }
  mps_message_view view;
  mps_message_view_init(&view, it->msg);
  it->fn(c, &view.pub, it->fn_data);
}

static void delivery_main(void *arg) {
  worker_arg wa = *(worker_arg *)arg;
  free(arg);
  mpsync_client *c = wa.client;
  delivering_for = c;
  uv_mutex_lock(&c->dlock);
  for (;;) {
    delivery_item *it;
    while (!(it = take_runnable(c)) && !(c->dstop && !c->dhead)) uv_cond_wait(&c->dcond, &c->dlock);
    if (!it) break;
    snprintf(c->running[wa.index], sizeof c->running[wa.index], "%s", strand_of(it));
    c->running_gen[wa.index] = it->user_gen;
    uv_mutex_unlock(&c->dlock);
    run_item(c, it);
    if (it->msg) mps_msg_free(it->msg);
    free(it);
    uv_mutex_lock(&c->dlock);
    c->running[wa.index][0] = '\0';
    c->running_gen[wa.index] = 0;
    /* The strand is free again: its next item may run, and unregister or bind may return. */
    uv_cond_broadcast(&c->dcond);
  }
  uv_mutex_unlock(&c->dlock);
}

static void stop_workers(mpsync_client *c, unsigned started) {
  uv_mutex_lock(&c->dlock);
  c->dstop = 1;
  uv_cond_broadcast(&c->dcond);
  uv_mutex_unlock(&c->dlock);
  for (unsigned i = 0; i < started; i++) uv_thread_join(&c->workers[i]);
}

static unsigned start_workers(mpsync_client *c) {
  unsigned i;
  for (i = 0; i < c->n_workers; i++) {
    worker_arg *wa = malloc(sizeof *wa);
    if (!wa) break;
    wa->client = c;
    wa->index = i;
    if (uv_thread_create(&c->workers[i], delivery_main, wa) != 0) {
      free(wa);
      break;
    }
  }
  return i;
}

/* ---------------------------------------------------------------- loop thread: messages */

static loop_biz *find_biz(mpsync_client *c, const char *biz, int create) {
  for (loop_biz *lb = c->bizs; lb; lb = lb->next)
    if (strcmp(lb->biz, biz) == 0) return lb;
  if (!create) return NULL;
  loop_biz *lb = calloc(1, sizeof *lb);
  if (!lb) return NULL;
  snprintf(lb->biz, sizeof lb->biz, "%s", biz);
  lb->next = c->bizs;
  c->bizs = lb;
  return lb;
}

static void forget_in_flight(loop_biz *lb) {
  lb->in_flight = 0;
  free(lb->key.target);
  memset(&lb->key, 0, sizeof lb->key);
}

static int is_user_stream(int kind) { return kind == MPSYNC__WIRE__STREAM_KIND__STREAM_USER; }

static void loop_dispatch(mpsync_client *c, loop_biz *lb) {
  uint64_t now = uv_now(&c->loop);
  mps_msg *m = NULL;
  int rc = lb->fn ? mps_store_next_message(c->store, lb->biz, mps_policy_user(c->policy),
                                           mps_wall_ms(), c->max_oplogs, c->max_deliveries, &m)
                  : 0;
  if (rc) {
    mps_log(&c->log, MPSYNC_LOG_ERROR, "cache read for %s failed: %s", lb->biz,
            mps_store_errmsg(c->store));
    cache_lost(c);
  }
  delivery_item *it = m ? calloc(1, sizeof *it) : NULL;
  char *target = it ? mps_strdup(m->target) : NULL;
  if (!target) {
    if (m) mps_store_undo_delivery(c->store, m); /* out of memory: not handed out, not counted */
    mps_msg_free(m);
    free(it);
    mps_policy_dispatch_empty(c->policy, lb->biz);
    return;
  }
  forget_in_flight(lb);
  lb->in_flight = 1;
  lb->key.kind = m->kind;
  lb->key.target = target;
  lb->key.stream = m->stream;
  lb->key.first_row = m->first_row;
  lb->key.last_row = m->last_row;
  lb->key.delivery = m->delivery;
  snprintf(lb->key.biz, sizeof lb->key.biz, "%s", lb->biz);
  lb->queued_seq = it->seq = ++c->dispatch_seq;
  it->msg = m;
  it->fn = lb->fn;
  it->fn_data = lb->fn_data;
  it->user_gen = is_user_stream(m->kind) ? mps_policy_user_gen(c->policy) : 0;
  mps_log(&c->log, MPSYNC_LOG_DEBUG, "dispatch %s: %zu oplogs, delivery %u", lb->biz, m->count,
          m->delivery);
  mps_policy_dispatched(c->policy, lb->biz, is_user_stream(m->kind), m->delivery, now);
  delivery_push(c, it);
}

/* The message in flight is withdrawn. Queued and not started, it never runs and its delivery is
 * not counted: a redelivery, a user switch or an unregister must not burn one (C6). */
static void loop_recall(mpsync_client *c, loop_biz *lb) {
  if (!lb->in_flight) return;
  delivery_item *it = withdraw(c, lb->queued_seq);
  if (it) {
    mps_store_undo_delivery(c->store, it->msg);
    mps_msg_free(it->msg);
    free(it);
    forget_in_flight(lb);
    return;
  }
  /* A callback has it: its report still counts (the app did get it). */
  free(lb->running_key.target);
  lb->running_key = lb->key;
  lb->running_valid = 1;
  memset(&lb->key, 0, sizeof lb->key);
  lb->in_flight = 0;
}

static void deliver_state(mpsync_client *c, int state, const char *reason) {
  atomic_store(&c->state, state);
  mps_log(&c->log, MPSYNC_LOG_INFO, "state %d%s%s", state, reason[0] ? ": " : "", reason);
  if (!c->state_fn) return;
  delivery_item *it = calloc(1, sizeof *it);
  if (!it) return;
  it->state = (mpsync_state)state;
  snprintf(it->reason, sizeof it->reason, "%s", reason);
  delivery_push(c, it);
}

/* ---------------------------------------------------------------- loop thread: the link */

static const char *kind_name(int kind) {
  return kind == MPSYNC__WIRE__STREAM_KIND__STREAM_USER     ? "user"
         : kind == MPSYNC__WIRE__STREAM_KIND__STREAM_DEVICE ? "device"
                                                           : "global";
}

static void heartbeat_key(int network, char *key, size_t len) {
  snprintf(key, len, "heartbeat_s.%d", network);
}

static void pull_global(mpsync_client *c) {
  if (!c->link) return;
  mps_stream_point **pts;
  size_t n;
  if (mps_store_points(c->store, NULL, MPSYNC__WIRE__STREAM_KIND__STREAM_GLOBAL, &pts, &n) != 0)
    return;
  mps_session_pull_global(mps_link_session(c->link), pts, n);
  mps_store_points_free(pts, n);
  mps_link_flush(c->link);
}

/* Issue 13 item 6b: the cache file deleted, truncated or overwritten under the running client.
 * An empty one takes its place (the device id kept) and nothing in flight survives; the caller
 * then ends the link, and the next Hello says fresh_cache: the server resends what this device
 * has not reported. 1 when it was lost, 0 when intact, -1 when it could not be rebuilt. */
static int cache_lost(mpsync_client *c) {
  char why[4400], err[4400], id[sizeof c->device_id];
  if (!mps_store_lost(c->store, why, sizeof why)) return 0;
  mps_log(&c->log, MPSYNC_LOG_ERROR, "%s: rebuilding it; the server resends what was not reported",
          why);
  if (mps_store_rebuild(c->store, err, sizeof err) != 0 ||
      mps_store_device_id(c->store, c->device_id, id, sizeof id) != 0) {
    mps_log(&c->log, MPSYNC_LOG_ERROR, "%s", err);
    return -1;
  }
  c->cache_synced = 0; /* the new cache never finished a handshake */
  mps_policy_cache_lost(c->policy, uv_now(&c->loop));
  /* The link in use was opened with the lost cache's points: nothing more is stored from it. */
  c->stale_link = c->link != NULL;
  return 1;
}

/* Session events (loop thread, inside the link's read). */

static int on_welcome(void *ud, const mps_welcome *w) {
  mpsync_client *c = ud;
  mps_log(&c->log, MPSYNC_LOG_INFO, "connected to %s:%u (heartbeat %us, timeout %us)", c->host,
          (unsigned)c->port, w->heartbeat_interval_s, w->heartbeat_timeout_s);
  char key[32];
  heartbeat_key(mps_policy_network(c->policy), key, sizeof key);
  int64_t learned = mps_store_setting(c->store, key, 0);
  if (!c->cache_synced && mps_store_set_setting(c->store, "cache_synced", 1) == 0)
    c->cache_synced = 1;
  mps_policy_link_up(c->policy, uv_now(&c->loop), w->heartbeat_interval_s, w->heartbeat_max_s,
                     learned > 0 && learned < UINT32_MAX ? (uint32_t)learned : 0);
  run_actions(c);
  return 0;
}

/* C20: only this device's and the bound user's streams, and the global ones, are ours. */
static int batch_is_ours(mpsync_client *c, const mps_batch *b) {
  const char *user = mps_policy_user(c->policy);
  switch (b->kind) {
    case MPSYNC__WIRE__STREAM_KIND__STREAM_USER: return user && strcmp(b->target, user) == 0;
    case MPSYNC__WIRE__STREAM_KIND__STREAM_DEVICE: return strcmp(b->target, c->device_id) == 0;
    case MPSYNC__WIRE__STREAM_KIND__STREAM_GLOBAL: return 1;
    default: return 0;
  }
}

static int biz_registered(void *ud, const char *biz) {
  loop_biz *lb = find_biz(ud, biz, 0);
  return lb && lb->fn;
}

static int on_batch(void *ud, const mps_batch *b) {
  mpsync_client *c = ud;
  if (!batch_is_ours(c, b)) {
    mps_log(&c->log, MPSYNC_LOG_WARN, "refused a %s batch of %s for another target",
            kind_name(b->kind), b->biz_type);
    return MPSYNC_EPROTO;
  }
  /* The link went down inside this read (a write answering an earlier frame failed): nothing
   * more from it is stored or acknowledged; the server sends it again after the reconnect. */
  if (!c->link) return MPSYNC_ECLOSED;
  /* Unacknowledged: it comes again after the next Hello, which says fresh_cache. */
  if (c->stale_link || cache_lost(c)) return MPSYNC_ESTORE;
  int admits = mps_store_stream_admits(c->store, b, mps_policy_user(c->policy),
                                       MPS_MAX_HELLO_STREAMS);
  if (admits < 0) {
    mps_log(&c->log, MPSYNC_LOG_ERROR, "cache read failed: %s", mps_store_errmsg(c->store));
    return MPSYNC_ESTORE;
  }
  if (!admits) {
    /* Issue 13 item 9: every stream kept is announced in each Hello; beyond the bound a hostile
     * server could grow the Hello past the frame limit and cut this device off for good. Only a
     * server planting streams gets here: the newest stream of a bizType nobody registered makes
     * room (planted junk, most likely); when every stream is registered, the batch is refused. */
    char gone[32];
    int rc = mps_store_forget_newest_stream(c->store, mps_policy_user(c->policy), biz_registered,
                                            c, gone, sizeof gone);
    if (rc < 0) {
      mps_log(&c->log, MPSYNC_LOG_ERROR, "cache write failed: %s", mps_store_errmsg(c->store));
      return MPSYNC_ESTORE;
    }
    if (!rc) {
      mps_log(&c->log, MPSYNC_LOG_WARN, "refused a new %s stream of %s: %u streams kept already",
              kind_name(b->kind), b->biz_type, MPS_MAX_HELLO_STREAMS);
      return MPSYNC_EPROTO;
    }
    if (!c->forgot_streams++)
      mps_log(&c->log, MPSYNC_LOG_WARN,
              "%u streams kept already: forgot the newest unregistered one (%s) for a new one of %s",
              MPS_MAX_HELLO_STREAMS, gone, b->biz_type);
  }
  uint64_t point;
  size_t inserted;
  /* C3: commit the whole batch, then acknowledge; a failure closes the link unacknowledged. */
  size_t room = 0;
  int64_t pending = mps_store_pending(c->store);
  if (pending < c->max_cached) room = (size_t)(c->max_cached - pending);
  int cut = 0;
  if (mps_store_commit_batch(c->store, b, room, &point, &inserted, &cut) != 0) {
    mps_log(&c->log, MPSYNC_LOG_ERROR, "cache write failed: %s", mps_store_errmsg(c->store));
    cache_lost(c);
    return MPSYNC_ESTORE;
  }
  mps_log(&c->log, MPSYNC_LOG_DEBUG, "batch %s/%s: %zu oplogs, %zu new, sync point %" PRIu64,
          kind_name(b->kind), b->biz_type, b->n_oplogs, inserted, point);
  if (b->reset)
    mps_log(&c->log, MPSYNC_LOG_WARN, "stream %s/%s was reset by the server: resynced from 1",
            kind_name(b->kind), b->biz_type);
  if (b->lost)
    mps_log(&c->log, MPSYNC_LOG_WARN,
            "stream %s/%s: %" PRIu64 " oplogs expired on the server before this device got them",
            kind_name(b->kind), b->biz_type, b->lost);
  if (cut) {
    /* C18: full. Take no more than fits; the ack covers only what was stored, so the server
     * keeps the rest until the app reports and we resync. */
    mps_log(&c->log, MPSYNC_LOG_WARN, "cache full (%" PRId64 " oplogs): holding back the rest",
            c->max_cached);
    mps_policy_cache_full(c->policy);
  }
  mps_stream_point pt = MPSYNC__WIRE__STREAM_POINT__INIT;
  pt.kind = b->kind;
  pt.biz_type = b->biz_type;
  pt.target = b->target;
  pt.sync_point = point;
  pt.epoch = b->epoch;
  mps_stream_point *pts[1] = {&pt};
  int rc = mps_session_ack(mps_link_session(c->link), pts, 1);
  if (rc) return rc;
  if (inserted) {
    mps_policy_stored(c->policy, b->biz_type, uv_now(&c->loop));
    run_actions(c);
  }
  return 0;
}

static void on_peer_close(void *ud, int code, const char *reason, uint32_t retry_after_s) {
  mpsync_client *c = ud;
  mps_log(&c->log, MPSYNC_LOG_INFO, "server closed the link (%d): %s", code, reason);
  c->retry_after_s = retry_after_s;
  c->close_code = code;
}

static void on_pong(void *ud) {
  mpsync_client *c = ud;
  mps_policy_pong(c->policy, uv_now(&c->loop));
  run_actions(c);
}

static const mps_session_callbacks session_callbacks = {
    .on_welcome = on_welcome, .on_batch = on_batch, .on_close = on_peer_close, .on_pong = on_pong};

/* What the policy needs to know of why a link ended: silence, replacement, a protocol error. */
static mps_down_cause down_cause(const mpsync_client *c, int err) {
  if (err == MPSYNC_ETIMEDOUT) return MPS_DOWN_SILENCE;
  if (err == MPSYNC_EPROTO || err == MPSYNC_EFRAMESIZE || err == MPSYNC_EVERSION)
    return MPS_DOWN_PROTOCOL;
  if (err != MPSYNC_ECLOSED) return MPS_DOWN_ERROR;
  switch (c->close_code) {
    case MPSYNC__WIRE__CLOSE_CODE__CLOSE_REPLACED: return MPS_DOWN_REPLACED;
    case MPSYNC__WIRE__CLOSE_CODE__CLOSE_PROTOCOL_ERROR:
    case MPSYNC__WIRE__CLOSE_CODE__CLOSE_FRAME_TOO_LARGE:
    case MPSYNC__WIRE__CLOSE_CODE__CLOSE_UNSUPPORTED_VERSION:
    case MPSYNC__WIRE__CLOSE_CODE__CLOSE_BAD_HELLO: return MPS_DOWN_PROTOCOL;
    default: return MPS_DOWN_ERROR;
  }
}

static void link_lost(mpsync_client *c, int err, const char *reason) {
  int was_up = mps_policy_link_is_up(c->policy);
  mps_log(&c->log, was_up ? MPSYNC_LOG_INFO : MPSYNC_LOG_WARN, "link %s: %s",
          was_up ? "lost" : "failed", reason);
  uint64_t now = uv_now(&c->loop);
  mps_policy_link_down(c->policy, now, reason, c->retry_after_s, down_cause(c, err));
  uint64_t at = mps_policy_reconnect_at(c->policy);
  if (at != MPS_POLICY_NO_DEADLINE)
    mps_log(&c->log, MPSYNC_LOG_INFO, "reconnect in %" PRIu64 " ms", at > now ? at - now : 0);
  run_actions(c);
}

static void on_link_down(mps_link *l, void *ud, int err, const char *reason) {
  mpsync_client *c = ud;
  if (c->link != l) return;
  c->link = NULL;
  if (c->tls_offered && err == MPSYNC_ETLS) {
    /* An offered session the handshake failed on (say a cache changed under an app without a
     * cache key) is not offered again: the next link makes a full handshake, no failure loop. */
    mps_log(&c->log, MPSYNC_LOG_WARN, "TLS handshake failed resuming a session: forgotten");
    mps_store_tls_session_forget(c->store);
  }
  c->tls_offered = 0;
  link_lost(c, err, reason);
}

/* Says whether the link just up resumed the session it offered (issue 18). */
static void note_resumption(mpsync_client *c, mps_link *l) {
  mps_tls *t = mps_link_tls(l);
  if (t && c->tls_offered)
    mps_log(&c->log, MPSYNC_LOG_INFO, "TLS session %s",
            mps_tls_resumed(t) ? "resumed" : "not resumed: full handshake");
  c->tls_offered = 0;
}

/* A resumable session of the current link, kept for the next link to offer. */
static void on_tls_session(mps_link *l, void *ud, const uint8_t *blob, size_t len) {
  mpsync_client *c = ud;
  if (c->link != l || !c->tls_key[0]) return;
  if (mps_store_tls_session_put(c->store, c->tls_key, blob, len) != 0)
    mps_log(&c->log, MPSYNC_LOG_WARN, "cannot keep the TLS session: %s", mps_store_errmsg(c->store));
}

/* TCP and TLS are up: the Hello names the user, the session and every sync point we hold. */
static void on_link_open(mps_link *l, void *ud) {
  mpsync_client *c = ud;
  mps_hello h = MPSYNC__WIRE__HELLO__INIT;
  const char *user = mps_policy_user(c->policy);
  cache_lost(c); /* a lost cache rebuilt now makes this a fresh_cache Hello */
  c->stale_link = 0;
  note_resumption(c, l);
  h.protocol_version = MPS_PROTOCOL_VERSION;
  h.instance_id = c->instance_id;
  h.device_id = c->device_id;
  h.user_id = (char *)(user ? user : "");
  h.session_id = (char *)mps_policy_session(c->policy);
  h.os_type = (char *)c->os_name;
  h.app_version = c->app_version;
  h.sdk_version = MPSYNC_VERSION_STRING;
  mps_stream_point **pts = NULL;
  size_t n = 0;
  if (mps_store_points(c->store, user, 0, &pts, &n) != 0)
    mps_log(&c->log, MPSYNC_LOG_WARN, "cannot read sync points: %s", mps_store_errmsg(c->store));
  h.streams = pts;
  h.n_streams = n;
  if (n > MPS_MAX_HELLO_STREAMS) {
    /* A cache filled before the bound existed: announce what fits; the server sends the rest
     * from this device's acknowledged points. */
    mps_log(&c->log, MPSYNC_LOG_ERROR, "%zu streams cached: announcing the first %u", n,
            MPS_MAX_HELLO_STREAMS);
    h.n_streams = MPS_MAX_HELLO_STREAMS;
  }
  /* C21: a cache that never finished a handshake, with no sync point at all, is new or was
   * lost: the server must resend what it keeps, not what follows our old acknowledgements. */
  h.fresh_cache = n == 0 && !c->cache_synced;
  int rc = mps_session_hello(mps_link_session(l), &h, uv_now(&c->loop));
  mps_store_points_free(pts, n);
  if (rc < 0) {
    /* Never wait out a timeout for a Hello that was not sent. */
    char reason[160];
    snprintf(reason, sizeof reason, "cannot send hello: %s", mpsync_strerror(rc));
    mps_link_close(l, 0);
    c->link = NULL;
    link_lost(c, rc, reason);
  }
}

static const mps_link_callbacks link_callbacks = {
    .on_open = on_link_open, .on_down = on_link_down, .on_tls_session = on_tls_session};

static void do_connect(mpsync_client *c) {
  c->retry_after_s = 0;
  c->close_code = -1;
  c->forgot_streams = 0;
  c->stale_link = 0;
  mps_link_options o = {.tls = c->tls_config,
                        .server_name = c->server_name,
                        .ready_timeout_ms = CONNECT_TIMEOUT_MS,
                        .linger_ms = 0,
                        .ready_timeout_reason = "connect timed out",
                        .peer_name = "server"};
  uint8_t *blob = NULL;
  size_t len = 0;
  c->tls_key[0] = '\0';
  if (c->tls_config && c->tls_peer[0]) {
    /* Another user's session is not offered (and get forgets it): resuming would link the two
     * users' connections for the server and anyone watching the handshakes. */
    const char *user = mps_policy_user(c->policy);
    snprintf(c->tls_key, sizeof c->tls_key, "%s|%s", c->tls_peer, user ? user : "");
    int got = mps_store_tls_session_get(c->store, c->tls_key, &blob, &len);
    if (got < 0)
      mps_log(&c->log, MPSYNC_LOG_WARN, "cached TLS session refused (%s): full handshake",
              got == MPSYNC_ESTORE ? "its seal does not open" : mpsync_strerror(got));
    o.tls_session = blob;
    o.tls_session_len = len;
  }
  c->tls_offered = blob != NULL;
  mps_session *s = mps_session_new(MPS_ROLE_CLIENT, &session_callbacks, c);
  mps_link *l;
  int rc = mps_link_connect(&c->loop, c->host, c->port, &o, s, &link_callbacks, c, &l);
  mps_tls_free_session(blob, len);
  if (rc) {
    char reason[160];
    snprintf(reason, sizeof reason, "cannot connect to %s: %s", c->host,
             rc == MPSYNC_ENOMEM ? "out of memory" : uv_strerror(rc));
    link_lost(c, rc, reason);
    return;
  }
  c->link = l;
}

static void do_disconnect(mpsync_client *c, const char *why) {
  mps_link *l = c->link;
  if (!l) return;
  c->link = NULL;
  mps_session *s = mps_link_session(l);
  if (mps_session_ready(s) && !mps_session_closed(s))
    mps_session_close(s, MPSYNC__WIRE__CLOSE_CODE__CLOSE_NORMAL, why, 0);
  mps_link_close(l, 1);
}

/* Another install announces this device id (issue 13 item 10): an iOS backup restored onto a
 * second phone, say. The copy takes a new id and the original keeps its own; when neither can
 * tell (files older than the record of where the id was written), both change it the second
 * time: two fresh random ids cannot collide again. */
static void resolve_collision(mpsync_client *c, unsigned times, const char *why) {
  int copied = mps_store_device_id_copied(c->store);
  if (!copied && times < 2) {
    mps_log(&c->log, MPSYNC_LOG_WARN,
            "device id %s is in use by another install (%s): keeping it, this is the original",
            c->device_id, why);
    return;
  }
  char fresh[sizeof c->device_id];
  if (mps_store_new_device_id(c->store, fresh, sizeof fresh) != 0) {
    mps_log(&c->log, MPSYNC_LOG_ERROR, "cannot store a new device id: %s",
            mps_store_errmsg(c->store));
    return;
  }
  mps_log(&c->log, MPSYNC_LOG_WARN, "device id %s is in use by another install (%s): %s, new device id %s",
          c->device_id, why, copied ? "this install is the copy" : "neither install is known as the original",
          fresh);
  uv_mutex_lock(&c->lock);
  memcpy(c->device_id, fresh, sizeof fresh);
  uv_mutex_unlock(&c->lock);
}

/* Carries out what the policy decided, in order. */
static void run_actions(mpsync_client *c) {
  mps_action a;
  loop_biz *lb;
  while (mps_policy_next(c->policy, &a)) {
    switch (a.type) {
      case MPS_DO_CONNECT: do_connect(c); break;
      case MPS_DO_DISCONNECT: do_disconnect(c, a.reason); break;
      case MPS_DO_STATE: deliver_state(c, a.state, a.reason); break;
      case MPS_DO_DISPATCH:
        if ((lb = find_biz(c, a.biz, 0)))
          loop_dispatch(c, lb);
        else
          mps_policy_dispatch_empty(c->policy, a.biz);
        break;
      case MPS_DO_RECALL:
        if ((lb = find_biz(c, a.biz, 0))) loop_recall(c, lb);
        break;
      case MPS_DO_PULL_GLOBAL: pull_global(c); break;
      case MPS_DO_SET_HEARTBEAT:
        if (c->link) mps_session_set_heartbeat(mps_link_session(c->link), a.value);
        mps_log(&c->log, MPSYNC_LOG_INFO, "heartbeat interval %us (%s)", a.value, a.reason);
        break;
      case MPS_DO_DEVICE_COLLISION: resolve_collision(c, a.value, a.reason); break;
      case MPS_DO_SAVE_HEARTBEAT: {
        char key[32];
        heartbeat_key(a.network, key, sizeof key);
        mps_store_set_setting(c->store, key, a.value);
        if (a.failed_value)
          mps_log(&c->log, MPSYNC_LOG_INFO, "heartbeat interval %us failed; back to %us",
                  a.failed_value, a.value);
        break;
      }
    }
  }
  uint64_t deadline = mps_policy_deadline(c->policy);
  if (deadline == MPS_POLICY_NO_DEADLINE) {
    uv_timer_stop(&c->policy_timer);
    return;
  }
  uint64_t now = uv_now(&c->loop);
  uv_timer_start(&c->policy_timer, on_policy_timer, deadline > now ? deadline - now : 0, 0);
}

static void on_policy_timer(uv_timer_t *t) {
  mpsync_client *c = t->data;
  mps_policy_tick(c->policy, uv_now(&c->loop));
  run_actions(c);
}

/* ---------------------------------------------------------------- loop thread: commands */

static void waiter_error(cmd *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void waiter_error(cmd *k, const char *fmt, ...) {
  if (!k->waiter) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(k->waiter->error, sizeof k->waiter->error, fmt, ap);
  va_end(ap);
}

static int handle_report(mpsync_client *c, cmd *k) {
  loop_biz *lb = find_biz(c, k->a, 0);
  long long last_row = strtoll(k->b, NULL, 10);
  if (lb && lb->running_valid && last_row == lb->running_key.last_row &&
      !(lb->in_flight && last_row == lb->key.last_row)) {
    /* Withdrawn while its callback ran, and reported by it: forget it as asked. */
    if (mps_store_delete_message(c->store, &lb->running_key) != 0) {
      waiter_error(k, "cache delete failed: %s", mps_store_errmsg(c->store));
      return MPSYNC_ESTORE;
    }
    free(lb->running_key.target);
    memset(&lb->running_key, 0, sizeof lb->running_key);
    lb->running_valid = 0;
    return 0;
  }
  if (!lb || !lb->in_flight || last_row != lb->key.last_row) {
    mps_log(&c->log, MPSYNC_LOG_WARN, "report of %s message %s ignored: not in flight", k->a, k->b);
    waiter_error(k, "message %s of %s is not in flight", k->b, k->a);
    return MPSYNC_ESTALE;
  }
  if (mps_store_delete_message(c->store, &lb->key) != 0) {
    /* Not deleted: it stays in flight and will be redelivered; nothing is lost. */
    mps_log(&c->log, MPSYNC_LOG_ERROR, "cache delete failed: %s", mps_store_errmsg(c->store));
    waiter_error(k, "cache delete failed: %s", mps_store_errmsg(c->store));
    return MPSYNC_ESTORE;
  }
  /* A redelivery of this very message may wait in the queue behind the callback that reported
   * it: it must never run after the report (C5). */
  delivery_item *again = withdraw(c, lb->queued_seq);
  if (again) {
    mps_msg_free(again->msg);
    free(again);
  }
  forget_in_flight(lb);
  uint64_t now = uv_now(&c->loop);
  mps_policy_reported(c->policy, lb->biz, now);
  if (mps_store_pending(c->store) < c->max_cached) mps_policy_cache_room(c->policy, now);
  return 0;
}

/* Purges (C9 "forget me", or everything): nothing in flight may survive what it names. */
static int handle_purge(mpsync_client *c, cmd *k, const char *user) {
  int rc = user ? mps_store_purge_user(c->store, user) : mps_store_purge_all(c->store);
  if (rc) {
    mps_log(&c->log, MPSYNC_LOG_ERROR, "purge failed: %s", mps_store_errmsg(c->store));
    waiter_error(k, "purge failed: %s", mps_store_errmsg(c->store));
    return rc;
  }
  mps_policy_purged(c->policy, user, uv_now(&c->loop));
  return 0;
}

/* C9: the loop's generation is published, and no queued message of an older one survives it;
 * under dlock, so a worker either took its item before (and a bind waits for it) or never. */
static void publish_user_gen(mpsync_client *c) {
  uv_mutex_lock(&c->dlock);
  atomic_store(&c->user_gen_now, mps_policy_user_gen(c->policy));
  uv_mutex_unlock(&c->dlock);
}

static int handle_set_user(mpsync_client *c, cmd *k, const char *user, const char *session) {
  if (mps_policy_set_user(c->policy, user, session, uv_now(&c->loop)) != 0) {
    waiter_error(k, "out of memory");
    return MPSYNC_ENOMEM;
  }
  run_actions(c); /* the recalls withdraw the old user's queued messages */
  publish_user_gen(c);
  return 0;
}

static int handle_register(mpsync_client *c, cmd *k) {
  loop_biz *lb = find_biz(c, k->a, 1);
  if (!lb || mps_policy_register(c->policy, k->a, uv_now(&c->loop)) != 0) {
    waiter_error(k, "out of memory");
    return MPSYNC_ENOMEM;
  }
  lb->fn = k->fn;
  lb->fn_data = k->fn_data;
  /* A message already queued goes to the callback registered now. */
  uv_mutex_lock(&c->dlock);
  for (delivery_item *it = c->dhead; it; it = it->next)
    if (it->msg && lb->in_flight && it->seq == lb->queued_seq) {
      it->fn = k->fn;
      it->fn_data = k->fn_data;
    }
  uv_mutex_unlock(&c->dlock);
  return 0;
}

static int handle_unregister(mpsync_client *c, cmd *k) {
  loop_biz *lb = find_biz(c, k->a, 0);
  if (!lb || !lb->fn) {
    waiter_error(k, "%s is not registered", k->a);
    return MPSYNC_ENOTFOUND;
  }
  lb->fn = NULL;
  lb->fn_data = NULL;
  mps_policy_unregister(c->policy, k->a);
  return 0;
}

static int handle_cmd(mpsync_client *c, cmd *k) {
  uint64_t now = uv_now(&c->loop);
  switch (k->type) {
    case CMD_FOREGROUND: mps_policy_foreground(c->policy, now); return 0;
    case CMD_BACKGROUND: mps_policy_background(c->policy, now); return 0;
    case CMD_BIND_USER: return handle_set_user(c, k, k->a, k->b);
    case CMD_CLEAR_USER: return handle_set_user(c, k, NULL, NULL);
    case CMD_REGISTER: return handle_register(c, k);
    case CMD_UNREGISTER: return handle_unregister(c, k);
    case CMD_REPORT: return handle_report(c, k);
    case CMD_PURGE_USER: return handle_purge(c, k, k->a);
    case CMD_PURGE_ALL: return handle_purge(c, k, NULL);
    case CMD_NETWORK_CHANGED:
      mps_log(&c->log, MPSYNC_LOG_INFO, "network changed (type %d)", k->arg);
      mps_policy_network_changed(c->policy, k->arg, now);
      return 0;
  }
  return MPSYNC_EINVAL;
}

static void finish_cmd(cmd *k, int result) {
  if (k->waiter) {
    k->waiter->result = result;
    uv_sem_post(&k->waiter->done);
  }
  free(k->a);
  free(k->b);
  free(k);
}

static void on_close_handle(uv_handle_t *h) { (void)h; }

/* Ends the loop: the link says goodbye (Close, close_notify, FIN) within a bounded time, and
 * every handle closes so that uv_run returns. Allocates nothing. */
static void handle_stop(mpsync_client *c) {
  do_disconnect(c, "client shutdown");
  uv_close((uv_handle_t *)&c->wakeup, on_close_handle);
  uv_close((uv_handle_t *)&c->policy_timer, on_close_handle);
}

static void on_wakeup(uv_async_t *a) {
  mpsync_client *c = a->data;
  uv_mutex_lock(&c->lock);
  cmd *k = c->cmd_head;
  c->cmd_head = c->cmd_tail = NULL;
  uv_mutex_unlock(&c->lock);
  while (k) {
    cmd *next = k->next;
    int rc = handle_cmd(c, k);
    run_actions(c);
    finish_cmd(k, rc);
    k = next;
  }
  if (!atomic_load(&c->stop)) return;
  /* Commands queued while the ones above ran: their wakeup dies with the async handle, so they
   * are answered here (no new one can come: stopping is set). A waiting caller must not hang. */
  uv_mutex_lock(&c->lock);
  k = c->cmd_head;
  c->cmd_head = c->cmd_tail = NULL;
  uv_mutex_unlock(&c->lock);
  while (k) {
    cmd *next = k->next;
    finish_cmd(k, MPSYNC_ESHUTDOWN);
    k = next;
  }
  handle_stop(c);
}

static void loop_main(void *arg) {
  mpsync_client *c = arg;
  uv_run(&c->loop, UV_RUN_DEFAULT);
}

/* ---------------------------------------------------------------- facade */

static int post_full(mpsync_client *c, cmd *proto, const char *a, const char *b, cmd_waiter *w) {
  cmd *k = calloc(1, sizeof *k);
  if (!k) return fail_with(c, MPSYNC_ENOMEM, "out of memory");
  *k = *proto;
  k->next = NULL;
  k->waiter = w;
  if ((a && !(k->a = mps_strdup(a))) || (b && !(k->b = mps_strdup(b)))) {
    free(k->a);
    free(k);
    return fail_with(c, MPSYNC_ENOMEM, "out of memory");
  }
  uv_mutex_lock(&c->lock);
  if (c->stopping) {
    uv_mutex_unlock(&c->lock);
    free(k->a);
    free(k->b);
    free(k);
    return fail_with(c, MPSYNC_ESHUTDOWN, "the client is being freed");
  }
  if (c->cmd_tail)
    c->cmd_tail->next = k;
  else
    c->cmd_head = k;
  c->cmd_tail = k;
  uv_async_send(&c->wakeup);
  uv_mutex_unlock(&c->lock);
  return 0;
}

static int post(mpsync_client *c, cmd_type type, const char *a, const char *b) {
  cmd proto = {.type = type};
  return post_full(c, &proto, a, b, NULL);
}

/* Queues a command and waits for the loop thread's answer. Never called on the loop thread:
 * app code does not run there. */
static int post_wait_cmd(mpsync_client *c, cmd *proto, const char *a, const char *b) {
  cmd_waiter w;
  if (uv_sem_init(&w.done, 0) != 0) return fail_with(c, MPSYNC_ENOMEM, "cannot create a semaphore");
  w.result = 0;
  w.error[0] = '\0';
  int rc = post_full(c, proto, a, b, &w);
  if (rc == 0) {
    uv_sem_wait(&w.done);
    rc = w.result;
    if (rc) fail_with(c, rc, w.error[0] ? w.error : mpsync_strerror(rc));
  }
  uv_sem_destroy(&w.done);
  return rc;
}

static int post_wait(mpsync_client *c, cmd_type type, const char *a, const char *b) {
  cmd proto = {.type = type};
  return post_wait_cmd(c, &proto, a, b);
}

/* ---------------------------------------------------------------- configuration
 * The ABI rule (docs/API_STABILITY.md): the app passes the size of *its* mpsync_config. The
 * library reads and writes no byte past it, takes defaults for the fields the app's struct
 * lacks, and refuses a larger struct only when the bytes it does not know are not all zero. */

/* Every field after the first release's core set, in order: an older app's struct may end
 * before any of them. */
#define MPSYNC_CONFIG_OPTIONAL_FIELDS(X) \
  X(server_name)                        \
  X(delivery_threads)                   \
  X(max_cached_oplogs)                  \
  X(cache_key)                          \
  X(cache_key_len)                      \
  X(background_grace_ms)                \
  X(verify_fn)                          \
  X(trust_mode)

#define CONFIG_MIN_SIZE offsetof(mpsync_config, server_name)

static void config_defaults(mpsync_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->struct_size = sizeof *cfg;
  cfg->port = 443;
  cfg->os_type = MPSYNC_OS_ANDROID;
  cfg->app_version = "1.0.0";
  cfg->max_deliveries = 6;
  cfg->redelivery_base_ms = 5000;
  cfg->max_oplogs_per_message = 10;
  cfg->reconnect_max_ms = 60000;
  cfg->log_level = MPSYNC_LOG_INFO;
  cfg->delivery_threads = 4;
  cfg->max_cached_oplogs = 100000;
}

void mpsync_config_init(mpsync_config *cfg, size_t size) {
  if (!cfg || size < sizeof cfg->struct_size) return;
  mpsync_config d;
  config_defaults(&d);
  memset(cfg, 0, size);
  memcpy(cfg, &d, size < sizeof d ? size : sizeof d);
  cfg->struct_size = size;
}

/* The app's config as this library's struct: its fields, and defaults for those it lacks. */
static int read_config(const mpsync_config *in, mpsync_config *out) {
  size_t size = in->struct_size;
  if (size < CONFIG_MIN_SIZE)
    return fail_with(NULL, MPSYNC_EINVAL, "struct_size too small: call mpsync_config_init first");
  if (size > sizeof *out) {
    const unsigned char *extra = (const unsigned char *)in + sizeof *out;
    for (size_t i = 0; i < size - sizeof *out; i++)
      if (extra[i])
        return fail_with(NULL, MPSYNC_EINVAL,
                         "config sets fields this (older) libmpsync does not know");
  }
  config_defaults(out);
  mpsync_config d = *out;
  memcpy(out, in, size < sizeof *out ? size : sizeof *out);
#define X(field) \
  if (offsetof(mpsync_config, field) + sizeof out->field > size) out->field = d.field;
  MPSYNC_CONFIG_OPTIONAL_FIELDS(X)
#undef X
  out->struct_size = sizeof *out;
  return 0;
}

static int check_config(const mpsync_config *cfg) {
  if (!cfg->host || !*cfg->host) return fail_with(NULL, MPSYNC_EINVAL, "host is required");
  if (!cfg->instance_id || !*cfg->instance_id)
    return fail_with(NULL, MPSYNC_EINVAL, "instance_id is required");
  if (!cfg->data_dir || !*cfg->data_dir) return fail_with(NULL, MPSYNC_EINVAL, "data_dir is required");
  if (!cfg->port) return fail_with(NULL, MPSYNC_EINVAL, "port is 0");
  long instance_chars = mps_utf8_chars(cfg->instance_id);
  if (instance_chars < 0) return fail_with(NULL, MPSYNC_EINVAL, "instance_id is not valid UTF-8");
  if (instance_chars > MAX_INSTANCE_ID)
    return fail_with(NULL, MPSYNC_ETOOLONG, "instance_id over 100 characters");
  if (strlen(cfg->host) > 255) return fail_with(NULL, MPSYNC_ETOOLONG, "host over 255 bytes");
  if (cfg->device_id && strlen(cfg->device_id) > 63)
    return fail_with(NULL, MPSYNC_ETOOLONG, "device_id over 63 bytes");
  if (cfg->os_type != MPSYNC_OS_ANDROID && cfg->os_type != MPSYNC_OS_IOS)
    return fail_with(NULL, MPSYNC_EINVAL, "unknown os_type");
  if (cfg->trust_mode != MPSYNC_TRUST_CHAIN_AND_HOOK && cfg->trust_mode != MPSYNC_TRUST_HOOK_DECIDES)
    return fail_with(NULL, MPSYNC_EINVAL, "unknown trust_mode");
  if (cfg->app_version && strlen(cfg->app_version) > 20)
    return fail_with(NULL, MPSYNC_ETOOLONG, "app_version over 20 characters");
  if (cfg->max_oplogs_per_message > 1000)
    return fail_with(NULL, MPSYNC_EINVAL, "max_oplogs_per_message over 1000");
  if (cfg->delivery_threads > MPS_MAX_DELIVERY_THREADS)
    return fail_with(NULL, MPSYNC_EINVAL, "delivery_threads over 16");
  return 0;
}

static void free_client(mpsync_client *c) {
  free(c->host);
  free(c->server_name);
  free(c->instance_id);
  free(c->data_dir);
  free(c->app_version);
  while (c->bizs) {
    loop_biz *lb = c->bizs;
    c->bizs = lb->next;
    free(lb->key.target);
    free(lb->running_key.target);
    free(lb);
  }
  while (c->dhead) {
    delivery_item *it = c->dhead;
    c->dhead = it->next;
    mps_msg_free(it->msg);
    free(it);
  }
  mps_policy_free(c->policy);
  mps_store_close(c->store);
  mps_tls_config_free(c->tls_config);
  free(c);
}

static uint64_t random_seed(void) {
  uint64_t seed = 0;
  if (uv_random(NULL, NULL, &seed, sizeof seed, 0, NULL) != 0) seed = uv_hrtime();
  return seed;
}

static int open_client(const mpsync_config *cfg, mpsync_client *c) {
  int rc;
  char err[256] = ""; /* logged on failure: never uninitialised stack, whatever a callee forgot */
  mps_tls_trust trust = {.ca_file = cfg->ca_file,
                         .pins = cfg->pin_sha256,
                         .verify_fn = cfg->verify_fn,
                         .verify_user_data = cfg->user_data,
                         .hook_decides = cfg->trust_mode == MPSYNC_TRUST_HOOK_DECIDES};
  if (!cfg->plaintext &&
      (rc = mps_tls_client_config(&trust, &c->tls_config, err, sizeof err))) {
    mps_log(&c->log, MPSYNC_LOG_ERROR, "TLS configuration: %s", err);
    return fail_with(NULL, rc, err);
  }
  /* Failing, it leaves tls_peer "": no session is kept or offered, nothing else changes. */
  if (c->tls_config) (void)mps_tls_peer_id(&trust, c->host, c->port, c->server_name, c->tls_peer);
  if ((rc = mps_store_open(c->data_dir, &c->store, err, sizeof err)) != 0) {
    mps_log(&c->log, MPSYNC_LOG_ERROR, "%s", err);
    return fail_with(NULL, rc, err);
  }
  if (mps_store_recovered(c->store)) mps_log(&c->log, MPSYNC_LOG_ERROR, "%s", err);
  if ((rc = mps_store_use_key(c->store, cfg->cache_key, cfg->cache_key_len, err, sizeof err))) {
    mps_log(&c->log, MPSYNC_LOG_ERROR, "%s", err);
    return fail_with(NULL, rc, err);
  }
  if ((rc = mps_store_device_id(c->store, cfg->device_id, c->device_id, sizeof c->device_id)))
    return fail_with(NULL, rc, "cannot read or create the device id");
  c->cache_synced = mps_store_setting(c->store, "cache_synced", 0) != 0;
  mps_policy_config pc = {.redelivery_base_ms = cfg->redelivery_base_ms,
                          .redelivery_cap_ms = 10u * 60u * 1000u,
                          .reconnect_max_ms = cfg->reconnect_max_ms,
                          .stable_ms = STABLE_LINK_MS,
                          .background_grace_ms = cfg->background_grace_ms,
                          .default_heartbeat_s = MPS_DEFAULT_HEARTBEAT_S,
                          .seed = random_seed()};
  if (!(c->policy = mps_policy_new(&pc))) return fail_with(NULL, MPSYNC_ENOMEM, "out of memory");
  return 0;
}

int mpsync_client_new(const mpsync_config *app_cfg, mpsync_client **out) {
  if (!out || !app_cfg) return fail_with(NULL, MPSYNC_EINVAL, "NULL argument");
  *out = NULL;
  mpsync_config cfg;
  int rc = read_config(app_cfg, &cfg);
  if (rc || (rc = check_config(&cfg))) return rc;
  mpsync_client *c = calloc(1, sizeof *c);
  if (!c) return fail_with(NULL, MPSYNC_ENOMEM, "out of memory");
  c->host = mps_strdup(cfg.host);
  c->server_name = mps_strdup(cfg.server_name ? cfg.server_name : cfg.host);
  c->instance_id = mps_strdup(cfg.instance_id);
  c->data_dir = mps_strdup(cfg.data_dir);
  c->app_version = mps_strdup(cfg.app_version ? cfg.app_version : "1.0.0");
  c->port = cfg.port;
  c->os_name = cfg.os_type == MPSYNC_OS_IOS ? "IOS" : "ANDROID";
  cfg.max_deliveries = cfg.max_deliveries ? cfg.max_deliveries : 6;
  cfg.redelivery_base_ms = cfg.redelivery_base_ms ? cfg.redelivery_base_ms : 5000;
  cfg.reconnect_max_ms = cfg.reconnect_max_ms ? cfg.reconnect_max_ms : 60000;
  c->max_deliveries = cfg.max_deliveries;
  c->max_oplogs = cfg.max_oplogs_per_message ? cfg.max_oplogs_per_message : 10;
  c->n_workers = cfg.delivery_threads ? cfg.delivery_threads : 4;
  c->max_cached = cfg.max_cached_oplogs ? (int64_t)cfg.max_cached_oplogs : 100000;
  c->log = (mps_logger){cfg.log_fn, cfg.user_data, cfg.log_level};
  c->state_fn = cfg.state_fn;
  c->user_data = cfg.user_data;
  if (!c->host || !c->server_name || !c->instance_id || !c->data_dir || !c->app_version) {
    free_client(c);
    return fail_with(NULL, MPSYNC_ENOMEM, "out of memory");
  }
  if ((rc = open_client(&cfg, c)) != 0) {
    free_client(c);
    return rc;
  }
  if (uv_mutex_init(&c->lock) != 0) goto fail_lock;
  if (uv_mutex_init(&c->dlock) != 0) goto fail_dlock;
  if (uv_cond_init(&c->dcond) != 0) goto fail_dcond;
  atomic_init(&c->state, MPSYNC_STATE_DISCONNECTED);
  atomic_init(&c->user_gen_now, 0);
  atomic_init(&c->stop, 0);
  if (uv_loop_init(&c->loop) != 0) goto fail_sync;
  uv_async_init(&c->loop, &c->wakeup, on_wakeup);
  c->wakeup.data = c;
  uv_timer_init(&c->loop, &c->policy_timer);
  c->policy_timer.data = c;
  unsigned started = start_workers(c);
  if (started < c->n_workers || uv_thread_create(&c->loop_thread, loop_main, c) != 0) {
    stop_workers(c, started);
    handle_stop(c);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    uv_loop_close(&c->loop);
    goto fail_sync;
  }
  mps_log(&c->log, MPSYNC_LOG_INFO, "libmpsync %s started, device %s", MPSYNC_VERSION_STRING,
          c->device_id);
  *out = c;
  return 0;
fail_sync:
  uv_cond_destroy(&c->dcond);
fail_dcond:
  uv_mutex_destroy(&c->dlock);
fail_dlock:
  uv_mutex_destroy(&c->lock);
fail_lock:
  free_client(c);
  return fail_with(NULL, MPSYNC_EIO, "cannot start the SDK's threads");
}

static void walk_close(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, on_close_handle);
}

/* Messages queued and never started are not deliveries: the cache does not count them. */
static void uncount_queued(mpsync_client *c) {
  uv_mutex_lock(&c->dlock);
  delivery_item *prev = NULL, *it = c->dhead;
  while (it) {
    delivery_item *next = it->next;
    if (it->msg) {
      unlink_item(c, prev, it);
      mps_store_undo_delivery(c->store, it->msg);
      mps_msg_free(it->msg);
      free(it);
    } else {
      prev = it;
    }
    it = next;
  }
  uv_mutex_unlock(&c->dlock);
}

int mpsync_client_free(mpsync_client *c) {
  if (!c) return 0;
  if (on_delivery_thread(c)) {
    /* It would join the thread it runs on. */
    mps_log(&c->log, MPSYNC_LOG_ERROR, "mpsync_client_free called from a callback: refused");
    return fail_with(c, MPSYNC_EBUSY, "mpsync_client_free cannot run inside a callback");
  }
  uv_mutex_lock(&c->lock);
  int already = c->stopping;
  c->stopping = 1;
  atomic_store(&c->stop, 1);
  uv_async_send(&c->wakeup);
  uv_mutex_unlock(&c->lock);
  if (already) return fail_with(c, MPSYNC_ESHUTDOWN, "mpsync_client_free called twice");
  uv_thread_join(&c->loop_thread);
  if (uv_loop_close(&c->loop) == UV_EBUSY) {
    /* Something still open (it should not be): close it rather than leak the loop. */
    uv_walk(&c->loop, walk_close, NULL);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    uv_loop_close(&c->loop);
  }
  uncount_queued(c);
  /* Workers finish what is queued (a last state change, say) before they exit. */
  stop_workers(c, c->n_workers);
  uv_cond_destroy(&c->dcond);
  uv_mutex_destroy(&c->dlock);
  uv_mutex_destroy(&c->lock);
  free_client(c);
  return 0;
}

/* C9, the other half: the old user's callbacks that are already running finish before a bind or
 * clear returns. Not from a callback: two callbacks could then wait for each other. */
static void wait_old_user_callbacks(mpsync_client *c) {
  if (on_delivery_thread(c)) return;
  uv_mutex_lock(&c->dlock);
  unsigned gen = atomic_load(&c->user_gen_now);
  for (;;) {
    int busy = 0;
    for (unsigned i = 0; i < c->n_workers; i++)
      if (c->running_gen[i] && c->running_gen[i] != gen) busy = 1;
    if (!busy) break;
    uv_cond_wait(&c->dcond, &c->dlock);
  }
  uv_mutex_unlock(&c->dlock);
}

int mpsync_bind_user(mpsync_client *c, const char *user_id, const char *session_id) {
  if (!c) return MPSYNC_EINVAL;
  if (!user_id || !*user_id) return fail_with(c, MPSYNC_EINVAL, "user_id is NULL or empty");
  long user_chars = mps_utf8_chars(user_id);
  long session_chars = session_id ? mps_utf8_chars(session_id) : 0;
  if (user_chars < 0 || session_chars < 0)
    return fail_with(c, MPSYNC_EINVAL, "user_id or session_id is not valid UTF-8");
  if (user_chars > MPS_MAX_ID_CHARS)
    return fail_with(c, MPSYNC_ETOOLONG, "user_id over 100 characters");
  if (session_chars > MPS_MAX_ID_CHARS)
    return fail_with(c, MPSYNC_ETOOLONG, "session_id over 100 characters");
  int rc = post_wait(c, CMD_BIND_USER, user_id, session_id ? session_id : "");
  if (!rc) wait_old_user_callbacks(c);
  return rc;
}

int mpsync_clear_user(mpsync_client *c) {
  if (!c) return MPSYNC_EINVAL;
  int rc = post_wait(c, CMD_CLEAR_USER, NULL, NULL);
  if (!rc) wait_old_user_callbacks(c);
  return rc;
}

int mpsync_foreground(mpsync_client *c) {
  return c ? post(c, CMD_FOREGROUND, NULL, NULL) : MPSYNC_EINVAL;
}

int mpsync_background(mpsync_client *c) {
  return c ? post(c, CMD_BACKGROUND, NULL, NULL) : MPSYNC_EINVAL;
}

int mpsync_is_connected(mpsync_client *c) {
  return c && atomic_load(&c->state) == MPSYNC_STATE_CONNECTED;
}

mpsync_state mpsync_get_state(mpsync_client *c) {
  return c ? (mpsync_state)atomic_load(&c->state) : MPSYNC_STATE_DISCONNECTED;
}

int mpsync_device_id(mpsync_client *c, char *buf, size_t len) {
  if (!c || !buf) return MPSYNC_EINVAL;
  char id[sizeof c->device_id];
  uv_mutex_lock(&c->lock); /* the loop thread replaces it after a device-id collision */
  memcpy(id, c->device_id, sizeof id);
  uv_mutex_unlock(&c->lock);
  size_t n = strlen(id);
  if (len <= n) return fail_with(c, MPSYNC_ETOOLONG, "buffer too small for the device id");
  memcpy(buf, id, n + 1);
  return (int)n;
}

int mpsync_register_biz(mpsync_client *c, const char *biz, mpsync_message_fn fn, void *ud) {
  if (!c) return MPSYNC_EINVAL;
  if (!fn) return fail_with(c, MPSYNC_EINVAL, "callback is NULL");
  if (!mps_valid_biz(biz))
    return fail_with(c, MPSYNC_EINVAL, "bizType empty, over 30 characters or with spaces");
  cmd proto = {.type = CMD_REGISTER, .fn = fn, .fn_data = ud};
  return post_wait_cmd(c, &proto, biz, NULL);
}

int mpsync_unregister_biz(mpsync_client *c, const char *biz) {
  if (!c) return MPSYNC_EINVAL;
  if (!mps_valid_biz(biz))
    return fail_with(c, MPSYNC_EINVAL, "bizType empty, over 30 characters or with spaces");
  int rc = post_wait(c, CMD_UNREGISTER, biz, NULL);
  if (rc || on_delivery_thread(c)) return rc;
  /* Promise of the API: once this returns, the callback is not running and will not run. */
  uv_mutex_lock(&c->dlock);
  while (strand_busy(c, biz)) uv_cond_wait(&c->dcond, &c->dlock);
  uv_mutex_unlock(&c->dlock);
  return 0;
}

int mpsync_report(mpsync_client *c, const char *biz, const char *msg_id) {
  if (!c) return MPSYNC_EINVAL;
  if (!mps_valid_biz(biz) || !msg_id) return fail_with(c, MPSYNC_EINVAL, "bad bizType or NULL id");
  /* "<lastRow>,<lastOplogId>,<delivery>": reject anything else before it reaches the loop. */
  const char *p = msg_id;
  int fields = 0;
  while (*p) {
    if (*p < '0' || *p > '9') return fail_with(c, MPSYNC_EINVAL, "malformed message id");
    while (*p >= '0' && *p <= '9') p++;
    fields++;
    if (*p == ',')
      p++;
    else if (*p)
      return fail_with(c, MPSYNC_EINVAL, "malformed message id");
  }
  if (fields < 2 || fields > 3) return fail_with(c, MPSYNC_EINVAL, "malformed message id");
  return post_wait(c, CMD_REPORT, biz, msg_id);
}

int mpsync_purge_user(mpsync_client *c, const char *user_id) {
  if (!c) return MPSYNC_EINVAL;
  if (!user_id || !*user_id) return fail_with(c, MPSYNC_EINVAL, "user_id is NULL or empty");
  return post_wait(c, CMD_PURGE_USER, user_id, NULL);
}

int mpsync_purge_all(mpsync_client *c) {
  return c ? post_wait(c, CMD_PURGE_ALL, NULL, NULL) : MPSYNC_EINVAL;
}

int mpsync_network_changed(mpsync_client *c, mpsync_network_type type) {
  if (!c) return MPSYNC_EINVAL;
  if ((int)type < MPSYNC_NETWORK_UNKNOWN || type > MPSYNC_NETWORK_ETHERNET)
    return fail_with(c, MPSYNC_EINVAL, "unknown network type");
  cmd proto = {.type = CMD_NETWORK_CHANGED, .arg = (int)type};
  return post_full(c, &proto, NULL, NULL, NULL);
}
