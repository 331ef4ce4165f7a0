/* Sans-I/O protocol session (client and server roles): bytes and time in, bytes and events out. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MPSYNC_CORE_SESSION_H
#define MPSYNC_CORE_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

typedef Mpsync__Wire__Hello mps_hello;
typedef Mpsync__Wire__Welcome mps_welcome;
typedef Mpsync__Wire__OplogBatch mps_batch;
typedef Mpsync__Wire__Oplog mps_oplog_msg;
typedef Mpsync__Wire__Ack mps_ack;
typedef Mpsync__Wire__PullGlobal mps_pull_global;
typedef Mpsync__Wire__StreamPoint mps_stream_point;

typedef enum mps_role { MPS_ROLE_CLIENT, MPS_ROLE_SERVER } mps_role;

#define MPS_DEFAULT_HEARTBEAT_S 30u
#define MPS_DEFAULT_HEARTBEAT_TIMEOUT_S 15u
#define MPS_NO_DEADLINE UINT64_MAX
/* The most stream points a client keeps and announces (C20's bound). A point is at most ~470
 * bytes (a 30-byte bizType, a 400-byte target, two 10-byte varints), so a Hello carrying all of
 * them stays under half of MPS_MAX_FRAME: a server that plants streams cannot make it unsendable. */
#define MPS_MAX_HELLO_STREAMS 1024u

/* Event handlers, called from inside mps_session_recv(); the pointed-to message lives until the
 * handler returns. A handler returning a negative code fails the session with that code. Handlers
 * may call the session's send functions. Unused handlers may be NULL. */
typedef struct mps_session_callbacks {
  int (*on_welcome)(void *ud, const mps_welcome *w);          /* client */
  int (*on_batch)(void *ud, const mps_batch *b);              /* client */
  int (*on_hello)(void *ud, const mps_hello *h);              /* server */
  int (*on_ack)(void *ud, const mps_ack *a);                  /* server */
  int (*on_pull_global)(void *ud, const mps_pull_global *p);  /* server */
  /* The peer sent Close. */
  void (*on_close)(void *ud, int code, const char *reason, uint32_t retry_after_s);
  /* client: the outstanding ping was answered. */
  void (*on_pong)(void *ud);
} mps_session_callbacks;

typedef struct mps_session mps_session;

mps_session *mps_session_new(mps_role role, const mps_session_callbacks *cb, void *ud);
void mps_session_free(mps_session *s);

/* Feeds received bytes. Returns n, or a negative error after which the session is dead: the
 * transport sends what mps_session_pending() still holds (a Close naming the reason) and closes. */
long mps_session_recv(mps_session *s, const uint8_t *p, size_t n, uint64_t now_ms);

/* Bytes to write; *data stays valid until the next call on s. Report written bytes with consume. */
size_t mps_session_pending(mps_session *s, const uint8_t **data);
void mps_session_consume(mps_session *s, size_t n);

/* True once a Close was sent or received or the session failed: no more frames will be accepted. */
int mps_session_closed(const mps_session *s);
/* True when the handshake completed (client: Welcome received; server: Hello accepted). */
int mps_session_ready(const mps_session *s);
/* Why the session failed, for logs ("" while it has not). */
const char *mps_session_reason(const mps_session *s);

/* Client side. */
int mps_session_hello(mps_session *s, const mps_hello *h, uint64_t now_ms);
int mps_session_ack(mps_session *s, mps_stream_point **points, size_t n);
int mps_session_pull_global(mps_session *s, mps_stream_point **points, size_t n);

/* Server side. */
int mps_session_welcome(mps_session *s, const mps_welcome *w, uint64_t now_ms);
int mps_session_batch(mps_session *s, const mps_batch *b);

/* Both: queue a Close; the session accepts nothing afterwards. */
int mps_session_close(mps_session *s, int code, const char *reason, uint32_t retry_after_s);

/* Heartbeat and handshake timers. deadline: the absolute time at which tick must next run.
 * tick queues pings (client) and returns MPSYNC_ETIMEDOUT when the peer is silent too long. */
uint64_t mps_session_deadline(const mps_session *s);
int mps_session_tick(mps_session *s, uint64_t now_ms);

/* Client: ping every interval_s from now on (smart heartbeat); the next ping is due interval_s
 * after the last one. */
void mps_session_set_heartbeat(mps_session *s, uint32_t interval_s);

/* The heartbeat interval in force (from the Welcome, set_heartbeat, or the default). */
uint32_t mps_session_heartbeat_s(const mps_session *s);

#endif
