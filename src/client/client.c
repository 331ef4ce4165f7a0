/* The client: public facade (command queue), loop thread (link, cache, dispatch), delivery thread. */
#include "client/client.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define MAX_USER_ID 100
#define MAX_INSTANCE_ID 100
#define REDELIVER_CAP_MS (10u * 60u * 1000u)

static void deliver_state(mpsync_client *c, mpsync_state st, const char *reason);
static void start_connect(mpsync_client *c);
static void pump(mpsync_client *c, loop_biz *lb);
static void pump_all(mpsync_client *c);
static void on_redeliver_timer(uv_timer_t *t);
static void on_reconnect_timer(uv_timer_t *t);
static void on_connect_timer(uv_timer_t *t);
static void on_heartbeat_timer(uv_timer_t *t);
static void hb_failed(mpsync_client *c);
static void wait_old_user_callbacks(mpsync_client *c);

/* ---------------------------------------------------------------- delivery thread */

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

static _Thread_local mpsync_client *delivering_for;

static const char *strand_of(const delivery_item *it) {
  return it->msg ? it->msg->biz : MPS_STATE_STRAND;
}

static int strand_busy(mpsync_client *c, const char *strand) {
  for (unsigned i = 0; i < c->n_workers; i++)
    if (strcmp(c->running[i], strand) == 0) return 1;
  return 0;
}

/* The oldest item whose strand is idle, unlinked from the queue; NULL when none. */
static delivery_item *take_runnable(mpsync_client *c) {
  delivery_item *prev = NULL;
  for (delivery_item *it = c->dhead; it; prev = it, it = it->next) {
    if (strand_busy(c, strand_of(it))) continue;
    if (prev)
      prev->next = it->next;
    else
      c->dhead = it->next;
    if (c->dtail == it) c->dtail = prev;
    it->next = NULL;
    return it;
  }
  return NULL;
}

static void deliver_message(mpsync_client *c, delivery_item *it, unsigned worker) {
  mps_msg *m = it->msg;
  int user_data = m->kind == MPSYNC__WIRE__STREAM_KIND__STREAM_USER;
  uv_mutex_lock(&c->dlock);
  /* C9: a user-stream message assembled before a bind/clear call is stale once that call has
   * begun; it stays cached and comes back when its user binds again. The check and the mark
   * below happen under the lock the bind takes, so a bind either sees this callback running and
   * waits for it, or this check sees the bind. */
  if (user_data && it->user_gen != atomic_load(&c->user_gen)) {
    uv_mutex_unlock(&c->dlock);
    return;
  }
  biz_callback *cb = c->callbacks;
  while (cb && strcmp(cb->biz, m->biz) != 0) cb = cb->next;
  int live = cb && cb->live_seq == it->seq;
  mpsync_message_fn fn = live ? cb->fn : NULL;
  void *ud = live ? cb->user_data : NULL;
  if (fn && user_data) c->running_gen[worker] = it->user_gen;
  uv_mutex_unlock(&c->dlock);
  if (!fn) return;
  mpsync_message pub = {m->biz, m->user_id, m->id, m->has_more, m->delivery, m->count, m->oplogs};
  fn(c, &pub, ud);
  if (user_data) {
    uv_mutex_lock(&c->dlock);
    c->running_gen[worker] = 0;
    uv_cond_broadcast(&c->dcond);
    uv_mutex_unlock(&c->dlock);
  }
}

typedef struct worker_arg {
  mpsync_client *client;
  unsigned index;
} worker_arg;

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
    uv_mutex_unlock(&c->dlock);
    if (it->msg) {
      deliver_message(c, it, wa.index);
      mps_msg_free(it->msg);
    } else if (c->state_fn) {
      c->state_fn(c->user_data, it->state, it->reason);
    }
    free(it);
    uv_mutex_lock(&c->dlock);
    c->running[wa.index][0] = '\0';
    /* The strand is free again: its next item may now run, and unregister may return. */
    uv_cond_broadcast(&c->dcond);
  }
  uv_mutex_unlock(&c->dlock);
}

static int on_delivery_thread(mpsync_client *c) { return delivering_for == c; }

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

static void deliver_state(mpsync_client *c, mpsync_state st, const char *reason) {
  if (atomic_exchange(&c->state, st) == (int)st && st != MPSYNC_STATE_CONNECT_FAILED) return;
  mps_log(&c->log, MPSYNC_LOG_INFO, "state %d%s%s", (int)st, reason[0] ? ": " : "", reason);
  if (!c->state_fn) return;
  delivery_item *it = calloc(1, sizeof *it);
  if (!it) return;
  it->state = st;
  snprintf(it->reason, sizeof it->reason, "%s", reason);
  delivery_push(c, it);
}

/* ---------------------------------------------------------------- loop thread: bizTypes */

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

/* Tells the delivery side which dispatch of biz is the live one (0: none). A queued item that is
 * not live any more — reported meanwhile, superseded by a redelivery — is never handed out. */
static void set_live(mpsync_client *c, const char *biz, uint64_t seq) {
  uv_mutex_lock(&c->dlock);
  for (biz_callback *cb = c->callbacks; cb; cb = cb->next)
    if (strcmp(cb->biz, biz) == 0) cb->live_seq = seq;
  uv_mutex_unlock(&c->dlock);
}

static void drop_in_flight(mpsync_client *c, loop_biz *lb) {
  if (lb->in_flight) set_live(c, lb->biz, 0);
  lb->in_flight = 0;
  free(lb->target);
  lb->target = NULL;
}

static void arm_redeliver(mpsync_client *c) {
  uint64_t next = UINT64_MAX;
  for (loop_biz *lb = c->bizs; lb; lb = lb->next)
    if (lb->in_flight && lb->redeliver_at < next) next = lb->redeliver_at;
  if (next == UINT64_MAX) {
    uv_timer_stop(&c->redeliver_timer);
    return;
  }
  uint64_t now = uv_now(&c->loop);
  uv_timer_start(&c->redeliver_timer, on_redeliver_timer, next > now ? next - now : 0, 0);
}

