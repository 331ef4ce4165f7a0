/* Unit tests of the TLS memory pipe: a client and a server mbedTLS wired through buffers. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>

#include "check.h"
#include "mpsync/mpsync_errors.h"
#include "tls/tls.h"

static const char *pki;

static const char *join(const char *dir, const char *name) {
  static char buf[8][512];
  static int i;
  char *p = buf[i++ % 8];
  snprintf(p, 512, "%s/%s", dir, name);
  return p;
}

static const char *path(const char *name) { return join(pki, name); }

static void move(mps_tls *from, mps_tls *to) {
  const uint8_t *d;
  size_t n = mps_tls_pending(from, &d);
  if (n) {
    CHECK_EQ(mps_tls_feed(to, d, n), 0);
    mps_tls_consume(from, n);
  }
}

/* The key of a test server certificate: backup.pem is the rotated-to key's, the rest share one. */
static const char *key_of(const char *cert) {
  return strstr(cert, "backup.pem") ? path("backup.key") : path("server.key");
}

/* Runs both handshakes to the end; returns the client's result. */
static int handshake_trust(const mps_tls_trust *trust, const char *cert, const char *name,
                           char *reason, size_t len) {
  char err[256];
  mps_tls_config *ccfg, *scfg;
  CHECK_EQ(mps_tls_client_config(trust, &ccfg, err, sizeof err), 0);
  CHECK_EQ(mps_tls_server_config(cert, key_of(cert), &scfg, err, sizeof err), 0);
  mps_tls *c, *s;
  CHECK_EQ(mps_tls_new(ccfg, name, &c), 0);
  CHECK_EQ(mps_tls_new(scfg, NULL, &s), 0);
  int crc = 1, src = 1;
  for (int round = 0; round < 20 && (crc > 0 || src > 0); round++) {
    if (crc > 0) crc = mps_tls_handshake(c);
    move(c, s);
    if (src > 0) src = mps_tls_handshake(s);
    move(s, c);
    if (crc < 0) break;
  }
  snprintf(reason, len, "%s", mps_tls_reason(c));
  if (crc == 0) {
    /* Data both ways once up. */
    CHECK_EQ(mps_tls_write(c, (const uint8_t *)"ping", 4), 0);
    move(c, s);
    uint8_t buf[16];
    CHECK_EQ(mps_tls_read(s, buf, sizeof buf), 4);
    CHECK(memcmp(buf, "ping", 4) == 0);
    CHECK_EQ(mps_tls_write(s, (const uint8_t *)"pong!", 5), 0);
    move(s, c);
    CHECK_EQ(mps_tls_read(c, buf, sizeof buf), 5);
    CHECK_EQ(mps_tls_read(c, buf, sizeof buf), 0);
    mps_tls_close(s);
    move(s, c);
    CHECK_EQ(mps_tls_read(c, buf, sizeof buf), MPSYNC_ECLOSED);
  }
  mps_tls_free(c);
  mps_tls_free(s);
  mps_tls_config_free(ccfg);
  mps_tls_config_free(scfg);
  return crc;
}

static int handshake(const char *ca, const char *pin, const char *cert, const char *name,
                     char *reason, size_t len) {
  mps_tls_trust trust = {.ca_file = ca, .pins = pin};
  return handshake_trust(&trust, cert, name, reason, len);
}

static void test_valid_chain(void) {
  char why[160];
  CHECK_EQ(handshake(path("ca.pem"), NULL, path("server.pem"), "localhost", why, sizeof why), 0);
}

static void test_wrong_ca(void) {
  char why[160];
  CHECK_EQ(handshake(path("other_ca.pem"), NULL, path("server.pem"), "localhost", why, sizeof why),
           MPSYNC_ETLS);
  CHECK(strstr(why, "certificate rejected") != NULL);
}

static void test_wrong_host_name(void) {
  char why[160];
  CHECK_EQ(handshake(path("ca.pem"), NULL, path("wronghost.pem"), "localhost", why, sizeof why),
           MPSYNC_ETLS);
  CHECK(strstr(why, "CN") != NULL || strstr(why, "name") != NULL);
}

static void test_expired(void) {
  char why[160];
  CHECK_EQ(handshake(path("ca.pem"), NULL, path("expired.pem"), "localhost", why, sizeof why),
           MPSYNC_ETLS);
  CHECK(strstr(why, "expired") != NULL);
}

