/* The client cache on SQLite: schema and migrations, batch commits, message assembly, deletions. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/gcm.h>
#include <sqlite3.h>
#include <uv.h>

#include "util/util.h"

/* Nanosecond mtime: Apple's libc names it st_mtimespec, POSIX 2008 st_mtim. */
#if defined(__APPLE__)
#define STAT_MTIME(sb) ((sb).st_mtimespec)
#else
#define STAT_MTIME(sb) ((sb).st_mtim)
#endif

/* Copying the WAL back into the database (a checkpoint) cost the loop thread a quarter of a
 * backlog drain when SQLite ran it inside commits. It runs on a thread and connection of its own.
 * A PASSIVE checkpoint racing a busy writer never quite catches up, and SQLite only rewinds the
 * WAL once it has: at twice the threshold the writer copies the little that is left itself, which
 * keeps the WAL near 15 MB through a 1M drain (it reached 67 MB with a 64 MB limit). */
#define CHECKPOINT_PAGES 1000        /* SQLite's own autocheckpoint threshold */
#define CHECKPOINT_INLINE_PAGES 2000 /* ~8 MB: the background is behind; keep the WAL small */

typedef struct checkpointer {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  sqlite3 *db;
  int started;
  int wanted;
  int stop;
  int64_t done; /* checkpoints run by the thread */
} checkpointer;

struct mps_store {
  sqlite3 *db;
  checkpointer *ckpt;
  sqlite3_stmt *insert_oplog;
  sqlite3_stmt *overlapping;
  sqlite3_stmt *delete_row;
  sqlite3_stmt *get_row;
  sqlite3_stmt *set_expired;
  sqlite3_stmt *get_point;
  sqlite3_stmt *set_point;
  sqlite3_stmt *add_stream;
  sqlite3_stmt *select_next;
  sqlite3_stmt *get_attempt;
  sqlite3_stmt *clear_attempts;
  sqlite3_stmt *add_attempt;
  sqlite3_stmt *find_expired;
  sqlite3_stmt *first_in_range;
  sqlite3_stmt *drop_attempt;
  sqlite3_stmt *reset_stream;
  sqlite3_stmt *save_next_row;
  sqlite3_stmt *get_slot;
  sqlite3_stmt *add_slot;
  sqlite3_stmt *count_streams;
  sqlite3_stmt *undo_first;
  sqlite3_stmt *undo_count;
  sqlite3_stmt *begin;
  sqlite3_stmt *commit;
  int64_t pending;  /* rows in oplogs: counted once at open, then kept up to date */
  int64_t next_row; /* sequence part of row numbers, never reused: a stale message id never
                     * names new data */
  int recovered;   /* the cache was corrupt and started afresh */
  dev_t file_dev;  /* the file opened, and the largest size seen of it: a cache deleted, */
  ino_t file_ino;  /* replaced or truncated under a running client is noticed by them */
  off_t file_size;
  struct timespec file_mtime; /* the header is read again only when size or mtime moved */
  int sealed;      /* payloads are AES-256-GCM sealed under the app's key */
  mbedtls_gcm_context gcm;
  mps_buf scratch; /* sealed payload being written: reused, no allocation per oplog */
  mps_buf pack;    /* the packed oplogs of the batch row being written: reused */
  mps_buf unpack;  /* the packed oplogs of the row being read: reused */
  char dir[4096];  /* kept last: close_db() clears everything before it */
};

/* Schema steps; step i takes the schema from version i to i+1. Never edit a shipped step: append. */
static const char *const migrations[] = {
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE streams(kind INTEGER NOT NULL, biz TEXT NOT NULL, target TEXT NOT NULL,"
    " epoch INTEGER NOT NULL DEFAULT 0, sync_point INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(kind, biz, target));"
    /* AUTOINCREMENT: a row number is never reused, so a stale message id can never name new data. */
    "CREATE TABLE oplogs(row INTEGER PRIMARY KEY AUTOINCREMENT, kind INTEGER NOT NULL,"
    " biz TEXT NOT NULL, target TEXT NOT NULL, oplog_id INTEGER NOT NULL, payload BLOB NOT NULL,"
    " is_binary INTEGER NOT NULL, third_msg_id TEXT NOT NULL, create_time INTEGER NOT NULL,"
    " valid_end INTEGER NOT NULL, deliveries INTEGER NOT NULL DEFAULT 0,"
    " UNIQUE(kind, biz, target, oplog_id));"
    "CREATE INDEX oplogs_by_biz ON oplogs(biz, row);",
    /* v2: stream epochs. After a server-side reset ids start again at 1, so an id is only unique
     * within its epoch. The table is rebuilt because SQLite cannot change a UNIQUE constraint;
     * the AUTOINCREMENT high-water mark is carried over so that row numbers are never reused. */
    "CREATE TABLE oplogs_v2(row INTEGER PRIMARY KEY AUTOINCREMENT, kind INTEGER NOT NULL,"
    " biz TEXT NOT NULL, target TEXT NOT NULL, epoch INTEGER NOT NULL DEFAULT 0,"
    " oplog_id INTEGER NOT NULL, payload BLOB NOT NULL, is_binary INTEGER NOT NULL,"
    " third_msg_id TEXT NOT NULL, create_time INTEGER NOT NULL, valid_end INTEGER NOT NULL,"
    " deliveries INTEGER NOT NULL DEFAULT 0, UNIQUE(kind, biz, target, epoch, oplog_id));"
    "INSERT INTO oplogs_v2(row, kind, biz, target, epoch, oplog_id, payload, is_binary,"
    " third_msg_id, create_time, valid_end, deliveries)"
    " SELECT o.row, o.kind, o.biz, o.target, coalesce(s.epoch, 0), o.oplog_id, o.payload,"
    " o.is_binary, o.third_msg_id, o.create_time, o.valid_end, o.deliveries FROM oplogs o"
    " LEFT JOIN streams s ON s.kind=o.kind AND s.biz=o.biz AND s.target=o.target;"
    "INSERT INTO sqlite_sequence(name, seq) SELECT 'oplogs_v2', 0"
    " WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name='oplogs_v2');"
    "UPDATE sqlite_sequence SET seq=(SELECT max(seq) FROM sqlite_sequence"
    " WHERE name IN ('oplogs', 'oplogs_v2')) WHERE name='oplogs_v2';"
    "DROP TABLE oplogs;"
    "ALTER TABLE oplogs_v2 RENAME TO oplogs;"
    "CREATE INDEX oplogs_by_biz ON oplogs(biz, row);",
    /* v3: the expiry sweep before each dispatch scanned every row of the bizType; with this
     * partial index it touches only oplogs that have a validTimeEnd at all. */
    "CREATE INDEX oplogs_expiry ON oplogs(biz, valid_end) WHERE valid_end > 0;",
    /* v4: the drain's cost is SQLite's b-tree work per row. Oplogs move to a rowid table, which
     * SQLite appends to far more cheaply than to one with a composite key (2.4 against 3.0 us a
     * row), numbered slot << 40 | sequence: the bizType's slot (table bizs) in the high bits keeps
     * its oplogs one ordered key range, so dispatch order needs no second index. A stream is
     * named by a small integer instead of three columns. The UNIQUE index goes (sync points and
     * the strictly rising ids of a batch already keep duplicates out, C8). Delivery counts move
     * to one row per delivered message instead of an UPDATE of every payload row. Sequences
     * continue from the old AUTOINCREMENT high-water mark, kept in meta from now on. */
    "CREATE TABLE streams_v4(id INTEGER PRIMARY KEY, kind INTEGER NOT NULL, biz TEXT NOT NULL,"
    " target TEXT NOT NULL, epoch INTEGER NOT NULL DEFAULT 0,"
    " sync_point INTEGER NOT NULL DEFAULT 0, UNIQUE(kind, biz, target));"
    "INSERT INTO streams_v4(kind, biz, target, epoch, sync_point)"
    " SELECT kind, biz, target, epoch, sync_point FROM streams;"
    "INSERT OR IGNORE INTO streams_v4(kind, biz, target, epoch, sync_point)"
    " SELECT kind, biz, target, max(epoch), max(oplog_id) FROM oplogs GROUP BY kind, biz, target;"
    "CREATE TABLE bizs(slot INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
    "INSERT INTO bizs(name) SELECT biz FROM streams_v4 UNION SELECT biz FROM oplogs;"
    "CREATE TABLE oplogs_v4(row INTEGER PRIMARY KEY, stream INTEGER NOT NULL,"
    " epoch INTEGER NOT NULL, oplog_id INTEGER NOT NULL, payload BLOB NOT NULL,"
    " is_binary INTEGER NOT NULL, third_msg_id TEXT NOT NULL, create_time INTEGER NOT NULL,"
    " valid_end INTEGER NOT NULL);"
    "INSERT INTO oplogs_v4 SELECT (b.slot << 40) | o.row, s.id, o.epoch, o.oplog_id, o.payload,"
    " o.is_binary, o.third_msg_id, o.create_time, o.valid_end FROM oplogs o"
    " JOIN streams_v4 s ON s.kind=o.kind AND s.biz=o.biz AND s.target=o.target"
    " JOIN bizs b ON b.name=o.biz;"
    "CREATE TABLE attempts(first_row INTEGER PRIMARY KEY, stream INTEGER NOT NULL,"
    " last_row INTEGER NOT NULL, deliveries INTEGER NOT NULL);"
    "INSERT INTO attempts SELECT (b.slot << 40) | min(o.row), s.id, (b.slot << 40) | max(o.row),"
    " o.deliveries FROM oplogs o"
    " JOIN streams_v4 s ON s.kind=o.kind AND s.biz=o.biz AND s.target=o.target"
    " JOIN bizs b ON b.name=o.biz WHERE o.deliveries>0 GROUP BY s.id, o.epoch, o.deliveries;"
    "INSERT OR REPLACE INTO meta(key, value) SELECT 'next_row', max(coalesce("
    "(SELECT max(seq) FROM sqlite_sequence WHERE name='oplogs'), 0),"
    " coalesce((SELECT max(row) FROM oplogs), 0)) + 1;"
    "DROP TABLE oplogs;"
    "DROP TABLE streams;"
    "ALTER TABLE oplogs_v4 RENAME TO oplogs;"
    "ALTER TABLE streams_v4 RENAME TO streams;"
    "CREATE INDEX oplogs_expiry ON oplogs(row >> 40, valid_end) WHERE valid_end > 0;",
    /* v5: a dispatch walked the bizType's one row range and skipped other users' rows after
     * reading them: 23 ms a dispatch behind another user's 200 000. The slot (the high bits of
     * a row) now belongs to a bizType's device and global streams together (user 0), or to one
     * user's stream of it (user 1): a dispatch reads the shared range and its own user's, and
     * nothing else. An index on oplogs(stream) would have done it too, at the price of a second
     * b-tree on every insert, read and delete of the drain (4.0 -> 6.5 us a row); an index on
     * attempts cost a page more in every dispatch's commit. User rows move to their slots keeping
     * their sequence (1099511627775 = 2^40 - 1, the sequence bits), so the order of arrival is
     * kept; their delivery counts, keyed by first row, move with them and so stay in the slot's
     * key range, where a dispatch looks for them. */
    "CREATE TABLE slots(slot INTEGER PRIMARY KEY, biz TEXT NOT NULL, user INTEGER NOT NULL,"
    " target TEXT NOT NULL, UNIQUE(biz, user, target));"
    "INSERT INTO slots(slot, biz, user, target) SELECT slot, name, 0, '' FROM bizs;"
    "INSERT INTO slots(biz, user, target) SELECT DISTINCT biz, 1, target FROM streams"
    " WHERE kind=1 ORDER BY biz, target;"
    "CREATE TEMP TABLE moved AS SELECT s.id AS stream, l.slot AS slot FROM streams s"
    " JOIN slots l ON l.biz=s.biz AND l.user=1 AND l.target=s.target WHERE s.kind=1;"
    "UPDATE oplogs SET row=((SELECT slot FROM moved WHERE moved.stream=oplogs.stream) << 40)"
    " | (row & 1099511627775) WHERE stream IN (SELECT stream FROM moved);"
    "UPDATE attempts SET"
    " first_row=((SELECT slot FROM moved WHERE moved.stream=attempts.stream) << 40)"
    " | (first_row & 1099511627775),"
    " last_row=((SELECT slot FROM moved WHERE moved.stream=attempts.stream) << 40)"
    " | (last_row & 1099511627775) WHERE stream IN (SELECT stream FROM moved);"
    "DROP TABLE moved;"
    "DROP TABLE bizs;",
    /* v6: a row per oplog made the drain SQLite's b-tree work: an insert and a delete of every
     * oplog, 3.8 of 6 us. A wire batch is now one row: its oplogs packed in one blob (see
     * "batch rows"), keyed by the first one's row number and covering n consecutive numbers, so
     * delivery counts and message ids keep naming single oplogs. dead holds a character per
     * oplog, '0' while cached and '1' once gone from a row that still holds others (a report of
     * part of it, expiry, a failed authentication): written in place through SQLite's blob I/O,
     * a report touches the page those bytes are on, not the whole row, and SQL can still count
     * what is cached (the '0's), so C18's bound counts oplogs. valid_end is the earliest expiry
     * in the row, for the expiry index, which is on a slot column of its own: SQLite refuses to
     * write a blob in place in any table that has an index on an expression (row >> 40). The
     * old rows are packed by migrate_v6 (C: SQL cannot build the blob), consecutive rows of one
     * stream and epoch together; sealed payloads move as they are, their additional data
     * (stream, epoch, id) unchanged. */
    "CREATE TABLE oplogs_v6(row INTEGER PRIMARY KEY, slot INTEGER NOT NULL,"
    " stream INTEGER NOT NULL, epoch INTEGER NOT NULL, n INTEGER NOT NULL,"
    " valid_end INTEGER NOT NULL, dead BLOB NOT NULL, packed BLOB NOT NULL);",
};

/* What v6 does after its table exists and migrate_v6 filled it. */
static const char v6_finish[] = "DROP TABLE oplogs;"
                                "ALTER TABLE oplogs_v6 RENAME TO oplogs;"
                                "CREATE INDEX oplogs_expiry ON oplogs(slot, valid_end)"
                                " WHERE valid_end > 0;";

#define ROW_SEQ_BITS MPS_STORE_ROW_SEQ_BITS
#define ROW_SEQ_MASK ((INT64_C(1) << ROW_SEQ_BITS) - 1)
#define BIZ_SLOT_MAX ((INT64_C(1) << (63 - ROW_SEQ_BITS)) - 1)

_Static_assert(sizeof migrations / sizeof migrations[0] == MPS_STORE_SCHEMA_VERSION,
              "one migration step per schema version");

static int count_pending(mps_store *st);
static int load_next_row(mps_store *st);
static int step_done(sqlite3_stmt *q);
static int migrate_v6(mps_store *st);

static int exec(mps_store *st, const char *sql) {
  return sqlite3_exec(st->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : MPSYNC_ESTORE;
}

/* Prepared once: sqlite3_exec parsed "BEGIN IMMEDIATE" and "COMMIT" anew each time, ~13 000
 * instructions apiece, a fifth of a dispatch's work (callgrind). */
static int begin(mps_store *st) { return step_done(st->begin); }
static int commit(mps_store *st) { return step_done(st->commit); }

static int migrate(mps_store *st) {
  sqlite3_stmt *q;
  if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &q, NULL) != SQLITE_OK)
    return MPSYNC_ESTORE;
  int version = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0) : -1;
  sqlite3_finalize(q);
  int latest = (int)(sizeof migrations / sizeof migrations[0]);
  if (version < 0 || version > latest) return MPSYNC_ESTORE; /* newer SDK wrote it: don't guess */
  for (int v = version; v < latest; v++) {
    char pragma[48];
    snprintf(pragma, sizeof pragma, "PRAGMA user_version=%d", v + 1);
    if (exec(st, "BEGIN IMMEDIATE") || exec(st, migrations[v]) ||
        (v == 5 && (migrate_v6(st) || exec(st, v6_finish))) || exec(st, pragma) ||
        exec(st, "COMMIT")) {
      exec(st, "ROLLBACK");
      return MPSYNC_ESTORE;
    }
  }
  return 0;
}

