/* Sans-I/O protocol session: validates frame order and content, queues output, keeps heartbeat time. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpsync/mpsync_errors.h"

typedef enum {
  ST_START,     /* client: before hello; server: awaiting hello */
  ST_HELLO_SENT,/* client only */
  ST_READY,
  ST_CLOSED
} state_t;

struct mps_session {
  mps_role role;
  state_t state;
  mps_session_callbacks cb;
  void *ud;
  mps_decoder dec;
  mps_buf out;
  char reason[128];
  uint32_t hb_s, hb_timeout_s;
  uint64_t started_ms;
  uint64_t last_recv_ms;
  uint64_t last_ping_ms;  /* when the outstanding ping left, or the last one was answered */
  uint64_t ping_nonce;
  int ping_outstanding;
};

mps_session *mps_session_new(mps_role role, const mps_session_callbacks *cb, void *ud) {
  mps_session *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->role = role;
  if (cb) s->cb = *cb;
  s->ud = ud;
  s->hb_s = MPS_DEFAULT_HEARTBEAT_S;
  s->hb_timeout_s = MPS_DEFAULT_HEARTBEAT_TIMEOUT_S;
  s->started_ms = MPS_NO_DEADLINE;
  mps_decoder_init(&s->dec, MPS_MAX_FRAME);
  return s;
}

void mps_session_free(mps_session *s) {
  if (!s) return;
  mps_decoder_free(&s->dec);
  mps_buf_free(&s->out);
  free(s);
}

static void set_reason(mps_session *s, const char *r) {
  if (!s->reason[0]) snprintf(s->reason, sizeof s->reason, "%s", r);
}

static int send_env(mps_session *s, const mps_envelope *env) {
  if (s->state == ST_CLOSED) return MPSYNC_ECLOSED;
  return mps_frame_append(&s->out, env);
}

int mps_session_close(mps_session *s, int code, const char *reason, uint32_t retry_after_s) {
  if (s->state == ST_CLOSED) return MPSYNC_ECLOSED;
  Mpsync__Wire__Close c = MPSYNC__WIRE__CLOSE__INIT;
  c.code = (Mpsync__Wire__CloseCode)code;
  c.reason = (char *)(reason ? reason : "");
  c.retry_after_s = retry_after_s;
  mps_envelope env = MPSYNC__WIRE__ENVELOPE__INIT;
  env.body_case = MPSYNC__WIRE__ENVELOPE__BODY_CLOSE;
  env.close = &c;
  int rc = send_env(s, &env);
  set_reason(s, reason ? reason : "closed");
  s->state = ST_CLOSED;
  return rc;
}

/* Fails the session: tell the peer why (best effort), then refuse everything. */
static int fail(mps_session *s, int err, int close_code, const char *why) {
  if (s->state != ST_CLOSED) mps_session_close(s, close_code, why, 0);
  set_reason(s, why);
  return err;
}

static int valid_point(const mps_stream_point *p) {
  if (!p || p->kind < MPSYNC__WIRE__STREAM_KIND__STREAM_USER ||
      p->kind > MPSYNC__WIRE__STREAM_KIND__STREAM_GLOBAL)
    return 0;
  return mps_valid_biz(p->biz_type) && p->target && mps_valid_id(p->target);
}

static int check_batch(const mps_batch *b) {
  if (b->kind < MPSYNC__WIRE__STREAM_KIND__STREAM_USER ||
      b->kind > MPSYNC__WIRE__STREAM_KIND__STREAM_GLOBAL)
    return 0;
  if (!mps_valid_biz(b->biz_type) || !mps_valid_id(b->target)) return 0;
  if ((b->kind == MPSYNC__WIRE__STREAM_KIND__STREAM_GLOBAL) != (b->target[0] == '\0')) return 0;
  uint64_t prev = 0;
  for (size_t i = 0; i < b->n_oplogs; i++) {
    /* Ids must rise strictly: anything else would break the ordering promise downstream. */
    if (b->oplogs[i]->id <= prev) return 0;
    prev = b->oplogs[i]->id;
  }
  /* An empty batch only makes sense to announce a reset or a gap. */
  return b->n_oplogs > 0 || b->reset || b->lost;
}