static void pump(mpsync_client *c, loop_biz *lb) {
  if (!lb->registered || lb->in_flight) return;
  mps_msg *m = NULL;
  int rc = mps_store_next_message(c->store, lb->biz, c->user_id, mps_wall_ms(), c->max_oplogs,
                                  c->max_deliveries, &m);
  if (rc) {
    mps_log(&c->log, MPSYNC_LOG_ERROR, "cache read for %s failed: %s", lb->biz,
            mps_store_errmsg(c->store));
    return;
  }
  if (!m) return;
  delivery_item *it = calloc(1, sizeof *it);
  if (!it) {
    mps_msg_free(m);
    return;
  }
  lb->in_flight = 1;
  lb->kind = m->kind;
  lb->target = mps_strdup(m->target);
  lb->stream = m->stream;
  lb->first_row = m->first_row;
  lb->last_row = m->last_row;
  uint64_t backoff = (uint64_t)c->redelivery_base_ms << (m->delivery < 16 ? m->delivery - 1 : 15);
  lb->dispatched_at = uv_now(&c->loop);
  lb->redeliver_at = lb->dispatched_at + (backoff < REDELIVER_CAP_MS ? backoff : REDELIVER_CAP_MS);
  mps_log(&c->log, MPSYNC_LOG_DEBUG, "dispatch %s: %zu oplogs, delivery %u", lb->biz, m->count,
          m->delivery);
  it->msg = m;
  it->user_gen = c->loop_user_gen;
  it->seq = ++c->dispatch_seq;
  set_live(c, lb->biz, it->seq);
  delivery_push(c, it);
  arm_redeliver(c);
}

static void pump_all(mpsync_client *c) {
  for (loop_biz *lb = c->bizs; lb; lb = lb->next) pump(c, lb);
}

/* Hands every message unreported since before `since` out again now (C6: at each foreground /
 * reconnect). A message handed out at the foreground itself is not repeated at the reconnect that
 * follows it. */
static void redeliver_since(mpsync_client *c, uint64_t since) {
  for (loop_biz *lb = c->bizs; lb; lb = lb->next)
    if (lb->in_flight && lb->dispatched_at < since) drop_in_flight(c, lb);
  pump_all(c);
}

static void redeliver_all(mpsync_client *c) { redeliver_since(c, UINT64_MAX); }

static void on_redeliver_timer(uv_timer_t *t) {
  mpsync_client *c = t->data;
  uint64_t now = uv_now(&c->loop);
  for (loop_biz *lb = c->bizs; lb; lb = lb->next)
    if (lb->in_flight && lb->redeliver_at <= now) {
      drop_in_flight(c, lb);
      pump(c, lb);
    }
  arm_redeliver(c);
}

/* ---------------------------------------------------------------- loop thread: the link */

typedef struct write_req {
  uv_write_t req;
  uv_buf_t buf;
} write_req;

static void on_written(uv_write_t *req, int status) {
  /* A failed write takes the socket's pending error (a reset, say) for itself, and the read
   * that follows sees a plain end of stream: keep the error to name the real reason. */
  link *lk = req->handle->data;
  if (status < 0 && status != UV_ECANCELED && !lk->write_error) lk->write_error = status;
  write_req *w = (write_req *)req;
  free(w->buf.base);
  free(w);
}

static void write_raw(link *lk, const uint8_t *data, size_t n) {
  write_req *w = malloc(sizeof *w);
  char *copy = malloc(n);
  if (!w || !copy) {
    free(w);
    free(copy);
    return;
  }
  memcpy(copy, data, n);
  w->buf = uv_buf_init(copy, (unsigned)n);
  if (uv_write(&w->req, (uv_stream_t *)&lk->tcp, &w->buf, 1, on_written) != 0) {
    free(copy);
    free(w);
  }
}

/* Moves what the session (through TLS, when on) has to send onto the socket. */
static void flush(link *lk) {
  if (!lk->tcp_open || lk->closing) return;
  const uint8_t *data;
  size_t n = lk->session ? mps_session_pending(lk->session, &data) : 0;
  if (!lk->tls) {
    if (n) write_raw(lk, data, n);
    if (n) mps_session_consume(lk->session, n);
    return;
  }
  /* Plaintext waits inside the session until the handshake is done. */
  if (n && mps_tls_handshake_done(lk->tls) && mps_tls_write(lk->tls, data, n) == 0)
    mps_session_consume(lk->session, n);
  n = mps_tls_pending(lk->tls, &data);
  if (n) {
    write_raw(lk, data, n);
    mps_tls_consume(lk->tls, n);
  }
}

static void on_link_closed(uv_handle_t *h) {
  link *lk = h->data;
  mps_session_free(lk->session);
  mps_tls_free(lk->tls);
  free(lk);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  (void)status;
  link *lk = req->data;
  uv_close((uv_handle_t *)&lk->tcp, on_link_closed);
}

/* Lets the link go: sends what is queued (a Close, usually), then closes the socket. */
static void link_release(mpsync_client *c, link *lk, int graceful) {
  if (c->link == lk) {
    c->link = NULL;
    uv_timer_stop(&c->connect_timer);
  }
  if (lk->closing) return;
  lk->closing = 1;
  uv_timer_stop(&c->heartbeat_timer);
  if (!lk->tcp_open) {
    /* Still resolving or connecting: its callback sees cancelled and frees it. */
    lk->cancelled = 1;
    uv_cancel((uv_req_t *)&lk->resolve);
    return;
  }
  uv_read_stop((uv_stream_t *)&lk->tcp);
  if (graceful && lk->session) {
    lk->closing = 0;
    flush(lk);
    lk->closing = 1;
    lk->shutdown.data = lk;
    if (uv_shutdown(&lk->shutdown, (uv_stream_t *)&lk->tcp, on_shutdown) == 0) return;
  }
  uv_close((uv_handle_t *)&lk->tcp, on_link_closed);
}

static void schedule_reconnect(mpsync_client *c, uint32_t retry_after_s) {
  if (!c->foreground || c->stopping) return;
  uint64_t delay;
  if (retry_after_s) {
    /* The server asked for a pause (overload, maintenance): obey within sane bounds (C11). */
    uint32_t s = retry_after_s < 10 ? 10 : retry_after_s > 600 ? 600 : retry_after_s;
    delay = (uint64_t)s * 1000;
  } else {
    /* Full jitter: spread a crowd of clients that lost the same server (C11). */
    uint64_t ceiling = 1000ull << (c->attempt < 16 ? c->attempt : 16);
    if (ceiling > c->reconnect_max_ms) ceiling = c->reconnect_max_ms;
    if (ceiling < 100) ceiling = 100;
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r) r = (uint32_t)uv_hrtime();
    /* 50 ms floor so that a dead server is not hammered in a tight loop; never past the ceiling. */
    delay = 50 + r % (ceiling - 50 + 1);
  }
  c->attempt++;
  mps_log(&c->log, MPSYNC_LOG_INFO, "reconnect in %" PRIu64 " ms", delay);
  uv_timer_start(&c->reconnect_timer, on_reconnect_timer, delay, 0);
}

