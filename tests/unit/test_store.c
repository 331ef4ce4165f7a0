/* Unit tests of the client cache: file mode, batch commits, duplicates, grouping, limits, restart. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "check.h"
#include "store/store.h"

static char dir[] = "/tmp/mpsync-store-XXXXXX";

static mps_store *open_store(void) {
  mps_store *st;
  char err[256];
  CHECK_EQ(mps_store_open(dir, &st, err, sizeof err), 0);
  return st;
}

static uint64_t batch_epoch = 7;
static int batch_reset;
static size_t batch_room = SIZE_MAX;
static const char *batch_payload = "payload";
static int batch_cut;
static const int64_t *batch_valid_ends; /* per oplog when set, else commit's valid_end */

static void commit(mps_store *st, int kind, const char *biz, const char *target, uint64_t first,
                   size_t n, int64_t valid_end, uint64_t *point, size_t *inserted) {
  mps_oplog_msg ops[32], *opp[32];
  char third[32][16];
  CHECK(n <= 32);
  for (size_t i = 0; i < n; i++) {
    mps_oplog_msg o = MPSYNC__WIRE__OPLOG__INIT;
    ops[i] = o;
    ops[i].id = first + i;
    ops[i].payload.data = (uint8_t *)batch_payload;
    ops[i].payload.len = strlen(batch_payload);
    snprintf(third[i], sizeof third[i], "t%llu", (unsigned long long)(first + i));
    ops[i].third_msg_id = third[i];
    ops[i].valid_time_end_ms = batch_valid_ends ? batch_valid_ends[i] : valid_end;
    opp[i] = &ops[i];
  }
  mps_batch b = MPSYNC__WIRE__OPLOG_BATCH__INIT;
  b.kind = kind;
  b.biz_type = (char *)biz;
  b.target = (char *)target;
  b.oplogs = opp;
  b.n_oplogs = n;
  b.epoch = batch_epoch;
  b.reset = batch_reset;
  CHECK_EQ(mps_store_commit_batch(st, &b, batch_room, point, inserted, &batch_cut), 0);
}

#define USER MPSYNC__WIRE__STREAM_KIND__STREAM_USER
#define DEVICE MPSYNC__WIRE__STREAM_KIND__STREAM_DEVICE

static void test_file_mode_and_device_id(void) {
  /* Whatever the process umask, nothing the cache creates is readable by others. */
  mode_t old = umask(0);
  char sub[300];
  snprintf(sub, sizeof sub, "%s/created-here", dir);
  mps_store *st;
  char err[256];
  CHECK_EQ(mps_store_open(sub, &st, err, sizeof err), 0);
  uint64_t point;
  size_t inserted;
  commit(st, DEVICE, "MODE", "d", 1, 1, 0, &point, &inserted);
  char idbuf[64];
  CHECK_EQ(mps_store_device_id(st, NULL, idbuf, sizeof idbuf), 0);
  struct stat sb;
  CHECK_EQ(stat(sub, &sb), 0);
  CHECK_EQ(sb.st_mode & 0777, 0700);
  const char *files[] = {MPS_STORE_FILE, MPS_STORE_FILE "-wal", MPS_STORE_FILE "-shm", "device_id"};
  for (size_t i = 0; i < 4; i++) {
    char f[400];
    snprintf(f, sizeof f, "%s/%s", sub, files[i]);
    CHECK_EQ(stat(f, &sb), 0);
    if ((sb.st_mode & 0777) != 0600) fprintf(stderr, "%s has mode %o\n", f, sb.st_mode & 0777);
    CHECK_EQ(sb.st_mode & 0777, 0600);
  }
  mps_store_close(st);
  umask(old);
  st = open_store();
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, MPS_STORE_FILE);
  CHECK_EQ(stat(path, &sb), 0);
  CHECK_EQ(sb.st_mode & 0777, 0600);
  char id1[64], id2[64];
  CHECK_EQ(mps_store_device_id(st, NULL, id1, sizeof id1), 0);
  CHECK(strlen(id1) >= 24);
  mps_store_close(st);
  st = open_store();
  /* Persisted: a later override does not change an installed device's id (C17). */
  CHECK_EQ(mps_store_device_id(st, "other", id2, sizeof id2), 0);
  CHECK_STR(id1, id2);
  mps_store_close(st);
}

static void test_duplicates_never_cached_twice(void) {
  mps_store *st = open_store();
  uint64_t point;
  size_t inserted;
  commit(st, DEVICE, "DUP", "d", 1, 3, 0, &point, &inserted);
  CHECK_EQ(point, 3);
  CHECK_EQ(inserted, 3);
  commit(st, DEVICE, "DUP", "d", 2, 4, 0, &point, &inserted); /* 2..5: 2,3 seen already */
  CHECK_EQ(point, 5);
  CHECK_EQ(inserted, 2);
  mps_msg *m;
  CHECK_EQ(mps_store_next_message(st, "DUP", NULL, 0, 100, 6, &m), 0);
  CHECK_EQ(m->count, 5);
  for (size_t i = 0; i < 5; i++) CHECK_EQ(m->oplogs[i].id, i + 1);
  CHECK_EQ(mps_store_delete_message(st, m), 0);
  mps_msg_free(m);
  /* Reported and deleted; the server sending them again changes nothing (C8). */
  commit(st, DEVICE, "DUP", "d", 1, 5, 0, &point, &inserted);
  CHECK_EQ(inserted, 0);
  CHECK_EQ(mps_store_next_message(st, "DUP", NULL, 0, 100, 6, &m), 0);
  CHECK(m == NULL);
  mps_store_close(st);
}

static void test_grouping_and_has_more(void) {
  mps_store *st = open_store();
  uint64_t point;
  size_t inserted;
  commit(st, DEVICE, "GRP", "d", 1, 5, 0, &point, &inserted);
  mps_msg *m;
  CHECK_EQ(mps_store_next_message(st, "GRP", NULL, 0, 2, 6, &m), 0);
  CHECK_EQ(m->count, 2);
  CHECK(m->has_more);
  CHECK_EQ(m->delivery, 1);
  /* Not reported: the same two come back, counted as the second delivery. */
  mps_msg *again;
  CHECK_EQ(mps_store_next_message(st, "GRP", NULL, 0, 2, 6, &again), 0);
  CHECK_EQ(again->count, 2);
  CHECK_EQ(again->oplogs[0].id, 1);
  CHECK_EQ(again->delivery, 2);
  CHECK(strcmp(m->id, again->id) != 0);
  mps_store_delete_message(st, again);
  mps_msg_free(m);
  mps_msg_free(again);
  CHECK_EQ(mps_store_next_message(st, "GRP", NULL, 0, 10, 6, &m), 0);
  CHECK_EQ(m->count, 3);
  CHECK_EQ(m->oplogs[0].id, 3);
  CHECK(!m->has_more);
  mps_store_delete_message(st, m);
  mps_msg_free(m);
  mps_store_close(st);
}

static void test_gives_up_after_max_deliveries(void) {
  mps_store *st = open_store();
  uint64_t point;
  size_t inserted;
  commit(st, DEVICE, "MAX", "d", 1, 1, 0, &point, &inserted);
  commit(st, DEVICE, "MAX", "d", 2, 1, 0, &point, &inserted);
  int64_t dropped = mps_store_counter(st, "dropped_undelivered");
  mps_msg *m;
  for (unsigned i = 1; i <= 3; i++) {
    CHECK_EQ(mps_store_next_message(st, "MAX", NULL, 0, 1, 3, &m), 0);
    CHECK_EQ(m->oplogs[0].id, 1);
    CHECK_EQ(m->delivery, i);
    mps_msg_free(m);
  }
  CHECK_EQ(mps_store_next_message(st, "MAX", NULL, 0, 1, 3, &m), 0);
  CHECK_EQ(m->oplogs[0].id, 2);
  CHECK_EQ(mps_store_counter(st, "dropped_undelivered"), dropped + 1);
  mps_store_delete_message(st, m);
  mps_msg_free(m);
  mps_store_close(st);
}

static void test_expired_dropped(void) {
  mps_store *st = open_store();
  uint64_t point;
  size_t inserted;
  commit(st, DEVICE, "EXP", "d", 1, 1, 1000, &point, &inserted);
  commit(st, DEVICE, "EXP", "d", 2, 1, 5000, &point, &inserted);
  mps_msg *m;
  CHECK_EQ(mps_store_next_message(st, "EXP", NULL, 2000, 10, 6, &m), 0);
  CHECK_EQ(m->count, 1);
  CHECK_EQ(m->oplogs[0].id, 2);
  mps_store_delete_message(st, m);
  mps_msg_free(m);
  mps_store_close(st);
}

/* Each bizType owns a range of row numbers: interleaved arrivals stay apart, in order, and the
 * expiry sweep of one bizType never touches another's oplogs. */