static int handle_client(mps_session *s, const mps_envelope *env) {
  switch (env->body_case) {
    case MPSYNC__WIRE__ENVELOPE__BODY_WELCOME:
      if (s->state != ST_HELLO_SENT)
        return fail(s, MPSYNC_EPROTO, MPSYNC__WIRE__CLOSE_CODE__CLOSE_PROTOCOL_ERROR,
                    "unexpected welcome");
      if (env->welcome->protocol_version != MPS_PROTOCOL_VERSION)
        return fail(s, MPSYNC_EVERSION, MPSYNC__WIRE__CLOSE_CODE__CLOSE_UNSUPPORTED_VERSION,
                    "unsupported protocol version");
      if (env->welcome->heartbeat_interval_s) s->hb_s = env->welcome->heartbeat_interval_s;
      if (env->welcome->heartbeat_timeout_s) s->hb_timeout_s = env->welcome->heartbeat_timeout_s;
      s->state = ST_READY;
      return s->cb.on_welcome ? s->cb.on_welcome(s->ud, env->welcome) : 0;
    case MPSYNC__WIRE__ENVELOPE__BODY_BATCH:
      if (s->state != ST_READY)
        return fail(s, MPSYNC_EPROTO, MPSYNC__WIRE__CLOSE_CODE__CLOSE_PROTOCOL_ERROR,
                    "batch before welcome");
      if (!check_batch(env->batch))
        return fail(s, MPSYNC_EPROTO, MPSYNC__WIRE__CLOSE_CODE__CLOSE_PROTOCOL_ERROR,
                    "malformed oplog batch");
      return s->cb.on_batch ? s->cb.on_batch(s->ud, env->batch) : 0;
    case MPSYNC__WIRE__ENVELOPE__BODY_PONG:
      if (s->ping_outstanding && env->pong->nonce == s->ping_nonce) {
        s->ping_outstanding = 0;
        if (s->cb.on_pong) s->cb.on_pong(s->ud);
      }
      return 0;
    default:
      return fail(s, MPSYNC_EPROTO, MPSYNC__WIRE__CLOSE_CODE__CLOSE_PROTOCOL_ERROR,
                  "unexpected message from server");
  }
}

static int handle_server(mps_session *s, const mps_envelope *env) {
  if (s->state == ST_START && env->body_case != MPSYNC__WIRE__ENVELOPE__BODY_HELLO)
    return fail(s, MPSYNC_EPROTO, MPSYNC__WIRE__CLOSE_CODE__CLOSE_PROTOCOL_ERROR,
                "first frame must be hello");
  switch (env->body_case) {
    case MPSYNC__WIRE__ENVELOPE__BODY_HELLO: {
      if (s->state != ST_START)
        return fail(s, MPSYNC_EPROTO, MPSYNC__WIRE__CLOSE_CODE__CLOSE_PROTOCOL_ERROR,
                    "second hello");
      const mps_hello *h = env->hello;
      if (h->protocol_version != MPS_PROTOCOL_VERSION)
        return fail(s, MPSYNC_EVERSION, MPSYNC__WIRE__CLOSE_CODE__CLOSE_UNSUPPORTED_VERSION,
                    "unsupported protocol version");
      if (!h->instance_id[0] || !h->device_id[0])
        return fail(s, MPSYNC_EPROTO, MPSYNC__WIRE__CLOSE_CODE__CLOSE_BAD_HELLO,
                    "hello without instance or device");
      for (size_t i = 0; i < h->n_streams; i++)
        if (!valid_point(h->streams[i]))
          return fail(s, MPSYNC_EPROTO, MPSYNC__WIRE__CLOSE_CODE__CLOSE_BAD_HELLO,
                      "hello with a malformed stream point");
      return s->cb.on_hello ? s->cb.on_hello(s->ud, h) : 0;
    }
    case MPSYNC__WIRE__ENVELOPE__BODY_ACK:
      for (size_t i = 0; i < env->ack->n_streams; i++)
        if (!valid_point(env->ack->streams[i]))
          return fail(s, MPSYNC_EPROTO, MPSYNC__WIRE__CLOSE_CODE__CLOSE_PROTOCOL_ERROR,
                      "malformed ack");
      return s->cb.on_ack ? s->cb.on_ack(s->ud, env->ack) : 0;
    case MPSYNC__WIRE__ENVELOPE__BODY_PULL_GLOBAL:
      for (size_t i = 0; i < env->pull_global->n_streams; i++)
        if (!valid_point(env->pull_global->streams[i]))
          return fail(s, MPSYNC_EPROTO, MPSYNC__WIRE__CLOSE_CODE__CLOSE_PROTOCOL_ERROR,
                      "malformed global pull");
      return s->cb.on_pull_global ? s->cb.on_pull_global(s->ud, env->pull_global) : 0;
    case MPSYNC__WIRE__ENVELOPE__BODY_PING: {
      Mpsync__Wire__Pong pong = MPSYNC__WIRE__PONG__INIT;
      pong.nonce = env->ping->nonce;
      mps_envelope out = MPSYNC__WIRE__ENVELOPE__INIT;
      out.body_case = MPSYNC__WIRE__ENVELOPE__BODY_PONG;
      out.pong = &pong;
      return send_env(s, &out);
    }
    default:
      return fail(s, MPSYNC_EPROTO, MPSYNC__WIRE__CLOSE_CODE__CLOSE_PROTOCOL_ERROR,
                  "unexpected message from client");
  }
}