static int prepare(mps_store *st) {
  struct {
    sqlite3_stmt **stmt;
    const char *sql;
  } all[] = {
      {&st->insert_oplog,
       "INSERT INTO oplogs(row, slot, stream, epoch, n, valid_end, dead, packed)"
       " VALUES(?1, ?1 >> 40, ?2, ?3, ?4, ?5, ?6, ?7)"},
      /* The rows of stream holding any of the numbers ?1..?2: a row starts at most
       * MPS_STORE_ROW_OPLOGS - 1 before the first (?3 bounds the walk from below). */
      {&st->overlapping,
       "SELECT row, n, dead FROM oplogs WHERE row BETWEEN ?3 AND ?2 AND stream=?1"
       " ORDER BY row"},
      {&st->delete_row, "DELETE FROM oplogs WHERE row=?1"},
      {&st->get_row, "SELECT stream, n, dead, packed FROM oplogs WHERE row=?1"},
      {&st->set_expired, "UPDATE oplogs SET dead=?2, valid_end=?3 WHERE row=?1"},
      {&st->get_point,
       "SELECT sync_point, epoch, id FROM streams WHERE kind=?1 AND biz=?2 AND target=?3"},
      {&st->add_stream,
       "INSERT INTO streams(kind, biz, target, epoch, sync_point) VALUES(?1, ?2, ?3, ?4, 0)"},
      {&st->reset_stream,
       "INSERT INTO streams(kind, biz, target, epoch, sync_point) VALUES(?1, ?2, ?3, ?4, 0)"
       " ON CONFLICT(kind, biz, target) DO UPDATE SET epoch=excluded.epoch, sync_point=0"},
      /* Epoch 0 means "never told one" (a v1 cache, or a stream first stored without one): the
       * server's epoch is taken with the sync point as it is, and from then on a batch in any
       * other epoch is a reset. A known epoch changes only through a reset. */
      {&st->set_point,
       "INSERT INTO streams(kind, biz, target, epoch, sync_point) VALUES(?1, ?2, ?3, ?4, ?5)"
       " ON CONFLICT(kind, biz, target) DO UPDATE SET sync_point=max(sync_point, excluded.sync_point),"
       " epoch=CASE epoch WHEN 0 THEN excluded.epoch ELSE epoch END"},
      /* CROSS JOIN keeps oplogs as the outer loop: the walk follows the primary key from the
       * head of a slot and stops after ?3 rows, whatever the cache's size. Every row of the
       * slots read is visible; the user test stays as a guard of C9 that costs nothing. */
      {&st->select_next,
       "SELECT o.row, s.kind, s.target, o.stream, o.epoch, o.n, o.dead"
       " FROM oplogs o CROSS JOIN streams s"
       " ON s.id=o.stream WHERE o.row BETWEEN ?1 AND ?4 AND (s.kind<>1 OR s.target=?2)"
       " ORDER BY o.row LIMIT ?3"},
      /* A stream's delivery counts never overlap: the nearest one at or below the row is the
       * only one that can cover it (the caller checks last_row). ?3, the start of the row's
       * slot, keeps the walk to the counts of that slot's streams. */
      {&st->get_attempt,
       "SELECT last_row, deliveries, first_row FROM attempts WHERE first_row BETWEEN ?3 AND ?1"
       " AND stream=?2 ORDER BY first_row DESC LIMIT 1"},
      {&st->clear_attempts,
       "DELETE FROM attempts WHERE first_row BETWEEN ?4 AND ?3 AND stream=?1 AND last_row>=?2"},
      {&st->add_attempt,
       "INSERT INTO attempts(first_row, stream, last_row, deliveries) VALUES(?1, ?2, ?3, ?4)"},
      /* Read first, changed only when there is something: a DELETE ... RETURNING opened a
       * temporary table at every dispatch, for nothing almost every time. */
      {&st->find_expired,
       "SELECT row FROM oplogs WHERE slot=?1 AND valid_end>0 AND valid_end<?2"},
      {&st->first_in_range,
       "SELECT row, n, dead FROM oplogs WHERE row BETWEEN ?1 AND ?2 ORDER BY row LIMIT 1"},
      {&st->drop_attempt, "DELETE FROM attempts WHERE first_row=?1"},
      {&st->save_next_row, "INSERT OR REPLACE INTO meta(key, value) VALUES('next_row', ?1)"},
      {&st->get_slot, "SELECT slot FROM slots WHERE biz=?1 AND user=?2 AND target=?3"},
      {&st->add_slot, "INSERT INTO slots(biz, user, target) VALUES(?1, ?2, ?3)"},
      {&st->count_streams,
       "SELECT count(*) FROM streams WHERE kind<>1 OR target=?1"},
      /* A withdrawn message's count goes back: gone when it was the first delivery. */
      {&st->undo_first, "DELETE FROM attempts WHERE first_row=?1 AND stream=?2"},
      {&st->undo_count, "UPDATE attempts SET deliveries=?3 WHERE first_row=?1 AND stream=?2"},
      {&st->begin, "BEGIN IMMEDIATE"},
      {&st->commit, "COMMIT"},
  };
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    if (sqlite3_prepare_v3(st->db, all[i].sql, -1, SQLITE_PREPARE_PERSISTENT, all[i].stmt,
                           NULL) != SQLITE_OK)
      return MPSYNC_ESTORE;
  return 0;
}

static void *checkpoint_main(void *arg) {
  checkpointer *k = arg;
  pthread_mutex_lock(&k->mu);
  for (;;) {
    while (!k->wanted && !k->stop) pthread_cond_wait(&k->cv, &k->mu);
    if (k->stop) break;
    k->wanted = 0;
    pthread_mutex_unlock(&k->mu);
    /* PASSIVE never waits for the writer: what it cannot copy now, the next round copies. */
    int rc = sqlite3_wal_checkpoint_v2(k->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    pthread_mutex_lock(&k->mu);
    if (rc == SQLITE_OK) k->done++;
  }
  pthread_mutex_unlock(&k->mu);
  return NULL;
}

static int on_wal_commit(void *ud, sqlite3 *db, const char *name, int pages) {
  checkpointer *k = ud;
  if (pages >= CHECKPOINT_INLINE_PAGES) {
    /* A failure here is not the commit's: the next commit tries again. */
    sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
  } else if (pages >= CHECKPOINT_PAGES) {
    pthread_mutex_lock(&k->mu);
    k->wanted = 1;
    pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mu);
  }
  return SQLITE_OK;
}

static void checkpointer_stop(mps_store *st) {
  checkpointer *k = st->ckpt;
  if (!k) return;
  if (st->db) sqlite3_wal_hook(st->db, NULL, NULL);
  if (k->started) {
    pthread_mutex_lock(&k->mu);
    k->stop = 1;
    pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mu);
    pthread_join(k->thread, NULL);
  }
  sqlite3_close(k->db);
  pthread_mutex_destroy(&k->mu);
  pthread_cond_destroy(&k->cv);
  free(k);
  st->ckpt = NULL;
}

/* Without the thread, SQLite's inline autocheckpoint stays on: slower, never unbounded. A SQLite
 * built single-threaded (SQLITE_THREADSAFE=0) must not be used from two threads at all. */