static void link_failed(mpsync_client *c, link *lk, const char *reason, uint32_t retry_after_s) {
  if (c->link != lk) {
    link_release(c, lk, 0);
    return;
  }
  int was_up = lk->welcomed;
  mps_log(&c->log, was_up ? MPSYNC_LOG_INFO : MPSYNC_LOG_WARN, "link %s: %s",
          was_up ? "lost" : "failed", reason);
  link_release(c, lk, 1);
  deliver_state(c, was_up ? MPSYNC_STATE_DISCONNECTED : MPSYNC_STATE_CONNECT_FAILED, reason);
  schedule_reconnect(c, retry_after_s);
}

static void arm_heartbeat(mpsync_client *c) {
  link *lk = c->link;
  if (!lk || !lk->session) return;
  uint64_t deadline = mps_session_deadline(lk->session);
  if (deadline == MPS_NO_DEADLINE) return;
  uint64_t now = uv_now(&c->loop);
  uv_timer_start(&c->heartbeat_timer, on_heartbeat_timer,
                 deadline > now ? deadline - now : 0, 0);
}

static void on_heartbeat_timer(uv_timer_t *t) {
  mpsync_client *c = t->data;
  link *lk = c->link;
  if (!lk || !lk->session) return;
  int was_ready = mps_session_ready(lk->session);
  int rc = mps_session_tick(lk->session, uv_now(&c->loop));
  flush(lk);
  if (rc < 0) {
    if (rc == MPSYNC_ETIMEDOUT && was_ready) hb_failed(c);
    link_failed(c, lk, mps_session_reason(lk->session), 0);
    return;
  }
  arm_heartbeat(c);
}

static const char *kind_name(int kind) {
  return kind == MPSYNC__WIRE__STREAM_KIND__STREAM_USER     ? "user"
         : kind == MPSYNC__WIRE__STREAM_KIND__STREAM_DEVICE ? "device"
                                                           : "global";
}

/* ---------------------------------------------------------------- smart heartbeat
 * Start at what was learned for this kind of network (or the server's interval), stretch by one
 * base interval after HB_STREAK pongs in a row, up to the server's maximum; after a dead link at a
 * stretched interval, fall back one step and stay there on that network (pattern: Mars). */

#define HB_STREAK 3

static void hb_key(const mpsync_client *c, char *key, size_t len) {
  snprintf(key, len, "heartbeat_s.%d", c->network_type);
}

static void hb_use(mpsync_client *c, uint32_t interval, const char *why) {
  if (interval == c->hb_cur_s) return;
  c->hb_cur_s = interval;
  c->hb_streak = 0;
  if (c->link && c->link->session) mps_session_set_heartbeat(c->link->session, interval);
  mps_log(&c->log, MPSYNC_LOG_INFO, "heartbeat interval %us (%s)", interval, why);
}

static void hb_start(mpsync_client *c, const mps_welcome *w) {
  c->hb_base_s = w->heartbeat_interval_s ? w->heartbeat_interval_s : MPS_DEFAULT_HEARTBEAT_S;
  c->hb_max_s = w->heartbeat_max_s > c->hb_base_s ? w->heartbeat_max_s : c->hb_base_s;
  char key[32];
  hb_key(c, key, sizeof key);
  int64_t learned = mps_store_setting(c->store, key, 0);
  uint32_t start = c->hb_base_s;
  if (learned > start) start = learned > c->hb_max_s ? c->hb_max_s : (uint32_t)learned;
  c->hb_cur_s = 0;
  hb_use(c, start, learned ? "learned" : "server");
}

static void on_pong(void *ud) {
  link *lk = ud;
  mpsync_client *c = lk->client;
  if (++c->hb_streak < HB_STREAK) return;
  char key[32];
  hb_key(c, key, sizeof key);
  /* Proven on this network: remember it. */
  if (mps_store_setting(c->store, key, 0) != c->hb_cur_s)
    mps_store_set_setting(c->store, key, c->hb_cur_s);
  if (c->hb_settled || c->hb_cur_s >= c->hb_max_s) {
    c->hb_streak = 0;
    return;
  }
  uint32_t next = c->hb_cur_s + c->hb_base_s;
  hb_use(c, next > c->hb_max_s ? c->hb_max_s : next, "stretched");
}

/* The link died of silence at the current interval: step back and stop stretching here. */
static void hb_failed(mpsync_client *c) {
  if (!c->hb_cur_s || c->hb_cur_s <= c->hb_base_s) return;
  uint32_t back = c->hb_cur_s - c->hb_base_s;
  if (back < c->hb_base_s) back = c->hb_base_s;
  char key[32];
  hb_key(c, key, sizeof key);
  mps_store_set_setting(c->store, key, back);
  c->hb_settled = 1;
  mps_log(&c->log, MPSYNC_LOG_INFO, "heartbeat interval %us failed; back to %us", c->hb_cur_s,
          back);
  c->hb_cur_s = back;
}

/* Session events (loop thread, inside mps_session_recv). */

static int on_welcome(void *ud, const mps_welcome *w) {
  link *lk = ud;
  mpsync_client *c = lk->client;
  lk->welcomed = 1;
  c->attempt = 0;
  uv_timer_stop(&c->connect_timer);
  mps_log(&c->log, MPSYNC_LOG_INFO, "connected to %s:%u (heartbeat %us, timeout %us)", c->host,
          (unsigned)c->port, w->heartbeat_interval_s, w->heartbeat_timeout_s);
  deliver_state(c, MPSYNC_STATE_CONNECTED, "");
  hb_start(c, w);
  /* C10: global data is never pushed live; ask for it now. */
  mps_stream_point **pts;
  size_t n;
  if (mps_store_points(c->store, NULL, MPSYNC__WIRE__STREAM_KIND__STREAM_GLOBAL, &pts, &n) == 0) {
    mps_session_pull_global(lk->session, pts, n);
    mps_store_points_free(pts, n);
  }
  redeliver_since(c, lk->started_at);
  return 0;
}

