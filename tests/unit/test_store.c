/* Unit tests of the client cache: file mode, batch commits, duplicates, grouping, limits, restart. */
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "store/store.h"

static char dir[] = "/tmp/mpsync-store-XXXXXX";

static mps_store *open_store(void) {
  mps_store *st;
  char err[256];
  CHECK_EQ(mps_store_open(dir, &st, err, sizeof err), 0);
  return st;
}

static void commit(mps_store *st, int kind, const char *biz, const char *target, uint64_t first,
                   size_t n, int64_t valid_end, uint64_t *point, size_t *inserted) {
  mps_oplog_msg ops[32], *opp[32];
  char third[32][16];
  CHECK(n <= 32);
  for (size_t i = 0; i < n; i++) {
    mps_oplog_msg o = MPSYNC__WIRE__OPLOG__INIT;
    ops[i] = o;
    ops[i].id = first + i;
    ops[i].payload.data = (uint8_t *)"payload";
    ops[i].payload.len = 7;
    snprintf(third[i], sizeof third[i], "t%llu", (unsigned long long)(first + i));
    ops[i].third_msg_id = third[i];
    ops[i].valid_time_end_ms = valid_end;
    opp[i] = &ops[i];
  }
  mps_batch b = MPSYNC__WIRE__OPLOG_BATCH__INIT;
  b.kind = kind;
  b.biz_type = (char *)biz;
  b.target = (char *)target;
  b.oplogs = opp;
  b.n_oplogs = n;
  CHECK_EQ(mps_store_commit_batch(st, &b, point, inserted), 0);
}

#define USER MPSYNC__WIRE__STREAM_KIND__STREAM_USER
#define DEVICE MPSYNC__WIRE__STREAM_KIND__STREAM_DEVICE

static void test_file_mode_and_device_id(void) {
  mps_store *st = open_store();
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, MPS_STORE_FILE);
  struct stat sb;
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
  int64_t dropped = mps_store_dropped_undelivered(st);
  mps_msg *m;
  for (unsigned i = 1; i <= 3; i++) {
    CHECK_EQ(mps_store_next_message(st, "MAX", NULL, 0, 1, 3, &m), 0);
    CHECK_EQ(m->oplogs[0].id, 1);
    CHECK_EQ(m->delivery, i);
    mps_msg_free(m);
  }
  CHECK_EQ(mps_store_next_message(st, "MAX", NULL, 0, 1, 3, &m), 0);
  CHECK_EQ(m->oplogs[0].id, 2);
  CHECK_EQ(mps_store_dropped_undelivered(st), dropped + 1);
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

int main(void) {
  CHECK(mkdtemp(dir) != NULL);
  RUN(test_file_mode_and_device_id);
  RUN(test_duplicates_never_cached_twice);
  RUN(test_grouping_and_has_more);
  RUN(test_gives_up_after_max_deliveries);
  RUN(test_expired_dropped);
  RUN(test_user_isolation);
  RUN(test_restart_keeps_everything);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) == 0 ? 0 : 1;
}
