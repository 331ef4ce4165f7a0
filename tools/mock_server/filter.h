/* Per-connection delivery filters of an oplog (SPEC S5): osType, app version range, validTimeEnd. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MOCK_FILTER_H
#define MOCK_FILTER_H

#include <stdint.h>

#include "store.h"

/* True when r may go to a client with this osType and app version at now_ms. An empty client
 * value passes the matching filter: a client that did not say cannot be excluded by it. */
int oplog_admits(const oplog_rec *r, const char *os_type, const char *app_version,
                 int64_t now_ms);

#endif
