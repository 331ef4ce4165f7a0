/* Unit tests of the TLS memory pipe: a client and a server mbedTLS wired through buffers. */
#include "check.h"
#include "mpsync/mpsync_errors.h"
#include "tls/tls.h"

static const char *pki;

static const char *path(const char *name) {
  static char buf[8][512];
  static int i;
  char *p = buf[i++ % 8];
  snprintf(p, 512, "%s/%s", pki, name);
  return p;
}

static void move(mps_tls *from, mps_tls *to) {
  const uint8_t *d;
  size_t n = mps_tls_pending(from, &d);
  if (n) {
    CHECK_EQ(mps_tls_feed(to, d, n), 0);
    mps_tls_consume(from, n);
  }
}

/* Runs both handshakes to the end; returns the client's result. */
static int handshake(const char *ca, const char *pin, const char *cert, const char *name,
                     char *reason, size_t len) {
  char err[256];
  mps_tls_config *ccfg, *scfg;
  CHECK_EQ(mps_tls_client_config(ca, pin, &ccfg, err, sizeof err), 0);
  CHECK_EQ(mps_tls_server_config(cert, path("server.key"), &scfg, err, sizeof err), 0);
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

static void test_bad_config(void) {
  char err[256];
  mps_tls_config *cfg;
  CHECK_EQ(mps_tls_client_config("/nonexistent.pem", NULL, &cfg, err, sizeof err), MPSYNC_ECONFIG);
  CHECK_EQ(mps_tls_client_config(path("ca.pem"), "not-a-pin", &cfg, err, sizeof err),
           MPSYNC_ECONFIG);
  CHECK_EQ(mps_tls_server_config(path("server.pem"), "/nonexistent.key", &cfg, err, sizeof err),
           MPSYNC_ECONFIG);
}

int main(int argc, char **argv) {
  CHECK(argc == 2);
  pki = argv[1];
  RUN(test_valid_chain);
  RUN(test_wrong_ca);
  RUN(test_wrong_host_name);
  RUN(test_expired);
  RUN(test_pin);
  RUN(test_bad_config);
  return 0;
}
