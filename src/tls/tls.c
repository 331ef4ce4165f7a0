/* mbedTLS over in-memory buffers: certificate verification, host name, TLS 1.2+, SPKI pinning. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "tls/tls.h"

#include <ctype.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/base64.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/x509_crt.h>

#include "core/wire.h"
#include "mpsync/mpsync_errors.h"
#include "tls/mbedtls_compat.h"
#include "util/util.h"

struct mps_tls_config {
  int is_server;
  mbedtls_ssl_config ssl;
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_x509_crt chain; /* CA chain (client) or own chain (server) */
  mbedtls_pk_context key;
  size_t npins;
  unsigned char pins[MPS_TLS_MAX_PINS][32];
  mpsync_verify_fn verify_fn;
  void *verify_user_data;
  int hook_decides;
  int tickets; /* server: ticket set up, to be freed */
  mbedtls_ssl_ticket_context ticket;
};

struct mps_tls {
  mps_tls_config *cfg;
  mbedtls_ssl_context ssl;
  mps_buf in, out;
  int done;
  char *server_name;
  uint32_t chain_flags; /* mbedTLS's verdict on every certificate of the chain, merged */
  int saw_certificate;  /* client: the server sent its chain, so no session was resumed */
  uint8_t *session;     /* client: the newest resumable session, until taken */
  size_t session_len;
  char reason[160];
};

static void describe(int rc, const char *what, char *err, size_t errlen) {
  char buf[100];
  mbedtls_strerror(rc, buf, sizeof buf);
  snprintf(err, errlen, "%s: %s", what, buf);
}

/* Once per process once it has worked, whichever thread makes the first config. A failure (out
 * of memory) is not kept: under pthread_once it was, and one failed allocation left every later
 * client of the process without TLS (test_tls_config_works_again_after_out_of_memory). */
static pthread_mutex_t crypto_lock = PTHREAD_MUTEX_INITIALIZER;
static int crypto_ready;

static int config_common(mps_tls_config *c, int endpoint, char *err, size_t errlen) {
  pthread_mutex_lock(&crypto_lock);
  if (!crypto_ready) crypto_ready = mps_crypto_init() == 0;
  int ready = crypto_ready;
  pthread_mutex_unlock(&crypto_lock);
  if (!ready) {
    snprintf(err, errlen, "TLS setup: the crypto library did not initialise");
    return MPSYNC_ETLS;
  }
  mbedtls_ssl_config_init(&c->ssl);
  mbedtls_entropy_init(&c->entropy);
  mbedtls_ctr_drbg_init(&c->drbg);
  mbedtls_x509_crt_init(&c->chain);
  mbedtls_pk_init(&c->key);
  int rc = mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->entropy,
                                 (const unsigned char *)"mpsync", 6);
  if (!rc)
    rc = mbedtls_ssl_config_defaults(&c->ssl, endpoint, MBEDTLS_SSL_TRANSPORT_STREAM,
                                     MBEDTLS_SSL_PRESET_DEFAULT);
  if (rc) {
    describe(rc, "TLS setup", err, errlen);
    return MPSYNC_ETLS;
  }
  mbedtls_ssl_conf_rng(&c->ssl, mbedtls_ctr_drbg_random, &c->drbg);
  /* TLS 1.2 or newer only (C15): older versions have known-broken constructions. */
  mps_ssl_conf_min_tls12(&c->ssl);
  return 0;
}

/* The comma-separated list of pins, each the base64 of a SHA-256 digest. */
static int decode_pins(mps_tls_config *c, const char *list, char *err, size_t errlen) {
  const char *p = list;
  while (*p == ' ') p++;
  if (!*p) return 0; /* only spaces: no pinning, as "" */
  for (;;) {
    const char *end = strchr(p, ',');
    if (!end) end = p + strlen(p);
    const char *last = end;
    while (last > p && last[-1] == ' ') last--;
    size_t n = 0;
    if (c->npins == MPS_TLS_MAX_PINS) {
      snprintf(err, errlen, "more than %d pins", MPS_TLS_MAX_PINS);
      return MPSYNC_ECONFIG;
    }
    if (last == p ||
        mbedtls_base64_decode(c->pins[c->npins], sizeof c->pins[0], &n, (const unsigned char *)p,
                              (size_t)(last - p)) ||
        n != sizeof c->pins[0]) {
      snprintf(err, errlen, "pin %zu is not the base64 of a SHA-256 digest", c->npins + 1);
      return MPSYNC_ECONFIG;
    }
    c->npins++;
    if (!*end) return 0;
    for (p = end + 1; *p == ' '; p++) {
    }
  }
}

