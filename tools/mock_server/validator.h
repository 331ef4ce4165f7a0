/* S9 user consistency (guide §5.4): asks the tenant's validator about a link's user and session. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MOCK_VALIDATOR_H
#define MOCK_VALIDATOR_H

#include "http.h"

#define VALIDATOR_OPERATION "com.antcloud.session.validate"
#define VALIDATOR_DEFAULT_TIMEOUT_MS 3000
/* A verdict the validator gave for (instance, user, session) is reused this long. */
#define VALIDATOR_CACHE_TTL_MS (60 * 1000)

/* Runs on the loop thread when a pending check ends: valid is 1 only for an answer that said so;
 * a refusal, a timeout, an unreachable validator or an answer not understood are 0. */
typedef void (*validator_cb)(mock_server *srv, void *conn, int valid);

/* Sets up libcurl's multi interface on srv->loop. 0, or -1 with a message on stderr. */
int validator_init(mock_server *srv);
/* Server shutdown: abandons every check (no callback runs) and closes the handles. */
void validator_close(mock_server *srv);
/* After the loop ended: frees what is left. NULL-safe. */
void validator_free(mock_server *srv);

/* Starts the check of conn's user and session for instance. Returns 1 (valid) or 0 (not: no
 * validator configured, a cached refusal, or the request could not start) at once, or -1: the
 * validator was asked and cb(srv, conn, valid) runs later, once, unless validator_forget(conn)
 * is called first. Never blocks. */
int validator_check(mock_server *srv, void *conn, const char *instance, const char *user,
                    const char *session, validator_cb cb);

/* conn is going away: its pending check, if any, ends without a callback. */
void validator_forget(mock_server *srv, void *conn);

/* GET and POST /admin/validator?instanceId= (docs/ADMIN.md). */
void validator_admin(mock_server *srv, const http_request *req, http_response *resp);

#endif
