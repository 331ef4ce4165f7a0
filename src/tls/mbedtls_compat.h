/* The few mbedTLS calls whose form differs between 2.28 (Debian 12) and 3.6 LTS, in one place. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MPSYNC_MBEDTLS_COMPAT_H
#define MPSYNC_MBEDTLS_COMPAT_H

#include <mbedtls/version.h>

#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <mbedtls/ssl.h>

#if MBEDTLS_VERSION_NUMBER >= 0x03000000
#include <psa/crypto.h>

/* 3.x dropped the _ret suffix once the void forms were gone. */
#define mps_sha256(in, n, out) mbedtls_sha256((in), (n), (out), 0)
/* 3.x blinds private-key operations, so parsing and the pair check take the RNG. */
#define mps_pk_parse_keyfile(pk, path, rng, rng_ctx) \
  mbedtls_pk_parse_keyfile((pk), (path), NULL, (rng), (rng_ctx))
#define mps_pk_check_pair(pub, prv, rng, rng_ctx) mbedtls_pk_check_pair((pub), (prv), (rng), (rng_ctx))
#define mps_ssl_conf_min_tls12(conf) mbedtls_ssl_conf_min_tls_version((conf), MBEDTLS_SSL_VERSION_TLS1_2)
/* TLS 1.3 (on by default in 3.6) and the PSA-backed ciphers need PSA initialised first; it
 * may be called again, and from each config. 0 or a PSA error. */
static inline int mps_crypto_init(void) { return psa_crypto_init() == PSA_SUCCESS ? 0 : -1; }
#else
#define mps_sha256(in, n, out) mbedtls_sha256_ret((in), (n), (out), 0)
#define mps_pk_parse_keyfile(pk, path, rng, rng_ctx) mbedtls_pk_parse_keyfile((pk), (path), NULL)
#define mps_pk_check_pair(pub, prv, rng, rng_ctx) mbedtls_pk_check_pair((pub), (prv))
#define mps_ssl_conf_min_tls12(conf) \
  mbedtls_ssl_conf_min_version((conf), MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3)
static inline int mps_crypto_init(void) { return 0; }
#endif

/* TLS 1.3 (3.x only) resumes with a ticket sent after the handshake; clients ignore those unless
 * mbedtls_ssl_conf_tls13_enable_signal_new_session_tickets asks for them, which is not done yet:
 * with it on, links hung after the handshake (issue 18, next step). */
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
#define mps_ssl_is_tls13(ssl) (mbedtls_ssl_get_version_number(ssl) == MBEDTLS_SSL_VERSION_TLS1_3)
#else
#define mps_ssl_is_tls13(ssl) ((void)(ssl), 0)
#endif

/* 3.6 may report a TLS 1.3 session ticket from mbedtls_ssl_read; it carries no data. */
#ifdef MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET
#define MPS_SSL_IS_TICKET(rc) ((rc) == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
#else
#define MPS_SSL_IS_TICKET(rc) ((void)(rc), 0) /* rc is evaluated: it may be a call */
#endif

#endif
