/* Admin JSON API (§6): biz configs CRUD, online/offline, user/device status, operation records. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MOCK_ADMIN_H
#define MOCK_ADMIN_H

#include "http.h"

/* Handles the request when its path is under /admin; returns 0 when it is not an admin path. */
int admin_handle(mock_server *srv, const http_request *req, http_response *resp);

#endif