static void checkpointer_start(mps_store *st, const char *path) {
  if (!sqlite3_threadsafe()) return;
  checkpointer *k = calloc(1, sizeof *k);
  if (!k) return;
  pthread_mutex_init(&k->mu, NULL);
  pthread_cond_init(&k->cv, NULL);
  st->ckpt = k;
  if (sqlite3_open_v2(path, &k->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
          SQLITE_OK ||
      sqlite3_busy_timeout(k->db, 5000) != SQLITE_OK ||
      sqlite3_exec(k->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK ||
      pthread_create(&k->thread, NULL, checkpoint_main, k) != 0) {
    checkpointer_stop(st);
    return;
  }
  k->started = 1;
  sqlite3_wal_hook(st->db, on_wal_commit, k); /* replaces the inline autocheckpoint */
}

int64_t mps_store_checkpoints(mps_store *st) {
  if (!st->ckpt) return -1;
  pthread_mutex_lock(&st->ckpt->mu);
  int64_t n = st->ckpt->done;
  pthread_mutex_unlock(&st->ckpt->mu);
  return n;
}

static int open_file(mps_store *st, const char *path) {
  /* Create the file ourselves so that it is 0600 whatever the umask; SQLite gives its -wal and
   * -shm files the same mode as the database. */
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return MPSYNC_ESTORE;
  close(fd);
  if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
      SQLITE_OK)
    return MPSYNC_ESTORE;
  sqlite3_busy_timeout(st->db, 5000);
  int rc;
  /* NORMAL by default: in WAL mode a commit survives any crash of the app (kill -9 included) and
   * only a power loss can undo it. That is enough for deletions and delivery counts: undone, they
   * mean one more delivery, which at-least-once allows. Batch commits, which the server is told
   * about, switch to FULL (see mps_store_commit_batch). */
  /* secure_delete FAST: Debian's SQLite (and others) zero every freed page by default, and a
   * reported batch row frees a quarter MB of overflow pages: written to the WAL as zeros, it
   * doubled the drain's writes. FAST still wipes deleted content inside b-tree pages and leaves
   * freed overflow pages as they were until the next batch reuses them; the WAL holds copies of
   * every page written anyway, so a delivered payload was never gone from the disk at its
   * report, and a cache that must keep payloads from the disk seals them (cache_key). */
  if (exec(st, "PRAGMA journal_mode=WAL") || exec(st, "PRAGMA synchronous=NORMAL") ||
      exec(st, "PRAGMA secure_delete=FAST") ||
      (rc = migrate(st)) || (rc = prepare(st)) || (rc = count_pending(st)) ||
      (rc = load_next_row(st)))
    return MPSYNC_ESTORE;
  checkpointer_start(st, path);
  struct stat sb;
  if (stat(path, &sb) != 0) return MPSYNC_ESTORE;
  st->file_dev = sb.st_dev;
  st->file_ino = sb.st_ino;
  st->file_size = sb.st_size;
  st->file_mtime = STAT_MTIME(sb);
  return 0;
}

static void close_db(mps_store *st) {
  sqlite3_stmt *all[] = {st->insert_oplog,   st->get_point,      st->add_stream,
                         st->set_point,      st->select_next,    st->get_attempt,
                         st->clear_attempts, st->add_attempt,    st->overlapping,
                         st->find_expired,   st->delete_row,     st->reset_stream,
                         st->save_next_row,  st->get_slot,       st->add_slot,
                         st->first_in_range, st->drop_attempt,
                         st->begin,          st->commit,         st->count_streams,
                         st->undo_first,     st->undo_count,     st->get_row,
                         st->set_expired};
  checkpointer_stop(st);
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) sqlite3_finalize(all[i]);
  sqlite3_close(st->db);
  memset(st, 0, offsetof(mps_store, dir));
}

static int is_corrupt(sqlite3 *db) {
  int e = db ? sqlite3_errcode(db) : SQLITE_OK;
  return e == SQLITE_CORRUPT || e == SQLITE_NOTADB;
}

/* A damaged cache is moved aside, not deleted (someone may want to look at it), and a fresh one
 * starts: the server resends everything this device has not acknowledged. */
static void quarantine(const char *path, const char *as) {
  char aside[4200];
  static const char *const suffix[] = {"", "-wal", "-shm"};
  for (size_t i = 0; i < 3; i++) {
    char from[4200];
    snprintf(from, sizeof from, "%s%s", path, suffix[i]);
    snprintf(aside, sizeof aside, "%s.%s%s", path, as, suffix[i]);
    rename(from, aside);
  }
}

int mps_store_open(const char *dir, mps_store **out, char *errbuf, size_t errlen) {
  *out = NULL;
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
    snprintf(errbuf, errlen, "cannot create %s: %s", dir, strerror(errno));
    return MPSYNC_ESTORE;
  }
  mps_store *st = calloc(1, sizeof *st);
  if (!st) {
    snprintf(errbuf, errlen, "out of memory");
    return MPSYNC_ENOMEM;
  }
  char path[4096];
  if ((size_t)snprintf(st->dir, sizeof st->dir, "%s", dir) >= sizeof st->dir ||
      (size_t)snprintf(path, sizeof path, "%s/%s", dir, MPS_STORE_FILE) >= sizeof path) {
    snprintf(errbuf, errlen, "data dir path too long");
    free(st);
    return MPSYNC_ETOOLONG;
  }
  int rc = open_file(st, path);
  if (rc && is_corrupt(st->db)) {
    snprintf(errbuf, errlen, "cache %s is corrupt (%s): moved aside to %s.corrupt, starting afresh",
             path, sqlite3_errmsg(st->db), path);
    close_db(st);
    quarantine(path, "corrupt");
    rc = open_file(st, path);
    if (!rc) st->recovered = 1;
  }
  if (rc) {
    snprintf(errbuf, errlen, "cache %s: %s", path, st->db ? sqlite3_errmsg(st->db) : strerror(errno));
    mps_store_close(st);
    return rc;
  }
  *out = st;
  return 0;
}

int mps_store_recovered(const mps_store *st) { return st->recovered; }

int mps_store_lost(mps_store *st, char *why, size_t len) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", st->dir, MPS_STORE_FILE);
  struct stat sb;
  const char *what = NULL;
  if (stat(path, &sb) != 0)
    what = "deleted";
  else if (sb.st_dev != st->file_dev || sb.st_ino != st->file_ino)
    what = "replaced by another file";
  else if (sb.st_size < st->file_size)
    what = "truncated"; /* no VACUUM, no auto_vacuum: a database file here never shrinks */
  else if (sb.st_size == st->file_size && STAT_MTIME(sb).tv_sec == st->file_mtime.tv_sec &&
           STAT_MTIME(sb).tv_nsec == st->file_mtime.tv_nsec)
    return 0; /* nothing wrote to the file since its header was last read: no open, no read */
  else {
    char head[16] = "";
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? pread(fd, head, sizeof head, 0) : -1;
    if (fd >= 0) close(fd);
    if (n != (ssize_t)sizeof head || memcmp(head, "SQLite format 3", sizeof head) != 0)
      what = "overwritten (no SQLite header)";
    else {
      st->file_size = sb.st_size;
      st->file_mtime = STAT_MTIME(sb);
    }
  }
  if (!what) return 0;
  snprintf(why, len, "cache %s was %s while in use", path, what);
  return 1;
}

static int write_key_check(mps_store *st);

int mps_store_rebuild(mps_store *st, char *err, size_t errlen) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", st->dir, MPS_STORE_FILE);
  /* What outlives the connection: the key, its scratch buffer, and the row sequence, carried on
   * so that no row number of the lost cache is ever reused (a stale report names nothing). */
  int sealed = st->sealed;
  mbedtls_gcm_context gcm = st->gcm;
  mps_buf scratch = st->scratch;
  mps_buf pack = st->pack, unpack = st->unpack;
  int64_t next_row = st->next_row;
  close_db(st);
  quarantine(path, "lost");
  st->sealed = sealed;
  st->gcm = gcm;
  st->scratch = scratch;
  st->pack = pack;
  st->unpack = unpack;
  int rc = mkdir(st->dir, 0700) != 0 && errno != EEXIST ? MPSYNC_ESTORE : open_file(st, path);
  if (!rc && sealed) rc = write_key_check(st);
  if (!rc && next_row > st->next_row) {
    st->next_row = next_row;
    sqlite3_bind_int64(st->save_next_row, 1, st->next_row);
    rc = step_done(st->save_next_row);
  }
  if (rc) {
    snprintf(err, errlen, "cannot rebuild the cache %s: %s", path,
             st->db ? sqlite3_errmsg(st->db) : strerror(errno));
    return MPSYNC_ESTORE;
  }
  st->recovered = 1;
  return 0;
}

void mps_store_close(mps_store *st) {
  if (!st) return;
  if (st->sealed) mbedtls_gcm_free(&st->gcm);
  mps_buf_free(&st->scratch);
  mps_buf_free(&st->pack);
  mps_buf_free(&st->unpack);
  close_db(st);
  free(st);
}

/* ---- encryption at rest (opt-in): payload = nonce(12) || ciphertext || tag(16) ----
 * The additional data binds a payload to its place (stream, epoch, id): a payload copied onto
 * another row fails to open just like a flipped bit. */

#define SEAL_NONCE 12
#define SEAL_TAG 16
static const char key_check_plain[] = "mpsync cache key check";

static size_t seal_aad(uint8_t *aad, size_t cap, int kind, const char *biz, const char *target,
                       uint64_t epoch, uint64_t id) {
  int n = snprintf((char *)aad, cap, "%d|%s|%s|%llu|%llu", kind, biz, target,
                   (unsigned long long)epoch, (unsigned long long)id);
  return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

/* Seals n bytes of p into out (room for n + 28 bytes). */
static int seal_into(mps_store *st, const uint8_t *aad, size_t aad_len, const uint8_t *p, size_t n,
                     uint8_t *out) {
  /* uv_random reaches the OS's CSPRNG on every platform libuv runs on; the Linux system call
   * is missing on Apple platforms and on Android before API 28. No loop, no callback: synchronous. */
  if (uv_random(NULL, NULL, out, SEAL_NONCE, 0, NULL) != 0) return MPSYNC_EIO;
  if (mbedtls_gcm_crypt_and_tag(&st->gcm, MBEDTLS_GCM_ENCRYPT, n, out, SEAL_NONCE, aad, aad_len,
                                p, out + SEAL_NONCE, SEAL_TAG, out + SEAL_NONCE + n) != 0)
    return MPSYNC_EIO;
  return 0;
}

static int seal(mps_store *st, const uint8_t *aad, size_t aad_len, const uint8_t *p, size_t n) {
  st->scratch.len = 0;
  int rc = mps_buf_reserve(&st->scratch, SEAL_NONCE + n + SEAL_TAG);
  if (rc || (rc = seal_into(st, aad, aad_len, p, n, st->scratch.data))) return rc;
  st->scratch.len = SEAL_NONCE + n + SEAL_TAG;
  return 0;
}

/* Opens a sealed payload into out (room for len - 28 bytes). */
static int unseal(mps_store *st, const uint8_t *aad, size_t aad_len, const uint8_t *p, size_t len,
                  uint8_t *out) {
  if (len < SEAL_NONCE + SEAL_TAG) return MPSYNC_ESTORE;
  size_t n = len - SEAL_NONCE - SEAL_TAG;
  return mbedtls_gcm_auth_decrypt(&st->gcm, n, p, SEAL_NONCE, aad, aad_len, p + SEAL_NONCE + n,
                                  SEAL_TAG, p + SEAL_NONCE, out) == 0
             ? 0
             : MPSYNC_ESTORE;
}

static int meta_get(mps_store *st, const char *key, char *out, size_t len);
static int meta_set(mps_store *st, const char *key, const char *value);

static void hex(const uint8_t *p, size_t n, char *out) {
  for (size_t i = 0; i < n; i++) snprintf(out + 2 * i, 3, "%02x", p[i]);
}

int mps_store_use_key(mps_store *st, const uint8_t *key, size_t key_len, char *err, size_t errlen) {
  char mode[32] = "", check[256] = "";
  int has_mode = meta_get(st, "cipher", mode, sizeof mode) == 1;
  if (!key) {
    if (has_mode) {
      snprintf(err, errlen, "the cache is encrypted: the app must supply its key");
      return MPSYNC_ECONFIG;
    }
    return 0;
  }
  if (key_len != 32) {
    snprintf(err, errlen, "cache key must be 32 bytes (AES-256)");
    return MPSYNC_EINVAL;
  }
  if (!has_mode && st->pending > 0) {
    snprintf(err, errlen, "the cache holds unencrypted data: purge it before turning encryption on");
    return MPSYNC_ECONFIG;
  }
  mbedtls_gcm_init(&st->gcm);
  if (mbedtls_gcm_setkey(&st->gcm, MBEDTLS_CIPHER_ID_AES, key, 256) != 0) {
    mbedtls_gcm_free(&st->gcm);
    snprintf(err, errlen, "cannot set the cache key");
    return MPSYNC_EIO;
  }
  st->sealed = 1;
  static const uint8_t aad[] = "key-check";
  if (has_mode) {
    uint8_t raw[128], plain[128];
    size_t n = strlen(meta_get(st, "key_check", check, sizeof check) == 1 ? check : "") / 2;
    for (size_t i = 0; i < n && i < sizeof raw; i++) sscanf(check + 2 * i, "%2hhx", &raw[i]);
    if (n > sizeof raw || unseal(st, aad, sizeof aad - 1, raw, n, plain) != 0) {
      snprintf(err, errlen, "wrong cache key");
      mbedtls_gcm_free(&st->gcm);
      st->sealed = 0;
      return MPSYNC_ECONFIG;
    }
    return 0;
  }
  int rc = write_key_check(st);
  if (rc) snprintf(err, errlen, "cannot record the cache key check");
  return rc;
}

/* A new encrypted cache records a value sealed under the key: a later open with another key
 * fails to open it, and says so. */
static int write_key_check(mps_store *st) {
  static const uint8_t aad[] = "key-check";
  char check[256];
  int rc = seal(st, aad, sizeof aad - 1, (const uint8_t *)key_check_plain,
                sizeof key_check_plain - 1);
  if (!rc) {
    hex(st->scratch.data, st->scratch.len, check);
    rc = meta_set(st, "key_check", check);
  }
  if (!rc) rc = meta_set(st, "cipher", "aes-256-gcm");
  return rc;
}

const char *mps_store_errmsg(mps_store *st) { return sqlite3_errmsg(st->db); }

sqlite3 *mps_store_db(mps_store *st) { return st->db; }

static int meta_get(mps_store *st, const char *key, char *out, size_t len) {
  sqlite3_stmt *q;
  if (sqlite3_prepare_v2(st->db, "SELECT value FROM meta WHERE key=?1", -1, &q, NULL) != SQLITE_OK)
    return MPSYNC_ESTORE;
  sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
  int rc = sqlite3_step(q);
  int found = 0;
  if (rc == SQLITE_ROW) {
    snprintf(out, len, "%s", (const char *)sqlite3_column_text(q, 0));
    found = 1;
  }
  sqlite3_finalize(q);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? found : MPSYNC_ESTORE;
}

static int meta_set(mps_store *st, const char *key, const char *value) {
  sqlite3_stmt *q;
  if (sqlite3_prepare_v2(st->db, "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)", -1, &q,
                         NULL) != SQLITE_OK)
    return MPSYNC_ESTORE;
  sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, value, -1, SQLITE_STATIC);
  int rc = sqlite3_step(q) == SQLITE_DONE ? 0 : MPSYNC_ESTORE;
  sqlite3_finalize(q);
  return rc;
}

