/* The one libuv transport of client and mock server: resolve, connect, socket <-> TLS <-> session. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "net/transport.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpsync/mpsync_errors.h"

/* A graceful close never takes longer than its linger plus this, even against a peer that
 * never reads (its FIN would wait behind a full send buffer). */
#define CLOSE_GRACE_MS 1000u
#define READ_CHUNK 65536
#define NO_DEADLINE UINT64_MAX

typedef struct resolve_job resolve_job;

struct mps_link {
  uv_loop_t *loop;
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_connect_t connect_req;
  uv_shutdown_t shutdown_req;
  mps_link_callbacks cb;
  void *ud;
  mps_session *session;
  mps_tls *tls;
  resolve_job *job;      /* a name being resolved; NULL otherwise */
  char port[8];
  int client;
  int tcp_open;          /* tcp initialised: must be closed */
  int connected;
  int handles;           /* handles whose close callback has yet to run */
  int handles_closing;
  int closing;           /* closed or failed: no more events to the owner */
  int opened;            /* the session may speak */
  int write_error;       /* first failed write, a libuv code */
  int above_low_water;
  uint32_t ready_timeout_ms, linger_ms;
  uint64_t started_at, close_deadline;
  char ready_reason[96];
  char peer[64];
  char peer_name[16];
};

/* Reads are handled to the end inside their callback, so one buffer per thread serves every
 * link of that thread's loop instead of one allocation per read. */
static _Thread_local uint8_t read_buf[READ_CHUNK];
static _Thread_local uint8_t plain_buf[16384];

static void fail(mps_link *l, int err, const char *reason);
static void arm(mps_link *l);
static void start_tcp(mps_link *l, const struct sockaddr *addr, int *sync_err);

/* ---------------------------------------------------------------- teardown */

static void free_link(mps_link *l) {
  mps_session_free(l->session);
  mps_tls_free(l->tls);
  free(l);
}

static void on_handle_closed(uv_handle_t *h) {
  mps_link *l = h->data;
  if (--l->handles > 0) return;
  if (l->cb.on_closed) l->cb.on_closed(l, l->ud);
  free_link(l);
}

static void close_handles(mps_link *l) {
  if (l->handles_closing) return;
  l->handles_closing = 1;
  l->closing = 1;
  if (l->tcp_open) uv_close((uv_handle_t *)&l->tcp, on_handle_closed);
  uv_close((uv_handle_t *)&l->timer, on_handle_closed);
}

/* ---------------------------------------------------------------- resolving
 * getaddrinfo cannot be cancelled once it runs, and libuv's own uv_getaddrinfo keeps the loop
 * (and so mpsync_client_free) waiting for it. A detached thread does the lookup instead; a link
 * closed meanwhile abandons the job, and whichever side finishes last frees it. */

struct resolve_job {
  uv_mutex_t lock;
  int refs;
  int abandoned;
  uv_async_t done;
  mps_link *link;
  char host[256], port[8];
  struct addrinfo *res;
  int status;
};

static void job_unref(resolve_job *j) {
  uv_mutex_lock(&j->lock);
  int last = --j->refs == 0;
  uv_mutex_unlock(&j->lock);
  if (!last) return;
  if (j->res) freeaddrinfo(j->res);
  uv_mutex_destroy(&j->lock);
  free(j);
}

static void on_job_handle_closed(uv_handle_t *h) { job_unref(h->data); }

static void resolve_main(void *arg) {
  resolve_job *j = arg;
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int rc = getaddrinfo(j->host, j->port, &hints, &res);
  uv_mutex_lock(&j->lock);
  j->res = res;
  j->status = rc;
  /* Under the lock the loop side takes to abandon the job: the async handle is still open. */
  if (!j->abandoned) uv_async_send(&j->done);
  uv_mutex_unlock(&j->lock);
  job_unref(j);
}

static void abandon_job(mps_link *l) {
  resolve_job *j = l->job;
  if (!j) return;
  l->job = NULL;
  uv_mutex_lock(&j->lock);
  j->abandoned = 1;
  uv_mutex_unlock(&j->lock);
  uv_close((uv_handle_t *)&j->done, on_job_handle_closed);
}

