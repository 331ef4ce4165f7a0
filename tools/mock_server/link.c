/* Long-link side of the mock server: one sans-I/O server session per TCP (or TLS) connection. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "link.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "mpsync/mpsync_errors.h"
#include "net/transport.h"
#include "session.h"
#include "validator.h"
#include "tls/tls.h"
#include "util.h"

#define BATCH_MAX_OPLOGS 1000
#define BATCH_MAX_BYTES (512u * 1024u)
#define ID_MAX MPS_MAX_ID_BYTES
/* After its FIN the server waits this long for the peer's, so a late ping draws no RST that would
 * make the peer's kernel drop the Close frame it has not read yet. */
#define LINGER_MS 2000

typedef struct link_conn {
  mps_link *link; /* the transport (shared with the client library); owns the session */
  mock_server *srv;
  struct link_conn *next;
  struct link_conn **pprev;
  int closing;          /* no longer a delivery target */
  int fresh_cache;      /* the client lost its cache: its points, not its acks, count (C21) */
  uint64_t seq;         /* when its Hello arrived; 0 until then */
  char instance_id[ID_MAX + 1];
  char device_id[ID_MAX + 1];
  char user_id[ID_MAX + 1];
  char os_type[ID_MAX + 1];
  char app_version[ID_MAX + 1];
  /* Streams whose backlog is still to be sent, oldest first: the walk pauses while the peer
   * has more than BACKLOG_HIGH_WATER unread, and resumes when the transport drains. */
  struct pending_stream *pending;
  /* S9: a userConsistency biz reaches the link only once the validator accepted its user and
   * session (validator.c); until then its streams wait here, from the Hello's points. */
  int validated;
  struct pending_stream *held;
} link_conn;

/* A stream of a paused backlog walk: where to go on, as a client's point would say it. */
typedef struct pending_stream {
  int kind;
  char biz[64];
  char target[ID_MAX + 1];
  uint64_t point, epoch;
  int has_point;
  struct pending_stream *next;
} pending_stream;

/* S11: a peer that does not read makes the server hold at most about this much for it while
 * walking a backlog; past the hard limit (live pushes and pongs piling up) it is closed. */
#define BACKLOG_HIGH_WATER (1u << 20)
#define OUTPUT_HARD_LIMIT (8u << 20)

static mps_session *conn_session(const link_conn *c) { return mps_link_session(c->link); }

/* Writes what the session queued; a closed session then closes the link gracefully. */
static void conn_flush(link_conn *c) {
  if (!c->closing) mps_link_flush(c->link);
}

/* ---- lifecycle ---- */

static void drop_pending(link_conn *c) {
  while (c->pending) {
    pending_stream *p = c->pending;
    c->pending = p->next;
    free(p);
  }
  while (c->held) {
    pending_stream *p = c->held;
    c->held = p->next;
    free(p);
  }
}

/* Queues a stream of a paused walk (or a held one, to_held) at the end. 0, or -1 out of memory. */
static int pend_on(link_conn *c, int to_held, int kind, const char *biz, const char *target,
                   uint64_t point, uint64_t epoch, int has_point) {
  pending_stream *p = calloc(1, sizeof *p);
  if (!p) return -1;
  p->kind = kind;
  snprintf(p->biz, sizeof p->biz, "%s", biz);
  snprintf(p->target, sizeof p->target, "%s", target);
  p->point = point;
  p->epoch = epoch;
  p->has_point = has_point;
  pending_stream **tail = to_held ? &c->held : &c->pending;
  while (*tail) tail = &(*tail)->next;
  *tail = p;
  return 0;
}

#define pend(c, ...) pend_on((c), 0, __VA_ARGS__)

/* S9: true when r's biz takes only validated links (userConsistency, user dimension). */
static int needs_validation(mock_server *srv, const oplog_rec *r) {
  biz_config cfg;
  return r->kind == MPSYNC__WIRE__STREAM_KIND__STREAM_USER &&
         store_biz_find(srv->st, r->instance_id, r->biz_type, &cfg) > 0 && cfg.user_consistency;
}

