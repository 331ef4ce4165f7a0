/* The client cache: one SQLite file (WAL) holding streams, sync points, undelivered oplogs, device id. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MPSYNC_STORE_H
#define MPSYNC_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/session.h"
#include "mpsync/mpsync.h"

#define MPS_STORE_FILE "mpsync.db"
#define MPS_STORE_SCHEMA_VERSION 6
/* A row number is its slot << 40 | a sequence number unique in the cache. A slot holds a
 * bizType's device and global streams, or one user's stream of it: a dispatch reads two slots.
 * Every oplog has a row number of its own; a wire batch is stored as one SQLite row keyed by its
 * first oplog's number, holding consecutive numbers (at most MPS_STORE_ROW_OPLOGS). */
#define MPS_STORE_ROW_SEQ_BITS 40
#define MPS_STORE_ROW_SEQ(row) ((row) & ((INT64_C(1) << MPS_STORE_ROW_SEQ_BITS) - 1))
#define MPS_STORE_ROW_OPLOGS 1024

typedef struct mps_store mps_store;

/* A message assembled from the cache: consecutive oplogs of one stream with one delivery count. */
typedef struct mps_msg {
  char biz[32];
  int kind;
  char *target;
  char *user_id;     /* target for user streams, "" otherwise */
  int64_t stream;    /* the cache's id of (kind, biz, target) */
  int64_t first_row, last_row;
  unsigned delivery; /* the number this dispatch will be: deliveries so far + 1 */
  int has_more;
  size_t count;
  mpsync_oplog *oplogs; /* payload and third_msg_id point into bytes */
  mps_buf bytes;        /* every payload and third id of the message, NUL-terminated */
  size_t *offsets;      /* where each oplog's payload starts in bytes */
  char id[64];
} mps_msg;

void mps_msg_free(mps_msg *m);

/* Opens or creates DIR/mpsync.db (0600, directory 0700), migrating old schemas. A corrupt cache
 * is moved aside and replaced by an empty one (errbuf then explains, and the call succeeds).
 * errbuf gets the reason on failure. Returns 0 or MPSYNC_ESTORE / MPSYNC_ENOMEM. */
int mps_store_open(const char *dir, mps_store **out, char *errbuf, size_t errlen);
void mps_store_close(mps_store *st);
/* Non-zero when open found the cache corrupt, moved it aside (mpsync.db.corrupt) and started a
 * fresh one; errbuf of the open call said so. */
int mps_store_recovered(const mps_store *st);
/* 1 when the cache file was deleted, replaced, truncated or overwritten since it was opened (why
 * then says which); 0 when it is intact as far as a stat and its header tell. */
int mps_store_lost(mps_store *st, char *why, size_t len);
/* Replaces a lost cache by an empty one (same key; what is left moved aside to mpsync.db.lost;
 * row numbers never reused). The device id must be written again (mps_store_device_id). 0 or
 * MPSYNC_ESTORE with err. */
int mps_store_rebuild(mps_store *st, char *err, size_t errlen);

/* Encryption at rest (opt-in): call once after open, with the app's 32-byte key or NULL. A cache
 * written with a key refuses to open without it or with another (MPSYNC_ECONFIG); payloads that
 * fail authentication are dropped, counted as "dropped_tampered", never dispatched. */
int mps_store_use_key(mps_store *st, const uint8_t *key, size_t key_len, char *err, size_t errlen);

/* The install's device id: the persisted one, else override, else a new random one (C17). */
int mps_store_device_id(mps_store *st, const char *override, char *out, size_t len);
/* 1 when this install's files are a copy of another's (a backup restored onto a second phone):
 * the device id file is not the one the id was first written to (device and inode differ);
 * 0 when it is, or when that was never recorded (a cache older than the record). */
int mps_store_device_id_copied(mps_store *st);
/* Gives the install a new random device id (persisted, and recorded as this install's own). */
int mps_store_new_device_id(mps_store *st, char *out, size_t len);

/* Sync points of the streams to announce: device and global streams, and user streams of user
 * (none when user is NULL). kind_filter 0 = all kinds. Free with mps_store_points_free. */
int mps_store_points(mps_store *st, const char *user, int kind_filter, mps_stream_point ***out,
                     size_t *n);
void mps_store_points_free(mps_stream_point **p, size_t n);