static void test_pin(void) {
  char pin[64], why[160];
  CHECK_EQ(mps_tls_spki_pin_of_file(path("server.pem"), pin, sizeof pin), 0);
  CHECK_EQ(handshake(path("ca.pem"), pin, path("server.pem"), "localhost", why, sizeof why), 0);
  char other[64];
  CHECK_EQ(mps_tls_spki_pin_of_file(path("ca.pem"), other, sizeof other), 0);
  CHECK(strcmp(pin, other) != 0);
  CHECK_EQ(handshake(path("ca.pem"), other, path("server.pem"), "localhost", why, sizeof why),
           MPSYNC_ETLS);
  CHECK(strstr(why, "pin") != NULL);
}

/* Current + backup pins: the server may rotate to the backup key without locking clients out;
 * a key matching none of them is refused, whichever of the list it is compared with. */
static void test_backup_pin(void) {
  char cur[64], backup[64], ca_pin[64], other_pin[64], list[300], why[160];
  CHECK_EQ(mps_tls_spki_pin_of_file(path("server.pem"), cur, sizeof cur), 0);
  CHECK_EQ(mps_tls_spki_pin_of_file(path("backup.pem"), backup, sizeof backup), 0);
  CHECK_EQ(mps_tls_spki_pin_of_file(path("ca.pem"), ca_pin, sizeof ca_pin), 0);
  CHECK_EQ(mps_tls_spki_pin_of_file(path("other_ca.pem"), other_pin, sizeof other_pin), 0);
  CHECK(strcmp(cur, backup) != 0);
  snprintf(list, sizeof list, "%s, %s", cur, backup);
  CHECK_EQ(handshake(path("ca.pem"), list, path("server.pem"), "localhost", why, sizeof why), 0);
  /* The server switched to the backup key's certificate. */
  CHECK_EQ(handshake(path("ca.pem"), list, path("backup.pem"), "localhost", why, sizeof why), 0);
  CHECK_EQ(handshake(path("ca.pem"), cur, path("backup.pem"), "localhost", why, sizeof why),
           MPSYNC_ETLS);
  CHECK(strstr(why, "pins") != NULL);
  /* The matching key last in the list still counts. */
  snprintf(list, sizeof list, "%s,%s,%s", ca_pin, other_pin, backup);
  CHECK_EQ(handshake(path("ca.pem"), list, path("backup.pem"), "localhost", why, sizeof why), 0);
  snprintf(list, sizeof list, "%s,%s", ca_pin, other_pin);
  CHECK_EQ(handshake(path("ca.pem"), list, path("server.pem"), "localhost", why, sizeof why),
           MPSYNC_ETLS);
  CHECK_EQ(handshake(path("ca.pem"), list, path("backup.pem"), "localhost", why, sizeof why),
           MPSYNC_ETLS);
}

/* A pin list is all valid or refused: a typo must not silently leave a key unpinned. */
static void test_pin_list_syntax(void) {
  char cur[64], list[800], err[256];
  CHECK_EQ(mps_tls_spki_pin_of_file(path("server.pem"), cur, sizeof cur), 0);
  mps_tls_config *cfg;
  const char *bad[] = {"%s,", ",%s", "%s,,%s", "%s,not-a-pin", "%s;%s"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    snprintf(list, sizeof list, bad[i], cur, cur);
    mps_tls_trust trust = {.ca_file = path("ca.pem"), .pins = list};
    CHECK_EQ(mps_tls_client_config(&trust, &cfg, err, sizeof err), MPSYNC_ECONFIG);
  }
  /* Eight pins are taken, nine are not. */
  list[0] = '\0';
  for (int i = 0; i < 8; i++)
    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? "," : "", cur);
  mps_tls_trust trust = {.ca_file = path("ca.pem"), .pins = list};
  CHECK_EQ(mps_tls_client_config(&trust, &cfg, err, sizeof err), 0);
  mps_tls_config_free(cfg);
  snprintf(list + strlen(list), sizeof list - strlen(list), ",%s", cur);
  CHECK_EQ(mps_tls_client_config(&trust, &cfg, err, sizeof err), MPSYNC_ECONFIG);
  trust.pins = "  ";
  CHECK_EQ(mps_tls_client_config(&trust, &cfg, err, sizeof err), 0);
  mps_tls_config_free(cfg);
}

/* What a verification hook saw, and what it answers. */
typedef struct hook_log {
  mpsync_trust_verdict answer;
  int calls;
  int chain_verified;
  size_t count;
  char host[64];
  char leaf_subject[128];
  int leaf_is_server_pem; /* certs[0] is byte for byte the DER of the server's certificate */
} hook_log;