static int64_t meta_counter(mps_store *st, const char *key) {
  char buf[32];
  return meta_get(st, key, buf, sizeof buf) == 1 ? strtoll(buf, NULL, 10) : 0;
}

static int meta_add(mps_store *st, const char *key, int64_t delta) {
  char buf[32];
  snprintf(buf, sizeof buf, "%" PRId64, meta_counter(st, key) + delta);
  return meta_set(st, key, buf);
}

int64_t mps_store_counter(mps_store *st, const char *name) { return meta_counter(st, name); }

int64_t mps_store_setting(mps_store *st, const char *key, int64_t def) {
  char buf[32];
  return meta_get(st, key, buf, sizeof buf) == 1 ? strtoll(buf, NULL, 10) : def;
}

int mps_store_set_setting(mps_store *st, const char *key, int64_t value) {
  char buf[32];
  snprintf(buf, sizeof buf, "%" PRId64, value);
  return meta_set(st, key, buf);
}

int64_t mps_store_pending(mps_store *st) { return st->pending; }

static int count_pending(mps_store *st) {
  sqlite3_stmt *q;
  int rc = MPSYNC_ESTORE;
  if (sqlite3_prepare_v2(st->db, "SELECT total(length(replace(CAST(dead AS TEXT), '1', ''))) FROM oplogs", -1, &q, NULL) == SQLITE_OK &&
      sqlite3_step(q) == SQLITE_ROW) {
    st->pending = sqlite3_column_int64(q, 0);
    rc = 0;
  }
  sqlite3_finalize(q);
  return rc;
}

/* meta holds it: the v4 migration wrote it, and every batch that takes row numbers saves it in
 * the same transaction, so no scan of the oplogs is needed at start-up. */
static int load_next_row(mps_store *st) {
  char buf[32];
  int found = meta_get(st, "next_row", buf, sizeof buf);
  if (found < 0) return MPSYNC_ESTORE;
  st->next_row = found ? strtoll(buf, NULL, 10) : 1;
  return 0;
}

/* A purge is a logout, perhaps before another user takes the phone: what it deletes must leave
 * the disk as well as the tables. secure_delete ON zeroes every page the purge frees (FAST, the
 * drain's setting, leaves freed overflow pages as they were), and the checkpoint then drops the
 * WAL's older copies of those pages. */
static void purge_wipe(mps_store *st, int on) {
  exec(st, on ? "PRAGMA secure_delete=ON" : "PRAGMA secure_delete=FAST");
}

static int purge_rows(mps_store *st, const char *user);

static int purge(mps_store *st, const char *user) {
  purge_wipe(st, 1);
  int rc = purge_rows(st, user);
  purge_wipe(st, 0);
  /* Best effort: a reader of the checkpointer may hold the WAL; the next checkpoint gets it. */
  if (rc == 0) sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
  return rc;
}

static int purge_rows(mps_store *st, const char *user) {
  if (begin(st)) return MPSYNC_ESTORE;
  sqlite3_stmt *q = NULL;
  int rc = 0;
  const char *sql[] = {
      user ? "DELETE FROM oplogs WHERE stream IN (SELECT id FROM streams WHERE kind=1 AND target=?1)"
           : "DELETE FROM oplogs",
      user ? "DELETE FROM attempts WHERE stream IN (SELECT id FROM streams WHERE kind=1 AND target=?1)"
           : "DELETE FROM attempts",
      user ? "DELETE FROM streams WHERE kind=1 AND target=?1" : "DELETE FROM streams"};
  for (size_t i = 0; !rc && i < sizeof sql / sizeof sql[0]; i++) {
    if (sqlite3_prepare_v2(st->db, sql[i], -1, &q, NULL) != SQLITE_OK) {
      rc = MPSYNC_ESTORE;
      break;
    }
    if (user) sqlite3_bind_text(q, 1, user, -1, SQLITE_STATIC);
    if (sqlite3_step(q) != SQLITE_DONE) rc = MPSYNC_ESTORE;
    sqlite3_finalize(q);
  }
  if (!rc) rc = mps_store_tls_session_forget(st); /* a resumed session links old and new */
  if (rc || commit(st)) {
    exec(st, "ROLLBACK");
    return MPSYNC_ESTORE;
  }
  return count_pending(st);
}

int mps_store_purge_user(mps_store *st, const char *user) { return purge(st, user); }

int mps_store_purge_all(mps_store *st) { return purge(st, NULL); }

/* The device id also lives in a small file beside the cache, so that an install keeps its
 * identity (C17) even when a corrupt cache has to start afresh. */
static void sidecar_path(const mps_store *st, char *out, size_t len) {
  snprintf(out, len, "%s/device_id", st->dir);
}

static int sidecar_read(const mps_store *st, char *out, size_t len) {
  char path[4200];
  sidecar_path(st, path, sizeof path);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  int ok = fgets(out, (int)len, f) != NULL;
  fclose(f);
  if (!ok) return 0;
  out[strcspn(out, "\r\n")] = '\0';
  return out[0] != '\0';
}

static void sidecar_write(const mps_store *st, const char *id) {
  char path[4200];
  sidecar_path(st, path, sizeof path);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  ssize_t n = write(fd, id, strlen(id));
  (void)n; /* best effort: the cache holds the id too */
  fsync(fd);
  close(fd);
}

/* Where the device id file lives on disk ("dev:inode"): a restored backup or a copied data
 * directory has the same bytes in a new file. "" when it cannot be read. */
static void sidecar_origin(const mps_store *st, char *out, size_t len) {
  char path[4200];
  struct stat sb;
  sidecar_path(st, path, sizeof path);
  out[0] = '\0';
  if (stat(path, &sb) == 0)
    snprintf(out, len, "%llu:%llu", (unsigned long long)sb.st_dev, (unsigned long long)sb.st_ino);
}

static int record_origin(mps_store *st) {
  char origin[64];
  sidecar_origin(st, origin, sizeof origin);
  return origin[0] ? meta_set(st, "device_id_origin", origin) : 0;
}

int mps_store_device_id_copied(mps_store *st) {
  char recorded[64], now[64];
  if (meta_get(st, "device_id_origin", recorded, sizeof recorded) != 1) return 0;
  sidecar_origin(st, now, sizeof now);
  return now[0] && strcmp(now, recorded) != 0;
}

static int random_device_id(char *out, size_t len) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  uint8_t rnd[24];
  if (len < sizeof rnd + 1 || uv_random(NULL, NULL, rnd, sizeof rnd, 0, NULL) != 0)
    return MPSYNC_EIO;
  /* 62 symbols from bytes: the modulo bias is irrelevant for an identifier. */
  for (size_t i = 0; i < sizeof rnd; i++) out[i] = alphabet[rnd[i] % 62];
  out[sizeof rnd] = '\0';
  return 0;
}

int mps_store_new_device_id(mps_store *st, char *out, size_t len) {
  int rc = random_device_id(out, len);
  if (rc) return rc;
  sidecar_write(st, out);
  if ((rc = meta_set(st, "device_id", out))) return rc;
  return record_origin(st);
}

int mps_store_device_id(mps_store *st, const char *override, char *out, size_t len) {
  int rc = meta_get(st, "device_id", out, len);
  if (rc < 0) return rc;
  if (rc == 1) {
    char side[128], origin[64];
    if (!sidecar_read(st, side, sizeof side) || strcmp(side, out) != 0) sidecar_write(st, out);
    /* A cache from before the record: this file is taken as the install's own from now on. */
    if (meta_get(st, "device_id_origin", origin, sizeof origin) == 0) return record_origin(st);
    return 0;
  }
  if (sidecar_read(st, out, len)) {
    /* keep the install's id */
  } else if (override && *override) {
    snprintf(out, len, "%s", override);
  } else if ((rc = random_device_id(out, len))) {
    return rc;
  }
  sidecar_write(st, out);
  if ((rc = meta_set(st, "device_id", out))) return rc;
  return record_origin(st);
}

int mps_store_points(mps_store *st, const char *user, int kind_filter, mps_stream_point ***out,
                     size_t *n) {
  *out = NULL;
  *n = 0;
  sqlite3_stmt *q;
  if (sqlite3_prepare_v2(st->db,
                         "SELECT kind, biz, target, sync_point, epoch FROM streams"
                         " WHERE (kind<>1 OR target=?1) AND (?2=0 OR kind=?2) ORDER BY kind, biz",
                         -1, &q, NULL) != SQLITE_OK)
    return MPSYNC_ESTORE;
  if (user) sqlite3_bind_text(q, 1, user, -1, SQLITE_STATIC);
  sqlite3_bind_int(q, 2, kind_filter);
  size_t cap = 0;
  int rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    if (*n == cap) {
      cap = cap ? cap * 2 : 8;
      mps_stream_point **p = realloc(*out, cap * sizeof *p);
      if (!p) goto nomem;
      *out = p;
    }
    mps_stream_point *pt = malloc(sizeof *pt);
    if (!pt) goto nomem;
    mpsync__wire__stream_point__init(pt);
    pt->kind = (Mpsync__Wire__StreamKind)sqlite3_column_int(q, 0);
    pt->biz_type = mps_strdup((const char *)sqlite3_column_text(q, 1));
    pt->target = mps_strdup((const char *)sqlite3_column_text(q, 2));
    pt->sync_point = (uint64_t)sqlite3_column_int64(q, 3);
    pt->epoch = (uint64_t)sqlite3_column_int64(q, 4);
    (*out)[(*n)++] = pt;
    if (!pt->biz_type || !pt->target) goto nomem;
  }
  sqlite3_finalize(q);
  return rc == SQLITE_DONE ? 0 : MPSYNC_ESTORE;
