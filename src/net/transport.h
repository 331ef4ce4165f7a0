/* The one libuv transport of client and mock server: resolve, connect, socket <-> TLS <-> session. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MPSYNC_NET_TRANSPORT_H
#define MPSYNC_NET_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "core/session.h"
#include "tls/tls.h"

/*
 * A link moves bytes between a TCP socket and a sans-I/O session, through TLS when configured
 * (STYLE §2, §3), and times the session (handshake deadline, heartbeat). It owns the session it
 * is given and frees it with itself. Every failure is caught where it happens — a failed
 * resolve, connect, write, TLS record or session frame — and reported once through on_down with
 * its reason; a link closed on purpose sends what the session queued (its Close), then TLS
 * close_notify, then FIN, and lingers a bounded time for the peer's FIN so that the Close is not
 * lost to an RST. Loop thread only.
 */
typedef struct mps_link mps_link;

typedef struct mps_link_callbacks {
  /* Client: connected, TLS handshake done; the session may now speak (send its Hello). */
  void (*on_open)(mps_link *l, void *ud);
  /* The link failed, or the peer or the session closed it. Called at most once, never after
   * mps_link_close(); err is a libuv or MPSYNC_* code (MPSYNC_ETIMEDOUT: handshake deadline or
   * heartbeat silence). The link goes on closing by itself: do not use it after this returns. */
  void (*on_down)(mps_link *l, void *ud, int err, const char *reason);
  /* Every handle is closed; the link and its session are freed when this returns. Optional. */
  void (*on_closed)(mps_link *l, void *ud);
  /* The write queue fell to MPS_LINK_LOW_WATER or below after being above. Optional. */
  void (*on_drain)(mps_link *l, void *ud);
  /* Client over TLS: a resumable session to keep for the next link (mps_tls_take_session), at
   * the handshake's end (TLS 1.2) or with a ticket later (TLS 1.3). The blob is valid for the
   * call only. Optional. */
  void (*on_tls_session)(mps_link *l, void *ud, const uint8_t *blob, size_t len);
} mps_link_callbacks;

#define MPS_LINK_LOW_WATER (64u * 1024u)

typedef struct mps_link_options {
  mps_tls_config *tls;       /* NULL: plain TCP */
  const char *server_name;   /* client over TLS: the name the certificate must carry */
  uint32_t ready_timeout_ms; /* resolve + connect + TLS + session handshake, 0 = none */
  uint32_t linger_ms;        /* after a graceful close's FIN, wait this long for the peer's */
  /* Sent in a Close when the handshake deadline passes (server: "no hello within ..."). */
  const char *ready_timeout_reason;
  /* What the other end is called in reasons ("server closed the connection"); NULL = "peer". */
  const char *peer_name;
  /* Client over TLS: a session saved from an earlier link (mps_tls_save_session) to offer for
   * resumption; not kept after mps_link_connect returns. A blob that does not load is ignored. */
  const uint8_t *tls_session;
  size_t tls_session_len;
} mps_link_options;

/* Client: resolves host (an IP literal is not resolved), connects, starts TLS. Takes session
 * whatever happens. 0 and *out, or MPSYNC_ENOMEM / a libuv error (nothing is called back). */
int mps_link_connect(uv_loop_t *loop, const char *host, uint16_t port, const mps_link_options *o,
                     mps_session *session, const mps_link_callbacks *cb, void *ud, mps_link **out);

/* Server: accepts a connection from listener. Takes session. 0 and *out, or an error. */
int mps_link_accept(uv_stream_t *listener, const mps_link_options *o, mps_session *session,
                    const mps_link_callbacks *cb, void *ud, mps_link **out);

mps_session *mps_link_session(const mps_link *l);
/* Writes what the session queued (call after the session's send functions) and re-arms the
 * timer. A session that is closed now makes the link close gracefully (on_down follows). */
void mps_link_flush(mps_link *l);
/* Closes on purpose: graceful = what the session queued, close_notify, FIN, linger; otherwise
 * what can be written now, then the socket closes. on_down is not called; on_closed is. */
void mps_link_close(mps_link *l, int graceful);
/* Bytes accepted for the socket and not yet written to it. */
size_t mps_link_write_queue(const mps_link *l);
/* Stops (1) or resumes (0) reading, for a producer that waits for the peer to catch up. */
void mps_link_pause_reading(mps_link *l, int paused);
/* The link's TLS connection (NULL for plain TCP). */
mps_tls *mps_link_tls(const mps_link *l);
/* The peer's address as text ("" when unknown). */
const char *mps_link_peer(const mps_link *l);

#endif