static const char *hook_expected_leaf;

static mpsync_trust_verdict record_hook(void *ud, const char *host, const uint8_t *const *certs,
                                        const size_t *cert_lens, size_t count, int chain_verified) {
  hook_log *h = ud;
  h->calls++;
  h->chain_verified = chain_verified;
  h->count = count;
  snprintf(h->host, sizeof h->host, "%s", host);
  mbedtls_x509_crt leaf, want;
  mbedtls_x509_crt_init(&leaf);
  mbedtls_x509_crt_init(&want);
  /* Every certificate handed over parses as DER on its own. */
  for (size_t i = 0; i < count; i++) {
    mbedtls_x509_crt one;
    mbedtls_x509_crt_init(&one);
    CHECK_EQ(mbedtls_x509_crt_parse_der(&one, certs[i], cert_lens[i]), 0);
    mbedtls_x509_crt_free(&one);
  }
  CHECK_EQ(mbedtls_x509_crt_parse_der(&leaf, certs[0], cert_lens[0]), 0);
  CHECK(mbedtls_x509_dn_gets(h->leaf_subject, sizeof h->leaf_subject, &leaf.subject) > 0);
  CHECK_EQ(mbedtls_x509_crt_parse_file(&want, hook_expected_leaf), 0);
  h->leaf_is_server_pem =
      want.raw.len == cert_lens[0] && memcmp(want.raw.p, certs[0], cert_lens[0]) == 0;
  mbedtls_x509_crt_free(&leaf);
  mbedtls_x509_crt_free(&want);
  return h->answer;
}

/* A hook that accepts. */
static int hooked(const char *ca, int hook_decides, const char *cert, hook_log *h, char *why) {
  memset(h, 0, sizeof *h);
  h->answer = MPSYNC_TRUST_ACCEPT;
  mps_tls_trust trust = {.ca_file = ca, .verify_fn = record_hook, .verify_user_data = h,
                         .hook_decides = hook_decides};
  hook_expected_leaf = cert;
  return handshake_trust(&trust, cert, "localhost", why, 160);
}

/* Default mode: the hook is asked after a valid chain, sees the host and the chain as DER, and a
 * refusal wins over the valid chain. */
static void test_hook_after_chain(void) {
  char why[160];
  hook_log h;
  CHECK_EQ(hooked(path("ca.pem"), 0, path("server.pem"), &h, why), 0);
  CHECK_EQ(h.calls, 1);
  CHECK_STR(h.host, "localhost");
  CHECK_EQ(h.count, 1); /* the test server sends its leaf alone */
  CHECK(strstr(h.leaf_subject, "CN=localhost") != NULL);
  CHECK(h.leaf_is_server_pem);
  CHECK_EQ(h.chain_verified, 1);

  hook_log r = {.answer = MPSYNC_TRUST_REFUSE};
  mps_tls_trust trust = {.ca_file = path("ca.pem"), .verify_fn = record_hook,
                         .verify_user_data = &r};
  hook_expected_leaf = path("server.pem");
  CHECK_EQ(handshake_trust(&trust, path("server.pem"), "localhost", why, sizeof why), MPSYNC_ETLS);
  CHECK_EQ(r.calls, 1);
  CHECK(strstr(why, "app's certificate check refused") != NULL);

  /* An answer that is neither verdict refuses. */
  r = (hook_log){.answer = (mpsync_trust_verdict)7};
  CHECK_EQ(handshake_trust(&trust, path("server.pem"), "localhost", why, sizeof why), MPSYNC_ETLS);

  /* A chain mbedTLS refuses stays refused, and the hook is not asked to overrule it. */
  hook_log a = {.answer = MPSYNC_TRUST_ACCEPT};
  trust.verify_user_data = &a;
  trust.ca_file = path("other_ca.pem");
  CHECK_EQ(handshake_trust(&trust, path("server.pem"), "localhost", why, sizeof why), MPSYNC_ETLS);
  CHECK(strstr(why, "certificate rejected") != NULL);
  CHECK_EQ(a.calls, 0);
  trust.ca_file = path("ca.pem");
  hook_expected_leaf = path("wronghost.pem");
  CHECK_EQ(handshake_trust(&trust, path("wronghost.pem"), "localhost", why, sizeof why),
           MPSYNC_ETLS);
  CHECK_EQ(a.calls, 0);
}