nomem:
  sqlite3_finalize(q);
  mps_store_points_free(*out, *n);
  *out = NULL;
  *n = 0;
  return MPSYNC_ENOMEM;
}

void mps_store_points_free(mps_stream_point **p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(p[i]->biz_type);
    free(p[i]->target);
    free(p[i]);
  }
  free(p);
}

static void bind_stream(sqlite3_stmt *q, int kind, const char *biz, const char *target) {
  sqlite3_bind_int(q, 1, kind);
  sqlite3_bind_text(q, 2, biz, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 3, target, -1, SQLITE_STATIC);
}

static int step_done(sqlite3_stmt *q) {
  int rc = sqlite3_step(q);
  sqlite3_reset(q);
  sqlite3_clear_bindings(q);
  return rc == SQLITE_DONE ? 0 : MPSYNC_ESTORE;
}

/* The stream's id, sync point and epoch; id 0 (point 0, epoch 0) for a stream not seen yet. */
static int64_t stream_lookup(mps_store *st, int kind, const char *biz, const char *target,
                             uint64_t *point, uint64_t *epoch) {
  bind_stream(st->get_point, kind, biz, target);
  int64_t id = 0;
  *point = *epoch = 0;
  if (sqlite3_step(st->get_point) == SQLITE_ROW) {
    *point = (uint64_t)sqlite3_column_int64(st->get_point, 0);
    *epoch = (uint64_t)sqlite3_column_int64(st->get_point, 1);
    id = sqlite3_column_int64(st->get_point, 2);
  }
  sqlite3_reset(st->get_point);
  sqlite3_clear_bindings(st->get_point);
  return id;
}

/* The slot, the high bits of rows, of bizType biz's device and global streams (user NULL) or of
 * user's stream of it; 0 when it has none and create is 0. */
static int64_t slot_of(mps_store *st, const char *biz, const char *user, int create) {
  sqlite3_stmt *q = st->get_slot;
  sqlite3_bind_text(q, 1, biz, -1, SQLITE_STATIC);
  sqlite3_bind_int(q, 2, user != NULL);
  sqlite3_bind_text(q, 3, user ? user : "", -1, SQLITE_STATIC);
  int64_t slot = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
  sqlite3_reset(q);
  sqlite3_clear_bindings(q);
  if (slot || !create) return slot;
  sqlite3_bind_text(st->add_slot, 1, biz, -1, SQLITE_STATIC);
  sqlite3_bind_int(st->add_slot, 2, user != NULL);
  sqlite3_bind_text(st->add_slot, 3, user ? user : "", -1, SQLITE_STATIC);
  return step_done(st->add_slot) == 0 ? sqlite3_last_insert_rowid(st->db) : -1;
}

int mps_store_stream_admits(mps_store *st, const mps_batch *b, const char *user, size_t max) {
  uint64_t point, epoch;
  if (stream_lookup(st, b->kind, b->biz_type, b->target, &point, &epoch)) return 1;
  sqlite3_stmt *q = st->count_streams;
  if (user) sqlite3_bind_text(q, 1, user, -1, SQLITE_STATIC);
  int rc = sqlite3_step(q);
  int64_t n = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
  sqlite3_reset(q);
  sqlite3_clear_bindings(q);
  if (n < 0) return MPSYNC_ESTORE;
  return (uint64_t)n < max;
}

int mps_store_forget_newest_stream(mps_store *st, const char *user,
                                   int (*keep)(void *ud, const char *biz), void *ud, char *biz,
                                   size_t biz_len) {
  sqlite3_stmt *q;
  if (sqlite3_prepare_v2(st->db,
                         "SELECT id, biz FROM streams WHERE kind<>1 OR target=?1 ORDER BY id DESC",
                         -1, &q, NULL) != SQLITE_OK)
    return MPSYNC_ESTORE;
  if (user) sqlite3_bind_text(q, 1, user, -1, SQLITE_STATIC);
  int64_t id = 0;
  int rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(q, 1);
    if (keep(ud, name)) continue;
    id = sqlite3_column_int64(q, 0);
    snprintf(biz, biz_len, "%s", name);
    break;
  }
  sqlite3_finalize(q);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return MPSYNC_ESTORE;
  if (!id) return 0;
  static const char *const sql[] = {"DELETE FROM oplogs WHERE stream=?1",
                                    "DELETE FROM attempts WHERE stream=?1",
                                    "DELETE FROM streams WHERE id=?1"};
  if (begin(st)) return MPSYNC_ESTORE;
  rc = 0;
  for (size_t i = 0; !rc && i < sizeof sql / sizeof sql[0]; i++) {
    if (sqlite3_prepare_v2(st->db, sql[i], -1, &q, NULL) != SQLITE_OK) {
      rc = MPSYNC_ESTORE;
      break;
    }
    sqlite3_bind_int64(q, 1, id);
    if (sqlite3_step(q) != SQLITE_DONE) rc = MPSYNC_ESTORE;
    sqlite3_finalize(q);
  }
  if (rc || commit(st)) {
    exec(st, "ROLLBACK");
    return MPSYNC_ESTORE;
  }
  return count_pending(st) ? MPSYNC_ESTORE : 1;
}

static int64_t row_of(int64_t slot, int64_t seq) { return slot << ROW_SEQ_BITS | seq; }

/* ---- batch rows: the oplogs of one SQLite row, packed ----
 * Each oplog: id (8 bytes), create time (8), valid end (8), payload length (4), third id length
 * (4), binary (1), little-endian, then the third id and the payload (sealed: nonce || ciphertext
 * || tag). A byte order of its own: a cache file may be restored on another machine. */

#define ENTRY_HEAD 33
#define ROW_OPLOGS MPS_STORE_ROW_OPLOGS

typedef struct entry {
  uint64_t id;
  int64_t create_time, valid_end;
  uint32_t len, third_len;
  int binary;
  const uint8_t *third, *payload;
} entry;

static void put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Appends an entry's head, third id and payload to out; the payload is filled by the caller
 * when p is NULL (sealing writes it in place). *payload gets where it goes. */
static int entry_append(mps_buf *out, uint64_t id, int64_t create_time, int64_t valid_end,
                        int binary, const char *third, size_t third_len, const void *p, size_t len,
                        uint8_t **payload) {
  if (len > UINT32_MAX || third_len > UINT32_MAX) return MPSYNC_ESTORE;
  int rc = mps_buf_reserve(out, ENTRY_HEAD + third_len + len);
  if (rc) return rc;
  uint8_t *h = out->data + out->len;
  put_u64(h, id);
  put_u64(h + 8, (uint64_t)create_time);
  put_u64(h + 16, (uint64_t)valid_end);
  put_u32(h + 24, (uint32_t)len);
  put_u32(h + 28, (uint32_t)third_len);
  h[32] = binary ? 1 : 0;
  if (third_len) memcpy(h + ENTRY_HEAD, third, third_len);
  *payload = h + ENTRY_HEAD + third_len;
  if (p && len) memcpy(*payload, p, len);
  out->len += ENTRY_HEAD + third_len + len;
  return 0;
}

/* Reads the entry at *pos and moves past it; -1 when what is left is no whole entry (a damaged
 * row: lengths are not authenticated, so they are checked before any byte is trusted). */
static int entry_read(const uint8_t *p, size_t len, size_t *pos, entry *e) {
  if (*pos > len || len - *pos < ENTRY_HEAD) return -1;
  const uint8_t *h = p + *pos;
  e->id = get_u64(h);
  e->create_time = (int64_t)get_u64(h + 8);
  e->valid_end = (int64_t)get_u64(h + 16);
  e->len = get_u32(h + 24);
  e->third_len = get_u32(h + 28);
  e->binary = h[32];
  size_t rest = len - *pos - ENTRY_HEAD;
  if (e->third_len > rest || e->len > rest - e->third_len) return -1;
  e->third = h + ENTRY_HEAD;
  e->payload = e->third + e->third_len;
  *pos += ENTRY_HEAD + (size_t)e->third_len + e->len;
  return 0;
}

/* A new row's dead column: every oplog cached. */
#define CACHED_16 "0000000000000000"
#define CACHED_256 CACHED_16 CACHED_16 CACHED_16 CACHED_16 CACHED_16 CACHED_16 CACHED_16 CACHED_16 \
  CACHED_16 CACHED_16 CACHED_16 CACHED_16 CACHED_16 CACHED_16 CACHED_16 CACHED_16
static const char all_cached[] = CACHED_256 CACHED_256 CACHED_256 CACHED_256;
_Static_assert(sizeof all_cached - 1 == ROW_OPLOGS, "a character per oplog of a full row");

static int is_dead(const uint8_t *dead, int64_t i) { return dead[i] != '0'; }

static int64_t count_live(const uint8_t *dead, int64_t n) {
  int64_t live = 0;
  for (int64_t i = 0; i < n; i++) live += !is_dead(dead, i);
  return live;
}

/* A row's n and dead column as this code writes them; anything else is a damaged row. */
static int row_sane(int64_t n, size_t dead_bytes) {
  return n >= 1 && n <= ROW_OPLOGS && dead_bytes == (size_t)n;
}

/* Writes len bytes at offset into column col of row, in place: SQLite changes the pages those
 * bytes are on and nothing else (an UPDATE would build and compare the whole row). */
static int blob_put(mps_store *st, const char *table, const char *col, int64_t row,
                    const void *p, size_t len, size_t offset) {
  sqlite3_blob *b;
  if (sqlite3_blob_open(st->db, "main", table, col, row, 1, &b) != SQLITE_OK) return MPSYNC_ESTORE;
  int rc = sqlite3_blob_write(b, p, (int)len, (int)offset) == SQLITE_OK ? 0 : MPSYNC_ESTORE;
  return sqlite3_blob_close(b) == SQLITE_OK ? rc : MPSYNC_ESTORE;
}

/* Appends one oplog of b to st->pack, its payload sealed when the cache has a key. */
static int pack_oplog(mps_store *st, const mps_batch *b, const mps_oplog_msg *op) {
  const char *third = op->third_msg_id ? op->third_msg_id : "";
  size_t n = op->payload.len;
  uint8_t *payload;
  int rc = entry_append(&st->pack, op->id, op->create_time_ms, op->valid_time_end_ms, op->binary,
                        third, strlen(third), st->sealed ? NULL : op->payload.data,
                        st->sealed ? SEAL_NONCE + n + SEAL_TAG : n, &payload);
  if (rc || !st->sealed) return rc;
  uint8_t aad[256];
  size_t aad_len = seal_aad(aad, sizeof aad, b->kind, b->biz_type, b->target, b->epoch, op->id);
  return seal_into(st, aad, aad_len, op->payload.data, n, payload);
}

/* Inserts the n oplogs packed in pack as one row numbered row of table, all of them cached. The
 * blob goes in as zeros and is then written in place: bound as a value, SQLite built the whole
 * row in a fresh allocation first (a quarter MB for a 1000-oplog batch), and the memory it
 * faulted in and gave back at every batch cost more than the copy itself. */
static int insert_packed(mps_store *st, sqlite3_stmt *q, const char *table, int64_t row,
                         int64_t stream, int64_t epoch, int64_t n, int64_t valid_end,
                         const mps_buf *pack) {
  if (pack->len > INT32_MAX || n > ROW_OPLOGS) return MPSYNC_ESTORE;
  sqlite3_bind_int64(q, 1, row);
  sqlite3_bind_int64(q, 2, stream);
  sqlite3_bind_int64(q, 3, epoch);
  sqlite3_bind_int64(q, 4, n);
  sqlite3_bind_int64(q, 5, valid_end);
  sqlite3_bind_blob(q, 6, all_cached, (int)n, SQLITE_STATIC);
  sqlite3_bind_zeroblob(q, 7, (int)pack->len);
  int rc = step_done(q);
  return rc || !pack->len ? rc : blob_put(st, table, "packed", row, pack->data, pack->len, 0);
}

static int64_t min_expiry(int64_t a, int64_t b) { return b > 0 && (a <= 0 || b < a) ? b : a; }

/* v6: the v5 rows, one oplog each, packed; consecutive numbers of one stream and epoch share a
 * row, so every oplog keeps its number (delivery counts and next_row stay valid as they are). */
