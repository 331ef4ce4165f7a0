/* The admin API's bearer token: checked, generated, and compared without leaking its bytes. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MOCK_TOKEN_H
#define MOCK_TOKEN_H

#include "server.h"

/* 0 when s may be an admin token: 16..ADMIN_TOKEN_MAX characters of RFC 6750's token68 set
 * (letters, digits, -._~+/ and trailing =), so it travels in a header as it is. */
int admin_token_check(const char *s);

/* Sets srv->admin_token from --admin-token, or makes a random one (uv_random, 16 bytes as 32 hex
 * characters) and prints it once on stderr; then writes it to <data>/admin-token (mode 0600) so
 * that local tools can read the live token. 0, or -1 with a message on stderr. */
int admin_token_setup(mock_server *srv);

/* True when the Authorization header value is "Bearer <srv->admin_token>". The comparison takes
 * the same time wherever the first difference is. */
int admin_token_authorised(const mock_server *srv, const char *authorization);

#endif