/* Bundles: macOS (the keychain's roots, exported by the OS), Alpine and the BSDs share
 * /etc/ssl/cert.pem; Fedora/RHEL's TLS-only extract, then its older name; openSUSE. */
const char *const mps_tls_system_ca_files[] = {
    "/etc/ssl/cert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    NULL};
/* Directories: Debian/Ubuntu (update-ca-certificates keeps it in step with local additions and
 * removals), openSUSE, Fedora/RHEL; Android 14+ (updatable by the Conscrypt module), then older
 * Android. */
const char *const mps_tls_system_ca_dirs[] = {
    "/etc/ssl/certs",
    "/etc/pki/tls/certs",
    "/apex/com.android.conscrypt/cacerts",
    "/system/etc/security/cacerts",
    NULL};

const char *mps_tls_find_ca(const char *const *files, const char *const *dirs) {
  struct stat sb;
  for (const char *const *f = files; f && *f; f++)
    if (stat(*f, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0 && access(*f, R_OK) == 0)
      return *f;
  for (const char *const *d = dirs; d && *d; d++)
    if (stat(*d, &sb) == 0 && S_ISDIR(sb.st_mode)) return *d;
  return NULL;
}

/* OpenSSL's c_rehash names (8 hex digits of the subject hash, '.', a digit), which Android uses
 * too: each certificate once, where a whole Debian /etc/ssl/certs holds each three times (the
 * bundle, the *.pem link, the hash link) and took five times as long to load. */
static int is_hash_name(const char *s) {
  for (int i = 0; i < 8; i++)
    if (!isxdigit((unsigned char)s[i])) return 0;
  if (s[8] != '.' || !isdigit((unsigned char)s[9])) return 0;
  for (s += 10; *s; s++)
    if (!isdigit((unsigned char)*s)) return 0;
  return 1;
}

/* The hash-named files of dir when it has any, else every regular file in it; a file that is
 * not a certificate is skipped. Negative when the directory cannot be read. The directory is
 * read here, not by mbedtls_x509_crt_parse_path: a 32-bit mbedTLS built without large-file
 * support gets EOVERFLOW from readdir on ext4's 64-bit cookies (seen under qemu-arm). */
static int load_ca_dir(mbedtls_x509_crt *chain, const char *dir) {
  for (int hashed_only = 1; hashed_only >= 0; hashed_only--) {
    DIR *d = opendir(dir);
    if (!d) return MBEDTLS_ERR_X509_FILE_IO_ERROR;
    int seen = 0;
    struct dirent *e;
    char path[1024];
    struct stat sb;
    while ((e = readdir(d)) != NULL) {
      if (hashed_only && !is_hash_name(e->d_name)) continue;
      if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path ||
          stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
        continue;
      seen++;
      (void)mbedtls_x509_crt_parse_file(chain, path); /* one bad file does not spoil the rest */
    }
    closedir(d);
    if (seen) break;
  }
  return 0;
}

int mps_tls_client_config(const mps_tls_trust *trust, mps_tls_config **out, char *err,
                          size_t errlen) {
  *out = NULL;
  if (trust->hook_decides && !trust->verify_fn) {
    snprintf(err, errlen, "trust mode \"hook decides\" without a verification hook");
    return MPSYNC_ECONFIG;
  }
  mps_tls_config *c = calloc(1, sizeof *c);
  if (!c) return MPSYNC_ENOMEM;
  c->verify_fn = trust->verify_fn;
  c->verify_user_data = trust->verify_user_data;
  c->hook_decides = trust->hook_decides;
  int rc = config_common(c, MBEDTLS_SSL_IS_CLIENT, err, errlen);
  if (!rc && trust->pins) rc = decode_pins(c, trust->pins, err, errlen);
  const char *ca_file = trust->ca_file;
  /* When the hook decides, the platform's verifier is the truth: loading a store of our own
   * would only cost time (a whole Android cacerts directory) for a verdict nobody follows. */
  const char *path = ca_file && *ca_file ? ca_file
                     : c->hook_decides
                         ? NULL
                         : mps_tls_find_ca(mps_tls_system_ca_files, mps_tls_system_ca_dirs);
  if (!rc && !path && !c->hook_decides) {
    snprintf(err, errlen, "no system CA store found: give the CA certificates (ca_file)");
    rc = MPSYNC_ECONFIG;
  }
  if (!rc && path) {
    struct stat sb;
    int r = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)
                ? load_ca_dir(&c->chain, path)
                : mbedtls_x509_crt_parse_file(&c->chain, path);
    /* parse_* return the count of certificates they skipped; fail only when none loaded. */
    if (r < 0 || c->chain.version == 0) {
      if (r < 0)
        describe(r, path, err, errlen);
      else
        snprintf(err, errlen, "%s: no usable CA certificate", path);
      rc = MPSYNC_ECONFIG;
    }
  }
  if (rc) {
    mps_tls_config_free(c);
    return rc;
  }
  /* Required even when the hook decides: mbedTLS then fails the handshake on exactly the flags
   * the verify callback leaves, which are the pins' and the hook's. With no store the chain is
   * empty (not NULL, which mbedTLS refuses as "no CA chain") and trusts nothing by itself. */
  mbedtls_ssl_conf_authmode(&c->ssl, MBEDTLS_SSL_VERIFY_REQUIRED);
  mbedtls_ssl_conf_ca_chain(&c->ssl, &c->chain, NULL);
  *out = c;
  return 0;
}

int mps_tls_server_config(const char *cert_file, const char *key_file, mps_tls_config **out,
                          char *err, size_t errlen) {
  *out = NULL;
  mps_tls_config *c = calloc(1, sizeof *c);
  if (!c) return MPSYNC_ENOMEM;
  c->is_server = 1;
  int rc = config_common(c, MBEDTLS_SSL_IS_SERVER, err, errlen);
  int r;
  if (!rc && (r = mbedtls_x509_crt_parse_file(&c->chain, cert_file)) != 0) {
    describe(r, cert_file, err, errlen);
    rc = MPSYNC_ECONFIG;
  }
  if (!rc && (r = mps_pk_parse_keyfile(&c->key, key_file, mbedtls_ctr_drbg_random, &c->drbg)) != 0) {
    describe(r, key_file, err, errlen);
    rc = MPSYNC_ECONFIG;
  }
  /* mbedTLS would take a key that is not the certificate's and fail every handshake later. */
  if (!rc && mps_pk_check_pair(&c->chain.pk, &c->key, mbedtls_ctr_drbg_random, &c->drbg) != 0) {
    snprintf(err, errlen, "%s is not the private key of %s", key_file, cert_file);
    rc = MPSYNC_ECONFIG;
  }
  if (!rc && (r = mbedtls_ssl_conf_own_cert(&c->ssl, &c->chain, &c->key)) != 0) {
    describe(r, "certificate and key", err, errlen);
    rc = MPSYNC_ECONFIG;
  }
  if (rc) {
    mps_tls_config_free(c);
    return rc;
  }
  *out = c;
  return 0;
}

void mps_tls_config_free(mps_tls_config *c) {
  if (!c) return;
  mbedtls_ssl_config_free(&c->ssl);
  mbedtls_ctr_drbg_free(&c->drbg);
  mbedtls_entropy_free(&c->entropy);
  mbedtls_x509_crt_free(&c->chain);
  mbedtls_pk_free(&c->key);
  if (c->tickets) mbedtls_ssl_ticket_free(&c->ticket);
  free(c);
}

static int bio_send(void *ctx, const unsigned char *p, size_t n) {
  mps_tls *t = ctx;
  return mps_buf_append(&t->out, p, n) ? MBEDTLS_ERR_SSL_ALLOC_FAILED : (int)n;
}

static int bio_recv(void *ctx, unsigned char *p, size_t n) {
  mps_tls *t = ctx;
  if (!t->in.len) return MBEDTLS_ERR_SSL_WANT_READ;
  if (n > t->in.len) n = t->in.len;
  memcpy(p, t->in.data, n);
  mps_buf_consume(&t->in, n);
  return (int)n;
}

/* A pin before base64: SHA-256 of the key's SubjectPublicKeyInfo DER. */
static int spki_sha256(mbedtls_pk_context *pk, unsigned char digest[32]) {
  unsigned char der[2048];
  int n = mbedtls_pk_write_pubkey_der(pk, der, sizeof der);
  /* The DER is written at the end of the buffer. */
  return n > 0 && mps_sha256(der + sizeof der - n, (size_t)n, digest) == 0 ? 0 : -1;
}

static int pin_matches(const mps_tls_config *c, mbedtls_x509_crt *leaf) {
  unsigned char digest[32];
  if (spki_sha256(&leaf->pk, digest) != 0) return 0;
  for (size_t i = 0; i < c->npins; i++)
    if (memcmp(digest, c->pins[i], sizeof digest) == 0) return 1;
  return 0;
}

/* The app's hook, given the chain the server sent (leaf first, as DER). */
static int hook_accepts(mps_tls *t, const mbedtls_x509_crt *leaf) {
  const uint8_t *certs[MPS_TLS_MAX_HOOK_CHAIN];
  size_t lens[MPS_TLS_MAX_HOOK_CHAIN], n = 0;
  for (const mbedtls_x509_crt *c = leaf; c && c->raw.len; c = c->next) {
    if (n == MPS_TLS_MAX_HOOK_CHAIN) {
      snprintf(t->reason, sizeof t->reason, "server chain longer than %d certificates",
               MPS_TLS_MAX_HOOK_CHAIN);
      return 0;
    }
    certs[n] = c->raw.p;
    lens[n++] = c->raw.len;
  }
  mpsync_trust_verdict v = t->cfg->verify_fn(t->cfg->verify_user_data, t->server_name, certs,
                                             lens, n, t->chain_flags == 0);
  if (v != MPSYNC_TRUST_ACCEPT)
    snprintf(t->reason, sizeof t->reason, "the app's certificate check refused the server");
  return v == MPSYNC_TRUST_ACCEPT;
}

/* Pins and the hook are applied while the chain is verified, so a refusal ends the handshake
 * before the client sends its Finished: under TLS 1.3 a check after the handshake came after
 * the client had already sent records of application-data type. mbedTLS calls this root first,
 * leaf (depth 0) last, so the chain's own verdict is complete by the leaf. When the hook decides,
 * that verdict is only reported to it: the flags are cleared and the leaf carries the result. */
static int verify_cert(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags) {
  mps_tls *t = ctx;
  const mps_tls_config *c = t->cfg;
  t->saw_certificate = 1;
  t->chain_flags |= *flags;
  if (c->hook_decides) *flags = 0;
  if (depth != 0 || (!c->hook_decides && t->chain_flags)) return 0;
  if (c->npins && !pin_matches(c, crt)) {
    snprintf(t->reason, sizeof t->reason, "server public key does not match the pins");
    *flags |= MBEDTLS_X509_BADCERT_NOT_TRUSTED;
  } else if (c->verify_fn && !hook_accepts(t, crt)) {
    *flags |= MBEDTLS_X509_BADCERT_NOT_TRUSTED;
  }
  return 0;
}

int mps_tls_new(mps_tls_config *cfg, const char *server_name, mps_tls **out) {
  *out = NULL;
  mps_tls *t = calloc(1, sizeof *t);
  if (!t) return MPSYNC_ENOMEM;
  t->cfg = cfg;
  mbedtls_ssl_init(&t->ssl);
  if ((server_name && !(t->server_name = mps_strdup(server_name))) ||
      mbedtls_ssl_setup(&t->ssl, &cfg->ssl) != 0 ||
      (!cfg->is_server && mbedtls_ssl_set_hostname(&t->ssl, server_name) != 0)) {
    mps_tls_free(t);
    return MPSYNC_ETLS;
  }
  mbedtls_ssl_set_bio(&t->ssl, t, bio_send, bio_recv, NULL);
  /* Always on the client, pins or not: its call is how a full handshake is told from a resumed
   * one (mps_tls_resumed). */
  if (!cfg->is_server) mbedtls_ssl_set_verify(&t->ssl, verify_cert, t);
  *out = t;
  return 0;
}

void mps_tls_free(mps_tls *t) {
  if (!t) return;
  mbedtls_ssl_free(&t->ssl);
  mps_tls_free_session(t->session, t->session_len);
  free(t->server_name);
  mps_buf_free(&t->in);
  mps_buf_free(&t->out);
  free(t);
}

int mps_tls_feed(mps_tls *t, const uint8_t *p, size_t n) { return mps_buf_append(&t->in, p, n); }

static int fail(mps_tls *t, int rc, const char *what) {
  char buf[100];
  mbedtls_strerror(rc, buf, sizeof buf);
  if (!t->reason[0]) snprintf(t->reason, sizeof t->reason, "%s: %s", what, buf);
  return MPSYNC_ETLS;
}

static void keep_session(mps_tls *t);

int mps_tls_handshake(mps_tls *t) {
  if (t->done) return 0;
  int rc;
  /* A TLS 1.3 ticket may be reported here too; it must be taken before the next call. */
  while (MPS_SSL_IS_TICKET(rc = mbedtls_ssl_handshake(&t->ssl))) keep_session(t);
  if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) return 1;
  if (rc != 0) {
    uint32_t flags = mbedtls_ssl_get_verify_result(&t->ssl);
    if (!t->cfg->is_server && flags != 0 && flags != (uint32_t)-1) {
      if (t->reason[0]) return MPSYNC_ETLS; /* the pins' or the hook's verdict */
      char info[120];
      mbedtls_x509_crt_verify_info(info, sizeof info, "", flags);
      info[strcspn(info, "\n")] = '\0';
      snprintf(t->reason, sizeof t->reason, "certificate rejected: %s", info);
      return MPSYNC_ETLS;
    }
    return fail(t, rc, "TLS handshake");
  }
  t->done = 1;
  /* TLS 1.2's session is resumable now; TLS 1.3's only with the ticket that follows. */
  if (!t->cfg->is_server && !mps_ssl_is_tls13(&t->ssl)) keep_session(t);
  return 0;
}

