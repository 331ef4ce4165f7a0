/* Long-link side of the mock server: one sans-I/O server session per TCP (or TLS) connection. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MOCK_LINK_H
#define MOCK_LINK_H

#include <stdint.h>

#include "biz.h"
#include "server.h"
#include "store.h"

/* Connection callbacks of the plain and the TLS link listeners. */
void link_on_connection(uv_stream_t *listener, int status);
void link_on_tls_connection(uv_stream_t *listener, int status);

/* Closes every link connection at once (server shutdown). */
void link_close_all(mock_server *srv);

/* Sends Close(code, retry_after_s) to every open link of instance (every link when instance is
 * NULL) and closes them. Returns how many. */
int link_close_instance(mock_server *srv, const char *instance, int code, uint32_t retry_after_s,
                        const char *reason);

/* Tells the ready connections of a user or device stream that it was reset (an empty batch with
 * reset and the new epoch). Returns how many. */
int link_notify_reset(mock_server *srv, const char *instance, int kind, const char *biz,
                      const char *target, uint64_t epoch);

/* Number of ready connections of the instance whose user (kind USER) or device (kind DEVICE) is
 * target. */
int link_count_online(mock_server *srv, const char *instance, int kind, const char *target);

/* Calls fn for every ready connection of instance (of every instance when NULL), for the admin
 * API's live view; the strings are valid during the call only. Returns how many. */
typedef void (*link_visit)(void *ud, const char *instance, const char *device, const char *user,
                           const char *os_type, const char *app_version);
int link_foreach_ready(mock_server *srv, const char *instance, link_visit fn, void *ud);

/* For a single-device biz: the most recently connected ready connection of the user that the
 * oplog's filters admit, or NULL. Its device id is copied to device. */
int link_pick_single(mock_server *srv, const oplog_rec *r, char *device, size_t n);

/* S9: the validator accepted (valid) or refused conn's user and session (a validator_cb). */
void link_validated(mock_server *srv, void *conn, int valid);

/* Sends r to every ready connection of its target that the filters admit; when only_device is
 * set, only to that device. Returns the number of connections it went to. */
int link_push_live(mock_server *srv, const oplog_rec *r, const char *only_device);

#endif
