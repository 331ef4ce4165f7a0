/* Unit tests of the TLS memory pipe: a client and a server mbedTLS wired through buffers. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <sys/stat.h>
#include <unistd.h>

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
  CHECK_EQ(mps_tls_client_config(NULL, NULL, &cfg, err, sizeof err), 0);
  mps_tls_config_free(cfg);
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