/* True while the paused walk still owes c this stream: live oplogs of it wait for the walk,
 * which sends them in id order (sent now, they would overtake older ones still to come). */
static int stream_pending(const link_conn *c, int kind, const char *biz, const char *target) {
  for (const pending_stream *p = c->pending; p; p = p->next)
    if (p->kind == kind && !strcmp(p->biz, biz) && !strcmp(p->target, target)) return 1;
  return 0;
}

static void on_link_closed(mps_link *l, void *ud) {
  (void)l;
  link_conn *c = ud;
  validator_forget(c->srv, c);
  drop_pending(c);
  if (c->next) c->next->pprev = c->pprev;
  *c->pprev = c->next;
  free(c);
}

static void on_link_down(mps_link *l, void *ud, int err, const char *reason) {
  link_conn *c = ud;
  c->closing = 1;
  if (err == MPSYNC_ETLS && !mps_session_ready(mps_link_session(l)))
    fprintf(stderr, "mpsync-mock-server: TLS handshake failed: %s\n", reason);
  else if (err != MPSYNC_ECLOSED && err != UV_EOF)
    fprintf(stderr, "mpsync-mock-server: link %s/%s closed: %s\n", c->instance_id, c->device_id,
            reason);
}

void link_close_all(mock_server *srv) {
  for (link_conn *c = srv->link_conns; c; c = c->next) {
    mps_session *s = conn_session(c);
    if (!mps_session_closed(s))
      mps_session_close(s, MPSYNC__WIRE__CLOSE_CODE__CLOSE_SERVER_SHUTDOWN, "server shutting down",
                        0);
    c->closing = 1;
    mps_link_close(c->link, 0);
  }
}

int link_close_instance(mock_server *srv, const char *instance, int code, uint32_t retry_after_s,
                        const char *reason) {
  int n = 0;
  for (link_conn *c = srv->link_conns; c; c = c->next) {
    if (c->closing || mps_session_closed(conn_session(c))) continue;
    if (instance && strcmp(c->instance_id, instance) != 0) continue;
    mps_session_close(conn_session(c), code, reason, retry_after_s);
    conn_flush(c);
    n++;
  }
  return n;
}

/* ---- sending oplogs ---- */

typedef struct batch_builder {
  link_conn *c;
  int kind;
  const char *biz_type;
  const char *target;
  uint64_t epoch;
  int reset;     /* the next batch tells the client its epoch is stale */
  uint64_t lost; /* the next batch tells the client how many oplogs retention took */
  size_t count;
  size_t bytes;
  mps_oplog_msg msgs[BATCH_MAX_OPLOGS];
  mps_oplog_msg *ptrs[BATCH_MAX_OPLOGS];
  int failed;
} batch_builder;

static void builder_reset(batch_builder *b) {
  for (size_t i = 0; i < b->count; i++) {
    free(b->msgs[i].payload.data);
    free(b->msgs[i].third_msg_id);
  }
  b->count = 0;
  b->bytes = 0;
}

/* Sends what was added; an empty batch only when it carries a reset or a gap. */
static void builder_flush(batch_builder *b) {
  if (b->count == 0 && !b->reset && !b->lost) return;
  mps_batch batch = MPSYNC__WIRE__OPLOG_BATCH__INIT;
  batch.kind = (Mpsync__Wire__StreamKind)b->kind;
  batch.biz_type = (char *)b->biz_type;
  batch.target = (char *)b->target;
  batch.epoch = b->epoch;
  batch.reset = b->reset;
  batch.lost = b->lost;
  batch.n_oplogs = b->count;
  batch.oplogs = b->ptrs;
  if (mps_session_batch(conn_session(b->c), &batch) != 0) b->failed = 1;
  /* Out at once: while a long backlog is still being read here, the client already stores and
   * dispatches its head. */
  conn_flush(b->c);
  b->reset = 0;
  b->lost = 0;
  builder_reset(b);
}

