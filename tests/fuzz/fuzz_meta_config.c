/* libFuzzer target: the meta.config parser (C16) through mpsync_meta_load on an in-memory file,
 * then mpsync_meta_apply; a parsed config must be complete and consistent. */
/* SPDX-License-Identifier: Apache-2.0 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "mpsync/mpsync.h"

static int fd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  /* A memfd seen through /proc: the real fopen/fread path without touching a disk. */
  fd = memfd_create("meta.config", 0);
  FUZZ_CHECK(fd >= 0);
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  FUZZ_CHECK(ftruncate(fd, 0) == 0);
  FUZZ_CHECK(pwrite(fd, data, size, 0) == (ssize_t)size);
  mpsync_meta *m = NULL;
  int rc = mpsync_meta_load(path, &m);
  if (rc) {
    FUZZ_CHECK(m == NULL);
    FUZZ_CHECK(rc == MPSYNC_ECONFIG || rc == MPSYNC_ENOMEM);
    return 0;
  }
  FUZZ_CHECK(m);
  const char *app = mpsync_meta_get(m, "appId"), *ws = mpsync_meta_get(m, "workspaceId");
  FUZZ_CHECK(app && *app && ws && *ws && mpsync_meta_get(m, "syncserver"));
  mpsync_config cfg;
  mpsync_config_init(&cfg, sizeof cfg);
  FUZZ_CHECK(mpsync_meta_apply(m, &cfg) == 0);
  FUZZ_CHECK(cfg.port > 0);
  FUZZ_CHECK(cfg.host && !strcmp(cfg.host, mpsync_meta_get(m, "syncserver")));
  /* instanceId = workspaceId_appId (SPEC §2). */
  size_t wl = strlen(ws);
  FUZZ_CHECK(cfg.instance_id && !strncmp(cfg.instance_id, ws, wl) && cfg.instance_id[wl] == '_' &&
             !strcmp(cfg.instance_id + wl + 1, app));
  static const char *keys[] = {"appKey", "mpsyncPlaintext", "mpsyncCaFile", "mpsyncPin", ""};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    const char *v = mpsync_meta_get(m, keys[i]);
    if (v) (void)strlen(v);
  }
  mpsync_meta_free(m);
  return 0;
}
