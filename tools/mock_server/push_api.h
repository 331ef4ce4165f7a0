/* The HTTP push API (§5.2 single, §5.3 global): checks, idempotency, storage and live push. */
#ifndef MOCK_PUSH_API_H
#define MOCK_PUSH_API_H

#include <stddef.h>

#include "server.h"

/* Handles one POST /webapi/sync/{single|global}; returns the result code (a static string). */
const char *push_api_handle(mock_server *srv, int global, const char *query, const char *body,
                            size_t len);

/* True for the codes that answer "success": true. */
int push_code_success(const char *code);

#endif