static int hooked_answer(const char *ca, const char *cert, mpsync_trust_verdict answer,
                         hook_log *h) {
  char why[160];
  memset(h, 0, sizeof *h);
  h->answer = answer;
  mps_tls_trust trust = {.ca_file = ca, .verify_fn = record_hook, .verify_user_data = h,
                         .hook_decides = 1};
  hook_expected_leaf = cert;
  return handshake_trust(&trust, cert, "localhost", why, sizeof why);
}

/* "Hook decides" (Android's TrustManager, iOS's SecTrust): the hook's verdict is final, told
 * whether our own check passed; without a ca_file no store is needed at all. */
static void test_hook_decides(void) {
  hook_log h;
  /* A chain that does not lead to ca_file, accepted by the platform. */
  CHECK_EQ(hooked_answer(path("other_ca.pem"), path("server.pem"), MPSYNC_TRUST_ACCEPT, &h), 0);
  CHECK_EQ(h.calls, 1);
  CHECK_EQ(h.chain_verified, 0);
  CHECK(h.leaf_is_server_pem);
  /* No CA at all: the platform is the only judge. */
  CHECK_EQ(hooked_answer(NULL, path("server.pem"), MPSYNC_TRUST_ACCEPT, &h), 0);
  CHECK_EQ(h.chain_verified, 0);
  CHECK_STR(h.host, "localhost");
  CHECK_EQ(hooked_answer(NULL, path("server.pem"), MPSYNC_TRUST_REFUSE, &h), MPSYNC_ETLS);
  CHECK_EQ(h.calls, 1);
  /* A valid chain, refused by the hook: refused. */
  CHECK_EQ(hooked_answer(path("ca.pem"), path("server.pem"), MPSYNC_TRUST_REFUSE, &h),
           MPSYNC_ETLS);
  CHECK_EQ(h.chain_verified, 1);
  /* The host name is the hook's to check too: it is told ours failed. */
  CHECK_EQ(hooked_answer(path("ca.pem"), path("wronghost.pem"), MPSYNC_TRUST_REFUSE, &h),
           MPSYNC_ETLS);
  CHECK_EQ(h.chain_verified, 0);
  CHECK_EQ(h.calls, 1);
  /* The mode needs a hook. */
  char err[256];
  mps_tls_config *cfg;
  mps_tls_trust trust = {.hook_decides = 1};
  CHECK_EQ(mps_tls_client_config(&trust, &cfg, err, sizeof err), MPSYNC_ECONFIG);
}

/* Pins hold in both modes and are checked before the hook, which a mismatch never reaches. */
static void test_pins_before_hook(void) {
  char pin[64], why[160];
  CHECK_EQ(mps_tls_spki_pin_of_file(path("server.pem"), pin, sizeof pin), 0);
  for (int decides = 0; decides <= 1; decides++) {
    hook_log h = {.answer = MPSYNC_TRUST_ACCEPT};
    mps_tls_trust trust = {.ca_file = path("ca.pem"), .pins = pin, .verify_fn = record_hook,
                           .verify_user_data = &h, .hook_decides = decides};
    hook_expected_leaf = path("backup.pem");
    CHECK_EQ(handshake_trust(&trust, path("backup.pem"), "localhost", why, sizeof why),
             MPSYNC_ETLS);
    CHECK(strstr(why, "pins") != NULL);
    CHECK_EQ(h.calls, 0);
    hook_expected_leaf = path("server.pem");
    CHECK_EQ(handshake_trust(&trust, path("server.pem"), "localhost", why, sizeof why), 0);
    CHECK_EQ(h.calls, 1);
  }
}

static void test_bad_config(void) {
  char err[256];
  mps_tls_config *cfg;
  mps_tls_trust missing = {.ca_file = "/nonexistent.pem"};
  CHECK_EQ(mps_tls_client_config(&missing, &cfg, err, sizeof err), MPSYNC_ECONFIG);
  mps_tls_trust bad_pin = {.ca_file = path("ca.pem"), .pins = "not-a-pin"};
  CHECK_EQ(mps_tls_client_config(&bad_pin, &cfg, err, sizeof err), MPSYNC_ECONFIG);
  CHECK_EQ(mps_tls_server_config(path("server.pem"), "/nonexistent.key", &cfg, err, sizeof err),
           MPSYNC_ECONFIG);
}

static void copy_file(const char *from, const char *to) {
  FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
  CHECK(in && out);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, in)) > 0) CHECK_EQ(fwrite(buf, 1, n, out), n);
  fclose(in);
  CHECK_EQ(fclose(out), 0);
}

static char tmp[256];