static void test_biz_types_kept_apart(void) {
  mps_store *st = open_store();
  uint64_t point;
  size_t inserted;
  commit(st, DEVICE, "APART-A", "d", 1, 3, 0, &point, &inserted);
  commit(st, DEVICE, "APART-B", "d", 1, 2, 1000, &point, &inserted);
  commit(st, DEVICE, "APART-C", "d", 1, 1, 0, &point, &inserted);
  commit(st, DEVICE, "APART-A", "d", 4, 2, 0, &point, &inserted);
  int64_t pending = mps_store_pending(st);
  mps_msg *m;
  CHECK_EQ(mps_store_next_message(st, "APART-A", NULL, 2000, 10, 6, &m), 0);
  CHECK_EQ(m->count, 5);
  for (size_t i = 0; i < 5; i++) CHECK_EQ(m->oplogs[i].id, i + 1);
  CHECK_EQ(mps_store_pending(st), pending); /* B's expired oplogs wait for B's own sweep */
  CHECK_EQ(mps_store_delete_message(st, m), 0);
  mps_msg_free(m);
  CHECK_EQ(mps_store_next_message(st, "APART-B", NULL, 500, 10, 6, &m), 0);
  CHECK_EQ(m->count, 2);
  CHECK_STR(m->biz, "APART-B");
  mps_msg_free(m);
  int64_t expired = mps_store_counter(st, "dropped_expired");
  CHECK_EQ(mps_store_next_message(st, "APART-B", NULL, 2000, 10, 6, &m), 0);
  CHECK(m == NULL); /* C's oplog, stored after B's, is C's alone */
  CHECK_EQ(mps_store_counter(st, "dropped_expired"), expired + 2);
  CHECK_EQ(mps_store_next_message(st, "NEVER-SEEN", NULL, 0, 10, 6, &m), 0);
  CHECK(m == NULL);
  mps_store_close(st);
}

static void test_user_isolation(void) {
  mps_store *st = open_store();
  uint64_t point;
  size_t inserted;
  commit(st, USER, "CHAT", "alice", 1, 2, 0, &point, &inserted);
  commit(st, USER, "CHAT", "bob", 1, 1, 0, &point, &inserted);
  mps_msg *m;
  CHECK_EQ(mps_store_next_message(st, "CHAT", NULL, 0, 10, 6, &m), 0);
  CHECK(m == NULL); /* nobody bound: no user data */
  CHECK_EQ(mps_store_next_message(st, "CHAT", "bob", 0, 10, 6, &m), 0);
  CHECK_EQ(m->count, 1);
  CHECK_STR(m->user_id, "bob");
  mps_store_delete_message(st, m);
  mps_msg_free(m);
  CHECK_EQ(mps_store_next_message(st, "CHAT", "bob", 0, 10, 6, &m), 0);
  CHECK(m == NULL);
  CHECK_EQ(mps_store_next_message(st, "CHAT", "alice", 0, 10, 6, &m), 0);
  CHECK_EQ(m->count, 2);
  CHECK_STR(m->user_id, "alice");
  mps_msg_free(m);
  /* Sync points announced for a user: his own and device streams, never another user's. */
  mps_stream_point **pts;
  size_t n;
  CHECK_EQ(mps_store_points(st, "bob", 0, &pts, &n), 0);
  for (size_t i = 0; i < n; i++)
    CHECK(pts[i]->kind != USER || strcmp(pts[i]->target, "bob") == 0);
  mps_store_points_free(pts, n);
  mps_store_close(st);
}

static void test_restart_keeps_everything(void) {
  mps_store *st = open_store();
  uint64_t point;
  size_t inserted;
  commit(st, DEVICE, "RST", "d", 1, 2, 0, &point, &inserted);
  mps_store_close(st);
  st = open_store();
  mps_stream_point **pts;
  size_t n;
  CHECK_EQ(mps_store_points(st, NULL, DEVICE, &pts, &n), 0);
  int found = 0;
  for (size_t i = 0; i < n; i++)
    if (strcmp(pts[i]->biz_type, "RST") == 0) found = pts[i]->sync_point == 2;
  CHECK(found);
  mps_store_points_free(pts, n);
  mps_msg *m;
  CHECK_EQ(mps_store_next_message(st, "RST", NULL, 0, 10, 6, &m), 0);
  CHECK_EQ(m->count, 2);
  mps_msg_free(m);
  mps_store_close(st);
}

/* A stream reset on the server: new epoch, ids from 1 again; old cached data stays deliverable. */
static void test_epoch_reset(void) {
  mps_store *st = open_store();
  uint64_t point;
  size_t inserted;
  batch_epoch = 100;
  commit(st, DEVICE, "EPO", "d", 1, 3, 0, &point, &inserted);
  CHECK_EQ(point, 3);
  batch_epoch = 200;
  batch_reset = 1;
  commit(st, DEVICE, "EPO", "d", 1, 2, 0, &point, &inserted);
  batch_reset = 0;
  CHECK_EQ(inserted, 2); /* ids 1 and 2 again, but of the new epoch: not duplicates */
  CHECK_EQ(point, 2);
  CHECK_EQ(mps_store_counter(st, "stream_resets"), 1);
  mps_msg *m;
  CHECK_EQ(mps_store_next_message(st, "EPO", NULL, 0, 100, 6, &m), 0);
  CHECK_EQ(m->count, 3); /* the old epoch's three first, as one group */
  mps_store_delete_message(st, m);
  mps_msg_free(m);
  CHECK_EQ(mps_store_next_message(st, "EPO", NULL, 0, 100, 6, &m), 0);
  CHECK_EQ(m->count, 2);
  CHECK_EQ(m->oplogs[1].id, 2);
  mps_store_delete_message(st, m);
  mps_msg_free(m);
  /* Replayed ids of the current epoch are still duplicates. */
  commit(st, DEVICE, "EPO", "d", 1, 2, 0, &point, &inserted);
  CHECK_EQ(inserted, 0);
  batch_epoch = 7;
  mps_store_close(st);
}

/* A stream first stored with epoch 0 ("never told one": a v1 cache, or a server without epochs)
 * takes the epoch of the server's next batch and keeps its sync point; a later batch in yet
 * another epoch is then seen as the reset it is, and its ids from 1 are stored (issue 12). */
static void test_epoch_zero_stream_takes_server_epoch(void) {
  mps_store *st = open_store();
  uint64_t point;
  size_t inserted;
  int64_t resets = mps_store_counter(st, "stream_resets");
  batch_epoch = 0;
  commit(st, DEVICE, "EPO0", "d", 1, 3, 0, &point, &inserted);
  batch_epoch = 55;
  commit(st, DEVICE, "EPO0", "d", 4, 2, 0, &point, &inserted);
  CHECK_EQ(inserted, 2); /* the point is taken as it is: no reset */
  CHECK_EQ(point, 5);
  CHECK_EQ(mps_store_counter(st, "stream_resets"), resets);
  mps_stream_point **pts;
  size_t n;
  uint64_t announced = 0;
  CHECK_EQ(mps_store_points(st, NULL, DEVICE, &pts, &n), 0);
  for (size_t i = 0; i < n; i++)
    if (strcmp(pts[i]->biz_type, "EPO0") == 0) announced = pts[i]->epoch;
  mps_store_points_free(pts, n);
  CHECK_EQ(announced, 55); /* the next Hello names the server's epoch */
  batch_epoch = 66;
  commit(st, DEVICE, "EPO0", "d", 1, 2, 0, &point, &inserted);
  CHECK_EQ(inserted, 2); /* ids 1 and 2 of the new epoch are new oplogs */
  CHECK_EQ(point, 2);
  CHECK_EQ(mps_store_counter(st, "stream_resets"), resets + 1);
  batch_epoch = 7;
  mps_msg *m;
  CHECK_EQ(mps_store_next_message(st, "EPO0", NULL, 0, 100, 6, &m), 0);
  CHECK_EQ(m->count, 3); /* epoch 0's oplogs and epoch 55's are never one message */
  CHECK_EQ(mps_store_delete_message(st, m), 0);
  mps_msg_free(m);
  CHECK_EQ(mps_store_next_message(st, "EPO0", NULL, 0, 100, 6, &m), 0);
  CHECK_EQ(m->count, 2);
  CHECK_EQ(m->oplogs[0].id, 4);
  CHECK_EQ(mps_store_delete_message(st, m), 0);
  mps_msg_free(m);
  CHECK_EQ(mps_store_next_message(st, "EPO0", NULL, 0, 100, 6, &m), 0);
  CHECK_EQ(m->count, 2);
  CHECK_EQ(m->oplogs[0].id, 1);
  CHECK_EQ(mps_store_delete_message(st, m), 0);
  mps_msg_free(m);
  mps_store_close(st);
}

/* The cache's work counted in SQLite virtual-machine steps: unlike time, the count does not move
 * with the machine's load, and it grows with every row a statement walks. */
static uint64_t vm_steps;