static int migrate_v6(mps_store *st) {
  sqlite3_stmt *q = NULL, *ins = NULL;
  mps_buf pack = {0};
  int rc = MPSYNC_ESTORE, step = SQLITE_DONE;
  if (sqlite3_prepare_v2(st->db,
                         "SELECT row, stream, epoch, oplog_id, payload, is_binary, third_msg_id,"
                         " create_time, valid_end FROM oplogs ORDER BY row",
                         -1, &q, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(st->db,
                         "INSERT INTO oplogs_v6(row, slot, stream, epoch, n, valid_end, dead,"
                         " packed) VALUES(?1, ?1 >> 40, ?2, ?3, ?4, ?5, ?6, ?7)",
                         -1, &ins, NULL) != SQLITE_OK)
    goto done;
  int64_t first = 0, stream = 0, epoch = 0, n = 0, expiry = 0;
  rc = 0;
  while (!rc && (step = sqlite3_step(q)) == SQLITE_ROW) {
    int64_t row = sqlite3_column_int64(q, 0), s = sqlite3_column_int64(q, 1);
    int64_t e = sqlite3_column_int64(q, 2);
    if (n && (row != first + n || s != stream || e != epoch || n == ROW_OPLOGS)) {
      rc = insert_packed(st, ins, "oplogs_v6", first, stream, epoch, n, expiry, &pack);
      n = expiry = 0;
      pack.len = 0;
    }
    if (!n) {
      first = row;
      stream = s;
      epoch = e;
    }
    const char *third = (const char *)sqlite3_column_text(q, 6);
    uint8_t *payload;
    int64_t valid_end = sqlite3_column_int64(q, 8);
    if (!rc)
      rc = entry_append(&pack, (uint64_t)sqlite3_column_int64(q, 3), sqlite3_column_int64(q, 7),
                        valid_end, sqlite3_column_int(q, 5), third ? third : "",
                        third ? strlen(third) : 0, sqlite3_column_blob(q, 4),
                        (size_t)sqlite3_column_bytes(q, 4), &payload);
    expiry = min_expiry(expiry, valid_end);
    n++;
  }
  if (!rc && step != SQLITE_DONE) rc = MPSYNC_ESTORE;
  if (!rc && n) rc = insert_packed(st, ins, "oplogs_v6", first, stream, epoch, n, expiry, &pack);
done:
  mps_buf_free(&pack);
  sqlite3_finalize(q);
  sqlite3_finalize(ins);
  return rc;
}

int mps_store_commit_batch(mps_store *st, const mps_batch *b, size_t room, uint64_t *point,
                           size_t *inserted, int *cut) {
  *inserted = 0;
  *cut = 0;
  /* FULL: what is acknowledged to the server must survive a power loss too (C3). */
  if (exec(st, "PRAGMA synchronous=FULL")) return MPSYNC_ESTORE;
  if (begin(st)) {
    exec(st, "PRAGMA synchronous=NORMAL");
    return MPSYNC_ESTORE;
  }
  uint64_t epoch, sp;
  int64_t stream = stream_lookup(st, b->kind, b->biz_type, b->target, &sp, &epoch);
  int64_t first_row = st->next_row;
  int is_user = b->kind == MPSYNC__WIRE__STREAM_KIND__STREAM_USER;
  int64_t slot = slot_of(st, b->biz_type, is_user ? b->target : NULL, 1);
  /* 2^23 slots (bizTypes, and users of each) and 2^40 oplogs per install: a cache past either is
   * refused, never wrapped. */
  int rc = slot <= 0 || slot > BIZ_SLOT_MAX ? MPSYNC_ESTORE : 0;
  if (rc) {
    /* fall through to the rollback below */
  } else if (!stream) {
    bind_stream(st->add_stream, b->kind, b->biz_type, b->target);
    sqlite3_bind_int64(st->add_stream, 4, (sqlite3_int64)b->epoch);
    rc = step_done(st->add_stream);
    stream = sqlite3_last_insert_rowid(st->db);
    epoch = b->epoch;
  }
  if (rc) {
    /* fall through to the rollback below */
  } else if (b->reset || (epoch && b->epoch != epoch)) {
    /* The server's stream started over: its ids restart at 1 in a new epoch. What is cached of
     * the old epoch stays and is still delivered; nothing of it can collide with the new ids. */
    bind_stream(st->reset_stream, b->kind, b->biz_type, b->target);
    sqlite3_bind_int64(st->reset_stream, 4, (sqlite3_int64)b->epoch);
    rc = step_done(st->reset_stream);
    sp = 0;
    if (!rc) rc = meta_add(st, "stream_resets", 1);
  }
  if (!rc && b->lost) rc = meta_add(st, "lost_oplogs", (int64_t)b->lost);
  uint64_t last = sp;
  /* The batch's new oplogs become one row (a row per ROW_OPLOGS of a larger one). */
  int64_t row_first = st->next_row, expiry = 0, in_row = 0;
  st->pack.len = 0;
  for (size_t i = 0; !rc && i < b->n_oplogs; i++) {
    const mps_oplog_msg *op = b->oplogs[i];
    if (op->id <= sp) continue; /* already received once: never dispatch twice (C8) */
    if (*inserted == room) {
      *cut = 1;
      break;
    }
    if (st->next_row > ROW_SEQ_MASK) {
      rc = MPSYNC_ESTORE;
      break;
    }
    if ((rc = pack_oplog(st, b, op))) break;
    expiry = min_expiry(expiry, op->valid_time_end_ms);
    *inserted += 1;
    st->next_row++;
    last = op->id;
    if (++in_row == ROW_OPLOGS) {
      rc = insert_packed(st, st->insert_oplog, "oplogs", row_of(slot, row_first), stream,
                         (sqlite3_int64)b->epoch, in_row, expiry, &st->pack);
      st->pack.len = 0;
      row_first = st->next_row;
      expiry = in_row = 0;
    }
  }
  if (!rc && in_row)
    rc = insert_packed(st, st->insert_oplog, "oplogs", row_of(slot, row_first), stream,
                       (sqlite3_int64)b->epoch, in_row, expiry, &st->pack);
  if (!rc) {
    bind_stream(st->set_point, b->kind, b->biz_type, b->target);
    sqlite3_bind_int64(st->set_point, 4, (sqlite3_int64)b->epoch);
    sqlite3_bind_int64(st->set_point, 5, (sqlite3_int64)last);
    rc = step_done(st->set_point);
  }
  if (!rc && st->next_row != first_row) {
    sqlite3_bind_int64(st->save_next_row, 1, st->next_row);
    rc = step_done(st->save_next_row);
  }
  if (rc || commit(st)) {
    exec(st, "ROLLBACK");
    st->next_row = first_row;
    exec(st, "PRAGMA synchronous=NORMAL");
    *inserted = 0;
    return MPSYNC_ESTORE;
  }
  exec(st, "PRAGMA synchronous=NORMAL");
  st->pending += (int64_t)*inserted;
  *point = last;
  return 0;
}

void mps_msg_free(mps_msg *m) {
  if (!m) return;
  mps_buf_free(&m->bytes);
  free(m->offsets);
  free(m->oplogs);
  free(m->target);
  free(m->user_id);
  free(m);
}

/* The first row number of row's slot. */
static int64_t slot_start(int64_t row) { return row & ~ROW_SEQ_MASK; }

static int clear_attempts(mps_store *st, int64_t stream, int64_t first, int64_t last) {
  sqlite3_stmt *q = st->clear_attempts;
  sqlite3_bind_int64(q, 1, stream);
  sqlite3_bind_int64(q, 2, first);
  sqlite3_bind_int64(q, 3, last);
  sqlite3_bind_int64(q, 4, slot_start(first));
  return step_done(q);
}

/* A row of stream holding some of the numbers first..last, as overlapping read it. */
typedef struct row_hit {
  int64_t row, n, live;
  int sane;
  uint8_t dead[ROW_OPLOGS];
} row_hit;

/* The rows of stream holding any of the numbers first..last, in order, into *hits. A damaged
 * row counts when it starts in the range (its extent cannot be trusted). */
static int overlapping(mps_store *st, int64_t stream, int64_t first, int64_t last,
                       row_hit **hits, size_t *n) {
  sqlite3_stmt *q = st->overlapping;
  int64_t lo = first - (ROW_OPLOGS - 1);
  if (lo < slot_start(first)) lo = slot_start(first);
  sqlite3_bind_int64(q, 1, stream);
  sqlite3_bind_int64(q, 2, last);
  sqlite3_bind_int64(q, 3, lo);
  size_t cap = 0;
  int rc = 0, step;
  *hits = NULL;
  *n = 0;
  while ((step = sqlite3_step(q)) == SQLITE_ROW) {
    int64_t row = sqlite3_column_int64(q, 0), count = sqlite3_column_int64(q, 1);
    size_t bytes = (size_t)sqlite3_column_bytes(q, 2);
    int sane = row_sane(count, bytes);
    if (sane ? row + count - 1 < first : row < first) continue;
    if (*n == cap) {
      size_t c = cap ? cap * 2 : 4;
      row_hit *h = realloc(*hits, c * sizeof *h);
      if (!h) {
        rc = MPSYNC_ENOMEM;
        break;
      }
      *hits = h;
      cap = c;
    }
    row_hit *h = &(*hits)[(*n)++];
    h->row = row;
    h->n = count;
    h->sane = sane;
    h->live = 0;
    if (sane) {
      memcpy(h->dead, sqlite3_column_blob(q, 2), bytes);
      h->live = count_live(h->dead, count);
    }
  }
  if (!rc && step != SQLITE_DONE) rc = MPSYNC_ESTORE;
  sqlite3_reset(q);
  sqlite3_clear_bindings(q);
  if (rc) {
    free(*hits);
    *hits = NULL;
    *n = 0;
  }
  return rc;
}

/* Takes the numbers first..last out of row h: a row left with nothing (or damaged) is deleted,
 * another one has those oplogs marked gone in place. *gone counts the oplogs taken. */
static int kill_in_row(mps_store *st, row_hit *h, int64_t first, int64_t last, int64_t *gone) {
  int64_t a = first > h->row ? first - h->row : 0;
  int64_t b = h->sane && last < h->row + h->n - 1 ? last - h->row : h->n - 1;
  int64_t taken = 0;
  if (h->sane && (a > 0 || b < h->n - 1)) {
    for (int64_t i = a; i <= b; i++)
      if (!is_dead(h->dead, i)) {
        h->dead[i] = '1';
        taken++;
      }
    if (!taken) return 0;
  }
  if (!taken || taken >= h->live) {
    sqlite3_bind_int64(st->delete_row, 1, h->row);
    int rc = step_done(st->delete_row);
    if (!rc) *gone += h->live > 0 ? h->live : 0;
    return rc;
  }
  int rc = blob_put(st, "oplogs", "dead", h->row, h->dead + a, (size_t)(b - a + 1), (size_t)a);
  if (!rc) *gone += taken;
  return rc;
}

/* Takes the numbers first..last of stream out of the cache (a report, C6, a failed
 * authentication), inside the caller's transaction; *gone counts the oplogs taken. */
static int kill_range(mps_store *st, int64_t stream, int64_t first, int64_t last, int64_t *gone) {
  row_hit *hits;
  size_t n;
  int rc = overlapping(st, stream, first, last, &hits, &n);
  for (size_t i = 0; !rc && i < n; i++) rc = kill_in_row(st, &hits[i], first, last, gone);
  free(hits);
  return rc;
}

/* 1 when some of the numbers first..last of stream are still cached, 0 when none, or an error. */
static int range_has_live(mps_store *st, int64_t stream, int64_t first, int64_t last) {
  row_hit *hits;
  size_t n;
  int rc = overlapping(st, stream, first, last, &hits, &n), found = 0;
  for (size_t i = 0; !rc && !found && i < n; i++) {
    row_hit *h = &hits[i];
    if (!h->sane) {
      found = 1;
      break;
    }
    int64_t a = first > h->row ? first - h->row : 0;
    int64_t b = last < h->row + h->n - 1 ? last - h->row : h->n - 1;
    for (int64_t j = a; j <= b && !found; j++) found = !is_dead(h->dead, j);
  }
  free(hits);
  return rc ? rc : found;
}

/* Deletes a message's oplogs and its delivery count, inside the caller's transaction; *gone
 * counts the oplogs deleted. */
static int remove_rows(mps_store *st, int64_t stream, int64_t first, int64_t last, int64_t *gone) {
  int rc = kill_range(st, stream, first, last, gone);
  return rc ? rc : clear_attempts(st, stream, first, last);
}

int mps_store_delete_message(mps_store *st, const mps_msg *m) {
  if (begin(st)) return MPSYNC_ESTORE;
  int64_t gone = 0;
  if (remove_rows(st, m->stream, m->first_row, m->last_row, &gone) || commit(st)) {
    exec(st, "ROLLBACK");
    return MPSYNC_ESTORE;
  }
  st->pending -= gone;
  return 0;
}

/* Counts one more delivery of the message's rows, replacing whatever count covered them. */
static int mark_delivered(mps_store *st, const mps_msg *m) {
  int rc = clear_attempts(st, m->stream, m->first_row, m->last_row);
  if (rc) return rc;
  sqlite3_stmt *q = st->add_attempt;
  sqlite3_bind_int64(q, 1, m->first_row);
  sqlite3_bind_int64(q, 2, m->stream);
  sqlite3_bind_int64(q, 3, m->last_row);
  sqlite3_bind_int(q, 4, (int)m->delivery);
  return step_done(q);
}

/* The delivery count of stream covering row: its deliveries (0 when none), first and last row. */
static int find_attempt(mps_store *st, int64_t row, int64_t stream, int64_t *first,
                        int64_t *last) {
  sqlite3_stmt *q = st->get_attempt;
  sqlite3_bind_int64(q, 1, row);
  sqlite3_bind_int64(q, 2, stream);
  sqlite3_bind_int64(q, 3, slot_start(row));
  int d = 0;
  *first = 0;
  *last = INT64_MAX;
  if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int64(q, 0) >= row) {
    *last = sqlite3_column_int64(q, 0);
    d = sqlite3_column_int(q, 1);
    *first = sqlite3_column_int64(q, 2);
  }
  sqlite3_reset(q);
  sqlite3_clear_bindings(q);
  return d;
}