long mps_session_recv(mps_session *s, const uint8_t *p, size_t n, uint64_t now_ms) {
  if (s->state == ST_CLOSED) return MPSYNC_ECLOSED;
  int rc = mps_decoder_feed(&s->dec, p, n);
  if (rc) return fail(s, rc, MPSYNC__WIRE__CLOSE_CODE__CLOSE_INTERNAL_ERROR, "out of memory");
  s->last_recv_ms = now_ms;
  for (;;) {
    mps_envelope *env;
    rc = mps_decoder_next(&s->dec, &env);
    if (rc == 0) break;
    if (rc == MPSYNC_EFRAMESIZE)
      return fail(s, rc, MPSYNC__WIRE__CLOSE_CODE__CLOSE_FRAME_TOO_LARGE, "frame too large");
    /* A string hiding a NUL or not UTF-8 (issue 13 item 3): "u1\0x" must never read as "u1". */
    if (rc < 0 && s->dec.refused_body == MPSYNC__WIRE__ENVELOPE__BODY_HELLO &&
        s->role == MPS_ROLE_SERVER)
      return fail(s, rc, MPSYNC__WIRE__CLOSE_CODE__CLOSE_BAD_HELLO,
                  "hello with a NUL or invalid UTF-8 in a string");
    if (rc < 0 && s->dec.refused_body)
      return fail(s, rc, MPSYNC__WIRE__CLOSE_CODE__CLOSE_PROTOCOL_ERROR,
                  "a string with a NUL or invalid UTF-8 in a frame");
    if (rc < 0)
      return fail(s, rc, MPSYNC__WIRE__CLOSE_CODE__CLOSE_PROTOCOL_ERROR, "undecodable frame");
    if (env->body_case == MPSYNC__WIRE__ENVELOPE__BODY_CLOSE) {
      const Mpsync__Wire__Close *c = env->close;
      set_reason(s, c->reason[0] ? c->reason : "closed by peer");
      s->state = ST_CLOSED;
      if (s->cb.on_close) s->cb.on_close(s->ud, (int)c->code, c->reason, c->retry_after_s);
      mps_decoder_release(&s->dec, env);
      return MPSYNC_ECLOSED;
    }
    rc = s->role == MPS_ROLE_CLIENT ? handle_client(s, env) : handle_server(s, env);
    mps_decoder_release(&s->dec, env);
    if (rc < 0) {
      if (s->state != ST_CLOSED)
        fail(s, rc, MPSYNC__WIRE__CLOSE_CODE__CLOSE_INTERNAL_ERROR, "local failure");
      return rc;
    }
    if (s->state == ST_CLOSED) return MPSYNC_ECLOSED;
  }
  return (long)n;
}

size_t mps_session_pending(mps_session *s, const uint8_t **data) {
  *data = s->out.data;
  return s->out.len;
}

void mps_session_consume(mps_session *s, size_t n) { mps_buf_consume(&s->out, n); }

int mps_session_closed(const mps_session *s) { return s->state == ST_CLOSED; }

int mps_session_ready(const mps_session *s) { return s->state == ST_READY; }

const char *mps_session_reason(const mps_session *s) { return s->reason; }

int mps_session_hello(mps_session *s, const mps_hello *h, uint64_t now_ms) {
  if (s->role != MPS_ROLE_CLIENT || s->state != ST_START) return MPSYNC_EINVAL;
  mps_envelope env = MPSYNC__WIRE__ENVELOPE__INIT;
  env.body_case = MPSYNC__WIRE__ENVELOPE__BODY_HELLO;
  env.hello = (mps_hello *)h;
  int rc = send_env(s, &env);
  if (rc) return rc;
  s->state = ST_HELLO_SENT;
  s->started_ms = now_ms;
  s->last_recv_ms = now_ms;
  s->last_ping_ms = now_ms;
  return 0;
}

static int send_points(mps_session *s, int body, mps_stream_point **points, size_t n) {
  if (s->role != MPS_ROLE_CLIENT || s->state != ST_READY) return MPSYNC_EINVAL;
  mps_envelope env = MPSYNC__WIRE__ENVELOPE__INIT;
  Mpsync__Wire__Ack ack = MPSYNC__WIRE__ACK__INIT;
  Mpsync__Wire__PullGlobal pull = MPSYNC__WIRE__PULL_GLOBAL__INIT;
  env.body_case = (Mpsync__Wire__Envelope__BodyCase)body;
  if (body == MPSYNC__WIRE__ENVELOPE__BODY_ACK) {
    ack.n_streams = n;
    ack.streams = points;
    env.ack = &ack;
  } else {
    pull.n_streams = n;
    pull.streams = points;
    env.pull_global = &pull;
  }
  return send_env(s, &env);
}