static int count_steps(unsigned type, void *ctx, void *stmt, void *x) {
  (void)type;
  (void)ctx;
  (void)x;
  vm_steps += (uint64_t)sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_VM_STEP, 1);
  return 0;
}

/* Call right after open: the counters of the cache's statements then start at zero. */
static void count_work(mps_store *st) {
  CHECK_EQ(sqlite3_trace_v2(mps_store_db(st), SQLITE_TRACE_PROFILE, count_steps, NULL), SQLITE_OK);
}

/* The work of one mps_store_next_message call; *out gets its message. */
static uint64_t next_work(mps_store *st, const char *biz, const char *user, int64_t now,
                          unsigned max_oplogs, mps_msg **out) {
  vm_steps = 0;
  CHECK_EQ(mps_store_next_message(st, biz, user, now, max_oplogs, 6, out), 0);
  return vm_steps;
}

/* Issue 12: a dispatch walked every cached oplog of other users that sat before the bound user's
 * in the bizType's order. It must cost the same with 4000 of them as with none, and still never
 * hand one of them over (C9) nor change the order of the visible ones (C4). */
static void test_next_message_cost_ignores_foreign_users(void) {
  mps_store *st = open_store();
  count_work(st);
  uint64_t point;
  size_t inserted;
  commit(st, USER, "FGN-NONE", "me", 1, 3, 0, &point, &inserted);
  commit(st, DEVICE, "FGN", "d", 1, 1, 0, &point, &inserted);
  for (uint64_t i = 0; i < 125; i++)
    commit(st, USER, "FGN", "other", 1 + i * 32, 32, 0, &point, &inserted);
  commit(st, DEVICE, "FGN", "d", 2, 1, 0, &point, &inserted);
  commit(st, USER, "FGN", "me", 1, 3, 0, &point, &inserted);
  mps_msg *m;
  uint64_t alone = next_work(st, "FGN-NONE", "me", 0, 10, &m);
  CHECK_EQ(m->count, 3);
  mps_msg_free(m);
  /* The device's two oplogs first, as one message: rows this user cannot see do not split it. */
  uint64_t first = next_work(st, "FGN", "me", 0, 10, &m);
  CHECK(m->kind == DEVICE && m->count == 2 && m->oplogs[1].id == 2 && m->has_more);
  CHECK_EQ(mps_store_delete_message(st, m), 0);
  mps_msg_free(m);
  uint64_t mine = next_work(st, "FGN", "me", 0, 10, &m);
  CHECK_EQ(m->count, 3);
  CHECK_STR(m->user_id, "me");
  CHECK_EQ(m->oplogs[2].id, 3);
  CHECK(!m->has_more);
  CHECK_EQ(mps_store_delete_message(st, m), 0);
  mps_msg_free(m);
  fprintf(stderr, "vm steps per dispatch: alone %llu, behind 4000 foreign %llu %llu\n",
          (unsigned long long)alone, (unsigned long long)first, (unsigned long long)mine);
  CHECK(first < 2 * alone && mine < 2 * alone);
  CHECK_EQ(mps_store_next_message(st, "FGN", "me", 0, 10, 6, &m), 0);
  CHECK(m == NULL);
  CHECK_EQ(mps_store_next_message(st, "FGN", NULL, 0, 10, 6, &m), 0);
  CHECK(m == NULL); /* nobody bound: no user's data */
  CHECK_EQ(mps_store_next_message(st, "FGN", "other", 0, 10, 6, &m), 0);
  CHECK_EQ(m->count, 10); /* the other user's oplogs wait for him, in order */
  CHECK_STR(m->user_id, "other");
  CHECK_EQ(m->oplogs[0].id, 1);
  mps_msg_free(m);
  mps_store_close(st);
}

/* Delivery counts whose rows are all gone, by the cache's own SQL. */
static int64_t orphan_attempts(mps_store *st) {
  sqlite3_stmt *q;
  CHECK_EQ(sqlite3_prepare_v2(mps_store_db(st),
                              "SELECT count(*) FROM attempts a WHERE NOT EXISTS (SELECT 1 FROM"
                              " oplogs o WHERE o.stream=a.stream AND o.row <= a.last_row"
                              " AND o.row + o.n > a.first_row)",
                              -1, &q, NULL),
           SQLITE_OK);
  CHECK_EQ(sqlite3_step(q), SQLITE_ROW);
  int64_t n = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  return n;
}

/* Expires the head of biz (delivered once at time 0) at time 2000: the next message is the
 * second oplog, delivered for the first time. Returns the work of that dispatch. */
static uint64_t expire_delivered_head(mps_store *st, const char *biz) {
  uint64_t point;
  size_t inserted;
  commit(st, DEVICE, biz, "d", 1, 1, 1000, &point, &inserted);
  commit(st, DEVICE, biz, "d", 2, 1, 0, &point, &inserted);
  mps_msg *m;
  next_work(st, biz, NULL, 0, 1, &m);
  CHECK_EQ(m->oplogs[0].id, 1);
  mps_msg_free(m);
  int64_t expired = mps_store_counter(st, "dropped_expired");
  uint64_t work = next_work(st, biz, NULL, 2000, 1, &m);
  CHECK_EQ(mps_store_counter(st, "dropped_expired"), expired + 1);
  CHECK_EQ(m->oplogs[0].id, 2);
  CHECK_EQ(m->delivery, 1);
  CHECK_EQ(mps_store_delete_message(st, m), 0);
  mps_msg_free(m);
  return work;
}

/* Issue 12: when a dispatch dropped an expired oplog it also swept every delivery count in the
 * cache. The sweep must cost what was dropped, however many messages of other bizTypes and users
 * are out and unreported, and still leave no count without rows. */
static void test_expired_cleanup_proportional_to_deleted(void) {
  mps_store *st = open_store();
  count_work(st);
  uint64_t quiet = expire_delivered_head(st, "XCLEAN-A");
  uint64_t point;
  size_t inserted;
  char user[32];
  for (int i = 0; i < 300; i++) {
    snprintf(user, sizeof user, "u%d", i);
    commit(st, USER, "XCLEAN-BUSY", user, 1, 1, 0, &point, &inserted);
    mps_msg *m;
    CHECK_EQ(mps_store_next_message(st, "XCLEAN-BUSY", user, 0, 10, 6, &m), 0);
    CHECK_EQ(m->delivery, 1);
    mps_msg_free(m);
  }
  uint64_t busy = expire_delivered_head(st, "XCLEAN-B");
  fprintf(stderr, "vm steps of a dispatch that drops an expired oplog: %llu, with 300 other"
                  " messages out: %llu\n",
          (unsigned long long)quiet, (unsigned long long)busy);
  CHECK(busy < 2 * quiet);
  CHECK_EQ(orphan_attempts(st), 0);
  mps_store_close(st);
}

