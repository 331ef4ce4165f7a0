/* Unit tests of meta.config loading (C16): the mPaaS keys, our own keys, and refusals. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <unistd.h>

#include "check.h"
#include "mpsync/mpsync.h"

static char path[] = "/tmp/mpsync-meta-XXXXXX";

static int load(const char *text, mpsync_meta **m) {
  FILE *f = fopen(path, "w");
  fputs(text, f);
  fclose(f);
  return mpsync_meta_load(path, m);
}

static void test_vendor_file(void) {
  mpsync_meta *m;
  CHECK_EQ(load("{\"appId\":\"ABCD123\",\"appKey\":\"k\",\"workspaceId\":\"default\","
                "\"syncserver\":\"sync.example.com\",\"syncport\":\"443\",\"extra\":{\"x\":1}}",
                &m),
           0);
  mpsync_config cfg;
  mpsync_config_init(&cfg, sizeof cfg);
  CHECK_EQ(mpsync_meta_apply(m, &cfg), 0);
  CHECK_STR(cfg.host, "sync.example.com");
  CHECK_EQ(cfg.port, 443);
  CHECK_STR(cfg.instance_id, "default_ABCD123");
  CHECK_EQ(cfg.plaintext, 0);
  CHECK_STR(mpsync_meta_get(m, "appKey"), "k");
  CHECK_STR(mpsync_meta_get(m, "extra"), "{\"x\":1}");
  CHECK(mpsync_meta_get(m, "missing") == NULL);
  mpsync_meta_free(m);
}

static void test_own_keys_and_numeric_port(void) {
  mpsync_meta *m;
  CHECK_EQ(load("{\"appId\":\"A\",\"workspaceId\":\"W\",\"syncserver\":\"127.0.0.1\","
                "\"syncport\":9000,\"mpsyncPlaintext\":true,\"mpsyncCaFile\":\"/ca.pem\"}",
                &m),
           0);
  mpsync_config cfg;
  mpsync_config_init(&cfg, sizeof cfg);
  mpsync_meta_apply(m, &cfg);
  CHECK_EQ(cfg.port, 9000);
  CHECK_EQ(cfg.plaintext, 1);
  CHECK_STR(cfg.ca_file, "/ca.pem");
  mpsync_meta_free(m);
}

/* Several pins (current + backup): a comma list as text, or a JSON array of the same. */
static void test_pins(void) {
  const char *files[] = {"{\"appId\":\"A\",\"workspaceId\":\"W\",\"syncserver\":\"h\","
                         "\"syncport\":1,\"mpsyncPin\":\"cur=,backup=\"}",
                         "{\"appId\":\"A\",\"workspaceId\":\"W\",\"syncserver\":\"h\","
                         "\"syncport\":1,\"mpsyncPin\":[\"cur=\",\"backup=\"]}"};
  for (size_t i = 0; i < 2; i++) {
    mpsync_meta *m;
    CHECK_EQ(load(files[i], &m), 0);
    mpsync_config cfg;
    mpsync_config_init(&cfg, sizeof cfg);
    CHECK_EQ(mpsync_meta_apply(m, &cfg), 0);
    CHECK_STR(cfg.pin_sha256, "cur=,backup=");
    mpsync_meta_free(m);
  }
}

static void test_refusals(void) {
  mpsync_meta *m = (mpsync_meta *)1;
  CHECK_EQ(load("not json", &m), MPSYNC_ECONFIG);
  CHECK(m == NULL);
  CHECK_EQ(load("[1,2]", &m), MPSYNC_ECONFIG);
  CHECK_EQ(load("{\"appId\":\"A\",\"workspaceId\":\"W\",\"syncserver\":\"h\"}", &m),
           MPSYNC_ECONFIG);
  CHECK_EQ(load("{\"appId\":\"A\",\"workspaceId\":\"W\",\"syncserver\":\"h\",\"syncport\":\"0\"}",
                &m),
           MPSYNC_ECONFIG);
  CHECK_EQ(mpsync_meta_load("/nonexistent/meta.config", &m), MPSYNC_EIO);
  CHECK_EQ(mpsync_meta_load(NULL, &m), MPSYNC_EINVAL);
}

int main(void) {
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  close(fd);
  RUN(test_vendor_file);
  RUN(test_own_keys_and_numeric_port);
  RUN(test_pins);
  RUN(test_refusals);
  unlink(path);
  return 0;
}