static void builder_add(batch_builder *b, const oplog_rec *r) {
  if (b->count == BATCH_MAX_OPLOGS || (b->count && b->bytes + r->payload_len > BATCH_MAX_BYTES))
    builder_flush(b);
  mps_oplog_msg *m = &b->msgs[b->count];
  mpsync__wire__oplog__init(m);
  m->id = r->id;
  m->payload.data = malloc(r->payload_len ? r->payload_len : 1);
  m->third_msg_id = strdup(r->third_msg_id);
  if (!m->payload.data || !m->third_msg_id) {
    free(m->payload.data);
    free(m->third_msg_id);
    b->failed = 1;
    return;
  }
  if (r->payload_len) memcpy(m->payload.data, r->payload, r->payload_len);
  m->payload.len = r->payload_len;
  m->binary = r->binary;
  m->create_time_ms = r->create_ms;
  m->valid_time_end_ms = r->valid_end_ms;
  b->ptrs[b->count++] = m;
  b->bytes += r->payload_len;
}

static int conn_matches(const link_conn *c, const char *instance, int kind, const char *target) {
  if (c->closing || !c->seq || !mps_session_ready(conn_session(c))) return 0;
  if (strcmp(c->instance_id, instance) != 0) return 0;
  if (kind == MPSYNC__WIRE__STREAM_KIND__STREAM_USER) return strcmp(c->user_id, target) == 0;
  if (kind == MPSYNC__WIRE__STREAM_KIND__STREAM_DEVICE) return strcmp(c->device_id, target) == 0;
  return 0;
}

int link_count_online(mock_server *srv, const char *instance, int kind, const char *target) {
  int n = 0;
  for (link_conn *c = srv->link_conns; c; c = c->next) n += conn_matches(c, instance, kind, target);
  return n;
}

int link_foreach_ready(mock_server *srv, const char *instance, link_visit fn, void *ud) {
  int n = 0;
  for (link_conn *c = srv->link_conns; c; c = c->next) {
    if (c->closing || !c->seq || !mps_session_ready(conn_session(c))) continue;
    if (instance && strcmp(c->instance_id, instance) != 0) continue;
    fn(ud, c->instance_id, c->device_id, c->user_id, c->os_type, c->app_version);
    n++;
  }
  return n;
}

int link_pick_single(mock_server *srv, const oplog_rec *r, char *device, size_t n) {
  link_conn *best = NULL;
  int64_t now = wall_ms();
  int check = needs_validation(srv, r);
  for (link_conn *c = srv->link_conns; c; c = c->next)
    if (conn_matches(c, r->instance_id, r->kind, r->target) && (!check || c->validated) &&
        oplog_admits(r, c->os_type, c->app_version, now) && (!best || c->seq > best->seq))
      best = c;
  if (!best) return 0;
  snprintf(device, n, "%s", best->device_id);
  return 1;
}

int link_push_live(mock_server *srv, const oplog_rec *r, const char *only_device) {
  int sent = 0;
  int64_t now = wall_ms();
  int check = needs_validation(srv, r);
  for (link_conn *c = srv->link_conns; c; c = c->next) {
    if (!conn_matches(c, r->instance_id, r->kind, r->target)) continue;
    if (check && !c->validated) continue; /* stored: its held stream brings it once validated */
    if (only_device && strcmp(c->device_id, only_device) != 0) continue;
    if (!oplog_admits(r, c->os_type, c->app_version, now)) continue;
    if (stream_pending(c, r->kind, r->biz_type, r->target)) {
      sent++; /* stored: the paused backlog walk brings it, in order */
      continue;
    }
    if (mps_link_write_queue(c->link) > OUTPUT_HARD_LIMIT) {
      /* S11: a peer that reads nothing is not kept up with for ever. */
      mps_session_close(conn_session(c), MPSYNC__WIRE__CLOSE_CODE__CLOSE_RETRY_LATER,
                        "peer does not read", 30);
      mps_link_close(c->link, 0);
      c->closing = 1;
      continue;
    }
    batch_builder b = {.c = c, .kind = r->kind, .biz_type = r->biz_type, .target = r->target,
                       .epoch = r->epoch};
    builder_add(&b, r);
    builder_flush(&b);
    conn_flush(c);
    sent++;
  }
  return sent;
}