/* The schema v1 shipped with, frozen here on purpose: migrations must keep what it holds. */
static const char v1_schema[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE streams(kind INTEGER NOT NULL, biz TEXT NOT NULL, target TEXT NOT NULL,"
    " epoch INTEGER NOT NULL DEFAULT 0, sync_point INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(kind, biz, target));"
    "CREATE TABLE oplogs(row INTEGER PRIMARY KEY AUTOINCREMENT, kind INTEGER NOT NULL,"
    " biz TEXT NOT NULL, target TEXT NOT NULL, oplog_id INTEGER NOT NULL, payload BLOB NOT NULL,"
    " is_binary INTEGER NOT NULL, third_msg_id TEXT NOT NULL, create_time INTEGER NOT NULL,"
    " valid_end INTEGER NOT NULL, deliveries INTEGER NOT NULL DEFAULT 0,"
    " UNIQUE(kind, biz, target, oplog_id));"
    "CREATE INDEX oplogs_by_biz ON oplogs(biz, row);";

/* Makes dir (a mkdtemp template) hold a cache of an old schema version with the given rows;
 * path gets its file. */
static void write_cache(char *dir, const char *schema, int version, const char *rows, char *path,
                        size_t path_len) {
  CHECK(mkdtemp(dir) != NULL);
  snprintf(path, path_len, "%s/%s", dir, MPS_STORE_FILE);
  sqlite3 *db;
  CHECK_EQ(sqlite3_open(path, &db), SQLITE_OK);
  CHECK_EQ(sqlite3_exec(db, schema, NULL, NULL, NULL), SQLITE_OK);
  CHECK_EQ(sqlite3_exec(db, rows, NULL, NULL, NULL), SQLITE_OK);
  char pragma[48];
  snprintf(pragma, sizeof pragma, "PRAGMA user_version=%d", version);
  CHECK_EQ(sqlite3_exec(db, pragma, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
}

static void write_v1_cache(char *dir, const char *rows, char *path, size_t path_len) {
  write_cache(dir, v1_schema, 1, rows, path, path_len);
}

/* The schema version a closed cache file was left at. */
static int file_version(const char *path) {
  sqlite3 *db;
  sqlite3_stmt *q;
  CHECK_EQ(sqlite3_open(path, &db), SQLITE_OK);
  CHECK_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL), SQLITE_OK);
  CHECK_EQ(sqlite3_step(q), SQLITE_ROW);
  int v = sqlite3_column_int(q, 0);
  sqlite3_finalize(q);
  sqlite3_close(db);
  return v;
}

static void remove_dir(const char *d) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", d);
  CHECK_EQ(system(cmd), 0);
}

/* A cache written by schema v1 opens, migrates, and keeps its data and row high-water mark. */
static void test_migration_from_v1(void) {
  char v1dir[] = "/tmp/mpsync-v1-XXXXXX";
  char path[256];
  write_v1_cache(v1dir,
                 "INSERT INTO streams VALUES(2, 'OLD', 'd', 9, 5);"
                 "INSERT INTO oplogs(row, kind, biz, target, oplog_id, payload, is_binary,"
                 " third_msg_id, create_time, valid_end) VALUES"
                 " (41, 2, 'OLD', 'd', 5, 'kept', 0, 't5', 0, 0),"
                 " (50, 2, 'OLD', 'd', 6, 'gone', 0, 't6', 0, 0);"
                 "DELETE FROM oplogs WHERE row=50;",
                 path, sizeof path);
  mps_store *st;
  char err[256];
  CHECK_EQ(mps_store_open(v1dir, &st, err, sizeof err), 0);
  mps_msg *m;
  CHECK_EQ(mps_store_next_message(st, "OLD", NULL, 0, 10, 6, &m), 0);
  CHECK_EQ(m->count, 1);
  CHECK_EQ(MPS_STORE_ROW_SEQ(m->first_row), 41);
  CHECK(memcmp(m->oplogs[0].payload, "kept", 4) == 0);
  CHECK_EQ(mps_store_delete_message(st, m), 0);
  mps_msg_free(m);
  uint64_t point;
  size_t inserted;
  batch_epoch = 9;
  commit(st, DEVICE, "OLD", "d", 7, 1, 0, &point, &inserted);
  batch_epoch = 7;
  CHECK_EQ(point, 7);
  CHECK_EQ(mps_store_next_message(st, "OLD", NULL, 0, 10, 6, &m), 0);
  CHECK_EQ(m->oplogs[0].id, 7);
  /* the new row is numbered above the deleted row 50: no id is ever reused */
  CHECK(MPS_STORE_ROW_SEQ(m->last_row) > 50);
  mps_msg_free(m);
  mps_store_close(st);
  CHECK_EQ(file_version(path), MPS_STORE_SCHEMA_VERSION);
  remove_dir(v1dir);
}

/* C6 across an upgrade: a message delivered 5 times under the old schema, where each row kept
 * its own count, gets its 6th and last delivery after the migration, then is given up. */
static void test_migration_keeps_delivery_counts(void) {
  char odir[] = "/tmp/mpsync-v1d-XXXXXX";
  char path[256];
  write_v1_cache(odir,
                 "INSERT INTO streams VALUES(2, 'CNT', 'd', 1, 3);"
                 "INSERT INTO oplogs(row, kind, biz, target, oplog_id, payload, is_binary,"
                 " third_msg_id, create_time, valid_end, deliveries) VALUES"
                 " (10, 2, 'CNT', 'd', 1, 'a', 0, 't1', 0, 0, 5),"
                 " (11, 2, 'CNT', 'd', 2, 'b', 0, 't2', 0, 0, 5),"
                 " (12, 2, 'CNT', 'd', 3, 'c', 0, 't3', 0, 0, 0);",
                 path, sizeof path);
  mps_store *st;
  char err[256];
  CHECK_EQ(mps_store_open(odir, &st, err, sizeof err), 0);
  mps_msg *m;
  CHECK_EQ(mps_store_next_message(st, "CNT", NULL, 0, 10, 6, &m), 0);
  CHECK_EQ(m->count, 2); /* never merged with the undelivered row 12 */
  CHECK_EQ(m->delivery, 6);
  mps_msg_free(m);
  mps_store_close(st);
  CHECK_EQ(mps_store_open(odir, &st, err, sizeof err), 0);
  CHECK_EQ(mps_store_next_message(st, "CNT", NULL, 0, 10, 6, &m), 0);
  CHECK_EQ(m->count, 1);
  CHECK_EQ(m->oplogs[0].id, 3);
  CHECK_EQ(m->delivery, 1);
  CHECK_EQ(mps_store_counter(st, "dropped_undelivered"), 2);
  mps_msg_free(m);
  mps_store_close(st);
  remove_dir(odir);
}

/* Delivery counts survive a restart (C6's crash-loop guard), and belong to their stream: another
 * user's message over the same rows starts at delivery 1. */
static void test_delivery_counts_per_stream_and_restart(void) {
  mps_store *st = open_store();
  uint64_t point;
  size_t inserted;
  commit(st, USER, "DCNT", "alice", 1, 1, 0, &point, &inserted);
  commit(st, USER, "DCNT", "bob", 1, 1, 0, &point, &inserted);
  commit(st, USER, "DCNT", "alice", 2, 1, 0, &point, &inserted);
  mps_msg *m;
  CHECK_EQ(mps_store_next_message(st, "DCNT", "alice", 0, 10, 6, &m), 0);
  CHECK_EQ(m->count, 2); /* bob's row between them is not alice's to see */
  CHECK_EQ(m->delivery, 1);
  mps_msg_free(m);
  mps_store_close(st);
  st = open_store();
  CHECK_EQ(mps_store_next_message(st, "DCNT", "alice", 0, 10, 6, &m), 0);
  CHECK_EQ(m->delivery, 2);
  mps_msg_free(m);
  CHECK_EQ(mps_store_next_message(st, "DCNT", "bob", 0, 10, 6, &m), 0);
  CHECK_EQ(m->count, 1);
  CHECK_STR(m->user_id, "bob");
  CHECK_EQ(m->delivery, 1);
  CHECK_EQ(mps_store_delete_message(st, m), 0);
  mps_msg_free(m);
  CHECK_EQ(mps_store_next_message(st, "DCNT", "alice", 0, 10, 6, &m), 0);
  CHECK_EQ(m->delivery, 3);
  CHECK_EQ(mps_store_delete_message(st, m), 0);
  mps_msg_free(m);
  CHECK_EQ(mps_store_next_message(st, "DCNT", "alice", 0, 10, 6, &m), 0);
  CHECK(m == NULL);
  mps_store_close(st);
}

/* Checkpoints run on the cache's own thread once the WAL passes SQLite's usual 1000 pages. */
static void test_checkpoints_run_in_the_background(void) {
  mps_store *st = open_store();
  CHECK(mps_store_checkpoints(st) >= 0); /* the thread is up */
  int64_t before = mps_store_pending(st);
  uint64_t point;
  size_t inserted;
  char big[201];
  memset(big, 'c', 200);
  big[200] = '\0';
  batch_payload = big;
  /* 32 oplogs of 200 B a commit: about 2 pages of WAL each. */
  for (uint64_t i = 0; i < 1200; i++)
    commit(st, DEVICE, "CKPT", "d", 1 + i * 32, 32, 0, &point, &inserted);
  batch_payload = "payload";
  int64_t done = 0;
  for (int waited = 0; waited < 5000 && (done = mps_store_checkpoints(st)) < 1; waited += 10)
    usleep(10000);
  CHECK(done >= 1);
  mps_msg *m;
  CHECK_EQ(mps_store_next_message(st, "CKPT", NULL, 0, 10, 6, &m), 0);
  CHECK_EQ(m->oplogs[0].id, 1);
  CHECK_EQ(m->oplogs[0].payload_len, 200);
  mps_msg_free(m);
  mps_store_close(st);
  st = open_store();
  CHECK_EQ(mps_store_pending(st), before + 1200 * 32);
  mps_store_close(st);
}

/* The tables v4 and v5 share, frozen here on purpose (as the v4 step leaves them): one row per
 * oplog. */
#define ROW_PER_OPLOG_TABLES                                                                   \
  "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"                              \
  "CREATE TABLE streams(id INTEGER PRIMARY KEY, kind INTEGER NOT NULL, biz TEXT NOT NULL,"     \
  " target TEXT NOT NULL, epoch INTEGER NOT NULL DEFAULT 0,"                                   \
  " sync_point INTEGER NOT NULL DEFAULT 0, UNIQUE(kind, biz, target));"                        \
  "CREATE TABLE oplogs(row INTEGER PRIMARY KEY, stream INTEGER NOT NULL,"                      \
  " epoch INTEGER NOT NULL, oplog_id INTEGER NOT NULL, payload BLOB NOT NULL,"                 \
  " is_binary INTEGER NOT NULL, third_msg_id TEXT NOT NULL, create_time INTEGER NOT NULL,"     \
  " valid_end INTEGER NOT NULL);"                                                              \
  "CREATE TABLE attempts(first_row INTEGER PRIMARY KEY, stream INTEGER NOT NULL,"              \
  " last_row INTEGER NOT NULL, deliveries INTEGER NOT NULL);"                                  \
  "CREATE INDEX oplogs_expiry ON oplogs(row >> 40, valid_end) WHERE valid_end > 0;"

/* The schema v4 shipped with. */
static const char v4_schema[] = ROW_PER_OPLOG_TABLES
    "CREATE TABLE bizs(slot INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);";

/* A v4 cache migrates to v5 keeping rows, delivery counts and row numbers, and its dispatches
 * then cost the same behind another user's 2000 cached oplogs as with none (issue 12). */
static void test_migration_from_v4(void) {
  char odir[] = "/tmp/mpsync-v4-XXXXXX";
  char path[256];
  write_cache(odir, v4_schema, 4,
              "INSERT INTO bizs VALUES(1, 'OLD4'), (2, 'ALONE4');"
              "INSERT INTO streams VALUES(1, 1, 'OLD4', 'other', 5, 2000),"
              " (2, 1, 'OLD4', 'me', 5, 2), (3, 1, 'ALONE4', 'me', 5, 2);"
              "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)"
              " INSERT INTO oplogs SELECT (1 << 40) | i, 1, 5, i, 'x', 0, 't', 0, 0 FROM n;"
              "INSERT INTO oplogs VALUES((1 << 40) | 2001, 2, 5, 1, 'm1', 0, 't1', 0, 0),"
              " ((1 << 40) | 2002, 2, 5, 2, 'm2', 0, 't2', 0, 0),"
              " ((2 << 40) | 2003, 3, 5, 1, 'a1', 0, 't1', 0, 0),"
              " ((2 << 40) | 2004, 3, 5, 2, 'a2', 0, 't2', 0, 0);"
              "INSERT INTO attempts VALUES((1 << 40) | 2001, 2, (1 << 40) | 2002, 2);"
              "INSERT INTO meta VALUES('next_row', '2005');",
              path, sizeof path);
  mps_store *st;
  char err[256];
  CHECK_EQ(mps_store_open(odir, &st, err, sizeof err), 0);
  count_work(st);
  CHECK_EQ(mps_store_pending(st), 2004);
  mps_msg *m;
  uint64_t alone = next_work(st, "ALONE4", "me", 0, 10, &m);
  CHECK_EQ(m->count, 2);
  CHECK_EQ(m->delivery, 1);
  mps_msg_free(m);
  uint64_t behind = next_work(st, "OLD4", "me", 0, 10, &m);
  CHECK_EQ(m->count, 2);
  CHECK_EQ(m->delivery, 3); /* delivered twice under v4 */
  CHECK_STR(m->user_id, "me");
  CHECK(memcmp(m->oplogs[0].payload, "m1", 2) == 0);
  CHECK_EQ(MPS_STORE_ROW_SEQ(m->first_row), 2001);
  CHECK_EQ(mps_store_delete_message(st, m), 0);
  mps_msg_free(m);
  fprintf(stderr, "vm steps after migration: alone %llu, behind 2000 foreign %llu\n",
          (unsigned long long)alone, (unsigned long long)behind);
  CHECK(behind < 2 * alone);
  CHECK_EQ(mps_store_next_message(st, "OLD4", "other", 0, 10, 6, &m), 0);
  CHECK_EQ(m->count, 10);
  CHECK_EQ(m->delivery, 1);
  mps_msg_free(m);
  uint64_t point;
  size_t inserted;
  batch_epoch = 5;
  commit(st, USER, "OLD4", "me", 3, 1, 0, &point, &inserted);
  batch_epoch = 7;
  CHECK_EQ(mps_store_next_message(st, "OLD4", "me", 0, 10, 6, &m), 0);
  CHECK_EQ(m->oplogs[0].id, 3);
  CHECK_EQ(MPS_STORE_ROW_SEQ(m->first_row), 2005); /* numbering goes on where v4 left it */
  mps_msg_free(m);
  mps_store_close(st);
  CHECK_EQ(file_version(path), MPS_STORE_SCHEMA_VERSION);
  remove_dir(odir);
}

/* A cache from a newer SDK is refused rather than guessed at. */
static void test_newer_schema_refused(void) {
  char ndir[] = "/tmp/mpsync-new-XXXXXX";
  CHECK(mkdtemp(ndir) != NULL);
  char path[256];
  snprintf(path, sizeof path, "%s/%s", ndir, MPS_STORE_FILE);
  sqlite3 *db;
  CHECK_EQ(sqlite3_open(path, &db), SQLITE_OK);
  CHECK_EQ(sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  mps_store *st;
  char err[256];
  CHECK_EQ(mps_store_open(ndir, &st, err, sizeof err), MPSYNC_ESTORE);
  remove_dir(ndir);
}

/* C18: a full cache takes a prefix of the batch and acknowledges only that. */
static void test_room_limits_a_batch(void) {
  mps_store *st = open_store();
  int64_t before = mps_store_pending(st);
  uint64_t point;
  size_t inserted;
  batch_room = 3;
  commit(st, DEVICE, "ROOM", "d", 1, 5, 0, &point, &inserted);
  batch_room = SIZE_MAX;
  CHECK_EQ(inserted, 3);
  CHECK(batch_cut);
  CHECK_EQ(point, 3); /* 4 and 5 stay with the server */
  CHECK_EQ(mps_store_pending(st), before + 3);
  commit(st, DEVICE, "ROOM", "d", 1, 5, 0, &point, &inserted);
  CHECK_EQ(inserted, 2);
  CHECK(!batch_cut);
  CHECK_EQ(point, 5);
  mps_msg *m;
  CHECK_EQ(mps_store_next_message(st, "ROOM", NULL, 0, 10, 6, &m), 0);
  CHECK_EQ(m->count, 5);
  CHECK_EQ(mps_store_delete_message(st, m), 0);
  mps_msg_free(m);
  CHECK_EQ(mps_store_pending(st), before);
  mps_store_close(st);
}

/* Purges: a user's data and points go, other users' and device data stay. */
static void test_purge(void) {
  mps_store *st = open_store();
  uint64_t point;
  size_t inserted;
  commit(st, USER, "PRG", "dave", 1, 2, 0, &point, &inserted);
  commit(st, USER, "PRG", "erin", 1, 1, 0, &point, &inserted);
  commit(st, DEVICE, "PRG", "d", 1, 1, 0, &point, &inserted);
  int64_t before = mps_store_pending(st);
  CHECK_EQ(mps_store_purge_user(st, "dave"), 0);
  CHECK_EQ(mps_store_pending(st), before - 2);
  mps_msg *m;
  CHECK_EQ(mps_store_next_message(st, "PRG", "dave", 0, 10, 6, &m), 0);
  CHECK(m != NULL && m->kind == DEVICE); /* only the device's oplog is left for dave */
  mps_msg_free(m);
  mps_stream_point **pts;
  size_t n;
  CHECK_EQ(mps_store_points(st, "dave", MPSYNC__WIRE__STREAM_KIND__STREAM_USER, &pts, &n), 0);
  CHECK_EQ(n, 0);
  mps_store_points_free(pts, n);
  CHECK_EQ(mps_store_purge_all(st), 0);
  CHECK_EQ(mps_store_pending(st), 0);
  char id1[64], id2[64];
  CHECK_EQ(mps_store_device_id(st, NULL, id1, sizeof id1), 0);
  mps_store_close(st);
  st = open_store();
  CHECK_EQ(mps_store_device_id(st, NULL, id2, sizeof id2), 0);
  CHECK_STR(id1, id2); /* the device id survives a purge */
  CHECK_EQ(mps_store_pending(st), 0);
  mps_store_close(st);
}

/* Whether the bytes of needle occur anywhere in the file at path (a missing file holds none). */
static int file_contains(const char *path, const char *needle) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  size_t n = strlen(needle), have = 0, cap = 1 << 16;
  char *buf = malloc(cap);
  CHECK(buf != NULL);
  int found = 0;
  for (;;) {
    size_t got = fread(buf + have, 1, cap - have, f);
    have += got;
    for (size_t i = 0; !found && i + n <= have; i++) found = memcmp(buf + i, needle, n) == 0;
    if (found || got == 0) break;
    /* keep the last n-1 bytes: a match may straddle two reads */
    memmove(buf, buf + have - (n - 1), n - 1);
    have = n - 1;
  }
  free(buf);
  fclose(f);
  return found;
}

/* A purge is a logout on a shared phone: the purged user's payloads leave the disk, not only
 * the tables (secure_delete is FAST for the drain, which leaves freed overflow pages as they
 * were, and the WAL keeps every page version until it is checkpointed). */
static void test_purge_leaves_no_payload_on_disk(void) {
  static char big[8192];
  for (size_t i = 0; i + 1 < sizeof big; i++) big[i] = "PURGED-SECRET-"[i % 14];
  const char *saved = batch_payload;
  batch_payload = big;
  char db[128], wal[140];
  snprintf(db, sizeof db, "%s/mpsync.db", dir);
  snprintf(wal, sizeof wal, "%s-wal", db);
  for (int all = 0; all < 2; all++) {
    mps_store *st = open_store();
    uint64_t point;
    size_t inserted;
    commit(st, USER, "PDISK", "frank", 1, 32, 0, &point, &inserted);
    CHECK_EQ(inserted, 32);
    CHECK(file_contains(db, "PURGED-SECRET-PURGED") || file_contains(wal, "PURGED-SECRET-PURGED"));
    CHECK_EQ(all ? mps_store_purge_all(st) : mps_store_purge_user(st, "frank"), 0);
    /* still open, as an app that logs one user out and goes on */
    CHECK(!file_contains(db, "PURGED-SECRET-PURGED"));
    CHECK(!file_contains(wal, "PURGED-SECRET-PURGED"));
    mps_store_close(st);
  }
  batch_payload = saved;
}

/* A corrupt cache is detected at open, moved aside, and replaced; the device id survives. */
static void test_corrupt_cache_recovered(void) {
  char cdir[] = "/tmp/mpsync-corrupt-XXXXXX";
  CHECK(mkdtemp(cdir) != NULL);
  mps_store *st;
  char err[512], id1[64], id2[64];
  CHECK_EQ(mps_store_open(cdir, &st, err, sizeof err), 0);
  CHECK_EQ(mps_store_device_id(st, NULL, id1, sizeof id1), 0);
  mps_store_close(st);
  char path[256], cmd[600];
  snprintf(path, sizeof path, "%s/%s", cdir, MPS_STORE_FILE);
  /* Scribble over the header and the first pages. */
  FILE *f = fopen(path, "r+b");
  CHECK(f != NULL);
  for (int i = 0; i < 8192; i++) fputc(0x5a, f);
  fclose(f);
  CHECK_EQ(mps_store_open(cdir, &st, err, sizeof err), 0);
  CHECK(mps_store_recovered(st));
  CHECK(strstr(err, "corrupt") != NULL);
  CHECK_EQ(mps_store_pending(st), 0);
  CHECK_EQ(mps_store_device_id(st, NULL, id2, sizeof id2), 0);
  CHECK_STR(id1, id2);
  mps_store_close(st);
  snprintf(cmd, sizeof cmd, "test -f %s.corrupt", path);
  CHECK_EQ(system(cmd), 0);
  remove_dir(cdir);
}

/* Encryption at rest: sealed payloads, key checks, tampering detected. */
/* The test's own reading of the v6 row layout (store.c, "batch rows"): 33-byte heads, the
 * payload length at 24 and the third id's at 28, little-endian, then the third id and payload.
 * Returns where entry index's payload starts; *n gets its length. */
static size_t entry_payload(const uint8_t *p, size_t len, int index, size_t *n) {
  size_t pos = 0;
  for (int i = 0;; i++) {
    CHECK(pos + 33 <= len);
    const uint8_t *h = p + pos;
    size_t plen = (size_t)h[24] | (size_t)h[25] << 8 | (size_t)h[26] << 16 | (size_t)h[27] << 24;
    size_t tlen = (size_t)h[28] | (size_t)h[29] << 8 | (size_t)h[30] << 16 | (size_t)h[31] << 24;
    if (i == index) {
      *n = plen;
      return pos + 33 + tlen;
    }
    pos += 33 + tlen + plen;
  }
}

static sqlite3 *open_file(const char *d) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", d, MPS_STORE_FILE);
  sqlite3 *db;
  CHECK_EQ(sqlite3_open(path, &db), SQLITE_OK);
  return db;
}