/* A delivery count whose oplogs all went counts nothing any more. */
static int drop_attempt_if_empty(mps_store *st, int64_t stream, int64_t first, int64_t last) {
  int rc = range_has_live(st, stream, first, last);
  if (rc) return rc > 0 ? 0 : rc;
  sqlite3_bind_int64(st->drop_attempt, 1, first);
  return step_done(st->drop_attempt);
}

typedef struct row_ref {
  int64_t stream, row;
} row_ref;

static int row_ref_cmp(const void *a, const void *b) {
  const row_ref *x = a, *y = b;
  if (x->stream != y->stream) return x->stream < y->stream ? -1 : 1;
  return x->row < y->row ? -1 : x->row > y->row;
}

static int push_ref(row_ref **refs, size_t *n, size_t *cap, int64_t stream, int64_t row) {
  if (*n == *cap) {
    size_t c = *cap ? *cap * 2 : 16;
    row_ref *g = realloc(*refs, c * sizeof *g);
    if (!g) return MPSYNC_ENOMEM;
    *refs = g;
    *cap = c;
  }
  (*refs)[*n].stream = stream;
  (*refs)[(*n)++].row = row;
  return 0;
}

/* Takes the expired oplogs out of one row, appending each one's stream and number to *gone, and
 * moves its valid_end to the earliest expiry left (a reported oplog may have held it). A damaged
 * row is left to the read, which drops it as such. */
static int expire_row(mps_store *st, int64_t row, int64_t now, row_ref **gone, size_t *n,
                      size_t *cap) {
  sqlite3_stmt *q = st->get_row;
  sqlite3_bind_int64(q, 1, row);
  row_hit h = {.row = row};
  int64_t expiry = 0, before = (int64_t)*n;
  int rc = 0, damaged = 1;
  if (sqlite3_step(q) == SQLITE_ROW) {
    int64_t stream = sqlite3_column_int64(q, 0);
    h.n = sqlite3_column_int64(q, 1);
    size_t bytes = (size_t)sqlite3_column_bytes(q, 2);
    const uint8_t *packed = sqlite3_column_blob(q, 3);
    size_t len = (size_t)sqlite3_column_bytes(q, 3), pos = 0;
    h.sane = row_sane(h.n, bytes);
    if (h.sane) {
      memcpy(h.dead, sqlite3_column_blob(q, 2), bytes);
      h.live = count_live(h.dead, h.n);
      damaged = 0;
      for (int64_t i = 0; !rc && i < h.n; i++) {
        entry e;
        if (entry_read(packed, len, &pos, &e) != 0) {
          damaged = 1;
          break;
        }
        if (is_dead(h.dead, i)) continue;
        if (e.valid_end > 0 && e.valid_end < now) {
          h.dead[i] = '1';
          rc = push_ref(gone, n, cap, stream, row + i);
        } else {
          expiry = min_expiry(expiry, e.valid_end);
        }
      }
    }
  }
  sqlite3_reset(q);
  sqlite3_clear_bindings(q);
  if (rc || damaged) {
    *n = (size_t)before;
    return rc;
  }
  int64_t taken = (int64_t)*n - before;
  if (taken >= h.live) {
    sqlite3_bind_int64(st->delete_row, 1, row);
    return step_done(st->delete_row);
  }
  q = st->set_expired;
  sqlite3_bind_int64(q, 1, row);
  sqlite3_bind_blob(q, 2, h.dead, (int)h.n, SQLITE_STATIC);
  sqlite3_bind_int64(q, 3, expiry);
  return step_done(q);
}

/* Takes the expired oplogs of slot out, appending each one's stream and number to *gone. */
static int take_expired(mps_store *st, int64_t slot, int64_t now, row_ref **gone, size_t *n,
                        size_t *cap) {
  int64_t *rows = NULL;
  size_t n_rows = 0, rows_cap = 0;
  sqlite3_stmt *q = st->find_expired;
  sqlite3_bind_int64(q, 1, slot);
  sqlite3_bind_int64(q, 2, now);
  int rc = 0, step;
  /* Collected first: the rows are changed after the walk, not under it. */
  while ((step = sqlite3_step(q)) == SQLITE_ROW) {
    if (n_rows == rows_cap) {
      size_t c = rows_cap ? rows_cap * 2 : 8;
      int64_t *r = realloc(rows, c * sizeof *r);
      if (!r) {
        rc = MPSYNC_ENOMEM;
        break;
      }
      rows = r;
      rows_cap = c;
    }
    rows[n_rows++] = sqlite3_column_int64(q, 0);
  }
  if (!rc && step != SQLITE_DONE) rc = MPSYNC_ESTORE;
  sqlite3_reset(q);
  sqlite3_clear_bindings(q);
  for (size_t i = 0; !rc && i < n_rows; i++) rc = expire_row(st, rows[i], now, gone, n, cap);
  free(rows);
  return rc;
}

/* Drops the expired oplogs of the slots a dispatch reads (C14; 0 = none) and the delivery counts
 * left without oplogs, inside the caller's transaction; *dropped counts the oplogs. Only the
 * dropped oplogs' own counts are looked at: the cost is what was dropped, not the counts in the
 * cache. */
static int drop_expired(mps_store *st, const int64_t *slots, size_t n_slots, int64_t now,
                        int64_t *dropped) {
  row_ref *gone = NULL;
  size_t n = 0, cap = 0;
  int rc = 0;
  for (size_t i = 0; !rc && i < n_slots; i++)
    if (slots[i]) rc = take_expired(st, slots[i], now, &gone, &n, &cap);
  /* Sorted by stream and row, each count is looked at once, however many of its rows went. */
  if (!rc && n > 1) qsort(gone, n, sizeof *gone, row_ref_cmp);
  int64_t seen_stream = 0, seen_last = -1;
  for (size_t i = 0; !rc && i < n; i++) {
    if (gone[i].stream == seen_stream && gone[i].row <= seen_last) continue;
    int64_t first, last;
    if (!find_attempt(st, gone[i].row, gone[i].stream, &first, &last)) continue;
    seen_stream = gone[i].stream;
    seen_last = last;
    rc = drop_attempt_if_empty(st, gone[i].stream, first, last);
  }
  free(gone);
  if (!rc && n) rc = meta_add(st, "dropped_expired", (int64_t)n);
  *dropped += (int64_t)n;
  return rc;
}

/* The number of slot's first cached oplog, *start that of the row holding it; 0 when slot has
 * none (or slot is 0). */
static int64_t slot_head(mps_store *st, int64_t slot, int64_t *start) {
  *start = 0;
  if (!slot) return 0;
  sqlite3_stmt *q = st->first_in_range;
  sqlite3_bind_int64(q, 1, row_of(slot, 0));
  sqlite3_bind_int64(q, 2, row_of(slot, ROW_SEQ_MASK));
  int64_t head = 0;
  if (sqlite3_step(q) == SQLITE_ROW) {
    head = *start = sqlite3_column_int64(q, 0);
    int64_t n = sqlite3_column_int64(q, 1);
    const uint8_t *dead = sqlite3_column_blob(q, 2);
    if (row_sane(n, (size_t)sqlite3_column_bytes(q, 2)))
      while (head < *start + n - 1 && is_dead(dead, head - *start)) head++;
  }
  sqlite3_reset(q);
  sqlite3_clear_bindings(q);
  return head;
}

/* Reads row's packed oplogs into st->unpack through *b (opened by the first call, moved to the
 * row by the next): the bytes go from SQLite's pages straight into a buffer every read reuses. A
 * column read copied them into an allocation of SQLite's own, a quarter MB a batch row. */
static int read_packed(mps_store *st, sqlite3_blob **b, int64_t row) {
  int rc = *b ? sqlite3_blob_reopen(*b, row)
              : sqlite3_blob_open(st->db, "main", "oplogs", "packed", row, 0, b);
  if (rc != SQLITE_OK) return MPSYNC_ESTORE;
  int len = sqlite3_blob_bytes(*b);
  st->unpack.len = 0;
  if (mps_buf_reserve(&st->unpack, len > 0 ? (size_t)len : 1)) return MPSYNC_ENOMEM;
  if (len > 0 && sqlite3_blob_read(*b, st->unpack.data, len, 0) != SQLITE_OK) return MPSYNC_ESTORE;
  st->unpack.len = len > 0 ? (size_t)len : 0;
  return 0;
}

/* Numbers of a stream that failed authentication or whose row is damaged: to be dropped. */
typedef struct bad_range {
  int64_t stream, first, last;
} bad_range;

/* Reads the head group: consecutive visible oplogs of one stream and epoch, and, when the head
 * was delivered before, no further than the oplogs that delivery covered. slots: the bizType's
 * shared slot and the user's (0 = none). */