int link_notify_reset(mock_server *srv, const char *instance, int kind, const char *biz,
                      const char *target, uint64_t epoch) {
  int sent = 0;
  for (link_conn *c = srv->link_conns; c; c = c->next) {
    if (!conn_matches(c, instance, kind, target)) continue;
    batch_builder b = {.c = c, .kind = kind, .biz_type = biz, .target = target, .epoch = epoch,
                       .reset = 1};
    builder_flush(&b);
    conn_flush(c);
    sent++;
  }
  return sent;
}

/* ---- backlog on Hello and PullGlobal ---- */

/* What a backlog walk over one stream needs. */
typedef struct backlog_walk {
  batch_builder *b;
  const biz_config *cfg;
  int64_t now;
  size_t limit; /* threshold mode: the newest `limit` admitted oplogs; 0 = all */
  /* threshold mode collects copies newest first, then sends them oldest first */
  oplog_rec *kept;
  uint8_t **kept_payloads;
  char **kept_thirds;
  size_t nkept;
  int paused;            /* the peer fell behind: the walk stopped after paused_after */
  uint64_t paused_after;
} backlog_walk;

static int over_high_water(const link_conn *c) {
  return mps_link_write_queue(c->link) > BACKLOG_HIGH_WATER;
}

static int single_device(const biz_config *cfg, int kind) {
  return kind == MPSYNC__WIRE__STREAM_KIND__STREAM_USER && !cfg->multi_device;
}

/* Whether r goes to this connection: filters, and single-device ownership. */
static int backlog_admits(backlog_walk *w, const oplog_rec *r) {
  link_conn *c = w->b->c;
  if (single_device(w->cfg, r->kind) && r->assigned_device[0] &&
      strcmp(r->assigned_device, c->device_id) != 0)
    return 0;
  return oplog_admits(r, c->os_type, c->app_version, w->now);
}

static void backlog_send(backlog_walk *w, const oplog_rec *r) {
  link_conn *c = w->b->c;
  if (single_device(w->cfg, r->kind) && !r->assigned_device[0])
    store_oplog_assign(c->srv->st, r, c->device_id);
  builder_add(w->b, r);
}

static int visit_queue(void *ud, const oplog_rec *r) {
  backlog_walk *w = ud;
  if (!backlog_admits(w, r)) return 0;
  size_t before = w->b->count;
  backlog_send(w, r);
  /* A batch just went out (the builder restarted with r): stop while the peer is behind. */
  if (before && w->b->count == 1 && over_high_water(w->b->c)) {
    builder_flush(w->b);
    w->paused = 1;
    w->paused_after = r->id;
    return 1;
  }
  return w->b->failed;
}

static int visit_threshold(void *ud, const oplog_rec *r) {
  backlog_walk *w = ud;
  if (!backlog_admits(w, r)) return 0;
  oplog_rec *k = &w->kept[w->nkept];
  *k = *r;
  /* The row's memory ends with the step: keep copies of what the batch needs. */
  w->kept_payloads[w->nkept] = malloc(r->payload_len ? r->payload_len : 1);
  w->kept_thirds[w->nkept] = strdup(r->third_msg_id);
  if (w->kept_payloads[w->nkept] && r->payload_len)
    memcpy(w->kept_payloads[w->nkept], r->payload, r->payload_len);
  k->payload = w->kept_payloads[w->nkept];
  k->third_msg_id = w->kept_thirds[w->nkept] ? w->kept_thirds[w->nkept] : "";
  /* Only "assigned or not" matters from here on (others' oplogs were filtered out above). */
  k->assigned_device = r->assigned_device[0] ? "assigned" : "";
  w->nkept++;
  return w->nkept >= w->limit;
}