static void on_resolved(uv_async_t *a) {
  resolve_job *j = a->data;
  mps_link *l = j->link;
  uv_mutex_lock(&j->lock);
  struct addrinfo *res = j->res;
  int status = j->status;
  j->res = NULL;
  uv_mutex_unlock(&j->lock);
  abandon_job(l);
  if (l->closing) {
    if (res) freeaddrinfo(res);
    return;
  }
  if (status != 0 || !res) {
    char reason[320];
    snprintf(reason, sizeof reason, "cannot resolve %s: %s", j->host,
             status ? gai_strerror(status) : "no address");
    if (res) freeaddrinfo(res);
    fail(l, UV_EAI_NONAME, reason);
    return;
  }
  int err = 0;
  start_tcp(l, res->ai_addr, &err);
  freeaddrinfo(res);
  if (err) fail(l, err, uv_strerror(err));
}

static int start_resolve(mps_link *l, const char *host) {
  resolve_job *j = calloc(1, sizeof *j);
  if (!j) return MPSYNC_ENOMEM;
  if (uv_mutex_init(&j->lock) != 0) {
    free(j);
    return MPSYNC_ENOMEM;
  }
  snprintf(j->host, sizeof j->host, "%s", host);
  snprintf(j->port, sizeof j->port, "%s", l->port);
  j->link = l;
  j->refs = 2; /* the thread's and the async handle's */
  int rc = uv_async_init(l->loop, &j->done, on_resolved);
  if (rc) {
    uv_mutex_destroy(&j->lock);
    free(j);
    return rc;
  }
  j->done.data = j;
  l->job = j;
  uv_thread_t t;
  if ((rc = uv_thread_create(&t, resolve_main, j)) != 0) {
    j->refs = 1;
    abandon_job(l);
    return rc;
  }
  pthread_detach(t);
  return 0;
}

/* ---------------------------------------------------------------- writing */

typedef struct write_req {
  uv_write_t req;
  uv_buf_t buf;
  char data[];
} write_req;

static void on_written(uv_write_t *req, int status) {
  mps_link *l = req->handle->data;
  free(req);
  if (status < 0) {
    /* A failed write takes the socket's pending error (a reset, say) for itself; the read that
     * follows sees a plain end of stream, so keep it to name the real reason. */
    if (status != UV_ECANCELED && !l->write_error) l->write_error = status;
    if (l->closing)
      close_handles(l);
    else if (status != UV_ECANCELED)
      fail(l, status, uv_strerror(status));
    return;
  }
  if (l->above_low_water && mps_link_write_queue(l) <= MPS_LINK_LOW_WATER) {
    l->above_low_water = 0;
    if (!l->closing && l->cb.on_drain) l->cb.on_drain(l, l->ud);
  }
}

static int write_bytes(mps_link *l, const uint8_t *p, size_t n) {
  if (l->write_error) return l->write_error;
  write_req *w = malloc(sizeof *w + n);
  if (!w) return MPSYNC_ENOMEM;
  memcpy(w->data, p, n);
  w->buf = uv_buf_init(w->data, (unsigned)n);
  int rc = uv_write(&w->req, (uv_stream_t *)&l->tcp, &w->buf, 1, on_written);
  if (rc) {
    free(w);
    return rc;
  }
  if (mps_link_write_queue(l) > MPS_LINK_LOW_WATER) l->above_low_water = 1;
  return 0;
}

/* Moves what the session queued onto the socket, through TLS when on. 0, or the error that
 * lost bytes: then the link must go, for the stream has a hole. */
static int pump_out(mps_link *l) {
  if (!l->connected || l->handles_closing) return 0;
  const uint8_t *data;
  size_t n = mps_session_pending(l->session, &data);
  if (!l->tls) {
    int rc = n ? write_bytes(l, data, n) : 0;
    mps_session_consume(l->session, n);
    return rc;
  }
  /* Plaintext waits in the session until the handshake is done; a link closing before then has
   * no channel for it. */
  if (n && mps_tls_handshake_done(l->tls)) {
    if (mps_tls_write(l->tls, data, n) != 0) return MPSYNC_ETLS;
    mps_session_consume(l->session, n);
  } else if (n && l->closing) {
    mps_session_consume(l->session, n);
  }
  n = mps_tls_pending(l->tls, &data);
  int rc = n ? write_bytes(l, data, n) : 0;
  mps_tls_consume(l->tls, n);
  return rc;
}

/* ---------------------------------------------------------------- closing */

static void on_shutdown(uv_shutdown_t *req, int status) {
  mps_link *l = req->data;
  if (status < 0 || !l->linger_ms) {
    close_handles(l);
    return;
  }
  /* The FIN is out; keep reading (and discarding) until the peer closes too, or the linger
   * passes. Closed at once, a socket that then receives a ping answers with an RST, and an RST
   * makes the peer's kernel drop the Close frame it has not read yet. */
  uint64_t linger_end = uv_now(l->loop) + l->linger_ms;
  if (linger_end < l->close_deadline) l->close_deadline = linger_end;
  arm(l);
}

