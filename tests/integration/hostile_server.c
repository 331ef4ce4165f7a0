/* A hostile-server test double on the session core: foreign or planted streams, drops, NULs. */
/* SPDX-License-Identifier: Apache-2.0 */
#define _GNU_SOURCE /* memmem */
#include "hostile_server.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/session.h"
#include "core/wire.h"
#include "harness.h"

/* Output queued ahead of the socket: enough to keep it busy, little enough to stay bounded. */
#define PLANT_QUEUE_BYTES (64u << 10)

typedef struct hostile_link {
  hostile_server *h;
  mps_session *s;
  int welcomed;
  int drop; /* end the link once the output is written */
  unsigned planted;
  mps_buf raw; /* bytes the session would never write, sent after its own output */
} hostile_link;

/* A batch of one text oplog (id 1, epoch 1); the strings must outlive its sending. */
typedef struct one_batch {
  mps_oplog_msg op;
  mps_oplog_msg *ops[1];
  mps_batch b;
} one_batch;

static void one_batch_init(one_batch *o, int kind, const char *biz, const char *target,
                           const char *third, const char *text) {
  mpsync__wire__oplog__init(&o->op);
  o->op.id = 1;
  o->op.payload.data = (uint8_t *)text;
  o->op.payload.len = strlen(text);
  o->op.third_msg_id = (char *)third;
  o->ops[0] = &o->op;
  mpsync__wire__oplog_batch__init(&o->b);
  o->b.kind = (Mpsync__Wire__StreamKind)kind;
  o->b.biz_type = (char *)biz;
  o->b.target = (char *)target;
  o->b.epoch = 1;
  o->b.oplogs = o->ops;
  o->b.n_oplogs = 1;
}

/* Someone else's data: another device's stream, or another user's. */
static void send_foreign(hostile_link *l) {
  one_batch o;
  if (strcmp(l->h->foreign, "device") == 0)
    one_batch_init(&o, MPSYNC__WIRE__STREAM_KIND__STREAM_DEVICE, "DEVCFG",
                   "another-device-0000000001", "foreign-1", "someone else's");
  else
    one_batch_init(&o, MPSYNC__WIRE__STREAM_KIND__STREAM_USER, "UCHAT", "u2", "foreign-1",
                   "someone else's");
  mps_session_batch(l->s, &o.b);
}

/* protobuf-c packs a char * up to its NUL, so the batch goes out with a placeholder byte in the
 * target that is then overwritten with the NUL: the lengths in the frame stay right. */
static void send_nul_in_target(hostile_link *l) {
  char target[128];
  snprintf(target, sizeof target, "%s\001x", l->h->user);
  one_batch o;
  one_batch_init(&o, MPSYNC__WIRE__STREAM_KIND__STREAM_USER, "UCHAT", target, "nul-1",
                 "planted under a NUL");
  mps_envelope env = MPSYNC__WIRE__ENVELOPE__INIT;
  env.body_case = MPSYNC__WIRE__ENVELOPE__BODY_BATCH;
  env.batch = &o.b;
  size_t from = l->raw.len;
  if (mps_frame_append(&l->raw, &env) != 0) FAIL("cannot build the batch");
  uint8_t *at = memmem(l->raw.data + from, l->raw.len - from, target, strlen(target));
  if (!at) FAIL("the target is not in the packed batch");
  at[strlen(l->h->user)] = '\0';
}

static void on_close(void *ud, int code, const char *reason, uint32_t retry_after_s) {
  (void)reason;
  (void)retry_after_s;
  atomic_store(&((hostile_link *)ud)->h->client_close, code);
}

static int on_hello(void *ud, const mps_hello *hello) {
  (void)hello;
  hostile_link *l = ud;
  atomic_fetch_add(&l->h->hellos, 1);
  mps_welcome w = MPSYNC__WIRE__WELCOME__INIT;
  w.protocol_version = MPS_PROTOCOL_VERSION;
  int rc = mps_session_welcome(l->s, &w, 0);
  if (rc) return rc;
  l->welcomed = 1;
  if (l->h->mode == HOSTILE_WELCOME_THEN_DROP) {
    l->drop = 1;
    if (l->h->close_code >= 0)
      mps_session_close(l->s, l->h->close_code, "hostile double: welcome then drop", 0);
  }
  if (l->h->mode == HOSTILE_FOREIGN_STREAM) send_foreign(l);
  if (l->h->mode == HOSTILE_NUL_IN_TARGET) send_nul_in_target(l);
  return 0;
}