static int read_group(mps_store *st, const char *biz, const int64_t slots[2], const char *user,
                      unsigned max_oplogs, mps_msg **out, bad_range *bad) {
  *out = NULL;
  memset(bad, 0, sizeof *bad);
  /* Visible oplogs are those of two slots, each in order of arrival (the low bits): the message
   * starts at the earlier head and stops before the other slot's head. */
  int64_t start[2];
  int64_t head[2] = {slot_head(st, slots[0], &start[0]), slot_head(st, slots[1], &start[1])};
  int h = !head[0] || (head[1] && MPS_STORE_ROW_SEQ(head[1]) < MPS_STORE_ROW_SEQ(head[0]));
  if (!head[h]) return 0;
  int64_t other = head[!h];
  int64_t end = row_of(slots[h], other ? MPS_STORE_ROW_SEQ(other) - 1 : ROW_SEQ_MASK);
  sqlite3_stmt *q = st->select_next;
  sqlite3_bind_int64(q, 1, start[h]);
  sqlite3_bind_int64(q, 4, end);
  if (user) sqlite3_bind_text(q, 2, user, -1, SQLITE_STATIC);
  /* Every row holds a live oplog: max_oplogs + 1 rows are enough to fill a message and see
   * whether more follow. */
  sqlite3_bind_int64(q, 3, (sqlite3_int64)max_oplogs + 1);
  mps_msg *m = NULL;
  sqlite3_blob *blob = NULL;
  int rc = SQLITE_ROW, stop = 0, err = 0;
  int64_t epoch = 0, covered = INT64_MAX;
  while (!stop && (rc = sqlite3_step(q)) == SQLITE_ROW) {
    int64_t row = sqlite3_column_int64(q, 0);
    int kind = sqlite3_column_int(q, 1);
    const char *target = (const char *)sqlite3_column_text(q, 2);
    int64_t stream = sqlite3_column_int64(q, 3);
    int64_t e = sqlite3_column_int64(q, 4);
    int64_t n = sqlite3_column_int64(q, 5);
    const uint8_t *dead = sqlite3_column_blob(q, 6);
    size_t dead_bytes = (size_t)sqlite3_column_bytes(q, 6);
    size_t pos = 0;
    if (!row_sane(n, dead_bytes)) {
      /* Damaged beyond reading: the whole row goes, unless a message is already under way. */
      if (!m || m->count == 0) *bad = (bad_range){stream, row, row};
      break;
    }
    if ((err = read_packed(st, &blob, row))) break;
    const uint8_t *packed = st->unpack.data;
    size_t packed_len = st->unpack.len;
    for (int64_t i = 0; i < n; i++) {
      entry en;
      if (entry_read(packed, packed_len, &pos, &en) != 0) {
        /* The lengths are broken from here on: nothing after them can be found again. What
         * came before is dead already when no message is under way. */
        if (!m || m->count == 0) *bad = (bad_range){stream, row, row + n - 1};
        stop = 1;
        break;
      }
      int64_t v = row + i;
      if (is_dead(dead, i)) continue;
      if (v > end) {
        stop = 1;
        break;
      }
      /* One message never spans streams, delivery counts or epochs: its ids always rise. */
      if (m && (m->count == max_oplogs || stream != m->stream || v > covered || e != epoch)) {
        m->has_more = 1;
        stop = 1;
        break;
      }
      if (!m) {
        int64_t first;
        int d = find_attempt(st, v, stream, &first, &covered);
        m = calloc(1, sizeof *m);
        if (!m || !(m->oplogs = calloc(max_oplogs, sizeof *m->oplogs)) ||
            !(m->offsets = calloc(max_oplogs, sizeof *m->offsets)))
          goto nomem;
        snprintf(m->biz, sizeof m->biz, "%s", biz);
        m->kind = kind;
        m->target = mps_strdup(target);
        m->user_id = mps_strdup(kind == MPSYNC__WIRE__STREAM_KIND__STREAM_USER ? target : "");
        if (!m->target || !m->user_id) goto nomem;
        m->first_row = v;
        m->stream = stream;
        epoch = e;
        m->delivery = (unsigned)d + 1;
      }
      /* Payloads and third ids go into one buffer per message, not one allocation per oplog;
       * pointers into it are set once it stops growing. */
      mpsync_oplog *op = &m->oplogs[m->count];
      size_t len = en.len;
      if (mps_buf_reserve(&m->bytes, len + 1 + (size_t)en.third_len + 1)) goto nomem;
      uint8_t *payload = m->bytes.data + m->bytes.len;
      if (st->sealed) {
        uint8_t aad[256];
        size_t aad_len = seal_aad(aad, sizeof aad, kind, biz, target, (uint64_t)e, en.id);
        if (unseal(st, aad, aad_len, en.payload, len, payload) != 0) {
          /* Tampered or damaged: never hand it to the app. The caller drops it. */
          if (m->count == 0) *bad = (bad_range){stream, v, v};
          stop = 1;
          break;
        }
        len -= SEAL_NONCE + SEAL_TAG;
      } else if (len) {
        memcpy(payload, en.payload, len);
      }
      payload[len] = '\0';
      m->offsets[m->count] = m->bytes.len;
      op->payload_len = len;
      m->bytes.len += len + 1;
      if (en.third_len) memcpy(m->bytes.data + m->bytes.len, en.third, en.third_len);
      m->bytes.data[m->bytes.len + en.third_len] = '\0';
      m->bytes.len += (size_t)en.third_len + 1;
      m->count++;
      op->id = en.id;
      op->binary = en.binary;
      op->create_time_ms = en.create_time;
      op->valid_time_end_ms = en.valid_end;
      m->last_row = v;
    }
  }
  sqlite3_reset(q);
  sqlite3_clear_bindings(q);
  sqlite3_blob_close(blob);
  if (err || (rc != SQLITE_ROW && rc != SQLITE_DONE)) {
    mps_msg_free(m);
    return err ? err : MPSYNC_ESTORE;
  }
  /* Stopped by the end of the range, not by an oplog of it: what follows is the other slot's. */
  if (m && rc == SQLITE_DONE && other) m->has_more = 1;
  for (size_t i = 0; m && i < m->count; i++) {
    mpsync_oplog *op = &m->oplogs[i];
    op->payload = m->bytes.data + m->offsets[i];
    op->third_msg_id = (const char *)op->payload + op->payload_len + 1;
  }
  *out = m;
  return 0;
nomem:
  sqlite3_reset(q);
  sqlite3_clear_bindings(q);
  sqlite3_blob_close(blob);
  mps_msg_free(m);
  return MPSYNC_ENOMEM;
}

/* The body of mps_store_next_message, inside its transaction; *gone counts the oplogs deleted. */
static int next_message(mps_store *st, const char *biz, const int64_t slots[2], const char *user,
                        int64_t now, unsigned max_oplogs, unsigned max_deliveries, mps_msg **out,
                        int64_t *gone) {
  int rc = drop_expired(st, slots, 2, now, gone);
  while (!rc) {
    mps_msg *m;
    bad_range bad;
    if ((rc = read_group(st, biz, slots, user, max_oplogs, &m, &bad))) return rc;
    if (bad.first && (!m || m->count == 0)) {
      /* The head failed its authentication, or its row is damaged: drop it for good, count it,
       * go on. */
      mps_msg_free(m);
      int64_t dropped = 0;
      rc = kill_range(st, bad.stream, bad.first, bad.last, &dropped);
      *gone += dropped;
      if (!rc && dropped) rc = meta_add(st, "dropped_tampered", dropped);
      continue;
    }
    if (!m) return 0;
    if (m->delivery <= max_deliveries) {
      if ((rc = mark_delivered(st, m))) {
        mps_msg_free(m);
        return rc;
      }
      snprintf(m->id, sizeof m->id, "%" PRId64 ",%" PRIu64 ",%u", m->last_row,
               m->oplogs[m->count - 1].id, m->delivery);
      *out = m;
      return 0;
    }
    /* Delivered max_deliveries times and never reported: give up on it for good (C6). */
    int64_t dropped = 0;
    rc = remove_rows(st, m->stream, m->first_row, m->last_row, &dropped);
    *gone += dropped;
    if (!rc) rc = meta_add(st, "dropped_undelivered", (int64_t)m->count);
    mps_msg_free(m);
  }
  return rc;
}

/* One transaction a dispatch: SQLite's begin and commit cost more than the reads between them. */
int mps_store_next_message(mps_store *st, const char *biz, const char *user, int64_t now_wall_ms,
                           unsigned max_oplogs, unsigned max_deliveries, mps_msg **out) {
  *out = NULL;
  /* The bizType's device and global streams, and the bound user's stream: other users' rows
   * lie in slots of their own and are never read. */
  int64_t slots[2] = {slot_of(st, biz, NULL, 0), user ? slot_of(st, biz, user, 0) : 0};
  if (slots[0] < 0 || slots[1] < 0) return MPSYNC_ESTORE;
  if (!slots[0] && !slots[1]) return 0; /* nothing was ever stored for it */
  if (begin(st)) return MPSYNC_ESTORE;
  mps_msg *m = NULL;
  int64_t gone = 0;
  int rc = next_message(st, biz, slots, user, now_wall_ms, max_oplogs, max_deliveries, &m, &gone);
  if (rc || commit(st)) {
    exec(st, "ROLLBACK");
    mps_msg_free(m);
    return rc ? rc : MPSYNC_ESTORE;
  }
  st->pending -= gone;
  *out = m;
  return 0;
}

/* A message handed out but withdrawn before any callback saw it was not a delivery (C6): its
 * count goes back to what it was. */
int mps_store_undo_delivery(mps_store *st, const mps_msg *m) {
  if (!m || !m->delivery) return 0;
  sqlite3_stmt *q = m->delivery <= 1 ? st->undo_first : st->undo_count;
  sqlite3_bind_int64(q, 1, m->first_row);
  sqlite3_bind_int64(q, 2, m->stream);
  if (m->delivery > 1) sqlite3_bind_int(q, 3, (int)m->delivery - 1);
  return step_done(q);
}

/* ---------------------------------------------------------------- TLS session (issue 18)
 * One row. The table is made on first use rather than by a schema step: nothing refers to it,
 * and a cache without it simply has no session to offer. */

static int tls_table(mps_store *st) {
  return exec(st, "CREATE TABLE IF NOT EXISTS tls_session(id INTEGER PRIMARY KEY CHECK (id = 1),"
                  " peer TEXT NOT NULL, blob BLOB NOT NULL)");
}

/* The seal names the peer: a session cannot be moved to another peer's row unnoticed. */
static size_t tls_aad(uint8_t *aad, size_t cap, const char *peer) {
  int n = snprintf((char *)aad, cap, "tls-session|%s", peer);
  return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

int mps_store_tls_session_put(mps_store *st, const char *peer, const uint8_t *blob, size_t len) {
  if (tls_table(st)) return MPSYNC_ESTORE;
  if (st->sealed) {
    uint8_t aad[600];
    int rc = seal(st, aad, tls_aad(aad, sizeof aad, peer), blob, len);
    if (rc) return rc;
    blob = st->scratch.data;
    len = st->scratch.len;
  }
  sqlite3_stmt *q;
  if (sqlite3_prepare_v2(st->db,
                         "INSERT OR REPLACE INTO tls_session(id, peer, blob) VALUES(1, ?1, ?2)", -1,
                         &q, NULL) != SQLITE_OK)
    return MPSYNC_ESTORE;
  sqlite3_bind_text(q, 1, peer, -1, SQLITE_STATIC);
  sqlite3_bind_blob(q, 2, blob, (int)len, SQLITE_STATIC);
  int rc = sqlite3_step(q) == SQLITE_DONE ? 0 : MPSYNC_ESTORE;
  sqlite3_finalize(q);
  return rc;
}

int mps_store_tls_session_get(mps_store *st, const char *peer, uint8_t **blob, size_t *len) {
  *blob = NULL;
  *len = 0;
  sqlite3_stmt *q;
  if (tls_table(st) ||
      sqlite3_prepare_v2(st->db, "SELECT peer, blob FROM tls_session WHERE id = 1", -1, &q,
                         NULL) != SQLITE_OK)
    return MPSYNC_ESTORE;
  int rc = sqlite3_step(q);
  if (rc != SQLITE_ROW) {
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? 0 : MPSYNC_ESTORE;
  }
  const char *kept = (const char *)sqlite3_column_text(q, 0);
  if (!kept || strcmp(kept, peer) != 0) {
    /* Made with another peer or user: of no use to this one, and not to be left lying. */
    sqlite3_finalize(q);
    return mps_store_tls_session_forget(st);
  }
  const uint8_t *p = sqlite3_column_blob(q, 1);
  size_t n = (size_t)sqlite3_column_bytes(q, 1);
  uint8_t *out = malloc(n ? n : 1);
  rc = out ? 0 : MPSYNC_ENOMEM;
  if (!rc && st->sealed) {
    uint8_t aad[600];
    rc = unseal(st, aad, tls_aad(aad, sizeof aad, peer), p, n, out);
    n = rc ? 0 : n - SEAL_NONCE - SEAL_TAG;
  } else if (!rc) {
    memcpy(out, p, n);
  }
  sqlite3_finalize(q);
  if (rc) {
    free(out);
    if (rc == MPSYNC_ESTORE) mps_store_tls_session_forget(st); /* never offered, never again */
    return rc;
  }
  *blob = out;
  *len = n;
  return 1;
}

int mps_store_tls_session_forget(mps_store *st) {
  return tls_table(st) || exec(st, "DELETE FROM tls_session") ? MPSYNC_ESTORE : 0;
}