int mps_session_ack(mps_session *s, mps_stream_point **points, size_t n) {
  return send_points(s, MPSYNC__WIRE__ENVELOPE__BODY_ACK, points, n);
}

int mps_session_pull_global(mps_session *s, mps_stream_point **points, size_t n) {
  return send_points(s, MPSYNC__WIRE__ENVELOPE__BODY_PULL_GLOBAL, points, n);
}

int mps_session_welcome(mps_session *s, const mps_welcome *w, uint64_t now_ms) {
  if (s->role != MPS_ROLE_SERVER || s->state != ST_START) return MPSYNC_EINVAL;
  mps_envelope env = MPSYNC__WIRE__ENVELOPE__INIT;
  env.body_case = MPSYNC__WIRE__ENVELOPE__BODY_WELCOME;
  env.welcome = (mps_welcome *)w;
  int rc = send_env(s, &env);
  if (rc) return rc;
  if (w->heartbeat_interval_s) s->hb_s = w->heartbeat_interval_s;
  /* A client may stretch its interval up to the maximum: judge silence by that. */
  if (w->heartbeat_max_s > s->hb_s) s->hb_s = w->heartbeat_max_s;
  if (w->heartbeat_timeout_s) s->hb_timeout_s = w->heartbeat_timeout_s;
  s->state = ST_READY;
  s->last_recv_ms = now_ms;
  return 0;
}

int mps_session_batch(mps_session *s, const mps_batch *b) {
  if (s->role != MPS_ROLE_SERVER || s->state != ST_READY) return MPSYNC_EINVAL;
  mps_envelope env = MPSYNC__WIRE__ENVELOPE__INIT;
  env.body_case = MPSYNC__WIRE__ENVELOPE__BODY_BATCH;
  env.batch = (mps_batch *)b;
  return send_env(s, &env);
}

uint64_t mps_session_deadline(const mps_session *s) {
  uint64_t timeout = (uint64_t)s->hb_timeout_s * 1000;
  switch (s->state) {
    case ST_HELLO_SENT:
      return s->started_ms + timeout;
    case ST_READY:
      if (s->role == MPS_ROLE_SERVER)
        /* A client pings every interval; allow one missed ping plus the timeout. */
        return s->last_recv_ms + 2 * (uint64_t)s->hb_s * 1000 + timeout;
      return s->ping_outstanding ? s->last_ping_ms + timeout
                                 : s->last_ping_ms + (uint64_t)s->hb_s * 1000;
    default:
      return MPS_NO_DEADLINE;
  }
}

int mps_session_tick(mps_session *s, uint64_t now_ms) {
  uint64_t deadline = mps_session_deadline(s);
  if (deadline == MPS_NO_DEADLINE || now_ms < deadline) return 0;
  if (s->state == ST_HELLO_SENT)
    return fail(s, MPSYNC_ETIMEDOUT, MPSYNC__WIRE__CLOSE_CODE__CLOSE_HEARTBEAT_TIMEOUT,
                "handshake timed out");
  if (s->role == MPS_ROLE_SERVER)
    return fail(s, MPSYNC_ETIMEDOUT, MPSYNC__WIRE__CLOSE_CODE__CLOSE_HEARTBEAT_TIMEOUT,
                "client silent past heartbeat");
  if (s->ping_outstanding)
    return fail(s, MPSYNC_ETIMEDOUT, MPSYNC__WIRE__CLOSE_CODE__CLOSE_HEARTBEAT_TIMEOUT,
                "no pong within heartbeat timeout");
  Mpsync__Wire__Ping ping = MPSYNC__WIRE__PING__INIT;
  ping.nonce = ++s->ping_nonce;
  mps_envelope env = MPSYNC__WIRE__ENVELOPE__INIT;
  env.body_case = MPSYNC__WIRE__ENVELOPE__BODY_PING;
  env.ping = &ping;
  int rc = send_env(s, &env);
  if (rc) return rc;
  s->ping_outstanding = 1;
  s->last_ping_ms = now_ms;
  return 0;
}

void mps_session_set_heartbeat(mps_session *s, uint32_t interval_s) {
  if (interval_s) s->hb_s = interval_s;
}

uint32_t mps_session_heartbeat_s(const mps_session *s) { return s->hb_s; }

