/* Example of the certificate-verification hook: accept only the server certificate the app ships. */
/* SPDX-License-Identifier: Apache-2.0 */
/*
 * usage: verify_hook HOST PORT INSTANCE DATA_DIR BIZ SERVER_CERT_DER [CA_FILE [SERVER_NAME]]
 *
 * SERVER_CERT_DER is the server's own certificate in DER, shipped with the app
 * (`openssl x509 -in server.pem -outform der -out server.der`).
 *
 * With CA_FILE the mode is MPSYNC_TRUST_CHAIN_AND_HOOK, the default: libmpsync first checks that
 * the chain leads to CA_FILE, is in date and names the server; only then is the hook asked, and
 * it can only refuse more: a certificate the CA issued later, or to someone else's server under
 * the same CA, is still refused. SERVER_NAME is the name the chain must carry when HOST is an
 * address.
 *
 * Without CA_FILE the mode is MPSYNC_TRUST_HOOK_DECIDES, for a private server with a self-signed
 * certificate and no CA to check it against: the hook's verdict is final. Matching the exact
 * certificate covers the name too (the app shipped the certificate of that server); a hook that
 * trusts by any looser rule must check the chain and the host name itself, as Android's and iOS'
 * verifiers do.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mpsync/mpsync.h>

/* Far more than any real certificate; a bigger file is not one. */
#define MAX_CERT_BYTES (64 * 1024)

typedef struct shipped_cert {
  unsigned char der[MAX_CERT_BYTES];
  size_t len;
} shipped_cert;

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

/* Runs on the SDK's network thread during each TLS handshake, so it only compares bytes: no file
 * or network access here (the certificate was read before the client started). */
static mpsync_trust_verdict verify(void *user_data, const char *host, const uint8_t *const *certs,
                                   const size_t *cert_lens, size_t count, int chain_verified) {
  const shipped_cert *shipped = user_data;
  (void)count; /* certs[0] is the leaf; intermediates do not matter for an exact match */
  int same = cert_lens[0] == shipped->len && memcmp(certs[0], shipped->der, shipped->len) == 0;
  fprintf(stderr, "verify %s: %s certificate (libmpsync's own check %s)\n", host,
          same ? "the shipped" : "an unknown", chain_verified ? "passed" : "failed or skipped");
  return same ? MPSYNC_TRUST_ACCEPT : MPSYNC_TRUST_REFUSE;
}

/* A refused server shows here as CONNECT_FAILED, with the reason, and is retried with back-off. */
static void on_state(void *user_data, mpsync_state state, const char *reason) {
  (void)user_data;
  static const char *const names[] = {"disconnected", "connecting", "connected", "connect failed"};
  fprintf(stderr, "state: %s%s%s\n", names[state], reason[0] ? ": " : "", reason);
}

static void on_message(mpsync_client *client, const mpsync_message *msg, void *user_data) {
  (void)user_data;
  printf("%s: message %s of %zu oplogs\n", msg->biz, msg->id, msg->count);
  fflush(stdout);
  mpsync_report(client, msg->biz, msg->id);
}

static int read_cert(const char *path, shipped_cert *out) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  out->len = fread(out->der, 1, sizeof out->der, f);
  int too_big = fgetc(f) != EOF;
  fclose(f);
  return out->len == 0 || too_big ? -1 : 0;
}

int main(int argc, char **argv) {
  if (argc < 7) {
    fprintf(stderr,
            "usage: %s HOST PORT INSTANCE DATA_DIR BIZ SERVER_CERT_DER [CA_FILE [SERVER_NAME]]\n",
            argv[0]);
    return 2;
  }
  /* Lives until mpsync_client_free() returns: the hook reads it on every handshake. */
  static shipped_cert shipped;
  if (read_cert(argv[6], &shipped) != 0) {
    fprintf(stderr, "%s: not a DER certificate of at most %d bytes\n", argv[6], MAX_CERT_BYTES);
    return 2;
  }
  mpsync_config cfg;
  mpsync_config_init(&cfg, sizeof cfg);
  cfg.host = argv[1];
  cfg.port = (uint16_t)atoi(argv[2]);
  cfg.instance_id = argv[3];
  cfg.data_dir = argv[4];
  cfg.verify_fn = verify;
  cfg.user_data = &shipped; /* given to verify_fn, state_fn and log_fn alike */
  cfg.state_fn = on_state;
  if (argc > 7) {
    cfg.ca_file = argv[7];
    cfg.trust_mode = MPSYNC_TRUST_CHAIN_AND_HOOK;
    if (argc > 8) cfg.server_name = argv[8];
  } else {
    cfg.trust_mode = MPSYNC_TRUST_HOOK_DECIDES;
  }
  mpsync_client *client;
  int rc = mpsync_client_new(&cfg, &client);
  if (rc) {
    fprintf(stderr, "mpsync_client_new: %s\n", mpsync_strerror(rc));
    return 1;
  }
  mpsync_register_biz(client, argv[5], on_message, NULL);
  mpsync_foreground(client);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  while (!stop) pause();
  mpsync_client_free(client);
  return 0;
}