static void begin_close(mps_link *l, int graceful) {
  if (l->closing) return;
  l->closing = 1;
  abandon_job(l);
  if (!l->connected) {
    close_handles(l); /* closing a connecting socket cancels the connect */
    return;
  }
  int rc = pump_out(l);
  if (!rc && l->tls && mps_tls_handshake_done(l->tls)) {
    /* close_notify: the peer can tell an ending on purpose from a cut. */
    mps_tls_close(l->tls);
    rc = pump_out(l);
  }
  if (rc || !graceful) {
    close_handles(l);
    return;
  }
  l->close_deadline = uv_now(l->loop) + l->linger_ms + CLOSE_GRACE_MS;
  l->shutdown_req.data = l;
  if (uv_shutdown(&l->shutdown_req, (uv_stream_t *)&l->tcp, on_shutdown) != 0) {
    close_handles(l);
    return;
  }
  arm(l);
}

static void fail(mps_link *l, int err, const char *reason) {
  if (l->closing) return;
  begin_close(l, 1);
  if (l->cb.on_down) l->cb.on_down(l, l->ud, err, reason);
}

void mps_link_close(mps_link *l, int graceful) {
  if (!l) return;
  l->cb.on_down = NULL;
  l->cb.on_open = NULL;
  l->cb.on_drain = NULL;
  l->cb.on_tls_session = NULL;
  if (l->closing) {
    if (!graceful) close_handles(l);
    return;
  }
  begin_close(l, graceful);
}

/* ---------------------------------------------------------------- time */

static uint64_t deadline_of(const mps_link *l) {
  if (l->handles_closing) return NO_DEADLINE;
  if (l->closing) return l->close_deadline;
  uint64_t d = NO_DEADLINE;
  if (l->ready_timeout_ms && !mps_session_ready(l->session))
    d = l->started_at + l->ready_timeout_ms;
  if (l->opened) {
    uint64_t s = mps_session_deadline(l->session);
    if (s < d) d = s;
  }
  return d;
}

static void on_timer(uv_timer_t *t);

static void arm(mps_link *l) {
  uint64_t d = deadline_of(l);
  if (d == NO_DEADLINE) {
    uv_timer_stop(&l->timer);
    return;
  }
  uint64_t now = uv_now(l->loop);
  uv_timer_start(&l->timer, on_timer, d > now ? d - now : 0, 0);
}

static void on_timer(uv_timer_t *t) {
  mps_link *l = t->data;
  uint64_t now = uv_now(l->loop);
  if (l->closing) {
    if (now >= l->close_deadline) close_handles(l);
    else arm(l);
    return;
  }
  if (l->ready_timeout_ms && !mps_session_ready(l->session) &&
      now >= l->started_at + l->ready_timeout_ms) {
    if (!mps_session_closed(l->session))
      mps_session_close(l->session, MPSYNC__WIRE__CLOSE_CODE__CLOSE_HEARTBEAT_TIMEOUT,
                        l->ready_reason, 0);
    fail(l, MPSYNC_ETIMEDOUT, l->ready_reason);
    return;
  }
  if (l->opened) {
    int rc = mps_session_tick(l->session, now);
    if (rc < 0) {
      fail(l, rc, mps_session_reason(l->session));
      return;
    }
    if ((rc = pump_out(l)) != 0) {
      fail(l, rc, rc == MPSYNC_ETLS ? mps_tls_reason(l->tls) : "write failed");
      return;
    }
  }
  arm(l);
}

/* ---------------------------------------------------------------- reading */

static void open_session(mps_link *l) {
  l->opened = 1;
  if (l->cb.on_open) l->cb.on_open(l, l->ud);
}

static void after_io(mps_link *l) {
  if (l->closing) return;
  int rc = pump_out(l);
  if (rc) {
    fail(l, rc, rc == MPSYNC_ETLS ? mps_tls_reason(l->tls) : uv_strerror(rc));
    return;
  }
  if (mps_session_closed(l->session)) {
    const char *why = mps_session_reason(l->session);
    fail(l, MPSYNC_ECLOSED, why && *why ? why : "closed");
    return;
  }
  arm(l);
}

/* Plaintext in. -1 when the link is gone. */
static int to_session(mps_link *l, const uint8_t *p, size_t n) {
  long rc = mps_session_recv(l->session, p, n, uv_now(l->loop));
  if (l->closing) return -1; /* the owner closed the link from a session callback */
  if (rc < 0) {
    fail(l, (int)rc, mps_session_reason(l->session));
    return -1;
  }
  return 0;
}