int mps_tls_handshake_done(const mps_tls *t) { return t->done; }

long mps_tls_read(mps_tls *t, uint8_t *buf, size_t cap) {
  int rc;
  while (MPS_SSL_IS_TICKET(rc = mbedtls_ssl_read(&t->ssl, buf, cap))) keep_session(t);
  if (rc > 0) return rc;
  if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) return 0;
  if (rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
    snprintf(t->reason, sizeof t->reason, "peer closed TLS");
    return MPSYNC_ECLOSED;
  }
  return fail(t, rc, "TLS read");
}

int mps_tls_write(mps_tls *t, const uint8_t *p, size_t n) {
  while (n) {
    /* The memory BIO never blocks, so WANT_WRITE cannot happen; a short write just loops. */
    int rc = mbedtls_ssl_write(&t->ssl, p, n);
    if (rc < 0) return fail(t, rc, "TLS write");
    p += rc;
    n -= (size_t)rc;
  }
  return 0;
}

size_t mps_tls_pending(mps_tls *t, const uint8_t **data) {
  *data = t->out.data;
  return t->out.len;
}

void mps_tls_consume(mps_tls *t, size_t n) { mps_buf_consume(&t->out, n); }

void mps_tls_close(mps_tls *t) { mbedtls_ssl_close_notify(&t->ssl); }

