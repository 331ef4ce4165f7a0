/* The HTTP push API (§5.2 single, §5.3 global): checks, idempotency, storage and live push. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MOCK_PUSH_API_H
#define MOCK_PUSH_API_H

#include <stddef.h>

#include "server.h"

/* Handles one POST /webapi/sync/{single|global}; returns the result code (a static string). */
const char *push_api_handle(mock_server *srv, int global, const char *query, const char *body,
                            size_t len);

/* POST /admin/push/bulk?instanceId=ID: the body of a single push (§5.2) plus "count": N. Stores N
 * oplogs, thirdMsgId "<thirdMsgId>-<i>" for i in 1..N, with every check and effect of a single
 * push, committed BULK_CHUNK at a time. For tests and the benchmark, where one HTTP request per
 * oplog makes a million-oplog backlog take minutes. Returns the result code; *stored and
 * *duplicated count the outcome (they may be non-zero on failure: earlier chunks stay). */
const char *push_api_bulk(mock_server *srv, const char *query, const char *body, size_t len,
                          int64_t *stored, int64_t *duplicated);

/* True for the codes that answer "success": true. */
int push_code_success(const char *code);

#endif