static int send_threshold(link_conn *c, backlog_walk *w, int kind, const char *target,
                          uint64_t after) {
  size_t n = (size_t)w->cfg->threshold;
  w->limit = n;
  w->kept = calloc(n, sizeof *w->kept);
  w->kept_payloads = calloc(n, sizeof *w->kept_payloads);
  w->kept_thirds = calloc(n, sizeof *w->kept_thirds);
  int rc = -1;
  if (w->kept && w->kept_payloads && w->kept_thirds) {
    rc = store_oplog_foreach(c->srv->st, c->instance_id, kind, w->cfg->biz_type, target, after, 1,
                             visit_threshold, w);
    for (size_t i = w->nkept; i-- > 0;) {
      w->kept[i].instance_id = c->instance_id;
      w->kept[i].biz_type = w->cfg->biz_type;
      w->kept[i].target = target;
      backlog_send(w, &w->kept[i]);
    }
  }
  for (size_t i = 0; i < w->nkept; i++) {
    free(w->kept_payloads[i]);
    free(w->kept_thirds[i]);
  }
  free(w->kept);
  free(w->kept_payloads);
  free(w->kept_thirds);
  return rc;
}

/* Sends the stream's oplogs after max(client point, recorded ack) to c; from id 1 with reset when
 * the client names another epoch; with lost when retention took oplogs the client never got.
 * When the peer falls behind, the walk stops and *resume_after (else 0) says where it stopped,
 * *resume_epoch in which epoch. */
static int send_stream(link_conn *c, const biz_config *cfg, int kind, const char *target,
                       const mps_stream_point *pt, uint64_t *resume_after, uint64_t *resume_epoch) {
  *resume_after = 0;
  uint64_t client_epoch = pt ? pt->epoch : 0;
  stream_info info;
  /* A client that names an epoch of a stream the server no longer has (data wiped) must hear
   * that its point is void: the stream is created so that it has an epoch to announce. */
  int found = store_stream_get(c->srv->st, c->instance_id, kind, cfg->biz_type, target,
                               client_epoch != 0, &info);
  if (found <= 0) return found; /* never pushed to and the client knows no epoch: nothing to say */
  /* Epoch 0 = the client was never told one (older client): its point is taken as it is. */
  int reset = client_epoch != 0 && client_epoch != info.epoch;
  uint64_t acked = 0;
  if (store_acked_get(c->srv->st, c->instance_id, c->device_id, kind, cfg->biz_type, target,
                      &acked))
    return -1;
  uint64_t client_point = pt && !reset ? pt->sync_point : 0;
  uint64_t after = reset            ? 0
                   : c->fresh_cache ? client_point
                   : client_point > acked ? client_point
                                          : acked;
  batch_builder *b = calloc(1, sizeof *b);
  if (!b) return -1;
  *b = (batch_builder){.c = c, .kind = kind, .biz_type = cfg->biz_type, .target = target,
                       .epoch = info.epoch, .reset = reset,
                       .lost = info.pruned_through > after ? info.pruned_through - after : 0};
  backlog_walk w = {.b = b, .cfg = cfg, .now = wall_ms()};
  int rc = cfg->threshold_mode && cfg->threshold > 0
               ? send_threshold(c, &w, kind, target, after)
               : store_oplog_foreach(c->srv->st, c->instance_id, kind, cfg->biz_type, target,
                                     after, 0, visit_queue, &w);
  builder_flush(b);
  if (b->failed) rc = -1;
  if (w.paused) {
    *resume_after = w.paused_after;
    *resume_epoch = info.epoch;
  }
  builder_reset(b);
  free(b);
  return rc;
}

static const mps_stream_point *point_of(mps_stream_point **pts, size_t n, int kind,
                                        const char *biz, const char *target) {
  for (size_t i = 0; i < n; i++)
    if ((int)pts[i]->kind == kind && !strcmp(pts[i]->biz_type, biz) &&
        !strcmp(pts[i]->target, target))
      return pts[i];
  return NULL;
}

