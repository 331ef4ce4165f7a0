/* Logging through the app's hook, and string helpers. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void mps_log(const mps_logger *lg, mpsync_log_level level, const char *fmt, ...) {
  if (!lg || !lg->fn || level > lg->level) return;
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  lg->fn(lg->ud, level, buf);
}

char *mps_strdup(const char *s) {
  if (!s) s = "";
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p) memcpy(p, s, n);
  return p;
}
