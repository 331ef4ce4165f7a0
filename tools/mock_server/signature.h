/* Signed pushes (guide §6.8): the global switch, the tenant's public key, and each push's check. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MOCK_SIGNATURE_H
#define MOCK_SIGNATURE_H

#include "http.h"

/* How far a push's X-Mpsync-Timestamp may be from the server's clock, either way; a signature is
 * remembered this long (twice, as the window is both ways) so that it cannot be sent again. */
#define SIGNATURE_WINDOW_MS (5 * 60 * 1000)

/* The result codes of a refused push (docs/ADMIN.md). */
#define SIG_MISSING "SIGNATURE_MISSING"   /* no X-Mpsync-Signature or X-Mpsync-Timestamp */
#define SIG_EXPIRED "SIGNATURE_EXPIRED"   /* the timestamp is not ms or is outside the window */
#define SIG_INVALID "SIGNATURE_INVALID"   /* not base64, or does not verify with the key */
#define SIG_REPLAYED "SIGNATURE_REPLAYED" /* this signature was accepted before */

/* Loads the switch and the key from <data>/signature.json (absent: off, no key). 0 or -1 with a
 * message on stderr. */
int signature_init(mock_server *srv);
void signature_free(mock_server *srv);

/* NULL when the push may go on (signatures off, or a good fresh signature, now remembered);
 * else one of the codes above. Call before anything of the push is stored. */
const char *signature_check(mock_server *srv, const http_request *req);

/* GET and POST /admin/signature (docs/ADMIN.md): reads or changes the switch and the key. */
void signature_admin(mock_server *srv, const http_request *req, http_response *resp);

/* The canonical string a push's signature covers (docs/ADMIN.md), malloc'ed, or NULL. */
char *signature_canonical(const char *method, const char *path, const char *query,
                          const char *timestamp, const char *body, size_t body_len);

#endif