typedef struct stream_walk {
  link_conn *c;
  mps_stream_point **points;
  size_t npoints;
  int global; /* 1: the global streams (PullGlobal), 0: the specified ones (Hello) */
  int rc;
} stream_walk;

static int visit_biz(void *ud, const biz_config *cfg) {
  stream_walk *sw = ud;
  link_conn *c = sw->c;
  if (cfg->global != sw->global) return 0;
  int kind;
  const char *target;
  if (cfg->global) {
    kind = MPSYNC__WIRE__STREAM_KIND__STREAM_GLOBAL;
    target = "";
  } else if (cfg->device_dim) {
    /* (a non-persistent biz stores nothing, but its stream may still owe a client a reset) */
    kind = MPSYNC__WIRE__STREAM_KIND__STREAM_DEVICE;
    target = c->device_id;
  } else {
    if (!c->user_id[0]) return 0;
    kind = MPSYNC__WIRE__STREAM_KIND__STREAM_USER;
    target = c->user_id;
  }
  const mps_stream_point *pt = point_of(sw->points, sw->npoints, kind, cfg->biz_type, target);
  if (kind == MPSYNC__WIRE__STREAM_KIND__STREAM_USER && cfg->user_consistency && !c->validated) {
    if (pend_on(c, 1, kind, cfg->biz_type, target, pt ? pt->sync_point : 0, pt ? pt->epoch : 0,
                pt != NULL))
      sw->rc = -1;
    return 0;
  }
  if (c->pending) {
    /* Paused: this stream waits its turn, from the client's own point. */
    if (pend(c, kind, cfg->biz_type, target, pt ? pt->sync_point : 0,
             pt ? pt->epoch : 0, pt != NULL))
      sw->rc = -1;
    return 0;
  }
  uint64_t after, epoch;
  if (send_stream(c, cfg, kind, target, pt, &after, &epoch)) sw->rc = -1;
  else if (after && pend(c, kind, cfg->biz_type, target, after, epoch, 1))
    sw->rc = -1;
  return 0;
}

/* One transaction: single-device assignments of the whole backlog commit together. */
static int send_streams(link_conn *c, mps_stream_point **pts, size_t n, int global) {
  stream_walk sw = {.c = c, .points = pts, .npoints = n, .global = global};
  store *st = c->srv->st;
  if (store_begin(st)) return -1;
  if (store_biz_foreach(st, c->instance_id, visit_biz, &sw) || sw.rc || store_commit(st)) {
    store_rollback(st);
    return -1;
  }
  return 0;
}

/* The peer caught up: go on with the paused streams, one at a time, until it falls behind
 * again or they are done. */
static void resume_backlog(link_conn *c) {
  store *st = c->srv->st;
  while (c->pending && !c->closing && !over_high_water(c)) {
    pending_stream *p = c->pending;
    c->pending = p->next;
    biz_config cfg;
    int rc = store_begin(st) ? -1 : 0;
    int found = rc ? -1 : store_biz_find(st, c->instance_id, p->biz, &cfg);
    uint64_t after = 0, epoch = 0;
    if (found > 0) {
      mps_stream_point pt = MPSYNC__WIRE__STREAM_POINT__INIT;
      pt.kind = (Mpsync__Wire__StreamKind)p->kind;
      pt.biz_type = p->biz;
      pt.target = p->target;
      pt.sync_point = p->point;
      pt.epoch = p->epoch;
      rc = send_stream(c, &cfg, p->kind, p->target, p->has_point ? &pt : NULL, &after, &epoch);
    }
    if (found < 0 || rc || store_commit(st)) {
      store_rollback(st);
      free(p);
      fprintf(stderr, "mpsync-mock-server: backlog of %s/%s failed\n", c->instance_id,
              c->device_id);
      mps_session_close(conn_session(c), MPSYNC__WIRE__CLOSE_CODE__CLOSE_SERVER_SHUTDOWN,
                        "server error", 0);
      conn_flush(c);
      return;
    }
    if (after) {
      /* Fell behind again: this stream goes first next time. */
      p->point = after;
      p->epoch = epoch;
      p->has_point = 1;
      p->next = c->pending;
      c->pending = p;
      return;
    }
    free(p);
  }
}