/* The packed oplogs of the first row of biz's stream to target, into buf; returns their size. */
static size_t get_packed(sqlite3 *db, const char *biz, const char *target, uint8_t *buf,
                         size_t cap) {
  sqlite3_stmt *q;
  CHECK_EQ(sqlite3_prepare_v2(db,
                              "SELECT packed FROM oplogs WHERE stream=(SELECT id FROM streams"
                              " WHERE biz=?1 AND target=?2) ORDER BY row LIMIT 1",
                              -1, &q, NULL),
           SQLITE_OK);
  sqlite3_bind_text(q, 1, biz, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, target, -1, SQLITE_STATIC);
  CHECK_EQ(sqlite3_step(q), SQLITE_ROW);
  size_t len = (size_t)sqlite3_column_bytes(q, 0);
  CHECK(len <= cap);
  memcpy(buf, sqlite3_column_blob(q, 0), len);
  sqlite3_finalize(q);
  return len;
}

static void put_packed(sqlite3 *db, const char *biz, const char *target, const uint8_t *buf,
                       size_t len) {
  sqlite3_stmt *q;
  CHECK_EQ(sqlite3_prepare_v2(db,
                              "UPDATE oplogs SET packed=?3 WHERE row=(SELECT min(row) FROM oplogs"
                              " WHERE stream=(SELECT id FROM streams WHERE biz=?1 AND target=?2))",
                              -1, &q, NULL),
           SQLITE_OK);
  sqlite3_bind_text(q, 1, biz, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, target, -1, SQLITE_STATIC);
  sqlite3_bind_blob(q, 3, buf, (int)len, SQLITE_STATIC);
  CHECK_EQ(sqlite3_step(q), SQLITE_DONE);
  CHECK_EQ(sqlite3_changes(db), 1);
  sqlite3_finalize(q);
}

