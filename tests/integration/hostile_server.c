/* A hostile-server test double on the session core: foreign streams, planted streams, drops. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "hostile_server.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/session.h"
#include "harness.h"

/* Output queued ahead of the socket: enough to keep it busy, little enough to stay bounded. */
#define PLANT_QUEUE_BYTES (64u << 10)

typedef struct hostile_link {
  hostile_server *h;
  mps_session *s;
  int welcomed;
  int drop; /* end the link once the output is written */
  unsigned planted;
} hostile_link;

/* Someone else's data: another device's stream, or another user's. */
static void send_foreign(hostile_link *l) {
  mps_oplog_msg op = MPSYNC__WIRE__OPLOG__INIT;
  op.id = 1;
  op.payload.data = (uint8_t *)"someone else's";
  op.payload.len = 14;
  op.third_msg_id = "foreign-1";
  mps_oplog_msg *ops[1] = {&op};
  mps_batch b = MPSYNC__WIRE__OPLOG_BATCH__INIT;
  int device = strcmp(l->h->foreign, "device") == 0;
  b.kind = device ? MPSYNC__WIRE__STREAM_KIND__STREAM_DEVICE : MPSYNC__WIRE__STREAM_KIND__STREAM_USER;
  b.biz_type = device ? "DEVCFG" : "UCHAT";
  b.target = device ? "another-device-0000000001" : "u2";
  b.epoch = 1;
  b.oplogs = ops;
  b.n_oplogs = 1;
  mps_session_batch(l->s, &b);
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
    mps_oplog_msg op = MPSYNC__WIRE__OPLOG__INIT;
    op.id = 1;
    op.payload.data = (uint8_t *)"planted";
    op.payload.len = 7;
    op.third_msg_id = biz;
    mps_oplog_msg *ops[1] = {&op};
    mps_batch b = MPSYNC__WIRE__OPLOG_BATCH__INIT;
    b.kind = MPSYNC__WIRE__STREAM_KIND__STREAM_USER;
    b.biz_type = biz;
    b.target = (char *)l->h->user;
    b.epoch = 1;
    b.oplogs = ops;
    b.n_oplogs = 1;
    if (mps_session_batch(l->s, &b) != 0) return;
    l->planted++;
  }
}

/* One link, until the client goes, the double is stopped, or (drop mode) all was written. */
static void serve(hostile_server *h, int fd) {
  mps_session_callbacks cb = {.on_hello = on_hello, .on_ack = on_ack};
  hostile_link l = {.h = h};
  l.s = mps_session_new(MPS_ROLE_SERVER, &cb, &l);
  if (!l.s) return;
  uint8_t buf[16384];
  int peer_done = 0;
  while (!atomic_load(&h->stop)) {
    if (l.welcomed && !peer_done && h->mode == HOSTILE_PLANT_STREAMS) plant_more(&l);
    const uint8_t *out;
    size_t pending = mps_session_pending(l.s, &out);
    if (!pending && (peer_done || l.drop || mps_session_closed(l.s))) break;
    struct pollfd pfd = {.fd = fd, .events = (short)(POLLIN | (pending ? POLLOUT : 0))};
    if (peer_done) pfd.events = POLLOUT;
    if (poll(&pfd, 1, 50) < 0 && errno != EINTR) break;
    if (pfd.revents & POLLOUT) {
      ssize_t n = send(fd, out, pending, MSG_NOSIGNAL); /* a client gone is no SIGPIPE */
      if (n < 0 && errno != EAGAIN && errno != EINTR) break;
      if (n > 0) mps_session_consume(l.s, (size_t)n);
    }
    if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) break;
      if (mps_session_recv(l.s, buf, (size_t)n, 0) < 0) peer_done = 1;
    }
  }
  mps_session_free(l.s);
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
  h->listen_fd = listen_loopback(&h->port);
  if (pthread_create(&h->thread, NULL, hostile_main, h) != 0) FAIL("cannot start the double");
}

void hostile_stop(hostile_server *h) {
  atomic_store(&h->stop, 1);
  pthread_join(h->thread, NULL);
  close(h->listen_fd);
}
