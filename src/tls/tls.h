/* TLS as a memory pipe over mbedTLS: ciphertext in and out as bytes, no sockets (STYLE §2). */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MPSYNC_TLS_H
#define MPSYNC_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "mpsync/mpsync.h"

/* Shared, read-only after creation: CA chain or own certificate, RNG, policy. */
typedef struct mps_tls_config mps_tls_config;
/* One TLS connection. */
typedef struct mps_tls mps_tls;

/* Where systems keep their CA certificates, NULL-terminated: single-file bundles first (one parse,
 * no duplicates), then directories of PEM files. See src/tls/tls.c for which system has which. */
extern const char *const mps_tls_system_ca_files[];
extern const char *const mps_tls_system_ca_dirs[];

/* The first of files that is a readable non-empty regular file, else the first of dirs that is a
 * directory; NULL when there is none. The lists are NULL-terminated; either may be NULL. */
const char *mps_tls_find_ca(const char *const *files, const char *const *dirs);

/* Most pins one client takes: the current key's and backups'. */
#define MPS_TLS_MAX_PINS 8
/* Longest chain handed to a verification hook; a longer one is refused. */
#define MPS_TLS_MAX_HOOK_CHAIN 16

/* What a client trusts. ca_file: a PEM file, or a directory (its c_rehash-named files when it has
 * any, else all of it); NULL = the system store found by mps_tls_find_ca over the lists above
 * (none at all in hook-decides mode). pins: comma-separated base64 SHA-256 digests of the
 * server's SubjectPublicKeyInfo, any one of which must match; NULL or "" = no pinning.
 * verify_fn: the app's hook (mpsync.h explains how hook_decides combines it with the chain). */
typedef struct mps_tls_trust {
  const char *ca_file;
  const char *pins;
  mpsync_verify_fn verify_fn;
  void *verify_user_data;
  int hook_decides;
} mps_tls_trust;

/* Client policy: TLS 1.2+, the chain and host name checked against trust->ca_file, then the pins,
 * then the hook. */
int mps_tls_client_config(const mps_tls_trust *trust, mps_tls_config **out, char *err,
                          size_t errlen);
/* Server: own certificate chain and key (PEM files). */
int mps_tls_server_config(const char *cert_file, const char *key_file, mps_tls_config **out,
                          char *err, size_t errlen);
void mps_tls_config_free(mps_tls_config *cfg);

/* server_name: checked against the certificate and passed to the hook (client side only; NULL
 * on the server). Copied. */
int mps_tls_new(mps_tls_config *cfg, const char *server_name, mps_tls **out);
void mps_tls_free(mps_tls *t);

/* Ciphertext received from the socket. */
int mps_tls_feed(mps_tls *t, const uint8_t *p, size_t n);
/* Drives the handshake: 0 when done, 1 while it needs more bytes, negative on failure (reason
 * in mps_tls_reason). */
int mps_tls_handshake(mps_tls *t);
int mps_tls_handshake_done(const mps_tls *t);
/* Decrypted bytes: >0 count, 0 when nothing is ready, negative on failure or close_notify
 * (MPSYNC_ECLOSED). */
long mps_tls_read(mps_tls *t, uint8_t *buf, size_t cap);
/* Encrypts all of p. 0 or negative. */
int mps_tls_write(mps_tls *t, const uint8_t *p, size_t n);
/* Ciphertext to send; valid until the next call on t. */
size_t mps_tls_pending(mps_tls *t, const uint8_t **data);
void mps_tls_consume(mps_tls *t, size_t n);
/* Queues close_notify. */
void mps_tls_close(mps_tls *t);
const char *mps_tls_reason(const mps_tls *t);

/* base64 SHA-256 of a PEM/DER certificate file's SubjectPublicKeyInfo, for pins. */
int mps_tls_spki_pin_of_file(const char *cert_file, char *out, size_t len);

/* Session resumption (issue 18): the abbreviated TLS 1.2 handshake saves a round trip.
 *
 * Server: issue session tickets (RFC 5077) under keys made here, rotated every lifetime_s; a
 * ticket older than lifetime_s is refused (a full handshake follows). 0, MPSYNC_EINVAL, or
 * MPSYNC_ETLS with err set. */
int mps_tls_server_tickets(mps_tls_config *cfg, uint32_t lifetime_s, char *err, size_t errlen);
/* Client, before the handshake: offer the session of an earlier connection, a blob from
 * mps_tls_save_session (the server may still choose a full handshake). 0, or MPSYNC_EINVAL
 * when the blob is not a session this build can load: then nothing is offered. */
int mps_tls_offer_session(mps_tls *t, const uint8_t *blob, size_t len);
/* Client: 1 and the newest resumable session as a blob to offer next time (from
 * mps_tls_handshake under TLS 1.2, from the ticket mps_tls_read processes under TLS 1.3), once;
 * 0 when none came since the last call. The blob is the caller's and holds the session's master
 * secret: keep it as secret as the cache, free it with mps_tls_free_session. */
int mps_tls_take_session(mps_tls *t, uint8_t **blob, size_t *len);
/* Wipes and frees a session blob; NULL is a no-op. */
void mps_tls_free_session(uint8_t *blob, size_t len);
/* Client, handshake done: 1 when an offered session was resumed (the server sent no
 * certificate; the pins and the hook judged the handshake that made the session). */
int mps_tls_resumed(const mps_tls *t);
/* The hex SHA-256 naming whom a saved session may be offered to: the address, the name and the
 * trust settings. A session made under other trust settings is never offered. 0, or
 * MPSYNC_ENOMEM with out "" (then no session may be kept or offered). */
int mps_tls_peer_id(const mps_tls_trust *trust, const char *host, unsigned port,
                    const char *server_name, char out[65]);

#endif