/* SQLite rows (not oplogs) the cache holds for biz. */
static int64_t rows_of(mps_store *st, const char *biz) {
  sqlite3_stmt *q;
  CHECK_EQ(sqlite3_prepare_v2(mps_store_db(st),
                              "SELECT count(*) FROM oplogs WHERE stream IN (SELECT id FROM streams"
                              " WHERE biz=?1)",
                              -1, &q, NULL),
           SQLITE_OK);
  sqlite3_bind_text(q, 1, biz, -1, SQLITE_STATIC);
  CHECK_EQ(sqlite3_step(q), SQLITE_ROW);
  int64_t n = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  return n;
}

static void test_encrypted_cache(void) {
  char edir[] = "/tmp/mpsync-sealed-XXXXXX";
  CHECK(mkdtemp(edir) != NULL);
  uint8_t key[32], other[32];
  for (int i = 0; i < 32; i++) {
    key[i] = (uint8_t)i;
    other[i] = (uint8_t)(i + 1);
  }
  mps_store *st;
  char err[256];
  CHECK_EQ(mps_store_open(edir, &st, err, sizeof err), 0);
  CHECK_EQ(mps_store_use_key(st, key, 16, err, sizeof err), MPSYNC_EINVAL);
  CHECK_EQ(mps_store_use_key(st, key, 32, err, sizeof err), 0);
  uint64_t point;
  size_t inserted;
  batch_payload = "SECRET-PAYLOAD-0042";
  commit(st, DEVICE, "SEAL", "d", 1, 3, 0, &point, &inserted);
  batch_payload = "payload";
  mps_store_close(st);
  /* The payload text is nowhere in the file. */
  char cmd[400];
  snprintf(cmd, sizeof cmd, "cat %s/%s* | grep -q SECRET-PAYLOAD", edir, MPS_STORE_FILE);
  CHECK(system(cmd) != 0);
  /* Without the key, or with another, the cache does not open. */
  CHECK_EQ(mps_store_open(edir, &st, err, sizeof err), 0);
  CHECK_EQ(mps_store_use_key(st, NULL, 0, err, sizeof err), MPSYNC_ECONFIG);
  CHECK_EQ(mps_store_use_key(st, other, 32, err, sizeof err), MPSYNC_ECONFIG);
  CHECK(strstr(err, "wrong") != NULL);
  CHECK_EQ(mps_store_use_key(st, key, 32, err, sizeof err), 0);
  mps_msg *m;
  CHECK_EQ(mps_store_next_message(st, "SEAL", NULL, 0, 10, 6, &m), 0);
  CHECK_EQ(m->count, 3);
  CHECK_EQ(m->oplogs[2].payload_len, 19);
  CHECK(memcmp(m->oplogs[2].payload, "SECRET-PAYLOAD-0042", 19) == 0);
  mps_msg_free(m);
  mps_store_close(st);
  /* Flip one bit of the second payload, and move the third onto the first one's place. */
  sqlite3 *db = open_file(edir);
  uint8_t blob[1024];
  size_t len = get_packed(db, "SEAL", "d", blob, sizeof blob), n1, n3;
  blob[entry_payload(blob, len, 1, &n1) + 20] ^= 0x01;
  size_t p1 = entry_payload(blob, len, 0, &n1), p3 = entry_payload(blob, len, 2, &n3);
  CHECK_EQ(n1, n3);
  memcpy(blob + p1, blob + p3, n3);
  put_packed(db, "SEAL", "d", blob, len);
  sqlite3_close(db);
  CHECK_EQ(mps_store_open(edir, &st, err, sizeof err), 0);
  CHECK_EQ(mps_store_use_key(st, key, 32, err, sizeof err), 0);
  CHECK_EQ(mps_store_next_message(st, "SEAL", NULL, 0, 10, 6, &m), 0);
  CHECK_EQ(m->count, 1); /* only the untouched third one */
  CHECK_EQ(m->oplogs[0].id, 3);
  mps_msg_free(m);
  CHECK_EQ(mps_store_counter(st, "dropped_tampered"), 2);
  mps_store_close(st);
  /* A cache with plaintext data refuses a key rather than mix the two. */
  CHECK_EQ(mps_store_open(dir, &st, err, sizeof err), 0);
  if (mps_store_pending(st) > 0)
    CHECK_EQ(mps_store_use_key(st, key, 32, err, sizeof err), MPSYNC_ECONFIG);
  mps_store_close(st);
  remove_dir(edir);
}