static int on_batch(void *ud, const mps_batch *b) {
  link *lk = ud;
  mpsync_client *c = lk->client;
  uint64_t point;
  size_t inserted;
  /* C3: commit the whole batch, then acknowledge; a failure closes the link unacknowledged. */
  size_t room = 0;
  int64_t pending = mps_store_pending(c->store);
  if (pending < c->max_cached) room = (size_t)(c->max_cached - pending);
  int cut = 0;
  if (mps_store_commit_batch(c->store, b, room, &point, &inserted, &cut) != 0) {
    mps_log(&c->log, MPSYNC_LOG_ERROR, "cache write failed: %s", mps_store_errmsg(c->store));
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
  if (cut && !c->cache_full) {
    /* C18: full. Take no more than fits; the ack covers only what was stored, so the server
     * keeps the rest until the app reports and we resync. */
    c->cache_full = 1;
    mps_log(&c->log, MPSYNC_LOG_WARN, "cache full (%" PRId64 " oplogs): holding back the rest",
            c->max_cached);
  }
  mps_stream_point pt = MPSYNC__WIRE__STREAM_POINT__INIT;
  pt.kind = b->kind;
  pt.biz_type = b->biz_type;
  pt.target = b->target;
  pt.sync_point = point;
  pt.epoch = b->epoch;
  mps_stream_point *pts[1] = {&pt};
  int rc = mps_session_ack(lk->session, pts, 1);
  if (rc) return rc;
  if (inserted) {
    loop_biz *lb = find_biz(c, b->biz_type, 0);
    if (lb) pump(c, lb);
  }
  return 0;
}

static void on_peer_close(void *ud, int code, const char *reason, uint32_t retry_after_s) {
  link *lk = ud;
  mps_log(&lk->client->log, MPSYNC_LOG_INFO, "server closed the link (%d): %s", code, reason);
  lk->retry_after_s = retry_after_s;
}

static const mps_session_callbacks client_callbacks = {
    .on_welcome = on_welcome, .on_batch = on_batch, .on_close = on_peer_close, .on_pong = on_pong};

static void alloc_read(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  buf->base = malloc(suggested);
  buf->len = buf->base ? suggested : 0;
}

static void send_hello(mpsync_client *c, link *lk);

/* Feeds plaintext to the session; 0, or negative when the link must go. */
static int to_session(mpsync_client *c, link *lk, const uint8_t *p, size_t n) {
  long rc = mps_session_recv(lk->session, p, n, uv_now(&c->loop));
  flush(lk);
  if (rc >= 0) return 0;
  char reason[200];
  snprintf(reason, sizeof reason, "%s (%s)", mps_session_reason(lk->session),
           mpsync_strerror((int)rc));
  link_failed(c, lk, reason, lk->retry_after_s);
  return -1;
}

/* Ciphertext in: finish the handshake, then pass whatever decrypts to the session. */
static int from_tls(mpsync_client *c, link *lk, const uint8_t *p, size_t n) {
  if (mps_tls_feed(lk->tls, p, n) != 0) {
    link_failed(c, lk, "out of memory", 0);
    return -1;
  }
  if (!mps_tls_handshake_done(lk->tls)) {
    int hs = mps_tls_handshake(lk->tls);
    flush(lk);
    if (hs < 0) {
      link_failed(c, lk, mps_tls_reason(lk->tls), 0);
      return -1;
    }
    if (hs > 0) return 0;
    mps_log(&c->log, MPSYNC_LOG_DEBUG, "TLS handshake done");
    send_hello(c, lk);
  }
  uint8_t plain[16384];
  for (;;) {
    long got = mps_tls_read(lk->tls, plain, sizeof plain);
    if (got == 0) return 0;
    if (got < 0) {
      link_failed(c, lk, mps_tls_reason(lk->tls), 0);
      return -1;
    }
    if (to_session(c, lk, plain, (size_t)got) != 0) return -1;
  }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  link *lk = s->data;
  mpsync_client *c = lk->client;
  if (nread > 0 && !lk->closing) {
    int rc = lk->tls ? from_tls(c, lk, (const uint8_t *)buf->base, (size_t)nread)
                     : to_session(c, lk, (const uint8_t *)buf->base, (size_t)nread);
    free(buf->base);
    if (rc == 0) arm_heartbeat(c);
    return;
  }
  free(buf->base);
  if (nread == UV_EOF && lk->write_error) nread = lk->write_error;
  if (nread < 0) link_failed(c, lk, nread == UV_EOF ? "server closed the connection"
                                                     : uv_strerror((int)nread), 0);
}

static void send_hello(mpsync_client *c, link *lk) {
  mps_hello h = MPSYNC__WIRE__HELLO__INIT;
  h.protocol_version = MPS_PROTOCOL_VERSION;
  h.instance_id = c->instance_id;
  h.device_id = c->device_id;
  h.user_id = c->user_id ? c->user_id : "";
  h.session_id = c->session_id ? c->session_id : "";
  h.os_type = (char *)c->os_name;
  h.app_version = c->app_version;
  h.sdk_version = MPSYNC_VERSION_STRING;
  mps_stream_point **pts = NULL;
  size_t n = 0;
  if (mps_store_points(c->store, c->user_id, 0, &pts, &n) != 0)
    mps_log(&c->log, MPSYNC_LOG_WARN, "cannot read sync points: %s", mps_store_errmsg(c->store));
  h.streams = pts;
  h.n_streams = n;
  mps_session_hello(lk->session, &h, uv_now(&c->loop));
  mps_store_points_free(pts, n);
  flush(lk);
  arm_heartbeat(c);
}

static void on_connected(uv_connect_t *req, int status) {
  link *lk = req->data;
  mpsync_client *c = lk->client;
  if (lk->closing) return; /* released meanwhile; its close callback frees it */
  if (status < 0) {
    link_failed(c, lk, uv_strerror(status), 0);
    return;
  }
  uv_tcp_nodelay(&lk->tcp, 1);
  lk->session = mps_session_new(MPS_ROLE_CLIENT, &client_callbacks, lk);
  if (!lk->session || uv_read_start((uv_stream_t *)&lk->tcp, alloc_read, on_read) != 0) {
    link_failed(c, lk, "out of memory", 0);
    return;
  }
  if (c->tls_config) {
    if (mps_tls_new(c->tls_config, c->server_name, &lk->tls) != 0) {
      link_failed(c, lk, "TLS setup failed", 0);
      return;
    }
    /* The ClientHello; the Hello of our protocol follows once the handshake is done. */
    int hs = mps_tls_handshake(lk->tls);
    flush(lk);
    if (hs < 0) link_failed(c, lk, mps_tls_reason(lk->tls), 0);
    return;
  }
  send_hello(c, lk);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  link *lk = req->data;
  mpsync_client *c = lk->client;
  if (lk->cancelled || c->link != lk) {
    uv_freeaddrinfo(res);
    free(lk);
    return;
  }
  if (status < 0) {
    uv_freeaddrinfo(res);
    c->link = NULL;
    lk->closing = 1;
    char reason[160];
    snprintf(reason, sizeof reason, "cannot resolve %s: %s", c->host, uv_strerror(status));
    mps_log(&c->log, MPSYNC_LOG_WARN, "%s", reason);
    free(lk);
    deliver_state(c, MPSYNC_STATE_CONNECT_FAILED, reason);
    schedule_reconnect(c, 0);
    return;
  }
  uv_tcp_init(&c->loop, &lk->tcp);
  lk->tcp.data = lk;
  lk->tcp_open = 1;
  lk->connect.data = lk;
  int rc = uv_tcp_connect(&lk->connect, &lk->tcp, res->ai_addr, on_connected);
  uv_freeaddrinfo(res);
  if (rc < 0) link_failed(c, lk, uv_strerror(rc), 0);
}

static void start_connect(mpsync_client *c) {
  if (!c->foreground || c->link || c->stopping) return;
  uv_timer_stop(&c->reconnect_timer);
  link *lk = calloc(1, sizeof *lk);
  if (!lk) return;
  lk->client = c;
  lk->started_at = uv_now(&c->loop);
  uv_timer_start(&c->connect_timer, on_connect_timer,
                 (uint64_t)MPS_DEFAULT_HEARTBEAT_TIMEOUT_S * 1000, 0);
  lk->resolve.data = lk;
  c->link = lk;
  deliver_state(c, MPSYNC_STATE_CONNECTING, "");
  char port[8];
  snprintf(port, sizeof port, "%u", (unsigned)c->port);
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int rc = uv_getaddrinfo(&c->loop, &lk->resolve, on_resolved, c->host, port, &hints);
  if (rc < 0) {
    c->link = NULL;
    free(lk);
    deliver_state(c, MPSYNC_STATE_CONNECT_FAILED, uv_strerror(rc));
    schedule_reconnect(c, 0);
  }
}

static void on_reconnect_timer(uv_timer_t *t) { start_connect(t->data); }

/* Resolve, TCP connect, TLS handshake and Welcome, all within one timeout: a server that never
 * answers a SYN or a ClientHello must not leave the client Connecting for minutes. */
static void on_connect_timer(uv_timer_t *t) {
  mpsync_client *c = t->data;
  if (c->link && !c->link->welcomed) link_failed(c, c->link, "connect timed out", 0);
}

/* Drops the link on purpose (background, user change, shutdown). */
static void link_drop(mpsync_client *c, const char *why) {
  link *lk = c->link;
  if (!lk) return;
  if (lk->session && lk->welcomed)
    mps_session_close(lk->session, MPSYNC__WIRE__CLOSE_CODE__CLOSE_NORMAL, why, 0);
  link_release(c, lk, 1);
  deliver_state(c, MPSYNC_STATE_DISCONNECTED, why);
}

/* ---------------------------------------------------------------- loop thread: commands */

static int same(const char *a, const char *b) { return strcmp(a ? a : "", b ? b : "") == 0; }

static void set_user(mpsync_client *c, char *user, char *session, unsigned gen) {
  int user_changed = !same(user, c->user_id);
  int changed = user_changed || !same(session, c->session_id);
  free(c->user_id);
  free(c->session_id);
  c->user_id = user;
  c->session_id = session;
  c->loop_user_gen = gen;
  if (user_changed)
    /* C9: whatever of the old user is in flight is not his to finish here. */
    for (loop_biz *lb = c->bizs; lb; lb = lb->next)
      if (lb->in_flight && lb->kind == MPSYNC__WIRE__STREAM_KIND__STREAM_USER) drop_in_flight(c, lb);
  if (changed && c->link) {
    /* The Hello carries the user: a new one needs a new handshake. */
    link_drop(c, "user changed");
    c->attempt = 0;
    start_connect(c);
  }
  pump_all(c);
}

static void resync_if_room(mpsync_client *c) {
  if (!c->cache_full || mps_store_pending(c->store) >= c->max_cached) return;
  /* The server kept what we could not take; a new handshake from our sync points fetches it. */
  c->cache_full = 0;
  mps_log(&c->log, MPSYNC_LOG_INFO, "cache has room again: resyncing");
  if (c->link) {
    link_drop(c, "resync after cache was full");
    c->attempt = 0;
    start_connect(c);
  }
}

static int handle_report(mpsync_client *c, const char *biz, const char *id) {
  loop_biz *lb = find_biz(c, biz, 0);
  long long last_row = strtoll(id, NULL, 10);
  if (!lb || !lb->in_flight || last_row != lb->last_row) {
    mps_log(&c->log, MPSYNC_LOG_WARN, "report of %s message %s ignored: not in flight", biz, id);
    return MPSYNC_ESTALE;
  }
  mps_msg key;
  memset(&key, 0, sizeof key);
  snprintf(key.biz, sizeof key.biz, "%s", lb->biz);
  key.kind = lb->kind;
  key.target = lb->target;
  key.stream = lb->stream;
  key.first_row = lb->first_row;
  key.last_row = lb->last_row;
  if (mps_store_delete_message(c->store, &key) != 0) {
    /* Not deleted: it stays in flight and will be redelivered; nothing is lost. */
    mps_log(&c->log, MPSYNC_LOG_ERROR, "cache delete failed: %s", mps_store_errmsg(c->store));
    return MPSYNC_ESTORE;
  }
  drop_in_flight(c, lb);
  pump(c, lb);
  resync_if_room(c);
  return 0;
}

/* Purges (C9 "forget me", or everything): nothing in flight may survive what it names. */
static int handle_purge(mpsync_client *c, const char *user) {
  int rc = user ? mps_store_purge_user(c->store, user) : mps_store_purge_all(c->store);
  if (rc) {
    mps_log(&c->log, MPSYNC_LOG_ERROR, "purge failed: %s", mps_store_errmsg(c->store));
    return rc;
  }
  for (loop_biz *lb = c->bizs; lb; lb = lb->next)
    if (lb->in_flight && (!user || (lb->kind == MPSYNC__WIRE__STREAM_KIND__STREAM_USER &&
                                    strcmp(lb->target, user) == 0)))
      drop_in_flight(c, lb);
  /* Purged sync points must not linger in the server's view of this link either. */
  if (c->link) {
    link_drop(c, "cache purged");
    c->attempt = 0;
    start_connect(c);
  }
  c->cache_full = 0;
  pump_all(c);
  return 0;
}

static void handle_network_changed(mpsync_client *c, int type) {
  mps_log(&c->log, MPSYNC_LOG_INFO, "network changed (type %d)", type);
  if (type != c->network_type) c->hb_settled = 0;
  c->network_type = type;
  if (!c->foreground) return;
  /* A link that was up on the old network is most likely dead: replace it now rather than wait
   * for a heartbeat to find out (C11). */
  if (c->link) link_drop(c, "network changed");
  c->attempt = 0;
  start_connect(c);
}

static void on_close_handle(uv_handle_t *h) { (void)h; }

static void handle_stop(mpsync_client *c) {
  c->foreground = 0;
  if (c->link) {
    link *lk = c->link;
    if (lk->session && lk->welcomed)
      mps_session_close(lk->session, MPSYNC__WIRE__CLOSE_CODE__CLOSE_NORMAL, "client shutdown", 0);
    link_release(c, lk, 0);
  }
  uv_close((uv_handle_t *)&c->wakeup, on_close_handle);
  uv_close((uv_handle_t *)&c->heartbeat_timer, on_close_handle);
  uv_close((uv_handle_t *)&c->reconnect_timer, on_close_handle);
  uv_close((uv_handle_t *)&c->redeliver_timer, on_close_handle);
  uv_close((uv_handle_t *)&c->connect_timer, on_close_handle);
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

static void handle_cmd(mpsync_client *c, cmd *k) {
  loop_biz *lb;
  int result = 0;
  switch (k->type) {
    case CMD_FOREGROUND:
      c->foreground = 1;
      if (c->link && c->link->welcomed) {
        mps_stream_point **pts;
        size_t n;
        if (mps_store_points(c->store, NULL, MPSYNC__WIRE__STREAM_KIND__STREAM_GLOBAL, &pts,
                             &n) == 0) {
          mps_session_pull_global(c->link->session, pts, n);
          mps_store_points_free(pts, n);
          flush(c->link);
        }
        redeliver_all(c);
      } else if (!c->link) {
        c->attempt = 0;
        start_connect(c);
        redeliver_all(c);
      }
      break;
    case CMD_BACKGROUND:
      c->foreground = 0;
      uv_timer_stop(&c->reconnect_timer);
      link_drop(c, "app in background");
      deliver_state(c, MPSYNC_STATE_DISCONNECTED, "app in background");
      break;
    case CMD_BIND_USER:
      set_user(c, k->a, k->b, k->user_gen);
      k->a = k->b = NULL;
      break;
    case CMD_CLEAR_USER:
      set_user(c, NULL, NULL, k->user_gen);
      break;
    case CMD_REGISTER:
      if ((lb = find_biz(c, k->a, 1))) {
        lb->registered = 1;
        pump(c, lb);
      }
      break;
    case CMD_UNREGISTER:
      if ((lb = find_biz(c, k->a, 0))) {
        lb->registered = 0;
        drop_in_flight(c, lb);
      }
      break;
    case CMD_REPORT:
      result = handle_report(c, k->a, k->b);
      break;
    case CMD_PURGE_USER:
      result = handle_purge(c, k->a);
      break;
    case CMD_PURGE_ALL:
      result = handle_purge(c, NULL);
      break;
    case CMD_NETWORK_CHANGED:
      handle_network_changed(c, k->arg);
      break;
    case CMD_STOP:
      handle_stop(c);
      break;
  }
  finish_cmd(k, result);
}

static void on_wakeup(uv_async_t *a) {
  mpsync_client *c = a->data;
  uv_mutex_lock(&c->lock);
  cmd *k = c->cmd_head;
  c->cmd_head = c->cmd_tail = NULL;
  uv_mutex_unlock(&c->lock);
  while (k) {
    cmd *next = k->next;
    int stop = k->type == CMD_STOP;
    handle_cmd(c, k);
    k = next;
    if (stop) {
      /* Nothing after a stop is honoured; waiters learn so. */
      while (k) {
        next = k->next;
        finish_cmd(k, MPSYNC_ESHUTDOWN);
        k = next;
      }
    }
  }
}

static void loop_main(void *arg) {
  mpsync_client *c = arg;
  uv_run(&c->loop, UV_RUN_DEFAULT);
}

/* ---------------------------------------------------------------- facade */

static int post_full(mpsync_client *c, cmd_type type, const char *a, const char *b, int arg,
                     cmd_waiter *waiter) {
  if (!c) return MPSYNC_EINVAL;
  cmd *k = calloc(1, sizeof *k);
  if (!k) return MPSYNC_ENOMEM;
  k->type = type;
  k->arg = arg;
  k->waiter = waiter;
  if ((a && !(k->a = mps_strdup(a))) || (b && !(k->b = mps_strdup(b)))) {
    free(k->a);
    free(k);
    return MPSYNC_ENOMEM;
  }
  uv_mutex_lock(&c->lock);
  if (c->stopping) {
    uv_mutex_unlock(&c->lock);
    free(k->a);
    free(k->b);
    free(k);
    return MPSYNC_ESHUTDOWN;
  }
  if (type == CMD_STOP) c->stopping = 1;
  if (type == CMD_BIND_USER || type == CMD_CLEAR_USER) {
    /* Bumped under the lock that orders the queue and under the delivery lock: from here on no
     * callback starts with the old user's data (C9). */
    k->user_gen = ++c->api_user_gen;
    uv_mutex_lock(&c->dlock);
    atomic_store(&c->user_gen, k->user_gen);
    uv_mutex_unlock(&c->dlock);
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
  return post_full(c, type, a, b, 0, NULL);
}

/* Queues a command and waits for the loop thread's answer. Never called on the loop thread: app
 * code does not run there. */
static int post_wait(mpsync_client *c, cmd_type type, const char *a, const char *b) {
  cmd_waiter w;
  if (uv_sem_init(&w.done, 0) != 0) return MPSYNC_ENOMEM;
  w.result = 0;
  int rc = post_full(c, type, a, b, 0, &w);
  if (rc == 0) {
    uv_sem_wait(&w.done);
    rc = w.result;
  }
  uv_sem_destroy(&w.done);
  return rc;
}

void mpsync_config_init(mpsync_config *cfg) {
  if (!cfg) return;
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
}

static int check_config(const mpsync_config *cfg) {
  if (!cfg || cfg->struct_size < sizeof(mpsync_config) || !cfg->host || !*cfg->host ||
      !cfg->instance_id || !*cfg->instance_id || !cfg->data_dir || !*cfg->data_dir || !cfg->port)
    return MPSYNC_EINVAL;
  if (strlen(cfg->instance_id) > MAX_INSTANCE_ID || strlen(cfg->host) > 255) return MPSYNC_ETOOLONG;
  if (cfg->device_id && strlen(cfg->device_id) > 63) return MPSYNC_ETOOLONG;
  if (cfg->os_type != MPSYNC_OS_ANDROID && cfg->os_type != MPSYNC_OS_IOS) return MPSYNC_EINVAL;
  if (cfg->app_version && strlen(cfg->app_version) > 20) return MPSYNC_ETOOLONG;
  if (cfg->max_oplogs_per_message > 1000) return MPSYNC_EINVAL;
  if (cfg->delivery_threads > MPS_MAX_DELIVERY_THREADS) return MPSYNC_EINVAL;
  return 0;
}

static void free_client(mpsync_client *c) {
  free(c->host);
  free(c->server_name);
  free(c->instance_id);
  free(c->data_dir);
  free(c->app_version);
  free(c->user_id);
  free(c->session_id);
  while (c->bizs) {
    loop_biz *lb = c->bizs;
    c->bizs = lb->next;
    free(lb->target);
    free(lb);
  }
  while (c->callbacks) {
    biz_callback *cb = c->callbacks;
    c->callbacks = cb->next;
    free(cb);
  }
  while (c->dhead) {
    delivery_item *it = c->dhead;
    c->dhead = it->next;
    mps_msg_free(it->msg);
    free(it);
  }
  mps_store_close(c->store);
  mps_tls_config_free(c->tls_config);
  free(c);
}

int mpsync_client_new(const mpsync_config *cfg, mpsync_client **out) {
  if (!out) return MPSYNC_EINVAL;
  *out = NULL;
  int rc = check_config(cfg);
  if (rc) return rc;
  mpsync_client *c = calloc(1, sizeof *c);
  if (!c) return MPSYNC_ENOMEM;
  c->host = mps_strdup(cfg->host);
  c->server_name = mps_strdup(cfg->server_name ? cfg->server_name : cfg->host);
  c->instance_id = mps_strdup(cfg->instance_id);
  c->data_dir = mps_strdup(cfg->data_dir);
  c->app_version = mps_strdup(cfg->app_version ? cfg->app_version : "1.0.0");
  c->port = cfg->port;
  c->os_name = cfg->os_type == MPSYNC_OS_IOS ? "IOS" : "ANDROID";
  c->plaintext = cfg->plaintext;
  c->max_deliveries = cfg->max_deliveries ? cfg->max_deliveries : 6;
  c->redelivery_base_ms = cfg->redelivery_base_ms ? cfg->redelivery_base_ms : 5000;
  c->max_oplogs = cfg->max_oplogs_per_message ? cfg->max_oplogs_per_message : 10;
  c->reconnect_max_ms = cfg->reconnect_max_ms ? cfg->reconnect_max_ms : 60000;
  c->n_workers = cfg->delivery_threads ? cfg->delivery_threads : 4;
  c->max_cached = cfg->max_cached_oplogs ? (int64_t)cfg->max_cached_oplogs : 100000;
  c->log = (mps_logger){cfg->log_fn, cfg->user_data, cfg->log_level};
  c->state_fn = cfg->state_fn;
  c->user_data = cfg->user_data;
  if (!c->host || !c->server_name || !c->instance_id || !c->data_dir || !c->app_version) {
    free_client(c);
    return MPSYNC_ENOMEM;
  }
  char err[256];
  if (!c->plaintext &&
      (rc = mps_tls_client_config(cfg->ca_file, cfg->pin_sha256, &c->tls_config, err, sizeof err))) {
    mps_log(&c->log, MPSYNC_LOG_ERROR, "TLS configuration: %s", err);
    free_client(c);
    return rc;
  }
  if ((rc = mps_store_open(c->data_dir, &c->store, err, sizeof err)) != 0) {
    mps_log(&c->log, MPSYNC_LOG_ERROR, "%s", err);
    free_client(c);
    return rc;
  }
  if (mps_store_recovered(c->store)) mps_log(&c->log, MPSYNC_LOG_ERROR, "%s", err);
  if ((rc = mps_store_use_key(c->store, cfg->cache_key, cfg->cache_key_len, err, sizeof err))) {
    mps_log(&c->log, MPSYNC_LOG_ERROR, "%s", err);
    free_client(c);
    return rc;
  }
  if ((rc = mps_store_device_id(c->store, cfg->device_id, c->device_id, sizeof c->device_id))) {
    free_client(c);
    return rc;
  }
  uv_mutex_init(&c->lock);
  uv_mutex_init(&c->dlock);
  uv_cond_init(&c->dcond);
  atomic_init(&c->state, MPSYNC_STATE_DISCONNECTED);
  atomic_init(&c->user_gen, 0);
  if (uv_loop_init(&c->loop) != 0) goto fail_sync;
  uv_async_init(&c->loop, &c->wakeup, on_wakeup);
  c->wakeup.data = c;
  uv_timer_init(&c->loop, &c->heartbeat_timer);
  uv_timer_init(&c->loop, &c->reconnect_timer);
  uv_timer_init(&c->loop, &c->redeliver_timer);
  uv_timer_init(&c->loop, &c->connect_timer);
  c->heartbeat_timer.data = c->reconnect_timer.data = c->redeliver_timer.data = c;
  c->connect_timer.data = c;
  unsigned started = start_workers(c);
  if (started < c->n_workers || uv_thread_create(&c->loop_thread, loop_main, c) != 0) {
    stop_workers(c, started);
    goto fail_loop;
  }
  mps_log(&c->log, MPSYNC_LOG_INFO, "libmpsync %s started, device %s", MPSYNC_VERSION_STRING,
          c->device_id);
  *out = c;
  return 0;
fail_loop:
  handle_stop(c);
  uv_run(&c->loop, UV_RUN_DEFAULT);
  uv_loop_close(&c->loop);
fail_sync:
  uv_cond_destroy(&c->dcond);
  uv_mutex_destroy(&c->dlock);
  uv_mutex_destroy(&c->lock);
  free_client(c);
  return MPSYNC_EIO;
}

void mpsync_client_free(mpsync_client *c) {
  if (!c) return;
  post(c, CMD_STOP, NULL, NULL);
  uv_thread_join(&c->loop_thread);
  uv_loop_close(&c->loop);
  /* Workers finish what is queued (a last state change, say) before they exit. */
  stop_workers(c, c->n_workers);
  uv_cond_destroy(&c->dcond);
  uv_mutex_destroy(&c->dlock);
  uv_mutex_destroy(&c->lock);
  free_client(c);
}

int mpsync_bind_user(mpsync_client *c, const char *user_id, const char *session_id) {
  if (!c || !user_id || !*user_id) return MPSYNC_EINVAL;
  if (mps_utf8_len(user_id) > MAX_USER_ID || (session_id && mps_utf8_len(session_id) > 100))
    return MPSYNC_ETOOLONG;
  int rc = post(c, CMD_BIND_USER, user_id, session_id ? session_id : "");
  if (!rc) wait_old_user_callbacks(c);
  return rc;
}

/* C9, the other half: the old user's callbacks that are already running finish before a bind or
 * clear returns. Not from a callback: two callbacks could then wait for each other. */
static void wait_old_user_callbacks(mpsync_client *c) {
  if (on_delivery_thread(c)) return;
  uv_mutex_lock(&c->dlock);
  unsigned gen = atomic_load(&c->user_gen);
  for (;;) {
    int busy = 0;
    for (unsigned i = 0; i < c->n_workers; i++)
      if (c->running_gen[i] && c->running_gen[i] != gen) busy = 1;
    if (!busy) break;
    uv_cond_wait(&c->dcond, &c->dlock);
  }
  uv_mutex_unlock(&c->dlock);
}

int mpsync_clear_user(mpsync_client *c) {
  int rc = post(c, CMD_CLEAR_USER, NULL, NULL);
  if (!rc) wait_old_user_callbacks(c);
  return rc;
}

int mpsync_foreground(mpsync_client *c) { return post(c, CMD_FOREGROUND, NULL, NULL); }

int mpsync_background(mpsync_client *c) { return post(c, CMD_BACKGROUND, NULL, NULL); }

int mpsync_is_connected(mpsync_client *c) {
  return c && atomic_load(&c->state) == MPSYNC_STATE_CONNECTED;
}

mpsync_state mpsync_get_state(mpsync_client *c) {
  return c ? (mpsync_state)atomic_load(&c->state) : MPSYNC_STATE_DISCONNECTED;
}

int mpsync_device_id(mpsync_client *c, char *buf, size_t len) {
  if (!c || !buf) return MPSYNC_EINVAL;
  size_t n = strlen(c->device_id);
  if (len <= n) return MPSYNC_ETOOLONG;
  memcpy(buf, c->device_id, n + 1);
  return (int)n;
}

int mpsync_register_biz(mpsync_client *c, const char *biz, mpsync_message_fn fn, void *ud) {
  if (!c || !fn || !mps_valid_biz(biz)) return MPSYNC_EINVAL;
  uv_mutex_lock(&c->dlock);
  biz_callback *cb = c->callbacks;
  while (cb && strcmp(cb->biz, biz) != 0) cb = cb->next;
  if (!cb) {
    cb = calloc(1, sizeof *cb);
    if (!cb) {
      uv_mutex_unlock(&c->dlock);
      return MPSYNC_ENOMEM;
    }
    snprintf(cb->biz, sizeof cb->biz, "%s", biz);
    cb->next = c->callbacks;
    c->callbacks = cb;
  }
  cb->fn = fn;
  cb->user_data = ud;
  uv_mutex_unlock(&c->dlock);
  return post(c, CMD_REGISTER, biz, NULL);
}

int mpsync_unregister_biz(mpsync_client *c, const char *biz) {
  if (!c || !mps_valid_biz(biz)) return MPSYNC_EINVAL;
  uv_mutex_lock(&c->dlock);
  biz_callback **pp = &c->callbacks;
  while (*pp && strcmp((*pp)->biz, biz) != 0) pp = &(*pp)->next;
  if (!*pp) {
    uv_mutex_unlock(&c->dlock);
    return MPSYNC_ENOTFOUND;
  }
  biz_callback *gone = *pp;
  *pp = gone->next;
  free(gone);
  /* Promise of the API: once this returns, the callback is not running and will not run. */
  if (!on_delivery_thread(c))
    while (strand_busy(c, biz)) uv_cond_wait(&c->dcond, &c->dlock);
  uv_mutex_unlock(&c->dlock);
  return post(c, CMD_UNREGISTER, biz, NULL);
}

int mpsync_report(mpsync_client *c, const char *biz, const char *msg_id) {
  if (!c || !mps_valid_biz(biz) || !msg_id) return MPSYNC_EINVAL;
  /* "<lastRow>,<lastOplogId>,<delivery>": reject anything else before it reaches the loop. */
  const char *p = msg_id;
  int fields = 0;
  while (*p) {
    if (*p < '0' || *p > '9') return MPSYNC_EINVAL;
    while (*p >= '0' && *p <= '9') p++;
    fields++;
    if (*p == ',') p++;
    else if (*p) return MPSYNC_EINVAL;
  }
  if (fields < 2 || fields > 3) return MPSYNC_EINVAL;
  return post_wait(c, CMD_REPORT, biz, msg_id);
}

int mpsync_purge_user(mpsync_client *c, const char *user_id) {
  if (!c || !user_id || !*user_id) return MPSYNC_EINVAL;
  return post_wait(c, CMD_PURGE_USER, user_id, NULL);
}

int mpsync_purge_all(mpsync_client *c) { return post_wait(c, CMD_PURGE_ALL, NULL, NULL); }

int mpsync_network_changed(mpsync_client *c, mpsync_network_type type) {
  if ((int)type < MPSYNC_NETWORK_UNKNOWN || type > MPSYNC_NETWORK_ETHERNET) return MPSYNC_EINVAL;
  return post_full(c, CMD_NETWORK_CHANGED, NULL, NULL, (int)type, NULL);
}
