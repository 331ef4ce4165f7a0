/* Per-connection delivery filters of an oplog (SPEC S5): osType, app version range, validTimeEnd. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "filter.h"

#include "util.h"

int oplog_admits(const oplog_rec *r, const char *os_type, const char *app_version,
                 int64_t now_ms) {
  if (r->valid_end_ms > 0 && r->valid_end_ms <= now_ms) return 0;
  if (r->os_type[0] && os_type[0] && !str_ieq(r->os_type, os_type)) return 0;
  if (app_version[0]) {
    if (r->app_min[0] && version_cmp(app_version, r->app_min) < 0) return 0;
    if (r->app_max[0] && version_cmp(app_version, r->app_max) > 0) return 0;
  }
  return 1;
}