/* C14 inside a batch row: an expired oplog among live ones of the same wire batch is dropped and
 * never dispatched, the others are, and the row goes with the last of them. */
static void test_expiry_inside_batch_row(void) {
  mps_store *st = open_store();
  uint64_t point;
  size_t inserted;
  static const int64_t ends[6] = {0, 1000, 0, 3000, 0, 1500};
  batch_valid_ends = ends;
  commit(st, DEVICE, "XROW", "d", 1, 6, 0, &point, &inserted);
  batch_valid_ends = NULL;
  CHECK_EQ(rows_of(st, "XROW"), 1); /* one wire batch, one row */
  int64_t pending = mps_store_pending(st), expired = mps_store_counter(st, "dropped_expired");
  mps_msg *m;
  CHECK_EQ(mps_store_next_message(st, "XROW", NULL, 2000, 2, 6, &m), 0);
  CHECK_EQ(m->count, 2);
  CHECK_EQ(m->oplogs[0].id, 1);
  CHECK_EQ(m->oplogs[1].id, 3); /* 2 expired at 1000 */
  CHECK(m->has_more);
  CHECK_EQ(mps_store_counter(st, "dropped_expired"), expired + 2); /* 2 and 6 */
  CHECK_EQ(mps_store_pending(st), pending - 2);
  CHECK_EQ(mps_store_delete_message(st, m), 0);
  mps_msg_free(m);
  CHECK_EQ(mps_store_pending(st), pending - 4);
  /* 4 was alive at 2000, not at 4000: the row's earliest expiry moved on to it. */
  CHECK_EQ(mps_store_next_message(st, "XROW", NULL, 4000, 10, 6, &m), 0);
  CHECK_EQ(m->count, 1);
  CHECK_EQ(m->oplogs[0].id, 5);
  CHECK(!m->has_more);
  CHECK_EQ(mps_store_counter(st, "dropped_expired"), expired + 3);
  CHECK_EQ(mps_store_delete_message(st, m), 0);
  mps_msg_free(m);
  CHECK_EQ(mps_store_pending(st), pending - 6);
  CHECK_EQ(rows_of(st, "XROW"), 0);
  CHECK_EQ(mps_store_next_message(st, "XROW", NULL, 4000, 10, 6, &m), 0);
  CHECK(m == NULL);
  CHECK_EQ(orphan_attempts(st), 0);
  mps_store_close(st);
}

/* A report of part of a batch row deletes exactly those oplogs: after a restart the rest comes
 * with its delivery count, the reported part never again, and the old report names nothing. */
static void test_partial_report_then_restart(void) {
  mps_store *st = open_store();
  uint64_t point;
  size_t inserted;
  commit(st, DEVICE, "PART", "d", 1, 10, 0, &point, &inserted);
  CHECK_EQ(rows_of(st, "PART"), 1);
  int64_t base = mps_store_pending(st) - 10;
  mps_msg *first, *m;
  CHECK_EQ(mps_store_next_message(st, "PART", NULL, 0, 4, 6, &first), 0);
  CHECK_EQ(first->count, 4);
  CHECK_EQ(first->oplogs[3].id, 4);
  CHECK_EQ(mps_store_delete_message(st, first), 0);
  CHECK_EQ(mps_store_pending(st), base + 6);
  CHECK_EQ(mps_store_next_message(st, "PART", NULL, 0, 4, 6, &m), 0);
  CHECK_EQ(m->oplogs[0].id, 5);
  CHECK_EQ(m->delivery, 1);
  mps_msg_free(m); /* handed out, never reported */
  mps_store_close(st);
  st = open_store();
  CHECK_EQ(mps_store_pending(st), base + 6);
  CHECK_EQ(rows_of(st, "PART"), 1);
  CHECK_EQ(mps_store_next_message(st, "PART", NULL, 0, 4, 6, &m), 0);
  CHECK_EQ(m->count, 4);
  CHECK_EQ(m->oplogs[0].id, 5);
  CHECK_EQ(m->oplogs[3].id, 8);
  CHECK_EQ(m->delivery, 2);
  CHECK_STR((const char *)m->oplogs[1].payload, "payload");
  CHECK_STR(m->oplogs[1].third_msg_id, "t6");
  /* The first report again, after the restart: its oplogs are gone, it deletes nothing. */
  CHECK_EQ(mps_store_delete_message(st, first), 0);
  mps_msg_free(first);
  CHECK_EQ(mps_store_pending(st), base + 6);
  CHECK_EQ(mps_store_delete_message(st, m), 0);
  mps_msg_free(m);
  CHECK_EQ(mps_store_next_message(st, "PART", NULL, 0, 4, 6, &m), 0);
  CHECK_EQ(m->count, 2);
  CHECK_EQ(m->oplogs[0].id, 9);
  CHECK_EQ(m->delivery, 1);
  CHECK(!m->has_more);
  CHECK_EQ(mps_store_delete_message(st, m), 0);
  mps_msg_free(m);
  CHECK_EQ(mps_store_pending(st), base);
  CHECK_EQ(rows_of(st, "PART"), 0);
  CHECK_EQ(orphan_attempts(st), 0);
  mps_store_close(st);
}

/* Sealed batch rows: a row copied onto another user's stream fails to open as a whole (the
 * additional data names stream, epoch and id of every oplog), and a row whose lengths were
 * overwritten is dropped without a byte of it being trusted. Both are counted, never dispatched;
 * the untouched stream still arrives. */
static void test_tampered_batch_row(void) {
  char edir[] = "/tmp/mpsync-sealrow-XXXXXX";
  CHECK(mkdtemp(edir) != NULL);
  uint8_t key[32];
  for (int i = 0; i < 32; i++) key[i] = (uint8_t)(7 * i);
  mps_store *st;
  char err[256];
  CHECK_EQ(mps_store_open(edir, &st, err, sizeof err), 0);
  CHECK_EQ(mps_store_use_key(st, key, 32, err, sizeof err), 0);
  uint64_t point;
  size_t inserted;
  commit(st, USER, "SROW", "alice", 1, 3, 0, &point, &inserted);
  commit(st, USER, "SROW", "bob", 1, 3, 0, &point, &inserted);
  commit(st, USER, "SROW", "carol", 1, 3, 0, &point, &inserted);
  mps_store_close(st);
  sqlite3 *db = open_file(edir);
  uint8_t blob[1024];
  size_t len = get_packed(db, "SROW", "alice", blob, sizeof blob);
  put_packed(db, "SROW", "bob", blob, len); /* same ids, same sizes: only the place differs */
  len = get_packed(db, "SROW", "carol", blob, sizeof blob);
  memset(blob + 24, 0xff, 4); /* the first payload's length */
  put_packed(db, "SROW", "carol", blob, len);
  sqlite3_close(db);
  CHECK_EQ(mps_store_open(edir, &st, err, sizeof err), 0);
  CHECK_EQ(mps_store_use_key(st, key, 32, err, sizeof err), 0);
  CHECK_EQ(mps_store_pending(st), 9);
  mps_msg *m;
  CHECK_EQ(mps_store_next_message(st, "SROW", "bob", 0, 10, 6, &m), 0);
  CHECK(m == NULL);
  CHECK_EQ(mps_store_counter(st, "dropped_tampered"), 3);
  CHECK_EQ(mps_store_next_message(st, "SROW", "carol", 0, 10, 6, &m), 0);
  CHECK(m == NULL);
  CHECK_EQ(mps_store_counter(st, "dropped_tampered"), 6);
  CHECK_EQ(mps_store_pending(st), 3);
  CHECK_EQ(mps_store_next_message(st, "SROW", "alice", 0, 10, 6, &m), 0);
  CHECK_EQ(m->count, 3);
  CHECK_STR((const char *)m->oplogs[2].payload, "payload");
  CHECK_EQ(mps_store_delete_message(st, m), 0);
  mps_msg_free(m);
  CHECK_EQ(rows_of(st, "SROW"), 0);
  mps_store_close(st);
  remove_dir(edir);
}

