/* The mock server's state in one SQLite file (SPEC S10): configs, oplogs, streams, points, stats. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MOCK_STORE_H
#define MOCK_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "biz.h"

typedef struct store store;

/* One oplog as stored; strings point into the caller's memory or into a row being visited. */
typedef struct oplog_rec {
  const char *instance_id;
  int kind; /* Mpsync__Wire__StreamKind */
  const char *biz_type;
  const char *target;
  uint64_t id;
  const uint8_t *payload;
  size_t payload_len;
  int binary;
  const char *third_msg_id;
  int64_t create_ms;
  int64_t valid_end_ms; /* 0 = no end */
  const char *os_type;  /* "" = any */
  const char *app_min;  /* "" = no bound */
  const char *app_max;
  const char *assigned_device; /* single-device user biz: the device it went to, "" = none yet */
  uint64_t epoch;              /* the stream's epoch when the oplog was stored (live pushes) */
} oplog_rec;

/* A stream's counters: the epoch changes when the stream is reset and its ids restart at 1. */
typedef struct stream_info {
  uint64_t last_id;        /* largest id assigned in this epoch, 0 = none */
  uint64_t epoch;          /* random, non-zero, 63 bits */
  uint64_t pruned_through; /* largest id retention removed, 0 = none */
} stream_info;

/* Every function returns 0 on success and -1 on an SQLite failure (logged) unless noted. */
int store_open(store **out, const char *dir, char *err, size_t n);
void store_close(store *st);

int store_begin(store *st);
int store_commit(store *st);
/* Commits wait for the disk (FULL, the default) or only for the OS (NORMAL): a NORMAL commit
 * survives a crash of the server, and only a power loss may undo it. Outside transactions only. */
int store_set_durable(store *st, int durable);
void store_rollback(store *st);

int store_biz_put(store *st, const biz_config *c);
/* The config for (instance or the wildcard, biz): 1 found, 0 not found, -1 error. */
int store_biz_find(store *st, const char *instance, const char *biz, biz_config *out);
/* Exactly the row (instance_id, biz), "" being the wildcard row: 1, 0 or -1. */
int store_biz_get(store *st, const char *instance_id, const char *biz, biz_config *out);
/* 1 deleted, 0 not found, -1 error. */
int store_biz_delete(store *st, const char *instance_id, const char *biz);
typedef int (*biz_visit)(void *ud, const biz_config *c);
/* Visits the configs in force for instance (its own rows shadow wildcard rows of the same
 * bizType); instance NULL visits every row. A visitor returning non-zero stops the walk. */
int store_biz_foreach(store *st, const char *instance, biz_visit fn, void *ud);

/* 1 when the idempotency key exists, 0 when it was added now. */
int store_idem_claim(store *st, const char *instance, const char *biz, const char *token,
                     const char *third_msg_id, int64_t now_ms);
/* Takes the next oplog id of the stream (ids start at 1 and only ever increase within an epoch);
 * a stream seen for the first time gets a random epoch. */
int store_next_id(store *st, const char *instance, int kind, const char *biz, const char *target,
                  uint64_t *id, uint64_t *epoch);
/* The stream's counters: 1 found, 0 no such stream, -1 error. With create, a missing stream is
 * created empty with a fresh epoch (and 1 is returned). */
int store_stream_get(store *st, const char *instance, int kind, const char *biz,
                     const char *target, int create, stream_info *out);
/* Starts a new epoch of the stream: ids restart at 1; its oplogs, acked points and idempotency keys
 * are deleted. Call inside a transaction. */
int store_stream_reset(store *st, const char *instance, int kind, const char *biz,
                       const char *target, uint64_t *epoch);
int store_oplog_insert(store *st, const oplog_rec *r);
typedef int (*oplog_visit)(void *ud, const oplog_rec *r);
/* Visits the stream's stored oplogs with id > after, ascending (or descending when desc). */
int store_oplog_foreach(store *st, const char *instance, int kind, const char *biz,
                        const char *target, uint64_t after, int desc, oplog_visit fn, void *ud);
/* Marks an oplog of a single-device biz as given to device (only if it was unassigned). */
int store_oplog_assign(store *st, const oplog_rec *r, const char *device);

int store_acked_get(store *st, const char *instance, const char *device, int kind,
                    const char *biz, const char *target, uint64_t *point);
/* Raises the acked point to point if higher; *old gets the previous value. */
int store_acked_raise(store *st, const char *instance, const char *device, int kind,
                      const char *biz, const char *target, uint64_t point, uint64_t *old);

int store_stats_add(store *st, const char *instance, int kind, const char *target,
                    int64_t pushes, int64_t arrivals, int64_t now_ms);
int store_stats_get(store *st, const char *instance, int kind, const char *target,
                    int64_t since_ms, int64_t *pushes, int64_t *arrivals);

int store_record_add(store *st, const char *instance, const char *operator_, const char *action,
                     const char *detail, int64_t now_ms);

/* Deletes oplogs, idempotency keys, stats and records older than before_ms; *pruned (may be NULL)
 * gets the number of oplogs deleted. Each stream remembers the last id it lost this way. */
int store_prune(store *st, int64_t before_ms, int64_t *pruned);

/* Raw handle for read-only queries of the admin API. */
struct sqlite3 *store_db(store *st);

#endif