static int on_ack(void *ud, const mps_ack *a) {
  (void)a;
  atomic_fetch_add(&((hostile_link *)ud)->h->acks, 1);
  return 0;
}

/* Queues planted batches while the output stays under its budget. */
static void plant_more(hostile_link *l) {
  const uint8_t *p;
  while (l->planted < l->h->streams && mps_session_pending(l->s, &p) < PLANT_QUEUE_BYTES) {
    char biz[16];
    snprintf(biz, sizeof biz, "P%05u", l->planted);
    one_batch o;
    one_batch_init(&o, MPSYNC__WIRE__STREAM_KIND__STREAM_USER, biz, l->h->user, biz, "planted");
    if (mps_session_batch(l->s, &o.b) != 0) return;
    l->planted++;
  }
}

/* One link, until the client goes, the double is stopped, or (drop mode) all was written. */
static void serve(hostile_server *h, int fd) {
  mps_session_callbacks cb = {.on_hello = on_hello, .on_ack = on_ack, .on_close = on_close};
  hostile_link l = {.h = h};
  l.s = mps_session_new(MPS_ROLE_SERVER, &cb, &l);
  if (!l.s) return;
  uint8_t buf[16384];
  int peer_done = 0;
  while (!atomic_load(&h->stop)) {
    if (l.welcomed && !peer_done && h->mode == HOSTILE_PLANT_STREAMS) plant_more(&l);
    const uint8_t *out;
    size_t pending = mps_session_pending(l.s, &out);
    int raw = !pending && l.raw.len;
    if (raw) {
      out = l.raw.data;
      pending = l.raw.len;
    }
    if (!pending && (peer_done || l.drop || mps_session_closed(l.s))) break;
    struct pollfd pfd = {.fd = fd, .events = (short)(POLLIN | (pending ? POLLOUT : 0))};
    if (peer_done) pfd.events = POLLOUT;
    if (poll(&pfd, 1, 50) < 0 && errno != EINTR) break;
    if (pfd.revents & POLLOUT) {
      ssize_t n = send(fd, out, pending, MSG_NOSIGNAL); /* a client gone is no SIGPIPE */
      if (n < 0 && errno != EAGAIN && errno != EINTR) break;
      if (n > 0 && raw) mps_buf_consume(&l.raw, (size_t)n);
      else if (n > 0) mps_session_consume(l.s, (size_t)n);
    }
    if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) break;
      if (mps_session_recv(l.s, buf, (size_t)n, 0) < 0) peer_done = 1;
    }
  }
  mps_session_free(l.s);
  mps_buf_free(&l.raw);
}

static void *hostile_main(void *arg) {
  hostile_server *h = arg;
  while (!atomic_load(&h->stop)) {
    struct pollfd pfd = {.fd = h->listen_fd, .events = POLLIN};
    if (poll(&pfd, 1, 50) <= 0) continue;
    int fd = accept(h->listen_fd, NULL, NULL);
    if (fd < 0) continue;
    atomic_fetch_add(&h->links, 1);
    serve(h, fd);
    close(fd);
    atomic_fetch_add(&h->ended, 1);
  }
  return NULL;
}

void hostile_start(hostile_server *h) {
  atomic_store(&h->stop, 0);
  atomic_store(&h->client_close, -1);
  h->listen_fd = listen_loopback(&h->port);
  if (pthread_create(&h->thread, NULL, hostile_main, h) != 0) FAIL("cannot start the double");
}

void hostile_stop(hostile_server *h) {
  atomic_store(&h->stop, 1);
  pthread_join(h->thread, NULL);
  close(h->listen_fd);
}
