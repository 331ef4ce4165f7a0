/* The mock server's web console (--console): its embedded static files, served under /console/. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MOCK_CONSOLE_H
#define MOCK_CONSOLE_H

#include <stddef.h>

#include "http.h"

typedef struct console_asset {
  const char *path; /* "/console/<file>" */
  const char *type; /* Content-Type */
  const unsigned char *data;
  size_t len;
} console_asset;

/* Answers a request under /console (only when the server runs with --console). Returns 1 when
 * the path is the console's (answered: a file, 404 or 405), 0 when it is not. */
int console_handle(const http_request *req, http_response *resp);

#endif