const char *mps_tls_reason(const mps_tls *t) { return t->reason; }

int mps_tls_spki_pin_of_file(const char *cert_file, char *out, size_t len) {
  mbedtls_x509_crt crt;
  mbedtls_x509_crt_init(&crt);
  unsigned char digest[32];
  int rc = MPSYNC_ECONFIG;
  if (mbedtls_x509_crt_parse_file(&crt, cert_file) == 0) {
    size_t olen = 0;
    if (spki_sha256(&crt.pk, digest) == 0 &&
        mbedtls_base64_encode((unsigned char *)out, len, &olen, digest, sizeof digest) == 0)
      rc = 0;
  }
  mbedtls_x509_crt_free(&crt);
  return rc;
}

/* ---------------------------------------------------------------- session resumption */

int mps_tls_server_tickets(mps_tls_config *c, uint32_t lifetime_s, char *err, size_t errlen) {
  if (!c->is_server || c->tickets || !lifetime_s) {
    snprintf(err, errlen, "session tickets: server configuration and a lifetime needed");
    return MPSYNC_EINVAL;
  }
  mbedtls_ssl_ticket_init(&c->ticket);
  c->tickets = 1;
  /* mbedTLS keeps two keys and makes a new one every lifetime_s: a ticket is refused once
   * older than that, and no key protects tickets for longer than twice that (forward secrecy). */
  int rc = mbedtls_ssl_ticket_setup(&c->ticket, mbedtls_ctr_drbg_random, &c->drbg,
                                    MBEDTLS_CIPHER_AES_256_GCM, lifetime_s);
  if (rc) {
    describe(rc, "session tickets", err, errlen);
    return MPSYNC_ETLS;
  }
  mbedtls_ssl_conf_session_tickets_cb(&c->ssl, mbedtls_ssl_ticket_write, mbedtls_ssl_ticket_parse,
                                      &c->ticket);
  return 0;
}

