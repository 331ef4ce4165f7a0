/* A hostile-server test double on the session core: foreign streams, planted streams, drops. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MPSYNC_TEST_HOSTILE_SERVER_H
#define MPSYNC_TEST_HOSTILE_SERVER_H

#include <pthread.h>
#include <stdatomic.h>

typedef enum hostile_mode {
  /* After the Welcome, one batch per new user stream of `user` (bizTypes P00000, P00001, ...)
   * until `streams` were sent on this link; then it reads until the client goes. */
  HOSTILE_PLANT_STREAMS,
  /* Welcome, then at once a Close with `close_code` (or none when negative) and the end. */
  HOSTILE_WELCOME_THEN_DROP,
  /* After the Welcome, one batch of another device's DEVCFG stream (foreign = "device") or of
   * user u2's UCHAT stream (foreign = "user"); then it reads until the client goes. */
  HOSTILE_FOREIGN_STREAM,
  /* After the Welcome, one batch of UCHAT for `user` whose target on the wire is `user`, a NUL,
   * then "x" (issue 13 item 3: read short, it would pass for `user`'s own stream); then it reads
   * until the client goes. `client_close` gets the code of the Close the client sends. */
  HOSTILE_NUL_IN_TARGET,
} hostile_mode;

typedef struct hostile_server {
  hostile_mode mode;
  const char *user;   /* PLANT: the target of the planted user streams */
  unsigned streams;   /* PLANT: how many per link */
  int close_code;     /* WELCOME_THEN_DROP */
  const char *foreign; /* FOREIGN_STREAM: "device" or "user" */
  int port;
  atomic_int links;   /* links accepted so far */
  atomic_int hellos;  /* Hellos accepted (the session core found them well-formed) */
  atomic_int acks;    /* Ack frames received, all links together */
  atomic_int ended;   /* links that ended (the client went, or the double dropped it) */
  atomic_int client_close; /* code of the last Close the client sent, -1 before any */
  /* private */
  int listen_fd;
  atomic_int stop;
  pthread_t thread;
} hostile_server;

/* Listens on a free loopback port (h->port) and serves one link at a time on a thread. */
void hostile_start(hostile_server *h);
/* Ends the link in progress and the thread. */
void hostile_stop(hostile_server *h);

#endif