/* Hands a session the TLS layer made resumable to the owner. */
static void pass_session(mps_link *l) {
  uint8_t *blob;
  size_t len;
  if (!l->client || !mps_tls_take_session(l->tls, &blob, &len)) return;
  if (l->cb.on_tls_session && !l->closing) l->cb.on_tls_session(l, l->ud, blob, len);
  mps_tls_free_session(blob, len);
}

static void from_tls(mps_link *l, const uint8_t *p, size_t n) {
  if (mps_tls_feed(l->tls, p, n) != 0) {
    fail(l, MPSYNC_ENOMEM, "out of memory");
    return;
  }
  if (!mps_tls_handshake_done(l->tls)) {
    int hs = mps_tls_handshake(l->tls);
    /* Done on the client: no write yet, so that the Hello joins our last handshake flight
     * (the Finished of a resumed session) in the one write after_io makes. */
    int rc = hs == 0 && l->client ? 0 : pump_out(l);
    if (hs < 0) {
      fail(l, MPSYNC_ETLS, mps_tls_reason(l->tls));
      return;
    }
    if (rc) {
      fail(l, rc, uv_strerror(rc));
      return;
    }
    if (hs > 0) return;
    pass_session(l);
    if (l->client) open_session(l);
    if (l->closing) return;
  }
  for (;;) {
    long got = mps_tls_read(l->tls, plain_buf, sizeof plain_buf);
    pass_session(l);
    if (l->closing) return;
    if (got == 0) return;
    if (got < 0) {
      char reason[64];
      snprintf(reason, sizeof reason, "%s closed the connection (close_notify)", l->peer_name);
      fail(l, (int)got, got == MPSYNC_ECLOSED ? reason : mps_tls_reason(l->tls));
      return;
    }
    if (to_session(l, plain_buf, (size_t)got) != 0) return;
  }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  buf->base = (char *)read_buf;
  buf->len = sizeof read_buf;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  mps_link *l = s->data;
  if (nread > 0) {
    if (l->closing) return; /* lingering: the session is done, discard */
    if (l->tls)
      from_tls(l, (const uint8_t *)buf->base, (size_t)nread);
    else
      to_session(l, (const uint8_t *)buf->base, (size_t)nread);
    after_io(l);
    return;
  }
  if (nread == 0) return;
  if (l->closing) {
    close_handles(l); /* the peer's FIN (or an error) ends the linger */
    return;
  }
  int err = nread == UV_EOF && l->write_error ? l->write_error : (int)nread;
  char reason[64];
  snprintf(reason, sizeof reason, "%s closed the connection", l->peer_name);
  fail(l, err, err == UV_EOF ? reason : uv_strerror(err));
}

/* ---------------------------------------------------------------- connecting */

static void note_peer(mps_link *l) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (uv_tcp_getpeername(&l->tcp, (struct sockaddr *)&ss, &len) != 0) return;
  char ip[48] = "";
  int port = 0;
  if (ss.ss_family == AF_INET6) {
    uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof ip);
    port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  } else {
    uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
    port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  }
  snprintf(l->peer, sizeof l->peer, "%s:%d", ip, port);
}

static void on_connected(uv_connect_t *req, int status) {
  mps_link *l = req->data;
  if (l->closing) return;
  if (status < 0) {
    char reason[96];
    snprintf(reason, sizeof reason, "connect: %s", uv_strerror(status));
    fail(l, status, reason);
    return;
  }
  l->connected = 1;
  uv_tcp_nodelay(&l->tcp, 1);
  note_peer(l);
  int rc = uv_read_start((uv_stream_t *)&l->tcp, on_alloc, on_read);
  if (rc) {
    fail(l, rc, uv_strerror(rc));
    return;
  }
  if (l->tls) {
    /* The ClientHello; the session speaks once the handshake is done. */
    int hs = mps_tls_handshake(l->tls);
    if (hs < 0) {
      fail(l, MPSYNC_ETLS, mps_tls_reason(l->tls));
      return;
    }
  } else {
    open_session(l);
  }
  after_io(l);
}

static void start_tcp(mps_link *l, const struct sockaddr *addr, int *sync_err) {
  int rc = uv_tcp_init(l->loop, &l->tcp);
  if (rc) {
    *sync_err = rc;
    return;
  }
  l->tcp.data = l;
  l->tcp_open = 1;
  l->handles++;
  l->connect_req.data = l;
  rc = uv_tcp_connect(&l->connect_req, &l->tcp, addr, on_connected);
  if (rc) *sync_err = rc;
}