/* 1 when the cache may take b's stream: it is known already, or fewer than max streams would be
 * announced for user (the mps_store_points set); 0 when a new stream would pass max; or
 * MPSYNC_ESTORE. The bound keeps every Hello under the frame limit whatever a server sends. */
int mps_store_stream_admits(mps_store *st, const mps_batch *b, const char *user, size_t max);
/* Forgets the newest stream announced for user whose bizType keep() declines, with its cached
 * oplogs and delivery counts; biz gets its bizType. 1 when one was forgotten, 0 when every stream
 * is kept, or MPSYNC_ESTORE. */
int mps_store_forget_newest_stream(mps_store *st, const char *user,
                                   int (*keep)(void *ud, const char *biz), void *ud, char *biz,
                                   size_t biz_len);

/* Stores a batch in one transaction: a reset (new epoch) first restarts the stream's sync point at
 * 0; then oplogs above the sync point are inserted (others are duplicates and skipped, C8), and
 * the sync point advances. *point gets the new sync point, *inserted the count of new oplogs. */
/* At most room new oplogs are taken (C18); *cut is set when some were left out, and the sync
 * point then stops at the last one stored. */
int mps_store_commit_batch(mps_store *st, const mps_batch *b, size_t room, uint64_t *point,
                           size_t *inserted, int *cut);

/* Drops expired oplogs of biz visible to user (C14) and oplogs past max_deliveries (C6), then
 * assembles the next message of biz visible to user (NULL = no user). *out NULL when there is
 * nothing to deliver. The returned message's rows are marked delivered once more. Other users'
 * cached oplogs are never read: the cost does not depend on them. */
int mps_store_next_message(mps_store *st, const char *biz, const char *user, int64_t now_wall_ms,
                           unsigned max_oplogs, unsigned max_deliveries, mps_msg **out);

/* Deletes the rows of a delivered message (C5). */
int mps_store_delete_message(mps_store *st, const mps_msg *m);
/* Takes back the delivery count next_message gave m: it was withdrawn before any callback saw it. */
int mps_store_undo_delivery(mps_store *st, const mps_msg *m);

/* Counters kept in the cache: "dropped_expired" (C14), "dropped_undelivered" (C6),
 * "dropped_tampered" (failed authentication), "stream_resets" (epochs changed under us),
 * "lost_oplogs" (pruned by the server's retention before this device got them). */
int64_t mps_store_counter(mps_store *st, const char *name);

/* Small persistent settings (learned heartbeat intervals, ...): def when absent. */
int64_t mps_store_setting(mps_store *st, const char *key, int64_t def);
int mps_store_set_setting(mps_store *st, const char *key, int64_t value);

/* Number of cached oplogs awaiting report (kept in memory, exact). */
int64_t mps_store_pending(mps_store *st);
/* Checkpoints done by the cache's background thread so far; -1 when it could not start (SQLite
 * then checkpoints inside commits, as by default). */
int64_t mps_store_checkpoints(mps_store *st);

/* Deletes a user's cached oplogs and sync points ("forget me"), or everything but the device id. */
int mps_store_purge_user(mps_store *st, const char *user);
int mps_store_purge_all(mps_store *st);

const char *mps_store_errmsg(mps_store *st);

/* The cache's SQLite connection, for tests and the benchmark to observe the work its statements
 * do (sqlite3_trace_v2, sqlite3_stmt_status). Only on the thread that uses the cache; the store
 * keeps owning it. */
struct sqlite3 *mps_store_db(mps_store *st);

/* The TLS session a client resumes on its next link (issue 18), one at a time, with the peer
 * (mps_tls_peer_id) it was made with. Sealed like payloads when the cache has a key: it holds
 * the session's master secret. A purge of either kind forgets it. */
int mps_store_tls_session_put(mps_store *st, const char *peer, const uint8_t *blob, size_t len);
/* 1 and *blob (malloc'd, to free()) when a session made with peer is kept; 0 when none is (one
 * made with another peer is forgotten); MPSYNC_ESTORE when one is kept but its seal does not
 * open (tampered, or sealed under another key), which forgets it too. */
int mps_store_tls_session_get(mps_store *st, const char *peer, uint8_t **blob, size_t *len);
int mps_store_tls_session_forget(mps_store *st);

#endif