static void on_link_drain(mps_link *l, void *ud) {
  (void)l;
  resume_backlog(ud);
}

/* ---- session callbacks ---- */

static void replace_older(link_conn *c) {
  for (link_conn *o = c->srv->link_conns; o; o = o->next) {
    if (o == c || o->closing || !o->seq) continue;
    if (strcmp(o->instance_id, c->instance_id) || strcmp(o->device_id, c->device_id)) continue;
    mps_session_close(conn_session(o), MPSYNC__WIRE__CLOSE_CODE__CLOSE_REPLACED,
                      "replaced by a newer connection of the same device", 0);
    conn_flush(o);
  }
}

/* User, device and instance ids: well-formed UTF-8 of at most MPS_MAX_ID_CHARS code points, the
 * client's limit too (one limit, counted one way). */
static int copy_id(char *dst, const char *src) {
  if (!mps_valid_id(src)) return -1;
  strcpy(dst, src);
  return 0;
}

void link_validated(mock_server *srv, void *conn, int valid) {
  (void)srv;
  link_conn *c = conn;
  if (!valid || c->validated) return;
  c->validated = 1;
  /* The held streams join the walk; it sends them now unless the peer is behind. */
  pending_stream **tail = &c->pending;
  while (*tail) tail = &(*tail)->next;
  *tail = c->held;
  c->held = NULL;
  resume_backlog(c);
}

static int on_hello(void *ud, const mps_hello *h) {
  link_conn *c = ud;
  if (h->protocol_version != MPS_PROTOCOL_VERSION) {
    mps_session_close(conn_session(c), MPSYNC__WIRE__CLOSE_CODE__CLOSE_UNSUPPORTED_VERSION,
                      "unsupported protocol version", 0);
    return 0;
  }
  if (!h->instance_id[0] || !h->device_id[0] || copy_id(c->instance_id, h->instance_id) ||
      copy_id(c->device_id, h->device_id) || copy_id(c->user_id, h->user_id) ||
      copy_id(c->os_type, h->os_type) || copy_id(c->app_version, h->app_version)) {
    mps_session_close(conn_session(c), MPSYNC__WIRE__CLOSE_CODE__CLOSE_BAD_HELLO,
                      "hello needs an instance and a device id of at most 100 characters (UTF-8)", 0);
    return 0;
  }
  mps_welcome w = MPSYNC__WIRE__WELCOME__INIT;
  w.protocol_version = MPS_PROTOCOL_VERSION;
  w.heartbeat_interval_s = c->srv->opts.heartbeat_s;
  w.heartbeat_timeout_s = c->srv->opts.heartbeat_timeout_s;
  w.heartbeat_max_s = c->srv->opts.heartbeat_max_s;
  w.max_frame_size = MPS_MAX_FRAME;
  w.server_id = c->srv->server_id;
  int rc = mps_session_welcome(conn_session(c), &w, uv_now(c->srv->loop));
  if (rc) return rc;
  c->seq = ++c->srv->link_seq;
  c->fresh_cache = h->fresh_cache;
  /* S9: a cached verdict counts at once; otherwise link_validated runs when the validator answers,
   * and the userConsistency streams are held until then. */
  if (c->user_id[0] && mps_valid_id(h->session_id) && h->session_id[0])
    c->validated = validator_check(c->srv, c, c->instance_id, c->user_id, h->session_id,
                                   link_validated) == 1;
  replace_older(c);
  /* Nothing is flushed between the Welcome and here: the first batch's flush carries both in
   * one write (issue 18), and with no backlog the read path's flush sends the Welcome. */
  if (send_streams(c, h->streams, h->n_streams, 0)) return MPSYNC_ESTORE;
  return 0;
}