static mps_link *new_link(uv_loop_t *loop, const mps_link_options *o, mps_session *session,
                          const mps_link_callbacks *cb, void *ud, int client) {
  mps_link *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  l->loop = loop;
  l->cb = *cb;
  l->ud = ud;
  l->session = session;
  l->client = client;
  l->ready_timeout_ms = o->ready_timeout_ms;
  l->linger_ms = o->linger_ms;
  snprintf(l->ready_reason, sizeof l->ready_reason, "%s",
           o->ready_timeout_reason ? o->ready_timeout_reason : "handshake timed out");
  snprintf(l->peer_name, sizeof l->peer_name, "%s", o->peer_name ? o->peer_name : "peer");
  if (o->tls && mps_tls_new(o->tls, client ? o->server_name : NULL, &l->tls) != 0) {
    l->session = NULL;
    free(l);
    return NULL;
  }
  if (l->tls && client && o->tls_session_len)
    (void)mps_tls_offer_session(l->tls, o->tls_session, o->tls_session_len); /* else: full */
  uv_timer_init(loop, &l->timer);
  l->timer.data = l;
  l->handles = 1;
  l->started_at = uv_now(loop);
  return l;
}

/* Fails a link before its creator has it: no callback but on_closed's silence. */
static int abort_new(mps_link *l, int rc) {
  memset(&l->cb, 0, sizeof l->cb);
  l->closing = 1;
  abandon_job(l);
  close_handles(l);
  return rc;
}

int mps_link_connect(uv_loop_t *loop, const char *host, uint16_t port, const mps_link_options *o,
                     mps_session *session, const mps_link_callbacks *cb, void *ud, mps_link **out) {
  *out = NULL;
  if (!session) return MPSYNC_ENOMEM;
  mps_link *l = new_link(loop, o, session, cb, ud, 1);
  if (!l) {
    mps_session_free(session);
    return MPSYNC_ENOMEM;
  }
  snprintf(l->port, sizeof l->port, "%u", (unsigned)port);
  struct sockaddr_in6 a6;
  struct sockaddr_in a4;
  int err = 0;
  if (uv_ip4_addr(host, port, &a4) == 0)
    start_tcp(l, (const struct sockaddr *)&a4, &err);
  else if (uv_ip6_addr(host, port, &a6) == 0)
    start_tcp(l, (const struct sockaddr *)&a6, &err);
  else
    err = start_resolve(l, host);
  if (err) return abort_new(l, err);
  arm(l);
  *out = l;
  return 0;
}

int mps_link_accept(uv_stream_t *listener, const mps_link_options *o, mps_session *session,
                    const mps_link_callbacks *cb, void *ud, mps_link **out) {
  *out = NULL;
  if (!session) return MPSYNC_ENOMEM;
  mps_link *l = new_link(listener->loop, o, session, cb, ud, 0);
  if (!l) {
    mps_session_free(session);
    return MPSYNC_ENOMEM;
  }
  int rc = uv_tcp_init(l->loop, &l->tcp);
  if (rc) return abort_new(l, rc);
  l->tcp.data = l;
  l->tcp_open = 1;
  l->handles++;
  if ((rc = uv_accept(listener, (uv_stream_t *)&l->tcp)) != 0 ||
      (rc = uv_read_start((uv_stream_t *)&l->tcp, on_alloc, on_read)) != 0)
    return abort_new(l, rc);
  l->connected = 1;
  uv_tcp_nodelay(&l->tcp, 1);
  note_peer(l);
  /* The server's session listens from the start; over TLS the handshake comes first. */
  l->opened = 1;
  arm(l);
  *out = l;
  return 0;
}

/* ---------------------------------------------------------------- the rest */

mps_session *mps_link_session(const mps_link *l) { return l->session; }

void mps_link_flush(mps_link *l) {
  if (l && !l->closing) after_io(l);
}

size_t mps_link_write_queue(const mps_link *l) {
  return l->tcp_open ? uv_stream_get_write_queue_size((const uv_stream_t *)&l->tcp) : 0;
}

void mps_link_pause_reading(mps_link *l, int paused) {
  if (!l->connected || l->closing) return;
  if (paused)
    uv_read_stop((uv_stream_t *)&l->tcp);
  else
    uv_read_start((uv_stream_t *)&l->tcp, on_alloc, on_read);
}

const char *mps_link_peer(const mps_link *l) { return l->peer; }

mps_tls *mps_link_tls(const mps_link *l) { return l->tls; }