/* The schema v5 shipped with: v4's slots of bizTypes became slots of bizTypes and users. */
static const char v5_schema[] = ROW_PER_OPLOG_TABLES
    "CREATE TABLE slots(slot INTEGER PRIMARY KEY, biz TEXT NOT NULL, user INTEGER NOT NULL,"
    " target TEXT NOT NULL, UNIQUE(biz, user, target));";

/* A v5 cache (a row per oplog) migrates to batch rows and delivers every oplog it holds exactly
 * once, in the order of arrival across the device's and the user's slots, with delivery counts,
 * expiry, epochs and the row numbering carried over. */
static void test_migration_from_v5(void) {
  char odir[] = "/tmp/mpsync-v5-XXXXXX";
  char path[256];
  write_cache(odir, v5_schema, 5,
              "INSERT INTO slots VALUES(1, 'OLD5', 0, ''), (2, 'OLD5', 1, 'me');"
              "INSERT INTO streams VALUES(1, 2, 'OLD5', 'd', 4, 1), (2, 1, 'OLD5', 'me', 3, 3);"
              "INSERT INTO oplogs VALUES((1 << 40) | 1, 1, 3, 1, 'd1', 0, 'td1', 11, 0),"
              " ((1 << 40) | 2, 1, 3, 2, 'd2', 1, 'td2', 12, 0),"
              " ((1 << 40) | 3, 1, 3, 3, 'd3', 0, 'td3', 13, 0),"
              " ((1 << 40) | 4, 1, 3, 4, 'd4', 0, 'td4', 14, 0),"
              " ((2 << 40) | 5, 2, 3, 1, 'u1', 0, 'tu1', 15, 0),"
              " ((1 << 40) | 6, 1, 3, 5, 'd5', 0, 'td5', 16, 0),"
              " ((1 << 40) | 7, 1, 3, 6, 'd6', 0, 'td6', 17, 1000),"
              " ((2 << 40) | 8, 2, 3, 2, 'u2', 0, 'tu2', 18, 0),"
              " ((2 << 40) | 9, 2, 3, 3, 'u3', 0, 'tu3', 19, 0),"
              " ((1 << 40) | 10, 1, 4, 1, 'e1', 0, 'te1', 20, 0);"
              "INSERT INTO attempts VALUES((1 << 40) | 1, 1, (1 << 40) | 2, 2);"
              "INSERT INTO meta VALUES('next_row', '12');",
              path, sizeof path);
  mps_store *st;
  char err[256];
  CHECK_EQ(mps_store_open(odir, &st, err, sizeof err), 0);
  CHECK_EQ(mps_store_pending(st), 10);
  /* 1-4 | 5 | 6-7 | 8-9 | 10: consecutive numbers of one stream and epoch share a row. */
  CHECK_EQ(rows_of(st, "OLD5"), 5);
  static const char *const want[][3] = {
      {"d1", "d2", NULL}, {"d3", "d4", NULL}, {"u1", NULL, NULL},
      {"d5", NULL, NULL}, {"u2", "u3", NULL}, {"e1", NULL, NULL}};
  static const unsigned deliveries[] = {3, 1, 1, 1, 1, 1};
  int64_t expired = mps_store_counter(st, "dropped_expired");
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    mps_msg *m;
    CHECK_EQ(mps_store_next_message(st, "OLD5", "me", 2000, 10, 6, &m), 0);
    CHECK(m != NULL);
    size_t n = 0;
    while (n < 3 && want[i][n]) n++;
    if (m->count != n || strcmp((const char *)m->oplogs[0].payload, want[i][0]) != 0)
      fprintf(stderr, "message %zu: %zu oplogs from %s, wanted %zu from %s\n", i, m->count,
              (const char *)m->oplogs[0].payload, n, want[i][0]);
    CHECK_EQ(m->count, n);
    for (size_t j = 0; j < n; j++) {
      CHECK_STR((const char *)m->oplogs[j].payload, want[i][j]);
      CHECK_EQ(m->oplogs[j].third_msg_id[0], 't');
      CHECK_STR(m->oplogs[j].third_msg_id + 1, want[i][j]);
    }
    CHECK_EQ(m->delivery, deliveries[i]);
    if (i == 0) {
      CHECK_EQ(m->oplogs[1].binary, 1);
      CHECK_EQ(m->oplogs[1].create_time_ms, 12);
    }
    CHECK_EQ(mps_store_delete_message(st, m), 0);
    mps_msg_free(m);
  }
  mps_msg *m;
  CHECK_EQ(mps_store_next_message(st, "OLD5", "me", 2000, 10, 6, &m), 0);
  CHECK(m == NULL);
  CHECK_EQ(mps_store_counter(st, "dropped_expired"), expired + 1); /* d6 */
  CHECK_EQ(mps_store_pending(st), 0);
  uint64_t point;
  size_t inserted;
  batch_epoch = 4;
  commit(st, DEVICE, "OLD5", "d", 2, 1, 0, &point, &inserted);
  batch_epoch = 7;
  CHECK_EQ(inserted, 1);
  CHECK_EQ(mps_store_next_message(st, "OLD5", "me", 2000, 10, 6, &m), 0);
  CHECK_EQ(MPS_STORE_ROW_SEQ(m->first_row), 12); /* numbering goes on where v5 left it */
  mps_msg_free(m);
  mps_store_close(st);
  CHECK_EQ(file_version(path), MPS_STORE_SCHEMA_VERSION);
  remove_dir(odir);
}

/* mps_store_lost runs before every batch: a stat, and the header read again only when size or
 * mtime moved. Bytes changed under an unchanged stat go unseen (that is the saving); the same
 * change with the mtime it brings is seen, and so are deletion and truncation. */
static void test_lost_reads_header_only_when_stat_moves(void) {
  char ldir[] = "/tmp/mpsync-lost-XXXXXX";
  CHECK(mkdtemp(ldir) != NULL);
  mps_store *st;
  char err[256], why[512];
  CHECK_EQ(mps_store_open(ldir, &st, err, sizeof err), 0);
  uint64_t point;
  size_t inserted;
  commit(st, DEVICE, "LOST", "d", 1, 2, 0, &point, &inserted);
  CHECK_EQ(mps_store_lost(st, why, sizeof why), 0);
  char path[256];
  snprintf(path, sizeof path, "%s/%s", ldir, MPS_STORE_FILE);
  struct stat before;
  CHECK_EQ(stat(path, &before), 0);
  int fd = open(path, O_WRONLY);
  CHECK(fd >= 0);
  CHECK_EQ(pwrite(fd, "not a database!", 16, 0), 16);
  close(fd);
  struct timespec times[2] = {before.st_atim, before.st_mtim};
  CHECK_EQ(utimensat(AT_FDCWD, path, times, 0), 0);
  CHECK_EQ(mps_store_lost(st, why, sizeof why), 0); /* same size and mtime: not read */
  times[1].tv_nsec = times[1].tv_nsec == 0 ? 1 : 0;
  CHECK_EQ(utimensat(AT_FDCWD, path, times, 0), 0);
  CHECK_EQ(mps_store_lost(st, why, sizeof why), 1);
  CHECK(strstr(why, "overwritten") != NULL);
  CHECK_EQ(truncate(path, 512), 0);
  CHECK_EQ(mps_store_lost(st, why, sizeof why), 1);
  CHECK(strstr(why, "truncated") != NULL);
  CHECK_EQ(unlink(path), 0);
  CHECK_EQ(mps_store_lost(st, why, sizeof why), 1);
  CHECK(strstr(why, "deleted") != NULL);
  mps_store_close(st);
  remove_dir(ldir);
}

int main(void) {
  CHECK(mkdtemp(dir) != NULL);
  RUN(test_file_mode_and_device_id);
  RUN(test_duplicates_never_cached_twice);
  RUN(test_grouping_and_has_more);
  RUN(test_gives_up_after_max_deliveries);
  RUN(test_expired_dropped);
  RUN(test_biz_types_kept_apart);
  RUN(test_user_isolation);
  RUN(test_restart_keeps_everything);
  RUN(test_epoch_reset);
  RUN(test_epoch_zero_stream_takes_server_epoch);
  RUN(test_next_message_cost_ignores_foreign_users);
  RUN(test_expired_cleanup_proportional_to_deleted);
  RUN(test_migration_from_v1);
  RUN(test_migration_keeps_delivery_counts);
  RUN(test_migration_from_v4);
  RUN(test_delivery_counts_per_stream_and_restart);
  RUN(test_newer_schema_refused);
  RUN(test_checkpoints_run_in_the_background);
  RUN(test_room_limits_a_batch);
  RUN(test_purge);
  RUN(test_purge_leaves_no_payload_on_disk);
  RUN(test_corrupt_cache_recovered);
  RUN(test_encrypted_cache);
  RUN(test_expiry_inside_batch_row);
  RUN(test_partial_report_then_restart);
  RUN(test_tampered_batch_row);
  RUN(test_migration_from_v5);
  RUN(test_lost_reads_header_only_when_stat_moves);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) == 0 ? 0 : 1;
}