static int on_pull_global(void *ud, const mps_pull_global *p) {
  link_conn *c = ud;
  return send_streams(c, p->streams, p->n_streams, 1) ? MPSYNC_ESTORE : 0;
}

/* Raises the device's acked points in one transaction; 0 or MPSYNC_ESTORE. */
static int record_ack(link_conn *c, const mps_ack *a, int64_t now) {
  store *st = c->srv->st;
  if (store_begin(st)) return MPSYNC_ESTORE;
  for (size_t i = 0; i < a->n_streams; i++) {
    const mps_stream_point *p = a->streams[i];
    uint64_t old = 0;
    if (p->epoch) {
      /* An ack counted in another epoch says nothing about this one's ids. */
      stream_info info;
      int found = store_stream_get(st, c->instance_id, (int)p->kind, p->biz_type, p->target, 0,
                                   &info);
      if (found < 0) {
        store_rollback(st);
        return MPSYNC_ESTORE;
      }
      if (found == 0 || info.epoch != p->epoch) continue;
    }
    if (store_acked_raise(st, c->instance_id, c->device_id, (int)p->kind, p->biz_type, p->target,
                          p->sync_point, &old) ||
        (p->sync_point > old &&
         store_stats_add(st, c->instance_id, (int)p->kind, p->target, 0,
                         (int64_t)(p->sync_point - old), now))) {
      store_rollback(st);
      return MPSYNC_ESTORE;
    }
  }
  if (store_commit(st)) {
    store_rollback(st);
    return MPSYNC_ESTORE;
  }
  return 0;
}

static int on_ack(void *ud, const mps_ack *a) {
  link_conn *c = ud;
  /* An ack undone by a power loss only makes the server send those oplogs again, and the client
   * drops them by its sync point (C8); waiting for the disk here would hold up the next push. */
  if (store_set_durable(c->srv->st, 0)) return MPSYNC_ESTORE;
  int rc = record_ack(c, a, wall_ms());
  return store_set_durable(c->srv->st, 1) ? MPSYNC_ESTORE : rc;
}

static void on_peer_close(void *ud, int code, const char *reason, uint32_t retry_after_s) {
  (void)ud;
  (void)code;
  (void)reason;
  (void)retry_after_s;
  /* Nothing to do here: recv reports the session closed and the read path closes the socket. */
}

static const mps_session_callbacks callbacks = {
    .on_hello = on_hello,
    .on_ack = on_ack,
    .on_pull_global = on_pull_global,
    .on_close = on_peer_close,
};

static const mps_link_callbacks link_callbacks = {
    .on_down = on_link_down, .on_closed = on_link_closed, .on_drain = on_link_drain};

static void accept_link(uv_stream_t *listener, int status, int tls) {
  mock_server *srv = listener->data;
  if (status < 0 || srv->stopping) return;
  link_conn *c = calloc(1, sizeof *c);
  if (!c) return;
  c->srv = srv;
  mps_link_options o = {.tls = tls ? srv->tls_cfg : NULL,
                        .ready_timeout_ms = srv->opts.heartbeat_timeout_s * 1000u,
                        .linger_ms = LINGER_MS,
                        .ready_timeout_reason = "no hello within the timeout",
                        .peer_name = "client"};
  mps_session *s = mps_session_new(MPS_ROLE_SERVER, &callbacks, c);
  if (mps_link_accept(listener, &o, s, &link_callbacks, c, &c->link) != 0) {
    free(c);
    return;
  }
  c->next = srv->link_conns;
  if (c->next) c->next->pprev = &c->next;
  c->pprev = &srv->link_conns;
  srv->link_conns = c;
}

void link_on_connection(uv_stream_t *listener, int status) { accept_link(listener, status, 0); }

void link_on_tls_connection(uv_stream_t *listener, int status) {
  accept_link(listener, status, 1);
}