static const char *tmp_path(const char *name) { return join(tmp, name); }

/* The system store is the first bundle that is there and not empty, else the first directory. */
static void test_find_ca_in_order(void) {
  copy_file(path("ca.pem"), tmp_path("bundle.pem"));
  fclose(fopen(tmp_path("empty.pem"), "w"));
  CHECK_EQ(mkdir(tmp_path("certs"), 0700), 0);
  const char *files[] = {tmp_path("missing.pem"), tmp_path("empty.pem"), tmp_path("certs"),
                         tmp_path("bundle.pem"), NULL};
  const char *dirs[] = {tmp_path("nodir"), tmp_path("bundle.pem"), tmp_path("certs"), NULL};
  CHECK_STR(mps_tls_find_ca(files, dirs), files[3]);
  files[3] = NULL;
  CHECK_STR(mps_tls_find_ca(files, dirs), dirs[2]);
  dirs[2] = NULL;
  CHECK(mps_tls_find_ca(files, dirs) == NULL);
  CHECK(mps_tls_find_ca(NULL, NULL) == NULL);
}

/* A c_rehash directory (Debian's /etc/ssl/certs, Android's cacerts) is read by its hash names
 * only; a directory without any is read whole. */
static void test_ca_directory(void) {
  char why[160];
  CHECK_EQ(mkdir(tmp_path("hashed"), 0700), 0);
  copy_file(path("other_ca.pem"), tmp_path("hashed/0123abcd.0"));
  copy_file(path("ca.pem"), tmp_path("hashed/ca.pem"));
  CHECK_EQ(handshake(tmp_path("hashed"), NULL, path("server.pem"), "localhost", why, sizeof why),
           MPSYNC_ETLS);
  copy_file(path("ca.pem"), tmp_path("hashed/0123abcd.1"));
  CHECK_EQ(handshake(tmp_path("hashed"), NULL, path("server.pem"), "localhost", why, sizeof why),
           0);
  CHECK_EQ(mkdir(tmp_path("plain"), 0700), 0);
  copy_file(path("ca.pem"), tmp_path("plain/ca.pem"));
  CHECK_EQ(handshake(tmp_path("plain"), NULL, path("server.pem"), "localhost", why, sizeof why), 0);
}

/* The default finds this machine's store, whichever of the usual places it is in. */
static void test_system_store(void) {
  const char *found = mps_tls_find_ca(mps_tls_system_ca_files, mps_tls_system_ca_dirs);
  if (!found) {
    fprintf(stderr, "no system CA store on this machine: default not exercised\n");
    return;
  }
  char err[256];
  mps_tls_config *cfg;
  mps_tls_trust system = {0};
  CHECK_EQ(mps_tls_client_config(&system, &cfg, err, sizeof err), 0);
  mps_tls_config_free(cfg);
}

/* Both handshakes over memory to the end; the client's result. */
static int run_pair(mps_tls *c, mps_tls *s) {
  int crc = 1, src = 1;
  for (int round = 0; round < 20 && (crc > 0 || src > 0); round++) {
    if (crc > 0) crc = mps_tls_handshake(c);
    move(c, s);
    if (src > 0) src = mps_tls_handshake(s);
    move(s, c);
    if (crc < 0 || src < 0) break;
  }
  return crc;
}

/* One connection of a client to a server, offering blob when given; whether it resumed, or -1
 * when the handshake failed. The session it ends with replaces *saved when saved is given. */
static int connect_once(mps_tls_config *ccfg, mps_tls_config *scfg, const uint8_t *blob,
                        size_t len, int offer_rc, uint8_t **saved, size_t *saved_len) {
  mps_tls *c, *s;
  CHECK_EQ(mps_tls_new(ccfg, "localhost", &c), 0);
  CHECK_EQ(mps_tls_new(scfg, NULL, &s), 0);
  if (blob) CHECK_EQ(mps_tls_offer_session(c, blob, len), offer_rc);
  int rc = run_pair(c, s);
  int resumed = rc == 0 ? mps_tls_resumed(c) : -1;
  if (rc == 0 && saved) {
    /* A TLS 1.3 ticket follows the handshake: the client processes it as it reads. */
    uint8_t buf[16];
    CHECK_EQ(mps_tls_read(c, buf, sizeof buf), 0);
    mps_tls_free_session(*saved, *saved_len);
    CHECK_EQ(mps_tls_take_session(c, saved, saved_len), 1);
    CHECK(*saved_len > 0);
    uint8_t *again;
    size_t again_len;
    CHECK_EQ(mps_tls_take_session(c, &again, &again_len), 0); /* handed over once */
  }
  mps_tls_free(c);
  mps_tls_free(s);
  return resumed;
}