int mps_tls_offer_session(mps_tls *t, const uint8_t *blob, size_t len) {
  if (t->cfg->is_server || t->done) return MPSYNC_EINVAL;
  mbedtls_ssl_session s;
  mbedtls_ssl_session_init(&s);
  int rc = mbedtls_ssl_session_load(&s, blob, len) == 0 && mbedtls_ssl_set_session(&t->ssl, &s) == 0
               ? 0
               : MPSYNC_EINVAL;
  mbedtls_ssl_session_free(&s);
  return rc;
}

/* Replaces the kept session with the current one; a session that cannot be saved is skipped:
 * the next link then makes a full handshake. */
static void keep_session(mps_tls *t) {
  mbedtls_ssl_session s;
  mbedtls_ssl_session_init(&s);
  size_t n = 0;
  uint8_t *blob = NULL;
  if (mbedtls_ssl_get_session(&t->ssl, &s) == 0 &&
      mbedtls_ssl_session_save(&s, NULL, 0, &n) == MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL && n &&
      (blob = malloc(n)) != NULL && mbedtls_ssl_session_save(&s, blob, n, &n) == 0) {
    mps_tls_free_session(t->session, t->session_len);
    t->session = blob;
    t->session_len = n;
  } else {
    free(blob);
  }
  mbedtls_ssl_session_free(&s);
}