/* Issue 18: a saved session resumes (no certificate sent: the abbreviated handshake); one that
 * does not load is not offered; a server without tickets, or with other ticket keys, makes a
 * full handshake that succeeds. */
static void test_session_resumption(void) {
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
  /* 3.x negotiates TLS 1.3, whose tickets the client does not take yet (mbedtls_compat.h). */
  fprintf(stderr, "skipped test_session_resumption: TLS 1.3 resumption not done yet\n");
  return;
#endif
  char err[256];
  mps_tls_trust trust = {.ca_file = path("ca.pem")};
  mps_tls_config *ccfg, *scfg, *other, *none;
  CHECK_EQ(mps_tls_client_config(&trust, &ccfg, err, sizeof err), 0);
  CHECK_EQ(mps_tls_server_config(path("server.pem"), path("server.key"), &scfg, err, sizeof err), 0);
  CHECK_EQ(mps_tls_server_config(path("server.pem"), path("server.key"), &other, err, sizeof err), 0);
  CHECK_EQ(mps_tls_server_config(path("server.pem"), path("server.key"), &none, err, sizeof err), 0);
  CHECK_EQ(mps_tls_server_tickets(scfg, 3600, err, sizeof err), 0);
  CHECK_EQ(mps_tls_server_tickets(other, 3600, err, sizeof err), 0);
  CHECK_EQ(mps_tls_server_tickets(scfg, 3600, err, sizeof err), MPSYNC_EINVAL); /* once */
  CHECK_EQ(mps_tls_server_tickets(ccfg, 3600, err, sizeof err), MPSYNC_EINVAL);

  uint8_t *blob = NULL;
  size_t len = 0;
  CHECK_EQ(connect_once(ccfg, scfg, NULL, 0, 0, &blob, &len), 0);
  CHECK_EQ(connect_once(ccfg, scfg, blob, len, 0, &blob, &len), 1);
  CHECK_EQ(connect_once(ccfg, scfg, blob, len, 0, NULL, NULL), 1); /* the resumed one's, again */
  CHECK_EQ(connect_once(ccfg, scfg, blob, len / 2, MPSYNC_EINVAL, NULL, NULL), 0);
  CHECK_EQ(connect_once(ccfg, other, blob, len, 0, NULL, NULL), 0); /* rotated keys */
  CHECK_EQ(connect_once(ccfg, none, blob, len, 0, NULL, NULL), 0);  /* no tickets */
  mps_tls_free_session(blob, len);
  mps_tls_free_session(NULL, 0);

  /* Peer ids: one per address, name and trust setting. */
  char a[65], b[65];
  CHECK_EQ(mps_tls_peer_id(&trust, "127.0.0.1", 443, "localhost", a), 0);
  CHECK_EQ(mps_tls_peer_id(&trust, "127.0.0.1", 443, "localhost", b), 0);
  CHECK_STR(a, b);
  CHECK_EQ(strlen(a), 64);
  mps_tls_peer_id(&trust, "127.0.0.1", 444, "localhost", b);
  CHECK(strcmp(a, b) != 0);
  mps_tls_trust pinned = {.ca_file = path("ca.pem"), .pins = "x"};
  mps_tls_peer_id(&pinned, "127.0.0.1", 443, "localhost", b);
  CHECK(strcmp(a, b) != 0);

  mps_tls_config_free(ccfg);
  mps_tls_config_free(scfg);
  mps_tls_config_free(other);
  mps_tls_config_free(none);
}

int main(int argc, char **argv) {
  CHECK(argc == 2);
  pki = argv[1];
  RUN(test_valid_chain);
  RUN(test_wrong_ca);
  RUN(test_wrong_host_name);
  RUN(test_expired);
  RUN(test_pin);
  RUN(test_backup_pin);
  RUN(test_pin_list_syntax);
  RUN(test_hook_after_chain);
  RUN(test_hook_decides);
  RUN(test_pins_before_hook);
  RUN(test_bad_config);
  RUN(test_session_resumption);
  snprintf(tmp, sizeof tmp, "%s/test_tls.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  CHECK(mkdtemp(tmp) != NULL);
  RUN(test_find_ca_in_order);
  RUN(test_ca_directory);
  RUN(test_system_store);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  CHECK_EQ(system(cmd), 0);
  return 0;
}