int mps_tls_take_session(mps_tls *t, uint8_t **blob, size_t *len) {
  *blob = t->session;
  *len = t->session_len;
  t->session = NULL;
  t->session_len = 0;
  return *blob != NULL;
}

void mps_tls_free_session(uint8_t *blob, size_t len) {
  if (!blob) return;
  mbedtls_platform_zeroize(blob, len);
  free(blob);
}

int mps_tls_resumed(const mps_tls *t) { return t->done && !t->cfg->is_server && !t->saw_certificate; }

int mps_tls_peer_id(const mps_tls_trust *trust, const char *host, unsigned port,
                    const char *server_name, char out[65]) {
  /* Fields joined with a byte no path, name or pin holds; a change to any one is a new peer.
   * (Not open_memstream: older Android lacks it.) */
  const char *f[] = {host ? host : "", server_name ? server_name : "",
                     trust->ca_file ? trust->ca_file : "", trust->pins ? trust->pins : ""};
  size_t cap = 64;
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) cap += strlen(f[i]) + 1;
  char *text = malloc(cap);
  unsigned char digest[32];
  int rc = MPSYNC_ENOMEM;
  out[0] = '\0';
  if (text) {
    int n = snprintf(text, cap, "%s%c%u%c%s%c%s%c%s%c%d%c%d", f[0], 1, port, 1, f[1], 1, f[2], 1,
                     f[3], 1, trust->verify_fn != NULL, 1, trust->hook_decides);
    if (n > 0 && (size_t)n < cap && mps_sha256((const unsigned char *)text, (size_t)n, digest) == 0)
      rc = 0;
    free(text);
  }
  for (size_t i = 0; !rc && i < sizeof digest; i++) snprintf(out + 2 * i, 3, "%02x", digest[i]);
  return rc;
}
